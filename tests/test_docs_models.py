"""The model library and validation pages of the documentation site, generated from the registry
(``docs/_generators/models.py`` and ``validation.py``, called directly: no Sphinx needed).

Independent references: the typical trough of every model is recomputed here with
:func:`imapk.model_summary.typical_trough` and, for the one-compartment models with constant rates,
with the closed-form steady-state trough of the one-compartment model (superposition of an infinite
dose train, written out below from the textbook formulas, not from imapk's engine); the units are the
textbook units of each parameter, written out here.
"""

from __future__ import annotations

import importlib.util
import math
import re
import sys
from pathlib import Path

import pytest

from imapk.covariates import REFERENCE_SUBJECT
from imapk.model_summary import typical_trough
from imapk.models import MODELS, PopulationModel

ROOT = Path(__file__).resolve().parents[1]
GENERATORS = ROOT / "docs" / "_generators"
#: The unit of each PK parameter (textbook units, mg doses and ng/mL = ug/L concentrations).
UNITS = {"cl": "L/h", "v": "L", "ka": "1/h", "d1": "h", "f": "1", "tlag": "h", "q": "L/h", "vp": "L", "ktr": "1/h"}
DOSE_MG, TAU_H = 400.0, 24.0


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"imapk_docs_test_{name}", GENERATORS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator():
    return _load("models")


@pytest.fixture(scope="module")
def library(generator, tmp_path_factory):
    """The generated pages: (index text, {model name: page text})."""
    srcdir = tmp_path_factory.mktemp("site")
    generator.write(srcdir)
    pages = {path.stem: path.read_text(encoding="utf-8") for path in (srcdir / "models").glob("*.md")}
    return pages.pop("index"), pages


def closed_form_trough(model: PopulationModel) -> float | None:
    """Steady-state trough [ng/mL] at 400 mg q24h of a one-compartment model with constant rates, from
    the superposition of an infinite train of doses (Gibaldi & Perrier, Pharmacokinetics, 2nd ed.,
    ch. 3): first-order input F D ka / (V (ka - k)) (e^{-k t}/(1 - e^{-k tau}) - e^{-ka t}/(1 - e^{-ka tau}));
    zero-order input over D1: F D / (D1 CL) (1 - e^{-k D1}) e^{-k (t - D1)} / (1 - e^{-k tau}); t = tau - tlag.
    None for other structures."""
    tv = model.time_variation
    if not (tv.ka.constant and tv.cl.constant and tv.f.constant) or model.n_transit:
        return None
    p = model.typical_params(REFERENCE_SUBJECT, len(model.occasion_days))  # the plateau: last occasion
    if p.q is not None:
        return None
    k, t = p.cl / p.v, TAU_H - p.tlag
    if p.ka is not None:
        mg_per_l = p.f * DOSE_MG * p.ka / (p.v * (p.ka - k)) * (
            math.exp(-k * t) / -math.expm1(-k * TAU_H) - math.exp(-p.ka * t) / -math.expm1(-p.ka * TAU_H)
        )
    else:
        mg_per_l = p.f * DOSE_MG / (p.d1 * p.cl) * -math.expm1(-k * p.d1) * math.exp(-k * (t - p.d1)) / -math.expm1(-k * TAU_H)
    return mg_per_l * 1000.0  # mg/L -> ng/mL


def _page_trough(page: str) -> float:
    match = re.search(r"Typical steady-state trough at 400 mg every 24 h: \*\*([0-9.]+) ng/mL\*\*", page)
    assert match, "the page states no typical trough"
    return float(match.group(1))


def _row(page: str, name: str) -> list[str]:
    """Cells of the parameter table row of `name` (split on unescaped pipes)."""
    match = re.search(rf"^\| `{name}` \|.*$", page, re.M)
    assert match, f"no parameter row for {name}"
    return [c.strip() for c in re.split(r"(?<!\\)\|", match.group(0))[1:-1]]


def test_docs_models__every_model_has_a_page_and_one_index_row(library):
    index, pages = library
    assert set(pages) == set(MODELS)
    rows = re.findall(r"^\| \[`([A-Za-z0-9_]+)`\]\(\1\.md\)", index, re.M)
    assert sorted(rows) == sorted(MODELS)  # each model exactly once
    for name in MODELS:
        assert re.search(rf"^{re.escape(name)}$", index, re.M), f"{name} is not in the index's toctree"


def test_docs_models__pages_state_the_typical_trough_computed_at_build_time(library):
    index, pages = library
    checked_closed_form = 0
    for name, model in MODELS.items():
        expected = typical_trough(model)
        stated = _page_trough(pages[name])
        # printed to 0.1 ng/mL: the stated value is the rounded recomputation (same deterministic code path)
        assert stated == round(expected, 1), name
        row = re.search(rf"^\| \[`{name}`\].*$", index, re.M).group(0)
        assert f"| {expected:.1f} |" in row, name
        exact = closed_form_trough(model)
        if exact is not None:
            # the closed form and imapk's engine agree to rounding (1e-9 relative); the page rounds to
            # 0.1 ng/mL, so the stated value is within 0.05 ng/mL of the closed form (plus 1e-9 relative)
            assert abs(stated - exact) <= 0.05 + 1e-9 * exact, (name, stated, exact)
            checked_closed_form += 1
    assert checked_closed_form >= 12  # every one-compartment model with constant rates was checked


def test_docs_models__page_names_the_reference_subject(library):
    _, pages = library
    page = pages["widmer2006_covariates"]
    assert "reference subject (weight 70 kg, age 55 y, sex male, disease GIST)" in page
    assert "reference subject (no covariates:" in pages["widmer2006"]


def test_docs_models__pages_cite_their_source_with_doi_links(library):
    _, pages = library
    for name, model in MODELS.items():
        page = pages[name]
        plain = re.sub(r"\[(doi:[^\]]+)\]\(https://doi\.org/[^)]+\)", r"\1", page).replace("\\", "")
        plain = plain.replace("&lt;", "<").replace("&gt;", ">")
        assert model.citation in plain, name
        found = [d.rstrip(".") for d in re.findall(r"doi:(10\.\d{4,9}/\S+)", model.citation)]
        assert found, f"{name}: the citation gives no DOI"
        for doi in found:
            assert f"(https://doi.org/{doi})" in page, (name, doi)


def test_docs_models__every_parameter_with_its_unit_and_value(library):
    _, pages = library
    for name, model in MODELS.items():
        page = pages[name]
        occasions = len(model.occasion_days) + 1
        for occasion in range(occasions):
            typical = model.typical_values({k: REFERENCE_SUBJECT[k] for k in model.covariates}, occasion)
            for parameter, values in typical.items():
                cells = _row(page, parameter)
                assert cells[2 + occasions] == UNITS[parameter], (name, parameter, cells)
                # four significant digits, as printed
                assert cells[2 + occasion].split(" ")[0] == f"{float(values[0]):.4g}", (name, parameter, cells)
        assert _row(page, "f")[2 + occasions] == "1", name  # F always listed (1 when not estimated)


def test_docs_models__iiv_as_sd_and_lognormal_cv(library):
    _, pages = library
    # Widmer 2006: omega_CL = 0.356, CV = sqrt(exp(0.356^2) - 1) = 36.76 % (by hand: e^0.126736 = 1.13512)
    assert _row(pages["widmer2006"], "cl")[4] == "0.356 (36.8 %)"
    assert "| 0.799 |" in pages["widmer2006"]  # correlation 0.179 / (0.356 x 0.629) = 0.7993
    for name, model in MODELS.items():
        for i, parameter in enumerate(model.iiv_parameters):
            omega = math.sqrt(model.omega_matrix[i, i])
            assert _row(pages[name], parameter)[-2].startswith(f"{omega:.3f} ("), (name, parameter)
        for target, source in model.eta_shared.items():
            assert _row(pages[name], target)[-2] == f"the η of {source}"


def test_docs_models__structure_residual_covariates_and_variants(library):
    _, pages = library
    assert "two compartments, 5 transit compartments then first-order absorption" in pages["eechoute2012"]
    assert r"\frac{dA_p}{dt}" in pages["eechoute2012"] and "ODE path" in pages["eechoute2012"]
    assert "zero-order input, lag" in pages["golabchifar2014"] and "t_{lag}" in pages["golabchifar2014"]
    assert "Exponential (additive on the log scale), SD 0.35" in pages["eechoute2012"]
    assert r"\sigma_{add} = 249\ \mathrm{ng/mL}" in pages["schmidli2005"]
    assert "| `weight` | kg | 70 | 44 to 110 |" in pages["widmer2006_covariates"]
    assert "5.42 * (weight - 70.0) / 70.0" in pages["widmer2006_covariates"]  # the covariate equations
    assert "| `age` | y | 55 | 20 to 88 |" in pages["widmer2006_covariates"]
    for name, model in MODELS.items():
        if model.variant_of:
            assert f"[`{name}`]({name}.md)" in pages[model.variant_of], name
            assert f"- **Variant of:** [`{model.variant_of}`]" in pages[name]
        if model.occasion_days:
            assert "| `fit` |" in pages[name], name
    assert pages["schmidli2005"].count("$$") % 2 == 0


def _toy_typical(covariates, occasion):
    return {"cl": 10.0, "v": 200.0, "ka": 1.0}


def test_docs_models__a_model_added_to_the_registry_gets_a_page(generator, tmp_path, monkeypatch):
    model = PopulationModel(
        name="doe2099",
        title="Doe 2099: a test model",
        citation="Doe J, Roe R. A test model of imatinib. J Test 2099;1(1):1-2. doi:10.1234/test.2099.1",
        population="12 adults with GIST, 400 mg/d",
        typical=_toy_typical,
        confidence={"cl": "10 L/h (RSE 12 %) | NONMEM $PK <table 2>: C1"},
    )
    monkeypatch.setitem(MODELS, model.name, model)
    generator.write(tmp_path)
    page = (tmp_path / "models" / "doe2099.md").read_text(encoding="utf-8")
    index = (tmp_path / "models" / "index.md").read_text(encoding="utf-8")
    # one compartment, first-order: k = 0.05 1/h, ka = 1 1/h, 400 mg every 24 h
    k, ka = 0.05, 1.0
    exact = 400.0 * ka / (200.0 * (ka - k)) * (
        math.exp(-k * 24) / (1 - math.exp(-k * 24)) - math.exp(-ka * 24) / (1 - math.exp(-ka * 24))
    ) * 1000.0
    assert abs(_page_trough(page) - exact) <= 0.05 + 1e-9 * exact
    assert "[doi:10.1234/test.2099.1](https://doi.org/10.1234/test.2099.1)" in page
    assert "| [`doe2099`](doe2099.md) |" in index and "Doe 2099, [doi:10.1234/test.2099.1]" in index
    assert "No inter-individual variability" in page
    cells = _row(page, "cl")
    assert len(cells) == 6 and cells[3] == "L/h"  # the pipe in the source text is escaped, not a new cell
    assert "\\$PK &lt;table 2&gt;" in cells[5]  # no math, no raw HTML
    monkeypatch.delitem(MODELS, model.name)
    generator.write(tmp_path)
    assert not (tmp_path / "models" / "doe2099.md").exists()  # a page of a removed model is removed


def test_docs_models__generation_is_deterministic(generator, library, tmp_path):
    index, pages = library
    generator.write(tmp_path)
    assert (tmp_path / "models" / "index.md").read_text(encoding="utf-8") == index
    assert (tmp_path / "models" / "widmer2006.md").read_text(encoding="utf-8") == pages["widmer2006"]


def test_docs_validation__page_names_every_model(tmp_path):
    validation = _load("validation")
    validation.write(tmp_path, n=50)
    text = (tmp_path / "validation.md").read_text(encoding="utf-8")
    script = validation.load_script()
    assert script.listed_models(text) == set(MODELS)
    for name in MODELS:
        assert re.search(rf"^### `{re.escape(name)}[` ]", text, re.M), name
    assert f"{len(MODELS)} of the {len(MODELS)} models in the registry" in text
    assert "50 subjects per model" in text
    first = text
    validation.write(tmp_path, n=50)
    assert (tmp_path / "validation.md").read_text(encoding="utf-8") == first  # no date, no timing
