"""``bnnas export`` and ``bnnas predict`` from the command line, and their bad-input catalogue
(exit code 2, one line on stderr naming the problem and the fix)."""

import hashlib
import struct

import numpy as np
import pytest
import torch
from cli_helpers import assert_user_error as _assert_user_error
from cli_helpers import run_cli

from bnnas.cli import main
from bnnas.config import load_config, to_dict
from bnnas.data import default_eval_transform, load_dataset
from bnnas.export.engine import Engine
from bnnas.export.fileformat import DIGEST_BYTES, FORMAT_VERSION, MAGIC
from bnnas.metrics import profile
from bnnas.space import CellGenotype, Genotype, Layout, Network
from bnnas.train import TrainConfig, build_model, save_checkpoint
from bnnas.train.builder import model_meta


def assert_user_error(code, err, *fragments):
    """These commands' errors must also be the only line on stderr."""
    _assert_user_error(code, err, *fragments, alone=True)


SHAPE = (1, 28, 28)


def fashion_batch(n: int):
    dataset = load_dataset("fashion-mnist-small")
    pixels, labels = dataset.test.fetch(torch.arange(n))
    return pixels, default_eval_transform(dataset)(pixels), labels


def train_on_fashion(model, steps: int = 8):
    dataset = load_dataset("fashion-mnist-small")
    pixels, labels = dataset.train.fetch(torch.arange(256))
    x = default_eval_transform(dataset)(pixels)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    for step in range(steps):
        batch = slice(32 * step % 256, 32 * step % 256 + 32)
        loss = torch.nn.functional.cross_entropy(model(x[batch]), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def save_run(folder, overrides, model):
    config = load_config(TrainConfig, None, overrides)
    folder.mkdir(parents=True, exist_ok=True)
    save_checkpoint(folder / "final.pt", {"config": to_dict(config), "epoch": 1,
                                          "meta": model_meta(10, SHAPE),
                                          "model": model.state_dict()})
    return folder


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A bresnet_small run folder as `bnnas train` leaves it, trained a few steps."""
    torch.manual_seed(0)
    overrides = ["model.name=bresnet_small", "model.args.blocks_per_stage=1"]
    config = load_config(TrainConfig, None, overrides)
    model = train_on_fashion(build_model(config.model, 10, SHAPE))
    return save_run(tmp_path_factory.mktemp("run"), overrides, model), model


@pytest.fixture(scope="module")
def packed_file(trained_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("packed") / "model.bnn"
    assert main(["export", str(trained_run[0]), "--out", str(out)]) == 0
    return out


def test_export_prints_the_file_size_and_the_profile_memory(trained_run, tmp_path, capsys):
    run, model = trained_run
    out = tmp_path / "model.bnn"
    code, stdout, _ = run_cli(capsys, "export", run, "--format", "packed", "--out", out)
    assert code == 0
    memory = profile(model, SHAPE).totals["memory_bits"]
    assert f"wrote {out} ({out.stat().st_size} bytes)" in stdout
    assert f"profile memory {memory / 8:.1f} bytes ({memory} bits" in stdout
    meta = Engine.load(out).meta
    assert meta["architecture"] == {"kind": "zoo", "name": "bresnet_small",
                                    "kwargs": {"blocks_per_stage": 1}}
    assert meta["normalization"] == {"mean": [0.286], "std": [0.353]}
    assert meta["classes"][9] == "Ankle boot"


def test_predict_on_the_dataset_matches_torch(trained_run, packed_file, capsys):
    _, model = trained_run
    _, x, labels = fashion_batch(40)
    with torch.no_grad():
        expected = model(x).argmax(1)
    code, stdout, _ = run_cli(capsys, "predict", packed_file, "--data", "fashion-mnist-small",
                              "--limit", 40)
    assert code == 0
    lines = stdout.strip().splitlines()
    assert len(lines) == 41
    predicted = [int(line.split(": ")[1].split()[0]) for line in lines[:40]]
    assert predicted == expected.tolist()
    accuracy = 100.0 * (expected == labels).float().mean().item()
    assert lines[-1].startswith(f"fashion-mnist-small test: accuracy {accuracy:.2f}% on 40 ")
    assert accuracy > 15  # a few steps of training already beat chance (10%)


def test_predict_on_npy_and_png_images(trained_run, packed_file, tmp_path, capsys):
    from PIL import Image

    _, model = trained_run
    pixels, x, _ = fashion_batch(3)
    with torch.no_grad():
        expected = model(x).argmax(1).tolist()
    np.save(tmp_path / "three.npy", pixels.numpy()[:, 0])  # N x H x W uint8
    np.save(tmp_path / "float.npy", x.numpy()[1])  # normalised C x H x W
    Image.fromarray(pixels.numpy()[2, 0]).save(tmp_path / "one.png")
    code, stdout, _ = run_cli(capsys, "predict", packed_file, tmp_path / "three.npy",
                              tmp_path / "float.npy", tmp_path / "one.png")
    assert code == 0
    classes = Engine.load(packed_file).meta["classes"]
    got = [line.split(": ")[1] for line in stdout.strip().splitlines()]
    names = [f"{c} ({classes[c]})" for c in expected]
    assert got == [*names, names[1], names[2]]


def test_export_by_model_name_and_by_genotype_with_a_checkpoint(trained_run, tmp_path, capsys):
    run, model = trained_run
    code, _, _ = run_cli(capsys, "export", "--model", "bresnet_small", "--checkpoint",
                         run / "final.pt", "--out", tmp_path / "zoo.bnn")
    assert code == 0
    _, x, _ = fashion_batch(8)
    with torch.no_grad():
        np.testing.assert_allclose(Engine.load(tmp_path / "zoo.bnn")(x.numpy()),
                                   model(x).numpy(), rtol=1e-4, atol=1e-4)

    cell = CellGenotype(nodes=[[("bin_conv_3x3", 0), ("skip_connect", 1)],
                               [("max_pool_3x3", 2), ("bin_dil_conv_3x3", 0)]], concat=[2, 3])
    genotype = Genotype(cell, cell, Layout(cells=2, channels=4, stem_multiplier=1))
    genotype.save(tmp_path / "genotype.json")
    torch.manual_seed(0)
    net = train_on_fashion(Network.from_genotype(genotype, 10, in_channels=1), steps=3)
    save_run(tmp_path / "grun", [f"model.genotype={tmp_path / 'genotype.json'}"], net)
    code, _, _ = run_cli(capsys, "export", "--genotype", tmp_path / "genotype.json",
                         "--checkpoint", tmp_path / "grun" / "final.pt",
                         "--out", tmp_path / "g.bnn")
    assert code == 0
    with torch.no_grad():
        np.testing.assert_allclose(Engine.load(tmp_path / "g.bnn")(x.numpy()), net(x).numpy(),
                                   rtol=1e-4, atol=1e-4)
    code, _, _ = run_cli(capsys, "export", tmp_path / "grun", "--out", tmp_path / "g2.bnn")
    assert code == 0
    assert Engine.load(tmp_path / "g2.bnn").meta["architecture"] == {
        "kind": "genotype", "genotype": genotype.to_dict()}
    assert (tmp_path / "g2.bnn").read_bytes().count(b'"checkpoint"') == 1


# ----------------------------------------------------------------------------- bad input
def rewrite(path, content):
    path.write_bytes(content)
    return path


def test_an_existing_out_file_is_not_overwritten(trained_run, packed_file, tmp_path, capsys):
    out = tmp_path / "model.bnn"
    out.write_bytes(b"keep me")
    code, _, err = run_cli(capsys, "export", trained_run[0], "--out", out)
    assert_user_error(code, err, "already exists", "--overwrite")
    assert out.read_bytes() == b"keep me"
    code, _, _ = run_cli(capsys, "export", trained_run[0], "--out", out, "--overwrite")
    assert code == 0 and out.read_bytes() == packed_file.read_bytes()


@pytest.mark.parametrize("damage,fragments", [
    ("truncate", ("truncated or corrupt", "export the model again")),
    ("tamper", ("checksum mismatch", "export the model again")),
    ("magic", ("not a bnnas packed model", "bnnas export")),
    ("version", (f"version {FORMAT_VERSION + 1}", "re-export")),
])
def test_damaged_model_files_are_refused(packed_file, tmp_path, capsys, damage, fragments):
    content = packed_file.read_bytes()
    if damage == "truncate":
        content = content[: len(content) // 2]
    elif damage == "tamper":
        content = content[:-100] + bytes([content[-100] ^ 1]) + content[-99:]
    elif damage == "magic":
        content = b"\x89PNG\r\n\x1a\n" + content[8:]
    else:
        body = MAGIC + struct.pack("<I", FORMAT_VERSION + 1) + content[12:-DIGEST_BYTES]
        content = body + hashlib.sha256(body).digest()
    path = rewrite(tmp_path / "bad.bnn", content)
    code, _, err = run_cli(capsys, "predict", path, "--data", "fashion-mnist-small",
                           "--limit", 2)
    assert_user_error(code, err, *fragments)


def test_an_input_of_the_wrong_shape_is_refused(packed_file, tmp_path, capsys):
    np.save(tmp_path / "big.npy", np.zeros((2, 1, 32, 32), np.uint8))
    code, _, err = run_cli(capsys, "predict", packed_file, tmp_path / "big.npy")
    assert_user_error(code, err, "big.npy", "2x1x32x32", "1x28x28", "resize")


@pytest.mark.parametrize("argv,fragments", [
    (["export", "--model", "bresnet_small", "--out", "x.bnn"], ("needs --checkpoint",)),
    (["export", "--out", "x.bnn"], ("export one model",)),
    (["export", "nowhere", "--out", "x.bnn"], ("not found",)),
])
def test_export_argument_mistakes(tmp_path, capsys, monkeypatch, argv, fragments):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, *argv)
    assert_user_error(code, err, *fragments)


def test_predict_argument_mistakes(packed_file, tmp_path, capsys):
    code, _, err = run_cli(capsys, "predict", packed_file)
    assert_user_error(code, err, "give image files")
    (tmp_path / "notes.txt").write_text("hello")
    code, _, err = run_cli(capsys, "predict", packed_file, tmp_path / "notes.txt")
    assert_user_error(code, err, "cannot read notes.txt", ".npy")


@pytest.mark.parametrize("argv", [["--threads", "0", "--engine", "fast"], ["--threads", "2"]])
def test_predict_threads_mistakes(packed_file, tmp_path, capsys, argv):
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 28, 28), np.float32))
    code, _, err = run_cli(capsys, "predict", packed_file, tmp_path / "x.npy", *argv)
    assert_user_error(code, err, "--threads N (N >= 1) sets the threads of --engine fast")
