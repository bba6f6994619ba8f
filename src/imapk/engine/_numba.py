"""The only module that imports numba: the project's jit defaults, and a way to run kernels uncompiled.

Kernels are compiled lazily (no signatures), on first call, with ``cache=True`` so a warm cache
costs milliseconds. Set ``IMAPK_NUMBA_CACHE=0`` to turn the on-disk cache off (e.g. on dask
workers that share no file system), and ``NUMBA_CACHE_DIR`` to choose where it lives.
No ``fastmath``: results are stored and must be bit-identical for any chunking.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from types import ModuleType

import numba

__all__ = ["jit", "parallel_threads", "run_blocks", "load_uncompiled"]

_CACHE = os.environ.get("IMAPK_NUMBA_CACHE", "1") != "0"


def jit(func):
    """Compile `func` lazily with imapk's defaults (nopython, nogil, cached, numpy error model)."""
    return numba.njit(cache=_CACHE, nogil=True, error_model="numpy")(func)


def parallel_threads() -> int:
    """Threads a population kernel may spread its subjects over: numba's thread count on the main thread, else 1.

    The kernels release the GIL (``nogil``), so the caller runs blocks of subjects on Python
    threads; worker threads (dask's threaded scheduler, a thread pool) are parallel already and
    run their blocks serially. ``NUMBA_NUM_THREADS`` or ``numba.set_num_threads`` limit it.
    """
    return numba.get_num_threads() if threading.current_thread() is threading.main_thread() else 1


#: (process id, thread count) -> the thread pool :func:`run_blocks` reuses across calls.
_POOLS: dict = {}


def run_blocks(task, n: int, threads: int, blocks: int | None = None) -> list:
    """``[task(lo, hi) for each block]`` over `blocks` contiguous blocks of ``range(n)``, on `threads` threads.

    The threads live in a pool kept for the life of the process (starting threads on every call
    costs about as much as a small population run), created again after a fork. With one thread
    or one block, everything runs on the calling thread. Results come back in block order.
    """
    blocks = threads if blocks is None else blocks
    bounds = [n * i // blocks for i in range(blocks + 1)]
    pairs = list(zip(bounds[:-1], bounds[1:]))
    if threads <= 1 or blocks <= 1:
        return [task(lo, hi) for lo, hi in pairs]
    from concurrent.futures import ThreadPoolExecutor

    key = (os.getpid(), threads)
    pool = _POOLS.get(key)
    if pool is None:
        pool = _POOLS[key] = ThreadPoolExecutor(threads, thread_name_prefix="imapk")
    futures = [pool.submit(task, lo, hi) for lo, hi in pairs[1:]]
    first = task(*pairs[0])  # the calling thread takes a block too
    return [first, *(future.result() for future in futures)]


def load_uncompiled(module_name: str) -> ModuleType:
    """Import a fresh copy of a kernel module with every ``@jit`` left as plain Python.

    The copy is independent of the compiled module (its kernels call each other uncompiled), so
    tests can check the compiled kernels against the very same source run by the interpreter.
    """
    spec = importlib.util.find_spec(module_name)
    module = importlib.util.module_from_spec(spec)
    previous = numba.config.DISABLE_JIT
    numba.config.DISABLE_JIT = True
    try:
        spec.loader.exec_module(module)
    finally:
        numba.config.DISABLE_JIT = previous
    return module


