"""Drawn toxicity holds over planned holds and misses (imapk.processes.overlay), each case worked by hand.

The schedule: 400 mg daily for 60 days with a planned hold on days 20-24 followed by 200 mg on days
25-27. The drawn holds carry their own ladder, 100 mg for 2 days. Expected doses are written out day by
day from the module's rule (held days are the union; a ladder follows the hold that ends last)."""

from __future__ import annotations

import numpy as np
import pytest

from imapk.errors import ImapkError
from imapk.processes.overlay import overlay_holds
from imapk.schedule import HELD, MISSED, Hold, LadderStep, Phase, Schedule

PLANNED = Hold(start_day=20, days=5, restart=(LadderStep(200, 3),), label="planned")
SCHEDULE = Schedule(phases=(Phase(dose=400, days=60),), holds=(PLANNED,))
DRAWN_LADDER = (LadderStep(100, 2),)


def drawn(start: int, days: int) -> Hold:
    return Hold(start_day=start, days=days, restart=DRAWN_LADDER, label="rash hold 1")


def expected(held_days, ladders) -> np.ndarray:
    """Given amounts by day: 400 mg, 0 on `held_days`, then each (first day, [amounts]) of `ladders`."""
    given = np.full(60, 400.0)
    for first, amounts in ladders:
        given[first - 1:first - 1 + len(amounts)] = amounts
    given[[d - 1 for d in held_days]] = 0.0
    return given


@pytest.mark.parametrize("start, days, held, ladders", [
    (10, 5, [*range(10, 15), *range(20, 25)], [(15, [100, 100]), (25, [200] * 3)]),  # before the planned hold
    (18, 5, range(18, 25), [(25, [200] * 3)]),  # ends inside it: the planned ladder follows
    (22, 7, range(20, 29), [(29, [100, 100])]),  # starts inside, outlasts it: the drawn ladder follows
    (21, 3, range(20, 25), [(25, [200] * 3)]),  # inside it: nothing more is held
    (18, 9, range(18, 27), [(27, [100, 100])]),  # covers it: held 18-26, then the drawn ladder
    (26, 4, [*range(20, 25), *range(26, 30)], [(25, [200]), (30, [100, 100])]),  # inside its ladder: ends it
])
def test_held_days_are_the_union_and_the_ladder_follows_the_hold_that_ends_last(start, days, held, ladders):
    table = overlay_holds(SCHEDULE, [drawn(start, days)]).lower()
    np.testing.assert_array_equal(table.given, expected(list(held), ladders))
    held_days = np.flatnonzero(table.status == HELD) + 1
    assert held_days.tolist() == sorted(set(held))


def test_a_planned_miss_inside_a_drawn_hold_is_held_and_the_others_stay_missed():
    schedule = Schedule(phases=SCHEDULE.phases, holds=SCHEDULE.holds, missed_days=(12, 40), missed_doses=(13, 50))
    table = overlay_holds(schedule, [drawn(10, 5)]).lower()
    assert table.status[[11, 13]].tolist() == [HELD, HELD]  # day 12 and dose 13 (day 14) fall in days 10-14
    assert table.status[[39, 50]].tolist() == [MISSED, MISSED]


def test_without_planned_holds_or_misses_the_drawn_holds_are_the_holds():
    plain = Schedule(phases=SCHEDULE.phases)
    assert overlay_holds(plain, [drawn(10, 5)]).holds == (drawn(10, 5),)


def test_a_planned_hold_ending_within_a_day_cannot_be_followed_by_a_drawn_part():
    twice = Schedule(phases=(Phase(dose=200, days=30, interval=12),), holds=(Hold(start_day=10, doses=3),))
    with pytest.raises(ImapkError) as error:
        overlay_holds(twice, [drawn(9, 4)])
    assert error.value.key == "schedule.holds" and "between two doses of day 11" in error.value.problem


def test_the_planners_ladder_without_the_hold_keeps_the_drawn_days_held():
    """The planner's reference for a hold's cost gives the planned hold's doses, its ladder on the same
    days. A drawn hold on days 18-22 still holds days 18-22 there (under its own label); days 23-24 are
    given at 400 mg, the planned ladder (200 mg) follows on days 25-27."""
    from imapk.planner import _LadderWithoutHold

    reference = _LadderWithoutHold(phases=SCHEDULE.phases, holds=(PLANNED,), given_hold=0)
    table = overlay_holds(reference, [drawn(18, 5)]).lower()
    np.testing.assert_array_equal(table.given, expected(range(18, 23), [(25, [200] * 3)]))
    held = np.flatnonzero(table.status == HELD)
    assert (held + 1).tolist() == list(range(18, 23))
    assert {table.hold_labels[h] for h in table.hold[held]} == {"rash hold 1"}
    # without a drawn hold in its way the reference is the planner's as before
    plain = overlay_holds(reference, [drawn(40, 3)]).lower()
    np.testing.assert_array_equal(plain.given, expected(range(40, 43), [(25, [200] * 3), (43, [100, 100])]))


def test_the_planner_answers_on_a_population_with_drawn_holds():
    """The planner's hold cost on a population whose rash holds are drawn over a planned 7-day hold
    (days 30-36): a patient without events pays what it pays without the rash process (same subject,
    same simulation: to 1e-9 d), and a patient whose drawn hold covers every planned day pays nothing
    for the planned hold (its doses are held by the rash anyway)."""
    import textwrap
    from dataclasses import replace

    from imapk.planner import cost_of_hold
    from imapk.processes import realise
    from imapk.scenario import parse_scenario

    text = textwrap.dedent("""
        [scenario]
        title = "t"
        seed = 5
        [model]
        parameter_set = "widmer2006"
        [population]
        size = 200
        [[schedule.phases]]
        dose = "400 mg"
        days = 120
        [[schedule.holds]]
        start_day = 30
        days = 7
        restart = [ { dose = "300 mg", days = 14 } ]
        [[toxicity]]
        label = "rash"
        first = { scale = "40 d" }
        recurrence = { scale = "40 d" }
        hold = { days = 14 }
        restart = [ { dose = "200 mg", days = 7 } ]
        [verdict]
        thresholds = ["gist"]
    """)
    scenario = parse_scenario(text, "t.toml")
    split = cost_of_hold(scenario)
    alone = cost_of_hold(replace(scenario, toxicity=None))
    events = realise(scenario.schedule, range(200), 5, toxicity=scenario.toxicity).events
    quiet = np.array([not e.time for e in events])
    covering = np.array([any(s <= 30 and s + d >= 37 for s, d in zip(e.hold_start_day, e.hold_days)) for e in events])
    assert quiet.sum() > 10 and covering.sum() > 5
    np.testing.assert_allclose(split.time_below_hold[quiet], alone.time_below_hold[quiet], rtol=0, atol=1e-9)
    assert np.all(split.time_below_hold[covering] == 0.0) and np.all(split.troughs_below_hold[covering] == 0)
