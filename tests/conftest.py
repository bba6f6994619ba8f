"""Shared fixtures."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"


@pytest.fixture
def case_report_path() -> Path:
    return SCENARIOS / "gist-rash-case-report.toml"
