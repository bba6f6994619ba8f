"""A sweep on a dask.distributed cluster whose workers run in another folder: every path is resolved
on the client, and workers get the inputs' content, never a name to open in their own folder."""

from __future__ import annotations

import os
from pathlib import Path

import zarr

from imapk.sweep import open_sweep, run_sweep
from test_sweep import assert_same_arrays
from test_sweep_integrity import FIRST, SECOND, covariate_sweep, write


def test_workers_in_another_folder_read_nothing_there(tmp_path, monkeypatch):
    from distributed import LocalCluster

    client_folder, worker_folder = tmp_path / "client", tmp_path / "worker"
    covariate_sweep(client_folder, FIRST)
    covariate_sweep(worker_folder, SECOND)  # same names, another population: must not be read
    reference = tmp_path / "reference" / "out.zarr"
    run_sweep(covariate_sweep(tmp_path / "reference", FIRST), reference, workers=1, progress=False)
    monkeypatch.chdir(client_folder)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None) as cluster:
        from distributed import Client

        with Client(cluster) as client:
            client.run(os.chdir, str(worker_folder))
            assert set(client.run(os.getcwd).values()) == {str(worker_folder)}
        result = run_sweep("sweep.toml", "out.zarr", scheduler=cluster.scheduler_address, progress=False)
    assert result["computed"] == 6
    assert not (worker_folder / "out.zarr").exists()
    assert_same_arrays(reference, client_folder / "out.zarr")
    attrs = zarr.open_group(str(client_folder / "out.zarr"), mode="r").attrs
    assert attrs["covariates_file_content"] == FIRST
    assert open_sweep(Path("out.zarr"))["trough"].shape == (2, 6, 20)
    assert write  # (the helpers come from the integrity tests)


def _sweep(tmp_path):
    from test_sweep import DOSE_AXIS, sweep_text

    return write(tmp_path / "sweep.toml", sweep_text(n=400, days=60, chunk=2, axes=DOSE_AXIS)), tmp_path / "out.zarr"


def _wait_for_chunks(out: Path, count: int, process=None, seconds: float = 120.0) -> None:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and (process is None or process.poll() is None):
        if (out / "chunk_done").exists() and zarr.open_array(str(out / "chunk_done"), mode="r")[...].sum() >= count:
            return
        time.sleep(0.02)
    raise AssertionError("no chunk finished")


def test_ctrl_c_with_live_workers_ends_with_one_line(tmp_path):
    import signal
    import subprocess
    import sys

    from distributed import LocalCluster

    from test_sweep import _env

    path, out = _sweep(tmp_path)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", dashboard_address=None) as cluster:
        command = [sys.executable, "-m", "imapk", "sweep", str(path), "-o", str(out), "--scheduler",
                   cluster.scheduler_address, "--quiet"]
        process = subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for_chunks(out, 2, process)
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=60)
        finally:
            process.kill()
    assert process.returncode == 130, err
    assert err.splitlines() == [f"{path}: 2 cells (restart_dose 2)", "imapk: interrupted (rerun the same command to resume a sweep)"]


def test_scheduler_without_workers_stops_with_one_line(tmp_path, monkeypatch):
    import re
    import threading

    import pytest
    from distributed import LocalCluster

    import imapk.sweep
    from imapk.sweep import SweepError

    monkeypatch.setattr(imapk.sweep, "WORKERS_GONE_SECONDS", 1.0)
    path, out = _sweep(tmp_path)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        worker = next(iter(cluster.scheduler_info["workers"]))

        def leave():
            _wait_for_chunks(out, 1)
            cluster.scale(0)

        thread = threading.Thread(target=leave)
        thread.start()
        with pytest.raises(SweepError) as stopped:
            run_sweep(path, out, scheduler=address, progress=False)
        thread.join()
    message = str(stopped.value)
    assert re.fullmatch(
        rf"--scheduler: the scheduler has had no worker for [12] s \(lost: {re.escape(worker)}\); the last chunk "
        r"finished \d+ s ago; \d+ of 400 chunks not done \(got '" + re.escape(address) + r"'; expected workers "
        r"connected to it; rerun the same command to resume\)",
        message,
    ), message
