"""Exposure metrics beyond the trough verdict: runs below a target, recovery after holds,
approach to steady state, attainment per day, and exact exposure per dosing interval.

Functions on a result Dataset (from :func:`imapk.simulate`) use only its scheduled troughs
``trough(subject, dose)`` and schedule variables; :func:`interval_exposure` re-runs the closed-form
segment walk of the exact engine and integrates it analytically. Every returned variable carries
``units``, ``long_name`` and ``description`` attrs.

Conventions
-----------
* A *trough* is C(t_j-), the left limit at the scheduled time of dose j, whether or not the dose
  is given (``dose_status`` 'given', 'held' or 'missed'). For a schedule that starts therapy the
  first trough is 0.
* *Below* a threshold means trough < level; *at or above* means trough >= level (the same
  comparison as ``target_attainment`` and ``recovery_day``).
* A clinical day d is [24 (d - 1), 24 d) h; day 1 holds the first scheduled dose.
* Thresholds follow their kind (:mod:`imapk.thresholds`). The trough metrics here (runs below,
  recovery, attainment per day) judge *trough targets*: by default they take the trough targets of
  the dataset, and a ceiling passed to them is refused, since "below" is the right side of a
  ceiling. The time above in :func:`interval_exposure` is on the whole curve: it takes
  concentration ceilings (and refuses trough thresholds); its AUC below takes trough targets. A
  plain number [ng/mL] is a level without a kind and is accepted everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .errors import ImapkError
from .schedule import HOURS_PER_DAY
from .thresholds import CONCENTRATION_CEILING, TROUGH_TARGET, Threshold, get_threshold, kinds_of

__all__ = [
    "fraction_of_steady_state",
    "interval_exposure",
    "longest_run_below",
    "pta_by_day",
    "recovery_after_holds",
    "steady_state_fraction",
    "time_above_ceiling",
]

#: Concentration per amount over volume: mg/L -> ng/mL (and mg h/L -> ng h/mL).
_NG_PER_ML_PER_MG_PER_L = 1000.0


# --------------------------------------------------------------------------------------------
# helpers


def _attrs(units: str | None, long_name: str, description: str) -> dict:
    out = {"long_name": long_name, "description": description}
    if units is not None:
        out["units"] = units
    return out


def _check_kind(name: str, kind: str, kinds: tuple[str, ...], key: str, what: str) -> None:
    """Refuse a threshold whose kind the metric does not judge (a number has no kind and always passes)."""
    if kind not in kinds:
        raise ImapkError(
            f"{name} is a {kind.replace('_', ' ')}, and {what}", key=key, got=name,
            expected=f"a {' or '.join(k.replace('_', ' ') for k in kinds)}, or a level in ng/mL as a number",
        )


def _resolve_levels(
    ds, threshold, *, kinds: tuple[str, ...] = (TROUGH_TARGET,), what: str = "this metric judges trough targets",
) -> tuple[np.ndarray, np.ndarray]:
    """Names and values [ng/mL] of the thresholds asked for.

    ``threshold`` is None (every threshold of `ds` whose kind is in `kinds`), a number [ng/mL], a
    :class:`Threshold`, the name of a threshold of `ds` or of a shipped one, or a sequence of these;
    a threshold of another kind is refused (``what`` says why).
    """
    ds_names = [str(n) for n in ds["threshold"].values] if "threshold" in ds.coords else []
    ds_values = ds["threshold_value"].values if "threshold_value" in ds.coords else np.empty(0)
    ds_kinds = kinds_of(ds) if ds_names else []
    if threshold is None:
        if not ds_names:
            raise ImapkError("the dataset has no thresholds: pass `threshold`", key="threshold")
        keep = np.array([k in kinds for k in ds_kinds], dtype=bool)
        if not keep.any():
            raise ImapkError(
                f"the dataset has no {' or '.join(k.replace('_', ' ') for k in kinds)}: pass `threshold`", key="threshold",
            )
        return np.array(ds_names, dtype=str)[keep], np.asarray(ds_values, dtype=float)[keep]
    items = [threshold] if isinstance(threshold, (str, int, float, Threshold)) else list(threshold)
    names, values = [], []
    for item in items:
        if isinstance(item, Threshold):
            _check_kind(item.name, item.kind, kinds, "threshold", what)
            names.append(item.name)
            values.append(float(item.value))
        elif isinstance(item, str):
            if item in ds_names:
                _check_kind(item, ds_kinds[ds_names.index(item)], kinds, "threshold", what)
                names.append(item)
                values.append(float(ds_values[ds_names.index(item)]))
            else:
                t = get_threshold(item)
                _check_kind(t.name, t.kind, kinds, "threshold", what)
                names.append(t.name)
                values.append(float(t.value))
        elif isinstance(item, (int, float, np.integer, np.floating)) and not isinstance(item, bool):
            value = float(item)
            if not (math.isfinite(value) and value > 0.0):
                raise ImapkError("threshold must be a positive concentration", key="threshold", got=item)
            names.append(f"{value:g} ng/mL")
            values.append(value)
        else:
            raise ImapkError("unrecognised threshold", key="threshold", got=item,
                             expected="a number (ng/mL), a Threshold or a threshold name")
    return np.array(names, dtype=str), np.array(values, dtype=float)


def _threshold_coords(names: np.ndarray, values: np.ndarray) -> dict:
    import xarray as xr

    return {
        "threshold": xr.Variable(("threshold",), names, _attrs(None, "threshold", "Name of the concentration threshold")),
        "threshold_value": xr.Variable(
            ("threshold",), values, _attrs("ng/mL", "threshold", "Concentration of the threshold")
        ),
    }


def _dose_day(ds) -> np.ndarray:
    """Clinical day of each scheduled dose."""
    if "day" in ds.coords:
        return np.asarray(ds["day"].values, dtype=np.int64)
    return np.floor(np.asarray(ds["dose_time"].values, dtype=float) / HOURS_PER_DAY).astype(np.int64) + 1


def _window_mask(ds, window) -> np.ndarray:
    time = np.asarray(ds["dose_time"].values, dtype=float)
    if window is None:
        return np.ones(time.size, dtype=bool)
    return (time >= float(window[0])) & (time < float(window[1]))


# --------------------------------------------------------------------------------------------
# 1. longest run of troughs below a threshold


def longest_run_below(ds, threshold=None, *, window: tuple[float, float] | None = None):
    """Longest run of consecutive scheduled troughs below a threshold, per subject.

    Definition: with b_j = [trough_j < level] over the scheduled doses j in the window (all of
    them by default, in time order, held and missed doses included: their troughs are real
    concentrations), a run is a maximal stretch of consecutive j with b_j true. The longest run
    is the one with most troughs (the earliest of equally long ones).

    Parameters
    ----------
    ds
        Result of :func:`imapk.simulate` (needs ``trough``, ``dose_time``).
    threshold
        Level(s): a number [ng/mL], a trough target (:class:`~imapk.thresholds.Threshold` or the
        name of one of `ds` or a shipped one), a sequence of these, or None for every trough
        target of `ds`. Ceilings are refused: below is their right side.
    window
        (start, end) [h]: only troughs at scheduled times in [start, end) count; None: all. Note
        that the first trough of a schedule that starts therapy is 0, so it is below any level.

    Returns
    -------
    xarray.Dataset
        On (subject, threshold): ``longest_run_doses`` [1], the number of troughs in the longest
        run (0 if no trough is below); ``longest_run_days`` [d], the number of clinical days the
        run spans, day(last trough) - day(first trough) + 1 (equal to the count for once-daily
        dosing; 0 if no run); ``longest_run_first_day`` [d], the clinical day of its first trough
        (NaN if no run).
    """
    import xarray as xr

    names, levels = _resolve_levels(ds, threshold, what="a run of troughs below it is not a miss")
    trough = np.asarray(ds["trough"].transpose("subject", "dose").values, dtype=float)
    inside = _window_mask(ds, window)
    day = _dose_day(ds)[inside]
    below = trough[:, None, inside] < levels[None, :, None]  # (subject, threshold, dose)
    count, first = _longest_runs(below)
    has = count > 0
    safe_first = np.where(has, first, 0)
    last = safe_first + np.maximum(count, 1) - 1
    days = np.where(has, day[last] - day[safe_first] + 1, 0) if day.size else np.zeros_like(count)
    first_day = np.where(has, day[safe_first], np.nan) if day.size else np.full(count.shape, np.nan)
    dims = ("subject", "threshold")
    return xr.Dataset(
        {
            "longest_run_doses": xr.Variable(dims, count, _attrs(
                "1", "longest run of troughs below threshold",
                "Largest number of consecutive scheduled troughs below the threshold",
            )),
            "longest_run_days": xr.Variable(dims, days.astype(np.int64), _attrs(
                "d", "clinical days spanned by the longest run below threshold",
                "day(last trough of the run) - day(first trough of the run) + 1; 0 if no trough is below",
            )),
            "longest_run_first_day": xr.Variable(dims, first_day.astype(float), _attrs(
                "d", "first day of the longest run below threshold",
                "Clinical day of the first trough of the longest run; NaN if no trough is below",
            )),
        },
        coords={"subject": ds["subject"].values, **_threshold_coords(names, levels)},
    )


def _longest_runs(below: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Length and start index of the longest run of True along the last axis (earliest on ties)."""
    shape = below.shape[:-1]
    n = below.shape[-1]
    flat = below.reshape(-1, n)
    count = np.zeros(flat.shape[0], dtype=np.int64)
    first = np.zeros(flat.shape[0], dtype=np.int64)
    if n:
        # Pad with False on both sides; run starts are rising edges, ends falling edges.
        padded = np.zeros((flat.shape[0], n + 2), dtype=np.int8)
        padded[:, 1:-1] = flat
        edges = np.diff(padded, axis=1)
        for r in range(flat.shape[0]):
            starts = np.flatnonzero(edges[r] == 1)
            if starts.size:
                ends = np.flatnonzero(edges[r] == -1)
                lengths = ends - starts
                best = int(np.argmax(lengths))
                count[r] = lengths[best]
                first[r] = starts[best]
    return count.reshape(shape), first.reshape(shape)


# --------------------------------------------------------------------------------------------
# 2. recovery after holds


def _hold_runs(status: np.ndarray) -> list[tuple[int, int, int]]:
    """(first held index, restart index or -1, end of the dosing stretch after it) per run of held doses.

    The stretch after the run is the restart dose r and the doses after it up to and including
    the first held dose of the next run (whose trough is the last one that reflects the
    stretch's dosing), or the last dose of the schedule.
    """
    held = status == "held"
    n = held.size
    padded = np.concatenate([[False], held, [False]]).astype(np.int8)
    edges = np.diff(padded)
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)  # first index after each run
    runs = []
    for position, (s, e) in enumerate(zip(starts, ends)):
        restart = int(e) if e < n else -1
        stop = int(starts[position + 1]) if position + 1 < starts.size else n - 1
        runs.append((int(s), restart, stop))
    return runs


def recovery_after_holds(ds, threshold=None):
    """How long the trough takes to come back above a threshold after each hold, per subject.

    A *hold* here is a run of consecutive doses with ``dose_status == 'held'`` (so two holds
    that touch count as one), indexed in time order on the ``hold_run`` dimension. With r the
    restart (the first scheduled dose after the run) and s the end of the dosing stretch after
    it (the first held dose of the next run, or the last scheduled dose), the troughs j = r + 1,
    ..., s are searched; the trough at r itself still reflects the hold.

    Definitions, with t_j the scheduled time of dose j [h]:

    * first recovery: the smallest j in (r, s] with trough_j >= level;
      ``recovery_doses`` = j - r (scheduled doses from the restart, given or missed, before that
      trough) and ``recovery_days`` = (t_j - t_r) / 24;
    * sustained recovery: the smallest j in (r, s] with trough_i >= level for every i in [j, s]
      (back above and staying there until the next hold or the end); ``sustained_doses`` and
      ``sustained_days`` likewise.

    Both are NaN when there is no such j (never back above, a hold that ends the schedule, or
    a restart that is the last dose). The first recovery day equals the dataset's
    ``recovery_day`` except that the latter does not look at the trough at the next hold's
    first held dose (s); that trough is included here, since it follows the stretch's last dose.

    Parameters
    ----------
    ds
        Result of :func:`imapk.simulate` (``trough``, ``dose_time``, ``dose_status``).
    threshold
        As in :func:`longest_run_below`; None: every trough target of `ds`.

    Returns
    -------
    xarray.Dataset
        ``recovery_doses``, ``sustained_doses`` [1] and ``recovery_days``, ``sustained_days`` [d],
        ``recovery_day`` [d] (clinical day of the first recovery trough) on (subject, threshold,
        hold_run); coordinates ``hold_first_dose``, ``hold_restart_dose`` (-1: none) and
        ``hold_first_day``, ``hold_restart_day`` [d] (restart day NaN if none).
    """
    import xarray as xr

    names, levels = _resolve_levels(ds, threshold, what="coming back above it is not a recovery")
    trough = np.asarray(ds["trough"].transpose("subject", "dose").values, dtype=float)
    time = np.asarray(ds["dose_time"].values, dtype=float)
    day = _dose_day(ds)
    status = np.asarray(ds["dose_status"].values).astype(str)
    runs = _hold_runs(status)
    n_sub, n_lev, n_run = trough.shape[0], levels.size, len(runs)
    shape = (n_sub, n_lev, n_run)
    out = {key: np.full(shape, np.nan) for key in ("rd", "rt", "rday", "sd", "st")}
    for h, (_, r, s) in enumerate(runs):
        if r < 0 or s <= r:
            continue
        span = slice(r + 1, s + 1)
        ok = trough[:, None, span] >= levels[None, :, None]  # (subject, threshold, j)
        found = ok.any(axis=-1)
        j = r + 1 + ok.argmax(axis=-1)
        out["rd"][:, :, h] = np.where(found, j - r, np.nan)
        out["rt"][:, :, h] = np.where(found, (time[j] - time[r]) / HOURS_PER_DAY, np.nan)
        out["rday"][:, :, h] = np.where(found, day[j], np.nan)
        # Suffix "all ok": reversed cumulative product along j.
        suffix = np.flip(np.cumprod(np.flip(ok, axis=-1), axis=-1), axis=-1).astype(bool)
        found_s = suffix.any(axis=-1)
        js = r + 1 + suffix.argmax(axis=-1)
        out["sd"][:, :, h] = np.where(found_s, js - r, np.nan)
        out["st"][:, :, h] = np.where(found_s, (time[js] - time[r]) / HOURS_PER_DAY, np.nan)
    dims = ("subject", "threshold", "hold_run")
    first = np.array([f for f, _, _ in runs], dtype=np.int64)
    restart = np.array([r for _, r, _ in runs], dtype=np.int64)
    return xr.Dataset(
        {
            "recovery_doses": xr.Variable(dims, out["rd"], _attrs(
                "1", "doses until the trough is back at or above threshold",
                "Scheduled doses from the restart after the hold until the first trough at or above the threshold "
                "(j - r); NaN if never before the next hold or the end",
            )),
            "recovery_days": xr.Variable(dims, out["rt"], _attrs(
                "d", "days until the trough is back at or above threshold",
                "(t_j - t_r) / 24 for the first trough j at or above the threshold after the restart r; NaN if never",
            )),
            "recovery_day": xr.Variable(dims, out["rday"], _attrs(
                "d", "first day back at or above threshold",
                "Clinical day of the first trough at or above the threshold after the restart; NaN if never",
            )),
            "sustained_doses": xr.Variable(dims, out["sd"], _attrs(
                "1", "doses until the trough stays at or above threshold",
                "Scheduled doses from the restart until the first trough from which every trough up to the next "
                "hold (or the end) is at or above the threshold; NaN if never",
            )),
            "sustained_days": xr.Variable(dims, out["st"], _attrs(
                "d", "days until the trough stays at or above threshold",
                "(t_j - t_r) / 24 for the start j of the final stretch of troughs at or above the threshold; NaN if never",
            )),
        },
        coords={
            "subject": ds["subject"].values,
            **_threshold_coords(names, levels),
            "hold_first_dose": xr.Variable(("hold_run",), first, _attrs(
                None, "first held dose", "0-based index of the first held dose of the run")),
            "hold_restart_dose": xr.Variable(("hold_run",), restart, _attrs(
                None, "restart dose", "0-based index of the first scheduled dose after the run; -1 if none")),
            "hold_first_day": xr.Variable(("hold_run",), day[first] if n_run else np.empty(0, np.int64), _attrs(
                "d", "first held day", "Clinical day of the first held dose of the run")),
            "hold_restart_day": xr.Variable(
                ("hold_run",),
                np.array([float(day[r]) if r >= 0 else np.nan for r in restart], dtype=float),
                _attrs("d", "restart day", "Clinical day of the restart dose; NaN if the schedule ends in the hold"),
            ),
        },
    )


# --------------------------------------------------------------------------------------------
# 3. approach to steady state


def steady_state_fraction(cl, v, ka, interval, n):
    """Fraction of the steady-state trough reached after n equal doses of a regular regimen.

    One-compartment model, first-order absorption, no lag: a dose D (times F) at t = 0, tau, ...,
    (n - 1) tau. With k = CL/V, r_k = e^{-k tau}, r_a = e^{-ka tau}, the single-dose curve is the
    Bateman function C_1(t) = F D ka / (V (ka - k)) (e^{-k t} - e^{-ka t}), and the trough just
    before dose n + 1 (at t = n tau) is the superposition

        C_n = F D ka / (V (ka - k)) [A (1 - r_k^n) - B (1 - r_a^n)],
        A = r_k / (1 - r_k),  B = r_a / (1 - r_a),

    whose limit for n -> inf is C_ss = F D ka / (V (ka - k)) (A - B). Hence

        C_n / C_ss = [A (1 - r_k^n) - B (1 - r_a^n)] / (A - B)
                   = 1 - (A r_k^n - B r_a^n) / (A - B).

    It is not the mono-exponential 1 - r_k^n: absorption delays the approach. Evaluated as
    1 - q with, for a = min(ka, k) tau, b = max(ka, k) tau and d = a - b <= 0 (the ratio is
    symmetric in ka and k),

        q = e^{-n a} [expm1((n + 1) d) - e^{-b} expm1(n d)] / expm1(d),

    which has no overflow (every exponent <= 0) and no 0/0; at ka = k (d = 0) it is the limit
    q = r^n (1 + n (1 - r)), r = e^{-k tau}. Relative error ~ n x machine epsilon near ka = k.

    Parameters
    ----------
    cl
        Apparent clearance. [L/h]
    v
        Apparent volume. [L]
    ka
        Absorption rate constant. [1/h]
    interval
        Dosing interval tau. [h]
    n
        Number of doses given (integer >= 0); broadcasts with the others.

    Returns
    -------
    numpy.ndarray or float
        C_n / C_ss, dimensionless, in [0, 1).
    """
    cl, v, ka, interval = (np.asarray(x, dtype=float) for x in (cl, v, ka, interval))
    n = np.asarray(n)
    if np.any(n < 0) or np.any(np.asarray(n, dtype=float) != np.floor(np.asarray(n, dtype=float))):
        raise ImapkError("n must be a whole number of doses >= 0", key="n", got=n.tolist())
    n = n.astype(float)
    if np.any(cl <= 0) or np.any(v <= 0) or np.any(ka <= 0) or np.any(interval <= 0):
        raise ImapkError("cl, v, ka and interval must be positive", key="steady_state_fraction")
    k = cl / v
    a = np.minimum(ka, k) * interval
    b = np.maximum(ka, k) * interval
    d = a - b
    with np.errstate(invalid="ignore", divide="ignore"):
        general = np.exp(-n * a) * (np.expm1((n + 1) * d) - np.exp(-b) * np.expm1(n * d)) / np.expm1(d)
    limit = np.exp(-n * b) * (1.0 + n * -np.expm1(-b))
    q = np.where(d == 0.0, limit, general)
    result = 1.0 - q
    return float(result) if result.ndim == 0 else result


def fraction_of_steady_state(ds, n_doses, *, interval: float | None = None):
    """:func:`steady_state_fraction` for every subject of a result Dataset.

    Parameters
    ----------
    ds
        Result of :func:`imapk.simulate` with first-order absorption (uses ``cl``, ``v``, ``ka``,
        the values at t = 0; parameter changes and lag are ignored).
    n_doses
        Number(s) of doses.
    interval
        Dosing interval [h]; default the time between the first two scheduled doses.

    Returns
    -------
    xarray.DataArray
        ``steady_state_fraction`` (subject, n_doses) [1].
    """
    import xarray as xr

    if interval is None:
        times = np.asarray(ds["dose_time"].values, dtype=float)
        if times.size < 2:
            raise ImapkError("give `interval`: the schedule has fewer than two doses", key="interval")
        interval = float(times[1] - times[0])
    n = np.atleast_1d(np.asarray(n_doses))
    ka = np.asarray(ds["ka"].values, dtype=float)
    if np.any(~np.isfinite(ka)):
        raise ImapkError("steady_state_fraction needs first-order absorption (ka) for every subject", key="ka")
    values = steady_state_fraction(
        ds["cl"].values[:, None], ds["v"].values[:, None], ka[:, None], interval, n[None, :]
    )
    return xr.DataArray(
        values,
        dims=("subject", "n_doses"),
        coords={"subject": ds["subject"].values, "n_doses": n},
        name="steady_state_fraction",
        attrs=_attrs(
            "1", "fraction of steady-state trough",
            f"Trough after n doses every {interval:g} h over the steady-state trough, from the superposed "
            "Bateman function (absorption and elimination)",
        ),
    )


# --------------------------------------------------------------------------------------------
# 4. probability of target attainment per day


def pta_by_day(ds, threshold=None, *, how: str = "min"):
    """Probability of target attainment per clinical day.

    Definition: for each subject the *daily trough* is the minimum (``how="min"``, the default:
    every trough of the day must attain the target), the first or the last of the scheduled
    troughs of that clinical day; PTA(level, day) is the fraction of subjects whose daily trough
    is >= level.

    Parameters
    ----------
    ds
        Result of :func:`imapk.simulate`.
    threshold
        As in :func:`longest_run_below`; None: every trough target of `ds`.
    how
        ``"min"``, ``"first"`` or ``"last"``.

    Returns
    -------
    xarray.DataArray
        ``pta`` (threshold, day) [1], ``day`` the clinical days with a scheduled dose.
    """
    import xarray as xr

    if how not in ("min", "first", "last"):
        raise ImapkError("unknown daily trough", key="how", got=how, expected="'min', 'first' or 'last'")
    names, levels = _resolve_levels(ds, threshold, what="a trough at or above it is no attainment")
    trough = np.asarray(ds["trough"].transpose("subject", "dose").values, dtype=float)
    day = _dose_day(ds)
    days, first_index, inverse = np.unique(day, return_index=True, return_inverse=True)
    if how == "min":
        daily = np.full((trough.shape[0], days.size), np.inf)
        np.minimum.at(daily, (slice(None), inverse), trough)
    elif how == "first":
        daily = trough[:, first_index]
    else:
        last_index = np.array([np.flatnonzero(day == d)[-1] for d in days], dtype=np.int64)
        daily = trough[:, last_index]
    pta = (daily[None, :, :] >= levels[:, None, None]).mean(axis=1)
    coords = _threshold_coords(names, levels)
    coords["day"] = xr.Variable(("day",), days, _attrs("d", "clinical day", "Clinical day; day 1 is [0, 24) h"))
    return xr.DataArray(
        pta,
        dims=("threshold", "day"),
        coords=coords,
        name="pta",
        attrs=_attrs(
            "1", "probability of target attainment per day",
            f"Fraction of subjects whose daily trough ({how} of the day's scheduled troughs) is at or above the threshold",
        ),
    )


# --------------------------------------------------------------------------------------------
# 5. and 6. exact exposure per dosing interval


def _interval_kernel_source():
    from .engine import _exact_kernels as kernels
    from .engine._numba import jit

    advance = kernels.advance
    walk = kernels.walk
    segment_buffers = kernels.segment_buffers
    threshold_runs = kernels.threshold_runs
    peak_time = kernels.peak_time
    crossing_time = kernels.crossing_time
    concentration_at = kernels.concentration_at

    @jit
    def integral(i, x, y, seg_t, seg_ad, seg_ac, seg_rate, seg_param, ka, k, v):
        """Integral of C over [x, y] inside segment i, by the central mass balance. [ng h/mL]"""
        p = seg_param[i]
        kap = ka[p]
        kp = k[p]
        rate = seg_rate[i]
        xd, xc = advance(seg_ad[i], seg_ac[i], rate, kap, kp, x - seg_t[i])
        h = y - x
        _, yc = advance(xd, xc, rate, kap, kp, h)
        return (xd * -math.expm1(-kap * h) + rate * h - (yc - xc)) / kp / v[p] * 1000.0

    @jit
    def deficit(i, a, b, level, seg_t, seg_ad, seg_ac, seg_rate, seg_param, ka, k, v):
        """Integral of max(0, level - C) over [a, b] inside segment i, from exact crossings. [ng h/mL]

        C rises then falls within a segment, so each of the two monotone pieces is below the level
        on at most one sub-interval, whose ends are exact crossing times.
        """
        tp = peak_time(i, a, b, seg_t, seg_ad, seg_ac, seg_rate, seg_param, ka, k, v)
        total = 0.0
        for piece in range(2):
            p0, p1, rising = (a, tp, True) if piece == 0 else (tp, b, False)
            if not p0 < p1:
                continue
            c0 = concentration_at(i, p0, seg_t, seg_ad, seg_ac, seg_rate, seg_param, ka, k, v)
            c1 = concentration_at(i, p1, seg_t, seg_ad, seg_ac, seg_rate, seg_param, ka, k, v)
            if c0 >= level and c1 >= level:
                continue
            x, y = p0, p1
            if c0 < level <= c1 or c1 < level <= c0:
                r = crossing_time(i, p0, p1, level, rising, seg_t, seg_ad, seg_ac, seg_rate, seg_param, ka, k, v)
                x, y = (p0, r) if rising else (r, p1)
            total += level * (y - x) - integral(i, x, y, seg_t, seg_ad, seg_ac, seg_rate, seg_param, ka, k, v)
        return total

    @jit
    def exposure_population(
        t0, ad0, ac0, input_time, input_amount, d1, change_time, ka, k, v, bounds, ceilings, targets,
        auc, peak, below, shortfall,
    ):
        n_sub = input_time.shape[0]
        seg_t, seg_ad, seg_ac, seg_rate, seg_param = segment_buffers(input_time.shape[1], change_time.shape[0])
        n_int = bounds.shape[0] - 1
        peak_s = np.empty(1)
        longest = np.empty(ceilings.shape[0])
        for s in range(n_sub):
            n_seg = walk(
                t0[s], ad0[s], ac0[s], input_time[s], input_amount[s], d1[s], change_time, ka[s], k[s],
                seg_t, seg_ad, seg_ac, seg_rate, seg_param,
            )
            i = 0
            for j in range(n_int):
                lo = bounds[j]
                hi = bounds[j + 1]
                total = 0.0
                a = max(lo, seg_t[0])
                if a < hi:
                    while i + 1 < n_seg and seg_t[i + 1] <= a:
                        i += 1
                    while True:
                        b = hi
                        if i + 1 < n_seg:
                            b = min(hi, seg_t[i + 1])
                        if a < b:
                            p = seg_param[i]
                            kap = ka[s, p]
                            kp = k[s, p]
                            rate = seg_rate[i]
                            xd, xc = advance(seg_ad[i], seg_ac[i], rate, kap, kp, a - seg_t[i])
                            h = b - a
                            _, yc = advance(xd, xc, rate, kap, kp, h)
                            # Mass balance of the central compartment: k * int(ac) = in - delta(ac).
                            absorbed = xd * -math.expm1(-kap * h) + rate * h
                            total += (absorbed - (yc - xc)) / kp / v[s, p]
                            for m in range(targets.shape[0]):
                                shortfall[s, j, m] += deficit(
                                    i, a, b, targets[m], seg_t, seg_ad, seg_ac, seg_rate, seg_param, ka[s], k[s], v[s]
                                )
                        if b >= hi or i + 1 >= n_seg:
                            break
                        i += 1
                        a = b
                auc[s, j] = total * 1000.0
                threshold_runs(
                    n_seg, seg_t, seg_ad, seg_ac, seg_rate, seg_param, ka[s], k[s], v[s],
                    lo, hi, ceilings, below[s, j], longest, peak_s,
                )
                peak[s, j] = peak_s[0]

    return exposure_population


_KERNEL = None


def _kernel():
    global _KERNEL
    if _KERNEL is None:
        _KERNEL = _interval_kernel_source()
    return _KERNEL


def interval_exposure(
    schedule,
    params,
    *,
    changes=(),
    ceilings: Sequence[float | Threshold | str] = (),
    targets: Sequence[float | Threshold | str] = (),
):
    """Exact AUC, average and peak concentration, time above ceilings and AUC below targets, per interval.

    Takes the same inputs as :func:`imapk.simulate` (exact path, constant F) and walks the same
    closed-form segments (:func:`imapk.engine.exact.prepare_inputs` and
    :func:`imapk.engine._exact_kernels.walk`: F, lag, zero-order input, parameter steps and a
    steady-state start all apply). Interval j is [t_j, t_{j+1}) between scheduled dose times; the
    last one ends at the end of the schedule (last dose time plus its interval).

    The AUC is analytic, not a quadrature: on a segment of length h with constant ka, k, V and
    input rate R, starting from depot and central amounts (ad, ac), the central balance
    d(ac)/dt = ka ad + R - k ac integrates to

        int_0^h ac dt = [ad (1 - e^{-ka h}) + R h - (ac(h) - ac(0))] / k,

    with ac(h) from E2; the AUC is the sum over segments of that integral divided by V (x 1000:
    mg h/L -> ng h/mL). The identity AUC_tau,ss = F D / CL holds to rounding error. Peaks and the
    time at or above each ceiling come from the engine's exact peak and crossing search
    (``threshold_runs`` on each interval).

    Parameters
    ----------
    schedule
        :class:`~imapk.schedule.Schedule` or :class:`~imapk.schedule.DoseTable`.
    params
        :class:`~imapk.params.PKParams` or :class:`~imapk.params.ParameterTable`.
    changes
        Step changes of the parameters (with a :class:`PKParams`).
    ceilings
        Levels for the time above: numbers [ng/mL] or concentration ceilings (Threshold or name).
        A trough threshold is refused: the time the curve spends above a trough ceiling is not
        what it judges (pass its value as a number to measure that time anyway).
    targets
        Levels for the AUC below (the exposure deficit): numbers [ng/mL] or trough targets.

    Returns
    -------
    xarray.Dataset
        On (subject, dose): ``auc_interval`` [ng h/mL], ``average_concentration`` [ng/mL]
        (AUC over the interval length), ``peak_interval`` [ng/mL]; with ceilings
        ``time_above_ceiling`` (subject, dose, ceiling) [h], the time in the interval with
        C >= level; with targets ``auc_below`` (subject, dose, target) [ng h/mL], the integral of
        max(0, level - C) over the interval (exact crossings, analytic integral). Coordinates
        ``dose_time`` and ``interval_end`` [h].
    """
    import xarray as xr

    from .engine.exact import prepare_inputs
    from .simulation import engine_inputs

    table, table_params = engine_inputs(schedule, params, changes)
    names, levels = _resolve_ceilings(
        ceilings, (CONCENTRATION_CEILING,), "ceilings", "the time the concentration spends above it is not what it judges",
    )
    target_names, target_levels = _resolve_ceilings(
        targets, (TROUGH_TARGET,), "targets", "the concentration below it is no exposure deficit",
    )
    x = prepare_inputs(table, table_params, window=(0.0, table.end))
    bounds = np.append(table.time, table.end).astype(float)
    n = table_params.n_subjects
    n_int = table.time.size
    auc = np.zeros((n, n_int))
    peak = np.zeros((n, n_int))
    below = np.zeros((n, n_int, levels.size))
    shortfall = np.zeros((n, n_int, target_levels.size))
    _kernel()(
        x.t0, x.ad0, x.ac0, x.input_time, x.input_amount, x.d1, x.change_time, x.ka, x.k, x.v, bounds, levels,
        target_levels, auc, peak, below, shortfall,
    )
    length = np.diff(bounds)
    dims = ("subject", "dose")
    data = {
        "auc_interval": xr.Variable(dims, auc, _attrs(
            "ng h/mL", "AUC over the dosing interval",
            "Integral of the plasma concentration over [t_j, t_{j+1}) from the closed-form solution (analytic)",
        )),
        "average_concentration": xr.Variable(dims, auc / length[None, :], _attrs(
            "ng/mL", "average concentration over the dosing interval", "AUC over the interval / its length",
        )),
        "peak_interval": xr.Variable(dims, peak, _attrs(
            "ng/mL", "peak concentration in the dosing interval",
            "Maximum of the plasma concentration on [t_j, t_{j+1}] (exact peak search on the closed form)",
        )),
    }
    coords = {
        "subject": np.arange(n),
        "dose": np.arange(n_int),
        "dose_time": xr.Variable(("dose",), table.time, _attrs("h", "scheduled dose time", "Start of the interval")),
        "interval_end": xr.Variable(("dose",), bounds[1:], _attrs("h", "end of the interval", "Next scheduled dose time, or the end of the schedule")),
    }
    if levels.size:
        data["time_above_ceiling"] = xr.Variable(
            ("subject", "dose", "ceiling"), length[None, :, None] - below, _attrs(
                "h", "time at or above ceiling in the dosing interval",
                "Time in [t_j, t_{j+1}) with the concentration at or above the ceiling, from exact crossing times",
            ),
        )
        coords["ceiling"] = xr.Variable(("ceiling",), names, _attrs(None, "ceiling", "Name of the ceiling"))
        coords["ceiling_value"] = xr.Variable(("ceiling",), levels, _attrs("ng/mL", "ceiling", "Concentration of the ceiling"))
    if target_levels.size:
        data["auc_below"] = xr.Variable(
            ("subject", "dose", "target"), shortfall, _attrs(
                "ng h/mL", "AUC below target in the dosing interval",
                "Integral of max(0, target - C) over [t_j, t_{j+1}): the exposure deficit, from exact crossing "
                "times and the analytic integral of the closed form",
            ),
        )
        coords["target"] = xr.Variable(("target",), target_names, _attrs(None, "target", "Name of the target"))
        coords["target_value"] = xr.Variable(("target",), target_levels, _attrs("ng/mL", "target", "Concentration of the target"))
    return xr.Dataset(data, coords=coords)


def _resolve_ceilings(items, kinds: tuple[str, ...], key: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Names and values of the levels of :func:`interval_exposure` (numbers, or thresholds of `kinds`)."""
    names, values = [], []
    for item in items:
        t = get_threshold(item) if isinstance(item, str) else item
        if isinstance(t, Threshold):
            _check_kind(t.name, t.kind, kinds, key, what)
            names.append(t.name)
            values.append(float(t.value))
        else:
            value = float(item)
            if not (math.isfinite(value) and value > 0.0):
                raise ImapkError("level must be a positive concentration", key=key, got=item)
            names.append(f"{value:g} ng/mL")
            values.append(value)
    return np.array(names, dtype=str), np.array(values, dtype=float)


def time_above_ceiling(schedule, params, ceiling, *, changes=()):
    """Time at or above a concentration ceiling (or a level in ng/mL) per dosing interval, (subject, dose) [h].

    A shortcut for ``interval_exposure(..., ceilings=[ceiling]).time_above_ceiling`` (exact
    crossing times on the closed form). The total over an evaluation window is the dataset's
    ``time_above`` for a ceiling passed to :func:`imapk.simulate` as a threshold.
    """
    out = interval_exposure(schedule, params, changes=changes, ceilings=[ceiling])
    result = out["time_above_ceiling"].isel(ceiling=0)
    result.name = "time_above_ceiling"
    return result
