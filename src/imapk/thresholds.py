"""Exposure thresholds, with their sources.

A *target* is an efficacy threshold on the trough (the patient should stay above it); a
*ceiling* is a toxicity threshold on the concentration (the patient should stay below it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import ScenarioError

__all__ = ["Threshold", "THRESHOLDS", "get_threshold", "TARGET", "CEILING"]

TARGET, CEILING = "target", "ceiling"


@dataclass(frozen=True)
class Threshold:
    """A named concentration threshold.

    Parameters
    ----------
    name
        Short name used as the ``threshold`` coordinate.
    value
        The threshold. [ng/mL]
    kind
        ``"target"`` (efficacy: trough should be at or above) or ``"ceiling"`` (toxicity:
        concentration should stay below).
    reference
        Where the number comes from.
    """

    name: str
    value: float
    kind: str = TARGET
    reference: str = ""

    def __post_init__(self) -> None:
        if self.kind not in (TARGET, CEILING):
            raise ScenarioError("unknown threshold kind", key="kind", got=self.kind, expected="'target' or 'ceiling'")
        if not (isinstance(self.value, (int, float)) and math.isfinite(self.value) and self.value > 0):
            raise ScenarioError("threshold must be a positive concentration", key="value", got=self.value)


#: Shipped thresholds.
THRESHOLDS: dict[str, Threshold] = {
    t.name: t
    for t in (
        Threshold(
            "gist",
            1100.0,
            TARGET,
            "GIST efficacy: day-29 trough below 1100 ng/mL (lowest quartile, < 1110 ng/mL) had median TTP "
            "11.3 months vs > 30 months. Demetri GD, Wang Y, Wehrle E, et al. Imatinib plasma levels are "
            "correlated with clinical benefit in patients with unresectable/metastatic gastrointestinal "
            "stromal tumors. J Clin Oncol 2009;27(19):3141-3147. doi:10.1200/JCO.2008.20.4818",
        ),
        Threshold(
            "cml",
            1000.0,
            TARGET,
            "CML efficacy: trough >= 1000 ng/mL (1002 ng/mL ROC cut-off for major molecular response, "
            "Picard S, et al. Blood 2007;109:3496; 1000 ng/mL in TDM practice, Bouchet S, et al. "
            "Therapie 2010;65(3):213-218)",
        ),
        Threshold(
            "toxicity_alarm",
            3000.0,
            CEILING,
            "Toxicity alarm 3000 ng/mL: a TDM tool setting (Tucuxi imatinib drug file petermann2025) and the "
            "upper end of the 1000-3000 ng/mL window quoted by Yang T, et al. Target Oncol 2025;20(5):871-886. "
            "No primary exposure-toxicity study for this number was found; use as a flag, not a rule.",
        ),
    )
}


def get_threshold(name: str) -> Threshold:
    """Return the shipped threshold `name`, or raise a :class:`ScenarioError` listing the names."""
    try:
        return THRESHOLDS[name]
    except KeyError:
        raise ScenarioError(
            "unknown threshold", got=name, expected=f"one of {', '.join(sorted(THRESHOLDS))} or a custom table"
        ) from None
