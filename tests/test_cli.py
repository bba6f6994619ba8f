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
    assert "after grade 3 rash (days 29-42): " in out
    assert "never back above target before the next hold or the end" in out
    # Every number says what it counts; the toxicity alarm is judged on the troughs.
    assert "[gist] trough target: trough >= 1100 ng/mL" in out
    assert "troughs below trough target gist (1100 ng/mL): 337 of 337 in the window, i.e. 100.0 %" in out
    assert "[toxicity_alarm] trough ceiling: trough < 3000 ng/mL" in out
    assert "troughs above trough ceiling toxicity_alarm (3000 ng/mL): 0 of 337 in the window, i.e. 0.0 %" in out
    assert "MET: every trough in the window is < 3000 ng/mL (highest 732 ng/mL)" in out


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


@pytest.mark.parametrize("command", ["run", "validate", "plan", "sweep"])
def test_result_file_given_as_a_scenario_is_named_as_such(case_report_path, tmp_path, capsys, command):
    """A NetCDF result passed where a scenario belongs: one line that says what the file is and what to
    run instead (before: a UnicodeDecodeError, an internal error for validate)."""
    out = tmp_path / "result.nc"
    assert main(["run", str(case_report_path), "-o", str(out)]) == 0
    capsys.readouterr()
    args = [command, str(out)] + (["-o", str(tmp_path / "s.zarr")] if command == "sweep" else [])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err == (
        f"imapk: error: {out}: this is a result file (NetCDF), not a scenario (expected a scenario .toml; "
        f"`imapk rerun {out} -o NEW.nc` reruns the scenario it records, `imapk plot {out} -o FIG.png` draws it)\n"
    )


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


def test_params__residual_error_in_its_published_form(capsys):
    from imapk.models import get_model

    assert main(["params", "judson2005"]) == 0
    out = capsys.readouterr().out
    assert f"Residual error: {get_model('judson2005').residual.describe()}\n" in out
    assert "Residual error: proportional 34 % + additive 273 ng/mL\n" in out


def test_params__unknown_name(capsys):
    assert main(["params", "nosuch"]) == 2
    assert "unknown parameter set (got 'nosuch'; expected one of" in capsys.readouterr().err


def test_internal_error__exit_1_without_traceback(monkeypatch, case_report_path, capsys):
    import imapk.runner

    def boom(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(imapk.runner, "run_scenario", boom)
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
    # The case-report patient never reaches 1100 ng/mL: no ladder can win, and the answer says why.
    assert report["ladders"]["subjects_answered"] == 0
    assert not any(row["pareto"] for row in report["ladders"]["rows"])
    assert "dose change" in report["ladders"]["sentence"]


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


# The hand-computed case of test_simulation.py: V 400 L, half-life 24 h, ka 50 1/h, 400 mg daily for
# 10 days, troughs T_j = 1000 f (1 - 2^-j) ng/mL = 0, 500, 750, 875, 938, 969, ... (f = 1.000578).
KINDS_SCENARIO = """\
[scenario]
title = "kinds"
[model]
parameter_set = "inline"
[model.parameters]
cl = "11.552453009332421 L/h"
v = "400 L"
ka = "50 1/h"
[[schedule.phases]]
dose = "{dose}"
days = 10
[verdict]
window_start_day = 1
[[verdict.custom]]
name = "eff"
value = "800 ng/mL"
kind = "trough_target"
[[verdict.custom]]
name = "tc"
value = "900 ng/mL"
kind = "trough_ceiling"
[[verdict.custom]]
name = "cc"
value = "1800 ng/mL"
kind = "concentration_ceiling"
[output]
dense = false
"""


def test_run__verdict_of_each_kind_says_what_it_counts(tmp_path, capsys):
    path = tmp_path / "kinds.toml"
    path.write_text(KINDS_SCENARIO.format(dose="400 mg"))
    assert main(["run", str(path)]) == 0
    out = capsys.readouterr().out
    # Trough target 800: T_0, T_1, T_2 miss it.
    assert "[eff] trough target: trough >= 800 ng/mL" in out
    assert "troughs below trough target eff (800 ng/mL): 3 of 10 in the window, i.e. 30.0 %" in out
    # Trough ceiling 900: T_4..T_9 exceed it, in one run of 6.
    assert "[tc] trough ceiling: trough < 900 ng/mL" in out
    assert "  verdict: NOT MET: some troughs in the window are >= 900 ng/mL" in out
    assert "troughs above trough ceiling tc (900 ng/mL): 6 of 10 in the window, i.e. 60.0 %" in out
    assert "most consecutive troughs above 900 ng/mL:" in out
    # Concentration ceiling 1800: the peaks after doses 3..9 (1875 ... 1998 ng/mL) exceed it.
    assert "[cc] concentration ceiling: concentration < 1800 ng/mL at all times" in out
    assert "  verdict: NOT MET: the concentration reaches 1800 ng/mL" in out
    assert "time with concentration at or above 1800 ng/mL: 0.9 d of 10 d" in out  # 21.2 h, see test_simulation
    assert main(["run", str(path), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    eff, tc, cc = summary["thresholds"]
    assert (eff["kind"], tc["kind"], cc["kind"]) == ("trough_target", "trough_ceiling", "concentration_ceiling")
    assert eff["troughs_below"]["value"] == 3 and eff["met_fraction"] == 0.0
    assert tc["troughs_above"]["value"] == 6 and tc["longest_run_troughs_above"]["value"] == 6
    assert tc["wrong_side"] == "troughs_above" and tc["met_fraction"] == 0.0 and tc["recovery_after_holds"] == []
    assert cc["wrong_side"] == "time_above_days" and cc["met_fraction"] == 0.0


def test_run__old_ceiling_spelling_warns_on_one_line(tmp_path, capsys):
    path = tmp_path / "old.toml"
    path.write_text(KINDS_SCENARIO.format(dose="400 mg").replace('kind = "concentration_ceiling"', 'kind = "ceiling"'))
    code = (
        "import sys\nfrom imapk.cli import main\n"
        f"sys.exit(main(['run', {str(path)!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stderr == (
        f"imapk: warning: {path}: verdict.custom[2].kind: kind 'ceiling' is deprecated and read as "
        "'concentration_ceiling' (its old meaning); write kind = 'concentration_ceiling' to keep this meaning "
        "(every concentration, i.e. the peak, must stay below the value), or 'trough_ceiling' if the value is "
        "meant for troughs\n"
    )
    assert "[cc] concentration ceiling: concentration < 1800 ng/mL at all times" in result.stdout


def test_compare__a_ceiling_is_worse_when_its_count_rises(tmp_path, capsys):
    """1.5 times the dose: troughs 0, 750, 1126, 1313, ... The trough target 800 is missed at 2 doses instead of
    3 (better: -1), the trough ceiling 900 is exceeded at 8 doses instead of 6 (worse: +2)."""
    reference, alternative = tmp_path / "400.toml", tmp_path / "600.toml"
    reference.write_text(KINDS_SCENARIO.format(dose="400 mg"))
    alternative.write_text(KINDS_SCENARIO.format(dose="600 mg").replace('title = "kinds"', 'title = "more"'))
    assert main(["compare", str(reference), str(alternative), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    rows = {(r["threshold"], r["metric"]): r for r in summary["rows"]}
    assert set(rows) == {
        ("eff", "time_below"), ("eff", "longest_below"), ("eff", "troughs_below"),
        ("tc", "troughs_above"), ("tc", "longest_run_above"), ("cc", "time_above"), (None, "peak"),
    }
    assert rows["eff", "troughs_below"]["difference_median"] == -1 and rows["eff", "troughs_below"]["fraction_worse"] == 0
    assert rows["tc", "troughs_above"]["difference_median"] == 2 and rows["tc", "troughs_above"]["fraction_worse"] == 1
    assert rows["tc", "longest_run_above"]["difference_median"] == 2
    assert rows["cc", "time_above"]["difference_median"] > 0 and rows["cc", "time_above"]["fraction_worse"] == 1
    assert main(["compare", str(reference), str(alternative)]) == 0
    out = capsys.readouterr().out
    assert "tc (trough ceiling)" in out and "troughs_above [doses]" in out and "longest_below" in out


@pytest.mark.parametrize("name", ["../escaped.csv", "/tmp/imapk-absolute-target.csv", "sub/dir/x.csv"])
def test_rerun__a_crafted_result_chooses_no_path(tmp_path, capsys, monkeypatch, name):
    """The recorded covariate file name and scenario source are labels, never paths: a result whose
    record names '../escaped.csv' or an absolute path makes rerun write nothing outside its private
    temporary folder (before: the content was written to that path)."""
    import imapk
    from imapk.io import write_netcdf

    scenario = tmp_path / "s.toml"
    (tmp_path / "patients.csv").write_text("weight [kg],age [y],sex,disease\n70,55,male,GIST\n80,60,female,GIST\n")
    scenario.write_text(
        '[scenario]\ntitle = "t"\nseed = 1\n[model]\nparameter_set = "widmer2006_covariates"\n[population]\n'
        'covariates_file = "patients.csv"\n[[schedule.phases]]\ndose = "400 mg"\ndays = 5\n[output]\ndense = false\n'
    )
    result = tmp_path / "r.nc"
    assert main(["run", str(scenario), "-o", str(result)]) == 0
    ds = imapk.read_netcdf(result)
    ds.attrs["covariates_file_name"] = name
    ds.attrs["scenario_source"] = "../../elsewhere/" + name
    crafted = tmp_path / "crafted.nc"
    write_netcdf(ds, crafted)
    import tempfile
    from pathlib import Path

    work = tmp_path / "work"
    work.mkdir()
    private = tmp_path / "tmp"  # rerun's temporary folders go here, so a '../' escape lands in tmp_path
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))

    def files():
        return set(tmp_path.rglob("*")) | set(Path("/tmp").glob("imapk-absolute-*"))

    before = files()
    assert main(["rerun", str(crafted), "-o", str(work / "again.nc")]) == 0
    assert files() - before == {work / "again.nc"}
    again = imapk.read_netcdf(work / "again.nc")
    np.testing.assert_array_equal(again.trough.values, ds.trough.values)
    assert again.attrs["covariates_file_name"] == name  # kept as a label


def test_rerun__a_recorded_covariate_file_without_its_content_is_refused(case_report_path, tmp_path, capsys):
    import imapk
    from imapk.io import write_netcdf

    result = tmp_path / "r.nc"
    assert main(["run", str(case_report_path), "-o", str(result)]) == 0
    ds = imapk.read_netcdf(result)
    ds.attrs["scenario"] = ds.attrs["scenario"].replace("[population]", '[population]\ncovariates_file = "/etc/hostname"', 1) \
        if "[population]" in ds.attrs["scenario"] else ds.attrs["scenario"] + '\n[population]\ncovariates_file = "/etc/hostname"\n'
    crafted = tmp_path / "crafted.nc"
    write_netcdf(ds, crafted)
    capsys.readouterr()
    assert main(["rerun", str(crafted), "-o", str(tmp_path / "again.nc")]) == 2
    assert "names a covariate file but the result holds no copy of its content" in capsys.readouterr().err
    assert not (tmp_path / "again.nc").exists()


def test_run__output_naming_a_folder_is_refused_before_simulating(case_report_path, tmp_path, capsys, monkeypatch):
    import imapk.runner

    folder = tmp_path / "result.nc"
    folder.mkdir()
    monkeypatch.setattr(imapk.runner, "run_scenario", lambda *a, **k: pytest.fail("simulated before checking -o"))
    assert main(["run", str(case_report_path), "-o", str(folder)]) == 2
    assert capsys.readouterr().err == (
        f"imapk: error: {folder}: -o/--output: the output names an existing folder (expected a NetCDF file name)\n"
    )


def test_run__read_only_output_folder_is_refused_before_simulating(case_report_path, tmp_path, capsys):
    import os

    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):  # root ignores the mode bits: nothing to test
            pytest.skip("this user can write to a read-only folder")
        assert main(["run", str(case_report_path), "-o", str(folder / "r.nc")]) == 2
        assert "the output folder is not writable" in capsys.readouterr().err
    finally:
        folder.chmod(0o700)


def test_sweep__workers_must_be_positive(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["sweep", "scenarios/sweep-hold-and-restart.toml", "-o", str(tmp_path / "s.zarr"), "--workers", "-1"])
    assert stop.value.code == 2
    assert "--workers: must be a whole number >= 1 (got '-1')" in capsys.readouterr().err


def test_spreadsheet_safe__formula_cells_are_escaped():
    from imapk.io import spreadsheet_safe as _spreadsheet_safe

    assert _spreadsheet_safe('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert [_spreadsheet_safe(v) for v in ("+1", "-1", "@SUM(A1)", "ok", 3.5, -2)] == ["'+1", "'-1", "'@SUM(A1)", "ok", 3.5, -2]


def test_validate__fifo_and_deep_nesting_are_one_line(tmp_path, capsys):
    """`imapk validate` looked for a [sweep] table by reading the file first: a FIFO hung it and a
    5000-deep array ended in an internal error; both are now the scenario reader's one line."""
    import os

    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    assert main(["validate", str(fifo)]) == 2
    assert "named pipe" in capsys.readouterr().err
    deep = tmp_path / "deep.toml"
    deep.write_text('[scenario]\ntitle = "t"\nx = ' + "[" * 5000 + "]" * 5000 + "\n")
    assert main(["validate", str(deep)]) == 2
    assert capsys.readouterr().err.endswith("not valid TOML: arrays or inline tables nested too deeply "
                                            "(expected a scenario with a few levels of nesting)\n")


@pytest.mark.parametrize("command", [["rerun", "{f}", "-o", "{o}"], ["plot", "{f}", "-o", "{p}"]])
def test_not_a_netcdf_file_is_one_line(tmp_path, capsys, command):
    """A text file named .nc given to rerun or plot ended in HDF5's 'file signature not found' as an
    internal error."""
    fake = tmp_path / "fake.nc"
    fake.write_text("hello\n")
    args = [a.format(f=fake, o=tmp_path / "o.nc", p=tmp_path / "p.png") for a in command]
    assert main(args) == 2
    assert capsys.readouterr().err == (
        f"imapk: error: {fake}: not a NetCDF-4 result (no HDF5 signature) "
        "(expected a .nc file written by `imapk run -o` or `imapk rerun`)\n"
    )


def test_sweep__malformed_scheduler_address_is_one_line(tmp_path, capsys):
    assert main(["sweep", "scenarios/sweep-hold-and-restart.toml", "-o", str(tmp_path / "s.zarr"),
                 "--scheduler", "not an address"]) == 2
    assert "--scheduler: cannot connect to the scheduler" in capsys.readouterr().err


def test_every_command_prints_its_help(capsys):
    """argparse formats each help text with %: a stray % in one (e.g. '[%]') breaks that command's --help."""
    import argparse

    from imapk.cli import _parser

    commands = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert {"run", "plot", "tdm", "summarize"} <= set(commands)
    for name in commands:
        with pytest.raises(SystemExit) as stop:
            main([name, "--help"])
        assert stop.value.code == 0, name
        assert "usage: imapk " + name in capsys.readouterr().out
