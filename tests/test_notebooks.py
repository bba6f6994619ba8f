"""The notebooks in notebooks/ (jupytext percent scripts) run from top to bottom and draw their figures."""

import os
import runpy
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.py"))
FIGURES = {
    "case_report_story.py": ["case-report-troughs.png", "case-report-curve.png"],
    "model_comparison.py": ["model-comparison.png"],
    "sweep_hold_and_restart.py": ["sweep-hold-and-restart.png"],
    "tdm_case_report.py": ["tdm-case-report.png"],
    "rash_policies.py": ["rash-policies.png"],
}


def test_notebooks__all_are_listed():
    assert sorted(p.name for p in NOTEBOOKS) == sorted(FIGURES)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook__runs_and_draws(path, tmp_path, monkeypatch):
    monkeypatch.setenv("IMAPK_FIGURES", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    runpy.run_path(str(path), run_name="__main__")
    for name in FIGURES[path.name]:
        figure = tmp_path / name
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert os.environ["IMAPK_FIGURES"] == str(tmp_path)
