"""Bi-Real Net: binary ResNets with a real-valued shortcut around every binary conv.

Liu et al., "Bi-Real Net: Enhancing the Performance of 1-bit CNNs with Improved
Representational Capability and Advanced Training Algorithm", ECCV 2018. Its point is that a
sign throws away the magnitude of each activation; adding the real-valued block input to the
output of *each* binary conv (not every second one, as ResNet does) keeps that information
flowing, which is what makes an 18-layer BNN trainable.

As in the paper (and its PyTorch release), the first conv, the downsampling shortcuts
(``AvgPool2d(2)`` then a real 1x1 conv and BN, so the shortcut stays real-valued and cheap) and
the classifier are real-valued; there is no ReLU, the sign being the only nonlinearity. When the
network is built with a real-valued activation quantizer (``act_quantizer="identity"``) a ReLU
takes the sign's place before each conv, so that the real twin is not a linear map; with it the
same code gives a real ResNet-18 with a shortcut around each conv (``resnet18``), which has the
conv shapes, parameters and MACs of He et al.'s ResNet-18 (CVPR 2016).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from bnnas.models.common import (
    Binarization,
    StemBlocksClassifier,
    check_choice,
    check_positive,
)
from bnnas.models.factory import register_model

STEMS = ("imagenet", "small", "strided")


class BiRealBlock(nn.Module):
    """``sign -> binary 3x3 conv -> BN`` plus a real-valued shortcut.

    The shortcut is the identity, or ``AvgPool2d(2)`` when the block downsamples, followed by a
    real 1x1 conv and BN when it changes the channel count (Bi-Real's downsampling shortcut).
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, binarization: Binarization
    ) -> None:
        super().__init__()
        self.relu = None if binarization.binary_activations else nn.ReLU()
        self.conv = binarization.conv(in_channels, out_channels, 3, stride)
        self.bn = nn.BatchNorm2d(out_channels)
        shortcut: list[nn.Module] = []
        if stride != 1:
            # ceil_mode keeps the shortcut the size of the strided conv's output on odd inputs.
            shortcut.append(nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False))
        if in_channels != out_channels:
            shortcut += [
                nn.Conv2d(in_channels, out_channels, 1, bias=False),
                nn.BatchNorm2d(out_channels),
            ]
        self.shortcut = nn.Sequential(*shortcut) if shortcut else None

    def forward(self, x: Tensor) -> Tensor:
        h = x if self.relu is None else self.relu(x)
        out = self.bn(self.conv(h))
        return out + (x if self.shortcut is None else self.shortcut(x))


def _stem(kind: str, in_channels: int, width: int) -> nn.Sequential:
    """The real-valued stem: a conv and BN, with the resolution cut the input needs.

    ``"imagenet"``: 7x7 stride-2 conv and a 3x3 stride-2 max-pool (ResNet's, /4);
    ``"small"``: 3x3 stride-1 conv (28x28 / 32x32 inputs, as CIFAR ResNets do);
    ``"strided"``: 3x3 stride-2 conv (/2, cheap 28x28 nets).
    """
    check_choice("stem", kind, STEMS)
    if kind == "imagenet":
        return nn.Sequential(
            nn.Conv2d(in_channels, width, 7, 2, 3, bias=False),
            nn.BatchNorm2d(width),
            nn.MaxPool2d(3, 2, 1),
        )
    stride = 2 if kind == "strided" else 1
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
    )


class BiRealNet(StemBlocksClassifier):
    """Real stem, stages of :class:`BiRealBlock`, global average pool and a real classifier.

    ``widths[i]`` channels and ``depths[i]`` blocks in stage ``i``; the first block of a stage
    has stride ``strides[i]``.
    """

    def __init__(
        self,
        widths: Sequence[int],
        depths: Sequence[int],
        strides: Sequence[int],
        *,
        num_classes: int,
        in_channels: int,
        stem: str,
        binarization: Binarization,
    ) -> None:
        super().__init__()
        check_positive("num_classes", num_classes)
        check_positive("in_channels", in_channels)
        self.stem = _stem(stem, in_channels, widths[0])
        blocks: list[nn.Module] = []
        channels = widths[0]
        for width, depth, stride in zip(widths, depths, strides, strict=True):
            for index in range(depth):
                blocks.append(
                    BiRealBlock(channels, width, stride if index == 0 else 1, binarization)
                )
                channels = width
        self._set_head(blocks, channels, num_classes)


_RESNET18_WIDTHS = (64, 128, 256, 512)
_RESNET18_DEPTHS = (4, 4, 4, 4)  # 4 single-conv blocks per stage = ResNet-18's 2 x 2 convs


@register_model
def birealnet18(
    num_classes: int = 1000,
    in_channels: int = 3,
    *,
    stem: str = "imagenet",
    act_quantizer: str = "approx_sign",
    weight_quantizer: str = "ste_sign",
    scaling: str = "channel_mean",
) -> BiRealNet:
    """Bi-Real Net-18 (Liu et al., ECCV 2018); ``stem="small"`` for 28x28 / 32x32 inputs."""
    return BiRealNet(
        _RESNET18_WIDTHS,
        _RESNET18_DEPTHS,
        (1, 2, 2, 2),
        num_classes=num_classes,
        in_channels=in_channels,
        stem=stem,
        binarization=Binarization(act_quantizer, weight_quantizer, scaling),
    )


@register_model
def resnet18(
    num_classes: int = 1000,
    in_channels: int = 3,
    *,
    stem: str = "imagenet",
    act_quantizer: str = "identity",
    weight_quantizer: str = "identity",
    scaling: str = "none",
) -> BiRealNet:
    """Real-valued ResNet-18 (He et al., CVPR 2016) in Bi-Real form: the float reference.

    The same network as :func:`birealnet18` with identity quantizers (ReLU before each conv, a
    shortcut around each conv); a baseline and a distillation teacher for the binary models.
    """
    return birealnet18(
        num_classes,
        in_channels,
        stem=stem,
        act_quantizer=act_quantizer,
        weight_quantizer=weight_quantizer,
        scaling=scaling,
    )


@register_model
def bresnet_small(
    num_classes: int = 10,
    in_channels: int = 1,
    *,
    blocks_per_stage: int = 2,
    act_quantizer: str = "approx_sign",
    weight_quantizer: str = "ste_sign",
    scaling: str = "channel_mean",
) -> BiRealNet:
    """A small Bi-Real-style binary ResNet for 28x28 images (Fashion-MNIST, MNIST).

    Bi-Real blocks (Liu et al., ECCV 2018) in three stages of 32/64/128 channels after a real
    3x3 stride-2 stem, so the binary convs run at 14x14, 7x7 and 4x4 and a training step stays
    cheap on a CPU. ``blocks_per_stage=1`` halves the step time for a point or two of accuracy
    (docs/RESULTS.md).
    """
    check_positive("blocks_per_stage", blocks_per_stage)
    return BiRealNet(
        (32, 64, 128),
        (blocks_per_stage,) * 3,
        (1, 2, 2),
        num_classes=num_classes,
        in_channels=in_channels,
        stem="strided",
        binarization=Binarization(act_quantizer, weight_quantizer, scaling),
    )
