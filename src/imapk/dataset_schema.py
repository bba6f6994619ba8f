"""The columns of a NONMEM-style data set, declared once: :mod:`imapk.datasets` reads its column names,
units, codes and required columns from here, and the reference page is rendered from here.

References
----------
Bauer RJ. NONMEM Users Guide Introduction to NONMEM 7.5. ICON plc, 2021 (data item definitions of
ID, TIME, AMT, EVID, II, ADDL, SS, RATE, CMT, DV, MDV).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Column", "COLUMNS", "RULES", "MAX_ADDL", "reference_markdown"]

#: Largest ADDL accepted (a 100-year daily regimen): more is a typo, and would expand without end.
MAX_ADDL = 36_525


@dataclass(frozen=True)
class Column:
    """One standard column of a data set.

    Parameters
    ----------
    name
        Column name (matched without regard to letter case).
    unit
        The only unit accepted in the header (``TIME [h]``), or None for a count or a code.
    meaning
        What a value means, in one line.
    required
        The column must be present.
    codes
        The allowed values of a coded column, or empty.
    whole
        Values must be whole numbers.
    missing
        What a missing value ('.' or an empty cell, or no column) means.
    """

    name: str
    unit: str | None
    meaning: str
    required: bool = False
    codes: tuple[int, ...] = ()
    whole: bool = False
    missing: str = ""


COLUMNS: tuple[Column, ...] = (
    Column("ID", None, "Patient identifier, kept as text exactly as written; the records of an ID must be "
           "contiguous", required=True, missing="refused"),
    Column("TIME", "h", "Time of the record; non-decreasing within an ID, may be negative", required=True,
           missing="refused"),
    Column("AMT", "mg", "Dose amount, mg of imatinib free base; >= 0, > 0 on a dose record", missing="0"),
    Column("EVID", None, "Event: 0 observation, 1 dose, 2 other, 3 reset, 4 reset and dose", codes=(0, 1, 2, 3, 4),
           whole=True, missing="1 where AMT > 0, else 0"),
    Column("II", "h", "Interval between the doses of ADDL and of a steady state (SS 1 or 2); >= 0", missing="0"),
    Column("ADDL", None, "Number of additional doses, II apart, after this one (ordinary doses: no steady "
           f"state, no reset); at most {MAX_ADDL}", whole=True, missing="0"),
    Column("SS", None, "0 none, 1 steady state replacing the state, 2 steady state added to it",
           codes=(0, 1, 2), whole=True, missing="0"),
    Column("RATE", "mg/h", "0 bolus, > 0 zero-order input at this rate, -2 the model's duration D1", missing="0"),
    Column("CMT", None, "1 the dose compartment (depot, the head of a transit chain, or central for a "
           "zero-order model without a chain); 2 the central compartment, whatever the structure",
           codes=(1, 2), whole=True, missing="1 for a dose, 2 for an observation"),
    Column("DV", "ng/mL", "Measured concentration; >= 0 unless BLQ 1", missing="no measurement"),
    Column("MDV", None, "1 when the record has no measured value (an observation with MDV 1 is a time at "
           "which a prediction is wanted)", codes=(0, 1), whole=True,
           missing="0 for an observation with a DV, else 1"),
    Column("BLQ", None, "1 when the measurement was below the limit of quantification (observations only)",
           codes=(0, 1), whole=True, missing="0"),
    Column("LLOQ", "ng/mL", "Lower limit of quantification of the measurement; >= 0", missing="none"),
)

#: What a record means where the format leaves a choice: (title, rule).
RULES: tuple[tuple[str, str], ...] = (
    ("Headers", "Standard columns are matched without regard to letter case and may carry their unit in the "
     "header (`TIME [h]`); only the unit in the table is accepted. A numeric covariate's unit is declared once: "
     "in its header (`weight [kg]`) or in the `units` mapping of `read_dataset` (`imapk run --units "
     "weight=kg`). Any other column is an error unless it is named to be ignored."),
    ("Missing values", "'.' and empty cells are missing; the table says what each means. Covariates must be "
     "given on every record."),
    ("Compartments", "CMT 1 is the compartment a dose enters: the depot of a first-order model (NONMEM ADVAN2 "
     "and ADVAN4's CMT 1), the first transit compartment of a model with a transit chain, the central "
     "compartment of a zero-order model without a chain (its inputs last D1). CMT 2 is always the central compartment (NONMEM ADVAN4's numbering for two compartments "
     "with a depot, not ADVAN3's); other codes (a peripheral compartment, a compartment inside a chain) are "
     "refused."),
    ("Observations", "EVID 0 records are predictions in the central compartment. With MDV 0 the record needs a "
     "DV; with MDV 1 it is a time at which a prediction is wanted. Every other record has MDV 1 (or missing)."),
    ("ADDL", "ADDL more doses like this one (same AMT, RATE, CMT) at TIME + II, TIME + 2 II, ...; they are "
     "ordinary doses, also after an EVID 4 record, as NONMEM 7.5 and mrgsolve read them. An additional dose at "
     "the same time as a record is given before it."),
    ("Records at equal times", "Processed in file order, as NONMEM does: an observation written before a dose "
     "at the same time sees the state before the dose (imapk's trough, C(t-))."),
    ("Time-varying covariates", "The values on a record govern the interval that ends at that record (next "
     "observation carried backward), those of the last record the time after it; a dose's bioavailability and "
     "lag come from its own record."),
    ("IDs", "Each ID keeps its own times; the records of an ID must be contiguous (NONMEM would start a new "
     "individual where an ID returns after another one; imapk refuses that instead of guessing)."),
    ("Comments", "Blank lines and lines starting with `#` (NONMEM's IGNORE=#) are not records."),
    ("Errors", "Every malformed record is an error naming the file, the row (1-based line of the file, the "
     "header being row 1), the column and the value; nothing is dropped silently."),
)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def reference_markdown() -> str:
    """The data-set reference page (Markdown, MyST-compatible): the standard columns, the covariate
    columns and the rules imapk implements; the same text on every call."""
    from .scenario_schema import covariate_rows

    lines = [
        "# Data set reference", "",
        "A NONMEM-style data set is a CSV file (UTF-8, comma-separated, one header row) with one record per "
        "event, the layout NONMEM, mrgsolve, rxode2, Monolix and Pumas read. `imapk run DATA.csv --model NAME` "
        "simulates one, `imapk tdm` fits one, `imapk export` writes a scenario as one. This page is generated "
        "from `imapk.dataset_schema`, the table the reader itself uses.", "",
        "## Standard columns", "",
        "| column | unit | required | codes | missing value means | meaning |", "|---|---|---|---|---|---|",
    ]
    for c in COLUMNS:
        lines.append("| " + " | ".join(_cell(x) for x in (
            f"`{c.name}`", c.unit or "-", "yes" if c.required else "no",
            ", ".join(map(str, c.codes)) or "-", c.missing or "-", c.meaning)) + " |")
    lines += ["", "## Covariate columns", "",
              "One column per covariate, named as below; numeric ones need their unit, in the header or in "
              "`units`.", "", *covariate_rows("column")]
    lines += ["", "## Rules", ""]
    for title, rule in RULES:
        lines.append(f"- **{title}.** {rule}")
    return "\n".join(lines).rstrip() + "\n"
