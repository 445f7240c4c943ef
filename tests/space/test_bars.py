import re

import pytest
import torch

from bnnas.errors import BnnasError
from bnnas.metrics import profile
from bnnas.space.bars import (
    BARSSpace,
    BARSSuperNetwork,
    bars_genotype,
    cell_table,
    derive_dense_cell,
    width_masks,
)
from bnnas.space.bars_cost import BARSCostModel, budget_penalty, one_hot_distributions
from bnnas.space.genotype import Genotype
from bnnas.space.network import Network

SPACE = BARSSpace(channels=8, stages=2, max_depth=2, steps=3)


def test_width_mask_keeps_the_expected_number_of_channels():
    choices = SPACE.width_choices(1)  # stage 1: 16 channels at full width
    assert choices == [4, 8, 12, 16]
    masks = width_masks(choices, 16)
    assert masks.sum(dim=1).tolist() == [4, 8, 12, 16]
    net = BARSSuperNetwork(SPACE, 10, 1)
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])
    mask = net.channel_mask(1, probs)
    # effective channels = expected width
    expected = float(probs @ torch.tensor(choices, dtype=torch.float))
    assert mask.sum().item() == pytest.approx(expected)
    assert mask[0].item() == pytest.approx(1.0) and mask[-1].item() == pytest.approx(0.4)


def test_masked_channels_do_not_reach_the_next_binary_conv():
    torch.manual_seed(0)
    net = BARSSuperNetwork(SPACE, 10, 1)
    net.eval()
    dist = net.plain_distributions()
    dist["width"] = torch.tensor([[0.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
    x = torch.randn(2, 1, 12, 12)
    captured = {}
    cell = net.stage_cells[1][0]
    hook = cell.register_forward_hook(lambda m, i, o: captured.setdefault("out", o))
    net(x, dist)
    hook.remove()
    out = captured["out"]
    assert out.shape[1] == 16
    assert torch.count_nonzero(out[:, 4:]) == 0  # width choice 4 of 16 silences the rest


def test_sink_connect_derive_picks_the_most_probable_depth():
    from bnnas.search.bars import derive_macro

    model = BARSCostModel(SPACE, (1, 12, 12), 10)
    width = torch.tensor([[0.1, 0.2, 0.6, 0.1], [0.7, 0.1, 0.1, 0.1]])
    depth = torch.tensor([[0.3, 0.7], [0.8, 0.2]])
    table = torch.zeros(6, 4)
    widths, depths = derive_macro(model, width, depth, table, table, None, 0.1)
    assert widths == [2, 0] and depths == [2, 1]


def test_cost_model_equals_the_profiled_ops_of_derived_networks():
    torch.manual_seed(1)
    model = BARSCostModel(SPACE, (1, 12, 12), 10)
    for seed in range(4):
        g = torch.Generator().manual_seed(seed)
        normal = derive_dense_cell(torch.rand(6, 4, generator=g), SPACE.ops, 3, SPACE.output,
                                   max_skip=None)
        reduce = derive_dense_cell(torch.rand(6, 4, generator=g), SPACE.ops, 3, SPACE.output,
                                   max_skip=None)
        widths = [int(torch.randint(0, 4, (1,), generator=g)) for _ in range(2)]
        depths = [int(torch.randint(1, 3, (1,), generator=g)) for _ in range(2)]
        genotype = bars_genotype(SPACE, normal, reduce, widths, depths)
        real = profile(Network.from_genotype(genotype, 10, 1), (1, 12, 12)).totals
        dist = one_hot_distributions(SPACE, cell_table(normal, SPACE.ops, 3),
                                     cell_table(reduce, SPACE.ops, 3), widths, depths)
        assert float(model.expected_ops(dist)) == pytest.approx(real["ops"], rel=1e-6)
        coefficients = model.coefficients(dist["normal"], dist["reduce"])
        assert model.macro_ops(coefficients, widths, depths) == pytest.approx(real["ops"])
        # fully binary backbone: FLOPs only from the real stem conv and classifier
        stem = 9 * 1 * SPACE.channels * 12 * 12
        assert real["flops"] == stem + genotype.layout.cell_channels()[-1] * 10


def test_real_preprocess_adds_flops_outside_stem_and_head():
    space = BARSSpace(channels=8, stages=2, max_depth=2, steps=3, structure="sign-conv-bn;pre=real")
    normal = derive_dense_cell(torch.rand(6, 4), space.ops, 3, space.output, max_skip=None)
    genotype = bars_genotype(space, normal, normal, [3, 3], [1, 1])
    real = profile(Network.from_genotype(genotype, 10, 1), (1, 12, 12)).totals
    assert real["flops"] > 9 * 8 * 144 + 16 * 10


def test_expected_ops_are_differentiable_in_every_distribution():
    net = BARSSuperNetwork(SPACE, 10, 1)
    cost = BARSCostModel(SPACE, (1, 12, 12), 10).expected_ops(net.plain_distributions())
    grads = torch.autograd.grad(cost, net.arch_parameters())
    assert all(g.abs().sum() > 0 for g in grads)


def test_skip_limit_changes_the_derived_cell_of_a_collapsing_supernet():
    ops = SPACE.ops  # none, skip_connect, bin_conv_3x3_plain, bin_conv_3x3_shortcut
    probs = torch.tensor([[0.05, 0.6, 0.3, 0.05]] * 6)  # skip wins every edge
    probs[3, 1] = 0.55  # the weakest skip
    plain = derive_dense_cell(probs, ops, 3, "add", max_skip=None)
    capped = derive_dense_cell(probs, ops, 3, "add", max_skip=2)
    skips = [op for node in plain.nodes for op, _ in node].count("skip_connect")
    capped_skips = [op for node in capped.nodes for op, _ in node].count("skip_connect")
    assert skips == 6 and capped_skips == 2
    assert capped.nodes[2][0] == ("bin_conv_3x3_plain", 0)  # edge 3 lost its skip first


def test_derive_drops_none_edges_but_keeps_one_input_per_node():
    probs = torch.tensor([[0.9, 0.05, 0.03, 0.02]] * 6)
    cell = derive_dense_cell(probs, SPACE.ops, 3, "add", max_skip=None)
    assert all(len(node) == 1 for node in cell.nodes)
    genotype = bars_genotype(SPACE, cell, cell, [0, 0], [1, 1])
    assert Genotype.from_json(genotype.to_json()) == genotype


def test_budget_penalty_is_one_under_budget_and_grows_over_it():
    costs = torch.tensor([50.0, 100.0, 150.0, 200.0])
    factors = budget_penalty(costs, 100.0, 2.0)
    assert factors.tolist() == pytest.approx([1.0, 1.0, 2.25, 4.0])


@pytest.mark.parametrize(("changes", "message"), [
    ({"widths": ()}, "space.widths is empty"),
    ({"widths": (0.5, 1.5)}, "outside (0, 1]"),
    ({"max_depth": 0}, "space.max_depth must be >= 1"),
    ({"ops": ("none", "bin_conv_9x9")}, "bin_conv_9x9"),
])
def test_bad_spaces_are_one_line_errors(changes, message):
    with pytest.raises(BnnasError, match=re.escape(message)):
        BARSSpace(**changes)


def test_dense_cells_keep_the_activation_scale_through_depth():
    torch.manual_seed(0)
    space = BARSSpace(channels=8, stages=1, max_depth=4, steps=4, output="add")
    net = BARSSuperNetwork(space, 10, 1)
    scales = []
    for cell in net.stage_cells[0]:
        cell.register_forward_hook(lambda m, i, o: scales.append(float(o.detach().std())))
    net(torch.randn(8, 1, 12, 12))
    # summed nodes would grow the output about fourfold per cell (256x after four)
    assert max(scales) / min(scales) < 2.0
