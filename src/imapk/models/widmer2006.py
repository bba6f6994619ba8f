"""Widmer 2006: CML and GIST patients (Lausanne), one compartment, first-order absorption.

Widmer N, Decosterd LA, Csajka C, Leyvraz S, Duchosal MA, Rosselet A, Rochat B, Eap CB, Henry H,
Biollaz J, Buclin T. Population pharmacokinetics of imatinib and the role of alpha1-acid
glycoprotein. Br J Clin Pharmacol 2006;62(1):97-112. doi:10.1111/j.1365-2125.2006.02719.x

Two entries: ``widmer2006``, the base model (typical CL/F 14.3 L/h and V/F 347 L from the abstract,
no covariates), and ``widmer2006_covariates``, the demographic covariate model as encoded in the
Tucuxi TDM software (NONMEM $PK and drug file):

    CL = 14.3 + 5.42 (BW - 70)/70 + 1.49 S - 1.49 (1 - S) - 5.81 (AGE - 50)/50 - 0.806 GIST + 0.806 (1 - GIST)
    V  = 347 + 46.2 S - 46.2 (1 - S)

Sex coding: Tucuxi names the variable MALE (S = 1 for men) but its description text says sex = 1 is
female. imapk takes S = 1 for men: that is the variable's name in the model code, and it gives men
the higher CL and V, as Gotta 2014 (CL/F 15.2 % lower in women) and body-size physiology do. The
AGP sub-model (total CL falling with AGP) was not found in any source read and is not implemented.

IIV: omega_CL = 0.356 and omega_V = 0.629 (SD of eta, exponential model), correlation 0.798,
covariance 0.179 (Tucuxi drug file; 0.798 x 0.356 x 0.629 = 0.179). The abstract's "36 %" and
"63 %" are these omegas reported as CV % (NONMEM-table convention, omega = CV), so no conversion
is applied. The abstract states the 36 % as the variability *remaining after* the demographic
covariates; the base-model entry uses the same matrix for lack of a published base-model value.
Residual error: proportional 31.38 % (Tucuxi; Yang 2025 Table 1: 31 %).
"""

from __future__ import annotations

from .base import PopulationModel, Residual

CITATION = (
    "Widmer N, Decosterd LA, Csajka C, et al. Population pharmacokinetics of imatinib and the role of "
    "alpha1-acid glycoprotein. Br J Clin Pharmacol 2006;62(1):97-112. doi:10.1111/j.1365-2125.2006.02719.x"
)
POPULATION = "59 patients (CML and GIST), 321 samples, 400-800 mg/d; age 20-88 y, weight 44-110 kg"
OMEGA = ((0.356**2, 0.179), (0.179, 0.629**2))
OMEGA_NOTE = (
    "Tucuxi drug file: omega_CL 0.356, omega_V 0.629 (SD of eta), covariance 0.179 (correlation 0.798); "
    "the abstract's 36 % and 63 % are these omegas as CV % (omega = CV, NONMEM-table convention)"
)
CONFIDENCE = {
    "cl": "14.3 L/h (SEM 1.0): C1, abstract (PMC1885072)",
    "v": "347 L (SEM 62): C1, abstract",
    "ka": "0.609 1/h: C2, Tucuxi gotta2012 drug file and NONMEM control stream (Yang 2025 Table 1: 0.61)",
    "f": "1, fixed (CL and V are apparent): C2, Tucuxi",
    "omega": "C2, Tucuxi drug file",
    "residual": "proportional 0.3138: C2, Tucuxi; 31 %: C2, Yang 2025 Table 1",
}
FITTED_RANGES = {"age": (20.0, 88.0), "weight": (44.0, 110.0)}


def _base(covariates, occasion):
    return {"cl": 14.3, "v": 347.0, "ka": 0.609}


def _demographic(covariates, occasion):
    male = (covariates["sex"] == "male").astype(float)
    gist = (covariates["disease"] == "GIST").astype(float)
    weight = covariates["weight"]
    age = covariates["age"]
    cl = (
        14.3
        + 5.42 * (weight - 70.0) / 70.0
        + 1.49 * male
        - 1.49 * (1.0 - male)
        - 5.81 * (age - 50.0) / 50.0
        - 0.806 * gist
        + 0.806 * (1.0 - gist)
    )
    v = 347.0 + 46.2 * male - 46.2 * (1.0 - male)
    return {"cl": cl, "v": v, "ka": 0.609}


BASE = PopulationModel(
    name="widmer2006",
    title="Widmer 2006 base model: CML + GIST (Lausanne), 1-cmt, first-order absorption, no covariates",
    citation=CITATION,
    population=POPULATION,
    typical=_base,
    iiv_parameters=("cl", "v"),
    omega=OMEGA,
    omega_note=OMEGA_NOTE + "; published for the covariate model, used here for the base model too",
    residual=Residual(proportional=0.3138),
    confidence=CONFIDENCE,
    notes="Typical values only; for covariates use widmer2006_covariates.",
    reference_trough=(
        732.0,
        "closed-form superposition of the base model at 400 mg q24h (literature notes, tag D; nlmixr2lib 732.1)",
    ),
)

COVARIATE_MODEL = PopulationModel(
    name="widmer2006_covariates",
    title="Widmer 2006 demographic covariate model: CL on weight, sex, age, disease; V on sex",
    citation=CITATION,
    population=POPULATION,
    typical=_demographic,
    covariates=("weight", "age", "sex", "disease"),
    fitted_ranges=FITTED_RANGES,
    iiv_parameters=("cl", "v"),
    omega=OMEGA,
    omega_note=OMEGA_NOTE,
    residual=Residual(proportional=0.3138),
    confidence={
        **CONFIDENCE,
        "covariates": "C2: Tucuxi NONMEM $PK and drug file (THETA 14.3, 5.42, 1.49, -5.81, -0.806; V 347, 46.2)",
    },
    notes=(
        "Sex coding: Tucuxi's variable is MALE (S = 1 men) but its text says sex = 1 is female; imapk uses "
        "S = 1 for men (higher CL and V in men, as in Gotta 2014). The AGP sub-model was not found and is "
        "not implemented."
    ),
)

MODELS = (BASE, COVARIATE_MODEL)
