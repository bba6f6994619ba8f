"""Run the imapk benchmarks (or read their pytest-benchmark JSON) and write benchmarks/RESULTS.md.

Usage (from the repository root)::

    python benchmarks/report.py                      # run the full suite, write RESULTS.md
    python benchmarks/report.py --quick              # N = 1 and 100 only, few rounds
    python benchmarks/report.py --json out.json      # no run: tabulate an existing --benchmark-json
    python benchmarks/report.py -- -k run_exact      # extra arguments after -- go to pytest

The table has, per case and N: the median wall time of one call, the subject-doses simulated per
second (N x 365 doses / median) and the ratio of that rate to scipy's solve_ivp (LSODA) rate
measured in the same process.
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
    return (
        f"{machine.get('imapk_cpu_model', 'unknown CPU')}, {core_text}; "
        f"Python {machine.get('imapk_python', platform.python_version())}, "
        f"numpy {machine.get('imapk_numpy', '?')}, numba {machine.get('imapk_numba', '?')}, "
        f"scipy {machine.get('imapk_scipy', '?')}"
    )


def rows(data: dict) -> list[dict]:
    out = []
    for bench in data.get("benchmarks", []):
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


def render(data: dict, source: str) -> str:
    table = rows(data)
    if not table:
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
        f"Workload: troughs of 365 daily 400 mg doses; CL/F and V/F log-normal (30 % CV) around 14.3 L/h and "
        f"347 L, ka 0.609 1/h, no lag (Widmer 2006); seeded draw.{' Quick mode (N = 1 and 100, few rounds).' if quick else ''}",
        "",
        "| case | N | median time | subject-doses/s | ratio vs scipy | rounds |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in table:
        ratio = f"{r['ratio']:,.0f}×" if r["ratio"] and r["ratio"] >= 10 else (f"{r['ratio']:.2f}×" if r["ratio"] else "–")
        rate = format_rate(r["rate"]) if r["rate"] else "–"
        lines.append(f"| {r['case']} | {r['n']:,} | {format_time(r['median'])} | {rate} | {ratio} | {r['rounds']} |")
    subjects, seconds, scipy_rate, repeats = table[0]["scipy"]
    if scipy_rate:
        lines.append(
            f"| scipy solve_ivp LSODA, troughs (reference) | {subjects} | {format_time(seconds)} | "
            f"{format_rate(scipy_rate)} | 1× | {repeats} |"
        )
    lines += [
        "",
        "- *median time*: wall time of one call, median over the rounds (after one untimed warm-up round; "
        "numba compilation happens before any timing).",
        "- *subject-doses/s*: N × 365 / median time. The hourly-grid case also fills 8 760 concentrations per subject.",
        f"- *ratio vs scipy*: imapk's subject-doses/s over that of `scipy.integrate.solve_ivp` (LSODA, rtol 1e-8, "
        f"atol 1e-10 on amounts) integrating dose to dose for the first {subjects} subject(s) of the same draw, "
        "in the same process (median of the timed repeats, scaled per subject-dose). imapk's troughs are checked "
        "against scipy's (rtol 1e-6).",
        "- `simulate` is the public API (lowers the schedule and builds the xarray Dataset); `run_exact` is the "
        "engine driver on a lowered schedule.",
        "",
        f"Source: {source}. Regenerate with `python benchmarks/report.py` (see benchmarks/README.md).",
        "",
    ]
    return "\n".join(lines)


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
