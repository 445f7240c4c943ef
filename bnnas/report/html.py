"""The report as one self-contained HTML page: styles inline and every plot embedded as a
base64 PNG ``data:`` URI, so the file can be mailed or archived alone and opens offline."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from html import escape

from bnnas.report import controls, goals, methods
from bnnas.report.document import Report
from bnnas.report.table import CODE_COLUMN, HEADERS, format_duration, table

_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; margin-bottom: 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
tr.published td { color: #666; font-style: italic; }
code { font-size: 0.9em; }
img { max-width: 100%; }
"""


def _table(headers: list[str] | tuple[str, ...], rows: list[list[str]], code: str,
           classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for index, row in enumerate(rows):
        kind = classes[index] if classes else ""
        cls = f' class="{kind}"' if kind else ""
        tds = "".join(
            f"<td><code>{escape(c)}</code></td>" if h == code and kind != "published"
            else f"<td>{escape(c)}</td>"
            for h, c in zip(headers, row, strict=True)
        )
        body.append(f"<tr{cls}>{tds}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(report: Report, plots: Mapping[str, tuple[str, bytes]]) -> str:
    """``plots`` maps a plot's file name to (caption, PNG bytes)."""
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(report.title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(report.title)}</h1>", f"<p>{escape(report.intro())}</p>",
        _table(HEADERS, table(report.summaries), CODE_COLUMN,
               ["published" if s.published else "" for s in report.summaries]),
        "<ul>" + "".join(f"<li>{escape(n)}</li>" for n in report.notes()) + "</ul>",
    ]
    for caption, png in plots.values():
        data = base64.b64encode(png).decode("ascii")
        parts += [f"<h2>{escape(caption)}</h2>",
                  f'<img alt="{escape(caption)}" src="data:image/png;base64,{data}">']
    if report.controls:
        parts += [f"<h2>{escape(controls.TITLE)}</h2>",
                  _table(controls.HEADERS, [c.cells() for c in report.controls], ""),
                  f"<p>{escape(controls.NOTE)}</p>"]
    if report.methods:
        parts += [f"<h2>{escape(methods.TITLE)}</h2>",
                  _table(methods.HEADERS, [m.cells() for m in report.methods], ""),
                  f"<p>{escape(methods.NOTE)}</p>"]
    if report.goal:
        parts += [f"<h2>{escape(goals.TITLE)}</h2>",
                  _table(goals.HEADERS,
                         [r.cells() for r in report.goal.rows], ""),
                  f"<p>{escape(report.goal.note())}</p>"]
    if report.searches:
        rows = [[s.label, s.method, str(s.path), s.status,
                 format_duration(s.search_seconds), s.command()] for s in report.searches]
        parts += ["<h2>Searches</h2>",
                  _table(["search", "method", "folder", "status", "search time", "command"],
                         rows, "command")]
    if report.warnings:
        parts += ["<h2>Unfinished runs</h2><ul>"
                  + "".join(f"<li>{escape(w)}</li>" for w in report.warnings) + "</ul>"]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
