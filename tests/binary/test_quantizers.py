import pytest
import torch

from bnnas.binary import QUANTIZERS, RSign, make_quantizer
from bnnas.errors import ConfigError, UnknownNameError


def test_registry_names_and_precisions():
    assert {"ste_sign", "approx_sign", "swish_sign", "identity"} <= set(QUANTIZERS.names())
    assert make_quantizer("approx_sign").precision == 1
    assert make_quantizer(None).precision == 32
    assert make_quantizer("identity").precision == 32


def test_unknown_quantizer_lists_choices():
    with pytest.raises(UnknownNameError, match="unknown quantizer 'sgn'.*approx_sign"):
        make_quantizer("sgn")


def test_invalid_parameters_are_rejected():
    with pytest.raises(ConfigError):
        QUANTIZERS.get("ste_sign")(clip=0.0)
    with pytest.raises(ConfigError):
        QUANTIZERS.get("swish_sign")(beta=-1.0)


def test_rsign_threshold_shifts_the_sign_per_channel_and_learns():
    q = RSign(2)
    with torch.no_grad():
        q.threshold[0, 0] = 0.5
    x = torch.full((1, 2, 1, 1), 0.25, requires_grad=True)
    out = q(x)
    assert out.flatten().tolist() == [-1.0, 1.0]
    out.sum().backward()
    assert q.threshold.grad is not None and q.threshold.grad.abs().sum() > 0


def test_shared_input_quantizes_once_per_kind_but_never_shares_rsign():
    from bnnas.binary import SharedInput

    x = torch.randn(2, 3, 4, 4)
    shared = SharedInput(x)
    a, b = make_quantizer("approx_sign"), make_quantizer("approx_sign")
    assert shared.quantized(a) is shared.quantized(b)
    assert shared.quantized(make_quantizer("ste_sign")) is not shared.quantized(a)
    r1, r2 = RSign(3), RSign(3)
    with torch.no_grad():
        r2.threshold.fill_(10.0)
    assert not torch.equal(shared.quantized(r1), shared.quantized(r2))
    assert torch.equal(shared.quantized(r2), -torch.ones_like(x))
