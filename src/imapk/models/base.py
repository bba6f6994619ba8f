"""What a published population PK model is, for imapk: typical values as functions of covariates,
occasion effects, random effects (IIV), residual error, its population, and its citation."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from ..errors import ParameterError
from ..params import PKParams

__all__ = [
    "Residual",
    "TimeFactor",
    "TimeVariation",
    "PopulationModel",
    "cv_to_variance_lognormal",
    "cv_to_variance_nonmem",
]

#: Typical-value function: covariates (name -> array of n subjects, canonical units; categorical as
#: arrays of str) and occasion index (0 before the first occasion change) -> parameter arrays.
TypicalFunction = Callable[[Mapping[str, np.ndarray], int], Mapping[str, "np.ndarray | float"]]


def cv_to_variance_nonmem(cv: float) -> float:
    """omega^2 = CV^2: the NONMEM-table convention, where the reported "CV %" is 100 x omega."""
    return cv * cv


def cv_to_variance_lognormal(cv: float) -> float:
    """omega^2 = ln(1 + CV^2): the exact variance of log(P) for a log-normal P with coefficient of variation CV."""
    return math.log1p(cv * cv)


#: Residual error models: how an assay value scatters around the model's concentration C.
RESIDUAL_FORMS = ("combined", "exponential")


@dataclass(frozen=True)
class Residual:
    """Residual (observation) error, in the form its source fitted, e1, e2 ~ N(0, 1):

    * ``form = "combined"`` (also proportional-only or additive-only, with the other SD 0):
      C_obs = C (1 + proportional e1) + additive e2;
    * ``form = "exponential"`` (additive on the log scale, NONMEM's log-transform-both-sides):
      C_obs = C exp(proportional e1), always positive; `additive` must be 0.

    Parameters
    ----------
    proportional
        SD of the proportional error as a fraction (0.31 for 31 %); for the exponential form the
        SD of log(C_obs). [1]
    additive
        SD of the additive error. [ng/mL]
    form
        ``"combined"`` or ``"exponential"`` (see above).
    """

    proportional: float = 0.0
    additive: float = 0.0
    form: str = "combined"

    def __post_init__(self) -> None:
        if self.form not in RESIDUAL_FORMS:
            raise ParameterError("unknown residual error form", key="residual.form", got=self.form,
                                 expected=f"one of {', '.join(RESIDUAL_FORMS)}")
        for name in ("proportional", "additive"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0.0):
                raise ParameterError("must be a finite number >= 0", key=f"residual.{name}", got=value)
        if self.form == "exponential" and self.additive != 0.0:
            raise ParameterError("an exponential (log-additive) residual error has no additive part",
                                 key="residual.additive", got=self.additive, expected="0")

    def describe(self) -> str:
        """One line: the form and its SDs, e.g. ``proportional 26 % + additive 249 ng/mL``."""
        if self.form == "exponential":
            return f"exponential (additive on the log scale), SD {self.proportional:g}"
        parts = []
        if self.proportional:
            parts.append(f"proportional {self.proportional * 100:g} %")
        if self.additive:
            parts.append(f"additive {self.additive:g} ng/mL")
        return " + ".join(parts) if parts else "none"


@dataclass(frozen=True)
class TimeFactor:
    """A multiplier that changes smoothly with time on therapy tau [h]:

        g(tau) = 1 + amplitude exp(-rate tau) + emax tau / (t50 + tau)

    The first term is a transient that decays (Eechoute 2012's absorption rate and relative F), the
    second a saturating drift (a clearance that rises over months). All zero: g = 1.

    Parameters
    ----------
    amplitude
        Size of the initial transient (g(0) = 1 + amplitude). [1]
    rate
        Decay rate of the transient. [1/h]
    emax
        Maximal relative drift reached after a long time. [1]
    t50
        Time on therapy at which half the drift is reached. [h]
    """

    amplitude: float = 0.0
    rate: float = 0.0
    emax: float = 0.0
    t50: float = 1.0

    def __post_init__(self) -> None:
        for name in ("amplitude", "rate", "emax", "t50"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise ParameterError("must be a finite number", key=name, got=value)
        if self.rate < 0 or self.t50 <= 0:
            raise ParameterError("`rate` must be >= 0 and `t50` > 0", key="rate" if self.rate < 0 else "t50")
        if self.amplitude <= -1 or self.emax <= -1:
            raise ParameterError("the factor must stay positive", key="amplitude", expected="amplitude and emax > -1")

    @property
    def constant(self) -> bool:
        return self.amplitude == 0.0 and self.emax == 0.0

    def coefficients(self) -> tuple[float, float, float, float]:
        """(a, b, c, d) as the ODE kernel takes them."""
        return (self.amplitude, self.rate, self.emax, self.t50)

    def __call__(self, tau):
        tau = np.asarray(tau, dtype=float)
        return 1.0 + self.amplitude * np.exp(-self.rate * tau) + self.emax * tau / (self.t50 + tau)


@dataclass(frozen=True)
class TimeVariation:
    """How a model's rates and bioavailability change with time on therapy.

    `ka` and `cl` vary continuously (only the ODE path can follow them); `f` is evaluated at each
    dose's scheduled time and scales that dose (both paths).
    """

    ka: TimeFactor = TimeFactor()
    cl: TimeFactor = TimeFactor()
    f: TimeFactor = TimeFactor()

    @property
    def needs_ode(self) -> bool:
        return not (self.ka.constant and self.cl.constant)

    def kernel_coefficients(self) -> np.ndarray:
        """The 8 coefficients (ka then CL) of the ODE kernel's g functions."""
        return np.array(self.ka.coefficients() + self.cl.coefficients(), dtype=float)


@dataclass(frozen=True)
class PopulationModel:
    """A published imatinib population PK model (one compartment, first- or zero-order input).

    Parameters
    ----------
    name
        Registry key, e.g. ``"widmer2006"``.
    title
        One line: author, year, population, structure.
    citation
        Authors, title, journal, year, DOI.
    population
        The population and dose range the model was fitted on.
    typical
        Typical values as a function of covariates and occasion: returns ``cl`` [L/h], ``v`` [L] and
        ``ka`` [1/h] or ``d1`` [h], optionally ``tlag`` [h] and ``f`` [1].
    covariates
        Names of the covariates `typical` needs (see :mod:`imapk.covariates`).
    fitted_ranges
        Covariate ranges of the fitted data; values outside give a warning, not an error.
    iiv_parameters
        Parameters with a log-normal random effect, in the order of `omega`.
    omega
        Variance-covariance matrix of the random effects (log scale).
    omega_note
        Where the variances come from and how a reported CV % was converted.
    residual
        Residual error model.
    occasion_days
        Clinical days of therapy from which occasion 1, 2, ... apply (e.g. ``(29,)``); the typical
        function receives the occasion index.
    confidence
        For each number: where it was read (C1 primary source, C2 secondary transcription).
    notes
        Discrepancies found in the sources and the choices made.
    reference_trough
        A published or independently computed typical steady-state trough at 400 mg q24h for the
        model's reference subject: (value [ng/mL], source), or None.
    time_variation
        Smooth changes of ka, CL and F with time on therapy (:class:`TimeVariation`).
    categories
        For each categorical covariate, the categories the model defines (default: every level
        imapk knows for it). Any other value is refused: a model fitted on CML and GIST says
        nothing about "other".
    n_transit
        Transit compartments ahead of the absorption compartment (the structure; 0 for none). A
        model with a peripheral compartment returns ``q`` [L/h] and ``vp`` [L] from `typical`, one
        with a transit chain ``ktr`` [1/h] (see :mod:`imapk.engine.linear`).
    eta_shared
        Parameters that carry another parameter's random effect, e.g. ``{"ka": "v"}`` where the
        source reports one eta shared by Vc and ka (Eechoute 2012).
    variant_of
        For a variant (another reading of the same publication where sources disagree), the name
        of the main model; `notes` then says what differs and by how much on the typical trough.
    """

    name: str
    title: str
    citation: str
    population: str
    typical: TypicalFunction
    covariates: tuple[str, ...] = ()
    fitted_ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    iiv_parameters: tuple[str, ...] = ()
    omega: tuple[tuple[float, ...], ...] = ()
    omega_note: str = ""
    residual: Residual = Residual()
    occasion_days: tuple[int, ...] = ()
    confidence: Mapping[str, str] = field(default_factory=dict)
    notes: str = ""
    reference_trough: tuple[float, str] | None = None
    time_variation: TimeVariation = TimeVariation()
    categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    n_transit: int = 0
    eta_shared: Mapping[str, str] = field(default_factory=dict)
    variant_of: str | None = None

    def __post_init__(self) -> None:
        known = ("cl", "v", "ka", "d1", "f", "tlag", "q", "vp", "ktr")
        unknown = [p for p in (*self.iiv_parameters, *self.eta_shared) if p not in known]
        if unknown:
            raise ValueError(f"{self.name}: unknown parameter {unknown[0]!r} in iiv_parameters or eta_shared")
        for target, source in self.eta_shared.items():
            if source not in self.iiv_parameters or target in self.iiv_parameters:
                raise ValueError(f"{self.name}: eta_shared {target!r} -> {source!r} needs {source!r} (only) in iiv_parameters")
        n = len(self.iiv_parameters)
        rows = [len(row) for row in self.omega]
        if len(rows) != n or any(r != n for r in rows):
            raise ValueError(f"{self.name}: omega must be {n} x {n} for iiv_parameters {self.iiv_parameters}")
        matrix = np.asarray(self.omega, dtype=float).reshape(n, n)
        if not np.allclose(matrix, matrix.T):
            raise ValueError(f"{self.name}: omega is not symmetric")
        if matrix.size and np.any(np.linalg.eigvalsh(matrix) <= 0):
            raise ValueError(f"{self.name}: omega is not positive definite")

    @property
    def omega_matrix(self) -> np.ndarray:
        """The IIV variance-covariance matrix as an array (len(iiv_parameters) square)."""
        n = len(self.iiv_parameters)
        return np.asarray(self.omega, dtype=float).reshape(n, n)

    def typical_values(self, covariates: Mapping[str, object], occasion: int = 0) -> dict[str, np.ndarray]:
        """Typical parameters for covariate arrays (or scalars), as float arrays of one shape."""
        missing = [name for name in self.covariates if name not in covariates]
        if missing:
            raise ParameterError(
                f"model {self.name} needs covariate `{missing[0]}`",
                got=sorted(covariates),
                expected=f"covariates {', '.join(self.covariates)}",
            )
        arrays = {name: np.atleast_1d(np.asarray(covariates[name])) for name in self.covariates}
        from ..covariates import COVARIATES

        for name, values in arrays.items():
            spec = COVARIATES.get(name)
            if spec is not None and spec.categorical:
                allowed = self.categories.get(name, spec.levels)
                bad = ~np.isin(values.astype(str), allowed)
                if bad.any():
                    raise ParameterError(
                        f"model {self.name}: value of covariate `{name}` not defined by this model",
                        key=name,
                        got=str(values[bad][0]),
                        expected=f"one of {', '.join(allowed)}",
                    )
        n = max((a.shape[0] for a in arrays.values()), default=1)
        values = self.typical(arrays, occasion)
        result = {name: np.broadcast_to(np.asarray(value, dtype=float), (n,)).copy() for name, value in values.items()}
        if self.covariates:  # constant typical values are checked where they are given
            self._check_typical(result, arrays)
        return result

    def _check_typical(self, values: dict[str, np.ndarray], covariates: dict[str, np.ndarray]) -> None:
        """Refuse covariates for which the covariate equations leave the physical range (e.g. a linear
        effect that drives CL below zero): a model extrapolated that far has nothing to say."""
        from ..params import PARAMETER_UNITS

        for name, array in values.items():
            allowed = (array >= 0.0) if name in ("tlag", "d1") else (array > 0.0)
            bad = ~(np.isfinite(array) & allowed)
            if bad.any():
                i = int(np.argmax(bad))
                where = ", ".join(f"{c} = {np.ravel(v)[min(i, np.ravel(v).size - 1)]}" for c, v in covariates.items())
                raise ParameterError(
                    f"model {self.name}: the covariate equations give {name} = {array[i]:.4g} "
                    f"{PARAMETER_UNITS.get(name, '')} for subject {i}" + (f" ({where})" if where else "")
                    + "; these covariates are beyond what the model can describe",
                    key="covariates",
                    expected=f"{name} {'>= 0' if name in ('tlag', 'd1') else '> 0'}",
                )

    def record(self) -> dict:
        """The model's numbers as plain data, for a result's provenance: citation, typical values
        (without covariates; a covariate model's depend on each subject's covariates, stored with the
        per-subject parameters), IIV, residual error, occasions and time variation."""
        from dataclasses import asdict

        record = {
            "name": self.name,
            "citation": self.citation,
            "covariates": list(self.covariates),
            "iiv_parameters": list(self.iiv_parameters),
            "omega": [list(row) for row in self.omega],
            "residual": asdict(self.residual),
            "occasion_days": list(self.occasion_days),
            "n_transit": self.n_transit,
            "eta_shared": dict(self.eta_shared),
            "time_variation": asdict(self.time_variation),
        }
        if not self.covariates:
            params = self.typical_params()
            record["typical"] = {k: v for k, v in asdict(params).items() if v is not None and not isinstance(v, tuple)}
        return record

    def typical_params(self, covariates: Mapping[str, object] | None = None, occasion: int = 0) -> PKParams:
        """Typical parameters of one subject as :class:`~imapk.params.PKParams`."""
        values = self.typical_values(covariates or {}, occasion)
        return PKParams(**{name: float(value[0]) for name, value in values.items()}, n_transit=self.n_transit)
