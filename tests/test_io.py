"""The shared file helpers: atomic writes, safe reads, data fingerprints, JSON records."""

import errno
import json
import os
import stat
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import half_an_image_then_ctrl_c
from unboxed._io import (
    array_digest,
    as_recorded,
    atomic_write,
    check_header,
    read_json,
    read_npz,
    read_npz_header,
    read_npz_with_header,
    save_figure,
    to_json,
    write_json,
    write_npz,
    write_npz_with_header,
)


def test_the_data_digest_tells_apart_the_same_bytes_reshaped_retyped_or_split():
    digests = [
        array_digest(np.zeros((2, 2))),
        array_digest(np.zeros(4)),
        array_digest(np.zeros(4).view(np.int64)),
        array_digest(np.arange(3.0), np.arange(1.0)),
        array_digest(np.arange(2.0), np.array([2.0, 0.0])),
    ]
    assert len(set(digests)) == len(digests)
    # The same arrays give the same digest, whatever their memory layout.
    X = np.arange(12.0).reshape(3, 4)
    assert array_digest(X, X[:, 0]) == array_digest(np.asfortranarray(X), X[:, 0].copy())


def test_a_record_reads_back_as_plain_json():
    settings = {"seed": np.int64(3), "widths": (8, 4), "lr": np.float32(0.5), "tol": np.inf}
    assert as_recorded(settings) == {"seed": 3, "widths": [8, 4], "lr": 0.5, "tol": None}


def test_to_json_is_canonical_and_refuses_what_it_cannot_record(tmp_path):
    # Sorted keys: the same settings give the same text, hence the same digest.
    assert to_json({"b": 1, "a": 2}) == '{"a": 2, "b": 1}'
    record = {"flag": np.bool_(True), "path": tmp_path, "x": np.array([1.0, np.nan])}
    assert as_recorded(record) == {"flag": True, "path": str(tmp_path), "x": [1.0, None]}
    with pytest.raises(TypeError, match="object is not JSON serialisable"):
        to_json({"model": object()})


def test_write_json_writes_strict_json_with_a_final_newline(tmp_path):
    path = tmp_path / "deep" / "er" / "r.json"  # missing folders are made
    write_json(path, {"z": np.float64(np.nan), "a": [np.int32(1)]})
    text = path.read_text()
    assert text.endswith("}\n") and "NaN" not in text
    assert json.loads(text) == {"a": [1], "z": None}
    assert read_json(path, what="a record") == {"a": [1], "z": None}


def test_a_written_file_gets_the_mode_of_any_new_file(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    write_npz(tmp_path / "a.npz", {"a": np.zeros(2)})
    (tmp_path / "plain").write_bytes(b"")  # mkstemp alone would give 0o600
    mode = stat.S_IMODE((tmp_path / "a.npz").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain").stat().st_mode) == 0o666 & ~umask


def test_the_mode_follows_the_umask_the_process_had_at_import(tmp_path):
    # The umask is read once at import; a fresh interpreter with an unusual umask shows
    # it is the process's own and not a fixed 0o022 (the usual default, as under pytest).
    script = (
        "import os, stat, sys; os.umask(0o027)\n"
        "from unboxed._io import write_json\n"
        "write_json(sys.argv[1], {})\n"
        "print(oct(stat.S_IMODE(os.stat(sys.argv[1]).st_mode)), oct(os.umask(0)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    run = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "r.json")],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert run.stdout.split() == ["0o640", "0o27"]  # and importing left the umask as it was


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_a_failed_write_leaves_the_earlier_file_and_no_temporary_file(tmp_path, error):
    path = tmp_path / "r.json"
    write_json(path, {"v": 1})
    with pytest.raises(error), atomic_write(path, "w") as handle:
        handle.write('{"v": 2, "half')
        raise error
    assert json.loads(path.read_text()) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_a_write_that_cannot_reach_the_disk_leaves_the_earlier_file(tmp_path, monkeypatch):
    path = tmp_path / "a.npz"
    write_npz(path, {"a": np.zeros(3)})

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_npz(path, {"a": np.ones(3)})
    monkeypatch.undo()
    assert np.array_equal(read_npz(path, what="arrays")["a"], np.zeros(3))
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]


def test_atomic_write_names_the_target_when_it_cannot_write(tmp_path):
    with pytest.raises(IsADirectoryError, match="it is a folder; pass a file name"):
        write_json(tmp_path, {})
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError, match=r"cannot write .*file[/\\]r\.json"):
        write_json(tmp_path / "file" / "r.json", {})  # its folder is a file


def test_atomic_write_says_which_folder_on_the_way_is_a_file(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    # mkdir's words before: "[Errno 17] ... File exists", "[Errno 20] ... Not a directory"
    for target in (afile / "x.npz", afile / "d" / "x.npz"):
        with pytest.raises(NotADirectoryError, match=r"afile is a file, not a folder$"):
            write_json(target, {})
    assert afile.read_text() == ""


@pytest.mark.skipif(not Path(os.devnull).exists() or os.name != "posix", reason="POSIX device")
def test_a_path_that_is_not_a_regular_file_is_named_so(tmp_path):
    with pytest.raises(OSError, match=r"null is not a regular file; expected a file$"):
        read_npz(os.devnull, what="arrays")  # "no such file: /dev/null" before


def test_npz_round_trip_is_compressed_and_the_header_is_checked(tmp_path):
    path = tmp_path / "c.npz"
    header = {"format": "unboxed-test", "format_version": 1, "seed": np.int64(4)}
    write_npz_with_header(path, header, {"w": np.zeros(100_000)})
    assert path.stat().st_size < 10_000  # 800 kB of zeros
    found, arrays = read_npz_with_header(path, what="a test file", format="unboxed-test", version=1)
    assert found == {"format": "unboxed-test", "format_version": 1, "seed": 4}
    assert list(arrays) == ["w"] and np.array_equal(arrays["w"], np.zeros(100_000))
    with pytest.raises(ValueError, match="is not another kind: unknown format"):
        read_npz_with_header(path, what="another kind", format="unboxed-other", version=1)
    write_npz(path, {"w": np.zeros(2)})  # an .npz without a header
    with pytest.raises(ValueError, match="c.npz is not a test file$"):
        read_npz_with_header(path, what="a test file", format="unboxed-test", version=1)


def test_a_header_is_read_and_checked_without_the_arrays(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    header = {"format": "unboxed-test", "format_version": 1}
    write_npz_with_header(path, header, {"w": np.zeros(100_000)})
    read = []
    npz_file = type(np.load(path))
    real_get = npz_file.__getitem__
    # records every member read from an archive
    monkeypatch.setattr(
        npz_file, "__getitem__", lambda self, key: read.append(key) or real_get(self, key)
    )
    found = read_npz_header(path, what="a test file", format="unboxed-test", version=1)
    assert found == header and read == ["header"]
    monkeypatch.undo()
    # the same refusals as read_npz_with_header's
    with pytest.raises(ValueError, match="is not another kind: unknown format"):
        read_npz_header(path, what="another kind", format="unboxed-other", version=1)
    write_npz(path, {"w": np.zeros(2)})  # an .npz without a header
    with pytest.raises(ValueError, match="c.npz is not a test file$"):
        read_npz_header(path, what="a test file", format="unboxed-test", version=1)
    path.write_text("not numpy")
    with pytest.raises(ValueError, match="it is not an .npz archive"):
        read_npz_header(path, what="a test file", format="unboxed-test", version=1)


@pytest.mark.parametrize(
    ("found", "ok"), [(1, True), (2, True), (0, False), (3, False), ("1", False), (True, False)]
)
def test_check_header_reads_versions_1_to_its_own(found, ok):
    header = {"format": "f", "format_version": found}
    if ok:
        assert check_header(header, source="x", what="w", format="f", version=2) is header
    else:
        with pytest.raises(ValueError, match="this version of unboxed reads format 2"):
            check_header(header, source="x", what="w", format="f", version=2)


def test_missing_files_and_folders_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_npz(tmp_path / "none.npz", what="arrays")
    with pytest.raises(IsADirectoryError, match="is a folder; expected a file"):
        read_json(tmp_path, what="a record")


def test_corrupt_json_is_a_clear_error(tmp_path):
    for blob in (b"{broken", b'{"a": "\xff"}'):
        (tmp_path / "r.json").write_bytes(blob)
        with pytest.raises(ValueError, match="r.json is not a record: it could not be read"):
            read_json(tmp_path / "r.json", what="a record")


def _npy_member(header: bytes, data: bytes = b"", version: int = 1) -> bytes:
    """An .npy file with a header of our choosing (numpy pads it to 64 bytes)."""
    prefix = 10 if version == 1 else 12
    header += b" " * (-(prefix + len(header) + 1) % 64) + b"\n"
    size = struct.pack("<H" if version == 1 else "<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + size + header + data


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, blob in members.items():
            archive.writestr(name, blob)
    return path


def test_foreign_files_are_refused_with_a_clear_error(tmp_path):
    text = tmp_path / "t.npz"
    text.write_text("not numpy")  # numpy would take it for a pickle
    with pytest.raises(ValueError, match="it is not an .npz archive"):
        read_npz(text, what="arrays")
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(ValueError, match="holds a single .npy array, not an .npz archive"):
        read_npz(tmp_path / "one.npy", what="arrays")
    valid = (tmp_path / "one.npy").read_bytes()
    other = _zip(tmp_path / "o.npz", {"a.npy": valid, "run.pkl": b"\x80\x04"})
    with pytest.raises(ValueError, match="its member 'run.pkl' is not a numpy array"):
        read_npz(other, what="arrays")


def test_pickled_arrays_are_never_loaded(tmp_path):
    path = tmp_path / "p.npz"
    np.savez(path, a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="Object arrays cannot be loaded"):
        read_npz(path, what="arrays")


def test_truncated_and_corrupt_archives_are_clear_errors(tmp_path):
    path = tmp_path / "a.npz"
    write_npz(path, {"a": np.arange(5000.0)})
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="could not be read safely \\(BadZipFile"):
        read_npz(path, what="arrays")
    # A deflate stream that opens with an invalid block type: zlib.error.
    blob = bytearray(blob)
    name_len, extra_len = struct.unpack("<HH", blob[26:30])  # the first local header
    blob[30 + name_len + extra_len] = 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="could not be read safely \\(error: Error -3"):
        read_npz(path, what="arrays")
    # A stored member whose header is cut short: numpy's tokenizer raised TokenError.
    h = b"{'descr': '<f8', 'fortran_order': False, 'shape': (1,"
    bad = _zip(tmp_path / "b.npz", {"a.npy": _npy_member(h, bytes(8))})
    with pytest.raises(ValueError, match="could not be read safely \\(TokenError"):
        read_npz(bad, what="arrays")
    # A member whose recorded sizes overrun the archive (its header within them): the
    # zip reader runs off the end of the file, EOFError.
    h = b"{'descr': '<f8', 'fortran_order': False, 'shape': (9000,), }"
    blob = bytearray(_zip(tmp_path / "c.npz", {"a.npy": _npy_member(h, bytes(8000))}).read_bytes())
    entry = blob.find(b"PK\x01\x02")  # the central directory's record of the member
    blob[entry + 20 : entry + 28] = struct.pack("<II", 10**6, 10**6)
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="could not be read safely \\(EOFError"):
        read_npz(path, what="arrays")


def test_a_header_declaring_more_data_than_the_member_holds_is_refused(tmp_path):
    # 1000 float64 values need 8000 bytes; 1000 are there (more than 1000 elements).
    h = b"{'descr': '<f8', 'fortran_order': False, 'shape': (1000,), }"
    path = _zip(tmp_path / "a.npz", {"a.npy": _npy_member(h, bytes(1000))})
    with pytest.raises(ValueError, match=r"its member 'a.npy' declares shape \(1000,\)"):
        read_npz(path, what="arrays")
    h = b"{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000000), }"
    path = _zip(tmp_path / "b.npz", {"a.npy": _npy_member(h, bytes(8))})
    with pytest.raises(ValueError, match="declares shape"):  # 7 TiB, never allocated
        read_npz(path, what="arrays")


def test_npy_versions_1_and_2_are_read_and_others_refused(tmp_path):
    h = b"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }"
    data = np.array([1.5, 2.5]).tobytes()
    path = _zip(tmp_path / "a.npz", {"a.npy": _npy_member(h, data, version=2)})
    assert read_npz(path, what="arrays")["a"].tolist() == [1.5, 2.5]
    member = bytearray(_npy_member(h, data, version=2))
    member[6] = 3  # version 3.0 has the layout of 2.0
    path = _zip(tmp_path / "b.npz", {"a.npy": bytes(member)})
    with pytest.raises(ValueError, match=r"its member 'a.npy' is npy version \(3, 0\)"):
        read_npz(path, what="arrays")


def test_a_figure_is_saved_in_its_suffixs_format_and_an_interrupted_save_keeps_the_earlier(
    tmp_path, monkeypatch
):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(1, 1))
    figure.add_subplot().plot([0, 1])
    save_figure(figure, tmp_path / "f.svg")
    assert b"<svg" in (tmp_path / "f.svg").read_bytes()
    save_figure(figure, tmp_path / "f.png", dpi=20)
    before = (tmp_path / "f.png").read_bytes()
    assert before.startswith(b"\x89PNG\r\n")
    monkeypatch.setattr(Figure, "savefig", half_an_image_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        save_figure(figure, tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png", "f.svg"]


def _directory_entry(blob: bytes, name: bytes) -> int:
    """The offset of the central directory's record of member ``name``."""
    entry = blob.find(b"PK\x01\x02")
    while blob[entry + 46 : entry + 46 + len(name)] != name:
        entry = blob.find(b"PK\x01\x02", entry + 1)
    return entry


@pytest.mark.parametrize(
    ("offset", "value", "message"),
    [
        (8, 0x01, "is not stored as numpy stores one"),  # the 'encrypted' flag: RuntimeError
        (10, 0x63, "is not stored as numpy stores one"),  # compression 99: NotImplementedError
        (6, 0xFF, "could not be read safely \\(NotImplementedError"),  # zip version 25.5
    ],
)
def test_a_flipped_bit_in_the_zip_directory_is_a_clear_error(tmp_path, offset, value, message):
    # Each came out of read_npz as zipfile's own RuntimeError or NotImplementedError.
    path = tmp_path / "a.npz"
    write_npz(path, {"a": np.arange(5.0)})
    blob = bytearray(path.read_bytes())
    blob[_directory_entry(bytes(blob), b"a.npy") + offset] = value
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match=message):
        read_npz(path, what="arrays")


def test_writing_through_a_symbolic_link_writes_its_target_and_keeps_the_link(tmp_path):
    # The rename replaced the link itself with a regular file, so the file it pointed at
    # kept the old contents and the link was gone.
    target = tmp_path / "results" / "table.md"
    target.parent.mkdir()
    target.write_text("old\n")
    link = tmp_path / "latest.md"
    link.symlink_to(Path("results") / "table.md")  # relative, as links usually are
    with atomic_write(link, "w") as handle:
        handle.write("new\n")
    assert link.is_symlink() and os.readlink(link) == str(Path("results") / "table.md")
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["table.md"]  # no temporary
    # A link whose target is not there yet creates the target, as open(link, "w") would.
    dangling = tmp_path / "next.md"
    dangling.symlink_to(tmp_path / "results" / "next.md")
    write_json(dangling, {"a": 1})
    assert dangling.is_symlink() and read_json(tmp_path / "results" / "next.md", what="x") == {
        "a": 1
    }


def test_a_loop_of_symbolic_links_is_refused_not_replaced(tmp_path):
    # realpath gives up on a loop and returned one of its links, which the rename then
    # replaced with a regular file: the loop silently became a file and a dangling link.
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    first.symlink_to(second.name)
    second.symlink_to(first.name)
    with pytest.raises(OSError, match="first.json: it is a loop of symbolic links") as raised:
        write_json(first, {"a": 1})
    assert raised.value.errno == errno.ELOOP  # as open(first, "w") refuses it
    assert os.readlink(first) == second.name and os.readlink(second) == first.name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.json", "second.json"]


def test_a_set_is_written_in_one_order_whatever_the_string_hashes():
    # A set of strings came out in the order of the process's string hashes: under
    # PYTHONHASHSEED 1, 2 and 3 the same record gave three files.
    import os
    import subprocess
    import sys

    code = (
        "from unboxed._io import to_json; "
        "print(to_json({'a': {'x', 'y', 'z', 'w', 'v'}, 'b': frozenset({3, 1, 2})}))"
    )
    written = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert written == {'{"a": ["v", "w", "x", "y", "z"], "b": [1, 2, 3]}\n'}


@pytest.mark.parametrize("path", [None, 3, b"a.json"])
def test_every_saver_and_loader_names_a_path_that_is_no_str_or_path(path):
    # pathlib's TypeError ("expected str, bytes or os.PathLike object, not NoneType")
    # named no argument, in every saver and loader but the explanations' and Estimate's.
    from unboxed import zoo
    from unboxed._io import atomic_write, existing_file

    message = "path must be a str or path, got "
    with pytest.raises(TypeError, match=message), atomic_write(path):
        pass
    with pytest.raises(TypeError, match=message):
        existing_file(path)
    model = zoo.mlp((4,), n_features=4, n_classes=2)
    with pytest.raises(TypeError, match=message):
        zoo.save(model, path)
    with pytest.raises(TypeError, match=message):
        zoo.load(path)
