import pytest
import torch
import torch.nn.functional as F

from bnnas.errors import ConfigError
from bnnas.space.cell import (
    Cell,
    Edge,
    channel_shuffle,
    edge_index,
    node_softmax,
    num_edges,
)
from bnnas.space.genotype import CellGenotype
from bnnas.space.ops import UBNAS_OPS
from bnnas.space.structure import OpStructure

S = OpStructure()


def test_edge_numbering():
    assert [num_edges(s) for s in (1, 2, 3, 4)] == [2, 5, 9, 14]
    assert [edge_index(n, s) for n in range(3) for s in range(n + 2)] == list(range(9))
    betas = torch.randn(14)
    weights = node_softmax(betas, 4)
    sums = [weights[edge_index(n, 0) : edge_index(n, 0) + n + 2].sum() for n in range(4)]
    assert torch.allclose(torch.stack(sums), torch.ones(4))


def test_channel_shuffle_is_a_permutation_undone_by_the_transposed_shuffle():
    x = torch.arange(8.0).view(1, 8, 1, 1)
    y = channel_shuffle(x, 4)
    assert y.flatten().tolist() == [0, 2, 4, 6, 1, 3, 5, 7]
    assert torch.equal(channel_shuffle(y, 2), x)


@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("stride", [1, 2])
def test_partial_channels_bypass_all_but_one_kth(k, stride):
    c, part = 8, 8 // k
    edge = Edge(UBNAS_OPS, c, stride, S, k_min=k)
    weights = F.softmax(torch.randn(len(UBNAS_OPS)), dim=0)
    x = torch.randn(2, c, 6, 6)
    out = edge(x, weights, k)
    assert out.shape == (2, c, 6 // stride, 6 // stride)
    unshuffled = channel_shuffle(out, c // k)
    rest = x[:, part:] if stride == 1 else F.max_pool2d(x[:, part:], 2, 2, ceil_mode=True)
    assert torch.equal(unshuffled[:, part:], rest)  # bypassed channels arrive unchanged
    # The ops see only the first C/K channels: changing the others leaves their output alone.
    x2 = x.clone()
    x2[:, part:] += 1.0
    assert torch.equal(channel_shuffle(edge(x2, weights, k), c // k)[:, :part],
                       unshuffled[:, :part])


def test_k_one_is_the_plain_darts_mixed_op():
    edge = Edge(UBNAS_OPS, 8, 2, S)
    weights = F.softmax(torch.randn(len(UBNAS_OPS)), dim=0)
    x = torch.randn(2, 8, 6, 6)
    assert torch.equal(edge(x, weights, 1), edge.mix(x, weights))


def test_mixed_edge_is_the_weighted_sum_of_its_ops():
    edge = Edge(UBNAS_OPS, 4, 1, S)
    edge.eval()
    weights = F.softmax(torch.randn(len(UBNAS_OPS)), dim=0)
    x = torch.randn(2, 4, 5, 5)
    expected = sum(w * op(x) for w, op in zip(weights, edge.ops, strict=True))
    assert torch.allclose(edge(x, weights, 1), expected, atol=1e-6)


def test_edge_built_for_small_k_runs_slim_at_larger_k():
    edge = Edge(UBNAS_OPS, 8, 2, S, k_min=2)
    weights = torch.full((len(UBNAS_OPS),), 1 / len(UBNAS_OPS))
    x = torch.randn(2, 8, 6, 6)
    assert edge(x, weights, 4).shape == edge(x, weights, 2).shape == (2, 8, 3, 3)
    with pytest.raises(ConfigError, match="below K=2"):
        edge(x, weights, 1)


def test_k_not_dividing_channels_is_a_config_error():
    with pytest.raises(ConfigError, match="partial-channel K=3 does not divide 16 channels"):
        Edge(UBNAS_OPS, 16, 1, S, k_min=3)
    edge = Edge(UBNAS_OPS, 16, 1, S)
    with pytest.raises(ConfigError, match="K=3 does not divide 16") as info:
        edge(torch.randn(1, 16, 4, 4), torch.ones(len(UBNAS_OPS)), 3)
    assert "1, 2, 4, 8, 16" in str(info.value)


def test_single_path_edge_runs_one_op():
    edge = Edge(UBNAS_OPS, 4, 1, S)
    x = torch.randn(2, 4, 5, 5)
    index = UBNAS_OPS.index("bin_conv_3x3")
    assert torch.equal(edge(x, index=index), edge.ops[index](x))
    with pytest.raises(ConfigError, match="not both"):
        edge(x, torch.ones(len(UBNAS_OPS)), index=1)
    with pytest.raises(ConfigError, match="needs mixing weights or a path"):
        edge(x)


def supernet_cell(reduction=False, reduction_prev=False, k_min=1):
    return Cell(12, 16, 4, reduction=reduction, reduction_prev=reduction_prev, structure=S,
                ops=UBNAS_OPS, steps=4, k_min=k_min)


def test_supernet_cell_has_every_edge_and_op():
    cell = supernet_cell(reduction=True, k_min=2)
    assert len(cell.edges) == 14 and all(len(e.ops) == len(UBNAS_OPS) for e in cell.edges)
    assert [e.stride for e in cell.edges[:2]] == [2, 2] and cell.edges[2].stride == 2
    assert cell.edges[4].stride == 1  # node 1 from node 0
    weights = F.softmax(torch.randn(14, len(UBNAS_OPS)), dim=-1)
    out = cell(torch.randn(2, 12, 8, 8), torch.randn(2, 16, 8, 8), weights=weights,
               edge_weights=node_softmax(torch.randn(14), 4), k=2)
    assert out.shape == (2, 16, 4, 4) and cell.out_channels == 16


def test_reduction_prev_uses_a_factorized_reduce_on_s0():
    cell = supernet_cell(reduction_prev=True)
    weights = torch.full((14, len(UBNAS_OPS)), 1 / len(UBNAS_OPS))
    out = cell(torch.randn(2, 12, 8, 8), torch.randn(2, 16, 4, 4), weights=weights)
    assert out.shape == (2, 16, 4, 4)


def test_genotype_cell_holds_only_the_chosen_edges():
    genotype = CellGenotype(
        nodes=((("bin_conv_3x3", 0), ("skip_connect", 1)), (("avg_pool_3x3", 2),)),
        concat=(2, 3),
    )
    cell = Cell(12, 16, 4, reduction=True, reduction_prev=False, structure=S,
                genotype=genotype)
    assert len(cell.edges) == 3 and all(len(e.ops) == 1 for e in cell.edges)
    assert [e.stride for e in cell.edges] == [2, 2, 1]
    out = cell(torch.randn(2, 12, 8, 8), torch.randn(2, 16, 8, 8))
    assert out.shape == (2, 8, 4, 4) and cell.out_channels == 8
    with pytest.raises(ConfigError, match="fixed ops"):
        cell(torch.randn(2, 12, 8, 8), torch.randn(2, 16, 8, 8), weights=torch.ones(3, 1))


def test_cell_needs_ops_or_genotype():
    with pytest.raises(ConfigError, match="either"):
        Cell(4, 4, 4, reduction=False, reduction_prev=False, structure=S)


def _edge_by_edge(cell, s0, s1, weights, betas, k):
    """The PC-DARTS cell written the slow way: every edge on its own, then weighted."""
    states = [cell.preprocess0(s0), cell.preprocess1(s1)]
    for route in cell.routes:
        states.append(sum(cell.edges[e](states[s], weights[e], k) * betas[e] for e, s in route))
    return torch.cat([states[i] for i in cell.concat], dim=1)


@pytest.mark.parametrize("spec", ["sign-conv-bn+shortcut", "bn-sign-conv+shortcut+rprelu",
                                  "sign-conv-bn;act=ste_sign;reduce=pool"])
@pytest.mark.parametrize("k", [1, 2, 4])
@pytest.mark.parametrize("reduction", [False, True])
def test_state_by_state_mixed_cell_equals_the_edge_by_edge_sum(spec, k, reduction):
    from bnnas.space.structure import parse_structure

    torch.manual_seed(0)
    cell = Cell(16, 16, 8, reduction=reduction, reduction_prev=False,
                structure=parse_structure(spec), ops=UBNAS_OPS, k_min=k)
    s0, s1 = torch.randn(3, 16, 7, 7), torch.randn(3, 16, 7, 7)
    alphas = torch.randn(num_edges(4), len(UBNAS_OPS), requires_grad=True)
    betas = torch.randn(num_edges(4), requires_grad=True)

    def run(fn):
        weights, edge_weights = F.softmax(alphas, dim=-1), node_softmax(betas, 4)
        out = fn(weights, edge_weights)
        grads = torch.autograd.grad(out.square().sum(), [alphas, betas, *cell.parameters()])
        return out, grads

    fast, fast_grads = run(lambda w, b: cell(s0, s1, weights=w, edge_weights=b, k=k))
    slow, slow_grads = run(lambda w, b: _edge_by_edge(cell, s0, s1, w, b, k))
    assert fast.shape == slow.shape
    assert torch.allclose(fast, slow, atol=1e-5)
    for a, b in zip(fast_grads, slow_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)
