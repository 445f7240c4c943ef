"""Run folders: one per command invocation, never silently clobbered.

A run folder holds the resolved config (``config.yaml``), the code revision
(``revision.txt``), the log (``log.txt``), per-epoch metrics (``metrics.jsonl``) and
checkpoints. An existing folder is only reused by ``--resume``; ``--overwrite`` moves the old
folder aside (``<name>.replaced-<time>``) instead of deleting it, so nothing a user made is
lost.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from bnnas.errors import RunFolderError


def _timestamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def default_run_dir(command: str, root: str | Path = "runs") -> Path:
    """``runs/<command>-<timestamp>``, with a numeric suffix if that name is taken.

    Under torchrun rank 0 names it for all ranks: their clocks may straddle a second."""
    from bnnas.distributed import current

    base = Path(root) / f"{command}-{_timestamp()}"
    candidate, n = base, 1
    while candidate.exists():
        candidate = base.with_name(f"{base.name}-{n}")
        n += 1
    return current().broadcast_object(candidate)


def check_new_run_dir(path: str | Path, *, overwrite: bool = False) -> Path:
    """Raise unless a fresh run could be started at ``path`` (checked before any work)."""
    path = Path(path)
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise RunFolderError(
            f"output path {str(path)!r} exists and is not a folder; choose another --out"
        )
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise RunFolderError(
            f"run folder {str(path)!r} already exists; use --resume {path} to continue it, "
            "--overwrite to start over (the old folder is kept aside), or another --out"
        )
    parent = next((p for p in path.absolute().parents if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise RunFolderError(
            f"cannot write run folder {str(path)!r} ({parent} is not a writable folder); "
            "choose a writable --out"
        )
    return path


def create_run_dir(path: str | Path, *, overwrite: bool = False) -> Path:
    """Create a fresh run folder at ``path``.

    An existing non-empty folder is an error unless ``overwrite``, which renames it aside.
    """
    path = check_new_run_dir(path, overwrite=overwrite)
    if path.exists() and any(path.iterdir()):
        aside = path.with_name(f"{path.name}.replaced-{_timestamp()}")
        n = 1
        while aside.exists():
            aside = path.with_name(f"{path.name}.replaced-{_timestamp()}-{n}")
            n += 1
        path.rename(aside)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise RunFolderError(
            f"cannot write run folder {str(path)!r} ({error.strerror or error}); "
            "choose a writable --out"
        ) from None
    return path


def existing_run_dir(path: str | Path) -> Path:
    """Check that ``path`` is a run folder that can be resumed."""
    path = Path(path)
    if not (path / "config.yaml").is_file():
        raise RunFolderError(
            f"{str(path)!r} is not a run folder (no config.yaml); pass the folder a run created"
        )
    return path


def code_revision() -> str:
    """The git revision of the bnnas source, or 'unknown' outside a checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if out.returncode != 0:
        return "unknown"
    revision = out.stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=here,
        capture_output=True,
        text=True,
        timeout=5,
    )
    return revision + ("-dirty" if dirty.stdout.strip() else "")


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename; a failed write (full
    disk, read-only folder) leaves the old file and raises RunFolderError."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as error:
        raise RunFolderError(
            f"cannot write {str(path)!r} ({error.strerror or error}); free space or choose a "
            "writable folder, then try again"
        ) from None
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: str | Path, text: str) -> None:
    """:func:`write_bytes_atomic` for UTF-8 text."""
    write_bytes_atomic(path, text.encode("utf-8"))


class MetricsLog:
    """Appends one JSON object per line to ``metrics.jsonl``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def append(self, record: dict[str, Any]) -> None:
        try:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, sort_keys=True) + "\n")
                handle.flush()
        except OSError as error:  # a line cut short is dropped when the run resumes
            raise RunFolderError(
                f"cannot write {str(self.path)!r} ({error.strerror or error}); free space, "
                "then resume the run"
            ) from None

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut short by a crash ends the log
        return records

    def truncate_after(self, key: str, last: int) -> None:
        """Keep only records with ``record[key] <= last`` (used when resuming)."""
        kept = [r for r in self.read() if r.get(key, 0) <= last]
        write_text_atomic(self.path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))


def setup_logging(run_dir: Path | None, verbose: bool = True) -> logging.Logger:
    """The ``bnnas`` logger, writing to stderr and to ``run_dir/log.txt``.

    Under torchrun only rank 0 logs progress and writes ``log.txt``; other ranks report
    warnings and errors on stderr."""
    from bnnas.distributed import is_main_process

    logger = logging.getLogger("bnnas")
    main = is_main_process()
    logger.setLevel(logging.INFO if main else logging.WARNING)
    if not main:
        run_dir = None
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    formatter = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
    if verbose:
        console = logging.StreamHandler()
        console.setFormatter(formatter)
        logger.addHandler(console)
    if run_dir is not None:
        file_handler = logging.FileHandler(run_dir / "log.txt", encoding="utf-8")
        file_handler.setFormatter(formatter)
        logger.addHandler(file_handler)
    logger.propagate = False
    return logger
