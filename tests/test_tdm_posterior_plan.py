"""The planner's questions asked of a fitted patient's posterior (imapk.tdm.posterior_plan), and the
function behind ``imapk tdm`` (imapk.tdm.command).

References: the planner on a scenario that writes the same history and future as one schedule (the
typical patient, the prior population, the true patient's parameters), and troughs by the
superposition of single-dose closed-form solutions written here.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from imapk.errors import ImapkError
from imapk.models import get_model
from imapk.planner import compare_ladders, cost_of_hold, doses_to_target, longest_hold
from imapk.scenario import parse_scenario
from imapk.schedule import Hold, LadderStep, Phase, Schedule
from imapk.tdm import dose_table, future_schedule, map_estimate, plan_from_posterior, posterior_patient
from imapk.tdm.command import parse_ladder, tdm_report
from imapk.tdm.posterior_plan import resample

HISTORY_DAYS = 30
LADDER = ((200.0, 7.0), (300.0, 7.0))


def superposition(t, dose_times, amounts, cl, v, ka):
    """C(t-) [ng/mL] of the one-compartment oral model: the sum of single-dose solutions (a dose at t
    itself does not count: the left limit). `cl`, `v` may be arrays (draws): result (draws, times)."""
    cl, v = np.atleast_1d(cl)[:, None, None], np.atleast_1d(v)[:, None, None]
    k = cl / v
    dt = np.asarray(t, dtype=float)[None, :, None] - np.asarray(dose_times)[None, None, :]
    pos = np.clip(dt, 0, None)
    single = np.where(dt > 0, ka / (v * (ka - k)) * (np.exp(-k * pos) - np.exp(-ka * pos)), 0.0)
    return 1000.0 * single @ np.asarray(amounts, dtype=float)


def history():
    return Schedule(phases=(Phase(dose=400, days=HISTORY_DAYS),)).lower()


def scenario_text(*, population: str, target: float, hold_days: int = 7, parameters: str = "") -> str:
    """The history (400 mg for 30 days) and the future (a hold from the next day, the 200/300 mg ladder,
    28 days of 400 mg) written as one scenario, evaluated from the plan's first day."""
    future_days = hold_days + 14 + 28
    restart = ", ".join(f'{{ dose = "{d:g} mg", days = {n:g} }}' for d, n in LADDER)
    return f"""
[scenario]
title = "history then plan"
seed = 11

[model]
parameter_set = "widmer2006"
{parameters}

[population]
{population}

[[schedule.phases]]
dose = "400 mg"
days = {HISTORY_DAYS + future_days}

[[schedule.holds]]
start_day = {HISTORY_DAYS + 1}
days = {hold_days}
restart = [{restart}]

[verdict]
window_start_day = {HISTORY_DAYS + 1}

[[verdict.custom]]
name = "target"
value = "{target:g} ng/mL"

[output]
dense = false
"""


def future(hold_days: int = 7) -> Schedule:
    return future_schedule(400.0, hold_days=hold_days, ladder=LADDER)


# --- the typical patient: no level, no sampling -----------------------------------------------------------


def test_posterior_plan__mode_only_is_the_typical_patient():
    """No level and no sampling: one draw, eta = 0. Every answer equals the planner's on the scenario
    of the typical patient with the same history and future (exact: same engine, same parameters;
    continuous times below to 1e-9 d)."""
    fit = map_estimate("widmer2006", history(), None, n_samples=0, warn=False)
    patient = posterior_patient(fit, future(), target=600.0)
    assert patient.draws.shape == (1, 2) and not patient.draws.any()
    scenario = parse_scenario(scenario_text(population="size = 1\niiv = false", target=600.0))
    for metric, budget in (("troughs_below", 4), ("time_below", 3.0)):
        mine = longest_hold(patient, budget, metric=metric, confidence=1.0)
        ref = longest_hold(scenario, budget, metric=metric, confidence=1.0)
        assert mine.days == ref.days and mine.lengths == ref.lengths
        np.testing.assert_allclose(mine.cost, ref.cost, rtol=0, atol=1e-9)
        assert "For this patient (posterior mode" in mine.sentence
    np.testing.assert_allclose(cost_of_hold(patient).time_below_total, cost_of_hold(scenario).time_below_total, atol=1e-9)
    mine, ref = doses_to_target(patient, confidence=1.0), doses_to_target(scenario, confidence=1.0)
    assert (mine.doses, mine.days) == (ref.doses, ref.days) and mine.restart_day == ref.restart_day - HISTORY_DAYS
    ladders = [LADDER, (), ((300.0, 14.0),)]
    mine, ref = compare_ladders(patient, ladders, confidence=1.0), compare_ladders(scenario, ladders, confidence=1.0)
    for a, b in zip(mine.rows, ref.rows):
        assert a.troughs_below == b.troughs_below and a.pareto == b.pareto
        assert a.days_below == pytest.approx(b.days_below, abs=1e-9)


# --- no level: the posterior is the prior population -------------------------------------------------------


def test_posterior_plan__no_level_is_the_prior_population():
    """No level, 4000 importance samples: the posterior draws are the model's population. The share
    that never reaches the target and the probability that each hold length stays within the
    budget agree with the planner on a simulated population of 4000 within 4 standard errors of the
    difference of two independent binomial estimates (the resample's size taken as the weights'
    effective sample size)."""
    fit = map_estimate("widmer2006", history(), None, n_samples=4000, warn=False)
    patient = posterior_patient(fit, future(), target=600.0, seed=3)
    scenario = parse_scenario(scenario_text(population="size = 4000\niiv = true", target=600.0))
    mine = longest_hold(patient, 5, metric="troughs_below", stop_early=False, max_days=10)
    ref = longest_hold(scenario, 5, metric="troughs_below", stop_early=False, max_days=10)
    n1, n2 = fit.ess, 4000

    def close(p1, p2, m1, m2):
        p = 0.5 * (p1 + p2)
        se = math.sqrt(max(p * (1 - p), 1e-4) * (1 / m1 + 1 / m2))
        assert abs(p1 - p2) <= 4 * se, (p1, p2, se)

    close(mine.never_fraction, ref.never_fraction, n1, n2)
    assert 0.1 < ref.never_fraction < 0.9  # the question is not trivial for this target
    m1, m2 = n1 * (1 - mine.never_fraction), n2 * (1 - ref.never_fraction)
    for p1, p2 in zip(mine.within_budget, ref.within_budget):
        close(p1, p2, m1, m2)
    assert any(0.05 < p < 0.95 for p in ref.within_budget)


# --- very informative levels: the true patient's answer -----------------------------------------------------


def test_posterior_plan__informative_levels_give_the_true_patients_answer():
    """A patient with CL 0.8 and V 1.1 times typical and 120 levels every 6 h for 30 days, measured
    with a 1 % proportional error (the model's own 31 % replaced: with it, even noise-free levels
    would bias the mode by about p^2 = 10 %, the log(sd) term of the likelihood favouring lower
    predictions; with 1 % that bias is 1e-4). The posterior SD of eta(CL) is then about 0.001, so
    the median answers (confidence 0.5) equal the planner's for a single subject with the true CL
    and V: exactly for the whole-day answers and the recovery, within 0.5 % for the continuous hold
    costs."""
    model = get_model("widmer2006")
    model = replace(model, residual=replace(model.residual, proportional=0.01))
    typical = model.typical_params()
    cl, v = typical.cl * 0.8, typical.v * 1.1
    table = history()
    t_obs = np.arange(1.0, HISTORY_DAYS * 24.0, 6.0)
    rng = np.random.default_rng(8)
    levels = superposition(t_obs, table.time, table.given, cl, v, typical.ka)[0] * (1 + 0.01 * rng.standard_normal(t_obs.size))
    fit = map_estimate(model, table, (t_obs, levels), warn=False)
    assert fit.eta_sd[0] < 0.003 and abs(fit.parameters["cl"] / cl - 1) < 0.003
    target = 800.0  # the true steady-state trough is about 1000 ng/mL
    patient = posterior_patient(fit, future(), target=target)
    scenario = parse_scenario(scenario_text(
        population="size = 1\niiv = false", target=target,
        parameters=f'\n[model.parameters]\ncl = "{cl!r} L/h"\nv = "{v!r} L"',
    ))
    truth = longest_hold(scenario, 5.0, metric="time_below", confidence=1.0, stop_early=False, max_days=10)
    budget = 0.5 * (truth.cost[3] + truth.cost[4])  # midway between the 4- and 5-day costs: answer 4 days
    truth = longest_hold(scenario, budget, metric="time_below", confidence=1.0, stop_early=False, max_days=10)
    mine = longest_hold(patient, budget, metric="time_below", confidence=0.5, stop_early=False, max_days=10)
    assert truth.days == 4 and mine.days == truth.days
    np.testing.assert_allclose(mine.cost, truth.cost, rtol=0.005)
    mine_r, ref_r = doses_to_target(patient, confidence=0.5), doses_to_target(scenario, confidence=1.0)
    assert mine_r.doses == ref_r.doses


# --- a probability against a direct Monte Carlo ---------------------------------------------------------------


def test_posterior_plan__probability_is_a_direct_monte_carlo_over_the_draws():
    """P(a 5-day hold costs at most 5 troughs below the target | the target is reached without the
    hold): the planner's answer equals the share computed here over the same posterior draws with
    troughs by superposition (history + hold + ladder, against the ladder without the hold), exactly
    (a count over the same draws; troughs agree to ~1e-12, far from any tie)."""
    table = history()
    fit = map_estimate("widmer2006", table, ([24.0 * 20 - 1.0, 24.0 * 29 + 2.0], [900.0, 1900.0]), warn=False)
    target, budget, hold = 800.0, 5, 5
    patient = posterior_patient(fit, future(hold), target=target, seed=5)
    answer = longest_hold(patient, budget, metric="troughs_below", stop_early=False, max_days=hold)

    typical = fit.typical
    cl = typical["cl"] * np.exp(patient.draws[:, 0])
    v = typical["v"] * np.exp(patient.draws[:, 1])
    start = patient.start_time
    days = hold + 14 + 28
    t_future = start + 24.0 * np.arange(days)
    planned = np.full(days, 400.0)
    planned[hold:hold + 7], planned[hold + 7:hold + 14] = 200.0, 300.0
    as_planned = planned.copy()
    as_planned[:hold] = 0.0
    without_hold = planned.copy()
    without_hold[:hold] = 400.0
    continuous = np.full(days, 400.0)
    times = np.concatenate([table.time, t_future])

    def troughs(future_amounts):
        return superposition(t_future, times, np.concatenate([table.given, future_amounts]), cl, v, typical["ka"])

    below = {name: (troughs(a) < target).sum(axis=1) for name, a in
             (("planned", as_planned), ("ladder", without_hold))}
    reaches = (troughs(continuous) >= target).any(axis=1)
    cost = below["planned"] - below["ladder"]
    expected = float(np.mean(cost[reaches] <= budget))
    assert 0.05 < expected < 0.95  # the probability is not trivially 0 or 1 here
    assert answer.within_budget[hold - 1] == pytest.approx(expected, abs=1e-12)
    assert answer.never_fraction == pytest.approx(1 - reaches.mean(), abs=1e-12)
    assert f"Probability {expected:.2f} that a" in answer.sentence or f"probability {expected:.2f} that a" in answer.sentence
    assert "under this patient's posterior" in answer.sentence


def test_resample__systematic_counts_are_floor_or_ceil_of_n_w():
    """Systematic resampling: sample i appears floor(n w_i) or ceil(n w_i) times (its defining
    property), and the same seed gives the same draws."""
    w = np.random.default_rng(1).gamma(0.5, size=200)
    for n in (200, 1000):
        counts = np.bincount(resample(w, n, seed=4), minlength=w.size)
        target = n * w / w.sum()
        assert np.all(counts >= np.floor(target) - 1e-9) and np.all(counts <= np.ceil(target) + 1e-9)
        assert counts.sum() == n
    np.testing.assert_array_equal(resample(w, seed=4), resample(w, seed=4))


# --- validation -------------------------------------------------------------------------------------------------


def test_posterior_patient__refuses_bad_input():
    fit = map_estimate("widmer2006", history(), None, n_samples=0, warn=False)
    with pytest.raises(ImapkError, match="future schedule must be a Schedule"):
        posterior_patient(fit, dose_table([0.0], [400.0]))
    with pytest.raises(ImapkError, match="trough target"):
        posterior_patient(fit, future(), target=None)
    with pytest.raises(ImapkError, match="after the patient's first dose"):
        posterior_patient(fit, future(), start_time=-5.0)
    with pytest.raises(ImapkError, match="window"):
        posterior_patient(fit, future(), window_start_day=200)
    with pytest.raises(ImapkError, match="a MapResult"):
        posterior_patient("fit", future())
    with pytest.raises(ImapkError, match="weights"):
        resample(np.array([0.0, 0.0]))


def test_future_schedule__hold_then_ladder_then_prescription():
    table = future_schedule(400, hold_days=5, hold_start_day=2, ladder=[200, (300, 3)], step_days=4).lower()
    expected = [400] + [0] * 5 + [200] * 4 + [300] * 3 + [400] * 28
    assert table.given.tolist() == expected
    schedule = future_schedule(400, hold_days=5, ladder=[LadderStep(200, 7)])
    assert schedule.holds == (Hold(start_day=1, days=5.0, restart=(LadderStep(200, 7),), label="planned hold"),)


# --- the command ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, steps", [
    ("200,300", ((200.0, 7.0), (300.0, 7.0))),
    ("200x7, 300x14", ((200.0, 7.0), (300.0, 14.0))),
    ("200 mg x 5 d", ((200.0, 5.0),)),
    ("direct", ()),
    ("", ()),
])
def test_parse_ladder(text, steps):
    assert parse_ladder(text) == tuple(LadderStep(d, n) for d, n in steps)


@pytest.mark.parametrize("text", ["200,abc", "200x0", "-100", "200x7x3"])
def test_parse_ladder__refuses_with_the_step(text):
    with pytest.raises(ImapkError, match="--ladder.*cannot read this ladder step"):
        parse_ladder(text)


CASE = "scenarios/case-report-data.csv"


def test_tdm_report__posterior_plan_for_each_patient():
    """The command's JSON: the fit, the next step, and the planner report for the posterior, whose
    longest-hold answer is the API's on the same fit (same seed)."""
    out = json.loads(tdm_report(CASE, "widmer2006", hold=7, ladders=["200,300"], budget=5, metric="troughs_below",
                                target="cml", output="json"))
    (record,) = out["patients"]
    report = record["posterior_plan"]
    assert report["posterior"]["draws"] == 1000 and report["hold"]["ladder"].startswith("200 mg x 7 d -> 300 mg x 7 d")
    assert [r["ladder"] for r in report["ladders"]["rows"]][1] == "direct restart at the prescribed dose"
    from imapk.datasets import read_dataset
    from imapk.tdm import patient_inputs

    p = patient_inputs(read_dataset(CASE).subjects[0], source=CASE)
    fit = map_estimate("widmer2006", p.doses, p.observations, covariates=p.covariates, seed=0, warn=False)
    api = plan_from_posterior(fit, future_schedule(400.0, hold_days=7, ladder=[200, 300]), budget=5,
                              metric="troughs_below", target="cml", ceiling="toxicity_alarm", seed=0)
    assert report["longest_hold"]["days"] == api["longest_hold"]["days"]
    assert report["longest_hold"]["within_budget"] == pytest.approx(api["longest_hold"]["within_budget"], abs=0)
    text = tdm_report(CASE, "widmer2006", hold=7, budget=5, metric="troughs_below", target="cml")
    assert "under this patient's posterior" in text and "1. Longest hold" in text and "P(<= budget)" in text


def test_tdm_report__without_a_hold_is_the_fit_and_next_step():
    text = tdm_report(CASE, "widmer2006", target="cml")
    assert "Next step" in text and "Longest hold" not in text


@pytest.mark.parametrize("kwargs, match", [
    ({"hold": 7, "budget": -1}, "--budget"),
    ({"hold": 7, "confidence": 0.0}, "--confidence"),
    ({"hold": 0}, "--hold"),
    ({"hold": 7, "metric": "bogus"}, "--metric"),
    ({"ladders": ["200,x"]}, "--ladder"),
    ({"ids": ["nobody"]}, "--id"),
    ({"output": "xml"}, "--format"),
    ({"iov_cl": -0.1}, "--iov-cl"),
])
def test_tdm_report__refuses_bad_options(kwargs, match):
    with pytest.raises(ImapkError, match=match):
        tdm_report(CASE, "widmer2006", **kwargs)


def test_tdm_report__iov_fit_reports_its_kappas():
    out = json.loads(tdm_report(CASE, "widmer2006", target="cml", iov_cl=0.2, output="json"))
    (record,) = out["patients"]
    assert record["iov_cl"] == 0.2 and len(record["kappa"]) == 2  # two levels in two dose intervals
    assert "inter-occasion effect on CL" in tdm_report(CASE, "widmer2006", target="cml", iov_cl=0.2)
