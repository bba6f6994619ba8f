"""imapk: imatinib plasma levels under real-world dosing.

Does this patient's trough stay above the efficacy threshold under this schedule, and if not,
for how long and by how much? ``import imapk`` is cheap: numba, xarray and the engine are
imported on first use.
"""

from __future__ import annotations

from importlib import import_module

__version__ = "0.2.0.dev0"

_LAZY = {
    "simulate": "imapk.simulation",
    "map_estimate": "imapk.tdm",
    "read_dataset": "imapk.datasets",
    "load_scenario": "imapk.scenario",
    "run_scenario": "imapk.runner",
    "Scenario": "imapk.scenario",
    "Schedule": "imapk.schedule",
    "Phase": "imapk.schedule",
    "Hold": "imapk.schedule",
    "LadderStep": "imapk.schedule",
    "SteadyState": "imapk.schedule",
    "PKParams": "imapk.params",
    "ParameterChange": "imapk.params",
    "ParameterTable": "imapk.params",
    "MODELS": "imapk.models",
    "get_model": "imapk.models",
    "PopulationModel": "imapk.models",
    "PopulationSpec": "imapk.population",
    "CovariateDistribution": "imapk.population",
    "THRESHOLDS": "imapk.thresholds",
    "Threshold": "imapk.thresholds",
    "write_netcdf": "imapk.io",
    "read_netcdf": "imapk.io",
}

from .errors import (  # noqa: F401  (cheap, and users catch these)
    ImapkError,
    OutputError,
    ParameterError,
    ScenarioError,
    ScheduleError,
    SimulationError,
    UnitError,
)

__all__ = sorted(
    [*_LAZY, "ImapkError", "ScenarioError", "ScheduleError", "ParameterError", "UnitError", "SimulationError", "OutputError"]
)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'imapk' has no attribute {name!r}")


def __dir__():
    return __all__
