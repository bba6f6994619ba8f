"""Dosing schedules as clinicians describe them, lowered to sorted dose arrays.

A :class:`Schedule` is the prescription (consecutive :class:`Phase` objects) plus what happened to
it: :class:`Hold` interruptions, each optionally followed by a re-escalation ladder of
:class:`LadderStep` objects, and explicit missed doses. :meth:`Schedule.lower` turns it into a
:class:`DoseTable`: one row per *scheduled* dose, held and missed ones included, so a user sees
exactly what was simulated.

Time and days (see the design notes): t = 0 h is the first scheduled dose; clinical day n is
[24 (n - 1), 24 n) h, so day 1 is the first day of therapy.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import ScheduleError

__all__ = [
    "Phase",
    "LadderStep",
    "Hold",
    "SteadyState",
    "Schedule",
    "DoseTable",
    "GIVEN",
    "HELD",
    "MISSED",
    "STATUS_LABELS",
    "day_start",
]

HOURS_PER_DAY = 24.0
#: Status codes of a scheduled dose.
GIVEN, HELD, MISSED = 0, 1, 2
STATUS_LABELS = ("given", "held", "missed")
# Relative tolerance when counting doses in a phase: 28 d of q24h is 28 doses even if 28*24/24 rounds.
_COUNT_TOL = 1e-9
#: Most scheduled doses a schedule may hold (about 114 years of hourly doses): a guard against a
#: unit slip ("1e6 days", "1 min" for "1 d") turning into an out-of-memory crash.
MAX_DOSES = 1_000_000


def day_start(day: float) -> float:
    """Start of clinical day `day` (day 1 starts at t = 0). [h]"""
    return HOURS_PER_DAY * (day - 1)


def _finite_number(value: object) -> bool:
    """A real number (not a bool) that converts to a finite float (a huge int does not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _amounts(dose: object, key: str) -> tuple[float, ...]:
    """Amounts per administration [mg free base]: numbers (mg) or quantity strings, one or a sequence.

    A string is read by :func:`imapk.units.parse_dose`: ``"400 mg"``, ``"0.4 g"``, ``"400 mg base"``,
    or ``"478 mg mesylate"`` (converted to free base by the ratio of the molar masses).
    """
    single = isinstance(dose, (str, bytes, numbers.Number)) or not hasattr(dose, "__iter__")
    values = (dose,) if single else tuple(dose)
    if not values:
        raise ScheduleError("at least one amount is needed", key=key)
    amounts = []
    for i, value in enumerate(values):
        where = key if single else f"{key}[{i}]"
        amount = value
        if isinstance(value, str):
            from .units import parse_dose

            amount = parse_dose(value, key=where).amount
        if not _finite_number(amount):
            raise ScheduleError(
                "dose must be a finite number of mg or a quantity string", key=where, got=value,
                expected="e.g. 400 or '400 mg' (mg of imatinib free base; '478 mg mesylate' is converted)",
            )
        if amount < 0:
            raise ScheduleError("dose must not be negative", key=where, got=value, expected=">= 0 mg")
        amounts.append(float(amount))
    return tuple(amounts)


def _interval(value: object, key: str) -> float:
    """A dosing interval: a number of hours or a time string such as ``"12 h"``. [h]"""
    if isinstance(value, str):
        from .units import parse_quantity

        value = parse_quantity(value, "time", key=key)
    _positive(value, key, "h")
    return float(value)


def _check_length(days: float, interval: float, key: str, what: str, *, by_doses: bool = True) -> None:
    """Refuse a length in days that would hold a fraction of a dose.

    The unit is the day, or the dosing interval where doses come more often than daily: 28 days
    of daily doses, 3.5 days of doses every 12 h and 10 days of weekly doses are whole; 365.5 days
    of daily doses is not, and is refused instead of being rounded up (every dose starting
    inside a length counts).
    """
    unit = min(interval, HOURS_PER_DAY)
    count = days * HOURS_PER_DAY / unit
    if not count < 2.0**52:  # every float this large is whole; what is too long is refused elsewhere
        return
    whole = round(count)
    if abs(count - whole) <= _COUNT_TOL * max(1.0, count) and whole >= 1:
        return
    below = math.floor(count + _COUNT_TOL) * unit / HOURS_PER_DAY
    above = math.ceil(count - _COUNT_TOL) * unit / HOURS_PER_DAY
    nearest = _days(above) if below <= 0 else f"{_fmt(below)} or {_days(above)}"
    alternative = ", or give `doses`" if by_doses else ""
    if unit < HOURS_PER_DAY:
        problem = f"{what} of {_days(days)} with a dose every {_fmt(interval)} h is {count:.4g} doses, not a whole number"
        expected = f"a whole number of {_fmt(interval)} h intervals ({nearest}){alternative}"
    else:
        problem = f"{what} of {_days(days)} is not a whole number of days"
        expected = f"whole days ({nearest}){alternative}"
    raise ScheduleError(problem, key=key, got=days, expected=expected)


def _positive(value: float | None, key: str, unit: str) -> None:
    if value is None:
        return
    if not _finite_number(value) or value <= 0:
        raise ScheduleError("must be a positive number", key=key, got=value, expected=f"> 0 {unit}")


def _one_length(days: float | None, doses: int | None, key: str) -> None:
    if (days is None) == (doses is None):
        raise ScheduleError(
            "give exactly one of `days` and `doses`",
            key=key,
            got={"days": days, "doses": doses},
            expected="e.g. days = 14 or doses = 14",
        )
    _positive(days, f"{key}.days", "d")
    if doses is not None and (isinstance(doses, bool) or not isinstance(doses, int) or doses <= 0):
        raise ScheduleError("must be a positive whole number", key=f"{key}.doses", got=doses, expected="an integer >= 1")
    if doses is not None and doses > MAX_DOSES:
        raise ScheduleError("too many doses", key=f"{key}.doses", got=doses, expected=f"at most {MAX_DOSES}")


def _whole_day(value: object, key: str) -> int:
    """A clinical day: a whole number >= 1 (an integral float such as 29.0 is accepted)."""
    if not _finite_number(value) or value != int(value) or value < 1:
        raise ScheduleError("must be a whole clinical day >= 1", key=key, got=value, expected="an integer day >= 1 (day 1 is the first day of therapy)")
    return int(value)


@dataclass(frozen=True)
class Phase:
    """A stretch of regular dosing.

    Parameters
    ----------
    dose
        Amount per administration, mg of imatinib free base: a number [mg] or a quantity string
        (``"400 mg"``, ``"400 mg base"``, or ``"478 mg mesylate"``, converted to 400.1 mg of free
        base by the molar masses, :func:`imapk.units.parse_dose`). A sequence cycles over the
        administrations of the phase, starting with its first, e.g. ``(400, 200)`` with a 12 h
        interval is 400 mg in the morning and 200 mg in the evening. [mg]
    interval
        Time between administrations: a number [h] or a time string (``"12 h"``). [h]
    days
        Length of the phase in days; it holds every administration that starts inside it. A
        whole number of days, or of intervals where doses come more often than daily (3.5 for 7
        doses every 12 h): a length that would hold a fraction of a dose (365.5 days of daily
        doses) is refused, not rounded. [d]
    doses
        Length of the phase as a number of administrations (instead of `days`).
    label
        Name shown in the `phase` output variable; default ``"<dose> mg q<interval>h"``.
    """

    dose: float | tuple[float, ...]
    interval: float = 24.0
    days: float | None = None
    doses: int | None = None
    label: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "dose", _amounts(self.dose, "dose"))
        object.__setattr__(self, "interval", _interval(self.interval, "interval"))
        _one_length(self.days, self.doses, "phase")
        if self.days is not None and self.days * HOURS_PER_DAY / self.interval > MAX_DOSES:
            raise ScheduleError(
                f"this phase would hold more than {MAX_DOSES} doses (a unit slip?)",
                key="phase",
                got=f"days = {self.days:g} with interval {self.interval:g} h",
                expected=f"at most {MAX_DOSES} doses per schedule",
            )
        if self.days is not None:
            _check_length(self.days, self.interval, "phase.days", "a phase")
        if not self.label:
            object.__setattr__(self, "label", f"{_amounts_text(self.dose)} mg q{self.interval:g}h")

    def count(self) -> int:
        """Number of administrations in the phase."""
        if self.doses is not None:
            return self.doses
        return max(1, math.ceil(self.days * HOURS_PER_DAY / self.interval - _COUNT_TOL))

    def duration(self) -> float:
        """Length of the phase. [h]"""
        if self.days is not None:
            return self.days * HOURS_PER_DAY
        return self.doses * self.interval


@dataclass(frozen=True)
class LadderStep:
    """One step of a re-escalation ladder after a hold.

    Parameters
    ----------
    dose
        Amount of each scheduled administration during the step, mg of imatinib free base (a
        number, or a quantity string as for :class:`Phase`). A sequence cycles with the
        position of each dose in its phase (the same slots as :class:`Phase`), so ``(400, 200)``
        on a q12h phase is 400 mg in the morning and 200 mg in the evening even when the restart
        falls on an evening dose. [mg]
    days
        Length of the step: a whole number of days, or of the dosing intervals in force where it
        starts when these are shorter than a day (checked by :meth:`Schedule.lower`, which knows
        the interval). [d]
    """

    dose: float | tuple[float, ...]
    days: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "dose", _amounts(self.dose, "dose"))
        _positive(self.days, "days", "d")


@dataclass(frozen=True)
class Hold:
    """An interruption of therapy, optionally followed by a re-escalation ladder.

    Every scheduled dose in the hold is kept in the dose table with status ``held``, given amount 0
    and, as planned amount, what the schedule would have given at that time without this hold: the
    prescription's amount, or the step of an earlier hold's ladder in force then.

    A hold may start while the ladder of an earlier hold is still running (the case report had
    several interruptions, each followed by the 200 -> 300 -> 400 mg/d ladder). The rule:

    - the new hold interrupts the earlier ladder: that ladder's remaining steps are not resumed;
    - after the new hold, its own `restart` ladder runs as written, from the first dose after it;
    - with no `restart` of its own, the prescription resumes at full dose after it, as after any
      hold without a ladder.

    Parameters
    ----------
    start_day
        Clinical day the hold starts (a whole day >= 1; day 1 is the first day of therapy): the
        first held dose is the first one scheduled at or after the start of that day.
    days
        Length of the hold in days: doses scheduled in [start, start + days) are held. It must be
        a whole number of days, or of the dosing intervals in force where the hold starts when
        these are shorter than a day (checked by :meth:`Schedule.lower`): 2.5 days of daily
        doses is refused, not rounded to 3 doses; 1.5 days of doses every 12 h holds 3. [d]
    doses
        Length of the hold as a number of scheduled doses (instead of `days`).
    restart
        Ladder steps that follow the hold, from the first dose after it; when they end, or when
        a later hold starts, the prescription resumes (see the rule above).
    label
        Name of the hold (e.g. the toxicity it manages).
    """

    start_day: int
    days: float | None = None
    doses: int | None = None
    restart: tuple[LadderStep, ...] = ()
    label: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "start_day", _whole_day(self.start_day, "start_day"))
        _one_length(self.days, self.doses, "hold")
        object.__setattr__(self, "restart", tuple(self.restart))
        for i, step in enumerate(self.restart):
            if not isinstance(step, LadderStep):
                raise ScheduleError(
                    "must be a LadderStep", key=f"restart[{i}]", got=step, expected="LadderStep(dose=..., days=...)"
                )
        if not self.label:
            object.__setattr__(self, "label", "hold")


@dataclass(frozen=True)
class SteadyState:
    """Dosing before t = 0, long enough to have reached steady state.

    The state at t = 0 is the closed-form sum of the infinite train of doses at
    t = -interval, -2 interval, ... (no warm-up simulation).

    Parameters
    ----------
    dose
        Amount of each dose before t = 0, mg of imatinib free base (a number, or a quantity string
        as for :class:`Phase`; one amount: the closed form needs a regular train). [mg]
    interval
        Dosing interval before t = 0: a number [h] or a time string. [h]
    time_on_therapy
        How long the patient has been treated at t = 0 [h], for occasion effects and time-varying
        models; None means long enough for every such effect to be in force.
    """

    dose: float
    interval: float = 24.0
    time_on_therapy: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.dose, (str, numbers.Real)):
            raise ScheduleError(
                "a steady-state start takes one amount", key="dose", got=self.dose, expected="e.g. 400 or '400 mg'"
            )
        object.__setattr__(self, "dose", _amounts(self.dose, "dose")[0])
        object.__setattr__(self, "interval", _interval(self.interval, "interval"))
        if self.time_on_therapy is not None:
            _positive(self.time_on_therapy, "time_on_therapy", "h")


@dataclass(frozen=True)
class DoseTable:
    """The lowered schedule: one entry per scheduled dose, in time order.

    Attributes
    ----------
    time
        Scheduled time of each dose. [h]
    interval
        Interval to the next scheduled dose (for the last dose, its phase's interval). [h]
    planned
        Amount the prescription intends. [mg]
    given
        Amount actually given: 0 for held and missed doses. [mg]
    status
        ``GIVEN``, ``HELD`` or ``MISSED`` per dose.
    phase
        Label of the phase or ladder step that prescribed the dose.
    hold
        Index of the hold that removed the dose, -1 if none.
    restart_index
        Per hold: index of the first dose after it, or -1 when the schedule ends in the hold.
    steady_state
        Dosing before t = 0, if the patient starts at steady state.
    delay
        Hours after its scheduled time that each given dose is taken, (subjects, doses) or (1, doses);
        None: every dose on time. Each must be shorter than the dose's interval (late, not moved
        past the next dose); troughs stay at the scheduled times.
    """

    time: np.ndarray
    interval: np.ndarray
    planned: np.ndarray
    given: np.ndarray
    status: np.ndarray
    phase: np.ndarray
    hold: np.ndarray
    restart_index: np.ndarray
    hold_labels: tuple[str, ...]
    steady_state: SteadyState | None = None
    delay: np.ndarray | None = None

    @property
    def day(self) -> np.ndarray:
        """Clinical day of each scheduled dose (day 1 is the first day)."""
        return np.floor(self.time / HOURS_PER_DAY).astype(np.int64) + 1

    @property
    def end(self) -> float:
        """End of the schedule: the last dose time plus its interval. [h]"""
        return float(self.time[-1] + self.interval[-1])

    def __len__(self) -> int:
        return len(self.time)


@dataclass(frozen=True)
class Schedule:
    """A prescription with its interruptions.

    Parameters
    ----------
    phases
        Consecutive phases of regular dosing; the first starts at t = 0 (day 1).
    holds
        Interruptions, in any order; they must not overlap and must lie inside the schedule. A
        hold may start inside the ladder of an earlier one: it interrupts that ladder, its own
        ladder then runs as written (without one, the prescription resumes), and its held doses
        are planned at the ladder's amount then (see :class:`Hold`).
    missed_days
        Clinical days on which every scheduled dose was missed.
    missed_doses
        0-based indices of individual missed doses.
    steady_state
        Dosing before t = 0, if the patient has been treated long enough to be at steady state.

    Examples
    --------
    The motivating case: 400 mg/d, a 14-day hold from day 29, then 200 mg for 7 d, 300 mg for 56 d.

    >>> s = Schedule(
    ...     phases=(Phase(dose=400, days=365),),
    ...     holds=(Hold(start_day=29, days=14, restart=(LadderStep(200, 7), LadderStep(300, 56))),),
    ... )
    >>> table = s.lower()
    >>> len(table), table.given[[27, 28, 42, 49, 105]].tolist()
    (365, [400.0, 0.0, 200.0, 300.0, 400.0])

    A second hold on days 60-66, inside the 300 mg step, then the same ladder again: its doses are
    planned at 300 mg, and 200 mg follows on days 67-73.

    >>> ladder = (LadderStep("200 mg", 7), LadderStep("300 mg", 56))
    >>> table = Schedule(
    ...     phases=(Phase(dose="400 mg", days=365),),
    ...     holds=(Hold(start_day=29, days=14, restart=ladder), Hold(start_day=60, days=7, restart=ladder)),
    ... ).lower()
    >>> table.planned[[58, 59, 65, 66, 73]].tolist(), table.given[[58, 59, 65, 66, 73]].tolist()
    ([300.0, 300.0, 300.0, 200.0, 300.0], [300.0, 0.0, 0.0, 200.0, 300.0])
    """

    phases: tuple[Phase, ...]
    holds: tuple[Hold, ...] = ()
    missed_days: tuple[int, ...] = ()
    missed_doses: tuple[int, ...] = ()
    steady_state: SteadyState | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "phases", tuple(self.phases))
        object.__setattr__(self, "holds", tuple(self.holds))
        object.__setattr__(self, "missed_days", tuple(self.missed_days))
        object.__setattr__(self, "missed_doses", tuple(self.missed_doses))
        if not self.phases:
            raise ScheduleError("a schedule needs at least one phase", key="phases", expected="one or more phases")

    def lower(self) -> DoseTable:
        """Lower the schedule to a :class:`DoseTable`, refusing conflicts.

        Raises
        ------
        ScheduleError
            For overlapping holds, a hold outside the schedule or holding no dose, a hold or ladder
            step whose `days` would hold a fraction of a dose (not a whole number of days, or of
            the dosing intervals where it starts when these are shorter than a day), a missed dose outside the schedule or inside a hold,
            a duplicated missed dose, or more than :data:`MAX_DOSES` doses.
        """
        for i, phase in enumerate(self.phases):
            if not isinstance(phase, Phase):
                raise ScheduleError("must be a Phase", key=f"phases[{i}]", got=phase, expected="Phase(dose=..., days=...)")
        for i, hold in enumerate(self.holds):
            if not isinstance(hold, Hold):
                raise ScheduleError("must be a Hold", key=f"holds[{i}]", got=hold, expected="Hold(start_day=..., days=...)")
        if self.steady_state is not None and not isinstance(self.steady_state, SteadyState):
            raise ScheduleError(
                "must be a SteadyState", key="steady_state", got=self.steady_state, expected="SteadyState(dose=..., interval=...)"
            )
        total = sum(phase.count() for phase in self.phases)
        if total > MAX_DOSES:
            raise ScheduleError(
                f"the phases hold {total} doses (a unit slip?)", key="phases", got=total, expected=f"at most {MAX_DOSES}"
            )
        times, intervals, planned, labels, slots = [], [], [], [], []
        start = 0.0
        for phase in self.phases:
            n = phase.count()
            k = np.arange(n)
            times.append(start + k * phase.interval)
            intervals.append(np.full(n, phase.interval))
            amounts = np.asarray(phase.dose)
            planned.append(amounts[k % len(amounts)])
            labels.extend([phase.label] * n)
            slots.append(k)
            start += phase.duration()
        slot = np.concatenate(slots)
        time = np.concatenate(times)
        interval = np.concatenate(intervals)
        planned_amount = np.concatenate(planned).astype(float)
        phase_label = np.array(labels, dtype=object)
        phase_interval = interval.copy()  # the interval of the phase each dose belongs to
        # The gap to the next dose (a phase in days holds a whole number of intervals, so this is
        # its interval except where phases of different intervals meet).
        interval[:-1] = np.diff(time)
        if np.any(interval[:-1] <= 0):
            raise ScheduleError("phases overlap: dose times are not increasing", key="phases")
        end = float(time[-1] + interval[-1])

        hold_index = np.full(len(time), -1, dtype=np.int64)
        restart_index = []
        windows = []
        order = sorted(range(len(self.holds)), key=lambda i: self.holds[i].start_day)
        for i in order:
            hold = self.holds[i]
            key = f"holds[{i}]"
            begin = day_start(hold.start_day)
            first = int(np.searchsorted(time, begin - 1e-9))
            if begin >= end or first >= len(time):
                raise ScheduleError(
                    "starts after the last scheduled dose",
                    key=key,
                    got=f"start_day = {hold.start_day}",
                    expected=f"a day <= {_day(time[-1])}, the day of the last dose",
                )
            if hold.days is not None:
                _check_length(hold.days, phase_interval[first], f"{key}.days", "a hold")
                stop = begin + hold.days * HOURS_PER_DAY
                if stop > end + 1e-9:
                    raise ScheduleError(
                        f"ends after the schedule (schedule ends on day {_day(end - 1e-9)})",
                        key=key,
                        got=f"days {_span(begin, stop)}" if hold.days < 1e6 else f"days = {hold.days:g}",
                        expected=f"days <= {_fmt((end - begin) / HOURS_PER_DAY)} from day {hold.start_day}",
                    )
                last = int(np.searchsorted(time, stop - 1e-9))
            else:
                last = first + hold.doses
                if last > len(time):
                    raise ScheduleError(
                        f"holds more doses than remain from day {hold.start_day}",
                        key=key,
                        got=f"doses = {hold.doses}",
                        expected=f"doses <= {len(time) - first}",
                    )
                stop = time[last] if last < len(time) else end
            if last <= first:
                raise ScheduleError(
                    "holds no scheduled dose", key=key, got=f"days {_span(begin, stop)}",
                    expected="a hold covering at least one scheduled dose",
                )
            for j, (other_begin, other_stop) in windows:
                if begin < other_stop - 1e-9 and other_begin < stop - 1e-9:
                    raise ScheduleError(
                        f"overlaps holds[{j}] (days {_span(other_begin, other_stop)})", key=key,
                        got=f"days {_span(begin, stop)}",
                    )
            windows.append((i, (begin, stop)))
            hold_index[first:last] = i
        # Ladders: the steps set the planned amount from the first dose after the hold until they
        # end or the next hold ends, whichever comes first. A later hold interrupts the ladder; its
        # held doses keep, as planned amount, what the ladder would have given then (what the
        # schedule would have given without that hold), and after it its own ladder, or the
        # prescription, takes over (see Hold).
        starts = sorted((w[1][0], w[0]) for w in windows)
        restart_index = np.full(len(self.holds), -1, dtype=np.int64)
        for position, (_, i) in enumerate(starts):
            members = np.flatnonzero(hold_index == i)
            restart = members[-1] + 1
            restart_index[i] = restart if restart < len(time) else -1
            step_start = time[restart] if restart < len(time) else end
            for s, step in enumerate(self.holds[i].restart):
                at = min(int(np.searchsorted(time, step_start - 1e-9)), len(time) - 1)
                _check_length(step.days, phase_interval[at], f"holds[{i}].restart[{s}].days", "a ladder step",
                              by_doses=False)
                step_start += step.days * HOURS_PER_DAY
            if restart >= len(time):
                continue
            limit = math.inf
            if position + 1 < len(starts):
                after_next = np.flatnonzero(hold_index == starts[position + 1][1])[-1] + 1
                limit = time[after_next] if after_next < len(time) else math.inf
            step_start = time[restart]
            for s, step in enumerate(self.holds[i].restart):
                step_stop = min(step_start + step.days * HOURS_PER_DAY, limit)
                inside = np.flatnonzero((time >= step_start - 1e-9) & (time < step_stop - 1e-9))
                amounts = np.asarray(step.dose)
                planned_amount[inside] = amounts[slot[inside] % len(amounts)]
                label = self.holds[i].label
                phase_label[inside] = f"{label}: restart step {s + 1} ({_amounts_text(step.dose)} mg)"
                step_start = step_start + step.days * HOURS_PER_DAY

        status = np.where(hold_index >= 0, HELD, GIVEN).astype(np.int8)
        day = np.floor(time / HOURS_PER_DAY).astype(np.int64) + 1
        missed = {}
        seen_days: dict[int, int] = {}
        for n, d in enumerate(self.missed_days):
            if isinstance(d, bool) or not isinstance(d, int):
                raise ScheduleError(
                    "must be a whole clinical day", key=f"missed_days[{n}]", got=d, expected="an integer day >= 1"
                )
            if d in seen_days:
                raise ScheduleError(
                    f"day {d} is already listed as missed_days[{seen_days[d]}]", key=f"missed_days[{n}]", got=d,
                    expected="each day listed once",
                )
            seen_days[d] = n
            members = np.flatnonzero(day == d)
            if members.size == 0:
                raise ScheduleError(
                    "no dose is scheduled on this day", key=f"missed_days[{n}]", got=d,
                    expected=f"a day with a scheduled dose, 1 to {int(day[-1])}",
                )
            for j in members:
                missed[int(j)] = f"missed_days[{n}]"
        for n, j in enumerate(self.missed_doses):
            if isinstance(j, bool) or not isinstance(j, int) or not 0 <= j < len(time):
                raise ScheduleError(
                    "no such scheduled dose", key=f"missed_doses[{n}]", got=j, expected=f"0 <= index < {len(time)}"
                )
            if j in missed:
                raise ScheduleError(
                    f"dose {j} (day {day[j]}) is already missed by {missed[j]}", key=f"missed_doses[{n}]", got=j,
                    expected="each dose missed once",
                )
            missed[j] = f"missed_doses[{n}]"
        for j, key in missed.items():
            if status[j] == HELD:
                h = int(hold_index[j])
                first_held = int(np.flatnonzero(hold_index == h)[0])
                last_held = int(np.flatnonzero(hold_index == h)[-1])
                got = int(day[j]) if key.startswith("missed_days") else j
                raise ScheduleError(
                    f"dose {j} (day {day[j]}) is already held by holds[{h}] (days {day[first_held]}-{day[last_held]})",
                    key=key,
                    got=got,
                    expected="a dose outside every hold",
                )
            status[j] = MISSED
        given = np.where(status == GIVEN, planned_amount, 0.0)
        return DoseTable(
            time=time,
            interval=interval,
            planned=planned_amount,
            given=given,
            status=status,
            phase=phase_label,
            hold=hold_index,
            restart_index=restart_index,
            hold_labels=tuple(h.label for h in self.holds),
            steady_state=self.steady_state,
        )


def _day(t: float) -> int:
    return int(math.floor(t / HOURS_PER_DAY)) + 1


def _fmt(value: float) -> str:
    return f"{value:g}"


def _days(value: float) -> str:
    return f"{value:g} day" + ("" if value == 1 else "s")


def _amounts_text(amounts: Sequence[float]) -> str:
    """Amounts for a label, e.g. ``'400/200'``; a converted amount shows four digits (``'400.1'``)."""
    return "/".join(f"{a:g}" if a == round(a) else f"{a:.4g}" for a in amounts)


def _span(begin: float, stop: float) -> str:
    """Clinical days covered by [begin, stop), e.g. ``'29-42'``."""
    return f"{_day(begin)}-{_day(stop - 1e-9)}"
