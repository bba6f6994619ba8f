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
from ..schedule import GIVEN, HELD, MISSED, DoseTable, Schedule
from .adherence import IndependentMisses, LateDoses, MarkovMisses, dose_delays, missed_doses
from .toxicity import PatientEvents, ToxicityProcess, draw_events, realised_schedule

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
    windows = []
    for hold in holds:
        key = (hold.start_day, hold.days, bool(hold.restart))
        single = singles.get(key)
        if single is None:
            table = replace(schedule, holds=(replace(hold, label=_CANONICAL),)).lower()
            held = np.flatnonzero(table.hold == 0)
            first, restart = int(held[0]), int(held[-1]) + 1
            changed = np.flatnonzero(table.phase[restart:] != base.phase[restart:])
            stop = restart + (int(changed[-1]) + 1 if changed.size else 0)
            single = singles[key] = (first, restart, stop, table.planned[restart:stop].copy(),
                                     [label[len(_CANONICAL):] for label in table.phase[restart:stop]])
        windows.append(single)
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

    def rows(values: np.ndarray) -> np.ndarray:  # one row per patient (a copy each)
        return np.broadcast_to(values, (n, n_dose)).copy()

    planned = rows(base.planned)
    given = rows(base.given)
    status = rows(base.status.astype(np.int8))
    reason = rows(table_codes(base))
    prescribed = rows(codes(base.phase))
    if toxicity is not None:
        days = schedule_days(base)
        events = tuple(events)
        lowered: dict[tuple, tuple] = {}  # patients with the same holds share one lowering
        tables = {} if tables is None else tables
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
                    raise ImapkError(
                        f"a {toxicity.label} hold drawn for patient {int(subjects[i])} conflicts with the schedule: "
                        f"{error.problem}", key="toxicity[0]",
                        expected="random holds on a schedule without planned holds in their way",
                    ) from None
                if _grid_key(table) != _grid_key(base):
                    raise ImapkError("a drawn hold changed the scheduled grid", key="toxicity[0]")
                lowered[key] = (table.planned, table.given, table.status.astype(np.int8), table_codes(table),
                                codes(table.phase))
            planned[i], given[i], status[i], reason[i], prescribed[i] = lowered[key]
    if adherence is not None:
        if missed is None:
            missed = missed_doses(adherence, seed, subjects, n_dose)
        missed = missed & (status == GIVEN)
        given[missed] = 0.0
        status[missed] = MISSED
        reason[missed] = reasons.setdefault(MISSED_REASON, len(reasons))
    labels = tuple(sorted(reasons, key=reasons.get))
    return RealisedDoses(base, planned, given, status, reason, labels, prescribed, events if toxicity is not None else ())
