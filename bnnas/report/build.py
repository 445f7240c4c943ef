"""Write a report folder: ``report.md`` with its PNG plots beside it, ``report.html`` (one
self-contained page) and ``rows.json`` (every row, summary and search as data).

Files are replaced atomically, so a reader never sees half a report while a long study
rewrites it after every step; a plot that has nothing to show any more is removed rather
than left stale.
"""

from __future__ import annotations

import json
from pathlib import Path

from bnnas.errors import ReportError
from bnnas.report import plots
from bnnas.report.document import Report
from bnnas.report.html import render_html
from bnnas.report.markdown import render_markdown
from bnnas.runs import write_bytes_atomic, write_text_atomic

PLOT_CAPTIONS = {
    "accuracy-vs-ops.png": "Test accuracy against OPs",
    "pareto-fronts.png": "Multi-objective search fronts",
    "search-curves.png": "Search curves",
}


def render_plots(report: Report) -> dict[str, tuple[str, bytes]]:
    """File name -> (caption, PNG bytes) of the plots that have something to show."""
    images = {
        "accuracy-vs-ops.png": plots.accuracy_vs_ops(report.summaries, report.goal),
        "pareto-fronts.png": plots.fronts(report.searches, report.summaries),
        "search-curves.png": plots.search_curves(report.searches),
    }
    return {name: (PLOT_CAPTIONS[name], png) for name, png in images.items() if png}


def write_report(report: Report, out: str | Path) -> dict[str, Path]:
    """Write the report files into ``out`` (created if needed); returns them by name."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReportError(f"cannot create {str(out)!r} ({error.strerror or error})") from None
    images = render_plots(report)
    written: dict[str, Path] = {}
    for name in PLOT_CAPTIONS:
        path = out / name
        if name in images:
            write_bytes_atomic(path, images[name][1])
            written[name] = path
        elif path.is_file():
            path.unlink()
    captions = {name: caption for name, (caption, _) in images.items()}
    texts = {
        "report.md": render_markdown(report, captions),
        "report.html": render_html(report, images),
        "rows.json": json.dumps(report.to_dict(), indent=2) + "\n",
    }
    for name, text in texts.items():
        write_text_atomic(out / name, text)
        written[name] = out / name
    return written
