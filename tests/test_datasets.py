"""Reading, validating and writing NONMEM-style data sets (imapk.datasets)."""

from __future__ import annotations

import numpy as np
import pytest

from imapk import simulate
from imapk.datasets import read_dataset, scenario_to_dataset, write_dataset
from imapk.errors import ScenarioError
from imapk.scenario import load_scenario, parse_scenario

from conftest import SCENARIOS

HEADER = "ID,TIME,EVID,AMT,RATE,II,ADDL,SS,CMT,DV,MDV\n"
DOSE = "1,0,1,400,0,0,0,0,1,.,1\n"


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(tmp_path, text, **kwargs) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        read_dataset(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message[len(str(path)) + 2:]


@pytest.mark.parametrize(
    "text, expected",
    [
        (HEADER + "1,0,5,400,0,0,0,0,1,.,1\n",
         "row 2, column EVID: unknown EVID code (got '5'; expected one of 0, 1, 2, 3, 4)"),
        (HEADER + "1,0,1,-400,0,0,0,0,1,.,1\n", "row 2, column AMT: negative AMT (got '-400'; expected >= 0)"),
        (HEADER + DOSE + "1,1 h,0,.,.,.,.,.,2,.,1\n",
         "row 3, column TIME: not a number (got '1 h'; expected a number, or '.' or an empty cell for a missing value)"),
        (HEADER + "1,24,1,400,0,0,0,0,1,.,1\n1,12,0,.,.,.,.,.,2,.,1\n",
         "row 3, column TIME: TIME goes backwards within ID '1' (row 2 has 24 h) (got 12.0; expected >= 24)"),
        (HEADER.strip() + ",DATE\n" + DOSE.strip() + ",2024-01-01\n",
         "row 1, column DATE: unknown column (got 'DATE'; expected one of ID, TIME, AMT, EVID, II, ADDL, SS, RATE, "
         "CMT, DV, MDV, BLQ, LLOQ or a covariate"),
        (HEADER + DOSE + "1,12,0,.,.,.,.,.,2,.,0\n",
         "row 3, column DV: an observation with MDV 0 has no DV (got '.'; expected a concentration [ng/mL], or MDV 1)"),
        (HEADER + "1,0,1,400,0,0,0,1,1,.,1\n", "row 2, column II: SS 1 needs II > 0 (got '0'; expected the dosing "
         "interval of the steady state [h])"),
        (HEADER + "1,0,1,400,0,.,3,0,1,.,1\n", "row 2, column II: ADDL needs II > 0 (got '.'"),
        (HEADER + "1,0,1,400,-1,0,0,0,1,.,1\n", "row 2, column RATE: RATE must be 0 (bolus), > 0 (zero-order input) "
         "or -2 (the model's duration D1) (got '-1'"),
        (HEADER + "1,0,1,400,0,0,0,0,3,.,1\n", "row 2, column CMT: unknown CMT code (got '3'; expected 1 (the dose compartment: the depot, or the first compartment of a transit chain) or 2 (central)"),
        (HEADER + "1,0,1,400,0,0,0,3,1,.,1\n", "row 2, column SS: unknown SS code (got '3'"),
        (HEADER + "1,0,1,.,0,0,0,0,1,.,1\n", "row 2, column AMT: a dose record (EVID 1) needs AMT > 0 (got '.'"),
        (HEADER + "1,0,1,400,0,24,1.5,0,1,.,1\n", "row 2, column ADDL: not a whole number (got '1.5'"),
        (HEADER + DOSE + "1,5,0,.,.,.,.,.,1,300,0\n",
         "row 3, column CMT: observations are predicted in the central compartment (got '1'; expected 2"),
        (HEADER + DOSE + "1,5,0,100,.,.,.,.,2,300,0\n", "row 3, column AMT: AMT on a record that is not a dose (EVID 0)"),
        (HEADER + DOSE + "1,5,0,.,.,.,.,.,2,-3,0\n", "row 3, column DV: negative concentration (got '-3'"),
        (HEADER + "1,0,1,400,0,0,0,0,1,.,0\n", "row 2, column MDV: a dose record has MDV 0 (got '0'"),
        (HEADER + DOSE + "2,0,1,400,0,0,0,0,1,.,1\n1,5,0,.,.,.,.,.,2,.,1\n",
         "row 4, column ID: ID '1' returns after other IDs (its last record was row 2) (got '1'; expected the "
         "records of each ID together (sort by ID, then TIME))"),
        (HEADER + "1,0,1,400,0\n", "row 2: has 5 fields, the header has 11"),
        (HEADER + ",0,1,400,0,0,0,0,1,.,1\n", "row 2, column ID: empty or unprintable ID (got '')"),
        ("ID,TIME [min],AMT\n1,0,400\n", "row 1, column TIME [min]: unknown unit for TIME (got 'min'; expected [h])"),
        ("ID,AMT\n1,400\n", "row 1: the data set has no TIME column"),
        ("ID,TIME,AMT,weight\n1,0,400,70\n",
         "row 1, column weight: the covariate needs its unit, once (got 'weight'; expected a header 'weight [kg]' "
         "or units={'weight': 'kg'})"),
        ("ID,TIME,AMT,weight [kg]\n1,0,400,.\n", "row 2, column weight: missing covariate value (got '.'"),
        ("ID,TIME,AMT,weight [kg]\n1,0,400,700\n", "row 2, column weight: implausible body weight (a unit slip?)"),
        ("ID,TIME,AMT,sex\n1,0,400,m\n", "row 2, column sex: unknown sex (got 'm'; expected one of male, female)"),
        ("ID,TIME,AMT,weight [stone]\n1,0,400,11\n", "row 1, column weight [stone]: unknown unit for weight"),
    ],
)
def test_read__malformed_row_names_row_column_value(tmp_path, text, expected):
    assert error_of(tmp_path, text).startswith(expected)


def test_read__header_only_refused(tmp_path):
    assert error_of(tmp_path, HEADER) == "the data set needs a header and at least one record"


def test_read__not_a_file_refused(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read the data set: it is a folder"):
        read_dataset(tmp_path)


def test_read__missing_values_and_defaults(tmp_path):
    """'.' and blanks are missing; EVID, MDV and CMT follow from the record when missing."""
    text = "ID,TIME,AMT,DV\n1,0,400,\n1,12,.,650.5\n1,24, ,\n"
    s = read_dataset(write(tmp_path, text)).subjects[0]
    assert s.evid.tolist() == [1, 0, 0]
    assert s.mdv.tolist() == [1, 0, 1]
    assert s.cmt.tolist() == [1, 2, 2]
    assert s.amt.tolist() == [400.0, 0.0, 0.0]
    assert s.dv[1] == 650.5 and np.isnan(s.dv[0]) and np.isnan(s.dv[2])
    assert s.row.tolist() == [2, 3, 4]


def test_read__ids_kept_as_text_in_file_order(tmp_path):
    text = "ID,TIME,AMT\n007,0,400\n007,24,400\n7,0,100\nB-2,0,300\n"
    data = read_dataset(write(tmp_path, text))
    assert data.ids == ["007", "7", "B-2"]
    assert [len(s) for s in data.subjects] == [2, 1, 1]


def test_read__covariate_units_from_header_or_mapping(tmp_path):
    """Units convert to the canonical ones; a unit declared twice, differently, is refused."""
    header = read_dataset(write(tmp_path, "ID,TIME,AMT,weight [lb],haemoglobin [g/L]\n1,0,400,154,130\n"))
    mapping = read_dataset(write(tmp_path, "ID,TIME,AMT,weight,haemoglobin\n1,0,400,154,130\n", "b.csv"),
                           units={"weight": "lb", "haemoglobin": "g/L"})
    for data in (header, mapping):
        assert data.subjects[0].covariates["weight"][0] == pytest.approx(154 * 0.45359237, rel=1e-15)
        assert data.subjects[0].covariates["haemoglobin"][0] == pytest.approx(13.0, rel=1e-15)
        assert data.covariate_units == {"weight": "kg", "haemoglobin": "g/dL"}
    message = error_of(tmp_path, "ID,TIME,AMT,weight [kg]\n1,0,400,70\n", units={"weight": "lb"})
    assert message.startswith("row 1, column weight [kg]: the unit of weight is declared twice, differently")
    message = error_of(tmp_path, "ID,TIME,AMT\n1,0,400\n", units={"weight": "kg"})
    assert message.startswith("units: a unit is declared for a column the data set does not have (got 'weight'")


def test_read__ignored_columns_and_comment_lines(tmp_path):
    text = "# a comment line\nID,TIME,AMT,DATE\n1,0,400,2024-01-01\n#1,12,400,2024-01-01\n1,24,400,2024-01-02\n"
    s = read_dataset(write(tmp_path, text), ignore=("DATE",)).subjects[0]
    assert s.time.tolist() == [0.0, 24.0] and s.row.tolist() == [3, 5]


def test_read__time_varying_covariates_kept_per_record(tmp_path):
    text = "ID,TIME,AMT,weight [kg]\n1,0,400,70\n1,24,400,65.5\n"
    s = read_dataset(write(tmp_path, text)).subjects[0]
    assert s.covariates["weight"].tolist() == [70.0, 65.5]
    assert s.covariates_at(1) == {"weight": 65.5}


def test_write_read__round_trip_is_exact(tmp_path):
    """Every value survives writing and reading bit for bit (times with 17 significant digits, negative TIME)."""
    text = ("ID,TIME,EVID,AMT,RATE,II,ADDL,SS,CMT,DV,MDV,BLQ,LLOQ,weight [kg],sex\n"
            "a,-24,1,400,0,24,0,1,1,.,1,0,.,70.25,male\n"
            "a,0.1,0,.,.,.,.,.,2,612.345678901234,0,0,10,70.25,male\n"
            "a,1.5,0,.,.,.,.,.,2,.,1,1,10,71,male\n"
            "b,0,1,300,100,0,0,0,2,.,1,0,.,55,female\n")
    first = read_dataset(write(tmp_path, text))
    second = read_dataset(write_dataset(tmp_path / "out.csv", first))
    assert second.ids == first.ids and second.covariate_units == first.covariate_units
    for a, b in zip(first.subjects, second.subjects):
        for name in ("time", "evid", "amt", "ii", "addl", "ss", "rate", "cmt", "dv", "mdv", "blq", "lloq"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        for name in a.covariates:
            np.testing.assert_array_equal(a.covariates[name], b.covariates[name])


def test_write__folder_missing(tmp_path):
    from imapk.errors import OutputError

    with pytest.raises(OutputError, match="the output folder does not exist"):
        write_dataset(tmp_path / "nowhere" / "out.csv", SCENARIOS / "gist-rash-case-report.toml")


def test_export__case_report_records(case_report_path):
    """Troughs before doses at equal times, no record for held doses, 400/200/300/400 mg as given."""
    s = scenario_to_dataset(case_report_path).subjects[0]
    doses = s.evid == 1
    assert doses.sum() == 365 - 14
    assert (s.evid == 0).sum() == 365
    assert s.evid[:2].tolist() == [0, 1] and s.time[:2].tolist() == [0.0, 0.0]
    given = dict(zip(s.time[doses] / 24 + 1, s.amt[doses]))
    assert [given.get(day) for day in (28, 29, 42, 43, 50, 106)] == [400.0, None, None, 200.0, 300.0, 400.0]
    assert set(s.mdv[s.evid == 0]) == {1} and set(s.cmt[doses]) == {1} and set(s.rate[doses]) == {0.0}


def test_export__population_covariates_give_the_typical_troughs(tmp_path):
    """Five subjects of a covariate population: their rows carry their covariates, and simulating the data
    set gives imapk.simulate's typical-value troughs for those covariates (1e-12)."""
    from imapk.dataset_simulation import simulate_dataset

    scenario = load_scenario(SCENARIOS / "gist-rash-case-report-population.toml")
    data = read_dataset(write_dataset(tmp_path / "pop.csv", scenario, subjects=[0, 1, 2, 3, 4]))
    assert data.ids == ["0", "1", "2", "3", "4"]
    covariates = {name: np.array([s.covariates[name][0] for s in data.subjects]) for name in data.covariate_names}
    expected = simulate(scenario.schedule, "widmer2006_covariates", covariates=covariates).trough.values
    sim = simulate_dataset(data, "widmer2006_covariates")
    np.testing.assert_allclose(sim.prediction.reshape(5, -1), expected, rtol=1e-12)


def test_export__zero_order_model_writes_rate_minus_2():
    text = (SCENARIOS / "gist-rash-case-report.toml").read_text().replace('"widmer2006"', '"schmidli2005"')
    text = text.replace("[[schedule.phases]]", '[population.covariates]\nweight = "80 kg"\nhaemoglobin = "13 g/dL"\n'
                        'wbc = "16 10^9/L"\n\n[[schedule.phases]]', 1)
    text = text.replace("[scenario]\n", "[scenario]\nseed = 1\n", 1)
    s = scenario_to_dataset(parse_scenario(text, "schmidli.toml")).subjects[0]
    assert set(s.rate[s.evid == 1]) == {-2.0}
    assert s.covariates["weight"][0] == 80.0


def test_export__measured_troughs_as_dv(case_report_path):
    dv = np.full((1, 365), np.nan)
    dv[0, [50, 63]] = [610.0, 640.0]
    s = scenario_to_dataset(case_report_path, dv=dv).subjects[0]
    obs = s.evid == 0
    assert s.mdv[obs].sum() == 363 and s.dv[obs][50] == 610.0 and s.dv[obs][63] == 640.0


@pytest.mark.parametrize(
    "extra, problem",
    [
        ('[[model.changes]]\nfrom_day = 10\ncl = "8 L/h"\n', "a data set cannot hold step changes of parameters"),
        ('[[interactions]]\ndrug = "rifampicin"\nstart_day = 15\ndays = 10\n',
         "a data set cannot hold co-medication periods"),
    ],
)
def test_export__refuses_what_a_data_set_cannot_hold(extra, problem):
    text = (SCENARIOS / "gist-rash-case-report.toml").read_text() + "\n" + extra
    with pytest.raises(ScenarioError, match=problem):
        scenario_to_dataset(parse_scenario(text, "extra.toml"))


def test_export__models_of_different_input_kinds_refused():
    with pytest.raises(ScenarioError, match=r"model: a data set cannot hold doses for models of different input kinds "
                                            r"\(first- and zero-order\) at once \(.*schmidli2005"):
        scenario_to_dataset(SCENARIOS / "model-comparison.toml")
