"""Atomic file writes and safe reads of JSON and ``.npz`` files.

Nothing here unpickles: ``.npz`` files are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import tempfile
import tokenize
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from ._validation import is_int

#: The process's umask, read once at import: ``mkstemp`` makes files readable by their
#: owner only, and a saved result should get the mode any new file gets.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` and move it into place on success.

    A crash or an exception leaves any earlier file at ``path`` untouched, because
    ``os.replace`` is atomic on POSIX when both names are on the same file system.
    A ``path`` that is a symbolic link is written through to the link's target, as
    ``open(path, "w")`` would: the link stays, and so do other links to that file.
    A loop of links is refused with ``OSError`` (``ELOOP``), as ``open`` refuses it,
    rather than replaced by a regular file as ``os.replace`` onto the link would: that
    is what tools that replace a link do, but here it would drop a link the caller
    meant to write through, and leave the loop's other links pointing at the file.
    """
    check_path(path)  # every saver writes through here
    path = Path(path)
    if path.is_symlink():
        # Renaming onto the link itself would replace it with a regular file.
        resolved = Path(os.path.realpath(path))
        if resolved.is_symlink():  # realpath gives up on a loop and returns a link in it
            raise OSError(errno.ELOOP, f"cannot write {path}: it is a loop of symbolic links")
        path = resolved
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a folder; pass a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:  # else the message names the temporary file, not the target
        # mkdir's "File exists" / "Not a directory" did not say which name is a file
        above = next((p for p in path.parents if p.exists() or p.is_symlink()), None)
        if above is not None and not above.is_dir():
            raise NotADirectoryError(
                errno.ENOTDIR, f"cannot write {path}: {above} is a file, not a folder"
            ) from err
        raise type(err)(err.errno, f"cannot write {path}: {err.strerror}") from err
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _sync_folder(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _sync_folder(folder: Path) -> None:
    """Flush the folder's entry for a renamed file, so the rename survives a crash."""
    with contextlib.suppress(OSError):  # not every platform opens folders
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def check_path(path: object) -> None:
    """Refuse a ``path`` that is no str or path by name: pathlib's TypeError ("expected
    str, bytes or os.PathLike object, not NoneType") named no argument."""
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or path, got {type(path).__name__}")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically (non-finite floats as ``null``)."""
    text = json.dumps(_finite(obj), indent=2, sort_keys=True, allow_nan=False)
    with atomic_write(path, "w") as handle:
        handle.write(text + "\n")


def to_json(obj: Any) -> str:
    """Serialise ``obj`` to JSON, turning numpy scalars and arrays into lists.

    NaN and infinities become ``null``: Python's own ``NaN`` and ``Infinity`` tokens
    are not JSON, and other readers refuse them.
    """
    return json.dumps(_finite(obj), sort_keys=True, allow_nan=False)


def as_recorded(obj: Any) -> Any:
    """``obj`` as it reads back from :func:`to_json`: what a saved record is compared with."""
    return json.loads(to_json(obj))


def _finite(obj: Any) -> Any:
    """``obj`` as plain JSON types, with every non-finite float turned into None."""
    if isinstance(obj, dict):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(value) for value in obj]
    if isinstance(obj, set | frozenset):
        # In a fixed order: iterated as it is, a set of strings came out in the order
        # of that process's string hashes, so two identical runs wrote different files.
        values = [_finite(value) for value in obj]
        return sorted(values, key=lambda value: (type(value).__name__, json.dumps(value)))
    if isinstance(obj, np.ndarray):
        return _finite(obj.tolist())
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, str | int):
        return obj
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def save_figure(figure: Any, path: str | os.PathLike, **kwargs: Any) -> None:
    """Save a matplotlib ``figure`` atomically, in the format ``path``'s suffix names.

    ``figure.savefig(path)`` writes in place: an interrupted save would leave a
    truncated image where an earlier, complete one was.
    """
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        figure.savefig(handle, format=path.suffix.lstrip(".") or None, **kwargs)


def write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to a compressed ``.npz`` file, atomically."""
    with atomic_write(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]  # numpy's stub


def write_npz_with_header(
    path: str | os.PathLike, header: dict[str, Any], arrays: dict[str, np.ndarray]
) -> None:
    """Write ``arrays`` and a JSON ``header`` (as the bytes of a ``header`` array) to one
    ``.npz`` file, atomically: a checkpoint in one file and one rename."""
    blob = np.frombuffer(to_json(header).encode(), dtype=np.uint8)
    write_npz(path, {**arrays, "header": blob})


def read_npz_with_header(
    path: str | os.PathLike, *, what: str, format: str, version: int
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a file of :func:`write_npz_with_header`: its checked header and its arrays.

    Raises
    ------
    ValueError
        If the file is not such a file of ``format`` at most at ``version``.
    """
    arrays = read_npz(path, what=what)
    header = _checked_header(arrays.pop("header", None), path, what, format, version)
    return header, arrays


def read_npz_header(
    path: str | os.PathLike, *, what: str, format: str, version: int
) -> dict[str, Any]:
    """The checked header of a file of :func:`write_npz_with_header`, its arrays unread.

    A check made before long work: :func:`read_npz_with_header` loads every array
    (a DMM-MEN checkpoint's draws: hundreds of MB on MNIST) before it reads the header.

    Raises
    ------
    ValueError
        If the file is not such a file of ``format`` at most at ``version``.
    """
    path = existing_file(path)
    arrays = _read_safely(path, what, lambda: _load_all(path, keys=("header",)))
    return _checked_header(arrays.get("header"), path, what, format, version)


def _checked_header(
    blob: np.ndarray | None, path: Path | str | os.PathLike, what: str, format: str, version: int
) -> dict[str, Any]:
    """The JSON header ``blob`` (None where the file holds none), parsed and checked."""
    try:
        header = parse_json(bytes(blob).decode())  # type: ignore[arg-type]
    except (TypeError, ValueError, UnicodeDecodeError) as err:  # no header, or not JSON
        raise ValueError(f"{path} is not {what}") from err
    return check_header(header, source=path, what=what, format=format, version=version)


def read_checkpoint(
    path: str | os.PathLike,
    *,
    what: str,
    format: str,
    version: int,
    fingerprint: object,
    mismatch: str,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a checkpoint of :func:`write_npz_with_header` whose header must hold
    ``fingerprint``: the settings and data it was made for, which a resumed fit must
    share.

    Parameters
    ----------
    path : path-like
    what, format, version
        As for :func:`read_npz_with_header`.
    fingerprint : object
        What the header's ``"fingerprint"`` must equal.
    mismatch : str
        The error message's text after the path, for a checkpoint made for another fit.

    Returns
    -------
    header : dict
    arrays : dict of ndarray

    Raises
    ------
    ValueError
        If the file is not such a checkpoint, or was made for another fit.
    """
    header, arrays = read_npz_with_header(path, what=what, format=format, version=version)
    if header.get("fingerprint") != fingerprint:
        raise ValueError(f"{path} {mismatch}")
    return header, arrays


def read_npz(path: str | os.PathLike, *, what: str) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` file without unpickling anything.

    Parameters
    ----------
    path : path-like
        The file.
    what : str
        What the file should hold, for error messages.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    IsADirectoryError
        If ``path`` is a folder.
    ValueError
        If the file is not a readable ``.npz`` archive or holds pickled objects.
    """
    path = existing_file(path)
    return _read_safely(path, what, lambda: _load_all(path))


def existing_file(path: str | os.PathLike) -> Path:
    """``path`` as a Path; a clear error if it is a folder, not a regular file or does
    not exist."""
    check_path(path)  # every loader reads through here
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; expected a file")
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if not path.is_file():  # /dev/null, a pipe, a socket: "no such file" was untrue
        raise OSError(f"{path} is not a regular file; expected a file")
    return path


def _load_all(path: Path, keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file ``path`` (those of ``keys`` found there, if given)."""
    with open(path, "rb") as file:
        magic = file.read(6)
    # numpy takes any other file for a pickle and suggests allow_pickle=True: never.
    if not (magic.startswith(b"PK\x03\x04") or magic == b"\x93NUMPY"):
        raise ValueError("it is not an .npz archive (nor any numpy file)")
    if magic == b"\x93NUMPY":
        raise ValueError("it holds a single .npy array, not an .npz archive")
    _check_members(path)
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files if keys is None or key in keys}


_NUMPY_COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)

_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def _check_members(path: Path) -> None:
    """Every member is an ``.npy`` array whose header fits the member's size.

    A header may declare any shape: (10^6, 10^6) in a 1 KB file made numpy try to
    allocate 7 TiB before it found the data missing.
    """
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                raise ValueError(f"its member {info.filename!r} is not a numpy array")
            # numpy writes every member stored or deflated, unencrypted; zipfile met
            # anything else (one flipped bit in the archive's directory) with
            # NotImplementedError or a RuntimeError asking for a password.
            if info.flag_bits & 0x1 or info.compress_type not in _NUMPY_COMPRESSIONS:
                raise ValueError(f"its member {info.filename!r} is not stored as numpy stores one")
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                read_header = _HEADER_READERS.get(version)
                if read_header is None:
                    raise ValueError(f"its member {info.filename!r} is npy version {version}")
                shape, _, dtype = read_header(member)
            if math.prod(shape) * dtype.itemsize > info.file_size:
                raise ValueError(
                    f"its member {info.filename!r} declares shape {shape}, more than its "
                    f"{info.file_size} bytes hold"
                )


def read_json(path: str | os.PathLike, *, what: str) -> Any:
    """Read a JSON file, turning any decoding failure into a clear ``ValueError``."""
    path = existing_file(path)
    return _read_safely(path, what, lambda: parse_json(path.read_text(encoding="utf-8")))


def parse_json(text: str | bytes) -> Any:
    """``json.loads``, raising ``ValueError`` for all bad JSON: arrays nested some
    thousand deep made Python's parser raise RecursionError, which no reader caught."""
    try:
        return json.loads(text)
    except RecursionError as err:
        raise ValueError(f"its JSON nests too deep to read ({err})") from err


def _read_safely(path: Path, what: str, read: Callable[[], Any]) -> Any:
    try:
        return read()
    except (
        ValueError,
        OSError,
        EOFError,
        tokenize.TokenError,  # numpy tokenizes an .npy header, and may raise this
        zipfile.BadZipFile,
        NotImplementedError,  # zipfile, for a zip feature it lacks (a later zip version)
        zlib.error,
        UnicodeDecodeError,
    ) as err:
        raise ValueError(
            f"{path} is not {what}: it could not be read safely ({type(err).__name__}: {err})"
        ) from err


def check_header(header: Any, *, source: object, what: str, format: str, version: int) -> dict:
    """Check the format name and version of a JSON header we wrote.

    Raises
    ------
    ValueError
        If ``header`` is not a dict naming ``format``, or its version is not an int
        this library can read (at most ``version``).
    """
    if not isinstance(header, dict) or header.get("format") != format:
        raise ValueError(f"{source} is not {what}: unknown format")
    found = header.get("format_version")
    if not is_int(found) or not 1 <= found <= version:
        raise ValueError(
            f"{source} has format version {found!r}; this version of unboxed reads format "
            f"{version} (a newer unboxed may have written it)"
        )
    return header


def check_saved_arrays(arrays: Mapping[str, Any], template: Mapping[str, np.ndarray]) -> None:
    """Refuse saved ``arrays`` that differ from ``template`` in their names, a shape or
    a dtype's kind (signed and unsigned ints are one), or whose floats are not finite.

    A checkpoint's header is checked on load, but its arrays were used as they came: a
    missing one was a KeyError, one of another shape an error from deep in numpy, and
    a NaN a Markov chain that never ended.

    Parameters
    ----------
    arrays : mapping of str to ndarray
        What was read.
    template : mapping of str to ndarray
        Arrays of the shapes and dtypes a fresh fit makes (their values are unused).

    Raises
    ------
    ValueError
        Naming the first array that differs; the caller adds the file's name.
    """
    if set(arrays) != set(template):
        raise ValueError(f"it holds arrays {sorted(arrays)}, expected {sorted(template)}")
    for name, expected in template.items():
        found = arrays[name]
        kind = "iu" if expected.dtype.kind in "iu" else expected.dtype.kind
        if (
            not isinstance(found, np.ndarray)
            or found.shape != expected.shape
            or found.dtype.kind not in kind
            or (kind == "f" and not np.all(np.isfinite(found)))
            # A float64 value past a float32 array's range became inf when cast into it.
            or (kind == "f" and found.size and np.abs(found).max() > np.finfo(expected.dtype).max)
        ):
            raise ValueError(
                f"its {name} is {getattr(found, 'dtype', type(found).__name__)} of shape "
                f"{getattr(found, 'shape', None)}; expected finite values of kind "
                f"{expected.dtype.kind!r} (within {expected.dtype}'s range) and shape "
                f"{expected.shape}"
            )


def check_generator_state(state: Any, *, like: np.random.Generator) -> Any:
    """``state`` if a bit generator of ``like``'s kind accepts it (the user's may be
    other than PCG64, so there is no default kind).

    numpy raised TypeError, ValueError, KeyError or OverflowError (a huge or negative
    counter) for a damaged one; each becomes a ``ValueError``, which the caller prefixes
    with the file's name.
    """
    generator = type(like.bit_generator)()
    try:
        generator.state = state
    except (TypeError, ValueError, OverflowError, KeyError) as err:
        raise ValueError(f"its random generator state is invalid ({err})") from err
    # numpy truncates a float counter (0.5 became 0) and takes true for 1: the fit went
    # on from another state than the file's. A state saved from numpy reads back as it is.
    try:
        same = to_json(generator.state) == to_json(state)
    except TypeError:  # something JSON cannot hold, which no saved state has
        same = False
    if not same:
        raise ValueError(
            "its random generator state is invalid (numpy reads it as another state: a "
            "number that is not an int, or true or false where a count belongs)"
        )
    return state


def json_digest(obj: Any) -> str:
    """The sha256 of ``obj`` as :func:`to_json` writes it (sorted keys): a fingerprint of
    a JSON record, kept beside it or in another file to tell a changed one."""
    return hashlib.sha256(to_json(obj).encode()).hexdigest()


def array_digest(*arrays: np.ndarray) -> str:
    """The sha256 of the arrays, in order: a fingerprint of the data a checkpoint was
    made on, so that one made on other data is refused.

    Each array's dtype and shape are hashed before its bytes, so that the same bytes
    reshaped, retyped or split between the arrays differently give another digest.
    """
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
