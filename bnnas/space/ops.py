"""Candidate ops of the binary DARTS space, registered by name in :data:`OPS`.

Each entry is a constructor ``OPS.get(name)(channels, stride, structure) -> nn.Module`` (the
``OPS`` table of DARTS, Liu et al. ICLR 2019). The op list follows the binary NAS papers: BNAS
(Kim et al.) binarises DARTS' convolutions and keeps its pools, EBNAS keeps ``skip_connect``,
and UBNAS (Tan et al., IEEE TCSVT 2024) balances ops with parameters (binary convs) against
parameter-free ones, which is why the two groups are named here.

Every op maps ``channels`` to ``channels`` (halving the resolution at stride 2, rounding up so
odd sizes work), and every op also runs *slim*: on an input of fewer channels it uses the
leading slice of its parameters and returns as many channels (see :mod:`bnnas.space.slim`).
How a binary op is assembled (sign/conv/BN order, shortcut, RPReLU, quantizers) comes from the
:class:`~bnnas.space.structure.OpStructure`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bnnas.binary import BinaryConv2d, SharedInput, binary_conv_group
from bnnas.errors import ConfigError
from bnnas.registry import Registry
from bnnas.space.slim import SlimBatchNorm2d, SlimRPReLU
from bnnas.space.structure import OpStructure

OpFactory = Callable[[int, int, OpStructure], nn.Module]
OPS: Registry[OpFactory] = Registry("op")

UBNAS_OPS: tuple[str, ...] = (
    "none",
    "skip_connect",
    "max_pool_3x3",
    "avg_pool_3x3",
    "bin_conv_3x3",
    "bin_conv_5x5",
    "bin_dil_conv_3x3",
    "bin_dil_conv_5x5",
)
PARAMETER_FREE_OPS: tuple[str, ...] = ("none", "skip_connect", "max_pool_3x3", "avg_pool_3x3")
"""Ops without weights at stride 1 (a stride-2 ``skip_connect`` may be a binary reduce)."""


def _check_sizes(channels: int, stride: int) -> None:
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ConfigError(f"an op needs a positive channel count, got {channels!r}")
    if stride not in (1, 2):
        raise ConfigError(f"an op's stride must be 1 or 2, got {stride!r}")


def _downsample_shortcut() -> nn.Module:
    """Bi-Real Net's parameter-free downsampling shortcut; ``ceil_mode`` matches the strided
    conv's output on odd sizes."""
    return nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)


class BinaryConvOp(nn.Module):
    """A binary convolution assembled as ``structure`` says.

    ``sign -> conv -> BN`` or ``BN -> sign -> conv`` (the sign is the conv's input quantizer),
    plus a real-valued shortcut when the shapes allow it (identity, or a 2x2 average pool at
    stride 2; Bi-Real Net, Liu et al. ECCV 2018), then RPReLU if asked (ReActNet). With
    ``c_in == c_out`` the op also runs slim on fewer channels.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        stride: int = 1,
        dilation: int = 1,
        structure: OpStructure | None = None,
    ) -> None:
        super().__init__()
        _check_sizes(c_in, stride)
        _check_sizes(c_out, stride)
        structure = structure if structure is not None else OpStructure()
        self.c_in, self.c_out, self.stride = c_in, c_out, stride
        bn_first = structure.order == "bn_sign_conv"
        self.pre_bn = SlimBatchNorm2d(c_in) if bn_first else None
        self.conv = self._make_conv(c_in, c_out, kernel, stride, dilation, structure)
        self.post_bn = None if bn_first else SlimBatchNorm2d(c_out)
        self.shortcut: nn.Module | None = None
        if structure.shortcut and c_in == c_out:
            self.shortcut = nn.Identity() if stride == 1 else _downsample_shortcut()
        self.act = SlimRPReLU(c_out) if structure.activation == "rprelu" else None

    def _make_conv(
        self, c_in: int, c_out: int, kernel: int, stride: int, dilation: int, s: OpStructure
    ) -> nn.Module:
        return BinaryConv2d(
            c_in,
            c_out,
            kernel,
            stride,
            padding=dilation * (kernel - 1) // 2,
            dilation=dilation,
            input_quantizer=s.act_quantizer,
            weight_quantizer=s.weight_quantizer,
            scaling=s.scaling,
        )

    def _out_channels(self, x: Tensor) -> int:
        width = x.shape[1]
        if width == self.c_in:
            return self.c_out
        if self.c_in == self.c_out and width < self.c_in:
            return width
        raise ValueError(f"{type(self).__name__} {self.c_in}->{self.c_out} got {width} channels")

    def forward(
        self, x: Tensor, shared: SharedInput | None = None, input_mask: Tensor | None = None
    ) -> Tensor:
        """``shared`` (holding ``x``) lets the ops of one edge binarize ``x`` once; it only
        applies when the sign comes first (a BN before the sign differs per op). The
        conv's quantized input is weighted by ``input_mask`` (or ``shared.mask``)."""
        out_channels = self._out_channels(x)
        if self._shares_sign(shared):
            h = self.conv(x, out_channels, quantized=shared.quantized(self.conv.input_quantizer))
        else:
            h = x if self.pre_bn is None else self.pre_bn(x)
            mask = input_mask if shared is None else shared.mask
            h = self.conv(h, out_channels, input_mask=mask)
        return self._finish(h, x, shared)

    def _shares_sign(self, shared: SharedInput | None) -> bool:
        return shared is not None and self.pre_bn is None and isinstance(self.conv, BinaryConv2d)

    def _finish(self, h: Tensor, x: Tensor, shared: SharedInput | None) -> Tensor:
        if self.post_bn is not None:
            h = self.post_bn(h)
        if self.shortcut is not None:
            if shared is None:
                h = h + self.shortcut(x)
            else:
                h = h + shared.derived(("shortcut", repr(self.shortcut)), self.shortcut)
        return h if self.act is None else self.act(h)

    @staticmethod
    def run_group(ops: Sequence[BinaryConvOp], x: Tensor, shared: SharedInput) -> list[Tensor]:
        """``[op(x, shared) for op in ops]``, with the convolutions of ops that binarize first
        run as one (:func:`~bnnas.binary.binary_conv_group`): the same op on every edge that
        leaves one supernet state."""
        if len(ops) < 2 or not all(op._shares_sign(shared) for op in ops):
            return [op(x, shared) for op in ops]
        convs = [op.conv for op in ops]
        quantized = shared.quantized(convs[0].input_quantizer)  # type: ignore[arg-type]
        hs = binary_conv_group(convs, quantized, ops[0]._out_channels(x))  # type: ignore[arg-type]
        return [op._finish(h, x, shared) for op, h in zip(ops, hs, strict=True)]


class FactorizedConv(nn.Module):
    """Two stride-2 binary 1x1 convs, on ``x`` and on ``x`` shifted by one pixel, concatenated.

    DARTS' factorized reduce halves the resolution without discarding the odd pixels; binary
    here, as in BARS' fully binary downsampling. The shifted input is padded at the far border
    (with the conv's pad value, so a 1-bit engine sees -1 there) to keep odd sizes working. An
    odd ``c_out`` is split ``ceil/floor`` between the two convs.
    """

    def __init__(self, c_in: int, c_out: int, structure: OpStructure) -> None:
        super().__init__()
        if c_out < 2:
            raise ConfigError(f"a factorized reduce needs at least 2 output channels, got {c_out}")
        self.c_out = c_out
        self.conv_a, self.conv_b = (
            BinaryConv2d(
                c_in,
                width,
                1,
                2,
                input_quantizer=structure.act_quantizer,
                weight_quantizer=structure.weight_quantizer,
                scaling=structure.scaling,
            )
            for width in ((c_out + 1) // 2, c_out // 2)
        )

    def forward(
        self, x: Tensor, out_channels: int | None = None, *, input_mask: Tensor | None = None
    ) -> Tensor:
        out = self.c_out if out_channels is None else out_channels
        slim = out != self.c_out
        a = self.conv_a(x, (out + 1) // 2 if slim else None, input_mask=input_mask)
        if out // 2 == 0:
            return a
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1), value=self.conv_b.effective_pad_value)
        b = self.conv_b(shifted, out // 2 if slim else None, input_mask=input_mask)
        return torch.cat([a, b], dim=1)


class FactorizedReduce(BinaryConvOp):
    """:class:`BinaryConvOp` whose conv is a :class:`FactorizedConv` (stride 2)."""

    def __init__(self, c_in: int, c_out: int, structure: OpStructure | None = None) -> None:
        super().__init__(c_in, c_out, 1, 2, 1, structure)

    def _make_conv(
        self, c_in: int, c_out: int, kernel: int, stride: int, dilation: int, s: OpStructure
    ) -> nn.Module:
        return FactorizedConv(c_in, c_out, s)


class Zero(nn.Module):
    """The ``none`` op: zeros of the output shape, computed from nothing.

    ``is_zero`` lets a mixed edge skip it: ``w * 0`` adds nothing to the sum and nothing to
    any gradient, so leaving it out changes neither.
    """

    is_zero = True

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        s = self.stride
        return x.new_zeros(n, c, -(-h // s), -(-w // s))

    def extra_repr(self) -> str:
        return f"stride={self.stride}"


class PoolOp(nn.Module):
    """A 3x3 max or average pool followed by an affine-free BN.

    The BN brings the pool's output to the scale of the conv ops' BN outputs, so the mixing
    weights compare ops rather than magnitudes (DARTS' search-time ``MixedOp`` does the same).
    """

    def __init__(self, kind: str, channels: int, stride: int) -> None:
        super().__init__()
        if kind == "max":
            self.pool: nn.Module = nn.MaxPool2d(3, stride, 1)
        else:
            self.pool = nn.AvgPool2d(3, stride, 1, count_include_pad=False)
        self.bn = SlimBatchNorm2d(channels, affine=False)

    def forward(self, x: Tensor, shared: SharedInput | None = None) -> Tensor:
        """``shared`` (holding ``x``) pools once for all edges leaving one state; the BNs
        stay per op."""
        if shared is None:
            return self.bn(self.pool(x))
        return self.bn(shared.derived(("pool", repr(self.pool)), self.pool))


# ----------------------------------------------------------------------------- the table
@OPS.register("none")
def _none(channels: int, stride: int, structure: OpStructure) -> nn.Module:
    _check_sizes(channels, stride)
    return Zero(stride)


@OPS.register("skip_connect")
def _skip(channels: int, stride: int, structure: OpStructure) -> nn.Module:
    _check_sizes(channels, stride)
    if stride == 1:
        return nn.Identity()
    if structure.reduce_skip == "pool":
        return _downsample_shortcut()
    return FactorizedReduce(channels, channels, structure)


@OPS.register("max_pool_3x3")
def _max_pool(channels: int, stride: int, structure: OpStructure) -> nn.Module:
    _check_sizes(channels, stride)
    return PoolOp("max", channels, stride)


@OPS.register("avg_pool_3x3")
def _avg_pool(channels: int, stride: int, structure: OpStructure) -> nn.Module:
    _check_sizes(channels, stride)
    return PoolOp("avg", channels, stride)


def _conv_op(kernel: int, dilation: int) -> OpFactory:
    def build(channels: int, stride: int, structure: OpStructure) -> nn.Module:
        return BinaryConvOp(channels, channels, kernel, stride, dilation, structure)

    return build


OPS.register("bin_conv_3x3")(_conv_op(3, 1))
OPS.register("bin_conv_5x5")(_conv_op(5, 1))
OPS.register("bin_dil_conv_3x3")(_conv_op(3, 2))
OPS.register("bin_dil_conv_5x5")(_conv_op(5, 2))


def _conv_op_with_shortcut(kernel: int, shortcut: bool) -> OpFactory:
    def build(channels: int, stride: int, structure: OpStructure) -> nn.Module:
        forced = dataclasses.replace(structure, shortcut=shortcut)
        return BinaryConvOp(channels, channels, kernel, stride, 1, forced)

    return build


# BARS (Zhao et al., arXiv 2011.10804) lets the search choose, edge by edge, whether a binary
# conv carries the real-valued shortcut, instead of one structure for all ops.
OPS.register("bin_conv_3x3_shortcut")(_conv_op_with_shortcut(3, True))
OPS.register("bin_conv_3x3_plain")(_conv_op_with_shortcut(3, False))

BARS_OPS: tuple[str, ...] = ("none", "skip_connect", "bin_conv_3x3_plain", "bin_conv_3x3_shortcut")
"""The BARS micro space: binary 3x3 conv with and without a shortcut, skip, none."""
