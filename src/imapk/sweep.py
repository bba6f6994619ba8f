"""Parameter sweeps: a scenario times one or more axes of values, run in chunks with dask into Zarr.

A sweep file names a base scenario and its axes::

    [sweep]
    base = "gist-rash-case-report-population.toml"   # relative to the sweep file
    subjects_per_chunk = 1000                         # optional
    zip = [["restart_dose", "restart_label"]]         # optional: axes that move together

    [[sweep.axes]]
    name = "hold_length"                  # the result's dimension
    key = "schedule.holds[0].days"        # the scenario value it replaces
    values = [3, 7, 14]
    units = "d"                           # optional, for plain numbers

A scenario file may also carry its own ``[sweep]`` table (without ``base``). Every cell is the base
scenario with the axis values substituted and validated like a scenario; errors name the sweep
file, the axis and the bad value. Subject i is the same subject in every cell (common random
numbers), so differences between cells are the effect of the swept value.

Inputs are read once, when the sweep is loaded: the sweep and base scenario texts and the content of
every covariate file the cells name. The chunk tasks get that content, never a path, so a file
edited during the sweep, or a file of the same name in a worker's own folder (``--scheduler``), cannot
mix two populations; the store path is made absolute on the client. The store records the sha256 of
every input (``imapk_inputs``) and a rerun with a changed file is refused, naming the file.

Execution: work is split in chunks of one cell x a block of subjects; each chunk is simulated and
written straight into its own region of a chunked Zarr store, its checksum is recorded in
``chunk_checksum`` (see CHECKSUM_METHOD), then it is marked done in the store's ``chunk_done``
array. A rerun of the same command verifies every chunk marked done against its checksum, skips
those that match and computes the others again (a warning says how many); a store made from a
different sweep is refused. :func:`open_sweep` refuses a finished store whose data do not match
their checksums. Local worker processes (``processes=True``) end with the sweep's process, even
when it is killed (see :func:`_die_with_parent`); with a scheduler, a Ctrl-C cancels the chunks
left, and a scheduler without any worker for WORKERS_GONE_SECONDS stops the sweep.

A sweep whose scenarios draw doses at random (``[adherence]``, ``[[toxicity]]``, ``[[policy]]``) also
stores, per cell and patient, what the processes did (PROCESS_VARIABLES: held and missed doses,
toxicity events, discontinuation, escalation by a TDM policy), written by the chunk tasks and covered
by their checksums (CHECKSUM_METHOD_PROCESSES); :func:`summary_table` summarises them per cell. A
sweep without such processes writes the store it always did.

Summaries per cell are computed from the store, one block of doses (all subjects) at a time, so
memory stays bounded whatever the population (a cell whose troughs exceed ``SUMMARY_BLOCK_BYTES``
stores them in Zarr chunks of that many doses); the quantiles are exact and bit-identical to
``numpy.quantile``. The arrays no chunk writes (summaries, dose grids, coordinates) then get a
checksum each in the attribute ``array_checksums``, checked like the chunks' by a rerun and by the
readers. The completion mark (the store attribute ``imapk_complete``) is written last: imapk's
readers refuse a store without it.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import itertools
import json
import math
import os
import re
import shutil
import sys
import tempfile
import tomllib
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .errors import ImapkError, OutputError
from .io import plain_value
from .thresholds import TROUGH_CEILING, TROUGH_TARGET, kinds_of
from .quantiles import lerp as _lerp
from .quantiles import order_statistics as _order_statistics
from .quantiles import quantile_plan as _quantile_plan
from .units import DIMENSIONS, parse_quantity

__all__ = ["Axis", "Sweep", "load_sweep", "run_sweep", "open_sweep", "summary_table", "summary_units", "header_with_units",
           "check_sweep_store", "SweepError"]

DEFAULT_SUBJECTS_PER_CHUNK = 10_000
#: Bytes of troughs (all subjects of one cell x a block of doses) that the summaries hold at once
#: per worker; cells too large for one block get their trough stored in blocks of doses too.
SUMMARY_BLOCK_BYTES = 256 * 2**20
#: What the summaries may hold at once over all their threads (each holds about two blocks).
SUMMARY_MEMORY_BYTES = 1536 * 2**20
COMPLETE = "imapk_complete"
#: Per-subject variables stored for every cell.
SUBJECT_VARIABLES = ("trough", "time_below", "longest_below", "time_above")
#: Per-subject variables on (subject, threshold) among them.
_THRESHOLD_VARIABLES = ("time_below", "longest_below", "time_above")
#: Per-subject outcomes of the random dosing processes, stored for every cell (on (cells..., subject))
#: only when the sweep's scenarios have such processes: held and missed doses with any of them, the
#: toxicity's events and discontinuation with a ``[[toxicity]]``, escalation with a trough-escalation policy.
PROCESS_VARIABLES = ("held_dose_count", "missed_dose_count", "toxicity_event_count", "toxicity_discontinued",
                     "tdm_escalated")
#: How each is stored: counts as int32, yes/no as int8 0/1.
_PROCESS_DTYPES = {"held_dose_count": np.int32, "missed_dose_count": np.int32, "toxicity_event_count": np.int32,
                   "toxicity_discontinued": np.int8, "tdm_escalated": np.int8}
#: With a scheduler: how often the chunk futures are polled, and how long the scheduler may have
#: no worker at all before the sweep stops [s].
POLL_SECONDS = 0.1
WORKERS_GONE_SECONDS = 60.0
#: How ``chunk_checksum`` is computed (also recorded in the store's attributes).
CHECKSUM_METHOD = (
    "2**32 + CRC-32 of the bytes of the chunk's region (its subjects, every column) of trough, time_below, "
    "longest_below and time_above, in that order, as stored (C order)"
)
#: ``chunk_checksum`` of a store with the per-subject variables of random dosing processes (a store
#: without them records CHECKSUM_METHOD, as before such variables existed).
CHECKSUM_METHOD_PROCESSES = (
    "2**32 + CRC-32 of the bytes of the chunk's region (its subjects, every column) of trough, time_below, "
    "longest_below and time_above, then of those of held_dose_count, missed_dose_count, toxicity_event_count, "
    "toxicity_discontinued and tdm_escalated the store has, in that order, as stored (C order)"
)
_CHECKSUM_METHODS = (CHECKSUM_METHOD, CHECKSUM_METHOD_PROCESSES)
_KEY_PART = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)$")


class SweepError(ImapkError):
    """A sweep file or a sweep store is unusable."""


@dataclass(frozen=True)
class Axis:
    """One swept value: the dimension `name`, the dotted scenario `key` it replaces, and its values."""

    name: str
    key: str
    values: tuple
    coordinate: np.ndarray
    units: str | None


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: the base scenario's data, its axes grouped into dimensions, and provenance."""

    source: str
    base_source: str
    base_data: dict
    base_text: str
    dimensions: tuple[tuple[Axis, ...], ...]  # each entry: the axes that move together along one dimension
    subjects_per_chunk: int
    digest: str
    #: (name, citation) of every population model the cells use, found while validating them.
    parameter_sets: tuple[tuple[str, str], ...] = ()
    #: The sweep file's text, read once.
    text: str = ""
    #: Every covariate file the cells name, read once when the sweep is loaded: (the path as the
    #: cells' scenarios name it, its content). Chunk tasks get these bytes, never a path to open.
    files: tuple[tuple[str, bytes], ...] = ()
    #: (role, file, sha256 of its content) of every input, recorded in the store and checked on resume.
    inputs: tuple[tuple[str, str, str], ...] = ()

    @property
    def dims(self) -> tuple[str, ...]:
        return tuple(group[0].name for group in self.dimensions)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(group[0].values) for group in self.dimensions)

    def cells(self):
        """(index tuple, {key: value}) for every cell, in C order."""
        for index in itertools.product(*(range(n) for n in self.shape)):
            values = {}
            for group, i in zip(self.dimensions, index):
                for axis in group:
                    values[axis.key] = axis.values[i]
            yield index, values


def _fail(problem: str, source: str, key: str | None = None, **details) -> None:
    raise SweepError(problem, source=source, key=key, **details)


def _starts_with_number(text: str) -> bool:
    """True when the first word of `text` reads as a number ("300 mg", "1e3 ng/mL"), not for a label."""
    words = text.split(None, 1)
    try:
        float(words[0]) if words else float("x")
    except ValueError:
        return False
    return True


def _coordinate(values: list, units: str | None, source: str, key: str) -> tuple[np.ndarray, str | None]:
    """Numbers stay numbers; quantities ('300 mg') become canonical numbers with their unit; else strings."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=float), units
    if all(isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=bool), units
    if all(isinstance(v, str) for v in values):
        found = None
        # A quantity is a number then a unit: labels that merely end in a unit word ("rash d") stay strings.
        if all(_starts_with_number(v) for v in values):
            for dimension, table in DIMENSIONS.items():
                unit = values[0].split(None, 1)[-1].replace(" ", "") if len(values[0].split(None, 1)) == 2 else None
                if unit in table:
                    found = dimension
                    break
        if found is not None:
            try:
                numbers = [parse_quantity(v, found, key=key, source=source) for v in values]
            except ImapkError as error:
                raise SweepError(error.problem, source=source, key=key, got=error.got, expected=error.expected) from None
            from .units import CANONICAL_UNIT

            return np.asarray(numbers), CANONICAL_UNIT[found]
        return np.asarray(values, dtype=str), units
    _fail("values must be all numbers, all strings or all booleans", source, key, got=values)


def _set(data: dict, key: str, value, source: str, where: str) -> None:
    """Replace the value at dotted `key` (with [i] indices) in nested TOML data; the key must exist."""
    node = data
    parts = key.split(".")
    for n, part in enumerate(parts):
        match = _KEY_PART.match(part)
        if not match:
            _fail("cannot read this key", source, where, got=key, expected="e.g. schedule.holds[0].days")
        name, indices = match.group(1), [int(i) for i in re.findall(r"\[(\d+)\]", match.group(2))]
        last = n == len(parts) - 1 and not indices
        if not isinstance(node, dict) or (name not in node and not last):
            _fail("the base scenario has no such key", source, where, got=key)
        if last:
            if name not in node and n == 0:
                _fail("the base scenario has no such key", source, where, got=key)
            node[name] = value
            return
        node = node[name]
        for j, i in enumerate(indices):
            if not isinstance(node, list) or i >= len(node):
                _fail("the base scenario has no such entry", source, where, got=key)
            if n == len(parts) - 1 and j == len(indices) - 1:
                node[i] = value
                return
            node = node[i]


def _digest(text: str, base_text: str, files: tuple[tuple[str, bytes], ...]) -> str:
    """Fingerprint of everything a sweep's results depend on: the sweep and base scenario texts, the
    content of the covariate files they name (as read once by :func:`load_sweep`), and the imapk version."""
    from . import __version__

    digest = hashlib.sha256((text + "\0" + base_text + "\0" + __version__).encode())
    for _, content in files:
        digest.update(content)
    return digest.hexdigest()


def _parse_toml(text: str, source: str, what: str = "") -> dict:
    """TOML text to a table, as one-line errors (also for nesting too deep for the parser)."""
    prefix = f"{what} is " if what else ""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SweepError(f"{prefix}not valid TOML: {error}", source=source) from None
    except RecursionError:
        raise SweepError(f"{prefix}not valid TOML: arrays or inline tables nested too deeply", source=source) from None


def _read_input(path: str, source: str, key: str) -> bytes:
    """The bytes of an input file named by a scenario, read once on the machine that loads the sweep."""
    from .files import COVARIATE_MAX_BYTES, check_input_file

    if Path(path).exists():
        try:
            check_input_file(path, "covariate file", COVARIATE_MAX_BYTES, error=SweepError)
        except SweepError as error:
            raise SweepError(error.problem, source=source, key=key, got=path, expected=error.expected) from None
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise SweepError("no such covariate file", source=source, key=key, got=path) from None
    except OSError as error:
        raise SweepError(f"cannot read the covariate file: {error.strerror or error}", source=source, key=key, got=path) from None


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep file (every cell is validated as a scenario)."""
    from .scenario import scenario_from_data
    from .variables import SPECS

    from .files import SCENARIO_MAX_BYTES, check_input_file, read_text, refuse_result_file

    path = Path(path)
    source = str(path)
    if not path.exists():
        raise SweepError("no such sweep file", source=source)
    check_input_file(path, "sweep file", sys.maxsize, error=SweepError)  # no wait on a FIFO
    refuse_result_file(path, SweepError)
    text = read_text(path, "sweep file", SCENARIO_MAX_BYTES, error=SweepError)
    data = _parse_toml(text, source)
    spec = data.pop("sweep", None)
    if not isinstance(spec, dict):
        _fail("needs a [sweep] table with [[sweep.axes]]", source, "sweep")
    from . import scenario_schema

    unknown = sorted(set(spec) - set(scenario_schema.keys("sweep")))
    if unknown:
        _fail("unknown key", source, f"sweep.{unknown[0]}",
              expected=f"one of: {', '.join(sorted(scenario_schema.keys('sweep')))}")
    if "base" in spec:
        if data:
            _fail("a sweep file with `base` holds only the [sweep] table", source, sorted(data)[0])
        base_path = path.parent / str(spec["base"])
        if not base_path.exists():
            raise SweepError("no such base scenario", source=source, key="sweep.base", got=str(spec["base"]))
        base_text = read_text(base_path, "scenario file", SCENARIO_MAX_BYTES, error=SweepError)
        base_data = _parse_toml(base_text, str(base_path), what="base scenario")
        base_source = str(base_path)
    else:
        base_text, base_data, base_source = text, data, source
    chunk = spec.get("subjects_per_chunk", DEFAULT_SUBJECTS_PER_CHUNK)
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        _fail("must be a whole number >= 1", source, "sweep.subjects_per_chunk", got=chunk)
    axes_data = spec.get("axes")
    if not isinstance(axes_data, list) or not axes_data:
        _fail("needs at least one [[sweep.axes]] entry", source, "sweep.axes")
    axes: dict[str, Axis] = {}
    reserved = set(SPECS) | {"chunk_done", "chunk_checksum", "subject_block"}
    for i, entry in enumerate(axes_data):
        where = f"sweep.axes[{i}]"
        if not isinstance(entry, dict):
            _fail("must be a table", source, where, got=entry)
        extra = sorted(set(entry) - set(scenario_schema.keys("sweep.axes[]")))
        if extra:
            _fail("unknown key", source, f"{where}.{extra[0]}",
                  expected=f"one of: {', '.join(sorted(scenario_schema.keys('sweep.axes[]')))}")
        name, key, values = entry.get("name"), entry.get("key"), entry.get("values")
        if not isinstance(name, str) or not re.match(r"^[a-z][a-z0-9_]*$", name):
            _fail("needs a `name` in lower_snake_case", source, f"{where}.name", got=name)
        if name in reserved:
            _fail(
                "this name is already a variable or dimension of the results (xarray would silently replace one)",
                source, f"{where}.name", got=name, expected="another name, e.g. 'typical_cl' or 'restart_dose'",
            )
        if name in axes:
            _fail("two axes have the same name", source, f"{where}.name", got=name)
        if not isinstance(key, str):
            _fail("needs the dotted `key` of the scenario value it sweeps", source, f"{where}.key", expected="e.g. 'schedule.holds[0].days'")
        if any(axis.key == key for axis in axes.values()):
            # Both would write the same scenario value: the later one would silently win.
            _fail("two axes sweep the same key", source, f"{where}.key", got=key)
        if not isinstance(values, list) or not values:
            _fail("needs a non-empty array of `values`", source, f"{where}.values", got=values)
        units = entry.get("units")
        coordinate, units = _coordinate(values, units, source, f"{where}.values")
        if len(set(map(str, values))) != len(values):
            _fail("a value appears twice", source, f"{where}.values", got=values)
        for a, b in itertools.combinations(range(len(values)), 2):
            if coordinate[a] == coordinate[b]:  # other spellings of one value ('200 mg', '0.2 g'; 3, 3.0)
                _fail(
                    f"{values[a]!r} and {values[b]!r} are the same {name}: the results would have two equal "
                    "coordinates", source, f"{where}.values", got=values, expected="each value once",
                )
        axes[name] = Axis(name, key, tuple(values), coordinate, units)
    groups = []
    zipped: set[str] = set()
    for j, group in enumerate(spec.get("zip", [])):
        if not isinstance(group, list) or len(group) < 2 or any(n not in axes for n in group) or len(set(group)) != len(group):
            _fail("each zip entry lists two or more axis names", source, f"sweep.zip[{j}]", got=group, expected=f"names among {', '.join(axes)}")
        lengths = {len(axes[n].values) for n in group}
        if len(lengths) != 1:
            _fail("zipped axes need the same number of values", source, f"sweep.zip[{j}]", got={n: len(axes[n].values) for n in group})
        if zipped & set(group):
            _fail("an axis is zipped twice", source, f"sweep.zip[{j}]", got=group)
        zipped |= set(group)
        groups.append(tuple(axes[n] for n in group))
    for name, axis in axes.items():
        if name not in zipped:
            groups.append((axis,))
    order = {name: i for i, name in enumerate(axes)}
    groups.sort(key=lambda g: order[g[0].name])
    sweep = Sweep(source, base_source, base_data, base_text, tuple(groups), chunk, "", text=text)
    # Validate every cell now: a bad value fails before any work starts.
    where = {axis.key: i for i, axis in enumerate(axes.values())}
    models: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for index, values in sweep.cells():
        cell_data = copy.deepcopy(base_data)
        for group in sweep.dimensions:
            for axis in group:
                _set(cell_data, axis.key, values[axis.key], source, f"sweep.axes[{where[axis.key]}].key")
        try:
            cell = scenario_from_data(cell_data, base_source, base_text)
        except ImapkError as error:
            raise _cell_error(error, sweep, values, where) from None
        for model in cell.models:
            models.setdefault(model.name, model.citation)
        name = cell.population.covariate_file
        if name is not None and name not in files:
            # Read once, here: every chunk gets these bytes, so a file edited (or a different file
            # found by a worker in another folder) during the sweep cannot mix two populations.
            files[name] = _read_input(name, base_source, "population.covariates_file")
    inputs = [("sweep file", source, hashlib.sha256(text.encode()).hexdigest())]
    if base_source != source:
        inputs.append(("base scenario", base_source, hashlib.sha256(base_text.encode()).hexdigest()))
    inputs += [("covariate file", name, hashlib.sha256(content).hexdigest()) for name, content in files.items()]
    return replace(
        sweep, parameter_sets=tuple(models.items()), files=tuple(files.items()), inputs=tuple(inputs),
        digest=_digest(text, base_text, tuple(files.items())),
    )


def _cell_error(error: ImapkError, sweep: Sweep, values: dict, where: dict) -> SweepError:
    """One line: the sweep file, the axis whose value the scenario refused (if one), the cell, the problem."""
    label = ", ".join(f"{axis.name} = {values[axis.key]!r}" for group in sweep.dimensions for axis in group)
    key = error.key or ""
    axis = next((i for k, i in where.items() if key == k or key.startswith((f"{k}.", f"{k}["))), None)
    problem = f"cell ({label}): {f'{key}: ' if key else ''}{error.problem}"
    if error.source and error.source != sweep.source:
        problem += f" (in the base scenario {error.source})"
    return SweepError(
        problem, source=sweep.source, key=None if axis is None else f"sweep.axes[{axis}]",
        got=error.got, expected=error.expected,
    )


def cell_scenario(sweep: Sweep, values: dict):
    """The scenario of one cell."""
    from .scenario import scenario_from_data

    data = copy.deepcopy(sweep.base_data)
    for key, value in values.items():
        _set(data, key, value, sweep.source, "sweep")
    return scenario_from_data(data, sweep.base_source, sweep.base_text)


@contextlib.contextmanager
def _with_inputs(sweep: Sweep, scenario):
    """The scenario with its covariate file replaced by a private copy of the content the sweep read
    when it was loaded (a temporary file, removed on exit): nothing is read from the original path,
    wherever this runs. Errors name the original file."""
    name = scenario.population.covariate_file
    if name is None:
        yield scenario
        return
    content = dict(sweep.files)[name]
    with tempfile.TemporaryDirectory(prefix="imapk-inputs-") as folder:
        copy_path = str(Path(folder) / Path(name).name)
        Path(copy_path).write_bytes(content)
        try:
            yield replace(scenario, population=replace(scenario.population, covariate_file=copy_path))
        except ImapkError as error:
            if error.source and folder in error.source:
                raise type(error)(
                    error.problem, source=error.source.replace(copy_path, name), key=error.key,
                    got=error.got, expected=error.expected,
                ) from None
            raise


@dataclass(frozen=True)
class _Layout:
    """Shapes shared by every cell, and the per-cell dose grids."""

    n_subjects: int
    n_doses: int
    thresholds: tuple
    dose_time: np.ndarray  # (*shape, n_doses), NaN-padded
    dose_planned: np.ndarray
    dose_given: np.ndarray
    dose_status: np.ndarray  # int8 codes, -1 padding
    day: np.ndarray  # int64, 0 padding
    #: The PROCESS_VARIABLES the cells' random dosing processes give (none without any).
    processes: tuple[str, ...] = ()


def _layout(sweep: Sweep) -> _Layout:
    tables, sizes, thresholds, processes = {}, set(), set(), set()
    known: dict[str | None, int] = {}  # population size per covariate file (each parsed once)
    for index, values in sweep.cells():
        scenario = cell_scenario(sweep, values)
        if len(scenario.models) != 1 or len(scenario.therapy_clocks) != 1:
            raise SweepError(
                "a swept base scenario must name one model and one therapy clock (sweep them as axes instead)",
                source=sweep.source,
                key="sweep.base",
            )
        tables[index] = scenario.schedule.lower()
        processes |= _process_variables(scenario)
        file = scenario.population.covariate_file
        if file not in known or file is None:
            with _with_inputs(sweep, scenario) as copied:
                known[file] = _population_size(copied)
        sizes.add(known[file])
        thresholds.add(tuple((t.name, t.value, t.kind) for t in scenario.thresholds))
    if len(sizes) != 1:
        raise SweepError("the population size must be the same in every cell", source=sweep.source, got=sorted(sizes))
    if len(thresholds) != 1:
        raise SweepError("the thresholds must be the same in every cell", source=sweep.source)
    n_doses = max(len(t) for t in tables.values())
    shape = sweep.shape
    dose_time = np.full((*shape, n_doses), np.nan)
    planned = np.full((*shape, n_doses), np.nan)
    given = np.full((*shape, n_doses), np.nan)
    status = np.full((*shape, n_doses), -1, dtype=np.int8)
    day = np.zeros((*shape, n_doses), dtype=np.int64)
    for index, table in tables.items():
        m = len(table)
        dose_time[index][:m] = table.time
        planned[index][:m] = table.planned
        given[index][:m] = table.given
        status[index][:m] = table.status
        day[index][:m] = table.day
    return _Layout(sizes.pop(), n_doses, thresholds.pop(), dose_time, planned, given, status, day,
                   tuple(name for name in PROCESS_VARIABLES if name in processes))


def _process_variables(scenario) -> set[str]:
    """The PROCESS_VARIABLES a scenario's random dosing processes give (empty without any)."""
    from .processes.policies import TroughEscalation

    toxicity, adherence = getattr(scenario, "toxicity", None), getattr(scenario, "adherence", None)
    policies = tuple(getattr(scenario, "policies", ()))
    if toxicity is None and adherence is None and not policies:
        return set()
    names = {"held_dose_count", "missed_dose_count"}
    if toxicity is not None:
        names |= {"toxicity_event_count", "toxicity_discontinued"}
    if any(isinstance(p, TroughEscalation) for p in policies):
        names.add("tdm_escalated")
    return names


def _population_size(scenario) -> int:
    population = scenario.population
    if population.covariate_file:
        from .population import read_covariate_csv

        return len(next(iter(read_covariate_csv(population.covariate_file).values())))
    return population.size


def _attrs(name: str) -> dict:
    from .variables import SPECS

    spec = SPECS[name]
    attrs = {"long_name": spec.long_name, "description": spec.description}
    if spec.units:
        attrs["units"] = spec.units
    return attrs


def _template(sweep: Sweep, layout: _Layout):
    """The store's lazy template: every variable with its dims, chunks, units and descriptions."""
    import dask.array as da
    import xarray as xr

    from . import __version__
    from .metrics import DEFAULT_QUANTILES

    dims, shape = sweep.dims, sweep.shape
    method = CHECKSUM_METHOD_PROCESSES if layout.processes else CHECKSUM_METHOD
    n, m, s = layout.n_subjects, layout.n_doses, min(sweep.subjects_per_chunk, layout.n_subjects)
    dose_chunk = _dose_chunk(n, m)
    blocks = math.ceil(n / sweep.subjects_per_chunk)
    names = [t[0] for t in layout.thresholds]
    kinds = [t[2] for t in layout.thresholds]
    cell_chunks = (1,) * len(dims)

    def lazy(extra_shape, extra_chunks, dtype=float, fill=np.nan):
        return da.full((*shape, *extra_shape), fill, chunks=(*cell_chunks, *extra_chunks), dtype=dtype)

    data = {
        "trough": ((*dims, "subject", "dose"), lazy((n, m), (s, dose_chunk))),
        **{
            name: ((*dims, "subject", "threshold"), lazy((n, len(names)), (s, len(names))))
            for name in _THRESHOLD_VARIABLES
        },
        "target_attainment": ((*dims, "threshold", "dose"), lazy((len(names), m), (len(names), m))),
        **(
            {"trough_ceiling_exceedance": ((*dims, "threshold", "dose"), lazy((len(names), m), (len(names), m)))}
            if TROUGH_CEILING in kinds else {}
        ),
        "trough_quantile": ((*dims, "quantile", "dose"), lazy((len(DEFAULT_QUANTILES), m), (len(DEFAULT_QUANTILES), m))),
        "mean_time_below": ((*dims, "threshold"), lazy((len(names),), (len(names),))),
        "mean_time_above": ((*dims, "threshold"), lazy((len(names),), (len(names),))),
        **{
            name: ((*dims, "subject"), lazy((n,), (s,), dtype=_PROCESS_DTYPES[name], fill=0))
            for name in layout.processes
        },
        "chunk_done": ((*dims, "subject_block"), lazy((blocks,), (1,), dtype=np.int8, fill=0)),
        "chunk_checksum": ((*dims, "subject_block"), lazy((blocks,), (1,), dtype=np.int64, fill=0)),
        "dose_time": ((*dims, "dose"), layout.dose_time),
        "dose_planned": ((*dims, "dose"), layout.dose_planned),
        "dose_given": ((*dims, "dose"), layout.dose_given),
        "dose_status": ((*dims, "dose"), layout.dose_status),
        "day": ((*dims, "dose"), layout.day),
    }
    ds = xr.Dataset({name: (d, v) for name, (d, v) in data.items()})
    for name in ds.data_vars:
        if name not in ("chunk_done", "chunk_checksum"):
            ds[name].attrs.update(_attrs(name))
    ds["chunk_done"].attrs.update(
        long_name="chunk done",
        description="1 once the chunk (cell x block of subjects_per_chunk subjects) is written; a rerun skips it",
    )
    ds["chunk_checksum"].attrs.update(
        long_name="chunk checksum",
        description=f"{method}; 0: none recorded. A rerun recomputes a chunk marked done whose data "
        "do not match it, and the readers refuse such a store",
    )
    ds["dose_status"].attrs.update(
        flag_values=[-1, 0, 1, 2], flag_meanings="padding given held missed",
        description="Status code of the scheduled dose: 0 given, 1 held, 2 missed; -1 pads cells with fewer doses",
    )
    ds["day"].attrs["description"] += "; 0 pads cells with fewer doses"
    for name in layout.processes:
        if _PROCESS_DTYPES[name] == np.int8:
            ds[name].attrs.update(flag_values=[0, 1], flag_meanings="no yes")
    coords = {
        "subject": np.arange(n),
        "dose": np.arange(m),
        "threshold": np.array(names),
        "threshold_value": ("threshold", np.array([t[1] for t in layout.thresholds], dtype=float)),
        "threshold_kind": ("threshold", np.array([t[2] for t in layout.thresholds])),
        "quantile": np.asarray(DEFAULT_QUANTILES),
    }
    for group in sweep.dimensions:
        for j, axis in enumerate(group):
            coord = (group[0].name, axis.coordinate)
            coords[axis.name] = coord
    ds = ds.assign_coords(coords)
    for group in sweep.dimensions:
        for axis in group:
            ds[axis.name].attrs.update(
                {"long_name": axis.name.replace("_", " "), "description": f"Swept scenario value `{axis.key}`"}
            )
            if axis.units:
                ds[axis.name].attrs["units"] = axis.units
    for name in ("subject", "dose", "threshold", "threshold_value", "threshold_kind", "quantile"):
        ds[name].attrs.update(_attrs(name))
    ds.attrs.update(
        imapk_version=__version__,
        imapk_sweep_digest=sweep.digest,
        sweep=sweep.text,
        imapk_inputs=json.dumps([{"role": r, "file": f, "sha256": h} for r, f, h in sweep.inputs]),
        chunk_checksums=method,
        scenario=sweep.base_text,
        swept_dimensions=json.dumps(list(dims)),
        subjects_per_chunk=s,
        **_provenance(sweep),
    )
    return ds


def _provenance(sweep: Sweep) -> dict:
    """The record of a sweep store beyond its two texts: library versions, the covariate file's
    content (shared by every cell), and the parameter sets (name, citation) its cells use."""
    from .runner import provenance

    _, first = next(iter(sweep.cells()))
    with _with_inputs(sweep, cell_scenario(sweep, first)) as scenario:
        record = provenance(scenario)
    record["parameter_sets"] = json.dumps(dict(sweep.parameter_sets))
    return record


def _dose_chunk(n_subjects: int, n_doses: int) -> int:
    """Doses per Zarr chunk of `trough`: all of them, unless one cell's troughs exceed the summary block."""
    return int(min(n_doses, max(1, SUMMARY_BLOCK_BYTES // (8 * max(n_subjects, 1)))))


def _chunk_variables(root) -> list[str]:
    """The per-subject variables a chunk writes (a store begun by an earlier version may lack some)."""
    return [name for name in (*SUBJECT_VARIABLES, *PROCESS_VARIABLES) if name in root]


def _checksum(arrays) -> int:
    """``chunk_checksum`` of a chunk's arrays (see CHECKSUM_METHOD): never 0, which means "none".

    CRC-32 detects what happens to files (missing, truncated, garbage, stale or another chunk's
    data); it is no defence against deliberate tampering, and is about 3x faster than SHA-256.
    """
    crc = 0
    for array in arrays:
        crc = zlib.crc32(np.ascontiguousarray(array), crc)
    return (1 << 32) + crc


def _array_checksums(out: str) -> dict[str, int]:
    """CRC-32 of every array of the store that no chunk task writes: the summaries, the dose grids
    and the coordinates (recorded in the attribute ``array_checksums`` when the store is finished)."""
    import zarr

    root = zarr.open_group(out, mode="r", use_consolidated=False)
    sums = {}
    for name, array in sorted(root.arrays()):
        if name in SUBJECT_VARIABLES or name in PROCESS_VARIABLES or name in ("chunk_done", "chunk_checksum"):
            continue
        value = np.asarray(array[...])
        data = json.dumps(value.tolist()).encode() if value.dtype.kind == "O" else np.ascontiguousarray(value)
        sums[name] = zlib.crc32(data)
    return sums


def _unmatched_arrays(out: str, attrs: dict) -> list[str]:
    """The arrays whose content differs from the store's ``array_checksums`` record (or are missing)."""
    try:
        recorded = json.loads(attrs["array_checksums"])
    except (KeyError, ValueError):
        return []
    try:
        now = _array_checksums(out)
    except Exception:
        now = {}
        import zarr

        for name in recorded:
            try:
                value = np.asarray(zarr.open_array(f"{out}/{name}", mode="r")[...])
                data = json.dumps(value.tolist()).encode() if value.dtype.kind == "O" else np.ascontiguousarray(value)
                now[name] = zlib.crc32(data)
            except Exception:
                pass
    return [name for name, crc in recorded.items() if now.get(name) != crc]


def _rows(s: int, n: int, block: int) -> slice:
    """The subjects of block `block` of `s` subjects among `n`."""
    return slice(block * s, min(n, (block + 1) * s))


def _stored_checksum(root, index: tuple, rows: slice) -> int | None:
    """The checksum of what the store holds for one chunk; None if its data cannot be read."""
    try:
        return _checksum(_region(root[name], index, rows) for name in _chunk_variables(root))
    except Exception:  # a missing array, or a chunk file that does not decompress
        return None


def _region(array, index: tuple, rows: slice):
    """One chunk's region of a per-subject array: cell `index`, subjects `rows`, every column."""
    return array[(*index, rows, *(slice(None),) * (array.ndim - len(index) - 1))]


def _read_records(out: str) -> tuple[np.ndarray, np.ndarray]:
    """``chunk_done`` and ``chunk_checksum`` (an element that cannot be read counts as not done)."""
    import zarr

    records = []
    for name, dtype in (("chunk_done", np.int8), ("chunk_checksum", np.int64)):
        try:
            array = zarr.open_array(f"{out}/{name}", mode="r")
        except Exception:
            records.append(None)
            continue
        try:
            records.append(np.asarray(array[...], dtype=dtype))
        except Exception:  # a damaged element file: read the others one by one
            values = np.zeros(array.shape, dtype=dtype)
            for element in np.ndindex(*array.shape):
                try:
                    values[element] = array[element]
                except Exception:
                    pass
            records.append(values)
    done, checksum = records
    if done is None:
        raise SweepError("the store has lost its record of finished chunks (chunk_done)", source=out,
                         expected="a new output name (or remove the store)")
    if checksum is None:
        checksum = np.zeros(done.shape, dtype=np.int64)
    return done, checksum


def _unverified(out: str, done: np.ndarray, checksum: np.ndarray, s: int, n: int, workers: int | None = None) -> list:
    """The chunks marked done whose data in the store do not match their recorded checksum (in C
    order): each is read back and checked, on up to `workers` threads."""
    from concurrent.futures import ThreadPoolExecutor

    import zarr

    claimed = [element for element in np.ndindex(*done.shape) if done[element]]
    if not claimed:
        return []
    try:
        root = zarr.open_group(out, mode="r")
    except Exception:
        return claimed

    def bad(element) -> bool:
        *index, block = element
        return checksum[element] == 0 or _stored_checksum(root, tuple(index), _rows(s, n, block)) != checksum[element]

    threads = max(1, min(workers or os.cpu_count() or 1, len(claimed)))
    with ThreadPoolExecutor(threads) as pool:
        flags = list(pool.map(bad, claimed))
    return [element for element, flag in zip(claimed, flags) if flag]


def _chunk_files(out: str, name: str, index: tuple, rows: slice) -> list[Path]:
    """The Zarr (format 2) chunk files of variable `name` that hold the region (index, rows, all columns)."""
    try:
        meta = json.loads(Path(out, name, ".zarray").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    shape, chunks = meta["shape"], meta["chunks"]
    if 0 in shape:
        return []
    separator = meta.get("dimension_separator") or "."
    k = len(index)
    ranges = [[i] for i in index]  # cells: one Zarr chunk each
    ranges.append(range(rows.start // chunks[k], (rows.stop - 1) // chunks[k] + 1))
    ranges += [range(math.ceil(shape[d] / chunks[d])) for d in range(k + 1, len(shape))]
    return [Path(out, name, separator.join(map(str, key))) for key in itertools.product(*ranges)]


def _forget(out: str, elements: list, s: int, n: int) -> None:
    """Mark chunks not done and delete their data files, so that they are computed afresh (a damaged
    file is replaced, never read and merged)."""
    import zarr

    done = zarr.open_array(f"{out}/chunk_done", mode="r+")
    checksum = zarr.open_array(f"{out}/chunk_checksum", mode="r+")
    for element in elements:
        *index, block = element
        done[element] = 0
        checksum[element] = 0
        for name in (*SUBJECT_VARIABLES, *PROCESS_VARIABLES):
            for path in _chunk_files(out, name, tuple(index), _rows(s, n, block)):
                path.unlink(missing_ok=True)


def _die_with_parent() -> None:
    """Initializer of local worker processes (``--processes``): end this process when the sweep's
    process ends, even by SIGKILL, so that no orphan keeps computing and writing into the store.

    - Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` through ctypes: the kernel kills the worker as soon
      as the *thread* that started it ends (dask starts the pool's processes from the thread that
      runs the sweep, which outlives the pool). A parent that died before the call is caught by
      comparing ``os.getppid()`` before and after.
    - Windows: a daemon thread waits on a handle of the parent process and exits when it ends.
    - Elsewhere (macOS, BSD), or if the calls above fail: a daemon thread checks every 0.5 s whether
      the parent changed (an orphan is adopted by another process) and exits within about a second.

    A worker killed this way may leave a chunk half written; it is not marked done (or fails its
    checksum), so the next run computes it again.
    """
    import threading

    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(1, signal.SIGKILL, 0, 0, 0) == 0:  # 1: PR_SET_PDEATHSIG
                if os.getppid() != parent:
                    os._exit(1)
                return
        except (OSError, AttributeError):
            pass
    if sys.platform == "win32":  # pragma: no cover (not run on Linux)
        try:
            import ctypes

            kernel32 = ctypes.windll.kernel32
            handle = kernel32.OpenProcess(0x00100000, False, parent)  # SYNCHRONIZE
        except (OSError, AttributeError):
            handle = None
        if handle:
            def wait():
                kernel32.WaitForSingleObject(handle, 0xFFFFFFFF)  # INFINITE
                os._exit(1)

            threading.Thread(target=wait, name="imapk-parent-watch", daemon=True).start()
            return
    import time

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="imapk-parent-watch", daemon=True).start()


def _run_chunk(sweep: Sweep, out: str, index: tuple, values: dict, block: int, layout_doses: int, dense: bool, n_subjects: int | None = None) -> int:
    """Simulate one cell x block of subjects and write it into its region of the store; 1 if done now.

    Every variable is written straight into the Zarr arrays (the region is whole Zarr chunks, which
    no other task touches, and whose old files are deleted first), then its checksum is recorded
    and the chunk is marked done. `out` is an absolute path and the covariate file's content comes
    with `sweep`: nothing here depends on the worker's current folder or files.
    """
    import zarr

    root = zarr.open_group(out, mode="r+")
    try:
        if root["chunk_done"][(*index, block)]:
            return 0
    except Exception:  # a damaged element of the record: not done (it is rewritten below)
        pass
    from .runner import run_scenario

    s = sweep.subjects_per_chunk
    with _with_inputs(sweep, cell_scenario(sweep, values)) as scenario:  # about 0.2 ms: not worth a cache
        n = _population_size(scenario) if n_subjects is None else n_subjects
        subjects = np.arange(block * s, min(n, (block + 1) * s))
        ds = run_scenario(scenario, subjects=subjects, dense=False, summaries=False)
    rows = slice(int(subjects[0]), int(subjects[-1]) + 1)
    trough = np.full((subjects.size, layout_doses), np.nan)
    trough[:, : ds.sizes["dose"]] = ds["trough"].values
    written = {"trough": trough}
    if "threshold" in ds.dims:
        for name in _THRESHOLD_VARIABLES:
            written[name] = ds[name].values
    from .metrics import process_outcomes

    written.update(process_outcomes(ds, subjects.size))
    variables = _chunk_variables(root)
    for name in variables:
        for path in _chunk_files(out, name, index, rows):
            path.unlink(missing_ok=True)
    stored = []
    for name in variables:
        array = root[name]
        value = np.ascontiguousarray(written.get(name, np.empty((rows.stop - rows.start, 0))), dtype=array.dtype)
        if value.ndim == 1:  # a per-subject outcome of the dosing processes
            array[(*index, rows)] = value
        elif value.shape[-1]:
            array[(*index, rows, slice(0, value.shape[-1]))] = value
        stored.append(value)
    root["chunk_checksum"][(*index, block)] = _checksum(stored)
    root["chunk_done"][(*index, block)] = 1
    return 1


def _summaries(sweep: Sweep, out: str, layout: _Layout, workers: int | None = None) -> None:
    """Per cell: trough quantiles, target attainment (trough targets) and trough-ceiling exceedance per
    dose, mean time below and above; from the store.

    Memory stays bounded: each task reads all subjects of one cell for one Zarr block of doses
    (at most about SUMMARY_BLOCK_BYTES), on up to `workers` threads, as many as SUMMARY_MEMORY_BYTES
    allows (each holds about two blocks: the block and its columns being sorted out).
    """
    from concurrent.futures import ThreadPoolExecutor

    import zarr

    from .metrics import DEFAULT_QUANTILES

    root = zarr.open_group(out, mode="r+")
    trough = root["trough"]
    n, m = layout.n_subjects, layout.n_doses
    levels = np.array([t[1] for t in layout.thresholds], dtype=float)
    kinds = [t[2] for t in layout.thresholds]
    ranks, lower, upper, gamma = _quantile_plan(n, DEFAULT_QUANTILES)
    quantiles = np.full((*sweep.shape, len(DEFAULT_QUANTILES), m), np.nan)
    attainment = np.full((*sweep.shape, levels.size, m), np.nan)
    exceedance = np.full((*sweep.shape, levels.size, m), np.nan)
    step = trough.chunks[-1]
    jobs = [(index, d0) for index, _ in sweep.cells() for d0 in range(0, m, step)]

    def job(index, d0):
        d1 = min(m, d0 + step)
        block = trough[(*index, slice(None), slice(d0, d1))]  # (subject, dose)
        stats, padding = _order_statistics(block, ranks)  # (dose, rank); doses with no trough at all
        valid = ~padding
        quantiles[index][:, d0:d1] = _lerp(stats[:, lower], stats[:, upper], gamma[None, :]).T
        for t, level in enumerate(levels):
            # At or above the level: an attainment for a trough target, an exceedance for a trough ceiling.
            fraction = np.where(valid, (block >= level).mean(axis=0), np.nan)
            if kinds[t] == TROUGH_TARGET:
                attainment[index][t, d0:d1] = fraction
            elif kinds[t] == TROUGH_CEILING:
                exceedance[index][t, d0:d1] = fraction

    affordable = SUMMARY_MEMORY_BYTES // (2 * 8 * n * step)
    threads = max(1, min(workers or os.cpu_count() or 1, len(jobs), affordable))
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(lambda j: job(*j), jobs):
            pass
    root["trough_quantile"][...] = quantiles
    if levels.size:
        root["target_attainment"][...] = attainment
        if "trough_ceiling_exceedance" in root:
            root["trough_ceiling_exceedance"][...] = exceedance
        for name in ("time_below", "time_above"):
            if f"mean_{name}" not in root:
                continue
            mean = np.full((*sweep.shape, levels.size), np.nan)
            for index, _ in sweep.cells():
                mean[index] = root[name][(*index, slice(None), slice(None))].mean(axis=0)
            root[f"mean_{name}"][...] = mean


def _open_group(out: str):
    import zarr

    return zarr.open_group(out, mode="r+")


def run_sweep(
    sweep: Sweep | str | Path,
    out: str | Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    processes: bool = False,
    progress: bool | None = None,
) -> dict:
    """Evaluate a sweep into a chunked Zarr store, resuming a previous run of the same sweep.

    Parameters
    ----------
    sweep
        The sweep, or the path of its file.
    out
        The Zarr store (a folder).
    scheduler
        Address of an existing dask.distributed scheduler; default: local threads (or processes).
    workers
        Local workers (default: the machine's cores).
    processes
        Use local processes instead of threads.
    progress
        Show a progress bar (default: when stderr is a terminal).

    Returns
    -------
    dict
        ``chunks`` (total), ``computed`` (done by this call) and ``skipped`` (found done and verified).

    Raises
    ------
    SweepError
        If `out` is not a ``.zarr`` name, was begun by another sweep or with an input file whose
        content changed since (naming it), or the scheduler has had no worker for WORKERS_GONE_SECONDS.

    Warns
    -----
    UserWarning
        On resume, when chunks marked done do not match their recorded checksum (how many, and the
        first); they are computed again.
    """
    import dask

    if not isinstance(sweep, Sweep):
        sweep = load_sweep(sweep)
    out = Path(out)
    if out.suffix != ".zarr":
        raise SweepError("the output must be a Zarr store", key="-o/--output", got=str(out), expected="a name ending in .zarr")
    if not out.exists() and not out.parent.is_dir():  # as `imapk run -o`: no folders made on the way
        raise SweepError("the output folder does not exist", source=str(out), key="-o/--output", got=str(out.parent))
    if scheduler is not None:  # try the address before anything is created: no empty store left behind
        _connect(scheduler).close()
    layout = _layout(sweep)
    n, spc = layout.n_subjects, sweep.subjects_per_chunk
    # Tasks get an absolute path: a worker in another folder writes into this store, not its own.
    path = os.path.abspath(out)
    if out.exists():
        attrs = _store_attrs(out)
        _check_inputs(attrs, sweep, out)
        if attrs.get("imapk_sweep_digest") != sweep.digest:
            raise SweepError(
                "this store was made from a different sweep (or base scenario): results would be mixed",
                source=str(out),
                expected="the same sweep file, or a new output name (or remove the store)",
            )
        unmatched = _unmatched_arrays(path, attrs) if attrs.get(COMPLETE) else []
        _restore_arrays(sweep, layout, out, also=unmatched)
        done, checksum = _read_records(path)
        bad = _unverified(path, done, checksum, spc, n, workers)
        if bad:
            # Readers must not take the store for finished while its chunks are recomputed.
            _unmark_complete(path)
            _forget(path, bad, spc, n)
            import warnings

            warnings.warn(
                f"{out}: {len(bad)} of {int(done.sum())} chunks marked done do not match their recorded checksum "
                f"(data missing, damaged or never written; first: {_chunk_label(sweep, bad[0], n)}): computing them again",
                stacklevel=2,
            )
            done, checksum = _read_records(path)
        elif unmatched:
            # The chunks are sound; the summaries are computed again and the fixed arrays were restored.
            _unmark_complete(path)
            import warnings

            warnings.warn(
                f"{out}: {len(unmatched)} array(s) do not match the store's record (first: {unmatched[0]}): "
                "restoring them and computing the summaries again",
                stacklevel=2,
            )
        elif attrs.get(COMPLETE):
            return {"chunks": 0, "computed": 0, "skipped": 0, "complete": True}
    else:
        _create(sweep, layout, out)
        done, _ = _read_records(path)
    blocks = math.ceil(n / spc)
    # One node for the sweep (with the covariate files' content), shared by every task.
    shared = dask.delayed(sweep, name=f"imapk-sweep-{sweep.digest}", traverse=False)
    tasks, skipped = [], 0
    for index, values in sweep.cells():
        for block in range(blocks):
            if done[(*index, block)]:
                skipped += 1
                continue
            tasks.append(
                dask.delayed(_run_chunk, pure=False)(shared, path, index, values, block, layout.n_doses, False, n)
            )
    show = sys.stderr.isatty() if progress is None else progress
    if scheduler is not None:
        computed = _run_distributed(tasks, _connect(scheduler), show)
    else:
        from dask.diagnostics import ProgressBar

        options = {"scheduler": "processes" if processes else "threads", "num_workers": workers or os.cpu_count()}
        if processes:
            options["initializer"] = _die_with_parent
        if show:
            with ProgressBar(out=sys.stderr):
                computed = sum(dask.compute(*tasks, **options))
        else:
            computed = sum(dask.compute(*tasks, **options))
    _summaries(sweep, path, layout, workers)
    import zarr

    group = _open_group(path)
    group.attrs["array_checksums"] = json.dumps(_array_checksums(path))
    group.attrs[COMPLETE] = "true"
    zarr.consolidate_metadata(path)
    return {"chunks": len(tasks) + skipped, "computed": computed, "skipped": skipped, "complete": True}


#: How long to wait for a scheduler to answer before giving up. [s]
CONNECT_SECONDS = 20


def _connect(scheduler: str):
    """A distributed Client of the scheduler at `scheduler`, or one line saying why not."""
    from distributed import Client

    try:
        # not the process-wide default: a failed or finished connection must not capture later dask work
        return Client(scheduler, timeout=CONNECT_SECONDS, set_as_default=False)
    except (OSError, ValueError, TimeoutError) as error:  # malformed, unreachable, or refused
        raise SweepError(f"cannot connect to the scheduler: {error}", key="--scheduler", got=scheduler,
                         expected="the address a dask scheduler prints, e.g. tcp://10.0.0.5:8786") from None


def _run_distributed(tasks: list, client, show: bool) -> int:
    """Run the chunk tasks on a dask.distributed scheduler; the number of chunks computed.

    The futures are polled (every POLL_SECONDS) rather than gathered at once, so that a Ctrl-C
    cancels them and ends with the CLI's one line (no traceback per pending future), and so that a
    scheduler left without workers for WORKERS_GONE_SECONDS stops the sweep with one line naming the
    workers lost and the time since the last chunk finished, instead of waiting forever.
    """
    import logging
    import time

    total = len(tasks)
    scheduler = client.scheduler.address
    with client:
        futures = client.compute(tasks)
        pending, computed, finished = set(futures), 0, 0
        last = time.monotonic()
        seen: set[str] = set(client.nthreads())
        gone_since = None
        try:
            while pending:
                time.sleep(POLL_SECONDS)
                done = [future for future in pending if future.done()]
                if done:
                    pending.difference_update(done)
                    computed += sum(_chunk_result(future) for future in done)
                    finished += len(done)
                    last = time.monotonic()
                    if show:
                        print(f"\r{finished}/{total} chunks", end="", file=sys.stderr, flush=True)
                workers = set(client.nthreads())
                seen |= workers
                now = time.monotonic()
                if workers:
                    gone_since = None
                elif gone_since is None:
                    gone_since = now
                elif now - gone_since >= WORKERS_GONE_SECONDS and pending:
                    lost = ", ".join(sorted(seen)) or "none had joined"
                    raise SweepError(
                        f"the scheduler has had no worker for {now - gone_since:.0f} s (lost: {lost}); the last chunk "
                        f"finished {now - last:.0f} s ago; {len(pending)} of {total} chunks not done",
                        key="--scheduler", got=scheduler,
                        expected="workers connected to it; rerun the same command to resume",
                    )
        except BaseException:
            # Stop quietly: cancel what is left; distributed would log every cancelled future.
            for name in ("distributed", "distributed.client", "distributed.core", "distributed.comm"):
                logging.getLogger(name).setLevel(logging.CRITICAL)
            try:
                client.cancel(list(pending))
            except Exception:
                pass
            raise
        finally:
            if show and total:
                print(file=sys.stderr)
    return computed


def _chunk_result(future) -> int:
    """1 if a finished chunk task computed its chunk (0: found done); a task's error is raised here.
    Its result lives on a worker: if that worker has left meanwhile, the chunk counts as computed
    (it is in the store; waiting would wait for a worker that may never come)."""
    if future.status == "error":
        return future.result()  # raises the task's error
    try:
        return int(future.result(timeout=5))
    except TimeoutError:
        return 1


def _chunk_label(sweep: Sweep, element: tuple, n: int) -> str:
    *index, block = element
    values = ", ".join(f"{group[0].name} = {group[0].values[i]!r}" for group, i in zip(sweep.dimensions, index))
    rows = _rows(sweep.subjects_per_chunk, n, block)
    return f"cell ({values}), subjects {rows.start}-{rows.stop - 1}"


def _check_inputs(attrs: dict, sweep: Sweep, out: Path) -> None:
    """Refuse to resume a store whose recorded input files (sweep, base scenario, covariate files) have
    another content now, naming the first changed file (another file altogether is left to the digest)."""
    try:
        recorded = json.loads(attrs.get("imapk_inputs", "[]"))
    except ValueError:
        return
    now: dict[str, list] = {}
    for role, file, sha in sweep.inputs:
        now.setdefault(role, []).append((file, sha))
    then: dict[str, list] = {}
    for entry in recorded:
        then.setdefault(entry.get("role"), []).append((entry.get("file"), entry.get("sha256")))
    for role, files in now.items():
        for j, (file, sha) in enumerate(files):
            old = then.get(role, [])
            # The same file (by name: the folder it is named from may differ) with another content.
            if j < len(old) and old[j][1] != sha and Path(str(old[j][0])).name == Path(file).name:
                raise SweepError(
                    f"this {role} changed since the sweep store {out} was begun: results would be mixed",
                    source=file,
                    got=f"sha256 {sha[:16]}",
                    expected=f"sha256 {old[j][1][:16]} (the file as it was), or a new output name",
                )


def _restore_arrays(sweep: Sweep, layout: _Layout, out: Path, also=()) -> None:
    """Put back any array of the store whose metadata is missing or unreadable (e.g. a deleted
    ``trough/`` folder), and the arrays named in `also`, as the template has them (a per-subject
    variable or a summary: empty; its chunks then fail their checksums and are computed again)."""
    template = _template(sweep, layout)
    lost = [name for name in also if name in template.variables]
    for name in template.variables:
        try:
            json.loads(Path(out, name, ".zarray").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            if name not in lost:
                lost.append(name)
    if not lost:
        return
    temporary = out.with_name(f".{out.name}.{os.getpid()}.restore.tmp")
    try:
        template.to_zarr(temporary, compute=False, zarr_format=2, mode="w-")
        for name in lost:
            shutil.rmtree(out / name, ignore_errors=True)
            shutil.copytree(temporary / name, out / name)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _unmark_complete(out: str) -> None:
    import zarr

    group = zarr.open_group(out, mode="r+")
    if COMPLETE in group.attrs:
        del group.attrs[COMPLETE]
        zarr.consolidate_metadata(out)


def _create(sweep: Sweep, layout: _Layout, out: Path) -> None:
    """Write the empty store under a temporary name beside `out`, then rename it: a store that exists
    is always a whole template (an interrupted creation leaves no half store that a rerun would refuse)."""
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        _template(sweep, layout).to_zarr(temporary, compute=False, zarr_format=2, mode="w-")
        try:
            os.rename(temporary, out)
        except OSError:
            if not out.exists():
                raise
            # Another process created the store between our check and our rename (two sweeps
            # started at once): theirs stands, ours is discarded.
            raise OutputError(
                "another process created this store while this sweep was starting; run the same command "
                "again to join or resume it (chunks already done are kept)",
                source=str(out),
            ) from None
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)


def _store_attrs(out: Path) -> dict:
    import zarr

    try:
        return dict(zarr.open_group(str(out), mode="r").attrs)
    except Exception:  # anything unreadable is "not an imapk store"
        raise SweepError("not a Zarr store written by imapk", source=str(out)) from None


def open_sweep(path: str | Path, *, verify: bool = True, dask: bool = True):
    """Open a finished sweep store as an xarray Dataset (lazily, with dask).

    With `verify` (the default) every chunk's data are first read and checked against the checksum
    recorded when the chunk was written (about one read of the store). With ``dask=False`` the arrays
    are loaded lazily by xarray itself, without importing dask (for a table of summaries, half a second
    sooner; the values are the same).

    Raises
    ------
    SweepError
        If the store is missing, not imapk's, unfinished (with the command that resumes it), or (with
        `verify`) its data do not match the record of its chunks.
    """
    import xarray as xr

    path = Path(path)
    check_sweep_store(path, verify=verify)
    # chunks=None: plain lazily loaded arrays without dask (whose import costs half a second).
    return xr.open_zarr(path) if dask else xr.open_zarr(path, chunks=None)


def check_sweep_store(path: str | Path, *, verify: bool = True) -> dict:
    """Refuse a store as :func:`open_sweep` does (missing, not imapk's, unfinished, or with `verify`
    not matching the record of its chunks) and return its attributes. Imports zarr, not xarray."""
    path = Path(path)
    if not path.exists():
        raise SweepError("no such sweep store", source=str(path))
    attrs = _store_attrs(path)
    if "imapk_sweep_digest" not in attrs:
        raise SweepError("not a sweep store written by imapk", source=str(path))
    if not attrs.get(COMPLETE):
        raise SweepError(
            "this sweep store is unfinished (interrupted, or still running)",
            source=str(path),
            expected=f"rerun the same `imapk sweep SWEEP.toml -o {path}` to resume it",
        )
    if verify:
        _verify_store(path, attrs)
    return attrs


def _verify_store(path: Path, attrs: dict) -> None:
    """Refuse a finished store whose chunks do not all match their recorded checksums (one line,
    naming the first bad chunk). Stores written before checksums were recorded are not checked."""
    import zarr

    if attrs.get("chunk_checksums") not in _CHECKSUM_METHODS:
        return
    out = str(path)
    try:
        done, checksum = _read_records(out)
        root = zarr.open_group(out, mode="r")
        n = int(root["subject"].shape[0])
        dims = json.loads(attrs["swept_dimensions"])
        s = int(attrs["subjects_per_chunk"])
    except Exception:
        raise SweepError("the store's record of its chunks is damaged", source=out,
                         expected=f"rerun the same `imapk sweep SWEEP.toml -o {path}` to repair it") from None
    # A chunk not marked done in a finished store counts as bad too.
    bad = [e for e in np.ndindex(*done.shape) if not done[e]] or _unverified(out, done, checksum, s, n)
    if not bad:
        unmatched = _unmatched_arrays(out, attrs)
        if unmatched:
            raise SweepError(
                f"{len(unmatched)} array(s) do not match the store's record, first: {unmatched[0]} "
                "(missing, damaged or changed files)",
                source=out,
                expected=f"rerun the same `imapk sweep SWEEP.toml -o {path}` to restore them",
            )
        return
    *index, block = bad[0]
    labels = []
    for dim, i in zip(dims, index):
        try:
            labels.append(f"{dim} = {plain_value(root[dim][i])!r}")
        except Exception:
            labels.append(f"{dim}[{i}]")
    rows = _rows(s, n, block)
    raise SweepError(
        f"the data of {len(bad)} chunk(s) do not match the store's record, first: cell ({', '.join(labels)}), "
        f"subjects {rows.start}-{rows.stop - 1} (missing, damaged or changed files)",
        source=out,
        expected=f"rerun the same `imapk sweep SWEEP.toml -o {path}` to compute them again",
    )


def summary_table(ds, days=()) -> list[dict]:
    """One row per cell and threshold, at the cell's last scheduled dose, on the clinical `days` asked
    for, and over its window.

    Columns: the swept values, ``threshold`` and ``threshold_kind``, ``last_day``,
    ``pta_last_dose`` (fraction of subjects with trough >= a trough target; NaN for ceilings),
    ``trough_above_ceiling_last_dose`` (fraction of subjects with trough >= a trough ceiling; NaN
    for the other kinds), ``median_trough_last_dose`` [ng/mL], ``mean_time_below_days`` and
    ``mean_time_above_days`` (mean time per subject with the concentration below, and at or above,
    the threshold; the latter is the exceedance of a concentration ceiling) [d]; for each day N asked,
    ``pta_day_N``, ``trough_above_ceiling_day_N`` and ``median_trough_day_N`` [ng/mL] of the trough
    before that day's first dose (NaN in a cell with no dose that day).

    A sweep whose scenarios draw doses at random (``[adherence]``, ``[[toxicity]]``, ``[[policy]]``)
    adds, per cell, from each patient's own doses: ``mean_held_doses`` (scheduled doses held per
    patient: holds written in the schedule, toxicity holds, and every dose after a discontinuation),
    with ``p05_held_doses`` and ``p95_held_doses`` (5th and 95th percentiles over the patients, linear
    interpolation as ``numpy.quantile``), and ``mean_missed_doses`` (doses missed per patient)
    [doses per patient]; with a toxicity, ``fraction_toxicity_event`` (patients with at least one
    event) and ``fraction_discontinued`` (patients whose event stopped therapy for good); with a
    trough-escalation policy, ``fraction_escalated`` (patients the policy escalated) [fraction]. The
    same in every threshold's row of a cell.

    Every summary is read from the store once (not cell by cell), so the table costs one read of the
    summaries whatever the number of cells.
    """
    dims = json.loads(ds.attrs["swept_dimensions"])
    # Each dimension's axis, then the axes zipped with it (coordinates along that dimension).
    columns = [c for d in dims for c in (d, *(c for c in ds.coords if c != d and ds[c].dims == (d,)))]

    def load(name, *rest):
        return np.asarray(ds[name].transpose(*dims, *rest).values)

    status = load("dose_status", "dose")
    day = load("day", "dose")
    attainment = load("target_attainment", "threshold", "dose")
    exceedance = load("trough_ceiling_exceedance", "threshold", "dose") if "trough_ceiling_exceedance" in ds else None
    # The median by position (a label lookup would build pandas indexes: a quarter of a second of imports).
    quantiles = load("trough_quantile", "quantile", "dose")
    median_at = np.flatnonzero(np.asarray(ds["quantile"].values) == 0.5)
    median = quantiles[..., median_at[0], :] if median_at.size else np.full(quantiles[..., 0, :].shape, np.nan)
    below = load("mean_time_below", "threshold")
    above = load("mean_time_above", "threshold") if "mean_time_above" in ds else None
    coordinates = {c: ds[c].values for c in columns}
    kinds = kinds_of(ds)
    names = [str(n) for n in ds["threshold"].values]
    processes = _process_summaries(ds, dims)
    rows = []
    for index in itertools.product(*(range(ds.sizes[d]) for d in dims)):
        real = np.flatnonzero(status[index] >= 0)
        last = int(real[-1])
        doses = [("last_dose", last)]
        for asked in days:
            on_day = np.flatnonzero((day[index] == asked) & (status[index] >= 0))
            doses.append((f"day_{asked}", int(on_day[0]) if on_day.size else None))
        for m, name in enumerate(names):
            row = {c: plain_value(coordinates[c][index[dims.index(ds[c].dims[0])]]) for c in columns}
            row.update(threshold=name, threshold_kind=kinds[m], last_day=int(day[index][last]))
            for suffix, j in doses:
                # stores before kinds hold every threshold's fraction at or above in target_attainment
                at_or_above = math.nan if j is None else float(attainment[index][m, j])
                row[f"pta_{suffix}"] = at_or_above if kinds[m] == TROUGH_TARGET else math.nan
                row[f"trough_above_ceiling_{suffix}"] = (
                    math.nan if j is None
                    else float(exceedance[index][m, j]) if exceedance is not None
                    else at_or_above if kinds[m] == TROUGH_CEILING else math.nan
                )
                row[f"median_trough_{suffix}"] = math.nan if j is None else float(median[index][j])
            row["mean_time_below_days"] = float(below[index][m]) / 24.0
            row["mean_time_above_days"] = float(above[index][m]) / 24.0 if above is not None else math.nan
            row.update(processes.get(index, {}))
            rows.append(row)
    return _column_order(rows)


def _process_summaries(ds, dims: list[str]) -> dict[tuple, dict[str, float]]:
    """Per cell index, the summary columns of the store's PROCESS_VARIABLES (see :func:`summary_table`).

    One variable at a time, all cells at once when they fit in SUMMARY_BLOCK_BYTES, else cell by cell.
    """
    cells = list(itertools.product(*(range(ds.sizes[d]) for d in dims)))
    columns: dict[tuple, dict[str, float]] = {index: {} for index in cells}
    for name in PROCESS_VARIABLES:
        if name not in ds:
            continue
        array = ds[name].transpose(*dims, "subject")
        whole = np.asarray(array.values) if array.size * array.dtype.itemsize <= SUMMARY_BLOCK_BYTES else None
        for index in cells:
            values = whole[index] if whole is not None else np.asarray(array[index].values)
            row = columns[index]
            if name == "held_dose_count":
                held = values.astype(float)
                low, high = np.quantile(held, [0.05, 0.95])
                row.update(mean_held_doses=float(held.mean()), p05_held_doses=float(low), p95_held_doses=float(high))
            elif name == "missed_dose_count":
                row["mean_missed_doses"] = float(values.mean())
            else:
                column = {"toxicity_event_count": "fraction_toxicity_event",
                          "toxicity_discontinued": "fraction_discontinued", "tdm_escalated": "fraction_escalated"}[name]
                row[column] = float((values > 0).mean())
    return columns


#: Units of the summary table's computed columns, by the start of their name.
SUMMARY_UNITS = (
    ("pta_", "fraction"),
    ("trough_above_ceiling_", "fraction"),
    ("median_trough_", "ng/mL"),
    ("mean_time_", "d"),
    ("last_day", "clinical day"),
    ("mean_held_doses", "doses per patient"),
    ("p05_held_doses", "doses per patient"),
    ("p95_held_doses", "doses per patient"),
    ("mean_missed_doses", "doses per patient"),
    ("fraction_", "fraction"),
)


def summary_units(ds, rows: list[dict]) -> dict[str, str]:
    """The unit of each column of :func:`summary_table` (``""`` for text and for unitless axes).

    A swept axis takes the ``units`` of its coordinate in the store (a quantity axis such as
    ``"200 mg"`` is stored as numbers in its canonical unit); the computed columns take theirs from
    :data:`SUMMARY_UNITS`.
    """
    units = {}
    for name in rows[0] if rows else ():
        unit = next((u for prefix, u in SUMMARY_UNITS if name.startswith(prefix)), None)
        if unit is None:
            unit = str(ds[name].attrs.get("units", "")) if name in ds.coords else ""
        units[name] = unit
    return units


def header_with_units(units: dict[str, str]) -> list[str]:
    """CSV header cells ``name [unit]`` (the name alone where there is no unit), as ``imapk run --csv`` writes."""
    return [f"{name} [{unit}]" if unit else name for name, unit in units.items()]


#: The columns of the random dosing processes, last, in this order.
_PROCESS_COLUMNS = ("mean_held_doses", "p05_held_doses", "p95_held_doses", "mean_missed_doses",
                    "fraction_toxicity_event", "fraction_discontinued", "fraction_escalated")


def _column_order(rows: list[dict]) -> list[dict]:
    """The last-dose columns first (their historical order), then each asked day's, then the window's."""
    if not rows:
        return rows
    keys = list(rows[0])
    window = ["mean_time_below_days", "mean_time_above_days"]
    processes = [k for k in _PROCESS_COLUMNS if k in keys]
    head = [k for k in keys if not k.endswith(tuple(window)) and "_day_" not in k and k not in processes]
    days = [k for k in keys if "_day_" in k and k not in head]
    order = head + days + window + processes
    return [{k: row[k] for k in order} for row in rows]


