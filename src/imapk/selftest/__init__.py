"""``imapk selftest``: the validation cases, run on this installation, against independent references.

Each case (:mod:`imapk.selftest.cases`) computes a quantity with imapk and the same quantity by a
route that shares no code with the one under test: a superposition sum or a closed form written in
the case, scipy's ``solve_ivp`` on the model's ODEs, a matrix exponential, a published number with
its citation, or a property the model must have (linearity in dose, time-shift invariance,
nonnegativity, steady state as a fixed point). A case passes when every compared value is within
its stated tolerance, ``|observed - reference| <= atol + rtol |reference|``.

:func:`run_selftest` runs them and returns a :class:`SelftestReport`; :mod:`imapk.selftest.report`
formats it as text, JSON or a self-contained HTML page, with the versions of imapk, Python, numpy,
scipy, numba and xarray and the platform.
"""

from __future__ import annotations

import math
import platform
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["Case", "CaseResult", "SelftestReport", "run_selftest", "versions"]


@dataclass(frozen=True)
class Case:
    """One validation case.

    Attributes
    ----------
    name
        Unique dotted name, ``<kind>.<what>`` (e.g. ``superposition.case_report_troughs``).
    kind
        The family of reference: ``superposition``, ``solve_ivp``, ``two_compartment``,
        ``published``, ``typical_values``, ``typical_trough``, ``nonmem``, ``property``.
    checks
        What imapk computes in the case.
    reference
        The independent reference and its source.
    why
        Why the tolerance is what it is.
    observed
        Returns imapk's values (a float or an array).
    expected
        Returns the reference values, the same shape.
    rtol, atol
        Tolerance: ``|observed - expected| <= atol + rtol |expected|`` for every value. [1], [unit]
    unit
        Unit of the compared values (for the report).
    warm
        Key of the kernels a helper process compiles ahead (:func:`imapk.selftest.cases.prewarm`):
        the case waits for them to be in the numba cache instead of compiling them a second time.
    """

    name: str
    kind: str
    checks: str
    reference: str
    why: str
    observed: Callable[[], object]
    expected: Callable[[], object]
    rtol: float
    atol: float = 0.0
    unit: str = "ng/mL"
    warm: str = ""

    @property
    def tolerance(self) -> str:
        """The tolerance as text, e.g. ``rtol 1e-10`` or ``atol 0.05 ng/mL``."""
        parts = []
        if self.rtol:
            parts.append(f"rtol {self.rtol:.3g}")
        if self.atol or not parts:
            parts.append(f"atol {self.atol:.3g} {self.unit}".rstrip())
        return " + ".join(parts)


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one case.

    Attributes
    ----------
    case
        The case.
    passed
        Every value within tolerance (False on any error).
    values
        How many values were compared.
    max_abs_error, max_rel_error
        Largest |observed - expected| [case unit] and largest relative error (NaN if no reference
        value is nonzero).
    ratio
        Largest |observed - expected| / (atol + rtol |expected|): the case passes when <= 1.
    worst
        Index, observed and expected value of the worst comparison (text).
    error
        The exception raised while running the case, if any.
    seconds
        Time the case took. [s]
    """

    case: Case
    passed: bool
    values: int
    max_abs_error: float
    max_rel_error: float
    ratio: float
    worst: str
    error: str | None
    seconds: float


@dataclass(frozen=True)
class SelftestReport:
    """All results of a run, with the versions and the time taken."""

    results: tuple[CaseResult, ...]
    versions: dict[str, str]
    seconds: float
    started: str = field(default="")

    @property
    def failed(self) -> tuple[CaseResult, ...]:
        return tuple(r for r in self.results if not r.passed)

    @property
    def passed(self) -> bool:
        return not self.failed


def versions() -> dict[str, str]:
    """Versions of imapk, Python, numpy, scipy, numba, xarray and the platform."""
    from importlib.metadata import PackageNotFoundError, version

    from .. import __version__

    found = {"imapk": __version__, "python": sys.version.split()[0]}
    for name in ("numpy", "scipy", "numba", "xarray"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    found["platform"] = f"{platform.platform()} ({platform.machine()})"
    return found


def compare(case: Case) -> CaseResult:
    """Run one case and compare its observed values with its reference (never raises)."""
    start = time.perf_counter()
    try:
        observed = np.atleast_1d(np.asarray(case.observed(), dtype=float))
        expected = np.atleast_1d(np.asarray(case.expected(), dtype=float))
        if observed.shape != expected.shape:
            raise ValueError(f"observed shape {observed.shape} differs from the reference's {expected.shape}")
        if observed.size == 0:
            raise ValueError("no values to compare")
    except Exception as error:  # a case that cannot run fails, naming the error
        return CaseResult(case, False, 0, math.nan, math.nan, math.inf, "", f"{type(error).__name__}: {error}",
                          time.perf_counter() - start)
    difference = np.abs(observed - expected)
    allowed = case.atol + case.rtol * np.abs(expected)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(allowed > 0.0, difference / allowed, np.where(difference == 0.0, 0.0, np.inf))
        relative = np.where(expected != 0.0, difference / np.abs(expected), np.nan)
    ratio = np.where(np.isfinite(observed) & np.isfinite(expected), ratio, np.inf)
    worst = int(np.argmax(ratio))
    max_rel = float(np.nanmax(relative)) if np.any(np.isfinite(relative)) else math.nan
    return CaseResult(
        case=case,
        passed=bool(np.all(ratio <= 1.0)),
        values=int(observed.size),
        max_abs_error=float(np.max(difference)) if np.all(np.isfinite(difference)) else math.inf,
        max_rel_error=max_rel,
        ratio=float(ratio[worst]),
        worst=f"value {worst}: observed {observed.flat[worst]:.12g}, reference {expected.flat[worst]:.12g}",
        error=None,
        seconds=time.perf_counter() - start,
    )


class _Prewarm:
    """A helper process compiling the costliest kernels into the numba cache (in the order of
    :func:`imapk.selftest.cases.prewarm`) while this one runs the cases before them: on a cold cache
    the compilation is shared between two cores. Results are always computed here; if the helper
    fails, the cases compile what they need themselves."""

    def __init__(self) -> None:
        import subprocess
        import threading

        self.done: set[str] = set()
        self.finished = False
        self.condition = threading.Condition()
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from imapk.selftest.cases import prewarm; prewarm()"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            with self.condition:
                self.done.add(line.strip())
                self.condition.notify_all()
        with self.condition:
            self.finished = True
            self.condition.notify_all()

    def wait(self, key: str, timeout: float = 600.0) -> None:
        with self.condition:
            self.condition.wait_for(lambda: key in self.done or self.finished, timeout=timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.process.stdout.close()


def _prewarm_pays() -> bool:
    """A helper compiling ahead pays when kernels are cached on disk and none is compiled in this process yet."""
    import os

    from ..engine import _numba

    return os.environ.get("IMAPK_NUMBA_CACHE", "1") != "0" and not _numba.numba_loaded() and (os.cpu_count() or 1) > 1


def run_selftest(cases=None, *, progress: Callable[[CaseResult], None] | None = None,
                 prewarm: bool = False) -> SelftestReport:
    """Run the validation cases and return the report.

    Parameters
    ----------
    cases
        The cases to run (default: every case of :data:`imapk.selftest.cases.CASES`).
    progress
        Called with each result as it is known (e.g. to print a dot).
    prewarm
        Start a helper process that compiles the costliest kernels into the numba cache while the
        first cases run (when the cache is on disk, numba is not loaded yet and there are two cores
        or more): about 20 s less on a 2-core machine from a cold cache.
    """
    import datetime as dt
    import warnings

    from . import cases as registry

    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    begin = time.perf_counter()
    results = []
    helper = _Prewarm() if prewarm and _prewarm_pays() else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. covariates outside a fitted range: the numbers are compared
            for case in registry.CASES if cases is None else cases:
                if helper is not None and case.warm:
                    helper.wait(case.warm)
                result = compare(case)
                results.append(result)
                if progress is not None:
                    progress(result)
    finally:
        if helper is not None:
            helper.close()
    return SelftestReport(tuple(results), versions(), time.perf_counter() - begin, started)
