"""MAP fits on records a dose table cannot express (imapk.tdm.records, the general path).

The reference for each patient is a brute-force posterior mode computed here without imapk's
predictions: the objective (1)-(4) of imapk.tdm.estimation written out again, its concentrations
from scipy's ``solve_ivp`` of the two ODEs

    dA_d/dt = r_d(t) - ka A_d,        dA_c/dt = ka A_d + r_c(t) - (CL/V) A_c,       C = 1000 A_c / V

integrated piece by piece between the doses of a hand-written dose list (the NONMEM semantics of
each record spelled out in its comment), and minimised by scipy's Nelder-Mead. Steady states are
the geometric series of the one-interval Bateman solution (superposition, no imapk code).

Tolerance of the modes: 1e-4 in eta. The ODE is solved to rtol 1e-11 (the objective to about 1e-9),
Nelder-Mead stops at 1e-9 in eta; imapk's mode is a Newton iteration on central differences of
step 1e-3 (truncation error of the gradient about h^2 U''' / 6, 1e-7 relative) stopped at steps
below 1e-7: both modes are within about 1e-6 of the true one, and 1e-4 leaves room for the
flat direction of a weakly identified eta (the Hessian's smallest eigenvalue is about 1 here).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import minimize
from scipy.stats import norm

from imapk.datasets import read_dataset
from imapk.tdm import map_estimate, patient_inputs, plan_next_step
from imapk.tdm.records import PatientRecords

HEADER = "ID,TIME,EVID,AMT,II,ADDL,SS,CMT,RATE,DV,MDV,BLQ,LLOQ\n"
#: Widmer 2006 (base model): typical CL/F [L/h], V/F [L], ka [1/h]; its IIV and residual error.
MODEL = "widmer2006"
CL, V, KA = 14.3, 347.0, 0.609
OMEGA = np.array([[0.126736, 0.179], [0.179, 0.395641]])
PROP, ADD = 0.3138, 0.0
#: Mode agreement, see the module docstring. [1]
ETA_TOL = 1e-4


def read(tmp_path, rows: str):
    path = tmp_path / "data.csv"
    path.write_text(HEADER + rows)
    return read_dataset(path).subjects[0]


def ss_state(amount, interval, ka, k, into_depot=True):
    """Pre-dose state (A_d, A_c) [mg] of an infinite train of boluses every `interval`: the sum over
    m >= 1 of the Bateman amounts m intervals after a dose (geometric series)."""
    qa, qk = math.exp(-ka * interval), math.exp(-k * interval)
    if not into_depot:
        return 0.0, amount * qk / (1 - qk)
    return amount * qa / (1 - qa), amount * ka / (ka - k) * (qk / (1 - qk) - qa / (1 - qa))


def ode_concentrations(cl, v, ka, events, times):
    """C [ng/mL] at `times` after the events, by solve_ivp between events.

    events: (time [h], kind, value) in order, kind one of "depot" / "central" (a bolus of value mg),
    "reset" (empty both compartments), "state" (add the (A_d, A_c) pair in value), "rate"
    (value = (rate mg/h into the depot, duration h)). An observation at an event's time is taken
    after the events listed before it at that time (put it before them by listing it first: times are
    processed in order, events at t before an observation at t only if listed with a smaller index)."""
    k = cl / v
    running = []  # (end, rate)

    def rhs(t, y):
        rd = sum(r for end, r, start in running if start <= t < end)
        return [rd - ka * y[0], ka * y[0] - k * y[1]]

    marks = sorted([(t, 1, i) for i, t in enumerate(times)] + [(e[0], 0, i) for i, e in enumerate(events)])
    y = np.zeros(2)
    t_now = marks[0][0]
    out = np.empty(len(times))
    for t, is_obs, i in marks:
        stops = sorted({t_now, t} | {end for end, _, _ in running if t_now < end < t})
        for a, b in zip(stops[:-1], stops[1:]):
            sol = solve_ivp(rhs, (a, b), y, method="DOP853", rtol=1e-11, atol=1e-12, t_eval=[b])
            y = sol.y[:, -1]
        t_now = t
        if is_obs:
            out[i] = 1000.0 * y[1] / v
            continue
        _, kind, value = events[i]
        if kind == "depot":
            y = y + [value, 0.0]
        elif kind == "central":
            y = y + [0.0, value]
        elif kind == "reset":
            y = np.zeros(2)
            running.clear()
        elif kind == "state":
            y = y + np.asarray(value)
        elif kind == "rate":
            running.append((t + value[1], value[0], t))
    return out


def brute_force_mode(events, obs_time, obs_value, censored=None, lloq=None):
    """The posterior mode of (eta_CL, eta_V), written out: combined error (2), M3 (4), prior."""
    censored = np.zeros(len(obs_time), bool) if censored is None else np.asarray(censored)
    lloq = np.zeros(len(obs_time)) if lloq is None else np.asarray(lloq, float)
    precision = np.linalg.inv(OMEGA)

    def objective(eta):
        cl, v = CL * math.exp(eta[0]), V * math.exp(eta[1])
        c = ode_concentrations(cl, v, KA, events(cl, v), obs_time)
        sd = np.maximum(np.hypot(PROP * c, ADD), 1e-3)
        y = np.where(censored, lloq, obs_value)
        z = (y - c) / sd
        nll = np.where(censored, -norm.logcdf(z), np.log(sd) + 0.5 * z * z).sum()
        return nll + 0.5 * eta @ precision @ eta

    best = minimize(objective, np.zeros(2), method="Nelder-Mead",
                    options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 4000})
    assert best.success
    return best.x


def fit(subject, **kwargs):
    p = patient_inputs(subject, source="data.csv")
    return p, map_estimate(MODEL, p.doses, p.observations, covariates=p.covariates, warn=False, n_samples=200,
                           **kwargs)


def test_general__evid4_restart(tmp_path):
    """(a) 400 mg daily (ADDL 9), a restart at 168 h with 300 mg (EVID 4: empty the body, cancel the
    first record's additional doses still to come), 300 mg at 192 and 216 h."""
    s = read(tmp_path, (
        "1,0,1,400,24,9,0,1,0,.,1,0,.\n"
        "1,100,0,0,0,0,0,2,0,1400,0,0,.\n"
        "1,168,4,300,0,0,0,1,0,.,1,0,.\n"
        "1,192,1,300,24,1,0,1,0,.,1,0,.\n"
        "1,200,0,0,0,0,0,2,0,900,0,0,.\n"
        "1,239,0,0,0,0,0,2,0,1100,0,0,.\n"
    ))
    p, result = fit(s)
    assert isinstance(p.doses, PatientRecords) and "row 4, EVID 4" in p.doses.reason

    def events(cl, v):
        return ([(24.0 * j, "depot", 400.0) for j in range(7)] + [(168.0, "reset", None), (168.0, "depot", 300.0)]
                + [(192.0, "depot", 300.0), (216.0, "depot", 300.0)])

    ref = brute_force_mode(events, [100.0, 200.0, 239.0], np.array([1400.0, 900.0, 1100.0]))
    np.testing.assert_allclose(result.eta, ref, rtol=0, atol=ETA_TOL)
    # the troughs are at the doses the records give: 7 from the first record, the restart, 2 more
    np.testing.assert_array_equal(result.trough_time, [0, 24, 48, 72, 96, 120, 144, 168, 192, 216])


def test_general__zero_order_input_at_a_rate(tmp_path):
    """(b) 400 mg daily for 4 days, then 400 mg into the depot at RATE 100 mg/h (4 h) at 96 h; a level
    during the input."""
    s = read(tmp_path, (
        "1,0,1,400,24,3,0,1,0,.,1,0,.\n"
        "1,96,1,400,0,0,0,1,100,.,1,0,.\n"
        "1,98,0,0,0,0,0,2,0,1500,0,0,.\n"
        "1,110,0,0,0,0,0,2,0,2600,0,0,.\n"
        "1,119,0,0,0,0,0,2,0,2000,0,0,.\n"
    ))
    p, result = fit(s)
    assert "row 3, RATE 100" in p.doses.reason

    def events(cl, v):
        return [(24.0 * j, "depot", 400.0) for j in range(4)] + [(96.0, "rate", (100.0, 4.0))]

    ref = brute_force_mode(events, [98.0, 110.0, 119.0], np.array([1500.0, 2600.0, 2000.0]))
    np.testing.assert_allclose(result.eta, ref, rtol=0, atol=ETA_TOL)


def test_general__central_dose_and_a_censored_level(tmp_path):
    """(c) 300 mg daily for 4 days, 100 mg into the central compartment (CMT 2) at 80 h; one level
    below the limit (BLQ, LLOQ 500 ng/mL: Beal's M3) three days after the last dose."""
    s = read(tmp_path, (
        "1,0,1,300,24,3,0,1,0,.,1,0,.\n"
        "1,80,1,100,0,0,0,2,0,.,1,0,.\n"
        "1,81,0,0,0,0,0,2,0,1500,0,0,.\n"
        "1,95,0,0,0,0,0,2,0,900,0,0,.\n"
        "1,144,0,0,0,0,0,2,0,.,1,1,500\n"
    ))
    p, result = fit(s)
    assert "row 3, CMT 2" in p.doses.reason
    assert result.observations.censored.tolist() == [False, False, True]

    def events(cl, v):
        return [(24.0 * j, "depot", 300.0) for j in range(4)] + [(80.0, "central", 100.0)]

    ref = brute_force_mode(events, [81.0, 95.0, 144.0], np.array([1500.0, 900.0, np.nan]), [False, False, True],
                           [0.0, 0.0, 500.0])
    np.testing.assert_allclose(result.eta, ref, rtol=0, atol=ETA_TOL)


def test_general__steady_state_superposed(tmp_path):
    """(d) A steady state of 400 mg daily at 0 h (SS 1, ADDL 2), then at 60 h a steady state of
    200 mg every 24 h superposed (SS 2: the train's pre-dose state added, then its dose) and one more
    200 mg at 84 h (ADDL 1)."""
    s = read(tmp_path, (
        "1,0,1,400,24,2,1,1,0,.,1,0,.\n"
        "1,60,1,200,24,1,2,1,0,.,1,0,.\n"
        "1,70,0,0,0,0,0,2,0,3500,0,0,.\n"
        "1,95,0,0,0,0,0,2,0,2600,0,0,.\n"
    ))
    p, result = fit(s)
    assert "row 3, SS 2" in p.doses.reason

    def events(cl, v):
        return ([(0.0, "state", ss_state(400.0, 24.0, KA, cl / v))] + [(24.0 * j, "depot", 400.0) for j in range(3)]
                + [(60.0, "state", ss_state(200.0, 24.0, KA, cl / v)), (60.0, "depot", 200.0), (84.0, "depot", 200.0)])

    ref = brute_force_mode(events, [70.0, 95.0], np.array([3500.0, 2600.0]))
    np.testing.assert_allclose(result.eta, ref, rtol=0, atol=ETA_TOL)
    # the trough at the steady-state start is the train's (as for a SteadyState start), not 0
    k = result.parameters["cl"] / result.parameters["v"]
    assert result.trough_median[0] == pytest.approx(1000 * ss_state(400.0, 24.0, KA, k)[1] / result.parameters["v"],
                                                    rel=0.05)  # median over samples vs the mode's: loose


EXPRESSIBLE = (
    "1,0,1,400,24,4,1,1,0,.,1,0,.\n"      # steady state, then 4 more daily doses
    "1,100,0,0,0,0,0,2,0,1800,0,0,.\n"
    "1,120,1,300,24,6,0,1,0,.,1,0,.\n"    # a lower dose from day 6
    "1,200,0,0,0,0,0,2,0,1300,0,0,.\n"
    "1,263,0,0,0,0,0,2,0,1000,0,0,.\n"
)


@pytest.mark.parametrize("iov_cl", [0.0, 0.25])
def test_general__expressible_records_give_the_same_fit_by_both_paths(tmp_path, iov_cl):
    """Records a dose table expresses: the engine path (the default) and the walker path (walk=True)
    give the same posterior: modes to 1e-6 in eta and kappa (both are Newton iterations on the same U,
    whose predictions agree to about 1e-12 relative: closed forms of the same model), the troughs at
    the mode to 1e-9 relative, IOV included."""
    s = read(tmp_path, EXPRESSIBLE)
    fast = patient_inputs(s)
    walked = patient_inputs(s, walk=True)
    assert not isinstance(fast.doses, PatientRecords) and isinstance(walked.doses, PatientRecords)
    np.testing.assert_array_equal(walked.doses.doses.time, fast.doses.time)
    np.testing.assert_array_equal(walked.observations.time, fast.observations.time)
    a = map_estimate(MODEL, fast.doses, fast.observations, warn=False, n_samples=0, iov_cl=iov_cl)
    b = map_estimate(MODEL, walked.doses, walked.observations, warn=False, n_samples=0, iov_cl=iov_cl)
    np.testing.assert_allclose(b.eta, a.eta, rtol=0, atol=1e-6)
    np.testing.assert_allclose(b.kappa, a.kappa, rtol=0, atol=1e-6)
    assert b.kappa.size == (3 if iov_cl else 0)
    np.testing.assert_allclose(b.prediction, a.prediction, rtol=1e-6)
    np.testing.assert_allclose(b.trough_median, a.trough_median, rtol=1e-6)
    assert b.objective == pytest.approx(a.objective, rel=1e-9, abs=1e-9)


def test_general__fast_path_is_unchanged(tmp_path):
    """Expressible records still give a dose table, and the fit on it is the fit of the same table
    built by hand (bit for bit)."""
    from imapk.tdm import dose_table

    s = read(tmp_path, "1,0,1,400,24,9,0,1,0,.,1,0,.\n1,215,0,0,0,0,0,2,0,1500,0,0,.\n")
    p = patient_inputs(s)
    a = map_estimate(MODEL, p.doses, p.observations, warn=False, n_samples=100)
    b = map_estimate(MODEL, dose_table(24.0 * np.arange(10), 400.0), ([215.0], [1500.0]), warn=False, n_samples=100)
    np.testing.assert_array_equal(a.eta, b.eta)
    np.testing.assert_array_equal(a.trough_median, b.trough_median)
    assert a.records is None


def test_general__next_step_plan_walks_the_history(tmp_path):
    """plan_next_step on a walker fit: the history's part of each new trough is the records walked.
    For an EVID 4 restart the history before the reset contributes nothing, so the plan equals the
    plan of a fit on the doses after the reset alone (a dose table), with the same posterior samples:
    troughs to 1e-6 relative."""
    rows = ("1,0,1,400,24,4,0,1,0,.,1,0,.\n"
            "1,150,4,300,24,0,0,1,0,.,1,0,.\n"
            "1,174,1,300,24,5,0,1,0,.,1,0,.\n"
            "1,250,0,0,0,0,0,2,0,1000,0,0,.\n")
    s = read(tmp_path, rows)
    p = patient_inputs(s)
    general = map_estimate(MODEL, p.doses, p.observations, warn=False, n_samples=300)
    from imapk.tdm import dose_table

    after = dose_table(150.0 + 24.0 * np.arange(7), 300.0)  # the reset's dose and 6 more, on the same clock
    # the same clock origin: t = 0 h is the first dose; before 150 h nothing given
    plain = map_estimate(MODEL, after, p.observations, warn=False, n_samples=300)
    np.testing.assert_allclose(general.eta, plain.eta, atol=1e-6)
    a = plan_next_step(general, target="gist", day=5)
    b = plan_next_step(plain, target="gist", day=5)
    np.testing.assert_allclose(a.day_median, b.day_median, rtol=1e-6)
    np.testing.assert_allclose(a.steady_state_median, b.steady_state_median, rtol=1e-6)
    assert a.current_dose == 300.0


def test_general__planner_questions_are_refused_clearly(tmp_path):
    from imapk.errors import ImapkError
    from imapk.tdm import future_schedule, posterior_patient

    s = read(tmp_path, "1,0,1,400,24,3,0,1,0,.,1,0,.\n1,80,1,100,0,0,0,2,0,.,1,0,.\n1,95,0,0,0,0,0,2,0,900,0,0,.\n")
    _, result = fit(s)
    with pytest.raises(ImapkError, match=r"fit: the planner's questions simulate the patient's history as a dose "
                                         r"table .*a dose into the central compartment \(ID 1, row 3, CMT 2\)"):
        posterior_patient(result, future_schedule(400.0, hold_days=7))


def test_general__tdm_report_fits_every_patient(tmp_path):
    """imapk tdm's report takes the walker path by itself, says so, and answers the planner's
    questions for the patients whose records are a dose table only."""
    from imapk.tdm.command import tdm_report

    path = tmp_path / "data.csv"
    path.write_text(HEADER
                    + "1,0,1,400,24,3,0,1,0,.,1,0,.\n1,80,1,100,0,0,0,2,0,.,1,0,.\n1,95,0,0,0,0,0,2,0,900,0,0,.\n"
                    + "2,0,1,400,24,3,0,1,0,.,1,0,.\n2,95,0,0,0,0,0,2,0,900,0,0,.\n")
    text = tdm_report(str(path), MODEL, seed=1)
    assert "predictions walk the patient's records, which a dose table cannot express: a dose into the central " \
           "compartment (ID 1, row 3, CMT 2)" in text
    assert text.count("recommended:") == 2
    import json

    report = json.loads(tdm_report(str(path), MODEL, seed=1, output="json", hold=7))
    first, second = report["patients"]
    assert first["predictions"]["from"] == "records" and "predictions" not in second
    assert first["posterior_plan"] is None and "CMT 2" in first["posterior_plan_refused"]
    assert second["posterior_plan"] is not None


def test_general__covariates_follow_the_records_as_in_the_data_set_simulation(tmp_path):
    """With a covariate that changes between records (Wang 2019: CL with weight), the walker path's
    predictions at eta = 0 are imapk run DATA.csv's (simulate_dataset: the covariates of the record
    that ends each interval), to 1e-12 relative (the same formulas; numpy's exp on arrays may differ
    from math.exp by an ulp); the reported typical values are the first dose record's."""
    from imapk.dataset_simulation import simulate_dataset

    path = tmp_path / "data.csv"
    path.write_text("ID,TIME,EVID,AMT,II,ADDL,SS,CMT,RATE,DV,MDV,weight [kg]\n"
                    "1,0,1,400,24,9,0,1,0,.,1,60\n"
                    "1,100,0,0,0,0,0,2,0,1500,0,60\n"
                    "1,150,4,400,24,0,0,1,0,.,1,80\n"
                    "1,174,1,400,24,3,0,1,0,.,1,80\n"
                    "1,200,0,0,0,0,0,2,0,1200,0,95\n")
    data = read_dataset(path)
    p = patient_inputs(data.subjects[0], source="data.csv")
    result = map_estimate("wang2019", p.doses, p.observations, covariates=p.covariates, warn=False, n_samples=0)
    predicted = result._predictor.run(result._prior, np.zeros((1, 1))).concentration[0]
    np.testing.assert_allclose(predicted, simulate_dataset(data, "wang2019").prediction, rtol=1e-12)
    from imapk.models import get_model

    assert result.typical["cl"] == get_model("wang2019").typical_params({"weight": 60.0}).cl
