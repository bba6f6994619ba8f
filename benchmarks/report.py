"""Run the imapk benchmarks (or read their pytest-benchmark JSON) and write benchmarks/RESULTS.md.

Usage (from the repository root)::

    python benchmarks/report.py                      # run the full suite, write RESULTS.md
    python benchmarks/report.py --quick              # N = 1 and 100 only, few rounds
    python benchmarks/report.py --json out.json      # no run: tabulate an existing --benchmark-json
    python benchmarks/report.py -- -k run_exact      # extra arguments after -- go to pytest

The first table (``test_bench_exact.py``) has, per case and N: the median wall time of one call,
the subject-doses simulated per second (N x 365 doses / median) and the ratio of that rate to scipy's
solve_ivp (LSODA) rate measured in the same process; below it, the cost of the default trough
percentiles (``simulate`` over ``simulate(..., quantiles=())``, timed alternately in one loop). The population tables
(``test_bench_population.py``) give the same for drawing a population and simulating it, per model,
and the time of the draw alone against a naive per-subject ``default_rng(i)`` loop. The
whole-process table (``test_bench_commands.py``, ``test_bench_startup.py``) gives each command's
median time and its ratio to ``python -c "import numpy"`` timed in the same test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def run_suite(json_path: Path, quick: bool, extra: list[str]) -> None:
    """Run ``pytest benchmarks`` in a subprocess, writing pytest-benchmark's JSON to `json_path`."""
    env = dict(os.environ)
    src = str(ROOT / "src")
    try:  # make the in-tree package importable when it is not installed
        import imapk  # noqa: F401
    except ImportError:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    command = [sys.executable, "-m", "pytest", str(HERE), f"--benchmark-json={json_path}", "-q", "-p", "no:cacheprovider"]
    if quick:
        command.append("--quick")
    command += extra
    print("+", " ".join(command), flush=True)
    completed = subprocess.run(command, cwd=ROOT, env=env)
    if completed.returncode != 0:
        sys.exit(f"benchmark run failed (pytest exit status {completed.returncode})")


def format_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.3f} s"


def format_rate(rate: float) -> str:
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:.3g}"


def machine_line(machine: dict) -> str:
    """CPU model, cores, Python/numpy/numba/scipy versions (from the JSON, else this process)."""
    if "imapk_cpu_model" not in machine:
        sys.path.insert(0, str(HERE))
        from conftest import machine_facts  # the same facts the suite records

        machine = {**machine, **machine_facts()}
    cores = machine.get("imapk_cpu_count")
    usable = machine.get("imapk_cpu_usable")
    core_text = f"{cores} cores" + (f" ({usable} usable)" if usable and usable != cores else "")
    load = machine.get("imapk_load_average")
    load_text = f"; load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min) at the start" if load else ""
    return (
        f"{machine.get('imapk_cpu_model', 'unknown CPU')}, {core_text}; "
        f"Python {machine.get('imapk_python', platform.python_version())}, "
        f"numpy {machine.get('imapk_numpy', '?')}, numba {machine.get('imapk_numba', '?')}, "
        f"scipy {machine.get('imapk_scipy', '?')}{load_text}"
    )


def is_population(bench: dict) -> bool:
    return bench.get("extra_info", {}).get("suite") == "population"


def is_exact(bench: dict) -> bool:
    return "test_bench_exact" in bench.get("fullname", "test_bench_exact") and not is_percentile_cost(bench)


def is_percentile_cost(bench: dict) -> bool:
    """The case timing ``simulate`` with and without the default percentiles alternately (one ratio)."""
    return bench.get("extra_info", {}).get("suite") == "percentile cost"


def percentile_costs(data: dict) -> list[str]:
    """'N = ...: ratio (default / troughs-only medians)' from the alternating case, by N."""
    found = sorted(
        (b["extra_info"] for b in data.get("benchmarks", []) if is_percentile_cost(b)), key=lambda info: info["n_subjects"]
    )
    return [
        f"N = {info['n_subjects']:,}: {info['percentile_cost_ratio']:.2f}× ({format_time(info['default_median_seconds'])} "
        f"/ {format_time(info['troughs_only_median_seconds'])}, {info['rounds']} rounds)"
        for info in found
    ]


def is_process(bench: dict) -> bool:
    """A whole-process timing: the commands (`test_bench_commands.py`) and start-up (`test_bench_startup.py`)."""
    name = bench.get("fullname", "")
    return "test_bench_commands" in name or "test_bench_startup" in name


#: extra_info fields shown for the other suites (ODE path, sweeps), with their labels.
DETAILS = {
    "subject_doses_per_second": "subject-doses/s",
    "ratio_vs_scipy": "ratio vs scipy",
    "ratio_vs_scipy_dop853": "ratio vs scipy DOP853",
    "ratio_vs_one_compartment": "time / one-compartment time",
    "steps_per_dose": "steps per dose",
    "scaled_error_vs_exact": "scaled error vs exact",
    "child_sweep_seconds": "sweep in a fresh process [s]",
    "peak_rss_bytes": "peak RSS [bytes]",
    "sweep_seconds": "sweep [s]",
    "engine_seconds": "bare engine [s]",
    "overhead_ratio": "overhead vs engine",
    "numpy_import_seconds": "python -c 'import numpy' [s]",
    "ratio_to_numpy_import": "ratio to numpy import",
    "ratio_to_fixed": "time / the fixed schedule's",
    "fixed_seconds": "fixed schedule [s]",
    "realise_seconds": "realising [s]",
    "simulate_seconds": "simulating [s]",
    "ratio_to_straightforward": "time / per-patient loop's",
}


def render_other(data: dict) -> list[str]:
    """One table for the suites that are neither the exact-engine nor the population ones."""
    others = [
        b for b in data.get("benchmarks", [])
        if not is_exact(b) and not is_population(b) and not is_process(b) and not is_percentile_cost(b)
    ]
    if not others:
        return []
    lines = [
        "## Multi-compartment models, ODE path, sweeps, verdicts and random dosing (`test_bench_linear.py`, "
        "`test_bench_ode.py`, `test_bench_ode_linear.py`, `test_bench_sweep.py`, `test_bench_verdict.py`, "
        "`test_bench_processes.py`, `test_bench_realise.py`)",
        "",
        "| benchmark | N | median time | details |",
        "| --- | ---: | ---: | --- |",
    ]
    for bench in others:
        info = bench.get("extra_info", {})
        details = "; ".join(
            f"{label} {info[key]:,.3g}" for key, label in DETAILS.items() if isinstance(info.get(key), (int, float))
        )
        n = info.get("n_subjects", info.get("patients", ""))
        lines.append(
            f"| {info.get('case', bench['name'])} | {n:,} | {format_time(bench['stats']['median'])} | {details} |"
            if isinstance(n, int)
            else f"| {info.get('case', bench['name'])} | {n} | {format_time(bench['stats']['median'])} | {details} |"
        )
    return lines + [""]


def render_processes(data: dict) -> list[str]:
    """Whole processes: the commands users run and the start-up cases, each against `import numpy` timed beside it."""
    benches = [b for b in data.get("benchmarks", []) if is_process(b)]
    if not benches:
        return []
    lines = [
        "## Whole processes: the commands users run, and start-up (`test_bench_commands.py`, `test_bench_startup.py`)",
        "",
        "Each time is a child process from start to exit (`python -m imapk ...`, output discarded), with a warm "
        "numba cache unless the case says cold. *numpy import* is `python -c \"import numpy\"` timed in the same "
        "test (the commands: before every round); *ratio* is the command's median over it, the number to "
        "compare between machines.",
        "",
        "| command | median time | numpy import | ratio | rounds |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for bench in benches:
        info = bench.get("extra_info", {})
        numpy_seconds = info.get("numpy_import_seconds")
        ratio = info.get("ratio_to_numpy_import")
        lines.append(
            f"| {info.get('case', bench['name'])} | {format_time(bench['stats']['median'])} | "
            f"{format_time(numpy_seconds) if numpy_seconds else '–'} | {f'{ratio:.1f}×' if ratio else '–'} | "
            f"{bench['stats']['rounds']} |"
        )
    lines += [
        "",
        "Workloads: `run` on every shipped scenario but the sweep; `plan` on the case report and on its "
        "1000-patient population; `summarize` of the shipped sweep's store (72 cells × 1000 patients); "
        "`compare` of the case report with its 400-after-300 variant, and of the population with a 7-day "
        "hold; `plot` of a population result (fan), the case report (troughs) and the sweep (heat map). "
        "Quick mode: the case report and population runs, `plan` and `compare` of the case report, a "
        "2-cell × 100-patient sweep, the population plot.",
        "",
    ]
    return lines


def rows(data: dict) -> list[dict]:
    out = []
    for bench in data.get("benchmarks", []):
        if is_population(bench) or is_process(bench) or not is_exact(bench):
            continue
        info = bench.get("extra_info", {})
        median = bench["stats"]["median"]
        subject_doses = info.get("subject_doses")
        rate = subject_doses / median if subject_doses else None
        scipy_rate = info.get("scipy_subject_doses_per_second")
        out.append(
            {
                "case": info.get("case", bench["name"]),
                "n": info.get("n_subjects", ""),
                "dense": info.get("dense_times", 0),
                "median": median,
                "rate": rate,
                "ratio": rate / scipy_rate if rate and scipy_rate else None,
                "rounds": bench["stats"]["rounds"],
                "scipy": (info.get("scipy_subjects"), info.get("scipy_seconds_median"), scipy_rate, info.get("scipy_repeats")),
            }
        )
    order = {"simulate, troughs": 0, "run_exact, troughs": 1}
    out.sort(key=lambda r: (order.get(r["case"], 2), r["n"] if isinstance(r["n"], int) else 0))
    return out


def format_ratio(ratio: float | None) -> str:
    if not ratio:
        return "–"
    return f"{ratio:,.0f}×" if ratio >= 10 else f"{ratio:.2f}×"


def population_rows(data: dict) -> tuple[list[dict], list[dict]]:
    """Population cases: (draw + simulate rows, draw-only rows), ordered by model and N."""
    runs, draws = [], []
    for bench in data.get("benchmarks", []):
        if not is_population(bench):
            continue
        info = bench["extra_info"]
        median = bench["stats"]["median"]
        n = info.get("n_subjects", 0)
        row = {"model": info.get("model", "?"), "n": n, "median": median, "rounds": bench["stats"]["rounds"], "info": info}
        if info.get("case") == "draw only":
            naive = info.get("naive_seconds_median")
            row.update(rate=n / median if median else None, naive=naive, ratio=naive / median if naive and median else None)
            draws.append(row)
        else:
            rate = info["subject_doses"] / median if median else None
            scipy_rate = info.get("scipy_subject_doses_per_second")
            row.update(rate=rate, ratio=rate / scipy_rate if rate and scipy_rate else None)
            runs.append(row)
    first_seen: dict[str, int] = {}
    for r in runs + draws:
        first_seen.setdefault(r["model"], len(first_seen))
    key = lambda r: (first_seen[r["model"]], r["n"])  # noqa: E731  (models in run order, then N)
    return sorted(runs, key=key), sorted(draws, key=key)


def render_population(data: dict) -> list[str]:
    runs, draws = population_rows(data)
    if not runs and not draws:
        return []
    lines = [
        "## Population runs: draw the subjects, then simulate (`test_bench_population.py`)",
        "",
        "Workload: N subjects of one published model, covariates drawn from stated distributions "
        "(`draw_covariates`), parameters from the covariates with IIV (`draw_parameters`, seeded), then "
        "`simulate` for the troughs of 365 daily 400 mg doses; all three steps are inside the timed call. "
        "`widmer2006_covariates`: first-order absorption, CL on weight/age/sex/disease (GIST), V on sex. "
        "`schmidli2005`: zero-order input (1.5 h), CL and V on weight/haemoglobin/WBC, CL and V step "
        "change at the start of day 2 (t = 24 h; occasion timing \"fit\").",
        "",
    ]
    if runs:
        lines += [
            "| model | N | median time | subject-doses/s | ratio vs scipy | rounds |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in runs:
            rate = format_rate(r["rate"]) if r["rate"] else "–"
            lines.append(
                f"| {r['model']} | {r['n']:,} | {format_time(r['median'])} | {rate} | {format_ratio(r['ratio'])} | {r['rounds']} |"
            )
        seen = set()
        for r in runs:
            info = r["info"]
            if r["model"] in seen or not info.get("scipy_subject_doses_per_second"):
                continue
            seen.add(r["model"])
            lines.append(
                f"| {r['model']}: scipy solve_ivp LSODA (reference) | {info['scipy_subjects']} | "
                f"{format_time(info['scipy_seconds_median'])} | {format_rate(info['scipy_subject_doses_per_second'])} | "
                f"1× | {info['scipy_repeats']} |"
            )
        lines += [
            "",
            "- *subject-doses/s*: N × 365 / median time of the whole draw + simulate call.",
            "- *ratio vs scipy*: imapk's subject-doses/s (draw + simulate) over that of `solve_ivp` (LSODA, rtol "
            "1e-8, atol 1e-10) integrating each of the first few subjects of the same draw with its own "
            "parameters (given, not drawn), restarting at every dose, at the end of every zero-order input "
            "and at Schmidli's day-29 change; scaled per subject-dose. Those subjects' imapk troughs are "
            "checked against scipy's (rtol 1e-6).",
            "",
        ]
    if draws:
        lines += [
            "### The draw alone (covariates + parameters with IIV)",
            "",
            "| model | N | median time | subjects/s | naive loop time | ratio vs naive loop | rounds |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in draws:
            rate = format_rate(r["rate"]) if r["rate"] else "–"
            naive = format_time(r["naive"]) if r["naive"] else "–"
            lines.append(
                f"| {r['model']} | {r['n']:,} | {format_time(r['median'])} | {rate} | {naive} | "
                f"{format_ratio(r['ratio'])} | {r['rounds']} |"
            )
        lines += [
            "",
            "- *naive loop*: a Python loop creating `numpy.random.default_rng(i)` for every subject and drawing "
            "its covariates (rejection from the truncated normal, a uniform for categories) and its standard "
            "normals for the random effects; then the same vectorised typical values and exp(eta) as imapk. "
            "Median of its timed repeats at the same N. imapk draws every purpose for all subjects in one "
            "counter-based (Philox) call per stream.",
            "",
        ]
    return lines


def render(data: dict, source: str) -> str:
    table = rows(data)
    population = render_population(data)
    processes = render_processes(data)
    if not table and not population and not processes and not render_other(data) and not percentile_costs(data):
        sys.exit("no benchmarks in the JSON (was the run made with --benchmark-disable?)")
    machine = data.get("machine_info", {})
    when = data.get("datetime") or dt.datetime.now(dt.timezone.utc).isoformat()
    date = when[:10]
    quick = machine.get("imapk_quick", False)
    lines = [
        "# imapk benchmark results",
        "",
        f"Machine: {machine_line(machine)}. Date: {date} (run started {when}).",
        "",
    ]
    if quick:
        lines += ["Quick mode (N = 1 and 100 only, few rounds).", ""]
    if table:
        lines += render_exact(table, percentile_costs(data))
    lines += population
    lines += render_other(data)
    lines += processes
    lines += [
        "Timings: *median time* is the wall time of one call, median over the rounds, after one untimed "
        "warm-up round; numba compilation happens before any timing.",
        "",
        f"Source: {source}. Regenerate with `python benchmarks/report.py` (see benchmarks/README.md).",
        "",
    ]
    return "\n".join(lines)


def render_exact(table: list[dict], alternating: list[str] | None = None) -> list[str]:
    lines = [
        "## Fixed parameters: troughs of a year (`test_bench_exact.py`)",
        "",
        "Workload: troughs of 365 daily 400 mg doses; CL/F and V/F log-normal (30 % CV) around 14.3 L/h and "
        "347 L, ka 0.609 1/h, no lag (Widmer 2006); seeded draw, outside the timed call.",
        "",
        "| case | N | median time | subject-doses/s | ratio vs scipy | rounds |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in table:
        ratio = format_ratio(r["ratio"])
        rate = format_rate(r["rate"]) if r["rate"] else "–"
        lines.append(f"| {r['case']} | {r['n']:,} | {format_time(r['median'])} | {rate} | {ratio} | {r['rounds']} |")
    subjects, seconds, scipy_rate, repeats = table[0]["scipy"]
    if scipy_rate:
        lines.append(
            f"| scipy solve_ivp LSODA, troughs (reference) | {subjects} | {format_time(seconds)} | "
            f"{format_rate(scipy_rate)} | 1× | {repeats} |"
        )
    with_summaries = {r["n"]: r["median"] for r in table if r["case"] == "simulate, troughs"}
    troughs_only = {r["n"]: r["median"] for r in table if r["case"].startswith("simulate, troughs only")}
    costs = [f"N = {n:,}: {with_summaries[n] / troughs_only[n]:.2f}×" for n in sorted(with_summaries) if n in troughs_only]
    lines += [
        "",
        "- *subject-doses/s*: N × 365 / median time. The hourly-grid case also fills 8 760 concentrations per subject.",
        *(
            ["- *cost of the default trough percentiles*: `simulate` with them over `simulate(..., quantiles=())`, "
             "same draw, the two calls timed alternately in one loop (ratio of the medians; "
             "`test_simulate_percentile_cost`): " + "; ".join(alternating) + ". From the two cases above (timed "
             "one after the other): " + ("; ".join(costs) if costs else "–") + "."]
            if alternating
            else ["- *cost of the default trough percentiles*: `simulate` with them over `simulate(..., quantiles=())`, "
                  "same draw: " + "; ".join(costs) + "."]
            if costs
            else []
        ),
        f"- *ratio vs scipy*: imapk's subject-doses/s over that of `scipy.integrate.solve_ivp` (LSODA, rtol 1e-8, "
        f"atol 1e-10 on amounts) integrating dose to dose for the first {subjects} subject(s) of the same draw, "
        "in the same process (median of the timed repeats, scaled per subject-dose). imapk's troughs are checked "
        "against scipy's (rtol 1e-6).",
        "- `simulate` is the public API (lowers the schedule and builds the xarray Dataset); `run_exact` is the "
        "engine driver on a lowered schedule.",
        "",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, extra = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="read this pytest-benchmark JSON instead of running the suite")
    parser.add_argument("--save-json", type=Path, help="when running the suite, keep its JSON here")
    parser.add_argument("--quick", action="store_true", help="run in quick mode (N = 1 and 100, few rounds)")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md", help="where to write (default: %(default)s)")
    args = parser.parse_args(argv)

    if args.json:
        json_path = args.json
        source = f"pytest-benchmark JSON `{args.json.name}`"
    else:
        json_path = args.save_json or Path(tempfile.mkdtemp(prefix="imapk-bench-")) / "benchmarks.json"
        run_suite(json_path, args.quick, extra)
        source = "`python benchmarks/report.py" + (" --quick" if args.quick else "") + "`"
    data = json.loads(json_path.read_text(encoding="utf-8"))
    text = render(data, source)
    args.output.write_text(text, encoding="utf-8")
    print(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
