"""The trough-only fast path of the exact engine against the general event walk, and fast quantiles."""

import numpy as np
import pytest

from imapk.engine import _exact_kernels as kernels
from imapk.engine import exact
from imapk.metrics import population_summary
from imapk.params import ParameterTable
from imapk.schedule import Hold, LadderStep, Phase, Schedule, SteadyState


def general_troughs(table, parameters):
    """Troughs by the general kernel (segment walk), bypassing the fast path."""
    x = exact.prepare_inputs(table, parameters)
    conc, below, longest, peak = exact.allocate(x)
    kernels.simulate_population(
        x.t0, x.ad0, x.ac0, x.input_time, x.input_amount, x.d1, x.change_time, x.ka, x.k, x.v,
        x.obs_time, x.obs_left, 0.0, table.end, x.levels, conc, below, longest, peak,
    )
    return exact.finish(x, conc, below, longest, peak).trough


def population(n, seed, lag_max=3.0):
    rng = np.random.default_rng(seed)
    cl = 14.3 * np.exp(0.3 * rng.standard_normal(n))
    v = 347.0 * np.exp(0.3 * rng.standard_normal(n))
    # ka from flip-flop (0.2 k) to fast absorption (50 k), and ka = k exactly for subject 0.
    ka = cl / v * np.concatenate([[1.0], rng.uniform(0.2, 50.0, n - 1)])
    return ParameterTable(values={
        "cl": cl, "v": v, "ka": ka, "d1": None, "f": rng.uniform(0.5, 1.2, n), "tlag": rng.uniform(0.0, lag_max, n),
    })


SCHEDULES = {
    "case report": Schedule(
        phases=(Phase(dose=400, days=120),),
        holds=(Hold(start_day=29, days=14, restart=(LadderStep(200, 7), LadderStep(300, 56))),),
    ),
    "q12h morning/evening then q24h": Schedule(
        phases=(Phase(dose=(400, 200), interval=12, days=20), Phase(dose=400, days=20)),
        missed_days=(5, 30),
    ),
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_fast_path__equals_general_walk(name):
    table = SCHEDULES[name].lower()
    parameters = population(64, seed=3, lag_max=min(3.0, 0.9 * float(table.interval[:-1].min())))
    fast = exact._fast_troughs(table, parameters)
    assert fast is not None
    reference = general_troughs(table, parameters)
    # Same closed form in a different grouping of the steps: a few hundred roundings over 120 days.
    np.testing.assert_allclose(fast, reference, rtol=1e-12, atol=1e-9)


def test_fast_path__threads_and_blocks_are_bit_identical(monkeypatch):
    table = SCHEDULES["case report"].lower()
    parameters = population(3000, seed=5)
    monkeypatch.setattr(exact, "MIN_PARALLEL_WORK", 0)
    threaded = exact._fast_troughs(table, parameters)
    monkeypatch.setattr(exact, "MIN_PARALLEL_WORK", 10**18)
    serial = exact._fast_troughs(table, parameters)
    np.testing.assert_array_equal(threaded, serial)


def test_general_walk__threads_are_bit_identical(monkeypatch):
    """Threshold statistics and a dense grid (the general walk) split over threads: same bits as one thread."""
    table = SCHEDULES["case report"].lower()
    parameters = population(301, seed=6)
    kwargs = dict(times=np.arange(0.0, table.end, 7.0), levels=np.array([1100.0, 3000.0]), window=(672.0, table.end))
    monkeypatch.setattr(exact, "MIN_PARALLEL_WORK", 0)
    threaded = exact.run_exact(table, parameters, **kwargs)
    monkeypatch.setattr(exact, "MIN_PARALLEL_WORK", 10**18)
    serial = exact.run_exact(table, parameters, **kwargs)
    for name in ("trough", "concentration", "time_below", "longest_below", "peak"):
        np.testing.assert_array_equal(getattr(threaded, name), getattr(serial, name), err_msg=name)


def stepped_parameters():
    """Zero-order input (Schmidli-like D1 1.5 h) and first-order input with a lag, each with steps of CL,
    V, ka and F on day 29 (t = 672 h, a dose time of the case report), 3 subjects."""
    from imapk.params import ParameterChange, PKParams

    for base in (PKParams(cl=13.8, v=252.0, d1=1.5, tlag=0.3), PKParams(cl=14.3, v=347.0, ka=0.609, tlag=0.5)):
        values = {"cl": 10.6, "v": 300.0, "f": 0.8}
        if base.ka is not None:
            values["ka"] = 1.2
        yield ParameterTable.from_params(base, (ParameterChange.at(672.0, **values),), n=3)


def test_fast_path__zero_order_and_changes_at_dose_times():
    """Zero-order input and steps of CL, V, ka and F on day 29 (a dose time)."""
    table = SCHEDULES["case report"].lower()
    for parameters in stepped_parameters():
        fast = exact._fast_troughs(table, parameters)
        assert fast is not None
        np.testing.assert_allclose(fast, general_troughs(table, parameters), rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize(
    "case",
    ["steady state", "lag longer than the interval", "change between doses", "infusion longer than the interval"],
)
def test_fast_path__declines_what_it_cannot_do(case):
    from imapk.params import ParameterChange, PKParams

    schedule = SCHEDULES["case report"]
    parameters = ParameterTable.from_params(PKParams(cl=14.3, v=347.0, ka=0.609))
    if case == "steady state":
        schedule = Schedule(phases=(Phase(dose=400, days=5),), steady_state=SteadyState(400, 24))
    elif case == "lag longer than the interval":
        parameters = ParameterTable.from_params(PKParams(cl=14.3, v=347.0, ka=0.609, tlag=30.0))
    elif case == "change between doses":
        parameters = ParameterTable.from_params(PKParams(cl=14.3, v=347.0, ka=0.609), (ParameterChange.at(680.0, cl=10.0),))
    else:
        parameters = ParameterTable.from_params(PKParams(cl=14.3, v=347.0, d1=30.0))
    assert exact._fast_troughs(schedule.lower(), parameters) is None


def test_population_summary__quantiles_equal_numpy_bit_for_bit():
    trough = np.random.default_rng(2).lognormal(6.5, 0.6, (2001, 40))  # above MIN_COMPILED_VALUES
    trough[:, 0] = 0.0  # the first trough of a fresh start
    quantiles = (0.05, 0.25, 0.5, 0.75, 0.95)
    summary = population_summary(trough, quantiles, np.array([1100.0]))
    np.testing.assert_array_equal(summary["trough_quantile"], np.quantile(trough, quantiles, axis=0))


def test_column_quantiles__threaded_split_is_bit_identical(monkeypatch):
    import imapk.quantiles as quantiles

    values = np.random.default_rng(4).lognormal(6.0, 0.7, (501, 37))
    monkeypatch.setattr(quantiles, "MIN_PARALLEL_VALUES", 0)
    monkeypatch.setattr(quantiles, "MIN_COMPILED_VALUES", 0)
    q = (0.05, 0.5, 0.95)
    np.testing.assert_array_equal(quantiles.column_quantiles(values, q), np.quantile(values, q, axis=0))
