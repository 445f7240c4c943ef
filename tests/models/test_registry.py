"""Every registered model builds, runs forward and backward, and profiles (timm's pattern)."""

import inspect

import pytest
import torch
import torch.nn.functional as F

from bnnas.errors import ConfigError, UnknownNameError
from bnnas.metrics import profile
from bnnas.models import MODELS, create_model, list_models

REQUIRED = ("num_classes", "in_channels", "act_quantizer", "weight_quantizer", "scaling")
FLOAT = {"act_quantizer": "identity", "weight_quantizer": "identity"}


def _defaults(name: str) -> dict[str, object]:
    parameters = inspect.signature(MODELS.get(name)).parameters
    return {key: p.default for key, p in parameters.items()}


def _small(name: str) -> tuple[dict[str, object], tuple[int, int, int]]:
    """Keyword arguments and input size for a quick build: 28x28, small stem, 3 classes."""
    defaults = _defaults(name)
    kwargs: dict[str, object] = {"num_classes": 3}
    if "stem" in defaults:
        kwargs["stem"] = "small"
    return kwargs, (int(defaults["in_channels"]), 28, 28)


def _is_binary_by_default(name: str) -> bool:
    defaults = _defaults(name)
    return defaults["act_quantizer"] != "identity" and defaults["weight_quantizer"] != "identity"


def _forward_backward(model: torch.nn.Module, input_size: tuple[int, int, int], classes: int):
    x = torch.randn(2, *input_size)
    out = model.train()(x)
    assert out.shape == (2, classes)
    assert torch.isfinite(out).all()
    F.cross_entropy(out, torch.tensor([0, 1])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"


def test_the_zoo_holds_the_baselines():
    assert {"birealnet18", "reactnet_a", "bresnet_small", "resnet18"} <= set(list_models())
    assert list_models() == sorted(list_models())


@pytest.mark.parametrize("name", list_models())
def test_model_takes_the_common_arguments(name):
    defaults = _defaults(name)
    assert set(REQUIRED) <= set(defaults)
    assert isinstance(defaults["num_classes"], int) and isinstance(defaults["in_channels"], int)


@pytest.mark.parametrize("name", list_models())
def test_model_forward_backward_and_profile(name):
    kwargs, input_size = _small(name)
    model = create_model(name, **kwargs)
    _forward_backward(model, input_size, 3)
    t = profile(model, input_size).totals
    assert (t["bops"] > 0) == _is_binary_by_default(name)
    assert t["flops"] > 0 and t["params"] > 0
    # Profile params = torch's (shared ones once) + the channel-mean scales of binary layers.
    scales = sum(
        m.weight.shape[0]
        for m in model.modules()
        if getattr(m, "scaling", None) == "channel_mean" and m.weight_precision < 32
    )
    assert t["params"] == sum(p.numel() for p in model.parameters()) + scales


@pytest.mark.parametrize("name", list_models())
def test_float_variant_has_no_binary_ops(name):
    kwargs, input_size = _small(name)
    model = create_model(name, **kwargs, **FLOAT)
    _forward_backward(model, input_size, 3)
    t = profile(model, input_size).totals
    assert t["bops"] == 0 and t["params_binary"] == 0 and t["compression_ratio"] == 1.0


@pytest.mark.parametrize("name", [n for n in list_models() if "stem" in _defaults(n)])
def test_default_imagenet_stem_runs_at_64x64(name):
    in_channels = int(_defaults(name)["in_channels"])
    model = create_model(name, num_classes=5)
    with torch.no_grad():
        assert model.eval()(torch.randn(1, in_channels, 64, 64)).shape == (1, 5)


def test_unknown_model_lists_the_choices():
    with pytest.raises(UnknownNameError, match="unknown model 'resnet9000'; choose one of: .*"):
        create_model("resnet9000")
    with pytest.raises(UnknownNameError, match="birealnet18"):
        create_model("resnet9000")


def test_bad_keyword_is_a_one_line_config_error():
    with pytest.raises(ConfigError) as info:
        create_model("birealnet18", foo=1)
    message = str(info.value)
    assert message.startswith("model 'birealnet18' does not accept argument 'foo'; it takes: ")
    assert "num_classes" in message and "stem" in message and "\n" not in message


@pytest.mark.parametrize(
    "kwargs,error",
    [
        ({"stem": "huge"}, ConfigError),
        ({"num_classes": 0}, ConfigError),
        ({"scaling": "per_tensor"}, ConfigError),
        ({"act_quantizer": "sine"}, UnknownNameError),
    ],
)
def test_bad_values_are_config_errors(kwargs, error):
    with pytest.raises(error):
        create_model("reactnet_a", **kwargs)
