"""simulate_dataset against NONMEM's own outputs: the dosing benchmark of mrgsolve/nmtests.

The reference is NONMEM 7.5.1's simulation of 29 dosing scenarios (one ID each, 131 observation
records at 0, 1, ..., 130 h) with a one-compartment model with first-order absorption (ADVAN2
TRANS2: CL 1.1 L/h, V 20 L, KA 1.5 1/h, no random effects), published by Metrum Research Group in
github.com/mrgsolve/nmtests (commit 5235a697, GPL-2; files ``dosing/data/1001.csv`` and
``dosing/1001/TAB``), copied unchanged into ``tests/data/nonmem/nmtests_1001.csv``. NONMEM's CP is
A(2) / (V/1000), which is imapk's prediction in ng/mL for doses in mg and V in L.

Mapping the records onto imapk. NONMEM's control stream puts the bioavailability, lag and modelled
duration on the *central* compartment (F2 = BIOAV, ALAG2 = LAGT, D2 = DUR2 with RATE -2); the depot
has F1 = 1 and no lag. imapk's F, lag and D1 act on CMT 1 (:mod:`imapk.dataset_simulation`). So:

* a scenario whose central doses have BIOAV 1, LAGT 0 and no RATE -2 (its depot doses have F1 1, no
  lag in both) is simulated with the first-order model ``PKParams(cl=1.1, v=20, ka=1.5)`` on the
  records as they are (CMT 1 depot, CMT 2 central);
* a scenario whose doses all go into the central compartment as infusions (RATE > 0 or -2) with one
  BIOAV, LAGT and DUR2 is simulated with the zero-order model ``PKParams(cl=1.1, v=20, d1=DUR2,
  f=BIOAV, tlag=LAGT)``, whose CMT 1 is the central compartment: the dose records' CMT 2 is written
  as 1. With every dose in the central compartment NONMEM's depot stays empty, so the central
  amount obeys the same equation in both models.

Scenarios and what is checked (numbers as in nmtests):

* read from a CSV and simulated (:func:`test_reader_and_walker_match_nonmem`): 1 bolus with ADDL;
  3 central infusions with ADDL; 4 infusion with F; 5 RATE -2 with D2 and F; 6 infusions into the
  depot; 7 infusions with lag; 8 infusions with lag and F; 18 RATE -2 with lag and F; 19 RATE -2 at
  steady state with F and ADDL; 21 EVID 4 with SS 1; 26 EVID 3 reset between ADDL trains; 27 the
  same with LAGT 10 (which acts on nothing: no central dose); 28 SS 1 then SS 2; 9, 13, 14 a
  steady-state infusion with ADDL (13 with AMT/RATE > II, its F AMT / RATE being II); 20, 22 ADDL on
  EVID 4 (NONMEM's additional doses do not reset). The reader refused 9, 13, 14, 20 and 22 until
  these outputs showed that NONMEM 7.5.1 runs them, and how.
* refused (:func:`test_refused_scenarios`): 10, 11, 12, steady-state infusions lasting longer than
  their interval (F AMT / RATE > II, which the walker does not compute); 29, a constant infusion to
  steady state (AMT 0, RATE 100, SS 1), which imapk has no record for (a dose needs AMT > 0).
* not expressible, not tested: 2, 15, 16, 17, 23, 24, 25 put F or a lag on a *bolus* into the
  central compartment. imapk's F and lag act on CMT 1 only; a first-order model's CMT 1 is the depot
  and a zero-order model refuses a CMT 1 bolus.

Besides the closed form (one compartment), every scenario is also run through the walker's
matrix-exponential path (:func:`test_matrix_exponential_path_matches_nonmem`) by giving the model a
peripheral compartment with a negligible inter-compartmental clearance. nmtests has no
two-compartment (ADVAN4) scenario, so the two-compartment structure itself is not checked here.

Tolerance. NONMEM's $TABLE prints CP with format S1PE11.4, i.e. 5 significant digits, so the
printed value is within half a unit of its 5th digit (0.5e-4 times its power of ten; 5e-6 to 5e-5
relative) of NONMEM's double-precision value. Both programs evaluate exact solutions in double
precision, whose differences are far below 1e-9 relative; the tolerance is therefore half a unit of
the printed last digit plus 1e-9 relative. A printed 0.0000E+00 is an exact zero in NONMEM (the
format would print any nonzero double above 1e-99 with its exponent) and imapk must give 0 there
too. Measured: on all 18 x 131 compared records imapk's value rounds to NONMEM's printed one (the
largest difference is 0.9996 of the half unit, on both paths), and a change of CL by 1e-4 relative
fails every scenario.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from imapk.dataset_simulation import simulate_dataset
from imapk.datasets import DataSet, SubjectRecords, read_dataset
from imapk.errors import ImapkError
from imapk.params import PKParams

REFERENCE = Path(__file__).resolve().parent / "data" / "nonmem" / "nmtests_1001.csv"
#: NONMEM's typical values in dosing/1001.ctl ($THETA, all FIX; OMEGA and SIGMA 0).
CL, V, KA = 1.1, 20.0, 1.5
#: Relative difference allowed between two double-precision evaluations of exact solutions.
RTOL_ARITHMETIC = 1e-9
#: Half a unit of the last printed digit of S1PE11.4 (mantissa d.dddd): 0.5e-4 per power of ten.
HALF_UNIT_MANTISSA = 0.5e-4
#: Inter-compartmental clearance [L/h] that makes a two-compartment structure one compartment to
#: about 1e-11 relative over 130 h (fraction of the central amount moved: Q t / V = 6.5e-12).
Q_NEGLIGIBLE = 1e-12

READ = (1, 3, 4, 5, 6, 7, 8, 9, 13, 14, 18, 19, 20, 21, 22, 26, 27, 28)
#: Scenario -> (where imapk refuses it, the refusal's message).
REFUSED = {
    10: ("walker", "lasts longer than its interval"),
    11: ("walker", "lasts longer than its interval"),
    12: ("walker", "lasts longer than its interval"),
    29: ("reader", "needs AMT > 0"),
}
#: F or a lag on a central bolus: no imapk counterpart (module docstring).
NOT_EXPRESSIBLE = (2, 15, 16, 17, 23, 24, 25)


def _reference() -> dict[int, list[dict[str, str]]]:
    """The records of each scenario (ID) of the reference file, in file order, as text."""
    with REFERENCE.open(newline="") as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    scenarios: dict[int, list[dict[str, str]]] = {}
    for row in rows:
        scenarios.setdefault(int(row["ID"]), []).append(row)
    return scenarios


SCENARIOS = _reference()


def mapping(records) -> tuple[PKParams, dict[str, str]]:
    """imapk's parameters for a scenario and the CMT code of its dose records (module docstring)."""
    doses = [r for r in records if r["EVID"] in ("1", "4")]
    central = [r for r in doses if r["CMT"] == "2"]
    if all(float(r["BIOAV"]) == 1.0 and float(r["LAGT"]) == 0.0 and float(r["RATE"]) != -2.0 for r in central):
        return PKParams(cl=CL, v=V, ka=KA), {"1": "1", "2": "2"}
    settings = {(r["BIOAV"], r["LAGT"], r["DUR2"]) for r in doses}
    if len(central) == len(doses) and len(settings) == 1 and all(float(r["RATE"]) != 0.0 for r in doses):
        bioav, lag, duration = settings.pop()
        return PKParams(cl=CL, v=V, d1=float(duration), f=float(bioav), tlag=float(lag)), {"2": "1"}
    raise AssertionError("F or a lag on a central bolus: no imapk counterpart")


def dose_cmt(record, cmt_of_dose) -> str:
    return cmt_of_dose[record["CMT"]] if record["EVID"] in ("1", "4") else record["CMT"]


def write_records(records, cmt_of_dose, path: Path) -> Path:
    """The scenario's records as an imapk data set (observations MDV 1: prediction times)."""
    columns = ("ID", "TIME", "EVID", "AMT", "RATE", "II", "ADDL", "SS")
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([*columns, "CMT", "MDV"])
        for r in records:
            writer.writerow([*(r[c] for c in columns), dose_cmt(r, cmt_of_dose), 1])
    return path


def subject_records(records, cmt_of_dose) -> DataSet:
    """The scenario's records as a :class:`DataSet` built directly (no reader checks)."""
    n = len(records)

    def column(name, kind=float):
        return np.array([kind(r[name]) for r in records], dtype=float if kind is float else np.int64)

    subject = SubjectRecords(
        id=records[0]["ID"], row=np.arange(2, n + 2), time=column("TIME"), evid=column("EVID", int),
        amt=column("AMT"), ii=column("II"), addl=column("ADDL", int), ss=column("SS", int), rate=column("RATE"),
        cmt=np.array([int(dose_cmt(r, cmt_of_dose)) for r in records], dtype=np.int64),
        dv=np.full(n, np.nan), mdv=np.ones(n, dtype=np.int64), blq=np.zeros(n, dtype=np.int64), lloq=np.full(n, np.nan),
    )
    return DataSet(source=f"nmtests scenario {records[0]['ID']}", subjects=(subject,))


def half_unit(printed: str) -> float:
    """Half a unit of the last digit of a value printed as d.ddddE+xx (0 for an exact zero)."""
    value = float(printed)
    if value == 0.0:
        return 0.0
    return HALF_UNIT_MANTISSA * 10.0 ** int(printed.upper().split("E")[1])


def assert_matches_nonmem(records, simulation) -> float:
    """Compare imapk's prediction with NONMEM's CP at every observation record; return the largest
    |difference| / half unit of the printed digit."""
    observed = [r for r in records if r["EVID"] == "0"]
    assert len(simulation.prediction) == len(observed) == 131
    np.testing.assert_array_equal(simulation.time, [float(r["TIME"]) for r in observed])
    nonmem = np.array([float(r["CP"]) for r in observed])
    half = np.array([half_unit(r["CP"]) for r in observed])
    tolerance = half + RTOL_ARITHMETIC * np.abs(nonmem)
    difference = np.abs(simulation.prediction - nonmem)
    worst = int(np.argmax(difference - tolerance))
    assert np.all(difference <= tolerance), (
        f"scenario {records[0]['ID']}, TIME {observed[worst]['TIME']} h: "
        f"imapk {float(simulation.prediction[worst])!r}, NONMEM {observed[worst]['CP']} "
        f"(tolerance {tolerance[worst]:.3g})")
    return float(np.max(np.where(half > 0.0, difference / np.where(half > 0.0, half, 1.0), 0.0)))


def test_reference_file_is_the_published_run():
    """The copied file has NONMEM's 29 scenarios of 131 observations (3837 records, as the listing's
    NO. OF DATA RECS IN DATA SET) and the scenario table above covers each scenario once."""
    assert sorted(SCENARIOS) == list(range(1, 30))
    assert sum(len(records) for records in SCENARIOS.values()) == 3837
    assert all(sum(r["EVID"] == "0" for r in records) == 131 for records in SCENARIOS.values())
    groups = [*READ, *REFUSED, *NOT_EXPRESSIBLE]
    assert sorted(groups) == list(range(1, 30))
    # scenario 1 at 1 h: a depot bolus of 100 mg, CP = 1000 D ka (e^-kt - e^-ka t) / (V (ka - k)).
    k = CL / V
    analytic = 1000.0 * 100.0 * KA * (math.exp(-k) - math.exp(-KA)) / (V * (KA - k))
    first = next(r for r in SCENARIOS[1] if r["EVID"] == "0" and r["TIME"] == "1")
    assert abs(analytic - float(first["CP"])) <= half_unit(first["CP"])


@pytest.mark.parametrize("scenario", READ)
def test_reader_and_walker_match_nonmem(scenario, tmp_path):
    records = SCENARIOS[scenario]
    params, cmt_of_dose = mapping(records)
    data = read_dataset(write_records(records, cmt_of_dose, tmp_path / f"nmtests-{scenario}.csv"))
    assert assert_matches_nonmem(records, simulate_dataset(data, params)) <= 1.0


@pytest.mark.parametrize("scenario", sorted(REFUSED))
def test_refused_scenarios(scenario, tmp_path):
    """imapk says why it does not simulate these records, naming the row and column."""
    records = SCENARIOS[scenario]
    params, cmt_of_dose = mapping(records)
    where, message = REFUSED[scenario]
    path = write_records(records, cmt_of_dose, tmp_path / f"nmtests-{scenario}.csv")
    with pytest.raises(ImapkError, match=message) as refusal:
        if where == "reader":
            read_dataset(path)
        else:
            simulate_dataset(subject_records(records, cmt_of_dose), params)
    assert "row 2" in str(refusal.value)


@pytest.mark.parametrize("scenario", READ)
def test_matrix_exponential_path_matches_nonmem(scenario):
    """The walker's linear-kernel path (a peripheral compartment with Q 1e-12 L/h) on the same records."""
    records = SCENARIOS[scenario]
    params, cmt_of_dose = mapping(records)
    linear = params.updated(q=Q_NEGLIGIBLE, vp=V)
    assert not linear.one_compartment
    assert assert_matches_nonmem(records, simulate_dataset(subject_records(records, cmt_of_dose), linear)) <= 1.0
