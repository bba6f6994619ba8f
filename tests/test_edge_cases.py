"""Numerical edge cases of simulate(), each against an independent reference or a clear refusal.

References are written here with numpy and nothing from imapk: superposition of the single-dose
Bateman function (first-order input, optionally lagged) or of the constant-rate infusion curve
(zero-order input), summed with ``math.fsum``; the closed-form steady state of an infinite dose
train; or a long simulated run-in. Dose lists are written out by hand, not taken from the lowering.

Rounding budget (for the 1e-10 relative tolerance used against exact references): the engine
steps a contracting linear recurrence, a few ulps per event, and the reference sums positive terms
that each carry a few ulps from exp/expm1. Both stay near 1e-14 relative even for thousands of
doses; 1e-10 leaves four orders of headroom while a wrong formula, dose, time or branch errs by
1e-3 or more. Values below FLOOR (underflowed tails of long holds, the time before the first input)
are compared absolutely with ATOL = RTOL * FLOOR, continuous at the floor.

Units: mg, h, L, L/h, 1/h; concentrations ng/mL (= mg/L * 1000).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from imapk import simulate
from imapk.errors import ImapkError, ScheduleError, SimulationError
from imapk.params import ParameterTable, PKParams
from imapk.schedule import DoseTable, Hold, LadderStep, Phase, Schedule, SteadyState

import reference as ref

NG_PER_ML = 1000.0  # mg/L -> ng/mL
CL, V, KA = 14.3, 347.0, 0.609  # Widmer 2006 typical values
K = CL / V
WIDMER = PKParams(cl=CL, v=V, ka=KA)

#: Relative tolerance against exact references (module docstring).
RTOL = 1e-10
#: Below this a reference concentration counts as underflowed and is compared absolutely. [ng/mL]
FLOOR = 1e-6
ATOL = RTOL * FLOOR
#: ODE path tolerances (amounts, mg) and the bound on its error scaled by them (see ode_error).
ODE_RTOL = ODE_ATOL = 1e-8
ODE_BOUND = 50.0


# ------------------------------------------------------------------------------------------------
# Independent references
# ------------------------------------------------------------------------------------------------


def bateman(dt, cl, v, ka):
    """Concentration per mg [ng/mL] of a first-order input dt h ago (0 for dt <= 0).

    ka / (V (ka - k)) (e^{-kt} - e^{-ka t}) written as ka / (V |ka - k|) e^{-min(ka, k) t}
    (1 - e^{-|ka - k| t}) with expm1: the same value with no cancellation at small t, and no
    0 * inf for flip-flop kinetics at large t. Requires ka != k.
    """
    k = cl / v
    assert ka != k
    dt = np.asarray(dt, dtype=float)
    t = np.where(dt > 0, dt, 0.0)
    gap = abs(ka - k)
    c = ka / gap * np.exp(-min(ka, k) * t) * -np.expm1(-gap * t) / v * NG_PER_ML
    return np.where(dt > 0, c, 0.0)


def infusion(dt, cl, v, d1):
    """Concentration per mg [ng/mL] of a constant-rate input over d1 h started dt h ago (textbook)."""
    k = cl / v
    dt = np.asarray(dt, dtype=float)
    during = (dt > 0) & (dt <= d1)
    after = dt > d1
    inside = np.where(during, dt, 0.0)
    since_end = np.where(after, dt - d1, 0.0)
    rising = np.where(during, -np.expm1(-k * inside), 0.0)
    falling = np.where(after, -np.expm1(-k * d1) * np.exp(-k * since_end), 0.0)
    return (rising + falling) / (d1 * cl) * NG_PER_ML


def typical(dt):
    """:func:`bateman` with the Widmer typical values."""
    return bateman(dt, CL, V, KA)


def superpose(obs, input_times, amounts, unit):
    """sum_i amount_i unit(t - s_i) at every observation time t, with math.fsum."""
    obs = np.asarray(obs, dtype=float)
    input_times = np.asarray(input_times, dtype=float)
    amounts = np.asarray(amounts, dtype=float)
    keep = amounts != 0
    terms = amounts[keep][None, :] * unit(obs[:, None] - input_times[keep][None, :])
    return np.array([math.fsum(row) for row in terms])


def ss_trough(dose, tau, cl, v, ka, f=1.0):
    """Trough of an infinite train of first-order doses (two geometric series of the Bateman terms).

    C_ss = F D ka / (V (ka - k)) (e^{-k tau} / (1 - e^{-k tau}) - e^{-ka tau} / (1 - e^{-ka tau})). [ng/mL]
    """
    k = cl / v
    series = math.exp(-k * tau) / -math.expm1(-k * tau) - math.exp(-ka * tau) / -math.expm1(-ka * tau)
    return f * dose * ka / (v * (ka - k)) * series * NG_PER_ML


def assert_close(actual, expected, rtol=RTOL, floor=FLOOR, atol=ATOL):
    """Relative where |expected| > floor, absolute (atol) below it; NaN, inf and negatives fail."""
    ref.assert_close(actual, expected, rtol, floor, atol, nonnegative=True)


def ode_error(ode, exact, v):
    """|ode - exact| / (atol / V * 1000 + rtol |exact|): the ODE error in units of its tolerance.

    The integrator keeps the local error per step near its tolerance; over an interval's ~20 steps
    and older intervals decaying by e^{-k tau} per interval, the global error stays within a few
    tens of that (ODE_BOUND = 50); a wrong model gives ratios of 1e6 and more.
    """
    scale = ODE_ATOL / v * NG_PER_ML + ODE_RTOL * np.abs(exact)
    return float(np.max(np.abs(np.asarray(ode) - np.asarray(exact)) / scale, initial=0.0))


def run(schedule, params, **kwargs):
    """simulate() -> (troughs, dense concentrations) as arrays (subject, ...)."""
    ds = simulate(schedule, params, **kwargs)
    return ds.trough.values, ds.concentration.values


# ------------------------------------------------------------------------------------------------
# 1. Very fast and very slow (flip-flop) absorption
# ------------------------------------------------------------------------------------------------

#: 400 mg q24h for 60 days, held on days 20-26 (doses 19..25), 200 mg on days 27-33, then 400 mg.
HOLD_60 = Schedule(
    phases=(Phase(dose=400, days=60),),
    holds=(Hold(start_day=20, days=7, restart=(LadderStep(200, 7),)),),
)
HOLD_60_TIMES = 24.0 * np.arange(60)
HOLD_60_AMOUNTS = np.array([0.0 if 19 <= j < 26 else 200.0 if 26 <= j < 33 else 400.0 for j in range(60)])


def test_hand_written_dose_list_matches_lowering():
    """The references below use the hand-written dose list: it must be what the engine gets."""
    table = HOLD_60.lower()
    assert np.array_equal(table.time, HOLD_60_TIMES)
    assert np.array_equal(table.given, HOLD_60_AMOUNTS)


@pytest.mark.parametrize("ratio", [1e3, 1e-3], ids=["ka=1e3k", "flip-flop ka=1e-3k"])
def test_extreme_absorption__troughs_and_curve_match_bateman_superposition(ratio):
    """Reference: superposition of Bateman curves; RTOL (the expm1 form has no cancellation)."""
    ka = ratio * K
    params = WIDMER.updated(ka=ka)
    expected = superpose(HOLD_60_TIMES, HOLD_60_TIMES, HOLD_60_AMOUNTS, lambda dt: bateman(dt, CL, V, ka))
    fast, _ = run(HOLD_60, params)  # trough-only fast path (one affine map per interval)
    assert_close(fast[0], expected)
    # Dense grid, plus points 1e-3 h after each input (steepest rise for ka = 1000 k): general walk.
    times = np.concatenate([np.arange(0.0, 60 * 24.0, 0.5), HOLD_60_TIMES + 1e-3])
    walked, conc = run(HOLD_60, params, times=times)
    assert_close(walked[0], expected)
    assert_close(conc[0], superpose(times, HOLD_60_TIMES, HOLD_60_AMOUNTS, lambda dt: bateman(dt, CL, V, ka)))


# ------------------------------------------------------------------------------------------------
# 2. A hold of five years
# ------------------------------------------------------------------------------------------------

HOLD_DAYS = 5 * 365 + 1
#: 400 mg daily for 30 days, a five-year hold, then 30 more days of 400 mg.
LONG_HOLD = Schedule(
    phases=(Phase(dose=400, days=30 + HOLD_DAYS + 30),),
    holds=(Hold(start_day=31, days=HOLD_DAYS),),
)
LONG_HOLD_TIMES = 24.0 * np.arange(30 + HOLD_DAYS + 30)
LONG_HOLD_AMOUNTS = np.where((LONG_HOLD_TIMES >= 30 * 24.0) & (LONG_HOLD_TIMES < (30 + HOLD_DAYS) * 24.0), 0.0, 400.0)
RESTART = 30 + HOLD_DAYS  # index of the first dose after the hold


def test_long_hold__underflows_cleanly_and_matches_superposition():
    """Reference: Bateman superposition; RTOL above FLOOR, ATOL in the underflowed tail."""
    assert np.array_equal(LONG_HOLD.lower().given, LONG_HOLD_AMOUNTS)
    times = np.concatenate([np.arange(0.0, LONG_HOLD_TIMES[-1] + 24.0, 24.0) + 3.0, [30 * 24.0 + 1e4, 30 * 24.0 + 4e4]])
    for trough, conc in (run(LONG_HOLD, WIDMER), run(LONG_HOLD, WIDMER, times=times)):
        for values in (trough, conc):
            assert np.all(np.isfinite(values)) and np.all(values >= 0.0)
        assert_close(trough[0], superpose(LONG_HOLD_TIMES, LONG_HOLD_TIMES, LONG_HOLD_AMOUNTS, typical))
    assert_close(conc[0], superpose(times, LONG_HOLD_TIMES, LONG_HOLD_AMOUNTS, typical))
    # Before the restart the 30 doses of 5 years ago are below the smallest double: C is exactly 0.
    assert trough[0, RESTART] == 0.0


@pytest.mark.parametrize("with_times", [False, True], ids=["fast path", "event walk"])
def test_long_hold__restart_equals_a_fresh_start(with_times):
    """Reference: a fresh 30-day start. The residual e^{-k 43824 h} = e^{-1806} underflows to 0, so
    only rounding in a regrouped sum could differ: rtol 1e-14."""
    fresh_schedule = Schedule(phases=(Phase(dose=400, days=30),))
    kwargs = {"times": np.array([1.0])} if with_times else {}
    restart = run(LONG_HOLD, WIDMER, **kwargs)[0][0, RESTART:]
    fresh = run(fresh_schedule, WIDMER, **kwargs)[0][0]
    np.testing.assert_allclose(restart, fresh, rtol=1e-14, atol=0.0)


# ------------------------------------------------------------------------------------------------
# 3. Tiny and huge doses and volumes
# ------------------------------------------------------------------------------------------------

SHORT_TIMES = 24.0 * np.arange(30)


def _daily(dose):
    """30 days of `dose` q24h with a 3-day hold and a half-dose restart day."""
    return Schedule(
        phases=(Phase(dose=dose, days=30),),
        holds=(Hold(start_day=10, days=3, restart=(LadderStep(dose / 2, 1),)),),
    )


def _daily_amounts(dose):
    return np.array([0.0 if 9 <= j < 12 else dose / 2 if j == 12 else dose for j in range(30)])


@pytest.mark.parametrize("dose", [1e-9, 1e6])
@pytest.mark.parametrize("v", [1e-3, V, 1e6])
def test_tiny_and_huge_doses_and_volumes__linear_and_finite(dose, v):
    """C(a D) = a C(D) to 1e-13 (the scaled run rounds every step differently, a few ulps each), and
    both match Bateman superposition to RTOL (k = 14300/h or 1.4e-5/h: no cancellation in expm1 form)."""
    params = PKParams(cl=CL, v=v, ka=KA)
    times = np.concatenate([np.arange(0.0, 30 * 24.0, 1.0), [1e-3, 1e4]])
    base_trough, base_conc = run(_daily(400.0), params, times=times)
    trough, conc = run(_daily(dose), params, times=times)
    for values in (trough, conc):
        assert np.all(np.isfinite(values)) and np.all(values >= 0.0)
    a = dose / 400.0
    np.testing.assert_allclose(trough, a * base_trough, rtol=1e-13, atol=0.0)
    np.testing.assert_allclose(conc, a * base_conc, rtol=1e-13, atol=0.0)
    unit = lambda dt: bateman(dt, CL, v, KA)
    peak = float(np.max(conc))
    # Relative to the largest value: the scale spans 1e-12 to 1e18 ng/mL across the cases.
    scale = {"floor": 1e-9 * peak, "atol": 1e-19 * peak}
    assert_close(conc[0], superpose(times, SHORT_TIMES, _daily_amounts(dose), unit), **scale)
    assert_close(trough[0], superpose(SHORT_TIMES, SHORT_TIMES, _daily_amounts(dose), unit), **scale)


@pytest.mark.parametrize("power", [-40, 11])
def test_power_of_two_dose__scales_bit_for_bit(power):
    """Scaling every dose by 2^n is exact in floating point and every operation is linear in the
    amounts, so the troughs (fast path) and the curve scale with no rounding at all."""
    times = np.arange(0.0, 30 * 24.0, 1.0)
    base = run(_daily(400.0), WIDMER, times=times)
    scaled = run(_daily(math.ldexp(400.0, power)), WIDMER, times=times)
    np.testing.assert_array_equal(scaled[1], np.ldexp(base[1], power))
    fast, fast_scaled = run(_daily(400.0), WIDMER)[0], run(_daily(math.ldexp(400.0, power)), WIDMER)[0]
    np.testing.assert_array_equal(fast_scaled, np.ldexp(fast, power))


@pytest.mark.parametrize("b", [1e-6, 1e3])
def test_volume_and_clearance_scaled_together__concentration_scales_inversely(b):
    """V -> b V and CL -> b CL keep k (up to one rounding of CL/V) and divide C by b: 1e-12 relative
    (the rounded k perturbs exponents k t <= 30 by ~1e-16 relative)."""
    times = np.arange(0.0, 30 * 24.0, 1.0)
    trough, conc = run(_daily(400.0), WIDMER, times=times)
    trough_b, conc_b = run(_daily(400.0), PKParams(cl=CL * b, v=V * b, ka=KA), times=times)
    np.testing.assert_allclose(trough_b * b, trough, rtol=1e-12, atol=0.0)
    np.testing.assert_allclose(conc_b * b, conc, rtol=1e-12, atol=0.0)


# ------------------------------------------------------------------------------------------------
# 4. Lag time at or beyond the dosing interval
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tlag", [24.0, 30.0, 50.0])
def test_long_lag__troughs_and_curve_match_lagged_superposition(tlag):
    """Reference: Bateman curves shifted by tlag; RTOL. Troughs before the first input are exactly 0."""
    params = WIDMER.updated(tlag=tlag)
    unit = typical
    times = np.concatenate([np.arange(0.0, 60 * 24.0, 0.5), HOLD_60_TIMES + tlag + 1e-3])
    trough, conc = run(HOLD_60, params, times=times)
    expected = superpose(HOLD_60_TIMES, HOLD_60_TIMES + tlag, HOLD_60_AMOUNTS, unit)
    assert_close(trough[0], expected)
    assert_close(conc[0], superpose(times, HOLD_60_TIMES + tlag, HOLD_60_AMOUNTS, unit))
    assert_close(run(HOLD_60, params)[0][0], expected)  # troughs only (the fast path must decline)
    before = HOLD_60_TIMES <= tlag
    assert np.all(trough[0, before] == 0.0)


def test_long_lag__mixed_population():
    """Three subjects with lags 0.5, 30 and 50 h in one run: each against its own lagged superposition (RTOL)."""
    lags = np.array([0.5, 30.0, 50.0])
    f = np.array([1.0, 0.8, 1.2])
    table = ParameterTable(
        values={"cl": np.full(3, CL), "v": np.full(3, V), "ka": np.full(3, KA), "d1": None, "f": f, "tlag": lags}
    )
    for trough in (run(HOLD_60, table)[0], run(HOLD_60, table, times=np.array([5.0]))[0]):
        for s in range(3):
            expected = superpose(HOLD_60_TIMES, HOLD_60_TIMES + lags[s], f[s] * HOLD_60_AMOUNTS, typical)
            assert_close(trough[s], expected)


@pytest.mark.parametrize("tlag", [30.0, 50.0])
def test_long_lag__ode_path_matches_superposition(tlag):
    """ODE path at rtol = atol = 1e-8 vs the lagged Bateman superposition: scaled error < ODE_BOUND."""
    params = WIDMER.updated(tlag=tlag)
    times = np.arange(0.0, 60 * 24.0, 2.0)
    trough, conc = run(HOLD_60, params, times=times, method="ode", rtol=ODE_RTOL, atol=ODE_ATOL)
    unit = typical
    assert ode_error(trough[0], superpose(HOLD_60_TIMES, HOLD_60_TIMES + tlag, HOLD_60_AMOUNTS, unit), V) < ODE_BOUND
    assert ode_error(conc[0], superpose(times, HOLD_60_TIMES + tlag, HOLD_60_AMOUNTS, unit), V) < ODE_BOUND


# ------------------------------------------------------------------------------------------------
# 5. Zero-order input longer than the interval
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tlag", [0.0, 30.0])
def test_long_infusion__matches_infusion_superposition(tlag):
    """d1 = 30 h with q24h (two infusions overlap): reference superposition of infusion curves; RTOL.
    The dense grid includes every infusion start and end, where the rate steps."""
    d1 = 30.0
    params = PKParams(cl=CL, v=V, d1=d1, tlag=tlag)
    unit = lambda dt: infusion(dt, CL, V, d1)
    times = np.concatenate([np.arange(0.0, 60 * 24.0, 0.5), HOLD_60_TIMES + tlag, HOLD_60_TIMES + tlag + d1])
    trough, conc = run(HOLD_60, params, times=times)
    expected = superpose(HOLD_60_TIMES, HOLD_60_TIMES + tlag, HOLD_60_AMOUNTS, unit)
    assert_close(trough[0], expected)
    assert_close(run(HOLD_60, params)[0][0], expected)
    assert_close(conc[0], superpose(times, HOLD_60_TIMES + tlag, HOLD_60_AMOUNTS, unit))


@pytest.mark.parametrize("method", ["exact", "ode"])
def test_long_infusion__steady_state_start_is_refused_clearly(method):
    """A steady-state start with d1 = 30 h > the 24 h interval is refused, naming d1 and the interval."""
    schedule = Schedule(phases=(Phase(dose=400, days=5),), steady_state=SteadyState(dose=400, interval=24))
    with pytest.raises(SimulationError, match=r"zero-order input no longer than the dosing interval") as info:
        simulate(schedule, PKParams(cl=CL, v=V, d1=30.0), method=method)
    assert "d1 = 30 h" in str(info.value) and "interval 24 h" in str(info.value)


@pytest.mark.parametrize("d1, tlag", [(24.0, 0.0), (20.0, 10.0), (20.0, 30.0)])
def test_infusion_up_to_the_interval__steady_state_start_equals_a_long_run_in(d1, tlag):
    """d1 <= interval is computed, also when tlag + d1 exceeds the interval. Reference: 100 days of the
    same dosing first; its transient is e^{-k 2400 h} = 1e-43 relative, so RTOL."""
    params = PKParams(cl=CL, v=V, d1=d1, tlag=tlag)
    ss = run(Schedule(phases=(Phase(dose=400, days=10),), steady_state=SteadyState(dose=400, interval=24)), params)[0]
    run_in = run(Schedule(phases=(Phase(dose=400, days=110),)), params)[0]
    assert_close(ss[0], run_in[0, 100:])


# ------------------------------------------------------------------------------------------------
# 6. A single dose
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phase",
    [Phase(dose=400, doses=1), Phase(dose=400, days=1), Phase(dose=400, interval=48, days=1)],
    ids=["doses=1", "days=1", "q48h for 1 day"],
)
def test_single_dose__trough_shape_and_curve(phase):
    """Three subjects (fast, typical and flip-flop absorption, one with a 30 h lag); dense curve vs the
    Bateman function (RTOL); before the input (negative times included) exactly 0."""
    ka = np.array([50 * K, KA, 0.1 * K])
    tlag = np.array([0.0, 0.5, 30.0])
    table = ParameterTable(
        values={"cl": np.full(3, CL), "v": np.full(3, V), "ka": ka, "d1": None, "f": np.ones(3), "tlag": tlag}
    )
    schedule = Schedule(phases=(phase,))
    times = np.concatenate([[-5.0, 0.0, 1e-3], np.linspace(0.0, 300.0, 601), [1e5]])
    ds = simulate(schedule, table, times=times)
    assert ds.trough.dims == ("subject", "dose") and ds.trough.shape == (3, 1)
    assert np.all(ds.trough.values == 0.0)  # the left limit at the only dose: nothing given yet
    for s in range(3):
        assert_close(ds.concentration.values[s], 400.0 * bateman(times - tlag[s], CL, V, ka[s]))
        assert np.all(ds.concentration.values[s][times <= tlag[s]] == 0.0)
    assert np.array_equal(simulate(schedule, table).trough.values, np.zeros((3, 1)))  # fast path


def test_single_dose__ode_path_matches_bateman():
    """ODE path at rtol = atol = 1e-8 vs the Bateman function: scaled error < ODE_BOUND."""
    times = np.linspace(0.0, 200.0, 401)
    one = Schedule(phases=(Phase(dose=400, doses=1),))
    _, conc = run(one, WIDMER, times=times, method="ode", rtol=ODE_RTOL, atol=ODE_ATOL)
    assert ode_error(conc[0], 400.0 * typical(times), V) < ODE_BOUND


# ------------------------------------------------------------------------------------------------
# 7. Empty schedules
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build, words",
    [
        (lambda: Schedule(phases=()), "at least one phase"),
        (lambda: Schedule(phases=[]), "at least one phase"),
        (lambda: Phase(dose=400, days=0), "phase.days"),
        (lambda: Phase(dose=400, doses=0), "phase.doses"),
        (lambda: Phase(dose=400, days=-1), "phase.days"),
        (lambda: Phase(dose=(), days=5), "at least one amount"),
        (lambda: Hold(start_day=1, days=0), "hold.days"),
        (lambda: LadderStep(200, 0), "days"),
    ],
    ids=[
        "no phases", "empty list", "zero days", "zero doses", "negative days", "no amounts", "zero-day hold",
        "zero-day step",
    ],
)
def test_empty_schedule__refused_with_a_clear_error(build, words):
    """Refusal only: a ScheduleError (an ImapkError) whose one-line message names the problem."""
    with pytest.raises(ScheduleError, match=words):
        build()


@pytest.mark.parametrize("method", ["exact", "ode"])
@pytest.mark.parametrize(
    "schedule",
    [
        Schedule(phases=(Phase(dose=400, days=5),), holds=(Hold(start_day=1, days=5),)),
        Schedule(phases=(Phase(dose=400, interval=12, days=3),), holds=(Hold(start_day=1, doses=6),)),
        Schedule(phases=(Phase(dose=400, days=3),), missed_days=(1, 2, 3)),
        Schedule(phases=(Phase(dose=400, days=3),), missed_doses=(0, 1, 2)),
        Schedule(phases=(Phase(dose=400, days=2),), holds=(Hold(start_day=1, days=1),), missed_days=(2,)),
    ],
    ids=["held by days", "held by doses q12h", "all days missed", "all doses missed", "held then missed"],
)
def test_no_dose_given__all_zero_result(schedule, method):
    """Reference: no drug, so every trough and concentration is exactly 0 and the whole window is
    below a positive threshold (the window is the whole schedule, shorter than 28 days)."""
    table = schedule.lower()
    times = np.linspace(-1.0, table.end + 24.0, 50)
    ds = simulate(schedule, PKParams(cl=CL, v=V, ka=KA), times=times, thresholds=["gist"], method=method)
    assert ds.trough.shape == (1, table.time.size)
    assert np.all(ds.trough.values == 0.0) and np.all(ds.concentration.values == 0.0)
    assert ds.time_below.item(0) == table.end and ds.peak_concentration.item(0) == 0.0


def test_empty_dose_table__refused_with_a_clear_error():
    """simulate() accepts a lowered DoseTable; one with no rows must be refused as an ImapkError (found
    here: it used to raise IndexError from DoseTable.end)."""
    e = np.empty(0)
    table = DoseTable(
        time=e, interval=e, planned=e, given=e, status=np.empty(0, np.int8), phase=np.empty(0, object),
        hold=np.empty(0, np.int64), restart_index=np.empty(0, np.int64), hold_labels=(),
    )
    with pytest.raises(ImapkError, match="needs at least one scheduled dose"):
        simulate(table, WIDMER)


# ------------------------------------------------------------------------------------------------
# 8. Years of q12h dosing
# ------------------------------------------------------------------------------------------------

#: 3 years of 200 mg q12h: 2190 doses.
YEARS_Q12H = Schedule(phases=(Phase(dose=200, interval=12, days=3 * 365),))


@pytest.mark.parametrize("with_times", [False, True], ids=["fast path", "event walk"])
def test_years_of_q12h__trough_is_the_infinite_train_steady_state_without_drift(with_times):
    """Reference: the closed-form trough of an infinite train. After 3 years the transient is
    e^{-k 26280 h}, far below rounding; the recurrence contracts by e^{-k 12} = 0.61 per dose, so
    rounding errors do not accumulate (~1e-15): rtol 1e-10, and over the last two years the troughs
    may not drift (max minus min) by more than 1e-13 relative."""
    assert YEARS_Q12H.lower().time.size == 2190
    kwargs = {"times": np.array([100.0, 26000.0])} if with_times else {}
    trough = run(YEARS_Q12H, WIDMER, **kwargs)[0][0]
    expected = ss_trough(200.0, 12.0, CL, V, KA)
    late = trough[-2 * 730 :]
    np.testing.assert_allclose(late, expected, rtol=1e-10, atol=0.0)
    assert (late.max() - late.min()) <= 1e-13 * expected
    # The rise to steady state is strictly monotone while it is resolvable (50 doses: the last
    # increment is e^{-k 600 h} = 2e-11 relative, far above rounding).
    assert np.all(np.diff(trough[:50]) > 0.0)


# ------------------------------------------------------------------------------------------------
# 9. Exact path = ODE path
# ------------------------------------------------------------------------------------------------

ODE_CASES = [
    pytest.param(HOLD_60, WIDMER.updated(ka=1e3 * K), id="ka=1e3k"),
    pytest.param(HOLD_60, WIDMER.updated(ka=1e-3 * K), id="flip-flop ka=1e-3k"),
    pytest.param(HOLD_60, WIDMER.updated(tlag=50.0), id="tlag 50 h"),
    pytest.param(HOLD_60, PKParams(cl=CL, v=V, d1=30.0), id="d1 30 h"),
    pytest.param(YEARS_Q12H, WIDMER, id="3 years q12h"),
    pytest.param(LONG_HOLD, WIDMER, id="5-year hold"),
]


def test_ode_path__long_decay_is_computed():
    """One 400 mg dose observed at 1e4 h: valid input (the exact path gives ~1e-176 ng/mL). Reference:
    the Bateman function; the value is far below atol / V, so the ODE bound is absolute. (Found here:
    the DOP853 error norm divided 0 by 0 once the error estimates underflowed, and the solve failed.)"""
    times = np.array([24.0, 1e4])
    _, conc = run(Schedule(phases=(Phase(dose=400, doses=1),)), WIDMER, times=times, method="ode")
    assert ode_error(conc[0], 400.0 * typical(times), V) < ODE_BOUND


@pytest.mark.parametrize("schedule, params", ODE_CASES)
def test_exact_equals_ode(schedule, params):
    """The ODE path at rtol = atol = 1e-8 (amounts) agrees with the closed form: scaled error < ODE_BOUND."""
    end = schedule.lower().end
    times = np.linspace(0.0, end, 400)
    exact_trough, exact_conc = run(schedule, params, times=times)
    ode_trough, ode_conc = run(schedule, params, times=times, method="ode", rtol=ODE_RTOL, atol=ODE_ATOL)
    for values in (ode_trough, ode_conc):
        # The integrator is not sign-preserving, but its noise below zero (within atol / V) is set to 0.
        assert np.all(np.isfinite(values)) and np.all(values >= 0.0)
    assert ode_error(ode_trough, exact_trough, params.v) < ODE_BOUND
    assert ode_error(ode_conc, exact_conc, params.v) < ODE_BOUND
