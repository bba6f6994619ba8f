"""Simulating a NONMEM-style data set with a multi-compartment model (imapk.dataset_simulation).

Data set: N = 100 IDs under Eechoute 2012's structure (two compartments and a chain of five
transit compartments ahead of the absorption compartment; its time-on-therapy factors off,
``time_variation="none"``), each with its own liver metastases volume (covariate, uniform 0-2000
cm^3 from ``numpy.random.default_rng(SEED)``), 400 mg daily for 29 days as dose records (CMT 1),
a trough observation before each dose and three more observations 1-12 h after doses on days
1, 8 and 28: 29 dose and 32 observation records per ID. The file is written and read outside the
timed region.

Timed: ``simulate_dataset(data, "eechoute2012", time_variation="none")`` for the 100 IDs. Numba
compilation is kept out of it (a session fixture simulates a small data set first; the case has
a warm-up round).

Reference: the same records integrated by scipy ``solve_ivp`` (LSODA, rtol 1e-8, atol 1e-10 on
amounts) on the 8 compartmental equations, restarted at every dose, for the first few IDs (3; 1 in
quick mode), median of repeats, in the same process. ``extra_info`` holds both rates (IDs per
second) and ``ratio_vs_scipy`` (imapk's rate over scipy's). The predictions of those IDs are
checked against scipy's (rtol 1e-6). No timed assertion.
"""

from __future__ import annotations


import numpy as np
import pytest

from imapk.dataset_simulation import simulate_dataset
from imapk.datasets import read_dataset
from test_bench_linear import median_seconds

SEED = 20121015
MODEL = "eechoute2012"
DOSE, DAYS = 400.0, 29
#: Eechoute 2012 typical values without the time factors: CL = 9.12 (1 - 0.000381 LIVM) L/h.
VC, Q, VP, KA, KTR, N_TR = 128.0, 24.9, 197.0, 0.699, 15.8, 5
#: Hours after the dose of days 1, 8 and 28 at which a level is recorded.
SAMPLES = ((0, 2.0), (7, 6.0), (27, 12.0))
ROUNDS = (5, 2)  # full, quick
SCIPY = ((3, 3), (1, 1))  # (IDs, repeats): full, quick


def records(liver: np.ndarray) -> str:
    """The data set as CSV text: per ID, a trough observation before each daily dose, the dose, and
    the sampled levels."""
    lines = ["ID,TIME,EVID,AMT,RATE,II,ADDL,SS,CMT,liver_metastases [cm^3]"]
    for ident, livm in enumerate(map(float, liver), start=1):
        rows = []
        for day in range(DAYS):
            t = 24.0 * day
            rows.append((t, 0, f"{ident},{t},0,.,.,.,.,.,2,{livm!r}"))
            rows.append((t, 1, f"{ident},{t},1,{DOSE},0,0,0,0,1,{livm!r}"))
        for day, after in SAMPLES:
            t = 24.0 * day + after
            rows.append((t, 2, f"{ident},{t},0,.,.,.,.,.,2,{livm!r}"))
        lines.extend(line for _, _, line in sorted(rows))
    return "\n".join(lines) + "\n"


def observation_times() -> list[float]:
    times = [24.0 * day for day in range(DAYS)] + [24.0 * day + after for day, after in SAMPLES]
    return sorted(times)


def scipy_predictions(livm: float) -> np.ndarray:
    """Concentrations [ng/mL] at the observation records of one ID by solve_ivp (LSODA), dose to dose;
    an observation at a dose time is its left limit."""
    from scipy.integrate import solve_ivp

    n = N_TR + 3
    c = N_TR + 1
    a = np.zeros((n, n))
    for i in range(N_TR):
        a[i, i], a[i + 1, i] = -KTR, KTR
    a[N_TR, N_TR], a[c, N_TR] = -KA, KA
    cl = 9.12 * (1.0 - 0.000381 * livm)
    a[c, c] = -(cl + Q) / VC
    a[c + 1, c], a[c, c + 1], a[c + 1, c + 1] = Q / VC, Q / VP, -Q / VP
    times = np.array(observation_times())
    out = np.empty(times.size)
    x = np.zeros(n)
    for day in range(DAYS):
        start, end = 24.0 * day, 24.0 * (day + 1)
        x[0] += DOSE
        inside = (times > start) & (times <= end)
        t_eval = np.unique(np.append(times[inside], end))
        sol = solve_ivp(lambda _, y: a @ y, (start, end), x, method="LSODA", rtol=1e-8, atol=1e-10, t_eval=t_eval)
        out[inside] = sol.y[c][np.searchsorted(t_eval, times[inside])] / VC * 1000.0
        x = sol.y[:, -1].copy()
    out[times == 0.0] = 0.0
    return out




@pytest.fixture(scope="session", autouse=True)
def compiled(tmp_path_factory):
    path = tmp_path_factory.mktemp("warm") / "warm.csv"
    path.write_text(records(np.array([0.0])))
    simulate_dataset(read_dataset(path), MODEL, time_variation="none")


@pytest.mark.parametrize("n_subjects", [100])
def test_simulate_dataset_multicompartment(benchmark, tmp_path, quick, n_subjects):
    liver = np.random.default_rng(SEED).uniform(0.0, 2000.0, n_subjects)
    path = tmp_path / "data.csv"
    path.write_text(records(liver))
    data = read_dataset(path)

    sim = benchmark.pedantic(lambda: simulate_dataset(data, MODEL, time_variation="none"),
                             warmup_rounds=1, rounds=ROUNDS[quick])

    n_ref, repeats = SCIPY[quick]
    per_id = len(observation_times())
    for i in range(n_ref):
        np.testing.assert_allclose(sim.prediction[i * per_id:(i + 1) * per_id], scipy_predictions(liver[i]),
                                   rtol=1e-6, atol=1e-6)
    scipy_seconds = median_seconds(lambda: [scipy_predictions(liver[i]) for i in range(n_ref)], repeats) / n_ref
    if benchmark.stats is not None:
        seconds = benchmark.stats.stats.median
    else:  # --benchmark-disable (CI's short run): the fixture ran the call once and keeps no timings
        seconds = median_seconds(lambda: simulate_dataset(data, MODEL, time_variation="none"), 1)
    benchmark.extra_info.update({
        "ids": n_subjects, "records_per_id": per_id + DAYS, "ids_per_second": n_subjects / seconds,
        "scipy_ids_per_second": 1.0 / scipy_seconds, "ratio_vs_scipy": scipy_seconds * n_subjects / seconds,
        "scipy_ids": n_ref, "seed": SEED,
    })
