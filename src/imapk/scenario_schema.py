"""The scenario file's keys, declared once: the parser reads its key lists from here, the reference is
rendered from here.

Each :class:`Key` is one key of a scenario file (TOML), named by its dotted path from the file's root:
``population.size``; ``[]`` marks an array of tables (``schedule.phases[].dose``: the ``dose`` of each
``[[schedule.phases]]`` entry); ``<...>`` a name chosen from a list (``population.covariates.<covariate>``).
A key with ``variants`` applies only to those variants of its table (the ``kind`` of a ``[[policy]]``, the
``model`` of ``[adherence]``, the ``distribution`` of a covariate, the form of a hazard or exposure table).

:func:`keys` gives the keys of one table, which :mod:`imapk.scenario` passes to its check for unknown
keys; :func:`reference_markdown` renders the reference page of scenario files. Tests check that the two
agree key by key, and that the allowed values and defaults written here are the parser's.

Units: inside imapk mg, h, L, L/h, 1/h and ng/mL (:mod:`imapk.units`); a quantity is written as a string
with its unit (``"400 mg"``, ``"12 h"``) and any unit of the right dimension is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Key", "KEYS", "REQUIRED", "keys", "key", "sections", "reference_markdown", "dataset_reference_markdown"]

#: Default of a key that must be given.
REQUIRED = "required"

#: Largest plausible amount of one administration: imatinib is given as 100-400 mg tablets, at most
#: 800 mg/d in the label (400 mg twice daily); more than this in a scenario file is almost surely a
#: unit slip ("0.4 g" meant, "400 g" written). [mg]
MAX_PLAUSIBLE_DOSE_MG = 2000.0
#: Longest plausible dosing interval in a scenario file: one week. "24 d" for "24 h" is refused. [h]
MAX_PLAUSIBLE_INTERVAL_H = 168.0
#: Most points on the dense concentration grid (10 years at a 1-minute step is 5.3 million).
MAX_DENSE_POINTS = 10_000_000

# Value kinds (the "value" column of the reference).
STRING = "string"
INTEGER = "integer"
NUMBER = "number"
BOOLEAN = "true/false"
DAY = "clinical day"
PROBABILITY = "probability"
QUANTITY = "quantity"
DOSE = "dose"
DOSES = "dose or array of doses"
CHOICE = "one of"
TABLE = "table"
TABLES = "array of tables"
INTEGERS = "array of integers"
STRINGS = "array of strings"
ANY = "see meaning"
COVARIATE_VALUE = "value with the covariate's unit"


@dataclass(frozen=True)
class Key:
    """One key of a scenario file.

    Parameters
    ----------
    path
        Dotted path from the root; ``[]`` after an array of tables, ``<name>`` for a chosen name.
    kind
        The kind of value (a module constant: ``STRING``, ``QUANTITY``, ``TABLE`` ...).
    meaning
        One line for a pharmacologist: what the value is and does.
    unit
        The canonical unit (a quantity may be written in any unit of its dimension), or "".
    dimension
        For a quantity, its dimension in :data:`imapk.units.DIMENSIONS` (``"time"``, ``"concentration"`` ...).
    default
        The value used when the key is absent, as written in a file (``"24 h"``, ``29``, ``True``);
        :data:`REQUIRED`; or None when absent means "not used" (or a default described in `default_note`).
    default_note
        The default in words when it is not a constant (``"the schedule's last day"``).
    choices
        The allowed values of a ``CHOICE`` key, in the parser's order.
    allowed
        The allowed range or form, in words (``">= 1"``, ``"(0, 1)"``).
    variants
        The variants of the enclosing table this key belongs to (empty: all).
    """

    path: str
    kind: str
    meaning: str
    unit: str = ""
    dimension: str = ""
    default: object = None
    default_note: str = ""
    choices: tuple = ()
    allowed: str = ""
    variants: tuple[str, ...] = ()

    @property
    def parent(self) -> str:
        """Path of the table holding the key (``""`` for the root)."""
        return self.path.rpartition(".")[0]

    @property
    def name(self) -> str:
        """The key's own name, as written in its table."""
        return self.path.rpartition(".")[2].removesuffix("[]")

    @property
    def table_path(self) -> str:
        """For a table or array of tables: the path its own keys hang from (``schedule.phases[]``)."""
        return self.path + "[]" if self.kind == TABLES and not self.path.endswith("[]") else self.path


_POLICY_KINDS = ("trough_escalation", "dose_cap", "step_up_if_no_event")
_MASS_DOSE = ("mass of imatinib free base per administration ('400 mg', '400 mg base'); "
              "'478 mg mesylate' is converted by the molar masses 493.6/589.7 g/mol")
_DOSE_LIMIT = f"<= {MAX_PLAUSIBLE_DOSE_MG:g} mg; "
_INTERVAL_LIMIT = f"> 0, <= {MAX_PLAUSIBLE_INTERVAL_H:g} h"
_LENGTH = ("whole days, or a whole number of dosing intervals when doses come more often than daily "
           "(3.5 with a 12 h interval); 365.5 daily doses is refused, not rounded")

KEYS: tuple[Key, ...] = (
    # ------------------------------------------------------------------ root
    Key("scenario", TABLE, "What the scenario is", default=REQUIRED),
    Key("model", TABLE, "The population PK model(s) and inline parameter values", default=REQUIRED),
    Key("schedule", TABLE, "The prescription: phases, holds, ladders, missed doses", default=REQUIRED),
    Key("verdict", TABLE, "Thresholds to judge the troughs against, and the evaluation window"),
    Key("output", TABLE, "What the result file holds besides the troughs"),
    Key("population", TABLE, "Simulated patients: size, seed, variability, covariates (without this table: "
        "one typical patient, no variability)"),
    Key("solver", TABLE, "The engine: closed form or ODE integrator"),
    Key("interactions", TABLES, "Co-medications that change CL/F over clinical days"),
    Key("adherence", TABLE, "Missed (and late) doses drawn per patient"),
    Key("toxicity", TABLES, "Toxicity events drawn per patient, each managed by a hold and a restart ladder "
        "(one entry per scenario)"),
    Key("policy", TABLES, "Dosing rules applied as the simulation runs"),
    # ------------------------------------------------------------------ [scenario]
    Key("scenario.title", STRING, "Title printed on every report", default=REQUIRED),
    Key("scenario.description", STRING, "Free text: the case, its sources and assumptions", default=""),
    Key("scenario.seed", INTEGER, "Seed of every random draw (populations, missed doses, toxicity, assay error); "
        "the same seed gives the same patients", allowed=">= 0",
        default_note="none; required when anything is drawn"),
    # ------------------------------------------------------------------ [model]
    Key("model.parameter_set", STRING, "A shipped model (`imapk params` lists them), 'inline' (values in "
        "[model.parameters]), 'all' (every published model), or an array of names: the result then has a "
        "`model` dimension", default="inline", allowed="a shipped name, 'inline', 'all', or an array of names"),
    Key("model.occasion_timing", CHOICE, "When a model's occasion effects start: the day after the previous "
        "occasion's sampling day ('fit', as fitted), mid-way ('midway') or on the sampling day itself",
        default="fit", choices=("fit", "midway", "sampling_day")),
    Key("model.parameters", TABLE, "Inline typical values (with parameter_set = 'inline': cl, v and one of ka "
        "or d1 are required), or overrides of the named model's typical values"),
    Key("model.parameters.cl", QUANTITY, "Apparent clearance CL/F", unit="L/h", dimension="clearance",
        allowed="> 0"),
    Key("model.parameters.v", QUANTITY, "Apparent volume V/F (the central volume with a peripheral compartment)",
        unit="L", dimension="volume", allowed="> 0"),
    Key("model.parameters.ka", QUANTITY, "First-order absorption rate constant (replaces d1)", unit="1/h",
        dimension="rate_constant", allowed="> 0"),
    Key("model.parameters.d1", QUANTITY, "Duration of zero-order absorption (replaces ka)", unit="h",
        dimension="time", allowed="> 0"),
    Key("model.parameters.f", NUMBER, "Relative bioavailability: a factor on each dose", allowed="> 0",
        default_note="the model's value (inline: 1)"),
    Key("model.parameters.tlag", QUANTITY, "Absorption lag time: shifts each dose's input, not its scheduled "
        "time", unit="h", dimension="time", allowed=">= 0", default_note="the model's value (inline: 0 h)"),
    Key("model.parameters.q", QUANTITY, "Inter-compartmental clearance Q/F (with vp: two compartments)",
        unit="L/h", dimension="clearance", allowed="> 0"),
    Key("model.parameters.vp", QUANTITY, "Peripheral volume Vp/F (with q)", unit="L", dimension="volume",
        allowed="> 0"),
    Key("model.parameters.ktr", QUANTITY, "Transit rate constant of a chain ahead of the absorption "
        "compartment (with n_transit)", unit="1/h", dimension="rate_constant", allowed="> 0"),
    Key("model.parameters.n_transit", INTEGER, "Number of transit compartments (with ktr)", allowed=">= 0"),
    Key("model.changes", TABLES, "Step changes of parameters from a time on (an occasion effect; one subject "
        "without variability)"),
    Key("model.changes[].from_day", DAY, "Clinical day from whose start the new values apply (or `at`)",
        allowed=">= 1"),
    Key("model.changes[].at", QUANTITY, "Time after the first dose from which the new values apply "
        "(or `from_day`)", unit="h", dimension="time"),
    Key("model.changes[].cl", QUANTITY, "New CL/F", unit="L/h", dimension="clearance", allowed="> 0"),
    Key("model.changes[].v", QUANTITY, "New V/F: the amount is kept, the concentration jumps", unit="L",
        dimension="volume", allowed="> 0"),
    Key("model.changes[].ka", QUANTITY, "New absorption rate constant", unit="1/h", dimension="rate_constant",
        allowed="> 0"),
    Key("model.changes[].f", NUMBER, "New relative bioavailability, for doses from then on", allowed="> 0"),
    Key("model.changes[].q", QUANTITY, "New Q/F", unit="L/h", dimension="clearance", allowed="> 0"),
    Key("model.changes[].vp", QUANTITY, "New Vp/F", unit="L", dimension="volume", allowed="> 0"),
    Key("model.changes[].ktr", QUANTITY, "New transit rate constant", unit="1/h", dimension="rate_constant",
        allowed="> 0"),
    Key("model.time_varying", TABLE, "Factors of time on therapy tau on ka, cl or f, replacing the model's own "
        "(continuous ones on ka or cl need [solver] method = 'ode')"),
    Key("model.time_varying.ka", TABLE, "Factor on ka, a table with the keys of `<parameter>` below"),
    Key("model.time_varying.cl", TABLE, "Factor on CL/F, a table with the keys of `<parameter>` below"),
    Key("model.time_varying.f", TABLE, "Factor on F, applied per dose, a table with the keys of `<parameter>` below"),
    Key("model.time_varying.<parameter>", TABLE, "The keys of each factor table (ka, cl or f)"),
    Key("model.time_varying.<parameter>.amplitude", NUMBER, "Size of the transient: the factor is 1 + amplitude "
        "2^(-tau / decay_half_life) + emax tau / (t50 + tau), tau the time on therapy", default=0.0),
    Key("model.time_varying.<parameter>.decay_half_life", QUANTITY, "Half-life of the transient (needed with "
        "an amplitude)", unit="h", dimension="time", allowed="> 0"),
    Key("model.time_varying.<parameter>.emax", NUMBER, "Size of the drift: the emax term of that factor",
        default=0.0),
    Key("model.time_varying.<parameter>.t50", QUANTITY, "Time on therapy of half the drift (needed with emax)",
        unit="h", dimension="time", allowed="> 0"),
    # ------------------------------------------------------------------ [[interactions]]
    Key("interactions[].drug", STRING, "A shipped co-medication (imapk.interactions: rifampicin x3.85, "
        "ketoconazole x0.71, st_johns_wort x1.43, enzyme_inducing_antiepileptics x3.1, ritonavir x1.0); "
        "or give cl_factor", allowed="a shipped name"),
    Key("interactions[].cl_factor", NUMBER, "Your own factor on CL/F (or give drug)", allowed="> 0"),
    Key("interactions[].start_day", DAY, "First clinical day of the co-medication", default=REQUIRED,
        allowed="a whole number (0 and negative days, before therapy, are accepted)"),
    Key("interactions[].days", INTEGER, "How many days it lasts (the factor acts in full from the first to "
        "the last day)", allowed=">= 1", default_note="to the end of the schedule"),
    Key("interactions[].label", STRING, "Name in reports",
        default_note="the drug's name, or 'CL/F x' and the factor"),
    # ------------------------------------------------------------------ [solver]
    Key("solver.method", CHOICE, "'exact': closed form per dosing interval; 'ode': a DOP853 integrator "
        "(needed for rates that change continuously with time on therapy)", default="exact",
        choices=("exact", "ode")),
    Key("solver.rtol", NUMBER, "Relative tolerance of the ODE path (method = 'ode' only)",
        allowed="1e-14 <= rtol < 1", default_note="1e-8"),
    Key("solver.atol", QUANTITY, "Absolute tolerance on the depot and central amounts (method = 'ode' only)",
        unit="mg", dimension="mass", allowed=">= 1e-15 mg", default_note="1e-8 mg"),
    Key("solver.max_steps", INTEGER, "Most integrator steps per subject; a failed solve is an error "
        "(method = 'ode' only)", allowed=">= 1", default_note="the engine's default"),
    # ------------------------------------------------------------------ [schedule]
    Key("schedule.phases", TABLES, "Consecutive phases of the prescription; the first starts on day 1",
        default=REQUIRED, allowed="at least one entry"),
    Key("schedule.phases[].dose", DOSES, "Amount of each administration; an array cycles over the day's "
        "administrations ('400 mg', '200 mg')", unit="mg", dimension="mass", default=REQUIRED,
        allowed=_DOSE_LIMIT + _MASS_DOSE),
    Key("schedule.phases[].interval", QUANTITY, "Time between administrations", unit="h", dimension="time",
        default="24 h", allowed=_INTERVAL_LIMIT),
    Key("schedule.phases[].days", NUMBER, "Length of the phase in days (give days or doses)", unit="d", allowed=_LENGTH),
    Key("schedule.phases[].doses", INTEGER, "Length of the phase in administrations (or days)",
        allowed=">= 1"),
    Key("schedule.phases[].label", STRING, "Name in reports", default=""),
    Key("schedule.holds", TABLES, "Interruptions: they must not overlap and must lie inside the schedule; a hold "
        "inside an earlier hold's ladder ends that ladder"),
    Key("schedule.holds[].start_day", DAY, "First clinical day without a dose", default=REQUIRED, allowed=">= 1"),
    Key("schedule.holds[].days", NUMBER, "Length of the hold in days (give days or doses)", unit="d", allowed=_LENGTH),
    Key("schedule.holds[].doses", INTEGER, "Length of the hold in administrations (or days)", allowed=">= 1"),
    Key("schedule.holds[].restart", TABLES, "Restart ladder after the hold, then back to the phase dose "
        "(inline tables: [{ dose = '200 mg', days = 7 }, ...])", default=()),
    Key("schedule.holds[].restart[].dose", DOSES, "Amount of each administration during the step", unit="mg",
        dimension="mass", default=REQUIRED, allowed=_DOSE_LIMIT + _MASS_DOSE),
    Key("schedule.holds[].restart[].days", NUMBER, "Length of the step", unit="d", default=REQUIRED,
        allowed=_LENGTH),
    Key("schedule.holds[].label", STRING, "Name in reports (e.g. the toxicity)", default=""),
    Key("schedule.missed_days", INTEGERS, "Clinical days whose every dose is missed", default=(),
        allowed="days inside the schedule"),
    Key("schedule.missed_doses", INTEGERS, "0-based indices of scheduled doses that are missed", default=(),
        allowed="indices of scheduled doses"),
    Key("schedule.steady_state", TABLE, "The patient was at steady state on this regimen before day 1"),
    Key("schedule.steady_state.dose", DOSE, "Amount of each administration before day 1 (one amount)",
        unit="mg", dimension="mass", default=REQUIRED, allowed=_DOSE_LIMIT + _MASS_DOSE),
    Key("schedule.steady_state.interval", QUANTITY, "Interval of the administrations before day 1", unit="h",
        dimension="time", default="24 h", allowed=_INTERVAL_LIMIT),
    Key("schedule.steady_state.time_on_therapy", QUANTITY, "Time on therapy at day 1, for occasion effects and "
        "time-varying models", unit="h", dimension="time", default_note="long enough for every occasion"),
    Key("schedule.therapy_clock", CHOICE, "What a hold does to time on therapy for time-varying models; an "
        "array of them adds a `therapy_clock` dimension", default="running",
        choices=("running", "paused", "reset")),
    # ------------------------------------------------------------------ [verdict]
    Key("verdict.thresholds", STRINGS, "Shipped thresholds: gist (trough >= 1100 ng/mL), cml (trough >= 1000 "
        "ng/mL), toxicity_alarm (trough < 3000 ng/mL)", default=(), choices=("gist", "cml", "toxicity_alarm")),
    Key("verdict.custom", TABLES, "Your own thresholds"),
    Key("verdict.custom[].name", STRING, "Name in reports and in the result's `threshold` dimension",
        default=REQUIRED),
    Key("verdict.custom[].value", QUANTITY, "Concentration", unit="ng/mL", dimension="concentration",
        default=REQUIRED, allowed="> 0"),
    Key("verdict.custom[].kind", CHOICE, "What is compared and which side is wrong: every trough >= value; "
        "every trough < value; the concentration < value at all times (the peak). Older spellings: 'target' "
        "is 'trough_target', 'ceiling' is 'concentration_ceiling' (with a warning)", default="trough_target",
        choices=("trough_target", "trough_ceiling", "concentration_ceiling")),
    Key("verdict.custom[].reference", STRING, "Where the number comes from", default="user-defined"),
    Key("verdict.window_start_day", DAY, "First clinical day whose trough is judged", default=29,
        allowed="inside the schedule", default_note="29, or day 1 when the schedule ends before day 29"),
    Key("verdict.window_end_day", DAY, "Last clinical day whose trough is judged (inclusive)",
        allowed=">= window_start_day, inside the schedule", default_note="the schedule's last day"),
    # ------------------------------------------------------------------ [output]
    Key("output.dense", BOOLEAN, "Keep the concentration on a regular grid over the whole schedule",
        default=True),
    Key("output.dense_step", QUANTITY, f"Step of that grid (at most {MAX_DENSE_POINTS:,} points)", unit="h",
        dimension="time", default="1 h", allowed="> 0"),
    Key("output.peripheral", BOOLEAN, "Also the peripheral amount on the grid (two-compartment models; needs "
        "dense = true)", default=False),
    # ------------------------------------------------------------------ [population]
    Key("population.size", INTEGER, "Number of simulated patients", allowed=">= 1",
        default_note="1, or the rows of covariates_file"),
    Key("population.seed", INTEGER, "Seed of the draws (or [scenario] seed; both must agree)", allowed=">= 0",
        default_note="[scenario] seed"),
    Key("population.iiv", BOOLEAN, "Draw each patient's random effects from the model's omega matrix "
        "(log-normal); the default applies when [population] is given", default=True),
    Key("population.residual_error", BOOLEAN, "Add the simulated assay value trough_observed (the model's "
        "residual error) and trough_censored", default=False),
    Key("population.quantification_limit", QUANTITY, "Assay values below it are marked censored (needs "
        "residual_error = true)", unit="ng/mL", dimension="concentration", default="0 ng/mL", allowed=">= 0"),
    Key("population.iov_cl", NUMBER, "SD of log CL redrawn for every dosing interval (inter-occasion "
        "variability)", default=0.0, allowed=">= 0"),
    Key("population.covariates_file", STRING, "CSV of patients, one per row, header `name [unit]`; path "
        "relative to the scenario"),
    Key("population.covariates", TABLE, "Covariates given to every patient: a fixed value or a distribution "
        "drawn per patient, independently"),
    Key("population.covariates.<covariate>", ANY, "A fixed value with its unit ('70 kg', 'male') or a "
        "distribution table (the covariates and their units are listed below)",
        allowed="a covariate of imapk.covariates"),
    Key("population.covariates.<covariate>.distribution", CHOICE, "The distribution drawn from, per patient",
        default=REQUIRED, choices=("normal", "lognormal", "uniform", "categorical")),
    Key("population.covariates.<covariate>.mean", COVARIATE_VALUE, "Mean, with the covariate's unit",
        default=REQUIRED, allowed="> 0 for lognormal", variants=("normal", "lognormal")),
    Key("population.covariates.<covariate>.sd", COVARIATE_VALUE, "Standard deviation, with the covariate's unit",
        default=REQUIRED, allowed="> 0", variants=("normal", "lognormal")),
    Key("population.covariates.<covariate>.low", COVARIATE_VALUE, "Lower bound (truncation for normal and lognormal)",
        default_note="none; required for uniform", variants=("normal", "lognormal", "uniform")),
    Key("population.covariates.<covariate>.high", COVARIATE_VALUE, "Upper bound (truncation for normal and lognormal)",
        default_note="none; required for uniform", allowed="> low", variants=("normal", "lognormal", "uniform")),
    Key("population.covariates.<covariate>.p", TABLE, "Probability of each category: { male = 0.55, female = "
        "0.45 }", default=REQUIRED, allowed="probabilities of the covariate's categories, summing to 1",
        variants=("categorical",)),
    # ------------------------------------------------------------------ [adherence]
    Key("adherence.model", CHOICE, "How misses are drawn: each dose independently, or a two-state Markov chain "
        "(runs of misses)", default=REQUIRED, choices=("independent", "markov")),
    Key("adherence.p_missed", PROBABILITY, "Probability of missing each dose", default=REQUIRED,
        allowed="[0, 1]; not with level", variants=("independent",)),
    Key("adherence.p_remain_adherent", PROBABILITY, "P(take | took the previous dose)", default=REQUIRED,
        allowed="[0, 1]; not with level", variants=("markov",)),
    Key("adherence.p_become_adherent", PROBABILITY, "P(take | missed the previous dose): runs of misses last "
        "1/p doses on average", default=REQUIRED, allowed="(0, 1]", variants=("markov",)),
    Key("adherence.start", CHOICE, "State before the first dose: taken, or drawn from the chain's stationary "
        "distribution", default="adherent", choices=("adherent", "stationary"), variants=("markov",)),
    Key("adherence.level", TABLE, "Each patient's own adherence level (long-run fraction of doses taken), "
        "beta-distributed; replaces p_missed or p_remain_adherent"),
    Key("adherence.level.mean", PROBABILITY, "Mean level over patients", default=REQUIRED, allowed="(0, 1)"),
    Key("adherence.level.sd", NUMBER, "SD of the level over patients", default=REQUIRED,
        allowed="0 < sd < sqrt(mean (1 - mean))"),
    Key("adherence.late", TABLE, "Doses taken late, simulated at their real times (troughs stay at the "
        "scheduled times)"),
    Key("adherence.late.probability", PROBABILITY, "Probability that a dose taken is late", default=REQUIRED,
        allowed="[0, 1]"),
    Key("adherence.late.low", QUANTITY, "Shortest delay", unit="h", dimension="time", default="0 h",
        allowed=">= 0"),
    Key("adherence.late.high", QUANTITY, "Longest delay (uniform between low and high)", unit="h",
        dimension="time", default=REQUIRED, allowed="> low, shorter than the dosing interval"),
    # ------------------------------------------------------------------ [[toxicity]]
    Key("toxicity[].label", STRING, "Name of the toxicity: names its holds and keys its random draws",
        default=REQUIRED, allowed="not blank"),
    Key("toxicity[].first", TABLE, "Hazard of the first event, from the first dose (Weibull)", default=REQUIRED),
    Key("toxicity[].first.probability", PROBABILITY, "Probability of an event by day by_day (with by_day; "
        "or give scale)", allowed="(0, 1)"),
    Key("toxicity[].first.by_day", DAY, "Clinical day at which `probability` is reached", allowed=">= 1"),
    Key("toxicity[].first.scale", QUANTITY, "Weibull scale (or give probability and by_day)", unit="h",
        dimension="time", allowed="> 0"),
    Key("toxicity[].first.shape", NUMBER, "Weibull shape (1: a constant hazard)", default=1.0,
        allowed="0.05 to 20"),
    Key("toxicity[].recurrence", TABLE, "Hazard of each further event, from each restart",
        default_note="none: one event at most"),
    Key("toxicity[].recurrence.scale", QUANTITY, "Weibull scale", unit="h", dimension="time", default=REQUIRED,
        allowed="> 0"),
    Key("toxicity[].recurrence.shape", NUMBER, "Weibull shape", default=1.0, allowed="0.05 to 20"),
    Key("toxicity[].hold", TABLE, "Length of each hold: { days = 14 } or { low = '3 d', high = '14 d' }",
        default_note="required with management = 'hold'"),
    Key("toxicity[].hold.days", INTEGER, "Fixed length (or low and high)", unit="d", allowed=">= 1"),
    Key("toxicity[].hold.low", QUANTITY, "Shortest hold (whole days, uniform with high)", unit="h",
        dimension="time", allowed="whole days >= 1"),
    Key("toxicity[].hold.high", QUANTITY, "Longest hold (whole days)", unit="h", dimension="time",
        allowed="whole days >= low"),
    Key("toxicity[].restart", TABLES, "Restart ladder after each hold, as a planned hold's", default=()),
    Key("toxicity[].restart[].dose", DOSES, "Amount of each administration during the step", unit="mg",
        dimension="mass", default=REQUIRED, allowed=_DOSE_LIMIT + _MASS_DOSE),
    Key("toxicity[].restart[].days", NUMBER, "Length of the step", unit="d", default=REQUIRED, allowed=_LENGTH),
    Key("toxicity[].management", CHOICE, "'hold': interrupt and restart; 'steroids': treat without "
        "interruption (no hold or restart then)", default="hold", choices=("hold", "steroids")),
    Key("toxicity[].discontinue_after", INTEGER, "The event that stops therapy for good (> 1 needs "
        "recurrence)", allowed=">= 1", default_note="never"),
    Key("toxicity[].exposure", TABLE, "Hazard depending on the trough at the start of each dosing interval: "
        "{ above, factor } or { reference, gamma }", default_note="none"),
    Key("toxicity[].exposure.above", QUANTITY, "Trough at or above which the hazard is multiplied by factor",
        unit="ng/mL", dimension="concentration", default=REQUIRED, allowed="> 0", variants=("step form",)),
    Key("toxicity[].exposure.factor", NUMBER, "Hazard ratio while the trough is at or above `above`",
        default=REQUIRED, allowed="> 0", variants=("step form",)),
    Key("toxicity[].exposure.reference", QUANTITY, "Reference trough: hazard x (trough / reference)^gamma",
        unit="ng/mL", dimension="concentration", default=REQUIRED, allowed="> 0", variants=("power form",)),
    Key("toxicity[].exposure.gamma", NUMBER, "Exponent of the power law (0: no effect)", default=REQUIRED,
        allowed=">= 0", variants=("power form",)),
    # ------------------------------------------------------------------ [[policy]]
    Key("policy[].kind", CHOICE, "The rule: change the prescription after a low measured trough; cap the dose "
        "after toxicity events; delay a ladder step until no event for some days", default=REQUIRED,
        choices=_POLICY_KINDS),
    Key("policy[].day", DAY, "Clinical day whose trough (before its first dose) is measured", default=REQUIRED,
        allowed="2 to the schedule's last day", variants=("trough_escalation",)),
    Key("policy[].below", ANY, "Escalate when the measured trough is below this: a concentration ('1100 "
        "ng/mL') or a shipped trough target's name ('gist', 'cml'; a ceiling is refused)", unit="ng/mL", dimension="concentration",
        default=REQUIRED, variants=("trough_escalation",)),
    Key("policy[].dose", DOSE, "trough_escalation: the new amount of the phases' doses from that day; "
        "dose_cap: no dose above it", unit="mg", dimension="mass", default=REQUIRED,
        allowed="made of 100 and 400 mg tablets", variants=("trough_escalation", "dose_cap")),
    Key("policy[].assay", BOOLEAN, "Measure with the model's assay error (false: the true trough)",
        default=True, variants=("trough_escalation",)),
    Key("policy[].within", INTEGER, "Days after `day` on which a patient whose trough does not count on `day` "
        "(see doses_taken) is measured instead: the first whose trough counts", unit="d", default=0,
        allowed=">= 0", variants=("trough_escalation",)),
    Key("policy[].doses_taken", INTEGER, "A trough counts when the patient took each of this many scheduled "
        "doses before it (7 daily doses: a week of continuous dosing, near steady state)", default=1,
        allowed=">= 1", variants=("trough_escalation",)),
    Key("policy[].after_events", INTEGER, "Number of toxicity events from which the cap applies (needs "
        "[[toxicity]])", default=REQUIRED, allowed=">= 1, below discontinue_after", variants=("dose_cap",)),
    Key("policy[].days", INTEGER, "A dose increase waits until the last toxicity event is this many days old "
        "(needs [[toxicity]])", unit="d", default=REQUIRED, allowed=">= 1", variants=("step_up_if_no_event",)),
)

#: Keys of sweep files (``[sweep]``), read by :mod:`imapk.sweep`; a scenario file with a ``[sweep]`` table
#: is a sweep, run with ``imapk sweep``.
SWEEP_KEYS: tuple[Key, ...] = (
    Key("sweep.base", STRING, "Base scenario file, relative to the sweep file (then the sweep file holds only "
        "[sweep])", default_note="the scenario in the same file"),
    Key("sweep.subjects_per_chunk", INTEGER, "Patients per chunk of work", default=10_000, allowed=">= 1"),
    Key("sweep.zip", ANY, "Groups of axis names whose values move together: [['a', 'b']]", default=()),
    Key("sweep.axes", TABLES, "The swept values: one result dimension per axis (or per zipped group)",
        default=REQUIRED, allowed="at least one entry"),
    Key("sweep.axes[].name", STRING, "Name of the result's dimension", default=REQUIRED,
        allowed="lower_snake_case, not a result variable's name"),
    Key("sweep.axes[].key", STRING, "Dotted key of the scenario value replaced, e.g. 'schedule.holds[0].days'",
        default=REQUIRED),
    Key("sweep.axes[].values", ANY, "The values, each as it would be written at that key", default=REQUIRED,
        allowed="a non-empty array of distinct values"),
    Key("sweep.axes[].units", STRING, "Unit of plain-number values, for the coordinate"),
)

_BY_PATH = {k.path: k for k in KEYS + SWEEP_KEYS}


def key(path: str) -> Key:
    """The key at `path` (``"population.size"``, ``"schedule.phases[].dose"``)."""
    return _BY_PATH[path]


@lru_cache(maxsize=None)
def keys(table: str = "", variant: str | None = None) -> tuple[str, ...]:
    """Names of the keys of `table` (``""`` for the root, ``"schedule.phases[]"`` for each phase), in
    declaration order; with `variant`, those of that variant only (and those of every variant). A name
    chosen from a list (``<covariate>``) is not among them."""
    table = table.removesuffix(".")
    return tuple(
        k.name for k in KEYS + SWEEP_KEYS
        if k.parent == table and not k.name.startswith("<")
        and (variant is None or not k.variants or variant in k.variants)
    )


def variants(table: str) -> dict[str, tuple[str, ...]]:
    """For a table whose keys depend on a variant: each variant and its own keys (without the common
    ones), in declaration order."""
    found: dict[str, list[str]] = {}
    for k in KEYS + SWEEP_KEYS:
        if k.parent == table:
            for v in k.variants:
                found.setdefault(v, []).append(k.name)
    return {v: tuple(names) for v, names in found.items()}


def sections(sweep: bool = False) -> tuple[str, ...]:
    """Paths of every table that has keys, depth first from the root (each table followed by its own
    tables), as the reference lists them; with `sweep`, also the tables of sweep files."""
    pool = KEYS + (SWEEP_KEYS if sweep else ())
    found: list[str] = []

    def visit(table: str) -> None:
        found.append(table)
        for k in pool:
            if k.parent == table and any(other.parent == k.table_path for other in pool):
                visit(k.table_path)

    visit("")
    return tuple(found)


# ---------------------------------------------------------------------------------------- rendering

def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _toml(value: object) -> str:
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _default(k: Key) -> str:
    if k.default == REQUIRED:
        return "**required**"
    if k.default_note:
        return k.default_note
    if k.default is None:
        return "-"
    return f"`{_toml(k.default)}`"


def _allowed(k: Key) -> str:
    parts = []
    if k.choices:
        parts.append(", ".join(f"`{_toml(c)}`" for c in k.choices))
    if k.allowed:
        parts.append(k.allowed)
    if k.variants:
        parts.append("with " + " or ".join(f"`{v}`" for v in k.variants))
    return "; ".join(parts) or "-"


def _value(k: Key) -> str:
    if k.kind == QUANTITY:
        return f"quantity ({k.dimension.replace('_', ' ')})"
    return k.kind


def _heading(table: str) -> str:
    if not table:
        return "Top-level tables"
    if "[]" not in table and "<" not in table:
        return f"`[{table}]`"
    if table.endswith("[]") and table.count("[]") == 1:
        return f"`[[{table.removesuffix('[]')}]]`"
    return f"`{table}`"


def _table(table: str, pool: tuple[Key, ...]) -> list[str]:
    rows = [k for k in pool if k.parent == table]
    lines = [f"### {_heading(table)}", ""]
    owner = _BY_PATH.get(table.removesuffix("[]"))
    if owner is not None:
        lines += [_cell(owner.meaning) + ".", ""]
    lines += ["| key | value | unit | default | allowed | meaning |", "|---|---|---|---|---|---|"]
    for k in rows:
        lines.append("| " + " | ".join(_cell(x) for x in (
            f"`{k.name}`", _value(k), f"{k.unit}" if k.unit else "-", _default(k), _allowed(k), k.meaning)) + " |")
    return lines + [""]


def _covariates_table() -> list[str]:
    lines = ["### Covariates", "",
             "The names under `[population.covariates]` (and the columns of a covariate file). Numeric values are "
             "written with a unit; each is converted to its canonical unit, and values outside the plausible "
             "range are refused.", "",
             *covariate_rows("covariate")]
    return lines + [""]


def covariate_rows(first: str) -> list[str]:
    """The covariates as Markdown table lines (header, rule, one row each): name, meaning, canonical
    unit, accepted units, plausible range or categories; `first` heads the name column. The scenario
    and the data-set references share it."""
    from .covariates import COVARIATES

    lines = [f"| {first} | meaning | canonical unit | accepted units | plausible range / categories |",
             "|---|---|---|---|---|"]
    for spec in COVARIATES.values():
        if spec.categorical:
            row = (f"`{spec.name}`", spec.description, "-", "-", ", ".join(f"`{lv}`" for lv in spec.levels))
        else:
            row = (f"`{spec.name}`", spec.description, spec.unit, ", ".join(u for u, _ in spec.units),
                   f"{spec.plausible[0]:g} to {spec.plausible[1]:g} {spec.unit}")
        lines.append("| " + " | ".join(_cell(x) for x in row) + " |")
    return lines


def _units_table() -> list[str]:
    from .units import CANONICAL_UNIT, DIMENSIONS

    lines = ["### Units", "", "A quantity is a string with a number and a unit; any unit of its dimension is "
             "accepted and converted.", "", "| dimension | stored in | accepted units |", "|---|---|---|"]
    for dimension, units in DIMENSIONS.items():
        lines.append("| " + " | ".join(_cell(x) for x in (
            dimension.replace("_", " "), CANONICAL_UNIT[dimension], ", ".join(units))) + " |")
    return lines + [""]


def reference_markdown() -> str:
    """The reference page of scenario files (Markdown, MyST-compatible): one table per section with each
    key's value, unit, default, allowed values and meaning, rendered from :data:`KEYS`; the same text on
    every call."""
    lines = [
        "# Scenario file reference", "",
        "A scenario is a TOML file. This page is generated from `imapk.scenario_schema`, the declaration the "
        "parser itself checks files against: every key below is accepted and every key accepted is below. "
        "Unknown keys are errors, and every error is one line naming the file and the key.", "",
        "Conventions: a *quantity* is a string with its unit (`\"400 mg\"`, `\"12 h\"`, `\"14.3 L/h\"`); a bare "
        "number where a unit is needed, or a unit of the wrong dimension, is refused. Keys whose name carries "
        "the unit (`days`, `start_day`) take plain numbers. A *clinical day* is a whole number, day 1 being the "
        "first day of therapy (day n is [24 (n - 1), 24 n) h after the first dose). A *dose* is mg of imatinib "
        "free base. `[[name]]` is an array of tables (one `[[name]]` header per entry, or an array of inline "
        "tables); *with* in the allowed column names the variant (the `kind`, `model`, `distribution` or form) a "
        "key belongs to.", "",
    ]
    lines += ["## Scenario files", ""]
    for table in sections():
        lines += _table(table, KEYS)
    lines += _covariates_table() + _units_table()
    lines += ["## Sweep files", "",
              "A sweep file is a `[sweep]` table with `[[sweep.axes]]`, beside a scenario or naming one in "
              "`base`; every cell is the scenario with the axis values substituted, validated as above. Run it "
              "with `imapk sweep`.", ""]
    for table in ("sweep", "sweep.axes[]"):
        lines += _table(table, SWEEP_KEYS)
    return "\n".join(lines).rstrip() + "\n"


def dataset_reference_markdown() -> str:
    """The reference page of NONMEM-style data sets (Markdown, MyST-compatible), rendered from
    :data:`imapk.dataset_schema.COLUMNS` and the covariates; the same text on every call."""
    from .dataset_schema import reference_markdown as dataset_markdown

    return dataset_markdown()
