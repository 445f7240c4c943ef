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


def read_small_text(path: str | Path, limit: int, kind: str,
                    error: type[Exception]) -> str:
    """The UTF-8 text of a small file of the given ``kind`` ("config", "genotype", ...).

    Every problem (missing, unreadable, above ``limit`` bytes, not UTF-8) raises ``error``
    with one line that names the file and what to do, so each reader of a small file speaks
    to the user the same way.
    """
    try:
        data = read_bounded(path, limit)
    except FileNotFoundError:
        raise error(f"{kind} file {str(path)!r} not found; check the path") from None
    except OSError as problem:
        raise error(f"cannot read {kind} file {str(path)!r} "
                    f"({problem.strerror or problem})") from None
    if data is None:
        raise error(f"{kind} file {str(path)!r} is above the {limit} bytes limit; "
                    f"is it a {kind} file?")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"{kind} file {str(path)!r} is not UTF-8 text; is it a {kind} file?"
                    ) from None
