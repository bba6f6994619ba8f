"""`imapk export` and `imapk run DATA.csv --model NAME`: a scenario goes out as a NONMEM-style data set
and comes back with the same troughs; wrong combinations are one-line errors, with nothing written."""

import csv
import json

import numpy as np
import pytest

from imapk.cli import main

CASE = "scenarios/gist-rash-case-report.toml"


def test_export_then_run__the_troughs_of_the_scenario(tmp_path, capsys):
    from imapk.scenario import run_scenario

    data = tmp_path / "case.csv"
    assert main(["export", CASE, "-o", str(data)]) == 0
    predictions = tmp_path / "pred.csv"
    assert main(["run", str(data), "--model", "widmer2006", "--csv", str(predictions), "--format", "json"]) == 0
    observations = json.loads(capsys.readouterr().out.split("\n", 1)[1])["observations"]
    with open(predictions, newline="") as stream:
        rows = list(csv.DictReader(stream))
    predicted = np.array([float(r["PRED [ng/mL]"]) for r in rows])
    assert predicted.tolist() == [o["PRED [ng/mL]"] for o in observations]
    # The export puts an observation at every scheduled dose time, before the dose: the troughs.
    troughs = run_scenario(CASE, as_dataset=False)["trough"].values[0]
    np.testing.assert_allclose(predicted, troughs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "scenarios/case-report-data.csv"], "--model: a data set is simulated with a shipped parameter set"),
        (["run", "scenarios/case-report-data.csv", "--model", "widmer2006", "-o", "x.nc"], "-o/--output: applies to scenarios"),
        (["run", CASE, "--units", "weight=kg"], "--units: declares the covariate units of a data set"),
        (["export", CASE, "-o", "x.txt"], "-o/--output: data set file must be CSV"),
    ],
)
def test_data_set_options_refused_clearly(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1]
    argv = [str(root / a) if a.startswith("scenarios/") else a for a in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_tdm__a_fit_and_a_next_step_per_patient(capsys):
    """The case-report data set: two measured levels during the ladder, above the typical prediction,
    give a CL below the typical 14.3 L/h, and each candidate dose's probability of reaching the target
    rises with the dose."""
    assert main(["tdm", "scenarios/case-report-data.csv", "--model", "widmer2006", "--format", "json"]) == 0
    patient = json.loads(capsys.readouterr().out)["patients"][0]
    assert patient["parameters"]["cl"] < patient["typical"]["cl"]
    candidates = patient["plan"]["candidates"]
    probabilities = [row["p_target"] for row in candidates]
    assert probabilities == sorted(probabilities) and probabilities[0] < 0.01 and probabilities[-1] > 0.99
    # Linear PK: the steady-state trough is proportional to the dose.
    assert candidates[-1]["steady_state_median"] == pytest.approx(8 * candidates[0]["steady_state_median"], rel=1e-9)


def test_tdm__unknown_patient_is_one_line(capsys):
    assert main(["tdm", "scenarios/case-report-data.csv", "--model", "widmer2006", "--id", "nobody"]) == 2
    assert "--id: no patient with this ID in the data set (got 'nobody'" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["run", "tdm"])
def test_a_scenario_or_a_result_given_as_a_data_set_is_named_as_such(tmp_path, capsys, command):
    result = tmp_path / "r.nc"
    assert main(["run", CASE, "-o", str(result)]) == 0
    capsys.readouterr()
    assert main([command, CASE, "--model", "widmer2006"]) == 2
    assert f"{CASE}: this is a scenario file, not a data set (expected a NONMEM-style data set (CSV); `imapk run {CASE}`" in capsys.readouterr().err
    assert main([command, str(result), "--model", "widmer2006"]) == 2
    assert f"{result}: this is a result file (NetCDF), not a data set (expected a NONMEM-style data set (CSV); `imapk rerun" in capsys.readouterr().err
