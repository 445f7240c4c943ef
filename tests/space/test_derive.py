import pytest
import torch

from bnnas.errors import ConfigError
from bnnas.space.derive import derive, op_weights, steps_for_edges

OPS = ("none", "skip_connect", "bin_conv_3x3", "max_pool_3x3")


def hand_alphas():
    alphas = torch.zeros(5, len(OPS))  # 2 nodes: edges 0-1 into node 0, 2-4 into node 1
    alphas[0] = torch.tensor([10.0, 2.0, 1.0, 0.0])  # 'none' dominates, skip is next
    alphas[1] = torch.tensor([0.0, 0.0, 3.0, 0.0])
    alphas[2] = torch.tensor([0.0, 0.0, 0.0, 4.0])  # strong max pool from input 0
    # alphas[3] stays uniform: its best non-none op ties, the first one wins
    alphas[4] = torch.tensor([8.0, 0.0, 4.0, 0.0])  # strong only through 'none'
    return alphas


def test_derive_keeps_top_two_edges_by_their_best_real_op():
    cell = derive(hand_alphas(), None, OPS)
    assert cell.nodes == (
        (("skip_connect", 0), ("bin_conv_3x3", 1)),
        (("max_pool_3x3", 0), ("skip_connect", 1)),
    )
    assert cell.concat == (2, 3)


def test_betas_reweigh_the_edges_into_a_node():
    betas = torch.zeros(5)
    betas[3] = -10.0  # edge from input 1 into node 1 nearly switched off
    cell = derive(hand_alphas(), betas, OPS)
    assert cell.nodes[1] == (("max_pool_3x3", 0), ("bin_conv_3x3", 2))
    assert cell.nodes[0] == (("skip_connect", 0), ("bin_conv_3x3", 1))


def test_none_is_never_chosen_even_when_it_wins_everywhere():
    alphas = torch.zeros(14, len(OPS))
    alphas[:, 0] = 50.0
    cell = derive(alphas, torch.zeros(14), OPS)
    assert all(op != "none" for node in cell.nodes for op, _ in node)
    assert [len(node) for node in cell.nodes] == [2, 2, 2, 2]
    assert cell.concat == (2, 3, 4, 5)


def test_op_weights_are_softmax_times_normalised_betas():
    alphas, betas = torch.randn(5, 4), torch.randn(5)
    weights = op_weights(alphas, betas)
    node1 = torch.softmax(betas[2:5].double(), 0)
    assert torch.allclose(weights[3], torch.softmax(alphas[3].double(), 0) * node1[1])


def test_shape_errors():
    assert steps_for_edges(14) == 4
    with pytest.raises(ConfigError, match="do not form a DARTS cell"):
        steps_for_edges(6)
    with pytest.raises(ConfigError, match="do not match 4 ops"):
        derive(torch.zeros(5, 3), None, OPS)
    with pytest.raises(ConfigError, match="betas"):
        derive(torch.zeros(5, 4), torch.zeros(4), OPS)
    with pytest.raises(ConfigError, match="only 'none'"):
        derive(torch.zeros(2, 1), None, ("none",))
