"""Verdicts against thresholds computed from the troughs of a result Dataset.

The continuous-time statistics (time below and above, longest stretch below, peak) come from the
engine, which finds exact crossing times on the closed form; this module adds those that need only
the troughs at the scheduled dose times. Which side of a level is wrong depends on the threshold's
kind (:mod:`imapk.thresholds`): below for a trough target, at or above for a trough ceiling; a
concentration ceiling is judged on the whole curve (``time_above``, ``peak_concentration``).
"""

from __future__ import annotations

import numpy as np

from .schedule import DoseTable

__all__ = ["trough_verdict", "population_summary", "longest_run", "DEFAULT_WINDOW_START_DAY", "DEFAULT_QUANTILES"]

#: Thresholds were set on steady-state troughs at day 29 (IRIS, B2222): evaluate from there on.
DEFAULT_WINDOW_START_DAY = 29
#: Trough percentiles reported per scheduled dose.
DEFAULT_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def _kind_masks(kinds, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (threshold,) of the trough targets and of the trough ceilings among `kinds`
    (None: every threshold is a trough target, as before thresholds had kinds)."""
    from .thresholds import TROUGH_CEILING, TROUGH_TARGET, threshold_kind

    if kinds is None:
        return np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    kinds = [threshold_kind(k) for k in kinds]
    if len(kinds) != n:
        raise ValueError(f"{len(kinds)} kinds for {n} threshold levels")
    return np.array([k == TROUGH_TARGET for k in kinds], bool), np.array([k == TROUGH_CEILING for k in kinds], bool)


def population_summary(trough: np.ndarray, quantiles, levels: np.ndarray, kinds=None) -> dict:
    """Percentiles of the trough over subjects, the probability of target attainment and the
    exceedance of trough ceilings, per dose.

    Parameters
    ----------
    trough
        Troughs, (subject, dose). [ng/mL]
    quantiles
        Quantiles of the trough to report.
    levels
        Threshold levels. [ng/mL]
    kinds
        Kind of each threshold (:data:`imapk.thresholds.KINDS`); None: all trough targets.

    Returns
    -------
    dict
        ``trough_quantile`` (quantile, dose) [ng/mL]; ``target_attainment`` (threshold, dose): for
        each trough target the fraction of subjects with trough >= its level, NaN for ceilings (at
        or above a ceiling is no attainment); with at least one trough ceiling,
        ``trough_ceiling_exceedance`` (threshold, dose): for each trough ceiling the fraction of
        subjects with trough >= its level, NaN for the other kinds.
    """
    from .quantiles import column_quantiles

    targets, trough_ceilings = _kind_masks(kinds, levels.size)
    at_or_above = (trough[None, :, :] >= levels[:, None, None]).mean(axis=1)  # (threshold, dose)
    out = {
        "trough_quantile": column_quantiles(trough, quantiles),
        "target_attainment": np.where(targets[:, None], at_or_above, np.nan),
    }
    if trough_ceilings.any():
        out["trough_ceiling_exceedance"] = np.where(trough_ceilings[:, None], at_or_above, np.nan)
    return out


def longest_run(flags: np.ndarray) -> np.ndarray:
    """Length of the longest run of consecutive True values along the last axis (0 if none).

    >>> longest_run(np.array([[True, True, False, True], [False, False, False, False]])).tolist()
    [2, 0]
    """
    flags = np.asarray(flags, dtype=bool)
    n = flags.shape[-1]
    if n == 0:
        return np.zeros(flags.shape[:-1], dtype=np.int64)
    position = np.arange(n)
    # Index of the last False at or before each position (-1 if none): a run ends there.
    last_off = np.maximum.accumulate(np.where(flags, -1, position), axis=-1)
    return np.where(flags, position - last_off, 0).max(axis=-1).astype(np.int64)


def trough_verdict(
    trough: np.ndarray, table: DoseTable, levels: np.ndarray, window: tuple[float, float], kinds=None
) -> dict:
    """Count the troughs on each side of each level in the window, and find when troughs recover
    after holds.

    Parameters
    ----------
    trough
        Troughs, (subject, dose). [ng/mL]
    table
        The lowered schedule the troughs belong to.
    levels
        Threshold levels. [ng/mL]
    window
        Evaluation window [start, end); troughs at scheduled times inside it count. [h]
    kinds
        Kind of each threshold (:data:`imapk.thresholds.KINDS`); None: all trough targets.

    Returns
    -------
    dict
        On (subject, threshold): ``trough_below_count`` and ``trough_below_fraction`` (troughs in
        the window below the level: the misses of a trough target), ``trough_above_count``,
        ``trough_above_fraction`` and ``trough_above_longest_run`` (troughs in the window at or
        above the level, and the most consecutive ones: the exceedances of a trough ceiling);
        ``trough_count`` (threshold,); ``recovery_day`` (subject, threshold, hold): for a trough
        target, the clinical day of the first trough at or above the level after the hold's
        restart, up to the first trough of the next hold; NaN if none, and NaN for ceilings.
    """
    targets, _ = _kind_masks(kinds, levels.size)
    inside = (table.time >= window[0]) & (table.time < window[1])
    below = trough[:, None, :] < levels[None, :, None]  # (subject, threshold, dose)
    count = below[:, :, inside].sum(axis=-1)
    n_inside = int(inside.sum())
    above_count = n_inside - count
    if n_inside:
        fraction, above_fraction = count / n_inside, above_count / n_inside
    else:
        fraction, above_fraction = np.full(count.shape, np.nan), np.full(count.shape, np.nan)

    n_holds = len(table.restart_index)
    recovery = np.full((trough.shape[0], levels.size, n_holds), np.nan)
    day = table.day
    hold_firsts = sorted(
        (int(np.flatnonzero(table.hold == h)[0]), h) for h in range(n_holds)
    )
    for position, (_, h) in enumerate(hold_firsts):
        restart = table.restart_index[h]
        if restart < 0:
            continue
        # Up to and including the trough at the next hold's first held dose: it follows the last given dose.
        stop = hold_firsts[position + 1][0] + 1 if position + 1 < len(hold_firsts) else len(day)
        # The trough at the restart dose itself still reflects the hold: search after it.
        if stop <= restart + 1:
            continue  # the next hold starts at this restart: no trough to recover in (NaN)
        span = slice(restart + 1, stop)
        ok = ~below[:, :, span]
        recovery[:, :, h] = np.where(ok.any(axis=-1), day[span][ok.argmax(axis=-1)], np.nan)
    recovery[:, ~targets, :] = np.nan  # "back above" is a recovery for targets only
    return {
        "trough_below_count": count,
        "trough_below_fraction": fraction,
        "trough_above_count": above_count,
        "trough_above_fraction": above_fraction,
        "trough_above_longest_run": longest_run(~below[:, :, inside]),
        "trough_count": np.full(levels.size, n_inside),
        "recovery_day": recovery,
    }
