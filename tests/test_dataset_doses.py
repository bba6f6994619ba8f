"""A data set as a scenario's population: its IDs' doses on one grid (imapk.dataset_doses) run through
simulate (imapk.dataset_runner), against two independent paths: the scenario it was exported from, and
the per-ID walker of imapk.dataset_simulation."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from imapk.cli import main
from imapk.dataset_doses import DataSetGridError, lower_dataset
from imapk.dataset_runner import run_dataset
from imapk.dataset_simulation import simulate_dataset
from imapk.datasets import read_dataset, write_dataset
from imapk.models import get_model
from imapk.runner import run_scenario
from imapk.scenario import parse_scenario
from imapk.schedule import GIVEN, MISSED

ROOT = Path(__file__).resolve().parents[1]
CASE_DATA = ROOT / "scenarios" / "case-report-data.csv"
CASE = ROOT / "scenarios" / "gist-rash-case-report.toml"
HEADER = "ID,TIME,EVID,AMT,II,ADDL,SS,RATE,CMT,DV,MDV\n"

POPULATION = """
[scenario]
title = "exported population"
seed = 3

[model]
parameter_set = "widmer2006_covariates"

[population]
size = 8
iiv = false

[population.covariates]
weight = { distribution = "normal", mean = "75 kg", sd = "15 kg", low = "44 kg", high = "110 kg" }
age = { distribution = "normal", mean = "60 y", sd = "12 y", low = "20 y", high = "88 y" }
sex = { distribution = "categorical", p = { male = 0.55, female = 0.45 } }
disease = "GIST"

[[schedule.phases]]
dose = "400 mg"
days = 60

[adherence]
model = "markov"
p_remain_adherent = 0.85
p_become_adherent = 0.5

[[toxicity]]
label = "rash"
first = { scale = "25 d" }
hold = { low = "3 d", high = "9 d" }
restart = [ { dose = "200 mg", days = 7 } ]

[verdict]
thresholds = ["gist"]
"""


def test_the_case_report_data_set_gives_the_case_reports_troughs():
    """The data set is the case report written out: on one grid it gives the scenario's troughs, and the
    walker's, to 1e-12 (exact closed forms, the same sums grouped differently)."""
    ds = run_dataset(read_dataset(CASE_DATA), "widmer2006", thresholds=("gist",))
    scenario = run_scenario(CASE, dense=False)
    np.testing.assert_allclose(ds["trough"].values, scenario["trough"].values, rtol=1e-12, atol=1e-9)
    walker = simulate_dataset(read_dataset(CASE_DATA), "widmer2006")
    on_grid = np.isin(ds["dose_time"].values, walker.trough_time)
    np.testing.assert_allclose(ds["trough"].values[0, on_grid], walker.trough, rtol=1e-12, atol=1e-9)
    # the hold's 14 doses have no record: missed, "no dose record"
    status = ds["subject_dose_status"].values[0]
    assert (status == MISSED).sum() == 14 and np.all(status[28:42] == MISSED)
    assert ds["reason"].values[ds["subject_dose_reason"].values[0, 30]].startswith("no dose record")
    np.testing.assert_allclose(ds["time_below"].values, scenario["time_below"].values[:, :1], rtol=1e-12)


def test_an_exported_population_with_random_doses_comes_back_the_same(tmp_path):
    scenario = parse_scenario(textwrap.dedent(POPULATION), "p.toml")
    original = run_scenario(scenario, dense=False)
    path = write_dataset(tmp_path / "p.csv", scenario)
    ds = run_dataset(read_dataset(path), "widmer2006_covariates", thresholds=("gist",))
    assert ds["subject"].values.tolist() == [str(i) for i in range(8)]
    np.testing.assert_allclose(ds["trough"].values, original["trough"].values, rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(ds["dose_given"].values, original["dose_given"].values)
    # held and missed doses have no record: both come back "missed"
    np.testing.assert_array_equal(ds["subject_dose_status"].values == GIVEN,
                                  original["subject_dose_status"].values == GIVEN)
    np.testing.assert_array_equal(ds["trough_below_count"].values, original["trough_below_count"].values)


def write(tmp_path, rows: str) -> Path:
    path = tmp_path / "d.csv"
    path.write_text(HEADER + textwrap.dedent(rows).strip() + "\n")
    return path


@pytest.mark.parametrize("rows, problem", [
    ("1,0,1,400,24,9,0,0,1,.,1\n2,0,1,400,12,19,0,0,1,.,1", "different intervals"),
    ("1,0,1,400,24,9,0,0,1,.,1\n2,0,1,400,0,0,0,0,1,.,1\n2,25,1,400,24,8,0,0,1,.,1", "off the grid"),
    ("1,0,1,400,24,9,0,0,1,.,1\n2,0,1,400,24,5,0,0,1,.,1", "end at different times"),
    ("1,0,1,400,24,9,0,0,1,.,1\n1,240,4,400,0,0,0,0,1,.,1", "reset"),
    ("1,0,1,400,24,9,1,0,1,.,1", "steady-state"),
    ("1,0,1,400,24,9,0,0,2,.,1", "dose compartment"),
    ("1,0,1,400,24,9,0,50,1,.,1", "RATE 0"),
])
def test_ids_not_on_one_grid_are_named(tmp_path, rows, problem):
    with pytest.raises(DataSetGridError) as error:
        lower_dataset(read_dataset(write(tmp_path, rows)), get_model("widmer2006"))
    assert problem in error.value.problem and "ID " in error.value.key


def test_a_dose_off_the_grid_is_named(tmp_path):
    rows = "1,0,1,400,24,9,0,0,1,.,1\n2,0,1,400,24,4,0,0,1,.,1\n2,121,1,400,24,4,0,0,1,.,1"
    with pytest.raises(DataSetGridError) as error:
        lower_dataset(read_dataset(write(tmp_path, rows)), get_model("widmer2006"))
    assert "ID 2" in error.value.key and ("off the grid" in error.value.problem or "intervals" in error.value.problem)


def test_the_cli_gives_a_data_set_the_scenario_report_and_result_file(tmp_path, capsys):
    out = tmp_path / "r.nc"
    assert main(["run", str(CASE_DATA), "--model", "widmer2006", "--threshold", "gist", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "as a population on one grid of doses (every 24 h" in text and "[gist] trough target" in text
    import xarray as xr

    with xr.open_dataset(out) as ds:
        assert ds["trough"].dims == ("subject", "dose") and ds.attrs["data_set_source"] == "case-report-data.csv"
    assert main(["run", str(CASE_DATA), "--model", "widmer2006", "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert "observations" in record and record["population"]["subjects"] == 1


def test_the_cli_says_why_a_data_set_is_simulated_per_id_only(tmp_path, capsys):
    path = write(tmp_path, "1,0,1,400,24,9,0,0,1,.,1\n2,0,1,400,12,19,0,0,1,.,1")
    assert main(["run", str(path), "--model", "widmer2006"]) == 0
    assert "Not simulated as a population on one grid of doses" in capsys.readouterr().out
    assert main(["run", str(path), "--model", "widmer2006", "--threshold", "gist"]) == 2
    err = capsys.readouterr().err
    assert "--threshold: needs the data set's IDs on one grid" in err and "different intervals" in err


def test_an_unknown_threshold_is_named_before_any_work(capsys):
    assert main(["run", str(CASE_DATA), "--model", "widmer2006", "--threshold", "gistt"]) == 2
    captured = capsys.readouterr()
    assert "--threshold: unknown threshold (got 'gistt'" in captured.err and captured.out == ""
