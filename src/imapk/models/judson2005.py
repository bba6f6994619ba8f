"""Judson 2005: GIST / soft-tissue sarcoma (EORTC), extension-phase model, one compartment, zero-order input.

Judson I, Ma P, Peng B, Verweij J, Racine A, di Paola ED, van Glabbeke M, Dimitrijevic S, Scurr M,
Dumez H, van Oosterom A. Imatinib pharmacokinetics in patients with gastrointestinal stromal tumour: a
retrospective population pharmacokinetic study over time. EORTC Soft Tissue and Bone Sarcoma Group.
Cancer Chemother Pharmacol 2005;55(4):379-386. doi:10.1007/s00280-004-0876-0 (title, abstract, DOI C1;
volume and pages C2)

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
34 % + additive 273 ng/mL (C2, Yang 2025 Table 1 "Prop 34 % + Add 273 ng/mL"): the combined form.

Yang 2025 Table 1 footnote a (through nlmixr2lib): "The population PK model was described differently on
day 1, day 29, and the extension phase. The model on the extension phase was used in this current
validation study."

Variant ``judson2005_main``: the abstract's model (C1: abstract on the publisher's page and on the Erasmus
repository). All the abstract publishes of it is the typical apparent CL, 9.33 L/h, and its covariate
effects in words (a patient at 77 % of the median weight, or at 1.87 times the median granulocyte count,
has CL 6.53 L/h, about 70 % of typical; at 84 % of the typical haemoglobin, V is about 70 %) with a +33 %
(95 % CI 33 +/- 34.6 %) rise of the typical CL after 12 months. No volume, absorption model, random effects
or residual error of that model is published in what was read, and the covariate effects cannot be
encoded (the medians they are relative to are not given). The variant therefore takes CL 9.33 L/h from
the abstract and borrows everything else from the extension-phase model above: V 182 L, zero-order input
1.51 h, the IIV matrix and the residual error; it has no covariates and does not model the rise over
time. Typical steady-state trough at 400 mg q24h (closed form, tag D): 943.3 ng/mL vs 754.1 ng/mL for the
extension-phase model at its reference weight, +25.1 %.
"""

from __future__ import annotations

from ._common import RESIDUAL_SOURCE, YANG_2025, positive
from .base import PopulationModel, Residual

NAME = "judson2005"
REFERENCE = (
    "Judson I, Ma P, Peng B, Verweij J, Racine A, di Paola ED, van Glabbeke M, Dimitrijevic S, Scurr M, Dumez H, "
    "van Oosterom A. Imatinib pharmacokinetics in patients with gastrointestinal stromal tumour: a retrospective "
    "population pharmacokinetic study over time. EORTC Soft Tissue and Bone Sarcoma Group. Cancer Chemother "
    "Pharmacol 2005;55(4):379-386. doi:10.1007/s00280-004-0876-0"
)
CITATION = REFERENCE + ". Extension-phase model as tabulated in " + YANG_2025
CITATION_READ = (
    "title, abstract and DOI: C1, the publisher's page reached through the DOI and the Erasmus University "
    "repository record (repub.eur.nl/pub/67306, which also lists the authors); volume, issue and pages: C2, "
    "nlmixr2lib Judson_2005_imatinib.R"
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
    residual=Residual(proportional=0.34, additive=273.0, form="combined"),
    confidence={
        "cl": "10.6 L/h at 67.5 kg: C2, Yang 2025 Table 1 (extension-phase model); abstract typical CL 9.33 L/h (other model): C1",
        "v": "182 L: C2, Yang 2025 Table 1",
        "d1": "1.51 h: C2, Yang 2025 Table 1",
        "covariates": "(WT/67.5)^0.002 on CL: C2, Yang 2025 Table 1",
        "omega": "variances 0.305 (CL), 0.34 (V), covariance 0.237: C2, Yang 2025 Table 1",
        "residual": "proportional 34% + additive 273 ng/mL, combined form: C2, " + RESIDUAL_SOURCE,
        "citation": CITATION_READ,
    },
    notes=(
        "The extension-phase model used by Yang 2025, not the abstract's model (typical CL 9.33 L/h with body "
        "weight and granulocyte effects on CL and haemoglobin on V, equations not found). The abstract's CL rise "
        "over 12 months (+33%, CI including 0) is not modelled. The weight exponent 0.002 is negligible. The "
        "abstract's typical CL is the variant judson2005_main (typical steady-state trough +25.1 %)."
    ),
)

MAIN_NAME = "judson2005_main"
MAIN_CL = 9.33  # L/h, typical apparent CL of the abstract's model


def _typical_main(covariates, occasion):
    return {"cl": MAIN_CL, "v": V_TYPICAL, "d1": D1}


MAIN_MODEL = PopulationModel(
    name=MAIN_NAME,
    title=(
        "Judson 2005 main model (abstract): typical CL 9.33 L/h; V, zero-order input, IIV and residual error "
        "borrowed from the extension-phase model; no covariates"
    ),
    citation=REFERENCE + ". Typical CL from the abstract; all other numbers borrowed from the extension-phase model "
    "as tabulated in " + YANG_2025,
    population=(
        "Patients with GIST and other sarcomas in the EORTC phase I and II trials, PK on day 1 and day 29 and (GIST) "
        "after about 12 months; number of patients and dose range not in the abstract"
    ),
    typical=_typical_main,
    iiv_parameters=("cl", "v"),
    omega=((VAR_CL, COV_CL_V), (COV_CL_V, VAR_V)),
    omega_note="BORROWED from the extension-phase model (Yang 2025 Table 1 variances 0.305, 0.34, covariance 0.237)",
    residual=Residual(proportional=0.34, additive=273.0, form="combined"),
    confidence={
        "cl": "9.33 L/h, typical apparent CL of the best-fitting model: C1, abstract",
        "v": "182 L: BORROWED from the extension-phase model (C2, Yang 2025 Table 1); not published for this model",
        "d1": "1.51 h: BORROWED from the extension-phase model (C2); not published for this model",
        "omega": "BORROWED from the extension-phase model (C2)",
        "residual": "BORROWED from the extension-phase model: proportional 34% + additive 273 ng/mL (C2)",
        "covariates": (
            "weight and granulocytes on CL, haemoglobin on V: described in words only (C1) and relative to medians "
            "that are not given, so not encoded"
        ),
        "citation": CITATION_READ,
        "difference": "D: closed-form zero-order steady-state trough at 400 mg q24h",
    },
    notes=(
        "Variant of judson2005: the abstract's typical CL of 9.33 L/h instead of the extension-phase 10.6 L/h. "
        "Everything else is borrowed from the extension-phase model (V 182 L, D1 1.51 h, IIV, residual error): "
        "the abstract publishes no volume, absorption, variability or residual error for its model. Its covariate "
        "effects (lower CL with low weight and high granulocyte count, lower V with low haemoglobin) and the "
        "+33 % rise of CL after 12 months are not modelled. Typical steady-state trough at 400 mg q24h: 943.3 ng/mL "
        "here vs 754.1 ng/mL (judson2005 at 67.5 kg), +25.1 % (closed-form zero-order one-compartment trough, "
        "tag D). Because the volume is borrowed, the shape of the profile is not the main model's."
    ),
    variant_of=NAME,
)

MODELS = (MODEL, MAIN_MODEL)
