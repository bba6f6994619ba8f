"""simulate_dataset for multi-compartment models (a peripheral compartment, a transit chain) against
independent references: scipy's solve_ivp on the compartmental equations written out below, the
two-compartment closed forms of tests/reference_multicompartment.py (superposition of single doses),
and imapk's own scenario runs for the round trip through `imapk export`.

Tolerances (relative):

* closed form vs walker, :data:`RTOL_CLOSED` = 1e-12: both exact; the walker's matrix exponential
  is good to about 2^j ulps (j squarings, at most 6 for these two-compartment cases) and the
  double-precision closed form to a few ulps times the cancellation of its macro-constant terms
  (measured at most 3.5e-14).
* solve_ivp vs walker, :data:`RTOL_IVP` = 1e-10: DOP853 with rtol 1e-11 and atol 1e-13 mg bounds the
  local error per step; over the few hundred steps of a record's history the global error can grow
  to several times that (measured at most 9.5e-13 on these cases).
* one-compartment closed form vs the general walker on the same structure, 1e-12 (measured 2.8e-13).
* scenario run vs data set walker: 1e-12 for two compartments, 1e-11 with Eechoute's chain (see
  :func:`test_export_round_trip__troughs_of_the_scenario`).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import scipy.integrate

from imapk.dataset_simulation import _Linear, simulate_dataset
from imapk.datasets import read_dataset
from imapk.errors import ImapkError, ScenarioError
from imapk.models import get_model
from imapk.params import PKParams

from reference_multicompartment import superpose, two_cmt_single_dose

RTOL_CLOSED = 1e-12
RTOL_IVP = 1e-10
#: solve_ivp settings of the reference.
IVP_RTOL, IVP_ATOL = 1e-11, 1e-13

#: A two-compartment model with first-order absorption, written out (Eechoute 2012's disposition
#: with imapk's reference liver metastases 0 cm^3: CL 9.12 L/h, Vc 128 L, Q 24.9 L/h, Vp 197 L).
CL, V, Q, VP, KA = 9.12, 128.0, 24.9, 197.0, 0.699
TWO_CMT = PKParams(cl=CL, v=V, ka=KA, q=Q, vp=VP)
TWO_CMT_LAG = PKParams(cl=CL, v=V, ka=KA, q=Q, vp=VP, f=0.8, tlag=0.75)
#: Two compartments with a zero-order input of 1.5 h (RATE -2), and the same behind a 3-compartment chain.
TWO_CMT_D1 = PKParams(cl=CL, v=V, d1=1.5, q=Q, vp=VP)
CHAIN_D1 = PKParams(cl=CL, v=V, d1=1.5, q=Q, vp=VP, ktr=4.0, n_transit=3)
#: Eechoute 2012 without its time-on-therapy factors: 5 transit compartments at ktr 15.8 1/h ahead of
#: the absorption compartment (ka 0.699 1/h), CL 9.12 (1 - 0.000381 LIVM) L/h, Vc 128, Q 24.9, Vp 197.
KTR, N_TR = 15.8, 5
EECHOUTE = replace(get_model("eechoute2012"), time_variation=type(get_model("eechoute2012").time_variation)())


def eechoute_cl(liver):
    return 9.12 * (1.0 - 0.000381 * liver)


def matrix(p: PKParams) -> tuple[np.ndarray, int]:
    """The compartmental matrix A [1/h] of dx/dt = A x + r, written from the model's equations
    (transit_1 .. transit_n -> absorption -> central <-> peripheral), and the central index."""
    n_tr = p.n_transit
    n_abs = int(p.ka is not None)
    c = n_tr + n_abs
    n = c + 1 + int(p.q is not None)
    a = np.zeros((n, n))
    for i in range(n_tr):  # transit i: out at ktr into the next compartment
        a[i, i] -= p.ktr
        a[i + 1, i] += p.ktr
    if n_abs:  # absorption: out at ka into central
        a[n_tr, n_tr] -= p.ka
        a[c, n_tr] += p.ka
    a[c, c] -= p.cl / p.v  # elimination
    if p.q is not None:  # exchange with the peripheral compartment
        a[c, c] -= p.q / p.v
        a[c + 1, c] += p.q / p.v
        a[c, c + 1] += p.q / p.vp
        a[c + 1, c + 1] -= p.q / p.vp
    return a, c


def ode_reference(p_of, times, boluses=(), infusions=(), x0=None, t0=None, before=()):
    """Concentrations [ng/mL] at `times` by solve_ivp (DOP853, rtol 1e-11, atol 1e-13 mg), restarted at
    every discontinuity.

    p_of(t): the PKParams in force on the piece that starts at t (and, for the volume, on the piece that
    ends at an observation); boluses: (time, compartment index, amount [mg]); infusions: (start, end,
    compartment index, rate [mg/h]); x0 at t0 (default: empty body at the first event); observations
    at a time in `before` are taken before the boluses at that time, others after.
    """
    points = sorted({b[0] for b in boluses} | {i[0] for i in infusions} | {i[1] for i in infusions} | set(times))
    t = points[0] if t0 is None else t0
    a0, _ = matrix(p_of(t))
    x = np.zeros(a0.shape[0]) if x0 is None else np.array(x0, dtype=float)
    out = {}
    for point in points:
        if point > t:
            a, _ = matrix(p_of(t))
            r = np.zeros(x.size)
            for start, end, index, rate in infusions:
                if start <= t < end:
                    r[index] += rate
            sol = scipy.integrate.solve_ivp(lambda _, y: a @ y + r, (t, point), x, method="DOP853",
                                            rtol=IVP_RTOL, atol=IVP_ATOL)
            assert sol.success
            x = sol.y[:, -1]
            t = point
        p_left = p_of(np.nextafter(point, -math.inf))
        _, c = matrix(p_left)
        if point in before:
            out[point] = x[c] / p_left.v * 1000.0
        for time, index, amount in boluses:
            if time == point:
                x[index] += amount
        if point in times and point not in before:
            out[point] = x[c] / p_left.v * 1000.0
    return np.array([out[t] for t in times])


def ode_steady_state(p: PKParams, interval, bolus=None, infusion=None):
    """State just before the input of a dose of an infinite train, independently of the walker: the
    one-interval map x -> Phi x + u integrated by solve_ivp column by column, then (I - Phi) x = u solved.

    bolus: (index, amount); infusion: (index, rate, duration), the input starting at the interval's start.
    """
    a, _ = matrix(p)
    n = a.shape[0]

    def one_interval(x, forced):
        x = np.array(x, dtype=float)
        if forced and bolus is not None:
            x[bolus[0]] += bolus[1]
        pieces = [(0.0, interval, 0.0)]
        if forced and infusion is not None:
            pieces = [(0.0, infusion[2], infusion[1]), (infusion[2], interval, 0.0)]
        for lo, hi, rate in pieces:
            if hi > lo:
                r = np.zeros(n)
                if rate:
                    r[infusion[0]] = rate
                x = scipy.integrate.solve_ivp(lambda _, y: a @ y + r, (lo, hi), x, method="DOP853",
                                              rtol=IVP_RTOL, atol=IVP_ATOL * 1e-3).y[:, -1]
        return x

    phi = np.column_stack([one_interval(np.eye(n)[j], False) for j in range(n)])
    u = one_interval(np.zeros(n), True)
    return np.linalg.solve(np.eye(n) - phi, u)


HEADER = "ID,TIME,EVID,AMT,RATE,II,ADDL,SS,CMT\n"


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def simulate(tmp_path, text, model, **kwargs):
    return simulate_dataset(read_dataset(write(tmp_path, text)), model, **kwargs)


def obs_lines(times, ident=1, extra=""):
    return "".join(f"{ident},{t!r},0,.,.,.,.,.,2{extra}\n" for t in times)


def two_cmt(into="depot", d1=0.0, tlag=0.0, f=1.0):
    return lambda dt, amount: two_cmt_single_dose(dt, amount, CL, V, Q, VP, ka=KA, d1=d1, tlag=tlag, into=into, f=f)


# --- two compartments, first-order absorption: closed form and solve_ivp ---------------------------

def test_two_cmt__bolus_into_depot_and_central_with_addl__closed_form(tmp_path):
    """400 mg into CMT 1 daily (ADDL 4) with F 0.8 and a 0.75 h lag, 100 mg into CMT 2 at 30 h (neither
    F nor lag): the superposition of the textbook single-dose forms."""
    obs = [0.5, 1.0, 5.0, 23.9, 30.0, 31.0, 50.0, 100.0, 130.0]
    text = HEADER + "1,0,1,400,0,24,4,0,1\n" + obs_lines([0.5, 1.0, 5.0, 23.9]) + "1,30,1,100,0,0,0,0,2\n" \
        + obs_lines([30.0, 31.0, 50.0, 100.0, 130.0])
    sim = simulate(tmp_path, text, TWO_CMT_LAG)
    oral = superpose(two_cmt(tlag=0.75, f=0.8), 24.0 * np.arange(5), np.full(5, 400.0), np.array(obs))
    iv = superpose(two_cmt(into="central"), [30.0], [100.0], np.array(obs))
    np.testing.assert_allclose(sim.prediction, oral + iv, rtol=RTOL_CLOSED)
    np.testing.assert_allclose(sim.trough_time, [0.0, 24.0, 30.0, 48.0, 72.0, 96.0])  # in the order processed
    trough = superpose(two_cmt(tlag=0.75, f=0.8), 24.0 * np.arange(5), np.full(5, 400.0), sim.trough_time[1:])
    trough += superpose(two_cmt(into="central"), [30.0], [100.0], sim.trough_time[1:]) * (sim.trough_time[1:] > 30.0)
    np.testing.assert_allclose(sim.trough[1:], trough, rtol=RTOL_CLOSED)


def test_two_cmt__zero_order_inputs_into_depot_and_central__closed_form(tmp_path):
    """RATE 200 mg/h into CMT 1 (2 h into the depot) and RATE 50 mg/h into CMT 2 (4 h into central)."""
    obs = [0.5, 2.0, 3.0, 10.0, 26.0, 40.0]
    text = HEADER + "1,0,1,400,200,0,0,0,1\n" + obs_lines(obs[:4]) + "1,24,1,200,50,0,0,0,2\n" + obs_lines(obs[4:])
    sim = simulate(tmp_path, text, TWO_CMT)
    expected = superpose(two_cmt(d1=2.0), [0.0], [400.0], np.array(obs))
    expected += superpose(two_cmt(into="central", d1=4.0), [24.0], [200.0], np.array(obs))
    np.testing.assert_allclose(sim.prediction, expected, rtol=RTOL_CLOSED)
    ode = ode_reference(lambda t: TWO_CMT, obs, infusions=[(0.0, 2.0, 0, 200.0), (24.0, 28.0, 1, 50.0)])
    np.testing.assert_allclose(sim.prediction, ode, rtol=RTOL_IVP)


def test_two_cmt__ss1_with_lag_replaces_the_state__closed_form(tmp_path):
    """An SS 1 dose at 100 h (lag 0.75 h, F 0.8) forgets a central bolus at 0 h: the state is the infinite
    train's (superposed over 3000 past doses: beta = 0.0245 1/h, so the omitted tail is e^-1760)."""
    obs = [100.0, 100.5, 101.0, 110.0, 124.0, 130.0]
    text = HEADER + "1,0,1,5000,0,0,0,0,2\n" + "1,100,1,400,0,24,0,1,1\n" + obs_lines(obs)
    sim = simulate(tmp_path, text, TWO_CMT_LAG)
    times = 100.0 - 24.0 * np.arange(3000)
    expected = superpose(two_cmt(tlag=0.75, f=0.8), times, np.full(times.size, 400.0), np.array(obs))
    np.testing.assert_allclose(sim.prediction, expected, rtol=RTOL_CLOSED)


def test_two_cmt__ss2_infusion_added_to_the_state__closed_form(tmp_path):
    """SS 2 of a 12-hourly 4 h infusion into central (RATE 100 mg/h) keeps an earlier oral dose."""
    obs = [50.0, 52.0, 54.0, 60.0, 70.0]
    text = HEADER + "1,0,1,1000,0,0,0,0,1\n" + "1,50,1,400,100,12,0,2,2\n" + obs_lines(obs)
    sim = simulate(tmp_path, text, TWO_CMT)
    times = 50.0 - 12.0 * np.arange(6000)
    expected = superpose(two_cmt(into="central", d1=4.0), times, np.full(times.size, 400.0), np.array(obs))
    expected += superpose(two_cmt(), [0.0], [1000.0], np.array(obs))
    np.testing.assert_allclose(sim.prediction, expected, rtol=RTOL_CLOSED)


def test_two_cmt__ss1_zero_order_with_lag_running_at_the_record(tmp_path):
    """A lagged (0.75 h) 2 h depot input every 24 h at steady state: at the SS record the train's latest
    input is still running (it began 23.25 h before and ended), and the record's own starts 0.75 h later.
    Reference: the steady state by solve_ivp's one-interval map, then solve_ivp forward."""
    obs = [0.0, 0.5, 1.0, 2.0, 3.0, 12.0, 24.0]
    text = HEADER + "1,0,1,500,250,24,0,1,1\n" + obs_lines(obs)
    sim = simulate(tmp_path, text, TWO_CMT_LAG)
    # amount 400 mg (F 0.8) over 400/250 = 1.6 h
    x_ss = ode_steady_state(TWO_CMT_LAG, 24.0, infusion=(0, 250.0, 1.6))  # at an input start (t = 0.75 - 24)
    expected = ode_reference(lambda t: TWO_CMT_LAG, obs, infusions=[(-23.25, -21.65, 0, 250.0), (0.75, 2.35, 0, 250.0)],
                             x0=x_ss, t0=-23.25)
    np.testing.assert_allclose(sim.prediction, expected, rtol=RTOL_IVP)


# --- transit chain (Eechoute 2012's structure) and zero-order models: solve_ivp ---------------------

def eechoute_params(liver=0.0):
    return PKParams(cl=eechoute_cl(liver), v=128.0, ka=0.699, q=24.9, vp=197.0, ktr=KTR, n_transit=N_TR)


def test_eechoute2012_structure__boluses_infusions_addl_equal_times(tmp_path):
    """Eechoute 2012 (no time factors): 400 mg daily into CMT 1 (the first transit compartment) with ADDL,
    a 100 mg bolus and a 3 h infusion into CMT 2, and observations before and after a central bolus
    written at the same time as an additional dose (48 h)."""
    cov = ",0"
    text = (HEADER.strip() + ",liver_metastases [cm^3]\n" + "1,0,1,400,0,24,3,0,1,0\n"
            + obs_lines([0.25, 1.0, 3.0, 10.0], extra=cov) + "1,30,1,100,0,0,0,0,2,0\n" + obs_lines([30.0], extra=cov)
            + "1,40,1,300,100,0,0,0,2,0\n" + obs_lines([41.0, 43.0, 48.0], extra=cov)
            + "1,48,1,100,0,0,0,0,2,0\n" + obs_lines([48.0, 48.5, 100.0], extra=cov))
    sim = simulate(tmp_path, text, EECHOUTE)
    p = eechoute_params()
    c = N_TR + 1
    obs = [0.25, 1.0, 3.0, 10.0, 30.0, 41.0, 43.0, 48.0, 48.5, 100.0]
    boluses = [(t, 0, 400.0) for t in (0.0, 24.0, 48.0, 72.0)] + [(30.0, c, 100.0), (48.0, c, 100.0)]
    infusions = [(40.0, 43.0, c, 100.0)]
    expected = ode_reference(lambda t: p, obs, boluses=boluses, infusions=infusions)
    before = ode_reference(lambda t: p, [48.0], boluses=boluses, infusions=infusions, before={48.0})
    np.testing.assert_allclose(sim.prediction, np.insert(expected, 7, before), rtol=RTOL_IVP)
    # the observation written before the central bolus at 48 h sees the state without it (a head dose
    # does not move the central amount at once); the one written after sees 100 mg / 128 L more
    assert sim.prediction[8] - sim.prediction[7] == pytest.approx(100.0 / 128.0 * 1000.0, rel=1e-12)
    assert sim.trough_time.tolist() == [0.0, 24.0, 30.0, 40.0, 48.0, 48.0, 72.0]
    troughs = ode_reference(lambda t: p, [24.0, 48.0, 72.0], boluses=boluses, infusions=infusions,
                            before={24.0, 48.0, 72.0})
    np.testing.assert_allclose(sim.trough[[1, 4, 6]], troughs, rtol=RTOL_IVP)
    assert sim.trough[4] == sim.trough[5]  # the additional dose and the record at 48 h: the left limit of both


def test_eechoute2012_structure__covariate_change_next_record_governs(tmp_path):
    """Liver metastases 0 cm^3 up to the record at 48 h, 1000 cm^3 from the record at 72 h: CL is
    9.12 L/h on (., 48] and 9.12 (1 - 0.381) L/h from 48 h on (next observation carried backward)."""
    rows = [(0.0, 1, 0), (24.0, 1, 0), (48.0, 0, 0), (60.0, 0, 1000), (72.0, 0, 1000), (72.0, 1, 1000), (96.0, 0, 1000)]
    text = HEADER.strip() + ",liver_metastases [cm^3]\n" + "".join(
        f"1,{t},{e},{400 if e else '.'},0,0,0,0,{1 if e else 2},{m}\n" for t, e, m in rows)
    sim = simulate(tmp_path, text, EECHOUTE)
    obs = [48.0, 60.0, 72.0, 96.0]
    expected = ode_reference(lambda t: eechoute_params(0.0 if t < 48.0 else 1000.0), obs,
                             boluses=[(t, 0, 400.0) for t in (0.0, 24.0, 72.0)], before={72.0})
    np.testing.assert_allclose(sim.prediction, expected, rtol=RTOL_IVP)
    assert sim.parameters["1"].cl == pytest.approx(9.12)


def test_eechoute2012_structure__ss1_ss2_with_lag_and_resets(tmp_path):
    """A lag of 0.5 h (explicit PKParams of the Eechoute structure): an SS 1 train every 12 h, an EVID 3
    reset at 30 h (cancels the ADDL doses), an SS 2 train added at 50 h, an EVID 4 reset-and-dose at 80 h."""
    p = replace(eechoute_params(), tlag=0.5)
    obs = [0.0, 0.5, 1.0, 6.0, 29.0, 40.0, 50.0, 50.4, 51.0, 60.0, 80.0, 81.0, 90.0]
    text = (HEADER + "1,0,1,200,0,12,5,1,1\n" + obs_lines([0.0, 0.5, 1.0, 6.0, 29.0]) + "1,30,3,.,.,.,.,.,.\n"
            + "1,35,1,150,0,0,0,0,2\n" + obs_lines([40.0]) + "1,50,1,400,0,24,0,2,1\n"
            + obs_lines([50.0, 50.4, 51.0, 60.0, 80.0]) + "1,80,4,300,0,0,0,0,1\n" + obs_lines([81.0, 90.0]))
    sim = simulate(tmp_path, text, p)
    c = N_TR + 1
    ss12 = ode_steady_state(p, 12.0, bolus=(0, 200.0))  # at an input time: 0.5 - 12 h
    first = ode_reference(lambda t: p, obs[:5], boluses=[(t, 0, 200.0) for t in (-11.5, 0.5, 12.5, 24.5)],
                          x0=ss12, t0=-11.5)
    np.testing.assert_allclose(sim.prediction[:5], first, rtol=RTOL_IVP)
    # after the reset at 30 h: a central bolus at 35 h, then at 50 h the train of 400 mg / 24 h added
    ss24 = ode_steady_state(p, 24.0, bolus=(0, 400.0))  # state at 26.5 h (an input time of the train)
    train = ode_reference(lambda t: p, obs[5:11], boluses=[(26.5, 0, 400.0), (50.5, 0, 400.0)], x0=ss24, t0=26.5)
    central = ode_reference(lambda t: p, obs[5:11], boluses=[(35.0, c, 150.0)], t0=30.0)
    np.testing.assert_allclose(sim.prediction[5:11], train * (np.array(obs[5:11]) >= 50.0) + central, rtol=RTOL_IVP)
    last = ode_reference(lambda t: p, obs[11:], boluses=[(80.5, 0, 300.0)], t0=80.0)
    np.testing.assert_allclose(sim.prediction[11:], last, rtol=RTOL_IVP)


@pytest.mark.parametrize("params", [TWO_CMT_D1, CHAIN_D1], ids=["two-cmt", "chain"])
def test_zero_order_models__rate_minus_2_and_infusions(tmp_path, params):
    """RATE -2 on CMT 1: D1 = 1.5 h into the head of the chain (central without one); RATE 80 mg/h on CMT 1
    and a CMT 2 bolus; and an SS 1 RATE -2 train."""
    obs = [0.5, 1.5, 4.0, 24.0, 25.0, 30.0, 48.0]
    text = (HEADER + "1,0,1,400,-2,0,0,0,1\n" + obs_lines(obs[:3]) + "1,24,1,400,80,0,0,0,1\n" + obs_lines(obs[3:5])
            + "1,30,1,50,0,0,0,0,2\n" + obs_lines(obs[5:]))
    sim = simulate(tmp_path, text, params)
    c = params.n_transit
    expected = ode_reference(lambda t: params, obs, boluses=[(30.0, c, 50.0)],
                             infusions=[(0.0, 1.5, 0, 400.0 / 1.5), (24.0, 29.0, 0, 80.0)])
    np.testing.assert_allclose(sim.prediction, expected, rtol=RTOL_IVP)
    ss_obs = [0.0, 1.0, 12.0]
    sim = simulate(tmp_path, HEADER + "1,0,1,400,-2,24,0,1,1\n" + obs_lines(ss_obs), params)
    x_ss = ode_steady_state(params, 24.0, infusion=(0, 400.0 / 1.5, 1.5))
    expected = ode_reference(lambda t: params, ss_obs, infusions=[(0.0, 1.5, 0, 400.0 / 1.5)], x0=x_ss, t0=0.0)
    np.testing.assert_allclose(sim.prediction, expected, rtol=RTOL_IVP)


def test_chain_zero_order__bolus_into_the_head_is_defined(tmp_path):
    """With a transit chain, a bolus into CMT 1 of a zero-order model enters the first transit compartment."""
    obs = [1.0, 5.0, 24.0]
    sim = simulate(tmp_path, HEADER + "1,0,1,400,0,0,0,0,1\n" + obs_lines(obs), CHAIN_D1)
    np.testing.assert_allclose(sim.prediction, ode_reference(lambda t: CHAIN_D1, obs, boluses=[(0.0, 0, 400.0)]),
                               rtol=RTOL_IVP)


# --- the general path reduces to the one-compartment closed form ------------------------------------

@pytest.mark.parametrize("params", [PKParams(cl=14.3, v=347.0, ka=0.609, tlag=0.5, f=0.9),
                                    PKParams(cl=14.3, v=347.0, d1=1.5)], ids=["first-order", "zero-order"])
def test_general_path_equals_the_one_compartment_closed_form(tmp_path, monkeypatch, params):
    """The matrix-exponential walker on the one-compartment structure gives the closed form's values to
    1e-12 (both exact; the series is good to 2^j ulps with j <= 6 squarings here)."""
    import imapk.dataset_simulation as module

    rate = "-2" if params.ka is None else "0"
    text = (HEADER + f"1,0,1,400,{rate},24,6,0,1\n" + obs_lines([1.0, 10.0, 30.0]) + "1,40,1,100,25,0,0,0,2\n"
            + obs_lines([41.0, 50.0]) + f"1,60,1,300,{rate},12,0,1,1\n" + obs_lines([60.0, 61.0, 100.0, 200.0]))
    closed = simulate(tmp_path, text, params)
    structure = (0, int(params.ka is not None), 0)
    monkeypatch.setattr(module, "_kinetics_for", lambda p, kernels: _Linear(structure, kernels))
    general = simulate(tmp_path, text, params)
    np.testing.assert_allclose(general.prediction, closed.prediction, rtol=1e-12)
    np.testing.assert_allclose(general.trough, closed.trough, rtol=1e-12, atol=1e-12)


# --- the round trip through a scenario --------------------------------------------------------------

SCENARIO = """
[scenario]
title = "{title}"
[model]
parameter_set = "{model}"
{extra}
[population]
size = 3
iiv = false
{covariates}
[schedule.steady_state]
dose = "300 mg"
interval = "24 h"
[[schedule.phases]]
dose = "400 mg"
days = 20
[[schedule.phases]]
dose = "300 mg"
interval = "12 h"
days = 10
[[schedule.holds]]
start_day = 8
days = 3
[schedule]
missed_days = [15]
"""


@pytest.mark.parametrize("kind", ["eechoute2012", "inline"])
def test_export_round_trip__troughs_of_the_scenario(tmp_path, kind):
    """`imapk export` of a multi-compartment scenario (a steady-state start, a hold, a missed dose, a
    change of dose and interval), then simulate_dataset: run_scenario's troughs.

    Both are exact and use the same series exponential; only the steps differ (the walker steps from
    record to record, 24 h through a hold; the engine from input to input, 72 h over the hold), so
    rounding alone separates them: each exponential is good to about 2^j ulps, j the squarings
    (module docstring of imapk.engine._linear_kernels). Two compartments (largest rate 0.5 1/h,
    j <= 6): 1e-12, measured 1.9e-13. With Eechoute's chain (ktr 15.8 1/h, j = 11-13 for 24-72 h,
    2^13 ulps = 1.8e-12): 1e-11, measured 2.0e-12 on the troughs after the hold, 1e-15 elsewhere."""
    from imapk.cli import main
    from imapk.scenario import run_scenario

    if kind == "eechoute2012":
        text = SCENARIO.format(
            title="Eechoute 2012 without time factors", model="eechoute2012",
            extra="[model.time_varying]\nka = {amplitude = 0}\nf = {amplitude = 0}",
            covariates="[population.covariates]\nliver_metastases = \"250 cm^3\"")
        model, kwargs, rtol = "eechoute2012", {"time_variation": "none"}, 1e-11
    else:
        text = SCENARIO.format(
            title="inline 2-cmt", model="inline",
            extra="[model.parameters]\ncl = \"9.12 L/h\"\nv = \"128 L\"\nka = \"0.699 1/h\"\nq = \"24.9 L/h\"\n"
                  "vp = \"197 L\"\ntlag = \"0.5 h\"\nf = 0.9", covariates="")
        model, kwargs, rtol = PKParams(cl=9.12, v=128.0, ka=0.699, q=24.9, vp=197.0, tlag=0.5, f=0.9), {}, 1e-12
    scenario = write(tmp_path, text, "s.toml")
    data = tmp_path / "d.csv"
    assert main(["export", str(scenario), "-o", str(data)]) == 0
    sim = simulate_dataset(read_dataset(data), model, **kwargs)
    troughs = run_scenario(scenario, as_dataset=False)["trough"].values
    assert troughs.shape[0] == 3 and troughs.shape[1] > 30
    np.testing.assert_allclose(sim.prediction.reshape(troughs.shape), troughs, rtol=rtol, atol=0)


# --- refusals ---------------------------------------------------------------------------------------

def test_time_on_therapy_model__refused_by_default(tmp_path):
    path = write(tmp_path, HEADER.strip() + ",liver_metastases [cm^3]\n1,0,1,400,0,0,0,0,1,0\n")
    with pytest.raises(ImapkError, match=r"model: model eechoute2012: ka changes continuously with time on therapy.*"
                                         r"time_variation='none'"):
        simulate_dataset(read_dataset(path), "eechoute2012")
    with pytest.raises(ImapkError, match="time_variation: unknown time variation"):
        simulate_dataset(read_dataset(path), "eechoute2012", time_variation="off")


def test_time_variation_none__the_asymptotic_model(tmp_path):
    """eechoute2012 with time_variation='none' is Eechoute's structure at ka 0.699 1/h and F 1."""
    text = HEADER.strip() + ",liver_metastases [cm^3]\n1,0,1,400,0,0,0,0,1,100\n" + obs_lines([2.0, 24.0], extra=",100")
    sim = simulate(tmp_path, text, "eechoute2012", time_variation="none")
    p = eechoute_params(100.0)
    np.testing.assert_allclose(sim.prediction, ode_reference(lambda t: p, [2.0, 24.0], boluses=[(0.0, 0, 400.0)]),
                               rtol=RTOL_IVP)
    assert sim.model == "eechoute2012"


def test_zero_order_two_cmt__bolus_into_cmt1_refused(tmp_path):
    with pytest.raises(ScenarioError, match=r"row 2, column RATE: the model has zero-order input and no depot"):
        simulate(tmp_path, HEADER + "1,0,1,400,0,0,0,0,1\n", TWO_CMT_D1)


def test_cmt3_refused_with_the_meaning_of_cmt(tmp_path):
    with pytest.raises(ScenarioError, match=r"row 2, column CMT: unknown CMT code .*got '3'.*1 \(the dose "
                                            r"compartment"):
        simulate(tmp_path, HEADER + "1,0,1,400,0,0,0,0,3\n", TWO_CMT)


def test_steady_state_that_does_not_exist_refused(tmp_path):
    """Elimination so slow that 2^64 intervals do not reach the plateau: named on the record's II."""
    slow = PKParams(cl=1e-25, v=128.0, ka=0.699, q=24.9, vp=197.0)
    with pytest.raises(ScenarioError, match=r"row 2, column II: the steady state does not exist"):
        simulate(tmp_path, HEADER + "1,0,1,400,0,24,0,1,1\n", slow)


def test_plain_and_compiled_kernels_agree(tmp_path, monkeypatch):
    """A simulation runs its first exponentials as plain Python while numba is not loaded (a small data
    set then costs no numba import): the same operations as the compiled kernels, so the same values
    (to 1e-15: the compiler may pick other but equally rounded instruction sequences)."""
    import imapk.dataset_simulation as module
    import imapk.engine._numba as numba_switch

    text = HEADER + "1,0,1,400,0,24,3,1,1\n" + obs_lines([1.0, 30.0, 50.0]) + "1,60,1,100,20,0,0,0,2\n" + obs_lines([70.0])
    params = PKParams(cl=CL, v=V, ka=KA, q=Q, vp=VP, ktr=KTR, n_transit=N_TR)
    results = {}
    for loaded in (True, False):
        monkeypatch.setattr(numba_switch, "numba_loaded", lambda loaded=loaded: loaded)
        monkeypatch.setattr(module, "PLAIN_EXPONENTIALS", 10**9)
        assert (module._Kernels().module is module._Kernels.compiled()) == loaded
        results[loaded] = simulate(tmp_path, text, params).prediction
    np.testing.assert_allclose(results[False], results[True], rtol=1e-15, atol=0)


def test_chain_first_order__infusion_into_the_head_with_lag_and_ss(tmp_path):
    """Eechoute's structure with F 0.8 and a 0.5 h lag: RATE 200 mg/h on CMT 1 (F AMT / RATE = 1.6 h into
    the first transit compartment, from 0.5 h), and an SS 1 train of the same input every 24 h whose
    latest input (lagged) is still to come at the record."""
    p = PKParams(cl=CL, v=V, ka=KA, q=Q, vp=VP, ktr=KTR, n_transit=N_TR, f=0.8, tlag=0.5)
    obs = [0.5, 1.0, 2.0, 5.0, 24.0, 30.0]
    sim = simulate(tmp_path, HEADER + "1,0,1,400,200,0,0,0,1\n" + obs_lines(obs), p)
    expected = ode_reference(lambda t: p, obs, infusions=[(0.5, 2.1, 0, 200.0)], t0=0.0)
    np.testing.assert_allclose(sim.prediction, expected, rtol=RTOL_IVP)
    sim = simulate(tmp_path, HEADER + "1,0,1,400,200,24,0,1,1\n" + obs_lines(obs), p)
    x_ss = ode_steady_state(p, 24.0, infusion=(0, 200.0, 1.6))  # at an input start: 0.5 - 24 h
    expected = ode_reference(lambda t: p, obs, infusions=[(-23.5, -21.9, 0, 200.0), (0.5, 2.1, 0, 200.0)],
                             x0=x_ss, t0=-23.5)
    np.testing.assert_allclose(sim.prediction, expected, rtol=RTOL_IVP)


def test_occasions__two_compartment_model_with_a_chain(tmp_path):
    """A model with an occasion (sampled on day 29, in force from day 2 under the default timing, i.e.
    24 h after the first dose): CL 9.12 -> 12 L/h and Vc 128 -> 150 L at 24 h; the trough at 24 h is a
    left limit, so it keeps Vc 128 L."""
    from imapk.models.base import PopulationModel

    def typical(covariates, occasion):
        return {"cl": (9.12, 12.0)[occasion], "v": (128.0, 150.0)[occasion], "q": Q, "vp": VP, "ka": KA, "ktr": 3.0}

    model = PopulationModel(name="occasions", title="test", citation="test", population="-", typical=typical,
                            occasion_days=(29,), n_transit=2)
    obs = [12.0, 24.0, 30.0, 48.0]
    text = HEADER + "1,0,1,400,0,24,2,0,1\n" + obs_lines(obs)
    sim = simulate(tmp_path, text, model)
    first, later = model.typical_params({}, 0), model.typical_params({}, 1)
    expected = ode_reference(lambda t: first if t < 24.0 else later, obs,
                             boluses=[(t, 0, 400.0) for t in (0.0, 24.0, 48.0)], before={24.0, 48.0})
    np.testing.assert_allclose(sim.prediction, expected, rtol=RTOL_IVP)
    np.testing.assert_allclose(sim.trough[1:], expected[[1, 3]], rtol=RTOL_IVP)
