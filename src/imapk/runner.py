"""Running a scenario: draw its population, simulate each model under each therapy clock, add the
simulated assay results, and stack the results; and rerunning a result from its record.

Reading and validating a scenario file is :mod:`imapk.scenario`'s job; this module only runs the
validated :class:`~imapk.scenario.Scenario`, and reporting is :mod:`imapk.report`'s.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import replace
from pathlib import Path

from .errors import ImapkError, ScenarioError
from .models import PopulationModel
from .params import PKParams
from .schedule import HOURS_PER_DAY
from .scenario import Scenario, Solver, _describe_period, load_scenario, scenario_from_data

__all__ = ["run_scenario", "rerun", "provenance", "check_population"]


def _covariates(scenario: Scenario, only=None):
    """Covariates of every subject (file rows, then drawn or fixed ones) and the subject indices;
    with `only`, of those subjects alone (their draws do not depend on who else is simulated)."""
    import numpy as np

    from .population import draw_covariates, read_covariate_csv

    population = scenario.population
    covariates = {}
    n = population.size
    if population.covariate_file:
        covariates = read_covariate_csv(population.covariate_file)
        rows = len(next(iter(covariates.values())))
        if population.size and population.size != rows:
            raise ScenarioError(
                f"population.size is {population.size} but the covariate file has {rows} rows",
                source=scenario.source, key="population.size",
            )
        n = rows
        clash = sorted(set(covariates) & set(population.covariates))
        if clash:
            raise ScenarioError(
                f"covariate `{clash[0]}` is given both in the file and in [population.covariates]",
                source=scenario.source, key=f"population.covariates.{clash[0]}",
            )
    subjects = np.arange(n)
    if only is not None:
        subjects = np.asarray(only, dtype=np.int64)
        if subjects.size and (subjects.min() < 0 or subjects.max() >= n):
            raise ScenarioError("subject index outside the population", got=int(subjects.max()), expected=f"0-{n - 1}")
        covariates = {name: values[subjects] for name, values in covariates.items()}
    covariates.update(draw_covariates(population.covariates, population.seed, subjects))
    return covariates, subjects


def _check_covariates_given(scenario: Scenario, model: PopulationModel, covariates: dict) -> None:
    """Refuse a model whose covariates are neither columns of the covariate file nor in [population.covariates]."""
    missing = [name for name in model.covariates if name not in covariates]
    if missing:
        file = scenario.population.covariate_file
        where = f"not a column of {Path(file).name} nor " if file else "not "
        raise ScenarioError(
            f"model {model.name} needs covariate `{missing[0]}`, {where}in [population.covariates]",
            source=scenario.source, key="population", expected=f"covariates {', '.join(model.covariates)}",
        )


#: Bytes a run holds per subject and output value, about: the value, the assay value and the
#: temporaries of the summaries (the 10^6-patient case report measured 6.7 GB for 365 doses).
_BYTES_PER_VALUE = 24


def _check_memory(scenario: Scenario, table, times, subjects) -> None:
    """Refuse, before any work, a run whose arrays would not fit in this machine's memory (a sweep
    runs the same population in chunks)."""
    import os

    n = scenario.population.size if subjects is None and not scenario.population.covariate_file else (
        None if subjects is None else len(subjects))
    if n is None:
        return
    values = n * (table.time.size + (0 if times is None else len(times))) * max(1, len(scenario.models))
    need = values * _BYTES_PER_VALUE
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if need > have:
        raise ScenarioError(
            f"this run would need about {need / 2**30:.0f} GiB of memory, and the machine has {have / 2**30:.0f} GiB",
            source=scenario.source, key="population.size", got=n,
            expected="a smaller population, dense = false, or the same population as a sweep (imapk sweep), which "
                     "runs it in chunks",
        )


def check_population(scenario: Scenario) -> int:
    """Read the covariate file, draw the covariates and check every model's typical parameters on
    them, as a run would, without simulating (``imapk validate``). Returns the number of subjects."""
    covariates, subjects = _covariates(scenario)
    for model in scenario.models:
        _check_covariates_given(scenario, model, covariates)
        try:
            for occasion in range(len(model.occasion_days) + 1):
                model.typical_values(covariates, occasion)
        except ImapkError as error:
            raise ScenarioError(error.problem, source=scenario.source, key=error.key, got=error.got, expected=error.expected) from None
    return int(subjects.size)


def provenance(scenario: Scenario) -> dict:
    """What a result needs to be rerun bit for bit: library versions and the covariate file's content."""
    import numpy

    from . import __version__
    from .engine._numba import numba_version  # numba itself is imported only if a kernel runs compiled

    record = {"versions": f"imapk {__version__}; numpy {numpy.__version__}; numba {numba_version()}"}
    if scenario.population.covariate_file:
        path = Path(scenario.population.covariate_file)
        record["covariates_file_content"] = path.read_text(encoding="utf-8")
        record["covariates_file_name"] = path.name
    return record


def rerun(result, *, method: str | None = None):
    """Run again the scenario recorded in a result's attributes (``imapk rerun``).

    The scenario text, the covariate file's content, and the engine are taken from the record alone
    (no file of the original run is needed); `method` defaults to the recorded one.
    """
    import tempfile

    attrs = result.attrs
    if "scenario" not in attrs:
        raise ScenarioError("this result holds no scenario record (not written by `imapk run`)")
    text = attrs["scenario"]
    # A result is data from elsewhere: nothing recorded in it chooses a path. The scenario and its
    # covariate file are laid out under fixed names in a private temporary folder; the recorded
    # names only label messages.
    label = Path(str(attrs.get("scenario_source", "recorded scenario"))).name or "recorded scenario"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"the recorded scenario is not valid TOML: {error}", source=label) from None
    population = data.get("population") if isinstance(data, dict) else None
    names_file = isinstance(population, dict) and "covariates_file" in population
    if names_file and "covariates_file_content" not in attrs:
        raise ScenarioError(
            "the recorded scenario names a covariate file but the result holds no copy of its content",
            source=label, key="population.covariates_file",
            expected="a result written by `imapk run` (it records the file's content)",
        )
    with tempfile.TemporaryDirectory() as folder:
        if names_file:
            Path(folder, "covariates.csv").write_text(str(attrs["covariates_file_content"]), encoding="utf-8")
            population["covariates_file"] = "covariates.csv"
        scenario = scenario_from_data(data, str(Path(folder) / "recorded-scenario.toml"), text)
        ds = run_scenario(scenario, method=method or attrs.get("method"))
    for key in ("scenario_source", "covariates_file_name"):  # the original labels, as text
        if key in attrs and key in ds.attrs:
            ds.attrs[key] = attrs[key]
    return ds



def run_scenario(
    scenario: Scenario | str | Path,
    *,
    method: str | None = None,
    subjects=None,
    dense: bool | None = None,
    summaries: bool = True,
    as_dataset: bool = True,
):
    """Simulate a scenario and return the result Dataset (see :func:`imapk.simulate`).

    With several models the result gains a ``model`` dimension labelled with their names, and with
    several therapy clocks a ``therapy_clock`` dimension.

    Parameters
    ----------
    scenario
        A scenario or the path of its file.
    method
        ``"exact"`` or ``"ode"``, overriding the scenario's ``[solver] method``.
    subjects
        Indices of the subjects to simulate (default: the whole population); subject i is the same
        subject whichever others are simulated with it.
    dense
        False to skip the dense concentration grid whatever the scenario says.
    summaries
        False to skip the population summaries (trough quantiles, target attainment), e.g. for one
        block of subjects whose summaries would be meaningless.
    as_dataset
        False to get a :class:`~imapk.variables.Result` of numpy arrays (no xarray import) when the
        scenario has one model and one therapy clock; with several, the result is a Dataset anyway.
    """
    import numpy as np

    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    solver = scenario.solver
    if method is not None and method != solver.method:
        from .simulation import METHODS

        if method not in METHODS:
            raise ScenarioError("unknown method", key="--method", got=method, expected=f"one of {', '.join(METHODS)}")
        solver = Solver(method) if method == "exact" else replace(solver, method=method)
    table = scenario.schedule.lower()
    end = table.end
    start, stop = scenario.window
    stop = end if stop is None else min(stop, end)
    if start >= end:
        raise ScenarioError(
            f"the evaluation window starts on day {start / HOURS_PER_DAY + 1:g}, after the schedule ends "
            f"(day {end / HOURS_PER_DAY:g})",
            source=scenario.source,
            key="verdict.window_start_day",
        )
    times = None if scenario.dense_step is None or dense is False else np.arange(0.0, end + 1e-9, scenario.dense_step)
    from .population import SUBJECT_ID_COLUMN

    whole = subjects is None
    _check_memory(scenario, table, times, subjects)
    covariates, subjects = _covariates(scenario, subjects)
    ids = covariates.pop(SUBJECT_ID_COLUMN, None)
    for model in scenario.models:
        _check_covariates_given(scenario, model, covariates)
    doses = _realised_doses(scenario, subjects)
    results = [
        [_run_model(scenario, model, table, covariates, subjects, clock, solver, times, (start, stop), summaries, doses)
         for model in scenario.models]
        for clock in scenario.therapy_clocks
    ]
    if ids is not None and whole:  # the patients' own IDs label the subjects (a block of a sweep keeps indices)
        for row in results:
            for result in row:
                result.coords["subject"] = ids
    if len(results) == 1 and len(results[0]) == 1:
        return results[0][0].to_dataset() if as_dataset else results[0][0]
    by_clock = [
        row[0].to_dataset() if len(row) == 1
        else _stack([r.to_dataset() for r in row], "model", [m.name for m in scenario.models])
        for row in results
    ]
    return by_clock[0] if len(by_clock) == 1 else _stack(by_clock, "therapy_clock", list(scenario.therapy_clocks))


class _CoupledDoses:
    """The realisation of a toxicity whose hazard rises with the trough: done per model (and therapy
    clock) by :func:`_run_model`, on that model's simulated troughs."""

    def __init__(self, toxicity, adherence, rules, late=None):
        self.toxicity, self.adherence, self.rules, self.late = toxicity, adherence, rules, late


def _as_run(realised, rules, late, seed, subjects):
    """Realised doses as a run simulates them: the rules that follow toxicity events (step-up delays,
    caps), then late doses (a capped dose is late as the dose it replaces)."""
    from .processes.policies import apply_event_rules
    from .processes.realise import with_late_doses

    realised = apply_event_rules(realised, rules)
    return realised if late is None else with_late_doses(realised, late, seed, subjects)


def _realised_doses(scenario: Scenario, subjects):
    """Each subject's doses under the scenario's random dosing processes, or None without any.

    A toxicity with an exposure effect is realised per model on its troughs (a :class:`_CoupledDoses`
    to be realised by :func:`_run_model`).
    """
    toxicity = getattr(scenario, "toxicity", None)
    adherence = getattr(scenario, "adherence", None)
    late = getattr(scenario, "late", None)
    if toxicity is None and adherence is None and late is None and not getattr(scenario, "policies", ()):
        return None
    from .processes import realise

    from .processes.policies import EVENT_RULES

    rules = tuple(p for p in getattr(scenario, "policies", ()) if isinstance(p, EVENT_RULES))
    if toxicity is not None and toxicity.exposure is not None:
        if scenario.seed is None:
            raise ScenarioError("random dosing processes need a seed", source=scenario.source, key="scenario.seed",
                                expected="an integer >= 0")
        return _CoupledDoses(toxicity, adherence, rules, late)
    try:
        doses = realise(scenario.schedule, subjects, scenario.seed, toxicity=toxicity, adherence=adherence)
        return _as_run(doses, rules, late, scenario.seed, subjects)
    except ImapkError as error:
        raise type(error)(error.problem, source=scenario.source, key=error.key, got=error.got,
                          expected=error.expected) from None


def _take_rows(parameters, rows):
    """The parameter table of the subjects at positions `rows` (a table of one subject stays as it is:
    it stands for every subject)."""
    return parameters if parameters.n_subjects == 1 else parameters.take(rows)


def _escalations(scenario: Scenario) -> tuple:
    from .processes.policies import TroughEscalation

    return tuple(p for p in getattr(scenario, "policies", ()) if isinstance(p, TroughEscalation))


def _apply_escalations(scenario, model, doses, run, subjects, trough=None):
    """Each trough-escalation policy in order of its day: measure (the first run's troughs, with the
    model's assay error unless the policy says not), decide, run again. Returns the final result and
    per policy (measured troughs, escalated). ``run(doses)`` gives the result (or, with `trough`,
    the troughs (subjects, doses) [ng/mL]: `trough` is then a callable giving the troughs of a run's
    output)."""
    from .processes.policies import apply_event_rules, escalate

    import numpy as np

    decisions = []
    ds = run(doses)
    for policy in sorted(_escalations(scenario), key=lambda p: p.day):
        measured, at = _measured_troughs(scenario, model, policy, doses,
                                         ds["trough"].values if trough is None else trough(ds), subjects)
        doses, escalated = escalate(doses, policy, measured, at)
        # The rules after events come after an escalation (policies' fixed order): a capped patient
        # stays capped, a step up to the escalated dose waits for a quiet spell.
        doses = apply_event_rules(doses, scenario.policies)
        day = np.where(at >= 0, doses.table.day[np.maximum(at, 0)], np.nan)  # NaN: not measured
        decisions.append((policy, measured, escalated, day))
        ds = run(doses)
    return ds, decisions


def _measured_troughs(scenario, model, policy, doses, trough, subjects):
    """The trough each subject's `policy` measures [ng/mL] and the dose it comes before
    (:func:`imapk.processes.policies.measurement_doses`): the model's trough there, with the model's
    assay error unless the policy says not; NaN (dose -1) for a subject who took none of the doses
    before the troughs the policy may measure, whose troughs say nothing about the dose."""
    import numpy as np

    from .population import observed
    from .processes.policies import measurement_doses

    at = measurement_doses(doses, policy)
    if policy.assay:
        if model.residual is None:
            raise ScenarioError(f"model {model.name} has no residual error to measure the trough with",
                                source=scenario.source, key="policy.assay", expected="assay = false")
        values = observed(trough, model.residual, scenario.seed, subjects)[0]
    else:
        values = trough
    rows = np.arange(at.size)
    measured = np.where(at >= 0, values[rows, np.maximum(at, 0)], np.nan)
    return measured, at


def _coupled_realisation(scenario, coupled, parameters, covariates, subjects, window, solver, model, clock,
                         on_therapy, ode):
    """Each subject's doses when the toxicity's hazard rises with the trough: events and troughs of
    this model realised together (:func:`imapk.processes.coupled.realise_coupled`). Each pass
    simulates the doses as the final run will: the rules that follow events, late doses, and the
    trough escalations decided on the pass's own troughs (each looks only backwards in time: a
    trough is the level before its dose), so the events are those of the hazard on the final doses."""
    import numpy as np

    from .processes.coupled import realise_coupled
    from .simulation import simulate

    def as_run(realised, rows):
        return _as_run(realised, coupled.rules, coupled.late, scenario.seed, subjects[rows])

    def troughs(realised, rows):
        rows = np.asarray(rows, dtype=np.int64)

        def run(doses):
            return simulate(
                doses, _take_rows(parameters, rows), window=window, method=solver.method,
                variation=model.time_variation, therapy_clock=clock, time_on_therapy_at_start=on_therapy,
                covariates={name: np.asarray(v)[rows] for name, v in covariates.items()}, subjects=subjects[rows],
                quantiles=(), as_dataset=False, **ode,
            )["trough"].values

        return _apply_escalations(scenario, model, as_run(realised, rows), run, subjects[rows],
                                  trough=lambda level: level)[0]

    realised = realise_coupled(scenario.schedule, subjects, scenario.seed, toxicity=coupled.toxicity,
                               adherence=coupled.adherence, troughs=troughs, rules_follow_events=bool(coupled.rules))
    return as_run(realised, np.arange(subjects.size))


def _run_model(scenario, model, table, covariates, subjects, clock, solver, times, window, summaries=True, doses=None):
    """One model under one therapy clock: draw the parameters, simulate, add observed troughs (a Result).
    `doses`: each subject's realised doses on `table`'s grid (random dosing processes), or None."""
    from .params import ParameterTable
    from .interactions import with_interactions
    from .population import draw_parameters, observed
    from .simulation import simulate

    population = scenario.population
    ss = table.steady_state
    on_therapy = 0.0 if ss is None else ss.time_on_therapy
    if solver.method == "exact" and model.time_variation.needs_ode:
        raise ScenarioError(
            f"model {model.name} has an absorption rate or clearance that changes continuously with time on therapy, "
            "which the exact engine cannot follow",
            source=scenario.source,
            key="solver.method",
            got="exact",
            expected="method = 'ode' in [solver], or imapk run --method ode",
        )
    try:
        parameters = draw_parameters(
            model, covariates, subjects, seed=population.seed, iiv=population.iiv,
            iov_cl=population.iov_cl, dose_times=table.time, time_on_therapy_at_start=on_therapy,
            occasion_timing=scenario.occasion_timing,
        )
        if scenario.changes:
            parameters = ParameterTable.from_params(
                PKParams(**{k: float(v[0]) for k, v in parameters.values.items() if v is not None},
                         n_transit=parameters.n_transit),
                scenario.changes,
            )
        if scenario.interactions:
            parameters = with_interactions(parameters, [period[:3] for period in scenario.interactions])
        attrs = {
            "title": scenario.title,
            "scenario": scenario.text,
            **({"interactions": json.dumps([_describe_period(p) for p in scenario.interactions])}
               if scenario.interactions else {}),
            "scenario_source": Path(scenario.source).name,
            "parameter_set": model.name,
            "parameter_set_citation": model.citation,
            "population_size": subjects.size,
            "iiv": int(population.iiv),
            "iov_cl": population.iov_cl,
            **({"dose_conversions": "; ".join(scenario.dose_conversions)} if scenario.dose_conversions else {}),
        }
        attrs.update(provenance(scenario))
        attrs["parameter_set_record"] = json.dumps(model.record())
        if population.seed is not None:
            attrs["seed"] = population.seed
        if scenario.overrides:
            attrs["parameter_overrides"] = "; ".join(f"{k} = {v}" for k, v in scenario.overrides)
        ode = {"rtol": solver.rtol, "atol": solver.atol, "max_steps": solver.max_steps} if solver.method == "ode" else {}

        def run(schedule):
            return simulate(
                schedule, parameters, times=times, thresholds=scenario.thresholds, window=window,
                method=solver.method, variation=model.time_variation, therapy_clock=clock,
                time_on_therapy_at_start=on_therapy, covariates=covariates, subjects=subjects, attrs=attrs,
                peripheral=scenario.peripheral and times is not None and len(times) > 0,
                as_dataset=False, **({} if summaries else {"quantiles": ()}), **ode,
            )

        if isinstance(doses, _CoupledDoses):
            doses = _coupled_realisation(scenario, doses, parameters, covariates, subjects, window, solver, model,
                                         clock, on_therapy, ode)

        if doses is not None and _escalations(scenario):
            ds, decisions = _apply_escalations(scenario, model, doses, run, subjects)
            for policy, measured, escalated, day in decisions[:1]:  # one escalation policy per scenario (checked on load)
                ds.add("tdm_trough_measured", measured, {"policy": policy.label})
                ds.add("tdm_measured_day", day, {"policy": policy.label})
                ds.add("tdm_escalated", escalated, {"policy": policy.label})
        else:
            ds = run(table if doses is None else doses)
    except ImapkError as error:
        if error.source:
            raise
        raise type(error)(error.problem, source=scenario.source, key=error.key or "model", got=error.got, expected=error.expected) from None
    if population.residual_error:
        values, censored = observed(
            ds["trough"].values, model.residual, population.seed, subjects,
            quantification_limit=scenario.quantification_limit,
        )
        limit = {"quantification_limit": scenario.quantification_limit, "quantification_limit_units": "ng/mL"}
        ds.add("trough_observed", values, {"residual_error": model.residual.describe(), **limit})
        ds.add("trough_censored", censored, limit)
    return ds


def _common_reasons(results):
    """`results` on one `reason` coordinate, the union of theirs in order of appearance, each
    ``subject_dose_reason`` renumbered into it: models whose patients realise their own doses (an
    exposure-dependent hazard draws events on each model's troughs) can hold different hold labels."""
    import numpy as np

    if not all("reason" in ds.coords for ds in results):
        return results
    labels = list(dict.fromkeys(label for ds in results for label in ds["reason"].values.tolist()))
    same = []
    for ds in results:
        own = ds["reason"].values.tolist()
        if own != labels:
            position = np.array([labels.index(label) for label in own], dtype=np.int32)
            reason = ds["subject_dose_reason"]
            ds = ds.assign(subject_dose_reason=reason.copy(data=position[reason.values]))
            attrs = ds["reason"].attrs
            ds = ds.reindex(reason=np.array(labels, dtype=str))
            ds["reason"].attrs.update(attrs)
        same.append(ds)
    return same


def _stack(results, dim: str, labels: list[str]):
    """Concatenate results along a new dimension `dim`; the schedule and covariates stay shared."""
    import xarray as xr

    from .covariates import COVARIATES
    from .variables import SPECS

    results = _common_reasons(results)
    widest = max((ds.sizes.get("toxicity_event", 0) for ds in results), default=0)
    if widest:  # models (or clocks) whose patients drew different numbers of events at most: pad with NaN
        results = [ds.pad(toxicity_event=(0, widest - ds.sizes["toxicity_event"]), constant_values=float("nan"))
                   if ds.sizes.get("toxicity_event", widest) < widest else ds for ds in results]
    per_item = [
        name
        for name, var in results[0].data_vars.items()
        if set(var.dims) & {"subject", "threshold", "quantile", "model"} and name not in COVARIATES and name != "dose_given"
    ]
    stacked = xr.concat(
        results, dim=dim, data_vars=per_item, coords="minimal", compat="override", join="override",
        combine_attrs="drop_conflicts",
    )
    spec = SPECS[dim]
    stacked = stacked.assign_coords({dim: xr.Variable((dim,), labels, {"long_name": spec.long_name, "description": spec.description})})
    for key in ("parameter_set", "parameter_set_citation", "therapy_clock"):
        values = list(dict.fromkeys(str(ds.attrs.get(key, "")) for ds in results))
        stacked.attrs[key] = (", " if key != "parameter_set_citation" else " | ").join(values)
    return stacked
