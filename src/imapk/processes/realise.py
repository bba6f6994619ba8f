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

How: every output is allocated once, filled with the prescription, and the drawn holds, ladders
and misses are written into it by index for all patients at once; each distinct hold is found once
(by the steps :meth:`~imapk.schedule.Schedule.lower` takes for one hold). The result is that of
lowering each patient's own schedule (``realised_schedule(...).lower()``), bit for bit, labels and
their numbering included (tests/test_realise_equivalence.py); 100 000 patients x a year of daily
doses with recurring rash holds and Markov misses take about 0.5 s on a 2-core machine
(benchmarks/test_bench_realise.py).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, replace
from itertools import chain

import numpy as np

from ..errors import ImapkError
from ..schedule import GIVEN, HELD, HOURS_PER_DAY, MISSED, DoseTable, Hold, Schedule, _amounts_text, _check_length, day_start
from .adherence import IndependentMisses, LateDoses, MarkovMisses, dose_delays, missed_doses
from .toxicity import PatientEvents, ToxicityProcess, draw_events, hold_label, realised_schedule

__all__ = ["RealisedDoses", "realise", "realise_events", "schedule_days", "with_late_doses",
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

    The arrays are made read-only when the record is made (it owns them; a new record is made
    with :func:`dataclasses.replace` and new arrays), so a simulation's result can hold them
    without a copy: no later edit can change the one through the other.
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

    def __post_init__(self):
        for array in (self.planned, self.given, self.status, self.reason, self.prescribed, self.delay):
            if isinstance(array, np.ndarray):
                array.flags.writeable = False

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


#: Label of the one hold of a lowering kept by :func:`_single` (replaced by the hold's own).
_CANONICAL = "\x00hold"


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
    schedule and process, in which each distinct hold (and, on a schedule with planned holds or
    misses, each hold pattern's lowering) is kept; `missed`: the adherence's
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


#: Elements above which :func:`_rows` fills its rows on several threads.
_THREADED_FILL = 1 << 22


def _rows(values: np.ndarray, n: int) -> np.ndarray:
    """`values` as every one of `n` rows, in a new C-ordered array.

    A large array is filled by blocks of rows on a few threads (on the main thread only, as the
    engine's kernels do, :func:`imapk.engine._numba.parallel_threads`): its first touch of memory,
    not the copy, is most of the cost (100 000 patients x 365 doses: about 0.1 s for the five arrays
    of :func:`realise_events` on 2 cores, against 0.15-0.6 s on one).
    """
    out = np.empty((n, values.size), dtype=values.dtype)
    threads = min(os.cpu_count() or 1, 4) if out.size > _THREADED_FILL else 1
    if threads < 2 or threading.current_thread() is not threading.main_thread():
        out[...] = values
        return out
    from concurrent.futures import ThreadPoolExecutor

    bounds = np.linspace(0, n, threads + 1).astype(int)

    def fill(block: int) -> None:
        out[bounds[block]:bounds[block + 1]] = values

    with ThreadPoolExecutor(threads) as pool:  # numpy releases the GIL while it copies
        list(pool.map(fill, range(threads)))
    return out


def _conflict(toxicity: ToxicityProcess, subject, error: ImapkError) -> ImapkError:
    return ImapkError(
        f"a {toxicity.label} hold drawn for patient {int(subject)} conflicts with the schedule: {error.problem}",
        key="toxicity[0]", expected="planned holds that leave whole days to the drawn holds",
    )


def _lay_full_tables(schedule, base, subjects, toxicity, events, tables, codes, table_codes, out) -> None:
    """Each patient's holds on a schedule with planned holds or misses: one full lowering per hold
    pattern (:func:`~imapk.processes.toxicity.realised_schedule`, which lays the drawn holds over
    the planned ones), copied into the patient's rows of `out`."""
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
                    table = tables[key] = realised_schedule(schedule, toxicity, patient, days).lower()
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

    Every drawn hold of every patient is a row of arrays (as
    :func:`~imapk.processes.toxicity.hold_specs` lists them); each distinct hold is found once, alone
    on the prescription (:func:`_single_direct`, or :func:`_single` by lowering): its held doses,
    then its ladder until the steps end or the patient's next hold ends, whichever comes first (the
    rule of :class:`~imapk.schedule.Hold`). All holds are then written at once by index.

    Reason codes are numbered in order of first appearance, as :func:`realise_events` numbers them
    patient by patient (a patient's reasons along the doses, then its prescribing labels): the
    patient who first shows a label not numbered yet has its labels numbered, then the next such
    patient, until every label shown is numbered; other patients add none.
    """
    planned, given, status, reason, prescribed = out
    n_dose = base.time.size
    days = schedule_days(base)
    singles = tables.setdefault("single holds", {})
    grid = tables.get("grid")
    if grid is None:
        grid = tables["grid"] = _grid(schedule, base)
    memo = tables.setdefault("ladders", {})
    drawn = [i for i, patient in enumerate(events) if patient.time]
    if not drawn:
        return
    patients = [events[i] for i in drawn]
    counts = np.fromiter(map(len, (p.hold_days for p in patients)), dtype=np.int64, count=len(patients))
    owner = np.repeat(np.arange(len(patients)), counts)
    k = np.arange(owner.size) - np.repeat(np.cumsum(counts) - counts, counts)  # the event's index
    start = np.fromiter(chain.from_iterable(p.hold_start_day for p in patients), dtype=np.int64, count=owner.size)
    length = np.fromiter(chain.from_iterable(p.hold_days for p in patients), dtype=np.int64, count=owner.size)
    stopped = np.fromiter((p.discontinued for p in patients), dtype=bool, count=len(patients))
    last = stopped[owner] & (k == counts[owner] - 1)
    keep = length != 0  # an event under steroid management holds nothing
    owner, k, start, last = owner[keep], k[keep], start[keep], last[keep]
    if not owner.size:
        return
    length = np.minimum(length[keep], days - start + 1)  # a hold cut at the schedule's end
    ladder = ~last & bool(toxicity.restart)
    # Each distinct hold found once; the first patient (and hold) whose hold lowering refuses is named.
    key = (start * (days + 2) + length) * 2 + ladder
    unique, first_of, inverse = np.unique(key, return_index=True, return_inverse=True)
    found, failed = [], {}
    for u, j in enumerate(first_of.tolist()):
        spec = (int(start[j]), int(length[j]), toxicity.restart if ladder[j] else ())
        single = singles.get((spec[0], spec[1], bool(spec[2])))
        if single is None:
            single = _single_direct(grid, *spec, memo)
            if single is None:
                try:
                    single = _single(schedule, base, *spec, singles)
                except ImapkError as error:
                    failed[u] = error
                    found.append(None)
                    continue
            singles[(spec[0], spec[1], bool(spec[2]))] = single
        found.append(single)
    if failed:
        j = int(np.flatnonzero(np.isin(inverse, list(failed)))[0])
        raise _conflict(toxicity, subjects[drawn[owner[j]]], failed[int(inverse[j])]) from None
    first = np.array([single[0] for single in found], dtype=np.int64)[inverse]
    after = np.array([single[1] for single in found], dtype=np.int64)[inverse]
    stop = np.array([single[2] for single in found], dtype=np.int64)[inverse]
    follows = owner[1:] == owner[:-1]  # the next hold is the same patient's: it cuts the ladder when it ends
    stop[:-1] = np.where(follows, np.minimum(stop[:-1], after[1:]), stop[:-1])
    steps = np.maximum(stop - after, 0)
    # Ladders (by the dose they restart at): amounts and label suffixes, one after the other.
    suffix_ids: dict[str, int] = {}
    ladder_of: dict[tuple, int] = {}
    offsets, amounts, suffixes, firsts = [], [], [], []
    for single in found:
        if (single[1], len(single[4])) not in ladder_of:
            ladder_of[(single[1], len(single[4]))] = len(offsets)
            offsets.append(sum(map(len, amounts)))
            amounts.append(single[3])
            ids = [suffix_ids.setdefault(x, len(suffix_ids)) for x in single[4]]
            suffixes.append(np.array(ids, dtype=np.int64))
            firsts.append({s: m for m, s in reversed(list(enumerate(ids)))})  # suffix -> first position
    which = np.array([ladder_of[(single[1], len(single[4]))] for single in found], dtype=np.int64)[inverse]
    offset = np.array(offsets, dtype=np.int64)[which]
    # Labels: hold k's ("<label> hold <k + 1>", or the discontinuation's, id 0), and ladder steps'.
    label_id = np.where(last, 0, k + 1)
    labels = {int(i): hold_label(toxicity, int(i) - 1, i == 0) for i in np.unique(label_id)}
    suffix_list = list(suffix_ids)
    shown: dict[str, int] = {}  # label -> the first patient (its position in `drawn`) who shows it
    ids, at = np.unique(label_id, return_index=True)
    for i, j in zip(ids.tolist(), at.tolist()):
        shown.setdefault(labels[i], int(owner[j]))
    width = max(len(f) for f in firsts)
    position = np.full((len(firsts), max(width, 1)), n_dose + 1, dtype=np.int64)
    suffix_at = np.zeros_like(position)
    for row, f in enumerate(firsts):
        position[row, :len(f)] = list(f.values())
        suffix_at[row, :len(f)] = list(f)
    present = position[which] < steps[:, None]  # the ladder step shows (its first dose is before the cut)
    pair = (label_id[:, None] * len(suffix_list) + suffix_at[which])[present]
    pairs, at = np.unique(pair, return_index=True)
    who = np.broadcast_to(owner[:, None], present.shape)[present]
    for p, j in zip(pairs.tolist(), at.tolist()):
        label = labels[p // len(suffix_list)] + suffix_list[p % len(suffix_list)]
        shown[label] = min(shown.get(label, len(patients)), int(who[j]))
    pending = {label: who_ for label, who_ in shown.items() if label not in reasons}
    while pending:  # number the labels of the first patient with a new one, as lowering its schedule would
        patient = min(pending.values())
        phase = np.array(base.phase, dtype=object)
        mine = np.flatnonzero(owner == patient)
        for h in mine:
            phase[after[h]:after[h] + steps[h]] = [labels[label_id[h]] + suffix_list[x] for x in
                                                  suffixes[which[h]][:steps[h]]]
        shown_reasons = phase.copy()
        for h in mine:
            shown_reasons[first[h]:after[h]] = labels[label_id[h]]
        codes(shown_reasons)
        codes(phase)
        pending = {label: who_ for label, who_ in pending.items() if label not in reasons}
    # Every hold's held doses and ladder doses, by flat index.
    row = np.asarray(drawn, dtype=np.int64)[owner]
    code_of_label = np.zeros(max(labels) + 1, dtype=np.int32)
    code_of_ladder = np.full((code_of_label.size, max(len(suffix_list), 1)), -1, dtype=np.int32)
    for i, label in labels.items():
        code_of_label[i] = reasons[label]
        for s, x in enumerate(suffix_list):
            code_of_ladder[i, s] = reasons.get(label + x, -1)
    run, m = _ramp(steps)
    at = (row * n_dose + after)[run] + m
    if at.size:
        source = offset[run] + m
        amount = np.concatenate(amounts)[source]
        step = code_of_ladder[label_id[run], np.concatenate(suffixes)[source]]
        planned.reshape(-1)[at] = amount
        given.reshape(-1)[at] = amount
        prescribed.reshape(-1)[at] = step
        reason.reshape(-1)[at] = step
    run, m = _ramp(after - first)
    at = (row * n_dose + first)[run] + m
    status.reshape(-1)[at] = HELD
    given.reshape(-1)[at] = 0.0
    reason.reshape(-1)[at] = code_of_label[label_id[run]]
