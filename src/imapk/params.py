"""PK parameters of imatinib's linear compartment models, in canonical units.

The default model has one compartment: a depot (gut) compartment emptied with first-order rate
``ka`` into a central compartment of apparent volume ``v``, eliminated with apparent clearance
``cl``; or, instead of the depot, zero-order input of duration ``d1`` straight into the central
compartment. Each dose is scaled by the relative bioavailability ``f`` and enters ``tlag`` hours
after its scheduled time.

The same parameters describe the multi-compartment family: a peripheral compartment of volume
``vp`` exchanging with the central one through the inter-compartmental clearance ``q`` (then
``v`` is the central volume V1 or Vc), and a chain of ``n_transit`` transit compartments emptied
at rate ``ktr`` ahead of the absorption compartment (a dose enters the first of them). See
:mod:`imapk.engine.linear`.

Notes
-----
``cl`` and ``v`` are *apparent* values (CL/F and V/F), as imatinib population models report them,
and ``f`` is a *relative* bioavailability with default 1. Entering an absolute F (0.98 for imatinib,
Peng 2004) on top of CL/F would count it twice. Doses are mg of imatinib free base
(400 mg base = 478 mg mesylate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

from .errors import ParameterError

__all__ = ["PKParams", "ParameterChange", "PARAMETER_UNITS", "PARAMETER_DESCRIPTIONS"]

#: Canonical unit of each parameter every model has (also the `units` attr of the output variables).
PARAMETER_UNITS = {"cl": "L/h", "v": "L", "ka": "1/h", "d1": "h", "f": "1", "tlag": "h"}
#: Canonical unit of the parameters of the multi-compartment structures (None where a model lacks them).
STRUCTURE_UNITS = {"q": "L/h", "vp": "L", "ktr": "1/h"}
#: Every rate and volume parameter by name.
ALL_PARAMETER_UNITS = {**PARAMETER_UNITS, **STRUCTURE_UNITS}

#: Dimension of each parameter, for :func:`imapk.units.parse_quantity`.
PARAMETER_DIMENSIONS = {
    "cl": "clearance",
    "v": "volume",
    "ka": "rate_constant",
    "d1": "time",
    "f": None,
    "tlag": "time",
    "q": "clearance",
    "vp": "volume",
    "ktr": "rate_constant",
    "n_transit": None,
}

PARAMETER_DESCRIPTIONS = {
    "cl": "Apparent clearance CL/F",
    "v": "Apparent volume of distribution V/F",
    "ka": "First-order absorption rate constant",
    "d1": "Duration of zero-order input",
    "f": "Relative bioavailability (scales each dose)",
    "tlag": "Absorption lag time (shifts each dose's input)",
    "q": "Inter-compartmental clearance between the central and peripheral compartments",
    "vp": "Volume of the peripheral compartment",
    "ktr": "Rate constant of each transit compartment of the absorption chain",
}

#: Transit compartments at most (published absorption chains have up to about 10).
MAX_TRANSIT = 20


def _check(name: str, value: float | None, *, lower: float, allow_equal: bool) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError("must be a number", key=name, got=value, expected="a finite float")
    if not math.isfinite(value):
        raise ParameterError("must be finite", key=name, got=value, expected="a finite float")
    ok = value >= lower if allow_equal else value > lower
    if not ok:
        bound = f">= {lower:g}" if allow_equal else f"> {lower:g}"
        unit = PARAMETER_UNITS[name]
        raise ParameterError("out of range", key=name, got=value, expected=f"{bound} {unit}".rstrip(" 1"))


@dataclass(frozen=True)
class PKParams:
    """Parameters of the one-compartment model with first-order or zero-order oral input.

    Exactly one of `ka` (first-order absorption) and `d1` (zero-order input) is given.

    Parameters
    ----------
    cl
        Apparent clearance CL/F. [L/h]
    v
        Apparent volume of distribution V/F. [L]
    ka
        First-order absorption rate constant. [1/h]
    d1
        Duration of zero-order input. [h]
    f
        Relative bioavailability; multiplies every dose. [1]
    tlag
        Lag time between a dose and the start of its input. [h]
    q
        Inter-compartmental clearance (two-compartment models; with `vp`). [L/h]
    vp
        Peripheral volume (two-compartment models; with `q`). [L]
    ktr
        Transit rate constant (with `n_transit` > 0). [1/h]
    n_transit
        Number of transit compartments ahead of the absorption compartment (0: none). A dose
        enters the first of them.

    Examples
    --------
    >>> p = PKParams(cl=14.3, v=347.0, ka=0.609)
    >>> round(p.half_life, 1)
    16.8
    """

    cl: float
    v: float
    ka: float | None = None
    d1: float | None = None
    f: float = 1.0
    tlag: float = 0.0
    q: float | None = None
    vp: float | None = None
    ktr: float | None = None
    n_transit: int = 0

    def __post_init__(self) -> None:
        _check("q", self.q, lower=0.0, allow_equal=False)
        _check("vp", self.vp, lower=0.0, allow_equal=False)
        _check("ktr", self.ktr, lower=0.0, allow_equal=False)
        transit = self.n_transit
        if isinstance(transit, float) and transit.is_integer():
            transit = int(transit)
        if isinstance(transit, bool) or not isinstance(transit, int) or not 0 <= transit <= MAX_TRANSIT:
            raise ParameterError("must be a whole number of compartments", key="n_transit", got=self.n_transit,
                                 expected=f"0-{MAX_TRANSIT}")
        object.__setattr__(self, "n_transit", transit)
        if (self.q is None) != (self.vp is None):
            raise ParameterError("a peripheral compartment needs both `q` and `vp`", key="q" if self.q is None else "vp")
        if (self.ktr is None) != (transit == 0):
            raise ParameterError("a transit chain needs both `n_transit` > 0 and `ktr`",
                                 key="ktr" if self.ktr is None else "n_transit", got={"n_transit": transit, "ktr": self.ktr})
        _check("cl", self.cl, lower=0.0, allow_equal=False)
        _check("v", self.v, lower=0.0, allow_equal=False)
        _check("ka", self.ka, lower=0.0, allow_equal=False)
        _check("d1", self.d1, lower=0.0, allow_equal=False)
        _check("f", self.f, lower=0.0, allow_equal=False)
        _check("tlag", self.tlag, lower=0.0, allow_equal=True)
        if (self.ka is None) == (self.d1 is None):
            raise ParameterError(
                "give exactly one of `ka` (first-order input) and `d1` (zero-order input)",
                key="ka" if self.ka is None else "d1",
                got={"ka": self.ka, "d1": self.d1},
            )
        for field in fields(self):
            value = getattr(self, field.name)
            if value is not None and field.name != "n_transit":
                object.__setattr__(self, field.name, float(value))

    @property
    def input_kind(self) -> str:
        """``"first-order"`` or ``"zero-order"``."""
        return "first-order" if self.ka is not None else "zero-order"

    @property
    def one_compartment(self) -> bool:
        """True for the one-compartment model without a transit chain (the fast kernels)."""
        return self.q is None and self.n_transit == 0

    @property
    def k(self) -> float:
        """Elimination rate constant CL/V. [1/h]"""
        return self.cl / self.v

    @property
    def half_life(self) -> float:
        """Elimination half-life ln 2 / k. [h]"""
        return math.log(2.0) / self.k

    def updated(self, **changes: float) -> "PKParams":
        """Return a copy with some parameters replaced (validated again)."""
        unknown = set(changes) - set(ALL_PARAMETER_UNITS) - {"n_transit"}
        if unknown:
            raise ParameterError(
                "unknown parameter", key=sorted(unknown)[0], expected=f"one of {', '.join(ALL_PARAMETER_UNITS)}, n_transit"
            )
        return replace(self, **changes)


#: Parameters that may change during therapy and how the engine applies the change.
CHANGEABLE = ("cl", "v", "ka", "f", "q", "vp", "ktr")


@dataclass(frozen=True)
class ParameterChange:
    """A step change of parameters from a given time on (an occasion effect).

    `cl`, `v` and `ka` change the kinetics from `time` on; `f` applies to doses scheduled at or after
    `time`. A step in `v` changes the concentration, not the amount in the body.

    Parameters
    ----------
    time
        Time of the change since the first scheduled dose. [h]
    values
        New parameter values in canonical units, e.g. ``{"cl": 10.6}``.
    """

    time: float
    values: tuple[tuple[str, float], ...]

    def __post_init__(self) -> None:
        if not math.isfinite(self.time):
            raise ParameterError("change time must be finite", key="time", got=self.time)
        if not self.values:
            raise ParameterError("a parameter change must change at least one parameter", key="values")
        for name, value in self.values:
            if name not in CHANGEABLE:
                raise ParameterError(
                    "this parameter cannot change over time in the exact engine",
                    key=name,
                    expected=f"one of {', '.join(CHANGEABLE)}",
                )
            _check(name, value, lower=0.0, allow_equal=False)

    @classmethod
    def at(cls, time: float, **values: float) -> "ParameterChange":
        """Build a change at `time` [h] with keyword values, e.g. ``ParameterChange.at(672, cl=10.6)``."""
        return cls(float(time), tuple(sorted((k, float(v)) for k, v in values.items())))


@dataclass(frozen=True)
class ParameterTable:
    """Parameters of every subject, as arrays, with the step changes they undergo.

    This is what the engine sees: one value per subject for each parameter before the first
    change, and for each change the new values per subject.

    Parameters
    ----------
    values
        ``{"cl": (n,), "v": (n,), "ka": (n,) or None, "d1": (n,) or None, "f": (n,), "tlag": (n,),
        "q", "vp", "ktr": (n,) or None}`` in canonical units.
    change_times
        Sorted times of the changes. [h]
    change_values
        For each change, the new values per subject of the parameters it changes.
    n_transit
        Transit compartments of the structure (shared by all subjects).
    """

    values: dict
    change_times: tuple[float, ...] = ()
    change_values: tuple[dict, ...] = ()
    n_transit: int = 0

    @classmethod
    def from_params(cls, params: PKParams, changes: tuple[ParameterChange, ...] = (), n: int = 1) -> "ParameterTable":
        """Table of `n` identical subjects with typical parameters `params` and step `changes`."""
        import numpy as np

        values = {
            name: (None if getattr(params, name) is None else np.full(n, getattr(params, name)))
            for name in ALL_PARAMETER_UNITS
        }
        ordered = sorted(changes, key=lambda c: c.time)
        times = tuple(c.time for c in ordered)
        if len(set(times)) != len(times):
            raise ParameterError("two parameter changes at the same time", key="changes", got=times)
        if params.input_kind == "zero-order" and any(name == "ka" for c in ordered for name, _ in c.values):
            raise ParameterError("`ka` cannot change in a zero-order input model", key="changes")
        return cls(
            values=values,
            change_times=times,
            change_values=tuple({name: np.full(n, value) for name, value in c.values} for c in ordered),
            n_transit=params.n_transit,
        )

    @property
    def n_subjects(self) -> int:
        return len(self.values["cl"])

    def take(self, rows) -> "ParameterTable":
        """The subjects at positions `rows`, in that order (a position may repeat: ``[0] * n`` is the
        first subject n times)."""
        import numpy as np

        rows = np.asarray(rows, dtype=np.int64)

        def take(values: dict) -> dict:
            return {name: None if v is None else np.asarray(v)[rows] for name, v in values.items()}

        return replace(self, values=take(self.values), change_values=tuple(take(c) for c in self.change_values))

    @property
    def input_kind(self) -> str:
        return "first-order" if self.values.get("ka") is not None else "zero-order"

    @property
    def structure(self) -> tuple[int, int, int]:
        """(transit compartments, absorption compartments 0/1, peripheral compartments 0/1)."""
        return (
            self.n_transit,
            int(self.values.get("ka") is not None),
            int(self.values.get("q") is not None),
        )

    @property
    def one_compartment(self) -> bool:
        """True when the one-compartment kernels apply (no peripheral compartment, no transit chain)."""
        return self.values.get("q") is None and self.n_transit == 0

    def segments(self, name: str):
        """Values of `name` per subject and parameter segment, shape (n, changes + 1)."""
        import numpy as np

        current = self.values.get(name)
        if current is None:
            current = np.zeros(self.n_subjects)
        columns = [current]
        for change in self.change_values:
            current = change.get(name, current)
            columns.append(current)
        return np.stack(columns, axis=1).astype(float)

    def at_times(self, name: str, times):
        """Values of `name` in force at each of `times` [h], shape (n, len(times))."""
        import numpy as np

        index = np.searchsorted(np.asarray(self.change_times, dtype=float), np.asarray(times, dtype=float), side="right")
        return self.segments(name)[:, index]
