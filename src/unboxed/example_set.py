"""Explanatory examples: prototypes, criticisms, influentials, counterfactuals, semi-factuals.

An :class:`ExampleSet` is the result of an example-based explainer such as
:class:`unboxed.surrogates.JGMMExplainer` (``001_7567b900ec60d912.txt`` Sec. 3.2). It
saves and loads like every other :class:`~unboxed.Explanation`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._ranks import descending_order
from ._validation import check_array, check_labels, check_names, is_int
from .explanation import Explanation, _check_image_shape, _class_name_tuple

#: The kinds of examples, as named in Sec. 3.2 of the JGMM paper.
KINDS = ("prototype", "criticism", "influential", "counterfactual", "semifactual")
SOURCES = ("mined", "generated")


# repr=False keeps Explanation's short repr
@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class ExampleSet(Explanation):
    """A set of explanatory examples with their scores.

    Parameters
    ----------
    kind : {"prototype", "criticism", "influential", "counterfactual", "semifactual"}
    source : {"mined", "generated"}
        Found in data, or sampled from the model.
    values : ndarray of shape (n_examples, n_features)
        Each example's features (e.g. a layer's activations, flattened), in the
        original feature space: generated samples are mapped back through any
        whitening.
    scores : ndarray of shape (n_examples,)
        The example's score under its kind's scoring function; larger is a better
        example. ``meta["score"]`` says which function.
    components : ndarray of int of shape (n_examples,)
        The model component the example belongs to (for JGMM, the lower component z:
        the one it was sampled from, or the most probable one).
    groups : ndarray of int of shape (n_examples,)
        What the example explains: the higher component (class) of a prototype, the
        query row of a counterfactual or semi-factual, -1 otherwise.
    top_classes : ndarray of int of shape (n_examples, 2)
        The example's two likeliest classes under the model, likeliest first (for a
        JGMM whose higher layer is a hidden one, its two likeliest higher components
        w, which ``class_names`` does not name).
    top_proba : ndarray of shape (n_examples, 2)
        Their probabilities.
    meta : dict
    indices : ndarray of int of shape (n_examples,), optional
        Row of the mined data set each example came from, by position (0 for its
        first row, whatever a DataFrame's index calls it); -1 for generated ones.
    inputs : ndarray of shape (n_examples, n_inputs), optional
        The model inputs (e.g. images) of mined examples, for plots. Generated
        examples, which exist only as features, have no inputs; then this is None,
        unless the features are the inputs (a JGMM on layer "0" of
        ``nn.Sequential(nn.Identity(), model)``), which are then their values.
    queries : ndarray of shape (n_queries, n_features), optional
        The query features of counterfactuals and semi-factuals.
    query_inputs : ndarray of shape (n_queries, n_inputs), optional
    query_classes : ndarray of int of shape (n_queries,), optional
        The class the black box gives each query.
    image_shape : tuple of int, optional
        ``(H, W)`` or ``(C, H, W)`` of ``inputs`` (or of ``values`` when there are no
        inputs and the features are pixels).
    class_names : tuple of str, optional
        The name of each class of ``top_classes`` (and of ``query_classes`` unless
        ``query_class_names`` is given), for plots.
    feature_names : tuple of str, optional
    query_class_names : tuple of str, optional
        The black box's name of each class of ``query_classes``, where
        ``class_names`` does not name them (an untied JGMM, whose ``top_classes`` are
        hidden components). Files saved before it existed load with None.
    input_names : tuple of str, optional
        The name of each input (a table's columns, as the black box names them), one
        per column of ``inputs`` (or ``query_inputs``); plots name a table row's bars
        by them; held to a black box's rules for ``feature_names`` (unique
        non-empty strings). ``feature_names`` name the lower layer's features
        instead. Files saved before it existed load with None.
    query_names : tuple of str, optional
        The name of each query, for plots: :class:`~unboxed.surrogates.JGMMExplainer`
        records a DataFrame's index here, so that its row labelled 1053 is titled
        "query 1053", not "query 0". ``groups`` still holds the queries' positions.
        None (arrays, files saved before it existed) shows the positions.

    Notes
    -----
    Prototypes whose ``groups`` are higher components tied to classes record
    ``meta["component_classes"]``, the class each component stands for; plots title
    them by that class.
    """

    kind: str
    source: str
    values: np.ndarray
    scores: np.ndarray
    components: np.ndarray
    groups: np.ndarray
    top_classes: np.ndarray
    top_proba: np.ndarray
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    indices: np.ndarray | None = None
    inputs: np.ndarray | None = None
    queries: np.ndarray | None = None
    query_inputs: np.ndarray | None = None
    query_classes: np.ndarray | None = None
    image_shape: tuple[int, ...] | None = None
    class_names: tuple[str, ...] | None = None
    feature_names: tuple[str, ...] | None = None
    query_class_names: tuple[str, ...] | None = None
    input_names: tuple[str, ...] | None = None
    query_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
        if self.kind == "criticism" and self.source == "generated":
            raise ValueError("criticisms are mined only (the JGMM paper, Sec. 3.2)")
        values = check_array(self.values, name="values", ndim=2, allow_empty=True)
        n = values.shape[0]
        if values.shape[1] == 0:
            raise ValueError("values has no features (0 columns)")
        self._freeze("values", values)
        scores = check_array(self.scores, name="scores", ndim=1, allow_empty=True)
        if scores.shape[0] != n:
            raise ValueError(f"scores has {scores.shape[0]} entries; expected {n}")
        self._freeze("scores", scores)
        # A component index: numpy read True as component 1 (groups and top_classes
        # already refuse a bool dtype).
        self._freeze(
            "components", check_labels(self.components, n=n, name="components", allow_bool=False)
        )
        groups = np.asarray(self.groups)
        # An empty list is float64 to numpy; with no entry it holds no non-int.
        if groups.shape != (n,) or (n and (groups.dtype.kind not in "iu" or groups.min() < -1)):
            raise ValueError(f"groups must be {n} ints >= -1, got {groups.dtype} {groups.shape}")
        self._freeze("groups", _as_int64(groups, name="groups"))
        top = np.asarray(self.top_classes)
        if top.shape != (n, 2) or (n and (top.dtype.kind not in "iu" or top.min() < 0)):
            raise ValueError(
                f"top_classes must be ints >= 0 of shape ({n}, 2), got {top.dtype} of shape "
                f"{top.shape}"  # a float or bool array was told only its (right) shape
            )
        self._freeze("top_classes", _as_int64(top, name="top_classes"))
        proba = check_array(self.top_proba, name="top_proba", ndim=2, allow_empty=True)
        if proba.shape != (n, 2) or (n and (proba.min() < 0 or proba.max() > 1 + 1e-9)):
            found = f" in [{proba.min():.4g}, {proba.max():.4g}]" if proba.size else ""
            raise ValueError(
                f"top_proba must be probabilities of shape ({n}, 2), got shape {proba.shape}{found}"
            )
        self._freeze("top_proba", proba)
        if self.indices is not None:
            idx = np.asarray(self.indices)
            if idx.shape != (n,) or (n and (idx.dtype.kind not in "iu" or idx.min() < -1)):
                raise ValueError(f"indices must be {n} ints >= -1, got {idx.dtype} {idx.shape}")
            self._freeze("indices", _as_int64(idx, name="indices"))
        if self.inputs is not None:
            inputs = check_array(self.inputs, name="inputs", ndim=2, allow_empty=True)
            if inputs.shape[0] != n:
                raise ValueError(f"inputs has {inputs.shape[0]} rows; expected {n}")
            self._freeze("inputs", inputs)
        n_queries = None
        if self.queries is not None:
            queries = check_array(self.queries, name="queries", ndim=2)
            if queries.shape[1] != values.shape[1]:
                raise ValueError(
                    f"queries have {queries.shape[1]} features; expected {values.shape[1]}"
                )
            self._freeze("queries", queries)
            n_queries = queries.shape[0]
        if self.query_inputs is not None:
            q_in = check_array(self.query_inputs, name="query_inputs", ndim=2)
            if n_queries is not None and q_in.shape[0] != n_queries:
                raise ValueError(f"query_inputs has {q_in.shape[0]} rows; expected {n_queries}")
            if self.inputs is not None and q_in.shape[1] != self.inputs.shape[1]:
                raise ValueError(
                    f"query_inputs have {q_in.shape[1]} columns; the inputs have "
                    f"{self.inputs.shape[1]}"
                )
            self._freeze("query_inputs", q_in)
            # Without queries (a set of inputs only) the inputs count them: else
            # query_classes of another length, and groups naming query 5 of 2, passed
            # until a plot or query_name indexed past the end.
            n_queries = q_in.shape[0] if n_queries is None else n_queries
        if self.query_classes is not None:
            count = n_queries if n_queries is not None else len(np.atleast_1d(self.query_classes))
            self._freeze(
                "query_classes",
                check_labels(self.query_classes, n=count, name="query_classes", allow_bool=False),
            )
            n_queries = count
        # groups are queries' rows where the set explains queries (or holds them, as
        # ever); a prototype's groups are classes, whatever query classes it records.
        explains = self.queries is not None or self.kind in ("counterfactual", "semifactual")
        if explains and n_queries is not None and n and groups.max() >= n_queries:
            raise ValueError(f"groups name query {groups.max()} of {n_queries}")
        # image_shape describes the inputs; without any, the features themselves.
        pixels = next((a for a in (self.inputs, self.query_inputs) if a is not None), values)
        object.__setattr__(
            self, "image_shape", _check_image_shape(self.image_shape, int(pixels.shape[1]))
        )
        object.__setattr__(
            self,
            "class_names",
            _names_of(self.class_names, top, "top_classes", field="class_names"),
        )
        if self.query_class_names is None:
            # Then class_names name the queries too (plots title them by it).
            _names_of(self.class_names, self.query_classes, "query_classes", field="class_names")
        object.__setattr__(self, "feature_names", check_names(self.feature_names, values.shape[1]))
        object.__setattr__(
            self,
            "query_class_names",
            _names_of(
                self.query_class_names,
                self.query_classes,
                "query_classes",
                field="query_class_names",
            ),
        )
        object.__setattr__(self, "input_names", self._checked_input_names())
        object.__setattr__(self, "query_names", self._checked_query_names())
        self._check_meta()

    def _checked_input_names(self) -> tuple[str, ...] | None:
        """``input_names`` as a tuple of str, one per input column; refused on a set
        without inputs (generated examples), where nothing could check or use them."""
        if self.input_names is None:
            return None
        inputs = self.inputs if self.inputs is not None else self.query_inputs
        if inputs is None:
            raise ValueError(
                "input_names given, but the example set holds no inputs to name "
                "(neither inputs nor query_inputs)"
            )
        return check_names(self.input_names, inputs.shape[1], name="input_names", strict=True)

    def _checked_query_names(self) -> tuple[str, ...] | None:
        """``query_names`` as a tuple of str, one per query; refused on a set that
        records no query, whose names could name nothing."""
        if self.query_names is None:
            return None
        recorded = (self.queries, self.query_inputs, self.query_classes)
        held = next((a for a in recorded if a is not None), None)
        if held is None:
            raise ValueError(
                "query_names given, but the example set records no queries "
                "(no queries, query_inputs or query_classes)"
            )
        return check_names(self.query_names, held.shape[0], name="query_names")

    def query_name(self, g: int) -> str:
        """How query ``g`` is named: its name in :attr:`query_names` (a DataFrame's
        index), or its position where there are none.

        Parameters
        ----------
        g : int
            A query's position, as in ``groups``.

        Returns
        -------
        str

        Raises
        ------
        ValueError
            If ``g`` is not an int, or names no query of a set that names its queries.
        """
        if not is_int(g):
            raise ValueError(f"g must be an int query position, got {g!r}")
        if self.query_names is None:
            return str(g)
        # names[-1] named the last query, and names[5] of 2 raised a bare IndexError
        if not 0 <= g < len(self.query_names):
            raise ValueError(f"g must be a query position in [0, {len(self.query_names)}), got {g}")
        return self.query_names[g]

    @property
    def n_examples(self) -> int:
        """The number of examples: rows of ``values``."""
        return int(self.values.shape[0])

    def __len__(self) -> int:
        return self.n_examples

    @property
    def all_groups(self) -> list[int]:
        """The set's groups, sorted: one row each of its gallery (:meth:`plot`).

        Those its examples belong to; where they explain queries (counterfactuals,
        semi-factuals) each query, even one without an example; likewise each higher
        component of prototypes tied to classes, which ``meta["component_classes"]``
        lists (an untied set records no components but its examples' groups). Empty
        where the set has nothing to draw.
        """
        groups = set(self.groups.tolist())
        if self.queries is not None and self.kind in ("counterfactual", "semifactual"):
            groups |= set(range(self.queries.shape[0]))
        classes = self.meta.get("component_classes")
        if self.kind == "prototype" and isinstance(classes, list):
            groups |= set(range(len(classes)))
        return sorted(groups)

    def top_k(self, k: int) -> np.ndarray:
        """Rows of the ``k`` best-scoring examples, best first.

        Parameters
        ----------
        k : int
            How many examples, from 1 to ``n_examples``.

        Returns
        -------
        ndarray of int of shape (k,)
            Row indices; ties keep their order in the set.
        """
        from ._validation import check_positive_int

        k = check_positive_int(k, name="k")
        if k > self.n_examples:
            raise ValueError(f"k={k} exceeds the number of examples ({self.n_examples})")
        return descending_order(self.scores, k)

    def group(self, g: int) -> np.ndarray:
        """Row indices of the examples in group ``g``, best first (none if it is empty).

        Parameters
        ----------
        g : int
            A group id, as in ``groups``: a class for prototypes, a query row for
            counterfactuals and semi-factuals, -1 for criticisms and influentials.

        Returns
        -------
        ndarray of int of shape (n_in_group,)
        """
        if not is_int(g):
            raise ValueError(f"g must be an int group id, got {g!r}")  # "a" matched nothing
        rows = np.flatnonzero(self.groups == g)
        return rows[descending_order(self.scores[rows])]

    def plot(
        self,
        groups: list[int] | None = None,
        *,
        max_per_group: int = 6,
        input_names: Sequence[str] | None = None,
        input_label: str | None = None,
    ) -> Any:
        """A gallery: one row per group (next to its query, if any), best first.

        Parameters
        ----------
        groups : list of int, optional
            The groups to show, of :attr:`all_groups`; default all (at most 10).
        max_per_group : int, default=6
            At most this many examples per group, at least 1.
        input_names : sequence of str, optional
            The name of each input of a table row, for its bars (unique non-empty
            strings, as a black box's ``feature_names``); by default the set's
            ``input_names``, else ``feature_names`` where the features are the
            inputs, else ``x0, x1, ...``.
        input_label : str, optional
            The label of the bars' value axis, by default "input": what the values
            are ("input (std)" for a table stored standardized, say). A label ending
            in "(std)" has the title say what it stands for, where bars are drawn:
            "bars in standard deviations from the training mean".

        Returns
        -------
        matplotlib.figure.Figure

        Raises
        ------
        ValueError
            If the set has nothing to draw (no example, and no query or tied
            component for a row that says so), ``groups`` names a group it lacks, or
            ``input_names`` does not name each input (or the set holds none), or
            ``input_label`` is given to a set that holds no inputs.
        TypeError
            If ``input_label`` is not a str.
        """
        from .report import plot_examples

        return plot_examples(
            self,
            groups,
            max_per_group=max_per_group,
            input_names=input_names,
            input_label=input_label,
        )


def _as_int64(ints: np.ndarray, *, name: str) -> np.ndarray:
    """The checked ints ``ints`` as int64, refused where one is past int64's range: only
    an unsigned array can hold one, and astype wrapped it round (a uint64 group 2**63,
    say in a hand-edited file, loaded as group -2**63)."""
    if ints.size and ints.dtype.kind == "u" and int(ints.max()) >= 2**63:
        raise ValueError(f"{name} holds {ints.max()}, too large for int64")
    return ints.astype(np.int64)


def _names_of(
    names: Any, classes: np.ndarray | None, what: str, *, field: str
) -> tuple[str, ...] | None:
    """``names`` (the argument ``field``) as a tuple of str (None passes), refused where
    it is too short to name every class index in ``classes`` (``what``, for the
    message)."""
    if names is None:
        return None
    names = _class_name_tuple(names, name=field)
    if classes is not None and classes.size and classes.max() >= len(names):
        raise ValueError(f"{what} name class {classes.max()} of {len(names)}")
    return names
