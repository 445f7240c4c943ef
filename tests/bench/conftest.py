"""Fixtures of the tests of ``bench/compare.py`` and ``bench/study``."""

import pytest
from study_helpers import REPO, finish


@pytest.fixture
def half_done(tmp_path, monkeypatch):
    """mots seed 0 searched, bresnet_small seed 0 trained, ubnas seed 0 stopped mid-search."""
    monkeypatch.chdir(REPO)
    root = tmp_path / "compare"
    finish(root / "mots-seed0" / "search")
    (root / "mots-seed0" / "search" / "method.txt").write_text("mots\n")
    finish(root / "bresnet_small-seed0" / "train")
    stopped = root / "ubnas-seed0" / "search"
    stopped.mkdir(parents=True)
    (stopped / "config.yaml").write_text("seed: 0\n")
    return root
