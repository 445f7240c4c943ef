import pytest
import torch
import torch.nn.functional as F

from bnnas.errors import CheckpointError, ConfigError
from bnnas.space.cell import Edge, edge_index
from bnnas.space.genotype import CellGenotype, Genotype
from bnnas.space.layout import Layout
from bnnas.space.network import Network, SpaceSpec, SuperNetwork
from bnnas.space.ops import OPS, UBNAS_OPS
from bnnas.space.structure import STRUCTURE_PRESETS, parse_structure

LAYOUT = Layout(cells=5, channels=8)  # reductions at cells 1 and 3


def small_space(**kwargs):
    return SpaceSpec(**{"layout": LAYOUT, **kwargs})


def numel(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("structure", STRUCTURE_PRESETS)
def test_supernet_forward_backward_for_every_structure(structure):
    net = SuperNetwork(small_space(structure=structure), num_classes=10, in_channels=3)
    x, y = torch.randn(2, 3, 16, 16), torch.tensor([1, 7])
    logits = net(x)
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()
    F.cross_entropy(logits, y).backward()
    for p in net.arch_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert net.stem[0].weight.grad.abs().sum() > 0


def test_architecture_parameters_are_registered_and_split():
    net = SuperNetwork(small_space())
    state = net.state_dict()
    for name, shape in [("alphas_normal", (14, 8)), ("alphas_reduce", (14, 8)),
                        ("betas_normal", (14,)), ("betas_reduce", (14,))]:
        assert state[name].shape == shape
    arch = {id(p) for p in net.arch_parameters()}
    weights = {id(p) for p in net.weight_parameters()}
    assert len(arch) == 4 and not arch & weights
    assert arch | weights == {id(p) for p in net.parameters()}


def test_partial_k_schedule_and_its_errors():
    net = SuperNetwork(small_space(partial_k_normal=4, min_k_normal=2, partial_k_reduce=2))
    assert (net.space.min_k_normal, net.space.min_k_reduce) == (2, 2)
    # Ops are built for C // min_k channels: the first normal cell's convs are 8 // 2 wide.
    conv = net.cells[0].edges[0].ops[UBNAS_OPS.index("bin_conv_3x3")].conv
    assert conv.in_channels == 4
    x = torch.randn(2, 3, 8, 8)
    for ks in [(4, 2), (2, 2), (8, 4)]:
        net.set_partial_k(*ks)
        assert net(x).shape == (2, 10)
    with pytest.raises(ConfigError, match="below min_k_normal=2"):
        net.set_partial_k(1, 2)
    with pytest.raises(ConfigError, match="K=3 does not divide 8 channels"):
        net.set_partial_k(3, 2)
    with pytest.raises(ConfigError, match="K=3 does not divide 8 channels"):
        SuperNetwork(small_space(partial_k_normal=3))
    with pytest.raises(ConfigError, match="min_k_reduce=8 exceeds"):
        small_space(partial_k_reduce=4, min_k_reduce=8)


def path_of(net_space):
    """A single path: per node two (op, input) pairs, ops from the space."""
    normal = CellGenotype(
        nodes=((("bin_conv_3x3", 0), ("skip_connect", 1)),
               (("bin_dil_conv_3x3", 2), ("max_pool_3x3", 0)),
               (("bin_conv_5x5", 1), ("avg_pool_3x3", 3)),
               (("bin_dil_conv_5x5", 4), ("skip_connect", 0))),
        concat=(2, 3, 4, 5),
    )
    reduce = CellGenotype(
        nodes=((("skip_connect", 0), ("bin_conv_3x3", 1)),
               (("bin_conv_3x3", 2), ("bin_conv_5x5", 1)),
               (("max_pool_3x3", 0), ("bin_conv_3x3", 3)),
               (("avg_pool_3x3", 1), ("bin_dil_conv_3x3", 3))),
        concat=(2, 3, 4, 5),
    )
    return normal, reduce


def test_single_path_trains_only_the_chosen_ops():
    net = SuperNetwork(small_space(partial_k_normal=1, partial_k_reduce=1))
    normal, reduce = path_of(net.space)
    net(torch.randn(2, 3, 16, 16), path=(normal, reduce)).square().sum().backward()
    for cell in net.cells:
        genotype = reduce if cell.reduction else normal
        chosen = {(edge_index(n, s), UBNAS_OPS.index(op))
                  for n, pairs in enumerate(genotype.nodes) for op, s in pairs}
        for e, edge in enumerate(cell.edges):
            for o, op in enumerate(edge.ops):
                grads = [p.grad for p in op.parameters()]
                if (e, o) in chosen:
                    assert all(g is not None for g in grads), (e, UBNAS_OPS[o])
                else:
                    assert all(g is None for g in grads), (e, UBNAS_OPS[o])
    assert all(p.grad is None for p in net.arch_parameters())
    # A Genotype is a path too, and the path goes through the same modules.
    genotype = Genotype(normal, reduce, LAYOUT)
    net.eval()
    x = torch.randn(1, 3, 16, 16)
    assert torch.equal(net(x, path=genotype), net(x, path=(normal, reduce)))


@pytest.mark.parametrize(
    "change,fragment",
    [
        (lambda n: CellGenotype(((("sep_conv_3x3", 0),),) + n.nodes[1:], n.concat),
         "path.nodes[0][0]: unknown op"),
        (lambda n: CellGenotype(n.nodes[:3], (2, 3, 4)), "supernet cell has 4 nodes"),
        (lambda n: CellGenotype(n.nodes, (2, 3, 5)), "concatenates all nodes"),
    ],
)
def test_bad_paths(change, fragment):
    net = SuperNetwork(small_space(partial_k_normal=1, partial_k_reduce=1))
    normal, reduce = path_of(net.space)
    with pytest.raises(ConfigError) as info:
        net(torch.randn(1, 3, 8, 8), path=(change(normal), reduce))
    assert fragment in str(info.value)
    with pytest.raises(ConfigError, match="a path is"):
        net(torch.randn(1, 3, 8, 8), path=normal)


def test_supernet_genotype_builds_a_derived_network():
    net = SuperNetwork(small_space())
    genotype = net.genotype()
    assert genotype.layout == LAYOUT and genotype.structure == "sign-conv-bn+shortcut"
    assert all(len(node) == 2 for node in genotype.normal.nodes)
    wider = net.genotype(layout=Layout(8, 12))
    assert wider.layout == Layout(8, 12) and wider.normal == genotype.normal
    model = Network.from_genotype(wider, num_classes=4, in_channels=1)
    assert model(torch.randn(2, 1, 12, 12)).shape == (2, 4)


def genotype_fixture(structure="bn-sign-conv+shortcut+rprelu"):
    normal = CellGenotype(
        nodes=((("bin_conv_3x3", 0), ("skip_connect", 1)),
               (("bin_dil_conv_5x5", 2), ("max_pool_3x3", 1)),
               (("avg_pool_3x3", 3),)),
        concat=(2, 4),
    )
    reduce = CellGenotype(
        nodes=((("skip_connect", 0), ("bin_conv_5x5", 1)),
               (("bin_dil_conv_3x3", 2), ("max_pool_3x3", 0))),
        concat=(2, 3),
    )
    return Genotype(normal, reduce, LAYOUT, structure)


def test_derived_network_holds_only_the_chosen_edges():
    genotype = genotype_fixture()
    net = Network.from_genotype(genotype, num_classes=10, in_channels=3)
    edges = [m for m in net.modules() if isinstance(m, Edge)]
    normal_pairs = sum(len(n) for n in genotype.normal.nodes)
    reduce_pairs = sum(len(n) for n in genotype.reduce.nodes)
    assert len(edges) == 3 * normal_pairs + 2 * reduce_pairs
    assert all(len(e.ops) == 1 for e in edges)
    structure = parse_structure(genotype.structure)
    for cell, width in zip(net.cells, LAYOUT.cell_channels(), strict=True):
        cg = genotype.reduce if cell.reduction else genotype.normal
        expected = sum(
            numel(OPS.get(op)(width, 2 if cell.reduction and s < 2 else 1, structure))
            for node in cg.nodes for op, s in node
        )
        assert numel(cell.edges) == expected
    assert net.num_features == 2 * 32
    x = torch.randn(2, 3, 15, 15)  # odd sizes are fine
    out = net(x)
    assert out.shape == (2, 10)
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    assert net.genotype() == genotype


def test_state_carries_the_genotype_and_refuses_another():
    genotype = genotype_fixture()
    net = Network.from_genotype(genotype)
    state = net.state_dict()
    assert Genotype.from_json(state["_extra_state"]["genotype"]) == genotype
    twin = Network.from_genotype(Genotype.from_json(genotype.to_json()))
    twin.load_state_dict(state)
    other = Network.from_genotype(genotype_fixture("bn-sign-conv+shortcut"))
    state_without_rprelu = {k: v for k, v in state.items() if ".act." not in k}
    with pytest.raises(CheckpointError, match="another genotype"):
        other.load_state_dict(state_without_rprelu)


def test_supernet_state_refuses_another_space():
    net = SuperNetwork(small_space(partial_k_normal=2, partial_k_reduce=2))
    same = SuperNetwork(small_space(partial_k_normal=2, partial_k_reduce=2))
    same.load_state_dict(net.state_dict())
    other = SuperNetwork(small_space(partial_k_normal=2, partial_k_reduce=2,
                                     structure="sign-conv-bn+shortcut;scaling=none"))
    with pytest.raises(CheckpointError, match="another search space"):
        other.load_state_dict(net.state_dict())


def test_space_spec_validation():
    with pytest.raises(Exception, match="unknown op 'conv'"):
        small_space(ops=("none", "conv"))
    with pytest.raises(ConfigError, match="repeats"):
        small_space(ops=("skip_connect", "skip_connect"))
    with pytest.raises(ConfigError, match="besides 'none'"):
        small_space(ops=("none",))
    with pytest.raises(ConfigError, match="steps"):
        small_space(steps=0)
    assert small_space(structure="bn_sign_conv+shortcut").structure == "bn-sign-conv+shortcut"
    assert SpaceSpec().layout == Layout(8, 16)
