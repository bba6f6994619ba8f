"""Published imatinib parameter sets, each with its citation.

Every number here is checked against the project's literature notes, which tag each value with its
confidence: C1 read in the primary source, C2 read in a secondary source that transcribes it.
Typical values only; population variability and covariate models are added per set as they are
implemented.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import ParameterError
from .params import PKParams

__all__ = ["ParameterSet", "PARAMETER_SETS", "get_parameter_set"]


@dataclass(frozen=True)
class ParameterSet:
    """A cited set of typical PK parameter values.

    Parameters
    ----------
    name
        Registry key, e.g. ``"widmer2006"``.
    title
        One line saying which model this is.
    params
        Typical values in canonical units.
    citation
        Full reference: authors, title, journal, year, DOI.
    population
        The population and dose range the model was fitted on.
    confidence
        Per parameter: where the number was read (C1 primary, C2 secondary).
    notes
        Assumptions and known discrepancies.
    """

    name: str
    title: str
    params: PKParams
    citation: str
    population: str
    confidence: dict[str, str] = field(default_factory=dict)
    notes: str = ""


WIDMER_2006 = ParameterSet(
    name="widmer2006",
    title="Widmer 2006 base model: 1-cmt, first-order absorption (CML + GIST, Lausanne)",
    params=PKParams(cl=14.3, v=347.0, ka=0.609, f=1.0, tlag=0.0),
    citation=(
        "Widmer N, Decosterd LA, Csajka C, et al. Population pharmacokinetics of imatinib and the role "
        "of alpha1-acid glycoprotein. Br J Clin Pharmacol 2006;62(1):97-112. "
        "doi:10.1111/j.1365-2125.2006.02719.x"
    ),
    population="59 patients (CML and GIST), 321 samples, 400-800 mg/d",
    confidence={
        "cl": "14.3 L/h (SEM 1.0): C1, abstract (PMC1885072)",
        "v": "347 L (SEM 62): C1, abstract",
        "ka": "0.609 1/h: C2, Tucuxi gotta2012 drug file and NONMEM control stream (Yang 2025 Table 1: 0.61)",
        "f": "1, fixed (CL and V are apparent): C2, Tucuxi",
        "tlag": "none in the model",
    },
    notes=(
        "Base-model typical values (no covariates). Typical steady-state trough at 400 mg q24h: 732 ng/mL "
        "(closed form; nlmixr2lib reports 732.1), below both the GIST (1100 ng/mL) and CML (1000 ng/mL) targets."
    ),
)

#: Registry of the shipped parameter sets, by name.
PARAMETER_SETS: dict[str, ParameterSet] = {WIDMER_2006.name: WIDMER_2006}


def get_parameter_set(name: str) -> ParameterSet:
    """Return the parameter set `name`, or raise a :class:`ParameterError` listing the known names."""
    try:
        return PARAMETER_SETS[name]
    except KeyError:
        raise ParameterError(
            "unknown parameter set", got=name, expected=f"one of {', '.join(sorted(PARAMETER_SETS))}"
        ) from None
