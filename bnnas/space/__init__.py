"""The binary DARTS search space shared by differentiable and evolutionary search.

One :class:`Cell` and one :class:`Network` serve the differentiable supernet (UBNAS, Tan et
al. IEEE TCSVT 2024, with PC-DARTS partial channels), the single-path supernet of
evolutionary search and the derived final network; a :class:`Genotype` links them.
"""

from bnnas.space.cell import Cell, Edge, channel_shuffle, edge_index, node_softmax, num_edges
from bnnas.space.derive import derive, op_weights
from bnnas.space.genotype import CellGenotype, Genotype
from bnnas.space.layout import Layout
from bnnas.space.network import Network, SpaceSpec, SuperNetwork
from bnnas.space.ops import (
    OPS,
    PARAMETER_FREE_OPS,
    UBNAS_OPS,
    BinaryConvOp,
    FactorizedReduce,
)
from bnnas.space.slim import SlimBatchNorm2d, SlimRPReLU
from bnnas.space.structure import (
    DEFAULT_STRUCTURE,
    STRUCTURE_PRESETS,
    OpStructure,
    parse_structure,
)

__all__ = [
    "DEFAULT_STRUCTURE",
    "OPS",
    "PARAMETER_FREE_OPS",
    "STRUCTURE_PRESETS",
    "UBNAS_OPS",
    "BinaryConvOp",
    "Cell",
    "CellGenotype",
    "Edge",
    "FactorizedReduce",
    "Genotype",
    "Layout",
    "Network",
    "OpStructure",
    "SlimBatchNorm2d",
    "SlimRPReLU",
    "SpaceSpec",
    "SuperNetwork",
    "channel_shuffle",
    "derive",
    "edge_index",
    "node_softmax",
    "num_edges",
    "op_weights",
    "parse_structure",
]
