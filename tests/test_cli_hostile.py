"""Hostile inputs, through the command line: every case ends with one line on stderr, exit
code 2 and no traceback, and nothing written before is lost or changed. The full catalogue,
with the cases tested elsewhere, is docs/RELIABILITY.md."""

import errno
import gzip
import json
import os
import resource
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from cli_helpers import assert_user_error, run_cli

from bnnas.cli import main
from bnnas.train import checkpoint as checkpoint_module
from bnnas.train.checkpoint import FORMAT_VERSION, load_checkpoint, save_checkpoint

GENOTYPE = {
    "format": "bnnas-genotype", "version": 1, "space": "darts",
    "structure": "sign-conv-bn+shortcut",
    "layout": {"cells": 2, "channels": 4, "stem_multiplier": 1, "reductions": [0, 1]},
    "normal": {"nodes": [[["bin_conv_3x3", 0], ["skip_connect", 1]]], "concat": [2]},
    "reduce": {"nodes": [[["bin_conv_3x3", 0], ["skip_connect", 1]]], "concat": [2]},
}
TINY_TRAIN = ["--epochs", "1", "--no-progress", "--set", "data.batch_size=64",
              "--set", "data.limit=64", "--set", "model.args.blocks_per_stage=1"]


def snapshot(folder):
    """Every file under ``folder`` with its bytes: what must survive a refused command."""
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def genotype_file(tmp_path, name="g.json", **changes):
    path = tmp_path / name
    path.write_text(json.dumps({**GENOTYPE, **changes}))
    return path


@pytest.fixture
def trained_run(tmp_path_factory):
    """A finished one-epoch run of the small binary ResNet."""
    run = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", "--out", str(run), *TINY_TRAIN]) == 0
    return run


# ------------------------------------------------------------------ genotypes
@pytest.mark.parametrize("content,fragments", [
    pytest.param("{not json", ("malformed genotype JSON",), id="not-json"),
    pytest.param("[" * 100_000 + "]" * 100_000, ("nested too deeply",), id="deep-nesting"),
    pytest.param(json.dumps({**GENOTYPE, "layout": {"cells": 60, "channels": 4000}}),
                 ("limit",), id="huge-layout"),
    pytest.param(json.dumps({**GENOTYPE, "normal": {
        "nodes": [[["rm_rf", 0], ["skip_connect", 1]]], "concat": [2]}}), ("rm_rf",),
        id="unknown-op"),
    pytest.param(json.dumps({**GENOTYPE, "normal": {
        "nodes": [[["bin_conv_3x3", 5], ["skip_connect", 1]]], "concat": [2]}}),
        ("normal.nodes[0]",), id="forward-edge"),
    pytest.param(json.dumps({**GENOTYPE, "layout": {"cells": 2, "channels": -4}}),
                 ("layout.channels",), id="negative-channels"),
    pytest.param(json.dumps({**GENOTYPE, "extra": 1}), ("unknown key",), id="unknown-key"),
    pytest.param(json.dumps({**GENOTYPE, "version": 99}), ("version",), id="newer-version"),
    pytest.param("\xff\xfe garbage", ("genotype",), id="not-utf8"),
])
def test_hostile_genotype_files(capsys, tmp_path, content, fragments):
    path = tmp_path / "g.json"
    path.write_bytes(content.encode("utf-8", "surrogateescape") if "\xff" not in content
                     else b"\xff\xfe garbage")
    for argv in (["summary", "--genotype", path, "--input", "1x28x28"],
                 ["train", "--genotype", path, "--out", tmp_path / "r", *TINY_TRAIN]):
        assert_user_error(*run_cli(capsys, *argv)[::2], *fragments)
        assert not (tmp_path / "r").exists()


def test_oversized_genotype_file(capsys, tmp_path):
    path = tmp_path / "big.json"
    with open(path, "wb") as handle:
        handle.truncate(50 << 20)  # sparse: 50 MB of zeros on paper
    code, _, err = run_cli(capsys, "summary", "--genotype", path, "--input", "1x28x28")
    assert_user_error(code, err, "above the", "limit")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
@pytest.mark.parametrize("argv,fragment", [
    pytest.param(["summary", "--genotype", "/dev/zero", "--input", "1x28x28"], "limit",
                 id="genotype"),
    pytest.param(["summary", "--genotype", "/dev/zero", "--pick", "best", "--input",
                  "1x28x28"], "limit", id="pareto"),
    pytest.param(["train", "--config", "/dev/zero"], "bytes", id="config"),
    pytest.param(["predict", "/dev/zero", "--data", "fashion-mnist-small"], "regular file",
                 id="model"),
])
def test_endless_files_are_refused_not_read(capsys, argv, fragment):
    """``/dev/zero`` says it holds 0 bytes and never ends: read whole, it fills the memory."""
    assert_user_error(*run_cli(capsys, *argv)[::2], fragment)


# ------------------------------------------------------------------ configs
@pytest.mark.parametrize("override,fragment", [
    ("optim.lr=.inf", "optim.lr"),
    ("optim.lr=-.inf", "optim.lr"),
    ("optim.momentum=.nan", "optim.momentum"),
    ("data.batch_size=-64", "data.batch_size"),
    ("data.limit=-5", "data.limit"),
    ("optim.grad_clip=.nan", "optim.grad_clip"),
    ("model.args.blocks_per_stage=-1", "blocks_per_stage"),
    ("seed=1e400", "seed"),
    ("nosuch=1", "unknown config key"),
    ("optim", "key=value"),
])
def test_hostile_train_settings(capsys, tmp_path, override, fragment):
    code, _, err = run_cli(capsys, "train", "--out", tmp_path / "r", *TINY_TRAIN,
                           "--set", override)
    assert_user_error(code, err, fragment)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("method,override,fragment", [
    ("ubnas", "arch.lr=.nan", "arch.lr"),
    ("ubnas", "space.channels=-8", "space.channels"),
    ("ubnas", "space.cells=2", "normal cell"),
    ("ubnas", "epochs=.inf", "epochs"),
    ("mots", "evolution.mutation_rate=.nan", "mutation_rate"),
    ("mots", "evolution.population=-3", "population"),
    ("bars", "budget.ops=.inf", "budget.ops"),
    ("bars", "budget.ops=-1", "budget.ops"),
])
def test_hostile_search_settings(capsys, tmp_path, method, override, fragment):
    code, _, err = run_cli(capsys, "search", "--method", method, "--out", tmp_path / "r",
                           "--set", override, "--set", "data.limit=256", "--no-progress")
    assert_user_error(code, err, fragment)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("text,fragment", [
    ("optim: [1, 2\n", "c.yaml"),
    ("- just\n- a list\n", "mapping"),
    ("optim: !!python/object/apply:os.system ['touch pwned']\n", "c.yaml"),
    ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
     "unknown config key"),
    ("\x00\x01\x02binary", "c.yaml"),
])
def test_hostile_config_files(capsys, tmp_path, monkeypatch, text, fragment):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "c.yaml"
    config.write_text(text)
    code, _, err = run_cli(capsys, "train", "--config", config, "--out", tmp_path / "r")
    assert_user_error(code, err, fragment)
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "r").exists()


# ------------------------------------------------------------------ data
def _idx_folder(folder, shapes):
    folder.mkdir()
    for name, shape in shapes.items():
        header = bytes([0, 0, 8, len(shape)]) + np.asarray(shape, ">u4").tobytes()
        (folder / name).write_bytes(gzip.compress(header + bytes(int(np.prod(shape)))))
    return folder


FILES = {"train-images-idx3-ubyte.gz": (6, 28, 28), "train-labels-idx1-ubyte.gz": (6,),
         "t10k-images-idx3-ubyte.gz": (2, 28, 28), "t10k-labels-idx1-ubyte.gz": (2,)}


def test_truncated_gzip_data_file(capsys, tmp_path):
    folder = _idx_folder(tmp_path / "fm", FILES)
    images = folder / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:40])
    code, _, err = run_cli(capsys, "train", "--data", "fashion-mnist", "--data-dir", folder,
                           "--out", tmp_path / "r", *TINY_TRAIN)
    assert_user_error(code, err, "train-images-idx3-ubyte.gz")
    assert not (tmp_path / "r").exists()


def test_images_with_wrong_dimensions(capsys, tmp_path):
    folder = _idx_folder(tmp_path / "fm", {**FILES, "train-images-idx3-ubyte.gz": (6, 28)})
    code, _, err = run_cli(capsys, "train", "--data", "fashion-mnist", "--data-dir", folder,
                           "--out", tmp_path / "r", *TINY_TRAIN)
    assert_user_error(code, err, "train-images-idx3-ubyte", "MD5")  # the checksum comes first


# ------------------------------------------------------------------ run folders and paths
def test_out_is_a_symlink_to_someone_elses_folder(capsys, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    (tmp_path / "link").symlink_to(victim)
    for overwrite in ([], ["--overwrite"]):
        code, _, err = run_cli(capsys, "train", "--out", tmp_path / "link", *overwrite,
                               *TINY_TRAIN)
        assert_user_error(code, err, "not a folder")
    assert snapshot(victim) == {victim / "precious.txt": b"keep me"}


def test_dangling_symlink_as_out(capsys, tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    code, _, err = run_cli(capsys, "search", "--out", tmp_path / "link", "--no-progress")
    assert_user_error(code, err, "not a folder")
    assert not (tmp_path / "nowhere").exists()


def test_export_out_symlink_is_not_followed(capsys, tmp_path, trained_run):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "model.bnn").symlink_to(victim)
    code, _, err = run_cli(capsys, "export", trained_run, "--out", tmp_path / "model.bnn")
    assert_user_error(code, err, "exists")
    assert victim.read_text() == "keep me"


def test_existing_run_folder_is_kept(capsys, trained_run):
    before = snapshot(trained_run)
    code, _, err = run_cli(capsys, "train", "--out", trained_run, *TINY_TRAIN)
    assert_user_error(code, err, "already exists", "--resume")
    assert snapshot(trained_run) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_parent_folder(capsys, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, _, err = run_cli(capsys, "search", "--out", locked / "r", "--no-progress")
    finally:
        locked.chmod(0o700)
    assert_user_error(code, err, "cannot write")


def test_disk_full_while_checkpointing_keeps_the_old_checkpoint(capsys, tmp_path, trained_run,
                                                                monkeypatch):
    before = snapshot(trained_run / "checkpoints")

    def full(handle, state, name):
        handle.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_module, "_write", full)
    code, _, err = run_cli(capsys, "train", "--resume", trained_run, "--epochs", "2",
                           "--no-progress")
    assert_user_error(code, err, "cannot write checkpoint", "No space left on device")
    assert snapshot(trained_run / "checkpoints") == before


def _file_size_limit(limit: int):
    """For a child process: writes beyond ``limit`` bytes fail with EFBIG, as on a full disk
    (SIGXFSZ, which would kill the process instead, is ignored)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_real_write_limit_while_checkpointing(tmp_path, trained_run):
    before = snapshot(trained_run / "checkpoints")
    proc = subprocess.run(
        [sys.executable, "-m", "bnnas", "train", "--resume", str(trained_run), "--epochs", "2",
         "--no-progress"], capture_output=True, text=True, timeout=600,
        preexec_fn=_file_size_limit(200_000), env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert_user_error(proc.returncode, proc.stderr, "cannot write checkpoint", "too large")
    assert snapshot(trained_run / "checkpoints") == before


# ------------------------------------------------------------------ checkpoints
def test_resume_with_a_checkpoint_of_another_model(capsys, tmp_path, trained_run):
    other = tmp_path / "other"
    assert main(["train", "--out", str(other), *TINY_TRAIN[:-2],
                 "--set", "model.args.blocks_per_stage=2"]) == 0
    capsys.readouterr()
    shutil.copy(other / "checkpoints" / "epoch-0001.pt",
                trained_run / "checkpoints" / "epoch-0001.pt")
    before = snapshot(trained_run)
    code, _, err = run_cli(capsys, "train", "--resume", trained_run, "--no-progress")
    assert_user_error(code, err, "does not match")
    assert {p: b for p, b in snapshot(trained_run).items() if p.name != "log.txt"} == {
        p: b for p, b in before.items() if p.name != "log.txt"}


@pytest.mark.parametrize("damage", ["rng_cpu", "epoch", "optimizer"])
def test_resume_with_a_checkpoint_missing_or_garbling_a_part(capsys, trained_run, damage):
    path = trained_run / "checkpoints" / "epoch-0001.pt"
    state = load_checkpoint(path)
    state.pop("format_version")
    if damage == "epoch":
        state["epoch"] = "one"
    elif damage == "rng_cpu":
        del state["rng_cpu"]
    else:
        state["optimizer"] = [1, 2, 3]
    save_checkpoint(path, state)
    before = snapshot(trained_run / "checkpoints")
    code, _, err = run_cli(capsys, "train", "--resume", trained_run, "--no-progress")
    assert_user_error(code, err, "epoch-0001.pt")
    assert snapshot(trained_run / "checkpoints") == before


def test_checkpoint_of_a_newer_version(capsys, tmp_path, trained_run):
    state = load_checkpoint(trained_run / "final.pt")
    state.pop("format_version")
    path = tmp_path / "future.pt"
    with open(path, "wb") as handle:
        torch.save({"format_version": FORMAT_VERSION + 1, **state}, handle)
    assert_user_error(*run_cli(capsys, "eval", path)[::2], "format version")


def test_search_resumed_from_a_train_checkpoint(capsys, tmp_path, trained_run):
    run = tmp_path / "search"
    run.mkdir()
    (run / "method.txt").write_text("ubnas\n")
    (run / "config.yaml").write_text("data:\n  limit: 256\n")
    save_checkpoint(run / "checkpoints" / "epoch-0001.pt",
                    {k: v for k, v in load_checkpoint(trained_run / "final.pt").items()
                     if k != "format_version"})
    code, _, err = run_cli(capsys, "search", "--resume", run, "--no-progress")
    assert_user_error(code, err, "not from a ubnas search")


def test_tampered_method_file(capsys, tmp_path):
    run = tmp_path / "search"
    run.mkdir()
    (run / "method.txt").write_text("../../etc/passwd\n")
    (run / "config.yaml").write_text("{}\n")
    assert_user_error(*run_cli(capsys, "search", "--resume", run)[::2], "search method")


def test_pickle_in_a_npy_input_is_not_loaded(capsys, tmp_path, trained_run):
    model = tmp_path / "m.bnn"
    assert main(["export", str(trained_run), "--out", str(model)]) == 0
    capsys.readouterr()
    np.save(tmp_path / "evil.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    code, _, err = run_cli(capsys, "predict", model, tmp_path / "evil.npy")
    assert_user_error(code, err, "evil.npy")
