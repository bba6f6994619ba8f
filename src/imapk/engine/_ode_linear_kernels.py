"""Adaptive Runge-Kutta kernels of the linear multi-compartment family with time-varying rates (numba).

The structure and the state layout are those of :mod:`imapk.engine._linear_kernels`: ``n_tr``
transit compartments (rate ktr), ``n_abs`` (0 or 1) absorption compartment (rate ka), the
central compartment c = n_tr + n_abs (elimination k10 = CL/V, distribution k12 = Q/V) and
``n_per`` (0 or 1) peripheral compartment (return k21 = Q/Vp); amounts in mg. Between events

    dx/dt = A(t) x + r,     ka_eff = ka_seg g(tau; tv[0:4]),   k10_eff = k10_seg g(tau; tv[4:8])

with A the compartmental matrix of the structure at (ktr, ka_eff, k10_eff, k12, k21), r the
zero-order input rates into the head of the chain and into central, and g and the time-on-therapy
clock tau(t) exactly those of the one-compartment ODE kernel (``_ode_kernels.drift``; the knots of
the clock are events). ktr, k12 and k21 do not vary with tau. The event semantics are those of
``_linear_kernels.walk_linear`` (inputs into the head or central, bolus or zero-order with a
duration per input, infusion ends and parameter changes at the same times, zero amounts skipped,
left limits, C = 0 before the start); integration restarts at every event and never steps
across one.

Integrator: the Dormand-Prince 8(5,3) pair of ``_ode_kernels`` (same tableau, FSAL, step control,
initial step heuristic, 7th-order dense output of the central amount, first-step cache, status
codes, threshold statistics and peak from the dense output: see that module), written here for a
state vector. The error norm is Hairer's, as there and in scipy's DOP853, over all compartments:
``|h| err5^2 / sqrt(n (err5^2 + 0.01 err3^2))`` with the squared norms of
err_i / (atol + rtol max(|x_i|, |x_new_i|)) summed over the n compartments; ``atol`` is in mg.

Step caps. A is block lower triangular: the chain (transit, absorption) is triangular with
eigenvalues -ktr and -ka_eff, and the central/peripheral block has two real negative eigenvalues
whose sum is -(k10_eff + k12 + k21), so that sum bounds the fast one (the largest |A_ii| alone,
k10 + k12 or k21, would not: the fast eigenvalue exceeds both and can approach their sum). Two
caps follow, and a step takes the smaller:

- the chain compartments that hold drug or receive it: h ktr and h ka_eff at most
  ``_ode_kernels.STIFF_LIMIT`` = 4, inside DOP853's stability interval [-6.39, 0], as the
  one-compartment kernel caps ka. These amounts only decay once their input has passed: either
  the error control resolves them or they are emptied (below).
- the disposition block: h (k10_eff + k12 + k21) at most ``DISPOSITION_LIMIT`` = 1. Its fast
  (distribution) mode carries drug after every dose and every parameter change, and the
  DOP853 estimate does not guard it at large h: in ``err5^2 / sqrt(err5^2 + 0.01 err3^2)`` the
  large 3rd-order error of the slow mode damps the 5th-order error of the fast one. At h alpha = 4
  the interpolant is off by 5 % of the fast mode's amount (measured: 13 tolerances at rtol 1e-10
  after a parameter change in a hold); at h alpha <= 1 by 1e-6 of it. For Eechoute's disposition
  the cap is 2.6 h: about the longest step between daily doses at rtol 1e-6 (one step more per
  dose), longer than those at 1e-8; it binds in holds.

Emptied chain compartments. After an oral dose the transit and absorption compartments empty
exponentially but never to exact zero (at ktr = 15.8/h a day leaves 1e-165 of the dose), so
"holds drug" must mean "holds a non-negligible amount", or the cap 4/ktr ~ 0.25 h would hold for
the whole interval. After each accepted step, while no zero-order input runs into the head, the
leading compartments of the chain that hold at most ``FLUSH_FRACTION * atol`` are set to exactly
0 (up to the first one holding more: those after it still receive drug), and f is evaluated
again at the flushed state. Each compartment is flushed at most once per input, so the drug
removed is at most ``(n_tr + n_abs) FLUSH_FRACTION atol`` per dose: with FLUSH_FRACTION = 1e-3,
a few thousandths of atol, against the integration's own error of order atol + rtol |x|.

Threshold statistics and the peak come from the dense output of the central amount as in
``_ode_kernels.step_statistics`` (the same function), accurate to the integration tolerance.

Work and accuracy. Eechoute 2012's structure (five transit compartments at 15.8/h, two
compartments) at rtol = atol = 1e-8 takes about 58 steps per daily dose (124 without emptying the
chain; scipy's DOP853 takes about 92 on the same system), most of them in the first hours, where
the transit pulse moves hundreds of mg at rate 15.8/h. Against the exact path, the central
concentrations stay within 2.5 (atol 1000 / V + rtol |C|) from rtol 1e-6 to 1e-10
(``tests/test_ode_linear.py``). On the one-compartment layout with first-order input the kernel does
the one-compartment kernel's operations in the same order: the same bits while the depot is not
emptied.

Subjects are independent: `simulate_population_ode_linear` runs blocks of them on several
threads when called from the main thread (as ``_ode_kernels.simulate_population_ode``), with the
same results. Every kernel also runs as plain Python (see ``_numba.load_uncompiled``).

- Hairer E, Norsett SP, Wanner G. Solving Ordinary Differential Equations I, 2nd ed. Springer
  1993, II.4-II.6 (step control, DOP853, dense output).
- Jacquez JA. Compartmental Analysis in Biology and Medicine, 3rd ed. BioMedware 1996, ch. 3
  (compartmental matrices: real eigenvalues of the mammillary and catenary systems).
"""

from __future__ import annotations

import math

import numpy as np

from ._exact_kernels import close_run
from ._numba import jit, parallel_threads, run_blocks
from ._ode_kernels import (
    DOP853_A,
    DOP853_C,
    DOP853_D,
    DOP853_E3,
    DOP853_E5,
    EPS,
    MAX_FACTOR,
    MIN_FACTOR,
    MIN_PARALLEL_WORK,
    MIN_STEP_ULPS,
    N_STAGES,
    NG_PER_ML_PER_MG_PER_L,
    PARALLEL_BLOCKS_PER_THREAD,
    SAFETY,
    STATUS_MAX_STEPS,
    STATUS_NOT_FINITE,
    STATUS_OK,
    STATUS_STEP_UNDERFLOW,
    STIFF_LIMIT,
    STRETCH,
    cached_step,
    dense_value,
    drift,
    eighth_root,
    remember_step,
    step_statistics,
)

#: A leading chain compartment holding at most this fraction of atol is emptied (module docstring).
FLUSH_FRACTION = 1e-3
#: Largest step times the fast disposition rate k10 + k12 + k21 (module docstring): where DOP853 is
#: accurate for that mode (|R(-1) - e^-1| = 3e-8, dense output 1e-6), not merely stable.
DISPOSITION_LIMIT = 1.0
#: Stages of the dense output (0-12 make the step, 13-15 serve only the interpolant).
N_DENSE_STAGES = 16

# Layout of the per-segment parameter tuple `par` (a tuple: no aliasing, no allocation).
R_KTR = 0  # ktr [1/h]
R_KA = 1  # ka of the parameter segment [1/h] (times g if the rates are constant on the segment)
R_K10 = 2  # k10 = CL / V of the parameter segment [1/h] (likewise)
R_K12 = 3  # Q / V [1/h]
R_K21 = 4  # Q / Vp [1/h]
R_HEAD = 5  # zero-order input rate into the head of the chain [mg/h]
R_CENTRAL = 6  # zero-order input rate into central [mg/h]
R_TAU = 7  # clock reading at the knot R_KNOT [h]
R_SLOPE = 8  # clock speed on this piece (1 running, 0 paused)
R_KNOT = 9  # time of the clock knot [h]
R_TV = 10  # tv[0:8]: (a, b, c, d) for ka, then for CL
R_VARYING = 18  # 1.0 if the rates change on the segment (clock running and a or c nonzero), else 0.0


@jit
def varying_rates(t, par):
    """(ka_eff, k10_eff) at time t on the segment described by `par`. [1/h]"""
    ka = par[R_KA]
    k10 = par[R_K10]
    if par[R_VARYING] != 0.0:
        tau = par[R_TAU] + par[R_SLOPE] * (t - par[R_KNOT])
        ka *= drift(tau, par[R_TV], par[R_TV + 1], par[R_TV + 2], par[R_TV + 3])
        k10 *= drift(tau, par[R_TV + 4], par[R_TV + 5], par[R_TV + 6], par[R_TV + 7])
    return ka, k10


@jit
def derivative(t, x, par, n_tr, n_abs, n_per, out):
    """out = A(t) x + r: the rate of change of every compartment at time t. [mg/h]

    The chain is walked from the head: each compartment passes its outflow on to the next, the
    last one into central.
    """
    ka, k10 = varying_rates(t, par)
    ktr = par[R_KTR]
    c = n_tr + n_abs
    passed = par[R_HEAD]
    for i in range(c):
        leaving = (ka if i == n_tr else ktr) * x[i]
        out[i] = passed - leaving
        passed = leaving
    central = passed + par[R_CENTRAL] - k10 * x[c]
    if n_per == 1:
        exchange = par[R_K12] * x[c] - par[R_K21] * x[c + 1]
        out[c + 1] = exchange
        central -= exchange
    out[c] = central


@jit
def step_limit(t, x, par, n_tr, n_abs, n_per):
    """Largest step at time t: the stability cap of the excited chain rates and the accuracy cap of
    the disposition block (module docstring). [h]"""
    ka, k10 = varying_rates(t, par)
    disposition = k10 + par[R_K12] + par[R_K21] if n_per == 1 else k10
    chain = 0.0
    filled = par[R_HEAD] != 0.0
    for i in range(n_tr + n_abs):
        filled = filled or x[i] != 0.0
        if filled:
            chain = max(chain, ka if i == n_tr else par[R_KTR])
    h = DISPOSITION_LIMIT / disposition if disposition > 0.0 else math.inf
    if chain > 0.0:
        h = min(h, STIFF_LIMIT / chain)
    return h


@jit
def flush_chain(x, n_chain, rate_head, threshold):
    """Empty the leading chain compartments holding at most `threshold` mg (module docstring).

    Nothing is flushed while input runs into the head. Returns True if the state changed.
    """
    if rate_head != 0.0:
        return False
    changed = False
    for i in range(n_chain):
        if x[i] == 0.0:
            continue
        if not abs(x[i]) <= threshold:
            break
        x[i] = 0.0
        changed = True
    return changed


@jit
def stage_state(s, h, x, k, out):
    """out = x + h sum_{j<s} A[s, j] k[j]: the state at which stage s is evaluated (s = 12: the new state)."""
    for i in range(x.shape[0]):
        acc = 0.0
        for j in range(s):
            acc += DOP853_A[s, j] * k[j, i]
        out[i] = x[i] + h * acc


@jit
def rms_scaled(u, x, rtol, atol):
    """sqrt(mean_i (u_i / (atol + rtol |x_i|))^2): the norm of the initial step heuristic."""
    n = x.shape[0]
    total = 0.0
    for i in range(n):
        total += (u[i] / (atol + rtol * abs(x[i]))) ** 2
    return math.sqrt(total / n)


@jit
def initial_step_vector(t, x, f, par, n_tr, n_abs, n_per, rtol, atol, span, y, g):
    """First step size on a segment of length `span` (Hairer et al. II.4; scipy select_initial_step).

    `y` and `g` are scratch vectors.
    """
    n = x.shape[0]
    d0 = rms_scaled(x, x, rtol, atol)
    d1 = rms_scaled(f, x, rtol, atol)
    if d0 < 1e-5 or d1 < 1e-5:
        h0 = 1e-6
    else:
        h0 = 0.01 * d0 / d1
    h0 = min(h0, span)
    for i in range(n):
        y[i] = x[i] + h0 * f[i]
    derivative(t + h0, y, par, n_tr, n_abs, n_per, g)
    for i in range(n):
        g[i] -= f[i]
    d2 = rms_scaled(g, x, rtol, atol) / h0
    if d1 <= 1e-15 and d2 <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = eighth_root(0.01 / max(d1, d2))
    return min(100.0 * h0, h1, span)


@jit
def dop853_step_vector(t, h, x, par, n_tr, n_abs, n_per, rtol, atol, k, y, x_new):
    """One Dormand-Prince 8(5,3) step from (t, x), with ``k[0] = f(t, x)`` on entry (FSAL).

    Fills stages 1-12 of `k` (stage 12 = f at the new state) and `x_new` (8th-order state at
    t + h); `y` is scratch. Returns the error norm (module docstring).
    """
    n = x.shape[0]
    for s in range(1, N_STAGES):
        stage_state(s, h, x, k, y)
        derivative(t + DOP853_C[s] * h, y, par, n_tr, n_abs, n_per, k[s])
    stage_state(N_STAGES, h, x, k, x_new)  # the 8th-order weights are row 12 of A
    derivative(t + h, x_new, par, n_tr, n_abs, n_per, k[N_STAGES])
    err5 = 0.0
    err3 = 0.0
    for i in range(n):
        e5 = 0.0
        e3 = 0.0
        for j in range(N_STAGES):
            e5 += DOP853_E5[j] * k[j, i]
            e3 += DOP853_E3[j] * k[j, i]
        weight = atol + rtol * max(abs(x[i]), abs(x_new[i]))
        err5 += (e5 / weight) ** 2
        err3 += (e3 / weight) ** 2
    # Guarded as in _ode_kernels.dop853_step: a subnormal err3 must not give 0/0.
    denominator = err5 + 0.01 * err3
    return 0.0 if denominator == 0.0 else abs(h) * err5 / math.sqrt(n * denominator)


@jit
def central_interpolant(t, h, x, x_new_c, par, n_tr, n_abs, n_per, k, y, rc, c):
    """Coefficients `rc` of the 7th-order continuous extension of the central amount over [t, t + h].

    Evaluates the extra stages 13-15 on the full state (every compartment feeds central), then
    ``rc = (x_c, F0, ..., F6)`` from the central column of the 16 stages, as scipy's
    ``DOP853._dense_output_impl`` does for one component (`c`: the central compartment, or the one
    observed; `x_new_c`: its amount at t + h).
    """
    for s in range(N_STAGES + 1, N_DENSE_STAGES):
        stage_state(s, h, x, k, y)
        derivative(t + DOP853_C[s] * h, y, par, n_tr, n_abs, n_per, k[s])
    rise = x_new_c - x[c]
    rc[0] = x[c]
    rc[1] = rise
    rc[2] = h * k[0, c] - rise
    rc[3] = 2.0 * rise - h * (k[N_STAGES, c] + k[0, c])
    for row in range(4):
        total = 0.0
        for j in range(N_DENSE_STAGES):
            total += DOP853_D[row, j] * k[j, c]
        rc[4 + row] = h * total


@jit
def all_finite(u):
    """True if every entry of the vector `u` is finite."""
    for i in range(u.shape[0]):
        if not math.isfinite(u[i]):
            return False
    return True


@jit
def step_growth(err, rejected):
    """h_new / h after an accepted step of error norm `err` (Hairer et al. II.4, as in
    ``_ode_kernels``: at most MAX_FACTOR, and no growth right after a rejection)."""
    growth = MAX_FACTOR if err == 0.0 else min(MAX_FACTOR, SAFETY / eighth_root(err))
    return min(1.0, growth) if rejected else growth


@jit
def choose_step(t, te, h):
    """(size, end) of the next attempt from t towards the segment end te with proposed size h.

    The last step of a segment takes any size (events may lie an ulp apart); any other step
    below ``MIN_STEP_ULPS`` ulps of t is an underflow, returned as size 0.
    """
    if t + STRETCH * h >= te:
        return te - t, te
    if h >= MIN_STEP_ULPS * EPS * abs(t):
        return h, t + h
    return 0.0, t


@jit
def in_step(o, obs_time, obs_left, t_new, te):
    """Whether observation o belongs to the accepted step ending at t_new <= te: before t_new, or at
    t_new as a left limit or strictly inside the segment (right values at te belong to the next)."""
    when = obs_time[o]
    return when < t_new or (when == t_new and (obs_left[o] or t_new < te))


@jit
def record_step(
    t, h, t_new, te, x, x_new, par, n_tr, n_abs, n_per, v, o, obs_time, obs_left, conc,
    stats, window_start, window_end, levels, in_run, run_start, time_below, longest_below, peak, k, y, rc, c,
):
    """Outputs of the accepted step [t, t_new] (size h): the concentrations of its observations
    [ng/mL], and with `stats` the threshold runs and the peak over its part in the window, from
    the continuous extension (computed once, if needed); `c` is the observed compartment (central
    whenever there are statistics). Returns the next observation index."""
    interpolated = False
    while o < obs_time.shape[0] and in_step(o, obs_time, obs_left, t_new, te):
        amount = x_new[c]
        if obs_time[o] != t_new:
            if not interpolated:
                central_interpolant(t, h, x, x_new[c], par, n_tr, n_abs, n_per, k, y, rc, c)
                interpolated = True
            amount = dense_value((obs_time[o] - t) / h, rc)
        conc[o] = amount / v * NG_PER_ML_PER_MG_PER_L
        o += 1
    a = max(t, window_start)
    b = min(t_new, window_end)
    if stats and a < b:
        if not interpolated:
            central_interpolant(t, h, x, x_new[c], par, n_tr, n_abs, n_per, k, y, rc, c)
        step_statistics(t, h, t_new, a, b, x[c], x_new[c], rc, v, levels, in_run, run_start, time_below,
                        longest_below, peak)
    return o


@jit
def integrate_segment_linear(
    ts, te, x, h, par, n_tr, n_abs, n_per, v, rtol, atol, steps_left,
    obs_time, obs_left, o, conc,
    stats, window_start, window_end, levels, in_run, run_start, time_below, longest_below, peak,
    k, y, x_new, rc, observed,
):
    """Integrate from ts to te, where no event lies strictly between, with first step h.

    `x` is the state at ts on entry and at te on exit, ``k[0]`` the slope f(ts, x) on entry and
    f(te, x) on exit. Observations, threshold runs and the peak as in
    ``_ode_kernels.integrate_segment`` (at ts only right values, at te only left limits).

    Returns
    -------
    (h_start, o, n_steps, status)
        The step size proposed after the first accepted step (0 if none), the next observation
        index, the number of steps attempted and the status code.
    """
    c = n_tr + n_abs
    last = max(o, np.searchsorted(obs_time, ts, side="right"))  # right values at ts (and stragglers)
    conc[o:last] = x[observed] / v * NG_PER_ML_PER_MG_PER_L
    o = last
    threshold = FLUSH_FRACTION * atol
    t = ts
    count = 0
    h_start = 0.0
    rejected = False
    while t < te:
        if count >= steps_left:
            return h_start, o, count, STATUS_MAX_STEPS
        h_try, t_new = choose_step(t, te, min(h, step_limit(t, x, par, n_tr, n_abs, n_per)))
        if h_try == 0.0:
            return h_start, o, count, STATUS_STEP_UNDERFLOW
        err = dop853_step_vector(t, h_try, x, par, n_tr, n_abs, n_per, rtol, atol, k, y, x_new)
        count += 1
        if not (math.isfinite(err) and all_finite(x_new)):
            return h_start, o, count, STATUS_NOT_FINITE
        if err >= 1.0:  # rejected: shrink and try again
            h = h_try * max(MIN_FACTOR, SAFETY / eighth_root(err))
            rejected = True
            continue
        growth = step_growth(err, rejected)
        if h_start == 0.0:
            h_start = h_try * growth
        o = record_step(t, h_try, t_new, te, x, x_new, par, n_tr, n_abs, n_per, v, o, obs_time, obs_left, conc,
                        stats, window_start, window_end, levels, in_run, run_start, time_below, longest_below,
                        peak, k, y, rc, observed)
        h = h_try * growth
        t = t_new
        x[:] = x_new
        k[0, :] = k[N_STAGES, :]  # FSAL
        if flush_chain(x, c, par[R_HEAD], threshold):
            derivative(t, x, par, n_tr, n_abs, n_per, k[0])
        rejected = False
    while o < obs_time.shape[0] and obs_time[o] == te and obs_left[o]:  # left limits at te
        conc[o] = x[observed] / v * NG_PER_ML_PER_MG_PER_L
        o += 1
    return h_start, o, count, STATUS_OK


@jit
def open_outputs(t0, obs_time, obs_left, conc, window_start, window_end, levels, in_run, run_start,
                 time_below, longest_below, peak):
    """Start a subject's outputs: C = 0 at the observations before t0 (and left limits at t0); the
    runs below each level start at the window's start if it precedes t0. Returns the next observation."""
    o = np.searchsorted(obs_time, t0)
    while o < obs_time.shape[0] and obs_time[o] == t0 and obs_left[o]:
        o += 1
    conc[:o] = 0.0  # no drug before the start
    peak[0] = 0.0
    time_below[:] = 0.0
    longest_below[:] = 0.0
    run_start[:] = window_start
    for m in range(levels.shape[0]):
        in_run[m] = window_start < min(t0, window_end) and levels[m] > 0.0
    return o


@jit
def close_outputs(status, o, amount, v, conc, stats, window_end, in_run, run_start, time_below, longest_below,
                  peak):
    """End a subject's outputs. On failure NaN for the observations from o on and the statistics;
    else the observations after the last segment get the right value there (central `amount`
    over `v`) and the open runs close at the window's end."""
    if status != STATUS_OK:
        conc[o:] = math.nan
        if stats:
            peak[0] = math.nan
            time_below[:] = math.nan
            longest_below[:] = math.nan
        return
    conc[o:] = amount / v * NG_PER_ML_PER_MG_PER_L
    if stats:
        for m in range(in_run.shape[0]):
            if in_run[m]:
                close_run(m, window_end, run_start, time_below, longest_below)


@jit
def apply_inputs_linear(t, ji, je, input_time, input_amount, input_dur, input_target, end_time, end_order, c, x,
                        rate_head, rate_central, running_head, running_central):
    """Inputs starting and ending at t, as ``_linear_kernels.walk_linear`` applies them: a bolus adds
    to the head (index 0) or central (index c), a zero-order input adds its rate to its target until
    its end; the rate returns to exactly 0 when the last running input of a target ends.

    Returns the updated ``(ji, je, rate_head, rate_central, running_head, running_central)``.
    """
    n_in = input_time.shape[0]
    while ji < n_in and input_time[ji] == t:
        amount = input_amount[ji]
        into_head = input_target[ji] == 0
        if amount > 0.0 and input_dur[ji] > 0.0:
            if into_head:
                rate_head += amount / input_dur[ji]
                running_head += 1
            else:
                rate_central += amount / input_dur[ji]
                running_central += 1
        elif amount > 0.0:
            x[0 if into_head else c] += amount
        ji += 1
    while je < n_in and end_time[end_order[je]] == t:
        ending = end_order[je]
        if input_target[ending] == 0:
            running_head -= 1
            rate_head = 0.0 if running_head == 0 else rate_head - input_amount[ending] / input_dur[ending]
        else:
            running_central -= 1
            rate_central = 0.0 if running_central == 0 else rate_central - input_amount[ending] / input_dur[ending]
        je += 1
    return ji, je, rate_head, rate_central, running_head, running_central


@jit
def next_event_linear(ji, je, p, q, input_time, input_amount, end_time, end_order, change_time, clock_t):
    """Skip inputs of zero amount; return (ji, the time of the next input start, input end,
    parameter change or clock knot), the time being inf when none is left."""
    n_in = input_time.shape[0]
    while ji < n_in and input_amount[ji] == 0.0:
        ji += 1
    t_next = input_time[ji] if ji < n_in else math.inf
    if je < n_in:
        t_next = min(t_next, end_time[end_order[je]])
    if p < change_time.shape[0]:
        t_next = min(t_next, change_time[p])
    if q < clock_t.shape[0]:
        t_next = min(t_next, clock_t[q])
    return ji, t_next


@jit
def segment_parameters(p, q, tv, drifting, clock_t, clock_tau, clock_slope, ktr, ka, k10, k12, k21,
                       rate_head, rate_central):
    """The parameter tuple `par` of the segment in parameter segment p and clock piece q - 1."""
    tau = 0.0
    slope = 0.0
    knot = 0.0
    if clock_t.shape[0] > 0:
        piece = max(q - 1, 0)
        tau, slope, knot = clock_tau[piece], clock_slope[piece], clock_t[piece]
    varying = 1.0 if (slope != 0.0 and drifting) else 0.0
    ka_p = ka[p]
    k10_p = k10[p]
    if varying == 0.0:  # constant rates on this segment: apply g once
        ka_p *= drift(tau, tv[0], tv[1], tv[2], tv[3])
        k10_p *= drift(tau, tv[4], tv[5], tv[6], tv[7])
    return (
        ktr[p], ka_p, k10_p, k12[p], k21[p], rate_head, rate_central, tau, slope, knot,
        tv[0], tv[1], tv[2], tv[3], tv[4], tv[5], tv[6], tv[7], varying,
    )


@jit
def simulate_subject_linear(
    t0, x0, input_time, input_amount, input_dur, input_target, change_time,
    n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, v,
    obs_time, obs_left, window_start, window_end, levels,
    tv, clock_t, clock_tau, clock_slope, rtol, atol, max_steps,
    conc, time_below, longest_below, peak,
    x, k, y, x_new, rc, in_run, run_start, cache_span, cache_h, end_time, observed,
):
    """Run one subject from event to event (arguments as in `simulate_population_ode_linear`; per-subject ones as one row).

    ``x, k, y, x_new, rc, in_run, run_start, cache_span, cache_h, end_time`` are scratch buffers.
    Returns ``(status, n_steps)``.
    """
    c = n_tr + n_abs
    stats = levels.shape[0] > 0
    drifting = tv[0] != 0.0 or tv[2] != 0.0 or tv[4] != 0.0 or tv[6] != 0.0
    cache_span[:] = -1.0
    cache_h[:] = 0.0
    x[:] = x0
    for i in range(input_time.shape[0]):  # zero-order inputs end; the others never
        running = input_amount[i] > 0.0 and input_dur[i] > 0.0
        end_time[i] = input_time[i] + input_dur[i] if running else math.inf
    end_order = np.argsort(end_time, kind="mergesort")
    o = open_outputs(t0, obs_time, obs_left, conc, window_start, window_end, levels, in_run, run_start,
                     time_below, longest_below, peak)
    t_end = obs_time[-1] if obs_time.shape[0] > 0 else -math.inf
    if stats:
        t_end = max(t_end, window_end)

    t = t0
    rate_head = 0.0
    rate_central = 0.0
    running_head = 0
    running_central = 0
    p = np.searchsorted(change_time, t, side="right")  # changes and knots up to t0 are in force
    q = np.searchsorted(clock_t, t, side="right")
    ji = 0
    je = 0
    status = STATUS_OK
    n_steps = 0
    while True:
        # Events at t (inputs, input ends, parameter changes, clock knots), then the next event.
        ji, je, rate_head, rate_central, running_head, running_central = apply_inputs_linear(
            t, ji, je, input_time, input_amount, input_dur, input_target, end_time, end_order, c, x,
            rate_head, rate_central, running_head, running_central,
        )
        p = np.searchsorted(change_time, t, side="right")  # parameter changes and clock knots at t
        q = np.searchsorted(clock_t, t, side="right")
        ji, t_next = next_event_linear(ji, je, p, q, input_time, input_amount, end_time, end_order, change_time, clock_t)
        if t_end < t:
            break
        te = min(t_next, t_end)
        par = segment_parameters(p, q, tv, drifting, clock_t, clock_tau, clock_slope, ktr, ka, k10, k12, k21,
                                 rate_head, rate_central)
        derivative(t, x, par, n_tr, n_abs, n_per, k[0])
        if not (all_finite(x) and all_finite(k[0])):
            status = STATUS_NOT_FINITE
            break
        span = te - t
        h = 0.0
        if span > 0.0:
            h = cached_step(span, cache_span, cache_h)
            if h == 0.0:
                h = initial_step_vector(t, x, k[0], par, n_tr, n_abs, n_per, rtol, atol, span, y, x_new)
        h_start, o, count, status = integrate_segment_linear(
            t, te, x, h, par, n_tr, n_abs, n_per, v[p], rtol, atol, max_steps - n_steps,
            obs_time, obs_left, o, conc,
            stats, window_start, window_end, levels, in_run, run_start, time_below, longest_below, peak,
            k, y, x_new, rc, observed,
        )
        n_steps += count
        if status != STATUS_OK:
            break
        if h_start > 0.0:
            remember_step(span, h_start, cache_span, cache_h)
        t = te
        if t_next > t_end:
            break
    close_outputs(status, o, x[observed], v[p], conc, stats, window_end, in_run, run_start, time_below, longest_below, peak)
    return status, n_steps


@jit
def run_subjects_linear(
    lo, hi,
    t0, x0, input_time, input_amount, input_dur, input_target, change_time,
    n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, v,
    obs_time, obs_left, window_start, window_end, levels,
    tv, clock_t, clock_tau, clock_slope, rtol, atol, max_steps,
    conc, time_below, longest_below, peak, status, n_steps, observed,
):
    """Run subjects lo to hi - 1 (arguments as in `simulate_population_ode_linear`) with scratch buffers of their own."""
    n = x0.shape[1]
    n_lev = levels.shape[0]
    x = np.empty(n)
    k = np.empty((N_DENSE_STAGES, n))
    y = np.empty(n)
    x_new = np.empty(n)
    rc = np.empty(8)
    in_run = np.zeros(n_lev, dtype=np.bool_)
    run_start = np.zeros(n_lev)
    cache_span = np.empty(4)
    cache_h = np.empty(4)
    end_time = np.empty(input_time.shape[1])
    peak_s = np.zeros(1)
    for s in range(lo, hi):
        status[s], n_steps[s] = simulate_subject_linear(
            t0[s], x0[s], input_time[s], input_amount[s], input_dur[s], input_target, change_time,
            n_tr, n_abs, n_per, ktr[s], ka[s], k10[s], k12[s], k21[s], v[s],
            obs_time, obs_left, window_start, window_end, levels,
            tv, clock_t, clock_tau, clock_slope, rtol, atol, max_steps,
            conc[s], time_below[s], longest_below[s], peak_s,
            x, k, y, x_new, rc, in_run, run_start, cache_span, cache_h, end_time, observed,
        )
        if n_lev > 0:
            peak[s] = peak_s[0]


def simulate_population_ode_linear(
    t0, x0, input_time, input_amount, input_dur, input_target, change_time,
    n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, v,
    obs_time, obs_left, window_start, window_end, levels,
    tv, clock_t, clock_tau, clock_slope, rtol, atol, max_steps,
    conc, time_below, longest_below, peak, status, n_steps, observed=-1,
):
    """Run every subject with the adaptive integrator: concentrations and threshold statistics.

    Arguments up to ``levels`` and the outputs ``conc, time_below, longest_below, peak`` are those
    of ``_linear_kernels.simulate_population_linear`` (per-subject arrays with the subject on
    axis 0; ``x0`` (n, states); ``input_target`` (inputs,) shared; ``obs_time`` sorted, left limits
    first at equal times; threshold statistics skipped when ``levels`` is empty). The extras
    ``tv, clock_t, clock_tau, clock_slope, rtol, atol, max_steps, status, n_steps`` are those of
    ``_ode_kernels.simulate_population_ode``: g's coefficients for ka then CL (here acting on ka
    and k10), the clock knots, the tolerances (atol on amounts, mg), the step limit per subject,
    and per subject the status code (0 ok, 1 max_steps exceeded, 2 step size underflow,
    3 non-finite state) and the steps attempted. A subject that fails gets NaN for the outputs
    not yet written and for its threshold statistics.

    A plain Python function: on the main thread, with several numba threads and enough work
    (``_ode_kernels.MIN_PARALLEL_WORK``), it runs blocks of subjects through the compiled
    `run_subjects_linear` (which releases the GIL) on a pool of ``_numba.parallel_threads()``
    threads; else all on the calling thread. Subjects share no state: the same bits either way.
    """
    n_sub = input_time.shape[0]
    if observed < 0:  # the central compartment
        observed = n_tr + n_abs
    threads = min(parallel_threads(), n_sub) if n_sub * input_time.shape[1] >= MIN_PARALLEL_WORK else 1
    args = (
        t0, x0, input_time, input_amount, input_dur, input_target, change_time,
        n_tr, n_abs, n_per, ktr, ka, k10, k12, k21, v,
        obs_time, obs_left, window_start, window_end, levels,
        tv, clock_t, clock_tau, clock_slope, rtol, atol, max_steps,
        conc, time_below, longest_below, peak, status, n_steps, observed,
    )
    blocks = min(n_sub, PARALLEL_BLOCKS_PER_THREAD * threads) if threads > 1 else 1
    run_blocks(lambda lo, hi: run_subjects_linear(lo, hi, *args), n_sub, threads, blocks)
