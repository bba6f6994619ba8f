"""A level drawn away from the trough, converted to the trough.

Two ways, side by side:

* **Log-linear correction** (Wang et al. 2009 [1]_), used in imatinib TDM: after absorption the
  concentration falls log-linearly with the elimination rate constant ke, so a level C(t) drawn
  t h after a dose given every tau h is moved to the trough by

      C_trough = C(t) exp(ke (t - tau)) = C(t) exp(-ke (tau - t))                              (1)

  with the typical ke = 0.041 1/h of Wang et al. (t1/2 = ln 2 / ke = 16.9 h). Its error is the patient's own ke differing from
  0.041: Wang et al. report, for levels drawn 3 h early (t = 21 h, tau = 24 h), a deviation from
  the true trough of 7.1 %, 13.1 % and 23.4 % without correction for ke = 0.023, 0.041 and
  0.070 1/h, and 5.3 %, 0 % and 9.1 % after correction with 0.041 1/h. The interval reported here
  is (1) evaluated at those two ke values, the low and high ones of the abstract.
  The formula assumes the sample is in the elimination phase (several hours after the dose).
* **Model-based**: the patient's posterior (:func:`imapk.tdm.map_estimate`) predicts the
  concentration at the trough time itself, with an interval from the posterior samples; and the
  measured level can be scaled by the posterior ratio C(trough)/C(t) sample by sample, which keeps
  the measurement and takes only the shape of the curve from the model.

References
----------
.. [1] Y. Wang et al., "A therapeutic
   drug monitoring algorithm for refining the imatinib trough level obtained at different
   sampling times," Ther. Drug Monit., Oct. 2009, PMID 19730279 (the journal, month and PMID are
   confirmed; volume, pages and DOI could not be checked here and are left out rather than
   guessed). The numbers used here are the abstract's:
   the algorithm C_min,std = C(t) exp(ke (t - tau)) with tau = 24 h (qd) or 12 h (bid), the
   typical ke 0.041 1/h of the Phase III (IRIS) CML patients' model, and the deviations at
   +-3 h for ke 0.023, 0.041 and 0.070 1/h quoted above.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ImapkError
from .estimation import MapResult, posterior_concentrations, weighted_quantile

__all__ = ["WANG_KE", "WANG_KE_RANGE", "LogLinearTrough", "ModelTrough", "loglinear_trough", "model_trough"]

#: Typical imatinib elimination rate constant of the log-linear correction (Wang 2009). [1/h]
WANG_KE = 0.041
#: Low and high ke of the Wang 2009 abstract, the range the correction's error is reported for. [1/h]
WANG_KE_RANGE = (0.023, 0.070)


@dataclass(frozen=True)
class LogLinearTrough:
    """The log-linear correction (1) of a level, with the spread its ke uncertainty adds.

    Attributes
    ----------
    trough
        Corrected trough with the typical ke. [ng/mL]
    low, high
        Corrected trough with the ke of `ke_range` that gives the lower and the higher value. [ng/mL]
    uncorrected_error
        Relative deviation of the uncorrected level from the true trough if the patient's ke is
        the typical one (e.g. +0.131 at t = 21 h). [1]
    """

    trough: np.ndarray
    low: np.ndarray
    high: np.ndarray
    uncorrected_error: np.ndarray


def loglinear_trough(level, hours_after_dose, *, interval: float = 24.0, ke: float = WANG_KE,
                     ke_range: tuple[float, float] = WANG_KE_RANGE) -> LogLinearTrough:
    """Move a level drawn `hours_after_dose` after a dose to the trough by equation (1).

    Parameters
    ----------
    level
        Measured concentration(s). [ng/mL]
    hours_after_dose
        Time from the last dose to the sample. [h]
    interval
        Dosing interval tau; the trough is at tau after the dose. [h]
    ke
        Elimination rate constant of the correction; default 0.041 1/h (Wang 2009). [1/h]
    ke_range
        Plausible (low, high) ke for the interval; default 0.023 and 0.070 1/h (Wang 2009). [1/h]

    Examples
    --------
    Three hours early, a measured 1131 ng/mL is a trough of 1000 ng/mL at the typical ke:

    >>> r = loglinear_trough(1131.0, 21.0)
    >>> round(float(r.trough)), round(float(r.low)), round(float(r.high))
    (1000, 917, 1056)
    """
    level = np.asarray(level, dtype=float)
    t = np.asarray(hours_after_dose, dtype=float)
    if np.any(~np.isfinite(t)) or np.any(t < 0):
        raise ImapkError("the time after the dose must be a finite number of hours >= 0", key="hours_after_dose",
                         got=t.tolist())
    if not (ke > 0 and ke_range[0] > 0 and ke_range[1] >= ke_range[0]):
        raise ImapkError("`ke` and `ke_range` must be positive rate constants, low <= high", key="ke",
                         got=(ke, ke_range))
    shift = t - float(interval)
    corrected = level * np.exp(ke * shift)
    ends = np.stack([level * np.exp(k * shift) for k in ke_range])
    return LogLinearTrough(
        trough=corrected, low=ends.min(axis=0), high=ends.max(axis=0), uncorrected_error=np.exp(-ke * shift) - 1.0,
    )


@dataclass(frozen=True)
class ModelTrough:
    """A level moved to the trough with the patient's posterior.

    Attributes
    ----------
    trough_time
        The trough the level is moved to: the left limit at this scheduled dose time. [h]
    predicted, predicted_low, predicted_high
        Posterior median and central interval of the model concentration at the trough. [ng/mL]
    scaled, scaled_low, scaled_high
        The measured level times the posterior ratio C(trough)/C(sample time): median and
        interval (None without a level). [ng/mL]
    """

    trough_time: float
    predicted: float
    predicted_low: float
    predicted_high: float
    scaled: float | None
    scaled_low: float | None
    scaled_high: float | None


def model_trough(result: MapResult, sample_time: float, level: float | None = None, *,
                 trough_time: float | None = None) -> ModelTrough:
    """Convert a level drawn at `sample_time` to the trough with the posterior of `result`.

    Parameters
    ----------
    result
        The patient's fit (usually including this level among its observations).
    sample_time
        When the level was drawn, on the fit's clock. [h]
    level
        The measured level, for the scaled conversion. [ng/mL]
    trough_time
        The trough to move to (a scheduled dose time of ``result.doses``); default: the trough of the
        dose interval containing the sample, i.e. the first scheduled dose time at or after it, or the last
        dose time plus its interval after the end of the table. [h]
    """
    table = result.doses
    if trough_time is None:
        later = table.time[table.time >= sample_time]
        trough_time = float(later[0]) if later.size else float(table.time[-1] + table.interval[-1])
    trough_time = float(trough_time)
    # C(trough-) is the limit from the left; evaluate just before a dose at that time.
    eps = 1e-9 * max(1.0, abs(trough_time))
    run, w = posterior_concentrations(result, table, times=np.array([sample_time, trough_time - eps]))
    c = run.concentration
    q = (0.5 * (1 - result.coverage), 0.5, 0.5 * (1 + result.coverage))
    pred = weighted_quantile(c[:, 1], w, q)
    scaled = [None, None, None]
    if level is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(c[:, 0] > 0, c[:, 1] / c[:, 0], np.nan)
        ok = np.isfinite(ratio)
        scaled = list(weighted_quantile(float(level) * ratio[ok], w[ok], q))
    return ModelTrough(
        trough_time=trough_time, predicted=float(pred[1]), predicted_low=float(pred[0]), predicted_high=float(pred[2]),
        scaled=None if scaled[1] is None else float(scaled[1]),
        scaled_low=None if scaled[0] is None else float(scaled[0]),
        scaled_high=None if scaled[2] is None else float(scaled[2]),
    )
