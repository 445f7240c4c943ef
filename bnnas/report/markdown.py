"""The report as Markdown: the table, the notes, and links to the plot files beside it."""

from __future__ import annotations

from collections.abc import Mapping

from bnnas.report import controls, goals, methods
from bnnas.report.document import Report
from bnnas.report.table import CODE_COLUMN, HEADERS, MISSING, format_duration, table


def _cell(text: str, code: bool) -> str:
    text = text.replace("|", "\\|")
    if code and text != MISSING and not text.startswith("published"):
        head, sep, tail = text.partition("  (")
        return f"`{head}`" + (f" ({tail}" if sep else "")
    return text


def _table(headers: tuple[str, ...] | list[str], rows: list[list[str]], code: str | None) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        lines.append("| " + " | ".join(
            _cell(cell, header == code) for header, cell in zip(headers, row, strict=True)
        ) + " |")
    return "\n".join(lines)


def render_markdown(report: Report, plot_files: Mapping[str, str]) -> str:
    """``plot_files`` maps a plot's file name to its caption; only those are linked."""
    parts = [f"# {report.title}", "", report.intro(), ""]
    parts += [_table(HEADERS, table(report.summaries), CODE_COLUMN), ""]
    parts += [f"- {note}" for note in report.notes()] + [""]
    for name, caption in plot_files.items():
        parts += [f"## {caption}", "", f"![{caption}]({name})", ""]
    if report.controls:
        parts += [f"## {controls.TITLE}", "",
                  _table(controls.HEADERS, [c.cells() for c in report.controls], None), "",
                  f"- {controls.NOTE}", ""]
    if report.methods:
        parts += [f"## {methods.TITLE}", "",
                  _table(methods.HEADERS, [m.cells() for m in report.methods], None), "",
                  f"- {methods.NOTE}", ""]
    if report.goal:
        parts += [f"## {goals.TITLE}", "",
                  _table(goals.HEADERS, [r.cells() for r in report.goal.rows],
                         None), "", f"- {report.goal.note()}", ""]
    if report.searches:
        rows = [[s.label, s.method, str(s.path), s.status,
                 format_duration(s.search_seconds), s.command()] for s in report.searches]
        parts += ["## Searches", "",
                  _table(["search", "method", "folder", "status", "search time", "command"],
                         rows, "command"), ""]
    if report.warnings:
        parts += ["## Unfinished runs", ""] + [f"- {w}" for w in report.warnings] + [""]
    return "\n".join(parts)
