"""The commands users run, as whole processes: `run`, `plan`, `summarize`, `compare`, `plot`.

Each case times a child process ``python -m imapk ...`` from start to exit (interpreter start,
imports, loading the compiled kernels from a warm numba cache, the work, the output) and, before
every timed round, ``python -c "import numpy"`` in the same test: the ratio of the two medians
(``ratio_to_numpy_import`` in ``extra_info``) holds on any machine, where seconds do not. The
``plot`` cases also time ``python -m imapk run`` of the case report before every round (warm
cache) and record ``ratio_to_run_case_report``: the goal for a plot is a few times that run.
Nothing is asserted about the time.

Workloads (the sizes of the shipped scenarios):

- ``run``: every shipped scenario but the sweep (quick mode: the case report and its 1000-patient
  population);
- ``plan``: the case report and the 1000-patient population (quick mode: the case report);
- ``summarize``: a sweep store made from ``sweep-hold-and-restart.toml`` (72 cells x 1000 patients;
  quick mode: 2 cells x 100 patients), built once, untimed;
- ``compare``: the case report against its 400-after-300 variant, and the population against the
  same population with a 7-day hold (quick mode: the first);
- ``plot``: a population result (percentile fan), the case report's troughs and the sweep's heat
  map (quick mode: the first); the results are written once, untimed.

Every command runs once, untimed, before its timing, so the numba cache is warm (the cache is
``NUMBA_CACHE_DIR`` when set, else a temporary folder shared by the module).
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _process import child_env  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
CASE = SCENARIOS / "gist-rash-case-report.toml"
POPULATION = SCENARIOS / "gist-rash-case-report-population.toml"
STEP_VARIANT = SCENARIOS / "gist-rash-case-report-400-after-300-step.toml"
SWEEP = SCENARIOS / "sweep-hold-and-restart.toml"
#: Timed rounds per case (full mode, quick mode); each round also times the numpy import.
ROUNDS = (5, 1)
#: Run in quick mode as well.
QUICK = "quick"


def _shipped_runs() -> list:
    cases = []
    for path in sorted(SCENARIOS.glob("*.toml")):
        if "[sweep]" in path.read_text(encoding="utf-8"):
            continue
        marks = () if path in (CASE, POPULATION) else (pytest.mark.full_only,)
        cases.append(pytest.param("run", path.stem, ["run", str(path)], id=f"run {path.stem}", marks=marks))
    return cases


#: (command, what it is given, arguments after ``python -m imapk``; "{name}" = a file of the module's workdir).
CASES = [
    *_shipped_runs(),
    pytest.param("plan", "case report", ["plan", str(CASE)], id="plan case report"),
    pytest.param(
        "plan", "case report, 1000 patients", ["plan", str(POPULATION)], id="plan population", marks=pytest.mark.full_only
    ),
    pytest.param("summarize", "sweep store", ["summarize", "{sweep.zarr}"], id="summarize sweep"),
    pytest.param(
        "compare", "case report vs 400-after-300 step", ["compare", str(CASE), str(STEP_VARIANT)], id="compare case report"
    ),
    pytest.param(
        "compare",
        "1000 patients: 14-day vs 7-day hold",
        ["compare", str(POPULATION), "{population-7-day-hold.toml}"],
        id="compare population",
        marks=pytest.mark.full_only,
    ),
    pytest.param("plot", "population result (fan)", ["plot", "{population.nc}", "-o", "{fan.png}"], id="plot population"),
    pytest.param(
        "plot", "case report result (troughs)", ["plot", "{case.nc}", "-o", "{troughs.png}"], id="plot case report",
        marks=pytest.mark.full_only,
    ),
    pytest.param(
        "plot", "sweep store (heat map)", ["plot", "{sweep.zarr}", "-o", "{map.png}"], id="plot sweep",
        marks=pytest.mark.full_only,
    ),
]


def _env(cache: str) -> dict:
    return child_env(cache, MPLBACKEND="Agg")


def _seconds(args: list[str], env: dict, cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(args, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _imapk(args: list[str], env: dict, cwd: Path) -> None:
    """Run ``python -m imapk args`` (untimed); on failure, show its output."""
    done = subprocess.run([sys.executable, "-m", "imapk", *args], env=env, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"imapk {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")


def small_sweep(text: str) -> str:
    """The shipped sweep cut to 2 cells x 100 patients (quick mode)."""
    text, n_hold = re.subn(r"values = \[3, 4[^\]]*\]", "values = [7, 14]", text)
    text, n_dose = re.subn(r'values = \["200 mg", "300 mg", "400 mg"\]', 'values = ["200 mg"]', text)
    text, n_model = re.subn(r'values = \["widmer2006_covariates", "schmidli2005"\]', 'values = ["widmer2006_covariates"]', text)
    text, n_size = re.subn(r"(?m)^size = 1000$", "size = 100", text)
    text, n_chunk = re.subn(r"(?m)^subjects_per_chunk = 1000$", "subjects_per_chunk = 100", text)
    assert (n_hold, n_dose, n_model, n_size, n_chunk) == (1, 1, 1, 1, 1), "sweep-hold-and-restart.toml changed: update small_sweep"
    return text


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, quick) -> tuple[Path, dict]:
    """The files the cases read (sweep store, results, a scenario variant) and the warm-cache environment."""
    folder = tmp_path_factory.mktemp("commands")
    env = _env(os.environ.get("NUMBA_CACHE_DIR") or str(folder / "numba-cache"))
    sweep = SWEEP
    if quick:
        sweep = folder / "small-sweep.toml"
        sweep.write_text(small_sweep(SWEEP.read_text(encoding="utf-8")), encoding="utf-8")
    _imapk(["sweep", str(sweep), "-o", str(folder / "sweep.zarr"), "--quiet", "--workers", "1"], env, folder)
    _imapk(["run", str(POPULATION), "-o", str(folder / "population.nc")], env, folder)
    _imapk(["run", str(CASE), "-o", str(folder / "case.nc")], env, folder)
    text = POPULATION.read_text(encoding="utf-8")
    variant = text.replace("start_day = 29\ndays = 14\n", "start_day = 29\ndays = 7\n")
    assert variant != text, "gist-rash-case-report-population.toml changed: update the 7-day variant"
    (folder / "population-7-day-hold.toml").write_text(variant.replace("14-day hold", "7-day hold"), encoding="utf-8")
    return folder, env


@pytest.mark.parametrize("command, given, args", CASES)
def test_command(benchmark, quick, workdir, command, given, args):
    folder, env = workdir
    args = [re.sub(r"\{([^}]+)\}", lambda m: str(folder / m.group(1)), a) for a in args]
    line = [sys.executable, "-m", "imapk", *args]
    _imapk(args, env, folder)  # warm the numba cache and check that it succeeds, untimed
    numpy_times: list[float] = []

    def time_numpy():
        numpy_times.append(_seconds([sys.executable, "-c", "import numpy"], env, folder))

    run_times: list[float] = []

    def baselines():
        time_numpy()
        if command == "plot":
            run_times.append(_seconds([sys.executable, "-m", "imapk", "run", str(CASE)], env, folder))

    command_times: list[float] = []

    def run():
        command_times.append(_seconds(line, env, folder))

    rounds = ROUNDS[1] if quick else ROUNDS[0]
    benchmark.pedantic(run, setup=baselines, rounds=rounds, warmup_rounds=0, iterations=1)
    if not numpy_times:  # --benchmark-disable: the command ran once, without its setup
        time_numpy()
    seconds = statistics.median(command_times)  # the same runs pytest-benchmark timed, timed here too
    numpy_seconds = statistics.median(numpy_times)
    benchmark.extra_info.update(
        suite="commands",
        case=f"imapk {command}: {given}",
        command=command,
        given=given,
        numpy_import_seconds=numpy_seconds,
        ratio_to_numpy_import=seconds / numpy_seconds,
        seconds_over_numpy_import=seconds - numpy_seconds,
        rounds=rounds,
    )
    if run_times:
        run_seconds = statistics.median(run_times)
        benchmark.extra_info.update(run_case_report_seconds=run_seconds, ratio_to_run_case_report=seconds / run_seconds)
