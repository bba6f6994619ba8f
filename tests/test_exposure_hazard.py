"""Toxicity hazards that rise with the trough (ExposureEffect, imapk.processes.coupled).

References are independent of the code under test: the Weibull distribution of scipy for a hazard
multiplied by a constant (scale x f^(-1/shape)), the event time worked by hand for a constant hazard
that steps with the trough, the process without the effect (bit for bit), and 1 - exp(-H) with H
summed in the test from the simulated troughs. Distribution checks use the Kolmogorov-Smirnov test
at a 0.1 % level and counts within 4 binomial standard errors; the seeds are fixed, so the tests are
deterministic (a correct sampler would fail about 1 seed in 1000).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats

from imapk import simulate
from imapk.errors import ImapkError
from imapk.params import ParameterTable
from imapk.processes import HoldLength, MarkovMisses, ToxicityProcess, Weibull, realise
from imapk.processes.coupled import first_crossing, realise_coupled
from imapk.processes.toxicity import ExposureEffect, ExposurePower
from imapk.runner import run_scenario
from imapk.scenario import parse_scenario
from imapk.schedule import HELD, LadderStep, Phase, Schedule
from imapk.streams import uniforms

SEED = 20260301
RASH = ToxicityProcess(first=Weibull(60.0, 1.5), recurrence=Weibull(40.0), hold=HoldLength("uniform", 3, 10),
                       restart=(LadderStep(200, 7), LadderStep(300, 14)), discontinue_after=4)


def constant(level: float):
    """A trough callback that returns `level` [ng/mL] for every patient and dose."""
    return lambda realised, rows: np.full(realised.given.shape, level)


def population(n: int, seed: int = 3) -> ParameterTable:
    """Widmer 2006 typical values with log-normal CL (30 % CV)."""
    rng = np.random.default_rng(seed)
    return ParameterTable(values={"cl": 14.3 * np.exp(0.3 * rng.standard_normal(n)), "v": np.full(n, 347.0),
                                  "ka": np.full(n, 0.609), "d1": None, "f": np.ones(n), "tlag": np.zeros(n)})


def test_always_above__events_follow_the_weibull_with_the_hazard_times_the_factor():
    """A hazard multiplied by f throughout: H = f (t / scale)^k, a Weibull of scale scale f^(-1/k)."""
    factor = 3.0
    process = ToxicityProcess(first=Weibull(60.0, 1.5), exposure=ExposureEffect(above=3000.0, factor=factor))
    schedule = Schedule(phases=(Phase(dose=400, days=2000),))  # long enough to see every event
    doses = realise_coupled(schedule, range(4000), SEED, toxicity=process, troughs=constant(5000.0))
    times = np.array([e.time[0] for e in doses.events])
    assert times.size == 4000
    reference = stats.weibull_min(c=1.5, scale=60.0 * factor ** (-1 / 1.5))
    assert stats.kstest(times, reference.cdf).pvalue > 1e-3
    assert stats.kstest(times, stats.weibull_min(c=1.5, scale=60.0).cdf).pvalue < 1e-3  # the test can see it


def test_always_below__the_process_without_the_effect_bit_for_bit():
    schedule = Schedule(phases=(Phase(dose=400, days=365),))
    plain = realise(schedule, range(400), SEED, toxicity=RASH, adherence=MarkovMisses(0.9, 0.5))
    calls = []

    def below(realised, rows):
        calls.append(len(rows))
        return np.full(realised.given.shape, 2999.0)

    coupled = realise_coupled(schedule, range(400), SEED, toxicity=replace(RASH, exposure=ExposureEffect(3000.0, 3.0)),
                              adherence=MarkovMisses(0.9, 0.5), troughs=below)
    assert coupled.events == plain.events and sum(len(e.time) for e in plain.events) > 400
    for name in ("planned", "given", "status", "reason", "prescribed"):
        np.testing.assert_array_equal(getattr(coupled, name), getattr(plain, name))
    assert coupled.reasons == plain.reasons
    # one pass per hold-causing event: the first with everyone, then only those whose holds changed
    assert calls[0] == 400 and all(b <= a for a, b in zip(calls, calls[1:]))


def test_without_the_effect__realise_itself():
    schedule = Schedule(phases=(Phase(dose=400, days=120),))
    plain = realise(schedule, range(50), SEED, toxicity=RASH)

    def never(realised, rows):
        raise AssertionError("no simulation is needed")

    coupled = realise_coupled(schedule, range(50), SEED, toxicity=RASH, troughs=never)
    assert coupled.events == plain.events
    np.testing.assert_array_equal(coupled.given, plain.given)


def test_a_constant_hazard_stepping_with_the_trough__by_hand():
    """Shape 1, scale 10 d (rate 0.1/d), daily doses; troughs below the level before day 5, at or
    above it from the dose at t = 5 d to the one at t = 8 d (exclusive), below again after; factor 3.
    H(5) = 0.5, H(8) = 0.5 + 3 x 0.3 = 1.4, so an event with draw E falls at
    10 E (E <= 0.5), 5 + (E - 0.5) 10 / 3 (E <= 1.4), 8 + (E - 1.4) 10 (later)."""
    level = np.zeros(40)
    level[5:8] = 3000.0
    process = ToxicityProcess(first=Weibull(10.0), exposure=ExposureEffect(above=3000.0, factor=3.0))
    schedule = Schedule(phases=(Phase(dose=400, days=40),))
    subjects = np.arange(300)
    doses = realise_coupled(schedule, subjects, SEED, toxicity=process,
                            troughs=lambda realised, rows: np.repeat(level[None, :], len(rows), axis=0))
    draws = -np.log1p(-uniforms(SEED, process.purpose("event"), subjects, 1)[:, 0])
    expected = np.where(draws <= 0.5, 10 * draws,
                        np.where(draws <= 1.4, 5 + (draws - 0.5) * 10 / 3, 8 + (draws - 1.4) * 10))
    seen = np.array([e.time[0] if e.time else np.inf for e in doses.events])
    inside = expected <= 38.0  # an event after day 39's dose has no dose left to hold (draw_events' rule)
    assert inside.sum() > 250 and ((5 < expected) & (expected < 8)).sum() > 30
    np.testing.assert_allclose(seen[inside], expected[inside], rtol=0, atol=1e-12)  # days; a few ulps of 40
    assert np.all(np.isinf(seen[expected > 39.0]))


def test_first_crossing__a_weibull_stepping_in_the_middle_of_the_clock():
    """Shape 2, scale 10 d, clock started at s = 2.5 d, intervals [0,4), [4,6), [6,9) with
    multipliers 1, 4, 1: H(4) = 0.15^2 = 0.0225; H(6) = 0.0225 + 4 (0.35^2 - 0.15^2) = 0.4225;
    after that H(t) = 0.4225 + ((t - s)/10)^2 - 0.35^2."""
    hazard = Weibull(10.0, 2.0)
    bounds = np.array([0.0, 4.0, 6.0, 9.0])
    draws = np.array([0.01, 0.2, 0.5, 10.0])
    m = np.repeat(np.array([[1.0, 4.0, 1.0]]), 4, axis=0)
    found, t = first_crossing(hazard, bounds, np.full(4, 2.5), draws, m)
    expected = [2.5 + 10 * math.sqrt(0.01), 2.5 + 10 * math.sqrt(0.0225 + (0.2 - 0.0225) / 4),
                2.5 + 10 * math.sqrt(0.5 - 0.4225 + 0.35**2)]
    assert found.tolist() == [True, True, True, False]
    np.testing.assert_allclose(t[:3], expected, rtol=0, atol=1e-12)


def test_the_event_rate_rises_as_the_formula_says_across_a_population():
    """2000 patients with log-normal CL on 400 mg daily; a Weibull first event (scale 150 d, shape
    1.3, no recurrence) whose hazard is 3 times higher while the trough is >= 1000 ng/mL. The
    troughs up to an event do not depend on its hold, so P(event by day D) = 1 - exp(-H_i(D)) with
    H_i summed here over the intervals of the troughs simulated without holds."""
    n, days, scale, shape, factor, above = 2000, 90, 150.0, 1.3, 3.0, 1000.0
    params = population(n)
    schedule = Schedule(phases=(Phase(dose=400, days=days),))
    process = ToxicityProcess(first=Weibull(scale, shape), hold=HoldLength("fixed", 7),
                              exposure=ExposureEffect(above=above, factor=factor))

    def troughs(realised, rows):
        return simulate(realised, ParameterTable(values={k: None if v is None else v[rows]
                                                         for k, v in params.values.items()}),
                        quantiles=(), as_dataset=False)["trough"].values

    doses = realise_coupled(schedule, range(n), SEED, toxicity=process, troughs=troughs)
    free = simulate(schedule.lower(), params, quantiles=(), as_dataset=False)["trough"].values
    t = np.append(schedule.lower().time, schedule.lower().end) / 24.0
    m = np.where(free >= above, factor, 1.0)
    assert 0.2 < (free[:, -1] >= above).mean() < 0.8  # both sides of the level are populated
    by_day = 60.0
    upper = np.minimum(t[1:], by_day)
    lower = np.minimum(t[:-1], by_day)
    h = (m * ((upper / scale) ** shape - (lower / scale) ** shape)).sum(axis=1)
    p = 1.0 - np.exp(-h)
    seen = np.array([bool(e.time) and e.time[0] <= by_day for e in doses.events])
    assert abs(seen.sum() - p.sum()) < 4 * math.sqrt((p * (1 - p)).sum())
    plain = 1.0 - math.exp(-((by_day / scale) ** shape))
    assert seen.sum() > n * plain + 4 * math.sqrt(n * plain * (1 - plain))  # the rate did rise
    # the patients whose troughs reached the level had more events than those who stayed below
    high = (free[:, :60] >= above).any(axis=1)
    assert seen[high].mean() > seen[~high].mean()


def test_holds_lower_the_troughs_that_decide_the_next_event():
    """A toy PK: the trough before dose j is 5 ng/mL per mg of dose j - 1 given (0 before the first).
    At 400 mg (2000 ng/mL, above 1500) the hazard is x 10; in a hold and on the 200 mg step
    (1000 ng/mL) it is the baseline. Every recurrence clock starts at a restart, so the first
    interval after it sees the held dose's trough (0); checked on the realised doses: a recurrence
    found on toy troughs equals the one found by hand from the realised given doses."""
    process = ToxicityProcess(first=Weibull(40.0), recurrence=Weibull(40.0), hold=HoldLength("fixed", 5),
                              restart=(LadderStep(200, 10),), discontinue_after=3,
                              exposure=ExposureEffect(above=1500.0, factor=10.0))
    schedule = Schedule(phases=(Phase(dose=400, days=200),))

    def toy(realised, rows):
        return np.concatenate([np.zeros((len(rows), 1)), 5.0 * realised.given[:, :-1]], axis=1)

    subjects = np.arange(200)
    doses = realise_coupled(schedule, subjects, SEED, toxicity=process, troughs=toy)
    draws = -np.log1p(-uniforms(SEED, process.purpose("event"), subjects, process.max_events))
    level = toy(doses, subjects)
    checked = 0
    for i, e in enumerate(doses.events):
        clock = 0.0
        for k, t in enumerate(e.time):
            # cumulative hazard from the clock to t on the final doses' troughs, by daily intervals
            h, day = 0.0, clock
            while day < t:
                j = int(math.floor(day + 1e-12))
                end = min(float(j + 1), t)
                h += (10.0 if level[i, j] >= 1500.0 else 1.0) * (end - day) / 40.0
                day = end
            assert h == pytest.approx(draws[i, k], rel=1e-12, abs=1e-12)
            clock = e.hold_start_day[k] - 1 + e.hold_days[k]
            checked += 1
    assert checked > 300
    assert np.any(doses.status == HELD)


RUN = """
[scenario]
title = "t"
seed = 20260101
[model]
parameter_set = "widmer2006"
[population]
size = 200
[[schedule.phases]]
dose = "400 mg"
days = 120
[[toxicity]]
label = "rash"
first = { scale = "200 d" }
recurrence = { scale = "100 d" }
hold = { days = 7 }
restart = [ { dose = "200 mg", days = 7 }, { dose = "300 mg", days = 14 } ]
discontinue_after = 3
"""


def test_run_scenario__a_level_never_reached_changes_nothing_and_a_low_one_raises_the_events():
    scenario = parse_scenario(RUN, "x.toml")
    plain = run_scenario(scenario, as_dataset=False)
    never = run_scenario(replace(scenario, toxicity=replace(scenario.toxicity, exposure=ExposureEffect(1e7, 5.0))),
                         as_dataset=False)
    for name in ("trough", "dose_given", "toxicity_event_count", "subject_dose_status"):
        np.testing.assert_array_equal(never[name].values, plain[name].values)
    low = run_scenario(replace(scenario, toxicity=replace(scenario.toxicity, exposure=ExposureEffect(1.0, 5.0))),
                       as_dataset=False)
    assert low["toxicity_event_count"].values.sum() > 2 * plain["toxicity_event_count"].values.sum()


POLICIES = """
[adherence]
model = "independent"
p_missed = 0.05
late = { probability = 0.3, low = "1 h", high = "6 h" }
[[policy]]
kind = "trough_escalation"
day = 29
below = "1500 ng/mL"
dose = "600 mg"
assay = false
[[policy]]
kind = "dose_cap"
after_events = 2
dose = "300 mg"
[[policy]]
kind = "step_up_if_no_event"
days = 10
"""


@pytest.mark.parametrize("management", ["hold", "steroids"])
def test_run_scenario__with_every_policy_the_events_are_those_of_the_hazard_on_the_final_doses(management):
    """An exposure effect with a day-29 escalation, a cap after event 2, step-ups delayed 10 d after an
    event, missed and late doses: each pass simulates the doses as the final run does, so the events
    are where the cumulative hazard on the *final* troughs reaches each patient's draw. Checked by
    searching the events again on the run's final troughs, held fixed (an independent fixed point:
    no pass, no policy), which must give the same events (the same counts and the same held doses,
    bit for bit), and the escalation decisions equal to the final day-29 trough below 1500 ng/mL."""
    text = RUN.replace('first = { scale = "200 d" }', 'first = { scale = "60 d" }').replace(
        'recurrence = { scale = "100 d" }', 'recurrence = { scale = "30 d" }')
    text = text.replace("discontinue_after = 3", 'discontinue_after = 4\nexposure = { above = "1000 ng/mL", factor = 4.0 }')
    if management == "steroids":
        text = text.replace('hold = { days = 7 }\nrestart = [ { dose = "200 mg", days = 7 }, { dose = "300 mg", days = 14 } ]\n',
                            'management = "steroids"\n').replace("discontinue_after = 4\n", "")
        text = text.replace('dose = "400 mg"\ndays = 120', 'dose = "200 mg"\ndays = 14\n[[schedule.phases]]\n'
                            'dose = "400 mg"\ndays = 106')
    scenario = parse_scenario(text + POLICIES, "x.toml")
    ds = run_scenario(scenario, as_dataset=False)
    final = ds["trough"].values
    again = realise_coupled(scenario.schedule, np.arange(200), scenario.seed, toxicity=scenario.toxicity,
                            adherence=scenario.adherence, troughs=lambda realised, rows: final[rows])
    counts = np.array([len(e.time) for e in again.events])
    np.testing.assert_array_equal(counts, ds["toxicity_event_count"].values)
    np.testing.assert_array_equal(again.status, ds["subject_dose_status"].values)
    assert counts.sum() > 100 and np.any(ds["subject_dose_delay"].values > 0)
    took = again.status[:, 27] == 0
    np.testing.assert_array_equal(ds["tdm_escalated"].values, took & (final[:, 28] < 1500.0))
    assert 0 < ds["tdm_escalated"].values.sum() < 200
    given = ds["dose_given"].values
    for i, e in enumerate(again.events):  # the cap holds whatever the escalation prescribed
        if len(e.time) >= 2:
            assert np.all(given[i, e.hold_start_day[1] - 1:] <= 300.0)


@pytest.mark.parametrize("above, factor, key", [(0.0, 3.0, "exposure.above"), (1000.0, -1.0, "exposure.factor"),
                                                (float("nan"), 3.0, "exposure.above")])
def test_bad_exposure_effects_are_refused_naming_the_key(above, factor, key):
    with pytest.raises(ImapkError) as error:
        ExposureEffect(above=above, factor=factor)
    assert error.value.key == key


def test_a_callback_of_the_wrong_shape_is_refused():
    process = replace(RASH, exposure=ExposureEffect(3000.0, 3.0))
    with pytest.raises(ImapkError) as error:
        realise_coupled(Schedule(phases=(Phase(dose=400, days=30),)), range(3), SEED, toxicity=process,
                        troughs=lambda realised, rows: np.zeros((len(rows), 5)))
    assert error.value.key == "troughs"


def test_a_power_of_the_trough__by_hand():
    """m_j = (C_j / 1000)^2 with C = 0 before the first dose (no hazard on day 1), 500 (x 0.25) on
    days 2-3, 2000 (x 4) after; shape 1, scale 10 d: H(1) = 0, H(3) = 0.05, then 0.4 per day."""
    level = np.full(30, 2000.0)
    level[0], level[1:3] = 0.0, 500.0
    process = ToxicityProcess(first=Weibull(10.0), exposure=ExposurePower(reference=1000.0, gamma=2.0))
    subjects = np.arange(200)
    doses = realise_coupled(Schedule(phases=(Phase(dose=400, days=30),)), subjects, SEED, toxicity=process,
                            troughs=lambda realised, rows: np.repeat(level[None, :], len(rows), axis=0))
    draws = -np.log1p(-uniforms(SEED, process.purpose("event"), subjects, 1)[:, 0])
    expected = np.where(draws <= 0.05, 1 + draws / 0.025, 3 + (draws - 0.05) / 0.4)
    seen = np.array([e.time[0] if e.time else np.inf for e in doses.events])
    inside = expected <= 28.0
    assert inside.sum() > 190 and (expected < 3).sum() > 0
    np.testing.assert_allclose(seen[inside], expected[inside], rtol=0, atol=1e-12)  # days; a few ulps of 30


@pytest.mark.parametrize("reference, gamma, key", [(0.0, 1.0, "exposure.reference"), (1000.0, -1.0, "exposure.gamma")])
def test_bad_exposure_powers_are_refused_naming_the_key(reference, gamma, key):
    with pytest.raises(ImapkError) as error:
        ExposurePower(reference=reference, gamma=gamma)
    assert error.value.key == key
