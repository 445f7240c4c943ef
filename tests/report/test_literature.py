"""Published rows from YAML or JSON, strictly checked."""

import json

import pytest

from bnnas.errors import ReportError
from bnnas.report.literature import load_literature
from bnnas.report.table import NOT_MEASURED, cells


def test_yaml_list_and_json_rows(tmp_path):
    yaml_file = tmp_path / "a.yaml"
    yaml_file.write_text("- {name: CBCNN, test_acc: 92.86, params: 480000, source: paper}\n")
    json_file = tmp_path / "b.json"
    json_file.write_text(json.dumps({"rows": [{"name": "X", "test_acc": 90, "ops": 1e6}]}))
    (cbcnn,) = load_literature(yaml_file)
    assert cbcnn.published and cbcnn.method == "published" and cbcnn.runs == 0
    assert cbcnn.mean["test_acc"] == 92.86 and cbcnn.mean["params"] == 480000
    assert cbcnn.mean["ops"] is None
    row = cells(cbcnn)
    assert row[0] == "CBCNN *" and row[-1] == f"{NOT_MEASURED} (paper)"
    assert row[3] == "92.86" and row[7] == "480.0 k" and row[6] == "–"
    (x,) = load_literature(json_file)
    assert x.mean["ops"] == 1e6


@pytest.mark.parametrize(("text", "message"), [
    ("{name: x}", "expected a list"),
    ("- 5", "expected a mapping"),
    ("- {test_acc: 90}", "needs a name"),
    ("- {name: x}", "needs test_acc"),
    ("- {name: x, test_acc: high}", "test_acc: expected a number"),
    ("- {name: x, test_acc: 90, flop: 1}", "unknown key 'flop'"),
    ("- [unclosed", "is not YAML/JSON"),
])
def test_bad_files_are_report_errors(tmp_path, text, message):
    path = tmp_path / "lit.yaml"
    path.write_text(text)
    with pytest.raises(ReportError, match=message):
        load_literature(path)


def test_missing_file(tmp_path):
    with pytest.raises(ReportError, match="literature file .*nope.yaml.* not found"):
        load_literature(tmp_path / "nope.yaml")
