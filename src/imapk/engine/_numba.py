"""The only module that imports numba: the project's jit defaults, and ways to run kernels uncompiled.

Kernels are compiled lazily (no signatures), on first call, with ``cache=True`` so a warm cache
costs milliseconds per kernel. Set ``IMAPK_NUMBA_CACHE=0`` to turn the on-disk cache off (e.g. on
dask workers that share no file system), and ``NUMBA_CACHE_DIR`` to choose where it lives.
No ``fastmath``: results are stored and must be bit-identical for any chunking.

numba's cache knows only the source file of the function it compiled, while a compiled kernel holds the
machine code of every kernel it calls, from other modules too (and inlines some): a kernel module edited
since would leave its callers' cached code stale. So each kernel's cache entry is also stamped with a hash of
every imapk module that defines kernels (:func:`kernel_sources_stamp`), and any change to one recompiles them
all. An installed release never changes its files, so this costs nothing there.

numba itself is imported only when a kernel is first run compiled: importing numba and setting up
its compiler (which imports scipy.linalg) costs about 0.5 s on a 2-core machine before the first
cached kernel loads, more than small work takes uncompiled. Until then :func:`jit` returns a
:class:`Kernel`, which compiles on its first compiled call; inside :func:`interpreted` (or
:func:`interpret` for work below :data:`INTERPRET_BELOW`) kernels run as the plain Python they are
written in, the same IEEE operations in the same order.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import os
import pathlib
import sys
import threading
from types import ModuleType

__all__ = [
    "jit",
    "Kernel",
    "interpreted",
    "interpret",
    "INTERPRET_BELOW",
    "numba_loaded",
    "numba_version",
    "parallel_threads",
    "run_blocks",
    "load_uncompiled",
    "plain_module",
    "kernel_sources_stamp",
]

_CACHE = os.environ.get("IMAPK_NUMBA_CACHE", "1") != "0"

#: Work (as the engine counts it: subjects x (inputs x (1 + levels) + samples)) below which
#: :func:`interpret` runs kernels uncompiled. The case report with an hourly curve for a year is
#: about 10 000 (0.05 s uncompiled, against about 0.55 s to import numba and load one cached
#: kernel on a 2-core machine); uncompiled kernels cost about 10 µs per unit.
INTERPRET_BELOW = 20_000

_LOCK = threading.RLock()
_STATE = threading.local()  # .depth: how many `interpreted()` blocks the thread is in
_UNCOMPILED = [False]  # True while load_uncompiled executes a module: jit returns the function itself
_ACTIVE: list = []  # [numba] once a kernel has been compiled: jit then returns numba dispatchers directly


def _options(inline: bool = False) -> dict:
    options = {"cache": _CACHE, "nogil": True, "error_model": "numpy"}
    if inline:
        options["inline"] = "always"
    return options


_SOURCES_STAMP: list = []  # [sha256 digest] once computed


def kernel_sources_stamp() -> bytes:
    """SHA-256 of every module of the imapk package that defines kernels (its source mentions ``jit``),
    with their paths: computed once per process, when the first kernel is defined (:func:`jit`, as its
    module is imported: about 5 ms), so that it describes the sources the kernels were loaded from even
    if a file is edited before they are compiled. Editors' hidden files and links are skipped."""
    if not _SOURCES_STAMP:
        root = pathlib.Path(__file__).resolve().parent.parent
        digest = hashlib.sha256()
        for path in sorted(root.rglob("*.py")):
            if path.name.startswith(".") or path.is_symlink() or not path.is_file():
                continue
            source = path.read_bytes()
            if b"jit" in source:
                digest.update(path.relative_to(root).as_posix().encode() + b"\0" + source + b"\0")
        _SOURCES_STAMP.append(digest.digest())
    return _SOURCES_STAMP[0]


def _stamped(dispatcher):
    """`dispatcher`, its on-disk cache entry stamped with :func:`kernel_sources_stamp` beside numba's own
    stamp of the function's file, so that an edit of any kernel module invalidates it (numba's cache
    does not look at the files of the functions a kernel calls). Where numba's cache has no such stamp
    (caching off, or another numba layout), the dispatcher is returned unchanged."""
    cache_file = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
    stamp = getattr(cache_file, "_source_stamp", None)
    if stamp is not None:
        cache_file._source_stamp = (stamp, kernel_sources_stamp())
    return dispatcher


def _activate():
    """Import numba; swap every :class:`Kernel` in imapk's modules for its dispatcher (so compiled
    callers find dispatchers, not wrappers, among their globals). Returns the numba module."""
    with _LOCK:
        if _ACTIVE:
            return _ACTIVE[0]
        import numba

        _ACTIVE.append(numba)
        for name, module in list(sys.modules.items()):
            if module is None or not (name == "imapk" or name.startswith("imapk.")):
                continue
            for attribute, value in list(vars(module).items()):
                if isinstance(value, Kernel):
                    setattr(module, attribute, value.dispatcher)
        return numba


class Kernel:
    """A kernel compiled with imapk's defaults on its first compiled call, or run as plain Python.

    Calling it runs the compiled kernel (compiling, or loading it from the cache, the first time),
    or the plain Python function `py_func` inside :func:`interpreted`. Any other attribute is the
    numba dispatcher's (``signatures``, ``inspect_types``, ...), which numba also uses to type a
    kernel found among a compiled function's globals or arguments.
    """

    def __init__(self, func, inline: bool = False):
        self.py_func = func
        self._inline = inline
        self._dispatcher = None
        self.__name__ = func.__name__
        self.__qualname__ = func.__qualname__
        self.__module__ = func.__module__
        self.__doc__ = func.__doc__
        self.__wrapped__ = func

    @property
    def dispatcher(self):
        """The numba dispatcher (numba is imported the first time)."""
        if self._dispatcher is None:
            numba = _activate()
            with _LOCK:
                if self._dispatcher is None:
                    self._dispatcher = _stamped(numba.njit(**_options(self._inline))(self.py_func))
        return self._dispatcher

    def __call__(self, *args, **kwargs):
        if getattr(_STATE, "depth", 0):
            return self.plain(*args, **kwargs)
        return self.dispatcher(*args, **kwargs)

    @property
    def plain(self):
        """The function in an uncompiled copy of its module (:func:`load_uncompiled`), whose kernels
        call each other directly (no wrapper per call); `py_func` itself when it is not at module level."""
        try:
            return _kernel_in(plain_module(self.__module__), self.__qualname__)
        except (AttributeError, ImportError):
            return self.py_func

    def __getattr__(self, name):  # only for names the instance lacks
        if name.startswith("__") or name in ("py_func", "_dispatcher"):
            raise AttributeError(name)
        return getattr(self.dispatcher, name)

    def __reduce__(self):  # pickled by reference, as a module-level function is
        return (_kernel, (self.__module__, self.__qualname__))

    def __repr__(self) -> str:
        state = "compiled" if self._dispatcher is not None else "not compiled yet"
        return f"<imapk kernel {self.__module__}.{self.__qualname__} ({state})>"


def _kernel(module: str, qualname: str):
    return _kernel_in(importlib.import_module(module), qualname)


def _kernel_in(value, qualname: str):
    for part in qualname.split("."):
        value = getattr(value, part)
    return value


_PLAIN: dict = {}  # module name -> its uncompiled copy, for interpreted() calls


def plain_module(name: str) -> ModuleType:
    """The uncompiled copy of kernel module `name` (:func:`load_uncompiled`), made once per process: its
    kernels are plain Python calling each other directly, for code that runs them from Python."""
    module = _PLAIN.get(name)
    if module is None:
        module = _PLAIN[name] = load_uncompiled(name)
    return module


def jit(func=None, *, inline: bool = False):
    """Compile `func` lazily with imapk's defaults (nopython, nogil, cached, numpy error model).

    Before any kernel has run compiled, a :class:`Kernel` (numba is not imported yet); after, the
    numba dispatcher itself. Inside :func:`load_uncompiled`, `func` unchanged. With `inline`, numba
    inlines the function's body into each compiled caller (``inline="always"``, at numba's IR
    level): for a function called once per dosing interval from one hot loop, where the call's
    argument passing (arrays' reference counts, a dozen scalars) costs a tenth of the work. Used as
    ``jit(func, inline=True)`` or ``@jit(inline=True)``.
    """
    if func is None:
        return lambda f: jit(f, inline=inline)
    if _UNCOMPILED[0]:
        return func
    if _CACHE:
        kernel_sources_stamp()  # the sources as this kernel's module is loaded
    if _ACTIVE:
        return _stamped(_ACTIVE[0].njit(**_options(inline))(func))
    return Kernel(func, inline)


@contextlib.contextmanager
def interpreted():
    """Run the kernels called on this thread as plain Python (those still :class:`Kernel` objects:
    the ones numba compiled or loaded already in this process stay compiled)."""
    _STATE.depth = getattr(_STATE, "depth", 0) + 1
    try:
        yield
    finally:
        _STATE.depth -= 1


def interpret(work: int):
    """:func:`interpreted` when `work` is below :data:`INTERPRET_BELOW`, else a context that does nothing."""
    return interpreted() if work < INTERPRET_BELOW else contextlib.nullcontext()


def numba_loaded() -> bool:
    """Whether numba has been imported in this process (by imapk or anything else)."""
    return "numba" in sys.modules


def numba_version() -> str:
    """numba's version, without importing numba when it is not imported yet."""
    if "numba" in sys.modules:
        return sys.modules["numba"].__version__
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("numba")
    except PackageNotFoundError:
        return "not installed"


def parallel_threads() -> int:
    """Threads a population kernel may spread its subjects over: numba's thread count on the main thread, else 1.

    The kernels release the GIL (``nogil``), so the caller runs blocks of subjects on Python
    threads; worker threads (dask's threaded scheduler, a thread pool) are parallel already and
    run their blocks serially. ``NUMBA_NUM_THREADS`` or ``numba.set_num_threads`` limit it.
    """
    if threading.current_thread() is not threading.main_thread():
        return 1
    import numba

    return numba.get_num_threads()


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
    # The module itself first, as usual: the kernel modules it imports are then imported as themselves,
    # not executed uncompiled into sys.modules by the copy's imports below.
    importlib.import_module(module_name)
    spec = importlib.util.find_spec(module_name)
    module = importlib.util.module_from_spec(spec)
    with _LOCK:
        previous = _UNCOMPILED[0]
        _UNCOMPILED[0] = True
        try:
            spec.loader.exec_module(module)
        finally:
            _UNCOMPILED[0] = previous
    return module
