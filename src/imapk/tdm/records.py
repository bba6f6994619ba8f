"""One patient's records of a NONMEM-style data set as the inputs of :func:`imapk.tdm.map_estimate`.

:func:`patient_inputs` takes the records of one ID (:class:`imapk.datasets.SubjectRecords`, or any
object with the same attributes) and returns the dose table, the observations and the covariates.
It handles what a TDM record holds:

* doses (EVID 1) into the model's own input (CMT 1; RATE 0, or -2 for the model's duration), with
  ADDL additional doses II apart; doses at equal times are added together;
* a steady state (SS 1) on the first dose record: the patient has taken AMT every II up to and
  including that dose (imapk's :class:`~imapk.schedule.SteadyState` start, treated long enough for
  every occasion effect to be in force);
* observations (EVID 0, MDV 0) with DV [ng/mL], and BLQ = 1 records (whatever their MDV) as
  censored at their LLOQ;
* EVID 2 records and observations with MDV 1 carry no information for the fit and are skipped.

Anything else (EVID 3 or 4 after the first dose, SS 2 or SS on a later dose, a zero-order RATE > 0,
a dose into the central compartment) is refused naming the row, rather than approximated.
Times are shifted so that the first dose is at t = 0 h (imapk's clock); ``time_offset`` gives the
data set's time of that dose. Covariates are those of the first dose record (baseline values; the
prior of a MAP fit has one set of typical values, occasions aside).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import ImapkError
from ..schedule import SteadyState
from .estimation import Observations, dose_table

__all__ = ["PatientInputs", "patient_inputs"]


@dataclass(frozen=True)
class PatientInputs:
    """What :func:`imapk.tdm.map_estimate` takes for one patient of a data set.

    Attributes
    ----------
    id
        The patient's ID as written in the data set.
    doses
        Dose table on imapk's clock (first dose at t = 0 h).
    observations
        Measured levels on the same clock.
    covariates
        Baseline covariates (first dose record), canonical units.
    time_offset
        Data-set time of the first dose: data-set time = imapk time + offset. [h]
    """

    id: str
    doses: object
    observations: Observations
    covariates: dict
    time_offset: float


def patient_inputs(subject, *, source: str | None = None) -> PatientInputs:
    """Doses, observations and covariates of one ID's records (see the module docstring).

    Raises
    ------
    ImapkError
        For a record this conversion does not handle, naming the row and the column.
    """

    def refuse(problem: str, i: int, column: str, value) -> ImapkError:
        return ImapkError(problem, source=source, key=f"ID {subject.id}, row {int(subject.row[i])}, {column}", got=value)

    evid = np.asarray(subject.evid)
    dose_rows = np.flatnonzero((evid == 1) | (evid == 4))
    if dose_rows.size == 0:
        raise ImapkError("a MAP fit needs the patient's doses: no dose record (EVID 1)", source=source,
                         key=f"ID {subject.id}")
    first = int(dose_rows[0])
    times, amounts = [], []
    steady_state = None
    for i in range(len(subject)):
        e = int(evid[i])
        if e == 3 or (e == 4 and i != first):
            if i > first:
                raise refuse("a reset (EVID 3 or 4) after the first dose cannot be fitted", i, "EVID", e)
            continue
        if e not in (1, 4):
            continue
        if int(subject.cmt[i]) != 1:
            raise refuse("doses into the central compartment are not handled by the MAP fit", i, "CMT", int(subject.cmt[i]))
        rate = float(subject.rate[i])
        if rate not in (0.0, -2.0):
            raise refuse("a zero-order input at a given RATE is not handled by the MAP fit (use 0 or -2)", i, "RATE", rate)
        ss = int(subject.ss[i])
        amt, ii, addl = float(subject.amt[i]), float(subject.ii[i]), int(subject.addl[i])
        if ss:
            if ss != 1 or i != first:
                raise refuse("only a steady state (SS 1) on the first dose record is handled", i, "SS", ss)
            if not ii > 0:
                raise refuse("a steady state needs its interval", i, "II", ii)
            steady_state = SteadyState(dose=amt, interval=ii, time_on_therapy=None)
        if addl and not ii > 0:
            raise refuse("additional doses need their interval", i, "II", ii)
        t = float(subject.time[i])
        times += [t + ii * k for k in range(addl + 1)]
        amounts += [amt] * (addl + 1)
    order = np.argsort(np.asarray(times), kind="stable")
    t_all, a_all = np.asarray(times)[order], np.asarray(amounts)[order]
    unique, index = np.unique(t_all, return_inverse=True)
    summed = np.zeros(unique.size)
    np.add.at(summed, index, a_all)
    offset = float(unique[0])
    interval = steady_state.interval if steady_state is not None else (float(np.median(np.diff(unique))) if unique.size > 1 else 24.0)
    table = dose_table(unique - offset, summed, interval=interval)
    if steady_state is not None:
        table = replace(table, steady_state=steady_state)

    obs = np.flatnonzero((evid == 0) & ((np.asarray(subject.mdv) == 0) | (np.asarray(subject.blq) == 1)))
    blq = np.asarray(subject.blq, dtype=bool)[obs]
    observations = Observations.from_arrays(
        np.asarray(subject.time, dtype=float)[obs] - offset, np.asarray(subject.dv, dtype=float)[obs], blq,
        np.nan_to_num(np.asarray(subject.lloq, dtype=float)[obs], nan=0.0),
    )
    covariates = subject.covariates_at(first) if hasattr(subject, "covariates_at") else {}
    return PatientInputs(id=str(subject.id), doses=table, observations=observations, covariates=covariates,
                         time_offset=offset)
