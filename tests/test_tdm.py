"""MAP estimation, off-trough conversion and next-step planning (imapk.tdm).

References are independent of imapk's engine: concentrations by the superposition of single-dose
closed-form solutions written here, and by scipy ``solve_ivp`` of the two ODEs; objectives written
here from the residual error models' definitions; Wang 2009's published deviations.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import minimize
from scipy.special import log_ndtr

from imapk.errors import ImapkError
from imapk.models import get_model
from imapk.schedule import Phase, Schedule
from imapk.tdm.offtrough import WANG_KE
from imapk.tdm import (
    FitWarning,
    Observations,
    dose_table,
    loglinear_trough,
    map_estimate,
    model_trough,
    plan_next_step,
)

SEED = 20260415


def superposition(t, dose_times, amounts, cl, v, ka):
    """C(t) [ng/mL] of a one-compartment first-order-absorption model: sum of single-dose solutions."""
    t = np.atleast_1d(np.asarray(t, dtype=float))
    k = cl / v
    dt = t[:, None] - np.asarray(dose_times)[None, :]
    single = np.where(dt > 0, ka / (v * (ka - k)) * (np.exp(-k * np.clip(dt, 0, None)) - np.exp(-ka * np.clip(dt, 0, None))), 0.0)
    return 1000.0 * single @ np.asarray(amounts, dtype=float)


def ode_concentrations(t_obs, dose_times, amounts, cl, v, ka):
    """C at `t_obs` [ng/mL] by solve_ivp of d(depot)/dt = -ka depot, d(central)/dt = ka depot - CL/V central."""
    rhs = lambda _, y: [-ka * y[0], ka * y[0] - cl / v * y[1]]
    state = np.zeros(2)
    out = np.empty(len(t_obs))
    edges = list(dose_times) + [max(t_obs) + 1.0]
    for i, t0 in enumerate(dose_times):
        state = state + np.array([amounts[i], 0.0])
        t1 = edges[i + 1]
        inside = [j for j, t in enumerate(t_obs) if t0 < t <= t1]
        sol = solve_ivp(rhs, (t0, t1), state, method="LSODA", rtol=1e-11, atol=1e-10,
                        t_eval=[t_obs[j] for j in inside] + [t1])
        for n, j in enumerate(inside):
            out[j] = 1000.0 * sol.y[1, n] / v
        state = sol.y[:, -1]
    return out


def neg_log_posterior(eta, pred, y, prop, add, omega_inv):
    sd = np.sqrt((prop * pred) ** 2 + add**2)
    return float(np.sum(np.log(sd) + 0.5 * ((y - pred) / sd) ** 2) + 0.5 * eta @ omega_inv @ eta)


def daily(dose, days):
    return Schedule(phases=(Phase(dose=dose, days=days),)).lower()


# --- no observations -------------------------------------------------------------------------------------------


def test_map__no_observations_is_typical_patient():
    model = get_model("widmer2006")
    fit = map_estimate(model, daily(400, 30), None)
    assert np.array_equal(fit.eta, np.zeros(2))
    typical = model.typical_params()
    assert fit.parameters["cl"] == typical.cl and fit.parameters["v"] == typical.v and fit.parameters["ka"] == typical.ka
    np.testing.assert_allclose(fit.eta_covariance, model.omega_matrix, rtol=1e-12)
    # The sampled SDs are the prior's to Monte Carlo error (1000 samples: ~3 % on an SD).
    np.testing.assert_allclose(fit.eta_sd, np.sqrt(np.diag(model.omega_matrix)), rtol=0.1)
    assert np.all(np.abs(fit.shrinkage) < 0.1)
    z = 1.6448536269514722
    lo, hi = fit.interval_laplace["cl"]
    assert lo == pytest.approx(14.3 * math.exp(-z * 0.356), rel=1e-12)
    assert hi == pytest.approx(14.3 * math.exp(z * 0.356), rel=1e-12)


def test_map__no_observations_with_covariates_is_typical_patient():
    covariates = {"weight": 55.0, "age": 70.0, "sex": "female", "disease": "GIST"}
    model = get_model("widmer2006_covariates")
    fit = map_estimate(model, daily(400, 10), (np.empty(0), np.empty(0)), covariates=covariates)
    assert fit.parameters["cl"] == pytest.approx(model.typical_params(covariates).cl, rel=1e-15)


# --- the mode against brute force ------------------------------------------------------------------------------


def test_map__mode_matches_solve_ivp_minimum__two_etas():
    """widmer2006 (CL, V correlated; proportional error): the mode equals scipy Nelder-Mead on the
    same posterior written here with solve_ivp predictions, within 2e-4 in each eta."""
    model = get_model("widmer2006")
    dose_times, amounts = np.arange(20) * 24.0, np.full(20, 400.0)
    t_obs = np.array([50.0, 211.0, 452.0])
    y = np.array([1850.0, 1320.0, 610.0])
    fit = map_estimate(model, (dose_times, amounts), (t_obs, y), warn=False)
    omega_inv = np.linalg.inv(model.omega_matrix)

    def objective(eta):
        pred = ode_concentrations(t_obs, dose_times, amounts, 14.3 * math.exp(eta[0]), 347.0 * math.exp(eta[1]), 0.609)
        return neg_log_posterior(eta, pred, y, 0.3138, 0.0, omega_inv)

    ref = minimize(objective, np.zeros(2), method="Nelder-Mead", options={"xatol": 1e-7, "fatol": 1e-11, "maxiter": 2000})
    assert ref.success
    np.testing.assert_allclose(fit.eta, ref.x, atol=2e-4)
    assert fit.objective == pytest.approx(ref.fun + 3 * 0.0, abs=1e-5)  # same constants dropped on both sides


def test_map__mode_matches_dense_grid__one_eta_combined_error():
    """wang2019 (one eta on CL; proportional 40.6 % + additive 3.137 ng/mL): the mode equals the
    minimum over a grid of step 1e-5 in eta (superposition predictions), within 2e-5."""
    model = get_model("wang2019")
    cov = {"weight": 62.0}
    typical = model.typical_params(cov)
    dose_times, amounts = np.arange(15) * 24.0, np.full(15, 400.0)
    t_obs = np.array([165.0, 335.0])
    y = np.array([900.0, 1500.0])
    fit = map_estimate(model, (dose_times, amounts), (t_obs, y), covariates=cov, warn=False)
    omega_inv = np.linalg.inv(model.omega_matrix)
    coarse = np.linspace(-1.5, 1.5, 3001)
    values = [neg_log_posterior(np.array([e]), superposition(t_obs, dose_times, amounts, typical.cl * math.exp(e), typical.v,
                                                             typical.ka), y, 0.406, 3.137, omega_inv) for e in coarse]
    e0 = coarse[int(np.argmin(values))]
    fine = np.linspace(e0 - 1e-3, e0 + 1e-3, 201)
    values = [neg_log_posterior(np.array([e]), superposition(t_obs, dose_times, amounts, typical.cl * math.exp(e), typical.v,
                                                             typical.ka), y, 0.406, 3.137, omega_inv) for e in fine]
    assert fit.eta[0] == pytest.approx(fine[int(np.argmin(values))], abs=2e-5)


def test_map__inputs_in_three_forms_agree():
    schedule = Schedule(phases=(Phase(dose=400, days=10),))
    obs = ([100.0, 215.0], [1500.0, 900.0])
    a = map_estimate("widmer2006", schedule, obs, warn=False)
    b = map_estimate("widmer2006", schedule.lower(), Observations.from_arrays(*obs), warn=False)
    c = map_estimate("widmer2006", (np.arange(10) * 24.0, 400.0), obs, warn=False)
    np.testing.assert_array_equal(a.eta, b.eta)
    np.testing.assert_allclose(a.eta, c.eta, atol=1e-12)


# --- coverage -------------------------------------------------------------------------------------------------


def simulate_patients(model_name: str, n: int, seed: int):
    """`n` patients of `model_name` on 400 mg daily for 29 days: true eta from the model's Omega,
    2-3 levels each 18-30 h after a dose on days 8-29, proportional residual error; superposition."""
    model = get_model(model_name)
    rng = np.random.default_rng(seed)
    typical = model.typical_params()
    chol = np.linalg.cholesky(model.omega_matrix)
    dose_times, amounts = np.arange(29) * 24.0, np.full(29, 400.0)
    patients = []
    for _ in range(n):
        eta = chol @ rng.standard_normal(2)
        cl, v = typical.cl * math.exp(eta[0]), typical.v * math.exp(eta[1])
        m = int(rng.integers(2, 4))
        days = np.sort(rng.choice(np.arange(7, 28), size=m, replace=False))
        t_obs = days * 24.0 + rng.uniform(18.0, 30.0, size=m)
        c = superposition(t_obs, dose_times, amounts, cl, v, typical.ka)
        y = c * (1.0 + model.residual.proportional * rng.standard_normal(m))
        y = np.maximum(y, 1.0)  # a lab never reports <= 0 ng/mL here (0.1 % of draws)
        patients.append((cl, v, t_obs, y))
    return model, (dose_times, amounts), patients


def coverage_bounds(n: int, coverage: float, checks: int) -> tuple[int, int]:
    """Acceptance region [low, high] of the count of hits among `n` independent patients when each
    interval covers with probability `coverage`: exact binomial quantiles at a two-sided false-alarm
    probability of 0.27 % (that of one +-3 SD check) shared by `checks` checks (Bonferroni)."""
    from scipy.stats import binom

    alpha = 0.0027 / checks
    return int(binom.ppf(alpha / 2, n, coverage)), int(binom.isf(alpha / 2, n, coverage))


def test_map__intervals_cover_true_clearance():
    """300 simulated widmer2006 patients: the 90 % intervals of CL (sampled and Laplace) and of V
    (sampled) contain the true value in 90 % of patients. Each count is checked against the exact
    binomial acceptance region of 300 patients, the three checks sharing a 0.27 % false-alarm
    probability (Bonferroni: each at 0.09 %, about +-3.3 SD: 252-286 hits): three separate 3-SD
    checks would fail by chance for 0.8 % of seeds. Measured: 272, 269 and 276 hits (0.907, 0.897,
    0.920); 300 fits take about 25 s, so the region is not narrowed with more patients."""
    n = 300
    model, doses, patients = simulate_patients("widmer2006", n, SEED)
    table = dose_table(*doses)
    hits = {"cl sampled": 0, "cl laplace": 0, "v sampled": 0}
    for cl, v, t_obs, y in patients:
        fit = map_estimate(model, table, (t_obs, y), warn=False, n_samples=500)
        lo, hi = fit.interval_sampled["cl"]
        hits["cl sampled"] += lo <= cl <= hi
        lo, hi = fit.interval_laplace["cl"]
        hits["cl laplace"] += lo <= cl <= hi
        lo, hi = fit.interval_sampled["v"]
        hits["v sampled"] += lo <= v <= hi
    low, high = coverage_bounds(n, 0.9, checks=len(hits))
    for kind, count in hits.items():
        assert low <= count <= high, (kind, count, (low, high))


# --- censoring, warnings, validation -----------------------------------------------------------------------------


def test_map__blq_observation_pushes_clearance_up():
    table = daily(400, 20)
    t = np.array([192.0, 476.0])
    with_blq = map_estimate("widmer2006", table, Observations.from_arrays(t, [1000.0, np.nan], [False, True], 500.0), warn=False)
    without = map_estimate("widmer2006", table, ([192.0], [1000.0]), warn=False)
    assert with_blq.parameters["cl"] > 1.05 * without.parameters["cl"]
    assert np.isnan(with_blq.iwres[1])
    assert with_blq.prediction[1] < 900.0  # pulled towards the limit


def test_map__blq_objective_is_the_m3_likelihood():
    """U at the mode equals (2) for the measured level plus -log Phi((LLOQ - C)/sd) for the censored
    one plus the prior, written here with superposition predictions."""
    model = get_model("widmer2006")
    dose_times, amounts = np.arange(20) * 24.0, np.full(20, 400.0)
    t = np.array([192.0, 476.0])
    fit = map_estimate(model, (dose_times, amounts), Observations.from_arrays(t, [1000.0, 0.0], [False, True], 500.0),
                       warn=False)
    c = superposition(t, dose_times, amounts, fit.parameters["cl"], fit.parameters["v"], 0.609)
    sd = 0.3138 * c
    expected = (math.log(sd[0]) + 0.5 * ((1000.0 - c[0]) / sd[0]) ** 2 - log_ndtr((500.0 - c[1]) / sd[1])
                + 0.5 * fit.eta @ np.linalg.inv(model.omega_matrix) @ fit.eta)
    assert fit.objective == pytest.approx(expected, rel=1e-9)


def fit_warnings(*args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = map_estimate(*args, **kwargs)
    messages = [str(w.message) for w in caught if issubclass(w.category, FitWarning)]
    assert len(messages) == len(fit.warnings)
    return messages


def test_map__poor_fit_warns():
    messages = fit_warnings("widmer2006", daily(400, 10), ([100.0, 215.0], [1500.0, 30000.0]))
    assert any("|IWRES| > 3" in m for m in messages)
    assert any("prior's tail" in m for m in messages)


def test_map__levels_jointly_far_warn():
    """Levels a tenth of what the model expects: with a proportional error no single IWRES can pass
    -1/0.3138 = -3.2, but together they do not fit."""
    messages = fit_warnings("widmer2006", daily(400, 30), ([200.0, 400.0, 690.0], [60.0, 50.0, 55.0]))
    assert any("jointly" in m for m in messages)


def test_map__good_fit_is_silent():
    fit = map_estimate("widmer2006", daily(400, 30), ([200.0, 690.0], [800.0, 760.0]))
    assert fit.warnings == ()


@pytest.mark.parametrize(
    "observations, match",
    [
        (Observations, None),
        (([1.0, 2.0], [1.0]), "one length"),
        (([1.0], [np.nan]), "finite"),
    ],
)
def test_observations__malformed_are_refused(observations, match):
    if observations is Observations:
        with pytest.raises(ImapkError, match="LLOQ"):
            Observations.from_arrays([1.0], [0.0], [True])
        return
    with pytest.raises(ImapkError, match=match):
        map_estimate("widmer2006", daily(400, 5), observations)


def test_map__time_varying_model_is_refused():
    with pytest.raises(ImapkError, match="closed-form"):
        map_estimate("eechoute2012", daily(400, 5), None)


# --- off-trough --------------------------------------------------------------------------------------------------


def test_loglinear__reproduces_wang2009_deviations():
    """Wang 2009 (abstract): a level 3 h early deviates from the true trough by 7.1, 13.1 and 23.4 % for
    ke = 0.023, 0.041 and 0.070 1/h; after correction with ke = 0.041 by 5.3, 0 and 9.1 %. Printed to
    0.1 %: tolerance 0.05 %."""
    true_trough = 1000.0
    for ke, raw, corrected in ((0.023, 7.1, 5.3), (0.041, 13.1, 0.0), (0.070, 23.4, 9.1)):
        level = true_trough * math.exp(ke * 3.0)  # log-linear decline to the trough at 24 h
        assert 100 * (level / true_trough - 1) == pytest.approx(raw, abs=0.05)
        r = loglinear_trough(level, 21.0)
        assert 100 * abs(float(r.trough) / true_trough - 1) == pytest.approx(corrected, abs=0.05)
    assert float(loglinear_trough(1000.0, 21.0).uncorrected_error) == pytest.approx(0.131, abs=5e-4)
    assert math.log(2) / WANG_KE == pytest.approx(16.9, abs=0.05)  # the half-life Wang 2009 states [h]


def test_loglinear__formula_by_hand_late_sample():
    r = loglinear_trough(np.array([800.0, 1200.0]), np.array([28.0, 20.0]))
    np.testing.assert_allclose(r.trough, [800.0 * math.exp(0.041 * 4), 1200.0 * math.exp(-0.041 * 4)], rtol=1e-14)
    np.testing.assert_allclose(r.low, [800.0 * math.exp(0.023 * 4), 1200.0 * math.exp(-0.070 * 4)], rtol=1e-14)
    np.testing.assert_allclose(r.high, [800.0 * math.exp(0.070 * 4), 1200.0 * math.exp(-0.023 * 4)], rtol=1e-14)


def test_model_trough__sample_at_the_trough_is_itself():
    fit = map_estimate("widmer2006", daily(400, 30), ([200.0, 672.0], [900.0, 800.0]), warn=False)
    r = model_trough(fit, 672.0, 800.0)
    assert r.trough_time == 672.0
    assert r.scaled == pytest.approx(800.0, rel=1e-6) and r.scaled_low == pytest.approx(800.0, rel=1e-6)
    j = int(np.flatnonzero(fit.trough_time == 672.0)[0])
    assert r.predicted == pytest.approx(fit.trough_median[j], rel=1e-6)


def test_model_trough__early_sample_scaled_down():
    fit = map_estimate("widmer2006", daily(400, 30), ([200.0, 669.0], [900.0, 850.0]), warn=False)
    r = model_trough(fit, 669.0, 850.0)
    assert r.trough_time == 672.0
    assert r.scaled_low <= r.scaled <= r.scaled_high < 850.0
    assert r.predicted_low < r.predicted < r.predicted_high


# --- planning ------------------------------------------------------------------------------------------------------


def closed_form_ss_trough(dose, cl, v, ka, tau=24.0):
    k = cl / v
    return 1000.0 * dose * ka / (v * (ka - k)) * (math.exp(-k * tau) / (1 - math.exp(-k * tau)) - math.exp(-ka * tau) / (1 - math.exp(-ka * tau)))


def test_plan__steady_state_probabilities_match_closed_form():
    fit = map_estimate("widmer2006", daily(300, 14), ([312.0], [700.0]), warn=False)
    plan = plan_next_step(fit, target="gist", ceiling=2000.0)
    cl, v = fit.parameter_samples("cl"), fit.parameter_samples("v")
    unit = np.array([closed_form_ss_trough(1.0, a, b, 0.609) for a, b in zip(cl, v)])
    for dose, p_t, p_c in zip(plan.dose, plan.p_target, plan.p_ceiling):
        assert p_t == pytest.approx(fit.weights @ (unit * dose >= 1100.0), abs=1e-12)
        assert p_c == pytest.approx(fit.weights @ (unit * dose >= 2000.0), abs=1e-12)
    np.testing.assert_allclose(plan.steady_state_median / plan.dose, plan.steady_state_median[0] / 100.0, rtol=1e-12)
    assert plan.current_dose == 300.0 and plan.days_at_step == 14
    ok = (plan.p_target >= 0.5) & (plan.p_ceiling <= 0.1)
    assert plan.recommended == plan.dose[np.flatnonzero(ok)[0]]


def test_plan__ladder_day_trough_matches_superposition():
    """Day 8 of a new 400 mg step after 14 days at 300 mg: per sample, the trough is the
    superposition of the history and the 7 new doses."""
    fit = map_estimate("widmer2006", daily(300, 14), ([312.0], [700.0]), warn=False, n_samples=200)
    plan = plan_next_step(fit, candidates=[400.0], day=8)
    cl, v = fit.parameter_samples("cl"), fit.parameter_samples("v")
    times = np.concatenate([np.arange(14) * 24.0, 336.0 + np.arange(7) * 24.0])
    amounts = np.concatenate([np.full(14, 300.0), np.full(7, 400.0)])
    troughs = np.array([superposition([336.0 + 7 * 24.0 - 1e-9], times, amounts, a, b, 0.609)[0] for a, b in zip(cl, v)])
    assert plan.day_p_target[0] == pytest.approx(fit.weights @ (troughs >= 1100.0), abs=1e-12)
    from imapk.tdm.estimation import weighted_quantile

    assert plan.day_median[0] == pytest.approx(float(weighted_quantile(troughs, fit.weights, [0.5])[0]), rel=1e-7)


def test_plan__days_remaining_falls_with_time_on_the_step():
    early = plan_next_step(map_estimate("widmer2006", daily(400, 2), None))
    late = plan_next_step(map_estimate("widmer2006", daily(400, 40), None))
    assert early.days_remaining[0] > 0
    assert late.days_remaining == (0.0, 0.0, 0.0)
    # typical patient: t1/2 16.8 h; a trough within 10 % of steady state takes ~ 3-4 days from the start.
    assert 1.0 <= early.days_remaining[0] <= 3.0


def test_map__without_sampling_gives_the_same_mode_and_laplace_intervals():
    obs = ([200.0, 690.0], [800.0, 760.0])
    full = map_estimate("widmer2006", daily(400, 30), obs)
    fast = map_estimate("widmer2006", daily(400, 30), obs, n_samples=0)
    np.testing.assert_array_equal(full.eta, fast.eta)
    assert fast.interval_sampled == fast.interval_laplace == full.interval_laplace
    np.testing.assert_allclose(fast.eta_sd, np.sqrt(np.diag(full.eta_covariance)), rtol=1e-12)
    assert fast.weights.tolist() == [1.0]
    np.testing.assert_array_equal(fast.trough_low, fast.trough_median)


def test_map__exponential_error_mode_and_m3_on_the_log_scale():
    """A log-transform-both-sides error (form "exponential", SD 0.3 of log C): the mode equals Nelder-Mead
    on the posterior written here on the log scale with superposition predictions, the censored level
    entering as log Phi((log LLOQ - log C)/0.3); within 2e-4 in each eta."""
    from dataclasses import replace

    from imapk.models.base import Residual

    model = replace(get_model("widmer2006"), name="widmer2006_log", residual=Residual(proportional=0.3, form="exponential"))
    dose_times, amounts = np.arange(20) * 24.0, np.full(20, 400.0)
    t = np.array([100.0, 300.0, 470.0])
    y = np.array([1400.0, 900.0, np.nan])
    obs = Observations.from_arrays(t, y, [False, False, True], 400.0)
    fit = map_estimate(model, (dose_times, amounts), obs, warn=False)
    omega_inv = np.linalg.inv(model.omega_matrix)

    def objective(eta):
        c = superposition(t, dose_times, amounts, 14.3 * math.exp(eta[0]), 347.0 * math.exp(eta[1]), 0.609)
        z = (np.log(y[:2]) - np.log(c[:2])) / 0.3
        return float(np.sum(math.log(0.3) + 0.5 * z**2) - log_ndtr((math.log(400.0) - math.log(c[2])) / 0.3)
                     + 0.5 * eta @ omega_inv @ eta)

    ref = minimize(objective, np.zeros(2), method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 4000})
    np.testing.assert_allclose(fit.eta, ref.x, atol=2e-4)
    assert fit.objective == pytest.approx(ref.fun, abs=1e-6)


@pytest.mark.parametrize("name", ["widmer2006_covariates", "schmidli2005", "judson2005", "petain2008", "demetri2009",
                                  "yamakawa2011", "gotta2014", "golabchifar2014", "dipaolo2014", "wang2019",
                                  "shriyan2022", "he2023", "jiang2023"])
def test_map__every_closed_form_model_fits(name):
    """Every shipped model without continuous time variation fits two levels at its reference subject:
    the mode is a minimum (U there below U at the typical patient and at +-0.05 in each eta)."""
    from imapk.covariates import REFERENCE_SUBJECT
    from imapk.tdm.estimation import _Posterior, _prior

    model = get_model(name)
    cov = {key: REFERENCE_SUBJECT[key] for key in model.covariates}
    table = daily(400, 40)
    obs = Observations.from_arrays([335.0, 790.0], [900.0, 1100.0])
    fit = map_estimate(model, table, obs, covariates=cov, warn=False, n_samples=200)
    post = _Posterior(_prior(model, cov, table, None), table, obs)
    p = fit.eta.size
    around = np.vstack([np.zeros(p)] + [fit.eta + s * 0.05 * np.eye(p)[i] for i in range(p) for s in (1, -1)])
    assert np.all(post.objective(around) >= fit.objective - 1e-9)
    assert fit.converged


def zero_order_amounts(t, dose_times, amounts, k, d1):
    """Central amount [mg] at `t` from zero-order inputs of duration d1 (superposition, constant k)."""
    t = np.atleast_1d(np.asarray(t, dtype=float))
    dt = t[:, None] - np.asarray(dose_times)[None, :]
    rate = np.asarray(amounts)[None, :] / d1
    during = rate / k * (1.0 - np.exp(-k * np.clip(dt, 0.0, None)))
    after = rate / k * (1.0 - math.exp(-k * d1)) * np.exp(-k * np.clip(dt - d1, 0.0, None))
    return np.where(dt <= 0, 0.0, np.where(dt <= d1, during, after)).sum(axis=1)


@pytest.mark.parametrize("timing, change", [("fit", 24.0), ("sampling_day", 672.0)])
def test_map__occasion_effect_applies_the_same_eta_on_both_occasions(timing, change):
    """schmidli2005 (CL and V step down with the day-29 occasion, in force from day 2 with the default
    timing, from day 29 with "sampling_day"): the individual predictions at the mode equal a
    superposition written here, with day-1 parameters up to the change and day-29 ones after (the
    amount carried across the step; C = amount / V of the occasion in force), both scaled by exp(eta)."""
    model = get_model("schmidli2005")
    cov = {"weight": 70.0, "haemoglobin": 12.0, "wbc": 9.0}
    dose_times, amounts = np.arange(40) * 24.0, np.full(40, 400.0)
    t = np.array([12.0, 335.0, 671.0, 790.0, 935.0])
    y = np.array([900.0, 1000.0, 1100.0, 1400.0, 1350.0])
    fit = map_estimate(model, (dose_times, amounts), (t, y), covariates=cov, warn=False, n_samples=100,
                       occasion_timing=timing)
    scale = np.exp(fit.eta)
    before, after = model.typical_params(cov, 0), model.typical_params(cov, 1)
    cl0, v0 = before.cl * scale[0], before.v * scale[1]
    cl1, v1 = after.cl * scale[0], after.v * scale[1]
    d1 = before.d1
    expected = np.empty(t.size)
    early = dose_times < change
    for j, tj in enumerate(t):
        if tj <= change:
            expected[j] = 1000.0 * zero_order_amounts(tj, dose_times[early], amounts[early], cl0 / v0, d1)[0] / v0
        else:
            carried = zero_order_amounts(change, dose_times[early], amounts[early], cl0 / v0, d1)[0]
            late = (dose_times >= change) & (dose_times < tj)
            amount = carried * math.exp(-cl1 / v1 * (tj - change)) + zero_order_amounts(
                tj, dose_times[late], amounts[late], cl1 / v1, d1)[0]
            expected[j] = 1000.0 * amount / v1
    np.testing.assert_allclose(fit.prediction, expected, rtol=1e-10)


def test_plan__thresholds_by_name_value_or_text():
    fit = map_estimate("widmer2006", daily(300, 14), ([312.0], [700.0]), warn=False, n_samples=200)
    by_name = plan_next_step(fit, target="gist", ceiling="toxicity_alarm")
    by_text = plan_next_step(fit, target="1100", ceiling="3000 ng/mL")
    by_value = plan_next_step(fit, target=1100.0, ceiling=3000)
    for plan in (by_text, by_value):
        np.testing.assert_array_equal(plan.p_target, by_name.p_target)
        np.testing.assert_array_equal(plan.p_ceiling, by_name.p_ceiling)
        assert plan.ceiling.kind == "trough_ceiling"
    assert plan_next_step(fit, ceiling="none").ceiling is None
    with pytest.raises(ImapkError, match="unknown threshold"):
        plan_next_step(fit, target="gits")


# --- inter-occasion variability ------------------------------------------------------------------------------------


def ode_concentrations_per_interval(t_obs, dose_times, amounts, cls, v, ka):
    """C at `t_obs` [ng/mL] by solve_ivp, with clearance cls[i] in the dose interval [t_i, t_i+1) (the
    last one open-ended)."""
    state = np.zeros(2)
    out = np.empty(len(t_obs))
    edges = list(dose_times) + [max(t_obs) + 1.0]
    for i, t0 in enumerate(dose_times):
        rhs = lambda _, y, cl=cls[i]: [-ka * y[0], ka * y[0] - cl / v * y[1]]
        state = state + np.array([amounts[i], 0.0])
        t1 = edges[i + 1]
        inside = [j for j, t in enumerate(t_obs) if t0 < t <= t1]
        sol = solve_ivp(rhs, (t0, t1), state, method="LSODA", rtol=1e-11, atol=1e-10,
                        t_eval=[t_obs[j] for j in inside] + [t1])
        for n, j in enumerate(inside):
            out[j] = 1000.0 * sol.y[1, n] / v
        state = sol.y[:, -1]
    return out


IOV_DOSES = (np.arange(20) * 24.0, np.full(20, 400.0))
IOV_LEVELS = (np.array([50.0, 211.0, 452.0]), np.array([1850.0, 1320.0, 610.0]))  # one level per occasion


def test_map_iov__mode_is_the_minimum_of_the_posterior_with_kappas_written_here():
    """iov_cl = 0.3: a kappa per dose interval holding a level (days 3, 9 and 19: t_j < t <= t_j+1). The
    predictions at the mode equal solve_ivp with CL x exp(eta_CL + kappa_j) in those intervals and
    CL x exp(eta_CL) elsewhere (rtol 1e-7: LSODA at 1e-11 against the closed form), and the mode is
    a minimum of the posterior written here, (1) plus kappa^2 / (2 iov_cl^2) per kappa: every step
    of 0.02 along each coordinate raises it (by more than 1e-9, the objective's rounding)."""
    model = get_model("widmer2006")
    iov = 0.3
    fit = map_estimate(model, IOV_DOSES, IOV_LEVELS, iov_cl=iov, warn=False, n_samples=200)
    np.testing.assert_array_equal(fit.kappa_start, [48.0, 192.0, 432.0])
    dose_times, amounts = IOV_DOSES
    t_obs, y = IOV_LEVELS
    omega_inv = np.linalg.inv(model.omega_matrix)
    interval = {48.0: 0, 192.0: 1, 432.0: 2}

    def predictions(theta):
        cls = np.full(dose_times.size, 14.3 * math.exp(theta[0]))
        for t, k in interval.items():
            cls[int(t // 24)] *= math.exp(theta[2 + k])
        return ode_concentrations_per_interval(t_obs, dose_times, amounts, cls, 347.0 * math.exp(theta[1]), 0.609)

    def objective(theta):
        kappa = theta[2:]
        return neg_log_posterior(theta[:2], predictions(theta), y, 0.3138, 0.0, omega_inv) + 0.5 * np.sum(kappa**2) / iov**2

    mode = np.concatenate([fit.eta, fit.kappa])
    np.testing.assert_allclose(fit.prediction, predictions(mode), rtol=1e-7)
    u0 = objective(mode)
    assert u0 == pytest.approx(fit.objective, abs=1e-6)
    for i in range(mode.size):
        for step in (0.02, -0.02):
            assert objective(mode + step * np.eye(mode.size)[i]) > u0 + 1e-9


def test_map_iov__kappas_shrink_to_zero_and_zero_iov_is_the_fit_without():
    """One level per occasion: as iov_cl falls from 0.3 to 0.001 the largest |kappa| falls with it
    (about as iov_cl^2 times the level's score, so below 1e-5 at 0.001), and eta tends to the fit
    without IOV: within 1e-5 at iov_cl = 0.001 (iov_cl^2 x score ~ 3e-6, plus the Newton tolerance
    1e-7). iov_cl = 0 is the fit without IOV, number for number."""
    plain = map_estimate("widmer2006", IOV_DOSES, IOV_LEVELS, warn=False, n_samples=200)
    zero = map_estimate("widmer2006", IOV_DOSES, IOV_LEVELS, warn=False, n_samples=200, iov_cl=0.0)
    np.testing.assert_array_equal(zero.eta, plain.eta)
    np.testing.assert_array_equal(zero.trough_predictive_high, plain.trough_predictive_high)
    assert zero.kappa.size == 0
    largest = []
    for iov in (0.3, 0.1, 0.03, 0.01, 0.001):
        fit = map_estimate("widmer2006", IOV_DOSES, IOV_LEVELS, warn=False, n_samples=200, iov_cl=iov)
        assert fit.converged and fit.kappa.size == 3
        largest.append(float(np.max(np.abs(fit.kappa))))
    assert all(a > b for a, b in zip(largest, largest[1:])), largest
    assert largest[-1] < 1e-5
    np.testing.assert_allclose(fit.eta, plain.eta, atol=1e-5)


def test_map_iov__predictive_troughs_are_wider_with_iov():
    """Levels on days 3, 9 and 19, doses to day 30: the 90 % predictive interval of the day-30 trough
    (10 dose intervals after the last level, each with a new kappa) is wider with iov_cl = 0.3 than
    without; by about 25 % expected (a kappa of SD 0.3 in the last interval alone moves the log
    trough by about k tau x 0.3 ~ 0.3, against a predictive SD of about 0.45 without); checked > 10 %
    (2000 samples: the interval ends' Monte Carlo error is about 3 %)."""
    doses = (np.arange(30) * 24.0, np.full(30, 400.0))
    widths = []
    for iov in (0.0, 0.3):
        fit = map_estimate("widmer2006", doses, IOV_LEVELS, warn=False, n_samples=2000, iov_cl=iov)
        widths.append(math.log(fit.trough_predictive_high[-1] / fit.trough_predictive_low[-1]))
    assert widths[1] > 1.1 * widths[0], widths


def test_map_iov__planner_draws_new_kappas_after_the_last_level():
    """The planner's draws of an IOV fit: the future troughs of one draw (the mode alone, n_samples=0)
    are those of the mode with a new kappa per future interval, so they scatter around the
    no-IOV fit's (SD of the log ratio on the last days > 0.1 for iov_cl 0.3); the same seed gives
    the same troughs."""
    from imapk.tdm import future_schedule, posterior_patient

    fit = map_estimate("widmer2006", IOV_DOSES, IOV_LEVELS, warn=False, n_samples=0, iov_cl=0.3)
    plain = map_estimate("widmer2006", IOV_DOSES, IOV_LEVELS, warn=False, n_samples=0)
    schedule = future_schedule(400.0, hold_days=3)
    troughs = posterior_patient(fit, schedule, seed=1).planner_run()["trough"].values[0]
    again = posterior_patient(fit, schedule, seed=1).planner_run()["trough"].values[0]
    np.testing.assert_array_equal(troughs, again)
    typical_occasion = posterior_patient(plain, schedule, seed=1).planner_run()["trough"].values[0]
    assert np.std(np.log(troughs[-20:] / typical_occasion[-20:])) > 0.1
