"""The closed-form engine (imapk.engine.exact and its kernels) against independent references.

Every reference value comes from tests/reference.py (textbook superposition, 50-digit decimal
arithmetic, matrix exponentials or scipy's ODE solvers) or from a hand-derived closed form; none
comes from imapk's output. Each comparison states its tolerance and why.

Rounding budget used below: the engine steps a state through n events, each step costing a few
ulps, and the reference sums n positive terms with math.fsum (correctly rounded) of terms that
each carry a few ulps from exp(). Both are ~1e-15 relative for a year of daily doses, so 1e-10
relative leaves five orders of magnitude of headroom while still catching any wrong formula, wrong
dose, wrong time or wrong branch (those give errors of 1e-3 or more).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import reference as ref
from imapk import simulate
from imapk.engine import exact
from imapk.engine._numba import load_uncompiled
from imapk.errors import SimulationError
from imapk.params import ParameterChange, ParameterTable, PKParams
from imapk.schedule import Hold, LadderStep, Phase, Schedule, SteadyState
from imapk.thresholds import Threshold

CL, V, KA = 14.3, 347.0, 0.609  # Widmer 2006 typical values
K = CL / V  # the engine's k is this same double (cl / v)
WIDMER = PKParams(cl=CL, v=V, ka=KA)

CASE_REPORT = Schedule(
    phases=(Phase(dose=400, days=365),),
    holds=(Hold(start_day=29, days=14, restart=(LadderStep(200, 7), LadderStep(300, 56))),),
)
#: The first 120 days of the case report (hold and both ladder steps), for the slower references.
CASE_REPORT_120 = Schedule(
    phases=(Phase(dose=400, days=120),),
    holds=(Hold(start_day=29, days=14, restart=(LadderStep(200, 7), LadderStep(300, 56))),),
)
DOSE_TIMES, DOSE_AMOUNTS = ref.case_report_doses(365)
DOSE_TIMES_120, DOSE_AMOUNTS_120 = ref.case_report_doses(120)

#: Relative tolerance against exact references (see the module docstring).
RTOL = 1e-10
#: Below this a reference concentration counts as underflowed: compared with ATOL instead. [ng/mL]
FLOOR = 1e-6
#: Absolute tolerance below FLOOR: RTOL * FLOOR, so the check is continuous at the floor. Values
#: there are the tails of long holds (down to subnormals and exact zeros). [ng/mL]
ATOL = RTOL * FLOOR


def run(schedule, params, changes=(), **kwargs):
    """run_exact on one subject with typical parameters."""
    table = schedule.lower()
    return exact.run_exact(table, ParameterTable.from_params(params, tuple(changes)), **kwargs)


def assert_close(actual, expected, rtol=RTOL, floor=FLOOR, atol=ATOL):
    """Relative comparison where |expected| > floor, absolute (atol) below it; NaN never passes."""
    ref.assert_close(actual, expected, rtol, floor, atol)


def bateman(ka=KA, cl=CL, v=V):
    return lambda dt: ref.bateman_unit(dt, cl, v, ka)


# ------------------------------------------------------------------------------------------------
# 1. Superposition of textbook single-dose curves
# ------------------------------------------------------------------------------------------------


def test_case_report__hand_written_dose_list_matches_lowering():
    # The references below use the hand-written dose list; check that it is what the engine gets.
    table = CASE_REPORT.lower()
    assert np.array_equal(table.time, DOSE_TIMES)
    assert np.array_equal(table.given, DOSE_AMOUNTS)


@pytest.mark.parametrize("tlag", [0.0, 0.5])
def test_superposition__case_report_troughs(tlag):
    result = run(CASE_REPORT, WIDMER.updated(tlag=tlag))
    expected = ref.superpose(DOSE_TIMES, DOSE_TIMES + tlag, DOSE_AMOUNTS, bateman())
    # RTOL: both sides are exact to ~1e-15 (module docstring).
    assert_close(result.trough[0], expected)
    assert result.trough[0, 0] == 0.0  # nothing given before t = 0


@pytest.mark.parametrize("tlag", [0.0, 0.5])
def test_superposition__case_report_troughs_ka_equal_k(tlag):
    ka = CL / V  # the same double as the engine's k: the limit branch of the reference
    assert ka == K
    result = run(CASE_REPORT, WIDMER.updated(ka=ka, tlag=tlag))
    expected = ref.superpose(DOSE_TIMES, DOSE_TIMES + tlag, DOSE_AMOUNTS, bateman(ka=ka))
    # RTOL: the limit ka t e^{-kt} / V has no cancellation, exact to a few ulps.
    assert_close(result.trough[0], expected)


@pytest.mark.parametrize("relative", [1e-12, -1e-12, 3e-14])
@pytest.mark.parametrize("tlag", [0.0, 0.5])
def test_superposition__case_report_troughs_ka_near_k(relative, tlag):
    ka = K * (1.0 + relative)
    assert ka != K
    result = run(CASE_REPORT, WIDMER.updated(ka=ka, tlag=tlag))
    # The textbook form cancels catastrophically here in doubles (relative error ~ eps / (|ka-k| t)
    # ~ 1e-4), so the reference evaluates the same formula in 50-digit decimal arithmetic.
    unit = lambda dt: ref.bateman_unit_decimal(dt, CL, V, ka)  # noqa: E731
    expected = ref.superpose(DOSE_TIMES, DOSE_TIMES + tlag, DOSE_AMOUNTS, unit)
    # RTOL: the decimal reference is exact to double rounding; the engine's E3 form is exact to ulps.
    assert_close(result.trough[0], expected)


@pytest.mark.parametrize("ka", [KA, K], ids=["widmer", "ka_equal_k"])
@pytest.mark.parametrize("tlag", [0.0, 0.5])
def test_superposition__case_report_dense_grid(ka, tlag):
    # Half-hourly over the year, plus points just after inputs (steepest rise) and the dose times.
    times = np.concatenate([np.arange(0.0, 365 * 24.0, 0.5), DOSE_TIMES[::7] + tlag + 1e-3, [365 * 24.0 + 100.0]])
    result = run(CASE_REPORT, WIDMER.updated(ka=ka, tlag=tlag), times=times)
    expected = ref.superpose(times, DOSE_TIMES + tlag, DOSE_AMOUNTS, bateman(ka=ka))
    # RTOL: as for the troughs. (Points 1e-3 h after an input of a fresh dose only: the reference
    # value is dominated by older doses there, so the textbook form has no cancellation.)
    assert_close(result.concentration[0], expected)


def test_superposition__dense_grid_ka_near_k():
    ka = K * (1.0 + 1e-12)
    times = np.arange(0.0, 120 * 24.0, 0.75)
    result = run(CASE_REPORT_120, WIDMER.updated(ka=ka), times=times)
    unit = lambda dt: ref.bateman_unit_decimal(dt, CL, V, ka)  # noqa: E731
    expected = ref.superpose(times, DOSE_TIMES_120, DOSE_AMOUNTS_120, unit)
    # RTOL: decimal reference (see the trough test).
    assert_close(result.concentration[0], expected)


# ------------------------------------------------------------------------------------------------
# 2. scipy solve_ivp, restarted at every event
# ------------------------------------------------------------------------------------------------

IVP_RTOL, IVP_ATOL = 1e-10, 1e-12  # ATOL in mg of the state; as concentration: 1e-12 / 347 * 1000
IVP_ATOL_CONC = IVP_ATOL / V * 1000.0
#: Bound on |y - ref| / (atol + rtol |ref|). DOP853 keeps the local error per step near rtol; the
#: error of an interval is a sum over its ~10-30 steps, and errors of earlier intervals decay by
#: e^{-k tau} = 0.37 per interval, so the global error stays within a few tens of rtol (0.4 is
#: observed). 50 is that budget; a wrong model gives ratios of 1e6 and more.
IVP_BOUND = 50.0


def scaled_error(actual, expected):
    return np.abs(actual - expected) / (IVP_ATOL_CONC + IVP_RTOL * np.abs(expected))


#: LSODA controls a weighted RMS norm of the local error and switches order and method; its global
#: error is routinely 10-100 rtol (10 observed here), hence a 4x wider bound. (Radau would do too,
#: but takes 12 s for this schedule.)
IVP_BOUNDS = {"DOP853": IVP_BOUND, "LSODA": 4 * IVP_BOUND}


@pytest.mark.parametrize("method", sorted(IVP_BOUNDS))
@pytest.mark.parametrize("tlag", [0.0, 0.5])
def test_solve_ivp__case_report_troughs(method, tlag):
    result = run(CASE_REPORT_120, WIDMER.updated(tlag=tlag))
    expected = ref.event_reference(
        DOSE_TIMES_120, np.ones(DOSE_TIMES_120.size, bool), DOSE_TIMES_120 + tlag, DOSE_AMOUNTS_120,
        segments=[(0.0, KA, K, V)], propagator="ivp", method=method, rtol=IVP_RTOL, atol=IVP_ATOL,
    )
    assert scaled_error(result.trough[0], expected).max() < IVP_BOUNDS[method]


# ------------------------------------------------------------------------------------------------
# 3. Zero-order input
# ------------------------------------------------------------------------------------------------


def infusion(d1, cl=CL, v=V):
    return lambda dt: ref.infusion_unit(dt, cl, v, d1)


@pytest.mark.parametrize("tlag", [0.0, 0.5])
def test_zero_order__troughs_and_grid_match_superposition(tlag):
    d1 = 1.5
    times = np.concatenate([np.arange(0.0, 120 * 24.0, 0.25), DOSE_TIMES_120 + tlag + d1])
    result = run(CASE_REPORT_120, PKParams(cl=CL, v=V, d1=d1, tlag=tlag), times=times)
    unit = infusion(d1)
    # RTOL: the infusion formula with expm1 is exact to ulps.
    assert_close(result.trough[0], ref.superpose(DOSE_TIMES_120, DOSE_TIMES_120 + tlag, DOSE_AMOUNTS_120, unit))
    assert_close(result.concentration[0], ref.superpose(times, DOSE_TIMES_120 + tlag, DOSE_AMOUNTS_120, unit))


def test_zero_order__troughs_match_solve_ivp():
    d1 = 1.5
    result = run(CASE_REPORT_120, PKParams(cl=CL, v=V, d1=d1))
    expected = ref.event_reference(
        DOSE_TIMES_120, np.ones(DOSE_TIMES_120.size, bool), DOSE_TIMES_120, DOSE_AMOUNTS_120,
        segments=[(0.0, 0.0, K, V)], d1=d1, propagator="ivp", rtol=IVP_RTOL, atol=IVP_ATOL,
    )
    assert scaled_error(result.trough[0], expected).max() < IVP_BOUND  # see IVP_BOUND


@pytest.mark.parametrize("d1", [24.0, 30.0, 75.0])
def test_zero_order__overlapping_infusions_match_superposition(d1):
    # d1 >= the interval: up to 4 infusions run at once, and starts coincide with ends (d1 = 24).
    times = np.arange(0.0, 120 * 24.0, 0.5)
    result = run(CASE_REPORT_120, PKParams(cl=CL, v=V, d1=d1, tlag=0.25), times=times)
    unit = infusion(d1)
    # RTOL: exact references; the engine's running sum of rates adds a few ulps per start and end.
    assert_close(result.trough[0], ref.superpose(DOSE_TIMES_120, DOSE_TIMES_120 + 0.25, DOSE_AMOUNTS_120, unit))
    assert_close(result.concentration[0], ref.superpose(times, DOSE_TIMES_120 + 0.25, DOSE_AMOUNTS_120, unit))


# ------------------------------------------------------------------------------------------------
# 4. Steady-state start
# ------------------------------------------------------------------------------------------------

#: 40 days with a hold and a different pre-start dose and interval (600 mg q12h before t = 0).
SS_SCHEDULE = Schedule(
    phases=(Phase(dose=400, days=40),),
    holds=(Hold(start_day=10, days=5, restart=(LadderStep(200, 5),)),),
    steady_state=SteadyState(dose=600, interval=12),
)


def ss_reference(schedule, unit, tlag, f=1.0, obs=None):
    """Troughs (or concentrations at `obs`) with 3000 past doses before t = 0, by superposition.

    e^{-k * 3000 * 12 h} underflows: the omitted older doses contribute exactly nothing.
    """
    table = schedule.lower()
    ss = schedule.steady_state
    past_t, past_a = ref.past_train(ss.dose * f, ss.interval, 3000)
    input_t = np.concatenate([past_t, table.time]) + tlag
    input_a = np.concatenate([past_a, table.given * f])
    return ref.superpose(table.time if obs is None else obs, input_t, input_a, unit)


@pytest.mark.parametrize("ka", [KA, K], ids=["widmer", "ka_equal_k"])
@pytest.mark.parametrize("tlag", [0.0, 0.5, 12.0, 30.0])
def test_steady_state__first_order_troughs_match_infinite_sum(tlag, ka):
    times = np.arange(-20.0, 48.0, 0.5)
    result = run(SS_SCHEDULE, WIDMER.updated(ka=ka, tlag=tlag), times=times)
    # RTOL: exact references; the geometric-series state and the stepping are exact to ulps.
    assert_close(result.trough[0], ss_reference(SS_SCHEDULE, bateman(ka=ka), tlag))
    assert_close(result.concentration[0], ss_reference(SS_SCHEDULE, bateman(ka=ka), tlag, obs=times))


def test_steady_state__dense_output_before_t0_is_the_steady_state_curve():
    # The patient has been dosed "long enough" before t = 0: C(t) for t < 0 is the periodic
    # steady-state curve, not 0, however far back the output (or the statistics window) starts.
    times = np.arange(-200.0, 0.0, 1.25)
    window = (-200.0, 48.0)
    for tlag in (0.0, 30.0):
        result = run(SS_SCHEDULE, WIDMER.updated(tlag=tlag), times=times, levels=np.array([1.0]), window=window)
        # RTOL: exact reference.
        assert_close(result.concentration[0], ss_reference(SS_SCHEDULE, bateman(), tlag, obs=times))
        assert result.time_below[0, 0] == 0.0  # never below 1 ng/mL at steady state


def test_steady_state__change_before_t0_applies_from_its_time_on():
    # A change at t = -50 h: the infinite past runs with the old parameters, the change acts from
    # -50 h on, whatever output times are asked for. F changes too (applies to the dose at -48 h on).
    changes = (ParameterChange.at(-50.0, cl=10.0, f=0.8),)
    schedule = Schedule(phases=(Phase(dose=400, days=10),), steady_state=SteadyState(dose=400, interval=24))
    table = schedule.lower()
    # Reference: 400 past doses from zero (e^{-k 400 24} ~ 1e-170: the truncation is invisible),
    # stepped with matrix exponentials.
    past = -24.0 * np.arange(400, 0, -1)
    inputs = np.concatenate([past, table.time]) + 0.5
    amounts = np.concatenate([np.where(past >= -50.0, 0.8, 1.0) * 400.0, 0.8 * table.given])
    times = np.arange(-100.0, 48.0, 2.0)
    obs = np.concatenate([table.time, times])
    left = np.concatenate([np.ones(table.time.size, bool), np.zeros(times.size, bool)])
    segments = [(-math.inf, KA, K, V), (-50.0, KA, 10.0 / V, V)]
    expected = ref.event_reference(obs, left, inputs, amounts, segments=segments, t0=past[0])
    params = WIDMER.updated(tlag=0.5)
    plain = run(schedule, params, changes)
    dense = run(schedule, params, changes, times=times)
    # RTOL: expm reference.
    assert_close(plain.trough[0], expected[: table.time.size])
    assert_close(dense.trough[0], expected[: table.time.size])
    assert_close(dense.concentration[0], expected[table.time.size :])


def test_steady_state__troughs_do_not_depend_on_output_times():
    # Asking for output before t = 0 simulates more pre-start doses explicitly instead of summing
    # them in closed form; the troughs agree to rounding (1e-13: a few ulps per extra step).
    params = WIDMER.updated(tlag=30.0)
    plain = run(SS_SCHEDULE, params).trough
    early = run(SS_SCHEDULE, params, times=np.array([-500.0])).trough
    np.testing.assert_allclose(early, plain, rtol=1e-13, atol=0)


def test_steady_state__subjects_with_different_lags():
    # One table, three lags: the pre-start doses simulated explicitly are set by the largest lag.
    lags = np.array([0.0, 0.5, 30.0])
    params = ParameterTable(
        values={"cl": np.full(3, CL), "v": np.full(3, V), "ka": np.full(3, KA), "d1": None,
                "f": np.array([1.0, 0.9, 1.1]), "tlag": lags},
    )
    result = exact.run_exact(SS_SCHEDULE.lower(), params, times=np.arange(-5.0, 60.0, 0.5))
    for s, (tlag, f) in enumerate(zip(lags, [1.0, 0.9, 1.1])):
        # RTOL: exact references.
        assert_close(result.trough[s], ss_reference(SS_SCHEDULE, bateman(), tlag, f=f))
        assert_close(result.concentration[s], ss_reference(SS_SCHEDULE, bateman(), tlag, f=f, obs=np.arange(-5.0, 60.0, 0.5)))


@pytest.mark.parametrize("tlag", [0.0, 0.5, 30.0])
@pytest.mark.parametrize("d1", [1.5, 12.0])
def test_steady_state__zero_order_troughs_match_infinite_sum(d1, tlag):
    result = run(SS_SCHEDULE, PKParams(cl=CL, v=V, d1=d1, tlag=tlag))
    # RTOL: exact references (d1 = 12 h = the pre-start interval: each infusion ends as the next starts).
    assert_close(result.trough[0], ss_reference(SS_SCHEDULE, infusion(d1), tlag))


def test_steady_state__f_scales_the_pre_start_train():
    params = WIDMER.updated(f=0.8, tlag=0.5)
    result = run(SS_SCHEDULE, params)
    # RTOL: exact references.
    assert_close(result.trough[0], ss_reference(SS_SCHEDULE, bateman(), 0.5, f=0.8))


def test_steady_state__typical_trough_is_732():
    # Literature note (models.widmer2006): typical steady-state trough at 400 mg q24h is
    # 732 ng/mL (closed form; nlmixr2lib 732.1). The hand-derived geometric series gives 732.17.
    closed_form = ref.steady_state_first_order(400.0, 24.0, CL, V, KA)
    assert round(closed_form) == 732
    assert round(closed_form, 2) == 732.17
    schedule = Schedule(phases=(Phase(dose=400, days=10),), steady_state=SteadyState(dose=400, interval=24))
    troughs = run(schedule, WIDMER).trough[0]
    assert np.all(np.round(troughs) == 732)
    # RTOL: the closed form is exact to ulps (the e^{-ka tau} term is 4e-7 and not cancelled).
    assert_close(troughs, np.full(troughs.size, closed_form))
    # With a lag the scheduled time is (-tlag mod 24) h after the latest input: 23.5 h and 18 h.
    for tlag, since in ((0.5, 23.5), (30.0, 18.0)):
        troughs = run(schedule, WIDMER.updated(tlag=tlag)).trough[0]
        expected = ref.steady_state_first_order(400.0, 24.0, CL, V, KA, since=since)
        assert_close(troughs, np.full(troughs.size, expected))  # RTOL: as above
    # Without a steady-state start the trough after 60 days is the same to 1e-25 (e^{-k 24 59}).
    ds = simulate(Schedule(phases=(Phase(dose=400, days=60),)), WIDMER)
    assert round(ds.trough.sel(dose=59).item(0), 2) == 732.17


def test_steady_state__zero_order_longer_than_interval_is_refused():
    with pytest.raises(SimulationError):
        run(SS_SCHEDULE, PKParams(cl=CL, v=V, d1=12.5))


# ------------------------------------------------------------------------------------------------
# 5. Parameter changes
# ------------------------------------------------------------------------------------------------


def segments_for(changes, base=WIDMER):
    """[(start, ka, k, v)] for the reference from a list of ParameterChange (cl, v, ka only)."""
    current = {"cl": base.cl, "v": base.v, "ka": base.ka or 0.0}
    out = [(-math.inf, current["ka"], current["cl"] / current["v"], current["v"])]
    for change in sorted(changes, key=lambda c: c.time):
        current.update({k: v for k, v in change.values if k != "f"})
        out.append((change.time, current["ka"], current["cl"] / current["v"], current["v"]))
    return out


def f_by_hand(scheduled_times, changes, f0=1.0):
    """F per scheduled dose: a change at time T applies to doses scheduled at or after T."""
    f = np.full(scheduled_times.size, f0)
    for change in sorted(changes, key=lambda c: c.time):
        values = dict(change.values)
        if "f" in values:
            f[scheduled_times >= change.time] = values["f"]
    return f


PARAMETER_CASES = {
    # clearance falls at the start of the hold (day 29) and rises again later, between doses
    "cl": (ParameterChange.at(672.0, cl=10.6), ParameterChange.at(1500.5, cl=16.0)),
    # a step in v at a dose time (day 11, t = 240 h): the trough there is C(240-) with the old v
    "v_at_dose_time": (ParameterChange.at(240.0, v=250.0),),
    # a step in v between doses and a combined change
    "v_and_cl": (ParameterChange.at(100.0, v=420.0), ParameterChange.at(1000.0, cl=12.0, v=300.0)),
    # f changes between doses (applies from dose 13), at a dose time (applies to dose 40), and
    # between a scheduled time and its lagged input (with tlag 0.5 h, dose 50 keeps f = 1.3: F goes
    # with the scheduled time, not the input time)
    "f": (ParameterChange.at(300.0, f=0.7), ParameterChange.at(960.0, f=1.3), ParameterChange.at(1200.25, f=0.9)),
    # absorption slows between doses (the depot in transit switches rate) and becomes equal to k
    "ka": (ParameterChange.at(50.3, ka=0.2), ParameterChange.at(1300.0, ka=K)),
}


@pytest.mark.parametrize("tlag", [0.0, 0.5])
@pytest.mark.parametrize("case", sorted(PARAMETER_CASES))
def test_parameter_change__matches_piecewise_expm(case, tlag):
    changes = PARAMETER_CASES[case]
    times = np.concatenate([np.arange(0.0, 120 * 24.0, 1.0), [c.time for c in changes]])
    result = run(CASE_REPORT_120, WIDMER.updated(tlag=tlag), changes, times=times)
    amounts = DOSE_AMOUNTS_120 * f_by_hand(DOSE_TIMES_120, changes)
    obs = np.concatenate([DOSE_TIMES_120, times])
    left = np.concatenate([np.ones(DOSE_TIMES_120.size, bool), np.zeros(times.size, bool)])
    expected = ref.event_reference(obs, left, DOSE_TIMES_120 + tlag, amounts, segments=segments_for(changes))
    # RTOL: expm of a 3 x 3 matrix is accurate to ~1e-15 relative per step; ~500 steps.
    assert_close(result.trough[0], expected[: DOSE_TIMES_120.size])
    assert_close(result.concentration[0], expected[DOSE_TIMES_120.size :])


def test_parameter_change__matches_solve_ivp():
    changes = PARAMETER_CASES["v_and_cl"] + (ParameterChange.at(700.0, ka=1.5),)
    result = run(CASE_REPORT_120, WIDMER.updated(tlag=0.5), changes)
    expected = ref.event_reference(
        DOSE_TIMES_120, np.ones(DOSE_TIMES_120.size, bool), DOSE_TIMES_120 + 0.5, DOSE_AMOUNTS_120,
        segments=segments_for(changes), propagator="ivp", rtol=IVP_RTOL, atol=IVP_ATOL,
    )
    assert scaled_error(result.trough[0], expected).max() < IVP_BOUND  # see IVP_BOUND


def test_parameter_change__v_step_at_dose_time_trough_uses_old_v():
    change = ParameterChange.at(240.0, v=250.0)
    result = run(CASE_REPORT_120, WIDMER, (change,), times=np.array([240.0]))
    # Without the change the trough at 240 h is the plain superposition with v = 347 L.
    plain = ref.superpose([240.0], DOSE_TIMES_120, DOSE_AMOUNTS_120, bateman())[0]
    # RTOL: exact reference; the amount does not jump, so C(240-) uses v = 347 and C(240) v = 250.
    assert_close(result.trough[0, 10], plain)
    assert_close(result.concentration[0, 0], plain * V / 250.0)


def test_parameter_change__f_change_scales_exactly_the_later_doses():
    # With F = 0.5 from t = 480 h (dose 20) on, the curve is the superposition of the scaled doses.
    change = ParameterChange.at(480.0, f=0.5)
    result = run(CASE_REPORT_120, WIDMER.updated(tlag=0.5), (change,))
    amounts = np.where(DOSE_TIMES_120 >= 480.0, 0.5, 1.0) * DOSE_AMOUNTS_120
    # RTOL: exact reference.
    assert_close(result.trough[0], ref.superpose(DOSE_TIMES_120, DOSE_TIMES_120 + 0.5, amounts, bateman()))


def test_parameter_change__zero_order_cl_and_v():
    changes = (ParameterChange.at(300.0, cl=9.0), ParameterChange.at(601.0, v=500.0))
    params = PKParams(cl=CL, v=V, d1=30.0)  # the change at 601 h falls inside running infusions
    times = np.arange(0.0, 120 * 24.0, 1.0)
    result = run(CASE_REPORT_120, params, changes, times=times)
    obs = np.concatenate([DOSE_TIMES_120, times])
    left = np.concatenate([np.ones(DOSE_TIMES_120.size, bool), np.zeros(times.size, bool)])
    expected = ref.event_reference(
        obs, left, DOSE_TIMES_120, DOSE_AMOUNTS_120, segments=segments_for(changes, base=params), d1=30.0
    )
    # RTOL: expm reference (see test_parameter_change__matches_piecewise_expm).
    assert_close(result.trough[0], expected[: DOSE_TIMES_120.size])
    assert_close(result.concentration[0], expected[DOSE_TIMES_120.size :])


# ------------------------------------------------------------------------------------------------
# 6. Continuity across ka = k
# ------------------------------------------------------------------------------------------------


def test_continuity__across_ka_equal_k():
    schedule = Schedule(phases=(Phase(dose=400, days=30),), holds=(Hold(start_day=10, days=3),))
    offsets = [-1e-6, -1e-9, -1e-12, 0.0, 1e-12, 1e-9, 1e-6]
    troughs = np.array([run(schedule, WIDMER.updated(ka=K * (1.0 + d))).trough[0, 1:] for d in offsets])
    c0 = troughs[3]
    # Derivative dC/dd from the 50-digit reference (independent of the engine), central difference.
    times, amounts = 24.0 * np.arange(30), np.where((np.arange(30) >= 9) & (np.arange(30) < 12), 0.0, 400.0)
    exact = {}
    for d in (-1e-6, 1e-6):
        ka = K * (1.0 + d)
        exact[d] = ref.superpose(times[1:], times, amounts, lambda dt: ref.bateman_unit_decimal(dt, CL, V, ka))
    slope = (exact[1e-6] - exact[-1e-6]) / 2e-6
    for d, c in zip(offsets, troughs):
        # |C(d) - C(0)| <= |dC/dd| |d| (1 + 1e-3: curvature, second order in d = 1e-6 gives ~1e-5
        # relative to the linear term) + 1e-14 |C| (rounding of two engine runs, ~30 steps each).
        bound = np.abs(slope) * abs(d) * (1.0 + 1e-3) + 1e-14 * np.abs(c0)
        assert np.all(np.abs(c - c0) <= bound), d
    # Smooth, not merely bounded: at d = +-1e-6 the change is the linear term to 1e-3.
    for d in (-1e-6, 1e-6):
        change = troughs[offsets.index(d)] - c0
        assert np.allclose(change, slope * d, rtol=1e-3, atol=1e-14 * c0.max())


# ------------------------------------------------------------------------------------------------
# 7. Uncompiled kernels give the same numbers as the compiled ones
# ------------------------------------------------------------------------------------------------


def _population(kind):
    n = 3
    values = {
        "cl": np.array([14.3, 9.1, 22.0]),
        "v": np.array([347.0, 180.0, 520.0]),
        "ka": np.array([0.609, 9.1 / 180.0, 3.0]) if kind == "first-order" else None,
        "d1": None if kind == "first-order" else np.array([1.5, 24.0, 30.0]),
        "f": np.ones(n),
        "tlag": np.array([0.0, 0.5, 26.0]),
    }
    return ParameterTable(
        values=values,
        change_times=(100.0, 150.0),
        change_values=({"cl": np.array([10.0, 11.0, 12.0])}, {"v": np.array([300.0, 200.0, 400.0]), "f": np.full(n, 0.6)}),
    )


@pytest.mark.parametrize("steady", [False, True])
@pytest.mark.parametrize("kind", ["first-order", "zero-order"])
def test_uncompiled__matches_compiled(monkeypatch, kind, steady):
    schedule = Schedule(
        phases=(Phase(dose=(400, 300), interval=24, doses=10),),
        missed_doses=(4,),
        steady_state=SteadyState(dose=400, interval=30) if steady else None,
    )
    table = schedule.lower()
    params = _population(kind)
    kwargs = dict(times=np.arange(-10.0, 260.0, 3.7), levels=np.array([300.0, 800.0, 5000.0]), window=(5.0, 240.0))
    compiled = exact.run_exact(table, params, **kwargs)
    monkeypatch.setattr(exact, "kernels", load_uncompiled("imapk.engine._exact_kernels"))
    assert not hasattr(exact.kernels.walk, "py_func")  # really the pure-Python copy
    interpreted = exact.run_exact(table, params, **kwargs)
    # Same source, same IEEE operations, no fastmath: bitwise equal is expected. If a platform's
    # libm and LLVM disagree on exp/expm1 by an ulp, 1e-14 relative would be the fallback.
    for name in ("trough", "concentration", "time_below", "longest_below", "peak"):
        np.testing.assert_array_equal(getattr(compiled, name), getattr(interpreted, name), err_msg=name)
    assert np.all(compiled.trough[:, 2:] > 0)  # drug present (tlag 26 h leaves t = 24 h empty)


# ------------------------------------------------------------------------------------------------
# 8. Threshold statistics
# ------------------------------------------------------------------------------------------------

THRESHOLD_SCHEDULE = Schedule(
    phases=(Phase(dose=400, days=70),),
    holds=(Hold(start_day=29, days=14, restart=(LadderStep(200, 7), LadderStep(300, 56))),),
)
THRESHOLD_TIMES, THRESHOLD_AMOUNTS = ref.case_report_doses(70)


def curve(params, input_times, amounts):
    """Scalar C(t) and C'(t) by superposition (for brentq)."""
    unit = bateman(ka=params.ka, cl=params.cl, v=params.v)

    def conc(t):
        return math.fsum(amounts * unit(t - input_times))

    def slope(t):
        return math.fsum(amounts * ref.bateman_slope_unit(t - input_times, params.cl, params.v, params.ka))

    return conc, slope


#: Crossing times: brentq to 1e-13 h, engine bisection to the double spacing at t ~ 1700 h (2e-13 h),
#: C rounding ~1e-13 relative over slopes >= 1 ng/mL/h shifts a crossing < 1e-10 h; ~100 crossings.
TIME_TOL = 1e-8  # h


@pytest.mark.parametrize("tlag", [0.0, 0.5])
@pytest.mark.parametrize(
    "level",
    [1100.0, 1000.0, 600.0, 1.0, 1e-3, 1500.0, 5000.0],
    ids=["gist", "cml", "600", "1", "1e-3", "1500-near-peaks", "never-reached"],
)
def test_thresholds__match_brentq_reference(level, tlag):
    params = WIDMER.updated(tlag=tlag)
    window = (28 * 24.0, 70 * 24.0)
    result = run(THRESHOLD_SCHEDULE, params, levels=np.array([level]), window=window)
    conc, slope = curve(params, THRESHOLD_TIMES + tlag, THRESHOLD_AMOUNTS)
    below, longest, peak = ref.threshold_reference(conc, slope, THRESHOLD_TIMES + tlag, window, level)
    assert abs(result.time_below[0, 0] - below) <= TIME_TOL
    assert abs(result.longest_below[0, 0] - longest) <= TIME_TOL
    # Peak: located by bisection on the sign of dC/dt; C is flat there, so the value is exact to
    # rounding: 1e-12 relative.
    assert abs(result.peak[0] - peak) <= 1e-12 * peak
    # Coarse, fully independent cross-check: midpoint grid of step h; each crossing can be off by
    # at most h.
    h = 0.01
    grid = np.arange(window[0] + h / 2, window[1], h)
    on_grid = ref.superpose(grid, THRESHOLD_TIMES + tlag, THRESHOLD_AMOUNTS, bateman())
    crossings = np.count_nonzero(np.diff(on_grid < level)) + 2
    assert abs(result.time_below[0, 0] - ref.grid_time_below(on_grid, h, level)) <= crossings * h


@pytest.mark.parametrize("d1", [1.5, 30.0])
def test_thresholds__zero_order_match_brentq_reference(d1):
    params = PKParams(cl=CL, v=V, d1=d1, tlag=0.5)
    window = (20 * 24.0 + 3.0, 70 * 24.0)
    levels = np.array([1100.0, 1000.0, 600.0, 1e-3])
    result = run(THRESHOLD_SCHEDULE, params, levels=levels, window=window)
    inputs = THRESHOLD_TIMES + 0.5
    amounts = THRESHOLD_AMOUNTS

    def conc(t):
        return math.fsum(amounts * ref.infusion_unit(t - inputs, CL, V, d1))

    def slope(t):
        return math.fsum(amounts * ref.infusion_slope_unit(t - inputs, CL, V, d1))

    breakpoints = np.concatenate([inputs, inputs + d1])
    for m, level in enumerate(levels):
        below, longest, peak = ref.threshold_reference(conc, slope, breakpoints, window, level)
        assert abs(result.time_below[0, m] - below) <= TIME_TOL
        assert abs(result.longest_below[0, m] - longest) <= TIME_TOL
    # Peaks sit at the infusion ends (kinks): the value there is exact to rounding, 1e-12.
    assert abs(result.peak[0] - peak) <= 1e-12 * peak


def test_thresholds__v_steps_jump_across_levels():
    # v drops (C jumps up by 347/200) and later returns (C jumps down), with cl scaled so that
    # k = cl / v stays the same: the amounts follow plain superposition and C = amount / v(t).
    t_up, t_down = 20 * 24.0 + 5.0, 24 * 24.0 + 7.0
    changes = (ParameterChange.at(t_up, v=200.0, cl=CL * 200.0 / V), ParameterChange.at(t_down, v=V, cl=CL))
    window = (10 * 24.0, 70 * 24.0)
    levels = np.array([1100.0, 1500.0, 2000.0, 2600.0])
    result = run(THRESHOLD_SCHEDULE, WIDMER, changes, levels=levels, window=window)
    base, base_slope = curve(WIDMER, THRESHOLD_TIMES, THRESHOLD_AMOUNTS)

    def scale(t, left):
        inside = (t_up < t < t_down) or (t == t_up and not left) or (t == t_down and left)
        return V / 200.0 if inside else 1.0

    def conc(t):
        return base(t) * scale(t, left=False)

    def conc_left(t):
        return base(t) * scale(t, left=True)

    def slope(t):
        return base_slope(t) * scale(t, left=False)

    breakpoints = np.concatenate([THRESHOLD_TIMES, [t_up, t_down]])
    for m, level in enumerate(levels):
        below, longest, peak = ref.threshold_reference(conc, slope, breakpoints, window, level, conc_left=conc_left)
        # TIME_TOL; k differs from the unchanged one by at most an ulp (1e-14 relative in C).
        assert abs(result.time_below[0, m] - below) <= TIME_TOL, level
        assert abs(result.longest_below[0, m] - longest) <= TIME_TOL, level
    assert abs(result.peak[0] - peak) <= 1e-12 * peak
    assert peak > 2600.0  # the jump lifts the curve above every level


def test_thresholds__never_crosses():
    window = (28 * 24.0, 70 * 24.0)
    result = run(THRESHOLD_SCHEDULE, WIDMER, levels=np.array([5000.0, 1e-9]), window=window)
    length = window[1] - window[0]
    # Always below 5000: the whole window, as one stretch (exact: a difference of two doubles).
    assert result.time_below[0, 0] == length
    assert result.longest_below[0, 0] == length
    # Always above 1e-9 ng/mL (the 14-day hold leaves ~1e-3 ng/mL).
    assert result.time_below[0, 1] == 0.0
    assert result.longest_below[0, 1] == 0.0


def test_thresholds__window_inside_hold_is_all_below():
    window = (30 * 24.0 + 5.0, 40 * 24.0)  # inside the hold, the curve only falls
    result = run(THRESHOLD_SCHEDULE, WIDMER, levels=np.array([1000.0]), window=window)
    assert result.time_below[0, 0] == window[1] - window[0]
    conc, _ = curve(WIDMER, THRESHOLD_TIMES, THRESHOLD_AMOUNTS)
    # Peak at the window start (falling curve): exact reference to RTOL.
    assert abs(result.peak[0] - conc(window[0])) <= RTOL * conc(window[0])


def test_thresholds__ceiling_through_simulate():
    tox = Threshold("tox", 1500.0, "concentration_ceiling")
    gist = Threshold("gist", 1100.0, "target")
    window = (0.0, 70 * 24.0)
    ds = simulate(THRESHOLD_SCHEDULE, WIDMER, thresholds=[tox, gist], window=window)
    conc, slope = curve(WIDMER, THRESHOLD_TIMES, THRESHOLD_AMOUNTS)
    for name, threshold in (("tox", tox), ("gist", gist)):
        below, longest, peak = ref.threshold_reference(conc, slope, THRESHOLD_TIMES, window, threshold.value)
        above = (window[1] - window[0]) - below
        assert abs(ds.time_above.sel(threshold=name).item(0) - above) <= TIME_TOL
        assert abs(ds.longest_below.sel(threshold=name).item(0) - longest) <= TIME_TOL
    assert ds.time_above.sel(threshold="tox").item(0) > 0  # the peaks do exceed 1500 ng/mL
    assert abs(ds.peak_concentration.item(0) - peak) <= 1e-12 * peak


def test_thresholds__window_before_first_dose_counts_as_below():
    # No drug before t = 0 (the troughs and dense output say C = 0 there), so a window starting
    # before the first dose is below every positive level until the first rise.
    schedule = Schedule(phases=(Phase(dose=400, days=5),))
    window = (-10.0, 5 * 24.0)
    result = run(schedule, WIDMER, levels=np.array([100.0]), window=window, times=np.array([-5.0]))
    assert result.concentration[0, 0] == 0.0
    times, amounts = 24.0 * np.arange(5), np.full(5, 400.0)
    conc, slope = curve(WIDMER, times, amounts)
    below, longest, _ = ref.threshold_reference(conc, slope, times, window, 100.0)
    assert below > 10.0
    assert abs(result.time_below[0, 0] - below) <= TIME_TOL
    assert abs(result.longest_below[0, 0] - longest) <= TIME_TOL


# ------------------------------------------------------------------------------------------------
# 9. Edge cases
# ------------------------------------------------------------------------------------------------


def test_edge__very_long_hold_underflows_cleanly():
    schedule = Schedule(phases=(Phase(dose=400, days=2020),), holds=(Hold(start_day=6, days=2000),))
    times = np.arange(0.0, 2020 * 24.0, 6.0)
    result = run(schedule, WIDMER, times=times, levels=np.array([1000.0]))
    for values in (result.trough[0], result.concentration[0]):
        assert np.all(np.isfinite(values))
        assert np.all(values >= 0.0)
    assert result.trough[0, 2004] == 0.0  # e^{-k 48000 h} underflows to exactly zero
    amounts = np.where((np.arange(2020) >= 5) & (np.arange(2020) < 2005), 0.0, 400.0)
    dose_times = 24.0 * np.arange(2020)
    # RTOL above FLOOR; below it ATOL = 1e-16 ng/mL (tiny positives and exact zeros both pass).
    assert_close(result.trough[0], ref.superpose(dose_times, dose_times, amounts, bateman()))
    assert_close(result.concentration[0], ref.superpose(times, dose_times, amounts, bateman()))


@pytest.mark.parametrize("dose", [1e-6, 1e6])
def test_edge__linearity_in_dose(dose):
    base = run(CASE_REPORT_120, WIDMER, times=np.arange(0.0, 2880.0, 7.0))
    scaled_schedule = Schedule(
        phases=(Phase(dose=dose, days=120),),
        holds=(Hold(start_day=29, days=14, restart=(LadderStep(dose / 2, 7), LadderStep(dose * 0.75, 56))),),
    )
    scaled = run(scaled_schedule, WIDMER, times=np.arange(0.0, 2880.0, 7.0))
    factor = dose / 400.0
    # 1e-13 relative: the scaled run rounds every intermediate differently (the factor is not a
    # power of two); the error is a few ulps per step, not a loss of linearity.
    np.testing.assert_allclose(scaled.trough[0], base.trough[0] * factor, rtol=1e-13, atol=0)
    np.testing.assert_allclose(scaled.concentration[0], base.concentration[0] * factor, rtol=1e-13, atol=0)


@pytest.mark.parametrize("ka", [100.0, 20.0 * K, 0.05 * K, 0.002], ids=["fast", "20k", "flip-flop", "flip-flop-slow"])
def test_edge__fast_and_flip_flop_absorption(ka):
    times = np.arange(0.0, 120 * 24.0, 0.5)
    result = run(CASE_REPORT_120, WIDMER.updated(ka=ka, tlag=0.5), times=times)
    # RTOL: with |ka - k| >= 0.95 k the textbook form has no harmful cancellation.
    assert_close(result.trough[0], ref.superpose(DOSE_TIMES_120, DOSE_TIMES_120 + 0.5, DOSE_AMOUNTS_120, bateman(ka=ka)))
    assert_close(result.concentration[0], ref.superpose(times, DOSE_TIMES_120 + 0.5, DOSE_AMOUNTS_120, bateman(ka=ka)))


def test_edge__single_dose():
    times = np.concatenate([np.linspace(0.0, 200.0, 801), [1e-9, 1e-3, 5000.0]])
    result = run(Schedule(phases=(Phase(dose=400, doses=1),)), WIDMER, times=times, levels=np.array([1.0]))
    expected = ref.superpose(times, [0.0], [400.0], bateman())
    # RTOL, except at t = 1e-9 h where the textbook form cancels (e^{-kt} - e^{-ka t} ~ 6e-10 with
    # absolute error 1e-16): compare there with the first-order Taylor value F D ka t / V instead.
    tiny = times == 1e-9
    assert_close(result.concentration[0][~tiny], expected[~tiny])
    assert abs(result.concentration[0][tiny][0] - 400 * KA * 1e-9 / V * 1000) <= 1e-8 * 400 * KA * 1e-9 / V * 1000
    assert result.trough[0, 0] == 0.0
    # Peak of a single dose: t_max = ln(ka / k) / (ka - k), textbook.
    t_max = math.log(KA / K) / (KA - K)
    assert abs(result.peak[0] - ref.superpose([t_max], [0.0], [400.0], bateman())[0]) <= 1e-12 * result.peak[0]


def test_edge__zero_amount_doses():
    # Every other dose is 0 mg, and the schedule ends with zero doses.
    schedule = Schedule(phases=(Phase(dose=(400, 0), interval=12, days=10), Phase(dose=0, days=3)))
    table = schedule.lower()
    times = np.arange(0.0, 13 * 24.0, 1.0)
    for params, unit in ((WIDMER.updated(tlag=0.5), bateman()), (PKParams(cl=CL, v=V, d1=15.0, tlag=0.5), infusion(15.0))):
        result = exact.run_exact(table, ParameterTable.from_params(params), times=times)
        assert_close(result.trough[0], ref.superpose(table.time, table.time + 0.5, table.given, unit))
        assert_close(result.concentration[0], ref.superpose(times, table.time + 0.5, table.given, unit))
    # All doses zero, also at steady state: no drug at all.
    nothing = Schedule(phases=(Phase(dose=0, days=3),), steady_state=SteadyState(dose=0))
    result = run(nothing, WIDMER, times=times[:72], levels=np.array([1.0]))
    assert np.all(result.trough == 0.0) and np.all(result.concentration == 0.0)
    assert result.peak[0] == 0.0


def test_edge__dense_times_unsorted_and_repeated():
    times = np.array([500.0, 24.0, 24.0, 0.0, 1e4, 3.0, 500.0])
    result = run(CASE_REPORT_120, WIDMER, times=times)
    # RTOL: exact reference; the driver sorts and unsorts the output.
    assert_close(result.concentration[0], ref.superpose(times, DOSE_TIMES_120, DOSE_AMOUNTS_120, bateman()))


def test_steady_state__output_far_before_start_is_refused():
    from imapk.schedule import Phase, Schedule, SteadyState

    schedule = Schedule(phases=(Phase(dose=400, days=2),), steady_state=SteadyState(400, 24))
    with pytest.raises(SimulationError, match="too far before t = 0"):
        simulate(schedule, PKParams(cl=14.3, v=347.0, ka=0.609), times=np.array([-1e6, 0.0]))
