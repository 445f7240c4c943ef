"""pareto.json: round trip, picking a member, strict reading, and one loader for both files."""

import json

import pytest

from bnnas.errors import BnnasError, ConfigError, GenotypeError
from bnnas.search.pareto import (
    ParetoFront,
    ParetoMember,
    load_genotype_choice,
    load_genotype_file,
)
from bnnas.space.genotype import CellGenotype, Genotype
from bnnas.space.layout import Layout


def genotype(channels):
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
    return Genotype(normal, reduce, Layout(cells=3, channels=channels))


def member(error, size, channels):
    return ParetoMember(error=error, size=size, ops=10.0 * size, memory_bits=size,
                        params=int(size) // 2, genotype=genotype(channels))


@pytest.fixture
def front():
    # Handed in unsorted: the front sorts by size. Two members share the lowest error.
    return ParetoFront(method="mots", objectives=("error", "memory_bits"), members=(
        member(20.0, 300.0, 6), member(30.0, 100.0, 2), member(20.0, 500.0, 8),
        member(25.0, 200.0, 4),
    ))


@pytest.fixture
def pareto_file(front, tmp_path):
    return front.save(tmp_path / "run" / "pareto.json")


def test_members_are_sorted_by_size(front):
    assert [m.size for m in front.members] == [100.0, 200.0, 300.0, 500.0]
    assert len(front) == 4 and front.size_objective == "memory_bits"


def test_round_trip(front, pareto_file):
    loaded = ParetoFront.load(pareto_file)
    assert loaded == front
    assert loaded.source == str(pareto_file)
    data = json.loads(pareto_file.read_text())
    assert (data["format"], data["version"], data["method"]) == ("bnnas-pareto", 1, "mots")
    assert data["objectives"] == ["error", "memory_bits"]
    assert data["members"][0]["genotype"] == front.members[0].genotype.to_dict()
    assert not list(pareto_file.parent.glob(".*"))  # no temporary file left behind
    # One member per line, so a diff between two fronts shows which members changed.
    assert sum('"genotype"' in line for line in pareto_file.read_text().splitlines()) == 4
    front.save(pareto_file)  # the search owns its folder: rewriting is fine
    assert ParetoFront.load(pareto_file) == front


def test_numpy_numbers_are_stored_as_plain_numbers(tmp_path):
    np = pytest.importorskip("numpy")
    m = ParetoMember(error=np.float32(12.5), size=np.float64(3.0), ops=np.int64(7),
                     memory_bits=np.float64(3.0), params=np.int64(9), genotype=genotype(2))
    assert type(m.error) is float and type(m.params) is int
    path = ParetoFront("random", ("error", "memory_bits"), (m,)).save(tmp_path / "p.json")
    assert ParetoFront.load(path).members[0] == m


def test_empty_front_round_trips_but_cannot_be_picked(tmp_path):
    path = ParetoFront("mots", ("error", "ops"), ()).save(tmp_path / "pareto.json")
    loaded = ParetoFront.load(path)
    assert len(loaded) == 0
    with pytest.raises(ConfigError, match="has no members.*rerun or resume the search"):
        loaded.pick("best")


@pytest.mark.parametrize("choice,index", [
    (0, 0), (3, 3), ("2", 2), (" 1 ", 1), ("smallest", 0), ("best", 2), ("BEST", 2),
])
def test_pick(front, choice, index):
    picked, chosen = front.pick(choice)
    assert picked == index and chosen is front.members[index]


def test_best_breaks_error_ties_by_size_and_smallest_by_error():
    tied = ParetoFront("mots", ("error", "memory_bits"), (
        member(10.0, 400.0, 6), member(10.0, 300.0, 4), member(40.0, 100.0, 2),
        member(30.0, 100.0, 2),
    ))
    assert tied.pick("best")[1].size == 300.0
    assert tied.pick("smallest")[1].error == 30.0


@pytest.mark.parametrize("choice,fragments", [
    (7, ["pick 7 is out of range", "has 4 members (0..3)", "'smallest' or 'best'"]),
    ("4", ["pick 4 is out of range"]),
    ("-1", ["pick -1 is out of range"]),
    ("largest", ["unknown pick 'largest'", "(0..3)", "'smallest' or 'best'"]),
    ("", ["unknown pick ''"]),
    (1.5, ["pick must be an index or a word"]),
    (True, ["pick must be an index or a word"]),
])
def test_bad_picks(pareto_file, choice, fragments):
    loaded = ParetoFront.load(pareto_file)
    with pytest.raises(ConfigError) as info:
        loaded.pick(choice)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    if isinstance(choice, int) and not isinstance(choice, bool):
        assert str(pareto_file) in message  # names the file the user passed


def edit(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


def _set(*keys, value):
    def change(data):
        target = data
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return change


def _delete(*keys):
    def change(data):
        target = data
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]
    return change


@pytest.mark.parametrize("change,fragments", [
    (_set("format", value="bnnas-frontier"), ["format: expected 'bnnas-pareto'"]),
    (_set("version", value=2), ["version: this bnnas reads version 1", "bnnas version"]),
    (_set("extra", value=1), ["extra: unknown key"]),
    (_delete("method"), ["method: missing"]),
    (_set("method", value=""), ["method: must be"]),
    (_set("objectives", value=["memory_bits", "error"]), ["objectives: must be"]),
    (_set("objectives", value=["error"]), ["objectives: must be"]),
    (_set("members", value={}), ["members: must be a list"]),
    (_set("members", 1, value=[]), ["members[1]: a member is a JSON object"]),
    (_delete("members", 2, "params"), ["members[2].params: missing"]),
    (_set("members", 0, "colour", value="red"), ["members[0].colour: unknown key"]),
    (_set("members", 1, "error", value="12%"), ["members[1].error: must be a finite number"]),
    (_set("members", 1, "ops", value=-1), ["members[1].ops: must be a finite number >= 0"]),
    (_set("members", 3, "params", value=1.5), ["members[3].params: must be an integer"]),
    (_set("members", 0, "size", value=150.0),
     ["members[0].size: 150.0 differs from its memory_bits 100.0", "fix one"]),
    (_set("members", 0, "genotype", "normal", "nodes", 1, 0, value=["max_pool_3x3", 3]),
     ["members[0].genotype.normal.nodes[1][0]: input 3 is not an earlier node"]),
    (_set("members", 2, "genotype", "format", value="bnnas-pareto"),
     ["members[2].genotype.format: expected 'bnnas-genotype'"]),
    (_set("members", 2, "genotype", value=[1, 2]),
     ["members[2].genotype: a genotype document is a JSON object"]),
])
def test_broken_files_name_the_file_and_the_json_path(pareto_file, change, fragments):
    edit(pareto_file, change)
    with pytest.raises(GenotypeError) as info:
        ParetoFront.load(pareto_file)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{pareto_file}: "), message
    for fragment in fragments:
        assert fragment in message, message


def test_unsorted_members_are_refused_not_reordered(pareto_file):
    # Re-sorting would change the index a user read in the file.
    def swap(data):
        members = data["members"]
        members[0], members[1] = members[1], members[0]
    edit(pareto_file, swap)
    with pytest.raises(GenotypeError, match=r"members\[1\]: members must be sorted by size"):
        ParetoFront.load(pareto_file)


@pytest.mark.parametrize("text,fragment", [
    ('{"format": "bnnas-pareto", ', "malformed pareto JSON at line 1"),
    ("[" * 100_000 + "]" * 100_000, "malformed pareto JSON"),
])
def test_malformed_json(tmp_path, text, fragment):
    path = tmp_path / "pareto.json"
    path.write_text(text)
    with pytest.raises(GenotypeError, match=fragment):
        ParetoFront.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(GenotypeError, match="pareto file .* not found; check the path"):
        ParetoFront.load(tmp_path / "nope.json")


def test_unwritable_path(front, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    with pytest.raises(GenotypeError, match="cannot write pareto file"):
        front.save(blocker / "pareto.json")
    assert blocker.read_text() == "mine"


# ------------------------------------------------------------------ one loader, two kinds
def test_load_genotype_file_from_a_pareto_file(front, pareto_file):
    assert load_genotype_file(pareto_file, "smallest") == front.members[0].genotype
    assert load_genotype_file(pareto_file, "best") == front.members[2].genotype
    assert load_genotype_file(pareto_file, 3) == front.members[3].genotype
    assert load_genotype_choice(pareto_file, "1") == (front.members[1].genotype, 1)


def test_load_genotype_file_from_a_genotype_file(tmp_path):
    path = genotype(4).save(tmp_path / "genotype.json")
    assert load_genotype_file(path) == genotype(4)
    assert load_genotype_choice(path) == (genotype(4), None)


def test_a_pareto_file_needs_a_pick(pareto_file):
    with pytest.raises(ConfigError) as info:
        load_genotype_file(pareto_file)
    assert str(info.value) == (
        f"{pareto_file} is a Pareto front of 4 architectures; "
        "choose one with --pick N|smallest|best"
    )


def test_a_genotype_file_takes_no_pick(tmp_path):
    path = genotype(4).save(tmp_path / "genotype.json")
    with pytest.raises(ConfigError, match="--pick applies to a pareto.json, not to a genotype"):
        load_genotype_file(path, "best")


def test_bad_pick_through_the_loader(pareto_file):
    with pytest.raises(ConfigError, match="pick 9 is out of range: .* has 4 members"):
        load_genotype_file(pareto_file, "9")


def test_genotype_errors_keep_their_words(tmp_path):
    # A broken genotype file is still reported as one, with or without a pick.
    path = tmp_path / "genotype.json"
    path.write_text(genotype(4).to_json()[:40])
    for pick in (None, "best"):
        with pytest.raises(GenotypeError, match="malformed genotype JSON"):
            load_genotype_file(path, pick)
    with pytest.raises(GenotypeError, match="not found"):
        load_genotype_file(tmp_path / "nope.json")


def test_a_broken_pareto_file_names_the_member(pareto_file):
    edit(pareto_file, _set("members", 1, "genotype", "layout", "cells", value=0))
    with pytest.raises(GenotypeError) as info:
        load_genotype_file(pareto_file, "best")
    assert str(info.value).startswith(f"{pareto_file}: members[1].genotype.layout.cells")


def test_errors_are_bnnas_errors():
    assert issubclass(GenotypeError, BnnasError) and issubclass(ConfigError, BnnasError)
