"""Pictures of a result: troughs against thresholds, population fans, model comparisons, sweep maps.

Every function takes a result Dataset plus options and an optional ``ax`` (a new pyplot figure is
made if None; given a :class:`matplotlib.figure.Figure` without axes, the plot sets its size and
layout and draws on it, without pyplot), and returns what it drew on. matplotlib is imported only
when a plot is made. The result may also be a :class:`imapk.result_view.ResultView` (a result file
read without xarray, as `imapk plot` does): the functions read arrays by name and select by position.
"""

from __future__ import annotations

import json
import math

import numpy as np

from .errors import ImapkError
from .thresholds import CONCENTRATION_CEILING, TROUGH_CEILING, TROUGH_TARGET, kinds_of

__all__ = ["SWEEP_VARIABLES", "plot_models", "plot_population", "plot_sweep", "plot_troughs"]

HOURS_PER_DAY = 24.0
HOLD_COLOUR = "C3"
HOLD_ALPHA = 0.12
FAN_COLOUR = "C0"
#: What :func:`plot_sweep` can map: variable -> (colour-bar label, title, unit shown, factor from the
#: stored unit, colour map).
SWEEP_VARIABLES = {
    "mean_time_below": (
        "mean time below threshold", "mean time per subject below {threshold} ({value:g} ng/mL)",
        "d", 1 / HOURS_PER_DAY, "YlOrRd",
    ),
    "target_attainment": (
        "target attainment", "subjects with trough >= {threshold} ({value:g} ng/mL) at the last scheduled dose",
        "%", 100.0, "YlGn",
    ),
    "trough_ceiling_exceedance": (
        "subjects with trough above the trough ceiling",
        "subjects with trough >= trough ceiling {threshold} ({value:g} ng/mL) at the last scheduled dose",
        "%", 100.0, "YlOrRd",
    ),
    "mean_time_above": (
        "mean time above threshold", "mean time per subject with the concentration >= {threshold} ({value:g} ng/mL)",
        "d", 1 / HOURS_PER_DAY, "YlOrRd",
    ),
    # per cell, from each patient's own doses (sweeps whose scenarios draw doses at random)
    "mean_held_doses": (
        "mean held doses", "scheduled doses held per patient (interruptions, toxicity holds, after a discontinuation)",
        "doses per patient", 1.0, "YlOrRd",
    ),
    "mean_missed_doses": ("mean missed doses", "scheduled doses missed per patient", "doses per patient", 1.0,
                          "YlOrRd"),
    "fraction_toxicity_event": ("patients with a toxicity event", "patients with at least one toxicity event", "%",
                                100.0, "YlOrRd"),
    "fraction_discontinued": ("patients discontinued", "patients whose toxicity event stopped therapy for good", "%",
                              100.0, "YlOrRd"),
    "fraction_escalated": ("patients escalated", "patients escalated by the TDM policy", "%", 100.0, "YlGnBu"),
}
#: The per-subject variable of the sweep store each per-cell process quantity is computed from,
#: and how: the mean over the cell's patients, or the fraction of them with a value above 0.
SWEEP_PROCESS_VARIABLES = {
    "mean_held_doses": ("held_dose_count", "mean"),
    "mean_missed_doses": ("missed_dose_count", "mean"),
    "fraction_toxicity_event": ("toxicity_event_count", "fraction"),
    "fraction_discontinued": ("toxicity_discontinued", "fraction"),
    "fraction_escalated": ("tdm_escalated", "fraction"),
}
#: The kinds of threshold each sweep variable judges (None: any).
SWEEP_VARIABLE_KINDS = {
    "mean_time_below": None,
    "target_attainment": (TROUGH_TARGET,),
    "trough_ceiling_exceedance": (TROUGH_CEILING,),
    "mean_time_above": None,
    **{name: None for name in SWEEP_PROCESS_VARIABLES},
}
#: What a sweep map shows by default for a threshold of each kind: its wrong side.
DEFAULT_SWEEP_VARIABLE = {
    TROUGH_TARGET: "mean_time_below",
    TROUGH_CEILING: "trough_ceiling_exceedance",
    CONCENTRATION_CEILING: "mean_time_above",
}
#: Line styles of the threshold kinds (colours or dashes tell thresholds of one kind apart).
_KIND_STYLE = {TROUGH_TARGET: "--", TROUGH_CEILING: "-.", CONCENTRATION_CEILING: ":"}
#: Above this many cells, :func:`plot_sweep` does not write the value in each cell.
ANNOTATE_MAX_CELLS = 150


def _new_axes(ax, figsize, nrows: int = 1, **subplots):
    """`ax` itself if it is an Axes (or a pair of them); else new axes, with constrained layout and
    the size `figsize` [inches], on a new pyplot figure (None) or on the Figure `ax`."""
    if ax is None:
        import matplotlib.pyplot as plt

        return plt.subplots(nrows, 1, figsize=figsize, layout="constrained", **subplots)[1]
    if _is_figure(ax):
        ax.set_size_inches(figsize)
        ax.set_layout_engine("constrained")
        return ax.subplots(nrows, 1, **subplots)
    return ax


def _is_figure(ax) -> bool:
    from matplotlib.figure import Figure

    return isinstance(ax, Figure)


def _status_labels(status) -> np.ndarray:
    """'given'/'held'/'missed' for result Datasets (strings) and sweep stores (int8 codes, -1 padding)."""
    status = np.asarray(status)
    if status.dtype.kind in "iu":
        labels = np.array(["given", "held", "missed", ""])
        return labels[np.where(status < 0, 3, status)]
    return status.astype(str)


def _clinical_day(ds) -> np.ndarray:
    """Clinical day of each scheduled dose (day 1 is [0, 24) h)."""
    return np.asarray(ds["dose_time"].values, dtype=float) / HOURS_PER_DAY + 1


def _first_of(ds, dims=("model", "therapy_clock")):
    """Select the first entry of the comparison dimensions a plot does not draw."""
    return ds.isel({dim: 0 for dim in dims if dim in ds.dims})


def _shade_holds(ax, day, status, *, label=True) -> int:
    """Shade each run of held doses from its first held day to the end of its last; returns the count."""
    held = _status_labels(status) == "held"
    if not held.any():
        return 0
    edges = np.flatnonzero(np.diff(np.concatenate([[0], held.astype(int), [0]])))
    for first, stop in zip(edges[::2], edges[1::2]):
        ax.axvspan(day[first], day[stop - 1] + 1, color=HOLD_COLOUR, alpha=HOLD_ALPHA, lw=0)
    if label:
        ax.axvspan(np.nan, np.nan, color=HOLD_COLOUR, alpha=HOLD_ALPHA, lw=0, label="hold (doses held)")
    return len(edges) // 2


def _threshold_lines(ax, ds, *, curve: bool = True, black: bool = False, above: float = math.inf) -> None:
    """One horizontal line per threshold, in the style of its kind: dashed for trough targets,
    dash-dotted for trough ceilings, dotted for concentration ceilings; the legend says the kind.

    Coloured C1, C2, ... (as the PTA curves), or all black with distinct dashes when the data
    lines already use the colour cycle (`black`). With ``curve=False`` (a panel of troughs only,
    no concentration curve) a concentration ceiling is labelled as judged on the peak, not on the
    troughs drawn. A level above `above` [ng/mL] is labelled as above the plot (the caller keeps the
    axes to the data).
    """
    if "threshold" not in ds.dims:
        return
    black_styles = {
        TROUGH_TARGET: ["--", (0, (8, 2, 1, 2, 1, 2)), (0, (5, 1))],
        TROUGH_CEILING: ["-.", (0, (3, 1, 1, 1, 1, 1))],
        CONCENTRATION_CEILING: [":", (0, (1, 3))],
    }
    seen = dict.fromkeys(black_styles, 0)
    for m, (name, kind) in enumerate(zip(ds["threshold"].values, kinds_of(ds))):
        value = float(ds["threshold_value"].values[m])
        if black:
            styles = black_styles[kind]
            style = styles[seen[kind] % len(styles)]
            seen[kind] += 1
        else:
            style = _KIND_STYLE[kind]
        what = kind.replace("_", " ")
        if kind == CONCENTRATION_CEILING and not curve:
            what += " (on the peak)"
        where = " (above the plot)" if value > above else ""
        ax.axhline(value, ls=style, color="black" if black else f"C{m + 1}", lw=1.3,
                   label=f"{name} {what}: {value:g} ng/mL{where}")


def _thresholds(ds) -> list[str]:
    return [str(t) for t in ds["threshold"].values] if "threshold" in ds.dims else []


def _check_threshold(ds, threshold: str | None) -> str:
    """The named threshold, or the first trough target (else the first threshold) if None."""
    names = _thresholds(ds)
    if not names:
        raise ImapkError("the result has no thresholds")
    if threshold is None:
        kinds = kinds_of(ds)
        return names[kinds.index(TROUGH_TARGET)] if TROUGH_TARGET in kinds else names[0]
    if threshold not in names:
        raise ImapkError("unknown threshold", key="--threshold", got=threshold, expected=f"one of {', '.join(names)}")
    return threshold


def plot_troughs(ds, *, subject: int = 0, ax=None):
    """Plot one subject's concentration curve and troughs against the thresholds, holds shaded.

    Parameters
    ----------
    ds
        A result Dataset from :func:`imapk.simulate` or :func:`imapk.run_scenario`.
    subject
        Which subject to draw.
    ax
        Axes to draw on, a Figure without axes (its size and layout are set here), or None (a new
        pyplot figure).

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _new_axes(ax, (10, 4.5))
    one = ds.isel(subject=subject)
    if one.sizes.get("time", 0):
        ax.plot(one["time"].values / HOURS_PER_DAY + 1, one["concentration"].values, color="0.6", lw=0.8,
                label="concentration")
    day = _clinical_day(one)
    ax.plot(day, one["trough"].values, "o", ms=2.5, color="C0", label="trough C(t-) at each scheduled dose")
    status = _status_labels(one["dose_status"].values)
    _shade_holds(ax, day, status)
    missed = status == "missed"
    if missed.any():
        ax.plot(day[missed], np.zeros(missed.sum()), "x", color="C3", label="missed dose")
    # The curve sets the scale: a threshold far above it (a toxicity ceiling) stays in the legend, marked
    # as above the plot, instead of squeezing the curve into the bottom of the axes.
    highest = float(np.nanmax(one["concentration"].values)) if one.sizes.get("time", 0) else 0.0
    highest = max(highest, float(np.nanmax(one["trough"].values)), 1.0)
    top = highest * 1.25
    _threshold_lines(ax, ds, above=top)
    ax.set_xlabel("clinical day")
    ax.set_ylabel("imatinib plasma concentration [ng/mL]")
    ax.set_title(ds.attrs.get("title", ""), fontsize=10)
    ax.set_xlim(day[0], day[-1] + 1)
    visible = [float(v) for v in ds["threshold_value"].values if float(v) <= top] if "threshold" in ds.dims else []
    ax.set_ylim(0, max([top, *(1.08 * v for v in visible)]))
    _label_dose_steps(ax, day, one)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    return ax


def _label_dose_steps(ax, day, one) -> None:
    """Write each dose step (the planned amount, or "held") at the top of the axes where it starts.

    A label that would start within 7 % of the days shown from the previous one goes one line lower,
    so short steps (a 7-day ladder step in a year) are labelled too.
    """
    from matplotlib.transforms import blended_transform_factory

    status = _status_labels(one["dose_status"].values)
    planned = np.asarray(one["dose_planned"].values, dtype=float) if "dose_planned" in one else np.asarray(
        one["dose_given"].values, dtype=float)
    keys = [("held" if s == "held" else f"{a:g} mg") for s, a in zip(status, planned)]
    starts = [0] + [j for j in range(1, len(keys)) if keys[j] != keys[j - 1]]
    span = float(day[-1] + 1 - day[0])
    transform = blended_transform_factory(ax.transData, ax.transAxes)
    previous, row = -math.inf, 0
    for first in starts:
        row = (row + 1) % 3 if day[first] - previous < 0.07 * span else 0
        previous = day[first]
        ax.text(day[first] + 0.3, 0.985 - 0.045 * row, keys[first], transform=transform, ha="left", va="top",
                fontsize=7.5, color="0.25")


def _trough_quantiles(ds, quantiles) -> np.ndarray:
    """Trough quantiles per dose, shape (len(quantiles), dose): stored ones if present, else computed."""
    stored_quantiles = ds["quantile"].values if "trough_quantile" in ds else ()
    if len(stored_quantiles) and all(np.isclose(stored_quantiles, q).any() for q in quantiles):
        stored = ds["trough_quantile"]
        # the stored quantile nearest each one asked for, by position (as xarray's nearest label)
        return np.stack([stored.isel(quantile=int(np.argmin(np.abs(stored_quantiles - q)))).values for q in quantiles])
    troughs = np.asarray(ds["trough"].transpose("subject", "dose").values, dtype=float)
    return np.nanquantile(troughs, quantiles, axis=0)


def plot_population(ds, *, ax=None):
    """Percentile fan of the trough per clinical day above, probability of target attainment below.

    The fan shows the 5-95 % (light) and 25-75 % (darker) bands of the trough over the subjects and
    the median line, with the thresholds as horizontal lines in the style of their kind; the lower
    panel shows, per trough target, the percentage of subjects whose trough is at or above it (the
    probability of target attainment) and, per trough ceiling, the percentage whose trough is at or
    above that ceiling (dash-dotted: the wrong side). Holds are shaded in both.
    Comparison dimensions (``model``, ``therapy_clock``) are reduced to their first entry.

    Parameters
    ----------
    ds
        A result Dataset with a ``subject`` dimension (or one cell of a sweep).
    ax
        None (a new figure with two stacked panels), a Figure (the two panels are drawn on it), a
        pair ``(ax_fan, ax_pta)``, or one Axes (the fan only; no PTA panel is drawn).

    Returns
    -------
    tuple
        ``(ax_fan, ax_pta)``; ``ax_pta`` is None if one Axes was given.
    """
    if ax is None or _is_figure(ax):
        ax_fan, ax_pta = _new_axes(ax, (10, 7), 2, sharex=True, gridspec_kw={"height_ratios": (2.2, 1)})
    elif isinstance(ax, (tuple, list)):
        ax_fan, ax_pta = ax
    else:
        ax_fan, ax_pta = ax, None
    ds = _first_of(ds)
    day = _clinical_day(ds)
    status = _status_labels(ds["dose_status"].values)
    keep = status != ""  # sweep cells pad their schedules
    day, status = day[keep], status[keep]
    q05, q25, q50, q75, q95 = _trough_quantiles(ds, (0.05, 0.25, 0.5, 0.75, 0.95))[:, keep]
    n = ds.sizes.get("subject", 1)
    ax_fan.fill_between(day, q05, q95, color=FAN_COLOUR, alpha=0.18, lw=0, label="5-95th percentile")
    ax_fan.fill_between(day, q25, q75, color=FAN_COLOUR, alpha=0.40, lw=0, label="25-75th percentile")
    ax_fan.plot(day, q50, color=FAN_COLOUR, lw=1.6, label="median trough")
    _shade_holds(ax_fan, day, status)
    _threshold_lines(ax_fan, ds, curve=False)
    ax_fan.set_ylabel("trough concentration [ng/mL]")
    ax_fan.set_xlim(day[0], day[-1] + 1)
    ax_fan.set_ylim(bottom=0)
    ax_fan.legend(loc="upper right", fontsize=8, framealpha=0.9)
    title = ds.attrs.get("title", "")
    ax_fan.set_title(f"{title}\ntrough over {n} subjects" if title else f"trough over {n} subjects", fontsize=10)
    if ax_pta is None:
        ax_fan.set_xlabel("clinical day")
        return ax_fan, None
    kinds = kinds_of(ds) if "threshold" in ds.dims else []
    for m, name in enumerate(_thresholds(ds)):
        value = float(ds["threshold_value"].values[m])
        if kinds[m] == TROUGH_TARGET:
            pta = np.asarray(ds["target_attainment"].isel(threshold=m).values, dtype=float)[keep] * 100
            ax_pta.plot(day, pta, color=f"C{m + 1}", lw=1.6, label=f"trough >= {name} ({value:g} ng/mL)")
        elif kinds[m] == TROUGH_CEILING and "trough_ceiling_exceedance" in ds:
            # The wrong side of a trough ceiling, drawn in its style so it is not read as an attainment.
            above = np.asarray(ds["trough_ceiling_exceedance"].isel(threshold=m).values, dtype=float)[keep] * 100
            ax_pta.plot(day, above, color=f"C{m + 1}", lw=1.3, ls=_KIND_STYLE[TROUGH_CEILING],
                        label=f"trough >= trough ceiling {name} ({value:g} ng/mL)")
    _shade_holds(ax_pta, day, status, label=False)
    ax_pta.set_ylim(-2, 102)
    ax_pta.set_yticks([0, 25, 50, 75, 100])
    ax_pta.grid(axis="y", color="0.9", lw=0.8)
    ax_pta.set_xlim(day[0], day[-1] + 1)
    ax_pta.set_xlabel("clinical day")
    drawn_ceilings = TROUGH_CEILING in kinds and "trough_ceiling_exceedance" in ds
    ax_pta.set_ylabel("subjects with trough >= threshold [%]" if drawn_ceilings else "target attainment [% of subjects]")
    if ax_pta.get_lines():
        ax_pta.legend(loc="lower right", fontsize=8, framealpha=0.9)
    return ax_fan, ax_pta


def plot_models(ds, *, quantile: float = 0.5, ax=None):
    """The (median) trough per clinical day under each model of a result with a ``model`` dimension.

    Parameters
    ----------
    ds
        A result Dataset with a ``model`` dimension (e.g. ``parameter_set = "all"``).
    quantile
        Which quantile of the trough over the subjects to draw (0.5, the median; with one subject
        every quantile is its trough).
    ax
        Axes to draw on, a Figure without axes (its size and layout are set here), or None (a new
        pyplot figure).

    Returns
    -------
    matplotlib.axes.Axes
    """
    if "model" not in ds.dims:
        raise ImapkError("the result has no model dimension (it was run with one parameter set)")
    ds = _first_of(ds, ("therapy_clock",))
    ax = _new_axes(ax, (11, 5))
    day = _clinical_day(ds)
    models = [str(m) for m in ds["model"].values]
    colours = _model_colours(len(models))
    curves = [_trough_quantiles(ds.isel(model=k), (quantile,))[0] for k in range(len(models))]
    # Legend in the order of the lines at the right edge, highest first, so it reads like the plot.
    for k in sorted(range(len(models)), key=lambda k: -np.nan_to_num(curves[k][-1], nan=-np.inf)):
        ax.plot(day, curves[k], color=colours[k], lw=1.3, label=models[k])
    status = _status_labels(ds["dose_status"].values)
    _shade_holds(ax, day, status)
    _threshold_lines(ax, ds, curve=False, black=True)
    n = ds.sizes.get("subject", 1)
    what = "trough" if n == 1 else ("median trough" if quantile == 0.5 else f"{quantile * 100:g}th percentile trough")
    ax.set_xlabel("clinical day")
    ax.set_ylabel(f"{what} [ng/mL]")
    ax.set_xlim(day[0], day[-1] + 1)
    ax.set_ylim(bottom=0)
    ax.set_title(ds.attrs.get("title", ""), fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False,
              ncol=1 if len(models) + 5 <= 22 else 2)
    return ax


def _model_colours(n: int) -> list:
    import matplotlib

    if n <= 10:
        return [f"C{k}" for k in range(n)]
    cmap = matplotlib.colormaps["tab20"]
    return [cmap(k % 20) for k in range(n)]


def _tick(value) -> str:
    value = value.item() if hasattr(value, "item") else value
    return f"{value:g}" if isinstance(value, float) else str(value)


def _axis_label(ds, dim: str) -> str:
    attrs = ds[dim].attrs
    name = attrs.get("long_name", dim.replace("_", " "))
    return f"{name} [{attrs['units']}]" if attrs.get("units") else name


def _against_baseline(ds, values: np.ndarray, x: str, y: str | None, baseline: dict) -> tuple[np.ndarray, str]:
    """`values` (y, x) minus the values at the baseline's coordinates, and the baseline in words."""
    def position(dim):
        wanted = baseline[dim]
        coordinate = ds[dim].values
        for i, v in enumerate(coordinate):
            if v == wanted or _tick(v) == str(wanted) or (isinstance(wanted, str) and _number(wanted) == v):
                return i
        raise ImapkError(f"no such value of {dim}", key="--baseline", got=wanted,
                         expected=f"one of {', '.join(_tick(v) for v in coordinate)}")

    reference = values
    if x in baseline:
        reference = reference[:, [position(x)]]
    if y is not None and y in baseline:
        reference = reference[[position(y)], :]
    words = ", ".join(f"{dim} = {baseline[dim]}" for dim in (x, y) if dim in baseline)
    return values - reference, words


def _label_position(ds, dim: str, wanted) -> int:
    """Position of the value `wanted` in the coordinate `dim` (an exact match)."""
    coordinate = ds[dim].values
    for i, value in enumerate(coordinate):
        if value == wanted:
            return i
    raise ImapkError(f"no such value of {dim}", got=wanted, expected=f"one of {', '.join(_tick(v) for v in coordinate)}")


def _number(text: str):
    try:
        return float(text)
    except ValueError:
        return None


def plot_sweep(ds, x: str | None = None, y: str | None = None, *, threshold: str | None = None,
               variable: str | None = None, day: int | None = None, baseline: dict | None = None, ax=None,
               **select):
    """Heat map of a sweep summary over two swept dimensions, with a colour bar and annotated cells.

    Parameters
    ----------
    ds
        A finished sweep store from :func:`imapk.sweep.open_sweep`.
    x, y
        Swept dimensions along the horizontal and vertical axes (default: the first two swept; with
        one swept dimension the map has one row).
    threshold
        Threshold name (default: the first target threshold).
    variable
        ``"mean_time_below"`` (mean time below the threshold per subject, in days),
        ``"mean_time_above"`` (mean time at or above it, in days), ``"target_attainment"`` (for a
        trough target: % of subjects with trough at or above it at each cell's last scheduled
        dose), ``"trough_ceiling_exceedance"`` (the same for a trough ceiling), or, for a sweep whose
        scenarios draw doses at random, one of the per-cell outcomes of :func:`imapk.sweep.summary_table`
        (``"mean_held_doses"``, ``"mean_missed_doses"`` [doses per patient], ``"fraction_toxicity_event"``,
        ``"fraction_discontinued"``, ``"fraction_escalated"`` [% of patients]). Default: the
        wrong side of the threshold's kind (:data:`DEFAULT_SWEEP_VARIABLE`): mean time below a
        trough target, exceedance of a trough ceiling, mean time above a concentration ceiling.
    day
        Clinical day whose trough the attainment or exceedance is read at (the trough before that day's
        first dose; a cell without a dose that day is blank); default: each cell's last scheduled dose.
        Not for the mean times, which are over the evaluation window.
    baseline
        Values of the mapped dimensions, e.g. ``{"hold_length": 3}``: each cell shows its change against
        the cell with those values (per row or column when only one is given), on a diverging colour
        scale centred on no change.
    ax
        Axes to draw on, a Figure without axes (its size and layout are set here), or None (a new
        pyplot figure).
    **select
        Values of the other swept dimensions (``parameter_set="schmidli2005"``); the first value of
        each one not given.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if "swept_dimensions" not in ds.attrs:
        raise ImapkError("not a sweep result (no swept dimensions)")
    dims = json.loads(ds.attrs["swept_dimensions"])
    if variable is not None and variable not in SWEEP_VARIABLES:
        raise ImapkError("cannot map this variable", key="variable", got=variable,
                         expected=f"one of {', '.join(SWEEP_VARIABLES)}")
    x = dims[0] if x is None else x
    y = (dims[1] if len(dims) > 1 else None) if y is None else y
    for key, dim in (("--x", x), ("--y", y)):
        if dim is not None and dim not in dims:
            raise ImapkError("not a swept dimension", key=key, got=dim, expected=f"one of {', '.join(dims)}")
    if x == y:
        raise ImapkError("x and y must be different swept dimensions", key="--y", got=y)
    for dim in select:
        if dim not in dims or dim in (x, y):
            others = [d for d in dims if d not in (x, y)]
            raise ImapkError("cannot select on this dimension", got=dim,
                             expected=f"one of {', '.join(others)}" if others else "no other swept dimension")
    threshold = _check_threshold(ds, threshold)
    kind = kinds_of(ds)[_thresholds(ds).index(threshold)]
    variable = DEFAULT_SWEEP_VARIABLE[kind] if variable is None else variable
    allowed = SWEEP_VARIABLE_KINDS[variable]
    if allowed is not None and kind not in allowed:
        raise ImapkError(
            f"{threshold} is a {kind.replace('_', ' ')}: {variable} is for a {allowed[0].replace('_', ' ')}",
            key="variable", got=variable,
            expected=", ".join(v for v, k in SWEEP_VARIABLE_KINDS.items() if k is None or kind in k),
        )
    if variable in SWEEP_PROCESS_VARIABLES and SWEEP_PROCESS_VARIABLES[variable][0] not in ds:
        raise ImapkError(
            "this sweep store has no such outcome (its scenarios draw no doses at random, or not this kind, or it "
            "was written by an earlier version)", key="variable", got=variable,
            expected=", ".join(v for v, (name, _) in SWEEP_PROCESS_VARIABLES.items() if name in ds)
            or "a variable of the threshold: " + ", ".join(v for v in SWEEP_VARIABLES if v not in SWEEP_PROCESS_VARIABLES),
        )
    if variable not in SWEEP_PROCESS_VARIABLES and variable not in ds:
        raise ImapkError("this sweep store has no such summary (written by an earlier version?)", key="variable",
                         got=variable, expected="rerun the sweep into a new store")
    if day is not None and variable in SWEEP_PROCESS_VARIABLES:
        raise ImapkError(f"{variable} is over each patient's whole schedule, not one day", key="--day", got=day,
                         expected="--variable target_attainment or trough_ceiling_exceedance")
    if day is not None and variable.startswith("mean_time"):
        raise ImapkError(f"{variable} is over the evaluation window, not one day", key="--day", got=day,
                         expected="--variable target_attainment or trough_ceiling_exceedance")
    baseline = dict(baseline or {})
    for dim in baseline:
        if dim not in (x, y):
            raise ImapkError("the baseline names a dimension that is not mapped", key="--baseline", got=dim,
                             expected=f"one of {', '.join(d for d in (x, y) if d is not None)}")
    chosen = {}
    for dim in dims:
        if dim in (x, y):
            continue
        # by position (as xarray's exact label lookup), so a ResultView of the store is drawn as well
        ds = ds.isel({dim: _label_position(ds, dim, select[dim]) if dim in select else 0})
        chosen[dim] = ds[dim].values
    ds = ds.isel(threshold=_thresholds(ds).index(threshold))
    label, title, unit, factor, cmap = SWEEP_VARIABLES[variable]
    order = [d for d in (y, x) if d is not None]
    if variable in SWEEP_PROCESS_VARIABLES:
        name, statistic = SWEEP_PROCESS_VARIABLES[variable]
        outcome = np.asarray(ds[name].transpose(*order, "subject").values)
        field = outcome.mean(axis=-1) if statistic == "mean" else (outcome > 0).mean(axis=-1)
    elif variable.startswith("mean_time"):
        field = ds[variable].transpose(*order).values
    else:
        status = ds["dose_status"].transpose(*order, "dose").values
        attainment = ds[variable].transpose(*order, "dose").values
        if day is None:
            chosen_dose = (status >= 0).cumsum(axis=-1).argmax(axis=-1)  # last real dose of each cell
            available = np.ones(chosen_dose.shape, dtype=bool)
        else:
            on_day = (ds["day"].transpose(*order, "dose").values == day) & (status >= 0)
            chosen_dose = on_day.argmax(axis=-1)  # the day's first dose
            available = on_day.any(axis=-1)
            if not available.any():
                raise ImapkError("no cell of the map has a scheduled dose on this day", key="--day", got=day)
            title = title.replace("at the last scheduled dose", f"on day {day}")
        field = np.take_along_axis(attainment, chosen_dose[..., None], axis=-1)[..., 0]
        field = np.where(available, field, np.nan)
    values = np.asarray(field, dtype=float) * factor
    if y is None:
        values = values.reshape(1, -1)
    if baseline:
        values, against = _against_baseline(ds, values, x, y, baseline)
        label, unit = f"change in {label}", "% points" if unit == "%" else unit
        title = f"change against the cell {against}, in {title}"
    ny, nx = values.shape
    ax = _new_axes(ax, (max(6.0, 1.1 + 0.75 * nx), max(3.2, 1.6 + 0.6 * ny)))
    if baseline:
        finite = np.abs(values[np.isfinite(values)])
        limit = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
        image = ax.imshow(values, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit)
    else:
        image = ax.imshow(values, origin="lower", aspect="auto", cmap=cmap,
                          vmin=0 if unit == "%" else None, vmax=100 if unit == "%" else None)
    colourbar = ax.figure.colorbar(image, ax=ax)
    colourbar.set_label(f"{label} [{unit}]")
    ax.set_xticks(range(nx), [_tick(v) for v in ds[x].values])
    ax.set_xlabel(_axis_label(ds, x))
    if y is None:
        ax.set_yticks([])
    else:
        ax.set_yticks(range(ny), [_tick(v) for v in ds[y].values])
        ax.set_ylabel(_axis_label(ds, y))
    if nx * ny <= ANNOTATE_MAX_CELLS:
        norm, colours = image.norm, image.cmap
        for i in range(ny):
            for j in range(nx):
                v = values[i, j]
                if not np.isfinite(v):
                    continue
                r, g, b, _ = colours(norm(v))
                ink = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"
                text = f"{v:.0f}" if unit == "%" else f"{v:.1f}"
                ax.text(j, i, f"{v:+.1f}" if baseline else text, ha="center", va="center",
                        color=ink, fontsize=9 if nx * ny <= 60 else 7)
    import textwrap

    title = textwrap.fill(title.format(threshold=threshold, value=float(ds["threshold_value"].values)), 72)
    if chosen:
        title += "\n" + ", ".join(f"{d} = {_tick(v)}" for d, v in chosen.items())
    ax.set_title(title, fontsize=10)
    return ax
