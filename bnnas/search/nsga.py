"""NSGA-II selection with auxiliary objectives against the small-model trap.

MO-TS-BNAS (Tan et al., IEEE Trans. Cybernetics) searches binary networks with NSGA-II
(Deb et al., IEEE TEC 2002) on (error, size), both minimised. Under weight sharing small models
learn faster, so early in the search they look more accurate than large ones and a plain
(error, size) selection discards the large models for good: the *small-model trap* of CARS
(Yang et al., CVPR 2020). MO-TS-BNAS adds "two auxiliary objectives ... in nondominated sorting
to retain larger models with similar errors"; its exact rule is not public, so this module
follows CARS' pNSGA: a second non-dominated sorting on (error, -size), where being *large* is
good, from whose fronts part of the population is filled (CARS' code sorts on
``(1/acc, size)`` and ``(1/acc, 1/size)`` and merges the two sets of fronts).

Non-dominated sorting and hypervolume come from ``moocore`` (``pareto_rank``, ``hypervolume``).
moocore has no crowding distance, so :func:`crowding_distance` is written here (Deb et al.
2002, Sec. III-B). Every objective is minimised; arrays are ``(points, objectives)``.
"""

from __future__ import annotations

import math

import moocore
import numpy as np
import numpy.typing as npt

from bnnas.errors import ConfigError


def _points(points: npt.ArrayLike, name: str = "points") -> np.ndarray:
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] < 1:
        raise ValueError(f"{name} must be a 2-D (points, objectives) array, got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite; give failed candidates a large finite error")
    return array


def nondominated_ranks(points: npt.ArrayLike) -> np.ndarray:
    """The front of each point: 0 for the non-dominated ones, 1 for those non-dominated once
    front 0 is removed, and so on (NSGA-II's fast non-dominated sort, by moocore)."""
    array = _points(points)
    if len(array) == 0:
        return np.zeros(0, dtype=np.int64)
    return moocore.pareto_rank(array).astype(np.int64)


def pareto_front_indices(points: npt.ArrayLike) -> np.ndarray:
    """Indices of the non-dominated points (duplicates of a front point included), ascending."""
    return np.flatnonzero(nondominated_ranks(points) == 0)


def crowding_distance(points: npt.ArrayLike) -> np.ndarray:
    """NSGA-II's crowding distance of each point of one front (Deb et al. 2002).

    Per objective the points are sorted; the two extremes get infinity and every other point
    adds the gap between its neighbours divided by the objective's range. An objective on
    which all points are equal adds nothing. Fronts of one or two points are all infinite.
    Hand-written: moocore does not provide it.
    """
    array = _points(points)
    count = len(array)
    if count <= 2:
        return np.full(count, np.inf)
    distance = np.zeros(count)
    for column in array.T:
        order = np.argsort(column, kind="stable")
        values = column[order]
        span = values[-1] - values[0]
        if span == 0:
            continue
        distance[order[1:-1]] += (values[2:] - values[:-2]) / span
        distance[order[[0, -1]]] = np.inf
    return distance


def rank_and_crowding(points: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Each point's front and its crowding distance within that front (tournament inputs)."""
    array = _points(points)
    ranks = nondominated_ranks(array)
    crowding = np.zeros(len(array))
    for front in np.unique(ranks):
        members = np.flatnonzero(ranks == front)
        crowding[members] = crowding_distance(array[members])
    return ranks, crowding


def crowded_order(points: npt.ArrayLike) -> np.ndarray:
    """All indices, best first by Deb's crowded comparison: lower front, then larger crowding
    distance, then lower index. Its first ``n`` entries are NSGA-II's ``n`` survivors."""
    ranks, crowding = rank_and_crowding(points)
    return np.lexsort((np.arange(len(ranks)), -crowding, ranks))


def hypervolume(points: npt.ArrayLike, reference: npt.ArrayLike) -> float:
    """The area (volume) dominated by ``points`` and bounded by ``reference`` (moocore).

    Points that do not strictly dominate the reference add nothing."""
    array = _points(points)
    ref = np.asarray(reference, dtype=np.float64)
    if ref.shape != (array.shape[1],) or not np.isfinite(ref).all():
        raise ValueError(
            f"reference must be {array.shape[1]} finite values, one per objective, got {ref}"
        )
    if len(array) == 0:
        return 0.0
    return float(moocore.hypervolume(array, ref=ref))


def binary_tournament(
    ranks: npt.ArrayLike, crowding: npt.ArrayLike, n: int, rng: np.random.Generator
) -> np.ndarray:
    """``n`` parent indices, each the winner of a binary tournament (Deb et al. 2002).

    Two distinct contestants are drawn uniformly; the lower front wins, then the larger
    crowding distance; on a full tie the first drawn wins (it is itself a uniform draw).
    """
    rank = np.asarray(ranks)
    crowd = np.asarray(crowding, dtype=np.float64)
    if rank.ndim != 1 or rank.shape != crowd.shape or len(rank) == 0:
        raise ValueError(
            f"ranks and crowding must be equal-length non-empty 1-D arrays, got "
            f"{rank.shape} and {crowd.shape}"
        )
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ConfigError(f"the number of parents must be a non-negative int, got {n!r}")
    size = len(rank)
    first = rng.integers(size, size=n)
    second = (first + rng.integers(1, size, size=n)) % size if size > 1 else first
    second_wins = (rank[second] < rank[first]) | (
        (rank[second] == rank[first]) & (crowd[second] > crowd[first])
    )
    return np.where(second_wins, second, first).astype(np.int64)


def auxiliary_objectives(
    objectives: npt.ArrayLike, *, error_column: int = 0, size_column: int = 1
) -> np.ndarray:
    """The auxiliary pair ``(error, -size)``: small error and *large* size are good (CARS)."""
    array = _points(objectives, "objectives")
    columns = array.shape[1]
    for name, column in (("error_column", error_column), ("size_column", size_column)):
        if isinstance(column, bool) or not isinstance(column, int) or not 0 <= column < columns:
            raise ConfigError(f"{name} must index one of the {columns} objectives, got {column!r}")
    if error_column == size_column:
        raise ConfigError(f"error_column and size_column are both {error_column}; pick two")
    return np.stack([array[:, error_column], -array[:, size_column]], axis=1)


def environmental_selection(
    objectives: npt.ArrayLike,
    n_survivors: int,
    aux_weight: float = 0.0,
    *,
    error_column: int = 0,
    size_column: int = 1,
) -> np.ndarray:
    """Indices of the ``n_survivors`` candidates that survive, in the order they were chosen.

    The rule, with ``n = n_survivors`` and ``n_aux = floor(aux_weight * n + 0.5)``:

    1. Main order: :func:`crowded_order` of ``objectives`` (all columns, minimised).
    2. Take the first ``n - n_aux`` indices of the main order. With ``aux_weight == 0`` this is
       all of plain NSGA-II: whole fronts, the last one cut by crowding distance.
    3. Auxiliary order: :func:`crowded_order` of ``(error, -size)``
       (:func:`auxiliary_objectives`). Walk it and add every index not yet taken until ``n``
       are taken.

    So ``aux_weight`` is the share of survivors reserved for the auxiliary fronts, on top of
    the best ``n - n_aux`` of the main fronts; ``aux_weight == 1`` is NSGA-II on
    ``(error, -size)`` alone. The caller may change it per stage or generation (MO-TS-BNAS'
    "flexible use"; e.g. protect large models while the supernet is young, then fade out).
    Unlike CARS, which merges the k-th fronts of both sortings, the quota keeps the main
    selection's best exactly and bounds how many places the protection takes.
    """
    array = _points(objectives, "objectives")
    count = len(array)
    if isinstance(n_survivors, bool) or not isinstance(n_survivors, (int, np.integer)):
        raise ConfigError(f"n_survivors must be an int, got {n_survivors!r}")
    if not 0 <= n_survivors <= count:
        raise ConfigError(
            f"n_survivors must be 0 to the {count} candidates, got {n_survivors}; "
            "evaluate more candidates or keep fewer"
        )
    if (
        isinstance(aux_weight, bool)
        or not isinstance(aux_weight, (int, float, np.floating, np.integer))
        or not (math.isfinite(aux_weight) and 0.0 <= aux_weight <= 1.0)
    ):
        raise ConfigError(f"aux_weight must be a number in [0, 1], got {aux_weight!r}")
    n_aux = math.floor(aux_weight * n_survivors + 0.5)
    chosen = [int(i) for i in crowded_order(array)[: n_survivors - n_aux]]
    if n_aux:
        taken = set(chosen)
        aux = auxiliary_objectives(array, error_column=error_column, size_column=size_column)
        for index in crowded_order(aux):
            if len(chosen) == n_survivors:
                break
            if int(index) not in taken:
                chosen.append(int(index))
                taken.add(int(index))
    return np.asarray(chosen, dtype=np.int64)
