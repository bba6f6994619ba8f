"""What ``imapk tdm DATA.csv --model NAME`` does, as a function the command line calls.

For each patient of a NONMEM-style data set: the MAP fit of the measured levels, the next-step
plan (:func:`imapk.tdm.plan_next_step`) and, when a hold or a ladder is asked for, the planner's
answers from the patient's posterior (:func:`imapk.tdm.plan_from_posterior`): the longest hold
within a budget, the doses until the trough is back at the target, and the ladders compared, for
the patient's real doses followed by the planned hold and ladder.

A patient whose records a dose table cannot express (a reset after the first dose, an infusion at
a RATE, a dose into the central compartment, SS 2) is fitted by walking the records
(:mod:`imapk.tdm.records`), and gets the fit and the next-step plan; the planner's answers are
not computed for such a patient (a note says so), as they simulate the history as a dose table.
"""

from __future__ import annotations

import json
import math

from ..errors import ImapkError
from ..schedule import LadderStep

__all__ = ["parse_ladder", "tdm_report"]


def parse_ladder(text: str, step_days: float = 7.0, *, key: str = "--ladder") -> tuple[LadderStep, ...]:
    """A ladder from text: ``'200,300,400'`` (each dose for `step_days`), ``'200x7,300x14'`` (dose
    mg x days), or ``''`` / ``'direct'`` for a direct restart.

    Raises
    ------
    ImapkError
        For a step that is not a dose > 0 mg with an optional length > 0 d, naming `key`.
    """
    text = str(text).strip()
    if text.lower() in ("", "direct", "none"):
        return ()
    steps = []
    for part in (p.strip() for p in text.split(",")):
        dose, sep, days = part.lower().partition("x")
        try:
            amount = float(dose.strip().removesuffix("mg"))
            length = float(days.strip().removesuffix("d")) if sep else float(step_days)
            if not (amount > 0 and length > 0 and math.isfinite(amount) and math.isfinite(length)):
                raise ValueError
            steps.append(LadderStep(amount, length))
        except (ValueError, ImapkError):
            raise ImapkError("cannot read this ladder step", key=key, got=part,
                             expected="a dose in mg, or dose x days: e.g. '200,300' or '200x7,300x14'") from None
    return tuple(steps)


def _current_dose(fit) -> float:
    """The last amount given (> 0) in the fit's dose table [mg]; 0 if none."""
    given = [float(a) for a in fit.doses.given if a > 0]
    return given[-1] if given else 0.0


def tdm_report(
    data: str,
    model: str,
    *,
    target="gist",
    ceiling="toxicity_alarm",
    day: int | None = None,
    ids=None,
    units: dict | None = None,
    seed: int = 0,
    iov_cl: float = 0.0,
    output: str = "text",
    hold: float | None = None,
    hold_start_day: int = 1,
    ladders=(),
    step_days: float = 7.0,
    dose: float | None = None,
    plan_days: float | None = None,
    budget: float = 7.0,
    metric: str = "time_below",
    against: str = "ladder",
    confidence: float = 0.9,
) -> str:
    """The text (or JSON) ``imapk tdm`` prints.

    Parameters
    ----------
    data, model
        The data set (CSV) and the parameter set whose prior the fits use.
    target, ceiling, day
        As for :func:`imapk.tdm.plan_next_step`; `target` is also the planner's target, and
        `ceiling` its trough ceiling for the ladders' toxicity count.
    ids
        Only these patient IDs (default: all).
    units
        Units of covariate columns without one in their header, ``{name: unit}``.
    seed
        Seed of the posterior samples and of their resampling.
    iov_cl
        Inter-occasion variability on CL per dose interval for the fits (see
        :func:`imapk.tdm.map_estimate`); 0: none.
    output
        ``"text"`` or ``"json"``.
    hold
        Length of a planned hold [d]: with it (or with `ladders`), each patient's posterior is
        also planned from (:func:`imapk.tdm.plan_from_posterior`).
    hold_start_day
        Day of the plan the hold starts (day 1 starts at the end of the patient's dose record).
    ladders
        Ladder texts (:func:`parse_ladder`); the first follows the planned hold, all are compared
        (with a direct restart). Without `hold`, a 7-day hold is planned.
    step_days
        Length of each step of a ladder given as bare doses. [d]
    dose
        The prescription after the ladder [mg]; default the patient's last dose given.
    plan_days
        Length of the planned future [d]; default hold + ladder + 28 days.
    budget, metric, against, confidence
        As for :func:`imapk.planner.longest_hold` (`budget` in the metric's units; `confidence` a
        posterior probability).

    Raises
    ------
    ImapkError
        For an unknown patient ID, an unreadable ladder, a bad budget or confidence, and whatever the
        data set, the fit or the planner refuse (with the file, key and row).
    """
    from ..datasets import read_dataset
    from ..planner import METRICS, format_plan
    from ..report import format_json
    from .estimation import map_estimate
    from .planning import plan_next_step
    from .posterior_plan import future_schedule, plan_from_posterior
    from .records import patient_inputs
    from .summary import summary_lines, summary_record

    if isinstance(iov_cl, bool) or not (isinstance(iov_cl, (int, float)) and math.isfinite(iov_cl) and iov_cl >= 0):
        raise ImapkError("the inter-occasion SD must be a number >= 0", key="--iov-cl", got=iov_cl)
    if output not in ("text", "json"):
        raise ImapkError("unknown output format", key="--format", got=output, expected="text or json")
    planning = hold is not None or bool(ladders)
    parsed = [parse_ladder(text, step_days) for text in ladders]
    if planning:
        if metric not in METRICS:
            raise ImapkError("unknown metric", key="--metric", got=metric, expected=f"one of {', '.join(METRICS)}")
        if isinstance(budget, bool) or not (isinstance(budget, (int, float)) and budget >= 0 and math.isfinite(budget)):
            raise ImapkError("the budget must be a number >= 0", key="--budget", got=budget)
        if not (0.0 < confidence <= 1.0):
            raise ImapkError("confidence must be a probability", key="--confidence", got=confidence, expected="0 < Q <= 1")
        if hold is not None and not (hold > 0 and math.isfinite(hold)):
            raise ImapkError("the hold must last > 0 days", key="--hold", got=hold)
    data_set = read_dataset(data, units=units or {})
    wanted = list(ids or ())
    unknown = sorted(set(wanted) - {subject.id for subject in data_set.subjects})
    if unknown:
        raise ImapkError("no patient with this ID in the data set", source=data, key="--id", got=unknown[0],
                         expected=f"one of {', '.join(s.id for s in data_set.subjects[:10])}")
    records, blocks = [], []
    for subject in data_set.subjects:
        if wanted and subject.id not in wanted:
            continue
        p = patient_inputs(subject, source=data)
        fit = map_estimate(model, p.doses, p.observations, covariates=p.covariates, seed=seed, iov_cl=iov_cl)
        step = plan_next_step(fit, target=target, ceiling=ceiling, day=day)
        record = summary_record(fit, step, patient=p.id, time_offset=p.time_offset)
        lines = summary_lines(fit, step, patient=p.id, time_offset=p.time_offset)
        if planning and fit.records is not None:
            note = ("planner questions not answered for this patient: they simulate the history as a dose table, "
                    f"and these records are not one ({fit.records.reason})")
            record["posterior_plan"] = None
            record["posterior_plan_refused"] = note
            lines += ["", "  " + note]
        elif planning:
            prescription = _current_dose(fit) if dose is None else float(dose)
            if not prescription > 0:
                raise ImapkError("no dose given to plan from; give the prescription", source=data, key="--dose",
                                 got=p.id)
            first = parsed[0] if parsed else ()
            schedule = future_schedule(prescription, hold_days=7.0 if hold is None else float(hold),
                                       hold_start_day=hold_start_day, ladder=first, days=plan_days)
            compared = [first, ()] + parsed[1:]
            report = plan_from_posterior(
                fit, schedule, budget=float(budget), confidence=float(confidence), ladders=compared, metric=metric,
                against=against, target=target, ceiling=ceiling, seed=seed, title=f"Patient {p.id}: planner questions",
            )
            record["posterior_plan"] = report
            lines += ["", *("  " + line if line else "" for line in format_plan(report).splitlines())]
        records.append(record)
        blocks.append("\n".join(lines))
    if output == "json":
        return format_json(json.loads(json.dumps({"model": model, "data_set": data, "patients": records}, default=_plain)))
    return "\n\n".join(blocks)


def _plain(value):
    """JSON for numpy scalars and infinities the planner report may hold."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
