"""The ``imapk`` command: parses arguments, calls the library, formats the answer.

Errors caused by input print one line, ``<file>: <key>: <problem> (got X; expected Y)``, to
stderr and exit with status 2. An unexpected internal error exits with status 1 and asks for a
bug report; ``--debug`` shows its traceback. Heavy imports (numba, xarray) happen inside the
command handlers, so ``imapk --help`` is fast.
"""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .errors import ImapkError

__all__ = ["main"]

EXIT_INPUT_ERROR = 2
EXIT_INTERNAL_ERROR = 1


def _run(args: argparse.Namespace) -> int:
    from .io import write_netcdf
    from .report import format_json, format_text, verdict
    from .scenario import load_scenario, run_scenario

    scenario = load_scenario(args.scenario)
    if args.output is not None and not args.output.endswith((".nc", ".nc4", ".netcdf")):
        raise ImapkError(
            "output file must be NetCDF", key="-o/--output", got=args.output, expected="a name ending in .nc"
        )
    ds = run_scenario(scenario)
    ds.attrs["history"] = f"imapk {__version__}: imapk run {args.scenario}" + (f" -o {args.output}" if args.output else "")
    summary = verdict(ds)
    if args.output is not None:
        write_netcdf(ds, args.output)
        summary["output"] = args.output
    print(format_json(summary) if args.format == "json" else format_text(summary))
    if args.output is not None and args.format == "text":
        print(f"\nResult written to {args.output}")
    if args.plot is not None:
        _save_plot(ds, args.plot)
        if args.format == "text":
            print(f"Plot written to {args.plot}")
    return 0


def _save_plot(ds, path: str) -> None:
    import os
    import tempfile

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io import set_default_permissions
    from .plot import plot_troughs

    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".png", ".pdf", ".svg"):
        raise ImapkError("plot file must be PNG, PDF or SVG", key="--plot", got=path, expected="a name ending in .png, .pdf or .svg")
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise ImapkError("the plot folder does not exist", source=path, got=folder)
    ax = plot_troughs(ds)
    handle, temporary = tempfile.mkstemp(prefix=".plot.", suffix=suffix, dir=folder)
    os.close(handle)
    try:
        ax.figure.savefig(temporary, dpi=120)
        set_default_permissions(temporary)
        os.replace(temporary, path)
    finally:
        plt.close(ax.figure)
        if os.path.exists(temporary):
            os.unlink(temporary)


def _validate(args: argparse.Namespace) -> int:
    from .scenario import load_scenario

    scenario = load_scenario(args.scenario)
    table = scenario.schedule.lower()
    held = int((table.status == 1).sum())
    missed = int((table.status == 2).sum())
    print(
        f"{args.scenario}: OK: {scenario.title}: {len(table)} scheduled doses over {table.end / 24:g} days "
        f"({held} held, {missed} missed), parameter set {scenario.parameter_set}, "
        f"{len(scenario.thresholds)} threshold(s)"
    )
    return 0


def _params(args: argparse.Namespace) -> int:
    from .parameter_sets import PARAMETER_SETS, get_parameter_set
    from .params import PARAMETER_UNITS

    if args.name:
        pset = get_parameter_set(args.name)
        print(f"{pset.name}: {pset.title}")
        print(f"Population: {pset.population}")
        print(f"Reference: {pset.citation}")
        for name, unit in PARAMETER_UNITS.items():
            value = getattr(pset.params, name)
            if value is not None:
                source = pset.confidence.get(name, "")
                print(f"  {name:5s} {value:10g} {unit:4s}  {source}")
        if pset.notes:
            print(f"Notes: {pset.notes}")
        return 0
    print(f"{'name':12s} {'CL/F L/h':>9s} {'V/F L':>7s} {'ka 1/h':>7s} {'D1 h':>5s}  reference")
    for pset in PARAMETER_SETS.values():
        p = pset.params
        ka = f"{p.ka:7.3f}" if p.ka is not None else f"{'-':>7s}"
        d1 = f"{p.d1:5.2f}" if p.d1 is not None else f"{'-':>5s}"
        print(f"{pset.name:12s} {p.cl:9.2f} {p.v:7.0f} {ka} {d1}  {pset.citation}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imapk",
        description="Imatinib plasma levels under real-world dosing: does the trough stay above the target?",
    )
    parser.add_argument("--version", action="version", version=f"imapk {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of internal errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a scenario and print the verdict per threshold")
    run.add_argument("scenario", help="scenario file (TOML)")
    run.add_argument("-o", "--output", help="write the result Dataset to this NetCDF file (atomically)")
    run.add_argument("--format", choices=("text", "json"), default="text", help="verdict format (default: text)")
    run.add_argument("--plot", metavar="FILE", help="draw the troughs and the concentration curve (PNG, PDF or SVG)")
    run.set_defaults(handler=_run)

    validate = commands.add_parser("validate", help="check a scenario file without running it")
    validate.add_argument("scenario", help="scenario file (TOML)")
    validate.set_defaults(handler=_validate)

    params = commands.add_parser("params", help="list the shipped parameter sets, or show one in full")
    params.add_argument("name", nargs="?", help="parameter set to show")
    params.set_defaults(handler=_params)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``imapk`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return args.handler(args)
    except ImapkError as error:
        print(f"imapk: error: {error}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        print("imapk: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the last line of defence for users
        if args.debug:
            raise
        print(
            f"imapk: internal error: {type(error).__name__}: {error}\n"
            "This is a bug in imapk; please report it with the command you ran (rerun with --debug for the traceback).",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
