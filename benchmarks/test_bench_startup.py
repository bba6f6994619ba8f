"""Start-up: `import imapk` and the whole `imapk run` process on the case report, warm and cold cache.

Each timing is a whole child process, reported beside the baseline `python -c "import numpy"` timed in
the same run (the ratio holds on any machine). Warm: the numba cache holds the kernels (one untimed
run fills it). Cold: an empty cache directory, so the kernels compile.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from _process import child_env  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "scenarios" / "gist-rash-case-report.toml"


def _env(cache: str) -> dict:
    return child_env(cache)


def _seconds(args: list[str], env: dict, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@pytest.fixture(scope="module")
def numpy_baseline(quick) -> float:
    env = _env(os.environ.get("NUMBA_CACHE_DIR", tempfile.mkdtemp()))
    return _seconds([sys.executable, "-c", "import numpy"], env, 3 if quick else 10)


@pytest.mark.parametrize(
    "case, args, cache",
    [
        ("import imapk", ["-c", "import imapk"], "warm"),
        ("imapk run case report, warm numba cache", ["-m", "imapk", "run", str(CASE)], "warm"),
        ("imapk run case report, cold numba cache", ["-m", "imapk", "run", str(CASE)], "cold"),
    ],
)
def test_startup(benchmark, quick, numpy_baseline, case, args, cache, tmp_path):
    warm_dir = os.environ.get("NUMBA_CACHE_DIR") or str(tmp_path / "warm")
    command = [sys.executable, *args]
    if cache == "warm":
        env = _env(warm_dir)
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)  # fill the cache, untimed

        def run():
            return _seconds(command, env, 1)
    else:
        def run():
            return _seconds(command, _env(tempfile.mkdtemp(dir=tmp_path)), 1)

    rounds = 1 if (quick or cache == "cold") else 5
    seconds = benchmark.pedantic(run, rounds=rounds, warmup_rounds=0, iterations=1)
    benchmark.extra_info.update(
        case=case,
        n_subjects=1,
        numpy_import_seconds=numpy_baseline,
        ratio_to_numpy_import=seconds / numpy_baseline,
        seconds_over_numpy_import=seconds - numpy_baseline,
    )
