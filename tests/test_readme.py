"""The README's self-contained examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def block_with(text: str) -> str:
    found = [block for block in python_blocks() if text in block]
    assert len(found) == 1, f"expected one README block with {text!r}, found {len(found)}"
    return found[0]


@pytest.mark.parametrize(
    "marker",
    [
        "from unboxed.local import Lime, Saliency",  # the quick start
        "ActivationMaximization(bb, generator=vae",  # probes and the tree surrogate
    ],
)
def test_a_self_contained_example_runs(marker, tmp_path, monkeypatch):
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)  # the examples save files
    exec(compile(block_with(marker), f"README.md ({marker})", "exec"), {})
