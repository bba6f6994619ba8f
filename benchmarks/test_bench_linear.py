"""Throughput of the closed-form engine on two-compartment models: troughs of a year of daily doses.

Workload: 365 daily doses of 400 mg for N subjects of a two-compartment model with first-order
absorption (CL 9.12 L/h, V1 128 L, Q 24.9 L/h, V2 197 L, ka 0.699 1/h: the Eechoute 2012
disposition without its transit chain), log-normal IIV of 30 % CV on CL and V1 drawn from
``numpy.random.default_rng(SEED)`` outside the timed region; and the same with the five-compartment
transit chain (ktr 15.8 1/h).

Baselines, measured in the same process (never as timed assertions):

* the one-compartment trough path (``run_exact`` on the same N with the same CL and V = V1 + V2):
  the two-compartment path should stay within 3x of it;
* scipy ``solve_ivp`` (LSODA, rtol 1e-8, atol 1e-10 mg) integrating the same two-compartment
  ODE dose to dose for the first few subjects.
"""

from __future__ import annotations

import math
import statistics
import time

import numpy as np
import pytest

from imapk import ParameterTable, Phase, Schedule, simulate
from imapk.engine.exact import run_exact

SEED = 20120601
CL, V1, Q, V2, KA, KTR = 9.12, 128.0, 24.9, 197.0, 0.699, 15.8
OMEGA = math.sqrt(math.log1p(0.30**2))
DOSE, DAYS = 400.0, 365
ROUNDS = {100: (30, 3), 10_000: (10, 1)}
NG_PER_ML = 1000.0


def schedule() -> Schedule:
    return Schedule(phases=(Phase(dose=DOSE, days=DAYS),))


def draw(n: int, structure: str) -> ParameterTable:
    """`n` subjects of the named structure: "1cmt", "2cmt" or "2cmt+transit"."""
    rng = np.random.default_rng(SEED)
    eta = rng.standard_normal((n, 2)) * OMEGA
    values = {
        "cl": CL * np.exp(eta[:, 0]), "v": V1 * np.exp(eta[:, 1]), "ka": np.full(n, KA), "d1": None,
        "f": np.ones(n), "tlag": np.zeros(n),
    }
    if structure == "1cmt":
        values["v"] = (V1 + V2) * np.exp(eta[:, 1])
        return ParameterTable(values=values)
    values.update(q=np.full(n, Q), vp=np.full(n, V2))
    if structure == "2cmt":
        return ParameterTable(values=values)
    values["ktr"] = np.full(n, KTR)
    return ParameterTable(values=values, n_transit=5)


def median_seconds(function, repeats: int) -> float:
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def scipy_troughs(table, cl, v1, q, v2, ka) -> np.ndarray:
    """Troughs [ng/mL] of one two-compartment subject by solve_ivp LSODA from each dose to the next."""
    from scipy.integrate import solve_ivp

    k10, k12, k21 = cl / v1, q / v1, q / v2

    def rhs(t, y):
        return [-ka * y[0], ka * y[0] - (k10 + k12) * y[1] + k21 * y[2], k12 * y[1] - k21 * y[2]]

    ends = np.append(table.time[1:], table.end)
    y = np.zeros(3)
    out = np.empty(table.time.size)
    for j in range(table.time.size):
        out[j] = y[1] / v1 * NG_PER_ML
        y = y + np.array([table.given[j], 0.0, 0.0])
        y = solve_ivp(rhs, (table.time[j], ends[j]), y, method="LSODA", rtol=1e-8, atol=1e-10).y[:, -1]
    return out


@pytest.fixture(scope="session")
def scipy_two_compartment(quick):
    n, repeats = (1, 1) if quick else (3, 3)
    table = schedule().lower()
    params = draw(n, "2cmt")
    cl, v1, ka = (params.values[name] for name in ("cl", "v", "ka"))

    def run():
        return np.stack([scipy_troughs(table, cl[i], v1[i], Q, V2, ka[i]) for i in range(n)])

    seconds = median_seconds(run, repeats)
    return {"subjects": n, "seconds": seconds, "rate": n * DAYS / seconds, "troughs": run()}


@pytest.fixture(scope="session", autouse=True)
def compiled():
    short = Schedule(phases=(Phase(dose=DOSE, days=3),)).lower()
    for structure in ("1cmt", "2cmt", "2cmt+transit"):
        run_exact(short, draw(2, structure))


@pytest.mark.parametrize("structure", ["2cmt", "2cmt+transit"])
@pytest.mark.parametrize("n_subjects", [100, 10_000])
def test_run_exact_two_compartment_troughs(benchmark, quick, scipy_two_compartment, n_subjects, structure):
    """The two-compartment trough path against the one-compartment path (same N, same run) and scipy."""
    table = schedule().lower()
    params = draw(n_subjects, structure)
    baseline = draw(n_subjects, "1cmt")
    full_rounds, quick_rounds = ROUNDS[n_subjects]
    rounds = quick_rounds if quick else full_rounds
    one_compartment = median_seconds(lambda: run_exact(table, baseline), rounds)
    result = benchmark.pedantic(run_exact, args=(table, params), rounds=rounds, warmup_rounds=1, iterations=1)
    info = benchmark.extra_info
    info.update(
        case=f"run_exact, troughs, {structure}", n_subjects=n_subjects, n_doses=DAYS, seed=SEED, rounds=rounds,
        one_compartment_seconds_median=one_compartment, scipy_subjects=scipy_two_compartment["subjects"],
        scipy_subject_doses_per_second=scipy_two_compartment["rate"],
    )
    stats = getattr(benchmark, "stats", None)
    if stats is not None:  # None under --benchmark-disable
        median = stats.stats.median
        rate = n_subjects * DAYS / median
        info.update(
            median_seconds=median, subject_doses_per_second=rate,
            ratio_vs_one_compartment=median / one_compartment,
            ratio_vs_scipy=rate / scipy_two_compartment["rate"],
        )
    assert result.trough.shape == (n_subjects, DAYS)
    if structure == "2cmt":
        shared = scipy_two_compartment["subjects"]
        np.testing.assert_allclose(result.trough[:shared], scipy_two_compartment["troughs"], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("n_subjects", [100])
def test_simulate_two_compartment_hourly_grid(benchmark, quick, n_subjects):
    """The event walk with an hourly grid and a threshold (crossings, peaks) through ``simulate``."""
    params = draw(n_subjects, "2cmt")
    hourly = np.arange(0.0, DAYS * 24.0, 1.0)
    rounds = 1 if quick else 5
    ds = benchmark.pedantic(
        simulate, args=(schedule(), params), kwargs={"times": hourly, "thresholds": ["gist"], "quantiles": ()},
        rounds=rounds, warmup_rounds=1, iterations=1,
    )
    benchmark.extra_info.update(case="simulate, 2cmt, hourly grid + gist threshold", n_subjects=n_subjects, n_doses=DAYS)
    assert ds["concentration"].shape == (n_subjects, hourly.size)
