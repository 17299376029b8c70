"""One place that decides how progress is shown, so ``verbose=False`` silences all of it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(
    iterable: Iterable[T] | None = None,
    *,
    verbose: bool,
    desc: str,
    total: int | None = None,
    unit: str = "it",
) -> Any:
    """Wrap ``iterable`` in a tqdm bar that is disabled when ``verbose`` is False."""
    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        disable=not verbose,
        leave=False,
        dynamic_ncols=True,
    )
