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

Execution: work is split in chunks of one cell x a block of subjects; each chunk is simulated and
written straight into its own region of a chunked Zarr store, then marked done in the store's
``chunk_done`` array. A rerun of the same command skips finished chunks; a store made from a
different sweep is refused. Summaries per cell are computed from the store, one block of doses (all
subjects) at a time, so memory stays bounded whatever the population (a cell whose troughs exceed
``SUMMARY_BLOCK_BYTES`` stores them in Zarr chunks of that many doses); the quantiles are exact and
bit-identical to ``numpy.quantile``. The completion mark (the store attribute ``imapk_complete``) is
written last: imapk's readers refuse a store without it.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
import re
import shutil
import sys
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .errors import ImapkError
from .thresholds import TROUGH_CEILING, TROUGH_TARGET, kinds_of
from .quantiles import lerp as _lerp
from .quantiles import order_statistics as _order_statistics
from .quantiles import quantile_plan as _quantile_plan
from .units import DIMENSIONS, parse_quantity

__all__ = ["Axis", "Sweep", "load_sweep", "run_sweep", "open_sweep", "summary_table", "SweepError"]

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


def _coordinate(values: list, units: str | None, source: str, key: str) -> tuple[np.ndarray, str | None]:
    """Numbers stay numbers; quantities ('300 mg') become canonical numbers with their unit; else strings."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=float), units
    if all(isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=bool), units
    if all(isinstance(v, str) for v in values):
        found = None
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


def _digest(text: str, base_text: str, base_data: dict, base_source: str) -> str:
    """Fingerprint of everything a sweep's results depend on: the sweep and base scenario texts, the
    content of a covariate file they name, and the imapk version."""
    from . import __version__

    digest = hashlib.sha256((text + "\0" + base_text + "\0" + __version__).encode())
    population = base_data.get("population")
    if isinstance(population, dict) and isinstance(population.get("covariates_file"), str):
        csv_path = Path(base_source).parent / population["covariates_file"]
        if csv_path.is_file():
            digest.update(csv_path.read_bytes())
    return digest.hexdigest()


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep file (every cell is validated as a scenario)."""
    from .scenario import scenario_from_data
    from .variables import SPECS

    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise SweepError("no such sweep file", source=source) from None
    except UnicodeDecodeError:
        from .scenario import not_text_error

        raise not_text_error(path, SweepError) from None
    except OSError as error:
        raise SweepError(f"cannot read the file: {error}", source=source) from None
    except tomllib.TOMLDecodeError as error:
        raise SweepError(f"not valid TOML: {error}", source=source) from None
    spec = data.pop("sweep", None)
    if not isinstance(spec, dict):
        _fail("needs a [sweep] table with [[sweep.axes]]", source, "sweep")
    unknown = sorted(set(spec) - {"base", "axes", "zip", "subjects_per_chunk"})
    if unknown:
        _fail("unknown key", source, f"sweep.{unknown[0]}", expected="one of: axes, base, subjects_per_chunk, zip")
    if "base" in spec:
        if data:
            _fail("a sweep file with `base` holds only the [sweep] table", source, sorted(data)[0])
        base_path = path.parent / str(spec["base"])
        try:
            base_text = base_path.read_text(encoding="utf-8")
            base_data = tomllib.loads(base_text)
        except FileNotFoundError:
            raise SweepError("no such base scenario", source=source, key="sweep.base", got=str(spec["base"])) from None
        except tomllib.TOMLDecodeError as error:
            raise SweepError(f"base scenario is not valid TOML: {error}", source=str(base_path)) from None
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
    reserved = set(SPECS) | {"chunk_done", "subject_block"}
    for i, entry in enumerate(axes_data):
        where = f"sweep.axes[{i}]"
        if not isinstance(entry, dict):
            _fail("must be a table", source, where, got=entry)
        extra = sorted(set(entry) - {"name", "key", "values", "units"})
        if extra:
            _fail("unknown key", source, f"{where}.{extra[0]}", expected="one of: key, name, units, values")
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
    digest = _digest(text, base_text, base_data, base_source)
    sweep = Sweep(source, base_source, base_data, base_text, tuple(groups), chunk, digest)
    # Validate every cell now: a bad value fails before any work starts.
    where = {axis.key: i for i, axis in enumerate(axes.values())}
    models: dict[str, str] = {}
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
    return replace(sweep, parameter_sets=tuple(models.items()))


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


def _layout(sweep: Sweep) -> _Layout:
    tables, sizes, thresholds = {}, set(), set()
    for index, values in sweep.cells():
        scenario = cell_scenario(sweep, values)
        if len(scenario.models) != 1 or len(scenario.therapy_clocks) != 1:
            raise SweepError(
                "a swept base scenario must name one model and one therapy clock (sweep them as axes instead)",
                source=sweep.source,
                key="sweep.base",
            )
        tables[index] = scenario.schedule.lower()
        sizes.add(_population_size(scenario))
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
    return _Layout(sizes.pop(), n_doses, thresholds.pop(), dose_time, planned, given, status, day)


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
        "chunk_done": ((*dims, "subject_block"), lazy((blocks,), (1,), dtype=np.int8, fill=0)),
        "dose_time": ((*dims, "dose"), layout.dose_time),
        "dose_planned": ((*dims, "dose"), layout.dose_planned),
        "dose_given": ((*dims, "dose"), layout.dose_given),
        "dose_status": ((*dims, "dose"), layout.dose_status),
        "day": ((*dims, "dose"), layout.day),
    }
    ds = xr.Dataset({name: (d, v) for name, (d, v) in data.items()})
    for name in ds.data_vars:
        if name != "chunk_done":
            ds[name].attrs.update(_attrs(name))
    ds["chunk_done"].attrs.update(
        long_name="chunk done",
        description="1 once the chunk (cell x block of subjects_per_chunk subjects) is written; a rerun skips it",
    )
    ds["dose_status"].attrs.update(
        flag_values=[-1, 0, 1, 2], flag_meanings="padding given held missed",
        description="Status code of the scheduled dose: 0 given, 1 held, 2 missed; -1 pads cells with fewer doses",
    )
    ds["day"].attrs["description"] += "; 0 pads cells with fewer doses"
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
        sweep=Path(sweep.source).read_text(encoding="utf-8"),
        scenario=sweep.base_text,
        swept_dimensions=json.dumps(list(dims)),
        subjects_per_chunk=s,
        **_provenance(sweep),
    )
    return ds


def _provenance(sweep: Sweep) -> dict:
    """The record of a sweep store beyond its two texts: library versions, the covariate file's
    content (shared by every cell), and the parameter sets (name, citation) its cells use."""
    from .scenario import provenance

    _, first = next(iter(sweep.cells()))
    record = provenance(cell_scenario(sweep, first))
    record["parameter_sets"] = json.dumps(dict(sweep.parameter_sets))
    return record


def _dose_chunk(n_subjects: int, n_doses: int) -> int:
    """Doses per Zarr chunk of `trough`: all of them, unless one cell's troughs exceed the summary block."""
    return int(min(n_doses, max(1, SUMMARY_BLOCK_BYTES // (8 * max(n_subjects, 1)))))


def _done_flags(out: str):
    """The whole ``chunk_done`` array (one read)."""
    import zarr

    return zarr.open_array(f"{out}/chunk_done", mode="r")[...]


def _is_done(out: str, index: tuple, block: int) -> bool:
    import zarr

    return bool(zarr.open_array(f"{out}/chunk_done", mode="r")[(*index, block)])


def _mark_done(out: str, index: tuple, block: int) -> None:
    """Record a finished chunk: one element, in a Zarr chunk of its own (no two tasks share one)."""
    import zarr

    zarr.open_array(f"{out}/chunk_done", mode="r+")[(*index, block)] = 1


def _run_chunk(sweep: Sweep, out: str, index: tuple, values: dict, block: int, layout_doses: int, dense: bool, n_subjects: int | None = None) -> int:
    """Simulate one cell x block of subjects and write it into its region of the store; 1 if done now.

    Every variable is written straight into the Zarr arrays (the region is whole Zarr chunks, which
    no other task touches), then the chunk is marked done.
    """
    import zarr

    if _is_done(out, index, block):
        return 0
    from .scenario import run_scenario

    scenario = cell_scenario(sweep, values)  # about 0.2 ms: not worth a cache
    n = _population_size(scenario) if n_subjects is None else n_subjects  # (re-reads a covariate file)
    s = sweep.subjects_per_chunk
    subjects = np.arange(block * s, min(n, (block + 1) * s))
    ds = run_scenario(scenario, subjects=subjects, dense=False, summaries=False)
    rows = slice(int(subjects[0]), int(subjects[-1]) + 1)
    trough = np.full((subjects.size, layout_doses), np.nan)
    trough[:, : ds.sizes["dose"]] = ds["trough"].values
    root = zarr.open_group(out, mode="r+")
    root["trough"][(*index, rows, slice(None))] = trough
    if "threshold" in ds.dims:
        for name in _THRESHOLD_VARIABLES:
            if name in root:  # (a store begun by an earlier version lacks the newer ones)
                root[name][(*index, rows, slice(0, ds.sizes["threshold"]))] = ds[name].values
    _mark_done(out, index, block)
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
        ``chunks`` (total), ``computed`` (done by this call) and ``skipped`` (found done).
    """
    import dask

    if not isinstance(sweep, Sweep):
        sweep = load_sweep(sweep)
    out = Path(out)
    if out.suffix != ".zarr":
        raise SweepError("the output must be a Zarr store", key="-o/--output", got=str(out), expected="a name ending in .zarr")
    layout = _layout(sweep)
    if out.exists():
        attrs = _store_attrs(out)
        if attrs.get("imapk_sweep_digest") != sweep.digest:
            raise SweepError(
                "this store was made from a different sweep (or base scenario): results would be mixed",
                source=str(out),
                expected="the same sweep file, or a new output name (or remove the store)",
            )
        if attrs.get(COMPLETE):
            return {"chunks": 0, "computed": 0, "skipped": 0, "complete": True}
    else:
        _create(sweep, layout, out)
    s = sweep.subjects_per_chunk
    blocks = math.ceil(layout.n_subjects / s)
    done = _done_flags(str(out))
    tasks, skipped = [], 0
    for index, values in sweep.cells():
        for block in range(blocks):
            if done[(*index, block)]:
                skipped += 1
                continue
            tasks.append(
                dask.delayed(_run_chunk, pure=False)(sweep, str(out), index, values, block, layout.n_doses, False, layout.n_subjects)
            )
    show = sys.stderr.isatty() if progress is None else progress
    if scheduler is not None:
        from distributed import Client, progress as distributed_progress

        with Client(scheduler) as client:
            futures = client.compute(tasks)
            if show:
                distributed_progress(futures)
            computed = sum(client.gather(futures))
    else:
        from dask.diagnostics import ProgressBar

        options = {"scheduler": "processes" if processes else "threads", "num_workers": workers or os.cpu_count()}
        if show:
            with ProgressBar(out=sys.stderr):
                computed = sum(dask.compute(*tasks, **options))
        else:
            computed = sum(dask.compute(*tasks, **options))
    _summaries(sweep, str(out), layout, workers)
    import zarr

    group = _open_group(str(out))
    group.attrs[COMPLETE] = "true"
    zarr.consolidate_metadata(str(out))
    return {"chunks": len(tasks) + skipped, "computed": computed, "skipped": skipped, "complete": True}


def _create(sweep: Sweep, layout: _Layout, out: Path) -> None:
    """Write the empty store under a temporary name beside `out`, then rename it: a store that exists
    is always a whole template (an interrupted creation leaves no half store that a rerun would refuse)."""
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        _template(sweep, layout).to_zarr(temporary, compute=False, zarr_format=2, mode="w-")
        os.rename(temporary, out)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)


def _store_attrs(out: Path) -> dict:
    import zarr

    try:
        return dict(zarr.open_group(str(out), mode="r").attrs)
    except Exception:  # anything unreadable is "not an imapk store"
        raise SweepError("not a Zarr store written by imapk", source=str(out)) from None


def open_sweep(path: str | Path):
    """Open a finished sweep store as an xarray Dataset (lazily, with dask).

    Raises
    ------
    SweepError
        If the store is missing, not imapk's, or unfinished (with the command that resumes it).
    """
    import xarray as xr

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
    return xr.open_zarr(path)


def summary_table(ds) -> list[dict]:
    """One row per cell and threshold, at the cell's last scheduled dose and over its window.

    Columns: the swept values, ``threshold`` and ``threshold_kind``, ``last_day``,
    ``pta_last_dose`` (fraction of subjects with trough >= a trough target; NaN for ceilings),
    ``trough_above_ceiling_last_dose`` (fraction of subjects with trough >= a trough ceiling; NaN
    for the other kinds), ``median_trough_last_dose`` [ng/mL], ``mean_time_below_days`` and
    ``mean_time_above_days`` (mean time per subject with the concentration below, and at or above,
    the threshold; the latter is the exceedance of a concentration ceiling) [d].
    """
    dims = json.loads(ds.attrs["swept_dimensions"])
    # Each dimension's axis, then the axes zipped with it (coordinates along that dimension).
    columns = [c for d in dims for c in (d, *(c for c in ds.coords if c != d and ds[c].dims == (d,)))]
    rows = []
    shape = [ds.sizes[d] for d in dims]
    for index in itertools.product(*(range(n) for n in shape)):
        cell = ds.isel(dict(zip(dims, index)))
        status = cell["dose_status"].values
        last = int(np.flatnonzero(status >= 0)[-1])
        kinds = kinds_of(cell)
        for m, name in enumerate(cell["threshold"].values):
            row = {c: _plain(cell[c].values) for c in columns}
            at_or_above = float(cell["target_attainment"].values[m, last])  # stores before kinds: every threshold
            row.update(
                threshold=str(name),
                threshold_kind=kinds[m],
                last_day=int(cell["day"].values[last]),
                pta_last_dose=at_or_above if kinds[m] == TROUGH_TARGET else math.nan,
                trough_above_ceiling_last_dose=(
                    float(cell["trough_ceiling_exceedance"].values[m, last]) if "trough_ceiling_exceedance" in cell
                    else at_or_above if kinds[m] == TROUGH_CEILING else math.nan
                ),
                median_trough_last_dose=float(cell["trough_quantile"].sel(quantile=0.5).values[last]),
                mean_time_below_days=float(cell["mean_time_below"].values[m]) / 24.0,
                mean_time_above_days=float(cell["mean_time_above"].values[m]) / 24.0 if "mean_time_above" in cell else math.nan,
            )
            rows.append(row)
    return rows


def _plain(value):
    value = value.item() if hasattr(value, "item") else value
    return value
