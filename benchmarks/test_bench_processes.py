"""Random dosing processes: a population on its realised doses against the same population on one schedule.

Population: N patients (100 000; 1 000 in quick mode) with Widmer 2006 typical values and
log-normal CL and V (30 % CV each, ``numpy.random.default_rng(SEED)``), 400 mg daily for a year.

Cases (each timed with its baseline, the same population on the fixed schedule,
``simulate(schedule, params, thresholds=["gist"], as_dataset=False)``, in the same test):

* ``processes``: rash-driven holds (Weibull first event, 20 % by day 365, shape 1.5; recurrence
  scale 120 d; holds of 7-14 days; the case report's restart ladder 200 -> 300 -> 400 mg; stopped
  at the 4th event) and Markov missed doses (``MarkovMisses(0.9, 0.5)``): ``realise`` then
  ``simulate`` of the realised doses, as ``run_scenario`` does;
* ``processes_exposure``: the same with the rash hazard 3 times higher while the trough is at or
  above 1200 ng/mL (``ExposureEffect``): ``realise_coupled`` on troughs simulated for the patients
  whose holds changed, one pass per hold-causing event, then the final ``simulate``.

``extra_info`` holds the seconds of the case and of the baseline, ``ratio_to_fixed`` (the issue's
target: at most a few times the fixed one), the seconds spent realising (for the exposure case,
with the trough simulations of its passes) and in the final simulation, and the events drawn.
Numba compilation is kept out (warm-up simulations of 1 000 patients first), and so is the first touch
of the arrays' memory (one full-size run of each first); then the case and the baseline run alternately
(3 rounds; 1 in quick mode) and their medians are compared. No timed assertion.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import replace

import numpy as np
import pytest

from imapk import simulate
from imapk.params import ParameterTable
from imapk.processes import HoldLength, MarkovMisses, ToxicityProcess, Weibull, realise
from imapk.processes.coupled import realise_coupled
from imapk.processes.toxicity import ExposureEffect
from imapk.schedule import LadderStep, Phase, Schedule

SEED = 20260401
SIZES = (100_000, 1_000)  # full, quick
SCHEDULE = Schedule(phases=(Phase(dose=400, days=365),))
RASH = ToxicityProcess(first=Weibull.from_probability(0.2, 365.0, shape=1.5), recurrence=Weibull(120.0),
                       hold=HoldLength("uniform", 7, 14), restart=(LadderStep(200, 14), LadderStep(300, 28)),
                       discontinue_after=4)
ADHERENCE = MarkovMisses(0.9, 0.5)
EXPOSURE = ExposureEffect(above=1200.0, factor=3.0)


def population(n: int) -> ParameterTable:
    rng = np.random.default_rng(SEED)
    return ParameterTable(values={"cl": 14.3 * np.exp(0.3 * rng.standard_normal(n)),
                                  "v": 347.0 * np.exp(0.3 * rng.standard_normal(n)),
                                  "ka": np.full(n, 0.609), "d1": None, "f": np.ones(n), "tlag": np.zeros(n)})


def rows_of(params: ParameterTable, rows) -> ParameterTable:
    return ParameterTable(values={k: None if v is None else v[rows] for k, v in params.values.items()})


@pytest.fixture(scope="module")
def compiled():
    params = population(1000)  # enough work to run compiled (small work runs the kernels uncompiled)
    simulate(SCHEDULE, params, thresholds=["gist"], as_dataset=False)
    simulate(realise(SCHEDULE, range(1000), SEED, toxicity=RASH, adherence=ADHERENCE), params, thresholds=["gist"],
             as_dataset=False)
    simulate(realise(SCHEDULE, range(1000), SEED, adherence=ADHERENCE), params, quantiles=(), as_dataset=False)


def fixed(params):
    return simulate(SCHEDULE, params, thresholds=["gist"], as_dataset=False)


def with_processes(params, exposure: bool, timings: dict):
    n = params.n_subjects
    start = time.perf_counter()
    if exposure:
        def troughs(realised, rows):
            return simulate(realised, rows_of(params, rows), quantiles=(), as_dataset=False)["trough"].values

        doses = realise_coupled(SCHEDULE, range(n), SEED, toxicity=replace(RASH, exposure=EXPOSURE),
                                adherence=ADHERENCE, troughs=troughs)
    else:
        doses = realise(SCHEDULE, range(n), SEED, toxicity=RASH, adherence=ADHERENCE)
    timings["realise"] = time.perf_counter() - start
    timings["events"] = sum(len(e.time) for e in doses.events)
    timings["patients_with_events"] = sum(bool(e.time) for e in doses.events)
    start = time.perf_counter()
    result = simulate(doses, params, thresholds=["gist"], as_dataset=False)
    timings["simulate"] = time.perf_counter() - start
    return result


def seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@pytest.mark.parametrize("exposure", [False, True], ids=["processes", "processes_exposure"])
def test_realised_doses_against_the_fixed_schedule(benchmark, compiled, quick, exposure):
    n = SIZES[quick]
    params = population(n)
    timings: dict = {}
    # One run of each at full size first (its arrays' first touch of memory), then the two alternately,
    # medians over the rounds: both sides measured the same way, whatever the machine's load does.
    with_processes(params, exposure, timings)
    fixed(params)
    rounds = 1 if quick else 3
    cases, baselines, realising, simulating = [], [], [], []
    for _ in range(rounds):
        cases.append(seconds(lambda: with_processes(params, exposure, timings), 1))
        realising.append(timings["realise"])
        simulating.append(timings["simulate"])
        baselines.append(seconds(lambda: fixed(params), 1))
    result = benchmark.pedantic(lambda: with_processes(params, exposure, timings), rounds=1, warmup_rounds=0)
    assert result["trough"].values.shape == (n, 365)
    case, baseline = statistics.median(cases), statistics.median(baselines)
    benchmark.extra_info.update({
        "patients": n, "days": 365, "rounds": rounds, "seconds": case, "fixed_seconds": baseline,
        "ratio_to_fixed": case / baseline, "realise_seconds": statistics.median(realising),
        "simulate_seconds": statistics.median(simulating), "events": timings["events"],
        "patients_with_events": timings["patients_with_events"], "exposure_above": EXPOSURE.above if exposure else None,
        "exposure_factor": EXPOSURE.factor if exposure else None, "seed": SEED,
    })
