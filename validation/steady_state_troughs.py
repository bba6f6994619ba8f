"""Steady-state troughs at 400 mg q24h under every shipped model, beside observed summaries.

Run from the repository root::

    PYTHONPATH=src python validation/steady_state_troughs.py            # writes docs/validation.md
    PYTHONPATH=src python validation/steady_state_troughs.py --n 500 --output /tmp/v.md
    PYTHONPATH=src python validation/steady_state_troughs.py --notes path/to/imatinib-literature.md  # check quotes

For every model in :data:`imapk.models.MODELS`: N subjects (default 2000) whose covariates are drawn
from ONE adult population (``POPULATION`` below, the same subjects for every model: common random
numbers), parameters with inter-individual variability (IIV) on, started at steady state on 400 mg
every 24 h (``SteadyState(400, 24)``, all occasion effects in force); the steady-state trough is the
first trough of the schedule (the concentration just before the dose at t = 0). The table is
reported, not asserted: it is a plausibility check of the models and of imapk against observed
trough summaries from the literature notes (section 4 of ``imatinib-literature.md``), which are
quoted verbatim in ``OBSERVED``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imapk import __version__, simulate
from imapk.covariates import COVARIATES, REFERENCE_SUBJECT
from imapk.models import MODELS, PopulationModel
from imapk.population import (
    CovariateDistribution,
    CovariateRangeWarning,
    draw_covariates,
    draw_parameters,
    observed,
)
from imapk.schedule import Phase, Schedule, SteadyState

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "docs" / "validation.md"

#: Subjects per model and seed of every draw.
N_SUBJECTS = 2000
SEED = 20061101
#: Dose [mg] and interval [h] of the steady state.
DOSE, INTERVAL = 400.0, 24.0
#: Trough levels reported as "% below". [ng/mL]
LEVELS = (1000.0, 1100.0)
#: A simulated mean within this fraction of an observed central value counts as a match.
MATCH_FRACTION = 0.15
#: A simulated "% below 1000" within this many percentage points of an observed one counts as a match.
MATCH_POINTS = 10.0

_SEX = CovariateDistribution("categorical", probabilities=(("male", 0.5), ("female", 0.5)))

#: The one adult population of every model (canonical units; disease is set per model).
POPULATION: dict[str, CovariateDistribution] = {
    "weight": CovariateDistribution("normal", mean=72.0, sd=15.0, low=40.0, high=120.0),
    "age": CovariateDistribution("normal", mean=58.0, sd=13.0, low=20.0, high=85.0),
    "sex": _SEX,
    "haemoglobin": CovariateDistribution("normal", mean=12.5, sd=1.5),
    "wbc": CovariateDistribution("lognormal", mean=7.0, sd=3.0),
    "rbc": CovariateDistribution("normal", mean=4.3, sd=0.5),
    "albumin": CovariateDistribution("normal", mean=38.0, sd=5.0),
    "agp": CovariateDistribution("lognormal", mean=1.0, sd=0.4),
    "egfr": CovariateDistribution("normal", mean=85.0, sd=20.0),
    "crcl": CovariateDistribution("normal", mean=90.0, sd=25.0),
    "liver_metastases": CovariateDistribution("fixed", value=0.0),
    "slc22a1_rs683369": CovariateDistribution("fixed", value=REFERENCE_SUBJECT["slc22a1_rs683369"]),
    "abcg2_rs2231142": CovariateDistribution("fixed", value=REFERENCE_SUBJECT["abcg2_rs2231142"]),
}

ASIAN_WORDS = ("Japanese", "Chinese", "Indian", "Iranian", "Korean", "Asian")
EUROPEAN_WORDS = ("Italian", "Lausanne", "EORTC", "French", "European")


@dataclass(frozen=True)
class Observed:
    """One row of section 4 of the literature notes, quoted verbatim, and how it is compared.

    `quantity`, `value`, `population`, `source` and `tag` are copied character for character from the
    notes. `mean`, `median`, `below_1000` and `cv` are this script's reading of `value` (at 400 mg),
    used only for the match table; `reading` says how it was read.
    """

    row: int
    quantity: str
    value: str
    population: str
    source: str
    tag: str
    disease: str  # "GIST", "CML" or "both"
    region: str  # "European", "Asian" or "not stated"
    mean: float | None = None
    median: float | None = None
    below_1000: float | None = None
    cv: float | None = None
    reading: str = ""


OBSERVED = (
    Observed(
        1, "SS peak / trough", "2.6 +/- 0.8 / 1.2 +/- 0.8 ug/mL", "400 mg qd, patients",
        "Peng 2005 Clin Pharmacokinet (abstract)", "C1", "both", "not stated",
        mean=1200.0, cv=67.0, reading="trough mean 1200 ng/mL, SD 800 (CV 67 %)",
    ),
    Observed(
        2, "SS trough", "0.57 ug/mL (~1 umol/L)", "350 mg qd, CML phase I",
        "Peng 2004 J Clin Oncol 22:935 (abstract)", "C1", "CML", "not stated",
        mean=570.0 * 400.0 / 350.0,
        reading="570 ng/mL at 350 mg, dose-normalised to 400 mg (linear PK): 651 ng/mL; statistic not stated",
    ),
    Observed(
        8, "Real-life GIST trough", "mean 868 +/- 536 ng/mL; inter-individual CV 75%, intra 26%",
        "GIST 400 mg, n=96", "Bouchet 2016 (abstract)", "C1", "GIST", "not stated",
        mean=868.0, cv=75.0, reading="mean 868 ng/mL, inter-individual CV 75 %",
    ),
    Observed(
        9, "Real-life CML troughs", "mean 1043 (median 876) ng/mL; 57% < 1000; inter-CV 64%, intra ~half",
        "France, 1044 pts, median 400 mg",
        "ASH 2008 abstract, Blood 112(11):3222 (French centralised TDM; authors not shown on page, "
        "Picard/Bouchet group = M)",
        "C1", "CML", "European", mean=1043.0, median=876.0, below_1000=57.0, cv=64.0,
        reading="mean 1043, median 876 ng/mL, 57 % below 1000, inter-CV 64 % (median dose 400 mg, so a mix of doses)",
    ),
    Observed(
        10, "Real-life CML", "61% below 1000 ng/mL; inter-CV 60%", "1216 pts",
        "Bouchet 2013 Fundam Clin Pharmacol (summary page)", "C1", "CML", "European",
        below_1000=61.0, cv=60.0,
        reading="61 % below 1000 ng/mL, inter-CV 60 % (French TDM, Bouchet; dose not stated)",
    ),
    Observed(
        15, "Chinese CML",
        "1325.6 +/- 583.5 (400 mg, n=36); 1550.9 +/- 462.6 (600 mg, n=10) ng/mL; women higher", "Chinese CML",
        "PMC4007812 (Acta Pharmacol Sin - M)", "C1", "CML", "Asian",
        mean=1325.6, cv=44.0, reading="mean 1325.6 ng/mL at 400 mg, SD 583.5 (CV 44 %)",
    ),
    Observed(
        16, "Troughs by dose band",
        "782 / 1132 / 1665 ng/mL for <400 / 400 / >400 mg; at progression 770 vs 1223 previously",
        "metastatic GIST, 24 pts, 96 samples", "Clin Sarcoma Res 2016, doi:10.1186/s13569-016-0062-2 (abstract)",
        "C1", "GIST", "not stated",
        mean=1132.0, reading="1132 ng/mL at 400 mg (statistic not stated; compared as a mean)",
    ),
    Observed(
        17, "Long-term GIST",
        "1171 +/- 573 -> 1370 +/- 661 ng/mL (FU ~13 mo), inter-CV 47.7% / intra 20.9%", "Korean GIST, n=58",
        'scilit abstract "Changes in imatinib plasma trough level during long-term treatment..."', "C1", "GIST",
        "Asian", mean=1171.0, cv=47.7,
        reading="mean 1171 ng/mL at the first measurement (1370 after ~13 months), inter-CV 47.7 %; dose not stated",
    ),
)
#: Row 21 of the notes: the Widmer 2006 base-model typical trough (tag D).
WIDMER_TYPICAL_NOTES = 732.0


def model_diseases(model: PopulationModel) -> tuple[str, ...]:
    """The indications named in the model's population text ('GIST', 'CML' or both)."""
    found = tuple(d for d in ("GIST", "CML") if d in model.population)
    return found or ("CML",)


def _region_in(text: str) -> str:
    for word in ASIAN_WORDS:
        if word in text:
            return f"Asian ({word})"
    for word in EUROPEAN_WORDS:
        if word in text:
            return f"European ({word})"
    return "not stated"


def model_region(model: PopulationModel) -> str:
    """Region named in the model's title or population text (or in those of a model with the same
    citation, e.g. the two Widmer 2006 entries), else "not stated"."""
    region = _region_in(f"{model.title} {model.population}")
    if region == "not stated":
        for other in MODELS.values():
            if other.citation == model.citation and other is not model:
                region = _region_in(f"{other.title} {other.population}")
                if region != "not stated":
                    break
    return region


@dataclass
class Run:
    model: PopulationModel
    disease: str  # disease covariate used, or "CML + GIST" when the model has no disease covariate
    diseases: tuple[str, ...]  # indications of the model's population
    region: str
    trough: np.ndarray  # SS trough per subject [ng/mL]
    trough_observed: np.ndarray  # with the model's residual error [ng/mL]
    typical: float  # SS trough of the reference subject at typical values [ng/mL]

    @property
    def indications(self) -> tuple[str, ...]:
        """The indications this run is compared with: the disease it was run with, else the model's."""
        return (self.disease,) if "disease" in self.model.covariates else self.diseases

    def compares_with(self, o: "Observed") -> bool:
        return o.disease == "both" or o.disease in self.indications

    @property
    def label(self) -> str:
        if "disease" in self.model.covariates:
            return f"{self.model.name} ({self.disease})"
        return self.model.name


def summary(trough: np.ndarray) -> dict:
    return {
        "mean": float(np.mean(trough)),
        "median": float(np.median(trough)),
        "p5": float(np.percentile(trough, 5)),
        "p95": float(np.percentile(trough, 95)),
        "cv": float(100.0 * np.std(trough, ddof=1) / np.mean(trough)),
        **{f"below_{level:g}": float(100.0 * np.mean(trough < level)) for level in LEVELS},
    }


def steady_state_schedule() -> Schedule:
    return Schedule(phases=(Phase(dose=DOSE, days=7),), steady_state=SteadyState(DOSE, INTERVAL))


def run_all(n: int, seed: int) -> tuple[list[Run], list[dict]]:
    """Simulate every model; return the runs and the fitted-range extrapolations caught."""
    schedule = steady_state_schedule()
    table = schedule.lower()
    on_therapy = table.steady_state.time_on_therapy  # None: every occasion effect in force
    subjects = np.arange(n)
    base = draw_covariates(POPULATION, seed, subjects)  # the same subjects for every model
    runs, extrapolations = [], []
    for model in MODELS.values():
        diseases = model_diseases(model)
        disease_levels = diseases if "disease" in model.covariates else (" + ".join(sorted(diseases)),)
        for disease in disease_levels:
            covariates = {**base, "disease": np.full(n, diseases[0] if " + " in disease else disease)}
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", CovariateRangeWarning)
                parameters = draw_parameters(
                    model, covariates, subjects, seed=seed, iiv=True, time_on_therapy_at_start=on_therapy
                )
            for warning in caught:
                if not issubclass(warning.category, CovariateRangeWarning):
                    warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
                    continue
                for name, (low, high) in model.fitted_ranges.items():
                    if name in str(warning.message).split(" outside")[0]:
                        values = np.asarray(covariates[name], dtype=float)
                        entry = {
                            "model": model.name, "covariate": name, "low": low, "high": high,
                            "below": int(np.sum(values < low)), "above": int(np.sum(values > high)),
                            "message": str(warning.message),
                        }
                        if entry not in extrapolations:
                            extrapolations.append(entry)
            trough = simulate(table, parameters)["trough"].values[:, 0]
            trough_obs = observed(trough[:, None], model.residual, seed, subjects)[:, 0]
            reference = {name: np.array([value]) for name, value in REFERENCE_SUBJECT.items()}
            if "disease" in model.covariates:
                reference["disease"] = np.array([disease])
            typical_params = draw_parameters(
                model, reference, np.arange(1), seed=None, iiv=False, time_on_therapy_at_start=on_therapy
            )
            typical = float(simulate(table, typical_params)["trough"].values[0, 0])
            runs.append(Run(model, disease, diseases, model_region(model), trough, trough_obs, typical))
    return runs, extrapolations


# -- markdown ------------------------------------------------------------------------------------


def ng(x: float) -> str:
    return f"{x:,.0f}"


def pct(x: float) -> str:
    return f"{x:.1f} %"


def describe(dist: CovariateDistribution, name: str) -> str:
    spec = COVARIATES[name]
    unit = f" {spec.unit}" if spec.unit else ""
    low, high = spec.plausible
    if dist.kind == "fixed":
        return f"fixed {dist.value}{unit}"
    if dist.kind == "categorical":
        return ", ".join(f"{level} {p:.0%}" for level, p in dist.probabilities)
    if dist.kind in ("normal", "lognormal"):
        lo = low if dist.low is None else max(low, dist.low)
        hi = high if dist.high is None else min(high, dist.high)
        trunc = f"truncated to {lo:g}-{hi:g}{unit}"
        if dist.low is None and dist.high is None:
            trunc += " (imapk's plausible range only)"
        what = "normal" if dist.kind == "normal" else "log-normal with"
        return f"{what} mean {dist.mean:g}{unit}, SD {dist.sd:g}{unit}, {trunc}"
    return f"uniform {dist.low:g}-{dist.high:g}{unit}"


def indication(run: Run) -> str:
    model = " + ".join(run.diseases)
    if "disease" in run.model.covariates:
        return f"{run.disease} (model fitted on {model})"
    return model


def observed_rows_for(run: Run) -> list[Observed]:
    return [o for o in OBSERVED if run.compares_with(o)]


def match_cell(run: Run, o: Observed) -> str:
    s = summary(run.trough)
    parts = []
    if o.mean is not None:
        diff = s["mean"] / o.mean - 1.0
        mark = " ✓" if abs(diff) <= MATCH_FRACTION else ""
        parts.append(f"{diff:+.0%}{mark}")
    if o.below_1000 is not None:
        diff = s["below_1000"] - o.below_1000
        mark = " ✓" if abs(diff) <= MATCH_POINTS else ""
        parts.append(f"{diff:+.0f} pp{mark}")
    return " / ".join(parts) if parts else "–"


def matches(run: Run, o: Observed) -> bool:
    s = summary(run.trough)
    ok = []
    if o.mean is not None:
        ok.append(abs(s["mean"] / o.mean - 1.0) <= MATCH_FRACTION)
    if o.below_1000 is not None:
        ok.append(abs(s["below_1000"] - o.below_1000) <= MATCH_POINTS)
    return bool(ok) and all(ok)


def names(runs: list[Run]) -> str:
    return ", ".join(f"`{r.label}`" for r in runs) if runs else "none"


def findings(runs: list[Run]) -> list[str]:
    """The paragraph on which models match which populations, from the numbers."""
    by_row = {o.row: [r for r in runs if r.compares_with(o) and matches(r, o)] for o in OBSERVED}
    gist = [r for r in runs if "GIST" in r.indications]
    cml = [r for r in runs if "CML" in r.indications]
    cvs = [o.cv for o in OBSERVED if o.cv is not None]
    asian = [r for r in runs if r.region.startswith("Asian")]
    european = [r for r in runs if r.region.startswith("European")]

    def span(rs):
        means = [summary(r.trough)["mean"] for r in rs]
        return f"{ng(min(means))}-{ng(max(means))}" if means else "–"

    def below(rs, value):
        return sum(summary(r.trough)["mean"] < value for r in rs)

    widmer = next((r for r in runs if r.model.name == "widmer2006"), None)
    lines = [
        "## Which models match which populations",
        "",
        f"A model *matches* an observed row when its simulated mean is within ±{MATCH_FRACTION:.0%} of the "
        f"observed central value and, where the row gives one, its % below 1000 ng/mL is within ±{MATCH_POINTS:g} "
        "percentage points (only models of the row's indication are compared). This is a coarse screen: the "
        "observed rows are small, differently sampled cohorts, and the simulated population is one assumed "
        "adult population for every model.",
        "",
        f"- **GIST** (simulated means of GIST models {span(gist)} ng/mL). Real-life GIST, Bouchet 2016 "
        f"(row 8, mean 868): {names(by_row[8])}. Metastatic GIST at 400 mg (row 16, 1132): {names(by_row[16])}. "
        f"Korean GIST (row 17, 1171 at first measurement): {names(by_row[17])}.",
        f"- **CML, European real-life TDM** (rows 9 and 10, France: mean 1043 with 57 % below 1000; 61 % below "
        f"1000). Row 9: {names(by_row[9])}. Row 10: {names(by_row[10])}. Simulated means of CML models: "
        f"{span(cml)} ng/mL.",
        f"- **CML, Asian** (row 15, Chinese CML, mean 1325.6 at 400 mg): {names(by_row[15])}. The models fitted "
        f"on Asian patients ({names(asian)}) give means of {span(asian)} ng/mL; those fitted on European cohorts "
        f"({names(european)}) {span(european)} ng/mL.",
        f"- **Mixed / early data** (row 1, Peng 2005, mean 1200 at 400 mg): {names(by_row[1])}. Row 2 (Peng 2004, "
        f"0.57 ug/mL at 350 mg, i.e. 651 ng/mL at 400 mg if linear): {names(by_row[2])}.",
    ]
    if widmer is not None:
        s = summary(widmer.trough)
        lines += [
            f"- **Widmer 2006.** The notes file's typical trough for the Widmer base model is "
            f"{WIDMER_TYPICAL_NOTES:g} ng/mL (row 21, tag D: closed-form superposition with CL 14.3 L/h, V 347 L, "
            f"ka 0.609 1/h; nlmixr2lib 732.1). imapk's typical trough for `widmer2006` is {widmer.typical:.1f} "
            f"ng/mL; with IIV the population median is {ng(s['median'])} and the mean {ng(s['mean'])} ng/mL "
            f"({pct(s['below_1000'])} below 1000): below the observed central value of rows "
            f"{', '.join(str(o.row) for o in OBSERVED if o.mean is not None and o.mean > s['mean']) or 'none'}, above "
            f"that of rows {', '.join(str(o.row) for o in OBSERVED if o.mean is not None and o.mean <= s['mean']) or 'none'}.",
        ]
    lines += [
        "",
        "Reading. Simulated troughs here are true concentrations of fully adherent patients sampled exactly "
        "24 h after the dose: observed TDM summaries also carry assay and intra-individual variability, "
        "sampling-time deviations, non-adherence and dose changes, so observed spreads "
        f"(CV {min(cvs):.0f}-{max(cvs):.0f} % in the rows that give one) are expected to be wider than the simulated CV without residual error; the second table adds each model's "
        f"residual error. Of the {len(european)} European-fitted model runs, {below(european, 1043.0)} have a mean "
        f"below the French CML mean (1043) and {below(european, 1325.6)} below the Chinese CML mean (1325.6); of "
        f"the {len(asian)} Asian-fitted ones, {below(asian, 1043.0)} and {below(asian, 1325.6)}. The Bouchet 2016 GIST "
        "real-life mean (868, row 8) is lower than the Korean GIST mean (1171, row 17); whether such gaps reflect "
        "body size, AGP, adherence, sampling or assay differences cannot be told from these summaries.",
        "",
    ]
    return lines


def render(runs: list[Run], extrapolations: list[dict], n: int, seed: int, seconds: float) -> str:
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    used = {name for r in runs for name in r.model.covariates}
    lines = [
        "# Validation: steady-state troughs at 400 mg q24h against observed summaries",
        "",
        f"Generated by `PYTHONPATH=src python validation/steady_state_troughs.py` on {when} (imapk "
        f"{__version__}, {n:,} subjects per model, seed {seed}, {seconds:.1f} s). Reported, not asserted: "
        "nothing here is a test. Regenerate after changing a model.",
        "",
        "## What is simulated",
        "",
        f"- Every model in `imapk.models.MODELS` ({len(MODELS)} models), {n:,} subjects each, IIV on (each "
        "model's omega, log-normal), no inter-occasion variability.",
        "- Schedule: `Schedule(phases=(Phase(dose=400, days=7),), steady_state=SteadyState(400, 24))`. The "
        "steady-state trough is the first trough (the concentration just before the dose at t = 0, 24 h after "
        "the previous 400 mg dose of the infinite train).",
        "- Occasion effects: `SteadyState.time_on_therapy` is None, so every occasion effect is in force "
        "(`draw_parameters(..., time_on_therapy_at_start=None)`): Schmidli 2005's day-29 CL and V and Demetri "
        "2009's day-29 V apply.",
        "- Main table: true concentrations (no residual error). Second table: the same troughs with each model's "
        "residual error (`imapk.population.observed`: C (1 + prop e1) + add e2, clipped at 0), as a simulated "
        "*measured* trough.",
        "- Typical trough: the reference subject (`imapk.covariates.REFERENCE_SUBJECT`: 70 kg, 55 y, male, "
        "Hb 13 g/dL, WBC 7, RBC 4.5, albumin 38 g/L, AGP 0.9 g/L, eGFR and CrCl 90, reference genotypes) at "
        "typical values, same schedule.",
        "",
        "## Assumptions: the one adult population",
        "",
        "Every model sees the same subjects (covariates drawn once from the streams of `seed`: common random "
        "numbers). These distributions are assumptions of this validation, not data from any one study.",
        "",
        "| covariate | distribution (assumed) | used by |",
        "| --- | --- | --- |",
    ]
    for name, dist in POPULATION.items():
        users = [r.model.name for r in runs if name in r.model.covariates]
        users = sorted(set(users))
        lines.append(f"| {name} | {describe(dist, name)} | {', '.join(users) if users else '(no model)'} |")
    lines.append(
        "| disease | fixed per model from its population text: \"GIST\" for GIST models, \"CML\" for CML models; "
        "`widmer2006_covariates` (CML and GIST) is run twice, once with each | "
        + ", ".join(sorted({r.model.name for r in runs if 'disease' in r.model.covariates})) + " |"
    )
    unused = sorted(set(COVARIATES) - set(POPULATION) - {"disease"})
    if unused:
        lines.append(f"| {', '.join(unused)} | not drawn | – |")
    lines += [
        "",
        "Notes: sex 50/50 is drawn as a categorical covariate; genotypes are the reference ones "
        f"(SLC22A1 rs683369 {REFERENCE_SUBJECT['slc22a1_rs683369']}, ABCG2 rs2231142 "
        f"{REFERENCE_SUBJECT['abcg2_rs2231142']}); liver metastases 0 cm^3. Normal and log-normal draws are also "
        "truncated to imapk's plausible range of the covariate. Covariates a model does not use are drawn but "
        "ignored by it"
        + (f" (used by at least one model: {', '.join(sorted(used))})." if used else "."),
        "",
        "## Fitted-range extrapolations",
        "",
    ]
    if extrapolations:
        lines += [
            "`draw_parameters` warns (`CovariateRangeWarning`) when covariates lie outside the range a model was "
            "fitted on. The warnings were caught; these models extrapolated:",
            "",
            "| model | covariate | fitted range | subjects below | subjects above | warning |",
            "| --- | --- | --- | ---: | ---: | --- |",
        ]
        for e in extrapolations:
            unit = COVARIATES[e["covariate"]].unit or ""
            lines.append(
                f"| {e['model']} | {e['covariate']} | {e['low']:g}-{e['high']:g} {unit} | {e['below']} | "
                f"{e['above']} | {e['message']} |"
            )
        lines += [
            "",
            "Models without declared fitted ranges cannot warn: their covariate ranges are not in the sources "
            "read, so every model may be extrapolating somewhere (e.g. `petain2008` was fitted on children and "
            "adults pooled).",
            "",
        ]
    else:
        lines += ["No `CovariateRangeWarning` fired.", ""]

    lines += [
        "## Simulated steady-state troughs (ng/mL, true concentrations)",
        "",
        "| model | indication | region (from the model's text) | typical trough | mean | median | P5-P95 | "
        "% < 1000 | % < 1100 | CV |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in runs:
        s = summary(r.trough)
        lines.append(
            f"| `{r.label}` | {indication(r)} | {r.region} | {ng(r.typical)} | {ng(s['mean'])} | "
            f"{ng(s['median'])} | {ng(s['p5'])}-{ng(s['p95'])} | {pct(s['below_1000'])} | {pct(s['below_1100'])} | "
            f"{s['cv']:.0f} % |"
        )
    lines += [
        "",
        "### With each model's residual error (simulated measured troughs)",
        "",
        "| model | residual error | mean | median | P5-P95 | % < 1000 | % < 1100 | CV |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in runs:
        s = summary(r.trough_observed)
        res = r.model.residual
        text = " + ".join(
            part for part in (
                f"{res.proportional:.1%} prop." if res.proportional else "",
                f"{res.additive:g} ng/mL add." if res.additive else "",
            ) if part
        ) or "none"
        lines.append(
            f"| `{r.label}` | {text} | {ng(s['mean'])} | {ng(s['median'])} | {ng(s['p5'])}-{ng(s['p95'])} | "
            f"{pct(s['below_1000'])} | {pct(s['below_1100'])} | {s['cv']:.0f} % |"
        )
    lines += [
        "",
        "## Observed summaries (literature notes, section 4)",
        "",
        "Quoted verbatim from `imatinib-literature.md` section 4 (rows 1, 2, 8, 9, 10, 15, 16, 17), with the "
        "notes' confidence tags (C1: read in the primary source's own text; M inside a source cell: that part "
        "from memory). The last column is this script's reading, used for the match table.",
        "",
        "| # | quantity | value | population / dose | source | tag | read as |",
        "| ---: | --- | --- | --- | --- | --- | --- |",
    ]
    for o in OBSERVED:
        lines.append(
            f"| {o.row} | {o.quantity} | {o.value} | {o.population} | {o.source} | {o.tag} | {o.reading} |"
        )
    lines += [
        "",
        "## Match table: simulated mean vs observed",
        "",
        "Relative difference of the simulated mean from the observed central value (and, for rows 9 and 10, the "
        "difference in % below 1000 ng/mL, in percentage points); ✓ marks a match (see below). Rows of the other "
        "indication are left blank.",
        "",
        "| model | " + " | ".join(f"row {o.row}" for o in OBSERVED) + " |",
        "| --- | " + " | ".join("---:" for _ in OBSERVED) + " |",
    ]
    for r in runs:
        cells = [match_cell(r, o) if r.compares_with(o) else "" for o in OBSERVED]
        lines.append(f"| `{r.label}` | " + " | ".join(cells) + " |")
    lines += [""]
    lines += findings(runs)
    lines += [
        "## Per model: simulated beside observed",
        "",
        "Each table puts the model's simulated steady-state trough summary beside the observed rows of its "
        "indication (row 1, mixed patients, beside every model). Observed values are quoted verbatim.",
        "",
    ]
    for r in runs:
        s = summary(r.trough)
        lines += [
            f"### `{r.label}`",
            "",
            f"{r.model.title}. Population: {r.model.population}.",
            "",
            "| | value | population / dose | source | tag |",
            "| --- | --- | --- | --- | --- |",
            f"| simulated | mean **{ng(s['mean'])}**, median {ng(s['median'])}, P5-P95 {ng(s['p5'])}-{ng(s['p95'])} "
            f"ng/mL; {pct(s['below_1000'])} < 1000, {pct(s['below_1100'])} < 1100; CV {s['cv']:.0f} %; typical "
            f"(reference subject) {ng(r.typical)} | {n:,} simulated adults ({r.disease}), 400 mg q24h at steady "
            f"state | this script | simulated |",
        ]
        for o in observed_rows_for(r):
            lines.append(f"| observed #{o.row} | {o.value} | {o.population} | {o.source} | {o.tag} |")
        lines.append("")
    return "\n".join(lines)


def check_quotes(notes: Path) -> None:
    """Check that OBSERVED quotes the rows of section 4 of the literature notes character for character."""
    cells_by_row = {}
    for line in notes.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0].isdigit():
            cells_by_row[int(cells[0])] = cells
    for o in OBSERVED:
        cells = cells_by_row.get(o.row)
        expected = [str(o.row), o.quantity, o.value, o.population, o.source, o.tag]
        if cells is None or cells[:6] != expected:
            sys.exit(f"row {o.row} of OBSERVED does not quote {notes} exactly:\n  {cells}\n  {expected}")
    print(f"OBSERVED quotes rows {', '.join(str(o.row) for o in OBSERVED)} of {notes} exactly")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=N_SUBJECTS, help="subjects per model (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=SEED, help="seed (default: %(default)s)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="markdown to write (default: %(default)s)")
    parser.add_argument("--notes", type=Path, help="literature notes (imatinib-literature.md): check the quotes against it")
    args = parser.parse_args(argv)
    if args.notes:
        check_quotes(args.notes)
    start = time.perf_counter()
    runs, extrapolations = run_all(args.n, args.seed)
    seconds = time.perf_counter() - start
    text = render(runs, extrapolations, args.n, args.seed, seconds)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    for r in runs:
        s = summary(r.trough)
        print(
            f"{r.label:32s} typical {r.typical:7.1f}  mean {s['mean']:7.0f}  median {s['median']:7.0f}  "
            f"P5-P95 {s['p5']:5.0f}-{s['p95']:5.0f}  <1000 {s['below_1000']:5.1f} %  <1100 {s['below_1100']:5.1f} %"
        )
    for e in extrapolations:
        print(f"extrapolation: {e['message']}")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
