"""Writing results when things go wrong: a full disk, a close that fails, killed earlier runs.

``IMAPK_LONG_TESTS=1`` also runs ``imapk run -o`` into a real, tiny tmpfs (root only; skipped
where mounting is not possible)::

    IMAPK_LONG_TESTS=1 PYTHONPATH=src python -m pytest tests/test_io_failures.py
"""

from __future__ import annotations

import errno
import gc
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import imapk
from imapk.cli import main
from imapk.errors import ImapkError
from imapk.io import _HOST as HOST
from imapk.io import OutputError, read_netcdf, remove_stale_temporaries, write_netcdf
from imapk.schedule import Phase, Schedule

ROOT = Path(__file__).resolve().parents[1]
LONG = os.environ.get("IMAPK_LONG_TESTS") == "1"
SMALL = (
    "import imapk\n"
    "from imapk.schedule import Schedule, Phase\n"
    "ds = imapk.simulate(Schedule(phases=(Phase(dose=400, days=3),)), imapk.PKParams(cl=14.3, v=347.0, ka=0.609))\n"
)


@pytest.fixture
def roomy(monkeypatch):
    """The output folder's file system has plenty of room: HDF5 writes the file directly."""
    monkeypatch.setattr("imapk.io._free_bytes", lambda folder: (2**50, 2**50))


@pytest.fixture
def nearly_full(monkeypatch):
    """The output folder's file system has 10 MiB left: the file is built in memory first."""
    monkeypatch.setattr("imapk.io._free_bytes", lambda folder: (10 * 2**20, 10 * 2**20))


@pytest.fixture
def small_result():
    return imapk.simulate(Schedule(phases=(Phase(dose=400, days=3),)), imapk.PKParams(cl=14.3, v=347.0, ka=0.609))


def disk_full_after_half(self, path, *args, **kwargs):
    """A to_netcdf that writes part of the file and then finds the disk full."""
    with open(path, "wb") as handle:
        handle.write(b"half a file")
    raise OSError(errno.ENOSPC, "No space left on device")


def expected_message(target: Path) -> str:
    return (
        f"{target}: no space left on {os.path.abspath(target.parent)}; the partial result was removed "
        "(expected more free space there, or another output folder)"
    )


def dead_pid() -> int:
    """The pid of a process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# ---------------------------------------------------------------- a full disk


def test_write_netcdf__disk_full_is_one_line_and_leaves_nothing(roomy, small_result, tmp_path, monkeypatch):
    target = tmp_path / "r.nc"
    target.write_bytes(b"previous complete result")
    monkeypatch.setattr(type(small_result), "to_netcdf", disk_full_after_half)
    with pytest.raises(OutputError) as info:
        write_netcdf(small_result, target)
    assert isinstance(info.value, ImapkError)
    assert str(info.value) == expected_message(target)
    assert target.read_bytes() == b"previous complete result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.nc"]


@pytest.mark.parametrize(
    "code, problem",
    [(getattr(errno, "EDQUOT", errno.ENOSPC), "disk quota exceeded on"), (errno.EFBIG, "the result is larger than the file system of")],
)
def test_write_netcdf__quota_and_file_size_limits(roomy, small_result, tmp_path, monkeypatch, code, problem):
    def fail(self, path, *args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(type(small_result), "to_netcdf", fail)
    with pytest.raises(OutputError, match=rf"^{tmp_path / 'r.nc'}: {problem} "):
        write_netcdf(small_result, tmp_path / "r.nc")
    assert list(tmp_path.iterdir()) == []


def test_write_netcdf__disk_full_at_fsync(roomy, small_result, tmp_path, monkeypatch):
    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OutputError) as info:
        write_netcdf(small_result, tmp_path / "r.nc")
    assert str(info.value) == expected_message(tmp_path / "r.nc")
    assert list(tmp_path.iterdir()) == []


def test_write_netcdf__other_system_errors_are_one_line(roomy, small_result, tmp_path, monkeypatch):
    def fail(self, path, *args, **kwargs):
        raise OSError(errno.EIO, "Can't write data (file write failed: time = ...\n, filename = ...)")

    monkeypatch.setattr(type(small_result), "to_netcdf", fail)
    with pytest.raises(OutputError) as info:
        write_netcdf(small_result, tmp_path / "r.nc")
    assert str(info.value) == f"{tmp_path / 'r.nc'}: cannot write the result: {os.strerror(errno.EIO)}"
    assert list(tmp_path.iterdir()) == []


def test_write_netcdf__failed_close_is_never_repeated(roomy, small_result, tmp_path, monkeypatch):
    """The segfault: h5netcdf closes a file again (from __del__) after its first close failed."""
    import h5netcdf

    real = h5netcdf.File.close
    entered = []

    def close(self):
        if self._closed:
            return
        entered.append(self)
        if len(entered) == 1:  # the first close flushes, then the disk is full: the file stays marked open
            real(self)
            self._closed = False
            raise OSError(errno.ENOSPC, "Can't close file (file write failed: ..., errno = 28)")
        self._closed = True  # a second close: on a real full disk this is where the process crashed

    monkeypatch.setattr(h5netcdf.File, "close", close)
    monkeypatch.setattr(h5netcdf.File, "__del__", close)
    target = tmp_path / "r.nc"
    with pytest.raises(OutputError) as info:
        write_netcdf(small_result, target)
    del info
    gc.collect()
    assert len(entered) == 1
    assert list(tmp_path.iterdir()) == []


def test_cli__disk_full_prints_one_line_and_exits_2(roomy, tmp_path, monkeypatch, capsys):
    import xarray as xr

    monkeypatch.setattr(xr.Dataset, "to_netcdf", disk_full_after_half)
    target = tmp_path / "r.nc"
    status = main(["run", str(ROOT / "scenarios" / "gist-rash-case-report.toml"), "-o", str(target)])
    assert status == 2
    assert capsys.readouterr().err == f"imapk: error: {expected_message(target)}\n"
    assert list(tmp_path.iterdir()) == []


def test_write_netcdf__nearly_full_disk_is_written_by_imapk(small_result, tmp_path, nearly_full, monkeypatch):
    """Where room is short, HDF5 builds the file in memory (no path) and imapk writes the bytes."""
    import xarray as xr

    targets = []
    real = xr.Dataset.to_netcdf

    def record(self, path=None, *args, **kwargs):
        targets.append(path)
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(xr.Dataset, "to_netcdf", record)
    path = write_netcdf(small_result, tmp_path / "r.nc")
    assert targets == [None]
    back = read_netcdf(path)
    assert back["trough"].values.tolist() == small_result["trough"].values.tolist()
    assert back.attrs == small_result.attrs
    assert [p.name for p in tmp_path.iterdir()] == ["r.nc"]
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_write_netcdf__nearly_full_disk_fills_up_during_the_write(small_result, tmp_path, nearly_full, monkeypatch):
    target = tmp_path / "r.nc"
    target.write_bytes(b"previous complete result")
    real = os.write
    calls = []

    def write(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return real(fd, bytes(data)[:100])  # a short write, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", write)
    with pytest.raises(OutputError) as info:
        write_netcdf(small_result, target)
    monkeypatch.undo()
    assert str(info.value) == expected_message(target)
    assert len(calls) == 2
    assert target.read_bytes() == b"previous complete result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.nc"]


def test_write_netcdf__data_larger_than_the_free_space_is_refused_first(small_result, tmp_path, monkeypatch):
    import xarray as xr

    from imapk.files import format_bytes
    from imapk.io import _data_bytes

    needed = _data_bytes(small_result)
    assert needed > 100
    monkeypatch.setattr("imapk.io._free_bytes", lambda folder: (100, 0))
    monkeypatch.setattr(xr.Dataset, "to_netcdf", lambda *a, **k: pytest.fail("nothing may be written"))
    with pytest.raises(OutputError) as info:
        write_netcdf(small_result, tmp_path / "r.nc")
    assert str(info.value) == (
        f"{tmp_path / 'r.nc'}: no space left on {tmp_path} "
        f"(got '100 bytes free'; expected at least {format_bytes(needed)} for this result)"
    )
    assert list(tmp_path.iterdir()) == []


def _mount_tmpfs(folder: Path, size: str) -> bool:
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    return result.returncode == 0


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 1 MiB tmpfs (root only); skipped where it cannot be mounted."""
    if not LONG:
        pytest.skip("long test: set IMAPK_LONG_TESTS=1")
    folder = tmp_path / "small"
    folder.mkdir()
    if not _mount_tmpfs(folder, "1m"):
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


def test_cli__real_full_disk(tiny_tmpfs):
    """`imapk run -o` into a 1 MiB tmpfs: one line, status 2, nothing left behind, no crash."""
    target = tiny_tmpfs / "r.nc"
    scenario = ROOT / "scenarios" / "gist-rash-case-report-population.toml"
    result = subprocess.run(
        [sys.executable, "-m", "imapk", "run", str(scenario), "-o", str(target)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"imapk: error: {target}: no space left on {tiny_tmpfs}")
    assert result.stderr.count("\n") == 1
    assert list(tiny_tmpfs.iterdir()) == []


def test_write_netcdf__real_disk_full_at_every_stage(tiny_tmpfs):
    """The same result into a tmpfs with 0 B to 420 kB left: each write succeeds or says "no space
    left" in one line; none crashes or leaves a file behind."""
    script = (
        SMALL.replace("days=3", "days=2000") + "import sys\nfrom imapk.io import write_netcdf\n"
        "try:\n    write_netcdf(ds, sys.argv[1])\nexcept imapk.ImapkError as error:\n    print(error)\n"
    )
    target = tiny_tmpfs / "r.nc"
    outcomes = []
    for left in (0, 3000, 8192, 20000, 80000, 250000, 350000, 398000, 402000, 420000):
        for leftover in tiny_tmpfs.iterdir():
            leftover.unlink()
        filler = shutil.disk_usage(tiny_tmpfs).free - left
        if filler > 0:
            with open(tiny_tmpfs / "filler", "wb") as handle:
                handle.truncate(0)
                try:
                    handle.write(b"\0" * filler)
                except OSError:
                    pass
        result = subprocess.run(
            [sys.executable, "-c", script, str(target)],
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )
        assert result.returncode == 0, (left, result.stderr[-2000:])
        assert result.stderr == "", (left, result.stderr[-2000:])
        names = sorted(p.name for p in tiny_tmpfs.iterdir() if p.name != "filler")
        if result.stdout:
            assert result.stdout.startswith(f"{target}: no space left on {tiny_tmpfs}") and result.stdout.count("\n") == 1
            assert names == [], left
        else:
            assert names == ["r.nc"], left
        outcomes.append(bool(result.stdout))
    assert outcomes[0] and not outcomes[-1]


# ---------------------------------------------------------------- leftovers of killed runs


def _old(path: Path) -> Path:
    """Make `path` look last modified an hour ago (before this process loaded the writer)."""
    past = time.time() - 3600
    os.utime(path, (past, past), follow_symlinks=False)
    return path


def test_write_netcdf__removes_only_stale_temporaries_of_its_target(small_result, tmp_path):
    dead, alive = dead_pid(), os.getppid()
    stale = tmp_path / f".r.nc.imapk-{HOST}-{dead}-abc_0123.part"
    stale.write_bytes(b"left by a killed run")
    _old(stale)
    kept = {
        f".r.nc.imapk-{HOST}-{alive}-abcdefgh.part": "its process still runs",
        f".r.nc.imapk-{HOST}-{os.getpid()}-abcdefgh.part": "this process",
        f".other.nc.imapk-{HOST}-{dead}-abcdefgh.part": "another target",
        f".r.nc.imapk-elsewhere-{dead}-abcdefgh.part": "another machine",
        f".r.nc.imapk-{dead}-abcdefgh.part": "no machine",
        f".r.nc.imapk-{HOST}-{dead}-abcdefgh.part.bak": "not imapk's naming",
        f".r.nc.imapk-{HOST}-{dead}-abcdefg.part": "not imapk's naming",
        ".r.nc.abcdefgh.part": "not this naming",
        f"r.nc.imapk-{HOST}-{dead}-abcdefgh.part": "not hidden",
        "notes.txt": "anything else",
    }
    for name in kept:
        (tmp_path / name).write_bytes(b"x")
        _old(tmp_path / name)
    recent = tmp_path / f".r.nc.imapk-{HOST}-{dead}-recent00.part"
    recent.write_bytes(b"modified after this process started: maybe another machine writing")
    recent_time = time.time() + 60
    os.utime(recent, (recent_time, recent_time))
    link = tmp_path / f".r.nc.imapk-{HOST}-{dead}-symlink0.part"
    link.symlink_to(tmp_path / "notes.txt")
    _old(link)
    folder = tmp_path / f".r.nc.imapk-{HOST}-{dead}-folder00.part"
    folder.mkdir()
    _old(folder)

    write_netcdf(small_result, tmp_path / "r.nc")
    left = {p.name for p in tmp_path.iterdir()}
    assert stale.name not in left
    assert left == set(kept) | {"r.nc", recent.name, link.name, folder.name}
    assert read_netcdf(tmp_path / "r.nc")["trough"].size == 3


def test_remove_stale_temporaries__returns_what_it_removed(tmp_path):
    stale = tmp_path / f".r.nc.imapk-{HOST}-{dead_pid()}-zzzzzzzz.part"
    stale.write_bytes(b"")
    _old(stale)
    assert remove_stale_temporaries(tmp_path / "r.nc") == [stale]
    assert remove_stale_temporaries(tmp_path / "r.nc") == []
    assert remove_stale_temporaries(tmp_path / "missing" / "r.nc") == []


def test_write_netcdf__next_run_cleans_up_after_a_killed_one(tmp_path):
    """A run killed in the middle of the write leaves its .part; the next run to the same target removes it."""
    import signal

    target = tmp_path / "killed.nc"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    dying = (
        "import os, signal, xarray as xr\n" + SMALL + "from imapk.io import write_netcdf\n"
        "real = xr.Dataset.to_netcdf\n"
        "def dying(self, path, *a, **k):\n"
        "    real(self, path, *a, **k)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "xr.Dataset.to_netcdf = dying\n"
        f"write_netcdf(ds, {str(target)!r})\n"
    )
    assert subprocess.run([sys.executable, "-c", dying], env=env, capture_output=True).returncode == -signal.SIGKILL
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(f".killed.nc.imapk-{HOST}-") and left[0].endswith(".part")
    time.sleep(0.05)  # the next process starts strictly after the leftover was last written
    again = SMALL + f"from imapk.io import write_netcdf\nwrite_netcdf(ds, {str(target)!r})\n"
    result = subprocess.run([sys.executable, "-c", again], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["killed.nc"]


def test_write_netcdf__temporary_names_the_target_and_process(roomy, small_result, tmp_path, monkeypatch):
    seen = []

    def record(self, path, *args, **kwargs):
        seen.append(Path(path).name)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(type(small_result), "to_netcdf", record)
    with pytest.raises(OutputError):
        write_netcdf(small_result, tmp_path / "r.nc")
    (name,) = seen
    assert name.startswith(f".r.nc.imapk-{HOST}-{os.getpid()}-") and name.endswith(".part")


# ---------------------------------------------------------------- reading


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
def test_read_netcdf__fifo_is_refused_not_waited_on(tmp_path):
    path = tmp_path / "result.nc"
    os.mkfifo(path)
    with pytest.raises(ImapkError) as info:
        read_netcdf(path)
    assert str(info.value) == f"{path}: cannot read the result file: it is a named pipe (FIFO) (expected a regular file)"


def test_read_netcdf__folder(tmp_path):
    with pytest.raises(ImapkError, match=r": cannot read the result file: it is a folder"):
        read_netcdf(tmp_path)
