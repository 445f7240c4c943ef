"""Pictures of a search: the derived cells, the evolution of the architecture weights, and
for a multi-objective search the Pareto front and the hypervolume per generation.

Drawn with matplotlib alone (no graphviz binary), written as PNG files into the run folder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import numpy.typing as npt

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.ticker import MaxNLocator  # noqa: E402

_OP_COLOURS = {
    "skip_connect": "tab:gray",
    "max_pool_3x3": "tab:green",
    "avg_pool_3x3": "tab:olive",
}


def _save(fig: plt.Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (creating its folder) and free it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _node_positions(steps: int, inputs: int = 2) -> dict[str, tuple[float, float]]:
    if inputs == 2:
        positions = {"c_{k-2}": (0.0, 0.8), "c_{k-1}": (0.0, 0.2)}
    else:
        positions = {"c_{k-1}": (0.0, 0.5)}
    positions["out"] = (steps + 1.0, 0.5)
    for i in range(steps):
        positions[str(i)] = (1.0 + i, 0.5 + (0.25 if i % 2 else -0.25))
    return positions


def _input_name(index: int, inputs: int = 2) -> str:
    if inputs == 1:
        return "c_{k-1}" if index == 0 else str(index - 1)
    return {0: "c_{k-2}", 1: "c_{k-1}"}.get(index, str(index - 2))


def plot_cell(
    nodes: Sequence[Sequence[tuple[str, int]]],
    concat: Sequence[int],
    path: str | Path,
    title: str = "",
    *,
    inputs: int = 2,
) -> Path:
    """Draw a cell: inputs (two for DARTS, one for a BARS dense cell), intermediate nodes,
    labelled edges, and the output the ``concat`` nodes feed."""
    steps = len(nodes)
    positions = _node_positions(steps, inputs)
    fig, ax = plt.subplots(figsize=(2.2 * (steps + 2), 3.6))
    for target, node in enumerate(nodes):
        end = positions[str(target)]
        for rank, (op, source) in enumerate(node):
            start = positions[_input_name(source, inputs)]
            colour = _OP_COLOURS.get(op, "tab:blue")
            ax.annotate(
                "", xy=end, xytext=start,
                arrowprops={"arrowstyle": "->", "color": colour, "lw": 1.5,
                            "connectionstyle": f"arc3,rad={0.15 * (1 if rank else -1)}"},
            )
            mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + (0.05 if rank else -0.05))
            ax.text(*mid, op, fontsize=7, ha="center", color=colour,
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})
    for index in concat:
        ax.annotate("", xy=positions["out"], xytext=positions[_input_name(index, inputs)],
                    arrowprops={"arrowstyle": "->", "color": "lightgray", "lw": 1})
    for name, (x, y) in positions.items():
        ax.text(x, y, name, ha="center", va="center", fontsize=9,
                bbox={"boxstyle": "round", "facecolor": "lightyellow", "edgecolor": "black"})
    ax.set_xlim(-0.6, steps + 1.6)
    ax.set_ylim(0.0, 1.0)
    ax.axis("off")
    ax.set_title(title)
    return _save(fig, path)


def plot_weight_history(
    history: Sequence[dict[str, Sequence[float]]],
    ops: Sequence[str],
    path: str | Path,
    title: str = "mean op weight over the edges",
    *,
    panel: str = "{} cell",
    xlabel: str = "epoch",
) -> Path:
    """One panel per cell type: the mean softmax weight of each op, epoch by epoch.

    ``history[e][cell_type]`` holds the mean weight of each op of ``ops`` at epoch ``e``.
    """
    cell_types = list(history[0]) if history else []
    fig, axes = plt.subplots(1, max(1, len(cell_types)), figsize=(6 * max(1, len(cell_types)), 4),
                             squeeze=False)
    epochs = list(range(1, len(history) + 1))
    for ax, cell_type in zip(axes[0], cell_types, strict=False):
        for k, op in enumerate(ops):
            ax.plot(epochs, [h[cell_type][k] for h in history], label=op, marker=".")
        ax.set_title(panel.format(cell_type))
        ax.set_xlabel(xlabel)
        ax.set_ylabel("weight")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title)
    return _save(fig, path)


def _front_indices(front: npt.ArrayLike, count: int) -> np.ndarray:
    """Indices from a boolean mask of length ``count`` or from a list of indices."""
    array = np.asarray(front)
    if array.dtype == bool:
        if array.shape != (count,):
            raise ValueError(f"a front mask needs {count} entries, got shape {array.shape}")
        return np.flatnonzero(array)
    indices = array.astype(np.int64).reshape(-1)
    if len(indices) and (indices.min() < 0 or indices.max() >= count):
        raise ValueError(f"front indices must be in 0..{count - 1}, got {indices.tolist()}")
    return indices


def plot_pareto_front(
    objectives: npt.ArrayLike,
    front: npt.ArrayLike,
    path: str | Path,
    *,
    size_label: str = "size",
    title: str = "",
    log_size: bool = False,
) -> Path:
    """Every evaluated candidate in grey, the first front as a staircase in colour.

    ``objectives`` is ``(n, 2)``: error in percent, then size; ``front`` a boolean mask or
    the indices of the front's rows. The staircase (steps after each point) bounds the region
    the front dominates, both objectives minimised, so a later generation's front lying
    below and left of it is visibly better. ``log_size`` suits sizes spanning decades.
    """
    points = np.asarray(objectives, dtype=np.float64)
    if points.size == 0:
        points = points.reshape(0, 2)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"objectives must be (n, 2): error, size; got shape {points.shape}")
    chosen = points[_front_indices(front, len(points))]
    chosen = chosen[np.lexsort((chosen[:, 0], chosen[:, 1]))]  # by size, then error
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.scatter(points[:, 1], points[:, 0], s=12, color="lightgray", label="evaluated",
               zorder=1)
    if len(chosen):
        ax.step(chosen[:, 1], chosen[:, 0], where="post", color="tab:red", lw=1.5, zorder=2)
        ax.scatter(chosen[:, 1], chosen[:, 0], s=28, color="tab:red",
                   label=f"Pareto front ({len(chosen)})", zorder=3)
    if log_size and len(points) and (points[:, 1] > 0).all():
        ax.set_xscale("log")
    ax.set_xlabel(size_label)
    ax.set_ylabel("error (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(points):
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_hypervolume(
    series: Mapping[str, Sequence[float]],
    path: str | Path,
    *,
    title: str = "hypervolume per generation",
) -> Path:
    """The hypervolume of each method's front, generation by generation (first is 1).

    Several methods on one axis (e.g. ``{"mots": [...], "random": [...]}``) compare searches
    at equal evaluation budgets; higher is better.
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, values in series.items():
        ax.plot(range(1, len(values) + 1), list(values), marker=".", label=method)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("generation")
    ax.set_ylabel("hypervolume")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if any(len(v) for v in series.values()):
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_layout(
    widths: Sequence[int], reductions: Sequence[int], path: str | Path, title: str = ""
) -> Path:
    """The macro layout of a derived network: one bar per cell, its width as the height,
    reduction cells hatched (BARS searches this layout)."""
    fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(widths) + 2), 3.2))
    reduction_set = set(reductions)
    for index, width in enumerate(widths):
        reduction = index in reduction_set
        ax.bar(index, width, color="tab:orange" if reduction else "tab:blue",
               hatch="//" if reduction else None, edgecolor="black")
        ax.text(index, width, str(width), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(widths)))
    ax.set_xticklabels(["R" if i in reduction_set else "N" for i in range(len(widths))])
    ax.set_xlabel("cell (N normal, R reduction)")
    ax.set_ylabel("channels")
    ax.set_title(title)
    return _save(fig, path)
