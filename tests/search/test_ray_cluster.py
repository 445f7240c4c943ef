"""Joining Ray: one-line errors when Ray is missing or unreachable, the SIGTERM handler kept,
tasks no node can hold refused. Uses a stand-in for the ``ray`` module, or none at all."""

import logging
import signal
import socket
import sys
from types import SimpleNamespace

import pytest

from bnnas.cli import main
from bnnas.search.ray_cluster import (
    RayClusterError,
    check_resources,
    connect,
    import_ray,
    probe,
    split_address,
)

MOTS_CLI = ["search", "--no-progress", "--method", "mots", "--config",
            "configs/mots-smoke.yaml", "--set", "data.limit=256",
            "--set", "data.batch_size=32"]


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_missing_ray_is_a_one_line_install_hint(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails
    with pytest.raises(RayClusterError, match=r"pip install 'bnnas\[ray\]'"):
        import_ray()
    code = main([*MOTS_CLI, "--backend", "ray", "--out", str(tmp_path / "run")])
    err = _one_line_error(capsys)
    assert code == 2 and "pip install 'bnnas[ray]'" in err
    assert not (tmp_path / "run").exists()  # nothing written for a run that cannot start


def test_an_unreachable_address_is_a_one_line_error(capsys, tmp_path):
    with socket.socket() as server:  # a port that was free a moment ago: nobody listens
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
    code = main([*MOTS_CLI, "--backend", "ray", "--ray-address", f"127.0.0.1:{port}",
                 "--out", str(tmp_path / "run")])
    err = _one_line_error(capsys)
    assert code == 2 and f"cannot reach a Ray cluster at 127.0.0.1:{port}" in err
    assert "ray start --head" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("method", "config"), [("ubnas", "configs/ubnas-smoke.yaml"),
                                                ("bars", "configs/bars-smoke.yaml")])
@pytest.mark.parametrize("flags", [["--backend", "ray"], ["--ray-address", "auto"]])
def test_backend_flags_on_a_method_without_candidates(method, config, flags, capsys, tmp_path):
    code = main(["search", "--method", method, "--config", config, *flags,
                 "--out", str(tmp_path / "run")])
    err = _one_line_error(capsys)
    assert code == 2 and f"a {method} search scores none" in err and "--method mots" in err


@pytest.mark.parametrize(("address", "parts"), [
    ("auto", None), ("local", None), ("10.0.0.7:6379", ("10.0.0.7", 6379)),
    ("ray://head.example:10001", ("head.example", 10001)), ("[::1]:6379", ("::1", 6379)),
    ("head-without-port", None), ("host:port", None),
])
def test_split_address(address, parts):
    assert split_address(address) == parts


def test_probe_accepts_a_listening_port():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        probe(f"127.0.0.1:{server.getsockname()[1]}")  # no error
    probe("auto")  # Ray finds that one itself


class FakeRay:
    """What :func:`connect` uses of the ``ray`` module; ``init`` behaves like Ray's own in
    replacing the SIGTERM handler."""

    def __init__(self, fail: Exception | None = None, initialized: bool = False) -> None:
        self.fail, self.initialized, self.calls = fail, initialized, []

    def is_initialized(self) -> bool:
        return self.initialized

    def init(self, **kwargs):
        self.calls.append(kwargs)
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(15))
        if self.fail is not None:
            raise self.fail
        self.initialized = True

    def cluster_resources(self):
        return {"CPU": 2.0}


@pytest.fixture
def sigterm_handler():
    def handler(signum, frame):
        return None

    previous = signal.signal(signal.SIGTERM, handler)
    yield handler
    signal.signal(signal.SIGTERM, previous)


def test_connect_starts_a_private_local_ray_and_keeps_the_sigterm_handler(sigterm_handler):
    fake = FakeRay()
    assert connect(fake, None) is True
    assert fake.calls == [{"include_dashboard": False, "logging_level": logging.WARNING,
                           "address": "local", "num_cpus": None}]
    assert signal.getsignal(signal.SIGTERM) is sigterm_handler


def test_connect_reuses_an_open_session():
    fake = FakeRay(initialized=True)
    assert connect(fake, "auto") is False and fake.calls == []


def test_no_running_cluster_for_auto_is_a_one_line_error(sigterm_handler):
    fake = FakeRay(fail=ConnectionError("Could not find any running Ray instance.\nmore"))
    with pytest.raises(RayClusterError) as caught:
        connect(fake, "auto")
    assert "\n" not in str(caught.value)
    assert "Could not find any running Ray instance." in str(caught.value)
    assert signal.getsignal(signal.SIGTERM) is sigterm_handler


def _nodes(*resources):
    return SimpleNamespace(nodes=lambda: [{"Alive": True, "Resources": r} for r in resources]
                           + [{"Alive": False, "Resources": {"CPU": 64, "GPU": 8}}])


def test_check_resources(caplog):
    cluster = _nodes({"CPU": 4.0}, {"CPU": 2.0, "GPU": 1.0})
    check_resources(cluster, 4, 0, strict=True)
    check_resources(cluster, 2, 1, strict=True)
    with pytest.raises(RayClusterError, match="the largest has 4 CPUs, 1 GPUs"):
        check_resources(cluster, 3, 1, strict=True)  # no single node has both
    with caplog.at_level(logging.WARNING, logger="bnnas"):
        check_resources(cluster, 8, 0, strict=False)  # an autoscaler may add such a node
    assert "ray_cpus_per_task=8" in caplog.text
