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
