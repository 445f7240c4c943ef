"""The ``Genotype``: a searched architecture as a plain, validated, JSON-portable value.

As in DARTS (Liu et al., ICLR 2019) a genotype lists, for the normal and the reduction cell,
the ``(op, input)`` pairs each intermediate node sums, and which nodes the cell concatenates.
Inputs ``0`` and ``1`` are the cell's two inputs (the outputs of the previous two cells), input
``2 + i`` is intermediate node ``i``. Unlike DARTS' namedtuple it also carries the macro
:class:`~bnnas.space.layout.Layout` and the op :mod:`structure <bnnas.space.structure>`, so one
file rebuilds the whole network.

On disk it is a versioned JSON document::

    {"format": "bnnas-genotype", "version": 1, "space": "darts",
     "structure": "sign-conv-bn+shortcut",
     "layout": {"cells": 8, "channels": 16, "stem_multiplier": 3, "reductions": [2, 5]},
     "normal": {"nodes": [[["bin_conv_3x3", 0], ["skip_connect", 1]], ...], "concat": [2, 3]},
     "reduce": {...}}

Genotype files may come from elsewhere, so reading is strict and bounded: every problem raises
a one-line :class:`GenotypeError` that names its JSON path (``normal.nodes[2][1]: ...``), and
sizes are capped (:mod:`bnnas.space.layout`, :data:`MAX_NODES`) before anything is allocated.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bnnas.bounded_read import read_small_text
from bnnas.errors import BnnasError, ConfigError, GenotypeError
from bnnas.space.layout import Layout, default_reductions, layout_problem
from bnnas.space.ops import OPS
from bnnas.space.structure import DEFAULT_STRUCTURE, OpStructure, parse_structure

FORMAT = "bnnas-genotype"
VERSION = 1
SPACE = "darts"
MAX_NODES = 16
MAX_INPUTS = 16  # (op, input) pairs summed by one node
MAX_FILE_BYTES = 1 << 20
MAX_WEIGHTS = 1 << 30  # rough upper bound on the weights a genotype may ask for

Edge = tuple[str, int]
CELL_OUTPUTS: tuple[str, ...] = ("concat", "concat_conv", "add")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class CellGenotype:
    """Per intermediate node, the ``(op, input)`` pairs it sums; the nodes the cell outputs.

    ``inputs`` is 2 for a DARTS cell (the previous two cells' outputs) and 1 for a BARS dense
    cell (Zhao et al., arXiv 2011.10804), whose nodes all read the one input; node ``i`` is
    state ``inputs + i``. ``output`` combines the ``concat`` nodes: ``"concat"`` (DARTS),
    ``"concat_conv"`` (concatenation, then a binary 1x1 conv back to the cell width) or
    ``"add"`` (their sum; in a dense cell the mean of the nodes, each node the mean of its
    inputs, so depth does not grow the activations), the two output modes of BARS.
    """

    nodes: tuple[tuple[Edge, ...], ...]
    concat: tuple[int, ...]
    inputs: int = 2
    output: str = "concat"

    def __post_init__(self) -> None:
        # Accept lists (JSON, hand-written code) and store tuples, so the value is hashable.
        if isinstance(self.nodes, (list, tuple)):
            nodes = tuple(
                tuple(tuple(e) if isinstance(e, (list, tuple)) else e for e in node)
                if isinstance(node, (list, tuple))
                else node
                for node in self.nodes
            )
            object.__setattr__(self, "nodes", nodes)
        if isinstance(self.concat, list):
            object.__setattr__(self, "concat", tuple(self.concat))

    @property
    def steps(self) -> int:
        return len(self.nodes)

    def problem(self, ops: Collection[str], path: str) -> str | None:
        """The first problem as ``"<json path>: <message>"``, or None."""
        if self.inputs not in (1, 2):
            return f"{path}.inputs: a cell has 1 or 2 inputs, got {self.inputs!r}"
        if self.output not in CELL_OUTPUTS:
            return (f"{path}.output: unknown output {self.output!r}; choose one of: "
                    f"{', '.join(CELL_OUTPUTS)}")
        nodes = self.nodes
        if not isinstance(nodes, tuple) or not 1 <= len(nodes) <= MAX_NODES:
            count = len(nodes) if isinstance(nodes, tuple) else type(nodes).__name__
            return f"{path}.nodes: a cell needs 1 to {MAX_NODES} nodes, got {count}"
        for i, node in enumerate(nodes):
            where = f"{path}.nodes[{i}]"
            if not isinstance(node, tuple) or not 1 <= len(node) <= MAX_INPUTS:
                return f"{where}: a node sums 1 to {MAX_INPUTS} [op, input] pairs, got {node!r}"
            for j, edge in enumerate(node):
                problem = _edge_problem(edge, i, ops, self.inputs)
                if problem:
                    return f"{where}[{j}]: {problem}"
        return self._concat_problem(path)

    def _concat_problem(self, path: str) -> str | None:
        first = self.inputs
        concat, last = self.concat, len(self.nodes) + first - 1
        if not isinstance(concat, tuple) or not concat:
            return f"{path}.concat: must be a non-empty list of node indices, got {concat!r}"
        for k, index in enumerate(concat):
            if not _is_int(index) or not first <= index <= last:
                return (f"{path}.concat[{k}]: {index!r} is not an intermediate node "
                        f"({first}..{last})")
            if index in concat[:k]:
                return f"{path}.concat[{k}]: node {index} is concatenated twice"
        used = set(concat) | {e[1] for node in self.nodes for e in node}
        for index in range(first, last + 1):
            if index not in used:
                return (
                    f"{path}.concat: node {index} is neither concatenated nor an input of a "
                    "later node; add it to concat or drop the node"
                )
        return None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "nodes": [[[op, index] for op, index in node] for node in self.nodes],
            "concat": list(self.concat),
        }
        if self.inputs != 2:
            data["inputs"] = self.inputs
        if self.output != "concat":
            data["output"] = self.output
        return data


def _edge_problem(edge: object, node: int, ops: Collection[str], inputs: int = 2) -> str | None:
    if not isinstance(edge, tuple) or len(edge) != 2:
        return f"expected [op, input], got {edge!r}"
    op, index = edge
    if not isinstance(op, str) or op not in ops:
        return f"unknown op {op!r}; choose one of: {', '.join(sorted(ops))}"
    if op == "none":
        return "op 'none' cannot be part of a derived cell; drop the pair"
    if not _is_int(index):
        return f"input must be an integer, got {index!r}"
    if index < 0:
        return f"input {index} is negative (inputs count from 0)"
    if index >= inputs + node:
        return f"input {index} is not an earlier node (must be < {inputs + node})"
    return None


def cell_out_channels(cell: CellGenotype, width: int) -> int:
    """Channels a cell of ``width`` outputs: every concatenated node, or one node's worth."""
    return len(cell.concat) * width if cell.output == "concat" else width


@dataclass(frozen=True)
class Genotype:
    """A searched architecture: normal and reduction cells, macro layout, op structure."""

    normal: CellGenotype
    reduce: CellGenotype
    layout: Layout
    structure: str = DEFAULT_STRUCTURE

    def __post_init__(self) -> None:
        # Store the canonical spec, so equal architectures compare (and serialise) equal; an
        # invalid spec is kept as given for validate() to report.
        with contextlib.suppress(ConfigError):
            object.__setattr__(self, "structure", parse_structure(self.structure).spec)

    @property
    def op_structure(self) -> OpStructure:
        return parse_structure(self.structure)

    def validate(self, ops: Collection[str] | None = None) -> Genotype:
        """Raise GenotypeError for the first problem; ``ops`` defaults to every registered op.

        Returns ``self`` so that ``Genotype(...).validate()`` reads as a checked value.
        """
        names = set(OPS.names()) if ops is None else set(ops)
        for path, cell in (("normal", self.normal), ("reduce", self.reduce)):
            if not isinstance(cell, CellGenotype):
                raise GenotypeError(f"{path}: must be a CellGenotype, got {type(cell).__name__}")
            problem = cell.problem(names, path)
            if problem:
                raise GenotypeError(problem)
        if not isinstance(self.layout, Layout):
            raise GenotypeError(f"layout: must be a Layout, got {type(self.layout).__name__}")
        try:
            parse_structure(self.structure)
        except ConfigError as error:
            raise GenotypeError(f"structure: {error}") from None
        weights = self.weight_bound()
        if weights > MAX_WEIGHTS:
            raise GenotypeError(
                f"layout: the network could hold up to {weights} weights (limit {MAX_WEIGHTS});"
                " use fewer cells or channels"
            )
        return self

    def weight_bound(self) -> int:
        """An upper bound on the weights of the cells (every edge counted as a 5x5 conv)."""
        layout, total = self.layout, 0
        c_pp = c_p = layout.stem_multiplier * layout.channels
        for index, width in enumerate(layout.cell_channels()):
            cell = self.reduce if index in layout.reduction_set else self.normal
            edges = sum(len(node) for node in cell.nodes)
            total += (c_pp + c_p) * width + edges * 25 * width * width
            total += len(cell.concat) * width * width if cell.output == "concat_conv" else 0
            c_pp, c_p = c_p, cell_out_channels(cell, width)
        return total

    def with_layout(self, **changes: Any) -> Genotype:
        """The same cells on another layout, e.g. ``with_layout(cells=20, channels=36)``.

        Changing ``cells`` without ``reductions`` moves the reductions to their default places.
        """
        fields = {f.name for f in dataclasses.fields(Layout)}
        unknown = sorted(set(changes) - fields)
        if unknown:
            raise ConfigError(
                f"unknown layout setting {unknown[0]!r}; choose from: {', '.join(sorted(fields))}"
            )
        if "cells" in changes and "reductions" not in changes and _is_int(changes["cells"]):
            changes["reductions"] = default_reductions(changes["cells"])
        layout = dataclasses.replace(self.layout, **changes)
        return dataclasses.replace(self, layout=layout)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "space": SPACE,
            "structure": self.structure,
            "layout": self.layout.to_dict(),
            "normal": self.normal.to_dict(),
            "reduce": self.reduce.to_dict(),
        }

    def to_json(self) -> str:
        """The JSON document, one node per line so that diffs of genotypes stay readable."""
        head = {k: v for k, v in self.to_dict().items() if k not in ("normal", "reduce")}
        lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
        for name in ("normal", "reduce"):
            cell = getattr(self, name).to_dict()
            nodes = ",\n".join(f"      {json.dumps(node)}" for node in cell["nodes"])
            comma = "," if name == "normal" else ""
            extra = "".join(f',\n    "{key}": {json.dumps(cell[key])}'
                            for key in ("inputs", "output") if key in cell)
            lines += [
                f'  "{name}": {{',
                f'    "nodes": [\n{nodes}\n    ],',
                f'    "concat": {json.dumps(cell["concat"])}{extra}',
                f"  }}{comma}",
            ]
        return "\n".join(lines + ["}"]) + "\n"

    @classmethod
    def from_json(cls, text: str, ops: Collection[str] | None = None) -> Genotype:
        """Read and validate a genotype document; any problem raises GenotypeError."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise GenotypeError(
                f"malformed genotype JSON at line {error.lineno} column {error.colno}: "
                f"{error.msg}; fix the file"
            ) from None
        except RecursionError:
            raise GenotypeError("malformed genotype JSON: nested too deeply") from None
        return cls.from_dict(data, ops)

    @classmethod
    def from_dict(cls, data: object, ops: Collection[str] | None = None) -> Genotype:
        """Build and validate a genotype from a decoded JSON document."""
        if not isinstance(data, Mapping):
            raise GenotypeError(f"a genotype document is a JSON object, got {type(data).__name__}")
        expected = {"format", "version", "space", "structure", "layout", "normal", "reduce"}
        for key in sorted(set(data) - expected):
            raise GenotypeError(f"{key}: unknown key; valid keys: {', '.join(sorted(expected))}")
        for key in sorted(expected - set(data)):
            raise GenotypeError(f"{key}: missing from the genotype document")
        if data["format"] != FORMAT:
            raise GenotypeError(f"format: expected {FORMAT!r}, got {data['format']!r}")
        if data["version"] != VERSION or not _is_int(data["version"]):
            raise GenotypeError(
                f"version: this bnnas reads version {VERSION}, got {data['version']!r}; "
                "use the bnnas version that wrote it"
            )
        if data["space"] != SPACE:
            raise GenotypeError(f"space: expected {SPACE!r}, got {data['space']!r}")
        if not isinstance(data["structure"], str):
            raise GenotypeError(f"structure: must be a spec string, got {data['structure']!r}")
        genotype = cls(
            normal=_read_cell(data["normal"], "normal"),
            reduce=_read_cell(data["reduce"], "reduce"),
            layout=_read_layout(data["layout"]),
            structure=data["structure"],
        )
        return genotype.validate(ops)

    def save(self, path: str | Path) -> Path:
        """Write the JSON document atomically (temporary file, then rename)."""
        from bnnas.runs import write_text_atomic

        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(path, self.to_json())
        except OSError as error:
            raise GenotypeError(
                f"cannot write genotype {str(path)!r} ({error.strerror}); choose another path"
            ) from None
        return path

    @classmethod
    def load(cls, path: str | Path, ops: Collection[str] | None = None) -> Genotype:
        """Read a genotype file; a missing, oversized or invalid file raises GenotypeError."""
        path = Path(path)
        text = read_small_text(path, MAX_FILE_BYTES, "genotype", GenotypeError)
        try:
            return cls.from_json(text, ops)
        except BnnasError as error:
            raise GenotypeError(f"{path}: {error}") from None


def _read_layout(data: object) -> Layout:
    if not isinstance(data, Mapping):
        raise GenotypeError(f"layout: must be an object, got {data!r}")
    known = {"cells", "channels", "stem_multiplier", "reductions", "widths"}
    for key in sorted(set(data) - known):
        raise GenotypeError(f"layout.{key}: unknown key; valid keys: {', '.join(sorted(known))}")
    if "cells" not in data or "channels" not in data:
        raise GenotypeError("layout: needs at least 'cells' and 'channels'")
    cells = data["cells"]
    reductions = data.get("reductions")
    if reductions is None and _is_int(cells):
        reductions = default_reductions(cells)
    widths = data.get("widths")
    problem = layout_problem(cells, data["channels"], data.get("stem_multiplier", 3), reductions,
                             widths)
    if problem:
        raise GenotypeError(f"layout.{problem}")
    return Layout(cells, data["channels"], data.get("stem_multiplier", 3), tuple(reductions),
                  None if widths is None else tuple(widths))


def _read_cell(data: object, path: str) -> CellGenotype:
    if (not isinstance(data, Mapping) or not {"nodes", "concat"} <= set(data)
            or not set(data) <= {"nodes", "concat", "inputs", "output"}):
        raise GenotypeError(
            f"{path}: must be an object with 'nodes' and 'concat' (and optionally 'inputs', "
            "'output')"
        )
    inputs, output = data.get("inputs", 2), data.get("output", "concat")
    if not _is_int(inputs):
        raise GenotypeError(f"{path}.inputs: must be 1 or 2, got {inputs!r}")
    if not isinstance(output, str):
        raise GenotypeError(f"{path}.output: must be a string, got {output!r}")
    nodes, concat = data["nodes"], data["concat"]
    if not isinstance(nodes, list) or not 1 <= len(nodes) <= MAX_NODES:
        count = len(nodes) if isinstance(nodes, list) else type(nodes).__name__
        raise GenotypeError(f"{path}.nodes: a cell needs 1 to {MAX_NODES} nodes, got {count}")
    if not isinstance(concat, list) or len(concat) > MAX_NODES:
        raise GenotypeError(f"{path}.concat: must be a list of at most {MAX_NODES} node indices")
    for i, node in enumerate(nodes):
        if not isinstance(node, list) or len(node) > MAX_INPUTS:
            raise GenotypeError(
                f"{path}.nodes[{i}]: a node is a list of at most {MAX_INPUTS} [op, input] pairs"
            )
    # lists become tuples; validate() checks the rest
    return CellGenotype(nodes=nodes, concat=concat, inputs=inputs, output=output)

