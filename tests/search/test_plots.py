import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from bnnas.search.nsga import pareto_front_indices
from bnnas.search.plots import (
    plot_cell,
    plot_hypervolume,
    plot_pareto_front,
    plot_weight_history,
)

NODES = (
    (("bin_conv_3x3", 0), ("skip_connect", 1)),
    (("max_pool_3x3", 0), ("bin_dil_conv_5x5", 2)),
    (("avg_pool_3x3", 3), ("bin_conv_5x5", 1)),
)


def test_cell_png_is_written_and_not_blank(tmp_path):
    path = plot_cell(NODES, (2, 3, 4), tmp_path / "cell.png", title="normal")
    image = Image.open(path).convert("L")
    assert image.size[0] > 300 and image.size[1] > 150
    lo, hi = image.getextrema()
    assert hi - lo > 100  # something was drawn


def test_weight_history_png(tmp_path):
    history = [{"normal": [0.5, 0.5], "reduce": [0.4, 0.6]},
               {"normal": [0.3, 0.7], "reduce": [0.2, 0.8]}]
    path = plot_weight_history(history, ["a", "b"], tmp_path / "w.png")
    assert Image.open(path).size[0] > 400


def _png_with_content(path):
    image = Image.open(path).convert("L")
    lo, hi = image.getextrema()
    return image.size[0] > 300 and hi - lo > 100


def test_pareto_front_png_from_indices_and_from_a_mask(tmp_path):
    rng = np.random.default_rng(0)
    points = np.column_stack([rng.uniform(5, 60, 40), rng.uniform(1e4, 1e6, 40)])
    front = pareto_front_indices(points)
    path = plot_pareto_front(points, front, tmp_path / "fronts" / "gen-001.png",
                             size_label="memory_bits", title="mots generation 1")
    assert path.stat().st_size > 0 and _png_with_content(path)
    mask = np.zeros(len(points), dtype=bool)
    mask[front] = True
    path = plot_pareto_front(points, mask, tmp_path / "mask.png", log_size=True)
    assert _png_with_content(path)
    empty = plot_pareto_front(np.zeros((0, 2)), [], tmp_path / "empty.png")
    assert empty.stat().st_size > 0


def test_pareto_front_rejects_bad_shapes(tmp_path):
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        plot_pareto_front([[1.0, 2.0, 3.0]], [0], tmp_path / "x.png")
    with pytest.raises(ValueError, match="0..1"):
        plot_pareto_front([[1.0, 2.0], [2.0, 1.0]], [2], tmp_path / "x.png")
    with pytest.raises(ValueError, match="mask needs 2"):
        plot_pareto_front([[1.0, 2.0], [2.0, 1.0]], [True], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_hypervolume_png(tmp_path):
    before = len(plt.get_fignums())
    path = plot_hypervolume({"mots": [0.2, 0.4, 0.5, 0.55], "random": [0.2, 0.3, 0.35]},
                            tmp_path / "hypervolume.png")
    assert path.stat().st_size > 0 and _png_with_content(path)
    assert plot_hypervolume({"mots": []}, tmp_path / "none.png").stat().st_size > 0
    assert len(plt.get_fignums()) == before  # figures are closed after saving
