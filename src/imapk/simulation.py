"""The front door: simulate a schedule with a set of parameters and return an xarray Dataset."""

from __future__ import annotations

import json
from typing import Sequence

import numpy as np

from .errors import ImapkError
from .metrics import DEFAULT_QUANTILES, DEFAULT_WINDOW_START_DAY, population_summary, trough_counts, trough_verdict
from .params import PARAMETER_UNITS, STRUCTURE_UNITS, ParameterChange, ParameterTable, PKParams
from .schedule import STATUS_LABELS, DoseTable, Schedule, day_start
from .thresholds import Threshold, get_threshold

__all__ = ["simulate", "engine_inputs", "METHODS", "default_window"]

#: Parameter changes listed in the `parameter_changes` attribute at most (per-dose IOV makes hundreds).
MAX_CHANGES_IN_ATTRS = 50
#: Time on therapy standing for "long enough for every transient to be over" (about 114 years). [h]
LONG_TIME_ON_THERAPY = 1.0e6
#: Simulation methods by name.
METHODS = ("exact", "ode")


def default_window(table: DoseTable) -> tuple[float, float]:
    """From the day-29 trough to the end of the schedule, or the whole schedule if it is shorter. [h]"""
    start = day_start(DEFAULT_WINDOW_START_DAY)
    return (start if start < table.end else 0.0, table.end)


def _version() -> str:
    from . import __version__

    return __version__


def _peripheral_amount(table, parameters, times, method, variation, clock, rtol, atol, max_steps) -> np.ndarray:
    """The peripheral amount [mg] at `times` (subject, time), by the same engine as the concentrations."""
    if times.size == 0:
        raise ImapkError("the peripheral amount is reported on the dense grid", key="peripheral",
                         expected="output times (`times`, or [output] dense = true)")
    if method == "ode":
        from .engine.ode_linear import run_ode_linear

        return run_ode_linear(table, parameters, variation=variation, clock=clock, times=times, rtol=rtol, atol=atol,
                              max_steps=max_steps, observe="peripheral").concentration
    from .engine.linear import run_linear

    factor = None if variation.f.constant else (lambda t: variation.f(np.maximum(clock(t), 0.0)))
    return run_linear(table, parameters, times=times, dose_factor=factor, observe="peripheral").concentration


#: Largest rate constant the engines resolve [1/h]: a half-life of 2.5 ms. Beyond it the time
#: resolution of doubles near t ~ 1000 h (1e-13 h) holds only a few e-folds, so peaks and
#: crossings could not be located; no drug's kinetics come near it (imatinib's are below 20 /h).
MAX_RATE_CONSTANT = 1.0e6


def _event_history(events) -> tuple[np.ndarray, np.ndarray]:
    """Each patient's toxicity event times [d from the first dose] and hold lengths [d], (patients, most
    events of a patient, at least 1), NaN after a patient's last event."""
    import itertools

    count = np.fromiter((len(e.time) for e in events), dtype=np.int64, count=len(events))
    shape = (len(events), max(1, int(count.max(initial=0))))
    rows = np.repeat(np.arange(len(events)), count)
    columns = np.arange(rows.size) - np.repeat(np.cumsum(count) - count, count)
    out = []
    for field in ("time", "hold_days"):
        values = np.full(shape, np.nan)
        values[rows, columns] = np.fromiter(itertools.chain.from_iterable(getattr(e, field) for e in events),
                                            dtype=float, count=rows.size)
        out.append(values)
    return out[0], out[1]


def _shared(array: np.ndarray, dtype) -> np.ndarray:
    """`array` itself when it is read-only and of `dtype` (nothing can change it later), else a copy."""
    if array.dtype == dtype and not array.flags.writeable:
        return array
    return np.array(array, dtype=dtype)


def check_rates(parameters: ParameterTable) -> None:
    """Refuse rate constants (CL/V, Q/V, Q/Vp, ka, ktr) above :data:`MAX_RATE_CONSTANT`, e.g. a
    volume of 1e-15 L, naming the rate, its value, the subject and what produced it."""
    from .engine.linear import rate_constants

    def extreme(name, pick):
        arrays = [parameters.values.get(name)] + [c.get(name) for c in parameters.change_values]
        found = [float(pick(a)) for a in arrays if a is not None and np.size(a)]
        return pick(found) if found else 0.0

    # a cheap bound first (per-dose IOV makes hundreds of segments): most tables stop here
    smallest_volume = min(extreme("v", np.min), extreme("vp", np.min) or np.inf)
    largest = max(extreme("cl", np.max), extreme("q", np.max)) / smallest_volume if smallest_volume > 0 else np.inf
    if max(largest, extreme("ka", np.max), extreme("ktr", np.max)) <= MAX_RATE_CONSTANT:
        return
    rates = rate_constants(parameters)
    for name, label in (("k10", "CL/V"), ("k12", "Q/V"), ("k21", "Q/Vp"), ("ka", "ka"), ("ktr", "ktr")):
        values = rates[name]
        bad = ~(values <= MAX_RATE_CONSTANT)
        if bad.any():
            subject, segment = (int(i) for i in np.argwhere(bad)[0])
            raise ImapkError(
                f"rate constant {label} = {values[subject, segment]:.3g} 1/h for subject {subject} is beyond what "
                "the engines resolve (a half-life under 2.5 ms): check the volumes and rates",
                key="parameters", expected=f"{label} <= {MAX_RATE_CONSTANT:g} 1/h",
            )


def engine_inputs(schedule, params, changes=()) -> tuple[DoseTable, ParameterTable]:
    """The lowered schedule and the parameter table, from what users pass to :func:`simulate`."""
    table = schedule if isinstance(schedule, DoseTable) else schedule.lower()
    if table.time.size == 0:
        from .errors import ScheduleError

        raise ScheduleError("the dose table is empty: a schedule needs at least one scheduled dose", key="schedule")
    if isinstance(params, PKParams):
        return table, ParameterTable.from_params(params, tuple(changes))
    if changes:
        raise ImapkError("give changes inside the ParameterTable, not as `changes`", key="changes")
    return table, params


def _per_subject_clocks(table, parameters, status, mode, start, run_engine):
    """The engine's results when each subject's own holds pause or reset its therapy clock: one run
    per group of subjects whose held doses are the same (so whose clocks are), stitched back in
    subject order. ``run_engine(table, parameters, clock)`` returns (ExactResult, peripheral amount
    or None); `status` is each subject's dose status (subjects, doses)."""
    from dataclasses import replace as replace_table

    from .clock import therapy_clock as make_clock
    from .engine.exact import ExactResult
    from .schedule import HELD

    held = np.asarray(status) == HELD
    _, first, group = np.unique(held, axis=0, return_index=True, return_inverse=True)
    group = np.asarray(group).reshape(-1)
    n = held.shape[0]
    parts, peripheral = {}, None
    for g, row in enumerate(first):
        rows = np.flatnonzero(group == g)
        given = table.given[rows] if np.ndim(table.given) == 2 and table.given.shape[0] == n else table.given
        delay = None if table.delay is None else (table.delay[rows] if table.delay.shape[0] == n else table.delay)
        sub_table = replace_table(table, given=given, delay=delay)
        clock = make_clock(replace_table(table, status=np.asarray(status)[row]), mode, start)
        result, amount = run_engine(sub_table, parameters.take(rows), clock)
        for name in ("trough", "concentration", "time_below", "longest_below", "peak"):
            values = getattr(result, name)
            if name not in parts:
                parts[name] = np.empty((n, *values.shape[1:]), dtype=values.dtype)
            parts[name][rows] = values
        if amount is not None:
            if peripheral is None:
                peripheral = np.empty((n, *amount.shape[1:]), dtype=amount.dtype)
            peripheral[rows] = amount
    return ExactResult(**parts), peripheral


def _one_row_per_realised_subject(parameters: ParameterTable, n: int) -> ParameterTable:
    """`parameters` with one row per subject of realised doses: as given, or one subject's repeated."""
    if parameters.n_subjects == n:
        return parameters
    if parameters.n_subjects != 1:
        raise ImapkError("realised doses need one parameter row per subject", key="params",
                         got=parameters.n_subjects, expected=f"{n} subjects, or one repeated for all")
    return parameters.take(np.zeros(n, dtype=np.int64))


def _named_parameters(name, table, covariates, variation, changes, time_on_therapy_at_start):
    """The typical parameters of the shipped model `name` (no IIV) for the reference subject or the
    given covariates, with its occasion effects; its time variation unless `variation` is given."""
    from .covariates import REFERENCE_SUBJECT
    from .models import get_model
    from .population import draw_parameters

    model = get_model(name)
    given = {key: np.atleast_1d(np.asarray(value)) for key, value in (covariates or {}).items()}
    n = max((value.shape[0] for value in given.values()), default=1)
    for key, value in given.items():
        if value.ndim != 1 or value.shape[0] not in (1, n):
            raise ImapkError(
                "covariates must be one value per subject", key=f"covariates.{key}", got=list(value.shape),
                expected=f"{n} values or one",
            )
    used = {key: np.broadcast_to(given.get(key, np.atleast_1d(REFERENCE_SUBJECT[key])), (n,)).copy()
            for key in model.covariates}
    used.update({key: np.broadcast_to(value, (n,)).copy() for key, value in given.items()})
    if changes:
        if model.occasion_days or n != 1:
            raise ImapkError(
                f"`changes` need one subject without occasion effects; {model.name} "
                + ("has occasion effects" if model.occasion_days else f"is given {n} subjects"),
                key="changes", expected="a PKParams (e.g. get_model(name).typical_params()) with `changes`",
            )
        parameters = model.typical_params({key: value[0] for key, value in used.items()})
    else:
        if time_on_therapy_at_start is None:
            ss = table.steady_state
            time_on_therapy_at_start = 0.0 if ss is None else ss.time_on_therapy
        parameters = draw_parameters(
            model, used, np.arange(n), seed=None, iiv=False, dose_times=table.time,
            time_on_therapy_at_start=time_on_therapy_at_start,
        )
    attrs = {"parameter_set": model.name, "parameter_set_citation": model.citation}
    return parameters, used or None, model.time_variation if variation is None else variation, attrs


def simulate(
    schedule: Schedule | DoseTable,
    params: PKParams | ParameterTable | str,
    *,
    changes: Sequence[ParameterChange] = (),
    times: np.ndarray | None = None,
    thresholds: Sequence[Threshold | str] = (),
    window: tuple[float, float] | None = None,
    method: str = "exact",
    variation=None,
    therapy_clock: str = "running",
    time_on_therapy_at_start: float | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    max_steps: int | None = None,
    covariates: dict | None = None,
    subjects: np.ndarray | None = None,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    attrs: dict | None = None,
    as_dataset: bool = True,
    peripheral: bool = False,
):
    """Simulate plasma concentrations of imatinib under a dosing schedule.

    Parameters
    ----------
    schedule
        The dosing schedule (or its lowered :class:`~imapk.schedule.DoseTable`), or each subject's
        realised doses on the schedule's grid (:class:`imapk.processes.RealisedDoses`: missed doses,
        toxicity-driven holds), one row per subject of `params`; the result then also holds
        ``subject_dose_planned``, ``subject_dose_status`` and ``subject_dose_reason`` (subject, dose)
        and, with a toxicity process, ``toxicity_event_count`` and ``toxicity_discontinued`` (subject) and
        each event's ``toxicity_event_time`` and ``toxicity_event_hold_days`` (subject, toxicity_event).
    params
        Typical parameters of one subject, a :class:`~imapk.params.ParameterTable` of many, or the
        name of a shipped parameter set (``"widmer2006"``, see :data:`imapk.models.MODELS` and
        ``imapk params``): then the model's *typical values*, without inter-individual variability,
        for the reference subject (:data:`imapk.covariates.REFERENCE_SUBJECT`: 70 kg, 55 y, male,
        GIST, ...), or for the values given in `covariates` where the model has covariates; with
        the model's occasion effects (under the default timing ``"fit"``) and, unless `variation`
        is given, its changes with time on therapy. The result's ``parameter_set`` and
        ``parameter_set_citation`` attributes name the model. For a population with variability,
        use a scenario (:func:`imapk.run_scenario`).
    changes
        Step changes of the parameters over time (only with a :class:`PKParams`).
    times
        Times of the dense concentration output. [h]
    thresholds
        Thresholds (or names of shipped ones, e.g. ``"gist"``) to judge the result against; each
        one's kind (trough target, trough ceiling or concentration ceiling) says which side is wrong.
    window
        (start, end) of the evaluation window [h]; default :func:`default_window`.
    method
        ``"exact"``: closed-form stepping from event to event; ``"ode"``: adaptive Dormand-Prince
        8(5,3) integration, which also follows rates that change continuously with time on therapy.
    variation
        A :class:`~imapk.models.base.TimeVariation`: ka, CL and F as functions of time on therapy.
        Continuously varying ka or CL needs ``method="ode"``; a varying F works on both paths.
    therapy_clock
        What a hold does to the time-on-therapy clock: ``"running"``, ``"paused"`` or ``"reset"``.
    time_on_therapy_at_start
        Time on therapy at t = 0 [h]. None: 0 for a schedule that starts therapy; for a
        steady-state start the schedule's ``SteadyState.time_on_therapy``, or long enough for
        every transient to be over if that is None too.
    rtol, atol, max_steps
        Tolerances of the ODE path (atol on amounts, mg) and its step limit per subject; the
        defaults are :data:`imapk.engine.ode.DEFAULT_RTOL` etc. Not used by the exact path.
    covariates
        Covariate arrays per subject (canonical units), stored as variables named after them; with
        a parameter-set name, also the covariates of the model (those not given are the reference
        subject's).
    subjects
        Labels of the `subject` coordinate (default 0, 1, ...): a block of a larger population keeps
        its subjects' indices.
    quantiles
        Quantiles of the trough over subjects reported per scheduled dose (``trough_quantile``);
        empty to skip the population summaries (e.g. for one block of a sweep).
    attrs
        Extra dataset attributes (e.g. the scenario text).
    as_dataset
        False to get the variables as a :class:`~imapk.variables.Result` of numpy arrays instead of
        a Dataset (no xarray import; ``.to_dataset()`` converts), for callers that only read numbers.
    peripheral
        Also report ``peripheral_amount(subject, time)`` [mg], the drug in the peripheral
        compartment at the dense `times` (two-compartment models; one more engine run).

    Returns
    -------
    xarray.Dataset
        ``trough(subject, dose)`` and ``concentration(subject, time)`` in ng/mL, the schedule
        (``dose_time``, ``dose_planned``, ``dose_given``, ``dose_status``, ``phase``), the parameters
        per subject, and with thresholds the verdict variables on the ``threshold`` dimension:
        troughs below and at or above each threshold (``trough_below_count``,
        ``trough_above_count``, ...), time with the concentration below and at or above it
        (``time_below``, ``time_above``, ``longest_below``), the peak, and the population summaries
        (``target_attainment`` for trough targets, ``trough_ceiling_exceedance`` for trough
        ceilings). Which side is wrong follows each threshold's kind (:mod:`imapk.thresholds`).

    Examples
    --------
    >>> from imapk.schedule import Schedule, Phase
    >>> ds = simulate(Schedule(phases=(Phase(dose=400, days=60),)), PKParams(cl=14.3, v=347.0, ka=0.609))
    >>> round(float(ds.trough.isel(subject=0).sel(dose=59)), 1)  # steady-state trough at 400 mg/d, Widmer 2006 typical values
    732.2

    The same by the parameter set's name (its typical values for the reference subject):

    >>> ds = simulate(Schedule(phases=(Phase(dose="400 mg", days=60),)), "widmer2006")
    >>> round(float(ds.trough.isel(subject=0).sel(dose=59)), 1), ds.attrs["parameter_set"]
    (732.2, 'widmer2006')
    """
    from .models.base import TimeVariation

    realised = None
    if hasattr(schedule, "engine_table"):  # imapk.processes.RealisedDoses (not imported: it is optional work)
        realised = schedule
        schedule = realised.engine_table()
    named_attrs = {}
    if isinstance(params, str):
        schedule = schedule if isinstance(schedule, DoseTable) else schedule.lower()
        params, covariates, variation, named_attrs = _named_parameters(
            params, schedule, covariates, variation, changes, time_on_therapy_at_start,
        )
    if method not in METHODS:
        raise ImapkError("unknown method", key="method", got=method, expected=f"one of {', '.join(METHODS)}")
    variation = TimeVariation() if variation is None else variation
    if method == "exact" and variation.needs_ode:
        raise ImapkError(
            "the exact engine cannot follow an absorption rate or clearance that changes continuously with time "
            "on therapy",
            key="method",
            got="exact",
            expected="method = 'ode'",
        )
    if method == "exact" and any(x is not None for x in (rtol, atol, max_steps)):
        raise ImapkError("tolerances apply to the ODE path only", key="rtol/atol/max_steps", expected="method = 'ode'")
    table, table_params = engine_inputs(schedule, params, changes)
    check_rates(table_params)
    if realised is not None:
        table_params = _one_row_per_realised_subject(table_params, realised.n_subjects)
    resolved = [get_threshold(t) if isinstance(t, str) else t for t in thresholds]
    levels = np.array([t.value for t in resolved], dtype=float)
    window = default_window(table) if window is None else (float(window[0]), float(window[1]))
    times = np.empty(0) if times is None else np.asarray(times, dtype=float)
    if times.ndim != 1 or not np.all(np.isfinite(times)):
        raise ImapkError("output times must be a 1-D array of finite hours", key="times")

    from .clock import therapy_clock as make_clock

    if time_on_therapy_at_start is None:
        ss = table.steady_state
        if ss is None:
            start = 0.0
        else:  # the schedule's own statement, else long enough for every transient to be over
            start = LONG_TIME_ON_THERAPY if ss.time_on_therapy is None else float(ss.time_on_therapy)
    else:
        start = float(time_on_therapy_at_start)
    if method == "ode":
        from .engine.ode import DEFAULT_ATOL, DEFAULT_MAX_STEPS, DEFAULT_RTOL

        rtol = DEFAULT_RTOL if rtol is None else rtol
        atol = DEFAULT_ATOL if atol is None else atol
        max_steps = DEFAULT_MAX_STEPS if max_steps is None else max_steps

    def run_engine(table, table_params, clock):
        if method == "ode":
            from .engine.ode import run_ode

            result = run_ode(
                table, table_params, variation=variation, clock=clock, times=times, levels=levels, window=window,
                rtol=rtol, atol=atol, max_steps=max_steps,
            )
        else:
            from .engine.exact import run_exact

            factor = None if variation.f.constant else (lambda t: variation.f(np.maximum(clock(t), 0.0)))
            result = run_exact(table, table_params, times=times, levels=levels, window=window, dose_factor=factor)
        peripheral_amount = None
        if peripheral:
            peripheral_amount = _peripheral_amount(
                table, table_params, times, method, variation, clock, rtol, atol, max_steps,
            )
        return result, peripheral_amount

    varies = not (variation.ka.constant and variation.cl.constant and variation.f.constant)
    if realised is not None and therapy_clock != "running" and varies:
        result, peripheral_amount = _per_subject_clocks(table, table_params, realised.status, therapy_clock, start,
                                                        run_engine)
    else:
        result, peripheral_amount = run_engine(table, table_params, make_clock(table, therapy_clock, start))
    n = table_params.n_subjects
    # Inputs are copied (O(subjects + doses)): the result must not share memory with the caller's
    # schedule, parameters or covariates, which a later edit of either would change silently.
    data = {
        "trough": result.trough,
        "concentration": result.concentration,
        **({} if peripheral_amount is None else {"peripheral_amount": peripheral_amount}),
        "dose_time": table.time.copy(),
        "dose_planned": table.planned.copy(),
        "dose_given": np.broadcast_to(table.given, (n, table.time.size)),
        "dose_status": np.array([STATUS_LABELS[s] for s in table.status]),
        "phase": table.phase.astype(str),
    }
    if realised is not None:
        data.update(  # read-only in the realised doses (see RealisedDoses): kept, not copied
            subject_dose_planned=_shared(realised.planned, float),
            subject_dose_reason=_shared(realised.reason, np.int32),
        )
        if realised.delay is not None:
            data["subject_dose_delay"] = np.array(realised.delay, dtype=float)
        if realised.events:
            data["toxicity_event_count"] = np.array([len(e.time) for e in realised.events], dtype=np.int64)
            data["toxicity_discontinued"] = np.array([e.discontinued for e in realised.events], dtype=bool)
            data["toxicity_event_time"], data["toxicity_event_hold_days"] = _event_history(realised.events)
    for name in PARAMETER_UNITS:
        values = table_params.values[name]
        data[name] = np.full(n, np.nan) if values is None else np.array(values)
    for name in STRUCTURE_UNITS:  # only where the structure has them (two compartments, transit chains)
        values = table_params.values.get(name)
        if values is not None:
            data[name] = np.array(values)
    for name, values in (covariates or {}).items():
        values = np.array(values)
        # one typical subject repeated for each subject's realised doses: its covariates too
        data[name] = np.repeat(values, n) if realised is not None and values.shape == (1,) and n > 1 else values
    quantiles = np.asarray(quantiles, dtype=float)
    if quantiles.ndim != 1 or np.any((quantiles < 0) | (quantiles > 1)):
        raise ImapkError("quantiles must lie in [0, 1]", key="quantiles", got=quantiles.tolist())
    kinds = [t.kind for t in resolved]
    counts = None
    if resolved:  # one pass over the troughs for the verdicts and the attainment
        inside = (table.time >= window[0]) & (table.time < window[1])
        counts = trough_counts(result.trough, levels, inside)
    if quantiles.size:
        data.update(population_summary(result.trough, quantiles, levels, kinds, None if counts is None else counts[2]))
        if not resolved:
            del data["target_attainment"]
    coords = {
        "subject": np.arange(n) if subjects is None else np.array(subjects),
        "quantile": quantiles,
        "dose": np.arange(table.time.size),
        "time": times.copy(),
        "day": table.day.copy(),
    }
    if realised is not None:
        coords["reason"] = np.array(realised.reasons, dtype=str)
    if resolved:
        coords.update(
            threshold=np.array([t.name for t in resolved]),
            threshold_value=levels,
            threshold_kind=np.array(kinds),
            threshold_reference=np.array([t.reference for t in resolved]),
            hold=np.arange(len(table.hold_labels)),
            hold_label=np.array(table.hold_labels, dtype=str),
            hold_first_day=np.array([table.day[table.hold == h].min() for h in range(len(table.hold_labels))], dtype=np.int64),
            hold_last_day=np.array([table.day[table.hold == h].max() for h in range(len(table.hold_labels))], dtype=np.int64),
        )
        data.update(
            time_below=result.time_below,
            longest_below=result.longest_below,
            time_above=(window[1] - window[0]) - result.time_below,
            peak_concentration=result.peak,
            **trough_verdict(result.trough, table, levels, window, kinds, counts),
        )
    from .variables import Result

    all_attrs = {
        "imapk_version": _version(),
        "method": method,
        "therapy_clock": therapy_clock,
        "n_transit": table_params.n_transit,
        **({"rtol": rtol, "atol": atol, "atol_units": "mg", "max_steps": max_steps} if method == "ode" else {}),
        "window_start": window[0],
        "window_end": window[1],
        "window_units": "h",
        "parameter_changes": json.dumps(
            [
                {"time_h": t, **({k: v.tolist() for k, v in c.items()} if n == 1 else {"parameters": sorted(c)})}
                for t, c in zip(table_params.change_times, table_params.change_values)
            ][:MAX_CHANGES_IN_ATTRS]
        ),
        "steady_state_start": (
            json.dumps({"dose_mg": table.steady_state.dose, "interval_h": table.steady_state.interval})
            if table.steady_state
            else "none"
        ),
        **named_attrs,
    }
    all_attrs.update(attrs or {})
    result = Result(data, coords, all_attrs)
    if realised is not None:
        result.add("subject_dose_status", _shared(realised.status, np.int8),
                   {"flag_values": [0, 1, 2], "flag_meanings": " ".join(STATUS_LABELS)})
    return result.to_dataset() if as_dataset else result
