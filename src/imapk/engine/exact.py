"""Driver of the closed-form engine: turns a dose table and parameters into kernel arrays.

F scales each dose and tlag shifts its input time here, before the kernel runs (as mrgsolve does
with its dose records); the kernel only ever sees input times and amounts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import SimulationError
from ..params import ParameterTable
from ..schedule import DoseTable
from . import _exact_kernels as kernels

__all__ = ["ExactResult", "KernelInputs", "prepare_inputs", "allocate", "finish", "run_exact"]


@dataclass(frozen=True)
class ExactResult:
    """Arrays produced by the exact engine.

    Attributes
    ----------
    trough
        C(t_j-) at every scheduled dose time, (subject, dose). [ng/mL]
    concentration
        C(t) at the dense times, (subject, time). [ng/mL]
    time_below, longest_below
        Per (subject, level): total and longest continuous time below each level in the window. [h]
    peak
        Highest concentration in the window, (subject,). [ng/mL]
    """

    trough: np.ndarray
    concentration: np.ndarray
    time_below: np.ndarray
    longest_below: np.ndarray
    peak: np.ndarray


def _pre_start_doses(
    table: DoseTable, tlag: np.ndarray, d1: np.ndarray, earliest: float = 0.0
) -> tuple[np.ndarray, int]:
    """Scheduled times of the explicit doses before t = 0 for a steady-state start.

    Doses at -interval, ..., -K interval are simulated; those before are summed in closed form into
    the state at -K interval + tlag. K is large enough that every explicit dose with its lag is
    still ahead of that state, and the summed ones have all been fully absorbed by then (zero-order
    input no longer than the interval), and that the state comes before t = 0 and before
    `earliest` [h]: the first output time, the window start and the first parameter change. The
    kernels see no drug before the state's time, and the closed-form sum uses the parameters in
    force at that time, so a change before t = 0 acts from its own time on.
    """
    ss = table.steady_state
    if ss is None:
        return np.empty(0), 0
    if np.any(d1 > ss.interval):
        raise SimulationError(
            "a steady-state start needs zero-order input no longer than the dosing interval",
            key="schedule.steady_state.interval",
            got=f"d1 = {float(np.max(d1)):g} h > interval {ss.interval:g} h",
        )
    if not math.isfinite(earliest):
        raise SimulationError("output times, the window and parameter change times must be finite", got=earliest)
    max_lag = float(np.max(tlag))
    target = min(earliest, 0.0)
    count = int(math.floor((max_lag - target) / ss.interval)) + 1
    # The state's time, pre_times[0] + tlag, evaluated exactly as run_exact does, must be < target.
    while -ss.interval * count + max_lag >= target:
        count += 1
    if count > MAX_PRE_START_DOSES:
        raise SimulationError(
            "an output time, the window or a parameter change lies too far before t = 0 for a steady-state start",
            got=f"{earliest:g} h",
            expected=f"no earlier than {MAX_PRE_START_DOSES} dosing intervals before t = 0",
        )
    return -ss.interval * np.arange(count, 0, -1, dtype=float), count


#: Explicitly simulated doses before t = 0 at most (a steady-state start needs 1 unless asked for
#: outputs or changes long before t = 0).
MAX_PRE_START_DOSES = 2000


@dataclass(frozen=True)
class KernelInputs:
    """The arrays every engine kernel takes, prepared once from a dose table and parameters.

    Observations are sorted (left limits first at equal times); `order` maps them back.
    """

    t0: np.ndarray
    ad0: np.ndarray
    ac0: np.ndarray
    input_time: np.ndarray
    input_amount: np.ndarray
    d1: np.ndarray
    change_time: np.ndarray
    ka: np.ndarray
    k: np.ndarray
    v: np.ndarray
    obs_time: np.ndarray
    obs_left: np.ndarray
    order: np.ndarray
    window: tuple[float, float]
    levels: np.ndarray
    n_troughs: int


@dataclass(frozen=True)
class DoseInputs:
    """What both closed-form drivers derive first from a dose table and parameters.

    Attributes
    ----------
    times, levels, window
        Dense output times [h], threshold levels [ng/mL] and the statistics window [h], defaults applied.
    tlag, d1
        Lag and zero-order duration per subject. [h]
    change_time
        Times of the parameter changes. [h]
    pre_times
        Explicit doses before t = 0 of a steady-state start (see :func:`_pre_start_doses`). [h]
    scheduled, given
        Scheduled times [h] and given amounts [mg] of those and of the table's doses; `given` is
        (1, doses), shared by all subjects, or (subjects, doses).
    f
        F per subject and dose (the table's step changes and the time-on-therapy factor applied).
    f_steady_state
        F per subject of the infinite train summed in closed form (one interval before the first explicit dose).
    delay
        Hours each dose is taken after its scheduled time, (1 or subjects, doses), or None.
    """

    times: np.ndarray
    levels: np.ndarray
    window: tuple[float, float]
    tlag: np.ndarray
    d1: np.ndarray
    change_time: np.ndarray
    pre_times: np.ndarray
    scheduled: np.ndarray
    given: np.ndarray
    f: np.ndarray
    f_steady_state: np.ndarray | None
    delay: np.ndarray | None = None


def given_rows(table: DoseTable, n_subjects: int) -> np.ndarray:
    """The table's given amounts [mg] as rows: (1, doses) when every subject gets the same doses,
    (subjects, doses) when each has their own (a population's realised schedules)."""
    given = np.asarray(table.given, dtype=float)
    n_dose = table.time.size
    if given.shape == (n_dose,):
        return given[None, :]
    if given.shape == (n_subjects, n_dose) or given.shape == (1, n_dose):
        return given
    raise SimulationError(
        "the given amounts must have one value per scheduled dose, for all subjects or for each",
        key="given", got=list(given.shape), expected=f"({n_dose},) or ({n_subjects}, {n_dose})",
    )


def delay_rows(table: DoseTable, n_subjects: int) -> np.ndarray | None:
    """The table's dose delays [h] as rows, (1 or subjects, doses), or None when every dose is on time;
    a delay must be finite, >= 0 and shorter than its dose's interval (inputs stay in time order)."""
    if table.delay is None:
        return None
    delay = np.asarray(table.delay, dtype=float)
    n_dose = table.time.size
    delay = delay[None, :] if delay.shape == (n_dose,) else delay
    if delay.shape not in ((1, n_dose), (n_subjects, n_dose)):
        raise SimulationError("the dose delays must have one value per scheduled dose, for all subjects or for each",
                              key="delay", got=list(delay.shape), expected=f"({n_dose},) or ({n_subjects}, {n_dose})")
    interval = np.asarray(table.interval, dtype=float)[None, :]
    bad = ~(np.isfinite(delay) & (delay >= 0.0) & (delay < interval))
    if bad.any():
        i, j = (int(x[0]) for x in np.nonzero(bad))
        raise SimulationError("a dose delay must be >= 0 and shorter than the dose's interval", key="delay",
                              got=f"{delay[i, j]:g} h (dose {j})", expected=f"0 <= delay < {interval[0, j]:g} h")
    return delay if np.any(delay) else None


def dose_inputs(table: DoseTable, parameters: ParameterTable, times, levels, window, dose_factor) -> DoseInputs:
    """Defaults of the outputs, and the doses (steady-state train included) with F applied."""
    times = np.empty(0) if times is None else np.asarray(times, dtype=float)
    levels = np.empty(0) if levels is None else np.asarray(levels, dtype=float)
    window = (0.0, table.end) if window is None else (float(window[0]), float(window[1]))
    tlag = parameters.values["tlag"].astype(float)
    d1 = parameters.segments("d1")[:, 0]
    change_time = np.asarray(parameters.change_times, dtype=float)
    earliest = min([window[0]] + [float(np.min(a)) for a in (times, change_time) if a.size])
    pre_times, _ = _pre_start_doses(table, tlag, d1, earliest)
    scheduled = np.concatenate([pre_times, table.time])
    given = given_rows(table, parameters.n_subjects)
    given = np.concatenate(
        [np.full((given.shape[0], pre_times.size), table.steady_state.dose if pre_times.size else 0.0), given], axis=1,
    )
    f = parameters.at_times("f", scheduled)
    if dose_factor is not None:
        f = f * np.asarray(dose_factor(scheduled), dtype=float)[None, :]
    f_ss = None
    if pre_times.size:
        before = pre_times[0] - table.steady_state.interval
        f_ss = parameters.at_times("f", [before])[:, 0]
        if dose_factor is not None:
            f_ss = f_ss * float(np.asarray(dose_factor(np.array([before])))[0])
    delay = delay_rows(table, parameters.n_subjects)
    if delay is not None:
        delay = np.concatenate([np.zeros((delay.shape[0], pre_times.size)), delay], axis=1)
    return DoseInputs(times, levels, window, tlag, d1, change_time, pre_times, scheduled, given, f, f_ss, delay)


def observations(table: DoseTable, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted observation times, their left-limit flags, and the order that sorted them.

    Troughs are left limits at the scheduled times; dense times are right values. At equal times
    the kernels want left limits first.
    """
    obs_time = np.concatenate([table.time, times])
    obs_left = np.concatenate([np.ones(table.time.size, dtype=bool), np.zeros(times.size, dtype=bool)])
    order = np.lexsort((~obs_left, obs_time))
    return obs_time[order], obs_left[order], order


def prepare_inputs(
    table: DoseTable,
    parameters: ParameterTable,
    *,
    times: np.ndarray | None = None,
    levels: np.ndarray | None = None,
    window: tuple[float, float] | None = None,
    dose_factor=None,
    steady_state_scale: tuple[np.ndarray, np.ndarray] | None = None,
) -> KernelInputs:
    """Apply F and tlag to the doses, build the steady-state start and sort the observations.

    Parameters
    ----------
    dose_factor
        Optional function of scheduled dose times [h] -> extra factor on each dose (a relative F
        that depends on time on therapy), shape (doses,).
    steady_state_scale
        Optional factors on (ka, CL) used for the closed-form steady-state start (a time-varying
        model's rates at the start).
    """
    if not parameters.one_compartment:
        raise SimulationError(
            "this computation supports one-compartment models only; the parameters have a peripheral "
            "compartment or a transit chain",
            key="model",
            expected="a one-compartment model (imapk.simulate handles every structure)",
        )
    n = parameters.n_subjects
    d = dose_inputs(table, parameters, times, levels, window, dose_factor)
    times, levels, window, tlag, d1, change_time, pre_times = d.times, d.levels, d.window, d.tlag, d.d1, d.change_time, d.pre_times
    ka = parameters.segments("ka")
    v = parameters.segments("v")
    k = parameters.segments("cl") / v
    input_time = d.scheduled[None, :] + tlag[:, None]
    if d.delay is not None:
        input_time = input_time + d.delay
    input_amount = d.given * d.f
    if not np.all(np.isfinite(input_amount)) or not np.all(np.isfinite(input_time)):
        raise SimulationError("dose amounts or times are not finite after applying F and tlag")

    t0 = np.zeros(n)
    ad0 = np.zeros(n)
    ac0 = np.zeros(n)
    if pre_times.size:
        interval = table.steady_state.interval
        t0 = pre_times[0] + tlag
        segment = np.searchsorted(change_time, t0, side="right")
        rows = np.arange(n)
        f_ss = d.f_steady_state
        ka_ss, k_ss = ka[rows, segment], k[rows, segment]
        if steady_state_scale is not None:
            ka_ss, k_ss = ka_ss * steady_state_scale[0], k_ss * steady_state_scale[1]
        kernels.steady_state_population(table.steady_state.dose * f_ss, interval, ka_ss, k_ss, d1, ad0, ac0)

    obs_time, obs_left, order = observations(table, times)
    return KernelInputs(
        t0=t0, ad0=ad0, ac0=ac0, input_time=input_time, input_amount=input_amount, d1=d1,
        change_time=change_time, ka=ka, k=k, v=v, obs_time=obs_time, obs_left=obs_left,
        order=order, window=window, levels=levels, n_troughs=table.time.size,
    )


def finish(inputs, conc_sorted: np.ndarray, time_below, longest_below, peak) -> ExactResult:
    """Put the observations back in their original order and split troughs from the dense grid
    (`inputs`: the :class:`KernelInputs` or :class:`~imapk.engine.linear.LinearInputs` of the run)."""
    conc = np.empty_like(conc_sorted)
    conc[:, inputs.order] = conc_sorted
    if not np.all(np.isfinite(conc)):
        raise SimulationError("the simulation produced non-finite concentrations; check the parameters")
    return ExactResult(
        trough=conc[:, : inputs.n_troughs],
        concentration=conc[:, inputs.n_troughs :],
        time_below=time_below,
        longest_below=longest_below,
        peak=peak,
    )


def allocate(inputs: KernelInputs) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Output arrays of a kernel run: concentrations (sorted), time below, longest below, peak."""
    n = inputs.t0.size
    return (
        np.empty((n, inputs.obs_time.size)),
        np.zeros((n, inputs.levels.size)),
        np.zeros((n, inputs.levels.size)),
        np.zeros(n),
    )


#: Subject-doses below which the fast trough path runs on the calling thread only.
MIN_PARALLEL_WORK = 200_000


def fast_path_applies(table: DoseTable, parameters: ParameterTable) -> np.ndarray | None:
    """The dose index of each parameter change when the trough-only fast path applies, else None.

    It applies without a steady-state start or late doses, when every parameter change falls on a scheduled dose
    time after the first, and when every lag plus zero-order duration is shorter than every interval.
    """
    if table.steady_state is not None or delay_rows(table, parameters.n_subjects) is not None:
        return None
    change_time = np.asarray(parameters.change_times, dtype=float)
    change_dose = np.searchsorted(table.time, change_time)
    if change_time.size and (
        np.any(change_dose >= table.time.size) or np.any(change_dose == 0)
        or np.any(table.time[np.minimum(change_dose, table.time.size - 1)] != change_time)
    ):
        return None
    tlag = np.asarray(parameters.values["tlag"], dtype=float)
    d1 = parameters.segments("d1")[:, 0]
    interval = np.asarray(table.interval, dtype=float)
    if tlag.size and interval.size > 1 and not float((tlag + d1).max()) < float(interval[:-1].min()):
        return None
    return change_dose.astype(np.int64)


def _fast_path_arguments(table: DoseTable, parameters: ParameterTable) -> tuple | None:
    """The arguments the fast-path kernels share when the fast path applies (see
    :func:`fast_path_applies`), else None."""
    change_dose = fast_path_applies(table, parameters)
    if change_dose is None:
        return None
    tlag = np.ascontiguousarray(parameters.values["tlag"], dtype=float)
    d1 = np.ascontiguousarray(parameters.segments("d1")[:, 0])
    interval = np.asarray(table.interval, dtype=float)
    segments = {name: np.ascontiguousarray(parameters.segments(name)) for name in ("cl", "v", "ka", "f")}
    return (
        table.time, np.ascontiguousarray(given_rows(table, parameters.n_subjects)), interval, change_dose,
        segments["cl"], segments["v"], segments["ka"], segments["f"], d1, tlag,
    )


def _fast_troughs(table: DoseTable, parameters: ParameterTable) -> np.ndarray | None:
    """Troughs by the fast path when it applies (see :func:`fast_path_applies`), else None."""
    args = _fast_path_arguments(table, parameters)
    if args is None:
        return None
    return run_trough_kernel(kernels.troughs_regular, args, parameters.n_subjects, table.time.size)


def _fast_verdicts(table: DoseTable, parameters: ParameterTable, levels: np.ndarray, window) -> ExactResult | None:
    """Troughs and threshold statistics by the fast path when it applies, else None
    (:func:`imapk.engine._verdict_kernels.verdicts_regular`)."""
    from . import _verdict_kernels

    args = _fast_path_arguments(table, parameters)
    if args is None:
        return None
    n = parameters.n_subjects
    levels = np.ascontiguousarray(levels, dtype=float)
    window = (0.0, table.end) if window is None else (float(window[0]), float(window[1]))
    time_below = np.zeros((n, levels.size))
    longest_below = np.zeros((n, levels.size))
    peak = np.zeros(n)
    stats = (window[0], window[1], levels)
    trough = run_trough_kernel(
        lambda *a: _verdict_kernels.verdicts_regular(*a[:-3], *stats, *a[-3:], time_below, longest_below, peak),
        args, n, table.time.size,
    )
    return ExactResult(trough, np.empty((n, 0)), time_below, longest_below, peak)


def run_trough_kernel(kernel, args: tuple, n: int, n_doses: int) -> np.ndarray:
    """Troughs (n, n_doses) from a fast-path kernel ``kernel(*args, first, last, out)`` run over
    blocks of subjects (on threads for large work), which returns its count of non-finite values."""
    from ._numba import parallel_threads, run_blocks

    out = np.empty((n, n_doses))
    threads = min(parallel_threads(), n) if n * n_doses >= MIN_PARALLEL_WORK else 1
    bad = run_blocks(lambda lo, hi: kernel(*args, lo, hi, out), n, threads)
    if sum(bad):
        raise SimulationError("the simulation produced non-finite concentrations; check the parameters")
    return out


def run_exact(
    table: DoseTable,
    parameters: ParameterTable,
    *,
    times: np.ndarray | None = None,
    levels: np.ndarray | None = None,
    window: tuple[float, float] | None = None,
    dose_factor=None,
) -> ExactResult:
    """Simulate every subject with the closed-form engine.

    Parameters
    ----------
    table
        The lowered schedule.
    parameters
        Per-subject parameters and their step changes.
    times
        Dense output times. [h]
    levels
        Concentration levels for time-below statistics. [ng/mL]
    window
        (start, end) of the window for the statistics. [h]
    dose_factor
        Optional extra factor on each dose as a function of scheduled dose times (see
        :func:`prepare_inputs`).

    Multi-compartment structures (a peripheral compartment, a transit chain) go to
    :func:`imapk.engine.linear.run_linear`.
    """
    if not parameters.one_compartment:
        from .linear import run_linear

        return run_linear(table, parameters, times=times, levels=levels, window=window, dose_factor=dose_factor)
    from ._numba import interpret

    # Small work (one patient, a year of doses, an hourly curve) runs uncompiled: importing numba and
    # loading a cached kernel costs more (about 0.55 s) than the interpreter takes (about 0.05 s).
    # Same source, same IEEE operations: the results are bit-identical (tested).
    n_levels = 0 if levels is None else len(levels)
    n_times = 0 if times is None else len(times)
    with interpret(parameters.n_subjects * (table.time.size * (1 + n_levels) + n_times)):
        return _run_one_compartment(table, parameters, times=times, levels=levels, window=window, dose_factor=dose_factor)


def _run_one_compartment(table, parameters, *, times, levels, window, dose_factor) -> ExactResult:
    """:func:`run_exact` for one-compartment parameters."""
    if dose_factor is None and (times is None or len(times) == 0):
        if levels is None or len(levels) == 0:
            trough = _fast_troughs(table, parameters)
            if trough is not None:
                n = trough.shape[0]
                return ExactResult(trough, np.empty((n, 0)), np.zeros((n, 0)), np.zeros((n, 0)), np.zeros(n))
        else:
            result = _fast_verdicts(table, parameters, levels, window)
            if result is not None:
                return result
    x = prepare_inputs(table, parameters, times=times, levels=levels, window=window, dose_factor=dose_factor)
    conc, time_below, longest_below, peak = allocate(x)
    from ._numba import parallel_threads, run_blocks

    def block(lo, hi):  # subjects lo..hi-1: views along the subject axis, written in place
        kernels.simulate_population(
            x.t0[lo:hi], x.ad0[lo:hi], x.ac0[lo:hi], x.input_time[lo:hi], x.input_amount[lo:hi], x.d1[lo:hi],
            x.change_time, x.ka[lo:hi], x.k[lo:hi], x.v[lo:hi],
            x.obs_time, x.obs_left, x.window[0], x.window[1], x.levels,
            conc[lo:hi], time_below[lo:hi], longest_below[lo:hi], peak[lo:hi],
        )

    n = x.t0.size
    work = n * (x.input_time.shape[1] * (1 + x.levels.size) + x.obs_time.size)
    run_blocks(block, n, min(parallel_threads(), n) if work >= MIN_PARALLEL_WORK else 1)
    return finish(x, conc, time_below, longest_below, peak)
