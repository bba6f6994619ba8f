"""A sweep at scale: 1 000 000 subjects x 365 daily 400 mg doses, troughs only, into a Zarr store.

The sweep file (written by :func:`sweep_file`): one cell (the axis ``daily_dose`` has the single value
400 mg), ``widmer2006_covariates`` with covariates drawn as in ``test_bench_population.py`` (weight,
age, sex; disease GIST), IIV on, no thresholds (troughs only), ``subjects_per_chunk`` 10 000.
``imapk.sweep.run_sweep`` on the default local threaded scheduler (one worker per core) simulates
every chunk, writes it into the store, then computes the per-dose trough quantiles from the store.
Quick mode (``--quick``): 20 000 subjects in chunks of 2 000.

``test_sweep_wall_time``
    Times ``run_sweep`` (one round, after a small untimed sweep that compiles every kernel), then, in
    the same process, the bare engine on the same work: ``imapk.engine.exact.run_exact`` on every
    chunk's parameters (drawn beforehand, outside the timing) over the same number of threads.
    ``extra_info``: ``sweep_seconds``, ``engine_seconds``, ``overhead_ratio`` (sweep over engine; 1 is
    no overhead), ``summaries_seconds`` (the quantiles from the store, part of the sweep).
``test_sweep_peak_memory``
    Runs the same sweep in a fresh Python process and reports that process's peak resident set,
    imports and warm-up sweep included (numpy and numba buffers too, which tracemalloc does not
    see): ``VmHWM`` of ``/proc/self/status`` on Linux, else ``resource.getrusage(RUSAGE_SELF).ru_maxrss``
    (which on Linux keeps the high-water mark of the parent from before the fork and exec, so it is
    only the fallback). The timed region there is the whole child process; its own sweep time is in
    ``extra_info["child_sweep_seconds"]``.

The issue's targets, on a 2-core machine: under 10 s and under 2 GiB for the full size. The engine
alone needs about 365e6 subject-doses / (2 cores x ~16e6 per core and second), i.e. about 11 s, so
the wall time target is out of reach of the engine itself on 2 cores; the numbers are reported,
and only the memory target is asserted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

#: Subjects (and subjects per chunk) in full and quick mode.
FULL = (1_000_000, 10_000)
QUICK = (20_000, 2_000)
DAYS = 365
SEED = 20240917
#: The memory target of the issue, asserted on the child process's peak resident set.
MEMORY_TARGET_BYTES = 2 * 2**30
#: The wall time target of the issue (reported, not asserted: see the module docstring).
TIME_TARGET_SECONDS = 10.0

SWEEP = """
[sweep]
subjects_per_chunk = {chunk}

[[sweep.axes]]
name = "daily_dose"
key = "schedule.phases[0].dose"
values = ["400 mg"]

[scenario]
title = "sweep benchmark: a year of daily 400 mg"
seed = {seed}

[model]
parameter_set = "widmer2006_covariates"

[population]
size = {n}

[population.covariates]
weight = {{ distribution = "normal", mean = "75 kg", sd = "15 kg", low = "44 kg", high = "110 kg" }}
age = {{ distribution = "normal", mean = "60 y", sd = "12 y", low = "20 y", high = "88 y" }}
sex = {{ distribution = "categorical", p = {{ male = 0.5, female = 0.5 }} }}
disease = "GIST"

[[schedule.phases]]
label = "400 mg once daily"
dose = "400 mg"
days = {days}
"""


def sizes(quick: bool) -> tuple[int, int]:
    return QUICK if quick else FULL


def sweep_file(folder: Path, n: int, chunk: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sweep.toml"
    path.write_text(SWEEP.format(n=n, chunk=chunk, seed=SEED, days=DAYS), encoding="utf-8")
    return path


def warm_up(folder: Path) -> None:
    """A small sweep: numba loads or compiles the engine and the summary kernels, outside any timing."""
    from imapk.sweep import run_sweep

    run_sweep(sweep_file(folder / "warm-up", 200, 50), folder / "warm-up" / "out.zarr", progress=False)


def engine_work(path: Path):
    """The sweep's work for the bare engine: the lowered schedule and every chunk's parameters."""
    from imapk.population import draw_covariates, draw_parameters
    from imapk.sweep import cell_scenario, load_sweep

    sweep = load_sweep(path)
    scenario = cell_scenario(sweep, next(sweep.cells())[1])
    table = scenario.schedule.lower()
    population, model = scenario.population, scenario.models[0]
    n, chunk = population.size, sweep.subjects_per_chunk
    chunks = []
    for start in range(0, n, chunk):
        subjects = np.arange(start, min(n, start + chunk))
        covariates = draw_covariates(population.covariates, population.seed, subjects)
        chunks.append(
            draw_parameters(
                model, covariates, subjects, seed=population.seed, iiv=population.iiv, iov_cl=population.iov_cl,
                dose_times=table.time, time_on_therapy_at_start=0.0,
            )
        )
    return table, scenario.window, chunks


CHILD = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, {here!r})
from test_bench_sweep import peak_rss, sweep_file, warm_up
from imapk.sweep import run_sweep

folder = Path({folder!r})
warm_up(folder)
before = peak_rss()
path = sweep_file(folder / "bench", {n}, {chunk})
start = time.perf_counter()
run_sweep(path, folder / "bench" / "out.zarr", progress=False)
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "peak_bytes": peak_rss(), "before_bytes": before}}))
"""


def peak_rss() -> int:
    """This process's peak resident set in bytes (VmHWM on Linux, else ru_maxrss)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def test_sweep_peak_memory(benchmark, quick, tmp_path):
    n, chunk = sizes(quick)
    here = str(Path(__file__).resolve().parent)
    env = dict(os.environ)
    src = str(Path(here).parent / "src")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    script = textwrap.dedent(CHILD).format(here=here, folder=str(tmp_path), n=n, chunk=chunk)

    def child():
        shutil.rmtree(tmp_path / "bench", ignore_errors=True)
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    measured = benchmark.pedantic(child, rounds=1, iterations=1)
    peak, before = measured["peak_bytes"], measured["before_bytes"]
    benchmark.extra_info.update(
        suite="sweep",
        case="sweep: peak memory of a fresh process",
        n_subjects=n,
        subjects_per_chunk=chunk,
        doses=DAYS,
        child_sweep_seconds=measured["seconds"],
        peak_rss_bytes=peak,
        peak_rss_before_sweep_bytes=before,
        target_bytes=MEMORY_TARGET_BYTES,
    )
    print(f"\nsweep of {n:,} subjects x {DAYS} doses in a fresh process: {measured['seconds']:.2f} s, "
          f"peak RSS {peak / 2**20:,.0f} MiB ({before / 2**20:,.0f} MiB before the sweep)")
    assert peak < MEMORY_TARGET_BYTES


def test_sweep_wall_time(benchmark, quick, tmp_path):
    from imapk.engine.exact import run_exact
    from imapk.sweep import open_sweep, run_sweep
    import imapk.sweep

    n, chunk = sizes(quick)
    warm_up(tmp_path)
    path = sweep_file(tmp_path / "bench", n, chunk)
    out = tmp_path / "bench" / "out.zarr"
    summaries = imapk.sweep._summaries
    timings = {}

    def timed_summaries(*args, **kwargs):
        start = time.perf_counter()
        summaries(*args, **kwargs)
        timings["summaries"] = time.perf_counter() - start

    def setup():
        shutil.rmtree(out, ignore_errors=True)
        return (), {}

    def sweep():
        start = time.perf_counter()
        result = run_sweep(path, out, progress=False)
        timings["sweep"] = time.perf_counter() - start
        return result

    imapk.sweep._summaries = timed_summaries
    try:
        result = benchmark.pedantic(sweep, setup=setup, rounds=1, iterations=1)
    finally:
        imapk.sweep._summaries = summaries
    assert result["computed"] == n // chunk
    sweep_seconds = timings["sweep"]  # the one round (also under --benchmark-disable)
    ds = open_sweep(out)
    assert ds["trough"].shape == (1, n, DAYS)

    table, (start, stop), chunks = engine_work(path)
    window = (start, table.end if stop is None else min(stop, table.end))
    workers = os.cpu_count() or 1
    begin = time.perf_counter()
    kept = {}

    def engine(i):
        trough = run_exact(table, chunks[i], window=window).trough
        if i in (0, len(chunks) - 1):
            kept[i] = trough

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(engine, range(len(chunks))))
    engine_seconds = time.perf_counter() - begin
    # The same work: the engine's troughs are the sweep's.
    np.testing.assert_array_equal(kept[0], ds["trough"].isel(daily_dose=0, subject=slice(0, chunk)).values)
    last = kept[len(chunks) - 1]
    np.testing.assert_array_equal(last, ds["trough"].isel(daily_dose=0, subject=slice(n - len(last), n)).values)

    benchmark.extra_info.update(
        suite="sweep",
        case="sweep: troughs into Zarr (1 cell)",
        n_subjects=n,
        subjects_per_chunk=chunk,
        doses=DAYS,
        subject_doses=n * DAYS,
        workers=workers,
        sweep_seconds=sweep_seconds,
        summaries_seconds=timings.get("summaries"),
        engine_seconds=engine_seconds,
        overhead_ratio=sweep_seconds / engine_seconds,
        target_seconds=TIME_TARGET_SECONDS,
    )
    print(
        f"\nsweep of {n:,} subjects x {DAYS} doses: {sweep_seconds:.2f} s on {workers} threads "
        f"(summaries {timings.get('summaries', float('nan')):.2f} s); bare engine {engine_seconds:.2f} s; "
        f"overhead ratio {sweep_seconds / engine_seconds:.2f}"
    )
