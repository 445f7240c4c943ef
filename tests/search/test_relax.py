import math

import pytest
import torch

from bnnas.search.relax import RelaxConfig, entropy, max_entropy, relax


def test_entropy_is_largest_for_uniform_and_its_gradient_sharpens():
    uniform = torch.full((3, 4), 0.25)
    assert entropy(uniform).item() == pytest.approx(max_entropy(4))
    assert entropy(torch.tensor([[1.0, 0.0, 0.0, 0.0]])).item() == pytest.approx(0.0, abs=1e-6)
    logits = torch.tensor([[0.3, 0.1, 0.0, -0.2]], requires_grad=True)
    before = entropy(torch.softmax(logits, -1))
    (grad,) = torch.autograd.grad(before, logits)
    with torch.no_grad():
        stepped = logits - 1.0 * grad  # minimising the entropy penalty
    after = entropy(torch.softmax(stepped, -1))
    assert after < before
    assert torch.softmax(stepped, -1).max() > torch.softmax(logits, -1).max()


def test_gumbel_samples_are_distributions_and_hard_ones_are_one_hot():
    torch.manual_seed(0)
    logits = torch.randn(5, 4)
    soft = relax(logits, "gumbel", 0.5)
    assert torch.allclose(soft.sum(-1), torch.ones(5))
    hard = relax(logits, "gumbel", 0.5, hard=True)
    assert set(hard.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(relax(logits, "softmax"), torch.softmax(logits, -1))


def test_temperature_falls_geometrically_from_start_to_end():
    config = RelaxConfig(tau_start=1.0, tau_end=0.25)
    taus = [config.temperature(e, 3) for e in range(3)]
    assert taus == pytest.approx([1.0, 0.5, 0.25])
    assert math.isclose(config.temperature(0, 1), 1.0)
