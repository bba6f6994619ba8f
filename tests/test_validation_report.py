"""The validation report (`validation/steady_state_troughs.py` -> `docs/validation.md`) covers every
registered model: the committed report lists each one (adding a model without regenerating it fails
here), and the script, run on a small population, names every model it ran in every section.

The generated report is built from the models on the exact path only: the ODE model
(`eechoute2012`) would add the compilation of the ODE kernels (about 20 s on a cold numba cache)
to a check of the report's structure; it is covered by the committed report.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from imapk.models import MODELS

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "validation" / "steady_state_troughs.py"
REPORT = ROOT / "docs" / "validation.md"
N = 50
REGENERATE = "regenerate it: PYTHONPATH=src python validation/steady_state_troughs.py"


@pytest.fixture(scope="module")
def script():
    name = "steady_state_troughs"
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def exact_models(script):
    return [m for m in MODELS.values() if script.method_of(m) == "exact"]


@pytest.fixture(scope="module")
def generated(script, exact_models):
    report = script.collect(N, script.SEED, exact_models)
    return report, script.render(report, N, script.SEED)


def _section(text: str, heading: str) -> str:
    """The text under a heading, up to the next heading of any level."""
    match = re.search(rf"^#+ {re.escape(heading)}.*?$(.*?)(?=^#)", text, re.M | re.S)
    assert match is not None, f"no section {heading!r}"
    return match.group(1)


def _rows(section: str) -> set[str]:
    """Model names that start a table row of a section."""
    return set(re.findall(r"^\| `([A-Za-z0-9_]+)[` ]", section, re.M))


def test_validation_report__committed_report_lists_every_registered_model(script):
    text = REPORT.read_text(encoding="utf-8")
    missing = sorted(set(MODELS) - script.listed_models(text))
    assert not missing, f"docs/validation.md has no row for {missing}; {REGENERATE}"
    for name in MODELS:
        assert re.search(rf"^### `{re.escape(name)}[` ]", text, re.M), f"no section for {name}; {REGENERATE}"
    assert f"{len(MODELS)} of the {len(MODELS)} models in the registry" in text, REGENERATE


def test_validation_report__planned_runs_cover_every_registered_model(script):
    planned = script.planned_runs(MODELS.values())
    assert {model.name for model, _ in planned} == set(MODELS)
    with_disease = [m for m in MODELS.values() if "disease" in m.covariates]
    assert len(planned) == len(MODELS) + sum(len(script.model_diseases(m)) - 1 for m in with_disease)


def test_validation_report__generated_report_names_every_model_run(script, exact_models, generated):
    report, text = generated
    names = {m.name for m in exact_models}
    assert script.listed_models(text) == names
    assert _rows(_section(text, "With each model's residual error")) == names
    assert _rows(_section(text, "Match table")) == names
    for name in names:
        assert re.search(rf"^### `{re.escape(name)}[` ]", text, re.M), name
    occasion = {m.name for m in exact_models if m.occasion_days}
    assert occasion and _rows(_section(text, "Occasion effects")) == occasion
    variants = {m.name for m in exact_models if m.variant_of}
    assert variants and _rows(_section(text, "Variants against their main model")) == variants
    for m in exact_models:
        if m.variant_of:
            assert f"`{m.name}` (variant of `{m.variant_of}`)" in text


def test_validation_report__header_counts_the_registry(script, exact_models, generated):
    _, text = generated
    header = text.split("## What is simulated")[0]
    assert f"{len(exact_models)} of the {len(MODELS)} models in the registry" in header
    assert f"{N:,} subjects per model" in header
    assert f"seed {script.SEED}" in header
    assert f"imapk {script.__version__}" in header


def test_validation_report__assay_values_unclipped_in_published_form(generated):
    report, text = generated
    assert "clipped at 0" not in text
    for run in report.runs:
        assert np.array_equal(run.censored, run.trough_observed < 0.0)
        assert run.model.residual.describe() in text
    judson = next(r for r in report.runs if r.model.name == "judson2005")
    assert judson.censored.any()  # an additive SD of 273 ng/mL: some assay values fall below 0
    assert np.percentile(judson.trough_observed, 5) < 0.0  # not the clipped 0 of old
