"""Dosing as a random process: which scheduled doses each patient takes.

* :mod:`imapk.processes.adherence`: missed doses, independent or in runs (a two-state Markov chain),
  with an optional per-patient adherence level; doses taken late.
* :mod:`imapk.processes.toxicity`: toxicity events from a hazard, holds of random length, restart
  ladders, recurrence and discontinuation.
* :mod:`imapk.processes.realise`: a schedule and the processes to each patient's doses on the shared
  scheduled grid (:func:`realise`), which the engine simulates directly.
* :mod:`imapk.processes.coupled`: the same when a toxicity's hazard depends on the simulated troughs
  (:func:`realise_coupled`: one engine run per pass of events).
* :mod:`imapk.processes.policies`: dosing rules (trough escalation, a dose cap after events).

Every draw is a pure function of (seed, purpose, patient) through :mod:`imapk.streams`: a patient's
doses are the same whatever the population size, the chunking or the number of workers.
"""

from __future__ import annotations

from .adherence import AdherenceLevel, IndependentMisses, LateDoses, MarkovMisses, missed_doses
from .coupled import realise_coupled
from .realise import RealisedDoses, realise
from .toxicity import (
    ExposureEffect,
    ExposurePower,
    HoldLength,
    ToxicityProcess,
    Weibull,
    draw_events,
    realised_schedule,
)

__all__ = [
    "AdherenceLevel",
    "ExposureEffect",
    "ExposurePower",
    "HoldLength",
    "IndependentMisses",
    "LateDoses",
    "MarkovMisses",
    "RealisedDoses",
    "ToxicityProcess",
    "Weibull",
    "draw_events",
    "missed_doses",
    "realise",
    "realise_coupled",
    "realised_schedule",
]
