"""Bayesian MAP estimation of one patient's PK parameters from measured imatinib levels.

The posterior of the patient's random effects eta (log scale, one per parameter of the model's
``iiv_parameters``) given the measured levels y_1..y_n at their real sampling times is

    U(eta) = -log p(eta | y) + const
           = sum_j l_j(y_j | C_j(eta)) + eta' Omega^-1 eta / 2                                    (1)

where C_j(eta) is the concentration predicted by imapk's closed-form engine at the j-th sampling
time for the parameters P = P_typical(covariates, occasion) exp(eta) (as
:func:`imapk.population.draw_parameters` applies the random effects) or, for a patient's records
that a dose table cannot express (:mod:`imapk.tdm.records`), by walking those records with
NONMEM's event semantics (:class:`imapk.dataset_simulation.SubjectWalker`), and l_j is the negative log
likelihood of the residual error model in the form its source fitted (constants dropped):

* combined (proportional and/or additive), sd_j = sqrt((prop C_j)^2 + add^2):
  l_j = log sd_j + (y_j - C_j)^2 / (2 sd_j^2);                                                    (2)
* exponential (log-transform both sides), sd = prop:
  l_j = log sd + (log y_j - log C_j)^2 / (2 sd^2);                                                 (3)
* a value reported below the lower limit of quantification (BLQ) is censored, Beal's M3 method [1]_:
  l_j = -log Phi((LLOQ - C_j) / sd_j), on the log scale for the exponential form.                  (4)

U is minimised by a damped Newton iteration from one or more starts; its gradient and Hessian are
taken by central differences, all 2 p^2 + 1 parameter vectors of one iteration simulated as the
subjects of one engine call, and every trial step of the backtracking line search in another.
(scipy's L-BFGS-B finds the same mode but needs about ten times more engine calls, and its BLAS
calls were measured to slow to milliseconds each while numba's worker threads are alive.) The uncertainty of eta is the inverse of the finite-difference Hessian of U at the mode (the
Laplace approximation), checked by importance sampling from a multivariate t proposal centred at
the mode with the Laplace covariance as its scale (the weights exp(-U) / q correct for what the
Laplace approximation misses; their effective sample size says how much it missed). The weighted
samples give the sampled intervals, the posterior predictive troughs and every probability of
:mod:`imapk.tdm.planning`.

This is the approach of Bayesian TDM tools (Tucuxi, mapbayr, posologyr); see [2]_ for the
method and its shrinkage diagnostics.

References
----------
.. [1] S. L. Beal, "Ways to fit a PK model with some data below the quantification limit,"
   J. Pharmacokinet. Pharmacodyn., vol. 28, no. 5, pp. 481-504, 2001. doi:10.1023/A:1012299115260
.. [2] R. M. Savic and M. O. Karlsson, "Importance of shrinkage in empirical Bayes estimates for
   diagnostics: problems and solutions," AAPS J., vol. 11, no. 3, pp. 558-569, 2009.
   doi:10.1208/s12248-009-9133-0
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

import numpy as np

from ..errors import ImapkError, ParameterError, ScheduleError
from ..models.base import PopulationModel, Residual
from ..params import ParameterTable
from ..schedule import GIVEN, DoseTable, Schedule

__all__ = [
    "Observations",
    "MapResult",
    "FitWarning",
    "dose_table",
    "map_estimate",
    "posterior_concentrations",
    "weighted_quantile",
]

#: Smallest residual SD used in (2) and (4): a proportional-only error model has sd = 0 where the
#: prediction is 0 (before the first dose). [ng/mL]
SD_FLOOR = 1e-3
#: Smallest prediction whose logarithm is taken in (3). [ng/mL]
C_FLOOR = 1e-9
#: Step of the central differences for the gradient and the Hessian of U in eta. [1]
HESSIAN_STEP = 1e-3
#: The Newton iteration stops when its step is below this in every eta. [1]
MODE_TOLERANCE = 1e-7
#: The optimiser keeps eta within this many prior SDs of 0.
ETA_BOUND_SD = 8.0
#: Degrees of freedom of the multivariate t proposal of the importance sampler.
PROPOSAL_DF = 5.0
#: |IWRES| above which an observation is reported as poorly fitted.
IWRES_LIMIT = 3.0
#: Prior tail probability below which the mode is reported as far in the prior's tail.
TAIL_PROBABILITY = 1e-3
#: Effective sample size, as a fraction of the samples, below which the sampling check warns.
MIN_ESS_FRACTION = 0.1


class FitWarning(UserWarning):
    """A MAP fit that should be looked at: an observation far from its prediction (``|IWRES| > 3``),
    levels jointly far from theirs (sum of IWRES^2 beyond the 99.9th percentile of chi-square with
    one degree of freedom per level), a mode far in the prior's tail (eta' Omega^-1 eta beyond the
    99.9th percentile of chi-square with p degrees of freedom), an optimiser that did not converge, or a Laplace approximation that the
    importance sampler contradicts."""


@dataclass(frozen=True)
class Observations:
    """Measured plasma levels of one patient.

    Parameters
    ----------
    time
        Sampling times, on the dose table's clock (t = 0 h is the first scheduled dose). [h]
    value
        Measured total imatinib concentration; ignored (may be NaN) where `censored`. [ng/mL]
    censored
        True where the laboratory reported the level as below the limit of quantification.
    lloq
        Lower limit of quantification of each sample (used where `censored`). [ng/mL]
    """

    time: np.ndarray
    value: np.ndarray
    censored: np.ndarray
    lloq: np.ndarray

    @classmethod
    def from_arrays(cls, time, value, censored=None, lloq=None) -> "Observations":
        """Check and normalise arrays (or scalars); see the class for the meaning of each."""
        t = np.atleast_1d(np.asarray(time, dtype=float))
        y = np.atleast_1d(np.asarray(value, dtype=float))
        n = t.size
        if t.ndim != 1 or y.shape != t.shape:
            raise ImapkError("observation times and values must be 1-D arrays of one length", key="observations",
                             got=f"{t.shape} and {y.shape}")
        c = np.zeros(n, dtype=bool) if censored is None else np.broadcast_to(np.asarray(censored, dtype=bool), (n,)).copy()
        q = np.zeros(n) if lloq is None else np.broadcast_to(np.asarray(lloq, dtype=float), (n,)).copy()
        if not np.all(np.isfinite(t)):
            raise ImapkError("observation times must be finite", key="observations.time", got=t.tolist())
        if np.any(~c & ~np.isfinite(y)):
            raise ImapkError("a measured level must be a finite number (mark a level below the limit as censored)",
                             key="observations.value", got=y[~c & ~np.isfinite(y)][0])
        if np.any(c & ~(q > 0)):
            raise ImapkError("a censored (below-quantification) observation needs its LLOQ > 0",
                             key="observations.lloq", got=q[c & ~(q > 0)][0], expected="> 0 ng/mL")
        return cls(time=t, value=y, censored=c, lloq=q)

    @property
    def size(self) -> int:
        return int(self.time.size)


def dose_table(times: Sequence[float], amounts: Sequence[float] | float, *, interval: float = 24.0) -> DoseTable:
    """A dose table from plain dose times and given amounts.

    Parameters
    ----------
    times
        Times of the doses, increasing; t = 0 h is the first dose. [h]
    amounts
        Amount of each dose (or one for all), mg of imatinib free base. [mg]
    interval
        Interval after the last dose (sets the end of the table). [h]
    """
    t = np.atleast_1d(np.asarray(times, dtype=float))
    a = np.broadcast_to(np.asarray(amounts, dtype=float), t.shape).astype(float)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) or np.any(np.diff(t) < 0):
        raise ScheduleError("dose times must be a non-empty increasing 1-D array of hours", key="doses.time")
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ScheduleError("dose amounts must be finite and >= 0 mg", key="doses.amount")
    gaps = np.append(np.diff(t), float(interval))
    n = t.size
    return DoseTable(
        time=t, interval=gaps, planned=a.copy(), given=a.copy(), status=np.full(n, GIVEN, dtype=np.int8),
        phase=np.full(n, "data", dtype=object), hold=np.full(n, -1, dtype=np.int64),
        restart_index=np.empty(0, dtype=np.int64), hold_labels=(),
    )


def _as_table(doses) -> DoseTable:
    if isinstance(doses, DoseTable):
        return doses
    if isinstance(doses, Schedule):
        return doses.lower()
    if isinstance(doses, tuple) and len(doses) == 2:
        return dose_table(*doses)
    raise ImapkError("doses must be a DoseTable, a Schedule or a (times [h], amounts [mg]) pair", key="doses",
                     got=type(doses).__name__)


@dataclass(frozen=True)
class _Prior:
    """A model's typical parameters for one patient (occasions as step changes), its IIV, and the
    dose intervals whose inter-occasion effect on CL (kappa) is estimated.

    A parameter vector theta is (eta_1..eta_p, kappa_1..kappa_m): kappa_i multiplies CL by
    exp(kappa_i) from `iov_start[i]` to `iov_end[i]` (the dose interval holding an observation)."""

    model: PopulationModel
    typical: ParameterTable  # one subject, occasion changes as in the estimation window
    long_term: ParameterTable  # one subject, every occasion effect in force
    omega: np.ndarray
    omega_inv: np.ndarray
    iov_cl: float = 0.0
    iov_start: np.ndarray = field(default_factory=lambda: np.empty(0))  # [h]
    iov_end: np.ndarray = field(default_factory=lambda: np.empty(0))  # [h]
    last_observation: float = -math.inf  # [h]

    @property
    def names(self) -> tuple[str, ...]:
        return self.model.iiv_parameters

    @property
    def size(self) -> int:
        """Length of theta: the random effects, then the estimated kappas."""
        return len(self.names) + self.iov_start.size

    @property
    def covariance(self) -> np.ndarray:
        """Prior covariance of theta: Omega, then iov_cl^2 for each kappa (independent)."""
        m = self.iov_start.size
        p = len(self.names)
        out = np.zeros((p + m, p + m))
        out[:p, :p] = self.omega
        out[p:, p:] = np.eye(m) * self.iov_cl**2
        return out

    @property
    def precision(self) -> np.ndarray:
        """Inverse of :attr:`covariance`."""
        m = self.iov_start.size
        p = len(self.names)
        out = np.zeros((p + m, p + m))
        out[:p, :p] = self.omega_inv
        if m:
            out[p:, p:] = np.eye(m) / self.iov_cl**2
        return out

    def future_intervals(self, table: DoseTable) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) [h] of the dose intervals of `table` after the last observation that are
        not estimated: with IOV, each gets a new kappa in predictions; none without IOV."""
        if self.iov_cl <= 0.0:
            return np.empty(0), np.empty(0)
        starts = table.time
        ends = np.append(table.time[1:], table.end)
        keep = (starts >= self.last_observation) & ~np.isin(starts, self.iov_start) & (ends > starts)
        return starts[keep], ends[keep]

    def _scaled(self, values: Mapping, eta: np.ndarray) -> dict:
        k = eta.shape[0]
        out = {name: (None if v is None else np.repeat(np.asarray(v, dtype=float)[:1], k)) for name, v in values.items()}
        for i, name in enumerate(self.names):
            if out.get(name) is not None:
                out[name] = out[name] * np.exp(eta[:, i])
        for target, source in self.model.eta_shared.items():
            if out.get(target) is not None:
                out[target] = out[target] * np.exp(eta[:, self.names.index(source)])
        return out

    def table(self, theta: np.ndarray, long_term: bool = False, extra=None) -> ParameterTable:
        """Parameters of one subject per row of `theta` (k, p) or (k, p + m).

        The kappas of `theta` (columns p on) act on their dose intervals (not with `long_term`:
        every occasion effect in force, no interval effect); `extra` = (start [h], end [h], kappa
        (k, n)) adds interval effects on other intervals (new kappas for future doses)."""
        base = self.long_term if long_term else self.typical
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        p = len(self.names)
        eta = theta[:, :p]
        table = ParameterTable(
            values=self._scaled(base.values, eta),
            change_times=base.change_times,
            change_values=tuple(self._scaled(change, eta) for change in base.change_values),
            n_transit=base.n_transit,
        )
        intervals = kappa_intervals(self, theta, extra, estimated=not long_term)
        return table if intervals is None else _with_interval_effects(table, *intervals)


def kappa_intervals(prior, theta: np.ndarray, extra=None, *, estimated: bool = True):
    """(starts [h], ends [h], kappa (k, m)) of the inter-occasion effects on CL for the rows of `theta`:
    the estimated kappas (columns p on) on the prior's intervals (unless not `estimated`), then `extra`
    = (start, end, kappa) on other intervals; None when there are none."""
    p = len(prior.names)
    starts, ends, kappas = [], [], []
    if estimated and theta.shape[1] > p and prior.iov_start.size:
        starts.append(prior.iov_start)
        ends.append(prior.iov_end)
        kappas.append(theta[:, p:p + prior.iov_start.size])
    if extra is not None and np.asarray(extra[0]).size:
        starts.append(np.asarray(extra[0], dtype=float))
        ends.append(np.asarray(extra[1], dtype=float))
        kappas.append(np.broadcast_to(np.atleast_2d(np.asarray(extra[2], dtype=float)),
                                      (theta.shape[0], np.asarray(extra[0]).size)))
    if not starts:
        return None
    return np.concatenate(starts), np.concatenate(ends), np.hstack(kappas)


def _with_interval_effects(table: ParameterTable, starts: np.ndarray, ends: np.ndarray,
                           kappa: np.ndarray) -> ParameterTable:
    """`table` with CL multiplied by exp(kappa[:, i]) from starts[i] to ends[i] [h] (disjoint intervals,
    as :func:`imapk.population.draw_parameters` applies inter-occasion variability per dose interval)."""
    k = kappa.shape[0]
    order = np.argsort(starts)
    starts, ends, kappa = starts[order], ends[order], kappa[:, order]
    occasion = dict(zip(table.change_times, table.change_values))
    points = sorted(set(table.change_times) | set(starts.tolist()) | set(ends.tolist()))
    cl = np.broadcast_to(np.asarray(table.values["cl"], dtype=float), (k,))
    values = {name: (None if v is None else np.broadcast_to(np.asarray(v, dtype=float), (k,)).copy())
              for name, v in table.values.items()}
    times, changes = [], []
    for t in points:
        change = {name: np.broadcast_to(np.asarray(v, dtype=float), (k,)).copy() for name, v in occasion.get(t, {}).items()}
        if "cl" in change:
            cl = change["cl"]
        i = int(np.searchsorted(starts, t, side="right")) - 1
        inside = i >= 0 and t < ends[i]
        change["cl"] = cl * np.exp(kappa[:, i]) if inside else cl.copy()
        times.append(float(t))
        changes.append(change)
    return ParameterTable(values=values, change_times=tuple(times), change_values=tuple(changes),
                          n_transit=table.n_transit)


def _prior(model: PopulationModel, covariates, table: DoseTable, time_on_therapy_at_start,
           occasion_timing: str = "fit") -> _Prior:
    from ..population import draw_parameters

    if not (model.time_variation.ka.constant and model.time_variation.cl.constant and model.time_variation.f.constant):
        raise ImapkError(
            f"MAP estimation runs on the closed-form engine; model {model.name} changes its rates or F continuously "
            "with time on therapy", key="model", got=model.name, expected="a model without time variation",
        )
    covariates = {key: np.atleast_1d(np.asarray(value)) for key, value in (covariates or {}).items()}
    for key, value in covariates.items():
        if value.shape != (1,):
            raise ImapkError("one patient: one value per covariate", key=f"covariates.{key}", got=value.tolist())
    if time_on_therapy_at_start is None:
        ss = table.steady_state
        time_on_therapy_at_start = 0.0 if ss is None else ss.time_on_therapy
    subjects = np.zeros(1, dtype=np.int64)
    typical = draw_parameters(model, covariates, subjects, seed=None, iiv=False, dose_times=table.time,
                              time_on_therapy_at_start=time_on_therapy_at_start, occasion_timing=occasion_timing)
    long_term = draw_parameters(model, covariates, subjects, seed=None, iiv=False, time_on_therapy_at_start=None)
    omega = model.omega_matrix
    return _Prior(model, typical, long_term, omega, np.linalg.inv(omega) if omega.size else omega)


def _negative_log_likelihood(pred: np.ndarray, obs: Observations, residual: Residual) -> np.ndarray:
    """Sum over observations of (2)-(4) for each row of `pred` (k, n) [ng/mL] -> (k,)."""
    from scipy.special import log_ndtr

    if obs.size == 0:
        return np.zeros(pred.shape[0])
    cens = obs.censored
    if residual.form == "exponential":
        sd = residual.proportional
        log_pred = np.log(np.maximum(pred, C_FLOOR))
        with np.errstate(divide="ignore", invalid="ignore"):
            log_y = np.where(cens, np.log(obs.lloq), np.log(np.where(cens, 1.0, obs.value)))
        z = (log_y[None, :] - log_pred) / sd
        terms = np.where(cens[None, :], -log_ndtr(z), math.log(sd) + 0.5 * z * z)
    else:
        sd = np.maximum(np.hypot(residual.proportional * pred, residual.additive), SD_FLOOR)
        y = np.where(cens, obs.lloq, obs.value)
        z = (y[None, :] - pred) / sd
        terms = np.where(cens[None, :], -log_ndtr(z), np.log(sd) + 0.5 * z * z)
    return terms.sum(axis=1)


class _EnginePredictor:
    """The fit's predictions on a dose table: the closed-form engine (:func:`imapk.engine.exact.run_exact`)
    with the prior's parameters. The other predictor, on a patient's records, is
    :class:`imapk.tdm.records.RecordsPredictor`; both have :meth:`run`."""

    def __init__(self, table: DoseTable, observation_times: np.ndarray):
        self.table, self.observation_times = table, observation_times

    def run(self, prior: _Prior, theta: np.ndarray, times=None, extra=None):
        """The engine's result (``.concentration`` (k, n) at `times` [h], default the observations';
        ``.trough`` (k, doses)) for the parameters of each row of `theta` (see :meth:`_Prior.table`)."""
        from ..engine.exact import run_exact

        return run_exact(self.table, prior.table(theta, extra=extra),
                         times=self.observation_times if times is None else times)


class _Posterior:
    """U(eta) of (1) for one patient, evaluated for many eta at once."""

    def __init__(self, prior: _Prior, table: DoseTable, obs: Observations, predictor=None):
        self.prior, self.table, self.obs = prior, table, obs
        self.predictor = _EnginePredictor(table, obs.time) if predictor is None else predictor
        self.evaluations = 0
        self.precision = prior.precision

    def run(self, eta: np.ndarray, times=None):
        self.evaluations += eta.shape[0]
        return self.predictor.run(self.prior, eta, times)

    def predictions(self, eta: np.ndarray) -> np.ndarray:
        if self.obs.size == 0:
            return np.zeros((eta.shape[0], 0))
        return self.run(eta).concentration

    def objective_from(self, eta: np.ndarray, pred: np.ndarray) -> np.ndarray:
        prior = 0.5 * np.einsum("ki,ij,kj->k", eta, self.precision, eta) if eta.shape[1] else np.zeros(eta.shape[0])
        return _negative_log_likelihood(pred, self.obs, self.prior.model.residual) + prior

    def objective(self, eta: np.ndarray) -> np.ndarray:
        eta = np.atleast_2d(eta)
        return self.objective_from(eta, self.predictions(eta))

    def derivatives(self, x: np.ndarray, h: float = HESSIAN_STEP) -> tuple[float, np.ndarray, np.ndarray]:
        """U, its gradient and its Hessian at `x` by central differences of step `h`, the
        2 p^2 + 1 points simulated as the subjects of one engine call."""
        p = x.size
        eye = np.eye(p)
        points = [x]
        for i in range(p):
            points += [x + h * eye[i], x - h * eye[i]]
        pairs = [(i, j) for i in range(p) for j in range(i + 1, p)]
        for i, j in pairs:
            points += [x + h * (eye[i] + eye[j]), x + h * (eye[i] - eye[j]), x - h * (eye[i] - eye[j]), x - h * (eye[i] + eye[j])]
        u = self.objective(np.vstack(points))
        plus, minus = u[1 : 2 * p + 1 : 2], u[2 : 2 * p + 1 : 2]
        grad = (plus - minus) / (2.0 * h)
        hess = np.diag((plus - 2.0 * u[0] + minus) / h**2)
        for k, (i, j) in enumerate(pairs):
            pp, pm, mp, mm = u[2 * p + 1 + 4 * k : 2 * p + 5 + 4 * k]
            hess[i, j] = hess[j, i] = (pp - pm - mp + mm) / (4.0 * h**2)
        return float(u[0]), grad, hess

    def minimise(self, x0: np.ndarray, bound: np.ndarray, max_iter: int = 50) -> tuple[np.ndarray, float, bool]:
        """Damped Newton iteration from `x0` on the finite-difference derivatives, with a batched
        backtracking line search (every trial step of one iteration in one engine call) and eta
        kept within +-`bound`. Returns (mode, U at the mode, converged)."""
        x = np.clip(np.asarray(x0, dtype=float), -bound, bound)
        alphas = 0.5 ** np.arange(8)
        for _ in range(max_iter):
            u0, grad, hess = self.derivatives(x)
            eigval, eigvec = np.linalg.eigh(0.5 * (hess + hess.T))
            eigval = np.maximum(np.abs(eigval), 1e-6)  # a saddle or a flat direction: descend anyway
            step = -(eigvec @ ((eigvec.T @ grad) / eigval))
            if np.max(np.abs(step)) < MODE_TOLERANCE and np.max(np.abs(grad)) < 1e-4 * max(1.0, abs(u0)):
                return x, u0, True
            trials = np.clip(x[None, :] + alphas[:, None] * step[None, :], -bound, bound)
            u = self.objective(trials)
            better = np.flatnonzero(u < u0 + 1e-4 * alphas * (grad @ step))
            if better.size == 0:
                return x, u0, bool(np.max(np.abs(step)) < 1e3 * MODE_TOLERANCE)
            x = trials[better[0]]
        return x, float(self.objective(x[None, :])[0]), False


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q) -> np.ndarray:
    """Quantiles `q` of the rows of `values` (samples, ...) with sample `weights`, along axis 0.

    The weighted empirical distribution function is interpolated linearly between the mid-points
    of the samples' weights (Hazen's rule with weights). Returns shape (len(q), ...).
    """
    values = np.asarray(values, dtype=float)
    q = np.atleast_1d(np.asarray(q, dtype=float))
    flat = values.reshape(values.shape[0], -1)
    w = np.asarray(weights, dtype=float) / np.sum(weights)
    order = np.argsort(flat, axis=0)
    out = np.empty((q.size, flat.shape[1]))
    for column in range(flat.shape[1]):
        idx = order[:, column]
        cw = np.cumsum(w[idx]) - 0.5 * w[idx]
        out[:, column] = np.interp(q, cw, flat[idx, column])
    return out.reshape((q.size,) + values.shape[1:])


@dataclass(frozen=True)
class MapResult:
    """A patient's posterior under a population model (see :func:`map_estimate`).

    Attributes
    ----------
    model
        The population model (the prior).
    doses, observations, covariates
        What the fit used.
    eta_names
        The parameters with a random effect, in the order of `eta`.
    eta
        Posterior mode of the random effects (log scale). [1]
    eta_covariance
        Laplace covariance of eta: the inverse Hessian of U at the mode (its eta block with IOV). [1]
    eta_sd
        Posterior SD of each eta, from the weighted samples. [1]
    shrinkage
        1 - eta_sd / omega per random effect: 0 where the data say nothing beyond the prior,
        near 1 where they pin the parameter down (cf. Savic and Karlsson 2009, the module's reference). [1]
    typical
        Typical parameters of this patient (covariates, first occasion), canonical units.
    parameters
        Individual parameters at the mode (first occasion): typical x exp(eta), canonical units.
    interval_laplace, interval_sampled
        Per parameter with a random effect: (low, high) of the central `coverage` interval from
        the Laplace approximation (log-normal) and from the weighted samples. Canonical units.
    coverage
        Probability of the intervals (0.9 for 90 %). [1]
    objective
        U at the mode, equation (1) of the module, constants dropped.
    prediction
        Concentration at each observation time at the mode (IPRED). [ng/mL]
    iwres
        Individual weighted residual of each observation: (y - IPRED)/sd, on the log scale for an
        exponential error; NaN for censored observations. [1]
    samples, weights
        Importance samples of eta (n, p) and their normalised weights (n,).
    ess
        Effective sample size of the weights, (sum w)^2 / sum w^2.
    trough_time
        Scheduled dose times of the dose table; the troughs below are the left limits there. [h]
    trough_median, trough_low, trough_high
        Posterior median and central `coverage` interval of the model trough (parameter
        uncertainty) before each scheduled dose. [ng/mL]
    trough_predictive_low, trough_predictive_high
        The same interval for a new measured trough (residual error added). [ng/mL]
    converged
        Whether the optimiser reported convergence from the best start.
    evaluations
        Parameter vectors simulated in all (optimiser, Hessian and sampling).
    warnings
        Messages about the quality of the fit (also issued as :class:`FitWarning`).
    iov_cl
        SD of the inter-occasion effect on CL per dose interval the fit assumed (0: none). [1]
    kappa, kappa_sd
        Posterior mode and SD of the inter-occasion effect (log scale) of each dose interval that
        holds an observation (empty without IOV). [1]
    kappa_start
        Start of each of those dose intervals (the dose time). [h]
    records
        The patient's records (:class:`imapk.tdm.records.PatientRecords`) where the fit predicted by
        walking them (the general path); None for a fit on a dose table. `doses` is then the dose
        table of the doses the records give (times and AMT), which does not say how they entered.
    samples
        With IOV, each row is (eta, kappa): the random effects, then the kappas.
    """

    model: PopulationModel
    doses: DoseTable
    observations: Observations
    covariates: dict
    eta_names: tuple[str, ...]
    eta: np.ndarray
    eta_covariance: np.ndarray
    eta_sd: np.ndarray
    shrinkage: np.ndarray
    typical: dict
    parameters: dict
    interval_laplace: dict
    interval_sampled: dict
    coverage: float
    objective: float
    prediction: np.ndarray
    iwres: np.ndarray
    samples: np.ndarray
    weights: np.ndarray
    ess: float
    trough_time: np.ndarray
    trough_median: np.ndarray
    trough_low: np.ndarray
    trough_high: np.ndarray
    trough_predictive_low: np.ndarray
    trough_predictive_high: np.ndarray
    converged: bool
    evaluations: int
    warnings: tuple[str, ...]
    iov_cl: float = 0.0
    kappa: np.ndarray = field(default_factory=lambda: np.empty(0))
    kappa_sd: np.ndarray = field(default_factory=lambda: np.empty(0))
    kappa_start: np.ndarray = field(default_factory=lambda: np.empty(0))
    records: object = field(repr=False, compare=False, default=None)
    _prior: _Prior = field(repr=False, compare=False, default=None)
    _predictor: object = field(repr=False, compare=False, default=None)

    def parameter_samples(self, name: str) -> np.ndarray:
        """Individual values of parameter `name` (first occasion) for each importance sample."""
        base = float(np.asarray(self._prior.typical.values[name])[0])
        i = self.eta_names.index(name) if name in self.eta_names else None
        if i is None:
            return np.full(self.weights.size, base)
        return base * np.exp(self.samples[:, i])


def posterior_concentrations(result: MapResult, doses, times=None, *, long_term: bool = False):
    """Simulate every posterior sample of `result` on another dose table (same clock origin).

    The samples are simulated on the closed-form engine with the prior's typical values (the
    fit's covariates), for the doses of `doses` only: for a fit on a patient's records
    (:attr:`MapResult.records`), the records' history is not part of it unless `doses` holds it.

    Parameters
    ----------
    result
        A fit from :func:`map_estimate`.
    doses
        Dose table, schedule or (times, amounts) pair; t = 0 h is the same instant as in the fit.
    times
        Output times. [h]
    long_term
        Use the parameters with every occasion effect in force (for steady-state predictions).

    Returns
    -------
    (ExactResult, weights)
        The engine's result with one subject per sample ([ng/mL]) and the samples' weights.
    """
    from ..engine.exact import run_exact

    table = _as_table(doses)
    return run_exact(table, result._prior.table(result.samples, long_term=long_term), times=times), result.weights


def map_estimate(
    model: PopulationModel | str,
    doses,
    observations: Observations | tuple | None = None,
    *,
    covariates: Mapping[str, object] | None = None,
    time_on_therapy_at_start: float | None = None,
    occasion_timing: str = "fit",
    iov_cl: float = 0.0,
    coverage: float = 0.9,
    n_samples: int = 1000,
    starts: int = 2,
    seed: int = 0,
    warn: bool = True,
) -> MapResult:
    """Bayesian MAP estimate of one patient's parameters from measured levels.

    Parameters
    ----------
    model
        A :class:`~imapk.models.base.PopulationModel` or the name of a shipped one (its typical
        values, covariates, occasion effects and IIV are the prior; its residual error model the
        likelihood).
    doses
        The doses the patient took: a :class:`~imapk.schedule.DoseTable` (e.g.
        ``Schedule(...).lower()``), a :class:`~imapk.schedule.Schedule`, or a pair (times [h],
        amounts [mg]); amounts in mg of imatinib free base. Doses after the last observation are
        allowed and give the posterior forecast in the trough curve. Or a patient's records
        (:class:`imapk.tdm.records.PatientRecords`, from :func:`imapk.tdm.patient_inputs` where a
        dose table cannot express them: resets, infusions at a RATE, central doses, SS 2): the
        same posterior, with each C_j(eta) from walking the records
        (:class:`imapk.dataset_simulation.SubjectWalker`; see :mod:`imapk.tdm.records` for the
        covariates and occasions it uses), and the troughs at the doses they give.
    observations
        :class:`Observations`, or a tuple (times [h], values [ng/mL]) or (times, values, censored,
        lloq); None or empty for none (the estimate is then the typical patient).
    covariates
        The patient's covariates, one value each, in canonical units (as the model needs them).
    time_on_therapy_at_start
        Time on therapy at t = 0 [h] for occasion effects; default 0 (or the steady-state start's
        own statement).
    occasion_timing
        When a model's occasion effects take effect (:func:`imapk.population.occasion_onset_days`;
        default ``"fit"``: the day after the previous occasion's sampling day, as in simulations).
        The same random effects eta apply on every occasion.
    iov_cl
        Inter-occasion variability: SD of a log-normal effect kappa on CL drawn for every dose
        interval, as :func:`imapk.population.draw_parameters` simulates it (``[population]
        iov_cl``). With ``iov_cl > 0``, the kappa of each dose interval that holds an observation
        (t_j < t <= t_j+1) is estimated jointly with eta, with the prior N(0, iov_cl^2); the other
        intervals keep kappa = 0 in the fitted curve (``trough_median`` etc.), and the dose
        intervals after the last observation get new kappas, drawn from the prior per sample, in
        the predictive troughs (``trough_predictive_low``/``high``) and in the planner's answers
        (:func:`imapk.tdm.posterior_patient`). Steady-state predictions use kappa = 0. 0 (default):
        no inter-occasion variability, the fit of eta alone.
    coverage
        Probability of the reported central intervals. [1]
    n_samples
        Importance samples drawn to check the Laplace approximation and to predict. 0 draws none:
        the mode and its Laplace covariance only (``interval_sampled`` is then the Laplace interval,
        ``eta_sd`` the Laplace SD, and the trough curve and every posterior prediction come from the
        mode alone, without parameter uncertainty).
    starts
        Optimiser starts: 1 from the typical patient (eta = 0); 2 adds one from the eta on CL that
        matches the mean log ratio of measured to typical-predicted levels; more add draws from
        the prior. The best mode is kept.
    seed
        Seed of the importance samples (counter-based streams, :mod:`imapk.streams`).
    warn
        Issue the quality messages as :class:`FitWarning` (they are always in ``.warnings``).

    Returns
    -------
    MapResult

    Raises
    ------
    ImapkError
        For malformed doses or observations, a model with continuous time variation, or missing
        covariates (:class:`~imapk.errors.ParameterError`).

    Examples
    --------
    >>> from imapk.schedule import Schedule, Phase
    >>> table = Schedule(phases=(Phase(dose=400, days=30),)).lower()
    >>> fit = map_estimate("widmer2006", table, ([695.0], [1200.0]), warn=False)
    >>> round(fit.parameters["cl"], 1), round(fit.parameters["v"])
    (11.5, 291)
    """
    from scipy.stats import chi2, norm

    from ..streams import standard_normals

    if isinstance(model, str):
        from ..models import get_model

        model = get_model(model)
    records = None
    if type(doses).__name__ == "PatientRecords":  # the general path: predictions walk the records
        records = doses
        table = records.doses
    else:
        table = _as_table(doses)
    if observations is None:
        obs = Observations.from_arrays(np.empty(0), np.empty(0))
    elif isinstance(observations, Observations):
        obs = observations
    else:
        obs = Observations.from_arrays(*observations)
    if not (0.0 < coverage < 1.0):
        raise ImapkError("`coverage` must lie strictly between 0 and 1", key="coverage", got=coverage)
    if obs.size and model.residual.form == "exponential" and np.any(~obs.censored & ~(obs.value > 0)):
        raise ImapkError("an exponential residual error needs measured levels > 0 (mark the others as censored)",
                         key="observations.value", got=float(obs.value[~obs.censored & ~(obs.value > 0)][0]))
    if obs.size and (model.residual.proportional == 0 and model.residual.additive == 0):
        raise ParameterError(f"model {model.name} has no residual error: the likelihood is undefined", key="residual")
    if isinstance(iov_cl, bool) or not (isinstance(iov_cl, (int, float)) and math.isfinite(iov_cl) and iov_cl >= 0):
        raise ImapkError("`iov_cl` must be an SD >= 0 on the log scale", key="iov_cl", got=iov_cl)
    if records is not None and time_on_therapy_at_start is not None:
        raise ImapkError("a fit on a patient's records counts time on therapy from the records' first dose (every "
                         "occasion in force after a steady-state start)", key="time_on_therapy_at_start",
                         got=time_on_therapy_at_start, expected="None with records")
    prior = _prior(model, covariates, table, time_on_therapy_at_start, occasion_timing)
    if iov_cl > 0 and obs.size:
        # the dose interval holding each observation: t_j < t <= t_j+1 (a level at a dose time is the
        # trough C(t-), set by the interval that ends there); none before the first dose
        j = np.unique(np.searchsorted(table.time, obs.time, side="left") - 1)
        j = j[j >= 0]
        ends = np.append(table.time[1:], max(table.end, float(obs.time.max())))
        prior = replace(prior, iov_cl=float(iov_cl), iov_start=table.time[j].astype(float), iov_end=ends[j],
                        last_observation=float(obs.time.max()))
    elif iov_cl > 0:
        prior = replace(prior, iov_cl=float(iov_cl))
    names = prior.names
    p = len(names)
    q = prior.size  # eta, then the estimated kappas
    predictor = None
    if records is not None:
        from .records import RecordsPredictor

        predictor = RecordsPredictor(records, model, occasion_timing=occasion_timing)
    post = _Posterior(prior, table, obs, predictor)
    omega_sd = np.sqrt(np.diag(prior.omega)) if p else np.zeros(0)
    theta_sd = np.sqrt(np.diag(prior.covariance)) if q else np.zeros(0)

    # --- the mode -------------------------------------------------------------------------------
    converged = True
    if q == 0 or obs.size == 0:
        mode = np.zeros(q)
    else:
        x0s = [np.zeros(q)]
        seen = ~obs.censored & (obs.value > 0)
        if starts >= 2 and "cl" in names and seen.any():
            pred0 = post.predictions(np.zeros((1, q)))[0]
            ok = seen & (pred0 > 0)
            if ok.any():
                guess = np.zeros(q)
                guess[names.index("cl")] = float(np.clip(-np.mean(np.log(obs.value[ok] / pred0[ok])),
                                                         -3 * omega_sd[names.index("cl")], 3 * omega_sd[names.index("cl")]))
                if np.max(np.abs(guess)) > 0.05:
                    x0s.append(guess)
        if starts > len(x0s):
            z = standard_normals(seed, "tdm:starts", np.arange(starts - len(x0s)), q)
            x0s.extend(z @ np.linalg.cholesky(prior.covariance).T)
        bound = ETA_BOUND_SD * theta_sd
        best = None
        for x0 in x0s:
            x, u, ok = post.minimise(x0, bound)
            if best is None or u < best[1]:
                best = (x, u, ok)
        mode, converged = best[0], best[2]

    messages: list[str] = []
    if not converged:
        messages.append("the optimiser did not report convergence; the mode may be inaccurate")

    # --- Laplace approximation --------------------------------------------------------------------
    if q:
        hess = post.derivatives(mode)[2] if obs.size else prior.precision
        hess = 0.5 * (hess + hess.T)
        eigval, eigvec = np.linalg.eigh(hess)
        if np.any(eigval <= 0):
            messages.append("the Hessian at the mode is not positive definite; the Laplace covariance was repaired")
            eigval = np.maximum(eigval, 1e-8 * max(float(eigval.max()), 1.0))
        cov = (eigvec / eigval) @ eigvec.T
    else:
        cov = np.zeros((0, 0))

    # --- importance sampling (t proposal), predictions at every trough ------------------------------------
    n_samples = int(n_samples)
    if n_samples < 0:
        raise ImapkError("`n_samples` must be >= 0", key="n_samples", got=n_samples)
    sampled = bool(q and n_samples)
    subjects = np.arange(n_samples)
    if sampled:
        chol = np.linalg.cholesky(cov)
        z = standard_normals(seed, "tdm:proposal", subjects, q)
        g = np.sum(standard_normals(seed, "tdm:proposal_scale", subjects, int(PROPOSAL_DF)) ** 2, axis=1)
        scale = np.sqrt(PROPOSAL_DF / g)
        samples = mode + (z @ chol.T) * scale[:, None]
        maha = np.sum(np.linalg.solve(chol, (samples - mode).T) ** 2, axis=0)
        log_q = -0.5 * (PROPOSAL_DF + q) * np.log1p(maha / PROPOSAL_DF)
    else:  # no random effect, or no sampling asked: the mode alone
        samples = mode[None, :]
    run = post.run(samples)
    pred = run.concentration if obs.size else np.zeros((samples.shape[0], 0))
    trough = run.trough
    if sampled:
        log_w = -post.objective_from(samples, pred) - log_q
        log_w -= log_w.max()
        weights = np.exp(log_w)
        weights /= weights.sum()
        ess = float(1.0 / np.sum(weights**2))
    else:
        weights = np.ones(1)
        ess = 1.0
    if sampled and ess < MIN_ESS_FRACTION * n_samples:
        messages.append(
            f"importance sampling check: effective sample size {ess:.0f} of {n_samples}; the posterior is far from "
            "normal on the log scale, trust the sampled intervals over the Laplace ones"
        )

    # --- summaries ---------------------------------------------------------------------------------
    lo_q, hi_q = 0.5 * (1.0 - coverage), 0.5 * (1.0 + coverage)
    typical = {name: float(np.asarray(v)[0]) for name, v in prior.typical.values.items() if v is not None}
    individual = {name: float(np.asarray(v)[0]) for name, v in prior.table(mode[None, :]).values.items() if v is not None}
    z_hi = float(norm.ppf(hi_q))
    theta_laplace_sd = np.sqrt(np.diag(cov)) if q else np.zeros(0)
    if sampled:
        mean = np.sum(weights[:, None] * samples, axis=0)
        theta_sd_post = np.sqrt(np.sum(weights[:, None] * (samples - mean) ** 2, axis=0))
    else:
        theta_sd_post = theta_laplace_sd
    laplace_sd, eta_sd, kappa_sd = theta_laplace_sd[:p], theta_sd_post[:p], theta_sd_post[p:]
    shrinkage = 1.0 - eta_sd / omega_sd if p else np.zeros(0)
    interval_laplace, interval_sampled = {}, {}
    for i, name in enumerate(names):
        base = typical[name]
        interval_laplace[name] = (base * math.exp(mode[i] - z_hi * laplace_sd[i]), base * math.exp(mode[i] + z_hi * laplace_sd[i]))
        if sampled:
            qs = weighted_quantile(samples[:, i], weights, [lo_q, hi_q])
            interval_sampled[name] = (base * math.exp(qs[0]), base * math.exp(qs[1]))
        else:
            interval_sampled[name] = interval_laplace[name]

    if obs.size:
        ipred = post.predictions(mode[None, :])[0]
        res = model.residual
        with np.errstate(divide="ignore", invalid="ignore"):
            if res.form == "exponential":
                iwres = (np.log(np.where(obs.censored, 1.0, obs.value)) - np.log(np.maximum(ipred, C_FLOOR))) / res.proportional
            else:
                iwres = (obs.value - ipred) / np.maximum(np.hypot(res.proportional * ipred, res.additive), SD_FLOOR)
        iwres = np.where(obs.censored, np.nan, iwres)
        for j in np.flatnonzero(np.abs(np.nan_to_num(iwres)) > IWRES_LIMIT):
            messages.append(
                f"observation {j} at {obs.time[j]:g} h ({obs.value[j]:g} ng/mL) is far from its individual prediction "
                f"{ipred[j]:.0f} ng/mL (IWRES {iwres[j]:+.1f}, |IWRES| > {IWRES_LIMIT:g}): check the sampling and dosing "
                "times and the assay"
            )
        measured = ~obs.censored
        if measured.sum() >= 2:
            total = float(np.sum(iwres[measured] ** 2))
            tail = float(chi2.sf(total, int(measured.sum())))
            if tail < TAIL_PROBABILITY:
                messages.append(
                    f"the measured levels are jointly far from their individual predictions (sum of IWRES^2 {total:.1f} "
                    f"over {int(measured.sum())} levels, probability {tail:.1e}): the model may not describe this patient, "
                    "or the record is wrong"
                )
        for j in np.flatnonzero(obs.censored & (ipred > 2.0 * obs.lloq)):
            messages.append(
                f"observation {j} at {obs.time[j]:g} h is below the limit ({obs.lloq[j]:g} ng/mL) but predicted at "
                f"{ipred[j]:.0f} ng/mL: check adherence and the dosing record"
            )
    else:
        ipred, iwres = np.zeros(0), np.zeros(0)
    if q and obs.size:
        distance = float(mode @ post.precision @ mode)
        tail = float(chi2.sf(distance, q))
        if tail < TAIL_PROBABILITY:
            messages.append(
                f"the estimate lies far in the prior's tail (probability {tail:.1e} of a random effect at least as "
                f"extreme under {model.name}): the model may not describe this patient, or the record is wrong"
            )

    trough_q = weighted_quantile(trough, weights, [lo_q, 0.5, hi_q])
    future = prior.future_intervals(table)
    if future[0].size:  # new kappas for the dose intervals after the last level, in the predictive troughs
        kappa_new = prior.iov_cl * standard_normals(seed, "tdm:iov:future", np.arange(samples.shape[0]), future[0].size)
        trough = post.predictor.run(prior, samples, np.empty(0), extra=(*future, kappa_new)).trough
    res = model.residual
    e1 = standard_normals(seed, "tdm:residual:proportional", np.arange(trough.shape[0]), trough.shape[1])
    if res.form == "exponential":
        measured = trough * np.exp(res.proportional * e1)
    else:
        e2 = standard_normals(seed, "tdm:residual:additive", np.arange(trough.shape[0]), trough.shape[1])
        measured = trough * (1.0 + res.proportional * e1) + res.additive * e2
    measured_q = weighted_quantile(measured, weights, [lo_q, hi_q])

    if warn:
        for message in messages:
            warnings.warn(f"{model.name}: {message}", FitWarning, stacklevel=2)
    return MapResult(
        model=model, doses=table, observations=obs, covariates=dict(covariates or {}), eta_names=names,
        eta=mode[:p].copy(), eta_covariance=cov[:p, :p].copy(), eta_sd=eta_sd, shrinkage=shrinkage, typical=typical, parameters=individual,
        interval_laplace=interval_laplace, interval_sampled=interval_sampled, coverage=float(coverage),
        objective=float(post.objective(mode[None, :])[0]) if q else float(_negative_log_likelihood(
            post.predictions(np.zeros((1, 0))), obs, model.residual)[0]),
        prediction=ipred, iwres=iwres, samples=samples, weights=weights, ess=ess,
        trough_time=table.time.copy(), trough_median=trough_q[1], trough_low=trough_q[0], trough_high=trough_q[2],
        trough_predictive_low=measured_q[0], trough_predictive_high=measured_q[1], converged=converged,
        evaluations=post.evaluations, warnings=tuple(messages), iov_cl=float(iov_cl), kappa=mode[p:].copy(),
        kappa_sd=np.asarray(kappa_sd, dtype=float), kappa_start=prior.iov_start.copy(), records=records, _prior=prior,
        _predictor=post.predictor,
    )
