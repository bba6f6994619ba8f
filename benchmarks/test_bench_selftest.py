"""`imapk selftest` as a whole process, against `imapk run` of the case report in the same test.

Each timed round runs ``python -m imapk selftest`` from start to exit with a warm numba cache; before
every round, the setup times ``python -m imapk run scenarios/gist-rash-case-report.toml`` (the
baseline): the ratio of the two medians (``ratio_to_run_case_report`` in ``extra_info``) holds on
any machine, where seconds do not. In full mode the test also times one run from a cold numba cache
(a new, empty ``NUMBA_CACHE_DIR``: every kernel the cases use is compiled), recorded as
``cold_cache_seconds`` and ``cold_ratio_to_run_case_report``; the goal is under a minute on a
2-core machine. Nothing is asserted about the time.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _process import child_env  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "scenarios" / "gist-rash-case-report.toml"
#: Timed rounds (full mode, quick mode).
ROUNDS = (3, 1)


def _env(cache: str) -> dict:
    return child_env(cache)


def _seconds(args: list[str], env: dict, cwd: Path) -> float:
    """Wall time of a child process; it must succeed."""
    start = time.perf_counter()
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(args[2:])} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return seconds


def test_selftest_command(benchmark, quick, tmp_path):
    env = _env(os.environ.get("NUMBA_CACHE_DIR") or str(tmp_path / "numba-cache"))
    selftest = [sys.executable, "-m", "imapk", "selftest"]
    run_case = [sys.executable, "-m", "imapk", "run", str(CASE)]
    cold = None
    if not quick:  # one run compiling every kernel, untimed by pytest-benchmark
        cold = _seconds(selftest, _env(str(tmp_path / "cold-numba-cache")), tmp_path)
    _seconds(selftest, env, tmp_path)  # warm the cache (and check that every case passes)
    run_times: list[float] = []
    selftest_times: list[float] = []

    def baseline():
        run_times.append(_seconds(run_case, env, tmp_path))

    def run():
        selftest_times.append(_seconds(selftest, env, tmp_path))

    rounds = ROUNDS[1] if quick else ROUNDS[0]
    benchmark.pedantic(run, setup=baseline, rounds=rounds, warmup_rounds=0, iterations=1)
    if not run_times:  # --benchmark-disable: the command ran once, without its setup
        baseline()
    seconds, run_seconds = statistics.median(selftest_times), statistics.median(run_times)
    benchmark.extra_info.update(
        suite="selftest",
        case="imapk selftest (warm numba cache)",
        run_case_report_seconds=run_seconds,
        ratio_to_run_case_report=seconds / run_seconds,
        rounds=rounds,
    )
    if cold is not None:
        benchmark.extra_info.update(cold_cache_seconds=cold, cold_ratio_to_run_case_report=cold / run_seconds)
