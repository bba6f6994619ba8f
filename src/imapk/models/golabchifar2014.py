"""Golabchifar 2014: Iranian CML patients, one compartment, zero-order input after a lag, no covariates.

Golabchifar et al. Cancer Chemother Pharmacol 2014;74:85 (title and first author's initials not in
the sources read).

Parameter values: C2 (Yang 2025 Table 1 via nlmixr2lib): CL/F 10.8 L/h, V/F 278 L, zero-order input
of duration D1 1.43 h starting after a lag of 0.197 h.

DOI discrepancy: nlmixr2lib cites doi:10.1007/s00280-014-2455-3, the Pharmacolibrary Modelica file
doi:10.1007/s00280-014-2473-1. Neither was checked against the publisher. The citation gives the
nlmixr2lib DOI, because nlmixr2lib is the source of the parameter values and the Pharmacolibrary
file's parameters do not trace to the papers it cites (literature notes); the other DOI is named.

IIV on all four parameters, no covariances: CL 30.2 %, V 53.5 %, D1 36 %, lag 68.3 %, CV % read as
omega (variance = CV^2). Residual error: proportional 8.1 % (C2), by far the smallest of these models.
"""

from __future__ import annotations

from ._common import NONMEM_CV_RULE, YANG_2025
from .base import PopulationModel, Residual, cv_to_variance_nonmem

NAME = "golabchifar2014"
CITATION = (
    "Golabchifar et al. Cancer Chemother Pharmacol 2014;74:85 (title not in sources). "
    "doi:10.1007/s00280-014-2455-3 per nlmixr2lib (Pharmacolibrary gives 10.1007/s00280-014-2473-1; "
    "unverified). Parameters as tabulated in " + YANG_2025
)
POPULATION = "61 Iranian patients with CML; dose range not in the sources read"

CL_TYPICAL, V_TYPICAL, D1, TLAG = 10.8, 278.0, 1.43, 0.197  # L/h, L, h, h
CVS = {"cl": 0.302, "v": 0.535, "d1": 0.36, "tlag": 0.683}


def _typical(covariates, occasion):
    return {"cl": CL_TYPICAL, "v": V_TYPICAL, "d1": D1, "tlag": TLAG}


def _diagonal(cvs):
    names = tuple(cvs)
    return tuple(tuple(cv_to_variance_nonmem(cvs[a]) if a == b else 0.0 for b in names) for a in names)


MODEL = PopulationModel(
    name=NAME,
    title="Golabchifar 2014: Iranian CML (n = 61), 1-cmt, zero-order input 1.43 h after a 0.197 h lag, no covariates",
    citation=CITATION,
    population=POPULATION,
    typical=_typical,
    iiv_parameters=tuple(CVS),
    omega=_diagonal(CVS),
    omega_note=(
        f"CL 30.2 %, V 53.5 %, D1 36 %, lag 68.3 % (Yang 2025 Table 1): {NONMEM_CV_RULE}; no covariances "
        "reported (diagonal)"
    ),
    residual=Residual(proportional=0.081),
    confidence={
        "cl": "10.8 L/h: C2, Yang 2025 Table 1",
        "v": "278 L: C2, Yang 2025 Table 1",
        "d1": "1.43 h: C2, Yang 2025 Table 1",
        "tlag": "0.197 h: C2, Yang 2025 Table 1",
        "omega": "CL 30.2%, V 53.5%, D1 36%, lag 68.3%: C2, Yang 2025 Table 1",
        "residual": "proportional 8.1%: C2, Yang 2025 Table 1",
        "doi": "10.1007/s00280-014-2455-3: C2, nlmixr2lib; 10.1007/s00280-014-2473-1: C2, Pharmacolibrary; unresolved",
    },
    notes=(
        "DOI discrepancy: 10.1007/s00280-014-2455-3 (nlmixr2lib, cited) vs 10.1007/s00280-014-2473-1 "
        "(Pharmacolibrary); check before citing. No covariates."
    ),
)

MODELS = (MODEL,)
