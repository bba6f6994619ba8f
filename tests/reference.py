"""Independent reference implementations of the one-compartment oral model, for tests/test_engine.py.

Nothing here imports imapk. Three independent routes to the concentration:

* superposition of textbook single-dose curves (Bateman function for first-order input, with the
  separately written limit ka t e^{-kt} at ka == k; the constant-rate infusion formula for
  zero-order input), summed with ``math.fsum``;
* the same Bateman function in 50-digit decimal arithmetic (for ka within rounding of k, where the
  textbook form cancels catastrophically in double precision);
* event-by-event integration of the ODEs  ad' = -ka ad,  ac' = ka ad - k ac + R(t)  with either
  ``scipy.linalg.expm`` of the (augmented) system matrix or ``scipy.integrate.solve_ivp``.

Units as in imapk: h, mg, L, ng/mL (= mg / L * 1000).
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np
import scipy.integrate
import scipy.linalg
import scipy.optimize

NG_PER_ML = 1000.0  # mg/L -> ng/mL


# --------------------------------------------------------------------------------------------
# Dose lists written by hand (not taken from imapk's schedule lowering)
# --------------------------------------------------------------------------------------------

def case_report_doses(days: int = 365) -> tuple[np.ndarray, np.ndarray]:
    """Scheduled times [h] and given amounts [mg] of the case report, written out by hand.

    400 mg q24h from day 1; held on days 29-42 (doses 28..41); 200 mg on days 43-49 (doses 42..48);
    300 mg on days 50-105 (doses 49..104); 400 mg again from day 106 (dose 105) on.
    """
    times = 24.0 * np.arange(days)
    amounts = np.empty(days)
    for j in range(days):
        if j < 28:
            amounts[j] = 400.0
        elif j < 42:
            amounts[j] = 0.0
        elif j < 49:
            amounts[j] = 200.0
        elif j < 105:
            amounts[j] = 300.0
        else:
            amounts[j] = 400.0
    return times, amounts


# --------------------------------------------------------------------------------------------
# Single-dose curves (concentration per mg entering at time 0)
# --------------------------------------------------------------------------------------------

def bateman_unit(dt, cl, v, ka):
    """Concentration [ng/mL] per mg of a first-order input dt hours ago (0 for dt <= 0).

    Textbook Bateman function ka / (V (ka - k)) (e^{-k t} - e^{-ka t}); for ka == k exactly the
    limit ka t e^{-k t} / V, written separately. Not accurate for 0 < |ka - k| << k (cancellation):
    use :func:`bateman_unit_decimal` there.
    """
    k = cl / v
    dt = np.asarray(dt, dtype=float)
    out = np.zeros(dt.shape)
    pos = dt > 0
    t = dt[pos]
    if ka == k:
        out[pos] = ka * t * np.exp(-k * t) / v * NG_PER_ML
    else:
        out[pos] = ka / (ka - k) * (np.exp(-k * t) - np.exp(-ka * t)) / v * NG_PER_ML
    return out


def bateman_slope_unit(dt, cl, v, ka):
    """Time derivative of :func:`bateman_unit`. [ng/mL/h per mg]"""
    k = cl / v
    dt = np.asarray(dt, dtype=float)
    out = np.zeros(dt.shape)
    pos = dt > 0
    t = dt[pos]
    if ka == k:
        out[pos] = ka * (1.0 - k * t) * np.exp(-k * t) / v * NG_PER_ML
    else:
        out[pos] = ka / (ka - k) * (-k * np.exp(-k * t) + ka * np.exp(-ka * t)) / v * NG_PER_ML
    return out


_DECIMAL_CACHE: dict = {}


def bateman_unit_decimal(dt, cl, v, ka, digits: int = 50):
    """:func:`bateman_unit` evaluated in `digits`-digit decimal arithmetic, then rounded to float.

    The rate constants are taken as the doubles ``ka`` and ``cl / v`` (converted exactly), so this
    is the exact value of the same double-precision model, free of the cancellation near ka == k.
    """
    k = cl / v
    dt = np.asarray(dt, dtype=float)
    out = np.zeros(dt.shape)
    flat_in = dt.ravel()
    flat_out = out.ravel()
    with localcontext() as ctx:
        ctx.prec = digits
        dka, dk, dv = Decimal(ka), Decimal(k), Decimal(v)
        for n, t in enumerate(flat_in):
            if t <= 0:
                continue
            key = (ka, k, v, float(t), digits)
            value = _DECIMAL_CACHE.get(key)
            if value is None:
                dt_ = Decimal(float(t))
                if dka == dk:
                    c = dka * dt_ * (-dk * dt_).exp()
                else:
                    c = dka / (dka - dk) * ((-dk * dt_).exp() - (-dka * dt_).exp())
                value = float(c / dv * 1000)
                _DECIMAL_CACHE[key] = value
            flat_out[n] = value
    return out


def infusion_slope_unit(dt, cl, v, d1):
    """Time derivative of :func:`infusion_unit` (right derivative at the end of the infusion)."""
    k = cl / v
    rate = 1.0 / d1
    dt = np.asarray(dt, dtype=float)
    out = np.zeros(dt.shape)
    during = (dt >= 0) & (dt < d1)
    after = dt >= d1
    out[during] = rate / cl * k * np.exp(-k * dt[during]) * NG_PER_ML
    out[after] = -k * rate / cl * -np.expm1(-k * d1) * np.exp(-k * (dt[after] - d1)) * NG_PER_ML
    return out


def infusion_unit(dt, cl, v, d1):
    """Concentration [ng/mL] per mg given as a constant-rate infusion over d1 h, started dt h ago.

    Textbook: C = R / CL (1 - e^{-k t}) during the infusion and R / CL (1 - e^{-k d1}) e^{-k (t - d1)}
    after it, with R = 1 / d1 mg/h (1 - e^{-x} evaluated as -expm1(-x)).
    """
    k = cl / v
    rate = 1.0 / d1
    dt = np.asarray(dt, dtype=float)
    out = np.zeros(dt.shape)
    during = (dt > 0) & (dt <= d1)
    after = dt > d1
    out[during] = rate / cl * -np.expm1(-k * dt[during]) * NG_PER_ML
    out[after] = rate / cl * -np.expm1(-k * d1) * np.exp(-k * (dt[after] - d1)) * NG_PER_ML
    return out


# --------------------------------------------------------------------------------------------
# Superposition
# --------------------------------------------------------------------------------------------

def superpose(obs_times, input_times, amounts, unit) -> np.ndarray:
    """Sum of amount_i * unit(t - s_i) over the inputs, for each observation time (math.fsum).

    `unit` maps an array of elapsed times to the single-dose concentration per mg (0 for <= 0).
    Inputs of zero amount are dropped.
    """
    obs_times = np.asarray(obs_times, dtype=float)
    input_times = np.asarray(input_times, dtype=float)
    amounts = np.asarray(amounts, dtype=float)
    keep = amounts != 0
    input_times, amounts = input_times[keep], amounts[keep]
    out = np.empty(obs_times.size)
    chunk = 2000
    for start in range(0, obs_times.size, chunk):
        t = obs_times[start : start + chunk]
        terms = amounts[None, :] * unit(t[:, None] - input_times[None, :])
        for n in range(t.size):
            out[start + n] = math.fsum(terms[n])
    return out


def steady_state_first_order(dose, interval, cl, v, ka, f=1.0, since=None):
    """Closed-form steady-state concentration of first-order input (two geometric series). [ng/mL]

    Summing the Bateman function over the inputs u, u + tau, u + 2 tau, ... ago (u = `since` the
    latest input, 0 < u <= tau; default tau, the trough):

    C_ss(u) = F D ka / (V (ka - k)) (e^{-k u} / (1 - e^{-k tau}) - e^{-ka u} / (1 - e^{-ka tau})).
    """
    u = interval if since is None else since
    k = cl / v
    return (
        f * dose * ka / (v * (ka - k))
        * (math.exp(-k * u) / (1.0 - math.exp(-k * interval)) - math.exp(-ka * u) / (1.0 - math.exp(-ka * interval)))
        * NG_PER_ML
    )


def past_train(dose, interval, count=3000):
    """Times [h] and amounts [mg] of `count` doses at -interval, -2 interval, ... (oldest first)."""
    times = -interval * np.arange(count, 0, -1, dtype=float)
    return times, np.full(count, float(dose))


# --------------------------------------------------------------------------------------------
# Event-by-event ODE integration
# --------------------------------------------------------------------------------------------

def _propagate_expm(state, ka, k, rate, dt):
    """Exact propagation of (ad, ac) over dt via the matrix exponential of the augmented system."""
    m = np.array([[-ka, 0.0, 0.0], [ka, -k, 1.0], [0.0, 0.0, 0.0]]) * dt
    x = scipy.linalg.expm(m) @ np.array([state[0], state[1], rate])
    return x[0], x[1]


def _make_propagate_ivp(method, rtol, atol):
    def propagate(state, ka, k, rate, dt):
        def rhs(_t, y):
            return [-ka * y[0], ka * y[0] - k * y[1] + rate]

        sol = scipy.integrate.solve_ivp(rhs, (0.0, dt), [state[0], state[1]], method=method, rtol=rtol, atol=atol)
        assert sol.success, sol.message
        return sol.y[0, -1], sol.y[1, -1]

    return propagate


def event_reference(
    obs_times,
    obs_left,
    input_times,
    amounts,
    *,
    segments,
    d1=0.0,
    t0=0.0,
    state0=(0.0, 0.0),
    propagator="expm",
    rtol=1e-10,
    atol=1e-14,
    method="DOP853",
):
    """Concentrations [ng/mL] at observation times by stepping the ODEs from event to event.

    Parameters
    ----------
    obs_times, obs_left
        Observation times [h] and whether each asks for the left limit C(t-).
    input_times, amounts
        Input times [h] (tlag applied) and amounts [mg] (F applied).
    segments
        ``[(start, ka, k, v), ...]`` sorted by start; the parameters in force at t are those of the
        last segment with start <= t (so at a change time the left limit uses the old ones).
    d1
        0 for a first-order input (bolus into the depot), else the zero-order input duration [h].
    t0, state0
        Start time [h] and initial (depot, central) amounts [mg].
    propagator
        ``"expm"`` (matrix exponential) or ``"ivp"`` (scipy.integrate.solve_ivp, restarted at every
        event, with `method`, `rtol`, `atol`).
    """
    obs_times = np.asarray(obs_times, dtype=float)
    obs_left = np.asarray(obs_left, dtype=bool)
    input_times = np.asarray(input_times, dtype=float)
    amounts = np.asarray(amounts, dtype=float)
    starts = [s[0] for s in segments]
    propagate = _propagate_expm if propagator == "expm" else _make_propagate_ivp(method, rtol, atol)

    def params(t, left):
        index = 0
        for n, s in enumerate(starts):
            if s < t or (s == t and not left):
                index = n
        return segments[index][1:]

    def rate_on(a):
        """Total infusion rate on (a, next event): infusions with s <= a < s + d1, from scratch."""
        if d1 <= 0:
            return 0.0
        active = (input_times <= a) & (a < input_times + d1) & (amounts > 0)
        return math.fsum(amounts[active] / d1)

    events = set(obs_times.tolist()) | set(input_times.tolist()) | set(s for s in starts if s > t0)
    if d1 > 0:
        events |= set((input_times + d1).tolist())
    events = sorted(e for e in events if e >= t0)
    out = np.zeros(obs_times.size)
    ad, ac = state0
    t = t0
    for e in events:
        if e > t:
            ka, k, _ = params(t, left=False)
            ad, ac = propagate((ad, ac), ka, k, rate_on(t), e - t)
            t = e
        # left limits: before the inputs at e and with the parameters in force just before e
        v_left = params(e, left=True)[2]
        v_right = params(e, left=False)[2]
        for o in np.flatnonzero((obs_times == e) & obs_left):
            out[o] = ac / v_left * NG_PER_ML
        if d1 <= 0:
            ad += math.fsum(amounts[input_times == e])
        for o in np.flatnonzero((obs_times == e) & ~obs_left):
            out[o] = ac / v_right * NG_PER_ML
    return out


# --------------------------------------------------------------------------------------------
# Threshold statistics of a continuous curve
# --------------------------------------------------------------------------------------------

def threshold_reference(conc, slope, breakpoints, window, level, conc_left=None):
    """Time below `level`, longest stretch below it and the peak in `window`, via brentq.

    `conc(t)` and `slope(t)` are scalar functions; between consecutive `breakpoints` (input times,
    infusion ends, steps in v) the curve rises then falls (at most one zero of the slope), so
    splitting each piece at the zero of the slope leaves monotone pieces on which brentq finds the
    single crossing of the level. Where the curve jumps, `conc_left(t)` gives the left limit (used
    at the right end of each piece); default `conc`.

    Returns
    -------
    (time_below, longest_below, peak) in h, h, ng/mL.
    """
    conc_left = conc if conc_left is None else conc_left
    a, b = window
    nodes = sorted({a, b, *[x for x in breakpoints if a < x < b]})
    pieces = []
    for lo, hi in zip(nodes[:-1], nodes[1:]):
        # one-sided slopes inside the piece (the slope may jump at a breakpoint)
        inner_lo, inner_hi = lo + 1e-12 * max(1.0, abs(lo)), hi - 1e-12 * max(1.0, abs(hi))
        if slope(inner_lo) > 0 and slope(inner_hi) < 0:
            tp = scipy.optimize.brentq(slope, inner_lo, inner_hi, xtol=1e-13, rtol=1e-15, maxiter=500)
            pieces += [(lo, tp), (tp, hi)]
        else:
            pieces.append((lo, hi))
    peak = max(max(conc(p0), conc_left(p1)) for p0, p1 in pieces)
    # intervals where C < level
    below = []
    for p0, p1 in pieces:
        c0, c1 = conc(p0) - level, conc_left(p1) - level
        if c0 < 0 and c1 < 0:
            below.append((p0, p1))
        elif c0 < 0 <= c1:
            r = scipy.optimize.brentq(lambda t: conc(t) - level, p0, p1, xtol=1e-13, rtol=1e-15, maxiter=500)
            below.append((p0, r))
        elif c1 < 0 <= c0:
            r = scipy.optimize.brentq(lambda t: conc(t) - level, p0, p1, xtol=1e-13, rtol=1e-15, maxiter=500)
            below.append((r, p1))
    # merge touching intervals into runs
    runs = []
    for lo, hi in below:
        if runs and lo <= runs[-1][1]:
            runs[-1][1] = max(runs[-1][1], hi)
        else:
            runs.append([lo, hi])
    lengths = [hi - lo for lo, hi in runs]
    return math.fsum(lengths), max(lengths, default=0.0), peak


def grid_time_below(conc_on_grid, step, level):
    """Time below `level` from a uniform grid (midpoint rule on the indicator). [h]"""
    return float(np.count_nonzero(conc_on_grid < level)) * step


def assert_close(actual, expected, rtol, floor, atol, *, nonnegative=False):
    """Relative comparison (rtol) where |expected| > floor, absolute (atol) below it, where the
    reference underflows; NaN and inf never pass, nor negatives with `nonnegative`."""
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape
    assert np.all(np.isfinite(actual)), "non-finite concentrations"
    if nonnegative:
        assert np.all(actual >= 0.0), f"negative concentrations: {actual[actual < 0][:3]}"
    big = np.abs(expected) > floor
    rel = np.abs(actual - expected)[big] / np.abs(expected)[big]
    worst = rel.max(initial=0.0)
    assert worst <= rtol, f"max relative error {worst:.3e} > {rtol:.0e} at {np.flatnonzero(big)[rel.argmax()]}"
    absolute = np.abs(actual - expected)[~big].max(initial=0.0)
    assert absolute <= atol, f"max absolute error {absolute:.3e} > {atol:.0e} where the reference underflows"
