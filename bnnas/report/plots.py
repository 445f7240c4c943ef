"""The report's pictures, returned as PNG bytes so the Markdown can link them as files and the
HTML page can embed them.

Drawn on bare :class:`matplotlib.figure.Figure` objects (the Agg canvas), not through pyplot:
no display is needed and no global figure state is left behind between reports.

- accuracy against OPs of every measured network (log-x; the Pareto-optimal ones joined);
- the final fronts of the multi-objective searches (supernet accuracy against OPs), with the
  measured networks overlaid; the front's accuracy is the fast evaluation of the search, the
  overlaid one a test accuracy after training, so the two are drawn differently;
- the search curves, from what each method logs (see :mod:`bnnas.report.searches`).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bnnas.report.aggregate import Summary, pareto_optimal
from bnnas.report.searches import MULTI_OBJECTIVE, SearchRun

METHOD_COLOURS = {
    "ubnas": "tab:blue", "bars": "tab:orange", "mots": "tab:green", "random": "tab:red",
    "hand-made": "tab:gray", "published": "black",
}
DPI = 110


def _colour(method: str) -> str:
    return METHOD_COLOURS.get(method, "tab:purple")


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)  # attaches itself to the figure: raster output, no display
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def _measured(summaries: Sequence[Summary]) -> list[Summary]:
    return [s for s in summaries if not s.published and s.value("ops") and
            s.value("test_acc") is not None]


def _draw_measured(ax: Axes, measured: Sequence[Summary], *, legend: bool = True) -> None:
    """Test accuracy against OPs, one marker per network (error bar: std over seeds)."""
    seen: set[str] = set()
    for s in measured:
        label = s.method if legend and s.method not in seen else None
        seen.add(s.method)
        ax.errorbar(s.value("ops"), s.value("test_acc"), yerr=s.std.get("test_acc") or 0,
                    fmt="o", color=_colour(s.method), capsize=3, label=label, zorder=3)
        ax.annotate(s.name, (s.value("ops"), s.value("test_acc")), textcoords="offset points",
                    xytext=(5, 4), fontsize=8)


def accuracy_vs_ops(summaries: Sequence[Summary]) -> bytes | None:
    """Test accuracy against OPs (log scale), the Pareto-optimal networks joined by a line;
    published rows as hollow markers (or dotted lines when they give no OPs)."""
    measured = _measured(summaries)
    if not measured:
        return None
    fig = Figure(figsize=(8, 5.5))
    ax = fig.subplots()
    _draw_measured(ax, measured)
    points = [(s.value("ops"), s.value("test_acc")) for s in measured]
    best = pareto_optimal(points)  # type: ignore[arg-type]
    ax.plot([points[i][0] for i in best], [points[i][1] for i in best], "-", color="black",
            linewidth=1, alpha=0.6, label="Pareto-optimal (measured)", zorder=2)
    for s in summaries:
        if not s.published or s.value("test_acc") is None:
            continue
        if s.value("ops"):
            ax.plot(s.value("ops"), s.value("test_acc"), "s", mfc="none", color="black")
            ax.annotate(f"{s.name} (published)", (s.value("ops"), s.value("test_acc")),
                        textcoords="offset points", xytext=(5, -10), fontsize=7)
        else:
            ax.axhline(s.value("test_acc"), linestyle=":", color="gray", linewidth=0.8)
            ax.annotate(f"{s.name} (published)", (0.01, s.value("test_acc")),
                        xycoords=("axes fraction", "data"), fontsize=7, color="dimgray",
                        va="bottom")
    return _ops_plot_png(fig, ax, "test accuracy (%)", "Test accuracy against OPs")


def fronts(searches: Sequence[SearchRun], summaries: Sequence[Summary]) -> bytes | None:
    """The final front of each multi-objective search with the trained networks overlaid."""
    with_front = [s for s in searches if s.method in MULTI_OBJECTIVE and s.front]
    if not with_front:
        return None
    fig = Figure(figsize=(8, 5.5))
    ax = fig.subplots()
    for search in with_front:
        points = sorted((p.ops, 100.0 - p.error) for p in search.front)
        ax.step([p[0] for p in points], [p[1] for p in points], where="post", alpha=0.8,
                color=_colour(search.method), linestyle="--")
        ax.plot([p[0] for p in points], [p[1] for p in points], "x",
                color=_colour(search.method), label=f"{search.label}: front (supernet accuracy)")
    _draw_measured(ax, _measured(summaries), legend=False)
    ax.plot([], [], "o", color="gray", label="trained networks (test accuracy)")
    return _ops_plot_png(fig, ax, "accuracy (%)",
                         "Multi-objective search fronts and trained networks")


def _ops_plot_png(fig: Figure, ax: Axes, ylabel: str, title: str) -> bytes:
    """Finish an accuracy-against-OPs plot (log OPs axis, grid, legend) as PNG bytes."""
    ax.set_xscale("log")
    ax.set_xlabel("OPs (BOPs / 64 + FLOPs)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _png(fig)


def _panel_losses(ax: Axes, searches: Sequence[SearchRun]) -> None:
    for index, search in enumerate(searches):
        colour = f"C{index % 10}"
        epochs = [r["epoch"] for r in search.epochs]
        ax.plot(epochs, [r.get("train_loss") for r in search.epochs], "-o", markersize=3,
                color=colour, label=f"{search.label}: train")
        arch = [(r["epoch"], r["arch_loss"]) for r in search.epochs
                if r.get("arch_loss") is not None]
        if arch:
            ax.plot(*zip(*arch, strict=True), "--", color=colour,
                    label=f"{search.label}: validation (architecture step)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("UBNAS / BARS supernet loss")


def _panel_generations(ax: Axes, searches: Sequence[SearchRun], key: str, title: str) -> None:
    for index, search in enumerate(searches):
        rows = [r for r in search.generations if r.get(key) is not None]
        ax.plot([r["generation"] for r in rows], [r[key] for r in rows], "-o", markersize=3,
                color=f"C{index % 10}", label=search.label)
    ax.set_xlabel("generation")
    ax.set_title(title)


def search_curves(searches: Sequence[SearchRun]) -> bytes | None:
    """Loss per epoch of the differentiable searches; hypervolume and best error per
    generation of the multi-objective ones. None when no search has logged anything."""
    gradient = [s for s in searches if s.epochs]
    evolution = [s for s in searches if s.generations]
    panels = (1 if gradient else 0) + (2 if evolution else 0)
    if not panels:
        return None
    fig = Figure(figsize=(5.2 * panels, 4.2))
    axes = list(fig.subplots(1, panels, squeeze=False)[0])
    if gradient:
        _panel_losses(axes.pop(0), gradient)
    if evolution:
        _panel_generations(axes[0], evolution, "hypervolume", "MO-TS-BNAS / random: hypervolume")
        _panel_generations(axes[1], evolution, "best_error", "best error (%, fast evaluation)")
    for ax in fig.axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    return _png(fig)
