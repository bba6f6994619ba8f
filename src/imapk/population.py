"""Populations: covariates per subject, then parameters with inter-individual variability.

Every random number comes from :mod:`imapk.streams`, keyed by (seed, purpose, subject): covariate
draws by covariate name, random effects by parameter name (``eta:cl``, ``eta:v``, ...), inter-
occasion effects by parameter and dose, residual error by its kind. So subject i is the same
subject whatever the population size or chunking, and two models with a random effect on CL give
subject i the same standard normal for it (common random numbers across models).

Random effects are log-normal: P_i = TV(covariates_i) exp(eta_i), eta_i = L z_i with L the
Cholesky factor of the model's omega and z_i the standard normals keyed by parameter name.
"""

from __future__ import annotations

import csv
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from .covariates import COVARIATES, check_values, unit_factor
from .errors import ParameterError, ScenarioError
from .models.base import PopulationModel, Residual
from .params import ALL_PARAMETER_UNITS, CHANGEABLE, ParameterTable
from .schedule import day_start
from .streams import standard_normals, uniforms

__all__ = [
    "CovariateDistribution",
    "PopulationSpec",
    "draw_covariates",
    "read_covariate_csv",
    "draw_parameters",
    "observed",
    "FOLD_BEFORE_START_H",
    "OCCASION_TIMINGS",
    "occasion_onset_days",
]

#: An occasion change this long before t = 0 is folded into the starting parameters of a
#: steady-state start: its transient has decayed by more than exp(-k x 2400 h), below 1e-10 for any
#: half-life under 100 h.
FOLD_BEFORE_START_H = 2400.0

#: When an occasion's parameters take effect; see :func:`occasion_onset_days`.
OCCASION_TIMINGS = ("fit", "midway", "sampling_day")


def occasion_onset_days(model: PopulationModel, timing: str = "fit") -> tuple[int, ...]:
    """Clinical day from which each occasion's parameters are in force.

    A model's ``occasion_days`` are the days its occasions were *sampled* (Schmidli 2005 and
    Demetri 2009: day 1 and day 29, with the day-29 samples at steady state). NONMEM fitted the
    day-29 troughs as steady-state troughs under the day-29 parameters, so a model started on day
    1 must reach that steady state by day 29:

    * ``"fit"`` (default): each occasion takes effect on the day after the previous occasion's
      sampling day (day 2 for a day-29 occasion: the first occasion of every shipped model was
      sampled on day 1). Day 1, and the trough before the day-2 dose (a left limit), keep the
      first occasion's parameters exactly; by day 29 the transient has decayed (27 days, more than
      20 half-lives for the typical subjects), so the day-29 trough is the second occasion's
      steady state.
    * ``"midway"``: halfway between the two sampling days (day 15).
    * ``"sampling_day"``: at the start of the sampling day itself (t = 672 h for day 29), imapk's
      rule up to 0.1: the day-29 trough is then computed entirely with the first occasion's
      parameters (for Schmidli 2005 -34 % against its own day-29 steady state).

    A step in V at the onset changes the concentration, not the amount: C jumps by V_old / V_new
    (Demetri 2009: 168 -> 226.5 L, C falls by 26 % at the onset).

    Raises
    ------
    ParameterError
        For an unknown `timing` (naming the allowed ones).
    """
    if timing not in OCCASION_TIMINGS:
        raise ParameterError("unknown occasion timing", key="occasion_timing", got=timing,
                             expected=f"one of {', '.join(OCCASION_TIMINGS)}")
    anchors = tuple(model.occasion_days)
    previous = (1, *anchors[:-1])
    if timing == "sampling_day":
        return anchors
    if timing == "midway":
        return tuple(max(p + 1, (p + a + 1) // 2) for p, a in zip(previous, anchors))
    return tuple(min(p + 1, a) for p, a in zip(previous, anchors))


DISTRIBUTIONS = ("fixed", "normal", "lognormal", "uniform", "categorical")


class CovariateRangeWarning(UserWarning):
    """Covariate values lie outside the range a model was fitted on."""


@dataclass(frozen=True)
class CovariateDistribution:
    """How one covariate is given or drawn.

    Parameters
    ----------
    kind
        ``"fixed"`` (every subject has `value`), ``"normal"`` or ``"lognormal"`` (mean and sd of the
        covariate itself before truncation to [low, high] and to its plausible range), ``"uniform"``
        (low, high) or
        ``"categorical"`` (probabilities per level).
    value, mean, sd, low, high
        In the covariate's canonical unit.
    probabilities
        Level -> probability, for categorical covariates; they must sum to 1.
    """

    kind: str
    value: float | str | None = None
    mean: float | None = None
    sd: float | None = None
    low: float | None = None
    high: float | None = None
    probabilities: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class PopulationSpec:
    """A population: its size, seed, covariates and which sources of variability are on.

    Parameters
    ----------
    size
        Number of subjects.
    seed
        Seed of every random draw.
    iiv
        Draw inter-individual random effects (False: every subject at typical values for its covariates).
    residual_error
        Add simulated *observed* troughs with the model's residual error.
    iov_cl
        SD of a log-normal inter-occasion effect on CL drawn anew for every dosing interval (0: none).
    covariates
        Covariate name -> distribution.
    covariate_file
        CSV file with one row per subject (columns ``name [unit]``), instead of or beside `covariates`.
    """

    size: int = 1
    seed: int | None = None
    iiv: bool = True
    residual_error: bool = False
    iov_cl: float = 0.0
    covariates: Mapping[str, CovariateDistribution] = field(default_factory=dict)
    covariate_file: str | None = None


#: A plain decimal number of a CSV cell (ASCII digits, optional sign, point and exponent; nan and inf
#: pass here and are refused by the plausibility check with their row).
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(nan|inf|infinity)", re.IGNORECASE)


#: Column of a covariate file holding each patient's ID (text, unique), carried to the results as
#: the ``subject`` coordinate.
SUBJECT_ID_COLUMN = "id"


def _subject_ids(header, body, row_numbers, column: int, unit, *, source: str, key: str) -> np.ndarray:
    """The ID column: text without a unit, non-empty, printable and unique."""
    if unit:
        raise ScenarioError("the id column takes no unit", source=source, key=key, expected="a header 'id'")
    ids = []
    for r, row in zip(row_numbers, body):
        if len(row) != len(header):
            raise ScenarioError(f"has {len(row)} fields, the header has {len(header)}", source=source, key=f"row {r}")
        cell = row[column].strip()
        if not cell or not cell.isprintable():
            raise ScenarioError(f"empty or unprintable ID in row {r}", source=source, key=key, got=cell)
        ids.append(cell)
    seen: dict[str, int] = {}
    for r, cell in zip(row_numbers, ids):
        if cell in seen:
            raise ScenarioError(f"ID {cell!r} in row {r} is also in row {seen[cell]}", source=source, key=key,
                                expected="one row per patient")
        seen[cell] = r
    return np.array(ids, dtype=str)


def read_covariate_csv(path: str | Path) -> dict[str, np.ndarray]:
    """Covariates from a CSV file with a header ``name [unit]`` per numeric column.

    Units are converted to the canonical ones; unknown columns, missing units, empty or
    implausible values are errors naming the file, the column and the row. An ``id`` column
    (:data:`SUBJECT_ID_COLUMN`: text, unique) names each patient; it is returned under ``"id"``.
    """
    from .files import COVARIATE_MAX_BYTES, check_input_file

    path = Path(path)
    source = str(path)
    # Before any read: a named pipe would block forever, /dev/zero or a huge file would exhaust the memory.
    check_input_file(path, "covariate file", COVARIATE_MAX_BYTES, error=ScenarioError)
    try:
        # utf-8-sig: spreadsheets' "CSV UTF-8" export starts with a byte order mark.
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError:
        raise ScenarioError("no such covariate file", source=source) from None
    except IsADirectoryError:
        raise ScenarioError("cannot read the covariate file: it is a folder", source=source) from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ScenarioError(f"cannot read the covariate file: {error}", source=source) from None
    # Blank lines (before the header, or a trailing newline of a spreadsheet export) are not data.
    numbered = [(r, row) for r, row in enumerate(rows, start=1) if any(cell.strip() for cell in row)]
    if len(numbered) < 2:
        raise ScenarioError("the covariate file needs a header and at least one row", source=source)
    header = numbered[0][1]
    body = [row for _, row in numbered[1:]]
    row_numbers = [r for r, _ in numbered[1:]]
    if len(header) == 1 and any(sep in header[0] for sep in ";\t"):
        sep = ";" if ";" in header[0] else "tab"
        raise ScenarioError(
            f"the header has one column with '{sep}' in it: imapk reads comma-separated files",
            source=source, key="header", expected="columns separated by ','",
        )
    result: dict[str, np.ndarray] = {}
    for column, title in enumerate(header):
        title = title.strip()
        name, _, rest = title.partition("[")
        name = name.strip()
        unit = rest.rstrip("]").strip() if rest else None
        shown = title if title.isprintable() else repr(title)[1:-1]  # keep the message on one line
        key = f"column '{shown}'"
        if name == SUBJECT_ID_COLUMN:
            result[name] = _subject_ids(header, body, row_numbers, column, unit, source=source, key=key)
            continue
        if name not in COVARIATES:
            raise ScenarioError(
                "unknown covariate", source=source, key=key, got=name, expected=f"one of {', '.join(COVARIATES)}"
            )
        if name in result:
            raise ScenarioError("covariate given twice", source=source, key=key)
        spec = COVARIATES[name]
        cells = []
        for r, row in zip(row_numbers, body):
            if len(row) != len(header):
                raise ScenarioError(f"has {len(row)} fields, the header has {len(header)}", source=source, key=f"row {r}")
            cell = row[column].strip()
            if not cell:
                raise ScenarioError(f"empty value in row {r}", source=source, key=key)
            cells.append(cell)
        if spec.categorical:
            if unit:
                raise ScenarioError(f"{name} is categorical and takes no unit", source=source, key=key)
            bad = [c for c in cells if c not in spec.levels]
            if bad:
                r = row_numbers[cells.index(bad[0])]
                raise ScenarioError(
                    f"unknown {name} in row {r}", source=source, key=key, got=bad[0],
                    expected=f"one of {', '.join(spec.levels)}",
                )
            result[name] = np.array(cells, dtype=object).astype(str)
            continue
        if not unit:
            raise ScenarioError(
                "the column header needs a unit", source=source, key=key, expected=f"e.g. '{name} [{spec.unit}]'"
            )
        factor = unit_factor(name, unit, source=source, key=key)
        values = np.empty(len(cells))
        for i, cell in enumerate(cells):
            if not _NUMBER.fullmatch(cell):  # float() would also take '7_0' and full-width digits
                raise ScenarioError(
                    f"not a number in row {row_numbers[i]}", source=source, key=key, got=cell, expected="e.g. 70 or 70.5"
                )
            values[i] = float(cell)
        with np.errstate(over="ignore"):  # 1e308 g/dL overflows to inf, which check_values refuses by row
            values *= factor
        check_values(name, values, source=source, key=key, shown=cells, rows=row_numbers, unit=unit, factor=factor)
        result[name] = values
    return result


def _truncated_normal(mean: float, sd: float, low: float, high: float, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw of N(mean, sd^2) truncated to [low, high], from uniforms u."""
    from scipy.special import ndtr, ndtri

    a = ndtr((low - mean) / sd) if math.isfinite(low) else 0.0
    b = ndtr((high - mean) / sd) if math.isfinite(high) else 1.0
    return mean + sd * ndtri(a + u * (b - a))


def draw_covariates(
    distributions: Mapping[str, CovariateDistribution], seed: int | None, subjects: np.ndarray
) -> dict[str, np.ndarray]:
    """Covariates of `subjects` from their distributions (stream ``covariate:<name>``)."""
    result = {}
    for name, dist in distributions.items():
        spec = COVARIATES[name]
        n = len(subjects)
        if dist.kind == "fixed":
            result[name] = np.full(n, dist.value, dtype=object if spec.categorical else float)
            if spec.categorical:
                result[name] = result[name].astype(str)
            continue
        if seed is None:
            raise ScenarioError("drawing covariates needs a seed", key="population.seed")
        u = uniforms(seed, f"covariate:{name}", subjects, 1)[:, 0]
        low, high = spec.plausible
        if dist.kind in ("normal", "lognormal"):
            low = low if dist.low is None else max(low, dist.low)
            high = high if dist.high is None else min(high, dist.high)
        if dist.kind == "normal":
            result[name] = _truncated_normal(dist.mean, dist.sd, low, high, u)
        elif dist.kind == "lognormal":
            # mean and sd of the covariate itself -> parameters of its logarithm
            sigma2 = math.log1p((dist.sd / dist.mean) ** 2)
            mu = math.log(dist.mean) - sigma2 / 2
            log_low = math.log(low) if low > 0 else -math.inf
            result[name] = np.exp(_truncated_normal(mu, math.sqrt(sigma2), log_low, math.log(high), u))
        elif dist.kind == "uniform":
            result[name] = dist.low + u * (dist.high - dist.low)
        else:  # categorical
            levels = [level for level, _ in dist.probabilities]
            cumulative = np.cumsum([p for _, p in dist.probabilities])
            index = np.minimum(np.searchsorted(cumulative / cumulative[-1], u, side="right"), len(levels) - 1)
            result[name] = np.array(levels)[index]
    return result


def _check_fitted_ranges(model: PopulationModel, covariates: Mapping[str, np.ndarray]) -> None:
    for name, (low, high) in model.fitted_ranges.items():
        if name not in covariates:
            continue
        values = np.asarray(covariates[name], dtype=float)
        outside = (values < low) | (values > high)
        if outside.any():
            warnings.warn(
                f"{outside.sum()} of {values.size} subjects have {name} outside the range model {model.name} "
                f"was fitted on ({low:g}-{high:g} {COVARIATES[name].unit}); its predictions there are extrapolations",
                CovariateRangeWarning,
                stacklevel=3,
            )


def _changing(values: dict[str, np.ndarray], previous: dict[str, np.ndarray], model: PopulationModel) -> dict:
    changed = {name: value for name, value in values.items() if not np.array_equal(value, previous[name])}
    for name in changed:
        if name not in CHANGEABLE:
            raise ParameterError(
                f"model {model.name}: `{name}` changes between occasions, which the engine cannot apply",
                expected=f"occasion effects on {', '.join(CHANGEABLE)}",
            )
    return changed


def draw_parameters(
    model: PopulationModel,
    covariates: Mapping[str, np.ndarray],
    subjects: np.ndarray,
    *,
    seed: int | None,
    iiv: bool = True,
    iov_cl: float = 0.0,
    dose_times: np.ndarray | None = None,
    time_on_therapy_at_start: float | None = 0.0,
    occasion_timing: str = "fit",
) -> ParameterTable:
    """Parameters of `subjects` under `model`, with occasion effects as step changes.

    Parameters
    ----------
    model
        The population model.
    covariates
        Covariate arrays (canonical units), one value per subject.
    subjects
        Subject indices (they position each subject's random numbers).
    seed
        Seed; required when `iiv` or `iov_cl` draw random effects.
    iiv
        Apply the model's inter-individual random effects.
    iov_cl
        SD of a log-normal effect on CL drawn for every dosing interval (needs `dose_times`).
    dose_times
        Scheduled dose times [h], for `iov_cl`.
    time_on_therapy_at_start
        Time on therapy at t = 0 [h]: an occasion starting on therapy day d starts at
        ``24 (d - 1) - time_on_therapy_at_start``. None means long enough for every occasion effect
        to be in force already.
    occasion_timing
        When each occasion's parameters take effect (:func:`occasion_onset_days`).

    Raises
    ------
    ParameterError
        If a covariate the model needs is missing (naming the model and the covariate).
    """
    subjects = np.asarray(subjects, dtype=np.int64)
    n = subjects.size
    _check_fitted_ranges(model, covariates)
    eta = {}
    if iiv and model.iiv_parameters:
        if seed is None:
            raise ParameterError("inter-individual variability needs a seed", key="population.seed")
        z = np.column_stack([standard_normals(seed, f"eta:{name}", subjects, 1)[:, 0] for name in model.iiv_parameters])
        eta_matrix = z @ np.linalg.cholesky(model.omega_matrix).T
        eta = {name: eta_matrix[:, i] for i, name in enumerate(model.iiv_parameters)}

    def individual(occasion: int) -> dict[str, np.ndarray]:
        typical = model.typical_values(covariates, occasion)
        values = {name: np.broadcast_to(value, (n,)).astype(float) for name, value in typical.items()}
        for name, effect in eta.items():
            values[name] = values[name] * np.exp(effect)
        for name, source in model.eta_shared.items():
            values[name] = values[name] * np.exp(eta[source]) if eta else values[name]
        values.setdefault("f", np.ones(n))
        values.setdefault("tlag", np.zeros(n))
        return values

    start_occasion = 0
    occasion_times = []
    for index, day in enumerate(occasion_onset_days(model, occasion_timing), start=1):
        if time_on_therapy_at_start is None:
            start_occasion = index
            continue
        t = day_start(day) - time_on_therapy_at_start
        if t <= 0.0 and (time_on_therapy_at_start == 0.0 or t <= -FOLD_BEFORE_START_H):
            start_occasion = index  # in force from the start (nothing before t = 0, or long decayed)
        else:
            occasion_times.append((t, index))
    by_occasion = {start_occasion: individual(start_occasion)}
    for _, index in occasion_times:
        by_occasion[index] = individual(index)
    kappa = None
    change_points = {t for t, _ in occasion_times}
    if iov_cl > 0.0:
        if seed is None:
            raise ParameterError("inter-occasion variability needs a seed", key="population.seed")
        if dose_times is None:
            raise ParameterError("inter-occasion variability per dose needs the dose times")
        dose_times = np.asarray(dose_times, dtype=float)
        kappa = iov_cl * standard_normals(seed, "iov:cl", subjects, dose_times.size)
        change_points |= set(dose_times.tolist())
    occasion_starts = np.array([t for t, _ in occasion_times])

    def in_force(t: float) -> dict[str, np.ndarray]:
        """Parameters in force from time t on: the occasion's values, with that interval's IOV on CL."""
        passed = int(np.searchsorted(occasion_starts, t, side="right"))
        values = by_occasion[occasion_times[passed - 1][1] if passed else start_occasion]
        if kappa is None:
            return values
        j = int(np.searchsorted(dose_times, t, side="right")) - 1
        if j < 0:
            return values
        return {**values, "cl": values["cl"] * np.exp(kappa[:, j])}

    base = by_occasion[start_occasion]
    changes: dict[float, dict[str, np.ndarray]] = {}
    previous = base
    for t in sorted(change_points):
        values = in_force(t)
        changed = _changing(values, previous, model)
        if changed:
            changes[t] = changed
        previous = values
    values = {name: base.get(name) for name in ALL_PARAMETER_UNITS}
    times = tuple(sorted(changes))
    return ParameterTable(
        values=values, change_times=times, change_values=tuple(changes[t] for t in times), n_transit=model.n_transit
    )


def observed(
    trough: np.ndarray, residual: Residual, seed: int, subjects: np.ndarray, quantification_limit: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Simulated assay results of the troughs, in the residual error's published form, and which are censored.

    Combined error: C (1 + prop e1) + add e2, which can fall below 0 where the additive part is
    large, and even without one whenever e1 < -1/prop (0.1 % of draws for a proportional SD of
    31 %, 0.9 % for 40.6 %); exponential error: C exp(prop e1), always positive. Values are never clipped: a result below the
    quantification limit is returned as drawn and marked censored (a laboratory would report it as
    "< LLOQ"; an analysis treats it as censored, e.g. NONMEM's M3 method).
    Streams ``residual:proportional`` and ``residual:additive`` per (subject, dose).

    Parameters
    ----------
    trough
        Model troughs, (subject, dose). [ng/mL]
    residual
        The model's residual error.
    seed, subjects
        Seed and subject indices positioning the random numbers.
    quantification_limit
        Lower limit of quantification (LLOQ). [ng/mL] With the default 0, only negative values
        (possible with an additive part) are censored.

    Returns
    -------
    (observed, censored)
        Simulated assay values [ng/mL] and a boolean array, True where observed < the limit.
    """
    n_dose = trough.shape[1]
    subjects = np.asarray(subjects)
    values = np.empty(trough.shape)
    # Blocks of subjects keep the random numbers' temporaries small for any population (each
    # subject's numbers do not depend on the block).
    for lo in range(0, trough.shape[0], OBSERVED_BLOCK):
        rows = slice(lo, lo + OBSERVED_BLOCK)
        e1 = standard_normals(seed, "residual:proportional", subjects[rows], n_dose)
        if residual.form == "exponential":
            values[rows] = trough[rows] * np.exp(residual.proportional * e1)
        else:
            e2 = standard_normals(seed, "residual:additive", subjects[rows], n_dose)
            values[rows] = trough[rows] * (1.0 + residual.proportional * e1) + residual.additive * e2
    return values, values < quantification_limit


#: Subjects whose assay results :func:`observed` draws at a time.
OBSERVED_BLOCK = 16_384
