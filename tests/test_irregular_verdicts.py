"""Threshold statistics on irregular (per-patient) dosing against independent references, and the
crossing search's shortcuts against the same search without them.

The fast path (``verdicts_regular``) and the general walk share ``piece_statistics``, whose shortcuts
(a start moved by one Newton step from the subject's previous crossing, a Newton step accepted without
a confirming evaluation, a peak skipped when a recorded one bounds it) make them no longer independent.
The references here are:

* superposition of single-dose solutions (a formula the engine does not use) with scipy's brentq for
  each peak (zero of C') and each crossing: time below and longest stretch to 1e-7 h (brentq's
  ``xtol`` 1e-12 h on each of a few hundred crossings, plus the superposition's own rounding, about
  1e-13 of C, which moves a crossing by 1e-13 C / |C'|; a crossing where the level grazes a peak is
  ill-conditioned, and 1e-7 h leaves room for that while a wrong bracket or a missed crossing costs
  minutes to hours); peaks to 1e-10 relative (both sides are the closed form to a few roundings);
* ``piece_statistics`` run with a fresh crossing memory for every piece (no recorded start, no
  skipped peak, the search of the original code) on the same pieces: time below to 1e-9 h (each
  crossing agrees to the root tolerance, a few ulps of t, 1e-12 h at t ~ 1000 h, over a few hundred
  crossings) and the peak to 1e-12 relative.
"""

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from imapk.engine import _exact_kernels as kernels
from imapk.engine import exact
from imapk.params import ParameterTable
from imapk.schedule import Phase, Schedule

from test_fast_verdicts import general, population

DAYS = 40


def irregular_table(n, seed):
    """40 daily doses; each patient misses doses by a Markov chain (taken -> missed 0.15,
    missed -> missed 0.5) and takes 200, 300 or 400 mg otherwise."""
    rng = np.random.default_rng(seed)
    table = Schedule(phases=(Phase(dose=400, days=DAYS),)).lower()
    given = np.empty((n, DAYS))
    missed = np.zeros(n, dtype=bool)
    for j in range(DAYS):
        u = rng.uniform(size=n)
        missed = np.where(missed, u < 0.5, u < 0.15)
        given[:, j] = np.where(missed, 0.0, rng.choice([200.0, 300.0, 400.0, 400.0, 400.0], size=n))
    from dataclasses import replace

    return replace(table, given=given)


def subject_curve(args, s):
    """C(t) and C'(t) [ng/mL, ng/mL/h] of subject s by superposition of its doses (each dose's own
    single-dose solution, summed), and the times where its pieces start."""
    dose_time, given, _, _, cl, v, ka, f, d1, tlag = args
    k, kas, vol, dur = cl[s, 0] / v[s, 0], ka[s, 0], v[s, 0], d1[s]
    start = dose_time + tlag[s]
    amount = f[s, 0] * given[s]
    start, amount = start[amount > 0], amount[amount > 0]

    def single(tau):  # concentration and slope per mg [ng/mL per mg] at times tau after the input starts
        tau = np.asarray(tau, dtype=float)
        c = np.zeros_like(tau)
        dc = np.zeros_like(tau)
        on = tau > 0
        x = tau[on]
        if dur > 0.0:
            rate = 1.0 / dur
            inside = x <= dur
            ci = np.where(inside, rate / (vol * k) * (1 - np.exp(-k * x)),
                          rate / (vol * k) * (1 - np.exp(-k * dur)) * np.exp(-k * (x - dur)))
            di = np.where(inside, rate / vol * np.exp(-k * x),
                          -k * rate / (vol * k) * (1 - np.exp(-k * dur)) * np.exp(-k * (x - dur)))
        elif kas == k:
            ci = kas * x * np.exp(-k * x) / vol
            di = kas * (1 - k * x) * np.exp(-k * x) / vol
        else:
            ci = kas / (kas - k) * (np.exp(-k * x) - np.exp(-kas * x)) / vol
            di = kas / (kas - k) * (-k * np.exp(-k * x) + kas * np.exp(-kas * x)) / vol
        c[on] = ci * 1000.0
        dc[on] = di * 1000.0
        return c, dc

    def conc(t):
        c, _ = single(t - start)
        return float(np.sum(amount * c))

    def slope(t):
        _, dc = single(t - start)
        return float(np.sum(amount * dc))

    events = np.concatenate([start, start + dur]) if dur > 0 else start
    return conc, slope, np.unique(events)


def reference_statistics(args, s, levels, window):
    """Time below each level, longest stretch below it [h] and the peak [ng/mL] in the window,
    from brentq on the superposition (see the module docstring)."""
    conc, slope, events = subject_curve(args, s)
    w0, w1 = window
    bounds = np.unique(np.concatenate([[w0, w1], events[(events > w0) & (events < w1)]]))
    breaks = list(bounds)
    highest = max(conc(w0), conc(w1))
    for a, b in zip(bounds[:-1], bounds[1:]):
        lo, hi = a + 1e-9 * (b - a), b - 1e-9 * (b - a)  # just inside: C' jumps at an input
        cuts = [a, b]
        if slope(lo) > 0 > slope(hi):
            tp = brentq(slope, lo, hi, xtol=1e-12, rtol=4 * np.finfo(float).eps)
            cuts.insert(1, tp)
        highest = max(highest, *(conc(x) for x in cuts))
        for p0, p1 in zip(cuts[:-1], cuts[1:]):
            for level in levels:
                f0, f1 = conc(p0) - level, conc(p1) - level
                if f0 * f1 < 0:
                    breaks.append(brentq(lambda t: conc(t) - level, p0, p1, xtol=1e-12,
                                         rtol=4 * np.finfo(float).eps))
        breaks.extend(cuts)
    breaks = np.unique(np.array(breaks))
    time_below = np.zeros(len(levels))
    longest = np.zeros(len(levels))
    for m, level in enumerate(levels):
        run = 0.0
        for a, b in zip(breaks[:-1], breaks[1:]):
            if conc(0.5 * (a + b)) < level:
                time_below[m] += b - a
                run += b - a
                longest[m] = max(longest[m], run)
            else:
                run = 0.0
    return time_below, longest, highest


def check_against_superposition(table, parameters, levels, window, subjects):
    fast = exact._fast_verdicts(table, parameters, levels, window)
    assert fast is not None
    args = exact._fast_path_arguments(table, parameters)
    for s in subjects:
        below, longest, highest = reference_statistics(args, s, levels, window)
        np.testing.assert_allclose(fast.time_below[s], below, rtol=0, atol=1e-7, err_msg=f"subject {s}")
        np.testing.assert_allclose(fast.longest_below[s], longest, rtol=0, atol=1e-7, err_msg=f"subject {s}")
        np.testing.assert_allclose(fast.peak[s], highest, rtol=1e-10, err_msg=f"subject {s}")
    return fast


@pytest.mark.parametrize("input_kind", ["first-order", "zero-order"])
def test_irregular_dosing__statistics_equal_brentq_on_the_superposition(input_kind):
    """Markov-missed doses and mixed amounts, ka from 0.2 k to 50 k (ka = k exactly for subject 0)
    or zero-order input, lags up to 3 h; the window starts on day 3 and ends inside the last interval."""
    n = 12
    table = irregular_table(n, seed=11)
    parameters = population(n, seed=12, input_kind=input_kind, lag_max=3.0)
    levels = np.array([300.0, 800.0, 1100.0, 2000.0])
    check_against_superposition(table, parameters, levels, (48.0, table.end - 5.5), range(n))


def test_irregular_dosing__extreme_parameters_equal_brentq_on_the_superposition():
    """A near bolus (ka = 1000 /h), flip-flop absorption (ka = k / 50), slow elimination (half-life
    about 700 h) and a 20 mL/h clearance with a 10 L volume, each with misses."""
    n = 4
    table = irregular_table(n, seed=13)
    values = {
        "cl": np.array([14.3, 14.3, 0.35, 0.02 * 10]),
        "v": np.array([347.0, 347.0, 347.0, 10.0]),
        "ka": np.array([1000.0, 14.3 / 347.0 / 50.0, 0.609, 0.609]),
        "f": np.ones(n), "tlag": np.array([0.0, 0.5, 0.0, 2.0]), "d1": None,
    }
    parameters = ParameterTable(values=values)
    levels = np.array([50.0, 800.0, 1100.0, 30000.0])
    check_against_superposition(table, parameters, levels, (0.0, table.end), range(n))


def test_irregular_dosing__levels_exactly_at_troughs():
    """Levels equal, to the bit, to troughs the engine computes: C touches the level at the trough and
    rises (given dose) or keeps falling (missed dose); the statistics still match the reference."""
    n = 6
    table = irregular_table(n, seed=14)
    parameters = population(n, seed=15, input_kind="first-order", lag_max=0.0)
    troughs = exact._fast_troughs(table, parameters)
    levels = np.array([troughs[1, 10], troughs[3, 20], troughs[5, 30]])
    check_against_superposition(table, parameters, levels, (24.0, table.end), range(n))


def pieces_of(table, parameters, s):
    """The pieces of subject s from the general walk: (t0, ad0, ac0, rate, ka, k, scale, end)."""
    x = exact.prepare_inputs(table, parameters, levels=np.array([1.0]), window=None)
    seg = kernels.segment_buffers(x.input_time.shape[1], x.change_time.shape[0])
    n_seg = kernels.walk(x.t0[s], x.ad0[s], x.ac0[s], x.input_time[s], x.input_amount[s], x.d1[s], x.change_time,
                         x.ka[s], x.k[s], *seg)
    seg_t, seg_ad, seg_ac, seg_rate, seg_param = seg
    out = []
    for i in range(n_seg - 1):
        p = seg_param[i]
        out.append((seg_t[i], seg_ad[i], seg_ac[i], seg_rate[i], x.ka[s, p], x.k[s, p], 1000.0 / x.v[s, p],
                    seg_t[i + 1]))
    return out


@pytest.mark.parametrize("input_kind", ["first-order", "zero-order"])
def test_piece_statistics__shortcuts_equal_the_plain_search(input_kind):
    """The same pieces with the crossing memory kept (shortcuts) and with a fresh one per piece (plain
    safeguarded Newton from the log-linear start, every interior peak searched)."""
    n = 10
    table = irregular_table(n, seed=16)
    parameters = population(n, seed=17, input_kind=input_kind, lag_max=2.0)
    levels = np.array([500.0, 1100.0, 1500.0])
    no_log = np.empty((0, kernels.LOG_COLUMNS))
    shortcuts = 0
    for s in range(n):
        results = []
        for keep in (True, False):
            runs = np.empty((4, levels.size))
            kernels.start_runs(levels, 0.0, 0.0, table.end, runs)
            seen = np.full((2 * levels.size + 2, kernels.SEEN_COLUMNS), np.nan)
            highest = 0.0
            for t0, ad0, ac0, rate, ka, k, scale, t1 in pieces_of(table, parameters, s):
                if not keep:
                    seen[:] = np.nan
                ad1, ac1 = kernels.advance(ad0, ac0, rate, ka, k, t1 - t0)
                c_max, _ = kernels.piece_statistics(
                    t0, t1, ac0 * scale, ac1 * scale, ka * ad0 + rate - k * ac0, ka * ad1 + rate - k * ac1,
                    t0, ad0, ac0, rate, ka, k, scale, levels, runs, no_log, 0, seen, False,
                )
                highest = max(highest, c_max)
                if keep and seen[2 * levels.size, 2] == seen[2 * levels.size, 2]:
                    shortcuts += 1
            below, longest = np.empty(levels.size), np.empty(levels.size)
            kernels.end_runs(runs, table.end, below, longest)
            results.append((below, longest, highest))
        (b1, l1, h1), (b0, l0, h0) = results
        np.testing.assert_allclose(b1, b0, rtol=0, atol=1e-9)
        np.testing.assert_allclose(l1, l0, rtol=0, atol=1e-9)
        assert h1 == pytest.approx(h0, rel=1e-12)
    if input_kind == "first-order":
        assert shortcuts > 0  # the recorded-peak bound was in play


def test_newton_settled__accepted_steps_are_within_the_tolerance_of_brentq():
    """Random pieces and levels: where the bound accepts a Newton step, the step's landing point is
    within the root tolerance (4e-16 max(1, |t|)) of brentq's crossing found to 1e-15 h on the same
    closed form, plus the rounding of the landing point (2 ulps of t) and the crossing's own
    conditioning: C is computed to a few roundings, so any crossing time is known only to about
    16 eps C / |C'| (the same for brentq and for the stopping rule it replaces)."""
    rng = np.random.default_rng(18)
    accepted = 0
    for _ in range(400):
        ka = math.exp(rng.uniform(math.log(0.01), math.log(50.0)))
        k = math.exp(rng.uniform(math.log(0.003), math.log(0.5)))
        ad0, ac0, t0, scale = rng.uniform(0, 500), rng.uniform(0, 500), rng.uniform(0, 5000), 1000 / 300
        length = 24.0
        c = lambda t: kernels.piece_concentration(t, t0, ad0, ac0, 0.0, ka, k, scale)  # noqa: E731
        ts = np.linspace(t0, t0 + length, 200)
        cs = np.array([c(t) for t in ts])
        level = rng.uniform(cs.min(), cs.max())
        flips = np.nonzero(np.diff(np.sign(cs - level)))[0]
        if flips.size == 0:
            continue
        i = flips[0]
        root = brentq(lambda t: c(t) - level, ts[i], ts[i + 1], xtol=1e-15, rtol=4 * np.finfo(float).eps)
        for err in (1e-3, 1e-5, 1e-7, 1e-9):
            x = root + err
            ad, ac = kernels.advance(ad0, ac0, 0.0, ka, k, x - t0)
            y = ka * ad - k * ac
            step = (ac * scale - level) / (y * scale)
            tol = 4e-16 * max(1.0, abs(x - step))
            if kernels.newton_settled(step, ad, y, ka, k, tol):
                accepted += 1
                ad_r, ac_r = kernels.advance(ad0, ac0, 0.0, ka, k, root - t0)
                conditioning = 16 * np.finfo(float).eps * level / abs(scale * (ka * ad_r - k * ac_r))
                assert abs((x - step) - root) <= tol + 2 * np.spacing(root) + conditioning
    assert accepted > 50


def test_piece_summit__peak_value_equals_the_closed_form_at_the_peak_time():
    """The peak's one-exponential value against C from E1-E3 at the same time, and against C at brentq's
    zero of the slope (1e-13 relative: each is a few roundings of C, and C is flat at its peak, so the
    peak times' difference, 1e-9 h at most, moves it by far less)."""
    rng = np.random.default_rng(19)
    for _ in range(200):
        ka = math.exp(rng.uniform(math.log(0.02), math.log(20.0)))
        k = math.exp(rng.uniform(math.log(0.005), math.log(0.3)))
        ad0, ac0, t0, scale = rng.uniform(1, 500), rng.uniform(0, 500), rng.uniform(0, 3000), 1000 / 250
        a, b = t0, t0 + 48.0
        ad_b, ac_b = kernels.advance(ad0, ac0, 0.0, ka, k, b - t0)
        if not (ka * ad0 - k * ac0 > 0 > ka * ad_b - k * ac_b):
            continue
        tp, cp = kernels.piece_summit(a, b, t0, ad0, ac0, 0.0, ka, k, scale)
        assert cp == pytest.approx(kernels.piece_concentration(tp, t0, ad0, ac0, 0.0, ka, k, scale), rel=1e-13)
        def slope(t):
            ad, ac = kernels.advance(ad0, ac0, 0.0, ka, k, t - t0)
            return ka * ad - k * ac

        t_ref = brentq(slope, a, b, xtol=1e-13, rtol=4 * np.finfo(float).eps)
        assert tp == pytest.approx(t_ref, abs=1e-9)
        assert cp == pytest.approx(kernels.piece_concentration(t_ref, t0, ad0, ac0, 0.0, ka, k, scale), rel=1e-13)


def test_expm1_small__matches_expm1_to_an_ulp():
    """The Taylor polynomial against math.expm1 over |u| <= 2^-10 (the ends, zero and random
    points): relative difference at most 2 ulps (2 x 2.2e-16)."""
    u = np.concatenate([[0.0, 2.0 ** -10, -(2.0 ** -10), 1e-300, -1e-20],
                        np.random.default_rng(20).uniform(-(2.0 ** -10), 2.0 ** -10, 2000)])
    for x in u:
        expected = math.expm1(x)
        got = kernels.expm1_small(x)
        assert abs(got - expected) <= 4.5e-16 * abs(expected)


def test_irregular_verdicts__fast_path_equals_the_general_walk_and_its_uncompiled_self():
    """Per-patient doses: the fast path against the general walk (tolerances of test_fast_verdicts),
    and the kernel source run by the interpreter on a short irregular schedule against its compiled self."""
    from imapk.engine import _verdict_kernels
    from imapk.engine._numba import load_uncompiled
    from test_fast_verdicts import LEVELS, assert_same_statistics

    table = irregular_table(30, seed=21)
    parameters = population(30, seed=22, input_kind="first-order", lag_max=2.0)
    for window in (None, (30.5, 700.25)):
        fast = exact._fast_verdicts(table, parameters, LEVELS, window)
        assert_same_statistics(fast, general(table, parameters, LEVELS, window))

    uncompiled = load_uncompiled("imapk.engine._verdict_kernels")
    short = irregular_table(3, seed=23)
    from dataclasses import replace

    short = replace(short, time=short.time[:8], interval=short.interval[:8], planned=short.planned[:8],
                    given=short.given[:, :8], status=short.status[:8], phase=short.phase[:8])
    few = population(3, seed=24, input_kind="first-order", lag_max=2.0)
    args = exact._fast_path_arguments(short, few)
    results = []
    for module in (uncompiled, _verdict_kernels):
        out = np.empty((3, 8))
        below, longest, peak = np.zeros((3, LEVELS.size)), np.zeros((3, LEVELS.size)), np.zeros(3)
        module.verdicts_regular(*args, 0.0, 8 * 24.0, LEVELS, 0, 3, out, below, longest, peak)
        results.append((out, below, longest, peak))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-12)


def test_piece_statistics__a_bigger_dose_on_a_lower_trough_keeps_its_peak():
    """The recorded-peak bound counts the depot: a piece starting with less in the central compartment
    but more in the depot (400 mg on 490 mg, after 100 mg on 500 mg) peaks higher, so its peak is
    searched and returned (against the peak found with a fresh memory, 1e-12 relative)."""
    ka, k, scale = 0.609, 14.3 / 347.0, 1000.0 / 347.0
    levels = np.array([5000.0])  # above both pieces: every level decided without the peak
    no_log = np.empty((0, kernels.LOG_COLUMNS))
    runs = np.empty((4, 1))
    kernels.start_runs(levels, 0.0, 0.0, 48.0, runs)
    seen = np.full((4, kernels.SEEN_COLUMNS), np.nan)
    highest = []
    for t0, ad0, ac0 in ((0.0, 100.0, 500.0), (24.0, 400.0, 490.0)):
        t1 = t0 + 24.0
        ad1, ac1 = kernels.advance(ad0, ac0, 0.0, ka, k, 24.0)
        args = (t0, t1, ac0 * scale, ac1 * scale, ka * ad0 - k * ac0, ka * ad1 - k * ac1, t0, ad0, ac0, 0.0, ka, k,
                scale, levels, runs, no_log, 0)
        kept, _ = kernels.piece_statistics(*args, seen, False)
        fresh, _ = kernels.piece_statistics(*args, np.full((4, kernels.SEEN_COLUMNS), np.nan), False)
        assert kept == pytest.approx(fresh, rel=1e-12)
        highest.append(kept)
    assert highest[1] > highest[0]
