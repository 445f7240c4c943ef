"""Quantizers: thin ``nn.Module`` wrappers around the sign functions, resolved by name.

Each quantizer declares its output ``precision`` in bits; layers read it to know whether they
compute binary (1 x 1 bit) or real-valued multiply-accumulates, which is what the cost metrics
count (larq's quantizer/precision design).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import torch
from torch import Tensor, nn

from bnnas.binary import functional as F
from bnnas.errors import ConfigError
from bnnas.registry import Registry

QUANTIZERS: Registry[type[Quantizer]] = Registry("quantizer")


class Quantizer(nn.Module):
    """Base class: maps a tensor to its quantized value; ``precision`` is the output bit width."""

    precision: int = 32


@QUANTIZERS.register("identity")
class Identity(Quantizer):
    """No quantization: the value stays real (32-bit)."""

    precision = 32

    def forward(self, x: Tensor) -> Tensor:
        return x


@QUANTIZERS.register("ste_sign")
class SteSign(Quantizer):
    """Sign with a clipped straight-through gradient (the usual weight quantizer)."""

    precision = 1

    def __init__(self, clip: float = 1.0) -> None:
        super().__init__()
        if not clip > 0:
            raise ConfigError(f"ste_sign clip must be > 0, got {clip}; use e.g. clip=1.0")
        self.clip = float(clip)

    def forward(self, x: Tensor) -> Tensor:
        return F.ste_sign(x, self.clip)

    def extra_repr(self) -> str:
        return f"clip={self.clip}"


@QUANTIZERS.register("approx_sign")
class ApproxSign(Quantizer):
    """Sign with Bi-Real Net's ApproxSign gradient (the default activation quantizer)."""

    precision = 1

    def forward(self, x: Tensor) -> Tensor:
        return F.approx_sign(x)


@QUANTIZERS.register("swish_sign")
class SwishSign(Quantizer):
    """Sign with BNN+'s SwishSign gradient."""

    precision = 1

    def __init__(self, beta: float = 5.0) -> None:
        super().__init__()
        if not beta > 0:
            raise ConfigError(f"swish_sign beta must be > 0, got {beta}; use e.g. beta=5.0")
        self.beta = float(beta)

    def forward(self, x: Tensor) -> Tensor:
        return F.swish_sign(x, self.beta)

    def extra_repr(self) -> str:
        return f"beta={self.beta}"


class RSign(Quantizer):
    """ReActNet's RSign (Liu et al., ECCV 2020): sign after a learnable per-channel shift.

    ``sign(x - threshold_c)`` lets each channel learn where its zero lies; the gradient of the
    sign is taken from ``estimator`` (ApproxSign by default, as in ReActNet).
    """

    precision = 1

    def __init__(self, channels: int, estimator: str = "approx_sign") -> None:
        super().__init__()
        self.threshold = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.estimator = make_quantizer(estimator)
        if self.estimator.precision != 1:
            raise ConfigError(f"RSign needs a 1-bit estimator, got {estimator!r}")

    def forward(self, x: Tensor) -> Tensor:
        threshold = self.threshold if x.dim() == 4 else self.threshold.view(1, -1)
        return self.estimator(x - threshold)


class SharedInput:
    """One input read by several layers, with what they derive from it computed once.

    The candidate ops of a supernet edge, and the edges leaving one state, all binarize (or
    pool, or shortcut) the same tensor; computing each derived tensor once saves the forward
    op and, more importantly, its backward pass (one per state instead of one per op). Only
    parameter-free quantizers are shared: two RSigns hold different thresholds.
    """

    def __init__(self, x: Tensor, mask: Tensor | None = None) -> None:
        self.x = x
        self.mask = mask  # per-channel weights applied to every quantized form (BARS widths)
        self._derived: dict[Hashable, Tensor] = {}

    def derived(self, key: Hashable, make: Callable[[Tensor], Tensor]) -> Tensor:
        """``make(self.x)``, computed on the first call with ``key`` and reused after; ``key``
        must identify the computation (e.g. the ``repr`` of a parameter-free module)."""
        if key not in self._derived:
            self._derived[key] = make(self.x)
        return self._derived[key]

    def quantized(self, quantizer: Quantizer) -> Tensor:
        """``quantizer(self.x)``, reused for every quantizer of the same kind and settings."""
        def quantize(x: Tensor) -> Tensor:
            q = quantizer(x)
            return q if self.mask is None else q * self.mask.view(1, -1, 1, 1)

        if any(True for _ in quantizer.parameters()):
            return quantize(self.x)
        return self.derived(("quantizer", type(quantizer), quantizer.extra_repr()), quantize)


def make_quantizer(spec: str | Quantizer | None) -> Quantizer:
    """Resolve a quantizer given by name, instance or ``None`` (identity)."""
    if spec is None:
        return Identity()
    if isinstance(spec, Quantizer):
        return spec
    if isinstance(spec, str):
        return QUANTIZERS.get(spec)()
    raise ConfigError(f"a quantizer must be a name or a Quantizer, got {type(spec).__name__}")
