"""Write ``validation.md``: the steady-state troughs at 400 mg q24h of every registered model beside the
observed summaries of the literature, simulated at build time by ``validation/steady_state_troughs.py``
(2 000 subjects per model, fixed seed; a few seconds).

The report is deterministic (no date, no timing), so regenerating it in the documentation's source
directory rewrites ``docs/validation.md`` only when a model or imapk changed: the committed file stays
what the README links, and a build after a model change leaves the updated report in the working tree.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "validation" / "steady_state_troughs.py"
#: Name the script is imported under (its dataclasses look their module up by name).
MODULE = "imapk_docs_steady_state_troughs"


def load_script():
    """The validation script as a module (imported by path: it is a script, not part of the package)."""
    if MODULE in sys.modules:
        return sys.modules[MODULE]
    spec = importlib.util.spec_from_file_location(MODULE, SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(MODULE, None)
        raise
    return module


def write(srcdir: Path, n: int | None = None) -> None:
    """Simulate every registered model and write ``srcdir/validation.md`` (if its text changed).

    Parameters
    ----------
    srcdir
        Source directory of the documentation.
    n
        Subjects per model (default: the script's ``N_SUBJECTS``, 2 000).
    """
    import warnings

    script = load_script()
    with warnings.catch_warnings():
        # The report states every covariate-range extrapolation itself; the build runs under -W.
        warnings.simplefilter("ignore", script.CovariateRangeWarning)
        script.write_report(Path(srcdir) / "validation.md", n or script.N_SUBJECTS, script.SEED)
