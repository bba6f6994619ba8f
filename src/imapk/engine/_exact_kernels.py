"""Closed-form kernels of the linear one-compartment model (numba, arrays and floats only).

State: depot amount ``ad`` [mg], central amount ``ac`` [mg], zero-order input rate ``rate`` [mg/h].
Between events the state moves in closed form (equations E1-E3); at an event a dose enters the
depot (first-order input) or switches an infusion on or off (zero-order input), or the parameters
change. A step in ``v`` changes the concentration ``ac / v``, not the amount.

Equations, for an interval of length dt with constant ka, k = CL/V and rate R:

    (E1)  ad(dt) = ad e^{-ka dt}
    (E2)  ac(dt) = ac e^{-k dt} + ad T(ka, k, dt) + R dt phi(k dt)
    (E3)  T(ka, k, dt) = ka / (ka - k) (e^{-k dt} - e^{-ka dt})
                       = ka dt e^{-min(ka, k) dt} phi(|ka - k| dt)

with phi(x) = (1 - e^{-x}) / x = -expm1(-x) / x and phi(0) = 1. The second form of E3 is exact
for all ka and k, has no cancellation near ka = k (expm1 is accurate to a rounding error for
small arguments) and cannot overflow, so no switch to a separate limit formula is needed: at
ka = k it *is* the limit ka dt e^{-k dt}, and it is continuous across ka = k to rounding error.

Every kernel is written so that it also runs as plain Python (see ``_numba.load_uncompiled``).
"""

from __future__ import annotations

import math

import numpy as np

from ._numba import jit

#: Concentration per amount over volume: mg/L -> ng/mL.
NG_PER_ML_PER_MG_PER_L = 1000.0
#: Iteration limit of the safeguarded Newton search for peaks and crossings (pure bisection would
#: reach 2^-64 of a segment, far below a second; Newton usually needs 3-6 steps).
MAX_ROOT_STEPS = 64


@jit
def phi(x):
    """(1 - e^{-x}) / x for x >= 0, continuous at 0 where it is 1."""
    if x == 0.0:
        return 1.0
    return -math.expm1(-x) / x


@jit
def depot_transfer(ka, k, dt):
    """Fraction of a depot amount found in the central compartment dt later (E3)."""
    return ka * dt * math.exp(-min(ka, k) * dt) * phi(abs(ka - k) * dt)


@jit
def advance(ad, ac, rate, ka, k, dt):
    """Advance the state (ad, ac) over dt with constant parameters and input rate (E1, E2)."""
    if dt == 0.0:  # the same numbers the formulas give at dt = 0, without four exponentials
        return ad, ac
    # The numbers of ac e^{-k dt} + ad depot_transfer(ka, k, dt) + rate dt phi(k dt), bit for bit,
    # with each exponential computed once and the input term skipped when there is no input.
    decay = math.exp(-k * dt)
    depot_decay = math.exp(-ka * dt)
    transfer = ka * dt * (decay if k <= ka else depot_decay) * phi(abs(ka - k) * dt)
    ac_new = ac * decay + ad * transfer
    if rate != 0.0:
        ac_new += rate * dt * phi(k * dt)
    return ad * depot_decay, ac_new


@jit
def steady_state(amount, interval, ka, k, d1):
    """State one interval after the latest dose of an infinite train of equal doses.

    The train is dose ``amount`` every ``interval``, each entering as a depot bolus (``d1 == 0``)
    or as a zero-order infusion of duration ``d1 <= interval``. The state is the sum over m >= 1 of
    the single-dose state m intervals after input, found as the fixed point x = Phi x + u of the
    one-interval map (Phi lower triangular, so the 2 x 2 solve is two divisions).

    Returns
    -------
    (ad, ac)
        Depot and central amounts. [mg]
    """
    if amount == 0.0:
        return 0.0, 0.0
    if d1 > 0.0:
        ud, uc = advance(0.0, 0.0, amount / d1, ka, k, d1)
        ud, uc = advance(ud, uc, 0.0, ka, k, interval - d1)
    else:
        ud, uc = advance(amount, 0.0, 0.0, ka, k, interval)
    return train_fixed_point(ud, uc, interval, ka, k)


@jit
def train_fixed_point(ud, uc, interval, ka, k):
    """State one interval after the latest input of an infinite train, from (ud, uc) [mg]: the state
    one interval after a single input. The fixed point x = Phi x + u of the one-interval map (Phi
    lower triangular, so the 2 x 2 solve is two divisions)."""
    xd = 0.0
    if ud > 0.0:
        xd = ud / -math.expm1(-ka * interval)
    xc = (uc + depot_transfer(ka, k, interval) * xd) / -math.expm1(-k * interval)
    return xd, xc


@jit
def apply_inputs(t, ji, je, input_time, input_amount, d1, ad, rate, active):
    """Apply every input event at time t: depot boluses, infusion starts and ends.

    ``ji``/``je`` point at the next input start/end; ``active`` counts running infusions so that
    the rate returns to exactly 0 when the last one ends. Returns the updated (ji, je, ad, rate, active).
    """
    n_in = input_time.shape[0]
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
    return ji, je, ad, rate, active


@jit
def next_event(ji, je, p, input_time, input_amount, d1, change_time):
    """Skip inputs of zero amount; return (ji, je, time of the next input start, infusion end or
    parameter change), the time being inf when none is left."""
    n_in = input_time.shape[0]
    while ji < n_in and input_amount[ji] == 0.0:
        ji += 1
    while je < n_in and input_amount[je] == 0.0:
        je += 1
    t_next = math.inf
    if ji < n_in:
        t_next = input_time[ji]
    if je < n_in:
        t_next = min(t_next, input_time[je] + d1)
    if p < change_time.shape[0]:
        t_next = min(t_next, change_time[p])
    return ji, je, t_next


@jit
def walk(
    t0, ad0, ac0,
    input_time, input_amount, d1,
    change_time, ka, k,
    seg_t, seg_ad, seg_ac, seg_rate, seg_param,
):
    """Step one subject through its events, recording the state at the start of each segment.

    Parameters
    ----------
    t0, ad0, ac0
        Start time [h] and initial depot and central amounts [mg].
    input_time, input_amount
        Times [h] (sorted, >= t0) and amounts [mg] of the inputs, F and tlag already applied.
        Zero amounts are skipped.
    d1
        Zero-order input duration [h]; 0 means a bolus into the depot.
    change_time
        Sorted times [h] at which parameter segment c + 1 replaces segment c.
    ka, k
        Absorption and elimination rate constants per parameter segment. [1/h]
    seg_t, seg_ad, seg_ac, seg_rate, seg_param
        Output buffers, one row per segment: start time, state just after the events at that
        time, and the index of the parameter segment in force.

    Returns
    -------
    int
        Number of segments written. Segment i covers [seg_t[i], seg_t[i + 1]); the last one is
        open-ended.
    """
    n_in = input_time.shape[0]
    n_ch = change_time.shape[0]
    t = t0
    ad = ad0
    ac = ac0
    rate = 0.0
    active = 0
    p = 0
    while p < n_ch and change_time[p] <= t:
        p += 1
    ji = 0
    je = 0 if d1 > 0.0 else n_in
    n = 0
    while True:
        seg_t[n] = t
        seg_ad[n] = ad
        seg_ac[n] = ac
        seg_rate[n] = rate
        seg_param[n] = p
        n += 1
        ji, je, t_next = next_event(ji, je, p, input_time, input_amount, d1, change_time)
        if t_next == math.inf:
            break
        ad, ac = advance(ad, ac, rate, ka[p], k[p], t_next - t)
        t = t_next
        ji, je, ad, rate, active = apply_inputs(t, ji, je, input_time, input_amount, d1, ad, rate, active)
        while p < n_ch and change_time[p] == t:
            p += 1
    return n


@jit
def piece_concentration(t, t0, ad0, ac0, rate, ka, k, scale):
    """C(t) [ng/mL] on a piece with state (ad0, ac0) [mg] at t0, input `rate` [mg/h], rates ka, k
    [1/h] and ``scale`` = 1000 / V [ng/mL per mg].

    The scalar cores (``piece_*``) take no arrays: a numba call with array arguments costs a
    reference count update per array, more than the arithmetic of these small functions.
    """
    _, ac = advance(ad0, ac0, rate, ka, k, t - t0)
    return ac * scale


@jit
def concentration_at(i, t, seg_t, seg_ad, seg_ac, seg_rate, seg_param, ka, k, v):
    """Concentration at time t on segment i. [ng/mL]"""
    p = seg_param[i]
    _, ac = advance(seg_ad[i], seg_ac[i], seg_rate[i], ka[p], k[p], t - seg_t[i])
    return ac / v[p] * NG_PER_ML_PER_MG_PER_L


@jit
def sample(n_seg, seg_t, seg_ad, seg_ac, seg_rate, seg_param, ka, k, v, obs_time, obs_left, out):
    """Concentrations at sorted observation times (left limits first at equal times). [ng/mL]

    ``obs_left[o]`` asks for the left limit C(t-), which differs from C(t) only where ``v`` steps
    at t. Times before the first segment have no drug: 0.
    """
    i = 0
    for o in range(obs_time.shape[0]):
        t = obs_time[o]
        if t < seg_t[0] or (obs_left[o] and t == seg_t[0]):
            out[o] = 0.0
            continue
        while i + 1 < n_seg and (seg_t[i + 1] < t or (seg_t[i + 1] == t and not obs_left[o])):
            i += 1
        p = seg_param[i]
        _, ac = advance(seg_ad[i], seg_ac[i], seg_rate[i], ka[p], k[p], t - seg_t[i])
        out[o] = ac / v[p] * NG_PER_ML_PER_MG_PER_L


@jit
def rate_of_change(i, t, seg_t, seg_ad, seg_ac, seg_rate, seg_param, ka, k):
    """d(ac)/dt on segment i at time t (same sign as dC/dt). [mg/h]"""
    p = seg_param[i]
    ad, ac = advance(seg_ad[i], seg_ac[i], seg_rate[i], ka[p], k[p], t - seg_t[i])
    return ka[p] * ad + seg_rate[i] - k[p] * ac


@jit
def newton_in_bracket(x, f, df, lo, hi, decreasing):
    """One step of Newton's method kept inside the bracket (lo, hi) of a sign change.

    `f` and `df` are the function and its derivative at x; `decreasing` says the function is
    positive before its zero. The bracket shrinks to the side of x that keeps the sign change; a
    Newton step that leaves it is replaced by bisection. Returns ``(done, x, lo, hi)``: done when
    f(x) = 0, when the Newton step is a few ulps of x (then x), or when the bracket is (then its
    midpoint).
    """
    if f == 0.0:
        return True, x, lo, hi
    if (f > 0.0) == decreasing:
        lo = x
    else:
        hi = x
    if hi - lo <= 4e-16 * max(1.0, abs(hi)):
        return True, 0.5 * (lo + hi), lo, hi
    if df != 0.0:
        step = f / df
        if abs(step) <= 4e-16 * max(1.0, abs(x)):
            return True, x, lo, hi
        candidate = x - step
        if lo < candidate < hi:
            return False, candidate, lo, hi
    return False, 0.5 * (lo + hi), lo, hi


@jit
def newton_settled(s, ad, y, ka, k, tol):
    """Whether the Newton step ``x_new = x - s`` [h] from a point x of a piece lands within `tol` [h]
    of the crossing, so that the step confirming it can be skipped.

    ``ad`` [mg] and ``y`` = d(ac)/dt [mg/h] are the depot and the slope at x. On I = [x - h, x + h],
    h = 2|s|, y' = -ka^2 ad - k y with ad(t) <= ad(x) e^{ka h} <= ad(x) (1 + 2 ka h) (ka h <= 1/2), so
    |y| <= Y = (|y(x)| + h ka^2 A)(1 + 2 k h) (Gronwall, k h <= 1/4) and |y'| <= B = ka^2 A + k Y,
    hence |y| >= m = |y(x)| - h B there. Taylor's theorem gives |C(x_new) - level| <= scale B s^2 / 2,
    so the crossing lies within B s^2 / (2 m) of x_new (inside I when B |s| <= 2 m): Newton's
    quadratic convergence with constants from the closed form instead of one more evaluation.
    """
    h = 2.0 * abs(s)
    if not (ka * h <= 0.5 and k * h <= 0.25):
        return False
    depot = ad * (1.0 + 2.0 * ka * h)
    slope = (abs(y) + h * ka * ka * depot) * (1.0 + 2.0 * k * h)
    curvature = ka * ka * depot + k * slope
    least = abs(y) - h * curvature
    return least > 0.0 and curvature * abs(s) <= 2.0 * least and curvature * s * s <= 2.0 * least * tol


@jit
def expm1_small(u):
    """expm1(u) for |u| <= 2^-10 from its Taylor polynomial: the first omitted term, u^6 / 720, is
    below 2^-50 / 720 < 2e-18 of the result, under a hundredth of an ulp."""
    return u * (1.0 + u * (0.5 + u * (1.0 / 6.0 + u * (1.0 / 24.0 + u * (1.0 / 120.0)))))


#: Largest |rate x step| [1] for which :func:`piece_root` moves its exponentials by :func:`expm1_small`.
SMALL_STEP = 2.0 ** -10


@jit
def piece_root(lo, hi, level, find_peak, rising, t0, ad0, ac0, rate, ka, k, scale, start):
    """Zero in (lo, hi) of a function that changes sign once there, by safeguarded Newton
    (:func:`root_search`, its first result)."""
    return root_search(lo, hi, level, find_peak, rising, t0, ad0, ac0, rate, ka, k, scale, start)[0]


@jit
def root_search(lo, hi, level, find_peak, rising, t0, ad0, ac0, rate, ka, k, scale, start):
    """Zero in (lo, hi) of a function that changes sign once there, by safeguarded Newton.

    With ``find_peak`` the function is y = d(ac)/dt (its zero is the peak of C); otherwise it is
    C - level on a monotone piece, rising or not. Both and their derivatives follow from the closed form:
    y' = -ka^2 ad - k y and C' = scale y. A Newton step that leaves the bracket is replaced by
    bisection, so the iteration always converges; it stops when the bracket or the Newton step is a
    few ulps of t, or (for a crossing) when :func:`newton_settled` shows that the step just taken
    lands within that tolerance (3-6 steps usually, against about 50 for bisection alone; 1-2 from a good
    `start`, which is used when it lies inside the bracket). The piece is given as in
    :func:`piece_concentration`.

    Returns (zero [h], and where the closed form was last evaluated: its time since t0 [h],
    e^{-k dt}, e^{-ka dt} and the transfer fraction of E3 there, which let a later search on a piece
    with the same rates take its first Newton step without an exponential; the last three are nan
    when the piece has an input or ka == k).

    Without input (``rate == 0``) and with ka != k, the three exponentials of :func:`advance`
    (e^{-k dt}, e^{-ka dt} and q = -expm1(-|ka - k| dt), taken as 1 - e^{-|ka - k| dt} where that
    loses under 2.2 bits, |ka - k| dt >= 1/4: the transfer fraction of E3 is then within ten
    roundings, C within ten roundings of itself and the crossing within 10 eps C / |C'|, about
    3e-15 h at the usual slopes) are carried from one point to the next: a
    step s with |ka s|, |k s| <= :data:`SMALL_STEP` and |s| <= dt / 8 multiplies them by e^{rate s}
    = 1 + :func:`expm1_small` (rate s), a rounding error or two per step, no cancellation
    (the last factor moves by -(1 - q) expm1(|ka - k| s), at most a ninth of q), instead of three
    calls to the exponential.
    """
    decreasing = find_peak or not rising  # the function is positive before its zero
    x = start if lo < start < hi else 0.5 * (lo + hi)
    gap = abs(ka - k)
    carry = rate == 0.0 and gap > 0.0
    ka_gap = ka / gap if carry else 0.0
    dt = x - t0
    decay = 1.0
    depot_decay = 1.0
    q = 0.0
    fresh = True
    transfer = math.nan
    if not carry:
        decay = math.nan
        depot_decay = math.nan
    for _ in range(MAX_ROOT_STEPS):
        if carry:
            if fresh:
                decay = math.exp(-k * dt)
                depot_decay = math.exp(-ka * dt)
                if gap * dt < 0.25:
                    q = -math.expm1(-gap * dt)
                else:  # 1 - e^{-x} loses at most log2(1 / (1 - e^{-1/4})) < 2.2 bits for x >= 1/4
                    q = 1.0 - math.exp(-gap * dt)
            transfer = ka_gap * (decay if k <= ka else depot_decay) * q
            ad = ad0 * depot_decay
            ac = ac0 * decay + ad0 * transfer
        else:
            ad, ac = advance(ad0, ac0, rate, ka, k, x - t0)
        y = ka * ad + rate - k * ac
        if find_peak:
            f = y
            df = -ka * ka * ad - k * y
        else:
            f = ac * scale - level
            df = y * scale
        done, x_new, lo, hi = newton_in_bracket(x, f, df, lo, hi, decreasing)
        if done:
            return x_new, dt, decay, depot_decay, transfer
        if not find_peak and x_new != 0.5 * (lo + hi):
            if newton_settled(f / df, ad, y, ka, k, 4e-16 * max(1.0, abs(x_new))):
                return x_new, dt, decay, depot_decay, transfer
        step = x - x_new
        dt_new = x_new - t0
        fresh = not (abs(ka * step) <= SMALL_STEP and abs(k * step) <= SMALL_STEP and 8.0 * abs(step) <= dt_new)
        if carry and not fresh:
            decay += decay * expm1_small(k * step)
            depot_decay += depot_decay * expm1_small(ka * step)
            q -= (1.0 - q) * expm1_small(gap * step)
        dt = dt_new
        x = x_new
    return 0.5 * (lo + hi), dt, decay, depot_decay, transfer


@jit
def root_on_segment(i, lo, hi, level, find_peak, rising, seg_t, seg_ad, seg_ac, seg_rate, seg_param, ka, k, v,
                    start=math.nan):
    """:func:`piece_root` on segment i."""
    p = seg_param[i]
    return piece_root(lo, hi, level, find_peak, rising, seg_t[i], seg_ad[i], seg_ac[i], seg_rate[i], ka[p], k[p],
                      NG_PER_ML_PER_MG_PER_L / v[p], start)


@jit
def peak_time(i, a, b, seg_t, seg_ad, seg_ac, seg_rate, seg_param, ka, k, v):
    """Time of the maximum of C on [a, b] inside segment i.

    Within a segment C rises then falls (d(ac)/dt = y obeys y' = -k y - ka^2 ad, so once y <= 0
    it stays <= 0): the maximum is at a, at b, or at the single zero of y in between.
    """
    if rate_of_change(i, a, seg_t, seg_ad, seg_ac, seg_rate, seg_param, ka, k) <= 0.0:
        return a
    if rate_of_change(i, b, seg_t, seg_ad, seg_ac, seg_rate, seg_param, ka, k) >= 0.0:
        return b
    p = seg_param[i]
    return piece_peak(a, b, seg_t[i], seg_ad[i], seg_ac[i], seg_rate[i], ka[p], k[p], NG_PER_ML_PER_MG_PER_L / v[p])


@jit
def piece_peak(a, b, t0, ad0, ac0, rate, ka, k, scale):
    """Time of the zero of y = d(ac)/dt in (a, b) on a piece (as in :func:`piece_concentration`),
    given y(a) > 0 > y(b)."""
    # Without an infusion, y = 0 has a closed form in the piece's own time tau:
    # e^{(ka - k) tau} = ka^2 ad / (k (ac (ka - k) + ka ad)). Where the denominator's two terms do
    # not cancel (ac (ka - k) >= -ka ad / 2, always so for ka > k) and ka and k are 0.1 % apart or
    # more, the formula is accurate to a few roundings of log(ratio) / (ka - k), under 1e-12 h for
    # ka > 0.001 /h: as close as Newton's stopping rule (a few ulps of t) and at the price of one
    # logarithm. Otherwise it starts safeguarded Newton, which polishes it.
    guess = math.nan
    gap = ka - k
    if rate == 0.0 and ad0 > 0.0 and abs(gap) > 1e-3 * ka:
        cross = ac0 * gap
        ratio = ka * ka * ad0 / (k * (cross + ka * ad0))
        if ratio > 0.0:
            guess = t0 + math.log(ratio) / gap
            if a < guess < b and cross >= -0.5 * ka * ad0:
                return guess
    return piece_root(a, b, 0.0, True, False, t0, ad0, ac0, rate, ka, k, scale, guess)


@jit
def piece_summit(a, b, t0, ad0, ac0, rate, ka, k, scale):
    """(time [h], C [ng/mL]) of the peak in (a, b) of a piece (as in :func:`piece_concentration`),
    given y(a) > 0 > y(b).

    Where :func:`piece_peak` takes its closed form (no input, ka and k 0.1 % apart or more), the
    peak's own time tau = log(r) / (ka - k), r = ka^2 ad0 / (k (ac0 (ka - k) + ka ad0)), gives
    e^{-ka tau} = e^{-k tau} / r, so C = scale e^{-k tau} (ac0 + ad0 ka (1 - 1 / r) / (ka - k)): one
    exponential, a sum of two non-negative terms (1 - 1/r has the sign of ka - k), its error a few
    roundings of C plus k times the rounding of tau (relative). Used where |1 - 1/r| >= 1/4 (no
    cancellation); otherwise C at the peak time from the closed form.
    """
    gap = ka - k
    if rate == 0.0 and ad0 > 0.0 and abs(gap) > 1e-3 * ka:
        cross = ac0 * gap
        ratio = ka * ka * ad0 / (k * (cross + ka * ad0))
        if ratio > 0.0 and cross >= -0.5 * ka * ad0:
            tau = math.log(ratio) / gap
            tp = t0 + tau
            if a < tp < b:
                rest = 1.0 - 1.0 / ratio
                if abs(rest) >= 0.25:
                    return tp, scale * math.exp(-k * tau) * (ac0 + ad0 * ka * rest / gap)
                return tp, piece_concentration(tp, t0, ad0, ac0, rate, ka, k, scale)
    tp = piece_peak(a, b, t0, ad0, ac0, rate, ka, k, scale)
    return tp, piece_concentration(tp, t0, ad0, ac0, rate, ka, k, scale)


@jit
def piece_crossing(a, b, level, rising, t0, ad0, ac0, rate, ka, k, scale, c_a, c_b, hint=math.nan):
    """Time in [a, b] where C crosses `level` on a monotone part of a piece; ``c_a``, ``c_b`` are C at a and b.

    Newton starts from `hint` when it lies inside (a, b), else from the log-linear interpolation of
    the ends (exact for a mono-exponential decline)."""
    return crossing_search(a, b, level, rising, t0, ad0, ac0, rate, ka, k, scale, c_a, c_b, hint)[0]


@jit
def crossing_search(a, b, level, rising, t0, ad0, ac0, rate, ka, k, scale, c_a, c_b, hint):
    """:func:`piece_crossing`, returning also where Newton last evaluated the closed form
    (:func:`root_search`)."""
    guess = hint
    if not a < hint < b and c_a > 0.0 and c_b > 0.0 and c_a != c_b and level > 0.0:
        # log(c_a / c_b) written as the difference of two logs relative to the level: as one log of the
        # ends alone, LLVM hoists it out of the caller's loop over levels and computes it for every
        # piece, crossing or not (a tenth of the fast path's time on irregular dosing).
        high = c_a / level
        low = c_b / level
        if 0.0 < high < math.inf and 0.0 < low < math.inf:  # (a ratio can underflow or overflow)
            rise = math.log(high)
            guess = a + (b - a) * rise / (rise - math.log(low))
    return root_search(a, b, level, False, rising, t0, ad0, ac0, rate, ka, k, scale, guess)


@jit
def crossing_time(i, a, b, level, rising, seg_t, seg_ad, seg_ac, seg_rate, seg_param, ka, k, v,
                  c_a=math.nan, c_b=math.nan):
    """Time in [a, b] where C crosses `level` on a monotone piece of segment i (C at the ends
    computed when not given)."""
    if math.isnan(c_a):
        c_a = concentration_at(i, a, seg_t, seg_ad, seg_ac, seg_rate, seg_param, ka, k, v)
    if math.isnan(c_b):
        c_b = concentration_at(i, b, seg_t, seg_ad, seg_ac, seg_rate, seg_param, ka, k, v)
    p = seg_param[i]
    return piece_crossing(a, b, level, rising, seg_t[i], seg_ad[i], seg_ac[i], seg_rate[i], ka[p], k[p],
                          NG_PER_ML_PER_MG_PER_L / v[p], c_a, c_b)


@jit
def close_run(m, end, run_start, time_below, longest_below):
    """End the run below level m at time `end`, adding it to the statistics."""
    length = end - run_start[m]
    time_below[m] += length
    longest_below[m] = max(longest_below[m], length)


@jit
def run_step(p0, below0, below1, r, in_run, run_start, total, longest):
    """Follow a run below a level over a monotone piece starting at p0, on scalars: whether C is in a
    run below the level, since when [h], the time below and the longest stretch so far [h]; returns
    them updated. ``below0``/``below1`` say whether the piece's ends are below the level, ``r`` is the
    crossing time when they differ (a monotone piece crosses at most once)."""
    if below0 and below1:
        if not in_run:
            return True, p0, total, longest
        return in_run, run_start, total, longest
    if not below0 and not below1:
        if in_run:
            return False, run_start, total + (p0 - run_start), max(longest, p0 - run_start)
        return in_run, run_start, total, longest
    if below0:
        if not in_run:
            run_start = p0
        return False, run_start, total + (r - run_start), max(longest, r - run_start)
    if in_run:
        total, longest = total + (p0 - run_start), max(longest, p0 - run_start)
    return True, r, total, longest


@jit
def update_run(m, p0, below0, below1, r, in_run, run_start, time_below, longest_below):
    """Follow the run below level m over a monotone piece starting at p0 (:func:`run_step` on level
    m of the arrays).

    ``below0``/``below1`` say whether the piece's ends are below the level; ``r`` is the crossing
    time when they differ (a monotone piece crosses at most once).
    """
    in_run[m], run_start[m], time_below[m], longest_below[m] = run_step(
        p0, below0, below1, r, in_run[m], run_start[m], time_below[m], longest_below[m]
    )


@jit
def open_runs(levels, first_time, window_start, window_end, time_below, longest_below, in_run, run_start):
    """Start the statistics of every level: zero totals, and a run below each positive level from
    the window's start if the window starts before the first segment (no drug there, C = 0, as in
    `sample`)."""
    for m in range(levels.shape[0]):
        time_below[m] = 0.0
        longest_below[m] = 0.0
        in_run[m] = window_start < min(first_time, window_end) and levels[m] > 0.0
        if in_run[m]:
            run_start[m] = window_start


@jit
def segment_in_window(i, n_seg, seg_t, window_start, window_end):
    """(a, b): the part of segment i inside the window (empty when not a < b); the last segment is open-ended."""
    a = max(seg_t[i], window_start)
    b = window_end
    if i + 1 < n_seg:
        b = min(seg_t[i + 1], window_end)
    return a, b


#: Rows of the packed run state used by :func:`piece_statistics`: (RUN_IN, m) is 1 while C is
#: below level m, (RUN_START, m) the start of that run [h], (RUN_TOTAL, m) and (RUN_LONGEST, m) the
#: time below and the longest stretch so far [h].
RUN_IN, RUN_START, RUN_TOTAL, RUN_LONGEST = 0, 1, 2, 3


@jit
def start_runs(levels, first_time, window_start, window_end, runs):
    """Packed :func:`open_runs`: fill ``runs`` (4, levels)."""
    for m in range(levels.shape[0]):
        below = window_start < min(first_time, window_end) and levels[m] > 0.0
        runs[RUN_IN, m] = 1.0 if below else 0.0
        runs[RUN_START, m] = window_start
        runs[RUN_TOTAL, m] = 0.0
        runs[RUN_LONGEST, m] = 0.0


@jit
def step_runs(runs, m, p0, below0, below1, r):
    """Packed :func:`update_run` of level m."""
    in_run, start, total, longest = run_step(
        p0, below0, below1, r, runs[RUN_IN, m] != 0.0, runs[RUN_START, m], runs[RUN_TOTAL, m], runs[RUN_LONGEST, m]
    )
    runs[RUN_IN, m] = 1.0 if in_run else 0.0
    runs[RUN_START, m] = start
    runs[RUN_TOTAL, m] = total
    runs[RUN_LONGEST, m] = longest


@jit
def end_runs(runs, window_end, time_below, longest_below):
    """Close the runs still open at the window's end and write the totals [h]."""
    for m in range(runs.shape[1]):
        total = runs[RUN_TOTAL, m]
        longest = runs[RUN_LONGEST, m]
        if runs[RUN_IN, m] != 0.0:
            length = window_end - runs[RUN_START, m]
            total += length
            longest = max(longest, length)
        time_below[m] = total
        longest_below[m] = longest


#: Columns of the log of run updates written by :func:`piece_statistics`.
LOG_COLUMNS = 5
#: Columns of the memory of earlier crossings used by :func:`piece_statistics`.
SEEN_COLUMNS = 7


#: Relative margin [1] on the bounds of :func:`split_point`: far above their rounding errors (a few
#: 1e-16), so a level within it of a bound is left to the peak's own search.
BOUND_MARGIN = 1e-12


@jit
def remember_peak(ad0, ac0, c_p, ka, k, scale, n_levels, seen):
    """Keep the start state (ad0, ac0) [mg] and the peak `c_p` [ng/mL] of the subject's highest
    interior peak of a piece without input so far, with its rates and scale, in row 2 ``n_levels``
    of ``seen`` (see :func:`split_point`); a piece with other rates or scale starts the record anew."""
    ref = 2 * n_levels
    if not (seen[ref, 3] == k and seen[ref, 4] == ka and seen[ref, 5] == scale) or c_p > seen[ref, 2]:
        seen[ref, 0] = ad0
        seen[ref, 1] = ac0
        seen[ref, 2] = c_p
        seen[ref, 3] = k
        seen[ref, 4] = ka
        seen[ref, 5] = scale


@jit
def split_point(a, b, t0, ad0, ac0, scale, ad_ref, ac_ref, c_ref, tau, decay, transfer):
    """(time [h], C there [ng/mL], upper bound U of the peak [ng/mL]) at which a piece without input,
    with an interior peak, may split into parts that each cross every level at most once without the
    peak's search, else nans; :func:`piece_statistics` then checks each level (below). Scalars only:
    the rates' ``tau`` = tau_T [h], ``decay`` = e^{-k tau_T} and ``transfer`` = T(tau_T) (kept per
    rates in row 2 n + 1 of its ``seen``) and the recorded peak (``ad_ref``, ``ac_ref`` [mg],
    ``c_ref`` [ng/mL]).

    With no input C(tau) = scale (ac0 e^{-k tau} + ad0 T(tau)) (E2-E3, tau = t - t0). T peaks at
    tau_T = log(ka / k) / (ka - k) (closed form, kept per rates in row 2 n + 1 of ``seen``), and
    C' = scale (ad0 T' - k ac0 e^{-k tau}) <= 0 there, so C peaks at tau_p <= tau_T and falls after
    tau_T. Two facts follow, rigorous up to :data:`BOUND_MARGIN`:

    * The peak is no higher than the subject's recorded peak c_ref (:func:`remember_peak`, same
      rates and scale, start state (ad_ref, ac_ref)) when ac0 < ac_ref: for tau <= tau_T,
      C(tau) - C_ref(tau) = scale ((ac0 - ac_ref) e^{-k tau} + (ad0 - ad_ref) T(tau))
      <= scale ((ac0 - ac_ref) e^{-k tau_T} + max(ad0 - ad_ref, 0) T(tau_T)) = D, and C_ref <= c_ref
      everywhere (c_ref is its interior peak), so the peak is <= U = c_ref + D. Only D < 0 is
      used: the peak then changes no maximum, and U bounds it.
    * Split at t0 + tau_T: after it C falls; before it, a level with C(a) below it and C(t0 + tau_T)
      above is crossed once (rising, then falling to a value still above), and a level C(a) is at
      or above and C(t0 + tau_T) below is crossed once (falling); a level both are below is crossed
      only if the peak reaches it, ruled out by U below the level. Other cases need the peak.
    """
    mid = t0 + tau
    d_ac = ac0 - ac_ref
    if not (a < mid < b and d_ac < 0.0):
        return math.nan, math.nan, math.nan
    excess = scale * (d_ac * decay + max(ad0 - ad_ref, 0.0) * transfer)
    if not excess < -BOUND_MARGIN * c_ref:
        return math.nan, math.nan, math.nan
    return mid, scale * (ac0 * decay + ad0 * transfer), (c_ref + excess) * (1.0 + BOUND_MARGIN)


@jit
def newton_from_record(hint, t0, ad0, ac0, ka, k, scale, level, dt, decay, depot_decay, transfer):
    """A start for the crossing of `level` on a piece without input (as in :func:`piece_concentration`)
    from a search on an earlier piece with the same rates: one Newton step from the time ``t0 + dt``
    where that search evaluated e^{-k dt} (``decay``), e^{-ka dt} (``depot_decay``) and the transfer
    fraction (E3). E1-E2 are linear in the start state, so C and its slope there for this piece's
    state cost four multiply-adds and no exponential.

    Returns (start [h], settled): `hint` and False when the record has none (nan) or the slope is
    0; settled when :func:`newton_settled` shows the step lands within the root search's tolerance
    of a crossing, which then needs no search at all. Otherwise the start is a Halley step from the
    same point (C'' is free as well), closer by one order; it is only a start.
    """
    if not transfer == transfer:
        return hint, False
    ad = ad0 * depot_decay
    ac = ac0 * decay + ad0 * transfer
    y = ka * ad - k * ac
    if y == 0.0:
        return hint, False
    f = ac * scale - level
    step = f / (y * scale)
    start = t0 + dt - step
    if newton_settled(step, ad, y, ka, k, 4e-16 * max(1.0, abs(start))):
        return start, True
    # Not settled: a Halley step instead (C'' = scale y', y' = -ka^2 ad - k y, also free here), whose
    # error is cubic in the record's distance from the crossing rather than quadratic.
    curvature = (-ka * ka * ad - k * y) * scale
    slope = y * scale
    denominator = 2.0 * slope * slope - f * curvature
    if denominator > 0.0:
        return t0 + dt - 2.0 * f * slope / denominator, False
    return start, False


@jit
def piece_statistics(a, b, c_a, c_b, y_a, y_b, t0, ad0, ac0, rate, ka, k, scale, levels, runs, log, n_log, seen, record):
    """Add [a, b] of a piece (as in :func:`piece_concentration`) to the runs below each level.

    ``c_a``, ``c_b`` are C at the ends [ng/mL] and ``y_a``, ``y_b`` d(ac)/dt there [mg/h]: C rises
    then falls on a piece (see :func:`peak_time`), so it splits at its peak into two monotone parts,
    each crossing a level at most once. The peak is searched for only when it lies inside
    (y_a > 0 > y_b); a crossing only where a part's ends straddle a level. ``runs`` is the packed run
    state (:data:`RUN_IN` ...). Each update is also appended to ``log`` (rows ``level, part start,
    below at start, below at end, crossing time``) when `record` is true, from row ``n_log`` on; the fast
    path replays them for an interval that repeats (:mod:`imapk.engine._verdict_kernels`).

    ``seen`` (2 levels, :data:`SEEN_COLUMNS`) remembers the subject's latest crossing of each level,
    rising (row 2 m) and falling (row 2 m + 1): its time since its piece's start [h], then where its
    search last evaluated the closed form (as :func:`root_search` returns it) and the piece's k and ka
    [1/h]; nan before the first. A new search of the same crossing starts from the same time since
    its piece's start (successive doses give similar curves), moved by one Newton step taken from
    the recorded exponentials (:func:`newton_from_record`) when the piece has no input and the same
    rates: the curves differ by their start states, to which C is linear, so that step corrects the
    change of state to first order without an exponential. Only the starting point comes from
    ``seen``; the search's bracket and stopping rule are those of a fresh search.

    Returns
    -------
    (float, int)
        The highest C on [a, b] [ng/mL], and the new number of rows in ``log``.
    """
    highest = c_p = math.nan
    if y_a <= 0.0:
        tp, c_p = a, c_a
    elif y_b >= 0.0:
        tp, c_p = b, c_b
    else:
        tp = math.nan
        if rate == 0.0 and ka != k:
            ref = 2 * levels.shape[0]
            rates = ref + 1
            if seen[ref, 3] == k and seen[ref, 4] == ka and seen[ref, 5] == scale:
                if not (seen[rates, 0] == k and seen[rates, 1] == ka):
                    tau = math.log(ka / k) / (ka - k)
                    seen[rates, 0] = k
                    seen[rates, 1] = ka
                    seen[rates, 2] = tau
                    seen[rates, 3] = math.exp(-k * tau)
                    seen[rates, 4] = depot_transfer(ka, k, tau)
                tp, c_p, upper = split_point(a, b, t0, ad0, ac0, scale, seen[ref, 0], seen[ref, 1], seen[ref, 2],
                                             seen[rates, 2], seen[rates, 3], seen[rates, 4])
                low = c_p * (1.0 - BOUND_MARGIN)
                high = c_p * (1.0 + BOUND_MARGIN)
                for m in range(levels.shape[0]):
                    level = levels[m]
                    if not (low > level or (high < level and (c_a >= level or upper < level))):
                        tp = math.nan
                        break
            highest = max(c_a, c_b)  # the peak is no higher than one already returned (split_point)
        if not tp == tp:
            tp, c_p = piece_summit(a, b, t0, ad0, ac0, rate, ka, k, scale)
            highest = math.nan
            if rate == 0.0 and ka != k:
                remember_peak(ad0, ac0, c_p, ka, k, scale, levels.shape[0], seen)
    for part in range(2):
        if part == 0:
            p0, p1, c0, c1, rising = a, tp, c_a, c_p, True
        else:
            p0, p1, c0, c1, rising = tp, b, c_p, c_b, False
        if not p0 < p1:
            continue
        for m in range(levels.shape[0]):
            level = levels[m]
            below0 = c0 < level
            below1 = c1 < level
            r = p0
            if below0 != below1:
                rising = below0  # the part is monotone, or (split_point) crosses this level once
                row = 2 * m + (0 if rising else 1)
                hint = t0 + seen[row, 0]
                settled = False
                if rate == 0.0 and seen[row, 5] == k and seen[row, 6] == ka:
                    hint, settled = newton_from_record(hint, t0, ad0, ac0, ka, k, scale, level, seen[row, 1],
                                                       seen[row, 2], seen[row, 3], seen[row, 4])
                # A settled start is the crossing when the tolerance around it lies inside the part (which
                # holds exactly one crossing of the level).
                tol = 8e-16 * max(1.0, abs(hint))
                if settled and p0 + tol < hint < p1 - tol:
                    r = hint
                else:
                    r, dt, decay, depot_decay, transfer = crossing_search(
                        p0, p1, level, rising, t0, ad0, ac0, rate, ka, k, scale, c0, c1, hint
                    )
                    seen[row, 1] = dt
                    seen[row, 2] = decay
                    seen[row, 3] = depot_decay
                    seen[row, 4] = transfer
                    seen[row, 5] = k
                    seen[row, 6] = ka
                seen[row, 0] = r - t0
            step_runs(runs, m, p0, below0, below1, r)
            if record:
                log[n_log, 0] = m
                log[n_log, 1] = p0
                log[n_log, 2] = 1.0 if below0 else 0.0
                log[n_log, 3] = 1.0 if below1 else 0.0
                log[n_log, 4] = r
                n_log += 1
    if highest == highest:
        return highest, n_log
    return max(c_a, c_p, c_b), n_log


@jit
def threshold_runs(
    n_seg, seg_t, seg_ad, seg_ac, seg_rate, seg_param, ka, k, v,
    window_start, window_end, levels, time_below, longest_below, peak,
):
    """Time below each level and the longest stretch below it, from exact crossing times.

    Each segment inside [window_start, window_end] is split at its peak into monotone pieces;
    on each piece C crosses a level at most once, and the crossing is found by safeguarded Newton
    on the closed form (:func:`piece_statistics`). Before the first segment C = 0.
    ``time_below[m]`` and ``longest_below[m]`` are in h; ``peak[0]`` is the maximum concentration
    in the window [ng/mL].
    """
    runs = np.empty((4, levels.shape[0]))
    start_runs(levels, seg_t[0], window_start, window_end, runs)
    no_log = np.empty((0, LOG_COLUMNS))
    seen = np.full((2 * levels.shape[0] + 2, SEEN_COLUMNS), np.nan)
    highest = 0.0
    for i in range(n_seg):
        a, b = segment_in_window(i, n_seg, seg_t, window_start, window_end)
        if not a < b:
            continue
        p = seg_param[i]
        t0, ad0, ac0, rate, kap, kp = seg_t[i], seg_ad[i], seg_ac[i], seg_rate[i], ka[p], k[p]
        scale = NG_PER_ML_PER_MG_PER_L / v[p]
        ad_a, ac_a = advance(ad0, ac0, rate, kap, kp, a - t0)
        ad_b, ac_b = advance(ad0, ac0, rate, kap, kp, b - t0)
        c_max, _ = piece_statistics(
            a, b, ac_a * scale, ac_b * scale, kap * ad_a + rate - kp * ac_a, kap * ad_b + rate - kp * ac_b,
            t0, ad0, ac0, rate, kap, kp, scale, levels, runs, no_log, 0, seen, False,
        )
        highest = max(highest, c_max)
    end_runs(runs, window_end, time_below, longest_below)
    peak[0] = highest


@jit
def segment_buffers(n_inputs, n_changes):
    """Buffers for :func:`walk`: room for every segment one subject can have (an input start, an
    infusion end per input, one per parameter change, and the first)."""
    n_max = 1 + 2 * n_inputs + n_changes
    return np.empty(n_max), np.empty(n_max), np.empty(n_max), np.empty(n_max), np.empty(n_max, dtype=np.int64)


@jit
def simulate_population(
    t0, ad0, ac0, input_time, input_amount, d1, change_time, ka, k, v,
    obs_time, obs_left, window_start, window_end, levels,
    conc, time_below, longest_below, peak,
):
    """Run every subject: concentrations at the observation times and threshold statistics.

    Per-subject arrays have the subject on axis 0: ``t0, ad0, ac0, d1`` (n,), ``input_time`` and
    ``input_amount`` (n, inputs), ``ka, k, v`` (n, parameter segments). ``conc`` (n, obs),
    ``time_below`` and ``longest_below`` (n, levels) and ``peak`` (n,) are filled in place; the
    threshold statistics are skipped when ``levels`` is empty.
    """
    n_sub = input_time.shape[0]
    seg_t, seg_ad, seg_ac, seg_rate, seg_param = segment_buffers(input_time.shape[1], change_time.shape[0])
    peak_s = np.empty(1)
    for s in range(n_sub):
        n_seg = walk(
            t0[s], ad0[s], ac0[s], input_time[s], input_amount[s], d1[s], change_time, ka[s], k[s],
            seg_t, seg_ad, seg_ac, seg_rate, seg_param,
        )
        sample(n_seg, seg_t, seg_ad, seg_ac, seg_rate, seg_param, ka[s], k[s], v[s], obs_time, obs_left, conc[s])
        if levels.shape[0] > 0:
            threshold_runs(
                n_seg, seg_t, seg_ad, seg_ac, seg_rate, seg_param, ka[s], k[s], v[s],
                window_start, window_end, levels, time_below[s], longest_below[s], peak_s,
            )
            peak[s] = peak_s[0]


@jit
def steady_state_population(amount, interval, ka, k, d1, ad0, ac0):
    """:func:`steady_state` for every subject (amount, ka, k, d1 per subject; interval shared)."""
    for s in range(amount.shape[0]):
        ad0[s], ac0[s] = steady_state(amount[s], interval, ka[s], k[s], d1[s])


#: Subjects stepped together by :func:`troughs_regular`: independent recurrences interleaved so
#: the processor overlaps them (one subject alone waits on its own multiply-add chain).
SUBJECT_BLOCK = 8


@jit
def interval_map(cl, v, ka, f, lag, dur, tau, coef, b):
    """The affine map of one dosing interval, written into column `b` of `coef`.

    A dose ``g`` given at the start of an interval of length `tau` enters ``lag`` later (into the
    depot if ``dur == 0``, else as a zero-order input over ``dur``, with ``lag + dur <= tau``); the
    state one interval later is

        ad' = coef[0] ad + coef[3] g
        ac' = coef[2] ac + coef[1] ad + coef[4] g

    from E1-E3 over the whole interval (a lag only delays the new dose), and ``coef[5]`` turns the
    central amount into ng/mL. A zero-order input keeps the depot empty, so coef[0] = coef[1] =
    coef[3] = 0.
    """
    k = cl / v
    coef[2, b] = math.exp(-k * tau)
    coef[5, b] = NG_PER_ML_PER_MG_PER_L / v
    if dur > 0.0:
        coef[0, b] = 0.0
        coef[1, b] = 0.0
        coef[3, b] = 0.0
        coef[4, b] = f * phi(k * dur) * math.exp(-k * (tau - lag - dur))
    else:
        coef[0, b] = math.exp(-ka * tau)
        coef[1, b] = depot_transfer(ka, k, tau)
        coef[3, b] = f * math.exp(-ka * (tau - lag))
        coef[4, b] = f * depot_transfer(ka, k, tau - lag)


@jit
def troughs_regular(dose_time, given, interval, change_dose, cl, v, ka, f, d1, tlag, first, last, out):
    """Trough-only fast path: each dosing interval is one affine map of the state, reused across doses.

    For subjects ``first <= s < last``: troughs C(t_j-) at the shared scheduled times. Dose j
    (``f[s, p] * given[r, j]``, p the parameter segment in force at t_j; ``given`` has one row for
    every subject, r = s, or one row shared by all, r = 0) enters ``tlag[s]`` after its
    time, into the depot (``d1[s] == 0``) or as a zero-order input of duration ``d1[s]``, with
    ``tlag[s] + d1[s]`` shorter than every interval. Parameter segment p + 1 starts at dose
    ``change_dose[p]``, after that dose's trough is recorded (the trough is the left limit, so a
    step in V does not touch it). The map's coefficients (:func:`interval_map`) are computed once
    per (segment, interval length); a dose then costs five multiply-adds. :data:`SUBJECT_BLOCK`
    subjects are stepped together; each subject's arithmetic is the same whatever the block.

    Returns
    -------
    int
        The number of non-finite troughs written (0 for sensible parameters).
    """
    n_dose = dose_time.shape[0]
    n_ch = change_dose.shape[0]
    per_subject = given.shape[0] > 1
    coef = np.empty((6, SUBJECT_BLOCK))
    ad = np.empty(SUBJECT_BLOCK)
    ac = np.empty(SUBJECT_BLOCK)
    bad = 0
    for s0 in range(first, last, SUBJECT_BLOCK):
        nb = min(SUBJECT_BLOCK, last - s0)
        p = 0
        tau = interval[0]
        for b in range(nb):
            ad[b] = 0.0
            ac[b] = 0.0
            interval_map(cl[s0 + b, 0], v[s0 + b, 0], ka[s0 + b, 0], f[s0 + b, 0], tlag[s0 + b], d1[s0 + b], tau, coef, b)
        for j in range(n_dose):
            for b in range(nb):
                out[s0 + b, j] = ac[b] * coef[5, b]
            if j + 1 == n_dose:
                break
            changed = p < n_ch and change_dose[p] == j
            if changed:
                p += 1
            if changed or interval[j] != tau:
                tau = interval[j]
                for b in range(nb):
                    s = s0 + b
                    interval_map(cl[s, p], v[s, p], ka[s, p], f[s, p], tlag[s], d1[s], tau, coef, b)
            if per_subject:
                for b in range(nb):
                    g = given[s0 + b, j]
                    ac[b] = coef[2, b] * ac[b] + coef[1, b] * ad[b] + coef[4, b] * g
                    ad[b] = coef[0, b] * ad[b] + coef[3, b] * g
            else:  # one amount for the block: the loop stays a plain vector update
                g = given[0, j]
                for b in range(nb):
                    ac[b] = coef[2, b] * ac[b] + coef[1, b] * ad[b] + coef[4, b] * g
                    ad[b] = coef[0, b] * ad[b] + coef[3, b] * g
        for b in range(nb):
            for j in range(n_dose):
                if not math.isfinite(out[s0 + b, j]):
                    bad += 1
    return bad
