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
