import os

import pytest

from bnnas.bounded_read import read_bounded


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
