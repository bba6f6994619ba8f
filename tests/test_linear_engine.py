"""The closed-form engine for linear multi-compartment models (imapk.engine.linear and its kernels)
against independent references.

References (tests/reference_multicompartment.py, which imports nothing from imapk):

* superposition of the textbook macro-constant single-dose solutions of the two-compartment
  model (Gibaldi & Perrier), in 60-digit decimal arithmetic where two exponents nearly coincide;
* scipy ``solve_ivp`` (DOP853, rtol 1e-12, atol 1e-15 mg) of the compartment equations written out
  independently, restarted at every discontinuity, for transit chains;
* scipy.linalg.expm for the matrix exponential itself.

Tolerances. The engine is a closed form: each event-to-event step costs a few ulps per entry
(non-negative sums, see the kernels' docstring), so a year of daily doses stays near 1e-14. The
superposition reference is correctly rounded to ~1 ulp per term: 1e-10 relative, the project's
closed-form tolerance, leaves four orders of headroom and still catches a wrong rate, dose, time or
branch (those give 1e-3 or more). solve_ivp at rtol 1e-12 over a few hundred restarts is good to
~1e-11 relative for amounts far above atol / rtol = 1e-3 mg: 1e-10 relative as well, checked only
where the reference concentration is above 1 ng/mL (the reference's absolute floor is atol / V).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg

import reference_multicompartment as refm
from imapk.engine import _linear_kernels as kernels
from imapk.engine import linear
from imapk.engine._numba import load_uncompiled
from imapk.engine.exact import run_exact
from imapk.errors import SimulationError
from imapk.params import ParameterChange, ParameterTable, PKParams
from imapk.schedule import Hold, LadderStep, Phase, Schedule, SteadyState

RTOL = 1e-10
#: Reference concentrations below this are compared absolutely (RTOL * FLOOR). [ng/mL]
FLOOR = 1.0
#: Eechoute 2012 disposition and absorption chain (typical values, Yang 2025 Table 1).
EECHOUTE = dict(cl=9.12, v=128.0, ka=0.699, q=24.9, vp=197.0, ktr=15.8, n_transit=5)


def assert_close(actual, expected, rtol=RTOL, floor=FLOOR):
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    scale = np.maximum(np.abs(expected), floor)
    error = np.abs(actual - expected) / scale
    assert np.all(error <= rtol), f"max scaled error {error.max():.3g} at {int(np.argmax(error))}"


def table_of(params: PKParams, changes=()) -> ParameterTable:
    return ParameterTable.from_params(params, tuple(changes))


def dose_list(table):
    """Scheduled times and given amounts of a lowered schedule."""
    return table.time, table.given


def two_cmt_reference(p: PKParams, table, t, into="depot"):
    """Superposition of the macro-constant single-dose solutions."""
    def single(dt, amount):
        return refm.two_cmt_single_dose(
            dt, amount, p.cl, p.v, p.q, p.vp, ka=p.ka, d1=p.d1 or 0.0, tlag=p.tlag, into=into, f=p.f,
        )

    times, amounts = dose_list(table)
    return refm.superpose(single, times, amounts, t)


def rates_of(p: PKParams) -> dict:
    rates = {"cl": p.cl, "v1": p.v}
    if p.ka is not None:
        rates["ka"] = p.ka
    if p.q is not None:
        rates.update(q=p.q, v2=p.vp)
    if p.ktr is not None:
        rates["ktr"] = p.ktr
    return rates


def ode_reference(p: PKParams, table, t, *, into="first", steady_state=None, left_limit=False):
    times, amounts = dose_list(table)
    events = [refm.Dose(float(s), float(a), p.d1 or 0.0, into) for s, a in zip(times, amounts)]
    return refm.linear_ode_reference(
        t, events, rates_of(p), p.n_transit, f=p.f, tlag=p.tlag, steady_state=steady_state,
        left_limit=left_limit, t_start=0.0 if steady_state is not None else None,
    )


CASE_REPORT = Schedule(
    phases=(Phase(dose=400, days=90),),
    holds=(Hold(start_day=29, days=14, restart=(LadderStep(200, 7), LadderStep(300, 14))),),
)


# --- 1. the matrix exponential -------------------------------------------------------------------


def _augmented(structure, rates):
    n = kernels.compartments(*structure)[0]
    m = np.zeros((n + 2, n + 2))
    kernels.fill_matrix(*structure, rates["ktr"], rates["ka"], rates["k10"], rates["k12"], rates["k21"], m)
    return m


def expm_decimal(m: np.ndarray, dt: float, digits: int = 60) -> np.ndarray:
    """e^{m dt} in `digits`-digit decimal arithmetic (scaling to a norm <= 1/2, 80 Taylor terms,
    squaring): an independent reference whose own error is far below double precision."""
    from decimal import Decimal, localcontext

    with localcontext() as ctx:
        ctx.prec = digits
        size = m.shape[0]
        a = [[Decimal(float(m[i, j])) * Decimal(float(dt)) for j in range(size)] for i in range(size)]
        norm = max(sum(abs(x) for x in row) for row in a)
        squarings = 0
        while norm > Decimal("0.5"):
            norm /= 2
            squarings += 1
        scale = Decimal(2) ** squarings
        a = [[x / scale for x in row] for row in a]
        out = [[Decimal(int(i == j)) for j in range(size)] for i in range(size)]
        term = [row[:] for row in out]
        for k in range(1, 80):
            term = [[sum(term[i][l] * a[l][j] for l in range(size)) / k for j in range(size)] for i in range(size)]
            out = [[out[i][j] + term[i][j] for j in range(size)] for i in range(size)]
        for _ in range(squarings):
            out = [[sum(out[i][l] * out[l][j] for l in range(size)) for j in range(size)] for i in range(size)]
        return np.array([[float(x) for x in row] for row in out])


@pytest.mark.parametrize("dt", [0.0, 1e-6, 0.3, 24.0, 24.0 * 30])
def test_expm__entrywise_against_60_digit_decimals(dt):
    """Every entry, however small (down to 1e-200 here), to 2^j x 1e-15 relative. The
    non-negative Taylor sum is good to a few ulps per entry and each of the j squarings at most
    doubles the relative error (j = 11 for 24 h with ktr 15.8 /h: 2e-12; j = 16 for 30 days:
    7e-11, measured 2.2e-11). scipy's Pade expm is accurate in norm only (its tiny entries can be
    off by 1e-16 absolute)."""
    rates = dict(ktr=15.8, ka=0.699, k10=9.12 / 128, k12=24.9 / 128, k21=24.9 / 197)
    m = _augmented((5, 1, 1), rates)
    out, term, work = np.empty_like(m), np.empty_like(m), np.empty_like(m)
    kernels.expm_nonnegative(m, dt, out, term, work)
    expected = expm_decimal(m, dt)
    nonzero = expected != 0.0
    assert np.all(out[~nonzero] == 0.0)
    relative = np.abs(out[nonzero] - expected[nonzero]) / np.abs(expected[nonzero])
    norm = np.abs(m + np.diag(np.full(m.shape[0], -m.diagonal().min()))).sum(axis=1).max()
    squarings = max(0, math.ceil(math.log2(norm * dt / 0.5))) if norm * dt > 0.5 else 0
    assert relative.max() <= 2.0**squarings * 1e-15, (relative.max(), squarings)
    # and in norm against scipy (backward stable, ~1e-15 relative in norm), with the same 2^j growth
    reference = scipy.linalg.expm(m * dt)
    assert np.max(np.abs(out - reference)) <= 2.0**squarings * 1e-15 * max(1.0, np.max(np.abs(reference)))


def test_expm__tiny_entries_keep_their_relative_accuracy():
    """Entrywise: a one-compartment chain after 400 h has e^{-k t} ~ 1e-70 and the depot-to-central
    entry ka/(ka - k) (e^{-k t} - e^{-ka t}); both come back to ~1e-13 relative, where a normwise
    method (scipy's Pade) leaves an absolute error of ~1e-16, i.e. no correct digit."""
    ka, k, t = 2.0, 0.4, 400.0
    m = np.array([[-ka, 0.0], [ka, -k]])
    out, term, work = np.empty_like(m), np.empty_like(m), np.empty_like(m)
    kernels.expm_nonnegative(m, t, out, term, work)
    assert out[1, 1] == pytest.approx(math.exp(-k * t), rel=1e-13)
    assert out[0, 0] == pytest.approx(math.exp(-ka * t), rel=1e-13)
    assert out[1, 0] == pytest.approx(ka / (ka - k) * (math.exp(-k * t) - math.exp(-ka * t)), rel=1e-13)
    assert out[0, 1] == 0.0


@pytest.mark.parametrize("ka", [0.8, "alpha", "beta", 30.0, 1e-4])
@pytest.mark.parametrize("t", [0.5, 24.0, 720.0])
def test_two_compartment_closed_form__entrywise_against_60_digit_decimals(ka, t):
    """The fast path's closed form (Sylvester's formula with stable exchange terms), including ka
    equal to an eigenvalue: 1e-13 relative per entry (a few exp() and divisions, no cancellation but
    the peripheral absorption entry's X(beta) - X(alpha), bounded by the gap: here >= 0.09 of the sum)."""
    k10, k12, k21 = 10.0 / 150.0, 20.0 / 150.0, 20.0 / 200.0
    params = _with_alpha_or_beta(ka) if isinstance(ka, str) else None
    ka = params.ka if params else ka
    rates = dict(ktr=0.0, ka=ka, k10=k10, k12=k12, k21=k21)
    m = _augmented((0, 1, 1), rates)[:3, :3].copy()
    out = np.zeros((3, 3))
    assert kernels.two_compartment_exponential(ka, k10, k12, k21, t, out)
    expected = expm_decimal(m, t)
    nonzero = expected != 0.0
    assert np.all(out[~nonzero] == 0.0)
    assert np.max(np.abs(out[nonzero] / expected[nonzero] - 1.0)) <= 1e-13


def test_two_compartment_closed_form__hands_over_when_eigenvalues_nearly_coincide():
    """k12 -> 0 with k10 + k12 = k21: the gap vanishes; the closed form declines, the series answers."""
    k10, k12, k21 = 0.1, 1e-12, 0.1 + 1e-12
    assert not kernels.two_compartment_exponential(0.5, k10, k12, k21, 24.0, np.zeros((3, 3)))
    m = _augmented((0, 1, 1), dict(ktr=0.0, ka=0.5, k10=k10, k12=k12, k21=k21))
    out, term, work = np.zeros_like(m), np.zeros_like(m), np.zeros_like(m)
    kernels.exponential(0, 1, 1, m, 24.0, out, term, work, 3)
    expected = expm_decimal(m[:3, :3].copy(), 24.0)
    # the series with j = 4 squarings: 2^4 x 1e-15 relative (see the entrywise test above)
    nonzero = expected != 0.0
    assert np.all(out[:3, :3][~nonzero] == 0.0)
    assert np.max(np.abs(out[:3, :3][nonzero] / expected[nonzero] - 1.0)) <= 16e-15


# --- 2. against superposition of the macro-constant solutions ---------------------------------------


TWO_CMT = [
    pytest.param(PKParams(cl=13.6, v=153.0, ka=0.8, q=8.64, vp=64.0), id="first-order"),
    pytest.param(PKParams(cl=13.6, v=153.0, ka=0.8, q=8.64, vp=64.0, tlag=0.7, f=0.9), id="first-order-lag-F"),
    pytest.param(PKParams(cl=9.0, v=150.0, d1=2.5, q=20.0, vp=200.0), id="zero-order"),
    pytest.param(PKParams(cl=9.0, v=150.0, d1=2.5, q=20.0, vp=200.0, tlag=1.2), id="zero-order-lag"),
]


@pytest.mark.parametrize("params", TWO_CMT)
def test_two_compartments__troughs_and_curve_equal_superposition(params):
    table = CASE_REPORT.lower()
    grid = np.arange(0.0, table.end, 0.37)
    result = run_exact(table, table_of(params), times=grid)
    # oral input is continuous at the dose times, so the left limit is the value there
    assert_close(result.trough[0], two_cmt_reference(params, table, table.time))
    assert_close(result.concentration[0], two_cmt_reference(params, table, grid))


def _with_alpha_or_beta(which: str) -> PKParams:
    """ka set exactly to a hybrid rate constant of the disposition (a coincident eigenvalue)."""
    cl, v, q, vp = 10.0, 150.0, 20.0, 200.0
    k10, k12, k21 = cl / v, q / v, q / vp
    total = k10 + k12 + k21
    root = math.sqrt(total * total - 4.0 * k10 * k21)
    alpha, beta = 0.5 * (total + root), 0.5 * (total - root)
    return PKParams(cl=cl, v=v, q=q, vp=vp, ka={"alpha": alpha, "beta": beta}[which])


@pytest.mark.parametrize("which", ["alpha", "beta"])
@pytest.mark.parametrize("nudge", [0.0, 1e-9, -1e-6])
def test_two_compartments__coincident_eigenvalues(which, nudge):
    """ka equal (or nearly) to alpha or beta: the macro-constant residues blow up like 1/gap; the
    reference evaluates them in 60-digit decimals, the engine never forms them."""
    base = _with_alpha_or_beta(which)
    params = base.updated(ka=base.ka * (1.0 + nudge))
    table = Schedule(phases=(Phase(dose=400, days=10),)).lower()
    grid = np.arange(0.0, table.end, 0.5)
    result = run_exact(table, table_of(params), times=grid)
    expected = two_cmt_reference(params, table, grid)
    assert_close(result.concentration[0], expected)


def test_two_compartments__central_bolus_and_infusion():
    """Intravenous doses into the central compartment: no lag (tlag applies to absorption only)."""
    params = PKParams(cl=13.6, v=153.0, ka=0.8, q=8.64, vp=64.0, tlag=0.5)
    table = Schedule(phases=(Phase(dose=100, days=5),)).lower()
    grid = np.arange(0.0, table.end, 0.25)
    central = np.ones(table.time.size, dtype=np.int64)
    bolus = linear.run_linear(table, table_of(params), times=grid, dose_target=central)
    iv = params.updated(tlag=0.0)
    assert_close(bolus.concentration[0], two_cmt_reference(iv, table, grid, into="central"))
    infusion = linear.run_linear(table, table_of(params), times=grid, dose_target=central,
                                 central_duration=np.full(table.time.size, 1.5))
    expected = refm.superpose(
        lambda dt, a: refm.two_cmt_single_dose(dt, a, iv.cl, iv.v, iv.q, iv.vp, ka=None, d1=1.5), table.time,
        table.given, grid,
    )
    assert_close(infusion.concentration[0], expected)


# --- 3. transit chains against solve_ivp ----------------------------------------------------------------


CHAINS = [
    pytest.param(PKParams(**EECHOUTE), id="eechoute-5-transit"),
    pytest.param(PKParams(cl=10.0, v=200.0, ka=1.0, ktr=1.0, n_transit=3), id="1cmt-3-transit-ktr=ka"),
    pytest.param(PKParams(cl=9.12, v=128.0, ka=0.699, q=24.9, vp=197.0, ktr=2.0, n_transit=1, tlag=0.4, f=0.8),
                 id="2cmt-1-transit-lag"),
    pytest.param(PKParams(cl=9.12, v=128.0, d1=1.5, q=24.9, vp=197.0, ktr=4.0, n_transit=2), id="transit-zero-order"),
]


@pytest.mark.parametrize("params", CHAINS)
def test_transit_chain__equals_solve_ivp(params):
    table = Schedule(
        phases=(Phase(dose=400, days=12),),
        holds=(Hold(start_day=5, days=3, restart=(LadderStep(200, 2),)),),
    ).lower()
    grid = np.arange(0.0, table.end, 0.73)
    result = run_exact(table, table_of(params), times=grid)
    assert_close(result.concentration[0], ode_reference(params, table, grid))
    assert_close(result.trough[0], ode_reference(params, table, table.time, left_limit=True))


@pytest.mark.parametrize("params", [PKParams(**EECHOUTE), TWO_CMT[2].values[0]])
def test_steady_state_start__equals_solve_ivp_fixed_point(params):
    table = Schedule(phases=(Phase(dose=400, days=4),), steady_state=SteadyState(400, 24.0)).lower()
    grid = np.arange(0.0, table.end, 1.1)
    result = run_exact(table, table_of(params), times=grid)
    ss = refm.SteadyState(400.0, 24.0, params.d1 or 0.0)
    assert_close(result.concentration[0], ode_reference(params, table, grid, steady_state=ss))


def test_steady_state_start__equals_a_long_run_in():
    params = PKParams(**EECHOUTE)
    at_ss = run_exact(Schedule(phases=(Phase(dose=400, days=3),), steady_state=SteadyState(400, 24.0)).lower(), table_of(params))
    run_in = run_exact(Schedule(phases=(Phase(dose=400, days=120),)).lower(), table_of(params))
    # 120 days is > 200 terminal half-lives (beta ~ 0.03 1/h): the run-in is at steady state to 1e-30.
    np.testing.assert_allclose(at_ss.trough[0, 0], run_in.trough[0, -1], rtol=1e-12)


# --- 4. fast path, one-compartment layout, parameter changes -----------------------------------------


@pytest.mark.parametrize("params", [p.values[0] for p in TWO_CMT + CHAINS])
def test_fast_path__equals_the_event_walk(params):
    table = CASE_REPORT.lower()
    tab = table_of(params, (ParameterChange.at(28 * 24.0, cl=params.cl * 0.7, v=params.v * 1.2),))
    fast = run_exact(table, tab).trough
    walk = run_exact(table, tab, times=np.array([1.0])).trough  # dense output forces the event walk
    assert_close(fast, walk, rtol=1e-12)


@pytest.mark.parametrize("kind", ["first-order", "zero-order"])
def test_one_compartment_layout__equals_the_one_compartment_kernels(kind):
    """run_linear on a one-compartment table takes the general layout; the old kernels are an
    independent implementation of the same model (E1-E3)."""
    params = PKParams(cl=14.3, v=347.0, ka=0.609, tlag=0.3) if kind == "first-order" else PKParams(cl=14.3, v=347.0, d1=1.5)
    table = CASE_REPORT.lower()
    grid = np.arange(0.0, table.end, 0.5)
    one = run_exact(table, table_of(params), times=grid, levels=np.array([1100.0, 500.0]))
    general = linear.run_linear(table, table_of(params), times=grid, levels=np.array([1100.0, 500.0]))
    assert_close(general.concentration, one.concentration, rtol=1e-12)
    assert_close(general.trough, one.trough, rtol=1e-12)
    # crossings to ~1e-9 h (root finder tolerances differ), peaks to 1e-12
    np.testing.assert_allclose(general.time_below, one.time_below, atol=1e-6)
    np.testing.assert_allclose(general.longest_below, one.longest_below, atol=1e-6)
    assert_close(general.peak, one.peak, rtol=1e-12)


def test_volume_step__changes_concentration_not_amount():
    params = PKParams(cl=9.0, v=150.0, ka=1.0, q=20.0, vp=200.0)
    table = Schedule(phases=(Phase(dose=400, days=3),)).lower()
    t_change = 30.0
    tab = table_of(params, (ParameterChange.at(t_change, v=300.0),))
    res = run_exact(table, tab, times=np.array([t_change - 1e-9, t_change]))
    before, after = res.concentration[0]
    assert after == pytest.approx(before * 150.0 / 300.0, rel=1e-6)


# --- 5. threshold statistics -------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [PKParams(**EECHOUTE), TWO_CMT[0].values[0]])
def test_time_below_and_peak__against_a_fine_grid(params):
    table = Schedule(phases=(Phase(dose=400, days=6),), holds=(Hold(start_day=3, days=1),)).lower()
    levels = np.array([1100.0, 700.0, 3000.0])
    window = (10.0, table.end)
    res = run_exact(table, table_of(params), levels=levels, window=window)
    step = 1.0 / 3600.0
    grid = np.arange(window[0], window[1], step) + 0.5 * step
    curve = run_exact(table, table_of(params), times=grid).concentration[0]
    brute = np.array([(curve < level).sum() * step for level in levels])
    # midpoint counting on a one-second grid: each crossing is off by at most half a step
    crossings = np.array([np.count_nonzero(np.diff(curve < level)) + 1 for level in levels])
    assert np.all(np.abs(res.time_below[0] - brute) <= crossings * step)
    assert res.peak[0] == pytest.approx(curve.max(), rel=1e-6)
    assert res.peak[0] >= curve.max()


# --- 6. compiled = uncompiled; errors --------------------------------------------------------------------


def test_uncompiled__matches_compiled(monkeypatch):
    params = PKParams(**{**EECHOUTE, "n_transit": 2})
    table = Schedule(phases=(Phase(dose=400, days=3),)).lower()
    grid = np.arange(0.0, table.end, 2.0)
    compiled = linear.run_linear(table, table_of(params), times=grid, levels=np.array([800.0]))
    fast_compiled = linear.run_linear(table, table_of(params)).trough
    monkeypatch.setattr(linear, "kernels", load_uncompiled("imapk.engine._linear_kernels"))
    plain = linear.run_linear(table, table_of(params), times=grid, levels=np.array([800.0]))
    np.testing.assert_array_equal(plain.concentration, compiled.concentration)
    np.testing.assert_array_equal(plain.time_below, compiled.time_below)
    np.testing.assert_array_equal(linear.run_linear(table, table_of(params)).trough, fast_compiled)


def test_errors__bad_dose_target_is_refused():
    params = PKParams(**EECHOUTE)
    table = Schedule(phases=(Phase(dose=400, days=3),)).lower()
    with pytest.raises(SimulationError, match="dose target"):
        linear.run_linear(table, table_of(params), dose_target=np.array([0, 2, 0]))
    with pytest.raises(SimulationError, match="one value per scheduled dose"):
        linear.run_linear(table, table_of(params), dose_target=np.array([0, 1]))


@pytest.mark.parametrize("bad", [dict(q=10.0), dict(vp=10.0), dict(ktr=2.0), dict(n_transit=3), dict(n_transit=2.5)])
def test_params__incomplete_structures_are_refused(bad):
    from imapk.errors import ParameterError

    with pytest.raises(ParameterError):
        PKParams(cl=10.0, v=100.0, ka=1.0, **bad)


# --- 7. random parameters -------------------------------------------------------------------------------


def random_two_compartment(rng) -> PKParams:
    """Log-uniform over wide ranges around imatinib's values (rates 0.005-5 /h, volumes 20-2000 L),
    with first- or zero-order input, a lag half the time, and F."""
    def log_uniform(low, high):
        return float(np.exp(rng.uniform(np.log(low), np.log(high))))

    cl, v, q, vp = log_uniform(1.0, 50.0), log_uniform(20.0, 2000.0), log_uniform(0.5, 100.0), log_uniform(20.0, 2000.0)
    tlag = log_uniform(0.05, 2.0) if rng.uniform() < 0.5 else 0.0
    f = rng.uniform(0.5, 1.5)
    if rng.uniform() < 0.7:
        return PKParams(cl=cl, v=v, q=q, vp=vp, ka=log_uniform(0.05, 5.0), tlag=tlag, f=f)
    return PKParams(cl=cl, v=v, q=q, vp=vp, d1=log_uniform(0.2, 6.0), tlag=tlag, f=f)


@pytest.mark.parametrize("seed", range(12))
def test_random_two_compartment__troughs_and_curve_equal_superposition(seed):
    """Seeded random parameter sets (reproducible: the seed is the case's id), a hold and a lower
    restart dose; troughs and a dense grid against macro-constant superposition at 1e-10 relative
    (FLOOR 1 ng/mL as above; the reference switches to 60-digit decimals where exponents nearly
    coincide)."""
    rng = np.random.default_rng(20261130 + seed)
    params = random_two_compartment(rng)
    table = Schedule(
        phases=(Phase(dose=400, days=12),), holds=(Hold(start_day=4, days=3, restart=(LadderStep(200, 2),)),),
    ).lower()
    grid = np.sort(rng.uniform(0.0, table.end, 60))
    result = run_exact(table, table_of(params), times=grid)
    assert_close(result.concentration[0], two_cmt_reference(params, table, grid))
    assert_close(result.trough[0], two_cmt_reference(params, table, table.time))
    assert_close(run_exact(table, table_of(params)).trough[0], result.trough[0], rtol=1e-12)  # fast path


# --- 8. the peripheral amount ------------------------------------------------------------------------------


def test_peripheral_amount__exact_and_ode_paths_against_solve_ivp():
    """The drug in the peripheral compartment at the dense times [mg], against the reference's state
    (solve_ivp at rtol 1e-12): 1e-10 on the exact path as above; the ODE path at rtol = atol = 1e-10 to
    its scaled tolerance (|y - ref| / (atol + rtol |ref|) < 10, amounts in mg)."""
    from imapk.engine.ode_linear import run_ode_linear

    params = PKParams(**EECHOUTE)
    table = Schedule(phases=(Phase(dose=400, days=5),), holds=(Hold(start_day=3, days=1),)).lower()
    grid = np.arange(0.5, table.end, 3.3)
    events = [refm.Dose(float(s), float(a)) for s, a in zip(table.time, table.given)]
    _, states = refm.linear_ode_reference(grid, events, rates_of(params), params.n_transit, return_states=True)
    expected = states[:, -1]
    exact = linear.run_linear(table, table_of(params), times=grid, observe="peripheral").concentration[0]
    assert_close(exact, expected)
    ode = run_ode_linear(table, table_of(params), times=grid, observe="peripheral", rtol=1e-10, atol=1e-10)
    assert np.max(np.abs(ode.concentration[0] - expected) / (1e-10 + 1e-10 * np.abs(expected))) < 10


def test_peripheral_amount__refused_without_the_compartment_or_with_levels():
    table = Schedule(phases=(Phase(dose=400, days=2),)).lower()
    with pytest.raises(SimulationError, match="no peripheral compartment"):
        linear.run_linear(table, table_of(PKParams(cl=9.0, v=100.0, ka=1.0, ktr=2.0, n_transit=2)), times=np.array([1.0]),
                          observe="peripheral")
    with pytest.raises(SimulationError, match="judge concentrations"):
        linear.run_linear(table, table_of(PKParams(**EECHOUTE)), times=np.array([1.0]), levels=np.array([1.0]),
                          observe="peripheral")
