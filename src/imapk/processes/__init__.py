"""Dosing as a random process: which scheduled doses each patient takes.

* :mod:`imapk.processes.adherence`: missed doses, independent or in runs (a two-state Markov chain),
  with an optional per-patient adherence level.

Every draw is a pure function of (seed, purpose, patient) through :mod:`imapk.streams`: a patient's
doses are the same whatever the population size, the chunking or the number of workers.
"""

from __future__ import annotations

from .adherence import IndependentMisses, MarkovMisses, missed_doses

__all__ = ["IndependentMisses", "MarkovMisses", "missed_doses"]
