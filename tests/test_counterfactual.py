"""Counterfactual comparisons on the same subjects."""

import numpy as np
import pytest

import imapk
from imapk.counterfactual import compare, format_comparison
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
