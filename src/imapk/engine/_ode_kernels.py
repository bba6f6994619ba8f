"""Adaptive Runge-Kutta kernels of the one-compartment model with time-varying rates (numba).

State y = (ad, ac): depot and central amounts [mg]. Between events the rates depend on a
time-on-therapy clock tau [h] (shared by all subjects, piecewise linear in t):

    ka_eff = ka_seg g(tau; tv[0:4]),   k_eff = CL_eff / V_seg = k_seg g(tau; tv[4:8])
    g(tau; a, b, c, d) = 1 + a e^{-b tau} + c tau / (d + tau)      (a term with a = 0 or c = 0 is skipped)
    ad' = -ka_eff ad,    ac' = ka_eff ad + R - k_eff ac

with R the zero-order input rate. The event semantics are those of
``_exact_kernels.simulate_population`` (inputs, infusion ends and parameter changes at the same
times, zero amounts skipped, left limits, C = 0 before the start); the knots of the clock are
events too. Integration restarts at every event and never steps across one.

Integrator: Dormand-Prince 5(4) with FSAL (local extrapolation: the 5th-order solution is
propagated), the standard mixed error norm RMS(err_i / (atol + rtol max(|y_i|, |y_new_i|))),
step control h_new = h min(10, max(0.2, 0.9 err^{-1/5})) (no growth right after a rejection),
the initial step heuristic of Hairer, Norsett & Wanner II.4 (as in scipy's ``select_initial_step``)
and the 4th-order continuous extension for output inside a step. ``atol`` is in mg.

- Dormand JR, Prince PJ. A family of embedded Runge-Kutta formulae. J Comput Appl Math
  1980;6(1):19-26 (tableau and error coefficients).
- Hairer E, Norsett SP, Wanner G. Solving Ordinary Differential Equations I, 2nd ed. Springer
  1993, II.4 (step control, initial step) and II.6 (dense output; coefficients as in their
  DOPRI5 code, ``CONTD5``).

Threshold statistics and the peak come from the dense output: every accepted step inside the
window is cut into ``N_SUB`` equal pieces; a piece whose interpolated slope changes sign is split
at the extremum (bisection on the slope of the interpolant), so the pieces are monotone and a
level is crossed at most once on each; crossings are located by bisection on the interpolant.
The results are therefore accurate to the integration tolerance (the interpolant's error), not
exact, and a wiggle that crosses a level twice within one ``1 / N_SUB`` of a step with the same
slope sign at both ends of the piece would be missed (the solutions of this model are smooth on
that scale). Only the central amount is interpolated: it is all the outputs need.

Every kernel also runs as plain Python (see ``_numba.load_uncompiled``).
"""

from __future__ import annotations

import math

import numpy as np

from ._numba import jit

#: Concentration per amount over volume: mg/L -> ng/mL.
NG_PER_ML_PER_MG_PER_L = 1000.0
#: Bisection steps for crossing times and extrema inside a step (2^-60 of a step: far below a second).
BISECTION_STEPS = 60
#: Equal pieces per accepted step scanned for extrema and crossings (threshold statistics).
N_SUB = 4

#: Status codes, per subject.
STATUS_OK = 0
STATUS_MAX_STEPS = 1
STATUS_STEP_UNDERFLOW = 2
STATUS_NOT_FINITE = 3

# Step size control (Hairer et al. II.4; the constants of scipy's RK45).
SAFETY = 0.9
MIN_FACTOR = 0.2
MAX_FACTOR = 10.0
#: -1 / (q + 1) with q = 4, the order of the embedded error estimate.
ERROR_EXPONENT = -0.2
#: A step that would end within this factor of the segment end is stretched to end there (DOPRI5 code: 1.01).
STRETCH = 1.01
#: A step (other than the last of a segment) below this many ulps of the current time is an underflow.
MIN_STEP_ULPS = 10.0
EPS = 2.220446049250313e-16

# Dormand-Prince 5(4) tableau (Dormand & Prince 1980, Table 2). c7 = 1 and a7j = bj (FSAL).
C2 = 1.0 / 5.0
C3 = 3.0 / 10.0
C4 = 4.0 / 5.0
C5 = 8.0 / 9.0
A21 = 1.0 / 5.0
A31 = 3.0 / 40.0
A32 = 9.0 / 40.0
A41 = 44.0 / 45.0
A42 = -56.0 / 15.0
A43 = 32.0 / 9.0
A51 = 19372.0 / 6561.0
A52 = -25360.0 / 2187.0
A53 = 64448.0 / 6561.0
A54 = -212.0 / 729.0
A61 = 9017.0 / 3168.0
A62 = -355.0 / 33.0
A63 = 46732.0 / 5247.0
A64 = 49.0 / 176.0
A65 = -5103.0 / 18656.0
B1 = 35.0 / 384.0
B3 = 500.0 / 1113.0
B4 = 125.0 / 192.0
B5 = -2187.0 / 6784.0
B6 = 11.0 / 84.0
# Error coefficients: 5th-order weights minus 4th-order weights.
E1 = 71.0 / 57600.0
E3 = -71.0 / 16695.0
E4 = 71.0 / 1920.0
E5 = -17253.0 / 339200.0
E6 = 22.0 / 525.0
E7 = -1.0 / 40.0
# Dense output (Hairer et al. II.6, DOPRI5 code): 4th-order continuous extension.
D1 = -12715105075.0 / 11282082432.0
D3 = 87487479700.0 / 32700410799.0
D4 = -10690763975.0 / 1880347072.0
D5 = 701980252875.0 / 199316789632.0
D6 = -1453857185.0 / 822651844.0
D7 = 69997945.0 / 29380423.0

# Layout of the per-segment parameter tuple `par` (a tuple: no aliasing, no allocation).
P_KA = 0  # ka of the parameter segment [1/h] (times g if the rates are constant on the segment)
P_K = 1  # k = CL / V of the parameter segment [1/h] (likewise)
P_RATE = 2  # zero-order input rate [mg/h]
P_TAU = 3  # clock reading at the knot P_KNOT [h]
P_SLOPE = 4  # clock speed on this piece (1 running, 0 paused)
P_KNOT = 5  # time of the clock knot [h]
P_TV = 6  # tv[0:8]: (a, b, c, d) for ka, then for CL
P_VARYING = 14  # 1.0 if the rates change on the segment (clock running and a or c nonzero), else 0.0


@jit
def drift(tau, a, b, c, d):
    """g(tau) = 1 + a e^{-b tau} + c tau / (d + tau); a term whose a or c is 0 is skipped."""
    g = 1.0
    if a != 0.0:
        g += a * math.exp(-b * tau)
    if c != 0.0:
        g += c * tau / (d + tau)
    return g


@jit
def rhs(t, ad, ac, par):
    """(ad', ac') at time t for the segment described by `par`. [mg/h]"""
    ka = par[P_KA]
    k = par[P_K]
    if par[P_VARYING] != 0.0:
        tau = par[P_TAU] + par[P_SLOPE] * (t - par[P_KNOT])
        ka *= drift(tau, par[P_TV], par[P_TV + 1], par[P_TV + 2], par[P_TV + 3])
        k *= drift(tau, par[P_TV + 4], par[P_TV + 5], par[P_TV + 6], par[P_TV + 7])
    transfer = ka * ad
    return -transfer, transfer + par[P_RATE] - k * ac


@jit
def error_scale(y, y_new, rtol, atol):
    """atol + rtol max(|y|, |y_new|): the weight of one component in the error norm. [mg]"""
    return atol + rtol * max(abs(y), abs(y_new))


@jit
def initial_step(t, ad, ac, fd, fc, par, rtol, atol, span):
    """First step size on a segment of length `span` (Hairer et al. II.4; scipy select_initial_step)."""
    sd = atol + rtol * abs(ad)
    sc = atol + rtol * abs(ac)
    d0 = math.sqrt(0.5 * ((ad / sd) ** 2 + (ac / sc) ** 2))
    d1 = math.sqrt(0.5 * ((fd / sd) ** 2 + (fc / sc) ** 2))
    if d0 < 1e-5 or d1 < 1e-5:
        h0 = 1e-6
    else:
        h0 = 0.01 * d0 / d1
    h0 = min(h0, span)
    gd, gc = rhs(t + h0, ad + h0 * fd, ac + h0 * fc, par)
    d2 = math.sqrt(0.5 * (((gd - fd) / sd) ** 2 + ((gc - fc) / sc) ** 2)) / h0
    if d1 <= 1e-15 and d2 <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / max(d1, d2)) ** (-ERROR_EXPONENT)
    return min(100.0 * h0, h1, span)


@jit
def dopri_step(t, h, ad, ac, fd, fc, par, rtol, atol, kc):
    """One Dormand-Prince 5(4) step from (t, ad, ac) with slope (fd, fc) = f(t, y) (FSAL).

    Stores the seven central-compartment stages in `kc` (for the dense output) and returns
    ``(ad_new, ac_new, fd_new, fc_new, err)``: the 5th-order state at t + h, f there (the next
    step's first stage) and the RMS error norm of the embedded 4th-order estimate.
    """
    k2d, k2c = rhs(t + C2 * h, ad + h * (A21 * fd), ac + h * (A21 * fc), par)
    k3d, k3c = rhs(t + C3 * h, ad + h * (A31 * fd + A32 * k2d), ac + h * (A31 * fc + A32 * k2c), par)
    k4d, k4c = rhs(
        t + C4 * h,
        ad + h * (A41 * fd + A42 * k2d + A43 * k3d),
        ac + h * (A41 * fc + A42 * k2c + A43 * k3c),
        par,
    )
    k5d, k5c = rhs(
        t + C5 * h,
        ad + h * (A51 * fd + A52 * k2d + A53 * k3d + A54 * k4d),
        ac + h * (A51 * fc + A52 * k2c + A53 * k3c + A54 * k4c),
        par,
    )
    k6d, k6c = rhs(
        t + h,
        ad + h * (A61 * fd + A62 * k2d + A63 * k3d + A64 * k4d + A65 * k5d),
        ac + h * (A61 * fc + A62 * k2c + A63 * k3c + A64 * k4c + A65 * k5c),
        par,
    )
    ad_new = ad + h * (B1 * fd + B3 * k3d + B4 * k4d + B5 * k5d + B6 * k6d)
    ac_new = ac + h * (B1 * fc + B3 * k3c + B4 * k4c + B5 * k5c + B6 * k6c)
    k7d, k7c = rhs(t + h, ad_new, ac_new, par)
    ed = h * (E1 * fd + E3 * k3d + E4 * k4d + E5 * k5d + E6 * k6d + E7 * k7d)
    ec = h * (E1 * fc + E3 * k3c + E4 * k4c + E5 * k5c + E6 * k6c + E7 * k7c)
    ed /= error_scale(ad, ad_new, rtol, atol)
    ec /= error_scale(ac, ac_new, rtol, atol)
    err = math.sqrt(0.5 * (ed * ed + ec * ec))
    kc[0] = fc
    kc[1] = k2c
    kc[2] = k3c
    kc[3] = k4c
    kc[4] = k5c
    kc[5] = k6c
    kc[6] = k7c
    return ad_new, ac_new, k7d, k7c, err


@jit
def dense_coefficients(h, ac, ac_new, kc, rc):
    """Coefficients `rc` of the continuous extension of ac over a step of size h (DOPRI5 CONTD5)."""
    diff = ac_new - ac
    bspl = h * kc[0] - diff
    rc[0] = ac
    rc[1] = diff
    rc[2] = bspl
    rc[3] = diff - h * kc[6] - bspl
    rc[4] = h * (D1 * kc[0] + D3 * kc[2] + D4 * kc[3] + D5 * kc[4] + D6 * kc[5] + D7 * kc[6])


@jit
def dense_value(theta, rc):
    """ac at the fraction theta of the step from the continuous extension. [mg]"""
    theta1 = 1.0 - theta
    return rc[0] + theta * (rc[1] + theta1 * (rc[2] + theta * (rc[3] + theta1 * rc[4])))


@jit
def dense_slope(theta, rc):
    """d(ac)/d(theta) of the continuous extension (h times d(ac)/dt). [mg]"""
    theta1 = 1.0 - theta
    a = rc[3] + theta1 * rc[4]
    b = rc[2] + theta * a
    db = a - theta * rc[4]
    c = rc[1] + theta1 * b
    dc = theta1 * db - b
    return c + theta * dc


@jit
def close_run(m, end, run_start, time_below, longest_below):
    """End the run below level m at time `end`, adding it to the statistics."""
    length = end - run_start[m]
    time_below[m] += length
    longest_below[m] = max(longest_below[m], length)


@jit
def piece_runs(p0, p1, c0, c1, t, h, rc, v, levels, in_run, run_start, time_below, longest_below):
    """Update the runs below each level over a monotone piece [p0, p1] of one step.

    c0 and c1 are the concentrations at its ends [ng/mL]; a crossing is located by bisection on
    the continuous extension (step start t, size h, coefficients rc, volume v).
    """
    for m in range(levels.shape[0]):
        level = levels[m]
        below0 = c0 < level
        below1 = c1 < level
        if below0 and below1:
            if not in_run[m]:
                in_run[m] = True
                run_start[m] = p0
        elif not below0 and not below1:
            if in_run[m]:
                close_run(m, p0, run_start, time_below, longest_below)
                in_run[m] = False
        else:
            lo = p0
            hi = p1
            for _ in range(BISECTION_STEPS):
                mid = 0.5 * (lo + hi)
                if mid <= lo or mid >= hi:
                    break
                below = dense_value((mid - t) / h, rc) / v * NG_PER_ML_PER_MG_PER_L < level
                if below == below0:
                    lo = mid
                else:
                    hi = mid
            r = 0.5 * (lo + hi)
            if below0:
                if not in_run[m]:
                    run_start[m] = p0
                close_run(m, r, run_start, time_below, longest_below)
                in_run[m] = False
            else:
                if in_run[m]:
                    close_run(m, p0, run_start, time_below, longest_below)
                in_run[m] = True
                run_start[m] = r


@jit
def step_statistics(t, h, t_new, a, b, ac, ac_new, rc, v, levels, in_run, run_start, time_below, longest_below, peak):
    """Threshold runs and peak over [a, b], the part of the accepted step [t, t_new] in the window.

    [a, b] is cut into N_SUB equal pieces; a piece whose interpolated slope changes sign is split
    at the extremum (bisection on the slope), and each monotone piece goes to `piece_runs`.
    ``peak[0]`` takes the maximum of C at all piece ends and extrema. [ng/mL]
    """
    s0 = a
    th0 = (a - t) / h
    c0 = (ac if a == t else dense_value(th0, rc)) / v * NG_PER_ML_PER_MG_PER_L
    d0 = dense_slope(th0, rc)
    peak[0] = max(peak[0], c0)
    for j in range(1, N_SUB + 1):
        s1 = b if j == N_SUB else a + (b - a) * (j / N_SUB)
        th1 = (s1 - t) / h
        if s1 == t_new:
            c1 = ac_new / v * NG_PER_ML_PER_MG_PER_L
        else:
            c1 = dense_value(th1, rc) / v * NG_PER_ML_PER_MG_PER_L
        d1 = dense_slope(th1, rc)
        if (d0 > 0.0 and d1 < 0.0) or (d0 < 0.0 and d1 > 0.0):
            rising = d0 > 0.0
            lo = s0
            hi = s1
            for _ in range(BISECTION_STEPS):
                mid = 0.5 * (lo + hi)
                if mid <= lo or mid >= hi:
                    break
                if (dense_slope((mid - t) / h, rc) > 0.0) == rising:
                    lo = mid
                else:
                    hi = mid
            se = 0.5 * (lo + hi)
            ce = dense_value((se - t) / h, rc) / v * NG_PER_ML_PER_MG_PER_L
            peak[0] = max(peak[0], ce)
            piece_runs(s0, se, c0, ce, t, h, rc, v, levels, in_run, run_start, time_below, longest_below)
            piece_runs(se, s1, ce, c1, t, h, rc, v, levels, in_run, run_start, time_below, longest_below)
        else:
            piece_runs(s0, s1, c0, c1, t, h, rc, v, levels, in_run, run_start, time_below, longest_below)
        peak[0] = max(peak[0], c1)
        s0 = s1
        c0 = c1
        d0 = d1


@jit
def integrate_segment(
    ts, te, ad, ac, fd, fc, h, par, v, rtol, atol, steps_left,
    obs_time, obs_left, o, conc,
    stats, window_start, window_end, levels, in_run, run_start, time_below, longest_below, peak,
    kc, rc,
):
    """Integrate from ts to te, where no event lies strictly between, with first step h.

    Writes the concentrations [ng/mL] of the observations in [ts, te] from index `o` on (at ts
    only right values, at te only left limits; the others belong to the neighbouring segments)
    and, if `stats`, the threshold runs and the peak over the accepted steps.

    Returns
    -------
    (ad, ac, h_start, o, n_steps, status)
        State at te, the step size proposed after the first accepted step (a good first step for
        a segment of the same length, see `cached_step`; 0 if none), the next observation index,
        the number of steps attempted and the status code.
    """
    n_obs = obs_time.shape[0]
    while o < n_obs and obs_time[o] <= ts:
        conc[o] = ac / v * NG_PER_ML_PER_MG_PER_L
        o += 1
    t = ts
    n = 0
    h_start = 0.0
    first = True
    rejected = False
    while t < te:
        if n >= steps_left:
            return ad, ac, h_start, o, n, STATUS_MAX_STEPS
        if t + STRETCH * h >= te:  # the last step: any size (events may lie an ulp apart)
            h_try = te - t
            t_new = te
        elif h >= MIN_STEP_ULPS * EPS * abs(t):
            h_try = h
            t_new = t + h
        else:
            return ad, ac, h_start, o, n, STATUS_STEP_UNDERFLOW
        ad_new, ac_new, fd_new, fc_new, err = dopri_step(t, h_try, ad, ac, fd, fc, par, rtol, atol, kc)
        n += 1
        if not (math.isfinite(err) and math.isfinite(ad_new) and math.isfinite(ac_new)):
            return ad, ac, h_start, o, n, STATUS_NOT_FINITE
        if err < 1.0:
            factor = MAX_FACTOR if err == 0.0 else min(MAX_FACTOR, SAFETY * err ** ERROR_EXPONENT)
            if rejected:
                factor = min(1.0, factor)
            if first:
                h_start = h_try * factor
                first = False
            dense = False
            while o < n_obs and (
                obs_time[o] < t_new or (obs_time[o] == t_new and (obs_left[o] or t_new < te))
            ):
                if obs_time[o] == t_new:
                    amount = ac_new
                else:
                    if not dense:
                        dense_coefficients(h_try, ac, ac_new, kc, rc)
                        dense = True
                    amount = dense_value((obs_time[o] - t) / h_try, rc)
                conc[o] = amount / v * NG_PER_ML_PER_MG_PER_L
                o += 1
            if stats:
                a = max(t, window_start)
                b = min(t_new, window_end)
                if a < b:
                    if not dense:
                        dense_coefficients(h_try, ac, ac_new, kc, rc)
                    step_statistics(
                        t, h_try, t_new, a, b, ac, ac_new, rc, v,
                        levels, in_run, run_start, time_below, longest_below, peak,
                    )
            h = h_try * factor
            t = t_new
            ad = ad_new
            ac = ac_new
            fd = fd_new
            fc = fc_new
            rejected = False
        else:
            h = h_try * max(MIN_FACTOR, SAFETY * err ** ERROR_EXPONENT)
            rejected = True
    while o < n_obs and obs_time[o] == te and obs_left[o]:
        conc[o] = ac / v * NG_PER_ML_PER_MG_PER_L
        o += 1
    return ad, ac, h_start, o, n, STATUS_OK


@jit
def cached_step(span, cache_span, cache_h):
    """First step remembered for a segment of this length (relative match 1e-12), else 0."""
    for i in range(cache_span.shape[0]):
        if abs(cache_span[i] - span) <= 1e-12 * span:
            return cache_h[i]
    return 0.0


@jit
def remember_step(span, h, cache_span, cache_h):
    """Remember h as the first step for segments of length `span` (replacing the oldest entry)."""
    n = cache_span.shape[0]
    for i in range(n):
        if abs(cache_span[i] - span) <= 1e-12 * span:
            cache_h[i] = h
            return
    for i in range(n - 1, 0, -1):
        cache_span[i] = cache_span[i - 1]
        cache_h[i] = cache_h[i - 1]
    cache_span[0] = span
    cache_h[0] = h


@jit
def simulate_subject(
    t0, ad, ac, input_time, input_amount, d1, change_time, ka, k, v,
    obs_time, obs_left, window_start, window_end, levels,
    tv, clock_t, clock_tau, clock_slope, rtol, atol, max_steps,
    conc, time_below, longest_below, peak,
    kc, rc, in_run, run_start, cache_span, cache_h,
):
    """Run one subject from event to event (arguments as in `simulate_population_ode`; per-subject ones as one row).

    ``kc, rc, in_run, run_start, cache_span, cache_h`` are scratch buffers. Returns
    ``(status, n_steps)``.
    """
    n_in = input_time.shape[0]
    n_ch = change_time.shape[0]
    n_ck = clock_t.shape[0]
    n_obs = obs_time.shape[0]
    n_lev = levels.shape[0]
    stats = n_lev > 0
    drifting = tv[0] != 0.0 or tv[2] != 0.0 or tv[4] != 0.0 or tv[6] != 0.0
    cache_span[:] = -1.0
    cache_h[:] = 0.0

    o = 0
    while o < n_obs and (obs_time[o] < t0 or (obs_time[o] == t0 and obs_left[o])):
        conc[o] = 0.0  # no drug before the start
        o += 1
    t_end = obs_time[n_obs - 1] if n_obs > 0 else -math.inf
    if stats:
        t_end = max(t_end, window_end)
        peak[0] = 0.0
        for m in range(n_lev):
            time_below[m] = 0.0
            longest_below[m] = 0.0
            in_run[m] = window_start < min(t0, window_end) and levels[m] > 0.0
            run_start[m] = window_start

    t = t0
    rate = 0.0
    active = 0
    p = 0
    while p < n_ch and change_time[p] <= t:
        p += 1
    q = 0
    while q < n_ck and clock_t[q] <= t:
        q += 1
    ji = 0
    je = 0 if d1 > 0.0 else n_in
    status = STATUS_OK
    n_steps = 0
    while True:
        # Events at t (as in _exact_kernels.walk), then the next event time.
        while ji < n_in and input_time[ji] == t:
            amount = input_amount[ji]
            if amount > 0.0:
                if d1 > 0.0:
                    rate += amount / d1
                    active += 1
                else:
                    ad += amount
            ji += 1
        while je < n_in and input_time[je] + d1 == t:
            amount = input_amount[je]
            if amount > 0.0:
                active -= 1
                rate = 0.0 if active == 0 else rate - amount / d1
            je += 1
        while p < n_ch and change_time[p] == t:
            p += 1
        while q < n_ck and clock_t[q] == t:
            q += 1
        while ji < n_in and input_amount[ji] == 0.0:
            ji += 1
        while je < n_in and input_amount[je] == 0.0:
            je += 1
        t_next = math.inf
        if ji < n_in:
            t_next = input_time[ji]
        if je < n_in:
            t_next = min(t_next, input_time[je] + d1)
        if p < n_ch:
            t_next = min(t_next, change_time[p])
        if q < n_ck:
            t_next = min(t_next, clock_t[q])
        if t_end < t:
            break
        te = min(t_next, t_end)

        tau = 0.0
        slope = 0.0
        knot = 0.0
        if n_ck > 0:
            c = max(q - 1, 0)
            tau = clock_tau[c]
            slope = clock_slope[c]
            knot = clock_t[c]
        ka_p = ka[p]
        k_p = k[p]
        varying = 0.0
        if slope != 0.0 and drifting:
            varying = 1.0
        else:  # constant rates on this segment: apply g once
            ka_p *= drift(tau, tv[0], tv[1], tv[2], tv[3])
            k_p *= drift(tau, tv[4], tv[5], tv[6], tv[7])
        par = (ka_p, k_p, rate, tau, slope, knot, tv[0], tv[1], tv[2], tv[3], tv[4], tv[5], tv[6], tv[7], varying)
        fd, fc = rhs(t, ad, ac, par)
        if not (math.isfinite(ad) and math.isfinite(ac) and math.isfinite(fd) and math.isfinite(fc)):
            status = STATUS_NOT_FINITE
            break
        span = te - t
        h = 0.0
        if span > 0.0:
            h = cached_step(span, cache_span, cache_h)
            if h == 0.0:
                h = initial_step(t, ad, ac, fd, fc, par, rtol, atol, span)
        ad, ac, h_start, o, n, status = integrate_segment(
            t, te, ad, ac, fd, fc, h, par, v[p], rtol, atol, max_steps - n_steps,
            obs_time, obs_left, o, conc,
            stats, window_start, window_end, levels, in_run, run_start, time_below, longest_below, peak,
            kc, rc,
        )
        n_steps += n
        if status != STATUS_OK:
            break
        if h_start > 0.0:
            remember_step(span, h_start, cache_span, cache_h)
        t = te
        if t_next > t_end:
            break

    if status != STATUS_OK:
        for i in range(o, n_obs):
            conc[i] = math.nan
        if stats:
            peak[0] = math.nan
            for m in range(n_lev):
                time_below[m] = math.nan
                longest_below[m] = math.nan
    else:
        # Right values at t_end, the end of the last segment (no event there, else it would have
        # opened a zero-length segment that took them).
        while o < n_obs:
            conc[o] = ac / v[p] * NG_PER_ML_PER_MG_PER_L
            o += 1
        if stats:
            for m in range(n_lev):
                if in_run[m]:
                    close_run(m, window_end, run_start, time_below, longest_below)
    return status, n_steps


@jit
def simulate_population_ode(
    t0, ad0, ac0, input_time, input_amount, d1, change_time, ka, k, v,
    obs_time, obs_left, window_start, window_end, levels,
    tv, clock_t, clock_tau, clock_slope, rtol, atol, max_steps,
    conc, time_below, longest_below, peak, status, n_steps,
):
    """Run every subject with the adaptive integrator: concentrations and threshold statistics.

    Arguments up to ``levels`` and the outputs ``conc, time_below, longest_below, peak`` are those
    of ``_exact_kernels.simulate_population`` (per-subject arrays with the subject on axis 0;
    ``obs_time`` sorted, left limits first at equal times; threshold statistics skipped when
    ``levels`` is empty). The extras:

    tv
        (8,): (a, b, c, d) of g for ka, then for CL, shared by all subjects (like the clock); all
        zero for constant rates. d + tau must stay > 0 where c != 0.
    clock_t, clock_tau, clock_slope
        Knots of the time-on-therapy clock, shared by all subjects: times [h] (sorted), clock
        readings [h] and speeds (1 running, 0 paused; a reset is a knot with reading 0). Each knot
        is an event. Before the first knot the first piece is extrapolated; no knots means tau = 0.
    rtol, atol
        Relative and absolute tolerances (atol on amounts, mg).
    max_steps
        Steps (accepted and rejected) allowed per subject.
    status, n_steps
        (n,) int64 outputs: status code (0 ok, 1 max_steps exceeded, 2 step size underflow,
        3 non-finite state) and steps attempted. A subject that fails gets NaN for the outputs
        not yet written and for its threshold statistics.
    """
    n_sub = input_time.shape[0]
    n_lev = levels.shape[0]
    kc = np.empty(7)
    rc = np.empty(5)
    in_run = np.zeros(n_lev, dtype=np.bool_)
    run_start = np.zeros(n_lev)
    cache_span = np.empty(4)
    cache_h = np.empty(4)
    peak_s = np.zeros(1)
    for s in range(n_sub):
        status[s], n_steps[s] = simulate_subject(
            t0[s], ad0[s], ac0[s], input_time[s], input_amount[s], d1[s], change_time, ka[s], k[s], v[s],
            obs_time, obs_left, window_start, window_end, levels,
            tv, clock_t, clock_tau, clock_slope, rtol, atol, max_steps,
            conc[s], time_below[s], longest_below[s], peak_s,
            kc, rc, in_run, run_start, cache_span, cache_h,
        )
        if n_lev > 0:
            peak[s] = peak_s[0]
