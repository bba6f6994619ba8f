"""Toxicity-driven interruptions (imapk.processes.toxicity) against the hazards they are drawn from.

Distribution checks use the Kolmogorov-Smirnov test (scipy) at a 0.1 % level, proportions within 4
binomial standard errors; the seeds are fixed, so the tests are deterministic, and a correct sampler
would fail them for about 1 seed in 1000.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from imapk.errors import ImapkError
from imapk.processes.toxicity import HoldLength, ToxicityProcess, Weibull, draw_events, realised_schedule
from imapk.schedule import GIVEN, HELD, LadderStep, Phase, Schedule

SEED = 20160101
LADDER = (LadderStep(200, 7), LadderStep(300, 56))


def test_first_events_follow_the_weibull_hazard():
    hazard = Weibull(scale=60.0, shape=1.7)
    process = ToxicityProcess(first=hazard)
    events = draw_events(process, SEED, range(4000), 10**6)  # a schedule long enough to see every event
    times = np.array([e.time[0] for e in events])
    assert stats.kstest(times, stats.weibull_min(c=1.7, scale=60.0).cdf).pvalue > 1e-3


def test_a_probability_by_a_day_gives_that_fraction_of_patients():
    """Park 2016: 6.8 % of GIST patients had severe rash; read as a 1-year probability (an assumption), shape 1."""
    hazard = Weibull.from_probability(0.068, by_days=365.0)
    assert hazard.cumulative(365.0) == pytest.approx(-math.log(1 - 0.068), rel=1e-14)
    events = draw_events(ToxicityProcess(first=hazard), SEED, range(20000), 365)
    fraction = np.mean([len(e.time) > 0 for e in events])
    assert abs(fraction - 0.068) < 4 * math.sqrt(0.068 * 0.932 / 20000)


def test_hold_lengths_are_uniform_over_the_whole_days():
    process = ToxicityProcess(first=Weibull(10.0), hold=HoldLength("uniform", 3, 14))
    events = draw_events(process, SEED, range(12000), 10**6)
    days = np.array([e.hold_days[0] for e in events])
    counts = np.bincount(days, minlength=15)[3:15]
    assert days.min() == 3 and days.max() == 14
    assert stats.chisquare(counts).pvalue > 1e-3


def test_recurrences_follow_their_hazard_from_the_restart():
    process = ToxicityProcess(first=Weibull(20.0), recurrence=Weibull(50.0, 0.8), hold=HoldLength("fixed", 7),
                              restart=LADDER, discontinue_after=2)
    events = draw_events(process, SEED, range(4000), 10**6)
    # restart = first dose after the hold: the hold starts on day ceil(T1) + 1, i.e. at ceil(T1) days, for 7 d
    gaps = np.array([e.time[1] - (math.ceil(e.time[0]) + 7) for e in events])
    assert np.all(gaps > 0)
    assert stats.kstest(gaps, stats.weibull_min(c=0.8, scale=50.0).cdf).pvalue > 1e-3


def test_discontinuation_stops_therapy_at_the_nth_event():
    process = ToxicityProcess(first=Weibull(20.0), recurrence=Weibull(20.0), hold=HoldLength("fixed", 5),
                              restart=LADDER, discontinue_after=3)
    base = Schedule(phases=(Phase(dose=400, days=200),))
    events = draw_events(process, SEED, range(300), 200)
    stopped = [e for e in events if e.discontinued]
    assert stopped and all(len(e.time) == 3 for e in stopped)
    assert all(len(e.time) < 3 for e in events if not e.discontinued)
    for e in stopped[:20]:
        table = realised_schedule(base, process, e, 200).lower()
        first_stopped = e.hold_start_day[-1] - 1
        assert np.all(table.status[first_stopped:] == HELD) and np.all(table.given[first_stopped:] == 0.0)
        assert table.status[first_stopped - 1] == GIVEN


def test_a_hold_starts_with_the_first_dose_after_the_event_and_the_ladder_follows():
    process = ToxicityProcess(first=Weibull(30.0, 2.0), hold=HoldLength("fixed", 14), restart=LADDER)
    base = Schedule(phases=(Phase(dose=400, days=180),))
    for e in draw_events(process, SEED, range(50), 180):
        if not e.time:
            continue
        table = realised_schedule(base, process, e, 180).lower()
        dose_times_days = table.time / 24.0
        first_held = int(np.flatnonzero(table.status == HELD)[0])
        assert dose_times_days[first_held] >= e.time[0] > dose_times_days[first_held - 1] if first_held else True
        held = table.status == HELD
        assert held.sum() == min(14, 180 - first_held)
        after = first_held + 14
        if after + 63 < 180:
            assert table.given[after:after + 7].tolist() == [200.0] * 7
            assert table.given[after + 7:after + 63].tolist() == [300.0] * 56
            assert table.given[after + 63] == 400.0


def test_steroid_management_records_events_without_interrupting():
    process = ToxicityProcess(first=Weibull(30.0), recurrence=Weibull(30.0), management="steroids",
                              discontinue_after=4)
    events = draw_events(process, SEED, range(200), 365)
    assert any(len(e.time) >= 2 for e in events)
    base = Schedule(phases=(Phase(dose=400, days=365),))
    for e in events:
        if e.discontinued:
            continue
        assert all(d == 0 for d in e.hold_days)
        np.testing.assert_array_equal(realised_schedule(base, process, e, 365).lower().given, base.lower().given)
        # the recurrence clock restarts at each event: the times increase
        assert all(b > a for a, b in zip(e.time, e.time[1:]))


def test_draws_are_common_to_policies_and_independent_of_who_else_is_drawn():
    """Two policies (short holds and direct restart vs long holds and the ladder): the first event
    of each patient falls at the same time; a subset of patients draws the same events."""
    hazard = Weibull(40.0, 1.3)
    short = ToxicityProcess(first=hazard, recurrence=Weibull(60.0), hold=HoldLength("fixed", 3))
    long = ToxicityProcess(first=hazard, recurrence=Weibull(60.0), hold=HoldLength("fixed", 14), restart=LADDER)
    a, b = draw_events(short, SEED, range(100), 365), draw_events(long, SEED, range(100), 365)
    assert [e.time[:1] for e in a] == [e.time[:1] for e in b]
    assert draw_events(long, SEED, range(40, 60), 365) == b[40:60]


@pytest.mark.parametrize("make, key", [
    (lambda: Weibull(0.0), "hazard.scale"),
    (lambda: Weibull(10.0, -1.0), "hazard.shape"),
    (lambda: Weibull.from_probability(1.2, 365), "hazard.probability"),
    (lambda: HoldLength("normal"), "hold.distribution"),
    (lambda: HoldLength("uniform", 5, 3), "hold.high"),
    (lambda: HoldLength("fixed", 0), "hold.low"),
    (lambda: ToxicityProcess(management="reduce"), "toxicity.management"),
    (lambda: ToxicityProcess(discontinue_after=0), "toxicity.discontinue_after"),
])
def test_bad_parameters_are_refused_naming_the_key(make, key):
    with pytest.raises(ImapkError) as error:
        make()
    assert error.value.key == key
