"""Exposure metrics (imapk.exposure) against answers known in closed form.

Tolerances, and why:

* crossing times: 1e-9 h absolute. The engine's safeguarded Newton stops within a few ulps of
  t (~1e-13 h at t ~ 1000 h) and brentq with xtol 1e-13 likewise; the rest is the residual depot
  (< 1e-12 of the dose) that the mono-exponential reference ignores.
* steady-state fractions: 1e-12 relative against a compensated (fsum) superposition sum; ~n ulps
  are lost in the closed form near ka = k and in the sum.
* AUC_tau,ss = F D / CL: 1e-10 relative, as asked; the analytic integral reaches ~1e-15.
* AUC against adaptive quadrature of the Bateman sum: 1e-10 relative (quad's epsrel 1e-13).
* Simpson on the dense curve: 1e-9 relative with a 0.01 h grid (error ~ h^4 C'''' ~ 1e-12).
* counts and days on hand-built troughs: exact.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from scipy.integrate import quad, simpson
from scipy.optimize import brentq

from imapk.exposure import (
    fraction_of_steady_state,
    interval_exposure,
    longest_run_below,
    pta_by_day,
    recovery_after_holds,
    steady_state_fraction,
    time_above_ceiling,
)
from imapk.params import PKParams
from imapk.schedule import Hold, LadderStep, Phase, Schedule, SteadyState
from imapk.simulation import simulate
from imapk.thresholds import Threshold

CL, V, KA = 14.3, 347.0, 0.609  # Widmer 2006 typical values
K = CL / V
P = PKParams(cl=CL, v=V, ka=KA)


def bateman(t, dose=400.0, cl=CL, v=V, ka=KA, f=1.0):
    """Single-dose concentration [ng/mL] at t [h] after a dose (textbook form, ka != k)."""
    k = cl / v
    if t <= 0:
        return 0.0
    return 1000.0 * f * dose * ka / (v * (ka - k)) * (math.exp(-k * t) - math.exp(-ka * t))


def check_metadata(obj):
    variables = [obj] if isinstance(obj, xr.DataArray) else list(obj.data_vars.values())
    for var in variables:
        assert {"units", "long_name", "description"} <= set(var.attrs), var.name


# ------------------------------------------------------------------------------------------
# (a) mono-exponential decline during a long hold


def test_hold_decline_crossing_matches_log_formula():
    # 10 days of 400 mg/d, then held for 30 days: absorption is over 48 h after the last dose.
    s = Schedule(phases=(Phase(dose=400, days=40),), holds=(Hold(start_day=11, days=30),))
    t_last = 9 * 24.0
    t0 = t_last + 48.0
    level = 100.0
    probe = simulate(s, P, times=np.array([t0]))
    c0 = float(probe.concentration.isel(subject=0, time=0))
    t_cross = t0 + math.log(c0 / level) / K
    assert t0 < t_cross < 40 * 24.0

    end = 40 * 24.0
    ds = simulate(s, P, thresholds=[Threshold("low", level)], window=(t0, end))
    # Below from the crossing to the end of the window.
    assert float(ds.time_below.isel(subject=0, threshold=0)) == pytest.approx(end - t_cross, abs=1e-9)

    # Per-interval time at or above the level as a ceiling: only the interval holding the crossing is split.
    above = time_above_ceiling(s, P, level).isel(subject=0).values
    j = int(t_cross // 24.0)
    assert above[j] == pytest.approx(t_cross - 24.0 * j, abs=1e-9)
    assert np.all(above[10:j] == 24.0) and np.all(above[j + 1 :] == 0.0)

    # Troughs at the held doses' times after the crossing are all below; that is the longest run
    # once the first trough (0 on a fresh start) is left out by the window.
    run = longest_run_below(ds, level, window=(1.0, end))
    expected = int(np.sum(ds.dose_time.values > t_cross))
    assert int(run.longest_run_doses.isel(subject=0, threshold=0)) == expected
    assert int(run.longest_run_days.isel(subject=0, threshold=0)) == expected
    assert float(run.longest_run_first_day.isel(subject=0, threshold=0)) == j + 2
    check_metadata(run)


# ------------------------------------------------------------------------------------------
# (b) biexponential crossings and peak of one dose


def test_single_dose_crossings_and_peak_match_bateman():
    s = Schedule(phases=(Phase(dose=400, interval=72.0, doses=1),))
    level = 700.0
    tmax = math.log(KA / K) / (KA - K)
    t1 = brentq(lambda t: bateman(t) - level, 1e-9, tmax, xtol=1e-13, rtol=4 * np.finfo(float).eps)
    t2 = brentq(lambda t: bateman(t) - level, tmax, 72.0, xtol=1e-13, rtol=4 * np.finfo(float).eps)
    out = interval_exposure(s, P, ceilings=[level])
    assert float(out.time_above_ceiling.isel(subject=0, dose=0, ceiling=0)) == pytest.approx(t2 - t1, abs=1e-9)
    assert float(out.peak_interval.isel(subject=0, dose=0)) == pytest.approx(bateman(tmax), rel=1e-12)
    ds = simulate(s, P, thresholds=[Threshold("t", level)], window=(0.0, 72.0))
    assert float(ds.time_below.isel(subject=0, threshold=0)) == pytest.approx(72.0 - (t2 - t1), abs=1e-9)
    check_metadata(out)


# ------------------------------------------------------------------------------------------
# (c) approach to steady state


def superposed_trough(n, tau, ka, k):
    """Trough just before dose n + 1 per unit dose and volume, by brute-force superposition."""
    if ka == k:
        terms = [k * m * tau * math.exp(-k * m * tau) for m in range(1, n + 1)]
    else:
        terms = [ka / (ka - k) * (math.exp(-k * m * tau) - math.exp(-ka * m * tau)) for m in range(1, n + 1)]
    return math.fsum(terms)


@pytest.mark.parametrize("ka", [0.609, 0.05, K * 3.0, 5.0])
@pytest.mark.parametrize("tau", [12.0, 24.0])
def test_steady_state_fraction_matches_superposition(ka, tau):
    k = K
    m_inf = int(800 / (min(ka, k) * tau)) + 10  # e^{-800}: the tail is below the double range
    ss = superposed_trough(m_inf, tau, ka, k)
    for n in (0, 1, 2, 3, 7, 30, 100):
        expected = superposed_trough(n, tau, ka, k) / ss
        assert steady_state_fraction(CL, V, ka, tau, n) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_steady_state_fraction_is_not_monoexponential_and_handles_ka_equal_k():
    # Absorption delays the approach: below 1 - e^{-k n tau}.
    assert steady_state_fraction(CL, V, KA, 24.0, 1) < 1.0 - math.exp(-K * 24.0)
    # ka == k: the limit, against the brute-force sum of k t e^{-k t}.
    m_inf = int(800 / (K * 24.0)) + 10
    ss = superposed_trough(m_inf, 24.0, K, K)
    for n in (1, 5, 40):
        exact = steady_state_fraction(CL, V, K, 24.0, n)
        assert exact == pytest.approx(superposed_trough(n, 24.0, K, K) / ss, rel=1e-12)
        # Continuous across ka = k: the divided difference has no 0/0 (change ~ 1e-9 relative).
        for eps in (1e-12, 1e-9, -1e-9):
            assert steady_state_fraction(CL, V, K * (1 + eps), 24.0, n) == pytest.approx(exact, rel=1e-7)


def test_fraction_of_steady_state_matches_simulated_troughs():
    s = Schedule(phases=(Phase(dose=400, days=40),))
    fresh = simulate(s, P)
    steady = simulate(Schedule(phases=(Phase(dose=400, days=2),), steady_state=SteadyState(400)), P)
    ss = float(steady.trough.isel(subject=0, dose=0))
    frac = fraction_of_steady_state(fresh, [1, 3, 10, 30])
    check_metadata(frac)
    for n in (1, 3, 10, 30):
        simulated = float(fresh.trough.isel(subject=0, dose=n)) / ss
        assert float(frac.sel(n_doses=n).isel(subject=0)) == pytest.approx(simulated, rel=1e-10)


# ------------------------------------------------------------------------------------------
# (d) exact AUC per interval


@pytest.mark.parametrize(
    "params",
    [P, PKParams(cl=CL, v=V, ka=KA, f=0.8), PKParams(cl=CL, v=V, ka=KA, tlag=1.5), PKParams(cl=CL, v=V, d1=3.0)],
    ids=["first-order", "relative-F", "lag", "zero-order"],
)
def test_auc_at_steady_state_is_dose_times_f_over_cl(params):
    s = Schedule(phases=(Phase(dose=400, days=5),), steady_state=SteadyState(400))
    out = interval_exposure(s, params)
    expected = 1000.0 * params.f * 400.0 / params.cl  # mg h/L -> ng h/mL
    np.testing.assert_allclose(out.auc_interval.values, expected, rtol=1e-10, atol=0)
    np.testing.assert_allclose(out.average_concentration.values, expected / 24.0, rtol=1e-10, atol=0)


def test_auc_from_fresh_start_matches_quadrature_and_simpson():
    s = Schedule(phases=(Phase(dose=400, days=6),))
    out = interval_exposure(s, P)

    def curve(t):
        return math.fsum(bateman(t - 24.0 * m) for m in range(6))

    for j in (0, 1, 4):
        ref, _ = quad(curve, 24.0 * j, 24.0 * (j + 1), epsabs=0, epsrel=1e-13, limit=200)
        assert float(out.auc_interval.isel(subject=0, dose=j)) == pytest.approx(ref, rel=1e-10)
    # Simpson on the engine's dense curve over day 2.
    times = np.linspace(24.0, 48.0, 2401)
    dense = simulate(s, P, times=times).concentration.isel(subject=0).values
    assert simpson(dense, x=times) == pytest.approx(float(out.auc_interval.isel(subject=0, dose=1)), rel=1e-9)


def test_auc_with_a_hold_and_a_clearance_step_matches_mass_balance():
    # Over the whole schedule the AUC sums to (amount absorbed - amount left) / CL per segment;
    # with a step in CL check the pieces against quadrature of the engine's own dense curve.
    from imapk.params import ParameterChange

    s = Schedule(phases=(Phase(dose=400, days=8),), holds=(Hold(start_day=3, days=2),))
    change = ParameterChange.at(60.0, cl=20.0)
    out = interval_exposure(s, P, changes=[change])
    times = np.linspace(48.0, 72.0, 4801)  # interval 2 contains the step at 60 h
    dense = simulate(s, P, changes=[change], times=times).concentration.isel(subject=0).values
    assert simpson(dense, x=times) == pytest.approx(float(out.auc_interval.isel(subject=0, dose=2)), rel=1e-8)


# ------------------------------------------------------------------------------------------
# (e) counts on hand-built troughs


def hand_dataset(trough, status=None, interval=24.0):
    trough = np.atleast_2d(np.asarray(trough, dtype=float))
    n = trough.shape[1]
    time = interval * np.arange(n)
    status = ["given"] * n if status is None else status
    return xr.Dataset(
        {
            "trough": (("subject", "dose"), trough),
            "dose_time": (("dose",), time),
            "dose_status": (("dose",), np.array(status)),
        },
        coords={
            "subject": np.arange(trough.shape[0]),
            "dose": np.arange(n),
            "day": (("dose",), np.floor(time / 24.0).astype(np.int64) + 1),
        },
    )


def test_longest_run_on_hand_built_troughs():
    ds = hand_dataset([[5, 0.5, 0.5, 5, 0.5, 0.5, 0.5, 5], [5, 5, 5, 5, 5, 5, 5, 5], [0.5, 0.5, 5, 0.5, 0.5, 5, 5, 5]])
    run = longest_run_below(ds, 1.0)
    assert run.longest_run_doses.values[:, 0].tolist() == [3, 0, 2]
    assert run.longest_run_days.values[:, 0].tolist() == [3, 0, 2]
    np.testing.assert_array_equal(run.longest_run_first_day.values[:, 0], [5.0, np.nan, 1.0])  # ties: earliest
    # q12h: 3 troughs from 36 h to 60 h span days 2..3.
    q12 = hand_dataset([[5, 5, 5, 0.5, 0.5, 0.5, 5]], interval=12.0)
    run = longest_run_below(q12, [1.0, 10.0])
    assert run.longest_run_doses.values.tolist() == [[3, 7]]
    assert run.longest_run_days.values.tolist() == [[2, 4]]
    check_metadata(run)


def test_recovery_on_hand_built_troughs():
    status = ["given", "held", "held", "given", "given", "given", "given", "held", "given", "given", "given"]
    trough = [
        # restart at 3; back >= 1 at 5 (2 doses), dips at 6, stays from 7 (the trough before hold 2)
        [2, 2, 0.5, 0.2, 0.6, 1.0, 0.9, 1.2, 0.3, 0.8, 0.9],
        # back at once (dose 4) and stays; never back after hold 2
        [2, 2, 0.5, 0.2, 1.5, 1.5, 1.5, 1.5, 0.3, 0.8, 0.9],
    ]
    ds = hand_dataset(trough, status)
    rec = recovery_after_holds(ds, 1.0)
    check_metadata(rec)
    assert rec.hold_first_dose.values.tolist() == [1, 7]
    assert rec.hold_restart_dose.values.tolist() == [3, 8]
    got = rec.isel(threshold=0)
    np.testing.assert_array_equal(got.recovery_doses.values, [[2, np.nan], [1, np.nan]])
    np.testing.assert_array_equal(got.recovery_days.values, [[2.0, np.nan], [1.0, np.nan]])
    np.testing.assert_array_equal(got.recovery_day.values, [[6, np.nan], [5, np.nan]])
    np.testing.assert_array_equal(got.sustained_doses.values, [[4, np.nan], [1, np.nan]])
    np.testing.assert_array_equal(got.sustained_days.values, [[4.0, np.nan], [1.0, np.nan]])


def test_recovery_of_a_hold_that_ends_the_schedule_is_nan():
    ds = hand_dataset([[2, 2, 0.5, 0.2]], ["given", "given", "held", "held"])
    rec = recovery_after_holds(ds, 1.0)
    assert rec.hold_restart_dose.values.tolist() == [-1]
    assert np.isnan(rec.recovery_doses.values).all() and np.isnan(rec.sustained_days.values).all()


def test_recovery_day_agrees_with_simulate():
    s = Schedule(
        phases=(Phase(dose=400, days=90),),
        holds=(Hold(start_day=29, days=14, restart=(LadderStep(200, 7), LadderStep(300, 20))),),
    )
    ds = simulate(s, P, thresholds=[Threshold("lo", 500.0), Threshold("hi", 650.0)])
    rec = recovery_after_holds(ds)
    np.testing.assert_array_equal(rec.recovery_day.values, ds.recovery_day.values)
    assert np.all(np.isfinite(rec.recovery_day.values))
    # Days from the restart follow from the clinical days for once-daily dosing.
    np.testing.assert_array_equal(rec.recovery_days.values, rec.recovery_day.values - 43)
    # The 300 mg step ends below the 400 mg level, so troughs keep rising: sustained == first.
    np.testing.assert_array_equal(rec.sustained_doses.values, rec.recovery_doses.values)


def test_pta_by_day_on_hand_built_troughs():
    # 4 subjects, q12h over 2 days.
    trough = [[0, 2, 2, 2], [0, 0.5, 2, 0.5], [0, 2, 2, 2], [0, 2, 0.5, 2]]
    ds = hand_dataset(trough, interval=12.0)
    pta = pta_by_day(ds, 1.0)
    check_metadata(pta)
    assert pta.day.values.tolist() == [1, 2]
    np.testing.assert_array_equal(pta.values, [[0.0, 0.5]])
    np.testing.assert_array_equal(pta_by_day(ds, 1.0, how="last").values, [[0.75, 0.75]])
    np.testing.assert_array_equal(pta_by_day(ds, 1.0, how="first").values, [[0.0, 0.75]])


def test_trough_metrics_judge_trough_targets_only():
    """A ceiling's right side is below it: runs below, recovery above and attainment are not defined for it."""
    from imapk.errors import ImapkError

    s = Schedule(phases=(Phase(dose=400, days=30),), holds=(Hold(start_day=10, days=3),))
    tox = Threshold("tox", 3000.0, "concentration_ceiling")
    ds = simulate(s, P, thresholds=["gist", "toxicity_alarm", tox])
    for metric in (longest_run_below, recovery_after_holds, pta_by_day):
        assert metric(ds).threshold.values.tolist() == ["gist"]  # by default, the trough targets
        for ceiling, kind in (("toxicity_alarm", "trough ceiling"), (tox, "concentration ceiling")):
            with pytest.raises(ImapkError, match=f"^threshold: {ceiling if isinstance(ceiling, str) else 'tox'} is a {kind}, and"):
                metric(ds, ceiling)
        assert metric(ds, 3000.0).threshold.values.tolist() == ["3000 ng/mL"]  # a plain level has no kind


def test_interval_exposure_follows_the_kind():
    """The time above in an interval is on the whole curve: concentration ceilings and plain levels only."""
    from imapk.errors import ImapkError

    s = Schedule(phases=(Phase(dose=400, days=3),))
    peak = Threshold("peak", 1000.0, "concentration_ceiling")
    by_threshold = interval_exposure(s, P, ceilings=[peak], targets=["gist"])
    by_number = interval_exposure(s, P, ceilings=[1000.0], targets=[1100.0])
    np.testing.assert_array_equal(by_threshold.time_above_ceiling.values, by_number.time_above_ceiling.values)
    np.testing.assert_array_equal(by_threshold.auc_below.values, by_number.auc_below.values)
    with pytest.raises(ImapkError, match=r"^ceilings: toxicity_alarm is a trough ceiling, and the time the concentration"):
        time_above_ceiling(s, P, "toxicity_alarm")
    with pytest.raises(ImapkError, match=r"^ceilings: gist is a trough target"):
        interval_exposure(s, P, ceilings=["gist"])
    with pytest.raises(ImapkError, match=r"^targets: peak is a concentration ceiling"):
        interval_exposure(s, P, targets=[peak])


def test_pta_by_day_matches_target_attainment_for_once_daily_dosing():
    from imapk.params import ParameterTable

    n = 5
    values = {"cl": np.linspace(8, 20, n), "v": np.full(n, V), "ka": np.full(n, KA), "d1": None,
              "f": np.ones(n), "tlag": np.zeros(n)}
    ds = simulate(Schedule(phases=(Phase(dose=400, days=30),)), ParameterTable(values=values),
                  thresholds=["cml", "gist", "toxicity_alarm"])
    pta = pta_by_day(ds)  # target thresholds only
    assert pta.threshold.values.tolist() == ["cml", "gist"]
    np.testing.assert_array_equal(pta.values, ds.target_attainment.sel(threshold=["cml", "gist"]).values)


def test_auc_below__matches_quadrature_of_the_deficit():
    """AUC below a target = integral of max(0, L - C): against scipy quad of the Bateman sum."""
    import math

    from scipy.integrate import quad

    from imapk.exposure import interval_exposure
    from imapk.params import PKParams
    from imapk.schedule import Hold, Phase, Schedule

    p = PKParams(cl=14.3, v=347.0, ka=0.609)
    schedule = Schedule(phases=(Phase(dose=400, days=12),), holds=(Hold(start_day=6, days=2),))
    table = schedule.lower()
    k = p.cl / p.v

    def conc(t):
        total = 0.0
        for time, amount in zip(table.time, table.given):
            s = t - time
            if s > 0 and amount > 0:
                total += amount * p.ka / (p.v * (p.ka - k)) * (math.exp(-k * s) - math.exp(-p.ka * s))
        return total * 1000.0

    level = 1100.0
    ds = interval_exposure(schedule, p, targets=[level])
    for j in (0, 4, 5, 6, 7, 11):
        a, b = table.time[j], table.time[j] + 24.0
        reference, _ = quad(lambda t: max(0.0, level - conc(t)), a, b, limit=200, epsabs=1e-8, epsrel=1e-11)
        # quad on a kinked integrand to 1e-11 relative (with up to 200 subintervals); the closed form is exact.
        assert float(ds.auc_below.values[0, j, 0]) == pytest.approx(reference, rel=1e-9, abs=1e-6)
    # During the hold with nothing absorbed C < L throughout: deficit = L x 24 h - AUC.
    np.testing.assert_allclose(
        ds.auc_below.values[0, 6, 0], level * 24.0 - ds.auc_interval.values[0, 6], rtol=1e-12
    )
