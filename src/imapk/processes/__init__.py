"""Dosing as a random process: which scheduled doses each patient takes.

* :mod:`imapk.processes.adherence`: missed doses, independent or in runs (a two-state Markov chain),
  with an optional per-patient adherence level.
* :mod:`imapk.processes.toxicity`: toxicity events from a hazard, holds of random length, restart
  ladders, recurrence and discontinuation.

Every draw is a pure function of (seed, purpose, patient) through :mod:`imapk.streams`: a patient's
doses are the same whatever the population size, the chunking or the number of workers.
"""

from __future__ import annotations

from .adherence import AdherenceLevel, IndependentMisses, MarkovMisses, missed_doses
from .toxicity import HoldLength, ToxicityProcess, Weibull, draw_events, realised_schedule

__all__ = [
    "AdherenceLevel",
    "HoldLength",
    "IndependentMisses",
    "MarkovMisses",
    "ToxicityProcess",
    "Weibull",
    "draw_events",
    "missed_doses",
    "realised_schedule",
]
