"""Each search method over its search seeds.

One search seed finds one network, and a second seed may find a better or a worse one: how
good a method is, is a statement about what its searches find across seeds, which is what a
user who runs it again will meet. Lindauer & Hutter ("Best practices for scientific research
on neural architecture search", JMLR 2020) ask for results over several search seeds for this
reason. This table gathers, per method and network name (``mots (best) [cells=5,...]``), the
network each search seed found, each first averaged over its own training seeds, and gives
their mean ± sample standard deviation across search seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bnnas.metrics import format_count
from bnnas.report.aggregate import Summary, mean_and_std, unseeded_name
from bnnas.report.table import format_duration, format_mean_std

TITLE = "Methods over their search seeds"
HEADERS = ("method", "network", "search seeds", "test acc per search seed (%)",
           "test acc (%)", "OPs", "search time")
NOTE = ("test acc: the mean ± sample standard deviation, across search seeds, of the test "
        "accuracy of the network each search seed found (itself the mean over its training "
        "seeds); OPs and search time likewise. The spread across search seeds is what a "
        "rerun of the search may land on; with one search seed the value stands alone.")


@dataclass
class MethodSeeds:
    """The networks the search seeds of one method found, one per seed, by seed."""

    method: str
    network: str
    found: list[Summary]

    def mean_std(self, key: str) -> tuple[float | None, float | None]:
        """Mean and std across search seeds of ``key`` (None where no seed has it)."""
        return mean_and_std([s.value(key) for s in self.found])

    def cells(self) -> list[str]:
        """The row under :data:`HEADERS`."""
        def with_std(key: str, fmt: Any) -> str:
            return format_mean_std(*self.mean_std(key), fmt)

        per_seed = "; ".join(f"seed {s.search_seed}: {s.value('test_acc'):.2f}"
                             for s in self.found)
        return [self.method, self.network, str(len(self.found)), per_seed,
                with_std("test_acc", lambda v: f"{v:.2f}"), with_std("ops", format_count),
                with_std("search_seconds", format_duration)]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": self.method, "network": self.network,
            "search_seeds": [s.search_seed for s in self.found],
            "names": [s.name for s in self.found],
            "test_acc_per_search_seed": [s.value("test_acc") for s in self.found],
        }
        for key in ("test_acc", "ops", "search_seconds"):
            out[key], out[f"{key}_std"] = self.mean_std(key)
        return out


def method_seeds(summaries: Sequence[Summary]) -> list[MethodSeeds]:
    """Group the trained networks found by searches (not the random controls' draws, not
    hand-made or published ones) by method, network name, data set and epochs, one per
    search seed; in the order of ``summaries``. Empty unless some method has networks of
    two or more search seeds: until then the main table says it all."""
    groups: dict[tuple[str, str, str | None, int | None], list[Summary]] = {}
    for s in summaries:
        if (s.published or s.search_seed is None or s.control_of is not None
                or s.search_run is None or s.value("test_acc") is None):
            continue
        groups.setdefault((s.method, unseeded_name(s), s.dataset, s.epochs), []).append(s)
    if not any(len(found) > 1 for found in groups.values()):
        return []
    return [MethodSeeds(method, name, sorted(found, key=lambda s: s.search_seed or 0))
            for (method, name, _, _), found in groups.items()]
