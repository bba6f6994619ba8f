"""Late doses: each subject's doses taken hours after their scheduled times, on every engine path,
against superposition of the delayed doses (an independent sum of single-dose curves)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from imapk.engine.exact import run_exact
from imapk.engine.ode import run_ode
from imapk.errors import SimulationError
from imapk.params import ParameterTable
from imapk.schedule import Phase, Schedule

from reference import bateman_unit, superpose
from reference_multicompartment import superpose as superpose_two
from reference_multicompartment import two_cmt_single_dose

TABLE = Schedule(phases=(Phase(dose=400, days=30),)).lower()


def params(n: int, two: bool = False) -> ParameterTable:
    rng = np.random.default_rng(8)
    values = {"cl": 14.3 * np.exp(0.3 * rng.standard_normal(n)), "v": 347.0 * np.exp(0.2 * rng.standard_normal(n)),
              "ka": rng.uniform(0.3, 1.2, n), "d1": None, "f": np.ones(n), "tlag": rng.uniform(0.0, 1.0, n)}
    if two:
        values.update(q=rng.uniform(5, 20, n), vp=rng.uniform(50, 300, n))
    return ParameterTable(values=values)


def delays(n: int) -> np.ndarray:
    rng = np.random.default_rng(9)
    late = rng.random((n, TABLE.time.size)) < 0.3
    return np.where(late, rng.uniform(0.5, 20.0, (n, TABLE.time.size)), 0.0)


def test_one_compartment_late_doses_equal_superposition():
    """Tolerance 1e-10 relative: two closed forms in double precision over 30 doses."""
    n = 5
    p = params(n)
    delay = delays(n)
    times = np.arange(0.0, 30 * 24.0, 2.5)
    result = run_exact(replace(TABLE, delay=delay), p, times=times, levels=np.array([500.0]))
    for i in range(n):
        cl, v, ka, lag = (float(p.values[k][i]) for k in ("cl", "v", "ka", "tlag"))
        inputs = TABLE.time + delay[i] + lag
        unit = lambda dt: bateman_unit(dt, cl, v, ka)  # noqa: E731
        np.testing.assert_allclose(result.trough[i], superpose(TABLE.time, inputs, TABLE.given, unit), rtol=1e-10, atol=1e-9)
        np.testing.assert_allclose(result.concentration[i], superpose(times, inputs, TABLE.given, unit), rtol=1e-10, atol=1e-9)


def test_two_compartment_late_doses_equal_superposition():
    n = 3
    p = params(n, two=True)
    delay = delays(n)
    trough = run_exact(replace(TABLE, delay=delay), p).trough
    for i in range(n):
        cl, v, ka, lag, q, vp = (float(p.values[k][i]) for k in ("cl", "v", "ka", "tlag", "q", "vp"))
        expected = superpose_two(lambda dt, a: two_cmt_single_dose(dt, a, cl, v, q, vp, ka=ka, tlag=lag),
                                 TABLE.time + delay[i], TABLE.given, TABLE.time)
        np.testing.assert_allclose(trough[i], expected, rtol=1e-10, atol=1e-9)


def test_the_ode_path_takes_the_delays():
    """DOP853 at its default tolerances against the exact path: 1e-6 relative."""
    n = 3
    p = params(n)
    table = replace(TABLE, delay=delays(n))
    np.testing.assert_allclose(run_ode(table, p).trough, run_exact(table, p).trough, rtol=1e-6, atol=1e-6)


def test_no_delay_is_the_on_time_result_bit_for_bit():
    p = params(4)
    np.testing.assert_array_equal(run_exact(replace(TABLE, delay=np.zeros((4, TABLE.time.size))), p).trough,
                                  run_exact(TABLE, p).trough)


@pytest.mark.parametrize("value", [-1.0, 24.0, np.nan])
def test_a_delay_outside_its_interval_is_refused(value):
    delay = np.zeros((2, TABLE.time.size))
    delay[1, 3] = value
    with pytest.raises(SimulationError) as error:
        run_exact(replace(TABLE, delay=delay), params(2))
    assert error.value.key == "delay" and "dose 3" in str(error.value.got)


def test_late_doses_drawn_per_patient_have_the_stated_law():
    """Lateness: Bernoulli(p) per dose taken (4 binomial SE); delays uniform over [low, high) (KS at 0.1 %)."""
    from scipy import stats

    from imapk.processes import LateDoses, MarkovMisses, realise
    from imapk.schedule import GIVEN

    late = LateDoses(probability=0.2, low=1.0, high=6.0)
    doses = realise(Schedule(phases=(Phase(dose=400, days=100),)), range(400), 4, adherence=MarkovMisses(0.9, 0.5),
                    late=late)
    given = doses.status == GIVEN
    is_late = doses.delay > 0
    assert not is_late[~given].any()  # a dose not taken is not late
    fraction = is_late[given].mean()
    assert abs(fraction - 0.2) < 4 * np.sqrt(0.2 * 0.8 / given.sum())
    assert stats.kstest(doses.delay[is_late], stats.uniform(loc=1.0, scale=5.0).cdf).pvalue > 1e-3
    again = realise(Schedule(phases=(Phase(dose=400, days=100),)), range(100, 150), 4,
                    adherence=MarkovMisses(0.9, 0.5), late=late)
    np.testing.assert_array_equal(again.delay, doses.delay[100:150])


def test_a_scenario_with_late_doses_runs_and_reports_them(tmp_path):
    import textwrap

    from imapk.errors import ScenarioError
    from imapk.runner import run_scenario
    from imapk.scenario import parse_scenario

    text = textwrap.dedent("""
        [scenario]
        title = "late"
        seed = 2
        [model]
        parameter_set = "widmer2006"
        [population]
        size = 20
        [[schedule.phases]]
        dose = "400 mg"
        days = 40
        [adherence]
        model = "independent"
        p_missed = 0.0
        late = { probability = 0.3, low = "2 h", high = "10 h" }
        [verdict]
        thresholds = ["gist"]
    """)
    scenario = parse_scenario(text, "s.toml")
    ds = run_scenario(scenario, dense=False)
    delay = ds["subject_dose_delay"].values
    assert ds["subject_dose_delay"].attrs["units"] == "h" and (delay > 0).any() and delay.max() < 10.0
    on_time = run_scenario(parse_scenario(text.replace("probability = 0.3", "probability = 0.0"), "s.toml"), dense=False)
    assert not np.array_equal(ds["trough"].values, on_time["trough"].values)
    with pytest.raises(ScenarioError) as error:
        parse_scenario(text.replace('high = "10 h"', 'high = "1 h"'), "s.toml")
    assert error.value.key == "adherence.late.high"
    with pytest.raises(Exception) as error:
        run_scenario(parse_scenario(text.replace('high = "10 h"', 'high = "30 h"'), "s.toml"), dense=False)
    assert "before the next scheduled dose" in str(error.value)


def test_the_verdict_counts_the_late_doses_by_hand():
    """Every dose late (probability 1) over 10 days: 10 late doses per patient."""
    from imapk import simulate
    from imapk.processes import LateDoses, realise
    from imapk.report import format_text, verdict

    doses = realise(Schedule(phases=(Phase(dose=400, days=10),)), range(3), 1, late=LateDoses(1.0, 1.0, 2.0))
    summary = verdict(simulate(doses, params(3)))
    assert summary["realised_dosing"]["late"]["median"] == 10 and summary["realised_dosing"]["late"]["p05"] == 10
    assert "taken late: 10 (3 of 3 patients with any)" in format_text(summary)
