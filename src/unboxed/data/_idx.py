"""A reader for the IDX format of MNIST and Fashion-MNIST, plain or gzipped.

Format (http://yann.lecun.com/exdb/mnist/): two zero bytes, a type code, the number
of dimensions, then one big-endian uint32 per dimension, then the data in C order,
big-endian.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

_GZIP_MAGIC = b"\x1f\x8b"
_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, checking its magic number and that its size matches its header.

    Parameters
    ----------
    path : path-like
        An ``*-idx?-ubyte`` file, optionally gzip-compressed (detected by content).

    Returns
    -------
    ndarray
        The data in native byte order, shaped as the header says.

    Raises
    ------
    TypeError
        If ``path`` is not a str or path (the file's bytes, say).
    ValueError
        If the file is not IDX, is truncated, has trailing bytes, or its gzip stream is corrupt.
    """
    if not isinstance(path, str | os.PathLike):  # pathlib's error named no argument
        bytes_hint = (
            "; use parse_idx for a file's bytes" if isinstance(path, bytes | bytearray) else ""
        )
        raise TypeError(f"path must be a str or path, got {type(path).__name__}{bytes_hint}")
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise ValueError(f"{path}: corrupt gzip stream ({err})") from err
    return parse_idx(raw, source=str(path))


def parse_idx(raw: bytes, *, source: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an (uncompressed) IDX file; see :func:`read_idx`.

    Parameters
    ----------
    raw : bytes, bytearray or memoryview
        The whole file.
    source : str, default="<bytes>"
        Where the bytes came from, for error messages.

    Returns
    -------
    ndarray
        The data in native byte order, shaped as the header says.

    Raises
    ------
    TypeError
        If ``raw`` is not bytes-like (a path, say).
    ValueError
        If the bytes are not IDX, are truncated, or have trailing bytes.
    """
    if not isinstance(raw, bytes | bytearray | memoryview):  # an AttributeError before
        raise TypeError(f"raw must be bytes, got {type(raw).__name__}; use read_idx for a path")
    if isinstance(raw, memoryview):
        # Indexed and measured by items, not bytes: a view of int32 or of a 2-d array
        # read its first item as the magic number (or raised NotImplementedError).
        raw = raw.tobytes()
    if not raw:  # "bad magic number " with nothing after it
        raise ValueError(f"{source}: not an IDX file (the file is empty)")
    if raw[:2] == _GZIP_MAGIC:  # "bad magic number 1f8b0800" did not say what they were
        raise ValueError(
            f"{source}: gzip-compressed data, not IDX; decompress it first "
            "(gzip.decompress; read_idx decompresses a file once)"
        )
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise ValueError(f"{source}: not an IDX file (bad magic number {raw[:4].hex()})")
    dtype, ndim = _TYPES[raw[2]], raw[3]
    if ndim == 0:
        raise ValueError(f"{source}: IDX header declares 0 dimensions")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise ValueError(f"{source}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = math.prod(shape) * dtype.itemsize
    actual = len(raw) - header_size
    if actual < expected:
        raise ValueError(
            f"{source}: truncated IDX data: the header declares {_declared(shape)} "
            f"({_count(expected)} bytes) but only {actual} bytes follow"
        )
    if actual > expected:
        raise ValueError(f"{source}: {actual - expected} unexpected bytes after the IDX data")
    data = np.frombuffer(raw, dtype=dtype, offset=header_size).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _declared(shape: tuple[int, ...]) -> str:
    """A header's shape for an error: in full up to 4 dimensions, else the count and
    the first 3 (a corrupt header declaring 255 dimensions printed all 255)."""
    if len(shape) <= 4:
        return f"shape {shape}"
    return f"{len(shape)} dimensions ({', '.join(map(str, shape[:3]))}, ...)"


def _count(n: int) -> str:
    """A byte count, its digits counted past 15 of them (255 dimensions of 2**32 - 1
    make a number of 2,457 digits)."""
    digits = str(n)
    return digits if len(digits) <= 15 else f"a {len(digits)}-digit number of"
