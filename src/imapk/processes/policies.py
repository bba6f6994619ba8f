"""Dosing policies: rules that change each patient's doses as the simulation runs.

* :class:`TroughEscalation`: measure the trough before the first dose of a clinical day (with the
  model's assay error, as a clinic would), and for the patients measured below a level, give the
  prescription at a new dose from that dose on: the rule of trough-guided dosing (a trough below the
  target, 1000 ng/mL in CML or 1100 ng/mL in GIST, raises the dose; the shipped scenario's 600 mg is the
  higher dose of the B2222 trial behind the GIST threshold, Demetri 2009, not a dose a cited TDM trial
  prescribed). The measurement is the trough's
  simulated assay value :func:`imapk.population.observed` draws for that (patient, dose), so it is
  the ``trough_observed`` value of the result when residual error is on. A patient who did not take
  the dose before the measured trough (held, missed, discontinued) is not measured on that day: that
  trough says nothing about the dose; with ``doses_taken = m``, a trough counts only after the m
  scheduled doses before it were all taken (m = 7 daily doses: a week of continuous dosing, near
  steady state). With ``within = n`` days, a patient whose trough does not count on the policy's day
  is measured on the first of the next n days whose trough does (a sample taken again, as a clinic
  would); a patient with no such day is not measured (NaN) and not escalated.
* :class:`DoseCap`: after a patient's n-th toxicity event, no dose exceeds a ceiling ("after the
  second rash, stay at 300 mg").
* :class:`StepUpIfNoEvent`: a dose increase (a ladder's next step, the end of a ladder, an
  escalation) waits until the patient has had no toxicity event for a number of days ("step up the
  ladder only if no event in the last 7 days").

The rules apply in one fixed order, each to the doses the rules before it left: trough escalations
(in order of their day), then step-up delays, then caps. A rule never reads what a later rule
decides, so rules cannot form a cycle; the cap comes last, so "stay at 300 mg" holds whatever an
escalation or a ladder prescribes. :func:`apply_event_rules` applies the delays and caps; the
runner applies them again after each escalation.

Which doses a policy changes: an escalation replaces the amount of every dose, from the decision
dose on, that the patient's realised schedule gives (or holds, or misses) *at the prescription*,
i.e. a dose prescribed by a phase of the schedule rather than by a ladder step; doses of a restart
ladder keep their steps, and when a ladder ends the prescription resumes at the new dose. Held and
missed doses keep their status (planned amount updated). A cap applies to the planned and given
amounts of every dose from the first dose of the n-th event's hold (the event's day under steroid
management) on.

The troughs at and before the decision dose do not depend on what the policy decides (a trough is
the left limit before its dose), so deciding on a first simulation and simulating again with the
decisions gives the troughs of a policy evaluated as the simulation runs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from ..errors import ImapkError
from ..schedule import HOURS_PER_DAY
from .realise import RealisedDoses
from .toxicity import _positive_number

__all__ = ["TroughEscalation", "DoseCap", "StepUpIfNoEvent", "TABLET_STRENGTHS", "decision_dose", "measurement_doses", "escalate",
           "cap_doses", "delay_step_ups", "apply_event_rules", "EVENT_RULES", "is_policy_reason"]


#: Imatinib tablet strengths [mg free base]: a dose a policy prescribes must be made of them.
TABLET_STRENGTHS = (100.0, 400.0)


def _whole_number(value, key: str, minimum: int, problem: str) -> int:
    """`value` when it is an int (not a bool) >= `minimum`, else the error `problem` naming `key`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ImapkError(problem, key=key, got=value)
    return value


def _tablet_dose(value, key: str) -> float:
    dose = _positive_number(value, key)
    if dose % min(TABLET_STRENGTHS) != 0.0:
        raise ImapkError("a dose a policy prescribes must be made of tablets", key=key, got=value,
                         expected=f"a multiple of {min(TABLET_STRENGTHS):g} mg (tablets of "
                         f"{' and '.join(f'{t:g}' for t in TABLET_STRENGTHS)} mg)")
    return dose


@dataclass(frozen=True)
class TroughEscalation:
    """Escalate patients whose measured trough on `day` is below `below`.

    Parameters
    ----------
    day
        Clinical day whose trough is measured: the trough before that day's first scheduled dose.
    below
        Level under which the patient is escalated. [ng/mL]
    dose
        The prescription's new amount per administration. [mg]
    assay
        Measure with the model's residual error (True) or read the model's trough (False).
    within
        Days after `day` on which a patient whose trough does not count on `day` is measured instead:
        the first of them whose trough counts (0: `day` only). [d]
    doses_taken
        A trough counts when the patient took each of the scheduled doses before it, this many
        (1: the dose before it; 7 daily doses: a week of continuous dosing).
    """

    #: How every reason label this policy gives begins.
    REASON: ClassVar[str] = "TDM escalation to "

    day: int
    below: float
    dose: float
    assay: bool = True
    within: int = 0
    doses_taken: int = 1

    def __post_init__(self):
        _whole_number(self.day, "policy.day", 2, "must be a whole clinical day >= 2 (day 1's trough is before any dose)")
        _positive_number(self.below, "policy.below")
        _tablet_dose(self.dose, "policy.dose")
        _whole_number(self.within, "policy.within", 0, "must be a whole number of days >= 0")
        _whole_number(self.doses_taken, "policy.doses_taken", 1, "must be a whole number of doses >= 1")

    @property
    def label(self) -> str:
        return f"{self.REASON}{self.dose:g} mg (day {self.day} trough < {self.below:g} ng/mL)"


@dataclass(frozen=True)
class DoseCap:
    """After the `events`-th toxicity event, no dose above `dose` [mg]."""

    #: How every reason label this policy gives begins.
    REASON: ClassVar[str] = "capped at "

    events: int
    dose: float

    def __post_init__(self):
        _whole_number(self.events, "policy.events", 1, "must be a whole number of events >= 1")
        _tablet_dose(self.dose, "policy.dose")

    @property
    def label(self) -> str:
        return f"{self.REASON}{self.dose:g} mg after event {self.events}"


@dataclass(frozen=True)
class StepUpIfNoEvent:
    """A dose increase waits until the patient's last toxicity event is `days` days old or more.

    A step up is a dose, taken or missed (not held), whose planned amount is above the amount of
    the patient's previous dose that was not held: a restart ladder's next step or its end, a
    phase of the schedule at a higher dose, an escalation. While the patient had an event within
    the `days` days before that dose [d, from the event's time to the dose's scheduled time], the
    dose stays at the previous amount; the first dose without a recent event takes the prescription
    as it then stands (the ladder is not shifted). A restart after a hold is not a step up (it is
    below the dose before the hold).
    """

    #: How every reason label this policy gives begins.
    REASON: ClassVar[str] = "step up delayed ("

    days: int

    def __post_init__(self):
        _whole_number(self.days, "policy.days", 1, "must be a whole number of days >= 1")

    @property
    def label(self) -> str:
        return f"{self.REASON}toxicity event in the last {self.days} d)"


def is_policy_reason(label: str) -> bool:
    """Whether a dose reason label is one a policy gives (the doses it changed that were taken)."""
    return label.startswith(tuple(policy.REASON for policy in (TroughEscalation, DoseCap, StepUpIfNoEvent)))


def decision_dose(realised: RealisedDoses, day: int) -> int:
    """Index of the first scheduled dose on clinical `day`; an error if the schedule has none that day."""
    on_day = np.flatnonzero(realised.table.day == day)
    if on_day.size == 0:
        raise ImapkError("no dose is scheduled on the policy's day", key="policy.day", got=day,
                         expected=f"a day from 2 to {int(realised.table.day[-1])}")
    return int(on_day[0])


def measurement_doses(realised: RealisedDoses, policy: TroughEscalation) -> np.ndarray:
    """Per patient, the index of the dose before whose trough `policy` measures: the first dose of the
    first clinical day from ``policy.day`` to ``policy.day + policy.within`` before which the patient
    took each of the ``policy.doses_taken`` scheduled doses; -1 for a patient with no such day (not
    measured)."""
    from ..schedule import GIVEN

    days = realised.table.day
    last_day = min(policy.day + policy.within, int(days[-1]))
    candidates = np.array([int(np.flatnonzero(days == d)[0]) for d in range(policy.day, last_day + 1)
                           if (days == d).any()], dtype=np.int64)
    if candidates.size == 0:
        decision_dose(realised, policy.day)  # the error: no dose on the policy's day (or within its days)
    # taken[:, j] = doses taken among the first j scheduled doses, so a window's count is a difference
    taken = np.zeros((realised.n_subjects, realised.status.shape[1] + 1), dtype=np.int64)
    np.cumsum(realised.status == GIVEN, axis=1, out=taken[:, 1:])
    m = policy.doses_taken
    counts = candidates >= m
    took = (taken[:, candidates] - taken[:, np.maximum(candidates - m, 0)] == m) & counts
    return np.where(took.any(axis=1), candidates[took.argmax(axis=1)], -1)


def _with_reason(realised: RealisedDoses, label: str) -> tuple[RealisedDoses, int]:
    reasons = realised.reasons
    if label not in reasons:
        reasons = reasons + (label,)
    return replace(realised, reasons=reasons), reasons.index(label)


def escalate(realised: RealisedDoses, policy: TroughEscalation, measured: np.ndarray,
             at: np.ndarray | None = None) -> tuple[RealisedDoses, np.ndarray]:
    """The realised doses after `policy`, given each patient's `measured` trough [ng/mL] before dose
    `at` (per patient, :func:`measurement_doses`; default: the first dose of the policy's day for all),
    from which the escalated patients take the new dose.

    Returns the new doses and which patients were escalated (measured < below; a NaN measurement
    escalates no one).
    """
    if at is None:
        at = np.full(realised.n_subjects, decision_dose(realised, policy.day))
    at = np.asarray(at)
    escalated = (np.asarray(measured, dtype=float) < policy.below) & (at >= 0)  # -1: not measured
    base = realised.table
    prescription = {realised.reasons.index(str(p)) for p in np.unique(base.phase)
                    if str(p) in realised.reasons and ": restart step" not in str(p)}
    at_prescription = np.isin(realised.prescribed, sorted(prescription))
    at_prescription &= np.arange(at_prescription.shape[1])[None, :] >= at[:, None]
    change = at_prescription & escalated[:, None]
    realised, code = _with_reason(realised, policy.label)
    planned = realised.planned.copy()
    given = realised.given.copy()
    reason = realised.reason.copy()
    planned[change] = policy.dose
    given[change & (realised.status == 0)] = policy.dose
    reason[change & (realised.status == 0)] = code
    return replace(realised, planned=planned, given=given, reason=reason), escalated


def cap_doses(realised: RealisedDoses, policy: DoseCap) -> tuple[RealisedDoses, np.ndarray]:
    """The realised doses with `policy`'s cap from each patient's n-th event on; and who was capped."""
    capped = np.zeros(realised.n_subjects, dtype=bool)
    if not realised.events:
        return realised, capped
    realised, code = _with_reason(realised, policy.label)
    planned, given, reason = realised.planned.copy(), realised.given.copy(), realised.reason.copy()
    start_time = realised.table.time
    for i, events in enumerate(realised.events):
        if len(events.time) < policy.events:
            continue
        first_day = events.hold_start_day[policy.events - 1]
        from_dose = start_time >= (first_day - 1) * HOURS_PER_DAY
        capped[i] = True
        over = from_dose & (planned[i] > policy.dose)
        planned[i, over] = policy.dose
        lowered = from_dose & (given[i] > policy.dose)
        given[i, lowered] = policy.dose
        reason[i, lowered] = code
    return replace(realised, planned=planned, given=given, reason=reason), capped


def _recent_event(realised: RealisedDoses, days: int) -> np.ndarray:
    """(patients, doses): whether the patient had a toxicity event in the `days` days before the dose
    (0 <= dose time - event time < days, in days from the first dose)."""
    dose_day = realised.table.time / HOURS_PER_DAY
    recent = np.zeros(realised.given.shape, dtype=bool)
    for i, events in enumerate(realised.events):
        if not events.time:
            continue
        times = np.asarray(events.time)
        latest = np.searchsorted(times, dose_day, side="right") - 1  # the last event at or before each dose
        has = latest >= 0
        recent[i, has] = dose_day[has] - times[latest[has]] < days
    return recent


def delay_step_ups(realised: RealisedDoses, policy: StepUpIfNoEvent) -> tuple[RealisedDoses, np.ndarray]:
    """The realised doses with each step up delayed while an event is recent (:class:`StepUpIfNoEvent`);
    and the number of doses each patient took or missed below its prescription because of it."""
    from ..schedule import GIVEN, HELD

    delayed = np.zeros(realised.n_subjects, dtype=np.int64)
    if not realised.events:
        return realised, delayed
    recent = _recent_event(realised, policy.days)
    held = realised.status == HELD
    # The amount of each patient's previous dose that was not held (NaN before the first): a dose
    # above it while an event is recent is a step up to delay. Patients without such a dose are skipped.
    level = np.where(held, np.nan, realised.planned)
    previous = np.full(level.shape, np.nan)
    previous[:, 1:] = level[:, :-1]
    filled = np.where(np.isnan(previous), -1, np.arange(previous.shape[1]))
    np.maximum.accumulate(filled, axis=1, out=filled)
    previous = np.take_along_axis(previous, np.maximum(filled, 0), axis=1)
    previous[filled < 0] = np.nan
    candidates = np.flatnonzero(np.any(recent & ~held & (realised.planned > previous), axis=1))
    if candidates.size == 0:
        return realised, delayed
    realised, code = _with_reason(realised, policy.label)
    planned, given, reason = realised.planned.copy(), realised.given.copy(), realised.reason.copy()
    for i in candidates:  # in time order: a delayed dose is the level the next dose steps up from
        last = np.nan
        for j in range(planned.shape[1]):
            if held[i, j]:
                continue
            if recent[i, j] and planned[i, j] > last:
                planned[i, j] = last
                delayed[i] += 1
                if realised.status[i, j] == GIVEN:
                    given[i, j] = last
                    reason[i, j] = code
            last = planned[i, j]
    return replace(realised, planned=planned, given=given, reason=reason), delayed


#: The rules :func:`apply_event_rules` applies, in their order.
EVENT_RULES = (StepUpIfNoEvent, DoseCap)


def apply_event_rules(realised: RealisedDoses, policies) -> RealisedDoses:
    """`realised` after the rules that follow toxicity events, in the fixed order of the module
    docstring: every step-up delay, then every cap (other policies are skipped)."""
    for policy in policies:
        if isinstance(policy, StepUpIfNoEvent):
            realised, _ = delay_step_ups(realised, policy)
    for policy in policies:
        if isinstance(policy, DoseCap):
            realised, _ = cap_doses(realised, policy)
    return realised
