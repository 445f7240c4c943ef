"""Write a trained model as a packed ``.bnn`` file and account for its size.

The file (:mod:`bnnas.export.fileformat`) holds the metadata of an
:class:`~bnnas.export.source.ExportSource`, the module tree (:mod:`bnnas.export.graph`) and
the arrays. Its size is checked against the model's memory figure from
:func:`bnnas.metrics.profile` (1 bit per binary weight, 32 bits per real parameter): the
counted arrays are that figure rounded up to whole bytes per bit array; the rest is header
and the statistics of affine-free BNs, which the profile does not count.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

from bnnas.export.fileformat import (
    PackedFile,
    SizeBreakdown,
    check_output_path,
    size_breakdown,
    write_packed,
)
from bnnas.export.graph import trace
from bnnas.export.source import ExportSource


def pack(source: ExportSource) -> PackedFile:
    """The packed content of ``source`` (its model is traced in eval mode, unchanged)."""
    model = copy.deepcopy(source.model).cpu().eval()
    packed = PackedFile(source.meta())
    packed.meta["graph"] = trace(model, packed)
    return packed


@dataclass(frozen=True)
class PackedReport:
    """What :func:`export_packed` wrote: path, size breakdown and the profiled memory."""

    path: Path
    size: SizeBreakdown
    profile_memory_bits: int

    def lines(self) -> list[str]:
        s = self.size
        return [
            f"wrote {self.path} ({s.total} bytes)",
            f"profile memory {self.profile_memory_bits / 8:.1f} bytes "
            f"({self.profile_memory_bits} bits: 1 per binary weight, 32 per real parameter)",
            f"file = {s.counted_bits / 8:.1f} bytes of weights + {s.padding_bits / 8:.3f} of "
            f"byte padding + {s.header} of header/metadata + {s.uncounted} of affine-free BN "
            "statistics",
        ]


def export_packed(source: ExportSource, out: str | Path, *, overwrite: bool = False
                  ) -> PackedReport:
    """Write ``source`` to ``out`` (atomically; an existing file only with ``overwrite``)."""
    from bnnas.metrics import profile

    check_output_path(out, overwrite=overwrite)
    packed = pack(source)
    memory = int(profile(copy.deepcopy(source.model).cpu(), source.input_shape)
                 .totals["memory_bits"])
    total = write_packed(out, packed, overwrite=overwrite)
    return PackedReport(Path(out), size_breakdown(packed, total), memory)
