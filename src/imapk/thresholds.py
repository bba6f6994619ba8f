"""Exposure thresholds, with their sources, and the three kinds of threshold.

Every threshold has a *kind*, which says what it is compared with and which side is wrong:

* ``trough_target`` (efficacy): every scheduled trough should be at or above it; a trough below it
  misses the target.
* ``trough_ceiling`` (toxicity judged on troughs): every scheduled trough should stay below it; a
  trough at or above it exceeds the ceiling.
* ``concentration_ceiling`` (toxicity judged on the whole curve, i.e. on the peak): the
  concentration should stay below it at every time; any time at or above it exceeds the ceiling.

Older spellings keep working: ``"target"`` means ``trough_target`` (as it always did), and
``"ceiling"`` keeps its old meaning, ``concentration_ceiling``; a scenario file that writes
``"ceiling"`` gets a warning asking for one of the two explicit ceiling kinds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import ScenarioError

__all__ = [
    "Threshold",
    "THRESHOLDS",
    "get_threshold",
    "threshold_kind",
    "kinds_of",
    "requirement",
    "KINDS",
    "CEILING_KINDS",
    "LEGACY_KINDS",
    "TROUGH_TARGET",
    "TROUGH_CEILING",
    "CONCENTRATION_CEILING",
    "TARGET",
    "CEILING",
    "ThresholdKindWarning",
]

TROUGH_TARGET = "trough_target"
TROUGH_CEILING = "trough_ceiling"
CONCENTRATION_CEILING = "concentration_ceiling"
#: Every kind, in the order they are listed to users.
KINDS = (TROUGH_TARGET, TROUGH_CEILING, CONCENTRATION_CEILING)
#: The kinds whose wrong side is "at or above".
CEILING_KINDS = (TROUGH_CEILING, CONCENTRATION_CEILING)
#: Spellings of earlier versions and the kind each one means now.
LEGACY_KINDS = {"target": TROUGH_TARGET, "ceiling": CONCENTRATION_CEILING}
#: Earlier names of the constants, with the meaning they always had: ``TARGET`` is the trough
#: target; ``CEILING`` was applied to every concentration, so it is the concentration ceiling.
TARGET = TROUGH_TARGET
CEILING = CONCENTRATION_CEILING

class ThresholdKindWarning(FutureWarning):
    """A threshold kind is written in a deprecated spelling (``"ceiling"``): it keeps its old
    meaning, but the file should say which ceiling it means. A FutureWarning, so that users of the
    command line see it (as ``imapk: warning: ...``), not only developers."""


#: What to write instead of the ambiguous ``"ceiling"`` (said in the deprecation warning).
CEILING_ADVICE = (
    "write kind = 'concentration_ceiling' to keep this meaning (every concentration, i.e. the peak, "
    "must stay below the value), or 'trough_ceiling' if the value is meant for troughs"
)


def threshold_kind(spelling: object) -> str:
    """The kind a spelling means: one of :data:`KINDS`, or a legacy spelling (see :data:`LEGACY_KINDS`).

    Raises
    ------
    ScenarioError
        For anything else, listing the allowed values.
    """
    if isinstance(spelling, str):
        if spelling in KINDS:
            return spelling
        if spelling in LEGACY_KINDS:
            return LEGACY_KINDS[spelling]
    raise ScenarioError(
        "unknown threshold kind", key="kind", got=spelling,
        expected="one of " + ", ".join(f"'{k}'" for k in KINDS) + " (or the older 'target' and 'ceiling')",
    )


def kinds_of(ds) -> list[str]:
    """The kind of every threshold of a result (Dataset, sweep store or Result), legacy spellings of
    files written by earlier versions read as their current meaning."""
    if "threshold_kind" not in ds:
        return [TROUGH_TARGET] * (len(ds["threshold"].values) if "threshold" in ds else 0)
    return [threshold_kind(str(kind)) for kind in ds["threshold_kind"].values]


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
        ``"trough_target"`` (efficacy: troughs should be at or above), ``"trough_ceiling"``
        (toxicity: troughs should stay below) or ``"concentration_ceiling"`` (toxicity: the
        concentration should stay below at every time, i.e. the peak). The older ``"target"`` is
        read as ``"trough_target"`` and ``"ceiling"`` as ``"concentration_ceiling"`` (its old
        meaning); the stored kind is always the current spelling.
    reference
        Where the number comes from.

    Examples
    --------
    >>> Threshold("tox", 3000.0, "concentration_ceiling").is_ceiling
    True
    >>> THRESHOLDS["toxicity_alarm"].requirement
    'trough < 3000 ng/mL'
    """

    name: str
    value: float
    kind: str = TROUGH_TARGET
    reference: str = ""

    def __post_init__(self) -> None:
        if self.kind == "ceiling":
            import warnings

            warnings.warn(
                f"threshold {self.name}: kind 'ceiling' is deprecated and read as 'concentration_ceiling' (its old "
                "meaning); " + CEILING_ADVICE.replace("write kind = ", "pass kind = "),
                ThresholdKindWarning,
                stacklevel=3,
            )
        object.__setattr__(self, "kind", threshold_kind(self.kind))
        if not (isinstance(self.value, (int, float)) and math.isfinite(self.value) and self.value > 0):
            raise ScenarioError("threshold must be a positive concentration", key="value", got=self.value)

    @property
    def is_ceiling(self) -> bool:
        """True for both ceiling kinds (the wrong side is at or above the value)."""
        return self.kind in CEILING_KINDS

    @property
    def label(self) -> str:
        """``'trough target gist (1100 ng/mL)'``: the kind, the name and the value."""
        return f"{self.kind.replace('_', ' ')} {self.name} ({self.value:g} ng/mL)"

    @property
    def requirement(self) -> str:
        """What the threshold asks for, e.g. ``'trough >= 1100 ng/mL'``."""
        return requirement(self.kind, self.value)


def requirement(kind: str, value: float) -> str:
    """What a threshold of `kind` at `value` [ng/mL] asks for, in a few words."""
    if kind == TROUGH_TARGET:
        return f"trough >= {value:g} ng/mL"
    if kind == TROUGH_CEILING:
        return f"trough < {value:g} ng/mL"
    return f"concentration < {value:g} ng/mL at all times"


#: Shipped thresholds.
THRESHOLDS: dict[str, Threshold] = {
    t.name: t
    for t in (
        Threshold(
            "gist",
            1100.0,
            TROUGH_TARGET,
            "GIST efficacy: day-29 trough below 1100 ng/mL (lowest quartile, < 1110 ng/mL) had median TTP "
            "11.3 months vs > 30 months. Demetri GD, Wang Y, Wehrle E, et al. Imatinib plasma levels are "
            "correlated with clinical benefit in patients with unresectable/metastatic gastrointestinal "
            "stromal tumors. J Clin Oncol 2009;27(19):3141-3147. doi:10.1200/JCO.2008.20.4818",
        ),
        Threshold(
            "cml",
            1000.0,
            TROUGH_TARGET,
            "CML efficacy: trough >= 1000 ng/mL (1002 ng/mL ROC cut-off for major molecular response, "
            "Picard S, et al. Blood 2007;109:3496; 1000 ng/mL in TDM practice, Bouchet S, et al. "
            "Therapie 2010;65(3):213-218)",
        ),
        Threshold(
            "toxicity_alarm",
            3000.0,
            TROUGH_CEILING,
            "Toxicity alarm on the trough, 3000 ng/mL: a TDM tool setting (Tucuxi imatinib drug file "
            "petermann2025) and the upper end of the 1000-3000 ng/mL trough window quoted by Yang T, et al. "
            "Target Oncol 2025;20(5):871-886. Both define it on the trough (Cmin), not on the peak. No primary "
            "exposure-toxicity study for this number was found; use as a flag, not a rule.",
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
