"""Sweeps: cells equal single runs, any chunking/scheduler gives the same store, resume after a kill,
refusals with one-line errors, the summary table, common random numbers across cells."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import imapk
from imapk.cli import main
from imapk.sweep import SweepError, load_sweep, open_sweep, run_sweep, summary_table

ROOT = Path(__file__).resolve().parents[1]
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
HOLD_START_DAY = 10

#: The base scenario: fixed covariates (subjects differ by their IIV draws), a hold on day 10 and
#: a 7-day restart step, then back to 400 mg.
SCENARIO = """
[scenario]
title = "sweep test"
seed = 7

[model]
parameter_set = "widmer2006_covariates"

[population]
size = {n}

[population.covariates]
weight = "70 kg"
age = "55 y"
sex = "male"
disease = "GIST"

[[schedule.phases]]
label = "400 mg once daily"
dose = "400 mg"
days = {days}

[[schedule.holds]]
label = "rash"
start_day = 10
days = {hold}
restart = [
    {{ dose = "{restart}", days = 7 }},
]

[verdict]
thresholds = ["gist"]
"""

HOLD_AXIS = """
[[sweep.axes]]
name = "hold_length"
key = "schedule.holds[0].days"
values = [3, 7]
units = "d"
"""

DOSE_AXIS = """
[[sweep.axes]]
name = "restart_dose"
key = "schedule.holds[0].restart[0].dose"
values = ["200 mg", "300 mg"]
"""


def sweep_text(n=24, days=40, chunk=5, axes=HOLD_AXIS + DOSE_AXIS, extra=""):
    """A sweep file that carries its scenario (hold 5 d, restart 200 mg unless swept)."""
    return f"[sweep]\nsubjects_per_chunk = {chunk}\n{extra}\n{axes}\n" + SCENARIO.format(n=n, days=days, hold=5, restart="200 mg")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def arrays(store: Path) -> dict:
    """Every array of a Zarr store (data variables and coordinates), as numpy."""
    import zarr

    group = zarr.open_group(str(store), mode="r")
    return {name: array[...] for name, array in group.arrays()}


def assert_same_arrays(a: Path, b: Path, skip=()):
    first, second = arrays(a), arrays(b)
    assert set(first) == set(second)
    for name in sorted(set(first) - set(skip)):
        assert first[name].dtype == second[name].dtype, name
        assert np.array_equal(first[name], second[name], equal_nan=first[name].dtype.kind == "f"), name


@pytest.fixture
def sweep_file(tmp_path) -> Path:
    return write(tmp_path / "sweep.toml", sweep_text())


@pytest.fixture
def store(sweep_file, tmp_path) -> Path:
    out = tmp_path / "out.zarr"
    result = run_sweep(sweep_file, out, workers=2, progress=False)
    assert result == {"chunks": 20, "computed": 20, "skipped": 0, "complete": True}  # 4 cells x 5 blocks
    return out


# -- 1. each cell is a single run of its own scenario -----------------------------------------------


def test_cells_equal_single_runs_of_the_substituted_scenario(store, tmp_path):
    ds = open_sweep(store)
    assert ds["trough"].dims == ("hold_length", "restart_dose", "subject", "dose")
    assert ds["hold_length"].values.tolist() == [3.0, 7.0] and ds["hold_length"].attrs["units"] == "d"
    assert ds["restart_dose"].values.tolist() == [200.0, 300.0] and ds["restart_dose"].attrs["units"] == "mg"
    for i, hold in enumerate((3, 7)):
        for j, restart in enumerate(("200 mg", "300 mg")):
            path = write(tmp_path / f"cell-{i}-{j}.toml", SCENARIO.format(n=24, days=40, hold=hold, restart=restart))
            single = imapk.run_scenario(path, dense=False)
            m = single.sizes["dose"]
            cell = ds.isel(hold_length=i, restart_dose=j)
            np.testing.assert_array_equal(cell["trough"].values[:, :m], single["trough"].values)
            assert np.isnan(cell["trough"].values[:, m:]).all()
            for name in ("time_below", "longest_below"):
                np.testing.assert_array_equal(cell[name].values, single[name].values)
            codes = {"given": 0, "held": 1, "missed": 2}  # the store keeps the status as flag codes
            assert cell["dose_status"].values[:m].tolist() == [codes[str(s)] for s in single["dose_status"].values]
            assert (cell["dose_status"].values[:m] == 1).sum() == hold


def test_summaries_equal_numpy_on_the_stored_troughs(store):
    ds = open_sweep(store)
    trough = ds["trough"].values
    expected = np.moveaxis(np.quantile(trough, QUANTILES, axis=2), 0, 2)
    np.testing.assert_array_equal(ds["trough_quantile"].values, expected)
    gist = ds["threshold_value"].values[0]
    np.testing.assert_array_equal(ds["target_attainment"].values[:, :, 0], (trough >= gist).mean(axis=2))
    np.testing.assert_array_equal(ds["mean_time_below"].values, ds["time_below"].values.mean(axis=2))


@pytest.mark.parametrize("n", [1, 2, 7, 40, 1000])
def test_streamed_order_statistics_equal_numpy_quantile(n):
    from imapk.quantiles import lerp as _lerp
    from imapk.quantiles import order_statistics as _order_statistics
    from imapk.quantiles import quantile_plan as _quantile_plan

    rng = np.random.default_rng(n)
    columns = [
        rng.lognormal(6.0, 0.5, n),
        np.round(rng.normal(0.0, 3.0, n)),  # many ties
        np.full(n, 3.25),  # constant
        np.where(rng.random(n) < 0.9, 1.0, rng.normal(1.0, 1e-12, n)),  # one big clump, tiny spread
        rng.normal(0.0, 1e300, n),  # a wide range
        rng.uniform(-1.0, 1.0, n) * 1.7e308,  # a range beyond float64: sorted whole
        np.where(np.arange(n) == n // 2, np.nan, rng.random(n)),  # a NaN: the quantile is NaN
    ]
    block = np.stack(columns, axis=1)
    ranks, lower, upper, gamma = _quantile_plan(n, QUANTILES)
    stats, all_nan = _order_statistics(block, ranks)
    assert all_nan.tolist() == [bool(np.isnan(c).all()) for c in columns]
    assert _order_statistics(np.full((n, 2), np.nan), ranks)[1].tolist() == [True, True]
    with np.errstate(all="ignore"):  # differences of +-1.7e308 overflow, in numpy's lerp as in ours
        got = _lerp(stats[:, lower], stats[:, upper], gamma[None, :]).T
        expected = np.quantile(block, QUANTILES, axis=0)
    np.testing.assert_array_equal(got, expected)


# -- 2. any chunking, worker count or scheduler writes the same store -------------------------------


def test_same_store_for_any_workers_chunking_and_processes(tmp_path, monkeypatch):
    import imapk.sweep

    stores = []
    for chunk, workers in [(5, 1), (5, 2), (5, 4), (3, 2), (24, 1), (100, 2)]:
        folder = tmp_path / f"c{chunk}-w{workers}"
        folder.mkdir()
        out = folder / "out.zarr"
        run_sweep(write(folder / "sweep.toml", sweep_text(chunk=chunk)), out, workers=workers, progress=False)
        stores.append((chunk, out))
    folder = tmp_path / "processes"
    folder.mkdir()
    run_sweep(write(folder / "sweep.toml", sweep_text(chunk=7)), folder / "out.zarr", workers=2, processes=True, progress=False)
    stores.append((7, folder / "out.zarr"))
    # Troughs stored in blocks of doses (as for large cells): the summaries stream those blocks.
    folder = tmp_path / "dose-blocks"
    folder.mkdir()
    monkeypatch.setattr(imapk.sweep, "SUMMARY_BLOCK_BYTES", 8 * 24 * 7)  # 7 doses per block
    run_sweep(write(folder / "sweep.toml", sweep_text(chunk=5)), folder / "out.zarr", workers=2, progress=False)
    import zarr

    assert zarr.open_array(str(folder / "out.zarr" / "trough"), mode="r").chunks == (1, 1, 5, 7)
    stores.append((5, folder / "out.zarr"))
    reference_chunk, reference = stores[0]
    for chunk, out in stores[1:]:
        # chunk_done and chunk_checksum have one entry per block of subjects: their shape follows subjects_per_chunk.
        assert_same_arrays(reference, out, skip=() if chunk == reference_chunk else ("chunk_done", "chunk_checksum"))
        assert arrays(out)["chunk_done"].all()


# -- 3. killed mid-run, then resumed ------------------------------------------------------------------


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    env.setdefault("NUMBA_CACHE_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "imapk-numba-cache"))
    return env


def test_killed_sweep_resumes_and_ends_like_an_uninterrupted_one(tmp_path):
    import zarr

    # 2 cells x 100 blocks of 2 subjects on one worker: a few seconds of work, plenty of chunks.
    sweep_file = write(tmp_path / "sweep.toml", sweep_text(n=200, days=30, chunk=2, axes=DOSE_AXIS))
    out = tmp_path / "out.zarr"
    command = [sys.executable, "-m", "imapk", "sweep", str(sweep_file), "-o", str(out), "--workers", "1", "--quiet"]
    process = subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done_before = 0
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if (out / "chunk_done").exists():
                done_before = int(zarr.open_array(str(out / "chunk_done"), mode="r")[...].sum())
                if done_before:
                    break
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        _, err = process.communicate()
    assert process.returncode == -signal.SIGKILL, err.decode()
    done_before = int(zarr.open_array(str(out / "chunk_done"), mode="r")[...].sum())
    assert 1 <= done_before < 200
    with pytest.raises(SweepError) as refused:
        open_sweep(out)
    assert str(refused.value) == (
        f"{out}: this sweep store is unfinished (interrupted, or still running) "
        f"(expected rerun the same `imapk sweep SWEEP.toml -o {out}` to resume it)"
    )

    resumed = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    words = resumed.stdout.split()
    computed = int(words[words.index("computed,") - 2])
    skipped = int(words[words.index("found") - 1])
    assert computed + skipped == 200
    assert skipped >= done_before
    assert f"{out}: complete: {computed} chunks computed, {skipped} found done from an earlier run" in resumed.stdout

    again = tmp_path / "again"
    again.mkdir()
    uninterrupted = again / "out.zarr"
    run_sweep(write(again / "sweep.toml", sweep_file.read_text()), uninterrupted, workers=2, progress=False)
    assert_same_arrays(out, uninterrupted)
    assert open_sweep(out).attrs["imapk_sweep_digest"] == open_sweep(uninterrupted).attrs["imapk_sweep_digest"]
    # A third run finds it complete.
    assert run_sweep(sweep_file, out, progress=False)["chunks"] == 0


# -- 4. refusals --------------------------------------------------------------------------------------


def test_changed_sweep_file_is_refused_for_an_existing_store(sweep_file, store, capsys):
    write(sweep_file, sweep_text().replace("values = [3, 7]", "values = [3, 8]"))
    assert main(["sweep", str(sweep_file), "-o", str(store), "--quiet"]) == 2
    line = capsys.readouterr().err.splitlines()[-1]
    assert line.startswith(
        f"imapk: error: {sweep_file}: this sweep file changed since the sweep store {store} was begun: results would be "
        "mixed (got 'sha256 "
    ), line
    assert line.endswith(" (the file as it was), or a new output name)"), line


def test_store_made_from_another_sweep_is_refused(sweep_file, store, tmp_path, capsys):
    """A store begun by another sweep file (other name, other content): the digests differ."""
    other = write(tmp_path / "other.toml", sweep_text().replace("values = [3, 7]", "values = [3, 8]"))
    import zarr

    group = zarr.open_group(str(store), mode="r+")
    group.attrs["imapk_inputs"] = "[]"  # (a store from before the inputs were recorded)
    zarr.consolidate_metadata(str(store))
    assert main(["sweep", str(other), "-o", str(store), "--quiet"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"imapk: error: {store}: this store was made from a different sweep (or base scenario): results would be "
        "mixed (expected the same sweep file, or a new output name (or remove the store))"
    )


def _error(tmp_path, capsys, text: str) -> str:
    path = write(tmp_path / "bad.toml", text)
    assert main(["sweep", str(path), "-o", str(tmp_path / "bad.zarr"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"imapk: error: {path}: "), err
    assert not (tmp_path / "bad.zarr").exists()
    return err


def test_bad_value_names_the_file_the_axis_and_the_cell(tmp_path, capsys):
    err = _error(tmp_path, capsys, sweep_text().replace('"300 mg"]', '"5000 mg"]'))
    assert "sweep.axes[1]: cell (hold_length = 3, restart_dose = '5000 mg'): schedule.holds[0].restart[0].dose: " in err
    assert "implausible imatinib dose" in err


def test_unknown_axis_key_names_the_file_and_the_axis(tmp_path, capsys):
    err = _error(tmp_path, capsys, sweep_text().replace('"schedule.holds[0].days"', '"schedule.holds[0].dayz"'))
    assert "sweep.axes[0]: cell (hold_length = 3, restart_dose = '200 mg'): schedule.holds[0].dayz: unknown key" in err
    err = _error(tmp_path, capsys, sweep_text().replace('"schedule.holds[0].days"', '"schedule.holds[2].days"'))
    assert "sweep.axes[0].key: the base scenario has no such entry (got 'schedule.holds[2].days')" in err
    err = _error(tmp_path, capsys, sweep_text().replace('"schedule.holds[0].days"', '"treatment.days"'))
    assert "sweep.axes[0].key: the base scenario has no such key (got 'treatment.days')" in err


@pytest.mark.parametrize("name", ["cl", "trough", "subject", "chunk_done"])
def test_axis_named_like_a_result_variable_is_refused(tmp_path, capsys, name):
    err = _error(tmp_path, capsys, sweep_text().replace('name = "hold_length"', f'name = "{name}"'))
    assert "sweep.axes[0].name: this name is already a variable or dimension of the results" in err
    assert f"(got '{name}';" in err


def test_zipped_axes_of_different_lengths_are_refused(tmp_path, capsys):
    text = sweep_text(extra='zip = [["hold_length", "restart_dose"]]').replace('"300 mg"]', '"300 mg", "400 mg"]')
    err = _error(tmp_path, capsys, text)
    assert "sweep.zip[0]: zipped axes need the same number of values (got {'hold_length': 2, 'restart_dose': 3})" in err


@pytest.mark.parametrize(
    ("old", "new", "pair"),
    [
        ('["200 mg", "300 mg"]', '["200 mg", "300 mg", "0.2 g"]', "'200 mg' and '0.2 g' are the same restart_dose"),
        ("values = [3, 7]", "values = [3, 7, 3.0]", "3 and 3.0 are the same hold_length"),
        ("values = [3, 7]", "values = [3, 7, 3]", None),
    ],
)
def test_one_value_in_two_spellings_is_refused(tmp_path, capsys, old, new, pair):
    err = _error(tmp_path, capsys, sweep_text().replace(old, new))
    axis = 1 if "mg" in old else 0
    if pair is None:
        assert f"sweep.axes[{axis}].values: a value appears twice (got [3, 7, 3])" in err, err
    else:
        values = new.strip("[]").replace('"', "'").replace("values = ", "").strip("[]")
        assert err.rstrip().endswith(
            f"sweep.axes[{axis}].values: {pair}: the results would have two equal coordinates "
            f"(got [{values}]; expected each value once)"
        ), err


def test_two_axes_on_the_same_key_are_refused(tmp_path, capsys):
    err = _error(tmp_path, capsys, sweep_text().replace('"schedule.holds[0].days"', '"schedule.holds[0].restart[0].dose"'))
    assert "sweep.axes[1].key: two axes sweep the same key (got 'schedule.holds[0].restart[0].dose')" in err


def test_zipped_axes_and_a_base_file(tmp_path):
    write(tmp_path / "base.toml", SCENARIO.format(n=12, days=30, hold=5, restart="200 mg"))
    label = '\n[[sweep.axes]]\nname = "restart_label"\nkey = "schedule.holds[0].label"\nvalues = ["low", "mid"]\n'
    text = f'[sweep]\nbase = "base.toml"\nsubjects_per_chunk = 5\nzip = [["restart_dose", "restart_label"]]\n{DOSE_AXIS}{label}'
    sweep = load_sweep(write(tmp_path / "sweep.toml", text))
    assert sweep.dims == ("restart_dose",) and sweep.shape == (2,)
    run_sweep(sweep, tmp_path / "out.zarr", workers=1, progress=False)
    rows = summary_table(open_sweep(tmp_path / "out.zarr"))
    assert [(r["restart_dose"], r["restart_label"]) for r in rows] == [(200.0, "low"), (300.0, "mid")]


def test_shipped_sweep_loads():
    sweep = load_sweep(ROOT / "scenarios" / "sweep-hold-and-restart.toml")
    assert sweep.dims == ("hold_length", "restart_dose", "parameter_set")
    assert sweep.shape == (12, 3, 2)


# -- 5. an existing dask.distributed scheduler -------------------------------------------------------


def test_scheduler_address_of_a_local_cluster(sweep_file, store, tmp_path):
    from distributed import LocalCluster

    before = set(threading.enumerate())
    out = tmp_path / "distributed.zarr"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        result = run_sweep(sweep_file, out, scheduler=cluster.scheduler_address, progress=False)
    assert result["computed"] == 20
    assert_same_arrays(store, out)

    def left():  # distributed's process-wide offload pool (one idle thread, closed at exit) is not ours
        return [t.name for t in threading.enumerate() if t not in before and not t.name.startswith("Dask-Offload")]

    deadline = time.monotonic() + 10
    while left() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left() == []


# -- 6. imapk summarize --------------------------------------------------------------------------------


def test_summarize_prints_the_table_and_writes_the_csv(store, tmp_path, capsys):
    folder = tmp_path / "tables"
    folder.mkdir()
    table = folder / "summary.csv"
    assert main(["summarize", str(store), "--csv", str(table)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == [
        "hold_length", "restart_dose", "threshold", "threshold_kind", "last_day", "pta_last_dose",
        "trough_above_ceiling_last_dose", "median_trough_last_dose", "mean_time_below_days", "mean_time_above_days",
    ]
    assert len(lines) == 1 + 4 + 2 and lines[-1] == f"Table written to {table}"
    assert sorted(p.name for p in folder.iterdir()) == ["summary.csv"]  # written atomically: no temporary left
    with table.open(newline="") as handle:
        header = next(csv.reader(handle))
    # every header cell names its unit (the swept axes' from the store, the computed columns' own)
    assert header == [
        "hold_length [d]", "restart_dose [mg]", "threshold", "threshold_kind", "last_day [clinical day]",
        "pta_last_dose [fraction]", "trough_above_ceiling_last_dose [fraction]", "median_trough_last_dose [ng/mL]",
        "mean_time_below_days [d]", "mean_time_above_days [d]",
    ]
    with table.open(newline="") as handle:
        rows = [{key.split(" [")[0]: value for key, value in row.items()} for row in csv.DictReader(handle)]
    expected = summary_table(open_sweep(store))
    assert len(rows) == len(expected) == 4
    for row, want in zip(rows, expected):
        assert row["threshold"] == "gist" and int(row["last_day"]) == want["last_day"] == 40
        assert row["threshold_kind"] == "trough_target" and row["trough_above_ceiling_last_dose"] == "nan"
        assert float(row["pta_last_dose"]) == want["pta_last_dose"]
        assert float(row["median_trough_last_dose"]) == want["median_trough_last_dose"]
        assert float(row["hold_length"]) == want["hold_length"]


def test_summarize_csv_with_the_old_bare_names_warns(store, tmp_path, capsys):
    table = tmp_path / "summary.csv"
    assert main(["summarize", str(store), "--csv", str(table), "--csv-header", "names"]) == 0
    assert "--csv-header names is deprecated" in capsys.readouterr().err
    with table.open(newline="") as handle:
        header = next(csv.reader(handle))
    assert header == list(summary_table(open_sweep(store))[0])


def test_summarize_refuses_an_unfinished_store(sweep_file, tmp_path, capsys, monkeypatch):
    import imapk.sweep

    out = tmp_path / "out.zarr"
    run_chunk = imapk.sweep._run_chunk
    calls = []

    def interrupted(*args):
        calls.append(args)
        if len(calls) == 3:
            raise RuntimeError("interrupted")
        return run_chunk(*args)

    monkeypatch.setattr(imapk.sweep, "_run_chunk", interrupted)
    with pytest.raises(RuntimeError, match="interrupted"):
        run_sweep(sweep_file, out, workers=1, progress=False)
    assert main(["summarize", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"imapk: error: {out}: this sweep store is unfinished (interrupted, or still running) "
        f"(expected rerun the same `imapk sweep SWEEP.toml -o {out}` to resume it)\n"
    )
    monkeypatch.setattr(imapk.sweep, "_run_chunk", run_chunk)
    assert run_sweep(sweep_file, out, workers=2, progress=False)["skipped"] == 2


def test_summaries_follow_the_kind_of_each_threshold(tmp_path):
    """A trough target, a trough ceiling and a concentration ceiling in one sweep: attainment for the
    target, exceedance of the trough ceiling, time above for all; checked against the stored troughs."""
    from imapk.plot import plot_sweep

    thresholds = (
        'thresholds = ["gist"]\n'
        '[[verdict.custom]]\nname = "tc"\nvalue = "700 ng/mL"\nkind = "trough_ceiling"\n'
        '[[verdict.custom]]\nname = "cc"\nvalue = "1500 ng/mL"\nkind = "concentration_ceiling"\n'
    )
    path = write(tmp_path / "kinds.toml", sweep_text(n=12, chunk=12, axes=HOLD_AXIS).replace('thresholds = ["gist"]\n', thresholds))
    out = tmp_path / "kinds.zarr"
    run_sweep(path, out, workers=1, progress=False)
    ds = open_sweep(out)
    assert ds["threshold_kind"].values.tolist() == ["trough_target", "trough_ceiling", "concentration_ceiling"]
    trough = ds["trough"].values  # (hold_length, subject, dose)
    at_or_above = [(trough >= level).mean(axis=1) for level in ds["threshold_value"].values]
    np.testing.assert_array_equal(ds["target_attainment"].values[:, 0], at_or_above[0])
    assert np.isnan(ds["target_attainment"].values[:, 1:]).all()
    np.testing.assert_array_equal(ds["trough_ceiling_exceedance"].values[:, 1], at_or_above[1])
    assert np.isnan(ds["trough_ceiling_exceedance"].values[:, [0, 2]]).all()
    np.testing.assert_array_equal(ds["mean_time_above"].values, ds["time_above"].values.mean(axis=1))
    rows = summary_table(ds)
    assert [(r["threshold"], r["threshold_kind"]) for r in rows[:3]] == [
        ("gist", "trough_target"), ("tc", "trough_ceiling"), ("cc", "concentration_ceiling"),
    ]
    last = int(np.flatnonzero(ds["dose_status"].values[0] >= 0)[-1])
    gist, tc, cc = rows[:3]
    assert gist["pta_last_dose"] == at_or_above[0][0, last] and np.isnan(gist["trough_above_ceiling_last_dose"])
    assert tc["trough_above_ceiling_last_dose"] == at_or_above[1][0, last] and np.isnan(tc["pta_last_dose"])
    assert cc["mean_time_above_days"] == float(ds["time_above"].values[0, :, 2].mean()) / 24
    # Maps: the default shows each kind's wrong side; an attainment of a ceiling is refused.
    ax = plot_sweep(ds, "hold_length", threshold="tc")
    assert ax.figure.axes[1].get_ylabel() == "subjects with trough above the trough ceiling [%]"
    ax = plot_sweep(ds, "hold_length", threshold="cc")
    assert ax.figure.axes[1].get_ylabel() == "mean time above threshold [d]"
    with pytest.raises(imapk.ImapkError, match="tc is a trough ceiling: target_attainment is for a trough target"):
        plot_sweep(ds, "hold_length", threshold="tc", variable="target_attainment")
    import matplotlib.pyplot as plt

    plt.close("all")


# -- 7. common random numbers ---------------------------------------------------------------------------


def test_store_records_its_provenance(store):
    """A sweep store carries what it needs to be rerun: both texts, versions, and each parameter set's citation."""
    import json

    import zarr

    from imapk.models import get_model

    attrs = dict(zarr.open_group(str(store), mode="r").attrs)
    assert attrs["sweep"].startswith("[sweep]") and "[scenario]" in attrs["scenario"]
    assert "numpy" in attrs["versions"] and "numba" in attrs["versions"]
    sets = json.loads(attrs["parameter_sets"])
    assert sets and all(citation == get_model(name).citation for name, citation in sets.items())


def test_same_subject_in_every_cell(store):
    trough = open_sweep(store)["trough"].values  # (hold, restart, subject, dose)
    before = slice(0, HOLD_START_DAY - 1)  # doses of days 1-9, before the hold
    for i in range(2):
        np.testing.assert_array_equal(trough[i, 0, :, before], trough[i, 1, :, before])
        np.testing.assert_array_equal(trough[0, i, :, before], trough[1, i, :, before])
    assert len(np.unique(trough[0, 0, :, before.stop - 1])) == trough.shape[2]  # the subjects differ
    # During the 7-day restart step (after a 3-day hold: days 13-19) 300 mg gives higher troughs.
    restart = slice(HOLD_START_DAY + 3, HOLD_START_DAY + 3 + 6)
    assert (trough[0, 1, :, restart] > trough[0, 0, :, restart]).all()


def test_labels_ending_in_a_unit_word_stay_labels():
    """A string axis whose values end in a unit word ("rash d") was read as times and refused; a quantity
    is a number then a unit."""
    from imapk.sweep import _coordinate

    labels, units = _coordinate(["rash d", "rash h"], None, "s.toml", "sweep.axes[0].values")
    assert labels.dtype.kind == "U" and labels.tolist() == ["rash d", "rash h"] and units is None
    doses, units = _coordinate(["200 mg", "0.3 g"], None, "s.toml", "sweep.axes[0].values")
    assert doses.tolist() == [200.0, 300.0] and units == "mg"
