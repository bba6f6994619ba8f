"""MAP estimation for many patients with three measured levels each (imapk.tdm.map_estimate).

Patients: Widmer 2006 base model (CL/F 14.3 L/h, V/F 347 L, ka 0.609 1/h; Omega with correlation
0.798; proportional residual error 31.38 %), 400 mg daily for 29 days, three levels 18-30 h after a
dose on days 8-28. True parameters and assay errors are drawn from ``numpy.random.default_rng(SEED)``
and the levels computed by superposition of single-dose solutions, outside the timed region.

Timed: ``map_estimate`` for N patients in a loop, (a) the full fit (mode, Laplace covariance, 1000
importance samples, posterior trough curve over the 29 doses) and (b) the mode and Laplace covariance
only (``n_samples=0``). Numba compilation is kept out of the timed regions (a session fixture fits
one patient first; every case has a warm-up round).

Also timed: one patient whose records a dose table cannot express (a dose into the central
compartment), fitted on the walker path (:mod:`imapk.tdm.records`), as ratios to the same mode by
scipy L-BFGS-B on solve_ivp predictions and to the dose-table fit of the patient without that dose.

Reference: the same posterior (equation (1) of :mod:`imapk.tdm.estimation`) minimised by scipy
L-BFGS-B (finite-difference gradient) with predictions from scipy ``solve_ivp`` (LSODA, rtol 1e-8,
atol 1e-8 on amounts, dose to dose) for the first few patients, in the same process; the ratios in
``extra_info`` compare its time per patient with case (b), which finds the same mode (the agreement
is checked). No timed assertion.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

import numpy as np
import pytest

from imapk.models import get_model
from imapk.tdm import dose_table, map_estimate

SEED = 20060402
MODEL = "widmer2006"
DOSE, DAYS = 400.0, 29
#: Rounds per number of patients (full mode, quick mode). Each case also has one warm-up round.
ROUNDS = {1: (50, 5), 100: (5, 2), 1000: (2, 1)}
#: scipy reference: (patients, timed repeats) in full and quick mode.
SCIPY_FULL = (5, 3)
SCIPY_QUICK = (2, 1)
NG_PER_ML = 1000.0


def patients(n: int, seed: int = SEED):
    """`n` patients: (times [h], levels [ng/mL]) with three levels each, and their true CL and V."""
    model = get_model(MODEL)
    typical = model.typical_params()
    rng = np.random.default_rng(seed)
    chol = np.linalg.cholesky(model.omega_matrix)
    dose_times = np.arange(DAYS) * 24.0
    out = []
    for _ in range(n):
        eta = chol @ rng.standard_normal(2)
        cl, v = typical.cl * math.exp(eta[0]), typical.v * math.exp(eta[1])
        days = np.sort(rng.choice(np.arange(7, DAYS - 1), size=3, replace=False))
        t = days * 24.0 + rng.uniform(18.0, 30.0, size=3)
        k = cl / v
        dt = t[:, None] - dose_times[None, :]
        c = np.where(dt > 0, DOSE * typical.ka / (v * (typical.ka - k)) * (np.exp(-k * np.clip(dt, 0, None))
                                                                          - np.exp(-typical.ka * np.clip(dt, 0, None))), 0.0)
        c = NG_PER_ML * c.sum(axis=1)
        y = np.maximum(c * (1.0 + model.residual.proportional * rng.standard_normal(3)), 1.0)
        out.append((t, y, cl, v))
    return out


def table():
    return dose_table(np.arange(DAYS) * 24.0, DOSE)


# -- scipy reference -----------------------------------------------------------------------------


def scipy_predictions(t_obs, cl, v, ka):
    """C at `t_obs` [ng/mL] by solve_ivp (LSODA) from each dose to the next."""
    from scipy.integrate import solve_ivp

    rhs = lambda _, y: [-ka * y[0], ka * y[0] - cl / v * y[1]]
    dose_times = np.arange(DAYS) * 24.0
    end = float(max(t_obs))
    y = np.zeros(2)
    out = np.empty(len(t_obs))
    for j, t0 in enumerate(dose_times):
        if t0 >= end:
            break
        t1 = min(dose_times[j + 1] if j + 1 < DAYS else end, end)
        y = y + np.array([DOSE, 0.0])
        inside = sorted((i for i, t in enumerate(t_obs) if t0 < t <= t1), key=lambda i: t_obs[i])
        t_eval = [t_obs[i] for i in inside if t_obs[i] < t1] + [t1]
        sol = solve_ivp(rhs, (t0, t1), y, method="LSODA", rtol=1e-8, atol=1e-8, t_eval=t_eval)
        for i in inside:
            out[i] = NG_PER_ML * sol.y[1, t_eval.index(t_obs[i])] / v
        y = sol.y[:, -1]
    return out


def scipy_mode(t_obs, y):
    """The posterior mode of eta by L-BFGS-B on solve_ivp predictions (same objective as imapk)."""
    from scipy.optimize import minimize

    model = get_model(MODEL)
    typical = model.typical_params()
    omega_inv = np.linalg.inv(model.omega_matrix)
    prop = model.residual.proportional

    def objective(eta):
        c = scipy_predictions(t_obs, typical.cl * math.exp(eta[0]), typical.v * math.exp(eta[1]), typical.ka)
        sd = prop * c
        return float(np.sum(np.log(sd) + 0.5 * ((y - c) / sd) ** 2) + 0.5 * eta @ omega_inv @ eta)

    return minimize(objective, np.zeros(2), method="L-BFGS-B", options={"ftol": 1e-12, "gtol": 1e-7}).x


@dataclass(frozen=True)
class ScipyReference:
    n_subjects: int  # patients
    repeats: int
    seconds: float  # median wall time of one run over all its patients
    modes: np.ndarray  # (n_subjects, 2)

    @property
    def seconds_per_patient(self) -> float:
        return self.seconds / self.n_subjects


@pytest.fixture(scope="session")
def scipy_reference(quick) -> ScipyReference:
    n, repeats = SCIPY_QUICK if quick else SCIPY_FULL
    data = patients(n)
    scipy_predictions(np.array([30.0]), 14.3, 347.0, 0.609)  # warm-up, untimed
    times, modes = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        modes = np.array([scipy_mode(t, y) for t, y, _, _ in data])
        times.append(time.perf_counter() - start)
    return ScipyReference(n, repeats, statistics.median(times), modes)


@pytest.fixture(scope="session", autouse=True)
def compiled():
    """Compile (or load from the numba cache) the engine kernels before any timing."""
    t, y, _, _ = patients(1)[0]
    map_estimate(MODEL, table(), (t, y), warn=False)


def fit_all(data, n_samples):
    tab = table()
    return [map_estimate(MODEL, tab, (t, y), warn=False, n_samples=n_samples) for t, y, _, _ in data]


@pytest.mark.parametrize("n_samples", [1000, 0], ids=["full fit", "mode and Laplace"])
@pytest.mark.parametrize("n_subjects", [1, 100, 1000])
def test_map_estimate(benchmark, quick, scipy_reference, n_subjects, n_samples):
    data = patients(n_subjects)
    full_rounds, quick_rounds = ROUNDS[n_subjects]
    rounds = quick_rounds if quick else full_rounds
    fits = benchmark.pedantic(fit_all, args=(data, n_samples), rounds=rounds, warmup_rounds=1, iterations=1)
    shared = min(n_subjects, scipy_reference.n_subjects)
    modes = np.array([f.eta for f in fits[:shared]])
    # L-BFGS-B with a finite-difference gradient on rtol-1e-8 ODE predictions: agreement to ~1e-4.
    np.testing.assert_allclose(modes, scipy_reference.modes[:shared], atol=5e-4)
    info = benchmark.extra_info
    info.update(
        case="map_estimate, " + ("mode and Laplace (n_samples=0)" if n_samples == 0 else f"{n_samples} importance samples"),
        n_subjects=n_subjects, levels_per_patient=3, n_doses=DAYS, seed=SEED, rounds=rounds,
        scipy_patients=scipy_reference.n_subjects, scipy_repeats=scipy_reference.repeats,
        scipy_seconds_per_patient=scipy_reference.seconds_per_patient,
        max_abs_eta_difference_vs_scipy=float(np.max(np.abs(modes - scipy_reference.modes[:shared]))),
    )
    stats = getattr(benchmark, "stats", None)
    if stats is not None:  # None under --benchmark-disable
        per_patient = stats.stats.median / n_subjects
        info.update(seconds_per_patient=per_patient, speedup_vs_scipy=scipy_reference.seconds_per_patient / per_patient)


# -- inter-occasion variability, and the planner on a posterior ------------------------------------


def fit_all_iov(data, iov_cl):
    tab = table()
    return [map_estimate(MODEL, tab, (t, y), warn=False, iov_cl=iov_cl) for t, y, _, _ in data]


def test_map_estimate_iov(benchmark, quick):
    """Full fits with iov_cl = 0.2 (a kappa for each dose interval holding a level, up to three, estimated
    with the two etas: up to 2 q^2 + 1 = 51 points per Newton iteration instead of 9) for 20 patients;
    ratio to the same fits without IOV, timed here."""
    data = patients(20)
    fit_all(data[:1], 1000)  # warm-up
    start = time.perf_counter()
    fit_all(data, 1000)
    plain = time.perf_counter() - start
    fits = benchmark.pedantic(fit_all_iov, args=(data, 0.2), rounds=1 if quick else 3, warmup_rounds=0, iterations=1)
    assert all(1 <= f.kappa.size <= 3 for f in fits)
    info = benchmark.extra_info
    info.update(case="map_estimate with iov_cl 0.2, 1000 importance samples", n_subjects=len(data),
                seconds_without_iov=plain)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        info.update(ratio_to_without_iov=stats.stats.median / plain)


def test_longest_hold_from_posterior(benchmark, quick):
    """longest_hold (troughs below, 7 lengths) for one patient's 1000 posterior draws; ratio to the
    same question on a scenario of 1000 simulated patients with the same 29 + 49 days of doses,
    timed here (both simulate 1000 subjects per hold length)."""
    from imapk.planner import longest_hold
    from imapk.scenario import parse_scenario
    from imapk.tdm import future_schedule, posterior_patient

    t, y, _, _ = patients(1)[0]
    fit = map_estimate(MODEL, table(), (t, y), warn=False)
    patient = posterior_patient(fit, future_schedule(DOSE, hold_days=7, ladder=((200.0, 7.0), (300.0, 7.0))),
                                target="cml")
    scenario = parse_scenario(f"""
[scenario]
title = "population reference"
seed = 1
[model]
parameter_set = "{MODEL}"
[population]
size = 1000
iiv = true
[[schedule.phases]]
dose = "400 mg"
days = {DAYS + 49}
[[schedule.holds]]
start_day = {DAYS + 1}
days = 7
restart = [{{ dose = "200 mg", days = 7 }}, {{ dose = "300 mg", days = 7 }}]
[verdict]
thresholds = ["cml"]
window_start_day = {DAYS + 1}
[output]
dense = false
""")
    longest_hold(scenario, 5, metric="troughs_below")  # warm-up
    start = time.perf_counter()
    longest_hold(scenario, 5, metric="troughs_below")
    population = time.perf_counter() - start
    answer = benchmark.pedantic(longest_hold, args=(patient, 5), kwargs={"metric": "troughs_below"},
                                rounds=2 if quick else 5, warmup_rounds=1, iterations=1)
    assert answer.subjects == 1000
    info = benchmark.extra_info
    info.update(case="longest_hold from a posterior (1000 draws)", seconds_population_1000=population)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        info.update(ratio_to_population=stats.stats.median / population)


# -- a fit on a patient's records (the walker path) ------------------------------------------------------

#: The records patient: the 29 daily doses of the others plus 100 mg into the central compartment on day
#: 10 (CMT 2, which a dose table does not express), 2 h after that day's dose. [mg], [h]
CENTRAL_DOSE, CENTRAL_TIME = 100.0, 9 * 24.0 + 2.0


def records_patient(tmp_path, t, y):
    """The inputs of :func:`imapk.tdm.patient_inputs` for the records patient with levels (t, y)."""
    from imapk.datasets import read_dataset
    from imapk.tdm import patient_inputs

    rows = [f"1,0,1,{DOSE:g},24,{DAYS - 1},0,1,0,.,1", f"1,{CENTRAL_TIME:g},1,{CENTRAL_DOSE:g},0,0,0,2,0,.,1"]
    rows += [f"1,{float(ti)!r},0,0,0,0,0,2,0,{float(yi)!r},0" for ti, yi in zip(t, y)]
    rows.sort(key=lambda r: float(r.split(",")[1]))
    path = tmp_path / "records.csv"
    path.write_text("ID,TIME,EVID,AMT,II,ADDL,SS,CMT,RATE,DV,MDV\n" + "\n".join(rows) + "\n")
    return patient_inputs(read_dataset(path).subjects[0])


def scipy_records_mode(t_obs, y):
    """The posterior mode of eta by L-BFGS-B on solve_ivp predictions (LSODA, rtol 1e-8, atol 1e-8) of
    the records patient: depot doses every 24 h and the central dose, event to event."""
    from scipy.integrate import solve_ivp
    from scipy.optimize import minimize

    model = get_model(MODEL)
    typical = model.typical_params()
    omega_inv = np.linalg.inv(model.omega_matrix)
    prop = model.residual.proportional
    events = sorted([(24.0 * j, (DOSE, 0.0)) for j in range(DAYS)] + [(CENTRAL_TIME, (0.0, CENTRAL_DOSE))])

    def predictions(cl, v, ka):
        rhs = lambda _, a: [-ka * a[0], ka * a[0] - cl / v * a[1]]
        out = np.empty(len(t_obs))
        state = np.zeros(2)
        for j, (t0, bolus) in enumerate(events):
            t1 = events[j + 1][0] if j + 1 < len(events) else float(max(t_obs))
            state = state + np.asarray(bolus)
            inside = [i for i, t in enumerate(t_obs) if t0 < t <= t1]
            if t1 <= t0:
                continue
            sol = solve_ivp(rhs, (t0, t1), state, method="LSODA", rtol=1e-8, atol=1e-8,
                            t_eval=sorted({t_obs[i] for i in inside} | {t1}))
            for i in inside:
                out[i] = NG_PER_ML * sol.y[1, list(sol.t).index(t_obs[i])] / v
            state = sol.y[:, -1]
            if t1 >= max(t_obs):
                break
        return out

    def objective(eta):
        c = predictions(typical.cl * math.exp(eta[0]), typical.v * math.exp(eta[1]), typical.ka)
        sd = prop * c
        return float(np.sum(np.log(sd) + 0.5 * ((y - c) / sd) ** 2) + 0.5 * eta @ omega_inv @ eta)

    return minimize(objective, np.zeros(2), method="L-BFGS-B", options={"ftol": 1e-12, "gtol": 1e-7}).x


@pytest.mark.parametrize("n_samples", [1000, 0], ids=["full fit", "mode and Laplace"])
def test_map_estimate_records(benchmark, quick, tmp_path, n_samples):
    """One patient's fit on the walker path (its records hold a central dose: 29 depot doses, the
    central dose, three levels): the full fit and the mode with its Laplace covariance. Ratios, timed
    in the same process: to the same patient's mode by L-BFGS-B on solve_ivp predictions
    (``ratio_to_scipy``, < 1 is faster), and to the engine-path fit of the patient without the
    central dose (``ratio_to_dose_table``: what walking the records costs)."""
    t, y, _, _ = patients(1)[0]
    p = records_patient(tmp_path, t, y)
    assert type(p.doses).__name__ == "PatientRecords"
    run = lambda: map_estimate(MODEL, p.doses, p.observations, warn=False, n_samples=n_samples)
    run()  # warm-up (imports, kernels)
    repeats = 1 if quick else 3
    scipy_times, mode = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        mode = scipy_records_mode(list(p.observations.time), p.observations.value)
        scipy_times.append(time.perf_counter() - start)
    plain_times = []
    for _ in range(5 if quick else 20):
        start = time.perf_counter()
        map_estimate(MODEL, table(), (t, y), warn=False, n_samples=n_samples)
        plain_times.append(time.perf_counter() - start)
    fit = benchmark.pedantic(run, rounds=5 if quick else 20, warmup_rounds=1, iterations=1)
    # L-BFGS-B with a finite-difference gradient on rtol-1e-8 ODE predictions: agreement to ~1e-4.
    np.testing.assert_allclose(fit.eta, mode, atol=5e-4)
    info = benchmark.extra_info
    info.update(
        case="map_estimate on a patient's records (walker), " + ("mode and Laplace" if n_samples == 0 else
                                                                 f"{n_samples} importance samples"),
        n_doses=DAYS + 1, levels=3, evaluations=fit.evaluations, scipy_seconds=statistics.median(scipy_times),
        dose_table_seconds=statistics.median(plain_times),
        max_abs_eta_difference_vs_scipy=float(np.max(np.abs(fit.eta - mode))),
    )
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        info.update(seconds=stats.stats.median, ratio_to_scipy=stats.stats.median / statistics.median(scipy_times),
                    ratio_to_dose_table=stats.stats.median / statistics.median(plain_times))
