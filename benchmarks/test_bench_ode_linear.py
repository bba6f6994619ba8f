"""Benchmarks of the ODE path for multi-compartment models: 365 daily 400 mg doses of an
Eechoute-like structure (five transit compartments, ktr 15.8 1/h, absorption, two compartments),
rtol = atol = 1e-8, 1 and 100 subjects.

Subjects: CL 9.12 L/h and Vc 128 L with log-normal variability (30 % CV, independent), ka 0.699 1/h,
Q 24.9 L/h, Vp 197 L, drawn from ``numpy.random.default_rng(SEED)`` outside the timed region.
Two cases: ka(tau) = 0.699 (1 + 1.18 e^{-0.0256 tau / 24 h}) (Eechoute's decaying absorption
rate, the reason to take the ODE path), and constant rates, whose troughs are checked against
the exact path (``scaled_error_vs_exact``: max over subjects and troughs of
|y - y_exact| / (atol 1000 / V + rtol |y_exact|)).

Timed: the public API ``imapk.simulate(..., method="ode")``. Reference, in the same process:
scipy ``solve_ivp`` (LSODA and DOP853, the same tolerances, restarted at every dose) of the same
compartment equations for the first subjects of the same draw, scaled per subject-dose;
``ratio_vs_scipy`` is against LSODA (as in the other suites), ``ratio_vs_scipy_dop853`` against
scipy's DOP853, the method imapk implements. ``steps_per_dose``: imapk's integration steps per
subject and dose (from the kernel, outside the timed region). Compilation happens before any timing.
Quick mode: one round, and scipy on one subject over 30 days.
"""

from __future__ import annotations

import math
import statistics
import time

import numpy as np
import pytest

from imapk import simulate
from imapk.engine import _ode_linear_kernels as kernels
from imapk.engine.linear import prepare_linear_inputs
from imapk.models.base import TimeFactor, TimeVariation
from imapk.params import ParameterTable
from imapk.schedule import Phase, Schedule

#: Seed of every draw of parameters (N subjects take the first N rows of the same stream).
SEED = 20120801
#: Eechoute 2012 typical values (Yang 2025 Table 1).
CL, VC, KA, Q, VP, KTR, N_TRANSIT = 9.12, 128.0, 0.699, 24.9, 197.0, 15.8, 5
OMEGA = math.sqrt(math.log1p(0.30**2))
DOSE, DAYS = 400.0, 365
RTOL = ATOL = 1e-8
NG_PER_ML = 1000.0
#: Eechoute's absorption rate that decays with time on therapy.
VARYING_KA = TimeVariation(ka=TimeFactor(amplitude=1.18, rate=0.0256 / 24.0))
#: Rounds per population size (full mode, quick mode), after one warm-up round.
ROUNDS = {1: (20, 1), 100: (5, 1)}
#: scipy reference: subjects, days and timed repeats (full mode, quick mode).
SCIPY = {"subjects": (3, 1), "days": (DAYS, 30), "repeats": (3, 1)}
CASES = {"ka(tau) varying": VARYING_KA, "constant rates": TimeVariation()}


def schedule(days: int = DAYS) -> Schedule:
    return Schedule(phases=(Phase(dose=DOSE, days=days),))


def draw_parameters(n: int) -> ParameterTable:
    """`n` subjects: log-normal CL and Vc (30 % CV), typical ka, Q, Vp and ktr, F = 1, no lag."""
    eta = np.random.default_rng(SEED).standard_normal((n, 2)) * OMEGA
    shared = {name: np.full(n, value) for name, value in (("ka", KA), ("f", 1.0), ("tlag", 0.0), ("q", Q), ("vp", VP), ("ktr", KTR))}
    return ParameterTable(
        values={"cl": CL * np.exp(eta[:, 0]), "v": VC * np.exp(eta[:, 1]), "d1": None, **shared},
        n_transit=N_TRANSIT,
    )


# -- scipy reference -----------------------------------------------------------------------------


def scipy_troughs(cl, vc, variation, days, method) -> np.ndarray:
    """Troughs [ng/mL] of one subject by solve_ivp from each dose to the next (rtol = atol = 1e-8)."""
    from scipy.integrate import solve_ivp

    size = N_TRANSIT + 3  # transit 1-5, absorption, central, peripheral
    a0 = np.zeros((size, size))
    for i in range(N_TRANSIT):
        a0[i, i], a0[i + 1, i] = -KTR, KTR
    c = N_TRANSIT + 1
    a0[c, c], a0[c + 1, c], a0[c, c + 1], a0[c + 1, c + 1] = -(cl + Q) / vc, Q / vc, Q / VP, -Q / VP
    a_ka = np.zeros((size, size))
    a_ka[c - 1, c - 1], a_ka[c, c - 1] = -1.0, 1.0

    amplitude, rate, _, _ = variation.ka.coefficients()  # g = 1 + a e^{-b tau}; tau = t here

    def rhs(t, y):
        return (a0 + (KA * (1.0 + amplitude * math.exp(-rate * t))) * a_ka) @ y

    y = np.zeros(size)
    trough = np.empty(days)
    for j in range(days):
        trough[j] = y[c] / vc * NG_PER_ML
        y[0] += DOSE
        sol = solve_ivp(rhs, (24.0 * j, 24.0 * (j + 1)), y, method=method, rtol=RTOL, atol=ATOL)
        if not sol.success:
            raise RuntimeError(f"solve_ivp failed at dose {j}: {sol.message}")
        y = sol.y[:, -1].copy()
    return trough


@pytest.fixture(scope="module")
def scipy_reference(quick):
    """Per case and method: (subject-doses per second, troughs of the subsample)."""
    mode = 1 if quick else 0
    n, days, repeats = (SCIPY[key][mode] for key in ("subjects", "days", "repeats"))
    params = draw_parameters(n)
    cl, vc = params.values["cl"], params.values["v"]
    out = {}
    for case, variation in CASES.items():
        for method in ("LSODA", "DOP853"):
            scipy_troughs(cl[0], vc[0], variation, 2, method)  # warm-up: imports and first calls
            times, troughs = [], None
            for _ in range(repeats):
                start = time.perf_counter()
                troughs = np.stack([scipy_troughs(cl[i], vc[i], variation, days, method) for i in range(n)])
                times.append(time.perf_counter() - start)
            out[case, method] = (n * days / statistics.median(times), troughs)
    return out


# -- imapk cases ---------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def compiled():
    """Compile (or load from the numba cache) the kernels before any timing."""
    simulate(schedule(3), draw_parameters(2), method="ode", variation=VARYING_KA, rtol=RTOL, atol=ATOL)


def steps_per_dose(params: ParameterTable, variation: TimeVariation) -> float:
    """Mean integration steps per subject and dose of the same run, from the kernel."""
    table = schedule().lower()
    x = prepare_linear_inputs(table, params)
    n = x.t0.size
    status, n_steps = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    r = x.rates
    kernels.simulate_population_ode_linear(
        x.t0, x.x0, x.input_time, x.input_amount, x.input_dur, x.input_target, x.change_time, *x.structure,
        r["ktr"], r["ka"], r["k10"], r["k12"], r["k21"], r["v"], x.obs_time, x.obs_left, x.window[0], x.window[1],
        x.levels, variation.kernel_coefficients(), np.zeros(1), np.zeros(1), np.ones(1), RTOL, ATOL, 10**7,
        np.empty((n, x.obs_time.size)), np.zeros((n, 0)), np.zeros((n, 0)), np.zeros(n), status, n_steps,
    )
    assert np.all(status == 0)
    return float(n_steps.mean()) / DAYS


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("n_subjects", [1, 100])
def test_ode_linear_troughs(benchmark, quick, scipy_reference, case, n_subjects):
    variation = CASES[case]
    params = draw_parameters(n_subjects)
    rounds = ROUNDS[n_subjects][1 if quick else 0]
    ds = benchmark.pedantic(
        simulate, args=(schedule(), params),
        kwargs={"method": "ode", "variation": variation, "rtol": RTOL, "atol": ATOL},
        rounds=rounds, warmup_rounds=1, iterations=1,
    )
    trough = ds.trough.values
    info = benchmark.extra_info
    info.update(case=f"ODE path, {N_TRANSIT}-transit two-compartment model, {case}, troughs, rtol = atol = 1e-8",
                n_subjects=n_subjects, n_doses=DAYS, seed=SEED, steps_per_dose=steps_per_dose(params, variation))
    if case == "constant rates":
        exact = simulate(schedule(), params).trough.values
        atol_conc = ATOL * NG_PER_ML / params.values["v"][:, None]
        error = float(np.max(np.abs(trough - exact) / (atol_conc + RTOL * np.abs(exact))))
        assert error < 10  # the ODE path keeps its promise at this tolerance
        info["scaled_error_vs_exact"] = error
    lsoda_rate, lsoda_troughs = scipy_reference[case, "LSODA"]
    dop853_rate, dop853_troughs = scipy_reference[case, "DOP853"]
    m = min(n_subjects, lsoda_troughs.shape[0])  # the subjects both ran
    days = lsoda_troughs.shape[1]
    for reference in (lsoda_troughs, dop853_troughs):  # same problem: agreement at the tolerances
        np.testing.assert_allclose(trough[:m, 1:days], reference[:m, 1:], rtol=1e-5)
    info.update(scipy_subject_doses_per_second=lsoda_rate, scipy_dop853_subject_doses_per_second=dop853_rate)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        rate = n_subjects * DAYS / stats.stats.median
        info.update(subject_doses_per_second=rate, median_seconds=stats.stats.median,
                    ratio_vs_scipy=rate / lsoda_rate, ratio_vs_scipy_dop853=rate / dop853_rate)
