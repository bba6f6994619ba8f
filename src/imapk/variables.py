"""Every variable imapk writes, declared once, and the one function that builds Datasets.

Each spec gives the dimensions, units, long name and description of a variable;
:func:`create_dataset` checks every variable against its spec and copies the metadata into its
attrs, so no output leaves imapk without units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Spec", "SPECS", "DIMENSIONS", "create_dataset", "Result"]

#: Dimension names.
DIMENSIONS = ("subject", "dose", "time", "threshold", "hold", "quantile", "model", "therapy_clock", "reason",
              "toxicity_event")


@dataclass(frozen=True)
class Spec:
    """Declaration of one output variable."""

    dims: tuple[str, ...]
    units: str | None
    long_name: str
    description: str


SPECS: dict[str, Spec] = {
    # coordinates
    "subject": Spec(("subject",), None, "subject",
                    "0-based index of the simulated subject, or the patient's ID from the covariate file's id column"),
    "dose": Spec(("dose",), None, "scheduled dose", "0-based position of the scheduled dose"),
    "time": Spec(("time",), "h", "time", "Time since the first scheduled dose (t = 0 is day 1's dose)"),
    "threshold": Spec(("threshold",), None, "threshold", "Name of the concentration threshold"),
    "hold": Spec(("hold",), None, "hold", "0-based index of the hold (interruption) in the scenario"),
    "quantile": Spec(("quantile",), "1", "quantile", "Quantile of the population distribution (0.5 is the median)"),
    "model": Spec(("model",), None, "model", "Name of the population PK model (parameter set)"),
    "therapy_clock": Spec(
        ("therapy_clock",), None, "therapy clock",
        "What a hold does to the time-on-therapy clock of time-varying models: running, paused or reset",
    ),
    "day": Spec(("dose",), "d", "clinical day", "Clinical day of the scheduled dose; day 1 is [0, 24) h"),
    "threshold_value": Spec(("threshold",), "ng/mL", "threshold", "Concentration of the threshold"),
    "threshold_kind": Spec(
        ("threshold",), None, "threshold kind",
        "'trough_target': efficacy threshold, every trough should be at or above it; 'trough_ceiling': "
        "toxicity threshold on the trough, every trough should stay below it; 'concentration_ceiling': "
        "toxicity threshold on the whole curve, the concentration should stay below it at every time (the peak)",
    ),
    "threshold_reference": Spec(("threshold",), None, "threshold source", "Citation of the threshold"),
    "hold_label": Spec(("hold",), None, "hold", "Label of the hold"),
    "hold_first_day": Spec(("hold",), "d", "first held day", "Clinical day of the first dose the hold removes"),
    "hold_last_day": Spec(("hold",), "d", "last held day", "Clinical day of the last dose the hold removes"),
    # the schedule
    "dose_time": Spec(("dose",), "h", "scheduled dose time", "Scheduled time of the dose (before any lag)"),
    "dose_planned": Spec(("dose",), "mg", "planned dose", "Amount the prescription intends, mg imatinib free base"),
    "dose_given": Spec(
        ("subject", "dose"), "mg", "given dose",
        "Amount given, mg imatinib free base, before bioavailability; 0 for held and missed doses",
    ),
    "dose_status": Spec(("dose",), None, "dose status", "'given', 'held' (interruption) or 'missed'"),
    "phase": Spec(("dose",), None, "phase", "Label of the phase or restart step that prescribed the dose"),
    # each subject's realised doses (random dosing processes: missed doses, toxicity-driven holds)
    "reason": Spec(("reason",), None, "reason",
                   "Why a dose was given, held or missed: the phase or ladder step, the hold, or 'missed'"),
    "subject_dose_planned": Spec(
        ("subject", "dose"), "mg", "planned dose (subject)",
        "Amount the subject's own schedule intends (after its drawn holds and their ladders), mg imatinib free base",
    ),
    "subject_dose_status": Spec(
        ("subject", "dose"), None, "dose status (subject)",
        "Status of the subject's dose: 0 given, 1 held (interruption), 2 missed (flag_values, flag_meanings)",
    ),
    "subject_dose_reason": Spec(
        ("subject", "dose"), None, "dose reason (subject)",
        "Index into the `reason` coordinate: the phase or ladder step that prescribed a given dose, the hold "
        "that removed a held one, 'missed'",
    ),
    "tdm_trough_measured": Spec(
        ("subject",), "ng/mL", "measured trough (TDM policy)",
        "The trough the TDM policy measured on its day (with the model's assay error unless the policy says not)",
    ),
    "tdm_escalated": Spec(("subject",), None, "escalated (TDM policy)", "Whether the TDM policy escalated the dose"),
    "tdm_measured_day": Spec(
        ("subject",), "d", "TDM measurement day",
        "Clinical day whose trough (before its first dose) the TDM policy measured: its day, or with `within` a "
        "later one for a subject whose trough did not count on it; NaN where none was measured",
    ),
    "subject_dose_delay": Spec(
        ("subject", "dose"), "h", "dose delay (subject)",
        "Hours after its scheduled time that the subject took the dose (0: on time or not taken)",
    ),
    "toxicity_event_count": Spec(("subject",), "1", "toxicity events", "Toxicity events drawn for the subject"),
    "toxicity_event_time": Spec(
        ("subject", "toxicity_event"), "d", "toxicity event time",
        "Time of the subject's k-th toxicity event, days from the first dose (the hold starts on clinical day "
        "ceil(time) + 1); NaN after the subject's last event",
    ),
    "toxicity_event_hold_days": Spec(
        ("subject", "toxicity_event"), "d", "hold after the toxicity event",
        "Days the k-th event held dosing: its drawn hold length, 0 under steroid management, the rest of the "
        "schedule for the event that stopped therapy; NaN after the subject's last event",
    ),
    "toxicity_discontinued": Spec(
        ("subject",), None, "discontinued", "Whether a toxicity event stopped therapy for good",
    ),
    "held_dose_count": Spec(
        ("subject",), "1", "held doses",
        "Scheduled doses the subject's own schedule held: interruptions written in the schedule, toxicity holds "
        "and every dose after a discontinuation (status 1 of subject_dose_status)",
    ),
    "missed_dose_count": Spec(
        ("subject",), "1", "missed doses", "Scheduled doses the subject missed (status 2 of subject_dose_status)",
    ),
    # concentrations
    "trough": Spec(
        ("subject", "dose"), "ng/mL", "trough concentration",
        "Left limit C(t-) of the plasma concentration at the scheduled time of the dose, whether or not "
        "the dose is given",
    ),
    "concentration": Spec(("subject", "time"), "ng/mL", "plasma concentration", "Total imatinib plasma concentration"),
    "peripheral_amount": Spec(
        ("subject", "time"), "mg", "amount in the peripheral compartment",
        "Imatinib in the peripheral compartment of a two-compartment model (apparent, i.e. per F), at the dense times",
    ),
    "trough_observed": Spec(
        ("subject", "dose"), "ng/mL", "simulated observed trough",
        "Simulated assay value of the trough: the model's residual error added in its published form "
        "(combined C (1 + prop e1) + add e2, or exponential C exp(prop e1)); not clipped, so it can be negative "
        "with a large additive error; values below the quantification limit are flagged in trough_censored",
    ),
    "trough_censored": Spec(
        ("subject", "dose"), None, "simulated observed trough below the quantification limit",
        "True where trough_observed is below the lower limit of quantification (attribute "
        "quantification_limit, ng/mL): a laboratory would report '< LLOQ', an analysis treats it as censored",
    ),
    "trough_quantile": Spec(
        ("quantile", "dose"), "ng/mL", "trough percentile",
        "Quantile of the trough over the subjects at each scheduled dose (linear interpolation)",
    ),
    "target_attainment": Spec(
        ("threshold", "dose"), "1", "probability of target attainment",
        "For a trough target, the fraction of subjects whose trough at the scheduled dose is at or above it; "
        "NaN for ceilings (at or above a ceiling is no attainment: see trough_ceiling_exceedance)",
    ),
    "trough_ceiling_exceedance": Spec(
        ("threshold", "dose"), "1", "fraction of subjects with trough above the trough ceiling",
        "For a trough ceiling, the fraction of subjects whose trough at the scheduled dose is at or above it; "
        "NaN for the other kinds",
    ),
    # parameters
    "cl": Spec(("subject",), "L/h", "CL/F", "Apparent clearance at t = 0"),
    "v": Spec(("subject",), "L", "V/F", "Apparent volume of distribution at t = 0"),
    "ka": Spec(("subject",), "1/h", "ka", "First-order absorption rate constant at t = 0 (NaN for zero-order input)"),
    "d1": Spec(("subject",), "h", "D1", "Duration of zero-order input (NaN for first-order input)"),
    "f": Spec(("subject",), "1", "relative F", "Relative bioavailability at t = 0"),
    "tlag": Spec(("subject",), "h", "lag time", "Absorption lag time"),
    "q": Spec(("subject",), "L/h", "Q/F", "Inter-compartmental clearance at t = 0 (two-compartment models only)"),
    "vp": Spec(("subject",), "L", "Vp/F", "Peripheral volume at t = 0 (two-compartment models only)"),
    "ktr": Spec(("subject",), "1/h", "ktr", "Transit rate constant at t = 0 (models with a transit chain only; "
                "the attribute n_transit gives the number of transit compartments)"),
    # threshold verdict
    "trough_below_count": Spec(
        ("subject", "threshold"), "1", "troughs below threshold",
        "Number of scheduled troughs in the evaluation window below the threshold (for a trough target: the "
        "troughs that miss it), whatever the threshold's kind",
    ),
    "trough_below_fraction": Spec(
        ("subject", "threshold"), "1", "fraction of troughs below threshold",
        "Fraction of the scheduled troughs in the evaluation window below the threshold (for a trough target: "
        "the troughs that miss it), whatever the threshold's kind",
    ),
    "trough_above_count": Spec(
        ("subject", "threshold"), "1", "troughs at or above threshold",
        "Number of scheduled troughs in the evaluation window at or above the threshold (for a trough "
        "ceiling: the troughs that exceed it), whatever the threshold's kind",
    ),
    "trough_above_fraction": Spec(
        ("subject", "threshold"), "1", "fraction of troughs at or above threshold",
        "Fraction of the scheduled troughs in the evaluation window at or above the threshold (for a trough "
        "ceiling: the troughs that exceed it), whatever the threshold's kind",
    ),
    "trough_above_longest_run": Spec(
        ("subject", "threshold"), "1", "longest run of troughs at or above threshold",
        "Largest number of consecutive scheduled troughs in the evaluation window at or above the threshold "
        "(for a trough ceiling: the longest stretch of exceedances)",
    ),
    "trough_count": Spec(("threshold",), "1", "troughs evaluated", "Number of scheduled troughs in the evaluation window"),
    "time_below": Spec(
        ("subject", "threshold"), "h", "time below threshold",
        "Total time in the evaluation window with the concentration (the whole curve, not only the troughs) "
        "below the threshold, from exact crossing times on the closed-form solution, whatever its kind",
    ),
    "longest_below": Spec(
        ("subject", "threshold"), "h", "longest stretch below threshold",
        "Longest continuous time in the evaluation window with the concentration below the threshold (the "
        "longest stretch that misses a trough target), whatever its kind",
    ),
    "time_above": Spec(
        ("subject", "threshold"), "h", "time above threshold",
        "Total time in the evaluation window with the concentration at or above the threshold (for a "
        "concentration ceiling: the time it is exceeded), whatever its kind",
    ),
    "mean_time_below": Spec(
        ("threshold",), "h", "mean time below threshold",
        "Time below the threshold in the evaluation window, averaged over the subjects of a sweep cell",
    ),
    "mean_time_above": Spec(
        ("threshold",), "h", "mean time at or above threshold",
        "Time at or above the threshold in the evaluation window, averaged over the subjects of a sweep cell",
    ),
    "peak_concentration": Spec(
        ("subject",), "ng/mL", "peak concentration", "Highest concentration in the evaluation window"
    ),
    "recovery_day": Spec(
        ("subject", "threshold", "hold"), "d", "first day back above threshold after the hold",
        "For a trough target, the clinical day of the first scheduled trough at or above it after the hold "
        "ends; NaN if the trough never gets back above it within the schedule, and NaN for ceilings",
    ),
}


def _covariate_specs() -> dict[str, Spec]:
    from .covariates import COVARIATES

    return {
        name: Spec(("subject",), spec.unit, spec.description.lower(), f"Covariate: {spec.description}"
                   + (f" ({', '.join(spec.levels)})" if spec.categorical else ""))
        for name, spec in COVARIATES.items()
    }


SPECS.update(_covariate_specs())


def _checked(name: str, values) -> np.ndarray:
    """`values` as an array whose number of dimensions fits the spec of `name`."""
    spec = SPECS[name]
    array = np.asarray(values)
    if array.ndim != len(spec.dims):
        raise ValueError(f"variable {name!r} has {array.ndim} dims, its spec says {spec.dims}")
    return array


def create_dataset(data_vars: dict, coords: dict | None = None, attrs: dict | None = None):
    """Build an :class:`xarray.Dataset` whose every variable matches its spec in :data:`SPECS`.

    Parameters
    ----------
    data_vars, coords
        ``{name: array}``; the dimensions come from the spec.
    attrs
        Dataset attributes.

    Raises
    ------
    KeyError
        For a variable without a spec (an internal error: every output must be declared).
    ValueError
        For a variable whose shape does not fit its spec, or whose name is a dimension name.
    """
    return Result(data_vars, coords, attrs).to_dataset()


@dataclass(frozen=True)
class Variable:
    """One variable of a :class:`Result`: its dimensions and values."""

    dims: tuple[str, ...]
    values: np.ndarray


class Result:
    """A simulation's variables as plain numpy arrays, before (or instead of) an xarray Dataset.

    Importing xarray and building a Dataset costs about a quarter of a second, more than the whole
    simulation of a case report; a command that only prints a verdict needs neither. A Result
    answers the read-only questions the verdict asks of a Dataset (``result[name].values``,
    ``.dims``, ``name in result``, ``.attrs``, ``.sizes``) and becomes the Dataset that
    :func:`create_dataset` would have built with :meth:`to_dataset`.
    """

    def __init__(self, data_vars: dict, coords: dict | None = None, attrs: dict | None = None):
        for name in data_vars:
            if name in DIMENSIONS:
                raise ValueError(f"data variable {name!r} would collide with the dimension of the same name")
        self.data_vars = {name: _checked(name, values) for name, values in data_vars.items()}
        self.coords = {name: _checked(name, values) for name, values in (coords or {}).items()}
        self.attrs = dict(attrs or {})
        #: Attributes of single variables beyond their spec's (e.g. the limit behind `trough_censored`).
        self.variable_attrs: dict[str, dict] = {}

    def __getitem__(self, name: str) -> Variable:
        values = self.data_vars[name] if name in self.data_vars else self.coords[name]
        return Variable(SPECS[name].dims, values)

    def __contains__(self, name: str) -> bool:
        return name in self.data_vars or name in self.coords

    @property
    def sizes(self) -> dict[str, int]:
        """Length of each dimension, as ``Dataset.sizes``."""
        sizes = {}
        for name, values in (*self.coords.items(), *self.data_vars.items()):
            sizes.update(zip(SPECS[name].dims, values.shape))
        return sizes

    @property
    def dims(self) -> dict[str, int]:
        return self.sizes

    def add(self, name: str, values, attrs: dict | None = None) -> None:
        """Add (or replace) a data variable; `attrs` are kept beside its spec's units and description."""
        self.data_vars[name] = _checked(name, values)
        if attrs:
            self.variable_attrs[name] = dict(attrs)

    def to_dataset(self):
        """The xarray Dataset of these variables, with each spec's units and descriptions in attrs."""
        import xarray as xr

        def build(name, array):
            spec = SPECS[name]
            attrs = {"long_name": spec.long_name, "description": spec.description}
            if spec.units is not None:
                attrs["units"] = spec.units
            attrs.update(self.variable_attrs.get(name, {}))
            # fastpath: the data is already a plain numpy array, so xarray need not probe for duck
            # arrays (which imports dask: 0.07-0.2 s of every `imapk run -o`); a dimension coordinate
            # is handed over as the pandas index xarray would build from it, for the same reason.
            if spec.dims == (name,):
                import pandas as pd

                array = pd.Index(array, dtype=object if array.dtype.kind in "OU" else None)
            return xr.Variable(spec.dims, array, attrs, fastpath=True)

        return xr.Dataset(
            {name: build(name, values) for name, values in self.data_vars.items()},
            coords={name: build(name, values) for name, values in self.coords.items()},
            attrs=self.attrs,
        )
