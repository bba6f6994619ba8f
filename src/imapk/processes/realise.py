"""Each patient's realised doses on the shared scheduled grid: the schedule, then the random processes.

:func:`realise` takes a :class:`~imapk.schedule.Schedule` (the prescription and its planned holds)
and the dosing processes of a population (a toxicity that interrupts therapy, missed doses), and
returns a :class:`RealisedDoses`: for every patient and every scheduled dose, the amount planned and
given, its status (given, held, missed) and the reason (the phase or ladder step that prescribed a
given dose, the hold that removed a held one, ``"missed"``). The grid of scheduled times stays the
schedule's own, so every patient's troughs sit at the same times and the population summaries,
verdicts and comparisons work as for a shared schedule; the engine takes the given amounts as a
(patients, doses) array.

Order of the processes: the toxicity's holds are added to the schedule first (a patient cannot miss
a dose that is held), then the misses are drawn over the whole grid and applied to the doses still
given. A patient's draws depend on the seed, the process and the patient only (see
:mod:`imapk.processes.adherence` and :mod:`imapk.processes.toxicity`). A toxicity whose hazard
rises with the trough is realised with the troughs by :mod:`imapk.processes.coupled`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import ImapkError
from ..schedule import GIVEN, HELD, HOURS_PER_DAY, MISSED, DoseTable, Hold, Schedule, _amounts_text, _check_length, day_start
from .adherence import IndependentMisses, LateDoses, MarkovMisses, dose_delays, missed_doses
from .toxicity import PatientEvents, ToxicityProcess, draw_events, hold_specs, realised_schedule

__all__ = ["RealisedDoses", "realise", "realise_events", "patient_table", "schedule_days", "with_late_doses",
           "MISSED_REASON"]

#: Reason of a dose the patient missed.
MISSED_REASON = "missed"


@dataclass(frozen=True)
class RealisedDoses:
    """Each patient's doses on the shared scheduled grid.

    Attributes
    ----------
    table
        The schedule lowered without the random processes: its times and intervals are every
        patient's scheduled grid, and its ``given`` is replaced by :attr:`given` for the engine
        (see :meth:`engine_table`).
    planned, given
        Amount planned and given per patient and dose. [mg]
    status
        ``GIVEN``, ``HELD`` or ``MISSED`` per patient and dose.
    reason
        Index into :attr:`reasons` per patient and dose.
    reasons
        The reasons' labels: phase and ladder-step labels, hold labels, ``"missed"``.
    prescribed
        Index into :attr:`reasons` per patient and dose of what prescribed the planned amount: the
        phase or the ladder step in force, whatever the dose's status.
    events
        Per patient, the toxicity events drawn (empty without a toxicity process).
    delay
        Hours after its scheduled time that each given dose is taken (patients, doses), or None:
        every dose on time (:class:`~imapk.processes.adherence.LateDoses`).
    """

    table: DoseTable
    planned: np.ndarray
    given: np.ndarray
    status: np.ndarray
    reason: np.ndarray
    reasons: tuple[str, ...]
    prescribed: np.ndarray
    events: tuple[PatientEvents, ...] = ()
    delay: np.ndarray | None = None

    @property
    def n_subjects(self) -> int:
        return self.given.shape[0]

    def engine_table(self) -> DoseTable:
        """The table the engine simulates: the shared grid with each patient's given amounts."""
        return replace(self.table, given=self.given, delay=self.delay)

    def reason_labels(self, subject: int) -> list[str]:
        """One patient's reason per scheduled dose, as text."""
        return [self.reasons[i] for i in self.reason[subject]]


def _grid_key(table: DoseTable) -> tuple:
    return (table.time.tobytes(), table.interval.tobytes())


def realise(
    schedule: Schedule,
    subjects,
    seed: int | None,
    *,
    toxicity: ToxicityProcess | None = None,
    adherence: IndependentMisses | MarkovMisses | None = None,
    late: LateDoses | None = None,
) -> RealisedDoses:
    """Each patient's realised doses (see the module docstring).

    Parameters
    ----------
    schedule
        The prescription with its planned holds, the same for every patient.
    subjects
        Patient indices (their draws depend on these, not on who else is realised).
    seed
        The scenario's seed; required when a process is given.
    toxicity, adherence, late
        The dosing processes (None: not modelled). Late doses apply to the doses given.
    """
    subjects = np.asarray(subjects, dtype=np.int64)
    if (toxicity is not None or adherence is not None or late is not None) and seed is None:
        raise ImapkError("random dosing processes need a seed", key="scenario.seed", expected="an integer >= 0")
    base = schedule.lower()
    events = None
    if toxicity is not None:
        events = draw_events(toxicity, seed, subjects, schedule_days(base))
    realised = realise_events(schedule, subjects, seed, toxicity=toxicity, adherence=adherence, events=events,
                              base=base)
    return realised if late is None else with_late_doses(realised, late, seed, subjects)


def with_late_doses(realised: RealisedDoses, late: LateDoses, seed: int, subjects) -> RealisedDoses:
    """`realised` with each given dose late as `late` draws it (:func:`~imapk.processes.adherence.dose_delays`)."""
    shortest = float(np.min(realised.table.interval))
    if not late.high <= shortest:
        raise ImapkError("a late dose must come before the next scheduled dose", key="adherence.late.high",
                         got=late.high, expected=f"at most the shortest dosing interval, {shortest:g} h")
    delay = dose_delays(late, seed, subjects, realised.table.time.size)
    delay = np.where(realised.status == GIVEN, delay, 0.0)
    return replace(realised, delay=delay)


def schedule_days(table: DoseTable) -> int:
    """Days of therapy the schedule spans (its end rounded up to a whole day)."""
    return int(np.ceil(table.end / 24.0 - 1e-9))


#: Label of the one hold of a lowering kept for :func:`patient_table` (replaced by the hold's own).
_CANONICAL = "\x00hold"


@dataclass(frozen=True)
class _Lowered:
    """What :func:`realise_events` reads of one patient's lowered schedule (as :class:`DoseTable`)."""

    time: np.ndarray
    interval: np.ndarray
    planned: np.ndarray
    given: np.ndarray
    status: np.ndarray
    phase: np.ndarray
    hold: np.ndarray
    hold_labels: tuple[str, ...]


def _single(schedule: Schedule, base: DoseTable, start_day: int, days, restart, singles: dict) -> tuple:
    """One hold lowered alone on `schedule` (kept in `singles`): the first held dose, the restart (the
    first dose after it), the end of its ladder, and the ladder's planned amounts and label suffixes
    (each ladder dose's phase label without the hold's own label)."""
    key = (start_day, days, bool(restart))
    single = singles.get(key)
    if single is None:
        hold = Hold(start_day=start_day, days=days, restart=restart, label=_CANONICAL)
        table = replace(schedule, holds=(hold,)).lower()
        held = np.flatnonzero(table.hold == 0)
        first, after = int(held[0]), int(held[-1]) + 1
        changed = np.flatnonzero(table.phase[after:] != base.phase[after:])
        stop = after + (int(changed[-1]) + 1 if changed.size else 0)
        single = singles[key] = (first, after, stop, table.planned[after:stop].copy(),
                                 [label[len(_CANONICAL):] for label in table.phase[after:stop]])
    return single


def _grid(schedule: Schedule, base: DoseTable) -> tuple:
    """What :func:`_single_direct` reads of the prescription: dose times [h], the schedule's end [h],
    each dose's position in its phase, and its phase's interval [h] (as :meth:`Schedule.lower` has them)."""
    slot = np.concatenate([np.arange(phase.count()) for phase in schedule.phases])
    interval = np.concatenate([np.full(phase.count(), phase.interval) for phase in schedule.phases])
    return base.time, base.end, slot, interval


def _single_direct(grid: tuple, start_day: int, days, restart, memo: dict) -> tuple | None:
    """:func:`_single` without lowering a schedule: the same steps as :meth:`Schedule.lower` takes for
    one hold given in days on a schedule without other holds or misses (the same float operations;
    a mask ``(time >= a) & (time < b)`` over the increasing times is the index range between the two
    ``searchsorted``). None where lowering would refuse the hold (the caller then lowers, for its
    error). `memo` keeps the checks of hold lengths and the ladders by the dose they restart at."""
    time, end, slot, phase_interval = grid
    n = time.size
    begin = day_start(start_day)
    first = int(np.searchsorted(time, begin - 1e-9))
    if begin >= end or first >= n:
        return None
    whole = memo.get((days, phase_interval[first]))
    if whole is None:
        try:
            _check_length(days, phase_interval[first], "holds[0].days", "a hold")
            whole = True
        except ImapkError:
            whole = False
        memo[(days, phase_interval[first])] = whole
    if not whole:
        return None
    stop = begin + days * HOURS_PER_DAY
    if stop > end + 1e-9:
        return None
    after = int(np.searchsorted(time, stop - 1e-9))
    if after <= first:
        return None
    ladder = memo.get((after, restart))
    if ladder is None:
        ladder = memo[(after, restart)] = _ladder(grid, after, restart)
    return None if ladder is False else (first, after, *ladder)


def _ladder(grid: tuple, after: int, restart) -> tuple | bool:
    """The ladder `restart` from dose `after` on, as :meth:`Schedule.lower` lays it after a hold (see
    :func:`_single_direct`): (its end, its planned amounts [mg], its labels' suffixes), or False where
    lowering would refuse a step (or leave a gap)."""
    time, end, slot, phase_interval = grid
    n = time.size
    step_start = time[after] if after < n else end
    try:
        for step in restart:
            at = min(int(np.searchsorted(time, step_start - 1e-9)), n - 1)
            _check_length(step.days, phase_interval[at], "holds[0].restart.days", "a ladder step", by_doses=False)
            step_start += step.days * HOURS_PER_DAY
    except ImapkError:
        return False
    amounts, suffixes, last = [], [], after
    if after < n:
        step_start = time[after]
        for s, step in enumerate(restart):
            step_stop = step_start + step.days * HOURS_PER_DAY
            lo = int(np.searchsorted(time, step_start - 1e-9))
            hi = max(int(np.searchsorted(time, step_stop - 1e-9)), lo)
            if hi > lo:
                if lo != last:  # a gap in the ladder: leave it to the lowering
                    return False
                dose = np.asarray(step.dose)
                amounts.append(dose[slot[lo:hi] % len(dose)])
                suffixes += [f": restart step {s + 1} ({_amounts_text(step.dose)} mg)"] * (hi - lo)
                last = hi
            step_start = step_start + step.days * HOURS_PER_DAY
    planned = np.concatenate(amounts).astype(float) if amounts else np.empty(0)
    return last, planned, suffixes


def patient_table(schedule: Schedule, base: DoseTable, process: ToxicityProcess, events: PatientEvents,
                  days: int, singles: dict):
    """One patient's schedule with its toxicity holds, lowered: equal to
    ``realised_schedule(schedule, process, events, days).lower()`` in its times, amounts, statuses,
    phase labels, hold indices and hold labels, built from one lowering per distinct single hold.

    A schedule without planned holds or misses only (else the full lowering). Each hold is lowered
    alone once (`singles` keeps them: start day, days, ladder or not); the patient's holds are then
    laid on the prescription in time order, each hold's ladder running until its steps end or the
    next hold ends, whichever comes first: the rule of :class:`~imapk.schedule.Hold`.
    """
    patient = realised_schedule(schedule, process, events, days)
    if schedule.holds or schedule.missed_days or schedule.missed_doses:
        return patient.lower()
    holds = patient.holds
    planned, status = base.planned.copy(), base.status.copy()
    phase, hold_index = np.array(base.phase, dtype=object), base.hold.copy()
    windows = [_single(schedule, base, hold.start_day, hold.days, hold.restart, singles) for hold in holds]
    for k, (hold, (first, restart, stop, amounts, suffixes)) in enumerate(zip(holds, windows)):
        status[first:restart] = HELD
        hold_index[first:restart] = k
        if k + 1 < len(windows):
            stop = min(stop, windows[k + 1][1])  # the next hold interrupts the ladder when it ends
        n = stop - restart
        if n > 0:
            planned[restart:stop] = amounts[:n]
            phase[restart:stop] = [hold.label + suffix for suffix in suffixes[:n]]
    given = np.where(status == GIVEN, planned, 0.0)
    return _Lowered(base.time, base.interval, planned, given, status, phase, hold_index,
                    tuple(h.label for h in holds))


def realise_events(
    schedule: Schedule,
    subjects,
    seed: int | None,
    *,
    toxicity: ToxicityProcess | None,
    adherence: IndependentMisses | MarkovMisses | None,
    events,
    base: DoseTable | None = None,
    tables: dict | None = None,
    missed: np.ndarray | None = None,
) -> RealisedDoses:
    """The realised doses of patients whose toxicity `events` (one :class:`PatientEvents` each, or
    None without a toxicity) are known: their holds, then the misses (see :func:`realise`).
    `base`: ``schedule.lower()`` if already at hand; `tables`: a dict kept between calls on the same
    schedule and process, in which each hold pattern's lowering is kept; `missed`: the adherence's
    misses over the whole grid (:func:`~imapk.processes.adherence.missed_doses` of these patients) if
    already drawn."""
    subjects = np.asarray(subjects, dtype=np.int64)
    base = schedule.lower() if base is None else base
    n, n_dose = subjects.size, base.time.size
    if (toxicity is not None or adherence is not None) and seed is None:
        raise ImapkError("random dosing processes need a seed", key="scenario.seed", expected="an integer >= 0")
    reasons: dict[str, int] = {}

    def codes(labels) -> np.ndarray:  # codes in order of first appearance, each label looked up once
        index = {label: reasons.setdefault(str(label), len(reasons)) for label in dict.fromkeys(labels)}
        return np.fromiter(map(index.__getitem__, labels), dtype=np.int32, count=len(labels))

    def table_codes(table: DoseTable) -> np.ndarray:
        labels = np.array(table.phase, dtype=object)
        held = np.flatnonzero((table.status == HELD) & (table.hold >= 0))
        if held.size:
            labels[held] = np.array(table.hold_labels, dtype=object)[table.hold[held]]
        labels[table.status == MISSED] = MISSED_REASON
        return codes(labels)

    planned = _rows(base.planned, n)
    given = _rows(base.given, n)
    status = _rows(base.status.astype(np.int8), n)
    reason = _rows(table_codes(base), n)
    prescribed = _rows(codes(base.phase), n)
    if toxicity is not None:
        events = tuple(events)
        tables = {} if tables is None else tables
        if schedule.holds or schedule.missed_days or schedule.missed_doses:
            _lay_full_tables(schedule, base, subjects, toxicity, events, tables, codes, table_codes,
                             (planned, given, status, reason, prescribed))
        else:
            _lay_holds(schedule, base, subjects, toxicity, events, tables, reasons, codes,
                       (planned, given, status, reason, prescribed))
    if adherence is not None:
        if missed is None:
            missed = missed_doses(adherence, seed, subjects, n_dose)
        still_given = np.equal(status, GIVEN)
        np.logical_and(still_given, missed, out=still_given)
        at = np.flatnonzero(still_given)  # the doses missed among those given (a few in ten): by index
        given.reshape(-1)[at] = 0.0
        status.reshape(-1)[at] = MISSED
        reason.reshape(-1)[at] = reasons.setdefault(MISSED_REASON, len(reasons))
    labels = tuple(sorted(reasons, key=reasons.get))
    return RealisedDoses(base, planned, given, status, reason, labels, prescribed, events if toxicity is not None else ())


def _rows(values: np.ndarray, n: int) -> np.ndarray:
    """`values` as every one of `n` rows, in a new C-ordered array."""
    out = np.empty((n, values.size), dtype=values.dtype)
    out[...] = values
    return out


def _conflict(toxicity: ToxicityProcess, subject, error: ImapkError) -> ImapkError:
    return ImapkError(
        f"a {toxicity.label} hold drawn for patient {int(subject)} conflicts with the schedule: {error.problem}",
        key="toxicity[0]", expected="random holds on a schedule without planned holds in their way",
    )


def _lay_full_tables(schedule, base, subjects, toxicity, events, tables, codes, table_codes, out) -> None:
    """Each patient's holds on a schedule with planned holds or misses: one full lowering per hold
    pattern (:func:`patient_table`), copied into the patient's rows of `out`."""
    planned, given, status, reason, prescribed = out
    days = schedule_days(base)
    lowered: dict[tuple, tuple] = {}  # patients with the same holds share one lowering
    for i, patient in enumerate(events):
        if not patient.time:
            continue
        key = (patient.hold_start_day, patient.hold_days, patient.discontinued)
        if key not in lowered:
            try:
                table = tables.get(key)
                if table is None:
                    table = tables[key] = patient_table(schedule, base, toxicity, patient, days,
                                                        tables.setdefault("single holds", {}))
            except ImapkError as error:
                raise _conflict(toxicity, subjects[i], error) from None
            if _grid_key(table) != _grid_key(base):
                raise ImapkError("a drawn hold changed the scheduled grid", key="toxicity[0]")
            lowered[key] = (table.planned, table.given, table.status.astype(np.int8), table_codes(table),
                            codes(table.phase))
        planned[i], given[i], status[i], reason[i], prescribed[i] = lowered[key]


def _ramp(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For runs of `lengths`: each element's run and its position in the run (0, 1, ..., length - 1)."""
    run = np.repeat(np.arange(lengths.size), lengths)
    return run, np.arange(run.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def _lay_holds(schedule, base, subjects, toxicity, events, tables, reasons, codes, out) -> None:
    """Each patient's toxicity holds and ladders laid on rows of the prescription (`out`, filled with
    it), for a schedule without planned holds or misses; the same arrays and reason codes, in the
    same order, as lowering each patient's :func:`~imapk.processes.toxicity.realised_schedule`.

    Each hold pattern (the patient's hold days and lengths) is read once as a list of holds, each
    from the lowering of that hold alone (:func:`_single`): its held doses, and its ladder until the
    steps end or the next hold ends (the rule of :class:`~imapk.schedule.Hold`). The holds of all
    patients are then written at once by index. Reason codes are numbered in order of first
    appearance, as :func:`realise_events` numbers them, patient by patient (each pattern's reasons
    along its doses, then its prescribing labels); a pattern whose labels are all numbered already
    adds none, so the labels of the doses are only formed for the few patterns that bring a new one.
    """
    planned, given, status, reason, prescribed = out
    n_dose = base.time.size
    days = schedule_days(base)
    singles = tables.setdefault("single holds", {})
    grid = tables.get("grid")
    if grid is None:
        grid = tables["grid"] = _grid(schedule, base)
    memo = tables.setdefault("ladders", {})
    patterns = tables.setdefault("hold patterns", {})  # pattern -> its holds (label, first, restart, ladder length, key)
    ladders: dict[tuple, tuple] = {}  # single hold -> (offset in the ladder arrays, [(first position, suffix)])
    ladder_amounts: list[np.ndarray] = []
    ladder_suffixes: list[np.ndarray] = []
    suffix_ids: dict[str, int] = {}
    label_ids: dict[str, int] = {}
    known: set[tuple] = set()  # (hold label, single hold) whose labels are all numbered
    size = 0
    numbered: dict[tuple, int] = {}  # pattern -> its index among this call's patterns
    records: list[tuple] = []  # per hold of each pattern: first, restart, ladder length, ladder offset, label id
    pattern_start: list[int] = []
    rows: list[int] = []
    which: list[int] = []
    for i, patient in enumerate(events):
        if not patient.time:
            continue
        key = (patient.hold_start_day, patient.hold_days, patient.discontinued)
        p = numbered.get(key)
        if p is None:
            holds = patterns.get(key)
            if holds is None:
                specs = hold_specs(toxicity, patient, days)
                try:
                    windows = []
                    for start, length, ladder, _ in specs:
                        restart = toxicity.restart if ladder else ()
                        single = singles.get((start, length, bool(restart)))
                        if single is None:
                            single = _single_direct(grid, start, length, restart, memo)
                            if single is None:
                                single = _single(schedule, base, start, length, restart, singles)
                            singles[(start, length, bool(restart))] = single
                        windows.append(single)
                except ImapkError as error:
                    raise _conflict(toxicity, subjects[i], error) from None
                holds = []
                for k, ((*_, label), (first, restart, stop, _, _)) in enumerate(zip(specs, windows)):
                    if k + 1 < len(windows):
                        stop = min(stop, windows[k + 1][1])  # the next hold interrupts the ladder when it ends
                    spec = specs[k]
                    holds.append((label, first, restart, max(stop - restart, 0),
                                  (spec[0], spec[1], spec[2] and bool(toxicity.restart))))
                holds = patterns[key] = tuple(holds)
            new = False
            for label, first, restart, length, single in holds:
                ladder = ladders.get(single)
                if ladder is None:
                    _, _, _, amounts, suffixes = singles[single]
                    ids = np.array([suffix_ids.setdefault(x, len(suffix_ids)) for x in suffixes], dtype=np.int64)
                    steps = list({x: m for m, x in reversed(list(enumerate(suffixes)))}.items())
                    ladder = ladders[single] = (size, [(m, x) for x, m in steps])
                    ladder_amounts.append(amounts)
                    ladder_suffixes.append(ids)
                    size += len(suffixes)
                label_ids.setdefault(label, len(label_ids))
                if (label, single) not in known:  # else the hold's label and its ladder's are numbered
                    new = new or label not in reasons or any(
                        m < length and label + x not in reasons for m, x in ladder[1])
                    if label in reasons and all(label + x in reasons for _, x in ladder[1]):
                        known.add((label, single))
                records.append((first, restart, length, ladder[0], label_ids[label]))
            if new:  # number the pattern's labels as lowering its schedule would, in order of appearance
                phase = np.array(base.phase, dtype=object)
                for label, first, restart, length, single in holds:
                    phase[restart:restart + length] = [label + x for x in singles[single][4][:length]]
                labels = phase.copy()
                for label, first, restart, length, single in holds:
                    labels[first:restart] = label
                codes(labels)
                codes(phase)
            p = numbered[key] = len(pattern_start)
            pattern_start.append(len(records) - len(holds))
        rows.append(i)
        which.append(p)
    if not records:
        return
    # Every hold of every patient: (row, record), then its held doses and its ladder doses by flat index.
    record = np.array(records, dtype=np.int64).reshape(-1, 5)
    starts = np.append(np.asarray(pattern_start, dtype=np.int64), len(records))
    which = np.asarray(which, dtype=np.int64)
    counts = starts[which + 1] - starts[which]
    owner, position = _ramp(counts)
    row = np.asarray(rows, dtype=np.int64)[owner]
    first, restart, length, offset, label = record[starts[which][owner] + position].T
    code_of_label = np.array([reasons[x] for x in label_ids], dtype=np.int32)
    suffix_list = list(suffix_ids)
    code_of_ladder = np.array([[reasons.get(x + y, -1) for y in suffix_list] for x in label_ids], dtype=np.int32)
    run, m = _ramp(length)
    at = (row * n_dose + restart)[run] + m
    source = offset[run] + m
    if at.size:
        amounts = np.concatenate(ladder_amounts)[source]
        step = code_of_ladder[label[run], np.concatenate(ladder_suffixes)[source]]
        planned.reshape(-1)[at] = amounts
        given.reshape(-1)[at] = amounts
        prescribed.reshape(-1)[at] = step
        reason.reshape(-1)[at] = step
    run, m = _ramp(restart - first)
    at = (row * n_dose + first)[run] + m
    status.reshape(-1)[at] = HELD
    given.reshape(-1)[at] = 0.0
    reason.reshape(-1)[at] = code_of_label[label[run]]
