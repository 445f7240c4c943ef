import math

import pytest
import torch
from torch import nn

from bnnas.binary import BinaryConv2d
from bnnas.train.config import OptimConfig
from bnnas.train.losses import distillation_loss
from bnnas.train.optim import build_optimizer, build_scheduler, lr_factor, parameter_groups


def _net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), BinaryConv2d(4, 4, 3), nn.Flatten(),
        nn.LazyLinear(2),
    )


def test_binary_weights_and_1d_params_are_not_decayed():
    net = _net()
    net(torch.randn(1, 1, 8, 8))
    decay, no_decay = parameter_groups(net, 1e-4)
    decayed = {id(p) for p in decay["params"]}
    assert id(net[0].weight) in decayed and id(net[4].weight) in decayed
    assert id(net[2].weight) not in decayed
    assert id(net[1].weight) not in decayed and id(net[0].bias) not in decayed
    assert decay["weight_decay"] == 1e-4 and no_decay["weight_decay"] == 0.0
    groups = parameter_groups(net, 1e-4, decay_binary_weights=True)
    assert id(net[2].weight) in {id(p) for p in groups[0]["params"]}
    subset = parameter_groups([net[2].weight, net[0].weight], 1e-4, modules=net)
    assert [len(g["params"]) for g in subset] == [1, 1]


def test_schedules():
    assert lr_factor(0, 100, 0, "cosine") == 1.0
    assert lr_factor(50, 100, 0, "cosine") == pytest.approx(0.5)
    assert lr_factor(100, 100, 0, "cosine") == pytest.approx(0.0)
    assert lr_factor(25, 100, 0, "linear") == pytest.approx(0.75)
    assert lr_factor(70, 100, 0, "constant") == 1.0
    assert lr_factor(0, 100, 10, "cosine") == pytest.approx(0.1)
    assert lr_factor(10, 100, 10, "cosine") == pytest.approx(1.0)


def test_scheduler_steps_per_batch():
    net = _net()
    net(torch.randn(1, 1, 8, 8))
    config = OptimConfig(lr=0.1, epochs=2, optimizer="sgd")
    opt = build_optimizer(net, config)
    sched = build_scheduler(opt, config, steps_per_epoch=5)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.1)
    assert lrs[5] == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert all(a > b for a, b in zip(lrs, lrs[1:], strict=False))


def test_distillation_loss_is_zero_for_identical_logits_and_mixes_ce():
    logits = torch.randn(4, 5)
    target = torch.tensor([0, 1, 2, 3])
    assert distillation_loss(logits, logits, target, alpha=1.0, temperature=2.0).abs() < 1e-6
    ce = nn.functional.cross_entropy(logits, target)
    mixed = distillation_loss(logits, logits, target, alpha=0.25, temperature=1.0)
    assert mixed == pytest.approx(0.75 * ce.item(), rel=1e-5)
    other = distillation_loss(logits, torch.randn(4, 5), target, alpha=1.0, temperature=1.0)
    assert other > 0
