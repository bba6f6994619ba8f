# %% [markdown]
# # How much does the answer depend on the published model?
#
# `scenarios/model-comparison.toml` gives one reference subject (70 kg, 55 y, male, GIST; typical values,
# no variability) 400 mg/d for 200 days, then the case-report hold and ladder, under every shipped
# population model. A jupytext "percent" script, executed by the test suite.

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))
import matplotlib.pyplot as plt
import numpy as np

import imapk

ROOT = Path(__file__).resolve().parents[1] if "__file__" in globals() else Path.cwd().parent
FIGURES = Path(os.environ.get("IMAPK_FIGURES", ROOT / "docs" / "figures"))
FIGURES.mkdir(parents=True, exist_ok=True)

ds = imapk.run_scenario(ROOT / "scenarios" / "model-comparison.toml")
steady = ds.trough.isel(subject=0).sel(dose=199)  # the trough before the day-201 dose
order = np.argsort(steady.values)
for name, value in zip(ds.model.values[order], steady.values[order]):
    print(f"{name:24s} {value:7.0f} ng/mL")

# %% [markdown]
# The steady-state trough of the same reference subject ranges about 2.4-fold between models. Models
# fitted on CML patients (lower exposure than in GIST at the same dose) are extrapolated here.

# %%
fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
ax.barh(np.asarray(ds.model.values)[order], steady.values[order], color="C0")
ax.axvline(1100, ls="--", color="C3", label="GIST target 1100 ng/mL")
ax.axvline(1000, ls=":", color="C1", label="CML target 1000 ng/mL")
ax.set_xlabel("steady-state trough at 400 mg/d, reference subject [ng/mL]")
ax.set_title(f"One patient, {ds.sizes['model']} published models", fontsize=10)
ax.legend(fontsize=8, loc="lower right")
fig.savefig(FIGURES / "model-comparison.png", dpi=110)
plt.show()  # in a notebook: the figure under this cell
plt.close("all")
