"""The fast realisation of random dosing (imapk.processes.realise) against the straightforward one.

The reference here builds each patient's doses the plain way: the patient's schedule with its drawn
holds (``realised_schedule(...).lower()``), the misses from the uniforms by the chain's recursion
u_j < p(state after dose j - 1) in floats, and the reason labels numbered in order of first
appearance (the prescription's, then each patient's in turn, reasons along the doses before the
prescribing labels, then ``"missed"``). Every comparison is exact (array_equal, no tolerance): the
fast path must give the same numbers, labels and codes bit for bit, not close ones.
"""

from __future__ import annotations

import numpy as np
import pytest

from imapk.errors import ImapkError
from imapk.processes import (
    AdherenceLevel,
    HoldLength,
    IndependentMisses,
    MarkovMisses,
    ToxicityProcess,
    Weibull,
    draw_events,
    missed_doses,
    realise,
    realised_schedule,
)
from imapk.processes.adherence import MISS_PURPOSE, START_PURPOSE, _chain_per_patient, stationary_adherence
from imapk.processes.realise import _grid, _single, _single_direct, realise_events, schedule_days
from imapk.processes.toxicity import PatientEvents
from imapk.schedule import GIVEN, HELD, MISSED, Hold, LadderStep, Phase, Schedule
from imapk.streams import below, purpose_key, to_uniforms, uniforms, words53

LADDER = (LadderStep(200, 7), LadderStep(300, 28))
SCHEDULES = {
    "daily": Schedule(phases=(Phase(dose=400, days=200),)),
    "daily then bid": Schedule(phases=(Phase(dose=400, days=60), Phase(dose=(400, 200), interval=12.0, days=140,
                                                                          label="bid"))),
    "q12h": Schedule(phases=(Phase(dose=(300, 200), interval=12.0, days=150),)),
    "planned hold": Schedule(phases=(Phase(dose=400, days=200),), holds=(Hold(start_day=1, days=1, restart=LADDER),)),
    "planned misses": Schedule(phases=(Phase(dose=400, days=200),), missed_days=(5, 6), missed_doses=(150,)),
}
TOXICITIES = {
    "none": None,
    "recurring, ladder, stopped at the 4th": ToxicityProcess(first=Weibull(40.0, 1.5), recurrence=Weibull(15.0),
                                                             hold=HoldLength("uniform", 2, 14), restart=LADDER,
                                                             discontinue_after=4),
    "once, cycling ladder": ToxicityProcess(label="hfs", first=Weibull(60.0), hold=HoldLength("fixed", 5),
                                            restart=(LadderStep((300, 100), 10),)),
    "no ladder": ToxicityProcess(first=Weibull(50.0), recurrence=Weibull(30.0), hold=HoldLength("uniform", 1, 5)),
    "steroids": ToxicityProcess(first=Weibull(40.0), recurrence=Weibull(20.0), management="steroids",
                                discontinue_after=3),
}
ADHERENCES = {
    "none": None,
    "markov": MarkovMisses(0.9, 0.5),
    "markov, stationary, levels": MarkovMisses(0.8, 0.3, start="stationary", level=AdherenceLevel(0.85, 0.12)),
    "independent": IndependentMisses(0.1),
    "independent, levels": IndependentMisses(level=AdherenceLevel(0.9, 0.05)),
}


def reference_misses(model, seed, subjects, n_doses) -> np.ndarray:
    """Misses the plain way: uniforms in floats, the chain one dose at a time."""
    u = uniforms(seed, MISS_PURPOSE, subjects, n_doses)
    levels = None if model.level is None else model.level.draw(seed, subjects)
    if isinstance(model, IndependentMisses):
        return u < (model.p_missed if levels is None else (1.0 - levels)[:, None])
    if levels is None:
        p11, p01 = np.full(len(u), model.p_remain_adherent), np.full(len(u), model.p_become_adherent)
    else:
        p11, p01 = _chain_per_patient(model, levels)
    if model.start == "adherent":
        taken = np.ones(len(u), dtype=bool)
    else:
        taken = uniforms(seed, START_PURPOSE, subjects, 1)[:, 0] < stationary_adherence(p11, p01)
    missed = np.empty(u.shape, dtype=bool)
    missed[:, 0] = ~taken
    for j in range(1, n_doses):  # every patient's chain one dose at a time
        taken = u[:, j] < np.where(taken, p11, p01)
        missed[:, j] = ~taken
    return missed


def reference_realise(schedule, subjects, seed, toxicity, adherence, events=None):
    """(planned, given, status, reason labels, prescribing labels, labels in order of first appearance), or
    the problem of the first patient whose schedule lowering refuses."""
    base = schedule.lower()
    days = schedule_days(base)
    if events is None:
        events = draw_events(toxicity, seed, subjects, days) if toxicity is not None else [None] * len(subjects)
    order: dict[str, None] = {}

    def reasons_of(table):
        return ["missed" if s == MISSED else table.hold_labels[h] if s == HELD and h >= 0 else str(p)
                for s, h, p in zip(table.status, table.hold, table.phase)]

    order.update(dict.fromkeys(reasons_of(base)))
    order.update(dict.fromkeys(map(str, base.phase)))
    rows = []
    for subject, patient in zip(subjects, events):
        try:
            table = base if patient is None or not patient.time else realised_schedule(schedule, toxicity, patient,
                                                                                       days).lower()
        except ImapkError as error:
            return f"a {toxicity.label} hold drawn for patient {subject} conflicts with the schedule: {error.problem}"
        if table is not base:
            order.update(dict.fromkeys(reasons_of(table)))
            order.update(dict.fromkeys(map(str, table.phase)))
        rows.append((table.planned, table.given.copy(), table.status.copy(), reasons_of(table), list(map(str, table.phase))))
    planned = np.array([r[0] for r in rows])
    given, status = np.array([r[1] for r in rows]), np.array([r[2] for r in rows])
    reason = np.array([r[3] for r in rows], dtype=object)
    prescribed = np.array([r[4] for r in rows], dtype=object)
    if adherence is not None:
        missed = reference_misses(adherence, seed, subjects, base.time.size) & (status == GIVEN)
        given[missed], status[missed], reason[missed] = 0.0, MISSED, "missed"
        order["missed"] = None
    return planned, given, status, reason, prescribed, tuple(order)


@pytest.mark.parametrize("adherence", ADHERENCES.values(), ids=ADHERENCES.keys())
@pytest.mark.parametrize("toxicity", TOXICITIES.values(), ids=TOXICITIES.keys())
@pytest.mark.parametrize("schedule", SCHEDULES.values(), ids=SCHEDULES.keys())
def test_realise_equals_each_patients_own_lowering(schedule, toxicity, adherence):
    subjects = np.array([*range(120), 500, 3, 77_777])  # a run, then patients out of order
    seed = 11
    reference = reference_realise(schedule, subjects, seed, toxicity, adherence)
    if isinstance(reference, str):  # a drawn hold in the way of a planned one or a planned miss
        with pytest.raises(ImapkError) as error:
            realise(schedule, subjects, seed, toxicity=toxicity, adherence=adherence)
        assert error.value.problem == reference and error.value.key == "toxicity[0]"
        return
    fast = realise(schedule, subjects, seed, toxicity=toxicity, adherence=adherence)
    planned, given, status, reason, prescribed, order = reference
    assert fast.reasons == order
    for name, ours, theirs in (("planned", fast.planned, planned), ("given", fast.given, given),
                               ("status", fast.status, status)):
        np.testing.assert_array_equal(ours, theirs, err_msg=name)
    assert fast.planned.dtype == np.float64 and fast.given.dtype == np.float64 and fast.status.dtype == np.int8
    assert fast.reason.dtype == np.int32 and fast.prescribed.dtype == np.int32
    labels = np.array(fast.reasons, dtype=object)
    np.testing.assert_array_equal(labels[fast.reason], reason)
    np.testing.assert_array_equal(labels[fast.prescribed], prescribed)
    if toxicity is not None and toxicity.management == "hold":
        assert (fast.status == HELD).any()


def test_a_ladder_step_first_seen_after_the_same_hold_without_it():
    """Two patients with the same first hold (days 10-11): the first's second hold (day 13) ends inside
    step 1 of its ladder, which it cuts; the second's ladder runs to step 2, whose label is numbered
    there, last."""
    schedule = Schedule(phases=(Phase(dose=400, days=60),))
    process = ToxicityProcess(first=Weibull(10.0), recurrence=Weibull(5.0), hold=HoldLength("fixed", 2),
                              restart=(LadderStep(200, 3), LadderStep(300, 5)))
    events = [PatientEvents((8.5, 11.5), (10, 13), (2, 1), False), PatientEvents((8.5,), (10,), (2,), False),
              PatientEvents((), (), (), False)]
    subjects = np.arange(3)
    fast = realise_events(schedule, subjects, 1, toxicity=process, adherence=None, events=events)
    planned, given, status, reason, prescribed, order = reference_realise(schedule, subjects, 1, process, None, events)
    assert fast.reasons == order
    assert order.index("rash hold 1: restart step 2 (300 mg)") > order.index("rash hold 2: restart step 2 (300 mg)")
    np.testing.assert_array_equal(fast.planned, planned)
    np.testing.assert_array_equal(fast.given, given)
    np.testing.assert_array_equal(np.array(fast.reasons, dtype=object)[fast.reason], reason)
    np.testing.assert_array_equal(np.array(fast.reasons, dtype=object)[fast.prescribed], prescribed)


def test_patients_sharing_a_hold_whose_ladders_end_at_different_holds():
    """Early events, short fixed holds and quick recurrences: many patients share their first hold
    and differ in where the next hold cuts its ladder, so a ladder step's label first appears in a
    patient after others who had the same hold without it."""
    schedule = Schedule(phases=(Phase(dose=400, days=120),))
    process = ToxicityProcess(first=Weibull(6.0, 4.0), recurrence=Weibull(12.0, 2.0), hold=HoldLength("fixed", 2),
                              restart=(LadderStep(200, 5), LadderStep(300, 5), LadderStep(350, 10)))
    subjects = np.arange(1500)
    fast = realise(schedule, subjects, 3, toxicity=process)
    planned, given, status, reason, prescribed, order = reference_realise(schedule, subjects, 3, process, None)
    assert fast.reasons == order
    np.testing.assert_array_equal(fast.planned, planned)
    np.testing.assert_array_equal(np.array(fast.reasons, dtype=object)[fast.reason], reason)
    np.testing.assert_array_equal(np.array(fast.reasons, dtype=object)[fast.prescribed], prescribed)


def test_the_bench_case_has_holds_interrupting_ladders_and_new_labels_late():
    """The order of labels depends on which patient first shows each: here a ladder step of the first
    hold appears (under a later hold's held doses, or after it) only after other holds' labels."""
    schedule = Schedule(phases=(Phase(dose=400, days=365),))
    rash = ToxicityProcess(first=Weibull.from_probability(0.2, 365.0, shape=1.5), recurrence=Weibull(120.0),
                           hold=HoldLength("uniform", 7, 14), restart=(LadderStep(200, 14), LadderStep(300, 28)),
                           discontinue_after=4)
    subjects = np.arange(3000)
    fast = realise(schedule, subjects, 20260401, toxicity=rash, adherence=MarkovMisses(0.9, 0.5))
    planned, given, status, reason, prescribed, order = reference_realise(schedule, subjects, 20260401, rash,
                                                                          MarkovMisses(0.9, 0.5))
    assert fast.reasons == order
    np.testing.assert_array_equal(fast.given, given)
    np.testing.assert_array_equal(np.array(fast.reasons, dtype=object)[fast.reason], reason)
    np.testing.assert_array_equal(np.array(fast.reasons, dtype=object)[fast.prescribed], prescribed)


@pytest.mark.parametrize("schedule", [s for s in SCHEDULES.values() if not (s.holds or s.missed_days or s.missed_doses)],
                         ids=lambda s: s.phases[-1].label)
def test_one_hold_found_directly_equals_its_lowering(schedule):
    """Every start day and length of one hold, with and without a ladder: the window and the ladder
    found without lowering equal those of ``Schedule.lower`` with that hold (exactly)."""
    base = schedule.lower()
    grid, days = _grid(schedule, base), schedule_days(base)
    ladders = (LADDER, (LadderStep((300, 100), 3),), ())
    checked, memo = 0, {}
    for start in range(1, days + 1, 3):
        for length in (1, 2, 7, 30):
            length = min(length, days - start + 1)
            for restart in ladders:
                direct = _single_direct(grid, start, length, restart, memo)
                lowered = _single(schedule, base, start, length, restart, {})
                assert direct is not None
                assert direct[:3] == lowered[:3] and direct[4] == lowered[4]
                np.testing.assert_array_equal(direct[3], lowered[3])
                checked += 1
    assert checked > 500


def test_a_ladder_lowering_refuses_is_refused_naming_the_first_patient():
    """A ladder step of 1.5 days on daily doses: lowering refuses it; realise names the first patient
    with a hold and gives the lowering's own problem."""
    schedule = Schedule(phases=(Phase(dose=400, days=120),))
    process = ToxicityProcess(first=Weibull(30.0), hold=HoldLength("fixed", 3), restart=(LadderStep(200, 1.5),))
    events = draw_events(process, 5, range(50), 120)
    first = next(i for i, e in enumerate(events) if e.time)
    with pytest.raises(ImapkError) as lowering:
        realised_schedule(schedule, process, events[first], 120).lower()
    with pytest.raises(ImapkError) as error:
        realise(schedule, range(50), 5, toxicity=process)
    assert error.value.key == "toxicity[0]"
    assert error.value.problem == (f"a rash hold drawn for patient {first} conflicts with the schedule: "
                                   f"{lowering.value.problem}")


def test_uniforms_are_the_top_53_bits_of_philox_words_plus_a_half():
    """Rebuilt from numpy's Philox directly: (w >> 11 + 0.5) 2^-53, subject i's words at counter i x block."""
    key = purpose_key(3, "some purpose")
    raw = np.random.Philox(key=key, counter=10 * 2).random_raw(5 * 8).reshape(5, 8)[:, :7]
    expected = ((raw >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
    np.testing.assert_array_equal(uniforms(3, "some purpose", range(10, 15), 7), expected)
    np.testing.assert_array_equal(uniforms(3, "some purpose", [14, 10, 12], 7), expected[[4, 0, 2]])
    np.testing.assert_array_equal(to_uniforms(words53(3, "some purpose", range(10, 15), 7)), expected)


def test_an_integer_threshold_decides_u_below_p_exactly_at_the_edges():
    """w < below(p) against to_uniforms(w) < p for the words around every threshold, for p at, just
    above and just below the uniforms of edge words (0, 2^52 where rounding starts, 2^53 - 1 whose
    uniform rounds to 1.0), and for p of 0, 1, > 1, tiny, NaN and infinities: exact agreement."""
    edges = np.array([0, 1, 2, 3, 2**52 - 2, 2**52 - 1, 2**52, 2**52 + 1, 2**52 + 2, 2**53 - 3, 2**53 - 2, 2**53 - 1,
                      123_456_789_012_345], dtype=np.uint64)
    u = to_uniforms(edges)
    assert u[-2] == 1.0  # the largest word's uniform rounds to exactly 1
    p = np.concatenate([u, np.nextafter(u, 2.0), np.nextafter(u, -1.0),
                        [0.0, 1.0, 1.5, 2.0**-54, 2.0**-53, 1e-300, 0.1, 0.5, 0.9, np.nan, np.inf, -np.inf, -0.5]])
    limits = below(p)
    assert limits.dtype == np.uint64 and limits.shape == p.shape
    for probability, limit in zip(p, limits):
        around = np.array([w for w in range(int(limit) - 3, int(limit) + 4) if 0 <= w < 2**53], dtype=np.uint64)
        np.testing.assert_array_equal(to_uniforms(around) < probability, around < limit, err_msg=str(probability))
    words = np.concatenate([edges, words53(1, "x", range(200), 50).ravel()])
    np.testing.assert_array_equal(to_uniforms(words)[:, None] < p, words[:, None] < limits)


@pytest.mark.parametrize("model", [MarkovMisses(0.9, 0.5), MarkovMisses(0.7, 0.2, start="stationary",
                                                                          level=AdherenceLevel(0.8, 0.15)),
                                   MarkovMisses(1.0, 1.0), MarkovMisses(0.0, 0.3), IndependentMisses(0.3),
                                   IndependentMisses(1.0), IndependentMisses(level=AdherenceLevel(0.9, 0.05))],
                         ids=["markov", "stationary levels", "always", "never remain", "independent", "all",
                              "independent levels"])
def test_misses_equal_the_plain_recursion_on_floats(model):
    """Blocks of patients, integer thresholds, the numpy loop over doses: the plain recursion's misses."""
    subjects = np.concatenate([np.arange(3100), [9, 5]])  # more than one block of words (1 << 20 / 365 patients)
    np.testing.assert_array_equal(missed_doses(model, 4, subjects, 365), reference_misses(model, 4, subjects, 365))


def test_the_compiled_chain_equals_the_numpy_loop():
    """The Markov chain compiled, as plain Python and as the numpy loop over doses, against the
    plain recursion."""
    from imapk.processes import _adherence_kernels
    from imapk.processes.adherence import _chain

    model = MarkovMisses(0.8, 0.4, level=AdherenceLevel(0.85, 0.1))
    subjects = np.arange(400)
    expected = reference_misses(model, 6, subjects, 60)
    p11, p01 = _chain_per_patient(model, model.level.draw(6, subjects))
    words = words53(6, MISS_PURPOSE, subjects, 60)
    kernels = [_adherence_kernels.markov_missed, _adherence_kernels.markov_missed.py_func,
               lambda *arrays: _chain(*arrays, compiled=False), lambda *arrays: _chain(*arrays, compiled=True)]
    for kernel in kernels:
        missed = np.empty((400, 60), dtype=bool)
        kernel(words, below(p11), below(p01), np.ones(400, dtype=bool), missed)
        np.testing.assert_array_equal(missed, expected)
