"""ReActNet-A: a fully binary MobileNet-V1 backbone with learned activation shifts.

Liu et al., "ReActNet: Towards Precise Binary Neural Network with Generalized Activation
Functions", ECCV 2020. It takes MobileNet-V1 (Howard et al. 2017), replaces each depthwise 3x3
conv by a full binary 3x3 conv and each pointwise conv by a binary 1x1 conv, and puts a
real-valued shortcut around every binary conv as Bi-Real Net does. Where MobileNet doubles the
channels in a pointwise conv, a shortcut cannot be added, so ReActNet runs two binary 1x1 convs
side by side on the same signs and concatenates their outputs, each with the block input as its
shortcut: the backbone stays fully binary, with no real 1x1 downsampling conv. RSign (a learned
per-channel threshold before the sign) and RPReLU (learned shifts around a PReLU) let each
channel move its activation distribution, which is ReActNet's main gain over Bi-Real Net.

Only the first conv (3x3, stride 2, 3 -> 32) and the classifier are real-valued.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from bnnas.binary import Quantizer, RPReLU, RSign, make_quantizer
from bnnas.errors import ConfigError
from bnnas.models.common import (
    Binarization,
    StemBlocksClassifier,
    check_choice,
    check_positive,
)
from bnnas.models.factory import register_model

STEMS = ("imagenet", "small")

# MobileNet-V1's 13 blocks as (output channels, stride); the stem gives 32 channels.
REACTNET_A_LAYOUT: tuple[tuple[int, int], ...] = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)


def _sign(binarization: Binarization, channels: int) -> Quantizer:
    """RSign with the named estimator; the plain named quantizer when activations are real."""
    if binarization.binary_activations:
        return RSign(channels, estimator=binarization.act_quantizer)
    return make_quantizer(binarization.act_quantizer)


class ReActBlock(nn.Module):
    """One MobileNet block made binary: a 3x3 stage, then a 1x1 stage, each with a shortcut.

    3x3 stage: ``RSign -> binary 3x3 conv (stride s) -> BN``, plus the input (average-pooled
    when ``s = 2``), then RPReLU. 1x1 stage: ``RSign -> binary 1x1 conv -> BN`` plus its input,
    then RPReLU; when the block doubles the channels, two 1x1 convs share the signs and their
    shortcut-added outputs are concatenated.
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, binarization: Binarization
    ) -> None:
        super().__init__()
        if out_channels not in (in_channels, 2 * in_channels):
            raise ConfigError(
                f"a ReActNet block keeps or doubles its channels, got {in_channels} -> "
                f"{out_channels}"
            )
        self.conv3x3 = binarization.conv(
            in_channels, in_channels, 3, stride, input_quantizer=_sign(binarization, in_channels)
        )
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.pool = (
            nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False) if stride > 1 else None
        )
        self.act1 = RPReLU(in_channels)
        # One sign shared by both halves, as in ReActNet (its threshold is counted once).
        sign = _sign(binarization, in_channels)
        halves = out_channels // in_channels
        self.pointwise = nn.ModuleList(
            binarization.conv(in_channels, in_channels, 1, input_quantizer=sign)
            for _ in range(halves)
        )
        self.bn2 = nn.ModuleList(nn.BatchNorm2d(in_channels) for _ in range(halves))
        self.act2 = RPReLU(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.pool is None else self.pool(x)
        out = self.act1(self.bn1(self.conv3x3(x)) + shortcut)
        halves = [bn(conv(out)) + out for conv, bn in zip(self.pointwise, self.bn2, strict=True)]
        return self.act2(torch.cat(halves, dim=1) if len(halves) > 1 else halves[0])


class ReActNet(StemBlocksClassifier):
    """Real 3x3 stem, :class:`ReActBlock` s as laid out by ``layout``, pool, real classifier."""

    def __init__(
        self,
        layout: Sequence[tuple[int, int]],
        *,
        stem_width: int,
        num_classes: int,
        in_channels: int,
        stem: str,
        binarization: Binarization,
    ) -> None:
        super().__init__()
        check_positive("num_classes", num_classes)
        check_positive("in_channels", in_channels)
        check_choice("stem", stem, STEMS)
        stem_stride = 2 if stem == "imagenet" else 1
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_width, 3, stem_stride, 1, bias=False),
            nn.BatchNorm2d(stem_width),
        )
        blocks: list[nn.Module] = []
        channels = stem_width
        for width, stride in layout:
            blocks.append(ReActBlock(channels, width, stride, binarization))
            channels = width
        self._set_head(blocks, channels, num_classes)


@register_model
def reactnet_a(
    num_classes: int = 1000,
    in_channels: int = 3,
    *,
    stem: str = "imagenet",
    act_quantizer: str = "approx_sign",
    weight_quantizer: str = "ste_sign",
    scaling: str = "channel_mean",
) -> ReActNet:
    """ReActNet-A (Liu et al., ECCV 2020); ``stem="small"`` (stride-1 first conv) for 32x32.

    With ``act_quantizer="identity"`` the RSigns are dropped and the RPReLUs remain the
    nonlinearity, giving the real-valued twin of the same network.
    """
    return ReActNet(
        REACTNET_A_LAYOUT,
        stem_width=32,
        num_classes=num_classes,
        in_channels=in_channels,
        stem=stem,
        binarization=Binarization(act_quantizer, weight_quantizer, scaling),
    )
