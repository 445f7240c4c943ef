"""Random architectures of equal OPs from a search's own space: the control a search must beat.

A searched network only shows that the search helped if it beats architectures drawn at
random from the same space at the same cost: Li & Talwalkar ("Random Search and
Reproducibility for Neural Architecture Search", UAI 2019) found random search competitive
with DARTS, and Yu et al. ("Evaluating the Search Phase of Neural Architecture Search", ICLR
2020) found the best searched cells often no better than random ones once trained alike.
Matching the OPs (within a tolerance) keeps a bigger network from winning on size alone.

Each space draws uniformly from what its search can output, on the layout of the given
genotype (the layout the search derived, so the macro layout is not what differs):

* ``ubnas``, ``mots``, ``random`` (the binary DARTS space): per node two distinct inputs and
  two ops, never ``none``, all nodes concatenated, as :class:`~bnnas.space.encoding.ArchEncoding`
  samples them;
* ``bars`` (dense cells): every edge an op of the space (``none`` drops it), accepted only if
  each node keeps an input and at most ``derive.max_skip`` edges are ``skip_connect``, the
  rules :func:`~bnnas.space.bars.derive_dense_cell` applies to a derived cell.

Op lists and rules come from the method's search config (its defaults, or the
``config.yaml`` a search stored), never from a list of their own.

Uniform draws rarely land near the OPs of a network at the edge of its space (a searched cell
made of the costliest op everywhere is a real case: 60 uniform draws spanned 0.27-0.79 of its
OPs). So when ``max_tries`` uniform draws have not found enough, a Metropolis walk (Metropolis
et al., 1953) goes on from the searched network over the architectures within the band: each
step proposes one edge changed at random (a symmetric proposal) and moves only if the result
is valid and within the band, so the walk's distribution tends to the uniform one over the
band's architectures reachable from there. After a burn-in of 10 steps per gene it keeps one
architecture every 2 steps per gene, skipping ones already taken.

    python -m bnnas.search.random_arch --genotype RUN/genotype.json --space ubnas \\
        --config RUN/config.yaml --seed 0 --count 3 --out RUN/../random-ops [--arg cells=5]

writes ``genotype-<k>.json`` and, last, ``result.json`` (what was drawn, how, and measured).
``--arg`` moves the found cells to another layout first (as ``bnnas train --set
model.args.cells=5`` does for its retrain), so the control is drawn at the retrained cost.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bnnas.config import parse_model_args
from bnnas.errors import BnnasError, GenotypeError, SamplingError
from bnnas.registry import Registry
from bnnas.space.encoding import ArchEncoding
from bnnas.space.genotype import CellGenotype, Genotype

CONTROL_FOLDER = "random-ops"  # <method>-seed<S>/random-ops: a search's random control
DEFAULT_MAX_TRIES = 400
DEFAULT_WALK_STEPS = 4000  # proposals of the walk after the uniform draws, at most
BURN_IN_PER_GENE = 10
THIN_PER_GENE = 2
CELL_TRIES = 10_000  # draws of one dense cell before its rules are deemed unsatisfiable

CellSampler = Callable[[CellGenotype, Any, np.random.Generator], CellGenotype]
# A symmetric random change of one gene of a genotype; None when the result breaks the rules.
Neighbour = Callable[[Genotype, Any, np.random.Generator], "Genotype | None"]


@dataclass(frozen=True)
class SpaceSampler:
    """How one search space draws a cell like a reference cell, and changes one gene of a
    genotype, under the method's config."""

    inputs: int  # cell inputs of the space's cells (2: DARTS, 1: dense)
    sample_cell: CellSampler
    neighbour: Neighbour
    genes: Callable[[Genotype], int]  # how many genes a genotype of the space has


SAMPLERS: Registry[SpaceSampler] = Registry("search space")


def _darts_cell(reference: CellGenotype, config: Any, rng: np.random.Generator) -> CellGenotype:
    encoding = ArchEncoding(tuple(config.space.ops), reference.steps)
    return encoding.decode(encoding.sample(rng))[0]  # a pair is drawn; one cell is kept


def _dense_cell(reference: CellGenotype, config: Any, rng: np.random.Generator) -> CellGenotype:
    ops = tuple(config.space.ops)
    max_skip = config.derive.max_skip
    for _ in range(CELL_TRIES):
        nodes = []
        for node in range(reference.steps):
            chosen = [(ops[int(rng.integers(len(ops)))], source) for source in range(node + 1)]
            nodes.append(tuple(edge for edge in chosen if edge[0] != "none"))
        skips = sum(op == "skip_connect" for node in nodes for op, _ in node)
        if all(nodes) and (max_skip is None or skips <= max_skip):
            return CellGenotype(nodes=tuple(nodes), concat=tuple(range(1, reference.steps + 1)),
                                inputs=1, output=reference.output)
    raise SamplingError(f"no dense cell of {reference.steps} nodes over ops {list(ops)} meets "
                        f"derive.max_skip={max_skip} in {CELL_TRIES} draws; allow more skips")


def _darts_encoding(genotype: Genotype, config: Any) -> ArchEncoding:
    return ArchEncoding(tuple(config.space.ops), genotype.normal.steps)


def _darts_neighbour(genotype: Genotype, config: Any, rng: np.random.Generator) -> Genotype:
    encoding = _darts_encoding(genotype, config)
    normal, reduce = encoding.decode(encoding.neighbour(encoding.encode(genotype), rng))
    return Genotype(normal, reduce, genotype.layout, structure=genotype.structure)


def _darts_genes(genotype: Genotype) -> int:
    return 2 * len(genotype.normal.nodes) * 4  # per node: two inputs and two ops, two cells


def _dense_edges(cell: CellGenotype) -> int:
    return sum(node + 1 for node in range(cell.steps))


def _dense_neighbour(genotype: Genotype, config: Any, rng: np.random.Generator
                     ) -> Genotype | None:
    """One edge (a node's link to one earlier state, ``none`` when absent) of one cell set to
    another op of the space; None if a node loses its last input or the skips exceed
    ``derive.max_skip``."""
    ops = tuple(config.space.ops)
    which = int(rng.integers(2))
    cell = (genotype.normal, genotype.reduce)[which]
    slot = int(rng.integers(_dense_edges(cell)))
    node = next(n for n in range(cell.steps) if slot < (n + 1) * (n + 2) // 2)
    source = slot - node * (node + 1) // 2
    current = dict((src, op) for op, src in cell.nodes[node]).get(source, "none")
    others = [op for op in ops if op != current]
    if not others:
        return None
    op = others[int(rng.integers(len(others)))]
    edges = [(o, src) for o, src in cell.nodes[node] if src != source]
    if op != "none":
        edges.append((op, source))
    nodes = list(cell.nodes)
    nodes[node] = tuple(sorted(edges, key=lambda edge: edge[1]))
    skips = sum(o == "skip_connect" for n in nodes for o, _ in n)
    max_skip = config.derive.max_skip
    if not all(nodes) or (max_skip is not None and skips > max_skip):
        return None
    changed = CellGenotype(nodes=tuple(nodes), concat=cell.concat, inputs=cell.inputs,
                           output=cell.output)
    normal, reduce = (changed, genotype.reduce) if which == 0 else (genotype.normal, changed)
    return Genotype(normal, reduce, genotype.layout, structure=genotype.structure)


def _dense_genes(genotype: Genotype) -> int:
    return _dense_edges(genotype.normal) + _dense_edges(genotype.reduce)


SAMPLERS.register("ubnas")(SpaceSampler(2, _darts_cell, _darts_neighbour, _darts_genes))
SAMPLERS.register("mots")(SpaceSampler(2, _darts_cell, _darts_neighbour, _darts_genes))
# the random search of mots' space
SAMPLERS.register("random")(SpaceSampler(2, _darts_cell, _darts_neighbour, _darts_genes))
SAMPLERS.register("bars")(SpaceSampler(1, _dense_cell, _dense_neighbour, _dense_genes))


def default_config(space: str) -> Any:
    """The search config of method ``space`` with its defaults (its op list, its rules)."""
    from bnnas.search.methods import SEARCH_METHODS

    SAMPLERS.get(space)
    return SEARCH_METHODS.get(space).config_class()


def network_ops(genotype: Genotype, input_shape: tuple[int, int, int], num_classes: int) -> float:
    """OPs of the genotype's network as training builds and the report profiles it."""
    from bnnas.metrics import profile
    from bnnas.space.network import Network

    network = Network.from_genotype(genotype, num_classes, in_channels=input_shape[0])
    return float(profile(network, input_shape).totals["ops"])


def _key(genotype: Genotype) -> tuple[Any, ...]:
    """Equal for equal architectures: a node sums its edges, so their order does not count."""
    return tuple((tuple(tuple(sorted(node)) for node in cell.nodes), cell.concat, cell.output)
                 for cell in (genotype.normal, genotype.reduce))


def _check_reference(genotype: Genotype, space: str, config: Any, sampler: SpaceSampler) -> None:
    ops = set(config.space.ops)
    for name, cell in (("normal", genotype.normal), ("reduce", genotype.reduce)):
        if cell.inputs != sampler.inputs:
            raise GenotypeError(f"{name}: a cell of {cell.inputs} input(s) is not from the "
                                f"{space} space (cells of {sampler.inputs}); pass the space "
                                "that found it")
        foreign = sorted({op for node in cell.nodes for op, _ in node} - ops)
        if foreign:
            raise GenotypeError(f"{name}: op {foreign[0]!r} is not in the {space} space's ops "
                                f"{sorted(ops)}; pass the search config that found it")


def random_genotypes_like(
    genotype: Genotype,
    space: str,
    count: int,
    rng: np.random.Generator,
    tolerance: float = 0.1,
    input_shape: tuple[int, int, int] = (1, 28, 28),
    num_classes: int = 10,
    max_tries: int = DEFAULT_MAX_TRIES,
    *,
    walk_steps: int = DEFAULT_WALK_STEPS,
    config: Any = None,
    measured: list[float] | None = None,
    how: list[str] | None = None,
) -> list[Genotype]:
    """``count`` distinct random architectures of ``space`` on ``genotype``'s layout and
    structure, each within ``±tolerance`` (relative) of its OPs and none equal to it.

    First up to ``max_tries`` uniform draws, kept when new and within the tolerance; if
    fewer than ``count`` are found, a Metropolis walk of at most ``walk_steps`` proposals
    from ``genotype`` over the band (module docstring) supplies the rest. Everything comes
    from ``rng``, so a seed fixes the result; if both fall short a :class:`SamplingError`
    says so. ``config`` is the method's search config (default: its defaults);
    ``measured`` and ``how``, if given, receive each returned genotype's OPs and the way it
    was found (``"uniform"`` or ``"walk"``).
    """
    if count < 1 or max_tries < 0 or walk_steps < 0:
        raise SamplingError(f"count must be >= 1 and max_tries, walk_steps >= 0, got {count}, "
                            f"{max_tries} and {walk_steps}")
    if not 0 <= tolerance < 1:
        raise SamplingError(f"tolerance is a fraction in [0, 1), got {tolerance}")
    sampler = SAMPLERS.get(space)
    config = default_config(space) if config is None else config
    _check_reference(genotype, space, config, sampler)
    target = network_ops(genotype, input_shape, num_classes)
    low, high = target * (1 - tolerance), target * (1 + tolerance)
    costs: dict[tuple[Any, ...], float] = {_key(genotype): target}

    def ops_of(candidate: Genotype) -> float:
        key = _key(candidate)
        if key not in costs:
            costs[key] = network_ops(candidate, input_shape, num_classes)
        return costs[key]

    seen = {_key(genotype)}
    found: list[tuple[Genotype, str]] = []
    for _ in range(max_tries):
        if len(found) == count:
            break
        candidate = Genotype(
            normal=sampler.sample_cell(genotype.normal, config, rng),
            reduce=sampler.sample_cell(genotype.reduce, config, rng),
            layout=genotype.layout, structure=genotype.structure,
        ).validate()
        key = _key(candidate)
        if key in seen:
            continue
        seen.add(key)
        if low <= ops_of(candidate) <= high:
            found.append((candidate, "uniform"))
    if len(found) < count and walk_steps:
        genes = sampler.genes(genotype)
        burn_in, thin = BURN_IN_PER_GENE * genes, THIN_PER_GENE * genes
        state = genotype
        for step in range(1, walk_steps + 1):
            proposal = sampler.neighbour(state, config, rng)
            if proposal is not None and low <= ops_of(proposal.validate()) <= high:
                state = proposal
            if step >= burn_in and (step - burn_in) % thin == 0 and _key(state) not in seen:
                seen.add(_key(state))
                found.append((state, "walk"))
                if len(found) == count:
                    break
    if len(found) < count:
        raise SamplingError(
            f"only {len(found)} of {count} random {space} architectures within "
            f"±{tolerance:.0%} of {target:.4g} OPs in {max_tries} draws and a walk of "
            f"{walk_steps} steps; raise the tolerance, max_tries or walk_steps"
        )
    if measured is not None:
        measured[:] = [costs[_key(g)] for g, _ in found]
    if how is not None:
        how[:] = [way for _, way in found]
    return [g for g, _ in found]


def write_controls(reference: Path, pick: str | None, space: str, config_path: Path | None,
                   seed: int, count: int, tolerance: float, out: Path,
                   layout: dict[str, Any] | None = None) -> dict[str, Any]:
    """Draw the control of one search into ``out``: ``genotype-<k>.json``, then
    ``result.json`` (written last, so a folder with it is complete). ``layout`` moves the
    reference's cells to another layout first (``Genotype.with_layout`` arguments)."""
    from bnnas.config import load_config
    from bnnas.runs import write_text_atomic
    from bnnas.search.methods import SEARCH_METHODS
    from bnnas.search.pareto import load_genotype_file

    config_class = SEARCH_METHODS.get(space).config_class
    config = load_config(config_class, config_path) if config_path else config_class()
    genotype = load_genotype_file(reference, pick)
    if layout:
        genotype = genotype.with_layout(**layout).validate()
    measured: list[float] = []
    how: list[str] = []
    drawn = random_genotypes_like(genotype, space, count, np.random.default_rng(seed), tolerance,
                                  config=config, measured=measured, how=how)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for k, candidate in enumerate(drawn):
        candidate.save(out / f"genotype-{k}.json")
        files.append({"genotype": f"genotype-{k}.json", "ops": measured[k], "drawn": how[k]})
    result = {
        "space": space, "reference": str(reference), "pick": pick, "layout": layout or {},
        "seed": seed,
        "tolerance": tolerance, "reference_ops": network_ops(genotype, (1, 28, 28), 10),
        "genotypes": files,
    }
    write_text_atomic(out / "result.json", json.dumps(result, indent=2) + "\n")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genotype", required=True, help="genotype.json or pareto.json")
    parser.add_argument("--pick", default=None, help="member of a pareto.json (e.g. best)")
    parser.add_argument("--space", required=True, help=f"one of {', '.join(SAMPLERS.names())}")
    parser.add_argument("--config", default=None, help="the search's config.yaml")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--tolerance", type=float, default=0.1)
    parser.add_argument("--out", required=True, help="folder for genotype-<k>.json")
    parser.add_argument("--arg", action="append", default=[], metavar="KEY=VALUE",
                        help="layout of the retrained network, e.g. cells=5 (repeatable)")
    args = parser.parse_args(argv)
    try:
        result = write_controls(Path(args.genotype), args.pick, args.space,
                                Path(args.config) if args.config else None, args.seed,
                                args.count, args.tolerance, Path(args.out),
                                parse_model_args(args.arg))
    except BnnasError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    shown = ", ".join(f"{g['ops']:.4g}" for g in result["genotypes"])
    print(f"{len(result['genotypes'])} random {args.space} genotypes of OPs {shown} (reference "
          f"{result['reference_ops']:.4g}) in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
