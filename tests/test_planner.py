"""The planner (imapk.planner) against brute-force simulation, the single-held-dose closed form,
Pareto flags, and the `imapk plan` command."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from imapk.cli import main
from imapk.errors import ImapkError
from imapk.params import PKParams
from imapk.planner import (
    compare_ladders,
    cost_of_hold,
    doses_to_target,
    format_plan,
    generate_ladders,
    longest_hold,
    pareto_front,
    plan,
    quantile,
    single_held_dose_ratio,
)
from imapk.scenario import parse_scenario, run_scenario
from imapk.schedule import Hold, LadderStep, Phase, Schedule, SteadyState
from imapk.simulation import simulate

HEADER = """
[scenario]
title = "planner test"
seed = 7

[model]
parameter_set = "widmer2006"

{population}

[[schedule.phases]]
dose = "400 mg"
days = 100
"""

HOLD = """
[[schedule.holds]]
start_day = 29
days = {days}
restart = [{restart}]
"""

VERDICT = """
[verdict]
window_start_day = 29

[[verdict.custom]]
name = "low"
value = "600 ng/mL"

[[verdict.custom]]
name = "tox"
value = "1700 ng/mL"
kind = "concentration_ceiling"

[output]
dense = false
"""

LADDER = '{ dose = "200 mg", days = 7 }, { dose = "300 mg", days = 7 }'
POPULATION = "[population]\nsize = 30\niiv = true"


def scenario_text(days=5, restart=LADDER, population=POPULATION, hold=True):
    text = HEADER.format(population=population)
    if hold:
        text += HOLD.format(days=days, restart=restart)
    return text + VERDICT


def brute_force_costs(population, lengths):
    """Per-subject extra days below 'low' for each hold length (then its ladder) against no hold, from
    TOML text and run_scenario, and the subjects who reach 'low' without the hold."""
    base = run_scenario(parse_scenario(scenario_text(population=population, hold=False)))
    base_below = base["time_below"].sel(threshold="low").values / 24
    window = base.dose_time.values >= 28 * 24.0
    reach = np.any(base.trough.values[:, window] >= 600.0, axis=1)
    out = []
    for days in lengths:
        ds = run_scenario(parse_scenario(scenario_text(days=days, population=population)))
        out.append(ds["time_below"].sel(threshold="low").values / 24 - base_below)
    return np.array(out), reach


@pytest.mark.parametrize("population", [POPULATION, ""])
def test_longest_hold_matches_a_direct_scan(population):
    scenario = parse_scenario(scenario_text(population=population))
    lengths = range(1, 13)
    costs, reach = brute_force_costs(population, lengths)
    q = np.array([np.quantile(row[reach], 0.9, method="inverted_cdf") for row in costs])
    budget = float(q[5])  # exactly the cost of a 6-day hold
    expected = 0
    for n, c in zip(lengths, q):
        if c > budget + 1e-9:
            break
        expected = n
    answer = longest_hold(scenario, budget, confidence=0.9, max_days=12, against="continuous", stop_early=False)
    assert answer.lengths == tuple(lengths)
    np.testing.assert_allclose(answer.cost, q, rtol=1e-12, atol=1e-12)
    assert answer.days == expected >= 6
    assert str(expected) in answer.sentence
    # Costs rise with the hold length (the linear model: more held doses, more time below).
    assert np.all(np.diff(answer.cost) >= -1e-9)


def test_longest_hold_says_when_one_day_is_too_long():
    scenario = parse_scenario(scenario_text(population=""))
    answer = longest_hold(scenario, 0.0, max_days=3)
    assert answer.days == 0
    assert answer.cost[0] > 0
    assert answer.sentence.startswith("Even a 1-day hold")


def test_longest_hold_recovery_metric_matches_recovery_days():
    from imapk.exposure import recovery_after_holds

    scenario = parse_scenario(scenario_text())
    answer = longest_hold(scenario, 3.0, metric="recovery", max_days=4)
    _, reach = brute_force_costs(POPULATION, [])
    for n, cost in zip(answer.lengths, answer.cost):
        ds = run_scenario(parse_scenario(scenario_text(days=n)))
        rec = recovery_after_holds(ds, "low")["recovery_days"].sel(threshold="low").values[:, 0]
        assert cost == quantile(np.where(np.isnan(rec), np.inf, rec)[reach], 0.9)


def test_doses_to_target_matches_recovery_after_holds():
    from imapk.exposure import recovery_after_holds

    scenario = parse_scenario(scenario_text())
    answer = doses_to_target(scenario, confidence=0.8)
    ds = run_scenario(scenario)
    doses = recovery_after_holds(ds, "low")["recovery_doses"].sel(threshold="low").values[:, 0]
    doses = np.where(np.isnan(doses), np.inf, doses)
    _, reach = brute_force_costs(POPULATION, [])
    doses = doses[reach]
    assert answer.doses == np.sort(doses)[math.ceil(0.8 * doses.size) - 1]
    assert answer.restart_day == 34
    assert answer.fraction_recovered == np.mean(np.isfinite(doses))
    assert "after the restart on day 34" in answer.sentence


def test_doses_to_target_never_is_said_plainly():
    # The typical Widmer subject's steady-state trough at 400 mg/d (732 ng/mL) never reaches 1100 ng/mL.
    text = scenario_text(population="").replace('value = "600 ng/mL"', 'value = "1100 ng/mL"')
    answer = doses_to_target(parse_scenario(text))
    assert math.isnan(answer.doses) and answer.answered == 0 and answer.never_fraction == 1.0
    assert answer.sentence.startswith("No answer") and "dose change" in answer.sentence


def test_single_held_dose_cuts_the_trough_to_37_percent():
    cl, v, ka, tau, dose = 14.3, 347.0, 0.609, 24.0, 400.0
    # Independent superposition: Bateman curves of the past doses, the newest one removed.
    k = cl / v
    m = np.arange(1, 3000)
    bateman = lambda t: dose * ka / (v * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t))
    steady = bateman(m * tau).sum()
    after_hold = bateman((m + 1) * tau).sum()
    independent = after_hold / steady
    assert independent == pytest.approx(math.exp(-k * tau), rel=1e-5)
    assert independent == pytest.approx(0.372, abs=0.001)
    assert single_held_dose_ratio(cl, v, ka, tau) == pytest.approx(independent, rel=1e-10)
    # And the engine: steady state at t = 0, day 2's dose held.
    schedule = Schedule(phases=(Phase(dose=dose, days=4),), holds=(Hold(start_day=2, days=1),),
                        steady_state=SteadyState(dose))
    trough = simulate(schedule, PKParams(cl=cl, v=v, ka=ka))["trough"].values[0]
    assert trough[2] / trough[1] == pytest.approx(independent, rel=1e-9)


def test_pareto_flags_on_a_hand_made_example():
    points = [(10, 5), (8, 7), (12, 4), (11, 6), (8, 7), (10, 5.5)]
    # (11, 6) is dominated by (10, 5); (10, 5.5) by (10, 5); the tied (8, 7) pair dominate nobody and each other not.
    assert pareto_front(points).tolist() == [True, True, True, False, True, False]


def test_compare_ladders_rows_and_front():
    scenario = parse_scenario(scenario_text())
    ladders = [[(200, 7), (300, 7)], [], [(300, 14)], [(100, 14)]]
    result = compare_ladders(scenario, ladders)
    assert [len(r.steps) for r in result.rows] == [2, 0, 1, 1]
    direct = result.rows[1]
    assert direct.days_below == min(r.days_below for r in result.rows)
    assert direct.pareto
    # The 100 mg ladder is lowest on toxicity or dominated; flags agree with pareto_front.
    flags = pareto_front([(r.days_below, r.toxicity) for r in result.rows])
    assert [r.pareto for r in result.rows] == flags.tolist()
    assert result.toxicity_units == "d" and "tox" in result.toxicity_measure
    assert result.toxicity_measure == "days with concentration above tox (1700 ng/mL)"
    # Brute force for the direct restart: days below 'low' at the 0.9 level.
    ds = run_scenario(parse_scenario(scenario_text(restart="")))
    _, reach = brute_force_costs(POPULATION, [])
    assert direct.days_below == quantile(ds["time_below"].sel(threshold="low").values[reach] / 24, 0.9)


def test_compare_ladders__a_trough_ceiling_counts_troughs_not_peaks():
    """The typical Widmer subject at 400 mg/d: troughs about 732 ng/mL, peaks about 1560 ng/mL. A ceiling
    of 1100 ng/mL on the troughs is never exceeded; the same number on the concentration is, every day."""
    trough_ceiling = scenario_text(population="").replace(
        'value = "1700 ng/mL"\nkind = "concentration_ceiling"', 'value = "1100 ng/mL"\nkind = "trough_ceiling"'
    )
    peak_ceiling = trough_ceiling.replace('kind = "trough_ceiling"', 'kind = "concentration_ceiling"')
    ladders = [[], [(300, 14)]]
    on_troughs = compare_ladders(parse_scenario(trough_ceiling), ladders)
    on_peaks = compare_ladders(parse_scenario(peak_ceiling), ladders)
    assert on_troughs.toxicity_units == "troughs"
    assert on_troughs.toxicity_measure == "troughs above trough ceiling tox (1100 ng/mL)"
    assert [r.toxicity for r in on_troughs.rows] == [0.0, 0.0]
    assert on_peaks.toxicity_units == "d" and all(r.toxicity > 10 for r in on_peaks.rows)
    # Brute force, with a ceiling the troughs do reach (600 ng/mL): count the troughs in the window at or above it.
    low = parse_scenario(trough_ceiling.replace('value = "1100 ng/mL"', 'value = "600 ng/mL"'))
    result = compare_ladders(low, ladders)
    for row, steps in zip(result.rows, ["", '{ dose = "300 mg", days = 14 }']):
        ds = run_scenario(parse_scenario(scenario_text(population="", restart=steps)))
        window = ds.dose_time.values >= 28 * 24.0
        assert row.toxicity == np.sum(ds.trough.values[0, window] >= 600.0) > 0
    assert result.rows[0].toxicity > result.rows[1].toxicity  # the lower restart dose exceeds it less often


def test_generate_ladders():
    ladders = generate_ladders()
    assert ladders[0] == ()
    assert ((300.0, 14),) in ladders and ((200.0, 7), (300.0, 7)) in ladders
    assert all(dose % 100 == 0 and dose < 400 for ladder in ladders for dose, _ in ladder)


def test_cli_plan_prints_and_exits_0(tmp_path, capsys):
    path = tmp_path / "plan.toml"
    path.write_text(scenario_text(), encoding="utf-8")
    assert main(["plan", str(path), "--budget", "3", "--confidence", "0.8"]) == 0
    out = capsys.readouterr().out
    assert "1. Longest hold" in out and "2. Doses" in out and "3. Re-escalation ladders" in out
    assert main(["plan", str(path), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["confidence"] == 0.9 and report["longest_hold"]["budget_days"] == 7
    assert len(report["ladders"]["rows"]) == 3  # the own ladder is one of the defaults: not repeated


def test_cli_plan_refuses_a_scenario_without_a_hold(tmp_path, capsys):
    path = tmp_path / "nohold.toml"
    path.write_text(scenario_text(hold=False), encoding="utf-8")
    assert main(["plan", str(path)]) == 2
    err = capsys.readouterr().err
    assert "needs a scenario with a hold" in err and "schedule.holds" in err
    with pytest.raises(ImapkError, match="needs a scenario with a hold"):
        longest_hold(parse_scenario(scenario_text(hold=False)), 7)


# --------------------------------------------------------------------------------------------
# What each answer measures, checked on cases computable by hand or independently.

TYPICAL = dict(cl=14.3, v=347.0, ka=0.609)  # Widmer 2006 typical subject (apparent CL/F, V/F)


def typical_text(days, restart="", target="600", extra_phases=None, hold=True):
    """The typical Widmer subject, 400 mg/d for 100 days, a hold from day 29, one trough target."""
    text = scenario_text(days=days, restart=restart, population="", hold=hold)
    if target != "600":
        text = text.replace('value = "600 ng/mL"', f'value = "{target} ng/mL"')
    if extra_phases is not None:
        text = text.replace('[[schedule.phases]]\ndose = "400 mg"\ndays = 100\n', extra_phases)
    return text


def phases(*pairs):
    """Explicit phases ((dose mg, days), ...): a ladder written without any hold."""
    return "".join(f'[[schedule.phases]]\ndose = "{dose} mg"\ndays = {days}\n' for dose, days in pairs)


def bateman_time_below(given, level, start_h, stop_h, cl=14.3, v=347.0, ka=0.609, tau=24.0):
    """Time [d] in [start_h, stop_h) with the concentration below `level`: superposition of the
    Bateman curves of the doses actually given (amounts per day from t = 0), crossings found with
    brentq on a 0.1 h grid. Independent of the engine and of its threshold code."""
    from scipy.optimize import brentq

    k = cl / v
    times = np.arange(len(given)) * tau
    amounts = np.asarray(given, dtype=float)

    def conc(t):
        dt = t - times[times <= t]
        a = amounts[: dt.size]
        return 1000.0 * np.sum(a * ka / (v * (ka - k)) * (np.exp(-k * dt) - np.exp(-ka * dt)))

    grid = np.arange(start_h, stop_h + 1e-9, 0.1)
    f = np.array([conc(t) - level for t in grid])
    below = 0.0
    edges = [start_h]
    for i in range(grid.size - 1):
        if (f[i] < 0) != (f[i + 1] < 0):
            edges.append(brentq(lambda t: conc(t) - level, grid[i], grid[i + 1], xtol=1e-12))
    edges.append(stop_h)
    for a, b in zip(edges[:-1], edges[1:]):
        if conc(0.5 * (a + b)) < level:
            below += b - a
    return below / 24.0


def troughs_below_from_simulate(days_held, level, restart=()):
    """Scheduled troughs in the window (day 29 on) below `level`, counted on simulate's output."""
    schedule = Schedule(
        phases=(Phase(dose=400.0, days=100),),
        holds=(Hold(start_day=29, days=days_held, restart=tuple(LadderStep(*s) for s in restart)),),
    )
    ds = simulate(schedule, PKParams(**TYPICAL))
    window = ds.dose_time.values >= 28 * 24.0
    return int(np.sum(ds.trough.values[0, window] < level))


def test_cost_of_hold__one_day_direct_restart_by_hand():
    """Typical subject, target 600 ng/mL (steady-state trough 732): a 1-day hold on day 29 with a
    direct restart. One held dose leaves 0.372 x 732 = 272 ng/mL at the day-30 trough; the day-31
    trough is 732 - (732 - 272) x 0.372 = 561 (still below); the day-32 one 668 (above): 2 missed
    troughs. Time below: the Bateman superposition without the day-29 dose, root-found."""
    cost = cost_of_hold(parse_scenario(typical_text(1)))
    assert cost.baseline == "continuous dosing"
    assert cost.reaches_target.tolist() == [True]
    assert cost.troughs_below_total[0] == 2 == troughs_below_from_simulate(1, 600.0)
    assert cost.troughs_below_ladder[0] == 0 and cost.time_below_ladder[0] == 0  # a direct restart has no ladder
    given = np.full(100, 400.0)
    given[28] = 0.0
    expected = bateman_time_below(given, 600.0, 28 * 24.0, 100 * 24.0)
    continuous = bateman_time_below(np.full(100, 400.0), 600.0, 28 * 24.0, 100 * 24.0)
    assert continuous == 0.0  # at steady state the trough (732) is above 600
    assert cost.time_below_total[0] == pytest.approx(expected, abs=1e-7)
    assert cost.time_below_hold[0] == pytest.approx(0.893, abs=0.001)


def test_cost_of_hold__a_ten_day_hold_misses_more_troughs_than_days_below():
    """The issue's case: a 10-day hold with a direct restart misses 11 troughs (days 30-39 and the
    day-40 trough after one dose: 1 - 0.372 (1 - 0.372^10) = 0.63 of 732 < 600) but costs fewer
    than 11 days below: both are reported, each under its own name."""
    cost = cost_of_hold(parse_scenario(typical_text(10)))
    assert cost.troughs_below_total[0] == 11 == troughs_below_from_simulate(10, 600.0)
    given = np.full(100, 400.0)
    given[28:38] = 0.0
    assert cost.time_below_total[0] == pytest.approx(bateman_time_below(given, 600.0, 672.0, 2400.0), abs=1e-7)
    assert 10.0 < cost.time_below_total[0] < 10.5


@pytest.mark.parametrize("days", [1, 10])
def test_cost_of_hold__hold_plus_ladder_is_the_total(days):
    """Hold cost + ladder cost = total against continuous dosing, on the typical subject with the
    200 -> 300 mg ladder; the ladder without the hold is checked against the same doses written as
    plain phases (no hold at all: 400 mg on the held days, then 200 x 7, 300 x 7, 400)."""
    cost = cost_of_hold(parse_scenario(typical_text(days, restart=LADDER)))
    for name in ("time_below", "troughs_below"):
        parts = getattr(cost, f"{name}_hold") + getattr(cost, f"{name}_ladder")
        np.testing.assert_allclose(parts, getattr(cost, f"{name}_total"), rtol=0, atol=1e-12)
    continuous = run_scenario(parse_scenario(typical_text(days, hold=False)))
    held = run_scenario(parse_scenario(typical_text(days, restart=LADDER)))
    ladder_only = run_scenario(parse_scenario(typical_text(
        days, hold=False, extra_phases=phases((400, 28 + days), (200, 7), (300, 7), (400, 100 - 28 - days - 14)),
    )))
    below = lambda ds: ds["time_below"].sel(threshold="low").values[0] / 24
    count = lambda ds: ds["trough_below_count"].sel(threshold="low").values[0]
    assert cost.time_below_total[0] == pytest.approx(below(held) - below(continuous), abs=1e-12)
    assert cost.time_below_ladder[0] == pytest.approx(below(ladder_only) - below(continuous), abs=1e-12)
    assert cost.troughs_below_ladder[0] == count(ladder_only) - count(continuous)
    assert cost.troughs_below_hold[0] == count(held) - count(ladder_only)
    if days == 1:  # the ladder's days at 200 and 300 mg dominate the total; one held dose is a small share
        assert cost.time_below_ladder[0] > cost.time_below_hold[0] > 0


def test_longest_hold__budgets_the_hold_not_its_ladder():
    """The issue's first point, on the case report's own numbers (typical subject, 1100 ng/mL, a
    1-day hold from day 29 then 200 x 7 -> 300 x 56 mg): the old answer's 25.44 d was mostly the
    ladder (24.88 d); the hold itself costs 0.56 d (1.10 d with a direct restart). At 600 ng/mL
    the subject reaches the target and the answer budgets the hold's own cost."""
    case = open_case_report()
    cost = cost_of_hold(case)
    assert cost.time_below_total[0] == pytest.approx(25.44, abs=0.01)
    assert cost.time_below_ladder[0] == pytest.approx(24.88, abs=0.01)
    assert cost.time_below_hold[0] == pytest.approx(0.56, abs=0.01)
    direct = cost_of_hold(open_case_report(direct=True))
    assert direct.time_below_total[0] == pytest.approx(1.10, abs=0.01) and direct.time_below_ladder[0] == 0
    # 1100 ng/mL is never reached by this subject: no hold length is an answer.
    answer = longest_hold(case, 7.0, max_days=3)
    assert answer.days is None and answer.answered == 0 and answer.never_fraction == 1.0
    assert "dose change" in answer.sentence
    assert answer.time_below.hold[0] == pytest.approx(0.56, abs=0.01)  # the split is still shown
    # At 600 ng/mL: the cost decided on is the hold's own (1.62 d for 1 day), not the total (10.28 d).
    scenario = parse_scenario(typical_text(5, restart=LADDER))
    own = longest_hold(scenario, 3.0, max_days=4)
    total = longest_hold(scenario, 3.0, max_days=4, against="continuous")
    for n in range(1, 5):
        cost = cost_of_hold(parse_scenario(typical_text(n, restart=LADDER)))
        assert own.cost[n - 1] == pytest.approx(cost.time_below_hold[0], abs=1e-12)
        assert total.cost[n - 1] == pytest.approx(cost.time_below_total[0], abs=1e-12)
        assert own.time_below.hold[n - 1] + own.time_below.ladder[n - 1] == pytest.approx(own.time_below.total[n - 1])
    assert own.cost[0] < 2.0 < total.cost[0]
    assert own.days >= 1 and total.days == 0


def open_case_report(direct=False):
    from pathlib import Path

    text = (Path(__file__).parents[1] / "scenarios" / "gist-rash-case-report.toml").read_text(encoding="utf-8")
    text = text.replace("days = 14\n", "days = 1\n").replace('dense = true\ndense_step = "1 h"', "dense = false")
    if direct:
        text = text.replace('    { dose = "200 mg", days = 7 },\n    { dose = "300 mg", days = 56 },\n', "")
    return parse_scenario(text)


def test_longest_hold__troughs_below_metric_counts_missed_troughs():
    scenario = parse_scenario(typical_text(3))
    answer = longest_hold(scenario, 4, metric="troughs_below", max_days=12, stop_early=False)
    counts = [troughs_below_from_simulate(n, 600.0) for n in range(1, 13)]
    assert answer.cost == tuple(float(c) for c in counts)
    assert answer.units == "troughs" and "troughs" in answer.sentence
    assert answer.days == max(n for n, c in zip(range(1, 13), counts) if c <= 4)


MIXED_TARGET = "800"  # typical trough 732: some of the 30 subjects reach it, some never do


def mixed_text(days=5, restart=LADDER, hold=True):
    return scenario_text(days=days, restart=restart, hold=hold).replace('value = "600 ng/mL"', f'value = "{MIXED_TARGET} ng/mL"')


def reaching(text):
    """Subjects with a trough in the window at or above the target on continuous dosing (brute force)."""
    scenario = parse_scenario(text)
    ds = run_scenario(scenario)
    level = scenario.thresholds[0].value
    window = ds.dose_time.values >= 28 * 24.0
    return np.any(ds.trough.values[:, window] >= level, axis=1)


def test_population_answers_are_about_the_subjects_who_reach_the_target():
    reach = reaching(mixed_text(hold=False))
    assert 0 < reach.sum() < reach.size  # the case the issue is about: some never reach the target
    scenario = parse_scenario(mixed_text())
    answer = longest_hold(scenario, 1.0, max_days=4, against="continuous", confidence=0.9)
    assert (answer.subjects, answer.answered) == (reach.size, int(reach.sum()))
    assert answer.never_fraction == pytest.approx(1 - reach.mean())
    base = run_scenario(parse_scenario(mixed_text(hold=False)))
    for n in range(1, 5):
        held = run_scenario(parse_scenario(mixed_text(n)))
        extra = (held["time_below"].values[:, 0] - base["time_below"].values[:, 0]) / 24
        assert answer.cost[n - 1] == np.quantile(extra[reach], 0.9, method="inverted_cdf")
        assert answer.cost_mean[n - 1] == pytest.approx(extra[reach].mean(), abs=1e-12)
    never = int(reach.size - reach.sum())
    assert f"{never} of {reach.size} subjects" in answer.sentence and "dose change" in answer.sentence
    recovery = doses_to_target(scenario)
    assert (recovery.answered, recovery.subjects) == (reach.sum(), reach.size)
    comparison = compare_ladders(scenario, [[], [(300, 14)]])
    assert comparison.answered == reach.sum()
    direct = run_scenario(parse_scenario(mixed_text(restart="")))
    below = direct["time_below"].values[:, 0] / 24
    assert comparison.rows[0].days_below == np.quantile(below[reach], 0.9, method="inverted_cdf")
    assert comparison.rows[0].days_below_mean == pytest.approx(below[reach].mean(), abs=1e-12)
    assert "never reach" in comparison.sentence


def test_ladder_table_mean_is_a_mean():
    """'days below (mean)' printed a quantile: the mean column is now the mean over the subjects answered,
    and differs from the value at the confidence level on this population."""
    scenario = parse_scenario(scenario_text())
    reach = reaching(scenario_text(hold=False))
    report = plan(scenario, confidence=0.9, ladders=[[]])
    row = report["ladders"]["rows"][0]
    direct = run_scenario(parse_scenario(scenario_text(restart="")))
    below = direct["time_below"].sel(threshold="low").values / 24
    assert row["days_below_mean"] == pytest.approx(below[reach].mean(), abs=1e-12)
    assert row["days_below"] == np.quantile(below[reach], 0.9, method="inverted_cdf") != row["days_below_mean"]
    text = format_plan(report)
    line = next(l for l in text.splitlines() if l.strip().startswith("direct restart"))
    assert line.split()[6:8] == [f"{row['days_below']:.2f}", f"{row['days_below_mean']:.2f}"] and f"{row['days_below_mean']:.2f}" in line.split()
    assert "at 90%" in text and "mean" in text


def test_compare_ladders__a_tie_is_not_a_winner():
    """A '400 mg x 7 d' ladder is the prescription itself: the same doses as a direct restart. The old
    text named one of them 'best on both counts' and marked both Pareto-optimal."""
    scenario = parse_scenario(typical_text(5))
    result = compare_ladders(scenario, [[], [(400, 7)]])
    assert result.all_tie
    a, b = result.rows
    assert a.days_below == b.days_below and a.toxicity == b.toxicity
    assert not a.pareto and not b.pareto and a.front and b.front
    assert a.tied_with == (b.label,) and b.tied_with == (a.label,)
    assert "tie" in result.sentence and "no recommendation" in result.sentence and "best" not in result.sentence
    # A tie among the best of three: both named, neither called the winner alone.
    three = compare_ladders(scenario, [[], [(400, 7)], [(200, 14)]])
    assert not three.all_tie
    assert "(tied)" in three.sentence and "'direct restart at the prescribed dose' and '400 mg x 7 d" in three.sentence
    assert [r.pareto for r in three.rows] == [False, False, three.rows[2].front]
    text = format_plan(plan(scenario, ladders=[[], [(400, 7)]]))
    assert "no recommendation" in text
    assert [l.split()[-1] for l in text.splitlines() if l.strip().startswith(("direct restart", "400 mg x 7 d"))] == ["tie", "tie"]


def test_compare_ladders__duplicates_are_compared_once():
    scenario = parse_scenario(typical_text(5))
    result = compare_ladders(scenario, [[(200, 7)], [LadderStep(200, 7)], ((200.0, 7.0),), []])
    assert [r.label for r in result.rows] == ["200 mg x 7 d -> prescription", "direct restart at the prescribed dose"]
    assert result.notes == ("'200 mg x 7 d -> prescription' was given 3 times; compared once",)


def test_compare_ladders__hold_and_ladder_costs_add_up():
    scenario = parse_scenario(typical_text(5))
    result = compare_ladders(scenario, [[(200, 7), (300, 7)], []])
    continuous = run_scenario(parse_scenario(typical_text(5, hold=False)))["time_below"].sel(threshold="low").values[0] / 24
    for row in result.rows:
        assert row.hold_cost_mean + row.ladder_cost_mean == pytest.approx(row.days_below_mean - continuous, abs=1e-12)
    assert result.rows[1].ladder_cost_mean == 0.0


def test_doses_to_target__recovery_to_the_own_steady_state():
    """After a 10-day hold with a direct restart, trough r + n over the steady-state trough is
    1 - rk^n (1 - rk^10), rk = exp(-k tau) = 0.372 (fast absorption): 0.63, 0.86, 0.95 for n = 1, 2, 3:
    back at 90 % of the own steady state 3 doses (3 d) after the restart."""
    scenario = parse_scenario(typical_text(10))
    answer = doses_to_target(scenario, level="steady_state", fraction=0.9)
    rk = math.exp(-14.3 / 347.0 * 24)
    ratios = [1 - rk ** n * (1 - rk ** 10) for n in (1, 2, 3)]
    assert ratios[1] < 0.9 < ratios[2]
    assert (answer.doses, answer.days, answer.restart_day) == (3.0, 3.0, 39)
    assert answer.level == "steady_state" and "90% of the subject's own trough" in answer.sentence
    # The same from simulate's troughs directly.
    held = simulate(Schedule(phases=(Phase(dose=400.0, days=100),), holds=(Hold(start_day=29, days=10),)), PKParams(**TYPICAL))
    cont = simulate(Schedule(phases=(Phase(dose=400.0, days=100),)), PKParams(**TYPICAL))
    r = 38
    ratio = held.trough.values[0, 1:] / cont.trough.values[0, 1:]  # no trough before the first dose
    ratio = np.concatenate([[np.nan], ratio])
    assert ratio[r + 1:r + 4] == pytest.approx(ratios, abs=1e-4)
    first = next(j for j in range(r + 1, 100) if ratio[j] >= 0.9)
    assert first - r == answer.doses
    # Against the target: the trough at 600 ng/mL is back after 2 doses (0.86 x 732 = 631).
    assert doses_to_target(scenario).doses == 2.0


def test_several_holds_are_planned_one_at_a_time():
    """Two holds (days 29-31, then a hold from day 60 with its own ladder); the planned hold is the last
    by default, or the one named; the other stays as written in every run."""
    two = scenario_text(days=3, population="").replace(
        "\n[verdict]", HOLD.format(days=5, restart=LADDER).replace("start_day = 29", "start_day = 60") + "\n[verdict]"
    )
    scenario = parse_scenario(two)
    assert len(scenario.schedule.holds) == 2
    second = longest_hold(scenario, 2.0, max_days=5)
    first = longest_hold(scenario, 2.0, max_days=40, hold=0, stop_early=False)
    assert (second.hold_index, second.start_day, first.hold_index, first.start_day) == (1, 60, 0, 29)
    assert first.lengths[-1] == 31  # capped where the next hold starts (day 60)
    assert "holds[1]" in second.sentence
    for n in (1, 4):
        varied = parse_scenario(two.replace("days = 5", f"days = {n}"))
        cost = cost_of_hold(varied, hold=1)
        assert second.cost[n - 1] == pytest.approx(cost.time_below_hold[0], abs=1e-12)
        # Brute force of the total: the same scenario without the second hold.
        without = run_scenario(parse_scenario(scenario_text(days=3, population="")))
        held = run_scenario(varied)
        total = (held["time_below"].values[0, 0] - without["time_below"].values[0, 0]) / 24
        assert cost.time_below_total[0] == pytest.approx(total, abs=1e-12)
        assert cost.baseline.startswith("dosing without this hold")
    report = plan(scenario, confidence=1.0)
    assert report["hold"]["start_day"] == 60
    with pytest.raises(ImapkError, match="no such hold"):
        longest_hold(scenario, 2.0, hold=2)


def test_cli_plan__two_holds_and_a_repeated_ladder(tmp_path, capsys):
    """`imapk plan` on a scenario with two holds plans the last; the hold's own ladder given again with
    --ladder is compared once, with a note."""
    two = scenario_text(days=3).replace(
        "\n[verdict]", HOLD.format(days=5, restart=LADDER).replace("start_day = 29", "start_day = 60") + "\n[verdict]"
    )
    path = tmp_path / "two.toml"
    path.write_text(two, encoding="utf-8")
    assert main(["plan", str(path), "--ladder", "200x7,300x7", "--ladder", "", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["hold"]["start_day"] == 60 and report["hold"]["index"] == 1
    labels = [r["ladder"] for r in report["ladders"]["rows"]]
    assert len(labels) == len(set(labels))
    assert report["ladders"]["notes"] == ["'200 mg x 7 d -> 300 mg x 7 d -> prescription' was given 2 times; compared once"]
    # The split adds up in the report too.
    split = report["longest_hold"]["time_below_days"]
    for h, l, t in zip(split["hold"], split["ladder"], split["total"]):
        assert h + l == pytest.approx(t, abs=1e-9)


def test_longest_hold__stops_once_the_answer_is_settled():
    scenario = parse_scenario(scenario_text())
    full = longest_hold(scenario, 2.0, max_days=20, stop_early=False)
    quick = longest_hold(scenario, 2.0, max_days=20)
    assert quick.days == full.days
    assert len(quick.lengths) == max(7, full.days + 1) < 20
    assert quick.cost == full.cost[: len(quick.lengths)]


def test_planned_hold():
    from imapk.planner import planned_hold

    two = scenario_text(days=3).replace(
        "\n[verdict]", HOLD.format(days=5, restart=LADDER).replace("start_day = 29", "start_day = 60") + "\n[verdict]"
    )
    scenario = parse_scenario(two)
    assert planned_hold(scenario) == 1 and planned_hold(scenario, 0) == 0
    for bad in (2, -1, True, 1.0):
        with pytest.raises(ImapkError, match="no such hold"):
            planned_hold(scenario, bad)


def test_planner_runs_without_simulated_assay_values(monkeypatch):
    """The answers are about true troughs: the planner's runs skip the residual-error draws (they cost a
    third of a 1000-patient plan) and give the same answers as with them."""
    import imapk.planner as planner_module
    import imapk.runner

    seen = []
    real = imapk.runner.run_scenario
    monkeypatch.setattr(imapk.runner, "run_scenario", lambda s, **k: seen.append(s.population.residual_error) or real(s, **k))
    text = Path("scenarios/gist-rash-case-report-population.toml").read_text().replace("size = 1000", "size = 20")
    scenario = parse_scenario(text, "p.toml")
    assert scenario.population.residual_error
    planner_module._run(scenario)
    assert seen == [False]
