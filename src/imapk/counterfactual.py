"""Counterfactuals: the same subjects under different schedules, and what the difference costs.

Each scenario is simulated for the same population (same seed, size and covariates: subject i is the
same patient in every run, by the counter-based streams), so a per-subject difference in a metric is
the effect of the schedule alone. The uncertainty reported is the spread of that difference over the
population (median and 5th-95th percentiles), not a sampling error.
"""

from __future__ import annotations

import numpy as np

from .errors import ImapkError
from .thresholds import CONCENTRATION_CEILING, TROUGH_CEILING, TROUGH_TARGET, kinds_of

__all__ = ["compare", "format_comparison", "labels_for", "METRICS", "METRICS_BY_KIND", "DOSING_METRICS"]

#: Per-subject metrics compared, with how they are reported: (variable, conversion factor, unit).
#: Each counts the wrong side of a threshold (or, for the peak, how high the curve goes), so that
#: an increase is always worse.
METRICS = {
    "time_below": ("time_below", 1 / 24.0, "d"),
    "longest_below": ("longest_below", 1 / 24.0, "d"),
    "troughs_below": ("trough_below_count", 1.0, "doses"),
    "troughs_above": ("trough_above_count", 1.0, "doses"),
    "longest_run_above": ("trough_above_longest_run", 1.0, "doses"),
    "time_above": ("time_above", 1 / 24.0, "d"),
    "peak": ("peak_concentration", 1.0, "ng/mL"),
}
#: The metrics compared for each kind of threshold: those of its wrong side (below a trough target,
#: at or above a ceiling). The longest stretch *below* says nothing about a ceiling.
METRICS_BY_KIND = {
    TROUGH_TARGET: ("time_below", "longest_below", "troughs_below"),
    TROUGH_CEILING: ("troughs_above", "longest_run_above"),
    CONCENTRATION_CEILING: ("time_above",),
}


#: Per-subject dosing metrics compared when a run has each subject's own doses (random dosing
#: processes, policies): (unit, what it counts). More is worse for each.
DOSING_METRICS = {
    "doses_held": ("doses", "scheduled doses held (interruptions, discontinuation)"),
    "doses_missed": ("doses", "scheduled doses missed"),
    "toxicity_events": ("events", "toxicity events"),
    "discontinued": ("patients", "therapy stopped for good by a toxicity event (1 = yes)"),
}


def _dosing_values(ds, metric: str) -> np.ndarray:
    """Per-subject values of a :data:`DOSING_METRICS` metric; from the shared schedule (the same for
    every subject) when the run has no per-subject doses, 0 where the run has no such process."""
    n = int(ds.sizes["subject"])
    if metric in ("doses_held", "doses_missed"):
        code = 1 if metric == "doses_held" else 2
        if "subject_dose_status" in ds:
            return (np.asarray(ds["subject_dose_status"].values) == code).sum(axis=1).astype(float)
        shared = float((np.asarray(ds["dose_status"].values) == ("held" if code == 1 else "missed")).sum())
        return np.full(n, shared)
    name = "toxicity_event_count" if metric == "toxicity_events" else "toxicity_discontinued"
    return np.asarray(ds[name].values, dtype=float) if name in ds else np.zeros(n)


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
        ``{"reference": label, "thresholds": [...], "kinds": [...], "rows": [...]}`` with one row
        per other result, threshold and metric of that threshold's kind (:data:`METRICS_BY_KIND`),
        plus one row for the peak: the reference's and the alternative's medians, the median, 5th
        and 95th percentiles of the per-subject difference (alternative minus reference), and the
        fractions of subjects for which the alternative is worse (``fraction_worse``) and better
        (``fraction_better``); the rest are unchanged. Every metric counts the wrong side of its
        threshold, so worse is an increase (``"worse_if": "increase"``): more time or troughs below
        a trough target, more troughs at or above a trough ceiling, more time at or above a
        concentration ceiling, a higher peak. For a ceiling, a schedule that lowers the curve is
        better (fewer troughs and less time above it), and nothing is reported about the time
        *below* a ceiling (``longest_below`` is for trough targets only).
    """
    labels = list(results)
    if len(labels) < 2:
        raise ImapkError("a comparison needs at least two results", got=labels)
    reference = results[labels[0]]
    if "threshold" not in reference.dims:
        raise ImapkError("the scenarios need thresholds ([verdict] thresholds) to compare", key=labels[0])
    thresholds = [str(t) for t in reference["threshold"].values]
    kinds = kinds_of(reference)
    rows = []
    for label in labels[1:]:
        other = results[label]
        _same_subjects(reference, other, label)
        if [str(t) for t in other["threshold"].values] != thresholds or kinds_of(other) != kinds:
            raise ImapkError("the scenarios must judge against the same thresholds", key=label)
        pairs = [(m, metric) for m in range(len(thresholds)) for metric in METRICS_BY_KIND[kinds[m]]]
        pairs.append((None, "peak"))  # the peak does not depend on the threshold: report it once
        if "subject_dose_status" in reference or "subject_dose_status" in other:
            pairs += [(None, metric) for metric in DOSING_METRICS
                      if metric in ("doses_held", "doses_missed") or any(
                          ("toxicity_event_count" if metric == "toxicity_events" else "toxicity_discontinued") in r
                          for r in (reference, other))]
        for m, metric in pairs:
            if metric in DOSING_METRICS:
                unit = DOSING_METRICS[metric][0]
                a, b = _dosing_values(reference, metric), _dosing_values(other, metric)
            else:
                variable, factor, unit = METRICS[metric]
                a = reference[variable].values
                b = other[variable].values
                if m is not None:
                    a, b = a[:, m], b[:, m]
                a = a * factor
                b = b * factor
            difference = b - a
            p05, p50, p95 = np.percentile(difference, [5, 50, 95])
            rows.append(
                {
                    "alternative": label,
                    "threshold": None if m is None else thresholds[m],
                    "metric": metric,
                    "unit": unit,
                    "reference_median": float(np.median(a)),
                    "alternative_median": float(np.median(b)),
                    "reference_mean": float(np.mean(a)),
                    "alternative_mean": float(np.mean(b)),
                    "difference_median": float(p50),
                    "difference_p05": float(p05),
                    "difference_p95": float(p95),
                    "fraction_worse": float(np.mean(difference > 0)),
                    "fraction_better": float(np.mean(difference < 0)),
                    "worse_if": "increase",
                }
            )
    return {
        "reference": labels[0], "thresholds": thresholds, "kinds": kinds, "subjects": int(reference.sizes["subject"]),
        "rows": rows,
    }


#: What each metric counts, for the legend of :func:`format_comparison`.
_METRIC_TEXT = {
    "time_below": "time with the concentration below the threshold",
    "longest_below": "longest stretch with the concentration below it",
    "troughs_below": "scheduled troughs in the window below it",
    "troughs_above": "scheduled troughs in the window at or above it",
    "longest_run_above": "most consecutive troughs at or above it",
    "time_above": "time with the concentration at or above it",
    "peak": "highest concentration in the window",
    **{metric: text for metric, (_, text) in DOSING_METRICS.items()},
}


def format_comparison(summary: dict) -> str:
    """The comparison as a table: one line per alternative, threshold and metric."""
    kinds = dict(zip(summary["thresholds"], summary.get("kinds", [TROUGH_TARGET] * len(summary["thresholds"]))))
    names = {
        row["threshold"]: "-" if row["threshold"] is None else f"{row['threshold']} ({kinds[row['threshold']].replace('_', ' ')})"
        for row in summary["rows"]
    }
    metrics = {row["metric"]: f"{row['metric']} [{row['unit']}]" for row in summary["rows"]}
    tw = max(9, *(len(n) for n in names.values()))
    mw = max(6, *(len(m) for m in metrics.values()))
    aw = max(11, *(len(row["alternative"]) for row in summary["rows"]))  # labels in full, never cut
    lines = [
        f"Reference: {summary['reference']} ({summary['subjects']} subjects; differences are alternative minus "
        "reference per subject: median [5th-95th percentile])",
        "",
        f"{'alternative':{aw}s} {'threshold':{tw}s} {'metric':{mw}s} {'reference':>10s} {'alternative':>11s} "
        f"{'difference':>28s} {'worse':>6s} {'better':>6s}",
    ]
    for row in summary["rows"]:
        difference = f"{row['difference_median']:+.1f} [{row['difference_p05']:+.1f}, {row['difference_p95']:+.1f}]"
        better = row.get("fraction_better")
        lines.append(
            f"{row['alternative']:{aw}s} {names[row['threshold']]:{tw}s} {metrics[row['metric']]:{mw}s} "
            f"{row['reference_median']:10.1f} {row['alternative_median']:11.1f} {difference:>28s} "
            f"{row['fraction_worse'] * 100:5.0f}% " + ("     -" if better is None else f"{better * 100:5.0f}%")
        )
    dosing = [row for row in summary["rows"] if row["metric"] in DOSING_METRICS]
    if dosing:
        lines.append("")
        lines.append("Dosing, mean per subject (the medians above hide rare events): reference -> alternative")
        for row in dosing:
            lines.append(f"  {row['alternative']:{aw}s} {metrics[row['metric']]:{mw}s} "
                         f"{row['reference_mean']:8.3f} -> {row['alternative_mean']:8.3f}")
    lines.append("")
    lines.append("Metrics (each counts the wrong side of its threshold, so an increase is worse):")
    lines.extend(f"  {m}: {_METRIC_TEXT[m]}" for m in metrics)
    lines.append(
        "'worse' / 'better': share of the subjects for whom the metric increases / decreases (for a ceiling: "
        "more / less above it); the rest are unchanged."
    )
    return "\n".join(lines)


def labels_for(titles, paths) -> list[str]:
    """Names of the compared results, in full: each scenario's title, or, where titles repeat or are
    empty, the title followed by the file name (the whole path if file names repeat too).

    >>> labels_for(["hold", "hold", "no hold"], ["a/h7.toml", "b/h14.toml", "c.toml"])
    ['hold (h7.toml)', 'hold (h14.toml)', 'no hold']
    """
    from collections import Counter
    from pathlib import Path

    titles, paths = [str(t or "").strip() for t in titles], [str(p) for p in paths]
    if len(titles) != len(paths):
        raise ImapkError("give one path per title", got=len(paths), expected=len(titles))
    repeated = Counter(titles)
    names = [Path(p).name for p in paths]
    repeated_names = Counter(names)
    out = []
    for title, path, name in zip(titles, paths, names):
        where = name if repeated_names[name] == 1 else path
        out.append(where if not title else title if repeated[title] == 1 else f"{title} ({where})")
    # Still the same (the same file given twice): number them.
    seen = Counter()
    counts = Counter(out)
    final = []
    for label in out:
        seen[label] += 1
        final.append(label if counts[label] == 1 else f"{label} #{seen[label]}")
    return final
