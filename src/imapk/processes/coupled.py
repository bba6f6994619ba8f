"""Toxicity events whose hazard rises with exposure: the events and the troughs, realised together.

With an :class:`~imapk.processes.toxicity.ExposureEffect` (a step at a trough level) or an
:class:`~imapk.processes.toxicity.ExposurePower` ((C / reference)^gamma) the hazard over the dosing
interval [t_j, t_{j+1}) is multiplied by m_j, which the patient's trough C(t_j-) decides (equation
(3) of :mod:`imapk.processes.toxicity`). The troughs depend on the holds the earlier events caused, and
the events on the troughs, so the two are realised in turn, for every patient at once:

1. realise each patient's doses with the events found so far (holds, ladders, then the misses);
2. simulate them (the `troughs` callback: :mod:`imapk.processes` does not import the engine);
3. from each patient's clock start s_k, integrate the cumulative hazard interval by interval,

       H(T) = X_j + H0(T - s_k) - H0(a_j - s_k) + (m_j - 1) [H0(T - s_k) - H0(a_j - s_k)],  (4)

   with a_j = max(t_j, s_k), X_j = sum over the intervals i < j of m_i [H0(t_{i+1} - s_k) - H0(a_i - s_k)]
   minus the plain H0 over them, i.e. the hazard in excess of H0 accumulated before interval j,
   and find the first interval where H reaches E_k; inside it (4) is inverted exactly:

       H0(T - s_k) = (E_k - X_j + (m_j - 1) H0(a_j - s_k)) / m_j;                                 (5)

4. record the event and its hold exactly as :func:`~imapk.processes.toxicity.draw_events` does
   (an event under steroid management changes no dose, so the search goes on with the same
   troughs, unless rules that follow events are in force); patients whose doses changed go back
   to 1., the others are done.

The troughs up to an event do not depend on its hold (the hold starts on the clinical day after
the event's, so after the event, and C(t_j-) is the level before dose j), so the events found are those of the hazard (3) on
the patient's final doses: exact, not an iteration to convergence. A patient with K events costs
K + 1 simulations of that patient; a population costs as many engine runs as its largest number of
hold-causing events, plus one.

While every multiplier is 1 the excess X_j is exactly 0 and (5) gives H0(T - s_k) = E_k, so the
event times are those of :func:`~imapk.processes.toxicity.draw_events` to the bit. The draws U_k
(events) and V_k (hold lengths) are the same as there: common random numbers across policies.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import ImapkError
from ..schedule import Schedule
from .adherence import IndependentMisses, MarkovMisses, missed_doses
from .realise import RealisedDoses, realise, realise_events, schedule_days
from .toxicity import PatientEvents, ToxicityProcess, Weibull, event_draws

__all__ = ["realise_coupled", "first_crossing"]

#: Patients searched at once (bounds the (patients, doses) work arrays: 4096 x 366 doubles = 12 MB).
CHUNK = 4096


def first_crossing(hazard: Weibull, bounds_days: np.ndarray, clock: np.ndarray, draw: np.ndarray,
                   multiplier: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each patient's cumulative hazard (4) first reaches its draw, by (5).

    Parameters
    ----------
    hazard
        The baseline hazard H0 (its clock starting at `clock`).
    bounds_days
        The scheduled dose times and the schedule's end, t_0 < ... < t_n. [d]
    clock
        Each patient's clock start s_k. [d]
    draw
        Each patient's unit exponential E_k.
    multiplier
        m_j per patient and interval, shape (patients, n).

    Returns
    -------
    found, time
        Whether H reaches E_k by t_n, and the event time T [d] (meaningless where not found).
    """
    clock = np.asarray(clock, dtype=float)
    draw = np.asarray(draw, dtype=float)
    p = clock.size
    found = np.zeros(p, dtype=bool)
    time = np.full(p, np.inf)
    for lo in range(0, p, CHUNK):
        hi = min(lo + CHUNK, p)
        s, e, m = clock[lo:hi], draw[lo:hi], multiplier[lo:hi]
        h0 = hazard.cumulative(bounds_days[None, :] - s[:, None])  # H0 of the time since s (0 before it)
        dh = np.diff(h0, axis=1)
        excess = np.cumsum((m - 1.0) * dh, axis=1)  # X_{j+1}
        # an interval without hazard (m = 0, or before the clock) cannot hold the crossing, however
        # the rounding of the running sums falls
        reached = (h0[:, 1:] + excess >= e[:, None]) & (m > 0.0)
        hit = reached.any(axis=1)
        rows = np.flatnonzero(hit)
        j = reached[rows].argmax(axis=1)
        x_before = np.where(j > 0, excess[rows, np.maximum(j - 1, 0)], 0.0)
        mj = m[rows, j]
        target = (e[rows] - x_before + (mj - 1.0) * h0[rows, j]) / mj  # (5)
        found[lo:hi] = hit
        time[lo + rows] = s[rows] + hazard.time_to(target)
    return found, time


TroughCallback = Callable[[RealisedDoses, np.ndarray], np.ndarray]


def realise_coupled(
    schedule: Schedule,
    subjects,
    seed: int | None,
    *,
    toxicity: ToxicityProcess | None,
    adherence: IndependentMisses | MarkovMisses | None = None,
    troughs: TroughCallback,
    rules_follow_events: bool = False,
) -> RealisedDoses:
    """Each patient's realised doses when the toxicity's hazard rises with the trough (module docstring).

    Parameters
    ----------
    schedule, subjects, seed, toxicity, adherence
        As for :func:`~imapk.processes.realise.realise`.
    troughs
        ``troughs(realised, rows)``: the troughs C(t_j-) [ng/mL], shape (len(rows), doses), of the
        patients ``subjects[rows]`` on their realised doses `realised` (row i of `realised` is patient
        ``subjects[rows[i]]``), e.g. ``simulate(realised, parameters of those patients, quantiles=(),
        as_dataset=False)["trough"]``. The callback may change the doses before simulating them by
        rules that look only backwards in time (a dose cap after the n-th event, a step up delayed
        after an event, a trough-escalation decided on an earlier trough, late doses).
    rules_follow_events
        True when the callback applies rules that follow events (:func:`~imapk.processes.policies.apply_event_rules`):
        then an event managed without a hold changes later doses too, and its patient is simulated
        again before the next event is searched for.

    Without an exposure effect this is :func:`~imapk.processes.realise.realise` (the callback is not
    called).
    """
    subjects = np.asarray(subjects, dtype=np.int64)
    if toxicity is None or toxicity.exposure is None:
        return realise(schedule, subjects, seed, toxicity=toxicity, adherence=adherence)
    if seed is None:
        raise ImapkError("random dosing processes need a seed", key="scenario.seed", expected="an integer >= 0")
    base = schedule.lower()
    days = schedule_days(base)
    bounds = np.append(base.time, base.end) / 24.0
    n, n_dose = subjects.size, base.time.size
    k_max = toxicity.max_events
    exponential, lengths = event_draws(toxicity, seed, subjects)
    # Each patient's events so far, row i holding its first count[i] (kept in arrays: a population is
    # bookkept with numpy, one pass at a time, not patient by patient).
    times = np.zeros((n, k_max))
    starts = np.zeros((n, k_max), dtype=np.int64)
    holds = np.zeros((n, k_max), dtype=np.int64)
    discontinued = np.zeros(n, dtype=bool)
    clock = np.zeros(n)
    count = np.zeros(n, dtype=np.int64)
    lengths = np.asarray(lengths).astype(np.int64)
    none = PatientEvents((), (), (), False)

    def events_of(i: int) -> PatientEvents:
        c = int(count[i])
        if not c:
            return none
        return PatientEvents(tuple(times[i, :c].tolist()), tuple(starts[i, :c].tolist()),
                             tuple(holds[i, :c].tolist()), bool(discontinued[i]))

    def events_list(rows: np.ndarray) -> list[PatientEvents]:
        out = [none] * rows.size
        for position in np.flatnonzero(count[rows] > 0).tolist():
            out[position] = events_of(int(rows[position]))
        return out

    tables: dict = {}  # each hold pattern lowered once over the passes
    missed = None if adherence is None else missed_doses(adherence, seed, subjects, n_dose)  # drawn once
    active = np.arange(n)
    while active.size:
        realised = realise_events(schedule, subjects[active], seed, toxicity=toxicity, adherence=adherence,
                                  events=events_list(active), base=base, tables=tables,
                                  missed=None if missed is None else missed[active])
        level = np.asarray(troughs(realised, active), dtype=float)
        if level.shape != (active.size, n_dose):
            raise ImapkError("the trough callback returned the wrong shape", key="troughs", got=level.shape,
                             expected=f"({active.size}, {n_dose})")
        multiplier = toxicity.exposure.multiplier(level)
        changed = []
        pending = np.arange(active.size)  # rows of `realised` still searched with these troughs
        while pending.size:
            patients = active[pending]
            found = np.zeros(pending.size, dtype=bool)
            when = np.empty(pending.size)
            for hazard, which in ((toxicity.first, count[patients] == 0), (toxicity.recurrence, count[patients] > 0)):
                if not which.any():
                    continue
                every = which.all() and pending.size == active.size  # all rows, in order: no copies
                rows = pending if every else pending[which]
                k = count[active[rows]]
                f, t = first_crossing(hazard, bounds, clock[active[rows]], exponential[active[rows], k],
                                      multiplier if every else multiplier[rows])
                found[which], when[which] = f, t
            # The events found, all patients at once (as draw_events: an event with no dose left after it
            # is not counted).
            t = when[found]
            start_day = np.ceil(np.where(t < days, t, 0.0)).astype(np.int64) + 1
            kept = (t < days) & (start_day <= days)
            rows, i, t, start_day = pending[found][kept], patients[found][kept], t[kept], start_day[kept]
            c = count[i]
            times[i, c] = t
            starts[i, c] = start_day
            count[i] = k = c + 1
            stop = np.zeros(i.size, dtype=bool) if toxicity.discontinue_after is None else k >= toxicity.discontinue_after
            holds[i[stop], c[stop]] = days - start_day[stop] + 1
            discontinued[i[stop]] = True
            c, k, t, start_day, rows, i = c[~stop], k[~stop], t[~stop], start_day[~stop], rows[~stop], i[~stop]
            if toxicity.management == "steroids":
                holds[i, c] = 0
                clock[i] = t
            else:
                holds[i, c] = lengths[i, k - 1]
                clock[i] = (start_day - 1 + lengths[i, k - 1]).astype(float)
            more = (k < k_max) if toxicity.recurrence is not None else np.zeros(i.size, dtype=bool)
            if toxicity.management == "steroids" and not rules_follow_events:
                again = rows[more]  # no dose changed: the same troughs decide the next event
            else:
                again = np.empty(0, dtype=np.int64)
                changed.append(i[more])
            pending = np.asarray(again, dtype=np.int64)
        active = np.concatenate(changed) if changed else np.empty(0, dtype=np.int64)
    return realise_events(schedule, subjects, seed, toxicity=toxicity, adherence=adherence,
                          events=events_list(np.arange(n)), base=base, tables=tables, missed=missed)
