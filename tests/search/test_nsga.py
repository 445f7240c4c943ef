import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bnnas.errors import ConfigError
from bnnas.search.nsga import (
    auxiliary_objectives,
    binary_tournament,
    crowded_order,
    crowding_distance,
    environmental_selection,
    hypervolume,
    nondominated_ranks,
    pareto_front_indices,
    rank_and_crowding,
)

# (error, size); fronts worked out by hand:
#   A, B, C, H: nobody is better in both      -> front 0 (H duplicates B)
#   D (3,4) only B beats it; E (5,2) only C    -> front 1
#   F (4,5) is beaten by D                     -> front 2
#   G (5,5) is beaten by F                     -> front 3
POINTS = np.array(
    [[1, 5], [2, 3], [4, 1], [3, 4], [5, 2], [4, 5], [5, 5], [2, 3]],  # A B C D E F G H
    dtype=float,
)

# One front: (1,5) (2,3) (3,2) (4,1). Error range 3, size range 4.
#   (2,3): (3 - 1)/3 + (5 - 2)/4 = 17/12      (3,2): (4 - 2)/3 + (3 - 1)/4 = 7/6
FRONT = np.array([[1, 5], [2, 3], [3, 2], [4, 1]], dtype=float)


def test_nondominated_ranks_on_a_hand_sorted_set():
    assert nondominated_ranks(POINTS).tolist() == [0, 0, 0, 1, 1, 2, 3, 0]
    assert pareto_front_indices(POINTS).tolist() == [0, 1, 2, 7]
    assert nondominated_ranks(np.zeros((0, 2))).tolist() == []


def test_crowding_distance_by_hand():
    distance = crowding_distance(FRONT)
    assert np.isinf(distance[[0, 3]]).all()
    assert distance[1] == pytest.approx(17 / 12)
    assert distance[2] == pytest.approx(7 / 6)
    assert np.isinf(crowding_distance(FRONT[:2])).all()
    # an objective without spread adds nothing and marks no extremes
    flat = np.array([[1, 7], [2, 7], [4, 7]], dtype=float)
    assert crowding_distance(flat).tolist() == [np.inf, 1.0, np.inf]
    assert crowding_distance(np.ones((3, 2))).tolist() == [0.0, 0.0, 0.0]


def test_rank_and_crowding_work_per_front():
    ranks, crowding = rank_and_crowding(np.vstack([FRONT, FRONT + 10]))
    assert ranks.tolist() == [0] * 4 + [1] * 4
    assert np.allclose(crowding[:4], crowding_distance(FRONT))
    assert np.allclose(crowding[4:], crowding_distance(FRONT))  # same shape, same distances


def test_hypervolume_of_a_staircase():
    # the area dominated by (1,3), (2,2), (3,1) below (4,4): columns of height 1, 2, 3
    staircase = np.array([[1, 3], [2, 2], [3, 1]], dtype=float)
    assert hypervolume(staircase, [4, 4]) == pytest.approx(6.0)
    # dominated points and points beyond the reference add nothing
    extra = np.vstack([staircase, [[3, 3], [5, 0.5], [2, 2]]])
    assert hypervolume(extra, [4, 4]) == pytest.approx(6.0)
    assert hypervolume(np.array([[0.5, 0.5]]), [4, 4]) == pytest.approx(12.25)
    assert hypervolume(np.zeros((0, 2)), [4, 4]) == 0.0
    with pytest.raises(ValueError, match="one per objective"):
        hypervolume(staircase, [4, 4, 4])


def test_plain_selection_takes_whole_fronts_then_the_least_crowded():
    # front 0 = (0, 0) alone; front 1 = FRONT, cut by crowding distance
    population = np.vstack([FRONT, [[0, 0]]])
    assert environmental_selection(population, 1).tolist() == [4]
    assert environmental_selection(population, 3).tolist() == [4, 0, 3]  # the two extremes
    assert environmental_selection(population, 4).tolist() == [4, 0, 3, 1]  # 17/12 > 7/6
    assert environmental_selection(population, 0).tolist() == []
    assert crowded_order(population).tolist() == [4, 0, 3, 1, 2]


def small_model_trap():
    """Ten candidates (error, size). Five small models form front 0; the large model L has a
    lower error than four of them but the best small model (0.18, 3.0) beats it on both, so L
    sits in front 1 with more small models."""
    front0 = [[0.18, 3.0], [0.21, 2.5], [0.23, 2.0], [0.26, 1.5], [0.30, 1.0]]
    front1 = [[0.22, 3.2], [0.25, 2.6], [0.28, 2.1], [0.32, 1.6]]
    large = [[0.20, 10.0]]
    return np.array(front0 + front1 + large), 9


def test_small_model_trap_plain_nsga_drops_the_large_model():
    population, large = small_model_trap()
    assert nondominated_ranks(population)[large] == 1
    assert (population[:5, 0] > population[large, 0]).sum() == 4
    survivors = environmental_selection(population, 5, aux_weight=0.0)
    assert sorted(survivors.tolist()) == [0, 1, 2, 3, 4]
    assert large not in survivors


def test_small_model_trap_auxiliary_fronts_keep_the_large_model():
    population, large = small_model_trap()
    plain = environmental_selection(population, 5)
    survivors = environmental_selection(population, 5, aux_weight=0.4)
    assert large in survivors
    assert len(set(survivors.tolist())) == 5
    # the main share (5 - 2 = 3) is exactly plain NSGA-II's best three
    assert survivors[:3].tolist() == plain[:3].tolist()
    # on (error, -size) L is non-dominated: no model is as accurate and as large
    assert nondominated_ranks(auxiliary_objectives(population))[large] == 0


def test_aux_weight_rounds_to_whole_places_and_one_means_auxiliary_only():
    population, large = small_model_trap()
    plain = environmental_selection(population, 4).tolist()
    assert environmental_selection(population, 4, aux_weight=0.1).tolist() == plain  # 0.4 -> 0
    assert large in environmental_selection(population, 4, aux_weight=0.125)  # 0.5 -> 1
    aux_only = environmental_selection(population, 4, aux_weight=1.0)
    assert aux_only.tolist() == crowded_order(auxiliary_objectives(population))[:4].tolist()


def test_auxiliary_objectives_pick_columns():
    objectives = np.array([[5.0, 0.1, 2.0], [6.0, 0.2, 1.0]])  # (size, error, latency)
    aux = auxiliary_objectives(objectives, error_column=1, size_column=0)
    assert aux.tolist() == [[0.1, -5.0], [0.2, -6.0]]
    with pytest.raises(ConfigError, match="size_column must index one of the 3 objectives"):
        auxiliary_objectives(objectives, size_column=3)
    with pytest.raises(ConfigError, match="both 1"):
        auxiliary_objectives(objectives, error_column=1, size_column=1)


@settings(max_examples=60, deadline=None, database=None)
@given(
    objectives=arrays(
        np.float64,
        st.tuples(st.integers(1, 30), st.integers(2, 3)),
        elements=st.integers(0, 6).map(float),  # few values: many ties and duplicates
    ),
    share=st.floats(0.0, 1.0),
    aux_weight=st.floats(0.0, 1.0),
)
def test_selection_returns_distinct_survivors_containing_the_main_share(
    objectives, share, aux_weight
):
    n = int(round(share * len(objectives)))
    survivors = environmental_selection(objectives, n, aux_weight=aux_weight).tolist()
    assert len(survivors) == len(set(survivors)) == n
    n_aux = int(np.floor(aux_weight * n + 0.5))
    assert survivors[: n - n_aux] == crowded_order(objectives)[: n - n_aux].tolist()
    # plain NSGA-II never keeps a point of a worse front while dropping one of a better front
    ranks = nondominated_ranks(objectives)
    plain = environmental_selection(objectives, n)
    dropped = np.setdiff1d(np.arange(len(objectives)), plain)
    if len(plain) and len(dropped):
        assert ranks[plain].max() <= ranks[dropped].min()


def test_binary_tournament_prefers_lower_fronts_then_crowding():
    ranks = np.array([0, 1, 2, 0])
    crowding = np.array([1.0, np.inf, np.inf, np.inf])
    parents = binary_tournament(ranks, crowding, 4000, np.random.default_rng(0))
    counts = np.bincount(parents, minlength=4)
    assert counts[2] == 0  # the worst front loses every tournament
    # 3 beats everyone (front 0, more crowding), 0 beats 1 and 2: 3 wins 1/2, 0 wins 1/3
    assert counts[3] / 4000 == pytest.approx(1 / 2, abs=0.03)
    assert counts[0] / 4000 == pytest.approx(1 / 3, abs=0.03)
    again = binary_tournament(ranks, crowding, 4000, np.random.default_rng(0))
    assert np.array_equal(parents, again)
    assert binary_tournament(ranks, crowding, 0, np.random.default_rng(0)).tolist() == []
    assert binary_tournament([0], [np.inf], 3, np.random.default_rng(0)).tolist() == [0, 0, 0]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n_survivors": 11}, ConfigError, "n_survivors must be 0 to the 10 candidates"),
        ({"n_survivors": -1}, ConfigError, "n_survivors must be 0 to the 10 candidates"),
        ({"n_survivors": 2.0}, ConfigError, "n_survivors must be an int"),
        ({"n_survivors": 5, "aux_weight": 1.5}, ConfigError, "aux_weight must be a number"),
        ({"n_survivors": 5, "aux_weight": float("nan")}, ConfigError, "aux_weight"),
        ({"n_survivors": 5, "aux_weight": 0.5, "size_column": 2}, ConfigError, "size_column"),
    ],
)
def test_bad_selection_settings(kwargs, error, message):
    population, _ = small_model_trap()
    with pytest.raises(error, match=message):
        environmental_selection(population, **kwargs)


def test_bad_objective_arrays():
    with pytest.raises(ValueError, match="must be finite"):
        nondominated_ranks([[0.1, np.nan], [0.2, 1.0]])
    with pytest.raises(ValueError, match="2-D"):
        crowding_distance([0.1, 0.2])
    with pytest.raises(ValueError, match="equal-length"):
        binary_tournament([0, 1], [1.0], 2, np.random.default_rng(0))
