"""Bilevel optimisation of a supernet: weights on one data half, architecture on the other.

DARTS (Liu et al., ICLR 2019) alternates an architecture step on a validation batch with a
weight step on a training batch. The first-order variant takes the architecture gradient at
the current weights; the second-order variant differentiates through one virtual SGD step
``w' = w - xi * grad_w L_train(w, a)`` and approximates the Hessian-vector product by finite
differences (DARTS eq. 7-8):

    grad_a L_val(w', a) - xi * (grad_a L_train(w+, a) - grad_a L_train(w-, a)) / (2 eps)

with ``w+- = w +- eps * grad_w' L_val(w', a)``. The virtual step is evaluated with
``torch.func.functional_call``, so the module itself is never modified.

The architecture gradients come from ``torch.autograd.grad`` on the bare module, which no
DistributedDataParallel hook sees; with several processes an ``average`` function (see
:meth:`bnnas.distributed.DistContext.average_`) makes them, and the loss, the mean over the
ranks before the optimizer steps, so every rank moves its alphas identically.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call

LossFn = Callable[[Tensor, Tensor], Tensor]
Average = Callable[[Sequence[Tensor]], None]


def _named(model: nn.Module, params: list[nn.Parameter]) -> dict[str, nn.Parameter]:
    ids = {id(p) for p in params}
    return {name: p for name, p in model.named_parameters() if id(p) in ids}


class ArchitectStep:
    """Computes and applies one architecture update (first or second order)."""

    def __init__(
        self,
        model: nn.Module,
        arch_params: list[nn.Parameter],
        weight_params: list[nn.Parameter],
        optimizer: torch.optim.Optimizer,
        loss_fn: LossFn,
        *,
        second_order: bool = False,
        weight_lr: float = 0.0,
        average: Average | None = None,
    ) -> None:
        self.model = model
        self.arch_params = arch_params
        self.weight_params = weight_params
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.second_order = second_order
        self.weight_lr = weight_lr
        self.average = average

    def step(self, x_val: Tensor, y_val: Tensor, x_train: Tensor, y_train: Tensor) -> float:
        """One architecture update; returns the validation loss it was computed on."""
        self.optimizer.zero_grad(set_to_none=True)
        if self.second_order:
            loss = self._second_order_grads(x_val, y_val, x_train, y_train)
        else:
            loss = self.loss_fn(self.model(x_val), y_val)
            grads = torch.autograd.grad(loss, self.arch_params)
            for p, g in zip(self.arch_params, grads, strict=True):
                p.grad = g
        value = loss.detach().float().reshape(1)
        if self.average is not None:
            self.average([*(p.grad for p in self.arch_params if p.grad is not None), value])
        self.optimizer.step()
        return float(value)

    def _loss_with(self, weights: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        return self.loss_fn(functional_call(self.model, weights, (x,)), y)

    def _second_order_grads(
        self, x_val: Tensor, y_val: Tensor, x_train: Tensor, y_train: Tensor
    ) -> Tensor:
        named = _named(self.model, self.weight_params)
        names = list(named)
        weights = [named[n] for n in names]
        xi = self.weight_lr
        train_loss = self.loss_fn(self.model(x_train), y_train)
        grads_w = torch.autograd.grad(train_loss, weights, allow_unused=True)
        virtual = {
            n: (w - xi * g).detach().requires_grad_(True) if g is not None else w.detach()
            for n, w, g in zip(names, weights, grads_w, strict=True)
        }
        val_loss = self._loss_with(virtual, x_val, y_val)
        movable = [n for n in names if virtual[n].requires_grad]
        grads = torch.autograd.grad(
            val_loss, [*self.arch_params, *(virtual[n] for n in movable)], allow_unused=True
        )
        arch_grads = grads[: len(self.arch_params)]
        dw = dict(zip(movable, grads[len(self.arch_params):], strict=True))
        norm = torch.sqrt(sum((g.pow(2).sum() for g in dw.values() if g is not None),
                              torch.zeros(())))
        eps = 0.01 / (norm + 1e-12)

        def arch_grad_at(sign: float) -> tuple[Tensor | None, ...]:
            shifted = {
                n: named[n].detach() + sign * eps * dw[n]
                if n in dw and dw[n] is not None else named[n].detach()
                for n in names
            }
            loss = self._loss_with(shifted, x_train, y_train)
            return torch.autograd.grad(loss, self.arch_params, allow_unused=True)

        plus, minus = arch_grad_at(1.0), arch_grad_at(-1.0)
        for p, g, gp, gm in zip(self.arch_params, arch_grads, plus, minus, strict=True):
            total = g if g is not None else torch.zeros_like(p)
            if gp is not None and gm is not None:
                total = total - xi * (gp - gm) / (2 * eps)
            p.grad = total.detach()
        return val_loss
