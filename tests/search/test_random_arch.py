"""Random architectures of equal OPs from a search's own space (the random control)."""

import numpy as np
import pytest

from bnnas.errors import GenotypeError, SamplingError
from bnnas.report.rows import random_control_of
from bnnas.search.random_arch import SAMPLERS, default_config, network_ops, random_genotypes_like
from bnnas.space.bars import BARSSpace
from bnnas.space.genotype import CellGenotype, Genotype
from bnnas.space.layout import Layout

SHAPE = (1, 8, 8)
DARTS_CELL = CellGenotype(nodes=((("bin_conv_3x3", 0), ("max_pool_3x3", 1)),
                                 (("skip_connect", 0), ("bin_dil_conv_3x3", 2))),
                          concat=(2, 3))
DARTS = Genotype(DARTS_CELL, DARTS_CELL, Layout(cells=3, channels=4, stem_multiplier=1))
DENSE_CELL = CellGenotype(nodes=((("bin_conv_3x3_plain", 0),),
                                 (("skip_connect", 0), ("bin_conv_3x3_shortcut", 1))),
                          concat=(1, 2), inputs=1, output="add")
BARS = Genotype(DENSE_CELL, DENSE_CELL,
                BARSSpace(channels=4, stages=2, max_depth=2, steps=2).layout([1, 2], [1, 2]),
                structure="sign-conv-bn+shortcut")


def draw(reference, space, seed=0, **options):
    measured = []
    out = random_genotypes_like(reference, space, 3, np.random.default_rng(seed), 0.25, SHAPE,
                                max_tries=300, measured=measured, **options)
    return out, measured


@pytest.mark.parametrize(("reference", "space"), [(DARTS, "ubnas"), (DARTS, "mots"),
                                                  (BARS, "bars")])
def test_draws_are_valid_distinct_within_tolerance_and_seeded(reference, space):
    out, measured = draw(reference, space)
    target = network_ops(reference, SHAPE, 10)
    assert len(out) == 3 and len({*out, reference}) == 4
    ops = set(default_config(space).space.ops)
    for genotype, reported in zip(out, measured, strict=True):
        genotype.validate(ops)
        assert genotype.layout == reference.layout and genotype.structure == reference.structure
        assert network_ops(genotype, SHAPE, 10) == reported
        assert abs(reported - target) <= 0.25 * target
        for cell, ref in ((genotype.normal, reference.normal), (genotype.reduce, reference.reduce)):
            assert (cell.steps, cell.inputs, cell.output) == (ref.steps, ref.inputs, ref.output)
            assert all(op != "none" for node in cell.nodes for op, _ in node)
            if space != "bars":  # DARTS: two distinct inputs per node, every node concatenated
                assert all(len({i for _, i in node}) == 2 for node in cell.nodes)
    assert draw(reference, space)[0] == out
    assert draw(reference, space, seed=1)[0] != out


def test_bars_cells_keep_an_input_per_node_and_at_most_max_skip_skips():
    config = default_config("bars")
    config.derive.max_skip = 0
    out, _ = draw(BARS, "bars", config=config)
    for genotype in out:
        for cell in (genotype.normal, genotype.reduce):
            assert all(cell.nodes) and cell.concat == (1, 2)
            assert not any(op == "skip_connect" for node in cell.nodes for op, _ in node)


def test_too_few_within_the_tries_is_one_line_error():
    with pytest.raises(SamplingError, match=r"^only [0-2] of 3 random ubnas architectures "
                       r"within ±0% of [\d.e+]+ OPs in 2 draws and a walk of 0 steps; raise"):
        random_genotypes_like(DARTS, "ubnas", 3, np.random.default_rng(0), 0.0, SHAPE,
                              max_tries=2, walk_steps=0)


COSTLIEST_CELL = CellGenotype(nodes=((("bin_conv_5x5", 0), ("bin_conv_5x5", 1)),
                                     (("bin_conv_5x5", 0), ("bin_conv_5x5", 2))), concat=(2, 3))
COSTLIEST = Genotype(COSTLIEST_CELL, COSTLIEST_CELL, DARTS.layout)


def test_the_walk_reaches_a_band_the_uniform_draws_miss():
    """Every edge of the reference is the costliest op, so uniform draws almost never come
    within 5% of it; the walk from it does, and stays valid, distinct and seeded."""
    def walk(seed):
        measured, how = [], []
        out = random_genotypes_like(COSTLIEST, "ubnas", 3, np.random.default_rng(seed), 0.05,
                                    SHAPE, max_tries=20, measured=measured, how=how)
        return out, measured, how

    with pytest.raises(SamplingError, match="in 20 draws and a walk of 0 steps"):
        random_genotypes_like(COSTLIEST, "ubnas", 3, np.random.default_rng(0), 0.05, SHAPE,
                              max_tries=20, walk_steps=0)
    out, measured, how = walk(0)
    target = network_ops(COSTLIEST, SHAPE, 10)
    assert how == ["walk"] * 3 and len({*out, COSTLIEST}) == 4
    for genotype, ops in zip(out, measured, strict=True):
        genotype.validate(set(default_config("ubnas").space.ops))
        assert network_ops(genotype, SHAPE, 10) == ops and abs(ops - target) <= 0.05 * target
    assert walk(0)[0] == out and walk(1)[0] != out


def test_the_bars_walk_keeps_the_dense_cell_rules():
    config = default_config("bars")
    config.derive.max_skip = 1
    measured, how = [], []
    out = random_genotypes_like(BARS, "bars", 3, np.random.default_rng(0), 0.3, SHAPE,
                                max_tries=0, config=config, measured=measured, how=how)
    target = network_ops(BARS, SHAPE, 10)
    assert how == ["walk"] * 3 and len({*out, BARS}) == 4
    for genotype, ops in zip(out, measured, strict=True):
        genotype.validate(set(config.space.ops))
        assert abs(ops - target) <= 0.3 * target
        for cell in (genotype.normal, genotype.reduce):
            assert all(cell.nodes) and cell.concat == (1, 2) and cell.output == "add"
            assert sum(op == "skip_connect" for node in cell.nodes for op, _ in node) <= 1


def test_a_genotype_of_another_space_is_refused():
    with pytest.raises(GenotypeError, match="not from the ubnas space"):
        random_genotypes_like(BARS, "ubnas", 1, np.random.default_rng(0), input_shape=SHAPE)
    pooled = CellGenotype(nodes=((("max_pool_3x3", 0),),), concat=(1,), inputs=1, output="add")
    with pytest.raises(GenotypeError, match="'max_pool_3x3' is not in the bars space"):
        random_genotypes_like(Genotype(pooled, DENSE_CELL, BARS.layout), "bars", 1,
                              np.random.default_rng(0), input_shape=SHAPE)
    assert SAMPLERS.names() == ["bars", "mots", "random", "ubnas"]


def test_report_names_a_control_network_by_its_space_and_number(tmp_path):
    control = tmp_path / "ubnas-seed0" / "random-ops"
    (control / "train-1").mkdir(parents=True)
    DARTS.save(control / "genotype-1.json")
    (control / "result.json").write_text('{"space": "ubnas", "seed": 3}')
    assert random_control_of(str(control / "genotype-1.json"), control / "train-1") == (
        "random-equal-ops (ubnas space)", "random-equal-ops (ubnas space) #1", 3, None)
    DARTS.save(tmp_path / "genotype.json")
    assert random_control_of(str(tmp_path / "genotype.json"), control / "train-1") is None
