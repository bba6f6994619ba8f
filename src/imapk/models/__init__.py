"""The registry of published imatinib population PK models.

A new model is one small module in this package that defines ``MODELS``, a tuple of
:class:`~imapk.models.base.PopulationModel`, and is listed in ``_MODULES`` below.
"""

from __future__ import annotations

from importlib import import_module

from ..errors import ParameterError
from .base import PopulationModel, Residual

__all__ = ["MODELS", "get_model", "suggest", "PopulationModel", "Residual"]

_MODULES = (
    "eechoute2012",
    "widmer2006",
    "schmidli2005",
    "judson2005",
    "petain2008",
    "demetri2009",
    "yamakawa2011",
    "gotta2014",
    "golabchifar2014",
    "dipaolo2014",
    "wang2019",
    "shriyan2022",
    "he2023",
    "jiang2023",
)


def _load() -> dict[str, PopulationModel]:
    registry: dict[str, PopulationModel] = {}
    for module in _MODULES:
        for model in import_module(f"{__name__}.{module}").MODELS:
            if model.name in registry:
                raise RuntimeError(f"model {model.name!r} registered twice")
            registry[model.name] = model
    return registry


#: Shipped models by name.
MODELS: dict[str, PopulationModel] = _load()


def get_model(name: str) -> PopulationModel:
    """Return the shipped model `name`.

    Raises
    ------
    ParameterError
        If no model has that name; the message lists the known names and, where one is close
        (the same name in other letter case or spacing, e.g. ``"Widmer2006"``, or a near miss such
        as ``"widmer2007"``), suggests it.
    """
    if not isinstance(name, str):
        raise ParameterError(
            "a parameter set is named by a string", got=name, expected=f"one of {', '.join(sorted(MODELS))}"
        )
    try:
        return MODELS[name]
    except KeyError:
        close = suggest(name, MODELS)
        problem = "unknown parameter set" + (f": did you mean '{close}'?" if close else "")
        raise ParameterError(problem, got=name, expected=f"one of {', '.join(sorted(MODELS))}") from None


def _normal(name: str) -> str:
    """A name compared without letter case, spaces, hyphens or underscores: 'Widmer 2006' -> 'widmer2006'."""
    return "".join(c for c in name.casefold() if c.isalnum())


def suggest(name: str, known) -> str | None:
    """The known name `name` most likely stands for, or None: first one equal to it but for letter
    case and separators, else the closest by :func:`difflib.get_close_matches` (ratio >= 0.6)."""
    import difflib

    by_normal: dict[str, str] = {}
    for candidate in sorted(known):
        by_normal.setdefault(_normal(candidate), candidate)
    target = _normal(name)
    if target in by_normal:
        return by_normal[target]
    close = difflib.get_close_matches(target, list(by_normal), n=1, cutoff=0.6)
    return by_normal[close[0]] if close else None
