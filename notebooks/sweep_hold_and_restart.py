# %% [markdown]
# # A sweep: hold length x restart dose
#
# A small version of `scenarios/sweep-hold-and-restart.toml` (fewer patients and one model, so that it
# runs in seconds): how many days below the GIST target does each combination of hold length and first
# restart dose cost, on average over the population? A jupytext "percent" script, executed by the tests.

# %%
import os
import shutil
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))
import matplotlib.pyplot as plt
import numpy as np

from imapk.sweep import load_sweep, open_sweep, run_sweep

ROOT = Path(__file__).resolve().parents[1] if "__file__" in globals() else Path.cwd().parent
FIGURES = Path(os.environ.get("IMAPK_FIGURES", ROOT / "docs" / "figures"))
FIGURES.mkdir(parents=True, exist_ok=True)

text = (ROOT / "scenarios" / "sweep-hold-and-restart.toml").read_text()
text = text.replace("size = 1000", "size = 100").replace("subjects_per_chunk = 1000", "subjects_per_chunk = 100")
text = text.replace('values = ["widmer2006_covariates", "schmidli2005"]', 'values = ["widmer2006_covariates"]')
work = Path(tempfile.mkdtemp())
(work / "sweep.toml").write_text(text)
run_sweep(load_sweep(work / "sweep.toml"), work / "sweep.zarr", progress=False)
ds = open_sweep(work / "sweep.zarr").isel(parameter_set=0).sel(threshold="gist")

# %%
days_below = ds.mean_time_below.values / 24.0  # (hold_length, restart_dose)
fig, ax = plt.subplots(figsize=(6.5, 4.5), layout="constrained")
image = ax.imshow(days_below.T, origin="lower", aspect="auto", cmap="viridis")
ax.set_xticks(range(ds.sizes["hold_length"]), [f"{v:g}" for v in ds.hold_length.values])
ax.set_yticks(range(ds.sizes["restart_dose"]), [f"{v:g}" for v in ds.restart_dose.values])
ax.set_xlabel("hold length [d]")
ax.set_ylabel("first restart dose [mg]")
fig.colorbar(image, ax=ax, label="mean time below 1100 ng/mL, days 29-180 [d]")
ax.set_title("Cost of the hold and the restart dose (Widmer 2006, 100 GIST patients)", fontsize=9)
fig.savefig(FIGURES / "sweep-hold-and-restart.png", dpi=110)
plt.show()  # in a notebook: the figure under this cell
plt.close("all")
print(np.round(days_below, 1))
shutil.rmtree(work)
