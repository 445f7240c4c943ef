"""OPs of a BARS architecture, differentiable in its relaxed distributions.

BARS (Zhao et al., arXiv 2011.10804) adds the expected cost of the relaxed architecture to the
search objective so that the derived network meets a budget. The cost here is counted the way
:mod:`bnnas.metrics` counts a built network (OPs = BOPs / 64 + FLOPs, a MAC being
``output elements x input channels x kernel area``), so that at one-hot distributions the
estimate *equals* the profiled count of the derived network; with soft distributions it is
the expectation over the choices:

* an op on an edge costs its probability times its MACs;
* a conv inside stage ``s`` costs ``E[c_s^2]``-proportional MACs, a conv reading stage
  ``s - 1`` and writing stage ``s`` costs ``E[c_{s-1}] E[c_s]`` (widths are chosen per stage,
  independently);
* cell ``j`` of a stage exists when the depth is at least ``j + 1``, so it costs
  ``P(depth > j)`` times its cost.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from bnnas.space.bars import BARSSpace
from bnnas.space.ops import OPS, BinaryConvOp, FactorizedConv
from bnnas.space.structure import OpStructure, parse_structure

BOPS_PER_OP = 64


@dataclass(frozen=True)
class OpCost:
    """MACs of an op per ``C_in * C_out * output pixel``, and whether they are binary."""

    per_c2: float
    binary: bool


def op_cost(name: str, stride: int, structure: OpStructure) -> OpCost:
    """Read an op's MAC coefficient off a small instance of it (so new ops need no table)."""
    op = OPS.get(name)(4, stride, structure)
    if not isinstance(op, BinaryConvOp):
        return OpCost(0.0, True)
    conv = op.conv
    if isinstance(conv, FactorizedConv):
        return OpCost(1.0, conv.conv_a.is_binary)
    return OpCost(float(math.prod(conv.kernel_size)), conv.is_binary)


def _downsample(size: int) -> int:
    return -(-size // 2)


class BARSCostModel:
    """Expected OPs of a :class:`BARSSpace` network on inputs of ``input_shape``."""

    def __init__(self, space: BARSSpace, input_shape: tuple[int, int, int],
                 num_classes: int) -> None:
        self.space = space
        self.in_channels, height, width = input_shape
        self.num_classes = num_classes
        structure = parse_structure(space.structure)
        pre = structure.preprocess_structure()
        self.pre_binary = pre.act_quantizer != "identity" and pre.weight_quantizer != "identity"
        self.edge_costs = {stride: [op_cost(o, stride, structure) for o in space.ops]
                           for stride in (1, 2)}
        self.sizes = [(height, width)]
        for _ in range(1, space.stages):
            h, w = self.sizes[-1]
            self.sizes.append((_downsample(h), _downsample(w)))

    def _ops(self, macs: Tensor, binary: bool) -> Tensor:
        return macs / BOPS_PER_OP if binary else macs

    def cell_ops(self, probs: Tensor, e_in_c: Tensor, e_cc: Tensor, size_in: tuple[int, int],
                 reduction: bool) -> Tensor:
        """Expected OPs of one dense cell: preprocess, edges, output conv."""
        steps = self.space.steps
        h_in, w_in = size_in
        pixels_in = h_in * w_in
        pixels = _downsample(h_in) * _downsample(w_in) if reduction else pixels_in
        total = self._ops(pixels_in * e_in_c, self.pre_binary)  # 1x1 preprocess
        edge = 0
        for node in range(steps):
            for source in range(node + 1):
                stride = 2 if reduction and source == 0 else 1
                for o, cost in enumerate(self.edge_costs[stride]):
                    if cost.per_c2:
                        total = total + probs[edge, o] * self._ops(
                            cost.per_c2 * pixels * e_cc, cost.binary)
                edge += 1
        if self.space.output == "concat_conv":
            total = total + self._ops(steps * pixels * e_cc, self.pre_binary)
        return total

    def coefficients(self, normal: Tensor, reduce: Tensor) -> list[dict[str, Tensor]]:
        """Per stage, a cell's OPs as ``a * E[c_in c] + b * E[c^2]``: the coefficients of the
        reduction cell (``reduce_a``, ``reduce_b``) and of a normal cell (``a``, ``b``). A cell's
        cost is linear in those two width moments, which makes the macro search cheap."""
        out = []
        one, zero = torch.ones(()), torch.zeros(())
        for stage in range(self.space.stages):
            size = self.sizes[stage]
            row = {"a": self.cell_ops(normal, one, zero, size, False),
                   "b": self.cell_ops(normal, zero, one, size, False)}
            if stage > 0:
                before = self.sizes[stage - 1]
                row["reduce_a"] = self.cell_ops(reduce, one, zero, before, True)
                row["reduce_b"] = self.cell_ops(reduce, zero, one, before, True)
            out.append(row)
        return out

    def fixed_ops(self) -> float:
        """OPs that no choice changes: the real stem conv."""
        h, w = self.sizes[0]
        return 9.0 * self.in_channels * self.space.stem_multiplier * self.space.channels * h * w

    def expected_ops(self, dist: dict[str, Tensor]) -> Tensor:
        """Expected OPs under ``dist`` (``normal``, ``reduce``: edges x ops; ``width``: stages
        x widths; ``depth``: stages x max_depth), differentiable in all four."""
        space = self.space
        coefficients = self.coefficients(dist["normal"], dist["reduce"])
        total = torch.as_tensor(self.fixed_ops())
        prev_mean = torch.as_tensor(float(space.stem_multiplier * space.channels))
        for stage, coef in enumerate(coefficients):
            choices = torch.tensor(space.width_choices(stage), dtype=dist["width"].dtype)
            p = dist["width"][stage]
            mean, square = p @ choices, p @ choices.square()
            if stage > 0:
                total = total + coef["reduce_a"] * prev_mean * mean + coef["reduce_b"] * square
                prev_mean = mean
            exists = dist["depth"][stage].flip(0).cumsum(0).flip(0)  # P(depth > j)
            first = coef["a"] * prev_mean * mean + coef["b"] * square
            later = (coef["a"] + coef["b"]) * square
            total = total + exists[0] * first + exists[1:].sum() * later
            prev_mean = mean
        return total + prev_mean * self.num_classes  # real classifier

    def macro_ops(self, coefficients: list[dict[str, Tensor]], width_index: list[int],
                  depths: list[int]) -> float:
        """OPs of one macro choice with fixed cells (plain floats: fast to enumerate)."""
        space = self.space
        coef = [{k: float(v) for k, v in row.items()} for row in coefficients]
        total = self.fixed_ops()
        prev = float(space.stem_multiplier * space.channels)
        for stage in range(space.stages):
            width = float(space.width_choices(stage)[width_index[stage]])
            if stage > 0:
                total += coef[stage]["reduce_a"] * prev * width + coef[stage]["reduce_b"] * width**2
                prev = width
            total += coef[stage]["a"] * prev * width + coef[stage]["b"] * width**2
            total += (depths[stage] - 1) * (coef[stage]["a"] + coef[stage]["b"]) * width**2
            prev = width
        return total + prev * self.num_classes


    def ops_range(self) -> tuple[float, float]:
        """The OPs of the cheapest and the dearest network of the space (every edge of both
        cells holding the same op, over every layout): a budget outside this range cannot be
        met, whatever the search learns."""
        ops, steps = self.space.ops, self.space.steps
        low, high = math.inf, 0.0
        edges = sum(node + 1 for node in range(steps))
        layouts = list(itertools.product(
            itertools.product(range(len(self.space.widths)), repeat=self.space.stages),
            itertools.product(range(1, self.space.max_depth + 1), repeat=self.space.stages)))
        for o in range(len(ops)):
            table = torch.zeros(edges, len(ops))
            table[:, o] = 1.0
            coefficients = self.coefficients(table, table)
            for widths, depths in layouts:
                value = self.macro_ops(coefficients, list(widths), list(depths))
                low, high = min(low, value), max(high, value)
        return low, high


def one_hot_distributions(space: BARSSpace, normal: Tensor, reduce: Tensor,
                          width_index: list[int], depths: list[int]) -> dict[str, Tensor]:
    """Distributions that put all weight on one architecture (op tables are given)."""
    width = torch.zeros(space.stages, len(space.widths))
    depth = torch.zeros(space.stages, space.max_depth)
    for stage in range(space.stages):
        width[stage, width_index[stage]] = 1.0
        depth[stage, depths[stage] - 1] = 1.0
    return {"normal": normal, "reduce": reduce, "width": width, "depth": depth}


def budget_penalty(cost: Tensor, budget: float, exponent: float) -> Tensor:
    """MnasNet's soft constraint (Tan et al., CVPR 2019) as a loss factor:
    ``(cost / budget) ** exponent`` over budget, 1 within it (multiply the loss by it)."""
    ratio = cost / budget
    return torch.where(ratio > 1, ratio.clamp(min=1) ** exponent, torch.ones_like(ratio))
