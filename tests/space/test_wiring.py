"""The genotype reaches the command line, the trainer and checkpoints."""

import json

import pytest
from cli_helpers import run_cli

from bnnas.space.genotype import CellGenotype, Genotype
from bnnas.space.layout import Layout
from bnnas.train import load_trained_model
from bnnas.train.builder import build_model
from bnnas.train.config import ModelConfig


@pytest.fixture
def genotype_file(tmp_path):
    cell = CellGenotype(
        nodes=((("bin_conv_3x3", 0), ("skip_connect", 1)),
               (("max_pool_3x3", 2), ("bin_dil_conv_3x3", 0))),
        concat=(2, 3),
    )
    genotype = Genotype(cell, cell, Layout(cells=2, channels=2, reductions=(0, 1)),
                        "sign-conv-bn+shortcut")
    return genotype.save(tmp_path / "genotype.json")


def test_summary_of_a_genotype(capsys, genotype_file):
    code, out, _ = run_cli(capsys, "summary", "--genotype", genotype_file, "--input", "1x28x28",
                           "--json")
    assert code == 0
    data = json.loads(out)
    assert data["model"] == "genotype" and data["genotype"] == str(genotype_file)
    assert data["totals"]["bops"] > 0
    real = {layer["name"] for layer in data["layers"] if layer["real_macs"] > 0}
    assert real == {"stem.0", "classifier"}  # only the stem and the head are real-valued
    stem = next(layer for layer in data["layers"] if layer["name"] == "stem.0")
    head = next(layer for layer in data["layers"] if layer["name"] == "classifier")
    assert data["totals"]["flops"] == stem["real_macs"] + head["real_macs"]
    assert stem["real_macs"] == 28 * 28 * 6 * 9  # 1 -> 3 x 2 channels, 3x3

    code, out, _ = run_cli(capsys, "summary", "--genotype", genotype_file, "--input", "1x28x28",
                           "--json", "--arg", "cells=6", "--arg", "channels=8")
    assert code == 0 and json.loads(out)["totals"]["bops"] > 4 * data["totals"]["bops"]


def test_summary_errors(capsys, genotype_file, tmp_path):
    code, _, err = run_cli(capsys, "summary", "bresnet_small", "--genotype", genotype_file)
    assert code == 2 and "not both" in err
    bad = tmp_path / "bad.json"
    bad.write_text(genotype_file.read_text().replace('"max_pool_3x3", 2', '"max_pool_3x3", 3'))
    code, _, err = run_cli(capsys, "summary", "--genotype", bad, "--input", "1x28x28")
    assert code == 2 and "normal.nodes[1][0]: input 3 is not an earlier node" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = run_cli(capsys, "summary", "--genotype", genotype_file, "--arg", "depth=3")
    assert code == 2 and "unknown layout setting 'depth'" in err


def test_train_a_genotype_then_eval_from_the_checkpoint_alone(capsys, tmp_path, genotype_file):
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "--genotype", genotype_file, "--epochs", "1",
                             "--no-progress", "--set", "data.batch_size=250", "--out", run)
    assert code == 0, err
    accuracy = json.loads((run / "result.json").read_text())["test_acc"]
    genotype_file.rename(tmp_path / "moved.json")  # the checkpoint must not need the file
    code, out, err = run_cli(capsys, "eval", run, "--json")
    assert code == 0, err
    assert json.loads(out)["acc"] == pytest.approx(accuracy)
    model, state = load_trained_model(run / "final.pt")
    assert model.genotype() == Genotype.load(tmp_path / "moved.json")
    assert state["config"]["model"]["genotype"] == str(genotype_file)


def test_build_model_applies_layout_args(genotype_file):
    config = ModelConfig(genotype=str(genotype_file), args={"cells": 4, "channels": 6})
    model = build_model(config, 10, (1, 28, 28))
    assert model.genotype().layout == Layout(4, 6)


@pytest.mark.parametrize("mutate,fragment", [
    (lambda t: t[: len(t) // 2], "malformed genotype JSON"),
    (lambda t: t.replace('"max_pool_3x3"', '"max_pool_9x9"', 1), "max_pool_9x9"),
    (lambda t: t.replace('"version": 1', '"version": 7'), "version"),
])
def test_bad_genotype_files_for_train_and_summary(capsys, tmp_path, genotype_file, mutate,
                                                   fragment):
    bad = tmp_path / "bad.json"
    bad.write_text(mutate(genotype_file.read_text()))
    for argv in (("summary", "--genotype", bad, "--input", "1x28x28"),
                 ("train", "--genotype", bad, "--out", tmp_path / "run", "--epochs", "1")):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and fragment in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
