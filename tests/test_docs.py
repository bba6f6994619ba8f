"""The documentation site builds with warnings as errors, and holds the pages it promises.

The site is built once per test session into a temporary folder (never into the repository); the build
runs the page generators of ``docs/_generators`` (CLI reference, scenario and data-set references,
executed tutorials, model library, validation) and executes the notebooks, which is how the test suite
checks that the notebooks run (``tests/test_notebooks.py`` checks what a build does not).
"""

import html
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

pytest.importorskip("sphinx", reason="the docs extra is not installed (pip install -e '.[docs]')")
pytest.importorskip("myst_nb", reason="the docs extra is not installed (pip install -e '.[docs]')")


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """Build the site once: returns (html folder, build log)."""
    base = tmp_path_factory.mktemp("docs")
    out, doctrees = base / "html", base / "doctrees"
    env = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
    run = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "-d", str(doctrees),
         str(DOCS), str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )
    log = run.stdout + run.stderr
    assert run.returncode == 0, f"the documentation build failed:\n{log[-6000:]}"
    return out, log


def _text(path: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8")))


def test_docs__build_has_no_warnings(site):
    out, log = site
    # Sphinx's own messages ("file:line: WARNING: ..."); -W already makes any of them fail the build
    assert ": WARNING:" not in log and ": ERROR:" not in log, log[-4000:]
    for page in ("index", "getting-started", "concepts", "comparison", "changelog", "performance",
                 "reference/api", "reference/cli", "reference/scenario", "reference/dataset", "tutorials/index"):
        assert (out / f"{page}.html").is_file(), page


def test_docs__cli_reference_names_every_command_and_option(site):
    out, _ = site
    sys.path.insert(0, str(DOCS / "_generators"))
    try:
        from cli import subcommands
    finally:
        sys.path.pop(0)
    from imapk.cli import _parser

    text = _text(out / "reference" / "cli.html")
    commands = subcommands(_parser())
    assert {"run", "validate", "plan", "tdm", "sweep"} <= set(commands)
    for name, (parser, _) in commands.items():
        assert f"imapk {name}" in text, name
        for action in parser._actions:
            for option in action.option_strings:
                assert option in text, (name, option)


def test_docs__tutorials_show_their_figures(site):
    out, _ = site
    from test_notebooks import FIGURES

    for script, figures in FIGURES.items():
        page = out / "tutorials" / f"{Path(script).stem}.html"
        images = re.findall(r'<img[^>]+src="([^"]+\.png)"', page.read_text(encoding="utf-8"))
        assert len(images) >= len(figures), (script, images)
        for src in images:
            assert (page.parent / src).resolve().stat().st_size > 10_000, (script, src)
        assert "Traceback" not in _text(page), script


def test_docs__every_model_has_its_page(site):
    out, _ = site
    if not (DOCS / "_generators" / "models.py").exists():
        pytest.skip("the model library generator (docs/_generators/models.py) is not in this version")
    from imapk.models import MODELS

    assert (out / "models" / "index.html").is_file()
    for name in MODELS:
        assert (out / "models" / f"{name}.html").is_file(), name


def test_docs__scenario_reference_is_generated_from_the_schema(site):
    out, _ = site
    import imapk.scenario_schema as schema

    text = _text(out / "reference" / "scenario.html")
    if hasattr(schema, "reference_markdown"):
        assert "does not provide yet" not in text
        for key in ("schedule", "phases", "holds", "verdict"):
            assert key in text, key
    if hasattr(schema, "dataset_reference_markdown"):
        text = _text(out / "reference" / "dataset.html")
        for column in ("ID", "TIME", "AMT", "EVID", "CMT", "DV"):
            assert column in text, column


def test_docs__changelog_and_api_pages_have_content(site):
    out, _ = site
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    first = re.search(r"(?m)^## (.+)$", changelog).group(1).strip()
    assert first in _text(out / "changelog.html")
    api = _text(out / "reference" / "api.html")
    for name in ("simulate", "run_scenario", "Schedule", "Hold", "LadderStep", "PKParams", "Threshold"):
        assert name in api, name


def test_readme__links_into_the_site_resolve():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [link for link in links if not re.match(r"[a-z]+://", link)]
    assert any(link.startswith("docs/") for link in local)
    for link in local:
        assert (ROOT / link).exists(), link


def test_readme__keeps_the_two_set_up_commands_and_ci_runs_the_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    run = ".venv/bin/imapk run scenarios/gist-rash-case-report.toml -o case-report.nc"
    assert f"python3 -m venv .venv && .venv/bin/pip install -q -e . && {run}" in readme
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci in readme
    assert "pytest" in ci and '".[test]"' in ci


def test_citation__is_cff_1_2_with_the_package_version():
    yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read CITATION.cff")
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert citation["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors"):  # the keys CFF 1.2.0 requires
        assert citation[key], key
    assert all("name" in a or "family-names" in a for a in citation["authors"])
    assert citation["version"] == project["version"]
    assert citation["title"] == project["name"]
    assert citation.get("license") == project["license"]["text"]


@pytest.mark.parametrize(
    "command",
    [
        "validate scenarios/gist-rash-case-report.toml --schedule",
        "run scenarios/gist-rash-case-report.toml",
        "run scenarios/gist-rash-case-report-population.toml",
    ],
)
def test_getting_started__shows_what_the_commands_print(command):
    page = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    shown = page.split(f"$ imapk {command}\n", 1)[1].split("```", 1)[0].splitlines()
    shown = [line for line in shown if line.strip() not in ("", "...")]
    assert len(shown) >= 5
    printed = subprocess.run(
        [sys.executable, "-m", "imapk", *command.split()], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    for line in shown:
        assert line in printed, line
