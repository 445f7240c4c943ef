"""Profiles of hand-built models, checked against MACs and parameters counted by hand."""

import json

import pytest
import torch
from torch import nn

from bnnas.binary import BinaryConv2d, BinaryLinear
from bnnas.metrics import profile


class Tiny(nn.Module):
    """Real conv, BN, binary conv, pool, binary linear, real linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.bconv = BinaryConv2d(8, 16, 3, stride=2, padding=1)  # channel_mean scale
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.bfc = BinaryLinear(16, 10, scaling="learnable")
        self.fc = nn.Linear(10, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bconv(self.bn(self.conv(x)))
        return self.fc(self.bfc(self.pool(x).flatten(1)))


def test_tiny_model_costs_match_hand_counts():
    p = profile(Tiny(), (3, 8, 8))
    rows = {layer.name: layer for layer in p.layers}
    assert [layer.name for layer in p.layers] == ["conv", "bn", "bconv", "pool", "bfc", "fc"]

    # conv: 8x8x8 outputs x 3 inputs x 3x3 taps, real; 3*8*9 weights of 32 bits.
    assert rows["conv"].macs_by_precision == {"32x32": 8 * 8 * 8 * 27}  # 13824
    assert rows["conv"].params_by_bits == {32: 216}
    # bn: gamma and beta (running stats are buffers, not counted), no MACs.
    assert rows["bn"].params_by_bits == {32: 16} and rows["bn"].binary_macs == 0
    assert rows["bn"].real_macs == 0 and rows["bn"].output_shape == (8, 8, 8)
    # bconv: stride 2 -> 16x4x4 outputs x 8 inputs x 9 taps, binary; 1-bit weights and 16
    # channel-mean scales stored as 32-bit values.
    assert rows["bconv"].macs_by_precision == {"1x1": 16 * 4 * 4 * 72}  # 18432
    assert rows["bconv"].params_by_bits == {1: 8 * 16 * 9, 32: 16}
    assert rows["bconv"].memory_bits == 1152 + 16 * 32
    assert (rows["bconv"].input_precision, rows["bconv"].weight_precision) == (1, 1)
    # bfc: 16 x 10 binary MACs; the learnable scale is a 10-value parameter, counted once.
    assert rows["bfc"].binary_macs == 160 and rows["bfc"].params_by_bits == {1: 160, 32: 10}
    # fc: 10 x 4 real MACs, weight + bias.
    assert rows["fc"].real_macs == 40 and rows["fc"].params_by_bits == {32: 44}
    assert rows["pool"].params == 0 and rows["pool"].input_precision is None

    t = p.totals
    assert t["bops"] == 18432 + 160
    assert t["flops"] == 13824 + 40
    assert t["ops"] == 18592 / 64 + 13864 == 14154.5
    assert t["params_binary"] == 1312
    assert t["params_real"] == 216 + 16 + 16 + 10 + 44 == 302
    assert t["params"] == 1614
    assert t["memory_bits"] == 1312 + 302 * 32 == 10976
    assert t["memory_bytes"] == 10976 / 8
    assert t["float32_memory_bits"] == 1614 * 32
    assert t["compression_ratio"] == pytest.approx(51648 / 10976)


def test_grouped_conv_divides_input_channels_by_groups():
    p = profile(nn.Conv2d(8, 16, 3, padding=1, groups=4), (8, 5, 5))
    (row,) = p.layers
    assert row.real_macs == 16 * 5 * 5 * (8 // 4) * 9 == 7200
    assert row.params == 16 * 2 * 9 + 16  # weight + bias


def test_binary_weights_with_real_input_count_as_flops():
    conv = BinaryConv2d(4, 4, 3, padding=1, input_quantizer=None)
    p = profile(nn.Sequential(conv), (4, 6, 6))
    (row,) = p.layers
    assert row.macs_by_precision == {"32x1": 4 * 36 * 4 * 9}
    assert p.totals["bops"] == 0 and p.totals["flops"] == 5184
    assert row.params_by_bits == {1: 144, 32: 4}  # weights stay 1-bit in memory


def test_real_weights_in_a_binary_layer_class_are_32_bit():
    conv = BinaryConv2d(4, 4, 3, padding=1, input_quantizer=None, weight_quantizer=None)
    (row,) = profile(conv, (4, 6, 6)).layers
    # A computed scale of real weights folds into them: nothing extra is stored.
    assert row.params_by_bits == {32: 144} and row.macs_by_precision == {"32x32": 5184}


def test_ops_are_bops_over_64_plus_flops():
    t = profile(Tiny(), (3, 16, 16)).totals
    assert t["ops"] == t["bops"] / 64 + t["flops"]
    assert t["macs"] == t["bops"] + t["flops"]


def test_profile_restores_train_and_eval_modes():
    model = Tiny().train()
    model.bn.eval()
    seen_modes = []
    model.bn.register_forward_pre_hook(lambda m, _: seen_modes.append(m.training))
    before = model.bn.running_mean.clone()
    profile(model, (3, 8, 8))
    assert seen_modes == [False]  # ran in eval mode ...
    assert model.training and model.conv.training and not model.bn.training  # ... restored
    assert torch.equal(model.bn.running_mean, before)


def test_hooks_are_removed_even_when_forward_fails():
    class Broken(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.conv(x)
            raise RuntimeError("boom")

    for model in (Tiny(), Broken().train()):
        counts = [len(m._forward_hooks) for m in model.modules()]
        if isinstance(model, Broken):
            with pytest.raises(RuntimeError, match="boom"):
                profile(model, (3, 8, 8))
            assert model.training
        else:
            profile(model, (3, 8, 8))
        assert [len(m._forward_hooks) for m in model.modules()] == counts


def test_no_gradients_are_recorded():
    model = Tiny()
    profile(model, (3, 8, 8))
    assert all(p.grad is None for p in model.parameters())


def test_shared_parameters_and_modules_count_once():
    shared = nn.Conv2d(4, 4, 3, padding=1, bias=False)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    p = profile(model, (4, 5, 5))
    assert p.totals["params"] == 144
    # The module ran twice: its MACs add up, its row appears once.
    assert [layer.name for layer in p.layers] == ["0", "1"]
    assert p.totals["flops"] == 2 * 4 * 25 * 36


def test_unused_layers_with_parameters_keep_a_row():
    model = nn.ModuleDict({"used": nn.Linear(3, 2), "spare": nn.Linear(3, 2)})
    model.forward = lambda x: model["used"](x)  # type: ignore[method-assign]
    p = profile(model, (1, 1, 3))
    assert [layer.name for layer in p.layers] == ["used", "spare"]
    assert p.layers[1].output_shape is None and p.totals["params"] == 16


def test_to_dict_is_json_serialisable_and_complete():
    p = profile(Tiny(), (3, 8, 8))
    d = json.loads(json.dumps(p.to_dict()))
    assert d["input_size"] == [3, 8, 8]
    assert d["totals"]["bops"] == p.totals["bops"]
    assert set(d["totals"]) >= {
        "bops",
        "flops",
        "ops",
        "params",
        "params_binary",
        "params_real",
        "memory_bits",
        "memory_bytes",
        "float32_memory_bits",
        "compression_ratio",
    }
    row = d["layers"][2]
    assert row["name"] == "bconv" and row["params_by_bits"] == {"1": 1152, "32": 16}
    assert row["output_shape"] == [16, 4, 4] and row["binary_macs"] == 18432
