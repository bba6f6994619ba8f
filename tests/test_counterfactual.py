"""Counterfactual comparisons on the same subjects."""

import numpy as np
import pytest

import imapk
from imapk.counterfactual import compare, format_comparison, labels_for
from imapk.scenario import parse_scenario

BASE = """
[scenario]
title = "{title}"
seed = 7
[model]
parameter_set = "widmer2006_covariates"
[population]
size = 60
[population.covariates]
weight = {{ distribution = "normal", mean = "75 kg", sd = "12 kg", low = "50 kg", high = "100 kg" }}
age = "60 y"
sex = {{ distribution = "categorical", p = {{ male = 0.5, female = 0.5 }} }}
disease = "GIST"
[[schedule.phases]]
dose = "400 mg"
days = 90
{holds}
[verdict]
thresholds = ["gist"]
[output]
dense = false
"""
HOLD = '[[schedule.holds]]\nstart_day = 29\ndays = {days}\nrestart = [{{ dose = "200 mg", days = 7 }}]\n'


def run(title, holds=""):
    return imapk.run_scenario(parse_scenario(BASE.format(title=title, holds=holds)))


def test_compare__a_hold_never_helps_anybody():
    """Fewer or smaller doses can only lower the curve (superposition of non-negative doses), so every
    subject spends at least as much time below the target with a hold: fraction worse-or-equal is 1."""
    summary = compare({"continuous": run("c"), "hold 7 d": run("h", HOLD.format(days=7))})
    row = next(r for r in summary["rows"] if r["metric"] == "time_below")
    assert row["difference_p05"] >= 0.0
    assert row["difference_median"] > 0.0
    peak = next(r for r in summary["rows"] if r["metric"] == "peak")
    assert peak["difference_p95"] <= 1e-9  # never higher peaks after a hold and a lower restart


def test_compare__longer_hold_costs_more_for_each_subject():
    short, long_ = run("s", HOLD.format(days=3)), run("l", HOLD.format(days=14))
    summary = compare({"3 d": short, "14 d": long_})
    row = next(r for r in summary["rows"] if r["metric"] == "time_below")
    per_subject = (long_.time_below.values[:, 0] - short.time_below.values[:, 0]) / 24
    assert row["difference_median"] == pytest.approx(float(np.median(per_subject)))
    assert row["fraction_worse"] == pytest.approx(float(np.mean(per_subject > 0)))
    assert "14 d" in format_comparison(summary)


def test_compare__refuses_different_subjects():
    other = imapk.run_scenario(parse_scenario(BASE.format(title="x", holds="").replace("seed = 7", "seed = 8")))
    with pytest.raises(imapk.ImapkError, match="do not simulate the same subjects"):
        compare({"a": run("a"), "b": other})


def test_compare__ceilings_count_their_wrong_side():
    """With a trough ceiling that the troughs reach (700 ng/mL) and a concentration ceiling the peaks
    reach (1200 ng/mL), a hold can only lower the curve: fewer troughs and less time above, so nobody is
    worse off; the old direction (more time *below* a ceiling counted as worse) would have said 100 %."""
    ceilings = (
        '[[verdict.custom]]\nname = "tc"\nvalue = "700 ng/mL"\nkind = "trough_ceiling"\n'
        '[[verdict.custom]]\nname = "cc"\nvalue = "1200 ng/mL"\nkind = "concentration_ceiling"\n'
    )
    text = BASE.replace("[output]", ceilings + "[output]")
    results = {
        "continuous": imapk.run_scenario(parse_scenario(text.format(title="c", holds=""))),
        "hold": imapk.run_scenario(parse_scenario(text.format(title="h", holds=HOLD.format(days=7)))),
    }
    summary = compare(results)
    assert summary["kinds"] == ["trough_target", "trough_ceiling", "concentration_ceiling"]
    rows = {(r["threshold"], r["metric"]): r for r in summary["rows"]}
    assert ("tc", "longest_below") not in rows and ("cc", "time_below") not in rows
    for key in (("tc", "troughs_above"), ("tc", "longest_run_above"), ("cc", "time_above")):
        assert rows[key]["fraction_worse"] == 0.0 and rows[key]["difference_p95"] <= 0.0, key
    assert rows["tc", "troughs_above"]["difference_median"] < 0  # the held days are below 700 ng/mL
    assert rows["gist", "time_below"]["fraction_worse"] > 0.5
    text = format_comparison(summary)
    assert "tc (trough ceiling)" in text and "cc (concentration ceiling)" in text


TYPICAL = """
[scenario]
title = "{title}"
[model]
parameter_set = "widmer2006"
[[schedule.phases]]
dose = "{dose} mg"
days = 60
[verdict]
window_start_day = 29
[[verdict.custom]]
name = "low"
value = "600 ng/mL"
[[verdict.custom]]
name = "tc"
value = "1000 ng/mL"
kind = "trough_ceiling"
[output]
dense = false
"""


def test_compare__more_above_a_ceiling_is_worse_by_hand():
    """The typical Widmer subject at steady state: trough 732 ng/mL at 400 mg/d, 1.5 x 732 = 1098 ng/mL at
    600 mg/d (linear model). Against a 1000 ng/mL trough ceiling, 600 mg puts every one of the 32 troughs
    of the window (days 29-60) above it: worse for the one subject; against the 600 ng/mL target it
    changes nothing (no trough below at either dose)."""
    results = {
        "400 mg/d": imapk.run_scenario(parse_scenario(TYPICAL.format(title="a", dose=400))),
        "600 mg/d": imapk.run_scenario(parse_scenario(TYPICAL.format(title="b", dose=600))),
    }
    summary = compare(results)
    rows = {(r["threshold"], r["metric"]): r for r in summary["rows"]}
    above = rows["tc", "troughs_above"]
    assert (above["reference_median"], above["alternative_median"], above["difference_median"]) == (0.0, 32.0, 32.0)
    assert above["fraction_worse"] == 1.0 and above["fraction_better"] == 0.0 and above["worse_if"] == "increase"
    assert rows["tc", "longest_run_above"]["difference_median"] == 32.0
    assert ("tc", "longest_below") not in rows and ("tc", "time_below") not in rows
    below = rows["low", "troughs_below"]
    assert below["difference_median"] == 0.0 and below["fraction_worse"] == 0.0 and below["fraction_better"] == 0.0
    # Reversed, the lower dose is better on the ceiling for the subject: worse 0, better 1.
    back = compare({"600 mg/d": results["600 mg/d"], "400 mg/d": results["400 mg/d"]})
    row = next(r for r in back["rows"] if r["metric"] == "troughs_above")
    assert (row["fraction_worse"], row["fraction_better"], row["difference_median"]) == (0.0, 1.0, -32.0)


def test_compare__fractions_match_the_per_subject_differences():
    """On a population, for a trough target and a concentration ceiling: 'worse' is the share with an
    increase of the wrong-side metric and 'better' the share with a decrease, computed here from the
    result arrays directly."""
    ceiling = '[[verdict.custom]]\nname = "cc"\nvalue = "1500 ng/mL"\nkind = "concentration_ceiling"\n'
    text = BASE.replace("[output]", ceiling + "[output]")
    low = imapk.run_scenario(parse_scenario(text.format(title="c", holds="")))
    high = imapk.run_scenario(parse_scenario(text.format(title="h", holds="").replace('dose = "400 mg"', 'dose = "600 mg"')))
    summary = compare({"400": low, "600": high})
    rows = {(r["threshold"], r["metric"]): r for r in summary["rows"]}
    for (name, metric, variable) in (("cc", "time_above", "time_above"), ("gist", "time_below", "time_below")):
        m = list(low.threshold.values).index(name)
        diff = (high[variable].values[:, m] - low[variable].values[:, m]) / 24
        assert rows[name, metric]["fraction_worse"] == pytest.approx(np.mean(diff > 0))
        assert rows[name, metric]["fraction_better"] == pytest.approx(np.mean(diff < 0))
    assert rows["cc", "time_above"]["fraction_worse"] > 0.5  # a higher dose: more time above the ceiling
    assert rows["gist", "time_below"]["fraction_better"] > 0.5  # and less below the target


def test_format_comparison__names_alternatives_in_full():
    long = "hold 14 d from day 29, then 200 mg for a week and 300 mg for eight weeks"
    summary = compare({"continuous": run("c"), long: run("h", HOLD.format(days=14))})
    text = format_comparison(summary)
    assert all(line.startswith(long) for line in text.splitlines() if line.startswith("hold 14 d"))
    assert "better" in text


def test_labels_for():
    assert labels_for(["a", "b"], ["x.toml", "y.toml"]) == ["a", "b"]
    assert labels_for(["hold", "hold", "no hold"], ["d/h7.toml", "e/h14.toml", "c.toml"]) == [
        "hold (h7.toml)", "hold (h14.toml)", "no hold",
    ]
    assert labels_for(["t", "t"], ["d/s.toml", "e/s.toml"]) == ["t (d/s.toml)", "t (e/s.toml)"]
    assert labels_for(["", "t"], ["d/s.toml", "e/u.toml"]) == ["s.toml", "t"]
    assert labels_for(["t", "t"], ["s.toml", "s.toml"]) == ["t (s.toml) #1", "t (s.toml) #2"]
