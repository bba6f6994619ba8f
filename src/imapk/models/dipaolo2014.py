"""Di Paolo 2014: Italian CML patients, one compartment, first-order absorption; AGP and SLC22A1 effects.

Di Paolo A, Polillo M, Capecchi M, Cervetti G, Barate C, Angelini S, Guerrini F, Fontanelli G, Arici R,
Ciabatti E, Grassi S, Bocci G, Hrelia P, Danesi R, Petrini M, Galimberti S. The c.480C>G polymorphism of
hOCT1 influences imatinib clearance in patients affected by chronic myeloid leukemia. Pharmacogenomics J
2014;14(4):328-335. doi:10.1038/tpj.2014.7

Citation: C2 (nlmixr2lib DiPaolo_2014_imatinib.R); the primary's own page was not found in the sources read.

Parameter values: C2 (Yang 2025 Table 1 via nlmixr2lib):

    CL = 13.093 x 0.775 [if AGP > 0.94 g/L] x 0.882 [if SLC22A1 rs683369 is CG or GG]   [L/h]
    V  = 359.238 x 0.793 [if AGP > 0.94 g/L]                                            [L]
    ka = 1.29 1/h

The AGP effect is a step at 0.94 g/L (strictly greater: 0.94 itself is below the threshold), so the
typical CL and V jump by 22.5 % and 20.7 % across it. SLC22A1 (OCT1) CG and GG carriers share one
factor (dominant coding); CC is the reference.

IIV: CL 19.62 % only, CV % read as omega (variance = CV^2). No IIV on V or ka reported: left out.
Residual error: proportional 28.98 % (C2, Yang 2025 Table 1 "Prop"), C (1 + 0.2898 e).
"""

from __future__ import annotations

import numpy as np

from ._common import NONMEM_CV_RULE, RESIDUAL_SOURCE, YANG_2025, level, positive
from .base import PopulationModel, Residual, cv_to_variance_nonmem

NAME = "dipaolo2014"
CITATION = (
    "Di Paolo A, Polillo M, Capecchi M, Cervetti G, Barate C, Angelini S, Guerrini F, Fontanelli G, Arici R, "
    "Ciabatti E, Grassi S, Bocci G, Hrelia P, Danesi R, Petrini M, Galimberti S. The c.480C>G polymorphism of hOCT1 "
    "influences imatinib clearance in patients affected by chronic myeloid leukemia. Pharmacogenomics J "
    "2014;14(4):328-335. doi:10.1038/tpj.2014.7. Parameters as tabulated in " + YANG_2025
)
CITATION_READ = "C2: nlmixr2lib DiPaolo_2014_imatinib.R reference (not found in a primary or PubMed page)"
POPULATION = "60 Italian patients with CML; dose range not in the sources read"

CL_TYPICAL, V_TYPICAL, KA = 13.093, 359.238, 1.29  # L/h, L, 1/h
AGP_THRESHOLD = 0.94  # g/L; effect applies above it
CL_HIGH_AGP, V_HIGH_AGP = 0.775, 0.793
CL_SLC22A1_G = 0.882  # rs683369 CG or GG
CV_CL = 0.1962


def _typical(covariates, occasion):
    high_agp = positive(covariates, "agp", NAME) > AGP_THRESHOLD
    g_carrier = np.isin(level(covariates, "slc22a1_rs683369", NAME), ("CG", "GG"))
    cl = CL_TYPICAL * np.where(high_agp, CL_HIGH_AGP, 1.0) * np.where(g_carrier, CL_SLC22A1_G, 1.0)
    v = V_TYPICAL * np.where(high_agp, V_HIGH_AGP, 1.0)
    return {"cl": cl, "v": v, "ka": KA}


MODEL = PopulationModel(
    name=NAME,
    title=(
        "Di Paolo 2014: Italian CML (n = 60), 1-cmt, first-order absorption; CL and V lower if AGP > 0.94 g/L, "
        "CL lower in SLC22A1 rs683369 G carriers"
    ),
    citation=CITATION,
    population=POPULATION,
    typical=_typical,
    covariates=("agp", "slc22a1_rs683369"),
    categories={"slc22a1_rs683369": ("CC", "CG", "GG")},
    iiv_parameters=("cl",),
    omega=((cv_to_variance_nonmem(CV_CL),),),
    omega_note=f"CL 19.62 % (Yang 2025 Table 1): {NONMEM_CV_RULE}; no IIV on V or ka reported",
    residual=Residual(proportional=0.2898, form="combined"),
    confidence={
        "cl": "13.093 L/h (AGP <= 0.94 g/L, rs683369 CC): C2, Yang 2025 Table 1",
        "v": "359.238 L (AGP <= 0.94 g/L): C2, Yang 2025 Table 1",
        "ka": "1.29 1/h: C2, Yang 2025 Table 1",
        "covariates": "AGP > 0.94 g/L: CL x 0.775, V x 0.793; rs683369 CG/GG: CL x 0.882: C2, Yang 2025 Table 1",
        "omega": "CL 19.62%: C2, Yang 2025 Table 1",
        "residual": "proportional 28.98%, combined form with no additive part: C2, " + RESIDUAL_SOURCE,
        "citation": CITATION_READ,
    },
    notes=(
        "AGP enters as a step at 0.94 g/L (strictly above), so typical CL and V are discontinuous there. No IIV "
        "on V or ka in the source: none applied. Covariate ranges of the fitted data are not in the sources read."
    ),
)

MODELS = (MODEL,)
