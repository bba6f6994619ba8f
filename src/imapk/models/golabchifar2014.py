"""Golabchifar 2014: Iranian CML patients, one compartment, zero-order input after a lag, no covariates.

Golabchifar AA, Rezaee S, Ghavamzadeh A, Alimoghaddam K, Dinan NM, Rouini MR. Population
pharmacokinetics of imatinib in Iranian patients with chronic-phase chronic myeloid leukemia. Cancer
Chemother Pharmacol 2014;74(1):85-93. doi:10.1007/s00280-014-2473-1

DOI resolved: the publisher's page at doi 10.1007/s00280-014-2473-1 carries this title and abstract (C1).
nlmixr2lib cites doi:10.1007/s00280-014-2455-3, which led to no page for this article in the sources read;
the Pharmacolibrary file's 2473-1 is the right one. Authors, issue and pages: C2 (nlmixr2lib).

Parameter values: C2 (Yang 2025 Table 1 via nlmixr2lib): CL/F 10.8 L/h, V/F 278 L, zero-order input
of duration D1 1.43 h starting after a lag of 0.197 h.

The abstract (C1) gives CL/F 10.8 L/h (IIV 30 %) and V/F **265 L** (IIV 53 %), inter-occasion variability on
CL/F (17 %) and V/F (22 %), and a proportional residual error of 8 %. The V/F of 278 L in Yang 2025 does not
match the abstract's 265 L; which one the final model has could not be checked. The transcribed 278 L is
kept (the value Yang 2025 evaluated); with 265 L the typical steady-state trough at 400 mg q24h would be
944.2 instead of 967.8 ng/mL, -2.4 % (closed form, tag D). The inter-occasion variability is not modelled.

IIV on all four parameters, no covariances: CL 30.2 %, V 53.5 %, D1 36 %, lag 68.3 %, CV % read as
omega (variance = CV^2). Residual error: proportional 8.1 % (C2, Yang 2025 Table 1 "Prop"; abstract: "the
proportional residual error of the model was 8 %", C1), C (1 + 0.081 e); by far the smallest of these models.
"""

from __future__ import annotations

from ._common import NONMEM_CV_RULE, RESIDUAL_SOURCE, YANG_2025
from .base import PopulationModel, Residual, cv_to_variance_nonmem

NAME = "golabchifar2014"
CITATION = (
    "Golabchifar AA, Rezaee S, Ghavamzadeh A, Alimoghaddam K, Dinan NM, Rouini MR. Population pharmacokinetics of "
    "imatinib in Iranian patients with chronic-phase chronic myeloid leukemia. Cancer Chemother Pharmacol "
    "2014;74(1):85-93. doi:10.1007/s00280-014-2473-1. Parameters as tabulated in " + YANG_2025
)
CITATION_READ = (
    "title, abstract and DOI 10.1007/s00280-014-2473-1: C1, the publisher's page for that DOI; authors, issue and "
    "pages: C2, nlmixr2lib Golabchifar_2014_imatinib.R (which gives the DOI 10.1007/s00280-014-2455-3)"
)
POPULATION = (
    "61 Iranian patients with chronic-phase CML after at least 12 months of imatinib, 300-800 mg/d, sampled at "
    "steady state (abstract)"
)

CL_TYPICAL, V_TYPICAL, D1, TLAG = 10.8, 278.0, 1.43, 0.197  # L/h, L, h, h
CVS = {"cl": 0.302, "v": 0.535, "d1": 0.36, "tlag": 0.683}


def _typical(covariates, occasion):
    return {"cl": CL_TYPICAL, "v": V_TYPICAL, "d1": D1, "tlag": TLAG}


def _diagonal(cvs):
    names = tuple(cvs)
    return tuple(tuple(cv_to_variance_nonmem(cvs[a]) if a == b else 0.0 for b in names) for a in names)


MODEL = PopulationModel(
    name=NAME,
    title="Golabchifar 2014: Iranian CML (n = 61), 1-cmt, zero-order input 1.43 h after a 0.197 h lag, no covariates",
    citation=CITATION,
    population=POPULATION,
    typical=_typical,
    iiv_parameters=tuple(CVS),
    omega=_diagonal(CVS),
    omega_note=(
        f"CL 30.2 %, V 53.5 %, D1 36 %, lag 68.3 % (Yang 2025 Table 1): {NONMEM_CV_RULE}; no covariances "
        "reported (diagonal)"
    ),
    residual=Residual(proportional=0.081, form="combined"),
    confidence={
        "cl": "10.8 L/h: C2, Yang 2025 Table 1; C1, abstract",
        "v": "278 L: C2, Yang 2025 Table 1; the abstract gives 265 L (C1): unresolved, see notes",
        "d1": "1.43 h: C2, Yang 2025 Table 1",
        "tlag": "0.197 h: C2, Yang 2025 Table 1",
        "omega": "CL 30.2%, V 53.5%, D1 36%, lag 68.3%: C2, Yang 2025 Table 1",
        "residual": "proportional 8.1%, combined form: C2, " + RESIDUAL_SOURCE + "; abstract 'proportional ... 8 %': C1",
        "citation": CITATION_READ,
        "doi": "10.1007/s00280-014-2473-1: C1, publisher's page; nlmixr2lib's 10.1007/s00280-014-2455-3 is not it",
    },
    notes=(
        "V/F: 278 L as transcribed by Yang 2025; the abstract gives 265 L. With 265 L the typical steady-state "
        "trough at 400 mg q24h is 944.2 instead of 967.8 ng/mL, -2.4 % (closed form, tag D). Inter-occasion "
        "variability (CL 17 %, V 22 %, abstract) is not modelled. No covariates. DOI resolved to "
        "10.1007/s00280-014-2473-1 (publisher's page); nlmixr2lib's 10.1007/s00280-014-2455-3 is wrong."
    ),
)

MODELS = (MODEL,)
