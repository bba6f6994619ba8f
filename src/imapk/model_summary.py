"""Typical troughs of a published model: the numbers ``imapk params`` and the validation report
print beside a model's parameter table (its plateau and day-29 troughs, how the day-29 trough
depends on when occasion effects start, and how far each variant's reading moves it).

All for the model's reference subject (:data:`imapk.covariates.REFERENCE_SUBJECT`) without
random effects, at 400 mg once daily unless told otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .covariates import REFERENCE_SUBJECT
from .models.base import PopulationModel

__all__ = ["typical_trough", "occasion_timing_troughs", "VariantDifference", "variant_differences"]

#: The regimen of every summary. [mg], [h]
DOSE, INTERVAL = 400.0, 24.0


def _method(model: PopulationModel) -> str:
    return "ode" if model.time_variation.needs_ode else "exact"


def typical_trough(
    model: PopulationModel,
    *,
    day: int | None = None,
    occasion_timing: str = "fit",
    dose: float = DOSE,
    covariates: dict | None = None,
) -> float:
    """Typical trough [ng/mL] of `model` at `dose` mg every 24 h.

    Parameters
    ----------
    day
        None: the plateau, a steady-state start long after the start of therapy (every occasion
        effect in force, every transient of time on therapy over). A day d >= 2: the trough just
        before the dose of clinical day d, therapy having started on day 1 (occasion effects
        start as `occasion_timing` says).
    occasion_timing
        See :func:`imapk.population.occasion_onset_days`.
    dose
        Dose every 24 h. [mg]
    covariates
        Covariates of the subject (default: the reference subject).
    """
    from .population import draw_parameters
    from .schedule import Phase, Schedule, SteadyState
    from .simulation import simulate

    values = covariates or REFERENCE_SUBJECT
    arrays = {name: np.array([values[name]]) for name in model.covariates}
    start = 0.0 if day is not None else None
    table = draw_parameters(model, arrays, np.arange(1), seed=None, iiv=False, time_on_therapy_at_start=start,
                            occasion_timing=occasion_timing)
    if day is None:
        schedule = Schedule(phases=(Phase(dose=dose, days=1),), steady_state=SteadyState(dose, INTERVAL))
        index = 0
    else:
        if day < 2:
            raise ValueError("the first trough after the start of therapy is on day 2")
        schedule = Schedule(phases=(Phase(dose=dose, days=day),))
        index = day - 1
    result = simulate(schedule, table, method=_method(model), variation=model.time_variation, quantiles=(),
                      as_dataset=False)
    return float(result["trough"].values[0, index])


def occasion_timing_troughs(model: PopulationModel, day: int = 29) -> dict[str, float]:
    """The day-`day` typical trough under each occasion timing, and the last occasion's plateau.

    Empty for a model without occasion effects.
    """
    from .population import OCCASION_TIMINGS

    if not model.occasion_days:
        return {}
    troughs = {timing: typical_trough(model, day=day, occasion_timing=timing) for timing in OCCASION_TIMINGS}
    troughs["plateau"] = typical_trough(model)
    return troughs


@dataclass(frozen=True)
class VariantDifference:
    """How far a variant's reading moves the typical plateau trough against its main model.

    Attributes
    ----------
    name, main
        The variant and the model it is a variant of.
    trough, main_trough
        Typical plateau troughs at 400 mg/d. [ng/mL]
    """

    name: str
    main: str
    trough: float
    main_trough: float

    @property
    def relative(self) -> float:
        """trough / main_trough - 1."""
        return self.trough / self.main_trough - 1.0


def variant_differences(model: PopulationModel) -> list[VariantDifference]:
    """Every shipped variant of `model`'s family (or of its main model, for a variant) against the main model."""
    from .models import MODELS

    main = MODELS[model.variant_of] if model.variant_of else model
    variants = [m for m in MODELS.values() if m.variant_of == main.name]
    if not variants:
        return []
    main_trough = typical_trough(main)
    return [VariantDifference(v.name, main.name, typical_trough(v), main_trough) for v in variants]


def covariate_equations(model) -> list[str]:
    """The lines of imapk's code that compute the model's typical values from its covariates, as written.

    Shown by ``imapk params NAME`` so a reader can check them against the publication: they are the
    code itself (not a description that could drift from it), without the function's signature, its
    docstring and its comments.
    """
    import inspect
    import textwrap

    try:
        source = inspect.getsource(model.typical)
    except (OSError, TypeError):  # no source shipped (a frozen install), or a built-in callable
        return []
    body = textwrap.dedent("\n".join(source.splitlines()[1:]))
    lines, in_docstring = [], False
    for line in body.splitlines():
        stripped = line.strip()
        if stripped.startswith(('"""', "'''")):
            in_docstring = not in_docstring if stripped.count('"""') + stripped.count("'''") == 1 else in_docstring
            continue
        if in_docstring or not stripped or stripped.startswith("#"):
            continue
        lines.append(line.rstrip())
    return lines
