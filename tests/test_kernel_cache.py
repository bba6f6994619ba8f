"""The on-disk cache of compiled kernels is invalidated by an edit of any kernel module.

numba stamps a cached kernel with its own file only, while the machine code holds every kernel it calls
(from other modules too); imapk adds a hash of all its kernel modules to the stamp
(:func:`imapk.engine._numba.kernel_sources_stamp`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import pathlib
import sys

import pytest

import imapk
from imapk.engine import _numba


def _load(path: pathlib.Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _dispatcher(kernel):
    return kernel.dispatcher if isinstance(kernel, _numba.Kernel) else kernel


def test_stamp_hashes_every_kernel_module_of_the_package():
    """Recomputed here from the files (paths and contents), independently of the cached value."""
    root = pathlib.Path(imapk.__file__).resolve().parent
    digest = hashlib.sha256()
    names = []
    for path in sorted(root.rglob("*.py")):
        source = path.read_bytes()
        if b"jit" in source:
            names.append(path.relative_to(root).as_posix())
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + source + b"\0")
    assert {"engine/_exact_kernels.py", "engine/_verdict_kernels.py", "engine/_numba.py"} <= set(names)
    assert _numba.kernel_sources_stamp() == digest.digest()


@pytest.mark.skipif(not _numba._CACHE, reason="the on-disk cache is turned off (IMAPK_NUMBA_CACHE=0)")
def test_compiled_kernels_carry_the_stamp():
    from imapk.engine import _verdict_kernels

    cache_file = _dispatcher(_verdict_kernels.verdicts_regular)._cache._cache_file
    assert cache_file._source_stamp[1] == _numba.kernel_sources_stamp()


@pytest.mark.skipif(not _numba._CACHE, reason="the on-disk cache is turned off (IMAPK_NUMBA_CACHE=0)")
def test_a_changed_kernel_module_makes_the_cache_compile_again(tmp_path, monkeypatch):
    """A kernel compiled and cached, then loaded by a new dispatcher: from the cache while the kernel
    modules are unchanged, compiled anew once their stamp differs (as after an edit of a callee's file)."""
    path = tmp_path / "stamped_kernel.py"
    path.write_text("from imapk.engine._numba import jit\n\n\n@jit\ndef twice(x):\n    return 2.0 * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    def fresh():
        sys.modules.pop("stamped_kernel", None)
        kernel = _dispatcher(_load(path, "stamped_kernel").twice)
        assert kernel(1.5) == 3.0
        return kernel.stats

    first = fresh()
    assert first.cache_misses and not first.cache_hits  # compiled and saved
    assert fresh().cache_hits  # unchanged: loaded from the cache
    monkeypatch.setattr(_numba, "_SOURCES_STAMP", [b"another version of the kernel modules"])
    changed = fresh()
    assert changed.cache_misses and not changed.cache_hits


def test_an_uncompiled_copy_leaves_the_modules_it_imports_compiled():
    """load_uncompiled of a kernel module imported first thing in a process: the kernel modules it
    imports are imported as themselves (their kernels compile), not as plain Python for the whole process."""
    import subprocess

    code = ("from imapk.engine._numba import load_uncompiled\n"
            "copy = load_uncompiled('imapk.engine._verdict_kernels')\n"
            "import imapk.engine._exact_kernels as real\n"
            "print(type(real.crossing_search).__name__, type(copy.verdicts_regular).__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["Kernel", "function"]
