"""Shriyan 2022: Indian CML patients, one compartment, zero-order input, no covariates.

Shriyan B, Mehta P, Patil A, Jadhav S, Kumar S, Puri AS, Bagal B, Sengar M, Khattry N, Gota V. Role of
ADME gene polymorphisms on imatinib disposition: results from a population pharmacokinetic study in
chronic myeloid leukaemia. Eur J Clin Pharmacol 2022;78(8):1321-1330. doi:10.1007/s00228-022-03345-8

Title, journal, volume, issue, pages and DOI: C1 (PubMed record 35652931, as mirrored). Authors: C2
(nlmixr2lib Shriyan_2022_imatinib.R, which gives another DOI, 10.1007/s00228-022-03334-x; the PubMed
record's DOI is used).

Parameter values: C2 (Yang 2025 Table 1 via nlmixr2lib): CL/F 10.2 L/h, V/F 389 L, zero-order input
D1 2.42 h. IIV: CL 27.8 % only, CV % read as omega (variance = CV^2). Residual error: proportional
21 % (C2, Yang 2025 Table 1 "Prop"), C (1 + 0.21 e).
"""

from __future__ import annotations

from ._common import NONMEM_CV_RULE, RESIDUAL_SOURCE, YANG_2025
from .base import PopulationModel, Residual, cv_to_variance_nonmem

NAME = "shriyan2022"
CITATION = (
    "Shriyan B, Mehta P, Patil A, Jadhav S, Kumar S, Puri AS, Bagal B, Sengar M, Khattry N, Gota V. Role of ADME "
    "gene polymorphisms on imatinib disposition: results from a population pharmacokinetic study in chronic myeloid "
    "leukaemia. Eur J Clin Pharmacol 2022;78(8):1321-1330. doi:10.1007/s00228-022-03345-8. Parameters as "
    "tabulated in " + YANG_2025
)
CITATION_READ = (
    "title, journal, 2022;78(8):1321-1330 and DOI: C1, PubMed record 35652931 (a mirror of it); authors: C2, "
    "nlmixr2lib Shriyan_2022_imatinib.R, whose DOI 10.1007/s00228-022-03334-x differs from PubMed's"
)
POPULATION = (
    "49 Indian patients with CML on imatinib for at least 4 weeks, steady-state sampling (abstract); 400-800 mg/d "
    "(Yang 2025 Table 1 as transcribed)"
)

CL_TYPICAL, V_TYPICAL, D1 = 10.2, 389.0, 2.42  # L/h, L, h
CV_CL = 0.278


def _typical(covariates, occasion):
    return {"cl": CL_TYPICAL, "v": V_TYPICAL, "d1": D1}


MODEL = PopulationModel(
    name=NAME,
    title="Shriyan 2022: Indian CML (n = 49), 1-cmt, zero-order input 2.42 h, no covariates",
    citation=CITATION,
    population=POPULATION,
    typical=_typical,
    iiv_parameters=("cl",),
    omega=((cv_to_variance_nonmem(CV_CL),),),
    omega_note=f"CL 27.8 % (Yang 2025 Table 1): {NONMEM_CV_RULE}; no IIV on V or D1 reported",
    residual=Residual(proportional=0.21, form="combined"),
    confidence={
        "cl": "10.2 L/h: C2, Yang 2025 Table 1",
        "v": "389 L: C2, Yang 2025 Table 1",
        "d1": "2.42 h: C2, Yang 2025 Table 1",
        "omega": "CL 27.8%: C2, Yang 2025 Table 1",
        "residual": "proportional 21%, combined form with no additive part: C2, " + RESIDUAL_SOURCE,
        "citation": CITATION_READ,
    },
    notes="No covariates; no IIV on V or D1 in the source: none applied.",
)

MODELS = (MODEL,)
