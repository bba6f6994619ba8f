"""Wang 2019: Chinese CML patients, one compartment, first-order absorption; CL on body weight.

Wang Q, Jiang ZP, Yu EQ, Zeng J, Zhu Y, Cai HL, Yan M, Xiang DX, Zhao XL, Xu P, Jiao Z, Banh HL.
Population pharmacokinetic and pharmacogenetics of imatinib in Chinese patients with chronic myeloid
leukemia. Pharmacogenomics 2019;20(4):251-260. doi:10.2217/pgs-2018-0139

Title, journal, volume, issue, pages and DOI: C1 (PubMed record 30767712). Authors: C2 (nlmixr2lib
Wang_2019_imatinib.R).

    CL = 9.25 (WT/70)^0.228   [L/h; WT kg]
    V  = 222 L
    ka = 0.329 1/h

These three are C1 (PubMed abstract 30767712) and C2 (Yang 2025 Table 1 via nlmixr2lib), in agreement.
IIV: CL 18.2 % only (C2), CV % read as omega (variance = CV^2). Residual error: proportional 40.6 %
+ additive 3.137 ng/mL (C2, Yang 2025 Table 1 "Prop + Add"), the combined form C (1 + 0.406 e1) + 3.137 e2.
"""

from __future__ import annotations

from ._common import NONMEM_CV_RULE, RESIDUAL_SOURCE, YANG_2025, positive
from .base import PopulationModel, Residual, cv_to_variance_nonmem

NAME = "wang2019"
CITATION = (
    "Wang Q, Jiang ZP, Yu EQ, Zeng J, Zhu Y, Cai HL, Yan M, Xiang DX, Zhao XL, Xu P, Jiao Z, Banh HL. Population "
    "pharmacokinetic and pharmacogenetics of imatinib in Chinese patients with chronic myeloid leukemia. "
    "Pharmacogenomics 2019;20(4):251-260. doi:10.2217/pgs-2018-0139. IIV and residual error as tabulated in "
    + YANG_2025
)
CITATION_READ = (
    "title, journal, 2019;20(4):251-260 and DOI: C1, PubMed record 30767712; authors: C2, nlmixr2lib Wang_2019_imatinib.R"
)
POPULATION = "170 Chinese patients with CML, 229 samples (abstract); 400 mg/d (Yang 2025 Table 1 as transcribed)"

CL_TYPICAL, WT_REF, CL_WT_EXPONENT = 9.25, 70.0, 0.228  # L/h, kg
V_TYPICAL, KA = 222.0, 0.329  # L, 1/h
CV_CL = 0.182


def _typical(covariates, occasion):
    weight = positive(covariates, "weight", NAME)
    return {"cl": CL_TYPICAL * (weight / WT_REF) ** CL_WT_EXPONENT, "v": V_TYPICAL, "ka": KA}


MODEL = PopulationModel(
    name=NAME,
    title="Wang 2019: Chinese CML (n = 170), 1-cmt, first-order absorption; CL on weight",
    citation=CITATION,
    population=POPULATION,
    typical=_typical,
    covariates=("weight",),
    iiv_parameters=("cl",),
    omega=((cv_to_variance_nonmem(CV_CL),),),
    omega_note=f"CL 18.2 % (Yang 2025 Table 1): {NONMEM_CV_RULE}; no IIV on V or ka reported",
    residual=Residual(proportional=0.406, additive=3.137, form="combined"),
    confidence={
        "cl": "9.25 (WT/70)^0.228 L/h: C1, PubMed abstract 30767712; C2, Yang 2025 Table 1",
        "v": "222 L: C1, PubMed abstract 30767712; C2",
        "ka": "0.329 1/h: C1, PubMed abstract 30767712; C2",
        "covariates": "(WT/70)^0.228 on CL: C1 + C2",
        "omega": "CL 18.2%: C2, Yang 2025 Table 1",
        "residual": "proportional 40.6% + additive 3.137 ng/mL, combined form: C2, " + RESIDUAL_SOURCE,
        "citation": CITATION_READ,
    },
    notes="No IIV on V or ka in the source: none applied. Covariate ranges of the fitted data are not in the sources read.",
)

MODELS = (MODEL,)
