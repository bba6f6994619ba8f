"""Sweep answers on the day a user asks about: `summarize --day` and `plot --kind sweep --day/--baseline`.

References come from the store's per-subject troughs (numpy), not from the summaries under test.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from imapk.cli import main
from imapk.sweep import open_sweep, run_sweep, summary_table
from test_sweep import sweep_text, write


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("answers")
    out = folder / "out.zarr"
    run_sweep(write(folder / "sweep.toml", sweep_text()), out, workers=1, progress=False)
    return out


def test_summary_on_a_day__attainment_and_median_from_the_troughs(store):
    ds = open_sweep(store)
    rows = summary_table(ds, days=(20, 35))
    trough = ds["trough"].transpose("hold_length", "restart_dose", "subject", "dose").values
    day = ds["day"].transpose("hold_length", "restart_dose", "dose").values
    level = float(ds["threshold_value"].values[0])
    for row in rows:
        i = list(ds["hold_length"].values).index(row["hold_length"])
        j = list(ds["restart_dose"].values).index(row["restart_dose"])
        for asked in (20, 35):
            dose = int(np.flatnonzero(day[i, j] == asked)[0])
            values = trough[i, j, :, dose]
            assert row[f"pta_day_{asked}"] == pytest.approx(np.mean(values >= level), abs=1e-15)
            assert row[f"median_trough_day_{asked}"] == pytest.approx(np.median(values), rel=1e-12)
    # The historical columns keep their order; the asked days come after them, the window's last.
    assert list(rows[0])[-2:] == ["mean_time_below_days", "mean_time_above_days"]
    assert list(rows[0]).index("median_trough_last_dose") < list(rows[0]).index("pta_day_20")


def test_summarize_day_csv_and_a_day_past_the_schedule(store, tmp_path, capsys):
    table = tmp_path / "s.csv"
    assert main(["summarize", str(store), "--day", "35", "--day", "400", "--csv", str(table)]) == 0
    with open(table, newline="") as stream:
        records = list(csv.DictReader(stream))
    assert "pta_day_35 [fraction]" in records[0] and "median_trough_day_400 [ng/mL]" in records[0]
    records = [{key.split(" [")[0]: value for key, value in r.items()} for r in records]
    assert all(r["pta_day_400"] == "nan" for r in records)  # no dose on day 400 in any cell: blank, not a guess
    assert all(r["pta_day_35"] != "nan" for r in records)


def test_sweep_map_against_a_baseline_cell(store, tmp_path):
    from imapk.plot import plot_sweep

    ds = open_sweep(store)
    ax = plot_sweep(ds, "hold_length", "restart_dose", variable="target_attainment", day=35,
                    baseline={"hold_length": "3"})
    image = ax.images[0].get_array()
    assert np.allclose(image[:, 0], 0.0)  # the baseline column against itself
    trough = ds["trough"].transpose("restart_dose", "hold_length", "subject", "dose").values
    day = ds["day"].transpose("restart_dose", "hold_length", "dose").values
    level = float(ds["threshold_value"].values[0])

    def pta(r, h):
        return np.mean(trough[r, h, :, int(np.flatnonzero(day[r, h] == 35)[0])] >= level) * 100

    assert image[0, 1] == pytest.approx(pta(0, 1) - pta(0, 0), abs=1e-9)
    assert "change against the cell hold_length = 3" in ax.get_title()
    assert main(["plot", str(store), "-o", str(tmp_path / "m.png"), "--day", "35", "--baseline", "hold_length=3",
                 "--variable", "target_attainment"]) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--day", "35"], "mean_time_below is over the evaluation window, not one day"),
        (["--baseline", "hold_length"], "a baseline is DIM=VALUE"),
        (["--baseline", "hold_length=99", "--variable", "target_attainment"], "no such value of hold_length"),
        (["--baseline", "threshold=1", "--variable", "target_attainment"], "the baseline names a dimension that is not mapped"),
    ],
)
def test_sweep_map_options_refused_clearly(store, tmp_path, capsys, argv, message):
    assert main(["plot", str(store), "-o", str(tmp_path / "m.png"), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m.png").exists()
