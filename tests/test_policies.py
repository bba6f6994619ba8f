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
