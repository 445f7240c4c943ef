"""The report's pictures, returned as PNG bytes so the Markdown can link them as files and the
HTML page can embed them.

Drawn on bare :class:`matplotlib.figure.Figure` objects (the Agg canvas), not through pyplot:
no display is needed and no global figure state is left behind between reports.

- accuracy against OPs of every measured network (log-x; the Pareto-optimal ones joined;
  with an accuracy goal, the region where it is met shaded);
- the final fronts of the multi-objective searches (supernet accuracy against OPs), with the
  measured networks overlaid; the front's accuracy is the fast evaluation of the search, the
  overlaid one a test accuracy after training, so the two are drawn differently;
- the search curves, from what each method logs (see :mod:`bnnas.report.searches`).

A method has one colour in all three (a random control's networks that of the method whose
space they come from, drawn hollow); its search seeds differ by marker and line style. The
labels of the networks are placed where they cover no other label or point.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import NamedTuple

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import Bbox

from bnnas.metrics import format_count
from bnnas.report.aggregate import Summary, pareto_optimal
from bnnas.report.goals import GoalCheck
from bnnas.report.rows import control_space
from bnnas.report.searches import MULTI_OBJECTIVE, SearchRun

METHOD_COLOURS = {
    "ubnas": "tab:blue", "bars": "tab:orange", "mots": "tab:green", "random": "tab:red",
    "hand-made": "tab:gray", "published": "black",
}
# A method keeps its colour everywhere; its search seeds are told apart by marker and line.
SEED_MARKERS = ("o", "s", "^", "D", "v", "P")
FRONT_MARKERS = ("x", "+", "1", "2", "3", "4")
SEED_LINES = ("--", ":", "-.", (0, (5, 1, 1, 1)))
# Where a point's label may go, tried in turn (offset in points, horizontal alignment):
# the first that overlaps no other label or point and stays inside the axes is taken.
LABEL_OFFSETS = ((6, 4, "left"), (6, -11, "left"), (-6, 4, "right"), (-6, -11, "right"),
                 (6, 13, "left"), (-6, 13, "right"), (6, -20, "left"), (-6, -20, "right"),
                 (0, 22, "center"), (0, -29, "center"), (6, 24, "left"), (-6, 24, "right"),
                 (6, -31, "left"), (-6, -31, "right"))
NEAR_OFFSETS = 4  # the first offsets, right beside the point; a label further off gets a line
POINT_PIXELS = 4  # half the side of the square a marker keeps free of labels
LEADER_LINE = {"arrowstyle": "-", "color": "0.55", "linewidth": 0.6, "shrinkA": 1,
               "shrinkB": POINT_PIXELS}
GOAL_COLOUR = "tab:purple"
HEADROOM = 0.08  # of the y range, kept free above the highest point for its label
DPI = 110


def _colour(method: str) -> str:
    """A method's colour; a random control's networks take the colour of the method whose
    space they were drawn from."""
    return METHOD_COLOURS.get(control_space(method) or method, "tab:purple")


def _seed_style(seed: int | None, styles: Sequence[object]) -> object:
    return styles[(seed or 0) % len(styles)]


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)  # attaches itself to the figure: raster output, no display
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def _measured(summaries: Sequence[Summary]) -> list[Summary]:
    return [s for s in summaries if not s.published and s.value("ops") and
            s.value("test_acc") is not None]


class Label(NamedTuple):
    """A text to put beside the point ``(x, y)`` (data coordinates)."""

    text: str
    x: float
    y: float


def place_labels(ax: Axes, labels: Sequence[Label], points: Sequence[tuple[float, float]],
                 fontsize: float = 8) -> None:
    """Annotate each point with its label at the first of :data:`LABEL_OFFSETS` where the
    text overlaps no label placed before it and no marker of ``points`` and stays inside the
    axes; where none is free, at the one that overlaps least (inside the axes if it can): a
    study's networks crowd at similar OPs and accuracy, and labels written over each other
    say nothing. It first raises the top of the y axis by :data:`HEADROOM`, so the highest
    point's label fits above it. Call it once the axes' scales and limits are otherwise
    final, as it measures the texts on the canvas."""
    renderer = FigureCanvasAgg(ax.figure).get_renderer()
    ax.autoscale_view()
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + HEADROOM * (high - low))
    frame = ax.get_window_extent(renderer)
    taken = []
    for x, y in points:
        px, py = ax.transData.transform((x, y))
        taken.append(Bbox.from_extents(px - POINT_PIXELS, py - POINT_PIXELS,
                                       px + POINT_PIXELS, py + POINT_PIXELS))
    for label in labels:
        best = None
        for number, (dx, dy, align) in enumerate(LABEL_OFFSETS):
            # set apart from its point, a label gets a leader line that says whose it is
            line = LEADER_LINE if number >= NEAR_OFFSETS else None
            text = ax.annotate(label.text, (label.x, label.y), textcoords="offset points",
                               xytext=(dx, dy), ha=align, fontsize=fontsize, arrowprops=line)
            text.update_positions(renderer)
            box = Text.get_window_extent(text, renderer)  # the text's box, not its line's
            outside = not (frame.x0 <= box.x0 and box.x1 <= frame.x1 and
                           frame.y0 <= box.y0 and box.y1 <= frame.y1)
            score = (outside, sum(_overlap_area(box, other) for other in taken))
            if best is None or score < best[0]:
                if best is not None:
                    best[1].remove()
                best = (score, text, box)
            else:
                text.remove()
            if score == (False, 0):
                break
        taken.append(best[2])


def _overlap_area(a: Bbox, b: Bbox) -> float:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(width, 0.0) * max(height, 0.0)


def _draw_measured(ax: Axes, measured: Sequence[Summary], *, legend: bool = True
                   ) -> list[Label]:
    """Test accuracy against OPs, one marker per network (error bar: std over seeds), in its
    method's colour, its marker by search seed. The networks of random controls are hollow
    and unlabelled (one legend entry per space); the others' labels are returned."""
    seen: set[str] = set()
    labels = []
    for s in measured:
        control = control_space(s.method) is not None
        label = s.method if legend and s.method not in seen else None
        seen.add(s.method)
        x, y = s.value("ops"), s.value("test_acc")
        ax.errorbar(x, y, yerr=s.std.get("test_acc") or 0,
                    fmt=_seed_style(s.search_seed, SEED_MARKERS), color=_colour(s.method),
                    mfc="none" if control else None, capsize=3, label=label, zorder=3)
        if not control:
            labels.append(Label(s.name, x, y))
    return labels


def accuracy_vs_ops(summaries: Sequence[Summary], goal: GoalCheck | None = None
                    ) -> bytes | None:
    """Test accuracy against OPs (log scale), the Pareto-optimal networks joined by a line;
    published rows as hollow squares (or dotted lines when they give no OPs); the region
    where ``goal`` is met shaded."""
    figure = accuracy_figure(summaries, goal)
    return None if figure is None else _png(figure)


def _draw_goal(ax: Axes, goal: GoalCheck) -> None:
    """Shade where the goal is met (accuracy at least the goal's, OPs within its bound),
    raising the top of the axes to show it when every point lies below."""
    accuracy = goal.goal.accuracy
    bottom, top = ax.get_ylim()
    top = max(top, accuracy + HEADROOM * (top - bottom))
    left, right = ax.get_xlim()
    edge = right if goal.bound is None else min(goal.bound, right)
    label = f"goal: test acc ≥ {accuracy:g}%"
    if goal.bound is not None:
        label += f", OPs ≤ {format_count(goal.bound)}"
    # up to 100%: the axes clip it wherever the labels' headroom puts their top
    ax.add_patch(Rectangle((left, accuracy), edge - left, 100 - accuracy, facecolor=GOAL_COLOUR,
                           alpha=0.12, edgecolor=GOAL_COLOUR, linestyle="--", label=label,
                           zorder=0))
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)


def accuracy_figure(summaries: Sequence[Summary], goal: GoalCheck | None = None
                    ) -> Figure | None:
    """The figure of :func:`accuracy_vs_ops` (None when no network has been measured)."""
    measured = _measured(summaries)
    if not measured:
        return None
    fig = Figure(figsize=(9, 7))
    ax = fig.subplots()
    labels = _draw_measured(ax, measured)
    points = [(s.value("ops"), s.value("test_acc")) for s in measured]
    best = pareto_optimal(points)  # type: ignore[arg-type]
    ax.plot([points[i][0] for i in best], [points[i][1] for i in best], "-", color="black",
            linewidth=1, alpha=0.6, label="Pareto-optimal (measured)", zorder=2)
    for s in summaries:
        if not s.published or s.value("test_acc") is None:
            continue
        if s.value("ops"):
            ax.plot(s.value("ops"), s.value("test_acc"), "s", mfc="none", color="black")
            labels.append(Label(f"{s.name} (published)", s.value("ops"), s.value("test_acc")))
            points.append((s.value("ops"), s.value("test_acc")))
        else:
            ax.axhline(s.value("test_acc"), linestyle=":", color="gray", linewidth=0.8)
            ax.annotate(f"{s.name} (published)", (0.01, s.value("test_acc")),
                        xycoords=("axes fraction", "data"), fontsize=7, color="dimgray",
                        va="bottom")
    if goal is not None:
        ax.set_xscale("log")  # the region's corners are read from the final, log axes
        _draw_goal(ax, goal)
    _finish_ops_axes(ax, "test accuracy (%)", "Test accuracy against OPs")
    place_labels(ax, labels, points)  # type: ignore[arg-type]
    return fig


def fronts(searches: Sequence[SearchRun], summaries: Sequence[Summary]) -> bytes | None:
    """The final front of each multi-objective search with the trained networks overlaid."""
    figure = fronts_figure(searches, summaries)
    return None if figure is None else _png(figure)


def fronts_figure(searches: Sequence[SearchRun], summaries: Sequence[Summary]
                  ) -> Figure | None:
    """The figure of :func:`fronts` (None when no multi-objective search has a front): each
    front in its method's colour, its line and markers by search seed."""
    with_front = [s for s in searches if s.method in MULTI_OBJECTIVE and s.front]
    if not with_front:
        return None
    fig = Figure(figsize=(8, 5.5))
    ax = fig.subplots()
    points = []
    for search in with_front:
        front = sorted((p.ops, 100.0 - p.error) for p in search.front)
        ax.step([p[0] for p in front], [p[1] for p in front], where="post", alpha=0.8,
                color=_colour(search.method), linestyle=_seed_style(search.seed, SEED_LINES))
        ax.plot([p[0] for p in front], [p[1] for p in front],
                _seed_style(search.seed, FRONT_MARKERS), color=_colour(search.method),
                label=f"{search.label}: front (supernet accuracy)")
        points += front
    measured = _measured(summaries)
    labels = _draw_measured(ax, measured, legend=False)
    points += [(s.value("ops"), s.value("test_acc")) for s in measured]
    ax.plot([], [], "o", color="gray", label="trained networks (test accuracy)")
    ax.plot([], [], "o", mfc="none", color="gray",
            label="random networks of equal OPs (test accuracy)")
    _finish_ops_axes(ax, "accuracy (%)", "Multi-objective search fronts and trained networks")
    place_labels(ax, labels, points)  # type: ignore[arg-type]
    return fig


def _finish_ops_axes(ax: Axes, ylabel: str, title: str) -> None:
    """Finish an accuracy-against-OPs plot: log OPs axis, grid, legend."""
    ax.set_xscale("log")
    ax.set_xlabel("OPs (BOPs / 64 + FLOPs)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="best")


def _curve_style(search: SearchRun) -> dict[str, object]:
    """A search's curves: its method's colour, its seed's marker."""
    return {"color": _colour(search.method), "markersize": 3,
            "marker": _seed_style(search.seed, SEED_MARKERS)}


def _panel_losses(ax: Axes, searches: Sequence[SearchRun]) -> None:
    for search in searches:
        epochs = [r["epoch"] for r in search.epochs]
        ax.plot(epochs, [r.get("train_loss") for r in search.epochs], "-",
                label=f"{search.label}: train", **_curve_style(search))
        arch = [(r["epoch"], r["arch_loss"]) for r in search.epochs
                if r.get("arch_loss") is not None]
        if arch:
            ax.plot(*zip(*arch, strict=True), "--", **{**_curve_style(search), "marker": None},
                    label=f"{search.label}: validation (architecture step)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("UBNAS / BARS supernet loss")


def _panel_generations(ax: Axes, searches: Sequence[SearchRun], key: str, title: str) -> None:
    for search in searches:
        rows = [r for r in search.generations if r.get(key) is not None]
        ax.plot([r["generation"] for r in rows], [r[key] for r in rows], "-",
                label=search.label, **_curve_style(search))
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
