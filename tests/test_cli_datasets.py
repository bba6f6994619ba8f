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
        (["run", "scenarios/case-report-data.csv", "--model", "widmer2006", "--plot", "x.png"], "--plot: applies to scenarios"),
        (["run", "scenarios/case-report-data.csv", "--model", "widmer2006", "-o", "x.txt"], "-o/--output: output file must be NetCDF"),
        (["run", CASE, "--units", "weight=kg"], "--units: declares the covariate units of a data set"),
        (["run", CASE, "--time-variation", "none"], "--time-variation: applies to data sets"),
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


def test_a_model_with_time_on_therapy_factors_needs_the_choice_made(tmp_path, capsys):
    """eechoute2012 (two compartments, five transit compartments, ka and F changing with time on
    therapy) is refused by default; with --time-variation none it runs, and its predictions are those
    of the Python API with the same choice."""
    from imapk.dataset_simulation import simulate_dataset
    from imapk.datasets import read_dataset

    with open("scenarios/case-report-data.csv", newline="") as stream:
        lines = [line for line in stream.read().splitlines() if not line.startswith("#")]
    data = tmp_path / "with-liver.csv"  # the model's covariate: volume of liver metastases
    data.write_text("\n".join([lines[0] + ",liver_metastases [cm^3]"] + [line + ",0" for line in lines[1:]]) + "\n")
    data = str(data)
    assert main(["run", data, "--model", "eechoute2012"]) == 2
    assert "time" in capsys.readouterr().err
    out = tmp_path / "pred.csv"
    assert main(["run", data, "--model", "eechoute2012", "--time-variation", "none", "--csv", str(out)]) == 0
    with open(out, newline="") as stream:
        predicted = [float(r["PRED [ng/mL]"]) for r in csv.DictReader(stream)]
    expected = simulate_dataset(read_dataset(data), "eechoute2012", time_variation="none").prediction
    np.testing.assert_array_equal(predicted, expected)


def test_tdm__the_planners_questions_from_the_posterior(capsys):
    assert main(["tdm", "scenarios/case-report-data.csv", "--model", "widmer2006", "--hold", "7", "--ladder", "200,300",
                 "--format", "json"]) == 0
    patient = json.loads(capsys.readouterr().out)["patients"][0]
    assert "posterior_plan" in patient
    assert main(["tdm", "scenarios/case-report-data.csv", "--model", "widmer2006", "--hold", "7",
                 "--ladder", "200,abc"]) == 2
    assert "--ladder" in capsys.readouterr().err
