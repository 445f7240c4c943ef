"""Joining a Ray cluster, or starting one on this machine, with one-line errors.

Ray (Moritz et al., "Ray: A Distributed Framework for Emerging AI Applications", OSDI 2018)
is an optional extra, so it is imported here on first use, never at module import. Three
things about ``ray.init`` are worth guarding against:

* an address nobody listens on makes it retry for minutes, so a TCP probe with a short
  timeout runs first and turns that into an immediate error;
* it replaces the process's SIGTERM handler, which would break bnnas's clean stop on SIGTERM
  (:mod:`bnnas.interrupt`), so the handler in force before is put back;
* with no address it would join a cluster that happens to run on this machine; bnnas asks for
  ``address="local"`` instead, so "no address" always means a private Ray of its own.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from types import ModuleType
from typing import Any

from bnnas.errors import BnnasError

log = logging.getLogger("bnnas")

PROBE_SECONDS = 5.0
"""How long the TCP probe of ``HOST:PORT`` waits before calling the address unreachable."""

INSTALL_HINT = "pip install 'bnnas[ray]'"


class RayClusterError(BnnasError):
    """Ray is missing, its cluster cannot be reached, or it cannot run the tasks asked for."""


def import_ray() -> ModuleType:
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RayClusterError(
            f"evolution.backend=ray needs Ray, which is not installed; {INSTALL_HINT}, "
            "or use --backend local"
        ) from None
    return ray


def split_address(address: str) -> tuple[str, int] | None:
    """``HOST:PORT`` (optionally ``ray://HOST:PORT``) as a pair; None for ``auto``/``local``
    (found by Ray itself) and for anything without a port."""
    text = address.strip()
    if text in ("auto", "local"):
        return None
    if "://" in text:
        text = text.split("://", 1)[1]
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def probe(address: str, timeout: float = PROBE_SECONDS) -> None:
    """Raise a one-line error when nothing accepts TCP connections at ``address``."""
    target = split_address(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise RayClusterError(
            f"cannot reach a Ray cluster at {address} ({reason}); start one there with "
            "`ray start --head`, or check --ray-address"
        ) from None


def connect(ray: ModuleType, address: str | None, *, num_cpus: int | None = None) -> bool:
    """Make sure this process is connected to Ray; True if this call started the connection
    (so the caller should end it), False if one was already open (a library user's or a
    test's own ``ray.init``), which is then used as it is."""
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
    if address is None:
        kwargs.update(address="local", num_cpus=num_cpus)
    else:
        probe(address)
        kwargs["address"] = address
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    try:
        ray.init(**kwargs)
    except ConnectionError as error:
        where = f"at {address}" if address else "on this machine"
        raise RayClusterError(
            f"cannot connect to a Ray cluster {where} ({_first_line(error)}); start one with "
            "`ray start --head` (a cluster with token authentication also needs "
            "RAY_AUTH_MODE=token and its token here), or drop --ray-address to start a local one"
        ) from None
    finally:
        if main and previous is not None:
            signal.signal(signal.SIGTERM, previous)
    resources = ray.cluster_resources()
    log.info("Ray %s: %g CPUs, %g GPUs", address or "on this machine",
             resources.get("CPU", 0), resources.get("GPU", 0))
    return True


def check_resources(ray: ModuleType, cpus: float, gpus: float, *, strict: bool) -> None:
    """A task that no node can hold would wait forever: refuse it (``strict``, a cluster that
    cannot grow) or warn (an existing cluster, which an autoscaler may grow)."""
    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    if any(node.get("CPU", 0) >= cpus and node.get("GPU", 0) >= gpus for node in nodes):
        return
    largest_cpu = max((node.get("CPU", 0) for node in nodes), default=0)
    largest_gpu = max((node.get("GPU", 0) for node in nodes), default=0)
    message = (f"no Ray node has evolution.ray_cpus_per_task={cpus:g} CPUs and "
               f"evolution.ray_gpus_per_task={gpus:g} GPUs free to give one task (the largest "
               f"has {largest_cpu:g} CPUs, {largest_gpu:g} GPUs); lower them or add nodes")
    if strict:
        raise RayClusterError(message)
    log.warning("%s; tasks wait until such a node joins", message)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
