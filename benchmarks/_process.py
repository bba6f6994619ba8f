"""What the benchmarks that time whole imapk processes share: the child's environment."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child_env(cache: str, **extra: str) -> dict:
    """This process's environment for an imapk child: numba's cache in `cache`, the repository's
    ``src`` first on ``PYTHONPATH``, and any `extra` variables (e.g. ``MPLBACKEND="Agg"``)."""
    env = dict(os.environ)
    env["NUMBA_CACHE_DIR"] = cache
    env.update(extra)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else src
    return env
