"""Running a data set as a scenario runs: its population and doses on one grid through :func:`imapk.simulate`.

:func:`run_dataset` lowers a data set with :func:`imapk.dataset_doses.lower_dataset` (the rules are
there) and simulates it like a scenario's population: each ID with the model's typical values for its
covariates (a data set carries covariates, not random effects), the model's occasion effects and its
changes with time on therapy (on the ODE path when they are continuous). The result is the
scenario's result Dataset: troughs on the shared grid with the IDs as the ``subject`` coordinate,
each ID's doses (``subject_dose_status``; grid doses without a record are ``missed``, reason "no
dose record"), percentiles, and with thresholds the verdict variables.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

__all__ = ["run_dataset"]


def run_dataset(data, model: str, *, thresholds=(), as_dataset: bool = True, occasion_timing: str = "fit",
                time_variation: str = "model"):
    """Simulate the data set `data` (a :class:`imapk.datasets.DataSet`) with the shipped model `model`
    (``time_variation="none"``: without its time-on-therapy factors, as :func:`simulate_dataset` takes it).

    Raises :class:`imapk.dataset_doses.DataSetGridError` when its IDs do not share a grid of doses
    (simulate it per ID with :func:`imapk.dataset_simulation.simulate_dataset` then).
    """
    from . import __version__
    from .dataset_doses import lower_dataset
    from .models import get_model
    from .population import draw_parameters
    from .simulation import simulate

    pop_model = get_model(model)
    if time_variation == "none":
        from dataclasses import replace

        from .models.base import TimeVariation

        pop_model = replace(pop_model, time_variation=TimeVariation())
    population = lower_dataset(data, pop_model)
    n = population.ids.size
    table = population.doses.table
    missing = [name for name in pop_model.covariates if name not in population.covariates]
    if missing:
        from .errors import ImapkError

        raise ImapkError(f"model {pop_model.name} needs covariate `{missing[0]}`, not a column of the data set",
                         source=data.source, key="columns", expected=f"columns {', '.join(missing)}")
    parameters = draw_parameters(
        pop_model, population.covariates, np.arange(n), seed=None, iiv=False, dose_times=table.time,
        occasion_timing=occasion_timing,
    )
    variation = pop_model.time_variation
    attrs = {
        "title": f"data set {Path(data.source).name}",
        "parameter_set": pop_model.name,
        "parameter_set_citation": pop_model.citation,
        "data_set_source": Path(data.source).name,
        "data_set_grid_interval_h": population.interval,
        "data_set_time_offset_h": population.time_offset.tolist() if n <= 1000 else "per ID: the TIME of its first dose",
        "population_size": n,
        "iiv": 0,
        "versions": f"imapk {__version__}; numpy {np.__version__}",
    }
    path = Path(data.source)
    if path.is_file():
        attrs["data_set_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return simulate(
        population.doses, parameters, thresholds=thresholds, variation=variation,
        method="ode" if variation.needs_ode else "exact", covariates=population.covariates,
        subjects=population.ids, attrs=attrs, as_dataset=as_dataset,
    )
