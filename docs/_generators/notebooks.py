"""Write ``tutorials/<name>.ipynb``: each notebook of ``notebooks/`` (a jupytext percent script), converted
and executed top to bottom in a Jupyter kernel, with its outputs and figures.

The kernel runs in ``notebooks/`` (the folder a user opens them from, so their paths to ``scenarios/``
hold) and saves the figures the scripts write into a temporary folder, not into ``docs/figures``. A cell
that raises stops the build with the notebook's name and the error.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
TIMEOUT = 900  # seconds per cell; the slowest cell (a population of 1000 under four policies) takes ~20 s


def notebook_paths() -> list[Path]:
    """The tutorial scripts, in name order."""
    return sorted(NOTEBOOKS.glob("*.py"))


def execute(path: Path, figures: Path):
    """The notebook of jupytext script ``path``, executed with its figures written into ``figures``."""
    import jupytext
    from nbclient import NotebookClient

    nb = jupytext.read(path, fmt="py:percent")
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    saved = {key: os.environ.get(key) for key in ("IMAPK_FIGURES", "MPLBACKEND")}
    os.environ["IMAPK_FIGURES"] = str(figures)
    # the inline backend shows each figure under the cell that draws it
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    try:
        NotebookClient(
            nb, timeout=TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
        ).execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    return nb


def write(srcdir: Path) -> None:
    """Execute every notebook and write ``tutorials/<name>.ipynb`` under ``srcdir``."""
    import nbformat

    out = Path(srcdir) / "tutorials"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as figures:
        for path in notebook_paths():
            nb = execute(path, Path(figures))
            nbformat.write(nb, out / f"{path.stem}.ipynb")
