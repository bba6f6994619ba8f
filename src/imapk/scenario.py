"""Scenario files: TOML in, validated objects out.

A scenario names the parameter set (or gives parameters inline, with units), the schedule, the
outputs wanted and the thresholds. Every error is an :class:`~imapk.errors.ImapkError` whose message
is one line, ``<file>: <dotted.key>: <problem> (got X; expected Y)``; unknown keys are errors, not
ignored. See ``scenarios/`` for examples and README.md for a commented example.

Keys (quantities are strings with a unit; keys whose name carries the unit take plain numbers;
clinical days are whole numbers, day 1 being the first day of therapy)::

    [scenario]            title (required, string); description (string); seed (integer >= 0)
    [model]               parameter_set (string: a shipped set, or "inline"; default "inline")
    [model.parameters]    cl (clearance), v (volume), ka (rate constant) or d1 (time), f (number),
                          tlag (time): inline values, or overrides of the parameter set
    [[model.changes]]     from_day (clinical day) or at (time); then any of cl, v, ka, f
    [schedule]            missed_days (array of clinical days); missed_doses (array of 0-based
                          scheduled-dose indices)
    [[schedule.phases]]   dose (mass, or array of masses cycling over the phase's administrations);
                          interval (time, default "24 h"); days (number > 0) or doses (integer >= 1);
                          label (string)
    [[schedule.holds]]    start_day (clinical day); days (number > 0) or doses (integer >= 1);
                          label (string); restart (array of tables {dose = mass or array, days = number})
    [schedule.steady_state]  dose (one mass); interval (time, default "24 h")
    [verdict]             thresholds (array of shipped names: gist, cml, toxicity_alarm);
                          window_start_day (clinical day, default 29, or day 1 when the schedule ends
                          before day 29); window_end_day (clinical day, inclusive, default: the
                          schedule's last day)
    [[verdict.custom]]    name (string, required); value (concentration); kind ("target" or
                          "ceiling", default "target"); reference (string)
    [output]              dense (true/false, default true); dense_step (time, default "1 h")

No keys were added to the original contract. Checks made here rather than at run time: the evaluation
window must lie inside the schedule, two parameter changes may not fall at the same time, and the dense
grid may not exceed :data:`MAX_DENSE_POINTS` points.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import ImapkError, ScenarioError
from .metrics import DEFAULT_WINDOW_START_DAY
from .parameter_sets import PARAMETER_SETS, get_parameter_set
from .params import CHANGEABLE, PARAMETER_DIMENSIONS, ParameterChange, PKParams
from .schedule import HOURS_PER_DAY, Hold, LadderStep, Phase, Schedule, SteadyState, day_start
from .thresholds import CEILING, TARGET, Threshold, get_threshold
from .units import parse_quantity

__all__ = ["Scenario", "load_scenario", "parse_scenario", "run_scenario", "MAX_DENSE_POINTS"]

_MISSING = object()

#: Most points on the dense concentration grid (10 years at a 1-minute step is 5.3 million).
MAX_DENSE_POINTS = 10_000_000
_KINDS = {int: "an integer", str: "a string", float: "a number"}
# Largest integer accepted in a number field: beyond it, a float conversion loses exactness or overflows.
_LARGEST_INTEGER = 10**15


class _Table:
    """A TOML table being read: typed getters that name the key, and a check for unknown keys."""

    def __init__(self, data: object, source: str, key: str):
        self.source = source
        self.key = key
        if not isinstance(data, dict):
            self.fail("must be a table", got=data, expected="a TOML table")
        self.data = data
        self.used: set[str] = set()

    def path(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def fail(self, problem: str, name: str | None = None, **details) -> None:
        raise ScenarioError(problem, source=self.source, key=self.path(name) if name else self.key or None, **details)

    def has(self, name: str) -> bool:
        return name in self.data

    def raw(self, name: str, default=_MISSING):
        self.used.add(name)
        if name not in self.data:
            if default is _MISSING:
                self.fail("required key is missing", name)
            return default
        return self.data[name]

    def string(self, name: str, default=_MISSING) -> str:
        value = self.raw(name, default)
        if value is not default and not isinstance(value, str):
            self.fail("must be a string", name, got=value, expected="a quoted string")
        return value

    def number(
        self,
        name: str,
        default=_MISSING,
        *,
        minimum: float | None = None,
        integer: bool = False,
        expected: str | None = None,
    ):
        value = self.raw(name, default)
        if value is default:
            return value
        kind = "a whole number" if integer else "a number"
        hint = expected or f"{kind} without quotes"
        if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
            self.fail(f"must be {kind}", name, got=value, expected=hint)
        if isinstance(value, int) and abs(value) > _LARGEST_INTEGER:
            self.fail("too large", name, got=value, expected=f"{hint}, at most {_LARGEST_INTEGER:.0e}")
        if not math.isfinite(value):
            self.fail("must be finite", name, got=value, expected=hint)
        if minimum is not None and value < minimum:
            self.fail("out of range", name, got=value, expected=expected or f">= {minimum:g}")
        return value

    def day(self, name: str, default=_MISSING) -> int:
        """A clinical day: a whole number >= 1."""
        return self.number(name, default, integer=True, minimum=1, expected="a whole clinical day >= 1, e.g. 29")

    def quantity(self, name: str, dimension: str, default=_MISSING) -> float:
        value = self.raw(name, default)
        if value is default:
            return value
        return parse_quantity(value, dimension, key=self.path(name), source=self.source)

    def table(self, name: str, default=_MISSING) -> "_Table | None":
        value = self.raw(name, default)
        if value is default:
            return value
        return _Table(value, self.source, self.path(name))

    def tables(self, name: str) -> list["_Table"]:
        value = self.raw(name, [])
        if not isinstance(value, list):
            self.fail("must be an array of tables", name, got=value, expected=f"[[{self.path(name)}]] entries")
        return [_Table(item, self.source, f"{self.path(name)}[{i}]") for i, item in enumerate(value)]

    def list_of(self, name: str, kind: type, default=(), *, example: str = "") -> list:
        value = self.raw(name, list(default))
        what = f"an array of {_KINDS.get(kind, kind.__name__).split(' ', 1)[1]}s" + (f", e.g. {example}" if example else "")
        if not isinstance(value, list):
            self.fail("must be an array", name, got=value, expected=what)
        for i, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, kind):
                self.fail(f"must be {_KINDS.get(kind, kind.__name__)}", f"{name}[{i}]", got=item, expected=what)
        return value

    def known(self, *names: str) -> None:
        """Refuse any key not in `names` now, before reading values (so a typo is named as such)."""
        unknown = sorted(set(self.data) - set(names))
        if unknown:
            self.fail("unknown key", unknown[0], expected=f"one of: {', '.join(sorted(names))}")

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used))
            self.fail("unknown key", unknown[0], expected=f"one of: {known}")


@dataclass(frozen=True)
class Scenario:
    """A validated scenario.

    Attributes
    ----------
    source
        Path of the file (or ``"<string>"``).
    text
        The TOML text, kept for provenance.
    title, description
        What the scenario is.
    parameter_set
        Name of the shipped parameter set used, or ``"inline"``.
    params
        Typical parameters (set values with inline overrides applied).
    changes
        Step changes of parameters.
    schedule
        The dosing schedule.
    thresholds
        Thresholds to judge against.
    window
        (start, end) of the evaluation window [h]; end None means the end of the schedule.
    dense_step
        Step of the dense concentration grid [h], or None for troughs only.
    seed
        Seed for random draws (recorded; used by population scenarios).
    """

    source: str
    text: str
    title: str
    description: str
    parameter_set: str
    params: PKParams
    changes: tuple[ParameterChange, ...]
    schedule: Schedule
    thresholds: tuple[Threshold, ...]
    window: tuple[float, float | None]
    dense_step: float | None
    seed: int | None = None
    citation: str = ""


#: Largest plausible amount of one administration: imatinib is given as 100-400 mg tablets, at most
#: 800 mg/d in the label (400 mg twice daily); more than this in a scenario file is almost surely a
#: unit slip ("0.4 g" meant, "400 g" written).
MAX_PLAUSIBLE_DOSE_MG = 2000.0
#: Longest plausible dosing interval in a scenario file: one week. "24 d" for "24 h" is refused.
MAX_PLAUSIBLE_INTERVAL_H = 168.0


def _plausible_dose(table: _Table, key: str, value: object, amount: float) -> float:
    if amount > MAX_PLAUSIBLE_DOSE_MG:
        raise ScenarioError(
            "implausible imatinib dose for one administration (a unit slip?)",
            source=table.source,
            key=key,
            got=value,
            expected=f"at most {MAX_PLAUSIBLE_DOSE_MG:g} mg; doses are mg of free base per administration",
        )
    return amount


def _amounts(table: _Table, name: str) -> float | tuple[float, ...]:
    value = table.raw(name)
    if isinstance(value, list):
        if not value:
            table.fail("needs at least one amount", name, expected="e.g. ['400 mg', '200 mg']")
        return tuple(
            _plausible_dose(table, f"{table.path(name)}[{i}]", v, parse_quantity(v, "mass", key=f"{table.path(name)}[{i}]", source=table.source))
            for i, v in enumerate(value)
        )
    return _plausible_dose(table, table.path(name), value, table.quantity(name, "mass"))


def _interval(table: _Table) -> float:
    interval = table.quantity("interval", "time", 24.0)
    if interval > MAX_PLAUSIBLE_INTERVAL_H:
        table.fail(
            "implausible dosing interval (a unit slip?)",
            "interval",
            got=table.data.get("interval"),
            expected=f"at most {MAX_PLAUSIBLE_INTERVAL_H:g} h, e.g. '24 h' or '12 h'",
        )
    return interval


def _located(error: ImapkError, table: _Table) -> ImapkError:
    """Attach the file and the table's key to an error raised by a schedule or parameter object."""
    inner = error.key
    if not inner or inner in ("phase", "hold", "values"):
        key = table.key
    elif inner.startswith(("phase.", "hold.")):
        key = f"{table.key}.{inner.split('.', 1)[1]}"
    else:
        key = f"{table.key}.{inner}"
    return type(error)(error.problem, source=table.source, key=key, got=error.got, expected=error.expected)


def _model(root: _Table) -> tuple[str, PKParams, tuple[ParameterChange, ...], str]:
    model = root.table("model")
    model.known("parameter_set", "parameters", "changes")
    name = model.string("parameter_set", "inline")
    inline = model.table("parameters", None)
    values: dict[str, float | None] = {}
    citation = ""
    if name != "inline":
        try:
            pset = get_parameter_set(name)
        except ImapkError as error:
            raise ScenarioError(
                error.problem, source=root.source, key=model.path("parameter_set"), got=name, expected=error.expected
            ) from None
        values = {k: getattr(pset.params, k) for k in PARAMETER_DIMENSIONS}
        citation = pset.citation
    elif inline is None:
        model.fail(
            "give a `parameter_set` or inline `parameters`",
            expected=f"parameter_set = one of {', '.join(sorted(PARAMETER_SETS))}",
        )
    if inline is not None:
        for key in inline.data:
            if key not in PARAMETER_DIMENSIONS:
                inline.fail("unknown parameter", key, expected=f"one of {', '.join(PARAMETER_DIMENSIONS)}")
        given = {}
        for key, dimension in PARAMETER_DIMENSIONS.items():
            if inline.has(key):
                given[key] = inline.number(key) if dimension is None else inline.quantity(key, dimension)
        if "ka" in given and "d1" not in given:
            values["d1"] = None
        if "d1" in given and "ka" not in given:
            values["ka"] = None
        values.update(given)
        inline.done()
    try:
        params = PKParams(**{k: v for k, v in values.items() if v is not None})
    except ImapkError as error:
        key = f"model.parameters.{error.key}" if error.key else "model.parameters"
        raise type(error)(error.problem, source=root.source, key=key, got=error.got, expected=error.expected) from None
    changes = []
    when: dict[float, str] = {}
    for entry in model.tables("changes"):
        if entry.has("from_day") == entry.has("at"):
            entry.fail(
                "give exactly one of `from_day` (clinical day) and `at` (time)",
                got={k: entry.data[k] for k in ("from_day", "at") if k in entry.data},
                expected="e.g. from_day = 29 or at = '672 h'",
            )
        time = day_start(entry.day("from_day")) if entry.has("from_day") else entry.quantity("at", "time")
        if time in when:
            entry.fail(
                f"changes at the same time as {when[time]}",
                "from_day" if entry.has("from_day") else "at",
                got=f"{time:g} h",
                expected="one [[model.changes]] entry per time, changing several parameters at once",
            )
        when[time] = entry.key
        new = {}
        for key in entry.data:
            if key in ("from_day", "at"):
                continue
            if key not in PARAMETER_DIMENSIONS:
                entry.fail("unknown parameter", key, expected=f"one of {', '.join(PARAMETER_DIMENSIONS)}")
            dimension = PARAMETER_DIMENSIONS[key]
            new[key] = entry.number(key) if dimension is None else entry.quantity(key, dimension)
        if not new:
            entry.fail("changes no parameter", expected=f"at least one of {', '.join(CHANGEABLE)}, e.g. cl = '10.6 L/h'")
        try:
            changes.append(ParameterChange.at(time, **new))
        except ImapkError as error:
            raise _located(error, entry) from None
    model.done()
    return name, params, tuple(changes), citation


def _schedule(root: _Table) -> tuple[Schedule, float]:
    table = root.table("schedule")
    table.known("phases", "holds", "missed_days", "missed_doses", "steady_state")
    phases = []
    for entry in table.tables("phases"):
        entry.known("dose", "interval", "days", "doses", "label")
        try:
            phases.append(
                Phase(
                    dose=_amounts(entry, "dose"),
                    interval=_interval(entry),
                    days=entry.number("days", None, expected="a number of days without quotes, e.g. 28"),
                    doses=entry.number("doses", None, integer=True, expected="a whole number of doses, e.g. 28"),
                    label=entry.string("label", ""),
                )
            )
        except ImapkError as error:
            raise error if error.source else _located(error, entry) from None
        entry.done()
    if not phases:
        table.fail("needs at least one [[schedule.phases]] entry", "phases")
    holds = []
    for entry in table.tables("holds"):
        entry.known("start_day", "days", "doses", "restart", "label")
        steps = []
        for step in entry.tables("restart"):
            step.known("dose", "days")
            try:
                steps.append(
                    LadderStep(
                        dose=_amounts(step, "dose"),
                        days=step.number("days", expected="a number of days without quotes, e.g. 7"),
                    )
                )
            except ImapkError as error:
                raise error if error.source else _located(error, step) from None
            step.done()
        try:
            holds.append(
                Hold(
                    start_day=entry.day("start_day"),
                    days=entry.number("days", None, expected="a number of days without quotes, e.g. 14"),
                    doses=entry.number("doses", None, integer=True, expected="a whole number of doses, e.g. 14"),
                    restart=tuple(steps),
                    label=entry.string("label", ""),
                )
            )
        except ImapkError as error:
            raise error if error.source else _located(error, entry) from None
        entry.done()
    steady = table.table("steady_state", None)
    steady_state = None
    if steady is not None:
        steady.known("dose", "interval")
        if isinstance(steady.data.get("dose"), list):
            steady.fail(
                "a steady-state start takes one amount", "dose", got=steady.data["dose"],
                expected="one mass, e.g. '400 mg' (the closed form needs a regular train of equal doses)",
            )
        try:
            steady_state = SteadyState(
                dose=_plausible_dose(steady, steady.path("dose"), steady.data.get("dose"), steady.quantity("dose", "mass")),
                interval=_interval(steady),
            )
        except ImapkError as error:
            raise error if error.source else _located(error, steady) from None
        steady.done()
    schedule = Schedule(
        phases=tuple(phases),
        holds=tuple(holds),
        missed_days=tuple(table.list_of("missed_days", int, example="[35, 42]")),
        missed_doses=tuple(table.list_of("missed_doses", int, example="[34, 41]")),
        steady_state=steady_state,
    )
    table.done()
    try:
        end = schedule.lower().end
    except ImapkError as error:
        key = f"schedule.{error.key}" if error.key else "schedule"
        raise type(error)(error.problem, source=root.source, key=key, got=error.got, expected=error.expected) from None
    return schedule, end


def _default_window(end: float) -> tuple[float, None]:
    """From the day-29 trough on, or from day 1 when the schedule ends before day 29 (as
    :func:`imapk.simulation.default_window`)."""
    start = day_start(DEFAULT_WINDOW_START_DAY)
    return (start if start < end else 0.0, None)


def _verdict(root: _Table, end: float) -> tuple[tuple[Threshold, ...], tuple[float, float | None]]:
    verdict = root.table("verdict", None)
    if verdict is None:
        return (), _default_window(end)
    verdict.known("thresholds", "custom", "window_start_day", "window_end_day")
    thresholds = []
    for i, name in enumerate(verdict.list_of("thresholds", str, example="['gist']")):
        try:
            thresholds.append(get_threshold(name))
        except ImapkError as error:
            raise ScenarioError(
                error.problem, source=root.source, key=f"verdict.thresholds[{i}]", got=name, expected=error.expected
            ) from None
    for entry in verdict.tables("custom"):
        entry.known("name", "value", "kind", "reference")
        kind = entry.string("kind", TARGET)
        if kind not in (TARGET, CEILING):
            entry.fail("unknown threshold kind", "kind", got=kind, expected="'target' or 'ceiling'")
        value = entry.quantity("value", "concentration")
        if value <= 0:
            entry.fail("must be a positive concentration", "value", got=entry.data["value"])
        thresholds.append(Threshold(entry.string("name"), value, kind, entry.string("reference", "user-defined")))
        entry.done()
    names = [t.name for t in thresholds]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        verdict.fail("threshold named twice", "thresholds", got=duplicate)
    last_day = math.ceil(end / HOURS_PER_DAY - 1e-9)
    if verdict.has("window_start_day"):
        start_day = verdict.day("window_start_day")
        if day_start(start_day) >= end:
            verdict.fail(
                "the evaluation window starts after the schedule ends", "window_start_day", got=start_day,
                expected=f"a day <= {last_day}, the schedule's last day",
            )
        start = day_start(start_day)
    else:
        start_day = None
        start = _default_window(end)[0]
    end_day = verdict.day("window_end_day", None)
    stop = None
    if end_day is not None:
        stop = day_start(end_day + 1)
        if stop <= start:
            verdict.fail(
                "window ends before it starts", "window_end_day", got=end_day,
                expected=f"a day >= window_start_day ({start_day if start_day is not None else _day(start)})",
            )
        if end_day > last_day:
            verdict.fail(
                "the evaluation window ends after the schedule", "window_end_day", got=end_day,
                expected=f"a day <= {last_day}, the schedule's last day (or leave it out)",
            )
    verdict.done()
    return tuple(thresholds), (start, stop)


def _day(t: float) -> int:
    return int(math.floor(t / HOURS_PER_DAY)) + 1


def parse_scenario(text: str, source: str = "<string>") -> Scenario:
    """Parse and validate scenario TOML `text`; `source` names the file in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"not valid TOML: {error}", source=source) from None
    root = _Table(data, source, "")
    root.known("scenario", "model", "schedule", "verdict", "output")
    meta = root.table("scenario")
    meta.known("title", "description", "seed")
    title = meta.string("title")
    description = meta.string("description", "")
    seed = meta.number("seed", None, integer=True, minimum=0)
    meta.done()
    name, params, changes, citation = _model(root)
    schedule, end = _schedule(root)
    thresholds, window = _verdict(root, end)
    output = root.table("output", None)
    dense_step = 1.0
    if output is not None:
        output.known("dense", "dense_step")
        dense = output.raw("dense", True)
        if not isinstance(dense, bool):
            output.fail("must be true or false", "dense", got=dense, expected="true or false, without quotes")
        dense_step = output.quantity("dense_step", "time", 1.0) if dense else None
        if dense_step is not None and dense_step <= 0:
            output.fail("must be positive", "dense_step", got=output.data.get("dense_step"), expected="e.g. '1 h'")
        output.done()
    if dense_step is not None and end / dense_step + 1 > MAX_DENSE_POINTS:
        raise ScenarioError(
            f"the dense grid would have {end / dense_step + 1:.3g} points",
            source=source,
            key="output.dense_step",
            got=output.data.get("dense_step", "1 h (default)") if output is not None else "1 h (default)",
            expected=(
                f"a step >= {end / (MAX_DENSE_POINTS - 1):.3g} h for this {end / HOURS_PER_DAY:g}-day schedule, "
                "or dense = false"
            ),
        )
    root.done()
    return Scenario(
        source=source,
        text=text,
        title=title,
        description=description,
        parameter_set=name,
        params=params,
        changes=changes,
        schedule=schedule,
        thresholds=thresholds,
        window=window,
        dense_step=dense_step,
        seed=seed,
        citation=citation,
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate the scenario file at `path`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError("no such scenario file", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError(f"cannot read the file: {error}", source=str(path)) from None
    return parse_scenario(text, str(path))


def run_scenario(scenario: Scenario | str | Path):
    """Simulate a scenario and return the result Dataset (see :func:`imapk.simulate`)."""
    import numpy as np

    from .simulation import simulate

    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
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
    times = None if scenario.dense_step is None else np.arange(0.0, end + 1e-9, scenario.dense_step)
    attrs = {
        "title": scenario.title,
        "scenario": scenario.text,
        "scenario_source": Path(scenario.source).name,
        "parameter_set": scenario.parameter_set,
        "parameter_set_citation": scenario.citation or "parameters given inline in the scenario",
    }
    if scenario.seed is not None:
        attrs["seed"] = scenario.seed
    try:
        return simulate(
            table, scenario.params, changes=scenario.changes, times=times,
            thresholds=scenario.thresholds, window=(start, stop), attrs=attrs,
        )
    except ImapkError as error:
        if error.source:
            raise
        raise type(error)(error.problem, source=scenario.source, key=error.key, got=error.got, expected=error.expected) from None
