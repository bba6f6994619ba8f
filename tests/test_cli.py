"""The command line: exit codes, one-line errors, outputs."""

import json
import subprocess
import sys

import numpy as np
import pytest

from imapk.cli import main


def test_run__case_report_text(case_report_path, capsys):
    assert main(["run", str(case_report_path)]) == 0
    out = capsys.readouterr().out
    # Widmer 2006 typical values: the 400 mg/d trough (about 732 ng/mL) never reaches 1100 ng/mL.
    assert "NOT MET: no trough in the window reaches 1100 ng/mL (highest 732 ng/mL)" in out
    assert "365 scheduled doses over 365 days: 351 given, 14 held, 0 missed" in out
    assert "after grade 3 rash (days 29-42): never back above target" in out


def test_run__json_is_machine_readable(case_report_path, capsys):
    assert main(["run", str(case_report_path), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    gist = next(t for t in summary["thresholds"] if t["name"] == "gist")
    assert gist["value_ng_per_ml"] == 1100
    assert gist["troughs_in_window"] == 337  # days 29..365
    assert gist["troughs_below"]["value"] == 337
    assert gist["recovery_after_holds"][0]["first_day_back_above"]["value"] is None  # NaN -> null
    assert summary["schedule"] == {"scheduled_doses": 365, "given": 351, "held": 14, "missed": 0, "days": 365.0}


def test_run__writes_netcdf(case_report_path, tmp_path, capsys):
    out = tmp_path / "result.nc"
    assert main(["run", str(case_report_path), "-o", str(out)]) == 0
    import imapk

    ds = imapk.read_netcdf(out)
    assert ds.sizes["dose"] == 365
    assert ds["trough"].attrs["units"] == "ng/mL"
    assert "widmer2006" == ds.attrs["parameter_set"]
    assert "Widmer N" in ds.attrs["parameter_set_citation"]
    assert ds.attrs["scenario"] == case_report_path.read_text()
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind


def test_run__missing_file_is_one_line_exit_2(tmp_path, capsys):
    missing = tmp_path / "nope.toml"
    assert main(["run", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err == f"imapk: error: {missing}: no such scenario file\n"


def test_run__bad_output_name(case_report_path, capsys):
    assert main(["run", str(case_report_path), "-o", "result.csv"]) == 2
    err = capsys.readouterr().err
    assert err == "imapk: error: -o/--output: output file must be NetCDF (got 'result.csv'; expected a name ending in .nc)\n"


def test_run__output_folder_missing(case_report_path, tmp_path, capsys):
    target = tmp_path / "no" / "such" / "dir" / "out.nc"
    assert main(["run", str(case_report_path), "-o", str(target)]) == 2
    assert "the output folder does not exist" in capsys.readouterr().err


def test_validate__ok(case_report_path, capsys):
    assert main(["validate", str(case_report_path)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "365 scheduled doses" in out and "14 held" in out


def test_validate__error_names_file_and_key(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[scenario]\ntitle = "x"\n[model]\nparameter_set = "widmer2006"\n'
        '[[schedule.phases]]\ndose = "-400 mg"\ndays = 10\n'
    )
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"imapk: error: {bad}: schedule.phases[0].dose: dose must not be negative")
    assert err.count("\n") == 1


def test_params__table_and_one(capsys):
    assert main(["params"]) == 0
    out = capsys.readouterr().out
    assert "widmer2006" in out and "doi:10.1111/j.1365-2125.2006.02719.x" in out
    assert main(["params", "widmer2006"]) == 0
    out = capsys.readouterr().out
    assert "14.3" in out and "347" in out and "0.609" in out


def test_params__unknown_name(capsys):
    assert main(["params", "nosuch"]) == 2
    assert "unknown parameter set (got 'nosuch'; expected one of" in capsys.readouterr().err


def test_internal_error__exit_1_without_traceback(monkeypatch, case_report_path, capsys):
    import imapk.scenario

    def boom(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(imapk.scenario, "run_scenario", boom)
    assert main(["run", str(case_report_path)]) == 1
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: kaboom" in err and "Traceback" not in err


def test_help__imports_no_numba_or_xarray():
    code = (
        "import sys\n"
        "from imapk.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('numba', 'xarray', 'scipy', 'matplotlib') if m in sys.modules]\n"
        "print('HEAVY:' + ','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "HEAVY:"


def test_import__is_light():
    code = "import sys, imapk; print(','.join(m for m in ('numba', 'xarray', 'numpy') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


@pytest.mark.parametrize("argv", [["run"], ["frobnicate"]])
def test_usage_errors__exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_run__plot(case_report_path, tmp_path, capsys):
    target = tmp_path / "case.png"
    assert main(["run", str(case_report_path), "--plot", str(target)]) == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case.png"]


def test_run__plot_bad_suffix(case_report_path, capsys):
    assert main(["run", str(case_report_path), "--plot", "case.jpg"]) == 2
    assert "plot file must be PNG, PDF or SVG" in capsys.readouterr().err


def test_run__population_prints_percentiles_and_attainment(capsys):
    from conftest import SCENARIOS

    assert main(["run", str(SCENARIOS / "gist-rash-case-report-population.toml")]) == 0
    out = capsys.readouterr().out
    assert "Population: 1000 subjects" in out
    assert "day 29: before the hold (400 mg once daily)" in out and "day 43: end of the hold" in out
    assert "PTA gist" in out


def test_run__model_comparison_json(capsys):
    from conftest import SCENARIOS

    assert main(["run", str(SCENARIOS / "model-comparison.toml"), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    names = [m["model"] for m in summary["models"]]
    assert "widmer2006" in names and "schmidli2005" in names
    widmer = summary["models"][names.index("widmer2006")]
    before_hold = next(row for row in widmer["key_dose_values"] if row["day"] == 201)
    assert round(before_hold["value"]) == 732  # Widmer typical steady-state trough (literature notes: 732 ng/mL)


def test_validate__sweep_file(capsys):
    from conftest import SCENARIOS

    assert main(["validate", str(SCENARIOS / "sweep-hold-and-restart.toml")]) == 0
    out = capsys.readouterr().out
    assert "OK: sweep of 72 cells (hold_length 12 x restart_dose 3 x parameter_set 2), every cell validated" in out


def test_compare__hold_against_continuous(tmp_path, capsys):
    base = (
        '[scenario]\ntitle = "{title}"\nseed = 3\n[model]\nparameter_set = "widmer2006"\n[population]\nsize = 30\n'
        '[[schedule.phases]]\ndose = "400 mg"\ndays = 60\n{hold}[verdict]\nthresholds = ["gist"]\n[output]\ndense = false\n'
    )
    reference = tmp_path / "continuous.toml"
    reference.write_text(base.format(title="continuous", hold=""))
    alternative = tmp_path / "hold.toml"
    alternative.write_text(base.format(title="hold", hold="[[schedule.holds]]\nstart_day = 29\ndays = 7\n"))
    assert main(["compare", str(reference), str(alternative)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Reference: continuous (30 subjects;")
    assert "hold" in out and "time_below [d]" in out
    assert main(["compare", str(reference), str(alternative), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    row = next(r for r in summary["rows"] if r["metric"] == "time_below")
    assert row["difference_p05"] >= 0  # a hold never shortens the time below target (superposition)


def test_plan__custom_and_generated_ladders(capsys):
    from conftest import SCENARIOS

    code = main([
        "plan", str(SCENARIOS / "gist-rash-case-report.toml"), "--ladder", "300x7,400x7", "--generate-ladders",
        "--format", "json",
    ])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    names = [row["ladder"] for row in report["ladders"]["rows"]]
    assert len(names) >= 3 and any("300 mg x 7 d" in n for n in names)
    assert any(row["pareto"] for row in report["ladders"]["rows"])


def test_plan__bad_ladder(capsys):
    from conftest import SCENARIOS

    assert main(["plan", str(SCENARIOS / "gist-rash-case-report.toml"), "--ladder", "200mg7"]) == 2
    assert "--ladder: cannot read this ladder step (got '200mg7'; expected dose mg x days, e.g. '200x7')" in capsys.readouterr().err


def test_rerun__reproduces_a_population_result_bit_for_bit(tmp_path, capsys):
    """The record in a result (scenario text, covariate file content, method) is enough to rerun it."""
    (tmp_path / "patients.csv").write_text("weight [kg],age [y],sex,disease\n70,50,male,GIST\n85,62,female,GIST\n")
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        '[scenario]\ntitle = "r"\nseed = 4\n[model]\nparameter_set = "widmer2006_covariates"\n[population]\n'
        'covariates_file = "patients.csv"\nresidual_error = true\n[[schedule.phases]]\ndose = "400 mg"\ndays = 40\n'
        '[verdict]\nthresholds = ["gist"]\n'
    )
    first = tmp_path / "first.nc"
    assert main(["run", str(scenario), "-o", str(first)]) == 0
    (tmp_path / "patients.csv").unlink()  # the rerun must not need the original files
    scenario.unlink()
    second = tmp_path / "second.nc"
    assert main(["rerun", str(first), "-o", str(second)]) == 0
    assert "identical bit for bit" in capsys.readouterr().out
    import imapk

    a, b = imapk.read_netcdf(first), imapk.read_netcdf(second)
    for name in ("trough", "trough_observed", "concentration", "cl", "v", "weight", "time_below"):
        np.testing.assert_array_equal(a[name].values, b[name].values)
    assert "numpy" in a.attrs["versions"] and "numba" in a.attrs["versions"]
    from imapk.models import get_model

    record = json.loads(a.attrs["parameter_set_record"])
    model = get_model("widmer2006_covariates")
    assert record["citation"] == model.citation and record["omega"] == [list(row) for row in model.omega]
    assert json.loads(a.attrs["command_line_overrides"]) == {}


def test_rerun__applies_a_recorded_command_line_override(tmp_path, capsys):
    """`imapk run --method ode` is recorded, and the rerun uses the ODE path again (not the file's exact)."""
    from conftest import SCENARIOS

    first = tmp_path / "first.nc"
    assert main(["run", str(SCENARIOS / "gist-continuous-400.toml"), "--method", "ode", "-o", str(first)]) == 0
    second = tmp_path / "second.nc"
    assert main(["rerun", str(first), "-o", str(second)]) == 0
    capsys.readouterr()
    import imapk

    a, b = imapk.read_netcdf(first), imapk.read_netcdf(second)
    assert json.loads(a.attrs["command_line_overrides"]) == {"method": "ode"}
    assert a.attrs["method"] == b.attrs["method"] == "ode"
    np.testing.assert_array_equal(a["trough"].values, b["trough"].values)
