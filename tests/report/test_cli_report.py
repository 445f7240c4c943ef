"""``bnnas report`` end to end on a tiny study: the rows hold what the runs and the profile
say, seeds average, the HTML page stands alone, and bad input ends with one error line."""

import base64
import json
import re
import shutil
import statistics

import pytest
from cli_helpers import assert_user_error as _assert_user_error
from cli_helpers import run_cli

from bnnas.cli import main
from bnnas.metrics import profile
from bnnas.train import load_trained_model


def assert_user_error(code, err, *fragments):
    """These commands' errors must also be the only line on stderr."""
    _assert_user_error(code, err, *fragments, alone=True)


PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def literature(tmp_path_factory):
    path = tmp_path_factory.mktemp("lit") / "published.yaml"
    path.write_text("- {name: OneBNet, dataset: fashion-mnist, test_acc: 93.4, source: paper}\n")
    return path


@pytest.fixture(scope="module")
def report(study, literature, tmp_path_factory):
    """The report over the whole study folder (found recursively), with one published row."""
    out = tmp_path_factory.mktemp("report")
    assert main(["report", str(study.root), "--out", str(out), "--title", "Tiny <study>",
                 "--literature", str(literature)]) == 0
    return out, json.loads((out / "rows.json").read_text())


def test_each_row_holds_the_result_and_the_profile(study, report):
    _, data = report
    rows = {r["run"]: r for r in data["rows"]}
    runs = [study.ubnas_train, study.mots_train, *study.hand]
    assert sorted(rows) == sorted(str(r) for r in runs)
    for run in runs:
        row = rows[str(run)]
        result = json.loads((run / "result.json").read_text())
        model, state = load_trained_model(run / "final.pt")
        totals = profile(model, tuple(state["meta"]["input_shape"])).totals
        assert row["test_acc"] == result["test_acc"]
        assert row["train_seconds"] == result["train_seconds"]
        assert row["epochs"] == 1
        for key in ("bops", "flops", "ops", "params"):
            assert row[key] == totals[key], key
        assert row["model_bytes"] == totals["memory_bytes"]
        assert row["command"] == f"bnnas train --config {run / 'config.yaml'}"


def test_searched_rows_follow_the_genotype_back_to_their_search(study, report):
    _, data = report
    rows = {r["run"]: r for r in data["rows"]}
    ubnas, mots = rows[str(study.ubnas_train)], rows[str(study.mots_train)]
    for row, search in ((ubnas, study.ubnas), (mots, study.mots)):
        found = json.loads((search / "result.json").read_text())
        assert row["search_seconds"] == found["search_seconds"] > 0
        assert row["search_run"] == str(search)
    assert (ubnas["name"], ubnas["method"]) == ("ubnas", "ubnas")
    assert (mots["name"], mots["method"]) == ("mots (best)", "mots")
    hand = rows[str(study.hand[0])]
    assert hand["method"] == "hand-made" and hand["search_seconds"] is None
    assert hand["name"] == "bresnet_small(blocks_per_stage=1)"
    assert [s["method"] for s in data["searches"]] == ["mots", "ubnas"]


def test_two_seeds_give_mean_and_sample_std(study, report):
    _, data = report
    accs = [json.loads((run / "result.json").read_text())["test_acc"] for run in study.hand]
    (hand,) = [s for s in data["summaries"] if s["method"] == "hand-made"]
    assert hand["runs"] == 2 and hand["seeds"] == [0, 1]
    assert hand["test_acc"] == pytest.approx(statistics.fmean(accs))
    assert hand["test_acc_std"] == pytest.approx(statistics.stdev(accs))
    assert hand["bops_std"] == 0  # same network, same cost
    single = [s for s in data["summaries"] if s["method"] == "ubnas"][0]
    assert single["runs"] == 1 and single["test_acc_std"] is None


def test_markdown_table_and_plot_files(report):
    out, data = report
    text = (out / "report.md").read_text()
    assert text.startswith("# Tiny <study>\n")
    assert "| name | method | seeds | test acc (%) |" in text
    mean = [s for s in data["summaries"] if s["method"] == "hand-made"][0]
    assert f"{mean['test_acc']:.2f} ± {mean['test_acc_std']:.2f}" in text
    assert "| OneBNet * | published |" in text and "published, not measured here" in text
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert pictures == ["accuracy-vs-ops.png", "pareto-fronts.png", "search-curves.png"]
    for name in pictures:
        assert (out / name).read_bytes().startswith(PNG)


def test_html_is_one_self_contained_page(report):
    out, _ = report
    page = (out / "report.html").read_text()
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == 3
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG)
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and "<script" not in page
    assert "Tiny &lt;study&gt;" in page  # text is escaped


def test_unfinished_run_is_skipped_with_a_warning(study, tmp_path, capsys):
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    shutil.copy(study.hand[0] / "config.yaml", unfinished / "config.yaml")
    code, out, err = run_cli(capsys, "report", study.hand[0], unfinished, "--out",
                             tmp_path / "out")
    assert code == 0, err
    assert err.strip() == (f"bnnas: warning: skipped unfinished run {unfinished} "
                           "(no epoch of 1 done yet; no result.json yet)")
    data = json.loads((tmp_path / "out" / "rows.json").read_text())
    assert [r["run"] for r in data["rows"]] == [str(study.hand[0])]
    assert data["warnings"] and not (tmp_path / "out" / "pareto-fronts.png").exists()


def test_stored_command_line_is_used(study, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(study.hand[1], run)
    (run / "command.txt").write_text("\nbnnas train --model bresnet_small --seed 1\n")
    code, _, err = run_cli(capsys, "report", run, "--out", tmp_path / "out")
    assert code == 0, err
    data = json.loads((tmp_path / "out" / "rows.json").read_text())
    assert data["rows"][0]["command"] == "bnnas train --model bresnet_small --seed 1"


def test_bad_input_is_one_error_line(study, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(capsys, "report", tmp_path / "missing", "--out", tmp_path / "o")
    assert_user_error(code, err, "is neither a folder nor")
    code, _, err = run_cli(capsys, "report", empty, "--out", tmp_path / "o")
    assert_user_error(code, err, "is not a run folder", "holds none")
    only = tmp_path / "only-unfinished" / "run"
    only.mkdir(parents=True)
    shutil.copy(study.hand[0] / "config.yaml", only / "config.yaml")
    code, _, err = run_cli(capsys, "report", only.parent, "--out", tmp_path / "o")
    assert_user_error(code, err, "no finished run")
    broken = tmp_path / "broken"
    shutil.copytree(study.hand[0], broken)
    (broken / "result.json").write_text("{not json")
    code, _, err = run_cli(capsys, "report", broken, "--out", tmp_path / "o")
    assert_user_error(code, err, "result.json", "cannot read")
    bad = tmp_path / "lit.yaml"
    bad.write_text("- {name: x, test_acc: 90, opps: 5}\n")
    code, _, err = run_cli(capsys, "report", study.hand[0], "--literature", bad,
                           "--out", tmp_path / "o")
    assert_user_error(code, err, "unknown key 'opps'")
    assert not (tmp_path / "o").exists()
