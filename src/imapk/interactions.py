"""Drug-drug interactions: co-medications that change imatinib's apparent clearance (CL/F).

Each entry is a factor on CL/F with the raw numbers it comes from, where they were read, and what
the conversion assumes. This module is data and a pure function only; turning an interaction into
parameter-change events of a simulation is the job of the scenario and the engine.

Conversion
----------
Interaction studies report the ratio R of imatinib's AUC with and without the co-medication (AUC from
0 to infinity after a single imatinib dose). For an oral drug with linear kinetics AUC = F D / CL, so
R = (CL/F)_without / (CL/F)_with and the factor on the apparent clearance is

    cl_factor = 1 / R.

This reads the whole change as a change of CL/F at unchanged V/F, i.e. a change of the elimination rate
k = CL/V. That matches what the studies show for the inducers (imatinib's half-life shorter with
St John's wort: -21 % in Smith 2004, 12.8 -> 9.0 h in Frye 2004) but not necessarily for an inhibitor that
acts on first-pass extraction (a change of F alone would scale CL/F and V/F together and leave k as it
is; the trough would change by the same 1/R, the peak-to-trough ratio would not). The factor is applied
in full over the period the user gives (see :func:`cl_factor_at`); induction in reality builds up over
about one to two weeks and wears off over a similar time after the inducer is stopped, inhibition within
hours to days. Set the periods accordingly.

Single-dose studies and chronic treatment
-----------------------------------------
The numbers come from single-dose imatinib studies in healthy volunteers (ketoconazole, rifampicin,
St John's wort) or from patients on chronic treatment (enzyme-inducing antiepileptics, ritonavir). Two
things differ at steady state in patients:

* Inhibitors: imatinib inhibits CYP3A4 itself, so at steady state less of its clearance is left for an
  inhibitor to block. Ritonavir, a potent CYP3A4 inhibitor, did not change imatinib's AUC or CL/F in
  patients at steady state (van Erp 2007), whereas a single ketoconazole dose raised a single imatinib
  dose's AUC by 40 % in volunteers (Dutreix 2004). The ketoconazole factor therefore most likely
  **overstates** the effect in patients at steady state; it is an upper bound. (It may understate what
  continuous ketoconazole would do to a single imatinib dose: one ketoconazole dose covers only part of
  imatinib's elimination.)
* Inducers: the volunteers were pre-treated for 7 days (rifampicin) or 2 weeks (St John's wort), so the
  induction was established. The patient data on chronic enzyme-inducing antiepileptics (AUC about 68 %
  lower, Wen 2006; troughs up to 2.9-fold lower in glioblastoma patients, Curr Clin Pharmacol 3(3):198-203)
  are of the same size as rifampicin's 74 %,
  so the single-dose factors do not appear to overstate chronic induction. Whether they understate it in
  patients whose own CYP3A4 is partly inhibited by imatinib is not known.

Combining
---------
Factors of interactions in force at the same time multiply (independent effects on CL/F). This is an
assumption: two inducers of the same enzyme do not add up indefinitely (induction saturates), so the
product of two inducer factors overstates their joint effect.

References
----------
1. Dutreix C, Peng B, Mehring G, Hayes M, Capdeville R, Pokorny R, Seiberling M. Pharmacokinetic
   interaction between ketoconazole and imatinib mesylate (Glivec) in healthy subjects. Cancer Chemother
   Pharmacol 2004;54(4):290-294. doi:10.1007/s00280-004-0832-z
2. Bolton AE, Peng B, Hubert M, Krebs-Brown A, Capdeville R, Keller U, Seiberling M. Effect of rifampicin
   on the pharmacokinetics of imatinib mesylate (Gleevec, STI571) in healthy subjects. Cancer Chemother
   Pharmacol 2004;53(2):102-106. doi:10.1007/s00280-003-0722-9
3. Frye RF, Fitzgerald SM, Lagattuta TF, Hruska MW, Egorin MJ. Effect of St John's wort on imatinib
   mesylate pharmacokinetics. Clin Pharmacol Ther 2004;76(4):323-329. doi:10.1016/j.clpt.2004.06.007
4. Smith P, Bullock JM, Booker BM, Haas CE, Berenson CS, Jusko WJ. The influence of St. John's wort on
   the pharmacokinetics and protein binding of imatinib mesylate. Pharmacotherapy 2004;24(11):1508-1514.
   doi:10.1592/phco.24.16.1508.50958
5. Wen PY, Yung WKA, Lamborn KR, et al. Phase I/II study of imatinib mesylate for recurrent malignant
   gliomas: North American Brain Tumor Consortium Study 99-08. Clin Cancer Res 2006;12(16):4899-4907.
   doi:10.1158/1078-0432.CCR-06-0773
6. van Erp NP, Gelderblom H, Karlsson MO, Li J, Zhao M, Ouwerkerk J, Nortier JW, Guchelaar HJ, Baker SD,
   Sparreboom A. Influence of CYP3A4 inhibition on the steady-state pharmacokinetics of imatinib. Clin
   Cancer Res 2007;13(24):7394-7400. doi:10.1158/1078-0432.CCR-07-0346
7. Glivec (imatinib), Swiss product information (Novartis), section "Interactions" (edition date not shown
   on the copy read): ketoconazole Cmax +26 %, AUC +40 %; rifampicin CL 3.8-fold (90 % CI 3.5-4.3),
   Cmax -54 %, AUC(0-24) -68 %, AUC(0-inf) -74 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .errors import ParameterError

__all__ = ["Interaction", "INTERACTIONS", "ALIASES", "get_interaction", "cl_factor_at", "with_interactions"]


@dataclass(frozen=True)
class Interaction:
    """A co-medication's effect on imatinib, as a factor on the apparent clearance CL/F.

    Parameters
    ----------
    name
        Registry key (lower case, words joined by ``_``).
    cl_factor
        Multiplier on CL/F while the co-medication is taken (> 1: lower exposure). [1]
    effect
        The raw numbers the factor comes from (AUC, Cmax, CL/F changes), the study design, and the
        conversion.
    citation
        Authors, title, journal, year;volume(issue):pages, DOI of the source of `cl_factor`, and the
        label section that quotes it where there is one.
    confidence
        Where each number was read (C1 primary text or label, C2 secondary), and the direction in which a
        single-dose study may misstate the chronic effect.
    auc_ratio
        The AUC ratio R (with / without) the factor is derived from (cl_factor = 1 / R), or None where the
        factor is taken from a clearance estimate directly.
    """

    name: str
    cl_factor: float
    effect: str
    citation: str
    confidence: str
    auc_ratio: float | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.cl_factor, (int, float)) and math.isfinite(self.cl_factor) and self.cl_factor > 0):
            raise ParameterError("must be a finite number > 0", key=f"{self.name}.cl_factor", got=self.cl_factor)
        if self.auc_ratio is not None and not math.isclose(self.cl_factor, 1.0 / self.auc_ratio, rel_tol=1e-12):
            raise ParameterError(
                "cl_factor must be 1 / auc_ratio", key=f"{self.name}.cl_factor", got=self.cl_factor,
                expected=f"{1.0 / self.auc_ratio:.6g}",
            )


_KETOCONAZOLE = Interaction(
    name="ketoconazole",
    cl_factor=1.0 / 1.40,
    auc_ratio=1.40,
    effect=(
        "CYP3A4 inhibitor. 14 healthy subjects, single imatinib 200 mg with or without a single ketoconazole "
        "400 mg (crossover): imatinib Cmax +26 %, AUC(0-24) +40 %, AUC(0-inf) +40 %, CL/F -28.6 % (Dutreix 2004). "
        "R = 1.40, cl_factor = 1/1.40 = 0.714 (CL/F -28.6 %, as the study reports). Label: Cmax +26 %, AUC +40 % "
        "in healthy volunteers given a single ketoconazole dose."
    ),
    citation=(
        "Dutreix C, Peng B, Mehring G, Hayes M, Capdeville R, Pokorny R, Seiberling M. Pharmacokinetic interaction "
        "between ketoconazole and imatinib mesylate (Glivec) in healthy subjects. Cancer Chemother Pharmacol "
        "2004;54(4):290-294. doi:10.1007/s00280-004-0832-z. Quoted in the Glivec product information, section "
        "Interactions (Swiss edition read)."
    ),
    confidence=(
        "C1: Dutreix 2004 abstract (PubMed record; journal, volume, pages and DOI on its Scilit record); C1: Glivec "
        "Swiss product information, Interactions (26 % / 40 %). Single-dose study in volunteers: most likely "
        "OVERSTATES the effect in patients at steady state (van Erp 2007: ritonavir had no effect at steady state); "
        "treat as an upper bound."
    ),
)

_RIFAMPICIN = Interaction(
    name="rifampicin",
    cl_factor=1.0 / 0.26,
    auc_ratio=0.26,
    effect=(
        "Strong CYP3A4 inducer. 14 healthy subjects, single imatinib 400 mg on day 1 and on day 15, rifampicin "
        "600 mg once daily from day 8 to day 18: imatinib Cmax -54 % (90 % CI 48-60 %), AUC(0-24) -68 % (64-70 %), "
        "AUC(0-inf) -74 % (71-76 %); CL/F 385 % of control (348-426 %) (Bolton 2004). R = 0.26, cl_factor = "
        "1/0.26 = 3.85. Label: oral-dose clearance 3.8-fold (90 % CI 3.5-4.3), Cmax, AUC(0-24) and AUC(0-inf) "
        "-54 %, -68 % and -74 %."
    ),
    citation=(
        "Bolton AE, Peng B, Hubert M, Krebs-Brown A, Capdeville R, Keller U, Seiberling M. Effect of rifampicin on "
        "the pharmacokinetics of imatinib mesylate (Gleevec, STI571) in healthy subjects. Cancer Chemother "
        "Pharmacol 2004;53(2):102-106. doi:10.1007/s00280-003-0722-9. Quoted in the Glivec product information, "
        "section Interactions (Swiss edition read)."
    ),
    confidence=(
        "C1: Bolton 2004 abstract (publisher's page; volume, issue, pages and DOI on its Peeref record); C1: Glivec "
        "Swiss product information, Interactions (3.8-fold, -54/-68/-74 %). Induction established by 7 days of "
        "pre-treatment; the chronic antiepileptic data (Wen 2006, about -68 %) are of the same size, so not "
        "obviously overstated for chronic use."
    ),
)

_ST_JOHNS_WORT = Interaction(
    name="st_johns_wort",
    cl_factor=34.5 / 24.2,
    auc_ratio=24.2 / 34.5,
    effect=(
        "CYP3A4 inducer (Hypericum perforatum). 12 healthy subjects, single imatinib 400 mg before and on day 12 "
        "of St John's wort 300 mg three times daily: CL/F 12.5 -> 17.9 L/h (+43 %), AUC(0-inf) 34.5 -> 24.2 "
        "ug h/mL (-30 %), half-life 12.8 -> 9.0 h, Cmax 2.2 -> 1.8 ug/mL (Frye 2004). R = 24.2/34.5 = 0.701, "
        "cl_factor = 1.426 (the reported CL/F ratio, 17.9/12.5 = 1.432, agrees). Corroborated by Smith 2004 "
        "(10 volunteers, single 400 mg before and after 2 weeks of 300 mg three times daily): median AUC(0-inf) "
        "-32 %, Cmax -29 %, half-life -21 % (factor 1/0.68 = 1.47). Label wording: a 30 to 32 % reduction of "
        "imatinib AUC in two published studies."
    ),
    citation=(
        "Frye RF, Fitzgerald SM, Lagattuta TF, Hruska MW, Egorin MJ. Effect of St John's wort on imatinib mesylate "
        "pharmacokinetics. Clin Pharmacol Ther 2004;76(4):323-329. doi:10.1016/j.clpt.2004.06.007. Also: Smith P, "
        "Bullock JM, Booker BM, Haas CE, Berenson CS, Jusko WJ. The influence of St. John's wort on the "
        "pharmacokinetics and protein binding of imatinib mesylate. Pharmacotherapy 2004;24(11):1508-1514. "
        "doi:10.1592/phco.24.16.1508.50958"
    ),
    confidence=(
        "C1: Frye 2004 abstract (PubMed record 15470331); C1: Smith 2004 abstract (Medline abstract as reproduced "
        "by UpToDate; volume, pages and DOI on its Peeref record). The label's '30 to 32 %' was read only in a "
        "generic imatinib's product information that reproduces the Glivec wording (C2). Induction established "
        "(about 11 to 14 days of St John's wort before the imatinib dose)."
    ),
)

_EIAED = Interaction(
    name="enzyme_inducing_antiepileptics",
    cl_factor=1.0 / 0.32,
    auc_ratio=0.32,
    effect=(
        "CYP3A4-inducing antiepileptics (carbamazepine, oxcarbazepine, phenytoin, fosphenytoin, phenobarbital, "
        "primidone), chronic co-medication in patients with malignant glioma: 'plasma exposure of imatinib was "
        "reduced by ~68 %' in patients on enzyme-inducing antiepileptics compared with patients not on them "
        "(phase I, 27 and 23 patients enrolled; a between-patient comparison; Wen 2006). R = 0.32 (approximate, as the abstract gives it), "
        "cl_factor = 3.1. The label's wording (read in a generic imatinib's product information reproducing the "
        "Glivec text) is 'plasma AUC for imatinib decreased by 73 %' (R = 0.27, factor 3.7). Troughs in "
        "glioblastoma patients on 600 mg/d: 477 ng/mL with vs 1404 ng/mL without antiepileptics (up to 2.9-fold "
        "lower; 'Influence of enzyme-inducing antiepileptic drugs on trough level of imatinib in glioblastoma "
        "patients', Curr Clin Pharmacol 3(3):198-203, doi:10.2174/157488408785747656, PubMed 18781906)."
    ),
    citation=(
        "Wen PY, Yung WKA, Lamborn KR, et al. Phase I/II study of imatinib mesylate for recurrent malignant gliomas: "
        "North American Brain Tumor Consortium Study 99-08. Clin Cancer Res 2006;12(16):4899-4907. "
        "doi:10.1158/1078-0432.CCR-06-0773"
    ),
    confidence=(
        "C1: Wen 2006 abstract (MSKCC and Scilit records; '~68 %' is approximate). Label's 73 %: C2 (generic product "
        "information reproducing the Glivec SmPC). A between-patient comparison on chronic treatment, so no "
        "single-dose caveat, but a group of antiepileptics of different strength: the factor is a class average."
    ),
)

_RITONAVIR = Interaction(
    name="ritonavir",
    cl_factor=1.0,
    effect=(
        "Potent CYP3A4 inhibitor, at imatinib steady state. 11 cancer patients on imatinib for at least 2 months, "
        "ritonavir 600 mg daily for 3 days: imatinib AUC (geometric mean, dose-normalised) 42.6 ug h/mL before "
        "and 41.2 ug h/mL on day 3 (P = 0.65); a population analysis with a time-dependent covariate found no "
        "influence of ritonavir on CL or F (van Erp 2007). cl_factor = 1 (no effect), not 42.6/41.2 = 1.03, "
        "because the study's own model found none."
    ),
    citation=(
        "van Erp NP, Gelderblom H, Karlsson MO, Li J, Zhao M, Ouwerkerk J, Nortier JW, Guchelaar HJ, Baker SD, "
        "Sparreboom A. Influence of CYP3A4 inhibition on the steady-state pharmacokinetics of imatinib. Clin Cancer "
        "Res 2007;13(24):7394-7400. doi:10.1158/1078-0432.CCR-07-0346"
    ),
    confidence=(
        "C1: van Erp 2007 abstract (PubMed record 18094422 and its Fatcat/scholar record with the DOI); volume, "
        "issue and pages: C2 (Liverpool HIV drug interactions page). Measured at steady state in patients: the "
        "reference for the inhibitor caveat. Three days of ritonavir only."
    ),
)

#: Interactions by name.
INTERACTIONS: dict[str, Interaction] = {
    item.name: item for item in (_KETOCONAZOLE, _RIFAMPICIN, _ST_JOHNS_WORT, _EIAED, _RITONAVIR)
}

#: Other names accepted by :func:`get_interaction`.
ALIASES: dict[str, str] = {
    "rifampin": "rifampicin",
    "hypericum_perforatum": "st_johns_wort",
    "st_john_s_wort": "st_johns_wort",
    "eiaed": "enzyme_inducing_antiepileptics",
    "eiaeds": "enzyme_inducing_antiepileptics",
}


def _normalise(name: str) -> str:
    key = name.strip().lower()
    for character in (" ", "-", "'", "."):
        key = key.replace(character, "_")
    while "__" in key:
        key = key.replace("__", "_")
    return key.strip("_")


def get_interaction(name: str) -> Interaction:
    """The interaction `name` (case, spaces and hyphens ignored; ``rifampin`` is ``rifampicin``).

    Raises
    ------
    ParameterError
        If the name is unknown; the message lists the known names.
    """
    if not isinstance(name, str):
        raise ParameterError("unknown interaction", key="interaction", got=name,
                             expected=f"one of {', '.join(sorted(INTERACTIONS))}")
    key = _normalise(name)
    key = ALIASES.get(key, key)
    try:
        return INTERACTIONS[key]
    except KeyError:
        raise ParameterError(
            "unknown interaction", key="interaction", got=name, expected=f"one of {', '.join(sorted(INTERACTIONS))}"
        ) from None


def cl_factor_at(periods: Iterable[tuple[float, float, float]], times_h) -> np.ndarray:
    """The factor on CL/F in force at each time: the product of the factors of all periods in force.

    A period ``(start_h, end_h, factor)`` is in force on the half-open interval start_h <= t < end_h
    (``end_h`` may be ``inf``), so a period ending at t and one starting at t do not overlap there.
    Periods may overlap; overlapping factors multiply (see the module notes on why this can overstate
    two inducers taken together). With no period in force the factor is 1.

    Parameters
    ----------
    periods
        ``(start_h, end_h, factor)`` triples: times since the first scheduled dose [h], factor [1] > 0.
    times_h
        Times [h], any shape.

    Returns
    -------
    numpy.ndarray
        Float array of the shape of `times_h`.

    Raises
    ------
    ParameterError
        If a period is not three numbers, a time is not finite (end may be +inf), end <= start, or a
        factor is not a finite number > 0.

    Examples
    --------
    >>> cl_factor_at([(0.0, 48.0, 2.0), (24.0, 72.0, 1.5)], [0.0, 24.0, 48.0, 72.0]).tolist()
    [2.0, 3.0, 1.5, 1.0]
    """
    times = np.asarray(times_h, dtype=float)
    if not np.all(np.isfinite(times)):
        raise ParameterError("times must be finite", key="times_h", got=times[~np.isfinite(times)].ravel()[0].item())
    result = np.ones_like(times, dtype=float)
    for i, period in enumerate(periods):
        try:
            start, end, factor = period
            start, end, factor = float(start), float(end), float(factor)
        except (TypeError, ValueError):
            raise ParameterError("a period is (start_h, end_h, factor)", key=f"periods[{i}]", got=period) from None
        if not math.isfinite(start) or math.isnan(end) or end == -math.inf:
            raise ParameterError("start must be finite and end finite or inf", key=f"periods[{i}]", got=period)
        if end <= start:
            raise ParameterError("end must be after start", key=f"periods[{i}]", got=period,
                                 expected="start_h < end_h")
        if not (math.isfinite(factor) and factor > 0.0):
            raise ParameterError("factor must be a finite number > 0", key=f"periods[{i}]", got=period)
        in_force = (times >= start) & (times < end)
        result = np.where(in_force, result * factor, result)
    return result


def with_interactions(parameters, periods):
    """`parameters` with CL/F multiplied by the interaction factor in force, as parameter-change events.

    The engine sees step changes only: every period boundary becomes a change time, and in every
    parameter segment (the table's own changes, e.g. occasions or per-dose IOV, included) CL is
    the segment's CL times :func:`cl_factor_at` at the segment's start. V, ka and the rest are
    untouched. Works on both paths (exact and ODE) and for any model structure.

    Parameters
    ----------
    parameters
        A :class:`~imapk.params.ParameterTable`.
    periods
        ``(start_h, end_h, factor)`` triples as for :func:`cl_factor_at`.

    Returns
    -------
    ParameterTable
        A new table; `parameters` is not modified.

    Examples
    --------
    >>> from imapk.params import ParameterTable, PKParams
    >>> table = with_interactions(ParameterTable.from_params(PKParams(cl=10.0, v=300.0, ka=0.6)), [(48.0, 96.0, 3.85)])
    >>> table.change_times, [round(float(c["cl"][0]), 2) for c in table.change_values]
    ((48.0, 96.0), [38.5, 10.0])
    """
    from .params import ParameterTable

    periods = [tuple(p) for p in periods]
    if not periods:
        return parameters
    cl_factor_at(periods, [0.0])  # validates the periods
    own = [float(t) for t in parameters.change_times]
    bounds = {float(b) for start, end, _ in periods for b in (start, end) if math.isfinite(float(b))}
    times = sorted(set(own) | bounds)
    segments = parameters.segments("cl")  # (n, len(own) + 1)
    values = dict(parameters.values)  # before the first boundary no period is in force (starts are finite)
    change_values = []
    previous = values["cl"]
    for t in times:
        own_index = int(np.searchsorted(np.asarray(own), t, side="right"))
        cl = segments[:, own_index] * float(cl_factor_at(periods, [t])[0])
        change = {}
        if t in own:
            change = {name: value for name, value in parameters.change_values[own.index(t)].items() if name != "cl"}
        if not np.array_equal(cl, previous) or "cl" in (parameters.change_values[own.index(t)] if t in own else {}):
            change["cl"] = cl
        previous = cl
        if change:
            change_values.append((t, change))
    return ParameterTable(
        values=values, change_times=tuple(t for t, _ in change_values),
        change_values=tuple(c for _, c in change_values), n_transit=parameters.n_transit,
    )
