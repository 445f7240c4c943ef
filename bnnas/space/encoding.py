"""Genotypes of the binary DARTS space as fixed-length integer vectors, for evolutionary search.

MO-TS-BNAS (Tan et al., IEEE Trans. Cybernetics) evolves cells of a binarized DARTS space
(Liu et al., ICLR 2019) with NSGA-II; evolution needs a genome that sampling, mutation and
crossover can work on and that hashes (for de-duplication and caching of evaluations). Here a
genome is a tuple of Python ints: for the normal cell, then the reduction cell, for each of
``steps`` intermediate nodes a block of four genes::

    input_a, op_a, input_b, op_b

Node ``i`` sums ``op_a(input_a) + op_b(input_b)``; inputs ``0`` and ``1`` are the cell's
inputs, ``2 + j`` is node ``j``; ops index the space's op list *without* ``'none'`` (a derived
DARTS cell never keeps ``'none'``). Every cell concatenates all its intermediate nodes, as
DARTS' does.

Vectors are canonical: a valid vector has ``input_a < input_b``, so the two orders of the same
pair of edges (a sum does not care) are one vector, and vectors and cells of the space are in
one-to-one correspondence; :meth:`ArchEncoding.encode` sorts the edges, and mutation re-sorts.
Mutation and crossover act on whole node blocks or keep the inputs of a block distinct, so
their results are always valid. Randomness comes only from the ``numpy.random.Generator``
passed in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from bnnas.errors import ConfigError, GenotypeError
from bnnas.space.genotype import MAX_NODES, CellGenotype, Genotype
from bnnas.space.ops import OPS, UBNAS_OPS

Vector = tuple[int, ...]
GENES = ("input_a", "op_a", "input_b", "op_b")
CELLS = ("normal", "reduce")


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


@dataclass(frozen=True)
class ArchEncoding:
    """The integer-vector encoding of (normal, reduce) cells with ``steps`` nodes each.

    ``ops`` is the space's op list (``'none'`` may be in it and is left out of the choices);
    ``choices`` are the ops the op genes index, in the order given.
    """

    ops: tuple[str, ...] = UBNAS_OPS
    steps: int = 4
    choices: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        ops = self.ops
        if isinstance(ops, str) or not isinstance(ops, Sequence):
            raise ConfigError(f"encoding ops must be a list of op names, got {ops!r}")
        known = set(OPS.names())
        for name in ops:
            if name not in known:
                raise ConfigError(
                    f"unknown op {name!r} in the encoding's op list; choose from: "
                    f"{', '.join(sorted(known))}"
                )
        if len(set(ops)) != len(ops):
            raise ConfigError(f"the encoding's op list names an op twice: {list(ops)}")
        choices = tuple(name for name in ops if name != "none")
        if not choices:
            raise ConfigError("the encoding's op list has no op besides 'none'; add real ops")
        if not _is_int(self.steps) or not 1 <= self.steps <= MAX_NODES:
            raise ConfigError(f"encoding steps must be 1 to {MAX_NODES} nodes, got {self.steps!r}")
        object.__setattr__(self, "ops", tuple(ops))
        object.__setattr__(self, "steps", int(self.steps))
        object.__setattr__(self, "choices", choices)

    # ------------------------------------------------------------------ layout
    @property
    def length(self) -> int:
        """Genes in a vector: 2 cells x ``steps`` nodes x 4."""
        return len(CELLS) * self.steps * len(GENES)

    @property
    def bounds(self) -> tuple[tuple[int, int], ...]:
        """Inclusive ``(low, high)`` per gene; validity also needs ``input_a < input_b``."""
        out: list[tuple[int, int]] = []
        top = len(self.choices) - 1
        for block in range(len(CELLS) * self.steps):
            node = block % self.steps
            out += [(0, node), (0, top), (1, node + 1), (0, top)]
        return tuple(out)

    def position_name(self, position: int) -> str:
        """A gene's name for messages and inspection, e.g. ``'reduce.nodes[1].op_b'``."""
        block, gene = divmod(position, len(GENES))
        cell, node = divmod(block, self.steps)
        return f"{CELLS[cell]}.nodes[{node}].{GENES[gene]}"

    # ------------------------------------------------------------------ validity
    def problem(self, vector: object) -> str | None:
        """The first reason ``vector`` is not a valid genome, or None."""
        if not isinstance(vector, (tuple, list)):
            return f"a genome is a tuple of ints, got {type(vector).__name__}"
        if len(vector) != self.length:
            return f"a genome of this encoding has {self.length} genes, got {len(vector)}"
        for position, (value, (low, high)) in enumerate(zip(vector, self.bounds, strict=True)):
            if not _is_int(value) or not low <= value <= high:
                shown = int(value) if _is_int(value) else repr(value)
                return f"{self.position_name(position)}: {shown} is not an int in {low}..{high}"
        for start in range(0, self.length, len(GENES)):
            if not vector[start] < vector[start + 2]:
                return (
                    f"{self.position_name(start)}: inputs must be distinct and sorted "
                    f"(input_a < input_b), got {vector[start]} and {vector[start + 2]}"
                )
        return None

    def is_valid(self, vector: object) -> bool:
        return self.problem(vector) is None

    def _check(self, vector: object) -> Vector:
        problem = self.problem(vector)
        if problem:
            raise GenotypeError(problem)
        return tuple(int(v) for v in vector)  # type: ignore[union-attr]

    # ------------------------------------------------------------------ conversion
    def encode(self, genotype: Genotype | tuple[CellGenotype, CellGenotype]) -> Vector:
        """The canonical vector of a genotype; GenotypeError if the encoding cannot express it
        (not ``steps`` nodes of two edges from distinct inputs, an op outside ``choices``, or a
        concat other than all nodes)."""
        cells = (genotype.normal, genotype.reduce) if isinstance(genotype, Genotype) else genotype
        if not isinstance(cells, (tuple, list)) or len(cells) != len(CELLS):
            raise GenotypeError("encode takes a Genotype or a (normal, reduce) pair of cells")
        out: list[int] = []
        for path, cell in zip(CELLS, cells, strict=True):
            out += self._encode_cell(cell, path)
        return tuple(out)

    def _encode_cell(self, cell: object, path: str) -> list[int]:
        if not isinstance(cell, CellGenotype):
            raise GenotypeError(f"{path}: must be a CellGenotype, got {type(cell).__name__}")
        problem = cell.problem(self.ops, path)
        if problem:
            raise GenotypeError(problem)
        if cell.steps != self.steps:
            raise GenotypeError(
                f"{path}.nodes: this encoding has {self.steps} nodes, got "
                f"{cell.steps}; build the encoding with steps={cell.steps}"
            )
        concat = tuple(range(2, self.steps + 2))
        if cell.concat != concat:
            raise GenotypeError(
                f"{path}.concat: the encoding concatenates all nodes "
                f"{list(concat)}, got {list(cell.concat)}"
            )
        genes: list[int] = []
        for i, node in enumerate(cell.nodes):
            if len(node) != 2 or node[0][1] == node[1][1]:
                raise GenotypeError(
                    f"{path}.nodes[{i}]: the encoding needs two edges from distinct inputs, "
                    f"got {[list(edge) for edge in node]}"
                )
            for op, source in sorted(node, key=lambda edge: edge[1]):
                if op not in self.choices:
                    raise GenotypeError(
                        f"{path}.nodes[{i}]: op {op!r} is not in this "
                        f"encoding's choices {list(self.choices)}"
                    )
                genes += [source, self.choices.index(op)]
        return genes

    def decode(self, vector: Sequence[int]) -> tuple[CellGenotype, CellGenotype]:
        """The (normal, reduce) cells of a valid vector; GenotypeError otherwise."""
        genes = self._check(vector)
        per_cell = self.steps * len(GENES)
        cells = []
        for c in range(len(CELLS)):
            nodes = []
            for start in range(c * per_cell, (c + 1) * per_cell, len(GENES)):
                a, op_a, b, op_b = genes[start : start + len(GENES)]
                nodes.append(((self.choices[op_a], a), (self.choices[op_b], b)))
            cells.append(CellGenotype(tuple(nodes), tuple(range(2, self.steps + 2))))
        return cells[0], cells[1]

    # ------------------------------------------------------------------ variation
    def sample(self, rng: np.random.Generator) -> Vector:
        """A uniformly random architecture: per node two distinct inputs and two ops."""
        genes: list[int] = []
        k = len(self.choices)
        for block in range(len(CELLS) * self.steps):
            node = block % self.steps
            a, b = sorted(int(i) for i in rng.choice(node + 2, size=2, replace=False))
            genes += [a, int(rng.integers(k)), b, int(rng.integers(k))]
        return tuple(genes)

    def mutate(self, vector: Sequence[int], rate: float, rng: np.random.Generator) -> Vector:
        """Resample each gene with probability ``rate`` to another valid value.

        An op gene gets another op; an input gene another input that is neither its current
        value nor the node's other input (so inputs stay distinct); the block is then re-sorted.
        Every resampled gene changes the architecture, and when ``rate > 0`` at least one gene
        is resampled: if none was drawn, one gene that has an alternative is picked uniformly.
        This is a deliberate choice: an unchanged child only re-evaluates its parent, and at the
        usual rate ``1 / length`` over a third of the children would be such clones. Only in a
        space of a single architecture (one op choice, one node) does the vector stay the same.
        ``rate == 0`` returns the vector unchanged.
        """
        if (
            not isinstance(rate, (int, float, np.floating, np.integer))
            or isinstance(rate, (bool, np.bool_))
            or not (math.isfinite(rate) and 0.0 <= rate <= 1.0)
        ):
            raise ConfigError(f"mutation rate must be a number in [0, 1], got {rate!r}")
        genes = list(self._check(vector))
        if rate == 0:
            return tuple(genes)
        mutable = [p for p in range(self.length) if self._alternatives(genes, p)]
        drawn = [p for p in mutable if rng.random() < rate]
        if not drawn and mutable:
            drawn = [mutable[int(rng.integers(len(mutable)))]]
        for position in drawn:
            options = self._alternatives(genes, position)
            genes[position] = options[int(rng.integers(len(options)))]
        return self._canonical(genes)

    def neighbour(self, vector: Sequence[int], rng: np.random.Generator) -> Vector:
        """One gene changed to another valid value, position and value drawn uniformly.

        A symmetric proposal, as a Metropolis walk needs (Metropolis et al., 1953): which
        positions can change (every op gene; an input gene from node 1 on) and how many
        values each may take do not depend on the current vector, so each vector is proposed
        from each of its neighbours with the same probability.
        """
        genes = list(self._check(vector))
        mutable = [p for p in range(self.length) if self._alternatives(genes, p)]
        if not mutable:
            return tuple(genes)
        position = mutable[int(rng.integers(len(mutable)))]
        options = self._alternatives(genes, position)
        genes[position] = options[int(rng.integers(len(options)))]
        return self._canonical(genes)

    def _canonical(self, genes: list[int]) -> Vector:
        """Each node's block with its smaller input first, so equal cells have equal vectors."""
        for start in range(0, self.length, len(GENES)):
            if genes[start] > genes[start + 2]:
                a, op_a, b, op_b = genes[start : start + len(GENES)]
                genes[start : start + len(GENES)] = [b, op_b, a, op_a]
        return tuple(genes)

    def _alternatives(self, genes: list[int], position: int) -> list[int]:
        """The values ``position`` may change to, given the current genes."""
        gene = position % len(GENES)
        if gene in (1, 3):
            return [o for o in range(len(self.choices)) if o != genes[position]]
        node = (position // len(GENES)) % self.steps
        other = position + 2 if gene == 0 else position - 2
        return [i for i in range(node + 2) if i not in (genes[position], genes[other])]

    def crossover(
        self, a: Sequence[int], b: Sequence[int], rng: np.random.Generator
    ) -> tuple[Vector, Vector]:
        """Uniform crossover of whole node blocks: each block of the first child comes from
        ``a`` or ``b`` with equal chance, the second child gets the other parent's block.

        A block's validity depends only on its node index, so children are always valid; they
        may equal their parents (always, when the parents are equal).
        """
        x, y = self._check(a), self._check(b)
        first: list[int] = []
        second: list[int] = []
        for start in range(0, self.length, len(GENES)):
            block = slice(start, start + len(GENES))
            if rng.random() < 0.5:
                first += x[block]
                second += y[block]
            else:
                first += y[block]
                second += x[block]
        return tuple(first), tuple(second)
