import pytest
import torch
import torch.nn.functional as F

from bnnas.binary import BinaryConv2d, BinaryLinear, RPReLU, hard_sign
from bnnas.errors import ConfigError


@pytest.mark.parametrize("stride,padding,dilation", [(1, 1, 1), (2, 1, 1), (1, 2, 2), (1, 0, 1)])
def test_binary_conv_equals_plain_conv_of_pm1_tensors_bit_for_bit(stride, padding, dilation):
    conv = BinaryConv2d(5, 7, 3, stride, padding, dilation, scaling="none")
    x = torch.randn(2, 5, 9, 9)
    xb = F.pad(hard_sign(x), (padding,) * 4, value=-1.0)
    expected = F.conv2d(xb, hard_sign(conv.weight), stride=stride, dilation=dilation)
    got = conv(x)
    assert torch.equal(got, expected)
    # The result is an integer count, as a popcount engine computes it.
    assert torch.equal(got, got.round())


@pytest.mark.parametrize("channels,groups", [(4, 1), (16, 1), (16, 2)])  # channels-last, NCHW
@pytest.mark.parametrize("stride,padding,dilation", [(1, 2, 1), (2, 1, 1), (1, 4, 2)])
def test_border_term_equals_padding_the_batch_in_value_and_gradient(channels, groups, stride,
                                                                    padding, dilation):
    """The conv pads with zeros and adds the conv of a -1 frame: the same outputs as padding
    every image with -1, and the same gradients for the input and the latent weights."""
    torch.manual_seed(0)
    conv = BinaryConv2d(channels, 6, 5, stride, padding, dilation, groups, scaling="none")
    x = torch.randn(3, channels, 11, 11, requires_grad=True)
    got = conv(x)
    x_ref = x.detach().clone().requires_grad_()
    xb = F.pad(conv.input_quantizer(x_ref), (padding,) * 4, value=-1.0)
    weight = conv.weight.detach().clone().requires_grad_()
    expected = F.conv2d(xb, conv.weight_quantizer(weight), stride=stride, dilation=dilation,
                        groups=groups)
    assert torch.equal(got, expected)
    upstream = torch.randn_like(got)
    got.backward(upstream)
    expected.backward(upstream)
    assert torch.allclose(x.grad, x_ref.grad, atol=1e-5)
    assert torch.allclose(conv.weight.grad, weight.grad, atol=1e-4)


def test_padding_value_is_minus_one_at_borders():
    conv = BinaryConv2d(1, 1, 3, padding=1, scaling="none")
    with torch.no_grad():
        conv.weight.fill_(1.0)
    out = conv(torch.ones(1, 1, 4, 4))
    # A corner sees 4 inputs of +1 and 5 pad cells of -1.
    assert out[0, 0, 0, 0].item() == 4 - 5
    assert out[0, 0, 1, 1].item() == 9
    zero_pad = BinaryConv2d(1, 1, 3, padding=1, scaling="none", pad_value=0.0)
    zero_pad.load_state_dict(conv.state_dict())
    assert zero_pad(torch.ones(1, 1, 4, 4))[0, 0, 0, 0].item() == 4


def test_real_input_is_padded_with_zero():
    conv = BinaryConv2d(1, 1, 3, padding=1, input_quantizer=None, scaling="none")
    assert conv.input_precision == 32 and conv.effective_pad_value == 0.0
    x = torch.randn(1, 1, 5, 5)
    assert torch.allclose(conv(x), F.conv2d(x, hard_sign(conv.weight), padding=1))


def test_channel_mean_scaling_multiplies_each_output_channel():
    conv = BinaryConv2d(3, 4, 3, padding=1, scaling="channel_mean")
    plain = BinaryConv2d(3, 4, 3, padding=1, scaling="none")
    plain.load_state_dict(conv.state_dict())
    x = torch.randn(2, 3, 6, 6)
    alpha = conv.weight.abs().mean(dim=(1, 2, 3))
    assert torch.allclose(conv(x), plain(x) * alpha.view(1, -1, 1, 1))


def test_learnable_scale_is_a_trained_parameter():
    conv = BinaryConv2d(3, 4, 3, padding=1, scaling="learnable")
    assert torch.allclose(conv.scale, conv.weight.abs().mean(dim=(1, 2, 3)))
    assert "scale" in dict(conv.named_parameters())
    conv(torch.randn(2, 3, 5, 5)).sum().backward()
    assert conv.scale.grad is not None and conv.scale.grad.abs().sum() > 0
    assert conv.weight.grad is not None


def test_unknown_scaling_is_rejected():
    with pytest.raises(ConfigError, match="unknown scaling"):
        BinaryConv2d(1, 1, 3, scaling="per_tensor")


def test_binary_linear_equals_pm1_matmul_and_reports_precision():
    fc = BinaryLinear(6, 3, scaling="none")
    x = torch.randn(4, 6)
    assert torch.equal(fc(x), hard_sign(x) @ hard_sign(fc.weight).t())
    assert fc.is_binary and fc.input_precision == 1 and fc.weight_precision == 1
    real = BinaryLinear(6, 3, input_quantizer=None)
    assert not real.is_binary


def test_gradients_flow_through_approx_sign_to_input_and_weight():
    conv = BinaryConv2d(2, 2, 3, padding=1)
    x = (0.3 * torch.randn(1, 2, 4, 4)).requires_grad_(True)
    conv(x).sum().backward()
    assert x.grad.abs().sum() > 0 and conv.weight.grad.abs().sum() > 0


def test_rprelu_shifts_and_slopes_per_channel():
    act = RPReLU(2)
    with torch.no_grad():
        act.shift_in[0, 0] = 1.0
        act.shift_out[0, 1] = -2.0
    x = torch.tensor([[0.5, 0.5]]).view(1, 2, 1, 1)
    out = act(x).flatten().tolist()
    assert out == pytest.approx([0.25 * (0.5 - 1.0), 0.5 - 2.0])
    assert act(torch.tensor([[0.5, 0.5]])).shape == (1, 2)


@pytest.mark.parametrize("scaling", ["none", "channel_mean", "learnable"])
def test_slim_call_equals_a_narrow_conv_holding_the_weight_slice(scaling):
    wide = BinaryConv2d(6, 8, 3, padding=1, scaling=scaling, bias=True)
    narrow = BinaryConv2d(4, 3, 3, padding=1, scaling=scaling, bias=True)
    with torch.no_grad():
        narrow.weight.copy_(wide.weight[:3, :4])
        narrow.bias.copy_(wide.bias[:3])
        if scaling == "learnable":
            wide.scale.mul_(torch.linspace(0.5, 2.0, 8))
            narrow.scale.copy_(wide.scale[:3])
    x = torch.randn(2, 4, 5, 5)
    assert torch.equal(wide(x, out_channels=3), narrow(x))
    # Fewer input channels alone keep every output channel.
    assert wide(x).shape == (2, 8, 5, 5)
    # The sliced path at full width computes what the plain path does.
    full = torch.randn(2, 6, 5, 5)
    assert torch.equal(wide(full, out_channels=8), wide(full))
    with pytest.raises(ConfigError, match="exceeds"):
        wide(full, out_channels=9)


@pytest.mark.parametrize("scaling", ["none", "channel_mean", "learnable"])
@pytest.mark.parametrize("out_channels", [None, 2])
def test_conv_group_returns_what_each_conv_computes_alone(scaling, out_channels):
    from bnnas.binary import SharedInput, binary_conv_group

    torch.manual_seed(0)
    convs = [BinaryConv2d(4, 4, 3, padding=2, dilation=2, scaling=scaling) for _ in range(3)]
    x = torch.randn(2, 4 if out_channels is None else 2, 6, 6, requires_grad=True)
    shared = SharedInput(x)
    grouped = binary_conv_group(convs, shared.quantized(convs[0].input_quantizer), out_channels)
    alone = [conv(x, out_channels) for conv in convs]
    for a, b in zip(grouped, alone, strict=True):
        assert torch.equal(a, b)
    grad_grouped = torch.autograd.grad(sum(g.sum() for g in grouped), [x, convs[1].weight])
    grad_alone = torch.autograd.grad(sum(g.sum() for g in alone), [x, convs[1].weight])
    for a, b in zip(grad_grouped, grad_alone, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_conv_group_refuses_mixed_geometries():
    from bnnas.binary import binary_conv_group

    convs = [BinaryConv2d(2, 2, 3, padding=1), BinaryConv2d(2, 2, 5, padding=2)]
    with pytest.raises(ValueError, match="one geometry"):
        binary_conv_group(convs, torch.ones(1, 2, 4, 4))
