"""Yamakawa 2011: Japanese CML patients, one compartment, first-order absorption, no covariates.

Yamakawa et al. Ther Drug Monit 2011;33:244 (first author's initials, title, issue, page range and DOI
not in the sources read).

Parameter values: C2 (Yang 2025 Table 1 via nlmixr2lib): CL/F 8.7 L/h, V/F 430 L, ka 2.06 1/h.

IIV: the literature notes give omega (SD of eta) directly: CL 0.363, V 0.457, ka 0.747, no covariance.
Variances are these squared; that is numerically the NONMEM-table reading (omega = CV/100) of
"CV %" 36.3, 45.7 and 74.7, so the model is consistent with the others. Residual error: additive
400 ng/mL only (C2), a large additive error next to troughs of about 1 ug/mL.
"""

from __future__ import annotations

from ._common import YANG_2025
from .base import PopulationModel, Residual

NAME = "yamakawa2011"
CITATION = (
    "Yamakawa et al. Ther Drug Monit 2011;33:244 (title, full page range and DOI not in sources). "
    "Parameters as tabulated in " + YANG_2025
)
POPULATION = "34 Japanese patients with CML; dose range not in the sources read"

CL_TYPICAL, V_TYPICAL, KA = 8.7, 430.0, 2.06  # L/h, L, 1/h
OMEGA_CL, OMEGA_V, OMEGA_KA = 0.363, 0.457, 0.747  # SD of eta


def _typical(covariates, occasion):
    return {"cl": CL_TYPICAL, "v": V_TYPICAL, "ka": KA}


MODEL = PopulationModel(
    name=NAME,
    title="Yamakawa 2011: Japanese CML (n = 34), 1-cmt, first-order absorption, no covariates",
    citation=CITATION,
    population=POPULATION,
    typical=_typical,
    iiv_parameters=("cl", "v", "ka"),
    omega=((OMEGA_CL**2, 0.0, 0.0), (0.0, OMEGA_V**2, 0.0), (0.0, 0.0, OMEGA_KA**2)),
    omega_note=(
        "omega (SD of eta) given directly: CL 0.363, V 0.457, ka 0.747; variance = omega^2, identical to "
        "cv_to_variance_nonmem of the corresponding CV %; no covariances reported (diagonal)"
    ),
    residual=Residual(additive=400.0),
    confidence={
        "cl": "8.7 L/h: C2, Yang 2025 Table 1",
        "v": "430 L: C2, Yang 2025 Table 1",
        "ka": "2.06 1/h: C2, Yang 2025 Table 1",
        "omega": "omega CL 0.363, V 0.457, ka 0.747: C2, Yang 2025 Table 1",
        "residual": "additive 400 ng/mL: C2, Yang 2025 Table 1",
    },
    notes="No covariates. Citation details beyond journal, year, volume and first page are not in the sources read.",
)

MODELS = (MODEL,)
