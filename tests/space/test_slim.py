import torch

from bnnas.space.slim import SlimBatchNorm2d, SlimRPReLU


def test_slim_batchnorm_uses_and_updates_the_leading_slice():
    wide = SlimBatchNorm2d(6)
    narrow = torch.nn.BatchNorm2d(4)
    with torch.no_grad():
        wide.weight.copy_(torch.linspace(0.5, 1.5, 6))
        wide.bias.copy_(torch.linspace(-1, 1, 6))
        narrow.weight.copy_(wide.weight[:4])
        narrow.bias.copy_(wide.bias[:4])
    x = torch.randn(3, 4, 5, 5)
    assert torch.allclose(wide(x), narrow(x))
    # Running statistics of the used channels move, the others stay.
    assert torch.allclose(wide.running_mean[:4], narrow.running_mean)
    assert torch.allclose(wide.running_var[:4], narrow.running_var)
    assert torch.equal(wide.running_mean[4:], torch.zeros(2))
    assert torch.equal(wide.running_var[4:], torch.ones(2))
    assert int(wide.num_batches_tracked) == 1
    wide.eval(), narrow.eval()
    assert torch.allclose(wide(x), narrow(x))


def test_slim_batchnorm_without_affine_and_at_full_width():
    bn = SlimBatchNorm2d(4, affine=False)
    x = torch.randn(2, 4, 3, 3)
    assert torch.equal(bn(x), torch.nn.functional.batch_norm(x, None, None, training=True))
    assert bn(x[:, :2].contiguous()).shape == (2, 2, 3, 3)


def test_slim_rprelu_slices_its_parameters():
    wide, narrow = SlimRPReLU(5), SlimRPReLU(3)
    with torch.no_grad():
        for name in ("shift_in", "shift_out", "slope"):
            getattr(wide, name).copy_(torch.randn(1, 5, 1, 1))
            getattr(narrow, name).copy_(getattr(wide, name)[:, :3])
    x = torch.randn(2, 3, 4, 4)
    assert torch.equal(wide(x), narrow(x))
