"""Scenario keys of the random dosing processes: ``[adherence]`` and ``[[toxicity]]``.

Each key is read into the object that :mod:`imapk.processes` builds from the same values (compared
with ``==`` on the frozen dataclasses: exact); bad values give one-line :class:`ImapkError`\\ s whose
key is the TOML key; combinations that :func:`imapk.processes.realise` could not realise for every
patient are refused when the file is read.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from imapk.errors import ImapkError, ScenarioError, UnitError
from imapk.processes import (
    AdherenceLevel,
    HoldLength,
    IndependentMisses,
    MarkovMisses,
    ToxicityProcess,
    Weibull,
    realise,
)
from imapk.schedule import HELD, MISSED, Hold, LadderStep, Phase, Schedule
from imapk.scenario import load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "x.toml"

BASE = """\
[scenario]
title = "t"
seed = 20260101

[model]
parameter_set = "widmer2006"

[[schedule.phases]]
dose = "400 mg"
days = 120
"""

TOXICITY = """
[[toxicity]]
label = "rash"
first = { probability = 0.068, by_day = 365, shape = 1.0 }
recurrence = { scale = "40 d", shape = 1.0 }
hold = { days = 14 }
restart = [ { dose = "200 mg", days = 7 }, { dose = "300 mg", days = 56 } ]
management = "hold"
discontinue_after = 3
"""


def parse(text: str):
    return parse_scenario(text, SOURCE)


def error_of(text: str, kind: type = ImapkError) -> ImapkError:
    """The error of reading `text`: one line, naming the file."""
    with pytest.raises(kind) as info:
        parse(text)
    error = info.value
    assert "\n" not in str(error)
    assert error.source == SOURCE and str(error).startswith(f"{SOURCE}: {error.key}: ")
    return error


def toxicity(**keys: str) -> str:
    """A [[toxicity]] entry: the defaults below, with `keys` replaced (a value None leaves the key out)."""
    entry = {"label": "'rash'", "first": "{ scale = '60 d' }", "hold": "{ days = 14 }"}
    entry.update(keys)
    return "\n[[toxicity]]\n" + "".join(f"{k} = {v}\n" for k, v in entry.items() if v is not None)


def adherence(**keys: str) -> str:
    return "\n[adherence]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items())


# ---------------------------------------------------------------- without the sections


def test_without_the_sections__no_process():
    scenario = parse(BASE)
    assert scenario.adherence is None and scenario.toxicity is None


@pytest.mark.parametrize("path", sorted(p for p in (ROOT / "scenarios").glob("*.toml") if "[sweep]" not in p.read_text()),
                         ids=lambda p: p.name)
def test_shipped_scenarios__no_process_unless_written(path):
    text = path.read_text()
    scenario = load_scenario(path)
    assert (scenario.adherence is None) == ("[adherence]" not in text)
    assert (scenario.toxicity is None) == ("[[toxicity]]" not in text)


def test_the_sections_change_nothing_else():
    plain = parse(BASE)
    with_processes = parse(BASE + adherence(model="'independent'", p_missed="0.1") + TOXICITY)
    for name in ("schedule", "population", "seed", "thresholds", "window", "dense_step", "dose_conversions",
                 "therapy_clocks", "solver", "parameter_set"):
        assert getattr(with_processes, name) == getattr(plain, name), name


# ---------------------------------------------------------------- [adherence]


def test_adherence__independent():
    assert parse(BASE + adherence(model="'independent'", p_missed="0.1")).adherence == IndependentMisses(p_missed=0.1)


def test_adherence__independent_with_a_level():
    scenario = parse(BASE + adherence(model="'independent'", level="{ mean = 0.9, sd = 0.08 }"))
    assert scenario.adherence == IndependentMisses(level=AdherenceLevel(mean=0.9, sd=0.08))


def test_adherence__markov():
    text = BASE + adherence(model="'markov'", p_remain_adherent="0.95", p_become_adherent="0.6", start="'stationary'")
    assert parse(text).adherence == MarkovMisses(p_remain_adherent=0.95, p_become_adherent=0.6, start="stationary")


def test_adherence__markov_starts_adherent_by_default():
    text = BASE + adherence(model="'markov'", p_remain_adherent="0.95", p_become_adherent="0.6")
    assert parse(text).adherence.start == "adherent"  # as PKPDsim's new_adherence


def test_adherence__markov_with_a_level():
    text = BASE + adherence(model="'markov'", p_become_adherent="0.6", level="{ mean = 0.9, sd = 0.08 }")
    expected = MarkovMisses(p_become_adherent=0.6, level=AdherenceLevel(mean=0.9, sd=0.08))
    assert parse(text).adherence == expected


def test_adherence__integers_are_probabilities_too():
    assert parse(BASE + adherence(model="'independent'", p_missed="0")).adherence == IndependentMisses(p_missed=0.0)
    text = BASE + adherence(model="'markov'", p_remain_adherent="1", p_become_adherent="1")
    assert parse(text).adherence == MarkovMisses(1.0, 1.0)


MARKOV = {"model": "'markov'", "p_remain_adherent": "0.95", "p_become_adherent": "0.6"}


@pytest.mark.parametrize(
    "keys, key, problem",
    [
        ({"p_missed": "0.1"}, "adherence.model", "required key is missing"),
        ({"model": "'binomial'", "p_missed": "0.1"}, "adherence.model", "unknown adherence model"),
        ({"model": "1", "p_missed": "0.1"}, "adherence.model", "must be a string"),
        ({"model": "'independent'"}, "adherence.p_missed", "required key is missing"),
        ({"model": "'independent'", "p_missed": "1.2"}, "adherence.p_missed", "must be a probability"),
        ({"model": "'independent'", "p_missed": "-0.1"}, "adherence.p_missed", "must be a probability"),
        ({"model": "'independent'", "p_missed": "'10 %'"}, "adherence.p_missed", "must be a number"),
        ({"model": "'independent'", "p_missed": "true"}, "adherence.p_missed", "must be a number"),
        ({"model": "'independent'", "p_missed": "nan"}, "adherence.p_missed", "must be finite"),
        ({"model": "'independent'", "p_miss": "0.1"}, "adherence.p_miss", "unknown key"),
        ({"model": "'independent'", "p_missed": "0.1", "start": "'adherent'"}, "adherence.start",
         "applies to model 'markov' only"),
        ({"model": "'independent'", "p_missed": "0.1", "level": "{ mean = 0.9, sd = 0.08 }"}, "adherence.p_missed",
         "is replaced per patient by `level` (this value would be ignored)"),
        ({**MARKOV, "p_missed": "0.1"}, "adherence.p_missed", "applies to model 'independent' only"),
        ({**MARKOV, "p_become_adherent": "0"}, "adherence.p_become_adherent", "must be a probability"),
        ({**MARKOV, "p_remain_adherent": "1.01"}, "adherence.p_remain_adherent", "must be a probability"),
        ({"model": "'markov'", "p_remain_adherent": "0.95"}, "adherence.p_become_adherent", "required key is missing"),
        ({"model": "'markov'", "p_become_adherent": "0.6"}, "adherence.p_remain_adherent", "required key is missing"),
        ({**MARKOV, "start": "'random'"}, "adherence.start", "unknown start of the chain"),
        ({**MARKOV, "level": "{ mean = 0.9, sd = 0.08 }"}, "adherence.p_remain_adherent",
         "is replaced per patient by `level` (this value would be ignored)"),
        ({**MARKOV, "level": "0.9"}, "adherence.level", "must be a table"),
        ({"model": "'independent'", "level": "{ mean = 0.9 }"}, "adherence.level.sd", "required key is missing"),
        ({"model": "'independent'", "level": "{ sd = 0.08 }"}, "adherence.level.mean", "required key is missing"),
        ({"model": "'independent'", "level": "{ mean = 1.0, sd = 0.08 }"}, "adherence.level.mean",
         "must be a probability"),
        ({"model": "'independent'", "level": "{ mean = 0.9, sd = 0 }"}, "adherence.level.sd", "a beta distribution"),
        # a beta distribution's sd is below sqrt(mean (1 - mean)) = 0.3 at mean 0.9
        ({"model": "'independent'", "level": "{ mean = 0.9, sd = 0.3 }"}, "adherence.level.sd", "a beta distribution"),
        ({"model": "'independent'", "level": "{ mean = 0.9, sd = '8 %' }"}, "adherence.level.sd", "must be a number"),
        ({"model": "'independent'", "level": "{ mean = 0.9, sd = 0.08, median = 0.95 }"}, "adherence.level.median",
         "unknown key"),
    ],
)
def test_adherence__bad_values(keys, key, problem):
    error = error_of(BASE + adherence(**keys))
    assert error.key == key
    assert error.problem.startswith(problem)


def test_adherence__unknown_key_lists_the_known_ones():
    error = error_of(BASE + adherence(model="'markov'", p_remain="0.9"))
    assert error.expected == (
        "one of: late, level, model, p_become_adherent, p_missed, p_remain_adherent, start"
    )


def test_adherence__not_a_table():
    error = error_of(BASE.replace("[model]", "adherence = 'markov'\n[model]"))
    # a top-level `adherence = ...` after [scenario] belongs to [scenario]
    assert error.key == "scenario.adherence" and error.problem == "unknown key"
    error = error_of("adherence = 'markov'\n" + BASE)
    assert error.key == "adherence" and error.problem == "must be a table"


# ---------------------------------------------------------------- [[toxicity]]


def test_toxicity__the_full_example():
    expected = ToxicityProcess(
        label="rash",
        first=Weibull.from_probability(0.068, by_days=365.0, shape=1.0),
        recurrence=Weibull(scale=40.0, shape=1.0),
        hold=HoldLength("fixed", 14),
        restart=(LadderStep(200.0, 7), LadderStep(300.0, 56)),
        management="hold",
        discontinue_after=3,
    )
    assert parse(BASE + TOXICITY).toxicity == expected


def test_toxicity__probability_by_a_day_is_that_cumulative_hazard():
    """Park 2016's 6.8 %, read as a probability by day 365 (an assumption of the scenario; the end of day 365 = 365 d after the first dose): H(365 d) = -log(1 - p),
    to rounding (rel 1e-14)."""
    hazard = parse(BASE + TOXICITY).toxicity.first
    assert hazard.cumulative(365.0) == pytest.approx(-math.log(1.0 - 0.068), rel=1e-14)
    shaped = parse(BASE + toxicity(first="{ probability = 0.2, by_day = 90, shape = 1.5 }")).toxicity.first
    assert shaped.shape == 1.5
    assert 1.0 - math.exp(-shaped.cumulative(90.0)) == pytest.approx(0.2, rel=1e-14)


@pytest.mark.parametrize("text, days", [("'60 d'", 60.0), ("'1440 h'", 60.0), ("'2 wk'", 14.0), ("'36 h'", 1.5)])
def test_toxicity__scale_is_a_time_with_a_unit(text, days):
    scenario = parse(BASE + toxicity(first=f"{{ scale = {text}, shape = 1.5 }}"))
    assert scenario.toxicity.first == Weibull(scale=days, shape=1.5)


def test_toxicity__defaults():
    process = parse(BASE + toxicity()).toxicity
    assert process == ToxicityProcess(label="rash", first=Weibull(60.0), hold=HoldLength("fixed", 14))
    assert process.first.shape == 1.0 and process.recurrence is None and process.restart == ()
    assert process.management == "hold" and process.discontinue_after is None


@pytest.mark.parametrize(
    "hold, expected",
    [
        ("{ days = 14 }", HoldLength("fixed", 14)),
        ("{ low = '3 d', high = '14 d' }", HoldLength("uniform", 3, 14)),
        ("{ low = '72 h', high = '2 wk' }", HoldLength("uniform", 3, 14)),
        ("{ low = '7 d', high = '7 d' }", HoldLength("uniform", 7, 7)),
    ],
)
def test_toxicity__hold_lengths(hold, expected):
    assert parse(BASE + toxicity(hold=hold)).toxicity.hold == expected


def test_toxicity__steroids_need_no_hold():
    process = parse(BASE + toxicity(hold=None, management="'steroids'")).toxicity
    assert process == ToxicityProcess(label="rash", first=Weibull(60.0), management="steroids")


def test_toxicity__restart_ladder_as_a_holds():
    """The ladder reads as [[schedule.holds]]'s restart: arrays of doses, and mesylate recorded."""
    text = BASE + toxicity(restart="[ { dose = ['200 mg', '100 mg'], days = 7 }, { dose = '358.5 mg mesylate', days = 14 } ]")
    scenario = parse(text)
    planned = parse(BASE + "[[schedule.holds]]\nstart_day = 10\ndays = 3\n"
                    "restart = [ { dose = ['200 mg', '100 mg'], days = 7 }, { dose = '358.5 mg mesylate', days = 14 } ]\n")
    assert scenario.toxicity.restart == planned.schedule.holds[0].restart
    assert scenario.toxicity.restart[0] == LadderStep((200.0, 100.0), 7)
    # 358.5 mg mesylate x 493.6 / 589.7 = 300.1 mg free base (the molar masses of imatinib and its mesylate)
    assert scenario.toxicity.restart[1].dose == (pytest.approx(358.5 * 493.6 / 589.7, rel=1e-3),)
    assert len(scenario.dose_conversions) == 1
    assert scenario.dose_conversions[0].startswith("toxicity[0].restart[1].dose: '358.5 mg mesylate'")


@pytest.mark.parametrize("text, above", [("'1500 ng/mL'", 1500.0), ("'1.5 mg/L'", 1500.0), ("'1.5 ug/mL'", 1500.0)])
def test_toxicity__exposure_effect(text, above):
    from imapk.processes.toxicity import ExposureEffect

    process = parse(BASE + toxicity(exposure=f"{{ above = {text}, factor = 2 }}")).toxicity
    assert process.exposure == ExposureEffect(above=above, factor=2.0)
    assert parse(BASE + toxicity()).toxicity.exposure is None


def test_toxicity__no_entry_is_no_process():
    assert parse("toxicity = []\n" + BASE).toxicity is None


@pytest.mark.parametrize(
    "keys, key, problem, kind",
    [
        ({"label": None}, "toxicity[0].label", "required key is missing", ScenarioError),
        ({"label": "''"}, "toxicity[0].label", "a toxicity needs a name", ScenarioError),
        ({"label": "3"}, "toxicity[0].label", "must be a string", ScenarioError),
        ({"grade": "3"}, "toxicity[0].grade", "unknown key", ScenarioError),
        ({"first": None}, "toxicity[0].first", "required key is missing", ScenarioError),
        ({"first": "'60 d'"}, "toxicity[0].first", "must be a table", ScenarioError),
        ({"first": "{ probability = 1.0, by_day = 365 }"}, "toxicity[0].first.probability", "must be a probability",
         ScenarioError),
        ({"first": "{ probability = 0, by_day = 365 }"}, "toxicity[0].first.probability", "must be a probability",
         ScenarioError),
        ({"first": "{ probability = '6.8 %', by_day = 365 }"}, "toxicity[0].first.probability", "must be a number",
         ScenarioError),
        ({"first": "{ probability = 0.1 }"}, "toxicity[0].first.by_day", "required key is missing", ScenarioError),
        ({"first": "{ probability = 0.1, by_day = 0 }"}, "toxicity[0].first.by_day", "out of range", ScenarioError),
        ({"first": "{ probability = 0.1, by_day = 36.5 }"}, "toxicity[0].first.by_day", "must be a whole number",
         ScenarioError),
        ({"first": "{ probability = 0.1, by_day = 365, scale = '60 d' }"}, "toxicity[0].first",
         "give either `probability` with `by_day`, or `scale`", ScenarioError),
        ({"first": "{ shape = 1.5 }"}, "toxicity[0].first", "give either `probability` with `by_day`, or `scale`",
         ScenarioError),
        ({"first": "{ scale = 60 }"}, "toxicity[0].first.scale", "a time needs a unit", UnitError),
        ({"first": "{ scale = '60 mg' }"}, "toxicity[0].first.scale", "'mg' is a mass unit", UnitError),
        ({"first": "{ scale = '0 d' }"}, "toxicity[0].first.scale", "must be positive", ScenarioError),
        ({"first": "{ scale = '60 d', shape = 0 }"}, "toxicity[0].first.shape", "a Weibull shape outside the plausible range", ScenarioError),
        ({"first": "{ scale = '60 d', shape = '1' }"}, "toxicity[0].first.shape", "must be a number", ScenarioError),
        ({"first": "{ rate = '0.01 1/d' }"}, "toxicity[0].first.rate", "unknown key", ScenarioError),
        ({"recurrence": "{ probability = 0.1, by_day = 30 }"}, "toxicity[0].recurrence.probability",
         "a recurrence's hazard is given by its `scale`", ScenarioError),
        ({"recurrence": "{ scale = 40 }"}, "toxicity[0].recurrence.scale", "a time needs a unit", UnitError),
        ({"hold": None}, "toxicity[0].hold", "required key is missing", ScenarioError),
        ({"hold": "14"}, "toxicity[0].hold", "must be a table", ScenarioError),
        ({"hold": "{ days = 0 }"}, "toxicity[0].hold.days", "out of range", ScenarioError),
        ({"hold": "{ days = 14.5 }"}, "toxicity[0].hold.days", "must be a whole number", ScenarioError),
        ({"hold": "{ days = '14 d' }"}, "toxicity[0].hold.days", "must be a whole number", ScenarioError),
        ({"hold": "{ low = '14 d', high = '3 d' }"}, "toxicity[0].hold.high", "must not be below `low`",
         ScenarioError),
        ({"hold": "{ low = '3 d' }"}, "toxicity[0].hold.high", "required key is missing", ScenarioError),
        ({"hold": "{ high = '3 d' }"}, "toxicity[0].hold.low", "required key is missing", ScenarioError),
        ({"hold": "{ low = '36 h', high = '3 d' }"}, "toxicity[0].hold.low", "a hold lasts a whole number of days",
         ScenarioError),
        ({"hold": "{ low = '0 d', high = '3 d' }"}, "toxicity[0].hold.low", "a hold lasts a whole number of days",
         ScenarioError),
        ({"hold": "{ low = 3, high = 14 }"}, "toxicity[0].hold.low", "a time needs a unit", UnitError),
        ({"hold": "{ days = 14, high = '3 d' }"}, "toxicity[0].hold", "give either `days`", ScenarioError),
        ({"hold": "{ length = 14 }"}, "toxicity[0].hold.length", "unknown key", ScenarioError),
        ({"restart": "[ { dose = 200, days = 7 } ]"}, "toxicity[0].restart[0].dose", "a mass needs a unit",
         UnitError),
        ({"restart": "[ { dose = '200 mL', days = 7 } ]"}, "toxicity[0].restart[0].dose", "'mL' is a volume unit", UnitError),
        ({"restart": "[ { dose = '2000 g', days = 7 } ]"}, "toxicity[0].restart[0].dose", "implausible imatinib dose",
         ScenarioError),
        ({"restart": "[ { dose = '200 mg', days = 0 } ]"}, "toxicity[0].restart[0].days", "must be a positive number",
         ImapkError),
        ({"restart": "[ { dose = '200 mg', days = '7 d' } ]"}, "toxicity[0].restart[0].days", "must be a number",
         ScenarioError),
        ({"restart": "[ { dose = '200 mg', days = 3.5 } ]"}, "toxicity[0].restart[0].days",
         "a ladder step of 3.5 days is not a whole number of days", ScenarioError),
        ({"restart": "[ { dose = '200 mg', weeks = 1 } ]"}, "toxicity[0].restart[0].weeks", "unknown key",
         ScenarioError),
        ({"restart": "{ dose = '200 mg', days = 7 }"}, "toxicity[0].restart", "must be an array of tables",
         ScenarioError),
        ({"management": "'reduce'"}, "toxicity[0].management", "unknown management", ScenarioError),
        ({"management": "'steroids'"}, "toxicity[0].hold", "steroid management treats the event without", ScenarioError),
        ({"management": "'steroids'", "hold": None, "restart": "[ { dose = '200 mg', days = 7 } ]"},
         "toxicity[0].restart", "steroid management treats the event without", ScenarioError),
        ({"exposure": "{ above = 1500, factor = 2.0 }"}, "toxicity[0].exposure.above", "a concentration needs a unit",
         UnitError),
        ({"exposure": "{ above = '0 ng/mL', factor = 2.0 }"}, "toxicity[0].exposure.above",
         "must be a positive concentration", ScenarioError),
        ({"exposure": "{ above = '1500 ng/mL', factor = 0 }"}, "toxicity[0].exposure.factor",
         "must be a positive hazard ratio", ScenarioError),
        ({"exposure": "{ above = '1500 ng/mL', factor = '2x' }"}, "toxicity[0].exposure.factor", "must be a number",
         ScenarioError),
        ({"exposure": "{ above = '1500 ng/mL' }"}, "toxicity[0].exposure.factor", "required key is missing",
         ScenarioError),
        ({"exposure": "{ trough = '1500 ng/mL', factor = 2.0 }"}, "toxicity[0].exposure.trough", "unknown key",
         ScenarioError),
        ({"exposure": "2.0"}, "toxicity[0].exposure", "must be a table", ScenarioError),
        ({"discontinue_after": "0"}, "toxicity[0].discontinue_after", "out of range", ScenarioError),
        ({"discontinue_after": "1.5"}, "toxicity[0].discontinue_after", "must be a whole number", ScenarioError),
        ({"discontinue_after": "2"}, "toxicity[0].discontinue_after", "without `recurrence` a patient has one event",
         ScenarioError),
    ],
)
def test_toxicity__bad_values(keys, key, problem, kind):
    error = error_of(BASE + toxicity(**keys), kind)
    assert error.key == key
    assert error.problem.startswith(problem), error.problem


def test_toxicity__unknown_key_lists_the_known_ones():
    error = error_of(BASE + toxicity(grade="3"))
    assert error.expected == (
        "one of: discontinue_after, exposure, first, hold, label, management, recurrence, restart"
    )


def test_toxicity__the_example_messages():
    """Two messages in full, as a user sees them."""
    assert str(error_of(BASE + toxicity(hold="{ low = '14 d', high = '3 d' }"))) == (
        "x.toml: toxicity[0].hold.high: must not be below `low` (got '3 d'; expected at least '14 d')"
    )
    assert str(error_of(BASE + adherence(model="'markov'", p_remain_adherent="1.5", p_become_adherent="0.6"))) == (
        "x.toml: adherence.p_remain_adherent: must be a probability (got 1.5; expected a number in [0, 1])"
    )


def test_toxicity__one_process_per_scenario():
    error = error_of(BASE + toxicity() + toxicity(label="'neutropenia'"))
    assert error.key == "toxicity[1]"
    assert error.problem == "one toxicity process per scenario for now"


def test_toxicity__a_table_not_an_array():
    error = error_of(BASE + "\n[toxicity]\nlabel = 'rash'\n")
    assert error.key == "toxicity" and error.problem == "must be an array of tables"
    assert error.expected == "[[toxicity]] entries"


def test_errors_name_the_file_when_loaded(tmp_path):
    path = tmp_path / "processes.toml"
    path.write_text(BASE + toxicity(hold="{ days = 0 }"), encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value).startswith(f"{path}: toxicity[0].hold.days: out of range")


# ---------------------------------------------------------------- seed


@pytest.mark.parametrize("section", [adherence(model="'independent'", p_missed="0.1"), toxicity()])
def test_processes_need_a_seed(section):
    error = error_of(BASE.replace("seed = 20260101\n", "") + section, ScenarioError)
    assert error.key == "scenario.seed"
    assert error.problem == "random dosing processes need a seed"


def test_the_population_seed_serves_the_processes():
    text = BASE.replace("seed = 20260101\n", "") + "\n[population]\nsize = 10\nseed = 7\n" + toxicity()
    scenario = parse(text)
    assert scenario.seed == 7 and scenario.toxicity is not None


# ---------------------------------------------------------------- schedules the processes can realise

#: A toxicity that strikes every patient in the first days, again soon after each restart, and
#: discontinues at the third event: the holds fall on every part of a schedule.
FREQUENT = toxicity(first="{ scale = '5 d' }", recurrence="{ scale = '10 d' }", hold="{ low = '1 d', high = '9 d' }",
                    restart="[ { dose = '200 mg', days = 2 }, { dose = '300 mg', days = 3 } ]", discontinue_after="3")


def realised(scenario, n=300):
    return realise(scenario.schedule, range(n), scenario.seed, toxicity=scenario.toxicity,
                   adherence=scenario.adherence)


def test_drawn_holds_over_a_planned_hold_hold_the_union_of_their_days():
    """Drawn 14-day holds over a planned 14-day hold (days 20-33): every patient's held doses are the
    union of the planned days and its drawn holds' days (worked out here from the events, as the
    overlay's rule states), and the planned hold's days are held for every patient."""
    schedule = Schedule(phases=(Phase(dose=400, days=120),), holds=(Hold(start_day=20, days=14),))
    process = ToxicityProcess(first=Weibull(15.0), hold=HoldLength("fixed", 14))
    doses = realise(schedule, range(300), 1, toxicity=process)
    overlapping = 0
    for i, e in enumerate(doses.events):
        held = set(range(20, 34))
        for start, days in zip(e.hold_start_day, e.hold_days):
            drawn = set(range(start, min(start + days, 121)))
            overlapping += bool(drawn & set(range(20, 34)))
            held |= drawn
        assert set(np.flatnonzero(doses.status[i] == HELD) + 1) == held, i
    assert overlapping > 20


def test_toxicity_holds_with_planned_holds_and_misses__read():
    text = BASE.replace("[[schedule.phases]]", "[schedule]\nmissed_days = [40]\n\n[[schedule.phases]]")
    scenario = parse(text + "[[schedule.holds]]\nstart_day = 20\ndays = 14\n" + toxicity())
    doses = realised(scenario, 100)
    assert np.all(doses.status[:, 19:33] == HELD)
    in_drawn = [any(s <= 40 < s + d for s, d in zip(e.hold_start_day, e.hold_days)) for e in doses.events]
    assert np.array_equal(doses.status[:, 39] == HELD, np.array(in_drawn))  # else the planned miss stays
    assert any(in_drawn) and np.all(doses.status[~np.array(in_drawn), 39] == MISSED)


def test_steroid_management_with_planned_holds__allowed_and_realised():
    """Events treated without interruption change no dose: the planned hold is every patient's only one."""
    text = BASE + "[[schedule.holds]]\nstart_day = 20\ndays = 14\n" + toxicity(
        first="{ scale = '5 d' }", recurrence="{ scale = '10 d' }", hold=None, management="'steroids'")
    scenario = parse(text)
    doses = realised(scenario, 50)
    assert all(len(e.time) > 1 for e in doses.events)  # events were drawn
    assert np.array_equal(doses.given, np.repeat(scenario.schedule.lower().given[None, :], 50, axis=0))


def test_adherence_with_planned_holds_and_misses__allowed():
    """Drawn misses apply to the doses still given: planned holds and misses stay as planned."""
    text = BASE.replace("[[schedule.phases]]", "[schedule]\nmissed_days = [30]\n\n[[schedule.phases]]")
    text += "[[schedule.holds]]\nstart_day = 20\ndays = 5\n" + adherence(model="'independent'", p_missed="0.3")
    scenario = parse(text)
    doses = realised(scenario, 100)
    assert np.all(doses.status[:, 19:24] == HELD) and np.all(doses.status[:, 29] == MISSED)
    assert 0.2 < np.mean(doses.status == MISSED) < 0.4


@pytest.mark.parametrize(
    "phases",
    [
        "[[schedule.phases]]\ndose = '400 mg'\ninterval = '18 h'\ndays = 36",
        "[[schedule.phases]]\ndose = '400 mg'\ninterval = '48 h'\ndays = 60",
        "[[schedule.phases]]\ndose = '400 mg'\ninterval = '1 wk'\ndays = 70",
        "[[schedule.phases]]\ndose = '400 mg'\ninterval = '12 h'\ndays = 60.5",
        "[[schedule.phases]]\ndose = '400 mg'\ninterval = '12 h'\ndoses = 121",
    ],
    ids=["18 h", "48 h", "weekly", "60.5 days", "121 doses q12h"],
)
def test_toxicity_holds_need_whole_days_of_doses(phases):
    """Drawn holds last whole days: a schedule whose days do not hold whole numbers of doses, or that ends
    inside a day, is refused when read (realise would refuse some patients' holds at run time)."""
    text = BASE.split("[[schedule.phases]]")[0] + phases + "\n" + toxicity()
    error = error_of(text, ScenarioError)
    assert error.key == "toxicity[0]"
    assert error.problem.startswith("the drawn events hold or discontinue therapy for whole days")


def test_toxicity_on_a_schedule_ending_inside_a_day_would_fail_at_realisation():
    """Why the schedule of whole days is required: a discontinuation cut at the last day runs past the end."""
    schedule = Schedule(phases=(Phase(dose=400, interval=12, days=60.5),))
    process = ToxicityProcess(first=Weibull(5.0), hold=HoldLength("fixed", 3), discontinue_after=1)
    with pytest.raises(ImapkError, match="ends after the schedule"):
        realise(schedule, range(300), 1, toxicity=process)


def test_toxicity_steroids_on_any_schedule():
    text = BASE.split("[[schedule.phases]]")[0] + "[[schedule.phases]]\ndose = '400 mg'\ninterval = '1 wk'\ndays = 70\n"
    assert parse(text + toxicity(hold=None, management="'steroids'")).toxicity.management == "steroids"


def test_ladder_steps_must_be_whole_in_every_phase():
    """3.5 days is 7 doses every 12 h but half a day of daily doses: refused when a daily phase exists."""
    twice_daily = BASE.split("[[schedule.phases]]")[0] + "[[schedule.phases]]\ndose = '400 mg'\ninterval = '12 h'\ndays = 60\n"
    ladder = "[ { dose = '200 mg', days = 3.5 } ]"
    assert parse(twice_daily + toxicity(restart=ladder)).toxicity.restart == (LadderStep(200.0, 3.5),)
    mixed = twice_daily + "[[schedule.phases]]\ndose = '400 mg'\ndays = 60\n"
    error = error_of(mixed + toxicity(restart=ladder), ScenarioError)
    assert error.key == "toxicity[0].restart[0].days"


@pytest.mark.parametrize(
    "schedule",
    [
        "[[schedule.phases]]\ndose = '400 mg'\ndays = 120\n",
        "[[schedule.phases]]\ndose = '400 mg'\ninterval = '12 h'\ndays = 60\n",
        "[[schedule.phases]]\ndose = '400 mg'\ndays = 30\n[[schedule.phases]]\ndose = ['400 mg', '200 mg']\n"
        "interval = '12 h'\ndays = 30\n[[schedule.phases]]\ndose = '300 mg'\ninterval = '8 h'\ndays = 30\n",
        "[schedule.steady_state]\ndose = '400 mg'\n[[schedule.phases]]\ndose = '400 mg'\ndays = 60\n",
    ],
    ids=["daily", "q12h", "daily-q12h-q8h", "steady state"],
)
def test_accepted_schedules_realise_for_every_patient(schedule):
    """Whatever each of 300 patients draws (up to 3 events with holds of 1-9 days, anywhere in the
    schedule), realise succeeds on an accepted scenario, and every patient's holds are whole days of doses."""
    text = BASE.split("[[schedule.phases]]")[0] + schedule + FREQUENT + adherence(model="'independent'", p_missed="0.05")
    scenario = parse(text)
    doses = realised(scenario)
    assert sum(len(e.time) for e in doses.events) > 300  # most patients have several events
    assert any(e.discontinued for e in doses.events)
    per_day = np.bincount(np.floor(doses.table.time / 24.0).astype(int))
    for i, patient in enumerate(doses.events):
        held = doses.status[i] == HELD
        expected = sum(per_day[s - 1 : s - 1 + d].sum() for s, d in zip(patient.hold_start_day, patient.hold_days))
        assert held.sum() == expected


def test_a_run_simulates_the_doses_the_keys_describe():
    """run_scenario on a scenario with both sections gives each patient the doses realise() draws from the
    objects read (statuses equal exactly)."""
    from imapk.runner import run_scenario

    text = BASE.replace("days = 120", "days = 90") + "\n[population]\nsize = 20\n[output]\ndense = false\n"
    text += toxicity(first="{ scale = '30 d' }", hold="{ low = '3 d', high = '14 d' }",
                     restart="[ { dose = '300 mg', days = 14 } ]")
    text += adherence(model="'markov'", p_remain_adherent="0.9", p_become_adherent="0.5")
    scenario = parse(text)
    ds = run_scenario(scenario)
    doses = realise(scenario.schedule, range(20), scenario.seed, toxicity=scenario.toxicity,
                    adherence=scenario.adherence)
    assert np.array_equal(ds["subject_dose_status"].values, doses.status)
    assert np.any(doses.status == HELD) and np.any(doses.status == MISSED)


def test_the_per_patient_table_shows_each_patients_history():
    """The per-patient verdict table of a population with drawn doses counts each patient's held and missed
    doses and toxicity events: checked against the doses realise() draws (held doses counted from their
    reason labels, a different route from the statuses) and the events drawn."""
    from imapk.report import patient_table
    from imapk.runner import run_scenario

    text = BASE.replace("days = 120", "days = 90") + "\n[population]\nsize = 12\n[output]\ndense = false\n"
    text += "\n[verdict]\nthresholds = ['gist']\n"
    text += toxicity(first="{ scale = '30 d' }", recurrence="{ scale = '30 d' }", hold="{ days = 5 }",
                     discontinue_after="3")
    text += adherence(model="'independent'", p_missed="0.1")
    scenario = parse(text)
    table = patient_table(run_scenario(scenario))
    doses = realise(scenario.schedule, range(12), scenario.seed, toxicity=scenario.toxicity,
                    adherence=scenario.adherence)
    labels = np.asarray(doses.reasons)[doses.reason]
    held = np.char.find(labels.astype(str), "hold").__ge__(0) | np.char.find(labels.astype(str), "discontinu").__ge__(0)
    assert np.array_equal(table["held doses [doses]"], held.sum(axis=1))
    assert np.array_equal(table["missed doses [doses]"], (labels == "missed").sum(axis=1))
    assert np.array_equal(table["toxicity events [events]"], [len(e.time) for e in doses.events])
    assert np.array_equal(table["discontinued"], [e.discontinued for e in doses.events])
    assert table["toxicity events [events]"].any() and table["missed doses [doses]"].any()


def test_each_patients_events_are_in_the_result():
    """toxicity_event_time and toxicity_event_hold_days hold the events realise() draws, patient by
    patient, NaN after the last; steroid management holds for 0 days."""
    from imapk.runner import run_scenario

    base = BASE.replace("days = 120", "days = 90") + "\n[population]\nsize = 15\n[output]\ndense = false\n"
    for management in ("hold", "steroids"):
        keys = {"hold": None} if management == "steroids" else {"discontinue_after": "3"}
        text = base + toxicity(first="{ scale = '30 d' }", recurrence="{ scale = '30 d' }",
                               management=f"'{management}'", **keys)
        scenario = parse(text)
        ds = run_scenario(scenario)
        events = realise(scenario.schedule, range(15), scenario.seed, toxicity=scenario.toxicity).events
        time, days = ds["toxicity_event_time"].values, ds["toxicity_event_hold_days"].values
        assert time.shape == (15, max(len(e.time) for e in events)) and ds["toxicity_event_time"].attrs["units"] == "d"
        for i, e in enumerate(events):
            k = len(e.time)
            assert time[i, :k].tolist() == list(e.time) and days[i, :k].tolist() == list(e.hold_days)
            assert np.isnan(time[i, k:]).all() and np.isnan(days[i, k:]).all()
        if management == "steroids":
            assert np.nansum(days) == 0 and np.isfinite(time).sum() > 15


def test_events_of_two_models_stack_along_model():
    """With an exposure-dependent hazard each model's patients draw their own events (on their own
    troughs): the two-model run holds, per model, the events and dose reasons of that model run alone,
    the model with fewer events at most padded with NaN (this stacking failed on the models' different
    hold labels before)."""
    from imapk.runner import run_scenario

    text = BASE.replace("days = 120", "days = 60") + "\n[population]\nsize = 30\n[output]\ndense = false\n"
    text += toxicity(first="{ scale = '40 d' }", recurrence="{ scale = '20 d' }", hold="{ days = 5 }",
                     exposure="{ above = '1200 ng/mL', factor = 3 }")
    models = ("widmer2006", "golabchifar2014")
    both = run_scenario(parse(text.replace('"widmer2006"', str(list(models)))))
    width = both.sizes["toxicity_event"]
    for m, name in enumerate(models):
        own = run_scenario(parse(text.replace('"widmer2006"', f'"{name}"')))
        alone = own["toxicity_event_time"].values
        assert alone.shape[1] <= width
        # the reasons: each dose's label is the one the model alone gives it (the labels are renumbered)
        labels = both["reason"].values[both["subject_dose_reason"].values[m]]
        np.testing.assert_array_equal(labels, own["reason"].values[own["subject_dose_reason"].values])
        np.testing.assert_array_equal(both["toxicity_event_time"].values[m, :, :alone.shape[1]], alone)
        assert np.isnan(both["toxicity_event_time"].values[m, :, alone.shape[1]:]).all()
