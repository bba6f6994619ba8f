"""`imapk selftest`: passes on this installation, fails naming the case when a reference is perturbed,
writes its HTML report atomically and refuses a bad output path before any work."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import imapk.selftest as selftest
from imapk.cli import main
from imapk.selftest import cases as registry
from imapk.selftest.report import format_html, format_text

#: A relative change of a reference that every exact case must detect (its tolerance is 1e-9 or tighter).
PERTURBATION = 1e-6
PERTURBED = "superposition.case_report_troughs_tlag_0h"


def run_cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["selftest", *argv])
    return status, out.getvalue(), err.getvalue()


def perturbed(case, relative=PERTURBATION):
    """The case with its reference moved by `relative` (the imapk side untouched)."""
    original = case.expected
    return dataclasses.replace(case, expected=lambda: np.asarray(original(), dtype=float) * (1.0 + relative))


@pytest.fixture(scope="module")
def passing_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("selftest") / "report.html"
    status, out, err = run_cli("-o", str(path), "--format", "json")
    return status, json.loads(out), err, path


def test_selftest__passes_on_this_install(passing_run):
    status, summary, err, path = passing_run
    assert status == 0, err
    assert summary["passed"] is True and summary["failed"] == []
    names = [case.name for case in registry.CASES]
    assert len(names) == len(set(names)) == summary["cases"] >= 50
    assert [r["name"] for r in summary["results"]] == names
    page = path.read_text(encoding="utf-8")
    for name in names:  # every case named in the report, with its reference and tolerance
        assert f"<code>{name}</code>" in page
    assert page.count('<tr class="pass">') == len(names) and 'class="fail"' not in page
    for key in ("imapk", "python", "numpy", "scipy", "numba", "xarray", "platform"):
        assert summary["versions"][key]
        assert f"<th>{key}</th>" in page
    assert "<script" not in page and "http" not in page  # self-contained: no external assets
    # Every case says what it checks, against what, and why its tolerance.
    for result in summary["results"]:
        assert result["checks"] and result["reference"] and result["tolerance"]["why"]
        assert result["error_over_tolerance"] <= 1.0


def test_selftest__covers_every_kind_and_model():
    from imapk.models import MODELS

    kinds = {case.kind for case in registry.CASES}
    assert kinds == {"superposition", "property", "verdict", "solve_ivp", "two_compartment", "nonmem", "typical_values",
                     "typical_trough", "published"}
    names = {case.name for case in registry.CASES}
    for model in MODELS:
        assert f"typical_values.{model}" in names
    assert {"nonmem.addl_ii", "nonmem.ss1_steady_state_dose", "nonmem.evid3_reset_and_evid4_reset_dose",
            "nonmem.rate_infusion_into_central"} <= names


def test_selftest__perturbed_reference_fails_naming_the_case(monkeypatch, tmp_path):
    cases = tuple(perturbed(case) if case.name == PERTURBED else case for case in registry.CASES)
    monkeypatch.setattr(registry, "CASES", cases)
    path = tmp_path / "report.html"
    status, out, err = run_cli("-o", str(path))
    assert status == 4
    assert err.strip() == f"imapk: selftest FAILED: {PERTURBED}"
    assert f"FAIL {PERTURBED}" in out and "1 FAILED" in out
    assert out.count("FAIL ") == 1
    page = path.read_text(encoding="utf-8")
    # The failing case comes first and is highlighted.
    first_row = page.index("<tbody>") + len("<tbody>")
    assert page[first_row:].startswith('<tr class="fail">')
    assert page.index(f"<code>{PERTURBED}</code>") < page.index('<tr class="pass">')
    assert "FAILED" in page[:page.index("<table")]


@pytest.mark.parametrize("case", [c for c in registry.CASES if c.rtol and c.rtol < PERTURBATION / 10],
                         ids=lambda c: c.name)
def test_selftest__each_tight_case_detects_a_1e6_relative_change(case):
    """Each case with a relative tolerance fails when its reference moves by 1e-6 relative (a wrong
    formula, dose or parameter gives 1e-3 or more), and passes unperturbed."""
    assert selftest.compare(case).passed
    result = selftest.compare(perturbed(case))
    assert not result.passed and result.error is None
    assert result.ratio > 1.0


def test_selftest__a_case_that_raises_fails_with_its_error():
    def broken():
        raise RuntimeError("reference unavailable")

    case = dataclasses.replace(registry.CASES[0], expected=broken)
    report = selftest.run_selftest([case, registry.CASES[1]])
    assert [r.case.name for r in report.failed] == [case.name]
    assert "RuntimeError: reference unavailable" in report.failed[0].error
    assert f"FAIL {case.name}: RuntimeError: reference unavailable" in format_text(report)
    assert "reference unavailable" in format_html(report)


def test_selftest__shape_mismatch_and_nan_fail():
    base = registry.CASES[0]
    assert not selftest.compare(dataclasses.replace(base, expected=lambda: np.zeros(3))).passed
    nan = dataclasses.replace(base, observed=lambda: np.array([np.nan]), expected=lambda: np.array([1.0]))
    assert not selftest.compare(nan).passed


@pytest.mark.parametrize("output, message", [
    ("missing-folder/report.html", "the report folder does not exist"),
    ("report.txt", "report file must be HTML"),
    (".", "names an existing folder"),
])
def test_selftest__bad_output_path_refused_before_any_work(output, message, monkeypatch, tmp_path):
    ran = []
    monkeypatch.setattr(selftest, "run_selftest", lambda *a, **k: ran.append(1))
    monkeypatch.chdir(tmp_path)
    if output == ".":
        (tmp_path / "folder.html").mkdir()
        output = "folder.html"
    status, out, err = run_cli("-o", output)
    assert status == 2
    assert message in err and err.startswith("imapk: error: ")
    assert ran == [] and out == ""


def test_selftest__html_written_atomically(monkeypatch, tmp_path):
    report = selftest.run_selftest(registry.CASES[:2])
    from imapk.errors import OutputError
    from imapk.selftest.report import write_html

    path = tmp_path / "report.html"
    write_html(report, str(path))
    assert path.read_text(encoding="utf-8") == format_html(report)
    assert sorted(os.listdir(tmp_path)) == ["report.html"]  # no temporary file left

    # A full disk while renaming: one error line, the old report untouched, no partial file left.
    def full(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full)
    path.write_text("old report", encoding="utf-8")
    with pytest.raises(OutputError, match="no space left on"):
        write_html(report, str(path))
    assert path.read_text(encoding="utf-8") == "old report"
    assert sorted(os.listdir(tmp_path)) == ["report.html"]


def test_selftest__not_imported_by_import_imapk():
    code = "import sys, imapk, imapk.cli; print('imapk.selftest' in sys.modules, 'scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_selftest__prewarm_helper_announces_every_warm_key():
    """The helper process compiles the kernels the `warm` cases wait for, and says so for each key."""
    code = "from imapk.selftest.cases import prewarm; prewarm()"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    announced = out.split()
    assert announced == ["ode_linear", "linear"]
    assert {case.warm for case in registry.CASES if case.warm} == set(announced)
