"""Robustness: covariate-CSV fuzzing, inputs that are never modified, concurrent runs.

1. Covariate CSV files are fuzzed with hypothesis. A valid CSV for the shipped covariate models
   (widmer2006_covariates, petain2008, schmidli2005) is mutated: rows with too few or too many
   fields, non-numeric, empty, NaN, infinite, negative or huge cells, unit slips in the headers
   (g for kg, lb, g/L for g/dL, mg/dL, mmol/L...), unknown, missing and duplicated columns, an empty
   file, a header alone, a byte order mark, CRLF or CR line endings, semicolon or tab separators,
   UTF-16 or Latin-1 bytes; and the scenario around it (population.size, a covariate also fixed in
   the scenario). An independent oracle (conversion factors from their definitions, not from
   imapk) says what each input must give: the run succeeds and every covariate of the result equals
   the cell times the factor (and the simulation equals the one from a CSV in canonical units), or
   it fails with one :class:`imapk.ImapkError` whose one-line message starts with the CSV file (or
   the scenario file for scenario-level problems) and names the column and row. A few inputs go
   through the CLI in a subprocess: exit status 2, the message on stderr, no traceback.
2. Inputs are never modified: running a scenario (API, CLI, rerun, sweep) leaves the TOML and CSV
   files (bytes and mtime) alone; simulate() leaves the caller's arrays and schedule alone.
3. Concurrent ``imapk run`` processes writing different outputs in one folder do not interfere.

The bugs the fuzzing found are regression tests at the end (section 4).

Run length: a few hundred fuzzed CSV files by default (a few seconds). ``IMAPK_LONG_TESTS=1`` runs
10 000 and prints every distinct error message at the end of the module::

    IMAPK_LONG_TESTS=1 PYTHONPATH=src python -m pytest -s tests/test_robustness.py
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import math
import os
import re
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import imapk  # noqa: E402
import imapk.io  # noqa: E402
from imapk.cli import main as cli_main  # noqa: E402
from imapk.covariates import COVARIATES  # noqa: E402
from imapk.models import get_model  # noqa: E402
from imapk.population import CovariateRangeWarning  # noqa: E402
from imapk.scenario import load_scenario, parse_scenario, run_scenario  # noqa: E402

LONG = os.environ.get("IMAPK_LONG_TESTS") == "1"
ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
SRC = ROOT / "src"

# Share of the fuzzed examples per test (default total 300, long total 10 000).
_SHARES = {"api": 0.85, "cli": 0.15}


def _settings(kind: str):
    total = 10_000 if LONG else 300
    return settings(
        deadline=None,
        database=None,  # no .hypothesis folder written into the project
        max_examples=max(5, int(total * _SHARES[kind])),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# ---------------------------------------------------------------------------------------------
# The oracle's knowledge, stated independently of imapk.

#: Accepted units of each numeric covariate used here and their factor to the canonical unit, from
#: the definitions: 1 lb = 0.45359237 kg (international pound); 1 g/dL = 10 g/L; 1 mg/dL = 0.01 g/L;
#: haemoglobin 1 mmol/L (per haem monomer, 16 114.5 g/mol) = 16.1145 g/L = 1.61145 g/dL;
#: 10^9/L = 10^3/uL = 1/nL.
FACTORS: dict[str, dict[str, float]] = {
    "weight": {"kg": 1.0, "g": 1e-3, "lb": 0.45359237},
    "age": {"y": 1.0, "year": 1.0, "years": 1.0, "yr": 1.0},
    "haemoglobin": {"g/dL": 1.0, "g/L": 0.1, "mmol/L": 1.61145},
    "albumin": {"g/L": 1.0, "g/dL": 10.0},
    "agp": {"g/L": 1.0, "mg/dL": 0.01},
    "wbc": {"10^9/L": 1.0, "10^3/uL": 1.0, "/nL": 1.0},
}
CANONICAL = {"weight": "kg", "age": "y", "haemoglobin": "g/dL", "albumin": "g/L", "agp": "g/L", "wbc": "10^9/L"}
#: Relative tolerance of a converted value: the haemoglobin molar mass is rounded in any table.
ROUNDED_UNITS = {("haemoglobin", "mmol/L"): 1e-3}
#: Units that are not accepted (case slips, plurals, other dimensions, unit slips).
WRONG_UNITS = {
    "weight": ["KG", "kgs", "lbs", "pound", "st", "mg", "cm", "m", "kg/m^2"],
    "age": ["months", "d", "Y", "yrs", "h"],
    "haemoglobin": ["mg/dL", "g/l", "mmol", "%", "g"],
    "albumin": ["mg/dL", "g/l", "umol/L", "g"],
    "agp": ["g/dL", "mg/L", "mg/dl", "g"],
    "wbc": ["10^9", "/uL", "G/L", "10^6/L"],
    "sex": ["M/F", "-", "kg"],
    "disease": ["code", "y"],
}
LEVELS = {"sex": ("male", "female"), "disease": ("GIST", "CML", "other")}
#: Canonical values the valid cells are drawn from: inside the plausible ranges and inside or near the
#: models' fitted ranges (extreme covariates are a model question, see section 4).
POOLS = {
    "weight": [45.0, 55.5, 70.0, 81.25, 92.0, 110.0],
    "age": [20.0, 35.5, 50.0, 62.0, 75.0, 88.0],
    "haemoglobin": [8.5, 10.0, 12.25, 13.0, 15.5],
    "albumin": [25.0, 32.5, 38.0, 41.0, 48.0],
    "agp": [0.5, 0.75, 0.9, 1.2, 2.0],
    "wbc": [3.5, 7.0, 12.0, 40.0],
    "sex": ["male", "female"],
    "disease": ["GIST", "CML", "other"],
}
#: Values for [population.covariates] in the scenario.
FIXED = {
    "weight": "70 kg", "age": "60 y", "sex": "male", "disease": "GIST", "haemoglobin": "13 g/dL",
    "albumin": "38 g/L", "agp": "0.9 g/L", "wbc": "7 10^9/L",
}
#: The same values in canonical units (numbers) or as levels.
FIXED_VALUES = {
    "weight": 70.0, "age": 60.0, "sex": "male", "disease": "GIST", "haemoglobin": 13.0, "albumin": 38.0, "agp": 0.9, "wbc": 7.0,
}
BASE_COLUMNS = ("weight", "age", "sex", "disease", "haemoglobin", "albumin", "agp", "wbc")
MODELS_UNDER_TEST = ("widmer2006_covariates", "petain2008", "schmidli2005")
UNKNOWN_TITLES = ["height [cm]", "Weight [kg]", "weight_kg", "bmi [kg/m^2]", " ", "patient id", "hb [g/dL]", "WBC [10^9/L]"]
BAD_NUMBERS = [
    "", " ", "abc", "70kg", "70 kg", "NaN", "nan", "inf", "-inf", "Infinity", "-70", "0", "-0", "1e400", "1e308",
    "7e5", "-1e-9", "0x46", "70%", "N/A", "NA", "null", "-", "?", "70\x00", "7 0", "1/2", "1e", "e5", ".", "--1",
    "seventy", "70;5", "70.5.1", "\u00e9",
]
GOOD_NUMBER_FORMATS = ["{!r}", "{:g}", "{:.6e}", " {!r} ", "+{!r}", "\u00a0{!r}", "{:.3f}"]
BAD_LEVELS = ["Male", "M", "m", "", " ", "MALE", "man", "gist", "Gist", "1", "female;male", "\x00"]
_STRICT_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SPECIAL_FLOAT = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)


def plausible(name: str) -> tuple[float, float]:
    """The documented plausible range of a covariate (values outside are refused as unit slips)."""
    return COVARIATES[name].plausible


# ---------------------------------------------------------------------------------------------
# A fuzzed case: the CSV as columns and rows of cells, the scenario around it, how the text is written.


@dataclass
class Column:
    name: str | None  # covariate the header names; None for an unknown column
    unit: str | None  # unit as written in the brackets; None: no brackets
    title: str | None = None  # the header cell of an unknown column
    template: str = "{n} [{u}]"  # how name and unit are written (spacing)

    @property
    def header(self) -> str:
        if self.name is None:
            return self.title
        return self.name if self.unit is None else self.template.format(n=self.name, u=self.unit)


@dataclass
class Case:
    columns: list[Column]
    rows: list[list[str]]
    model: str
    iiv: bool = False
    size: str = "none"  # "none", "rows" or "more" (one more than the data rows)
    fixed: dict[str, str] = field(default_factory=dict)
    mode: str = "plain"  # how the CSV is written (see TEXT_MODES)


#: How the CSV text is written. The first ones keep its meaning; the others break it.
SAME_MEANING = ("plain", "crlf", "cr", "no_final_newline", "trailing_blank_lines", "quote_all", "spaces_after_commas")
TEXT_MODES = SAME_MEANING + (
    "bom", "semicolon", "tab", "header_only", "empty", "blank_only", "utf16", "latin1", "missing_file", "directory",
)


def csv_bytes(case: Case) -> bytes | None:
    """The bytes of the CSV file (None: no file is written)."""
    header = [c.header for c in case.columns]
    lines = [header, *case.rows]
    if case.mode == "quote_all":
        buffer = io.StringIO()
        csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(lines)
        text = buffer.getvalue()
    else:
        separator = {"semicolon": ";", "tab": "\t", "spaces_after_commas": ", "}.get(case.mode, ",")
        text = "".join(separator.join(line) + "\n" for line in lines)
    if case.mode == "crlf":
        text = text.replace("\n", "\r\n")
    elif case.mode == "cr":
        text = text.replace("\n", "\r")
    elif case.mode == "no_final_newline":
        text = text[:-1]
    elif case.mode == "trailing_blank_lines":
        text += "\n\n  \n"
    elif case.mode == "bom":
        text = "\ufeff" + text
    elif case.mode == "header_only":
        text = ",".join(header) + "\n"
    elif case.mode == "empty":
        text = ""
    elif case.mode == "blank_only":
        text = "\n\n\n"
    elif case.mode == "missing_file":
        return None
    if case.mode == "utf16":
        return text.encode("utf-16")
    if case.mode == "latin1":
        return ("\u00e9" + text).encode("latin-1", errors="replace")
    return text.encode("utf-8")


SCENARIO = """[scenario]
title = "covariate csv"
seed = 11

[model]
parameter_set = "{model}"

[population]
covariates_file = "{csv}"
iiv = {iiv}
{size}
{fixed}
[[schedule.phases]]
dose = "400 mg"
days = 8

[verdict]
thresholds = ["gist"]

[output]
dense = false
"""


def scenario_text(case: Case, csv_name: str, n_rows: int | None = None) -> str:
    size = {"none": "", "rows": f"size = {n_rows}", "more": f"size = {(n_rows or 0) + 1}"}[case.size]
    fixed = "".join(f'{name} = "{value}"\n' for name, value in case.fixed.items())
    return SCENARIO.format(
        model=case.model, csv=csv_name, iiv=str(case.iiv).lower(), size=size,
        fixed=f"[population.covariates]\n{fixed}" if fixed else "",
    )


@dataclass
class Expectation:
    """What a case must give: `problems` are alternatives (source kind, fragments of the message); with
    none the run must succeed with `values` (canonical) for the CSV columns."""

    problems: list[tuple[str, list[str]]]
    values: dict[str, np.ndarray] = field(default_factory=dict)
    rtol: dict[str, float] = field(default_factory=dict)
    may_succeed: bool = False  # a byte order mark: success with `values` is also fine


def _data_rows(case: Case):
    """(row number, cells) of the rows that are not blank; the header is row 1."""
    return [(r, row) for r, row in enumerate(case.rows, start=2) if any(cell.strip() for cell in row)]


def expect(case: Case) -> Expectation:
    """The oracle: the outcome a case must have, worked out from the documented format alone."""
    mode = case.mode
    if mode == "missing_file":
        return Expectation([("csv", ["no such covariate file"])])
    if mode in ("directory", "utf16", "latin1"):
        return Expectation([("csv", ["cannot read the covariate file"])])
    if mode in ("header_only", "empty", "blank_only"):
        return Expectation([("csv", ["needs a header and at least one row"])])
    if mode in ("semicolon", "tab") and len(case.columns) > 1:
        # One column whose header holds every name and the separator: refused as a separator mistake.
        return Expectation([("csv", ["header: the header has one column with", "imapk reads comma-separated files"])])
    if mode in ("semicolon", "tab") and any(len(row) > 1 for row in case.rows):
        # One column whose header holds every name: refused, naming that column.
        return Expectation([("csv", ["column '"])])
    rows = _data_rows(case)
    if not rows:
        return Expectation([("csv", ["needs a header and at least one row"])])
    problems: list[tuple[str, list[str]]] = []
    values: dict[str, np.ndarray] = {}
    rtol: dict[str, float] = {}
    width = len(case.columns)
    for r, row in rows:
        if len(row) != width:
            problems.append(("csv", [f"row {r}: has {len(row)} fields, the header has {width}"]))
    seen = set()
    for j, column in enumerate(case.columns):
        key = f"column '{column.header.strip()}'"
        if column.name is None:
            problems.append(("csv", [key, "unknown covariate"]))
            continue
        if column.name in seen:
            problems.append(("csv", [key, "covariate given twice"]))
            continue
        seen.add(column.name)
        cells = [(r, row[j].strip()) for r, row in rows if j < len(row)]
        problems += [("csv", [key, f"empty value in row {r}"]) for r, cell in cells if not cell]
        unit = None if column.unit is None else column.unit.strip()
        if column.name in LEVELS:
            if unit:
                problems.append(("csv", [key, "categorical and takes no unit"]))
            bad = [(r, cell) for r, cell in cells if cell and cell not in LEVELS[column.name]]
            problems += [("csv", [key, f"unknown {column.name} in row {r}"]) for r, _ in bad]
            values[column.name] = np.array([cell for _, cell in cells])
            continue
        if not unit:
            problems.append(("csv", [key, "the column header needs a unit"]))
            continue
        factor = FACTORS[column.name].get(unit.replace(" ", ""))
        if factor is None:
            problems.append(("csv", [key, f"unknown unit for {column.name}"]))
            continue
        rtol[column.name] = ROUNDED_UNITS.get((column.name, unit.replace(" ", "")), 1e-12)
        low, high = plausible(column.name)
        converted = []
        for r, cell in cells:
            if not cell:
                continue
            if _STRICT_NUMBER.fullmatch(cell):
                value = float(cell) * factor
                converted.append(value)
                if not (math.isfinite(value) and low <= value <= high):
                    problems.append(("csv", [f"{key} (row {r})", "implausible"]))
            elif _SPECIAL_FLOAT.fullmatch(cell):
                problems.append(("csv", [f"{key} (row {r})", "implausible"]))
            else:
                problems.append(("csv", [key, f"not a number in row {r}"]))
        values[column.name] = np.array(converted)
    # A byte order mark (spreadsheets' "CSV UTF-8") is read like the plain file.
    if problems:
        return Expectation(problems)
    # The file is valid: what the scenario makes of it, in the order the checks are made.
    names = [c.name for c in case.columns]
    if case.size == "more":
        return Expectation([("scenario", ["population.size: population.size is"])])
    clash = sorted(set(names) & set(case.fixed))
    if clash:
        return Expectation([("scenario", [f"population.covariates.{clash[0]}: covariate `{clash[0]}` is given both"])])
    model = get_model(case.model)
    missing = [name for name in model.covariates if name not in names and name not in case.fixed]
    if missing:
        return Expectation([("scenario", [f"model {case.model} needs covariate `{missing[0]}`"])])
    # A model may define fewer categories than the covariate has (Widmer 2006: GIST and CML, no 'other').
    for name in model.covariates:
        if name in LEVELS:
            given = values[name].tolist() if name in values else [case.fixed[name]]
            if any(level not in model.categories.get(name, LEVELS[name]) for level in given):
                return Expectation([("scenario", [f"model {case.model}: value of covariate `{name}` not defined by this model"])])
    return Expectation([], values, rtol)


# ---------------------------------------------------------------------------------------------
# Strategies


def _cell(value: float, unit_factor: float, form: str) -> str:
    return form.format(value / unit_factor)


@st.composite
def csv_cases(draw) -> Case:
    n = draw(st.integers(1, 4))
    model = draw(st.sampled_from(MODELS_UNDER_TEST))
    order = draw(st.permutations(BASE_COLUMNS))
    columns, cells = [], []
    for name in order:
        if name in LEVELS:
            columns.append(Column(name, None))
            cells.append([draw(st.sampled_from(POOLS[name])) for _ in range(n)])
            continue
        unit = CANONICAL[name]
        if draw(st.booleans()):  # another accepted unit, the values converted into it
            unit = draw(st.sampled_from(sorted(FACTORS[name])))
        form = draw(st.sampled_from(GOOD_NUMBER_FORMATS))
        columns.append(Column(name, unit))
        cells.append([_cell(draw(st.sampled_from(POOLS[name])), FACTORS[name][unit], form) for _ in range(n)])
    rows = [[cells[j][i] for j in range(len(columns))] for i in range(n)]
    case = Case(columns, rows, model)
    operations = draw(st.lists(st.sampled_from(OPERATIONS), max_size=3))
    for operation in operations:
        operation(draw, case)
    case.iiv = draw(st.booleans())
    case.size = draw(st.sampled_from(["none", "none", "rows", "more"]))
    case.mode = draw(st.sampled_from(SAME_MEANING * 3 + TEXT_MODES))
    return case


def _numeric(case: Case) -> list[int]:
    return [j for j, c in enumerate(case.columns) if c.name in FACTORS]


def op_unit_slip(draw, case):
    """Another accepted unit in the header, the numbers left as they were."""
    j = draw(st.sampled_from(_numeric(case) or [None]))
    if j is not None:
        case.columns[j].unit = draw(st.sampled_from(sorted(FACTORS[case.columns[j].name])))


def op_wrong_unit(draw, case):
    j = draw(st.integers(0, len(case.columns) - 1))
    column = case.columns[j]
    if column.name is not None:
        column.unit = draw(st.sampled_from(WRONG_UNITS[column.name]))


def op_no_unit(draw, case):
    j = draw(st.sampled_from(_numeric(case) or [None]))
    if j is not None:
        case.columns[j].unit = draw(st.sampled_from([None, "", " "]))


def op_title_spacing(draw, case):
    """Spacing that does not change the meaning: 'weight[kg]', '  weight [ kg ]  '."""
    j = draw(st.sampled_from(_numeric(case) or [None]))
    if j is not None:
        case.columns[j].template = draw(st.sampled_from(["{n}[{u}]", "  {n} [ {u} ]  ", "{n}  [{u}]"]))


def op_rename(draw, case):
    j = draw(st.integers(0, len(case.columns) - 1))
    case.columns[j] = Column(None, None, draw(st.sampled_from(UNKNOWN_TITLES)))


def op_duplicate(draw, case):
    j = draw(st.integers(0, len(case.columns) - 1))
    original = case.columns[j]
    unit = original.unit
    if original.name in FACTORS and draw(st.booleans()):
        unit = draw(st.sampled_from(sorted(FACTORS[original.name])))
    case.columns.append(Column(original.name, unit, original.title, original.template))
    for row in case.rows:
        row.append(row[j] if j < len(row) else "1")


def op_drop(draw, case):
    if len(case.columns) > 1:
        j = draw(st.integers(0, len(case.columns) - 1))
        del case.columns[j]
        for row in case.rows:
            if j < len(row):
                del row[j]


def op_extra_unknown(draw, case):
    case.columns.append(Column(None, None, draw(st.sampled_from(UNKNOWN_TITLES))))
    for row in case.rows:
        row.append(draw(st.sampled_from(["1", "180", "x", ""])))


def op_bad_cell(draw, case):
    i = draw(st.integers(0, len(case.rows) - 1))
    row = case.rows[i]
    if not row:
        return
    j = draw(st.integers(0, min(len(row), len(case.columns)) - 1))
    name = case.columns[j].name
    row[j] = draw(st.sampled_from(BAD_LEVELS if name in LEVELS else BAD_NUMBERS))


def op_short_row(draw, case):
    row = case.rows[draw(st.integers(0, len(case.rows) - 1))]
    if row:
        row.pop()


def op_long_row(draw, case):
    case.rows[draw(st.integers(0, len(case.rows) - 1))].append(draw(st.sampled_from(["1", "", "male"])))


def op_blank_row(draw, case):
    """A blank line or a row of empty fields (a spreadsheet export): not a subject."""
    i = draw(st.integers(0, len(case.rows)))
    case.rows.insert(i, draw(st.sampled_from([[], [""] * len(case.columns), [" "] * len(case.columns)])))


def op_duplicate_row(draw, case):
    case.rows.append(list(case.rows[draw(st.integers(0, len(case.rows) - 1))]))


def op_fixed(draw, case):
    """A covariate also given in [population.covariates]: a clash, or one dropped from the file."""
    names = [c.name for c in case.columns if c.name in FIXED]
    if not names:
        return
    name = draw(st.sampled_from(names))
    if draw(st.booleans()) and len(case.columns) > 1:
        j = next(j for j, c in enumerate(case.columns) if c.name == name)
        del case.columns[j]
        for row in case.rows:
            if j < len(row):
                del row[j]
        if name in [c.name for c in case.columns]:  # a duplicated column remains: no fill
            return
    case.fixed[name] = FIXED[name]


OPERATIONS = [
    op_unit_slip, op_unit_slip, op_wrong_unit, op_no_unit, op_title_spacing, op_title_spacing, op_rename,
    op_duplicate, op_drop, op_drop, op_extra_unknown, op_bad_cell, op_bad_cell, op_bad_cell, op_short_row,
    op_long_row, op_blank_row, op_blank_row, op_duplicate_row, op_fixed, op_fixed,
]


# ---------------------------------------------------------------------------------------------
# Running a case and checking its outcome


#: Every outcome of this module's fuzzing: "ran", or (key, problem) and the message with the folder
#: replaced by <dir>.
OUTCOMES: list = []


@pytest.fixture(scope="module", autouse=True)
def fuzz_tally(request):
    """After the module: inputs run or refused and distinct messages (shown with -s; long mode lists them)."""
    yield
    if not OUTCOMES:
        return
    refused = [o for o in OUTCOMES if o != "ran"]
    messages = sorted({o[1] for o in refused})
    line = (
        f"fuzzed covariate CSVs: {len(OUTCOMES)} inputs, {len(OUTCOMES) - len(refused)} ran, {len(refused)} refused "
        f"with {len(messages)} distinct messages ({len({o[0] for o in refused})} distinct key + problem)"
    )
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    reporter.write_line("")
    if LONG:
        for message in messages:
            reporter.write_line(f"  {message}")
    reporter.write_line(line)


@dataclass
class Written:
    folder: Path
    scenario: Path
    csv: Path
    expectation: Expectation


def write_case(case: Case, folder: Path) -> Written:
    """Write the CSV and the scenario into `folder`."""
    path = folder / "patients.csv"
    data = csv_bytes(case)
    if case.mode == "directory":
        path.mkdir()
    elif data is not None:
        path.write_bytes(data)
    scenario = folder / "scenario.toml"
    scenario.write_text(scenario_text(case, path.name, len(_data_rows(case))), encoding="utf-8")
    return Written(folder, scenario, path, expect(case))


def check_error(message: str, written: Written) -> None:
    """A refusal: one short line, from the expected file, matching one of the expected problems."""
    assert "\n" not in message and "\r" not in message, message
    assert len(message) < 600, message
    sources = {"csv": str(written.csv), "scenario": str(written.scenario)}
    for kind, fragments in written.expectation.problems:
        if message.startswith(f"{sources[kind]}: ") and all(f in message for f in fragments):
            return
    raise AssertionError(f"unexpected message {message!r}; expected one of {written.expectation.problems}")


def check_result(result, written: Written, case: Case) -> None:
    """A run: covariates converted right, positive parameters, finite troughs, same as from canonical units."""
    expectation = written.expectation
    values = expectation.values
    n = result.sizes["subject"]
    assert n == len(_data_rows(case))
    for name, expected in values.items():
        got = result[name].values
        if name in LEVELS:
            assert got.tolist() == expected.tolist(), name
        else:
            np.testing.assert_allclose(got, expected, rtol=expectation.rtol[name], atol=0, err_msg=name)
    for name in case.fixed:  # [population.covariates] fills in what the file leaves out
        assert result[name].values.tolist() == [FIXED_VALUES[name]] * n, name
    for name in ("cl", "v"):
        assert np.all(np.isfinite(result[name].values)) and np.all(result[name].values > 0), name
    trough = result["trough"].values
    assert trough.size and np.all(np.isfinite(trough)) and np.all(trough >= 0.0)
    # The same population from a CSV in canonical units gives the same simulation.
    reference = written.folder / "canonical.csv"
    names = list(values)
    with reference.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([name if name in LEVELS else f"{name} [{CANONICAL[name]}]" for name in names])
        writer.writerows(zip(*[[str(v) if name in LEVELS else repr(float(v)) for v in values[name]] for name in names]))
    text = scenario_text(replace(case, size="none"), reference.name)
    other = run_scenario(parse_scenario(text, str(written.folder / "canonical.toml")), as_dataset=False)
    rtol = max([1e-9, *(expectation.rtol[name] for name in names if name not in LEVELS)])
    for name in ("trough", "cl", "v"):
        np.testing.assert_allclose(result[name].values, other[name].values, rtol=rtol, err_msg=name)


def run_case(case: Case, folder: Path) -> None:
    """Run a case through the Python API and check its outcome against the oracle."""
    written = write_case(case, folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CovariateRangeWarning)  # outside a model's fitted range: allowed
        try:
            result = run_scenario(load_scenario(written.scenario), as_dataset=False)
        except imapk.ImapkError as error:
            message = str(error)
            here = str(folder)
            OUTCOMES.append(((error.key, error.problem.replace(here, "<dir>")), message.replace(here, "<dir>")))
            check_error(message, written)
            return
        OUTCOMES.append("ran")
        assert not written.expectation.problems or written.expectation.may_succeed, (
            f"ran, but expected one of {written.expectation.problems}"
        )
        check_result(result, written, case)


# ---------------------------------------------------------------------------------------------
# 1. Covariate CSV fuzzing


def test_oracle_accepts_the_unmutated_csv(tmp_path):
    """The fuzzing base itself must run, and a unit conversion must match its definition (lb, g/L, mg/dL, mmol/L)."""
    columns = [
        Column("weight", "lb"), Column("age", "years"), Column("sex", None), Column("disease", None),
        Column("haemoglobin", "mmol/L"), Column("albumin", "g/dL"), Column("agp", "mg/dL"), Column("wbc", "/nL"),
    ]
    rows = [["154.32", "50", "male", "GIST", "8.07", "3.8", "90", "7"], ["220", "71.5", "female", "CML", "6.2", "4.1", "120", "12"]]
    case = Case(columns, rows, "schmidli2005")
    run_case(case, tmp_path)
    ds = run_scenario(tmp_path / "scenario.toml")
    np.testing.assert_allclose(ds["weight"].values, [154.32 * 0.45359237, 220 * 0.45359237], rtol=1e-12)
    np.testing.assert_allclose(ds["haemoglobin"].values, [8.07 * 1.61145, 6.2 * 1.61145], rtol=1e-3)
    np.testing.assert_allclose(ds["albumin"].values, [38.0, 41.0], rtol=1e-12)
    np.testing.assert_allclose(ds["agp"].values, [0.9, 1.2], rtol=1e-12)


@_settings("api")
@given(case=csv_cases())
def test_fuzzed_covariate_csv_runs_right_or_fails_cleanly(case):
    """A mutated CSV could crash, be misread or give a vague error: each outcome is checked against the oracle."""
    with tempfile.TemporaryDirectory() as folder:
        run_case(case, Path(folder))


@_settings("cli")
@given(case=csv_cases())
def test_fuzzed_covariate_csv_through_the_cli(case):
    """`imapk run` could print a traceback or exit wrongly: exit 0 exactly when the oracle expects a run, else 2 and one stderr line."""
    with tempfile.TemporaryDirectory() as folder:
        written = write_case(case, Path(folder))
        out, err = io.StringIO(), io.StringIO()
        with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            warnings.simplefilter("ignore", CovariateRangeWarning)
            code = cli_main(["run", str(written.scenario)])
    stderr = err.getvalue()
    assert "Traceback" not in stderr + out.getvalue() and "internal error" not in stderr, stderr
    expectation = written.expectation
    if code == 0:
        assert not expectation.problems or expectation.may_succeed, f"exit 0, but expected {expectation.problems}"
        return
    assert code == 2, stderr
    assert stderr.startswith("imapk: error: ") and stderr.endswith("\n") and stderr.count("\n") == 1, stderr
    check_error(stderr[len("imapk: error: "):-1], written)


def _folder_case(tmp_path: Path, name: str, text: str | bytes, model: str = "widmer2006_covariates") -> tuple[Path, Path]:
    folder = tmp_path / name
    folder.mkdir()
    csv_path = folder / "patients.csv"
    csv_path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    scenario = folder / "scenario.toml"
    scenario.write_text(scenario_text(Case([], [], model), csv_path.name), encoding="utf-8")
    return scenario, csv_path


GOOD_CSV = "weight [kg],age [y],sex,disease\n70,50,male,GIST\n85,62,female,CML\n"
#: (name, CSV text, what the message says after "<csv>: ").
CLI_CASES = [
    ("not_a_number", GOOD_CSV.replace("62", "sixty-two"), "column 'age [y]': not a number in row 3 (got 'sixty-two'; expected e.g. 70 or 70.5)"),
    ("unit_slip", GOOD_CSV.replace("weight [kg]", "weight [g]"), "column 'weight [g]' (row 2): implausible body weight"),
    ("short_row", GOOD_CSV.replace("85,62,female,CML", "85,62,female"), "row 3: has 3 fields, the header has 4"),
    ("unknown_column", GOOD_CSV.replace("weight [kg]", "height [cm]"), "column 'height [cm]': unknown covariate"),
    ("empty_file", "", "the covariate file needs a header and at least one row"),
    ("semicolons", GOOD_CSV.replace(",", ";"), ""),  # refused, naming the file; the wording is not pinned
]


def _env() -> dict:
    """The subprocess environment: this checkout's sources, and the test process's numba cache."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [env.get("PYTHONPATH")])])
    if os.environ.get("NUMBA_CACHE_DIR"):
        env["NUMBA_CACHE_DIR"] = os.environ["NUMBA_CACHE_DIR"]
    return env


def _imapk(*args) -> list[str]:
    return [sys.executable, "-m", "imapk", *map(str, args)]


def test_broken_csv_through_the_cli_subprocess(tmp_path):
    """A real `imapk run` process could print a traceback or exit 0/1: each broken CSV exits 2 with the API's message, one line."""
    cases = [(name, *_folder_case(tmp_path, name, text), fragment) for name, text, fragment in CLI_CASES]
    processes = [
        (name, scenario, csv_path, fragment,
         subprocess.Popen(_imapk("run", scenario), env=_env(), cwd=tmp_path, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True))
        for name, scenario, csv_path, fragment in cases
    ]
    for name, scenario, csv_path, fragment, process in processes:
        stdout, stderr = process.communicate(timeout=300)
        assert "Traceback" not in stdout + stderr, (name, stderr)
        assert process.returncode == 2, (name, stderr)
        assert stdout == "", (name, stdout)
        assert stderr.startswith(f"imapk: error: {csv_path}: {fragment}") and stderr.count("\n") == 1, (name, stderr)
        with pytest.raises(imapk.ImapkError) as info:
            run_scenario(scenario)
        assert stderr == f"imapk: error: {info.value}\n", name  # the same message as the Python API


# ---------------------------------------------------------------------------------------------
# 2. Inputs are never modified


def _fingerprint(*paths: Path) -> dict:
    """Bytes (hash), size, mode and mtime of files; for a folder, of every file in it."""
    prints = {}
    for path in paths:
        for file in sorted([path] if path.is_file() else path.rglob("*")):
            if file.is_file():
                stat = file.stat()
                prints[str(file)] = (hashlib.sha256(file.read_bytes()).hexdigest(), stat.st_size, stat.st_mode, stat.st_mtime_ns)
    return prints


def _population_files(folder: Path) -> tuple[Path, Path]:
    """A population scenario with a covariate CSV in lb, CRLF line endings and a trailing blank line."""
    folder.mkdir(exist_ok=True)
    csv_path = folder / "patients.csv"
    csv_path.write_bytes(b"weight [lb],age [years],sex,disease\r\n154.3,50,male,GIST\r\n187.4,62,female,CML\r\n\r\n")
    scenario = folder / "population.toml"
    scenario.write_text(
        '[scenario]\ntitle = "inputs"\nseed = 4\n[model]\nparameter_set = "widmer2006_covariates"\n[population]\n'
        'covariates_file = "patients.csv"\nresidual_error = true\niov_cl = 0.1\n[[schedule.phases]]\ndose = "400 mg"\n'
        'days = 20\n[[schedule.holds]]\nstart_day = 8\ndays = 3\nrestart = [{ dose = "200 mg", days = 3 }]\n'
        '[verdict]\nthresholds = ["gist"]\n[output]\ndense_step = "6 h"\n',
        encoding="utf-8",
    )
    for path in (csv_path, scenario):
        os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))  # an mtime far from now
    return scenario, csv_path


def test_running_a_scenario_leaves_its_files_unchanged(tmp_path, capsys):
    """A run could rewrite, touch or normalise the scenario or the CSV: their bytes, mode and mtime are compared before and after API and CLI runs."""
    scenario, csv_path = _population_files(tmp_path / "inputs")
    before = _fingerprint(scenario, csv_path)
    first = run_scenario(scenario)
    run_scenario(load_scenario(scenario), subjects=[1], dense=False)
    imapk.scenario.rerun(first)
    out = tmp_path / "out.nc"
    assert cli_main(["validate", str(scenario)]) == 0
    assert cli_main(["run", str(scenario), "-o", str(out), "--format", "json"]) == 0
    result_print = _fingerprint(out)
    assert cli_main(["rerun", str(out), "-o", str(tmp_path / "again.nc")]) == 0
    capsys.readouterr()
    assert _fingerprint(scenario, csv_path) == before
    assert _fingerprint(out) == result_print  # rerun reads the result, never rewrites it
    assert sorted(p.name for p in (tmp_path / "inputs").iterdir()) == ["patients.csv", "population.toml"]


def test_sweep_leaves_its_files_unchanged(tmp_path):
    """A sweep could rewrite its file or the covariate CSV it shares: both are compared before and after run_sweep."""
    from imapk.sweep import run_sweep

    scenario, _ = _population_files(tmp_path / "inputs")
    text = scenario.read_text(encoding="utf-8").replace("residual_error = true\niov_cl = 0.1\n", "")
    sweep = tmp_path / "inputs" / "sweep.toml"
    sweep.write_text(
        '[sweep]\nsubjects_per_chunk = 2\n[[sweep.axes]]\nname = "restart_dose"\n'
        'key = "schedule.holds[0].restart[0].dose"\nvalues = ["200 mg", "300 mg"]\n\n'
        + text.replace('dense_step = "6 h"', "dense = false"),
        encoding="utf-8",
    )
    os.utime(sweep, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    before = _fingerprint(tmp_path / "inputs")
    result = run_sweep(sweep, tmp_path / "out.zarr", workers=1, progress=False)
    assert result["complete"]
    assert _fingerprint(tmp_path / "inputs") == before


def _snapshot(value):
    """A deep, comparable record of nested dicts/tuples/lists of arrays: bytes hash, dtype, shape, flags, identity."""
    if isinstance(value, np.ndarray):
        return ("array", id(value), value.dtype.str, value.shape, value.flags.writeable,
                hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest(), value.copy())
    if isinstance(value, dict):
        return ("dict", id(value), tuple((k, _snapshot(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, id(value), tuple(_snapshot(v) for v in value))
    return ("value", id(value), repr(value))


def _same(a, b) -> bool:
    if isinstance(a, tuple) and a and a[0] == "array":
        return a[:6] == b[:6] and np.array_equal(a[6], b[6], equal_nan=a[6].dtype.kind == "f")
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def test_simulate_leaves_the_callers_arrays_and_schedule_unchanged():
    """The engine could sort, scale or clip the caller's arrays in place: parameter, covariate, time and schedule arrays are hashed before and after."""
    from imapk.models import get_model as model_named
    from imapk.params import ParameterTable
    from imapk.population import draw_parameters
    from imapk.schedule import Hold, LadderStep, Phase, Schedule
    from imapk.simulation import simulate

    schedule = Schedule(
        phases=(Phase(dose=400, days=12), Phase(dose=(300, 100), interval=12, days=8)),
        holds=(Hold(start_day=5, days=3, restart=(LadderStep(200, 2),)),),
        missed_days=(11,),
        missed_doses=(1,),
    )
    schedule_repr = repr(schedule)
    table = schedule.lower()
    values = {
        "cl": np.array([14.3, 9.0, 21.0]), "v": np.array([347.0, 250.0, 420.0]), "ka": np.array([0.61, 0.4, 1.1]),
        "d1": None, "f": np.array([1.0, 0.9, 1.0]), "tlag": np.array([0.0, 0.5, 0.25]),
    }
    params = ParameterTable(values=values, change_times=(100.0, 250.0), change_values=({"cl": np.array([12.0, 8.0, 19.0])}, {"f": np.array([0.8, 0.8, 0.9])}))
    covariates = {"weight": np.array([70.0, 55.0, 92.0]), "sex": np.array(["male", "female", "male"]), "disease": np.array(["GIST", "CML", "GIST"])}
    times = np.arange(0.0, 480.0, 3.5)
    subjects = np.array([4, 9, 17])
    window = (24.0, 400.0)
    quantiles = (0.1, 0.5, 0.9)
    inputs = {"params": (params.values, params.change_times, params.change_values), "covariates": covariates, "times": times,
              "subjects": subjects, "window": window, "quantiles": quantiles,
              "table": tuple(getattr(table, f) for f in ("time", "interval", "planned", "given", "status", "phase", "hold", "restart_index"))}
    before = _snapshot(inputs)
    varying = model_named("eechoute2012").time_variation
    for kwargs in (
        {"method": "exact"},
        {"method": "ode", "variation": varying, "therapy_clock": "paused"},
        {"method": "exact", "therapy_clock": "reset", "time_on_therapy_at_start": 48.0},
    ):
        for where in (schedule, table):
            simulate(where, params, times=times, thresholds=["gist", "toxicity_alarm"], window=window, covariates=covariates,
                     subjects=subjects, quantiles=quantiles, **kwargs)
    # The scenario path: draw_parameters reads the covariates, never writes them.
    drawn = {"weight": covariates["weight"], "age": np.array([50.0, 60.0, 70.0]), "sex": covariates["sex"], "disease": covariates["disease"]}
    drawn_before = _snapshot(drawn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CovariateRangeWarning)
        draw_parameters(model_named("widmer2006_covariates"), drawn, subjects, seed=1, iov_cl=0.2, dose_times=table.time)
    assert _same(_snapshot(drawn), drawn_before)
    assert _same(_snapshot(inputs), before)
    assert repr(schedule) == schedule_repr and schedule.lower().time.tolist() == table.time.tolist()


# ---------------------------------------------------------------------------------------------
# 3. Concurrent runs


def _assert_same_result(a, b, label: str) -> None:
    """Same variables, coordinates, values and attributes (but `history`, which holds the command line)."""
    assert set(a.variables) == set(b.variables), label
    for name in a.variables:
        x, y = a[name].values, b[name].values
        assert x.dtype == y.dtype and x.shape == y.shape, (label, name)
        assert np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"), (label, name)
        _assert_same_attrs(a[name].attrs, b[name].attrs, f"{label}: {name}")
    _assert_same_attrs(a.attrs, b.attrs, label, ignore={"history"})


def _assert_same_attrs(a: dict, b: dict, label: str, ignore=frozenset()) -> None:
    assert set(a) - ignore == set(b) - ignore, label
    for key in set(a) - ignore:
        assert np.array_equal(np.asarray(a[key]), np.asarray(b[key])), (label, key, a[key], b[key])


def test_concurrent_runs_do_not_interfere(tmp_path, capsys):
    """Parallel `imapk run -o` into one folder could clash on temporary files or caches: each output equals a serial run and no .part file is left."""
    scenario, _ = _population_files(tmp_path / "inputs")
    other_seed = tmp_path / "inputs" / "seed5.toml"
    other_seed.write_text(scenario.read_text(encoding="utf-8").replace("seed = 4", "seed = 5"), encoding="utf-8")
    case_report = SCENARIOS / "gist-rash-case-report.toml"
    before = _fingerprint(tmp_path / "inputs", case_report)
    out = tmp_path / "out"
    out.mkdir()
    jobs = [(scenario, out / "a1.nc"), (scenario, out / "a2.nc"), (other_seed, out / "b.nc"), (case_report, out / "c.nc")]
    processes = [
        subprocess.Popen(_imapk("run", path, "-o", target), env=_env(), cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for path, target in jobs
    ]
    for (path, target), process in zip(jobs, processes):
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, (path, stderr)
        assert "Traceback" not in stdout + stderr, stderr
    serial = tmp_path / "serial"
    serial.mkdir()
    references = {}
    for path in (scenario, other_seed, case_report):
        references[path] = serial / f"{path.stem}.nc"
        assert cli_main(["run", str(path), "-o", str(references[path])]) == 0
    capsys.readouterr()
    for path, target in jobs:
        _assert_same_result(imapk.io.read_netcdf(target), imapk.io.read_netcdf(references[path]), target.name)
    assert not np.array_equal(imapk.io.read_netcdf(out / "a1.nc")["trough"].values, imapk.io.read_netcdf(out / "b.nc")["trough"].values)
    leftovers = [p.name for folder in (out, serial, tmp_path / "inputs") for p in folder.iterdir() if p.name.startswith(".") or p.name.endswith(".part")]
    assert leftovers == []
    assert sorted(p.name for p in out.iterdir()) == ["a1.nc", "a2.nc", "b.nc", "c.nc"]
    assert _fingerprint(tmp_path / "inputs", case_report) == before


# ---------------------------------------------------------------------------------------------
# 4. Bugs the fuzzing found, fixed: each case as a regression test


def _outcome(scenario: Path, **kwargs):
    """("ran", result), ("refused", ImapkError) or ("crashed", other exception)."""
    try:
        return "ran", run_scenario(scenario, **kwargs)
    except imapk.ImapkError as error:
        return "refused", error
    except Exception as error:  # noqa: BLE001 - the point of the test
        return "crashed", error


def test_blank_first_line_of_the_csv(tmp_path, capsys):
    """A blank line before the header gives an empty header and a crash: it must be read (blank lines are skipped elsewhere) or refused by name."""
    scenario, csv_path = _folder_case(tmp_path, "blank", "\n" + GOOD_CSV)
    kind, value = _outcome(scenario)
    assert kind != "crashed", f"{type(value).__name__}: {value}"
    if kind == "refused":
        assert str(value).startswith(f"{csv_path}: ")
    else:
        assert value["weight"].values.tolist() == [70.0, 85.0]
    assert cli_main(["run", str(scenario)]) in (0, 2)


def test_byte_order_mark(tmp_path):
    """Excel writes a BOM before the header: the file must be read, or the message must say what is wrong (not 'unknown covariate weight')."""
    scenario, _ = _folder_case(tmp_path, "bom", GOOD_CSV.encode("utf-8-sig"))
    kind, value = _outcome(scenario)
    assert kind != "crashed", value
    if kind == "refused":
        message = str(value)
        assert "byte order mark" in message.lower() or "BOM" in message, message
    else:
        assert value["weight"].values.tolist() == [70.0, 85.0]


def test_newline_in_a_header_cell(tmp_path):
    """The error contract is one line; a quoted header with a line break is echoed raw in the key."""
    scenario, csv_path = _folder_case(tmp_path, "newline", '"wei\nght [kg]",age [y],sex,disease\n70,50,male,GIST\n')
    kind, value = _outcome(scenario)
    assert kind == "refused", value
    message = str(value)
    assert message.startswith(f"{csv_path}: ") and "\n" not in message, message


@pytest.mark.parametrize(
    "model, header, row, method",
    [
        ("eechoute2012", "liver_metastases [cm^3]", "3000", "ode"),
        ("widmer2006_covariates", "weight [kg],age [y],sex,disease", "2,120,female,GIST", "exact"),
    ],
    ids=["eechoute2012-liver-metastases-3000cm3", "widmer2006-2kg-120y-female"],
)
def test_covariates_giving_a_negative_clearance_are_refused(tmp_path, model, header, row, method):
    """CL = 9.12 (1 - 0.000381 LIVM) is negative above 2625 cm^3 (the plausible range goes to 10 000): the run must refuse, not simulate a CL < 0."""
    scenario, _ = _folder_case(tmp_path, "extreme", f"{header}\n{row}\n", model=model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CovariateRangeWarning)
        kind, value = _outcome(scenario, method=method)
    assert kind != "crashed", value
    if kind == "ran":
        cl = value["cl"].values
        assert np.all(cl > 0), f"CL/F {cl} L/h, troughs up to {np.nanmax(value['trough'].values):.0f} ng/mL"


@pytest.mark.parametrize("text", [None, GOOD_CSV.replace("62", "sixty-two")], ids=["missing", "not-a-number"])
def test_validate_checks_the_covariate_file(tmp_path, capsys, text):
    """`imapk validate` could report OK for a scenario that `imapk run` refuses: both must agree (exit 2, the CSV named)."""
    scenario, csv_path = _folder_case(tmp_path, "validate", GOOD_CSV)
    if text is None:
        csv_path.unlink()
    else:
        csv_path.write_text(text, encoding="utf-8")
    assert cli_main(["run", str(scenario)]) == 2
    capsys.readouterr()
    code = cli_main(["validate", str(scenario)])
    captured = capsys.readouterr()
    assert code == 2, captured.out
    assert captured.err.startswith(f"imapk: error: {csv_path}: ")


def test_result_does_not_share_memory_with_the_inputs():
    """A result variable that is the caller's own array turns an in-place edit of the result into an edit of the ParameterTable and covariates."""
    from imapk.params import ParameterTable
    from imapk.schedule import Phase, Schedule
    from imapk.simulation import simulate

    values = {"cl": np.array([14.3, 10.0]), "v": np.array([347.0, 300.0]), "ka": np.array([0.61, 0.5]), "d1": None,
              "f": np.ones(2), "tlag": np.zeros(2)}
    params = ParameterTable(values=values)
    covariates = {"weight": np.array([70.0, 80.0])}
    ds = simulate(Schedule(phases=(Phase(dose=400, days=5),)), params, covariates=covariates)
    ds["weight"].values[:] *= 2.2  # e.g. a notebook converting the result to lb in place
    ds["cl"].values[:] = 0.0
    assert covariates["weight"].tolist() == [70.0, 80.0] and params.values["cl"].tolist() == [14.3, 10.0]


def test_huge_cell_overflowing_in_the_unit_conversion(tmp_path):
    """1e308 g/dL times 10 (to g/L) overflows: refused as implausible in its row, not a RuntimeWarning (found by fuzzing)."""
    scenario, csv_path = _folder_case(tmp_path, "overflow", "weight [kg],age [y],sex,disease,albumin [g/dL]\n70,50,male,GIST,1e308\n")
    kind, value = _outcome(scenario)
    assert kind == "refused", value
    assert str(value).startswith(f"{csv_path}: column 'albumin [g/dL]' (row 2): implausible serum albumin"), str(value)
