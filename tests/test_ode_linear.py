"""The ODE path of the linear multi-compartment family (imapk.engine.ode_linear and its kernels).

References:

* the exact path (:func:`imapk.engine.linear.run_linear`, tested against macro-constant
  superposition and solve_ivp in test_linear_engine.py) where the rates are constant: the same
  structures, doses, lags, holds, steady-state starts and parameter changes;
* scipy ``solve_ivp`` (DOP853, rtol 1e-12, atol 1e-14 mg) of the compartment equations written out
  below, restarted at every event, where ka and CL vary with time on therapy;
* for the threshold statistics with varying rates, that reference's dense output on a fine grid
  with every crossing polished by a root finder.

Accuracy criterion, as in test_ode_kernels.py. The integrator keeps each local error below
atol + rtol |x| per compartment (amounts, mg; the norm is the root mean square over the
compartments, so one compartment may take up to sqrt(n) of it); the global error of a contractive
linear system stays within a small multiple of that. Every concentration is checked as

    scaled error = |C - C_ref| / (atol 1000 / V + rtol |C_ref|)      (V: smallest central volume, L)

against ``SCALED_MAX`` = 10 at every tolerance from 1e-6 to 1e-10: a wrong event, rate, dose or
coefficient gives errors of 1e-3 relative or more, scaled errors of 1e3 and up. Measured maxima
are quoted at each test.
"""

from __future__ import annotations

import math
import threading

import numba
import numpy as np
import pytest
import scipy.integrate
import scipy.optimize

from imapk.clock import therapy_clock
from imapk.engine import _ode_kernels as ode_kernels
from imapk.engine import _ode_linear_kernels as kernels
from imapk.engine._numba import load_uncompiled
from imapk.engine.linear import CENTRAL, HEAD, prepare_linear_inputs, run_linear
from imapk.engine.ode import run_ode
from imapk.engine.ode_linear import run_ode_linear
from imapk.errors import SimulationError
from imapk.models.base import TimeFactor, TimeVariation
from imapk.params import ParameterChange, ParameterTable, PKParams
from imapk.schedule import Hold, LadderStep, Phase, Schedule, SteadyState

#: Global error bound in units of atol + rtol |C| (module docstring).
SCALED_MAX = 10.0
TOLERANCES = (1e-6, 1e-8, 1e-10)
NG_PER_ML = 1000.0
#: Eechoute 2012 disposition and absorption chain (typical values, Yang 2025 Table 1).
EECHOUTE = dict(cl=9.12, v=128.0, ka=0.699, q=24.9, vp=197.0, ktr=15.8, n_transit=5)
TWO_CMT = dict(cl=9.12, v=128.0, ka=0.699, q=24.9, vp=197.0)
DAYS = 120
#: 400 mg daily, held on days 29-42, then 200 mg for 7 days and 300 mg for 56 days.
CASE = Schedule(
    phases=(Phase(dose=400, days=DAYS),),
    holds=(Hold(start_day=29, days=14, restart=(LadderStep(200, 7), LadderStep(300, 56))),),
)


def scaled_error(conc, ref, v_min, rtol, atol):
    """|C - C_ref| / (atol 1000 / V + rtol |C_ref|) (module docstring)."""
    return np.abs(np.asarray(conc) - ref) / (atol * NG_PER_ML / v_min + rtol * np.abs(ref))


# ------------------------------------------------------------------------------------------------
# 1. Constant rates: against the exact path
# ------------------------------------------------------------------------------------------------


def central_doses(n):
    """Every third dose a central bolus, every third a 2 h central infusion, the rest oral."""
    target = np.where(np.arange(n) % 3 == 0, HEAD, CENTRAL)
    duration = np.where(np.arange(n) % 3 == 2, 2.0, 0.0)
    return dict(dose_target=target, central_duration=duration)


#: name -> (parameters, schedule, parameter changes, dose routes).
CASES = {
    "two compartments, first-order": (TWO_CMT, CASE, (), False),
    "Eechoute 5-transit chain": (EECHOUTE, CASE, (), False),
    "zero-order input 1.5 h, two compartments": (dict(cl=9.12, v=128.0, d1=1.5, q=24.9, vp=197.0), CASE, (), False),
    "3-transit chain into central, zero-order into the chain": (
        dict(cl=9.12, v=128.0, d1=1.0, q=24.9, vp=197.0, ktr=4.0, n_transit=3), CASE, (), False),
    "central bolus and infusion among oral doses": (EECHOUTE, CASE, (), True),
    "lag 0.5 h": ({**EECHOUTE, "tlag": 0.5}, CASE, (), False),
    "steady-state start": (
        {**EECHOUTE, "tlag": 0.5},
        Schedule(phases=CASE.phases, holds=CASE.holds, steady_state=SteadyState(400, 24.0)), (), False),
    "parameter changes (V step, every rate)": (
        EECHOUTE, CASE,
        (ParameterChange.at(28 * 24.0 + 5.0, cl=7.0, v=150.0, ka=1.1, q=20.0, vp=230.0, ktr=9.0),), False),
    "one compartment": (dict(cl=14.3, v=347.0, ka=0.609), CASE, (), False),
}
#: Levels for the threshold statistics [ng/mL], at least 1 % away from every local extremum of
#: every case (checked in `reference_case`): crossed daily in some cases, only around the hold in others.
LEVELS = (650.0, 1950.0)


def case_inputs(name):
    values, schedule, changes, mixed = CASES[name]
    table = schedule.lower()
    params = ParameterTable.from_params(PKParams(**values), changes)
    routes = central_doses(table.time.size) if mixed else {}
    # Right values at the dose and input times (a central bolus jumps there) and points between.
    dense = np.unique(np.concatenate([np.arange(0.0, table.end, 0.7), table.time, table.time + values.get("tlag", 0.0)]))
    return table, params, routes, dense


def crossing_bounds(grid, curve, level, rtol, atol, v_min):
    """Allowed errors of time_below and longest_below at `level` [h], from the exact curve on `grid`.

    A concentration error dC moves a crossing at time r by dC / |C'(r)| (first order, valid since
    no level is within 1 % of an extremum). With dC = SCALED_MAX (atol 1000 / V + rtol level), the
    bound on each crossing is summed over all crossings (time_below) or doubled at the worst one
    (longest_below: one run, two ends); 1e-9 h absorbs the rounding of summing hundreds of runs.
    """
    slope = np.abs(np.diff(curve)) / np.diff(grid)
    crossing = np.flatnonzero(np.diff(curve < level) != 0)
    dc = SCALED_MAX * (atol * NG_PER_ML / v_min + rtol * level)
    shift = dc / slope[crossing]
    return shift.sum() + 1e-9, 2.0 * shift.max(initial=0.0) + 1e-9


_REFERENCES = {}


def reference_case(name):
    """The exact path's outputs for a case, and its curve on a 0.01 h grid (cached)."""
    if name not in _REFERENCES:
        table, params, routes, dense = case_inputs(name)
        exact = run_linear(table, params, times=dense, levels=np.array(LEVELS), **routes)
        grid = np.arange(0.0, table.end, 0.01)
        curve = run_linear(table, params, times=grid, **routes).concentration[0]
        extrema = curve[1:-1][np.sign(np.diff(curve)[1:]) != np.sign(np.diff(curve)[:-1])]
        for level in LEVELS:  # precondition of crossing_bounds
            assert np.abs(extrema / level - 1.0).min() > 0.01, (name, level)
        _REFERENCES[name] = exact, grid, curve
    return _REFERENCES[name]


@pytest.mark.parametrize("name", CASES)
def test_constant_rates__equal_the_exact_path(name):
    """Troughs, a dense grid, time below, longest time below and the peak at three tolerances.

    Measured maxima of the scaled error (troughs and grid): 0.08-2.3 over all cases and tolerances.
    """
    table, params, routes, dense = case_inputs(name)
    exact, grid, curve = reference_case(name)
    v_min = params.segments("v").min()
    worst = []
    for tol in TOLERANCES:
        got = run_ode_linear(table, params, times=dense, levels=np.array(LEVELS), rtol=tol, atol=tol, **routes)
        for output in ("trough", "concentration"):
            err = scaled_error(getattr(got, output), getattr(exact, output), v_min, tol, tol)
            assert err.max() < SCALED_MAX, f"{output} at tol {tol:g}: {err.max():.3g}"
        for m, level in enumerate(LEVELS):
            bound_total, bound_longest = crossing_bounds(grid, curve, level, tol, tol, v_min)
            assert abs(got.time_below[0, m] - exact.time_below[0, m]) <= bound_total
            assert abs(got.longest_below[0, m] - exact.longest_below[0, m]) <= bound_longest
        # The peak is a maximum of the interpolant: its error is that of C there (no first-order
        # term from the location), so the concentration bound applies.
        assert scaled_error(got.peak, exact.peak, v_min, tol, tol).max() < SCALED_MAX
        worst.append(np.abs(got.concentration - exact.concentration).max())
    # The error follows the tolerance (about proportionally under this control): it falls with
    # each hundredfold tightening, and at least a hundredfold from 1e-6 to 1e-10 (measured:
    # 8-140 times per step, 800-11000 times overall). A wrong coefficient or event would leave a floor.
    assert worst[0] > worst[1] > worst[2] and worst[2] < worst[0] / 100, worst


def test_constant_rates__before_the_start_and_at_events():
    """C = 0 before the first input (and as its left limit), left limits at scheduled times, right
    values at a central bolus: the exact path's values at the same instants."""
    table, params, routes, _ = case_inputs("central bolus and infusion among oral doses")
    times = np.array([-5.0, 0.0, 24.0, 48.0, 49.0, 50.0])  # dose 1 central bolus, dose 2 infusion 48-50 h
    exact = run_linear(table, params, times=times, **routes)
    got = run_ode_linear(table, params, times=times, rtol=1e-10, atol=1e-10, **routes)
    assert got.concentration[0, 0] == 0.0 and got.trough[0, 0] == 0.0
    # the bolus at 24 h: the trough is the left limit, the dense value the right one
    assert got.concentration[0, 2] > got.trough[0, 1] + 100.0
    assert scaled_error(got.concentration, exact.concentration, 128.0, 1e-10, 1e-10).max() < SCALED_MAX


# ------------------------------------------------------------------------------------------------
# 2. Time-varying rates: against solve_ivp
# ------------------------------------------------------------------------------------------------

DAYS_TV = 50
#: 400 mg daily with a hold on days 20-26, then 200 mg for 7 days.
SCHEDULE_TV = Schedule(phases=(Phase(dose=400, days=DAYS_TV),), holds=(Hold(start_day=20, days=7, restart=(LadderStep(200, 7),)),))
#: Eechoute's ka(TAF) and F(TAF), and a clearance drift 1 + 0.33 tau / (2000 h + tau).
VARIATION = TimeVariation(
    ka=TimeFactor(amplitude=1.18, rate=0.0256 / 24.0),
    cl=TimeFactor(emax=0.33, t50=2000.0),
    f=TimeFactor(amplitude=0.482, rate=0.0256 / 24.0),
)
HOLD_START, HOLD_END = 19 * 24.0, 26 * 24.0
#: Reference tolerances: DOP853 at these is ~1e-12 relative, <= 1 % of the smallest bound checked.
REF_RTOL, REF_ATOL = 1e-12, 1e-14


def tau_by_hand(t, mode):
    """Time on therapy [h] for SCHEDULE_TV, written out for the hold on days 20-26 (456 h to 624 h)."""
    if mode == "running":
        return t
    if mode == "paused":
        return t if t < HOLD_START else (HOLD_START if t < HOLD_END else t - (HOLD_END - HOLD_START))
    return t if t < HOLD_END else t - HOLD_END


def system_matrix(p, ka, cl):
    """A of [transit_1..transit_n, absorption, central, peripheral] at the given ka and CL."""
    n_tr = p.n_transit
    size = n_tr + 1 + 1 + (p.q is not None)
    a = np.zeros((size, size))
    for i in range(n_tr):  # transit i -> i + 1 (the last one into the absorption compartment)
        a[i, i] -= p.ktr
        a[i + 1, i] += p.ktr
    c = n_tr + 1
    a[n_tr, n_tr] -= ka
    a[c, n_tr] += ka
    a[c, c] -= cl / p.v
    if p.q is not None:
        a[c, c] -= p.q / p.v
        a[c + 1, c] += p.q / p.v
        a[c, c + 1] += p.q / p.vp
        a[c + 1, c + 1] -= p.q / p.vp
    return a


def ivp_reference(p, mode, t_out, *, dense_window=None):
    """Central concentration [ng/mL] at `t_out` (right values) by solve_ivp from event to event.

    Doses of SCHEDULE_TV enter the first compartment tlag after their time, F(tau) times the
    amount; ka(t) = ka g_ka(tau(t)), CL(t) = CL g_CL(tau(t)) (tau written by hand). Also returns
    the dense solutions (start, end, OdeSolution) of the segments overlapping `dense_window`.
    """
    table = SCHEDULE_TV.lower()
    inputs = {}
    for time, given in zip(table.time, table.given):
        if given > 0:
            inputs[time + p.tlag] = given * VARIATION.f(tau_by_hand(time, mode))
    knots = {"running": [], "paused": [HOLD_START, HOLD_END], "reset": [HOLD_END]}[mode]
    t_out = np.asarray(t_out, dtype=float)
    t_end = float(t_out.max())
    events = sorted({*inputs, *knots, t_end})
    # A(t) = A0 + ka(t) A_ka + CL(t) A_cl: linear in ka and CL
    a0 = system_matrix(p, 0.0, 0.0)
    a_ka = system_matrix(p, 1.0, 0.0) - a0
    a_cl = system_matrix(p, 0.0, 1.0) - a0
    c = p.n_transit + 1

    def rhs(s, x):
        tau = tau_by_hand(s, mode)
        return (a0 + (p.ka * VARIATION.ka(tau)) * a_ka + (p.cl * VARIATION.cl(tau)) * a_cl) @ x

    y = np.zeros(a0.shape[0])
    out = np.full(t_out.size, np.nan)
    pieces = []
    t = 0.0
    for e in events:
        y[0] += inputs.get(t, 0.0)
        out[t_out == t] = y[c] / p.v * NG_PER_ML
        if e > t:
            inside = (t_out > t) & (t_out < e)
            dense = dense_window is not None and t < dense_window[1] and e > dense_window[0]
            sol = scipy.integrate.solve_ivp(rhs, (t, e), y, method="DOP853", rtol=REF_RTOL, atol=REF_ATOL,
                                            t_eval=np.append(t_out[inside], e), dense_output=dense)
            assert sol.success, sol.message
            out[inside] = sol.y[c, :-1] / p.v * NG_PER_ML
            if dense:
                pieces.append((t, e, sol.sol))
            y = sol.y[:, -1].copy()
        t = e
    out[t_out == t] = y[c] / p.v * NG_PER_ML
    return out, pieces


TV_PARAMS = PKParams(**{**EECHOUTE, "tlag": 0.25})
#: Observation times: never an event time, between doses and across the hold.
TV_TIMES = np.arange(1.3, 24.0 * DAYS_TV - 1.0, 5.9)


@pytest.fixture(scope="module")
def tv_reference():
    cache = {}

    def get(mode):
        if mode not in cache:
            cache[mode] = ivp_reference(TV_PARAMS, mode, TV_TIMES)[0]
        return cache[mode]

    return get


@pytest.mark.parametrize("mode", ["running", "paused", "reset"])
@pytest.mark.parametrize("tol", (1e-8, 1e-10))
def test_time_varying_rates__match_solve_ivp(tv_reference, mode, tol):
    """ka, CL and F that change with the therapy clock, in all three clock modes. Measured maximum
    scaled error: 0.4 at 1e-8, 1.3 at 1e-10."""
    table = SCHEDULE_TV.lower()
    got = run_ode_linear(table, ParameterTable.from_params(TV_PARAMS), variation=VARIATION,
                         clock=therapy_clock(table, mode), times=TV_TIMES, rtol=tol, atol=tol)
    err = scaled_error(got.concentration[0], tv_reference(mode), TV_PARAMS.v, tol, tol)
    assert err.max() < SCALED_MAX, f"max scaled error {err.max():.3g}"


def test_time_varying_rates__clock_matters(tv_reference):
    """The three clocks give curves that differ by far more than the accuracy checked above."""
    running, paused, reset = (tv_reference(mode) for mode in ("running", "paused", "reset"))
    assert np.abs(paused - running).max() > 10.0 and np.abs(reset - running).max() > 10.0  # ng/mL


# ------------------------------------------------------------------------------------------------
# 3. Threshold statistics with varying rates: against a brute-force dense evaluation
# ------------------------------------------------------------------------------------------------

STATS_WINDOW = (10 * 24.0 + 3.0, 35 * 24.0)
STATS_LEVELS = (600.0, 1500.0, 2600.0)


def brute_force_statistics(pieces, level, window, step=0.01):
    """Time below `level`, longest stretch below it [h] and the peak [ng/mL] from dense solutions.

    Each piece's dense output is evaluated on a `step` grid; every sign change of C - level is
    polished by brentq, every interior grid maximum by a bounded scalar minimisation.
    """
    c = TV_PARAMS.n_transit + 1
    crossings, runs_below, peak = [], [], 0.0

    def conc(sol, t):
        return sol(t)[c] / TV_PARAMS.v * NG_PER_ML  # also on arrays of times

    start_below = None
    for a, b, sol in pieces:
        a, b = max(a, window[0]), min(b, window[1])
        if a >= b:
            continue
        grid = np.append(np.arange(a, b, step), b)
        values = conc(sol, grid)
        if start_below is None:
            start_below = values[0] < level
        peak = max(peak, values.max())
        for i in np.flatnonzero(np.diff(values < level) != 0):
            crossings.append(scipy.optimize.brentq(lambda t: conc(sol, t) - level, grid[i], grid[i + 1], xtol=1e-13))
        for i in np.flatnonzero((values[1:-1] >= values[:-2]) & (values[1:-1] >= values[2:])) + 1:
            best = scipy.optimize.minimize_scalar(lambda t: -conc(sol, t), bounds=(grid[i - 1], grid[i + 1]),
                                                  method="bounded", options={"xatol": 1e-10})
            peak = max(peak, -best.fun)
    edges = [window[0], *crossings, window[1]]
    below = start_below
    for lo, hi in zip(edges[:-1], edges[1:]):
        if below:
            runs_below.append(hi - lo)
        below = not below
    return sum(runs_below), max(runs_below, default=0.0), peak, len(crossings)


def test_time_varying_rates__time_below_and_peak_against_brute_force():
    """Crossings and peak from the dense output equal those of the reference's dense solution.

    The ODE path's crossings move by dC / |C'| with dC the concentration error; here (rtol 1e-10)
    dC <= 1e-5 ng/mL and |C'| >= 1 ng/mL/h at every crossing (levels away from extrema), so
    1e-4 h per crossing is generous yet 1e4 times below a missed or misplaced event (minutes to
    hours). The peak: the concentration bound. Measured: time errors <= 1.3e-9 h, peak 0.01 scaled.
    """
    tol = 1e-10
    table = SCHEDULE_TV.lower()
    _, pieces = ivp_reference(TV_PARAMS, "paused", np.array([STATS_WINDOW[1]]), dense_window=STATS_WINDOW)
    got = run_ode_linear(table, ParameterTable.from_params(TV_PARAMS), variation=VARIATION,
                         clock=therapy_clock(table, "paused"), levels=np.array(STATS_LEVELS),
                         window=STATS_WINDOW, rtol=tol, atol=tol)
    for m, level in enumerate(STATS_LEVELS):
        total, longest, peak, n_crossings = brute_force_statistics(pieces, level, STATS_WINDOW)
        assert n_crossings > 0 or level == STATS_LEVELS[-1] and total == 0.0
        assert abs(got.time_below[0, m] - total) <= 1e-4 * max(n_crossings, 1)
        assert abs(got.longest_below[0, m] - longest) <= 2e-4
    assert scaled_error(got.peak, peak, TV_PARAMS.v, tol, tol).max() < SCALED_MAX


# ------------------------------------------------------------------------------------------------
# 4. Failures
# ------------------------------------------------------------------------------------------------


def raw_table(n=2, **override):
    """Two Eechoute subjects as a ParameterTable built without validation (for non-physical values)."""
    values = {name: np.full(n, float(value)) for name, value in EECHOUTE.items() if name != "n_transit"}
    # a lag: the first input at 0.5 h, where a step below 10 ulps of t is an underflow
    values.update(d1=None, f=np.ones(n), tlag=np.full(n, 0.5))
    for name, first in override.items():
        values[name][0] = first
    return ParameterTable(values=values, n_transit=EECHOUTE["n_transit"])


SHORT = Schedule(phases=(Phase(dose=400, days=10),))


@pytest.mark.parametrize(
    "override, max_steps, match",
    [
        (dict(), 5, "step limit `max_steps`"),
        (dict(ka=1e30), 10**6, "step size fell below"),  # ka h must stay < STIFF_LIMIT
        (dict(ka=math.inf), 10**6, "state became non-finite"),
        (dict(cl=math.nan), 10**6, "state became non-finite"),
    ],
)
def test_failures__raise_simulation_error(override, max_steps, match):
    params = raw_table(**override)
    with pytest.raises(SimulationError, match=match) as info:
        run_ode_linear(SHORT.lower(), params, max_steps=max_steps)
    assert "1 of 2 subjects (first: subject 0)" in str(info.value) or max_steps == 5
    with pytest.raises(SimulationError, match=match):  # the same through run_ode
        run_ode(SHORT.lower(), params, max_steps=max_steps)


def run_kernel(table, params, *, times=(), levels=(), window=None, rtol=1e-8, max_steps=10**6, module=kernels,
               variation=TimeVariation(), clock=((0.0,), (0.0,), (1.0,)), routes=None):
    """Call the population kernel directly: every output, status and step count included."""
    x = prepare_linear_inputs(table, params, times=np.asarray(times, dtype=float), levels=np.asarray(levels, dtype=float),
                              window=window, **(routes or {}))
    n = x.t0.size
    out = dict(conc=np.zeros((n, x.obs_time.size)), time_below=np.zeros((n, x.levels.size)),
               longest_below=np.zeros((n, x.levels.size)), peak=np.zeros(n),
               status=np.full(n, -1, dtype=np.int64), n_steps=np.full(n, -1, dtype=np.int64))
    r = x.rates
    clock_t, clock_tau, clock_slope = (np.asarray(c, dtype=float) for c in clock)
    module.simulate_population_ode_linear(
        x.t0, x.x0, x.input_time, x.input_amount, x.input_dur, x.input_target, x.change_time, *x.structure,
        r["ktr"], r["ka"], r["k10"], r["k12"], r["k21"], r["v"], x.obs_time, x.obs_left, x.window[0], x.window[1],
        x.levels, variation.kernel_coefficients(), clock_t, clock_tau, clock_slope, rtol, rtol, max_steps,
        *out.values(),
    )
    return out


@pytest.mark.parametrize(
    "override, max_steps, status",
    [(dict(), 5, 1), (dict(ka=1e30), 10**6, 2), (dict(ka=math.inf), 10**6, 3), (dict(cl=math.nan), 10**6, 3)],
)
def test_status_codes__per_subject(override, max_steps, status):
    """The failing subject gets its status and NaN outputs; the other one is untouched."""
    table = SHORT.lower()
    kwargs = dict(times=[5.0, 200.0], levels=[500.0], window=(0.0, 240.0), max_steps=max_steps)
    got = run_kernel(table, raw_table(**override), **kwargs)
    assert got["status"][0] == status and 0 <= got["n_steps"][0] <= max_steps
    assert np.isnan(got["conc"][0, -1]) and np.isnan(got["peak"][0]) and np.all(np.isnan(got["time_below"][0]))
    if max_steps > 5:
        alone = run_kernel(table, raw_table(n=1), **kwargs)
        assert got["status"][1] == 0
        for name in ("conc", "time_below", "peak", "n_steps"):
            np.testing.assert_array_equal(got[name][1], alone[name][0])


def test_settings__out_of_range_are_refused():
    table, params = SHORT.lower(), raw_table()
    with pytest.raises(SimulationError, match="tolerances out of range"):
        run_ode_linear(table, params, rtol=0.0)
    with pytest.raises(SimulationError, match="tolerances out of range"):
        run_ode_linear(table, params, atol=-1.0)
    with pytest.raises(SimulationError, match="`max_steps` must be at least 1"):
        run_ode_linear(table, params, max_steps=0)


def test_max_steps__counts_steps():
    """n_steps reports the steps attempted, and max_steps = n_steps is just enough."""
    table, params = SHORT.lower(), raw_table()
    full = run_kernel(table, params, times=[100.0])
    just = run_kernel(table, params, times=[100.0], max_steps=int(full["n_steps"].max()))
    np.testing.assert_array_equal(just["status"], 0)
    np.testing.assert_array_equal(just["conc"], full["conc"])
    short = run_kernel(table, params, times=[100.0], max_steps=int(full["n_steps"].min()) - 1)
    np.testing.assert_array_equal(short["status"], 1)


# ------------------------------------------------------------------------------------------------
# 5. Compiled = uncompiled; the one-compartment layout; threads; dispatch
# ------------------------------------------------------------------------------------------------


def test_uncompiled__matches_compiled():
    """A short schedule (uncompiled kernels are slow): four doses, one central, varying rates, a
    paused clock, a parameter change, statistics. Same source and IEEE operations: bitwise equal."""
    interpreted = load_uncompiled("imapk.engine._ode_linear_kernels")
    assert not hasattr(interpreted.simulate_subject_linear, "py_func")  # really the pure-Python copy
    table = Schedule(phases=(Phase(dose=400, days=4),)).lower()
    params = ParameterTable.from_params(PKParams(**{**EECHOUTE, "n_transit": 2, "tlag": 0.3}),
                                        (ParameterChange.at(50.0, cl=8.0, v=140.0),), n=2)
    kwargs = dict(times=np.arange(-1.0, 100.0, 3.7), levels=(800.0, 2000.0), window=(2.0, 96.0), rtol=1e-6,
                  variation=VARIATION, clock=((0.0, 30.0, 60.0), (0.0, 30.0, 30.0), (1.0, 0.0, 1.0)),
                  routes=dict(dose_target=np.array([0, 1, 0, 1]), central_duration=np.array([0.0, 0.0, 0.0, 2.0])))
    compiled = run_kernel(table, params, **kwargs)
    plain = run_kernel(table, params, module=interpreted, **kwargs)
    assert np.all(compiled["status"] == 0) and np.all(compiled["conc"][:, -1] > 0)
    for name, value in compiled.items():
        np.testing.assert_array_equal(value, plain[name], err_msg=name)


def test_one_compartment_layout__same_bits_as_the_one_compartment_kernel():
    """On the one-compartment structure with first-order input the vector kernel does the
    one-compartment kernel's operations in the same order, so while the depot is not emptied
    (daily doses at this ka leave 1e-4 mg in it, far above 1e-3 atol) the results are bit for bit
    the same. (With zero-order input the layout has one compartment where the old kernel has two,
    so the mean in the error norm differs.)"""
    table = Schedule(phases=(Phase(dose=400, days=20),)).lower()
    params = ParameterTable.from_params(PKParams(cl=14.3, v=347.0, ka=0.609, tlag=0.5), n=1)
    kwargs = dict(variation=VARIATION, clock=therapy_clock(table, "running", 100.0), times=np.arange(0.0, 480.0, 1.3),
                  levels=np.array([500.0, 1500.0]), window=(10.0, 470.0))
    general = run_ode_linear(table, params, **kwargs)
    one = run_ode(table, params, **kwargs)
    for name in ("trough", "concentration", "time_below", "longest_below", "peak"):
        np.testing.assert_array_equal(getattr(general, name), getattr(one, name), err_msg=name)


def test_dispatch__run_ode_sends_multicompartment_structures_here():
    table = SHORT.lower()
    params = ParameterTable.from_params(PKParams(**EECHOUTE))
    kwargs = dict(variation=VARIATION, times=np.arange(0.0, 240.0, 5.0), levels=np.array([900.0]))
    via_run_ode = run_ode(table, params, **kwargs)
    direct = run_ode_linear(table, params, **kwargs)
    for name in ("trough", "concentration", "time_below", "longest_below", "peak"):
        np.testing.assert_array_equal(getattr(via_run_ode, name), getattr(direct, name), err_msg=name)


def test_threads__same_bits_for_any_thread_count_chunking_and_caller(monkeypatch):
    n = 19
    rng = np.random.default_rng(7)
    values = {name: np.full(n, float(v)) for name, v in EECHOUTE.items() if name != "n_transit"}
    values["cl"] *= np.exp(0.3 * rng.standard_normal(n))
    values["ktr"] *= np.exp(0.3 * rng.standard_normal(n))
    values.update(d1=None, f=np.ones(n), tlag=np.zeros(n))
    params = ParameterTable(values=values, n_transit=5)
    table = Schedule(phases=(Phase(dose=400, days=40),), holds=(Hold(start_day=11, days=4),)).lower()
    kwargs = dict(times=np.arange(1.3, 960.0, 7.1), levels=(500.0, 1500.0), window=(24.0, 900.0), variation=VARIATION,
                  clock=((0.0, 240.0, 336.0), (0.0, 240.0, 240.0), (1.0, 0.0, 1.0)))
    monkeypatch.setattr(kernels, "MIN_PARALLEL_WORK", 0)  # spread even this small population
    threads_before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        serial = run_kernel(table, params, **kwargs)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        runs = {"two threads": run_kernel(table, params, **kwargs)}
    finally:
        numba.set_num_threads(threads_before)
    assert np.all(serial["status"] == 0)
    chunks = []
    for lo, hi in ((0, 1), (1, 6), (6, 19)):
        part = ParameterTable(values={k: (None if v is None else v[lo:hi]) for k, v in values.items()}, n_transit=5)
        chunks.append(run_kernel(table, part, **kwargs))
    runs["chunks"] = {name: np.concatenate([c[name] for c in chunks]) for name in serial}
    worker = threading.Thread(target=lambda: runs.update({"worker thread": run_kernel(table, params, **kwargs)}))
    worker.start()
    worker.join()
    assert set(runs) == {"two threads", "chunks", "worker thread"}
    for label, run in runs.items():
        for name, value in serial.items():
            np.testing.assert_array_equal(run[name], value, err_msg=f"{label}: {name}")


# ------------------------------------------------------------------------------------------------
# 6. The step cap and the work
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_step_cap__covers_every_excited_eigenvalue(seed):
    """The cap keeps h |lambda| <= STIFF_LIMIT for every eigenvalue of A restricted to the
    compartments that hold or receive drug (A is block triangular: the eigenvalues of the excited
    chain compartments and of the central/peripheral block), and h |lambda| <= DISPOSITION_LIMIT
    for those of the central/peripheral block."""
    rng = np.random.default_rng(seed)
    ktr, ka, k10, k12, k21 = np.exp(rng.uniform(-3.0, 3.0, 5))
    n_tr = 4
    p = PKParams(cl=k10 * 100.0, v=100.0, ka=ka, q=k12 * 100.0, vp=k12 * 100.0 / k21, ktr=ktr, n_transit=n_tr)
    par = (ktr, ka, k10, k12, k21, 0.0, 0.0, 0.0, 0.0, 0.0, *np.zeros(8), 0.0)
    a = system_matrix(p, ka, p.cl)
    disposition = np.abs(np.linalg.eigvals(a[n_tr + 1 :, n_tr + 1 :])).max()
    for first in range(n_tr + 2):  # drug from compartment `first` on
        x = np.zeros(n_tr + 3)
        x[first] = 1.0
        h = kernels.step_limit(0.0, x, par, n_tr, 1, 1)
        assert h * np.abs(np.linalg.eigvals(a[first:, first:])).max() <= ode_kernels.STIFF_LIMIT * (1 + 1e-12)
        assert h * disposition <= kernels.DISPOSITION_LIMIT * (1 + 1e-12)


def test_work__steps_per_daily_dose():
    """Eechoute's structure at rtol = atol = 1e-8: about 58 steps per daily dose (scipy's DOP853
    takes about 92 on the same system). Emptied chain compartments are flushed; without that the
    cap 4 / ktr would hold all day (124 steps per dose)."""
    table = Schedule(phases=(Phase(dose=400, days=60),)).lower()
    got = run_kernel(table, ParameterTable.from_params(PKParams(**EECHOUTE)), rtol=1e-8)
    assert got["status"][0] == 0
    assert got["n_steps"][0] / 60 < 65


def test_flush__removes_only_negligible_drug():
    """A long hold empties every chain compartment (flushed below 1e-3 atol) and the curve still
    equals the exact path afterwards, down to concentrations far below the tolerance scale."""
    schedule = Schedule(phases=(Phase(dose=400, days=3), Phase(dose=0.0, days=60), Phase(dose=400, days=2)))
    table = schedule.lower()
    params = ParameterTable.from_params(PKParams(**EECHOUTE))
    times = np.arange(0.0, table.end, 2.5)
    exact = run_linear(table, params, times=times)
    tol = 1e-10
    got = run_ode_linear(table, params, times=times, rtol=tol, atol=tol)
    assert scaled_error(got.concentration, exact.concentration, 128.0, tol, tol).max() < SCALED_MAX
    assert np.all(got.concentration >= 0.0)
