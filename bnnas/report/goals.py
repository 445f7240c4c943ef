"""An accuracy goal under a cost bound, and how far each search method's networks are from it.

Studies of binary NAS state their aim as an accuracy reached within a cost budget, the budget
often a fraction of a known network's (e.g. a searched Fashion-MNIST network at 94% test
accuracy with a tenth of ``birealnet18``'s OPs). Read off a table by hand, the shortfall is
easy to get wrong or to leave stale as rows change, so the report computes it: per search
method, the most accurate network it found within the bound (each network the mean over its
training seeds) and by how many points it misses the goal, plus the most accurate network of
any kind within the bound. The bound is taken from the reference network's measured row, so
it is the OPs this profiler counts at the study's input size, not a paper's figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bnnas.errors import ReportError
from bnnas.metrics import format_count
from bnnas.report.aggregate import Summary

TITLE = "Accuracy goal"
HEADERS = ("networks", "best network within the bound", "seeds", "test acc (%)", "OPs",
           "short of the goal (points)", "verdict")
ANY = "any measured network"


@dataclass(frozen=True)
class Goal:
    """Test accuracy ``accuracy`` (percent) at OPs at most the ``reference`` network's
    divided by ``divisor`` (no cost bound when ``reference`` is None)."""

    accuracy: float
    reference: str | None = None
    divisor: float = 1.0

    @classmethod
    def parse(cls, accuracy: float, ops_of: str | None) -> Goal:
        """From ``--goal-acc`` and ``--goal-ops-of NAME[/N]`` (e.g. ``birealnet18/10``)."""
        if not 0 < accuracy <= 100:
            raise ReportError(f"--goal-acc {accuracy:g} is not a percentage; give a number "
                              "in (0, 100], e.g. --goal-acc 94")
        if ops_of is None:
            return cls(accuracy)
        name, slash, divisor = ops_of.rpartition("/")
        if not slash:
            return cls(accuracy, ops_of)
        try:
            value = float(divisor)
        except ValueError:
            value = 0.0
        if not name or not value > 0:
            raise ReportError(f"--goal-ops-of {ops_of!r} is not NAME/N with N > 0; give e.g. "
                              "--goal-ops-of birealnet18/10 (a tenth of its OPs)")
        return cls(accuracy, name, value)

    def bound_text(self, bound: float | None) -> str:
        if self.reference is None:
            return "no OPs bound"
        share = "" if self.divisor == 1 else f" / {self.divisor:g}"
        if bound is None:
            return (f"OPs at most {self.reference}'s{share}, but no measured row is named "
                    f"{self.reference!r}, so no bound is applied yet")
        return f"OPs at most {format_count(bound * self.divisor)}{share} = " \
               f"{format_count(bound)} ({self.reference}'s, as measured here)"


@dataclass
class GoalRow:
    """The most accurate network of one group within the bound (None: none is)."""

    group: str
    best: Summary | None
    over_bound: Summary | None  # the group's most accurate network, when none is in bound
    goal: Goal
    bound: float | None  # the goal's OPs bound as measured (None: no bound)

    @property
    def shortfall(self) -> float | None:
        """Points the best network within the bound lacks (0 when the goal is met)."""
        if self.best is None:
            return None
        return max(0.0, self.goal.accuracy - (self.best.value("test_acc") or 0.0))

    def verdict(self) -> str:
        if self.best is None:
            ops = self.over_bound.value("ops") if self.over_bound else None
            if ops is None or self.bound is None:
                return "no network within the bound"
            return f"no network within the bound (its best is at {ops / self.bound:.2f}x it)"
        if self.shortfall == 0:
            return "met"
        return f"missed by {self.shortfall:.2f} points"

    def cells(self) -> list[str]:
        """The row under :data:`HEADERS`."""
        best = self.best
        if best is None:
            return [self.group, "–", "–", "–", "–", "–", self.verdict()]
        acc, std = best.value("test_acc"), best.std.get("test_acc")
        ops = best.value("ops")
        return [self.group, best.name, ", ".join(str(s) for s in best.seeds),
                f"{acc:.2f}" + (f" ± {std:.2f}" if std is not None else ""),
                format_count(ops) if ops is not None else "–",
                f"{self.shortfall:.2f}", self.verdict()]


@dataclass
class GoalCheck:
    """The goal, its OPs bound as measured, and one row per search method plus one for any
    network."""

    goal: Goal
    bound: float | None
    rows: list[GoalRow]

    def note(self) -> str:
        return (f"goal: test accuracy at least {self.goal.accuracy:g}% with "
                f"{self.goal.bound_text(self.bound)}. Per search method, the most accurate "
                "network its searches found (random controls excluded), each the mean over "
                f"its training seeds; the last row, {ANY} (hand-made and random ones too).")

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.goal.accuracy, "reference": self.goal.reference,
            "divisor": self.goal.divisor, "ops_bound": self.bound,
            "rows": [{"networks": r.group,
                      "best": r.best.name if r.best else None,
                      "test_acc": r.best.value("test_acc") if r.best else None,
                      "ops": r.best.value("ops") if r.best else None,
                      "shortfall": r.shortfall, "verdict": r.verdict()}
                     for r in self.rows],
        }


def _is_searched(summary: Summary) -> bool:
    return summary.search_run is not None and summary.control_of is None


def _best(group: str, candidates: Sequence[Summary], bound: float | None,
          goal: Goal) -> GoalRow:
    def acc(s: Summary) -> float:
        return s.value("test_acc") or 0.0

    within = [s for s in candidates
              if bound is None or (s.value("ops") is not None and s.value("ops") <= bound)]
    return GoalRow(group, max(within, key=acc) if within else None,
                   None if within else max(candidates, key=acc), goal, bound)


def check_goal(goal: Goal, summaries: Sequence[Summary]) -> GoalCheck | None:
    """The goal against the measured networks among ``summaries`` (None if none is)."""
    measured = [s for s in summaries if not s.published and s.value("test_acc") is not None]
    if not measured:
        return None
    bound = None
    if goal.reference is not None:
        reference = next((s for s in measured if s.plain_name == goal.reference
                          and s.value("ops") is not None), None)
        bound = reference.value("ops") / goal.divisor if reference else None  # type: ignore[operator]
    methods: dict[str, list[Summary]] = {}
    for s in measured:
        if _is_searched(s):
            methods.setdefault(s.method, []).append(s)
    rows = [_best(method, found, bound, goal) for method, found in methods.items()]
    rows.append(_best(ANY, measured, bound, goal))
    return GoalCheck(goal, bound, rows)
