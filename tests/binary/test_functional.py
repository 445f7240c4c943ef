import math

import pytest
import torch

from bnnas.binary import functional as F


def _grad(fn, x: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    fn(x).sum().backward()
    return x.grad


POINTS = torch.tensor([-3.0, -1.0, -0.75, -0.5, -1e-3, 0.0, 1e-3, 0.3, 0.5, 0.99, 1.0, 1.5, 4.0])


@pytest.mark.parametrize("fn", [F.ste_sign, F.approx_sign, F.swish_sign, F.hard_sign])
def test_forward_is_sign_with_zero_mapped_to_plus_one(fn):
    out = fn(POINTS)
    expected = torch.tensor([-1.0 if v < 0 else 1.0 for v in POINTS.tolist()])
    assert torch.equal(out, expected)
    assert fn(torch.zeros(3)).tolist() == [1.0, 1.0, 1.0]


def test_ste_gradient_is_clipped_identity():
    assert _grad(F.ste_sign, POINTS).tolist() == [1.0 if abs(v) <= 1 else 0.0 for v in POINTS]
    grad = _grad(lambda x: F.ste_sign(x, clip=0.5), POINTS)
    assert grad.tolist() == [1.0 if abs(v) <= 0.5 else 0.0 for v in POINTS.tolist()]


def test_approx_sign_gradient_matches_bireal_formula():
    expected = torch.tensor([max(0.0, 2 - 2 * abs(v)) for v in POINTS.tolist()])
    assert torch.allclose(_grad(F.approx_sign, POINTS), expected)


def test_approx_sign_gradient_is_derivative_of_piecewise_polynomial():
    # Numerical derivative of F(x) = -1, 2x + x^2, 2x - x^2, 1 on its four pieces.
    def poly(v: float) -> float:
        if v < -1:
            return -1.0
        if v < 0:
            return 2 * v + v * v
        if v < 1:
            return 2 * v - v * v
        return 1.0

    xs = torch.tensor([-2.0, -0.8, -0.3, 0.2, 0.7, 2.0])
    eps = 1e-4
    numeric = [(poly(v + eps) - poly(v - eps)) / (2 * eps) for v in xs.tolist()]
    assert torch.allclose(_grad(F.approx_sign, xs), torch.tensor(numeric), atol=1e-3)


def test_swish_sign_gradient_matches_formula_and_beta():
    for beta in (5.0, 2.0):
        grad = _grad(lambda x, b=beta: F.swish_sign(x, b), POINTS)
        expected = [
            beta * (2 - beta * v * math.tanh(beta * v / 2)) / (1 + math.cosh(beta * v))
            for v in POINTS.tolist()
        ]
        assert torch.allclose(grad, torch.tensor(expected), atol=1e-6)
    # It is the derivative of 2*sigmoid(bx)*(1 + bx*(1 - sigmoid(bx))) - 1.
    x = torch.linspace(-2, 2, 41, dtype=torch.float64, requires_grad=True)
    s = torch.sigmoid(5 * x)
    (2 * s * (1 + 5 * x * (1 - s)) - 1).sum().backward()
    assert torch.allclose(_grad(F.swish_sign, x.detach()), x.grad)


def test_swish_sign_gradient_is_finite_for_large_inputs():
    grad = _grad(F.swish_sign, torch.tensor([-1e4, 1e4]))
    assert torch.isfinite(grad).all() and grad.abs().max() < 1e-6


def test_hard_sign_maps_zeros_of_both_signs_to_plus_one():
    x = torch.tensor([-0.0, 0.0, -1e-30, 1e-30, -2.0])
    assert F.hard_sign(x).tolist() == [1.0, 1.0, -1.0, 1.0, -1.0]
    assert F.hard_sign(torch.tensor([3, 0, -3])).tolist() == [1, 1, -1]
