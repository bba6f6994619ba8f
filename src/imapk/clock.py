"""The time-on-therapy clock of time-varying models, and what a hold does to it.

Models whose rates change with time on therapy (Eechoute 2012's absorption rate and relative F, a
clearance that drifts over months) need to know, at every moment, how long the patient has been
on therapy. Nobody knows whether that clock keeps running during an interruption, pauses, or
starts again at the restart (the literature notes found no data), so imapk offers all three:

``running``
    tau = time on therapy at t = 0 plus t: holds change nothing.
``paused``
    The clock stops from the first held dose to the restart dose, then runs on.
``reset``
    The clock runs through the hold and starts again at 0 at the restart dose, as if therapy
    began anew.

tau is piecewise linear in t; the knots are restart points of the ODE integrator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ImapkError
from .schedule import DoseTable

__all__ = ["CLOCK_MODES", "TherapyClock", "therapy_clock"]

CLOCK_MODES = ("running", "paused", "reset")


@dataclass(frozen=True)
class TherapyClock:
    """tau(t) = tau[i] + slope[i] (t - time[i]) for time[i] <= t < time[i + 1] (the first piece also before time[0]).

    Attributes
    ----------
    time
        Knots. [h]
    tau
        Time on therapy at each knot. [h]
    slope
        1 while the clock runs, 0 while it is paused.
    """

    time: np.ndarray
    tau: np.ndarray
    slope: np.ndarray

    def __call__(self, t) -> np.ndarray:
        """Time on therapy at times `t`. [h]"""
        t = np.asarray(t, dtype=float)
        i = np.clip(np.searchsorted(self.time, t, side="right") - 1, 0, None)
        return self.tau[i] + self.slope[i] * (t - self.time[i])


def therapy_clock(table: DoseTable, mode: str = "running", time_on_therapy_at_start: float = 0.0) -> TherapyClock:
    """The clock for a lowered schedule.

    Parameters
    ----------
    table
        The lowered schedule (its holds define the pauses and resets).
    mode
        ``"running"``, ``"paused"`` or ``"reset"`` (see the module docstring).
    time_on_therapy_at_start
        Time on therapy at t = 0 (e.g. a steady-state start after months). [h]
    """
    if mode not in CLOCK_MODES:
        raise ImapkError("unknown therapy clock", key="therapy_clock", got=mode, expected=f"one of {', '.join(CLOCK_MODES)}")
    times, taus, slopes = [0.0], [float(time_on_therapy_at_start)], [1.0]
    if mode != "running":
        held = table.status == 1
        starts = np.flatnonzero(held & ~np.concatenate([[False], held[:-1]]))
        for first in starts:
            last = first
            while last + 1 < held.size and held[last + 1]:
                last += 1
            pause_start = float(table.time[first])
            restart = float(table.time[last + 1]) if last + 1 < held.size else None
            tau_at_start = taus[-1] + slopes[-1] * (pause_start - times[-1])
            if mode == "paused":
                times.append(pause_start)
                taus.append(tau_at_start)
                slopes.append(0.0)
                if restart is not None:
                    times.append(restart)
                    taus.append(tau_at_start)
                    slopes.append(1.0)
            elif restart is not None:  # reset
                times.append(restart)
                taus.append(0.0)
                slopes.append(1.0)
    return TherapyClock(np.array(times), np.array(taus), np.array(slopes))
