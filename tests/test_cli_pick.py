"""``--genotype RUN/pareto.json --pick N|smallest|best`` for ``bnnas summary`` and ``train``."""

import json

import pytest
import yaml
from cli_helpers import assert_user_error, run_cli

from bnnas.metrics import profile
from bnnas.search.pareto import ParetoFront, ParetoMember
from bnnas.space import CellGenotype, Genotype, Layout, Network
from bnnas.train import load_trained_model

INPUT = (1, 28, 28)
CELL = CellGenotype(
    nodes=((("bin_conv_3x3", 0), ("skip_connect", 1)),
           (("max_pool_3x3", 2), ("bin_dil_conv_3x3", 0))),
    concat=(2, 3),
)
FAST_TRAIN = ["--epochs", "1", "--no-progress", "--set", "data.batch_size=250"]


def member(channels, error):
    """A member whose costs are the real ones of its network on 1x28x28, 10 classes."""
    genotype = Genotype(CELL, CELL, Layout(cells=2, channels=channels, reductions=(0, 1)))
    totals = profile(Network.from_genotype(genotype, 10, in_channels=1), INPUT).totals
    return ParetoMember(error=error, size=totals["memory_bits"], ops=totals["ops"],
                        memory_bits=totals["memory_bits"], params=totals["params"],
                        genotype=genotype)


@pytest.fixture(scope="module")
def front():
    # "best" (lowest error) is the middle member, so it differs from "smallest" and index 2.
    return ParetoFront("mots", ("error", "memory_bits"),
                       (member(2, 30.0), member(3, 20.0), member(6, 25.0)))


@pytest.fixture
def pareto_file(front, tmp_path):
    return front.save(tmp_path / "search" / "pareto.json")


def summary_json(capsys, pareto_file, *pick):
    code, out, err = run_cli(capsys, "summary", "--genotype", pareto_file, *pick,
                             "--input", "1x28x28", "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("pick,index", [("smallest", 0), ("best", 1), ("2", 2)])
def test_summary_of_a_picked_member(capsys, front, pareto_file, pick, index):
    data = summary_json(capsys, pareto_file, "--pick", pick)
    chosen = front.members[index]
    assert (data["pick"], data["member"]) == (pick, index)
    assert data["totals"]["params"] == chosen.params
    assert data["totals"]["memory_bits"] == pytest.approx(chosen.memory_bits)
    others = {m.params for i, m in enumerate(front.members) if i != index}
    assert chosen.params not in others  # the members really differ


def test_summary_table_names_the_member(capsys, pareto_file):
    code, out, _ = run_cli(capsys, "summary", "--genotype", pareto_file, "--pick", "best",
                           "--input", "1x28x28")
    assert code == 0
    assert out.splitlines()[0] == f"{pareto_file}: member 1 (--pick best)"
    assert "BOPs" in out


def test_summary_of_a_genotype_file_is_unchanged(capsys, front, tmp_path):
    path = front.members[0].genotype.save(tmp_path / "genotype.json")
    data = summary_json(capsys, path)
    assert "pick" not in data and "member" not in data
    assert data["totals"]["params"] == front.members[0].params


@pytest.mark.parametrize("argv,fragments", [
    ([], ["is a Pareto front of 3 architectures", "--pick N|smallest|best"]),
    (["--pick", "7"], ["pick 7 is out of range", "has 3 members (0..2)",
                       "'smallest' or 'best'"]),
    (["--pick", "largest"], ["unknown pick 'largest'"]),
])
def test_summary_pick_errors(capsys, pareto_file, argv, fragments):
    code, _, err = run_cli(capsys, "summary", "--genotype", pareto_file, *argv,
                           "--input", "1x28x28")
    assert_user_error(code, err, str(pareto_file), *fragments)


def test_pick_needs_a_pareto_file(capsys, front, tmp_path):
    path = front.members[0].genotype.save(tmp_path / "genotype.json")
    code, _, err = run_cli(capsys, "summary", "--genotype", path, "--pick", "best")
    assert_user_error(code, err, "--pick applies to a pareto.json, not to a genotype file")
    code, _, err = run_cli(capsys, "summary", "bresnet_small", "--pick", "best")
    assert_user_error(code, err, "--pick", "--genotype")


@pytest.mark.parametrize("argv,fragments", [
    (["--genotype", "PARETO"], ["is a Pareto front of 3 architectures", "--pick"]),
    (["--genotype", "PARETO", "--pick", "3"], ["pick 3 is out of range"]),
    (["--genotype", "GENOTYPE", "--pick", "0"], ["--pick applies to a pareto.json"]),
    (["--pick", "best"], ["model.pick='best'", "model.genotype"]),
])
def test_train_pick_errors_leave_no_run_folder(capsys, front, pareto_file, tmp_path, argv,
                                               fragments):
    genotype_file = front.members[0].genotype.save(tmp_path / "genotype.json")
    files = {"PARETO": str(pareto_file), "GENOTYPE": str(genotype_file)}
    argv = [files.get(a, a) for a in argv]
    code, _, err = run_cli(capsys, "train", *argv, "--out", tmp_path / "run", *FAST_TRAIN)
    assert_user_error(code, err, *fragments)
    assert not (tmp_path / "run").exists()


def test_print_config_keeps_the_pick_as_typed(capsys, pareto_file):
    code, out, _ = run_cli(capsys, "train", "--print-config", "--genotype", pareto_file,
                           "--pick", "010")
    assert code == 0
    assert yaml.safe_load(out)["model"]["pick"] == "010"  # a string, not YAML's octal 8


def test_train_a_picked_member_then_resume_and_eval(capsys, front, pareto_file, tmp_path):
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "--genotype", pareto_file, "--pick", "best",
                             "--out", run, *FAST_TRAIN)
    assert code == 0, err
    config = yaml.safe_load((run / "config.yaml").read_text())["model"]
    assert (config["genotype"], config["pick"]) == (str(pareto_file), "best")
    model, _ = load_trained_model(run / "final.pt")
    assert model.genotype() == front.members[1].genotype

    # Resume rebuilds the same member from the stored config and continues its checkpoint.
    code, out, err = run_cli(capsys, "train", "--resume", run, "--no-progress",
                             "--set", "optim.epochs=2")
    assert code == 0, err
    assert json.loads((run / "result.json").read_text())["epochs"] == 2

    # The checkpoint alone rebuilds the network: the pareto file is not needed any more.
    pareto_file.unlink()
    model, state = load_trained_model(run / "final.pt")
    assert model.genotype() == front.members[1].genotype
    assert state["config"]["model"]["pick"] == "best"


def test_export_a_picked_member_from_its_pareto_file(capsys, front, pareto_file, tmp_path):
    """``bnnas export --genotype pareto.json --pick best --checkpoint``: the packed file holds
    the picked member and runs as the trained model does; ``--pick`` elsewhere is refused."""
    import numpy as np
    import torch

    from bnnas.export.engine import Engine

    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "--genotype", pareto_file, "--pick", "best",
                           "--out", run, *FAST_TRAIN)
    assert code == 0, err
    code, out, err = run_cli(capsys, "export", "--genotype", pareto_file, "--pick", "best",
                             "--checkpoint", run / "final.pt", "--out", tmp_path / "m.bnn")
    assert code == 0, err
    engine = Engine.load(tmp_path / "m.bnn")
    assert engine.meta["architecture"]["genotype"] == front.members[1].genotype.to_dict()
    assert engine.meta["origin"]["pick"] == "best"
    model, _ = load_trained_model(run / "final.pt")
    x = torch.randn(4, *INPUT, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        np.testing.assert_allclose(engine(x.numpy()), model.eval()(x).numpy(), rtol=1e-4,
                                   atol=1e-4)

    # Another member does not fit the checkpoint; --pick with a run folder or a zoo model.
    code, _, err = run_cli(capsys, "export", "--genotype", pareto_file, "--pick", "2",
                           "--checkpoint", run / "final.pt", "--out", tmp_path / "x.bnn")
    assert code == 2 and not (tmp_path / "x.bnn").exists()
    code, _, err = run_cli(capsys, "export", run, "--pick", "best", "--out", tmp_path / "y.bnn")
    assert_user_error(code, err, "--pick goes with --genotype pareto.json")
    code, _, err = run_cli(capsys, "export", "--model", "bresnet_small", "--pick", "best",
                           "--checkpoint", run / "final.pt", "--out", tmp_path / "z.bnn")
    assert_user_error(code, err, "--pick chooses a member of a pareto.json")
    code, _, err = run_cli(capsys, "export", "--genotype", pareto_file, "--checkpoint",
                           run / "final.pt", "--out", tmp_path / "w.bnn")
    assert_user_error(code, err, "--pick")
