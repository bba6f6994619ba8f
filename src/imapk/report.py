"""The verdict of a run, as a plain structure, as text for people and as JSON for scripts.

For each threshold, what its kind judges: for a trough target, how many scheduled troughs in the
evaluation window fall below it, for how long the concentration is below it (exact crossing
times), the longest stretch below it, how low the trough gets, and when the trough is back above it
after each hold; for a trough ceiling, how many troughs are at or above it; for a concentration
ceiling, the peak and the time the concentration is at or above it. Every printed number says what
it counts. A target that is never reached is said plainly.
"""

from __future__ import annotations

import json
import math

import numpy as np

from .io import plain_value

__all__ = ["verdict", "verdicts", "format_text", "format_json", "format_comparison_text"]

HOURS_PER_DAY = 24.0


def _days(hours: float) -> float:
    return float(hours) / HOURS_PER_DAY


def _stat(values: np.ndarray, unit: str) -> dict:
    """Value for one subject; median and 5th-95th percentiles for a population; with its `unit`
    (as the scenario files write units; "1" for a fraction, "troughs" for a count of troughs)."""
    values = np.asarray(values, dtype=float)
    if values.size == 1:
        return {"value": float(values[0]), "unit": unit}
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"median": math.nan, "p05": math.nan, "p95": math.nan, "n_undefined": int(values.size), "unit": unit}
    p05, p50, p95 = np.percentile(finite, [5, 50, 95])
    return {"median": float(p50), "p05": float(p05), "p95": float(p95), "n_undefined": int(values.size - finite.size),
            "unit": unit}


def dose_of_day(ds, day: int) -> int:
    """Index of the trough of clinical `day`: the trough before the day's first scheduled dose.

    Raises
    ------
    ImapkError
        When the schedule has no dose on that day (the message gives the days it covers).
    """
    from .errors import ImapkError

    days = ds["day"].values
    found = np.flatnonzero(days == day)
    if isinstance(day, bool) or not found.size:
        raise ImapkError(
            "the schedule has no scheduled dose on this day", key="--day", got=day,
            expected=f"a clinical day from {int(days.min())} to {int(days.max())}",
        )
    return int(found[0])


def key_doses(ds, days=()) -> list[tuple[int, str]]:
    """Scheduled doses whose troughs tell the story: before and at the end of each hold, at the end
    of each phase or restart step, the last one, and the troughs of the clinical `days` asked for
    (see :func:`dose_of_day`). Returns (dose index, label) in time order."""
    status = ds["dose_status"].values
    phase = ds["phase"].values
    day = ds["day"].values
    keys: dict[int, str] = {}
    for j in range(1, status.size):
        if status[j] == "held" and status[j - 1] != "held":
            keys[j] = f"day {day[j]}: before the hold ({phase[j - 1]})"
        elif status[j] != "held" and status[j - 1] == "held":
            keys[j] = f"day {day[j]}: end of the hold"
        elif phase[j] != phase[j - 1] and status[j] != "held":
            keys[j] = f"day {day[j]}: end of {phase[j - 1]}"
    last = status.size - 1
    keys.setdefault(last, f"day {day[last]}: last scheduled trough")
    for asked in days:
        j = dose_of_day(ds, asked)
        keys[j] = keys[j] + " (asked)" if j in keys else f"day {day[j]}: asked"
    return sorted(keys.items())


#: Populations up to this size get one row per patient in the verdict (text and JSON).
PATIENT_ROWS_SHOWN = 20

#: Parameters in the per-patient table, with their units.
_PATIENT_PARAMETERS = {"cl": "L/h", "v": "L", "ka": "1/h", "d1": "h", "f": "1", "tlag": "h", "q": "L/h", "vp": "L", "ktr": "1/h"}


#: Per-patient counts of a population with its own doses (random dosing processes, policies), as columns.
_PATIENT_HISTORY = {
    "held_dose_count": "held doses [doses]", "missed_dose_count": "missed doses [doses]",
    "toxicity_event_count": "toxicity events [events]", "toxicity_discontinued": "discontinued",
    "tdm_escalated": "TDM escalated",
}


def patient_table(ds, keys=None) -> dict[str, np.ndarray]:
    """One row per subject, as columns named with their units: the subject's ID, its parameters, its
    trough at each key dose (`keys`, default :func:`key_doses`), where the patients have their own
    doses its held and missed doses, toxicity events, discontinuation and TDM escalation, and, per
    threshold, its troughs on the wrong side in the window, its time below the level and whether it is met.

    A column name is ``what [unit]``; counts have unit ``troughs``, fractions ``1``. Parameters that
    are the same for every subject and absent ones are left out.
    """
    from .thresholds import CONCENTRATION_CEILING, TROUGH_CEILING, TROUGH_TARGET, kinds_of

    keys = key_doses(ds) if keys is None else keys
    table = {"subject": np.asarray(ds["subject"].values)}
    for name, unit in _PATIENT_PARAMETERS.items():
        values = np.asarray(ds[name].values, dtype=float) if name in ds else np.empty(0)
        if values.ndim == 1 and values.size and np.isfinite(values).any() and np.nanmax(values) > np.nanmin(values):
            table[f"{name} [{unit}]"] = values
    day = ds["day"].values
    for j, label in keys:
        table[f"trough day {day[j]} [ng/mL]"] = ds["trough"].values[:, j]
    if "subject_dose_status" in ds:  # each patient has its own doses (drawn, or from a data set)
        from .metrics import process_outcomes

        outcomes = process_outcomes(ds, table["subject"].size)
        for name, column in _PATIENT_HISTORY.items():
            if name in ("held_dose_count", "missed_dose_count") or name in ds:
                table[column] = outcomes[name]
    if "threshold" not in ds.dims:
        return table
    for m, (name, kind) in enumerate(zip(ds["threshold"].values, kinds_of(ds))):
        value = float(ds["threshold_value"].values[m])
        below = ds["trough_below_count"].values[:, m]
        above = ds["trough_above_count"].values[:, m]
        if kind == TROUGH_TARGET:
            table[f"{name}: troughs below {value:g} ng/mL [troughs]"] = below
            table[f"{name}: time below {value:g} ng/mL [d]"] = ds["time_below"].values[:, m] / HOURS_PER_DAY
            table[f"{name}: met"] = below == 0
        elif kind == TROUGH_CEILING:
            table[f"{name}: troughs at or above {value:g} ng/mL [troughs]"] = above
            table[f"{name}: met"] = above == 0
        elif kind == CONCENTRATION_CEILING:
            table[f"{name}: time at or above {value:g} ng/mL [d]"] = ds["time_above"].values[:, m] / HOURS_PER_DAY
            table[f"{name}: met"] = ds["peak_concentration"].values < value
    return table


def format_patient_table(rows: list[dict]) -> str:
    """The per-patient rows as aligned text columns (numbers rounded for reading; a positive value below
    0.001, such as the trough of a patient whose therapy stopped months before, reads "<0.001": the CSV
    holds the exact numbers)."""
    if not rows:
        return ""
    names = list(rows[0])

    def cell(value) -> str:
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, float):
            if math.isnan(value):
                return "-"
            if 0.0 < value < 1e-3:
                return "<0.001"
            return f"{value:.3g}" if abs(value) < 10 else f"{value:.0f}"
        return str(value)

    cells = [[cell(row[name]) for name in names] for row in rows]
    widths = [max(len(name), *(len(r[i]) for r in cells)) for i, name in enumerate(names)]
    lines = ["  " + "  ".join(f"{name:>{w}s}" for name, w in zip(names, widths))]
    lines += ["  " + "  ".join(f"{c:>{w}s}" for c, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def write_patient_csv(table: dict[str, np.ndarray], path) -> None:
    """Write :func:`patient_table` as CSV (header ``what [unit]``), atomically."""
    from .io import write_csv

    names = list(table)
    columns = [np.asarray(table[name]) for name in names]
    write_csv(path, names, ([plain_value(column[i]) for column in columns] for i in range(columns[0].shape[0])))


def schedule_runs(table) -> list[dict]:
    """The lowered schedule as runs of consecutive doses alike in status, amounts, interval, phase and hold.

    Each run: ``first_day``, ``last_day`` (clinical days), ``doses``, ``status`` (given, held or
    missed), ``planned_mg`` and ``given_mg`` (per dose), ``interval_h``, ``phase`` and ``hold`` (its
    label, or "" outside holds). Twice-daily doses of different amounts (400 mg morning, 200 mg
    evening) alternate, so they form one run per dose; the run's text says so.
    """
    from .schedule import GIVEN, HELD

    names = {GIVEN: "given", HELD: "held"}
    day = table.day
    runs: list[dict] = []
    previous = None
    for j in range(len(table.time)):
        hold = "" if table.hold[j] < 0 else table.hold_labels[table.hold[j]]
        key = (int(table.status[j]), float(table.planned[j]), float(table.given[j]), float(table.interval[j]),
               str(table.phase[j]), hold)
        if key == previous:
            runs[-1].update(last_day=int(day[j]), doses=runs[-1]["doses"] + 1)
            continue
        previous = key
        runs.append({
            "first_day": int(day[j]), "last_day": int(day[j]), "doses": 1,
            "status": names.get(key[0], "missed"), "planned_mg": key[1], "given_mg": key[2],
            "interval_h": key[3], "phase": key[4], "hold": hold,
        })
    return runs


def format_schedule(table) -> str:
    """:func:`schedule_runs` as lines a user can check against their reading of the schedule."""
    lines = ["Resolved schedule (clinical days; day 1 is the first dose's day):"]
    if table.steady_state is not None:
        ss = table.steady_state
        lines.append(f"  before day 1: steady state on {ss.dose:g} mg every {ss.interval:g} h")
    for run in schedule_runs(table):
        days = f"day {run['first_day']}" if run["first_day"] == run["last_day"] else f"days {run['first_day']}-{run['last_day']}"
        amount = f"{run['given_mg']:g} mg given" if run["status"] == "given" else f"{run['planned_mg']:g} mg planned, {run['status']}"
        why = f"hold: {run['hold']}" if run["hold"] else run["phase"]
        count = f"{run['doses']} dose{'s' if run['doses'] > 1 else ''}"
        lines.append(f"  {days:13s} {count:>9s} every {run['interval_h']:g} h: {amount} ({why})")
    return "\n".join(lines)


def _key_dose_fractions(ds, j: int, kinds: list[str], kind: str, variable: str) -> dict:
    """{threshold name: fraction} of `variable` at dose j for the thresholds of `kind`."""
    if variable not in ds:
        return {}
    return {
        str(name): float(ds[variable].values[m, j])
        for m, name in enumerate(ds["threshold"].values)
        if kinds[m] == kind
    }


def realised_dosing(ds) -> dict:
    """What the random dosing processes did, per patient: doses given, held and missed (each a
    :func:`_stat` over patients, in doses) and the share of patients with each; the toxicity events
    (patients with at least one, events per patient, patients who discontinued)."""
    status = np.asarray(ds["subject_dose_status"].values)
    n = status.shape[0]
    out = {"patients": int(n), "scheduled_doses_per_patient": int(status.shape[1])}
    for code, name in enumerate(("given", "held", "missed")):
        per_patient = (status == code).sum(axis=1)
        out[name] = {**_stat(per_patient, "doses"), "patients_with_any": int((per_patient > 0).sum())}
    if "subject_dose_delay" in ds:
        per_patient = (np.asarray(ds["subject_dose_delay"].values) > 0).sum(axis=1)
        out["late"] = {**_stat(per_patient, "doses"), "patients_with_any": int((per_patient > 0).sum())}
    if "subject_dose_reason" in ds and "reason" in ds.coords:
        from .processes.policies import is_policy_reason

        reason = np.asarray(ds["subject_dose_reason"].values)
        for code, label in enumerate(str(r) for r in ds["reason"].values):
            if is_policy_reason(label):
                per_patient = ((reason == code) & (status == 0)).sum(axis=1)
                out.setdefault("policies", {})[label] = {**_stat(per_patient, "doses"),
                                                         "patients_with_any": int((per_patient > 0).sum())}
    if "toxicity_event_count" in ds:
        events = np.asarray(ds["toxicity_event_count"].values)
        out["toxicity"] = {
            "patients_with_events": int((events > 0).sum()),
            "events": _stat(events, "events"),
            "discontinued": int(np.asarray(ds["toxicity_discontinued"].values).sum()),
        }
    return out


def verdict(ds, days=(), patients: bool = False) -> dict:
    """Summarise a result Dataset against its thresholds (and at the clinical `days` asked for).

    Returns
    -------
    dict
        ``title``, ``schedule`` (dose counts), ``window`` (days), ``parameters`` and one entry per
        threshold under ``thresholds``. Times are in days, concentrations in ng/mL. For one subject
        each statistic is ``{"value": x}``; for a population ``{"median", "p05", "p95"}``.

        Each threshold entry has its ``kind`` and ``requirement`` (e.g. ``"trough >= 1100 ng/mL"``),
        the counts on both sides (``troughs_below``, ``troughs_above``: scheduled troughs in the
        window below, and at or above, the value; ``time_below_days``, ``time_above_days``: time
        with the concentration below, and at or above, it), and ``met_fraction`` and
        ``never_met_fraction``, which follow the kind: a trough target is met when no trough is
        below it, a trough ceiling when no trough is at or above it, a concentration ceiling when
        the peak stays below it. ``wrong_side`` says which counts are the misses.

        ``patients``: one row per subject (:func:`patient_table`) when there are at most
        :data:`PATIENT_ROWS_SHOWN`, or when asked (`patients`).
    """
    from .thresholds import CONCENTRATION_CEILING, TROUGH_CEILING, TROUGH_TARGET, kinds_of, requirement

    status = ds["dose_status"].values
    window = (float(ds.attrs["window_start"]), float(ds.attrs["window_end"]))
    in_window = (ds["dose_time"].values >= window[0]) & (ds["dose_time"].values < window[1])
    trough = ds["trough"].values
    kinds = kinds_of(ds) if "threshold" in ds.dims else []
    result = {
        "title": ds.attrs.get("title", ""),
        "parameter_set": ds.attrs.get("parameter_set", ""),
        "parameter_set_citation": ds.attrs.get("parameter_set_citation", ""),
        "subjects": int(ds.sizes["subject"]),
        "schedule": {
            "scheduled_doses": int(status.size),
            "given": int((status == "given").sum()),
            "held": int((status == "held").sum()),
            "missed": int((status == "missed").sum()),
            "days": _days(window[1]),
        },
        "parameters": {name: _stat(ds[name].values, _PATIENT_PARAMETERS[name]) for name in ("cl", "v", "ka", "d1", "f", "tlag", "q", "vp", "ktr")
                       if name in ds},
        "window": {"start_day": _days(window[0]) + 1, "end_day": _days(window[1]), "length_days": _days(window[1] - window[0])},
        "n_transit": int(ds.attrs.get("n_transit", 0)),
        "interactions": json.loads(ds.attrs.get("interactions", "[]")),
        "thresholds": [],
    }
    if "subject_dose_status" in ds:
        result["realised_dosing"] = realised_dosing(ds)
        if "data_set_source" in ds.attrs:  # a data set's IDs on one grid: no schedule was written
            result["realised_dosing"]["source"] = "data set"
    keys = key_doses(ds, days)
    median = np.median(trough[:, [j for j, _ in keys]], axis=0) if keys else np.empty(0)
    result["key_dose_values"] = [
        {"dose": j, "day": int(ds["day"].values[j]), "label": label, "value": float(median[i])}
        for i, (j, label) in enumerate(keys)
    ]
    if result["subjects"] > 1 and "trough_quantile" in ds:
        quantiles = ds["quantile"].values
        rows = []
        for j, label in keys:
            row = {
                "dose": j,
                "day": int(ds["day"].values[j]),
                "label": label,
                "trough_quantiles_ng_per_ml": {f"{q:g}": float(v) for q, v in zip(quantiles, ds["trough_quantile"].values[:, j])},
            }
            if "target_attainment" in ds:
                row["target_attainment"] = _key_dose_fractions(ds, j, kinds, TROUGH_TARGET, "target_attainment")
            exceedance = _key_dose_fractions(ds, j, kinds, TROUGH_CEILING, "trough_ceiling_exceedance")
            if exceedance:
                row["trough_ceiling_exceedance"] = exceedance
            rows.append(row)
        result["key_doses"] = rows
    if patients or result["subjects"] <= PATIENT_ROWS_SHOWN:
        table = patient_table(ds, keys)
        result["patients"] = [
            {name: plain_value(column[i]) for name, column in table.items()} for i in range(result["subjects"])
        ]
    if "threshold" not in ds.dims:
        return result
    days = ds["day"].values
    # Dose times are sorted, so the doses in the window are one slice: a view, not a copy (the copy
    # weighed as much as the troughs themselves, 2.7 GB for 10^6 patients).
    inside = np.flatnonzero(in_window)
    trough_window = trough[:, inside[0]:inside[-1] + 1] if inside.size else trough[:, :0]
    length = window[1] - window[0]
    if trough_window.shape[1]:  # the same for every threshold
        # By blocks of subjects: numpy copies a strided view to reduce it along its rows.
        lowest_at = np.empty(trough_window.shape[0], dtype=np.int64)
        highest_at = np.empty(trough_window.shape[0], dtype=np.int64)
        for lo in range(0, trough_window.shape[0], 16_384):
            block = trough_window[lo:lo + 16_384]
            lowest_at[lo:lo + 16_384] = block.argmin(axis=1)
            highest_at[lo:lo + 16_384] = block.argmax(axis=1)
        subject_rows = np.arange(trough_window.shape[0])
        lowest = trough_window[subject_rows, lowest_at]
        highest = trough_window[subject_rows, highest_at]
    for m, name in enumerate(ds["threshold"].values):
        value = float(ds["threshold_value"].values[m])
        kind = kinds[m]
        below = ds["trough_below_count"].values[:, m]
        n_window = int(ds["trough_count"].values[m])
        above = ds["trough_above_count"].values[:, m] if "trough_above_count" in ds else n_window - below
        entry = {
            "name": str(name),
            "value_ng_per_ml": value,
            "kind": kind,
            "requirement": requirement(kind, value),
            "wrong_side": {
                TROUGH_TARGET: "troughs_below", TROUGH_CEILING: "troughs_above", CONCENTRATION_CEILING: "time_above_days",
            }[kind],
            "reference": str(ds["threshold_reference"].values[m]),
            "troughs_below": _stat(below, "troughs"),
            "troughs_above": _stat(above, "troughs"),
            "troughs_in_window": n_window,
            "fraction_troughs_below": _stat(ds["trough_below_fraction"].values[:, m], "1"),
            "fraction_troughs_above": _stat(
                ds["trough_above_fraction"].values[:, m] if "trough_above_fraction" in ds
                else above / n_window if n_window else np.full(above.shape, np.nan),
                "1",
            ),
            "time_below_days": _stat(ds["time_below"].values[:, m] / HOURS_PER_DAY, "d"),
            "time_above_days": _stat(ds["time_above"].values[:, m] / HOURS_PER_DAY, "d"),
            "longest_below_days": _stat(ds["longest_below"].values[:, m] / HOURS_PER_DAY, "d"),
            "peak_ng_per_ml": _stat(ds["peak_concentration"].values, "ng/mL"),
        }
        if "trough_above_longest_run" in ds:
            entry["longest_run_troughs_above"] = _stat(ds["trough_above_longest_run"].values[:, m], "troughs")
        if trough_window.shape[1]:
            entry["lowest_trough_ng_per_ml"] = _stat(lowest, "ng/mL")
            entry["highest_trough_ng_per_ml"] = _stat(highest, "ng/mL")
            entry["lowest_trough_day"] = _stat(days[in_window][lowest_at], "clinical day")
            entry["highest_trough_day"] = _stat(days[in_window][highest_at], "clinical day")
            if kind == TROUGH_TARGET:
                entry["largest_shortfall_percent"] = _stat(np.maximum(0.0, (value - lowest) / value * 100.0), "%")
        entry["recovery_after_holds"] = [
            {
                "hold": h,
                "label": str(ds["hold_label"].values[h]),
                "held_days": [int(ds["hold_first_day"].values[h]), int(ds["hold_last_day"].values[h])],
                "first_day_back_above": _stat(ds["recovery_day"].values[:, m, h], "clinical day"),
            }
            for h in range(ds.sizes.get("hold", 0))
        ] if kind == TROUGH_TARGET else []
        if kind == TROUGH_TARGET:
            met = below == 0
            never = below == n_window
        elif kind == TROUGH_CEILING:
            met = above == 0
            never = above == n_window  # every trough exceeds the ceiling
        else:
            met = ds["peak_concentration"].values < value
            never = ~met & (ds["time_above"].values[:, m] >= length)
        entry["met_fraction"] = float(met.mean())
        entry["never_met_fraction"] = float(never.mean())
        result["thresholds"].append(entry)
    return result


def _fmt(stat: dict, unit: str = "", digits: int = 1) -> str:
    """``value unit`` for one subject; ``median unit [P5-P95]`` for a population, the median alone when
    the percentiles print the same (a fixed parameter)."""
    if "value" in stat:
        value = stat["value"]
        return "-" if math.isnan(value) else f"{value:.{digits}f}{unit}"
    median, low, high = (f"{stat[k]:.{digits}f}" for k in ("median", "p05", "p95"))
    if low == high == median:
        return f"{median}{unit}"
    return f"{median}{unit} [{low}-{high}]"


def _percent(stat: dict) -> dict:
    """A fraction's statistics in %."""
    return {k: v * 100 for k, v in stat.items() if k not in ("n_undefined", "unit")}


def _block(lines: list[str], rows: list[tuple[str, str]]) -> None:
    """Append `rows` of (label, text) as ``  label: text`` lines, the texts after the verdict aligned."""
    width = max(len(label) for label, _ in rows if label != "verdict") + 1
    for label, text in rows:
        lines.append(f"  {label}: {text}" if label == "verdict" else f"  {label + ':':{width}s} {text}")


def format_text(summary: dict) -> str:
    """The verdict as a short readable report; every number says what it counts."""
    from .thresholds import TROUGH_CEILING, TROUGH_TARGET

    lines = [summary["title"] or "imapk run"]
    pset = summary["parameter_set"]
    p = summary["parameters"]
    input_text = f"ka {_fmt(p['ka'], ' 1/h', 3)}" if not math.isnan(p["ka"].get("value", p["ka"].get("median"))) else f"D1 {_fmt(p['d1'], ' h', 2)}"
    volume = "V1/F" if "q" in p else "V/F"
    lines.append(
        f"Model: {pset}: CL/F {_fmt(p['cl'], ' L/h')}, {volume} {_fmt(p['v'], ' L', 0)}"
        + (f", Q/F {_fmt(p['q'], ' L/h')}, V2/F {_fmt(p['vp'], ' L', 0)}" if "q" in p else "")
        + f", {input_text}"
        + (f", {summary.get('n_transit', 0)} transit compartments, ktr {_fmt(p['ktr'], ' 1/h', 2)}" if "ktr" in p else "")
        + (f", tlag {_fmt(p['tlag'], ' h', 2)}" if p["tlag"].get("value", p["tlag"].get("p95", 0)) else "")
    )
    for period in summary.get("interactions", []):
        lines.append(f"Co-medication: {period}")
    s = summary["schedule"]
    from_data_set = summary.get("realised_dosing", {}).get("source") == "data set"
    if not from_data_set:
        lines.append(
            f"{'Schedule as written' if summary.get('realised_dosing') else 'Schedule'}: "
            f"{s['scheduled_doses']} scheduled doses over {s['days']:.0f} days: "
            f"{s['given']} given, {s['held']} held, {s['missed']} missed"
        )
    if summary.get("realised_dosing"):
        lines.extend(_realised_dosing_lines(summary["realised_dosing"]))
    w = summary["window"]
    lines.append(f"Evaluation window: day {w['start_day']:.0f} to day {w['end_day']:.0f} ({w['length_days']:.0f} days)")
    if summary["subjects"] > 1:
        lines.append(f"Population: {summary['subjects']} subjects; figures are median [5th-95th percentile]")
    if summary.get("key_doses"):
        rows = summary["key_doses"]
        targets = list(rows[0].get("target_attainment", {}))
        ceilings = list(rows[0].get("trough_ceiling_exceedance", {}))
        lines.append("")
        lines.append(
            "Troughs at the days that matter (ng/mL), probability of target attainment (PTA: subjects with "
            "trough >= target)" + (" and subjects with trough >= each trough ceiling:" if ceilings else ":")
        )
        quantile_names = list(rows[0]["trough_quantiles_ng_per_ml"])
        width = max(len(row["label"]) for row in rows) + 2
        header = "  " + f"{'':{width}s}" + "".join(f"{'P' + str(round(float(q) * 100)):>7s}" for q in quantile_names)
        header += "".join(f"{'PTA ' + t:>12s}" for t in targets)
        header += "".join(f"{'>= ' + t:>{max(12, len(t) + 5)}s}" for t in ceilings)
        lines.append(header)
        for row in rows:
            text = "  " + f"{row['label']:{width}s}" + "".join(f"{v:7.0f}" for v in row["trough_quantiles_ng_per_ml"].values())
            text += "".join(f"{row['target_attainment'][t] * 100:11.1f}%" for t in targets)
            text += "".join(
                f"{row['trough_ceiling_exceedance'][t] * 100:{max(12, len(t) + 5) - 1}.1f}%" for t in ceilings
            )
            lines.append(text)
    for t in summary["thresholds"]:
        lines.append("")
        value, name, kind = t["value_ng_per_ml"], t["name"], t["kind"]
        lines.append(f"[{name}] {kind.replace('_', ' ')}: {t['requirement']}")
        label = f"{kind.replace('_', ' ')} {name} ({value:g} ng/mL)"
        n = t["troughs_in_window"]
        if kind == TROUGH_TARGET:
            rows = [
                ("verdict", _target_verdict(t, summary["subjects"])),
                (f"troughs below {label}",
                 f"{_fmt(t['troughs_below'], '', 0)} of {n} in the window, i.e. {_fmt(_percent(t['fraction_troughs_below']), ' %')}"),
                (f"time with concentration below {value:g} ng/mL", f"{_fmt(t['time_below_days'], ' d')} of {w['length_days']:.0f} d"),
                (f"longest stretch below {value:g} ng/mL", _fmt(t["longest_below_days"], " d")),
            ]
            if "lowest_trough_ng_per_ml" in t:
                rows.append(("lowest trough", f"{_fmt(t['lowest_trough_ng_per_ml'], ' ng/mL', 0)}, on day {_fmt(t['lowest_trough_day'], '', 0)}"))
                rows.append(("highest trough", f"{_fmt(t['highest_trough_ng_per_ml'], ' ng/mL', 0)}, on day {_fmt(t['highest_trough_day'], '', 0)}"))
                rows.append(("largest shortfall", f"{_fmt(t['largest_shortfall_percent'], ' %')} below target"))
            for r in t["recovery_after_holds"]:
                span = f"days {r['held_days'][0]}-{r['held_days'][1]}" if r["held_days"] else "no dose held"
                back = r["first_day_back_above"]
                if "value" in back:
                    text = (
                        "never back above target before the next hold or the end"
                        if math.isnan(back["value"])
                        else f"trough back above target on day {back['value']:.0f}"
                    )
                else:
                    text = f"back above target on day {_fmt(back, '', 0)}; never for {back['n_undefined']} subjects"
                rows.append((f"after {r['label']} ({span})", text))
        elif kind == TROUGH_CEILING:
            rows = [
                ("verdict", _trough_ceiling_verdict(t, summary["subjects"])),
                (f"troughs above {label}",
                 f"{_fmt(t['troughs_above'], '', 0)} of {n} in the window, i.e. {_fmt(_percent(t['fraction_troughs_above']), ' %')}"),
            ]
            if "longest_run_troughs_above" in t:
                rows.append((f"most consecutive troughs above {value:g} ng/mL", _fmt(t["longest_run_troughs_above"], "", 0)))
            if "highest_trough_ng_per_ml" in t:
                rows.append(("highest trough", f"{_fmt(t['highest_trough_ng_per_ml'], ' ng/mL', 0)}, on day {_fmt(t['highest_trough_day'], '', 0)}"))
            rows.append(("peak concentration", f"{_fmt(t['peak_ng_per_ml'], ' ng/mL', 0)} (not judged: this ceiling is on the trough)"))
        else:
            rows = [
                ("verdict", _concentration_ceiling_verdict(t, summary["subjects"])),
                ("peak concentration", _fmt(t["peak_ng_per_ml"], " ng/mL", 0)),
                (f"time with concentration at or above {value:g} ng/mL",
                 f"{_fmt(t['time_above_days'], ' d')} of {w['length_days']:.0f} d"),
            ]
        _block(lines, rows)
    if summary.get("patients") and summary["subjects"] > 1:
        lines.append("")
        lines.append("Per patient (troughs before the day's first dose; counts in the evaluation window):")
        lines.append(format_patient_table(summary["patients"]))
    return "\n".join(lines)


def _realised_dosing_lines(d: dict) -> list[str]:
    """The realised-dosing block of the text report: per-patient doses, then the toxicity events."""
    n = d["patients"]

    def doses(name: str, label: str | None = None) -> str:
        stat = d[name]
        share = f"{stat['patients_with_any']} of {n} patients"
        return f"{name if label is None else label} {_fmt(stat, '', 0)} ({share} with any)"

    if d.get("source") == "data set":
        lines = [f"Doses on the grid ({d['scheduled_doses_per_patient']} per ID), per ID: {doses('given')}, "
                 f"{doses('missed', 'without a record')}"]
    else:
        lines = [f"Each patient's own doses (the schedule, then the random processes), doses per patient: "
                 f"{doses('given')}, {doses('held')}, {doses('missed')}"
                 + (f"; {doses('late', 'taken late:')}" if "late" in d else "")]
    for label, stat in d.get("policies", {}).items():
        lines.append(f"Doses taken as a policy set them ({label}), per patient: {_fmt(stat, '', 0)} "
                     f"({stat['patients_with_any']} of {n} patients with any)")
    tox = d.get("toxicity")
    if tox:
        lines.append(
            f"Toxicity events: {tox['patients_with_events']} of {n} patients had at least one "
            f"(events per patient {_fmt(tox['events'], '', 0)}); {tox['discontinued']} discontinued therapy"
        )
    return lines


def _target_verdict(t: dict, subjects: int) -> str:
    value = t["value_ng_per_ml"]
    if subjects > 1:
        return (
            f"{t['met_fraction'] * 100:.1f} % of subjects keep every trough >= {value:g} ng/mL; "
            f"{t['never_met_fraction'] * 100:.1f} % never reach it"
        )
    if t["met_fraction"] == 1:
        return f"MET: every trough in the window is >= {value:g} ng/mL"
    if t["never_met_fraction"] == 1:
        highest = t.get("highest_trough_ng_per_ml", {}).get("value", math.nan)
        return f"NOT MET: no trough in the window reaches {value:g} ng/mL (highest {highest:.0f} ng/mL)"
    return f"NOT MET: some troughs in the window are below {value:g} ng/mL"


def _trough_ceiling_verdict(t: dict, subjects: int) -> str:
    value = t["value_ng_per_ml"]
    if subjects > 1:
        return (
            f"{t['met_fraction'] * 100:.1f} % of subjects keep every trough < {value:g} ng/mL; "
            f"{(1 - t['met_fraction']) * 100:.1f} % have a trough at or above it"
        )
    if t["met_fraction"] == 1:
        highest = t.get("highest_trough_ng_per_ml", {}).get("value", math.nan)
        return f"MET: every trough in the window is < {value:g} ng/mL (highest {highest:.0f} ng/mL)"
    if t["never_met_fraction"] == 1:
        return f"NOT MET: every trough in the window is >= {value:g} ng/mL"
    return f"NOT MET: some troughs in the window are >= {value:g} ng/mL"


def _concentration_ceiling_verdict(t: dict, subjects: int) -> str:
    value = t["value_ng_per_ml"]
    if subjects > 1:
        return (
            f"{t['met_fraction'] * 100:.1f} % of subjects stay below {value:g} ng/mL throughout; "
            f"{(1 - t['met_fraction']) * 100:.1f} % reach it"
        )
    if t["met_fraction"] == 1:
        return f"MET: the concentration stays below {value:g} ng/mL throughout"
    return f"NOT MET: the concentration reaches {value:g} ng/mL"


def verdicts(ds, days=(), patients: bool = False) -> dict:
    """:func:`verdict` (with the `days` and `patients` asked for) per model and therapy clock when the
    result has those dimensions.

    Returns the plain verdict for a result without them, else ``{"title", "models": [...]}`` with
    one summary per combination, labelled in ``"model"`` (e.g. ``"eechoute2012, clock paused"``).
    """
    import itertools

    dims = [dim for dim in ("model", "therapy_clock") if dim in ds.dims]
    if not dims:
        return verdict(ds, days, patients)
    summaries = []
    for labels in itertools.product(*(ds[dim].values for dim in dims)):
        one = ds.sel(dict(zip(dims, labels)))
        names = dict(zip(dims, map(str, labels)))
        one.attrs = {**ds.attrs, "parameter_set": names.get("model", ds.attrs.get("parameter_set", ""))}
        summary = verdict(one, days, patients)
        parts = [names["model"]] if "model" in names else []
        if "therapy_clock" in names:
            parts.append(f"clock {names['therapy_clock']}")
        summary["model"] = ", ".join(parts)
        summary.update({f"{dim}_label": value for dim, value in names.items()})
        summaries.append(summary)
    return {"title": ds.attrs.get("title", ""), "models": summaries}


def format_comparison_text(comparison: dict) -> str:
    """One line per model: troughs at the days that matter and the share of troughs on the wrong side
    of each trough target and trough ceiling."""
    from .thresholds import TROUGH_CEILING, TROUGH_TARGET

    models = comparison["models"]
    first = models[0]
    lines = [comparison["title"] or "imapk model comparison"]
    s = first["schedule"]
    lines.append(
        f"{'Schedule as written' if first.get('realised_dosing') else 'Schedule'}: "
        f"{s['scheduled_doses']} scheduled doses over {s['days']:.0f} days: "
        f"{s['given']} given, {s['held']} held, {s['missed']} missed"
    )
    population = first["subjects"] > 1
    lines.append("Troughs in ng/mL" + (" (median over subjects)" if population else " (reference subject)") + " at:")
    keys = first.get("key_doses") or []
    columns = [(row["dose"], row["label"]) for row in keys]
    if not columns:
        # One subject: take the key doses from the Dataset-independent labels stored by verdict().
        columns = [(row["dose"], row["label"]) for row in first.get("key_dose_values", [])]
    for i, (_, label) in enumerate(columns):
        lines.append(f"  [{i + 1}] {label}")
    # The troughs on the wrong side of each trough threshold: below a target, at or above a trough ceiling.
    judged = [
        (t["name"], "below" if t["kind"] == TROUGH_TARGET else "above")
        for t in first["thresholds"] if t["kind"] in (TROUGH_TARGET, TROUGH_CEILING)
    ]
    width = max(22, *(len(m["model"]) + 1 for m in models))
    header = f"{'model':{width}s}" + "".join(f"{'[' + str(i + 1) + ']':>8s}" for i in range(len(columns)))
    header += "".join(f"{name + ' ' + side:>{max(14, len(name) + 8)}s}" for name, side in judged)
    lines.append("")
    lines.append(header)
    for summary in models:
        values = {row["dose"]: row["value"] for row in summary.get("key_dose_values", [])}
        text = f"{summary['model']:{width}s}" + "".join(f"{values.get(j, math.nan):8.0f}" for j, _ in columns)
        by_name = {t["name"]: t for t in summary["thresholds"]}
        for name, side in judged:
            fraction = by_name[name][f"fraction_troughs_{side}"]
            value = fraction.get("value", fraction.get("median"))
            text += f"{value * 100:{max(14, len(name) + 8) - 1}.0f}%"
        lines.append(text)
    lines.append("")
    if any(side == "below" for _, side in judged):
        lines.append("'below': share of the scheduled troughs in the evaluation window below the trough target.")
    if any(side == "above" for _, side in judged):
        lines.append("'above': share of the scheduled troughs in the evaluation window at or above the trough ceiling.")
    return "\n".join(lines)


def format_json(summary: dict) -> str:
    """The verdict as JSON (NaN written as null)."""

    def clean(obj):
        if isinstance(obj, float) and math.isnan(obj):
            return None
        if isinstance(obj, dict):
            return {k: clean(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [clean(v) for v in obj]
        return obj

    return json.dumps(clean(summary), indent=2)
