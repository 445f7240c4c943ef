"""Binary layers: convolution and linear maps on 1-bit inputs and 1-bit weights.

A binary layer quantizes its input and its latent real-valued weights, computes the ±1
product, then multiplies each output channel by a scale:

* ``"none"``: no scale (BNN, Hubara et al. 2016);
* ``"channel_mean"``: the mean absolute latent weight of the output channel (XNOR-Net,
  Rastegari et al. 2016; Bi-Real Net, Liu et al. 2018);
* ``"learnable"``: a trained per-channel scale, initialised to the channel mean (XNOR-Net++).

The scale is applied to the output rather than to the weights, so the convolution itself is
an integer ±1 product that a 1-bit engine reproduces exactly. Zero padding would feed a third
value to a 1-bit engine, so binary inputs are padded with ``pad_value`` (-1 by default); train
with the padding you deploy with.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bnnas.binary.quantizers import Quantizer, make_quantizer
from bnnas.errors import ConfigError

SCALINGS = ("none", "channel_mean", "learnable")
CHANNELS_LAST_MAX = 8  # CPU convolutions of at most this many input channels run channels-last


def _check_scaling(scaling: str) -> None:
    if scaling not in SCALINGS:
        raise ConfigError(f"unknown scaling {scaling!r}; choose one of: {', '.join(SCALINGS)}")


class _BinaryMixin:
    """Shared quantizer and scale handling of BinaryConv2d and BinaryLinear."""

    weight: nn.Parameter
    input_quantizer: Quantizer
    weight_quantizer: Quantizer

    def _init_binary(
        self,
        input_quantizer: str | Quantizer | None,
        weight_quantizer: str | Quantizer | None,
        scaling: str,
    ) -> None:
        _check_scaling(scaling)
        self.input_quantizer = make_quantizer(input_quantizer)
        self.weight_quantizer = make_quantizer(weight_quantizer)
        self.scaling = scaling
        if scaling == "learnable":
            self.scale = nn.Parameter(self._channel_mean().detach().clone())
        else:
            self.register_parameter("scale", None)

    @property
    def input_precision(self) -> int:
        return self.input_quantizer.precision

    @property
    def weight_precision(self) -> int:
        return self.weight_quantizer.precision

    @property
    def is_binary(self) -> bool:
        """True when both operands are 1-bit, i.e. the layer computes BOPs."""
        return self.input_precision == 1 and self.weight_precision == 1

    def _channel_mean(self) -> Tensor:
        return self.weight.abs().flatten(1).mean(dim=1)

    def output_scale(self) -> Tensor | None:
        """Per-output-channel scale multiplied onto the ±1 product, or None."""
        if self.scaling == "none":
            return None
        if self.scaling == "channel_mean":
            return self._channel_mean()
        return self.scale

    def quantized_weight(self) -> Tensor:
        """The weight as the layer uses it (±1 for a binary weight quantizer), unscaled."""
        return self.weight_quantizer(self.weight)


class BinaryConv2d(_BinaryMixin, nn.Conv2d):
    """``nn.Conv2d`` on quantized inputs and weights, padded with ``pad_value``.

    ``padding`` keeps its ``nn.Conv2d`` meaning; when the input is binary the border holds
    ``pad_value`` (-1 by default) instead of 0. A real-valued input is padded with 0.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = False,
        *,
        input_quantizer: str | Quantizer | None = "approx_sign",
        weight_quantizer: str | Quantizer | None = "ste_sign",
        scaling: str = "channel_mean",
        pad_value: float = -1.0,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias
        )
        if isinstance(self.padding, str):
            raise ConfigError("BinaryConv2d needs integer padding, not a padding mode string")
        self.pad_value = float(pad_value)
        self._init_binary(input_quantizer, weight_quantizer, scaling)

    @property
    def effective_pad_value(self) -> float:
        """The value the border actually holds: ``pad_value`` for binary inputs, else 0."""
        return self.pad_value if self.input_precision == 1 else 0.0

    def forward(
        self,
        x: Tensor,
        out_channels: int | None = None,
        *,
        quantized: Tensor | None = None,
        input_mask: Tensor | None = None,
    ) -> Tensor:
        """Convolve ``x``; a *slim* call uses only the leading slice of the weights.

        ``quantized`` is ``self.input_quantizer(x)`` computed by the caller, when several
        layers share one input (the ops of a supernet edge): the sign and its gradient then
        run once instead of once per layer (:class:`~bnnas.binary.SharedInput`).

        ``input_mask`` (one weight in [0, 1] per input channel) multiplies the *quantized*
        input: a width-searching supernet (BARS) switches channels off this way, and since
        ``sign(0) = +1`` a mask applied before the sign would not silence them.

        When ``x`` has fewer channels than ``in_channels``, or ``out_channels`` is given, the
        layer runs as a narrower copy of itself: ``weight[:out_channels, :x.shape[1] //
        groups]`` (and the same output slice of the scale and bias), so a supernet can change
        its partial-channel ratio during search (PC-DARTS, Xu et al. ICLR 2020; slimmable
        networks). A ``"channel_mean"`` scale is the mean of the weights the slim call uses,
        i.e. exactly what a narrow layer holding those weights computes. A full-width call is
        unchanged.
        """
        weight, scale, bias = self.parameters_for(x.shape[1], out_channels)
        x = self.input_quantizer(x) if quantized is None else quantized
        if input_mask is not None:
            x = apply_channel_mask(x, input_mask)
        return _scale_and_shift(self.convolve(x, weight), scale, bias)

    def parameters_for(
        self, in_channels: int, out_channels: int | None = None
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """Quantized weight, output scale and bias of a (possibly slim) call."""
        if out_channels is None and in_channels == self.in_channels:
            return self.quantized_weight(), self.output_scale(), self.bias
        return self._slim_parameters(in_channels, out_channels)

    def convolve(self, x: Tensor, weight: Tensor) -> Tensor:
        """The bare convolution of an already quantized ``x``: border padding with
        :attr:`effective_pad_value`, then ``conv2d`` with this layer's geometry.

        A border of value ``v`` is not padded into a copy of the batch: the convolution pads
        with zeros and adds the convolution of a single frame that is ``v`` outside the image
        and 0 inside, the same for every image (linearity; exact for ±1 weights, whose sums
        are small integers). That spares two full copies of the input per call (the pad and
        its gradient): ``bench/supernet_step.py`` went from 818 to 558-610 ms a step
        (docs/RESULTS.md).
        """
        ph, pw = self.padding
        value = self.effective_pad_value
        border = None
        if (ph or pw) and value != 0:
            frame = F.pad(x.new_zeros((1, *x.shape[1:])), (pw, pw, ph, ph), value=value)
            border = F.conv2d(frame, weight, None, self.stride, 0, self.dilation, self.groups)
        if x.device.type == "cpu" and x.shape[1] <= CHANNELS_LAST_MAX:
            # oneDNN runs narrow convolutions (a supernet's few-channel ops) several times
            # faster in channels-last than in NCHW, even with the two layout copies; from 16
            # channels on NCHW is faster.
            x = x.contiguous(memory_format=torch.channels_last)
            y = F.conv2d(x, weight, None, self.stride, (ph, pw), self.dilation, self.groups)
            y = y.contiguous()
        else:
            y = F.conv2d(x, weight, None, self.stride, (ph, pw), self.dilation, self.groups)
        return y if border is None else y + border

    def geometry(self) -> tuple[object, ...]:
        """What two layers must share to run as one convolution (:func:`binary_conv_group`)."""
        return (self.kernel_size, self.stride, self.padding, self.dilation, self.groups,
                self.effective_pad_value)

    def _slim_parameters(
        self, in_channels: int, out_channels: int | None
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """Quantized weight, scale and bias of the leading ``out x in`` slice."""
        out = self.out_channels if out_channels is None else out_channels
        if not (0 < in_channels <= self.in_channels and 0 < out <= self.out_channels):
            raise ConfigError(
                f"slim BinaryConv2d call with {in_channels} -> {out} channels exceeds the "
                f"layer's {self.in_channels} -> {self.out_channels}; build a wider layer"
            )
        if in_channels % self.groups:
            raise ConfigError(
                f"slim BinaryConv2d input of {in_channels} channels is not divisible by "
                f"groups={self.groups}; use a multiple of {self.groups}"
            )
        latent = self.weight[:out, : in_channels // self.groups]
        weight = self.weight_quantizer(latent)
        if self.scaling == "none":
            scale = None
        elif self.scaling == "channel_mean":
            scale = latent.abs().flatten(1).mean(dim=1)
        else:
            scale = self.scale[:out]
        bias = None if self.bias is None else self.bias[:out]
        return weight, scale, bias

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, scaling={self.scaling}, pad_value={self.pad_value}"


def apply_channel_mask(x: Tensor, mask: Tensor) -> Tensor:
    """``x`` times a per-channel ``mask`` (channels ``0 .. len(mask) - 1`` of dim 1)."""
    return x * mask.view(1, -1, 1, 1)


def _scale_and_shift(y: Tensor, scale: Tensor | None, bias: Tensor | None) -> Tensor:
    if scale is not None:
        y = y * scale.view(1, -1, 1, 1)
    if bias is not None:
        y = y + bias.view(1, -1, 1, 1)
    return y


def binary_conv_group(
    convs: Sequence[BinaryConv2d], quantized: Tensor, out_channels: int | None = None
) -> list[Tensor]:
    """``[conv(x, out_channels, quantized=quantized) for conv in convs]`` as ONE convolution.

    The same candidate op on the edges that leave one supernet state reads one binarized
    input; stacking their weights along the output channels turns many narrow convolutions
    into one wider one, which a CPU runs several times faster per FLOP. The layers must have
    the same geometry; each gets back exactly what its own call would return.
    """
    first = convs[0]
    if any(conv.geometry() != first.geometry() for conv in convs):
        raise ValueError("binary_conv_group needs convolutions of one geometry")
    params = [conv.parameters_for(quantized.shape[1], out_channels) for conv in convs]
    weight = torch.cat([w for w, _, _ in params])
    y = first.convolve(quantized, weight)
    sizes = [w.shape[0] for w, _, _ in params]
    scales = [s for _, s, _ in params]
    biases = [b for _, _, b in params]
    if all(s is not None for s in scales) and all(b is None for b in biases):
        y = y * torch.cat(scales).view(1, -1, 1, 1)  # type: ignore[arg-type]
        return list(y.split(sizes, dim=1))
    parts = y.split(sizes, dim=1)
    return [_scale_and_shift(part, s, b) for part, s, b in zip(parts, scales, biases, strict=True)]


class BinaryLinear(_BinaryMixin, nn.Linear):
    """``nn.Linear`` on quantized inputs and weights with a per-output scale."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = False,
        *,
        input_quantizer: str | Quantizer | None = "approx_sign",
        weight_quantizer: str | Quantizer | None = "ste_sign",
        scaling: str = "channel_mean",
    ) -> None:
        super().__init__(in_features, out_features, bias)
        self._init_binary(input_quantizer, weight_quantizer, scaling)

    def forward(self, x: Tensor) -> Tensor:
        y = F.linear(self.input_quantizer(x), self.quantized_weight())
        scale = self.output_scale()
        if scale is not None:
            y = y * scale
        if self.bias is not None:
            y = y + self.bias
        return y

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, scaling={self.scaling}"


class RPReLU(nn.Module):
    """ReActNet's RPReLU (Liu et al., ECCV 2020): ``PReLU(x - gamma) + zeta`` per channel.

    The two learnable shifts move the activation distribution that the next sign sees.
    """

    def __init__(self, channels: int, init_slope: float = 0.25) -> None:
        super().__init__()
        self.shift_in = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.shift_out = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.slope = nn.Parameter(torch.full((1, channels, 1, 1), float(init_slope)))

    def forward(self, x: Tensor) -> Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        x = x - self.shift_in.view(shape)
        x = torch.where(x >= 0, x, x * self.slope.view(shape))
        return x + self.shift_out.view(shape)
