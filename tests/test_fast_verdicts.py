"""Threshold statistics on the fast path (one dosing interval at a time) against the general event walk.

The general walk (``simulate_population``) finds every crossing segment by segment and never reuses
one; the fast path (``verdicts_regular``) takes each interval's ends from the interval maps, its peak in
closed form, and replays intervals that repeat bit for bit. Both must give the same runs below each
level: the tolerance is that of the root search (a few ulps of t, about 1e-12 h at t ~ 3000 h)
accumulated over a few hundred crossings, so 1e-9 h on sums of times; peaks 1e-12 relative.
"""

import math

import numpy as np
import pytest

from imapk.engine import _exact_kernels as kernels
from imapk.engine import exact
from imapk.metrics import longest_run, trough_counts
from imapk.params import ParameterTable, PKParams
from imapk.schedule import Hold, Phase, Schedule

from test_fast_path import SCHEDULES, stepped_parameters  # the case report, and q12h morning/evening then q24h with missed days

LEVELS = np.array([0.0, 500.0, 1100.0, 3000.0, 1e6])


def general(table, parameters, levels, window):
    """Troughs and statistics by the general walk, bypassing the fast path."""
    x = exact.prepare_inputs(table, parameters, levels=levels, window=window)
    conc, below, longest, peak = exact.allocate(x)
    kernels.simulate_population(
        x.t0, x.ad0, x.ac0, x.input_time, x.input_amount, x.d1, x.change_time, x.ka, x.k, x.v,
        x.obs_time, x.obs_left, x.window[0], x.window[1], x.levels, conc, below, longest, peak,
    )
    return exact.finish(x, conc, below, longest, peak)


def population(n, seed, input_kind, lag_max):
    rng = np.random.default_rng(seed)
    cl = 14.3 * np.exp(0.3 * rng.standard_normal(n))
    v = 347.0 * np.exp(0.3 * rng.standard_normal(n))
    values = {"cl": cl, "v": v, "f": rng.uniform(0.5, 1.2, n), "tlag": rng.uniform(0.0, lag_max, n)}
    if input_kind == "zero-order":
        values.update(ka=None, d1=rng.uniform(0.5, 2.0, n))
    else:
        # ka from flip-flop (0.2 k) to fast absorption (50 k), and ka = k exactly for subject 0.
        values.update(ka=cl / v * np.concatenate([[1.0], rng.uniform(0.2, 50.0, n - 1)]), d1=None)
    return ParameterTable(values=values)


def assert_same_statistics(fast, reference):
    np.testing.assert_array_equal(fast.trough.shape, reference.trough.shape)
    np.testing.assert_allclose(fast.trough, reference.trough, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(fast.time_below, reference.time_below, rtol=0, atol=1e-9)
    np.testing.assert_allclose(fast.longest_below, reference.longest_below, rtol=0, atol=1e-9)
    np.testing.assert_allclose(fast.peak, reference.peak, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("input_kind", ["first-order", "zero-order"])
@pytest.mark.parametrize("name", SCHEDULES)
def test_fast_verdicts__equal_the_general_walk(name, input_kind):
    table = SCHEDULES[name].lower()
    lag_max = min(3.0, 0.4 * float(table.interval[:-1].min()))
    parameters = population(40, seed=3, input_kind=input_kind, lag_max=lag_max)
    windows = [
        None,
        (100.0, 2000.0),
        (30.5, 700.25),  # both ends inside dosing intervals
        (-5.0, table.end + 50.0),  # before the first dose (C = 0 there) and after the last interval
        (table.end + 10.0, table.end + 100.0),  # after the last dose only
    ]
    for window in windows:
        fast = exact._fast_verdicts(table, parameters, LEVELS, window)
        assert fast is not None
        assert_same_statistics(fast, general(table, parameters, LEVELS, window))


def test_fast_verdicts__parameter_steps_at_dose_times():
    """Steps of CL, V, ka and F on day 29 (a dose time): C jumps with V there, troughs are left limits."""
    table = SCHEDULES["case report"].lower()
    for parameters in stepped_parameters():
        fast = exact._fast_verdicts(table, parameters, LEVELS, None)
        assert fast is not None
        assert_same_statistics(fast, general(table, parameters, LEVELS, None))


def test_fast_verdicts__troughs_are_the_trough_paths_to_the_bit():
    table = SCHEDULES["case report"].lower()
    parameters = population(64, seed=4, input_kind="first-order", lag_max=3.0)
    np.testing.assert_array_equal(
        exact._fast_verdicts(table, parameters, LEVELS, None).trough, exact._fast_troughs(table, parameters)
    )


def test_fast_verdicts__a_year_of_regular_dosing_replays_exactly():
    """365 equal daily doses: after a few weeks each interval repeats the last bit for bit and is replayed."""
    table = Schedule(phases=(Phase(dose=400, days=365),)).lower()
    parameters = population(50, seed=5, input_kind="first-order", lag_max=2.0)
    levels = np.array([800.0, 1100.0, 1500.0])
    fast = exact._fast_verdicts(table, parameters, levels, (28 * 24.0, table.end))
    assert_same_statistics(fast, general(table, parameters, levels, (28 * 24.0, table.end)))


def test_fast_verdicts__threads_are_bit_identical(monkeypatch):
    table = SCHEDULES["case report"].lower()
    parameters = population(501, seed=6, input_kind="first-order", lag_max=3.0)
    monkeypatch.setattr(exact, "MIN_PARALLEL_WORK", 0)
    threaded = exact._fast_verdicts(table, parameters, LEVELS, (672.0, table.end))
    monkeypatch.setattr(exact, "MIN_PARALLEL_WORK", 10**18)
    serial = exact._fast_verdicts(table, parameters, LEVELS, (672.0, table.end))
    for name in ("trough", "time_below", "longest_below", "peak"):
        np.testing.assert_array_equal(getattr(threaded, name), getattr(serial, name), err_msg=name)


def test_fast_verdicts__uncompiled_kernel_gives_the_same_numbers():
    """The kernel source run by the interpreter (short schedule) against its compiled self."""
    from imapk.engine._numba import load_uncompiled

    uncompiled = load_uncompiled("imapk.engine._verdict_kernels")
    table = Schedule(phases=(Phase(dose=400, days=6),), holds=(Hold(start_day=3, days=1),)).lower()
    parameters = population(3, seed=7, input_kind="first-order", lag_max=2.0)
    args = exact._fast_path_arguments(table, parameters)
    results = []
    for module in (uncompiled, __import__("imapk.engine._verdict_kernels", fromlist=["x"])):
        out = np.empty((3, table.time.size))
        below, longest, peak = np.zeros((3, LEVELS.size)), np.zeros((3, LEVELS.size)), np.zeros(3)
        module.verdicts_regular(*args, 0.0, table.end, LEVELS, 0, 3, out, below, longest, peak)
        results.append((out, below, longest, peak))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-12)


def test_fast_verdicts__time_below_after_a_near_bolus_matches_the_analytic_decline():
    """One dose absorbed almost at once (ka = 1000 /h): C = D/V e^{-k t}, so the time below L in the
    first day is 24 - ln(C0 / L) / k, up to the absorption's ~1/ka = 0.001 h (tolerance 0.003 h)."""
    cl, v, dose, level = 14.0, 250.0, 400.0, 600.0
    table = Schedule(phases=(Phase(dose=dose, days=1),)).lower()
    parameters = ParameterTable.from_params(PKParams(cl=cl, v=v, ka=1000.0))
    result = exact._fast_verdicts(table, parameters, np.array([level]), (0.0, 24.0))
    k = cl / v
    c0 = dose / v * 1000.0
    expected = 24.0 - math.log(c0 / level) / k
    assert result.time_below[0, 0] == pytest.approx(expected, abs=3e-3)
    assert result.longest_below[0, 0] == pytest.approx(expected, abs=3e-3)
    assert result.peak[0] == pytest.approx(c0, rel=1e-2)


def test_run_exact__takes_the_fast_verdicts_only_where_they_apply(monkeypatch):
    """Levels without dense times go to the fast path; a dose factor or dense times do not."""
    table = SCHEDULES["case report"].lower()
    parameters = population(5, seed=8, input_kind="first-order", lag_max=1.0)
    calls = []
    real = exact._fast_verdicts
    monkeypatch.setattr(exact, "_fast_verdicts", lambda *a: calls.append(1) or real(*a))
    exact.run_exact(table, parameters, levels=LEVELS)
    exact.run_exact(table, parameters, levels=LEVELS, times=np.array([10.0]))
    exact.run_exact(table, parameters, levels=LEVELS, dose_factor=lambda t: np.ones_like(t))
    assert len(calls) == 1


@pytest.mark.parametrize("n", [7, 3000])  # numpy below MIN_COMPILED_COUNTS, the compiled pass above
def test_trough_counts__equal_the_numpy_expressions(n):
    rng = np.random.default_rng(9)
    trough = rng.lognormal(7.0, 0.5, (n, 40))
    trough[:, 3] = 1100.0  # exactly at a level: at or above, not below
    levels = np.array([0.0, 1100.0, 2000.0])
    inside = np.arange(40) >= 10
    below_count, longest_above, at_or_above = trough_counts(trough, levels, inside)
    below = trough[:, None, :] < levels[None, :, None]
    np.testing.assert_array_equal(below_count, below[:, :, inside].sum(axis=-1))
    np.testing.assert_array_equal(longest_above, longest_run(~below[:, :, inside]))
    np.testing.assert_array_equal(at_or_above, (trough[None] >= levels[:, None, None]).sum(axis=1))


def test_inlined_piece_statistics_is_the_same_source():
    """The fast path inlines piece_statistics into its interval loop: the same Python function, compiled
    with numba's inline="always" (the numbers are those of the general walk, checked above)."""
    from imapk.engine import _exact_kernels, _verdict_kernels
    from imapk.engine._numba import jit

    inlined = _verdict_kernels.piece_statistics_inline
    assert inlined.py_func is _exact_kernels.piece_statistics.py_func
    assert inlined.targetoptions["inline"] == "always"

    @jit(inline=True)
    def twice(x):
        return 2.0 * x

    @jit
    def call(x):
        return twice(x) + 1.0

    assert call(3.0) == 7.0
