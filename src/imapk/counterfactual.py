"""Counterfactuals: the same subjects under different schedules, and what the difference costs.

Each scenario is simulated for the same population (same seed, size and covariates: subject i is the
same patient in every run, by the counter-based streams), so a per-subject difference in a metric is
the effect of the schedule alone. The uncertainty reported is the spread of that difference over the
population (median and 5th-95th percentiles), not a sampling error.
"""

from __future__ import annotations

import numpy as np

from .errors import ImapkError

__all__ = ["compare", "format_comparison", "METRICS"]

#: Per-subject metrics compared, with how they are reported: (variable, conversion factor, unit).
METRICS = {
    "time_below": ("time_below", 1 / 24.0, "d"),
    "longest_below": ("longest_below", 1 / 24.0, "d"),
    "troughs_below": ("trough_below_count", 1.0, "doses"),
    "peak": ("peak_concentration", 1.0, "ng/mL"),
}


def _same_subjects(reference, other, label: str) -> None:
    for name in ("cl", "v", "ka", "d1", "f", "tlag"):
        a, b = reference[name].values, other[name].values
        if a.shape != b.shape or not np.array_equal(a, b, equal_nan=True):
            raise ImapkError(
                "the runs do not simulate the same subjects (different model, seed, size or covariates)",
                key=label,
                got=f"parameter `{name}` differs",
                expected="the same [model] and [population] in every scenario compared",
            )


def compare(results: dict) -> dict:
    """Per-subject differences of each metric against the first result, summarised over subjects.

    Parameters
    ----------
    results
        ``{label: Dataset}`` from :func:`imapk.run_scenario`, the first being the reference (e.g. the
        planned schedule), all with the same subjects and thresholds.

    Returns
    -------
    dict
        ``{"reference": label, "thresholds": [...], "rows": [...]}`` with one row per other result,
        threshold and metric: the reference's and the alternative's medians, and the median, 5th and
        95th percentiles of the per-subject difference (alternative minus reference), and the fraction
        of subjects for which the alternative is worse (more time or troughs below, higher peak).
    """
    labels = list(results)
    if len(labels) < 2:
        raise ImapkError("a comparison needs at least two results", got=labels)
    reference = results[labels[0]]
    if "threshold" not in reference.dims:
        raise ImapkError("the scenarios need thresholds ([verdict] thresholds) to compare", key=labels[0])
    thresholds = [str(t) for t in reference["threshold"].values]
    rows = []
    for label in labels[1:]:
        other = results[label]
        _same_subjects(reference, other, label)
        if [str(t) for t in other["threshold"].values] != thresholds:
            raise ImapkError("the scenarios must judge against the same thresholds", key=label)
        for m, threshold in enumerate(thresholds):
            for metric, (variable, factor, unit) in METRICS.items():
                a = reference[variable].values
                b = other[variable].values
                if a.ndim == 2:
                    a, b = a[:, m], b[:, m]
                elif m > 0:
                    continue  # the peak does not depend on the threshold: report it once
                a = a * factor
                b = b * factor
                difference = b - a
                p05, p50, p95 = np.percentile(difference, [5, 50, 95])
                rows.append(
                    {
                        "alternative": label,
                        "threshold": None if metric == "peak" else threshold,
                        "metric": metric,
                        "unit": unit,
                        "reference_median": float(np.median(a)),
                        "alternative_median": float(np.median(b)),
                        "difference_median": float(p50),
                        "difference_p05": float(p05),
                        "difference_p95": float(p95),
                        "fraction_worse": float(np.mean(difference > 0)),
                    }
                )
    return {"reference": labels[0], "thresholds": thresholds, "subjects": int(reference.sizes["subject"]), "rows": rows}


def format_comparison(summary: dict) -> str:
    """The comparison as a table: one line per alternative, threshold and metric."""
    lines = [
        f"Reference: {summary['reference']} ({summary['subjects']} subjects; differences are alternative minus "
        "reference per subject: median [5th-95th percentile])",
        "",
        f"{'alternative':34s} {'threshold':10s} {'metric':14s} {'reference':>10s} {'alternative':>11s} "
        f"{'difference':>28s} {'worse':>6s}",
    ]
    for row in summary["rows"]:
        threshold = row["threshold"] or "-"
        difference = f"{row['difference_median']:+.1f} [{row['difference_p05']:+.1f}, {row['difference_p95']:+.1f}]"
        lines.append(
            f"{row['alternative'][:34]:34s} {threshold:10s} {row['metric'] + ' [' + row['unit'] + ']':14s} "
            f"{row['reference_median']:10.1f} {row['alternative_median']:11.1f} {difference:>28s} "
            f"{row['fraction_worse'] * 100:5.0f}%"
        )
    return "\n".join(lines)
