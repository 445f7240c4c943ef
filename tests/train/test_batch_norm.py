import pytest
import torch
from torch import nn

from bnnas.errors import ConfigError
from bnnas.train.batch_norm import batch_norms, recalibrate_batch_norm


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                         nn.Conv2d(3, 2, 1), nn.BatchNorm2d(2, momentum=0.3),
                         nn.BatchNorm2d(2, track_running_stats=False))


def test_statistics_become_the_plain_average_over_the_batches():
    net = _net().eval()
    for bn in batch_norms(net):  # stale statistics far from the data's
        bn.running_mean.fill_(50.0)
        bn.running_var.fill_(1e-3)
    batches = [torch.randn(8, 1, 5, 5) * 2 + 1 for _ in range(3)]
    weights = {k: v.clone() for k, v in net.state_dict().items() if "running" not in k
               and "num_batches" not in k}

    assert recalibrate_batch_norm(net, batches) == 24

    first = net[1]
    with torch.no_grad():  # each batch's mean and unbiased variance, averaged equally
        outs = [net[0](x) for x in batches]
    mean = torch.stack([o.mean((0, 2, 3)) for o in outs]).mean(0)
    var = torch.stack([o.var((0, 2, 3)) for o in outs]).mean(0)
    assert torch.allclose(first.running_mean, mean, atol=1e-5)
    assert torch.allclose(first.running_var, var, rtol=1e-4)
    assert int(first.num_batches_tracked) == 3
    assert net[4].running_mean.abs().max() < 50  # every tracking BN, not only the first
    # weights, momentum and mode are kept; the untracked BN has no statistics to touch
    assert all(torch.equal(net.state_dict()[k], v) for k, v in weights.items())
    assert first.momentum == 0.1 and net[4].momentum == 0.3 and not net.training
    assert net[5] not in batch_norms(net)


def test_recalibration_undoes_stale_statistics():
    net = _net().train()
    x = torch.randn(64, 1, 5, 5)
    with torch.no_grad():
        reference = net(x)  # train mode: normalised by the batch's own statistics
        net.eval()
        for bn in batch_norms(net):
            bn.running_mean.add_(3.0)
        assert not torch.allclose(net(x), reference, atol=1e-3)
        recalibrate_batch_norm(net, [x])
        assert torch.allclose(net(x), reference, atol=1e-3)


def test_no_images_is_an_error_and_changes_nothing():
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(ConfigError, match="at least one batch"):
        recalibrate_batch_norm(net, [])
    assert all(torch.equal(net.state_dict()[k], v) for k, v in before.items())
