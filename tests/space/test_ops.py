import pytest
import torch

from bnnas.binary import BinaryConv2d
from bnnas.errors import ConfigError
from bnnas.space.ops import (
    OPS,
    PARAMETER_FREE_OPS,
    UBNAS_OPS,
    BinaryConvOp,
    FactorizedReduce,
)
from bnnas.space.structure import STRUCTURE_PRESETS, OpStructure, parse_structure

C = 6


def params(module):
    return sum(p.numel() for p in module.parameters())


def test_op_lists():
    assert set(UBNAS_OPS) <= set(OPS.names())
    assert set(PARAMETER_FREE_OPS) < set(UBNAS_OPS)
    for name in PARAMETER_FREE_OPS:
        assert params(OPS.get(name)(C, 1, OpStructure())) == 0
    for name in set(UBNAS_OPS) - set(PARAMETER_FREE_OPS):
        assert params(OPS.get(name)(C, 1, OpStructure())) > 0


@pytest.mark.parametrize("name", UBNAS_OPS)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("size", [8, 7])
def test_output_shape_and_gradient(name, stride, size):
    op = OPS.get(name)(C, stride, OpStructure())
    x = torch.randn(2, C, size, size, requires_grad=True)
    y = op(x)
    out = size if stride == 1 else -(-size // 2)
    assert y.shape == (2, C, out, out)
    if name == "none":
        assert torch.equal(y, torch.zeros_like(y))
        return
    (y * torch.randn_like(y)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for p in op.parameters():
        assert p.grad is not None, name


@pytest.mark.parametrize("spec", STRUCTURE_PRESETS)
@pytest.mark.parametrize("stride", [1, 2])
def test_binary_op_follows_structure(spec, stride):
    structure = parse_structure(spec)
    op = BinaryConvOp(C, C, 3, stride, 1, structure)
    assert (op.pre_bn is not None) == (structure.order == "bn_sign_conv")
    assert (op.post_bn is not None) == (structure.order == "sign_conv_bn")
    assert (op.shortcut is not None) == structure.shortcut
    assert (op.act is not None) == (structure.activation == "rprelu")
    assert op(torch.randn(2, C, 8, 8)).shape == (2, C, 8 // stride, 8 // stride)


def test_shortcut_adds_the_real_input():
    structure = parse_structure("sign-conv-bn+shortcut")
    with_sc = BinaryConvOp(C, C, 3, 1, 1, structure)
    without = BinaryConvOp(C, C, 3, 1, 1, parse_structure("sign-conv-bn"))
    without.load_state_dict(with_sc.state_dict())
    x = torch.randn(2, C, 5, 5)
    assert torch.allclose(with_sc(x), without(x) + x)
    # No shortcut when the channel count changes (a cell's 1x1 preprocessing).
    assert BinaryConvOp(C, 2 * C, 1, 1, 1, structure).shortcut is None


def test_sign_conv_bn_is_that_composition():
    op = BinaryConvOp(C, C, 5, 1, 2, parse_structure("sign-conv-bn"))
    x = torch.randn(2, C, 9, 9)
    assert isinstance(op.conv, BinaryConv2d) and op.conv.dilation == (2, 2)
    assert op.conv.padding == (4, 4)
    assert torch.equal(op(x), op.post_bn(op.conv(x)))


@pytest.mark.parametrize("reduce_skip,kind", [("factorized", FactorizedReduce),
                                               ("pool", torch.nn.AvgPool2d)])
def test_skip_connect_reduces_as_the_structure_says(reduce_skip, kind):
    structure = parse_structure(f"sign-conv-bn+shortcut;reduce={reduce_skip}")
    assert isinstance(OPS.get("skip_connect")(C, 2, structure), kind)
    assert isinstance(OPS.get("skip_connect")(C, 1, structure), torch.nn.Identity)


def test_factorized_reduce_reads_both_pixel_offsets():
    fr = FactorizedReduce(4, 4, parse_structure("sign-conv-bn"))
    assert [c.out_channels for c in (fr.conv.conv_a, fr.conv.conv_b)] == [2, 2]
    x = torch.randn(2, 4, 6, 6, requires_grad=True)
    (fr(x) * torch.randn(2, 4, 3, 3)).sum().backward()  # (a plain sum of a BN output is flat)
    touched = x.grad.abs().sum(dim=(0, 1)) > 0
    # One conv reads the (even, even) pixels, the shifted one the (odd, odd) pixels (DARTS).
    assert touched[0::2, 0::2].all() and touched[1::2, 1::2].all()
    assert not touched[0::2, 1::2].any()
    odd = FactorizedReduce(4, 5, OpStructure())
    assert odd(torch.randn(1, 4, 7, 7)).shape == (1, 5, 4, 4)
    with pytest.raises(ConfigError, match="at least 2"):
        FactorizedReduce(4, 1, OpStructure())


@pytest.mark.parametrize("name", UBNAS_OPS)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("spec", ["sign-conv-bn+shortcut+rprelu", "bn-sign-conv+shortcut"])
def test_slim_forward_equals_a_small_op_with_copied_slices(name, stride, spec):
    """A wide op on fewer channels is the narrow op holding the leading weight slices."""
    structure = parse_structure(spec)
    wide = OPS.get(name)(8, stride, structure)
    narrow = OPS.get(name)(4, stride, structure)
    with torch.no_grad():
        for (_, w), (_, n) in zip(wide.named_parameters(), narrow.named_parameters(),
                                  strict=True):
            w.normal_()
            index = tuple(slice(0, s) for s in n.shape)
            n.copy_(w[index])
    # FactorizedReduce splits its output over two convs: the slices are per conv.
    x = torch.randn(3, 4, 9, 9)
    assert torch.allclose(wide(x), narrow(x), atol=1e-6)
    wide.eval(), narrow.eval()
    assert torch.allclose(wide(x), narrow(x), atol=1e-6)


@pytest.mark.parametrize("channels,stride", [(0, 1), (4, 3), (True, 1)])
def test_bad_sizes_raise(channels, stride):
    with pytest.raises(ConfigError):
        OPS.get("bin_conv_3x3")(channels, stride, OpStructure())


def test_unknown_op_lists_the_choices():
    with pytest.raises(Exception, match="unknown op 'sep_conv_3x3'.*bin_conv_3x3"):
        OPS.get("sep_conv_3x3")
