"""Turn architecture parameters into a discrete cell (the DARTS / PC-DARTS derivation rule).

DARTS (Liu et al., ICLR 2019) keeps, for every intermediate node, the two input edges whose
strongest non-``none`` op has the largest softmax weight, and gives each kept edge that op.
PC-DARTS (Xu et al., ICLR 2020) multiplies the op weights of an edge by its edge-normalisation
weight (softmax of the betas over the edges into the node) before ranking, which is what makes
the edge choice stable under partial channels. ``none`` is never chosen: its weight only says
how much an edge matters relative to the others.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor

from bnnas.errors import ConfigError
from bnnas.space.cell import node_softmax, num_edges
from bnnas.space.genotype import CellGenotype


def steps_for_edges(edges: int) -> int:
    """The node count of a supernet cell with ``edges`` edges (inverse of ``num_edges``)."""
    steps = round((-3 + math.sqrt(9 + 8 * edges)) / 2)
    if steps < 1 or num_edges(steps) != edges:
        raise ConfigError(f"{edges} edges do not form a DARTS cell (2, 5, 9, 14, ... edges)")
    return steps


def derive(
    alphas: Tensor,
    betas: Tensor | None,
    ops: Sequence[str],
    *,
    inputs_per_node: int = 2,
) -> CellGenotype:
    """The discrete cell of ``alphas`` (edges x ops, raw) and ``betas`` (edges, raw or None).

    Edge strength = max over non-``none`` ops of ``softmax(alpha_edge)[op]`` times the edge's
    normalised beta; each node keeps its ``inputs_per_node`` strongest inputs (ties go to the
    lower input index), listed in input order, each with its strongest non-``none`` op. The
    cell concatenates all nodes, as DARTS' does.
    """
    if alphas.dim() != 2 or alphas.shape[1] != len(ops):
        raise ConfigError(
            f"alphas of shape {tuple(alphas.shape)} do not match {len(ops)} ops; "
            "expected (edges, ops)"
        )
    steps = steps_for_edges(alphas.shape[0])
    weights = op_weights(alphas, betas)
    candidates = [o for o, name in enumerate(ops) if name != "none"]
    if not candidates:
        raise ConfigError("a space of only 'none' ops has nothing to derive; add real ops")
    table: list[list[float]] = weights[:, candidates].tolist()
    nodes, start = [], 0
    for node in range(steps):
        best = []
        for source in range(node + 2):
            row = table[start + source]
            op = max(range(len(candidates)), key=lambda o, row=row: (row[o], -o))
            best.append((row[op], source, ops[candidates[op]]))
        kept = sorted(best, key=lambda item: (-item[0], item[1]))[:inputs_per_node]
        nodes.append(tuple((name, source) for _, source, name in sorted(kept, key=lambda i: i[1])))
        start += node + 2
    return CellGenotype(nodes=tuple(nodes), concat=tuple(range(2, steps + 2)))


def op_weights(alphas: Tensor, betas: Tensor | None) -> Tensor:
    """The weights :func:`derive` ranks (edges x ops, float64, detached): ``softmax(alpha)``
    times the per-node softmax of the betas (PC-DARTS edge normalisation)."""
    steps = steps_for_edges(alphas.shape[0])
    weights = F.softmax(alphas.detach().double(), dim=-1)
    if betas is None:
        return weights
    if tuple(betas.shape) != (alphas.shape[0],):
        raise ConfigError(
            f"betas of shape {tuple(betas.shape)} do not match {alphas.shape[0]} edges"
        )
    return weights * node_softmax(betas.detach().double(), steps).unsqueeze(1)
