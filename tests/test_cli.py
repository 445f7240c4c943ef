"""The command line: outputs of each command and the bad-input catalogue (exit 2, one line)."""

import gzip
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from cli_helpers import assert_user_error, run_cli

from bnnas.train import Trainer

FILES = {
    "train-images-idx3-ubyte.gz": (60, 28, 28),
    "train-labels-idx1-ubyte.gz": (60,),
    "t10k-images-idx3-ubyte.gz": (20, 28, 28),
    "t10k-labels-idx1-ubyte.gz": (20,),
}


def write_fake_fashion_mnist(folder, magic_byte=0x08):
    """Well-formed IDX files whose content is not Fashion-MNIST (checksums will not match)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, shape in FILES.items():
        array = rng.integers(0, 10 if len(shape) == 1 else 256, shape, dtype=np.uint8)
        header = bytes([0, 0, magic_byte, len(shape)]) + np.asarray(shape, ">u4").tobytes()
        (folder / name).write_bytes(gzip.compress(header + array.tobytes()))
    return folder


FAST_TRAIN = ["--epochs", "1", "--no-progress", "--set", "data.batch_size=250"]


def test_summary_json_totals_and_layers(capsys):
    code, out, _ = run_cli(capsys, "summary", "bresnet_small", "--input", "1x28x28", "--json")
    data = json.loads(out)
    assert code == 0
    totals = data["totals"]
    for key in ("bops", "flops", "ops", "params", "memory_bits"):
        assert isinstance(totals[key], (int, float)) and totals[key] > 0
    assert totals["ops"] == pytest.approx(totals["bops"] / 64 + totals["flops"])
    assert len(data["layers"]) > 5 and "name" in data["layers"][0]


def test_summary_profiles_the_network_train_builds_at_that_input_size(capsys, tmp_path):
    from bnnas.metrics import profile
    from bnnas.train import load_trained_model

    run = tmp_path / "run"
    assert run_cli(capsys, "train", "--model", "reactnet_a", "--out", run, "--set",
                   "data.limit=250", "--set", "data.eval_batch_size=250", *FAST_TRAIN)[0] == 0
    model, state = load_trained_model(run / "final.pt")
    trained = profile(model, tuple(state["meta"]["input_shape"])).totals["ops"]
    code, out, _ = run_cli(capsys, "summary", "reactnet_a", "--input", "1x28x28", "--json")
    data = json.loads(out)
    assert code == 0 and data["stem"] == "small"
    assert data["totals"]["ops"] == trained
    code, out, _ = run_cli(capsys, "summary", "reactnet_a", "--input", "1x28x28",
                           "--arg", "stem=imagenet", "--json")
    data = json.loads(out)
    assert "stem" not in data and data["totals"]["ops"] < trained / 3  # 7x7 after the stem
    code, out, _ = run_cli(capsys, "summary", "reactnet_a", "--input", "1x28x28")
    assert code == 0 and out.startswith("reactnet_a: stem=small, as `bnnas train` builds it")


def test_summary_table_and_list(capsys):
    code, out, _ = run_cli(capsys, "summary", "birealnet18", "--input", "3x224x224")
    assert code == 0 and "BOPs" in out and "1.68 G" in out
    code, out, _ = run_cli(capsys, "summary", "--list")
    assert code == 0 and {"birealnet18", "reactnet_a", "bresnet_small"} <= set(out.split())


def test_train_then_eval_then_refuse_to_clobber(capsys, tmp_path):
    run = tmp_path / "run"
    code, out, _ = run_cli(capsys, "train", "--out", run, *FAST_TRAIN)
    assert code == 0 and "test accuracy" in out
    for name in ("config.yaml", "revision.txt", "log.txt", "metrics.jsonl", "final.pt"):
        assert (run / name).is_file(), name
    accuracy = json.loads((run / "result.json").read_text())["test_acc"]
    code, out, _ = run_cli(capsys, "eval", run, "--json")
    assert code == 0 and json.loads(out)["acc"] == pytest.approx(accuracy)

    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    code, _, err = run_cli(capsys, "train", "--out", run, *FAST_TRAIN)
    assert_user_error(code, err, "already exists", "--resume")
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == before


def test_eval_recalibrates_stale_batch_norm_statistics(capsys, tmp_path):
    from bnnas.train.checkpoint import load_checkpoint, save_checkpoint

    run = tmp_path / "run"
    assert run_cli(capsys, "train", "--out", run, *FAST_TRAIN)[0] == 0
    code, out, _ = run_cli(capsys, "eval", run, "--json")
    trained = json.loads(out)["acc"]
    state = load_checkpoint(run / "final.pt")
    for key, value in state["model"].items():  # running means far from any batch's
        if key.endswith("running_mean"):
            value.add_(5.0)
    stale = save_checkpoint(tmp_path / "stale.pt", state)
    written = stale.read_bytes()

    code, out, _ = run_cli(capsys, "eval", stale, "--json")
    spoiled = json.loads(out)["acc"]
    code, out, _ = run_cli(capsys, "eval", stale, "--json", "--recalibrate-bn", "4")
    fixed = json.loads(out)
    assert code == 0 and fixed["recalibrated_on"] == 4 * 250
    assert spoiled < trained - 20 and fixed["acc"] > trained - 10
    code, out, _ = run_cli(capsys, "eval", stale, "--recalibrate-bn", "4")
    assert f"accuracy {fixed['acc']:.2f}%" in out and "re-estimated on 1000 training" in out
    assert stale.read_bytes() == written  # evaluation never writes the checkpoint

    code, _, err = run_cli(capsys, "eval", stale, "--recalibrate-bn", "0")
    assert_user_error(code, err, "--recalibrate-bn N (N >= 1)")


def test_print_config_shows_overrides(capsys):
    code, out, _ = run_cli(capsys, "train", "--print-config", "--model", "birealnet18",
                           "--set", "optim.lr=0.01")
    assert code == 0 and "name: birealnet18" in out and "lr: 0.01" in out


# ------------------------------------------------------------------ bad input catalogue
def test_unknown_model(capsys):
    assert_user_error(*run_cli(capsys, "summary", "resnet9000")[::2], "unknown model",
                      "birealnet18")


@pytest.mark.parametrize("text", ["3x224", "axbxc", "3x0x10", "3x-2x2", "224"])
def test_malformed_input_size(capsys, text):
    code, _, err = run_cli(capsys, "summary", "birealnet18", "--input", text)
    assert_user_error(code, err, "malformed --input", "CxHxW")


def test_unknown_config_key(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--out", tmp_path / "r", "--set", "optim.lrr=1")
    assert_user_error(code, err, "unknown config key 'optim.lrr'")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("override", ["optim.lr=-0.1", "optim.epochs=0", "optim.lr=.nan",
                                      "data.batch_size=0", "optim.label_smoothing=1.5"])
def test_out_of_range_values(capsys, tmp_path, override):
    code, _, err = run_cli(capsys, "train", "--out", tmp_path / "r", "--set", override)
    assert_user_error(code, err, override.split("=")[0])


def test_unknown_key_in_config_file(capsys, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("optim:\n  epochz: 3\n")
    code, _, err = run_cli(capsys, "train", "--config", config, "--out", tmp_path / "r")
    assert_user_error(code, err, "optim.epochz")


def test_missing_data_files(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--data", "fashion-mnist", "--data-dir",
                           tmp_path / "empty", "--out", tmp_path / "r", *FAST_TRAIN)
    assert_user_error(code, err, "Fashion-MNIST files not found", "--data-dir")
    assert not (tmp_path / "r").exists()  # nothing is created for a run that cannot start


def test_checksum_mismatch(capsys, tmp_path):
    folder = write_fake_fashion_mnist(tmp_path / "fm")
    code, _, err = run_cli(capsys, "train", "--data", "fashion-mnist", "--data-dir", folder,
                           "--out", tmp_path / "r", *FAST_TRAIN)
    assert_user_error(code, err, "MD5")


def test_corrupt_data_file(capsys, tmp_path):
    folder = write_fake_fashion_mnist(tmp_path / "fm", magic_byte=0x42)
    code, _, err = run_cli(capsys, "train", "--data", "fashion-mnist", "--data-dir", folder,
                           "--out", tmp_path / "r", *FAST_TRAIN)
    assert_user_error(code, err, "train-")


def test_unwritable_output_folder(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    code, _, err = run_cli(capsys, "train", "--out", blocker / "run", *FAST_TRAIN)
    assert_user_error(code, err, "cannot write")
    assert blocker.read_text() == "mine"


def test_resume_of_a_folder_that_is_not_a_run(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--resume", tmp_path)
    assert_user_error(code, err, "not a run folder")


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(capsys, tmp_path, monkeypatch):
    original = Trainer._loss

    def poisoned(self, logits, x, y):
        loss = original(self, logits, x, y)
        return loss * float("nan") if self.epoch == 1 else loss

    monkeypatch.setattr(Trainer, "_loss", poisoned)
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "--out", run, "--epochs", "2", "--no-progress",
                           "--set", "data.batch_size=250")
    assert_user_error(code, err, "loss became nan at epoch 2 step 1", "epoch-0001.pt")
    assert torch.load(run / "checkpoints" / "epoch-0001.pt", weights_only=True)["epoch"] == 1


def test_eval_of_a_corrupt_checkpoint(capsys, tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a checkpoint")
    assert_user_error(*run_cli(capsys, "eval", bad)[::2], "corrupt")


def test_console_script_exit_code_and_no_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "bnnas", "summary", "nosuchmodel"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("bnnas: error: unknown model") and "Traceback" not in proc.stderr


def test_the_help_names_every_search_method(capsys):
    from bnnas.cli import build_parser
    from bnnas.search.methods import SEARCH_METHODS

    for argv in (["--help"], ["search", "--help"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(argv)
        text = capsys.readouterr().out
        flat = " ".join(text.split())
        for name in SEARCH_METHODS.names():
            assert name in flat, f"{name} missing from bnnas {' '.join(argv)}:\n{text}"
