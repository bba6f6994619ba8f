"""He 2023: Chinese CML patients, one compartment, first-order absorption; CL on haemoglobin and eGFR.

He S, Shao Q, Zhao J, Bian J, Zhao Y, Hao X, Li Y, Wang L, Cui C, Chen J. Population pharmacokinetics
and pharmacogenetics analyses of imatinib in Chinese patients with chronic myeloid leukemia in a
real-world situation. Cancer Chemother Pharmacol 2023;92(5):399-410. doi:10.1007/s00280-023-04581-0

Citation: C2 (nlmixr2lib He_2023_imatinib.R); the primary's own page was not found in the sources read.

Parameter values: C2 (Yang 2025 Table 1 via nlmixr2lib):

    CL = 7.6 (HGB/13)^0.671 x f_eGFR,   f_eGFR = (eGFR/85)^0.25 if eGFR < 85, else 1   [L/h; HGB g/dL, eGFR mL/min/1.73m^2]
    V  = 270 L
    ka = 0.329 1/h

The eGFR factor applies only below 85 (as the source states it); it is continuous at 85. ka equals
Wang 2019's 0.329 1/h (perhaps fixed from it; not stated in the sources read).

IIV: CL 23.6 % only, CV % read as omega (variance = CV^2). Residual error: proportional 18.5 % (C2,
Yang 2025 Table 1 "Prop"), C (1 + 0.185 e).
"""

from __future__ import annotations

import numpy as np

from ._common import NONMEM_CV_RULE, RESIDUAL_SOURCE, YANG_2025, positive
from .base import PopulationModel, Residual, cv_to_variance_nonmem

NAME = "he2023"
CITATION = (
    "He S, Shao Q, Zhao J, Bian J, Zhao Y, Hao X, Li Y, Wang L, Cui C, Chen J. Population pharmacokinetics and "
    "pharmacogenetics analyses of imatinib in Chinese patients with chronic myeloid leukemia in a real-world "
    "situation. Cancer Chemother Pharmacol 2023;92(5):399-410. doi:10.1007/s00280-023-04581-0. Parameters as "
    "tabulated in " + YANG_2025
)
CITATION_READ = "C2: nlmixr2lib He_2023_imatinib.R reference (not found in a primary or PubMed page)"
POPULATION = "230 Chinese patients with CML, 424 samples, 200-400 mg/d (Yang 2025 Table 1 as transcribed)"

CL_TYPICAL, HGB_REF, CL_HGB_EXPONENT = 7.6, 13.0, 0.671  # L/h, g/dL
EGFR_REF, CL_EGFR_EXPONENT = 85.0, 0.25  # mL/min/1.73m^2; factor only below EGFR_REF
V_TYPICAL, KA = 270.0, 0.329  # L, 1/h
CV_CL = 0.236


def _typical(covariates, occasion):
    hgb = positive(covariates, "haemoglobin", NAME)
    egfr = positive(covariates, "egfr", NAME)
    renal = np.where(egfr < EGFR_REF, (egfr / EGFR_REF) ** CL_EGFR_EXPONENT, 1.0)
    return {"cl": CL_TYPICAL * (hgb / HGB_REF) ** CL_HGB_EXPONENT * renal, "v": V_TYPICAL, "ka": KA}


MODEL = PopulationModel(
    name=NAME,
    title="He 2023: Chinese CML (n = 230), 1-cmt, first-order absorption; CL on haemoglobin and eGFR (< 85)",
    citation=CITATION,
    population=POPULATION,
    typical=_typical,
    covariates=("haemoglobin", "egfr"),
    iiv_parameters=("cl",),
    omega=((cv_to_variance_nonmem(CV_CL),),),
    omega_note=f"CL 23.6 % (Yang 2025 Table 1): {NONMEM_CV_RULE}; no IIV on V or ka reported",
    residual=Residual(proportional=0.185, form="combined"),
    confidence={
        "cl": "7.6 L/h (Hb 13 g/dL, eGFR >= 85): C2, Yang 2025 Table 1",
        "v": "270 L: C2, Yang 2025 Table 1",
        "ka": "0.329 1/h: C2, Yang 2025 Table 1",
        "covariates": "(HGB/13)^0.671; (eGFR/85)^0.25 if eGFR < 85: C2, Yang 2025 Table 1",
        "omega": "CL 23.6%: C2, Yang 2025 Table 1",
        "residual": "proportional 18.5%, combined form with no additive part: C2, " + RESIDUAL_SOURCE,
        "citation": CITATION_READ,
    },
    notes=(
        "eGFR (mL/min/1.73m^2, not CrCl) lowers CL only below 85; factor 1 at or above 85. No IIV on V or ka in "
        "the source: none applied. Covariate ranges of the fitted data are not in the sources read."
    ),
)

MODELS = (MODEL,)
