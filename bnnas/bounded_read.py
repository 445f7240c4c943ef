"""Reading a small file without trusting its size.

A path on the command line may name a device or a pipe (``/dev/zero``, ``/dev/urandom``) whose
``stat`` size is 0 but whose content never ends; reading it whole would fill the memory. Files
that are small by nature (configs, genotypes, pareto fronts) are therefore read up to a limit,
and refused above it, whatever the file system says about them.
"""

from __future__ import annotations

from pathlib import Path


def read_bounded(path: str | Path, limit: int) -> bytes | None:
    """The content of ``path``, or None if it holds more than ``limit`` bytes.

    OSErrors (missing file, no permission, a folder) propagate to the caller, which knows
    what kind of file it wanted.
    """
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    return None if len(data) > limit else data
