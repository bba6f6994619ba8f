"""Write ``reference/scenario.md`` and ``reference/dataset.md`` from the scenario schema
(``imapk.scenario_schema.reference_markdown()`` and ``dataset_reference_markdown()``), so the reference
lists exactly the keys and columns imapk reads.

While the schema module does not provide them, a placeholder page says so; once it exists, any error it
raises fails the build (only the ImportError of a missing function is tolerated).
"""

from __future__ import annotations

from pathlib import Path

PLACEHOLDER = """# {title}

```{{note}}
This page is generated from `imapk.scenario_schema.{function}()`, which this version of imapk does not
provide yet. Until it does, see {guide}.
```
"""


def _page(function: str, title: str, guide: str) -> str:
    try:
        import imapk.scenario_schema as schema

        make = getattr(schema, function)
    except (ImportError, AttributeError):
        return PLACEHOLDER.format(title=title, function=function, guide=guide)
    text = make()
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"imapk.scenario_schema.{function}() returned no text")
    return text if text.endswith("\n") else text + "\n"


def write(srcdir: Path) -> None:
    """Write the scenario-file and data-set reference pages under ``srcdir/reference``."""
    out = Path(srcdir) / "reference"
    out.mkdir(parents=True, exist_ok=True)
    pages = {
        "scenario.md": ("reference_markdown", "Scenario file reference", "{doc}`../guide/scenario-files`"),
        "dataset.md": ("dataset_reference_markdown", "NONMEM-style data set columns", "{doc}`../guide/datasets`"),
    }
    for name, (function, title, guide) in pages.items():
        text = _page(function, title, guide)
        path = out / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
