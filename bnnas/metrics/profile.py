"""Profile a model by running it once with forward hooks on its layers (larq's model summary).

One forward pass of a batch of 1 in eval mode and without gradients records, for every layer,
its output shape and its MACs by precision; parameters by bit width are read off the modules.
The counting conventions (which MACs are binary, what memory holds) are the BNN papers' and are
spelt out in :mod:`bnnas.metrics.counting`. Totals follow REFERENCES.md: BOPs are binary MACs,
FLOPs are real-valued MACs (not 2 x MACs), and ``OPs = BOPs / 64 + FLOPs``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from bnnas.metrics.counting import (
    REAL_BITS,
    count_macs,
    count_params,
    is_compute_layer,
    precision_key,
    precisions,
)

BINARY_KEY = precision_key(1, 1)
BOPS_PER_OP = 64  # binary MACs one 64-bit XNOR + popcount instruction does


@dataclass
class LayerProfile:
    """The cost of one layer: a row of the summary table.

    ``params_by_bits`` maps a bit width to how many values of that width the layer stores;
    ``macs_by_precision`` maps ``"<input bits>x<weight bits>"`` to MACs per sample. The
    precisions and the output shape are None where they do not apply (a pool has no weights;
    a layer that never ran has no output).
    """

    name: str
    type: str
    output_shape: tuple[int, ...] | None = None
    input_precision: int | None = None
    weight_precision: int | None = None
    params_by_bits: dict[int, int] = field(default_factory=dict)
    macs_by_precision: dict[str, int] = field(default_factory=dict)

    @property
    def params(self) -> int:
        return sum(self.params_by_bits.values())

    @property
    def memory_bits(self) -> int:
        return sum(bits * count for bits, count in self.params_by_bits.items())

    @property
    def binary_macs(self) -> int:
        return self.macs_by_precision.get(BINARY_KEY, 0)

    @property
    def real_macs(self) -> int:
        return sum(n for key, n in self.macs_by_precision.items() if key != BINARY_KEY)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready row (bit widths become string keys)."""
        return {
            "name": self.name,
            "type": self.type,
            "output_shape": None if self.output_shape is None else list(self.output_shape),
            "input_precision": self.input_precision,
            "weight_precision": self.weight_precision,
            "params_by_bits": {str(b): n for b, n in sorted(self.params_by_bits.items())},
            "params": self.params,
            "memory_bits": self.memory_bits,
            "macs_by_precision": dict(sorted(self.macs_by_precision.items())),
            "binary_macs": self.binary_macs,
            "real_macs": self.real_macs,
        }


@dataclass
class Profile:
    """Per-layer costs of a model for one input size (channels, height, width)."""

    layers: list[LayerProfile]
    input_size: tuple[int, int, int]

    @property
    def params_by_bits(self) -> dict[int, int]:
        """Stored values by bit width, over all layers."""
        merged: dict[int, int] = {}
        for layer in self.layers:
            for bits, count in layer.params_by_bits.items():
                merged[bits] = merged.get(bits, 0) + count
        return dict(sorted(merged.items()))

    @property
    def totals(self) -> dict[str, float]:
        """Model totals as plain numbers: bops, flops, ops, params, memory, compression."""
        bops = sum(layer.binary_macs for layer in self.layers)
        flops = sum(layer.real_macs for layer in self.layers)
        by_bits = self.params_by_bits
        params = sum(by_bits.values())
        params_binary = by_bits.get(1, 0)
        memory_bits = sum(bits * count for bits, count in by_bits.items())
        float32_bits = REAL_BITS * params
        return {
            "bops": bops,
            "flops": flops,
            "ops": bops / BOPS_PER_OP + flops,
            "macs": bops + flops,
            "params": params,
            "params_binary": params_binary,
            "params_real": params - params_binary,
            "memory_bits": memory_bits,
            "memory_bytes": memory_bits / 8,
            "float32_memory_bits": float32_bits,
            "compression_ratio": float32_bits / memory_bits if memory_bits else 1.0,
        }

    def to_dict(self) -> dict[str, object]:
        """JSON-serialisable ``{"input_size", "totals", "layers"}``."""
        return {
            "input_size": list(self.input_size),
            "totals": self.totals,
            "layers": [layer.to_dict() for layer in self.layers],
        }


def _layers(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """The modules that get a row: compute layers (with all they own), other leaves, and any
    module that holds parameters directly. Modules inside a compute layer (its quantizers)
    belong to that layer's row."""
    owners: list[str] = []
    for name, module in model.named_modules():
        if any(owner == "" or name.startswith(owner + ".") for owner in owners):
            continue  # owned by a compute layer ("" is the model itself)
        if is_compute_layer(module):
            owners.append(name)
            yield name, module
        elif (
            next(module.children(), None) is None
            or next(module.parameters(recurse=False), None) is not None
        ):
            yield name, module


def _new_row(name: str, module: nn.Module, seen: set[int]) -> LayerProfile:
    compute = is_compute_layer(module)
    input_bits, weight_bits = precisions(module) if compute else (None, None)
    return LayerProfile(
        name=name or type(module).__name__,
        type=type(module).__name__,
        input_precision=input_bits,
        weight_precision=weight_bits,
        params_by_bits=count_params(module, seen, recurse=compute),
    )


def _first_tensor(output: object) -> Tensor | None:
    if isinstance(output, Tensor):
        return output
    if isinstance(output, (tuple, list)):
        return next((item for item in output if isinstance(item, Tensor)), None)
    return None


def profile(
    model: nn.Module, input_size: tuple[int, int, int], *, device: str | torch.device = "cpu"
) -> Profile:
    """Run ``model`` once on a batch of 1 of shape ``input_size`` and return its costs.

    The model runs in eval mode under ``torch.no_grad()`` on an input created on ``device``
    (the model is not moved); the train/eval mode of every submodule and the hooks are
    restored/removed afterwards, even when the forward pass fails. Rows come in the order the
    layers first ran; layers that never ran keep a row (without output shape) if they hold
    parameters, since the model stores them all the same.
    """
    seen: set[int] = set()
    rows = {name: (module, _new_row(name, module, seen)) for name, module in _layers(model)}
    order: list[str] = []

    def hook(name: str) -> Callable[[nn.Module, tuple[object, ...], object], None]:
        def record(module: nn.Module, inputs: tuple[object, ...], output: object) -> None:
            row = rows[name][1]
            tensor = _first_tensor(output)
            if name not in order:
                order.append(name)
                row.output_shape = None if tensor is None else tuple(tensor.shape[1:])
            if is_compute_layer(module) and tensor is not None:
                key = precision_key(*precisions(module))
                row.macs_by_precision[key] = row.macs_by_precision.get(key, 0) + count_macs(
                    module, inputs, tensor
                )

        return record

    modes = [(module, module.training) for module in model.modules()]
    handles = [module.register_forward_hook(hook(name)) for name, (module, _) in rows.items()]
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, *input_size, generator=generator, dtype=dtype).to(device)
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        for module, mode in modes:
            module.train(mode)
    unused = [name for name in rows if name not in order and rows[name][1].params]
    layers = [rows[name][1] for name in order + unused]
    return Profile(layers=layers, input_size=tuple(input_size))
