"""The benchmarks' result and cache files are written atomically (benchmarks/_common.py)."""

import builtins
import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest


def _load_common():
    """benchmarks/_common.py, loaded from its file: the benchmarks folder on sys.path
    would let its scripts (clime, jgmm) shadow other modules for the whole session."""
    path = Path(__file__).parents[1] / "benchmarks" / "_common.py"
    spec = importlib.util.spec_from_file_location("_benchmarks_common", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_common = _load_common()


class _HalfThenCtrlC:
    """A file opened for writing that takes half of the first write and is then
    interrupted, as Ctrl-C (or a full disk) mid-write would."""

    def __init__(self, handle):
        self._handle = handle

    def write(self, data):
        self._handle.write(data[: len(data) // 2])
        self._handle.flush()
        raise KeyboardInterrupt

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()


def _interrupt_writes(monkeypatch):
    """Cut off every file opened for writing from here on mid-write; ``open``,
    ``Path.write_text`` and ``os.fdopen`` all open through ``io.open``."""
    real = io.open

    def opened(file, mode="r", *args, **kwargs):
        handle = real(file, mode, *args, **kwargs)
        return _HalfThenCtrlC(handle) if "w" in mode else handle

    monkeypatch.setattr(io, "open", opened)
    monkeypatch.setattr(builtins, "open", opened)


def test_an_interrupted_write_of_results_keeps_the_earlier_files(tmp_path, monkeypatch):
    # write_text wrote in place: a Ctrl-C left half a table in benchmarks/results.
    monkeypatch.setattr(_common, "RESULTS", tmp_path / "results")
    _common.write_results("bench", "| a |\n|---|\n| 1 |\n", {"a": [1.0, float("nan")]})
    before = {p.name: p.read_bytes() for p in (tmp_path / "results").iterdir()}
    assert before["bench.json"].decode() == '{\n  "a": [\n    1.0,\n    null\n  ]\n}\n'

    with monkeypatch.context() as patch:
        _interrupt_writes(patch)
        with pytest.raises(KeyboardInterrupt):
            _common.write_results("bench", "| a |\n|---|\n| 2 |\n", {"a": [2.0]})
    after = {p.name: p.read_bytes() for p in (tmp_path / "results").iterdir()}
    assert after == before  # and no temporary file is left beside them


def test_an_interrupted_cache_write_keeps_the_earlier_cache(tmp_path, monkeypatch):
    # np.save(path, ...) wrote in place: a truncated .npy stopped every later run.
    path = tmp_path / "cache" / "lime.npy"
    _common.save_array(path, np.arange(1000))
    text = tmp_path / "cache" / "search.json"
    _common.write_text(text, '{"best": 1}')
    with monkeypatch.context() as patch:
        _interrupt_writes(patch)
        with pytest.raises(KeyboardInterrupt):
            _common.save_array(path, np.zeros(1000, dtype=int))
        with pytest.raises(KeyboardInterrupt):
            _common.write_text(text, '{"best": 2}')
    np.testing.assert_array_equal(np.load(path, allow_pickle=False), np.arange(1000))
    assert text.read_text() == '{"best": 1}'
    assert sorted(p.name for p in path.parent.iterdir()) == ["lime.npy", "search.json"]
    with pytest.raises(ValueError, match="Object arrays cannot be saved"):
        _common.save_array(path, np.array([{"a": 1}], dtype=object))  # nor pickled
