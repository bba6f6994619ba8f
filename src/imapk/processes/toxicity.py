"""Toxicity-driven interruptions drawn per patient: events from a hazard, holds, restarts, recurrence.

A patient's k-th event (a grade 3 rash, say) happens when the cumulative hazard since the hazard's
clock started reaches a unit exponential draw E_k of that patient:

    H(T_k - s_k) = E_k,   E_k = -log(1 - U_k),                                                 (1)

where s_1 = 0 (the start of therapy) and s_k (k > 1) is the end of the hold that followed event
k - 1 (the restart): the first event has the hazard of :attr:`ToxicityProcess.first`, the later
ones that of :attr:`ToxicityProcess.recurrence`. For a Weibull hazard H(t) = (t / scale)^shape, so

    T_k = s_k + scale E_k^(1 / shape).                                                         (2)

Inverting the cumulative hazard (rather than drawing event times directly) keeps each patient's
draws U_k the same whatever happens to them: a policy that changes the holds or the doses changes
*when* the events fall, not the random numbers (common random numbers across policies, as
``imapk compare`` needs), and a hazard that rises with exposure changes H, not E_k.

With an :class:`ExposureEffect` (or :class:`ExposurePower`) the hazard over each dosing interval is
multiplied by a factor that the trough at the start of the interval decides, (3) below; the events
then depend on the simulated troughs and are realised by :func:`imapk.processes.coupled.realise_coupled`.

An event at time T (days from the first dose) interrupts therapy from the next clinical day: the
hold starts on day ceil(T) + 1 (with once-daily dosing, at the first scheduled dose after the event;
with several doses a day, those left on the event's own day are still given) and lasts the patient's k-th hold length
(whole days, drawn from :attr:`ToxicityProcess.hold`); the restart ladder follows. The management
``"steroids"`` treats the event without interruption (Kim 2020 [1]_: prednisolone for 3 weeks,
then tapered; dosing goes on), so the event is recorded and no dose changes. The n-th event of a
process with ``discontinue_after = n`` stops therapy for good.

The shipped example (``scenarios/gist-rash-interruptions-population.toml``) calibrates the
first-event hazard to Park 2016 [2]_: severe rash needing interruption, dose reduction or steroids
in 42 of 620 GIST patients (6.8 %), a share of the patients studied, read there as a probability by
day 365. That reading, the timing (a Weibull shape), treating every event as a hold and the recurrence
hazard are assumptions, stated there.

References
----------
.. [1] E. J. Kim et al., "Effective management of imatinib-induced skin rash with steroids
   without interruption," The Oncologist, vol. 25, no. 11, pp. e1785-e1793, 2020.
.. [2] J. S. Park et al., "Imatinib-induced skin rash in patients with gastrointestinal stromal
   tumor: incidence and management," Cancer Res. Treat., vol. 48, no. 1, pp. 162-170, 2016.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import ImapkError
from ..schedule import Hold, LadderStep, Schedule
from ..streams import uniforms

__all__ = ["Weibull", "HoldLength", "ExposureEffect", "ExposurePower", "ToxicityProcess", "PatientEvents", "draw_events",
           "realised_schedule", "hold_specs", "hold_label"]

MANAGEMENTS = ("hold", "steroids")


def _positive_number(value, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ImapkError("must be a positive number", key=key, got=value, expected="a finite number > 0")
    return float(value)


#: Weibull shapes accepted: from a hazard falling almost at once to one rising very steeply.
SHAPE_RANGE = (0.05, 20.0)


def _shape(value) -> float:
    shape = _positive_number(value, "hazard.shape")
    if not SHAPE_RANGE[0] <= shape <= SHAPE_RANGE[1]:
        raise ImapkError("a Weibull shape outside the plausible range", key="hazard.shape", got=value,
                         expected=f"{SHAPE_RANGE[0]:g} to {SHAPE_RANGE[1]:g} (1: a constant hazard)")
    return shape


@dataclass(frozen=True)
class Weibull:
    """A Weibull hazard: cumulative hazard H(t) = (t / scale)^shape, t in days since its clock started.

    Parameters
    ----------
    scale
        Scale [d]: the event has happened by t = scale with probability 1 - 1/e (63 %).
    shape
        Shape: 1 is a constant hazard, > 1 a hazard rising with time, < 1 a falling one; between
        :data:`SHAPE_RANGE` (beyond it no event timing is plausible, and the inversion's power
        1 / shape overflows).
    """

    scale: float
    shape: float = 1.0

    def __post_init__(self):
        _positive_number(self.scale, "hazard.scale")
        _shape(self.shape)

    @classmethod
    def from_probability(cls, probability: float, by_days: float, shape: float = 1.0) -> Weibull:
        """The Weibull hazard of the given shape whose event has happened by `by_days` with `probability`:
        scale = by_days / (-log(1 - probability))^(1 / shape)."""
        if isinstance(probability, bool) or not isinstance(probability, (int, float)) or not 0 < probability < 1:
            raise ImapkError("must be a probability strictly between 0 and 1", key="hazard.probability", got=probability)
        _positive_number(by_days, "hazard.by_days")
        _shape(shape)
        return cls(scale=by_days / (-math.log1p(-probability)) ** (1.0 / shape), shape=shape)

    def cumulative(self, t_days):
        """H(t) [dimensionless] for t >= 0 days."""
        return (np.maximum(np.asarray(t_days, dtype=float), 0.0) / self.scale) ** self.shape

    def time_to(self, exposure_draw):
        """The time [d] at which H reaches `exposure_draw` (a unit exponential): (2) less s_k."""
        return self.scale * np.asarray(exposure_draw, dtype=float) ** (1.0 / self.shape)


@dataclass(frozen=True)
class ExposureEffect:
    """A hazard that rises with exposure: multiplied by `factor` while the trough is at or above `above`.

    Over the dosing interval [t_j, t_{j+1}) of the scheduled grid (the last one ends with the
    schedule) the hazard is

        h(t) = h0(t - s_k) m_j,   m_j = factor if C(t_j-) >= above else 1,                       (3)

    where C(t_j-) is the patient's simulated trough at the scheduled time of dose j (the left limit,
    whether or not the dose is given): the exposure known at the start of the interval, so an event
    depends on the past only (causal). The cumulative hazard since the clock started at s_k is then
    H(t) = sum over intervals of m_j [H0(min(t, t_{j+1}) - s_k) - H0(max(t_j, s_k) - s_k)], with H0
    the hazard's own (Weibull) cumulative hazard; the event is where it reaches E_k, found exactly by
    inverting H0 inside the interval (see :mod:`imapk.processes.coupled`).

    Parameters
    ----------
    above
        Trough level from which the hazard is raised. [ng/mL]
    factor
        Hazard ratio while the trough is at or above `above` (1: no effect; < 1 lowers the hazard).
    """

    above: float
    factor: float

    def __post_init__(self):
        _positive_number(self.above, "exposure.above")
        _positive_number(self.factor, "exposure.factor")

    def multiplier(self, trough: np.ndarray) -> np.ndarray:
        """m_j of (3) for troughs C(t_j-) [ng/mL] (any shape)."""
        return np.where(np.asarray(trough) >= self.above, float(self.factor), 1.0)


@dataclass(frozen=True)
class ExposurePower:
    """A hazard proportional to a power of the trough: m_j = (C(t_j-) / reference)^gamma in (3).

    The continuous counterpart of :class:`ExposureEffect`, with the same timing (the trough at the
    start of each dosing interval governs the interval). Before the first dose (C = 0) the hazard is
    0 for gamma > 0.

    Parameters
    ----------
    reference
        Trough at which the hazard is the baseline's. [ng/mL]
    gamma
        Exponent (>= 0): a trough twice the reference multiplies the hazard by 2^gamma.
    """

    reference: float
    gamma: float

    def __post_init__(self):
        _positive_number(self.reference, "exposure.reference")
        gamma = self.gamma
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not math.isfinite(gamma) or gamma < 0:
            raise ImapkError("must be a number >= 0 (a hazard that rises with the trough)", key="exposure.gamma",
                             got=gamma, expected="a finite number >= 0")

    def multiplier(self, trough: np.ndarray) -> np.ndarray:
        """m_j for troughs C(t_j-) [ng/mL] (any shape; negative troughs count as 0)."""
        with np.errstate(divide="ignore"):
            return (np.maximum(np.asarray(trough, dtype=float), 0.0) / self.reference) ** float(self.gamma)


@dataclass(frozen=True)
class HoldLength:
    """Length of a hold in whole days: ``fixed`` (`low`), or ``uniform`` over the integers `low`..`high`."""

    distribution: str = "fixed"
    low: int = 7
    high: int | None = None

    def __post_init__(self):
        if self.distribution not in ("fixed", "uniform"):
            raise ImapkError("unknown hold-length distribution", key="hold.distribution", got=self.distribution,
                             expected="'fixed' or 'uniform'")
        for key, value in (("hold.low", self.low), ("hold.high", self.high)):
            if value is None and key == "hold.high":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ImapkError("must be a whole number of days >= 1", key=key, got=value, expected="an integer >= 1")
        if self.distribution == "uniform" and (self.high is None or self.high < self.low):
            raise ImapkError("a uniform hold length needs high >= low", key="hold.high", got=self.high,
                             expected=f"an integer >= {self.low}")

    def days(self, u: np.ndarray) -> np.ndarray:
        """Hold lengths [d] from uniforms `u` in (0, 1)."""
        if self.distribution == "fixed":
            return np.full(np.shape(u), self.low, dtype=np.int64)
        n = self.high - self.low + 1
        return self.low + np.minimum((np.asarray(u) * n).astype(np.int64), n - 1)


@dataclass(frozen=True)
class ToxicityProcess:
    """Events of one toxicity, what each does to the dosing, and when therapy stops.

    Parameters
    ----------
    label
        Name of the toxicity (``"rash"``); holds are labelled ``"<label> hold <k>"``.
    first
        Hazard of the first event, its clock starting at the first dose.
    recurrence
        Hazard of each later event, its clock starting at the restart after the previous hold (at
        the previous event under steroid management); None: the toxicity does not recur.
    hold
        Length of each hold.
    restart
        Ladder after each hold (empty: the prescription resumes at full dose).
    management
        ``"hold"`` (interrupt, then the ladder) or ``"steroids"`` (treat without interruption).
    discontinue_after
        The event at which therapy stops for good (None: never).
    exposure
        How the hazards (first and recurrence) rise with the trough (None: they do not); such a
        process is realised by :func:`imapk.processes.coupled.realise_coupled`, which simulates the
        troughs its holds cause.
    """

    label: str = "rash"
    first: Weibull = field(default_factory=lambda: Weibull(scale=1e9))
    recurrence: Weibull | None = None
    hold: HoldLength = field(default_factory=HoldLength)
    restart: tuple[LadderStep, ...] = ()
    management: str = "hold"
    discontinue_after: int | None = None
    exposure: ExposureEffect | ExposurePower | None = None

    def __post_init__(self):
        object.__setattr__(self, "restart", tuple(self.restart))
        if not isinstance(self.label, str) or not self.label.strip():
            raise ImapkError("a toxicity needs a name", key="toxicity.label", got=self.label, expected='e.g. "rash"')
        if self.management not in MANAGEMENTS:
            raise ImapkError("unknown management", key="toxicity.management", got=self.management,
                             expected=" or ".join(repr(m) for m in MANAGEMENTS))
        d = self.discontinue_after
        if d is not None and (isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= MAX_EVENTS):
            raise ImapkError("must be a whole number of events from 1 to the most a patient is drawn",
                             key="toxicity.discontinue_after", got=d, expected=f"1 to {MAX_EVENTS}")
        if self.exposure is not None and not isinstance(self.exposure, (ExposureEffect, ExposurePower)):
            raise ImapkError("must be an ExposureEffect or an ExposurePower", key="toxicity.exposure",
                             got=self.exposure, expected="ExposureEffect(above=..., factor=...)")

    @property
    def max_events(self) -> int:
        """Events a patient can have at most within any schedule: 1 without recurrence, else until
        discontinuation (or :data:`MAX_EVENTS`)."""
        if self.recurrence is None:
            return 1
        return self.discontinue_after if self.discontinue_after is not None else MAX_EVENTS

    def purpose(self, what: str) -> str:
        return f"toxicity:{self.label}:{what}"


#: Events per patient drawn for a recurring toxicity without discontinuation (a hold of >= 1 day per
#: event: more than a 10-year schedule could hold at the shortest recurrence is not needed in practice).
MAX_EVENTS = 64


@dataclass(frozen=True)
class PatientEvents:
    """One patient's realised events: time [d from the first dose], hold start day and length [d]
    (0 under steroid management), and whether that event discontinued therapy."""

    time: tuple[float, ...]
    hold_start_day: tuple[int, ...]
    hold_days: tuple[int, ...]
    discontinued: bool


def event_draws(process: ToxicityProcess, seed: int, subjects: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each patient's unit exponentials E_k = -log(1 - U_k) and hold lengths [d] from V_k, shape
    (patients, :attr:`~ToxicityProcess.max_events`)."""
    k_max = process.max_events
    exponential = -np.log1p(-uniforms(seed, process.purpose("event"), subjects, k_max))
    lengths = process.hold.days(uniforms(seed, process.purpose("hold"), subjects, k_max))
    return exponential, lengths


def draw_events(process: ToxicityProcess, seed: int, subjects, schedule_days: int) -> list[PatientEvents]:
    """Each patient's events within `schedule_days` days of therapy, by (1)-(2).

    Events are independent of exposure here: the hazards depend on time since their clock started
    only (a process's :attr:`~ToxicityProcess.exposure` is ignored; see
    :func:`imapk.processes.coupled.realise_coupled`). A patient's draws (U_k for the events, V_k for
    the hold lengths) depend on the seed, the toxicity's label and the patient only.
    """
    subjects = np.asarray(subjects, dtype=np.int64)
    k_max = process.max_events
    exponential, lengths = event_draws(process, seed, subjects)
    first = process.first.time_to(exponential[:, 0])
    later = process.recurrence.time_to(exponential[:, 1:]) if process.recurrence is not None else None
    # Event k of every patient at once (k = 0, 1, ...): the patients still drawing ("active") add it
    # if a dose is left after it, then the next event's time follows from its restart.
    n = subjects.size
    times = np.zeros((n, k_max))
    starts = np.zeros((n, k_max), dtype=np.int64)
    days = np.zeros((n, k_max), dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    discontinued = np.zeros(n, dtype=bool)
    t = np.asarray(first, dtype=float)
    active = t < schedule_days
    for k in range(k_max):
        start_day = np.ceil(np.where(active, t, 0.0)).astype(np.int64) + 1
        active &= start_day <= schedule_days  # no dose left after the event: it is not counted
        if not active.any():
            break
        times[active, k] = t[active]
        starts[active, k] = start_day[active]
        count[active] += 1
        if process.discontinue_after is not None and k + 1 >= process.discontinue_after:
            days[active, k] = schedule_days - start_day[active] + 1
            discontinued |= active
            break
        if process.management == "steroids":
            clock = t
        else:
            length = lengths[:, k].astype(np.int64)
            days[active, k] = length[active]
            clock = (start_day - 1 + length).astype(float)  # the restart: the first dose after the hold [d]
        if later is None or k + 1 >= k_max:
            break
        t = clock + later[:, k]
        active &= t < schedule_days
    none = PatientEvents((), (), (), False)
    out = [none] * n  # a patient whose first event falls after the schedule has none
    for i in np.flatnonzero(count).tolist():
        c = count[i]
        out[i] = PatientEvents(tuple(times[i, :c].tolist()), tuple(starts[i, :c].tolist()),
                               tuple(days[i, :c].tolist()), bool(discontinued[i]))
    return out


def hold_specs(process: ToxicityProcess, events: PatientEvents, schedule_days: int) -> list[tuple[int, int, bool, str]]:
    """One patient's toxicity holds as (start day, days, whether its ladder follows, label), in time
    order: what :func:`realised_schedule` adds to the schedule (a hold cut at the schedule's end)."""
    specs = []
    for k, (start, days) in enumerate(zip(events.hold_start_day, events.hold_days)):
        if days == 0:
            continue
        days = min(days, schedule_days - start + 1)
        last = events.discontinued and k == len(events.hold_days) - 1
        specs.append((start, days, not last, hold_label(process, k, last)))
    return specs


def hold_label(process: ToxicityProcess, k: int, discontinuation: bool) -> str:
    """Label of the hold that follows a patient's event `k` (0-based): ``"<label> hold <k + 1>"``, or
    ``"<label> discontinuation"``."""
    return f"{process.label} discontinuation" if discontinuation else f"{process.label} hold {k + 1}"


def realised_schedule(base: Schedule, process: ToxicityProcess, events: PatientEvents, schedule_days: int) -> Schedule:
    """The base schedule with one patient's toxicity holds added (see the module docstring).

    Holds that run past the end of the schedule are cut at its end; a discontinuation holds every
    dose from its start day on, labelled ``"<label> discontinuation"``. Over holds and misses
    planned in the schedule, the drawn holds are laid by :func:`imapk.processes.overlay.overlay_holds`
    (the doses held are the union; a planned hold keeps its days and ladder).
    """
    from .overlay import overlay_holds

    drawn = [Hold(start_day=start, days=days, restart=process.restart if ladder else (), label=label)
             for start, days, ladder, label in hold_specs(process, events, schedule_days)]
    return overlay_holds(base, drawn)
