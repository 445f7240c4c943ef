"""The report table as text cells, shared by the Markdown and the HTML page so both show the
same numbers: costs in human units (as ``bnnas summary`` prints them), accuracy as mean ± std
over seeds, times in seconds, minutes or hours."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bnnas.metrics import format_bytes, format_count
from bnnas.report.aggregate import Summary

MISSING = "–"
NOT_MEASURED = "published, not measured here"
HEADERS = ("name", "method", "seeds", "test acc (%)", "BOPs", "FLOPs", "OPs", "params",
           "size", "search time", "train time", "epochs", "command")
CODE_COLUMN = "command"


def format_duration(seconds: float | None) -> str:
    """``45 s``, ``12.3 min`` or ``3.10 h``."""
    if seconds is None:
        return MISSING
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def format_mean_std(mean: float | None, std: float | None, fmt: Callable[[float], str]) -> str:
    """``fmt(mean) ± fmt(std)``; the mean alone without a (nonzero) std; ``–`` without one."""
    if mean is None:
        return MISSING
    return fmt(mean) if not std else f"{fmt(mean)} ± {fmt(std)}"


def _with_std(summary: Summary, key: str, fmt: Callable[[float], str]) -> str:
    return format_mean_std(summary.mean.get(key), summary.std.get(key), fmt)


def _seeds(summary: Summary) -> str:
    """The training seeds; for a found or drawn network retrained with seeds other than the
    one that found it, that seed too (``0, 1 (search 0)``)."""
    if summary.published:
        return MISSING
    text = ", ".join("?" if s is None else str(s) for s in summary.seeds)
    if summary.search_seed is not None and set(summary.seeds) != {summary.search_seed}:
        text += f" (found with seed {summary.search_seed})"
    return text


def _command(summary: Summary) -> str:
    if summary.published:
        return NOT_MEASURED + (f" ({summary.source})" if summary.source else "")
    if not summary.commands:
        return MISSING
    more = len(summary.commands) - 1
    return summary.commands[0] + (f"  (first seed; {more} more in rows.json)" if more else "")


def cells(summary: Summary) -> list[str]:
    """The row of ``summary`` under :data:`HEADERS`."""
    return [
        summary.name + (" *" if summary.published else ""),
        summary.method,
        _seeds(summary),
        _with_std(summary, "test_acc", lambda v: f"{v:.2f}"),
        _with_std(summary, "bops", format_count),
        _with_std(summary, "flops", format_count),
        _with_std(summary, "ops", format_count),
        _with_std(summary, "params", format_count),
        _with_std(summary, "model_bytes", format_bytes),
        _with_std(summary, "search_seconds", format_duration),
        _with_std(summary, "train_seconds", format_duration),
        MISSING if summary.epochs is None else str(summary.epochs),
        _command(summary),
    ]


def table(summaries: Sequence[Summary]) -> list[list[str]]:
    """All rows, in the order given."""
    return [cells(s) for s in summaries]
