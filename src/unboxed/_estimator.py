"""``get_params``, ``set_params`` and a short repr, shared by every explainer and surrogate,
and the short repr of the result dataclasses.

The first follow scikit-learn's ``BaseEstimator`` (DESIGN.md, convention 1) so that
``sklearn.base.clone`` and parameter searches work, without inheriting its other
machinery (HTML repr, tags, version checks on unpickling).
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from typing import Any, TypeVar

import numpy as np

P = TypeVar("P", bound="Params")


class Params:
    """Mixin: the constructor's arguments, read back from the attributes of their names.

    It relies on ``__init__`` storing each argument unchanged under its own name.
    """

    @classmethod
    def _param_names(cls) -> list[str]:
        return [
            p.name
            for p in inspect.signature(cls.__init__).parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        """The constructor's arguments, as scikit-learn's ``get_params``.

        Parameters
        ----------
        deep : bool
            Accepted for scikit-learn's ``clone``; no parameter is itself an estimator
            whose own parameters would be listed.

        Returns
        -------
        dict
            Each constructor argument by name, as given.
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self: P, **params: Any) -> P:
        """Change constructor arguments, as scikit-learn's ``set_params``.

        Parameters
        ----------
        **params
            New values by argument name. They meet the constructor's checks; a fit
            already made is kept until the next ``fit``.

        Returns
        -------
        self
        """
        names = self._param_names()
        unknown = sorted(set(params) - set(names))
        if unknown:
            close = _nearest(unknown[0], names)
            hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
            raise ValueError(
                f"{type(self).__name__} has no parameter {unknown[0]!r}{hint}; "
                f"its parameters are {names}"
            )
        # Through the constructor, so a bad value fails here as it would there, and
        # not later in the middle of a fit.
        type(self)(**{**self.get_params(), **params})
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()
        }
        shown = [
            f"{name}={_short(value)}"
            for name, value in self.get_params().items()
            if not _is_default(value, defaults[name])
        ]
        return f"{type(self).__name__}({', '.join(shown)})"


def _is_default(value: object, default: object) -> bool:
    if value is default:
        return True
    if default is inspect.Parameter.empty or isinstance(value, np.ndarray):
        return False
    try:
        return type(value) is type(default) and bool(value == default)
    except (TypeError, ValueError):
        return False


def _nearest(name: str, names: list[str]) -> list[str]:
    """The names nearest ``name`` by difflib's ratio (at least its 0.6), every one tied
    as nearest: JGMM's 'n_components' is as near 'n_components_x' as 'n_components_y',
    and difflib's first match named the y one alone, a guess."""
    close = difflib.get_close_matches(name, names, n=len(names))
    ratio = {c: difflib.SequenceMatcher(None, c, name).ratio() for c in close}
    return [c for c in names if c in ratio and ratio[c] == ratio[close[0]]]


#: Arrays up to this many elements are shown; larger ones by shape and dtype alone.
SHOWN_ELEMENTS = 10


def _short(value: object) -> str:
    """A value in one short line: a large array by its shape and dtype, not element by
    element (a dataclass's own repr of a 10000 x 784 attribution is screens long), a
    dict by its scalar entries."""
    if isinstance(value, np.ndarray):
        if value.size <= SHOWN_ELEMENTS:
            text = np.array2string(value, precision=4, separator=", ").replace("\n", "")
            # Ten numbers fit in a line; ten long strings or objects (an array of
            # dicts of arrays was 4000 characters) do not, so they go as repr does.
            if value.dtype.kind not in "OSU" or len(text) <= 100:
                return text
        return f"<array of shape {value.shape}, {value.dtype}>"
    if isinstance(value, dict):
        scalar = (str, int, float, bool, type(None))
        shown = [f"{k!r}: {_short(v)}" for k, v in value.items() if isinstance(v, scalar)]
        more = ["..."] if len(shown) < len(value) else []  # "{...}" when none is shown
        return "{" + ", ".join(shown + more) + "}"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return short_repr(value)
    text = repr(value)
    return text if len(text) <= 100 else f"<{type(value).__name__}>"


def short_repr(result: Any) -> str:
    """The repr of a result dataclass: its class and fields, each in one short line.

    Parameters
    ----------
    result : dataclass instance
        Not a dataclass's class.

    Returns
    -------
    str
    """
    if not dataclasses.is_dataclass(result) or isinstance(result, type):
        # dataclasses.fields' message, or an AttributeError for a dataclass's class.
        raise TypeError(f"short_repr needs a dataclass instance, got {type(result).__name__}")
    fields = dataclasses.fields(result)
    shown = [f"{f.name}={_short(getattr(result, f.name))}" for f in fields if f.repr]
    return f"{type(result).__name__}({', '.join(shown)})"
