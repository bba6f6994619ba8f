"""Driver of the ODE engine: the same inputs as the exact engine, plus time-varying rates.

The kernel (``_ode_kernels``) integrates the one-compartment model with an adaptive
Dormand-Prince 8(5,3) pair (DOP853, 7th-order dense output), restarting at every event, and follows rates that change continuously
with time on therapy (see :mod:`imapk.clock` and :class:`imapk.models.base.TimeVariation`).
"""

from __future__ import annotations

import numpy as np

from ..clock import TherapyClock
from ..errors import SimulationError
from ..models.base import TimeVariation
from ..params import ParameterTable
from ..schedule import DoseTable
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
    if not (0.0 < rtol < 1.0) or not (atol > 0.0):
        raise SimulationError("tolerances out of range", key="rtol/atol", got=(rtol, atol), expected="0 < rtol < 1 and atol > 0 mg")
    if max_steps < 1:
        raise SimulationError("`max_steps` must be at least 1", key="max_steps", got=max_steps)
    if clock is None:
        clock = TherapyClock(np.zeros(1), np.zeros(1), np.ones(1))
    dose_factor = None if variation.f.constant else (lambda t: variation.f(np.maximum(clock(t), 0.0)))
    scale = None
    if table.steady_state is not None:
        start = np.maximum(clock(np.array([-table.steady_state.interval])), 0.0)
        scale = (float(variation.ka(start)[0]), float(variation.cl(start)[0]))
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
    failed = np.flatnonzero(status != 0)
    if failed.size:
        code = int(status[failed[0]])
        raise SimulationError(
            f"the ODE integration failed for {failed.size} of {n} subjects (first: subject {failed[0]}): "
            + STATUS_MESSAGES.get(code, f"status {code}"),
            key="solver",
        )
    # The integrator is accurate to atol, not sign-preserving: where the drug is gone (a long hold)
    # it can return -1e-320 ng/mL. Values within ten times atol / V of zero are set to 0; a larger
    # negative value would be a failure, not noise.
    tolerance = 10.0 * float(atol) / x.v.min(axis=1) * 1000.0  # ng/mL per subject
    if np.any(conc < -tolerance[:, None]):
        raise SimulationError("the ODE integration gave negative concentrations beyond its tolerance", key="solver")
    np.maximum(conc, 0.0, out=conc)
    return finish(x, conc, time_below, longest_below, peak)
