"""Sweeps over scenarios that draw doses at random: what the processes did in each cell.

The reference for every stored count and summary column is :func:`imapk.run_scenario` of the cell's
own scenario (the base text with the swept values written in), counted from its per-subject
outputs; counts are integers and the columns means, fractions and quantiles of the same integers,
so the comparisons are exact.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

import imapk
import imapk.sweep
from imapk.cli import main
from imapk.sweep import (CHECKSUM_METHOD, CHECKSUM_METHOD_PROCESSES, PROCESS_VARIABLES, SweepError, open_sweep,
                         run_sweep, summary_table, summary_units)
from test_sweep import arrays, assert_same_arrays, sweep_text, write

N, DAYS, CHUNK = 40, 45, 15  # 4 cells x 3 blocks of subjects (the last: subjects 30-39)

#: Markov misses, a rash with holds, a 300 mg restart step and discontinuation, day-29 TDM.
SCENARIO = """
[scenario]
title = "sweep over dosing processes"
seed = 11

[model]
parameter_set = "widmer2006_covariates"

[population]
size = {n}
residual_error = true

[population.covariates]
weight = "70 kg"
age = "55 y"
sex = "male"
disease = "GIST"

[[schedule.phases]]
label = "400 mg once daily"
dose = "400 mg"
days = {days}

[adherence]
model = "markov"
p_remain_adherent = 0.9
p_become_adherent = 0.5

[[toxicity]]
label = "rash"
first = {{ scale = "40 d", shape = 1.0 }}
recurrence = {{ scale = "15 d" }}
hold = {{ days = 5 }}
restart = [ {{ dose = "300 mg", days = 7 }} ]
discontinue_after = {discontinue}

[[policy]]
kind = "trough_escalation"
day = 29
below = "{below}"
dose = "600 mg"

[verdict]
thresholds = ["gist"]
"""

AXES = """
[[sweep.axes]]
name = "discontinue_after"
key = "toxicity[0].discontinue_after"
values = [1, 3]

[[sweep.axes]]
name = "tdm_level"
key = "policy[0].below"
values = ["700 ng/mL", "1100 ng/mL"]
"""
DISCONTINUE = (1, 3)
LEVELS = ("700 ng/mL", "1100 ng/mL")


def process_sweep_text(chunk=CHUNK) -> str:
    return f"[sweep]\nsubjects_per_chunk = {chunk}\n{AXES}\n" + SCENARIO.format(
        n=N, days=DAYS, discontinue=3, below="1100 ng/mL"
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("processes")
    out = folder / "out.zarr"
    result = run_sweep(write(folder / "sweep.toml", process_sweep_text()), out, workers=2, progress=False)
    assert result == {"chunks": 12, "computed": 12, "skipped": 0, "complete": True}
    return out


@pytest.fixture(scope="module")
def singles(tmp_path_factory) -> dict:
    """run_scenario of every cell's own scenario, by cell index."""
    folder = tmp_path_factory.mktemp("cells")
    runs = {}
    for i, discontinue in enumerate(DISCONTINUE):
        for j, below in enumerate(LEVELS):
            text = SCENARIO.format(n=N, days=DAYS, discontinue=discontinue, below=below)
            runs[i, j] = imapk.run_scenario(write(folder / f"cell-{i}-{j}.toml", text), dense=False)
    return runs


def counts(single) -> dict[str, np.ndarray]:
    """The per-patient outcomes of one run, from its own per-subject variables."""
    status = single["subject_dose_status"].values
    return {
        "held_dose_count": (status == 1).sum(axis=1),
        "missed_dose_count": (status == 2).sum(axis=1),
        "toxicity_event_count": single["toxicity_event_count"].values,
        "toxicity_discontinued": single["toxicity_discontinued"].values.astype(int),
        "tdm_escalated": single["tdm_escalated"].values.astype(int),
    }


def test_each_cell_stores_the_counts_of_a_single_run_of_its_scenario(reference, singles):
    ds = open_sweep(reference)
    assert ds.attrs["chunk_checksums"] == CHECKSUM_METHOD_PROCESSES
    for name in PROCESS_VARIABLES:
        assert ds[name].dims == ("discontinue_after", "tdm_level", "subject"), name
        assert ds[name].attrs["long_name"], name
    assert ds["held_dose_count"].dtype == np.int32 and ds["tdm_escalated"].dtype == np.int8
    spread = set()
    for (i, j), single in singles.items():
        cell = ds.isel(discontinue_after=i, tdm_level=j)
        np.testing.assert_array_equal(cell["trough"].values[:, :DAYS], single["trough"].values)
        for name, expected in counts(single).items():
            np.testing.assert_array_equal(cell[name].values, expected, err_msg=name)
        want = counts(single)
        # every scheduled dose is given, held or missed
        given = (single["subject_dose_status"].values == 0).sum(axis=1)
        np.testing.assert_array_equal(given + want["held_dose_count"] + want["missed_dose_count"], np.full(N, DAYS))
        spread.add(tuple(float(v.mean()) for v in want.values()))
    # The scenario is chosen so that the cells differ and no fraction is 0 or 1 (a test that could fail).
    assert len(spread) == 4
    means = np.array(sorted(spread))
    assert (means[:, 2:] > 0).all() and (means[:, 3:] < 1).all()


def test_summary_columns_equal_the_single_runs(reference, singles):
    ds = open_sweep(reference, dask=False)
    rows = summary_table(ds)
    assert len(rows) == 4
    assert list(rows[0])[-7:] == [
        "mean_held_doses", "p05_held_doses", "p95_held_doses", "mean_missed_doses", "fraction_toxicity_event",
        "fraction_discontinued", "fraction_escalated",
    ]
    units = summary_units(ds, rows)
    assert units["mean_held_doses"] == units["p95_held_doses"] == units["mean_missed_doses"] == "doses per patient"
    assert units["fraction_discontinued"] == units["fraction_escalated"] == "fraction"
    for row in rows:
        i = DISCONTINUE.index(int(row["discontinue_after"]))
        j = [700.0, 1100.0].index(row["tdm_level"])
        want = counts(singles[i, j])
        held = want["held_dose_count"]
        assert row["mean_held_doses"] == held.mean()
        assert [row["p05_held_doses"], row["p95_held_doses"]] == np.quantile(held, [0.05, 0.95]).tolist()
        assert row["mean_missed_doses"] == want["missed_dose_count"].mean()
        assert row["fraction_toxicity_event"] == (want["toxicity_event_count"] >= 1).mean()
        assert row["fraction_discontinued"] == want["toxicity_discontinued"].mean()
        assert row["fraction_escalated"] == want["tdm_escalated"].mean()
    # Discontinuing at the first event holds every later dose: more held doses than after the third.
    by_cell = {(r["discontinue_after"], r["tdm_level"]): r for r in rows}
    for level in (700.0, 1100.0):
        assert by_cell[1.0, level]["fraction_discontinued"] == by_cell[1.0, level]["fraction_toxicity_event"]
        assert by_cell[1.0, level]["fraction_discontinued"] > by_cell[3.0, level]["fraction_discontinued"]
    # A higher TDM level escalates more of the same patients (the same measurements).
    for stop in (1.0, 3.0):
        assert by_cell[stop, 700.0]["fraction_escalated"] < by_cell[stop, 1100.0]["fraction_escalated"]


def test_summary_columns_read_cell_by_cell_for_large_stores(reference, monkeypatch):
    """Counts larger than a summary block are read one cell at a time: the same columns."""
    whole = summary_table(open_sweep(reference, dask=False))
    monkeypatch.setattr(imapk.sweep, "SUMMARY_BLOCK_BYTES", 8)
    by_cell = summary_table(open_sweep(reference, dask=False))
    columns = ["mean_held_doses", "p05_held_doses", "p95_held_doses", "mean_missed_doses", "fraction_toxicity_event",
               "fraction_discontinued", "fraction_escalated"]
    assert [[row[c] for c in columns] for row in by_cell] == [[row[c] for c in columns] for row in whole]


def test_summarize_csv_names_the_units_of_the_new_columns(reference, tmp_path, capsys):
    table = tmp_path / "summary.csv"
    assert main(["summarize", str(reference), "--csv", str(table)]) == 0
    assert "mean_held_doses" in capsys.readouterr().out.splitlines()[0]
    with table.open(newline="") as handle:
        header = next(csv.reader(handle))
    assert header[-7:] == [
        "mean_held_doses [doses per patient]", "p05_held_doses [doses per patient]",
        "p95_held_doses [doses per patient]", "mean_missed_doses [doses per patient]",
        "fraction_toxicity_event [fraction]", "fraction_discontinued [fraction]", "fraction_escalated [fraction]",
    ]


def test_any_chunking_writes_the_same_counts(reference, tmp_path):
    out = tmp_path / "out.zarr"
    run_sweep(write(tmp_path / "sweep.toml", process_sweep_text(chunk=7)), out, workers=1, progress=False)
    assert_same_arrays(reference, out, skip=("chunk_done", "chunk_checksum"))


def _interrupted(tmp_path, monkeypatch, after=3) -> tuple[Path, Path, list]:
    from test_sweep_integrity import interrupted

    return interrupted(tmp_path, monkeypatch, after, process_sweep_text())


def test_interrupted_sweep_resumes_to_the_uninterrupted_store(tmp_path, monkeypatch, reference):
    path, out, _ = _interrupted(tmp_path, monkeypatch)
    with pytest.raises(SweepError, match="unfinished"):
        open_sweep(out)
    result = run_sweep(path, out, workers=2, progress=False)
    assert result == {"chunks": 12, "computed": 9, "skipped": 3, "complete": True}
    assert_same_arrays(reference, out)


@pytest.mark.parametrize("name", ["held_dose_count", "toxicity_discontinued"])
@pytest.mark.parametrize("damage", ["deleted", "garbage"])
def test_damaged_count_of_a_done_chunk_is_recomputed(tmp_path, monkeypatch, reference, name, damage):
    """A count's chunk file is covered by the chunk's checksum: a resume recomputes the chunk."""
    path, out, done = _interrupted(tmp_path, monkeypatch)
    # a done chunk whose counts are not all zero (a deleted file reads as zeros)
    element = next(e for e in done if arrays(out)[name][e[:-1]][e[-1] * CHUNK:(e[-1] + 1) * CHUNK].any())
    target = out / name / ".".join(map(str, element))
    assert target.exists()
    if damage == "deleted":
        target.unlink()
    else:
        target.write_bytes(b"not a zarr chunk")
    with pytest.warns(UserWarning, match=f"1 of {len(done)} chunks marked done do not match"):
        result = run_sweep(path, out, workers=2, progress=False)
    assert result["computed"] == 10 and result["skipped"] == 2
    assert_same_arrays(reference, out)


def test_readers_refuse_a_finished_store_with_a_changed_count(tmp_path, reference):
    import zarr

    out = tmp_path / "out.zarr"
    shutil.copytree(reference, out)
    counts_ = zarr.open_array(str(out / "missed_dose_count"), mode="r+")
    counts_[1, 0, 3] = counts_[1, 0, 3] + 1
    with pytest.raises(SweepError, match=r"the data of 1 chunk\(s\) do not match the store's record, first: cell "
                                         r"\(discontinue_after = 3.0, tdm_level = 700.0\), subjects 0-14"):
        open_sweep(out)


def test_a_sweep_without_processes_has_no_new_variables_or_columns(tmp_path):
    out = tmp_path / "out.zarr"
    run_sweep(write(tmp_path / "sweep.toml", sweep_text()), out, workers=2, progress=False)
    ds = open_sweep(out)
    assert not set(PROCESS_VARIABLES) & set(ds.variables)
    assert ds.attrs["chunk_checksums"] == CHECKSUM_METHOD
    assert not any("held" in c or c.startswith("fraction_") or "missed" in c for c in summary_table(ds)[0])


def test_adherence_alone_gives_held_and_missed_doses_only(tmp_path):
    """Misses alone: no toxicity or escalation variables; the schedule's written hold counts as held."""
    text = sweep_text(n=30, days=30, chunk=10).replace("[verdict]", (
        "[adherence]\nmodel = \"independent\"\np_missed = 0.2\n\n[verdict]"
    ))
    out = tmp_path / "out.zarr"
    run_sweep(write(tmp_path / "sweep.toml", text), out, workers=2, progress=False)
    ds = open_sweep(out)
    present = [name for name in PROCESS_VARIABLES if name in ds]
    assert present == ["held_dose_count", "missed_dose_count"]
    rows = summary_table(ds)
    assert [c for c in rows[0] if c.startswith("fraction_")] == []
    for row in rows:
        i = [3.0, 7.0].index(row["hold_length"])
        j = [200.0, 300.0].index(row["restart_dose"])
        held = ds["held_dose_count"].values[i, j]
        # the written hold (hold_length doses from day 10) is held for every patient; misses fall on the others
        assert (held == row["hold_length"]).all()
        assert row["mean_missed_doses"] == ds["missed_dose_count"].values[i, j].mean() > 0


@pytest.mark.parametrize("variable", ["mean_held_doses", "mean_missed_doses", "fraction_toxicity_event",
                                      "fraction_discontinued", "fraction_escalated"])
def test_sweep_map_of_a_process_outcome_shows_the_summary_column(reference, variable):
    """The map, drawn from the store read without xarray (as `imapk plot` reads it), shows each cell's
    summary_table value (fractions in %); the outcome over a whole schedule has no day."""
    from matplotlib.figure import Figure

    from imapk.io import read_zarr_view
    from imapk.plot import plot_sweep

    view = read_zarr_view(reference)
    assert view is not None  # int32 / int8 counts need no xarray decoding
    ax = plot_sweep(view, "tdm_level", "discontinue_after", variable=variable, ax=Figure())
    image = np.asarray(ax.images[0].get_array())
    factor = 100.0 if variable.startswith("fraction_") else 1.0
    for row in summary_table(open_sweep(reference)):
        i = DISCONTINUE.index(int(row["discontinue_after"]))
        j = [700.0, 1100.0].index(row["tdm_level"])
        # the mean of the same integers, scaled: equal to the last bit but for the factor's rounding
        assert image[i, j] == pytest.approx(row[variable] * factor, rel=1e-15, abs=0)
    with pytest.raises(imapk.ImapkError, match="over each patient's whole schedule, not one day"):
        plot_sweep(view, variable=variable, day=29, ax=Figure())


def test_sweep_map_of_a_process_outcome_is_refused_for_a_sweep_without_it(tmp_path):
    from matplotlib.figure import Figure

    from imapk.plot import plot_sweep

    text = sweep_text(n=10, days=20, chunk=10).replace("[verdict]", (
        "[adherence]\nmodel = \"independent\"\np_missed = 0.2\n\n[verdict]"
    ))
    out = tmp_path / "out.zarr"
    run_sweep(write(tmp_path / "sweep.toml", text), out, workers=1, progress=False)
    with pytest.raises(imapk.ImapkError) as refused:
        plot_sweep(open_sweep(out), variable="fraction_discontinued", ax=Figure())
    assert "this sweep store has no such outcome" in str(refused.value)
    assert "expected mean_held_doses, mean_missed_doses" in str(refused.value)
