"""The profile as a fixed-width text table, in the spirit of larq's ``summary()``.

One row per layer, then a block of totals that gives each cost in human units and as the exact
integer, so that the table can be read at a glance and diffed exactly (golden tests).
"""

from __future__ import annotations

from bnnas.metrics.profile import LayerProfile, Profile

_UNITS = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def format_count(n: float) -> str:
    """A count in human units: 1.68e9 -> "1.68 G", 1.392e8 -> "139.2 M", 512 -> "512".

    Two decimals below 100 of a unit, one from 100 on; counts under 1000 print as they are.
    """
    for scale, unit in _UNITS:
        value = abs(n) / scale
        if round(value, 2) >= 1:
            sign = "-" if n < 0 else ""
            return (
                f"{sign}{value:.1f} {unit}"
                if round(value, 2) >= 100
                else f"{sign}{value:.2f} {unit}"
            )
    return _exact(n)


def format_bytes(n: float) -> str:
    """A size in binary units: "812 B", "43.50 KiB", "4.01 MiB"."""
    for scale, unit in ((1024**3, "GiB"), (1024**2, "MiB"), (1024, "KiB")):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f} B"


def _exact(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else f"{n:.2f}"


def _shape(shape: tuple[int, ...] | None) -> str:
    return "-" if shape is None else "(" + ", ".join(str(d) for d in shape) + ")"


def _bits(bits: int | None) -> str:
    return "-" if bits is None else str(bits)


def _layer_cells(layer: LayerProfile, widths: list[int]) -> list[str]:
    return [
        layer.name,
        layer.type,
        _shape(layer.output_shape),
        _bits(layer.input_precision),
        _bits(layer.weight_precision),
        *(str(layer.params_by_bits.get(bits, 0)) for bits in widths),
        f"{layer.memory_bits / 8 / 1024:.2f}",
        str(layer.binary_macs),
        str(layer.real_macs),
    ]


def _layer_table(profile: Profile) -> list[str]:
    widths = sorted({1, 32, *profile.params_by_bits})
    header = [
        "Layer",
        "Type",
        "Output shape",
        "In bits",
        "W bits",
        *(f"# {bits}-bit" for bits in widths),
        "Memory KiB",
        "Binary MACs",
        "Real MACs",
    ]
    rows = [_layer_cells(layer, widths) for layer in profile.layers]
    totals = profile.totals
    by_bits = profile.params_by_bits
    total_row = [
        "Total",
        "",
        "",
        "",
        "",
        *(str(by_bits.get(bits, 0)) for bits in widths),
        f"{totals['memory_bits'] / 8 / 1024:.2f}",
        str(totals["bops"]),
        str(totals["flops"]),
    ]
    sizes = [max(len(row[i]) for row in [header, *rows, total_row]) for i in range(len(header))]
    left = 3  # name, type and shape are left-aligned; numbers are right-aligned

    def line(cells: list[str]) -> str:
        parts = [
            cell.ljust(size) if i < left else cell.rjust(size)
            for i, (cell, size) in enumerate(zip(cells, sizes, strict=True))
        ]
        return "| " + "  ".join(parts) + " |"

    rule = "+" + "-" * (sum(sizes) + 2 * (len(sizes) - 1) + 2) + "+"
    return [rule, line(header), rule, *(line(row) for row in rows), rule, line(total_row), rule]


def _totals_block(profile: Profile) -> list[str]:
    t = profile.totals
    by_bits = ", ".join(f"{n} x {bits}-bit" for bits, n in profile.params_by_bits.items())
    entries = [
        ("BOPs (binary MACs)", format_count(t["bops"]), str(t["bops"])),
        ("FLOPs (real MACs)", format_count(t["flops"]), str(t["flops"])),
        ("OPs = BOPs/64 + FLOPs", format_count(t["ops"]), _exact(t["ops"])),
        ("Params", format_count(t["params"]), by_bits or "0"),
        ("Model size", format_bytes(t["memory_bytes"]), f"{t['memory_bits']} bits"),
        (
            "Float-32 size",
            format_bytes(t["float32_memory_bits"] / 8),
            f"{t['float32_memory_bits']} bits",
        ),
        ("Compression ratio", f"{t['compression_ratio']:.2f}", "float-32 size / model size"),
    ]
    label = max(len(e[0]) for e in entries)
    human = max(len(e[1]) for e in entries)
    return [
        f"{name.ljust(label)}  {value.rjust(human)}  ({exact})" for name, value, exact in entries
    ]


def summary_table(profile: Profile) -> str:
    """The per-layer table and the totals of ``profile``; deterministic text, no trailing space.

    MACs are per sample; memory counts parameters only (1 bit per binary weight, 32 bits per
    real value), as :mod:`bnnas.metrics.counting` explains.
    """
    c, h, w = profile.input_size
    title = f"Profile for an input of {c}x{h}x{w} (batch of 1, eval mode)"
    return "\n".join([title, *_layer_table(profile), "", *_totals_block(profile)]) + "\n"
