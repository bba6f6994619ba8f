"""Canonical units and the one place where quantities are converted.

Inside imapk every number is in canonical units: amounts in mg, times in h, volumes in L,
clearances in L/h, rate constants in 1/h, concentrations in ng/mL (1 mg/L = 1000 ng/mL).
Users write quantities as strings with a unit (``"400 mg"``, ``"14 d"``, ``"14.3 L/h"``); a
quantity of the wrong dimension is an error, never a guess.

Doses are mg of imatinib free base. A dose may name its form: ``"400 mg base"`` (or ``"400 mg free
base"``) is the free base, and ``"478 mg mesylate"`` is the salt in the tablets, converted to free base
by the ratio of the molar masses (:func:`parse_dose`).
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

from .errors import UnitError

__all__ = [
    "DIMENSIONS",
    "CANONICAL_UNIT",
    "parse_quantity",
    "parse_dose",
    "Dose",
    "MG_PER_L_TO_NG_PER_ML",
    "IMATINIB_MOLAR_MASS",
    "IMATINIB_MESYLATE_MOLAR_MASS",
    "MESYLATE_TO_BASE",
    "DOSE_FORMS",
]

#: Converts a concentration in mg/L (amount in mg over volume in L) to ng/mL.
MG_PER_L_TO_NG_PER_ML = 1000.0

#: For each dimension: accepted unit spellings and the factor that converts them to the canonical unit.
DIMENSIONS: dict[str, dict[str, float]] = {
    "mass": {"mg": 1.0, "g": 1000.0, "ug": 1e-3, "µg": 1e-3, "μg": 1e-3, "mcg": 1e-3},
    "time": {
        "h": 1.0, "hr": 1.0, "hrs": 1.0, "hour": 1.0, "hours": 1.0,
        "min": 1.0 / 60.0, "minutes": 1.0 / 60.0, "d": 24.0, "day": 24.0, "days": 24.0,
        "wk": 168.0, "week": 168.0, "weeks": 168.0,
    },
    "volume": {"L": 1.0, "l": 1.0, "mL": 1e-3, "ml": 1e-3},
    "clearance": {"L/h": 1.0, "l/h": 1.0, "mL/min": 0.06, "ml/min": 0.06, "L/d": 1.0 / 24.0},
    "rate_constant": {"1/h": 1.0, "/h": 1.0, "h-1": 1.0, "1/d": 1.0 / 24.0, "/d": 1.0 / 24.0, "1/min": 60.0},
    "concentration": {
        "ng/mL": 1.0, "ng/ml": 1.0, "ug/L": 1.0, "µg/L": 1.0, "μg/L": 1.0,
        "mg/L": 1000.0, "mg/l": 1000.0, "ug/mL": 1000.0, "µg/mL": 1000.0, "μg/mL": 1000.0,
    },
}

#: The unit every value of a dimension is stored in.
CANONICAL_UNIT = {
    "mass": "mg",
    "time": "h",
    "volume": "L",
    "clearance": "L/h",
    "rate_constant": "1/h",
    "concentration": "ng/mL",
}

#: Molar mass of imatinib free base, C29H31N7O. [g/mol] (Reference [1] of :func:`parse_dose`.)
IMATINIB_MOLAR_MASS = 493.6
#: Molar mass of imatinib mesylate, C29H31N7O . CH4SO3, the salt in the tablets. [g/mol] (Reference [2].)
IMATINIB_MESYLATE_MOLAR_MASS = 589.7
#: mg of free base in 1 mg of imatinib mesylate (one mesylate per molecule): 400 mg base = 478 mg mesylate.
MESYLATE_TO_BASE = IMATINIB_MOLAR_MASS / IMATINIB_MESYLATE_MOLAR_MASS
#: Forms a dose may name after its unit, and the factor to mg of free base.
DOSE_FORMS = {"base": 1.0, "free base": 1.0, "mesylate": MESYLATE_TO_BASE, "mesilate": MESYLATE_TO_BASE}
_FORM = re.compile(r"^(.*?\S)\s+(?:imatinib\s+)?(free\s+base|base|mesylate|mesilate)\s*$", re.IGNORECASE)
_WORDS_AFTER_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S+)\s+([A-Za-z].*?)\s*$")

_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S.*?)?\s*$")


def parse_quantity(value: object, dimension: str, *, key: str | None = None, source: str | None = None) -> float:
    """Convert a quantity written with a unit to the canonical unit of `dimension`.

    Parameters
    ----------
    value
        A string such as ``"400 mg"`` or ``"0.609 1/h"``. Bare numbers are refused, because a
        number without a unit is exactly the mistake (g for mg, days for hours) this guards against.
    dimension
        One of :data:`DIMENSIONS`.
    key, source
        Where the value came from, for the error message.

    Returns
    -------
    float
        The value in ``CANONICAL_UNIT[dimension]``.

    Raises
    ------
    UnitError
        If the value has no unit, an unknown unit, a unit of another dimension, or is not finite.

    Examples
    --------
    >>> parse_quantity("2 d", "time")
    48.0
    >>> parse_quantity("1.1 mg/L", "concentration")
    1100.0
    """
    if dimension not in DIMENSIONS:
        raise UnitError(f"unknown dimension '{dimension}'", source=source, key=key, expected=f"one of {', '.join(DIMENSIONS)}")
    units = DIMENSIONS[dimension]
    expected = f"a string with a {dimension} unit, e.g. '{_example_value(dimension)}' (units: {', '.join(units)})"
    if value is None:  # format_message leaves out got=None: say it in the problem
        raise UnitError(f"expected a {dimension} quantity, got None", source=source, key=key, expected=expected)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise UnitError(f"expected a {dimension} quantity", source=source, key=key, got=value, expected=expected)
    if not isinstance(value, str):
        raise UnitError(f"a {dimension} needs a unit", source=source, key=key, got=value, expected=expected)
    match = _QUANTITY.match(value)
    if not match:
        raise UnitError(f"cannot read this {dimension}", source=source, key=key, got=value, expected=expected)
    number, unit = match.groups()
    if unit is None:
        raise UnitError(f"a {dimension} needs a unit", source=source, key=key, got=value, expected=expected)
    unit = unit.replace(" ", "")
    if unit not in units:
        other = next((dim for dim, table in DIMENSIONS.items() if unit in table), None)
        problem = (
            f"'{unit}' is a {other} unit, not a {dimension} unit" if other else f"unknown {dimension} unit '{unit}'"
        )
        if dimension == "mass" and "/" in unit:
            problem += " (a dose is the amount of one administration: write '400 mg' and give the interval)"
        raise UnitError(problem, source=source, key=key, got=value, expected=expected)
    result = float(number) * units[unit]
    if not math.isfinite(result):
        raise UnitError(f"{dimension} is not finite", source=source, key=key, got=value, expected=expected)
    return result


def _example_value(dimension: str) -> str:
    return {
        "mass": "400 mg",
        "time": "24 h",
        "volume": "347 L",
        "clearance": "14.3 L/h",
        "rate_constant": "0.609 1/h",
        "concentration": "1100 ng/mL",
    }[dimension]


class Dose(NamedTuple):
    """A dose read from text: the amount of free base and the form the text named."""

    #: Amount of imatinib free base. [mg]
    amount: float
    #: ``"base"`` or ``"mesylate"`` when the text named the form (``"mesilate"`` reads as
    #: ``"mesylate"``, ``"free base"`` as ``"base"``); ``""`` when it did not (free base).
    form: str
    #: The amount as written, in mg of the named form. [mg]
    written: float

    def describe(self, text: str) -> str:
        """One line saying how `text` was read, e.g. ``'478 mg mesylate' = 400.1 mg imatinib free base``."""
        line = f"{text!r} = {self.amount:.4g} mg imatinib free base"
        if self.form == "mesylate":
            line += (
                f" ({self.written:g} mg x {IMATINIB_MOLAR_MASS:g}/{IMATINIB_MESYLATE_MOLAR_MASS:g}, "
                "the molar masses of the free base and the mesylate)"
            )
        return line


def parse_dose(value: object, *, key: str | None = None, source: str | None = None) -> Dose:
    """Read a dose written with a mass unit and, optionally, the form of imatinib it is an amount of.

    Parameters
    ----------
    value
        A string such as ``"400 mg"`` or ``"400 mg base"`` (mg of imatinib free base, the unit of
        every dose in imapk), or ``"478 mg mesylate"`` (mg of imatinib mesylate, the salt in the
        tablets; ``"mesilate"`` is the INN spelling). Bare numbers are refused as by
        :func:`parse_quantity`.
    key, source
        Where the value came from, for the error message.

    Returns
    -------
    Dose
        The amount of free base [mg], the form named (``"base"``, ``"mesylate"`` or ``""``) and the
        amount as written [mg].

    Raises
    ------
    UnitError
        If the amount is not a mass with a unit, or the word after the unit is not a known form.

    Notes
    -----
    One molecule of imatinib mesylate holds one molecule of the free base, so

        m_base = m_mesylate * M_base / M_mesylate = m_mesylate * 493.6 / 589.7            (1)

    and a 400 mg tablet (of free base) holds 477.9 mg of the mesylate. Free base
    C29H31N7O, 493.6 g/mol [1]; mesylate C29H31N7O . CH4SO3, 589.7 g/mol [2]; both follow from the
    standard atomic weights.

    References
    ----------
    .. [1] PubChem, Imatinib, CID 5291: molecular formula C29H31N7O, molecular weight 493.6 g/mol.
       National Center for Biotechnology Information. https://pubchem.ncbi.nlm.nih.gov/compound/5291
    .. [2] Novartis. Gleevec (imatinib mesylate) tablets, US prescribing information, section 11
       (Description): "film-coated tablets contain imatinib mesylate equivalent to 100 mg or 400 mg
       of imatinib free base ... molecular formula is C29H31N7O . CH4SO3 and its molecular weight
       is 589.7".

    Examples
    --------
    >>> parse_dose("400 mg").amount
    400.0
    >>> round(parse_dose("478 mg mesylate").amount, 1)
    400.1
    >>> parse_dose("0.4 g base")
    Dose(amount=400.0, form='base', written=400.0)
    """
    form = ""
    text = value
    if isinstance(value, str):
        match = _FORM.match(value)
        if match:
            text, written_form = match.group(1), " ".join(match.group(2).lower().split())
            form = "mesylate" if written_form in ("mesylate", "mesilate") else "base"
        else:
            words = _WORDS_AFTER_UNIT.match(value)
            if words and words.group(2) in DIMENSIONS["mass"]:
                raise UnitError(
                    f"unknown form of imatinib '{words.group(3)}'",
                    source=source,
                    key=key,
                    got=value,
                    expected=_FORM_HINT,
                )
    try:
        written = parse_quantity(text, "mass", key=key, source=source)
    except UnitError as error:
        if text is value:
            raise
        raise UnitError(error.problem, source=source, key=key, got=value, expected=error.expected) from None
    return Dose(written * DOSE_FORMS[form] if form else written, form, written)


_FORM_HINT = (
    "mg of imatinib free base, '400 mg' or '400 mg base', or mg of the mesylate salt, '478 mg mesylate' "
    "(= 400 mg base, converted by the molar masses 493.6/589.7 g/mol)"
)
