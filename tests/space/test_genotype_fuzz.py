"""Property tests of genotypes: every valid genotype builds a network that runs forward and
backward and has a positive cost; every document the parser refuses is refused with the
library's own error (a BnnasError), never a crash. Fast here; 1,000+ examples under ``slow``."""

import json

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnnas.errors import BnnasError
from bnnas.metrics import profile
from bnnas.space import Network
from bnnas.space.genotype import CellGenotype, Genotype
from bnnas.space.layout import Layout
from bnnas.space.ops import OPS
from bnnas.space.structure import STRUCTURE_PRESETS

OP_NAMES = sorted(name for name in OPS.names() if name != "none")
FAST = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LONG = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def cells(draw, inputs: int) -> CellGenotype:
    steps = draw(st.integers(1, 4))
    nodes = []
    for i in range(steps):
        edge = st.tuples(st.sampled_from(OP_NAMES), st.integers(0, inputs + i - 1))
        nodes.append(tuple(draw(st.lists(edge, min_size=1, max_size=3))))
    states = range(inputs, inputs + steps)
    used = {index for node in nodes for _, index in node}
    extra = draw(st.sets(st.sampled_from(list(states))))
    concat = sorted({s for s in states if s not in used} | extra) or [inputs + steps - 1]
    output = "concat" if inputs == 2 else draw(st.sampled_from(["add", "concat_conv"]))
    return CellGenotype(nodes=tuple(nodes), concat=tuple(concat), inputs=inputs, output=output)


@st.composite
def genotypes(draw) -> Genotype:
    inputs = draw(st.sampled_from([1, 2]))
    layout = Layout(cells=draw(st.integers(1, 4)), channels=draw(st.integers(1, 8)),
                    stem_multiplier=draw(st.integers(1, 3)))
    return Genotype(draw(cells(inputs)), draw(cells(inputs)), layout,
                    draw(st.sampled_from(STRUCTURE_PRESETS))).validate()


def _builds_runs_and_costs(genotype: Genotype, in_channels: int, size: int) -> None:
    again = Genotype.from_json(genotype.to_json())
    assert again == genotype
    torch.manual_seed(0)
    network = Network.from_genotype(again, 3, in_channels=in_channels)
    x = torch.randn(2, in_channels, size, size)
    logits = network(x)
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()
    logits.sum().backward()
    grads = [p.grad for p in network.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    totals = profile(network, (in_channels, size, size)).totals
    assert totals["ops"] > 0 and totals["params"] > 0


@FAST
@given(genotypes(), st.sampled_from([1, 3]), st.sampled_from([8, 12]))
def test_every_valid_genotype_builds_runs_and_costs(genotype, in_channels, size):
    _builds_runs_and_costs(genotype, in_channels, size)


@pytest.mark.slow
@LONG
@given(genotypes(), st.sampled_from([1, 3]), st.sampled_from([8, 12]))
def test_every_valid_genotype_builds_runs_and_costs_long(genotype, in_channels, size):
    _builds_runs_and_costs(genotype, in_channels, size)


# ------------------------------------------------------------------ hostile documents
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**20) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20,
)
VALID = json.loads(Genotype(
    CellGenotype(((("bin_conv_3x3", 0), ("skip_connect", 1)),), (2,)),
    CellGenotype(((("max_pool_3x3", 0), ("bin_conv_5x5", 1)),), (2,)),
    Layout(cells=3, channels=4),
).validate().to_json())


@st.composite
def mutated_documents(draw) -> object:
    """A valid document with one value somewhere replaced by arbitrary JSON."""
    document = json.loads(json.dumps(VALID))
    node = document
    while isinstance(node, (dict, list)) and node:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = draw(st.sampled_from(keys))
        if draw(st.booleans()) or not isinstance(node[key], (dict, list)) or not node[key]:
            node[key] = draw(JSON)
            break
        node = node[key]
    return document


def _parses_or_refuses(text: str) -> None:
    try:
        genotype = Genotype.from_json(text)
    except BnnasError:
        return
    assert isinstance(genotype, Genotype) and genotype.weight_bound() > 0


@FAST
@given(st.one_of(mutated_documents(), JSON))
def test_hostile_documents_parse_or_raise_bnnas_errors(document):
    _parses_or_refuses(json.dumps(document))


@FAST
@given(st.text(max_size=200))
def test_arbitrary_text_parses_or_raises_bnnas_errors(text):
    _parses_or_refuses(text)


@pytest.mark.slow
@LONG
@given(st.one_of(mutated_documents(), JSON, st.text(max_size=200).map(json.dumps)))
def test_hostile_documents_long(document):
    _parses_or_refuses(document if isinstance(document, str) else json.dumps(document))
