"""A patient's NONMEM-style records as MAP inputs (imapk.tdm.records)."""

from __future__ import annotations

import numpy as np
import pytest

from imapk.datasets import read_dataset
from imapk.errors import ImapkError
from imapk.schedule import Phase, Schedule, SteadyState
from imapk.tdm import Observations, map_estimate
from imapk.tdm.records import patient_inputs

HEADER = "ID,TIME,EVID,AMT,II,ADDL,SS,CMT,DV,MDV,BLQ,LLOQ,weight [kg]\n"


def write(tmp_path, rows: str):
    path = tmp_path / "data.csv"
    path.write_text(HEADER + rows)
    return read_dataset(path)


def test_records__addl_and_observations_match_plain_inputs(tmp_path):
    data = write(tmp_path, (
        "7,100,1,400,24,9,0,1,.,1,0,.,62\n"
        "7,100,1,200,24,9,0,1,.,1,0,.,62\n"  # a second record at the same times: added
        "7,315,0,0,0,0,0,2,1500,0,0,.,62\n"
        "7,340,0,0,0,0,0,2,.,1,1,50,62\n"
    ))
    p = patient_inputs(data.subjects[0], source="data.csv")
    assert p.id == "7" and p.time_offset == 100.0
    np.testing.assert_array_equal(p.doses.time, np.arange(10) * 24.0)
    np.testing.assert_array_equal(p.doses.given, np.full(10, 600.0))
    np.testing.assert_array_equal(p.observations.time, [215.0, 240.0])
    np.testing.assert_array_equal(p.observations.censored, [False, True])
    assert p.covariates == {"weight": 62.0}
    a = map_estimate("wang2019", p.doses, p.observations, covariates=p.covariates, warn=False)
    b = map_estimate("wang2019", Schedule(phases=(Phase(dose=600, days=10),)),
                     Observations.from_arrays([215.0, 240.0], [1500.0, np.nan], [False, True], [0.0, 50.0]),
                     covariates={"weight": 62.0}, warn=False)
    np.testing.assert_array_equal(a.eta, b.eta)


def test_records__steady_state_start(tmp_path):
    data = write(tmp_path, "1,0,1,400,24,4,1,1,.,1,0,.,70\n1,119,0,0,0,0,0,2,900,0,0,.,70\n")
    p = patient_inputs(data.subjects[0])
    assert p.doses.steady_state == SteadyState(dose=400.0, interval=24.0, time_on_therapy=None)
    a = map_estimate("widmer2006", p.doses, p.observations, warn=False)
    b = map_estimate("widmer2006", Schedule(phases=(Phase(dose=400, days=5),), steady_state=SteadyState(400.0)),
                     ([119.0], [900.0]), warn=False)
    np.testing.assert_array_equal(a.eta, b.eta)


@pytest.mark.parametrize("row, column, value", [
    ("1,48,3,0,0,0,0,1,.,1,0,.,70\n", "EVID", "3"),
    ("1,48,1,400,0,0,0,2,.,1,0,.,70\n", "CMT", "2"),
    ("1,48,1,400,24,0,2,1,.,1,0,.,70\n", "SS", "2"),
])
def test_records__records_a_dose_table_cannot_express_are_walked(tmp_path, row, column, value):
    """A reset, a central dose or SS 2 no longer stops the fit: the doses are the records themselves
    (the general path), with the first such record named as the reason."""
    from imapk.tdm.records import PatientRecords

    data = write(tmp_path, "1,0,1,400,24,1,0,1,.,1,0,.,70\n" + row)
    p = patient_inputs(data.subjects[0], source="data.csv")
    assert isinstance(p.doses, PatientRecords)
    assert f"row 3, {column} {value}" in p.doses.reason


@pytest.mark.parametrize("model, rows, match", [
    # RATE -2 (the model's duration) with a first-order model, on the general path (a central dose)
    ("widmer2006", "1,0,1,400,24,1,0,1,0,.,1,0,.,70\n1,48,1,400,0,0,0,1,-2,.,1,0,.,70\n1,50,1,100,0,0,0,2,0,.,1,0,.,70\n",
     r"data.csv: row 3, column RATE: RATE -2 \(modelled duration\) needs a model with a duration D1 .*got -2.0;"),
    # a bolus into CMT 1 of a zero-order input model without a depot, after a reset
    ("golabchifar2014", "1,0,1,400,24,1,0,1,-2,.,1,0,.,70\n1,48,4,400,0,0,0,1,0,.,1,0,.,70\n",
     r"data.csv: row 3, column RATE: the model has zero-order input and no depot: a bolus into CMT 1 is undefined "
     r"\(got 0"),
])
def test_records__records_the_model_cannot_give_are_refused_at_the_fit(tmp_path, model, rows, match):
    """What remains refused on the general path is what the model cannot give, named by row, column
    and value (the data set walker's messages), before any optimisation."""
    path = tmp_path / "data.csv"
    path.write_text("ID,TIME,EVID,AMT,II,ADDL,SS,CMT,RATE,DV,MDV,BLQ,LLOQ,weight [kg]\n" + rows
                    + "1,70,0,0,0,0,0,2,0,900,0,0,.,70\n")
    p = patient_inputs(read_dataset(path).subjects[0], source="data.csv")
    with pytest.raises(ImapkError, match=match):
        map_estimate(model, p.doses, p.observations, covariates=p.covariates, warn=False)


def test_records__no_dose_is_refused_naming_the_id(tmp_path):
    data = write(tmp_path, "5,10,0,0,0,0,0,2,900,0,0,.,70\n")
    with pytest.raises(ImapkError, match=r"data.csv: ID 5: a MAP fit needs the patient's doses"):
        patient_inputs(data.subjects[0], source="data.csv")


def test_summary__lines_and_json_record(tmp_path):
    import json

    from imapk.tdm import plan_next_step, summary_lines, summary_record

    data = write(tmp_path, "7,100,1,300,24,13,0,1,.,1,0,.,62\n7,411,0,0,0,0,0,2,700,0,0,.,62\n")
    p = patient_inputs(data.subjects[0])
    fit = map_estimate("widmer2006", p.doses, p.observations, warn=False, n_samples=300)
    plan = plan_next_step(fit, target="gist", day=8)
    lines = summary_lines(fit, plan, patient=p.id, time_offset=p.time_offset)
    assert lines[0] == "Patient 7"
    assert any(line.startswith("  level at 411 h: 700 ng/mL") for line in lines)
    assert lines[-1].startswith("    recommended: ")
    record = json.loads(json.dumps(summary_record(fit, plan, patient=p.id, time_offset=p.time_offset)))
    assert record["observations"][0]["time"] == 411.0
    assert [c["dose"] for c in record["plan"]["candidates"]] == [100.0 * k for k in range(1, 9)]
    assert record["plan"]["recommended"] == plan.recommended
