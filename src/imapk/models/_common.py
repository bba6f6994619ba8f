"""Helpers shared by the model modules: the secondary source most models are read from, and
covariate access that refuses values a model equation cannot use (naming the model)."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..covariates import COVARIATES
from ..errors import ParameterError

#: Secondary source of most parameter tables (read through nlmixr2lib, which transcribes its Table 1;
#: the reference as nlmixr2lib gives it, C2).
YANG_2025 = (
    "Yang T, Rasmussen ASB, Weimann A, Thastrup M, Rank CU, Als-Nielsen B, Malmros J, Wik HS, Lohi O, "
    "Overgaard U, Johannsdottir IMR, Vaitkeviciene G, Dalhoff K, Schmiegelow K, Lund TM. Published population "
    "pharmacokinetic models of imatinib perform poorly on TDM data from pediatric patients. Target Oncol "
    "2025;20(5):871-886. doi:10.1007/s11523-025-01172-2"
)

#: Where the residual error forms of Yang 2025 Table 1 were read: the table labels each row's error "Prop",
#: "Add", "Prop + Add" or "Log-scale add" (as transcribed by nlmixr2lib's model files). The first three are the
#: combined form C (1 + prop e1) + add e2 with one of the parts zero; only "Log-scale add" is exponential.
RESIDUAL_SOURCE = (
    "Yang 2025 Table 1 as transcribed in nlmixr2lib (inst/modeldb/specificDrugs/<Author>_<year>_imatinib.R, "
    "error line `Cc ~ prop()`, `add()` or `prop() + add()`)"
)

#: How the literature notes say nlmixr2lib, and so imapk, reads a "CV %" of Yang 2025 Table 1.
NONMEM_CV_RULE = (
    "the tabulated CV % is read as omega = CV/100 (variance = (CV/100)^2, cv_to_variance_nonmem), "
    "the convention of nlmixr2lib's transcription of Yang 2025 Table 1, which it justifies from the "
    "Demetri 2009 and Judson 2005 covariances"
)


def positive(covariates: Mapping[str, np.ndarray], name: str, model: str) -> np.ndarray:
    """Covariate `name` as a float array; refuse non-finite or non-positive values (power laws need > 0)."""
    values = np.asarray(covariates[name], dtype=float)
    bad = ~(np.isfinite(values) & (values > 0.0))
    if bad.any():
        raise ParameterError(
            f"model {model}: covariate `{name}` must be a positive number",
            key=name,
            got=float(values[bad][0]),
            expected=f"> 0 {COVARIATES[name].unit}",
        )
    return values


def finite(covariates: Mapping[str, np.ndarray], name: str, model: str) -> np.ndarray:
    """Covariate `name` as a float array; refuse non-finite values."""
    values = np.asarray(covariates[name], dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise ParameterError(
            f"model {model}: covariate `{name}` must be finite",
            key=name,
            got=float(values[bad][0]),
            expected=f"a number in {COVARIATES[name].unit}",
        )
    return values


def level(covariates: Mapping[str, np.ndarray], name: str, model: str) -> np.ndarray:
    """Categorical covariate `name` as a str array; refuse levels not declared in imapk.covariates.

    Without this a misspelt level ("Female", "cg") would silently select the reference category.
    """
    values = np.asarray(covariates[name]).astype(str)
    allowed = COVARIATES[name].levels
    bad = ~np.isin(values, allowed)
    if bad.any():
        raise ParameterError(
            f"model {model}: unknown level of covariate `{name}`",
            key=name,
            got=str(values[bad][0]),
            expected=f"one of {', '.join(allowed)}",
        )
    return values


def late(occasion: int) -> float:
    """Occasion indicator OCC of a model with one occasion change: 0 before it, 1 from it on."""
    return 1.0 if occasion >= 1 else 0.0
