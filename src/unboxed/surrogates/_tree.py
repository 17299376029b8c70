"""A decision tree that mimics the black box: a global, readable surrogate.

Source: ``002_3e5e1762af60ee33.txt``, "Using a model to explain another" / "Decision
Tree": feed x_1..x_N to the black box, get y_1..y_N, and train an interpretable model
on (x_n, y_n) so that its outputs are "as close as possible" to the black box's. The
tree learns the black box's predictions, never the true labels, so its fidelity is
agreement with the black box. "We don't want the tree to be too large": its
complexity O(T) is measured, as in the slides, by its average depth, here the mean
number of nodes on each sample's decision path.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._estimator import Params
from .._progress import progress
from .._validation import (
    RandomState,
    as_float32,
    check_array,
    check_fraction,
    check_is_fitted,
    check_names,
    check_positive_int,
    check_positive_ints,
    check_random_state,
    in_column_order,
    is_int,
    pandas_index,
    seed_from,
)
from ..blackbox import BlackBox, check_blackbox
from ..evaluate import Estimate, agreement


def path_length(tree: Any, X: np.ndarray) -> float:
    """The average decision-path length of ``tree`` on ``X``: nodes visited, root and leaf
    included, averaged over the rows (Wu et al., 2018, "average path length").

    A single-leaf tree has path length 1; a full tree of depth D has D + 1.

    Parameters
    ----------
    tree : fitted sklearn DecisionTreeClassifier
    X : array-like of shape (n, d)
        A DataFrame's columns are read by name where the tree was fitted on one
        (its ``feature_names_in_``), in any order; else by position.

    Returns
    -------
    float
    """
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    if not isinstance(tree, DecisionTreeClassifier | DecisionTreeRegressor) or not hasattr(
        tree, "tree_"
    ):
        raise TypeError(f"tree must be a fitted sklearn decision tree, got {type(tree).__name__}")
    # A tree fitted on a DataFrame reads one by its column names, as its own
    # decision_path does: read by position, breast cancer's columns reversed gave a
    # path length of 6.0 for 5.6, without a word.
    names = getattr(tree, "feature_names_in_", None)
    X = in_column_order(X, None if names is None else list(names), name="X", whose="the tree")
    X = check_array(X, name="X")  # NaN rows took a path and counted
    if X.shape[1] != tree.n_features_in_:
        raise ValueError(f"X has {X.shape[1]} features; the tree takes {tree.n_features_in_}")
    as_float32(X, reader=_TREE_READS)
    with warnings.catch_warnings():
        # the rows are in the tree's column order now, as an array
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        # decision_path is a sparse (n, n_nodes) indicator of the nodes each row visits.
        return float(np.asarray(tree.decision_path(X).sum(axis=1)).mean())


_TREE_READS = "scikit-learn's decision tree reads its inputs"


class TreeSurrogate(Params):
    """A decision tree fitted to the black box's predictions.

    Parameters
    ----------
    blackbox : BlackBox
        The model to mimic.
    max_depth : int, None or "auto"
        The tree's depth limit. None grows the tree until it fits the black box's
        predictions on the training part. "auto" picks the smallest depth in
        ``depths`` whose fidelity on the selection rows (half the held-out rows,
        rounded down) is within ``tolerance`` of the best: the knee of the
        fidelity/complexity curve, kept in ``curve_``. The other held-out rows, which
        neither trained a tree nor chose the depth, give ``fidelity_``.
    min_samples_leaf : int
        Passed to scikit-learn's tree.
    depths : sequence of int
        The depths tried by ``max_depth="auto"``.
    tolerance : float
        How much fidelity "auto" gives up for a smaller tree.
    held_out : float in (0, 1)
        The share of ``fit``'s rows kept out of the tree to measure its fidelity (and,
        for "auto", to choose its depth: half of them each).
    random_state : int, numpy.random.Generator or None
        Seeds the held-out split and the tree's tie-breaking.
    verbose : bool
        Show a progress bar over the depths tried by ``max_depth="auto"``.

    Attributes
    ----------
    tree_ : sklearn.tree.DecisionTreeClassifier
    max_depth_ : int or None
        The depth limit used (the chosen one for "auto").
    depth_, n_leaves_ : int
        The fitted tree's depth and number of leaves.
    n_rules_ : int
        The number of leaves :meth:`export_text` prints: a split whose leaves all
        predict one class prints as one leaf (scikit-learn keeps splits that only
        purify the leaves), so it is at most ``n_leaves_``.
    fidelity_ : Estimate
        Agreement with the black box on the test rows (``test_indices_``), with
        Wilson's 95% score interval. These rows neither trained the tree nor, with
        ``max_depth="auto"``, chose its depth, so the figure is not biased upwards by
        the choice; with "auto" they are half the held-out rows, so its interval is
        wider than a fixed depth's.
    path_length_ : float
        Mean decision-path length (nodes per path) on the test rows.
    curve_ : list of dict or None
        For "auto": per depth, the fidelity (mean, CI), leaves and path length on the
        selection rows (``select_indices_``). The chosen depth's point there is the
        best of several noisy figures: read ``fidelity_`` for the chosen tree.
    train_indices_, test_indices_ : ndarray of int
        The rows of ``fit``'s ``X`` that trained the tree and that measure
        ``fidelity_``, sorted.
    select_indices_ : ndarray of int or None
        For "auto", the rows that chose the depth (disjoint from both); None otherwise.
    threshold_gaps_ : ndarray of shape (tree_.tree_.node_count, 2)
        Per node of ``tree_``, the largest value of its split feature among the
        training rows it sends left and the smallest among those it sends right (NaN
        at leaves): the gap its threshold sits in, which :meth:`export_text` keeps its
        printed thresholds inside.
    n_features_in_ : int
    """

    def __init__(
        self,
        blackbox: BlackBox,
        *,
        max_depth: int | str | None = None,
        min_samples_leaf: int = 1,
        depths: Sequence[int] = tuple(range(1, 13)),
        tolerance: float = 0.005,
        held_out: float = 0.25,
        random_state: RandomState = None,
        verbose: bool = True,
    ) -> None:
        check_blackbox(blackbox)
        if not (max_depth is None or max_depth == "auto" or (is_int(max_depth) and max_depth >= 1)):
            # "must be an int >= 1" hid the two other values it takes
            raise ValueError(
                f"max_depth must be an int >= 1, None (grown until it fits the black box's "
                f"labels) or 'auto' (chosen by held-out fidelity), got {max_depth!r}"
            )
        check_positive_int(min_samples_leaf, name="min_samples_leaf")
        if not check_positive_ints(depths, name="depths", example="(1, 2, 4, 8)"):
            raise ValueError("depths must list at least one depth")
        if not isinstance(tolerance, numbers.Real) or not 0 <= tolerance < 1:
            raise ValueError(f"tolerance must be a number in [0, 1), got {tolerance!r}")
        # below 1: the tree needs rows to learn from
        check_fraction(held_out, name="held_out", below_one=True)
        # Each argument as given, so that get_params and sklearn's clone give it back.
        self.blackbox: BlackBox = blackbox
        self.max_depth: int | str | None = max_depth
        self.min_samples_leaf: int = min_samples_leaf
        self.depths: Sequence[int] = depths
        self.tolerance: float = tolerance
        self.held_out: float = held_out
        self.random_state: RandomState = random_state
        self.verbose: bool = verbose
        # As the fit or explain call checks it, so that a bad seed fails here and in
        # set_params, not once the data is read.
        check_random_state(random_state)

    def fit(self, X: object, y: object = None) -> TreeSurrogate:
        """Label ``X`` with the black box and fit the tree to those labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            Inputs drawn like the data the surrogate should explain.
        y : ignored
            The tree learns the black box's own predictions on ``X``, never the true
            labels: its :meth:`fidelity` is agreement with the model. Accepted so that
            ``fit(X_train, y_train)``, as scikit-learn's estimators are called, works.

        Returns
        -------
        self
        """
        rng = check_random_state(self.random_state)
        # A DataFrame's row labels name the row the model raises on, as predict_proba
        # names it: row 1 of a split is not X.loc[1].
        index = pandas_index(X)
        X = self.blackbox.check_X(X)
        as_float32(X, index, reader=_TREE_READS)
        n = X.shape[0]
        n_test = round(self.held_out * n)
        if n_test < 1 or n - n_test < 2:
            raise ValueError(f"X has {n} rows; too few to fit and hold out {self.held_out:.0%}")
        # The tree learns what the black box says, never the labels (the slides'
        # y_1..y_N are the black box's outputs).
        y = self.blackbox._predict_rows(X, index)
        # Both sides of every agreement below are column indices: saying so spares
        # agreement's guess at labels compared with indices, which a tree that
        # predicts none of a few held-out rows' classes would trip.
        indices = range(self.blackbox.n_classes)
        if np.unique(y).size < 2:
            raise ValueError(
                # by the name export_text prints: "(0)" read as a label, not a column
                f"the black box predicts a single class ({self.blackbox.class_name(int(y[0]))!r}, "
                f"column {y[0]}) on all {n} rows of X; "
                "a surrogate needs inputs on which it predicts at least two classes"
            )
        if self.max_depth == "auto" and n_test < 2:
            raise ValueError(
                f"X has {n} rows; max_depth='auto' needs at least 2 held-out rows "
                f"(one to choose the depth, one to measure it), {self.held_out:.0%} gives {n_test}"
            )
        order = rng.permutation(n)
        held, train = order[:n_test], order[n_test:]
        # "auto" chooses the depth on part of the held-out rows and measures the chosen
        # tree on the rest: a figure taken on the rows that picked the best of several
        # trees is the best of several noisy figures, biased upwards.
        select = held[: n_test // 2] if self.max_depth == "auto" else None
        test = held[n_test // 2 :] if self.max_depth == "auto" else held
        self._seed = seed_from(rng)
        self.n_features_in_ = int(X.shape[1])
        self.train_indices_ = np.sort(train)
        self.select_indices_ = None if select is None else np.sort(select)
        self.test_indices_ = np.sort(test)
        self.curve_: list[dict[str, Any]] | None = None
        if select is not None:
            # Shallowest first: the first depth within tolerance of the best is chosen.
            depths = sorted(set(self.depths))
            # One tree per depth: the 12 default depths on 45,000 Fashion-MNIST rows took
            # 100 s on 2 cores.
            with progress(depths, verbose=self.verbose, desc="tree depths") as bar:
                trees = {depth: self._tree(depth, X[train], y[train]) for depth in bar}
            self.curve_ = []
            for depth, tree in trees.items():
                fid = agreement(tree.predict(X[select]), y[select], classes=indices)
                self.curve_.append(
                    {
                        "max_depth": depth,
                        "depth": int(tree.get_depth()),
                        "fidelity": fid.as_dict(),
                        "n_leaves": int(tree.get_n_leaves()),
                        "path_length": path_length(tree, X[select]),
                    }
                )
            best = max(point["fidelity"]["mean"] for point in self.curve_)
            chosen = next(
                point["max_depth"]
                for point in self.curve_
                if point["fidelity"]["mean"] >= best - self.tolerance
            )
            self.max_depth_ = chosen
            self.tree_ = trees[chosen]
        else:
            self.max_depth_ = self.max_depth
            self.tree_ = self._tree(self.max_depth, X[train], y[train])
        self.threshold_gaps_ = _threshold_gaps(self.tree_, X[train])
        self.depth_ = int(self.tree_.get_depth())
        self.n_leaves_ = int(self.tree_.get_n_leaves())
        # each split printed as a leaf prints one leaf fewer than it has
        t = self.tree_.tree_
        self.n_rules_ = self.n_leaves_ - int(np.sum((t.feature >= 0) & (_printed_leaves(t) >= 0)))
        self.fidelity_ = agreement(self.tree_.predict(X[test]), y[test], classes=indices)
        self.path_length_ = path_length(self.tree_, X[test])
        return self

    def _tree(self, depth: Any, X: np.ndarray, y: np.ndarray) -> Any:
        from sklearn.tree import DecisionTreeClassifier

        return DecisionTreeClassifier(
            max_depth=depth, min_samples_leaf=self.min_samples_leaf, random_state=self._seed
        ).fit(X, y)

    def _check_fitted(self) -> None:
        check_is_fitted(self, "tree_")
        # The tree predicts the column indices of the black box it learnt, but every use
        # reads self.blackbox, which set_params may have swapped for one of fewer
        # classes: predict_proba failed in numpy ("index 2 is out of bounds for axis 1
        # with size 2"), fidelity and export_text on a class the new box lacks.
        # A box of another width did so too: predict, fidelity and predict_proba raised
        # scikit-learn's "X has 2 features, but DecisionTreeClassifier is expecting 4",
        # and export_text named features the new box lacks.
        top = int(self.tree_.classes_.max())
        # A box of any width (n_features None, a callable's) takes the tree's too.
        width, takes = int(self.tree_.n_features_in_), self.blackbox.n_features
        if top >= self.blackbox.n_classes or takes not in (None, width):
            differs = (
                f"predicts class column {top}, but blackbox now has "
                f"{self.blackbox.n_classes} classes"
                if top >= self.blackbox.n_classes
                else f"reads {width} features, but blackbox now takes {takes}"
            )
            raise ValueError(
                f"this TreeSurrogate's tree {differs}: it was changed since the fit "
                "(set_params(blackbox=...)); fit the surrogate again"
            )

    def _check_X(self, X: object) -> np.ndarray:
        self._check_fitted()
        index = pandas_index(X)
        X = self.blackbox.check_X(X)
        as_float32(X, index, reader=_TREE_READS)
        return X

    def predict(self, X: object) -> np.ndarray:
        """The tree's class for each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)

        Returns
        -------
        ndarray of int of shape (n_samples,)
            Class indices of the black box's :meth:`~unboxed.BlackBox.predict_proba`.
        """
        X = self._check_X(X)
        return self.tree_.predict(X).astype(np.int64)

    def predict_proba(self, X: object) -> np.ndarray:
        """The share of each class among the black box's labels of the training rows
        in each row's leaf (scikit-learn's ``DecisionTreeClassifier.predict_proba``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)

        Returns
        -------
        ndarray of shape (n_samples, n_classes), float64
            Columns in the order of the black box's
            :meth:`~unboxed.BlackBox.predict_proba`; a class the black box never
            predicted on the training rows has a column of zeros.
        """
        X = self._check_X(X)
        proba = np.zeros((X.shape[0], self.blackbox.n_classes))
        # The tree knows only the column indices it was fitted on (tree_.classes_).
        proba[:, self.tree_.classes_] = self.tree_.predict_proba(X)
        return proba

    def fidelity(self, X: object) -> Estimate:
        """The share of rows of ``X`` on which the tree agrees with the black box, with
        Wilson's 95% score interval. Pass data the surrogate has not seen.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)

        Returns
        -------
        Estimate
            The agreement in [0, 1] with its 95% interval.
        """
        index = pandas_index(X)  # names the row the model raises on, as in fit
        X = self._check_X(X)
        answers = self.blackbox._predict_rows(X, index)
        return agreement(self.tree_.predict(X), answers, classes=range(self.blackbox.n_classes))

    def path_length(self, X: object) -> float:
        """Mean number of nodes on the decision paths of the rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)

        Returns
        -------
        float
            At least 1 (a single leaf); see :func:`path_length`.
        """
        X = self._check_X(X)
        return path_length(self.tree_, X)

    def export_text(
        self,
        *,
        feature_names: Sequence[str] | None = None,
        decimals: int = 3,
        unscale: Callable[[np.ndarray, np.ndarray], object] | None = None,
    ) -> str:
        """The tree's rules as indented text (in scikit-learn's ``export_text`` layout).

        Parameters
        ----------
        feature_names : sequence of str, optional
            One distinct name per feature (``n_features_in_``; an entry that is no
            string prints as ``str`` writes it); by default the black box's
            ``feature_names``, or ``feature_0``, ... when it has none.
        decimals : int, default=3
            The fewest decimal places of a threshold, at least 0. A threshold takes
            more where fewer would move it out of the gap between the training values
            it separates (``threshold_gaps_``, in the printed units), so that the
            rules send every row the tree was fitted on the way the tree does.
        unscale : callable, optional
            Maps the thresholds to the units a person reads, for a tree of
            standardized features: called as ``unscale(thresholds, features)`` with
            the split nodes' thresholds and the feature each splits, it returns the
            thresholds to print, one each (:meth:`unboxed.data.Dataset.to_raw` is
            one). It must keep each feature's order, as ``mean + scale * t`` with
            ``scale > 0`` does, so that a rule reads as the tree decides; a map that
            reverses it is refused, and so is one that maps the training values on
            both sides of a split to one number (no threshold in its units can tell
            them apart). By default the thresholds print as the tree learnt them.

        Returns
        -------
        str
            The whole tree, however deep, but for splits that change no class: a
            split whose leaves all predict one class prints as one leaf of that class
            (``n_rules_`` leaves in all). Its leaves name the black box's classes
            by :meth:`BlackBox.class_name` (its ``class_names``, else its labels in
            :attr:`BlackBox.classes`, else column indices).
        """
        readable = self._readable(feature_names, decimals, unscale)  # checks it is fitted
        return _rules_text(self.tree_.tree_, *readable)

    def plot(
        self,
        *,
        max_depth: int | None = None,
        feature_names: Sequence[str] | None = None,
        decimals: int = 3,
        unscale: Callable[[np.ndarray, np.ndarray], object] | None = None,
        ax: Any = None,
    ) -> Any:
        """Draw the tree as :meth:`export_text` prints it: each split with its feature's
        name and threshold, each leaf with its class and the training rows that reach it.

        Parameters
        ----------
        max_depth : int, optional
            Draw only the splits this many levels below the root (0: the root alone);
            a split cut there says so. By default the whole tree, which beyond a few
            dozen leaves is too wide to read.
        feature_names, decimals, unscale
            As in :meth:`export_text`: the splits read as its rules do, in the same
            units (``unscale=dataset.to_raw`` for a data set stored standardized).
        ax : matplotlib.axes.Axes, optional
            The axes to draw on; by default those of a new figure.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from ..report import plot_tree_surrogate

        return plot_tree_surrogate(
            self,
            max_depth=max_depth,
            feature_names=feature_names,
            decimals=decimals,
            unscale=unscale,
            ax=ax,
        )

    def _readable(
        self,
        feature_names: Sequence[str] | None,
        decimals: int,
        unscale: Callable[[np.ndarray, np.ndarray], object] | None,
    ) -> tuple[list[str], list[str], dict[int, str]]:
        """What :meth:`export_text` and :meth:`plot` show a person of the tree: the
        features' names, the classes' names (by index into ``tree_.classes_``) and the
        threshold each printed split reads, by node, in ``unscale``'s units."""
        self._check_fitted()
        decimals = check_positive_int(decimals, name="decimals", minimum=0)
        if feature_names is None:
            feature_names = self.blackbox.feature_names
        if feature_names is None:
            feature_names = [f"feature_{j}" for j in range(self.n_features_in_)]
        # A string is one name, not one per character ("abcd" named iris's four
        # features a, b, c, d); a name given twice leaves a rule that reads as either.
        names = list(check_names(feature_names, self.n_features_in_) or ())
        if len(set(names)) != len(names):
            twice = sorted({name for name in names if names.count(name) > 1})
            raise ValueError(
                f"feature_names must be unique, or a rule on one reads as a rule on the "
                f"other; {', '.join(map(repr, twice))} repeat"
            )
        # The tree learnt column indices; a person reads the model's own names.
        labels = [self.blackbox.class_name(c) for c in self.tree_.classes_]
        return names, labels, self._printed_thresholds(unscale, decimals, names)

    def _printed_thresholds(
        self,
        unscale: Callable[[np.ndarray, np.ndarray], object] | None,
        decimals: int,
        names: Sequence[str],
    ) -> dict[int, str]:
        """The threshold :meth:`export_text` prints for each split node, by node: in
        ``unscale``'s units, each rounded as :func:`_round_into_gap` says."""
        t = self.tree_.tree_
        # leaves have no feature (-2); nor do splits printed as a leaf
        splits = np.flatnonzero((t.feature >= 0) & (_printed_leaves(t) < 0))
        features = t.feature[splits]
        learnt = t.threshold[splits]
        shown, (low, high) = learnt, self.threshold_gaps_[splits].T
        if unscale is not None:
            if not callable(unscale):
                raise TypeError(f"unscale must be a callable, got {type(unscale).__name__}")
            shown = _unscale(unscale, learnt, features)
            _check_order_kept(learnt, shown, features)
            low, high = _unscale(unscale, low, features), _unscale(unscale, high, features)
            _check_gaps_open(low, high, [names[j] for j in features])
        printed = [_round_into_gap(*gap, decimals) for gap in zip(shown, low, high, strict=True)]
        return dict(zip(splits.tolist(), printed, strict=True))


def _rules_text(tree: Any, names: Sequence[str], labels: Sequence[str], thresholds: dict) -> str:
    """scikit-learn's ``export_text`` layout, written from the nodes of ``tree`` (a
    fitted tree's ``tree_``) with each split's ``thresholds`` string as it is.

    ``export_text`` pads every threshold to the places of the longest, and the padding
    was trimmed from its text by a pattern that a feature named ``class: a`` escaped
    (its split lines read as leaves and kept their zeros): built from the structure,
    no name is read back. Depth first, without recursion (a tree may be deeper than
    Python's stack allows); the same text as ``export_text`` where no threshold needs
    more places than another and no split is left with one class on both sides: such a
    split prints as one leaf (:func:`_printed_leaves`)."""
    leaf_class = _printed_leaves(tree)
    lines: list[str] = []
    pending: list[tuple[int, int] | str] = [(0, 0)]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            lines.append(item)
            continue
        node, depth = item
        branch = "|   " * depth + "|---"
        if leaf_class[node] >= 0:
            lines.append(f"{branch} class: {labels[leaf_class[node]]}")
            continue
        name, threshold = names[tree.feature[node]], thresholds[node]
        lines.append(f"{branch} {name} <= {threshold}")
        pending += [
            (int(tree.children_right[node]), depth + 1),
            f"{branch} {name} >  {threshold}",
            (int(tree.children_left[node]), depth + 1),
        ]
    return "".join(f"{line}\n" for line in lines)


def _printed_leaves(tree: Any) -> np.ndarray:
    """Per node of ``tree`` (a fitted tree's ``tree_``), the class (index into
    ``classes_``) it prints as a leaf, or -1 where it prints as a split: a leaf prints
    its own class (the argmax ``predict`` takes), and a split whose two children print
    as leaves of one class prints as that leaf, so that no rule splits rows that end
    in the same class. sklearn numbers a node's children after it, so one pass from
    the last node back settles every child before its parent."""
    printed = np.full(tree.node_count, -1, dtype=np.int64)
    for node in range(tree.node_count - 1, -1, -1):
        if tree.feature[node] < 0:
            printed[node] = int(np.argmax(tree.value[node][0]))
            continue
        left = printed[tree.children_left[node]]
        if left >= 0 and left == printed[tree.children_right[node]]:
            printed[node] = left
    return printed


def _threshold_gaps(tree: Any, X: np.ndarray) -> np.ndarray:
    """Per node of a fitted sklearn tree, the largest value of its split feature among
    the rows of ``X`` (those it was fitted on) that it sends left, and the smallest among
    those it sends right: shape (node_count, 2), NaN at leaves.

    The tree's own routing (its ``decision_path``, on float32 values) sorts the rows,
    so each gap holds the values a reader compares with the printed threshold."""
    t = tree.tree_
    gaps = np.full((t.node_count, 2), np.nan)
    # rows reaching each node: the (nodes, rows) indicator, one sparse row per node
    reaching = tree.decision_path(X).T.tocsr()
    for node in np.flatnonzero(t.feature >= 0):
        left, right = (
            reaching[child].indices for child in (t.children_left[node], t.children_right[node])
        )
        feature = t.feature[node]
        gaps[node] = X[left, feature].max(), X[right, feature].min()
    return gaps


def _unscale(
    unscale: Callable[[np.ndarray, np.ndarray], object], values: np.ndarray, features: np.ndarray
) -> np.ndarray:
    """``unscale(values, features)``, checked to give one finite number per split."""
    shown = check_array(
        unscale(values, features), name="unscale's thresholds", ndim=1, allow_empty=True
    )
    if shown.shape != features.shape:
        raise ValueError(
            f"unscale returned {shown.size} thresholds for the tree's "
            f"{features.size} splits; expected one each"
        )
    return shown


def _round_into_gap(threshold: float, low: float, high: float, decimals: int) -> str:
    """``threshold`` with the fewest decimals, at least ``decimals``, that lies strictly
    between ``low`` and ``high``: then ``x <= printed`` holds for every row the tree
    sends left (at most ``low``) and for none it sends right (at least ``high``).

    sklearn's threshold is midway between ``low`` and ``high``; the decimal nearest the
    middle is the first to enter the gap, so no shorter number would do. A threshold
    that ``unscale`` moved onto or past a side of the gap (a map that is flat there)
    gives way to the gap's midpoint. Where no number of any places lies inside (a gap
    of one float), ``low`` prints whole, at the decimals of its shortest exact form:
    ``x <= low`` still holds for every row sent left and for none sent right."""
    if not low < threshold < high:
        threshold = low + (high - low) / 2
    exact = _decimals_of(np.format_float_positional(threshold))
    for places in range(decimals, max(decimals, exact) + 1):
        printed = f"{threshold:.{places}f}"
        if low < float(printed) < high:
            return printed
    return f"{low:.{max(decimals, _decimals_of(np.format_float_positional(low)))}f}"


def _check_gaps_open(low: np.ndarray, high: np.ndarray, names: Sequence[str]) -> None:
    """Refuse gaps that ``unscale`` closed (``low >= high``): the rows on both sides of
    that split read the same number, so ``x <= t`` and ``x > t`` would each hold rows
    that go the other way, whatever ``t`` is printed."""
    closed = np.flatnonzero(~(low < high))
    if closed.size:
        k = closed[0]
        raise ValueError(
            f"unscale maps the training values a split of {names[k]!r} sends left to "
            f"{float(low[k])!r} and those it sends right to {float(high[k])!r}: no "
            "threshold in its units tells them apart; pass an unscale that keeps distinct "
            "values apart and in order, or none"
        )


def _decimals_of(number: str) -> int:
    """The decimal places of a number written without an exponent."""
    return len(number.partition(".")[2])


def _check_order_kept(learnt: np.ndarray, shown: np.ndarray, features: np.ndarray) -> None:
    """Refuse ``unscale`` thresholds that reverse a feature's order (a negative scale):
    its rules would print ``x <= t`` where the tree sends the larger values left."""
    for feature in np.unique(features):
        mine = features == feature
        order = np.argsort(learnt[mine], kind="stable")
        if np.any(np.diff(shown[mine][order]) < 0):
            raise ValueError(
                f"unscale reverses the order of feature {feature}'s thresholds; it must "
                "keep each feature's order, as mean + scale * t with scale > 0 does"
            )
