# %% [markdown]
# # The case report: continuous dosing, the hold, and the re-escalation ladder
#
# A GIST patient on imatinib 400 mg/d developed a grade 3 rash after 4 weeks; it was managed with an
# interruption of up to 2 weeks and a restart at 200 mg/d, 300 mg/d after 1 week and 400 mg/d after
# 9 weeks (see `scenarios/gist-rash-case-report.toml` for the reading of the paper). How much trough does
# each reading of the schedule cost against the 1100 ng/mL GIST target, for the typical Widmer 2006 patient?
#
# This notebook is a [jupytext](https://jupytext.readthedocs.io) "percent" script: run it as a script or
# open it as a notebook. The test suite executes it, so it cannot rot.

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))
import matplotlib.pyplot as plt

import imapk

ROOT = Path(__file__).resolve().parents[1] if "__file__" in globals() else Path.cwd().parent
FIGURES = Path(os.environ.get("IMAPK_FIGURES", ROOT / "docs" / "figures"))
FIGURES.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Four readings of the schedule

# %%
readings = {
    "continuous 400 mg/d": "gist-continuous-400.toml",
    "14-day hold, 400 mg 9 weeks after restart": "gist-rash-case-report.toml",
    "14-day hold, 400 mg 9 weeks after the 300 mg step": "gist-rash-case-report-400-after-300-step.toml",
    "holds of 3, 7 and 14 days": "gist-rash-three-holds.toml",
}
results = {label: imapk.run_scenario(ROOT / "scenarios" / name) for label, name in readings.items()}
for label, ds in results.items():
    gist = ds.sel(threshold="gist")
    print(
        f"{label:52s} troughs below 1100 ng/mL: {int(gist.trough_below_count.values[0]):3d} of "
        f"{int(gist.trough_count.values)}; time below {float(gist.time_below.values[0]) / 24:6.1f} d; "
        f"longest stretch {float(gist.longest_below.values[0]) / 24:5.1f} d"
    )

# %% [markdown]
# ## Trough curves
#
# With Widmer's typical values the steady-state trough at 400 mg/d is 732 ng/mL: the typical patient never
# reaches 1100 ng/mL, hold or no hold. The holds cost the held days plus the time the 200 and 300 mg steps
# keep the trough at about half and three quarters of its 400 mg level.

# %%
fig, ax = plt.subplots(figsize=(10, 4.5), layout="constrained")
for label, ds in results.items():
    ax.plot(ds.day, ds.trough.isel(subject=0), label=label, lw=1.5)
ax.axhline(1100, ls="--", color="0.3", lw=1, label="GIST target 1100 ng/mL")
ax.set_xlabel("clinical day")
ax.set_ylabel("trough concentration [ng/mL]")
ax.set_title("Typical Widmer 2006 patient: troughs under four readings of the case report", fontsize=10)
ax.set_xlim(1, 200)
ax.set_ylim(bottom=0)
ax.legend(fontsize=8, loc="lower right")
fig.savefig(FIGURES / "case-report-troughs.png", dpi=110)

# %% [markdown]
# ## The whole curve of the case report

# %%
from imapk.plot import plot_troughs

ax = plot_troughs(results["14-day hold, 400 mg 9 weeks after restart"])
ax.set_xlim(1, 140)
ax.figure.savefig(FIGURES / "case-report-curve.png", dpi=110)
plt.show()  # in a notebook: the figure under this cell
plt.close("all")
