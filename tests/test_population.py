"""Populations: random streams, covariates, random effects, occasions, residual error, scenarios."""

import math

import numpy as np
import pytest

import imapk
from imapk.errors import ParameterError, ScenarioError
from imapk.models import get_model
from imapk.models.base import PopulationModel
from imapk.population import (
    CovariateDistribution,
    CovariateRangeWarning,
    draw_covariates,
    draw_parameters,
    observed,
    read_covariate_csv,
)
from imapk.schedule import Phase, Schedule
from imapk.streams import standard_normals, uniforms

WIDMER_COV = {"weight": 70.0, "age": 50.0, "sex": "male", "disease": "GIST"}


def _fixed(n, values):
    return {k: np.full(n, v) for k, v in values.items()}


# --- streams -------------------------------------------------------------------------------------


def test_streams__subject_is_the_same_for_any_population_size_and_chunking():
    big = standard_normals(11, "eta:cl", np.arange(10_000), 3)
    small = standard_normals(11, "eta:cl", np.arange(100), 3)
    chunk = standard_normals(11, "eta:cl", np.arange(17, 42), 3)
    scattered = standard_normals(11, "eta:cl", np.array([9_999, 17, 5_000]), 3)
    np.testing.assert_array_equal(big[:100], small)
    np.testing.assert_array_equal(big[17:42], chunk)
    np.testing.assert_array_equal(big[[9_999, 17, 5_000]], scattered)


def test_streams__uniforms_are_the_top_53_bits_of_philox():
    """The documented construction, written out from numpy's Philox: ((word >> 11) + 0.5) 2^-53, bit for bit,
    words with the top bit set included."""
    from imapk.streams import purpose_key

    raw = np.random.Philox(key=purpose_key(3, "residual"), counter=0).random_raw(400 * 4)
    expected = ((raw >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
    assert (raw >= np.uint64(2**63)).any()
    np.testing.assert_array_equal(uniforms(3, "residual", np.arange(400), 4).ravel(), expected)


def test_streams__purposes_and_seeds_are_independent():
    a = uniforms(1, "eta:cl", np.arange(50_000), 1)[:, 0]
    b = uniforms(1, "eta:v", np.arange(50_000), 1)[:, 0]
    c = uniforms(2, "eta:cl", np.arange(50_000), 1)[:, 0]
    # Correlation of independent uniforms has SD 1/sqrt(N) = 0.0045: 5 SD is 0.022.
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.022 and abs(np.corrcoef(a, c)[0, 1]) < 0.022
    assert 0.0 < a.min() and a.max() < 1.0


def test_streams__standard_normal_moments():
    z = standard_normals(5, "x", np.arange(200_000), 1)[:, 0]
    # Sampling SE of the mean is 1/sqrt(N) = 0.0022 and of the variance sqrt(2/N) = 0.0032; allow 5 SE.
    assert abs(z.mean()) < 0.011 and abs(z.var() - 1.0) < 0.016


# --- random effects ------------------------------------------------------------------------------


def test_iiv__sample_covariance_matches_omega():
    model = get_model("widmer2006_covariates")
    n = 200_000
    covariates = _fixed(n, WIDMER_COV)
    table = draw_parameters(model, covariates, np.arange(n), seed=3)
    typical = model.typical_values(covariates)
    eta = np.column_stack([np.log(table.values[p] / typical[p]) for p in model.iiv_parameters])
    sample = np.cov(eta, rowvar=False)
    omega = model.omega_matrix
    # SE of a sample covariance entry: sqrt((w_ii w_jj + w_ij^2) / N); allow 5 SE.
    se = np.sqrt((np.outer(np.diag(omega), np.diag(omega)) + omega**2) / n)
    assert np.all(np.abs(sample - omega) < 5 * se)


def test_iiv__subject_17_is_the_same_in_any_population():
    model = get_model("widmer2006_covariates")
    spec = {
        "weight": CovariateDistribution("normal", mean=75.0, sd=15.0, low=44.0, high=110.0),
        "age": CovariateDistribution("uniform", low=30.0, high=80.0),
        "sex": CovariateDistribution("categorical", probabilities=(("male", 0.5), ("female", 0.5))),
        "disease": CovariateDistribution("fixed", value="GIST"),
    }

    def subject(n, subjects):
        covariates = draw_covariates(spec, 9, subjects)
        return draw_parameters(model, covariates, subjects, seed=9).values["cl"][list(subjects).index(17)]

    assert subject(10_000, np.arange(10_000)) == subject(100, np.arange(100)) == subject(5, np.arange(15, 20))


def test_iiv__common_random_numbers_across_models():
    # Two models with IIV on CL only for one of them as first parameter: eta_CL comes from the same
    # standard normal, scaled by each model's omega_CL.
    a = get_model("widmer2006")
    b = PopulationModel(
        name="test", title="t", citation="t", population="t",
        typical=lambda c, o: {"cl": 10.0, "v": 200.0, "ka": 1.0}, iiv_parameters=("cl",), omega=((0.04,),),
    )
    subjects = np.arange(1000)
    eta_a = np.log(draw_parameters(a, {}, subjects, seed=1).values["cl"] / 14.3) / math.sqrt(a.omega_matrix[0, 0])
    eta_b = np.log(draw_parameters(b, {}, subjects, seed=1).values["cl"] / 10.0) / 0.2
    np.testing.assert_allclose(eta_a, eta_b, rtol=1e-12)


def test_iiv__off_gives_typical_values():
    model = get_model("widmer2006_covariates")
    table = draw_parameters(model, _fixed(4, WIDMER_COV), np.arange(4), seed=None, iiv=False)
    # By hand: 14.3 + 5.42*0 + 1.49 - 5.81*0 - 0.806 = 14.984 L/h; V = 347 + 46.2 = 393.2 L.
    np.testing.assert_allclose(table.values["cl"], 14.984, rtol=1e-12)
    np.testing.assert_allclose(table.values["v"], 393.2, rtol=1e-12)


def test_iiv__needs_a_seed():
    with pytest.raises(ParameterError, match="needs a seed"):
        draw_parameters(get_model("widmer2006"), {}, np.arange(3), seed=None)


# --- covariates ----------------------------------------------------------------------------------


def test_covariates__missing_names_model_and_covariate():
    with pytest.raises(ParameterError) as info:
        draw_parameters(get_model("widmer2006_covariates"), {"weight": np.array([70.0])}, np.arange(1), seed=1)
    assert "model widmer2006_covariates needs covariate `age`" in str(info.value)


@pytest.mark.parametrize("command", ["run", "validate"])
def test_covariates__missing_from_the_file_names_the_file(tmp_path, capsys, command):
    """A covariate neither in the CSV nor in [population.covariates]: both commands say where it was looked for."""
    from imapk.cli import main

    (tmp_path / "p.csv").write_text("weight [kg],age [y],sex\n70,50,male\n")
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        '[scenario]\ntitle = "t"\nseed = 1\n[model]\nparameter_set = "widmer2006_covariates"\n[population]\n'
        'covariates_file = "p.csv"\n[[schedule.phases]]\ndose = "400 mg"\ndays = 3\n'
    )
    assert main([command, str(scenario)]) == 2
    assert capsys.readouterr().err == (
        f"imapk: error: {scenario}: population: model widmer2006_covariates needs covariate `disease`, not a column "
        "of p.csv nor in [population.covariates] (expected covariates weight, age, sex, disease)\n"
    )


def test_covariates__outside_fitted_range_warns():
    covariates = _fixed(2, {**WIDMER_COV, "weight": 150.0})
    with pytest.warns(CovariateRangeWarning, match="weight outside the range model widmer2006_covariates"):
        draw_parameters(get_model("widmer2006_covariates"), covariates, np.arange(2), seed=1, iiv=False)


def test_covariates__csv_units_are_converted(tmp_path):
    path = tmp_path / "patients.csv"
    path.write_text("weight [lb],haemoglobin [g/L],sex,albumin [g/dL]\n154.3,130,male,3.8\n176.4,95,female,4.1\n")
    values = read_covariate_csv(path)
    np.testing.assert_allclose(values["weight"], [154.3 * 0.45359237, 176.4 * 0.45359237])
    np.testing.assert_allclose(values["haemoglobin"], [13.0, 9.5])  # g/L -> g/dL: x 0.1
    np.testing.assert_allclose(values["albumin"], [38.0, 41.0])  # g/dL -> g/L: x 10
    assert list(values["sex"]) == ["male", "female"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("haemoglobin\n13\n", "column 'haemoglobin': the column header needs a unit (expected e.g. 'haemoglobin [g/dL]')"),
        ("haemoglobin [g/dL]\n130\n", "column 'haemoglobin [g/dL]' (row 2): implausible haemoglobin (a unit slip?) (got '130'; expected 3-25 g/dL)"),
        ("height [cm]\n180\n", "column 'height [cm]': unknown covariate (got 'height'; expected one of"),
        ("weight [kg],age [y]\n70\n", "row 2: has 1 fields, the header has 2"),
        # the plausible 2-300 kg in the column's unit: 1 lb = 0.45359237 kg exactly
        ("weight [lb]\n2000\n", "column 'weight [lb]' (row 2): implausible body weight (a unit slip?) (got '2000'; expected 4.409-661.4 lb, i.e. 2-300 kg)"),
        ("weight [kg]\nseventy\n", "column 'weight [kg]': not a number in row 2 (got 'seventy'; expected e.g. 70 or 70.5)"),
        ("sex\nm\n", "column 'sex': unknown sex in row 2 (got 'm'; expected one of male, female)"),
        ("weight [stone]\n11\n", "column 'weight [stone]': unknown unit for weight (got 'stone'; expected one of kg, g, lb"),
    ],
)
def test_covariates__csv_errors_name_file_column_and_row(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        read_covariate_csv(path)
    assert str(info.value).startswith(f"{path}: {message}")


def test_covariates__csv_blank_lines_are_not_subjects(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("weight [kg]\n70\n\n80\n\n")
    np.testing.assert_array_equal(read_covariate_csv(path)["weight"], [70.0, 80.0])


def test_covariates__draws_respect_truncation_and_probabilities():
    spec = {
        "weight": CovariateDistribution("normal", mean=75.0, sd=30.0, low=44.0, high=110.0),
        "sex": CovariateDistribution("categorical", probabilities=(("male", 0.3), ("female", 0.7))),
        "agp": CovariateDistribution("lognormal", mean=1.0, sd=0.4),
    }
    values = draw_covariates(spec, 4, np.arange(100_000))
    assert values["weight"].min() >= 44.0 and values["weight"].max() <= 110.0
    # Binomial SE of a proportion at N = 1e5: sqrt(0.21 / 1e5) = 0.0014; allow 5 SE.
    assert abs((values["sex"] == "male").mean() - 0.3) < 0.0073
    # Log-normal with mean 1 and SD 0.4 (plausible range 0.05-10 g/L barely truncates).
    assert abs(values["agp"].mean() - 1.0) < 0.01 and abs(values["agp"].std() - 0.4) < 0.01


# --- occasions, residual error -------------------------------------------------------------------


def _step_model(occasion_day=29):
    return PopulationModel(
        name="step", title="t", citation="t", population="t",
        typical=lambda c, occasion: {"cl": 14.0 if occasion == 0 else 10.0, "v": 250.0, "ka": 0.6},
        occasion_days=(occasion_day,),
    )


def test_occasions__change_at_day_29_with_the_sampling_day_timing():
    table = draw_parameters(_step_model(), {}, np.arange(2), seed=None, iiv=False, occasion_timing="sampling_day")
    assert table.change_times == (672.0,)
    np.testing.assert_array_equal(table.change_values[0]["cl"], [10.0, 10.0])


def test_occasions__steady_state_start_after_months_has_the_change_in_force():
    table = draw_parameters(_step_model(), {}, np.arange(1), seed=None, iiv=False, time_on_therapy_at_start=180 * 24.0)
    assert table.change_times == () and table.values["cl"][0] == 10.0


def test_occasions__steady_state_start_on_day_20_changes_9_days_later():
    # Therapy day 29 starts at 672 h of therapy; at t = 0 the patient has been treated 19 days (456 h).
    table = draw_parameters(
        _step_model(), {}, np.arange(1), seed=None, iiv=False, time_on_therapy_at_start=456.0, occasion_timing="sampling_day"
    )
    assert table.change_times == (216.0,) and table.values["cl"][0] == 14.0


def test_occasions__trough_follows_independent_superposition():
    """Schedule with a CL step on day 29: troughs against a hand-written two-piece superposition."""
    table = draw_parameters(_step_model(), {}, np.arange(1), seed=None, iiv=False, occasion_timing="sampling_day")
    schedule = Schedule(phases=(Phase(dose=400, days=40),))
    ds = imapk.simulate(schedule, table)
    ka, v = 0.6, 250.0

    def central(amount_depot, amount_central, k, dt):
        """Bateman propagation over dt (textbook form; ka != k here)."""
        depot = amount_depot * math.exp(-ka * dt)
        cen = amount_central * math.exp(-k * dt) + amount_depot * ka / (ka - k) * (math.exp(-k * dt) - math.exp(-ka * dt))
        return depot, cen

    depot = cen = 0.0
    expected = []
    for j in range(40):
        expected.append(cen / v * 1000.0)
        depot += 400.0
        k = (14.0 if 24.0 * j < 672.0 else 10.0) / v
        depot, cen = central(depot, cen, k, 24.0)
    # 40 exact steps in doubles: relative error a few 1e-15; 1e-10 is the closed-form tolerance.
    np.testing.assert_allclose(ds.trough.values[0], expected, rtol=1e-10, atol=1e-12)


def test_residual__observed_troughs_do_not_move_parameters_and_have_the_stated_error():
    scenario = """
[scenario]
title = "r"
seed = 5
[model]
parameter_set = "widmer2006"
[population]
size = 2000
residual_error = {flag}
[[schedule.phases]]
dose = "400 mg"
days = 30
[output]
dense = false
"""
    with_error = imapk.run_scenario(imapk.scenario.parse_scenario(scenario.format(flag="true")))
    without = imapk.run_scenario(imapk.scenario.parse_scenario(scenario.format(flag="false")))
    np.testing.assert_array_equal(with_error.cl.values, without.cl.values)
    np.testing.assert_array_equal(with_error.trough.values, without.trough.values)
    ratio = with_error.trough_observed.values[:, 29] / with_error.trough.values[:, 29] - 1.0
    # Proportional SD 0.3138 (Widmer); SE of an SD estimate at N = 2000 is 0.3138/sqrt(2 N) = 0.005: 5 SE.
    assert abs(ratio.std() - 0.3138) < 0.025


def test_observed__never_clipped_and_censored_below_the_limit():
    """Combined error with a large additive part goes below 0 (it is not set to a fake 0) and is
    marked censored below the quantification limit; the exponential form stays positive."""
    from imapk.models.base import Residual

    trough = np.full((200, 4), 50.0)
    values, censored = observed(trough, Residual(0.3, 100.0), 1, np.arange(200), quantification_limit=10.0)
    assert np.any(values < 0.0)  # 50 + 100 e2 is below 0 with probability 0.31
    np.testing.assert_array_equal(censored, values < 10.0)
    values, censored = observed(trough, Residual(0.35, form="exponential"), 1, np.arange(200))
    assert np.all(values > 0.0) and not censored.any()
    # log(C_obs / C) is the SD-0.35 normal draw itself: SE of the SD at n = 800 is 0.35 / sqrt(1600) ~ 0.009
    assert abs(np.log(values / 50.0).std() - 0.35) < 0.045



def test_observed__blocks_of_subjects_do_not_change_a_draw(monkeypatch):
    """Assay results drawn block by block (memory bounded for 10^6 patients) equal one draw of all."""
    import imapk.population as population_module
    from imapk.models.base import Residual

    trough = np.random.default_rng(4).lognormal(7.0, 0.4, (50, 6))
    subjects = np.arange(100, 150)
    whole = observed(trough, Residual(0.3, 100.0), 2, subjects)
    monkeypatch.setattr(population_module, "OBSERVED_BLOCK", 7)
    for a, b in zip(whole, observed(trough, Residual(0.3, 100.0), 2, subjects)):
        np.testing.assert_array_equal(a, b)


# --- scenarios -----------------------------------------------------------------------------------


POPULATION = """
[scenario]
title = "p"
[model]
parameter_set = "widmer2006_covariates"
[population]
size = 50
seed = 1
[population.covariates]
weight = {{ distribution = "normal", mean = "75 kg", sd = "10 kg", low = "50 kg", high = "100 kg" }}
age = "60 y"
sex = {{ distribution = "categorical", p = {{ male = 0.5, female = 0.5 }} }}
disease = "GIST"
{extra}
[[schedule.phases]]
dose = "400 mg"
days = 40
[verdict]
thresholds = ["gist"]
[output]
dense = false
"""


def test_scenario__population_result_has_covariates_and_summaries():
    ds = imapk.run_scenario(imapk.scenario.parse_scenario(POPULATION.format(extra="")))
    assert ds.sizes["subject"] == 50 and ds.weight.attrs["units"] == "kg"
    assert set(np.unique(ds.sex.values)) <= {"male", "female"}
    trough = ds.trough.values[:, 35]
    np.testing.assert_allclose(ds.trough_quantile.values[:, 35], np.quantile(trough, [0.05, 0.25, 0.5, 0.75, 0.95]))
    assert ds.target_attainment.values[0, 35] == pytest.approx((trough >= 1100).mean())


def test_scenario__population_without_seed_is_refused():
    text = POPULATION.format(extra="").replace("seed = 1\n", "")
    with pytest.raises(ScenarioError, match="population.seed: a population with random draws needs a seed"):
        imapk.scenario.parse_scenario(text)


def test_scenario__covariate_unit_slip_is_refused():
    text = POPULATION.format(extra="").replace('age = "60 y"', 'age = "60 kg"')
    with pytest.raises(ScenarioError, match="population.covariates.age: unknown unit for age"):
        imapk.scenario.parse_scenario(text)


def test_scenario__covariates_from_csv(tmp_path):
    (tmp_path / "patients.csv").write_text("weight [kg],age [y],sex,disease\n70,50,male,GIST\n80,60,female,CML\n")
    text = POPULATION.format(extra="").replace("size = 50\n", 'covariates_file = "patients.csv"\niiv = false\n')
    text = text[: text.index("[population.covariates]")] + text[text.index("[[schedule.phases]]") :]
    path = tmp_path / "s.toml"
    path.write_text(text)
    ds = imapk.run_scenario(path)
    assert ds.sizes["subject"] == 2
    # By hand: subject 0 is the reference of the equation plus male and GIST: 14.3 + 1.49 - 0.806.
    # Subject 1: 14.3 + 5.42 * 10/70 - 1.49 - 5.81 * 10/50 + 0.806 = 13.61...
    expected_1 = 14.3 + 5.42 * 10 / 70 - 1.49 - 5.81 * 10 / 50 + 0.806
    np.testing.assert_allclose(ds.cl.values, [14.984, expected_1], rtol=1e-12)


def test_scenario__model_comparison_has_model_dimension():
    ds = imapk.run_scenario("scenarios/model-comparison.toml")
    assert "widmer2006" in ds.model.values and ds.trough.dims == ("model", "subject", "dose")
    assert ds.dose_time.dims == ("dose",)
    widmer = ds.trough.sel(model="widmer2006").values[0, 199]
    assert widmer == pytest.approx(732.17, abs=0.01)  # Widmer 2006 typical SS trough (literature notes: 732)


def test_iov__cl_redrawn_every_interval_with_the_stated_sd():
    model = get_model("widmer2006")
    dose_times = np.arange(0.0, 200 * 24.0, 24.0)
    table = draw_parameters(model, {}, np.arange(500), seed=2, iov_cl=0.2, dose_times=dose_times)
    assert table.change_times == tuple(dose_times)
    cl = table.segments("cl")[:, 1:]  # (subject, interval)
    kappa = np.log(cl / table.values["cl"][:, None])
    # 100 000 draws of N(0, 0.2^2): SE of the SD is 0.2 / sqrt(2e5) = 4.5e-4; allow 5 SE.
    assert abs(kappa.std() - 0.2) < 0.0023
    # IIV is kept: the subject's mean log CL over intervals tracks its own eta, not the population's.
    assert np.corrcoef(np.log(cl).mean(axis=1), np.log(table.values["cl"]))[0, 1] > 0.99


def test_iov__keeps_occasion_effects():
    dose_times = np.arange(0.0, 40 * 24.0, 24.0)
    table = draw_parameters(
        _step_model(), {}, np.arange(3), seed=2, iiv=False, iov_cl=0.1, dose_times=dose_times, occasion_timing="sampling_day"
    )
    cl = table.segments("cl")[:, 1:]
    ratio = np.exp(np.log(cl[:, 28:]).mean(axis=1) - np.log(cl[:, :28]).mean(axis=1))
    # Typical CL steps from 14 to 10 L/h on day 29; the IOV noise on a 12-vs-28-interval mean ratio is
    # about 0.1 * sqrt(1/12 + 1/28) = 0.035 in log: 5 SD around log(10/14).
    assert np.all(np.abs(np.log(ratio) - math.log(10 / 14)) < 0.18)


def test_models__misspelt_category_is_refused_for_every_model():
    with pytest.raises(ParameterError, match="model widmer2006_covariates: value of covariate `sex` not defined by this model"):
        get_model("widmer2006_covariates").typical_values({**WIDMER_COV, "sex": "Male"})


def test_models__omega_shape_is_checked():
    with pytest.raises(ValueError, match="omega must be 2 x 2"):
        PopulationModel(
            name="bad", title="t", citation="t", population="t", typical=lambda c, o: {},
            iiv_parameters=("cl", "v"), omega=((0.1,),),
        )
