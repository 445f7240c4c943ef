"""Path dropout for the second training stage of a weight-sharing supernet.

MO-TS-BNAS (Tan et al., IEEE Trans. Cybernetics) keeps training its hypernetwork while the
evolution runs, on paths of the current population; so few paths would overfit the shared
weights to them, and the paper drops parts of each sampled path. Here each (op, input) pair of
a node is dropped with probability ``rate`` (Bender et al., ICML 2018, drop paths of a one-shot
model the same way), but every node keeps at least one input, so the sub-path stays a valid
cell: a node whose draws dropped everything keeps one of its pairs at random.
"""

from __future__ import annotations

import numpy as np

from bnnas.errors import ConfigError
from bnnas.space.genotype import CellGenotype


def drop_path_pairs(cell: CellGenotype, rate: float, rng: np.random.Generator) -> CellGenotype:
    """``cell`` with each node's pairs dropped independently with probability ``rate``."""
    if not 0 <= rate < 1:
        raise ConfigError(f"path dropout rate must be in [0, 1), got {rate}")
    if rate == 0:
        return cell
    nodes = []
    for node in cell.nodes:
        keep = rng.random(len(node)) >= rate
        if not keep.any():
            keep[rng.integers(len(node))] = True
        nodes.append(tuple(pair for pair, kept in zip(node, keep, strict=True) if kept))
    return CellGenotype(nodes=tuple(nodes), concat=cell.concat)
