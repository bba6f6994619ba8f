"""Yamakawa 2011: Japanese CML patients, one compartment, first-order absorption, no covariates.

Yamakawa Y, Hamada A, Nakashima R, Yuki M, Hirayama C, Kawaguchi T, Saito H. Association of genetic
polymorphisms in the influx transporter SLCO1B3 and the efflux transporter ABCB1 with imatinib
pharmacokinetics in patients with chronic myeloid leukemia. Ther Drug Monit 2011;33(2):244-250.
doi:10.1097/FTD.0b013e31820beb02

Title, journal, volume, issue and pages: C1 (CiNii record with the abstract: 622 plasma samples from 34
patients at steady state, individual clearance 3.4-15.5 L/h). Authors and DOI: C2 (nlmixr2lib
Yamakawa_2011_imatinib.R). The population model has no covariates: the genotype associations were tested
on the individual clearances, not built into the model (Yang 2025 Table 1 footnote d, as transcribed).

Parameter values: C2 (Yang 2025 Table 1 via nlmixr2lib): CL/F 8.7 L/h, V/F 430 L, ka 2.06 1/h.

IIV: the literature notes give omega (SD of eta) directly: CL 0.363, V 0.457, ka 0.747, no covariance.
Variances are these squared; that is numerically the NONMEM-table reading (omega = CV/100) of
"CV %" 36.3, 45.7 and 74.7, so the model is consistent with the others. Residual error: additive
400 ng/mL only (C2, Yang 2025 Table 1 "Add 0.4 mg/L"), C + 400 e, the combined form with no proportional
part; a large additive error next to troughs of about 1 ug/mL.
"""

from __future__ import annotations

from ._common import RESIDUAL_SOURCE, YANG_2025
from .base import PopulationModel, Residual

NAME = "yamakawa2011"
CITATION = (
    "Yamakawa Y, Hamada A, Nakashima R, Yuki M, Hirayama C, Kawaguchi T, Saito H. Association of genetic "
    "polymorphisms in the influx transporter SLCO1B3 and the efflux transporter ABCB1 with imatinib pharmacokinetics "
    "in patients with chronic myeloid leukemia. Ther Drug Monit 2011;33(2):244-250. doi:10.1097/FTD.0b013e31820beb02. "
    "Parameters as tabulated in " + YANG_2025
)
CITATION_READ = (
    "title, journal, 2011;33(2):244-250: C1, CiNii record with the abstract; authors and DOI: C2, nlmixr2lib "
    "Yamakawa_2011_imatinib.R"
)
POPULATION = (
    "34 Japanese patients with CML at steady state, 622 samples (abstract); 100-600 mg/d (Yang 2025 Table 1 as "
    "transcribed)"
)

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
    residual=Residual(additive=400.0, form="combined"),
    confidence={
        "cl": "8.7 L/h: C2, Yang 2025 Table 1",
        "v": "430 L: C2, Yang 2025 Table 1",
        "ka": "2.06 1/h: C2, Yang 2025 Table 1",
        "omega": "omega CL 0.363, V 0.457, ka 0.747: C2, Yang 2025 Table 1",
        "residual": "additive 400 ng/mL (0.4 mg/L), combined form with no proportional part: C2, " + RESIDUAL_SOURCE,
        "citation": CITATION_READ,
        "population": "34 patients, 622 samples, steady state: C1, abstract; dose range: C2",
    },
    notes=(
        "No covariates (the SLCO1B3 and ABCB1 associations were not built into the population model). Residual error "
        "is additive only, as tabulated."
    ),
)

MODELS = (MODEL,)
