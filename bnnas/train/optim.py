"""Optimizers and learning-rate schedules for binary networks.

Latent binary weights get no weight decay by default: decay pulls them towards zero, where
their sign flips on noise (Bi-Real Net and ReActNet both train them without it). Real-valued
matrices (stem, classifier, real shortcuts) are decayed; 1-D parameters (BatchNorm, biases,
scales, RPReLU/RSign shifts) never are.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from bnnas.train.config import OptimConfig


def parameter_groups(
    params: Iterable[nn.Parameter] | nn.Module,
    weight_decay: float,
    decay_binary_weights: bool = False,
    modules: nn.Module | None = None,
) -> list[dict]:
    """Split parameters into a decayed and an undecayed group.

    ``params`` is a module (all its parameters) or a list of parameters, in which case
    ``modules`` is the module whose layers tell which parameters are binary weights.
    """
    if isinstance(params, nn.Module):
        modules, params = params, list(params.parameters())
    binary_weights = set()
    for module in modules.modules() if modules is not None else ():
        if getattr(module, "weight_precision", 32) == 1 and isinstance(
            getattr(module, "weight", None), nn.Parameter
        ):
            binary_weights.add(id(module.weight))
    decay, no_decay = [], []
    for param in params:
        if not param.requires_grad:
            continue
        is_binary = id(param) in binary_weights
        if param.dim() <= 1 or (is_binary and not decay_binary_weights):
            no_decay.append(param)
        else:
            decay.append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def build_optimizer(model: nn.Module, config: OptimConfig) -> torch.optim.Optimizer:
    groups = parameter_groups(model, config.weight_decay, config.decay_binary_weights)
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=True)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr)
    return torch.optim.Adam(groups, lr=config.lr)


def lr_factor(step: int, total_steps: int, warmup_steps: int, schedule: str) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based) of ``total_steps``."""
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    progress = min(max(progress, 0.0), 1.0)
    if schedule == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: OptimConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step schedule (warm-up, then cosine/linear decay to zero, or constant)."""
    total = config.epochs * steps_per_epoch
    warmup = config.warmup_epochs * steps_per_epoch
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total, warmup, config.schedule)
    )
