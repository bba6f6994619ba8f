"""The planner's questions asked of one fitted patient: the population is the patient's posterior.

:mod:`imapk.planner` answers what a hold costs (:func:`~imapk.planner.cost_of_hold`), the longest
hold within a budget (:func:`~imapk.planner.longest_hold`), the doses until the trough is back
(:func:`~imapk.planner.doses_to_target`) and which re-escalation ladder to use
(:func:`~imapk.planner.compare_ladders`) for a simulated population. For a patient fitted by
:func:`imapk.tdm.map_estimate`, :func:`posterior_patient` builds the object those same functions
take in place of a scenario:

* the **subjects are draws from the patient's posterior**: the importance-weighted samples of the
  fit, resampled to an equally weighted sample (systematic resampling [1]_ with one uniform from
  the counter-based stream ``tdm:resample`` of `seed`; a sample of weight w appears about n w
  times). The planner's statistics are unweighted (a value "at confidence q" is the q-quantile
  over the subjects), so on these draws they are posterior quantiles and a share of subjects is a
  posterior probability. A fit without sampling (``n_samples=0``) gives one draw, the mode;
* every draw is simulated on **the patient's real doses up to `start_time` followed by the
  planned future schedule** (its hold and ladder), with the fit's individual parameters
  (occasion effects at their times on the fit's clock). A fit with inter-occasion variability
  (``map_estimate(..., iov_cl=...)``) keeps each draw's estimated kappas on the dose intervals
  that hold a level, and gives every dose interval after the last level a new kappa drawn from
  N(0, iov_cl^2) per draw (stream ``tdm:iov:plan``), the same for every hold length and ladder
  compared (common random numbers), as a simulated population with ``iov_cl`` has;
* the future schedule counts its own days: day 1 starts at `start_time`, holds are placed by
  those days, and the evaluation window (default: the whole future schedule) is on that clock.

The answers then read "with probability 0.90 under this patient's posterior ..." and say, for
each hold length, the posterior probability that it stays within the budget. As with a
population, hold costs are about the draws in which the patient reaches the target without the
hold, and the probability of never reaching it is stated beside.

:func:`plan_from_posterior` gives the whole report of :func:`imapk.planner.plan` (the three
answers) for a fit in one call.

References
----------
.. [1] G. Kitagawa, "Monte Carlo filter and smoother for non-Gaussian nonlinear state space
   models," J. Comput. Graph. Stat., vol. 5, no. 1, pp. 1-25, 1996. doi:10.1080/10618600.1996.10474692
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import ImapkError
from ..schedule import DoseTable, Hold, LadderStep, Phase, Schedule
from .estimation import MapResult

__all__ = [
    "PosteriorPatient",
    "future_schedule",
    "plan_from_posterior",
    "posterior_patient",
    "resample",
]

#: Length of the future schedule after the hold and its ladder when none is given. [d]
FOLLOW_UP_DAYS = 28


def resample(weights: np.ndarray, n: int | None = None, *, seed: int = 0) -> np.ndarray:
    """Indices of an equally weighted resample of weighted samples (systematic resampling).

    Parameters
    ----------
    weights
        Sample weights (normalised here). [1]
    n
        Size of the resample (default: as many as the weights).
    seed
        Seed of the one uniform number the scheme uses (stream ``tdm:resample``).

    Returns
    -------
    numpy.ndarray
        Indices into the samples, sorted; sample i appears floor(n w_i) or ceil(n w_i) times.
    """
    from ..streams import uniforms

    w = np.asarray(weights, dtype=float)
    if w.ndim != 1 or w.size == 0 or np.any(~np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
        raise ImapkError("weights must be finite, >= 0 and not all 0", key="weights")
    n = w.size if n is None else int(n)
    if n < 1:
        raise ImapkError("the resample needs at least one draw", key="draws", got=n, expected=">= 1")
    u = float(uniforms(seed, "tdm:resample", np.zeros(1, dtype=np.int64), 1)[0, 0])
    edges = np.cumsum(w / w.sum())
    edges[-1] = 1.0
    return np.minimum(np.searchsorted(edges, (u + np.arange(n)) / n, side="right"), w.size - 1)


def future_schedule(
    dose: float,
    *,
    hold_days: float | None = None,
    hold_start_day: int = 1,
    ladder=(),
    step_days: float = 7.0,
    days: float | None = None,
    interval: float = 24.0,
) -> Schedule:
    """A future schedule for :func:`posterior_patient`: `dose` daily, a hold, then a ladder.

    Parameters
    ----------
    dose
        The prescription in force when no hold or ladder step is, mg of imatinib free base. [mg]
    hold_days
        Length of the hold [d] (None: no hold).
    hold_start_day
        Day of the future schedule the hold starts (day 1 starts at the plan's start).
    ladder
        Re-escalation after the hold: (dose, days) steps, or bare doses [mg] each given for
        `step_days`; empty for a direct restart at `dose`.
    step_days
        Length of each bare-dose step. [d]
    days
        Length of the schedule [d]; default the hold, the ladder and :data:`FOLLOW_UP_DAYS` more.
    interval
        Dosing interval. [h]
    """
    steps = tuple(
        step if isinstance(step, LadderStep)
        else LadderStep(*step) if isinstance(step, (tuple, list)) else LadderStep(float(step), float(step_days))
        for step in ladder
    )
    holds = ()
    if hold_days is not None:
        holds = (Hold(start_day=hold_start_day, days=float(hold_days), restart=steps, label="planned hold"),)
    if days is None:
        days = (hold_start_day - 1 + (hold_days or 0) + sum(s.days for s in steps) + FOLLOW_UP_DAYS)
    return Schedule(phases=(Phase(dose=dose, interval=interval, days=float(days)),), holds=holds)


@dataclass(frozen=True)
class _Draws:
    """What the planner reads of a scenario's population, for posterior draws."""

    size: int
    seed: int
    residual_error: bool = False
    iiv: bool = True


def _joined(history: DoseTable, future: DoseTable, start: float) -> DoseTable:
    """The history's doses, then the future table's moved to start at `start` [h]."""
    n = history.time.size
    gaps = np.append(np.diff(history.time), start - history.time[-1]) if n else np.zeros(0)
    return DoseTable(
        time=np.concatenate([history.time, future.time + start]),
        interval=np.concatenate([gaps, future.interval]),
        planned=np.concatenate([history.planned, future.planned]).astype(float),
        given=np.concatenate([history.given, future.given]).astype(float),
        status=np.concatenate([history.status, future.status]).astype(future.status.dtype),
        phase=np.concatenate([history.phase.astype(object), future.phase.astype(object)]),
        hold=np.concatenate([np.full(n, -1, dtype=np.int64), future.hold]),
        restart_index=np.where(future.restart_index >= 0, future.restart_index + n, -1),
        hold_labels=future.hold_labels,
        steady_state=history.steady_state,
    )


@dataclass(frozen=True)
class PosteriorPatient:
    """A fitted patient as the planner's population (see the module docstring and
    :func:`posterior_patient`); pass it where :mod:`imapk.planner` takes a scenario.

    Attributes
    ----------
    fit
        The patient's fit.
    schedule
        The planned future schedule; its day 1 starts at `start_time`.
    thresholds
        Trough target first, then an optional ceiling.
    window
        Evaluation window on the future schedule's clock: (start, end or None for its end). [h]
    start_time
        When the future schedule starts, on the fit's clock. [h]
    draws
        Equally weighted posterior draws of eta, (n, p). [1]
    seed
        Seed of the resampling.
    title, source
        Names shown in answers and error messages.
    """

    fit: MapResult
    schedule: Schedule
    thresholds: tuple
    window: tuple[float, float | None]
    start_time: float
    draws: np.ndarray = field(repr=False)
    seed: int = 0
    title: str = "patient"
    source: str = "posterior"
    #: Tells the planner to word its answers as posterior probabilities for one patient.
    about_posterior: bool = True

    @property
    def models(self):
        return (self.fit.model,)

    @property
    def therapy_clocks(self):
        return ("running",)

    @property
    def parameter_set(self) -> str:
        return self.fit.model.name

    @property
    def population(self) -> _Draws:
        return _Draws(size=int(self.draws.shape[0]), seed=self.seed)

    @property
    def history(self) -> DoseTable:
        """The fit's doses before `start_time`."""
        table = self.fit.doses
        keep = table.time < self.start_time
        return replace(
            table, time=table.time[keep], interval=table.interval[keep], planned=table.planned[keep],
            given=table.given[keep], status=table.status[keep], phase=table.phase[keep],
            hold=np.full(int(keep.sum()), -1, dtype=np.int64), restart_index=np.empty(0, dtype=np.int64), hold_labels=(),
        )

    def planner_run(self):
        """Troughs (future doses only) and verdicts of every draw on history + future schedule, as
        :func:`imapk.planner` reads them from a scenario's run."""
        from ..simulation import simulate

        future = self.schedule.lower()
        history = self.history
        table = _joined(history, future, self.start_time)
        w0, w1 = self.window
        w1 = future.end if w1 is None else min(w1, future.end)
        prior = self.fit._prior
        starts, ends = prior.future_intervals(table)
        extra = None
        if starts.size:  # inter-occasion variability: a new kappa per draw for each interval after the last level
            from ..streams import standard_normals

            kappa = prior.iov_cl * standard_normals(self.seed, "tdm:iov:plan", np.arange(self.draws.shape[0]), starts.size)
            extra = (starts, ends, kappa)
        result = simulate(
            table, prior.table(self.draws, extra=extra), thresholds=self.thresholds,
            window=(self.start_time + w0, self.start_time + w1), as_dataset=False, quantiles=(),
        )
        result.add("trough", result["trough"].values[:, history.time.size:])
        return result


def posterior_patient(
    fit: MapResult,
    schedule: Schedule,
    *,
    target="gist",
    ceiling=None,
    start_time: float | None = None,
    window_start_day: int = 1,
    window_end_day: int | None = None,
    draws: int | None = None,
    seed: int = 0,
    title: str | None = None,
) -> PosteriorPatient:
    """The patient of `fit` with a planned future `schedule`, for the planner's functions.

    Parameters
    ----------
    fit
        The patient's fit (:func:`imapk.tdm.map_estimate`).
    schedule
        The planned future: a :class:`~imapk.schedule.Schedule` whose day 1 starts at `start_time`,
        with the hold to plan (and its ladder) among its holds (e.g. :func:`future_schedule`).
    target, ceiling
        Trough target and optional ceiling: names (:data:`imapk.thresholds.THRESHOLDS`),
        :class:`~imapk.thresholds.Threshold` objects or values [ng/mL]. A ceiling given by value is
        a trough ceiling.
    start_time
        When the future schedule starts, on the fit's clock; default the end of the fit's dose
        table (last dose plus its interval). Doses of the fit at or after it are replaced by the
        future schedule. [h]
    window_start_day, window_end_day
        Evaluation window, in days of the future schedule (inclusive); default all of it.
    draws
        Size of the equally weighted resample (default: the number of importance samples).
    seed
        Seed of the resampling (stream ``tdm:resample``).
    title
        Name of the patient in the answers.

    Raises
    ------
    ImapkError
        Without a trough target, for a schedule that is not a Schedule, a start before the fit's
        first dose, a window outside the future schedule, or a fit on records that a dose table
        does not express (:attr:`MapResult.records`: resets, infusions at a RATE, central doses,
        SS 2), whose history the population engine cannot simulate.
    """
    from ..schedule import day_start
    from .planning import _threshold

    if not isinstance(fit, MapResult):
        raise ImapkError("the planner plans from a fit", key="fit", got=type(fit).__name__, expected="a MapResult")
    if fit.records is not None:
        raise ImapkError(
            "the planner's questions simulate the patient's history as a dose table on the population engine, and "
            f"this patient's records are not one: {fit.records.reason}; the next-step plan (plan_next_step) "
            "handles such records", key="fit", got="a fit on the patient's records",
            expected="records a dose table expresses (EVID 1 doses into CMT 1, RATE 0 or -2, SS 1 on the first dose only)",
        )
    if not isinstance(schedule, Schedule):
        raise ImapkError("the future schedule must be a Schedule (day 1 at the plan's start)", key="schedule",
                         got=type(schedule).__name__, expected="Schedule(phases=..., holds=...) or future_schedule(...)")
    target = _threshold(target, "trough_target")
    if target is None:
        raise ImapkError("a plan needs a trough target", key="target", expected="gist, cml or a value in ng/mL")
    ceiling = _threshold(ceiling, "trough_ceiling")
    start = float(fit.doses.end if start_time is None else start_time)
    if not (math.isfinite(start) and start > float(fit.doses.time[0])):
        raise ImapkError("the plan must start after the patient's first dose", key="start_time", got=start,
                         expected=f"> {float(fit.doses.time[0]):g} h")
    end = schedule.lower().end
    w0 = day_start(window_start_day)
    w1 = None if window_end_day is None else day_start(window_end_day + 1)
    if not (0 <= w0 < end) or (w1 is not None and not w0 < w1 <= end + 1e-9):
        raise ImapkError("the evaluation window must lie inside the future schedule", key="window",
                         got=(window_start_day, window_end_day), expected=f"days 1 to {end / 24:g}")
    index = resample(fit.weights, draws, seed=seed)
    return PosteriorPatient(
        fit=fit, schedule=schedule, thresholds=tuple(t for t in (target, ceiling) if t is not None), window=(w0, w1),
        start_time=start, draws=fit.samples[index], seed=int(seed),
        title=title or f"patient (posterior under {fit.model.name})",
    )


def plan_from_posterior(fit: MapResult, schedule: Schedule, *, budget: float = 7.0, confidence: float = 0.9,
                        ladders=None, metric: str = "time_below", against: str = "ladder", level: str = "target",
                        fraction: float = 0.9, **patient) -> dict:
    """The planner's report (:func:`imapk.planner.plan`) for the patient of `fit`.

    Parameters
    ----------
    fit, schedule
        The fit and the planned future schedule (see :func:`posterior_patient`).
    budget, confidence, ladders, metric, against, level, fraction
        As for :func:`imapk.planner.plan` (`budget` in the metric's units; `confidence` is a
        posterior probability).
    **patient
        Passed to :func:`posterior_patient` (target, ceiling, start_time, window, draws, seed,
        title).
    """
    from ..planner import plan

    subject = posterior_patient(fit, schedule, **patient)
    return plan(subject, budget_days=budget, confidence=confidence, ladders=ladders, metric=metric, against=against,
                level=level, fraction=fraction)
