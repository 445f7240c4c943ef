"""Early stopping of a differentiable search.

Differentiable searches drift towards parameter-free ops the longer they run ("collapse"),
and most of their cost is spent after the derived architecture has settled. UBNAS (Tan et
al., IEEE TCSVT 2024) stops the search early to cut that cost; its criteria are not public,
so bnnas offers the two published in DARTS+ (Liang et al., 2019), either or both enabled:

* ``skip_connects``: stop once the derived normal cell holds at least this many
  skip-connections (DARTS+ uses 2): beyond that the cell is collapsing.
* ``stable_epochs``: stop once the derived genotype has not changed for this many epochs of
  architecture updates: more search would not change the result.

Only epochs with architecture updates count; during the warm-up the alphas do not move and
a "stable" genotype would mean nothing. Nor does it while the op distributions are near
uniform: their argmax can sit still on a near-tie for many epochs. With ``decisive: true``
an epoch counts as stable only once the distributions have chosen
(:func:`bnnas.train.health.decisive`); off by default, as the searches already run stopped
without it, and a stop on a near-tie is then reported with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bnnas.config import require


@dataclass
class EarlyStopConfig:
    """Which early-stopping criteria are on (``null`` switches one off)."""

    skip_connects: int | None = 2
    stable_epochs: int | None = 5
    min_epochs: int = 1
    decisive: bool = False  # stable epochs count only once the op distributions have chosen

    def validate(self) -> None:
        require(
            self.skip_connects is None or self.skip_connects >= 1,
            f"early_stop.skip_connects must be >= 1 or null, got {self.skip_connects}",
        )
        require(
            self.stable_epochs is None or self.stable_epochs >= 1,
            f"early_stop.stable_epochs must be >= 1 or null, got {self.stable_epochs}",
        )
        require(self.min_epochs >= 0, f"early_stop.min_epochs must be >= 0, got {self.min_epochs}")


@dataclass(frozen=True)
class StopDecision:
    """Why and when the search stopped early."""

    criterion: str
    epoch: int
    detail: str


def count_op(cell_nodes: Any, op: str) -> int:
    """How many edges of a cell (``nodes`` of (op, input) pairs) use ``op``."""
    return sum(1 for node in cell_nodes for name, _ in node if name == op)


class EarlyStopper:
    """Feeds on the genotype derived after each epoch; says when to stop.

    ``key`` of a genotype is any value that compares equal for equal architectures (the
    JSON text, say); ``normal_nodes`` is its normal cell's node list.
    """

    def __init__(self, config: EarlyStopConfig) -> None:
        self.config = config
        self.last_key: str | None = None
        self.unchanged = 0
        self.arch_epochs = 0

    def update(
        self, epoch: int, key: str, normal_nodes: Any, arch_updated: bool,
        decisive: bool = True,
    ) -> StopDecision | None:
        """Record epoch ``epoch`` (1-based); return a decision if a criterion fires.
        ``decisive``: whether the op distributions behind ``key`` have chosen (with
        ``config.decisive`` an undecided epoch restarts the stable count)."""
        if not arch_updated:
            return None
        self.arch_epochs += 1
        counts = decisive or not self.config.decisive
        self.unchanged = self.unchanged + 1 if key == self.last_key and counts else 0
        self.last_key = key
        if self.arch_epochs < self.config.min_epochs:
            return None
        limit = self.config.skip_connects
        if limit is not None:
            skips = count_op(normal_nodes, "skip_connect")
            if skips >= limit:
                return StopDecision(
                    "skip_connects", epoch,
                    f"normal cell holds {skips} skip-connects (limit {limit})",
                )
        patience = self.config.stable_epochs
        if patience is not None and self.unchanged >= patience:
            return StopDecision(
                "stable_epochs", epoch,
                f"derived genotype unchanged for {self.unchanged} epochs (patience {patience})",
            )
        return None

    def state_dict(self) -> dict[str, Any]:
        return {
            "last_key": self.last_key,
            "unchanged": self.unchanged,
            "arch_epochs": self.arch_epochs,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last_key = state["last_key"]
        self.unchanged = int(state["unchanged"])
        self.arch_epochs = int(state["arch_epochs"])
