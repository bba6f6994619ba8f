"""simulate() and the verdict on each patient's realised doses (random dosing processes)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from imapk import simulate
from imapk.errors import ImapkError
from imapk.params import ParameterTable
from imapk.processes import HoldLength, MarkovMisses, ToxicityProcess, Weibull, realise
from imapk.report import format_text, verdict
from imapk.schedule import HELD, LadderStep, Phase, Schedule

SCHEDULE = Schedule(phases=(Phase(dose=400, days=90),))
RASH = ToxicityProcess(first=Weibull(30.0, 1.5), recurrence=Weibull(30.0), hold=HoldLength("uniform", 3, 10),
                       restart=(LadderStep(200, 7), LadderStep(300, 14)), discontinue_after=3)


def population(n: int) -> ParameterTable:
    rng = np.random.default_rng(3)
    return ParameterTable(values={"cl": 14.3 * np.exp(0.3 * rng.standard_normal(n)), "v": np.full(n, 347.0),
                                  "ka": np.full(n, 0.609), "d1": None, "f": np.ones(n), "tlag": np.zeros(n)})


def test_the_result_holds_each_patients_doses_and_troughs():
    n = 30
    doses = realise(SCHEDULE, range(n), 5, toxicity=RASH, adherence=MarkovMisses(0.9, 0.5))
    params = population(n)
    ds = simulate(doses, params, thresholds=["gist"])
    np.testing.assert_array_equal(ds["dose_given"].values, doses.given)
    np.testing.assert_array_equal(ds["subject_dose_status"].values, doses.status)
    np.testing.assert_array_equal(ds["subject_dose_planned"].values, doses.planned)
    assert ds["subject_dose_status"].attrs["flag_meanings"] == "given held missed"
    labels = ds["reason"].values[ds["subject_dose_reason"].values]
    assert set(labels[doses.status == 2]) == {"missed"}
    assert all(label.startswith("rash ") for label in labels[doses.status == HELD])
    np.testing.assert_array_equal(ds["toxicity_event_count"].values, [len(e.time) for e in doses.events])
    # the prescription as written stays in the shared variables
    np.testing.assert_array_equal(ds["dose_planned"].values, SCHEDULE.lower().planned)
    for i in (0, 7, 29):
        alone = simulate(replace(doses.table, given=doses.given[i]),
                         ParameterTable(values={k: None if v is None else v[i:i + 1] for k, v in params.values.items()}),
                         thresholds=["gist"])
        np.testing.assert_array_equal(ds["trough"].values[i], alone["trough"].values[0])
        np.testing.assert_array_equal(ds["time_below"].values[i], alone["time_below"].values[0])


def test_one_typical_patient_is_repeated_for_every_realisation():
    doses = realise(SCHEDULE, range(4), 5, adherence=MarkovMisses(0.8, 0.5))
    ds = simulate(doses, "widmer2006")
    assert ds.sizes["subject"] == 4 and np.all(ds["cl"].values == ds["cl"].values[0])
    assert not np.array_equal(ds["trough"].values[0], ds["trough"].values[1])  # their own misses


def test_the_verdict_counts_each_patients_doses_by_hand():
    """Every patient has an event at once (scale 1e-6 d): a 3-day hold from day 2, no recurrence, over 10
    days: 7 doses given and 3 held each; 5 of 5 patients with one event; none discontinued."""
    process = ToxicityProcess(first=Weibull(1e-6), hold=HoldLength("fixed", 3))
    doses = realise(Schedule(phases=(Phase(dose=400, days=10),)), range(5), 1, toxicity=process)
    ds = simulate(doses, population(5), thresholds=["gist"])
    summary = verdict(ds)
    d = summary["realised_dosing"]
    assert d["given"]["median"] == d["given"]["p05"] == d["given"]["p95"] == 7
    assert d["held"]["median"] == 3 and d["held"]["patients_with_any"] == 5
    assert d["missed"]["median"] == 0 and d["missed"]["patients_with_any"] == 0
    assert d["toxicity"] == {"patients_with_events": 5, "events": d["toxicity"]["events"], "discontinued": 0}
    assert d["toxicity"]["events"]["median"] == 1
    text = format_text(summary)
    assert "given 7 (5 of 5 patients with any), held 3 (5 of 5 patients with any), missed 0 (0 of 5" in text
    assert "Toxicity events: 5 of 5 patients had at least one (events per patient 1); 0 discontinued" in text


@pytest.mark.parametrize("mode", ["paused", "reset"])
def test_each_patients_own_holds_pause_or_reset_its_own_clock(mode):
    """Eechoute 2012 (ka and F change with time on therapy) on the ODE path: each patient of the
    population has the troughs of its own realised schedule simulated alone, whose holds pause (or
    reset) the clock (rtol 1e-12: the same integrator on the same inputs; only the grouping of
    patients differs). Patients with different holds differ from each other."""
    from imapk.processes import realised_schedule

    doses = realise(SCHEDULE, range(4), 5, toxicity=RASH)
    assert len({e.hold_start_day for e in doses.events}) > 1  # different holds, so different clocks
    covariates = {"liver_metastases": [0.0]}
    ds = simulate(doses, "eechoute2012", method="ode", therapy_clock=mode, covariates=covariates,
                  thresholds=["gist"])
    for i, events in enumerate(doses.events):
        alone = simulate(realised_schedule(SCHEDULE, RASH, events, 90), "eechoute2012", method="ode",
                         therapy_clock=mode, covariates=covariates, thresholds=["gist"])
        np.testing.assert_allclose(ds["trough"].values[i], alone["trough"].values[0], rtol=1e-12, atol=0)
        np.testing.assert_allclose(ds["time_below"].values[i], alone["time_below"].values[0], rtol=1e-12)
    running = simulate(doses, "eechoute2012", method="ode", covariates=covariates)
    assert not np.array_equal(running["trough"].values, ds["trough"].values)


def test_parameters_for_another_number_of_subjects_are_refused():
    doses = realise(SCHEDULE, range(3), 5, toxicity=RASH)
    with pytest.raises(ImapkError) as error:
        simulate(doses, population(4))
    assert error.value.key == "params"


def test_patients_without_events_and_a_policy_that_never_fires_change_nothing():
    from imapk.processes.policies import TroughEscalation, escalate

    n = 40
    rare = replace(RASH, first=Weibull(300.0, 1.5))  # about 15 % with an event within 90 days
    doses = realise(SCHEDULE, range(n), 5, toxicity=rare)
    params = population(n)
    fixed = simulate(SCHEDULE, params, thresholds=["gist"])
    drawn = simulate(doses, params, thresholds=["gist"])
    quiet = np.array([not e.time for e in doses.events])
    assert quiet.any() and not quiet.all()
    np.testing.assert_array_equal(drawn["trough"].values[quiet], fixed["trough"].values[quiet])
    np.testing.assert_array_equal(drawn["time_below"].values[quiet], fixed["time_below"].values[quiet])
    never, escalated = escalate(doses, TroughEscalation(day=29, below=1e-9, dose=600.0), drawn["trough"].values[:, 28])
    assert not escalated.any()
    np.testing.assert_array_equal(simulate(never, params)["trough"].values, simulate(doses, params)["trough"].values)


def test_compare_reports_what_the_holds_cost_on_the_same_patients():
    """A fixed schedule against the same patients with rash-driven holds: per patient, the extra held
    doses are the holds drawn (counted here from the realised statuses) and the time below target
    can only grow (less drug, linear PK)."""
    from imapk.counterfactual import compare, format_comparison

    n = 60
    doses = realise(SCHEDULE, range(n), 5, toxicity=RASH)
    params = population(n)
    summary = compare({"fixed": simulate(SCHEDULE, params, thresholds=["gist"]),
                       "rash holds": simulate(doses, params, thresholds=["gist"])})
    rows = {row["metric"]: row for row in summary["rows"]}
    held = (doses.status == HELD).sum(axis=1)
    assert rows["doses_held"]["alternative_mean"] == pytest.approx(held.mean(), rel=1e-12)
    assert rows["doses_held"]["fraction_worse"] == pytest.approx(np.mean(held > 0), rel=1e-12)
    assert rows["toxicity_events"]["alternative_mean"] == pytest.approx(np.mean([len(e.time) for e in doses.events]))
    assert rows["time_below"]["fraction_better"] == 0.0 and rows["time_below"]["fraction_worse"] > 0
    text = format_comparison(summary)
    assert "Dosing, mean per subject" in text and "doses_held [doses]" in text
