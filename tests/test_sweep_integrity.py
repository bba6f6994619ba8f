"""Sweep stores that do not hold what they claim: chunk files deleted, damaged or never written while
``chunk_done`` says done, a covariate file edited during a sweep, orphaned worker processes.

A resume recomputes every chunk whose data do not match the checksum recorded when it was written;
a reader refuses a finished store whose data do not match its record; the inputs are read once.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import imapk.sweep
from imapk.cli import main
from imapk.sweep import SweepError, open_sweep, run_sweep
from test_sweep import DOSE_AXIS, _env, arrays, assert_same_arrays, sweep_text, write

N, CHUNK = 24, 5  # 4 cells x 5 blocks of subjects (the last block: subjects 20-23)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The store of an uninterrupted run of `sweep_text()`."""
    folder = tmp_path_factory.mktemp("reference")
    out = folder / "out.zarr"
    run_sweep(write(folder / "sweep.toml", sweep_text()), out, workers=2, progress=False)
    return out


def interrupted(tmp_path, monkeypatch, after: int = 2, text: str | None = None) -> tuple[Path, Path, list]:
    """A sweep (`text`, default `sweep_text()`) stopped after `after` chunks, on one worker; the
    (cell..., block) elements done."""
    path = write(tmp_path / "sweep.toml", sweep_text() if text is None else text)
    out = tmp_path / "out.zarr"
    run_chunk = imapk.sweep._run_chunk
    calls = []

    def stopping(*args):
        calls.append(args)
        if len(calls) > after:
            raise RuntimeError("interrupted")
        return run_chunk(*args)

    monkeypatch.setattr(imapk.sweep, "_run_chunk", stopping)
    with pytest.raises(RuntimeError, match="interrupted"):
        run_sweep(path, out, workers=1, progress=False)
    monkeypatch.setattr(imapk.sweep, "_run_chunk", run_chunk)
    done = arrays(out)["chunk_done"]
    assert done.sum() == after
    return path, out, [tuple(int(i) for i in e) for e in np.argwhere(done)]


def chunk_file(name: str, element: tuple) -> str:
    """The Zarr file of `name` (one Zarr chunk per cell and block of subjects) for a done element."""
    return f"{name}/{'.'.join(map(str, element))}.0"


def resume(path: Path, out: Path, bad: int, claimed: int) -> dict:
    with pytest.warns(UserWarning) as warned:
        result = run_sweep(path, out, workers=2, progress=False)
    messages = [str(w.message) for w in warned]
    assert len(messages) == 1 and messages[0].startswith(
        f"{out}: {bad} of {claimed} chunks marked done do not match their recorded checksum "
        "(data missing, damaged or never written; first: cell ("
    ), messages
    assert messages[0].endswith("): computing them again")
    return result


# -- 1. a resume verifies what chunk_done claims ----------------------------------------------------


def test_resume__deleted_chunk_file_of_a_done_chunk_is_recomputed(tmp_path, monkeypatch, reference):
    path, out, done = interrupted(tmp_path, monkeypatch)
    (out / chunk_file("trough", done[0])).unlink()
    result = resume(path, out, bad=1, claimed=2)
    assert result == {"chunks": 20, "computed": 19, "skipped": 1, "complete": True}
    assert_same_arrays(reference, out)
    # The summaries come from the recomputed troughs (the damage gave 0.206 instead of 0.253 once).
    np.testing.assert_array_equal(open_sweep(out)["target_attainment"].values, open_sweep(reference)["target_attainment"].values)


def test_resume__forged_chunk_done_is_recomputed(tmp_path, monkeypatch, reference):
    import zarr

    path, out, done = interrupted(tmp_path, monkeypatch)
    never = next(e for e in np.ndindex(2, 2, 5) if e not in done)
    zarr.open_array(str(out / "chunk_done"), mode="r+")[never] = 1
    result = resume(path, out, bad=1, claimed=3)
    assert result["computed"] == 18 and result["skipped"] == 2
    assert_same_arrays(reference, out)


def test_resume__deleted_trough_folder_is_restored_and_recomputed(tmp_path, monkeypatch, reference):
    path, out, _ = interrupted(tmp_path, monkeypatch)
    shutil.rmtree(out / "trough")
    result = resume(path, out, bad=2, claimed=2)
    assert result["computed"] == 20 and result["skipped"] == 0
    assert_same_arrays(reference, out)


@pytest.mark.parametrize("damaged", ["trough", "time_below", "trough of a partial block not done"])
def test_resume__garbage_chunk_file_is_replaced(tmp_path, monkeypatch, reference, damaged):
    """A file that does not decompress (of a done chunk, or of the last, partial block) is rewritten."""
    path, out, done = interrupted(tmp_path, monkeypatch)
    if damaged.startswith("trough of"):
        element = next(e for e in np.ndindex(2, 2, 5) if e not in done and e[-1] == 4)
    else:
        element = done[-1]
    (out / chunk_file(damaged.split()[0], element)).write_bytes(b"not a zarr chunk")
    if element not in done:  # recomputed as any other chunk, its file replaced
        result = run_sweep(path, out, workers=2, progress=False)
        assert result["computed"] == 18
    else:
        resume(path, out, bad=1, claimed=2)
    assert_same_arrays(reference, out)


def test_resume__garbage_record_element_counts_as_not_done(tmp_path, monkeypatch, reference):
    path, out, done = interrupted(tmp_path, monkeypatch)
    (out / "chunk_done" / ".".join(map(str, done[0]))).write_bytes(b"garbage")
    result = run_sweep(path, out, workers=2, progress=False)
    assert result["computed"] == 19 and result["skipped"] == 1
    assert_same_arrays(reference, out)


def test_readers_refuse_a_finished_store_whose_data_do_not_match(tmp_path, reference, capsys):
    path = write(tmp_path / "sweep.toml", sweep_text())
    out = tmp_path / "out.zarr"
    shutil.copytree(reference, out)
    (out / "trough" / "0.1.1.0").unlink()  # cell (hold 3 d, restart 300 mg), subjects 5-9
    expected = (
        f"{out}: the data of 1 chunk(s) do not match the store's record, first: cell (hold_length = 3.0, "
        "restart_dose = 300.0), subjects 5-9 (missing, damaged or changed files) "
        f"(expected rerun the same `imapk sweep SWEEP.toml -o {out}` to compute them again)"
    )
    with pytest.raises(SweepError) as refused:
        open_sweep(out)
    assert str(refused.value) == expected
    assert main(["summarize", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == f"imapk: error: {expected}\n"
    # A rerun of the finished store verifies it, recomputes that chunk and the summaries.
    result = resume(path, out, bad=1, claimed=20)
    assert result == {"chunks": 20, "computed": 1, "skipped": 19, "complete": True}
    assert_same_arrays(reference, out)
    assert open_sweep(out)["trough"].shape == (2, 2, N, 40)


def test_readers_refuse_a_finished_store_with_a_forged_record(tmp_path, reference):
    import zarr

    out = tmp_path / "out.zarr"
    shutil.copytree(reference, out)
    zarr.open_array(str(out / "chunk_checksum"), mode="r+")[1, 0, 4] += 1
    with pytest.raises(SweepError, match=r"first: cell \(hold_length = 7.0, restart_dose = 200.0\), subjects 20-23 "):
        open_sweep(out)


def test_checksum_is_recorded_for_every_chunk(reference):
    import zlib

    import zarr

    root = zarr.open_group(str(reference), mode="r")
    checksum = root["chunk_checksum"][...]
    assert checksum.shape == (2, 2, 5) and (checksum > 2**32).all()
    rows = slice(20, 24)  # the last block of cell (1, 1), recomputed independently
    crc = 0
    for name in ("trough", "time_below", "longest_below", "time_above"):
        crc = zlib.crc32(np.ascontiguousarray(root[name][1, 1, rows, :]), crc)
    assert checksum[1, 1, 4] == 2**32 + crc


# -- 2. the inputs are read once; a changed covariate file is refused -------------------------------

BASE = """
[scenario]
title = "sweep with a covariate file"
seed = 11

[model]
parameter_set = "widmer2006_covariates"

[population]
covariates_file = "patients.csv"

[population.covariates]
disease = "GIST"

[[schedule.phases]]
dose = "400 mg"
days = 20

[verdict]
thresholds = ["gist"]
"""

SWEEP = """
[sweep]
base = "base.toml"
subjects_per_chunk = 2

[[sweep.axes]]
name = "daily_dose"
key = "schedule.phases[0].dose"
values = ["300 mg", "400 mg"]
"""


def patients(weights) -> str:
    return "weight [kg],age [y],sex\n" + "".join(f"{w},{50 + i},{'male' if i % 2 else 'female'}\n" for i, w in enumerate(weights))


FIRST = patients([50, 60, 70, 80, 90, 100])
SECOND = patients([120, 120, 120, 120, 120, 120])


def covariate_sweep(folder: Path, csv: str = FIRST) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write(folder / "base.toml", BASE)
    write(folder / "patients.csv", csv)
    return write(folder / "sweep.toml", SWEEP)


def test_covariate_file_edited_during_a_sweep_changes_nothing_and_is_refused_on_rerun(tmp_path, monkeypatch):
    import zarr

    reference = tmp_path / "reference" / "out.zarr"
    run_sweep(covariate_sweep(tmp_path / "reference"), reference, workers=1, progress=False)
    path = covariate_sweep(tmp_path / "edited")
    csv = tmp_path / "edited" / "patients.csv"
    run_chunk = imapk.sweep._run_chunk
    calls = []

    def editing(*args):  # the file is replaced by another population after the first chunk
        calls.append(args)
        result = run_chunk(*args)
        if len(calls) == 1:
            write(csv, SECOND)
        return result

    monkeypatch.setattr(imapk.sweep, "_run_chunk", editing)
    out = tmp_path / "edited" / "out.zarr"
    run_sweep(path, out, workers=1, progress=False)
    assert len(calls) == 6
    assert_same_arrays(reference, out)  # one population: the file as read when the sweep began
    assert zarr.open_group(str(out), mode="r").attrs["covariates_file_content"] == FIRST
    monkeypatch.setattr(imapk.sweep, "_run_chunk", run_chunk)
    with pytest.raises(SweepError) as refused:
        run_sweep(path, out, workers=1, progress=False)
    message = str(refused.value)
    assert message.startswith(
        f"{csv}: this covariate file changed since the sweep store {out} was begun: results would be mixed "
        "(got 'sha256 "
    ), message
    assert message.endswith("(the file as it was), or a new output name)")


def test_missing_covariate_file_is_refused_when_the_sweep_is_loaded(tmp_path):
    path = covariate_sweep(tmp_path)
    (tmp_path / "patients.csv").unlink()
    with pytest.raises(SweepError) as refused:
        imapk.sweep.load_sweep(path)
    assert str(refused.value) == (
        f"{tmp_path / 'base.toml'}: population.covariates_file: no such covariate file (got '{tmp_path / 'patients.csv'}')"
    )


def test_chunk_tasks_carry_the_content_not_the_path(tmp_path, monkeypatch):
    """Workers never open the covariate file: the chunk tasks run after it is gone."""
    path = covariate_sweep(tmp_path)
    sweep = imapk.sweep.load_sweep(path)
    assert dict(sweep.files) == {str(tmp_path / "patients.csv"): FIRST.encode()}
    (tmp_path / "patients.csv").unlink()
    monkeypatch.chdir(tmp_path.parent)
    out = tmp_path / "out.zarr"
    assert run_sweep(sweep, out, workers=2, progress=False)["computed"] == 6
    reference = tmp_path / "again" / "out.zarr"
    run_sweep(covariate_sweep(tmp_path / "again"), reference, workers=2, progress=False)
    assert_same_arrays(reference, out)


def test_relative_output_path(tmp_path, monkeypatch):
    path = covariate_sweep(tmp_path / "work")
    monkeypatch.chdir(tmp_path / "work")
    assert main(["sweep", "sweep.toml", "-o", "out.zarr", "--quiet"]) == 0
    assert open_sweep(tmp_path / "work" / "out.zarr")["trough"].shape == (2, 6, 20)
    assert path.exists()


# -- 3. worker processes die with the sweep ---------------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and PR_SET_PDEATHSIG: Linux")
def test_processes__workers_die_with_a_killed_sweep(tmp_path):
    import psutil
    import zarr

    sweep_file = write(tmp_path / "sweep.toml", sweep_text(n=400, days=60, chunk=2, axes=DOSE_AXIS))
    out = tmp_path / "out.zarr"
    command = [sys.executable, "-m", "imapk", "sweep", str(sweep_file), "-o", str(out), "--workers", "2",
               "--processes", "--quiet"]
    process = subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    children = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if (out / "chunk_done").exists() and zarr.open_array(str(out / "chunk_done"), mode="r")[...].sum() >= 2:
                break
            time.sleep(0.05)
        assert process.poll() is None, process.communicate()[1].decode()
        children = psutil.Process(process.pid).children(recursive=True)
        assert len(children) >= 2  # the two workers (and multiprocessing's resource tracker)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        gone, alive = psutil.wait_procs(children, timeout=5)
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert alive == [], [p.cmdline() for p in alive]
        # Nothing writes into the store any more.
        before = zarr.open_array(str(out / "chunk_done"), mode="r")[...].sum()
        time.sleep(1.0)
        assert zarr.open_array(str(out / "chunk_done"), mode="r")[...].sum() == before
    finally:
        process.kill()
        process.communicate()
        for child in children:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass


@pytest.mark.parametrize("damage", ["trough_quantile/0.1.0.0", "dose_time", "threshold_value/0"])
def test_other_arrays_of_a_finished_store_are_checked_too(tmp_path, reference, damage):
    """Summaries, dose grids and coordinates: refused by the readers, restored or recomputed by a rerun."""
    path = write(tmp_path / "sweep.toml", sweep_text())
    out = tmp_path / "out.zarr"
    shutil.copytree(reference, out)
    target = out / damage
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.write_bytes(b"garbage")
    name = damage.split("/")[0]
    with pytest.raises(SweepError) as refused:
        open_sweep(out)
    assert str(refused.value) == (
        f"{out}: 1 array(s) do not match the store's record, first: {name} (missing, damaged or changed files) "
        f"(expected rerun the same `imapk sweep SWEEP.toml -o {out}` to restore them)"
    )
    with pytest.warns(UserWarning) as warned:
        result = run_sweep(path, out, workers=2, progress=False)
    assert [str(w.message) for w in warned] == [
        f"{out}: 1 array(s) do not match the store's record (first: {name}): restoring them and computing the "
        "summaries again"
    ]
    assert result == {"chunks": 20, "computed": 0, "skipped": 20, "complete": True}
    assert_same_arrays(reference, out)
    open_sweep(out)


GRANDCHILD = """
import sys, time
import imapk.sweep
sys.platform = {platform!r}  # the mechanism of that platform (prctl on Linux, else the watchdog thread)
imapk.sweep._die_with_parent()
print("ready", flush=True)
time.sleep(60)
"""

CHILD = """
import subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, "-c", {code!r}], stdout=subprocess.PIPE, text=True)
assert grandchild.stdout.readline() == "ready\\n"
print(grandchild.pid, flush=True)
time.sleep(60)
"""


def _running(process) -> bool:
    """Alive and not a zombie (an orphan's exit is seen before whoever adopted it reaps it)."""
    import psutil

    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the test kills processes the POSIX way")
@pytest.mark.parametrize("platform", ["linux", "darwin"])
def test_die_with_parent__worker_ends_when_its_parent_is_killed(platform):
    import psutil

    code = CHILD.format(code=GRANDCHILD.format(platform=platform))
    child = subprocess.Popen([sys.executable, "-c", code], env=_env(), stdout=subprocess.PIPE, text=True)
    try:
        grandchild = psutil.Process(int(child.stdout.readline()))
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        start = time.monotonic()
        while time.monotonic() - start < 5 and _running(grandchild):
            time.sleep(0.01)
        assert time.monotonic() - start < (0.5 if platform == "linux" else 2.0)
    finally:
        child.kill()
        child.communicate()


def test_cli_resume_of_a_damaged_store_says_how_many_chunks_in_one_line(tmp_path, reference):
    path = write(tmp_path / "sweep.toml", sweep_text())
    out = tmp_path / "out.zarr"
    shutil.copytree(reference, out)
    (out / "trough" / "1.0.2.0").unlink()
    command = [sys.executable, "-m", "imapk", "sweep", str(path), "-o", str(out), "--quiet"]
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"{path}: 4 cells (hold_length 2 x restart_dose 2)",
        f"imapk: warning: {out}: 1 of 20 chunks marked done do not match their recorded checksum (data missing, "
        "damaged or never written; first: cell (hold_length = 7, restart_dose = '200 mg'), subjects 10-14): "
        "computing them again",
    ]
    assert done.stdout.startswith(f"{out}: complete: 1 chunks computed, 19 found done from an earlier run, ")
    assert_same_arrays(reference, out)


def test_load_sweep__fifo_sweep_base_and_covariate_file_are_refused_not_waited_on(tmp_path):
    """A named pipe given as the sweep file, its base scenario or a covariate file it names hung the
    reader; each is one line naming the file."""
    from imapk.sweep import SweepError, load_sweep

    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    with pytest.raises(SweepError, match="cannot read the sweep file: it is a named pipe"):
        load_sweep(fifo)
    sweep = tmp_path / "s.toml"
    sweep.write_text('[sweep]\nbase = "pipe.toml"\n[[sweep.axes]]\nkey = "population.size"\nvalues = [1, 2]\n')
    with pytest.raises(SweepError, match="cannot read the scenario file: it is a named pipe"):
        load_sweep(sweep)
    deep = tmp_path / "deep.toml"
    deep.write_text("[sweep]\nx = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(SweepError, match="not valid TOML: arrays or inline tables nested too deeply"):
        load_sweep(deep)


def test_bad_scheduler_or_missing_output_folder_creates_nothing(tmp_path):
    """A malformed scheduler address used to fail after the store had been created (an empty store
    left behind); `sweep -o` into a missing folder created the folders while `run -o` refuses."""
    from imapk.sweep import load_sweep

    sweep = load_sweep("scenarios/sweep-hold-and-restart.toml")
    out = tmp_path / "s.zarr"
    with pytest.raises(SweepError, match="cannot connect to the scheduler"):
        run_sweep(sweep, out, scheduler="not an address")
    assert not out.exists()
    # the failed connection did not become the process's default dask client (later writes once
    # failed with "IOLoop is closed")
    import xarray as xr

    from imapk.io import read_netcdf, write_netcdf

    write_netcdf(xr.Dataset({"x": ("a", [1.0, 2.0])}), tmp_path / "after.nc")
    assert read_netcdf(tmp_path / "after.nc")["x"].values.tolist() == [1.0, 2.0]
    with pytest.raises(SweepError, match="the output folder does not exist"):
        run_sweep(sweep, tmp_path / "missing" / "s.zarr")
    assert not (tmp_path / "missing").exists()


def test_two_sweeps_creating_one_store__the_loser_says_so_in_one_line(tmp_path, monkeypatch, capsys, reference):
    """Two sweeps started at once on a new store: the one whose rename comes second used to end in an
    internal error (OSError: Directory not empty). Now: one line, exit 2, no temporary left, and the
    store the winner made is resumed by running the command again."""
    path = write(tmp_path / "sweep.toml", sweep_text())
    out = tmp_path / "out.zarr"
    rename = os.rename

    raced = []

    def racing(source, target):  # the other process wins the race just before our rename
        if Path(target) == out and not raced:
            raced.append(True)
            shutil.copytree(reference, out)  # the winner's store (the same sweep, already finished)
        return rename(source, target)

    monkeypatch.setattr(imapk.sweep.os, "rename", racing)
    code = main(["sweep", str(path), "-o", str(out)])
    error = capsys.readouterr().err
    assert code == 2, error
    assert "another process created this store" in error and "internal error" not in error
    assert [line for line in error.splitlines() if line.startswith("imapk:")] == error.splitlines()[-1:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zarr", "sweep.toml"]
    monkeypatch.setattr(imapk.sweep.os, "rename", rename)
    assert main(["sweep", str(path), "-o", str(out)]) == 0
    assert_same_arrays(reference, out)
