"""Sphinx configuration of the imapk documentation site.

Build: ``python -m sphinx -W --keep-going -b html docs OUTDIR``. At the start of the build every module of
``docs/_generators`` writes its generated pages (CLI reference, scenario and data-set references, executed
tutorials, model library, validation) into the source directory; those files are not kept in git, except
`validation.md`, which the README links: it is deterministic and rewritten only when its text changes.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import imapk

DOCS = Path(__file__).resolve().parent

project = "imapk"
author = "The imapk developers"
copyright = "the imapk developers"
release = imapk.__version__
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx-mathjax-offline",  # MathJax copied into the site: equations render without a network
]

exclude_patterns = ["_build", "_generators", "figures/README*", "**.ipynb_checkpoints", "conf.py"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb", ".rst": "restructuredtext"}
root_doc = "index"

myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]

# The tutorials are executed by docs/_generators/notebooks.py (in the notebooks' own folder, so their
# relative paths hold); myst-nb renders the stored outputs and turns any stderr output into a warning.
nb_execution_mode = "off"
nb_output_stderr = "warn"
nb_merge_streams = True

autodoc_typehints = "none"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "alabaster"
html_title = f"imapk {release}"
html_static_path: list[str] = []
html_theme_options = {
    "description": "Imatinib plasma levels under real-world dosing",
    "fixed_sidebar": True,
    "page_width": "1180px",
    "sidebar_width": "250px",
    "body_max_width": "none",
    "code_font_size": "0.78em",
}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}
html_show_sourcelink = False

# Pages that other generators add; linked from the index only once they exist.
OPTIONAL_PAGES = ["models/index", "validation"]
OPTIONAL_MARKER = "<!-- optional pages -->"


def run_generators(srcdir: Path) -> list[str]:
    """Call ``write(srcdir)`` of every module in ``docs/_generators``, in name order; return their names."""
    names = []
    for path in sorted((DOCS / "_generators").glob("*.py")):
        if path.name.startswith("_"):
            continue
        spec = importlib.util.spec_from_file_location(f"imapk_docs_generators.{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        module.write(Path(srcdir))
        names.append(path.stem)
    return names


def _builder_inited(app) -> None:
    run_generators(Path(app.srcdir))


def _source_read(app, docname, source) -> None:
    if docname != root_doc:
        return
    present = [page for page in OPTIONAL_PAGES if (Path(app.srcdir) / f"{page}.md").exists()]
    source[0] = source[0].replace(OPTIONAL_MARKER, "\n".join(present))


def _reread_index(app, env, added, changed, removed) -> list[str]:
    # the index's toctree depends on which optional pages exist: read it again on every build
    return [root_doc]


def setup(app):
    app.connect("builder-inited", _builder_inited)
    app.connect("source-read", _source_read)
    app.connect("env-get-outdated", _reread_index)
    return {"parallel_read_safe": True}
