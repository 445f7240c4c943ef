"""The BARS search space: a searched macro layout around searched dense binary cells.

BARS (Zhao et al., "BARS: Joint Search of Cell Topology and Layout for Accurate and Efficient
Binary ARchitectures", arXiv 2011.10804) searches two levels at once:

* **macro**: ``stages`` stages separated by reduction cells; stage ``s`` is at most
  ``max_depth`` cells of at most ``channels * 2**s`` channels, and the search picks a width
  multiplier (from ``widths``) and a depth per stage. Width is relaxed by channel masks
  weighted by the width probabilities (``mask[c] = P(width > c)``), depth by *sink-connect*:
  the stage's output is the probability-weighted sum of its cells' outputs, where
  ``P(depth = d)`` weights the ``d``-th cell;
* **micro**: a dense cell (one input, ``steps`` nodes, every earlier state feeds every later
  node) whose edges choose among binary ops; the cell output is ``concat + binary 1x1 conv``
  or the sum of its nodes.

The cells are the one shared :class:`~bnnas.space.cell.Cell` (``inputs=1``); the derived
architecture is an ordinary :class:`~bnnas.space.genotype.Genotype` whose layout lists every
cell's width, so ``bnnas train --genotype`` builds it with the same code as any other.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bnnas.errors import CheckpointError, ConfigError
from bnnas.space.cell import Cell, num_edges
from bnnas.space.genotype import CELL_OUTPUTS, CellGenotype, Genotype
from bnnas.space.layout import Layout
from bnnas.space.network import make_stem
from bnnas.space.ops import BARS_OPS, OPS
from bnnas.space.structure import parse_structure

BARS_WIDTHS: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class BARSSpace:
    """The two-level space; defaults are BARS' CIFAR settings scaled down for a CPU."""

    ops: tuple[str, ...] = BARS_OPS
    steps: int = 4
    stages: int = 3
    channels: int = 16
    stem_multiplier: int = 1
    max_depth: int = 3
    widths: tuple[float, ...] = BARS_WIDTHS
    output: str = "add"
    structure: str = "sign-conv-bn+shortcut"

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", tuple(self.ops))
        object.__setattr__(self, "widths", tuple(float(w) for w in self.widths))
        if not self.ops or len(set(self.ops)) != len(self.ops):
            raise ConfigError(f"space.ops must be a non-empty list without repeats, got "
                              f"{list(self.ops)}")
        for name in self.ops:
            OPS.get(name)
        if set(self.ops) <= {"none"}:
            raise ConfigError("space.ops needs at least one op besides 'none'")
        if not self.widths:
            raise ConfigError("space.widths is empty; give width multipliers in (0, 1], "
                              "e.g. [0.25, 0.5, 0.75, 1.0]")
        for w in self.widths:
            if not 0 < w <= 1:
                raise ConfigError(f"space.widths: multiplier {w} is outside (0, 1]; BARS "
                                  "widths scale the stage's full width down")
        if len(set(self.widths)) != len(self.widths) or list(self.widths) != sorted(self.widths):
            raise ConfigError(f"space.widths must increase without repeats, got "
                              f"{list(self.widths)}")
        if not isinstance(self.max_depth, int) or self.max_depth < 1:
            raise ConfigError(f"space.max_depth must be >= 1, got {self.max_depth!r}")
        for name, low, high in (("steps", 1, 16), ("stages", 1, 6), ("channels", 2, 4096),
                                ("stem_multiplier", 1, 16)):
            value = getattr(self, name)
            if not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"space.{name} must be in [{low}, {high}], got {value!r}")
        if self.output not in CELL_OUTPUTS[1:]:
            raise ConfigError(f"space.output must be one of {', '.join(CELL_OUTPUTS[1:])}, "
                              f"got {self.output!r}")
        object.__setattr__(self, "structure", parse_structure(self.structure).spec)

    def stage_channels(self, stage: int) -> int:
        """The full (multiplier 1) width of ``stage``: doubled at every reduction."""
        return self.channels * 2**stage

    def width_choices(self, stage: int) -> list[int]:
        """The channel counts the multipliers give in ``stage`` (at least 2, for the binary
        factorized reduce)."""
        full = self.stage_channels(stage)
        return [max(2, round(w * full)) for w in self.widths]

    def layout(self, width_index: list[int], depths: list[int]) -> Layout:
        """The derived layout: stage ``s`` holds ``depths[s]`` normal cells of width choice
        ``width_index[s]``, preceded (for ``s > 0``) by a reduction cell of that width."""
        widths: list[int] = []
        reductions: list[int] = []
        for stage in range(self.stages):
            width = self.width_choices(stage)[width_index[stage]]
            if stage > 0:
                reductions.append(len(widths))
                widths.append(width)
            widths.extend([width] * depths[stage])
        return Layout(len(widths), self.channels, self.stem_multiplier, tuple(reductions),
                      tuple(widths))

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["ops"], data["widths"] = list(self.ops), list(self.widths)
        return data


class BARSSuperNetwork(nn.Module):
    """Stem, per stage a reduction cell (after the first) and ``max_depth`` mixed dense cells
    at full width, sink-connected; real classifier. Architecture parameters (registered, so
    they live in ``state_dict``): ``alphas_normal``/``alphas_reduce`` (edges x ops),
    ``width_logits`` (stages x widths), ``depth_logits`` (stages x max_depth).

    :meth:`forward` takes the relaxed distributions from :meth:`distributions`, which the
    search computes once per step (Gumbel-softmax or softmax, :mod:`bnnas.search.relax`).
    """

    def __init__(self, space: BARSSpace, num_classes: int, in_channels: int) -> None:
        super().__init__()
        self.space = space
        structure = parse_structure(space.structure)
        stem_width = space.stem_multiplier * space.channels
        self.stem = make_stem(in_channels, stem_width)

        def cell(c_in: int, channels: int, reduction: bool) -> Cell:
            return Cell(c_in, c_in, channels, reduction=reduction, reduction_prev=False,
                        structure=structure, ops=space.ops, steps=space.steps, inputs=1,
                        output=space.output)

        self.reductions = nn.ModuleList()
        self.stage_cells = nn.ModuleList()
        c_in = stem_width
        for stage in range(space.stages):
            width = space.stage_channels(stage)
            if stage > 0:
                self.reductions.append(cell(c_in, width, True))
                c_in = width
            cells = [cell(c_in if j == 0 else width, width, False)
                     for j in range(space.max_depth)]
            self.stage_cells.append(nn.ModuleList(cells))
            c_in = width
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_in, num_classes)
        edges = num_edges(space.steps, inputs=1)
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(edges, len(space.ops)))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(edges, len(space.ops)))
        self.width_logits = nn.Parameter(1e-3 * torch.randn(space.stages, len(space.widths)))
        self.depth_logits = nn.Parameter(1e-3 * torch.randn(space.stages, space.max_depth))
        for stage in range(space.stages):
            mask = width_masks(space.width_choices(stage), space.stage_channels(stage))
            self.register_buffer(f"width_masks_{stage}", mask, persistent=False)
        self.relaxation, self.temperature, self.hard = "softmax", 1.0, False
        self.last_distributions: dict[str, Tensor] | None = None

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alphas_normal, self.alphas_reduce, self.width_logits, self.depth_logits]

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def plain_distributions(self) -> dict[str, Tensor]:
        """Softmax of every architecture parameter (for logging and derivation)."""
        return {
            "normal": F.softmax(self.alphas_normal, dim=-1),
            "reduce": F.softmax(self.alphas_reduce, dim=-1),
            "width": F.softmax(self.width_logits, dim=-1),
            "depth": F.softmax(self.depth_logits, dim=-1),
        }

    def sample_distributions(self) -> dict[str, Tensor]:
        """The relaxed distributions of one step: Gumbel-softmax samples at the current
        :attr:`temperature` (hard if :attr:`hard`), or plain softmax (:attr:`relaxation`)."""
        from bnnas.search.relax import relax

        names = {"normal": self.alphas_normal, "reduce": self.alphas_reduce,
                 "width": self.width_logits, "depth": self.depth_logits}
        return {k: relax(v, self.relaxation, self.temperature, self.hard)
                for k, v in names.items()}

    def channel_mask(self, stage: int, width_probs: Tensor) -> Tensor:
        """``mask[c] = sum_k p_k [c < width_k]``: each channel weighted by the probability
        that the stage is wider than it."""
        masks: Tensor = getattr(self, f"width_masks_{stage}")
        return width_probs @ masks

    def forward(self, x: Tensor, dist: dict[str, Tensor] | None = None) -> Tensor:
        """Logits under ``dist``; by default a fresh relaxed sample in training mode and the
        plain softmax in eval mode. The distributions used are kept in
        :attr:`last_distributions` (the cost and entropy terms of the search read them)."""
        if dist is None:
            dist = self.sample_distributions() if self.training else self.plain_distributions()
        self.last_distributions = dist
        h = self.stem(x)
        in_mask: Tensor | None = None
        for stage in range(self.space.stages):
            mask = self.channel_mask(stage, dist["width"][stage])
            if stage > 0:
                h = self.reductions[stage - 1](h, h, weights=dist["reduce"], width_mask=mask,
                                               input_mask=in_mask)
                in_mask = mask
            outs = []
            for cell in self.stage_cells[stage]:
                h = cell(h, h, weights=dist["normal"], width_mask=mask, input_mask=in_mask)
                in_mask = mask
                outs.append(h)
            depth = dist["depth"][stage]
            h = sum((p * out for p, out in zip(depth, outs, strict=True)), torch.zeros_like(h))
        return self.classifier(self.pool(h).flatten(1))

    def get_extra_state(self) -> dict[str, Any]:
        return {"bars_space": self.space.to_dict()}

    def set_extra_state(self, state: Any) -> None:
        stored = state.get("bars_space") if isinstance(state, dict) else None
        if stored is not None and stored != self.space.to_dict():
            raise CheckpointError("the state was saved from a supernet of another BARS space; "
                                  "build the supernet with the space it was searched in")


def width_masks(choices: list[int], full: int) -> Tensor:
    """One 0/1 row per width choice: the channels that width keeps (the leading ones)."""
    rows = torch.zeros(len(choices), full)
    for k, width in enumerate(choices):
        rows[k, :width] = 1.0
    return rows


def derive_dense_cell(
    probs: Tensor, ops: tuple[str, ...], steps: int, output: str, *, max_skip: int | None
) -> CellGenotype:
    """The discrete dense cell of op probabilities ``probs`` (edges x ops).

    BARS keeps every edge of the dense cell and gives it its most probable op; an edge whose
    winner is ``none`` is dropped, but a node keeps at least its strongest non-``none`` edge.
    Against collapse into parameter-free cells (the DARTS failure BARS discusses), at most
    ``max_skip`` edges of the cell may become ``skip_connect``: the surplus skips with the
    weakest skip probability take their best op that is neither ``skip_connect`` nor
    ``none`` (DARTS+-style limit; None keeps plain argmax).
    """
    table = probs.detach().double().tolist()
    choice: dict[int, int] = {}
    edge = 0
    routes = []
    for node in range(steps):
        route = []
        for source in range(node + 1):
            row = table[edge]
            choice[edge] = max(range(len(ops)), key=lambda o, row=row: (row[o], -o))
            route.append((edge, source))
            edge += 1
        routes.append(route)
    real = [o for o, name in enumerate(ops) if name != "none"]
    if not real:
        raise ConfigError("a space of only 'none' ops has nothing to derive; add real ops")
    for route in routes:  # every node keeps at least one input
        if all(ops[choice[e]] == "none" for e, _ in route):
            e, _ = max(route, key=lambda es: max(table[es[0]][o] for o in real))
            choice[e] = max(real, key=lambda o, row=table[e]: (row[o], -o))
    if max_skip is not None and "skip_connect" in ops:
        skip = ops.index("skip_connect")
        others = [o for o in real if o != skip]
        skips = sorted((e for e in choice if choice[e] == skip), key=lambda e: table[e][skip])
        surplus = len(skips) - max_skip
        for e in skips[:max(surplus, 0)]:
            if others:
                choice[e] = max(others, key=lambda o, row=table[e]: (row[o], -o))
    nodes = tuple(
        tuple((ops[choice[e]], source) for e, source in route if ops[choice[e]] != "none")
        for route in routes
    )
    return CellGenotype(nodes=nodes, concat=tuple(range(1, steps + 1)), inputs=1, output=output)


def cell_table(cell: CellGenotype, ops: tuple[str, ...], steps: int) -> Tensor:
    """The one-hot edges x ops table of a derived dense cell (absent edges hold ``none``)."""
    table = torch.zeros(num_edges(steps, inputs=1), len(ops))
    edge = 0
    for node in range(steps):
        chosen = {source: op for op, source in cell.nodes[node]}
        for source in range(node + 1):
            table[edge, ops.index(chosen.get(source, "none"))] = 1.0
            edge += 1
    return table


def bars_genotype(space: BARSSpace, normal: CellGenotype, reduce: CellGenotype,
                  width_index: list[int], depths: list[int]) -> Genotype:
    """The derived architecture as a genotype (layout with explicit widths)."""
    return Genotype(normal=normal, reduce=reduce, layout=space.layout(width_index, depths),
                    structure=space.structure).validate()
