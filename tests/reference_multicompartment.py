"""Independent reference implementations of linear multi-compartment PK models (test helpers).

Nothing here imports imapk: every formula is written from the textbook, and the ODE references
integrate the compartmental equations written out below with :func:`scipy.integrate.solve_ivp`.

Contents
--------
* :func:`two_cmt_single_dose` -- closed-form (macro-constant) central concentration of one dose
  of the two-compartment model: bolus or zero-order input into the central compartment, first-order
  absorption from a depot, zero-order input into the depot followed by first-order absorption.
  Evaluated in double precision or, where the exponents nearly coincide (ka ~ alpha or beta), in
  :mod:`decimal` arithmetic with :data:`DECIMAL_DIGITS` significant digits.
* :func:`superpose` -- multiple dosing by superposition (``math.fsum`` at each time point).
* :func:`linear_ode_reference` -- ``solve_ivp`` integration of the general linear chain
  transit_1..transit_n -> absorption -> central <-> peripheral, restarted at every discontinuity,
  with optional ka(t), F(dose time) and a steady-state start.
* :func:`eechoute2012_published` -- typical concentrations of the published Eechoute 2012 imatinib
  model (as transcribed by nlmixr2lib from Yang 2025, Table 1), integrated on its own literal
  compartment equations.

Units throughout: time h, amounts mg, volumes L, clearances L/h, rate constants 1/h,
concentrations ng/mL (= 1000 * mg / L).

References
----------
.. [GP] M. Gibaldi, D. Perrier. *Pharmacokinetics*, 2nd ed. Marcel Dekker, New York, 1982:
   ch. 2 (multicompartment models: intravenous bolus, constant-rate infusion and first-order
   absorption into the two-compartment model), ch. 3 (multiple dosing, superposition); the
   Laplace-transform method used there is the one used below to derive the residues.
.. [EE] K. Eechoute et al. A long-term prospective population pharmacokinetic study on imatinib
   plasma concentrations in GIST patients. Clin Cancer Res 2012;18(20):5780-5787.
.. [YA] T. Yang et al. Published population pharmacokinetic models of imatinib perform poorly on
   TDM data from pediatric patients. Target Oncol 2025;20(5):871-886, Table 1 (row Eechoute 2012),
   as transcribed in nlmixr2lib's model ``Eechoute_2012_imatinib``.
"""

from __future__ import annotations

import math
from decimal import Decimal, getcontext, localcontext
from typing import Mapping, NamedTuple

import numpy as np
import scipy.integrate
import scipy.linalg

NG_PER_ML = 1000.0  # mg/L -> ng/mL

#: Significant digits of the decimal evaluation of the closed forms.
DECIMAL_DIGITS = 60
#: Exponents closer than this (relative) are nudged apart in the decimal evaluation (see
#: :func:`two_cmt_single_dose`).
_DECIMAL_TIE = Decimal(10) ** -(DECIMAL_DIGITS // 2)
#: In ``precision="auto"``, a relative gap between two exponents below this switches to decimal.
AUTO_DECIMAL_GAP = 1e-2


# =============================================================================================
# 1. Closed-form single-dose solutions of the two-compartment model
# =============================================================================================

def _exponents_and_residues(cl, v1, q, v2, ka, num, sqrt):
    """Residues c_i and exponents lambda_i of the central amount per mg of an instantaneous input.

    Central amount after a unit input at 0: ``sum_i c_i exp(-lambda_i t)`` [mg per mg].
    `num` converts a float to the working number type, `sqrt` takes its square root; `ka` None
    means input into the central compartment.

    Micro-constants k10 = CL/V1, k12 = Q/V1, k21 = Q/V2; hybrid (macro) exponents alpha > beta are
    the roots of s^2 - (k10 + k12 + k21) s + k10 k21 = 0 [GP ch. 2]:

        alpha = (S + sqrt(S^2 - 4 P)) / 2,   beta = P / alpha   (S = k10+k12+k21, P = k10 k21),

    beta taken as P / alpha rather than (S - sqrt(.)) / 2 to avoid cancellation.

    Laplace transforms of the central amount per unit input (a1(s) = input * (s + k21) /
    ((s + alpha)(s + beta))) and their residues [GP ch. 2]:

    * into central:  (s + k21) / ((s+alpha)(s+beta))
        c_alpha = (alpha - k21) / (alpha - beta),  c_beta = (k21 - beta) / (alpha - beta)
    * from a depot:  ka (s + k21) / ((s+ka)(s+alpha)(s+beta))
        c_alpha = ka (k21 - alpha) / ((ka - alpha)(beta - alpha))
        c_beta  = ka (k21 - beta)  / ((ka - beta)(alpha - beta))
        c_ka    = ka (k21 - ka)    / ((alpha - ka)(beta - ka))

    With Q = 0 the peripheral compartment is disconnected and the one-compartment forms are used:
    c_k10 = 1 (central input), or the Bateman function c_k10 = ka / (ka - k10), c_ka = -c_k10.
    """
    cl, v1, q, v2 = num(cl), num(v1), num(q), num(v2)
    k10 = cl / v1
    if q == 0:
        if ka is None:
            return [(num(1.0), k10)]
        ka = num(ka)
        c = ka / (ka - k10)
        return [(c, k10), (-c, ka)]
    k12, k21 = q / v1, q / v2
    s = k10 + k12 + k21
    p = k10 * k21
    alpha = (s + sqrt(s * s - 4 * p)) / 2
    beta = p / alpha
    if ka is None:
        return [((alpha - k21) / (alpha - beta), alpha), ((k21 - beta) / (alpha - beta), beta)]
    ka = num(ka)
    return [
        (ka * (k21 - alpha) / ((ka - alpha) * (beta - alpha)), alpha),
        (ka * (k21 - beta) / ((ka - beta) * (alpha - beta)), beta),
        (ka * (k21 - ka) / ((alpha - ka) * (beta - ka)), ka),
    ]


def _min_relative_gap(cl, v1, q, v2, ka):
    """Smallest relative distance between two exponents of the closed form (double precision)."""
    lams = [lam for _, lam in _exponents_and_residues(cl, v1, q, v2, None, float, math.sqrt)]
    if ka is not None:
        lams.append(float(ka))
    gaps = [abs(a - b) / max(a, b) for i, a in enumerate(lams) for b in lams[i + 1:]]
    return min(gaps, default=math.inf)


def _unit_amount_double(tau, terms, d1):
    """Central amount per mg [mg/mg] at times tau >= 0 since the input started (numpy, float)."""
    out = np.zeros(tau.shape)
    if d1 <= 0:
        # bolus:  sum c_i e^{-lambda_i tau}
        for c, lam in terms:
            out += c * np.exp(-lam * tau)
        return out
    # zero-order input of 1/d1 mg/h over [0, d1]: the bolus response integrated over the input
    #   tau <= d1:  (1/d1) sum c_i / lambda_i (1 - e^{-lambda_i tau})
    #   tau >  d1:  (1/d1) sum c_i / lambda_i (1 - e^{-lambda_i d1}) e^{-lambda_i (tau - d1)}
    during = tau <= d1
    for c, lam in terms:
        w = c / lam / d1
        out[during] += w * -np.expm1(-lam * tau[during])
        out[~during] += w * -math.expm1(-lam * d1) * np.exp(-lam * (tau[~during] - d1))
    return out


def _dexpm1(x: Decimal) -> Decimal:
    """exp(x) - 1 in the current decimal context, by its series for small |x|."""
    if abs(x) > Decimal("1e-3"):
        return x.exp() - 1
    term, total, n = x, x, 1
    eps = Decimal(10) ** -(getcontext().prec + 5)
    while abs(term) > eps * abs(total):
        n += 1
        term = term * x / n
        total += term
    return total


_DECIMAL_CACHE: dict = {}


def _unit_amount_decimal(tau, cl, v1, q, v2, ka, d1):
    """As :func:`_unit_amount_double`, every operation in DECIMAL_DIGITS-digit decimal arithmetic.

    The inputs are the doubles given, converted exactly. Where ka lies within a relative
    10^-(DECIMAL_DIGITS/2) of alpha or beta (an exact or all but exact tie, where the residues
    are 0/0), ka is moved up by that relative amount: the closed form is continuous in ka, so this
    changes the result by O(1e-30 (1 + lambda t)) relative, far below double resolution.
    """
    out = np.zeros(tau.shape)
    with localcontext() as ctx:
        ctx.prec = DECIMAL_DIGITS
        num = Decimal
        dka = None
        if ka is not None:
            dka = Decimal(ka)
            lams = [lam for _, lam in _exponents_and_residues(cl, v1, q, v2, None, num, Decimal.sqrt)]
            while any(abs(dka - lam) <= _DECIMAL_TIE * dka for lam in lams):
                dka = dka * (1 + _DECIMAL_TIE)
        terms = _exponents_and_residues(cl, v1, q, v2, dka, num, Decimal.sqrt)
        dd1 = Decimal(d1)
        for n, t in enumerate(tau.ravel()):
            key = (cl, v1, q, v2, ka, d1, float(t), DECIMAL_DIGITS)
            value = _DECIMAL_CACHE.get(key)
            if value is None:
                dt = Decimal(float(t))
                total = Decimal(0)
                for c, lam in terms:
                    if d1 <= 0:
                        total += c * (-lam * dt).exp()
                    elif dt <= dd1:
                        total += c / lam / dd1 * -_dexpm1(-lam * dt)
                    else:
                        total += c / lam / dd1 * -_dexpm1(-lam * dd1) * (-lam * (dt - dd1)).exp()
                value = float(total)
                _DECIMAL_CACHE[key] = value
            out.flat[n] = value
    return out


def two_cmt_single_dose(t, dose, cl, v1, q, v2, *, ka=None, d1=0.0, tlag=0.0, into="depot", f=1.0,
                        precision="auto"):
    """Central concentration [ng/mL] of ONE dose of the two-compartment model, given at time 0.

    Closed-form macro-constant solutions [GP ch. 2]. With k10 = CL/V1, k12 = Q/V1, k21 = Q/V2 and
    alpha > beta the hybrid exponents (roots of s^2 - (k10+k12+k21) s + k10 k21), the central
    amount per mg that enters, tau = t - tlag hours after the input started, is

    * bolus into central (``ka`` None, ``d1`` 0)::

          a1 = (alpha - k21)/(alpha - beta) e^{-alpha tau} + (k21 - beta)/(alpha - beta) e^{-beta tau}

    * first-order absorption from a depot (``ka`` given, ``d1`` 0)::

          a1 = ka [ (k21 - alpha) / ((ka - alpha)(beta - alpha)) e^{-alpha tau}
                  + (k21 - beta)  / ((ka - beta)(alpha - beta))  e^{-beta tau}
                  + (k21 - ka)    / ((alpha - ka)(beta - ka))    e^{-ka tau} ]

    * zero-order input of duration d1 (rate 1/d1 mg/h per mg) into central (``ka`` None) or into
      the depot (``ka`` given): the corresponding bolus response sum_i c_i e^{-lambda_i tau}
      convolved with the rectangular input, term by term::

          tau <= d1:  (1/d1) sum_i c_i/lambda_i (1 - e^{-lambda_i tau})
          tau >  d1:  (1/d1) sum_i c_i/lambda_i (1 - e^{-lambda_i d1}) e^{-lambda_i (tau - d1)}

      (for the central input this is the two-compartment infusion formula of [GP ch. 2],
      C = k0 (alpha - k21)/(V1 alpha (alpha - beta)) (1 - e^{-alpha t}) + k0 (k21 - beta)/(V1 beta
      (alpha - beta)) (1 - e^{-beta t}) during the infusion; for the depot it is the same
      convolution applied to the three-exponential oral response; 1 - e^{-x} via expm1).

    Concentration C = 1000 * F * dose * a1 / V1; 0 for t < tlag (at t = tlag a central bolus is
    already in, i.e. the curve is right-continuous). With Q = 0 the one-compartment forms are used
    (the peripheral compartment is disconnected).

    Parameters
    ----------
    t : array_like
        Times after the dose [h].
    dose : float
        Amount [mg]; ``f * dose`` enters.
    cl, v1, q, v2 : float
        Clearance [L/h], central volume [L], intercompartmental clearance [L/h], peripheral
        volume [L].
    ka : float or None
        First-order absorption rate constant [1/h]; None: no depot, the input goes to central.
    d1 : float
        Duration [h] of zero-order input; 0 for a bolus.
    tlag : float
        Lag time [h] before the input starts.
    into : {"depot", "central"}
        ``"central"`` bypasses the depot even when ``ka`` is given.
    f : float
        Bioavailability (fraction of ``dose`` that enters).
    precision : {"auto", "double", "decimal"}
        ``"double"``: numpy float64. Relative error ~1e-16 x (largest |term| / result): a few ulp
        except shortly after the input starts (where the terms cancel) and when two exponents are
        close (the residues grow like 1/gap; error ~ 1e-16 / relative gap; ZeroDivisionError at
        an exact tie).
        ``"decimal"``: the same formulas in :data:`DECIMAL_DIGITS` (60) significant digits from the
        exact double inputs; relative gaps down to 1e-30 cost at most 30 digits, closer (tied)
        exponents are separated by a relative 1e-30 (see :func:`_unit_amount_decimal`), so the
        result keeps >= ~25 correct digits before it is rounded to float: the returned value is
        the correctly rounded double up to about 1 ulp. ~10-30 us per time point.
        ``"auto"`` (default): decimal when two exponents are closer than :data:`AUTO_DECIMAL_GAP`
        relative (so the double error would exceed ~1e-14), else double.

    Returns
    -------
    numpy.ndarray
        Concentration [ng/mL], shape of `t`.
    """
    t = np.asarray(t, dtype=float)
    if into not in ("depot", "central"):
        raise ValueError(f"into must be 'depot' or 'central', not {into!r}")
    k_abs = None if into == "central" else ka
    if precision == "auto":
        precision = "decimal" if _min_relative_gap(cl, v1, q, v2, k_abs) < AUTO_DECIMAL_GAP else "double"
    tau = t - tlag
    started = tau >= 0
    out = np.zeros(t.shape)
    if precision == "double":
        terms = _exponents_and_residues(cl, v1, q, v2, k_abs, float, math.sqrt)
        unit = _unit_amount_double(tau[started], terms, d1)
    elif precision == "decimal":
        unit = _unit_amount_decimal(tau[started], cl, v1, q, v2, k_abs, d1)
    else:
        raise ValueError(f"unknown precision {precision!r}")
    out[started] = f * dose * unit / v1 * NG_PER_ML
    return out


# =============================================================================================
# 2. Superposition
# =============================================================================================

def superpose(single_dose_fn, dose_times, amounts, t):
    """Concentration [ng/mL] of several doses by superposition [GP ch. 3].

    Parameters
    ----------
    single_dose_fn : callable
        ``single_dose_fn(dt, amount)`` -> concentration [ng/mL] at the array of times `dt` [h]
        after a dose of `amount` [mg] (0 for dt before the input starts), e.g.
        ``lambda dt, a: two_cmt_single_dose(dt, a, cl, v1, q, v2, ka=ka)``.
    dose_times, amounts : array_like
        Dose times [h] and amounts [mg]; zero amounts are skipped.
    t : array_like
        Observation times [h].

    Returns
    -------
    numpy.ndarray
        sum_j single_dose_fn(t - s_j, D_j), summed with :func:`math.fsum` at every time point
        (so the summation itself adds at most ~1 ulp).
    """
    t = np.asarray(t, dtype=float)
    dose_times = np.asarray(dose_times, dtype=float).ravel()
    amounts = np.asarray(amounts, dtype=float).ravel()
    keep = amounts != 0
    curves = [np.asarray(single_dose_fn(t - s, a), dtype=float).ravel()
              for s, a in zip(dose_times[keep], amounts[keep])]
    if not curves:
        return np.zeros(t.shape)
    stacked = np.stack(curves)
    return np.array([math.fsum(column) for column in stacked.T]).reshape(t.shape)


# =============================================================================================
# 3. ODE reference of the general linear chain
# =============================================================================================

class Dose(NamedTuple):
    """One dose of :func:`linear_ode_reference`.

    time [h] (before tlag), amount [mg] (before F), d1 [h] (0: bolus, else zero-order duration),
    into: ``"first"`` (first compartment of the chain) or ``"central"``.
    """

    time: float
    amount: float
    d1: float = 0.0
    into: str = "first"


class SteadyState(NamedTuple):
    """An infinite train of identical doses every `interval` [h] before the start time.

    amount [mg] (before F), d1 [h], into as in :class:`Dose`.
    """

    amount: float
    interval: float
    d1: float = 0.0
    into: str = "first"


class _Layout(NamedTuple):
    n_transit: int
    absorption: int | None  # index of the absorption compartment, None if absent
    central: int
    peripheral: int | None
    size: int


def _layout(n_transit, has_absorption, has_peripheral):
    absorption = n_transit if has_absorption else None
    central = n_transit + (1 if has_absorption else 0)
    peripheral = central + 1 if has_peripheral else None
    return _Layout(n_transit, absorption, central, peripheral, central + 1 + (1 if has_peripheral else 0))


def _system_matrix(lay, ka, rates):
    """Compartmental matrix A of dx/dt = A x + r (written out compartment by compartment)."""
    a = np.zeros((lay.size, lay.size))
    ktr = rates.get("ktr")
    for i in range(lay.n_transit):
        a[i, i] -= ktr                                   # transit_i empties at ktr ...
        nxt = i + 1 if i + 1 < lay.n_transit else (lay.absorption if lay.absorption is not None else lay.central)
        a[nxt, i] += ktr                                 # ... into the next compartment
    if lay.absorption is not None:
        a[lay.absorption, lay.absorption] -= ka          # absorption compartment -> central at ka
        a[lay.central, lay.absorption] += ka
    c = lay.central
    k10 = rates["cl"] / rates["v1"]
    a[c, c] -= k10                                       # elimination
    if lay.peripheral is not None:
        k12 = rates["q"] / rates["v1"]
        k21 = rates["q"] / rates["v2"]
        p = lay.peripheral
        a[c, c] -= k12
        a[p, c] += k12
        a[p, p] -= k21
        a[c, p] += k21
    return a


def _as_dose(e):
    if isinstance(e, Dose):
        return e
    if isinstance(e, Mapping):
        return Dose(**e)
    return Dose(*e)


def _inputs(doses, lay, f_of, tlag):
    """Boluses [(time, compartment, mg)] and infusions [(start, end, compartment, mg/h)]."""
    head = 0 if lay.n_transit else (lay.absorption if lay.absorption is not None else lay.central)
    boluses, infusions = [], []
    for d in doses:
        if d.into not in ("first", "central"):
            raise ValueError(f"into must be 'first' or 'central', not {d.into!r}")
        comp = head if d.into == "first" else lay.central
        amount = d.amount * f_of(d.time)
        if amount == 0:
            continue
        start = d.time + tlag
        if d.d1 > 0:
            infusions.append((start, start + d.d1, comp, amount / d.d1))
        else:
            boluses.append((start, comp, amount))
    return boluses, infusions


def _integrate(x0, t0, t_end, boluses, infusions, a_of_t, size, t_out, left_limit, method, rtol, atol):
    """Step from t0 to t_end through every discontinuity; return the states at t_out (n_out, size).

    Breakpoints: every bolus time, infusion start and end, output time, and t_end. On each interval
    between breakpoints the input rates are constant and solve_ivp is restarted, so no step crosses
    a discontinuity; outputs are the integrator's own end points (not its dense-output
    interpolant, which is less accurate than the steps: ~5e-10 relative where the steps are good
    to ~1e-12). At a bolus time the output is the state after the bolus (right limit) unless
    `left_limit`.
    """
    t_out = np.asarray(t_out, dtype=float)
    states = np.full((t_out.size, size), np.nan)
    breaks = {t0, t_end}
    breaks |= {u for u in t_out.tolist() if t0 <= u <= t_end}
    breaks |= {b[0] for b in boluses if t0 <= b[0] <= t_end}
    for start, end, _, _ in infusions:
        breaks |= {u for u in (start, end) if t0 <= u <= t_end}
    breaks = sorted(breaks)
    x = np.array(x0, dtype=float)
    for n, a in enumerate(breaks):
        at = np.flatnonzero(t_out == a)
        if left_limit:
            states[at] = x
        for tb, comp, amount in boluses:
            if tb == a:
                x[comp] += amount
        if not left_limit:
            states[at] = x
        if n + 1 == len(breaks):
            break
        b = breaks[n + 1]
        r = np.zeros(size)
        for s, e, comp, rate in infusions:
            if s <= a < e:
                r[comp] += rate

        def rhs(t, y, r=r):
            return a_of_t(t) @ y + r

        def jac(t, y):
            return a_of_t(t)

        kwargs = {"jac": jac} if method in ("Radau", "BDF", "LSODA") else {}
        sol = scipy.integrate.solve_ivp(rhs, (a, b), x, method=method, rtol=rtol, atol=atol, **kwargs)
        if not sol.success:
            raise RuntimeError(sol.message)
        x = sol.y[:, -1].copy()
    return states


def linear_ode_reference(t_out, events, rates, n_transit=0, *, f=1.0, tlag=0.0, ka_of_t=None,
                         steady_state=None, t_start=None, left_limit=False, method="DOP853",
                         rtol=1e-12, atol=1e-15, return_states=False):
    """Central concentration [ng/mL] of the general linear model by numerical integration.

    State layout (amounts [mg]), the one the engine under test implements::

        [transit_1 .. transit_n, absorption, central, peripheral]

    * transit_i -> transit_{i+1} at ktr; transit_n -> absorption compartment at ktr (-> central if
      there is no absorption compartment);
    * absorption compartment -> central at ka (present iff ``rates["ka"]`` or `ka_of_t` is given);
    * central: eliminated at k10 = CL/V1, to the peripheral compartment at k12 = Q/V1;
    * peripheral (present iff ``rates["q"]`` is given): back to central at k21 = Q/V2.

    Each dose enters the first compartment of the chain (``into="first"``) or central
    (``into="central"``) at time + tlag, as a bolus or a zero-order input of rate F amount / d1
    over d1 h. ``solve_ivp`` is restarted at every bolus, at every start and end of a zero-order
    input (so no step crosses a discontinuity) and at every output time (so outputs are step end
    points, not dense-output interpolants); in between the right-hand side is A(t) x + r with r
    constant (A depends on t only through `ka_of_t`, which must be smooth).

    Parameters
    ----------
    t_out : array_like
        Output times [h].
    events : iterable of Dose or tuple or dict
        Doses (``Dose(time, amount, d1=0, into="first")``, or a tuple / dict of those fields).
    rates : mapping
        ``cl`` [L/h] and ``v1`` [L] (required); ``ka`` [1/h] (absorption compartment); ``q`` [L/h]
        and ``v2`` [L] (peripheral compartment); ``ktr`` [1/h] (required if n_transit > 0).
    n_transit : int
        Number of transit compartments.
    f : float or callable
        Bioavailability, or ``f(dose_time)`` evaluated at each dose's scheduled time [h].
    tlag : float
        Lag time [h], applied to every dose (including those of the steady-state train).
    ka_of_t : callable, optional
        ``ka_of_t(t)`` [1/h] at absolute time t [h]; replaces ``rates["ka"]``.
    steady_state : SteadyState, optional
        Start from the state produced by an infinite train of identical doses at t_start -
        k * interval (k = 1, 2, ...) with the same F, tlag and route. Inputs of that train still
        pending at t_start (lag or zero-order input reaching past it) are applied after it. The
        state at t_start (left limit) is the fixed point of one interval,
        x = (I - e^{A tau})^{-1} b, with e^{A tau} from :func:`scipy.linalg.expm` and b the
        solve_ivp response of one interval's (folded) input from zero; solved in double precision
        by :func:`numpy.linalg.solve` (I - e^{A tau} is well conditioned unless the slowest
        exponent times tau is tiny). Requires constant ka and F.
    t_start : float, optional
        Start time [h]; default: with `steady_state` the first dose time, else the earliest of the
        first output and the first dose time (zero state before).
    left_limit : bool
        Report the state before (True) or after (False, default) a bolus at an output time.
    method, rtol, atol : solve_ivp settings
        Defaults DOP853, rtol 1e-12, atol 1e-15 mg: the global relative error is then ~1e-14 ..
        1e-12 (against the closed forms, over up to a few hundred restarts) for amounts above
        ~atol/rtol = 1e-3 mg; smaller amounts (the tail of a transit compartment, say) are
        accurate to ~1e-15 mg absolute.
    return_states : bool
        Also return the state array (n_out, n_states) [mg].

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, numpy.ndarray)
        Concentration 1000 * central / V1 [ng/mL] at `t_out` (and the states).
    """
    t_out = np.asarray(t_out, dtype=float)
    doses = [_as_dose(e) for e in events]
    rates = dict(rates)
    has_abs = rates.get("ka") is not None or ka_of_t is not None
    has_per = rates.get("q") is not None
    if n_transit and rates.get("ktr") is None:
        raise ValueError("ktr is required with transit compartments")
    lay = _layout(n_transit, has_abs, has_per)
    f_of = f if callable(f) else (lambda _t, f=f: f)

    if ka_of_t is None:
        a_const = _system_matrix(lay, rates.get("ka"), rates)

        def a_of_t(_t):
            return a_const
    else:
        def a_of_t(t):
            return _system_matrix(lay, ka_of_t(t), rates)

    if t_start is None:
        if steady_state is not None:
            if not doses:
                raise ValueError("give t_start or a dose with steady_state")
            t_start = min(d.time for d in doses)
        else:
            t_start = min([*t_out.tolist(), *(d.time for d in doses)])
    t_end = max(t_out.max(), t_start)
    x0 = np.zeros(lay.size)

    if steady_state is not None:
        if ka_of_t is not None or callable(f):
            raise ValueError("steady_state needs constant ka and F")
        if np.any(t_out < t_start):
            raise ValueError("outputs before t_start are undefined with steady_state")
        ss = steady_state
        tau = float(ss.interval)
        n_back = int(math.ceil((tlag + ss.d1) / tau)) + 1
        train = [Dose(t_start - k * tau, ss.amount, ss.d1, ss.into) for k in range(0, n_back + 1)]
        # b: the state at t_start + tau from zero at t_start, under the inputs that the periodic
        # train delivers within [t_start, t_start + tau) (doses at t_start - k tau, k >= 0,
        # clipped to that window)
        tb, ti = _inputs(train, lay, f_of, tlag)
        w_end = t_start + tau
        wb = [(s, c, m) for s, c, m in tb if t_start <= s < w_end]
        wi = [(max(s, t_start), min(e, w_end), c, r) for s, e, c, r in ti if s < w_end and e > t_start]
        b = _integrate(x0, t_start, w_end, wb, wi, a_of_t, lay.size, np.array([w_end]), True,
                       method, rtol, atol)[0]
        m = scipy.linalg.expm(a_const * tau)
        x0 = np.linalg.solve(np.eye(lay.size) - m, b)
        # inputs of the train (k >= 1) still pending at t_start
        pb, pi = _inputs(train[1:], lay, f_of, tlag)
        pending_b = [(s, c, m_) for s, c, m_ in pb if s >= t_start]
        pending_i = [(max(s, t_start), e, c, r) for s, e, c, r in pi if e > t_start]
    else:
        pending_b, pending_i = [], []

    boluses, infusions = _inputs(doses, lay, f_of, tlag)
    boluses += pending_b
    infusions += pending_i
    states = np.zeros((t_out.size, lay.size))
    valid = t_out >= t_start
    states[valid] = _integrate(x0, t_start, t_end, boluses, infusions, a_of_t, lay.size, t_out[valid],
                               left_limit, method, rtol, atol)
    conc = states[:, lay.central] / rates["v1"] * NG_PER_ML
    return (conc, states) if return_states else conc


# =============================================================================================
# 4. The published Eechoute 2012 model, typical individual
# =============================================================================================

EECHOUTE2012 = {
    "ktr": 15.8,       # 1/h, all steps of the chain depot -> transit1 .. transit5
    "ka_inf": 0.699,   # 1/h, asymptotic ka (transit5 -> central)
    "ka_amp": 1.18,    # amplitude of the time-since-first-dose decay on ka
    "f_amp": 0.482,    # amplitude of the time-since-first-dose decay on relative F
    "k_taf": 0.0256,   # 1/day, decay rate shared by ka and F
    "cl": 9.12,        # L/h with no liver metastases
    "cl_livm": 0.000381,  # per cm^3 of liver metastases (linear)
    "vc": 128.0,       # L
    "q": 24.9,         # L/h
    "vp": 197.0,       # L
}


def eechoute2012_ka(taf_h):
    """ka(TAF) = 0.699 (1 + 1.18 exp(-0.0256 TAF/24)) [1/h], TAF in hours since the first dose."""
    p = EECHOUTE2012
    return p["ka_inf"] * (1.0 + p["ka_amp"] * math.exp(-p["k_taf"] * taf_h / 24.0))


def eechoute2012_f(taf_h):
    """Relative bioavailability F(TAF) = 1 + 0.482 exp(-0.0256 TAF/24) of a dose given at TAF [h]."""
    p = EECHOUTE2012
    return 1.0 + p["f_amp"] * math.exp(-p["k_taf"] * taf_h / 24.0)


def eechoute2012_published(times_h, dose_times_h, amounts_mg, *, liver_metastases_cm3=0.0, rtol=1e-11,
                           atol=1e-14):
    """Typical (no random effects) concentration [ng/mL] of the published Eechoute 2012 model.

    Transcribed literally from nlmixr2lib's ``Eechoute_2012_imatinib`` (parameters of [YA] Table
    1, model of [EE]); TAF = hours since the first dose::

        d/dt depot    = -ktr depot                          (dose x F(TAF_dose) goes here)
        d/dt transit1 =  ktr depot    - ktr transit1
        d/dt transit2 =  ktr transit1 - ktr transit2
        d/dt transit3 =  ktr transit2 - ktr transit3
        d/dt transit4 =  ktr transit3 - ktr transit4
        d/dt transit5 =  ktr transit4 - ka(TAF) transit5
        d/dt central  =  ka(TAF) transit5 - (CL + Q)/Vc central + Q/Vp peripheral
        d/dt periph   =  Q/Vc central - Q/Vp peripheral

    ktr = 15.8 /h, ka(TAF) = 0.699 (1 + 1.18 e^{-0.0256 TAF/24}) /h, CL = 9.12 (1 - 0.000381 LIVM)
    L/h, Vc = 128 L, Q = 24.9 L/h, Vp = 197 L, F(TAF) = 1 + 0.482 e^{-0.0256 TAF/24};
    C = 1000 central / Vc. Integrated with solve_ivp (DOP853, `rtol`, `atol` in mg), restarted at
    every dose and at every output time; the concentration at a dose time is the same before and
    after the dose (which enters the depot).

    Parameters
    ----------
    times_h : array_like
        Output times [h] (>= the first dose time; earlier outputs are 0).
    dose_times_h, amounts_mg : array_like
        Dose times [h] and amounts [mg] (before F).
    liver_metastases_cm3 : float
        Volume of liver metastases LIVM [cm^3].

    Returns
    -------
    numpy.ndarray
        Typical concentration [ng/mL] at `times_h`.
    """
    p = EECHOUTE2012
    times = np.asarray(times_h, dtype=float)
    dose_times = np.asarray(dose_times_h, dtype=float).ravel()
    amounts = np.asarray(amounts_mg, dtype=float).ravel()
    order = np.argsort(dose_times, kind="stable")
    dose_times, amounts = dose_times[order], amounts[order]
    t_first = dose_times[0]
    ktr, vc, q, vp = p["ktr"], p["vc"], p["q"], p["vp"]
    cl = p["cl"] * (1.0 - p["cl_livm"] * liver_metastases_cm3)

    def rhs(t, y):
        depot, tr1, tr2, tr3, tr4, tr5, central, periph = y
        ka = eechoute2012_ka(t - t_first)
        return [
            -ktr * depot,
            ktr * depot - ktr * tr1,
            ktr * tr1 - ktr * tr2,
            ktr * tr2 - ktr * tr3,
            ktr * tr3 - ktr * tr4,
            ktr * tr4 - ka * tr5,
            ka * tr5 - cl * central / vc - q * central / vc + q * periph / vp,
            q * central / vc - q * periph / vp,
        ]

    out = np.zeros(times.shape)
    flat_t, flat_out = times.ravel(), out.ravel()
    y = np.zeros(8)
    # restart at every dose and at every output time (outputs are integrator end points, not
    # dense-output interpolants)
    t_end = max(flat_t.max(), dose_times[-1])
    breaks = sorted(set(dose_times.tolist()) | {u for u in flat_t.tolist() if t_first <= u <= t_end})
    for n, a in enumerate(breaks):
        y[0] += math.fsum(amounts[dose_times == a]) * eechoute2012_f(a - t_first)
        flat_out[flat_t == a] = y[6] / vc * NG_PER_ML
        if n + 1 == len(breaks):
            break
        sol = scipy.integrate.solve_ivp(rhs, (a, breaks[n + 1]), y, method="DOP853", rtol=rtol, atol=atol)
        if not sol.success:
            raise RuntimeError(sol.message)
        y = sol.y[:, -1].copy()
    return out


def eechoute2012_one_compartment(times_h, dose_times_h, amounts_mg, *, liver_metastases_cm3=0.0,
                                 rtol=1e-12, atol=1e-15):
    """One-compartment simplification of :func:`eechoute2012_published` [ng/mL].

    V = Vc + Vp = 325 L, the transit chain replaced by a lag of 5/ktr = 5/15.8 h (its mean transit
    time), same ka(TAF), F(TAF) and CL; via :func:`linear_ode_reference`.
    """
    p = EECHOUTE2012
    t_first = float(np.min(dose_times_h))
    rates = {"cl": p["cl"] * (1.0 - p["cl_livm"] * liver_metastases_cm3), "v1": p["vc"] + p["vp"]}
    events = [Dose(float(s), float(a)) for s, a in zip(np.ravel(dose_times_h), np.ravel(amounts_mg))]
    return linear_ode_reference(
        times_h, events, rates, 0, f=lambda s: eechoute2012_f(s - t_first),
        tlag=5.0 / p["ktr"], ka_of_t=lambda t: eechoute2012_ka(t - t_first), t_start=t_first,
        rtol=rtol, atol=atol,
    )
