"""Saving fidelity results: the :class:`~unboxed.evaluate.Estimate` fields that
:class:`~unboxed.explanation.SavedResult` cannot store by itself, and checks on the
arrays read back."""

from __future__ import annotations

import typing
from typing import Any

import numpy as np

from .._validation import is_int
from ..explanation import SavedResult
from ._stats import Estimate


class SavedWithEstimates(SavedResult):
    """A saved result whose :class:`Estimate` fields go into the file's JSON header as
    ``mean``, ``ci`` and ``n`` (JSON writes a float so that it reads back exactly)."""

    def _encode(
        self, arrays: dict[str, np.ndarray], scalars: dict[str, Any]
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        plain = {k: v.as_dict() if isinstance(v, Estimate) else v for k, v in scalars.items()}
        return arrays, plain

    @classmethod
    def _decode(cls, fields: dict[str, Any]) -> dict[str, Any]:
        hints = typing.get_type_hints(cls)
        fields = dict(fields)
        for name, value in fields.items():
            hint = hints.get(name)
            if hint is Estimate:
                fields[name] = _estimate_from_record(value, name=name)
            elif hint is float:
                fields[name] = _finite_float(value, name=name)
            elif hint is int and not is_int(value):
                raise ValueError(f"{name} must be an int, got {value!r}")
        return fields


def _finite_float(value: Any, *, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _estimate_from_record(record: Any, *, name: str) -> Estimate:
    """The :class:`Estimate` that ``Estimate.as_dict`` wrote as ``record``."""
    if not isinstance(record, dict) or set(record) != {"mean", "ci", "n"}:
        raise ValueError(f"{name} is not an estimate (mean, ci, n): {record!r}")
    ci = record["ci"]
    if not isinstance(ci, list) or len(ci) != 2:
        raise ValueError(f"{name}'s ci must be two numbers, got {ci!r}")
    n = record["n"]
    if not is_int(n) or n < 0:
        raise ValueError(f"{name}'s n must be a count, got {n!r}")
    low, high = (_finite_float(bound, name=f"{name}'s ci") for bound in ci)
    if low > high:
        raise ValueError(f"{name}'s ci is inverted: low {low!r} > high {high!r}")
    return Estimate(_finite_float(record["mean"], name=f"{name}'s mean"), (low, high), int(n))


def loaded_array(
    fields: dict[str, Any], name: str, *, kind: str, ndim: int, finite: bool = False
) -> np.ndarray:
    """The loaded array ``name``, refused unless of ``ndim`` dimensions and of a dtype of
    ``kind`` (numpy's ``dtype.kind`` letters), and with ``finite`` unless every value is
    finite: a NaN written into a file was otherwise found only later, by a computation
    that cannot name the field ("values contains NaN")."""
    array = fields.get(name)
    if not isinstance(array, np.ndarray) or array.ndim != ndim or array.dtype.kind not in kind:
        raise ValueError(f"{name} must be a {ndim}-D array of kind {kind!r}")
    if finite and not np.isfinite(array).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise ValueError(f"{name} must be finite, got {array[bad]} at index {bad}")
    return array


def check_estimate_of(fields: dict[str, Any], name: str, values: np.ndarray, *, of: str) -> None:
    """Refuse the loaded estimate ``name`` unless it is the estimate of ``values`` (the
    rows' figures, described by ``of``): over as many rows, with their mean, and with
    an interval within their range, as :func:`~unboxed.evaluate._stats.estimate` makes.

    A hand-edited figure (an AOPC of 2.0 beside a curve whose rows average 0.1) loaded
    and was reported, plotted and compared as the file's result. A missing estimate is
    left to the loader, which names it.
    """
    found = fields.get(name)
    if not isinstance(found, Estimate):
        return
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:  # no estimate is of no rows
        raise ValueError(f"{name} is over {found.n} rows but {of} holds none")
    if found.n != values.size:
        raise ValueError(f"{name} is over {found.n} rows but {of} holds {values.size}")
    # The mean is recomputed as estimate() computed it; the tolerance only allows for
    # another summation order (another machine's numpy), not another figure.
    mean = float(values.mean())
    scale = float(np.abs(values).max())
    tolerance = 1e-9 * scale + 1e-300
    if abs(found.mean - mean) > tolerance:
        raise ValueError(f"{name}'s mean is {found.mean!r}, but the mean of {of} is {mean!r}")
    # A bootstrap mean lies between the smallest and the largest value.
    low, high = float(values.min()), float(values.max())
    if found.ci[0] < low - tolerance or found.ci[1] > high + tolerance:
        raise ValueError(
            f"{name}'s ci {list(found.ci)} is not within the range of {of}, [{low!r}, {high!r}]"
        )


def check_share_estimates(
    fields: dict[str, Any], names: tuple[str, ...], *, n: int, rows: str
) -> None:
    """Refuse a loaded estimate of a share (``names``) unless it lies in [0, 1] with its
    interval and is over ``n`` rows (``rows`` says which, for the message: "6 rows kept
    a draw"). A missing estimate is left to the loader, which names it."""
    for name in names:
        value = fields.get(name)
        if not isinstance(value, Estimate):
            continue
        if not (0 <= value.ci[0] and value.ci[1] <= 1 and 0 <= value.mean <= 1):
            raise ValueError(f"{name} must be a share in [0, 1], with its ci, got {value}")
        if value.n != n:
            raise ValueError(f"{name} is over {value.n} rows but {rows}")
