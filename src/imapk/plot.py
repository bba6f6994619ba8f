"""Pictures of a result: the concentration curve, the troughs, thresholds and holds.

matplotlib is imported only when a plot is made.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_troughs"]

HOURS_PER_DAY = 24.0


def plot_troughs(ds, *, subject: int = 0, ax=None):
    """Plot one subject's concentration curve and troughs against the thresholds, holds shaded.

    Parameters
    ----------
    ds
        A result Dataset from :func:`imapk.simulate` or :func:`imapk.run_scenario`.
    subject
        Which subject to draw.
    ax
        Axes to draw on; a new figure is made if None.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(10, 4.5), layout="constrained")
    one = ds.isel(subject=subject)
    if one.sizes.get("time", 0):
        ax.plot(one["time"] / HOURS_PER_DAY + 1, one["concentration"], color="0.6", lw=0.8, label="concentration")
    day = one["dose_time"].values / HOURS_PER_DAY + 1
    ax.plot(day, one["trough"], "o", ms=2.5, color="C0", label="trough C(t-) at each scheduled dose")
    status = one["dose_status"].values
    held = status == "held"
    if held.any():
        edges = np.flatnonzero(np.diff(np.concatenate([[0], held.astype(int), [0]])))
        for first, stop in zip(edges[::2], edges[1::2]):
            ax.axvspan(day[first], day[stop - 1] + 1, color="C3", alpha=0.12, lw=0)
        ax.axvspan(np.nan, np.nan, color="C3", alpha=0.12, lw=0, label="hold")
    missed = status == "missed"
    if missed.any():
        ax.plot(day[missed], np.zeros(missed.sum()), "x", color="C3", label="missed dose")
    if "threshold" in ds.dims:
        for m, name in enumerate(ds["threshold"].values):
            value = float(ds["threshold_value"].values[m])
            style = "--" if ds["threshold_kind"].values[m] == "target" else ":"
            ax.axhline(value, ls=style, color=f"C{m + 1}", lw=1.2, label=f"{name}: {value:g} ng/mL")
    ax.set_xlabel("clinical day")
    ax.set_ylabel("imatinib plasma concentration [ng/mL]")
    ax.set_title(ds.attrs.get("title", ""), fontsize=10)
    ax.set_xlim(day[0], day[-1] + 1)
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    return ax
