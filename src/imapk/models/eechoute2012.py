"""Eechoute 2012: GIST, long-term prospective study; exposure that falls over the first months.

Eechoute K, Fransson MN, Reyners AK, de Jong FA, Sparreboom A, van der Graaf WT, Friberg LE,
Schiavon G, Wiemer EA, Verweij J, Loos WJ, Mathijssen RH, De Giorgi U. A long-term prospective
population pharmacokinetic study on imatinib plasma concentrations in GIST patients. Clin Cancer
Res 2012;18(20):5780-5787. doi:10.1158/1078-0432.CCR-12-0490

Published structure (C2, Yang 2025 Table 1 via nlmixr2lib): two compartments, a chain of five
transit compartments (ktr 15.8 1/h), and an absorption rate and a relative bioavailability that
decay with time after the first dose (TAF, h):

    ka(TAF) = 0.699 (1 + 1.18 exp(-0.0256 TAF / 24))   [1/h]
    F(TAF)  = 1 + 0.482 exp(-0.0256 TAF / 24)           (relative)
    CL = 9.12 (1 - 0.000381 LIVM)  [L/h, LIVM cm^3],  Vc 128 L, Q 24.9 L/h, Vp 197 L

The abstract (C1) reports systemic exposure 29.3 % lower at 90 days than at baseline:
F(90 d) / F(0) = (1 + 0.482 e^-2.304) / 1.482 = 0.707, i.e. -29.3 %.

imapk's simplification to one compartment: V = Vc + Vp = 325 L (the volume at distribution
equilibrium, which governs the trough between daily doses), the transit chain replaced by a lag
equal to its mean transit time 5 / 15.8 = 0.316 h, ka(TAF) and F(TAF) kept as published. What this
changes: peaks come out lower and later than with the central volume of 128 L and the distribution
phase is lost, so peak-based metrics are biased; troughs at 24 h and the time course of the
exposure decline (driven by F and ka over weeks) are kept. TAF is imapk's time-on-therapy clock,
whose behaviour over a hold (running, paused, reset) is a scenario option: the paper does not say.
"""

from __future__ import annotations

import math

from ._common import YANG_2025, NONMEM_CV_RULE, finite
from .base import PopulationModel, Residual, TimeFactor, TimeVariation, cv_to_variance_nonmem

DECAY_PER_HOUR = 0.0256 / 24.0  # 0.0256 per day (half-life about 27 days)


def _typical(covariates, occasion):
    liver = finite(covariates, "liver_metastases", "eechoute2012")
    return {"cl": 9.12 * (1.0 - 0.000381 * liver), "v": 128.0 + 197.0, "ka": 0.699, "tlag": 5.0 / 15.8}


MODELS = (
    PopulationModel(
        name="eechoute2012",
        title="Eechoute 2012: GIST, time-dependent ka and relative F (1-cmt simplification; ODE path)",
        citation=(
            "Eechoute K, Fransson MN, Reyners AK, et al. A long-term prospective population pharmacokinetic study "
            "on imatinib plasma concentrations in GIST patients. Clin Cancer Res 2012;18(20):5780-5787. "
            f"doi:10.1158/1078-0432.CCR-12-0490. Parameters as tabulated in {YANG_2025}"
        ),
        population="50 GIST patients, full PK on day 1 and at 1, 6 and 12 months, monthly troughs; 400 mg/d",
        typical=_typical,
        covariates=("liver_metastases",),
        iiv_parameters=("cl",),
        omega=((cv_to_variance_nonmem(0.495),),),
        omega_note=f"CL 49.5 %: {NONMEM_CV_RULE}. IIV on Vc/ka (70.9 %, shared) and Vp are left out with the 2-cmt structure",
        residual=Residual(proportional=0.35),
        time_variation=TimeVariation(
            ka=TimeFactor(amplitude=1.18, rate=DECAY_PER_HOUR),
            f=TimeFactor(amplitude=0.482, rate=DECAY_PER_HOUR),
        ),
        confidence={
            "cl": "9.12 L/h, liver metastases -3.8 % per 100 cm^3: C2 (0.000381 x 100 = 3.8 %, consistent with C1)",
            "v": "Vc 128 L + Vp 197 L: C2; summed by imapk (1-cmt simplification)",
            "ka": "0.699 (1 + 1.18 exp(-0.0256 TAF/24)) 1/h: C2",
            "f": "1 + 0.482 exp(-0.0256 TAF/24): C2; reproduces the abstract's -29.3 % at 90 days (C1)",
            "tlag": "5 transits / ktr 15.8 1/h = 0.316 h: derived by imapk from C2 values",
            "residual": "35 % (log-additive, used as proportional): C2",
        },
        notes=(
            "One-compartment simplification of a 2-cmt transit model (see module docstring); needs method = "
            "'ode' because ka changes continuously. Whether the time dependence resets after an interruption "
            f"is unknown (literature notes, not found): choose with [schedule] therapy_clock. "
            f"Decay half-life ln2/0.0256 = {math.log(2) / 0.0256:.1f} d."
        ),
    ),
)
