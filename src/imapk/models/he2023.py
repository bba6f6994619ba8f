"""He 2023: Chinese CML patients, one compartment, first-order absorption; CL on haemoglobin and eGFR.

He et al. Cancer Chemother Pharmacol 2023;92:399 (title, first author's initials and DOI not in the
sources read).

Parameter values: C2 (Yang 2025 Table 1 via nlmixr2lib):

    CL = 7.6 (HGB/13)^0.671 x f_eGFR,   f_eGFR = (eGFR/85)^0.25 if eGFR < 85, else 1   [L/h; HGB g/dL, eGFR mL/min/1.73m^2]
    V  = 270 L
    ka = 0.329 1/h

The eGFR factor applies only below 85 (as the source states it); it is continuous at 85. ka equals
Wang 2019's 0.329 1/h (perhaps fixed from it; not stated in the sources read).

IIV: CL 23.6 % only, CV % read as omega (variance = CV^2). Residual error: proportional 18.5 % (C2).
"""

from __future__ import annotations

import numpy as np

from ._common import NONMEM_CV_RULE, YANG_2025, positive
from .base import PopulationModel, Residual, cv_to_variance_nonmem

NAME = "he2023"
CITATION = (
    "He et al. Cancer Chemother Pharmacol 2023;92:399 (title and DOI not in sources). Parameters as tabulated in "
    + YANG_2025
)
POPULATION = "230 Chinese patients with CML; dose range not in the sources read"

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
    residual=Residual(proportional=0.185),
    confidence={
        "cl": "7.6 L/h (Hb 13 g/dL, eGFR >= 85): C2, Yang 2025 Table 1",
        "v": "270 L: C2, Yang 2025 Table 1",
        "ka": "0.329 1/h: C2, Yang 2025 Table 1",
        "covariates": "(HGB/13)^0.671; (eGFR/85)^0.25 if eGFR < 85: C2, Yang 2025 Table 1",
        "omega": "CL 23.6%: C2, Yang 2025 Table 1",
        "residual": "proportional 18.5%: C2, Yang 2025 Table 1",
    },
    notes=(
        "eGFR (mL/min/1.73m^2, not CrCl) lowers CL only below 85; factor 1 at or above 85. No IIV on V or ka in "
        "the source: none applied. Covariate ranges of the fitted data are not in the sources read."
    ),
)

MODELS = (MODEL,)
