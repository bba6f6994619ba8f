"""Driver of the closed-form engine for linear multi-compartment models (two compartments,
transit absorption chains, doses into the central compartment).

The model and its solution are described in :mod:`imapk.engine._linear_kernels`. This module
turns a dose table and a :class:`~imapk.params.ParameterTable` into the kernels' arrays, exactly as
:mod:`imapk.engine.exact` does for the one-compartment model (F scales each dose and tlag shifts
its input before the kernel runs; a steady-state start is the closed-form sum of the infinite
train), and chooses the trough-only fast path when it applies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SimulationError
from ..params import ParameterTable
from ..schedule import DoseTable
from . import _linear_kernels as kernels
from .exact import (
    MIN_PARALLEL_WORK, ExactResult, dose_inputs, fast_path_applies, finish, given_rows, observations, run_trough_kernel,
)

__all__ = ["LinearInputs", "prepare_linear_inputs", "run_linear", "rate_constants", "observation", "OBSERVABLES", "HEAD", "CENTRAL"]

#: Input targets: the first compartment of the absorption chain, or the central compartment.
HEAD, CENTRAL = 0, 1


def rate_constants(parameters: ParameterTable) -> dict[str, np.ndarray]:
    """Rate constants per subject and parameter segment [1/h], and the central volume [L].

    ``k10 = CL/V``, ``k12 = Q/V``, ``k21 = Q/Vp`` (zeros without a peripheral compartment), ``ka``
    and ``ktr`` (zeros where the structure has none).
    """
    v = parameters.segments("v")
    q = parameters.segments("q")
    vp = parameters.segments("vp") if parameters.values.get("vp") is not None else np.ones_like(v)
    return {
        "ktr": parameters.segments("ktr"),
        "ka": parameters.segments("ka"),
        "k10": parameters.segments("cl") / v,
        "k12": q / v,
        "k21": q / vp,
        "v": v,
    }


@dataclass(frozen=True)
class LinearInputs:
    """The arrays the linear kernels take, prepared once from a dose table and parameters.

    Observations are sorted (left limits first at equal times); `order` maps them back.
    """

    structure: tuple[int, int, int]
    t0: np.ndarray
    x0: np.ndarray
    input_time: np.ndarray
    input_amount: np.ndarray
    input_dur: np.ndarray
    input_target: np.ndarray
    change_time: np.ndarray
    rates: dict
    obs_time: np.ndarray
    obs_left: np.ndarray
    order: np.ndarray
    window: tuple[float, float]
    levels: np.ndarray
    n_troughs: int


def _targets(table: DoseTable, dose_target, central_duration) -> tuple[np.ndarray, np.ndarray]:
    """Per scheduled dose: target (HEAD or CENTRAL) and, for central doses, the input duration [h]."""
    n = table.time.size
    target = np.zeros(n, dtype=np.int64) if dose_target is None else np.asarray(dose_target, dtype=np.int64)
    duration = np.zeros(n) if central_duration is None else np.asarray(central_duration, dtype=float)
    if target.shape != (n,) or duration.shape != (n,):
        raise SimulationError("dose targets and durations need one value per scheduled dose", key="dose_target",
                              got=(target.shape, duration.shape), expected=f"({n},)")
    if np.any((target != HEAD) & (target != CENTRAL)) or np.any(~np.isfinite(duration) | (duration < 0.0)):
        raise SimulationError("dose target must be 0 (head of the chain) or 1 (central); durations finite and >= 0",
                              key="dose_target")
    return target, duration


def prepare_linear_inputs(
    table: DoseTable,
    parameters: ParameterTable,
    *,
    times: np.ndarray | None = None,
    levels: np.ndarray | None = None,
    window: tuple[float, float] | None = None,
    dose_factor=None,
    steady_state_scale: tuple[np.ndarray, np.ndarray] | None = None,
    dose_target: np.ndarray | None = None,
    central_duration: np.ndarray | None = None,
) -> LinearInputs:
    """Apply F and tlag to the doses, build the steady-state start and sort the observations.

    Parameters
    ----------
    table, parameters, times, levels, window, dose_factor, steady_state_scale
        As for :func:`imapk.engine.exact.prepare_inputs` (the scale factors act on ka and on k10).
    dose_target
        Per scheduled dose, :data:`HEAD` (default: the first compartment of the absorption chain;
        zero-order over ``d1`` if the model has it) or :data:`CENTRAL` (an intravenous dose).
    central_duration
        Per scheduled dose, the input duration of a central dose [h] (0: bolus).
    """
    n = parameters.n_subjects
    structure = parameters.structure
    n_state = kernels.compartments(*structure)[0]
    d = dose_inputs(table, parameters, times, levels, window, dose_factor)
    times, levels, window, tlag, d1, change_time, pre_times = d.times, d.levels, d.window, d.tlag, d.d1, d.change_time, d.pre_times
    scheduled, given, f = d.scheduled, d.given, d.f
    rates = rate_constants(parameters)
    target, duration = _targets(table, dose_target, central_duration)
    target = np.concatenate([np.full(pre_times.size, HEAD, dtype=np.int64), target])
    duration = np.concatenate([np.zeros(pre_times.size), duration])
    # tlag delays the absorption of an oral dose, not an intravenous one
    input_time = scheduled[None, :] + np.where(target == HEAD, 1.0, 0.0)[None, :] * tlag[:, None]
    if d.delay is not None:
        input_time = input_time + d.delay
    input_amount = given * f
    input_dur = np.where(target[None, :] == HEAD, d1[:, None], duration[None, :])
    if not np.all(np.isfinite(input_amount)) or not np.all(np.isfinite(input_time)):
        raise SimulationError("dose amounts or times are not finite after applying F and tlag")
    # Central doses without a lag can come before a lagged oral dose scheduled earlier: the kernel
    # wants inputs sorted by time, per subject.
    order_in = np.argsort(input_time, axis=1, kind="stable")
    rows = np.arange(n)[:, None]
    input_time, input_amount, input_dur = input_time[rows, order_in], input_amount[rows, order_in], input_dur[rows, order_in]
    if not np.all(order_in == order_in[:1]):
        raise SimulationError("central and oral doses whose order differs between subjects (lags of different "
                              "length) are not supported", key="dose_target")
    input_target = target[order_in[0]]

    t0 = np.zeros(n)
    x0 = np.zeros((n, n_state))
    if pre_times.size:
        interval = table.steady_state.interval
        t0 = pre_times[0] + tlag
        segment = np.searchsorted(change_time, t0, side="right")
        rows1 = np.arange(n)
        f_ss = d.f_steady_state
        at = {name: np.ascontiguousarray(value[rows1, segment]) for name, value in rates.items()}
        if steady_state_scale is not None:
            at["ka"] = at["ka"] * steady_state_scale[0]
            at["k10"] = at["k10"] * steady_state_scale[1]
        bad = kernels.steady_state_population_linear(
            table.steady_state.dose * f_ss, float(interval), tlag, d1, HEAD, *structure,
            at["ktr"], at["ka"], at["k10"], at["k12"], at["k21"], x0,
        )
        if bad:
            raise SimulationError(
                f"the steady state does not exist for {bad} subjects: elimination is too slow for the interval",
                key="schedule.steady_state",
            )

    obs_time, obs_left, order = observations(table, times)
    return LinearInputs(
        structure=structure, t0=t0, x0=x0, input_time=np.ascontiguousarray(input_time),
        input_amount=np.ascontiguousarray(input_amount), input_dur=np.ascontiguousarray(input_dur),
        input_target=np.ascontiguousarray(input_target), change_time=change_time,
        rates={name: np.ascontiguousarray(value) for name, value in rates.items()},
        obs_time=obs_time, obs_left=obs_left, order=order, window=window, levels=levels,
        n_troughs=table.time.size,
    )


#: What the engines can report of a linear model: the central concentration or the peripheral amount.
OBSERVABLES = ("central", "peripheral")


def observation(parameters: ParameterTable, observe: str, levels) -> tuple[int, np.ndarray | None]:
    """(compartment index, volume array or None) that make the kernels report `observe`.

    The kernels report 1000 x[c] / v; for the peripheral amount [mg] they get the peripheral index
    and v = 1000 L (so the value is the amount in mg, to a rounding error).

    Raises
    ------
    SimulationError
        For an unknown observable, the peripheral amount of a model without that compartment, or
        threshold levels with it (they judge concentrations).
    """
    if observe not in OBSERVABLES:
        raise SimulationError("unknown observable", key="observe", got=observe, expected=f"one of {', '.join(OBSERVABLES)}")
    n_state, _, central = kernels.compartments(*parameters.structure)
    if observe == "central":
        return central, None
    if parameters.structure[2] == 0:
        raise SimulationError("the model has no peripheral compartment", key="peripheral",
                              expected="a two-compartment model (q and vp)")
    if levels is not None and len(levels):
        raise SimulationError("threshold levels judge concentrations, not the peripheral amount", key="levels")
    return central + 1, np.full_like(parameters.segments("v"), 1000.0)


def _fast_troughs(table: DoseTable, parameters: ParameterTable) -> np.ndarray | None:
    """Troughs by the fast path when it applies (as :func:`imapk.engine.exact._fast_troughs`), else None."""
    change_dose = fast_path_applies(table, parameters)
    if change_dose is None:
        return None

    rates = {name: np.ascontiguousarray(value) for name, value in rate_constants(parameters).items()}
    f = np.ascontiguousarray(parameters.segments("f"))
    tlag = np.ascontiguousarray(parameters.values["tlag"], dtype=float)
    d1 = np.ascontiguousarray(parameters.segments("d1")[:, 0])
    args = (
        table.time, np.ascontiguousarray(given_rows(table, parameters.n_subjects)),
        np.asarray(table.interval, dtype=float), change_dose,
        *parameters.structure, rates["ktr"], rates["ka"], rates["k10"], rates["k12"], rates["k21"], rates["v"], f, d1, tlag,
    )
    return run_trough_kernel(kernels.troughs_regular_linear, args, tlag.size, table.time.size)


def run_linear(
    table: DoseTable,
    parameters: ParameterTable,
    *,
    times: np.ndarray | None = None,
    levels: np.ndarray | None = None,
    window: tuple[float, float] | None = None,
    dose_factor=None,
    dose_target: np.ndarray | None = None,
    central_duration: np.ndarray | None = None,
    observe: str = "central",
) -> ExactResult:
    """Simulate every subject of a linear multi-compartment model in closed form.

    Parameters are those of :func:`imapk.engine.exact.run_exact`, plus `dose_target` and
    `central_duration` (see :func:`prepare_linear_inputs`) and `observe`: ``"central"`` for
    concentrations [ng/mL], or ``"peripheral"`` for the amount in the peripheral compartment [mg]
    at the troughs' times and `times` (no threshold statistics then).
    """
    observed, v_scale = observation(parameters, observe, levels)
    if observe == "central" and dose_factor is None and dose_target is None and (times is None or len(times) == 0) and (
        levels is None or len(levels) == 0
    ):
        trough = _fast_troughs(table, parameters)
        if trough is not None:
            n = trough.shape[0]
            return ExactResult(trough, np.empty((n, 0)), np.zeros((n, 0)), np.zeros((n, 0)), np.zeros(n))
    x = prepare_linear_inputs(
        table, parameters, times=times, levels=levels, window=window, dose_factor=dose_factor,
        dose_target=dose_target, central_duration=central_duration,
    )
    n = x.t0.size
    conc = np.empty((n, x.obs_time.size))
    time_below = np.zeros((n, x.levels.size))
    longest_below = np.zeros((n, x.levels.size))
    peak = np.zeros(n)
    r = x.rates
    from ._numba import parallel_threads, run_blocks

    def block(lo, hi):
        kernels.simulate_population_linear(
            x.t0[lo:hi], x.x0[lo:hi], x.input_time[lo:hi], x.input_amount[lo:hi], x.input_dur[lo:hi], x.input_target,
            x.change_time, *x.structure, r["ktr"][lo:hi], r["ka"][lo:hi], r["k10"][lo:hi], r["k12"][lo:hi],
            r["k21"][lo:hi], (r["v"] if v_scale is None else v_scale)[lo:hi], x.obs_time, x.obs_left, x.window[0],
            x.window[1], x.levels, conc[lo:hi], time_below[lo:hi], longest_below[lo:hi], peak[lo:hi], observed,
        )

    work = n * (x.input_time.shape[1] * (1 + x.levels.size) + x.obs_time.size)
    run_blocks(block, n, min(parallel_threads(), n) if work >= MIN_PARALLEL_WORK else 1)
    return finish(x, conc, time_below, longest_below, peak)
