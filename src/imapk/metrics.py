"""Verdicts against thresholds computed from the troughs of a result Dataset.

The continuous-time statistics (time below, longest stretch below, peak) come from the engine,
which finds exact crossing times on the closed form; this module adds those that need only the
troughs at the scheduled dose times.
"""

from __future__ import annotations

import numpy as np

from .schedule import DoseTable

__all__ = ["trough_verdict", "population_summary", "DEFAULT_WINDOW_START_DAY", "DEFAULT_QUANTILES"]

#: Thresholds were set on steady-state troughs at day 29 (IRIS, B2222): evaluate from there on.
DEFAULT_WINDOW_START_DAY = 29
#: Trough percentiles reported per scheduled dose.
DEFAULT_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def population_summary(trough: np.ndarray, quantiles, levels: np.ndarray) -> dict:
    """Percentiles of the trough over subjects, and the probability of target attainment, per dose.

    Returns
    -------
    dict
        ``trough_quantile`` (quantile, dose) [ng/mL] and ``target_attainment`` (threshold, dose):
        the fraction of subjects with trough >= each level.
    """
    from .quantiles import column_quantiles

    return {
        "trough_quantile": column_quantiles(trough, quantiles),
        "target_attainment": (trough[None, :, :] >= levels[:, None, None]).mean(axis=1),
    }


def trough_verdict(trough: np.ndarray, table: DoseTable, levels: np.ndarray, window: tuple[float, float]) -> dict:
    """Count troughs below each level in the window, and find when troughs recover after holds.

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

    Returns
    -------
    dict
        ``trough_below_count`` and ``trough_below_fraction`` (subject, threshold), ``trough_count``
        (threshold,) and ``recovery_day`` (subject, threshold, hold): the clinical day of the first
        trough at or above the level after the hold's restart, up to the first trough of the next hold; NaN if none.
    """
    inside = (table.time >= window[0]) & (table.time < window[1])
    below = trough[:, None, :] < levels[None, :, None]  # (subject, threshold, dose)
    count = below[:, :, inside].sum(axis=-1)
    n_inside = int(inside.sum())
    fraction = count / n_inside if n_inside else np.full(count.shape, np.nan)

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
    return {
        "trough_below_count": count,
        "trough_below_fraction": fraction,
        "trough_count": np.full(levels.size, n_inside),
        "recovery_day": recovery,
    }
