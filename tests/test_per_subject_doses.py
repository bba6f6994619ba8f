"""Each subject's own given amounts on the shared dose grid: the engine against each subject run alone
and against superposition of single doses.

A population whose patients miss or hold different doses (adherence, toxicity-driven holds) keeps
one scheduled grid; ``DoseTable.given`` is then (subjects, doses). Each path of the engine (the
one-compartment trough fast path, its verdict kernel, the general walk with a dense grid, the
linear fast path and walk, the ODE path) must give every subject exactly what it gives that subject
alone with its own amounts: the same arithmetic in the same order, so bit for bit.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from imapk.engine.exact import run_exact
from imapk.engine.ode import run_ode
from imapk.errors import SimulationError
from imapk.params import ParameterTable
from imapk.processes.adherence import MarkovMisses, missed_doses
from imapk.schedule import Hold, LadderStep, Phase, Schedule

from reference import bateman_unit, superpose
from reference_multicompartment import superpose as superpose_two
from reference_multicompartment import two_cmt_single_dose

SCHEDULE = Schedule(
    phases=(Phase(dose=400, days=60),),
    holds=(Hold(start_day=20, days=7, restart=(LadderStep(200, 7), LadderStep(300, 14))),),
)


def parameters(n: int, seed: int, two_compartment: bool = False) -> ParameterTable:
    rng = np.random.default_rng(seed)
    values = {
        "cl": 14.3 * np.exp(0.3 * rng.standard_normal(n)), "v": 347.0 * np.exp(0.3 * rng.standard_normal(n)),
        "ka": rng.uniform(0.3, 1.5, n), "d1": None, "f": rng.uniform(0.7, 1.0, n), "tlag": rng.uniform(0.0, 2.0, n),
    }
    if two_compartment:
        values.update(q=rng.uniform(5.0, 20.0, n), vp=rng.uniform(50.0, 300.0, n))
    return ParameterTable(values=values)


def own_doses(n: int, seed: int):
    """The schedule with each subject's Markov misses applied (held doses stay held)."""
    table = SCHEDULE.lower()
    missed = missed_doses(MarkovMisses(0.85, 0.5, start="stationary"), seed, range(n), table.time.size)
    return table, np.where(missed, 0.0, table.given[None, :])


def subject(params: ParameterTable, i: int) -> ParameterTable:
    return ParameterTable(values={k: (None if v is None else np.asarray(v)[i:i + 1]) for k, v in params.values.items()})


CASES = {
    "troughs (fast path)": {},
    "verdicts (fast verdict kernel)": {"levels": np.array([1100.0, 3000.0])},
    "dense curve (general walk)": {"times": np.arange(0.0, 60 * 24.0, 5.0), "levels": np.array([1100.0])},
}


@pytest.mark.parametrize("two_compartment", [False, True], ids=["one compartment", "two compartments"])
@pytest.mark.parametrize("case", CASES)
def test_each_subject_gets_what_it_gets_alone(case, two_compartment):
    n = 7
    table, given = own_doses(n, seed=11)
    params = parameters(n, seed=2, two_compartment=two_compartment)
    kwargs = CASES[case]
    together = run_exact(replace(table, given=given), params, **kwargs)
    for i in range(n):
        alone = run_exact(replace(table, given=given[i]), subject(params, i), **kwargs)
        for name in ("trough", "concentration", "time_below", "longest_below", "peak"):
            np.testing.assert_array_equal(getattr(together, name)[i], getattr(alone, name)[0], err_msg=f"{name}, {i}")
    # and the subjects do differ: the misses are not all the same
    assert len({tuple(row) for row in given}) > 1


def test_the_ode_path_takes_each_subjects_amounts():
    n = 3
    table, given = own_doses(n, seed=12)
    params = parameters(n, seed=3)
    times = np.arange(0.0, 60 * 24.0, 7.0)
    together = run_ode(replace(table, given=given), params, times=times)
    for i in range(n):
        alone = run_ode(replace(table, given=given[i]), subject(params, i), times=times)
        np.testing.assert_array_equal(together.trough[i], alone.trough[0])
        np.testing.assert_array_equal(together.concentration[i], alone.concentration[0])


def test_one_compartment_troughs_equal_superposition_of_each_subjects_doses():
    """Independent reference: sum of Bateman curves of each subject's given doses (math.fsum).
    Tolerance 1e-10 relative: both are closed forms in double precision, over 60 doses."""
    n = 5
    table, given = own_doses(n, seed=13)
    params = parameters(n, seed=4)
    trough = run_exact(replace(table, given=given), params).trough
    for i in range(n):
        cl, v, ka, f, lag = (float(params.values[k][i]) for k in ("cl", "v", "ka", "f", "tlag"))
        expected = superpose(table.time, table.time + lag, f * given[i], lambda dt: bateman_unit(dt, cl, v, ka))
        np.testing.assert_allclose(trough[i], expected, rtol=1e-10, atol=1e-9)


def test_two_compartment_troughs_equal_superposition_of_each_subjects_doses():
    n = 3
    table, given = own_doses(n, seed=14)
    params = parameters(n, seed=5, two_compartment=True)
    trough = run_exact(replace(table, given=given), params).trough
    for i in range(n):
        cl, v, ka, f, lag, q, vp = (float(params.values[k][i]) for k in ("cl", "v", "ka", "f", "tlag", "q", "vp"))
        expected = superpose_two(lambda dt, a: two_cmt_single_dose(dt, a, cl, v, q, vp, ka=ka, tlag=lag, f=f),
                                 table.time, given[i], table.time)
        np.testing.assert_allclose(trough[i], expected, rtol=1e-10, atol=1e-9)


def test_a_given_array_of_the_wrong_shape_is_refused():
    table = SCHEDULE.lower()
    with pytest.raises(SimulationError) as error:
        run_exact(replace(table, given=np.zeros((4, table.time.size))), parameters(3, seed=1))
    assert error.value.key == "given"


@pytest.mark.parametrize("two_compartment", [False, True], ids=["one compartment", "two compartments"])
def test_compiled_fast_paths_take_each_subjects_amounts(monkeypatch, two_compartment):
    """The compiled kernels (small work runs uncompiled by default) against each subject alone."""
    from imapk.engine import _numba

    monkeypatch.setattr(_numba, "INTERPRET_BELOW", 0)
    n = 40
    table, given = own_doses(n, seed=15)
    params = parameters(n, seed=6, two_compartment=two_compartment)
    for kwargs in ({}, {} if two_compartment else {"levels": np.array([1100.0])}):
        together = run_exact(replace(table, given=given), params, **kwargs)
        for i in (0, 17, 39):
            alone = run_exact(replace(table, given=given[i]), subject(params, i), **kwargs)
            np.testing.assert_array_equal(together.trough[i], alone.trough[0])
            np.testing.assert_array_equal(together.time_below[i], alone.time_below[0])
