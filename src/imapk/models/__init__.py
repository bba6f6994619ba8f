"""The registry of published imatinib population PK models.

A new model is one small module in this package that defines ``MODELS``, a tuple of
:class:`~imapk.models.base.PopulationModel`, and is listed in ``_MODULES`` below.
"""

from __future__ import annotations

from importlib import import_module

from ..errors import ParameterError
from .base import PopulationModel, Residual

__all__ = ["MODELS", "get_model", "PopulationModel", "Residual"]

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
    """Return the model `name`, or raise a :class:`ParameterError` listing the known names."""
    try:
        return MODELS[name]
    except KeyError:
        raise ParameterError("unknown parameter set", got=name, expected=f"one of {', '.join(sorted(MODELS))}") from None
