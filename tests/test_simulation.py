"""The public simulate(): Dataset contents, specs and the trough verdict."""

import math

import numpy as np
import pytest

import imapk
from imapk.schedule import Hold, LadderStep, Phase, Schedule
from imapk.thresholds import Threshold
from imapk.variables import SPECS

WIDMER = imapk.PKParams(cl=14.3, v=347.0, ka=0.609)


def bateman_trough(doses, times, t, p=WIDMER):
    """Independent superposition of single-dose Bateman functions at time t. [ng/mL]"""
    k = p.cl / p.v
    total = 0.0
    for amount, time in zip(doses, times):
        s = t - time
        if s > 0 and amount > 0:
            total += amount * p.ka / (p.v * (p.ka - k)) * (math.exp(-k * s) - math.exp(-p.ka * s))
    return total * 1000.0


def test_simulate__every_variable_has_units_and_description():
    ds = imapk.simulate(
        Schedule(phases=(Phase(dose=400, days=40),), holds=(Hold(start_day=10, days=3),)),
        WIDMER,
        times=np.arange(0, 40 * 24, 6.0),
        thresholds=["gist", "cml", "toxicity_alarm"],
    )
    for name, variable in {**ds.data_vars, **ds.coords}.items():
        spec = SPECS[name]
        assert variable.dims == spec.dims
        assert variable.attrs["description"] == spec.description
        if spec.units:
            assert variable.attrs["units"] == spec.units
    assert ds.attrs["imapk_version"] == imapk.__version__


def test_simulate__held_doses_stay_in_output():
    ds = imapk.simulate(Schedule(phases=(Phase(dose=400, days=10),), holds=(Hold(start_day=4, days=2),)), WIDMER)
    assert ds.sizes["dose"] == 10
    assert list(ds.dose_status.values[2:6]) == ["given", "held", "held", "given"]
    assert ds.dose_planned.values[3] == 400 and ds.dose_given.values[0, 3] == 0
    assert list(ds.day.values) == list(range(1, 11))


def test_trough_verdict__recovery_day_against_superposition():
    """First day the trough is back at or above a level after a hold, checked against Bateman sums."""
    schedule = Schedule(phases=(Phase(dose=400, days=60),), holds=(Hold(start_day=20, days=5),))
    level = 700.0
    ds = imapk.simulate(schedule, WIDMER, thresholds=[Threshold("t700", level)], window=(0.0, 60 * 24.0))
    table = schedule.lower()
    # Reference: scan the days after the restart (day 25) with the independent sum.
    expected = next(
        day
        for day in range(26, 61)
        if bateman_trough(table.given, table.time, 24.0 * (day - 1)) >= level
    )
    assert ds.recovery_day.values[0, 0, 0] == expected
    below = [bateman_trough(table.given, table.time, t) < level for t in table.time]
    assert ds.trough_below_count.values[0, 0] == sum(below)


def test_trough_verdict__ladder_never_recovers_when_typical_trough_is_below():
    # 732 ng/mL at steady state (Widmer typical) is below the 1100 ng/mL GIST target.
    schedule = Schedule(
        phases=(Phase(dose=400, days=120),),
        holds=(Hold(start_day=29, days=14, restart=(LadderStep(200, 7), LadderStep(300, 56))),),
    )
    ds = imapk.simulate(schedule, WIDMER, thresholds=["gist"])
    assert math.isnan(ds.recovery_day.values[0, 0, 0])
    assert ds.trough_below_fraction.values[0, 0] == 1.0


def test_simulate__window_default_is_day_29():
    ds = imapk.simulate(Schedule(phases=(Phase(dose=400, days=40),)), WIDMER, thresholds=["gist"])
    assert ds.attrs["window_start"] == 672.0 and ds.attrs["window_end"] == 960.0
    assert ds.trough_count.values[0] == 12  # days 29..40


def test_simulate__unknown_method():
    with pytest.raises(imapk.ImapkError, match="unknown method"):
        imapk.simulate(Schedule(phases=(Phase(dose=400, days=2),)), WIDMER, method="euler")


# ------------------------------------------------------------------------------------------------
# Thresholds of each kind, on a case computed by hand
#
# V = 400 L and CL = V ln 2 / 24 h: the half-life is 24 h, so once a day exactly half of the drug
# is left. ka = 50 1/h: the depot is empty long before the next dose (e^{-1200} = 0 in doubles).
# 400 mg / 400 L = 1 mg/L = 1000 ng/mL per dose. Superposition of Bateman terms gives the trough
# before dose j (0-based, j doses given) T_j = 1000 f (1 - 2^-j) ng/mL, with f = ka / (ka - k) =
# 50 / (50 - ln 2 / 24) = 1.000578:
#     j    0      1      2      3      4      5      6      7      8      9
#     T_j  0    500.3  750.4  875.5  938.0  969.3  984.9  992.8  996.7  998.6
# and, just after dose j, the curve peaks near P_j = 1000 (2 - 2^-j): 1000, 1500, 1750, 1875, ...
# ------------------------------------------------------------------------------------------------

HALF_DAY_PARAMS = imapk.PKParams(cl=400.0 * math.log(2.0) / 24.0, v=400.0, ka=50.0)
TEN_DAYS = Schedule(phases=(Phase(dose=400, days=10),))
KIND_THRESHOLDS = [
    Threshold("eff", 800.0, "trough_target"),
    Threshold("tc", 900.0, "trough_ceiling"),
    Threshold("cc", 1800.0, "concentration_ceiling"),
]


def test_verdict_kinds__hand_computed_troughs():
    ds = imapk.simulate(TEN_DAYS, HALF_DAY_PARAMS, thresholds=KIND_THRESHOLDS, window=(0.0, 240.0))
    f = 50.0 / (50.0 - math.log(2.0) / 24.0)
    np.testing.assert_allclose(ds.trough.values[0], 1000.0 * f * (1.0 - 0.5 ** np.arange(10)), rtol=1e-12, atol=1e-9)
    assert list(ds.threshold_kind.values) == ["trough_target", "trough_ceiling", "concentration_ceiling"]
    eff, tc, cc = 0, 1, 2
    assert int(ds.trough_count.values[eff]) == 10
    # Trough target 800: T_0..T_2 (0, 500, 750) are below it, T_3 = 875.5 is not: 3 misses.
    assert ds.trough_below_count.values[0, eff] == 3 and ds.trough_below_fraction.values[0, eff] == 0.3
    # Trough ceiling 900: T_4 = 938 onwards are at or above it: 6 exceedances, all in one run.
    assert ds.trough_above_count.values[0, tc] == 6 and ds.trough_above_fraction.values[0, tc] == 0.6
    assert ds.trough_above_longest_run.values[0, tc] == 6
    # The counts on both sides always add up to the troughs in the window.
    np.testing.assert_array_equal(ds.trough_below_count + ds.trough_above_count, 10)
    # Population summaries (one subject): attainment for the target only, exceedance for the trough ceiling only.
    expected_attainment = (ds.trough.values[0] >= 800.0).astype(float)  # doses 3..9
    np.testing.assert_array_equal(ds.target_attainment.values[eff], expected_attainment)
    assert np.isnan(ds.target_attainment.values[tc]).all() and np.isnan(ds.target_attainment.values[cc]).all()
    np.testing.assert_array_equal(ds.trough_ceiling_exceedance.values[tc], (np.arange(10) >= 4).astype(float))
    assert np.isnan(ds.trough_ceiling_exceedance.values[eff]).all()


def test_verdict_kinds__hand_computed_concentration_ceiling():
    """Time at or above 1800 ng/mL: after dose j the curve falls as f P_j 2^(-t/24), so it stays above
    for 24 log2(f P_j / 1800) h, less the few minutes it takes to rise (ka = 50 1/h)."""
    ds = imapk.simulate(TEN_DAYS, HALF_DAY_PARAMS, thresholds=KIND_THRESHOLDS, window=(0.0, 240.0))
    f = 50.0 / (50.0 - math.log(2.0) / 24.0)
    peaks = 1000.0 * (2.0 - 0.5 ** np.arange(10))
    by_hand = sum(24.0 * math.log2(f * p / 1800.0) for p in peaks if f * p > 1800.0)  # doses 3..9: 21.3 h
    assert by_hand == pytest.approx(21.29, abs=0.01)
    above = float(ds.time_above.sel(threshold="cc").item())
    assert by_hand - 7 * 0.1 < above < by_hand  # seven rises, each well under 0.1 h
    assert 1990.0 < float(ds.peak_concentration.item()) < f * peaks[-1]  # the verdict: peak >= 1800, not met


def test_verdict_kinds__recovery_is_for_targets_only():
    schedule = Schedule(phases=(Phase(dose=400, days=20),), holds=(Hold(start_day=8, days=3),))
    ds = imapk.simulate(schedule, HALF_DAY_PARAMS, thresholds=KIND_THRESHOLDS, window=(0.0, 480.0))
    # After the restart (day 11) the target 800 is reached again (rising troughs); for ceilings no recovery is defined.
    assert np.isfinite(ds.recovery_day.values[0, 0, 0])
    assert np.isnan(ds.recovery_day.values[0, 1:, 0]).all()


def test_verdict_kinds__old_spellings():
    # 'target' is the trough target; 'ceiling' keeps its old meaning, the concentration ceiling.
    assert Threshold("a", 1.0, "target").kind == "trough_target"
    from imapk.thresholds import ThresholdKindWarning

    with pytest.warns(ThresholdKindWarning, match="threshold b: kind 'ceiling' is deprecated"):
        assert Threshold("b", 1.0, "ceiling").kind == "concentration_ceiling"
    from imapk.thresholds import CEILING, TARGET

    assert (TARGET, CEILING) == ("trough_target", "concentration_ceiling")
    with pytest.raises(imapk.ImapkError, match="unknown threshold kind"):
        Threshold("c", 1.0, "peak")


@pytest.mark.parametrize("v", [1e-15, 1e-9])
def test_extreme_volume__refused_not_contradicted(v):
    """V = 1e-15 L (CL/V = 1.4e16 /h) gave a peak of 0 ng/mL and a 'MET' ceiling while the dense curve
    reached 12 563 ng/mL: rates beyond what doubles resolve are refused, naming the rate."""
    from imapk.errors import ImapkError
    from imapk.params import PKParams
    from imapk.schedule import Phase, Schedule

    with pytest.raises(ImapkError, match=r"rate constant CL/V = .* 1/h for subject 0 is beyond what the engines resolve"):
        imapk.simulate(Schedule(phases=(Phase(dose=400, days=3),)), PKParams(cl=14.3, v=v, ka=0.609), thresholds=["gist"])


def test_small_volume_within_range__peak_agrees_with_the_dense_curve():
    """V = 1e-3 L (CL/V = 14 300 /h, within range): the reported peak is the curve's maximum, not below it."""
    from imapk.params import PKParams
    from imapk.schedule import Phase, Schedule

    grid = np.arange(0.0, 72.0, 0.01)
    ds = imapk.simulate(Schedule(phases=(Phase(dose=400, days=3),)), PKParams(cl=14.3, v=1e-3, ka=0.609), times=grid,
                        thresholds=["toxicity_alarm"], window=(0.0, 72.0))
    assert float(ds.peak_concentration.values[0]) >= ds.concentration.values.max() * (1 - 1e-9)
