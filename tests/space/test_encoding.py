import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bnnas.errors import ConfigError, GenotypeError
from bnnas.space.encoding import ArchEncoding
from bnnas.space.genotype import CellGenotype, Genotype
from bnnas.space.layout import Layout
from bnnas.space.ops import UBNAS_OPS

PROPERTY = settings(max_examples=60, deadline=None, database=None)
OPS = UBNAS_OPS  # choices: skip, max_pool, avg_pool, conv3, conv5, dil3, dil5 (indices 0..6)


def hand_cells():
    normal = CellGenotype(
        nodes=(
            (("bin_conv_3x3", 1), ("skip_connect", 0)),  # unsorted: encode sorts by input
            (("max_pool_3x3", 0), ("bin_dil_conv_3x3", 2)),
        ),
        concat=(2, 3),
    )
    reduce = CellGenotype(
        nodes=(
            (("avg_pool_3x3", 0), ("skip_connect", 1)),
            (("bin_dil_conv_5x5", 2), ("bin_conv_5x5", 1)),
        ),
        concat=(2, 3),
    )
    return normal, reduce


HAND_VECTOR = (0, 0, 1, 3, 0, 1, 2, 5, 0, 2, 1, 0, 1, 4, 2, 6)


def assert_decodes_to_valid_cells(encoding, vector):
    assert encoding.is_valid(vector), encoding.problem(vector)
    assert isinstance(vector, tuple) and all(type(v) is int for v in vector)
    normal, reduce = encoding.decode(vector)
    for path, cell in (("normal", normal), ("reduce", reduce)):
        assert isinstance(cell, CellGenotype)
        assert cell.problem(OPS, path) is None
        assert cell.steps == encoding.steps
        assert all(len(node) == 2 and node[0][1] < node[1][1] for node in cell.nodes)
        assert cell.concat == tuple(range(2, encoding.steps + 2))
    assert encoding.encode((normal, reduce)) == vector


def test_layout_of_the_vector():
    encoding = ArchEncoding(steps=4)
    assert encoding.length == 32
    assert "none" not in encoding.choices and len(encoding.choices) == 7
    assert encoding.bounds[:8] == ((0, 0), (0, 6), (1, 1), (0, 6), (0, 1), (0, 6), (1, 2), (0, 6))
    assert encoding.bounds[16:20] == encoding.bounds[:4]  # the reduce cell starts again at node 0
    assert encoding.position_name(21) == "reduce.nodes[1].op_a"


def test_hand_built_genotype_round_trips():
    encoding = ArchEncoding(steps=2)
    normal, reduce = hand_cells()
    assert encoding.encode((normal, reduce)) == HAND_VECTOR
    genotype = Genotype(normal, reduce, Layout(cells=3, channels=4))
    assert encoding.encode(genotype) == HAND_VECTOR
    dec_normal, dec_reduce = encoding.decode(HAND_VECTOR)
    assert dec_normal.nodes[0] == (("skip_connect", 0), ("bin_conv_3x3", 1))  # sorted
    assert dec_normal.nodes[1] == normal.nodes[1]
    assert dec_reduce.nodes[1] == (("bin_conv_5x5", 1), ("bin_dil_conv_5x5", 2))
    assert dec_normal.concat == dec_reduce.concat == (2, 3)
    Genotype(dec_normal, dec_reduce, Layout(cells=3, channels=4)).validate()


def test_vectors_and_cells_correspond_one_to_one():
    encoding = ArchEncoding(("none", "skip_connect", "max_pool_3x3"), steps=2)
    box = itertools.product(*(range(low, high + 1) for low, high in encoding.bounds))
    valid = [v for v in box if encoding.is_valid(v)]
    # per cell: node 0 has 1 input pair, node 1 has 3; each edge 2 ops -> (1*4) * (3*4) = 48
    assert len(valid) == 48 * 48
    decoded = {encoding.decode(v) for v in valid}
    assert len(decoded) == len(valid)
    assert all(encoding.encode(encoding.decode(v)) == v for v in valid[::97])


def test_sampling_is_seeded_and_covers_the_space():
    encoding = ArchEncoding(("skip_connect", "max_pool_3x3"), steps=1)  # 4 x 4 architectures
    draws = [encoding.sample(np.random.default_rng(seed)) for seed in range(200)]
    assert len(set(draws)) == 16
    assert encoding.sample(np.random.default_rng(7)) == encoding.sample(np.random.default_rng(7))


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    steps=st.integers(1, 5),
    rate=st.floats(0.0, 1.0),
    ops=st.sets(st.sampled_from(OPS), min_size=1).filter(lambda s: s != {"none"}),
)
def test_sample_mutate_crossover_stay_valid(seed, steps, rate, ops):
    encoding = ArchEncoding(tuple(sorted(ops)), steps=steps)
    rng = np.random.default_rng(seed)
    a, b = encoding.sample(rng), encoding.sample(rng)
    assert_decodes_to_valid_cells(encoding, a)
    child = encoding.mutate(a, rate, rng)
    assert_decodes_to_valid_cells(encoding, child)
    first, second = encoding.crossover(a, b, rng)
    for vector in (first, second):
        assert_decodes_to_valid_cells(encoding, vector)
    for start in range(0, encoding.length, 4):  # whole blocks, each parent's block used once
        blocks = {first[start : start + 4], second[start : start + 4]}
        assert sorted(blocks) == sorted({a[start : start + 4], b[start : start + 4]})


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 5), rate=st.floats(0.0, 1.0))
def test_mutation_changes_at_least_one_gene_unless_rate_is_zero(seed, steps, rate):
    encoding = ArchEncoding(steps=steps)
    rng = np.random.default_rng(seed)
    parent = encoding.sample(rng)
    assert encoding.mutate(parent, 0.0, rng) == parent
    if rate > 0:
        assert encoding.mutate(parent, rate, rng) != parent


def test_mutation_rate_sets_how_many_genes_change():
    encoding = ArchEncoding(steps=4)
    rng = np.random.default_rng(0)
    parent = encoding.sample(rng)
    for rate in (0.05, 0.5):
        changed = [
            sum(x != y for x, y in zip(parent, encoding.mutate(parent, rate, rng), strict=True))
            for _ in range(300)
        ]
        # 28 of the 32 genes are mutable (node 0 has no other inputs to move to);
        # a re-sorted block may change up to 4 genes
        assert 0.5 * rate * 28 < np.mean(changed) < 2.5 * rate * 28 + 1


def test_a_space_of_one_architecture_cannot_mutate():
    encoding = ArchEncoding(("none", "skip_connect"), steps=1)
    vector = encoding.sample(np.random.default_rng(0))
    assert vector == (0, 0, 1, 0, 0, 0, 1, 0)
    assert encoding.mutate(vector, 1.0, np.random.default_rng(0)) == vector


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan"), True, "0.5", None])
def test_bad_mutation_rate_is_a_config_error(rate):
    encoding = ArchEncoding(steps=2)
    with pytest.raises(ConfigError, match="mutation rate must be a number in \\[0, 1\\]"):
        encoding.mutate(HAND_VECTOR, rate, np.random.default_rng(0))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ops": ("skip_connect", "conv_9x9")}, "unknown op 'conv_9x9'"),
        ({"ops": ("none",)}, "no op besides 'none'"),
        ({"ops": ("skip_connect", "skip_connect")}, "names an op twice"),
        ({"ops": "skip_connect"}, "must be a list of op names"),
        ({"steps": 0}, "steps must be 1 to 16"),
        ({"steps": 2.0}, "steps must be 1 to 16"),
    ],
)
def test_bad_encoding_settings(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ArchEncoding(**kwargs)


@pytest.mark.parametrize(
    ("vector", "message"),
    [
        (HAND_VECTOR[:-1], "has 16 genes, got 15"),
        ((1,) + HAND_VECTOR[1:], r"normal.nodes\[0\].input_a: 1 is not an int in 0..0"),
        (HAND_VECTOR[:9] + (7,) + HAND_VECTOR[10:], r"reduce.nodes\[0\].op_a: 7"),
        (
            HAND_VECTOR[:4] + (2, 5, 1, 1) + HAND_VECTOR[8:],
            r"nodes\[1\].input_a: 2 is not an int in 0..1",
        ),
        (HAND_VECTOR[:4] + (1, 5, 1, 1) + HAND_VECTOR[8:], "input_a < input_b"),
        ((True,) + HAND_VECTOR[1:], "True is not an int"),
        (list(HAND_VECTOR[:-1]) + [6.0], "6.0 is not an int"),
        ("0" * 16, "a genome is a tuple of ints"),
    ],
)
def test_invalid_vectors_are_rejected(vector, message):
    encoding = ArchEncoding(steps=2)
    assert not encoding.is_valid(vector)
    with pytest.raises(GenotypeError, match=message):
        encoding.decode(vector)
    with pytest.raises(GenotypeError, match=message):
        encoding.mutate(vector, 0.5, np.random.default_rng(0))
    with pytest.raises(GenotypeError, match=message):
        encoding.crossover(HAND_VECTOR, vector, np.random.default_rng(0))


def test_unsorted_inputs_are_not_canonical():
    encoding = ArchEncoding(steps=3)
    vector = encoding.sample(np.random.default_rng(0))
    sorted_block = vector[:8] + (1, 3, 2, 4) + vector[12:]
    swapped = vector[:8] + (2, 4, 1, 3) + vector[12:]  # the same node, edges listed the other way
    assert encoding.is_valid(sorted_block)
    assert encoding.problem(swapped) == (
        "normal.nodes[2].input_a: inputs must be distinct and sorted (input_a < input_b), "
        "got 2 and 1"
    )


def test_numpy_ints_are_accepted_and_plain_ints_returned():
    encoding = ArchEncoding(steps=2)
    vector = np.array(HAND_VECTOR)
    assert encoding.is_valid(tuple(vector))
    child = encoding.mutate(tuple(vector), 0.0, np.random.default_rng(0))
    assert child == HAND_VECTOR and all(type(v) is int for v in child)


def test_genotypes_the_encoding_cannot_express():
    encoding = ArchEncoding(("none", "skip_connect", "bin_conv_3x3", "max_pool_3x3"), steps=2)
    normal, reduce = hand_cells()

    def cell(nodes, concat=(2, 3)):
        return CellGenotype(nodes=nodes, concat=concat)

    two = ((("skip_connect", 0), ("bin_conv_3x3", 1)), (("max_pool_3x3", 0), ("skip_connect", 2)))
    cases = [
        (cell(two[:1], concat=(2,)), "this encoding has 2 nodes, got 1"),
        (cell(two, concat=(3,)), "concatenates all nodes"),
        (cell(((("skip_connect", 0), ("bin_conv_3x3", 0)), two[1])), "distinct inputs"),
        (cell(((("skip_connect", 0),), two[1])), "two edges from distinct inputs"),
        (cell(((("none", 0), ("bin_conv_3x3", 1)), two[1])), "op 'none' cannot be part"),
        (cell(((("avg_pool_3x3", 0), ("bin_conv_3x3", 1)), two[1])), "unknown op 'avg_pool_3x3'"),
        (cell(((("skip_connect", 0), ("bin_conv_3x3", 2)), two[1])), "not an earlier node"),
    ]
    assert encoding.encode((cell(two), cell(two))) == (0, 0, 1, 1, 0, 2, 2, 0) * 2
    for bad, message in cases:
        with pytest.raises(GenotypeError, match=message):
            encoding.encode((cell(two), bad))
    with pytest.raises(GenotypeError, match="Genotype or a \\(normal, reduce\\) pair"):
        encoding.encode(normal)


@pytest.mark.parametrize(("ops", "steps", "states"), [
    (("bin_conv_3x3", "max_pool_3x3"), 1, 16), (("bin_conv_3x3",), 2, 9)])
def test_neighbour_walk_visits_every_architecture_equally_often(ops, steps, states):
    """A symmetric proposal leaves the uniform distribution stationary: an unconstrained walk
    spends about the same time in each architecture (ops change in the first space, inputs in
    the second), and each step changes exactly one gene."""
    encoding = ArchEncoding(ops, steps)
    rng = np.random.default_rng(0)
    vector = encoding.sample(rng)
    visits: dict[tuple[int, ...], int] = {}
    for _ in range(32_000):
        after = encoding.neighbour(vector, rng)
        assert after != vector and encoding.decode(after)
        vector = after
        visits[vector] = visits.get(vector, 0) + 1
    assert len(visits) == states
    share = np.array(list(visits.values())) / sum(visits.values())
    assert np.abs(share * states - 1).max() < 0.15


def test_neighbour_in_a_space_of_one_architecture_is_the_same():
    encoding = ArchEncoding(("bin_conv_3x3",), 1)
    vector = encoding.sample(np.random.default_rng(0))
    assert encoding.neighbour(vector, np.random.default_rng(1)) == vector
