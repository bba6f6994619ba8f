"""Fuzzing the scenario reader with mutated versions of the case-report scenario (hypothesis).

The valid ``scenarios/gist-rash-case-report.toml`` is read with tomllib into a dict and mutated:
required keys deleted, unknown keys added, values replaced with wrong types, negative, zero, NaN,
infinite or huge numbers, unit slips ("400 g", "400 h", "14 h" for a days key), unknown parameter
sets or thresholds, overlapping or out-of-range holds. The dict is written back to TOML with the
small serialiser below (tomli_w is not a dependency), and raw broken TOML is fed in as well.

The contract checked: every input either parses and runs, giving finite non-negative troughs, or
raises an :class:`imapk.ImapkError` whose message is one line starting with the file name. The CLI
(``imapk validate``) exits with 0 or 2 on such files and never prints a traceback.

Run length: a few hundred examples in total by default (well under 20 s). Set
``IMAPK_LONG_TESTS=1`` for the long run, 10 000 examples in total::

    IMAPK_LONG_TESTS=1 PYTHONPATH=src python -m pytest tests/test_fuzz_scenarios.py
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import os
import tempfile
import tomllib
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import imapk  # noqa: E402
from imapk.cli import main as cli_main  # noqa: E402
from imapk.scenario import parse_scenario  # noqa: E402

LONG = os.environ.get("IMAPK_LONG_TESTS") == "1"
SOURCE = "fuzz.toml"
CASE_REPORT = Path(__file__).resolve().parents[1] / "scenarios" / "gist-rash-case-report.toml"
BASE_TEXT = CASE_REPORT.read_text(encoding="utf-8")
BASE = tomllib.loads(BASE_TEXT)

# Share of the examples per test (default total 300, long total 10 000).
_SHARES = {"dict": 0.6, "raw": 0.25, "cli": 0.05, "holds": 0.1}


def _settings(kind: str):
    total = 10_000 if LONG else 300
    return settings(
        deadline=None,
        max_examples=max(5, int(total * _SHARES[kind])),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# ---------------------------------------------------------------------------------------------
# A tiny TOML writer for the shapes of a scenario: top-level tables whose values are scalars,
# arrays, nested (inline) tables and arrays of tables.


def _key(name: str) -> str:
    return _string(name)


def _string(text: str) -> str:
    out = []
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dumps(data: dict) -> str:
    """TOML text of `data`: top-level scalars first, then one [table] per top-level dict."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for name, table in data.items():
        if isinstance(table, dict):
            lines.append(f"[{_key(name)}]")
            lines.extend(f"{_key(k)} = {_value(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"


def test_serialiser_round_trips_the_case_report():
    assert tomllib.loads(dumps(BASE)) == BASE
    odd = {"a": {"s": 'q"\\\n\x01é', "n": float("nan"), "i": -float("inf"), "l": [{"x": 1}], "t": {"u": True}}}
    back = tomllib.loads(dumps(odd))
    assert back["a"]["s"] == odd["a"]["s"] and math.isnan(back["a"]["n"]) and back["a"]["l"] == [{"x": 1}]


# ---------------------------------------------------------------------------------------------
# Mutations


def _paths(node, prefix=()):
    """Every (path to a container, key or index) in the document."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            out.append((prefix, k))
            out.extend(_paths(v, prefix + (k,)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.append((prefix, i))
            out.extend(_paths(v, prefix + (i,)))
    return out


def _containers(node, prefix=()):
    """Paths of every table in the document (including the root)."""
    out = [prefix] if isinstance(node, dict) else []
    if isinstance(node, (dict, list)):
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for k, v in items:
            out.extend(_containers(v, prefix + (k,)))
    return out


def _at(doc, path):
    for part in path:
        doc = doc[part]
    return doc


BAD_NUMBERS = [
    -1, 0, -0.0, -400, 0.5, 1e-300, float("nan"), float("inf"), -float("inf"), 1e308, 10**18, 10**15, 2**63 - 1,
    1e7, 3.5, 400, 10_000_000,
]
BAD_STRINGS = [
    "400 g", "400 h", "14 h", "14 d", "400", "mg", "", " ", "-400 mg", "0 mg", "nan mg", "inf h", "1e400 mg",
    "400 mg/d", "400mg", "4e2 mg", "0.4 g", "1 min", "0 h", "-24 h", "1e-9 h", "1e9 d", "24 d", "100 kg", "2 L",
    "widmer2006", "no-such-model", "all", "inline", "gist", "no_such_threshold", "exact", "ode", "running",
    "paused", "normal", "\u00e9", "\x00", "a\nb",
]
ODD_VALUES = st.one_of(
    st.sampled_from(BAD_NUMBERS),
    st.sampled_from(BAD_STRINGS),
    st.booleans(),
    st.just([]),
    st.just({}),
    st.lists(st.sampled_from(BAD_STRINGS + [1, 2.5, True]), max_size=3),
    st.dictionaries(st.sampled_from(["dose", "days", "x"]), st.sampled_from(["200 mg", 7, -1, "7 h"]), max_size=2),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
KEY_NAMES = st.one_of(
    st.sampled_from(
        [
            "title", "dose", "days", "doses", "interval", "start_day", "restart", "label", "thresholds", "cl", "v",
            "ka", "d1", "f", "tlag", "parameters", "size", "seed", "iiv", "dense_step", "dense", "missed_days",
            "missed_doses", "steady_state", "window_end_day", "method", "rtol", "therapy_clock", "custom", "value",
            "unknown_key", "Dose", "dose ", "sweep",
        ]
    ),
    st.text(min_size=1, max_size=8),
)
# Known sections with values that must be validated (unknown sections are tried via KEY_NAMES).
EXTRA_SECTIONS = st.sampled_from(
    [
        ("model", "parameters", {"cl": "-1 L/h"}),
        ("model", "parameters", {"ka": "0 1/h"}),
        ("model", "parameters", {"v": "347 mg"}),
        ("model", "parameters", {"cl": "14.3 L/h", "v": "347 L", "ka": "0.6 1/h", "d1": "2 h"}),
        ("model", "parameters", {"f": float("nan")}),
        ("model", "parameters", {"tlag": "-1 h"}),
        ("model", "parameter_set", "inline"),
        ("model", "parameter_set", ["widmer2006", "widmer2006"]),
        ("model", "parameter_set", []),
        ("verdict", "thresholds", ["no_such_threshold"]),
        ("verdict", "window_end_day", 1000),
        ("verdict", "window_start_day", 366),
        ("verdict", "window_start_day", 0),
        ("verdict", "custom", [{"name": "x", "value": "-1 ng/mL"}]),
        ("verdict", "custom", [{"value": "1000 ng/mL"}]),
        ("verdict", "custom", [{"name": "x", "value": "1000 ng/mL", "kind": "trough_ceiling"}]),
        ("verdict", "custom", [{"name": "x", "value": "1000 ng/mL", "kind": "concentration_ceiling"}]),
        ("verdict", "custom", [{"name": "x", "value": "1000 ng/mL", "kind": "target"}]),
        ("verdict", "custom", [{"name": "x", "value": "1000 ng/mL", "kind": "peak"}]),
        ("verdict", "custom", [{"name": "x", "value": "1000 ng/mL", "kind": 3}]),
        ("population", "residual_error", True),
        ("population", "quantification_limit", "50 ng/mL"),
        ("population", "quantification_limit", "-1 ng/mL"),
        ("population", "quantification_limit", "50 mg"),
        ("solver", "method", "rk4"),
        ("solver", "rtol", -1.0),
        ("solver", "atol", "1e-8 h"),
        ("schedule", "missed_days", [400]),
        ("schedule", "missed_days", [30]),
        ("schedule", "missed_doses", [-1]),
        ("schedule", "missed_doses", [10**18]),
        ("schedule", "therapy_clock", "stopped"),
        ("schedule", "steady_state", {"dose": ["400 mg", "200 mg"]}),
        ("schedule", "steady_state", {"dose": "400 mg", "interval": "0 h"}),
        ("output", "dense_step", "0 h"),
        ("output", "dense_step", "1e-6 h"),
        ("output", "dense_step", "1 mg"),
        ("population", "size", 0),
        ("population", "size", -3),
        ("population", "seed", -1),
        ("population", "iov_cl", float("inf")),
        ("population", "covariates", {"weight": "70 h"}),
        ("population", "covariates", {"weight": {"distribution": "normal", "mean": "70 kg", "sd": "-1 kg"}}),
        ("population", "covariates", {"no_such_covariate": "1"}),
        ("scenario", "seed", -1),
    ]
)


@st.composite
def mutated(draw, base=BASE):
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["delete", "add", "replace", "replace", "section", "hold"]))
        if op == "delete":
            paths = _paths(doc)
            if not paths:
                continue
            parent, key = draw(st.sampled_from(paths))
            del _at(doc, parent)[key]
        elif op == "add":
            parent = draw(st.sampled_from(_containers(doc)))
            _at(doc, parent)[draw(KEY_NAMES)] = copy.deepcopy(draw(ODD_VALUES))
        elif op == "replace":
            paths = _paths(doc)
            if not paths:
                continue
            parent, key = draw(st.sampled_from(paths))
            _at(doc, parent)[key] = copy.deepcopy(draw(ODD_VALUES))
        elif op == "section":
            section, key, value = draw(EXTRA_SECTIONS)
            table = doc.setdefault(section, {})
            if not isinstance(table, dict):
                continue
            table[key] = copy.deepcopy(value)
        else:
            schedule = doc.setdefault("schedule", {})
            if not isinstance(schedule, dict):
                continue
            holds = schedule.setdefault("holds", [])
            if not isinstance(holds, list):
                continue
            hold = {"start_day": draw(st.integers(-2, 400)), "days": draw(st.integers(0, 400) | st.floats(-1, 400))}
            if draw(st.booleans()):
                hold["restart"] = [{"dose": draw(st.sampled_from(["200 mg", "300 mg", "3000 mg"])), "days": draw(st.integers(-1, 400))}]
            holds.append(hold)
    return doc


#: Outcomes of every fuzzed input of this module: "ran", or the error's (key, problem) and full message.
OUTCOMES: list = []


@pytest.fixture(scope="module", autouse=True)
def fuzz_tally(request):
    """After the module: how many inputs ran or were refused, and how many distinct messages (shown with -s)."""
    yield
    refused = [o for o in OUTCOMES if o != "ran"]
    line = (
        f"fuzzed scenarios: {len(OUTCOMES)} inputs, {len(OUTCOMES) - len(refused)} ran, {len(refused)} refused "
        f"with {len({o[1] for o in refused})} distinct messages ({len({o[0] for o in refused})} distinct key + problem)"
    )
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line)


def _check_outcome(text: str) -> None:
    """Parse and run `text`: a Dataset with finite non-negative troughs, or a one-line ImapkError."""
    try:
        scenario = parse_scenario(text, SOURCE)
        ds = imapk.run_scenario(scenario)
    except imapk.ImapkError as error:
        message = str(error)
        OUTCOMES.append(((error.key, error.problem), message))
        assert message.startswith(SOURCE), message
        assert "\n" not in message and "\r" not in message, message
        return
    OUTCOMES.append("ran")
    trough = ds["trough"].values
    assert trough.size and np.all(np.isfinite(trough)) and np.all(trough >= 0.0)


# The dense grid of the full case report (8760 points) is not what is fuzzed: keep it coarse.
_FAST_BASE = copy.deepcopy(BASE)
_FAST_BASE["output"]["dense_step"] = "24 h"


@_settings("dict")
@given(doc=mutated(_FAST_BASE))
def test_mutated_scenarios_run_or_fail_cleanly(doc):
    _check_outcome(dumps(doc))


# A population with every random dosing section (misses, late doses, rash holds, a dose cap, TDM):
# their keys, values and combinations are mutated like the rest.
_PROCESS_BASE = tomllib.loads("""
[scenario]
title = "random dosing"
seed = 7
[model]
parameter_set = "widmer2006"
[population]
size = 12
residual_error = true
[[schedule.phases]]
dose = "400 mg"
days = 60
[adherence]
model = "markov"
p_remain_adherent = 0.9
p_become_adherent = 0.5
start = "stationary"
late = { probability = 0.2, low = "1 h", high = "6 h" }
[[toxicity]]
label = "rash"
first = { probability = 0.5, by_day = 60, shape = 1.0 }
recurrence = { scale = "30 d" }
hold = { low = "3 d", high = "9 d" }
restart = [ { dose = "200 mg", days = 7 }, { dose = "300 mg", days = 7 } ]
discontinue_after = 3
[[policy]]
kind = "dose_cap"
after_events = 2
dose = "300 mg"
[[policy]]
kind = "trough_escalation"
day = 29
below = "gist"
dose = "600 mg"
[verdict]
thresholds = ["gist"]
[output]
dense = false
""")


def test_the_random_dosing_base_runs():
    _check_outcome(dumps(_PROCESS_BASE))
    assert OUTCOMES[-1] == "ran"


@_settings("dict")
@given(doc=mutated(_PROCESS_BASE))
def test_mutated_random_dosing_scenarios_run_or_fail_cleanly(doc):
    _check_outcome(dumps(doc))


@st.composite
def broken_text(draw):
    text = BASE_TEXT
    kind = draw(st.sampled_from(["truncate", "delete", "insert", "replace_line", "garbage"]))
    if kind == "truncate":
        return text[: draw(st.integers(0, len(text)))]
    if kind == "delete":
        i = draw(st.integers(0, len(text) - 1))
        return text[:i] + text[i + draw(st.integers(1, 40)) :]
    if kind == "insert":
        i = draw(st.integers(0, len(text)))
        junk = draw(st.sampled_from(["[", "]", "=", '"', "[[schedule.phases]]\n", "\n[model]\n", "{", "'''", "\x00", "é"]) | st.text(max_size=10))
        return text[:i] + junk + text[i:]
    if kind == "replace_line":
        lines = text.splitlines()
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = draw(st.text(max_size=30))
        return "\n".join(lines)
    return draw(st.text(max_size=200))


@_settings("raw")
@given(text=broken_text())
def test_broken_toml_fails_cleanly(text):
    _check_outcome(text.replace("dense_step = \"1 h\"", "dense_step = \"24 h\""))


@_settings("holds")
@given(
    holds=st.lists(
        st.fixed_dictionaries(
            {"start_day": st.integers(-1, 380), "days": st.integers(-1, 60) | st.sampled_from([0.5, 1e6, 1e308, float("nan")])}
        ),
        min_size=1,
        max_size=4,
    )
)
def test_overlapping_and_out_of_range_holds(holds):
    doc = copy.deepcopy(_FAST_BASE)
    doc["schedule"]["holds"] = holds
    _check_outcome(dumps(doc))


def test_known_mutations_give_one_line_errors():
    """A few deliberate mistakes, each refused with a located one-line message."""
    cases = [
        (("model", "parameter_set"), "no-such-model", "model.parameter_set"),
        (("schedule", "phases", 0, "dose"), "400 g", "schedule.phases[0].dose"),
        (("schedule", "phases", 0, "dose"), "400 h", "schedule.phases[0].dose"),
        (("schedule", "phases", 0, "days"), "14 h", "schedule.phases[0].days"),
        (("schedule", "holds", 0, "start_day"), 400, "schedule.holds[0]"),
        (("verdict", "thresholds"), ["no_such_threshold"], "verdict.thresholds"),
        (("verdict", "custom"), [{"name": "x", "value": "1 mg/L", "kind": "peak"}], "verdict.custom[0].kind"),
    ]
    for path, value, key in cases:
        doc = copy.deepcopy(_FAST_BASE)
        _at(doc, path[:-1])[path[-1]] = value
        with pytest.raises(imapk.ImapkError) as info:
            imapk.run_scenario(parse_scenario(dumps(doc), SOURCE))
        message = str(info.value)
        assert message.startswith(f"{SOURCE}: {key}") and "\n" not in message, message
    doc = copy.deepcopy(_FAST_BASE)
    del doc["scenario"]["title"]
    with pytest.raises(imapk.ImapkError, match=r"^fuzz\.toml: scenario\.title: required key is missing"):
        parse_scenario(dumps(doc), SOURCE)


def test_hold_starting_at_the_restart_dose():
    """A hold that starts on the restart dose of the previous one (found by fuzzing: it used to crash
    in the recovery search): the first hold has no trough to recover in, so its recovery day is NaN."""
    doc = copy.deepcopy(_FAST_BASE)
    doc["schedule"]["holds"] = [{"start_day": 7, "days": 7}, {"start_day": 14, "days": 7}]
    ds = imapk.run_scenario(parse_scenario(dumps(doc), SOURCE))
    assert np.all(np.isfinite(ds["trough"].values))
    assert np.all(np.isnan(ds["recovery_day"].values[:, :, 0]))


@_settings("cli")
@given(doc=mutated(_FAST_BASE))
def test_cli_validate_exit_codes(doc):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.toml"
        path.write_text(dumps(doc), encoding="utf-8")
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli_main(["validate", str(path)])
    stderr = err.getvalue()
    assert code in (0, 2), stderr
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    if code == 2:
        assert stderr.startswith(f"imapk: error: {path}") and stderr.count("\n") == 1, stderr
