"""Pictures of a search: the derived cells and the evolution of the architecture weights.

Drawn with matplotlib alone (no graphviz binary), written as PNG files into the run folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

_OP_COLOURS = {
    "skip_connect": "tab:gray",
    "max_pool_3x3": "tab:green",
    "avg_pool_3x3": "tab:olive",
}


def _node_positions(steps: int) -> dict[str, tuple[float, float]]:
    positions = {"c_{k-2}": (0.0, 0.8), "c_{k-1}": (0.0, 0.2), "out": (steps + 1.0, 0.5)}
    for i in range(steps):
        positions[str(i)] = (1.0 + i, 0.5 + (0.25 if i % 2 else -0.25))
    return positions


def _input_name(index: int) -> str:
    return {0: "c_{k-2}", 1: "c_{k-1}"}.get(index, str(index - 2))


def plot_cell(
    nodes: Sequence[Sequence[tuple[str, int]]],
    concat: Sequence[int],
    path: str | Path,
    title: str = "",
) -> Path:
    """Draw a DARTS-style cell: inputs, intermediate nodes, labelled edges, concat output."""
    steps = len(nodes)
    positions = _node_positions(steps)
    fig, ax = plt.subplots(figsize=(2.2 * (steps + 2), 3.6))
    for target, node in enumerate(nodes):
        end = positions[str(target)]
        for rank, (op, source) in enumerate(node):
            start = positions[_input_name(source)]
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
        ax.annotate("", xy=positions["out"], xytext=positions[_input_name(index)],
                    arrowprops={"arrowstyle": "->", "color": "lightgray", "lw": 1})
    for name, (x, y) in positions.items():
        ax.text(x, y, name, ha="center", va="center", fontsize=9,
                bbox={"boxstyle": "round", "facecolor": "lightyellow", "edgecolor": "black"})
    ax.set_xlim(-0.6, steps + 1.6)
    ax.set_ylim(0.0, 1.0)
    ax.axis("off")
    ax.set_title(title)
    path = Path(path)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_weight_history(
    history: Sequence[dict[str, Sequence[float]]],
    ops: Sequence[str],
    path: str | Path,
    title: str = "mean op weight over the edges",
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
        ax.set_title(f"{cell_type} cell")
        ax.set_xlabel("epoch")
        ax.set_ylabel("weight")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title)
    path = Path(path)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
