"""A patient's fit and plan as text lines and as plain data (for the command line and JSON)."""

from __future__ import annotations

import math

import numpy as np

from .estimation import MapResult
from .planning import StepPlan

__all__ = ["summary_lines", "summary_record"]


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def summary_lines(fit: MapResult, plan: StepPlan | None = None, *, patient: str | None = None,
                  time_offset: float = 0.0) -> list[str]:
    """Text lines: the individual parameters with their intervals and shrinkage, each level with its
    prediction and IWRES, the quality messages, and the candidate doses of `plan`; for a fit on the
    patient's records (:attr:`MapResult.records`), a line saying so and why.

    Parameters
    ----------
    fit, plan
        The patient's fit and (optionally) its plan.
    patient
        The patient's ID, for the heading.
    time_offset
        Added to the times shown (a data set's time of the first dose). [h]
    """
    level = f"{100 * fit.coverage:g} %"
    lines = [f"Patient {patient}" if patient is not None else "Patient", f"  model {fit.model.name}; "
             f"{fit.observations.size} level(s); importance samples ESS {fit.ess:.0f}"]
    if fit.records is not None:
        lines.append(f"  predictions walk the patient's records, which a dose table cannot express: {fit.records.reason}")
    for i, name in enumerate(fit.eta_names):
        lo, hi = fit.interval_sampled[name]
        lines.append(f"  {name:<4} {fit.parameters[name]:9.4g} ({level} {lo:.4g}-{hi:.4g}); typical "
                     f"{fit.typical[name]:.4g}; eta {fit.eta[i]:+.3f}; shrinkage {_pct(fit.shrinkage[i])}")
    if fit.kappa.size:
        shown = ", ".join(f"{t + time_offset:g} h {k:+.3f} (SD {sd:.3f})"
                          for t, k, sd in zip(fit.kappa_start, fit.kappa, fit.kappa_sd))
        lines.append(f"  inter-occasion effect on CL (prior SD {fit.iov_cl:g}), kappa of the dose interval from: {shown}")
    obs = fit.observations
    for j in range(obs.size):
        shown = f"< {obs.lloq[j]:g} (BLQ)" if obs.censored[j] else f"{obs.value[j]:g}"
        iwres = "" if obs.censored[j] else f", IWRES {fit.iwres[j]:+.2f}"
        lines.append(f"  level at {obs.time[j] + time_offset:g} h: {shown} ng/mL; predicted {fit.prediction[j]:.0f}{iwres}")
    lines += [f"  warning: {message}" for message in fit.warnings]
    if plan is not None:
        ceiling = f", P(>= {plan.ceiling.value:g})" if plan.ceiling is not None else ""
        heading = f"  Next step (target {plan.target.name} {plan.target.value:g} ng/mL"
        if plan.ceiling is not None:
            heading += f", ceiling {plan.ceiling.name} {plan.ceiling.value:g} ng/mL"
        lines.append(heading + "):")
        day = f"; day {plan.day}: median, P(>= target)" if plan.day is not None else ""
        lines.append(f"    dose    steady-state trough median ({level}), P(>= target){ceiling}{day}")
        for k, dose in enumerate(plan.dose):
            row = (f"    {dose:4g} mg {plan.steady_state_median[k]:7.0f} ({plan.steady_state_low[k]:.0f}-"
                   f"{plan.steady_state_high[k]:.0f}) ng/mL, {_pct(plan.p_target[k])}")
            if plan.ceiling is not None:
                row += f", {_pct(plan.p_ceiling[k])}"
            if plan.day is not None:
                row += f"; {plan.day_median[k]:.0f} ng/mL, {_pct(plan.day_p_target[k])}"
            lines.append(row)
        med, lo, hi = plan.days_remaining
        shown = "not within the horizon" if math.isinf(med) else f"{med:g} more day(s) ({level} {lo:g}-{hi:g})"
        lines.append(f"    current step {plan.current_dose:g} mg for {plan.days_at_step} day(s): trough within "
                     f"10 % of its steady state after {shown}")
        lines.append("    recommended: " + (f"{plan.recommended:g} mg/day" if plan.recommended is not None else
                                            "no candidate meets the rule"))
    return lines


def summary_record(fit: MapResult, plan: StepPlan | None = None, *, patient: str | None = None,
                   time_offset: float = 0.0) -> dict:
    """The same as plain data (numbers, strings, lists), ready for ``json.dumps``."""

    def num(x):
        x = float(x)
        return None if math.isnan(x) else (str(x) if math.isinf(x) else x)

    record = {
        "patient": patient, "model": fit.model.name, "coverage": fit.coverage, "ess": num(fit.ess),
        "parameters": {name: num(value) for name, value in fit.parameters.items()},
        "typical": {name: num(value) for name, value in fit.typical.items()},
        "interval": {name: [num(a), num(b)] for name, (a, b) in fit.interval_sampled.items()},
        "interval_laplace": {name: [num(a), num(b)] for name, (a, b) in fit.interval_laplace.items()},
        "eta": dict(zip(fit.eta_names, map(num, fit.eta))),
        "shrinkage": dict(zip(fit.eta_names, map(num, fit.shrinkage))),
        "iov_cl": num(fit.iov_cl),
        "kappa": [{"interval_start": num(t + time_offset), "kappa": num(k), "sd": num(sd)}
                  for t, k, sd in zip(fit.kappa_start, fit.kappa, fit.kappa_sd)],
        "observations": [
            {"time": num(t + time_offset), "value": None if c else num(v), "censored": bool(c), "lloq": num(q),
             "prediction": num(p), "iwres": num(r)}
            for t, v, c, q, p, r in zip(fit.observations.time, fit.observations.value, fit.observations.censored,
                                        fit.observations.lloq, fit.prediction, fit.iwres)
        ],
        "warnings": list(fit.warnings),
    }
    if fit.records is not None:  # the general path (only then, so the dose-table records stay as they were)
        record["predictions"] = {"from": "records", "reason": fit.records.reason}
    if plan is not None:
        record["plan"] = {
            "target": {"name": plan.target.name, "value": plan.target.value},
            "ceiling": None if plan.ceiling is None else {"name": plan.ceiling.name, "value": plan.ceiling.value},
            "candidates": [
                {"dose": num(d), "steady_state_median": num(m), "steady_state_low": num(lo), "steady_state_high": num(hi),
                 "p_target": num(pt), "p_ceiling": num(pc)}
                for d, m, lo, hi, pt, pc in zip(plan.dose, plan.steady_state_median, plan.steady_state_low,
                                                plan.steady_state_high, plan.p_target, plan.p_ceiling)
            ],
            "day": plan.day,
            "day_median": None if plan.day is None else [num(x) for x in np.asarray(plan.day_median)],
            "day_p_target": None if plan.day is None else [num(x) for x in np.asarray(plan.day_p_target)],
            "current_dose": num(plan.current_dose), "days_at_step": plan.days_at_step,
            "days_remaining": [num(x) for x in plan.days_remaining],
            "recommended": None if plan.recommended is None else num(plan.recommended),
        }
    return record
