"""Patient covariates: one schema with canonical units and plausible ranges, CSV input, and draws.

Every covariate has a canonical unit (the one the model equations use), the other units it may be
given in with their conversion factors, and a plausible range: a value outside it is an error (a
unit slip such as haemoglobin in g/L read as g/dL would make Schmidli's clearance 8-fold wrong).
Categorical covariates have a fixed set of levels.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .errors import ScenarioError

__all__ = ["CovariateSpec", "COVARIATES", "REFERENCE_SUBJECT", "parse_covariate_value", "check_values"]


@dataclass(frozen=True)
class CovariateSpec:
    """Declaration of one covariate.

    Parameters
    ----------
    name
        Key used in scenario files, CSV headers and model equations.
    description
        What it is.
    unit
        Canonical unit (numeric covariates), or None for categorical ones.
    units
        Accepted units and the factor that converts each to the canonical unit.
    plausible
        (low, high) in the canonical unit: values outside are refused.
    levels
        Allowed values of a categorical covariate.
    """

    name: str
    description: str
    unit: str | None = None
    units: tuple[tuple[str, float], ...] = ()
    plausible: tuple[float, float] = (-math.inf, math.inf)
    levels: tuple[str, ...] = ()

    @property
    def categorical(self) -> bool:
        return self.unit is None


# Conversion factors: haemoglobin 1 mmol/L (Hb monomer) = 1.611 g/dL (MW 16 114.5 g/mol per haem unit).
COVARIATES: dict[str, CovariateSpec] = {
    spec.name: spec
    for spec in (
        CovariateSpec("weight", "Body weight", "kg", (("kg", 1.0), ("g", 1e-3), ("lb", 0.45359237)), (2.0, 300.0)),
        CovariateSpec("age", "Age", "y", (("y", 1.0), ("year", 1.0), ("years", 1.0), ("yr", 1.0)), (0.0, 120.0)),
        CovariateSpec("sex", "Sex", levels=("male", "female")),
        CovariateSpec("disease", "Indication", levels=("GIST", "CML", "other")),
        CovariateSpec(
            "haemoglobin", "Haemoglobin", "g/dL", (("g/dL", 1.0), ("g/L", 0.1), ("mmol/L", 1.611)), (3.0, 25.0)
        ),
        CovariateSpec("wbc", "White blood cell count", "10^9/L", (("10^9/L", 1.0), ("10^3/uL", 1.0), ("/nL", 1.0)), (0.1, 1000.0)),
        CovariateSpec("rbc", "Red blood cell count", "10^12/L", (("10^12/L", 1.0), ("10^6/uL", 1.0), ("/pL", 1.0)), (0.5, 10.0)),
        CovariateSpec("albumin", "Serum albumin", "g/L", (("g/L", 1.0), ("g/dL", 10.0)), (5.0, 70.0)),
        CovariateSpec("agp", "Alpha1-acid glycoprotein (AGP, orosomucoid)", "g/L", (("g/L", 1.0), ("mg/dL", 0.01)), (0.05, 10.0)),
        CovariateSpec("egfr", "Estimated GFR", "mL/min/1.73m^2", (("mL/min/1.73m^2", 1.0), ("mL/min/1.73m2", 1.0)), (1.0, 250.0)),
        CovariateSpec("crcl", "Creatinine clearance", "mL/min", (("mL/min", 1.0), ("L/h", 1000.0 / 60.0)), (1.0, 300.0)),
        CovariateSpec("liver_metastases", "Volume of liver metastases", "cm^3", (("cm^3", 1.0), ("mL", 1.0)), (0.0, 10000.0)),
        CovariateSpec("slc22a1_rs683369", "SLC22A1 (OCT1) rs683369 genotype", levels=("CC", "CG", "GG")),
        CovariateSpec("abcg2_rs2231142", "ABCG2 rs2231142 (421C>A, Q141K) genotype", levels=("GG", "GT", "TT")),
    )
}

#: The reference subject of model comparisons: 70 kg, 55 years, male, GIST, haemoglobin 13 g/dL,
#: WBC 7 x 10^9/L, RBC 4.5 x 10^12/L, albumin 38 g/L, AGP 0.9 g/L, CrCl and eGFR 90 mL/min, no liver
#: metastases, reference genotypes.
REFERENCE_SUBJECT: dict[str, float | str] = {
    "weight": 70.0,
    "age": 55.0,
    "sex": "male",
    "disease": "GIST",
    "haemoglobin": 13.0,
    "wbc": 7.0,
    "rbc": 4.5,
    "albumin": 38.0,
    "agp": 0.9,
    "egfr": 90.0,
    "crcl": 90.0,
    "liver_metastases": 0.0,
    "slc22a1_rs683369": "CC",
    "abcg2_rs2231142": "GG",
}

_VALUE = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S.*?)?\s*$")


def _spec(name: str, *, source: str | None, key: str | None) -> CovariateSpec:
    try:
        return COVARIATES[name]
    except KeyError:
        raise ScenarioError(
            "unknown covariate", source=source, key=key, got=name, expected=f"one of {', '.join(COVARIATES)}"
        ) from None


def unit_factor(name: str, unit: str, *, source: str | None = None, key: str | None = None) -> float:
    """Factor that converts covariate `name` from `unit` to its canonical unit."""
    spec = _spec(name, source=source, key=key)
    table = dict(spec.units)
    cleaned = unit.replace(" ", "")
    if cleaned not in table:
        raise ScenarioError(
            f"unknown unit for {name}",
            source=source,
            key=key,
            got=unit,
            expected=f"one of {', '.join(table)} (canonical: {spec.unit})",
        )
    return table[cleaned]


def parse_covariate_value(name: str, value: object, *, source: str | None = None, key: str | None = None):
    """A covariate value from a scenario file, in canonical units (``"70 kg"``, ``"13 g/dL"``, ``"male"``)."""
    spec = _spec(name, source=source, key=key)
    if spec.categorical:
        if value not in spec.levels:
            raise ScenarioError(
                f"unknown {name}", source=source, key=key, got=value, expected=f"one of {', '.join(spec.levels)}"
            )
        return value
    if not isinstance(value, str):
        raise ScenarioError(
            f"{name} needs a unit", source=source, key=key, got=value, expected=f"e.g. '{_example(spec)}'"
        )
    match = _VALUE.match(value)
    if not match or match.group(2) is None:
        raise ScenarioError(
            f"cannot read {name} with its unit", source=source, key=key, got=value, expected=f"e.g. '{_example(spec)}'"
        )
    factor = unit_factor(name, match.group(2), source=source, key=key)
    number = float(match.group(1)) * factor
    check_values(name, np.array([number]), source=source, key=key, shown=[value], unit=match.group(2), factor=factor)
    return number


def _example(spec: CovariateSpec) -> str:
    low, high = spec.plausible
    return f"{(low + high) / 2 if math.isfinite(high) else low:g} {spec.unit}"


def check_values(
    name: str, values: np.ndarray, *, source=None, key=None, shown=None, rows=None, unit=None, factor=1.0
) -> None:
    """Refuse values of a numeric covariate outside its plausible range (or not finite).

    `values` are in canonical units; `unit` and `factor` (canonical per unit) are those the user
    wrote, so the expected range is also given in their unit.
    """
    spec = COVARIATES[name]
    low, high = spec.plausible
    bad = ~(np.isfinite(values) & (values >= low) & (values <= high))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        where = f"{key}" if rows is None else f"{key} (row {rows[i]})"
        expected = f"{low:g}-{high:g} {spec.unit}"
        if unit is not None and unit != spec.unit and factor > 0:
            expected = f"{low / factor:.4g}-{high / factor:.4g} {unit}, i.e. {expected}"
        raise ScenarioError(
            f"implausible {spec.description.lower()} (a unit slip?)",
            source=source,
            key=where,
            got=shown[i] if shown is not None else float(values[i]),
            expected=expected,
        )
