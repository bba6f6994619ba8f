"""Demetri 2009: unresectable/metastatic GIST (B2222), one compartment, zero-order input.

Demetri GD, Wang Y, Wehrle E, Racine A, Nikolova Z, Blanke CD, Joensuu H, von Mehren M. Imatinib plasma
levels are correlated with clinical benefit in patients with unresectable/metastatic gastrointestinal
stromal tumors. J Clin Oncol 2009;27(19):3141-3147. doi:10.1200/JCO.2008.20.4818 (C2, nlmixr2lib)

Parameter values: C2 only (Yang 2025 Table 1 via nlmixr2lib). OCC = 1 from day 29, else 0:

    CL = 8.18 (ALB/38.3)^1.66 (WBC/7)^-0.418                  [L/h; ALB g/L, WBC 10^9/L]
    V  = (168 + 58.5 OCC) (ALB/38.3)^1.66 (WBC/7)^-0.418       [L]
    D1 = 1.69 h (zero-order input)

Flagged: V carries exactly the same albumin and WBC exponents as CL. nlmixr2lib flags this as needing
a check against the primary; it may be a transcription slip (a copied row). It is kept as
transcribed, with its consequence stated: before day 29 the elimination rate CL/V = 8.18/168 does
not depend on albumin or WBC at all, so these covariates scale concentrations but do not change
their shape or the half-life. The occasion effect is on V only (+58.5 L, +35 %, from day 29), which
lowers k and so raises troughs relative to peaks at steady state.

IIV: CL 34.6 %, V 35.7 %, covariance 0.119 (C2). CV % is read as omega (variance = CV^2, correlation
0.963). This matrix is the reason for that convention: with the log-normal conversion
(omega^2 = ln(1 + CV^2): 0.1131 and 0.1200) the covariance 0.119 would exceed
sqrt(0.1131 x 0.1200) = 0.1166, a correlation of 1.02, which no valid matrix has.
Residual error: proportional 34.9 % + additive 4 ng/mL (C2, Yang 2025 Table 1 "Prop + Add 0.004 mg/L"),
the combined form C (1 + 0.349 e1) + 4 e2.
"""

from __future__ import annotations

from ._common import NONMEM_CV_RULE, RESIDUAL_SOURCE, YANG_2025, late, positive
from .base import PopulationModel, Residual, cv_to_variance_nonmem

NAME = "demetri2009"
CITATION = (
    "Demetri GD, Wang Y, Wehrle E, Racine A, Nikolova Z, Blanke CD, Joensuu H, von Mehren M. Imatinib plasma levels "
    "are correlated with clinical benefit in patients with unresectable/metastatic gastrointestinal stromal tumors. "
    "J Clin Oncol 2009;27(19):3141-3147. doi:10.1200/JCO.2008.20.4818. Parameters as tabulated in " + YANG_2025
)
CITATION_READ = "C2: nlmixr2lib Demetri_2009_imatinib.R reference (journal, volume and DOI also in the literature notes)"
POPULATION = (
    "Unresectable/metastatic GIST (phase II B2222), 400 or 600 mg/d; PK subset n = 73, samples on day 1 and day 29"
)

CL_TYPICAL = 8.18  # L/h at albumin 38.3 g/L, WBC 7 x 10^9/L
V_TYPICAL = 168.0  # L, before day 29
V_OCCASION = 58.5  # L, additive, from day 29
ALB_REF, WBC_REF = 38.3, 7.0
ALB_EXPONENT, WBC_EXPONENT = 1.66, -0.418  # on CL and (flagged) identically on V
D1 = 1.69  # h
CV_CL, CV_V, COV_CL_V = 0.346, 0.357, 0.119


def _typical(covariates, occasion):
    albumin = positive(covariates, "albumin", NAME) / ALB_REF
    wbc = positive(covariates, "wbc", NAME) / WBC_REF
    factor = albumin**ALB_EXPONENT * wbc**WBC_EXPONENT
    return {
        "cl": CL_TYPICAL * factor,
        "v": (V_TYPICAL + V_OCCASION * late(occasion)) * factor,
        "d1": D1,
    }


MODEL = PopulationModel(
    name=NAME,
    title=(
        "Demetri 2009: metastatic GIST (B2222), 1-cmt, zero-order input 1.69 h; CL and V on albumin and WBC, "
        "V on occasion (day 29)"
    ),
    citation=CITATION,
    population=POPULATION,
    typical=_typical,
    covariates=("albumin", "wbc"),
    iiv_parameters=("cl", "v"),
    omega=((cv_to_variance_nonmem(CV_CL), COV_CL_V), (COV_CL_V, cv_to_variance_nonmem(CV_V))),
    omega_note=(
        f"CL 34.6 %, V 35.7 %, covariance 0.119 (Yang 2025 Table 1): {NONMEM_CV_RULE}; correlation 0.963. The "
        "log-normal conversion would make this matrix invalid (correlation 1.02)"
    ),
    residual=Residual(proportional=0.349, additive=4.0, form="combined"),
    occasion_days=(29,),
    confidence={
        "cl": "8.18 L/h at albumin 38.3 g/L, WBC 7: C2, Yang 2025 Table 1",
        "v": "168 L (+58.5 L from day 29): C2, Yang 2025 Table 1",
        "d1": "1.69 h: C2, Yang 2025 Table 1",
        "covariates": (
            "(ALB/38.3)^1.66 (WBC/7)^-0.418 on CL: C2; the identical factor on V: C2, flagged by nlmixr2lib as "
            "needing a check against the primary"
        ),
        "occasion": "V + 58.5 L from day 29: C2",
        "omega": "CL 34.6%, V 35.7%, cov 0.119: C2, Yang 2025 Table 1",
        "residual": "proportional 34.9% + additive 4 ng/mL (0.004 mg/L), combined form: C2, " + RESIDUAL_SOURCE,
        "citation": CITATION_READ,
    },
    notes=(
        "V has the same albumin and WBC exponents as CL (flagged by nlmixr2lib; kept as transcribed), so before "
        "day 29 the half-life does not depend on albumin or WBC. The day-29 trough quartile threshold of the "
        "paper (1110 ng/mL) is an efficacy threshold, not a model output. Covariate ranges of the fitted data "
        "are not in the sources read."
    ),
)

MODELS = (MODEL,)
