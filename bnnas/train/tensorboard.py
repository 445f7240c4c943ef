"""Optional TensorBoard logging: used when the ``tb`` extra is installed, silent otherwise."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any


class ScalarLog:
    """Writes per-epoch scalars to ``run_dir/tb`` if TensorBoard is importable."""

    def __init__(self, run_dir: str | Path, enabled: bool = True) -> None:
        self._writer: Any = None
        if enabled and importlib.util.find_spec("tensorboard") is not None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(Path(run_dir) / "tb"))

    @property
    def active(self) -> bool:
        return self._writer is not None

    def write(self, step: int, scalars: dict[str, float]) -> None:
        if self._writer is None:
            return
        for name, value in scalars.items():
            self._writer.add_scalar(name, value, step)
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
