"""Schedule.lower(): phases, holds, ladders, missed doses and steady state to one row per scheduled dose.

Expected arrays are written out by hand from the clinical description (day n is [24 (n - 1), 24 n) h),
not computed with imapk.
"""

import numpy as np
import pytest

from imapk.errors import ImapkError, ScheduleError
from imapk.schedule import (
    GIVEN,
    HELD,
    MAX_DOSES,
    MISSED,
    Hold,
    LadderStep,
    Phase,
    Schedule,
    SteadyState,
    day_start,
)


def runs(table):
    """(first day, last day, given mg, status) for each run of equal doses: a compact picture."""
    out = []
    for day, given, status in zip(table.day.tolist(), table.given.tolist(), table.status.tolist()):
        if out and out[-1][2] == given and out[-1][3] == status and out[-1][1] in (day, day - 1):
            out[-1][1] = day
        else:
            out.append([day, day, given, status])
    return [tuple(r) for r in out]


# ---------------------------------------------------------------- phases


def test_day_start():
    assert day_start(1) == 0.0
    assert day_start(29) == 672.0


def test_phase_in_days__one_dose_per_day():
    table = Schedule(phases=(Phase(dose=400, days=28),)).lower()
    assert len(table) == 28
    np.testing.assert_array_equal(table.time, 24.0 * np.arange(28))
    np.testing.assert_array_equal(table.day, np.arange(1, 29))
    assert table.end == 28 * 24.0
    assert set(table.status.tolist()) == {GIVEN}
    assert table.phase[0] == "400 mg q24h"


def test_phase_in_doses():
    table = Schedule(phases=(Phase(dose=300, interval=12, doses=5),)).lower()
    np.testing.assert_array_equal(table.time, [0, 12, 24, 36, 48])
    assert table.end == 60.0


def test_phase_q12h_with_morning_and_evening_amounts():
    table = Schedule(phases=(Phase(dose=(400, 200), interval=12, days=3),)).lower()
    np.testing.assert_array_equal(table.time, [0, 12, 24, 36, 48, 60])
    np.testing.assert_array_equal(table.planned, [400, 200, 400, 200, 400, 200])
    np.testing.assert_array_equal(table.day, [1, 1, 2, 2, 3, 3])
    assert table.phase[0] == "400/200 mg q12h"


def test_phase_days_not_a_multiple_of_the_interval__every_dose_starting_inside_counts():
    # 3 days of q48h: doses at 0 h and 48 h; the phase lasts 72 h, so the next starts at 72 h.
    table = Schedule(phases=(Phase(dose=400, interval=48, days=3), Phase(dose=200, days=1))).lower()
    np.testing.assert_array_equal(table.time, [0, 48, 72])
    np.testing.assert_array_equal(table.interval, [48, 24, 24])
    np.testing.assert_array_equal(table.planned, [400, 400, 200])


def test_phase_half_days_of_twice_daily_doses_are_whole():
    # 1.5 days of q12h is 3 doses; the next phase starts at 36 h.
    table = Schedule(phases=(Phase(dose=400, interval=12, days=1.5), Phase(dose=200, days=1))).lower()
    np.testing.assert_array_equal(table.time, [0, 12, 24, 36])
    np.testing.assert_array_equal(table.planned, [400, 400, 400, 200])


def test_consecutive_phases_and_labels():
    table = Schedule(
        phases=(Phase(dose=400, days=2, label="loading"), Phase(dose=400, interval=12, days=1))
    ).lower()
    np.testing.assert_array_equal(table.time, [0, 24, 48, 60])
    assert table.phase.tolist() == ["loading", "loading", "400 mg q12h", "400 mg q12h"]
    assert table.end == 72.0


def test_phase_refuses_bad_input():
    with pytest.raises(ScheduleError, match=r"^dose: dose must not be negative \(got -400; expected >= 0 mg\)$"):
        Phase(dose=-400, days=1)
    with pytest.raises(ScheduleError, match=r"^interval: must be a positive number \(got 0; expected > 0 h\)$"):
        Phase(dose=400, interval=0, days=1)
    with pytest.raises(ScheduleError, match=r"^phase\.days: must be a positive number \(got 0; expected > 0 d\)$"):
        Phase(dose=400, days=0)
    with pytest.raises(ScheduleError, match=r"^phase: give exactly one of `days` and `doses`"):
        Phase(dose=400, days=1, doses=1)
    with pytest.raises(ScheduleError, match=r"^phase\.doses: must be a positive whole number \(got 2.5;"):
        Phase(dose=400, doses=2.5)
    with pytest.raises(ScheduleError, match="at least one amount"):
        Phase(dose=(), days=1)
    with pytest.raises(ScheduleError, match="finite number of mg"):
        Phase(dose=float("nan"), days=1)
    with pytest.raises(ScheduleError, match="finite number of mg"):
        Phase(dose=10**400, days=1)  # an int too large for a float is refused, not an OverflowError
    with pytest.raises(ScheduleError, match=r"^phase\.days: must be a positive number"):
        Phase(dose=400, days=10**400)


def test_phase_refuses_a_unit_slip_before_allocating():
    with pytest.raises(ScheduleError, match=f"more than {MAX_DOSES} doses"):
        Phase(dose=400, interval=1 / 60, days=1e6)
    with pytest.raises(ScheduleError, match="too many doses"):
        Phase(dose=400, doses=10**12)


def test_schedule_refuses_too_many_doses_in_total():
    phase = Phase(dose=400, interval=1, doses=MAX_DOSES)
    with pytest.raises(ScheduleError, match=r"^phases: the phases hold 2000000 doses"):
        Schedule(phases=(phase, phase)).lower()


def test_schedule_needs_a_phase():
    with pytest.raises(ScheduleError, match="at least one phase"):
        Schedule(phases=())


def test_errors_are_value_errors_and_imapk_errors():
    with pytest.raises(ValueError):
        Phase(dose=-1, days=1)
    assert issubclass(ScheduleError, ImapkError)


# ---------------------------------------------------------------- holds and ladders


def test_hold_by_days():
    table = Schedule(phases=(Phase(dose=400, days=10),), holds=(Hold(start_day=5, days=3),)).lower()
    assert runs(table) == [(1, 4, 400, GIVEN), (5, 7, 0, HELD), (8, 10, 400, GIVEN)]
    np.testing.assert_array_equal(table.planned, [400] * 10)  # a held dose keeps its planned amount
    np.testing.assert_array_equal(table.hold, [-1] * 4 + [0] * 3 + [-1] * 3)
    np.testing.assert_array_equal(table.restart_index, [7])
    assert table.hold_labels == ("hold",)


def test_hold_by_doses_on_q12h():
    # 3 doses from day 5: day 5 morning and evening, day 6 morning.
    table = Schedule(phases=(Phase(dose=400, interval=12, days=8),), holds=(Hold(start_day=5, doses=3),)).lower()
    held = np.flatnonzero(table.status == HELD)
    np.testing.assert_array_equal(held, [8, 9, 10])
    np.testing.assert_array_equal(table.time[held], [96, 108, 120])
    assert table.restart_index.tolist() == [11]


def test_hold_by_days_on_q12h_holds_both_daily_doses():
    table = Schedule(phases=(Phase(dose=400, interval=12, days=5),), holds=(Hold(start_day=2, days=2),)).lower()
    np.testing.assert_array_equal(np.flatnonzero(table.status == HELD), [2, 3, 4, 5])


def test_hold_with_ladder__case_report():
    # 400 mg/d, hold days 29-42, 200 mg days 43-49, 300 mg days 50-105, 400 mg from day 106.
    table = Schedule(
        phases=(Phase(dose=400, days=365),),
        holds=(Hold(start_day=29, days=14, restart=(LadderStep(200, 7), LadderStep(300, 56)), label="rash"),),
    ).lower()
    assert len(table) == 365
    assert runs(table) == [
        (1, 28, 400, GIVEN),
        (29, 42, 0, HELD),
        (43, 49, 200, GIVEN),
        (50, 105, 300, GIVEN),
        (106, 365, 400, GIVEN),
    ]
    assert table.phase[42] == "rash: restart step 1 (200 mg)"
    assert table.phase[49] == "rash: restart step 2 (300 mg)"
    assert table.phase[105] == "400 mg q24h"


def test_ladder_truncated_by_a_later_hold():
    # Hold 1 days 10-12, ladder 200 mg x 7 d then 300 mg x 56 d; hold 2 on day 20 cuts the 300 mg step
    # (days 20-21 only... then held); after hold 2 its own ladder; the prescription resumes after it.
    table = Schedule(
        phases=(Phase(dose=400, days=60),),
        holds=(
            Hold(start_day=20, days=5, restart=(LadderStep(200, 3),)),  # given out of order on purpose
            Hold(start_day=10, days=3, restart=(LadderStep(200, 7), LadderStep(300, 56))),
        ),
    ).lower()
    assert runs(table) == [
        (1, 9, 400, GIVEN),
        (10, 12, 0, HELD),
        (13, 19, 200, GIVEN),
        (20, 24, 0, HELD),
        (25, 27, 200, GIVEN),
        (28, 60, 400, GIVEN),
    ]
    # holds are reported by their index in the input, not by time order
    assert table.hold[9] == 1 and table.hold[19] == 0
    assert table.restart_index.tolist() == [24, 12]


def test_ladder_second_step_cut_short():
    table = Schedule(
        phases=(Phase(dose=400, days=40),),
        holds=(
            Hold(start_day=5, days=2, restart=(LadderStep(200, 3), LadderStep(300, 56))),
            Hold(start_day=15, days=2),
        ),
    ).lower()
    assert runs(table) == [
        (1, 4, 400, GIVEN),
        (5, 6, 0, HELD),
        (7, 9, 200, GIVEN),
        (10, 14, 300, GIVEN),
        (15, 16, 0, HELD),
        (17, 40, 400, GIVEN),
    ]


def test_ladder_runs_past_the_end_of_the_schedule():
    table = Schedule(
        phases=(Phase(dose=400, days=20),), holds=(Hold(start_day=10, days=2, restart=(LadderStep(300, 56),)),)
    ).lower()
    assert runs(table) == [(1, 9, 400, GIVEN), (10, 11, 0, HELD), (12, 20, 300, GIVEN)]


def test_hold_at_the_end_has_no_restart():
    table = Schedule(phases=(Phase(dose=400, days=10),), holds=(Hold(start_day=8, days=3),)).lower()
    assert table.restart_index.tolist() == [-1]
    assert runs(table) == [(1, 7, 400, GIVEN), (8, 10, 0, HELD)]


def test_ladder_with_morning_and_evening_amounts_keeps_its_slots():
    # q12h; the hold takes 3 doses (day 3 morning and evening, day 4 morning), so the restart is an
    # evening dose: it gets the evening amount of the step.
    table = Schedule(
        phases=(Phase(dose=400, interval=12, days=6),),
        holds=(Hold(start_day=3, doses=3, restart=(LadderStep((300, 100), 1),)),),
    ).lower()
    assert table.restart_index.tolist() == [7]
    np.testing.assert_array_equal(table.time[7:10], [84, 96, 108])
    np.testing.assert_array_equal(table.given[7:10], [100, 300, 400])


def test_adjacent_holds_are_allowed():
    table = Schedule(
        phases=(Phase(dose=400, days=10),),
        holds=(Hold(start_day=3, days=2, restart=(LadderStep(200, 7),)), Hold(start_day=5, days=2)),
    ).lower()
    assert runs(table) == [(1, 2, 400, GIVEN), (3, 6, 0, HELD), (7, 10, 400, GIVEN)]
    # days 5-6 would have been the first two days of the 200 mg step without the second hold
    np.testing.assert_array_equal(table.planned, [400, 400, 400, 400, 200, 200, 400, 400, 400, 400])


# ---------------------------------------------------------------- a hold inside an earlier hold's ladder


def test_second_hold_inside_a_ladder__planned_and_given_day_by_day():
    # 400 mg/d for 60 days. Hold A days 10-12, then 200 mg x 7 d (days 13-19) and 300 mg x 56 d
    # (days 20-75, as written). Hold B days 25-29 interrupts the 300 mg step: its doses are planned
    # at 300 mg (what the schedule gave then), not 400. After B, B's own ladder as written:
    # 200 mg x 3 d (days 30-32); A's ladder is not resumed, so 400 mg from day 33.
    table = Schedule(
        phases=(Phase(dose=400, days=60),),
        holds=(
            Hold(start_day=10, days=3, restart=(LadderStep(200, 7), LadderStep(300, 56)), label="A"),
            Hold(start_day=25, days=5, restart=(LadderStep(200, 3),), label="B"),
        ),
    ).lower()
    planned = [400] * 9 + [400] * 3 + [200] * 7 + [300] * 5 + [300] * 5 + [200] * 3 + [400] * 28
    given = [400] * 9 + [0] * 3 + [200] * 7 + [300] * 5 + [0] * 5 + [200] * 3 + [400] * 28
    status = [GIVEN] * 9 + [HELD] * 3 + [GIVEN] * 12 + [HELD] * 5 + [GIVEN] * 31
    assert len(planned) == len(given) == len(status) == 60
    np.testing.assert_array_equal(table.planned, planned)
    np.testing.assert_array_equal(table.given, given)
    np.testing.assert_array_equal(table.status, status)
    assert table.phase[24] == table.phase[28] == "A: restart step 2 (300 mg)"  # what prescribed the held doses
    assert table.phase[29] == "B: restart step 1 (200 mg)"
    assert table.phase[32] == "400 mg q24h"
    assert table.restart_index.tolist() == [12, 29]


def test_second_hold_inside_the_first_step__planned_at_the_first_step():
    # A days 5-6 then 200 mg x 7 d (days 7-13); B days 9-10 without a ladder: held at 200 mg planned,
    # then the prescription (400 mg) from day 11.
    table = Schedule(
        phases=(Phase(dose=400, days=14),),
        holds=(Hold(start_day=5, days=2, restart=(LadderStep(200, 7),)), Hold(start_day=9, days=2)),
    ).lower()
    np.testing.assert_array_equal(table.planned, [400, 400, 400, 400, 400, 400, 200, 200, 200, 200, 400, 400, 400, 400])
    np.testing.assert_array_equal(table.given, [400, 400, 400, 400, 0, 0, 200, 200, 0, 0, 400, 400, 400, 400])


def test_three_holds_each_with_the_case_report_ladder():
    # The case report's "several interruptions", each followed by 200 -> 300 -> 400 mg/d (7 d, 56 d).
    ladder = (LadderStep(200, 7), LadderStep(300, 56))
    table = Schedule(
        phases=(Phase(dose=400, days=100),),
        holds=(Hold(start_day=29, days=3, restart=ladder), Hold(start_day=46, days=7, restart=ladder),
               Hold(start_day=67, days=14, restart=ladder)),
    ).lower()
    # day:      1-28       29-31      32-38      39-45      46-52      53-59      60-66      67-80       81-87      88-100
    planned = [400] * 28 + [400] * 3 + [200] * 7 + [300] * 7 + [300] * 7 + [200] * 7 + [300] * 7 + [300] * 14 + [200] * 7 + [300] * 13
    given = [400] * 28 + [0] * 3 + [200] * 7 + [300] * 7 + [0] * 7 + [200] * 7 + [300] * 7 + [0] * 14 + [200] * 7 + [300] * 13
    np.testing.assert_array_equal(table.planned, planned)
    np.testing.assert_array_equal(table.given, given)


def test_hold_refuses_bad_input():
    with pytest.raises(ScheduleError, match=r"^start_day: must be a whole clinical day >= 1 \(got 0;"):
        Hold(start_day=0, days=1)
    with pytest.raises(ScheduleError, match=r"^start_day: must be a whole clinical day >= 1 \(got 2.5;"):
        Hold(start_day=2.5, days=1)
    assert Hold(start_day=29.0, days=1).start_day == 29
    with pytest.raises(ScheduleError, match=r"^hold: give exactly one of `days` and `doses`"):
        Hold(start_day=2)
    with pytest.raises(ScheduleError, match=r"^hold\.days: must be a positive number"):
        Hold(start_day=2, days=-1)
    with pytest.raises(ScheduleError, match=r"^restart\[0\]: must be a LadderStep"):
        Hold(start_day=2, days=1, restart=((200, 7),))
    with pytest.raises(ScheduleError, match=r"^days: must be a positive number \(got 0; expected > 0 d\)$"):
        LadderStep(200, 0)


# ---------------------------------------------------------------- lengths that would hold a fraction of a dose


def test_refused__phase_of_a_fractional_number_of_daily_doses():
    with pytest.raises(ScheduleError) as info:
        Phase(dose=400, days=365.5)
    assert str(info.value) == (
        "phase.days: a phase of 365.5 days is not a whole number of days "
        "(got 365.5; expected whole days (365 or 366 days), or give `doses`)"
    )
    with pytest.raises(ScheduleError, match=r"^phase\.days: a phase of 0\.5 days is not a whole number of days"):
        Phase(dose=400, days=0.5)


def test_refused__phase_of_a_fractional_number_of_twice_daily_doses():
    with pytest.raises(ScheduleError) as info:
        Phase(dose=400, interval=12, days=3.25)
    assert str(info.value) == (
        "phase.days: a phase of 3.25 days with a dose every 12 h is 6.5 doses, not a whole number "
        "(got 3.25; expected a whole number of 12 h intervals (3 or 3.5 days), or give `doses`)"
    )


def test_whole_lengths_are_accepted():
    assert Phase(dose=400, days=28.0).count() == 28
    assert Phase(dose=400, interval=12, days=3.5).count() == 7
    assert Phase(dose=400, interval=8, days=2 / 3).count() == 2
    # weekly doses: every whole day is a whole length; 10 days hold the doses at 0 h and 168 h
    assert Phase(dose=400, interval=168, days=10).count() == 2


def test_refused__hold_of_a_fractional_number_of_days():
    message = lower_error(holds=(Hold(start_day=10, days=2.5),))
    assert message == "holds[0].days: a hold of 2.5 days is not a whole number of days (got 2.5; expected whole days (2 or 3 days), or give `doses`)"


def test_refused__huge_hold_is_too_long_not_a_fraction():
    message = lower_error(holds=(Hold(start_day=1, days=1e308),))
    assert message == "holds[0]: ends after the schedule (schedule ends on day 30) (got 'days = 1e+308'; expected days <= 30 from day 1)"


def test_hold_of_half_days_on_twice_daily_doses_holds_whole_doses():
    table = Schedule(phases=(Phase(dose=400, interval=12, days=5),), holds=(Hold(start_day=2, days=1.5),)).lower()
    np.testing.assert_array_equal(np.flatnonzero(table.status == HELD), [2, 3, 4])
    message = lower_error(phases=(Phase(dose=400, interval=12, days=5),), holds=(Hold(start_day=2, days=1.25),))
    assert message.startswith("holds[0].days: a hold of 1.25 days with a dose every 12 h is 2.5 doses, not a whole number")


def test_refused__ladder_step_of_a_fractional_number_of_days():
    message = lower_error(holds=(Hold(start_day=10, days=2, restart=(LadderStep(200, 7), LadderStep(300, 7.5))),))
    assert message == "holds[0].restart[1].days: a ladder step of 7.5 days is not a whole number of days (got 7.5; expected whole days (7 or 8 days))"


def test_refused__ladder_step_past_the_end_is_still_checked():
    message = lower_error(holds=(Hold(start_day=28, days=3, restart=(LadderStep(200, 0.5),)),))
    assert message.startswith("holds[0].restart[0].days: a ladder step of 0.5 days is not a whole number of days")


# ---------------------------------------------------------------- quantity strings in the Python API


def test_quantity_strings_are_read_with_their_units():
    assert Phase(dose="400 mg", days=1).dose == (400.0,)
    assert Phase(dose="0.4 g", interval="12 h", days=1).dose == (400.0,)
    assert Phase(dose="0.4 g", interval="12 h", days=1).count() == 2
    assert Phase(dose=("400 mg", 200), interval="0.5 d", days=1).dose == (400.0, 200.0)
    assert Phase(dose="400 mg base", days=1).dose == (400.0,)
    assert LadderStep("200 mg", 7).dose == (200.0,)
    assert SteadyState(dose="400 mg", interval="24 h").dose == 400.0
    assert Phase(dose=np.array([400, 200]), interval=12, days=1).dose == (400.0, 200.0)


def test_mesylate_strings_are_converted_to_free_base():
    phase = Phase(dose="478 mg mesylate", days=1)
    assert phase.dose[0] == pytest.approx(478 * 493.6 / 589.7, rel=1e-12)
    assert phase.label == "400.1 mg q24h"


def test_refused__quantity_strings_without_unit_or_of_another_dimension():
    from imapk.errors import UnitError

    with pytest.raises(UnitError, match=r"^dose: a mass needs a unit \(got '400'"):
        Phase(dose="400", days=1)
    with pytest.raises(UnitError, match=r"^dose\[1\]: 'h' is a time unit, not a mass unit"):
        Phase(dose=["400 mg", "12 h"], days=1)
    with pytest.raises(UnitError, match=r"^interval: 'mg' is a mass unit, not a time unit"):
        Phase(dose=400, interval="400 mg", days=1)
    with pytest.raises(ScheduleError, match=r"^dose: dose must be a finite number of mg or a quantity string"):
        Phase(dose=None, days=1)


# ---------------------------------------------------------------- conflicts refused at lower()


def lower_error(**kwargs) -> str:
    kwargs.setdefault("phases", (Phase(dose=400, days=30),))
    with pytest.raises(ScheduleError) as info:
        Schedule(**kwargs).lower()
    return str(info.value)


def test_refused__overlapping_holds():
    message = lower_error(holds=(Hold(start_day=10, days=5), Hold(start_day=12, days=5)))
    assert message == "holds[1]: overlaps holds[0] (days 10-14) (got 'days 12-16')"


def test_refused__overlapping_holds_given_out_of_order():
    message = lower_error(holds=(Hold(start_day=12, days=5), Hold(start_day=10, days=5)))
    assert message == "holds[0]: overlaps holds[1] (days 10-14) (got 'days 12-16')"


def test_refused__hold_after_the_schedule():
    message = lower_error(holds=(Hold(start_day=31, days=2),))
    assert message == "holds[0]: starts after the last scheduled dose (got 'start_day = 31'; expected a day <= 30, the day of the last dose)"


def test_refused__hold_running_past_the_end():
    message = lower_error(holds=(Hold(start_day=28, days=5),))
    assert message == (
        "holds[0]: ends after the schedule (schedule ends on day 30) (got 'days 28-32'; expected days <= 3 from day 28)"
    )


def test_refused__hold_of_more_doses_than_remain():
    message = lower_error(holds=(Hold(start_day=28, doses=5),))
    assert message == "holds[0]: holds more doses than remain from day 28 (got 'doses = 5'; expected doses <= 3)"


def test_refused__hold_holding_no_dose():
    message = lower_error(phases=(Phase(dose=400, interval=48, days=10),), holds=(Hold(start_day=2, days=1),))
    assert message == "holds[0]: holds no scheduled dose (got 'days 2-2'; expected a hold covering at least one scheduled dose)"


# ---------------------------------------------------------------- missed doses


def test_missed_days_on_q12h_miss_both_doses():
    table = Schedule(phases=(Phase(dose=400, interval=12, days=4),), missed_days=(2,)).lower()
    np.testing.assert_array_equal(table.status, [GIVEN, GIVEN, MISSED, MISSED, GIVEN, GIVEN, GIVEN, GIVEN])
    np.testing.assert_array_equal(table.given, [400, 400, 0, 0, 400, 400, 400, 400])
    np.testing.assert_array_equal(table.planned, [400] * 8)


def test_missed_doses_by_index():
    table = Schedule(phases=(Phase(dose=400, interval=12, days=2),), missed_doses=(1, 3)).lower()
    np.testing.assert_array_equal(table.status, [GIVEN, MISSED, GIVEN, MISSED])


def test_missed_dose_during_a_ladder_keeps_the_ladder_amount_as_planned():
    table = Schedule(
        phases=(Phase(dose=400, days=20),),
        holds=(Hold(start_day=5, days=2, restart=(LadderStep(200, 7),)),),
        missed_days=(8,),
    ).lower()
    assert table.planned[7] == 200 and table.given[7] == 0 and table.status[7] == MISSED


def test_refused__missed_dose_inside_a_hold():
    message = lower_error(holds=(Hold(start_day=5, days=3),), missed_days=(6,))
    assert message == "missed_days[0]: dose 5 (day 6) is already held by holds[0] (days 5-7) (got 6; expected a dose outside every hold)"
    message = lower_error(holds=(Hold(start_day=5, days=3),), missed_doses=(4,))
    assert message == "missed_doses[0]: dose 4 (day 5) is already held by holds[0] (days 5-7) (got 4; expected a dose outside every hold)"


def test_refused__missed_day_without_a_dose():
    message = lower_error(missed_days=(31,))
    assert message == "missed_days[0]: no dose is scheduled on this day (got 31; expected a day with a scheduled dose, 1 to 30)"


def test_refused__missed_day_listed_twice():
    message = lower_error(missed_days=(6, 6))
    assert message == "missed_days[1]: day 6 is already listed as missed_days[0] (got 6; expected each day listed once)"


def test_refused__missed_dose_listed_twice_in_two_ways():
    message = lower_error(missed_days=(6,), missed_doses=(5,))
    assert message == "missed_doses[0]: dose 5 (day 6) is already missed by missed_days[0] (got 5; expected each dose missed once)"


def test_refused__missed_dose_index_out_of_range():
    message = lower_error(missed_doses=(30,))
    assert message == "missed_doses[0]: no such scheduled dose (got 30; expected 0 <= index < 30)"
    assert "got -1" in lower_error(missed_doses=(-1,))


def test_refused__missed_day_not_a_whole_day():
    message = lower_error(missed_days=(6.5,))
    assert message == "missed_days[0]: must be a whole clinical day (got 6.5; expected an integer day >= 1)"


# ---------------------------------------------------------------- steady state


def test_steady_state_is_carried_to_the_table():
    ss = SteadyState(dose=400, interval=24)
    table = Schedule(phases=(Phase(dose=400, interval=12, days=2),), steady_state=ss).lower()
    assert table.steady_state == ss
    assert table.steady_state.dose == 400.0 and table.steady_state.interval == 24.0
    assert Schedule(phases=(Phase(dose=400, days=2),)).lower().steady_state is None


def test_steady_state_refuses_bad_input():
    with pytest.raises(ScheduleError, match=r"^dose: dose must not be negative"):
        SteadyState(dose=-400)
    with pytest.raises(ScheduleError, match=r"^interval: must be a positive number \(got 0; expected > 0 h\)$"):
        SteadyState(dose=400, interval=0)
    with pytest.raises(ScheduleError, match=r"^dose: a steady-state start takes one amount"):
        SteadyState(dose=(400, 200), interval=12)


def test_lower_refuses_objects_of_the_wrong_type():
    with pytest.raises(ScheduleError, match=r"^phases\[0\]: must be a Phase"):
        Schedule(phases=((400, 28),)).lower()
    with pytest.raises(ScheduleError, match=r"^steady_state: must be a SteadyState"):
        Schedule(phases=(Phase(dose=400, days=2),), steady_state=400).lower()


def test_lower_is_repeatable():
    schedule = Schedule(phases=(Phase(dose=400, days=30),), holds=(Hold(start_day=5, days=3, restart=(LadderStep(200, 3),)),))
    a, b = schedule.lower(), schedule.lower()
    np.testing.assert_array_equal(a.given, b.given)
    np.testing.assert_array_equal(a.status, b.status)
