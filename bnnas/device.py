"""Device and precision choices, made at run time (never hard-coded ``.cuda()``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from bnnas.errors import ConfigError


def select_device(spec: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else CPU; an explicit device must exist."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise ConfigError(f"unknown device {spec!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {spec!r} requested but CUDA is not available; use device=cpu")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"unsupported device {spec!r}; use auto, cpu, cuda or cuda:N")
    return device


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``mode`` on ``device``, or None for float32.

    Mixed precision pays off on GPUs only, so CPU runs stay float32 whatever the mode;
    ``auto`` means bf16 on CUDA.
    """
    if device.type != "cuda" or mode == "off":
        return None
    return torch.float16 if mode == "fp16" else torch.bfloat16


@contextlib.contextmanager
def autocast(device: torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    """Autocast to ``dtype`` on ``device``, or a no-op when ``dtype`` is None."""
    if dtype is None:
        yield
    else:
        with torch.autocast(device_type=device.type, dtype=dtype):
            yield


def configure_backends(device: torch.device, deterministic: bool) -> None:
    """cuDNN autotuning for speed, or deterministic kernels for exact reruns."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not deterministic
        torch.backends.cudnn.deterministic = deterministic


def loader_options(device: torch.device) -> dict[str, Any]:
    """Keyword arguments of a :class:`bnnas.data.BatchLoader` on ``device``: page-locked host
    batches on CUDA, so the copy to the GPU is asynchronous; nothing to pin on a CPU."""
    return {"device": device, "pin_memory": device.type == "cuda"}
