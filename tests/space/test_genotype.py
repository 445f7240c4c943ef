import json

import pytest

from bnnas.errors import ConfigError, GenotypeError
from bnnas.space.genotype import CellGenotype, Genotype
from bnnas.space.layout import Layout, default_reductions


def small_genotype(**layout):
    normal = CellGenotype(
        nodes=((("bin_conv_3x3", 0), ("skip_connect", 1)),
               (("max_pool_3x3", 0), ("bin_dil_conv_3x3", 2))),
        concat=(2, 3),
    )
    reduce = CellGenotype(
        nodes=((("avg_pool_3x3", 0), ("skip_connect", 1)),
               (("bin_conv_5x5", 2), ("bin_dil_conv_5x5", 1))),
        concat=(2, 3),
    )
    return Genotype(normal, reduce, Layout(**{"cells": 3, "channels": 4, **layout}))


def document(**changes):
    data = json.loads(small_genotype().to_json())
    data.update(changes)
    return data


def test_layout_defaults_follow_darts():
    assert Layout(8, 16).reductions == (2, 5)
    assert Layout(5, 8).reductions == (1, 3)
    assert Layout(1, 8).reductions == (0,)
    assert default_reductions(20) == (6, 13)
    assert Layout(5, 8, reductions=[]).cell_channels() == [8] * 5
    assert Layout(5, 8).cell_channels() == [8, 16, 16, 32, 32]


@pytest.mark.parametrize(
    "kwargs,fragment",
    [
        ({"cells": 0, "channels": 8}, "layout.cells"),
        ({"cells": 101, "channels": 8}, "layout.cells"),
        ({"cells": 4, "channels": 5000}, "layout.channels"),
        ({"cells": 4, "channels": 8, "reductions": (2, 1)}, "sorted"),
        ({"cells": 4, "channels": 8, "reductions": (1, 1)}, "sorted"),
        ({"cells": 4, "channels": 8, "reductions": (4,)}, "layout.reductions[0]"),
        ({"cells": 40, "channels": 4096, "reductions": (1, 2)}, "above the limit"),
        ({"cells": 4, "channels": 8, "stem_multiplier": 0}, "stem_multiplier"),
    ],
)
def test_bad_layouts_raise_config_error(kwargs, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[")):
        Layout(**kwargs)


def test_json_round_trip(tmp_path):
    genotype = small_genotype().validate()
    assert Genotype.from_json(genotype.to_json()) == genotype
    path = genotype.save(tmp_path / "sub" / "g.json")
    assert Genotype.load(path) == genotype
    data = json.loads(path.read_text())
    assert (data["format"], data["version"], data["space"]) == ("bnnas-genotype", 1, "darts")
    assert data["normal"]["nodes"][0] == [["bin_conv_3x3", 0], ["skip_connect", 1]]
    assert not list(tmp_path.glob("sub/.*"))  # no temporary file left behind
    assert hash(genotype) == hash(Genotype.from_json(genotype.to_json()))


def test_layout_defaults_when_reductions_are_left_out():
    data = document(layout={"cells": 6, "channels": 8})
    assert Genotype.from_dict(data).layout.reductions == (2, 4)


def test_with_layout_restacks_the_cells():
    genotype = small_genotype().with_layout(cells=9, channels=12)
    assert genotype.layout == Layout(9, 12)
    with pytest.raises(ConfigError, match="unknown layout setting 'depth'"):
        small_genotype().with_layout(depth=3)


def nodes_edit(cell, i, j, value):
    data = document()
    data[cell]["nodes"][i][j] = value
    return data


@pytest.mark.parametrize(
    "data,fragment",
    [
        (document(format="darts"), "format: expected 'bnnas-genotype'"),
        (document(version=2), "version: this bnnas reads version 1"),
        (document(version=True), "version"),
        (document(space="nasbench"), "space: expected 'darts'"),
        (document(extra=1), "extra: unknown key"),
        ({k: v for k, v in document().items() if k != "normal"}, "normal: missing"),
        (document(structure="conv-bn"), "structure: "),
        (nodes_edit("normal", 1, 1, ["bin_conv_7x7", 0]), "normal.nodes[1][1]: unknown op"),
        (nodes_edit("normal", 1, 1, ["none", 0]), "normal.nodes[1][1]: op 'none'"),
        (nodes_edit("reduce", 1, 0, ["bin_conv_3x3", 5]),
         "reduce.nodes[1][0]: input 5 is not an earlier node (must be < 3)"),
        (nodes_edit("normal", 0, 0, ["bin_conv_3x3", 2]),
         "normal.nodes[0][0]: input 2 is not an earlier node (must be < 2)"),
        (nodes_edit("normal", 0, 0, ["bin_conv_3x3", -1]), "normal.nodes[0][0]: input -1"),
        (nodes_edit("normal", 0, 0, ["bin_conv_3x3", 1.5]), "normal.nodes[0][0]: input must"),
        (nodes_edit("normal", 0, 0, ["bin_conv_3x3"]), "normal.nodes[0][0]: expected [op, input]"),
        (nodes_edit("normal", 0, 0, "bin_conv_3x3"), "normal.nodes[0][0]: expected"),
        (document(normal={"nodes": [], "concat": []}), "normal.nodes: a cell needs 1 to 16"),
        (document(normal={"nodes": [[["skip_connect", 0]]] * 17, "concat": [2]}),
         "normal.nodes: a cell needs 1 to 16 nodes, got 17"),
        (document(normal={"nodes": [[]], "concat": [2]}), "normal.nodes[0]: a node sums"),
        (document(normal={"nodes": [[["skip_connect", 0]]], "concat": [3]}),
         "normal.concat[0]: 3 is not an intermediate node"),
        (document(normal={"nodes": [[["skip_connect", 0]]], "concat": [2, 2]}),
         "concatenated twice"),
        (document(normal={"nodes": [[["skip_connect", 0]]] * 2, "concat": [3]}),
         "node 2 is neither concatenated nor an input"),
        (document(normal={"nodes": [[["skip_connect", 0]]]}),
         "must be an object with 'nodes' and 'concat'"),
        (document(layout={"cells": 10**12, "channels": 8}), "layout.cells: must be an integer"),
        (document(layout={"cells": 4, "channels": -3}), "layout.channels"),
        (document(layout={"cells": 4, "channels": 8, "reductions": [9]}),
         "layout.reductions[0]"),
        (document(layout={"cells": 4, "channels": "8"}), "layout.channels"),
        (document(layout={"cells": 4}), "layout: needs"),
        (document(layout={"cells": 100, "channels": 4096, "reductions": [50]}),
         "layout: the network could hold up to"),
        ([], "a genotype document is a JSON object"),
    ],
)
def test_invalid_documents_name_the_json_path(data, fragment):
    with pytest.raises(GenotypeError) as info:
        Genotype.from_json(json.dumps(data))
    message = str(info.value)
    assert fragment in message and "\n" not in message


@pytest.mark.parametrize("text", ["{", "not json", '{"a": [1, 2,]}', "[" * 100000])
def test_malformed_json(text):
    with pytest.raises(GenotypeError, match="malformed genotype JSON"):
        Genotype.from_json(text)


def test_load_reports_missing_and_oversized_files(tmp_path):
    with pytest.raises(GenotypeError, match="not found"):
        Genotype.load(tmp_path / "nope.json")
    big = tmp_path / "big.json"
    big.write_text(" " * (2 << 20))
    with pytest.raises(GenotypeError, match="above the"):
        Genotype.load(big)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(nodes_edit("normal", 1, 1, ["bin_conv_3x3", 7])))
    with pytest.raises(GenotypeError, match=r"bad.json: normal.nodes\[1\]\[1\]: input 7"):
        Genotype.load(bad)


def test_validate_restricts_ops_to_a_given_list():
    genotype = small_genotype()
    with pytest.raises(GenotypeError, match="unknown op 'bin_dil_conv_3x3'"):
        genotype.validate(ops=("bin_conv_3x3", "skip_connect", "max_pool_3x3"))


def test_structure_is_stored_canonically():
    genotype = small_genotype()
    same = Genotype(genotype.normal, genotype.reduce, genotype.layout,
                    "sign_conv_bn + shortcut ; act=approx_sign")
    assert same == genotype and same.structure == "sign-conv-bn+shortcut"
