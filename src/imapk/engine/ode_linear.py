"""Driver of the ODE engine for linear multi-compartment models with time-varying rates.

The structures (transit chain, absorption compartment, central and peripheral compartments) and
the dose inputs are those of :mod:`imapk.engine.linear`, whose :func:`~imapk.engine.linear.prepare_linear_inputs`
builds the kernel arrays here too (F and tlag on the doses, dose targets, the steady-state start
in closed form with the rates at the start). The kernel (``_ode_linear_kernels``) integrates
dx/dt = A(t) x + r with the adaptive Dormand-Prince 8(5,3) pair of the one-compartment ODE path,
following an absorption rate and a clearance that change continuously with time on therapy (see
:mod:`imapk.clock` and :class:`imapk.models.base.TimeVariation`). :func:`imapk.engine.ode.run_ode`
sends every structure other than the one-compartment model here.
"""

from __future__ import annotations

import numpy as np

from ..clock import TherapyClock
from ..errors import SimulationError
from ..models.base import TimeVariation
from ..params import ParameterTable
from ..schedule import DoseTable
from . import _ode_linear_kernels as kernels
from .exact import ExactResult
from .linear import finish_linear, prepare_linear_inputs
from .ode import DEFAULT_ATOL, DEFAULT_MAX_STEPS, DEFAULT_RTOL, STATUS_MESSAGES

__all__ = ["run_ode_linear", "check_settings", "therapy_factors", "raise_failures", "clear_noise"]

#: Negative concentrations within this many atol / V of zero are integration noise (set to 0).
NOISE_ATOLS = 10.0


def check_settings(rtol: float, atol: float, max_steps: int) -> None:
    """Refuse tolerances outside (0, 1) x (0, inf) and a step limit below 1.

    Raises
    ------
    SimulationError
        Naming the setting, its value and the accepted range (the messages of ``run_ode``).
    """
    if not (0.0 < rtol < 1.0) or not (atol > 0.0):
        raise SimulationError("tolerances out of range", key="rtol/atol", got=(rtol, atol),
                              expected="0 < rtol < 1 and atol > 0 mg")
    if max_steps < 1:
        raise SimulationError("`max_steps` must be at least 1", key="max_steps", got=max_steps)


def therapy_factors(table: DoseTable, variation: TimeVariation, clock: TherapyClock | None):
    """The clock (default: running from 0 at t = 0), the dose factor F(tau) and the steady-state rate factors.

    Returns
    -------
    (clock, dose_factor, scale)
        `dose_factor` maps scheduled dose times [h] to the relative F at the clock's reading (None
        if F is constant); `scale` holds the factors (g_ka, g_CL) at the start of the steady-state
        train (None without one), as ``run_ode`` computes them.
    """
    clock = TherapyClock(np.zeros(1), np.zeros(1), np.ones(1)) if clock is None else clock
    dose_factor = None
    if not variation.f.constant:
        def dose_factor(t):
            return variation.f(np.maximum(clock(t), 0.0))  # no negative time on therapy

    scale = None
    if table.steady_state is not None:  # the rates in force when the train started
        tau = np.maximum(clock(np.array([-table.steady_state.interval])), 0.0)
        scale = (float(variation.ka(tau)[0]), float(variation.cl(tau)[0]))
    return clock, dose_factor, scale


def raise_failures(status: np.ndarray) -> None:
    """Raise if any subject's integration failed, naming the count, the first subject and the cause.

    Raises
    ------
    SimulationError
        With the message of :data:`imapk.engine.ode.STATUS_MESSAGES` for the first failure.
    """
    if not np.any(status != 0):
        return
    first = int(np.argmax(status != 0))
    code = int(status[first])
    raise SimulationError(
        f"the ODE integration failed for {np.count_nonzero(status)} of {status.size} subjects (first: subject {first}): "
        + STATUS_MESSAGES.get(code, f"status {code}"),
        key="solver",
    )


def clear_noise(conc: np.ndarray, atol: float, v_min: np.ndarray) -> None:
    """Set integration noise below zero to 0 in place; refuse larger negative concentrations.

    The integrator is accurate to atol, not sign-preserving: where the drug is gone (a long hold)
    it can return -1e-320 ng/mL. Values within :data:`NOISE_ATOLS` times atol / V of zero are
    noise (V the smallest central volume of each subject [L]; atol in mg).

    Raises
    ------
    SimulationError
        If a concentration lies further below zero: a failure, not noise.
    """
    tolerance = NOISE_ATOLS * float(atol) / v_min * 1000.0  # ng/mL per subject
    if np.any(conc < -tolerance[:, None]):
        raise SimulationError("the ODE integration gave negative concentrations beyond its tolerance", key="solver")
    np.maximum(conc, 0.0, out=conc)


def run_ode_linear(
    table: DoseTable,
    parameters: ParameterTable,
    *,
    variation: TimeVariation = TimeVariation(),
    clock: TherapyClock | None = None,
    times: np.ndarray | None = None,
    levels: np.ndarray | None = None,
    window: tuple[float, float] | None = None,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    max_steps: int = DEFAULT_MAX_STEPS,
    dose_target: np.ndarray | None = None,
    central_duration: np.ndarray | None = None,
) -> ExactResult:
    """Simulate every subject of a linear multi-compartment model with the adaptive ODE integrator.

    Parameters
    ----------
    table, parameters, times, levels, window
        As for :func:`imapk.engine.exact.run_exact`; any structure of the linear family
        (``parameters.structure``), the one-compartment model included.
    variation
        How ka, CL and F change with time on therapy tau: ka and k10 = CL/V follow g(tau)
        continuously, F scales each dose at its scheduled time.
    clock
        The therapy clock tau(t) (default: tau = t, running from 0 at the first dose).
    rtol, atol
        Relative tolerance, and absolute tolerance on the amount in every compartment [mg].
    max_steps
        Integration steps (accepted and rejected) allowed per subject.
    dose_target, central_duration
        Per scheduled dose, the head of the chain or the central compartment, and the duration of
        a central input [h] (see :func:`imapk.engine.linear.prepare_linear_inputs`).

    Returns
    -------
    ExactResult
        Troughs, dense concentrations [ng/mL], time below and longest time below each level [h],
        and the peak [ng/mL], accurate to the tolerances (see ``_ode_linear_kernels``).

    Raises
    ------
    SimulationError
        For tolerances or a step limit out of range, or if any subject's integration failed
        (the status and the number of subjects are named).

    Examples
    --------
    Eechoute 2012's structure (five transit compartments, two compartments), 400 mg daily for a week:

    >>> from imapk.params import PKParams, ParameterTable
    >>> from imapk.schedule import Phase, Schedule
    >>> p = PKParams(cl=9.12, v=128.0, ka=0.699, q=24.9, vp=197.0, ktr=15.8, n_transit=5)
    >>> result = run_ode_linear(Schedule(phases=(Phase(dose=400, days=7),)).lower(), ParameterTable.from_params(p))
    >>> round(float(result.trough[0, 6]), 1)  # the day-7 trough [ng/mL]
    1176.4
    """
    check_settings(rtol, atol, max_steps)
    clock, dose_factor, scale = therapy_factors(table, variation, clock)
    x = prepare_linear_inputs(
        table, parameters, times=times, levels=levels, window=window, dose_factor=dose_factor,
        steady_state_scale=scale, dose_target=dose_target, central_duration=central_duration,
    )
    n = x.t0.size
    conc = np.empty((n, x.obs_time.size))
    time_below = np.zeros((n, x.levels.size))
    longest_below = np.zeros((n, x.levels.size))
    peak = np.zeros(n)
    status = np.zeros(n, dtype=np.int64)
    n_steps = np.zeros(n, dtype=np.int64)
    r = x.rates
    kernels.simulate_population_ode_linear(
        x.t0, x.x0, x.input_time, x.input_amount, x.input_dur, x.input_target, x.change_time,
        *x.structure, r["ktr"], r["ka"], r["k10"], r["k12"], r["k21"], r["v"],
        x.obs_time, x.obs_left, x.window[0], x.window[1], x.levels,
        variation.kernel_coefficients(), clock.time, clock.tau, clock.slope,
        float(rtol), float(atol), int(max_steps),
        conc, time_below, longest_below, peak, status, n_steps,
    )
    raise_failures(status)
    clear_noise(conc, atol, r["v"].min(axis=1))
    return finish_linear(x, conc, time_below, longest_below, peak)
