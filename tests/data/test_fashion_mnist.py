import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from bnnas.data import download, fashion_mnist, load_dataset
from bnnas.data.download import download_file as real_download_file
from bnnas.data.fashion_mnist import (
    FILES,
    download_fashion_mnist,
    load_fashion_mnist,
    load_fashion_mnist_folder,
)
from bnnas.errors import DataError

REAL = Path("/usr/share/datasets/fashion-mnist")
HAVE_REAL = all((REAL / f"{stem}.gz").is_file() for stem in FILES)


def _check_tiny(train, test, arrays):
    assert len(train) == 40 and len(test) == 20
    assert train.images.shape == (40, 1, 28, 28)
    assert torch.equal(train.images[:, 0], torch.from_numpy(arrays["train-images-idx3-ubyte"]))
    assert train.labels.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert test.labels.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()


@pytest.mark.parametrize("gz", [True, False])
def test_folder_loads_gz_or_raw(tmp_path, make_fashion_dir, gz):
    folder, md5, arrays = make_fashion_dir(tmp_path / "f", gz=gz)
    _check_tiny(*load_fashion_mnist_folder(folder, md5), arrays)


def test_real_checksums_reject_other_files(tmp_path, make_fashion_dir):
    folder, _, _ = make_fashion_dir(tmp_path / "f")
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz has MD5 .*re-download"):
        load_fashion_mnist_folder(folder)


def test_explicit_data_dir_missing_files_does_not_fall_back(
    tmp_path, make_fashion_dir, isolated, monkeypatch
):
    good, md5, _ = make_fashion_dir(tmp_path / "env" / "fashion-mnist")
    monkeypatch.setenv("BNNAS_DATA", str(tmp_path / "env"))
    monkeypatch.setattr(fashion_mnist, "FASHION_MNIST_MD5", md5)
    assert len(load_dataset("fashion-mnist").train) == 40
    wrong = tmp_path / "typo"
    wrong.mkdir()
    with pytest.raises(DataError, match=r"not found in --data-dir .*typo.*missing train-images"):
        load_dataset("fashion-mnist", wrong)


def test_partial_folder_names_the_missing_file(tmp_path, make_fashion_dir):
    folder, md5, _ = make_fashion_dir(tmp_path / "f")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"missing in .*/f: t10k-labels-idx1-ubyte; put all four"):
        load_fashion_mnist_folder(folder, md5)
    with pytest.raises(DataError, match=r"missing t10k-labels-idx1-ubyte;"):
        load_fashion_mnist(folder, expected_md5=md5)


def test_data_dir_may_be_the_parent(tmp_path, make_fashion_dir, isolated):
    _, md5, arrays = make_fashion_dir(tmp_path / "parent" / "fashion-mnist")
    _check_tiny(*load_fashion_mnist(tmp_path / "parent", expected_md5=md5), arrays)


@pytest.mark.parametrize("sub", ["", "fashion-mnist"])
def test_env_folder_holds_files_or_subfolder(
    tmp_path, make_fashion_dir, isolated, monkeypatch, sub
):
    _, md5, arrays = make_fashion_dir(tmp_path / "env" / sub)
    monkeypatch.setenv("BNNAS_DATA", str(tmp_path / "env"))
    _check_tiny(*load_fashion_mnist(expected_md5=md5), arrays)


def test_search_order_env_then_system_then_cache(tmp_path, make_fashion_dir, isolated, monkeypatch):
    cache = isolated / "bnnas" / "fashion-mnist"
    _, md5, _ = make_fashion_dir(cache)
    assert fashion_mnist.locate_fashion_mnist(expected_md5=md5) == cache
    system = tmp_path / "system"
    make_fashion_dir(system)
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", system)
    assert fashion_mnist.locate_fashion_mnist(expected_md5=md5) == system
    make_fashion_dir(tmp_path / "env")
    monkeypatch.setenv("BNNAS_DATA", str(tmp_path / "env"))
    assert fashion_mnist.locate_fashion_mnist(expected_md5=md5) == tmp_path / "env"


def _fake_server(source: Path, calls: list[str]):
    def fake(url: str, dest: Path) -> None:
        calls.append(url)
        shutil.copy(source / url.rsplit("/", 1)[1], dest)

    return fake


def test_download_fills_the_cache(tmp_path, make_fashion_dir, isolated, monkeypatch):
    upstream, md5, arrays = make_fashion_dir(tmp_path / "upstream")
    calls: list[str] = []
    monkeypatch.setattr(download, "download_file", _fake_server(upstream, calls))
    monkeypatch.setattr(fashion_mnist, "FASHION_MNIST_MD5", md5)
    dataset = load_dataset("fashion-mnist")
    _check_tiny(dataset.train, dataset.test, arrays)
    assert sorted(calls) == sorted(fashion_mnist.URL + f"{s}.gz" for s in FILES)
    cache = isolated / "bnnas" / "fashion-mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{s}.gz" for s in FILES)
    calls.clear()
    load_dataset("fashion-mnist")
    assert calls == []  # found in the cache now


def test_download_only_fetches_missing_files(tmp_path, make_fashion_dir, isolated):
    upstream, md5, _ = make_fashion_dir(tmp_path / "upstream")
    cache = isolated / "bnnas" / "fashion-mnist"
    cache.mkdir(parents=True)
    shutil.copy(upstream / "train-images-idx3-ubyte.gz", cache)
    calls: list[str] = []
    download_fashion_mnist(cache, expected_md5=md5, downloader=_fake_server(upstream, calls))
    assert len(calls) == 3 and not any("train-images" in c for c in calls)


def test_corrupt_download_is_not_kept(tmp_path, make_fashion_dir, isolated):
    upstream, md5, _ = make_fashion_dir(tmp_path / "upstream")
    md5["t10k-images-idx3-ubyte"] = "0" * 32
    with pytest.raises(DataError, match=r"download failed: .*t10k-images-idx3-ubyte.gz has MD5"):
        load_fashion_mnist(expected_md5=md5, downloader=_fake_server(upstream, []))
    cache = isolated / "bnnas" / "fashion-mnist"
    names = {p.name for p in cache.iterdir()}
    assert "t10k-images-idx3-ubyte.gz" not in names
    assert not any(n.endswith(".part") for n in names)


def test_no_network_gives_one_clear_error(isolated):
    # The autouse fixture's downloader raises OSError like an unreachable network.
    with pytest.raises(DataError) as info:
        load_dataset("fashion-mnist")
    message = str(info.value)
    assert "Fashion-MNIST not found in" in message and "no-system-data" in message
    assert "download failed: network disabled" in message
    assert "apt-get install dataset-fashion-mnist" in message and "--data-dir" in message
    assert "\n" not in message


def test_download_false_does_not_download(isolated, monkeypatch):
    calls = []
    monkeypatch.setattr(download, "download_file", lambda url, dest: calls.append(url))
    with pytest.raises(DataError, match="downloading is turned off"):
        load_dataset("fashion-mnist", download=False)
    assert calls == []


def test_download_file_writes_whole_file_or_nothing(tmp_path):
    source = tmp_path / "src.bin"
    source.write_bytes(bytes(range(256)) * 10)
    dest = tmp_path / "out" / "copy.bin"
    real_download_file(source.as_uri(), dest)
    assert dest.read_bytes() == source.read_bytes()
    with pytest.raises(DataError, match="download of .*missing.bin failed"):
        real_download_file((tmp_path / "missing.bin").as_uri(), tmp_path / "out" / "m.bin")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["copy.bin"]


@pytest.mark.skipif(not HAVE_REAL, reason="Debian package dataset-fashion-mnist not installed")
def test_real_fashion_mnist_passes_checksums():
    dataset = load_dataset("fashion-mnist", REAL, download=False)
    assert len(dataset.train) == 60000 and len(dataset.test) == 10000
    assert dataset.train.images.shape == (60000, 1, 28, 28)
    assert torch.bincount(dataset.train.labels).tolist() == [6000] * 10
    assert torch.bincount(dataset.test.labels).tolist() == [1000] * 10
    # The published per-pixel mean on the 0..1 scale.
    mean = dataset.train.images.double().mean().item() / 255
    assert mean == pytest.approx(dataset.mean[0], abs=5e-4)
    assert np.isclose(dataset.std[0], 0.3530)
