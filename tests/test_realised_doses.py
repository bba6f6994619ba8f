"""Each patient's realised doses (imapk.processes.realise): the schedule, the toxicity holds, the misses,
and the engine on the result against each patient simulated alone."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from imapk.engine.exact import run_exact
from imapk.errors import ImapkError
from imapk.params import ParameterTable
from imapk.processes import HoldLength, MarkovMisses, ToxicityProcess, Weibull, draw_events, realise, realised_schedule
from imapk.schedule import GIVEN, HELD, MISSED, Hold, LadderStep, Phase, Schedule

SEED = 7
LADDER = (LadderStep(200, 7), LadderStep(300, 28))
RASH = ToxicityProcess(first=Weibull(40.0, 1.5), recurrence=Weibull(40.0), hold=HoldLength("uniform", 3, 14),
                       restart=LADDER, discontinue_after=3)
SCHEDULE = Schedule(phases=(Phase(dose=400, days=120),))


def test_without_processes_every_patient_has_the_schedule():
    schedule = Schedule(phases=(Phase(dose=400, days=60),), holds=(Hold(start_day=20, days=5, restart=LADDER),),
                        missed_days=(50,))
    doses = realise(schedule, range(4), None)
    table = schedule.lower()
    for i in range(4):
        np.testing.assert_array_equal(doses.given[i], table.given)
        np.testing.assert_array_equal(doses.status[i], table.status)
    labels = doses.reason_labels(0)
    assert labels[19] == "hold" and labels[24] == "hold: restart step 1 (200 mg)"
    assert labels[49] == "missed" and labels[0] == table.phase[0]


def test_toxicity_holds_are_each_patients_own_schedule():
    n = 60
    doses = realise(SCHEDULE, range(n), SEED, toxicity=RASH)
    events = draw_events(RASH, SEED, range(n), 120)
    assert sum(bool(e.time) for e in events) > 10
    for i, patient in enumerate(events):
        own = realised_schedule(SCHEDULE, RASH, patient, 120).lower()
        np.testing.assert_array_equal(doses.given[i], own.given)
        np.testing.assert_array_equal(doses.planned[i], own.planned)
        np.testing.assert_array_equal(doses.status[i], own.status)
        held = [doses.reasons[r] for r in doses.reason[i][own.status == HELD]]
        assert all(label.startswith("rash ") for label in held)


def test_misses_fall_only_on_doses_still_given():
    n = 200
    doses = realise(SCHEDULE, range(n), SEED, toxicity=RASH, adherence=MarkovMisses(0.9, 0.5, start="stationary"))
    only_holds = realise(SCHEDULE, range(n), SEED, toxicity=RASH)
    missed = doses.status == MISSED
    assert missed.any()
    assert np.all(only_holds.status[missed] == GIVEN)  # a held dose is never "missed"
    np.testing.assert_array_equal(doses.status[~missed], only_holds.status[~missed])
    assert np.all(doses.given[missed] == 0.0)
    assert {doses.reasons[r] for r in doses.reason[missed]} == {"missed"}


def test_the_engine_simulates_each_patients_own_doses():
    n = 12
    doses = realise(SCHEDULE, range(n), SEED, toxicity=RASH, adherence=MarkovMisses(0.9, 0.5))
    rng = np.random.default_rng(1)
    values = {"cl": 14.3 * np.exp(0.3 * rng.standard_normal(n)), "v": np.full(n, 347.0), "ka": np.full(n, 0.609),
              "d1": None, "f": np.ones(n), "tlag": np.zeros(n)}
    together = run_exact(doses.engine_table(), ParameterTable(values=values))
    for i in range(n):
        alone = run_exact(replace(doses.table, given=doses.given[i]),
                          ParameterTable(values={k: None if v is None else v[i:i + 1] for k, v in values.items()}))
        np.testing.assert_array_equal(together.trough[i], alone.trough[0])


def test_a_patient_is_the_same_whoever_else_is_realised():
    everyone = realise(SCHEDULE, range(50), SEED, toxicity=RASH, adherence=MarkovMisses(0.9, 0.5))
    some = realise(SCHEDULE, range(30, 40), SEED, toxicity=RASH, adherence=MarkovMisses(0.9, 0.5))
    np.testing.assert_array_equal(some.given, everyone.given[30:40])
    assert some.reason_labels(3) == everyone.reason_labels(33)


def test_a_process_without_a_seed_is_refused():
    with pytest.raises(ImapkError) as error:
        realise(SCHEDULE, range(3), None, adherence=MarkovMisses(0.9, 0.5))
    assert error.value.key == "scenario.seed"


def test_a_drawn_hold_inside_a_planned_one_holds_nothing_more():
    schedule = Schedule(phases=(Phase(dose=400, days=120),), holds=(Hold(start_day=2, days=110),))
    early = ToxicityProcess(first=Weibull(1.0, 1.0), hold=HoldLength("fixed", 5))
    doses = realise(schedule, range(20), SEED, toxicity=early)
    inside = [i for i, e in enumerate(doses.events) if e.time and e.hold_start_day[0] >= 2]
    assert inside and np.array_equal(doses.status[inside], np.repeat(schedule.lower().status[None], len(inside), 0))


def test_a_drawn_hold_that_cannot_follow_a_planned_one_is_named():
    """A planned hold of 3 doses every 12 h ends within a day: the drawn hold's part after it would start
    between two doses of a day, which a hold cannot."""
    schedule = Schedule(phases=(Phase(dose=200, days=40, interval=12.0),), holds=(Hold(start_day=3, doses=3),))
    early = ToxicityProcess(first=Weibull(1.5, 1.0), hold=HoldLength("fixed", 5))
    with pytest.raises(ImapkError) as error:
        realise(schedule, range(40), SEED, toxicity=early)
    assert "conflicts with the schedule" in error.value.problem and error.value.key == "toxicity[0]"
    assert "between two doses of day 4" in error.value.problem


@pytest.mark.parametrize("schedule", [
    Schedule(phases=(Phase(dose=400, days=200),)),
    Schedule(phases=(Phase(dose=400, days=60), Phase(dose=600, days=140, label="escalated"))),
    Schedule(phases=(Phase(dose=400, days=50), Phase(dose=300, days=150, interval=12.0))),
], ids=["one phase", "two doses", "daily then twice daily"])
def test_holds_laid_on_every_patient_at_once_equal_the_full_lowering(schedule):
    """Each patient's holds laid on the prescription for all patients at once (realise_events, from
    lowerings of one hold each) against the whole schedule with its holds lowered, patient by patient:
    equal, array for array, and the same reason labels. Short recurrence clocks and a long ladder make
    later holds interrupt earlier ladders."""
    from imapk.processes.realise import realise_events

    process = ToxicityProcess(first=Weibull(30.0), recurrence=Weibull(15.0), hold=HoldLength("uniform", 2, 9),
                              restart=(LadderStep(200, 10), LadderStep(300, 20)), discontinue_after=5)
    days = 200
    events = draw_events(process, SEED, range(400), days)
    assert sum(len(e.time) >= 3 for e in events) > 50 and any(e.discontinued for e in events)
    fast = realise_events(schedule, range(400), SEED, toxicity=process, adherence=None, events=events)
    interrupted = 0
    for i, patient in enumerate(events):
        if not patient.time:
            continue
        full = realised_schedule(schedule, process, patient, days).lower()
        for name in ("planned", "given", "status"):
            np.testing.assert_array_equal(getattr(fast, name)[i], getattr(full, name), err_msg=name)
        held = full.status == HELD
        labels = [full.hold_labels[h] if x else str(p) for x, h, p in zip(held, full.hold, full.phase)]
        assert fast.reason_labels(i) == labels
        interrupted += any(b - a < 30 for a, b in zip(patient.hold_start_day, patient.hold_start_day[1:]))
    assert interrupted > 20


def test_realised_doses_are_read_only_and_kept_by_the_result_without_a_copy():
    from imapk import simulate

    doses = realise(SCHEDULE, range(3), SEED, toxicity=RASH, adherence=MarkovMisses(0.9, 0.5))
    for name in ("planned", "given", "status", "reason", "prescribed"):
        with pytest.raises(ValueError, match="read-only"):
            getattr(doses, name)[0, 0] = 1
    result = simulate(doses, "widmer2006", as_dataset=False)
    assert np.shares_memory(result["subject_dose_planned"].values, doses.planned)
    assert np.shares_memory(result["subject_dose_status"].values, doses.status)
    # A record made from the doses (as the policies make theirs) owns new arrays, read-only too.
    edited = doses.given.copy()
    edited[0, 0] = 0.0
    changed = replace(doses, given=edited)
    assert changed.given[0, 0] == 0.0 and doses.given[0, 0] != 0.0 and not changed.given.flags.writeable


def test_rows_filled_on_threads_equal_one_fill(monkeypatch):
    import threading

    import importlib

    module = importlib.import_module("imapk.processes.realise")

    monkeypatch.setattr(module, "_THREADED_FILL", 10)  # threads for anything above 10 elements
    values = np.arange(7, dtype=np.int32)
    expected = np.tile(values, (1001, 1))
    np.testing.assert_array_equal(module._rows(values, 1001), expected)
    got = []  # off the main thread (a dask worker's): one fill, the same rows
    worker = threading.Thread(target=lambda: got.append(module._rows(values, 1001)))
    worker.start()
    worker.join()
    np.testing.assert_array_equal(got[0], expected)
