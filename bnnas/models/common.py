"""What every zoo model shares: how its binary convs quantize, and argument checks.

A model function takes ``act_quantizer``, ``weight_quantizer`` and ``scaling`` as plain names so
that one architecture builds either as a binary network or, with ``"identity"`` quantizers, as
its real-valued twin (a benchmark baseline or a distillation teacher) from the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor, nn

from bnnas.binary import QUANTIZERS, SCALINGS, BinaryConv2d, Quantizer
from bnnas.errors import ConfigError


@dataclass(frozen=True)
class Binarization:
    """The quantizers and scaling of a model's binary convs, given by registered name."""

    act_quantizer: str = "approx_sign"
    weight_quantizer: str = "ste_sign"
    scaling: str = "channel_mean"

    def __post_init__(self) -> None:
        for field in ("act_quantizer", "weight_quantizer"):
            name = getattr(self, field)
            if not isinstance(name, str):
                raise ConfigError(f"{field} must be a quantizer name, got {type(name).__name__}")
            QUANTIZERS.get(name)  # raises UnknownNameError listing the choices
        check_choice("scaling", self.scaling, SCALINGS)

    @property
    def binary_activations(self) -> bool:
        """True when the activation quantizer outputs 1 bit (a sign), False for real values."""
        return QUANTIZERS.get(self.act_quantizer).precision == 1

    def conv(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        *,
        input_quantizer: Quantizer | None = None,
    ) -> BinaryConv2d:
        """A 'same'-padded binary conv; ``input_quantizer`` overrides the named activation one."""
        return BinaryConv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding=kernel_size // 2,
            input_quantizer=input_quantizer if input_quantizer is not None else self.act_quantizer,
            weight_quantizer=self.weight_quantizer,
            scaling=self.scaling,
        )


def check_choice(argument: str, value: str, choices: Sequence[str]) -> None:
    """Raise a one-line ConfigError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"unknown {argument} {value!r}; choose one of: {', '.join(choices)}")


def check_positive(argument: str, value: int) -> None:
    """Raise a one-line ConfigError unless ``value`` is a positive int."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{argument} must be a positive integer, got {value!r}")


class StemBlocksClassifier(nn.Module):
    """The shape every zoo network shares: a real stem, a sequence of blocks, global average
    pooling and a real-valued classifier (the BNN convention of Bi-Real Net and ReActNet)."""

    def _set_head(self, blocks: Sequence[nn.Module], channels: int, num_classes: int) -> None:
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        self.num_features = channels

    def forward_features(self, x: Tensor) -> Tensor:
        """The last feature map, before pooling (for distillation and feature probes)."""
        return self.blocks(self.stem(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.forward_features(x)).flatten(1))
