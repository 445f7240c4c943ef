"""ONE cell for the supernet and the derived network (DARTS, Liu et al. ICLR 2019).

A cell takes the outputs of the previous two cells, brings each to ``channels`` channels
(binary 1x1 op, or a binary factorized reduce when the previous cell halved the resolution),
computes ``steps`` intermediate nodes, each a sum over :class:`Edge` outputs of earlier nodes,
and concatenates the nodes of ``concat``. DARTS wrote this class twice, for search and for
evaluation; here the same class serves three uses, chosen by the arguments of ``forward``:

* **fixed** (a cell built from a :class:`~bnnas.space.genotype.CellGenotype`): only the chosen
  edges exist, each holding one op; ``cell(s0, s1)``;
* **mixed** (differentiable search, UBNAS / PC-DARTS): every edge holds every candidate op;
  ``cell(s0, s1, weights=softmax(alpha), edge_weights=..., k=K)`` sums ``w_o * op_o`` on
  ``1/K`` of the channels (PC-DARTS, Xu et al. ICLR 2020) and weighs the edges into a node by
  the edge-normalisation weights;
* **single path** (one-shot supernet of evolutionary search, MO-TS-BNAS):
  ``cell(s0, s1, path=cell_genotype)`` runs only the ops the path names, on their edges.

Supernet edges are numbered node by node: node ``i`` owns edges ``offset(i) .. offset(i)+i+1``
for inputs ``0 .. i+1`` (:func:`edge_index`); the rows of the architecture parameters follow it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bnnas.binary import SharedInput
from bnnas.binary.layers import apply_channel_mask
from bnnas.errors import ConfigError
from bnnas.space.genotype import CELL_OUTPUTS, CellGenotype
from bnnas.space.ops import OPS, BinaryConvOp, FactorizedReduce, PoolOp
from bnnas.space.structure import OpStructure


def num_edges(steps: int, inputs: int = 2) -> int:
    """Edges of a supernet cell: node ``i`` has ``i + inputs`` inputs (14 for 4 steps of a
    DARTS cell, 10 for a 4-step BARS dense cell)."""
    return inputs * steps + steps * (steps - 1) // 2


def edge_index(node: int, source: int, inputs: int = 2) -> int:
    """The supernet edge from state ``source`` into intermediate node ``node``."""
    return inputs * node + node * (node - 1) // 2 + source


def node_softmax(betas: Tensor, steps: int, inputs: int = 2) -> Tensor:
    """PC-DARTS edge normalisation: a softmax over the edges into each node, concatenated."""
    parts, start = [], 0
    for node in range(steps):
        parts.append(F.softmax(betas[start : start + node + inputs], dim=-1))
        start += node + inputs
    return torch.cat(parts)


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """Interleave ``groups`` channel groups (ShuffleNet), so that every channel passes through
    the ops on some edge of a PC-DARTS supernet."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def check_partial_k(k: int, channels: int) -> None:
    """Raise ConfigError unless the partial-channel ratio ``k`` divides ``channels``."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1 or channels % k:
        divisors = ", ".join(str(d) for d in range(1, channels + 1) if channels % d == 0)
        raise ConfigError(
            f"partial-channel K={k} does not divide {channels} channels; "
            f"use one of {divisors}"
        )


class Edge(nn.Module):
    """Candidate ops on one ``(node, input)`` edge.

    The ops are built for ``channels // k_min`` channels, the widest slice the partial-channel
    schedule will use; a larger ``k`` runs them slim (:mod:`bnnas.space.slim`).
    """

    def __init__(
        self,
        ops: Sequence[str],
        channels: int,
        stride: int,
        structure: OpStructure,
        k_min: int = 1,
    ) -> None:
        super().__init__()
        check_partial_k(k_min, channels)
        self.op_names = tuple(ops)
        self.channels, self.stride, self.k_min = channels, stride, k_min
        width = channels // k_min
        self.ops = nn.ModuleList(OPS.get(name)(width, stride, structure) for name in ops)

    def forward(
        self,
        x: Tensor,
        weights: Tensor | None = None,
        k: int | None = None,
        *,
        index: int | None = None,
    ) -> Tensor:
        """``op(x)`` for a one-op edge; the mixed sum with ``weights``; op ``index`` alone.

        ``k`` (default ``k_min``) is the partial-channel ratio of the mixed and single-path
        modes: the first ``C // k`` channels go through the op(s), the others bypass them
        (a 2x2 max-pool at stride 2), then the channels are shuffled (PC-DARTS).
        """
        if weights is None and index is None:
            if len(self.ops) != 1:
                raise ConfigError(
                    f"an edge of {len(self.ops)} candidate ops needs mixing weights or a path"
                )
            return self.ops[0](x)
        if weights is not None and index is not None:
            raise ConfigError("give an edge mixing weights or a path index, not both")
        k = self.check_k(k)
        part, rest = self.split(x, k)
        out = self.ops[index](part) if index is not None else self.mix(part, weights)
        return join_partial(out, rest, k)

    def check_k(self, k: int | None) -> int:
        """The partial-channel ratio to use (``k_min`` if None), checked against this edge."""
        k = self.k_min if k is None else k
        if k < self.k_min:
            raise ConfigError(
                f"partial-channel K={k} is below K={self.k_min} the supernet was built for; "
                f"build it with min_k <= {k}"
            )
        check_partial_k(k, self.channels)
        return k

    def split(self, x: Tensor, k: int) -> tuple[Tensor, Tensor | None]:
        """PC-DARTS channel sampling: the leading ``C // k`` channels for the ops, and the
        bypassing rest (pooled when this edge downsamples; None at ``k = 1``). Every edge
        leaving one state splits it the same way, so a cell splits each state once."""
        if k == 1:
            return x, None
        c = self.channels // k
        rest = x[:, c:]
        if self.stride == 2:
            rest = F.max_pool2d(rest, 2, 2, ceil_mode=True)
        return x[:, :c].contiguous(), rest

    def mix(self, part: Tensor, weights: Tensor, shared: SharedInput | None = None) -> Tensor:
        """``sum_o w_o op_o(part)`` (:func:`mix_edges` of this edge alone)."""
        shared = SharedInput(part) if shared is None else shared
        return mix_edges([self], part, weights.unsqueeze(0), shared)[0]


def mix_edges(
    edges: Sequence[Edge], part: Tensor, weights: Tensor, shared: SharedInput
) -> list[Tensor]:
    """``sum_o weights[i, o] * op_o(part)`` for every edge ``i`` leaving one state.

    The edges read the same input slice, so each candidate op runs for all of them at once:
    one sign, one pool and one shortcut per state, and the binary convolutions of one op
    stacked into a single wider convolution (:meth:`BinaryConvOp.run_group`). ``none`` is
    skipped: ``w * 0`` adds nothing, to the sum or to any gradient.
    """
    outs: list[Tensor | None] = [None] * len(edges)
    for o in range(len(edges[0].ops)):
        ops = [edge.ops[o] for edge in edges]
        if getattr(ops[0], "is_zero", False):
            continue
        if isinstance(ops[0], BinaryConvOp):
            ys = BinaryConvOp.run_group(ops, part, shared)  # type: ignore[arg-type]
        elif isinstance(ops[0], PoolOp):
            ys = [op(part, shared) for op in ops]
        else:
            ys = [op(part) for op in ops]
        for i, y in enumerate(ys):
            term = weights[i, o] * y
            outs[i] = term if outs[i] is None else outs[i] + term
    return [
        out if out is not None else edge.ops[0](part)
        for out, edge in zip(outs, edges, strict=True)
    ]


def join_partial(out: Tensor, rest: Tensor | None, k: int) -> Tensor:
    """Put the op output and the bypassing channels back together and shuffle them, so that
    every channel passes through the ops on some edge (PC-DARTS)."""
    if rest is None:
        return out
    return channel_shuffle(torch.cat([out, rest], dim=1), k)


class Cell(nn.Module):
    """A DARTS cell; give ``ops`` for a supernet cell or ``genotype`` for a fixed one.

    ``c_pp`` and ``c_p`` are the channels of the two inputs, ``channels`` the width of every
    node; the output has ``len(concat) * channels`` channels (:attr:`out_channels`).
    """

    def __init__(
        self,
        c_pp: int,
        c_p: int,
        channels: int,
        *,
        reduction: bool,
        reduction_prev: bool,
        structure: OpStructure,
        ops: Sequence[str] | None = None,
        genotype: CellGenotype | None = None,
        steps: int = 4,
        k_min: int = 1,
        inputs: int = 2,
        output: str = "concat",
    ) -> None:
        super().__init__()
        if (ops is None) == (genotype is None):
            raise ConfigError("a Cell takes either candidate ops (supernet) or a genotype")
        if genotype is not None:
            inputs, output = genotype.inputs, genotype.output
        if inputs not in (1, 2) or output not in CELL_OUTPUTS:
            raise ConfigError(f"a cell has 1 or 2 inputs and an output in {CELL_OUTPUTS}, got "
                              f"inputs={inputs!r}, output={output!r}")
        self.reduction, self.channels = reduction, channels
        self.inputs, self.output = inputs, output
        pre = structure.preprocess_structure()
        self.preprocess0: nn.Module | None = None
        if inputs == 2:
            if reduction_prev:
                self.preprocess0 = FactorizedReduce(c_pp, channels, pre)
            else:
                self.preprocess0 = BinaryConvOp(c_pp, channels, 1, 1, 1, pre)
        self.preprocess1 = BinaryConvOp(c_p, channels, 1, 1, 1, pre)
        edges: list[Edge] = []
        routes: list[tuple[tuple[int, int], ...]] = []
        if genotype is not None:
            self.op_names: tuple[str, ...] | None = None
            self.steps, self.concat = genotype.steps, tuple(genotype.concat)
            for node in genotype.nodes:
                route = []
                for op, source in node:
                    stride = 2 if reduction and source < inputs else 1
                    route.append((len(edges), source))
                    edges.append(Edge((op,), channels, stride, structure))
                routes.append(tuple(route))
        else:
            self.op_names = tuple(ops)  # type: ignore[arg-type]
            self.steps, self.concat = steps, tuple(range(inputs, steps + inputs))
            for node in range(steps):
                sources = range(node + inputs)
                routes.append(tuple((edge_index(node, s, inputs), s) for s in sources))
                for source in sources:
                    stride = 2 if reduction and source < inputs else 1
                    edges.append(Edge(self.op_names, channels, stride, structure, k_min))
        self.edges = nn.ModuleList(edges)
        self.routes = tuple(routes)
        self.output_conv: nn.Module | None = None
        if output == "concat_conv":
            self.output_conv = BinaryConvOp(len(self.concat) * channels, channels, 1, 1, 1, pre)
        # (edge, node) pairs leaving each state, for the state-by-state mixed forward
        self.out_edges: tuple[tuple[tuple[int, int], ...], ...] = tuple(
            tuple((e, node) for node, route in enumerate(routes) for e, s in route if s == src)
            for src in range(self.steps + inputs)
        )
        self.out_channels = len(self.concat) * channels if output == "concat" else channels

    def forward(
        self,
        s0: Tensor,
        s1: Tensor,
        *,
        weights: Tensor | None = None,
        edge_weights: Tensor | None = None,
        k: int | None = None,
        path: CellGenotype | None = None,
        width_mask: Tensor | None = None,
        input_mask: Tensor | None = None,
    ) -> Tensor:
        """Fixed without arguments; mixed with ``weights`` (edges x ops, already normalised)
        and optional ``edge_weights`` (edges,); single path with ``path``. ``k`` is the
        partial-channel ratio of a supernet cell.

        ``width_mask`` (mixed mode, one weight per channel of this cell) relaxes the cell's
        width as BARS does (Zhao et al., arXiv 2011.10804): every state is multiplied by it
        and every binary conv reads its quantized input through it, so the cell computes the
        expectation over the candidate widths; ``input_mask`` is the previous cell's mask.
        """
        if (weights is not None or path is not None) and self.op_names is None:
            raise ConfigError("a cell built from a genotype has fixed ops; call it without "
                              "weights or path")
        if weights is not None and path is not None:
            raise ConfigError("give a supernet cell mixing weights or a path, not both")
        if width_mask is not None and (weights is None or (k or 1) != 1):
            raise ConfigError("width masks apply to a mixed cell without partial channels")
        states = [self.preprocess1(s1, input_mask=input_mask)]
        if self.preprocess0 is not None:
            states.insert(0, self.preprocess0(s0, input_mask=input_mask))
        if width_mask is not None:
            states = [apply_channel_mask(state, width_mask) for state in states]
        if path is not None:
            for route in self.path_routes(path):
                states.append(self._node(
                    [self.edges[e](states[s], k=k, index=o) for e, o, s in route]))
        elif weights is not None:
            self._mixed_nodes(states, weights, edge_weights, k, width_mask)
        else:
            if self.op_names is not None:
                raise ConfigError("a supernet cell needs mixing weights or a path")
            for route in self.routes:
                states.append(self._node([self.edges[e](states[s]) for e, s in route]))
        return self.combine([states[i] for i in self.concat], width_mask)

    def _node(self, terms: list[Tensor]) -> Tensor:
        """A node from its input edges: their sum in a DARTS cell; their mean in a dense cell,
        whose node ``i`` reads ``i + 1`` states that all carry the cell input through skips
        and shortcuts, so a sum would grow the activations with every node and cell."""
        return _sum(terms) / len(terms) if self.inputs == 1 else _sum(terms)

    def combine(self, nodes: list[Tensor], width_mask: Tensor | None = None) -> Tensor:
        """The cell output from its ``concat`` nodes, as :attr:`output` says."""
        if self.output == "add":
            return _sum(nodes) / len(nodes) if self.inputs == 1 else _sum(nodes)
        out = torch.cat(nodes, dim=1)
        if self.output_conv is None:
            return out
        mask = None if width_mask is None else width_mask.repeat(len(nodes))
        out = self.output_conv(out, input_mask=mask)
        return out if width_mask is None else apply_channel_mask(out, width_mask)

    def _mixed_nodes(
        self,
        states: list[Tensor],
        weights: Tensor,
        edge_weights: Tensor | None,
        k: int | None,
        width_mask: Tensor | None = None,
    ) -> None:
        """Append the nodes of the mixed (PC-DARTS) cell to ``states``, state by state.

        Each state is split and binarized once, and all edges leaving it run together
        (:func:`mix_edges`). A node is ``sum_e b_e shuffle([mix_e, rest_e])``; shuffle and
        concatenation are linear and the same for every edge, so the op outputs and the
        bypassing channels are summed separately and shuffled once per node. Node ``i`` is
        complete once states ``0 .. i + inputs - 1`` have sent their edges.
        """
        pending: list[list[Tensor]] = [[] for _ in range(self.steps)]
        bypass: list[list[Tensor]] = [[] for _ in range(self.steps)]
        lag = self.inputs - 1
        for source in range(self.steps + lag):
            out_edges = self.out_edges[source]
            edges = [self.edges[e] for e, _ in out_edges]
            ratio = edges[0].check_k(k)
            part, rest = edges[0].split(states[source], ratio)
            rows = weights[[e for e, _ in out_edges]]
            outs = mix_edges(edges, part, rows, SharedInput(part, width_mask))
            for (e, node), out in zip(out_edges, outs, strict=True):
                if edge_weights is not None:
                    out = out * edge_weights[e]
                pending[node].append(out)
                if rest is not None:
                    bypass[node].append(rest if edge_weights is None else rest * edge_weights[e])
            if source >= lag:
                node = source - lag
                rest_sum = _sum(bypass[node]) if bypass[node] else None
                state = join_partial(_sum(pending[node]), rest_sum, ratio)
                if self.inputs == 1:
                    state = state / (node + 1)
                if width_mask is not None:
                    state = apply_channel_mask(state, width_mask)
                states.append(state)

    def path_routes(self, path: CellGenotype) -> list[list[tuple[int, int, int]]]:
        """``(edge, op index, source)`` per node of a single path through this supernet cell.

        The path may pick any number of (op, input) pairs per node from this cell's ops, but
        no ``none``, and must concatenate all nodes (the next cell expects that many channels).
        """
        if self.op_names is None:
            raise ConfigError("a cell built from a genotype has no paths to choose")
        if not isinstance(path, CellGenotype):
            raise ConfigError(f"path: must be a CellGenotype, got {type(path).__name__}")
        problem = path.problem(self.op_names, "path")
        if problem is None and path.steps != self.steps:
            problem = f"path.nodes: the supernet cell has {self.steps} nodes, got {path.steps}"
        if problem is None and (path.inputs, path.output) != (self.inputs, self.output):
            problem = (f"path: the supernet cell has {self.inputs} inputs and output "
                       f"{self.output!r}, got {path.inputs} and {path.output!r}")
        if problem is None and tuple(path.concat) != self.concat:
            problem = f"path.concat: a supernet path concatenates all nodes {list(self.concat)}"
        if problem:
            raise ConfigError(problem)
        return [
            [(edge_index(node, s, self.inputs), self.op_names.index(op), s) for op, s in pairs]
            for node, pairs in enumerate(path.nodes)
        ]


def _sum(terms: Iterable[Tensor]) -> Tensor:
    iterator = iter(terms)
    total = next(iterator)
    for term in iterator:
        total = total + term
    return total
