"""Steady-state troughs at 400 mg q24h under every registered model, beside observed summaries.

Run from the repository root::

    PYTHONPATH=src python validation/steady_state_troughs.py            # writes docs/validation.md
    PYTHONPATH=src python validation/steady_state_troughs.py --n 500 --output v.md
    PYTHONPATH=src python validation/steady_state_troughs.py --notes path/to/imatinib-literature.md  # check quotes

For every model in :data:`imapk.models.MODELS`, variants included: N subjects (default 2000) whose
covariates are drawn from ONE adult population (``POPULATION`` below, the same subjects for every
model: common random numbers), parameters with inter-individual variability (IIV) on, started at
steady state on 400 mg every 24 h long after the start of therapy (``SteadyState(400, 24)`` with
``time_on_therapy_at_start=None``: every occasion effect in force, every change with time on
therapy over). Models whose absorption rate or clearance changes continuously with time on therapy
run on the ODE path (``method="ode"``, ``variation=model.time_variation``), the others on the exact
path. The steady-state trough is the first trough of the schedule (the concentration just before
the dose at t = 0).

Beside it: simulated assay values with each model's residual error in its published form, never
clipped (the share below 0 ng/mL is reported as censored); for models with occasion effects the
typical day-29 trough under each occasion timing; for variants the typical-trough difference from
their main model; for time-varying models the typical trough over the first year.

The documentation build runs it too (``docs/_generators/validation.py``, through :func:`write_report`),
so ``docs/validation.md`` is regenerated with the models of the registry at every build; the text has
no date and no timing, and the file is rewritten only when it changes.

The report is reported, not asserted: it is a plausibility check of the models and of imapk against
observed trough summaries from the literature notes (section 4 of ``imatinib-literature.md``),
which are quoted verbatim in ``OBSERVED``. ``tests/test_validation_report.py`` checks that the
report, and the committed ``docs/validation.md``, name every registered model.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from imapk import __version__, simulate
from imapk.covariates import COVARIATES, REFERENCE_SUBJECT
from imapk.model_summary import VariantDifference, occasion_timing_troughs, typical_trough, variant_differences
from imapk.models import MODELS, PopulationModel
from imapk.population import (
    OCCASION_TIMINGS,
    CovariateDistribution,
    CovariateRangeWarning,
    draw_covariates,
    draw_parameters,
    observed,
    occasion_onset_days,
)
from imapk.schedule import Phase, Schedule, SteadyState
from imapk.simulation import LONG_TIME_ON_THERAPY

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
#: Clinical day of the occasion-timing comparison (the second occasion's sampling day of Schmidli 2005
#: and Demetri 2009).
OCCASION_DAY = 29
#: Days of therapy at which the typical trough of a model with time-varying rates or F is shown.
TIME_COURSE_DAYS = (2, 29, 90, 180, 365)
#: Quantification limit of the simulated assay values: 0, so only negative values are censored. [ng/mL]
QUANTIFICATION_LIMIT = 0.0

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
    """Region named in the model's title or population text, else in those of its main model or of a
    model with the same citation (e.g. the two Widmer 2006 entries), else "not stated"."""
    region = _region_in(f"{model.title} {model.population}")
    if region != "not stated":
        return region
    related = [MODELS[model.variant_of]] if model.variant_of in MODELS else []
    related += [m for m in MODELS.values() if m.citation == model.citation and m is not model]
    for other in related:
        region = _region_in(f"{other.title} {other.population}")
        if region != "not stated":
            return region
    return "not stated"


def method_of(model: PopulationModel) -> str:
    """"ode" for a model whose ka or CL changes continuously with time on therapy, else "exact"."""
    return "ode" if model.time_variation.needs_ode else "exact"


def time_varying(model: PopulationModel) -> bool:
    """True if any of ka, CL or F changes with time on therapy."""
    tv = model.time_variation
    return not (tv.ka.constant and tv.cl.constant and tv.f.constant)


def planned_runs(models: Iterable[PopulationModel]) -> list[tuple[PopulationModel, str]]:
    """(model, disease) of every run: one per model, one per indication for a model with a disease
    covariate ("CML + GIST" as the disease label of a model without one fitted on both)."""
    plan = []
    for model in models:
        diseases = model_diseases(model)
        levels = diseases if "disease" in model.covariates else (" + ".join(sorted(diseases)),)
        plan += [(model, disease) for disease in levels]
    return plan


@dataclass
class Run:
    model: PopulationModel
    disease: str  # disease covariate used, or "CML + GIST" when the model has no disease covariate
    diseases: tuple[str, ...]  # indications of the model's population
    region: str
    method: str  # "exact" or "ode"
    trough: np.ndarray  # SS trough per subject [ng/mL]
    trough_observed: np.ndarray  # with the model's residual error, unclipped [ng/mL]
    censored: np.ndarray  # trough_observed below QUANTIFICATION_LIMIT
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

    @property
    def cell(self) -> str:
        """The model cell of a table: the label, and the main model of a variant."""
        main = f" (variant of `{self.model.variant_of}`)" if self.model.variant_of else ""
        return f"`{self.label}`{main}"


@dataclass
class Report:
    """Everything the markdown shows."""

    models: tuple[PopulationModel, ...]  # the models run (every registered model by default)
    runs: list[Run]
    extrapolations: list[dict]
    occasion_troughs: dict[str, dict[str, float]]  # model -> occasion timing or "plateau" -> typical trough
    variants: list[VariantDifference]
    time_courses: dict[str, dict[int, float]]  # model -> day of therapy -> typical trough (plateau separately)
    therapy_factors: dict[str, dict[str, float]]  # model -> factor name -> value - 1 at the steady-state start


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


def _reference(model: PopulationModel, disease: str) -> dict:
    reference = dict(REFERENCE_SUBJECT)
    if "disease" in model.covariates:
        reference["disease"] = disease
    return reference


def _catch_extrapolations(model, covariates, caught, extrapolations: list[dict]) -> None:
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


def run_all(n: int, seed: int, models: Iterable[PopulationModel] | None = None) -> tuple[list[Run], list[dict]]:
    """Simulate every model (default: every registered one); return the runs and the fitted-range
    extrapolations caught."""
    models = tuple(MODELS.values()) if models is None else tuple(models)
    table = steady_state_schedule().lower()
    on_therapy = table.steady_state.time_on_therapy  # None: every occasion effect in force
    subjects = np.arange(n)
    base = draw_covariates(POPULATION, seed, subjects)  # the same subjects for every model
    runs, extrapolations = [], []
    for model, disease in planned_runs(models):
        diseases = model_diseases(model)
        covariates = {**base, "disease": np.full(n, diseases[0] if " + " in disease else disease)}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CovariateRangeWarning)
            parameters = draw_parameters(
                model, covariates, subjects, seed=seed, iiv=True, time_on_therapy_at_start=on_therapy
            )
        _catch_extrapolations(model, covariates, caught, extrapolations)
        method = method_of(model)
        # time_on_therapy_at_start=None with a steady-state start: simulate uses LONG_TIME_ON_THERAPY.
        result = simulate(table, parameters, method=method, variation=model.time_variation,
                          time_on_therapy_at_start=None, quantiles=(), as_dataset=False)
        trough = result["trough"].values[:, 0]
        trough_obs, censored = observed(trough[:, None], model.residual, seed, subjects,
                                        quantification_limit=QUANTIFICATION_LIMIT)
        typical = typical_trough(model, covariates=_reference(model, disease))
        runs.append(Run(model, disease, diseases, model_region(model), method, trough, trough_obs[:, 0],
                        censored[:, 0], typical))
    return runs, extrapolations


def plateau_factors(model: PopulationModel) -> dict[str, float]:
    """g - 1 of each time factor (ka, CL, F) over the steady-state train before t = 0, at the time on
    therapy `simulate` uses for a steady-state start (the train's first dose is taken as 1 interval
    before t = 0, where the factors are largest): 0 means the plateau is the model's asymptote.

    Raises
    ------
    RuntimeError
        If the typical plateau trough with an explicit ``time_on_therapy_at_start=LONG_TIME_ON_THERAPY``
        differs from the one with None (i.e. `simulate` no longer uses that value).
    """
    tv = model.time_variation
    tau = np.array([LONG_TIME_ON_THERAPY - INTERVAL])
    factors = {name: float(getattr(tv, name)(tau)[0] - 1.0) for name in ("ka", "cl", "f")}
    arrays = {name: np.array([REFERENCE_SUBJECT[name]]) for name in model.covariates}
    params = draw_parameters(model, arrays, np.arange(1), seed=None, iiv=False, time_on_therapy_at_start=None)
    schedule = Schedule(phases=(Phase(dose=DOSE, days=1),), steady_state=SteadyState(DOSE, INTERVAL))
    troughs = [
        simulate(schedule, params, method=method_of(model), variation=tv, time_on_therapy_at_start=start,
                 quantiles=(), as_dataset=False)["trough"].values[0, 0]
        for start in (None, LONG_TIME_ON_THERAPY)
    ]
    if troughs[0] != troughs[1]:
        raise RuntimeError(f"{model.name}: a steady-state start with time_on_therapy_at_start=None no longer uses "
                           f"{LONG_TIME_ON_THERAPY:g} h ({troughs[0]} vs {troughs[1]} ng/mL)")
    return factors


def collect(n: int, seed: int, models: Iterable[PopulationModel] | None = None) -> Report:
    """Every number of the report: the population runs and the typical troughs beside them."""
    models = tuple(MODELS.values()) if models is None else tuple(models)
    runs, extrapolations = run_all(n, seed, models)
    names_run = {m.name for m in models}
    occasions = {m.name: occasion_timing_troughs(m, day=OCCASION_DAY) for m in models if m.occasion_days}
    mains = []  # main models of the variants run (a variant's main model even when only the variant is run)
    for m in models:
        main = m.variant_of or m.name
        if main not in mains and any(v.variant_of == main for v in MODELS.values()):
            mains.append(main)
    variants = [d for main in mains for d in variant_differences(MODELS[main]) if d.name in names_run]
    courses = {m.name: {day: typical_trough(m, day=day) for day in TIME_COURSE_DAYS} for m in models if time_varying(m)}
    factors = {m.name: plateau_factors(m) for m in models if time_varying(m)}
    return Report(models, runs, extrapolations, occasions, variants, courses, factors)


# -- markdown ------------------------------------------------------------------------------------


def ng(x: float) -> str:
    return f"{x:,.0f}"


def pct(x: float) -> str:
    return f"{x:.1f} %"


def rel(x: float, digits: int = 0) -> str:
    """A signed relative difference ("+9 %"); one that rounds to zero is "±0 %", never "-0 %"."""
    text = f"{x * 100.0:+.{digits}f}"
    return ("±" + text[1:] if float(text) == 0.0 else text) + " %"


def residual_text(model: PopulationModel) -> str:
    """The residual error in its published form, e.g. "combined: proportional 26 % + additive 249 ng/mL"."""
    res = model.residual
    return res.describe() if res.form == "exponential" else f"{res.form}: {res.describe()}"


def interval(low: float, high: float) -> str:
    """A P5-P95 cell ("-120 to 2,587": a negative P5 must not read as a range dash)."""
    return f"{ng(low)} to {ng(high)}"


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
    return ", ".join(f"`{r.label}`" + (" (variant)" if r.model.variant_of else "") for r in runs) if runs else "none"


def model_list(models: Iterable[PopulationModel]) -> str:
    return ", ".join(f"`{m.name}`" for m in models) or "none"


def listed_models(text: str) -> set[str]:
    """Names of the models with a row in the main table of a report (the one of true concentrations)."""
    match = re.search(r"^## Simulated steady-state troughs.*?$(.*?)^#", text, re.M | re.S)
    if match is None:
        return set()
    return set(re.findall(r"^\| `([A-Za-z0-9_]+)[` ]", match.group(1), re.M))


def findings(report: Report) -> list[str]:
    """The paragraph on which models match which populations, from the numbers."""
    runs = report.runs
    by_row = {o.row: [r for r in runs if r.compares_with(o) and matches(r, o)] for o in OBSERVED}
    gist = [r for r in runs if "GIST" in r.indications]
    cml = [r for r in runs if "CML" in r.indications]
    cvs = [o.cv for o in OBSERVED if o.cv is not None]
    mains = [r for r in runs if not r.model.variant_of]
    asian = [r for r in mains if r.region.startswith("Asian")]
    european = [r for r in mains if r.region.startswith("European")]
    unmatched = [r for r in runs if not any(matches(r, o) for o in observed_rows_for(r))]

    def span(rs):
        means = [summary(r.trough)["mean"] for r in rs]
        return f"{ng(min(means))}-{ng(max(means))}" if means else "–"

    def below(rs, value):
        return sum(summary(r.trough)["mean"] < value for r in rs)

    def rows(condition) -> str:
        found = [str(o.row) for o in OBSERVED if o.mean is not None and condition(o.mean)]
        return f"row{'s' if len(found) > 1 else ''} {', '.join(found)}" if found else "no row"

    widmer = next((r for r in runs if r.model.name == "widmer2006"), None)
    lines = [
        "## Which models match which populations",
        "",
        f"A model *matches* an observed row when its simulated mean is within ±{MATCH_FRACTION:.0%} of the "
        f"observed central value and, where the row gives one, its % below 1000 ng/mL is within ±{MATCH_POINTS:g} "
        "percentage points (only models of the row's indication are compared). This is a coarse screen: the "
        "observed rows are small, differently sampled cohorts, and the simulated population is one assumed "
        "adult population for every model. Variants are marked; they are readings of their main model's "
        "publication, not further evidence.",
        "",
        f"- **GIST** (simulated means of GIST models {span(gist)} ng/mL). Real-life GIST, Bouchet 2016 "
        f"(row 8, mean 868): {names(by_row[8])}. Metastatic GIST at 400 mg (row 16, 1132): {names(by_row[16])}. "
        f"Korean GIST (row 17, 1171 at first measurement): {names(by_row[17])}.",
        f"- **CML, European real-life TDM** (rows 9 and 10, France: mean 1043 with 57 % below 1000; 61 % below "
        f"1000). Row 9: {names(by_row[9])}. Row 10: {names(by_row[10])}. Simulated means of CML models: "
        f"{span(cml)} ng/mL.",
        f"- **CML, Asian** (row 15, Chinese CML, mean 1325.6 at 400 mg): {names(by_row[15])}. The main models "
        f"fitted on Asian patients ({names(asian)}) give means of {span(asian)} ng/mL; those fitted on European "
        f"cohorts ({names(european)}) {span(european)} ng/mL.",
        f"- **Mixed / early data** (row 1, Peng 2005, mean 1200 at 400 mg): {names(by_row[1])}. Row 2 (Peng 2004, "
        f"0.57 ug/mL at 350 mg, i.e. 651 ng/mL at 400 mg if linear): {names(by_row[2])}.",
        f"- **No match with any observed row of their indication**: {names(unmatched)}"
        + (
            " (" + "; ".join(
                f"`{r.label}` mean {ng(summary(r.trough)['mean'])}, "
                f"{pct(summary(r.trough)['below_1000'])} below 1000" for r in unmatched
            ) + ")."
            if unmatched else "."
        ),
    ]
    for name, course in report.time_courses.items():
        run = next(r for r in runs if r.model.name == name)
        highest = max(course.values())
        lines.append(
            f"- **`{name}`: exposure that falls with time on therapy.** Typical trough "
            + ", ".join(f"day {day} {ng(value)}" for day, value in course.items())
            + f", plateau {ng(run.typical)} ng/mL. Every table here shows the plateau, the model's lowest "
            "steady-state exposure; "
            f"troughs in the first months of therapy are up to {highest / run.typical - 1.0:.0%} higher for the "
            "same patient, so a cohort sampled in its first months (the observed rows mix times on therapy) "
            "should sit above the plateau."
        )
    if widmer is not None:
        s = summary(widmer.trough)
        lines += [
            f"- **Widmer 2006.** The notes file's typical trough for the Widmer base model is "
            f"{WIDMER_TYPICAL_NOTES:g} ng/mL (row 21, tag D: closed-form superposition with CL 14.3 L/h, V 347 L, "
            f"ka 0.609 1/h; nlmixr2lib 732.1). imapk's typical trough for `widmer2006` is {widmer.typical:.1f} "
            f"ng/mL; with IIV the population median is {ng(s['median'])} and the mean {ng(s['mean'])} ng/mL "
            f"({pct(s['below_1000'])} below 1000): below the observed central value of "
            f"{rows(lambda mean: mean > s['mean'])}, above that of {rows(lambda mean: mean <= s['mean'])}.",
        ]
    lines += [
        "",
        "Reading. Simulated troughs here are true concentrations of fully adherent patients sampled exactly "
        "24 h after the dose: observed TDM summaries also carry assay and intra-individual variability, "
        "sampling-time deviations, non-adherence and dose changes, so observed spreads "
        f"(CV {min(cvs):.0f}-{max(cvs):.0f} % in the rows that give one) are expected to be wider than the simulated "
        "CV without residual error; the second table adds each model's residual error. "
        f"Of the {len(european)} European-fitted main-model runs, {below(european, 1043.0)} have a mean "
        f"below the French CML mean (1043) and {below(european, 1325.6)} below the Chinese CML mean (1325.6); of "
        f"the {len(asian)} Asian-fitted ones, {below(asian, 1043.0)} and {below(asian, 1325.6)}. The Bouchet 2016 GIST "
        "real-life mean (868, row 8) is lower than the Korean GIST mean (1171, row 17); whether such gaps reflect "
        "body size, AGP, adherence, sampling or assay differences cannot be told from these summaries.",
        "",
    ]
    return lines


def _what_is_simulated(report: Report, n: int, seed: int) -> list[str]:
    models, runs = report.models, report.runs
    main_models = [m for m in models if not m.variant_of]
    variant_models = [m for m in models if m.variant_of]
    repeated = [m for m in models if "disease" in m.covariates]
    scope = (
        f"Every model in `imapk.models.MODELS`: {len(models)} models"
        if len(models) == len(MODELS) else f"{len(models)} of the {len(MODELS)} models in `imapk.models.MODELS`"
    )
    ode = [m for m in models if method_of(m) == "ode"]
    occasion = [m for m in models if m.occasion_days]
    long_days = LONG_TIME_ON_THERAPY / 24.0
    return [
        "## What is simulated",
        "",
        f"- {scope} ({len(main_models)} main model{'s' if len(main_models) != 1 else ''} and "
        f"{len(variant_models)} variant{'s' if len(variant_models) != 1 else ''}: "
        f"{', '.join(f'`{m.name}` of `{m.variant_of}`' for m in variant_models) or 'none'}), {len(runs)} runs ("
        + (", ".join(f"`{m.name}` once per indication it defines" for m in repeated) or "one per model")
        + f"), {n:,} subjects each, seed {seed}, IIV on (each model's omega, log-normal), no inter-occasion "
        "variability.",
        "- Schedule: `Schedule(phases=(Phase(dose=400, days=7),), steady_state=SteadyState(400, 24))`. The "
        "steady-state trough is the first trough (the concentration just before the dose at t = 0, 24 h after "
        "the previous 400 mg dose of the infinite train).",
        "- Time on therapy: the plateau, long after the start of therapy. `SteadyState.time_on_therapy` is None "
        "and `simulate` is called with `time_on_therapy_at_start=None`; with a steady-state start it then uses "
        f"{LONG_TIME_ON_THERAPY:,.0f} h of therapy at t = 0 (`imapk.simulation.LONG_TIME_ON_THERAPY`, "
        f"{long_days:,.0f} days), where every change with time on therapy is over (checked for each "
        "time-varying model: an explicit value gives the identical typical trough; see the time-on-therapy "
        "section).",
        "- Occasion effects: `draw_parameters(..., time_on_therapy_at_start=None)` puts every occasion effect in "
        f"force ({model_list(occasion)}: the day-{OCCASION_DAY} parameters).",
        f"- Engine: {model_list(ode)} on the ODE path (`simulate(..., method=\"ode\", "
        "variation=model.time_variation)`, default tolerances), because its absorption rate or clearance changes "
        "continuously with time on therapy; every other model on the exact path.",
        "- Main table: true concentrations (no residual error). Second table: simulated assay values, "
        "`imapk.population.observed(trough, model.residual, seed, subjects)`, with each model's residual error "
        "in its published form (`combined`: C (1 + prop e1) + add e2; `exponential`: C exp(SD e1)), never "
        "clipped.",
        "- Typical trough: `imapk.model_summary.typical_trough(model)`, the reference subject "
        "(`imapk.covariates.REFERENCE_SUBJECT`: 70 kg, 55 y, male, Hb 13 g/dL, WBC 7, RBC 4.5, albumin 38 g/L, "
        "AGP 0.9 g/L, eGFR and CrCl 90, no liver metastases, reference genotypes; the run's disease) at "
        "typical values, at the same plateau.",
        "",
    ]


def _population_section(report: Report) -> list[str]:
    runs = report.runs
    used = {name for r in runs for name in r.model.covariates}
    lines = [
        "## Assumptions: the one adult population",
        "",
        "Every model sees the same subjects (covariates drawn once from the streams of `seed`: common random "
        "numbers). These distributions are assumptions of this validation, not data from any one study.",
        "",
        "| covariate | distribution (assumed) | used by |",
        "| --- | --- | --- |",
    ]
    for name, dist in POPULATION.items():
        users = sorted({r.model.name for r in runs if name in r.model.covariates})
        lines.append(f"| {name} | {describe(dist, name)} | {', '.join(users) if users else '(no model)'} |")
    with_disease = sorted({r.model.name for r in runs if "disease" in r.model.covariates})
    lines.append(
        "| disease | fixed per model from its population text: \"GIST\" for GIST models, \"CML\" for CML models"
        + (f"; {', '.join(f'`{m}`' for m in with_disease)} run once with each indication the model defines"
           if with_disease else "")
        + f" | {', '.join(with_disease) or '(no model)'} |"
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
    if report.extrapolations:
        lines += [
            "`draw_parameters` warns (`CovariateRangeWarning`) when covariates lie outside the range a model was "
            "fitted on. The warnings were caught; these models extrapolated:",
            "",
            "| model | covariate | fitted range | subjects below | subjects above | warning |",
            "| --- | --- | --- | ---: | ---: | --- |",
        ]
        for e in report.extrapolations:
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
    return lines


def _trough_tables(report: Report) -> list[str]:
    runs = report.runs
    lines = [
        "## Simulated steady-state troughs (ng/mL, true concentrations)",
        "",
        "| model | indication | region (from the model's text) | path | typical trough | mean | median | "
        "P5 to P95 | % < 1000 | % < 1100 | CV |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in runs:
        s = summary(r.trough)
        lines.append(
            f"| {r.cell} | {indication(r)} | {r.region} | {r.method} | {ng(r.typical)} | {ng(s['mean'])} | "
            f"{ng(s['median'])} | {interval(s['p5'], s['p95'])} | {pct(s['below_1000'])} | "
            f"{pct(s['below_1100'])} | {s['cv']:.0f} % |"
        )
    limit = f"{QUANTIFICATION_LIMIT:g} ng/mL"
    lines += [
        "",
        "### With each model's residual error (simulated assay values)",
        "",
        "Each model's residual error in the form its source fitted (`Residual.describe()`), drawn from the "
        "`residual:*` streams of the seed, so the subjects and their true troughs are those of the table above. "
        f"Values are never clipped. The last column is the share **censored below {limit}**: simulated assay "
        "values below 0. The exponential form never gives them; the combined form gives them through its "
        "additive part (Judson 2005's 273 ng/mL against troughs of a few hundred ng/mL) and, rarely, through a "
        "large proportional part alone (C (1 + prop e1) < 0 when e1 < -1/prop: probability 0.07 % at 31 %, "
        "0.7 % at 41 %). No assay reports a negative concentration: a laboratory would report these samples as below "
        "its lower limit of quantification, and an analysis should treat them as censored (e.g. NONMEM's M3 "
        "method), not as 0 and not as the number drawn. The share is a lower bound of the censored share under "
        "any real limit of quantification. The statistics of this table keep the values as drawn, negative ones "
        "included (so a P5 can be negative), as the fitted error model says.",
        "",
        "| model | residual error (published form) | mean | median | P5 to P95 | % < 1000 | % < 1100 | CV | "
        f"% censored (< {limit}) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in runs:
        s = summary(r.trough_observed)
        lines.append(
            f"| {r.cell} | {residual_text(r.model)} | {ng(s['mean'])} | "
            f"{ng(s['median'])} | {interval(s['p5'], s['p95'])} | {pct(s['below_1000'])} | "
            f"{pct(s['below_1100'])} | {s['cv']:.0f} % | {pct(100.0 * float(np.mean(r.censored)))} |"
        )
    lines.append("")
    return lines


def _time_on_therapy_section(report: Report) -> list[str]:
    if not report.time_courses:
        return []
    lines = [
        "## Time on therapy: models whose exposure changes over months",
        "",
        f"These models' rates or relative F change with time on therapy; the tables above show them at the "
        f"plateau, a steady-state start {LONG_TIME_ON_THERAPY:,.0f} h after the start of therapy (what "
        "`simulate` uses for a steady-state start with `time_on_therapy_at_start=None`). The factors g(tau) - 1 "
        "at the first dose of the steady-state train (tau = "
        f"{LONG_TIME_ON_THERAPY - INTERVAL:,.0f} h) show the plateau is the model's asymptote. Below, the "
        "typical trough (reference subject, 400 mg once daily from day 1, `typical_trough(model, day=d)`) over "
        "the first year against that plateau.",
        "",
        "| model | path | g - 1 at the plateau (ka, CL, F) | "
        + " | ".join(f"day {d}" for d in TIME_COURSE_DAYS) + " | plateau |",
        "| --- | --- | --- | " + " | ".join("---:" for _ in TIME_COURSE_DAYS) + " | ---: |",
    ]
    for name, course in report.time_courses.items():
        run = next(r for r in report.runs if r.model.name == name)
        factors = report.therapy_factors[name]
        lines.append(
            f"| `{name}` | {run.method} | {factors['ka']:.3g}, {factors['cl']:.3g}, {factors['f']:.3g} | "
            + " | ".join(f"{ng(course[d])} ({rel(course[d] / run.typical - 1.0)})" for d in TIME_COURSE_DAYS)
            + f" | {ng(run.typical)} |"
        )
    lines += [
        "",
        "Percentages: against the plateau. The day-2 trough follows the first dose only (not at steady "
        "state).",
        "",
    ]
    return lines


def _occasion_section(report: Report) -> list[str]:
    if not report.occasion_troughs:
        return []
    lines = [
        f"## Occasion effects: the day-{OCCASION_DAY} trough under each occasion timing",
        "",
        "For models whose parameters change between sampling occasions, when the new parameters take effect "
        "is imapk's choice (`draw_parameters(..., occasion_timing=...)`, see "
        "`imapk.population.occasion_onset_days`). `fit` (the default) starts each occasion the day after the "
        f"previous occasion's sampling day, so the day-{OCCASION_DAY} trough is the second occasion's steady "
        "state, as the model was fitted; `sampling_day` (imapk's old rule) computes the day-"
        f"{OCCASION_DAY} trough entirely with the first occasion's parameters. Typical troughs of the reference "
        "subject at 400 mg once daily from day 1 (`imapk.model_summary.occasion_timing_troughs`); the plateau "
        "is the last occasion at steady state (the population tables above).",
        "",
        "| model | sampled on days | in force from day ("
        + ", ".join(OCCASION_TIMINGS) + ") | "
        + " | ".join(f"day {OCCASION_DAY}, `{t}`" for t in OCCASION_TIMINGS) + " | plateau |",
        "| --- | --- | --- | " + " | ".join("---:" for _ in OCCASION_TIMINGS) + " | ---: |",
    ]
    for name, troughs in report.occasion_troughs.items():
        model = MODELS[name]
        onsets = ", ".join("/".join(str(d) for d in occasion_onset_days(model, t)) for t in OCCASION_TIMINGS)
        cells = " | ".join(
            f"{ng(troughs[t])}" + (f" ({rel(troughs[t] / troughs['fit'] - 1.0)})" if t != "fit" else "")
            for t in OCCASION_TIMINGS
        )
        lines.append(
            f"| `{name}`{f' (variant of `{model.variant_of}`)' if model.variant_of else ''} | "
            f"1, {', '.join(str(d) for d in model.occasion_days)} | {onsets} | {cells} | {ng(troughs['plateau'])} |"
        )
    lines += ["", "Percentages: against the `fit` timing.", ""]
    return lines


def _variant_section(report: Report) -> list[str]:
    if not report.variants:
        return []
    lines = [
        "## Variants against their main model",
        "",
        "A variant is another reading of its main model's publication where the sources disagree "
        "(`PopulationModel.variant_of`; what differs is in the variant's `notes`). Typical plateau troughs of the "
        "reference subject (`imapk.model_summary.variant_differences`) and, from the tables above, the "
        "population means and % below 1000 ng/mL of the same simulated subjects.",
        "",
        "| variant | main model | typical trough, variant | typical trough, main | difference | "
        "mean, variant | mean, main | % < 1000, variant | % < 1000, main |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for d in report.variants:
        variant = next((r for r in report.runs if r.model.name == d.name), None)
        main = next((r for r in report.runs if r.model.name == d.main), None)

        def cells(run: Run | None) -> tuple[str, str]:
            if run is None:
                return "–", "–"
            s = summary(run.trough)
            return ng(s["mean"]), pct(s["below_1000"])

        (vm, vb), (mm, mb) = cells(variant), cells(main)
        lines.append(
            f"| `{d.name}` | `{d.main}` | {ng(d.trough)} | {ng(d.main_trough)} | {rel(d.relative, 1)} | {vm} | {mm} | "
            f"{vb} | {mb} |"
        )
    lines.append("")
    return lines


def render(report: Report, n: int, seed: int) -> str:
    """The report as Markdown. Deterministic: the same models, `n` and `seed` give the same text (no date,
    no timing), so the page the documentation build regenerates changes only when a model or imapk does."""
    runs = report.runs
    lines = [
        "# Validation: steady-state troughs at 400 mg q24h against observed summaries",
        "",
        "Generated from the model registry by `validation/steady_state_troughs.py` (at every build of the "
        "documentation site, or by hand: `PYTHONPATH=src python validation/steady_state_troughs.py`): "
        f"imapk {__version__}, {len(report.models)} of the {len(MODELS)} models in the registry, {n:,} subjects "
        f"per model from one assumed adult population (below), seed {seed}. Reported, not asserted: nothing here "
        "is a test, except that `tests/test_validation_report.py` fails when a registered model is missing.",
        "",
    ]
    lines += _what_is_simulated(report, n, seed)
    lines += _population_section(report)
    lines += _trough_tables(report)
    lines += _time_on_therapy_section(report)
    lines += _occasion_section(report)
    lines += _variant_section(report)
    lines += [
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
        "Relative difference of the simulated mean (true concentrations) from the observed central value (and, "
        "for rows 9 and 10, the difference in % below 1000 ng/mL, in percentage points); ✓ marks a match (see "
        "below). Rows of the other indication are left blank.",
        "",
        "| model | " + " | ".join(f"row {o.row}" for o in OBSERVED) + " |",
        "| --- | " + " | ".join("---:" for _ in OBSERVED) + " |",
    ]
    for r in runs:
        cells = [match_cell(r, o) if r.compares_with(o) else "" for o in OBSERVED]
        lines.append(f"| {r.cell} | " + " | ".join(cells) + " |")
    lines += [""]
    lines += findings(report)
    lines += [
        "## Per model: simulated beside observed",
        "",
        "Each table puts the model's simulated steady-state trough summary beside the observed rows of its "
        "indication (row 1, mixed patients, beside every model). Observed values are quoted verbatim.",
        "",
    ]
    variants = {d.name: d for d in report.variants}
    for r in runs:
        s = summary(r.trough)
        so = summary(r.trough_observed)
        facts = [f"Path: {r.method}", f"residual error: {residual_text(r.model)}"]
        if r.model.variant_of:
            d = variants.get(r.model.name)
            facts.append(
                f"variant of `{r.model.variant_of}`"
                + (f" (typical plateau trough {rel(d.relative, 1)} against it)" if d else "")
            )
        if r.model.name in report.occasion_troughs:
            t = report.occasion_troughs[r.model.name]
            facts.append(
                f"typical day-{OCCASION_DAY} trough "
                + ", ".join(f"{ng(t[timing])} (`{timing}`)" for timing in OCCASION_TIMINGS)
            )
        if r.model.name in report.time_courses:
            c = report.time_courses[r.model.name]
            facts.append("typical trough " + ", ".join(f"day {d} {ng(v)}" for d, v in c.items()))
        lines += [
            f"### `{r.label}`",
            "",
            f"{r.model.title}. Population: {r.model.population}.",
            "",
            "; ".join(facts) + ".",
            "",
            "| | value | population / dose | source | tag |",
            "| --- | --- | --- | --- | --- |",
            f"| simulated | mean **{ng(s['mean'])}**, median {ng(s['median'])}, P5 to P95 {interval(s['p5'], s['p95'])} "
            f"ng/mL; {pct(s['below_1000'])} < 1000, {pct(s['below_1100'])} < 1100; CV {s['cv']:.0f} %; typical "
            f"(reference subject) {ng(r.typical)}; with residual error mean {ng(so['mean'])}, CV {so['cv']:.0f} %, "
            f"{pct(100.0 * float(np.mean(r.censored)))} censored below 0 | {n:,} simulated adults ({r.disease}), "
            "400 mg q24h at steady state (plateau) | this script | simulated |",
        ]
        for o in observed_rows_for(r):
            lines.append(f"| observed #{o.row} | {o.value} | {o.population} | {o.source} | {o.tag} |")
        lines.append("")
    return "\n".join(lines)


def write_report(
    path: Path, n: int = N_SUBJECTS, seed: int = SEED, models: Iterable[PopulationModel] | None = None
) -> Report:
    """Simulate (:func:`collect`) and write the report to `path` (only if its text changed, so a documentation
    build does not see a new file every time); return the report."""
    report = collect(n, seed, models)
    text = render(report, n, seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return report


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
    parser.add_argument("--models", help="comma-separated model names, for a quick look (default: all of them)")
    parser.add_argument("--notes", type=Path, help="literature notes (imatinib-literature.md): check the quotes against it")
    args = parser.parse_args(argv)
    if args.notes:
        check_quotes(args.notes)
    models = None
    if args.models:
        unknown = [name for name in args.models.split(",") if name not in MODELS]
        if unknown:
            parser.error(f"unknown model {unknown[0]!r} (known: {', '.join(MODELS)})")
        models = [MODELS[name] for name in args.models.split(",")]
    start = time.perf_counter()
    report = write_report(args.output, args.n, args.seed, models)
    seconds = time.perf_counter() - start
    for r in report.runs:
        s, so = summary(r.trough), summary(r.trough_observed)
        print(
            f"{r.label:32s} {r.method:5s} typical {r.typical:7.1f}  mean {s['mean']:7.0f}  median {s['median']:7.0f}  "
            f"P5-P95 {s['p5']:5.0f}-{s['p95']:5.0f}  <1000 {s['below_1000']:5.1f} %  observed P5 {so['p5']:6.0f}  "
            f"censored {100.0 * np.mean(r.censored):4.1f} %"
        )
    for e in report.extrapolations:
        print(f"extrapolation: {e['message']}")
    print(f"wrote {args.output} ({seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
