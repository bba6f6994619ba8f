"""Dosing policies (imapk.processes.policies), each on a case worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from imapk.errors import ImapkError
from imapk.processes import HoldLength, ToxicityProcess, Weibull, realise
from imapk.processes.policies import DoseCap, TroughEscalation, cap_doses, escalate
from imapk.schedule import HELD, LadderStep, Phase, Schedule

SCHEDULE = Schedule(phases=(Phase(dose=400, days=60),))
# An event at once (scale 1e-6 d): doses of days 2-4 held, then 200 mg on days 5-11, 300 mg on days 12-18,
# 400 mg from day 19.
AT_ONCE = ToxicityProcess(first=Weibull(1e-6), hold=HoldLength("fixed", 3),
                          restart=(LadderStep(200, 7), LadderStep(300, 7)))


def by_day(values: np.ndarray, first: int, last: int) -> list:
    return values[first - 1:last].tolist()


def test_the_hand_worked_ladder():
    d = realise(SCHEDULE, range(1), 1, toxicity=AT_ONCE)
    assert by_day(d.given[0], 1, 1) == [400.0] and by_day(d.given[0], 2, 4) == [0.0] * 3
    assert by_day(d.given[0], 5, 11) == [200.0] * 7 and by_day(d.given[0], 12, 18) == [300.0] * 7
    assert by_day(d.given[0], 19, 60) == [400.0] * 42


def test_escalation_changes_the_prescription_of_those_below_from_the_day_on():
    d = realise(SCHEDULE, range(3), 1, toxicity=AT_ONCE)
    policy = TroughEscalation(day=29, below=1100.0, dose=600.0)
    after, escalated = escalate(d, policy, np.array([900.0, 1200.0, np.nan]))
    assert escalated.tolist() == [True, False, False]  # NaN escalates no one
    assert by_day(after.given[0], 19, 28) == [400.0] * 10 and by_day(after.given[0], 29, 60) == [600.0] * 32
    assert by_day(after.planned[0], 29, 60) == [600.0] * 32
    np.testing.assert_array_equal(after.given[1:], d.given[1:])
    assert after.reasons[after.reason[0, 28]] == policy.label


def test_escalation_inside_a_ladder_keeps_the_steps_and_raises_the_prescription_after_them():
    d = realise(SCHEDULE, range(1), 1, toxicity=AT_ONCE)
    after, _ = escalate(d, TroughEscalation(day=8, below=1100.0, dose=600.0), np.array([500.0]))
    assert by_day(after.given[0], 5, 11) == [200.0] * 7 and by_day(after.given[0], 12, 18) == [300.0] * 7
    assert by_day(after.given[0], 19, 60) == [600.0] * 42


def test_escalation_keeps_held_doses_held():
    held = Schedule(phases=(Phase(dose=400, days=60),), missed_days=(40,))
    d = realise(held, range(1), None)
    after, _ = escalate(d, TroughEscalation(day=29, below=1100.0, dose=600.0), np.array([500.0]))
    assert after.given[0, 39] == 0.0 and after.status[0, 39] == d.status[0, 39]
    assert after.planned[0, 39] == 600.0 and after.given[0, 40] == 600.0


def test_a_cap_after_the_first_event_lowers_every_later_dose_above_it():
    d = realise(SCHEDULE, range(2), 1, toxicity=AT_ONCE)
    after, capped = cap_doses(d, DoseCap(events=1, dose=300.0))
    assert capped.tolist() == [True, True]
    assert by_day(after.given[0], 1, 1) == [400.0]  # before the event's hold
    assert by_day(after.given[0], 5, 11) == [200.0] * 7 and by_day(after.given[0], 12, 60) == [300.0] * 49
    assert np.all(after.status == d.status) and np.all(after.status[:, 1:4] == HELD)
    untouched, capped = cap_doses(d, DoseCap(events=2, dose=300.0))
    assert not capped.any() and np.array_equal(untouched.given, d.given)


@pytest.mark.parametrize("make, key", [
    (lambda: TroughEscalation(day=1, below=1100.0, dose=600.0), "policy.day"),
    (lambda: TroughEscalation(day=29, below=-1.0, dose=600.0), "policy.below"),
    (lambda: TroughEscalation(day=29, below=1100.0, dose=0.0), "policy.dose"),
    (lambda: DoseCap(events=0, dose=300.0), "policy.events"),
    (lambda: TroughEscalation(day=29, below=1100.0, dose=650.0), "policy.dose"),  # not made of 100/400 mg tablets
    (lambda: DoseCap(events=1, dose=250.0), "policy.dose"),
])
def test_bad_policies_are_refused_naming_the_key(make, key):
    with pytest.raises(ImapkError) as error:
        make()
    assert error.value.key == key


def test_a_day_without_a_dose_is_refused():
    d = realise(SCHEDULE, range(1), None)
    with pytest.raises(ImapkError) as error:
        escalate(d, TroughEscalation(day=90, below=1100.0, dose=600.0), np.array([500.0]))
    assert error.value.key == "policy.day"


# ---- step up only after a quiet spell (StepUpIfNoEvent), worked by hand ----
from dataclasses import replace  # noqa: E402

from imapk.processes.policies import StepUpIfNoEvent, apply_event_rules, delay_step_ups  # noqa: E402
from imapk.processes.toxicity import PatientEvents  # noqa: E402

# The case report's ladder written in the schedule: 200 mg days 1-14, 300 mg days 15-28, 400 mg from day 29.
LADDER = Schedule(phases=(Phase(dose=200, days=14), Phase(dose=300, days=14), Phase(dose=400, days=32)))


def with_events(schedule, *times):
    """One patient's doses of `schedule` with events at `times` [d from the first dose] managed without a hold."""
    d = realise(schedule, range(1), None)
    events = PatientEvents(tuple(times), tuple(int(np.ceil(t)) + 1 for t in times), (0,) * len(times), False)
    return replace(d, events=(events,))


def test_a_step_up_waits_until_the_last_event_is_days_old():
    """An event at 12.5 d (day 13): the step to 300 mg due on day 15 (dose time 14 d) waits while
    dose time - 12.5 < 7, i.e. through day 20 (19 d); day 21 takes 300 mg. The day-29 step (28 d,
    15.5 d after the event) is on time."""
    d = with_events(LADDER, 12.5)
    after, delayed = delay_step_ups(d, StepUpIfNoEvent(days=7))
    assert by_day(after.given[0], 1, 20) == [200.0] * 20 and by_day(after.given[0], 21, 28) == [300.0] * 8
    assert by_day(after.given[0], 29, 60) == [400.0] * 32
    assert delayed.tolist() == [6]  # days 15-20
    assert after.reasons[after.reason[0, 14]] == StepUpIfNoEvent(days=7).label
    assert after.reasons[after.reason[0, 20]] == after.reasons[d.reason[0, 20]]  # the phase again


def test_without_a_recent_event_nothing_changes():
    for d in (with_events(LADDER), with_events(LADDER, 40.0), with_events(LADDER, 2.0)):  # none; after; long before
        after, delayed = delay_step_ups(d, StepUpIfNoEvent(days=7))
        assert not delayed.any()
        for field in ("planned", "given", "status", "reason"):
            np.testing.assert_array_equal(getattr(after, field), getattr(d, field))


def test_a_restart_after_a_hold_is_not_a_step_up_but_its_ladder_is():
    """AT_ONCE: event at ~0 d, doses of days 2-4 held, 200 mg days 5-11, 300 mg days 12-18, 400 mg
    from day 19. Quiet spell 7 d: every dose of the ladder is 7 d or more after the event, no change.
    14 d: the 300 mg step (day 12, 11 d) waits through day 15 (14 d, still under 14 d after an event
    drawn a moment after 0); day 19's step (18 d) is on time."""
    d = realise(SCHEDULE, range(1), 1, toxicity=AT_ONCE)
    same, delayed = delay_step_ups(d, StepUpIfNoEvent(days=7))
    assert not delayed.any() and np.array_equal(same.given, d.given)
    after, delayed = delay_step_ups(d, StepUpIfNoEvent(days=14))
    assert 0.0 < d.events[0].time[0] < 1e-3
    assert by_day(after.given[0], 5, 15) == [200.0] * 11 and by_day(after.given[0], 16, 18) == [300.0] * 3
    assert by_day(after.given[0], 19, 60) == [400.0] * 42 and delayed.tolist() == [4]
    assert np.all(after.status == d.status)


def test_a_missed_step_up_dose_is_delayed_and_stays_missed():
    held = Schedule(phases=LADDER.phases, missed_days=(15,))
    d = replace(realise(held, range(1), None), events=with_events(LADDER, 12.5).events)
    after, delayed = delay_step_ups(d, StepUpIfNoEvent(days=7))
    assert after.given[0, 14] == 0.0 and after.planned[0, 14] == 200.0 and after.status[0, 14] == d.status[0, 14]
    assert by_day(after.given[0], 16, 20) == [200.0] * 5 and delayed.tolist() == [6]


def test_a_cap_outranks_an_escalation_and_a_delay_holds_an_escalation_back():
    """The fixed order: escalation, then delays, then caps. AT_ONCE with a cap of 300 mg after
    event 1 and an escalation to 600 mg on day 29: the capped patient stays at 300 mg."""
    d = apply_event_rules(realise(SCHEDULE, range(1), 1, toxicity=AT_ONCE), (DoseCap(events=1, dose=300.0),))
    escalated, _ = escalate(d, TroughEscalation(day=29, below=1100.0, dose=600.0), np.array([500.0]))
    assert escalated.given[0, 28] == 600.0  # escalate alone overrides the cap...
    after = apply_event_rules(escalated, (DoseCap(events=1, dose=300.0),))
    assert by_day(after.given[0], 12, 60) == [300.0] * 49  # ...which the rules after events restore
    # An event 3 d before the day-29 escalation: the step from 400 to 600 mg waits through day 31.
    d = with_events(Schedule(phases=(Phase(dose=400, days=60),)), 25.0)
    escalated, _ = escalate(d, TroughEscalation(day=29, below=1100.0, dose=600.0), np.array([500.0]))
    after = apply_event_rules(escalated, (StepUpIfNoEvent(days=7),))
    assert by_day(after.given[0], 26, 32) == [400.0] * 7 and by_day(after.given[0], 33, 60) == [600.0] * 28


def test_a_bad_quiet_spell_is_refused():
    for days in (0, 2.5, True):
        with pytest.raises(ImapkError) as error:
            StepUpIfNoEvent(days=days)
        assert error.value.key == "policy.days"


@pytest.mark.parametrize("within, taken", [(0, 1), (5, 1), (5, 3), (20, 7)])
def test_measurement_doses_equal_the_rule_checked_patient_by_patient(within, taken):
    """measurement_doses (cumulative counts over all patients) against the rule read literally: for
    each patient, each day from `day` to `day + within`, whether the `taken` doses before that day's
    first dose were all given; patients with many missed doses (p = 0.3) and twice-daily dosing."""
    from imapk.processes import IndependentMisses, realise
    from imapk.processes.policies import TroughEscalation, measurement_doses
    from imapk.schedule import GIVEN, Phase, Schedule

    schedule = Schedule(phases=(Phase(dose=200, days=40, interval=12),))
    doses = realise(schedule, range(300), 9, adherence=IndependentMisses(0.3))
    policy = TroughEscalation(day=20, below=1100.0, dose=600.0, assay=False, within=within, doses_taken=taken)
    day = doses.table.day
    expected = []
    for status in doses.status:
        found = -1
        for d in range(20, min(20 + within, int(day[-1])) + 1):
            j = int(np.flatnonzero(day == d)[0])
            if j >= taken and all(status[j - taken:j] == GIVEN):
                found = j
                break
        expected.append(found)
    got = measurement_doses(doses, policy)
    np.testing.assert_array_equal(got, expected)
    assert (got >= 0).any()


def test_escalate_at_minus_one_escalates_no_one_and_days_without_a_dose_are_skipped():
    """A patient not measured (at = -1) keeps its doses even with a finite value below the level; with
    48-hourly dosing the policy's odd day has no dose, and `within` finds the next day that has one."""
    from imapk.processes.policies import measurement_doses

    schedule = Schedule(phases=(Phase(dose=400, days=30, interval=48),))
    doses = realise(schedule, range(3), 1)
    policy = TroughEscalation(day=10, below=1100.0, dose=600.0, assay=False, within=2)
    at = measurement_doses(doses, policy)
    first_of_day_11 = int(np.flatnonzero(doses.table.day == 11)[0])
    np.testing.assert_array_equal(at, [first_of_day_11] * 3)
    after, escalated = escalate(doses, policy, np.array([500.0, 500.0, 500.0]), np.array([at[0], -1, at[2]]))
    np.testing.assert_array_equal(escalated, [True, False, True])
    assert np.all(after.given[1] == 400.0) and np.all(after.given[0, first_of_day_11:] == 600.0)
    assert np.all(after.given[0, :first_of_day_11] == 400.0)
    with pytest.raises(ImapkError) as caught:
        measurement_doses(doses, TroughEscalation(day=10, below=1100.0, dose=600.0, assay=False))
    assert caught.value.key == "policy.day"
