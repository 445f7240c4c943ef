"""``bench/ubnas_perturbation.py``: the mixture it scores is the supernet's own, and removing
one op from it changes the score (but removing ``none`` does not)."""

import importlib.util
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from bnnas.space.layout import Layout
from bnnas.space.network import SpaceSpec, SuperNetwork

REPO = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("bench_ubnas_perturbation",
                                              REPO / "bench" / "ubnas_perturbation.py")
perturbation = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = perturbation
SPEC.loader.exec_module(perturbation)


def test_scores_the_supernet_mixture_and_sees_a_removed_op():
    torch.manual_seed(0)
    space = SpaceSpec(ops=("none", "skip_connect", "bin_conv_3x3"), steps=2,
                      layout=Layout(cells=3, channels=4), partial_k_normal=2,
                      partial_k_reduce=2)
    model = SuperNetwork(space, num_classes=3, in_channels=1).eval()
    with torch.no_grad():  # away from uniform, so that each op has its own share
        model.alphas_normal.normal_()
        model.alphas_reduce.normal_()
    x, y = torch.randn(6, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2])
    batches = [(x[:4], y[:4]), (x[4:], y[4:])]
    full = {kind: F.softmax(getattr(model, f"alphas_{kind}"), dim=-1).detach()
            for kind in perturbation.KINDS}
    loss, accuracy = perturbation.score(model, full, batches)
    with torch.no_grad():
        logits = model(x)
    assert abs(loss - F.cross_entropy(logits, y).item()) < 1e-5
    assert accuracy == 100.0 * (logits.argmax(1) == y).sum().item() / 6
    for name, changes in (("none", False), ("bin_conv_3x3", True)):
        weights = dict(full)
        weights["normal"] = full["normal"].clone()
        weights["normal"][1, space.ops.index(name)] = 0.0
        moved = abs(perturbation.score(model, weights, batches)[0] - loss) > 1e-6
        assert moved == changes, name


def test_summary_ranks_the_alphas_op_and_bounds_the_effects():
    def edge(by_alpha, rises):
        drops = {name: {"loss_rise": rise, "acc_drop": -10 * rise}
                 for name, rise in rises.items()}
        return {"by_alpha": by_alpha, "drops": drops,
                "by_removal": max(rises, key=rises.get)}

    document = {"agree": 1, "by_removal_counts": {"a": 1, "b": 1}, "base_loss": 0.5,
                "base_acc": 90.0, "images": 100,
                "edges": [edge("a", {"a": 0.02, "b": 0.01}),
                          edge("a", {"a": -0.03, "b": -0.01})]}
    lines = perturbation.summary(document)
    assert "on 1 of 2 edges" in lines[0]
    assert "ranks 1.5 of 2" in lines[1]
    assert "-0.0300 to +0.0200 (at most 6.0% of 0.500)" in lines[2]
    assert "-0.30 to +0.20 points" in lines[2] and "100 images: 3.00" in lines[2]
    assert lines[3] == "edges where no removal raises the loss: 1 of 2"
