"""Judson 2005: GIST / soft-tissue sarcoma (EORTC), extension-phase model, one compartment, zero-order input.

Judson I, Ma P, Peng B, et al. Imatinib pharmacokinetics in patients with gastrointestinal stromal
tumour: a retrospective population pharmacokinetic study over time. Cancer Chemother Pharmacol
2005;55(4):379-386. doi:10.1007/s00280-004-0876-0

The abstract (C1) describes a model with typical CL/F 9.33 L/h, lower CL with low body weight and
high granulocyte count and lower V with low haemoglobin; its equations were not found. What ships
here is the *extension-phase* model that Yang 2025 evaluated (C2, Yang 2025 Table 1 via nlmixr2lib):

    CL = 10.6 (WT/67.5)^0.002   [L/h; WT kg]
    V  = 182                    [L]
    D1 = 1.51 h (zero-order input)

The weight exponent 0.002 makes weight practically irrelevant (doubling weight: +0.14 % CL).
Its CL (10.6 L/h) differs from the abstract's 9.33 L/h because it is another model (a different
phase of the study), not because of a transcription conflict that could be settled here.

IIV: given directly as variances (Yang 2025 Table 1): Var(eta_CL) 0.305, Var(eta_V) 0.34,
covariance 0.237 (correlation 0.736). No CV conversion is involved. Residual error: proportional
34 % + additive 273 ng/mL (C2).
"""

from __future__ import annotations

from ._common import YANG_2025, positive
from .base import PopulationModel, Residual

NAME = "judson2005"
CITATION = (
    "Judson I, Ma P, Peng B, et al. Imatinib pharmacokinetics in patients with gastrointestinal stromal tumour: "
    "a retrospective population pharmacokinetic study over time. Cancer Chemother Pharmacol 2005;55(4):379-386. "
    "doi:10.1007/s00280-004-0876-0. Extension-phase model as tabulated in " + YANG_2025
)
POPULATION = (
    "Patients with GIST / soft-tissue sarcoma in EORTC studies (extension phase); number of patients and "
    "dose range not in the sources read"
)

CL_TYPICAL = 10.6  # L/h at 67.5 kg
WT_REF = 67.5  # kg
CL_WT_EXPONENT = 0.002
V_TYPICAL = 182.0  # L
D1 = 1.51  # h
VAR_CL, VAR_V, COV_CL_V = 0.305, 0.34, 0.237


def _typical(covariates, occasion):
    weight = positive(covariates, "weight", NAME)
    return {"cl": CL_TYPICAL * (weight / WT_REF) ** CL_WT_EXPONENT, "v": V_TYPICAL, "d1": D1}


MODEL = PopulationModel(
    name=NAME,
    title="Judson 2005 (extension phase): GIST / sarcoma (EORTC), 1-cmt, zero-order input 1.51 h; CL on weight",
    citation=CITATION,
    population=POPULATION,
    typical=_typical,
    covariates=("weight",),
    iiv_parameters=("cl", "v"),
    omega=((VAR_CL, COV_CL_V), (COV_CL_V, VAR_V)),
    omega_note=(
        "variances given directly in Yang 2025 Table 1 (Var(eta_CL) 0.305, Var(eta_V) 0.34, cov 0.237; "
        "correlation 0.736): no CV conversion applied"
    ),
    residual=Residual(proportional=0.34, additive=273.0),
    confidence={
        "cl": "10.6 L/h at 67.5 kg: C2, Yang 2025 Table 1 (extension-phase model); abstract typical CL 9.33 L/h (other model): C1",
        "v": "182 L: C2, Yang 2025 Table 1",
        "d1": "1.51 h: C2, Yang 2025 Table 1",
        "covariates": "(WT/67.5)^0.002 on CL: C2, Yang 2025 Table 1",
        "omega": "variances 0.305 (CL), 0.34 (V), covariance 0.237: C2, Yang 2025 Table 1",
        "residual": "proportional 34% + additive 273 ng/mL: C2, Yang 2025 Table 1",
    },
    notes=(
        "The extension-phase model used by Yang 2025, not the abstract's model (typical CL 9.33 L/h with body "
        "weight and granulocyte effects on CL and haemoglobin on V, equations not found). The abstract's CL rise "
        "over 12 months (+33%, CI including 0) is not modelled. The weight exponent 0.002 is negligible."
    ),
)

MODELS = (MODEL,)
