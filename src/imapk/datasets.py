"""NONMEM-style data sets: reading, validating and writing them.

A data set is a CSV file with one record (row) per event, in the layout every population PK tool
reads (NONMEM, mrgsolve, rxode2, Monolix, Pumas): the standard columns ID, TIME, AMT, EVID, II, ADDL,
SS, RATE, CMT, DV, MDV, BLQ and LLOQ, and one column per covariate, named as in
:data:`imapk.covariates.COVARIATES`.

The columns (unit, codes, whether required, what a missing value means) and the rules imapk follows
where the format leaves a choice (compartment numbering, ADDL, records at equal times, time-varying
covariates, contiguous IDs) are declared once in :mod:`imapk.dataset_schema`: the reader below takes
the column names, units, codes and required columns from there, and the data-set reference page
(:func:`imapk.dataset_schema.reference_markdown`) is rendered from it. ADDL doses are checked against
NONMEM's outputs in tests/test_nonmem_reference.py.
"""

from __future__ import annotations

import csv
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .covariates import COVARIATES, check_values, unit_factor
from .dataset_schema import COLUMNS, MAX_ADDL
from .errors import ScenarioError

__all__ = [
    "DataSet",
    "SubjectRecords",
    "read_dataset",
    "write_dataset",
    "scenario_to_dataset",
    "STANDARD_COLUMNS",
    "DATASET_MAX_BYTES",
]

#: Largest data set imapk reads: 10^6 records of a few dozen bytes each is about 50 MB. [bytes]
DATASET_MAX_BYTES = 512 * 2**20

#: The standard columns and the unit each is in (None: a count or a code), from
#: :data:`imapk.dataset_schema.COLUMNS`.
STANDARD_COLUMNS: dict[str, str | None] = {column.name: column.unit for column in COLUMNS}
#: Columns written by :func:`write_dataset`, in this order, before the covariates.
WRITTEN_COLUMNS = ("ID", "TIME", "EVID", "AMT", "RATE", "II", "ADDL", "SS", "CMT", "DV", "MDV")
#: Allowed codes of the coded columns.
_CODES = {column.name: column.codes for column in COLUMNS if column.codes}
#: Columns every data set has.
_REQUIRED = tuple(column.name for column in COLUMNS if column.required)
#: What the CMT codes mean, for every structure (module docstring).
_CMT_MEANING = ("1 (the dose compartment: the depot, or the first compartment of a transit chain) or 2 (central); "
                "doses into the peripheral compartment (NONMEM ADVAN4's CMT 3) or inside a chain are not supported")
_WHOLE = tuple(column.name for column in COLUMNS if column.whole)
_MISSING = ("", ".")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class SubjectRecords:
    """The records of one ID, in file order, with missing values resolved by the rules above.

    Attributes
    ----------
    id
        The ID as written in the file.
    row
        Row of each record in the file (the header is row 1).
    time, amt, ii, rate, dv, lloq
        Per record, in [h], [mg], [h], [mg/h], [ng/mL], [ng/mL]; ``dv`` and ``lloq`` are NaN
        where missing.
    evid, addl, ss, cmt, mdv, blq
        Per record, as integers.
    covariates
        Covariate name -> values per record, in canonical units (text for categorical ones).
    """

    id: str
    row: np.ndarray
    time: np.ndarray
    evid: np.ndarray
    amt: np.ndarray
    ii: np.ndarray
    addl: np.ndarray
    ss: np.ndarray
    rate: np.ndarray
    cmt: np.ndarray
    dv: np.ndarray
    mdv: np.ndarray
    blq: np.ndarray
    lloq: np.ndarray
    covariates: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.time.size)

    @property
    def observations(self) -> np.ndarray:
        """Indices of the observation records (EVID 0)."""
        return np.flatnonzero(self.evid == 0)

    def covariates_at(self, index: int) -> dict:
        """The covariates of record `index` as scalars (canonical units)."""
        return {name: values[index].item() if hasattr(values[index], "item") else values[index]
                for name, values in self.covariates.items()}


@dataclass(frozen=True)
class DataSet:
    """A validated data set: the records of each ID.

    Attributes
    ----------
    source
        The file it was read from (or a description).
    subjects
        The IDs in the order of their first record.
    covariate_units
        Canonical unit of each numeric covariate column (as written back by :func:`write_dataset`).
    """

    source: str
    subjects: tuple[SubjectRecords, ...]
    covariate_units: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        return [subject.id for subject in self.subjects]

    @property
    def covariate_names(self) -> tuple[str, ...]:
        return tuple(self.covariate_units)

    def __len__(self) -> int:
        return len(self.subjects)


def _split_header(title: str) -> tuple[str, str | None]:
    name, _, rest = title.strip().partition("[")
    unit = rest.rstrip().removesuffix("]").strip() if rest else None
    return name.strip(), unit


def _shown(text: str) -> str:
    return text if text.isprintable() else repr(text)[1:-1]


def _number(cell: str, column: str, r: int, source: str, whole: bool) -> float:
    """A cell as a float (NaN when missing), or an error naming the row, column and value."""
    text = cell.strip()
    if text in _MISSING:
        return math.nan
    key = f"row {r}, column {column}"
    if not _NUMBER.fullmatch(text):
        raise ScenarioError("not a number", source=source, key=key, got=_shown(text),
                            expected="a number, or '.' or an empty cell for a missing value")
    value = float(text)
    if not math.isfinite(value):
        raise ScenarioError("not a finite number", source=source, key=key, got=text)
    if whole and value != int(value):
        raise ScenarioError("not a whole number", source=source, key=key, got=text, expected="a whole number")
    return value


def read_dataset(
    path: str | os.PathLike,
    *,
    units: Mapping[str, str] | None = None,
    ignore: Sequence[str] = (),
) -> DataSet:
    """Read and validate a NONMEM-style data set (its columns and rules: :mod:`imapk.dataset_schema`).

    Parameters
    ----------
    path
        The CSV file (UTF-8, comma-separated, one header row).
    units
        Unit of each numeric covariate column whose header does not carry it, e.g.
        ``{"weight": "kg", "haemoglobin": "g/L"}``; converted to canonical units
        (:data:`imapk.covariates.COVARIATES`).
    ignore
        Names of further columns to skip (e.g. ``("DATE", "OCC")``); any other unknown column is
        an error.

    Returns
    -------
    DataSet
        The records of every ID, in file order.

    Raises
    ------
    ScenarioError
        For a path that is not a readable regular file within :data:`DATASET_MAX_BYTES`, and for
        every malformed record, in the form ``<file>: row <r>, column <NAME>: <problem> (got X;
        expected Y)``: an unknown column or unit, a value that is not a number, a code outside
        EVID 0-4, SS 0-2, CMT 1-2, MDV or BLQ 0-1, a negative AMT, II, ADDL or LLOQ, a RATE other
        than 0, > 0 or -2, TIME going backwards within an ID, IDs that are not contiguous, an
        observation with MDV 0 and no DV, a dose without AMT, ADDL or SS without II, ADDL on a
        non-dose record, an observation outside the central compartment, a missing or implausible
        covariate. (A steady-state infusion longer than its interval, F AMT / RATE > II, is refused
        by the simulation, which knows F.)
    """
    from .files import check_input_file, refuse_result_file

    source = os.fspath(path)
    check_input_file(path, "data set", DATASET_MAX_BYTES, error=ScenarioError)
    expected = "a NONMEM-style data set (CSV)"
    refuse_result_file(path, ScenarioError, what="data set", expected=expected)
    if source.lower().endswith(".toml"):
        raise ScenarioError("this is a scenario file, not a data set", source=source,
                            expected=f"{expected}; `imapk run {source}` runs the scenario, "
                            f"`imapk export {source} -o DATA.csv` writes it as a data set")
    try:
        with open(source, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ScenarioError(f"cannot read the data set: {error}", source=source) from None
    numbered = [(r, row) for r, row in enumerate(rows, start=1)
                if any(cell.strip() for cell in row) and not row[0].lstrip().startswith("#")]
    if len(numbered) < 2:
        raise ScenarioError("the data set needs a header and at least one record", source=source)
    header_row, header = numbered[0]
    if len(header) == 1 and any(sep in header[0] for sep in ";\t"):
        raise ScenarioError("the header has one column with ';' or a tab in it: imapk reads comma-separated files",
                            source=source, key=f"row {header_row}", expected="columns separated by ','")
    units = dict(units or {})
    ignored = set(ignore)
    standard: dict[str, int] = {}
    covariate_columns: dict[str, tuple[int, float, str | None]] = {}
    for column, title in enumerate(header):
        name, unit = _split_header(title)
        key = f"row {header_row}, column {_shown(title.strip()) or column + 1}"
        if name in ignored:
            continue
        upper = name.upper()
        if upper in STANDARD_COLUMNS:
            if upper in standard:
                raise ScenarioError("column given twice", source=source, key=key, got=name)
            expected_unit = STANDARD_COLUMNS[upper]
            if unit is not None and unit.replace(" ", "") != expected_unit:
                raise ScenarioError(f"unknown unit for {upper}", source=source, key=key, got=unit,
                                    expected=f"[{expected_unit}]" if expected_unit else "no unit")
            standard[upper] = column
            continue
        if name not in COVARIATES:
            raise ScenarioError(
                "unknown column", source=source, key=key, got=name,
                expected=f"one of {', '.join(STANDARD_COLUMNS)} or a covariate ({', '.join(COVARIATES)}), "
                "or a column named in `ignore`",
            )
        if name in covariate_columns:
            raise ScenarioError("covariate given twice", source=source, key=key, got=name)
        spec = COVARIATES[name]
        if spec.categorical:
            if unit or name in units:
                raise ScenarioError(f"{name} is categorical and takes no unit", source=source, key=key,
                                    got=unit or units[name])
            covariate_columns[name] = (column, 1.0, None)
            continue
        if unit is not None and name in units and unit.replace(" ", "") != units[name].replace(" ", ""):
            raise ScenarioError(f"the unit of {name} is declared twice, differently", source=source, key=key,
                                got=f"[{unit}] in the header, {units[name]!r} in `units`", expected="one unit")
        unit = unit if unit is not None else units.get(name)
        if unit is None:
            raise ScenarioError("the covariate needs its unit, once", source=source, key=key, got=name,
                                expected=f"a header '{name} [{spec.unit}]' or units={{'{name}': '{spec.unit}'}}")
        covariate_columns[name] = (column, unit_factor(name, unit, source=source, key=key), unit)
    extra = sorted(set(units) - set(covariate_columns))
    if extra:
        raise ScenarioError("a unit is declared for a column the data set does not have", source=source,
                            key="units", got=extra[0], expected=f"one of {', '.join(covariate_columns) or 'no covariates'}")
    for required in _REQUIRED:
        if required not in standard:
            raise ScenarioError(f"the data set has no {required} column", source=source, key=f"row {header_row}",
                                got=[_shown(h) for h in header], expected=f"a column {required}")

    records: dict[str, list] = {}
    order: list[str] = []
    last_row: dict[str, int] = {}
    previous_id = None
    for r, row in numbered[1:]:
        if len(row) != len(header):
            raise ScenarioError(f"has {len(row)} fields, the header has {len(header)}", source=source, key=f"row {r}",
                                expected=f"{len(header)} comma-separated fields")
        ident = row[standard["ID"]].strip()
        if ident in _MISSING or not ident.isprintable():
            raise ScenarioError("empty or unprintable ID", source=source, key=f"row {r}, column ID", got=_shown(ident))
        if ident != previous_id and ident in records:
            raise ScenarioError(
                f"ID {ident!r} returns after other IDs (its last record was row {last_row[ident]})", source=source,
                key=f"row {r}, column ID", got=ident, expected="the records of each ID together (sort by ID, then TIME)",
            )
        previous_id = ident
        if ident not in records:
            records[ident] = []
            order.append(ident)
        last_row[ident] = r
        records[ident].append((r, _record(row, r, standard, covariate_columns, source)))
    subjects = tuple(_subject(ident, records[ident], covariate_columns, source) for ident in order)
    covariate_units = {name: COVARIATES[name].unit for name in covariate_columns}
    return DataSet(source=source, subjects=subjects, covariate_units=covariate_units)


def _record(row, r, standard, covariate_columns, source) -> dict:
    """One record's values, checked one by one and against each other."""
    value = {}
    for name, column in standard.items():
        if name == "ID":
            continue
        value[name] = _number(row[column], name, r, source, name in _WHOLE)

    def key(name):
        return f"row {r}, column {name}"

    def cell(name):
        return row[standard[name]].strip()

    if math.isnan(value["TIME"]):
        raise ScenarioError("missing TIME", source=source, key=key("TIME"), got=cell("TIME"), expected="a time [h]")
    for name, codes in _CODES.items():
        if name in value and not math.isnan(value[name]) and int(value[name]) not in codes:
            raise ScenarioError(f"unknown {name} code", source=source, key=key(name), got=cell(name),
                                expected=_CMT_MEANING if name == "CMT" else f"one of {', '.join(map(str, codes))}")
    for name in ("AMT", "II", "ADDL", "LLOQ"):
        if name in value and value[name] < 0:
            raise ScenarioError(f"negative {name}", source=source, key=key(name), got=cell(name), expected=">= 0")
    amt = value.get("AMT", math.nan)
    evid = value.get("EVID", math.nan)
    if math.isnan(evid):
        evid = 1 if amt > 0 else 0
    evid = int(evid)
    amt = 0.0 if math.isnan(amt) else amt
    ii = 0.0 if math.isnan(value.get("II", math.nan)) else value["II"]
    addl = 0 if math.isnan(value.get("ADDL", math.nan)) else int(value["ADDL"])
    ss = 0 if math.isnan(value.get("SS", math.nan)) else int(value["SS"])
    rate = 0.0 if math.isnan(value.get("RATE", math.nan)) else value["RATE"]
    dv = value.get("DV", math.nan)
    blq = 0 if math.isnan(value.get("BLQ", math.nan)) else int(value["BLQ"])
    lloq = value.get("LLOQ", math.nan)
    dose = evid in (1, 4)
    if not (rate == 0.0 or rate > 0.0 or rate == -2.0):
        raise ScenarioError("RATE must be 0 (bolus), > 0 (zero-order input) or -2 (the model's duration D1)",
                            source=source, key=key("RATE"), got=cell("RATE"), expected="0, a rate > 0 [mg/h], or -2")
    cmt_value = value.get("CMT", math.nan)
    cmt = (1 if dose else 2) if math.isnan(cmt_value) else int(cmt_value)
    mdv_value = value.get("MDV", math.nan)
    if math.isnan(mdv_value):
        mdv = 0 if evid == 0 and not math.isnan(dv) else 1
    else:
        mdv = int(mdv_value)
    if dose:
        if amt <= 0.0:
            raise ScenarioError(f"a dose record (EVID {evid}) needs AMT > 0", source=source, key=key("AMT"),
                                got=cell("AMT") if "AMT" in standard else None, expected="an amount > 0 [mg]")
        if addl > MAX_ADDL:
            raise ScenarioError("too many additional doses", source=source, key=key("ADDL"), got=cell("ADDL"),
                                expected=f"at most {MAX_ADDL}")
        if addl > 0 and ii <= 0.0:
            raise ScenarioError("ADDL needs II > 0", source=source, key=key("II"),
                                got=cell("II") if "II" in standard else None, expected="the interval between doses [h]")
        if ss and ii <= 0.0:
            raise ScenarioError(f"SS {ss} needs II > 0", source=source, key=key("II"),
                                got=cell("II") if "II" in standard else None,
                                expected="the dosing interval of the steady state [h]")
        if mdv == 0:
            raise ScenarioError("a dose record has MDV 0", source=source, key=key("MDV"), got=cell("MDV"),
                                expected="1 (or missing)")
    else:
        for name, given in (("AMT", amt), ("ADDL", addl), ("SS", ss), ("RATE", rate), ("II", ii)):
            if given != 0:
                raise ScenarioError(f"{name} on a record that is not a dose (EVID {evid})", source=source,
                                    key=key(name), got=cell(name), expected="0, '.' or an empty cell")
        if evid == 0:
            if cmt != 2:
                raise ScenarioError("observations are predicted in the central compartment", source=source,
                                    key=key("CMT"), got=cell("CMT"), expected="2, or a missing value")
            if mdv == 0 and math.isnan(dv):
                raise ScenarioError("an observation with MDV 0 has no DV", source=source, key=key("DV"),
                                    got=cell("DV") if "DV" in standard else None,
                                    expected="a concentration [ng/mL], or MDV 1")
        elif mdv == 0:
            raise ScenarioError(f"MDV 0 on a record that is not an observation (EVID {evid})", source=source,
                                key=key("MDV"), got=cell("MDV"), expected="1 (or missing)")
    if blq and evid != 0:
        raise ScenarioError("BLQ 1 on a record that is not an observation", source=source, key=key("BLQ"),
                            got=cell("BLQ"), expected="0")
    if not math.isnan(dv) and dv < 0 and not blq:
        raise ScenarioError("negative concentration", source=source, key=key("DV"), got=cell("DV"),
                            expected=">= 0 [ng/mL], or BLQ 1")
    covariates = {}
    for name, (column, factor, unit) in covariate_columns.items():
        text = row[column].strip()
        ckey = f"row {r}, column {name}"
        if text in _MISSING:
            raise ScenarioError("missing covariate value", source=source, key=ckey, got=text,
                                expected="a value on every record (time-varying values: each record's own)")
        spec = COVARIATES[name]
        if spec.categorical:
            if text not in spec.levels:
                raise ScenarioError(f"unknown {name}", source=source, key=ckey, got=_shown(text),
                                    expected=f"one of {', '.join(spec.levels)}")
            covariates[name] = text
            continue
        number = _number(text, name, r, source, False) * factor
        check_values(name, np.array([number]), source=source, key=ckey, shown=[text], unit=unit, factor=factor)
        covariates[name] = number
    return {
        "time": value["TIME"], "evid": evid, "amt": amt, "ii": ii, "addl": addl, "ss": ss, "rate": rate,
        "cmt": cmt, "dv": dv, "mdv": mdv, "blq": blq, "lloq": lloq, "covariates": covariates,
    }


def _subject(ident: str, records: list, covariate_columns, source: str) -> SubjectRecords:
    for (r0, a), (r1, b) in zip(records, records[1:]):
        if b["time"] < a["time"]:
            raise ScenarioError(
                f"TIME goes backwards within ID {ident!r} (row {r0} has {a['time']:g} h)", source=source,
                key=f"row {r1}, column TIME", got=b["time"], expected=f">= {a['time']:g}",
            )
    columns = {}
    for name, dtype in (("time", float), ("evid", np.int64), ("amt", float), ("ii", float), ("addl", np.int64),
                        ("ss", np.int64), ("rate", float), ("cmt", np.int64), ("dv", float), ("mdv", np.int64),
                        ("blq", np.int64), ("lloq", float)):
        columns[name] = np.array([rec[name] for _, rec in records], dtype=dtype)
    covariates = {}
    for name in covariate_columns:
        values = [rec["covariates"][name] for _, rec in records]
        covariates[name] = np.array(values, dtype=str if COVARIATES[name].categorical else float)
    return SubjectRecords(id=ident, row=np.array([r for r, _ in records], dtype=np.int64), covariates=covariates,
                          **columns)


# ------------------------------------------------------------------------------------------------
# Writing
# ------------------------------------------------------------------------------------------------

def _format(value):
    """A cell as written in a data set: "." for a missing number, whole numbers as int (no point),
    others as float (written with the shortest repr that reads back exactly). Numbers stay numbers,
    so that :func:`imapk.io.write_csv` does not quote a negative TIME as a spreadsheet formula."""
    if isinstance(value, str):
        return value
    value = float(value)
    if math.isnan(value):
        return "."
    if value.is_integer() and abs(value) < 1e15:
        return int(value)
    return value


def dataset_rows(dataset: DataSet) -> tuple[list[str], list[list[str]]]:
    """The header and rows of `dataset` (text and numbers), in the order :func:`write_dataset` writes them."""
    names = list(dataset.covariate_units)
    has_blq = any(np.any(s.blq) or np.any(np.isfinite(s.lloq)) for s in dataset.subjects)
    header = list(WRITTEN_COLUMNS) + (["BLQ", "LLOQ"] if has_blq else [])
    header += [f"{name} [{unit}]" if unit else name for name, unit in dataset.covariate_units.items()]
    rows = []
    for s in dataset.subjects:
        for i in range(len(s)):
            row = [s.id, _format(s.time[i]), int(s.evid[i]), _format(s.amt[i]), _format(s.rate[i]), _format(s.ii[i]),
                   int(s.addl[i]), int(s.ss[i]), int(s.cmt[i]), _format(s.dv[i]), int(s.mdv[i])]
            if has_blq:
                row += [int(s.blq[i]), _format(s.lloq[i])]
            row += [_format(s.covariates[name][i]) for name in names]
            rows.append(row)
    return header, rows


def write_dataset(path: str | os.PathLike, data, *, subjects=None) -> Path:
    """Write a data set, or a scenario as one, to `path` as CSV, atomically.

    Parameters
    ----------
    path
        The CSV file to write (replaced whole: a temporary file beside it, then a rename).
    data
        A :class:`DataSet`, or a :class:`~imapk.scenario.Scenario` (or the path of its file),
        converted by :func:`scenario_to_dataset`.
    subjects
        With a scenario: the subjects to write (see :func:`scenario_to_dataset`).

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    OutputError
        If the folder does not exist or cannot be written.
    """
    from .errors import OutputError
    from .io import write_csv

    if not isinstance(data, DataSet):
        data = scenario_to_dataset(data, subjects=subjects)
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError("the output folder does not exist", source=str(path), got=str(folder))
    header, rows = dataset_rows(data)
    return write_csv(path, header, rows)


def scenario_to_dataset(scenario, *, subjects=None, dv=None) -> DataSet:
    """A scenario's schedule and subjects as a data set.

    Each subject gets, in time order: for a steady-state start, one SS 1 dose record at
    TIME = -interval (AMT the steady-state dose, II its interval), so that the state at t = 0 is the
    steady state before the first scheduled dose, as imapk computes it; one observation record
    (EVID 0, CMT 2) at every scheduled dose time, written *before* the dose record at that time so
    that it is the trough C(t-); and one dose record (EVID 1, CMT 1) for every dose given. Held and
    missed doses have no dose record (their trough observations remain). Doses of a zero-order input
    model (e.g. Schmidli 2005) have RATE -2 (the model's D1), those of a first-order model RATE 0.
    Covariates are written on every record, in canonical units.

    Parameters
    ----------
    scenario
        A :class:`~imapk.scenario.Scenario` or the path of its file.
    subjects
        Indices of the subjects to write (default: the whole population). The IDs are those of
        the covariate file, else the subject indices as text.
    dv
        Optional troughs (subject, dose) [ng/mL] to write as DV (MDV 0) on the trough records, e.g.
        the ``trough_observed`` of a run; NaN leaves a record without DV.

    Raises
    ------
    ScenarioError
        For what a data set cannot say: step changes of parameters (``[model] changes``),
        co-medication periods, inter-occasion variability (these belong to the scenario, not to a
        model that reads the data set), several models of different input kinds, a steady-state start with a stated time on therapy
        under a model with occasion effects, or a trough-escalation policy (its decisions depend on
        a model's troughs). Random dosing processes (``[adherence]``, ``[[toxicity]]``) and dose
        caps are written as each subject's own dose records (their realised doses). Random effects (IIV) are not written: a data set
        carries covariates, and :func:`imapk.dataset_simulation.simulate_dataset` gives each ID
        its typical values.

    Examples
    --------
    Three days of 400 mg/d: a trough record (EVID 0) before each dose record (EVID 1).

    >>> from imapk.scenario import parse_scenario
    >>> scenario = parse_scenario(
    ...     '[scenario]\\ntitle = "3 days"\\n[model]\\nparameter_set = "widmer2006"\\n'
    ...     '[[schedule.phases]]\\ndose = "400 mg"\\ndays = 3\\n'
    ... )
    >>> s = scenario_to_dataset(scenario).subjects[0]
    >>> s.time.tolist(), s.evid.tolist()
    ([0.0, 0.0, 24.0, 24.0, 48.0, 48.0], [0, 1, 0, 1, 0, 1])
    """
    from .population import SUBJECT_ID_COLUMN
    from .runner import _covariates
    from .scenario import Scenario, load_scenario
    from .schedule import GIVEN

    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    source = scenario.source

    def refuse(problem, key, expected="a scenario without it"):
        raise ScenarioError(f"a data set cannot hold {problem}", source=source, key=key, expected=expected)

    if scenario.changes:
        refuse("step changes of parameters", "model.changes")
    if scenario.interactions:
        refuse("co-medication periods", "interactions")
    if scenario.population.iov_cl:
        refuse("inter-occasion variability", "population.iov_cl")
    kinds = {("zero-order" if m.typical_params(_reference(m)).d1 is not None else "first-order")
             for m in scenario.models}
    if len(kinds) > 1:
        names = ", ".join(m.name for m in scenario.models)
        refuse(f"doses for models of different input kinds (first- and zero-order) at once ({names})", "model",
               "one parameter set, or several with the same input kind (RATE 0 for first-order, -2 for zero-order)")
    zero_order = kinds == {"zero-order"}
    table = scenario.schedule.lower()
    ss = table.steady_state
    if ss is not None and ss.time_on_therapy is not None and any(m.occasion_days for m in scenario.models):
        refuse("a steady-state start's time on therapy (occasion effects are taken as in force)",
               "schedule.steady_state.time_on_therapy")
    covariates, indices = _covariates(scenario, subjects)
    ids = covariates.pop(SUBJECT_ID_COLUMN, None)
    labels = [str(i) for i in indices] if ids is None else [str(i) for i in ids]
    names = sorted(covariates)
    rate = -2.0 if zero_order else 0.0
    dv = None if dv is None else np.asarray(dv, dtype=float)
    if dv is not None and dv.shape != (indices.size, table.time.size):
        raise ScenarioError("dv must have one value per subject and scheduled dose", key="dv", got=list(dv.shape),
                            expected=f"[{indices.size}, {table.time.size}]")
    from .processes.policies import TroughEscalation
    from .runner import _realised_doses

    if any(isinstance(p, TroughEscalation) for p in scenario.policies):
        refuse("a trough-escalation policy (its decisions depend on the model's simulated troughs)", "policy")
    realised = _realised_doses(scenario, indices)  # each subject's own doses under random processes, or None

    def template(given, status) -> tuple:
        """Events (time, evid, amt, ii, ss, dose index of an observation) of one row of doses."""
        events = []
        if ss is not None:
            events.append((-ss.interval, 1, ss.dose, ss.interval, 1, -1))
        for j, (t, amount, state) in enumerate(zip(table.time, given, status)):
            events.append((float(t), 0, 0.0, 0.0, 0, j))
            if state == GIVEN and amount > 0:
                events.append((float(t), 1, float(amount), 0.0, 0, -1))
        return (np.array([e[0] for e in events]), np.array([e[1] for e in events], dtype=np.int64),
                np.array([e[2] for e in events]), np.array([e[3] for e in events]),
                np.array([e[4] for e in events], dtype=np.int64), np.array([e[5] for e in events], dtype=np.int64))

    shared = template(table.given, table.status) if realised is None else None
    result = []
    for s, label in enumerate(labels):
        time, evid, amt, ii, ssv, obs_dose = shared or template(realised.given[s], realised.status[s])
        dose = evid == 1
        n = time.size
        values = np.full(n, np.nan)
        if dv is not None:
            values[obs_dose >= 0] = dv[s, obs_dose[obs_dose >= 0]]
        mdv = np.where((evid == 0) & np.isfinite(values), 0, 1).astype(np.int64)
        result.append(SubjectRecords(
            id=label, row=np.arange(n, dtype=np.int64) + 2, time=time, evid=evid, amt=amt, ii=ii,
            addl=np.zeros(n, dtype=np.int64), ss=ssv, rate=np.where(dose, rate, 0.0),
            cmt=np.where(dose, 1, 2).astype(np.int64), dv=values, mdv=mdv, blq=np.zeros(n, dtype=np.int64),
            lloq=np.full(n, np.nan),
            covariates={name: np.full(n, covariates[name][s], dtype=covariates[name].dtype) for name in names},
        ))
    return DataSet(source=source, subjects=tuple(result),
                   covariate_units={name: COVARIATES[name].unit for name in names})


def _reference(model) -> dict:
    from .covariates import REFERENCE_SUBJECT

    return {name: REFERENCE_SUBJECT[name] for name in model.covariates}
