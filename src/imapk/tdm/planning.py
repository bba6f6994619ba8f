"""The next dosing step planned from a patient's posterior.

For each candidate daily dose (what 100 mg and 400 mg tablets make: 100-800 mg), from the weighted
posterior samples of :func:`imapk.tdm.map_estimate`:

* the trough expected at steady state (every occasion effect of the model in force) and on a
  chosen day of a new ladder step started after the doses given so far;
* the probability that it is at or above the efficacy target (GIST 1100 ng/mL, CML 1000 ng/mL,
  :data:`imapk.thresholds.THRESHOLDS`) and at or above a ceiling;
* for the step the patient is on now, how many more daily doses it takes until its trough is within
  10 % of its steady state: after that, staying on the step adds little exposure and little
  information, so the next step can be taken.

With inter-occasion variability in the fit (``iov_cl``), the troughs here are those of the fitted
curve: the estimated kappas on the intervals that hold a level, kappa = 0 on the new step's
intervals and at steady state (the patient's typical occasion); the planner's answers
(:func:`imapk.tdm.posterior_patient`) draw new kappas instead.

Every model imapk ships is linear in the dose, so a trough is the history's contribution plus the
new doses' contribution, the latter proportional to the dose: two engine runs serve every candidate.
Doses are mg of imatinib free base, once daily (a 600 or 800 mg day given as one intake; the
trough of 400 mg twice daily is not what is computed here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..errors import ImapkError
from ..schedule import SteadyState
from ..thresholds import Threshold, get_threshold
from .estimation import MapResult, dose_table, posterior_concentrations, weighted_quantile

__all__ = ["CANDIDATE_DOSES", "StepPlan", "plan_next_step"]

#: Daily doses made of 100 mg and 400 mg tablets that imatinib regimens use. [mg]
CANDIDATE_DOSES = (100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0, 800.0)
#: Dose the linear runs are made with (any positive amount gives the same results). [mg]
UNIT_DOSE = 100.0


@dataclass(frozen=True)
class StepPlan:
    """Candidate doses judged from the posterior (see :func:`plan_next_step`).

    Attributes
    ----------
    dose
        Candidate daily doses. [mg]
    steady_state_median, steady_state_low, steady_state_high
        Posterior median and central interval of the steady-state trough per candidate. [ng/mL]
    p_target
        Posterior probability that the steady-state trough is >= the target. [1]
    p_ceiling
        Posterior probability that the steady-state trough is >= the ceiling (0 without one). [1]
    day
        Clinical day of the new step whose trough is reported (None if not asked).
    day_median, day_low, day_high, day_p_target, day_p_ceiling
        The same on that day of a step started at `start_time` after the doses given so far.
    start_time
        When the new step's first dose is taken. [h]
    current_dose
        The dose of the step the patient is on (the last dose given before `start_time`). [mg]
    days_at_step
        Daily doses of the current step taken so far.
    days_remaining
        (median, low, high) further doses of the current step until its trough is within
        1 - `fraction` of its steady state (0: already there; inf: not within `max_days`).
    recommended
        The lowest candidate with p_target >= `confidence` and p_ceiling <= `risk`, else None. [mg]
    target, ceiling
        The thresholds used.
    coverage
        Probability of the intervals. [1]
    """

    dose: np.ndarray
    steady_state_median: np.ndarray
    steady_state_low: np.ndarray
    steady_state_high: np.ndarray
    p_target: np.ndarray
    p_ceiling: np.ndarray
    day: int | None
    day_median: np.ndarray | None
    day_low: np.ndarray | None
    day_high: np.ndarray | None
    day_p_target: np.ndarray | None
    day_p_ceiling: np.ndarray | None
    start_time: float
    current_dose: float
    days_at_step: int
    days_remaining: tuple[float, float, float]
    recommended: float | None
    target: Threshold
    ceiling: Threshold | None
    coverage: float


def _threshold(value, kind: str) -> Threshold | None:
    """A threshold from a name, a Threshold, a number or a number written as text [ng/mL]; None or "none": none."""
    if value is None or isinstance(value, Threshold):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == "none":
            return None
        try:
            number = float(text.removesuffix("ng/mL").strip())
        except ValueError:
            return get_threshold(text)
        return Threshold(f"{number:g} ng/mL", number, kind)
    return Threshold(f"{float(value):g} ng/mL", float(value), kind)


def plan_next_step(
    result: MapResult,
    *,
    target="gist",
    ceiling="toxicity_alarm",
    candidates=CANDIDATE_DOSES,
    day: int | None = None,
    start_time: float | None = None,
    interval: float = 24.0,
    fraction: float = 0.9,
    max_days: int = 120,
    confidence: float = 0.5,
    risk: float = 0.1,
) -> StepPlan:
    """Judge candidate daily doses from the posterior of `result`.

    Parameters
    ----------
    result
        The patient's fit; its dose table is the history (doses before `start_time`). For a fit on
        the patient's records (``result.records``, :mod:`imapk.tdm.records`), the history's part of
        each trough is the records walked for every sample (resets, infusions and central doses as
        they happened), and the new step starts after the records' last dose; the new step's
        part, and the steady state, use the prior's typical values (the first dose record's
        covariates), as for any fit.
    target, ceiling
        Threshold names (:data:`imapk.thresholds.THRESHOLDS`), :class:`~imapk.thresholds.Threshold`
        objects, or values [ng/mL] (numbers, or text such as ``"1200"``); `ceiling` None (or
        ``"none"``) for none.
    candidates
        Daily doses to judge. [mg]
    day
        Clinical day of the new step whose trough is reported too: the trough of day d is the
        concentration just before the step's d-th daily dose, after d - 1 doses (day 1: before the
        step's first dose).
    start_time
        Time of the new step's first dose; default the end of the dose table (last dose time plus
        its interval). [h]
    interval
        Dosing interval of the new step and of the steady state. [h]
    fraction
        The current step is "at steady state" once its trough is within 1 - `fraction` of it. [1]
    max_days
        Days simulated ahead for `days_remaining`.
    confidence, risk
        Rule for `recommended`: P(trough >= target) >= confidence and P(trough >= ceiling) <= risk.

    Examples
    --------
    >>> from imapk.schedule import Schedule, Phase
    >>> from imapk.tdm import map_estimate
    >>> fit = map_estimate("widmer2006", Schedule(phases=(Phase(dose=300, days=14),)).lower(),
    ...                    ([312.0], [700.0]), warn=False)
    >>> plan = plan_next_step(fit, target="gist")
    >>> plan.current_dose, plan.days_at_step, plan.recommended
    (300.0, 14, 600.0)
    """
    target = _threshold(target, "trough_target")
    ceiling = _threshold(ceiling, "trough_ceiling")
    if target is None:
        raise ImapkError("a plan needs a trough target", key="target", expected="gist, cml or a value in ng/mL")
    candidates = np.asarray(candidates, dtype=float)
    if candidates.ndim != 1 or candidates.size == 0 or np.any(~(candidates > 0)):
        raise ImapkError("candidate doses must be positive amounts in mg", key="candidates", got=candidates.tolist())
    if not (0 < fraction < 1):
        raise ImapkError("`fraction` must lie strictly between 0 and 1", key="fraction", got=fraction)
    table = result.doses
    start = float(table.end if start_time is None else start_time)
    past = table.time < start
    if not past.any():
        raise ImapkError("no dose before the new step's start", key="start_time", got=start)
    hist_time, hist_given = table.time[past], np.asarray(table.given, dtype=float)[past]
    w = result.weights
    q = (0.5 * (1 - result.coverage), 0.5, 0.5 * (1 + result.coverage))

    # Steady state at UNIT_DOSE with every occasion effect in force: the trough C(0-) of a start at steady state.
    ss_table = replace(dose_table([0.0], [UNIT_DOSE], interval=interval),
                       steady_state=SteadyState(dose=UNIT_DOSE, interval=interval, time_on_therapy=None))
    ss_unit = posterior_concentrations(result, ss_table, long_term=True)[0].trough[:, 0]

    def summarise(troughs: np.ndarray):  # (samples, candidates)
        quant = weighted_quantile(troughs, w, q)
        p_t = w @ (troughs >= target.value)
        p_c = w @ (troughs >= ceiling.value) if ceiling is not None else np.zeros(troughs.shape[1])
        return quant, p_t, p_c

    ss = ss_unit[:, None] * (candidates / UNIT_DOSE)[None, :]
    ss_q, p_target, p_ceiling = summarise(ss)

    # History plus a new step of daily doses from `start`: history part (A) + unit step (B), by linearity.
    horizon = max(int(max_days), int(day or 0)) + 1
    new_time = start + interval * np.arange(horizon)
    times = np.concatenate([hist_time, new_time])
    a_table = replace(dose_table(times, np.concatenate([hist_given, np.zeros(horizon)]), interval=interval),
                      steady_state=table.steady_state)
    b_table = dose_table(times, np.concatenate([np.zeros(hist_time.size), np.full(horizon, UNIT_DOSE)]), interval=interval)
    if result.records is None:
        a = posterior_concentrations(result, a_table)[0].trough[:, hist_time.size :]
    else:  # the history is the records: walk them for every sample, up to each new dose's time
        if not past.all():
            raise ImapkError("a plan from a fit on the patient's records starts after the records' last dose",
                             key="start_time", got=start, expected=f"> {float(table.time[-1]):g} h")
        a = result._predictor.run(result._prior, result.samples, times=new_time).concentration
    b = posterior_concentrations(result, b_table)[0].trough[:, hist_time.size :]

    day_fields = (None,) * 5
    if day is not None:
        if not (isinstance(day, (int, np.integer)) and 1 <= day <= horizon):
            raise ImapkError("`day` must be a clinical day >= 1 of the new step", key="day", got=day)
        k = int(day) - 1
        troughs = a[:, k, None] + b[:, k, None] * (candidates / UNIT_DOSE)[None, :]
        dq, dp_t, dp_c = summarise(troughs)
        day_fields = (dq[1], dq[0], dq[2], dp_t, dp_c)

    # The current step continued: further doses until its trough is within 1 - fraction of its steady state.
    given_nonzero = np.flatnonzero(hist_given > 0)
    current = float(hist_given[given_nonzero[-1]]) if given_nonzero.size else 0.0
    run = 0
    for amount in hist_given[::-1]:
        if amount != current:
            break
        run += 1
    if current > 0:
        cont = a + b * (current / UNIT_DOSE)
        ss_current = ss_unit * (current / UNIT_DOSE)
        close = np.abs(cont - ss_current[:, None]) <= (1.0 - fraction) * ss_current[:, None]
        first = np.where(close.any(axis=1), np.argmax(close, axis=1).astype(float), math.inf)
        finite = np.isfinite(first)
        if finite.all():
            rq = weighted_quantile(first, w, q)
            remaining = (float(rq[1]), float(rq[0]), float(rq[2]))
        else:  # some samples never get there within max_days: quantiles by counting, inf beyond
            order = np.argsort(first)
            cw = np.cumsum(w[order])
            remaining = tuple(float(first[order][min(np.searchsorted(cw, p), first.size - 1)]) for p in (q[1], q[0], q[2]))
    else:
        remaining = (0.0, 0.0, 0.0)

    ok = (p_target >= confidence) & (p_ceiling <= risk)
    recommended = float(candidates[np.flatnonzero(ok)[0]]) if ok.any() else None
    return StepPlan(
        dose=candidates, steady_state_median=ss_q[1], steady_state_low=ss_q[0], steady_state_high=ss_q[2],
        p_target=p_target, p_ceiling=p_ceiling, day=day, day_median=day_fields[0], day_low=day_fields[1],
        day_high=day_fields[2], day_p_target=day_fields[3], day_p_ceiling=day_fields[4], start_time=start,
        current_dose=current, days_at_step=run, days_remaining=remaining, recommended=recommended,
        target=target, ceiling=ceiling, coverage=result.coverage,
    )
