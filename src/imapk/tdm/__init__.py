"""Therapeutic drug monitoring: a patient's measured levels to an individual estimate, and the next step.

* :mod:`imapk.tdm.estimation`: Bayesian MAP estimation under a published population model
  (:func:`map_estimate`), with Laplace and importance-sampling uncertainty.
* :mod:`imapk.tdm.offtrough`: a level drawn away from the trough converted to the trough (model-based,
  and the log-linear correction of Wang 2009).
* :mod:`imapk.tdm.planning`: the next dose from the posterior (:func:`plan_next_step`).
"""

from __future__ import annotations

from .estimation import FitWarning, MapResult, Observations, dose_table, map_estimate, posterior_concentrations

__all__ = ["FitWarning", "MapResult", "Observations", "dose_table", "map_estimate", "posterior_concentrations"]
