"""Write ``reference/cli.md``: every command of ``imapk``, with its arguments, defaults and help, read from
the argument parser itself (``imapk.cli._parser()``), so the page cannot disagree with the program."""

from __future__ import annotations

import argparse
from pathlib import Path


def _escape(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _usage(parser: argparse.ArgumentParser) -> str:
    usage = parser.format_usage().strip()
    return usage.removeprefix("usage: ")


def _default(action: argparse.Action) -> str:
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return "off"
    if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
        return ""
    default = action.default
    if default is None or default == argparse.SUPPRESS:
        return ""
    if isinstance(default, list) and not default:
        return ""
    return f"`{default}`"


def _argument(action: argparse.Action) -> str:
    if action.option_strings:
        names = ", ".join(f"`{name}`" for name in action.option_strings)
        if action.nargs != 0:
            metavar = action.metavar or (
                "{" + ",".join(map(str, action.choices)) + "}" if action.choices else action.dest.upper()
            )
            names += f" `{metavar}`"
        return names
    return f"`{action.metavar or action.dest}`"


def _table(parser: argparse.ArgumentParser) -> list[str]:
    lines = ["| argument | default | choices | repeatable | help |", "|---|---|---|---|---|"]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        choices = ", ".join(f"`{c}`" for c in action.choices) if action.choices else ""
        repeat = "yes" if isinstance(action, argparse._AppendAction) else ""
        helptext = "" if action.help in (None, argparse.SUPPRESS) else action.help
        if not action.option_strings:
            repeat = "yes" if action.nargs in ("+", "*") else repeat
        lines.append(
            f"| {_escape(_argument(action))} | {_escape(_default(action))} | {_escape(choices)} | {repeat} "
            f"| {_escape(helptext)} |"
        )
    return lines


def subcommands(parser: argparse.ArgumentParser) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    """Each subcommand of ``parser``: name -> (its parser, its one-line help)."""
    out = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                out[name] = (sub, helps.get(name, ""))
    return out


def markdown() -> str:
    """The CLI reference page as MyST markdown."""
    import os

    from imapk.cli import _parser

    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # the usage lines wrap at the terminal's width: fix it
    try:
        parser = _parser()
        return _page(parser)
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns


def _page(parser: argparse.ArgumentParser) -> str:
    commands = subcommands(parser)
    lines = [
        "# Command-line reference",
        "",
        "Generated from the program's own argument parser at build time: every command, argument, default "
        "and help text below is what `imapk --help` and `imapk COMMAND --help` print.",
        "",
        f"{parser.description}",
        "",
        "```text",
        _usage(parser),
        "```",
        "",
        *_table(parser),
        "",
        "| command | does |",
        "|---|---|",
        *(f"| [`{name}`](#imapk-{name}) | {_escape(helptext)} |" for name, (_, helptext) in commands.items()),
        "",
        "Exit status: 0 on success (whether or not a target is met), 2 for an error in the input (one line on "
        "stderr naming the file, key or row and the problem), 1 for an internal error (`--debug` shows the "
        "traceback); `imapk rerun` exits 3 when the rerun differs.",
        "",
    ]
    for name, (sub, helptext) in commands.items():
        lines += [
            f"(imapk-{name})=",
            f"## `imapk {name}`",
            "",
            _escape(sub.description or helptext),
            "",
            "```text",
            _usage(sub),
            "```",
            "",
            *_table(sub),
            "",
        ]
        if sub.epilog:
            lines += [sub.epilog, ""]
    return "\n".join(lines)


def write(srcdir: Path) -> None:
    """Write ``reference/cli.md`` under the documentation source directory ``srcdir``."""
    out = Path(srcdir) / "reference" / "cli.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = markdown()
    if not out.exists() or out.read_text(encoding="utf-8") != text:
        out.write_text(text, encoding="utf-8")
