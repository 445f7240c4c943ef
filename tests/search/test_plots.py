from PIL import Image

from bnnas.search.plots import plot_cell, plot_weight_history

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
