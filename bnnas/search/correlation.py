"""Rank correlation between a cheap proxy score and the accuracy it stands in for.

A weight-sharing search is only as good as the ranking its fast evaluation gives; the usual
check (Yu et al., "Evaluating the search phase of NAS", ICLR 2020) is Spearman's rho between
the proxy and stand-alone accuracies of a few sampled architectures.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def average_ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks from 1, ties sharing the mean of the ranks they span."""
    x = np.asarray(values, dtype=float)
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    sorted_x = x[order]
    start = 0
    while start < len(x):
        end = start
        while end + 1 < len(x) and sorted_x[end + 1] == sorted_x[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rho: the Pearson correlation of the average ranks (NaN if either side is
    constant, when no ranking exists)."""
    if len(a) != len(b) or len(a) < 2:
        raise ValueError("spearman needs two sequences of equal length >= 2")
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denominator) if denominator else float("nan")
