"""Device and precision choices, made at run time (never hard-coded ``.cuda()``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

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
    """The autocast dtype for ``mode`` ('auto' = bf16 on CUDA, off on CPU), or None."""
    if mode == "off" or device.type != "cuda":
        if mode in ("bf16", "fp16") and device.type != "cuda":
            return None  # mixed precision only pays off on GPUs; CPU runs stay float32
        return None
    if mode in ("auto", "bf16"):
        return torch.bfloat16
    return torch.float16


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
