"""The notebooks in notebooks/ (jupytext percent scripts) open as notebooks and are the site's tutorials.

Executing them is the documentation build's job (``tests/test_docs.py`` builds the site, which runs every
notebook in a Jupyter kernel and checks that each tutorial page shows its figures), so they are not run
a second time here. ``FIGURES`` lists the figures each notebook draws and saves.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
FIGURES = {
    "case_report_story.py": ["case-report-troughs.png", "case-report-curve.png"],
    "model_comparison.py": ["model-comparison.png"],
    "sweep_hold_and_restart.py": ["sweep-hold-and-restart.png"],
    "tdm_case_report.py": ["tdm-case-report.png"],
    "rash_policies.py": ["rash-policies.png"],
}


def test_notebooks__all_are_listed():
    assert sorted(p.name for p in NOTEBOOKS) == sorted(FIGURES)


def test_notebooks__are_tutorials_of_the_site():
    index = (ROOT / "docs" / "tutorials" / "index.md").read_text(encoding="utf-8")
    toctree = re.search(r"```\{toctree\}(.*?)```", index, re.S).group(1)
    assert sorted(line.strip() for line in toctree.splitlines() if line.strip() and ":" not in line) == sorted(
        Path(name).stem for name in FIGURES
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook__opens_as_a_notebook(path):
    jupytext = pytest.importorskip("jupytext")
    nbformat = pytest.importorskip("nbformat")
    nb = jupytext.read(path, fmt="py:percent")
    nbformat.validate(nb)
    kinds = [cell.cell_type for cell in nb.cells]
    assert kinds[0] == "markdown" and nb.cells[0].source.startswith("# "), "a notebook starts with its title"
    assert "code" in kinds
    source = path.read_text(encoding="utf-8")
    ast.parse(source)  # still a valid script
    for name in FIGURES[path.name]:
        assert f'"{name}"' in source, name  # the figure it saves under IMAPK_FIGURES
