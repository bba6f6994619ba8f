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
Residual error: proportional, C (1 + 0.3138 e) (Tucuxi drug file, errorModelType "proportional"; Yang 2025
Table 1: "Prop 31 %"): the combined form with no additive part.

Categories: the covariate model is fitted on CML and GIST patients (plus one patient with ALL, Yang 2025
Table 1 as transcribed), coded GIST vs not-GIST. It defines ``disease`` = CML or GIST only; "other" is
refused rather than silently read as CML.

Variant ``widmer2006_independent``: Yang 2025 Table 1 (through nlmixr2lib) transcribes the same base model
with independent random effects (CV 36 % and 63 %, no covariance), ka 0.61 1/h and a 31 % proportional
error. Its typical trough is the same to 0.01 %; what changes is the spread of troughs across patients:
with the CL-V correlation of 0.798, a high clearance comes with a large volume, and the two cancel in the
trough. At 400 mg q24h, steady-state trough, random effects only (no residual error), the fraction of
patients at or above 1100 ng/mL is 9.5 % with the correlated matrix and 21.6 % with the independent one
(21.4 % with the Tucuxi variances and the correlation removed). Computed here (tag D) by integrating the
closed-form trough over eta_V (201-point Gauss-Hermite) and, for each eta_V, the conditional normal
probability of eta_CL below the root of C_trough = 1100 ng/mL.
"""

from __future__ import annotations

from ._common import RESIDUAL_SOURCE, YANG_2025
from .base import PopulationModel, Residual, cv_to_variance_nonmem

CITATION = (
    "Widmer N, Decosterd LA, Csajka C, Leyvraz S, Duchosal MA, Rosselet A, Rochat B, Eap CB, Henry H, Biollaz J, "
    "Buclin T. Population pharmacokinetics of imatinib and the role of alpha1-acid glycoprotein. Br J Clin "
    "Pharmacol 2006;62(1):97-112. doi:10.1111/j.1365-2125.2006.02719.x"
)
#: Where the citation was read.
CITATION_READ = "C1: PubMed Central record PMC1885072 (authors, title, journal, 2006;62(1):97-112, DOI)"
CATEGORIES = {"disease": ("CML", "GIST"), "sex": ("male", "female")}
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
    "residual": (
        "proportional 0.3138 (Tucuxi errorModelType 'proportional'): C2; 'Prop 31 %': C2, Yang 2025 Table 1; "
        "form: combined with no additive part"
    ),
    "citation": CITATION_READ,
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
    residual=Residual(proportional=0.3138, form="combined"),
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
    categories=CATEGORIES,
    iiv_parameters=("cl", "v"),
    omega=OMEGA,
    omega_note=OMEGA_NOTE,
    residual=Residual(proportional=0.3138, form="combined"),
    confidence={
        **CONFIDENCE,
        "covariates": "C2: Tucuxi NONMEM $PK and drug file (THETA 14.3, 5.42, 1.49, -5.81, -0.806; V 347, 46.2)",
    },
    notes=(
        "Sex coding: Tucuxi's variable is MALE (S = 1 men) but its text says sex = 1 is female; imapk uses "
        "S = 1 for men (higher CL and V in men, as in Gotta 2014). The AGP sub-model was not found and is "
        "not implemented. Disease: the model is fitted on CML and GIST and defines only these two; any other "
        "indication is refused (it used to be read as CML)."
    ),
)

#: Yang 2025 Table 1's reading of the base model (C2, through nlmixr2lib Widmer_2006_imatinib.R).
YANG_CV_CL, YANG_CV_V, YANG_KA, YANG_PROPORTIONAL = 0.36, 0.63, 0.61, 0.31


def _base_yang(covariates, occasion):
    return {"cl": 14.3, "v": 347.0, "ka": YANG_KA}


INDEPENDENT = PopulationModel(
    name="widmer2006_independent",
    title="Widmer 2006 base model as read by Yang 2025: independent random effects on CL and V (no correlation)",
    citation=CITATION + ". Read as tabulated in " + YANG_2025,
    population=POPULATION,
    typical=_base_yang,
    iiv_parameters=("cl", "v"),
    omega=((cv_to_variance_nonmem(YANG_CV_CL), 0.0), (0.0, cv_to_variance_nonmem(YANG_CV_V))),
    omega_note=(
        "Yang 2025 Table 1: CV 36 % (CL) and 63 % (V), no covariance; read as omega = CV/100 (variance 0.1296 and "
        "0.3969), as nlmixr2lib does"
    ),
    residual=Residual(proportional=YANG_PROPORTIONAL, form="combined"),
    confidence={
        "cl": "14.3 L/h: C1, abstract (PMC1885072); C2, Yang 2025 Table 1",
        "v": "347 L: C1, abstract; C2, Yang 2025 Table 1",
        "ka": "0.61 1/h: C2, Yang 2025 Table 1 (Tucuxi: 0.609)",
        "omega": "CV 36 % and 63 %, no covariance: C2, Yang 2025 Table 1 (nlmixr2lib etalcl ~ 0.1296, etalvc ~ 0.3969)",
        "residual": "'Prop 31 %': C2, " + RESIDUAL_SOURCE,
        "citation": CITATION_READ,
        "difference": (
            "D: fraction >= 1100 ng/mL at 400 mg q24h by quadrature of the closed-form steady-state trough over the "
            "random effects (module docstring)"
        ),
    },
    notes=(
        "Another transcription of widmer2006: Yang 2025 reads the random effects on CL and V as independent (CV 36 % "
        "and 63 %), where the Tucuxi drug file (widmer2006) has a correlation of 0.798. Typical steady-state trough "
        "at 400 mg q24h: 732.1 ng/mL here (ka 0.61) vs 732.2 ng/mL (ka 0.609), a difference of -0.01 %. The "
        "spread differs: fraction of patients with a steady-state trough >= 1100 ng/mL at 400 mg q24h (random "
        "effects only, no residual error) 21.6 % here vs 9.5 % with the correlated matrix (21.4 % with the Tucuxi "
        "variances and no correlation). Computed by quadrature of the closed-form trough (tag D). A reviewer's "
        "figure of 24.8 % vs 32.3 % could not be reproduced for this population and dose (base model, covariate "
        "model at the reference subject, CML or GIST, with or without residual error, 400-800 mg)."
    ),
    reference_trough=(732.1, "closed-form steady-state trough at 400 mg q24h with ka 0.61 (tag D); nlmixr2lib 732.1"),
    variant_of="widmer2006",
)

MODELS = (BASE, COVARIATE_MODEL, INDEPENDENT)
