"""Planning questions about one hold: how long may it last, how fast does the trough recover, which
re-escalation ladder to use.

Every answer is computed by brute-force simulation of the scenario with the hold (or its ladder)
changed, on the same subjects (the scenario's seed fixes them): simple and exact for the linear
one-compartment model. An answer "at confidence q" holds for at least a fraction q of the
subjects: the statistic reported is the smallest value x such that at least q of the subjects have
a value <= x (``numpy.quantile(..., method="inverted_cdf")``), so for one subject it is that
subject's value.

The scenario must have exactly one hold, one model and one therapy clock, and at least one trough
target; the first trough target is the one planned for, and the first ceiling (if any) measures
toxicity the way its kind says: a trough ceiling by the scheduled troughs at or above it, a
concentration ceiling by the time the concentration is at or above it.
Whatever the scenario's window says, it is kept: costs are over the scenario's evaluation window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .errors import ImapkError
from .schedule import HOURS_PER_DAY, Hold, LadderStep
from .thresholds import CEILING_KINDS, TROUGH_CEILING, TROUGH_TARGET

__all__ = [
    "HoldAnswer",
    "LadderComparison",
    "LadderRow",
    "RecoveryAnswer",
    "compare_ladders",
    "doses_to_target",
    "generate_ladders",
    "longest_hold",
    "pareto_front",
    "quantile",
    "single_held_dose_ratio",
]

METRICS = ("time_below", "recovery")


# --------------------------------------------------------------------------------------------
# helpers


def quantile(values, confidence: float) -> float:
    """Smallest x such that at least a fraction `confidence` of `values` is <= x (inf allowed)."""
    values = np.asarray(values, dtype=float).ravel()
    return float(np.quantile(values, confidence, method="inverted_cdf"))


def _check_confidence(confidence: float) -> None:
    if not (isinstance(confidence, (int, float)) and 0.0 < confidence <= 1.0):
        raise ImapkError("confidence must be a fraction of subjects", key="confidence", got=confidence, expected="0 < q <= 1")


def _the_hold(scenario) -> Hold:
    holds = scenario.schedule.holds
    if len(holds) != 1:
        raise ImapkError(
            f"the planner needs a scenario with exactly one hold; this one has {len(holds)}",
            source=scenario.source, key="schedule.holds",
            expected="one [[schedule.holds]] entry (its start day and ladder are the ones planned for)",
        )
    if len(scenario.models) != 1 or len(scenario.therapy_clocks) != 1:
        raise ImapkError(
            "the planner needs one model and one therapy clock", source=scenario.source, key="model.parameter_set",
            got=scenario.parameter_set, expected="one parameter set and one therapy_clock",
        )
    return holds[0]


def _threshold(scenario, kinds: tuple[str, ...]):
    return next((t for t in scenario.thresholds if t.kind in kinds), None)


def _target(scenario):
    target = _threshold(scenario, (TROUGH_TARGET,))
    if target is None:
        raise ImapkError(
            "the planner needs a trough target", source=scenario.source, key="verdict.thresholds",
            expected="e.g. thresholds = ['gist'] or a [[verdict.custom]] with kind = 'trough_target'",
        )
    return target


def _with_hold(scenario, hold: Hold | None):
    schedule = replace(scenario.schedule, holds=() if hold is None else (hold,))
    return replace(scenario, schedule=schedule)


def _run(scenario):
    from .scenario import run_scenario

    return run_scenario(scenario, dense=False, summaries=False)


def _ladder(steps) -> tuple[LadderStep, ...]:
    return tuple(step if isinstance(step, LadderStep) else LadderStep(*step) for step in steps)


def describe_ladder(steps) -> str:
    """``'200 mg x 7 d -> 300 mg x 56 d -> prescription'``; an empty ladder is a direct restart."""
    steps = _ladder(steps)
    if not steps:
        return "direct restart at the prescribed dose"
    parts = [f"{'/'.join(f'{a:g}' for a in s.dose)} mg x {s.days:g} d" for s in steps]
    return " -> ".join(parts + ["prescription"])


def _max_hold_days(scenario, hold: Hold) -> int:
    """Longest whole-day hold from `hold.start_day` that ends inside the schedule."""
    end = scenario.schedule.lower().end
    return math.floor((end - (hold.start_day - 1) * HOURS_PER_DAY) / HOURS_PER_DAY + 1e-9)


def single_held_dose_ratio(cl, v, ka, interval=24.0):
    """Trough after one held dose over the steady-state trough (regular dosing, no lag).

    At steady state the trough is C_ss = c (A - B) with A = r_k / (1 - r_k), B = r_a / (1 - r_a),
    r_k = exp(-k tau), r_a = exp(-ka tau), k = CL/V and c = F D ka / (V (ka - k)). Holding one dose
    removes the newest term of the superposition, and the next trough is c (A r_k - B r_a), so

        ratio = (A r_k - B r_a) / (A - B),

    which is exp(-k tau) when absorption is fast (r_a ~ 0). For the typical Widmer 2006 subject
    (CL 14.3 L/h, V 347 L, ka 0.609 1/h, q24h) it is 0.372: one held dose cuts the next trough to
    about 37 % of the steady-state trough.
    """
    cl, v, ka, interval = (np.asarray(x, dtype=float) for x in (cl, v, ka, interval))
    rk = np.exp(-cl / v * interval)
    ra = np.exp(-ka * interval)
    a = rk / (1.0 - rk)
    b = ra / (1.0 - ra)
    ratio = (a * rk - b * ra) / (a - b)
    return float(ratio) if ratio.ndim == 0 else ratio


# --------------------------------------------------------------------------------------------
# 1. longest hold within a budget


@dataclass(frozen=True)
class HoldAnswer:
    """Answer of :func:`longest_hold`.

    Attributes
    ----------
    days
        Longest hold length [d] whose cost, and that of every shorter hold, is within the budget;
        0 if even a 1-day hold exceeds it.
    budget_days, metric, confidence, target
        The question asked (target: name of the target threshold).
    lengths
        Hold lengths simulated [d], 1, 2, ...
    cost
        Cost of each length [d] at the confidence level (see the module docstring); inf when
        fewer than `confidence` of the subjects ever recover (metric ``"recovery"``).
    sentence
        The answer in one plain sentence.
    """

    days: int
    budget_days: float
    metric: str
    confidence: float
    target: str
    lengths: tuple[int, ...]
    cost: tuple[float, ...]
    sentence: str


def hold_costs(scenario, lengths, *, metric: str = "time_below") -> np.ndarray:
    """Per-subject cost [d] of each hold length: array (length, subject).

    ``time_below``: time below the target over the evaluation window with the hold of that length
    (same start day and ladder), minus the same without any hold, in days. ``recovery``: days from
    the restart until the first trough at or above the target (inf if never before the end).
    """
    if metric not in METRICS:
        raise ImapkError("unknown metric", key="metric", got=metric, expected=f"one of {', '.join(METRICS)}")
    hold = _the_hold(scenario)
    target = _target(scenario)
    rows = []
    if metric == "time_below":
        base = _run(_with_hold(scenario, None))["time_below"].sel(threshold=target.name).values / HOURS_PER_DAY
    for days in lengths:
        ds = _run(_with_hold(scenario, replace(hold, days=float(days), doses=None)))
        if metric == "time_below":
            rows.append(ds["time_below"].sel(threshold=target.name).values / HOURS_PER_DAY - base)
        else:
            rows.append(_recovery(ds, target.name, "recovery_days"))
    return np.array(rows, dtype=float)


def longest_hold(scenario, budget_days: float, *, metric: str = "time_below", confidence: float = 0.9, max_days: int = 28):
    """Longest hold (whole days, from the scenario's hold start day, followed by its ladder) whose
    cost stays within `budget_days` for at least a fraction `confidence` of the subjects.

    The cost is the extra time below the first target compared with no hold on the same subjects
    (``metric="time_below"``), or the time from the restart to the first trough back at or above
    the target (``metric="recovery"``). Lengths 1..`max_days` are simulated (one vectorised run per
    length, capped at the schedule's end); the answer is the largest length L such that every
    length 1..L is within the budget (0 if 1 day is not).

    Why "no trough below target" is rarely a usable budget: imatinib's half-life is about 17 h
    (k = CL/V = 0.041 1/h for the typical Widmer 2006 subject), so with q24h dosing a single held
    dose leaves exp(-k tau) ~ 0.37 of the steady-state trough at the next trough (absorption,
    ka = 0.609 1/h, changes this by < 1e-6; see :func:`single_held_dose_ratio`). Unless the
    steady-state trough is about 2.7 times the target, the first held dose already puts the trough
    below it.
    """
    _check_confidence(confidence)
    if not (isinstance(budget_days, (int, float)) and budget_days >= 0 and math.isfinite(budget_days)):
        raise ImapkError("the budget must be a number of days >= 0", key="budget", got=budget_days)
    hold = _the_hold(scenario)
    target = _target(scenario)
    top = min(int(max_days), _max_hold_days(scenario, hold))
    if top < 1:
        raise ImapkError("no whole-day hold fits in the schedule", key="max_days", got=max_days, expected=">= 1")
    lengths = tuple(range(1, top + 1))
    per_subject = hold_costs(scenario, lengths, metric=metric)
    cost = tuple(quantile(row, confidence) for row in per_subject)
    days = 0
    for length, c in zip(lengths, cost):
        if c > budget_days + 1e-9:
            break
        days = length
    what = "extra days below" if metric == "time_below" else "days to recovery above"
    who = _who(per_subject.shape[1], confidence)
    if days == 0:
        sentence = (
            f"Even a 1-day hold from day {hold.start_day} (then its ladder) exceeds the budget of {budget_days:g} {what} "
            f"{target.name} ({target.value:g} ng/mL) {who}: it costs {cost[0]:.2f} d."
        )
    else:
        more = "" if days == top else f"; {days + 1} days would cost {cost[days]:.2f} d"
        sentence = (
            f"{who.capitalize()}, a hold from day {hold.start_day} (then its ladder) may last up to {days} day(s) "
            f"({'the longest tried' if days == top else 'whole days'}) and cost at most {budget_days:g} {what} "
            f"{target.name} ({target.value:g} ng/mL): {days} days cost {cost[days - 1]:.2f} d{more}."
        )
    return HoldAnswer(days, float(budget_days), metric, float(confidence), target.name, lengths, cost, sentence)


def _who(n: int, confidence: float) -> str:
    return "for this subject" if n == 1 else f"for {confidence:.0%} of {n} subjects"


def _recovery(ds, target: str, field: str) -> np.ndarray:
    from .exposure import recovery_after_holds

    rec = recovery_after_holds(ds, target)[field].sel(threshold=target).values  # (subject, hold_run)
    if rec.shape[1] == 0:
        return np.full(rec.shape[0], np.inf)
    return np.where(np.isnan(rec[:, 0]), np.inf, rec[:, 0])


# --------------------------------------------------------------------------------------------
# 2. doses until the trough is back at the target


@dataclass(frozen=True)
class RecoveryAnswer:
    """Answer of :func:`doses_to_target`.

    Attributes
    ----------
    doses
        Scheduled doses from the restart until the first trough at or above the target, at the
        confidence level (inf: fewer than `confidence` of the subjects get there before the end).
    days
        The same in days from the restart.
    fraction_recovered
        Fraction of subjects whose trough is ever back at or above the target.
    restart_day
        Clinical day of the restart dose.
    sentence
        The answer in one plain sentence.
    """

    doses: float
    days: float
    confidence: float
    target: str
    fraction_recovered: float
    restart_day: int
    sentence: str


def doses_to_target(scenario, *, confidence: float = 0.9) -> RecoveryAnswer:
    """Doses after the restart until the trough is back at or above the first target (first time),
    for at least a fraction `confidence` of the subjects (:func:`imapk.exposure.recovery_after_holds`)."""
    from .exposure import recovery_after_holds

    _check_confidence(confidence)
    hold = _the_hold(scenario)
    target = _target(scenario)
    ds = _run(scenario)
    rec = recovery_after_holds(ds, target.name)
    doses = _recovery(ds, target.name, "recovery_doses")
    days = _recovery(ds, target.name, "recovery_days")
    restart = rec["hold_restart_day"].values
    restart_day = int(restart[0]) if restart.size and np.isfinite(restart[0]) else -1
    fraction = float(np.mean(np.isfinite(doses)))
    q_doses, q_days = quantile(doses, confidence), quantile(days, confidence)
    who = _who(doses.size, confidence)
    if restart_day < 0:
        sentence = f"The schedule ends in the hold from day {hold.start_day}: there is no restart."
    elif math.isinf(q_doses):
        sentence = (
            f"{who.capitalize()}, the trough is not back at {target.name} ({target.value:g} ng/mL) before the end "
            f"of the schedule after the restart on day {restart_day}; {fraction:.0%} of subjects ever get there."
        )
    else:
        sentence = (
            f"{who.capitalize()}, the trough is back at {target.name} ({target.value:g} ng/mL) {q_doses:g} dose(s) "
            f"({q_days:g} d) after the restart on day {restart_day}."
        )
    return RecoveryAnswer(q_doses, q_days, float(confidence), target.name, fraction, restart_day, sentence)


# --------------------------------------------------------------------------------------------
# 3. comparing ladders


@dataclass(frozen=True)
class LadderRow:
    """One candidate ladder: days below target and toxicity exposure (at the confidence level and
    mean over subjects), and whether it is on the Pareto front."""

    label: str
    steps: tuple[LadderStep, ...]
    days_below: float
    days_below_mean: float
    toxicity: float
    toxicity_mean: float
    pareto: bool


@dataclass(frozen=True)
class LadderComparison:
    """Answer of :func:`compare_ladders`; `toxicity_measure` says what `toxicity` is."""

    rows: tuple[LadderRow, ...]
    target: str
    toxicity_measure: str
    toxicity_units: str
    confidence: float
    sentence: str


def pareto_front(points) -> np.ndarray:
    """Non-dominated flags of `points` (n, m), every column to be minimised: a point is dominated
    if another is no worse on every column and strictly better on one."""
    points = np.asarray(points, dtype=float)
    flags = np.ones(points.shape[0], dtype=bool)
    for i in range(points.shape[0]):
        others = np.delete(points, i, axis=0)
        dominated = np.all(others <= points[i], axis=1) & np.any(others < points[i], axis=1)
        flags[i] = not dominated.any()
    return flags


def compare_ladders(scenario, ladders, *, confidence: float = 0.9, labels=None) -> LadderComparison:
    """Compare candidate re-escalation ladders replacing the hold's restart.

    Each ladder is a sequence of (dose mg, days) steps (or :class:`LadderStep`), empty for a direct
    restart at the prescribed dose. For each: days below the first trough target over the
    evaluation window, and toxicity exposure, measured as the scenario's first ceiling says: for a
    trough ceiling, the number of scheduled troughs in the window at or above it; for a
    concentration ceiling, the days with the concentration at or above it; without a ceiling, the
    peak concentration in the window [ng/mL]. Both at the confidence level (and as means). Pareto
    flags are computed on the two confidence-level values.
    """
    _check_confidence(confidence)
    hold = _the_hold(scenario)
    target = _target(scenario)
    ceiling = _threshold(scenario, CEILING_KINDS)
    ladders = [_ladder(steps) for steps in ladders]
    if not ladders:
        raise ImapkError("give at least one ladder", key="ladders")
    labels = [describe_ladder(steps) for steps in ladders] if labels is None else list(labels)
    measured = []
    for steps in ladders:
        ds = _run(_with_hold(scenario, replace(hold, restart=steps)))
        below = ds["time_below"].sel(threshold=target.name).values / HOURS_PER_DAY
        if ceiling is not None and ceiling.kind == TROUGH_CEILING:
            tox = ds["trough_above_count"].sel(threshold=ceiling.name).values.astype(float)
        elif ceiling is not None:
            tox = ds["time_above"].sel(threshold=ceiling.name).values / HOURS_PER_DAY
        else:
            tox = ds["peak_concentration"].values
        measured.append((quantile(below, confidence), float(np.mean(below)), quantile(tox, confidence), float(np.mean(tox))))
    flags = pareto_front([(m[0], m[2]) for m in measured])
    rows = tuple(
        LadderRow(label, steps, m[0], m[1], m[2], m[3], bool(flag))
        for label, steps, m, flag in zip(labels, ladders, measured, flags)
    )
    if ceiling is not None and ceiling.kind == TROUGH_CEILING:
        measure, units = f"troughs above trough ceiling {ceiling.name} ({ceiling.value:g} ng/mL)", "troughs"
    elif ceiling is not None:
        measure, units = f"days with concentration above {ceiling.name} ({ceiling.value:g} ng/mL)", "d"
    else:
        measure, units = "peak concentration", "ng/mL"
    front = [r for r in rows if r.pareto]
    best_eff = min(rows, key=lambda r: (r.days_below, r.toxicity))
    best_tox = min(rows, key=lambda r: (r.toxicity, r.days_below))
    if len({r.days_below for r in rows}) == 1 and len(rows) > 1:
        sentence = (
            f"At this confidence every ladder spends {rows[0].days_below:.2f} d below {target.name} (the worst-off "
            f"subjects are below it throughout), so only the {measure} separates them: '{best_tox.label}' has the least "
            f"({best_tox.toxicity:.3g} {units}); compare the means for the typical subject."
        )
    elif best_eff is best_tox:
        sentence = (
            f"'{best_eff.label}' is best on both counts ({best_eff.days_below:.2f} d below {target.name}, "
            f"{measure} {best_eff.toxicity:.3g} {units}); no trade-off among these ladders."
        )
    else:
        sentence = (
            f"Trade-off: '{best_eff.label}' spends the fewest days below {target.name} ({best_eff.days_below:.2f} d) "
            f"but has {measure} {best_eff.toxicity:.3g} {units}; '{best_tox.label}' has the least ({best_tox.toxicity:.3g} "
            f"{units}) at {best_tox.days_below:.2f} d below. {len(front)} of {len(rows)} ladders are on the Pareto front."
        )
    return LadderComparison(rows, target.name, measure, units, float(confidence), sentence)


def generate_ladders(strengths=(100, 400), step_days=(7, 14), max_dose=400) -> list[tuple[tuple[float, float], ...]]:
    """A handful of candidate ladders from tablet multiples.

    Dose levels are sums of tablets of the given strengths up to `max_dose`; a ladder starts at a
    level >= max_dose / 2 and climbs one level per step of `step_days` days until the level below
    `max_dose` (then the prescription resumes). The direct restart (empty ladder) comes first.

    >>> generate_ladders(step_days=(7,))
    [(), ((300.0, 7),), ((200.0, 7), (300.0, 7))]
    """
    levels = {0.0}
    for _ in range(int(max_dose // min(strengths)) + 1):
        levels |= {a + s for a in levels for s in strengths if a + s <= max_dose}
    levels = sorted(x for x in levels if 0 < x < max_dose)
    starts = [x for x in levels if x >= max_dose / 2]
    ladders = [()]
    for days in step_days:
        for start in sorted(starts, reverse=True):
            ladders.append(tuple((float(x), days) for x in levels if x >= start))
    return ladders


# --------------------------------------------------------------------------------------------
# the report of `imapk plan`


def plan(scenario, *, budget_days: float = 7.0, confidence: float | None = None, ladders=None) -> dict:
    """The three answers as a JSON-ready dict (`confidence` default: 0.9, or 1 for one subject)."""
    _the_hold(scenario)
    if confidence is None:
        confidence = 0.9 if scenario.population.size != 1 else 1.0
    hold = scenario.schedule.holds[0]
    if ladders is None:
        own = hold.restart
        ladders = [own] + [
            cand for cand in ([], [(300.0, 14)], [(200.0, 7), (300.0, 7)]) if _ladder(cand) != _ladder(own)
        ]
    answer = longest_hold(scenario, budget_days, confidence=confidence)
    recovery = doses_to_target(scenario, confidence=confidence)
    comparison = compare_ladders(scenario, ladders, confidence=confidence)
    finite = lambda x: x if math.isfinite(x) else None
    return {
        "scenario": scenario.title,
        "confidence": confidence,
        "target": answer.target,
        "longest_hold": {
            "budget_days": answer.budget_days, "metric": answer.metric, "days": answer.days,
            "cost_days": {str(n): finite(c) for n, c in zip(answer.lengths, answer.cost)},
            "sentence": answer.sentence,
        },
        "doses_to_target": {
            "doses": finite(recovery.doses), "days": finite(recovery.days), "restart_day": recovery.restart_day,
            "fraction_recovered": recovery.fraction_recovered, "sentence": recovery.sentence,
        },
        "ladders": {
            "toxicity_measure": comparison.toxicity_measure, "toxicity_units": comparison.toxicity_units,
            "rows": [
                {"ladder": r.label, "days_below": r.days_below, "days_below_mean": r.days_below_mean,
                 "toxicity": r.toxicity, "toxicity_mean": r.toxicity_mean, "pareto": r.pareto}
                for r in comparison.rows
            ],
            "sentence": comparison.sentence,
        },
    }


def format_plan(report: dict) -> str:
    """A short readable text of :func:`plan`'s report."""
    q = report["confidence"]
    hold = report["longest_hold"]
    lines = [
        report["scenario"],
        f"target: {report['target']}; answers hold for {q:.0%} of the subjects",
        "",
        f"1. Longest hold (budget {hold['budget_days']:g} extra days below target)",
        f"   {hold['sentence']}",
        "   cost per length [d]: " + ", ".join(
            f"{n}: {'never' if c is None else f'{c:.2f}'}" for n, c in list(hold["cost_days"].items())[:14]
        ) + (" ..." if len(hold["cost_days"]) > 14 else ""),
        "",
        "2. Doses until the trough is back at target",
        f"   {report['doses_to_target']['sentence']}",
        "",
        "3. Re-escalation ladders",
    ]
    ladders = report["ladders"]
    width = max(len(r["ladder"]) for r in ladders["rows"])
    lines.append(
        f"   {'ladder':<{width}}  days below (mean)  {ladders['toxicity_measure']} [{ladders['toxicity_units']}] (mean)  Pareto"
    )
    for r in ladders["rows"]:
        lines.append(
            f"   {r['ladder']:<{width}}  {r['days_below']:8.2f} ({r['days_below_mean']:.2f})  "
            f"{r['toxicity']:.3g} ({r['toxicity_mean']:.3g})  {'yes' if r['pareto'] else 'no'}"
        )
    lines.append(f"   {ladders['sentence']}")
    return "\n".join(lines)
