"""Closed-form kernels of linear multi-compartment models (numba, arrays and floats only).

The structure is data: ``n_tr`` transit compartments, ``n_abs`` (0 or 1) absorption compartment
and ``n_per`` (0 or 1) peripheral compartment around the central one. The state x holds amounts
[mg] in this order (``compartments`` gives the indices):

    x[0 .. n_tr-1]  transit compartments, each emptied at rate ktr into the next; the last one
                    into the absorption compartment (or into central if there is none)
    x[a]            absorption compartment (a = n_tr), emptied at rate ka into central
    x[c]            central (c = n_tr + n_abs): eliminated at k10 = CL/V, to the peripheral
                    compartment at k12 = Q/V
    x[c + 1]        peripheral: back to central at k21 = Q/Vp

so dx/dt = A x + r, with A the compartmental matrix (non-negative off the diagonal, columns
summing to <= 0) and r >= 0 the zero-order input rates. A dose enters the first compartment of
the chain (the *head*: the first transit compartment, else the absorption compartment, else
central) or the central compartment, as a bolus or as a zero-order input.

Between events, with A and r constant over dt,

    (L1)  x(dt) = e^{A dt} x + W(dt) r,     W(dt) = int_0^dt e^{A s} ds,

and both come from one exponential of the augmented matrix M = [[A, E], [0, 0]] (E the columns
e_head, e_central): e^{M dt} = [[e^{A dt}, W E], [0, I]].

**The exponential.** M is essentially non-negative (non-negative off the diagonal), so with
s = max(-M_ii) the matrix N = M + s I is non-negative and e^{M dt} = e^{-s dt} e^{N dt}. e^{N h}
for h = dt / 2^j (j chosen so that ||N h||_inf <= 1/2) is summed as a Taylor series of
non-negative terms, multiplied by e^{-s h} and squared j times; every operation adds or
multiplies non-negative numbers, so there is no cancellation: each entry of the result, however
small, keeps a relative accuracy of about 2^j ulps (the Taylor sum is good to a few ulps, and each
squaring at most doubles the relative error: measured 7e-13 for a day with ktr = 16 /h, j = 11).
This is the approach of Xue & Ye and of Shao, Gao & Xue for essentially non-negative matrices.
Coincident or nearly coincident eigenvalues (ka = k, a transit rate equal to an eigenvalue of the
disposition) need no special case: the method never forms eigenvectors. Series length: ``m - 1 + TAYLOR_EXTRA`` terms (m the matrix size): an
entry first reached at order d <= m - 1 then has its remaining terms below 0.5^16 / 16! < 1e-18
of itself.

- Xue J, Ye Q. Entrywise relative perturbation bounds for exponentials of essentially
  non-negative matrices. Numer Math 2008;110:393-403.
- Shao M, Gao W, Xue J. Aggressively truncated Taylor series method for accurate computation of
  exponentials of essentially nonnegative matrices. SIAM J Matrix Anal Appl 2014;35(2):317-338.

**Steady state.** The state just before the input of a dose of an infinite train (dose every
tau) is x = sum_{k>=0} Phi^k u, Phi = e^{A tau}, u the state tau after one input from an empty
body: the fixed point of the one-interval map, summed by doubling (S <- S + P S, P <- P P),
again from non-negative terms only, until the added term is below 1e-17 of every entry.

Every kernel also runs as plain Python (see ``_numba.load_uncompiled``).
"""

from __future__ import annotations

import math

import numpy as np

from ._exact_kernels import close_run, newton_in_bracket, open_runs, segment_in_window, update_run
from ._numba import jit

#: Concentration per amount over volume: mg/L -> ng/mL.
NG_PER_ML_PER_MG_PER_L = 1000.0
#: Taylor terms beyond the longest path in the matrix (size - 1): an entry first reached at order d
#: has converged once 0.5^(K - d) / (K - d)! < 1e-18 of itself, i.e. K - d = 16 (module docstring).
TAYLOR_EXTRA = 16
#: Doublings of the steady-state series at most (2^64 intervals).
MAX_DOUBLINGS = 64
#: Propagators remembered per subject, keyed by (parameter segment, time step).
CACHE_SIZE = 8
#: Each segment is cut into at least this many pieces for threshold crossings and peaks.
N_SUB = 8
#: Newton / bisection iterations at most for an extremum or a crossing.
MAX_ROOT_STEPS = 64


@jit
def compartments(n_tr, n_abs, n_per):
    """(state size, head index, central index) of a structure."""
    c = n_tr + n_abs
    return c + 1 + n_per, 0, c


@jit
def fill_matrix(n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, m_aug):
    """Write the augmented matrix [[A, e_head, e_central], [0, 0]] into `m_aug` ((n + 2) square)."""
    n, head, c = compartments(n_tr, n_abs, n_per)
    for i in range(n + 2):
        for j in range(n + 2):
            m_aug[i, j] = 0.0
    for i in range(n_tr):
        m_aug[i, i] = -ktr
        m_aug[i + 1, i] = ktr
    if n_abs == 1:
        m_aug[n_tr, n_tr] = -ka
        m_aug[c, n_tr] = ka
    m_aug[c, c] = -(k10 + k12) if n_per == 1 else -k10
    if n_per == 1:
        m_aug[c + 1, c] = k12
        m_aug[c, c + 1] = k21
        m_aug[c + 1, c + 1] = -k21
    m_aug[head, n] = 1.0
    m_aug[c, n + 1] = 1.0


@jit
def square(a, work, size):
    """a[:size, :size] <- a[:size, :size]^2, through `work`."""
    for i in range(size):
        for j in range(size):
            acc = 0.0
            for l in range(size):
                acc += a[i, l] * a[l, j]
            work[i, j] = acc
    for i in range(size):
        for j in range(size):
            a[i, j] = work[i, j]


@jit
def expm_nonnegative(m_mat, dt, out, term, work, size=-1):
    """out = e^{m_mat dt} for an essentially non-negative square matrix and dt >= 0 (see the
    module docstring). `term` and `work` are scratch arrays of the same shape. With ``size`` >= 0
    only the leading size x size block is used and written (e.g. A alone, or A with the head
    input column)."""
    if size < 0:
        size = m_mat.shape[0]
    s = 0.0
    for i in range(size):
        s = max(s, -m_mat[i, i])
    norm = 0.0
    for i in range(size):
        row = 0.0
        for j in range(size):
            row += abs(m_mat[i, j] + (s if i == j else 0.0))
        norm = max(norm, row)
    squarings = 0
    h = dt
    if norm * dt > 0.5:
        squarings = int(math.ceil(math.log2(norm * dt / 0.5)))
        h = dt / 2.0**squarings
    # Taylor series of e^{N h}, N = M + s I >= 0, row by row: row i of the k-th term is row i of
    # the (k-1)-th times N h / k. `term` holds N h; rows 0 and 1 of `work` are the current and next
    # term's row (work is free until the squarings).
    for i in range(size):
        for j in range(size):
            term[i, j] = (m_mat[i, j] + (s if i == j else 0.0)) * h
    for i in range(size):
        for j in range(size):
            out[i, j] = 1.0 if i == j else 0.0
            work[0, j] = out[i, j]
        for k in range(1, size - 1 + TAYLOR_EXTRA + 1):
            inv_k = 1.0 / k
            for j in range(size):
                acc = 0.0
                for l in range(size):
                    acc += work[0, l] * term[l, j]
                work[1, j] = acc * inv_k
            for j in range(size):
                work[0, j] = work[1, j]
                out[i, j] += work[1, j]
    scale = math.exp(-s * h)
    for i in range(size):
        for j in range(size):
            out[i, j] *= scale
    for _ in range(squarings):
        square(out, work, size)


@jit
def propagator(p, dt, n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, cache_p, cache_dt, cache_e, cursor, m_aug, term, work):
    """Index into `cache_e` of e^{M dt} for parameter segment p, computing it if it is not cached.

    ``cursor[0]`` is the next slot to overwrite (round robin). Returns the slot.
    """
    for slot in range(cache_p.shape[0]):
        if cache_p[slot] == p and cache_dt[slot] == dt:
            return slot
    slot = cursor[0]
    cursor[0] = (slot + 1) % cache_p.shape[0]
    fill_matrix(n_tr, n_abs, n_per, ktr[p], ka[p], k10[p], k12[p], k21[p], m_aug)
    expm_nonnegative(m_aug, dt, cache_e[slot], term, work)
    cache_p[slot] = p
    cache_dt[slot] = dt
    return slot


@jit
def apply_propagator(e, n, x, rate_head, rate_central, out):
    """out = e[:n, :n] x + rate_head e[:n, n] + rate_central e[:n, n + 1] (L1)."""
    for i in range(n):
        acc = rate_head * e[i, n] + rate_central * e[i, n + 1]
        for j in range(n):
            acc += e[i, j] * x[j]
        out[i] = acc


@jit
def slope_central(n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, x, rate_central):
    """d x_c / dt: the rate of change of the central amount. [mg/h]"""
    n, head, c = compartments(n_tr, n_abs, n_per)
    into = 0.0
    if n_abs == 1:
        into = ka * x[n_tr]
    elif n_tr > 0:
        into = ktr * x[n_tr - 1]
    out = k10 * x[c]
    if n_per == 1:
        into += k21 * x[c + 1]
        out += k12 * x[c]
    return into + rate_central - out


@jit
def curvature_central(n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, x, rate_head, rate_central, dx):
    """d^2 x_c / dt^2, with `dx` a scratch vector (filled with dx/dt). [mg/h^2]

    The input rates are constant on a segment, so the second derivative is (A dx/dt)_c.
    """
    derivative(n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, x, rate_head, rate_central, dx)
    return slope_central(n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, dx, 0.0)


@jit
def steady_state_linear(amount, tau, lag, dur, target, n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, x_out):
    """State just before the input of a dose of an infinite train of equal doses (see the module
    docstring). The train: `amount` [mg] every `tau` [h], entering the head (`target` 0) or the
    central compartment (`target` 1) as a bolus (`dur` 0) or over `dur` <= `tau` hours. The lag only
    shifts the train: the state returned is the one at an input time.

    Returns
    -------
    bool
        False if the series did not converge (elimination too slow for the interval).
    """
    n, head, c = compartments(n_tr, n_abs, n_per)
    size = n + 2
    m_aug = np.empty((size, size))
    term = np.empty((size, size))
    work = np.empty((size, size))
    phi = np.empty((size, size))
    u = np.zeros(n)
    tmp = np.zeros(n)
    for i in range(n):
        x_out[i] = 0.0
    if amount == 0.0:
        return True
    fill_matrix(n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, m_aug)
    if dur > 0.0:
        expm_nonnegative(m_aug, dur, phi, term, work)
        rate = amount / dur
        apply_propagator(phi, n, tmp, rate if target == 0 else 0.0, rate if target == 1 else 0.0, u)
        if tau > dur:
            expm_nonnegative(m_aug, tau - dur, phi, term, work)
            apply_propagator(phi, n, u, 0.0, 0.0, tmp)
            for i in range(n):
                u[i] = tmp[i]
    else:
        tmp[head if target == 0 else c] = amount
        expm_nonnegative(m_aug, tau, phi, term, work)
        apply_propagator(phi, n, tmp, 0.0, 0.0, u)
    expm_nonnegative(m_aug, tau, phi, term, work)
    power = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            power[i, j] = phi[i, j]
        x_out[i] = u[i]
    for _ in range(MAX_DOUBLINGS):
        negligible = True
        for i in range(n):
            acc = 0.0
            for j in range(n):
                acc += power[i, j] * x_out[j]
            tmp[i] = acc
            if acc > 1e-17 * x_out[i]:
                negligible = False
        for i in range(n):
            x_out[i] += tmp[i]
        if negligible:
            return True
        square(power, work, n)
    return False


@jit
def walk_linear(
    t0, x0, input_time, input_amount, input_dur, input_target, change_time,
    n_tr, n_abs, n_per, ktr, ka, k10, k12, k21,
    seg_t, seg_x, seg_rate, seg_param,
    cache_p, cache_dt, cache_e, cursor, m_aug, term, work,
):
    """Step one subject through its events, recording the state at the start of each segment.

    Parameters
    ----------
    t0, x0
        Start time [h] and initial state [mg].
    input_time, input_amount, input_dur, input_target
        Per input: time [h] (sorted, >= t0), amount [mg] (F applied; zero amounts are skipped),
        duration [h] (0 for a bolus) and target (0 head, 1 central).
    change_time
        Sorted times [h] at which parameter segment p + 1 replaces segment p.
    ktr, ka, k10, k12, k21
        Rate constants per parameter segment. [1/h]
    seg_t, seg_x, seg_rate, seg_param
        Output rows per segment: start time, state just after the events at that time, input
        rates (head, central) [mg/h] and the parameter segment in force.

    Returns
    -------
    int
        Number of segments (the last one is open-ended), or -1 if two infusions of one target
        end in an order the rate bookkeeping cannot follow (never for the engine's inputs).
    """
    n = x0.shape[0]
    n_in = input_time.shape[0]
    n_ch = change_time.shape[0]
    end_time = np.empty(n_in)
    for i in range(n_in):
        end_time[i] = input_time[i] + input_dur[i] if (input_dur[i] > 0.0 and input_amount[i] > 0.0) else math.inf
    end_order = np.argsort(end_time, kind="mergesort")
    x = x0.copy()
    x_new = np.empty(n)
    rates = np.zeros(2)
    active = np.zeros(2, dtype=np.int64)
    t = t0
    p = 0
    while p < n_ch and change_time[p] <= t:
        p += 1
    ji = 0
    je = 0
    count = 0
    while True:
        seg_t[count] = t
        for i in range(n):
            seg_x[count, i] = x[i]
        seg_rate[count, 0] = rates[0]
        seg_rate[count, 1] = rates[1]
        seg_param[count] = p
        count += 1
        while ji < n_in and input_amount[ji] == 0.0:
            ji += 1
        t_next = math.inf
        if ji < n_in:
            t_next = input_time[ji]
        if je < n_in:
            t_next = min(t_next, end_time[end_order[je]])
        if p < n_ch:
            t_next = min(t_next, change_time[p])
        if t_next == math.inf:
            break
        if t_next > t:
            slot = propagator(p, t_next - t, n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, cache_p, cache_dt, cache_e, cursor, m_aug, term, work)
            apply_propagator(cache_e[slot], n, x, rates[0], rates[1], x_new)
            for i in range(n):
                x[i] = x_new[i]
        t = t_next
        while ji < n_in and input_time[ji] == t:
            amount = input_amount[ji]
            target = input_target[ji]
            if amount > 0.0:
                if input_dur[ji] > 0.0:
                    rates[target] += amount / input_dur[ji]
                    active[target] += 1
                else:
                    x[0 if target == 0 else n_tr + n_abs] += amount
            ji += 1
        while je < n_in and end_time[end_order[je]] == t:
            k = end_order[je]
            target = input_target[k]
            active[target] -= 1
            rates[target] = 0.0 if active[target] == 0 else rates[target] - input_amount[k] / input_dur[k]
            je += 1
        while p < n_ch and change_time[p] == t:
            p += 1
    return count


@jit
def state_at(i, t, seg_t, seg_x, seg_rate, seg_param, n_tr, n_abs, n_per, ktr, ka, k10, k12, k21,
             cache_p, cache_dt, cache_e, cursor, m_aug, term, work, out):
    """State at time t (>= seg_t[i]) on segment i, into `out`."""
    n = out.shape[0]
    p = seg_param[i]
    dt = t - seg_t[i]
    if dt == 0.0:
        for j in range(n):
            out[j] = seg_x[i, j]
        return
    slot = propagator(p, dt, n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, cache_p, cache_dt, cache_e, cursor, m_aug, term, work)
    apply_propagator(cache_e[slot], n, seg_x[i], seg_rate[i, 0], seg_rate[i, 1], out)


@jit
def sample_linear(n_seg, seg_t, seg_x, seg_rate, seg_param, n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, v,
                  obs_time, obs_left, cache_p, cache_dt, cache_e, cursor, m_aug, term, work, x, x_new, out, c):
    """Concentrations at sorted observation times (left limits first at equal times): 1000 x[c] / v
    [ng/mL], c the observed compartment (central; the peripheral one with v = 1000 gives its amount
    in mg).

    As the one-compartment ``sample``: ``obs_left[o]`` asks for C(t-), which differs from C(t)
    only where V steps at t; before the first segment there is no drug. Within a segment the
    state is carried from one observation to the next, so a regular grid reuses one propagator.
    """
    n = x.shape[0]
    i = 0
    current = -1  # segment whose state at time t_cur is in x
    t_cur = 0.0
    for o in range(obs_time.shape[0]):
        t = obs_time[o]
        if t < seg_t[0] or (obs_left[o] and t == seg_t[0]):
            out[o] = 0.0
            continue
        while i + 1 < n_seg and (seg_t[i + 1] < t or (seg_t[i + 1] == t and not obs_left[o])):
            i += 1
        if current != i:
            current = i
            t_cur = seg_t[i]
            for j in range(n):
                x[j] = seg_x[i, j]
        if t > t_cur:
            slot = propagator(seg_param[i], t - t_cur, n_tr, n_abs, n_per, ktr, ka, k10, k12, k21,
                              cache_p, cache_dt, cache_e, cursor, m_aug, term, work)
            apply_propagator(cache_e[slot], n, x, seg_rate[i, 0], seg_rate[i, 1], x_new)
            for j in range(n):
                x[j] = x_new[j]
            t_cur = t
        out[o] = x[c] / v[seg_param[i]] * NG_PER_ML_PER_MG_PER_L


@jit
def derivative(n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, x, rate_head, rate_central, out):
    """out = A x + r: the time derivative of the state. [mg/h]"""
    n, head, c = compartments(n_tr, n_abs, n_per)
    for i in range(n):
        out[i] = 0.0
    for i in range(n_tr):
        out[i] -= ktr * x[i]
        out[i + 1] += ktr * x[i]
    if n_abs == 1:
        out[n_tr] -= ka * x[n_tr]
        out[c] += ka * x[n_tr]
    out[c] -= k10 * x[c]
    if n_per == 1:
        out[c] += k21 * x[c + 1] - k12 * x[c]
        out[c + 1] += k12 * x[c] - k21 * x[c + 1]
    out[head] += rate_head
    out[c] += rate_central


@jit
def advance_taylor(n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, x0, rate_head, rate_central, delta, out, term, tmp):
    """State `delta` hours after x0 by the Taylor series of the exact solution,
    x(delta) = x0 + sum_k delta^k / k! A^(k-1) (A x0 + r), for |delta| <= 1 / (2 x fastest rate)
    (the threshold pieces): TAYLOR_EXTRA + 8 terms leave a remainder below 0.5^24 / 24! ~ 1e-31 of
    the state. Cheaper than an exponential for the many one-off times of a root search; its
    rounding is absolute, ~1e-16 of the largest amount."""
    n = x0.shape[0]
    derivative(n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, x0, rate_head, rate_central, term)
    for i in range(n):
        term[i] *= delta
        out[i] = x0[i] + term[i]
    for k in range(2, TAYLOR_EXTRA + 9):
        derivative(n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, term, 0.0, 0.0, tmp)
        factor = delta / k
        for i in range(n):
            term[i] = tmp[i] * factor
            out[i] += term[i]


@jit
def root_linear(t_base, x_base, rate_head, rate_central, lo, hi, level, find_peak, rising,
                n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, v, x, dx, tmp):
    """Zero in (lo, hi) of the slope of C (`find_peak`) or of C - level on a monotone piece, by
    Newton's method safeguarded by bisection (as the one-compartment ``root_on_segment``). The
    state comes from :func:`advance_taylor` from (t_base, x_base), the piece's start; the slope
    and curvature from the state itself."""
    c = n_tr + n_abs
    scale = NG_PER_ML_PER_MG_PER_L / v
    decreasing = find_peak or not rising
    t = 0.5 * (lo + hi)
    for _ in range(MAX_ROOT_STEPS):
        advance_taylor(n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, x_base, rate_head, rate_central, t - t_base, x, dx, tmp)
        y = slope_central(n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, x, rate_central)
        if find_peak:
            f = y
            df = curvature_central(n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, x, rate_head, rate_central, dx)
        else:
            f = x[c] * scale - level
            df = y * scale
        done, t, lo, hi = newton_in_bracket(t, f, df, lo, hi, decreasing)
        if done:
            return t
    return 0.5 * (lo + hi)


@jit
def bisect_minimum(t_base, x_base, rate_head, rate_central, lo, hi, n_tr, n_abs, n_per, ktr, ka, k10, k12, k21,
                   x, dx, tmp):
    """Time of the minimum of C in (lo, hi), where the slope goes from negative to positive (bisection)."""
    for _ in range(MAX_ROOT_STEPS):
        mid = 0.5 * (lo + hi)
        if not lo < mid < hi:
            break
        advance_taylor(n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, x_base, rate_head, rate_central, mid - t_base, x, dx, tmp)
        if slope_central(n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, x, rate_central) < 0.0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@jit
def threshold_runs_linear(
    n_seg, seg_t, seg_x, seg_rate, seg_param, n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, v,
    window_start, window_end, levels, time_below, longest_below, peak,
    cache_p, cache_dt, cache_e, cursor, m_aug, term, work, x, dx,
):
    """Time below each level, the longest stretch below it, and the peak, in the window.

    Each segment is cut into pieces no longer than a 1/N_SUB of it and than half the inverse of
    the fastest rate constant; a piece whose end slopes differ in sign is split at the extremum
    (Newton on the exact slope), and on each monotone piece a level is crossed at most once,
    located by Newton on the exact concentration. As on the ODE path, an excursion that begins
    and ends inside one piece with the same slope sign at both ends would be missed; on the
    scale of a piece the solutions of these models have at most one extremum.
    """
    n_lev = levels.shape[0]
    c = n_tr + n_abs
    n = x.shape[0]
    x_piece = np.empty(n)
    x_start = np.empty(n)
    tmp = np.empty(n)
    run_start = np.empty(n_lev)
    in_run = np.zeros(n_lev, dtype=np.bool_)
    open_runs(levels, seg_t[0], window_start, window_end, time_below, longest_below, in_run, run_start)
    peak[0] = 0.0
    for i in range(n_seg):
        a, b = segment_in_window(i, n_seg, seg_t, window_start, window_end)
        if not a < b:
            continue
        p = seg_param[i]
        rh = seg_rate[i, 0]
        rc = seg_rate[i, 1]
        kt, kap, kel, kcp, kpc = ktr[p], ka[p], k10[p], k12[p], k21[p]
        fastest = max(kel + kcp + kpc, kap if n_abs == 1 else 0.0, kt if n_tr > 0 else 0.0)
        pieces = N_SUB
        if fastest > 0.0:
            pieces = max(N_SUB, int(math.ceil((b - a) * 2.0 * fastest)))
        h = (b - a) / pieces
        scale = NG_PER_ML_PER_MG_PER_L / v[p]
        state_at(i, a, seg_t, seg_x, seg_rate, seg_param, n_tr, n_abs, n_per, ktr, ka, k10, k12, k21,
                 cache_p, cache_dt, cache_e, cursor, m_aug, term, work, x_piece)
        t0 = a
        c0 = x_piece[c] * scale
        s0 = slope_central(n_tr, n_abs, n_per, kt, kap, kel, kcp, kpc, x_piece, rc)
        peak[0] = max(peak[0], c0)
        for q in range(pieces):
            t1 = b if q + 1 == pieces else a + (q + 1) * h
            for j in range(n):
                x_start[j] = x_piece[j]
            # carry the state from the piece's start: one cached propagator for all full pieces
            slot = propagator(p, t1 - t0, n_tr, n_abs, n_per, ktr, ka, k10, k12, k21,
                              cache_p, cache_dt, cache_e, cursor, m_aug, term, work)
            apply_propagator(cache_e[slot], n, x_start, rh, rc, x_piece)
            c1 = x_piece[c] * scale
            s1 = slope_central(n_tr, n_abs, n_per, kt, kap, kel, kcp, kpc, x_piece, rc)
            # split at an extremum inside the piece
            tm = t1
            cm = c1
            if (s0 > 0.0 and s1 < 0.0) or (s0 < 0.0 and s1 > 0.0):
                if s0 > 0.0:
                    tm = root_linear(t0, x_start, rh, rc, t0, t1, 0.0, True, False,
                                     n_tr, n_abs, n_per, kt, kap, kel, kcp, kpc, v[p], x, dx, tmp)
                else:
                    tm = bisect_minimum(t0, x_start, rh, rc, t0, t1, n_tr, n_abs, n_per, kt, kap, kel, kcp, kpc,
                                        x, dx, tmp)
                advance_taylor(n_tr, n_abs, n_per, kt, kap, kel, kcp, kpc, x_start, rh, rc, tm - t0, x, dx, tmp)
                cm = x[c] * scale
            peak[0] = max(peak[0], cm, c1)
            for piece in range(2):
                if piece == 0:
                    p0, p1, e0, e1 = t0, tm, c0, cm
                else:
                    p0, p1, e0, e1 = tm, t1, cm, c1
                if not p0 < p1:
                    continue
                rising = e1 > e0
                for m in range(n_lev):
                    level = levels[m]
                    below0 = e0 < level
                    below1 = e1 < level
                    r = p0
                    if below0 != below1:
                        r = root_linear(t0, x_start, rh, rc, p0, p1, level, False, rising,
                                        n_tr, n_abs, n_per, kt, kap, kel, kcp, kpc, v[p], x, dx, tmp)
                    update_run(m, p0, below0, below1, r, in_run, run_start, time_below, longest_below)
            t0, c0, s0 = t1, c1, s1
    for m in range(n_lev):
        if in_run[m]:
            close_run(m, window_end, run_start, time_below, longest_below)


@jit
def simulate_population_linear(
    t0, x0, input_time, input_amount, input_dur, input_target, change_time,
    n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, v,
    obs_time, obs_left, window_start, window_end, levels,
    conc, time_below, longest_below, peak, observed,
):
    """Every subject: concentrations at the observation times and threshold statistics.

    Per-subject arrays have the subject on axis 0: ``t0`` (n,), ``x0`` (n, states), the input
    arrays (n, inputs), the rate constants and ``v`` (n, parameter segments). Outputs are filled
    in place as in the one-compartment ``simulate_population``. ``observed`` is the compartment
    whose content `conc` reports (1000 amount / v): the central one, or the peripheral one for
    its amount (with v = 1000 and no levels).
    """
    n_sub = input_time.shape[0]
    n_state = x0.shape[1]
    n_in = input_time.shape[1]
    n_max = 1 + 2 * n_in + change_time.shape[0]
    seg_t = np.empty(n_max)
    seg_x = np.empty((n_max, n_state))
    seg_rate = np.empty((n_max, 2))
    seg_param = np.empty(n_max, dtype=np.int64)
    size = n_state + 2
    cache_p = np.empty(CACHE_SIZE, dtype=np.int64)
    cache_dt = np.empty(CACHE_SIZE)
    cache_e = np.empty((CACHE_SIZE, size, size))
    cursor = np.zeros(1, dtype=np.int64)
    m_aug = np.empty((size, size))
    term = np.empty((size, size))
    work = np.empty((size, size))
    x = np.empty(n_state)
    dx = np.empty(n_state)
    peak_s = np.empty(1)
    for s in range(n_sub):
        for slot in range(CACHE_SIZE):
            cache_p[slot] = -1
        n_seg = walk_linear(
            t0[s], x0[s], input_time[s], input_amount[s], input_dur[s], input_target, change_time,
            n_tr, n_abs, n_per, ktr[s], ka[s], k10[s], k12[s], k21[s],
            seg_t, seg_x, seg_rate, seg_param, cache_p, cache_dt, cache_e, cursor, m_aug, term, work,
        )
        sample_linear(n_seg, seg_t, seg_x, seg_rate, seg_param, n_tr, n_abs, n_per, ktr[s], ka[s], k10[s], k12[s],
                      k21[s], v[s], obs_time, obs_left, cache_p, cache_dt, cache_e, cursor, m_aug, term, work, x, dx, conc[s],
                      observed)
        if levels.shape[0] > 0:
            threshold_runs_linear(
                n_seg, seg_t, seg_x, seg_rate, seg_param, n_tr, n_abs, n_per, ktr[s], ka[s], k10[s], k12[s], k21[s],
                v[s], window_start, window_end, levels, time_below[s], longest_below[s], peak_s,
                cache_p, cache_dt, cache_e, cursor, m_aug, term, work, x, dx,
            )
            peak[s] = peak_s[0]


@jit
def steady_state_population_linear(amount, tau, lag, dur, target, n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, x0):
    """:func:`steady_state_linear` for every subject (per-subject arrays, interval shared).

    Returns the number of subjects whose series did not converge.
    """
    bad = 0
    for s in range(amount.shape[0]):
        if not steady_state_linear(amount[s], tau, lag[s], dur[s], target, n_tr, n_abs, n_per,
                                   ktr[s], ka[s], k10[s], k12[s], k21[s], x0[s]):
            bad += 1
    return bad


#: Subjects stepped together by :func:`troughs_regular_linear` (as the one-compartment fast path);
#: the innermost loops run over them, so the compiler can use vector instructions.
SUBJECT_BLOCK = 8


@jit
def exchange(lam, kappa, t):
    """(e^{-lam t} - e^{-kappa t}) / (kappa - lam), written t e^{-min t} phi(|kappa - lam| t): exact
    for all rates, no cancellation, t e^{-lam t} when they coincide (the one-compartment E3 / ka)."""
    gap = abs(kappa - lam) * t
    spread = 1.0 if gap == 0.0 else -math.expm1(-gap) / gap
    return t * math.exp(-min(lam, kappa) * t) * spread


#: Below this ratio of the eigenvalue gap to their sum, the two-compartment closed form would
#: divide by a small gap: :func:`two_compartment_exponential` hands over to the series.
MIN_GAP_RATIO = 1e-3


@jit
def two_compartment_exponential(ka, k10, k12, k21, t, out):
    """e^{A t} of the two-compartment model with first-order absorption (state: absorption,
    central, peripheral) in closed form, into out[:3, :3]. Returns False, writing nothing, when
    the disposition's eigenvalues are too close for it (then use :func:`expm_nonnegative`).

    With alpha > beta the disposition eigenvalues (alpha + beta = k10 + k12 + k21, alpha beta =
    k10 k21, their gap d = alpha - beta = sqrt((k10 + k12 - k21)^2 + 4 k12 k21), a sum of
    squares), Sylvester's formula gives every disposition entry as a non-negative combination,

        D_cc = ((alpha - k21) e^{-alpha t} + (k21 - beta) e^{-beta t}) / d,    D_cp = k21 X(beta, alpha),
        D_pp = ((k21 - beta) e^{-alpha t} + (alpha - k21) e^{-beta t}) / d,    D_pc = k12 X(beta, alpha),

    (alpha >= k21 >= beta), with X(l, m) = (e^{-l t} - e^{-m t}) / (m - l) from :func:`exchange`.
    The absorption column convolves ka e^{-ka s} with them: central ka ((alpha - k21) X(alpha, ka)
    + (k21 - beta) X(beta, ka)) / d, peripheral ka k12 (X(beta, ka) - X(alpha, ka)) / d; any ka,
    including ka = alpha or beta, is exact. beta is computed as k10 k21 / alpha (no cancellation).
    This is the fast trough path's set-up for the common structure; the series is the reference.
    """
    total = k10 + k12 + k21
    diff = k10 + k12 - k21
    gap = math.sqrt(diff * diff + 4.0 * k12 * k21)
    if not gap > MIN_GAP_RATIO * total:
        return False
    alpha = 0.5 * (total + gap)
    beta = k10 * k21 / alpha
    ea = math.exp(-alpha * t)
    eb = math.exp(-beta * t)
    wa = (alpha - k21) / gap
    wb = (k21 - beta) / gap
    xba = exchange(beta, alpha, t)
    out[0, 0] = math.exp(-ka * t)
    out[0, 1] = 0.0
    out[0, 2] = 0.0
    out[1, 1] = wa * ea + wb * eb
    out[1, 2] = k21 * xba
    out[2, 1] = k12 * xba
    out[2, 2] = wb * ea + wa * eb
    xa = exchange(alpha, ka, t)
    xb = exchange(beta, ka, t)
    out[1, 0] = ka * (wa * xa + wb * xb)
    out[2, 0] = ka * k12 * (xb - xa) / gap
    return True


@jit
def exponential(n_tr, n_abs, n_per, m_aug, dt, out, term, work, n):
    """e^{A dt} into out[:n, :n] (A the leading block of `m_aug`): the two-compartment closed form
    where it applies, else the non-negative series."""
    if n_tr == 0 and n_abs == 1 and n_per == 1:
        ka = -m_aug[0, 0]
        k21 = -m_aug[2, 2]
        k12 = m_aug[2, 1]
        k10 = -m_aug[1, 1] - k12
        if two_compartment_exponential(ka, k10, k12, k21, dt, out):
            return
    expm_nonnegative(m_aug, dt, out, term, work, n)


@jit
def interval_map_linear(n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, f, lag, dur, tau, phi, u, b,
                        m_aug, e1, e2, term, work):
    """The affine map of one dosing interval, into column `b` of `phi` (n, n, block) and `u` (n, block):
    x' = phi x + u g for a dose g [mg] given at the interval's start into the head, entering `lag`
    later as a bolus or over `dur` (lag + dur <= tau)."""
    n, head, c = compartments(n_tr, n_abs, n_per)
    fill_matrix(n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, m_aug)
    exponential(n_tr, n_abs, n_per, m_aug, tau, e1, term, work, n)
    for i in range(n):
        for j in range(n):
            phi[i, j, b] = e1[i, j]
    if dur > 0.0:
        # unit dose over dur (its W column), then free decay to tau
        expm_nonnegative(m_aug, dur, e1, term, work, n + 1)
        expm_nonnegative(m_aug, tau - lag - dur, e2, term, work, n)
        for i in range(n):
            acc = 0.0
            for j in range(n):
                acc += e2[i, j] * e1[j, n]
            u[i, b] = f * acc / dur
    elif lag > 0.0:
        exponential(n_tr, n_abs, n_per, m_aug, tau - lag, e2, term, work, n)
        for i in range(n):
            u[i, b] = f * e2[i, head]
    else:
        for i in range(n):
            u[i, b] = f * phi[i, head, b]


@jit
def troughs_regular_linear(dose_time, given, interval, change_dose, n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, v, f,
                           d1, tlag, first, last, out):
    """Trough-only fast path of the linear model (as the one-compartment ``troughs_regular``).

    Troughs C(t_j-) at the shared scheduled times for subjects ``first <= s < last``; dose j
    enters the head ``tlag[s]`` after its time, as a bolus or over ``d1[s]`` (``tlag + d1`` shorter
    than every interval); parameter segment p + 1 starts at dose ``change_dose[p]``. The map of an
    interval (:func:`interval_map_linear`) is computed once per (segment, interval length). The
    product phi x skips phi's structural zeros: above the diagonal only the central-peripheral
    entry is non-zero (the chain flows one way).

    Returns
    -------
    int
        The number of non-finite troughs written.
    """
    n_dose = dose_time.shape[0]
    n_ch = change_dose.shape[0]
    n, head, c = compartments(n_tr, n_abs, n_per)
    size = n + 2
    m_aug = np.empty((size, size))
    e1 = np.empty((size, size))
    e2 = np.empty((size, size))
    term = np.empty((size, size))
    work = np.empty((size, size))
    phi = np.zeros((n, n, SUBJECT_BLOCK))
    u = np.zeros((n, SUBJECT_BLOCK))
    x = np.zeros((n, SUBJECT_BLOCK))
    x_new = np.zeros((n, SUBJECT_BLOCK))
    scale = np.zeros(SUBJECT_BLOCK)
    g_block = np.zeros(SUBJECT_BLOCK)
    per_subject = given.shape[0] > 1  # given: (subjects, doses) or one row (1, doses) shared by all
    last_row = given.shape[0] - 1
    bad = 0
    for s0 in range(first, last, SUBJECT_BLOCK):
        nb = min(SUBJECT_BLOCK, last - s0)
        p = 0
        tau = interval[0]
        for b in range(nb):
            s = s0 + b
            for i in range(n):
                x[i, b] = 0.0
            interval_map_linear(n_tr, n_abs, n_per, ktr[s, 0], ka[s, 0], k10[s, 0], k12[s, 0], k21[s, 0], f[s, 0],
                                tlag[s], d1[s], tau, phi, u, b, m_aug, e1, e2, term, work)
            scale[b] = NG_PER_ML_PER_MG_PER_L / v[s, 0]
        for j in range(n_dose):
            for b in range(nb):
                out[s0 + b, j] = x[c, b] * scale[b]
            if j + 1 == n_dose:
                break
            changed = p < n_ch and change_dose[p] == j
            if changed:
                p += 1
            if changed or interval[j] != tau:
                tau = interval[j]
                for b in range(nb):
                    s = s0 + b
                    interval_map_linear(n_tr, n_abs, n_per, ktr[s, p], ka[s, p], k10[s, p], k12[s, p], k21[s, p],
                                        f[s, p], tlag[s], d1[s], tau, phi, u, b, m_aug, e1, e2, term, work)
                    scale[b] = NG_PER_ML_PER_MG_PER_L / v[s, p]
            for b in range(SUBJECT_BLOCK):  # the block's padding (b >= nb) repeats the last row
                g_block[b] = given[min(s0 + b, last_row) if per_subject else 0, j]
            if n == 3 and n_abs == 1:
                # the common case, two compartments with first-order absorption, written out
                for b in range(SUBJECT_BLOCK):
                    g = g_block[b]
                    xa = x[0, b]
                    xc = x[1, b]
                    xp = x[2, b]
                    x[0, b] = phi[0, 0, b] * xa + u[0, b] * g
                    x[1, b] = phi[1, 0, b] * xa + phi[1, 1, b] * xc + phi[1, 2, b] * xp + u[1, b] * g
                    x[2, b] = phi[2, 0, b] * xa + phi[2, 1, b] * xc + phi[2, 2, b] * xp + u[2, b] * g
                continue
            for i in range(n):
                for b in range(SUBJECT_BLOCK):
                    x_new[i, b] = u[i, b] * g_block[b]
                last_k = i + 1 if i < c else n
                for k in range(last_k):
                    for b in range(SUBJECT_BLOCK):
                        x_new[i, b] += phi[i, k, b] * x[k, b]
            for i in range(n):
                for b in range(SUBJECT_BLOCK):
                    x[i, b] = x_new[i, b]
        for b in range(nb):
            for j in range(n_dose):
                if not math.isfinite(out[s0 + b, j]):
                    bad += 1
    return bad
