"""The validation cases of ``imapk selftest``, each with an independent reference.

Every reference below is written here, apart from the code it checks: the Bateman function and
the constant-rate infusion summed dose by dose (``math.fsum``), the steady-state geometric series,
the two-compartment tri-exponential, scipy's ``solve_ivp`` (DOP853) and ``scipy.linalg.expm`` on the
model's ODEs, typical values worked out from each paper's covariate equations, published numbers
with their citation, and properties the linear model must have. Units as in imapk: h, mg, L, 1/h,
concentrations in ng/mL (1 mg/L = 1000 ng/mL).

Rounding budget of the exact comparisons: the engine steps a state through n events, each step
costing a few ulps; the references sum n positive terms that carry a few ulps each. Both are about
1e-15 relative for a year of daily doses, so 1e-10 relative leaves five orders of magnitude of
headroom while any wrong formula, dose, time or branch gives an error of 1e-3 or more.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from . import Case

__all__ = ["CASES"]

NG_PER_ML = 1000.0  # mg/L -> ng/mL
#: Widmer 2006 base model, typical values (CL/F L/h, V/F L, ka 1/h).
CL, V, KA = 14.3, 347.0, 0.609
#: Exact comparisons: closed form against closed form (module docstring). [1]
RTOL_EXACT = 1e-10
#: Below this a reference concentration is the tail of a long hold: compared absolutely, at
#: RTOL_EXACT times this floor, so the check is continuous there. [ng/mL]
ATOL_EXACT = RTOL_EXACT * 1e-6

WHY_EXACT = ("both sides are exact in double precision (~1e-15 relative for a year of doses); 1e-10 leaves "
             "five orders of magnitude of headroom and still catches any wrong formula, dose, time or branch "
             "(errors of 1e-3 or more)")


# ------------------------------------------------------------------------------------------------
# Dose lists and single-dose curves, written by hand (not imapk's schedule lowering or kernels)
# ------------------------------------------------------------------------------------------------


def case_report_doses(days: int) -> tuple[np.ndarray, np.ndarray]:
    """Scheduled times [h] and given amounts [mg] of the case report: 400 mg q24h, held on days
    29-42, 200 mg on days 43-49, 300 mg on days 50-105, 400 mg from day 106."""
    times = 24.0 * np.arange(days)
    day = np.arange(1, days + 1)
    amounts = np.where(day < 29, 400.0, np.where(day < 43, 0.0, np.where(day < 50, 200.0,
                                                                          np.where(day < 106, 300.0, 400.0))))
    return times, amounts


def _case_report_schedule(days: int):
    from ..schedule import Hold, LadderStep, Phase, Schedule

    return Schedule(phases=(Phase(dose=400.0, days=days),),
                    holds=(Hold(start_day=29, days=14, restart=(LadderStep(200.0, 7), LadderStep(300.0, 56))),))


def bateman(dt: float, cl: float, v: float, ka: float) -> float:
    """Concentration [ng/mL] per mg of a first-order input dt hours ago (0 for dt <= 0): the
    Bateman function ka / (V (ka - k)) (e^{-kt} - e^{-ka t}), and ka t e^{-kt} / V for ka == k."""
    if dt <= 0.0:
        return 0.0
    k = cl / v
    if ka == k:
        return NG_PER_ML * ka * dt * math.exp(-k * dt) / v
    return NG_PER_ML * ka / (v * (ka - k)) * (math.exp(-k * dt) - math.exp(-ka * dt))


def infusion(dt: float, cl: float, v: float, duration: float) -> float:
    """Concentration [ng/mL] per mg of a constant-rate input of `duration` h that started dt h ago:
    R/CL (1 - e^{-k s}) during it, R/CL (1 - e^{-k D}) e^{-k (s - D)} after it, R = 1 mg / D."""
    if dt <= 0.0:
        return 0.0
    k = cl / v
    rate = 1.0 / duration
    if dt <= duration:
        return NG_PER_ML * rate / cl * -math.expm1(-k * dt)
    return NG_PER_ML * rate / cl * -math.expm1(-k * duration) * math.exp(-k * (dt - duration))


def superpose(at, dose_times, amounts, unit) -> np.ndarray:
    """sum_j amount_j unit(t - t_j) at each time of `at`, each sum by ``math.fsum``. [ng/mL]"""
    return np.array([math.fsum(a * unit(t - td) for td, a in zip(dose_times, amounts) if a) for t in at])


def ss_trough_first_order(cl, v, ka, dose, tau, s=None):
    """C at time s after the last dose of an infinite train of doses `tau` apart, first-order input
    (s = tau: the steady-state trough). Sum of the geometric series of each exponential:
    F D ka / (V (ka - k)) [e^{-k s} / (1 - e^{-k tau}) - e^{-ka s} / (1 - e^{-ka tau})]. [ng/mL]"""
    s = tau if s is None else s
    k = cl / v
    return NG_PER_ML * dose * ka / (v * (ka - k)) * (
        math.exp(-k * s) / -math.expm1(-k * tau) - math.exp(-ka * s) / -math.expm1(-ka * tau))


def ss_trough_zero_order(cl, v, d1, dose, tau, f=1.0, tlag=0.0):
    """Steady-state trough, zero-order input of duration d1 starting tlag after each dose:
    R/CL (1 - e^{-k d1}) e^{-k (tau - tlag - d1)} / (1 - e^{-k tau}), R = F D / d1. [ng/mL]"""
    k = cl / v
    rate = f * dose / d1
    return NG_PER_ML * rate / cl * -math.expm1(-k * d1) * math.exp(-k * (tau - tlag - d1)) / -math.expm1(-k * tau)


def ss_trough_first_order_lag(cl, v, ka, dose, tau, f=1.0, tlag=0.0):
    """Steady-state trough, first-order input starting tlag < tau after each dose. [ng/mL]"""
    return f * ss_trough_first_order(cl, v, ka, dose, tau, s=tau - tlag)


def two_compartment_unit(cl, v, q, vp, ka):
    """Central concentration [ng/mL] per mg of an oral dose dt h ago, two compartments with first-order
    absorption: ka/V sum_i c_i e^{-lambda_i t} over lambda in (alpha, beta, ka) with
    c_alpha = (k21 - alpha) / ((ka - alpha) (beta - alpha)), c_beta = (k21 - beta) / ((ka - beta) (alpha - beta)),
    c_ka = (k21 - ka) / ((alpha - ka) (beta - ka)) (Gibaldi & Perrier, Pharmacokinetics, 2nd ed., ch. 2),
    alpha and beta the roots of s^2 - (k10 + k12 + k21) s + k10 k21. Returns (rates, coefficients)."""
    k10, k12, k21 = cl / v, q / v, q / vp
    total = k10 + k12 + k21
    root = math.sqrt(total * total - 4.0 * k10 * k21)
    alpha, beta = (total + root) / 2.0, (total - root) / 2.0
    rates = (alpha, beta, ka)
    coefficients = (
        NG_PER_ML * ka / v * (k21 - alpha) / ((ka - alpha) * (beta - alpha)),
        NG_PER_ML * ka / v * (k21 - beta) / ((ka - beta) * (alpha - beta)),
        NG_PER_ML * ka / v * (k21 - ka) / ((alpha - ka) * (beta - ka)),
    )
    return rates, coefficients


# ------------------------------------------------------------------------------------------------
# imapk under test (public API)
# ------------------------------------------------------------------------------------------------


def _simulate(schedule, params, **kwargs):
    from ..simulation import simulate

    return simulate(schedule, params, quantiles=(), as_dataset=False, **kwargs)


def _troughs(schedule, params, **kwargs) -> np.ndarray:
    return np.asarray(_simulate(schedule, params, **kwargs)["trough"].values[0], dtype=float)


def _troughs_and_curve(schedule, params, times, **kwargs) -> np.ndarray:
    """The troughs and the curve at `times` of one run, end to end. [ng/mL]"""
    result = _simulate(schedule, params, times=times, **kwargs)
    return np.concatenate([result["trough"].values[0], result["concentration"].values[0]]).astype(float)


def _params(**values):
    from ..params import PKParams

    return PKParams(**values)


# ------------------------------------------------------------------------------------------------
# 1. Superposition of single-dose curves
# ------------------------------------------------------------------------------------------------

CASE_DAYS = 365
CASE_TIMES, CASE_AMOUNTS = case_report_doses(CASE_DAYS)
WIDMER = dict(cl=CL, v=V, ka=KA)


def _superposition_cases() -> list[Case]:
    cases = []
    for tlag in (0.0, 0.5):
        cases.append(Case(
            name=f"superposition.case_report_troughs_tlag_{tlag:g}h",
            kind="superposition",
            checks=(f"the 365 scheduled troughs of the case report (400 mg/d, 14-day hold, 200 -> 300 -> 400 mg ladder), "
                    f"Widmer 2006 typical values, lag {tlag:g} h, exact engine"),
            reference="sum of Bateman single-dose curves over a hand-written dose list (math.fsum)",
            why=WHY_EXACT,
            observed=lambda tlag=tlag: _troughs(_case_report_schedule(CASE_DAYS), _params(**WIDMER, tlag=tlag)),
            expected=lambda tlag=tlag: superpose(CASE_TIMES, CASE_TIMES + tlag, CASE_AMOUNTS,
                                                 lambda dt: bateman(dt, CL, V, KA)),
            rtol=RTOL_EXACT, atol=ATOL_EXACT,
        ))
    dense = np.arange(0.0, 120 * 24.0, 0.75) + 0.125
    times120, amounts120 = case_report_doses(120)
    cases.append(Case(
        name="superposition.case_report_dense_curve",
        kind="superposition",
        checks="the concentration every 45 min over the first 120 days of the case report (hold and both ladder steps)",
        reference="sum of Bateman single-dose curves (math.fsum)",
        why=WHY_EXACT,
        observed=lambda: np.asarray(_simulate(_case_report_schedule(120), _params(**WIDMER), times=dense)
                                    ["concentration"].values[0], dtype=float),
        expected=lambda: superpose(dense, times120, amounts120, lambda dt: bateman(dt, CL, V, KA)),
        rtol=RTOL_EXACT, atol=ATOL_EXACT,
    ))
    k = CL / V
    cases.append(Case(
        name="superposition.ka_equal_k_limit",
        kind="superposition",
        checks="the case report's troughs when ka equals k = CL/V exactly (the engine's limit branch)",
        reference="sum of the limit single-dose curve ka t e^{-kt} / V (no cancellation)",
        why=WHY_EXACT,
        observed=lambda: _troughs(_case_report_schedule(CASE_DAYS), _params(cl=CL, v=V, ka=k)),
        expected=lambda: superpose(CASE_TIMES, CASE_TIMES, CASE_AMOUNTS, lambda dt: bateman(dt, CL, V, k)),
        rtol=RTOL_EXACT, atol=ATOL_EXACT,
    ))
    # Schmidli 2005-like zero-order input with a relative F and a lag.
    zero = dict(cl=13.8, v=252.0, d1=1.5)
    cases.append(Case(
        name="superposition.zero_order_input",
        kind="superposition",
        checks="troughs and the curve every 20 min over days 1-3 and 40-45 of the case report with zero-order input "
               "(D1 1.5 h, CL 13.8 L/h, V 252 L), relative F 0.9 and lag 0.4 h",
        reference="sum of constant-rate infusion curves R/CL (1 - e^{-ks}) ... (math.fsum)",
        why=WHY_EXACT,
        observed=lambda: _zero_order_observed(zero),
        expected=lambda: _zero_order_expected(zero),
        rtol=RTOL_EXACT, atol=ATOL_EXACT,
    ))
    return cases


_ZERO_TIMES = np.concatenate([np.arange(0.0, 72.0, 1 / 3), np.arange(39 * 24.0, 45 * 24.0, 1 / 3)]) + 0.01


def _zero_order_observed(zero):
    result = _simulate(_case_report_schedule(60), _params(**zero, f=0.9, tlag=0.4), times=_ZERO_TIMES)
    return np.concatenate([result["trough"].values[0], result["concentration"].values[0]])


def _zero_order_expected(zero):
    times, amounts = case_report_doses(60)
    unit = lambda dt: 0.9 * infusion(dt, zero["cl"], zero["v"], zero["d1"])  # noqa: E731
    return np.concatenate([superpose(times, times + 0.4, amounts, unit), superpose(_ZERO_TIMES, times + 0.4, amounts, unit)])


# ------------------------------------------------------------------------------------------------
# 2. Steady state and properties
# ------------------------------------------------------------------------------------------------


def _property_cases() -> list[Case]:
    from ..schedule import Hold, Phase, Schedule, SteadyState

    cases = []
    plateau = Schedule(phases=(Phase(dose=400.0, days=30),), steady_state=SteadyState(400.0, 24.0))
    cases.append(Case(
        name="property.steady_state_is_a_fixed_point",
        kind="property",
        checks="a steady-state start at 400 mg q24h followed by 30 more days of the same regimen: every trough "
               "equals the closed-form plateau trough",
        reference="sum of the geometric series of each exponential, F D ka / (V (ka - k)) [e^{-k tau}/(1 - e^{-k tau}) "
                  "- e^{-ka tau}/(1 - e^{-ka tau})] (written in the case)",
        why=WHY_EXACT,
        observed=lambda: _troughs(plateau, _params(**WIDMER)),
        expected=lambda: np.full(30, ss_trough_first_order(CL, V, KA, 400.0, 24.0)),
        rtol=RTOL_EXACT,
    ))
    cases.append(Case(
        name="property.approach_to_steady_state",
        kind="property",
        checks="starting from nothing, the trough after n days of 400 mg q24h (n = 2..60)",
        reference="plateau trough times the unfilled fraction: C_ss [ (1 - e^{-k n tau}) e^{-k tau}/(1 - e^{-k tau}) "
                  "- ... ] written as the finite geometric sums of each exponential",
        why=WHY_EXACT,
        observed=lambda: _troughs(Schedule(phases=(Phase(dose=400.0, days=60),)), _params(**WIDMER))[1:],
        expected=lambda: _finite_train_troughs(60),
        rtol=RTOL_EXACT,
    ))
    factor = 1.7
    cases.append(Case(
        name="property.linear_in_dose",
        kind="property",
        checks=f"every trough of the case report with every dose x{factor} (and the steady-state start) is x{factor} "
               "the original",
        reference=f"{factor} x imapk's troughs at the written doses (linearity of the model in the dose)",
        why="the model is linear in the amount, so the two runs differ only by rounding (a few ulps per step); "
            "1e-12 relative catches any dose-dependent term",
        observed=lambda: _troughs(_scaled_case_report(factor), _params(**WIDMER)),
        expected=lambda: factor * _troughs(_scaled_case_report(1.0), _params(**WIDMER)),
        rtol=1e-12, atol=1e-15,
    ))
    shift = 10
    cases.append(Case(
        name="property.time_shift_invariance",
        kind="property",
        checks=f"the 120-day case report started {shift} days later (a {shift}-day hold on day 1 and the days "
               "shifted): the troughs from the first dose on",
        reference="imapk's troughs of the unshifted schedule (the model's rates do not depend on clock time)",
        why="the same intervals are stepped from different absolute times: only rounding of the times differs "
            "(~1e-13 relative); 1e-10 catches any dependence on absolute time",
        observed=lambda: _troughs(Schedule(
            phases=(Phase(dose=400.0, days=120 + shift),),
            holds=(Hold(start_day=1, days=shift),
                   Hold(start_day=29 + shift, days=14, restart=_case_report_schedule(120).holds[0].restart))),
            _params(**WIDMER))[shift:],
        expected=lambda: _troughs(_case_report_schedule(120), _params(**WIDMER)),
        rtol=RTOL_EXACT, atol=ATOL_EXACT,
    ))
    cases.append(Case(
        name="property.nonnegative_and_finite",
        kind="property",
        checks="the lowest concentration of 200 patients with inter-individual variability (Widmer 2006 covariate "
               "model, case report, hourly grid and troughs), and whether every value is finite",
        reference="0 ng/mL: amounts in the body are never negative",
        why="a concentration below 0 (or NaN) is wrong however small; 0 allowed exactly",
        observed=_lowest_population_concentration,
        expected=lambda: 0.0,
        rtol=0.0, atol=0.0,
    ))
    return cases


def _verdict_cases() -> list[Case]:
    start, end = 24.0 * 28, 24.0 * 120  # from the day-29 trough to the end of a 120-day case report
    return [Case(
        name="verdict.time_below_exact_crossings",
        kind="verdict",
        checks="time with the concentration below 1100 ng/mL (the gist target) and the longest such stretch, days "
               "29-120 of the case report, Widmer 2006 typical values: imapk's verdict (time_below, longest_below)",
        reference="crossings of the superposed Bateman curve with 1100 ng/mL, bracketed on a 6-minute grid and "
                  "solved by scipy.optimize.brentq (xtol 1e-12 h), summed over the stretches below (written in the case)",
        why="both sides locate each crossing to ~1e-12 h; about 180 crossings sum to < 1e-9 h, so 1e-6 h (3.6 ms) "
            "leaves headroom and catches a crossing missed or misplaced by the 6-minute grid of a sampled curve",
        observed=lambda: _time_below_observed(start, end),
        expected=lambda: _time_below_reference(start, end, 1100.0),
        rtol=0.0, atol=1e-6, unit="h",
    )]


def _time_below_observed(start, end):
    result = _simulate(_case_report_schedule(120), _params(**WIDMER), thresholds=("gist",), window=(start, end))
    return np.array([float(result["time_below"].values[0, 0]), float(result["longest_below"].values[0, 0])])


def _time_below_reference(start, end, level):
    from scipy.optimize import brentq

    times, amounts = case_report_doses(120)
    k = CL / V

    def curve(t):
        dt = np.subtract.outer(np.atleast_1d(t), times)
        safe = np.where(dt > 0.0, dt, 0.0)
        unit = NG_PER_ML * KA / (V * (KA - k)) * (np.exp(-k * safe) - np.exp(-KA * safe))
        return np.sum(np.where(dt > 0.0, unit * amounts, 0.0), axis=-1)

    grid = np.linspace(start, end, int(round((end - start) * 10)) + 1)  # every 6 minutes
    values = curve(grid) - level
    crossings = [brentq(lambda t: float(curve(t)[0]) - level, a, b, xtol=1e-12)
                 for a, b, fa, fb in zip(grid[:-1], grid[1:], values[:-1], values[1:]) if fa * fb < 0.0]
    edges = [start, *crossings, end]
    below = values[0] < 0.0  # the sign on each stretch alternates at every crossing
    stretches = []
    for a, b in zip(edges[:-1], edges[1:]):
        if below:
            stretches.append(b - a)
        below = not below
    return np.array([math.fsum(stretches), max(stretches, default=0.0)])


def _finite_train_troughs(days):
    k = CL / V
    n = np.arange(1, days)  # doses given before the trough of day n + 1
    tau = 24.0
    a = 400.0 * KA / (V * (KA - k)) * NG_PER_ML
    return a * (np.exp(-k * tau) * -np.expm1(-k * tau * n) / -np.expm1(-k * tau)
                - np.exp(-KA * tau) * -np.expm1(-KA * tau * n) / -np.expm1(-KA * tau))


def _scaled_case_report(factor):
    from ..schedule import Hold, LadderStep, Phase, Schedule, SteadyState

    return Schedule(phases=(Phase(dose=400.0 * factor, days=120),),
                    holds=(Hold(start_day=29, days=14,
                                restart=(LadderStep(200.0 * factor, 7), LadderStep(300.0 * factor, 56))),),
                    steady_state=SteadyState(400.0 * factor, 24.0))


def _lowest_population_concentration():
    from ..models import get_model
    from ..population import draw_parameters

    model = get_model("widmer2006_covariates")
    n = 200
    rng = np.random.default_rng(7)
    covariates = {"weight": rng.uniform(45.0, 110.0, n), "age": rng.uniform(20.0, 85.0, n),
                  "sex": np.where(rng.random(n) < 0.5, "male", "female"), "disease": np.full(n, "GIST")}
    covariates = {name: covariates[name] for name in model.covariates}
    table = draw_parameters(model, covariates, np.arange(n), seed=11, iiv=True)
    result = _simulate(_case_report_schedule(120), table, times=np.arange(0.0, 120 * 24.0, 1.0))
    values = np.concatenate([np.ravel(result["trough"].values), np.ravel(result["concentration"].values)])
    return float(np.min(values)) if np.all(np.isfinite(values)) else math.nan


# ------------------------------------------------------------------------------------------------
# 3. scipy solve_ivp on the model's ODEs
# ------------------------------------------------------------------------------------------------

#: solve_ivp settings of every ODE reference: DOP853 at rtol 1e-12 and atol 1e-12 mg, far tighter than
#: any tolerance compared against it.
IVP = dict(method="DOP853", rtol=1e-12, atol=1e-12)


def ivp_troughs(rhs, n_states, dose_times, doses, dose_state, central, volume, *, t_end=None):
    """Integrate the ODE from dose to dose with scipy ``solve_ivp`` (state reset exactly at each dose);
    return the central concentration [ng/mL] just before each dose (and at t_end, if given)."""
    from scipy.integrate import solve_ivp

    y = np.zeros(n_states)
    out = []
    edges = list(dose_times) + ([t_end] if t_end is not None else [])
    for j, t0 in enumerate(dose_times):
        y[dose_state] += doses[j]
        t1 = edges[j + 1] if j + 1 < len(edges) else None
        if t1 is None:
            break
        solution = solve_ivp(rhs, (t0, t1), y, **IVP)
        if not solution.success:
            raise RuntimeError(f"solve_ivp failed: {solution.message}")
        y = solution.y[:, -1].copy()
        out.append(NG_PER_ML * y[central] / volume)
    return np.array(out)


def _ode_cases() -> list[Case]:
    from ..params import ParameterChange

    cases = []
    times90, amounts90 = case_report_doses(90)

    def one_compartment(t, y, cl=CL, v=V, ka=KA):
        return [-ka * y[0], ka * y[0] - cl / v * y[1]]

    cases.append(Case(
        name="solve_ivp.ode_path_case_report",
        kind="solve_ivp",
        checks="imapk's ODE path (numba DOP853 at its default rtol 1e-8, atol 1e-8 mg) on the first 90 days of the "
               "case report: the troughs of days 2-90",
        reference="scipy solve_ivp (DOP853, rtol 1e-12, atol 1e-12 mg) on ad' = -ka ad, ac' = ka ad - k ac, "
                  "restarted at each dose",
        why="a global error of 100 x the requested rtol (error control is local; 90 restarts) bounds an "
            "integrator that honours its tolerance and fails one that does not",
        observed=lambda: _troughs(_case_report_schedule(90), _params(**WIDMER), method="ode")[1:],
        expected=lambda: ivp_troughs(one_compartment, 2, times90, amounts90, 0, 1, V),
        rtol=1e-6, atol=1e-6,
    ))
    change_time, new_cl = 24.0 * 20 + 7.0, 9.5  # CL falls to 9.5 L/h at 487 h (inside an interval)
    times40, amounts40 = np.arange(40) * 24.0, np.full(40, 400.0)

    def stepped(t, y):
        return one_compartment(t, y, cl=CL if t < change_time else new_cl)

    def stepped_reference():
        from scipy.integrate import solve_ivp

        # The same integration, split at the change time so no step straddles the step in CL.
        y, out = np.zeros(2), []
        for j, t0 in enumerate(times40):
            y[0] += amounts40[j]
            t1 = t0 + 24.0
            pieces = [(t0, change_time), (change_time, t1)] if t0 < change_time < t1 else [(t0, t1)]
            for a, b in pieces:
                y = solve_ivp(stepped, (a, b), y, **IVP).y[:, -1].copy()
            out.append(NG_PER_ML * y[1] / V)
        return np.array(out[:-1])

    from ..schedule import Phase, Schedule

    cases.append(Case(
        name="solve_ivp.exact_path_parameter_change",
        kind="solve_ivp",
        checks="the exact engine with a step change of CL (14.3 -> 9.5 L/h at 487 h, inside a dosing interval): "
               "troughs of days 2-40 at 400 mg/d",
        reference="scipy solve_ivp (DOP853, rtol 1e-12) of the one-compartment ODEs, split at the change",
        why="closed form against an integrator held to 1e-12: their difference is the integrator's global error "
            "(~1e-11 over 40 restarts); 1e-9 relative leaves headroom and catches a change applied at the wrong "
            "time (errors ~1e-3)",
        observed=lambda: _troughs(Schedule(phases=(Phase(dose=400.0, days=40),)), _params(**WIDMER),
                                  changes=(ParameterChange(change_time, (("cl", new_cl),)),))[1:],
        expected=stepped_reference,
        rtol=1e-9, atol=1e-9,
    ))
    cases.append(Case(
        name="solve_ivp.eechoute2012_time_varying",
        kind="solve_ivp",
        checks="the typical Eechoute 2012 patient (two compartments, five transit compartments, ka and relative F "
               "decaying with time on therapy) on 400 mg/d: troughs of days 2-35 on the ODE path",
        reference="scipy solve_ivp (DOP853, rtol 1e-12) of the published equations written in the case: "
                  "ka(t) = 0.699 (1 + 1.18 e^{-0.0256 t/24}), F(t) = 1 + 0.482 e^{-0.0256 t/24} at each dose, "
                  "CL 9.12, Vc 128, Q 24.9, Vp 197, ktr 15.8 (Eechoute 2012, Clin Cancer Res 18:5780, as tabulated "
                  "by Yang 2025)",
        why="imapk's ODE path at rtol 1e-8 over 35 restarts: 1e-6 relative is 100 x the requested rtol",
        observed=lambda: _troughs(Schedule(phases=(Phase(dose=400.0, days=35),)), "eechoute2012", method="ode")[1:],
        expected=lambda: _eechoute_reference(35),
        rtol=1e-6, atol=1e-6,
        warm="ode_linear",
    ))
    return cases


def _eechoute_rhs(ka_of_t):
    cl, vc, q, vp, ktr = 9.12, 128.0, 24.9, 197.0, 15.8

    def rhs(t, y):
        ka = ka_of_t(t)
        d = np.empty(8)
        d[0] = -ktr * y[0]
        d[1:5] = ktr * (y[0:4] - y[1:5])
        d[5] = ktr * y[4] - ka * y[5]
        d[6] = ka * y[5] - (cl + q) / vc * y[6] + q / vp * y[7]
        d[7] = q / vc * y[6] - q / vp * y[7]
        return d

    return rhs


def _eechoute_reference(days):
    decay = 0.0256 / 24.0
    rhs = _eechoute_rhs(lambda t: 0.699 * (1.0 + 1.18 * math.exp(-decay * t)))
    times = 24.0 * np.arange(days)
    doses = 400.0 * (1.0 + 0.482 * np.exp(-decay * times))
    return ivp_troughs(rhs, 8, times, doses, 0, 6, 128.0)


# ------------------------------------------------------------------------------------------------
# 4. Two compartments, closed form and matrix exponential
# ------------------------------------------------------------------------------------------------

TWO = dict(cl=9.12, v=128.0, q=24.9, vp=197.0, ka=0.699)


def _two_compartment_cases() -> list[Case]:
    from ..schedule import Phase, Schedule, SteadyState

    def closed(at, times, amounts):
        rates, coefficients = two_compartment_unit(**TWO)
        unit = lambda dt: math.fsum(c * math.exp(-r * dt) for r, c in zip(rates, coefficients)) if dt > 0 else 0.0  # noqa: E731
        return superpose(at, times, amounts, unit)

    def closed_ss(tau=24.0, dose=400.0):
        rates, coefficients = two_compartment_unit(**TWO)
        return dose * math.fsum(c * math.exp(-r * tau) / -math.expm1(-r * tau) for r, c in zip(rates, coefficients))

    times, amounts = case_report_doses(120)
    dense = np.arange(0.0, 60 * 24.0, 2.0) + 0.3
    return [
        Case(
            name="two_compartment.steady_state_start",
            kind="two_compartment",
            checks="a two-compartment steady-state start at 400 mg q24h: the troughs of 10 more days",
            reference="geometric series of each of the three exponentials, 400 sum_i c_i e^{-l_i tau} / (1 - e^{-l_i tau})",
            why="closed form against closed form; 1e-9 relative as for the curve above",
            observed=lambda: _troughs(Schedule(phases=(Phase(dose=400.0, days=10),), steady_state=SteadyState(400.0, 24.0)),
                                      _params(**TWO)),
            expected=lambda: np.full(10, closed_ss()),
            rtol=1e-9,
        ),
        Case(
            name="two_compartment.case_report_troughs_and_curve",
            kind="two_compartment",
            checks="two compartments with first-order absorption (CL 9.12, Vc 128, Q 24.9, Vp 197, ka 0.699): "
                   "the 120 troughs of the case report and the curve every 2 h over days 1-60, exact engine",
            reference="sum of tri-exponential single-dose curves, coefficients from the macro rate constants "
                      "(Gibaldi & Perrier, Pharmacokinetics 2nd ed., written in the case)",
            why="closed form against closed form, both exact in double precision; the tri-exponential coefficients "
                "alternate in sign, so 1e-9 relative (not 1e-10) for their cancellation at early times",
            observed=lambda: _troughs_and_curve(_case_report_schedule(120), _params(**TWO), dense),
            expected=lambda: np.concatenate([closed(times, times, amounts), closed(dense, times, amounts)]),
            rtol=1e-9, atol=1e-9,
            warm="linear",
        ),
        Case(
            name="two_compartment.transit_chain_plateau",
            kind="two_compartment",
            checks="the plateau trough at 400 mg/d of the typical Eechoute 2012 patient (five transit compartments, "
                   "two compartments; ka and F at their long-term values 0.699 1/h and 1), imapk.model_summary.typical_trough",
            reference="steady state of the 8-state linear system by scipy.linalg.expm: x = (I - e^{A tau})^{-1} e^{A tau} b",
            why="imapk integrates the time-varying model (ODE path, rtol 1e-8) until the transients have decayed; "
                "1e-6 relative is 100 x its rtol",
            observed=lambda: _typical_trough("eechoute2012"),
            expected=_transit_plateau_expm,
            rtol=1e-6,
        ),
    ]


def _transit_plateau_expm():
    from scipy.linalg import expm

    rhs = _eechoute_rhs(lambda t: 0.699)
    a = np.column_stack([rhs(0.0, e) for e in np.eye(8)])  # the system is linear: columns are A e_i
    b = np.zeros(8)
    b[0] = 400.0
    propagator = expm(a * 24.0)
    x = np.linalg.solve(np.eye(8) - propagator, propagator @ b)
    return NG_PER_ML * x[6] / 128.0


# ------------------------------------------------------------------------------------------------
# 5. Published models: typical values, typical troughs, published numbers
# ------------------------------------------------------------------------------------------------

#: Typical values of the reference subject (70 kg, 55 y, male, GIST, Hb 13 g/dL, WBC 7, RBC 4.5,
#: albumin 38 g/L, AGP 0.9 g/L, eGFR 90, no liver metastases, SLC22A1 CC, ABCG2 GG), first occasion,
#: worked out from each paper's covariate equations as its model module cites them.
REFERENCE_VALUES = {
    "widmer2006": dict(cl=14.3, v=347.0, ka=0.609),
    "widmer2006_independent": dict(cl=14.3, v=347.0, ka=0.61),
    # 14.3 + 0 (70 kg) + 1.49 (male) - 5.81 x 5/50 (55 y) - 0.806 (GIST); V 347 + 46.2 (male)
    "widmer2006_covariates": dict(cl=14.3 + 1.49 - 0.581 - 0.806, v=393.2, ka=0.609),
    # 13.8 (70/80)^0.301 (13/13)^0.897 (7/16)^-0.105; 252 (70/80)^0.405 (7/16)^-0.07
    "schmidli2005": dict(cl=13.8 * 0.875**0.301 * 0.4375**-0.105, v=252.0 * 0.875**0.405 * 0.4375**-0.07, d1=1.5),
    "schmidli2005_abstract": dict(cl=14.0 * 0.875 ** math.log2(1.12) * 0.4375**-0.105,
                                  v=252.0 * 0.875**0.405 * 0.4375**-0.07, d1=1.5),
    "judson2005": dict(cl=10.6 * (70.0 / 67.5) ** 0.002, v=182.0, d1=1.51),
    "judson2005_main": dict(cl=9.33, v=182.0, d1=1.51),
    # 7.29 (70/54)^0.56 (0.9/1.13)^-0.65 (38/38)^0.66; 202 (70/54)^0.79 (0.9/1.13)^-1.01
    "petain2008": dict(cl=7.29 * (70.0 / 54.0) ** 0.56 * (0.9 / 1.13) ** -0.65,
                       v=202.0 * (70.0 / 54.0) ** 0.79 * (0.9 / 1.13) ** -1.01, ka=1.03),
    # 8.18 (38/38.3)^1.66 (7/7)^-0.418; V 168 (38/38.3)^1.66 (day 1)
    "demetri2009": dict(cl=8.18 * (38.0 / 38.3) ** 1.66, v=168.0 * (38.0 / 38.3) ** 1.66, d1=1.69),
    "yamakawa2011": dict(cl=8.7, v=430.0, ka=2.06),
    # 17.3 (male) (1 + 15 x -0.00566) for 55 y
    "gotta2014": dict(cl=17.3 * (1.0 + 15.0 * -0.00566), v=430.0, d1=3.1),
    "golabchifar2014": dict(cl=10.8, v=278.0, d1=1.43, tlag=0.197),
    "dipaolo2014": dict(cl=13.093, v=359.238, ka=1.29),
    "wang2019": dict(cl=9.25, v=222.0, ka=0.329),
    "shriyan2022": dict(cl=10.2, v=389.0, d1=2.42),
    "he2023": dict(cl=7.6, v=270.0, ka=0.329),
    # 9.72 (4.5/3.7)^0.49 (GG)
    "jiang2023": dict(cl=9.72 * (4.5 / 3.7) ** 0.49, v=229.0, ka=1.22),
    "eechoute2012": dict(cl=9.12, v=128.0, q=24.9, vp=197.0, ka=0.699, ktr=15.8),
}


def _typical_values(name):
    from ..covariates import REFERENCE_SUBJECT
    from ..models import get_model

    values = get_model(name).typical_values(REFERENCE_SUBJECT)
    keys = sorted(REFERENCE_VALUES[name])
    missing = sorted(set(values) - set(keys) - {"f", "tlag"})
    if missing:
        raise ValueError(f"parameters without a hand-worked value: {', '.join(missing)}")
    return np.array([float(np.asarray(values.get(key, [0.0]))[0]) for key in keys])


def _typical_trough(name):
    from ..model_summary import typical_trough
    from ..models import get_model

    return typical_trough(get_model(name))


def _plateau_closed_form(name):
    from ..covariates import REFERENCE_SUBJECT
    from ..models import get_model

    model = get_model(name)
    p = model.typical_params(REFERENCE_SUBJECT, len(model.occasion_days))
    if p.ka is not None:
        return ss_trough_first_order_lag(p.cl, p.v, p.ka, 400.0, 24.0, p.f, p.tlag)
    return ss_trough_zero_order(p.cl, p.v, p.d1, 400.0, 24.0, p.f, p.tlag)


def _short_citation(citation: str) -> str:
    """'Widmer N, Decosterd LA, ... Br J Clin Pharmacol 2006;62(1):97-112 ...' -> 'Widmer et al. 2006'."""
    import re

    year = re.search(r"\b(?:19|20)\d{2}\b", citation)
    surname = citation.split(",")[0].rsplit(" ", 1)[0]  # 'Di Paolo A' -> 'Di Paolo'
    return f"{surname} et al. {year.group(0) if year else ''}".rstrip()


def _model_cases() -> list[Case]:
    from ..models import MODELS

    cases = []
    for name in sorted(MODELS):
        model = MODELS[name]
        cases.append(Case(
            name=f"typical_values.{name}",
            kind="typical_values",
            checks=f"typical parameters of {name} for the reference subject, first occasion "
                   f"({', '.join(sorted(REFERENCE_VALUES.get(name, {})))})",
            reference=f"values worked out by hand, written in the case, from the covariate equations of "
                      f"{_short_citation(model.citation)} (full citation with DOI: imapk params {name})",
            why="the same arithmetic in a different order: 1e-12 relative is rounding only, while a wrong exponent, "
                "reference weight or category gives 1e-3 or more",
            observed=lambda name=name: _typical_values(name),
            expected=lambda name=name: np.array([REFERENCE_VALUES[name][key] for key in sorted(REFERENCE_VALUES[name])]),
            rtol=1e-12, unit="",
        ))
        if {"q", "vp", "ktr"} & set(REFERENCE_VALUES.get(name, {})):
            continue  # its plateau is checked by two_compartment.transit_chain_plateau
        cases.append(Case(
            name=f"typical_trough.{name}",
            kind="typical_trough",
            checks=f"the plateau trough of {name} at 400 mg q24h for the reference subject "
                   "(imapk.model_summary.typical_trough: a steady-state start, every occasion effect in force)",
            reference="closed-form steady-state trough of one compartment (first-order or zero-order input, with "
                      "relative F and lag) at the model's last-occasion typical values, written in the case",
            why=WHY_EXACT.replace("a year of doses", "an infinite train"),
            observed=lambda name=name: _typical_trough(name),
            expected=lambda name=name: _plateau_closed_form(name),
            rtol=RTOL_EXACT,
        ))
    # Published (derived) numbers for the Widmer 2006 base model at 400 mg q24h.
    widmer = "Widmer N et al., Br J Clin Pharmacol 2006;62(1):97-112, doi:10.1111/j.1365-2125.2006.02719.x, base model"
    cases.append(Case(
        name="published.widmer2006_trough_732",
        kind="published",
        checks="the steady-state trough of the Widmer 2006 base model at 400 mg q24h, imapk's exact engine after "
               "60 days",
        reference=f"732.1 ng/mL: {widmer}, typical trough as computed by nlmixr2lib (Yang 2025 model library, "
                  "printed 732.1; 732 in the literature notes)",
        why="the reference is printed to 0.1 ng/mL: half a unit of its last digit",
        observed=lambda: _troughs(_plain(60), _params(**{**WIDMER, "ka": 0.61}))[-1],
        expected=lambda: 732.1,
        rtol=0.0, atol=0.05,
    ))
    cases.append(Case(
        name="published.widmer2006_peak_and_average",
        kind="published",
        checks="the steady-state peak and average concentration of the Widmer 2006 base model at 400 mg q24h "
               "(the curve every minute over day 60, exact engine; the average by the trapezoid rule)",
        reference=f"Cmax 1561 ng/mL (derived from {widmer} in the literature notes); Cavg = F D / (CL tau) = "
                  "400 mg / (14.3 L/h x 24 h) = 1165.50 ng/mL (the AUC over a dosing interval at steady state)",
        why="Cmax is printed to 1 ng/mL: half a unit of its last digit; the one-minute grid and the trapezoid rule "
            "add < 0.01 ng/mL",
        observed=_widmer_peak_and_average,
        expected=lambda: np.array([1561.0, NG_PER_ML * 400.0 / (CL * 24.0)]),
        rtol=0.0, atol=0.5,
    ))
    return cases


def _plain(days):
    from ..schedule import Phase, Schedule

    return Schedule(phases=(Phase(dose=400.0, days=days),))


def _widmer_peak_and_average():
    grid = 59 * 24.0 + np.arange(0.0, 24.0 * 60 + 1) / 60.0
    curve = np.asarray(_simulate(_plain(61), _params(**WIDMER), times=grid)["concentration"].values[0], dtype=float)
    average = float(np.sum((curve[1:] + curve[:-1]) / 2.0) / (len(curve) - 1))
    return np.array([float(curve.max()), average])


# ------------------------------------------------------------------------------------------------
# 6. NONMEM semantics of a data set (ADDL/II, SS, EVID 3/4, RATE), against superposition
# ------------------------------------------------------------------------------------------------

NONMEM_COLUMNS = ("ID", "TIME", "EVID", "AMT", "RATE", "II", "ADDL", "SS", "CMT", "MDV")


def _nonmem_predictions(records, observations) -> np.ndarray:
    """Write `records` (tuples of NONMEM_COLUMNS without ID and MDV) plus observation records at
    `observations` as a data set, read it with imapk's reader and simulate it (Widmer typical values)."""
    import os
    import tempfile

    from ..dataset_simulation import simulate_dataset
    from ..datasets import read_dataset

    rows = [(t, *rest) for t, *rest in records] + [(t, 0, 0, 0, 0, 0, 0, 2) for t in observations]
    rows.sort(key=lambda r: (r[0], r[1] == 0))  # by time; doses before observations at equal times
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "selftest.csv")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(",".join(NONMEM_COLUMNS) + "\n")
            for time_, evid, amt, rate, ii, addl, ss, cmt in rows:
                handle.write(f"1,{time_!r},{evid},{amt!r},{rate!r},{ii!r},{addl},{ss},{cmt},1\n")  # MDV 1: no measured values
        simulation = simulate_dataset(read_dataset(path), _params(**WIDMER))
    return np.asarray(simulation.prediction, dtype=float)


def _nonmem_cases() -> list[Case]:
    def unit(dt):
        return bateman(dt, CL, V, KA)

    obs_addl = [0.5, 6.0, 23.5, 30.0, 71.9, 100.0, 150.0, 200.0]
    obs_ss = [1.0, 12.0, 23.9, 30.0, 60.0, 80.0, 100.0, 130.0]
    obs_reset = [12.0, 40.0, 59.9, 60.5, 70.0, 80.0, 110.0]
    obs_rate = [0.5, 1.5, 2.5, 10.0, 25.0, 27.0, 50.0, 73.0, 100.0]
    rate_unit = lambda dt: infusion(dt, CL, V, 2.0)  # noqa: E731
    why = WHY_EXACT.replace("(~1e-15 relative for a year of doses)", "")
    return [
        Case(
            name="nonmem.addl_ii",
            kind="nonmem",
            checks="a data set with one dose record AMT 400, ADDL 6, II 24 (CMT 1): concentrations at 8 observation times",
            reference="sum of Bateman curves of the seven doses at 0, 24, ..., 144 h written out in the case (NONMEM: "
                      "ADDL additional doses II apart after the record's own)",
            why=why,
            observed=lambda: _nonmem_predictions([(0.0, 1, 400.0, 0.0, 24.0, 6, 0, 1)], obs_addl),
            expected=lambda: superpose(obs_addl, 24.0 * np.arange(7), np.full(7, 400.0), unit),
            rtol=RTOL_EXACT,
        ),
        Case(
            name="nonmem.ss1_steady_state_dose",
            kind="nonmem",
            checks="a dose record SS 1, AMT 400, II 24, ADDL 3 at time 0: concentrations at 8 times over 130 h",
            reference="NONMEM SS 1: the state at the record is the steady state of an infinite train ending with this "
                      "dose; with the ADDL doses the train ends at 72 h, so C(t) is the geometric-series sum at "
                      "s = t - (last dose before t), written in the case",
            why=why,
            observed=lambda: _nonmem_predictions([(0.0, 1, 400.0, 0.0, 24.0, 3, 1, 1)], obs_ss),
            expected=lambda: np.array([ss_trough_first_order(CL, V, KA, 400.0, 24.0, s=t - 24.0 * min(3, math.floor(t / 24.0)))
                                       for t in obs_ss]),
            rtol=RTOL_EXACT,
        ),
        Case(
            name="nonmem.evid3_reset_and_evid4_reset_dose",
            kind="nonmem",
            checks="400 mg at 0, 24, 48 h (ADDL 2), a reset (EVID 3) at 60 h, then 200 mg at 72 h and 96 h (ADDL 1); "
                   "and a second run with a reset-and-dose (EVID 4, 300 mg) at 60 h instead",
            reference="superposition of only the doses after the reset (NONMEM: EVID 3 empties every compartment; "
                      "EVID 4 empties them, then doses)",
            why=why,
            observed=lambda: np.concatenate([
                _nonmem_predictions([(0.0, 1, 400.0, 0.0, 24.0, 2, 0, 1), (60.0, 3, 0.0, 0.0, 0.0, 0, 0, 1),
                                     (72.0, 1, 200.0, 0.0, 24.0, 1, 0, 1)], obs_reset),
                _nonmem_predictions([(0.0, 1, 400.0, 0.0, 24.0, 2, 0, 1), (60.0, 4, 300.0, 0.0, 0.0, 0, 0, 1)],
                                    obs_reset)]),
            expected=lambda: np.concatenate([
                np.array([superpose([t], [0.0, 24.0, 48.0], [400.0] * 3, unit)[0] if t < 60.0
                          else superpose([t], [72.0, 96.0], [200.0] * 2, unit)[0] for t in obs_reset]),
                np.array([superpose([t], [0.0, 24.0, 48.0], [400.0] * 3, unit)[0] if t < 60.0
                          else superpose([t], [60.0], [300.0], unit)[0] for t in obs_reset])]),
            rtol=RTOL_EXACT,
        ),
        Case(
            name="nonmem.rate_infusion_into_central",
            kind="nonmem",
            checks="infusions of 400 mg at RATE 200 mg/h into the central compartment (CMT 2) at 0, 24, 48 h "
                   "(ADDL 2) beside an oral dose of 100 mg into the depot (CMT 1) at 24 h: 9 observation times",
            reference="superposition of constant-rate infusion curves (2 h each) and one Bateman curve, written in the case",
            why=why,
            observed=lambda: _nonmem_predictions([(0.0, 1, 400.0, 200.0, 24.0, 2, 0, 2),
                                                  (24.0, 1, 100.0, 0.0, 0.0, 0, 0, 1)], obs_rate),
            expected=lambda: superpose(obs_rate, [0.0, 24.0, 48.0], [400.0] * 3, rate_unit)
            + superpose(obs_rate, [24.0], [100.0], unit),
            rtol=RTOL_EXACT,
        ),
    ]


def prewarm() -> None:
    """Compile (or load from the numba cache) the kernels of the costliest cases, printing each
    case's ``warm`` key when its kernels are ready (run by a helper process of
    :func:`imapk.selftest.run_selftest`; any error is left to the case itself to report)."""
    import warnings

    warnings.simplefilter("ignore")
    steps = (
        ("ode_linear", lambda: _troughs(_plain(3), "eechoute2012", method="ode")),
        ("linear", lambda: _troughs_and_curve(_case_report_schedule(3), _params(**TWO), np.array([1.0, 30.0]))),
    )
    for key, step in steps:
        try:
            step()
        except Exception:
            pass
        print(key, flush=True)


@lru_cache(maxsize=1)
def _all_cases() -> tuple[Case, ...]:
    cases = (_superposition_cases() + _verdict_cases() + _property_cases() + _ode_cases() + _two_compartment_cases()
             + _nonmem_cases() + _model_cases())
    names = [case.name for case in cases]
    assert len(set(names)) == len(names), "case names must be unique"
    return tuple(cases)


#: Every case ``imapk selftest`` runs, in order.
CASES: tuple[Case, ...] = _all_cases()
