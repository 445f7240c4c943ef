"""Relaxations of discrete architecture choices, their temperature, and their entropy.

BARS (Zhao et al., arXiv 2011.10804) samples its op, width and depth choices with the
Gumbel-softmax (Jang et al., ICLR 2017; SNAS, Xie et al., ICLR 2019), optionally hard
(straight-through: one-hot forward, soft gradient), with a temperature that falls over the
search so that the relaxed network approaches the derived one; plain softmax (DARTS) is the
deterministic alternative. An entropy penalty pushes each distribution to a peak, so that the
argmax taken at the end is the architecture that was actually trained (BARS' remedy for the
gap between relaxed and derived network).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from bnnas.config import require

RELAXATIONS: tuple[str, ...] = ("gumbel", "softmax")


@dataclass
class RelaxConfig:
    """``mode`` gumbel or softmax; the Gumbel temperature falls geometrically from
    ``tau_start`` to ``tau_end`` over the epochs; ``hard`` uses straight-through samples."""

    mode: str = "gumbel"
    tau_start: float = 1.0
    tau_end: float = 0.2
    hard: bool = False

    def validate(self) -> None:
        require(self.mode in RELAXATIONS,
                f"relax.mode must be one of {', '.join(RELAXATIONS)}, got {self.mode!r}")
        require(self.tau_start > 0 and self.tau_end > 0,
                "relax.tau_start and relax.tau_end must be > 0")

    def temperature(self, epoch: int, epochs: int) -> float:
        """The temperature of 0-based ``epoch`` of ``epochs``."""
        if epochs <= 1:
            return self.tau_start
        t = min(max(epoch / (epochs - 1), 0.0), 1.0)
        return self.tau_start * (self.tau_end / self.tau_start) ** t


def relax(logits: Tensor, mode: str, temperature: float = 1.0, hard: bool = False) -> Tensor:
    """Probabilities over the last dimension: a Gumbel-softmax sample or the softmax."""
    if mode == "gumbel":
        return F.gumbel_softmax(logits, tau=temperature, hard=hard, dim=-1)
    return F.softmax(logits, dim=-1)


def entropy(probs: Tensor) -> Tensor:
    """Mean entropy (nats) of the distributions along the last dimension."""
    return -(probs * torch.log(probs.clamp_min(1e-12))).sum(dim=-1).mean()


def max_entropy(choices: int) -> float:
    """Entropy of the uniform distribution over ``choices``."""
    return math.log(choices)
