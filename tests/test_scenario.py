"""Scenario files: the shipped ones load and run; bad input gives one clear line naming file and key."""

import tomllib
from pathlib import Path

import numpy as np
import pytest

import imapk
from imapk.errors import ImapkError, ParameterError, ScenarioError, ScheduleError, UnitError
from imapk.scenario import MAX_DENSE_POINTS, Scenario, load_scenario, parse_scenario, run_scenario

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p for p in (ROOT / "scenarios").glob("*.toml") if "[sweep]" not in p.read_text())

MINIMAL = """\
[scenario]
title = "t"

[model]
parameter_set = "widmer2006"

[[schedule.phases]]
dose = "400 mg"
interval = "24 h"
days = 30
"""


def write(tmp_path: Path, text: str, name: str = "x.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str, kind: type = ImapkError) -> str:
    """Load `text` from a file and return the one-line error message (which must be an ImapkError)."""
    path = write(tmp_path, text)
    with pytest.raises(kind) as info:
        load_scenario(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message[len(f"{path}: ") :]


# ---------------------------------------------------------------- shipped scenarios


def test_shipped_scenarios_exist():
    names = {p.name for p in SHIPPED}
    assert {
        "gist-rash-case-report.toml",
        "gist-rash-case-report-400-after-300-step.toml",
        "gist-rash-three-holds.toml",
        "gist-continuous-400.toml",
        "cml-missed-doses.toml",
        "gist-bid-steady-state.toml",
    } <= names


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_scenario_loads_and_runs(path):
    scenario = load_scenario(path)
    assert isinstance(scenario, Scenario)
    assert scenario.title and scenario.models
    assert scenario.thresholds
    ds = run_scenario(scenario)
    table = scenario.schedule.lower()
    assert ds.sizes["dose"] == len(table)
    trough = ds["trough"].values
    assert np.all(np.isfinite(trough)) and np.all(trough >= 0)
    assert ds.attrs["scenario_source"] == path.name


@pytest.mark.parametrize(
    "name", ["gist-rash-case-report.toml", "gist-rash-case-report-population.toml", "gist-bid-steady-state.toml"]
)
def test_array_result_gives_the_same_dataset_and_verdict(name):
    """The xarray-free Result that `imapk run` prints from: same Dataset once converted, same verdict."""
    from imapk.report import format_json, verdicts
    from imapk.variables import Result

    scenario = load_scenario(next(p for p in SHIPPED if p.name == name))
    result = run_scenario(scenario, as_dataset=False)
    assert isinstance(result, Result)
    ds = run_scenario(scenario)
    assert result.to_dataset().identical(ds)
    assert result.sizes == dict(ds.sizes)
    assert "trough" in result and "day" in result and "nonexistent" not in result
    assert format_json(verdicts(result)) == format_json(verdicts(ds))  # JSON: NaN == NaN


def test_array_result_is_a_dataset_for_several_models():
    """With a model dimension the stacking needs xarray: run_scenario returns a Dataset anyway."""
    import xarray as xr

    ds = run_scenario(next(p for p in SHIPPED if p.name == "model-comparison.toml"), as_dataset=False)
    assert isinstance(ds, xr.Dataset) and "model" in ds.dims


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_scenario_states_its_assumptions(path):
    header = path.read_text(encoding="utf-8").split("[scenario]")[0]
    assert header.startswith("#")
    assert "ssumption" in header


def test_run_scenario_accepts_a_path_string():
    ds = imapk.run_scenario(str(ROOT / "scenarios" / "gist-continuous-400.toml"))
    assert ds.sizes["dose"] == 365


def expand(runs):
    """[(first day, last day, given mg, status)] -> per-day lists."""
    days, given, status = [], [], []
    for first, last, amount, label in runs:
        for day in range(first, last + 1):
            days.append(day)
            given.append(amount)
            status.append(label)
    return days, given, status


def check_lowering(path, runs):
    table = load_scenario(path).schedule.lower()
    days, given, status = expand(runs)
    assert len(table) == len(days)
    np.testing.assert_array_equal(table.day, days)
    np.testing.assert_array_equal(table.time, [24.0 * (d - 1) for d in days])
    np.testing.assert_array_equal(table.given, given)
    assert [("given", "held", "missed")[s] for s in table.status] == status


def test_case_report_lowering():
    # The brief: 400 mg days 1-28, held days 29-42, 200 mg days 43-49, 300 mg days 50-105,
    # 400 mg days 106-365: 365 scheduled doses, once daily.
    check_lowering(
        ROOT / "scenarios" / "gist-rash-case-report.toml",
        [
            (1, 28, 400, "given"),
            (29, 42, 0, "held"),
            (43, 49, 200, "given"),
            (50, 105, 300, "given"),
            (106, 365, 400, "given"),
        ],
    )
    table = load_scenario(ROOT / "scenarios" / "gist-rash-case-report.toml").schedule.lower()
    np.testing.assert_array_equal(table.planned[28:42], [400] * 14)  # held doses keep their planned amount


def test_case_report_variant_lowering():
    check_lowering(
        ROOT / "scenarios" / "gist-rash-case-report-400-after-300-step.toml",
        [
            (1, 28, 400, "given"),
            (29, 42, 0, "held"),
            (43, 49, 200, "given"),
            (50, 112, 300, "given"),
            (113, 365, 400, "given"),
        ],
    )


def test_three_holds_lowering():
    check_lowering(
        ROOT / "scenarios" / "gist-rash-three-holds.toml",
        [
            (1, 28, 400, "given"),
            (29, 31, 0, "held"),
            (32, 38, 200, "given"),
            (39, 45, 300, "given"),
            (46, 52, 0, "held"),
            (53, 59, 200, "given"),
            (60, 66, 300, "given"),
            (67, 80, 0, "held"),
            (81, 87, 200, "given"),
            (88, 143, 300, "given"),
            (144, 365, 400, "given"),
        ],
    )


def test_cml_missed_doses_lowering():
    sundays = list(range(35, 181, 7))  # day 1 a Monday: Sundays from day 29 on are 35, 42, ..., 175
    runs = []
    first = 1
    for sunday in sundays:
        runs += [(first, sunday - 1, 400, "given"), (sunday, sunday, 0, "missed")]
        first = sunday + 1
    runs.append((first, 180, 400, "given"))
    check_lowering(ROOT / "scenarios" / "cml-missed-doses.toml", runs)
    scenario = load_scenario(ROOT / "scenarios" / "cml-missed-doses.toml")
    assert [t.name for t in scenario.thresholds] == ["cml", "toxicity_alarm"]


def test_bid_steady_state_scenario():
    scenario = load_scenario(ROOT / "scenarios" / "gist-bid-steady-state.toml")
    table = scenario.schedule.lower()
    assert len(table) == 168
    np.testing.assert_array_equal(table.time, 12.0 * np.arange(168))
    assert table.steady_state.dose == 400.0 and table.steady_state.interval == 24.0
    assert scenario.window == (7 * 24.0, None)


# ---------------------------------------------------------------- what is accepted


def test_minimal_scenario_defaults(tmp_path):
    scenario = load_scenario(write(tmp_path, MINIMAL))
    assert scenario.title == "t" and scenario.description == ""
    assert scenario.thresholds == ()
    assert scenario.window == (28 * 24.0, None)  # from the day-29 trough
    assert scenario.dense_step == 1.0
    assert scenario.seed is None
    assert scenario.params.cl == 14.3
    assert scenario.source == str(tmp_path / "x.toml")


def test_dose_in_grams_is_converted(tmp_path):
    grams = load_scenario(write(tmp_path, MINIMAL.replace('"400 mg"', '"0.4 g"'), "g.toml")).schedule.lower()
    mg = load_scenario(write(tmp_path, MINIMAL, "mg.toml")).schedule.lower()
    np.testing.assert_array_equal(grams.planned, mg.planned)
    assert grams.planned[0] == 400.0


def test_interval_in_days_equals_interval_in_hours(tmp_path):
    days = load_scenario(write(tmp_path, MINIMAL.replace('"24 h"', '"1 d"'), "d.toml")).schedule.lower()
    hours = load_scenario(write(tmp_path, MINIMAL, "h.toml")).schedule.lower()
    np.testing.assert_array_equal(days.time, hours.time)
    assert len(days) == 30


def test_morning_and_evening_amounts(tmp_path):
    text = MINIMAL.replace('dose = "400 mg"', 'dose = ["400 mg", "200 mg"]').replace('"24 h"', '"12 h"')
    table = load_scenario(write(tmp_path, text)).schedule.lower()
    assert len(table) == 60
    np.testing.assert_array_equal(table.planned[:4], [400, 200, 400, 200])


def test_inline_parameters_and_changes(tmp_path):
    text = MINIMAL.replace('parameter_set = "widmer2006"', 'parameter_set = "inline"') + (
        '[model.parameters]\ncl = "10 L/h"\nv = "300 L"\nd1 = "2 h"\n'
        '[[model.changes]]\nfrom_day = 10\ncl = "8 L/h"\n'
        '[[model.changes]]\nat = "300 h"\nv = "250 L"\n'
    )
    scenario = load_scenario(write(tmp_path, text))
    assert scenario.parameter_set == "inline"
    assert (scenario.params.cl, scenario.params.v, scenario.params.d1, scenario.params.ka) == (10.0, 300.0, 2.0, None)
    assert [c.time for c in scenario.changes] == [216.0, 300.0]


def test_override_of_a_parameter_set(tmp_path):
    scenario = load_scenario(write(tmp_path, MINIMAL + '[model.parameters]\ncl = "10.6 L/h"\n'))
    assert scenario.params.cl == 10.6 and scenario.params.v == 347.0 and scenario.params.ka == 0.609


def test_short_schedule_without_verdict_runs_from_day_1(tmp_path):
    # The default window starts at the day-29 trough; a shorter schedule is judged from day 1.
    text = MINIMAL.replace("days = 30", "days = 10")
    scenario = load_scenario(write(tmp_path, text))
    assert scenario.window == (0.0, None)
    ds = run_scenario(scenario)
    assert ds.attrs["window_start"] == 0.0


def test_window_end_day_is_inclusive(tmp_path):
    text = MINIMAL + "[verdict]\nthresholds = ['gist']\nwindow_start_day = 5\nwindow_end_day = 20\n"
    assert load_scenario(write(tmp_path, text)).window == (96.0, 480.0)


CUSTOM = MINIMAL + "[verdict]\n[[verdict.custom]]\nname = 'mine'\nvalue = '1.5 mg/L'\n"


@pytest.mark.parametrize("kind", ["trough_target", "trough_ceiling", "concentration_ceiling"])
def test_custom_threshold(tmp_path, kind):
    (threshold,) = load_scenario(write(tmp_path, CUSTOM + f"kind = '{kind}'\n")).thresholds
    assert (threshold.name, threshold.value, threshold.kind, threshold.reference) == ("mine", 1500.0, kind, "user-defined")


def test_custom_threshold__default_kind_is_trough_target(tmp_path):
    (threshold,) = load_scenario(write(tmp_path, CUSTOM)).thresholds
    assert threshold.kind == "trough_target"


def test_custom_threshold__old_target_spelling_is_read_silently(tmp_path):
    # 'target' always meant the trough target: same meaning, no warning (filterwarnings = error).
    (threshold,) = load_scenario(write(tmp_path, CUSTOM + "kind = 'target'\n")).thresholds
    assert threshold.kind == "trough_target"


def test_custom_threshold__old_ceiling_spelling_keeps_its_meaning_with_a_warning(tmp_path):
    from imapk.thresholds import ThresholdKindWarning

    path = write(tmp_path, CUSTOM + "kind = 'ceiling'\n")
    with pytest.warns(ThresholdKindWarning) as caught:
        (threshold,) = load_scenario(path).thresholds
    assert threshold.kind == "concentration_ceiling"  # applied to every concentration, as before
    (warning,) = caught
    message = str(warning.message)
    assert message.startswith(f"{path}: verdict.custom[0].kind: kind 'ceiling' is deprecated")
    assert "'concentration_ceiling'" in message and "'trough_ceiling'" in message and "\n" not in message


def test_custom_threshold__unknown_kind(tmp_path):
    message = error_of(tmp_path, CUSTOM + "kind = 'peak'\n", ScenarioError)
    assert message == (
        "verdict.custom[0].kind: unknown threshold kind "
        "(got 'peak'; expected one of 'trough_target', 'trough_ceiling', 'concentration_ceiling')"
    )


def test_shipped_toxicity_alarm_is_a_trough_ceiling(tmp_path):
    text = MINIMAL + "[verdict]\nthresholds = ['gist', 'cml', 'toxicity_alarm']\n"
    kinds = [t.kind for t in load_scenario(write(tmp_path, text)).thresholds]
    assert kinds == ["trough_target", "trough_target", "trough_ceiling"]


def test_no_dense_output(tmp_path):
    assert load_scenario(write(tmp_path, MINIMAL + "[output]\ndense = false\n")).dense_step is None


def test_parse_scenario_without_a_file():
    assert parse_scenario(MINIMAL).source == "<string>"
    with pytest.raises(ScenarioError, match=r"^<string>: scenario\.title: required key is missing$"):
        parse_scenario(MINIMAL.replace('title = "t"\n', ""))


# ---------------------------------------------------------------- bad input: one line, file and key


def test_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == f"{path}: no such scenario file"


def test_malformed_toml(tmp_path):
    text = "[scenario\ntitle = 't'\n"
    with pytest.raises(tomllib.TOMLDecodeError) as parser:
        tomllib.loads(text)
    assert error_of(tmp_path, text, ScenarioError) == f"not valid TOML: {parser.value}"
    assert "line 1" in str(parser.value)


def test_missing_title(tmp_path):
    message = error_of(tmp_path, MINIMAL.replace('title = "t"\n', ""), ScenarioError)
    assert message == "scenario.title: required key is missing"


def test_missing_model(tmp_path):
    text = "[scenario]\ntitle = 't'\n[[schedule.phases]]\ndose = '400 mg'\ndays = 3\n"
    assert error_of(tmp_path, text, ScenarioError) == "model: required key is missing"


def test_unknown_top_level_key(tmp_path):
    message = error_of(tmp_path, MINIMAL + "[outputs]\ndense = true\n", ScenarioError)
    assert message == (
        "outputs: unknown key (expected one of: adherence, interactions, model, output, policy, population, scenario, "
        "schedule, solver, toxicity, verdict)"
    )


def test_unknown_key_inside_a_hold(tmp_path):
    text = MINIMAL + "[[schedule.holds]]\nstart_day = 10\nday = 14\n"  # typo: day for days
    message = error_of(tmp_path, text, ScenarioError)
    assert message == "schedule.holds[0].day: unknown key (expected one of: days, doses, label, restart, start_day)"


def test_unknown_key_inside_a_ladder_step(tmp_path):
    text = MINIMAL + "[[schedule.holds]]\nstart_day = 10\ndays = 3\nrestart = [{ dose = '200 mg', weeks = 1 }]\n"
    message = error_of(tmp_path, text, ScenarioError)
    assert message == "schedule.holds[0].restart[0].weeks: unknown key (expected one of: days, dose)"


def test_unknown_key_inside_a_phase(tmp_path):
    message = error_of(tmp_path, MINIMAL.replace('dose = "400 mg"', 'doze = "400 mg"'), ScenarioError)
    assert message == "schedule.phases[0].doze: unknown key (expected one of: days, dose, doses, interval, label)"


def test_unknown_parameter(tmp_path):
    from imapk.params import PARAMETER_DIMENSIONS

    message = error_of(tmp_path, MINIMAL + '[model.parameters]\nclearance = "14 L/h"\n', ScenarioError)
    assert message.startswith("model.parameters.clearance: unknown parameter (expected one of cl, v, ka, d1, f, tlag")
    assert message == f"model.parameters.clearance: unknown parameter (expected one of {', '.join(PARAMETER_DIMENSIONS)})"


def test_unknown_parameter_set(tmp_path):
    message = error_of(tmp_path, MINIMAL.replace('"widmer2006"', '"widmer2007"'), ScenarioError)
    from imapk.models import MODELS

    known = ", ".join(sorted(MODELS))
    assert message == (
        f"model.parameter_set: unknown parameter set: did you mean 'widmer2006'? (got 'widmer2007'; expected one of {known})"
    )


def test_unknown_parameter_set__other_letter_case_suggests_the_name(tmp_path):
    message = error_of(tmp_path, MINIMAL.replace('"widmer2006"', '"Widmer2006"'), ScenarioError)
    assert message.startswith("model.parameter_set: unknown parameter set: did you mean 'widmer2006'? (got 'Widmer2006';")
    message = error_of(tmp_path, MINIMAL.replace('"widmer2006"', '["widmer2006", "Schmidli 2005"]'), ScenarioError)
    assert message.startswith("model.parameter_set[1]: unknown parameter set: did you mean 'schmidli2005'?")


def test_unknown_parameter_set__nothing_close_lists_the_names_only(tmp_path):
    message = error_of(tmp_path, MINIMAL.replace('"widmer2006"', '"nosuch"'), ScenarioError)
    assert message.startswith("model.parameter_set: unknown parameter set (got 'nosuch'; expected one of demetri2009")


def test_out_of_range_parameter(tmp_path):
    message = error_of(tmp_path, MINIMAL + '[model.parameters]\ncl = "-1 L/h"\n', ParameterError)
    assert message == "model.parameters.cl: out of range (got -1.0; expected > 0 L/h)"


def test_two_parameter_changes_at_the_same_time(tmp_path):
    text = MINIMAL + '[[model.changes]]\nfrom_day = 10\ncl = "10 L/h"\n[[model.changes]]\nat = "216 h"\nv = "300 L"\n'
    message = error_of(tmp_path, text, ScenarioError)
    assert message == (
        "model.changes[1].at: changes at the same time as model.changes[0] "
        "(got '216 h'; expected one [[model.changes]] entry per time, changing several parameters at once)"
    )


def test_parameter_change_without_parameter(tmp_path):
    from imapk.params import CHANGEABLE

    message = error_of(tmp_path, MINIMAL + "[[model.changes]]\nfrom_day = 10\n", ScenarioError)
    assert message == (
        f"model.changes[0]: changes no parameter (expected at least one of {', '.join(CHANGEABLE)}, e.g. cl = '10.6 L/h')"
    )
    assert ", ".join(CHANGEABLE).startswith("cl, v, ka, f")


def test_negative_dose(tmp_path):
    message = error_of(tmp_path, MINIMAL.replace('"400 mg"', '"-400 mg"'), ScheduleError)
    assert message == "schedule.phases[0].dose: dose must not be negative (got -400.0; expected >= 0 mg)"


MASS_EXPECTED = "a string with a mass unit, e.g. '400 mg' (units: mg, g, ug, µg, μg, mcg)"
TIME_EXPECTED = "a string with a time unit, e.g. '24 h' (units: h, hr, hrs, hour, hours, min, minutes, d, day, days, wk, week, weeks)"


def test_dose_without_unit(tmp_path):
    message = error_of(tmp_path, MINIMAL.replace('"400 mg"', '"400"'), UnitError)
    assert message == f"schedule.phases[0].dose: a mass needs a unit (got '400'; expected {MASS_EXPECTED})"


def test_dose_as_a_bare_number(tmp_path):
    message = error_of(tmp_path, MINIMAL.replace('"400 mg"', "400"), UnitError)
    assert message == f"schedule.phases[0].dose: a mass needs a unit (got 400; expected {MASS_EXPECTED})"


def test_time_unit_in_a_dose(tmp_path):
    message = error_of(tmp_path, MINIMAL.replace('"400 mg"', '"400 h"'), UnitError)
    assert message == f"schedule.phases[0].dose: 'h' is a time unit, not a mass unit (got '400 h'; expected {MASS_EXPECTED})"


def test_unit_error_in_a_ladder_dose_names_its_index(tmp_path):
    text = MINIMAL + "[[schedule.holds]]\nstart_day = 10\ndays = 3\nrestart = [{ dose = ['200 mg', 100], days = 7 }]\n"
    message = error_of(tmp_path, text, UnitError)
    assert message == f"schedule.holds[0].restart[0].dose[1]: a mass needs a unit (got 100; expected {MASS_EXPECTED})"


def test_interval_without_unit(tmp_path):
    message = error_of(tmp_path, MINIMAL.replace('"24 h"', "24"), UnitError)
    assert message == f"schedule.phases[0].interval: a time needs a unit (got 24; expected {TIME_EXPECTED})"


def test_interval_with_a_mass_unit(tmp_path):
    message = error_of(tmp_path, MINIMAL.replace('"24 h"', '"24 mg"'), UnitError)
    assert message == f"schedule.phases[0].interval: 'mg' is a mass unit, not a time unit (got '24 mg'; expected {TIME_EXPECTED})"


def test_days_with_a_unit_string(tmp_path):
    # `days` carries its unit in its name: a plain number.
    message = error_of(tmp_path, MINIMAL.replace("days = 30", 'days = "30 d"'), ScenarioError)
    assert message == "schedule.phases[0].days: must be a number (got '30 d'; expected a number of days without quotes, e.g. 28)"


def test_overlapping_holds(tmp_path):
    text = MINIMAL + "[[schedule.holds]]\nstart_day = 10\ndays = 5\n[[schedule.holds]]\nstart_day = 12\ndays = 5\n"
    message = error_of(tmp_path, text, ScheduleError)
    assert message == "schedule.holds[1]: overlaps holds[0] (days 10-14) (got 'days 12-16')"


def test_overlap_message_in_full(tmp_path):
    text = MINIMAL + "[[schedule.holds]]\nstart_day = 10\ndays = 5\n[[schedule.holds]]\nstart_day = 12\ndays = 5\n"
    path = write(tmp_path, text)
    with pytest.raises(ScheduleError) as info:
        load_scenario(path)
    assert str(info.value) == f"{path}: schedule.holds[1]: overlaps holds[0] (days 10-14) (got 'days 12-16')"


def test_hold_outside_the_schedule(tmp_path):
    message = error_of(tmp_path, MINIMAL + "[[schedule.holds]]\nstart_day = 40\ndays = 3\n", ScheduleError)
    assert message == "schedule.holds[0]: starts after the last scheduled dose (got 'start_day = 40'; expected a day <= 30, the day of the last dose)"


def test_hold_running_past_the_end(tmp_path):
    message = error_of(tmp_path, MINIMAL + "[[schedule.holds]]\nstart_day = 28\ndays = 14\n", ScheduleError)
    assert message == "schedule.holds[0]: ends after the schedule (schedule ends on day 30) (got 'days 28-41'; expected days <= 3 from day 28)"


def test_hold_start_day_not_a_whole_day(tmp_path):
    message = error_of(tmp_path, MINIMAL + "[[schedule.holds]]\nstart_day = 10.5\ndays = 3\n", ScenarioError)
    assert message == "schedule.holds[0].start_day: must be a whole number (got 10.5; expected a whole clinical day >= 1, e.g. 29)"


def test_hold_start_day_zero(tmp_path):
    message = error_of(tmp_path, MINIMAL + "[[schedule.holds]]\nstart_day = 0\ndays = 3\n", ScenarioError)
    assert message == "schedule.holds[0].start_day: out of range (got 0; expected a whole clinical day >= 1, e.g. 29)"


def test_hold_without_length(tmp_path):
    message = error_of(tmp_path, MINIMAL + "[[schedule.holds]]\nstart_day = 10\n", ScheduleError)
    assert message == "schedule.holds[0]: give exactly one of `days` and `doses` (got {'days': None, 'doses': None}; expected e.g. days = 14 or doses = 14)"


def test_zero_length_phase(tmp_path):
    message = error_of(tmp_path, MINIMAL.replace("days = 30", "days = 0"), ScheduleError)
    assert message == "schedule.phases[0].days: must be a positive number (got 0; expected > 0 d)"


def test_zero_doses_phase(tmp_path):
    message = error_of(tmp_path, MINIMAL.replace("days = 30", "doses = 0"), ScheduleError)
    assert message == "schedule.phases[0].doses: must be a positive whole number (got 0; expected an integer >= 1)"


def test_zero_length_ladder_step(tmp_path):
    text = MINIMAL + "[[schedule.holds]]\nstart_day = 10\ndays = 3\nrestart = [{ dose = '200 mg', days = 0 }]\n"
    message = error_of(tmp_path, text, ScheduleError)
    assert message == "schedule.holds[0].restart[0].days: must be a positive number (got 0; expected > 0 d)"


def test_non_integer_doses_count(tmp_path):
    message = error_of(tmp_path, MINIMAL.replace("days = 30", "doses = 28.5"), ScenarioError)
    assert message == "schedule.phases[0].doses: must be a whole number (got 28.5; expected a whole number of doses, e.g. 28)"


def test_non_integer_hold_doses_count(tmp_path):
    message = error_of(tmp_path, MINIMAL + "[[schedule.holds]]\nstart_day = 10\ndoses = 2.5\n", ScenarioError)
    assert message == "schedule.holds[0].doses: must be a whole number (got 2.5; expected a whole number of doses, e.g. 14)"


def test_phase_too_long_for_memory(tmp_path):
    message = error_of(tmp_path, MINIMAL.replace("days = 30", "days = 1e12"), ScheduleError)
    assert message == "schedule.phases[0]: this phase would hold more than 1000000 doses (a unit slip?) (got 'days = 1e+12 with interval 24 h'; expected at most 1000000 doses per schedule)"


def with_schedule_keys(keys: str) -> str:
    return MINIMAL.replace("[[schedule.phases]]", f"[schedule]\n{keys}\n\n[[schedule.phases]]")


def test_missed_dose_inside_a_hold(tmp_path):
    text = with_schedule_keys("missed_days = [11]") + "[[schedule.holds]]\nstart_day = 10\ndays = 3\n"
    message = error_of(tmp_path, text, ScheduleError)
    assert message == "schedule.missed_days[0]: dose 10 (day 11) is already held by holds[0] (days 10-12) (got 11; expected a dose outside every hold)"


def test_missed_day_listed_twice(tmp_path):
    message = error_of(tmp_path, with_schedule_keys("missed_days = [11, 11]"), ScheduleError)
    assert message == "schedule.missed_days[1]: day 11 is already listed as missed_days[0] (got 11; expected each day listed once)"


def test_missed_day_after_the_schedule(tmp_path):
    message = error_of(tmp_path, with_schedule_keys("missed_days = [31]"), ScheduleError)
    assert message == "schedule.missed_days[0]: no dose is scheduled on this day (got 31; expected a day with a scheduled dose, 1 to 30)"


def test_missed_days_not_integers(tmp_path):
    message = error_of(tmp_path, with_schedule_keys("missed_days = [11.0]"), ScenarioError)
    assert message == "schedule.missed_days[0]: must be an integer (got 11.0; expected an array of integers, e.g. [35, 42])"


def test_missed_days_not_an_array(tmp_path):
    message = error_of(tmp_path, with_schedule_keys("missed_days = 11"), ScenarioError)
    assert message == "schedule.missed_days: must be an array (got 11; expected an array of integers, e.g. [35, 42])"


def test_steady_state_errors_name_file_and_key(tmp_path):
    text = with_schedule_keys("[schedule.steady_state]\ndose = '400 mg'\ninterval = '0 h'")
    message = error_of(tmp_path, text, ScheduleError)
    assert message == "schedule.steady_state.interval: must be a positive number (got 0.0; expected > 0 h)"
    text = with_schedule_keys("[schedule.steady_state]\ndose = ['400 mg', '200 mg']\ninterval = '12 h'")
    message = error_of(tmp_path, text, ScenarioError)
    assert message == (
        "schedule.steady_state.dose: a steady-state start takes one amount (got ['400 mg', '200 mg']; "
        "expected one mass, e.g. '400 mg' (the closed form needs a regular train of equal doses))"
    )


def test_unknown_threshold_name(tmp_path):
    message = error_of(tmp_path, MINIMAL + "[verdict]\nthresholds = ['gist', 'GIST']\n", ScenarioError)
    assert message == "verdict.thresholds[1]: unknown threshold (got 'GIST'; expected one of cml, gist, toxicity_alarm or a custom table)"


def test_thresholds_not_an_array(tmp_path):
    message = error_of(tmp_path, MINIMAL + "[verdict]\nthresholds = 'gist'\n", ScenarioError)
    assert message == "verdict.thresholds: must be an array (got 'gist'; expected an array of strings, e.g. ['gist'])"


def test_window_end_before_window_start(tmp_path):
    message = error_of(tmp_path, MINIMAL + "[verdict]\nwindow_start_day = 20\nwindow_end_day = 10\n", ScenarioError)
    assert message == "verdict.window_end_day: window ends before it starts (got 10; expected a day >= window_start_day (20))"


def test_window_start_after_the_schedule(tmp_path):
    message = error_of(tmp_path, MINIMAL + "[verdict]\nwindow_start_day = 31\n", ScenarioError)
    assert message == "verdict.window_start_day: the evaluation window starts after the schedule ends (got 31; expected a day <= 30, the schedule's last day)"


def test_window_end_after_the_schedule(tmp_path):
    message = error_of(tmp_path, MINIMAL + "[verdict]\nwindow_end_day = 31\n", ScenarioError)
    assert message == "verdict.window_end_day: the evaluation window ends after the schedule (got 31; expected a day <= 30, the schedule's last day (or leave it out))"


def test_window_day_not_a_whole_day(tmp_path):
    message = error_of(tmp_path, MINIMAL + "[verdict]\nwindow_start_day = 2.5\n", ScenarioError)
    assert message == "verdict.window_start_day: must be a whole number (got 2.5; expected a whole clinical day >= 1, e.g. 29)"


def test_custom_threshold_without_unit(tmp_path):
    text = MINIMAL + "[verdict]\n[[verdict.custom]]\nname = 'mine'\nvalue = '1000'\n"
    message = error_of(tmp_path, text, UnitError)
    assert message.startswith("verdict.custom[0].value: a concentration needs a unit (got '1000'; expected a string with a concentration unit")


def test_threshold_named_twice(tmp_path):
    text = MINIMAL + "[verdict]\nthresholds = ['gist']\n[[verdict.custom]]\nname = 'gist'\nvalue = '1 mg/L'\n"
    assert error_of(tmp_path, text, ScenarioError) == "verdict.thresholds: threshold named twice (got 'gist')"


def test_dense_not_a_boolean(tmp_path):
    message = error_of(tmp_path, MINIMAL + "[output]\ndense = 'yes'\n", ScenarioError)
    assert message == "output.dense: must be true or false (got 'yes'; expected true or false, without quotes)"


def test_dense_grid_too_fine(tmp_path):
    assert MAX_DENSE_POINTS == 10_000_000
    message = error_of(tmp_path, MINIMAL + "[output]\ndense_step = '0.00005 h'\n", ScenarioError)
    assert message == (
        "output.dense_step: the dense grid would have 1.44e+07 points (got '0.00005 h'; "
        "expected a step >= 7.2e-05 h for this 30-day schedule, or dense = false)"
    )


def test_dense_grid_too_fine_by_default(tmp_path):
    # No [output]: the default 1 h step still has to fit (a 1e6-dose q24h schedule is 2.4e7 h).
    message = error_of(tmp_path, MINIMAL.replace("days = 30", "doses = 1_000_000"), ScenarioError)
    assert message.startswith("output.dense_step: the dense grid would have 2.4e+07 points (got '1 h (default)'; ")


def test_title_not_a_string(tmp_path):
    message = error_of(tmp_path, MINIMAL.replace('title = "t"', "title = 3"), ScenarioError)
    assert message == "scenario.title: must be a string (got 3; expected a quoted string)"


def test_phases_as_a_table_not_an_array(tmp_path):
    message = error_of(tmp_path, MINIMAL.replace("[[schedule.phases]]", "[schedule.phases]"), ScenarioError)
    assert message == (
        "schedule.phases: must be an array of tables (got {'dose': '400 mg', 'interval': '24 h', 'days': 30}; "
        "expected [[schedule.phases]] entries)"
    )


@pytest.mark.parametrize(
    "text",
    [
        MINIMAL.replace('"400 mg"', "{ amount = 400 }"),
        MINIMAL.replace('"400 mg"', "1979-05-27"),
        MINIMAL.replace('"400 mg"', "[]"),
        MINIMAL.replace("days = 30", "days = nan"),
        MINIMAL.replace("days = 30", "days = inf"),
        MINIMAL.replace("days = 30", "days = true"),
        MINIMAL.replace("days = 30", "doses = 1_000_000_000_000"),
        MINIMAL.replace('"24 h"', '"1e-300 h"'),
        MINIMAL.replace('"24 h"', '"-24 h"'),
        MINIMAL + "[[schedule.holds]]\nstart_day = 10\ndays = 3\nrestart = { dose = '200 mg', days = 7 }\n",
        MINIMAL + "[[schedule.holds]]\nstart_day = 10\ndays = 3\nrestart = ['200 mg']\n",
        MINIMAL + "[[schedule.holds]]\nstart_day = 1e300\ndays = 3\n",
        MINIMAL + "[[schedule.holds]]\nstart_day = 10\ndays = 1e300\n",
        MINIMAL + "[[schedule.holds]]\nstart_day = 10\ndoses = 100\n",
        with_schedule_keys("missed_doses = [-1]"),
        with_schedule_keys("missed_doses = [true]"),
        with_schedule_keys("steady_state = 3"),
        MINIMAL.replace('parameter_set = "widmer2006"', "parameter_set = 1"),
        MINIMAL.replace('parameter_set = "widmer2006"', 'parameter_set = "inline"'),
        MINIMAL + "[model.parameters]\nf = '1'\n",
        MINIMAL + "[model.parameters]\nka = '1 L'\n",
        MINIMAL + "[[model.changes]]\nfrom_day = 10\nd1 = '1 h'\n",
        MINIMAL + "[[model.changes]]\nfrom_day = 10.5\ncl = '1 L/h'\n",
        MINIMAL + "[verdict]\nwindow_end_day = '10'\n",
        MINIMAL + "[verdict]\n[[verdict.custom]]\nname = 'x'\nvalue = '1 mg/L'\nkind = 'floor'\n",
        MINIMAL + "[output]\ndense_step = '0 h'\n",
        MINIMAL.replace('title = "t"', 'title = "t"\nseed = -1'),
        "scenario = 1\n",
        "",
        # integers too large for a float: an OverflowError before the range checks
        MINIMAL.replace("days = 30", "days = 1" + "0" * 400),
        MINIMAL + "[[schedule.holds]]\nstart_day = 1" + "0" * 400 + "\ndays = 3\n",
        with_schedule_keys("missed_days = [1" + "0" * 400 + "]"),
        MINIMAL + "[verdict]\nwindow_end_day = 1" + "0" * 400 + "\n",
    ],
)
def test_bad_input_is_always_a_one_line_imapk_error(tmp_path, text):
    error_of(tmp_path, text)


def _write(tmp_path, body, name="slip.toml"):
    path = tmp_path / name
    path.write_text('[scenario]\ntitle = "t"\n[model]\nparameter_set = "widmer2006"\n' + body)
    return path


def test_load__dose_unit_slip_is_refused(tmp_path):
    path = _write(tmp_path, '[[schedule.phases]]\ndose = "400 g"\ndays = 10\n')
    with pytest.raises(imapk.ScenarioError) as info:
        imapk.load_scenario(path)
    assert str(info.value) == (
        f"{path}: schedule.phases[0].dose: implausible imatinib dose for one administration (a unit slip?) "
        "(got '400 g'; expected at most 2000 mg; doses are mg of free base per administration)"
    )


def test_load__interval_unit_slip_is_refused(tmp_path):
    path = _write(tmp_path, '[[schedule.phases]]\ndose = "400 mg"\ninterval = "24 d"\ndays = 100\n')
    with pytest.raises(imapk.ScenarioError) as info:
        imapk.load_scenario(path)
    assert str(info.value) == (
        f"{path}: schedule.phases[0].interval: implausible dosing interval (a unit slip?) "
        "(got '24 d'; expected at most 168 h, e.g. '24 h' or '12 h')"
    )


# ---------------------------------------------------------------- simulated assay values: censoring

ASSAY = """\
[scenario]
title = "assay"
seed = 11

[model]
parameter_set = "judson2005"

[population]
size = 40
residual_error = true
{limit}

[population.covariates]
weight = "70 kg"

[[schedule.phases]]
dose = "400 mg"
days = 40

[[schedule.holds]]
start_day = 20
days = 10
"""


def test_observed_troughs__large_additive_error_gives_negative_values_marked_censored():
    # Judson 2005: proportional 34 % + additive 273 ng/mL. The first trough (before any drug) is 0,
    # so its simulated assay value is 273 e2 alone: about half of them are negative. Nothing is clipped.
    scenario = parse_scenario(ASSAY.format(limit='quantification_limit = "50 ng/mL"'))
    assert scenario.quantification_limit == 50.0
    ds = run_scenario(scenario)
    values, censored = ds.trough_observed.values, ds.trough_censored.values
    assert censored.dtype == bool and censored.shape == values.shape == ds.trough.shape
    assert (values < 0).any()  # not clipped
    assert values[:, 0].min() < -100.0  # 273 ng/mL SD on a zero trough
    np.testing.assert_array_equal(censored, values < 50.0)  # the limit is honoured, strictly below
    assert ((values >= 0) & (values < 50.0) & censored).any()  # positive but below the limit: censored too
    assert ds.trough_censored.attrs["quantification_limit"] == 50.0
    assert ds.trough_censored.attrs["quantification_limit_units"] == "ng/mL"
    assert ds.trough_observed.attrs["residual_error"] == "proportional 34 % + additive 273 ng/mL"
    assert "not clipped" in ds.trough_observed.attrs["description"]


def test_observed_troughs__default_limit_censors_only_negative_values():
    ds = run_scenario(parse_scenario(ASSAY.format(limit="")))
    np.testing.assert_array_equal(ds.trough_censored.values, ds.trough_observed.values < 0.0)
    assert ds.trough_censored.attrs["quantification_limit"] == 0.0


def test_observed_troughs__the_limit_does_not_move_the_draws():
    with_limit = run_scenario(parse_scenario(ASSAY.format(limit='quantification_limit = "0.2 mg/L"')))
    without = run_scenario(parse_scenario(ASSAY.format(limit="")))
    np.testing.assert_array_equal(with_limit.trough_observed.values, without.trough_observed.values)
    np.testing.assert_array_equal(with_limit.trough_censored.values, with_limit.trough_observed.values < 200.0)


def test_observed_troughs__censored_flags_survive_netcdf(tmp_path):
    ds = run_scenario(parse_scenario(ASSAY.format(limit='quantification_limit = "50 ng/mL"')))
    imapk.write_netcdf(ds, tmp_path / "assay.nc")
    back = imapk.read_netcdf(tmp_path / "assay.nc")
    assert back.trough_censored.dtype == bool
    np.testing.assert_array_equal(back.trough_censored.values, ds.trough_censored.values)
    assert back.trough_censored.attrs["quantification_limit"] == 50.0


@pytest.mark.parametrize(
    "limit, expected",
    [
        ('quantification_limit = "-5 ng/mL"',
         "population.quantification_limit: must not be negative (got '-5 ng/mL'; expected a concentration >= 0, "
         "e.g. '50 ng/mL')"),
        ('quantification_limit = "50 mg"', "population.quantification_limit: "),
        ("quantification_limit = 50", "population.quantification_limit: "),
    ],
)
def test_observed_troughs__bad_limit(tmp_path, limit, expected):
    message = error_of(tmp_path, ASSAY.format(limit=limit), ImapkError)
    assert message.startswith(expected)


def test_observed_troughs__limit_without_residual_error(tmp_path):
    text = ASSAY.format(limit='quantification_limit = "50 ng/mL"').replace("residual_error = true", "residual_error = false")
    message = error_of(tmp_path, text, ScenarioError)
    assert message == (
        "population.quantification_limit: a quantification limit applies to simulated observed troughs "
        "(got '50 ng/mL'; expected residual_error = true in [population])"
    )


# ---------------------------------------------------------------- doses of the mesylate salt; whole lengths


def test_dose_of_the_mesylate_is_converted_and_recorded(tmp_path):
    # 478 mg of imatinib mesylate is 478 x 493.6 / 589.7 = 400.1 mg of free base (molar masses of
    # C29H31N7O and C29H31N7O . CH4SO3); the 200 mg mesylate step 167.4 mg.
    text = MINIMAL.replace('dose = "400 mg"', 'dose = "478 mg mesylate"') + (
        '[[schedule.holds]]\nstart_day = 10\ndays = 2\nrestart = [{ dose = "200 mg mesylate", days = 3 }]\n'
        "[output]\ndense = false\n"
    )
    scenario = load_scenario(write(tmp_path, text))
    table = scenario.schedule.lower()
    assert table.planned[0] == pytest.approx(478 * 493.6 / 589.7, rel=1e-12)
    assert table.planned[11] == pytest.approx(200 * 493.6 / 589.7, rel=1e-12)
    ds = run_scenario(scenario)
    assert ds.attrs["dose_conversions"] == (
        "schedule.phases[0].dose: '478 mg mesylate' = 400.1 mg imatinib free base (478 mg x 493.6/589.7, the molar "
        "masses of the free base and the mesylate); schedule.holds[0].restart[0].dose: '200 mg mesylate' = 167.4 mg "
        "imatinib free base (200 mg x 493.6/589.7, the molar masses of the free base and the mesylate)"
    )
    assert float(ds.dose_given[0, 0]) == pytest.approx(400.10310, rel=1e-6)


def test_dose_of_the_free_base_may_say_so(tmp_path):
    scenario = load_scenario(write(tmp_path, MINIMAL.replace('dose = "400 mg"', 'dose = ["400 mg base", "200 mg free base"]')))
    np.testing.assert_array_equal(scenario.schedule.lower().planned[:3], [400, 200, 400])
    assert scenario.dose_conversions == ()
    assert "dose_conversions" not in run_scenario(scenario, dense=False).attrs


def test_dose_of_another_salt_is_refused_with_the_hint(tmp_path):
    message = error_of(tmp_path, MINIMAL.replace('dose = "400 mg"', 'dose = "400 mg hydrochloride"'), UnitError)
    assert message.startswith("schedule.phases[0].dose: unknown form of imatinib 'hydrochloride' (got '400 mg hydrochloride';")
    assert "'478 mg mesylate' (= 400 mg base" in message


def test_steady_state_dose_of_the_mesylate(tmp_path):
    text = MINIMAL + '[schedule.steady_state]\ndose = "478 mg mesylate"\n'
    scenario = load_scenario(write(tmp_path, text))
    assert scenario.schedule.steady_state.dose == pytest.approx(478 * 493.6 / 589.7, rel=1e-12)
    assert scenario.dose_conversions == (
        "schedule.steady_state.dose: '478 mg mesylate' = 400.1 mg imatinib free base (478 mg x 493.6/589.7, the molar "
        "masses of the free base and the mesylate)",
    )


def test_implausible_dose_is_judged_after_the_conversion(tmp_path):
    message = error_of(tmp_path, MINIMAL.replace('dose = "400 mg"', 'dose = "2500 mg mesylate"'), ScenarioError)
    assert message.startswith("schedule.phases[0].dose: implausible imatinib dose")
    # 2300 mg of mesylate is 1925 mg of base: plausible (at most 2000 mg)
    load_scenario(write(tmp_path, MINIMAL.replace('dose = "400 mg"', 'dose = "2300 mg mesylate"')))


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        (("days = 30", "days = 365.5"),
         "schedule.phases[0].days: a phase of 365.5 days is not a whole number of days (got 365.5; expected whole "
         "days (365 or 366 days), or give `doses`)"),
        (("days = 30", "days = 30\n[[schedule.holds]]\nstart_day = 5\ndays = 2.5"),
         "schedule.holds[0].days: a hold of 2.5 days is not a whole number of days (got 2.5; expected whole days "
         "(2 or 3 days), or give `doses`)"),
        (("days = 30", 'days = 30\n[[schedule.holds]]\nstart_day = 5\ndays = 2\nrestart = [{ dose = "200 mg", days = 7 }, { dose = "300 mg", days = 6.5 }]'),
         "schedule.holds[0].restart[1].days: a ladder step of 6.5 days is not a whole number of days (got 6.5; "
         "expected whole days (6 or 7 days))"),
        (('interval = "24 h"\ndays = 30', 'interval = "12 h"\ndays = 30.25'),
         "schedule.phases[0].days: a phase of 30.25 days with a dose every 12 h is 60.5 doses, not a whole number "
         "(got 30.25; expected a whole number of 12 h intervals (30 or 30.5 days), or give `doses`)"),
    ],
)
def test_fractional_lengths_are_refused_naming_the_key(tmp_path, replace, message):
    assert error_of(tmp_path, MINIMAL.replace(*replace), ScheduleError) == message


def test_half_days_of_twice_daily_doses_are_whole(tmp_path):
    text = MINIMAL.replace('interval = "24 h"\ndays = 30', 'interval = "12 h"\ndays = 30.5')
    assert len(load_scenario(write(tmp_path, text)).schedule.lower()) == 61


def test_three_holds_planned_amounts_of_the_held_doses():
    # Holds 2 and 3 interrupt the 300 mg step of the previous ladder: their doses were planned at 300 mg.
    table = load_scenario(ROOT / "scenarios" / "gist-rash-three-holds.toml").schedule.lower()
    np.testing.assert_array_equal(table.planned[28:31], [400] * 3)  # days 29-31
    np.testing.assert_array_equal(table.planned[45:52], [300] * 7)  # days 46-52
    np.testing.assert_array_equal(table.planned[66:80], [300] * 14)  # days 67-80


def test_running_moved_to_runner__the_old_names_still_work():
    """Reading (imapk.scenario) and running (imapk.runner) are separate modules; scripts importing
    run_scenario, rerun, provenance or check_population from imapk.scenario keep working."""
    import imapk
    import imapk.runner
    import imapk.scenario

    for name in ("run_scenario", "rerun", "provenance", "check_population"):
        assert getattr(imapk.scenario, name) is getattr(imapk.runner, name)
    assert imapk.run_scenario is imapk.runner.run_scenario
