"""The planner (imapk.planner) against brute-force simulation, the single-held-dose closed form,
Pareto flags, and the `imapk plan` command."""

import json
import math

import numpy as np
import pytest

from imapk.cli import main
from imapk.errors import ImapkError
from imapk.params import PKParams
from imapk.planner import (
    compare_ladders,
    doses_to_target,
    generate_ladders,
    longest_hold,
    pareto_front,
    quantile,
    single_held_dose_ratio,
)
from imapk.scenario import parse_scenario, run_scenario
from imapk.schedule import Hold, Phase, Schedule, SteadyState
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
    """Per-subject extra days below 'low' for each hold length, from TOML text and run_scenario."""
    base = run_scenario(parse_scenario(scenario_text(population=population, hold=False)))
    base_below = base["time_below"].sel(threshold="low").values / 24
    out = []
    for days in lengths:
        ds = run_scenario(parse_scenario(scenario_text(days=days, population=population)))
        out.append(ds["time_below"].sel(threshold="low").values / 24 - base_below)
    return np.array(out)


@pytest.mark.parametrize("population", [POPULATION, ""])
def test_longest_hold_matches_a_direct_scan(population):
    scenario = parse_scenario(scenario_text(population=population))
    lengths = range(1, 13)
    costs = brute_force_costs(population, lengths)
    q = np.array([np.quantile(row, 0.9, method="inverted_cdf") for row in costs])
    budget = float(q[5])  # exactly the cost of a 6-day hold
    expected = 0
    for n, c in zip(lengths, q):
        if c > budget + 1e-9:
            break
        expected = n
    answer = longest_hold(scenario, budget, confidence=0.9, max_days=12)
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
    for n, cost in zip(answer.lengths, answer.cost):
        ds = run_scenario(parse_scenario(scenario_text(days=n)))
        rec = recovery_after_holds(ds, "low")["recovery_days"].sel(threshold="low").values[:, 0]
        assert cost == quantile(np.where(np.isnan(rec), np.inf, rec), 0.9)


def test_doses_to_target_matches_recovery_after_holds():
    from imapk.exposure import recovery_after_holds

    scenario = parse_scenario(scenario_text())
    answer = doses_to_target(scenario, confidence=0.8)
    ds = run_scenario(scenario)
    doses = recovery_after_holds(ds, "low")["recovery_doses"].sel(threshold="low").values[:, 0]
    doses = np.where(np.isnan(doses), np.inf, doses)
    assert answer.doses == np.sort(doses)[math.ceil(0.8 * doses.size) - 1]
    assert answer.restart_day == 34
    assert answer.fraction_recovered == np.mean(np.isfinite(doses))
    assert "after the restart on day 34" in answer.sentence


def test_doses_to_target_never_is_said_plainly():
    # The typical Widmer subject's steady-state trough at 400 mg/d (732 ng/mL) never reaches 1100 ng/mL.
    text = scenario_text(population="").replace('value = "600 ng/mL"', 'value = "1100 ng/mL"')
    answer = doses_to_target(parse_scenario(text))
    assert math.isinf(answer.doses) and answer.fraction_recovered == 0.0
    assert "not back at" in answer.sentence


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
    assert direct.days_below == quantile(ds["time_below"].sel(threshold="low").values / 24, 0.9)


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
    assert "exactly one hold" in err and "schedule.holds" in err
    with pytest.raises(ImapkError, match="exactly one hold"):
        longest_hold(parse_scenario(scenario_text(hold=False)), 7)
