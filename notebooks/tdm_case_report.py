# %% [markdown]
# # Measured troughs during the ladder: the patient's own parameters, and the next step
#
# The case report's patient restarted imatinib at 200 mg/d after the hold, went to 300 mg/d a week later,
# and was to return to 400 mg/d. Suppose two troughs were measured on the way (the levels in
# `scenarios/case-report-data.csv` are illustrative, not from the report). Under the Widmer 2006 model's
# priors, what are this patient's CL/F and V/F, how sure are we, and which daily dose reaches the GIST target
# of 1100 ng/mL?
#
# A [jupytext](https://jupytext.readthedocs.io) "percent" script: run it as a script or open it as a
# notebook. The test suite executes it.

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))
import matplotlib.pyplot as plt

from imapk.datasets import read_dataset
from imapk.tdm import map_estimate, patient_inputs, plan_next_step, summary_lines

ROOT = Path(__file__).resolve().parents[1] if "__file__" in globals() else Path.cwd().parent
FIGURES = Path(os.environ.get("IMAPK_FIGURES", ROOT / "docs" / "figures"))
FIGURES.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## The data set and the fit
#
# The data set holds the doses as given (holds have no dose records) and the two measured levels (MDV 0).
# `map_estimate` finds the posterior mode of the patient's random effects on the exact engine, with the
# model's residual error, and checks the Laplace intervals by importance sampling.

# %%
data = read_dataset(ROOT / "scenarios" / "case-report-data.csv")
patient = patient_inputs(data.subjects[0])
fit = map_estimate("widmer2006", patient.doses, patient.observations, covariates=patient.covariates, seed=1)
plan = plan_next_step(fit, target="gist", ceiling="toxicity_alarm")
print("\n".join(summary_lines(fit, plan, patient=patient.id, time_offset=patient.time_offset)))

# %% [markdown]
# ## The posterior trough curve
#
# The patient's troughs before every scheduled dose, with the 90 % interval from the parameters'
# uncertainty and the wider one a new measurement would fall in (residual error added). The two levels
# were drawn 12.5 h and 22.25 h after a dose, not at the trough: the fit uses them at their real times,
# so they sit above the trough curve. The held days have no scheduled dose, hence no trough points.

# %%
day = fit.trough_time / 24.0 + 1.0
fig, ax = plt.subplots(figsize=(10, 4.5), layout="constrained")
ax.fill_between(day, fit.trough_predictive_low, fit.trough_predictive_high, color="C0", alpha=0.12,
                label="90 % interval of a new measured trough")
ax.fill_between(day, fit.trough_low, fit.trough_high, color="C0", alpha=0.3, label="90 % interval of the trough")
ax.plot(day, fit.trough_median, color="C0", lw=1.5, label="posterior median trough")
ax.plot(fit.observations.time / 24.0 + 1.0, fit.observations.value, "o", color="C3", ms=6, label="measured level")
ax.axhline(1100, ls="--", color="0.3", lw=1, label="GIST target 1100 ng/mL")
ax.set_xlabel("clinical day")
ax.set_ylabel("trough concentration [ng/mL]")
ax.set_title(f"Patient {patient.id}: troughs under the Widmer 2006 prior, updated by two measured levels", fontsize=10)
ax.legend(fontsize=8, loc="upper left")
fig.savefig(FIGURES / "tdm-case-report.png", dpi=120)

# %% [markdown]
# ## The next step
#
# For each daily dose from 100 to 800 mg, the steady-state trough's posterior median and the probability
# of reaching the target; the plan recommends the lowest dose with at least an even chance of the target and
# at most a 10 % chance of the toxicity ceiling. With linear kinetics the trough is proportional to the dose,
# so the choice is about the patient's clearance, which the two levels have narrowed.
