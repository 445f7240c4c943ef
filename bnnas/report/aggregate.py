"""Rows of one network over several seeds become one line: mean and standard deviation.

Runs are grouped by name, dataset, epochs and the seed of the search (or random draw) that made
the network, so a longer retrain of the same network stays a line of its own, and so does the
network another search seed found: a line averages retrains of one network over their training
seeds. Lines that would share a name get the epochs or the search seed added to it, so that
tables, plot labels and ``compare.json`` tell them apart. The spread is the sample standard
deviation (n - 1 in the denominator), the usual "mean ± std over seeds" of NAS tables; with a
single seed there is none (None).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bnnas.report.rows import NUMERIC_FIELDS, Row

METHOD_ORDER = ("ubnas", "bars", "mots", "random")


@dataclass
class Summary:
    """One line of the report table: a measured network over its seeds, or a published one.

    ``mean``/``std`` map each numeric field (:data:`NUMERIC_FIELDS`) to its mean and sample
    standard deviation over the runs that have it.
    """

    name: str  # unique among the lines of one report (see :func:`aggregate`)
    method: str
    dataset: str | None
    epochs: int | None
    seeds: list[int | None] = field(default_factory=list)
    search_seed: int | None = None  # of the search or draw that made it; None if hand-made
    search_run: str | None = None  # the search folder that found it
    control_of: str | None = None  # a random control's network: the search it is drawn against
    mean: dict[str, float | None] = field(default_factory=dict)
    std: dict[str, float | None] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    published: bool = False
    source: str | None = None
    plain_name: str = ""  # the runs' own name, before aggregate() told lines apart

    def __post_init__(self) -> None:
        self.plain_name = self.plain_name or self.name

    @property
    def runs(self) -> int:
        return len(self.seeds)

    def value(self, name: str) -> float | None:
        return self.mean.get(name)

    def to_dict(self) -> dict[str, Any]:
        """A flat JSON object: ``test_acc`` (the mean), ``test_acc_std``, ... and ``command``
        (the first run's; all of them in ``commands``)."""
        out: dict[str, Any] = {
            "name": self.name, "method": self.method, "dataset": self.dataset,
            "epochs": self.epochs, "runs": self.runs, "seeds": self.seeds,
            "search_seed": self.search_seed,
        }
        for key in NUMERIC_FIELDS:
            out[key] = self.mean.get(key)
            out[f"{key}_std"] = self.std.get(key)
        out["command"] = self.commands[0] if self.commands else None
        out["commands"] = self.commands
        out["published"] = self.published
        out["source"] = self.source
        return out


def mean_and_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation of the values given (None ones left out); None
    for either where there are too few."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return None, None
    std = statistics.stdev(present) if len(present) > 1 else None
    return statistics.fmean(present), std


def _order(summary: Summary) -> tuple[int, str, int, int]:
    rank = METHOD_ORDER.index(summary.method) if summary.method in METHOD_ORDER else 10
    return ((20 if summary.published else rank), summary.name, summary.epochs or 0,
            summary.search_seed or 0)


def aggregate(rows: Sequence[Row]) -> list[Summary]:
    """One :class:`Summary` per (name, dataset, epochs, search seed), searched methods first
    (in :data:`METHOD_ORDER`), then hand-made networks, each group by name, epochs and search
    seed."""
    groups: dict[tuple[str, str, int, int | None], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.name, row.dataset, row.epochs, row.search_seed), []).append(row)
    summaries = []
    for (name, dataset, epochs, search_seed), members in groups.items():
        members = sorted(members, key=lambda r: (r.seed is None, r.seed or 0))
        summary = Summary(name=name, method=members[0].method, dataset=dataset, epochs=epochs,
                          seeds=[r.seed for r in members], search_seed=search_seed,
                          search_run=members[0].search_run, control_of=members[0].control_of,
                          commands=[r.command for r in members])
        for key in NUMERIC_FIELDS:
            summary.mean[key], summary.std[key] = mean_and_std([getattr(r, key) for r in members])
        summaries.append(summary)
    summaries.sort(key=_order)
    _name_epochs(summaries)
    _name_search_seeds(summaries)
    return summaries


def _name_epochs(summaries: Sequence[Summary]) -> None:
    """A network name trained for different numbers of epochs (e.g. the study's recipe and
    a longer schedule) gets the epochs on each of its lines, whatever their search seed, so
    the lines of one schedule still share a name across search seeds."""
    epochs: dict[tuple[str, str | None], set[int | None]] = {}
    for s in summaries:
        epochs.setdefault((s.name, s.dataset), set()).add(s.epochs)
    for s in summaries:
        if len(epochs[(s.name, s.dataset)]) > 1 and s.epochs is not None:
            s.name += f" ({s.epochs} epochs)"


def _name_search_seeds(summaries: Sequence[Summary]) -> None:
    """Networks of one name that different search seeds found get the seed in their name,
    so every line of the table, plot and compare.json is told apart by its name."""
    seeds: dict[tuple[str, str, int], set[int | None]] = {}
    for s in summaries:
        seeds.setdefault((s.name, s.dataset, s.epochs), set()).add(s.search_seed)
    for s in summaries:
        if len(seeds[(s.name, s.dataset, s.epochs)]) > 1 and s.search_seed is not None:
            s.name += _search_seed_suffix(s.search_seed)


def _search_seed_suffix(seed: int) -> str:
    return f" (search seed {seed})"


def unseeded_name(summary: Summary) -> str:
    """The name without the search seed :func:`aggregate` may have added to it: the name
    the networks of one method's search seeds share."""
    if summary.search_seed is None:
        return summary.name
    return summary.name.removesuffix(_search_seed_suffix(summary.search_seed))


def pareto_optimal(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the (cost, accuracy) points no other point beats: none is at most as costly
    and at least as accurate while better in one of the two. Sorted by cost."""
    best = []
    for i, (cost, acc) in enumerate(points):
        dominated = any(
            c <= cost and a >= acc and (c < cost or a > acc)
            for j, (c, a) in enumerate(points) if j != i
        )
        if not dominated:
            best.append(i)
    return sorted(best, key=lambda i: points[i])
