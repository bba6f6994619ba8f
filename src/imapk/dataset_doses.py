"""A data set's doses as each patient's doses on one scheduled grid: the objects a scenario lowers to.

A scenario becomes a population (covariates per subject) and each subject's doses on the schedule's
grid (:class:`imapk.processes.RealisedDoses`), which :func:`imapk.simulate` runs. :func:`lower_dataset`
turns a NONMEM-style data set into the same two objects when its records allow it, so that a data set
gets the scenario's whole answer: troughs on a shared grid, percentiles, the verdict against
thresholds, the per-patient table, a result file. The rules, none of them a guess:

* each ID's clock starts at its first dose (imapk's t = 0; ``time_offset`` keeps the data set's TIME
  of that dose), or one or more intervals before it where the ID has records one interval apart (an
  exported scenario's trough records before a first dose that was missed);
* the **grid** is every multiple of the smallest interval tau between two consecutive doses of any
  ID, from 0 to the last dose; every ID doses at least once at that interval, every dose of every ID
  lies on the grid (within 1e-6 h), and every ID's records on the grid end at the same grid time (its
  last dose, or a trough record after a last dose missed). Otherwise the IDs do
  not share a grid (e.g. one ID every 24 h and another every 12 h, or doses at 24 h for one and 25 h
  for another), and the data set is simulated per ID by :mod:`imapk.dataset_simulation` only;
* a grid time without a dose record is a dose not given, with status ``missed`` and the reason
  ``"no dose record"``: a data set does not say whether it was held or missed;
* only what the engine's scheduled doses express: dose records (EVID 1, ADDL expanded) into the dose
  compartment (CMT 1) with RATE 0, or RATE -2 for a model with a zero-order duration; no resets
  (EVID 3, 4), no steady states (SS), covariates constant within each ID (their values on the first
  dose record). Records at equal times add up.

What does not meet the rules raises :class:`DataSetGridError` naming the ID, the row and the column;
callers fall back to the per-ID walker, which handles every record type.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ImapkError

__all__ = ["DataSetPopulation", "DataSetGridError", "lower_dataset", "NO_DOSE_RECORD"]

#: Reason of a grid dose that an ID has no record for.
NO_DOSE_RECORD = "no dose record (held or missed)"
#: Tolerance on dose times [h] when placing them on the grid (data sets write hours with a few decimals).
GRID_TOLERANCE_H = 1e-6


class DataSetGridError(ImapkError):
    """The data set's IDs do not share one grid of scheduled doses (it is simulated per ID instead)."""


@dataclass(frozen=True)
class DataSetPopulation:
    """A data set as a population and each patient's doses on one grid.

    Attributes
    ----------
    doses
        Each ID's doses on the shared grid (:class:`imapk.processes.RealisedDoses`).
    ids
        The IDs, in the data set's order (the ``subject`` coordinate of the result).
    covariates
        Covariate name -> one value per ID (canonical units), from each ID's first dose record.
    time_offset
        Each ID's TIME of its first dose [h]: the data set's time of the grid's t = 0.
    interval
        The grid's interval tau. [h]
    """

    doses: object
    ids: np.ndarray
    covariates: dict
    time_offset: np.ndarray
    interval: float


def _refuse(problem: str, subject, index: int | None, column: str, value, source: str):
    key = f"ID {subject.id}" + (f", row {int(subject.row[index])}" if index is not None else "")
    raise DataSetGridError(problem, source=source, key=f"{key}, column {column}", got=value)


def _doses_of(subject, zero_order: bool, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(times [h] from the ID's first dose, amounts [mg]) of one ID's doses, ADDL expanded, equal times added."""
    times, amounts = [], []
    for i in range(len(subject)):
        evid = int(subject.evid[i])
        if evid in (3, 4):
            _refuse("a reset has no place on a scheduled grid", subject, i, "EVID", evid, source)
        if evid != 1:
            continue
        if int(subject.ss[i]) != 0:
            _refuse("a steady-state dose has no place on a scheduled grid", subject, i, "SS", int(subject.ss[i]), source)
        if int(subject.cmt[i]) != 1:
            _refuse("scheduled doses go into the dose compartment", subject, i, "CMT", int(subject.cmt[i]), source)
        rate = float(subject.rate[i])
        if rate != (-2.0 if zero_order else 0.0):
            expected = "RATE -2 (the model's duration)" if zero_order else "RATE 0"
            _refuse(f"scheduled doses of this model have {expected}", subject, i, "RATE", rate, source)
        for k in range(int(subject.addl[i]) + 1):
            times.append(float(subject.time[i] + k * subject.ii[i]))
            amounts.append(float(subject.amt[i]))
    if not times:
        _refuse("an ID without a dose record has no doses to place", subject, None, "EVID", "no EVID 1", source)
    order = np.argsort(times, kind="stable")
    t = np.asarray(times)[order]
    a = np.asarray(amounts)[order]
    unique, inverse = np.unique(t, return_inverse=True)
    total = np.zeros(unique.size)
    np.add.at(total, inverse, a)
    return unique, total


def _on_grid(times: np.ndarray, origin: float, tau: float) -> np.ndarray:
    """Whether each time lies on the grid origin + k tau (k >= 0)."""
    k = np.round((times - origin) / tau)
    return (k >= 0) & (np.abs(times - origin - k * tau) <= GRID_TOLERANCE_H)


def _span(subject, dose_times: np.ndarray, tau: float) -> tuple[float, int]:
    """(origin [h], index of the last grid time) of one ID: the grid starts at the first dose, or earlier
    at records one interval apart before it (an exported scenario's trough records before a first dose
    that was missed), and ends at the last record on the grid (a trough record after a last missed dose)."""
    records = np.asarray(subject.time, dtype=float)
    origin = float(dose_times[0])
    while np.any(np.abs(records - (origin - tau)) <= GRID_TOLERANCE_H):
        origin -= tau
    on = _on_grid(records, origin, tau)
    last = int(np.round((records[on].max() - origin) / tau)) if on.any() else 0
    return origin, max(last, int(np.round((dose_times[-1] - origin) / tau)))


def lower_dataset(data, model) -> DataSetPopulation:
    """The data set as a population and each ID's doses on one grid (see the module docstring).

    Parameters
    ----------
    data
        A :class:`imapk.datasets.DataSet`.
    model
        The :class:`imapk.models.base.PopulationModel` that will simulate it (its input kind decides
        the RATE the doses must have).

    Raises
    ------
    DataSetGridError
        When the records do not meet the rules, naming the ID, the row and the column.
    """
    from .covariates import REFERENCE_SUBJECT
    from .processes.realise import RealisedDoses
    from .schedule import GIVEN, MISSED, DoseTable

    source = data.source
    zero_order = model.typical_params({k: REFERENCE_SUBJECT[k] for k in model.covariates}).d1 is not None
    per_id = [_doses_of(subject, zero_order, source) for subject in data.subjects]
    gaps = [np.diff(t) for t, _ in per_id]
    smallest = [float(g.min()) if g.size else np.inf for g in gaps]
    tau = min(smallest)
    if not np.isfinite(tau):
        raise DataSetGridError("every ID has one dose: there is no dosing interval to make a grid of", source=source,
                               key="TIME")
    spans = []
    for subject, s, (t, _) in zip(data.subjects, smallest, per_id):
        if abs(s - tau) > GRID_TOLERANCE_H:
            _refuse(f"the IDs dose at different intervals ({tau:g} h and {s:g} h): no shared grid", subject, None,
                    "TIME", f"smallest interval {s:g} h", source)
        origin, last = _span(subject, t, tau)
        off = ~_on_grid(t, origin, tau)
        if off.any():
            _refuse(f"a dose off the grid of every {tau:g} h from the ID's first dose", subject, None, "TIME",
                    f"{t[np.flatnonzero(off)[0]] - origin:g} h after the first dose", source)
        spans.append((origin, last))
    ends = sorted({last for _, last in spans})
    if len(ends) > 1:
        first_other = next(s for s, (_, last) in zip(data.subjects, spans) if last != ends[0])
        _refuse("the IDs' records end at different times after their first dose: no shared span of doses",
                first_other, None, "TIME", [e * tau for e in ends[:3]], source)
    n_grid = ends[0] + 1
    grid = np.arange(n_grid) * tau
    n = len(per_id)
    given = np.zeros((n, n_grid))
    status = np.full((n, n_grid), MISSED, dtype=np.int8)
    for i, ((t, amounts), (origin, _)) in enumerate(zip(per_id, spans)):
        k = np.round((t - origin) / tau).astype(np.int64)
        given[i, k] = amounts
        status[i, k] = GIVEN
    table = DoseTable(
        time=grid, interval=np.full(n_grid, tau), planned=np.zeros(n_grid), given=np.zeros(n_grid),
        status=np.full(n_grid, GIVEN, dtype=np.int8), phase=np.full(n_grid, "data set", dtype=object),
        hold=np.full(n_grid, -1, dtype=np.int64), restart_index=np.empty(0, dtype=np.int64), hold_labels=(),
    )
    reasons = ("data set", NO_DOSE_RECORD)
    reason = np.where(status == GIVEN, 0, 1).astype(np.int32)
    doses = RealisedDoses(table=table, planned=given.copy(), given=given, status=status, reason=reason,
                          reasons=reasons, prescribed=np.zeros((n, n_grid), dtype=np.int32))
    covariates = {}
    for name in data.covariate_names:
        values = []
        for subject in data.subjects:
            column = subject.covariates[name]
            if np.unique(column).size > 1:
                changed = int(np.flatnonzero(column != column[0])[0])
                _refuse("a covariate that changes within an ID has no place on a shared grid (it is applied per "
                        "record by the per-ID simulation)", subject, changed, name, column[changed], source)
            values.append(column[0])
        covariates[name] = np.asarray(values)
    return DataSetPopulation(
        doses=doses, ids=np.asarray(data.ids, dtype=str), covariates=covariates,
        time_offset=np.array([origin for origin, _ in spans]), interval=tau,
    )
