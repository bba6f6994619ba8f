"""Formats of the ``imapk selftest`` report: a short text summary, JSON, and a self-contained HTML page
(no external assets; failing cases first and highlighted)."""

from __future__ import annotations

import html
import json
import math

from . import CaseResult, SelftestReport

__all__ = ["format_text", "format_json", "format_html", "write_html"]


def _number(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if math.isinf(value):
        return "inf"
    return f"{value:.3g}"


def _ordered(report: SelftestReport) -> list[CaseResult]:
    """Failing cases first, each group in run order."""
    return [*report.failed, *(r for r in report.results if r.passed)]


def format_text(report: SelftestReport, *, verbose: bool = False) -> str:
    """Short summary: counts, time, versions, and each failing case (every case with `verbose`)."""
    n, failed = len(report.results), report.failed
    lines = [
        f"imapk selftest: {n - len(failed)} of {n} cases passed in {report.seconds:.1f} s"
        + ("" if not failed else f"; {len(failed)} FAILED"),
        "versions: " + ", ".join(f"{name} {value}" for name, value in report.versions.items() if name != "platform"),
        f"platform: {report.versions.get('platform', '')}",
    ]
    kinds: dict[str, list[int]] = {}
    for result in report.results:
        counts = kinds.setdefault(result.case.kind, [0, 0])
        counts[0] += result.passed
        counts[1] += 1
    lines.append("cases by kind: " + ", ".join(f"{kind} {good}/{total}" for kind, (good, total) in kinds.items()))
    shown = _ordered(report) if verbose else list(failed)
    for result in shown:
        status = "pass" if result.passed else "FAIL"
        detail = result.error or (f"error {_number(result.max_abs_error)} {result.case.unit} (relative "
                                  f"{_number(result.max_rel_error)}), {_number(result.ratio)} x the tolerance "
                                  f"{result.case.tolerance}; worst {result.worst}")
        lines.append(f"  {status} {result.case.name}: {detail}")
    return "\n".join(lines)


def _as_dict(result: CaseResult) -> dict:
    case = result.case

    def finite(value):
        return None if value is None or not math.isfinite(value) else value

    return {
        "name": case.name, "kind": case.kind, "passed": result.passed, "checks": case.checks,
        "reference": case.reference, "tolerance": {"rtol": case.rtol, "atol": case.atol, "unit": case.unit,
                                                  "why": case.why},
        "values_compared": result.values, "max_abs_error": finite(result.max_abs_error),
        "max_rel_error": finite(result.max_rel_error), "error_over_tolerance": finite(result.ratio),
        "worst": result.worst, "error": result.error, "seconds": round(result.seconds, 4),
    }


def format_json(report: SelftestReport) -> str:
    """The whole report as JSON (failing cases first)."""
    return json.dumps({
        "passed": report.passed, "cases": len(report.results), "failed": [r.case.name for r in report.failed],
        "seconds": round(report.seconds, 3), "started": report.started, "versions": report.versions,
        "results": [_as_dict(r) for r in _ordered(report)],
    }, indent=2)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } table { border-collapse: collapse; width: 100%; font-size: 0.88em; }
th, td { border: 1px solid #ccc; padding: 0.35em 0.5em; vertical-align: top; text-align: left; }
th { background: #f0f0f0; position: sticky; top: 0; } td.num { text-align: right; white-space: nowrap; }
tr.fail td { background: #fde2e2; } tr.fail td.status { color: #a00; font-weight: bold; }
td.status { color: #070; font-weight: bold; } .summary { font-size: 1.1em; margin: 0.5em 0 1em; }
.summary.fail { color: #a00; } .summary.pass { color: #070; } code { font-size: 0.95em; }
table.versions { width: auto; margin-bottom: 1.5em; }
"""


def format_html(report: SelftestReport) -> str:
    """A self-contained HTML page: summary, versions, and one row per case (failing ones first)."""
    e = html.escape
    n, failed = len(report.results), report.failed
    verdict = (f"All {n} cases passed" if not failed
               else f"{len(failed)} of {n} cases FAILED: " + ", ".join(r.case.name for r in failed))
    rows = []
    for result in _ordered(report):
        case = result.case
        observed = e(result.error) if result.error else (
            f"max |error| {_number(result.max_abs_error)} {e(case.unit)}<br>relative {_number(result.max_rel_error)}"
            f"<br>{_number(result.ratio)} &times; tolerance<br><small>{e(result.worst)}</small>")
        rows.append(
            f"<tr class=\"{'pass' if result.passed else 'fail'}\"><td class=\"status\">"
            f"{'pass' if result.passed else 'FAIL'}</td><td><code>{e(case.name)}</code></td><td>{e(case.checks)}</td>"
            f"<td>{e(case.reference)}</td><td>{e(case.tolerance)}<br><small>{e(case.why)}</small></td>"
            f"<td class=\"num\">{observed}</td><td class=\"num\">{result.values}</td>"
            f"<td class=\"num\">{result.seconds:.2f}</td></tr>")
    versions = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in report.versions.items())
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>imapk selftest: {'FAILED' if failed else 'passed'}</title><style>{_STYLE}</style></head><body>"
        f"<h1>imapk selftest</h1><p class=\"summary {'fail' if failed else 'pass'}\">{e(verdict)} "
        f"({report.seconds:.1f} s, {e(report.started)}).</p>"
        "<p>Each case computes a quantity with imapk and compares it with an independent reference; it passes when "
        "every value is within |observed &minus; reference| &le; atol + rtol |reference|.</p>"
        f"<table class=\"versions\">{versions}</table>"
        "<table><thead><tr><th>result</th><th>case</th><th>what is checked</th><th>reference and source</th>"
        "<th>tolerance and why</th><th>observed error</th><th>values</th><th>s</th></tr></thead><tbody>"
        + "".join(rows) + "</tbody></table></body></html>\n"
    )


def write_html(report: SelftestReport, path: str) -> None:
    """Write the HTML page to `path` atomically (a temporary file beside it, then renamed); a full
    disk is one :class:`~imapk.errors.OutputError` line and leaves no partial file."""
    import os
    import tempfile
    from pathlib import Path

    from ..io import _write_error, set_default_permissions

    target = Path(path)
    folder = target.parent
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(format_html(report))
        set_default_permissions(temporary)
        os.replace(temporary, target)
    except OSError as error:
        raise _write_error(error, target, folder) from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
