"""simulate_dataset against independent references: superposition of single-dose closed forms
(tests/reference.py, which does not import imapk), scipy.linalg.expm of the two ODEs stepped from
event to event (written below), and imapk's own scenario runs for the round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg

from imapk import run_scenario
from imapk.dataset_simulation import simulate_dataset
from imapk.datasets import read_dataset, scenario_to_dataset, write_dataset
from imapk.errors import ImapkError, ScenarioError
from imapk.params import PKParams

from conftest import SCENARIOS
from reference import bateman_unit, case_report_doses, infusion_unit, past_train, superpose

#: Widmer 2006 base model typical values, written out (CL/F [L/h], V/F [L], ka [1/h]).
CL, V, KA = 14.3, 347.0, 0.609
WIDMER = PKParams(cl=CL, v=V, ka=KA)
#: Closed form vs superposition or expm: both exact, so only rounding separates them.
RTOL = 1e-9


def central_bolus_unit(cl, v):
    """Concentration [ng/mL] per mg given into the central compartment dt hours ago."""
    return lambda dt: np.where(np.asarray(dt) > 0, np.exp(-cl / v * np.maximum(dt, 0.0)) / v * 1000.0, 0.0)


def expm_reference(inputs, segments, times, x0=(0.0, 0.0)):
    """Concentrations [ng/mL] at `times` by stepping ad' = rd - ka ad, ac' = ka ad + rc - k ac with the
    matrix exponential of the augmented system over each piece where inputs and parameters are constant.

    inputs: (start [h], amount [mg], duration [h] (0: bolus), into_depot); segments: (start [h], ka, cl, v),
    the parameters in force from that time on (the first from -inf). Concentration at t uses the V of the
    piece that ends at t. Boluses at a time t are given after observations at t (left limits).
    """
    points = sorted({s for s, *_ in inputs} | {s + d for s, _, d, _ in inputs if d} | {s for s, *_ in segments[1:]}
                    | set(times))

    def params(t):  # parameters of the piece that starts at t
        current = segments[0]
        for seg in segments:
            if seg[0] <= t:
                current = seg
        return current

    def params_left(t):
        current = segments[0]
        for seg in segments:
            if seg[0] < t:
                current = seg
        return current

    x = np.array([*x0, 1.0])
    t = points[0]
    out = {}
    for p in points:
        if p > t:
            _, ka, cl, v = params(t)
            rd = sum(a / d for s, a, d, dep in inputs if d and dep and s <= t < s + d)
            rc = sum(a / d for s, a, d, dep in inputs if d and not dep and s <= t < s + d)
            m = np.array([[-ka, 0.0, rd], [ka, -cl / v, rc], [0.0, 0.0, 0.0]])
            x = scipy.linalg.expm(m * (p - t)) @ x
            t = p
        if p in times:
            out[p] = x[1] / params_left(p)[3] * 1000.0
        for s, a, d, dep in inputs:
            if s == p and d == 0:
                x[0 if dep else 1] += a
    return np.array([out[t] for t in times])


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def predictions(tmp_path, text, model=WIDMER, **kwargs):
    return simulate_dataset(read_dataset(write(tmp_path, text), **kwargs), model)


def obs_lines(times, ident=1):
    return "".join(f"{ident},{t!r},0,.,.,.,.,.,2\n" for t in times)


HEADER = "ID,TIME,EVID,AMT,RATE,II,ADDL,SS,CMT\n"


def test_round_trip__case_report_troughs(tmp_path, case_report_path):
    """scenario -> data set file -> simulate_dataset gives run_scenario's troughs (1e-12)."""
    path = write_dataset(tmp_path / "case.csv", scenario_to_dataset(case_report_path))
    sim = simulate_dataset(read_dataset(path), "widmer2006")
    troughs = run_scenario(case_report_path).trough.values[0]
    np.testing.assert_allclose(sim.prediction, troughs, rtol=1e-12, atol=0)
    assert sim.prediction.size == 365 and set(sim.id) == {"0"}


@pytest.mark.parametrize("name", ["cml-missed-doses", "gist-rash-three-holds", "gist-bid-steady-state",
                                  "gist-rash-case-report-400-after-300-step"])
def test_round_trip__holds_misses_ladders_steady_state(tmp_path, name):
    """Holds, ladders, missed doses and steady-state starts survive the round trip (troughs to 1e-12)."""
    scenario = SCENARIOS / f"{name}.toml"
    sim = simulate_dataset(read_dataset(write_dataset(tmp_path / "d.csv", scenario)), "widmer2006")
    troughs = run_scenario(scenario).trough.values[0]
    np.testing.assert_allclose(sim.prediction, troughs, rtol=1e-12, atol=0)


def test_evid2__covariate_change_on_an_other_type_record(tmp_path):
    """An EVID 2 record carries covariates too: its values govern the interval that ends at it, so the
    volume (sex on V in Widmer 2006) steps at the record before it, and the concentration with it."""
    header = "ID,TIME,EVID,AMT,CMT,weight [kg],age [y],sex,disease\n"
    text = header + "1,0,1,400,1,70,50,male,GIST\n1,5,0,.,2,70,50,male,GIST\n1,10,2,.,.,70,50,female,GIST\n" \
        "1,10,0,.,2,70,50,female,GIST\n"
    sim = predictions(tmp_path, text, model="widmer2006_covariates")
    cl_m, cl_f = 14.3 + 1.49 - 0.806, 14.3 - 1.49 - 0.806
    v_m, v_f = 347.0 + 46.2, 347.0 - 46.2
    expected = expm_reference([(0.0, 400.0, 0.0, True)], [(-math.inf, KA, cl_m, v_m), (5.0, KA, cl_f, v_f)],
                              [5.0, 10.0])
    np.testing.assert_allclose(sim.prediction, expected, rtol=RTOL)


def test_round_trip__steady_state_start(tmp_path):
    """A steady-state start becomes an SS 1 record at -II: same troughs as run_scenario (1e-12)."""
    scenario = SCENARIOS / "gist-bid-steady-state.toml"
    path = write_dataset(tmp_path / "ss.csv", scenario)
    sim = simulate_dataset(read_dataset(path), "widmer2006")
    troughs = run_scenario(scenario).trough.values[0]
    np.testing.assert_allclose(sim.prediction, troughs, rtol=1e-12, atol=0)


def test_case_report_data_set__independent_superposition():
    """The shipped case-report data set, by a hand-written dose list and the Bateman sum, gives its troughs."""
    sim = simulate_dataset(read_dataset(SCENARIOS / "case-report-data.csv"), "widmer2006")
    times, amounts = case_report_doses(365)
    expected = superpose(times, times, amounts, lambda dt: bateman_unit(dt, CL, V, KA))
    mine = sim.prediction[sim.mdv == 1]
    np.testing.assert_allclose(mine, expected, rtol=RTOL, atol=1e-9)
    measured = sim.mdv == 0  # the two measured levels keep their DV and get a prediction at their own time
    assert measured.sum() == 2
    exact = superpose(sim.time[measured], times, amounts, lambda dt: bateman_unit(dt, CL, V, KA))
    np.testing.assert_allclose(sim.prediction[measured], exact, rtol=RTOL)


def test_addl__equals_explicit_doses(tmp_path):
    obs = [0.0, 1.0, 23.9, 24.0, 50.0, 215.5, 240.0, 300.0]
    text = HEADER + "1,0,1,400,0,24,9,0,1\n" + obs_lines(obs)
    sim = predictions(tmp_path, text)
    expected = superpose(obs, 24.0 * np.arange(10), np.full(10, 400.0), lambda dt: bateman_unit(dt, CL, V, KA))
    np.testing.assert_allclose(sim.prediction, expected, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(sim.trough_time, 24.0 * np.arange(10))
    np.testing.assert_allclose(sim.trough, superpose(sim.trough_time, 24.0 * np.arange(10), np.full(10, 400.0),
                                                     lambda dt: bateman_unit(dt, CL, V, KA)), rtol=RTOL, atol=1e-12)


def test_addl__additional_dose_before_a_record_at_its_time(tmp_path):
    """Central boluses make the order visible: the additional dose at 24 h comes before the observation at 24 h."""
    text = HEADER + "1,0,1,100,0,24,2,0,2\n" + obs_lines([24.0])
    sim = predictions(tmp_path, text)
    unit = central_bolus_unit(CL, V)
    assert sim.prediction[0] == pytest.approx(100 * (float(unit(24.0)) + 1.0 / V * 1000), rel=RTOL)


def test_equal_times__file_order(tmp_path):
    """An observation before a central bolus at the same time sees the state before it; one after, after it."""
    text = HEADER + "1,0,1,100,0,0,0,0,2\n" + obs_lines([5.0]) + "1,5,1,100,0,0,0,0,2\n" + obs_lines([5.0])
    sim = predictions(tmp_path, text)
    before = 100 * float(central_bolus_unit(CL, V)(5.0))
    assert sim.prediction[0] == pytest.approx(before, rel=RTOL)
    assert sim.prediction[1] == pytest.approx(before + 100 / V * 1000, rel=RTOL)
    assert sim.trough[1] == pytest.approx(before, rel=RTOL)  # the trough is the left limit


def test_ss1__steady_state_replaces_the_state(tmp_path):
    """An SS 1 dose at 100 h: earlier doses are forgotten; the state is that of the infinite train."""
    obs = [100.0, 101.0, 110.0, 124.0, 130.0]
    text = HEADER + "1,0,1,5000,0,0,0,0,2\n" + "1,100,1,400,0,24,0,1,1\n" + obs_lines(obs)
    sim = predictions(tmp_path, text)
    times, amounts = past_train(400.0, 24.0)
    times = np.append(times, 0.0) + 100.0
    amounts = np.append(amounts, 400.0)
    expected = superpose(obs, times, amounts, lambda dt: bateman_unit(dt, CL, V, KA))
    np.testing.assert_allclose(sim.prediction, expected, rtol=RTOL)


def test_ss1__with_addl_continues_the_train(tmp_path):
    obs = [0.0, 24.0, 47.0, 72.0, 100.0]
    text = HEADER + "1,0,1,400,0,24,2,1,1\n" + obs_lines(obs)
    sim = predictions(tmp_path, text)
    times, amounts = past_train(400.0, 24.0)
    times = np.concatenate([times, [0.0, 24.0, 48.0]])
    amounts = np.concatenate([amounts, [400.0] * 3])
    expected = superpose(obs, times, amounts, lambda dt: bateman_unit(dt, CL, V, KA))
    np.testing.assert_allclose(sim.prediction, expected, rtol=RTOL)


def test_ss2__steady_state_added_to_the_state(tmp_path):
    """SS 2 keeps an earlier central bolus and adds the train."""
    obs = [50.0, 55.0, 70.0]
    text = HEADER + "1,0,1,1000,0,0,0,0,2\n" + "1,50,1,400,0,24,0,2,1\n" + obs_lines(obs)
    sim = predictions(tmp_path, text)
    times, amounts = past_train(400.0, 24.0)
    expected = superpose(obs, np.append(times, 0.0) + 50.0, np.append(amounts, 400.0),
                         lambda dt: bateman_unit(dt, CL, V, KA))
    expected += 1000 * central_bolus_unit(CL, V)(np.array(obs))
    np.testing.assert_allclose(sim.prediction, expected, rtol=RTOL)


def test_rate__central_infusion(tmp_path):
    """RATE 100 mg/h into CMT 2: a 4 h infusion (textbook infusion curve)."""
    obs = [1.0, 4.0, 6.0, 30.0]
    text = HEADER + obs_lines(obs[:1]) + "1,2,1,400,100,0,0,0,2\n" + obs_lines(obs[1:])
    sim = predictions(tmp_path, text)
    expected = superpose(obs, [2.0], [400.0], lambda dt: infusion_unit(dt, CL, V, 4.0))
    np.testing.assert_allclose(sim.prediction, expected, rtol=RTOL, atol=1e-12)


def test_rate__steady_state_central_infusion(tmp_path):
    obs = [0.0, 2.0, 12.0]
    text = HEADER + "1,0,1,400,50,12,0,1,2\n" + obs_lines(obs)
    sim = predictions(tmp_path, text)
    times, amounts = past_train(400.0, 12.0)
    expected = superpose(obs, np.append(times, 0.0), np.append(amounts, 400.0),
                         lambda dt: infusion_unit(dt, CL, V, 8.0))
    np.testing.assert_allclose(sim.prediction, expected, rtol=RTOL)


def test_rate__zero_order_input_into_the_depot(tmp_path):
    """RATE 200 mg/h into CMT 1 of a first-order model: zero-order into the depot (expm reference)."""
    obs = [0.5, 2.0, 3.0, 10.0, 30.0]
    text = HEADER + "1,0,1,400,200,0,0,0,1\n" + obs_lines(obs)
    sim = predictions(tmp_path, text)
    expected = expm_reference([(0.0, 400.0, 2.0, True)], [(-math.inf, KA, CL, V)], obs)
    np.testing.assert_allclose(sim.prediction, expected, rtol=RTOL)


def test_rate_minus_2__modelled_duration(tmp_path):
    """Schmidli 2005 (zero-order input, D1 1.5 h) with RATE -2, across its day-29 occasion (from day 2 under
    the default timing): expm with the parameters of each occasion."""
    from imapk.models import get_model

    covariates = {"weight": 80.0, "haemoglobin": 13.0, "wbc": 16.0}
    first = get_model("schmidli2005").typical_params(covariates, 0)
    later = get_model("schmidli2005").typical_params(covariates, 1)
    assert first.d1 == 1.5 and later.cl != first.cl
    obs = [0.5, 1.5, 12.0, 24.0, 24.5, 30.0, 48.0, 60.0]
    lines = "".join(f"1,{t},1,400,-2,0,0,0,1,80,13,16\n" for t in (0.0, 24.0, 48.0))
    lines += "".join(f"1,{t},0,.,.,.,.,.,2,80,13,16\n" for t in obs)
    rows = sorted(lines.splitlines(), key=lambda line: (float(line.split(",")[1]), line.split(",")[2]))
    text = HEADER.strip() + ",weight [kg],haemoglobin [g/dL],wbc [10^9/L]\n" + "\n".join(rows) + "\n"
    sim = predictions(tmp_path, text, model="schmidli2005")
    expected = expm_reference(
        [(t, 400.0, 1.5, False) for t in (0.0, 24.0, 48.0)],
        [(-math.inf, 1.0, first.cl, first.v), (24.0, 1.0, later.cl, later.v)], obs,
    )
    np.testing.assert_allclose(sim.prediction, expected, rtol=RTOL)


def test_rate_minus_2__refused_without_d1(tmp_path):
    with pytest.raises(ScenarioError, match=r"row 2, column RATE: RATE -2 \(modelled duration\) needs a model"):
        predictions(tmp_path, HEADER + "1,0,1,400,-2,0,0,0,1\n")


def test_cmt2__bolus_into_central(tmp_path):
    obs = [0.0, 1.0, 24.0]
    text = HEADER + obs_lines([0.0]) + "1,0,1,100,0,0,0,0,2\n" + obs_lines(obs[1:])
    sim = predictions(tmp_path, text)
    np.testing.assert_allclose(sim.prediction, 100 * central_bolus_unit(CL, V)(np.array(obs)), rtol=RTOL, atol=0)


def test_evid3__reset(tmp_path):
    obs = [20.0, 30.0, 40.0]
    text = HEADER + "1,0,1,400,0,24,5,0,1\n" + "1,10,3,.,.,.,.,.,.\n" + "1,12,1,300,0,0,0,0,1\n" + obs_lines(obs)
    sim = predictions(tmp_path, text)
    # the reset at 10 h forgets the dose at 0 and cancels the additional doses at 24, 48, ... h
    expected = superpose(obs, [12.0], [300.0], lambda dt: bateman_unit(dt, CL, V, KA))
    np.testing.assert_allclose(sim.prediction, expected, rtol=RTOL)


def test_evid4__reset_and_dose(tmp_path):
    obs = [20.0, 30.0]
    text = HEADER + "1,0,1,400,0,0,0,0,1\n" + "1,12,4,300,0,0,0,0,1\n" + obs_lines(obs)
    sim = predictions(tmp_path, text)
    expected = superpose(obs, [12.0], [300.0], lambda dt: bateman_unit(dt, CL, V, KA))
    np.testing.assert_allclose(sim.prediction, expected, rtol=RTOL)
    assert sim.trough[1] == pytest.approx(float(400 * bateman_unit(np.array([12.0]), CL, V, KA)[0]), rel=RTOL)


def test_lag_and_bioavailability__depot_only(tmp_path):
    """F 0.8 and a 0.5 h lag act on CMT 1 doses; a CMT 2 dose has neither."""
    params = PKParams(cl=CL, v=V, ka=KA, f=0.8, tlag=0.5)
    obs = [0.25, 0.5, 1.0, 30.0, 31.0, 50.0]
    text = HEADER + "1,0,1,400,0,0,0,0,1\n" + obs_lines(obs[:3]) + "1,30,1,100,0,0,0,0,2\n" + obs_lines(obs[3:])
    sim = predictions(tmp_path, text, model=params)
    expected = superpose(obs, [0.5], [320.0], lambda dt: bateman_unit(dt, CL, V, KA))
    since = np.array(obs) - 30.0  # the observation at 30 h is written after the bolus: it sees it
    expected += np.where(since >= 0, 100 * np.exp(-CL / V * np.maximum(since, 0)) / V * 1000, 0.0)
    np.testing.assert_allclose(sim.prediction, expected, rtol=RTOL, atol=1e-12)


def test_ss1__with_lag(tmp_path):
    params = PKParams(cl=CL, v=V, ka=KA, tlag=2.0)
    obs = [0.0, 1.0, 2.0, 5.0, 24.0]
    text = HEADER + "1,0,1,400,0,24,0,1,1\n" + obs_lines(obs)
    sim = predictions(tmp_path, text, model=params)
    times, amounts = past_train(400.0, 24.0)
    expected = superpose(obs, np.append(times, 0.0) + 2.0, np.append(amounts, 400.0),
                         lambda dt: bateman_unit(dt, CL, V, KA))
    np.testing.assert_allclose(sim.prediction, expected, rtol=RTOL)


def test_time_varying_covariate__next_record_governs(tmp_path):
    """widmer2006_covariates: weight 70 kg on the records up to 48 h, 50 kg from the record at 72 h. The
    interval (48, 72] h already has CL at 50 kg (the values of the record that ends it)."""
    def widmer_cl(weight, age=50.0):  # Widmer 2006 CL equation for a man with GIST, written out
        return 14.3 + 5.42 * (weight - 70.0) / 70.0 + 1.49 - 5.81 * (age - 50.0) / 50.0 - 0.806

    v = 347.0 + 46.2
    header = "ID,TIME,EVID,AMT,CMT,weight [kg],age [y],sex,disease\n"
    rows = [(0.0, 1, 400), (24.0, 1, 400), (48.0, 0, None), (60.0, 0, None), (72.0, 0, None), (72.0, 1, 400),
            (96.0, 0, None)]
    text = header + "".join(
        f"A,{t},{e},{a if a else '.'},{1 if e else 2},{70 if t <= 48 else 50},50,male,GIST\n" for t, e, a in rows
    )
    sim = predictions(tmp_path, text, model="widmer2006_covariates")
    obs = [48.0, 60.0, 72.0, 96.0]
    expected = expm_reference(
        [(t, 400.0, 0.0, True) for t in (0.0, 24.0, 72.0)],
        [(-math.inf, KA, widmer_cl(70.0), v), (48.0, KA, widmer_cl(50.0), v)], obs,
    )
    np.testing.assert_allclose(sim.prediction, expected, rtol=RTOL)
    assert sim.id.tolist() == ["A"] * 4


def test_ids__kept_as_written_and_separate(tmp_path):
    text = HEADER + "007,0,1,400,0,0,0,0,1\n" + obs_lines([10.0], "007") + "7,5,1,100,0,0,0,0,2\n" + obs_lines([10.0], "7")
    sim = predictions(tmp_path, text)
    assert sim.id.tolist() == ["007", "7"]
    assert sim.prediction[0] == pytest.approx(float(400 * bateman_unit(np.array([10.0]), CL, V, KA)[0]), rel=RTOL)
    assert sim.prediction[1] == pytest.approx(100 * float(central_bolus_unit(CL, V)(5.0)), rel=RTOL)


def test_missing_covariate_column__refused(tmp_path):
    with pytest.raises(ImapkError, match="needs covariate `weight`, not a column of the data set"):
        predictions(tmp_path, HEADER + "1,0,1,400,-2,0,0,0,1\n", model="schmidli2005")


def test_zero_order_model__bolus_into_absent_depot_refused(tmp_path):
    text = HEADER.strip() + ",weight [kg],haemoglobin [g/dL],wbc [10^9/L]\n1,0,1,400,0,0,0,0,1,80,13,16\n"
    with pytest.raises(ScenarioError, match=r"row 2, column RATE: the model has zero-order input and no depot"):
        predictions(tmp_path, text, model="schmidli2005")


def test_outputs__table_and_summary(tmp_path):
    """The predictions table reads back with the same numbers; the summary shows each measured level."""
    import csv

    sim = simulate_dataset(read_dataset(SCENARIOS / "case-report-data.csv"), "widmer2006")
    path = sim.write_csv(tmp_path / "pred.csv")
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["ID", "ROW", "TIME [h]", "DV [ng/mL]", "MDV", "PRED [ng/mL]"]
    assert len(rows) == 1 + 367
    assert [float(r[5]) for r in rows[1:]] == sim.prediction.tolist()
    measured = [r for r in rows[1:] if r[4] == "0"]
    assert [r[3] for r in measured] == ["545.0", "826.0"]
    lines = sim.summary_lines()
    assert lines[1].startswith("ID 1: 367 observation records, 351 doses, troughs ")
    assert lines[2].startswith("  TIME 1174.5 h: measured 545, predicted ")


# -- SubjectWalker: one ID for many parameter vectors (the MAP fit's predictions) ---------------------

WALKER_ROWS = (
    "ID,TIME,EVID,AMT,II,ADDL,SS,CMT,RATE,DV,MDV\n"
    "1,0,1,400,24,4,1,1,0,.,1\n"          # steady state, 4 more daily doses
    "1,100,0,0,0,0,0,2,0,.,1\n"
    "1,110,1,400,24,1,2,1,0,.,1\n"        # a steady state superposed, one more dose
    "1,130,0,0,0,0,0,2,0,.,1\n"
    "1,150,4,300,0,0,0,1,0,.,1\n"         # restart (cancels the additional doses still to come)
    "1,170,1,200,0,0,0,1,50,.,1\n"        # into the depot at 50 mg/h
    "1,172,0,0,0,0,0,2,0,.,1\n"
    "1,180,1,100,0,0,0,2,0,.,1\n"         # into central
    "1,181,0,0,0,0,0,2,0,.,1\n"
    "1,200,0,0,0,0,0,2,0,.,1\n"
)


@pytest.mark.parametrize("typical", [
    PKParams(cl=CL, v=V, ka=KA, tlag=0.5),
    PKParams(cl=CL, v=V, ka=KA, q=8.0, vp=200.0, tlag=0.5),
], ids=["one compartment", "two compartments"])
def test_subject_walker__rows_equal_simulating_each_vector_alone(tmp_path, typical):
    """k parameter vectors walked as the rows of one state equal simulate_dataset run with each
    vector's PKParams alone (1e-12 relative: the same formulas, elementwise numpy against scalar
    math), with F and the lag varying between vectors (walked as separate groups), and the extra
    output times equal observation records added at those times. Records: SS 1, SS 2, EVID 4, a
    RATE > 0 input into the depot, a central dose, a lag."""
    from dataclasses import replace as dc_replace

    from imapk.dataset_simulation import SubjectWalker

    path = tmp_path / "d.csv"
    path.write_text(WALKER_ROWS)
    subject = read_dataset(path).subjects[0]
    factors = {"cl": np.array([1.0, 0.7, 1.3, 1.3]), "v": np.array([1.0, 1.2, 0.8, 0.8]),
               "tlag": np.array([1.0, 1.0, 2.0, 2.0]), "f": np.array([1.0, 1.0, 0.9, 0.9])}
    extra = [120.0, 171.0, 250.0]
    result = SubjectWalker(subject, typical).predict(factors, times=extra)
    assert result.observation.shape == (4, 5) and result.extra.shape == (4, 3)
    with_extra = tmp_path / "e.csv"
    lines = WALKER_ROWS.splitlines()
    added = lines[1:] + [f"1,{t:g},0,0,0,0,0,2,0,.,1" for t in extra]
    added.sort(key=lambda r: float(r.split(",")[1]))  # stable: an added record follows the file's at that time
    with_extra.write_text(lines[0] + "\n" + "\n".join(added) + "\n")
    data = read_dataset(with_extra)
    for r in range(4):
        p = dc_replace(typical, cl=typical.cl * factors["cl"][r], v=typical.v * factors["v"][r],
                       tlag=typical.tlag * factors["tlag"][r], f=typical.f * factors["f"][r])
        alone = simulate_dataset(data, p)
        at_extra = np.isin(alone.time, extra)  # no record of the file is at these times
        np.testing.assert_allclose(result.observation[r], alone.prediction[~at_extra], rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(result.trough[r][[1, 2, 3, 4, 6, 7, 8, 9]], alone.trough[[1, 2, 3, 4, 6, 7, 8, 9]],
                                   rtol=1e-12, atol=1e-9)
        # at an SS 1 dose the walker's trough is the train's (the data set simulation's is the empty body
        # before the record): at steady state, the trough before the next dose (1e-9: a fixed point
        # against one step of it)
        assert alone.trough[0] == 0.0
        assert result.trough[r][0] == pytest.approx(alone.trough[1], rel=1e-9)
        np.testing.assert_allclose(result.extra[r], alone.prediction[at_extra], rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(result.dose_time, alone.trough_time)


def test_subject_walker__walked_doses_are_the_walkers(tmp_path):
    """walked_doses lists the doses the walker gives: ADDL cancelled by a reset or an SS 1 dose left out."""
    from imapk.dataset_simulation import SubjectWalker, walked_doses

    path = tmp_path / "d.csv"
    path.write_text(WALKER_ROWS)
    subject = read_dataset(path).subjects[0]
    times, records = walked_doses(subject)
    result = SubjectWalker(subject, WIDMER).predict()
    np.testing.assert_array_equal(times, result.dose_time)
    np.testing.assert_array_equal(records, result.dose_record)
    # SS 1 at 0 and its 4 additional doses, SS 2 at 110 and its one (SS 2 resets nothing), the restart
    # at 150 (no additional dose of earlier records left to cancel), the input at a RATE, the central dose
    np.testing.assert_array_equal(times, [0, 24, 48, 72, 96, 110, 134, 150, 170, 180])
