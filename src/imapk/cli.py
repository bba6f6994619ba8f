"""The ``imapk`` command: parses arguments, calls the library, formats the answer.

Errors caused by input print one line, ``<file>: <key>: <problem> (got X; expected Y)``, to
stderr and exit with status 2. An unexpected internal error exits with status 1 and asks for a
bug report; ``--debug`` shows its traceback. Heavy imports (numba, xarray) happen inside the
command handlers, so ``imapk --help`` is fast.
"""

from __future__ import annotations

import argparse
import shutil
import sys

from . import __version__
from .errors import ImapkError

__all__ = ["main"]

EXIT_INPUT_ERROR = 2
EXIT_INTERNAL_ERROR = 1
#: `imapk rerun`: the new result differs from the recorded one.
EXIT_RERUN_DIFFERS = 3


#: Suffixes of each kind of output file.
NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf")
PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def check_output_path(
    path: str | None, *, key: str, suffixes: tuple[str, ...] | None, what: str, noun: str = "output"
) -> None:
    """Refuse an output path before any work starts: a wrong suffix (unless `suffixes` is None), an
    existing folder of that name, a folder that does not exist or that this process cannot write
    to. Nothing is created."""
    import os

    if path is None:
        return
    if suffixes is not None and not path.lower().endswith(suffixes):
        shown = {NETCDF_SUFFIXES: ".nc", PLOT_SUFFIXES: ".png, .pdf or .svg"}.get(suffixes, " or ".join(suffixes))
        raise ImapkError(f"{noun} file must be {what}", key=key, got=path, expected=f"a name ending in {shown}")
    if os.path.isdir(path):
        raise ImapkError(f"the {noun} names an existing folder", source=path, key=key, expected=f"a {what} file name")
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise ImapkError(f"the {noun} folder does not exist", source=path, key=key, got=folder)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ImapkError(f"the {noun} folder is not writable", source=path, key=key, got=folder)


def _run(args: argparse.Namespace) -> int:
    import json

    if args.scenario.lower().endswith(".csv") or args.model is not None:
        return _run_dataset(args)
    if args.units:
        raise ImapkError("declares the covariate units of a data set", key="--units", got=args.units[0],
                         expected="a data set (DATA.csv) with --model NAME")
    if args.threshold:
        raise ImapkError("applies to data sets; a scenario states its thresholds in [verdict]", key="--threshold",
                         got=args.threshold[0], expected="a data set (DATA.csv) with --model NAME")
    if args.time_variation is not None:
        raise ImapkError("applies to data sets; a scenario states its time variation in [model]",
                         key="--time-variation", got=args.time_variation, expected="a data set (DATA.csv) with --model NAME")

    from .io import write_netcdf
    from .report import format_comparison_text, format_json, format_text, key_doses, patient_table, verdicts, write_patient_csv
    from .runner import run_scenario
    from .scenario import load_scenario

    check_output_path(args.output, key="-o/--output", suffixes=NETCDF_SUFFIXES, what="NetCDF")
    check_output_path(args.plot, key="--plot", suffixes=PLOT_SUFFIXES, what="PNG, PDF or SVG", noun="plot")
    check_output_path(args.csv, key="--csv", suffixes=None, what="CSV", noun="CSV")
    if args.subject is not None and args.plot is None:
        raise ImapkError("--subject chooses whose curve --plot draws", key="--subject", got=args.subject,
                         expected="--plot FILE as well")
    scenario = load_scenario(args.scenario)
    if args.csv is not None and (len(scenario.models) > 1 or len(scenario.therapy_clocks) > 1):
        raise ImapkError("--csv writes the patients of one model under one therapy clock; this scenario compares "
                         "several", key="--csv", source=args.scenario,
                         expected="a scenario with one parameter set and one therapy clock")
    # Arrays only (no xarray import) unless a file or a plot is asked for: the verdict needs numbers.
    ds = run_scenario(scenario, method=args.method, as_dataset=args.output is not None or args.plot is not None)
    ds.attrs["history"] = (
        f"imapk {__version__}: imapk run {args.scenario}"
        + (f" --method {args.method}" if args.method else "")
        + (f" -o {args.output}" if args.output else "")
    )
    # What the command line changed from the scenario file (`imapk rerun` applies it again).
    ds.attrs["command_line_overrides"] = json.dumps({"method": args.method} if args.method else {})
    summary = verdicts(ds, days=tuple(args.day), patients=args.patients)
    if args.csv is not None:
        write_patient_csv(patient_table(ds, key_doses(ds, tuple(args.day))), args.csv)  # one model, one clock
        summary["patients_csv"] = args.csv
    if args.output is not None:
        write_netcdf(ds, args.output)
        summary["output"] = args.output
    if ds.attrs.get("dose_conversions"):
        summary["dose_conversions"] = ds.attrs["dose_conversions"]
    if args.format == "json":
        print(format_json(summary))
    else:
        print(format_comparison_text(summary) if "models" in summary else format_text(summary))
        if summary.get("dose_conversions"):
            print(f"\nDoses converted from imatinib mesylate to free base: {summary['dose_conversions']}")
    if args.output is not None and args.format == "text":
        print(f"\nResult written to {args.output}")
    if args.csv is not None and args.format == "text":
        print(f"Per-patient table written to {args.csv}")
    if args.plot is not None:
        _save_plot(ds, args.plot, args.subject)
        if args.format == "text":
            print(f"Plot written to {args.plot}")
    return 0


def _run_dataset(args: argparse.Namespace) -> int:
    """`imapk run DATA.csv --model NAME`: simulate a NONMEM-style data set with a model's typical values:
    per ID (every record type), and, when its IDs share a grid of doses, as a scenario's population (the
    verdict, percentiles and the result file of a scenario)."""
    import json

    from .dataset_doses import DataSetGridError
    from .dataset_runner import run_dataset
    from .dataset_simulation import simulate_dataset
    from .datasets import read_dataset

    if args.model is None:
        raise ImapkError("a data set is simulated with a shipped parameter set", key="--model", got=args.scenario,
                         expected="--model NAME (see `imapk params`)")
    for option, given in (("--plot", args.plot), ("--method", args.method), ("--subject", args.subject)):
        if given:
            raise ImapkError("applies to scenarios, not to data sets", key=option,
                             expected="--csv FILE for the predictions of a data set, -o FILE.nc for its result")
    check_output_path(args.csv, key="--csv", suffixes=None, what="CSV", noun="CSV")
    check_output_path(args.output, key="-o/--output", suffixes=NETCDF_SUFFIXES, what="NetCDF")
    from .thresholds import THRESHOLDS

    for name in args.threshold:  # before any work
        if name not in THRESHOLDS:
            raise ImapkError("unknown threshold", key="--threshold", got=name,
                             expected=f"one of {', '.join(sorted(THRESHOLDS))}")
    data = read_dataset(args.scenario, units=_covariate_units(args.units))
    time_variation = args.time_variation or "model"
    simulation = simulate_dataset(data, args.model, time_variation=time_variation)
    try:
        ds = run_dataset(data, args.model, thresholds=tuple(args.threshold), time_variation=time_variation,
                         as_dataset=args.output is not None)
        grid_reason = None
    except DataSetGridError as error:
        ds, grid_reason = None, str(error)
    if ds is None and (args.output or args.threshold or args.day or args.patients):
        option = next(o for o, v in (("-o/--output", args.output), ("--threshold", args.threshold),
                                     ("--day", args.day), ("--patients", args.patients)) if v)
        raise ImapkError("needs the data set's IDs on one grid of scheduled doses, and they are not: " + grid_reason,
                         key=option, expected="IDs dosing at one interval over one span (see `imapk.dataset_doses`)")
    summary = None
    if ds is not None:
        from .report import verdicts

        ds.attrs["history"] = f"imapk {__version__}: imapk run {args.scenario} --model {args.model}"
        summary = verdicts(ds, days=tuple(args.day), patients=args.patients)
    if args.csv is not None:
        simulation.write_csv(args.csv)
    if args.output is not None:
        from .io import write_netcdf

        write_netcdf(ds, args.output)
    if args.format == "json":
        header, rows = simulation.observation_rows()
        record = {"model": simulation.model, "data_set": args.scenario,
                  "observations": [dict(zip(header, row)) for row in rows]}
        if summary is not None:
            from .report import format_json

            record["population"] = json.loads(format_json(summary))
        else:
            record["population_not_simulated"] = grid_reason
        print(json.dumps(record, indent=2))
    else:
        print("\n".join(simulation.summary_lines()))
        if summary is not None:
            from .report import format_text

            interval = float(ds.attrs["data_set_grid_interval_h"])
            print(f"\nThe IDs as a population on one grid of doses (every {interval:g} h from each ID's first dose; "
                  "a grid dose without a record counts as missed):\n")
            print(format_text(summary))
        else:
            print(f"\n(Not simulated as a population on one grid of doses: {grid_reason}. The predictions above "
                  "are per ID.)")
        if args.csv is not None:
            print(f"Predictions written to {args.csv}")
        if args.output is not None:
            print(f"Result written to {args.output}")
    return 0


def _export(args: argparse.Namespace) -> int:
    """`imapk export SCENARIO -o DATA.csv`: write a scenario as a NONMEM-style data set."""
    from .datasets import write_dataset
    from .scenario import load_scenario

    check_output_path(args.output, key="-o/--output", suffixes=(".csv",), what="CSV", noun="data set")
    scenario = load_scenario(args.scenario)
    write_dataset(args.output, scenario, subjects=None if args.subjects is None else range(args.subjects))
    print(f"Data set written to {args.output}")
    return 0


def _covariate_units(items: list[str]) -> dict[str, str]:
    """``--units NAME=UNIT`` options as a mapping (a data set's covariate columns without a unit in their header)."""
    units = {}
    for item in items:
        name, separator, unit = item.partition("=")
        if not separator or not name.strip() or not unit.strip():
            raise ImapkError("a covariate unit is given as NAME=UNIT", key="--units", got=item, expected="e.g. weight=kg")
        units[name.strip()] = unit.strip()
    return units


def _tdm(args: argparse.Namespace) -> int:
    """`imapk tdm DATA.csv --model NAME [--target gist] [--hold DAYS --ladder 200,300 --budget N]`: each patient's
    MAP fit and next step and, with a hold or a ladder, the planner's answers from the patient's posterior."""
    from .tdm.command import tdm_report

    print(tdm_report(
        args.data, args.model, target=args.target, ceiling=args.ceiling, day=args.day, ids=args.id,
        units=_covariate_units(args.units), seed=args.seed, iov_cl=args.iov_cl, output=args.format,
        hold=args.hold, hold_start_day=args.hold_start_day, ladders=args.ladder or (), step_days=args.step_days,
        dose=args.dose, plan_days=args.plan_days, budget=args.budget, metric=args.metric, against=args.against,
        confidence=args.confidence,
    ))
    return 0


def _save_plot(ds, path: str, subject: str | None = None) -> None:
    """Draw what the result holds: a model comparison, a population's percentile fan, or one subject's
    curve (the one asked for with --subject, or the only one)."""
    from . import plot

    if subject is not None:
        index = _subject_index(ds, subject)
        one = ds.isel({dim: 0 for dim in ("model", "therapy_clock") if dim in ds.dims})
        _save_figure(lambda figure: plot.plot_troughs(one, subject=index, ax=figure), path, key="--plot")
    elif "model" in ds.dims:
        _save_figure(lambda figure: plot.plot_models(ds, ax=figure), path, key="--plot")
    elif ds.sizes.get("subject", 1) > 1:
        _save_figure(lambda figure: plot.plot_population(ds, ax=figure), path, key="--plot")
    else:
        one = ds.isel({dim: 0 for dim in ("therapy_clock",) if dim in ds.dims})
        _save_figure(lambda figure: plot.plot_troughs(one, ax=figure), path, key="--plot")


def _subject_index(ds, subject: str) -> int:
    """Position of the subject whose ID (the `subject` coordinate) reads as `subject`."""
    ids = [str(v) for v in ds["subject"].values]
    if subject not in ids:
        shown = ", ".join(ids[:10]) + (", ..." if len(ids) > 10 else "")
        raise ImapkError("no subject with this ID", key="--subject", got=subject, expected=f"one of {shown}")
    return ids.index(subject)


def _save_figure(draw, path: str, *, key: str) -> None:
    """Check `path`, call `draw(figure)` on a new matplotlib Figure and save it atomically.

    The Figure is drawn by the Agg renderer without pyplot (no backend is chosen, no figure manager
    kept), whatever backend the user's matplotlib is set to.
    """
    import os
    import tempfile

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .io import set_default_permissions

    suffix = os.path.splitext(path)[1].lower()
    check_output_path(path, key=key, suffixes=PLOT_SUFFIXES, what="PNG, PDF or SVG", noun="plot")
    folder = os.path.dirname(path) or "."
    figure = Figure()
    FigureCanvasAgg(figure)
    draw(figure)
    handle, temporary = tempfile.mkstemp(prefix=".plot.", suffix=suffix, dir=folder)
    os.close(handle)
    try:
        figure.savefig(temporary, dpi=120)
        set_default_permissions(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


PLOT_KINDS = ("troughs", "population", "models", "sweep")


def _plot(args: argparse.Namespace) -> int:
    import contextlib

    result = args.result.rstrip("/\\")
    if args.kind is not None and args.kind not in PLOT_KINDS:
        raise ImapkError("unknown plot kind", key="--kind", got=args.kind, expected=f"one of {', '.join(PLOT_KINDS)}")
    if result.endswith(".zarr"):
        kind = args.kind or "sweep"
        if kind != "sweep":
            raise ImapkError("a sweep store can only be drawn as a sweep", key="--kind", got=kind, expected="sweep")
        ds = _open_sweep_view(result)
        with contextlib.closing(ds):
            return _plot_result(args, result, ds, kind)
    elif result.endswith((".nc", ".nc4", ".netcdf")):
        from .io import read_netcdf_view

        # Numpy arrays read by name, without xarray (most of a second to import); closed on return.
        ds = read_netcdf_view(result)
        with contextlib.closing(ds):
            return _plot_result(args, result, ds)
    raise ImapkError(
        "cannot read this result", source=result,
        expected="a NetCDF file written by `imapk run -o` (.nc) or a sweep store written by `imapk sweep` (.zarr)",
    )


def _open_sweep_view(path: str):
    """The finished sweep store `path`, checked as :func:`imapk.sweep.open_sweep` checks it, as numpy
    arrays read by name without xarray (whose import, with dask's through xarray's array checks, takes
    most of a second); the xarray Dataset of open_sweep for a store that needs xarray's decoding."""
    from pathlib import Path

    from .io import read_zarr_view
    from .sweep import check_sweep_store, open_sweep

    store = Path(path)
    check_sweep_store(store)
    view = read_zarr_view(store)
    return open_sweep(store, verify=False, dask=False) if view is None else view


def _plot_result(args: argparse.Namespace, result: str, ds, kind: str | None = None) -> int:
    """Check the options against the result or sweep store `ds`, draw it and save the figure."""
    import os

    if kind is None:
        if args.kind == "sweep":
            raise ImapkError("only a sweep store can be drawn as a sweep", key="--kind", got=result, expected="a .zarr store written by `imapk sweep`")
        if args.kind is not None:
            kind = args.kind
        elif "model" in ds.dims:
            kind = "models"
        elif ds.sizes.get("subject", 1) > 1:
            kind = "population"
        else:
            kind = "troughs"
    if kind != "sweep":
        for option in ("x", "y", "day", "baseline"):
            if getattr(args, option):
                raise ImapkError(f"--{option} is only for sweeps", key=f"--{option}", got=getattr(args, option))
    baseline = {}
    for text in args.baseline:
        dim, sep, value = text.partition("=")
        if not sep or not dim.strip() or not value.strip():
            raise ImapkError("a baseline is DIM=VALUE", key="--baseline", got=text, expected="e.g. hold_length=3")
        baseline[dim.strip()] = value.strip()
    if kind == "models" and "model" not in ds.dims:
        raise ImapkError("the result has no model dimension", key="--kind", got=kind, expected="troughs or population")
    if args.threshold is not None and kind != "sweep":
        names = [str(t) for t in ds["threshold"].values] if "threshold" in ds.dims else []
        if args.threshold not in names:
            raise ImapkError("unknown threshold", key="--threshold", got=args.threshold, expected=f"one of {', '.join(names)}")
        ds = ds.isel(threshold=[names.index(args.threshold)])

    from . import plot

    def draw(figure):
        if kind == "sweep":
            plot.plot_sweep(ds, args.x, args.y, threshold=args.threshold, variable=args.variable,
                            day=args.day, baseline=baseline, ax=figure)
        elif kind == "models":
            plot.plot_models(ds, ax=figure)
        elif kind == "population":
            plot.plot_population(ds, ax=figure)
        else:
            plot.plot_troughs(ds.isel({dim: 0 for dim in ("model", "therapy_clock") if dim in ds.dims}), ax=figure)

    if kind == "sweep":  # check the dimensions and threshold before making a figure
        import json

        dims = json.loads(ds.attrs["swept_dimensions"])
        for option in ("x", "y"):
            dim = getattr(args, option)
            if dim is not None and dim not in dims:
                raise ImapkError("not a swept dimension", key=f"--{option}", got=dim, expected=f"one of {', '.join(dims)}")
        names = [str(t) for t in ds["threshold"].values]
        if args.threshold is not None and args.threshold not in names:
            raise ImapkError("unknown threshold", key="--threshold", got=args.threshold, expected=f"one of {', '.join(names)}")
    _save_figure(draw, args.output, key="-o/--output")
    print(f"{kind} plot of {os.path.basename(result)} written to {args.output}")
    return 0


def _is_sweep(path: str) -> bool:
    """True for a TOML file with a [sweep] table (checked cheaply, before any validation)."""
    import tomllib

    from .files import SCENARIO_MAX_BYTES, check_input_file

    try:
        check_input_file(path, "scenario file", SCENARIO_MAX_BYTES)  # no wait on a FIFO, no huge read
        with open(path, "rb") as handle:
            return "sweep" in tomllib.load(handle)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ImapkError, RecursionError):
        return False  # the scenario loader gives the proper error


def _sweep(args: argparse.Namespace) -> int:
    import time

    from .sweep import load_sweep, run_sweep

    sweep = load_sweep(args.sweep)
    start = time.perf_counter()
    cells = 1
    for n in sweep.shape:
        cells *= n
    print(f"{args.sweep}: {cells} cells ({' x '.join(f'{d} {n}' for d, n in zip(sweep.dims, sweep.shape))})", file=sys.stderr)
    result = run_sweep(
        sweep, args.output, scheduler=args.scheduler, workers=args.workers, processes=args.processes,
        progress=None if not args.quiet else False,
    )
    seconds = time.perf_counter() - start
    if result["chunks"] == 0:
        print(f"{args.output}: already complete; nothing to do")
    else:
        print(
            f"{args.output}: complete: {result['computed']} chunks computed, {result['skipped']} found done "
            f"from an earlier run, {seconds:.1f} s"
        )
    return 0


def _summarize(args: argparse.Namespace) -> int:
    from .sweep import header_with_units, open_sweep, summary_table, summary_units

    check_output_path(args.csv, key="--csv", suffixes=None, what="CSV", noun="CSV")
    ds = open_sweep(args.store, dask=False)
    rows = summary_table(ds, days=tuple(args.day))
    if args.csv:
        from .io import write_csv

        if args.csv_header == "names":
            print("imapk summarize: --csv-header names is deprecated and will be removed in a later release; "
                  "read the columns by the name before ' [' (see CHANGELOG.md)", file=sys.stderr)
            header = list(rows[0])
        else:
            header = header_with_units(summary_units(ds, rows))
        write_csv(args.csv, header, ([row[c] for c in rows[0]] for row in rows))
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(_cell(r[c])) for r in rows)) for c in columns}
    print("  ".join(f"{c:>{widths[c]}s}" for c in columns))
    for row in rows:
        print("  ".join(f"{_cell(row[c]):>{widths[c]}s}" for c in columns))
    if args.csv:
        print(f"\nTable written to {args.csv}")
    return 0


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _rerun(args: argparse.Namespace) -> int:
    from .io import read_netcdf, write_netcdf
    from .runner import rerun

    check_output_path(args.output, key="-o/--output", suffixes=NETCDF_SUFFIXES, what="NetCDF")
    original = read_netcdf(args.result)
    ds = rerun(original)
    if args.output is not None:
        ds.attrs["history"] = f"imapk {__version__}: imapk rerun {args.result} -o {args.output}"
        write_netcdf(ds, args.output)
    # Compare what the record holds, and say what it does not (a result without a dense curve has none).
    compared, differ = [], []
    for name, words in (("trough", "troughs"), ("concentration", "concentration curve")):
        if name not in original or original[name].size == 0:
            continue
        compared.append(words)
        if not (name in ds and ds[name].shape == original[name].shape and bool((ds[name] == original[name]).all())):
            differ.append(words)
    what = " and ".join(compared) or "nothing to compare"
    verdict = f"{what}: {'DIFFER' if differ else 'identical bit for bit'}" + (f" ({', '.join(differ)})" if differ else "")
    where = f"{args.output}: rerun of {args.result} written" if args.output is not None else f"{args.result}: rerun (nothing written)"
    print(f"{where}; {verdict}")
    return EXIT_RERUN_DIFFERS if differ else 0


def _compare(args: argparse.Namespace) -> int:
    from .counterfactual import compare, format_comparison, labels_for
    from .report import format_json
    from .runner import run_scenario
    from .scenario import load_scenario

    scenarios = [load_scenario(path) for path in args.scenarios]
    labels = labels_for([scenario.title for scenario in scenarios], args.scenarios)
    results = {label: run_scenario(scenario, method=args.method) for label, scenario in zip(labels, scenarios)}
    summary = compare(results)
    print(format_json(summary) if args.format == "json" else format_comparison(summary))
    return 0


def _validate(args: argparse.Namespace) -> int:
    from .runner import check_population
    from .scenario import load_scenario

    if _is_sweep(args.scenario):
        from .sweep import load_sweep

        sweep = load_sweep(args.scenario)
        cells = 1
        for n in sweep.shape:
            cells *= n
        print(
            f"{args.scenario}: OK: sweep of {cells} cells "
            f"({' x '.join(f'{d} {n}' for d, n in zip(sweep.dims, sweep.shape))}), every cell validated"
        )
        return 0
    scenario = load_scenario(args.scenario)
    table = scenario.schedule.lower()
    held = int((table.status == 1).sum())
    missed = int((table.status == 2).sum())
    subjects = check_population(scenario)  # the covariate file and the models' covariate equations too
    print(
        f"{args.scenario}: OK: {scenario.title}: {len(table)} scheduled doses over {table.end / 24:g} days "
        f"({held} held, {missed} missed), parameter set {scenario.parameter_set}, "
        f"{subjects} subject(s), {len(scenario.thresholds)} threshold(s)"
    )
    for line in _random_dosing_lines(scenario):
        print(f"  {line}")
    for line in scenario.dose_conversions:
        print(f"  dose converted: {line}")
    if args.schedule:
        from .report import format_schedule

        print(format_schedule(table))
    return 0


def _random_dosing_lines(scenario) -> list[str]:
    """What `validate` says about the scenario's random dosing processes and policies (the counts above
    are the schedule as written; each patient's own doses are drawn at run time)."""
    lines = []
    a = scenario.adherence
    if a is not None:
        level = f", adherence level beta(mean {a.level.mean:g}, sd {a.level.sd:g}) per patient" if a.level else ""
        if type(a).__name__ == "MarkovMisses":
            chain = "" if a.level else f"P(take | took) {a.p_remain_adherent:g}, "
            lines.append(f"drawn per patient: missed doses in runs (Markov: {chain}"
                         f"P(take | missed) {a.p_become_adherent:g}, start {a.start}{level})")
        else:
            lines.append("drawn per patient: missed doses, each independently"
                         + (f" with probability {a.p_missed:g}" if not a.level else level))
    t = scenario.toxicity
    if t is not None:
        what = "events without interruption (steroids)" if t.management == "steroids" else "holds"
        lines.append(f"drawn per patient: {t.label} {what} (first event Weibull scale {t.first.scale:.4g} d, shape "
                     f"{t.first.shape:g}"
                     + (f"; recurrence scale {t.recurrence.scale:.4g} d" if t.recurrence else "; no recurrence")
                     + (f"; discontinued at event {t.discontinue_after}" if t.discontinue_after else "") + ")")
    for policy in scenario.policies:
        lines.append(f"policy: {policy.label}")
    return lines


def _params(args: argparse.Namespace) -> int:
    import math

    from .covariates import COVARIATES, REFERENCE_SUBJECT
    from .models import MODELS, get_model
    from .params import ALL_PARAMETER_UNITS

    if args.name:
        from .model_summary import covariate_equations

        model = get_model(args.name)
        width = max(60, shutil.get_terminal_size((100, 24)).columns - 1)

        def say(text: str = "") -> None:
            """Print, wrapping a long line to the terminal, indented under its label."""
            import textwrap

            label = text[: text.index(": ") + 2] if ": " in text[:30] and not text.startswith(" ") else ""
            indent = " " * (len(label) if label else len(text) - len(text.lstrip()) + 2)
            print(textwrap.fill(text, width, subsequent_indent=indent, break_on_hyphens=False) if len(text) > width else text)

        say(f"{model.name}: {model.title}")
        say(f"Reference:  {model.citation}")
        say(f"Population: {model.population}")
        if model.covariates:
            ranges = ", ".join(
                f"{name} {low:g}-{high:g} {COVARIATES[name].unit}" for name, (low, high) in model.fitted_ranges.items()
            )
            say(f"Covariates: {', '.join(model.covariates)}" + (f" (fitted on {ranges})" if ranges else ""))
            equations = covariate_equations(model)
            if equations:
                units = ", ".join(f"{name} in {COVARIATES[name].unit}" for name in model.covariates if COVARIATES[name].unit)
                say(f"Covariate equations (imapk's code; {units}; CL in L/h, V in L):")
                for line in equations:
                    say(f"  {line}")
        say(f"Structure:  {_structure(model)}")
        from .population import occasion_onset_days

        onsets = occasion_onset_days(model, "fit")
        occasions = [0, *range(1, len(model.occasion_days) + 1)]
        for occasion in occasions:
            when = "" if not model.occasion_days else (
                " (occasion 1: day 1)" if occasion == 0 else
                f" (occasion {occasion + 1}: fitted on day-{model.occasion_days[occasion - 1]} samples; in force from "
                f"day {onsets[occasion - 1]} under the default occasion timing 'fit')"
            )
            say(f"Typical values for the reference subject{when}:")
            typical = model.typical_params(REFERENCE_SUBJECT, occasion)
            for name, unit in ALL_PARAMETER_UNITS.items():
                value = getattr(typical, name)
                if value is not None:
                    say(f"  {name:5s} {value:10.4g} {unit:4s}  {model.confidence.get(name, '')}")
        if model.iiv_parameters:
            say("IIV (variance-covariance of eta, log scale):")
            matrix = model.omega_matrix
            for i, name in enumerate(model.iiv_parameters):
                row = "  ".join(f"{x:8.4f}" for x in matrix[i])
                say(f"  {name:5s} {row}    (SD {math.sqrt(matrix[i, i]):.3f})")
            say(f"  {model.omega_note}")
        else:
            say("IIV: none")
        say(f"Residual error: {model.residual.describe()}")
        if model.reference_trough:
            say(f"Reference trough at 400 mg q24h: {model.reference_trough[0]:g} ng/mL ({model.reference_trough[1]})")
        _typical_troughs(model, say)
        if model.notes:
            say(f"Notes: {model.notes}")
        return 0
    print("Typical values for the reference subject (70 kg, 55 y, male, GIST; `imapk params NAME` for details)")
    print(f"{'name':22s} {'CL/F L/h':>8s} {'V/F L':>6s} {'input':>13s} {'omega CL':>8s}  population")
    for model in sorted(MODELS.values(), key=lambda m: (m.variant_of or m.name, m.variant_of is not None)):
        p = model.typical_params(REFERENCE_SUBJECT)
        entry = f"ka {p.ka:.3g} 1/h" if p.ka is not None else f"D1 {p.d1:.3g} h"
        iiv = (
            f"{math.sqrt(model.omega_matrix[model.iiv_parameters.index('cl'), model.iiv_parameters.index('cl')]) * 100:5.1f}%"
            if "cl" in model.iiv_parameters else "-"
        )
        print(f"{model.name:22s} {p.cl:8.2f} {p.v:6.0f} {entry:>13s} {iiv:>8s}  {model.population}")
        print(f"{'':22s} {_structure(model)}" + (f"; a variant of {model.variant_of}" if model.variant_of else ""))
        print(f"{'':22s} {model.citation}")
    return 0


def _structure(model) -> str:
    """One line: compartments, input, transit chain, time variation."""
    from .covariates import REFERENCE_SUBJECT

    p = model.typical_params(REFERENCE_SUBJECT)
    parts = ["two compartments" if p.q is not None else "one compartment"]
    if p.n_transit:
        parts.append(f"a chain of {p.n_transit} transit compartments (ktr) ahead of")
    parts.append("first-order absorption" if p.ka is not None else "zero-order input")
    if p.tlag:
        parts.append("with a lag")
    text = ", ".join(parts[:1]) + "; " + " ".join(parts[1:])
    if model.time_variation.needs_ode:
        text += "; rates that change with time on therapy (ODE path)"
    return text


def _typical_troughs(model, say=print) -> None:
    """The typical plateau trough, the day-29 trough under each occasion timing, and the variants
    (each line given to `say`)."""
    from .model_summary import occasion_timing_troughs, typical_trough, variant_differences

    say(f"Typical trough at 400 mg q24h, reference subject: {typical_trough(model):.1f} ng/mL at the plateau")
    timings = occasion_timing_troughs(model)
    if timings:
        plateau = timings.pop("plateau")
        listed = ", ".join(f"{name} {value:.1f}" for name, value in timings.items())
        say(f"  day-29 trough by occasion timing ([model] occasion_timing): {listed} ng/mL "
              f"(the second occasion's steady state: {plateau:.1f}; 'fit' is the default)")
    for difference in variant_differences(model):
        say(f"  variant {difference.name}: {difference.trough:.1f} vs {difference.main_trough:.1f} ng/mL for "
              f"{difference.main} ({difference.relative * 100:+.1f} %)")


def _positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1 (got {text!r})")
    return value


def _parse_ladder(text: str) -> tuple[tuple[float, float], ...]:
    """'200x7,300x56' -> ((200.0, 7.0), (300.0, 56.0)); '' is a direct restart at the prescribed dose."""
    steps = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        dose, sep, days = part.partition("x")
        try:
            steps.append((float(dose), float(days)))
            if not sep or float(dose) < 0 or float(days) <= 0:
                raise ValueError
        except ValueError:
            raise ImapkError(
                "cannot read this ladder step", key="--ladder", got=part, expected="dose mg x days, e.g. '200x7'"
            ) from None
    return tuple(steps)


def _plan(args: argparse.Namespace) -> int:
    from .planner import format_plan, plan, planned_hold
    from .report import format_json
    from .scenario import load_scenario

    scenario = load_scenario(args.scenario)
    if args.confidence is not None and not 0.0 < args.confidence <= 1.0:
        raise ImapkError("confidence must be a fraction of subjects", key="--confidence", got=args.confidence, expected="0 < Q <= 1")
    if args.budget < 0:
        raise ImapkError("the budget must be >= 0", key="--budget", got=args.budget)
    if not 0.0 < args.recovery_fraction <= 1.0:
        raise ImapkError("the recovery fraction must be a fraction of the own trough", key="--recovery-fraction",
                         got=args.recovery_fraction, expected="0 < F <= 1")
    index = planned_hold(scenario, args.hold)
    ladders = None
    if args.ladder or args.generate_ladders:
        from .planner import generate_ladders

        ladders = [scenario.schedule.holds[index].restart] + [_parse_ladder(text) for text in args.ladder or []]
        if args.generate_ladders:
            ladders += generate_ladders()  # duplicates are merged by compare_ladders, with a note
    report = plan(
        scenario, budget_days=args.budget, confidence=args.confidence, ladders=ladders, hold=index,
        metric=args.metric, against=args.against, level=args.recovery_to, fraction=args.recovery_fraction,
    )
    print(format_json(report) if args.format == "json" else format_plan(report))
    return 0


#: `imapk selftest`: at least one validation case failed.
EXIT_SELFTEST_FAILED = 4
#: Suffixes of the selftest's HTML report.
HTML_SUFFIXES = (".html", ".htm")


def _selftest(args: argparse.Namespace) -> int:
    """`imapk selftest`: run the validation cases on this installation; exit 4 naming any failure."""
    check_output_path(args.output, key="-o/--output", suffixes=HTML_SUFFIXES, what="HTML", noun="report")
    from .selftest import run_selftest
    from .selftest.report import format_json, format_text, write_html

    report = run_selftest(prewarm=True)
    if args.output is not None:
        write_html(report, args.output)
    if args.format == "json":
        print(format_json(report))
    else:
        print(format_text(report, verbose=args.verbose))
        if args.output is not None:
            print(f"Report written to {args.output}")
    if report.failed:
        print("imapk: selftest FAILED: " + ", ".join(result.case.name for result in report.failed), file=sys.stderr)
        return EXIT_SELFTEST_FAILED
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imapk",
        description="Imatinib plasma levels under real-world dosing: does the trough stay above the target?",
    )
    parser.add_argument("--version", action="version", version=f"imapk {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of internal errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a scenario and print the verdict per threshold, or simulate a data set")
    run.add_argument("scenario", help="scenario file (TOML), or a NONMEM-style data set (DATA.csv, with --model)")
    run.add_argument("--model", metavar="NAME",
                     help="with a data set: the shipped parameter set whose typical values simulate each ID")
    run.add_argument("--units", metavar="NAME=UNIT", action="append", default=[],
                     help="with a data set: the unit of a covariate column whose header has none (e.g. weight=kg; "
                     "may be given several times)")
    run.add_argument("--time-variation", choices=("model", "none"), default=None,
                     help="with a data set: 'none' simulates the model without its time-on-therapy factors "
                     "(eechoute2012: ka 0.699 1/h, F 1, the values reached after months); by default ('model') a model "
                     "whose rates change with time on therapy is refused")
    run.add_argument("--threshold", action="append", default=[], metavar="NAME",
                     help="with a data set: judge its IDs against this shipped threshold (gist, cml, toxicity_alarm; "
                     "may be given several times); a scenario states its thresholds in [verdict]")
    run.add_argument("-o", "--output", help="write the result Dataset to this NetCDF file (atomically)")
    run.add_argument("--format", choices=("text", "json"), default="text", help="verdict format (default: text)")
    run.add_argument(
        "--method", choices=("exact", "ode"), help="engine, overriding the scenario's [solver] method"
    )
    run.add_argument("--plot", metavar="FILE", help="draw the troughs and the concentration curve (PNG, PDF or SVG)")
    run.add_argument(
        "--day", metavar="N", type=_positive_int, action="append", default=[],
        help="also report the troughs (percentiles, target attainment) on clinical day N: the trough before "
        "that day's first dose (may be given several times)",
    )
    run.add_argument(
        "--patients", action="store_true",
        help="print one row per patient (shown anyway for small populations, up to 20; one therapy clock)",
    )
    run.add_argument("--csv", metavar="FILE", help="write the per-patient table as CSV (header: name [unit])")
    run.add_argument(
        "--subject", metavar="ID",
        help="with --plot: draw this subject's curve and troughs (default for a population: the percentile fan)",
    )
    run.set_defaults(handler=_run)

    sweep = commands.add_parser("sweep", help="run a parameter sweep into a chunked Zarr store (resumable)")
    sweep.add_argument("sweep", help="sweep file (TOML with a [sweep] table)")
    sweep.add_argument("-o", "--output", required=True, help="Zarr store to write (a folder ending in .zarr)")
    sweep.add_argument("--scheduler", metavar="ADDRESS", help="address of an existing dask.distributed scheduler")
    sweep.add_argument("--workers", type=_positive_int, help="local workers (default: the machine's cores)")
    sweep.add_argument("--processes", action="store_true", help="local processes instead of threads")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.set_defaults(handler=_sweep)

    summarize = commands.add_parser("summarize", help="print the per-cell summary of a finished sweep")
    summarize.add_argument("store", help="Zarr store written by `imapk sweep`")
    summarize.add_argument("--csv", metavar="FILE", help="also write the table as CSV (header: name [unit])")
    summarize.add_argument(
        "--csv-header", choices=("units", "names"), default="units",
        help="CSV header cells: 'name [unit]' (default) or the bare names written before units were added "
        "(deprecated)",
    )
    summarize.add_argument(
        "--day", metavar="N", type=_positive_int, action="append", default=[],
        help="also report each cell on clinical day N: attainment, exceedance and median trough of the trough "
        "before that day's first dose (may be given several times)",
    )
    summarize.set_defaults(handler=_summarize)

    plot = commands.add_parser(
        "plot", help="draw a result (troughs, population fan and PTA, models) or a sweep (heat map)"
    )
    plot.add_argument("result", help="NetCDF result of `imapk run -o` (.nc) or sweep store of `imapk sweep` (.zarr)")
    plot.add_argument("-o", "--output", required=True, metavar="FIG", help="figure to write (PNG, PDF or SVG; atomically)")
    plot.add_argument(
        "--kind", metavar="KIND",
        help=f"one of {', '.join(PLOT_KINDS)} (default: sweep for a store, models for a model comparison, "
        "population for more than one subject, else troughs)",
    )
    plot.add_argument("--x", metavar="DIM", help="sweep: swept dimension along the x axis (default: the first)")
    plot.add_argument("--y", metavar="DIM", help="sweep: swept dimension along the y axis (default: the second)")
    plot.add_argument("--threshold", metavar="NAME", help="threshold to draw (default: all; sweep: the first trough target)")
    plot.add_argument(
        "--day", metavar="N", type=_positive_int,
        help="sweep: read the attainment or exceedance on clinical day N (the trough before its first dose) "
        "instead of at each cell's last dose",
    )
    plot.add_argument(
        "--baseline", metavar="DIM=VALUE", action="append", default=[],
        help="sweep: map each cell's change against the cell with this value of a mapped dimension "
        "(e.g. hold_length=3; repeatable, one per axis)",
    )
    plot.add_argument(
        "--variable", choices=("mean_time_below", "mean_time_above", "target_attainment", "trough_ceiling_exceedance",
                               "mean_held_doses", "mean_missed_doses", "fraction_toxicity_event",
                               "fraction_discontinued", "fraction_escalated"),
        help="sweep: what to map (default: the wrong side of the threshold's kind: mean_time_below for a trough "
        "target, trough_ceiling_exceedance for a trough ceiling, mean_time_above for a concentration ceiling; "
        "for a sweep whose scenarios draw doses at random also mean_held_doses, mean_missed_doses [doses per "
        "patient], fraction_toxicity_event, fraction_discontinued, fraction_escalated [%%])",
    )
    plot.set_defaults(handler=_plot)

    compare = commands.add_parser(
        "compare", help="compare schedules on the same subjects: per-subject differences against the first"
    )
    compare.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="reference scenario, then alternatives")
    compare.add_argument("--method", choices=("exact", "ode"), help="engine, overriding the scenarios' [solver]")
    compare.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    compare.set_defaults(handler=_compare)

    rerun = commands.add_parser("rerun", help="run again the scenario recorded in a result, from the record alone")
    rerun.add_argument("result", help="NetCDF result written by `imapk run -o`")
    rerun.add_argument(
        "-o", "--output",
        help="NetCDF file for the new result (without it, nothing is written: the rerun is only compared; "
        "exit status 3 if troughs or curve differ)",
    )
    rerun.set_defaults(handler=_rerun)

    validate = commands.add_parser("validate", help="check a scenario (or sweep) file without running it")
    validate.add_argument("scenario", help="scenario file (TOML)")
    validate.add_argument(
        "--schedule", action="store_true",
        help="also print the resolved schedule day by day: phases, holds, ladder steps, planned and given amounts",
    )
    validate.set_defaults(handler=_validate)

    params = commands.add_parser("params", help="list the shipped parameter sets, or show one in full")
    params.add_argument("name", nargs="?", help="parameter set to show")
    params.set_defaults(handler=_params)

    plan = commands.add_parser(
        "plan", help="plan a scenario's hold: longest hold within a budget, doses to target, ladders compared"
    )
    plan.add_argument("scenario", help="scenario file (TOML) with one or more holds")
    plan.add_argument(
        "--hold", type=int, metavar="INDEX",
        help="which [[schedule.holds]] entry to plan, 0 for the first (default: the last to start); the others stay as written",
    )
    plan.add_argument(
        "--budget", type=float, default=7.0, metavar="N",
        help="cost allowed for the hold itself: days below target (default: 7), or troughs with --metric troughs_below",
    )
    plan.add_argument(
        "--metric", choices=("time_below", "troughs_below", "recovery"), default="time_below",
        help="what the budget counts: days below target, missed troughs, or days to recovery",
    )
    plan.add_argument(
        "--against", choices=("ladder", "continuous"), default="ladder",
        help="cost of the hold itself, against the same ladder without it (default), or of hold and ladder together",
    )
    plan.add_argument(
        "--recovery-to", choices=("target", "steady_state"), default="target",
        help="recovery to the target, or to a fraction of each patient's own trough without the hold",
    )
    plan.add_argument(
        "--recovery-fraction", type=float, default=0.9, metavar="F",
        help="fraction of the own trough for --recovery-to steady_state (default: 0.9)",
    )
    plan.add_argument(
        "--confidence", type=float, metavar="Q",
        help="fraction of subjects the answers must hold for (default: 0.9; 1 for a single subject)",
    )
    plan.add_argument(
        "--ladder", action="append", metavar="STEPS",
        help="candidate ladder as dose mg x days steps, e.g. '200x7,300x56' ('' for a direct restart); repeatable",
    )
    plan.add_argument(
        "--generate-ladders", action="store_true",
        help="also compare ladders generated from 100/400 mg tablets and 7/14-day steps",
    )
    plan.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    plan.set_defaults(handler=_plan)

    export = commands.add_parser("export", help="write a scenario as a NONMEM-style data set (CSV)")
    export.add_argument("scenario", help="scenario file (TOML)")
    export.add_argument("-o", "--output", required=True, help="data set to write (CSV, atomically)")
    export.add_argument("--subjects", metavar="N", type=_positive_int,
                        help="write the first N subjects of the population (default: all)")
    export.set_defaults(handler=_export)

    tdm = commands.add_parser("tdm", help="fit each patient's measured levels (MAP) and plan the next dose")
    tdm.add_argument("data", help="NONMEM-style data set (CSV) with the doses and measured levels")
    tdm.add_argument("--model", required=True, help="parameter set (see `imapk params`)")
    tdm.add_argument("--target", default="gist", help="trough target: gist, cml or a value in ng/mL (default: gist)")
    tdm.add_argument("--ceiling", default="toxicity_alarm", help="trough ceiling: a name, a value in ng/mL or none")
    tdm.add_argument("--day", type=_positive_int, help="also the trough on this day of the new step")
    tdm.add_argument("--id", action="append", help="only this patient ID (repeatable)")
    tdm.add_argument("--units", action="append", default=[], metavar="NAME=UNIT", help="unit of a covariate column")
    tdm.add_argument("--seed", type=int, default=0, help="seed of the posterior samples (default: 0)")
    tdm.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    tdm.add_argument("--iov-cl", type=float, default=0.0, metavar="SD",
                     help="inter-occasion variability on CL per dose interval in the fits (log-scale SD; default: 0, none)")
    tdm.add_argument("--hold", type=float, metavar="DAYS",
                     help="plan a hold of DAYS days from each patient's posterior: longest hold within --budget, doses "
                     "until the trough is back at target, ladders compared")
    tdm.add_argument("--hold-start-day", type=_positive_int, default=1, metavar="N",
                     help="day of the plan the hold starts; day 1 starts after the last dose in the data (default: 1)")
    tdm.add_argument("--ladder", action="append", metavar="STEPS",
                     help="ladder after the hold: doses in mg, each for --step-days ('200,300'), dose x days "
                     "('200x7,300x14') or 'direct'; the first follows the planned hold, all are compared with a direct "
                     "restart; repeatable")
    tdm.add_argument("--step-days", type=float, default=7.0, metavar="D",
                     help="days of each ladder step given as a bare dose (default: 7)")
    tdm.add_argument("--dose", type=float, metavar="MG",
                     help="prescription after the ladder (default: the patient's last dose)")
    tdm.add_argument("--plan-days", type=float, metavar="D",
                     help="length of the planned future (default: hold + ladder + 28 days)")
    tdm.add_argument("--budget", type=float, default=7.0, metavar="N",
                     help="cost allowed for the hold itself: days below target (default: 7), or troughs with "
                     "--metric troughs_below")
    tdm.add_argument("--metric", choices=("time_below", "troughs_below", "recovery"), default="time_below",
                     help="what the budget counts: days below target, missed troughs, or days to recovery")
    tdm.add_argument("--against", choices=("ladder", "continuous"), default="ladder",
                     help="cost of the hold itself, against the same ladder without it (default), or of hold and "
                     "ladder together")
    tdm.add_argument("--confidence", type=float, default=0.9, metavar="Q",
                     help="posterior probability the planner's answers must hold with (default: 0.9)")
    tdm.set_defaults(handler=_tdm)

    selftest = commands.add_parser(
        "selftest", help="run the validation cases against independent references on this installation",
        description="Run imapk's validation cases (superposition sums, scipy solve_ivp, two-compartment closed forms, "
        "published and independently computed typical troughs, NONMEM data-set semantics, model properties) and "
        "report each case's reference, tolerance and observed error. Exit 0 when every case passes, 4 otherwise "
        "(the failing cases are named on stderr).")
    selftest.add_argument("-o", "--output", metavar="REPORT.html", help="also write the full report as a self-contained HTML page")
    selftest.add_argument("--format", choices=("text", "json"), default="text", help="summary on stdout (default: text)")
    selftest.add_argument("-v", "--verbose", action="store_true", help="list every case in the text summary, not only failures")
    selftest.set_defaults(handler=_selftest)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``imapk`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    import warnings

    previous = warnings.formatwarning
    if not args.debug:  # one line per warning, like the errors (not the source line that warned)
        warnings.formatwarning = lambda message, category, *_, **__: f"imapk: warning: {message}\n"
    try:
        return args.handler(args)
    except ImapkError as error:
        print(f"imapk: error: {error}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        print("imapk: interrupted (rerun the same command to resume a sweep)", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `imapk summarize ... | head`: the reader left, not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:
        if args.debug:
            raise
        print(
            f"imapk: internal error: {type(error).__name__}: {error}\n"
            "This is a bug in imapk; please report it with the command you ran (rerun with --debug for the traceback).",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR
    finally:
        warnings.formatwarning = previous


if __name__ == "__main__":
    sys.exit(main())
