"""Gotta 2014: CML under routine care (2478 patients), one compartment, zero-order input.

Gotta V, Bouchet S, Widmer N, Schuld P, Decosterd LA, Buclin T, Mahon FX, Csajka C, Molimard M.
Large-scale imatinib dose-concentration-effect study in CML patients under routine care conditions. Leuk
Res 2014;38(7):764-772. doi:10.1016/j.leukres.2014.03.023 (C2, nlmixr2lib)

Parameter values: C2 (Yang 2025 Table 1 via nlmixr2lib). FEMALE = 1 for women:

    CL = 17.3 (1 - 0.152 FEMALE) (1 + (AGE - 40) theta),  theta = 0.00475 if AGE < 40, -0.00566 if AGE >= 40
    V  = 430 L
    D1 = 3.1 h (zero-order input)

The age effect is piecewise linear with its peak at 40 y: CL rises 0.475 % per year up to 40 and falls
0.566 % per year after it; it is continuous at 40 (factor 1 from both sides).

This is a CML model. The project brief once called it "Gotta 2014 (GIST TDM)"; the Lausanne GIST TDM
paper is Gotta 2012 (Clin Pharmacokinet 51(3):187-201), which re-uses the Widmer 2006 model (see
``widmer2006``).

IIV: CL 37.6 %, V 50.4 % (CV % read as omega, variance = CV^2), correlation 0.73, so covariance
0.73 x 0.376 x 0.504 = 0.1383. Residual error: proportional 29.2 % + additive 82.8 ng/mL; the model
also has an IIV of 36.2 % on the residual magnitude, which :class:`Residual` cannot represent and
which is left out (simulated observations are somewhat less dispersed than the model's).
"""

from __future__ import annotations

import numpy as np

from ._common import NONMEM_CV_RULE, RESIDUAL_SOURCE, YANG_2025, finite, level
from .base import PopulationModel, Residual, cv_to_variance_nonmem

NAME = "gotta2014"
CITATION = (
    "Gotta V, Bouchet S, Widmer N, Schuld P, Decosterd LA, Buclin T, Mahon FX, Csajka C, Molimard M. Large-scale "
    "imatinib dose-concentration-effect study in CML patients under routine care conditions. Leuk Res "
    "2014;38(7):764-772. doi:10.1016/j.leukres.2014.03.023. Parameters as tabulated in " + YANG_2025
)
CITATION_READ = "C2: nlmixr2lib Gotta_2014_imatinib.R reference (journal, volume and DOI also in the literature notes)"
POPULATION = "2478 CML patients under routine care (TDM samples); dose range not in the sources read"

CL_TYPICAL = 17.3  # L/h, man aged 40
FEMALE_EFFECT = -0.152  # fractional change of CL in women
AGE_REF = 40.0  # y
AGE_SLOPE_BELOW, AGE_SLOPE_FROM = 0.00475, -0.00566  # per year, below / from 40 y
V_TYPICAL = 430.0  # L
D1 = 3.1  # h
CV_CL, CV_V, RHO_CL_V = 0.376, 0.504, 0.73
COV_CL_V = RHO_CL_V * CV_CL * CV_V


def _typical(covariates, occasion):
    female = (level(covariates, "sex", NAME) == "female").astype(float)
    age = finite(covariates, "age", NAME)
    theta = np.where(age < AGE_REF, AGE_SLOPE_BELOW, AGE_SLOPE_FROM)
    cl = CL_TYPICAL * (1.0 + FEMALE_EFFECT * female) * (1.0 + (age - AGE_REF) * theta)
    return {"cl": cl, "v": V_TYPICAL, "d1": D1}


MODEL = PopulationModel(
    name=NAME,
    title="Gotta 2014: CML routine care (n = 2478), 1-cmt, zero-order input 3.1 h; CL on sex and age (piecewise at 40 y)",
    citation=CITATION,
    population=POPULATION,
    typical=_typical,
    covariates=("sex", "age"),
    categories={"sex": ("male", "female")},
    iiv_parameters=("cl", "v"),
    omega=((cv_to_variance_nonmem(CV_CL), COV_CL_V), (COV_CL_V, cv_to_variance_nonmem(CV_V))),
    omega_note=(
        f"CL 37.6 %, V 50.4 %, rho(CL, V) 0.73 (Yang 2025 Table 1): {NONMEM_CV_RULE}; covariance = "
        "0.73 x 0.376 x 0.504 = 0.1383"
    ),
    residual=Residual(proportional=0.292, additive=82.8, form="combined"),
    confidence={
        "cl": "17.3 L/h (man, 40 y): C2, Yang 2025 Table 1",
        "v": "430 L: C2, Yang 2025 Table 1",
        "d1": "3.1 h: C2, Yang 2025 Table 1",
        "covariates": "female -15.2%; age slope 0.00475 below 40 y, -0.00566 from 40 y: C2, Yang 2025 Table 1",
        "omega": "CL 37.6%, V 50.4%, rho 0.73: C2, Yang 2025 Table 1",
        "residual": (
            "proportional 29.2% + additive 82.8 ng/mL, combined form (IIV 36.2% on its magnitude, not implemented): "
            "C2, " + RESIDUAL_SOURCE
        ),
        "citation": CITATION_READ,
    },
    notes=(
        "A CML model (the GIST TDM model of the Lausanne group is Gotta 2012 = Widmer 2006). The 36.2% IIV on "
        "the residual error magnitude is not representable and is left out. Age coded piecewise at 40 y; "
        "age exactly 40 uses the >= 40 slope (factor 1 either way). Covariate ranges of the fitted data are not "
        "in the sources read."
    ),
)

MODELS = (MODEL,)
