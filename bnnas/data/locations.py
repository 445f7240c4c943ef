"""Where datasets are looked for when no folder is given.

One place for the rules so every dataset searches the same way: the ``$BNNAS_DATA`` folder
(holding the files itself or in a subfolder named after the dataset), then any system folder
a dataset names, then the user cache ``~/.cache/bnnas/<name>`` (``$XDG_CACHE_HOME`` is
honoured), which is also where downloads go.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

DATA_ENV = "BNNAS_DATA"


def cache_dir(name: str) -> Path:
    """The user cache folder of dataset ``name`` (not created here)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "bnnas" / name


def with_subfolder(folder: str | os.PathLike, name: str) -> list[Path]:
    """``folder`` and ``folder/name``: users point at either the files or their parent."""
    return [Path(folder), Path(folder) / name]


def default_dirs(name: str, system_dirs: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """The folders searched, in order, when the user passes no data folder."""
    dirs: list[Path] = []
    env = os.environ.get(DATA_ENV)
    if env:
        dirs += with_subfolder(env, name)
    dirs += [Path(d) for d in system_dirs]
    dirs.append(cache_dir(name))
    return dirs


def describe(dirs: Iterable[Path]) -> str:
    """The searched folders as one comma-separated phrase for an error message."""
    return ", ".join(str(d) for d in dirs)
