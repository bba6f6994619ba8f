"""Driver of the ODE engine: the same inputs as the exact engine, plus time-varying rates.

The kernel (``_ode_kernels``) integrates the one-compartment model with an adaptive
Dormand-Prince 8(5,3) pair (DOP853, 7th-order dense output), restarting at every event, and follows rates that change continuously
with time on therapy (see :mod:`imapk.clock` and :class:`imapk.models.base.TimeVariation`).
"""

from __future__ import annotations

import math

import numpy as np

from ..clock import TherapyClock
from ..errors import SimulationError
from ..models.base import TimeVariation
from ..params import ParameterTable
from ..schedule import DoseTable
from . import MIN_ATOL, MIN_RTOL
from . import _ode_kernels as kernels
from .exact import ExactResult, allocate, finish, prepare_inputs

__all__ = ["run_ode", "DEFAULT_RTOL", "DEFAULT_ATOL", "DEFAULT_MAX_STEPS", "STATUS_MESSAGES"]

#: Default relative tolerance of the ODE path.
DEFAULT_RTOL = 1e-8
#: Default absolute tolerance on the amounts in the depot and central compartments. [mg]
DEFAULT_ATOL = 1e-8
#: Default limit of integration steps per subject.
DEFAULT_MAX_STEPS = 1_000_000

STATUS_MESSAGES = {
    1: "the step limit `max_steps` was reached: raise it or loosen `rtol`/`atol`",
    2: "the step size fell below what floating point can resolve: the problem is too stiff for this method",
    3: "the state became non-finite: check the parameters",
}


#: Negative concentrations within this many atol / V of zero are integration noise (set to 0).
NOISE_ATOLS = 10.0




def check_settings(rtol: float, atol: float, max_steps: int) -> None:
    """Refuse tolerances outside [MIN_RTOL, 1) x [MIN_ATOL, inf) and a step limit below 1.

    Raises
    ------
    SimulationError
        Naming the setting, its value and the accepted range (the messages of ``run_ode``).
    """
    if not (MIN_RTOL <= rtol < 1.0) or not (MIN_ATOL <= atol < math.inf):
        raise SimulationError("tolerances out of range", key="rtol/atol", got=(rtol, atol),
                              expected=f"{MIN_RTOL:g} <= rtol < 1 and atol >= {MIN_ATOL:g} mg: tighter than that "
                              "is below what DOP853 in double precision can deliver")
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


def run_ode(
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
) -> ExactResult:
    """Simulate every subject with the adaptive ODE integrator.

    Parameters
    ----------
    table, parameters, times, levels, window
        As for :func:`imapk.engine.exact.run_exact`.
    variation
        Changes of ka, CL and F with time on therapy.
    clock
        Time on therapy as a function of t (default: running from 0 at t = 0).
    rtol
        Relative tolerance.
    atol
        Absolute tolerance on the depot and central amounts. [mg]
    max_steps
        Step limit per subject.

    Raises
    ------
    SimulationError
        If any subject's integration failed (the status and the number of subjects are named).

    Multi-compartment structures (a peripheral compartment, a transit chain) go to
    :func:`imapk.engine.ode_linear.run_ode_linear`.
    """
    if not parameters.one_compartment:
        from .ode_linear import run_ode_linear

        return run_ode_linear(
            table, parameters, variation=variation, clock=clock, times=times, levels=levels, window=window,
            rtol=rtol, atol=atol, max_steps=max_steps,
        )
    check_settings(rtol, atol, max_steps)
    clock, dose_factor, scale = therapy_factors(table, variation, clock)
    x = prepare_inputs(
        table, parameters, times=times, levels=levels, window=window,
        dose_factor=dose_factor, steady_state_scale=scale,
    )
    conc, time_below, longest_below, peak = allocate(x)
    n = x.t0.size
    status = np.zeros(n, dtype=np.int64)
    n_steps = np.zeros(n, dtype=np.int64)
    kernels.simulate_population_ode(
        x.t0, x.ad0, x.ac0, x.input_time, x.input_amount, x.d1, x.change_time, x.ka, x.k, x.v,
        x.obs_time, x.obs_left, x.window[0], x.window[1], x.levels,
        variation.kernel_coefficients(), clock.time, clock.tau, clock.slope,
        float(rtol), float(atol), int(max_steps),
        conc, time_below, longest_below, peak, status, n_steps,
    )
    raise_failures(status)
    clear_noise(conc, atol, x.v.min(axis=1))
    return finish(x, conc, time_below, longest_below, peak)
