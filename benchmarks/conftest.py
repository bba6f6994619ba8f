"""Options and machine description for the imapk benchmarks.

The benchmarks are collected only when ``benchmarks`` is given on the command line (the project's
``testpaths`` are ``tests`` and ``src/imapk``). Quick mode (``--quick`` or ``IMAPK_BENCH_QUICK=1``)
keeps N = 1 and N = 100, runs few rounds and a lighter scipy reference, for CI smoke runs.
"""

from __future__ import annotations

import os
import platform

import pytest

#: Population sizes of the full run and of quick mode.
FULL_SIZES = (1, 100, 10_000)
QUICK_SIZES = (1, 100)


def pytest_addoption(parser):
    group = parser.getgroup("imapk benchmarks")
    group.addoption(
        "--quick",
        action="store_true",
        default=False,
        help="imapk benchmarks: only N = 1 and 100, few rounds (same as IMAPK_BENCH_QUICK=1).",
    )


def is_quick(config) -> bool:
    """Quick mode: the ``--quick`` option or a non-empty IMAPK_BENCH_QUICK other than 0/false/no."""
    env = os.environ.get("IMAPK_BENCH_QUICK", "").strip().lower()
    return bool(config.getoption("--quick", default=False)) or env not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def quick(pytestconfig) -> bool:
    return is_quick(pytestconfig)


def pytest_configure(config):
    config.addinivalue_line("markers", "full_only: a benchmark case left out of quick mode")


def pytest_collection_modifyitems(config, items):
    """In quick mode, deselect the cases whose ``n_subjects`` parameter is not a quick size, and those marked ``full_only``."""
    if not is_quick(config):
        return
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        n = params.get("n_subjects")
        full_only = item.get_closest_marker("full_only") is not None
        (drop if full_only or (n is not None and n not in QUICK_SIZES) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (or the platform's guess elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_facts() -> dict:
    """What the report prints about the machine: CPU, cores, Python and library versions."""
    import numba
    import numpy
    import scipy

    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    return {
        "imapk_cpu_model": cpu_model(),
        "imapk_cpu_count": os.cpu_count(),
        "imapk_cpu_usable": usable,
        "imapk_python": platform.python_version(),
        "imapk_numpy": numpy.__version__,
        "imapk_numba": numba.__version__,
        "imapk_scipy": scipy.__version__,
        "imapk_numba_threads": numba.config.NUMBA_NUM_THREADS,
        "imapk_load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info.update(machine_facts())
    machine_info["imapk_quick"] = is_quick(config)
