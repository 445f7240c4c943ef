"""ONE network for the supernet and the derived model: stem, cells, head.

The DARTS macro structure (Liu et al., ICLR 2019): a real-valued 3x3 conv stem of
``stem_multiplier x C`` channels, then ``cells`` cells, each fed by the previous two, with the
width doubling at every reduction cell, then global average pooling and a real-valued linear
classifier. The stem and the classifier stay real, as in every BNN the papers compare with
(Bi-Real Net, ReActNet, BNAS, EBNAS); everything inside the cells is binary or parameter-free.

:class:`Network` is the derived model (``Network.from_genotype``) and the base of
:class:`SuperNetwork`, which adds the architecture parameters and the mixed and single-path
forward modes. Both store what rebuilds them in ``state_dict()`` (as the module's extra state:
the genotype JSON, or the search space), so a checkpoint describes its own architecture and a
state of another architecture is refused with a clear message.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bnnas.errors import CheckpointError, ConfigError, GenotypeError
from bnnas.space.cell import Cell, check_partial_k, node_softmax, num_edges
from bnnas.space.derive import derive
from bnnas.space.genotype import MAX_NODES, CellGenotype, Genotype
from bnnas.space.layout import Layout
from bnnas.space.ops import OPS, UBNAS_OPS
from bnnas.space.structure import DEFAULT_STRUCTURE, parse_structure

CellFactory = Callable[[int, int, int, bool, bool], Cell]
PathChoice = Genotype | tuple[CellGenotype, CellGenotype]


def make_stem(in_channels: int, width: int) -> nn.Sequential:
    """The real-valued 3x3 conv + BN stem every searched network starts with."""
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width)
    )


def _positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


class Network(nn.Module):
    """Real stem, a stack of :class:`Cell`, global average pool, real classifier.

    ``make_cell(c_pp, c_p, channels, reduction, reduction_prev)`` builds each cell; use
    :meth:`from_genotype` or :class:`SuperNetwork` rather than this constructor.
    """

    def __init__(
        self, layout: Layout, make_cell: CellFactory, *, num_classes: int, in_channels: int
    ) -> None:
        super().__init__()
        _positive("num_classes", num_classes)
        _positive("in_channels", in_channels)
        self.layout = layout
        self._genotype: Genotype | None = None
        width = layout.stem_multiplier * layout.channels
        self.stem = make_stem(in_channels, width)
        cells, c_pp, c_p, reduction_prev = [], width, width, False
        for index, channels in enumerate(layout.cell_channels()):
            reduction = index in layout.reduction_set
            cell = make_cell(c_pp, c_p, channels, reduction, reduction_prev)
            cells.append(cell)
            c_pp, c_p, reduction_prev = c_p, cell.out_channels, reduction
        self.cells = nn.ModuleList(cells)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)
        self.num_features = c_p

    @classmethod
    def from_genotype(
        cls, genotype: Genotype, num_classes: int = 10, in_channels: int = 3
    ) -> Network:
        """The derived network of a (validated) genotype: only the chosen edges exist."""
        if not isinstance(genotype, Genotype):
            raise GenotypeError(f"expected a Genotype, got {type(genotype).__name__}")
        genotype.validate()
        structure = genotype.op_structure

        def make_cell(c_pp: int, c_p: int, channels: int, reduction: bool, prev: bool) -> Cell:
            return Cell(
                c_pp,
                c_p,
                channels,
                reduction=reduction,
                reduction_prev=prev,
                structure=structure,
                genotype=genotype.reduce if reduction else genotype.normal,
            )

        network = cls(
            genotype.layout, make_cell, num_classes=num_classes, in_channels=in_channels
        )
        network._genotype = genotype
        return network

    @staticmethod
    def supernet(space: SpaceSpec, num_classes: int = 10, in_channels: int = 3) -> SuperNetwork:
        """The supernet of ``space`` (the same stem, cells and head, every op on every edge)."""
        return SuperNetwork(space, num_classes, in_channels)

    def genotype(self) -> Genotype:
        """The genotype this network was built from."""
        if self._genotype is None:
            raise ConfigError("this network was not built from a genotype")
        return self._genotype

    def forward_features(
        self, x: Tensor, normal: dict[str, Any] | None = None, reduce: dict[str, Any] | None = None
    ) -> Tensor:
        """The last feature map, before pooling (as the zoo models' ``forward_features``);
        ``normal`` / ``reduce`` are keyword arguments for the normal / reduction cells."""
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            kwargs = (reduce if cell.reduction else normal) or {}
            s0, s1 = s1, cell(s0, s1, **kwargs)
        return s1

    def head(self, features: Tensor) -> Tensor:
        return self.classifier(self.pool(features).flatten(1))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.forward_features(x))

    # ---------------------------------------------------------- self-description
    def get_extra_state(self) -> dict[str, str]:
        return {"genotype": self._genotype.to_json()} if self._genotype is not None else {}

    def set_extra_state(self, state: Any) -> None:
        text = state.get("genotype") if isinstance(state, dict) else None
        if self._genotype is None or text is None:
            return
        try:
            stored = Genotype.from_json(text)
        except GenotypeError as error:
            raise CheckpointError(f"the state holds a broken genotype ({error})") from None
        if stored != self._genotype:
            raise CheckpointError(
                "the state was saved from another genotype than this network's; rebuild the "
                "network from the checkpoint (bnnas.train.load_trained_model)"
            )


@dataclass(frozen=True)
class SpaceSpec:
    """A binary DARTS search space: candidate ops, nodes per cell, layout, op structure, and
    the PC-DARTS partial-channel ratios (``K``) of normal and reduction cells.

    ``min_k_*`` is the smallest ``K`` a schedule will use (default: the ``K`` given): the ops
    are built for ``C // min_k`` channels and run slim at larger ``K``. Defaults are PC-DARTS'
    search settings (8 cells, C=16, K=4) with UBNAS' op list.
    """

    ops: tuple[str, ...] = UBNAS_OPS
    steps: int = 4
    layout: Layout = field(default_factory=lambda: Layout(cells=8, channels=16))
    structure: str = DEFAULT_STRUCTURE
    partial_k_normal: int = 4
    partial_k_reduce: int = 4
    min_k_normal: int | None = None
    min_k_reduce: int | None = None

    def __post_init__(self) -> None:
        ops = tuple(self.ops)
        object.__setattr__(self, "ops", ops)
        if not ops or len(set(ops)) != len(ops):
            raise ConfigError(f"space ops must be a non-empty list without repeats, got {ops}")
        for name in ops:
            OPS.get(name)
        if set(ops) == {"none"}:
            raise ConfigError("a space needs at least one op besides 'none'")
        _positive("space steps", self.steps)
        if self.steps > MAX_NODES:
            raise ConfigError(f"space steps must be from 1 to {MAX_NODES}, got {self.steps!r}")
        if not isinstance(self.layout, Layout):
            raise ConfigError(f"space layout must be a Layout, got {type(self.layout).__name__}")
        object.__setattr__(self, "structure", parse_structure(self.structure).spec)
        for kind in ("normal", "reduce"):
            k = getattr(self, f"partial_k_{kind}")
            if getattr(self, f"min_k_{kind}") is None:
                object.__setattr__(self, f"min_k_{kind}", k)
            k_min = getattr(self, f"min_k_{kind}")
            for name, value in ((f"partial_k_{kind}", k), (f"min_k_{kind}", k_min)):
                _positive(name, value)
                check_partial_k(value, self.narrowest(kind))
            if k_min > k:
                raise ConfigError(f"min_k_{kind}={k_min} exceeds partial_k_{kind}={k}")

    def narrowest(self, kind: str) -> int:
        """The width of the narrowest ``kind`` ("normal"/"reduce") cell, which K must divide."""
        layout = self.layout
        widths = [
            w
            for i, w in enumerate(layout.cell_channels())
            if (i in layout.reduction_set) == (kind == "reduce")
        ]
        return min(widths, default=layout.channels)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["ops"], data["layout"] = list(self.ops), self.layout.to_dict()
        return data


class SuperNetwork(Network):
    """The supernet of a :class:`SpaceSpec`: every edge holds every candidate op.

    Architecture parameters are registered ``nn.Parameter``s (``alphas_normal``,
    ``alphas_reduce`` of shape (edges, ops); ``betas_normal``, ``betas_reduce`` of shape
    (edges,)), so they live in ``state_dict`` and DDP sees them; :meth:`arch_parameters` and
    :meth:`weight_parameters` split them for the bilevel optimisation of DARTS.
    """

    def __init__(self, space: SpaceSpec, num_classes: int = 10, in_channels: int = 3) -> None:
        structure = parse_structure(space.structure)

        def make_cell(c_pp: int, c_p: int, channels: int, reduction: bool, prev: bool) -> Cell:
            return Cell(
                c_pp,
                c_p,
                channels,
                reduction=reduction,
                reduction_prev=prev,
                structure=structure,
                ops=space.ops,
                steps=space.steps,
                k_min=space.min_k_reduce if reduction else space.min_k_normal,  # type: ignore[arg-type]
            )

        super().__init__(space.layout, make_cell, num_classes=num_classes, in_channels=in_channels)
        self.space = space
        shape = (num_edges(space.steps), len(space.ops))
        # Small random values as in DARTS: nearly uniform mixing, ties broken at random.
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(shape))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(shape))
        self.betas_normal = nn.Parameter(1e-3 * torch.randn(shape[0]))
        self.betas_reduce = nn.Parameter(1e-3 * torch.randn(shape[0]))
        self.partial_k_normal = space.partial_k_normal
        self.partial_k_reduce = space.partial_k_reduce

    def arch_parameters(self) -> list[nn.Parameter]:
        """Alphas and betas, normal then reduce (the architecture optimizer's parameters)."""
        return [self.alphas_normal, self.alphas_reduce, self.betas_normal, self.betas_reduce]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every other parameter (the weight optimizer's)."""
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def set_partial_k(self, normal: int, reduce: int) -> None:
        """Change the partial-channel ratios (UBNAS adjusts them during the search)."""
        for kind, k in (("normal", normal), ("reduce", reduce)):
            k_min = getattr(self.space, f"min_k_{kind}")
            _positive(f"partial K of {kind} cells", k)
            if k < k_min:
                raise ConfigError(
                    f"partial-channel K={k} of {kind} cells is below min_k_{kind}={k_min} the "
                    f"supernet was built for; build it with a smaller min_k_{kind}"
                )
            check_partial_k(k, self.space.narrowest(kind))
        self.partial_k_normal, self.partial_k_reduce = normal, reduce

    def forward(self, x: Tensor, path: PathChoice | None = None) -> Tensor:
        """Mixed (``softmax(alpha)`` ops, per-node ``softmax(beta)`` edges) or single path.

        A single ``path`` is a :class:`Genotype` or a ``(normal, reduce)`` pair of
        :class:`CellGenotype`: per node, the ``(op, input)`` pairs to run (usually two);
        every other op and edge is skipped, so only the chosen ops get gradients. The
        partial-channel ratios apply in both modes (build the space with K=1 for a one-shot
        supernet that runs whole channels).
        """
        steps = self.space.steps
        if path is None:
            normal = {
                "weights": F.softmax(self.alphas_normal, dim=-1),
                "edge_weights": node_softmax(self.betas_normal, steps),
                "k": self.partial_k_normal,
            }
            reduce = {
                "weights": F.softmax(self.alphas_reduce, dim=-1),
                "edge_weights": node_softmax(self.betas_reduce, steps),
                "k": self.partial_k_reduce,
            }
        else:
            normal_path, reduce_path = _split_path(path)
            normal = {"path": normal_path, "k": self.partial_k_normal}
            reduce = {"path": reduce_path, "k": self.partial_k_reduce}
        return self.head(self.forward_features(x, normal, reduce))

    def genotype(self, layout: Layout | None = None) -> Genotype:
        """The derived architecture (DARTS/PC-DARTS rule, :func:`~bnnas.space.derive.derive`)
        on the search layout, or on ``layout`` for the final network."""
        return Genotype(
            normal=derive(self.alphas_normal, self.betas_normal, self.space.ops),
            reduce=derive(self.alphas_reduce, self.betas_reduce, self.space.ops),
            layout=layout if layout is not None else self.space.layout,
            structure=self.space.structure,
        ).validate()

    def get_extra_state(self) -> dict[str, Any]:
        return {"space": self.space.to_dict()}

    def set_extra_state(self, state: Any) -> None:
        stored = state.get("space") if isinstance(state, dict) else None
        mine = self.space.to_dict()
        keys = ("ops", "steps", "layout", "structure", "min_k_normal", "min_k_reduce")
        if stored is not None and any(stored.get(k) != mine[k] for k in keys):
            raise CheckpointError(
                "the state was saved from a supernet of another search space; build the "
                "supernet with the space it was searched in"
            )


def _split_path(path: PathChoice) -> tuple[CellGenotype, CellGenotype]:
    if isinstance(path, Genotype):
        return path.normal, path.reduce
    if isinstance(path, tuple) and len(path) == 2:
        return path
    raise ConfigError(
        f"a path is a Genotype or a (normal, reduce) pair of CellGenotype, got {path!r}"
    )
