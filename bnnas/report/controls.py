"""Each searched network against the random networks of equal OPs drawn from its own space.

A search earns its cost only if what it finds beats architectures sampled at random from the
same space at the same cost (Li & Talwalkar, UAI 2019; Yu et al., ICLR 2020, who found that
several weight-sharing searches did not). ``bnnas.search.random_arch`` draws such a control
for a found network; once the control's networks are trained, this module pairs them with
the network they were drawn against (the search folder and OPs tell which) and says by how
much it wins or loses: its test accuracy minus the best draw's, each the mean over the
training seeds done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bnnas.metrics import format_count
from bnnas.report.aggregate import Summary
from bnnas.report.earlier import same_path

TITLE = "Searched networks against random networks of equal OPs"
HEADERS = ("network", "seeds", "test acc (%)", "OPs",
           "random draws of equal OPs: test acc (OPs)", "best draw (%)", "margin (points)",
           "seed spread (points)", "verdict")
NOTE = ("margin: the network's test accuracy minus that of the best of the random networks "
        "drawn from its own space within 10% of its OPs and trained with the same recipe "
        "(each the mean over the training seeds done); a search should beat them all. "
        "seed spread: the largest standard deviation over training seeds among the network "
        "and its draws (– while each has one seed); a margin inside it is no clear win or "
        "loss.")


@dataclass
class ControlComparison:
    """One found network and the trained networks of its random control."""

    network: Summary
    draws: list[Summary]

    @staticmethod
    def _acc(summary: Summary) -> float:
        return summary.value("test_acc") or 0.0  # pairs are made of trained networks only

    @property
    def best_draw(self) -> Summary:
        return max(self.draws, key=self._acc)

    @property
    def margin(self) -> float:
        """Test accuracy of the network minus that of the best draw, in points."""
        return self._acc(self.network) - self._acc(self.best_draw)

    @property
    def seed_spread(self) -> float | None:
        """The largest std of test accuracy over training seeds among the network and its
        draws, or None while none has two seeds: how far apart one network's trainings
        land, the scale below which a margin says little."""
        spreads = [s.std.get("test_acc") for s in (self.network, *self.draws)]
        known = [x for x in spreads if x is not None]
        return max(known) if known else None

    @property
    def beaten_by(self) -> int:
        """How many draws are at least as accurate as the network."""
        return sum(self._acc(d) >= self._acc(self.network) for d in self.draws)

    def verdict(self) -> str:
        """``beats all 3 draws`` or ``beaten by 1 of 3 draws``, with ``, within the seed
        spread`` when the margin is smaller than :attr:`seed_spread`."""
        n = len(self.draws)
        plural = "draw" if n == 1 else "draws"
        if self.beaten_by == 0:
            text = f"beats all {n} {plural}" if n > 1 else "beats its 1 draw"
        else:
            text = f"beaten by {self.beaten_by} of {n} {plural}"
        spread = self.seed_spread
        return text + (", within the seed spread" if spread is not None
                       and abs(self.margin) < spread else "")

    def cells(self) -> list[str]:
        """The row under :data:`HEADERS`."""
        def acc(summary: Summary) -> str:
            std = summary.std.get("test_acc")
            text = f"{self._acc(summary):.2f}"
            return text + (f" ± {std:.2f}" if std else "")

        draws = "; ".join(f"#{_number(d)} {acc(d)} ({format_count(d.value('ops') or 0)})"
                          for d in self.draws)
        seeds = ", ".join("?" if s is None else str(s) for s in self.network.seeds)
        return [self.network.name, seeds, acc(self.network),
                format_count(self.network.value("ops") or 0), draws, acc(self.best_draw),
                f"{self.margin:+.2f}",
                "–" if self.seed_spread is None else f"{self.seed_spread:.2f}",
                self.verdict()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "network": self.network.name,
            "search_run": self.network.search_run,
            "test_acc": self.network.value("test_acc"),
            "ops": self.network.value("ops"),
            "draws": [{"name": d.name, "test_acc": d.value("test_acc"), "ops": d.value("ops"),
                       "seeds": d.seeds} for d in self.draws],
            "best_draw": self.best_draw.name,
            "margin": self.margin,
            "beaten_by": self.beaten_by,
            "seed_spread": self.seed_spread,
        }


def _number(draw: Summary) -> str:
    """The draw's number from its name (``random-equal-ops (bars space) #2`` -> ``2``)."""
    tail = draw.name.rpartition("#")[2]
    return tail.split(" ", 1)[0] or "?"


def control_comparisons(summaries: Sequence[Summary]) -> list[ControlComparison]:
    """Pair every group of trained control networks (same search folder drawn against, data
    set and epochs) with the found network of that search whose OPs are nearest theirs (a
    search retrained on two layouts has two); groups without a trained network are left
    out. In the order of the networks in ``summaries``."""
    groups: dict[tuple[str, str | None, int | None], list[Summary]] = {}
    for s in summaries:
        if s.control_of is not None and s.value("test_acc") is not None:
            groups.setdefault((s.control_of, s.dataset, s.epochs), []).append(s)
    found = [s for s in summaries if s.search_run is not None and s.control_of is None
             and s.value("test_acc") is not None]
    pairs = []
    for (search, dataset, epochs), draws in groups.items():
        candidates = [s for s in found if s.dataset == dataset and s.epochs == epochs
                      and same_path(s.search_run or "", search)]
        if not candidates:
            continue
        mean_ops = sum(d.value("ops") or 0 for d in draws) / len(draws)
        network = min(candidates, key=lambda s: abs((s.value("ops") or 0) - mean_ops))
        pairs.append(ControlComparison(network, sorted(
            draws, key=lambda d: (len(_number(d)), _number(d)))))
    order = {id(s): i for i, s in enumerate(summaries)}
    return sorted(pairs, key=lambda p: order[id(p.network)])
