"""What one layer costs: its multiply-accumulates per forward call and its stored parameters.

The conventions are those of the BNN papers (Bi-Real Net, ReActNet and the NAS papers that copy
their tables), so that our numbers can be put next to theirs:

* Only convolutions and fully connected layers do MACs: ``output elements x (in_channels /
  groups) x kernel area`` for a conv, ``output elements x in_features`` for a linear map.
  BatchNorm, activations, poolings, additions and the per-channel scales of binary layers are
  left out (they are O(output elements), a rounding error next to the convs, and BN and the
  scales fold into a threshold or the next layer's bias at deployment).
* The MACs of a layer are binary (BOPs) only when both its input and its weights are 1-bit; a
  layer with 1-bit weights and real inputs does real-valued MACs (FLOPs).
* Memory counts parameters only: 1 bit per binary weight, 32 bits per real value. Buffers such
  as BN running statistics are not counted (BN folds into the layer before it).
* A binary layer's per-output-channel weight scale is stored by any deployed engine, so it
  counts as ``out_channels`` 32-bit values, whether it is learned or computed ("channel_mean").
"""

from __future__ import annotations

import math

from torch import Tensor, nn

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_TRANSPOSED_CONVS = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
REAL_BITS = 32


def is_compute_layer(module: nn.Module) -> bool:
    """True for the layers that do MACs: convolutions and linear maps (and their subclasses)."""
    return isinstance(module, (*_CONVS, *_TRANSPOSED_CONVS, nn.Linear))


def precisions(module: nn.Module) -> tuple[int, int]:
    """``(input bits, weight bits)`` of a compute layer; plain torch layers are 32 / 32."""
    return (
        int(getattr(module, "input_precision", REAL_BITS)),
        int(getattr(module, "weight_precision", REAL_BITS)),
    )


def precision_key(input_bits: int, weight_bits: int) -> str:
    """The name of a MAC precision, e.g. ``"1x1"`` (binary) or ``"32x1"`` (real input)."""
    return f"{input_bits}x{weight_bits}"


def count_macs(module: nn.Module, inputs: tuple[object, ...], output: Tensor) -> int:
    """MACs one call of the compute layer ``module`` made, per sample of the batch."""
    batch = output.shape[0] if output.dim() > 1 else 1
    per_sample = output.numel() // batch
    if isinstance(module, _TRANSPOSED_CONVS):
        x = inputs[0]
        if not isinstance(x, Tensor):
            raise TypeError(f"{type(module).__name__} was called on a {type(x).__name__}")
        kernel = math.prod(module.kernel_size)
        return x.numel() // batch * (module.out_channels // module.groups) * kernel
    if isinstance(module, _CONVS):
        kernel = math.prod(module.kernel_size)
        return per_sample * (module.in_channels // module.groups) * kernel
    if isinstance(module, nn.Linear):
        return per_sample * module.in_features
    raise TypeError(f"{type(module).__name__} is not a compute layer")


def count_params(module: nn.Module, seen: set[int], *, recurse: bool) -> dict[int, int]:
    """Stored values of ``module`` by bit width; parameters whose id is in ``seen`` are skipped.

    ``recurse`` takes in the parameters of submodules too (a binary layer owns its quantizers,
    e.g. RSign's thresholds). Ids counted here are added to ``seen``, so shared parameters are
    counted once, by the first layer that owns them.
    """
    weight_bits = precisions(module)[1] if is_compute_layer(module) else REAL_BITS
    counts: dict[int, int] = {}
    for parameter in module.parameters(recurse=recurse):
        if id(parameter) in seen:
            continue
        seen.add(id(parameter))
        bits = weight_bits if parameter is getattr(module, "weight", None) else REAL_BITS
        counts[bits] = counts.get(bits, 0) + parameter.numel()
    if weight_bits < REAL_BITS and getattr(module, "scaling", None) == "channel_mean":
        # A computed scale is no parameter, but the deployed model stores it.
        out_channels = module.weight.shape[0]
        counts[REAL_BITS] = counts.get(REAL_BITS, 0) + out_channels
    return counts
