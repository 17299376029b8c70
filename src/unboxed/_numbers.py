"""How a figure is written, one engine for every place that prints one: the report's
page, :meth:`Estimate.__str__ <unboxed.evaluate.Estimate>`, the CLI's sentences and the
demo. Standard library only, so that any layer can import it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def is_missing(value: object) -> bool:
    """Whether ``value`` is no figure: None (a NaN as a record holds it) or NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def fixed(value: float, digits: int) -> str:
    """``value`` to ``digits`` decimals, where one that rounds to 0 reads "0.000", never
    "-0.000": the one engine of how a figure is written, for the report's page,
    :meth:`Estimate.__str__ <unboxed.evaluate.Estimate>` and ``explain``'s sentences.

    A figure that rounds to 0 is 0 at the precision shown; its sign (of -0.0, of a mean
    of -0.0001 at 3 decimals) claims a side that its digits do not show, where the
    interval beside it says how far either way it may lie. Where a side is the point,
    words say it (``below it by`` in :func:`paired_difference`), not the sign of a zero.
    """
    shown = f"{value:.{digits}f}"
    return shown.lstrip("-") if float(shown) == 0 else shown


def one_row_mean(mean: str) -> str:
    """``mean``, a mean over one row as text, marked as having no CI: the bootstrap has
    one value to draw there, and its CI would be that value twice. ``explain`` prints
    it and the page shows it alike: ``0.5485 (one row: no CI)``."""
    return f"{mean} (one row: no CI)"


def paired_difference(
    mean: float | None, ci: Sequence[float] | None, digits: int, *, paired: str = ""
) -> str:
    """A paired difference against a baseline in words, its figures to ``digits``
    decimals (:func:`fixed`): ``above it by 0.210 [0.180, 0.240]``, or ``below it by``
    with the mean and interval turned round, so that the figure is never a negative
    distance; then ``paired`` (how it was paired, in the caller's words), and where the
    interval holds 0, ``; its interval holds 0: no clear difference``.

    ``ci`` None is a mean over one row, marked as having no CI (``0.041 (one row: no
    CI)``). A mean or bound that is no figure (None, as a record holds a NaN, or NaN)
    has no side to say: ``on no known side of it: the difference (...) is not a
    number``. ``explain``'s printout (``cli._above``) and the report's headline of its
    record both say it through here, so that they cannot drift apart: whether the
    interval holds 0 is decided on the interval itself, not on its figures as
    printed, so the verdict is the same at every ``digits``. A bound clear of 0 that
    rounds to 0 (0.00001) prints ``0.0000`` with no word of 0.
    """
    if mean is None or is_missing(mean) or (ci is not None and any(map(is_missing, ci))):
        return f"on no known side of it: the difference{paired} is not a number"
    side = "above"
    if mean < 0:
        side, mean = "below", -mean
        ci = None if ci is None else (-ci[1], -ci[0])
    shown = fixed(mean, digits)
    if ci is None:
        return f"{side} it by {one_row_mean(shown)}{paired}"
    low, high = (fixed(bound, digits) for bound in ci)
    # Decided on the interval, not on its rounded figures: decided on the figures, the
    # CLI's 4 decimals and the page's 3 gave one record opposite verdicts (a bound of
    # 0.0003: clear of 0 in explain, "holds 0" on the page).
    unclear = "; its interval holds 0: no clear difference" * (ci[0] <= 0 <= ci[1])
    return f"{side} it by {shown} [{low}, {high}]{paired}{unclear}"
