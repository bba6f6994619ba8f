"""Scenario files: TOML in, validated objects out.

A scenario names the parameter set (or gives parameters inline, with units), the schedule, the
outputs wanted and the thresholds. Every error is an :class:`~imapk.errors.ImapkError` whose message
is one line, ``<file>: <dotted.key>: <problem> (got X; expected Y)``; unknown keys are errors, not
ignored. See ``scenarios/`` for examples and README.md for a commented example.

Every section and key, with its unit, default, allowed values and meaning, is declared once in
:mod:`imapk.scenario_schema`: the check for unknown keys here reads its key lists from there, and the
scenario file reference (:func:`imapk.scenario_schema.reference_markdown`, the documentation's
``reference/scenario`` page) is rendered from it, so the two cannot drift.

A dose is a mass of imatinib free base, ``"400 mg"`` or explicitly ``"400 mg base"``; a mass of the
mesylate salt in the tablets, ``"478 mg mesylate"``, is converted to free base by the molar masses
(493.6/589.7 g/mol: 478 mg mesylate = 400.1 mg base) and the conversion is recorded in the result's
``dose_conversions`` attribute. A length in days (phase, hold, ladder step) is a whole number of
days, or of dosing intervals where doses come more often than daily (``days = 3.5`` with
``interval = "12 h"``): ``days = 365.5`` of daily doses is refused, never rounded.

Checks made here rather than at run time: the evaluation
window must lie inside the schedule, two parameter changes may not fall at the same time, and the dense
grid may not exceed :data:`MAX_DENSE_POINTS` points.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import scenario_schema as schema
from .scenario_schema import MAX_DENSE_POINTS, MAX_PLAUSIBLE_DOSE_MG, MAX_PLAUSIBLE_INTERVAL_H
from .errors import ImapkError, ScenarioError
from .metrics import DEFAULT_WINDOW_START_DAY
from .covariates import COVARIATES, parse_covariate_value
from .models import MODELS, PopulationModel, get_model
from .params import CHANGEABLE, PARAMETER_DIMENSIONS, ParameterChange, PKParams
from .population import DISTRIBUTIONS, CovariateDistribution, PopulationSpec
from .schedule import HOURS_PER_DAY, Hold, LadderStep, Phase, Schedule, SteadyState, day_start
from .thresholds import KINDS, LEGACY_KINDS, TROUGH_TARGET, Threshold, get_threshold
from .units import parse_dose, parse_quantity

if TYPE_CHECKING:  # the processes import numpy: read lazily, when a scenario has them
    from .processes import HoldLength, IndependentMisses, MarkovMisses, ToxicityProcess, Weibull

__all__ = ["Scenario", "load_scenario", "parse_scenario", "scenario_from_data", "MAX_DENSE_POINTS"]

_MISSING = object()
#: The schema path of a covariate's distribution table.
_COVARIATE = "population.covariates.<covariate>"

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
        # A key with a newline or other control character (legal quoted in TOML) is shown as its
        # repr, so that the message stays one line.
        name = name if not isinstance(name, str) or name.isprintable() else repr(name)
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
        if isinstance(value, str) and any(ord(c) < 32 and c not in "\t\n\r" or ord(c) == 127 for c in value):
            # a NUL cannot be stored in a NetCDF string: refuse every control character here, where
            # `validate` sees it too, not when the result is written
            bad = next(c for c in value if ord(c) < 32 and c not in "\t\n\r" or ord(c) == 127)
            self.fail(f"contains the control character U+{ord(bad):04X}", name,
                      expected="printable text (tabs and line breaks allowed)")
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
class Solver:
    """The engine and its options: ``method`` is ``"exact"`` or ``"ode"``; tolerances are for ``ode``
    (``atol`` on amounts, mg); None means the engine's default."""

    method: str = "exact"
    rtol: float | None = None
    atol: float | None = None
    max_steps: int | None = None


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
    models
        The population models to simulate (one, or several for a comparison), inline overrides applied.
    changes
        Step changes of parameters (single subject without variability only).
    schedule
        The dosing schedule.
    thresholds
        Thresholds to judge against.
    window
        (start, end) of the evaluation window [h]; end None means the end of the schedule.
    dense_step
        Step of the dense concentration grid [h], or None for troughs only.
    population
        Size, seed, covariates and variability of the simulated population.
    seed
        Seed of every random draw (None when nothing is random).
    overrides
        Inline parameter values that replace the models' typical values.
    solver
        The engine (``exact`` or ``ode``) and the ODE tolerances.
    therapy_clocks
        What a hold does to the time-on-therapy clock of time-varying models; several values add a
        ``therapy_clock`` dimension to the result.
    quantification_limit
        Lower limit of quantification of the simulated assay [ng/mL]: observed troughs below it
        are marked censored (``trough_censored``); 0 censors only negative values.
    occasion_timing
        When a model's occasion effects take effect (:func:`imapk.population.occasion_onset_days`).
    interactions
        Co-medication periods ``(start [h], end [h], factor on CL/F, label)``, applied as
        parameter-change events (:func:`imapk.interactions.with_interactions`).
    peripheral
        Report the peripheral amount on the dense grid (two-compartment models).
    dose_conversions
        Doses written as mg of imatinib mesylate (``dose = "478 mg mesylate"``), each as
        ``<key>: '<text>' = <amount> mg imatinib free base (...)``: imapk converts them to free base
        (:func:`imapk.units.parse_dose`) and records this in the result's ``dose_conversions``
        attribute.
    adherence
        Missed doses drawn per patient (``[adherence]``; :mod:`imapk.processes.adherence`), or None.
    late
        Doses taken late (``[adherence] late``; :class:`imapk.processes.adherence.LateDoses`), or None.
    policies
        Dosing policies (``[[policy]]``; :mod:`imapk.processes.policies`): a
        :class:`~imapk.processes.policies.TroughEscalation` (at most one) and
        :class:`~imapk.processes.policies.DoseCap` entries.
    toxicity
        Toxicity-driven interruptions drawn per patient (``[[toxicity]]``;
        :mod:`imapk.processes.toxicity`), or None. With either process, each patient's doses are
        :func:`imapk.processes.realise` of :attr:`schedule`, and :attr:`seed` is set.
    """

    source: str
    text: str
    title: str
    description: str
    models: tuple[PopulationModel, ...]
    changes: tuple[ParameterChange, ...]
    schedule: Schedule
    thresholds: tuple[Threshold, ...]
    window: tuple[float, float | None]
    dense_step: float | None
    population: PopulationSpec = PopulationSpec(iiv=False)
    seed: int | None = None
    overrides: tuple[tuple[str, float | None], ...] = ()
    solver: Solver = field(default_factory=lambda: Solver())
    therapy_clocks: tuple[str, ...] = ("running",)
    quantification_limit: float = 0.0
    occasion_timing: str = "fit"
    interactions: tuple[tuple[float, float, float, str], ...] = ()
    peripheral: bool = False
    dose_conversions: tuple[str, ...] = ()
    adherence: IndependentMisses | MarkovMisses | None = None
    toxicity: ToxicityProcess | None = None
    policies: tuple = ()
    late: object = None

    @property
    def parameter_set(self) -> str:
        """Name(s) of the model(s), comma-separated."""
        return ", ".join(model.name for model in self.models)

    @property
    def params(self) -> PKParams:
        """Typical parameters of the first model for the scenario's fixed covariates."""
        fixed = {name: dist.value for name, dist in self.population.covariates.items() if dist.kind == "fixed"}
        return self.models[0].typical_params(fixed)




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


def _dose(table: _Table, key: str, value: object, conversions: list[str] | None) -> float:
    """One dose in mg of free base (:func:`imapk.units.parse_dose`); a conversion from the mesylate
    is recorded in `conversions` as ``<key>: '<text>' = <amount> mg imatinib free base (...)``."""
    dose = parse_dose(value, key=key, source=table.source)
    if dose.form == "mesylate" and conversions is not None:
        conversions.append(f"{key}: {dose.describe(value)}")
    return _plausible_dose(table, key, value, dose.amount)


def _amounts(table: _Table, name: str, conversions: list[str] | None = None) -> float | tuple[float, ...]:
    value = table.raw(name)
    if isinstance(value, list):
        if not value:
            table.fail("needs at least one amount", name, expected="e.g. ['400 mg', '200 mg']")
        return tuple(_dose(table, f"{table.path(name)}[{i}]", v, conversions) for i, v in enumerate(value))
    return _dose(table, table.path(name), value, conversions)


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


def _with_overrides(model: PopulationModel, overrides: dict[str, float | None]) -> PopulationModel:
    """`model` with some typical values replaced by constants (None removes ka or d1; n_transit
    replaces the structure's chain length)."""
    overrides = dict(overrides)
    transit = overrides.pop("n_transit", None)
    if transit is not None:
        model = replace(model, n_transit=int(transit))

    def typical(covariates, occasion):
        values = dict(model.typical(covariates, occasion))
        for name, value in overrides.items():
            if value is None:
                values.pop(name, None)
            else:
                values[name] = value
        return values

    note = "; ".join(f"{k} = {v:g}" for k, v in overrides.items() if v is not None)
    return replace(model, typical=typical, notes=f"{model.notes} Overridden in the scenario: {note}.".strip())


def _with_time_variation(model: PopulationModel, table: _Table) -> PopulationModel:
    """`model` with the time-on-therapy factors given in [model.time_varying] (they replace its own)."""
    from .models.base import TimeFactor

    table.known(*schema.keys("model.time_varying"))
    factors = {}
    for name in schema.keys("model.time_varying"):
        entry = table.table(name, None)
        if entry is None:
            continue
        entry.known(*schema.keys("model.time_varying.<parameter>"))
        amplitude = entry.number("amplitude", 0.0)
        half_life = entry.quantity("decay_half_life", "time", None)
        if amplitude != 0.0 and half_life is None:
            entry.fail("a transient needs its `decay_half_life`", "decay_half_life", expected="e.g. '27 d'")
        if half_life is not None and half_life <= 0:
            entry.fail("must be positive", "decay_half_life", got=entry.data["decay_half_life"])
        emax = entry.number("emax", 0.0)
        t50 = entry.quantity("t50", "time", None)
        if emax != 0.0 and t50 is None:
            entry.fail("a drift needs its `t50`", "t50", expected="e.g. '90 d'")
        try:
            factors[name] = TimeFactor(
                amplitude=amplitude,
                rate=0.0 if half_life is None else math.log(2.0) / half_life,
                emax=emax,
                t50=1.0 if t50 is None else t50,
            )
        except ImapkError as error:
            raise _located(error, entry) from None
        entry.done()
    table.done()
    return replace(model, time_variation=replace(model.time_variation, **factors))


def _inline_model(values: dict[str, float]) -> PopulationModel:
    constant = dict(values)
    transit = int(constant.pop("n_transit", 0))
    return PopulationModel(
        name="inline",
        title="parameters given inline in the scenario",
        citation="parameters given inline in the scenario",
        population="-",
        typical=lambda covariates, occasion: constant,
        n_transit=transit,
    )


def _describe_period(period: tuple[float, float, float, str]) -> str:
    """One line for a co-medication period, e.g. ``rifampicin, days 15-24: CL/F x 3.85``."""
    start, end, factor, label = period
    first = int(start // HOURS_PER_DAY) + 1
    until = " to the end" if math.isinf(end) else f"-{int(end // HOURS_PER_DAY)}"
    return f"{label}, days {first}{until}: CL/F x {factor:.3g}"


def _occasion_timing(root: _Table) -> str:
    """`[model] occasion_timing`: when occasion effects start (default "fit")."""
    from .population import OCCASION_TIMINGS

    model = root.table("model")
    timing = model.string("occasion_timing", "fit")
    if timing not in OCCASION_TIMINGS:
        model.fail("unknown occasion timing", "occasion_timing", got=timing,
                   expected=f"one of {', '.join(OCCASION_TIMINGS)}")
    return timing


def _interactions(root: _Table) -> tuple[tuple[float, float, float, str], ...]:
    """`[[interactions]]`: a co-medication (shipped name or factor on CL/F) over a period of days."""
    from .interactions import INTERACTIONS, get_interaction

    periods = []
    for entry in root.tables("interactions"):
        entry.known(*schema.keys("interactions[]"))
        if entry.has("drug") == entry.has("cl_factor"):
            entry.fail("give exactly one of `drug` (a shipped interaction) and `cl_factor` (a factor on CL/F)",
                       expected=f"e.g. drug = 'rifampicin' (one of {', '.join(sorted(INTERACTIONS))}) or cl_factor = 2.5")
        if entry.has("drug"):
            name = entry.string("drug")
            try:
                factor = get_interaction(name).cl_factor
            except ImapkError as error:
                entry.fail("unknown interacting drug", "drug", got=name, expected=error.expected)
            label = entry.string("label", name)
        else:
            factor = entry.number("cl_factor")
            if not factor > 0.0:
                entry.fail("must be a positive factor on CL/F", "cl_factor", got=factor, expected="> 0, e.g. 3.85 for an inducer")
            label = entry.string("label", f"CL/F x {factor:g}")
        start = day_start(entry.number("start_day", integer=True))
        days = entry.number("days", None, integer=True, minimum=1)
        end = math.inf if days is None else start + HOURS_PER_DAY * days
        entry.done()
        periods.append((start, end, float(factor), label))
    return tuple(periods)


def _model(root: _Table) -> tuple[tuple[PopulationModel, ...], tuple[ParameterChange, ...], dict]:
    model = root.table("model")
    model.known(*schema.keys("model"))
    raw = model.raw("parameter_set", "inline")
    if isinstance(raw, str):
        # "all": every published model; variants (other readings of a source) are named explicitly
        names = sorted(name for name, m in MODELS.items() if m.variant_of is None) if raw == "all" else [raw]
    elif isinstance(raw, list) and raw and all(isinstance(n, str) for n in raw):
        names = list(raw)
        if len(set(names)) != len(names):
            model.fail("a model is named twice", "parameter_set", got=raw)
    else:
        model.fail("must be a model name or an array of names", "parameter_set", got=raw,
                   expected="e.g. 'widmer2006' or ['widmer2006', 'schmidli2005'] or 'all'")
    inline = model.table("parameters", None)
    models: list[PopulationModel] = []
    for i, name in enumerate(names):
        if name == "inline":
            if inline is None:
                model.fail(
                    "give a `parameter_set` or inline `parameters`",
                    expected=f"parameter_set = one of {', '.join(sorted(MODELS))}",
                )
            continue
        try:
            models.append(get_model(name))
        except ImapkError as error:
            key = model.path("parameter_set") + (f"[{i}]" if isinstance(raw, list) else "")
            raise ScenarioError(error.problem, source=root.source, key=key, got=name, expected=error.expected) from None
    overrides: dict[str, float | None] = {}
    if inline is not None:
        for key in inline.data:
            if key not in PARAMETER_DIMENSIONS:
                inline.fail("unknown parameter", key, expected=f"one of {', '.join(PARAMETER_DIMENSIONS)}")
        for key, dimension in PARAMETER_DIMENSIONS.items():
            if inline.has(key):
                overrides[key] = inline.number(key) if dimension is None else inline.quantity(key, dimension)
        if "ka" in overrides and "d1" not in overrides:
            overrides["d1"] = None
        if "d1" in overrides and "ka" not in overrides:
            overrides["ka"] = None
        inline.done()
        if "inline" in names:
            if len(names) > 1:
                model.fail("inline parameters cannot be compared with shipped models", "parameter_set", got=raw)
            values = {k: v for k, v in overrides.items() if v is not None}
            for required in ("cl", "v"):
                if required not in values:
                    inline.fail(
                        "required key is missing", required,
                        expected="inline parameters give cl, v and one of ka or d1",
                    )
            try:
                PKParams(**values)
            except ImapkError as error:
                key = f"model.parameters.{error.key}" if error.key else "model.parameters"
                raise type(error)(error.problem, source=root.source, key=key, got=error.got, expected=error.expected) from None
            models = [_inline_model(values)]
        else:
            models = [_with_overrides(m, overrides) for m in models]
            for m in models:
                if not m.covariates:
                    try:
                        m.typical_params()
                    except ImapkError as error:
                        key = f"model.parameters.{error.key}" if error.key else "model.parameters"
                        raise type(error)(error.problem, source=root.source, key=key, got=error.got, expected=error.expected) from None
    varying = model.table("time_varying", None)
    if varying is not None:
        models = [_with_time_variation(m, varying) for m in models]
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
    model.raw("occasion_timing", None)  # read (and checked) by _occasion_timing
    model.done()
    return tuple(models), tuple(changes), overrides


def _population(root: _Table, seed: int | None) -> tuple[PopulationSpec, int | None, float]:
    table = root.table("population", None)
    if table is None:
        return PopulationSpec(size=1, seed=seed, iiv=False), seed, 0.0
    table.known(*schema.keys("population"))
    own_seed = table.number("seed", None, integer=True, minimum=0)
    if own_seed is not None and seed is not None and own_seed != seed:
        table.fail("differs from [scenario].seed", "seed", got=own_seed, expected=f"{seed} or no second seed")
    seed = own_seed if own_seed is not None else seed
    flags = {}
    for name, default in (("iiv", True), ("residual_error", False)):
        flags[name] = table.raw(name, default)
        if not isinstance(flags[name], bool):
            table.fail("must be true or false", name, got=flags[name], expected="true or false, without quotes")
    iov_cl = table.number("iov_cl", 0.0, minimum=0.0)
    limit = table.quantity("quantification_limit", "concentration", 0.0)
    if limit < 0:
        table.fail("must not be negative", "quantification_limit", got=table.data["quantification_limit"],
                   expected="a concentration >= 0, e.g. '50 ng/mL'")
    if table.has("quantification_limit") and not flags["residual_error"]:
        table.fail(
            "a quantification limit applies to simulated observed troughs", "quantification_limit",
            got=table.data["quantification_limit"], expected="residual_error = true in [population]",
        )
    file = table.string("covariates_file", None)
    if file is not None:
        base = Path(root.source).parent if root.source != "<string>" else Path(".")
        file = str(base / file)
    size = table.number("size", None, integer=True, minimum=1)
    distributions: dict[str, CovariateDistribution] = {}
    covariates = table.table("covariates", None)
    if covariates is not None:
        for name in covariates.data:
            key = covariates.path(name)
            if name not in COVARIATES:
                covariates.fail("unknown covariate", name, expected=f"one of {', '.join(COVARIATES)}")
            distributions[name] = _distribution(covariates, name, key)
        covariates.used.update(covariates.data)
        covariates.done()
    random = (flags["iiv"] or flags["residual_error"] or iov_cl > 0
              or any(d.kind != "fixed" for d in distributions.values()))
    if random and seed is None:
        table.fail("a population with random draws needs a seed", "seed", expected="seed = 20260101 (any integer >= 0)")
    table.done()
    return (
        PopulationSpec(
            size=size if size is not None else (0 if file else 1),
            seed=seed,
            iiv=flags["iiv"],
            residual_error=flags["residual_error"],
            iov_cl=float(iov_cl),
            covariates=distributions,
            covariate_file=file,
        ),
        seed,
        float(limit),
    )


def _distribution(covariates: _Table, name: str, key: str) -> CovariateDistribution:
    spec = COVARIATES[name]
    value = covariates.data[name]
    if not isinstance(value, dict):
        return CovariateDistribution("fixed", value=parse_covariate_value(name, value, source=covariates.source, key=key))
    entry = _Table(value, covariates.source, key)
    kind = entry.string("distribution")
    if kind not in DISTRIBUTIONS[1:]:
        entry.fail("unknown distribution", "distribution", got=kind, expected=f"one of {', '.join(DISTRIBUTIONS[1:])}")

    def quantity(field: str) -> float:
        return parse_covariate_value(name, entry.raw(field), source=entry.source, key=entry.path(field))

    if spec.categorical != (kind == "categorical"):
        entry.fail(
            f"{name} is {'categorical' if spec.categorical else 'numeric'}", "distribution", got=kind,
            expected="'categorical'" if spec.categorical else "'normal', 'lognormal' or 'uniform'",
        )
    if kind in ("normal", "lognormal"):
        entry.known(*schema.keys(_COVARIATE, kind))
        mean = quantity("mean")
        sd = _spread(name, entry.raw("sd"), entry)
        if kind == "lognormal" and mean <= 0:
            entry.fail("a log-normal covariate needs a positive mean", "mean", got=entry.data["mean"])
        low = quantity("low") if entry.has("low") else None
        high = quantity("high") if entry.has("high") else None
        if low is not None and high is not None and not low < high:
            entry.fail("`low` must be below `high`", "high", got=entry.data["high"])
        entry.done()
        return CovariateDistribution(kind, mean=mean, sd=sd, low=low, high=high)
    if kind == "uniform":
        entry.known(*schema.keys(_COVARIATE, kind))
        low, high = quantity("low"), quantity("high")
        if not low < high:
            entry.fail("`low` must be below `high`", "high", got=entry.data["high"])
        entry.done()
        return CovariateDistribution(kind, low=low, high=high)
    entry.known(*schema.keys(_COVARIATE, kind))
    probabilities = entry.table("p")
    pairs = []
    for level, p in probabilities.data.items():
        if level not in spec.levels:
            probabilities.fail(f"unknown {name}", level, expected=f"one of {', '.join(spec.levels)}")
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            probabilities.fail("must be a probability", level, got=p, expected="a number in [0, 1]")
        pairs.append((level, float(p)))
    total = sum(p for _, p in pairs)
    if abs(total - 1.0) > 1e-9:
        entry.fail("probabilities must sum to 1", "p", got=round(total, 12))
    probabilities.used.update(probabilities.data)
    entry.done()
    return CovariateDistribution(kind, probabilities=tuple(pairs))


def _spread(name: str, raw: object, entry: _Table) -> float:
    """A standard deviation in the covariate's unit (same units as its values, must be > 0)."""
    from .covariates import unit_factor

    key = entry.path("sd")
    text = raw if isinstance(raw, str) else None
    parts = text.split(None, 1) if text else []
    try:
        number = float(parts[0]) if len(parts) == 2 else None
    except ValueError:
        number = None
    if number is None:
        entry.fail(f"{name} spread needs a unit", "sd", got=raw, expected=f"e.g. '10 {COVARIATES[name].unit}'")
    sd = number * unit_factor(name, parts[1], source=entry.source, key=key)
    if not sd > 0:
        entry.fail("must be positive", "sd", got=raw)
    return sd


def _schedule(root: _Table) -> tuple[Schedule, float, tuple[str, ...], tuple[str, ...]]:
    """The schedule, its end [h], the therapy clocks and the doses converted from the mesylate."""
    table = root.table("schedule")
    conversions: list[str] = []
    table.known(*schema.keys("schedule"))
    clocks = _clocks(table)
    phases = []
    for entry in table.tables("phases"):
        entry.known(*schema.keys("schedule.phases[]"))
        try:
            phases.append(
                Phase(
                    dose=_amounts(entry, "dose", conversions),
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
        entry.known(*schema.keys("schedule.holds[]"))
        steps = _ladder(entry, conversions, "schedule.holds[].restart[]")
        try:
            holds.append(
                Hold(
                    start_day=entry.day("start_day"),
                    days=entry.number("days", None, expected="a number of days without quotes, e.g. 14"),
                    doses=entry.number("doses", None, integer=True, expected="a whole number of doses, e.g. 14"),
                    restart=steps,
                    label=entry.string("label", ""),
                )
            )
        except ImapkError as error:
            raise error if error.source else _located(error, entry) from None
        entry.done()
    steady = table.table("steady_state", None)
    steady_state = None
    if steady is not None:
        steady.known(*schema.keys("schedule.steady_state"))
        if isinstance(steady.data.get("dose"), list):
            steady.fail(
                "a steady-state start takes one amount", "dose", got=steady.data["dose"],
                expected="one mass, e.g. '400 mg' (the closed form needs a regular train of equal doses)",
            )
        try:
            steady_state = SteadyState(
                dose=_amounts(steady, "dose", conversions),
                interval=_interval(steady),
                time_on_therapy=steady.quantity("time_on_therapy", "time", None),
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
    return schedule, end, clocks, tuple(conversions)


def _ladder(entry: _Table, conversions: list[str], path: str) -> tuple[LadderStep, ...]:
    """The `restart` ladder of a hold: an array of tables {dose = dose or array, days = length}, whose keys
    are those of `path` in :mod:`imapk.scenario_schema`."""
    steps = []
    for step in entry.tables("restart"):
        step.known(*schema.keys(path))
        try:
            steps.append(
                LadderStep(
                    dose=_amounts(step, "dose", conversions),
                    days=step.number("days", expected="a number of days without quotes, e.g. 7"),
                )
            )
        except ImapkError as error:
            raise error if error.source else _located(error, step) from None
        step.done()
    return tuple(steps)


#: The adherence models of ``[adherence] model`` and the keys each takes besides `model` and `level`.
ADHERENCE_MODELS = schema.variants("adherence")
#: The two forms of a hazard table of ``[[toxicity]]`` (``first``; ``recurrence`` takes the second), for messages.
_HAZARD_FORMS = "{ probability = 0.068, by_day = 365, shape = 1.0 } or { scale = '60 d', shape = 1.5 }"


def _probability(table: _Table, name: str, *, open_low: bool = False, open_high: bool = False) -> float:
    """A probability without quotes, in [0, 1] (or with open ends)."""
    interval = f"{'(' if open_low else '['}0, 1{')' if open_high else ']'}"
    value = table.number(name, expected=f"a probability in {interval} without quotes, e.g. 0.9")
    if (value <= 0 if open_low else value < 0) or (value >= 1 if open_high else value > 1):
        table.fail("must be a probability", name, got=value, expected=f"a number in {interval}")
    return float(value)


def _as_scenario_error(error: ImapkError, source: str, key: str) -> ScenarioError:
    return ScenarioError(error.problem, source=source, key=key, got=error.got, expected=error.expected)


def _adherence(root: _Table):
    """`[adherence]`: (missed doses drawn per patient, late doses) (:mod:`imapk.processes.adherence`), each
    or both None."""
    table = root.table("adherence", None)
    if table is None:
        return None, None
    from .processes.adherence import AdherenceLevel, IndependentMisses, MarkovMisses

    table.known(*schema.keys("adherence"))
    if not table.has("model"):
        table.fail("required key is missing", "model", expected="model = 'independent' or 'markov'")
    model = table.string("model")
    if model not in ADHERENCE_MODELS:
        table.fail("unknown adherence model", "model", got=model,
                   expected=" or ".join(f"'{name}'" for name in ADHERENCE_MODELS))
    for other, keys in ADHERENCE_MODELS.items():
        for key in keys:
            if other != model and table.has(key):
                table.fail(f"applies to model '{other}' only", key, got=table.data[key],
                           expected=f"the keys of model '{model}': {', '.join(ADHERENCE_MODELS[model])}, level")
    level = None
    entry = table.table("level", None)
    if entry is not None:
        entry.known(*schema.keys("adherence.level"))
        mean = _probability(entry, "mean", open_low=True, open_high=True)
        sd = entry.number("sd", expected="a positive number without quotes, e.g. 0.08")
        try:
            level = AdherenceLevel(mean=float(mean), sd=float(sd))
        except ImapkError as error:
            raise _as_scenario_error(error, root.source, entry.path(error.key.rsplit(".", 1)[-1])) from None
        entry.done()
    # a value the per-patient level replaces would be ignored: refused instead
    replaced = "p_missed" if model == "independent" else "p_remain_adherent"
    if level is not None and table.has(replaced):
        table.fail("is replaced per patient by `level` (this value would be ignored)", replaced, got=table.data[replaced],
                   expected=f"either `{replaced}` or `level`, not both")
    if model == "independent":
        process = IndependentMisses(p_missed=0.0 if level is not None else _probability(table, "p_missed"), level=level)
    else:
        start = table.string("start", "adherent")
        if start not in schema.key("adherence.start").choices:
            table.fail("unknown start of the chain", "start", got=start, expected="'adherent' or 'stationary'")
        process = MarkovMisses(
            p_remain_adherent=1.0 if level is not None else _probability(table, "p_remain_adherent"),
            p_become_adherent=_probability(table, "p_become_adherent", open_low=True),
            start=start,
            level=level,
        )
    late = None
    entry = table.table("late", None)
    if entry is not None:
        from .processes.adherence import LateDoses

        entry.known(*schema.keys("adherence.late"))
        probability = _probability(entry, "probability")
        low = entry.quantity("low", "time", 0.0)
        high = entry.quantity("high", "time")
        try:
            late = LateDoses(probability=float(probability), low=float(low), high=float(high))
        except ImapkError as error:
            raise _as_scenario_error(error, root.source, entry.path(error.key.rsplit(".", 1)[-1])) from None
        entry.done()
    table.done()
    return process, late


def _weibull(entry: _Table, *, first: bool) -> Weibull:
    """A hazard table: {probability, by_day, shape} (first event only) or {scale, shape}."""
    from .processes.toxicity import Weibull

    # a recurrence takes the keys of `first` here, so that `probability` or `by_day` is refused with the reason
    entry.known(*schema.keys("toxicity[].first"))
    if not first and (entry.has("probability") or entry.has("by_day")):
        name = "probability" if entry.has("probability") else "by_day"
        entry.fail("a recurrence's hazard is given by its `scale` (its clock starts at each restart)", name,
                   got=entry.data[name], expected="e.g. { scale = '40 d', shape = 1.0 }")
    if entry.has("scale") == (entry.has("probability") or entry.has("by_day")):
        entry.fail("give either `probability` with `by_day`, or `scale`", expected=_HAZARD_FORMS)
    from .processes.toxicity import SHAPE_RANGE

    shape = entry.number("shape", 1.0, expected="a positive number without quotes, e.g. 1.5")
    if not SHAPE_RANGE[0] <= shape <= SHAPE_RANGE[1]:
        entry.fail("a Weibull shape outside the plausible range", "shape", got=shape,
                   expected=f"{SHAPE_RANGE[0]:g} to {SHAPE_RANGE[1]:g} (1: a constant hazard)")
    try:
        if entry.has("scale"):
            scale = entry.quantity("scale", "time")
            if not scale > 0:
                entry.fail("must be positive", "scale", got=entry.data["scale"], expected="a time > 0, e.g. '60 d'")
            hazard = Weibull(scale=scale / HOURS_PER_DAY, shape=float(shape))
        else:
            probability = _probability(entry, "probability", open_low=True, open_high=True)
            by_day = entry.day("by_day")
            hazard = Weibull.from_probability(probability, by_days=float(by_day), shape=float(shape))
    except ImapkError as error:
        if error.source:  # the file's own check (a unit, a key): already names file and key
            raise
        raise _as_scenario_error(error, entry.source, entry.path(error.key.rsplit(".", 1)[-1])) from None
    entry.done()
    return hazard


def _whole_days(entry: _Table, name: str) -> int:
    """A length written as a time with a unit ('14 d', '2 wk') that is a whole number of days >= 1."""
    hours = entry.quantity(name, "time")
    days = hours / HOURS_PER_DAY
    if not (days >= 1 and abs(days - round(days)) <= 1e-9 * days):
        entry.fail("a hold lasts a whole number of days >= 1", name, got=entry.data[name], expected="e.g. '3 d'")
    return int(round(days))


def _hold_length(entry: _Table) -> HoldLength:
    """`hold = { days = 14 }` (fixed) or `{ low = '3 d', high = '14 d' }` (uniform over the whole days)."""
    from .processes.toxicity import HoldLength

    entry.known(*schema.keys("toxicity[].hold"))
    if entry.has("days") == (entry.has("low") or entry.has("high")):
        entry.fail("give either `days` (a fixed length) or `low` and `high` (uniform whole days)",
                   expected="{ days = 14 } or { low = '3 d', high = '14 d' }")
    if entry.has("days"):
        length = HoldLength("fixed", entry.number("days", integer=True, minimum=1,
                                                  expected="a whole number of days >= 1 without quotes, e.g. 14"))
    else:
        low, high = _whole_days(entry, "low"), _whole_days(entry, "high")
        if high < low:
            entry.fail("must not be below `low`", "high", got=entry.data["high"],
                       expected=f"at least {entry.data['low']!r}")
        length = HoldLength("uniform", low, high)
    entry.done()
    return length


def _exposure(entry: _Table):
    """`exposure = { above = '1500 ng/mL', factor = 2.0 }`: the hazard times `factor` over each dosing
    interval whose starting trough is at or above `above` (:class:`imapk.processes.toxicity.ExposureEffect`);
    or `exposure = { reference = '1000 ng/mL', gamma = 1.5 }`: the hazard times (C(t_j-) / reference)^gamma
    over each interval (:class:`imapk.processes.toxicity.ExposurePower`)."""
    from .processes.toxicity import ExposureEffect, ExposurePower

    if entry.has("reference") or entry.has("gamma"):
        entry.known(*schema.keys("toxicity[].exposure", "power form"))
        reference = entry.quantity("reference", "concentration")
        if not reference > 0:
            entry.fail("must be a positive concentration", "reference", got=entry.data["reference"],
                       expected="e.g. '1000 ng/mL'")
        gamma = entry.number("gamma", expected="an exponent >= 0 without quotes, e.g. 1.5")
        if not gamma >= 0:
            entry.fail("must be >= 0", "gamma", got=gamma, expected="an exponent >= 0 (0: no effect)")
        entry.done()
        return ExposurePower(reference=float(reference), gamma=float(gamma))
    entry.known(*schema.keys("toxicity[].exposure", "step form"))
    above = entry.quantity("above", "concentration")
    if not above > 0:
        entry.fail("must be a positive concentration", "above", got=entry.data["above"], expected="e.g. '1500 ng/mL'")
    factor = entry.number("factor", expected="a hazard ratio without quotes, e.g. 2.0")
    if not factor > 0:
        entry.fail("must be a positive hazard ratio", "factor", got=factor, expected="> 0 (1: no effect)")
    entry.done()
    return ExposureEffect(above=float(above), factor=float(factor))


def _toxicity(root: _Table, schedule: Schedule, end: float, conversions: list[str]) -> ToxicityProcess | None:
    """`[[toxicity]]`: toxicity-driven interruptions (:mod:`imapk.processes.toxicity`), or None."""
    entries = root.tables("toxicity")
    if not entries:
        return None
    if len(entries) > 1:
        entries[1].fail("one toxicity process per scenario for now", got=f"{len(entries)} [[toxicity]] entries",
                        expected="one [[toxicity]] entry")
    from .processes.toxicity import MANAGEMENTS, ToxicityProcess

    entry = entries[0]
    entry.known(*schema.keys("toxicity[]"))
    for name, example in (("label", "label = 'rash' (it names the holds and the toxicity's random draws)"),
                          ("first", f"first = {_HAZARD_FORMS}")):
        if not entry.has(name):
            entry.fail("required key is missing", name, expected=example)
    label = entry.string("label")
    if not label.strip():
        entry.fail("a toxicity needs a name", "label", got=label, expected="e.g. 'rash'")
    management = entry.string("management", "hold")
    if management not in MANAGEMENTS:
        entry.fail("unknown management", "management", got=management,
                   expected=" or ".join(f"'{m}'" for m in MANAGEMENTS))
    if management == "steroids":
        for name in ("hold", "restart"):
            if entry.has(name):
                entry.fail("steroid management treats the event without interrupting dosing", name,
                           got=entry.data[name], expected="no `hold` or `restart` with management = 'steroids'")
    first = _weibull(entry.table("first"), first=True)
    recurrence = entry.table("recurrence", None)
    recurrence = None if recurrence is None else _weibull(recurrence, first=False)
    if management == "hold" and not entry.has("hold"):
        entry.fail("required key is missing", "hold", expected="the length of each hold, "
                   "{ days = 14 } or { low = '3 d', high = '14 d' } (or management = 'steroids')")
    hold = entry.table("hold") if management == "hold" else None
    hold = _hold_length(hold) if hold is not None else None
    restart = _ladder(entry, conversions, "toxicity[].restart[]")
    discontinue_after = entry.number("discontinue_after", None, integer=True, minimum=1,
                                     expected="a whole number of events >= 1, e.g. 3")
    if discontinue_after is not None and discontinue_after > 1 and recurrence is None:
        entry.fail("without `recurrence` a patient has one event at most", "discontinue_after",
                   got=discontinue_after, expected="discontinue_after = 1, or a `recurrence` hazard")
    exposure = entry.table("exposure", None)
    exposure = None if exposure is None else _exposure(exposure)
    entry.done()
    try:
        process = ToxicityProcess(
            label=label, first=first, recurrence=recurrence, restart=restart, management=management,
            discontinue_after=discontinue_after, exposure=exposure, **({"hold": hold} if hold is not None else {}),
        )
    except ImapkError as error:
        raise _as_scenario_error(error, root.source, f"{entry.key}.{error.key.split('.', 1)[-1]}") from None
    _check_toxicity_schedule(entry, process, schedule, end)
    return process


#: The kinds of ``[[policy]]`` and the keys each takes besides `kind`.
POLICY_KINDS = schema.variants("policy[]")


def _policies(root: _Table, toxicity, end: float, conversions: list[str]) -> tuple:
    """`[[policy]]`: dosing rules evaluated as the simulation runs (:mod:`imapk.processes.policies`)."""
    from .processes.policies import DoseCap, StepUpIfNoEvent, TroughEscalation
    from .thresholds import THRESHOLDS

    policies = []
    for entry in root.tables("policy"):
        kind = entry.string("kind") if entry.has("kind") else None
        if kind is None:
            entry.fail("required key is missing", "kind", expected=" or ".join(f"kind = '{k}'" for k in POLICY_KINDS))
        if kind not in POLICY_KINDS:
            entry.fail("unknown policy", "kind", got=kind, expected=" or ".join(f"'{k}'" for k in POLICY_KINDS))
        entry.known(*schema.keys("policy[]", kind))
        try:
            if kind == "trough_escalation":
                day = entry.day("day")
                if day < 2 or (day - 1) * HOURS_PER_DAY >= end:
                    entry.fail("the trough is measured before a dose of the schedule after day 1", "day", got=day,
                               expected=f"a day from 2 to {math.ceil(end / HOURS_PER_DAY)}")
                below = entry.raw("below")
                targets = [name for name, t in THRESHOLDS.items() if t.kind == "trough_target"]
                names = " or ".join(f"'{name}'" for name in targets)
                if isinstance(below, str) and below in THRESHOLDS:
                    if THRESHOLDS[below].kind != "trough_target":
                        entry.fail("escalation is for troughs below an efficacy target; this threshold is a "
                                   "toxicity ceiling", "below", got=below,
                                   expected=f"a trough target ({names}) or a concentration, e.g. '1100 ng/mL'")
                    level = THRESHOLDS[below].value
                elif isinstance(below, str) and not any(c.isdigit() for c in below):
                    entry.fail("not a concentration nor a shipped trough target", "below", got=below,
                               expected=f"a trough target ({names}) or a concentration, e.g. '1100 ng/mL'")
                else:
                    level = entry.quantity("below", "concentration")
                assay = entry.raw("assay", True)
                if not isinstance(assay, bool):
                    entry.fail("must be true or false", "assay", got=assay, expected="true or false, without quotes")
                dose = _dose(entry, entry.path("dose"), entry.raw("dose"), conversions)
                within = entry.number("within", 0, integer=True, minimum=0,
                                      expected="a whole number of days >= 0 without quotes, e.g. 7")
                doses_taken = entry.number("doses_taken", 1, integer=True, minimum=1,
                                           expected="a whole number of doses >= 1 without quotes, e.g. 7")
                policies.append(TroughEscalation(day=day, below=float(level), dose=dose, assay=assay, within=within,
                                                 doses_taken=doses_taken))
            elif kind == "step_up_if_no_event":
                if toxicity is None:
                    entry.fail("a rule on recent toxicity events needs a [[toxicity]] process", "kind", got=kind,
                               expected="a [[toxicity]] section, or no step_up_if_no_event policy")
                days = entry.number("days", integer=True, minimum=1, expected="a whole number of days >= 1, e.g. 7")
                policies.append(StepUpIfNoEvent(days=days))
            else:
                if toxicity is None:
                    entry.fail("a dose cap after toxicity events needs a [[toxicity]] process", "kind", got=kind)
                events = entry.number("after_events", integer=True, minimum=1, expected="a whole number of events >= 1")
                if toxicity.discontinue_after is not None and events >= toxicity.discontinue_after:
                    entry.fail("therapy stops at that event: the cap would never apply", "after_events", got=events,
                               expected=f"fewer than toxicity discontinue_after = {toxicity.discontinue_after}")
                dose = _dose(entry, entry.path("dose"), entry.raw("dose"), conversions)
                policies.append(DoseCap(events=events, dose=dose))
        except ImapkError as error:
            if isinstance(error, ScenarioError) and error.source:
                raise
            name = (error.key or "").rsplit(".", 1)[-1]
            name = {"events": "after_events"}.get(name, name)
            raise _as_scenario_error(error, root.source, entry.path(name) if name else entry.key) from None
        entry.done()
    if sum(isinstance(p, StepUpIfNoEvent) for p in policies) > 1:
        root.fail("one step_up_if_no_event policy per scenario (the longest quiet spell would decide)", "policy",
                  expected="one [[policy]] with kind = 'step_up_if_no_event'")
    if sum(isinstance(p, TroughEscalation) for p in policies) > 1:
        root.fail("one trough-escalation policy per scenario for now", "policy",
                  expected="one [[policy]] with kind = 'trough_escalation'")
    return tuple(policies)


def _check_toxicity_schedule(entry: _Table, process: ToxicityProcess, schedule: Schedule, end: float) -> None:
    """Refuse a schedule on which some drawn hold could not be realised
    (:func:`imapk.processes.realise` would raise for some patients at run time)."""
    from .schedule import _check_length

    interrupts = process.management == "hold" or process.discontinue_after is not None
    if not interrupts:
        return  # the events change no dose
    holds = "hold or discontinue" if process.management == "hold" else "discontinue"
    for i, phase in enumerate(schedule.phases):
        per_day = HOURS_PER_DAY / phase.interval
        if abs(per_day - round(per_day)) > 1e-9 * per_day or round(per_day) < 1:
            entry.fail(f"the drawn events {holds} therapy for whole days, which needs a whole number of doses "
                       "per day", got=f"schedule.phases[{i}].interval = {phase.interval:g} h",
                       expected="intervals that divide 24 h (24 h, 12 h, 8 h, ...)")
    if abs(end / HOURS_PER_DAY - round(end / HOURS_PER_DAY)) > 1e-9 * end:
        entry.fail(f"the drawn events {holds} therapy for whole days, which needs a schedule of whole days",
                   got=f"the schedule ends after {end:g} h", expected="phases whose lengths add up to whole days")
    for s, step in enumerate(process.restart):
        for interval in sorted({phase.interval for phase in schedule.phases}, reverse=True):
            try:
                _check_length(step.days, interval, f"restart[{s}].days", "a ladder step", by_doses=False)
            except ImapkError as error:
                # a drawn hold can end in any phase: the step must be whole there
                raise ScenarioError(error.problem, source=entry.source, key=f"{entry.key}.{error.key}",
                                    got=error.got, expected=error.expected) from None


def _clocks(table: _Table) -> tuple[str, ...]:
    from .clock import CLOCK_MODES

    raw = table.raw("therapy_clock", "running")
    values = raw if isinstance(raw, list) else [raw]
    if not values or len(set(map(str, values))) != len(values):
        table.fail("must name each clock once", "therapy_clock", got=raw)
    for value in values:
        if value not in CLOCK_MODES:
            table.fail("unknown therapy clock", "therapy_clock", got=value, expected=f"one of {', '.join(CLOCK_MODES)} (or an array of them)")
    return tuple(values)


def _solver(root: _Table) -> Solver:
    from .simulation import METHODS

    table = root.table("solver", None)
    if table is None:
        return Solver()
    table.known(*schema.keys("solver"))
    method = table.string("method", "exact")
    if method not in METHODS:
        table.fail("unknown method", "method", got=method, expected=f"one of {', '.join(METHODS)}")
    from .engine import MIN_ATOL, MIN_RTOL  # (the package alone: no numba)

    rtol = table.number("rtol", None)
    if rtol is not None and not MIN_RTOL <= rtol < 1:
        table.fail("out of range", "rtol", got=rtol, expected=f"{MIN_RTOL:g} <= rtol < 1")
    atol = table.quantity("atol", "mass", None)
    if atol is not None and not atol > 0:
        table.fail("must be positive", "atol", got=table.data["atol"], expected="e.g. '1e-8 mg'")
    if atol is not None and atol < MIN_ATOL:
        table.fail("below what the integrator resolves", "atol", got=table.data["atol"],
                   expected=f">= {MIN_ATOL:g} mg, e.g. '1e-8 mg'")
    max_steps = table.number("max_steps", None, integer=True, minimum=1)
    if method == "exact" and any(x is not None for x in (rtol, atol, max_steps)):
        table.fail("tolerances apply to the ODE path only", "method", got=method, expected="method = 'ode'")
    table.done()
    return Solver(method, rtol, atol, max_steps)


def _default_window(end: float) -> tuple[float, None]:
    """From the day-29 trough on, or from day 1 when the schedule ends before day 29 (as
    :func:`imapk.simulation.default_window`)."""
    start = day_start(DEFAULT_WINDOW_START_DAY)
    return (start if start < end else 0.0, None)


def _verdict(root: _Table, end: float) -> tuple[tuple[Threshold, ...], tuple[float, float | None]]:
    verdict = root.table("verdict", None)
    if verdict is None:
        return (), _default_window(end)
    verdict.known(*schema.keys("verdict"))
    thresholds = []
    for i, name in enumerate(verdict.list_of("thresholds", str, example="['gist']")):
        try:
            thresholds.append(get_threshold(name))
        except ImapkError as error:
            raise ScenarioError(
                error.problem, source=root.source, key=f"verdict.thresholds[{i}]", got=name, expected=error.expected
            ) from None
    for entry in verdict.tables("custom"):
        entry.known(*schema.keys("verdict.custom[]"))
        kind = _threshold_kind(entry)
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


def _threshold_kind(entry: _Table) -> str:
    """The kind of a [[verdict.custom]] threshold; the older spellings are read with their old meaning,
    "ceiling" with a warning (it is ambiguous now that a ceiling can be on the trough)."""
    import warnings

    from .errors import format_message
    from .thresholds import CEILING_ADVICE, ThresholdKindWarning

    kind = entry.string("kind", TROUGH_TARGET)
    if kind in KINDS:
        return kind
    if kind not in LEGACY_KINDS:
        entry.fail(
            "unknown threshold kind", "kind", got=kind,
            expected="one of " + ", ".join(f"'{k}'" for k in KINDS),
        )
    if kind == "ceiling":
        warnings.warn(
            format_message(
                f"kind 'ceiling' is deprecated and read as '{LEGACY_KINDS[kind]}' (its old meaning); "
                + CEILING_ADVICE,
                source=entry.source, key=entry.path("kind"),
            ),
            ThresholdKindWarning,
            stacklevel=2,
        )
    return LEGACY_KINDS[kind]


def _day(t: float) -> int:
    return int(math.floor(t / HOURS_PER_DAY)) + 1


def parse_scenario(text: str, source: str = "<string>") -> Scenario:
    """Parse and validate scenario TOML `text`; `source` names the file in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"not valid TOML: {error}", source=source) from None
    return scenario_from_data(data, source, text)


def scenario_from_data(data: dict, source: str, text: str) -> Scenario:
    """Validate an already parsed scenario table (e.g. one cell of a sweep); `text` is kept for provenance."""
    root = _Table(data, source, "")
    if "sweep" in data:
        raise ScenarioError(
            "this file describes a sweep", key="sweep", expected=f"`imapk sweep {source} -o OUT.zarr`", source=source
        )
    root.known(*schema.keys(""))
    meta = root.table("scenario")
    meta.known(*schema.keys("scenario"))
    title = meta.string("title")
    description = meta.string("description", "")
    seed = meta.number("seed", None, integer=True, minimum=0)
    meta.done()
    models, changes, overrides = _model(root)
    occasion_timing = _occasion_timing(root)
    interactions = _interactions(root)
    schedule, end, clocks, conversions = _schedule(root)
    population, seed, quantification_limit = _population(root, seed)
    conversions = list(conversions)
    adherence, late = _adherence(root)
    toxicity = _toxicity(root, schedule, end, conversions)
    policies = _policies(root, toxicity, end, conversions)
    if (adherence is not None or late is not None or toxicity is not None
            or any(getattr(p, "assay", False) for p in policies)) and seed is None:
        raise ScenarioError(
            "random dosing processes need a seed", source=source, key="scenario.seed",
            got=f"{'[adherence]' if adherence is not None else '[[toxicity]]' if toxicity is not None else '[[policy]]'} "
                "without a seed",
            expected="seed = 20260101 (any integer >= 0) in [scenario]",
        )
    if changes and (population.size != 1 or population.iiv or population.iov_cl or any(m.occasion_days for m in models)):
        raise ScenarioError(
            "[[model.changes]] apply to one subject without variability or model occasions",
            source=source,
            key="model.changes",
            expected="population.size = 1 and iiv = false, or a model with its own occasion effects",
        )
    thresholds, window = _verdict(root, end)
    solver = _solver(root)
    output = root.table("output", None)
    dense_step = 1.0
    peripheral = False
    if output is not None:
        output.known(*schema.keys("output"))
        peripheral = output.raw("peripheral", False)
        if not isinstance(peripheral, bool):
            output.fail("must be true or false", "peripheral", got=peripheral, expected="true or false, without quotes")
        dense = output.raw("dense", True)
        if not isinstance(dense, bool):
            output.fail("must be true or false", "dense", got=dense, expected="true or false, without quotes")
        dense_step = output.quantity("dense_step", "time", 1.0) if dense else None
        if dense_step is not None and dense_step <= 0:
            output.fail("must be positive", "dense_step", got=output.data.get("dense_step"), expected="e.g. '1 h'")
        if peripheral and dense_step is None:
            output.fail("the peripheral amount is reported on the dense grid", "peripheral", got=True,
                        expected="dense = true")
        from .covariates import REFERENCE_SUBJECT  # the structure does not depend on the covariates

        without = [m.name for m in models if m.typical_params(REFERENCE_SUBJECT).q is None]
        if peripheral and without:
            output.fail(f"model {without[0]} has no peripheral compartment", "peripheral", got=True,
                        expected="a two-compartment model (e.g. eechoute2012), or peripheral = false")
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
        models=models,
        changes=changes,
        schedule=schedule,
        thresholds=thresholds,
        window=window,
        dense_step=dense_step,
        population=population,
        seed=seed,
        overrides=tuple(overrides.items()),
        solver=solver,
        therapy_clocks=clocks,
        quantification_limit=quantification_limit,
        occasion_timing=occasion_timing,
        interactions=interactions,
        peripheral=peripheral,
        dose_conversions=tuple(conversions),
        adherence=adherence,
        toxicity=toxicity,
        policies=policies,
        late=late,
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate the scenario file at `path`.

    The file must be a regular file of at most :data:`imapk.files.SCENARIO_MAX_BYTES`, checked
    before it is read (a named pipe or a device is refused, not waited on), in UTF-8 with or
    without a byte order mark.

    Raises
    ------
    ScenarioError
        If the file is missing or not a regular file, too large, not UTF-8 text (the message gives
        the first bad byte and its line and column), a NetCDF result, not valid TOML (also when
        arrays or tables are nested too deeply to parse), or not a valid scenario.
    """
    import sys

    from .files import SCENARIO_MAX_BYTES, check_input_file, read_text, refuse_result_file

    path = Path(path)
    source = str(path)
    # Before any read, but before the size limit too: a result (often larger) is named as such.
    check_input_file(path, "scenario file", sys.maxsize, error=ScenarioError)
    refuse_result_file(path, ScenarioError)  # imapk's own output given by mistake: named, with the command to use
    text = read_text(path, "scenario file", SCENARIO_MAX_BYTES, error=ScenarioError)
    try:
        return parse_scenario(text, source)
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise ScenarioError(
            "not valid TOML: arrays or inline tables nested too deeply", source=source,
            expected="a scenario with a few levels of nesting",
        ) from None


#: Names that moved to :mod:`imapk.runner` (running is not reading); still importable from here.
_MOVED_TO_RUNNER = ("run_scenario", "rerun", "provenance", "check_population")


def __getattr__(name: str):
    if name in _MOVED_TO_RUNNER:
        from . import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'imapk.scenario' has no attribute {name!r}")
