"""`[[policy]]` in scenario files: parsed into the policy objects, refused clearly, and run.

The run is checked against an independent path: a patient the day-29 policy escalates has the troughs
of a plain two-phase schedule (400 mg for 28 days, then 600 mg) simulated with that patient's
parameters."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from imapk import simulate
from imapk.errors import ScenarioError
from imapk.params import ParameterTable
from imapk.processes.policies import DoseCap, TroughEscalation
from imapk.runner import run_scenario
from imapk.scenario import parse_scenario
from imapk.schedule import Phase, Schedule

BASE = """
[scenario]
title = "policy test"
seed = 11

[model]
parameter_set = "widmer2006"

[population]
size = 40

[[schedule.phases]]
dose = "400 mg"
days = 60

[verdict]
thresholds = ["gist"]
"""

TDM = """
[[policy]]
kind = "trough_escalation"
day = 29
below = "gist"
dose = "600 mg"
assay = false
"""

RASH = """
[[toxicity]]
label = "rash"
first = { scale = "20 d", shape = 1.0 }
recurrence = { scale = "20 d" }
hold = { days = 5 }
restart = [ { dose = "200 mg", days = 7 }, { dose = "300 mg", days = 7 } ]
discontinue_after = 4
"""


def scenario(extra: str):
    return parse_scenario(textwrap.dedent(BASE) + textwrap.dedent(extra), "s.toml")


def error(extra: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        scenario(extra)
    return caught.value


def test_policies_are_read_into_their_objects():
    s = scenario(TDM)
    assert s.policies == (TroughEscalation(day=29, below=1100.0, dose=600.0, assay=False),)
    s = scenario(RASH + '[[policy]]\nkind = "dose_cap"\nafter_events = 2\ndose = "300 mg"\n'
                 + '[[policy]]\nkind = "trough_escalation"\nday = 29\nbelow = "1000 ng/mL"\ndose = "500 mg"\n')
    assert s.policies == (DoseCap(events=2, dose=300.0), TroughEscalation(day=29, below=1000.0, dose=500.0, assay=True))
    assert scenario("").policies == ()


@pytest.mark.parametrize("extra, key, problem", [
    ('[[policy]]\nday = 29\n', "policy[0].kind", "required key is missing"),
    ('[[policy]]\nkind = "escalate"\n', "policy[0].kind", "unknown policy"),
    (TDM.replace("assay = false", "assay = false\nlevel = 3"), "policy[0].level", "unknown key"),
    (TDM.replace('"600 mg"', '"650 mg"'), "policy[0].dose", "made of tablets"),
    (TDM.replace("day = 29", "day = 1"), "policy[0].day", "after day 1"),
    (TDM.replace("day = 29", "day = 61"), "policy[0].day", "after day 1"),
    (TDM.replace('"gist"', '"1100 mg"'), "policy[0].below", ""),
    (TDM.replace('"gist"', '"toxicity_alarm"'), "policy[0].below", "toxicity ceiling"),
    (TDM.replace('"gist"', '"gistt"'), "policy[0].below", "nor a shipped trough target"),
    (TDM.replace("assay = false", 'assay = "no"'), "policy[0].assay", "true or false"),
    (TDM + TDM, "policy", "one trough-escalation policy"),
    ('[[policy]]\nkind = "dose_cap"\nafter_events = 2\ndose = "300 mg"\n', "policy[0].kind", "needs a [[toxicity]]"),
    (RASH + '[[policy]]\nkind = "dose_cap"\nafter_events = 4\ndose = "300 mg"\n', "policy[0].after_events",
     "therapy stops"),
    (RASH + '[[policy]]\nkind = "dose_cap"\nafter_events = 0\ndose = "300 mg"\n', "policy[0].after_events", ""),
])
def test_bad_policies_name_the_key(extra, key, problem):
    e = error(extra)
    assert e.key == key and problem in e.problem and e.source == "s.toml"


def test_messages_for_a_threshold_name_list_the_trough_targets():
    for name in ("toxicity_alarm", "gistt"):
        e = error(TDM.replace('"gist"', f'"{name}"'))
        assert "'gist' or 'cml'" in e.expected and name in str(e.got)


def test_an_assayed_measurement_needs_a_seed():
    text = textwrap.dedent(BASE).replace("seed = 11\n", "") + textwrap.dedent(TDM).replace("assay = false", "")
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text.replace("[population]\nsize = 40", "[population]\nsize = 1\niiv = false"), "s.toml")
    assert caught.value.key == "scenario.seed"


def test_escalated_patients_have_the_troughs_of_the_two_phase_schedule():
    ds = run_scenario(scenario(TDM))
    escalated = ds["tdm_escalated"].values
    measured = ds["tdm_trough_measured"].values
    assert escalated.any() and not escalated.all()
    np.testing.assert_array_equal(escalated, measured < 1100.0)
    np.testing.assert_array_equal(measured, ds["trough"].values[:, 28])  # assay = false: the model's trough
    two_phase = Schedule(phases=(Phase(dose=400, days=28), Phase(dose=600, days=32)))
    for i in np.flatnonzero(escalated)[:5]:
        params = ParameterTable(values={k: None if k not in ds else np.asarray(ds[k].values)[i:i + 1]
                                        for k in ("cl", "v", "ka", "d1", "f", "tlag")})
        alone = simulate(two_phase, params)
        np.testing.assert_allclose(ds["trough"].values[i], alone["trough"].values[0], rtol=1e-13, atol=0)
    for i in np.flatnonzero(~escalated)[:3]:
        assert np.all(ds["dose_given"].values[i] == 400.0)


def test_with_the_assay_the_measurement_is_the_observed_trough():
    text = TDM.replace("assay = false", "assay = true")
    s = scenario(text)
    ds = run_scenario(s)
    from imapk.population import observed

    # the assay value of the day-29 trough, drawn as imapk.population.observed draws it
    expected = observed(ds["trough"].values, s.models[0].residual, 11, np.arange(40))[0][:, 28]
    np.testing.assert_array_equal(ds["tdm_trough_measured"].values, expected)


def test_validate_and_run_say_what_is_drawn(tmp_path, capsys):
    from imapk.cli import main

    path = tmp_path / "s.toml"
    path.write_text(textwrap.dedent(BASE) + textwrap.dedent(RASH) + textwrap.dedent(TDM)
                    + '[adherence]\nmodel = "independent"\np_missed = 0.1\n')
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "drawn per patient: missed doses, each independently with probability 0.1" in out
    assert "drawn per patient: rash holds (first event Weibull scale 20 d, shape 1; recurrence scale 20 d;" in out
    assert "policy: TDM escalation to 600 mg (day 29 trough < 1100 ng/mL)" in out
    assert main(["run", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Schedule as written: 60 scheduled doses" in out and "Toxicity events: " in out


def test_the_exposure_forms_are_read_also_with_an_escalation():
    from imapk.processes.toxicity import ExposureEffect, ExposurePower

    step = scenario(RASH.replace("discontinue_after = 4", 'discontinue_after = 4\nexposure = { above = "3000 ng/mL", factor = 3.0 }'))
    assert step.toxicity.exposure == ExposureEffect(above=3000.0, factor=3.0)
    power = scenario(RASH.replace("discontinue_after = 4", 'discontinue_after = 4\nexposure = { reference = "1 mg/L", gamma = 1.5 }'))
    assert power.toxicity.exposure == ExposurePower(reference=1000.0, gamma=1.5)
    e = error(RASH.replace("discontinue_after = 4", 'discontinue_after = 4\nexposure = { reference = "1 mg/L", gamma = -1 }'))
    assert e.key == "toxicity[0].exposure.gamma"
    both = scenario(RASH.replace("discontinue_after = 4", 'discontinue_after = 4\nexposure = { above = "3000 ng/mL", factor = 3.0 }')
                    + TDM)  # run by tests/test_exposure_hazard.py
    assert both.policies == (TroughEscalation(day=29, below=1100.0, dose=600.0, assay=False),)


def test_a_patient_off_the_previous_dose_is_not_measured_nor_escalated():
    """Every patient has a rash on day 1 that stops therapy (discontinue_after = 1): no trough on day 29
    judges a dose, so no one is measured or escalated (their troughs are 0, which is 'below')."""
    stop = """
[[toxicity]]
label = "rash"
first = { scale = "0.001 d" }
hold = { days = 3 }
discontinue_after = 1
"""
    ds = run_scenario(scenario(stop + TDM))
    assert np.all(np.isnan(ds["tdm_trough_measured"].values)) and not ds["tdm_escalated"].values.any()
    assert np.all(ds["dose_given"].values[:, 1:] == 0.0)


GATE = """
[[policy]]
kind = "step_up_if_no_event"
days = 7
"""


def test_the_step_up_rule_is_read_and_refused_clearly():
    from imapk.processes.policies import StepUpIfNoEvent

    assert scenario(RASH + GATE).policies == (StepUpIfNoEvent(days=7),)
    for extra, key, problem in [
        (GATE, "policy[0].kind", "needs a [[toxicity]]"),  # no events to refer to
        (RASH + GATE.replace("days = 7", "days = 0"), "policy[0].days", ""),
        (RASH + GATE.replace("days = 7", "days = 2.5"), "policy[0].days", ""),
        (RASH + GATE.replace("days = 7", ""), "policy[0].days", "missing"),
        (RASH + GATE.replace("days = 7", "days = 7\nafter_events = 1"), "policy[0].after_events", "unknown key"),
        (RASH + GATE + GATE, "policy", "one step_up_if_no_event"),
    ]:
        e = error(extra)
        assert e.key == key and problem in e.problem and e.source == "s.toml", (extra, e)


def test_capped_patients_stay_capped_when_the_escalation_comes_after_the_cap():
    """Rash with a cap of 300 mg after the 1st event and a day-29 escalation to 600 mg for everyone
    below 5000 ng/mL (all patients): no dose after a patient's first hold exceeds 300 mg."""
    cap = '[[policy]]\nkind = "dose_cap"\nafter_events = 1\ndose = "300 mg"\n'
    tdm = TDM.replace('below = "gist"', 'below = "5000 ng/mL"')
    s = scenario(RASH + cap + tdm)
    ds = run_scenario(s)
    given = ds["subject_dose_given"].values if "subject_dose_given" in ds else ds["dose_given"].values
    starts = [e for e in np.asarray(ds["toxicity_event_count"].values)]
    assert any(starts) and ds["tdm_escalated"].values.any()
    from imapk.processes import realise

    doses = realise(s.schedule, range(40), s.seed, toxicity=s.toxicity)
    checked = 0
    for i, events in enumerate(doses.events):
        if events.time and events.hold_start_day[0] <= 28:
            assert np.all(given[i, events.hold_start_day[0] - 1:] <= 300.0), i
            checked += 1
    assert checked > 0


def test_a_steroid_managed_rash_delays_the_ladder_written_in_the_schedule():
    """The case report's ladder as phases with rash managed without interruption: each patient's doses
    equal the hand rule applied to its drawn events (a dose above the previous one waits while an
    event is under 7 d old), and the run's subject doses say why."""
    ladder = BASE.replace('dose = "400 mg"\ndays = 60',
                          'dose = "200 mg"\ndays = 14\n\n[[schedule.phases]]\ndose = "300 mg"\ndays = 14\n\n'
                          '[[schedule.phases]]\ndose = "400 mg"\ndays = 32')
    steroids = ('[[toxicity]]\nlabel = "rash"\nfirst = { scale = "12 d", shape = 1.0 }\n'
                'recurrence = { scale = "10 d" }\nmanagement = "steroids"\n')
    s = parse_scenario(textwrap.dedent(ladder) + textwrap.dedent(steroids) + textwrap.dedent(GATE), "s.toml")
    ds = run_scenario(s)
    from imapk.processes import realise

    doses = realise(s.schedule, range(40), s.seed, toxicity=s.toxicity)
    given = ds["subject_dose_given"].values if "subject_dose_given" in ds else ds["dose_given"].values
    prescribed = np.repeat([200.0, 300.0, 400.0], [14, 14, 32])
    n_delayed, patients = 0, 0
    for i, events in enumerate(doses.events):
        expected, level = prescribed.copy(), None
        for j in range(60):
            if level is not None and expected[j] > level and any(0 <= j - t < 7 for t in events.time):
                expected[j] = level
                n_delayed += 1
            level = expected[j]
        np.testing.assert_array_equal(given[i], expected)
        patients += bool(np.any(expected != prescribed))
    assert n_delayed > 0
    from imapk.report import realised_dosing

    stat = realised_dosing(ds)["policies"]["step up delayed (toxicity event in the last 7 d)"]
    assert stat["patients_with_any"] == patients


HOLD_OVER_DAY_29 = """
[[schedule.holds]]
start_day = 27
days = 3
"""


@pytest.mark.parametrize("within, taken, day", [(0, 1, None), (1, 1, None), (2, 1, 31), (10, 1, 31),
                                               (10, 7, 37), (8, 7, 37), (7, 7, None)])
def test_a_patient_held_on_the_day_is_measured_once_its_trough_counts(within, taken, day):
    """A hold of days 27-29: the troughs of days 29 and 30 follow held doses (days 28 and 29), the
    day-31 trough follows the day-30 dose, taken, and the day-37 trough the 7 doses of days 30-36. Each
    patient is measured on the first day from 29 to 29 + within whose trough counts, and escalated from
    that day's dose on; with no such day, no one is measured (hand-worked)."""
    s = scenario(HOLD_OVER_DAY_29 + TDM.replace("assay = false", f"assay = false\nwithin = {within}\ndoses_taken = {taken}"))
    assert (s.policies[0].within, s.policies[0].doses_taken) == (within, taken)
    ds = run_scenario(s)
    measured, escalated = ds["tdm_trough_measured"].values, ds["tdm_escalated"].values
    if day is None:
        assert np.isnan(measured).all() and not escalated.any() and np.isnan(ds["tdm_measured_day"].values).all()
        return
    np.testing.assert_array_equal(ds["tdm_measured_day"].values, np.full(40, float(day)))
    np.testing.assert_array_equal(measured, ds["trough"].values[:, day - 1])  # the trough before that day's dose
    np.testing.assert_array_equal(escalated, measured < 1100.0)
    assert escalated.any()
    # an escalated patient's troughs are those of 400 mg with the hold to the day before, then 600 mg,
    # simulated alone; the others keep 400 mg
    from imapk.schedule import Hold

    plan = Schedule(phases=(Phase(dose=400, days=day - 1), Phase(dose=600, days=60 - day + 1)),
                    holds=(Hold(start_day=27, days=3),))
    for i in np.flatnonzero(escalated)[:4]:
        params = ParameterTable(values={k: None if k not in ds else np.asarray(ds[k].values)[i:i + 1]
                                        for k in ("cl", "v", "ka", "d1", "f", "tlag")})
        np.testing.assert_allclose(ds["trough"].values[i], simulate(plan, params)["trough"].values[0], rtol=1e-13, atol=0)
    for i in np.flatnonzero(~escalated)[:3]:
        assert np.all(ds["dose_given"].values[i] <= 400.0)


def test_within_and_doses_taken_must_be_whole_numbers():
    for key, bad in (("within", "-1"), ("within", "2.5"), ("within", "'7 d'"), ("doses_taken", "0"),
                     ("doses_taken", "1.5")):
        e = error(TDM.replace("assay = false", f"assay = false\n{key} = {bad}"))
        assert e.key == f"policy[0].{key}"
