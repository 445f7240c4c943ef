import gzip
import hashlib

import numpy as np
import pytest
import torch

from bnnas.data.idx import parse_idx, read_idx, read_idx_pair
from bnnas.errors import DataError


@pytest.mark.parametrize("gz", [False, True])
def test_images_round_trip_raw_and_gzip(tmp_path, idx_bytes, write_bytes, gz):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = write_bytes(tmp_path / "images", idx_bytes(images), gz)
    got = read_idx(path, ndim=3)
    assert got.dtype == np.uint8 and got.shape == (2, 3, 4)
    assert np.array_equal(got, images)
    assert got.flags.writeable


def test_gzip_is_detected_by_content_not_by_name(tmp_path, idx_bytes):
    labels = np.array([3, 1, 4], dtype=np.uint8)
    path = tmp_path / "labels-without-gz-suffix"
    path.write_bytes(gzip.compress(idx_bytes(labels)))
    assert np.array_equal(read_idx(path), labels)


@pytest.mark.parametrize(
    "code,values",
    [
        (0x0C, np.array([-70000, 0, 123456789], dtype=np.int32)),
        (0x0B, np.array([-2, 300], dtype=np.int16)),
        (0x0D, np.array([1.5, -0.25], dtype=np.float32)),
        (0x0E, np.array([2.0**60], dtype=np.float64)),
    ],
)
def test_wider_types_are_big_endian_and_come_back_native(idx_bytes, code, values):
    got = parse_idx(idx_bytes(values, code), "f")
    assert got.dtype == values.dtype.newbyteorder("=")
    assert np.array_equal(got, values)


def test_wrong_magic_names_file_and_fix(tmp_path):
    path = tmp_path / "not-idx"
    path.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(DataError, match=r"not-idx is not an IDX file.*re-download it or delete"):
        read_idx(path)


def test_unknown_type_code(idx_bytes):
    data = bytearray(idx_bytes(np.zeros(3, np.uint8)))
    data[2] = 0x07
    with pytest.raises(DataError, match="unknown IDX type code 0x07"):
        parse_idx(bytes(data), "labels")


def test_wrong_dimension_count_suggests_swapped_files(tmp_path, idx_bytes, write_bytes):
    path = write_bytes(tmp_path / "labels.gz", idx_bytes(np.zeros(5, np.uint8)), True)
    with pytest.raises(DataError, match=r"labels.gz has 1 dimensions, expected 3"):
        read_idx(path, ndim=3)


@pytest.mark.parametrize("cut", [1, 100])
def test_truncated_file(tmp_path, idx_bytes, cut):
    data = idx_bytes(np.zeros((4, 5, 5), np.uint8))
    path = tmp_path / "short"
    path.write_bytes(data[:-cut])
    with pytest.raises(DataError, match=r"short is truncated: \d+ bytes, expected 116"):
        read_idx(path)


def test_truncated_header(idx_bytes):
    with pytest.raises(DataError, match="truncated inside its header"):
        parse_idx(idx_bytes(np.zeros((2, 2, 2), np.uint8))[:9], "f")


def test_trailing_bytes_are_refused(idx_bytes):
    with pytest.raises(DataError, match="3 bytes after the data"):
        parse_idx(idx_bytes(np.zeros(4, np.uint8)) + b"abc", "f")


def test_truncated_gzip_stream(tmp_path, idx_bytes):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((9, 9, 9), np.uint8)))[:30])
    with pytest.raises(DataError, match=r"cut.gz is a broken gzip file"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="cannot read IDX file .*nowhere"):
        read_idx(tmp_path / "nowhere")


def test_checksum_is_of_the_decompressed_bytes(tmp_path, idx_bytes, write_bytes):
    data = idx_bytes(np.arange(6, dtype=np.uint8))
    path = write_bytes(tmp_path / "lab.gz", data, True)
    good = hashlib.md5(data).hexdigest()
    assert np.array_equal(read_idx(path, expected_md5=good.upper()), np.arange(6))
    with pytest.raises(DataError, match=r"lab.gz has MD5 [0-9a-f]{32}.*re-download it or delete"):
        read_idx(path, expected_md5="0" * 32)


def _pair(tmp_path, idx_bytes, write_bytes, images, labels):
    ipath = write_bytes(tmp_path / "images.gz", idx_bytes(images), True)
    lpath = write_bytes(tmp_path / "labels.gz", idx_bytes(labels), True)
    return ipath, lpath


def test_pair_gives_nchw_uint8_and_int64_labels(tmp_path, idx_bytes, write_bytes):
    images = np.random.default_rng(0).integers(0, 256, (6, 7, 5), dtype=np.uint8)
    labels = np.array([0, 9, 3, 3, 1, 2], dtype=np.uint8)
    pair = read_idx_pair(*_pair(tmp_path, idx_bytes, write_bytes, images, labels), 10)
    assert pair.images.shape == (6, 1, 7, 5) and pair.images.dtype == torch.uint8
    assert torch.equal(pair.images[:, 0], torch.from_numpy(images))
    assert pair.labels.dtype == torch.int64 and pair.labels.tolist() == labels.tolist()


def test_pair_count_mismatch(tmp_path, idx_bytes, write_bytes):
    paths = _pair(
        tmp_path, idx_bytes, write_bytes, np.zeros((3, 2, 2), np.uint8), np.zeros(4, np.uint8)
    )
    with pytest.raises(DataError, match=r"images.gz holds 3 images but .*labels.gz holds 4"):
        read_idx_pair(*paths, 10)


def test_pair_label_out_of_range(tmp_path, idx_bytes, write_bytes):
    paths = _pair(
        tmp_path, idx_bytes, write_bytes, np.zeros((2, 2, 2), np.uint8), np.array([1, 10], np.uint8)
    )
    with pytest.raises(DataError, match=r"labels.gz holds label 10, outside 0..9"):
        read_idx_pair(*paths, 10)


def test_pair_refuses_non_byte_values(tmp_path, idx_bytes, write_bytes):
    ipath = write_bytes(tmp_path / "images.gz", idx_bytes(np.zeros((2, 2, 2)), 0x0D), True)
    lpath = write_bytes(tmp_path / "labels.gz", idx_bytes(np.zeros(2, np.uint8)), True)
    with pytest.raises(DataError, match="must hold unsigned bytes"):
        read_idx_pair(ipath, lpath, 10)
