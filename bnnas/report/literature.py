"""Published results to set beside the measured ones, read from a small YAML or JSON file.

The file is a list of entries (or ``{"rows": [...]}``), each a mapping with a ``name`` and a
``test_acc`` in percent and, optionally, ``dataset``, ``bops``, ``flops``, ``ops``,
``params``, ``model_bytes`` and ``source`` (where the number was printed)::

    - {name: "binarized ResNet-18 (OneBNet)", dataset: fashion-mnist, test_acc: 93.4,
       source: "OneBNet"}

They were not measured here, so the report marks them as published and keeps them out of
the Pareto line of measured networks. Unknown keys are refused: a misspelt ``ops`` would
otherwise silently drop the number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bnnas.bounded_read import read_small_text
from bnnas.errors import ReportError
from bnnas.report.aggregate import Summary

MAX_BYTES = 1 << 20
PUBLISHED = "published"
_NUMBERS = ("test_acc", "bops", "flops", "ops", "params", "model_bytes")
_TEXTS = ("name", "dataset", "source")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _entry(item: Any, where: str) -> Summary:
    if not isinstance(item, dict):
        raise ReportError(f"{where}: expected a mapping with name and test_acc")
    unknown = sorted(set(item) - set(_NUMBERS) - set(_TEXTS))
    if unknown:
        raise ReportError(f"{where}: unknown key {unknown[0]!r}; known: "
                          f"{', '.join(_TEXTS + _NUMBERS)}")
    if not isinstance(item.get("name"), str) or not item["name"]:
        raise ReportError(f"{where}: needs a name")
    for key in _NUMBERS:
        if key in item and not _is_number(item[key]):
            raise ReportError(f"{where}.{key}: expected a number, got {item[key]!r}")
    if "test_acc" not in item:
        raise ReportError(f"{where}: needs test_acc (percent)")
    return Summary(
        name=item["name"], method=PUBLISHED, dataset=item.get("dataset"), epochs=None,
        mean={key: float(item[key]) if key in item else None for key in _NUMBERS},
        published=True, source=item.get("source"),
    )


def load_literature(path: str | Path) -> list[Summary]:
    """The published entries of ``path``; any problem is a one-line :class:`ReportError`."""
    text = read_small_text(path, MAX_BYTES, "literature", ReportError)
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ReportError(f"literature file {str(path)!r} is not YAML/JSON ({first})") from None
    if isinstance(document, dict) and "rows" in document:
        document = document["rows"]
    if not isinstance(document, list):
        raise ReportError(f"literature file {str(path)!r}: expected a list of entries")
    return [_entry(item, f"{path}[{i}]") for i, item in enumerate(document)]
