"""Drawn toxicity holds laid over a schedule's planned holds and planned missed doses.

A patient's drawn holds (:func:`imapk.processes.toxicity.realised_schedule`) meet the holds and
misses written in the schedule (e.g. a planned interruption the planner asks about). The rule:

* a planned hold keeps its days and its ladder, as written;
* a drawn hold holds the doses of its days that no planned hold holds: the days before a planned
  hold it overlaps, and those after it when the drawn hold outlasts it;
* the drawn hold's restart ladder follows its last day when that day is not inside a planned hold;
  otherwise the planned hold ends later and its own ladder (or the prescription) follows;
* a planned missed dose inside a drawn hold is held (a dose cannot be both);
* the ladders interact as :class:`~imapk.schedule.Hold` says: a hold interrupts the ladder running
  when it starts.

So the doses held are the union of the planned and the drawn holds' days, and each planned hold's
ladder runs exactly as when it is alone. A schedule class that lowers a planned hold its own way
(the planner's "ladder without the hold", which gives that hold's doses) declares a field
``held_by_drawn``: it receives the (dose, label) pairs a drawn hold covers inside planned holds, so
it can keep those doses held. The toxicity's own clock (the recurrence hazard from each
restart) follows the drawn holds as drawn: a planned hold does not move it.
"""

from __future__ import annotations

from dataclasses import replace
from collections.abc import Sequence

import numpy as np

from ..errors import ImapkError
from ..schedule import HELD, HOURS_PER_DAY, DoseTable, Hold, Schedule

__all__ = ["overlay_holds"]


def overlay_holds(schedule: Schedule, drawn: Sequence[Hold], base: DoseTable | None = None) -> Schedule:
    """`schedule` with the `drawn` holds (whole days, each with ``days``) laid over its planned holds
    and misses by the rule of the module docstring. `base`: ``schedule.lower()`` if already at hand.

    Raises
    ------
    ImapkError
        Where the part of a drawn hold left after a planned hold would start between two doses of a
        day (a planned hold given in doses that ends within a day): a hold starts with a day's first dose.
    """
    if not (schedule.holds or schedule.missed_days or schedule.missed_doses):
        return replace(schedule, holds=tuple(drawn))
    if type(schedule) is not Schedule:  # a schedule that lowers its holds its own way: the plain lowering
        base = Schedule.lower(schedule)
    base = schedule.lower() if base is None else base
    time, day = base.time, base.day
    planned_held = base.status == HELD
    pieces: list[Hold] = []
    in_drawn = np.zeros(time.size, dtype=bool)
    shadowed: list[tuple[int, str]] = []  # (dose, label) a drawn hold covers inside a planned hold
    for hold in drawn:
        lo = (hold.start_day - 1) * HOURS_PER_DAY
        inside = np.flatnonzero((time >= lo) & (time < lo + hold.days * HOURS_PER_DAY))
        if inside.size == 0:
            continue
        free = inside[~planned_held[inside]]
        in_drawn[free] = True
        shadowed += [(int(j), hold.label) for j in inside[planned_held[inside]]]
        runs = np.split(free, np.flatnonzero(np.diff(free) != 1) + 1) if free.size else []
        for r, run in enumerate(runs):
            first = int(run[0])
            first_of_day = int(np.flatnonzero(day == day[first])[0])
            if first != first_of_day:
                raise ImapkError(
                    f"the part of {hold.label or 'a drawn hold'} after a planned hold would start between two doses "
                    f"of day {int(day[first])}", key="schedule.holds",
                    expected="planned holds that end at the end of a day when toxicity holds are drawn",
                )
            keeps_ladder = r == len(runs) - 1 and run[-1] == inside[-1]
            pieces.append(Hold(start_day=int(day[first]), doses=int(run.size),
                               restart=hold.restart if keeps_ladder else (), label=hold.label))
    missed_days = tuple(d for d in schedule.missed_days if not in_drawn[day == d].any())
    missed_doses = tuple(j for j in schedule.missed_doses if not in_drawn[j])
    extra = {"held_by_drawn": tuple(shadowed)} if hasattr(schedule, "held_by_drawn") else {}
    return replace(schedule, holds=schedule.holds + tuple(pieces), missed_days=missed_days, missed_doses=missed_doses,
                   **extra)
