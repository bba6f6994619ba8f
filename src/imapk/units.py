"""Canonical units and the one place where quantities are converted.

Inside imapk every number is in canonical units: amounts in mg, times in h, volumes in L,
clearances in L/h, rate constants in 1/h, concentrations in ng/mL (1 mg/L = 1000 ng/mL).
Users write quantities as strings with a unit (``"400 mg"``, ``"14 d"``, ``"14.3 L/h"``); a
quantity of the wrong dimension is an error, never a guess.
"""

from __future__ import annotations

import math
import re

from .errors import UnitError

__all__ = ["DIMENSIONS", "CANONICAL_UNIT", "parse_quantity", "MG_PER_L_TO_NG_PER_ML"]

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
