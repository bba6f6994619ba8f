"""The scenario schema and the parser agree key by key; the rendered references list exactly the schema.

The independent side of each comparison is the parser itself (what it accepts, what it refuses and the
key list its message names), the shipped scenario files, and the constants of the modules that use the
values (thresholds, clocks, methods, distributions). Comparisons are exact (sets of names, equal objects):
there is no tolerance, a single key or value of difference is a drift.
"""

import copy
import dataclasses
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from imapk import scenario_schema as schema
from imapk.covariates import COVARIATES
from imapk.dataset_schema import COLUMNS
from imapk.dataset_schema import MAX_ADDL
from imapk.datasets import STANDARD_COLUMNS
from imapk.errors import ImapkError
from imapk.scenario import ADHERENCE_MODELS, POLICY_KINDS, scenario_from_data

ROOT = Path(__file__).resolve().parents[1]

# Four scenarios that together use every key of the schema (checked by test_the_examples_use_every_key).
EXAMPLES = [
    """
[scenario]
title = "every key, one patient"
description = "deterministic keys"

[model]
parameter_set = "inline"
occasion_timing = "midway"

[model.parameters]
cl = "14.3 L/h"
v = "347 L"
ka = "0.609 1/h"
f = 1.0
tlag = "0.5 h"
q = "10 L/h"
vp = "100 L"
ktr = "5 1/h"
n_transit = 2

[[model.changes]]
from_day = 29
cl = "10 L/h"
v = "300 L"
ka = "0.5 1/h"
f = 0.9
q = "9 L/h"
vp = "90 L"
ktr = "4 1/h"

[[model.changes]]
at = "1000 h"
cl = "11 L/h"

[[interactions]]
drug = "rifampicin"
start_day = 15
days = 10
label = "rifampicin"

[[interactions]]
cl_factor = 2.0
start_day = 60

[schedule]
missed_days = [50]
missed_doses = [60]
therapy_clock = "running"

[[schedule.phases]]
dose = "400 mg"
interval = "24 h"
days = 100
label = "400 mg daily"

[[schedule.phases]]
dose = ["400 mg", "200 mg"]
interval = "12 h"
doses = 20

[[schedule.holds]]
start_day = 29
days = 14
label = "rash"
restart = [{ dose = "200 mg", days = 7 }]

[[schedule.holds]]
start_day = 80
doses = 3

[schedule.steady_state]
dose = "400 mg"
interval = "24 h"
time_on_therapy = "180 d"

[verdict]
thresholds = ["gist"]
window_start_day = 29
window_end_day = 100

[[verdict.custom]]
name = "ceiling"
value = "3000 ng/mL"
kind = "trough_ceiling"
reference = "a source"

[output]
dense = true
dense_step = "1 h"
peripheral = true

[solver]
method = "ode"
rtol = 1e-8
atol = "1e-8 mg"
max_steps = 100000
""",
    """
[scenario]
title = "every key, a population with random dosing"
seed = 1

[model]
parameter_set = "widmer2006_covariates"

[model.time_varying]
ka = { amplitude = 1.0, decay_half_life = "27 d" }
cl = { emax = 0.3, t50 = "90 d" }
f = { amplitude = 0.1, decay_half_life = "27 d", emax = 0.1, t50 = "90 d" }

[solver]
method = "ode"

[population]
size = 3
seed = 1
iiv = true
residual_error = true
quantification_limit = "50 ng/mL"
iov_cl = 0.1

[population.covariates]
weight = { distribution = "normal", mean = "75 kg", sd = "15 kg", low = "44 kg", high = "110 kg" }
age = { distribution = "uniform", low = "30 y", high = "80 y" }
haemoglobin = { distribution = "lognormal", mean = "13 g/dL", sd = "1 g/dL" }
sex = { distribution = "categorical", p = { male = 0.5, female = 0.5 } }
disease = "GIST"

[[schedule.phases]]
dose = "400 mg"
days = 365

[adherence]
model = "markov"
p_remain_adherent = 0.95
p_become_adherent = 0.5
start = "stationary"
late = { probability = 0.2, low = "1 h", high = "8 h" }

[[toxicity]]
label = "rash"
first = { probability = 0.1, by_day = 365, shape = 1.0 }
recurrence = { scale = "140 d", shape = 1.0 }
hold = { low = "3 d", high = "14 d" }
restart = [{ dose = "300 mg", days = 7 }]
management = "hold"
discontinue_after = 3
exposure = { above = "3000 ng/mL", factor = 2.0 }

[[policy]]
kind = "trough_escalation"
day = 29
below = "gist"
dose = "600 mg"
assay = true
within = 14
doses_taken = 7

[[policy]]
kind = "dose_cap"
after_events = 2
dose = "300 mg"

[[policy]]
kind = "step_up_if_no_event"
days = 7
""",
    """
[scenario]
title = "every key, a covariate file and per-patient adherence"
seed = 2

[model]
parameter_set = "widmer2006"

[model.parameters]
d1 = "2 h"

[population]
covariates_file = "patients.csv"
iiv = false

[[schedule.phases]]
dose = "400 mg"
days = 60

[adherence]
model = "independent"
level = { mean = 0.9, sd = 0.05 }

[[toxicity]]
label = "rash"
first = { scale = "60 d", shape = 1.5 }
hold = { days = 14 }
exposure = { reference = "1000 ng/mL", gamma = 1.5 }
""",
    """
[scenario]
title = "every key, steroid management"
seed = 3

[model]
parameter_set = "widmer2006"

[[schedule.phases]]
dose = "400 mg"
days = 60

[adherence]
model = "independent"
p_missed = 0.1

[[toxicity]]
label = "rash"
first = { scale = "60 d" }
management = "steroids"
""",
]


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "patients.csv").write_text("weight [kg],sex\n70,male\n80,female\n", encoding="utf-8")
    return tmp_path


def parse(data: dict, folder: Path):
    return scenario_from_data(copy.deepcopy(data), str(folder / "all.toml"), "")


def _children(path: str) -> str | None:
    """The schema path the keys of the table at `path` hang from (a placeholder sibling if needed)."""
    if any(k.parent == path for k in schema.KEYS + schema.SWEEP_KEYS):
        return path
    parent = path.rpartition(".")[0]
    sibling = next((k.path for k in schema.KEYS + schema.SWEEP_KEYS
                    if k.parent == parent and k.name.startswith("<")), None)
    return sibling if sibling and any(k.parent == sibling for k in schema.KEYS) else None


def walk(data: dict, table: str = "", where: tuple = ()):
    """Yield (schema path, location in `data`) of every key in `data`, ``None`` as path for unknown ones."""
    for name, value in data.items():
        names = schema.keys(table)
        placeholder = next((k for k in schema.KEYS + schema.SWEEP_KEYS
                            if k.parent == table and k.name.startswith("<")), None)
        if name in names:
            entry = schema.key(f"{table}.{name}" if table else name)
        elif placeholder is not None:
            entry = placeholder
        else:
            yield None, where + (name,)
            continue
        yield entry.path, where + (name,)
        if entry.kind == schema.TABLES and isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    yield from walk(item, entry.path + "[]", where + (name, i))
        elif isinstance(value, dict):
            inner = _children(entry.path)
            if inner is not None:
                yield inner, where + (name,)
                yield from walk(value, inner, where + (name,))


def tables_of(data: dict):
    """Yield (schema table path, location) of every table in `data`, the root included."""
    yield "", ()
    seen = set()
    for path, where in walk(data):
        if path is None:
            continue
        node = data
        for part in where:
            node = node[part]
        if isinstance(node, list):
            for i, item in enumerate(node):
                if isinstance(item, dict) and (where + (i,)) not in seen:
                    seen.add(where + (i,))
                    yield path + "[]", where + (i,)
        elif isinstance(node, dict) and where not in seen and _children(path) is not None:
            seen.add(where)
            yield _children(path), where


def node_at(data, where):
    for part in where:
        data = data[part]
    return data


# ---------------------------------------------------------------- the schema and the parser


def test_the_examples_parse_and_use_every_key(folder):
    used = set()
    for text in EXAMPLES:
        data = tomllib.loads(text)
        parse(data, folder)
        found = list(walk(data))
        assert [where for path, where in found if path is None] == []
        used |= {path for path, _ in found}
    documented = {k.path for k in schema.KEYS}
    assert documented - used == set(), "schema keys no example uses: add them to EXAMPLES"


def _variant(table: str, node: dict) -> str | None:
    if table == "policy[]":
        return node["kind"]
    if table == "population.covariates.<covariate>":
        return node["distribution"]
    if table == "toxicity[].exposure":
        return "power form" if "reference" in node or "gamma" in node else "step form"
    return None


#: Tables whose unknown names are refused by another check than the key list (tested below).
_OWN_CHECK = {"model.parameters", "model.changes[]", "population.covariates"}


def test_an_unknown_key_in_every_table_is_refused_naming_file_key_and_the_schema_keys(folder):
    checked = set()
    for text in EXAMPLES:
        data = tomllib.loads(text)
        for table, where in tables_of(data):
            if table in _OWN_CHECK:
                continue
            bad = copy.deepcopy(data)
            node = node_at(bad, where)
            node["colour"] = 1
            with pytest.raises(ImapkError) as info:
                parse(bad, folder)
            message = str(info.value)
            shown = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in where).replace(".[", "[")
            assert message.startswith(f"{folder / 'all.toml'}: {shown + '.' if shown else ''}colour: unknown key"), message
            accepted = re.search(r"expected one of: (.*)\)$", message).group(1).split(", ")
            expected = schema.keys(table, _variant(table, node))
            if table == "toxicity[].recurrence":
                # the parser takes the keys of `first` here, to refuse probability and by_day with the reason
                expected = schema.keys("toxicity[].first")
            assert sorted(accepted) == sorted(expected), table
            checked.add(table)
    every = {t for t in schema.sections() if t not in _OWN_CHECK}
    assert every - checked == set()


def test_a_recurrence_refuses_the_first_events_form(folder):
    data = tomllib.loads(EXAMPLES[1])
    data["toxicity"][0]["recurrence"]["probability"] = 0.2
    with pytest.raises(ImapkError, match=r"toxicity\[0\]\.recurrence\.probability: a recurrence's hazard is given by its `scale`"):
        parse(data, folder)


def test_parameter_and_covariate_names_are_the_models():
    from imapk.params import CHANGEABLE, PARAMETER_DIMENSIONS

    assert schema.keys("model.parameters") == tuple(PARAMETER_DIMENSIONS)
    for name, dimension in PARAMETER_DIMENSIONS.items():
        key = schema.key(f"model.parameters.{name}")
        assert key.dimension == (dimension or ""), name
        assert key.kind == (schema.QUANTITY if dimension else schema.NUMBER if name == "f" else schema.INTEGER)
    assert set(schema.keys("model.changes[]")) == {"from_day", "at", *CHANGEABLE}
    for name in CHANGEABLE:
        assert schema.key(f"model.changes[].{name}").dimension == (PARAMETER_DIMENSIONS[name] or "")
    assert [lv for lv in schema.key("population.covariates.<covariate>.distribution").choices] == [
        "normal", "lognormal", "uniform", "categorical"]
    assert set(COVARIATES)  # the covariate table of the reference is rendered from them


def test_unknown_parameters_and_covariates_are_refused(folder):
    data = tomllib.loads(EXAMPLES[0])
    data["model"]["parameters"]["colour"] = "1 h"
    with pytest.raises(ImapkError, match=r"model\.parameters\.colour: unknown parameter"):
        parse(data, folder)
    data = tomllib.loads(EXAMPLES[1])
    data["population"]["covariates"]["colour"] = "blue"
    with pytest.raises(ImapkError, match=r"population\.covariates\.colour: unknown covariate"):
        parse(data, folder)


def test_choices_are_the_values_the_code_knows():
    from imapk.clock import CLOCK_MODES
    from imapk.population import DISTRIBUTIONS, OCCASION_TIMINGS
    from imapk.processes.toxicity import MANAGEMENTS, SHAPE_RANGE
    from imapk.simulation import METHODS
    from imapk.thresholds import KINDS, THRESHOLDS
    from imapk.units import CANONICAL_UNIT, DIMENSIONS

    assert schema.key("model.occasion_timing").choices == OCCASION_TIMINGS
    assert schema.key("schedule.therapy_clock").choices == CLOCK_MODES
    assert schema.key("solver.method").choices == METHODS
    assert schema.key("toxicity[].management").choices == MANAGEMENTS
    assert schema.key("verdict.custom[].kind").choices == KINDS
    assert set(schema.key("verdict.thresholds").choices) == set(THRESHOLDS)
    assert schema.key("population.covariates.<covariate>.distribution").choices == DISTRIBUTIONS[1:]
    assert schema.key("adherence.model").choices == tuple(ADHERENCE_MODELS)
    assert schema.key("policy[].kind").choices == tuple(POLICY_KINDS)
    assert schema.key("toxicity[].first.shape").allowed == f"{SHAPE_RANGE[0]:g} to {SHAPE_RANGE[1]:g}"
    for k in schema.KEYS:
        if k.kind == schema.QUANTITY or k.dimension:
            assert k.dimension in DIMENSIONS, k.path
            assert k.unit == CANONICAL_UNIT[k.dimension], k.path


def test_variant_keys_are_the_parsers():
    assert ADHERENCE_MODELS == {"independent": ("p_missed",),
                                "markov": ("p_remain_adherent", "p_become_adherent", "start")}
    assert {kind: set(keys) for kind, keys in POLICY_KINDS.items()} == {
        "trough_escalation": {"day", "below", "dose", "assay", "within", "doses_taken"},
        "dose_cap": {"after_events", "dose"},
        "step_up_if_no_event": {"days"},
    }


def _same(a, b) -> bool:
    """Two parsed scenarios are equal, models compared by their typical parameters (they hold closures)."""
    from imapk.covariates import REFERENCE_SUBJECT

    if [m.name for m in a.models] != [m.name for m in b.models]:
        return False
    if [m.typical_params(REFERENCE_SUBJECT) for m in a.models] != [m.typical_params(REFERENCE_SUBJECT) for m in b.models]:
        return False
    if [m.time_variation for m in a.models] != [m.time_variation for m in b.models]:
        return False
    return dataclasses.replace(a, models=(), text="") == dataclasses.replace(b, models=(), text="")


def _locations(data: dict, path: str):
    """Locations in `data` of the table holding `path` (creating a missing top-level table)."""
    parent = schema.key(path).parent
    found = [where for table, where in tables_of(data) if table == parent]
    if not found and parent and "." not in parent and "[" not in parent and parent not in data:
        data[parent] = {}
        found = [(parent,)]
    return found


def test_documented_defaults_are_the_parsers(folder):
    """For every key with a constant default: a file without it and a file giving the default parse the same."""
    constant = [k for k in schema.KEYS if k.default not in (None, schema.REQUIRED) and not k.default_note
                and k.kind not in (schema.TABLE, schema.TABLES) and "<" not in k.path.rpartition(".")[2]]
    assert len(constant) >= 20
    for key in constant:
        compared = False
        for text in EXAMPLES:
            data = tomllib.loads(text)
            for where in _locations(data, key.path):
                without = copy.deepcopy(data)
                node_at(without, where).pop(key.name, None)
                given = copy.deepcopy(without)
                node_at(given, where)[key.name] = list(key.default) if isinstance(key.default, tuple) else key.default
                try:
                    a = parse(without, folder)
                except ImapkError:
                    continue  # the example needs the key's own value here
                assert _same(a, parse(given, folder)), key.path
                compared = True
                break
            if compared:
                break
        assert compared, f"no example can drop {key.path}"


def test_restart_ladders_default_to_none_and_policies_take_an_assay(folder):
    # defaults of tables (an empty ladder) and the one default under a variant
    data = tomllib.loads(EXAMPLES[0])
    assert parse(data, folder).schedule.holds[1].restart == ()
    data = tomllib.loads(EXAMPLES[1])
    del data["policy"][0]["assay"]
    assert parse(data, folder).policies[0].assay is schema.key("policy[].assay").default


def test_shipped_scenarios_use_only_schema_keys():
    files = sorted((ROOT / "scenarios").glob("*.toml"))
    assert len(files) >= 10
    for path in files:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        sweep = data.pop("sweep", {})  # a sweep file's own table, read by imapk.sweep
        unknown = [where for p, where in walk(data) if p is None]
        unknown += [("sweep",) + where for p, where in walk(sweep, "sweep") if p is None]
        assert unknown == [], path.name


def test_sweep_keys_are_the_sweep_readers(tmp_path):
    from imapk.sweep import DEFAULT_SUBJECTS_PER_CHUNK, load_sweep

    assert schema.key("sweep.subjects_per_chunk").default == DEFAULT_SUBJECTS_PER_CHUNK
    base = (ROOT / "scenarios" / "sweep-hold-and-restart.toml").read_text(encoding="utf-8")
    for table, insert in (("sweep", "[sweep]\n"), ("sweep.axes[]", "[[sweep.axes]]\n")):
        path = tmp_path / "s.toml"
        path.write_text(base.replace(insert, insert + "colour = 1\n", 1), encoding="utf-8")
        with pytest.raises(ImapkError, match="colour: unknown key") as info:
            load_sweep(path)
        accepted = re.search(r"expected one of: (.*)\)$", str(info.value)).group(1).split(", ")
        assert sorted(accepted) == sorted(schema.keys(table))


# ---------------------------------------------------------------- the rendered reference


def _rendered_tables(text: str) -> list[list[str]]:
    """The key column of every keys table (header `| key | value |`), in order."""
    tables, current = [], None
    for line in text.splitlines():
        if line.startswith("| key | value |"):
            current = []
            tables.append(current)
        elif current is not None and line.startswith("| `"):
            current.append(line.split("`")[1])
        elif current is not None and not line.startswith("|"):
            current = None
    return tables


def test_the_reference_lists_exactly_the_schemas_keys():
    text = schema.reference_markdown()
    expected = [[k.name for k in schema.KEYS if k.parent == table] for table in schema.sections()]
    expected += [[k.name for k in schema.SWEEP_KEYS if k.parent == table] for table in ("sweep", "sweep.axes[]")]
    assert _rendered_tables(text) == expected
    rendered = sum(len(t) for t in expected)
    assert rendered == len(schema.KEYS) + len(schema.SWEEP_KEYS)
    for spec in COVARIATES.values():
        assert f"| `{spec.name}` | {spec.description} |" in text


def test_the_reference_rows_show_unit_default_and_choices():
    text = schema.reference_markdown()
    assert ('| `interval` | quantity (time) | h | `"24 h"` | > 0, <= 168 h | Time between administrations |'
            in text)
    assert '| `kind` | one of | - | `"trough_target"` | `"trough_target"`, `"trough_ceiling"`' in text
    assert "### `[[schedule.phases]]`" in text and "### `[population]`" in text


def test_the_references_are_deterministic():
    first = schema.reference_markdown(), schema.dataset_reference_markdown()
    assert first == (schema.reference_markdown(), schema.dataset_reference_markdown())
    code = ("import sys; from imapk import scenario_schema as s; "
            "sys.stdout.write(s.reference_markdown() + s.dataset_reference_markdown())")
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={"PYTHONHASHSEED": seed, "PATH": ""}, encoding="utf-8")
        assert out.stdout == first[0] + first[1]


# ---------------------------------------------------------------- data set columns


def test_dataset_columns_are_the_readers():
    assert STANDARD_COLUMNS == {c.name: c.unit for c in COLUMNS}
    assert [c.name for c in COLUMNS if c.required] == ["ID", "TIME"]
    text = schema.dataset_reference_markdown()
    rows = [line.split("`")[1] for line in text.splitlines() if line.startswith("| `")]
    assert rows == [c.name for c in COLUMNS] + list(COVARIATES)


@pytest.mark.parametrize("column, cell, problem", [
    ("EVID", "5", "unknown EVID code"), ("SS", "3", "unknown SS code"), ("CMT", "3", "unknown CMT code"),
    ("MDV", "2", "unknown MDV code"), ("BLQ", "2", "unknown BLQ code"), ("ADDL", "1.5", "not a whole number"),
])
def test_dataset_codes_in_the_table_are_enforced(tmp_path, column, cell, problem):
    from imapk.datasets import read_dataset

    codes = next(c for c in COLUMNS if c.name == column).codes
    assert codes == () or int(float(cell)) not in codes
    header = ["ID", "TIME", "AMT", "EVID", column] if column not in ("EVID",) else ["ID", "TIME", "AMT", "EVID"]
    values = {"ID": "1", "TIME": "0", "AMT": "400", "EVID": "1", column: cell}
    path = tmp_path / "d.csv"
    path.write_text(",".join(header) + "\n" + ",".join(values[h] for h in header) + "\n", encoding="utf-8")
    with pytest.raises(ImapkError, match=rf"row 2, column {column}: {problem}"):
        read_dataset(path)


def test_a_dataset_without_a_required_column_is_refused(tmp_path):
    from imapk.datasets import read_dataset

    path = tmp_path / "d.csv"
    path.write_text("ID,AMT\n1,400\n", encoding="utf-8")
    with pytest.raises(ImapkError, match="the data set has no TIME column"):
        read_dataset(path)


def test_the_reader_points_to_the_column_table():
    import imapk.datasets
    import imapk.scenario

    assert "imapk.dataset_schema" in imapk.datasets.__doc__
    for column in COLUMNS:
        assert column.name in imapk.datasets.__doc__
    assert "imapk.scenario_schema" in imapk.scenario.__doc__


def test_documented_bounds_are_enforced(folder):
    from imapk.engine import MIN_ATOL, MIN_RTOL

    assert schema.key("solver.rtol").allowed == f"{MIN_RTOL:g} <= rtol < 1"
    assert schema.key("solver.atol").allowed == f">= {MIN_ATOL:g} mg"
    data = tomllib.loads(EXAMPLES[3])
    phase = data["schedule"]["phases"][0]
    for dose, ok in ((f"{schema.MAX_PLAUSIBLE_DOSE_MG:g} mg", True), (f"{schema.MAX_PLAUSIBLE_DOSE_MG + 1:g} mg", False)):
        phase["dose"] = dose
        if ok:
            parse(data, folder)
        else:
            with pytest.raises(ImapkError, match=r"schedule\.phases\[0\]\.dose: implausible imatinib dose"):
                parse(data, folder)
    phase["dose"] = "400 mg"
    for interval, ok in ((f"{schema.MAX_PLAUSIBLE_INTERVAL_H:g} h", True), (f"{schema.MAX_PLAUSIBLE_INTERVAL_H + 1:g} h", False)):
        phase["interval"], phase["days"] = interval, 63
        if ok:
            parse(data, folder)
        else:
            with pytest.raises(ImapkError, match=r"schedule\.phases\[0\]\.interval: implausible dosing interval"):
                parse(data, folder)


def test_the_documented_addl_limit_is_enforced(tmp_path):
    from imapk.datasets import read_dataset

    assert f"at most {MAX_ADDL}" in next(c for c in COLUMNS if c.name == "ADDL").meaning
    path = tmp_path / "d.csv"
    for addl, ok in ((MAX_ADDL, True), (MAX_ADDL + 1, False)):
        path.write_text(f"ID,TIME,AMT,II,ADDL\n1,0,400,24,{addl}\n", encoding="utf-8")
        if ok:
            assert read_dataset(path).subjects[0].addl[0] == MAX_ADDL
        else:
            with pytest.raises(ImapkError, match="row 2, column ADDL: too many additional doses"):
                read_dataset(path)
