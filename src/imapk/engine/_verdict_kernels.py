"""Threshold statistics on the trough fast path: one dosing interval at a time (numba, arrays only).

Under the fast path's conditions (no steady-state start, parameter changes on dose times, lag plus
zero-order duration shorter than every interval) a dosing interval [t_j, t_j+1) is at most three
pieces with no input event inside: [t_j, t_j + lag), the zero-order input [t_j + lag, t_j + lag + d1)
and the rest. On each piece C rises then falls, so its peak and its crossings of each level follow
from the ends (C and its slope, known from the interval maps without an exponential) and, where a
part straddles a level, one safeguarded Newton search (:func:`imapk.engine._exact_kernels.piece_statistics`,
the same code the general walk uses).

Irregular dosing (per-patient amounts, missed doses) repeats nothing, so each interval is searched;
what makes that cheap is in :func:`imapk.engine._exact_kernels.piece_statistics`: each crossing
search starts from the subject's previous crossing of the same level and direction, moved by one
Newton step computed from that search's recorded exponentials (C is linear in the start state);
Newton stops as soon as a bound on C'' shows the last step landed within the root tolerance; and a
peak is searched only when neither a recorded higher peak nor the transfer fraction's peak time
settles every level without it.

Regular dosing soon reaches a state that repeats exactly: the affine map of the interval, applied
in floating point to its own fixed point, returns the same bits. An interval that starts from the
same state, with the same dose, parameters and length, as the one before has the same curve shifted
in time, so its peak and crossing offsets are reused instead of searched again. Only the offsets
are reused (added to the new interval's start), so the runs below each level are the same as a
fresh search to the root search's own tolerance (a few ulps of t).
"""

from __future__ import annotations

import math

import numpy as np

from ._exact_kernels import (
    LOG_COLUMNS,
    SEEN_COLUMNS,
    advance,
    depot_transfer,
    end_runs,
    interval_map,
    phi,
    piece_statistics,
    start_runs,
    step_runs,
)
from ._numba import jit

#: Monotone parts of one dosing interval at most: three pieces, each split at its peak.
MAX_PARTS = 6

#: :func:`imapk.engine._exact_kernels.piece_statistics` inlined into the interval loop of
#: :func:`verdicts_regular`, where it runs once per dosing interval (about 10 % faster there).
piece_statistics_inline = jit(getattr(piece_statistics, "py_func", piece_statistics), inline=True)


@jit
def piece_map(ka, k, length, out):
    """Coefficients of E1-E3 over `length` [h]: ad' = out[0] ad; ac' = out[1] ac + out[2] ad + out[3] rate."""
    out[0] = math.exp(-ka * length)
    out[1] = math.exp(-k * length)
    out[2] = depot_transfer(ka, k, length)
    out[3] = length * phi(k * length)


@jit
def add_piece(t0, t1, ad0, ac0, rate, ad1, ac1, ka, k, scale, window_start, window_end, levels, runs, log, n_log,
              seen, record):
    """Add the piece [t0, t1) (state (ad0, ac0) [mg] at t0 with input `rate` [mg/h], (ad1, ac1) at t1)
    to the runs; returns (highest C on it [ng/mL], or 0 outside the window; new row count of `log`).

    The part inside the window is taken; an end cut by the window gets its state from the closed form.
    ``seen`` holds the subject's earlier crossings, starting points of the searches, and `record`
    says whether the run updates go to `log` (:func:`imapk.engine._exact_kernels.piece_statistics`).
    """
    a = max(t0, window_start)
    b = min(t1, window_end)
    if not a < b:
        return 0.0, n_log
    ad_a, ac_a = ad0, ac0
    if a > t0:
        ad_a, ac_a = advance(ad0, ac0, rate, ka, k, a - t0)
    ad_b, ac_b = ad1, ac1
    if b < t1:
        ad_b, ac_b = advance(ad0, ac0, rate, ka, k, b - t0)
    return piece_statistics(
        a, b, ac_a * scale, ac_b * scale, ka * ad_a + rate - k * ac_a, ka * ad_b + rate - k * ac_b,
        t0, ad0, ac0, rate, ka, k, scale, levels, runs, log, n_log, seen, record,
    )


@jit
def verdicts_regular(
    dose_time, given, interval, change_dose, cl, v, ka, f, d1, tlag,
    window_start, window_end, levels, first, last, out, time_below, longest_below, peak,
):
    """Troughs and threshold statistics of subjects ``first <= s < last`` on the fast path.

    Troughs are written to ``out`` exactly as :func:`imapk.engine._exact_kernels.troughs_regular`
    writes them (the same maps, the same arithmetic); ``time_below``, ``longest_below`` (s, level)
    [h] and ``peak`` (s,) [ng/mL] as :func:`imapk.engine._exact_kernels.threshold_runs` defines
    them over [window_start, window_end]. The last dose's interval is open-ended up to the window's end.

    Returns
    -------
    int
        The number of non-finite troughs written (0 for sensible parameters).
    """
    n_dose = dose_time.shape[0]
    n_ch = change_dose.shape[0]
    per_subject = given.shape[0] > 1  # given: (subjects, doses) or one row (1, doses) shared by all
    # A copy of the levels for this call: the per-piece calls update the reference count of the arrays
    # they are passed, and threads sharing one array would contend for its count's cache line.
    levels = levels.copy()
    n_lev = levels.shape[0]
    coef = np.empty((6, 1))
    lag_map = np.empty(4)
    input_map = np.empty(4)
    runs = np.empty((4, n_lev))
    log = np.empty((MAX_PARTS * max(n_lev, 1), LOG_COLUMNS))
    seen = np.empty((2 * n_lev + 2, SEEN_COLUMNS))
    bad = 0
    for s in range(first, last):
        lag = tlag[s]
        dur = d1[s]
        p = 0
        tau = interval[0]
        kap = ka[s, 0]
        kp = cl[s, 0] / v[s, 0]
        interval_map(cl[s, 0], v[s, 0], kap, f[s, 0], lag, dur, tau, coef, 0)
        piece_map(kap, kp, lag, lag_map)
        piece_map(kap, kp, dur, input_map)
        start_runs(levels, dose_time[0], window_start, window_end, runs)
        seen[:] = np.nan
        highest = 0.0
        ad = 0.0
        ac = 0.0
        cached = False
        cache_ad = 0.0
        cache_ac = 0.0
        cache_t = 0.0
        cache_g = 0.0
        n_log = 0
        for j in range(n_dose):
            out[s, j] = ac * coef[5, 0]
            changed = p < n_ch and change_dose[p] == j
            if changed:
                p += 1
            if changed or interval[j] != tau:
                tau = interval[j]
                kap = ka[s, p]
                kp = cl[s, p] / v[s, p]
                interval_map(cl[s, p], v[s, p], kap, f[s, p], lag, dur, tau, coef, 0)
                piece_map(kap, kp, lag, lag_map)
                piece_map(kap, kp, dur, input_map)
                cached = False
            scale = coef[5, 0]
            g = given[s if per_subject else 0, j]
            t = dose_time[j]
            final = j + 1 == n_dose
            t_end = max(window_end, t + lag + dur) if final else dose_time[j + 1]
            ad_next = 0.0
            ac_next = 0.0
            if not final:
                ac_next = coef[2, 0] * ac + coef[1, 0] * ad + coef[4, 0] * g
                ad_next = coef[0, 0] * ad + coef[3, 0] * g
            inside = window_start <= t and t_end <= window_end and not final
            if t < window_end and t_end > window_start:
                if inside and cached and ad == cache_ad and ac == cache_ac and g == cache_g:
                    # The interval repeats the cached one bit for bit: replay its run updates, shifted.
                    shift = t - cache_t
                    for e in range(n_log):
                        step_runs(runs, int(log[e, 0]), log[e, 1] + shift, log[e, 2] != 0.0, log[e, 3] != 0.0,
                                  log[e, 4] + shift)
                else:
                    n_log = 0
                    amount = f[s, p] * g
                    a0, c0 = ad, ac
                    t0 = t
                    if lag > 0.0:
                        a1 = lag_map[0] * a0
                        c1 = lag_map[1] * c0 + lag_map[2] * a0
                        c_max, n_log = add_piece(t0, t0 + lag, a0, c0, 0.0, a1, c1, kap, kp, scale,
                                                 window_start, window_end, levels, runs, log, n_log, seen, inside)
                        highest = max(highest, c_max)
                        a0, c0 = a1, c1
                        t0 = t0 + lag
                    if dur > 0.0:
                        rate = amount / dur
                        a1 = input_map[0] * a0
                        c1 = input_map[1] * c0 + input_map[2] * a0 + input_map[3] * rate
                        c_max, n_log = add_piece(t0, t0 + dur, a0, c0, rate, a1, c1, kap, kp, scale,
                                                 window_start, window_end, levels, runs, log, n_log, seen, inside)
                        highest = max(highest, c_max)
                        a0, c0 = a1, c1
                        t0 = t0 + dur
                    else:
                        a0 = a0 + amount
                    if final:
                        ad_next, ac_next = advance(a0, c0, 0.0, kap, kp, t_end - t0)
                    if window_start <= t0 and t_end <= window_end:  # the usual case, without the window's cuts
                        c_max, n_log = piece_statistics_inline(
                            t0, t_end, c0 * scale, ac_next * scale, kap * a0 - kp * c0, kap * ad_next - kp * ac_next,
                            t0, a0, c0, 0.0, kap, kp, scale, levels, runs, log, n_log, seen, inside,
                        )
                    else:
                        c_max, n_log = add_piece(t0, t_end, a0, c0, 0.0, ad_next, ac_next, kap, kp, scale,
                                                 window_start, window_end, levels, runs, log, n_log, seen, inside)
                    highest = max(highest, c_max)
                    cached = inside
                    cache_ad = ad
                    cache_ac = ac
                    cache_t = t
                    cache_g = g
            else:
                cached = False
            ad = ad_next
            ac = ac_next
        end_runs(runs, window_end, time_below[s], longest_below[s])
        peak[s] = highest
        for j in range(n_dose):
            if not math.isfinite(out[s, j]):
                bad += 1
    return bad
