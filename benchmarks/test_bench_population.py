"""Throughput of a whole population run: draw the subjects, then a year of daily 400 mg troughs.

Every ``test_population_troughs`` case times, for N subjects of one published population model,

1. ``imapk.population.draw_covariates``: covariates from the distributions in ``DISTRIBUTIONS``
   (seed ``SEED``);
2. ``imapk.population.draw_parameters``: typical values from the covariates, times log-normal
   inter-individual variability (IIV on), plus the model's occasion effects as step changes;
3. ``imapk.simulate``: troughs of 365 daily 400 mg doses (no dense grid, no thresholds).

The models: ``widmer2006_covariates`` (first-order absorption; CL on weight, age, sex and disease,
V on sex) and ``schmidli2005`` (zero-order input over 1.5 h; CL and V on weight, haemoglobin and
WBC, and a step change of CL and V between its two occasions, at the onset the model's occasion
timing gives: day 2, t = 24 h, for the day-29 occasion with the default timing).

Reference: scipy ``solve_ivp`` (LSODA, rtol 1e-8, atol 1e-10 on amounts) integrating each subject's
own parameters for the first few subjects of the same draw, restarting at every dose, at the end of
every zero-order input and at the day-29 parameter change; its rate per subject-dose is what the
ratio compares against. The simulated troughs of those subjects are checked against scipy's
(rtol 1e-6).

``test_population_draw`` times steps 1 and 2 alone, against the naive way of making subjects
reproducible: a Python loop creating ``numpy.random.default_rng(i)`` for every subject and drawing
that subject's covariates and random effects from it (see :func:`naive_draw`).

Numba compilation is outside every timed region (a module fixture runs both models first, and every
case has an untimed warm-up round). Quick mode (``--quick``): N = 100 only, few rounds.
"""

from __future__ import annotations

import math
import statistics
import time
import warnings

import numpy as np
import pytest

from imapk import Phase, Schedule, simulate
from imapk.models import MODELS
from imapk.population import CovariateDistribution, CovariateRangeWarning, draw_covariates, draw_parameters

from test_bench_exact import ScipyReference

#: Seed of every population draw (subject i is the same subject whatever N).
SEED = 20240917
#: The schedule: 400 mg once daily for a year, starting on therapy day 1 (occasion effects take
#: effect on their onset day, :func:`imapk.population.occasion_onset_days`).
DOSE, DAYS = 400.0, 365
#: Rounds per population size (full mode, quick mode). Each case also has one warm-up round.
ROUNDS = {100: (30, 3), 10_000: (10, 1)}
#: scipy reference: (subjects, timed repeats) in full and quick mode.
SCIPY_FULL = (3, 5)
SCIPY_QUICK = (1, 1)
#: Repeats of the naive draw loop (median): full and quick mode.
NAIVE_REPEATS = (5, 1)
#: mg/L -> ng/mL.
NG_PER_ML = 1000.0

_SEX = CovariateDistribution("categorical", probabilities=(("male", 0.5), ("female", 0.5)))
#: Body weight: normal 75 kg, SD 15, truncated to Widmer's fitted 44-110 kg (no extrapolation warning).
_WEIGHT = CovariateDistribution("normal", mean=75.0, sd=15.0, low=44.0, high=110.0)

#: Covariate distributions per model (canonical units). Widmer's weight and age are truncated to
#: the ranges the model was fitted on, so no CovariateRangeWarning fires. Schmidli's reference
#: subject has WBC 16 x 10^9/L (IRIS patients, many sampled before haematological response).
DISTRIBUTIONS: dict[str, dict[str, CovariateDistribution]] = {
    "widmer2006_covariates": {
        "weight": _WEIGHT,
        "age": CovariateDistribution("normal", mean=60.0, sd=12.0, low=20.0, high=88.0),
        "sex": _SEX,
        "disease": CovariateDistribution("fixed", value="GIST"),
    },
    "schmidli2005": {
        "weight": _WEIGHT,
        "haemoglobin": CovariateDistribution("normal", mean=12.5, sd=1.5, low=8.0, high=17.0),
        "wbc": CovariateDistribution("lognormal", mean=16.0, sd=12.0, low=2.0, high=200.0),
    },
}
BENCH_MODELS = tuple(DISTRIBUTIONS)


def schedule() -> Schedule:
    return Schedule(phases=(Phase(dose=DOSE, days=DAYS),))


def draw(model_name: str, n: int):
    """Steps 1 and 2: covariates and parameters (IIV on) of subjects 0..n-1."""
    subjects = np.arange(n)
    covariates = draw_covariates(DISTRIBUTIONS[model_name], SEED, subjects)
    return draw_parameters(MODELS[model_name], covariates, subjects, seed=SEED, iiv=True, time_on_therapy_at_start=0.0)


def population_run(model_name: str, n: int, sched: Schedule):
    """Steps 1-3: draw the population and simulate its troughs. Returns (dataset, parameters)."""
    parameters = draw(model_name, n)
    return simulate(sched, parameters), parameters


# -- the naive draw ------------------------------------------------------------------------------


def _truncated_normal_rejection(rng: np.random.Generator, dist: CovariateDistribution) -> float:
    while True:
        if dist.kind == "lognormal":
            sigma2 = math.log1p((dist.sd / dist.mean) ** 2)
            x = math.exp(rng.normal(math.log(dist.mean) - sigma2 / 2, math.sqrt(sigma2)))
        else:
            x = rng.normal(dist.mean, dist.sd)
        if (dist.low is None or x >= dist.low) and (dist.high is None or x <= dist.high):
            return x


def naive_draw(model_name: str, n: int):
    """The naive reproducible draw: one ``default_rng(i)`` per subject, scalar draws in a loop.

    Per subject: a new generator seeded with the subject index, its numeric covariates by rejection
    from the (log)normal, categorical ones by comparing a uniform with the cumulative probabilities,
    and standard normals for the random effects. After the loop, the same vectorised work as imapk:
    typical values from the covariates (one call) and eta = L z. The loop is kept as lean as
    numpy's scalar API allows, so the ratio measures the per-subject generator, not a strawman.
    """
    model = MODELS[model_name]
    dists = DISTRIBUTIONS[model_name]
    numeric = {name: np.empty(n) for name, d in dists.items() if d.kind in ("normal", "lognormal")}
    categorical = {name: np.empty(n, dtype=object) for name, d in dists.items() if d.kind == "categorical"}
    fixed = {name: np.full(n, d.value) for name, d in dists.items() if d.kind == "fixed"}
    cumulative = {
        name: (tuple(level for level, _ in dists[name].probabilities), np.cumsum([p for _, p in dists[name].probabilities]))
        for name in categorical
    }
    n_eta = len(model.iiv_parameters)
    z = np.empty((n, n_eta))
    for i in range(n):
        rng = np.random.default_rng(i)
        for name, out in numeric.items():
            out[i] = _truncated_normal_rejection(rng, dists[name])
        for name, out in categorical.items():
            levels, cum = cumulative[name]
            out[i] = levels[min(int(np.searchsorted(cum, rng.random(), side="right")), len(levels) - 1)]
        z[i] = rng.standard_normal(n_eta)
    covariates = {**numeric, **{k: v.astype(str) for k, v in categorical.items()}, **fixed}
    eta = z @ np.linalg.cholesky(model.omega_matrix).T
    values = model.typical_values(covariates, 0)
    for j, name in enumerate(model.iiv_parameters):
        values[name] = values[name] * np.exp(eta[:, j])
    return values


# -- scipy reference -----------------------------------------------------------------------------


def _rhs(t, y, ka, k, rate):
    return [-ka * y[0], ka * y[0] + rate - k * y[1]]


def scipy_troughs(table, parameters, i: int) -> np.ndarray:
    """Troughs (ng/mL) of subject `i` of `parameters` by solve_ivp LSODA.

    The integration restarts at every dose, at the end of every zero-order input and at every
    parameter change (Schmidli's day-29 CL and V), each piece with constant parameters and input
    rate. A step in V changes the concentration, not the amounts; the trough at a dose time is the
    left limit, so it uses the V in force just before.
    """
    from scipy.integrate import solve_ivp

    values = parameters.values
    assert values["tlag"][i] == 0.0 and values["f"][i] == 1.0, "the reference handles F = 1 and no lag"
    change_times = np.asarray(parameters.change_times, dtype=float)
    cl = parameters.segments("cl")[i]
    v = parameters.segments("v")[i]
    zero_order = values["ka"] is None
    ka = np.zeros(cl.size) if zero_order else parameters.segments("ka")[i]
    d1 = float(values["d1"][i]) if zero_order else 0.0
    dose_times = table.time
    ends = np.append(dose_times[1:], table.end)
    y = np.zeros(2)
    trough = np.empty(dose_times.size)
    for j, (start, stop) in enumerate(zip(dose_times, ends)):
        trough[j] = y[1] / v[np.searchsorted(change_times, start, side="left")] * NG_PER_ML
        amount = float(table.given[j])
        rate = 0.0
        if zero_order:
            rate = amount / d1
        else:
            y = np.array([y[0] + amount, y[1]])
        cuts = [start, *(c for c in change_times if start < c < stop)]
        if zero_order and start + d1 < stop:
            cuts.append(start + d1)
        cuts = sorted(set(cuts)) + [stop]
        for a, b in zip(cuts[:-1], cuts[1:]):
            seg = np.searchsorted(change_times, a, side="right")
            r = rate if zero_order and a < start + d1 else 0.0
            sol = solve_ivp(
                _rhs, (a, b), y, method="LSODA", rtol=1e-8, atol=1e-10, args=(ka[seg], cl[seg] / v[seg], r)
            )
            if not sol.success:
                raise RuntimeError(f"solve_ivp failed at dose {j}: {sol.message}")
            y = sol.y[:, -1]
    return trough


@pytest.fixture(scope="module")
def scipy_references(quick) -> dict[str, ScipyReference]:
    """Per model: scipy on the first subjects of the same draw (parameters given, not drawn)."""
    n, repeats = SCIPY_QUICK if quick else SCIPY_FULL
    table = schedule().lower()
    warm = Schedule(phases=(Phase(dose=DOSE, days=3),)).lower()
    references = {}
    for name in BENCH_MODELS:
        parameters = draw(name, n)
        scipy_troughs(warm, parameters, 0)  # warm-up: imports and first calls, untimed
        times, troughs = [], None
        for _ in range(repeats):
            start = time.perf_counter()
            troughs = np.stack([scipy_troughs(table, parameters, i) for i in range(n)])
            times.append(time.perf_counter() - start)
        references[name] = ScipyReference(n, table.time.size, repeats, statistics.median(times), troughs)
    return references


# -- imapk cases ---------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def compiled():
    """Compile (or load from the numba cache) every kernel the cases use, before any timing; and
    check that the distributions stay inside the models' fitted ranges (no warning fires)."""
    short = Schedule(phases=(Phase(dose=DOSE, days=31),))  # crosses Schmidli's day-29 change
    with warnings.catch_warnings():
        warnings.simplefilter("error", CovariateRangeWarning)
        for name in BENCH_MODELS:
            population_run(name, 2, short)
            draw(name, max(ROUNDS))  # the largest population, for the range check


def record(benchmark, *, rounds, **info):
    """Copy `info` into ``benchmark.extra_info``; return the median wall time (None if disabled)."""
    benchmark.extra_info.update(info, rounds=rounds, seed=SEED, suite="population")
    stats = getattr(benchmark, "stats", None)
    return None if stats is None else stats.stats.median


@pytest.mark.parametrize("n_subjects", [100, 10_000])
@pytest.mark.parametrize("model", BENCH_MODELS)
def test_population_troughs(benchmark, quick, scipy_references, model, n_subjects):
    sched = schedule()
    rounds = ROUNDS[n_subjects][1 if quick else 0]
    ds, parameters = benchmark.pedantic(
        population_run, args=(model, n_subjects, sched), rounds=rounds, warmup_rounds=1, iterations=1
    )
    reference = scipy_references[model]
    subject_doses = n_subjects * DAYS
    median = record(
        benchmark, rounds=rounds,
        case="draw + simulate, troughs", model=model, n_subjects=n_subjects, n_doses=DAYS,
        subject_doses=subject_doses, dense_times=0,
        change_times_h=list(parameters.change_times),
        scipy_subjects=reference.n_subjects, scipy_repeats=reference.repeats,
        scipy_seconds_median=reference.seconds,
        scipy_subject_doses_per_second=reference.subject_doses_per_second,
    )
    if median is not None:
        rate = subject_doses / median
        benchmark.extra_info.update(
            median_seconds=median, subject_doses_per_second=rate,
            ratio_vs_scipy=rate / reference.subject_doses_per_second,
        )
    trough = ds["trough"].values
    assert trough.shape == (n_subjects, DAYS)
    shared = min(n_subjects, reference.n_subjects)
    np.testing.assert_allclose(trough[:shared], reference.troughs[:shared], rtol=1e-6, atol=1e-6)
    if model == "schmidli2005":  # one occasion change, when the model's occasion timing puts it
        from imapk.models import get_model
        from imapk.population import occasion_onset_days

        assert parameters.change_times == tuple(24.0 * (day - 1) for day in occasion_onset_days(get_model(model)))


@pytest.mark.parametrize("n_subjects", [100, 10_000])
@pytest.mark.parametrize("model", BENCH_MODELS)
def test_population_draw(benchmark, quick, model, n_subjects):
    rounds = ROUNDS[n_subjects][1 if quick else 0]
    parameters = benchmark.pedantic(draw, args=(model, n_subjects), rounds=rounds, warmup_rounds=1, iterations=1)
    assert parameters.n_subjects == n_subjects
    naive_draw(model, min(n_subjects, 10))  # warm-up, untimed
    times, naive = [], None
    for _ in range(NAIVE_REPEATS[1 if quick else 0]):
        start = time.perf_counter()
        naive = naive_draw(model, n_subjects)
        times.append(time.perf_counter() - start)
    naive_seconds = statistics.median(times)
    # Same distributions, other random numbers: the median CL of the two draws agree loosely.
    assert naive["cl"].shape == parameters.values["cl"].shape
    assert 0.8 < np.median(naive["cl"]) / np.median(parameters.values["cl"]) < 1.25
    median = record(
        benchmark, rounds=rounds,
        case="draw only", model=model, n_subjects=n_subjects,
        naive_seconds_median=naive_seconds, naive_repeats=len(times),
        naive_subjects_per_second=n_subjects / naive_seconds,
    )
    if median is not None:
        benchmark.extra_info.update(
            median_seconds=median, subjects_per_second=n_subjects / median, ratio_vs_naive=naive_seconds / median
        )
