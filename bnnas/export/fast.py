"""The fast engine: the reference engine with its binary convolution compiled by numba.

Everything but the binary convolution is the reference engine's; the convolution is the
packed kernel of :mod:`bnnas.export.fast_kernels` and gives the same integers, so the logits
are identical. Needs the ``fast`` extra (``pip install 'bnnas[fast]'``: numba).
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from bnnas.errors import ExportError
from bnnas.export.engine import Engine, Pair
from bnnas.export.fileformat import PackedFile


def _kernels() -> ModuleType:
    try:
        from bnnas.export import fast_kernels
    except ImportError:
        raise ExportError("the fast engine needs numba: pip install 'bnnas[fast]', or use the "
                          "reference engine") from None
    return fast_kernels


class FastEngine(Engine):
    """:class:`~bnnas.export.engine.Engine` with a compiled packed binary convolution."""

    def __init__(self, packed: PackedFile) -> None:
        super().__init__(packed)
        self._kernels = _kernels()
        self._packed_weights: dict[tuple[str, int], list[np.ndarray]] = {}

    def _weights(self, name: str, groups: int) -> list[np.ndarray]:
        key = (name, groups)
        if key not in self._packed_weights:
            bits = np.ascontiguousarray(self.bits(name))
            per_group = bits.shape[0] // groups
            self._packed_weights[key] = [
                self._kernels.pack_weights(bits[g * per_group : (g + 1) * per_group])
                for g in range(groups)
            ]
        return self._packed_weights[key]

    def binary_conv2d(self, bits: np.ndarray, weight: str, groups: int, kernel: Pair,
                      stride: Pair, padding: Pair, dilation: Pair, pad_bit: bool) -> np.ndarray:
        return self._kernels.binary_conv2d(bits, self._weights(weight, groups), kernel, stride,
                                           padding, dilation, pad_bit)
