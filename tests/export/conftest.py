"""Shared pieces of the deployment tests: briefly trained models and small genotypes.

A freshly built model has BN statistics of 0 and 1 and untouched shifts, which would hide a
wrongly folded BN or a dropped RPReLU; a few optimizer steps on random data make every
parameter and statistic non-trivial while keeping the tests at a few seconds.
"""

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bnnas.export.source import ExportSource, describe_architecture
from bnnas.space import CellGenotype, Genotype, Layout, Network

DARTS_NORMAL = CellGenotype(
    nodes=[
        [("bin_conv_3x3", 0), ("skip_connect", 1)],
        [("max_pool_3x3", 0), ("bin_dil_conv_3x3", 2)],
        [("avg_pool_3x3", 1), ("bin_conv_5x5", 2)],
        [("bin_dil_conv_5x5", 3), ("skip_connect", 0)],
    ],
    concat=[2, 3, 4, 5],
)
DARTS_REDUCE = CellGenotype(
    nodes=[
        [("skip_connect", 0), ("max_pool_3x3", 1)],
        [("avg_pool_3x3", 0), ("bin_conv_3x3", 1)],
        [("bin_dil_conv_3x3", 0), ("skip_connect", 2)],
    ],
    concat=[2, 3, 4],
)
BARS_ADD = CellGenotype(
    nodes=[
        [("bin_conv_3x3_shortcut", 0)],
        [("bin_conv_3x3_plain", 0), ("skip_connect", 1)],
        [("skip_connect", 0), ("bin_conv_3x3_shortcut", 2)],
    ],
    concat=[1, 2, 3], inputs=1, output="add",
)
BARS_CONCAT_CONV = CellGenotype(
    nodes=[[("bin_conv_3x3_plain", 0)], [("skip_connect", 0), ("bin_conv_3x3_shortcut", 1)]],
    concat=[1, 2], inputs=1, output="concat_conv",
)


def darts_genotype(structure: str = "sign-conv-bn+shortcut") -> Genotype:
    """A DARTS cell pair using every op of the UBNAS space, 3 cells of 4 channels."""
    layout = Layout(cells=3, channels=4, stem_multiplier=2, reductions=(1,))
    return Genotype(DARTS_NORMAL, DARTS_REDUCE, layout, structure).validate()


def bars_genotype(structure: str = "sign-conv-bn+shortcut") -> Genotype:
    """BARS dense cells: an ``add`` normal cell and a ``concat_conv`` reduction cell, with
    searched per-cell widths."""
    layout = Layout(cells=4, channels=4, stem_multiplier=1, reductions=(1, 3), widths=(4, 6, 6, 8))
    return Genotype(BARS_ADD, BARS_CONCAT_CONV, layout, structure).validate()


def train_steps(model: nn.Module, input_shape: tuple[int, ...], num_classes: int,
                steps: int = 6, seed: int = 0) -> nn.Module:
    """A few Adam steps on random data; returns the model in eval mode."""
    g = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    model.train()
    for _ in range(steps):
        x = torch.randn(16, *input_shape, generator=g)
        y = torch.randint(0, num_classes, (16,), generator=g)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def genotype_source(genotype: Genotype, input_shape=(1, 12, 12), num_classes: int = 5
                    ) -> ExportSource:
    torch.manual_seed(0)
    model = Network.from_genotype(genotype, num_classes, in_channels=input_shape[0])
    train_steps(model, input_shape, num_classes)
    return ExportSource(model, describe_architecture(model), input_shape, num_classes)


def zoo_source(name: str, input_shape, num_classes: int = 10, **kwargs) -> ExportSource:
    from bnnas.models import create_model

    torch.manual_seed(0)
    model = create_model(name, num_classes=num_classes, in_channels=input_shape[0], **kwargs)
    train_steps(model, input_shape, num_classes, steps=3)
    return ExportSource(model, describe_architecture(model, name, kwargs), input_shape,
                        num_classes)


@pytest.fixture
def make_genotype_source() -> Callable[..., ExportSource]:
    return genotype_source


@pytest.fixture
def make_zoo_source() -> Callable[..., ExportSource]:
    return zoo_source


@pytest.fixture
def genotypes() -> dict[str, Callable[..., Genotype]]:
    return {"darts": darts_genotype, "bars": bars_genotype}
