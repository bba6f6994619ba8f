"""Therapeutic drug monitoring: a patient's measured levels to an individual estimate, and the next step.

* :mod:`imapk.tdm.estimation`: Bayesian MAP estimation under a published population model
  (:func:`map_estimate`), with Laplace and importance-sampling uncertainty.
* :mod:`imapk.tdm.offtrough`: a level drawn away from the trough converted to the trough (model-based,
  and the log-linear correction of Wang 2009).
* :mod:`imapk.tdm.planning`: the next dose from the posterior (:func:`plan_next_step`).
* :mod:`imapk.tdm.posterior_plan`: the planner's questions (:mod:`imapk.planner`: hold cost, longest
  hold, recovery, ladders) asked of a fitted patient's posterior (:func:`posterior_patient`,
  :func:`plan_from_posterior`).
* :mod:`imapk.tdm.records`: one patient's NONMEM-style records as the fit's inputs (:func:`patient_inputs`);
  records a dose table cannot express (resets, infusions at a RATE, central doses, SS 2) are fitted by
  walking them (:class:`PatientRecords`).
* :mod:`imapk.tdm.command`: what ``imapk tdm`` prints (:func:`tdm_report`).
"""

from __future__ import annotations

from .estimation import FitWarning, MapResult, Observations, dose_table, map_estimate, posterior_concentrations
from .offtrough import LogLinearTrough, ModelTrough, loglinear_trough, model_trough
from .planning import CANDIDATE_DOSES, StepPlan, plan_next_step
from .posterior_plan import PosteriorPatient, future_schedule, plan_from_posterior, posterior_patient
from .records import PatientInputs, PatientRecords, patient_inputs
from .summary import summary_lines, summary_record

__all__ = [
    "CANDIDATE_DOSES",
    "FitWarning",
    "LogLinearTrough",
    "MapResult",
    "ModelTrough",
    "Observations",
    "PatientInputs",
    "PatientRecords",
    "PosteriorPatient",
    "StepPlan",
    "dose_table",
    "future_schedule",
    "loglinear_trough",
    "map_estimate",
    "model_trough",
    "patient_inputs",
    "plan_from_posterior",
    "plan_next_step",
    "posterior_patient",
    "posterior_concentrations",
    "summary_lines",
    "summary_record",
]
