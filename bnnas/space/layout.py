"""The macro layout of a DARTS-style network: how many cells, how wide, where it downsamples.

DARTS (Liu et al., ICLR 2019) and PC-DARTS (Xu et al., ICLR 2020) stack ``cells`` cells after a
stem of ``stem_multiplier x channels`` channels and put reduction cells (stride 2, channels
doubled) at one and two thirds of the depth; the searched cells are then restacked deeper and
wider for the final network, so the layout travels with the genotype but can be replaced.

The limits keep a hostile genotype file from asking for an absurd network: they are far above
any published DARTS-space model (ImageNet DARTS: 14 cells, C=48).
"""

from __future__ import annotations

from dataclasses import dataclass

from bnnas.errors import ConfigError

MAX_CELLS = 100
MAX_CHANNELS = 4096
MAX_WIDTH = 8192  # channels of the widest cell, after the reductions doubled them
MAX_STEM_MULTIPLIER = 16


def default_reductions(cells: int) -> tuple[int, ...]:
    """Reduction cells at ``cells // 3`` and ``2 * cells // 3`` (DARTS), without repeats."""
    return tuple(sorted({cells // 3, 2 * cells // 3}))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bounded(field: str, value: object, low: int, high: int) -> str | None:
    if not _is_int(value) or not low <= value <= high:  # type: ignore[operator]
        return f"{field}: must be an integer from {low} to {high}, got {value!r}"
    return None


def layout_problem(
    cells: object,
    channels: object,
    stem_multiplier: object,
    reductions: object,
    widths: object = None,
) -> str | None:
    """The first problem of these layout values as ``"<field>: <message>"``, or None.

    Shared by :class:`Layout` (which raises ConfigError) and the genotype reader (which raises
    GenotypeError with the JSON path), so both say the same thing.
    """
    problem = (
        _bounded("cells", cells, 1, MAX_CELLS)
        or _bounded("channels", channels, 1, MAX_CHANNELS)
        or _bounded("stem_multiplier", stem_multiplier, 1, MAX_STEM_MULTIPLIER)
    )
    if problem:
        return problem
    if not isinstance(reductions, (tuple, list)):
        return f"reductions: must be a list of cell indices, got {reductions!r}"
    for i, position in enumerate(reductions):
        if not _is_int(position) or not 0 <= position < cells:  # type: ignore[operator]
            return (
                f"reductions[{i}]: must be a cell index from 0 to {cells - 1}, "  # type: ignore[operator]
                f"got {position!r}"
            )
        if i and position <= reductions[i - 1]:
            return f"reductions[{i}]: reduction positions must be sorted and unique"
    if widths is not None:
        if not isinstance(widths, (tuple, list)) or len(widths) != cells:
            return f"widths: must list one width per cell ({cells}), got {widths!r}"
        for i, width in enumerate(widths):
            problem = _bounded(f"widths[{i}]", width, 1, MAX_WIDTH)
            if problem:
                return problem
        return None
    widest = channels * 2 ** len(reductions)  # type: ignore[operator]
    if widest > MAX_WIDTH:
        return (
            f"reductions: {len(reductions)} reductions widen {channels} channels to {widest}, "
            f"above the limit {MAX_WIDTH}; use fewer channels or reductions"
        )
    return None


@dataclass(frozen=True)
class Layout:
    """``cells`` cells of base width ``channels``; reduction cells at ``reductions``.

    ``reductions=None`` places them at one and two thirds of the depth (DARTS); invalid values
    raise a one-line ConfigError naming the field. ``widths`` gives every cell's width
    explicitly, for macro layouts that were searched rather than doubled at each reduction
    (BARS: a width multiplier and a depth per stage).
    """

    cells: int
    channels: int
    stem_multiplier: int = 3
    reductions: tuple[int, ...] | None = None
    widths: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        reductions = self.reductions
        if reductions is None and _is_int(self.cells):
            reductions = default_reductions(self.cells)
        elif isinstance(reductions, list):
            reductions = tuple(reductions)
        object.__setattr__(self, "reductions", reductions)
        if isinstance(self.widths, list):
            object.__setattr__(self, "widths", tuple(self.widths))
        problem = layout_problem(self.cells, self.channels, self.stem_multiplier, reductions,
                                 self.widths)
        if problem:
            raise ConfigError(f"layout.{problem}")

    @property
    def reduction_set(self) -> frozenset[int]:
        return frozenset(self.reductions or ())

    def cell_channels(self) -> list[int]:
        """The width ``C`` of every cell: ``widths`` if given, else ``channels`` doubled at
        and after each reduction."""
        if self.widths is not None:
            return list(self.widths)
        widths, width = [], self.channels
        for index in range(self.cells):
            if index in self.reduction_set:
                width *= 2
            widths.append(width)
        return widths

    def to_dict(self) -> dict[str, object]:
        return {
            "cells": self.cells,
            "channels": self.channels,
            "stem_multiplier": self.stem_multiplier,
            "reductions": list(self.reductions or ()),
            **({"widths": list(self.widths)} if self.widths is not None else {}),
        }
