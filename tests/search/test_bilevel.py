import pytest
import torch
from torch import nn

from bnnas.search.bilevel import ArchitectStep


class Toy(nn.Module):
    """y = a * (w x): one weight, one architecture scalar, so gradients are known by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(2.0))
        self.a = nn.Parameter(torch.tensor(0.5))

    def forward(self, x):
        return self.a * self.w * x


def mse(out, y):
    return ((out - y) ** 2).mean()


def _step(second_order, xi=0.1):
    model = Toy()
    opt = torch.optim.SGD([model.a], lr=1.0)
    step = ArchitectStep(model, [model.a], [model.w], opt, mse,
                         second_order=second_order, weight_lr=xi)
    x_val, y_val = torch.tensor([1.0]), torch.tensor([3.0])
    x_tr, y_tr = torch.tensor([2.0]), torch.tensor([1.0])
    step.step(x_val, y_val, x_tr, y_tr)
    return model


def test_first_order_gradient_matches_hand_computation():
    model = _step(second_order=False)
    # L_val = (a w x - y)^2, dL/da = 2 (a w x - y) w x = 2 (1 - 3) * 2 = -8; a <- 0.5 + 8
    assert model.a.item() == pytest.approx(8.5)
    assert model.w.item() == 2.0  # weights untouched by an architecture step


def test_second_order_matches_exact_unrolled_gradient():
    xi = 0.1
    model = _step(second_order=True, xi=xi)
    # Exact: w' = w - xi * dLtr/dw, Ltr = (a w 2 - 1)^2; d/da L_val(w'(a), a) by autograd.
    a = torch.tensor(0.5, requires_grad=True)
    w = torch.tensor(2.0, requires_grad=True)
    ltr = (a * w * 2 - 1) ** 2
    gw = torch.autograd.grad(ltr, w, create_graph=True)[0]
    w_virtual = w - xi * gw
    lval = (a * w_virtual * 1 - 3) ** 2
    exact = torch.autograd.grad(lval, a)[0]
    assert model.a.item() == pytest.approx(0.5 - exact.item(), rel=1e-3)
    first = _step(second_order=False)
    assert abs(model.a.item() - first.a.item()) > 1e-3  # the correction is not negligible
