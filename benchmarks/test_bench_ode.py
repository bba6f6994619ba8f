"""Benchmarks of the ODE path: 365 daily 400 mg doses, rtol = atol = 1e-8, 1 to 1000 subjects.

Reported per case: subject-doses per second, the achieved error against the exact path (max over
subjects and troughs of |y - y_exact| / (atol/V + rtol |y_exact|)), and the ratio against scipy
`solve_ivp` (LSODA, the same tolerances, restarted at every dose) run in the same process on a small
fixed subsample and scaled per subject-dose. Compilation happens before any timing.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import pytest

from imapk import simulate
from imapk.params import ParameterTable

import test_bench_exact as exact_bench
from test_bench_exact import DAYS, NG_PER_ML, draw_parameters, schedule

RTOL = ATOL = 1e-8
#: Rounds per population size (full mode, quick mode), after one warm-up round.
ROUNDS = {1: (20, 3), 100: (5, 1), 1000: (3, 1)}
SCIPY_SUBJECTS = (3, 1)  # full, quick


def scipy_troughs(table, cl, v, ka):
    """Troughs of one subject by LSODA at rtol = atol = 1e-8, restarted at each dose. [ng/mL]"""
    return exact_bench.scipy_troughs(table, cl, v, ka, rtol=RTOL, atol=ATOL)


@pytest.fixture(scope="module")
def scipy_rate(quick) -> float:
    """scipy LSODA subject-doses per second (median of 3 timed runs over a fixed subsample)."""
    n = SCIPY_SUBJECTS[1 if quick else 0]
    table = schedule().lower()
    params = draw_parameters(n)
    cl, v, ka = (params.values[name] for name in ("cl", "v", "ka"))
    scipy_troughs(table, cl[0], v[0], ka[0])  # warm-up
    times = []
    for _ in range(1 if quick else 3):
        start = time.perf_counter()
        for i in range(n):
            scipy_troughs(table, cl[i], v[i], ka[i])
        times.append(time.perf_counter() - start)
    return n * DAYS / statistics.median(times)


@pytest.fixture(scope="module", autouse=True)
def compiled():
    simulate(schedule(), draw_parameters(2), method="ode", rtol=RTOL, atol=ATOL)


def scaled_error(ode: np.ndarray, exact: np.ndarray, v: np.ndarray) -> float:
    """max |y - y_exact| / (atol / V + rtol |y_exact|), atol in mg converted to ng/mL per subject."""
    atol_conc = ATOL / v[:, None] * NG_PER_ML
    return float(np.max(np.abs(ode - exact) / (atol_conc + RTOL * np.abs(exact))))


def record(benchmark, case: str, n_subjects: int, error: float, scipy_rate: float) -> None:
    """The case's throughput, error and ratio to scipy in ``benchmark.extra_info`` (no stats when disabled)."""
    info = benchmark.extra_info
    info.update(case=case, n_subjects=n_subjects, n_doses=DAYS, scaled_error_vs_exact=error,
                scipy_subject_doses_per_second=scipy_rate)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        rate = n_subjects * DAYS / stats.stats.median
        info.update(subject_doses_per_second=rate, ratio_vs_scipy=rate / scipy_rate, median_seconds=stats.stats.median)


@pytest.mark.parametrize("n_subjects", [1, 100, 1000])
def test_ode_troughs(benchmark, quick, scipy_rate, n_subjects):
    if quick and n_subjects > 100:
        pytest.skip("quick mode: up to 100 subjects")
    table = schedule()
    params: ParameterTable = draw_parameters(n_subjects)
    rounds = ROUNDS[n_subjects][1 if quick else 0]
    ds = benchmark.pedantic(
        simulate, args=(table, params), kwargs={"method": "ode", "rtol": RTOL, "atol": ATOL},
        rounds=rounds, warmup_rounds=1, iterations=1,
    )
    exact = simulate(table, params).trough.values
    error = scaled_error(ds.trough.values, exact, params.values["v"])
    assert error < 10  # the ODE path keeps its promise at this tolerance
    record(benchmark, "ODE path, troughs, rtol = atol = 1e-8", n_subjects, error, scipy_rate)


@pytest.mark.parametrize("variant", ["tlag 0.5 h", "hourly grid"])
def test_ode_variants(benchmark, quick, scipy_rate, variant):
    """Workload W at N = 100 on the ODE path with a 0.5 h lag, and with an hourly grid (8 760 dense
    concentrations per subject). The ratio is against the lag-free scipy troughs rate of this module."""
    n_subjects = 100
    params: ParameterTable = draw_parameters(n_subjects)
    kwargs = {"method": "ode", "rtol": RTOL, "atol": ATOL}
    if variant == "tlag 0.5 h":
        params.values["tlag"][:] = 0.5
    else:
        kwargs["times"] = exact_bench.HOURLY
    rounds = ROUNDS[n_subjects][1 if quick else 0]
    ds = benchmark.pedantic(simulate, args=(schedule(), params), kwargs=kwargs, rounds=rounds, warmup_rounds=1, iterations=1)
    exact = simulate(schedule(), params, times=kwargs.get("times"))
    error = scaled_error(ds.trough.values, exact.trough.values, params.values["v"])
    if variant == "hourly grid":
        error = max(error, scaled_error(ds.concentration.values, exact.concentration.values, params.values["v"]))
    assert error < 10
    record(benchmark, f"ODE path, troughs, {variant}, rtol = atol = 1e-8", n_subjects, error, scipy_rate)
