"""Eechoute 2012: GIST, long-term prospective study; two compartments, a transit absorption chain,
and exposure that falls over the first months.

Eechoute K, Fransson MN, Reyners AKL, de Jong FA, Sparreboom A, van der Graaf WTA, ..., de Giorgi U.
A long-term prospective population pharmacokinetic study on imatinib plasma concentrations in GIST
patients. Clin Cancer Res 2012;18(20):5780-5787. doi:10.1158/1078-0432.CCR-12-0490 (authors as the
university repository lists them; the middle ones were not read)

Published structure and values (C2, Yang 2025 Table 1 as transcribed by nlmixr2lib,
``Eechoute_2012_imatinib.R``): two compartments, and an absorption chain "T5": the dose enters a
depot emptied at ktr, followed by transit compartments 1-4 at ktr and transit compartment 5
emptied into the central compartment at ka (imapk: ``n_transit = 5`` compartments at ktr ahead of
the absorption compartment). The absorption rate and a relative bioavailability decay with the
time after the first dose (TAF, h):

    ka(TAF) = 0.699 (1 + 1.18 exp(-0.0256 TAF / 24))   [1/h]
    F(TAF)  = 1 + 0.482 exp(-0.0256 TAF / 24)           (relative; evaluated at each dose)
    CL = 9.12 (1 - 0.000381 LIVM)  [L/h, LIVM cm^3],  Vc 128 L, Q 24.9 L/h, Vp 197 L, ktr 15.8 1/h

The abstract (C1) reports systemic exposure 29.3 % lower at 90 days than at baseline:
F(90 d) / F(0) = (1 + 0.482 e^-2.304) / 1.482 = 0.707, i.e. -29.3 %.

IIV (exponential, CV % read as omega): CL 49.5 %, one eta shared by Vc and ka 70.9 % (the table
prints it under "Vc-Ka"; nlmixr2lib reads a shared eta), Ktr 160 %, Vp 65.9 %; none on Q.
Residual error: 35 % additive on the log scale (exponential form). CL and the volumes are those
of the model with its explicit relative F, i.e. apparent values at the asymptote F = 1.

ka(TAF) changes continuously, so this model runs on the ODE path (``method = "ode"``). TAF is
imapk's time-on-therapy clock, whose behaviour over a hold (running, paused, reset) is a scenario
option: the paper does not say.

Until 0.1 imapk shipped a one-compartment simplification (V = Vc + Vp = 325 L, the chain replaced
by a lag of 5/ktr = 0.316 h). Against this published structure it gave typical troughs at
400 mg/d about 11 % higher (1346 vs 1212 ng/mL at the plateau, 1654 vs 1494 ng/mL on day 29) and
dropped the IIV on Vc, ka, Ktr and Vp; it is gone.

The chain's topology is an inference of the transcription (the table gives only "T5", Ktr and
Ka): dosing straight into transit compartment 1 (four compartments at ktr) would shorten the mean
absorption time by 1/ktr = 0.063 h of about 1.75 h; the plateau trough at 400 mg/d with ka and F at their
asymptotes moves by -0.16 % (1210.1 vs 1212.0 ng/mL, exact path).
"""

from __future__ import annotations

import math

from ._common import YANG_2025, NONMEM_CV_RULE, finite
from .base import PopulationModel, Residual, TimeFactor, TimeVariation, cv_to_variance_nonmem

DECAY_PER_HOUR = 0.0256 / 24.0  # 0.0256 per day (half-life about 27 days)


N_TRANSIT = 5


def _typical(covariates, occasion):
    liver = finite(covariates, "liver_metastases", "eechoute2012")
    return {"cl": 9.12 * (1.0 - 0.000381 * liver), "v": 128.0, "q": 24.9, "vp": 197.0, "ka": 0.699, "ktr": 15.8}


MODELS = (
    PopulationModel(
        name="eechoute2012",
        title="Eechoute 2012: GIST, 2-cmt with a 5-compartment transit chain, time-dependent ka and relative F (ODE path)",
        citation=(
            "Eechoute K, Fransson MN, Reyners AKL, de Jong FA, Sparreboom A, van der Graaf WTA, et al. (last author "
            "de Giorgi U). A long-term prospective population pharmacokinetic study "
            "on imatinib plasma concentrations in GIST patients. Clin Cancer Res 2012;18(20):5780-5787. "
            f"doi:10.1158/1078-0432.CCR-12-0490. Parameters as tabulated in {YANG_2025}"
        ),
        population="50 GIST patients, full PK on day 1 and at 1, 6 and 12 months, monthly troughs; 400 mg/d",
        typical=_typical,
        covariates=("liver_metastases",),
        iiv_parameters=("cl", "v", "ktr", "vp"),
        omega=(
            (cv_to_variance_nonmem(0.495), 0.0, 0.0, 0.0),
            (0.0, cv_to_variance_nonmem(0.709), 0.0, 0.0),
            (0.0, 0.0, cv_to_variance_nonmem(1.60), 0.0),
            (0.0, 0.0, 0.0, cv_to_variance_nonmem(0.659)),
        ),
        eta_shared={"ka": "v"},
        n_transit=N_TRANSIT,
        omega_note=(
            f"CL 49.5 %, Vc and ka 70.9 % (one shared eta), Ktr 160 %, Vp 65.9 %, no covariances: {NONMEM_CV_RULE}"
        ),
        residual=Residual(proportional=0.35, form="exponential"),
        time_variation=TimeVariation(
            ka=TimeFactor(amplitude=1.18, rate=DECAY_PER_HOUR),
            f=TimeFactor(amplitude=0.482, rate=DECAY_PER_HOUR),
        ),
        confidence={
            "citation": (
                "title, journal, volume, pages, DOI and the first six and last authors: C1, Erasmus University "
                "repository record (repub.eur.nl/pub/64602) and Uppsala DiVA record; the middle authors are not "
                "listed there"
            ),
            "cl": "9.12 L/h, liver metastases -3.8 % per 100 cm^3: C2 (0.000381 x 100 = 3.8 %, consistent with C1)",
            "v": "Vc 128 L: C2",
            "q": "24.9 L/h: C2",
            "vp": "197 L: C2",
            "ktr": "15.8 1/h, five compartments at ktr ahead of the ka compartment: C2 (topology inferred by nlmixr2lib)",
            "ka": "0.699 (1 + 1.18 exp(-0.0256 TAF/24)) 1/h: C2",
            "f": "1 + 0.482 exp(-0.0256 TAF/24): C2; reproduces the abstract's -29.3 % at 90 days (C1)",
            "residual": "35 % additive on the log scale (exponential form): C2",
        },
        notes=(
            "Published 2-cmt structure with a 5-compartment transit chain; needs method = 'ode' because ka "
            "changes continuously. Whether the time dependence resets after an interruption "
            f"is unknown (literature notes, not found): choose with [schedule] therapy_clock. "
            f"Decay half-life ln2/0.0256 = {math.log(2) / 0.0256:.1f} d."
        ),
    ),
)
