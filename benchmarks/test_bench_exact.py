"""Throughput of the closed-form engine: troughs of a year of daily 400 mg imatinib.

Every case simulates 365 daily doses of 400 mg for N subjects whose CL/F and V/F carry
log-normal inter-individual variability (30 % CV) around the Widmer 2006 typical values
(CL/F 14.3 L/h, V/F 347 L, ka 0.609 1/h, no lag). Parameters are drawn in the benchmark from
``numpy.random.default_rng(SEED)``, outside the timed region.

Timed: the public API ``imapk.simulate(schedule, ParameterTable(...))`` (troughs only, and once with
an hourly grid) and the engine driver ``run_exact`` directly; and the cost of the default trough
percentiles as a ratio of ``simulate`` with and without them, timed alternately in one loop. Numba compilation is kept out of the
timed regions: a session fixture runs the engine once before any case, and every case has a
warm-up round.

Reference: scipy ``solve_ivp`` (LSODA, rtol 1e-8, atol 1e-10 on amounts), integrating the same
ODE dose to dose for the first few subjects of the same draw, in the same process; its rate per
subject-dose is what the ratios compare against.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

import numpy as np
import pytest

from imapk import ParameterTable, Phase, Schedule, simulate
from imapk.engine.exact import run_exact

#: Seed of every draw of parameters (N subjects take the first N rows of the same stream).
SEED = 20060401
#: Widmer 2006 typical values.
CL, V, KA = 14.3, 347.0, 0.609
#: Inter-individual variability on CL and V: 30 % CV, log-normal.
CV = 0.30
OMEGA = math.sqrt(math.log1p(CV**2))
#: The schedule: 400 mg once daily for a year.
DOSE, DAYS = 400.0, 365
#: Hourly grid of the dense case. [h]
HOURLY = np.arange(0.0, DAYS * 24.0, 1.0)
#: Rounds per population size (full mode, quick mode). Each case also has one warm-up round.
ROUNDS = {1: (200, 5), 100: (30, 3), 10_000: (10, 1)}
#: scipy reference: (subjects, timed repeats) in full and quick mode.
SCIPY_FULL = (3, 5)
SCIPY_QUICK = (1, 1)
#: mg/L -> ng/mL.
NG_PER_ML = 1000.0


def schedule() -> Schedule:
    return Schedule(phases=(Phase(dose=DOSE, days=DAYS),))


def draw_parameters(n: int, seed: int = SEED) -> ParameterTable:
    """`n` subjects: log-normal CL and V (30 % CV, independent), typical ka, F = 1, no lag."""
    rng = np.random.default_rng(seed)
    eta = rng.standard_normal((n, 2)) * OMEGA
    return ParameterTable(
        values={
            "cl": CL * np.exp(eta[:, 0]),
            "v": V * np.exp(eta[:, 1]),
            "ka": np.full(n, KA),
            "d1": None,
            "f": np.ones(n),
            "tlag": np.zeros(n),
        }
    )


# -- scipy reference -----------------------------------------------------------------------------


def _rhs(t, y, ka, k):
    return [-ka * y[0], ka * y[0] - k * y[1]]


def scipy_troughs(table, cl, v, ka, rtol=1e-8, atol=1e-10) -> np.ndarray:
    """Troughs (ng/mL) of one subject by solve_ivp LSODA from each dose to the next."""
    from scipy.integrate import solve_ivp

    k = cl / v
    ends = np.append(table.time[1:], table.end)
    y = np.zeros(2)
    trough = np.empty(table.time.size)
    for j in range(table.time.size):
        trough[j] = y[1] / v * NG_PER_ML
        y = np.array([y[0] + table.given[j], y[1]])
        sol = solve_ivp(_rhs, (table.time[j], ends[j]), y, method="LSODA", rtol=rtol, atol=atol, args=(ka, k))
        if not sol.success:
            raise RuntimeError(f"solve_ivp failed at dose {j}: {sol.message}")
        y = sol.y[:, -1]
    return trough


@dataclass(frozen=True)
class ScipyReference:
    n_subjects: int
    n_doses: int
    repeats: int
    seconds: float  # median wall time of one run over all subjects and doses
    troughs: np.ndarray  # (n_subjects, n_doses) [ng/mL]

    @property
    def subject_doses_per_second(self) -> float:
        return self.n_subjects * self.n_doses / self.seconds


@pytest.fixture(scope="session")
def scipy_reference(quick) -> ScipyReference:
    n, repeats = SCIPY_QUICK if quick else SCIPY_FULL
    table = schedule().lower()
    params = draw_parameters(n)
    cl, v, ka = (params.values[name] for name in ("cl", "v", "ka"))

    def run():
        return np.stack([scipy_troughs(table, cl[i], v[i], ka[i]) for i in range(n)])

    warm = Schedule(phases=(Phase(dose=DOSE, days=3),)).lower()
    scipy_troughs(warm, cl[0], v[0], ka[0])  # warm-up: imports and first calls, untimed
    times, troughs = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        troughs = run()
        times.append(time.perf_counter() - start)
    return ScipyReference(n, table.time.size, repeats, statistics.median(times), troughs)


# -- imapk cases ---------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def compiled():
    """Compile (or load from the numba cache) every kernel the cases use, before any timing."""
    params = draw_parameters(2)
    short = Schedule(phases=(Phase(dose=DOSE, days=3),))
    simulate(short, params)
    simulate(short, params, times=np.arange(0.0, 72.0, 1.0))
    run_exact(short.lower(), params)


def run_case(benchmark, quick, scipy_reference, *, case, n_subjects, target, args, kwargs=None, dense=0):
    """Time `target` with pytest-benchmark and record the throughput in ``benchmark.extra_info``."""
    full_rounds, quick_rounds = ROUNDS[n_subjects]
    rounds = quick_rounds if quick else full_rounds
    result = benchmark.pedantic(target, args=args, kwargs=kwargs or {}, rounds=rounds, warmup_rounds=1, iterations=1)
    n_doses = DAYS
    subject_doses = n_subjects * n_doses
    info = benchmark.extra_info
    info.update(
        case=case,
        n_subjects=n_subjects,
        n_doses=n_doses,
        subject_doses=subject_doses,
        dense_times=dense,
        seed=SEED,
        rounds=rounds,
        scipy_subjects=scipy_reference.n_subjects,
        scipy_repeats=scipy_reference.repeats,
        scipy_seconds_median=scipy_reference.seconds,
        scipy_subject_doses_per_second=scipy_reference.subject_doses_per_second,
    )
    stats = getattr(benchmark, "stats", None)
    if stats is not None:  # None under --benchmark-disable
        median = stats.stats.median
        rate = subject_doses / median
        info.update(
            median_seconds=median,
            subject_doses_per_second=rate,
            ratio_vs_scipy=rate / scipy_reference.subject_doses_per_second,
        )
    return result


def check_troughs(trough: np.ndarray, n_subjects: int, reference: ScipyReference) -> None:
    """Same shape as asked, and the subjects shared with the scipy reference agree with it."""
    assert trough.shape == (n_subjects, DAYS)
    shared = min(n_subjects, reference.n_subjects)
    np.testing.assert_allclose(trough[:shared], reference.troughs[:shared], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("summaries", [True, False], ids=["with summaries", "troughs only"])
@pytest.mark.parametrize("n_subjects", [1, 100, 10_000])
def test_simulate_troughs(benchmark, quick, scipy_reference, n_subjects, summaries):
    """Workload W through ``simulate``: with the default trough percentiles per dose, and without
    (``quantiles=()``: the troughs alone, what the other tools compute)."""
    sched = schedule()
    params = draw_parameters(n_subjects)
    ds = run_case(
        benchmark, quick, scipy_reference,
        case="simulate, troughs" if summaries else "simulate, troughs only (quantiles=())",
        n_subjects=n_subjects, target=simulate, args=(sched, params),
        kwargs=None if summaries else {"quantiles": ()},
    )
    check_troughs(ds["trough"].values, n_subjects, scipy_reference)


#: Alternating rounds of the percentile-cost case (full mode, quick mode), after one warm-up pair.
PERCENTILE_COST_ROUNDS = (40, 10)


@pytest.mark.parametrize("n_subjects", [100, 10_000])
def test_simulate_percentile_cost(benchmark, quick, n_subjects):
    """The cost of the default trough percentiles as one ratio: ``simulate`` with them over
    ``simulate(..., quantiles=())``, the two calls timed alternately in the same loop (the first of
    each pair alternates too), so a busy machine slows both alike. The ratio of the medians goes in
    ``extra_info["percentile_cost_ratio"]``; the timed unit is the pair."""
    sched = schedule()
    params = draw_parameters(n_subjects)
    times: dict[bool, list[float]] = {True: [], False: []}

    def timed(summaries: bool) -> None:
        start = time.perf_counter()
        simulate(sched, params) if summaries else simulate(sched, params, quantiles=())
        times[summaries].append(time.perf_counter() - start)

    def pair() -> None:
        first = len(times[True]) % 2 == 0
        timed(first)
        timed(not first)

    rounds = PERCENTILE_COST_ROUNDS[1 if quick else 0]
    benchmark.pedantic(pair, rounds=rounds, warmup_rounds=1, iterations=1)
    with_percentiles = statistics.median(times[True][-rounds:])
    troughs_only = statistics.median(times[False][-rounds:])
    benchmark.extra_info.update(
        suite="percentile cost",
        case="simulate: default trough percentiles over quantiles=(), alternating",
        n_subjects=n_subjects,
        n_doses=DAYS,
        seed=SEED,
        rounds=rounds,
        default_median_seconds=with_percentiles,
        troughs_only_median_seconds=troughs_only,
        percentile_cost_ratio=with_percentiles / troughs_only,
    )


@pytest.mark.parametrize("n_subjects", [1, 100, 10_000])
def test_run_exact_troughs(benchmark, quick, scipy_reference, n_subjects):
    table = schedule().lower()
    params = draw_parameters(n_subjects)
    result = run_case(
        benchmark, quick, scipy_reference,
        case="run_exact, troughs", n_subjects=n_subjects, target=run_exact, args=(table, params),
    )
    check_troughs(result.trough, n_subjects, scipy_reference)


@pytest.mark.parametrize("n_subjects", [100])
def test_simulate_hourly_grid(benchmark, quick, scipy_reference, n_subjects):
    sched = schedule()
    params = draw_parameters(n_subjects)
    ds = run_case(
        benchmark, quick, scipy_reference,
        case="simulate, troughs + hourly grid", n_subjects=n_subjects, target=simulate, args=(sched, params),
        kwargs={"times": HOURLY}, dense=HOURLY.size,
    )
    check_troughs(ds["trough"].values, n_subjects, scipy_reference)
    assert ds["concentration"].shape == (n_subjects, HOURLY.size)


@pytest.mark.parametrize("n_subjects", [100, 10_000])
def test_simulate_troughs_with_lag(benchmark, quick, scipy_reference, n_subjects):
    """Workload W with tlag = 0.5 h (troughs are then compared with the lag-free scipy run: not checked)."""
    if quick and n_subjects > 100:
        pytest.skip("quick mode: up to 100 subjects")
    params = draw_parameters(n_subjects)
    params.values["tlag"][:] = 0.5
    ds = run_case(
        benchmark, quick, scipy_reference,
        case="simulate, troughs, tlag 0.5 h", n_subjects=n_subjects, target=simulate, args=(schedule(), params),
    )
    assert ds["trough"].shape == (n_subjects, DAYS)


@pytest.mark.parametrize("n_subjects", [100, 10_000])
def test_simulate_case_report_ladder(benchmark, quick, scipy_reference, n_subjects):
    """The case-report schedule (14-day hold, 200 -> 300 -> 400 mg/d) for the same population."""
    from imapk.schedule import Hold, LadderStep

    if quick and n_subjects > 100:
        pytest.skip("quick mode: up to 100 subjects")
    ladder = Schedule(
        phases=(Phase(dose=DOSE, days=DAYS),),
        holds=(Hold(start_day=29, days=14, restart=(LadderStep(200, 7), LadderStep(300, 56))),),
    )
    ds = run_case(
        benchmark, quick, scipy_reference,
        case="simulate, case-report ladder, troughs", n_subjects=n_subjects, target=simulate,
        args=(ladder, draw_parameters(n_subjects)),
    )
    assert ds["trough"].shape == (n_subjects, DAYS)
