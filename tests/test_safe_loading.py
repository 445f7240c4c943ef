"""Loading untrusted files never runs code: a scan of the package sources checks that every
``torch.load`` passes ``weights_only=True``, YAML is read only by the safe loader, ``np.load``
refuses pickles and the only unpickler is the restricted one of ``bnnas.data.safe_pickle``.
(The behaviour itself is tested too: tests/train/test_checkpoint.py, tests/data/test_cifar.py,
tests/test_cli_hostile.py.)"""

import ast
from pathlib import Path

import pytest

import bnnas

PACKAGE = Path(bnnas.__file__).resolve().parent
SOURCES = sorted(PACKAGE.rglob("*.py"))


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, ast.unparse(node.func)


def _keyword(call: ast.Call, name: str):
    for keyword in call.keywords:
        if keyword.arg == name and isinstance(keyword.value, ast.Constant):
            return keyword.value.value
    return "<missing>"


def _problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for call, name in _calls(tree):
        where = f"{path.name}:{call.lineno}"
        if name.endswith("torch.load") and _keyword(call, "weights_only") is not True:
            found.append(f"{where}: torch.load without weights_only=True")
        if name in ("yaml.load", "yaml.load_all", "yaml.unsafe_load", "yaml.full_load",
                    "yaml.unsafe_load_all", "yaml.full_load_all"):
            found.append(f"{where}: {name} (use yaml.safe_load)")
        if name in ("np.load", "numpy.load") and _keyword(call, "allow_pickle") is not False:
            found.append(f"{where}: np.load without allow_pickle=False")
        if name in ("pickle.load", "pickle.loads", "pickle.Unpickler", "eval", "exec",
                    "marshal.loads", "shelve.open"):
            found.append(f"{where}: {name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and ast.unparse(node) in (
                "yaml.Loader", "yaml.UnsafeLoader", "yaml.FullLoader"):
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_scan_sees_the_package():
    names = {p.name for p in SOURCES}
    assert {"checkpoint.py", "config.py", "safe_pickle.py"} <= names
    assert any(name.endswith("torch.load") for p in SOURCES
               for _, name in _calls(ast.parse(p.read_text(encoding="utf-8"))))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_loader_can_run_code(path):
    assert _problems(path) == []


def test_the_scan_catches_unsafe_calls(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import torch, yaml, pickle, numpy as np\n"
                   "torch.load('x')\ntorch.load('x', weights_only=False)\nyaml.load(s)\n"
                   "yaml.load(s, Loader=yaml.FullLoader)\nnp.load('a.npy')\npickle.loads(b)\n")
    problems = [p.split(": ", 1)[1] for p in _problems(bad)]
    assert problems.count("torch.load without weights_only=True") == 2
    assert {"yaml.load (use yaml.safe_load)", "np.load without allow_pickle=False",
            "pickle.loads", "yaml.FullLoader"} <= set(problems)

