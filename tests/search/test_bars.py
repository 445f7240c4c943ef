import json

import pytest

from bnnas.cli import main
from bnnas.config import load_config
from bnnas.errors import BnnasError
from bnnas.metrics import profile
from bnnas.search.bars import BARSSearch
from bnnas.search.bars_config import BARSConfig
from bnnas.space.bars import cell_table
from bnnas.space.bars_cost import BARSCostModel, one_hot_distributions
from bnnas.space.genotype import Genotype
from bnnas.space.network import Network
from bnnas.train import load_trained_model
from bnnas.train.config import TrainConfig
from bnnas.train.trainer import Trainer

TINY = [
    "data.batch_size=32", "data.augment=false", "space.stages=2", "space.channels=8",
    "space.max_depth=2", "space.steps=2", "arch.warmup_epochs=1", "arch.lr=0.01",
    "optim.lr=0.005", "epochs=2", "budget.ops=20000", "space.output=add",
]


def _search(tmp_path, dataset, name, *extra):
    config = load_config(BARSConfig, overrides=[*TINY, *extra])
    run = tmp_path / name
    run.mkdir()
    return BARSSearch(config, run, dataset=dataset, progress=False), run


def test_search_derives_a_network_within_the_budget(tmp_path, tiny_dataset):
    search, run = _search(tmp_path, tiny_dataset, "s")
    result = search.run()
    genotype = Genotype.load(run / "genotype.json")
    assert genotype.normal.inputs == 1 and genotype.normal.output == "add"
    network = Network.from_genotype(genotype, 4, 1)
    assert result["derived_ops"] == pytest.approx(result["model_ops_of_derived"])
    assert abs(result["budget_ratio"] - 1) <= 0.1
    assert result["depths"] == [len(genotype.layout.cell_channels()) - 1 - result["depths"][1],
                                result["depths"][1]]
    assert network.num_features == result["widths"][-1]
    for png in ("normal.png", "reduce.png", "layout.png", "alphas.png", "widths.png",
                "depths.png"):
        assert (run / png).stat().st_size > 1000
    records = [json.loads(line) for line in (run / "alphas.jsonl").read_text().splitlines()]
    assert len(records) == 2 and len(records[0]["width"]) == 2
    assert records[0]["width"] == records[0]["width"]
    assert records[0]["width"] != records[1]["width"]  # the architecture moved after warm-up
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics[0]["temperature"] > metrics[1]["temperature"]


def test_resume_gives_the_same_genotype(tmp_path, tiny_dataset, monkeypatch):
    whole, whole_run = _search(tmp_path, tiny_dataset, "whole", "epochs=3")
    whole.run()
    first, run = _search(tmp_path, tiny_dataset, "part", "epochs=3")
    original = BARSSearch.search_epoch

    def crash_in_third_epoch(self, *args):
        if self.epoch == 2:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(BARSSearch, "search_epoch", crash_in_third_epoch)
    with pytest.raises(KeyboardInterrupt):
        first.run()
    monkeypatch.setattr(BARSSearch, "search_epoch", original)
    resumed = BARSSearch(first.config, run, dataset=tiny_dataset, progress=False)
    assert resumed.resume() and resumed.epoch == 2
    resumed.run()
    assert (run / "genotype.json").read_text() == (whole_run / "genotype.json").read_text()


@pytest.mark.parametrize(("override", "message"), [
    ("budget.ops=0", "budget.ops must be > 0"),
    ("budget.ops=-5", "budget.ops must be > 0"),
    ("space.widths=[]", "space.widths is empty"),
    ("space.widths=[0.5, 1.5]", "outside (0, 1]"),
    ("space.max_depth=0", "space.max_depth must be >= 1"),
    ("space.ops=[none, bin_conv_7x7]", "bin_conv_7x7"),
])
def test_bad_settings_are_config_errors(override, message):
    with pytest.raises(BnnasError) as error:
        load_config(BARSConfig, overrides=[override])
    assert message in str(error.value)


@pytest.mark.parametrize(("budget", "message"), [(3000, "below the cheapest"),
                                                 (1e9, "above the dearest")])
def test_unreachable_budget_is_refused_before_searching(tmp_path, tiny_dataset, budget,
                                                       message):
    with pytest.raises(BnnasError, match=message):
        _search(tmp_path, tiny_dataset, "s", f"budget.ops={budget}")


def test_cli_bad_budget_exits_2_with_one_line(capsys, tmp_path):
    code = main(["search", "--method", "bars", "--config", "configs/bars-smoke.yaml",
                 "--set", "budget.ops=0", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "budget.ops must be > 0" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_derived_network_retrains_from_the_genotype_with_its_profiled_cost(
        tmp_path, tiny_dataset):
    search, run = _search(tmp_path, tiny_dataset, "s", "space.channels=4", "budget.ops=8000")
    search.run()
    train_config = load_config(TrainConfig, overrides=[
        f"model.genotype={run / 'genotype.json'}", "optim.epochs=10", "optim.lr=0.01",
        "data.batch_size=32", "data.augment=false"])
    out = tmp_path / "train"
    trained = Trainer(train_config, out, dataset=tiny_dataset, progress=False).fit()
    model, _ = load_trained_model(out / "final.pt")
    assert model.genotype() == Genotype.load(run / "genotype.json")
    assert trained["test_acc"] > 40.0  # four classes: well above chance
    # the cost model at the trained input size equals the profile of the trained network
    space = search.bars_space
    genotype = model.genotype()
    widths, depths = search.derived_choice
    dist = one_hot_distributions(space, cell_table(genotype.normal, space.ops, space.steps),
                                 cell_table(genotype.reduce, space.ops, space.steps),
                                 widths, depths)
    estimate = BARSCostModel(space, (1, 12, 12), 4).expected_ops(dist)
    assert float(estimate) == pytest.approx(profile(model, (1, 12, 12)).totals["ops"])
