"""Petain 2008: children with solid tumours and adults with GIST, one compartment, first-order
absorption; parent drug only.

Petain A, Kattygnarath D, Azard J, Chatelut E, Delbaldo C, Geoerger B, Barrois M, Seronie-Vivien S,
LeCesne A, Vassal G. Population pharmacokinetics and pharmacogenetics of imatinib in children and adults.
Clin Cancer Res 2008;14(21):7102-7109. doi:10.1158/1078-0432.CCR-08-0950 (C2, nlmixr2lib)

Parameter values: C2 (Yang 2025 Table 1 via nlmixr2lib). AAG = alpha1-acid glycoprotein (``agp``):

    CL = 7.29 (WT/54)^0.56 (AAG/1.13)^-0.65 (ALB/38)^0.66   [L/h; WT kg, AAG g/L, ALB g/L]
    V  = 202 (WT/54)^0.79 (AAG/1.13)^-1.01                   [L]
    ka = 1.03 1/h

The source model is parent + metabolite (CGP74588, with its own clearance, volume and a day-29
occasion factor on the metabolite clearance). imapk simulates the parent only, so the metabolite part
is not implemented; nothing in the parent equations depends on the occasion.

IIV: CL 19 %, ka 82 %; "none reported" for V, so no IIV on V. CV % read as omega (variance = CV^2;
for ka this matters: 0.82^2 = 0.672, against ln(1 + 0.82^2) = 0.514 with the log-normal reading).
No covariances reported. Residual error: proportional 33.6 % (parent; C2, Yang 2025 Table 1 "Prop"),
C (1 + 0.336 e).
"""

from __future__ import annotations

from ._common import NONMEM_CV_RULE, RESIDUAL_SOURCE, YANG_2025, positive
from .base import PopulationModel, Residual, cv_to_variance_nonmem

NAME = "petain2008"
CITATION = (
    "Petain A, Kattygnarath D, Azard J, Chatelut E, Delbaldo C, Geoerger B, Barrois M, Seronie-Vivien S, LeCesne A, "
    "Vassal G. Population pharmacokinetics and pharmacogenetics of imatinib in children and adults. Clin Cancer Res "
    "2008;14(21):7102-7109. doi:10.1158/1078-0432.CCR-08-0950. Parameters as tabulated in " + YANG_2025
)
CITATION_READ = "C2: nlmixr2lib Petain_2008_imatinib.R reference (journal, volume and DOI also in the literature notes)"
POPULATION = (
    "67 patients aged 2-84 y, 505 samples: children and young people (2-22 y) with solid tumours pooled with "
    "adults with GIST; dose range not in the sources read"
)

CL_TYPICAL, V_TYPICAL, KA = 7.29, 202.0, 1.03  # L/h, L, 1/h at 54 kg, AAG 1.13 g/L, albumin 38 g/L
WT_REF, AGP_REF, ALB_REF = 54.0, 1.13, 38.0
CL_WT_EXPONENT, CL_AGP_EXPONENT, CL_ALB_EXPONENT = 0.56, -0.65, 0.66
V_WT_EXPONENT, V_AGP_EXPONENT = 0.79, -1.01
CV_CL, CV_KA = 0.19, 0.82


def _typical(covariates, occasion):
    weight = positive(covariates, "weight", NAME) / WT_REF
    agp = positive(covariates, "agp", NAME) / AGP_REF
    albumin = positive(covariates, "albumin", NAME) / ALB_REF
    cl = CL_TYPICAL * weight**CL_WT_EXPONENT * agp**CL_AGP_EXPONENT * albumin**CL_ALB_EXPONENT
    v = V_TYPICAL * weight**V_WT_EXPONENT * agp**V_AGP_EXPONENT
    return {"cl": cl, "v": v, "ka": KA}


MODEL = PopulationModel(
    name=NAME,
    title=(
        "Petain 2008 (parent only): children + adult GIST, 1-cmt, first-order absorption; CL on weight, AGP, "
        "albumin; V on weight, AGP"
    ),
    citation=CITATION,
    population=POPULATION,
    typical=_typical,
    covariates=("weight", "agp", "albumin"),
    iiv_parameters=("cl", "ka"),
    omega=((cv_to_variance_nonmem(CV_CL), 0.0), (0.0, cv_to_variance_nonmem(CV_KA))),
    omega_note=(
        f"CL 19 %, ka 82 % (Yang 2025 Table 1): {NONMEM_CV_RULE}; no IIV on V reported; no covariances (diagonal)"
    ),
    residual=Residual(proportional=0.336, form="combined"),
    confidence={
        "cl": "7.29 L/h at 54 kg, AAG 1.13 g/L, albumin 38 g/L: C2, Yang 2025 Table 1",
        "v": "202 L at 54 kg, AAG 1.13 g/L: C2, Yang 2025 Table 1",
        "ka": "1.03 1/h: C2, Yang 2025 Table 1",
        "covariates": (
            "CL (WT/54)^0.56 (AAG/1.13)^-0.65 (ALB/38)^0.66; V (WT/54)^0.79 (AAG/1.13)^-1.01: C2, Yang 2025 Table 1"
        ),
        "omega": "CL 19%, ka 82%, V none reported: C2, Yang 2025 Table 1",
        "residual": "proportional 33.6% (parent), combined form with no additive part: C2, " + RESIDUAL_SOURCE,
        "citation": CITATION_READ,
    },
    notes=(
        "Parent drug only: the metabolite (CGP74588) sub-model is not implemented. No IIV on V in the source: "
        "none applied. The fitted population pools children (from 2 y) with adults; covariate ranges of the "
        "fitted data are not in the sources read."
    ),
)

MODELS = (MODEL,)
