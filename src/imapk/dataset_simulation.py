"""Simulating a NONMEM-style data set: the concentration at every observation record and the trough
before every dose, per ID, with NONMEM's event semantics, by an exact event walker.

The walker follows every linear structure imapk's engine supports (:mod:`imapk.engine.linear`):
one or two compartments (central, peripheral), first-order absorption (an absorption compartment)
or zero-order input, and a chain of transit compartments ahead of it. Between events the
parameters and input rates are constant, and the state is stepped exactly:

* **One compartment** (depot amount ``ad``, central amount ``ac`` [mg]) in closed form, as
  :mod:`imapk.engine._exact_kernels` does (equations E1-E3 there), with zero-order inputs into the
  depot (rate ``rd``) or the central compartment (rate ``rc``):

      (E1')  ad(dt) = ad e^{-ka dt} + rd dt phi(ka dt)
      (E2')  ac(dt) = ac e^{-k dt} + ad T(ka, k, dt) + rc dt phi(k dt)
                      + rd ka dt^2 (phi(k dt) - phi(ka dt)) / (ka dt - k dt)

  with phi(x) = (1 - e^{-x}) / x and T the depot transfer of E3. The last term (a zero-order
  input into the depot, RATE > 0 on CMT 1 of a first-order model) is written as a difference
  quotient: it is used only where ka and k differ by more than 0.1 % (at most 3 digits lost to
  cancellation) and refused otherwise.
* **Any other structure** (state x: amounts [mg] in the order of
  :mod:`imapk.engine._linear_kernels`: transit compartments, absorption, central, peripheral) by
  the matrix exponential, as the engine's linear kernels do (L1 there):

      (L1)   x(t + dt) = e^{A dt} x(t) + W(dt) r,    W(dt) = int_0^dt e^{A s} ds,

  A the compartmental matrix and r the zero-order input rates into the head of the chain and into
  central; e^{A dt} and W come from one exponential of the augmented matrix [[A, E], [0, 0]] (E the
  unit columns of the two input compartments), computed by the kernels' non-negative series
  (``fill_matrix``, ``expm_nonnegative``, ``apply_propagator``; exact to about 2^j ulps for j
  squarings, no special case for coincident rates). The same structure with one compartment gives
  the closed form's values to 1e-12 (tests); the closed form is kept for it: it is faster and the
  same operations as the engine's one-compartment kernels.

**Compartments (CMT).** CMT 1 is the compartment a dose enters, CMT 2 the central compartment, for
every structure:

=============================================  ===========================  =======
structure                                       CMT 1                        CMT 2
=============================================  ===========================  =======
first-order absorption (ADVAN2, ADVAN4)         the depot                    central
a transit chain (e.g. Eechoute 2012)            the first transit cmt        central
zero-order input (D1), no chain                 central (inputs over D1)     central
zero-order input behind a chain                 the first transit cmt        central
=============================================  ===========================  =======

This is NONMEM ADVAN2/ADVAN4's numbering for models with a depot; for a two-compartment model
without a depot (ADVAN3) NONMEM's CMT 2 would be the peripheral compartment, and with a transit
chain written in $DES the central compartment has a higher number: imapk keeps CMT 2 for central.
Doses into the peripheral compartment or into a compartment inside a chain are refused when the
data set is read (:mod:`imapk.datasets`).

Event semantics (see :mod:`imapk.datasets` for the columns and the record rules):

* **F and lag** act on doses into the dose compartment (CMT 1), as NONMEM's F1 and ALAG1: the
  amount is F AMT and the input starts ALAG after TIME. Doses into the central compartment (CMT 2)
  have F 1 and no lag. A zero-order input at a given RATE lasts F AMT / RATE (NONMEM keeps the rate).
* **RATE -2** is an input of the model's duration D1 (models with zero-order input, e.g. Schmidli
  2005) into CMT 1. In such a model without a transit chain, which has no depot, CMT 1 and CMT 2
  both mean the central compartment, and a CMT 1 bolus (RATE 0) is refused; behind a chain a
  CMT 1 bolus enters the first transit compartment.
* **Resets** (EVID 3 and 4, and a dose with SS 1) empty every compartment and cancel infusions in
  progress, lagged inputs not yet started and the additional doses (ADDL) of earlier records.
* **SS 1** replaces the state by the steady state of an infinite train of the record's dose every
  II, the record's own dose being the latest (its input still to come where there is a lag);
  **SS 2** adds that steady state to the current state. The steady state is the fixed point of the
  one-interval map x -> E(II) x + b, x_ss = (I - E(II))^{-1} b, b the state one interval after one
  input into an empty body (a bolus, or a zero-order input of its duration): the closed-form sum of
  the train for one compartment, the engine's ``steady_state_linear`` (the series sum_k E^k b by
  doubling) for the others. With a lag, the train's latest input started ALAG - II before the
  record; it is applied and the state advanced to the record's time (an input still running then
  goes on). The parameters are those of the SS record. A train whose series does not converge
  (elimination too slow for the interval) is refused, naming the record.
* **Parameters** are the model's typical values for the covariates of the record that ends each
  interval (next observation carried backward), with the model's occasion effects from the
  clinical day :func:`imapk.population.occasion_onset_days` gives, counted from the ID's first
  dose (all in force from the start when that first dose is a steady state). A prediction at a
  record uses the volume of the interval that ends at it.
* **Troughs.** The trough of a dose (a dose record or an additional dose) is the left limit
  C(t-) at its time, before any record at that time.

**One ID, many parameter vectors.** :class:`SubjectWalker` walks the records of one ID for k
parameter vectors at once (the typical values times a factor per vector and parameter, and CL
factors on time intervals for inter-occasion effects): the states are the rows of one array,
stepped by the same formulas elementwise (one compartment) or row by row with the kernels'
propagators (other structures). It gives the predictions of a MAP fit on a patient's records
(:mod:`imapk.tdm.records`); there the trough at a dose record with SS is the train's trough (as
for a :class:`~imapk.schedule.SteadyState` start) rather than the left limit.

Models whose rates change continuously with time on therapy (e.g. Eechoute 2012's ka, and its F
with the time of each dose) are refused: the walker has no time-on-therapy clock, and a rate that
changes between events has no matrix-exponential step. ``time_variation="none"`` simulates such a
model without those factors (its typical values; for Eechoute 2012, those the factors tend to
after months of therapy).

References
----------
- Beal SL, Sheiner LB, Boeckmann AJ, Bauer RJ (eds). NONMEM Users Guides (1989-2009). Icon
  Development Solutions, Ellicott City, MD: the data items EVID, SS, II, ADDL, RATE and CMT, and
  PREDPP's compartment numbers of ADVAN2, ADVAN3 and ADVAN4.
- Gibaldi M, Perrier D. Pharmacokinetics, 2nd ed. Marcel Dekker, 1982: ch. 2-3 (multi-compartment
  solutions and superposition, the references of the tests).
- Xue J, Ye Q. Entrywise relative perturbation bounds for exponentials of essentially non-negative
  matrices. Numer Math 2008;110:393-403 (the series exponential's accuracy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .datasets import DataSet, SubjectRecords
from .errors import ImapkError, ScenarioError
from .params import PKParams

__all__ = ["simulate_dataset", "DataSetSimulation", "SubjectWalker", "SubjectPrediction", "NG_PER_ML_PER_MG_PER_L"]

#: mg/L -> ng/mL.
NG_PER_ML_PER_MG_PER_L = 1000.0
#: Smallest relative difference |ka - k| / max(ka, k) at which a zero-order depot input is computed.
DEPOT_INFUSION_MIN_SEPARATION = 1e-3


@dataclass(frozen=True)
class DataSetSimulation:
    """Predictions for a data set: one entry per observation record and one per dose.

    Attributes
    ----------
    id, row, time, dv, mdv, prediction
        Per observation record (EVID 0), in file order: its ID, file row, time [h], measured DV
        [ng/mL] (NaN where missing), MDV, and the model's concentration [ng/mL].
    trough_id, trough_time, trough_row, trough
        Per dose (records and additional doses), in the order given: ID, time [h], file row of the
        record that prescribed it, and the trough C(t-) [ng/mL].
    parameters
        Per ID, the typical parameters used on its first interval (a :class:`PKParams`).
    model
        The model's name, or ``"parameters"`` when PKParams were given.
    """

    id: np.ndarray
    row: np.ndarray
    time: np.ndarray
    dv: np.ndarray
    mdv: np.ndarray
    prediction: np.ndarray
    trough_id: np.ndarray
    trough_time: np.ndarray
    trough_row: np.ndarray
    trough: np.ndarray
    parameters: dict = field(default_factory=dict)
    model: str = "parameters"

    def observation_rows(self) -> tuple[list[str], list[list]]:
        """Header and rows of the predictions, one per observation record: ID, the record's row in
        the data set, TIME [h], DV [ng/mL] ("." where missing), MDV and PRED [ng/mL]."""
        header = ["ID", "ROW", "TIME [h]", "DV [ng/mL]", "MDV", "PRED [ng/mL]"]
        rows = [[i, int(r), float(t), "." if math.isnan(d) else float(d), int(m), float(p)]
                for i, r, t, d, m, p in zip(self.id, self.row, self.time, self.dv, self.mdv, self.prediction)]
        return header, rows

    def write_csv(self, path) -> Path:
        """Write :meth:`observation_rows` as CSV, atomically (:func:`imapk.io.write_csv`)."""
        from .io import write_csv

        header, rows = self.observation_rows()
        return write_csv(path, header, rows)

    def summary_lines(self) -> list[str]:
        """One line per ID: its observations and doses, the trough range, and each measured level
        (MDV 0) beside its prediction, for a terminal."""
        lines = [f"Data set simulated with {self.model} (typical values per ID; concentrations in ng/mL)"]
        for ident in dict.fromkeys(self.id.tolist() + self.trough_id.tolist()):
            obs = self.id == ident
            troughs = self.trough[self.trough_id == ident]
            span = f", troughs {troughs.min():.4g}-{troughs.max():.4g}" if troughs.size else ""
            lines.append(f"ID {ident}: {int(obs.sum())} observation records, {troughs.size} doses{span}")
            for t, dv, pred in zip(self.time[obs & (self.mdv == 0)], self.dv[obs & (self.mdv == 0)],
                                   self.prediction[obs & (self.mdv == 0)]):
                lines.append(f"  TIME {t:g} h: measured {dv:.4g}, predicted {pred:.4g} (ratio {dv / pred:.3g})"
                             if pred > 0 else f"  TIME {t:g} h: measured {dv:.4g}, predicted 0")
        return lines


def _closed_form():
    """The engine's closed-form kernels (:mod:`imapk.engine._exact_kernels`) as plain Python: the walker
    calls them once per event, where a compiled call from Python would cost more than it saves."""
    from .engine._numba import plain_module

    return plain_module("imapk.engine._exact_kernels")


def _advance(ad, ac, rd, rc, ka, k, dt):
    """The state (ad, ac) after dt with constant ka, k and input rates rd (depot), rc (central): the
    engine's E1-E2 (:func:`imapk.engine._exact_kernels.advance`) plus the depot input's terms (E1', E2')."""
    closed = _closed_form()
    ad_new, ac_new = closed.advance(ad, ac, rc, ka, k, dt)
    if rd != 0.0 and dt != 0.0:
        phi = closed.phi
        ad_new += rd * dt * phi(ka * dt)
        ac_new += rd * ka * dt * dt * (phi(k * dt) - phi(ka * dt)) / (ka * dt - k * dt)
    return ad_new, ac_new


@dataclass
class _Input:
    """One input, from its start: a bolus (duration 0) or a zero-order input, into the dose
    compartment (``depot`` True: the depot, the head of the chain) or the central compartment."""

    start: float
    amount: float
    duration: float
    depot: bool

    @property
    def rate(self) -> float:
        return self.amount / self.duration


class _OneCompartment:
    """The one-compartment model in closed form (E1'-E2'); the state is ``[ad, ac]`` [mg]. A model
    with zero-order input has no depot: its CMT 1 inputs enter central (``head_is_central``)."""

    one_compartment = True

    def __init__(self, zero_order: bool):
        self.head_is_central = zero_order

    @staticmethod
    def zero():
        return [0.0, 0.0]

    @staticmethod
    def add(x, depot: bool, amount: float):
        return [x[0] + amount, x[1]] if depot else [x[0], x[1] + amount]

    @staticmethod
    def plus(x, y):
        return [x[0] + y[0], x[1] + y[1]]

    @staticmethod
    def central(x) -> float:
        return x[1]

    @staticmethod
    def step(x, rd, rc, p: PKParams, dt):
        return list(_advance(x[0], x[1], rd, rc, (p.ka if p.ka is not None else 1.0), p.k, dt))

    @staticmethod
    def train(item: _Input, interval: float, p: PKParams):
        return list(_steady_state(item, interval, (p.ka if p.ka is not None else 1.0), p.k))


#: Matrix exponentials a simulation computes as plain Python before it switches to the compiled
#: kernels, when numba is not loaded yet: importing numba and loading the cached kernels costs about
#: 0.9 s, a plain exponential of Eechoute 2012's 8 compartments about 17 ms (of 2 compartments
#: with absorption, about 1-5 ms).
PLAIN_EXPONENTIALS = 32


class _Kernels:
    """The engine's linear kernels (:mod:`imapk.engine._linear_kernels`) for one simulation: as plain
    Python (the same operations) for its first :data:`PLAIN_EXPONENTIALS` exponentials, unless numba
    is loaded already, then compiled."""

    def __init__(self):
        from .engine._numba import numba_loaded, plain_module

        self.count = 0
        self.module = self.compiled() if numba_loaded() else plain_module("imapk.engine._linear_kernels")

    @staticmethod
    def compiled():
        from .engine import _linear_kernels

        return _linear_kernels

    def spend(self, exponentials: int):
        """Count `exponentials` computed; switch to the compiled kernels past the budget."""
        self.count += exponentials
        if self.count >= PLAIN_EXPONENTIALS:
            self.module = self.compiled()


class _Linear:
    """Any linear structure of :mod:`imapk.engine._linear_kernels` (transit chain, absorption
    compartment, central, peripheral); the state is the vector of amounts [mg] in its order.

    Each step is (L1) there, x(dt) = e^{A dt} x + W(dt) r, from one exponential of the augmented
    matrix [[A, e_head, e_central], [0, 0]] (:func:`fill_matrix`, :func:`expm_nonnegative`), applied
    by :func:`apply_propagator`: the engine's operations. Exponentials are remembered per
    (rate constants, dt), as the engine's :func:`propagator` does.
    """

    one_compartment = False
    head_is_central = False
    #: Exponentials remembered at most ((n + 2)-square matrices, 800 bytes for Eechoute 2012's structure).
    CACHE_SIZE = 4096

    def __init__(self, structure: tuple[int, int, int], kernels: _Kernels):
        self.kernels = kernels
        self.structure = structure
        self.n, self.head, self.c = (int(v) for v in kernels.module.compartments(*structure))
        size = self.n + 2
        self.m_aug, self.term, self.work = np.empty((size, size)), np.empty((size, size)), np.empty((size, size))
        self.cache: dict = {}

    @staticmethod
    def rate_constants(p: PKParams) -> tuple[float, float, float, float, float]:
        """(ktr, ka, k10, k12, k21) [1/h], zeros where the structure has none (as
        :func:`imapk.engine.linear.rate_constants`)."""
        q = 0.0 if p.q is None else p.q
        return (0.0 if p.ktr is None else p.ktr, 0.0 if p.ka is None else p.ka, p.cl / p.v, q / p.v,
                0.0 if p.vp is None else q / p.vp)

    def zero(self):
        return np.zeros(self.n)

    def add(self, x, depot: bool, amount: float):
        x = x.copy()
        x[self.head if depot else self.c] += amount
        return x

    @staticmethod
    def plus(x, y):
        return x + y

    def central(self, x) -> float:
        return float(x[self.c])

    def exponential(self, p: PKParams, dt: float) -> np.ndarray:
        return self.exponential_of(self.rate_constants(p), dt)

    def exponential_of(self, rates: tuple, dt: float) -> np.ndarray:
        """The augmented exponential for rate constants (ktr, ka, k10, k12, k21) [1/h] over dt [h]."""
        key = (rates, dt)
        e = self.cache.get(key)
        if e is None:
            if len(self.cache) >= self.CACHE_SIZE:
                self.cache.clear()
            e = np.empty_like(self.m_aug)
            module = self.kernels.module
            module.fill_matrix(*self.structure, *key[0], self.m_aug)
            module.expm_nonnegative(self.m_aug, dt, e, self.term, self.work)
            self.kernels.spend(1)
            self.cache[key] = e
        return e

    def step(self, x, rd, rc, p: PKParams, dt):
        out = np.empty(self.n)
        e = self.exponential(p, dt)
        self.kernels.module.apply_propagator(e, self.n, x, rd, rc, out)
        return out

    def train(self, item: _Input, interval: float, p: PKParams):
        """State just before an input of the infinite train (:func:`steady_state_linear`: the fixed point
        x = e^{A tau} x + u of the one-interval map, summed by doubling)."""
        return self.train_of(item, interval, self.rate_constants(p))

    def train_of(self, item: _Input, interval: float, rates: tuple):
        """:meth:`train` for rate constants (ktr, ka, k10, k12, k21) [1/h]."""
        x = np.zeros(self.n)
        converged = self.kernels.module.steady_state_linear(
            item.amount, interval, 0.0, item.duration, 0 if item.depot else 1, *self.structure, *rates, x,
        )
        self.kernels.spend(2)
        if not converged or not np.all(np.isfinite(x)):
            raise _NoSteadyState()
        return x


class _Rows:
    """The parameters of k subjects that share their input timing: the rate parameters (cl, v, ka, q,
    vp, ktr) as arrays (k,), F, ALAG and D1 as floats (they set when and how fast doses enter)."""

    RATES = ("cl", "v", "ka", "q", "vp", "ktr")

    def __init__(self, base: PKParams, factors: dict, timing: dict, size: int):
        for name in self.RATES:
            value = getattr(base, name)
            setattr(self, name, None if value is None else np.broadcast_to(value * factors.get(name, 1.0), (size,)))
        self.f = base.f * timing.get("f", 1.0)
        self.tlag = base.tlag * timing.get("tlag", 1.0)
        self.d1 = None if base.d1 is None else base.d1 * timing.get("d1", 1.0)
        self.n_transit = base.n_transit
        self.one_compartment = base.one_compartment
        self.k = self.cl / self.v

    def rate_constants(self) -> tuple:
        """(ktr, ka, k10, k12, k21) [1/h], each (k,), as :meth:`_Linear.rate_constants`."""
        zero = np.zeros_like(self.cl)
        q = zero if self.q is None else self.q
        return (zero if self.ktr is None else self.ktr, zero if self.ka is None else self.ka, self.cl / self.v,
                q / self.v, zero if self.vp is None else q / self.vp)


def _phi_rows(x: np.ndarray) -> np.ndarray:
    """phi(x) = (1 - e^{-x}) / x elementwise, 1 at x = 0 (the kernels' ``phi``)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x == 0.0, 1.0, -np.expm1(-x) / np.where(x == 0.0, 1.0, x))


def _advance_rows(ad, ac, rd, rc, ka, k, dt):
    """:func:`_advance` (E1'-E2') for arrays of subjects: the same formulas, elementwise."""
    if dt == 0.0:
        return ad, ac
    decay = np.exp(-k * dt)
    depot_decay = np.exp(-ka * dt)
    transfer = ka * dt * np.where(k <= ka, decay, depot_decay) * _phi_rows(np.abs(ka - k) * dt)
    ac_new = ac * decay + ad * transfer
    if rc != 0.0:
        ac_new = ac_new + rc * dt * _phi_rows(k * dt)
    ad_new = ad * depot_decay
    if rd != 0.0:
        ad_new = ad_new + rd * dt * _phi_rows(ka * dt)
        ac_new = ac_new + rd * ka * dt * dt * (_phi_rows(k * dt) - _phi_rows(ka * dt)) / (ka * dt - k * dt)
    return ad_new, ac_new


class _OneCompartmentRows:
    """:class:`_OneCompartment` for k subjects at once: the state is (k, 2) [mg], [ad, ac] per row."""

    one_compartment = True

    def __init__(self, zero_order: bool, size: int):
        self.head_is_central = zero_order
        self.size = size

    def zero(self):
        return np.zeros((self.size, 2))

    @staticmethod
    def add(x, depot: bool, amount: float):
        x = x.copy()
        x[:, 0 if depot else 1] += amount
        return x

    @staticmethod
    def plus(x, y):
        return x + y

    @staticmethod
    def central(x):
        return x[:, 1]

    @staticmethod
    def _ka(p: _Rows):
        return p.ka if p.ka is not None else np.ones_like(p.cl)

    def step(self, x, rd, rc, p: _Rows, dt):
        ad, ac = _advance_rows(x[:, 0], x[:, 1], rd, rc, self._ka(p), p.k, dt)
        return np.column_stack([ad, ac])

    def train(self, item: _Input, interval: float, p: _Rows):
        """Pre-input state of the infinite train (:func:`_steady_state`), per row."""
        ka, k = self._ka(p), p.k
        zero = np.zeros(self.size)
        if item.duration:
            rd = item.rate if item.depot else 0.0
            rc = 0.0 if item.depot else item.rate
            ud, uc = _advance_rows(zero, zero, rd, rc, ka, k, item.duration)
            ud, uc = _advance_rows(ud, uc, 0.0, 0.0, ka, k, interval - item.duration)
        else:
            ud, uc = (zero + item.amount, zero) if item.depot else (zero, zero + item.amount)
            ud, uc = _advance_rows(ud, uc, 0.0, 0.0, ka, k, interval)
        with np.errstate(invalid="ignore", divide="ignore"):
            xd = np.where(ud > 0.0, ud / -np.expm1(-ka * interval), 0.0)
        transfer = ka * interval * np.exp(-np.minimum(ka, k) * interval) * _phi_rows(np.abs(ka - k) * interval)
        xc = (uc + transfer * xd) / -np.expm1(-k * interval)
        return np.column_stack([xd, xc])


class _LinearRows:
    """:class:`_Linear` for k subjects: the state is (k, n) [mg]; each row is stepped by the kernels'
    propagator for its own rate constants (exponentials remembered per rates and dt)."""

    one_compartment = False
    head_is_central = False

    def __init__(self, structure: tuple[int, int, int], kernels: _Kernels, size: int):
        self.linear = _Linear(structure, kernels)
        self.n, self.head, self.c = self.linear.n, self.linear.head, self.linear.c
        self.size = size

    def zero(self):
        return np.zeros((self.size, self.n))

    def add(self, x, depot: bool, amount: float):
        x = x.copy()
        x[:, self.head if depot else self.c] += amount
        return x

    @staticmethod
    def plus(x, y):
        return x + y

    def central(self, x):
        return x[:, self.c]

    def _rates(self, p: _Rows):
        return [tuple(float(v) for v in row) for row in zip(*p.rate_constants())]

    def step(self, x, rd, rc, p: _Rows, dt):
        out = np.empty_like(x)
        apply = self.linear.kernels.module.apply_propagator
        for r, rates in enumerate(self._rates(p)):
            apply(self.linear.exponential_of(rates, dt), self.n, np.ascontiguousarray(x[r]), rd, rc, out[r])
        return out

    def train(self, item: _Input, interval: float, p: _Rows):
        return np.vstack([self.linear.train_of(item, interval, rates) for rates in self._rates(p)])


class _NoSteadyState(Exception):
    """The steady-state series did not converge (the caller names the record)."""


def _kinetics_for(p: PKParams, kernels: _Kernels):
    """The walker's kinetics for parameters `p`: the one-compartment closed form, or the linear kernels."""
    if p.one_compartment:
        return _OneCompartment(p.ka is None)
    return _Linear((p.n_transit, int(p.ka is not None), int(p.q is not None)), kernels)


class _Walker:
    """The state of one ID and the inputs in flight."""

    def __init__(self, kin):
        self.kin = kin
        self.t = -math.inf
        self.x = kin.zero()
        self.pending: list[_Input] = []  # inputs not yet started (lag), by start time
        self.running: list[tuple[float, float, bool]] = []  # (end, rate, depot) of zero-order inputs

    @property
    def central(self) -> float:
        """The central amount. [mg]"""
        return self.kin.central(self.x)

    def reset(self):
        self.x = self.kin.zero()
        self.pending = []
        self.running = []

    def rates(self):
        rd = math.fsum(rate for _, rate, depot in self.running if depot)
        rc = math.fsum(rate for _, rate, depot in self.running if not depot)
        return rd, rc

    def start(self, item: _Input):
        if item.duration == 0.0:
            self.x = self.kin.add(self.x, item.depot, item.amount)
        else:
            self.running.append((item.start + item.duration, item.rate, item.depot))

    def give(self, item: _Input):
        if item.start <= self.t:
            self.start(item)
        else:
            self.pending.append(item)
            self.pending.sort(key=lambda x: x.start)

    def advance(self, to: float, kinetics, boundaries):
        """Advance to time `to`, starting and ending inputs on the way; `kinetics(t)` gives the
        PKParams of the sub-interval that starts at t; `boundaries` are the times where they step."""
        if self.t == -math.inf:
            self.t = to
            while self.pending and self.pending[0].start <= to:
                self.start(self.pending.pop(0))
            return
        while True:
            stops = [to]
            stops += [item.start for item in self.pending[:1]]
            stops += [end for end, _, _ in self.running]
            stops += [c for c in boundaries if self.t < c < to]
            step_to = min(stops)
            if step_to > self.t:
                rd, rc = self.rates()
                self.x = self.kin.step(self.x, rd, rc, kinetics(self.t), step_to - self.t)
                self.t = step_to
            self.running = [r for r in self.running if r[0] > self.t]
            while self.pending and self.pending[0].start <= self.t:
                self.start(self.pending.pop(0))
            if self.t >= to:
                return


def _steady_state(item: _Input, interval: float, ka: float, k: float):
    """Pre-input state (ad, ac) of an infinite train of `item` every `interval` (one compartment): the
    state just before the input of one of its doses, the fixed point of the one-interval map."""
    # pre-input state of the train: fixed point x = Phi x + u of the one-interval map (Phi lower triangular)
    rd = item.rate if item.duration and item.depot else 0.0
    rc = item.rate if item.duration and not item.depot else 0.0
    ud, uc = (item.amount, 0.0) if (item.duration == 0.0 and item.depot) else (0.0, 0.0)
    uc += item.amount if (item.duration == 0.0 and not item.depot) else 0.0
    if item.duration:
        ud, uc = _advance(0.0, 0.0, rd, rc, ka, k, item.duration)
        ud, uc = _advance(ud, uc, 0.0, 0.0, ka, k, interval - item.duration)
    else:
        ud, uc = _advance(ud, uc, 0.0, 0.0, ka, k, interval)
    return _closed_form().train_fixed_point(ud, uc, interval, ka, k)


#: What ``time_variation`` may be: the model's own time-on-therapy factors, or none of them.
TIME_VARIATIONS = ("model", "none")


def _resolve(model_or_params, time_variation: str = "model"):
    """(name, model or None, fixed PKParams or None)."""
    from .models.base import PopulationModel, TimeVariation

    if time_variation not in TIME_VARIATIONS:
        raise ImapkError("unknown time variation", key="time_variation", got=time_variation,
                         expected=f"one of {', '.join(TIME_VARIATIONS)}")
    if isinstance(model_or_params, PKParams):
        return "parameters", None, model_or_params
    if isinstance(model_or_params, PopulationModel):
        model = model_or_params
    else:
        from .models import get_model

        model = get_model(model_or_params)
    if time_variation == "none":
        from dataclasses import replace

        model = replace(model, time_variation=TimeVariation())
    variation = model.time_variation
    if variation.needs_ode or not variation.f.constant:
        rates = [name for name in ("ka", "cl") if not getattr(variation, name).constant]
        what = (f"{' and '.join(rates)} change{'s' if len(rates) == 1 else ''} continuously" if rates
                else "F changes")
        raise ImapkError(
            f"model {model.name}: {what} with time on therapy; the data set simulation is exact for linear "
            "models whose parameters are constant or step with covariates and occasions, and does not follow "
            "time on therapy",
            key="model", got=model.name,
            expected="a model without time-on-therapy factors, or time_variation='none' (imapk run: --time-variation none; its typical values "
                     "without them)",
        )
    return model.name, model, None


def simulate_dataset(dataset: DataSet, model, *, occasion_timing: str = "fit",
                     time_variation: str = "model") -> DataSetSimulation:
    """Simulate every ID of a data set with a shipped model's typical values, or fixed parameters.

    Parameters
    ----------
    dataset
        The data set (:func:`imapk.datasets.read_dataset`).
    model
        The name of a shipped model (``"widmer2006"``, ``"schmidli2005"``) or a
        :class:`~imapk.models.PopulationModel`: each ID gets its typical values for its covariates
        (record by record, see the module docstring), without random effects; or a
        :class:`~imapk.params.PKParams` used for every ID. Any linear structure: one or two
        compartments, first- or zero-order input, a transit chain.
    occasion_timing
        When a model's occasion effects take effect (:func:`imapk.population.occasion_onset_days`).
    time_variation
        ``"model"``: the model's own time-on-therapy factors, refused where they change a rate
        continuously (the walker is exact for constant or stepwise rates only); ``"none"``: the
        typical values without those factors (for eechoute2012, ka 0.699 1/h and F 1, the values
        they tend to after months of therapy).

    Returns
    -------
    DataSetSimulation
        The concentration at every observation record and the trough before every dose. [ng/mL]

    Raises
    ------
    ImapkError
        For a model whose rates change continuously with time on therapy (unless `time_variation`
        is ``"none"``), or a missing covariate.
    ScenarioError
        For a record the model cannot give (naming the file, row and column): RATE -2 with a model
        without a duration D1, a bolus into CMT 1 of a zero-order input model without a transit
        chain, a lag or an input as long as a steady state's interval, a steady state that does not
        exist, a zero-order depot input into the one-compartment model where ka and k are within
        0.1 %.

    Examples
    --------
    400 mg/d for 60 days as a data set (a trough record before each dose), Widmer 2006 typical values:

    >>> from imapk.datasets import scenario_to_dataset
    >>> from imapk.scenario import parse_scenario
    >>> scenario = parse_scenario(
    ...     '[scenario]\\ntitle = "400 mg/d"\\n[model]\\nparameter_set = "widmer2006"\\n'
    ...     '[[schedule.phases]]\\ndose = "400 mg"\\ndays = 60\\n'
    ... )
    >>> sim = simulate_dataset(scenario_to_dataset(scenario), "widmer2006")
    >>> round(float(sim.prediction[59]), 1)  # the trough before the day-60 dose [ng/mL]
    732.2
    """
    name, pop_model, fixed = _resolve(model, time_variation)
    if pop_model is not None:
        missing = [c for c in pop_model.covariates if c not in dataset.covariate_units]
        if missing:
            raise ImapkError(f"model {pop_model.name} needs covariate `{missing[0]}`, not a column of the data set",
                             source=dataset.source, key="columns",
                             expected=f"columns {', '.join(pop_model.covariates)}")
    out = {key: [] for key in ("id", "row", "time", "dv", "mdv", "prediction", "trough_id", "trough_time",
                               "trough_row", "trough")}
    parameters = {}
    kernels = _Kernels()
    for subject in dataset.subjects:
        parameters[subject.id] = _simulate_subject(subject, dataset.source, pop_model, fixed, occasion_timing, kernels,
                                                   out)
    return DataSetSimulation(
        id=np.array(out["id"], dtype=str), row=np.array(out["row"], dtype=np.int64),
        time=np.array(out["time"], dtype=float), dv=np.array(out["dv"], dtype=float),
        mdv=np.array(out["mdv"], dtype=np.int64), prediction=np.array(out["prediction"], dtype=float),
        trough_id=np.array(out["trough_id"], dtype=str), trough_time=np.array(out["trough_time"], dtype=float),
        trough_row=np.array(out["trough_row"], dtype=np.int64), trough=np.array(out["trough"], dtype=float),
        parameters=parameters, model=name,
    )


@dataclass(frozen=True)
class SubjectPrediction:
    """One ID's records simulated for k parameter vectors (:meth:`SubjectWalker.predict`).

    Attributes
    ----------
    observation
        (k, n) concentration at each observation record (EVID 0), in file order. [ng/mL]
    observation_record
        Index of each of those records among the ID's records.
    dose_time, dose_record
        Time [h] of each dose given (records and additional doses not cancelled by a reset), in the
        order walked, and the index of the record that prescribed it.
    trough
        (k, doses) left limit C(t-) before each of those doses; for a dose record with SS, the
        concentration once its steady state is in place, before its own dose (the train's trough,
        as a :class:`~imapk.schedule.SteadyState` start has it). [ng/mL]
    extra
        (k, len(times)) concentration at each of the extra times asked for. [ng/mL]
    """

    observation: np.ndarray
    observation_record: np.ndarray
    dose_time: np.ndarray
    dose_record: np.ndarray
    trough: np.ndarray
    extra: np.ndarray


class SubjectWalker:
    """The records of one ID, walked for many parameter vectors at once (the fit of one patient).

    Parameter vector r of a call has, on every interval, the model's typical values for the
    covariates and occasion of that interval (as :func:`simulate_dataset`: covariates of the record
    that ends the interval, NOCB; occasions by clinical day from the first dose) multiplied by
    factors: ``factors[name][r]`` on parameter `name` throughout, and on CL a factor per time
    interval (inter-occasion effects). Vectors with the same F, ALAG and D1 (the parameters that set
    when and how fast doses enter) are walked together, their states as the rows of one array.

    Parameters
    ----------
    subject
        The ID's records (:class:`imapk.datasets.SubjectRecords`).
    model
        A :class:`~imapk.models.PopulationModel` or a shipped model's name (refused where its rates
        change continuously with time on therapy, as by :func:`simulate_dataset`), or
        :class:`~imapk.params.PKParams` as the typical values throughout.
    source
        The data set's file name, for messages.
    occasion_timing
        When the model's occasion effects take effect (:func:`imapk.population.occasion_onset_days`).
    """

    TIMING = ("f", "tlag", "d1")

    def __init__(self, subject: SubjectRecords, model, *, source: str | None = None, occasion_timing: str = "fit"):
        _, self.model, fixed = _resolve(model)
        self.subject, self.source = subject, source
        if fixed is not None:
            self.boundaries = []
            self.typical = lambda record, t, at_or_after: fixed
        else:
            missing = [c for c in self.model.covariates if c not in subject.covariates]
            if missing:
                raise ImapkError(f"model {self.model.name} needs covariate `{missing[0]}`, not a column of the data set",
                                 source=source, key="columns", expected=f"columns {', '.join(self.model.covariates)}")
            self.boundaries, start = _occasion_boundaries(subject, self.model, occasion_timing)
            self.typical = _typical_for(subject, source, self.model, self.boundaries, start)
        self.kernels = _Kernels()
        self._linear = {}

    def _kinetics(self, p: _Rows, size: int):
        if p.one_compartment:
            return _OneCompartmentRows(p.ka is None, size)
        structure = (p.n_transit, int(p.ka is not None), int(p.q is not None))
        if structure not in self._linear:
            self._linear[structure] = _LinearRows(structure, self.kernels, size)
        kin = self._linear[structure]
        kin.size = size
        return kin

    def predict(self, factors=None, *, cl_intervals=None, times=()) -> SubjectPrediction:
        """Simulate the records for k parameter vectors.

        Parameters
        ----------
        factors
            ``{name: (k,) array}``: multipliers of the typical values (e.g. exp(eta)); names among
            cl, v, ka, q, vp, ktr, f, tlag, d1. None: k = 1, the typical values.
        cl_intervals
            (start (m,), end (m,), factor (k, m)): CL is multiplied by factor[:, i] from start[i] to
            end[i] [h, the data set's clock]; disjoint intervals.
        times
            Extra output times [h, the data set's clock], increasing.

        Returns
        -------
        SubjectPrediction
        """
        s = self.subject
        factors = {name: np.atleast_1d(np.asarray(v, dtype=float)) for name, v in (factors or {}).items()}
        k = max([v.size for v in factors.values()] + [1 if cl_intervals is None else np.atleast_2d(cl_intervals[2]).shape[0]])
        factors = {name: np.broadcast_to(v, (k,)) for name, v in factors.items()}
        if cl_intervals is not None and np.asarray(cl_intervals[0]).size:
            starts, ends = np.asarray(cl_intervals[0], dtype=float), np.asarray(cl_intervals[1], dtype=float)
            order = np.argsort(starts)
            starts, ends = starts[order], ends[order]
            interval_factor = np.broadcast_to(np.atleast_2d(np.asarray(cl_intervals[2], dtype=float)), (k, order.size))[:, order]
        else:
            starts = ends = np.empty(0)
            interval_factor = np.ones((k, 0))
        walk_boundaries = sorted(set(self.boundaries) | set(starts.tolist()) | set(ends.tolist()))
        times = np.asarray(times, dtype=float).reshape(-1)
        timing = np.column_stack([factors.get(name, np.ones(k)) for name in self.TIMING])
        groups, group_of = np.unique(timing, axis=0, return_inverse=True)
        group_of = np.asarray(group_of).reshape(-1)
        obs_parts, trough_parts, extra_parts = [], [], []
        obs_record, dose_time, dose_record = [], [], []
        for g, row in enumerate(groups):
            members = np.flatnonzero(group_of == g)
            sub = {name: v[members] for name, v in factors.items() if name not in self.TIMING}
            timing_g = {name: float(row[j]) for j, name in enumerate(self.TIMING)}
            intervals_g = interval_factor[members]
            cache: dict = {}

            def params(record: int, t: float, at_or_after: bool, sub=sub, timing_g=timing_g, intervals_g=intervals_g,
                       cache=cache) -> _Rows:
                base = self.typical(record, t, at_or_after)
                j = int(np.searchsorted(starts, t, side="right" if at_or_after else "left")) - 1
                inside = j >= 0 and (t < ends[j] if at_or_after else t <= ends[j])
                key = (id(base), j if inside else -1)
                if key not in cache:
                    f = dict(sub)
                    if inside:
                        f["cl"] = f.get("cl", 1.0) * intervals_g[:, j]
                    cache[key] = _Rows(base, f, timing_g, members.size)
                return cache[key]

            first = params(0, float(s.time[0]), True)
            kin = self._kinetics(first, members.size)
            obs, troughs, extra = [], [], np.zeros((members.size, times.size))
            record_obs = g == 0

            def observation(i, t, c, obs=obs, record=record_obs):
                obs.append(c)
                if record:
                    obs_record.append(i)

            def dose(i, t, c, troughs=troughs, record=record_obs):
                troughs.append(np.broadcast_to(c, (members.size,)))
                if record:
                    dose_time.append(t)
                    dose_record.append(i)

            def at_time(j, c, extra=extra):
                extra[:, j] = c

            _walk(s, self.source, params, kin, walk_boundaries, observation, dose, times, at_time,
                  steady_state_troughs=True)
            obs_parts.append((members, np.array(obs).reshape(len(obs), members.size).T))
            trough_parts.append((members, np.array(troughs).reshape(len(troughs), members.size).T))
            extra_parts.append((members, extra))

        def assemble(parts):
            width = parts[0][1].shape[1]
            out = np.empty((k, width))
            for members, values in parts:
                out[members] = values
            return out

        return SubjectPrediction(
            observation=assemble(obs_parts), observation_record=np.asarray(obs_record, dtype=np.int64),
            dose_time=np.asarray(dose_time, dtype=float), dose_record=np.asarray(dose_record, dtype=np.int64),
            trough=assemble(trough_parts), extra=assemble(extra_parts),
        )


def walked_doses(s: SubjectRecords) -> tuple[np.ndarray, np.ndarray]:
    """(time [h], record index) of every dose the walker gives for the records of one ID, in the order
    walked: dose records (EVID 1 and 4) and the additional doses (ADDL) a reset (EVID 3 or 4, or an
    SS 1 dose) has not cancelled: those of :attr:`SubjectPrediction.dose_time`."""
    times, records = [], []
    cancelled_before = -1
    for t, i, k, _ in _processing_order(s):
        if k and i < cancelled_before:
            continue
        if k == 0 and s.evid[i] in (3, 4):
            cancelled_before = i
        if k == 0 and s.evid[i] in (1, 4) and s.ss[i] == 1:
            cancelled_before = i
        if k or s.evid[i] in (1, 4):
            times.append(t)
            records.append(i)
    return np.asarray(times, dtype=float), np.asarray(records, dtype=np.int64)


def _processing_order(s: SubjectRecords):
    """The records and additional doses in the order they are processed: records in file order,
    each additional dose before the first record at or after its time. Items are (record index,
    k) with k = 0 for the record itself and k >= 1 for its k-th additional dose, and the index
    of the record whose covariates govern the interval that ends at the item."""
    implied = sorted(
        ((float(s.time[i] + k * s.ii[i]), i, k) for i in range(len(s)) if s.addl[i] for k in range(1, s.addl[i] + 1)),
        key=lambda x: (x[0], x[1], x[2]),
    )
    items = []
    p = 0
    for i in range(len(s)):
        while p < len(implied) and implied[p][0] <= s.time[i]:
            items.append((implied[p][0], implied[p][1], implied[p][2], i))
            p += 1
        items.append((float(s.time[i]), i, 0, i))
    last = len(s) - 1
    items.extend((t, i, k, last) for t, i, k in implied[p:])
    return items


def _occasion_boundaries(s: SubjectRecords, model, occasion_timing) -> tuple[list[float], int]:
    """(times [h] where the model's occasion effects step, occasion in force at the first dose): by
    clinical day from the ID's first dose, or every occasion from the start after a steady state."""
    from .population import occasion_onset_days
    from .schedule import day_start

    dose_rows = np.flatnonzero(np.isin(s.evid, (1, 4)))
    if model is None or not model.occasion_days:
        return [], 0
    onsets = occasion_onset_days(model, occasion_timing)
    if dose_rows.size and s.ss[dose_rows[0]]:
        return [], len(onsets)
    first = float(s.time[dose_rows[0]]) if dose_rows.size else float(s.time[0])
    return [first + day_start(day) for day in onsets], 0


def _typical_for(s: SubjectRecords, source, model, boundaries, start_occasion):
    """``typical(record, t, at_or_after)``: the model's typical PKParams for the covariates of `record`
    and the occasion at time t (a step at t counts when `at_or_after`), remembered per value."""
    cache: dict = {}

    def typical(record: int, t: float, at_or_after: bool) -> PKParams:
        passed = sum(1 for c in boundaries if (c <= t if at_or_after else c < t))
        occasion = start_occasion + passed
        key = (tuple(values[record] for values in s.covariates.values()), occasion)  # records often repeat values
        if key not in cache:
            try:
                cache[key] = model.typical_params(s.covariates_at(record), occasion)
            except ImapkError as error:
                raise type(error)(error.problem, source=source, key=f"row {s.row[record]} (ID {s.id})",
                                  got=error.got, expected=error.expected) from None
        return cache[key]

    return typical


def _simulate_subject(s: SubjectRecords, source, model, fixed, occasion_timing, kernels, out) -> PKParams:
    boundaries, start_occasion = _occasion_boundaries(s, model, occasion_timing)
    typical = _typical_for(s, source, model, boundaries, start_occasion) if fixed is None else None

    def params(record: int, t: float, at_or_after: bool) -> PKParams:
        return fixed if fixed is not None else typical(record, t, at_or_after)

    def observation(i, t, concentration):
        for key, value in (("id", s.id), ("row", int(s.row[i])), ("time", t), ("dv", float(s.dv[i])),
                           ("mdv", int(s.mdv[i])), ("prediction", concentration)):
            out[key].append(value)

    def dose(i, t, left_limit):
        for key, value in (("trough_id", s.id), ("trough_time", t), ("trough_row", int(s.row[i])),
                           ("trough", left_limit)):
            out[key].append(value)

    kin = _kinetics_for(params(0, float(s.time[0]), True), kernels)
    _walk(s, source, params, kin, boundaries, observation, dose)
    return params(0, float(s.time[0]), True)


def _walk(s: SubjectRecords, source, params, kin, boundaries, observation, dose, extra_times=(), extra=None,
          steady_state_troughs: bool = False) -> None:
    """Walk the records of one ID (the event semantics of the module docstring).

    `params(record, t, at_or_after)` gives the parameters of the interval that record ends at time t;
    `kin` the kinetics (the state may hold one subject or k subjects as rows). Calls
    ``observation(record, t, C)`` at each EVID 0 record, ``dose(record, t, C(t-))`` at each dose, and
    ``extra(j, C)`` at each of `extra_times` [h] (increasing; the concentration there after the
    inputs that start by then, before the records and additional doses at that time). C in ng/mL.
    With `steady_state_troughs`, the trough of a dose record with SS is the concentration once its
    steady state is in place, before the record's own dose (the trough of the train; as
    :class:`~imapk.schedule.SteadyState` starts have it), not the left limit."""
    walker = _Walker(kin)
    cancelled_before = -1  # additional doses of records before this index were cancelled by a reset
    left_limit = 0.0
    items = _processing_order(s)
    if len(extra_times):
        last = len(s) - 1
        marks = [(float(t), -1, j, min(int(np.searchsorted(np.asarray(s.time, dtype=float), t, side="left")), last))
                 for j, t in enumerate(extra_times)]
        merged, p = [], 0
        for item in items:
            while p < len(marks) and marks[p][0] <= item[0]:
                merged.append(marks[p])
                p += 1
            merged.append(item)
        items = merged + marks[p:]
    for t, i, k, governing in items:
        if i < 0:
            walker.advance(t, lambda t0, g=governing: params(g, t0, True), boundaries)
            extra(k, walker.central / params(governing, t, False).v * NG_PER_ML_PER_MG_PER_L)
            continue
        if k and i < cancelled_before:
            continue
        arriving = walker.t != t
        walker.advance(t, lambda t0, g=governing: params(g, t0, True), boundaries)
        if arriving:
            left_limit = walker.central / params(governing, t, False).v * NG_PER_ML_PER_MG_PER_L
        record_dose = k == 0 and s.evid[i] in (1, 4)
        if k == 0 and s.evid[i] == 0:
            observation(i, t, walker.central / params(i, t, False).v * NG_PER_ML_PER_MG_PER_L)
            continue
        if k == 0 and s.evid[i] in (3, 4):
            walker.reset()
            cancelled_before = i
        if not (record_dose or k):
            continue  # EVID 2 (other) and 3 (reset) records carry no dose
        steady = record_dose and s.ss[i]
        if not (steady and steady_state_troughs):
            dose(i, t, left_limit)
        dose_params = params(governing if k else i, t, True)
        item = _dose_input(s, i, t, dose_params, walker.kin, source)
        if steady:
            _steady_state_record(walker, s, i, item, params(i, t, True), source)
            if s.ss[i] == 1:
                cancelled_before = i
            if steady_state_troughs:
                dose(i, t, walker.central / params(i, t, False).v * NG_PER_ML_PER_MG_PER_L)
        walker.give(item)


def _dose_input(s: SubjectRecords, i: int, t: float, p: PKParams, kin, source: str) -> _Input:
    """The input of a dose of record i given at time t, by the rules of the module docstring."""
    cmt, rate, amount = int(s.cmt[i]), float(s.rate[i]), float(s.amt[i])
    key = f"row {s.row[i]}, column RATE"
    zero_order_model = p.ka is None
    if cmt == 1:
        amount *= p.f
        start = t + p.tlag
    else:
        start = t
    into_head = cmt == 1 and not kin.head_is_central
    if rate == -2.0:
        if not zero_order_model:
            raise ScenarioError("RATE -2 (modelled duration) needs a model with a duration D1 (zero-order input)",
                                source=source, key=key, got=float(s.rate[i]), expected="RATE 0 or > 0 with this model")
        if cmt != 1:
            raise ScenarioError("RATE -2 models the duration of doses into the dose compartment (CMT 1)",
                                source=source, key=key, got=float(s.rate[i]), expected="CMT 1, or RATE 0 or > 0")
        return _Input(start, amount, p.d1, into_head)
    if rate > 0.0:
        if into_head and kin.one_compartment:
            ka, k = np.asarray(p.ka, dtype=float), np.asarray(p.k, dtype=float)
            close = np.abs(ka - k) <= DEPOT_INFUSION_MIN_SEPARATION * np.maximum(ka, k)
            if np.any(close):
                j = int(np.argmax(close)) if close.ndim else 0
                ka_j, k_j = float(ka.reshape(-1)[j]), float(k.reshape(-1)[j])
                raise ScenarioError(
                    "a zero-order input into the depot needs ka and k = CL/V at least 0.1 % apart",
                    source=source, key=key, got=float(s.rate[i]), expected=f"ka ({ka_j:g} 1/h) not within 0.1 % of k ({k_j:g} 1/h)",
                )
        return _Input(start, amount, amount / rate, into_head)
    if cmt == 1 and zero_order_model and p.n_transit == 0:
        raise ScenarioError("the model has zero-order input and no depot: a bolus into CMT 1 is undefined",
                            source=source, key=key, got=float(s.rate[i]), expected="RATE -2 (the model's D1), or CMT 2")
    return _Input(start, amount, 0.0, into_head)


def _steady_state_record(walker: _Walker, s: SubjectRecords, i: int, item: _Input, p: PKParams, source: str) -> None:
    """Apply the steady state of record i (SS 1 replaces the state, SS 2 adds to it); the record's own
    dose `item` is given by the caller afterwards."""
    interval = float(s.ii[i])
    lag = item.start - float(s.time[i])
    key = f"row {s.row[i]}, column II"
    if item.duration > interval:
        raise ScenarioError("the input of a steady-state dose lasts longer than its interval", source=source, key=key,
                            got=float(s.ii[i]), expected=f"II >= {item.duration:g} h")
    if lag >= interval:
        raise ScenarioError("the lag time of a steady-state dose is as long as its interval", source=source, key=key,
                            got=float(s.ii[i]), expected=f"II > {lag:g} h (the lag)")
    kin = walker.kin
    try:
        x = kin.train(item, interval, p)
    except _NoSteadyState:
        raise ScenarioError("the steady state does not exist: elimination is too slow for the interval (the "
                            "series over 2^64 intervals did not converge)", source=source, key=key, got=float(s.ii[i]),
                            expected="a shorter interval, or doses without SS") from None
    running = []
    if lag > 0.0:  # the train's latest input began at t + lag - II: apply it and advance to t
        begin = float(s.time[i]) + lag - interval
        elapsed = interval - lag
        if item.duration == 0.0:
            x = kin.add(x, item.depot, item.amount)
            x = kin.step(x, 0.0, 0.0, p, elapsed)
        else:
            on = min(item.duration, elapsed)
            rd, rc = (item.rate, 0.0) if item.depot else (0.0, item.rate)
            x = kin.step(x, rd, rc, p, on)
            if elapsed > on or kin.one_compartment:
                x = kin.step(x, 0.0, 0.0, p, elapsed - on)
            if begin + item.duration > float(s.time[i]):
                running.append((begin + item.duration, item.rate, item.depot))
    if s.ss[i] == 1:
        walker.reset()
    walker.x = kin.plus(walker.x, x)
    walker.running.extend(running)
