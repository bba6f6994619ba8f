"""One patient's records of a NONMEM-style data set as the inputs of :func:`imapk.tdm.map_estimate`.

:func:`patient_inputs` takes the records of one ID (:class:`imapk.datasets.SubjectRecords`, or any
object with the same attributes) and returns the doses, the observations and the covariates.

**The dose table (fast path).** When every record is one a :class:`~imapk.schedule.DoseTable`
expresses, the doses are a dose table and the fit predicts with the closed-form engine:

* doses (EVID 1) into the model's own input (CMT 1; RATE 0, or -2 for the model's duration), with
  ADDL additional doses II apart; doses at equal times are added together;
* a steady state (SS 1) on the first dose record: the patient has taken AMT every II up to and
  including that dose (imapk's :class:`~imapk.schedule.SteadyState` start, treated long enough for
  every occasion effect to be in force);
* an EVID 3 or 4 record before or at the first dose (nothing to reset).

**The records themselves (general path).** Otherwise (an EVID 3 or 4 reset after the first dose,
SS 2 or SS on a later dose, a zero-order RATE > 0, a dose into the central compartment, CMT 2),
the doses are a :class:`PatientRecords`: the fit predicts each level by walking the patient's own
records with NONMEM's event semantics (:class:`imapk.dataset_simulation.SubjectWalker`, the walker
of ``imapk run DATA.csv``), for the parameters P_typical(covariates, occasion) exp(eta). There the
typical values follow the records: on each interval those of the covariates of the record that
ends it (next observation carried backward) and of the occasion in force, as in the data set
simulation; the prior N(0, Omega) is on eta, which multiplies them. The reported typical and
individual parameters (``MapResult.typical``, ``.parameters``) are those of the first dose record's
covariates and the first occasion, as on the fast path; when the covariates do not change between
records, they are the values the walker uses on every interval of that occasion.

Observations are EVID 0 records with MDV 0, DV [ng/mL]; BLQ = 1 records (whatever their MDV) are
censored at their LLOQ. EVID 2 records and observations with MDV 1 carry no information for the
fit and are skipped. A level recorded at a dose's time is, on the general path, before or after
that dose as the records' order says (NONMEM's rule); on the fast path it is the left limit (the
trough).

Times are shifted so that the first dose is at t = 0 h (imapk's clock); ``time_offset`` gives the
data set's time of that dose. Covariates are those of the first dose record (baseline values).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import ImapkError
from ..schedule import DoseTable, SteadyState
from .estimation import Observations, dose_table, kappa_intervals

__all__ = ["PatientInputs", "PatientRecords", "RecordsPredictor", "patient_inputs"]


@dataclass(frozen=True)
class PatientInputs:
    """What :func:`imapk.tdm.map_estimate` takes for one patient of a data set.

    Attributes
    ----------
    id
        The patient's ID as written in the data set.
    doses
        Dose table on imapk's clock (first dose at t = 0 h), or the records themselves
        (:class:`PatientRecords`) where a dose table cannot express them (see the module docstring);
        :func:`imapk.tdm.map_estimate` takes either.
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


@dataclass(frozen=True)
class PatientRecords:
    """One patient's records, as the doses of a MAP fit on the general path (module docstring).

    Attributes
    ----------
    subject
        The ID's records (:class:`imapk.datasets.SubjectRecords`).
    source
        The data set's file name, for messages.
    doses
        The doses the records give, as a dose table on imapk's clock: each dose's time and AMT
        (additional doses expanded, those a reset cancels left out, equal times added). It carries
        the times of the fit's troughs and the amounts last given; it does not say how the doses
        entered (resets, infusions, central doses, superposed steady states): predictions walk
        the records.
    observation_records
        Index, among the ID's records, of each observation the fit uses.
    time_offset
        Data-set time of the first dose: data-set time = imapk time + offset. [h]
    reason
        Why a dose table does not express the records (the first such record).
    """

    subject: object
    source: str | None
    doses: DoseTable
    observation_records: np.ndarray
    time_offset: float
    reason: str


class _Prediction:
    """What :class:`RecordsPredictor` returns: concentrations (k, n) at the times asked and troughs
    (k, doses) before each dose of the dose table. [ng/mL]"""

    def __init__(self, concentration: np.ndarray, trough: np.ndarray):
        self.concentration, self.trough = concentration, trough


class RecordsPredictor:
    """Predictions of a fit on the general path: the patient's records walked for k parameter vectors.

    :meth:`run` has the form of the fit's predictor on a dose table (the closed-form engine):
    given the prior and theta (k, p [+ m]) (random effects eta, then the inter-occasion kappas),
    the concentration at the observations (or at other times) and the troughs.
    """

    def __init__(self, records: PatientRecords, model, *, occasion_timing: str = "fit"):
        from ..dataset_simulation import SubjectWalker

        self.records = records
        self.walker = SubjectWalker(records.subject, model, source=records.source, occasion_timing=occasion_timing)
        first = self.walker.predict()  # checks the records against the model (naming the row) before the fit
        _, self.trough_index = np.unique(first.dose_time, return_index=True)
        self.columns = np.searchsorted(first.observation_record, records.observation_records)

    def run(self, prior, theta: np.ndarray, times=None, extra=None) -> _Prediction:
        """Concentrations for each row of `theta`.

        Parameters
        ----------
        prior
            The fit's prior (names of the random effects, the model's shared effects, the estimated
            inter-occasion intervals on imapk's clock).
        theta
            (k, p) random effects, or (k, p + m) with the kappas of the prior's intervals. [1]
        times
            None: at the observations the fit uses (each as its record, in the records' order);
            else these times on imapk's clock [h] (after the inputs that start by then, before
            the records and additional doses at that time).
        extra
            (start [h], end [h], kappa (k, j)): inter-occasion effects on CL on other intervals.
        """
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        names = prior.names
        factors = {name: np.exp(theta[:, i]) for i, name in enumerate(names)}
        for target, source in prior.model.eta_shared.items():
            factors[target] = np.exp(theta[:, names.index(source)])
        offset = self.records.time_offset
        intervals = kappa_intervals(prior, theta, extra)
        if intervals is not None:
            intervals = (intervals[0] + offset, intervals[1] + offset, np.exp(intervals[2]))
        if not factors and intervals is None:
            factors = {"cl": np.ones(theta.shape[0])}
        out_times = () if times is None else np.asarray(times, dtype=float) + offset
        result = self.walker.predict(factors, cl_intervals=intervals, times=out_times)
        concentration = result.observation[:, self.columns] if times is None else result.extra
        return _Prediction(concentration, result.trough[:, self.trough_index])


def _inexpressible(subject, first: int):
    """(row index, column, value, problem) of the first record a dose table cannot express, or None."""
    evid = np.asarray(subject.evid)
    for i in range(len(subject)):
        e = int(evid[i])
        if e == 3 or (e == 4 and i != first):
            if i > first:
                return i, "EVID", e, "a reset (EVID 3 or 4) after the first dose"
            continue
        if e not in (1, 4):
            continue
        if int(subject.cmt[i]) != 1:
            return i, "CMT", int(subject.cmt[i]), "a dose into the central compartment"
        rate = float(subject.rate[i])
        if rate not in (0.0, -2.0):
            return i, "RATE", rate, "a zero-order input at a given RATE"
        ss = int(subject.ss[i])
        if ss and (ss != 1 or i != first):
            return i, "SS", ss, "a steady state other than SS 1 on the first dose"
    return None


def patient_inputs(subject, *, source: str | None = None, walk: bool = False) -> PatientInputs:
    """Doses, observations and covariates of one ID's records (see the module docstring).

    The doses are a dose table when the records allow one (the same table, bit for bit, as before
    the general path existed), else a :class:`PatientRecords`; with `walk`, a
    :class:`PatientRecords` in every case (the fit then walks the records even where a dose table
    would do: the same posterior, slower; levels at a dose's time follow the records' order).

    Raises
    ------
    ImapkError
        For records without a dose, a steady state or additional doses without their interval II,
        naming the ID, the row and the column.
    """

    def refuse(problem: str, i: int, column: str, value) -> ImapkError:
        return ImapkError(problem, source=source, key=f"ID {subject.id}, row {int(subject.row[i])}, {column}", got=value)

    evid = np.asarray(subject.evid)
    dose_rows = np.flatnonzero((evid == 1) | (evid == 4))
    if dose_rows.size == 0:
        raise ImapkError("a MAP fit needs the patient's doses: no dose record (EVID 1)", source=source,
                         key=f"ID {subject.id}")
    first = int(dose_rows[0])
    for i in dose_rows:
        ii = float(subject.ii[i])
        if int(subject.ss[i]) and not ii > 0:
            raise refuse("a steady state needs its interval", int(i), "II", ii)
        if int(subject.addl[i]) and not ii > 0:
            raise refuse("additional doses need their interval", int(i), "II", ii)
    covariates = subject.covariates_at(first) if hasattr(subject, "covariates_at") else {}
    obs = np.flatnonzero((evid == 0) & ((np.asarray(subject.mdv) == 0) | (np.asarray(subject.blq) == 1)))
    blq = np.asarray(subject.blq, dtype=bool)[obs]

    def observations(offset: float) -> Observations:
        return Observations.from_arrays(
            np.asarray(subject.time, dtype=float)[obs] - offset, np.asarray(subject.dv, dtype=float)[obs], blq,
            np.nan_to_num(np.asarray(subject.lloq, dtype=float)[obs], nan=0.0),
        )

    other = _inexpressible(subject, first)
    if walk and other is None:
        other = (first, "EVID", int(evid[first]), "the records walked as asked (walk=True)")
    if other is not None:
        return _general_inputs(subject, source, first, obs, observations, covariates, other)
    times, amounts = [], []
    steady_state = None
    for i in dose_rows:
        amt, ii, addl = float(subject.amt[i]), float(subject.ii[i]), int(subject.addl[i])
        if int(subject.ss[i]):
            steady_state = SteadyState(dose=amt, interval=ii, time_on_therapy=None)
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
    return PatientInputs(id=str(subject.id), doses=table, observations=observations(offset), covariates=covariates,
                         time_offset=offset)


def _general_inputs(subject, source, first, obs, observations, covariates, other) -> PatientInputs:
    """The inputs of the general path: the records, with the dose table of the doses they give."""
    from ..dataset_simulation import walked_doses

    t_all, record = walked_doses(subject)
    a_all = np.asarray(subject.amt, dtype=float)[record]
    unique, index = np.unique(t_all, return_inverse=True)
    summed = np.zeros(unique.size)
    np.add.at(summed, index, a_all)
    offset = float(unique[0])
    ss = int(subject.ss[first])
    interval = float(subject.ii[first]) if ss else (float(np.median(np.diff(unique))) if unique.size > 1 else 24.0)
    table = dose_table(unique - offset, summed, interval=interval)
    if ss:  # a steady state at the first dose: every occasion effect in force, as the walker has it
        table = replace(table, steady_state=SteadyState(dose=float(subject.amt[first]), interval=interval,
                                                        time_on_therapy=None))
    i, column, value, problem = other
    records = PatientRecords(
        subject=subject, source=source, doses=table, observation_records=obs.astype(np.int64), time_offset=offset,
        reason=f"{problem} (ID {subject.id}, row {int(subject.row[i])}, {column} {value:g})",
    )
    return PatientInputs(id=str(subject.id), doses=records, observations=observations(offset), covariates=covariates,
                         time_offset=offset)
