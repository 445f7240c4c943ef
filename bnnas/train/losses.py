"""Losses: cross-entropy with label smoothing, and distillation from a float teacher.

ReActNet (Liu et al., ECCV 2020) trains binary networks by matching the output distribution
of a real-valued teacher; ``alpha`` mixes that KL term with the ordinary cross-entropy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def classification_loss(logits: Tensor, target: Tensor, label_smoothing: float = 0.0) -> Tensor:
    return F.cross_entropy(logits, target, label_smoothing=label_smoothing)


def distillation_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    target: Tensor,
    *,
    alpha: float,
    temperature: float,
    label_smoothing: float = 0.0,
) -> Tensor:
    """``alpha * T^2 * KL(teacher || student) + (1 - alpha) * CE(student, target)``."""
    t = temperature
    kl = F.kl_div(
        F.log_softmax(student_logits / t, dim=1),
        F.log_softmax(teacher_logits.detach() / t, dim=1),
        reduction="batchmean",
        log_target=True,
    )
    loss = alpha * (t * t) * kl
    if alpha < 1:
        loss = loss + (1 - alpha) * classification_loss(student_logits, target, label_smoothing)
    return loss


@torch.no_grad()
def accuracy_count(logits: Tensor, target: Tensor) -> int:
    return int((logits.argmax(dim=1) == target).sum().item())
