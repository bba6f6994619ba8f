"""Property-based tests of the simulation engine (hypothesis).

Random valid parameters (first-order or zero-order input, lag, relative bioavailability) and short
schedules (5-30 days, 100-800 mg, q12h or q24h, an optional hold with an optional re-escalation
step) are checked against properties that any correct one-compartment engine must satisfy: dose
linearity, superposition, non-negativity, monotone decay once all input is absorbed, time-shift
invariance, agreement of the exact and ODE paths, and troughs of held doses equal to the dense curve.

Run length: a few dozen examples per property by default. Set ``IMAPK_LONG_TESTS=1`` for the long
profile (many more examples per property)::

    IMAPK_LONG_TESTS=1 PYTHONPATH=src python -m pytest tests/test_properties.py
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from imapk.params import PKParams  # noqa: E402
from imapk.schedule import HELD, Hold, LadderStep, Phase, Schedule  # noqa: E402
from imapk.simulation import simulate  # noqa: E402

settings.register_profile(
    "imapk-default", deadline=None, max_examples=30, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "imapk-long", deadline=None, max_examples=1000, suppress_health_check=[HealthCheck.too_slow]
)
PROFILE = "imapk-long" if os.environ.get("IMAPK_LONG_TESTS") == "1" else "imapk-default"
EXAMPLES = settings.get_profile(PROFILE).max_examples


def _settings(scale: float = 1.0):
    """Settings of the active profile, with `scale` times its examples (for the slow ODE property)."""
    return settings(settings.get_profile(PROFILE), max_examples=max(5, int(EXAMPLES * scale)))


# ---------------------------------------------------------------------------------------------
# Strategies


@st.composite
def pk_params(draw) -> PKParams:
    cl = draw(st.floats(1.0, 50.0))
    v = draw(st.floats(50.0, 1000.0))
    tlag = draw(st.one_of(st.just(0.0), st.floats(0.0, 3.0)))
    f = draw(st.floats(0.5, 1.5))
    if draw(st.booleans()):
        return PKParams(cl=cl, v=v, ka=draw(st.floats(0.05, 5.0)), f=f, tlag=tlag)
    return PKParams(cl=cl, v=v, d1=draw(st.floats(0.5, 5.0)), f=f, tlag=tlag)


@dataclass(frozen=True)
class Plan:
    """A schedule's shape with its amounts kept apart, so that it can be rebuilt scaled or shifted."""

    phases: tuple[tuple[float, float, int], ...]  # (dose mg, interval h, days)
    hold: tuple[int, int, tuple[tuple[float, int], ...]] | None  # (start_day, days, ((dose, days), ...))

    @property
    def total_days(self) -> int:
        return sum(days for _, _, days in self.phases)

    def schedule(self, amounts=None, lead_days: int = 0) -> Schedule:
        """The schedule, with `amounts(dose) -> dose` applied to every amount and `lead_days` of 0 mg first."""
        amounts = amounts or (lambda a: a)
        phases = [Phase(dose=amounts(d), interval=i, days=n) for d, i, n in self.phases]
        if lead_days:
            phases.insert(0, Phase(dose=0.0, interval=self.phases[0][1], days=lead_days))
        holds = ()
        if self.hold is not None:
            start, days, ladder = self.hold
            holds = (
                Hold(
                    start_day=start + lead_days,
                    days=days,
                    restart=tuple(LadderStep(amounts(d), n) for d, n in ladder),
                ),
            )
        return Schedule(phases=tuple(phases), holds=holds)


doses = st.integers(100, 800).map(float) | st.floats(100.0, 800.0)


@st.composite
def plans(draw, hold: bool | None = None, min_hold_days: int = 1) -> Plan:
    n_phases = draw(st.integers(1, 2))
    total = draw(st.integers(5, 30))
    if n_phases == 1:
        lengths = [total]
    else:
        first = draw(st.integers(1, total - 1))
        lengths = [first, total - first]
    phases = tuple((draw(doses), draw(st.sampled_from([12.0, 24.0])), n) for n in lengths)
    with_hold = draw(st.booleans()) if hold is None else hold
    hold_spec = None
    if with_hold:
        # The hold starts on day 2 or later, holds at least one dose and ends with the schedule at the latest.
        assume(total - 1 >= min_hold_days)
        start = draw(st.integers(2, total - min_hold_days + 1))
        days = draw(st.integers(min_hold_days, total - start + 1))
        room = total - (start + days - 1)
        ladder = ()
        if room >= 2 and draw(st.booleans()):
            ladder = ((draw(doses), draw(st.integers(1, room - 1))),)
        hold_spec = (start, days, ladder)
    return Plan(phases, hold_spec)


def _grid(schedule: Schedule, step: float = 0.5) -> np.ndarray:
    end = schedule.lower().end
    return np.arange(0.0, end + 1e-9, step)


def _run(schedule, params, times=None, **kw):
    ds = simulate(schedule, params, times=_grid(schedule) if times is None else times, **kw)
    return ds.trough.values[0], ds.concentration.values[0]


def _close(actual, expected, rel, floor=0.0):
    actual, expected = np.asarray(actual), np.asarray(expected)
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1.0)
    tol = rel * np.abs(expected) + floor + 1e-300 * scale
    bad = np.abs(actual - expected) > tol
    assert not bad.any(), (
        f"{bad.sum()} values differ; worst: {actual[bad][:3]} vs {expected[bad][:3]} (rel {rel}, floor {floor})"
    )


# ---------------------------------------------------------------------------------------------
# Properties


@_settings()
@given(plan=plans(), params=pk_params())
def test_dose_linearity(plan, params):
    """Doubling every dose doubles every trough and every point of the curve (1e-12 relative)."""
    s1 = plan.schedule()
    s2 = plan.schedule(lambda a: 2.0 * a)
    t1, c1 = _run(s1, params)
    t2, c2 = _run(s2, params)
    _close(t2, 2.0 * t1, 1e-12, floor=1e-12 * float(np.max(c1)))
    _close(c2, 2.0 * c1, 1e-12, floor=1e-12 * float(np.max(c1)))


@_settings()
@given(plan=plans(), params=pk_params(), b=st.floats(0.1, 2.0))
def test_superposition(plan, params, b):
    """Amounts a and b on the same dose times add up to the curve of amounts a + b (1e-10 relative)."""
    ta, ca = _run(plan.schedule(), params)
    tb, cb = _run(plan.schedule(lambda a: b * a), params)
    tab, cab = _run(plan.schedule(lambda a: a + b * a), params)
    floor = 1e-12 * float(np.max(cab))
    _close(tab, ta + tb, 1e-10, floor)
    _close(cab, ca + cb, 1e-10, floor)


@_settings()
@given(plan=plans(), params=pk_params())
def test_non_negative(plan, params):
    """Every trough and every point of the curve is >= 0 and finite."""
    trough, conc = _run(plan.schedule(), params, times=_grid(plan.schedule(), 0.25))
    assert np.all(np.isfinite(trough)) and np.all(np.isfinite(conc))
    assert np.all(trough >= 0.0) and np.all(conc >= 0.0)


def _input_done_after(params: PKParams) -> float:
    """Time after a dose from which its contribution only falls [h]: lag plus zero-order duration, or
    lag plus the later of 10 absorption half-lives and the single-dose tmax (with ka up to 5/h and
    k down to 0.001/h, tmax = ln(ka/k)/(ka-k) can exceed 10 absorption half-lives)."""
    if params.d1 is not None:
        return params.tlag + params.d1
    ka, k = params.ka, params.k
    tmax = 1.0 / k if math.isclose(ka, k) else math.log(ka / k) / (ka - k)
    return params.tlag + max(10.0 * math.log(2.0) / ka, tmax)


@_settings()
@given(plan=plans(hold=True, min_hold_days=3), params=pk_params())
def test_no_rise_during_hold_after_absorption(plan, params):
    """Inside a hold, once all input of the last given dose is in, the concentration never rises."""
    schedule = plan.schedule()
    table = schedule.lower()
    held = np.flatnonzero(table.status == HELD)
    assume(held.size and held[0] > 0)
    first, last = held[0], held[-1]
    hold_end = table.time[last] + table.interval[last]
    start = table.time[first - 1] + _input_done_after(params)
    assume(start + 1.0 < hold_end)
    times = np.linspace(start, hold_end - 1e-6, 400)
    _, conc = _run(schedule, params, times=times)
    rises = np.diff(conc) > 1e-12 * conc[:-1] + 1e-300
    assert not rises.any(), f"concentration rises inside the hold at t = {times[1:][rises][:3]}"


@_settings()
@given(plan=plans(), params=pk_params(), lead=st.integers(1, 10))
def test_time_shift(plan, params, lead):
    """A leading phase of `lead` days at 0 mg shifts every trough by those days (1e-9 relative)."""
    t0, _ = _run(plan.schedule(), params, times=np.empty(0))
    t1, _ = _run(plan.schedule(lead_days=lead), params, times=np.empty(0))
    n = int(round(lead * 24.0 / plan.phases[0][1]))
    assert t1.size == t0.size + n
    assert np.all(t1[:n] == 0.0)
    _close(t1[n:], t0, 1e-9, floor=1e-12 * float(np.max(t0)))


@_settings(scale=0.5)
@given(plan=plans(), params=pk_params())
def test_exact_matches_ode(plan, params):
    """The ODE path at rtol = atol = 1e-8 agrees with the closed form within its tolerance:
    |y - y_exact| / (atol / V * 1000 + rtol |y_exact|) < 10 (concentrations in ng/mL, atol in mg)."""
    schedule = plan.schedule()
    te, ce = _run(schedule, params)
    to, co = _run(schedule, params, method="ode", rtol=1e-8, atol=1e-8)
    for exact, ode in ((te, to), (ce, co)):
        scale = 1e-8 / params.v * 1000.0 + 1e-8 * np.abs(exact)
        err = np.abs(ode - exact) / scale
        assert np.max(err, initial=0.0) < 10.0, f"scaled error {np.max(err):.3g}"


@_settings()
@given(plan=plans(hold=True), params=pk_params())
def test_held_trough_equals_dense_curve(plan, params):
    """The trough of a held dose equals the dense concentration 1e-9 h before its scheduled time.

    Tolerance 1e-9 relative plus the change of the curve over those 1e-9 h (at most
    (k + ka + 1/d1) 1e-9 relative) plus 1e-12 ng/mL absolute."""
    schedule = plan.schedule()
    table = schedule.lower()
    held = np.flatnonzero(table.status == HELD)
    assume(held.size)
    trough, conc = _run(schedule, params, times=table.time[held] - 1e-9)
    rates = params.k + (params.ka or 0.0) + (1.0 / params.d1 if params.d1 else 0.0)
    tol = (1e-9 + 1e-9 * rates) * np.abs(trough[held]) + 1e-12
    assert np.all(np.abs(conc - trough[held]) <= tol), (conc, trough[held])
