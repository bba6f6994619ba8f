"""Check everything before simulating, and never guess: what a user writes is read as written or refused.

- a hold starting inside an earlier hold's ladder interrupts it; the held doses are planned at what the
  schedule would have given then; the new hold's own ladder follows as written;
- lengths in days that would hold a fraction of a dose are refused, naming the key;
- doses of the mesylate salt are converted to free base by the molar masses and the conversion recorded;
- a parameter set named in the wrong letter case gets the right name suggested;
- the Python API reads quantity strings and parameter-set names.

Expected values are written out by hand or computed here independently (closed-form sums of single doses,
molar masses from the atomic weights), not with imapk's own lowering or engine.
"""

import numpy as np
import pytest

import imapk
from imapk.cli import main
from imapk.errors import ImapkError, ParameterError, ScheduleError
from imapk.params import PKParams
from imapk.scenario import parse_scenario, run_scenario
from imapk.schedule import Hold, LadderStep, Phase, Schedule

TWO_HOLDS = """\
[scenario]
title = "two holds, the second inside the first one's ladder"

[model]
parameter_set = "widmer2006"

[[schedule.phases]]
dose = "400 mg"
days = 40

[[schedule.holds]]
label = "rash"
start_day = 8
days = 3
restart = [{ dose = "200 mg", days = 7 }, { dose = "300 mg", days = 56 }]

[[schedule.holds]]
label = "recurrence"
start_day = 21
days = 4
restart = [{ dose = "200 mg", days = 7 }, { dose = "300 mg", days = 56 }]

[output]
dense = false
"""


def test_second_hold_inside_the_ladder__the_result_day_by_day():
    # Days 1-7 400 mg; 8-10 held (planned 400); 11-17 200 mg; 18-20 300 mg; 21-24 held, planned 300 mg
    # (the first ladder's step then), not 400; 25-31 200 mg (the second hold's ladder, as written);
    # 32-40 300 mg. The first ladder is not resumed after the second hold.
    ds = run_scenario(parse_scenario(TWO_HOLDS, "two-holds.toml"))
    planned = [400] * 7 + [400] * 3 + [200] * 7 + [300] * 3 + [300] * 4 + [200] * 7 + [300] * 9
    given = [400] * 7 + [0] * 3 + [200] * 7 + [300] * 3 + [0] * 4 + [200] * 7 + [300] * 9
    status = ["given"] * 7 + ["held"] * 3 + ["given"] * 10 + ["held"] * 4 + ["given"] * 16
    assert len(planned) == len(given) == len(status) == 40
    np.testing.assert_array_equal(ds.dose_planned.values, planned)
    np.testing.assert_array_equal(ds.dose_given.values[0], given)
    assert ds.dose_status.values.tolist() == status
    np.testing.assert_array_equal(ds.day.values, np.arange(1, 41))
    assert ds.phase.values[20] == "rash: restart step 2 (300 mg)"
    assert ds.phase.values[24] == "recurrence: restart step 1 (200 mg)"


def test_second_hold_without_its_own_ladder_resumes_the_prescription():
    text = TWO_HOLDS.replace(
        'days = 4\nrestart = [{ dose = "200 mg", days = 7 }, { dose = "300 mg", days = 56 }]', "days = 4"
    )
    table = parse_scenario(text).schedule.lower()
    np.testing.assert_array_equal(table.planned[20:24], [300] * 4)
    np.testing.assert_array_equal(table.given[20:26], [0, 0, 0, 0, 400, 400])


@pytest.mark.parametrize(
    ("old", "new", "key", "message"),
    [
        ("days = 40", "days = 365.5", "schedule.phases[0].days", "a phase of 365.5 days is not a whole number of days"),
        ("days = 3\n", "days = 3.5\n", "schedule.holds[0].days", "a hold of 3.5 days is not a whole number of days"),
        ("{ dose = \"200 mg\", days = 7 }, { dose = \"300 mg\", days = 56 }]\n\n[output]",
         "{ dose = \"200 mg\", days = 7.25 }]\n\n[output]",
         "schedule.holds[1].restart[0].days", "a ladder step of 7.25 days is not a whole number of days"),
    ],
)
def test_validate_refuses_a_fractional_length(tmp_path, capsys, old, new, key, message):
    path = tmp_path / "fraction.toml"
    assert old in TWO_HOLDS
    path.write_text(TWO_HOLDS.replace(old, new, 1), encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"imapk: error: {path}: {key}: {message} (got ")
    assert err.count("\n") == 1


def test_days_365_5_was_rounded_up_and_is_now_refused():
    with pytest.raises(ScheduleError, match=r"^phase\.days: a phase of 365\.5 days is not a whole number"):
        Phase(dose=400, days=365.5)
    assert Phase(dose=400, days=365).count() == 365


def test_mesylate_dose_in_a_scenario_run(tmp_path, capsys):
    # 400 mg base = 478 mg mesylate (C29H31N7O 493.6 g/mol, C29H31N7O . CH4SO3 589.7 g/mol).
    path = tmp_path / "mesylate.toml"
    path.write_text(TWO_HOLDS.replace('dose = "400 mg"', 'dose = "478 mg mesylate"'), encoding="utf-8")
    assert main(["validate", str(path)]) == 0
    capsys.readouterr()
    ds = run_scenario(str(path))
    assert float(ds.dose_planned[0]) == pytest.approx(478 * 493.6 / 589.7, rel=1e-12)
    assert ds.attrs["dose_conversions"].startswith("schedule.phases[0].dose: '478 mg mesylate' = 400.1 mg imatinib free base")
    # the ladder is in free base as written: 200 mg
    assert float(ds.dose_planned[10]) == 200.0


def test_params_in_the_wrong_letter_case_suggests_the_name(capsys):
    assert main(["params", "Widmer2006"]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter set: did you mean 'widmer2006'? (got 'Widmer2006'; expected one of " in err
    assert err.count("\n") == 1


def test_get_model_suggestions():
    from imapk.models import get_model, suggest

    with pytest.raises(ParameterError, match=r"^unknown parameter set: did you mean 'eechoute2012'\?"):
        get_model("EECHOUTE2012")
    with pytest.raises(ParameterError, match=r"^unknown parameter set: did you mean 'widmer2006_covariates'\?"):
        get_model("Widmer2006-Covariates")
    assert suggest("schmidli", ["schmidli2005", "widmer2006"]) == "schmidli2005"
    assert suggest("xyz", ["schmidli2005", "widmer2006"]) is None
    with pytest.raises(ParameterError, match=r"^a parameter set is named by a string \(got 2006;"):
        get_model(2006)


# ---------------------------------------------------------------- the Python API


def trough_by_superposition(dose, tau, n, cl, v, ka=None, d1=None):
    """Trough before dose n (0-based) of n earlier equal doses every tau h, one compartment, first-order
    absorption (ka) or zero-order input over d1 h (d1 < tau): the sum of single-dose curves. [ng/mL]"""
    k = cl / v
    t = tau * np.arange(1, n + 1)
    if ka is not None:
        single = dose * ka / (v * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t))
    else:
        single = dose / (d1 * cl) * (1.0 - np.exp(-k * d1)) * np.exp(-k * (t - d1))
    return float(np.sum(single)) * 1000.0


def test_phase_takes_a_quantity_string():
    # Before: the string was read as a list of characters.
    phase = Phase(dose="400 mg", interval="24 h", days=60)
    assert phase.dose == (400.0,) and phase.interval == 24.0 and phase.count() == 60
    assert Phase(dose="400 mg", days=1).label == "400 mg q24h"


def test_simulate_takes_a_parameter_set_name():
    # Widmer 2006 typical values (CL/F 14.3 L/h, V/F 347 L, ka 0.609 1/h) for the reference subject.
    schedule = Schedule(phases=(Phase(dose="400 mg", days=60),))
    ds = imapk.simulate(schedule, "widmer2006")
    expected = trough_by_superposition(400.0, 24.0, 59, 14.3, 347.0, 0.609)
    assert float(ds.trough[0, 59]) == pytest.approx(expected, rel=1e-10)
    assert ds.attrs["parameter_set"] == "widmer2006"
    assert "Widmer" in ds.attrs["parameter_set_citation"]
    np.testing.assert_array_equal(ds.trough.values, imapk.simulate(schedule, PKParams(cl=14.3, v=347.0, ka=0.609)).trough.values)


def test_simulate_by_name_keeps_the_model_occasions():
    # Schmidli 2005: the day-29 occasion's CL is in force from day 2 (timing "fit"): the trough before
    # the day-2 dose is the first occasion's, the day-60 trough the second occasion's steady state.
    from imapk.covariates import REFERENCE_SUBJECT
    from imapk.models import get_model

    model = get_model("schmidli2005")
    first = model.typical_params(REFERENCE_SUBJECT, 0)
    second = model.typical_params(REFERENCE_SUBJECT, 1)
    assert first.cl != second.cl
    ds = imapk.simulate(Schedule(phases=(Phase(dose=400, days=60),)), "schmidli2005")
    assert first.ka is None and first.d1 == second.d1 == 1.5  # zero-order input over 1.5 h
    assert float(ds.trough[0, 1]) == pytest.approx(trough_by_superposition(400, 24, 1, first.cl, first.v, d1=1.5), rel=1e-10)
    assert float(ds.trough[0, 59]) == pytest.approx(
        trough_by_superposition(400, 24, 2000, second.cl, second.v, d1=1.5), rel=1e-8
    )
    assert float(ds.weight[0]) == REFERENCE_SUBJECT["weight"]


def test_simulate_by_name_with_covariates():
    from imapk.covariates import REFERENCE_SUBJECT
    from imapk.models import get_model

    model = get_model("widmer2006_covariates")
    ds = imapk.simulate(Schedule(phases=(Phase(dose=400, days=30),)), model.name, covariates={"weight": [50.0, 90.0]})
    for i, weight in enumerate((50.0, 90.0)):
        p = model.typical_params({**REFERENCE_SUBJECT, "weight": weight})
        expected = trough_by_superposition(400, 24, 29, p.cl, p.v, p.ka)
        assert float(ds.trough[i, 29]) == pytest.approx(expected, rel=1e-10)
    np.testing.assert_array_equal(ds.weight.values, [50.0, 90.0])
    np.testing.assert_array_equal(ds.sex.values, ["male", "male"])


def test_simulate_refuses_a_wrong_name_with_the_suggestion():
    with pytest.raises(ParameterError, match=r"^unknown parameter set: did you mean 'widmer2006'\? \(got 'Widmer2006'"):
        imapk.simulate(Schedule(phases=(Phase(dose=400, days=3),)), "Widmer2006")


def test_simulate_by_name_refuses_changes_with_occasions():
    from imapk.params import ParameterChange

    schedule = Schedule(phases=(Phase(dose=400, days=3),))
    with pytest.raises(ImapkError, match=r"^changes: `changes` need one subject without occasion effects; schmidli2005 has"):
        imapk.simulate(schedule, "schmidli2005", changes=(ParameterChange.at(24.0, cl=10.0),))
    ds = imapk.simulate(schedule, "widmer2006", changes=(ParameterChange.at(24.0, cl=10.0),))
    assert float(ds.cl[0]) == 14.3


def test_hold_inside_a_ladder_in_the_python_api():
    table = Schedule(
        phases=(Phase(dose="400 mg", days=20),),
        holds=(
            Hold(start_day=3, days=2, restart=(LadderStep("200 mg", 5), LadderStep("300 mg", 10))),
            Hold(start_day=11, days=2, restart=(LadderStep("200 mg", 2),)),
        ),
    ).lower()
    # days 1-2 400; 3-4 held (400); 5-9 200; 10 300; 11-12 held (300); 13-14 200; 15-20 400
    np.testing.assert_array_equal(
        table.planned, [400, 400, 400, 400, 200, 200, 200, 200, 200, 300, 300, 300, 200, 200, 400, 400, 400, 400, 400, 400]
    )
    np.testing.assert_array_equal(
        table.given, [400, 400, 0, 0, 200, 200, 200, 200, 200, 300, 0, 0, 200, 200, 400, 400, 400, 400, 400, 400]
    )


def _reference_scenario(name: str) -> str:
    """A scenario of one subject without variability under the shipped model `name`, with the reference
    subject's covariates written out."""
    from imapk.covariates import COVARIATES, REFERENCE_SUBJECT
    from imapk.models import get_model

    lines = [f'{c} = "{REFERENCE_SUBJECT[c]}"' if COVARIATES[c].categorical else f'{c} = "{REFERENCE_SUBJECT[c]} {COVARIATES[c].unit}"'
             for c in get_model(name).covariates]
    return (
        f'[scenario]\ntitle = "t"\n[model]\nparameter_set = "{name}"\n[[schedule.phases]]\ndose = "400 mg"\ndays = 40\n'
        "[population]\nsize = 1\niiv = false\n" + ("[population.covariates]\n" + "\n".join(lines) + "\n" if lines else "")
        + "[output]\ndense = false\n"
    )


@pytest.mark.parametrize("name", sorted(__import__("imapk.models", fromlist=["MODELS"]).MODELS))
def test_simulate_by_name_equals_the_scenario_of_the_reference_subject(name):
    from imapk.models import get_model

    method = "ode" if get_model(name).time_variation.needs_ode else "exact"
    expected = run_scenario(parse_scenario(_reference_scenario(name)), method=method).trough.values
    actual = imapk.simulate(Schedule(phases=(Phase(dose="400 mg", days=40),)), name, method=method).trough.values
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=0)


def test_a_population_too_large_for_the_machine_is_refused_before_any_work():
    """7 x 10^9 subjects (a typo) would need terabytes: one line naming population.size, not a MemoryError."""
    import textwrap

    from imapk.errors import ScenarioError
    from imapk.runner import run_scenario
    from imapk.scenario import parse_scenario

    text = textwrap.dedent("""
        [scenario]
        title = "huge"
        seed = 1
        [model]
        parameter_set = "widmer2006"
        [population]
        size = 7000000000
        [[schedule.phases]]
        dose = "400 mg"
        days = 30
        [output]
        dense = false
    """)
    with pytest.raises(ScenarioError) as error:
        run_scenario(parse_scenario(text, "s.toml"))
    assert error.value.key == "population.size" and "GiB of memory" in error.value.problem
