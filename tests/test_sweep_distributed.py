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
