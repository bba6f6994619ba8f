"""Scenario keys of this release: occasion timing, co-medication periods, multi-compartment inline
parameters, and "all" without the variants. Errors name the file, the key and the allowed values."""

from __future__ import annotations

import numpy as np
import pytest

import imapk
from imapk.errors import ScenarioError
from imapk.interactions import get_interaction
from imapk.models import MODELS
from imapk.scenario import parse_scenario

BASE = """
[scenario]
title = "t"
[model]
parameter_set = "{model}"
{model_extra}
[population]
size = 1
iiv = false
{population_extra}
[[schedule.phases]]
dose = "400 mg"
days = 40
{extra}
[output]
dense = false
"""


def scenario(model="widmer2006", model_extra="", extra="", population_extra=""):
    return parse_scenario(BASE.format(model=model, model_extra=model_extra, extra=extra, population_extra=population_extra))


REFERENCE = "[population.covariates]\nweight = \"70 kg\"\nhaemoglobin = \"13 g/dL\"\nwbc = \"7 10^9/L\"\n"


@pytest.mark.parametrize("timing, day29_below_plateau", [("fit", False), ("sampling_day", True)])
def test_occasion_timing__key_reaches_the_draw(timing, day29_below_plateau):
    s = scenario("schmidli2005", f'occasion_timing = "{timing}"', population_extra=REFERENCE)
    assert s.occasion_timing == timing
    ds = imapk.run_scenario(s)
    day29, last = ds.trough.values[0, 28], ds.trough.values[0, 39]
    # fit: day 29 is at the second occasion's steady state already; sampling_day: a third below it
    assert (day29 < 0.8 * last) == day29_below_plateau


def test_occasion_timing__unknown_value_is_named():
    with pytest.raises(ScenarioError, match=r"model.occasion_timing: unknown occasion timing .*fit, midway, sampling_day"):
        scenario(model_extra='occasion_timing = "day2"')


def test_interactions__drug_period_multiplies_cl_from_its_first_to_its_last_day():
    s = scenario(extra='[[interactions]]\ndrug = "rifampicin"\nstart_day = 15\ndays = 10\n')
    factor = get_interaction("rifampicin").cl_factor
    assert s.interactions == ((14 * 24.0, 24 * 24.0, factor, "rifampicin"),)
    with_drug = imapk.run_scenario(s).trough.values[0]
    without = imapk.run_scenario(scenario()).trough.values[0]
    np.testing.assert_array_equal(with_drug[:15], without[:15])  # the trough of day 15 precedes the change
    assert np.all(with_drug[15:25] < 0.5 * without[15:25])  # CL x 3.85: troughs fall to well under half
    assert with_drug[39] == pytest.approx(without[39], rel=0.01)  # 16 days later (> 20 half-lives) recovered


def test_interactions__factor_and_open_end():
    s = scenario(extra='[[interactions]]\ncl_factor = 0.5\nstart_day = 1\nlabel = "inhibitor"\n')
    assert s.interactions[0][1] == float("inf") and s.interactions[0][2] == 0.5
    ds = imapk.run_scenario(s)
    assert "inhibitor, days 1 to the end: CL/F x 0.5" in ds.attrs["interactions"]


@pytest.mark.parametrize(
    "entry, message",
    [
        ('drug = "rifampin2"\nstart_day = 1', r"interactions\[0\].drug: unknown interacting drug .*rifampicin"),
        ('drug = "rifampicin"\ncl_factor = 2.0\nstart_day = 1', r"interactions\[0\]: give exactly one of `drug`"),
        ('cl_factor = -1.0\nstart_day = 1', r"interactions\[0\].cl_factor: must be a positive factor"),
        ('drug = "rifampicin"\nstart_day = 3\ndays = 0', r"interactions\[0\].days: out of range"),
        ('drug = "rifampicin"\nstart_day = 3\nweeks = 2', r"interactions\[0\].weeks: unknown key"),
    ],
)
def test_interactions__bad_entries_are_named(entry, message):
    with pytest.raises(ScenarioError, match=message):
        scenario(extra=f"[[interactions]]\n{entry}\n")


def test_all__means_every_published_model_not_the_variants():
    s = scenario("all")
    names = {m.name for m in s.models}
    assert names == {name for name, m in MODELS.items() if m.variant_of is None}
    assert not any(MODELS[name].variant_of for name in names)


def test_inline_two_compartment_with_a_transit_chain():
    s = parse_scenario(
        BASE.format(model="inline", model_extra=(
            "[model.parameters]\ncl = \"9.12 L/h\"\nv = \"128 L\"\nq = \"24.9 L/h\"\nvp = \"197 L\"\n"
            "ka = \"0.699 1/h\"\nktr = \"15.8 1/h\"\nn_transit = 5"
        ), extra="", population_extra="")
    )
    ds = imapk.run_scenario(s)
    # the published Eechoute structure at its asymptotic rates: 1212.0 ng/mL at the plateau (exact path,
    # tests/test_linear_engine.py and the independent reference in tests/test_time_varying.py)
    assert ds.trough.values[0, 39] == pytest.approx(1212.0, rel=2e-3)
    assert float(ds.q.values[0]) == 24.9 and float(ds.ktr.values[0]) == 15.8 and ds.attrs["n_transit"] == 5


def test_inline_incomplete_structure_is_refused():
    from imapk.errors import ImapkError

    with pytest.raises(ImapkError, match=r"model.parameters.vp: a peripheral compartment needs both `q` and `vp`"):
        parse_scenario(BASE.format(model="inline", model_extra=(
            "[model.parameters]\ncl = \"9.12 L/h\"\nv = \"128 L\"\nq = \"24.9 L/h\"\nka = \"0.699 1/h\""
        ), extra="", population_extra=""))


def test_peripheral_amount__reported_on_the_dense_grid_and_refused_without_the_compartment():
    text = BASE.format(model="inline", model_extra=(
        "[model.parameters]\ncl = \"9.12 L/h\"\nv = \"128 L\"\nq = \"24.9 L/h\"\nvp = \"197 L\"\nka = \"0.699 1/h\""
    ), extra="", population_extra="").replace("dense = false", "dense = true\ndense_step = \"6 h\"\nperipheral = true")
    ds = imapk.run_scenario(parse_scenario(text))
    assert ds.peripheral_amount.attrs["units"] == "mg" and ds.peripheral_amount.dims == ("subject", "time")
    assert np.all(ds.peripheral_amount.values[0, 1:] > 0.0)
    with pytest.raises(ScenarioError, match=r"output.peripheral: model widmer2006 has no peripheral compartment"):
        parse_scenario(BASE.format(model="widmer2006", model_extra="", extra="", population_extra="").replace(
            "dense = false", "dense = true\nperipheral = true"))
    with pytest.raises(ScenarioError, match=r"output.peripheral: the peripheral amount is reported on the dense grid"):
        parse_scenario(text.replace("dense = true", "dense = false"))


def test_solver_atol_below_what_the_integrator_resolves_is_named():
    """atol = '1e-300 mg' failed as 'the state became non-finite: check the parameters'."""
    text = BASE.format(model="widmer2006", model_extra="", population_extra="", extra="[solver]\nmethod = \"ode\"\natol = \"1e-300 mg\"")
    with pytest.raises(ScenarioError, match=r"solver.atol: below what the integrator resolves \(got '1e-300 mg'"):
        parse_scenario(text)


def test_control_characters_in_strings_are_refused_by_validate_too():
    """A NUL in a label passed `imapk validate` and failed `run -o` with an internal error (NetCDF
    strings cannot hold it): every scenario string is checked when the file is read."""
    text = BASE.format(model="widmer2006", model_extra="", population_extra="", extra="").replace(
        'days = 40\n', 'days = 40\nlabel = "ra\\u0000sh"\n')
    with pytest.raises(ScenarioError, match=r"schedule.phases\[0\].label: contains the control character U\+0000"):
        parse_scenario(text)
