import gzip

import numpy as np
import pytest

from tests.helpers import requires_fashion_mnist
from unboxed import load_dataset
from unboxed.data import parse_idx, read_idx
from unboxed.data._fashion_mnist import SYSTEM_DIR


def _idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = bytes([0, 0, type_code, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def test_round_trip_plain_and_gzipped(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    raw = _idx_bytes(images)
    (tmp_path / "a-idx3-ubyte").write_bytes(raw)
    (tmp_path / "a-idx3-ubyte.gz").write_bytes(gzip.compress(raw))
    assert np.array_equal(read_idx(tmp_path / "a-idx3-ubyte"), images)
    assert np.array_equal(read_idx(tmp_path / "a-idx3-ubyte.gz"), images)


def test_other_types_are_big_endian():
    values = np.array([1.5, -2.25, 1e10], dtype=np.float64)
    assert np.array_equal(parse_idx(_idx_bytes(values, 0x0E)), values)
    ints = np.array([[1, -70000], [3, 4]], dtype=np.int32)
    assert np.array_equal(parse_idx(_idx_bytes(ints, 0x0C)), ints)
    parsed = parse_idx(_idx_bytes(ints, 0x0C))
    # in native byte order and writable, as the docstring promises
    assert parsed.dtype == np.int32 and parsed.dtype.isnative and parsed.flags.writeable


def test_truncated_data_is_rejected(tmp_path):
    raw = _idx_bytes(np.zeros((4, 28, 28), dtype=np.uint8))
    with pytest.raises(ValueError, match="truncated IDX data"):
        parse_idx(raw[:-10])
    with pytest.raises(ValueError, match="truncated IDX header"):
        parse_idx(raw[:9])
    with pytest.raises(ValueError, match="unexpected bytes"):
        parse_idx(raw + b"\x00")


def test_bad_magic_is_rejected():
    with pytest.raises(ValueError, match="not an IDX file"):
        parse_idx(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(ValueError, match=r"not an IDX file \(the file is empty\)"):
        parse_idx(b"")  # it read "bad magic number " with nothing after it
    with pytest.raises(TypeError, match="raw must be bytes, got str"):
        parse_idx("train-images-idx3-ubyte")  # a path by mistake: an AttributeError before


def test_corrupt_gzip_is_rejected(tmp_path):
    blob = gzip.compress(_idx_bytes(np.zeros((100, 28, 28), dtype=np.uint8)))
    (tmp_path / "cut.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="corrupt gzip stream"):
        read_idx(tmp_path / "cut.gz")
    flipped = bytearray(blob)
    flipped[20:30] = b"\xff" * 10
    (tmp_path / "flipped.gz").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="corrupt gzip stream"):
        read_idx(tmp_path / "flipped.gz")


def _fake_fashion_folder(folder, n_train=60000, n_test=10000, truncate=False):
    files = {
        "train-images-idx3-ubyte": np.zeros((n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.zeros(n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": np.zeros((n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.zeros(n_test, dtype=np.uint8),
    }
    for name, array in files.items():
        raw = _idx_bytes(array)
        if truncate and name.startswith("train-images"):
            raw = raw[:-1000]
        (folder / name).write_bytes(raw)


def test_loader_rejects_a_truncated_file(tmp_path):
    _fake_fashion_folder(tmp_path, n_train=10, n_test=10, truncate=True)
    with pytest.raises(ValueError, match="truncated IDX data"):
        load_dataset("fashion-mnist", path=tmp_path)


def test_loader_rejects_wrong_sizes(tmp_path):
    _fake_fashion_folder(tmp_path, n_train=10, n_test=10)
    with pytest.raises(ValueError, match=r"expected uint8 data of shape \(60000, 28, 28\)"):
        load_dataset("fashion-mnist", path=tmp_path)


@requires_fashion_mnist
def test_real_file_header_and_size():
    labels = read_idx(f"{SYSTEM_DIR}/t10k-labels-idx1-ubyte.gz")
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert labels[:5].tolist() == [9, 2, 1, 1, 6]


def test_zero_dimensions_are_rejected():
    with pytest.raises(ValueError, match="IDX header declares 0 dimensions"):
        parse_idx(bytes([0, 0, 0x08, 0, 7]))


@pytest.mark.parametrize(
    ("type_code", "values"),
    [
        (0x09, np.array([-128, -1, 0, 127], dtype=np.int8)),  # signed, not uint8
        (0x0B, np.array([-300, 1, 258], dtype=np.int16)),  # big-endian: 258 is not 513
        (0x0D, np.array([1.5, -0.25, 3e7], dtype=np.float32)),  # floats, not int32 bits
    ],
)
def test_every_type_code_reads_its_own_dtype(type_code, values):
    parsed = parse_idx(_idx_bytes(values, type_code))
    assert parsed.dtype == values.dtype and np.array_equal(parsed, values)


def test_a_header_shape_is_big_endian():
    # 1 x 256 read little-endian would be 16777216 x 1
    raw = _idx_bytes(np.arange(256, dtype=np.uint8).reshape(1, 256))
    assert parse_idx(raw).shape == (1, 256)


@pytest.mark.parametrize(
    "raw",
    [
        bytes([1, 0, 0x08, 1, 0, 0, 0, 1, 7]),  # first byte not zero
        bytes([0, 1, 0x08, 1, 0, 0, 0, 1, 7]),  # second byte not zero
        bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 7]),  # no such type code
        bytes([0, 0, 0x08]),  # too short to hold the magic number
    ],
)
def test_each_byte_of_the_magic_number_is_checked(raw):
    with pytest.raises(ValueError, match="not an IDX file"):
        parse_idx(raw)


def test_a_corrupt_header_of_many_dimensions_is_named_short():
    """All 255 sizes of a corrupt header were printed, and their product's 77 digits."""
    raw = bytes([0, 0, 0x08, 255]) + np.full(255, 2, dtype=">u4").tobytes()
    with pytest.raises(ValueError) as err:
        parse_idx(raw)
    assert str(err.value) == (
        "<bytes>: truncated IDX data: the header declares 255 dimensions (2, 2, 2, ...) "
        "(a 77-digit number of bytes) but only 0 bytes follow"
    )


def test_a_header_one_byte_short_is_truncated():
    raw = _idx_bytes(np.zeros((2, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="truncated IDX header"):
        parse_idx(raw[:11])  # 4 + 2 * 4 = 12 bytes of header


def test_gzip_is_detected_by_content_not_by_name(tmp_path):
    values = np.arange(6, dtype=np.uint8).reshape(2, 3)
    (tmp_path / "zipped-idx2-ubyte").write_bytes(gzip.compress(_idx_bytes(values)))
    assert np.array_equal(read_idx(tmp_path / "zipped-idx2-ubyte"), values)


def test_a_gzip_stream_cut_after_its_header_is_a_corrupt_stream(tmp_path):
    blob = gzip.compress(_idx_bytes(np.zeros((100, 28, 28), dtype=np.uint8)))
    (tmp_path / "cut.gz").write_bytes(blob[:12])  # gzip raises EOFError here
    with pytest.raises(ValueError, match="corrupt gzip stream"):
        read_idx(tmp_path / "cut.gz")


def test_bytes_are_read_into_a_writable_copy():
    # uint8 needs no byte swap: without a copy it was a read-only view of the bytes
    parsed = parse_idx(_idx_bytes(np.arange(6, dtype=np.uint8).reshape(2, 3)))
    assert parsed.flags.writeable and parsed.flags.owndata


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (None, "path must be a str or path, got NoneType$"),
        (3, "path must be a str or path, got int$"),
        # the file's bytes, read already: parse_idx takes those
        (_idx_bytes(np.arange(3, dtype=np.uint8)), "got bytes; use parse_idx for a file's bytes"),
    ],
)
def test_read_idx_names_a_path_of_the_wrong_kind(path, message):
    with pytest.raises(TypeError, match=message):
        read_idx(path)


def test_a_memoryview_is_read_by_its_bytes_whatever_its_items():
    raw = _idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))
    want = parse_idx(raw)
    # a view of 4-byte items: its first item, not byte, was read as the magic number
    words = np.frombuffer(raw, dtype=np.uint32)  # 12 + 12 bytes: whole words
    np.testing.assert_array_equal(parse_idx(memoryview(words)), want)
    # a 2-d view: indexing it raised NotImplementedError
    np.testing.assert_array_equal(
        parse_idx(memoryview(np.frombuffer(raw, np.uint8).reshape(4, 6))), want
    )


def test_parse_idx_names_gzip_compressed_bytes():
    # "not an IDX file (bad magic number 1f8b0800)": read_idx decompresses, parse_idx not
    blob = gzip.compress(_idx_bytes(np.arange(3, dtype=np.uint8)))
    with pytest.raises(ValueError, match=r"<bytes>: gzip-compressed data, not IDX; decompress"):
        parse_idx(blob)
    np.testing.assert_array_equal(parse_idx(gzip.decompress(blob)), np.arange(3))


def test_a_file_gzipped_twice_is_named(tmp_path):
    twice = tmp_path / "twice-idx1-ubyte.gz"
    twice.write_bytes(gzip.compress(gzip.compress(_idx_bytes(np.arange(3, dtype=np.uint8)))))
    with pytest.raises(ValueError, match=f"{twice}: gzip-compressed data, not IDX"):
        read_idx(twice)
