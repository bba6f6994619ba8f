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
from ..models.base import TimeVariation
from ..params import ParameterTable
from ..schedule import DoseTable
from . import _ode_linear_kernels as kernels
from .exact import ExactResult, finish
from .linear import observation, prepare_linear_inputs
from .ode import DEFAULT_ATOL, DEFAULT_MAX_STEPS, DEFAULT_RTOL, check_settings, clear_noise, raise_failures, therapy_factors

__all__ = ["run_ode_linear"]


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
    observe: str = "central",
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
    observe
        ``"central"`` (concentrations [ng/mL]) or ``"peripheral"`` (the peripheral amount [mg], no
        threshold statistics): :func:`imapk.engine.linear.observation`.

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
    observed, v_scale = observation(parameters, observe, levels)
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
        *x.structure, r["ktr"], r["ka"], r["k10"], r["k12"], r["k21"], r["v"] if v_scale is None else v_scale,
        x.obs_time, x.obs_left, x.window[0], x.window[1], x.levels,
        variation.kernel_coefficients(), clock.time, clock.tau, clock.slope,
        float(rtol), float(atol), int(max_steps),
        conc, time_below, longest_below, peak, status, n_steps, observed,
    )
    raise_failures(status)
    clear_noise(conc, atol, (r["v"] if v_scale is None else v_scale).min(axis=1))
    return finish(x, conc, time_below, longest_below, peak)
