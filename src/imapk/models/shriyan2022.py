"""Shriyan 2022: Indian CML patients, one compartment, zero-order input, no covariates.

Shriyan et al. Eur J Clin Pharmacol 2022;78:1321 (title, first author's initials and DOI not in the
sources read).

Parameter values: C2 (Yang 2025 Table 1 via nlmixr2lib): CL/F 10.2 L/h, V/F 389 L, zero-order input
D1 2.42 h. IIV: CL 27.8 % only, CV % read as omega (variance = CV^2). Residual error: proportional
21 % (C2).
"""

from __future__ import annotations

from ._common import NONMEM_CV_RULE, YANG_2025
from .base import PopulationModel, Residual, cv_to_variance_nonmem

NAME = "shriyan2022"
CITATION = (
    "Shriyan et al. Eur J Clin Pharmacol 2022;78:1321 (title and DOI not in sources). Parameters as tabulated in "
    + YANG_2025
)
POPULATION = "49 Indian patients with CML; dose range not in the sources read"

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
    residual=Residual(proportional=0.21),
    confidence={
        "cl": "10.2 L/h: C2, Yang 2025 Table 1",
        "v": "389 L: C2, Yang 2025 Table 1",
        "d1": "2.42 h: C2, Yang 2025 Table 1",
        "omega": "CL 27.8%: C2, Yang 2025 Table 1",
        "residual": "proportional 21%: C2, Yang 2025 Table 1",
    },
    notes="No covariates; no IIV on V or D1 in the source: none applied.",
)

MODELS = (MODEL,)
