"""The command line answers the day a user asks about, one row per patient, in text that fits.

References are computed here from the result file's own troughs (numpy), independently of the report
code: the percentile of a column, the share of subjects at or above a level, a patient's count of
troughs below it.
"""

import csv
import json

from pathlib import Path

import numpy as np
import pytest

from imapk.cli import main

POPULATION = "scenarios/gist-rash-case-report-population.toml"


@pytest.fixture(scope="module")
def small_population(tmp_path_factory):
    """The case-report population with 12 patients, its JSON verdict at days 60 and 29, and its result."""
    folder = tmp_path_factory.mktemp("population")
    text = Path(POPULATION).read_text().replace("size = 1000", "size = 12")
    path = folder / "population.toml"
    path.write_text(text)
    out = folder / "result.nc"
    table = folder / "patients.csv"
    import contextlib
    import io

    stream = io.StringIO()
    with contextlib.redirect_stdout(stream):
        code = main(["run", str(path), "--day", "60", "--day", "29", "--format", "json", "-o", str(out), "--csv", str(table)])
    assert code == 0
    import imapk

    return path, json.loads(stream.getvalue()), imapk.read_netcdf(out), table


def test_day__percentiles_and_attainment_on_the_day_asked(small_population):
    _, summary, ds, _ = small_population
    day60 = next(row for row in summary["key_doses"] if row["day"] == 60)
    assert day60["label"] == "day 60: asked"
    dose = int(np.flatnonzero(ds["day"].values == 60)[0])
    trough = ds["trough"].values[:, dose]
    for q, value in day60["trough_quantiles_ng_per_ml"].items():
        assert value == pytest.approx(np.quantile(trough, float(q)), rel=1e-12)
    assert day60["target_attainment"]["gist"] == pytest.approx(np.mean(trough >= 1100.0), abs=1e-15)
    # A day that is already a key dose is marked, not repeated.
    assert [row["label"] for row in summary["key_doses"] if row["day"] == 29] == [
        "day 29: before the hold (400 mg once daily) (asked)"
    ]


def test_day__outside_the_schedule_is_one_clear_error(capsys):
    assert main(["run", "scenarios/gist-rash-case-report.toml", "--day", "400"]) == 2
    err = capsys.readouterr().err
    assert "--day: the schedule has no scheduled dose on this day (got 400; expected a clinical day from 1 to 365)" in err


def test_patients__rows_and_csv_hold_each_patients_own_numbers(small_population):
    _, summary, ds, table = small_population
    rows = summary["patients"]  # 12 <= 20: shown without asking
    assert len(rows) == 12
    with open(table, newline="") as stream:
        records = list(csv.DictReader(stream))
    assert [r["subject"] for r in records] == [str(s) for s in ds["subject"].values]
    dose = int(np.flatnonzero(ds["day"].values == 60)[0])
    inside = ds["dose_time"].values >= float(ds.attrs["window_start"])
    for i, record in enumerate(records):
        assert float(record["trough day 60 [ng/mL]"]) == pytest.approx(ds["trough"].values[i, dose], rel=1e-15)
        below = int(np.sum(ds["trough"].values[i, inside] < 1100.0))
        assert int(record["gist: troughs below 1100 ng/mL [troughs]"]) == below == rows[i]["gist: troughs below 1100 ng/mL [troughs]"]
        assert record["gist: met"] == str(below == 0)
        assert float(record["cl [L/h]"]) == pytest.approx(ds["cl"].values[i], rel=1e-15)
    assert "ka [1/h]" not in records[0]  # the same for every patient: not a column


def test_patients__large_populations_only_when_asked(tmp_path, capsys):
    path = tmp_path / "p.toml"
    path.write_text(Path(POPULATION).read_text().replace("size = 1000", "size = 25").replace("days = 365", "days = 60"))
    assert main(["run", str(path)]) == 0
    assert "Per patient" not in capsys.readouterr().out
    assert main(["run", str(path), "--patients"]) == 0
    out = capsys.readouterr().out
    table = out[out.index("Per patient"):].splitlines()
    assert len(table) == 1 + 1 + 25  # title, header, one row per patient


def test_csv__refused_before_simulating_for_a_model_comparison(tmp_path, capsys):
    out = tmp_path / "t.csv"
    assert main(["run", "scenarios/model-comparison.toml", "--csv", str(out)]) == 2
    assert "--csv writes the patients of one model" in capsys.readouterr().err
    assert not out.exists()


def test_text__percentiles_in_brackets_and_fixed_values_alone():
    from imapk.report import _fmt

    assert _fmt({"median": 845.2, "p05": 431.0, "p95": 1654.4, "n_undefined": 0}, " ng/mL", 0) == "845 ng/mL [431-1654]"
    assert _fmt({"median": 0.609, "p05": 0.609, "p95": 0.609, "n_undefined": 0}, " 1/h", 3) == "0.609 1/h"
    assert _fmt({"value": 732.4}, " ng/mL", 0) == "732 ng/mL"


def test_text__labels_are_never_cut(capsys):
    assert main(["run", POPULATION]) == 0
    out = capsys.readouterr().out
    assert "day 50: end of grade 3 rash: restart step 1 (200 mg)" in out
    assert "(5-95 %:" not in out


def test_rerun__checks_without_writing_and_names_what_it_compared(tmp_path, capsys):
    """Without -o nothing is written; a result without a dense curve does not claim one; a result whose
    troughs were altered is reported as differing with exit status 3."""
    import imapk
    from imapk.io import write_netcdf

    first = tmp_path / "first.nc"
    assert main(["run", POPULATION.replace("-population", ""), "-o", str(first)]) == 0
    capsys.readouterr()
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["rerun", str(first)]) == 0
    out = capsys.readouterr().out
    assert "(nothing written)" in out and "troughs and concentration curve: identical bit for bit" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == before

    population = tmp_path / "population.nc"
    text = Path(POPULATION).read_text().replace("size = 1000", "size = 3")
    (tmp_path / "p.toml").write_text(text)
    assert main(["run", str(tmp_path / "p.toml"), "-o", str(population)]) == 0  # dense = false: no curve
    capsys.readouterr()
    assert main(["rerun", str(population)]) == 0
    assert "; troughs: identical bit for bit" in capsys.readouterr().out

    altered = imapk.read_netcdf(population).load()
    altered["trough"].values[0, 5] += 1e-9
    write_netcdf(altered, tmp_path / "altered.nc")
    assert main(["rerun", str(tmp_path / "altered.nc")]) == 3
    assert "troughs: DIFFER (troughs)" in capsys.readouterr().out


def test_validate_schedule__the_case_report_day_by_day(capsys):
    """The case report read by hand: 400 mg/d to day 28, 14 days held from day 29, 200 mg for 7 days
    (days 43-49), 300 mg for 56 days (days 50-105), then 400 mg/d to day 365."""
    assert main(["validate", "scenarios/gist-rash-case-report.toml", "--schedule"]) == 0
    lines = [line.split(":")[0].split() + [line.split(": ", 1)[1]] for line in capsys.readouterr().out.splitlines()[2:]]
    assert [(words[1], words[2], words[-1].split(" (")[0]) for words in lines] == [
        ("1-28", "28", "400 mg given"),
        ("29-42", "14", "400 mg planned, held"),
        ("43-49", "7", "200 mg given"),
        ("50-105", "56", "300 mg given"),
        ("106-365", "260", "400 mg given"),
    ]


def test_json__every_statistic_carries_its_unit(small_population):
    _, summary, _, _ = small_population

    def stats(node):
        if isinstance(node, dict):
            if "median" in node or "value" in node and "label" not in node and "dose" not in node:
                yield node
            for child in node.values():
                yield from stats(child)
        elif isinstance(node, list):
            for child in node:
                yield from stats(child)

    found = list(stats(summary))
    assert len(found) > 20
    assert all(isinstance(stat.get("unit"), str) and stat["unit"] for stat in found), [s for s in found if "unit" not in s][:3]
    gist = next(t for t in summary["thresholds"] if t["name"] == "gist")
    assert gist["time_below_days"]["unit"] == "d" and gist["troughs_below"]["unit"] == "troughs"
    assert summary["parameters"]["cl"]["unit"] == "L/h"


@pytest.mark.parametrize(("extra", "drawn"), [([], "plot_population"), (["--subject", "7"], "plot_troughs")])
def test_run_plot__a_population_draws_its_fan_or_the_subject_asked(tmp_path, monkeypatch, capsys, extra, drawn):
    import imapk.plot

    path = tmp_path / "p.toml"
    path.write_text(Path(POPULATION).read_text().replace("size = 1000", "size = 12").replace("days = 365", "days = 60"))
    calls = []
    for name in ("plot_population", "plot_troughs", "plot_models"):
        real = getattr(imapk.plot, name)
        monkeypatch.setattr(imapk.plot, name, lambda *a, _real=real, _name=name, **k: calls.append((_name, k)) or _real(*a, **k))
    assert main(["run", str(path), "--plot", str(tmp_path / "f.png"), *extra]) == 0
    assert [c[0] for c in calls] == [drawn]
    if extra:
        assert calls[0][1]["subject"] == 7
    assert (tmp_path / "f.png").stat().st_size > 0


def test_run_plot__unknown_subject_and_subject_without_plot(tmp_path, capsys):
    assert main(["run", POPULATION, "--subject", "3"]) == 2
    assert "--subject chooses whose curve --plot draws" in capsys.readouterr().err
    path = tmp_path / "p.toml"
    path.write_text(Path(POPULATION).read_text().replace("size = 1000", "size = 3").replace("days = 365", "days = 120"))
    assert main(["run", str(path), "--plot", str(tmp_path / "f.png"), "--subject", "9"]) == 2
    assert "--subject: no subject with this ID (got '9'; expected one of 0, 1, 2)" in capsys.readouterr().err


def test_mesylate_doses__the_conversion_is_said_where_the_user_reads(tmp_path, capsys):
    path = tmp_path / "m.toml"
    path.write_text(Path("scenarios/gist-rash-case-report.toml").read_text().replace('dose = "400 mg"', 'dose = "478 mg mesylate"', 1))
    assert main(["validate", str(path)]) == 0
    assert "dose converted: schedule.phases[0].dose: '478 mg mesylate' = 400.1 mg imatinib free base" in capsys.readouterr().out
    assert main(["run", str(path), "--format", "json"]) == 0
    assert "400.1 mg imatinib free base" in json.loads(capsys.readouterr().out)["dose_conversions"]


NAMED = """[scenario]
title = "three named patients"
seed = 4
[model]
parameter_set = "widmer2006_covariates"
[population]
covariates_file = "pts.csv"
[[schedule.phases]]
dose = "400 mg"
days = 40
[verdict]
thresholds = ["gist"]
[output]
dense = false
"""


def test_patient_ids__from_the_covariate_file_to_every_output(tmp_path, capsys):
    import imapk

    (tmp_path / "pts.csv").write_text("id,weight [kg],age [y],sex,disease\nP-001,70,50,male,GIST\nP-007,85,62,female,GIST\nX9,60,45,female,GIST\n")
    (tmp_path / "s.toml").write_text(NAMED)
    out, table = tmp_path / "r.nc", tmp_path / "p.csv"
    assert main(["run", str(tmp_path / "s.toml"), "-o", str(out), "--csv", str(table), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [row["subject"] for row in summary["patients"]] == ["P-001", "P-007", "X9"]
    assert imapk.read_netcdf(out)["subject"].values.tolist() == ["P-001", "P-007", "X9"]
    assert [line.split(",")[0] for line in table.read_text().splitlines()[1:]] == ["P-001", "P-007", "X9"]
    # The same patients as without the IDs: the ID only labels them.
    (tmp_path / "pts.csv").write_text("weight [kg],age [y],sex,disease\n70,50,male,GIST\n85,62,female,GIST\n60,45,female,GIST\n")
    assert main(["run", str(tmp_path / "s.toml"), "-o", str(tmp_path / "plain.nc")]) == 0
    np.testing.assert_array_equal(imapk.read_netcdf(out)["trough"].values, imapk.read_netcdf(tmp_path / "plain.nc")["trough"].values)


@pytest.mark.parametrize(
    ("csv_text", "message"),
    [
        ("id,weight [kg]\nA,70\nA,80\n", "column 'id': ID 'A' in row 3 is also in row 2"),
        ("id [kg],weight [kg]\nA,70\n", "column 'id [kg]': the id column takes no unit"),
        ("id,weight [kg]\nA,70\n,80\n", "column 'id': empty or unprintable ID in row 3"),
    ],
)
def test_patient_ids__bad_columns_name_the_row(tmp_path, capsys, csv_text, message):
    (tmp_path / "pts.csv").write_text(csv_text)
    (tmp_path / "s.toml").write_text(NAMED.replace("widmer2006_covariates", "widmer2006"))
    assert main(["validate", str(tmp_path / "s.toml")]) == 2
    assert message in capsys.readouterr().err


def test_params__covariate_equations_and_lines_that_fit(monkeypatch, capsys):
    from imapk.models import MODELS

    monkeypatch.setenv("COLUMNS", "81")
    for name, model in MODELS.items():
        assert main(["params", name]) == 0
        out = capsys.readouterr().out
        assert all(len(line) <= 80 for line in out.splitlines()), name
        assert ("Covariate equations" in out) == bool(model.covariates), name
    assert main(["params", "widmer2006_covariates"]) == 0
    out = capsys.readouterr().out
    # Widmer 2006 Table 3: CL = 14.3 + 5.42 (BW - 70)/70 ... (the coefficient as published)
    assert "+ 5.42 * (weight - 70.0) / 70.0" in out and "Covariate equations (imapk's code; weight in kg" in out


def test_patients_help__states_the_report_limit():
    """The --patients help gives the number without importing the report module at start-up."""
    from imapk.cli import _parser
    from imapk.report import PATIENT_ROWS_SHOWN

    run = next(a for a in _parser()._subparsers._group_actions[0].choices["run"]._actions if "--patients" in a.option_strings)
    assert f"up to {PATIENT_ROWS_SHOWN};" in run.help


def test_patient_table_text_rounds_for_reading():
    """Numbers are rounded for reading; a trough of a patient whose therapy stopped long before
    (5e-136 ng/mL in double precision) reads <0.001, not in scientific notation; nan reads '-'."""
    from imapk.report import format_patient_table

    text = format_patient_table([{"trough [ng/mL]": 5.01e-136, "cl [L/h]": 14.3, "days": 12.0, "met": True},
                                 {"trough [ng/mL]": 1234.5, "cl [L/h]": float("nan"), "days": 0.0, "met": False}])
    first, second = text.splitlines()[1].split(), text.splitlines()[2].split()
    assert first == ["<0.001", "14", "12", "yes"]
    assert second == ["1234", "-", "0", "no"]
