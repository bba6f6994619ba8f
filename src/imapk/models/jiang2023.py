"""Jiang 2023: Chinese GIST patients on adjuvant imatinib, one compartment, first-order absorption;
CL on red blood cell count and ABCG2 genotype.

Jiang X, Fu Q, Jing Y, Kong Y, Liu H, Peng H, Rexiti K, Wei X. Personalized dose of adjuvant imatinib in
patients with gastrointestinal stromal tumors: results from a population pharmacokinetic analysis. Drug
Des Devel Ther 2023;17:809-820. doi:10.2147/DDDT.S400986

Citation: C2 (nlmixr2lib Jiang_2023_imatinib.R, extracted from the primary); the primary's own page was
not found in the sources read.

Parameter values: C2 (nlmixr2lib, which extracted this model from the primary paper):

    CL = 9.72 (RBC/3.7)^0.49 x g,   g = 1 (ABCG2 rs2231142 GG), 0.879 (GT), 0.976 (TT)   [L/h; RBC 10^12/L]
    V  = 229 L
    ka = 1.22 1/h (fixed in the source model)

GG (wild type, 421C) is the reference. The genotype effect is not monotone in the number of variant
alleles (GT 0.879 below TT 0.976); it is kept as given (checked only against nlmixr2lib's
extraction, not the primary).

IIV: CL 13.9 % only, CV % read as omega (variance = CV^2), the convention nlmixr2lib also applies to this
model. Residual error: proportional 29.6 % (C2: nlmixr2lib reads the primary's Equation 3, Y = F (1 + eps),
as the selected model over additive and combined ones), C (1 + 0.296 e).

nlmixr2lib takes the variance of the CL random effect from the final-model equation printed in the paper
(e^0.0192) rather than 0.139^2 = 0.0193; the difference is below the printed precision.
"""

from __future__ import annotations

import numpy as np

from ._common import NONMEM_CV_RULE, level, positive
from .base import PopulationModel, Residual, cv_to_variance_nonmem

NAME = "jiang2023"
CITATION = (
    "Jiang X, Fu Q, Jing Y, Kong Y, Liu H, Peng H, Rexiti K, Wei X. Personalized dose of adjuvant imatinib in "
    "patients with gastrointestinal stromal tumors: results from a population pharmacokinetic analysis. Drug Des "
    "Devel Ther 2023;17:809-820. doi:10.2147/DDDT.S400986. Parameters as extracted from the primary by nlmixr2lib"
)
CITATION_READ = "C2: nlmixr2lib Jiang_2023_imatinib.R reference (not found in a primary or PubMed page)"
POPULATION = (
    "85 Chinese patients with GIST on adjuvant imatinib after resection, 200-600 mg/d (79 of 85 on 400 mg), trough "
    "samples at steady state (as extracted by nlmixr2lib from the primary's Table 1)"
)

CL_TYPICAL, RBC_REF, CL_RBC_EXPONENT = 9.72, 3.7, 0.49  # L/h, 10^12/L
ABCG2_FACTOR = {"GG": 1.0, "GT": 0.879, "TT": 0.976}
V_TYPICAL, KA = 229.0, 1.22  # L, 1/h
CV_CL = 0.139


def _typical(covariates, occasion):
    rbc = positive(covariates, "rbc", NAME)
    genotype = level(covariates, "abcg2_rs2231142", NAME)
    factor = np.select([genotype == g for g in ABCG2_FACTOR], list(ABCG2_FACTOR.values()))
    return {"cl": CL_TYPICAL * (rbc / RBC_REF) ** CL_RBC_EXPONENT * factor, "v": V_TYPICAL, "ka": KA}


MODEL = PopulationModel(
    name=NAME,
    title="Jiang 2023: Chinese adjuvant GIST (n = 85), 1-cmt, first-order absorption; CL on RBC and ABCG2 rs2231142",
    citation=CITATION,
    population=POPULATION,
    typical=_typical,
    covariates=("rbc", "abcg2_rs2231142"),
    categories={"abcg2_rs2231142": ("GG", "GT", "TT")},
    iiv_parameters=("cl",),
    omega=((cv_to_variance_nonmem(CV_CL),),),
    omega_note=f"CL 13.9 %: {NONMEM_CV_RULE}; no IIV on V or ka reported",
    residual=Residual(proportional=0.296, form="combined"),
    confidence={
        "cl": "9.72 L/h (RBC 3.7 x 10^12/L, ABCG2 GG): C2, nlmixr2lib (extracted from the primary)",
        "v": "229 L: C2, nlmixr2lib",
        "ka": "1.22 1/h (fixed): C2, nlmixr2lib",
        "covariates": "(RBC/3.7)^0.49; ABCG2 GT x 0.879, TT x 0.976: C2, nlmixr2lib",
        "omega": "CL 13.9%: C2, nlmixr2lib",
        "residual": "proportional 29.6% (Y = F (1 + eps)), combined form with no additive part: C2, nlmixr2lib",
        "citation": CITATION_READ,
    },
    notes=(
        "ABCG2 effect not monotone in allele count (GT 0.879, TT 0.976): kept as given. No IIV on V or ka in the "
        "source: none applied. Covariate ranges of the fitted data are not in the sources read."
    ),
)

MODELS = (MODEL,)
