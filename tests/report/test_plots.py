"""The report's figures: labels that do not cover each other, one colour per method (its
random controls' networks hollow in that colour), search seeds told apart."""

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.text import Text

from bnnas.report.aggregate import Summary
from bnnas.report.plots import (
    METHOD_COLOURS,
    Label,
    accuracy_figure,
    fronts_figure,
    place_labels,
)
from bnnas.report.rows import control_method
from bnnas.report.searches import FrontPoint, SearchRun


def summary(name, method, ops, acc, search_seed=0, std=None):
    return Summary(name=name, method=method, dataset="fashion-mnist", epochs=15, seeds=[0],
                   search_seed=search_seed, mean={"ops": ops, "test_acc": acc},
                   std={"test_acc": std})


def text_boxes(fig):
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.canvas.draw()
    ax = fig.axes[0]
    # the text's own box: an annotation's box would take in its leader line too
    return ax, [(t.get_text(), Text.get_window_extent(t, renderer)) for t in ax.texts]


def network_markers(ax):
    """The one-point marker lines of the networks (not the caps of their error bars)."""
    return [line for line in ax.lines if len(line.get_xdata()) == 1
            and line.get_marker() not in ("_", "None", "", None)]


def test_crowded_labels_cover_neither_each_other_nor_leave_the_axes():
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    points = [(1.0 + 0.02 * i, 1.0 + 0.01 * (i % 3)) for i in range(8)] + [(0.0, 0.0), (3, 2)]
    ax.plot(*zip(*points, strict=True), "o")
    labels = [Label(f"network number {i}", x, y) for i, (x, y) in enumerate(points)]
    place_labels(ax, labels, points)
    ax, boxes = text_boxes(fig)
    assert [name for name, _ in boxes] == [label.text for label in labels]
    frame = ax.get_window_extent()
    for i, (name, box) in enumerate(boxes):
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1, name
        assert frame.y0 <= box.y0 and box.y1 <= frame.y1, name
        for other, other_box in boxes[i + 1:]:
            assert not box.overlaps(other_box), (name, other)


def test_far_labels_get_a_leader_line_near_ones_do_not():
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    points = [(1.0 + 0.01 * i, 1.0) for i in range(6)] + [(0.0, 0.0), (2.0, 2.0)]
    ax.plot(*zip(*points, strict=True), "o")
    place_labels(ax, [Label(f"label {i}", x, y) for i, (x, y) in enumerate(points)], points)
    lines = {t.get_text(): t.arrow_patch is not None for t in ax.texts}
    assert lines["label 0"] is False  # the first label takes the place beside its point
    assert any(lines.values())  # six labels in a row cannot all sit beside their points


def test_controls_are_hollow_in_their_method_colour_and_unlabelled():
    rows = [summary("mots (best)", "mots", 7.8e5, 90.55),
            summary("random-equal-ops (mots space) #0", control_method("mots"), 7.1e5, 89.96),
            summary("bresnet_small", "hand-made", 4.4e5, 90.32, std=0.3)]
    fig = accuracy_figure(rows)
    ax, boxes = text_boxes(fig)
    names = {name for name, _ in boxes}
    assert {"mots (best)", "bresnet_small"} <= names
    assert not any(name.startswith("random-equal-ops") for name in names)
    green = to_hex(METHOD_COLOURS["mots"])
    markers = [line for line in network_markers(ax) if to_hex(line.get_color()) == green]
    faces = sorted(str(line.get_markerfacecolor()) for line in markers)
    assert len(markers) == 2 and faces.count("none") == 1  # the control alone is hollow


def test_search_seeds_of_one_method_share_colour_not_marker():
    rows = [summary("mots (best) (search seed 0)", "mots", 7.8e5, 90.55, search_seed=0),
            summary("mots (best) (search seed 1)", "mots", 7.2e5, 90.10, search_seed=1)]
    ax = accuracy_figure(rows).axes[0]
    shown = network_markers(ax)
    assert {to_hex(line.get_color()) for line in shown} == {to_hex(METHOD_COLOURS["mots"])}
    assert len({line.get_marker() for line in shown}) == 2


def search(method, seed, front):
    return SearchRun(path=Path(f"{method}-seed{seed}/search"), method=method, seed=seed,
                     finished=True, search_seconds=1.0,
                     front=[FrontPoint(error=e, ops=o, size=o) for o, e in front])


def test_fronts_of_two_seeds_differ_in_line_and_marker():
    searches = [search("mots", 0, [(7e5, 27.0), (1e6, 20.0)]),
                search("mots", 1, [(8e5, 25.0), (2e6, 16.0)]),
                search("random", 0, [(1.2e6, 24.0)])]
    ax = fronts_figure(searches, [summary("mots (best)", "mots", 7.8e5, 90.55)]).axes[0]
    steps = [line for line in ax.lines if line.get_drawstyle() == "steps-post"]
    assert len(steps) == 3
    mots = [line for line in steps if to_hex(line.get_color()) == to_hex("tab:green")]
    assert len(mots) == 2 and mots[0].get_linestyle() != mots[1].get_linestyle()
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "mots seed 0: front (supernet accuracy)" in legend
    assert "mots seed 1: front (supernet accuracy)" in legend


def test_no_figure_without_measured_networks_or_fronts():
    assert accuracy_figure([]) is None
    assert fronts_figure([search("ubnas", 0, [])], []) is None


def test_the_goal_region_is_shaded_up_to_its_bound_and_shown_above_every_point():
    from matplotlib.patches import Rectangle

    from bnnas.report.goals import Goal, check_goal

    rows = [summary("mots (best)", "mots", 7.8e5, 90.55),
            summary("birealnet18", "hand-made", 1.28e7, 93.36)]
    goal = check_goal(Goal(94.0, "birealnet18", 10.0), rows)
    fig = accuracy_figure(rows, goal)
    ax = fig.axes[0]
    regions = [p for p in ax.patches if isinstance(p, Rectangle)
               and p.get_label().startswith("goal")]
    assert len(regions) == 1
    region = regions[0]
    assert region.get_label() == "goal: test acc ≥ 94%, OPs ≤ 1.28 M"
    assert region.get_x() + region.get_width() == goal.bound
    assert region.get_y() == 94.0
    bottom, top = ax.get_ylim()
    assert top > 94.0 and region.get_y() + region.get_height() >= top
    assert ax.get_xlim()[0] == region.get_x()
    assert "goal: test acc ≥ 94%, OPs ≤ 1.28 M" in [t.get_text()
                                                    for t in ax.get_legend().get_texts()]
    assert not any(p.get_label().startswith("goal") for p in accuracy_figure(rows).axes[0].patches)
