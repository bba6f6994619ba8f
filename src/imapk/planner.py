"""Planning questions about one hold: how long may it last, how fast does the trough recover, which
re-escalation ladder to use.

Every answer is computed by brute-force simulation of the scenario with the hold (or its ladder)
changed, on the same subjects (the scenario's seed fixes them): simple and exact for the linear
one-compartment model.

What each answer measures
-------------------------
Three schedules are compared on the same subjects, for the *planned hold* (the scenario's only hold,
or the one chosen with ``hold=``; the other holds and their ladders stay as written in all three):

* **as planned**: the hold, then its ladder;
* **ladder without the hold**: the doses of the hold are given at their planned amount (the
  prescription, or the dose of an earlier ladder the hold interrupts), the ladder follows on the
  same days;
* **without the hold** ("continuous dosing" when the scenario has no other hold): neither the hold
  nor its ladder.

The *hold cost* is as planned minus ladder without the hold; the *ladder cost* is ladder without the
hold minus without the hold; they add up, subject by subject, to the *total* (as planned minus
without the hold). With a direct restart the ladder cost is 0. Each cost is given two ways, over the
scenario's evaluation window and the first trough target:

* **time below** [d]: continuous time with the concentration below the target;
* **troughs below** [troughs]: scheduled troughs below the target (missed troughs).

The two differ: while the trough sits just below the target, the curve is above it for most of
each day, so a 10-day hold can cost more than 10 missed troughs but fewer than 10 days below.

Who the population answers are about
------------------------------------
A question about the target has an answer only for the subjects who reach it without the hold:
those with at least one trough in the evaluation window at or above the target on dosing without
the planned hold. For the others every hold length and every ladder scores alike (they are below
the target throughout); for them the answer is a dose change, not a hold length. Population answers
are computed over the subjects who reach the target, and the share who never do is stated beside.
Recovery to a fraction of each subject's own trough (``level="steady_state"``) has an answer for
every subject.

An answer "at confidence q" holds for at least a fraction q of those subjects: the statistic is the
smallest value x such that at least q of them have a value <= x
(``numpy.quantile(..., method="inverted_cdf")``), so for one subject it is that subject's value.
Means are means over the same subjects (they add up: mean hold cost + mean ladder cost = mean total).

The scenario must have at least one hold, one model and one therapy clock, and at least one trough
target; the first trough target is the one planned for, and the first ceiling (if any) measures
toxicity the way its kind says: a trough ceiling by the scheduled troughs at or above it, a
concentration ceiling by the time the concentration is at or above it.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields, replace

import numpy as np

from .errors import ImapkError
from .schedule import GIVEN, HOURS_PER_DAY, DoseTable, Hold, LadderStep, Schedule, day_start
from .thresholds import CEILING_KINDS, TROUGH_CEILING, TROUGH_TARGET

__all__ = [
    "CostSplit",
    "HoldAnswer",
    "HoldCost",
    "LadderComparison",
    "LadderRow",
    "RecoveryAnswer",
    "compare_ladders",
    "cost_of_hold",
    "describe_ladder",
    "doses_to_target",
    "generate_ladders",
    "longest_hold",
    "pareto_front",
    "planned_hold",
    "quantile",
    "single_held_dose_ratio",
    "ties",
]

#: Costs :func:`longest_hold` can budget: continuous time below the target [d], scheduled troughs
#: below it [troughs], days from the restart to the first trough back at the recovery level [d].
METRICS = ("time_below", "troughs_below", "recovery")
#: What a cost is measured against: the same ladder without the hold (the cost of the hold itself),
#: or dosing without the hold and its ladder (hold and ladder together).
AGAINST = ("ladder", "continuous")
#: Recovery levels: the target, or a fraction of each subject's own trough without the hold.
LEVELS = ("target", "steady_state")
_UNITS = {"time_below": "d", "troughs_below": "troughs", "recovery": "d"}
#: Hold lengths :func:`longest_hold` simulates at least, even when a shorter one is over the budget.
MIN_LENGTHS = 7
#: Two costs closer than this count as a tie [d or troughs].
TIE_TOLERANCE = 1e-9


# --------------------------------------------------------------------------------------------
# helpers


def quantile(values, confidence: float) -> float:
    """Smallest x such that at least a fraction `confidence` of `values` is <= x (inf allowed);
    NaN for no values."""
    values = np.asarray(values, dtype=float).ravel()
    if values.size == 0:
        return math.nan
    return float(np.quantile(values, confidence, method="inverted_cdf"))


def _mean(values) -> float:
    values = np.asarray(values, dtype=float).ravel()
    return float(np.mean(values)) if values.size else math.nan


def _check_confidence(confidence: float) -> None:
    if isinstance(confidence, bool) or not (isinstance(confidence, (int, float)) and 0.0 < confidence <= 1.0):
        raise ImapkError("confidence must be a fraction of subjects", key="confidence", got=confidence, expected="0 < q <= 1")


def _check_choice(value, allowed, key: str) -> None:
    if value not in allowed:
        raise ImapkError(f"unknown {key}", key=key, got=value, expected=f"one of {', '.join(allowed)}")


def _hold_index(scenario, hold: int | None = None) -> int:
    """Index of the planned hold in ``scenario.schedule.holds``: `hold`, or the last one (in time)."""
    holds = scenario.schedule.holds
    if not holds:
        raise ImapkError(
            "the planner needs a scenario with a hold", source=scenario.source, key="schedule.holds",
            expected="a [[schedule.holds]] entry (its start day and ladder are the ones planned for)",
        )
    if len(scenario.models) != 1 or len(scenario.therapy_clocks) != 1:
        raise ImapkError(
            "the planner needs one model and one therapy clock", source=scenario.source, key="model.parameter_set",
            got=scenario.parameter_set, expected="one parameter set and one therapy_clock",
        )
    if hold is None:
        return max(range(len(holds)), key=lambda i: (holds[i].start_day, i))
    if isinstance(hold, bool) or not isinstance(hold, (int, np.integer)) or not 0 <= hold < len(holds):
        raise ImapkError(
            "no such hold", source=scenario.source, key="hold", got=hold,
            expected=f"an index 0 to {len(holds) - 1} into [[schedule.holds]]",
        )
    return int(hold)


def planned_hold(scenario, hold: int | None = None) -> int:
    """Index in ``scenario.schedule.holds`` of the hold the planner plans: `hold` if given, else the
    last to start.

    Raises
    ------
    ImapkError
        Without a hold, with several models or therapy clocks, or for an index that does not exist.
    """
    return _hold_index(scenario, hold)


def _the_hold(scenario, hold: int | None = None) -> Hold:
    """The planned hold (see :func:`_hold_index`)."""
    return scenario.schedule.holds[_hold_index(scenario, hold)]


def _name_hold(scenario, i: int) -> str:
    hold = scenario.schedule.holds[i]
    name = f"the hold from day {hold.start_day}"
    if len(scenario.schedule.holds) > 1:
        name += f" (holds[{i}], '{hold.label}')"
    return name


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


def _with_holds(scenario, holds, schedule_type=None, **extra):
    """The scenario with these holds (and, for a `schedule_type`, that schedule class)."""
    schedule = scenario.schedule
    values = {f.name: getattr(schedule, f.name) for f in fields(Schedule)}
    values["holds"] = tuple(holds)
    return replace(scenario, schedule=(schedule_type or Schedule)(**values, **extra))


def _with_hold(scenario, hold: Hold | None, index: int = 0):
    """The scenario with hold `index` replaced by `hold` (None: removed)."""
    holds = list(scenario.schedule.holds)
    if hold is None:
        del holds[index]
    else:
        holds[index] = hold
    return _with_holds(scenario, holds)


@dataclass(frozen=True)
class _LadderWithoutHold(Schedule):
    """A schedule whose hold `given_hold` holds nothing: its doses are given at their planned amount
    and its ladder follows on the same days as after the hold (the reference of the hold cost).

    ``held_by_drawn``: (dose, label) of the doses a patient's drawn toxicity hold covers inside the
    planned holds (:func:`imapk.processes.overlay.overlay_holds`); those of `given_hold` stay held,
    under the drawn hold's label, since the drawn hold holds them without the planned one."""

    given_hold: int = 0
    held_by_drawn: tuple = ()

    def lower(self) -> DoseTable:
        table = super().lower()
        i = self.given_hold
        members = table.hold == i
        kept = {j: label for j, label in self.held_by_drawn if members[j]}
        labels = table.hold_labels[:i] + table.hold_labels[i + 1:]
        hold = np.where(table.hold > i, table.hold - 1, table.hold)
        hold[members] = -1
        restart_index = np.delete(table.restart_index, i)
        for label in dict.fromkeys(kept.values()):  # each drawn label's doses as one more hold
            doses = [j for j, name in kept.items() if name == label]
            hold[doses] = len(labels)
            labels = labels + (label,)
            after = max(doses) + 1
            restart_index = np.append(restart_index, after if after < table.time.size else -1)
        given_now = members & (hold == -1)
        return replace(
            table,
            given=np.where(given_now, table.planned, table.given),
            status=np.where(given_now, GIVEN, table.status).astype(table.status.dtype),
            hold=hold,
            restart_index=restart_index,
            hold_labels=labels,
        )


def _ladder_without_hold(scenario, index: int):
    return _with_holds(scenario, scenario.schedule.holds, _LadderWithoutHold, given_hold=index)


def _ladder_outcome(scenario, index: int, target, without, ceiling=None):
    """Outcome of the ladder without the hold; `without` itself when they are the same schedule (a
    direct restart and no other hold whose ladder the planned hold cuts short)."""
    if not scenario.schedule.holds[index].restart and len(scenario.schedule.holds) == 1:
        return without
    return _outcome(_ladder_without_hold(scenario, index), target, ceiling)


def _run(scenario):
    """Troughs and verdicts of `scenario` as the planner needs them: model troughs only (no dense curve,
    no percentiles, and no simulated assay values: the answers are about the patients' true troughs, so
    drawing residual errors for every run would only cost time)."""
    from dataclasses import replace

    from .runner import run_scenario

    own_run = getattr(scenario, "planner_run", None)
    if own_run is not None:  # a fitted patient's posterior draws (imapk.tdm.posterior_patient)
        return own_run()
    if scenario.population.residual_error:
        scenario = replace(scenario, population=replace(scenario.population, residual_error=False))
    return run_scenario(scenario, dense=False, summaries=False, as_dataset=False)


@dataclass(frozen=True)
class _Outcome:
    """Per-subject measures of one simulated schedule (first target, first ceiling)."""

    time_below: np.ndarray  # (subject,) [d]
    troughs_below: np.ndarray  # (subject,) [troughs]
    trough: np.ndarray  # (subject, dose) [ng/mL]
    toxicity: np.ndarray  # (subject,) in the ceiling's units, or the peak [ng/mL]
    table: DoseTable


def _outcome(scenario, target, ceiling=None) -> _Outcome:
    result = _run(scenario)
    names = [str(t) for t in result["threshold"].values]
    m = names.index(target.name)
    if ceiling is not None and ceiling.kind == TROUGH_CEILING:
        toxicity = result["trough_above_count"].values[:, names.index(ceiling.name)].astype(float)
    elif ceiling is not None:
        toxicity = result["time_above"].values[:, names.index(ceiling.name)] / HOURS_PER_DAY
    else:
        toxicity = np.asarray(result["peak_concentration"].values, dtype=float)
    return _Outcome(
        time_below=np.asarray(result["time_below"].values[:, m], dtype=float) / HOURS_PER_DAY,
        troughs_below=np.asarray(result["trough_below_count"].values[:, m], dtype=float),
        trough=np.asarray(result["trough"].values, dtype=float),
        toxicity=toxicity,
        table=scenario.schedule.lower(),
    )


def _window_mask(scenario, table: DoseTable) -> np.ndarray:
    start, stop = scenario.window
    stop = table.end if stop is None else min(stop, table.end)
    return (table.time >= start) & (table.time < stop)


def _reaches(scenario, outcome: _Outcome, level: float) -> np.ndarray:
    """Subjects with at least one scheduled trough in the window at or above `level`."""
    inside = _window_mask(scenario, outcome.table)
    return np.any(outcome.trough[:, inside] >= level, axis=1)


def _ladder(steps) -> tuple[LadderStep, ...]:
    return tuple(step if isinstance(step, LadderStep) else LadderStep(*step) for step in steps)


def describe_ladder(steps) -> str:
    """``'200 mg x 7 d -> 300 mg x 56 d -> prescription'``; an empty ladder is a direct restart."""
    steps = _ladder(steps)
    if not steps:
        return "direct restart at the prescribed dose"
    parts = [f"{'/'.join(f'{a:g}' for a in s.dose)} mg x {s.days:g} d" for s in steps]
    return " -> ".join(parts + ["prescription"])


def _max_hold_days(scenario, hold: Hold, index: int | None = None) -> int:
    """Longest whole-day hold from `hold.start_day` that ends inside the schedule and before the
    next hold starts."""
    end = scenario.schedule.lower().end
    begin = day_start(hold.start_day)
    later = [
        day_start(other.start_day) for j, other in enumerate(scenario.schedule.holds)
        if j != index and other.start_day > hold.start_day
    ]
    stop = min([end, *later])
    return math.floor((stop - begin) / HOURS_PER_DAY + 1e-9)


def single_held_dose_ratio(cl, v, ka, interval=24.0):
    """Trough after one held dose over the steady-state trough (regular dosing, no lag).

    At steady state the trough is C_ss = c (A - B) with A = r_k / (1 - r_k), B = r_a / (1 - r_a),
    r_k = exp(-k tau), r_a = exp(-ka tau), k = CL/V and c = F D ka / (V (ka - k)). Holding one dose
    removes the newest term of the superposition, and the next trough is c (A r_k - B r_a), so

        ratio = (A r_k - B r_a) / (A - B),

    which is exp(-k tau) when absorption is fast (r_a ~ 0). For the typical Widmer 2006 subject
    (CL 14.3 L/h, V 347 L, ka 0.609 1/h, q24h) it is 0.372: one held dose cuts the next trough to
    about 37 % of the steady-state trough.

    Parameters
    ----------
    cl, v, ka
        Apparent clearance [L/h], apparent volume [L], absorption rate constant [1/h].
    interval
        Dosing interval [h].

    Returns
    -------
    float or numpy.ndarray
        The ratio [1], a float for scalar inputs.
    """
    cl, v, ka, interval = (np.asarray(x, dtype=float) for x in (cl, v, ka, interval))
    rk = np.exp(-cl / v * interval)
    ra = np.exp(-ka * interval)
    a = rk / (1.0 - rk)
    b = ra / (1.0 - ra)
    ratio = (a * rk - b * ra) / (a - b)
    return float(ratio) if ratio.ndim == 0 else ratio


def _recovery(outcome: _Outcome, index: int, level) -> tuple[np.ndarray, np.ndarray]:
    """Doses and days from the restart after hold `index` to the first trough at or above `level`
    (scalar, or (subject, dose)); inf if never before the next hold's first held dose (included)
    or the end; NaN for every subject if the schedule ends in the hold.

    The same definition as :func:`imapk.exposure.recovery_after_holds`: with r the restart, the
    troughs j = r + 1, ..., s are searched (the trough at r still reflects the hold).
    """
    table = outcome.table
    n = outcome.trough.shape[0]
    r = int(table.restart_index[index])
    if r < 0:
        return np.full(n, np.nan), np.full(n, np.nan)
    held = np.flatnonzero(table.hold >= 0)
    after = held[held > r]
    s = int(after[0]) if after.size else len(table.time) - 1
    if s <= r:
        return np.full(n, np.inf), np.full(n, np.inf)
    level = np.broadcast_to(np.asarray(level, dtype=float), outcome.trough.shape)
    span = slice(r + 1, s + 1)
    ok = outcome.trough[:, span] >= level[:, span]
    found = ok.any(axis=1)
    j = r + 1 + ok.argmax(axis=1)
    doses = np.where(found, j - r, np.inf).astype(float)
    days = np.where(found, (table.time[j] - table.time[r]) / HOURS_PER_DAY, np.inf)
    return doses, days


def _posterior(scenario) -> bool:
    """Whether the subjects are draws from one patient's posterior (:mod:`imapk.tdm.posterior_plan`)."""
    return bool(getattr(scenario, "about_posterior", False))


def _who(answered: int, total: int, confidence: float | None = None, posterior: bool = False) -> str:
    """'for this subject', 'for 90 % of the 27 subjects who reach low', 'with probability 0.90 under
    this patient's posterior', ..."""
    if posterior:
        if total == 1:
            return "for this patient (posterior mode, no parameter uncertainty)"
        at = "under this patient's posterior" if confidence is None else (
            f"with probability {confidence:.2f} under this patient's posterior")
        if answered == total:
            return at
        return f"{at}, given that the patient reaches it without the hold (probability {answered / total:.2f})"
    if total == 1:
        return "for this subject"
    at = "" if confidence is None else f"{confidence:.0%} of "
    if answered == total:
        return f"for {at}the {total} subjects"
    return f"for {at}the {answered} of {total} subjects who reach it"


def _never_text(never: int, total: int, target, posterior: bool = False) -> str:
    if never == 0:
        return ""
    if posterior and total > 1:
        return (
            f"Posterior probability that this patient never reaches {target.name} ({target.value:g} ng/mL) even "
            f"without the hold: {never / total:.2f} (then the answer is a dose change, not a hold length or a ladder)."
        )
    if total == 1:
        return (
            f"This subject never reaches {target.name} ({target.value:g} ng/mL) even without the hold: "
            "the answer is a dose change, not a hold length or a ladder."
        )
    return (
        f"{never} of {total} subjects ({never / total:.0%}) never reach {target.name} ({target.value:g} ng/mL) even "
        "without the hold: for them the answer is a dose change, not a hold length or a ladder."
    )


# --------------------------------------------------------------------------------------------
# 0. what a hold costs, and what its ladder costs


@dataclass(frozen=True)
class HoldCost:
    """Per-subject cost of the planned hold and of its ladder (:func:`cost_of_hold`).

    Attributes
    ----------
    time_below_hold, time_below_ladder, time_below_total
        Extra continuous time below the target [d]: the hold (as planned minus the ladder without
        the hold), the ladder (ladder without the hold minus without the hold) and both (as planned
        minus without the hold); ``hold + ladder == total`` for every subject. Arrays (subject,).
    troughs_below_hold, troughs_below_ladder, troughs_below_total
        The same for the scheduled troughs below the target [troughs].
    reaches_target
        Subjects with a trough in the window at or above the target without the hold (bool array).
    baseline
        What the costs are measured against: ``"continuous dosing"``, or ``"dosing without this
        hold (other holds as written)"``.
    """

    time_below_hold: np.ndarray
    time_below_ladder: np.ndarray
    time_below_total: np.ndarray
    troughs_below_hold: np.ndarray
    troughs_below_ladder: np.ndarray
    troughs_below_total: np.ndarray
    reaches_target: np.ndarray
    baseline: str

    def part(self, metric: str, against: str) -> np.ndarray:
        """The per-subject cost of `metric` (``time_below``, ``troughs_below``) against
        ``"ladder"`` (the hold's own cost) or ``"continuous"`` (the total)."""
        return getattr(self, f"{metric}_{'hold' if against == 'ladder' else 'total'}")


def _baseline_name(scenario) -> str:
    if len(scenario.schedule.holds) == 1:
        return "continuous dosing"
    return "dosing without this hold (other holds as written)"


def _costs(planned: _Outcome, ladder: _Outcome, without: _Outcome, reaches, baseline: str) -> HoldCost:
    return HoldCost(
        time_below_hold=planned.time_below - ladder.time_below,
        time_below_ladder=ladder.time_below - without.time_below,
        time_below_total=planned.time_below - without.time_below,
        troughs_below_hold=planned.troughs_below - ladder.troughs_below,
        troughs_below_ladder=ladder.troughs_below - without.troughs_below,
        troughs_below_total=planned.troughs_below - without.troughs_below,
        reaches_target=reaches,
        baseline=baseline,
    )


def cost_of_hold(scenario, *, hold: int | None = None) -> HoldCost:
    """What the planned hold costs, split into the hold itself and its ladder.

    Three runs on the same subjects (see the module docstring): as planned, the ladder without the
    hold (the held doses given at their planned amount, the ladder on the same days), and without
    the hold and its ladder. The hold cost and the ladder cost add up to the total, per subject.

    Parameters
    ----------
    scenario
        A scenario with at least one hold and a trough target.
    hold
        Index of the planned hold in ``scenario.schedule.holds`` (default: the last to start).

    Returns
    -------
    HoldCost
        Per-subject costs in days below and troughs below the first trough target.

    Raises
    ------
    ImapkError
        Without a hold or a trough target, with several models or therapy clocks, or for a `hold`
        index that does not exist.
    """
    index = _hold_index(scenario, hold)
    target = _target(scenario)
    planned = _outcome(scenario, target)
    without = _outcome(_with_hold(scenario, None, index), target)
    ladder = _ladder_outcome(scenario, index, target, without)
    return _costs(planned, ladder, without, _reaches(scenario, without, target.value), _baseline_name(scenario))


# --------------------------------------------------------------------------------------------
# 1. longest hold within a budget


@dataclass(frozen=True)
class CostSplit:
    """Cost of each hold length split into the hold and its ladder, as means over the subjects
    answered (so that ``hold[n] + ladder[n] == total[n]``).

    Attributes
    ----------
    hold, ladder, total
        One value per hold length, in `units`.
    units
        ``"d"`` (time below the target) or ``"troughs"`` (scheduled troughs below it).
    """

    hold: tuple[float, ...]
    ladder: tuple[float, ...]
    total: tuple[float, ...]
    units: str


@dataclass(frozen=True)
class HoldAnswer:
    """Answer of :func:`longest_hold`.

    Attributes
    ----------
    days
        Longest hold length [d] whose cost, and that of every shorter hold, is within the budget;
        0 if even a 1-day hold exceeds it; None when no subject reaches the target without the
        hold (the question has no answer).
    budget_days
        The budget, in the metric's units (days, or troughs for ``troughs_below``).
    metric, against, confidence, target
        The question asked (target: name of the target threshold).
    lengths
        Hold lengths simulated [d], 1, 2, ... (up to the first one over the budget, at least
        :data:`MIN_LENGTHS` of them, unless every length up to `max_days` was asked for)
    cost
        Cost of each length at the confidence level over the subjects answered (see the module
        docstring), in the metric's units; inf when fewer than `confidence` of them ever recover
        (metric ``"recovery"``); NaN when no subject is answered.
    sentence
        The answer in one plain sentence.
    cost_mean
        Mean cost of each length over the subjects answered.
    time_below, troughs_below
        :class:`CostSplit` of each length: hold + ladder = total, means over the subjects answered.
    hold_index, start_day, ladder
        The planned hold: its index in ``schedule.holds``, start day and ladder description.
    subjects, answered
        Number of subjects simulated, and of those the answer is about.
    never_fraction
        Share of the subjects who never reach the target without the hold (0 for recovery to
        their own steady state).
    units
        Units of `cost` and the budget.
    baseline
        What "continuous" means here (see :class:`HoldCost`).
    within_budget
        For each length, the share of the subjects answered whose cost is within the budget: for a
        patient's posterior (:func:`imapk.tdm.posterior_patient`), the posterior probability that
        this hold length stays within the budget (given that the patient reaches the target).
    """

    days: int | None
    budget_days: float
    metric: str
    confidence: float
    target: str
    lengths: tuple[int, ...]
    cost: tuple[float, ...]
    sentence: str
    against: str = "ladder"
    cost_mean: tuple[float, ...] = ()
    time_below: CostSplit | None = None
    troughs_below: CostSplit | None = None
    hold_index: int = 0
    start_day: int = 0
    ladder: str = ""
    subjects: int = 0
    answered: int = 0
    never_fraction: float = 0.0
    units: str = "d"
    baseline: str = "continuous dosing"
    within_budget: tuple[float, ...] = ()


def _varied(scenario, index: int, days: int):
    hold = scenario.schedule.holds[index]
    return _with_hold(scenario, replace(hold, days=float(days), doses=None), index)


def _length_costs(scenario, index: int, lengths, target, without: _Outcome, reaches):
    """(:class:`HoldCost`, outcome as planned) of each hold length."""
    baseline = _baseline_name(scenario)
    out = []
    for days in lengths:
        varied = _varied(scenario, index, days)
        planned = _outcome(varied, target)
        ladder = _ladder_outcome(varied, index, target, without)
        out.append((_costs(planned, ladder, without, reaches, baseline), planned))
    return out


def hold_costs(scenario, lengths, *, metric: str = "time_below", against: str = "ladder", hold: int | None = None,
               level: str = "target", fraction: float = 0.9) -> np.ndarray:
    """Per-subject cost of each hold length: array (length, subject), every subject included.

    ``time_below`` [d] and ``troughs_below`` [troughs]: the cost of the hold itself
    (``against="ladder"``) or of hold and ladder together (``against="continuous"``), see
    :func:`cost_of_hold`. ``recovery`` [d]: days from the restart until the first trough at or
    above the recovery level (inf if never before the next hold or the end).
    """
    _check_choice(metric, METRICS, "metric")
    _check_choice(against, AGAINST, "against")
    _check_choice(level, LEVELS, "level")
    index = _hold_index(scenario, hold)
    target = _target(scenario)
    without = _outcome(_with_hold(scenario, None, index), target)
    if metric == "recovery":
        rows = []
        for days in lengths:
            planned = _outcome(_varied(scenario, index, days), target)
            rows.append(_recovery(planned, index, _level(target, without, level, fraction))[1])
        return np.array(rows, dtype=float)
    reaches = _reaches(scenario, without, target.value)
    return np.array([c.part(metric, against) for c, _ in _length_costs(scenario, index, lengths, target, without, reaches)])


def _level(target, without: _Outcome, level: str, fraction: float):
    return target.value if level == "target" else fraction * without.trough


def _check_fraction(fraction) -> None:
    if isinstance(fraction, bool) or not (isinstance(fraction, (int, float)) and 0.0 < fraction <= 1.0):
        raise ImapkError(
            "the recovery fraction must be a fraction of the subject's own trough", key="fraction", got=fraction,
            expected="0 < fraction <= 1, e.g. 0.9",
        )


def longest_hold(
    scenario,
    budget: float | None = None,
    *,
    metric: str = "time_below",
    against: str = "ladder",
    confidence: float = 0.9,
    max_days: int = 28,
    hold: int | None = None,
    level: str = "target",
    fraction: float = 0.9,
    stop_early: bool = True,
    budget_days: float | None = None,
) -> HoldAnswer:
    """Longest hold (whole days, from the planned hold's start day, followed by its ladder) whose
    cost stays within `budget` for at least a fraction `confidence` of the subjects answered.

    Parameters
    ----------
    scenario
        A scenario with at least one hold and a trough target.
    budget
        Cost allowed, in the metric's units: days for ``time_below`` and ``recovery``, troughs for
        ``troughs_below``.
    metric
        ``"time_below"``: extra continuous time below the first target [d]; ``"troughs_below"``:
        extra scheduled troughs below it [troughs]; ``"recovery"``: days from the restart to the
        first trough back at the recovery level [d].
    against
        ``"ladder"`` (default): the cost of the hold itself, against the same ladder without the
        hold, so that the ladder's own cost (reported beside) does not count against the hold;
        ``"continuous"``: hold and ladder together, against dosing without either. Not used by
        ``recovery``.
    confidence
        Fraction of the subjects answered the answer must hold for.
    max_days
        Longest hold tried [d]; also capped at the end of the schedule and the next hold's start.
    hold
        Index of the planned hold in ``scenario.schedule.holds`` (default: the last to start); the
        other holds stay as written.
    level, fraction
        Recovery level: ``"target"``, or ``"steady_state"``: `fraction` of the subject's own trough
        at the same scheduled dose without the hold (its steady state once it has reached it).
    stop_early
        Stop at the first length over the budget (the answer is then settled), once at least
        :data:`MIN_LENGTHS` lengths are simulated; False simulates every length up to `max_days`.
    budget_days
        Former name of `budget` (deprecated).

    Returns
    -------
    HoldAnswer
        The longest length L such that every length 1..L is within the budget (0 if 1 day is not;
        None if no subject reaches the target), the cost of each length at the confidence level,
        and the split of time and troughs below into hold and ladder (means).

    Raises
    ------
    ImapkError
        For a budget that is not a number >= 0, a confidence outside (0, 1], an unknown metric,
        comparison or level, no whole-day hold fitting in the schedule, or a scenario the planner
        cannot plan (see :func:`cost_of_hold`).

    Notes
    -----
    Why "no trough below target" is rarely a usable budget: imatinib's half-life is about 17 h
    (k = CL/V = 0.041 1/h for the typical Widmer 2006 subject), so with q24h dosing a single held
    dose leaves exp(-k tau) ~ 0.37 of the steady-state trough at the next trough (absorption,
    ka = 0.609 1/h, changes this by < 1e-6; see :func:`single_held_dose_ratio`). Unless the
    steady-state trough is about 2.7 times the target, the first held dose already puts the trough
    below it.
    """
    if budget_days is not None:
        if budget is not None:
            raise ImapkError("give the budget once", key="budget_days", got=budget_days, expected="budget only")
        warnings.warn("longest_hold(budget_days=...) is deprecated: use budget=...", DeprecationWarning, stacklevel=2)
        budget = budget_days
    _check_confidence(confidence)
    _check_choice(metric, METRICS, "metric")
    _check_choice(against, AGAINST, "against")
    _check_choice(level, LEVELS, "level")
    _check_fraction(fraction)
    if isinstance(budget, bool) or not (isinstance(budget, (int, float)) and budget >= 0 and math.isfinite(budget)):
        raise ImapkError(f"the budget must be a number >= 0 ({_UNITS[metric]})", key="budget", got=budget)
    index = _hold_index(scenario, hold)
    planned_hold = scenario.schedule.holds[index]
    target = _target(scenario)
    top = min(int(max_days), _max_hold_days(scenario, planned_hold, index))
    if top < 1:
        raise ImapkError("no whole-day hold fits in the schedule", key="max_days", got=max_days, expected=">= 1")
    without = _outcome(_with_hold(scenario, None, index), target)
    reaches = _reaches(scenario, without, target.value)
    answered = reaches if (metric != "recovery" or level == "target") else np.ones_like(reaches)
    n_total, n_answered = int(reaches.size), int(answered.sum())
    level_values = _level(target, without, level, fraction) if metric == "recovery" else None
    costs, cost, cost_mean, within = [], [], [], []
    for n in range(1, top + 1):
        ((c, planned),) = _length_costs(scenario, index, (n,), target, without, reaches)
        row = _recovery(planned, index, level_values)[1] if metric == "recovery" else c.part(metric, against)
        costs.append(c)
        cost.append(quantile(row[answered], confidence))
        cost_mean.append(_mean(row[answered]))
        within.append(_mean(row[answered] <= budget + 1e-9))
        if stop_early and n >= min(MIN_LENGTHS, top) and not cost[-1] <= budget + 1e-9:
            break  # the answer is settled: this length and so the longer ones are over the budget
    lengths, cost, cost_mean, within = tuple(range(1, len(cost) + 1)), tuple(cost), tuple(cost_mean), tuple(within)

    basis = reaches if reaches.any() else np.ones_like(reaches)  # none reach it: the split over all, for information

    def split(metric_name: str, units: str) -> CostSplit:
        parts = {
            part: tuple(_mean(getattr(c, f"{metric_name}_{part}")[basis]) for c in costs)
            for part in ("hold", "ladder", "total")
        }
        return CostSplit(parts["hold"], parts["ladder"], parts["total"], units)

    units = _UNITS[metric]
    days: int | None = 0
    for length, c in zip(lengths, cost):
        if not c <= budget + 1e-9:  # NaN and inf exceed any budget
            break
        days = length
    never = n_total - int(reaches.sum())
    name = _name_hold(scenario, index)
    ladder_text = describe_ladder(planned_hold.restart)
    if metric == "time_below":
        what = f"extra days below {target.name} ({target.value:g} ng/mL)"
    elif metric == "troughs_below":
        what = f"extra troughs below {target.name} ({target.value:g} ng/mL)"
    elif level == "target":
        what = f"days from the restart until the trough is back at {target.name} ({target.value:g} ng/mL)"
    else:
        what = f"days from the restart until the trough is back at {fraction:.0%} of the subject's own"
    if metric != "recovery":
        what += " caused by the hold itself (its ladder not counted)" if against == "ladder" else " (hold and ladder together)"
    posterior = _posterior(scenario)
    who = _who(n_answered, n_total, confidence, posterior)
    if n_answered == 0:
        days = None
        sentence = (
            f"No answer: no subject reaches {target.name} ({target.value:g} ng/mL) even without the hold, so no hold "
            "length changes that; the answer is a dose change, not a hold length."
        )
    elif days == 0:
        sentence = (
            f"Even a 1-day hold ({name}, then {ladder_text}) exceeds the budget of {budget:g} {what} {who}: it costs "
            f"{cost[0]:.2f} {units}."
        )
    else:
        more = "" if days == top or days >= len(cost) else f"; {days + 1} days would cost {cost[days]:.2f} {units}"
        sentence = (
            f"{who[0].upper() + who[1:]}, {name} (then {ladder_text}) may last up to {days} day(s) "
            f"({'the longest tried' if days == top else 'whole days'}) within a budget of {budget:g} {what}: "
            f"{days} days cost {cost[days - 1]:.2f} {units}{more}."
        )
    if posterior and n_answered and n_total > 1:
        shown = [n for n in (days, (days or 0) + 1) if n and n <= len(within)]
        text = "; ".join(
            f"probability {within[n - 1]:.2f} that a {n}-day hold costs at most {budget:g} {units}" for n in shown
        )
        sentence += " " + text[0].upper() + text[1:] + "."
    if never and n_answered and not (metric == "recovery" and level == "steady_state"):
        sentence += " " + _never_text(never, n_total, target, posterior)
    return HoldAnswer(
        days=days, budget_days=float(budget), metric=metric, confidence=float(confidence), target=target.name,
        lengths=lengths, cost=cost, sentence=sentence, against=against, cost_mean=cost_mean,
        time_below=split("time_below", "d"), troughs_below=split("troughs_below", "troughs"),
        hold_index=index, start_day=planned_hold.start_day, ladder=ladder_text, subjects=n_total,
        answered=n_answered, never_fraction=never / n_total if n_total else 0.0, units=units,
        baseline=_baseline_name(scenario), within_budget=within,
    )


# --------------------------------------------------------------------------------------------
# 2. doses until the trough is back at the target


@dataclass(frozen=True)
class RecoveryAnswer:
    """Answer of :func:`doses_to_target`.

    Attributes
    ----------
    doses
        Scheduled doses from the restart until the first trough at or above the recovery level, at
        the confidence level over the subjects answered (inf: fewer than `confidence` of them get
        there before the next hold or the end; NaN: no subject answered, or no restart).
    days
        The same in days from the restart [d].
    confidence, target
        The question asked.
    fraction_recovered
        Fraction of the subjects answered whose trough is ever back at or above the level.
    restart_day
        Clinical day of the restart dose (-1: the schedule ends in the hold).
    sentence
        The answer in one plain sentence.
    level, fraction
        ``"target"``, or ``"steady_state"`` with the fraction of each subject's own trough.
    subjects, answered, never_fraction
        Subjects simulated, those answered, and the share who never reach the target without the
        hold (they are not answered when the level is the target).
    doses_mean, days_mean
        Means over the subjects answered who recover.
    hold_index
        Index of the planned hold in ``schedule.holds``.
    """

    doses: float
    days: float
    confidence: float
    target: str
    fraction_recovered: float
    restart_day: int
    sentence: str
    level: str = "target"
    fraction: float = 1.0
    subjects: int = 0
    answered: int = 0
    never_fraction: float = 0.0
    doses_mean: float = math.nan
    days_mean: float = math.nan
    hold_index: int = 0


def doses_to_target(
    scenario, *, confidence: float = 0.9, hold: int | None = None, level: str = "target", fraction: float = 0.9
) -> RecoveryAnswer:
    """Doses after the restart until the trough is back at or above a level (first time), for at
    least a fraction `confidence` of the subjects answered.

    Parameters
    ----------
    scenario
        A scenario with at least one hold and a trough target.
    confidence
        Fraction of the subjects answered the answer must hold for.
    hold
        Index of the planned hold in ``scenario.schedule.holds`` (default: the last to start).
    level
        ``"target"`` (default): the first trough target; the subjects answered are those who reach
        it without the hold. ``"steady_state"``: `fraction` of each subject's own trough at the
        same scheduled dose without the hold (its steady state once reached); every subject is
        answered.
    fraction
        Fraction of the own trough for ``level="steady_state"`` [1].

    Returns
    -------
    RecoveryAnswer
        Doses and days to the first trough at or above the level, as in
        :func:`imapk.exposure.recovery_after_holds` (the troughs after the restart dose, up to the
        next hold's first held dose or the end).
    """
    _check_confidence(confidence)
    _check_choice(level, LEVELS, "level")
    _check_fraction(fraction)
    index = _hold_index(scenario, hold)
    target = _target(scenario)
    planned = _outcome(scenario, target)
    without = _outcome(_with_hold(scenario, None, index), target)
    reaches = _reaches(scenario, without, target.value)
    answered = reaches if level == "target" else np.ones_like(reaches)
    doses, days = _recovery(planned, index, _level(target, without, level, fraction))
    restart = int(planned.table.restart_index[index])
    restart_day = int(planned.table.day[restart]) if restart >= 0 else -1
    n_total, n_answered = int(reaches.size), int(answered.sum())
    never = n_total - int(reaches.sum())
    d, t = doses[answered], days[answered]
    fraction_recovered = float(np.mean(np.isfinite(d))) if d.size else math.nan
    q_doses, q_days = quantile(d, confidence), quantile(t, confidence)
    recovered = np.isfinite(d)
    doses_mean, days_mean = _mean(d[recovered]), _mean(t[recovered])
    name = _name_hold(scenario, index)
    at = (
        f"{target.name} ({target.value:g} ng/mL)" if level == "target"
        else f"{fraction:.0%} of the subject's own trough without the hold"
    )
    posterior = _posterior(scenario)
    who = _who(n_answered, n_total, confidence, posterior)
    if restart_day < 0:
        sentence = f"The schedule ends in {name}: there is no restart."
        q_doses = q_days = math.nan
    elif n_answered == 0:
        sentence = (
            f"No answer: no subject reaches {target.name} ({target.value:g} ng/mL) even without the hold; the answer "
            "is a dose change, not a wait after the restart."
        )
    elif math.isinf(q_doses):
        sentence = (
            f"{who[0].upper() + who[1:]}, the trough is not back at {at} before "
            f"{'the next hold' if _next_hold(planned.table, restart) else 'the end of the schedule'} after the restart on "
            f"day {restart_day}; "
            + (f"probability {fraction_recovered:.2f} that it ever gets there." if posterior and n_total > 1
               else f"{fraction_recovered:.0%} of them ever get there.")
        )
    else:
        sentence = (
            f"{who[0].upper() + who[1:]}, the trough is back at {at} {q_doses:g} dose(s) ({q_days:g} d) after the "
            f"restart on day {restart_day}."
        )
    if never and n_answered and level == "target" and restart_day >= 0:
        sentence += " " + _never_text(never, n_total, target, posterior)
    return RecoveryAnswer(
        doses=q_doses, days=q_days, confidence=float(confidence), target=target.name,
        fraction_recovered=fraction_recovered, restart_day=restart_day, sentence=sentence, level=level,
        fraction=float(fraction) if level == "steady_state" else 1.0, subjects=n_total, answered=n_answered,
        never_fraction=never / n_total if n_total else 0.0, doses_mean=doses_mean, days_mean=days_mean,
        hold_index=index,
    )


def _next_hold(table: DoseTable, restart: int) -> bool:
    return bool(np.any(np.flatnonzero(table.hold >= 0) > restart))


# --------------------------------------------------------------------------------------------
# 3. comparing ladders


@dataclass(frozen=True)
class LadderRow:
    """One candidate ladder, measured over the subjects answered (who reach the target without the
    hold).

    Attributes
    ----------
    label, steps
        The ladder.
    days_below, days_below_mean
        Time below the first trough target over the window [d]: at the confidence level, and the
        mean.
    toxicity, toxicity_mean
        Toxicity exposure (see :class:`LadderComparison`): at the confidence level, and the mean.
    pareto
        On the Pareto front of (days below, toxicity) at the confidence level and tied with no
        other ladder: a tie is not a winner.
    troughs_below, troughs_below_mean
        Scheduled troughs below the target in the window [troughs]: at the confidence level, mean.
    hold_cost_mean, ladder_cost_mean
        Mean extra days below the target caused by the hold itself and by the ladder (they add up
        to the mean extra days against dosing without the hold) [d].
    front
        On the Pareto front (non-dominated), tied or not.
    tied_with
        Labels of the other ladders with the same days below and toxicity at the confidence level.
    """

    label: str
    steps: tuple[LadderStep, ...]
    days_below: float
    days_below_mean: float
    toxicity: float
    toxicity_mean: float
    pareto: bool
    troughs_below: float = math.nan
    troughs_below_mean: float = math.nan
    hold_cost_mean: float = math.nan
    ladder_cost_mean: float = math.nan
    front: bool = False
    tied_with: tuple[str, ...] = ()


@dataclass(frozen=True)
class LadderComparison:
    """Answer of :func:`compare_ladders`; `toxicity_measure` says what `toxicity` is.

    Attributes
    ----------
    rows
        One :class:`LadderRow` per distinct ladder, in the order given.
    target, toxicity_measure, toxicity_units, confidence
        What is measured.
    sentence
        The answer in plain words: no recommendation when the ladders tie.
    notes
        Remarks on the input, e.g. duplicate ladders merged.
    subjects, answered, never_fraction
        Subjects simulated, those the comparison is about (who reach the target without the
        hold), and the share who never do.
    all_tie
        Every ladder has the same days below and toxicity at the confidence level.
    """

    rows: tuple[LadderRow, ...]
    target: str
    toxicity_measure: str
    toxicity_units: str
    confidence: float
    sentence: str
    notes: tuple[str, ...] = ()
    subjects: int = 0
    answered: int = 0
    never_fraction: float = 0.0
    all_tie: bool = False


def pareto_front(points) -> np.ndarray:
    """Non-dominated flags of `points` (n, m), every column to be minimised: a point is dominated
    if another is no worse on every column and strictly better on one. Equal points dominate
    nobody and are all kept (see :func:`ties` to tell them apart)."""
    points = np.asarray(points, dtype=float)
    flags = np.ones(points.shape[0], dtype=bool)
    for i in range(points.shape[0]):
        others = np.delete(points, i, axis=0)
        dominated = np.all(others <= points[i], axis=1) & np.any(others < points[i], axis=1)
        flags[i] = not dominated.any()
    return flags


def ties(points, tolerance: float = TIE_TOLERANCE) -> list[list[int]]:
    """For each point of `points` (n, m), the indices of the *other* points equal to it within
    `tolerance` on every column (NaN equals NaN)."""
    points = np.asarray(points, dtype=float)
    out = []
    for i in range(points.shape[0]):
        same = np.all((np.abs(points - points[i]) <= tolerance) | (np.isnan(points) & np.isnan(points[i])), axis=1)
        out.append([j for j in np.flatnonzero(same) if j != i])
    return out


def _distinct(ladders, labels):
    """Duplicate ladders merged (first label kept), with a note for each merge."""
    seen: dict[tuple[LadderStep, ...], int] = {}
    kept, kept_labels, counts = [], [], []
    for steps, label in zip(ladders, labels):
        if steps in seen:
            counts[seen[steps]] += 1
            continue
        seen[steps] = len(kept)
        kept.append(steps)
        kept_labels.append(label)
        counts.append(1)
    notes = tuple(
        f"'{label}' was given {n} times; compared once" for label, n in zip(kept_labels, counts) if n > 1
    )
    return kept, kept_labels, notes


def _names(rows) -> str:
    names = [f"'{r.label}'" for r in rows]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def compare_ladders(scenario, ladders, *, confidence: float = 0.9, labels=None, hold: int | None = None) -> LadderComparison:
    """Compare candidate re-escalation ladders replacing the planned hold's restart.

    Parameters
    ----------
    scenario
        A scenario with at least one hold and a trough target.
    ladders
        Candidate ladders, each a sequence of (dose mg, days) steps (or :class:`LadderStep`), empty
        for a direct restart at the prescribed dose. Duplicates (the same steps, however written)
        are compared once, with a note.
    confidence
        Fraction of the subjects answered the values at the confidence level hold for.
    labels
        Names of the ladders (default: :func:`describe_ladder`).
    hold
        Index of the planned hold in ``scenario.schedule.holds`` (default: the last to start).

    Returns
    -------
    LadderComparison
        For each distinct ladder, over the subjects who reach the target without the hold: days
        below the first trough target over the evaluation window, scheduled troughs below it, and
        toxicity exposure, measured as the scenario's first ceiling says (a trough ceiling: the
        scheduled troughs in the window at or above it; a concentration ceiling: the days with the
        concentration at or above it; no ceiling: the peak concentration in the window [ng/mL]),
        each at the confidence level and as a mean; the mean days below split into hold and
        ladder (see :func:`cost_of_hold`); Pareto flags on the two confidence-level values, ties
        reported as ties.
    """
    _check_confidence(confidence)
    index = _hold_index(scenario, hold)
    planned_hold = scenario.schedule.holds[index]
    target = _target(scenario)
    ceiling = _threshold(scenario, CEILING_KINDS)
    ladders = [_ladder(steps) for steps in ladders]
    if not ladders:
        raise ImapkError("give at least one ladder", key="ladders")
    labels = [describe_ladder(steps) for steps in ladders] if labels is None else [str(x) for x in labels]
    if len(labels) != len(ladders):
        raise ImapkError("give one label per ladder", key="labels", got=len(labels), expected=len(ladders))
    ladders, labels, notes = _distinct(ladders, labels)
    without = _outcome(_with_hold(scenario, None, index), target, ceiling)
    reaches = _reaches(scenario, without, target.value)
    n_total, n_answered = int(reaches.size), int(reaches.sum())
    r = reaches if n_answered else np.ones_like(reaches)  # none reach it: the rows over all, for information
    measured = []
    for steps in ladders:
        variant = _with_hold(scenario, replace(planned_hold, restart=steps), index)
        planned = _outcome(variant, target, ceiling)
        ladder = _ladder_outcome(variant, index, target, without)
        cost = _costs(planned, ladder, without, reaches, _baseline_name(scenario))
        measured.append(dict(
            days_below=quantile(planned.time_below[r], confidence), days_below_mean=_mean(planned.time_below[r]),
            toxicity=quantile(planned.toxicity[r], confidence), toxicity_mean=_mean(planned.toxicity[r]),
            troughs_below=quantile(planned.troughs_below[r], confidence),
            troughs_below_mean=_mean(planned.troughs_below[r]),
            hold_cost_mean=_mean(cost.time_below_hold[r]), ladder_cost_mean=_mean(cost.time_below_ladder[r]),
        ))
    points = [(m["days_below"], m["toxicity"]) for m in measured]
    front = pareto_front(points) if n_answered else np.zeros(len(points), dtype=bool)
    tied = ties(points)
    all_tie = len(ladders) > 1 and all(len(t) == len(ladders) - 1 for t in tied)
    rows = tuple(
        LadderRow(
            label=label, steps=steps, pareto=bool(front[i]) and not tied[i], front=bool(front[i]),
            tied_with=tuple(labels[j] for j in tied[i]), **m,
        )
        for i, (label, steps, m) in enumerate(zip(labels, ladders, measured))
    )
    if ceiling is not None and ceiling.kind == TROUGH_CEILING:
        measure, units = f"troughs above trough ceiling {ceiling.name} ({ceiling.value:g} ng/mL)", "troughs"
    elif ceiling is not None:
        measure, units = f"days with concentration above {ceiling.name} ({ceiling.value:g} ng/mL)", "d"
    else:
        measure, units = "peak concentration", "ng/mL"
    never = n_total - n_answered
    sentence = _ladder_sentence(rows, target, measure, units, n_answered, all_tie)
    if never and n_answered:
        sentence += " " + _never_text(never, n_total, target, _posterior(scenario))
    return LadderComparison(
        rows=rows, target=target.name, toxicity_measure=measure, toxicity_units=units, confidence=float(confidence),
        sentence=sentence, notes=notes, subjects=n_total, answered=n_answered,
        never_fraction=never / n_total if n_total else 0.0, all_tie=all_tie,
    )


def _ladder_sentence(rows, target, measure: str, units: str, answered: int, all_tie: bool) -> str:
    if answered == 0:
        return (
            f"No answer: no subject reaches {target.name} ({target.value:g} ng/mL) even without the hold, so no ladder "
            "changes that; the answer is a dose change."
        )
    if len(rows) == 1:
        r = rows[0]
        return f"One ladder: '{r.label}', {r.days_below:.2f} d below {target.name}, {measure} {r.toxicity:.3g} {units}."
    if all_tie:
        r = rows[0]
        return (
            f"All {len(rows)} ladders tie ({r.days_below:.2f} d below {target.name}, {measure} {r.toxicity:.3g} {units}): "
            "these numbers do not separate them, so there is no recommendation."
        )

    def best(first: str, second: str):
        low = min(getattr(r, first) for r in rows)
        rows_1 = [r for r in rows if getattr(r, first) <= low + TIE_TOLERANCE]
        low2 = min(getattr(r, second) for r in rows_1)
        return [r for r in rows_1 if getattr(r, second) <= low2 + TIE_TOLERANCE]

    eff, tox = best("days_below", "toxicity"), best("toxicity", "days_below")
    lead = lambda group: _names(group) + (" (tied)" if len(group) > 1 else "")
    if {id(r) for r in eff} == {id(r) for r in tox}:
        return (
            f"{lead(eff)} {'are' if len(eff) > 1 else 'is'} best on both counts ({eff[0].days_below:.2f} d below "
            f"{target.name}, {measure} {eff[0].toxicity:.3g} {units}); no trade-off among these ladders."
        )
    on_front = sum(r.front for r in rows)
    return (
        f"Trade-off: {lead(eff)} spend{'' if len(eff) > 1 else 's'} the fewest days below {target.name} "
        f"({eff[0].days_below:.2f} d) with {measure} {eff[0].toxicity:.3g} {units}; {lead(tox)} "
        f"{'have' if len(tox) > 1 else 'has'} the least ({tox[0].toxicity:.3g} {units}) at {tox[0].days_below:.2f} d "
        f"below. {on_front} of {len(rows)} ladders are on the Pareto front."
    )


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


def _finite(x):
    return x if x is not None and math.isfinite(x) else None


def plan(
    scenario,
    *,
    budget_days: float = 7.0,
    confidence: float | None = None,
    ladders=None,
    hold: int | None = None,
    metric: str = "time_below",
    against: str = "ladder",
    level: str = "target",
    fraction: float = 0.9,
) -> dict:
    """The three answers as a JSON-ready dict (`confidence` default: 0.9, or 1 for one subject).

    `budget_days` is in the metric's units (troughs for ``metric="troughs_below"``); `hold`,
    `metric`, `against`, `level` and `fraction` are those of :func:`longest_hold` and
    :func:`doses_to_target`. Default ladders: the planned hold's own, a direct restart,
    300 mg x 14 d and 200 mg x 7 d -> 300 mg x 7 d (duplicates compared once).
    """
    index = _hold_index(scenario, hold)
    if confidence is None:
        confidence = 0.9 if scenario.population.size != 1 else 1.0
    planned_hold = scenario.schedule.holds[index]
    if ladders is None:
        ladders = [planned_hold.restart, [], [(300.0, 14)], [(200.0, 7), (300.0, 7)]]
    answer = longest_hold(
        scenario, budget_days, metric=metric, against=against, confidence=confidence, hold=index, level=level,
        fraction=fraction,
    )
    recovery = doses_to_target(scenario, confidence=confidence, hold=index, level=level, fraction=fraction)
    comparison = compare_ladders(scenario, ladders, confidence=confidence, hold=index)
    split = lambda s: {
        "hold": [_finite(x) for x in s.hold], "ladder": [_finite(x) for x in s.ladder],
        "total": [_finite(x) for x in s.total],
    }
    posterior = None
    if _posterior(scenario):
        posterior = {
            "model": scenario.parameter_set, "draws": scenario.population.size, "seed": scenario.population.seed,
            "start_time_h": scenario.start_time,
            "draws_note": "the subjects are equally weighted draws from the patient's posterior (systematic resampling "
                          "of the fit's importance samples); shares of them are posterior probabilities",
        }
    return {
        "scenario": scenario.title,
        **({"posterior": posterior} if posterior else {}),
        "confidence": confidence,
        "target": answer.target,
        "hold": {
            "index": index, "label": planned_hold.label, "start_day": planned_hold.start_day,
            "ladder": answer.ladder, "baseline": answer.baseline,
        },
        "subjects": answer.subjects,
        "subjects_reaching_target": answer.answered if metric != "recovery" or level == "target" else None,
        "never_reach_fraction": answer.never_fraction,
        "longest_hold": {
            "budget": answer.budget_days, "budget_units": answer.units, "budget_days": answer.budget_days,
            "metric": answer.metric, "against": answer.against, "days": answer.days,
            "lengths_days": list(answer.lengths),
            "lengths_note": (
                "simulated up to the first length over the budget, where the answer is settled"
                if answer.lengths and not (answer.cost[-1] <= answer.budget_days + 1e-9) else None
            ),
            "cost": [_finite(c) for c in answer.cost],
            "cost_mean": [_finite(c) for c in answer.cost_mean],
            "within_budget": [_finite(c) for c in answer.within_budget],
            "cost_units": answer.units,
            "cost_days": {str(n): _finite(c) for n, c in zip(answer.lengths, answer.cost)},
            "split_statistic": (
                "posterior mean, given that the patient reaches the target without the hold" if posterior and answer.answered
                else "mean over the subjects who reach the target without the hold" if answer.answered or answer.subjects == 1
                else "mean over all subjects (none reaches the target without the hold)"
            ),
            "time_below_days": split(answer.time_below),
            "troughs_below": split(answer.troughs_below),
            "sentence": answer.sentence,
        },
        "doses_to_target": {
            "level": recovery.level, "fraction_of_own_trough": recovery.fraction if recovery.level != "target" else None,
            "doses": _finite(recovery.doses), "days": _finite(recovery.days), "restart_day": recovery.restart_day,
            "doses_mean": _finite(recovery.doses_mean), "days_mean": _finite(recovery.days_mean),
            "fraction_recovered": _finite(recovery.fraction_recovered), "subjects_answered": recovery.answered,
            "sentence": recovery.sentence,
        },
        "ladders": {
            "toxicity_measure": comparison.toxicity_measure, "toxicity_units": comparison.toxicity_units,
            "subjects_answered": comparison.answered, "all_tie": comparison.all_tie, "notes": list(comparison.notes),
            "rows": [
                {"ladder": r.label, "days_below": _finite(r.days_below), "days_below_mean": _finite(r.days_below_mean),
                 "troughs_below": _finite(r.troughs_below), "troughs_below_mean": _finite(r.troughs_below_mean),
                 "hold_cost_days_mean": _finite(r.hold_cost_mean), "ladder_cost_days_mean": _finite(r.ladder_cost_mean),
                 "toxicity": _finite(r.toxicity), "toxicity_mean": _finite(r.toxicity_mean), "pareto": r.pareto,
                 "front": r.front, "tied_with": list(r.tied_with)}
                for r in comparison.rows
            ],
            "sentence": comparison.sentence,
        },
    }


def _num(x, spec: str = ".2f") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def format_plan(report: dict) -> str:
    """A short readable text of :func:`plan`'s report."""
    q = report["confidence"]
    hold = report["longest_hold"]
    info = report["hold"]
    n, reach = report["subjects"], report["subjects_reaching_target"]
    if report.get("posterior") and n == 1:
        who = "this patient's posterior mode (no parameter uncertainty)"
    elif report.get("posterior"):
        who = (
            f"answers hold with probability {q:.2f} under this patient's posterior ({n} equally weighted draws)"
            + ("" if reach is None or reach == n else
               f", given that the patient reaches the target without the hold (probability {reach / n:.2f})")
        )
    elif n == 1:
        who = "one subject"
    elif reach is None or reach == n:
        who = f"answers hold for {q:.0%} of the {n} subjects; means over them"
    else:
        who = (
            f"answers hold for {q:.0%} of the {reach} of {n} subjects who reach the target without the hold; means over "
            f"them; {report['never_reach_fraction']:.0%} never reach it (for them: a dose change, not a hold length)"
        )
    at = "value" if n == 1 else f"at {q:.0%}"
    lines = [
        report["scenario"],
        f"target: {report['target']}; {who}",
        f"planned hold: from day {info['start_day']} ('{info['label']}'), then {info['ladder']}",
        "",
        f"1. Longest hold (budget {hold['budget']:g} {hold['budget_units']} of {hold['metric'].replace('_', ' ')}, "
        + ("the hold's own cost, its ladder not counted)" if hold["against"] == "ladder" or hold["metric"] == "recovery"
           else "hold and ladder together)"),
        f"   {hold['sentence']}",
        f"   cost of each hold length: hold + ladder = total against {info['baseline']} "
        f"({'the value' if n == 1 else hold['split_statistic']})",
        f"   {'hold [d]':>8}  {'time below [d]: hold':>20} {'ladder':>7} {'total':>7}  "
        f"{'troughs below: hold':>19} {'ladder':>7} {'total':>7}  {hold['metric'].replace('_', ' ') + ' ' + at:>18}",
    ]
    posterior_table = bool(report.get("posterior")) and n > 1 and bool(hold.get("within_budget"))
    if posterior_table:
        lines[-1] += f"  {'P(<= budget)':>13}"
    tb, tr = hold["time_below_days"], hold["troughs_below"]
    shown = min(14, len(hold["lengths_days"]))
    for k in range(shown):
        lines.append(
            f"   {hold['lengths_days'][k]:>8}  {_num(tb['hold'][k]):>20} {_num(tb['ladder'][k]):>7} {_num(tb['total'][k]):>7}  "
            f"{_num(tr['hold'][k], '.1f'):>19} {_num(tr['ladder'][k], '.1f'):>7} {_num(tr['total'][k], '.1f'):>7}  "
            f"{'never' if hold['cost'][k] is None and reach != 0 else _num(hold['cost'][k]):>18}"
            + (f"  {_num(hold['within_budget'][k]):>13}" if posterior_table else "")
        )
    if len(hold["lengths_days"]) > shown:
        lines.append(f"   ... up to {hold['lengths_days'][-1]} d (see --format json)")
    if hold.get("lengths_note"):
        lines.append(f"   (lengths {hold['lengths_note']})")
    lines += [
        "",
        "2. Doses until the trough is back at "
        + ("target" if report["doses_to_target"]["level"] == "target"
           else f"{report['doses_to_target']['fraction_of_own_trough']:.0%} of the own trough without the hold"),
        f"   {report['doses_to_target']['sentence']}",
        "",
        "3. Re-escalation ladders",
    ]
    ladders = report["ladders"]
    lines.extend(f"   note: {note}" for note in ladders["notes"])
    width = max(6, *(len(r["ladder"]) for r in ladders["rows"]))
    lines.append(
        f"   {'':<{width}}  {'days below target [d]':^36}  {'troughs below target':^20}  {'toxicity (1)':^18}"
    )
    lines.append(
        f"   {'ladder':<{width}}  {at:>8} {'mean':>7} {'hold cost':>9} {'ladder cost':>11}  {at:>10} {'mean':>9}  "
        f"{at:>10} {'mean':>7}  Pareto"
    )
    for r in ladders["rows"]:
        mark = "yes" if r["pareto"] else ("tie" if r["tied_with"] else "no")
        lines.append(
            f"   {r['ladder']:<{width}}  {_num(r['days_below']):>8} {_num(r['days_below_mean']):>7} "
            f"{_num(r['hold_cost_days_mean'], '+.2f'):>9} {_num(r['ladder_cost_days_mean'], '+.2f'):>11}  "
            f"{_num(r['troughs_below'], '.0f'):>10} {_num(r['troughs_below_mean'], '.1f'):>9}  "
            f"{_num(r['toxicity'], '.3g'):>10} {_num(r['toxicity_mean'], '.3g'):>7}  {mark}"
        )
    lines.append(f"   (1) {ladders['toxicity_measure']} [{ladders['toxicity_units']}]")
    lines.append(
        "   hold cost + ladder cost = extra days below against dosing without the hold (means); "
        "Pareto: yes = on the front and tied with no other ladder, tie = on the front but tied"
    )
    lines.append(f"   {ladders['sentence']}")
    return "\n".join(lines)
