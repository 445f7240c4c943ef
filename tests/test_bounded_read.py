import os

import pytest

from bnnas.bounded_read import read_bounded, read_small_text
from bnnas.errors import ConfigError


def test_small_files_are_read_whole_and_larger_ones_refused(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    assert read_bounded(path, 10) == b"x" * 10
    assert read_bounded(path, 9) is None


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_an_endless_device_is_refused_after_the_limit():
    assert os.stat("/dev/zero").st_size == 0  # what a size check would have trusted
    assert read_bounded("/dev/zero", 1000) is None


def test_errors_are_left_to_the_caller(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_bounded(tmp_path / "missing", 10)
    with pytest.raises(IsADirectoryError):
        read_bounded(tmp_path, 10)


def test_small_text_reader_names_the_file_and_the_fix(tmp_path):
    good = tmp_path / "a.yaml"
    good.write_text("épée: 1\n", encoding="utf-8")
    assert read_small_text(good, 100, "config", ConfigError) == "épée: 1\n"
    cases = [
        (tmp_path / "missing.yaml", "config file .*missing.yaml.* not found; check the path"),
        (tmp_path, "cannot read config file"),
        (good, "is above the 3 bytes limit; is it a config file"),
    ]
    for path, message in cases:
        with pytest.raises(ConfigError, match=message):
            read_small_text(path, 3 if path == good else 100, "config", ConfigError)
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="b.yaml.* is not UTF-8 text; is it a config file"):
        read_small_text(binary, 100, "config", ConfigError)
