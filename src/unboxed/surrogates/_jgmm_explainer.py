"""Explaining a network with a JGMM between two of its layers.

Source: ``001_7567b900ec60d912.txt``. Features come from :meth:`BlackBox.features`;
conv maps may be average-pooled 2x2 or 3x3 (Sec. 4.1). With the logits as the higher
feature, ``K_y`` is the number of classes and higher component ``j`` is class ``j``
(Sec. 4.2), so ``p(w | x)`` of eq. 3 is a proxy classifier whose agreement with the
black box is its faithfulness (Table 1). Explanatory examples follow Sec. 3.2.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from .._estimator import Params
from .._io import (
    array_digest,
    as_recorded,
    check_generator_state,
    json_digest,
    read_json,
    write_json,
)
from .._ranks import descending_order
from .._validation import (
    RandomState,
    check_array,
    check_checkpoint,
    check_fraction,
    check_instance,
    check_is_fitted,
    check_positive_int,
    check_random_state,
    column_index,
    frame_index,
    is_int,
    pandas_index,
    row_label,
)
from ..blackbox import BlackBox, RowName, check_blackbox
from ..evaluate import Estimate, agreement
from ..evaluate._stats import proportion, wilson_bounds
from ..example_set import ExampleSet
from ..explanation import make_meta
from ..local._engine import call_seed
from . import _jgmm_examples as jx
from . import _jgmm_math as jm
from ._jgmm import JGMM

_SOURCES = ("mined", "generated")


def avg_pool(F: np.ndarray, size: int) -> np.ndarray:
    """Average-pool the last two axes in ``size x size`` windows (Sec. 4.1).

    A map whose side is not a multiple of ``size`` gets a last, smaller window, so no
    position is dropped (5x5 pooled 2x2 gives 3x3).

    Parameters
    ----------
    F : ndarray of shape (n, C, H, W)
    size : int

    Returns
    -------
    ndarray of shape (n, C, ceil(H / size), ceil(W / size))
    """
    out = F
    for axis in (2, 3):
        starts = np.arange(0, out.shape[axis], size)
        sums = np.add.reduceat(out, starts, axis=axis)
        counts = np.diff(np.append(starts, out.shape[axis]))
        shape = [1, 1, 1, 1]
        shape[axis] = counts.size
        out = sums / counts.reshape(shape)
    return out


@dataclasses.dataclass(frozen=True)
class ExampleFaithfulness:
    """Whether explanatory examples found with the JGMM proxy say something true of the
    black box: :meth:`JGMMExplainer.faithfulness`.

    Attributes
    ----------
    kind : str
        The examples' kind: "prototype", "criticism" or "influential".
    measure : str
        What ``examples`` and ``reference`` are shares of.
    examples : Estimate
        The share among the examples, with Wilson's 95% score interval.
    reference : Estimate
        The same share among the rows of the mining pool, with Wilson's 95% interval.
    expected : {"higher", "lower"}
        Where ``examples`` stands against ``reference`` when the examples are faithful.
    """

    kind: str
    measure: str
    examples: Estimate
    reference: Estimate
    expected: str

    @property
    def holds(self) -> bool:
        """Whether the two 95% intervals are apart, ``examples`` on the ``expected``
        side: a difference that sampling alone would rarely give.

        Returns
        -------
        bool
        """
        if self.expected == "higher":
            return self.examples.ci[0] > self.reference.ci[1]
        return self.examples.ci[1] < self.reference.ci[0]

    def __str__(self) -> str:
        return (
            f"{self.kind}s: {self.measure}: {self.examples} against {self.reference} on the "
            f"pool (expected {self.expected}; holds: {self.holds})"
        )

    def as_dict(self) -> dict[str, Any]:
        """The figures as JSON-ready plain types.

        Returns
        -------
        dict
            Keys ``kind``, ``measure``, ``expected``, ``holds`` and ``examples`` and
            ``reference`` (each :meth:`Estimate.as_dict`).
        """
        return {
            "kind": self.kind,
            "measure": self.measure,
            "examples": self.examples.as_dict(),
            "reference": self.reference.as_dict(),
            "expected": self.expected,
            "holds": self.holds,
        }


@dataclasses.dataclass(frozen=True)
class _GlobalKind:
    """A kind of global example (:meth:`JGMMExplainer._global_examples`): what its
    set is called, how many it counts and what its scores are, and how it is found."""

    #: The ExampleSet's ``kind``.
    name: str
    #: The argument that says how many examples, as ``meta``'s parameters name it.
    count: str
    #: What the scores are, for ``meta``.
    score: str
    #: ``mine(jgmm, Z, n)``: the best ``n`` of the pool's lower features ``Z``.
    mine: Callable[[JGMM, np.ndarray, int], jx.Found]
    #: ``generate(jgmm, n, rng, **setting)``; None where the kind is mined only.
    generate: Callable[..., jx.Found] | None = None


_PROTOTYPES = _GlobalKind(
    "prototype",
    "n_per_class",
    "log p(x | w = j), eq. 4",
    jx.mine_prototypes,
    jx.generate_prototypes,
)
_CRITICISMS = _GlobalKind(
    "criticism",
    "n",
    "-max_j log p(x | w = j), ranks as 1 - max_j p(x | w = j), eq. 5",
    jx.mine_criticisms,
)
_INFLUENTIALS = _GlobalKind(
    "influential",
    "n",
    "entropy of p(w | x), eq. 6",
    jx.mine_influentials,
    jx.generate_influentials,
)


#: What :meth:`JGMMExplainer.faithfulness` measures per kind, and which way a faithful
#: set of examples leans.
_FAITHFULNESS = {
    "prototype": ("the black box puts the row in its component's class", "higher"),
    "criticism": ("the proxy's class is the black box's", "lower"),
    "influential": (
        "the black box's margin (top-1 minus top-2 probability) is below the pool's median",
        "higher",
    ),
}


def _margin(proba: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 probability per row, shape ``(n,)`` of ``(n, C)``."""
    top2 = np.sort(proba, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def check_immutable(
    immutable: object, n_features: int, names: Sequence[str] | None = None
) -> tuple[int, ...] | None:
    """The input features a counterfactual or semi-factual must not change, as indices.

    Parameters
    ----------
    immutable : sequence of int or str, or None
        Flat input feature indices, ``0`` to ``n_features - 1``, or names from
        ``names``; None holds nothing.
    n_features : int
        The number of flat input features.
    names : sequence of str, optional
        The name of each feature (the black box's ``feature_names``).

    Returns
    -------
    tuple of int, sorted, or None

    Raises
    ------
    TypeError
        For anything but a list, tuple or 1-D array of ints and names.
    ValueError
        For an empty sequence, an index out of range, an unknown name (or any name
        without ``names``), a feature named twice, or every feature: with all held,
        nothing can change.
    """
    if immutable is None:
        return None
    if not isinstance(immutable, list | tuple | np.ndarray) or np.ndim(immutable) != 1:
        raise TypeError(
            "immutable must be a list of input feature indices or names, such as [0, 3] "
            f"or ['age'], got {type(immutable).__name__}"
        )
    if len(immutable) == 0:
        raise ValueError(
            "immutable is empty; name the features to hold, or pass None to let every "
            "feature change"
        )
    held = [_feature_index(feature, n_features, names) for feature in immutable]
    if len(set(held)) != len(held):
        twice = sorted({j for j in held if held.count(j) > 1})
        raise ValueError(f"immutable names feature(s) {twice} more than once")
    if len(held) == n_features:
        raise ValueError(
            f"immutable holds all {n_features} input features, so no example can differ "
            "from its query; leave at least one free"
        )
    return tuple(sorted(held))


def _feature_index(feature: object, n_features: int, names: Sequence[str] | None) -> int:
    """One entry of ``immutable``: an index in range, or a known name, as its index."""
    if isinstance(feature, str | np.str_):
        if names is None:
            raise ValueError(
                f"immutable names {str(feature)!r}, but the black box has no feature_names; "
                "give column indices"
            )
        return column_index(str(feature), names, context="immutable", noun="input feature")
    if not is_int(feature):
        raise TypeError(
            f"immutable holds {feature!r} ({type(feature).__name__}); expected int feature "
            "indices or str names"
        )
    if not 0 <= feature < n_features:
        raise ValueError(
            f"immutable: feature index {int(feature)} is out of range; expected 0 to "
            f"{n_features - 1} (the {n_features} input features)"
        )
    return int(feature)


class JGMMExplainer(Params):
    """A JGMM between a network's ``lower_layer`` and ``higher_layer``, with its proxy
    classifier and explanatory examples.

    Parameters
    ----------
    blackbox : BlackBox
        A torch black box (features are read with forward hooks).
    lower_layer : str
        The lower feature ``x``: a name from ``blackbox.layer_names()``.
    higher_layer : str
        The higher feature ``y``; the model's output, "logits" (the paper's choice;
        "output" for a black box that returns probabilities), ties component ``j`` to
        class ``j``.
    pool : {None, 2, 3}
        Average-pool a conv map ``(C, H, W)`` in 2x2 or 3x3 windows first.
    spatial : bool
        Fit the spatial extension (Sec. 3.3) on a conv map: every position of the
        (pooled) map is one offset ``r`` of the receptive field ``R``, with its own
        ``Q^(r)`` and shared Gaussians over the ``C`` channels. Otherwise the map is
        flattened into one vector.
    n_components_x : int or sequence of int
        ``K_x``. A sequence is a set of candidates: ``fit`` picks the one whose proxy
        agrees best with the black box on a held-out ``validation_fraction`` of its
        rows, as the paper picks ``K_x`` (Sec. 4.1, "chosen by validation
        performance"), then refits it on all rows. Needs the logits as the higher
        feature.
    validation_fraction : float
        The share of ``fit``'s rows held out to choose among several ``K_x`` or
        ``var_floor``.
    n_components_y : int, optional
        ``K_y``; must be None (the number of classes) for the logits.
    covariance, e_step, whiten, max_iter, tol, n_init
        As in :class:`JGMM`; ``e_step="paper"`` (eq. 15) by default. With
        ``e_step="labelled"`` the black box's class on each row of ``fit`` is ``w``,
        observed, and each lower component belongs to one class.
    var_floor : float or sequence of float
        As in :class:`JGMM`. A sequence is a set of candidates, chosen by validation
        together with ``K_x`` (every pair is tried): the floor decides how usable full
        covariances are when a component has few rows per dimension.
    random_state : int, numpy.random.Generator or None
        Resolved once in ``fit``; seeds the fit and every example drawn afterwards.
        Calls without their own ``random_state`` draw from this one generator in turn,
        so they repeat for the same seed and the same sequence of calls; pass a
        ``random_state`` to a call to make it repeat on its own.
    checkpoint : path-like, optional
        A JSON file the choice by validation is saved to, atomically, after each
        candidate: the scores so far and the generator's state. The final fit's EM
        state goes next to it, to ``<checkpoint>.final.npz``, after every iteration (as
        :class:`JGMM`'s ``checkpoint``). A fit interrupted and run again with the same
        settings, seed and data fits only the candidates and iterations left and ends
        with the same model. Needs an int ``random_state``; a checkpoint of other
        settings or data is refused. With a single candidate only the ``.final.npz``
        is written.
    verbose : bool
        Show progress bars.

    Attributes
    ----------
    jgmm_ : JGMM
    n_components_x_ : int
        The ``K_x`` fitted.
    var_floor_ : float
        The ``var_floor`` fitted.
    validation_agreement_ : dict of (int, float) to float, or None
        With several candidates: each ``(K_x, var_floor)`` pair's agreement with the
        black box on the held-out rows.
    classes_ : ndarray of shape (K_y,) or None
        The class of each higher component (logits only; None otherwise).
    n_classes_ : int
    feature_shape_ : tuple of int
        The shape of one lower feature after pooling, before flattening.
    X_fit_ : ndarray
        The inputs ``fit`` saw, the default pool for mining examples: the array given
        to ``fit`` itself where it needed no conversion, not a copy; a DataFrame's
        values, its index kept apart, so that a pool row the model raises on is named
        by its label. Their whitened lower features are computed at the first example
        call that mines them and kept for the next ones (``8 n D`` bytes: 192 MB at
        60,000 rows of 400 features). Those kept features do not follow a change made
        in place to that array or to the model's weights: refit after either.
    """

    #: ``(key, Z)`` of :meth:`_fit_pool`; not a fitted attribute: never saved, and
    #: rebuilt whenever its key changes.
    _fit_pool_cache: tuple[tuple[Any, ...], np.ndarray] | None = None
    #: The index of the DataFrame ``fit`` was given, else None (see :meth:`_fit_pool_row`).
    _fit_index: Any = None

    def __init__(
        self,
        blackbox: BlackBox,
        *,
        lower_layer: str,
        higher_layer: str = "logits",
        pool: int | None = None,
        spatial: bool = False,
        n_components_x: int | tuple[int, ...] | list[int] = 32,
        validation_fraction: float = 0.2,
        n_components_y: int | None = None,
        covariance: str = "diag",
        e_step: str = "paper",
        whiten: bool = True,
        var_floor: float | tuple[float, ...] | list[float] = 1e-3,
        max_iter: int = 200,
        tol: float = 1e-3,
        n_init: int = 1,
        random_state: RandomState = None,
        checkpoint: str | os.PathLike | None = None,
        verbose: bool = True,
    ) -> None:
        self.blackbox = blackbox
        self.lower_layer = lower_layer
        self.higher_layer = higher_layer
        self.pool = pool
        self.spatial = spatial
        self.n_components_x = n_components_x
        self.validation_fraction = validation_fraction
        self.n_components_y = n_components_y
        self.covariance = covariance
        self.e_step = e_step
        self.whiten = whiten
        self.var_floor = var_floor
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.random_state = random_state
        self.checkpoint = checkpoint
        self.verbose = verbose
        # Here, so that a mistyped setting fails now and not after the data is loaded;
        # fit checks again, for attributes set directly.
        self._check_setup()

    # ------------------------------------------------------------------ features
    def _check_setup(self) -> None:
        check_blackbox(self.blackbox)
        if self.blackbox.kind != "torch":
            raise TypeError(
                f"JGMMExplainer reads the layers of a torch model, but {self.blackbox.name!r} "
                f"is a {self.blackbox.kind} black box; for another model fit "
                "unboxed.surrogates.JGMM on feature arrays of your own (the inputs and the "
                "black box's log-probabilities, say)"
            )
        names = self.blackbox.layer_names()
        for name, layer in (("lower_layer", self.lower_layer), ("higher_layer", self.higher_layer)):
            if not isinstance(layer, str):
                # lower_layer=0 was "not a layer; choose from ['0', ...]", which read as
                # naming the very layer it refused.
                raise TypeError(
                    f"{name} must be a layer's name, a str such as {names[0]!r}, got "
                    f"{type(layer).__name__} {layer!r}; the layers are {names}"
                )
            if layer not in names:
                # The input is no layer; tabular users want examples in its units.
                raise ValueError(
                    f"{name}={layer!r} is not a layer of the model; choose from {names} "
                    "(for the input itself, put an nn.Identity() first: "
                    "nn.Sequential(nn.Identity(), model), whose layer '0' is the input)"
                )
        if self.lower_layer == self.higher_layer:
            raise ValueError(
                f"lower_layer and higher_layer are both {self.lower_layer!r}; the JGMM "
                "relates two different layers (the higher one above the lower)"
            )
        if self.pool not in (None, 2, 3):
            raise ValueError(f"pool must be None, 2 or 3 (the paper's windows), got {self.pool!r}")
        if self._tied and self.n_components_y is not None:
            raise ValueError(
                "with the output as the higher feature, K_y is the number of classes; "
                "leave n_components_y=None"
            )
        if not self._tied and self.n_components_y is None:
            raise ValueError(f"higher_layer={self.higher_layer!r} needs n_components_y")
        if not self._tied and self.e_step == "labelled":
            raise ValueError(
                f"e_step='labelled' observes the black box's class as w; it needs {self._tie}"
            )
        check_random_state(self.random_state)  # as fit resolves it
        check_checkpoint(self.checkpoint, self.random_state)
        candidates = self._candidates()
        if len(candidates) > 1 and not self._tied:
            raise ValueError(
                f"choosing n_components_x or var_floor by validation needs {self._tie} "
                "(it compares the proxy's agreement with the black box)"
            )
        # Checked with one candidate too, where it is unused: a typo is not silently kept.
        check_fraction(self.validation_fraction, name="validation_fraction", below_one=True)
        # The JGMM's own settings, as its constructor checks them (K_y stands in for the
        # number of classes where the output is the higher feature).
        ky = 1 if self.n_components_y is None else self.n_components_y
        for kx, floor in candidates:
            self._new_jgmm(kx, floor, ky, np.random.default_rng(0))

    def _candidates(self) -> list[tuple[int, float]]:
        """Every candidate ``(K_x, var_floor)`` pair."""
        ks = _sequence(self.n_components_x, "n_components_x")
        for k in ks:
            check_positive_int(k, name="n_components_x")
        # JGMM checks each floor's range when it is fitted.
        return [(int(k), floor) for k in ks for floor in _sequence(self.var_floor, "var_floor")]

    @property
    def _tied(self) -> bool:
        # The black box's rule: its own alias ("logits", or "output" for probabilities)
        # unless a submodule bears that name, which is then that (maybe hidden) layer.
        return self.blackbox._is_output(self.higher_layer)

    @property
    def _tie(self) -> str:
        """The setting that ties components to classes, for messages: the output's own
        name, "logits" or, for a model returning probabilities, "output"."""
        alias = self.blackbox._output_alias()
        if self.blackbox._is_output(alias):
            return f"higher_layer={alias!r}"
        # A submodule bears the alias, so the output has no name to give.
        return f"the model's output as higher_layer (its name {alias!r} is a submodule's here)"

    def lower_features(self, X: object) -> np.ndarray:
        """The lower feature of the model's inputs, pooled, in the JGMM's layout.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            The black box's inputs.

        Returns
        -------
        ndarray of shape (n_samples, D), or (n_samples, R, C) for the spatial model
        """
        return self._lower_features(X)

    def _lower_features(self, X: object, row_name: RowName | None = None) -> np.ndarray:
        """:meth:`lower_features`; ``row_name(i)`` names row ``i`` of ``X`` where the
        model raises on it and the rows are not those the user passed (see
        :meth:`~unboxed.BlackBox._proba_rows`)."""
        F = np.asarray(self.blackbox._features(X, self.lower_layer, row_name), dtype=np.float64)
        if self.pool is not None or self.spatial:
            if F.ndim != 4:
                raise ValueError(
                    f"pool and spatial need a conv map (n, C, H, W); layer {self.lower_layer!r} "
                    f"gives shape {F.shape[1:]}"
                )
            if self.pool is not None:
                F = avg_pool(F, self.pool)
        self._feature_shape = tuple(F.shape[1:])
        if self.spatial:
            n, c = F.shape[:2]
            return F.reshape(n, c, -1).transpose(0, 2, 1)
        return F.reshape(F.shape[0], -1)

    def _check_labelled_size(
        self, candidates: list[tuple[int, float]], labels: np.ndarray | None
    ) -> None:
        """Refuse a K_x below the number of classes that ``e_step="labelled"`` gives
        components of their own, in the explainer's terms: JGMM's own message named
        its ``labels_y``, which the explainer's user never gives."""
        if self.e_step != "labelled" or labels is None:
            return
        n_seen = np.unique(labels).size
        small = [kx for kx, _ in candidates if kx < n_seen]
        if small:
            raise ValueError(
                f"e_step='labelled' gives each class the black box predicts on X its own "
                f"lower components, and it predicts {n_seen}; n_components_x={small[0]} "
                f"is fewer: give at least {n_seen}"
            )

    def _higher_features(self, X: object) -> np.ndarray:
        Y = np.asarray(self.blackbox.features(X, self.higher_layer), dtype=np.float64)
        return Y.reshape(Y.shape[0], -1)

    # ------------------------------------------------------------------ fit
    def fit(self, X: object) -> JGMMExplainer:
        """Extract both layers' features of ``X`` (a training split) and fit the JGMM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            The black box's inputs.
            With the logits as higher feature, the black box must predict at least
            two classes on them.

        Returns
        -------
        self
        """
        self._check_setup()
        given, X = X, self.blackbox.check_X(X)
        rng = check_random_state(self.random_state)
        F = self.lower_features(_labelled(given, X))
        Y = self._higher_features(_labelled(given, X))
        n_classes = self.blackbox.n_classes
        labels = Y.argmax(axis=1) if self._tied else None
        if labels is not None and np.unique(labels).size < 2:
            raise ValueError(
                "the black box gives every row of X the same class; a proxy classifier needs "
                "at least two classes in X"
            )
        ky = n_classes if self._tied else int(self.n_components_y)  # type: ignore[arg-type]
        self.n_classes_ = n_classes
        candidates = self._candidates()
        self._check_labelled_size(candidates, labels)
        self.validation_agreement_ = None
        if len(candidates) > 1:
            assert labels is not None  # _check_setup allows candidates only when tied
            self.validation_agreement_ = self._validate(candidates, F, Y, labels, ky, rng)
            kx, floor = max(candidates, key=self.validation_agreement_.__getitem__)
        else:
            kx, floor = candidates[0]
        final = self._new_jgmm(kx, floor, ky, rng, checkpoint=self._final_checkpoint)
        self._fit_pool_cache = None  # of the fit before, if any: free it now
        self.jgmm_ = final.fit(F, Y, labels_y=labels)
        self.n_components_x_, self.var_floor_ = kx, floor
        self.rng_ = rng
        self.feature_shape_ = self._feature_shape
        self.X_fit_ = X
        # The default pool's row labels, which the array X_fit_ drops: a pool row the
        # model raises on reads "row 1 of the mining pool, row X.loc['flower-62']".
        self._fit_index = pandas_index(given)
        # Set on every fit, so that an untied refit leaves no classes of a tied fit before.
        self.classes_: np.ndarray | None = None
        if labels is not None:  # the higher components are tied to the classes
            self.classes_ = _component_classes(self.jgmm_, Y, labels, n_classes)
            if np.unique(self.classes_).size != n_classes:
                warnings.warn(
                    "the higher components do not map one-to-one to the classes "
                    f"(component -> class: {self.classes_.tolist()}); the proxy cannot "
                    "predict the classes no component stands for",
                    UserWarning,
                    stacklevel=2,
                )
        return self

    @property
    def _final_checkpoint(self) -> Path | None:
        """Where the final fit's EM state is saved: next to the validation's."""
        return None if self.checkpoint is None else Path(f"{os.fspath(self.checkpoint)}.final.npz")

    def _new_jgmm(
        self,
        kx: int,
        var_floor: float,
        ky: int,
        rng: np.random.Generator,
        checkpoint: Path | None = None,
    ) -> JGMM:
        return JGMM(
            kx,
            ky,
            covariance=self.covariance,
            e_step=self.e_step,
            whiten=self.whiten,
            var_floor=var_floor,
            max_iter=self.max_iter,
            tol=self.tol,
            n_init=self.n_init,
            random_state=rng,
            checkpoint=checkpoint,
            verbose=self.verbose,
        )

    def _validate(
        self,
        candidates: list[tuple[int, float]],
        F: np.ndarray,
        Y: np.ndarray,
        labels: np.ndarray,
        ky: int,
        rng: np.random.Generator,
    ) -> dict[tuple[int, float], float]:
        """Each candidate ``(K_x, var_floor)``'s agreement with the black box on
        held-out rows."""
        n = F.shape[0]
        order = rng.permutation(n)
        n_val = min(n - 1, max(1, round(self.validation_fraction * n)))
        val, train = order[:n_val], order[n_val:]
        settings = self._checkpoint_settings(candidates, F, Y)
        scores = self._resume(settings, candidates, rng)
        for kx, floor in candidates[len(scores) :]:
            with warnings.catch_warnings():
                # A candidate that leaves a class without a component (a warning
                # for the final fit) just scores low here.
                warnings.simplefilter("ignore", UserWarning)
                model = self._new_jgmm(kx, floor, ky, rng)
                model.fit(F[train], Y[train], labels_y=labels[train])
            classes = _component_classes(model, Y[train], labels[train], self.n_classes_)
            proba = _class_proba(model.predict_proba_w(F[val]), classes, self.n_classes_)
            scores[kx, floor] = float((proba.argmax(axis=1) == labels[val]).mean())
            if self.checkpoint is not None:
                done = [[k, f, score] for (k, f), score in scores.items()]
                state = rng.bit_generator.state
                record = {"settings": settings, "scores": done, "rng": state}
                # JSON keeps no checksum, and a changed figure would be resumed from silently.
                write_json(self.checkpoint, {**record, "sha256": json_digest(record)})
        return scores

    def _checkpoint_settings(self, candidates, F, Y) -> dict[str, Any]:
        """Everything the validation scores depend on, as JSON values."""
        if self.checkpoint is None:
            return {}
        names: tuple[str, ...] = ("lower_layer", "higher_layer", "pool", "spatial")
        names += ("validation_fraction",)
        names += ("covariance", "e_step", "whiten", "max_iter", "tol", "n_init", "random_state")
        return {
            **{name: getattr(self, name) for name in names},
            "candidates": [[int(k), float(f)] for k, f in candidates],
            "data_sha256": array_digest(F, Y),
        }

    def _resume(self, settings, candidates, rng) -> dict[tuple[int, float], float]:
        """The scores a checkpoint holds, with ``rng`` set to its state after them."""
        if self.checkpoint is None or not Path(self.checkpoint).is_file():
            return {}
        record = read_json(self.checkpoint, what="JGMM validation checkpoint")
        if not isinstance(record, dict) or "settings" not in record:
            raise ValueError(f"{self.checkpoint} is not an unboxed JGMM validation checkpoint")
        if record["settings"] != as_recorded(settings):
            raise ValueError(
                f"{self.checkpoint} was made with other settings or data; delete it or pass "
                "another checkpoint"
            )
        try:
            done = record["scores"]
            pairs = [(int(k), float(f)) for k, f, _ in done]
            scores = {pair: float(score) for pair, (*_, score) in zip(pairs, done, strict=True)}
            if pairs != candidates[: len(pairs)] or not all(0 <= v <= 1 for v in scores.values()):
                raise ValueError("its scores are not those of a start of the candidates")
            stored = record.pop("sha256", None)  # None: saved before checksums
            if stored is not None and stored != json_digest(record):
                raise ValueError("its scores or generator state do not match their checksum")
            rng.bit_generator.state = check_generator_state(record["rng"], like=rng)
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{self.checkpoint} is a damaged JGMM checkpoint: {err}") from err
        return scores

    def _check_fitted(self) -> None:
        check_is_fitted(self, "jgmm_")
        # The proxy's classes are those of the black box at the fit; set_params may have
        # swapped it for one of another count since: predict gave class 8 of a box of 3
        # without a word, fidelity said "pred_a holds 4, which is not a class", and
        # counterfactuals "top_classes name class 8 of 3".
        if self.n_classes_ != self.blackbox.n_classes:
            raise ValueError(
                f"this JGMMExplainer was fitted on a black box of {self.n_classes_} classes, "
                f"but blackbox now has {self.blackbox.n_classes}: it was changed since the "
                "fit (set_params(blackbox=...)); fit the explainer again"
            )

    def _check_tied(self, what: str) -> None:
        if not self._tied:
            raise ValueError(f"{what} needs {self._tie} (components tied to classes)")

    # ------------------------------------------------------------------ proxy
    def _fitted_classes(self) -> np.ndarray:
        # None after a fit on an untied higher_layer, which set_params may since have changed
        if self.classes_ is None:
            raise ValueError(
                "this JGMMExplainer was fitted with an untied higher_layer; fit it again"
            )
        return self.classes_

    def _class_proba(self, proba_w: np.ndarray) -> np.ndarray:
        return _class_proba(proba_w, self._fitted_classes(), self.n_classes_)

    def predict_proba(self, X: object) -> np.ndarray:
        """The proxy's class probabilities from the lower features: ``p(w | x)`` (eq. 3).

        Needs ``higher_layer`` tied to the classes: the model's output ("logits", or
        "output" for a black box that returns probabilities).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            The black box's inputs.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        self._check_fitted()
        self._check_tied("predict_proba")
        return self._proxy_proba(X)

    def _proxy_proba(self, X: object, row_name: RowName | None = None) -> np.ndarray:
        """:meth:`predict_proba`, fitted and tied; ``row_name`` as :meth:`_lower_features`'s."""
        return self._class_proba(self.jgmm_.predict_proba_w(self._lower_features(X, row_name)))

    def predict(self, X: object) -> np.ndarray:
        """The proxy's class per row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            The black box's inputs.

        Returns
        -------
        ndarray of int of shape (n_samples,)
            The argmax of :meth:`predict_proba`.
        """
        return self.predict_proba(X).argmax(axis=1)

    def fidelity(self, X: object) -> Estimate:
        """Agreement of the proxy with the black box on ``X`` (Table 1), with a 95% CI.

        The interval is Wilson's score interval (:func:`unboxed.evaluate.agreement`),
        which draws nothing: a call changes none of the examples drawn after it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            The black box's inputs.
            Pass rows the explainer was not fitted on.

        Returns
        -------
        Estimate
            The share of rows on which the proxy and the black box give the same class,
            with Wilson's 95% interval.
        """
        self._check_fitted()
        given, X = X, self.blackbox.check_X(X)
        # A DataFrame's row labels name the row the model raises on, in both queries.
        proxy = self.predict(_labelled(given, X))
        classes = self.blackbox._predict_rows(X, pandas_index(given))
        return agreement(proxy, classes, classes=range(self.blackbox.n_classes))

    def validity(self, examples: ExampleSet) -> Estimate:
        """The share of counterfactuals that change the black box's class (of
        semi-factuals: that keep it), checked with the black box itself.

        The examples are found with the proxy; this asks the black box. Mined examples
        are classified from their ``inputs``; generated ones, which exist only as
        lower-layer features, by the layers above ``lower_layer``
        (:meth:`head_predict`, which needs a plain ``nn.Sequential`` model without
        ``pool`` or ``spatial``).

        Parameters
        ----------
        examples : ExampleSet
            Counterfactuals or semi-factuals from this explainer, with their queries.

        Returns
        -------
        Estimate
            The share of examples whose black-box class differs from their query's
            (counterfactuals) or equals it (semi-factuals), with Wilson's 95% interval
            taking the queries as the independent units: the examples of one query are
            not independent, and there are at least as many independent units as
            queries, so the interval errs on the wide side. ``n`` is the number of
            examples.

        Raises
        ------
        ValueError
            For another kind of example, a set without its query classes, or an empty
            set.
        """
        self._check_fitted()
        check_instance(examples, ExampleSet, name="examples", what="an ExampleSet")
        if examples.kind not in ("counterfactual", "semifactual"):
            raise ValueError(
                f"validity checks counterfactuals and semi-factuals, got {examples.kind}s"
            )
        if examples.query_classes is None:
            raise ValueError("examples has no query_classes to compare with")
        if examples.values.shape[0] == 0:
            raise ValueError("examples is empty: no example was found to check")
        if examples.inputs is not None:
            classes = self.blackbox.predict(examples.inputs)
        else:
            # Said in validity's terms: "head_predict needs ..." named a method not called.
            self._check_head("validity of generated examples")
            classes = self._head_outputs(examples.values, name="examples.values").argmax(axis=1)
        same = classes == examples.query_classes[examples.groups]
        valid = jx._valid(same, examples.kind)
        share = float(np.mean(valid))
        n_queries = np.unique(examples.groups).size
        return Estimate(share, wilson_bounds(share, n_queries), int(valid.size))

    def faithfulness(self, examples: ExampleSet, X: object | None = None) -> ExampleFaithfulness:
        """Check prototypes, criticisms or influentials, found with the proxy, against
        the black box itself, beside the same figure on the mining pool.

        - A prototype of higher component ``j`` (class ``classes_[j]``) should be a row
          the black box puts in that class: the share that it does, against the share
          of pool rows whose class the proxy gives (its agreement there). Faithful
          prototypes score higher.
        - A criticism is a row no component represents: the share on which the proxy's
          class (``top_classes[:, 0]``) is the black box's, against the proxy's
          agreement on the pool. Faithful criticisms score lower: they show where the
          proxy fails.
        - An influential row has an uncertain proxy posterior (eq. 6): the share whose
          black-box margin, top-1 minus top-2 class probability, is below the pool's
          median margin, against the same share on the pool (about one half).
          Faithful influentials score higher: the black box hesitates there too.

        Mined examples are classified from their ``inputs``; generated ones by the
        layers above ``lower_layer``, as :meth:`validity` does. It draws nothing.

        Parameters
        ----------
        examples : ExampleSet
            Prototypes, criticisms or influentials from this explainer.
        X : array-like of inputs, optional
            The pool they were mined from; default the inputs ``fit`` saw.

        Returns
        -------
        ExampleFaithfulness
            The share among the examples and on the pool, each with Wilson's 95% score
            interval (the examples as independent units), and whether they stand
            apart on the side faithful examples should.

        Raises
        ------
        ValueError
            For another kind of example (counterfactuals and semi-factuals have
            :meth:`validity`), an empty set, or a model whose higher layer is not the
            logits.
        """
        self._check_fitted()
        check_instance(examples, ExampleSet, name="examples", what="an ExampleSet")
        if examples.kind not in _FAITHFULNESS:
            hint = "; use validity" if examples.kind in ("counterfactual", "semifactual") else ""
            raise ValueError(
                f"faithfulness checks prototypes, criticisms and influentials, got "
                f"{examples.kind}s{hint}"
            )
        self._check_tied("faithfulness")
        if examples.values.shape[0] == 0:
            raise ValueError("examples is empty: no example was found to check")
        measure, expected = _FAITHFULNESS[examples.kind]
        if examples.inputs is not None:
            proba = self.blackbox.predict_proba(examples.inputs)
        else:
            self._check_head("faithfulness of generated examples")
            proba = self._head_proba(examples.values, name="examples.values")
        pool = self.X_fit_ if X is None else self.blackbox.check_X(X)
        named = self._fit_pool_row() if X is None else None
        pool_proba = self.blackbox._proba_rows(pool, named, index=pandas_index(X))
        if examples.kind == "influential":
            median = np.median(_margin(pool_proba))
            hits, reference = _margin(proba) < median, _margin(pool_proba) < median
        else:
            proxy = self._proxy_proba(_labelled(X, pool), named).argmax(axis=1)
            reference = proxy == pool_proba.argmax(axis=1)
            if examples.kind == "prototype":
                claimed = self._fitted_classes()[examples.groups]
            else:
                claimed = examples.top_classes[:, 0]
            hits = proba.argmax(axis=1) == claimed
        return ExampleFaithfulness(
            examples.kind, measure, proportion(hits), proportion(reference), expected
        )

    def head_predict(self, F: object) -> np.ndarray:
        """The black box's class for lower features ``F``, by running the layers above.

        Needs an ``nn.Sequential`` model (every zoo model is one), no pooling and the
        plain model: pooled or spatial features cannot be fed back into the network.

        Parameters
        ----------
        F : array-like of shape (n_samples, D), flat lower features

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self._head_outputs(F).argmax(axis=1)

    def _head_outputs(
        self, F: object, rows: str = "the lower features given", *, name: str = "F"
    ) -> np.ndarray:
        """The network's outputs (logits or probabilities, as it returns them) for flat
        lower features ``F``, shape ``(n, n_classes)``, in float64. A network that
        raises is a :class:`~unboxed.BlackBoxError` that says what ``rows`` are: it
        came out as torch's own error, naming nothing. ``name`` is what the caller's
        user passed as ``F`` (``faithfulness``'s: ``examples.values``)."""
        import torch

        self._check_fitted()
        head = self._head()
        F = check_array(F, name=name, ndim=2)
        width = int(np.prod(self.feature_shape_))
        if F.shape[1] != width:
            raise ValueError(
                f"{name} has {F.shape[1]} features per row; expected {width}, the flat "
                f"lower features of layer {self.lower_layer!r}"
            )
        param = next(head.parameters(), None)
        dtype = torch.float32 if param is None else param.dtype
        out = []
        with torch.inference_mode():
            for start in range(0, F.shape[0], 4096):
                # A copy: F may be a read-only array (an ExampleSet's values).
                batch = torch.tensor(np.array(F[start : start + 4096]), dtype=dtype)
                place = (
                    f"in the layers above {self.lower_layer!r}, on rows {start}.."
                    f"{start + len(batch) - 1} of {rows}"
                )
                with self.blackbox._guard(len(batch), functools.partial(str, place)):
                    out.append(head(batch.reshape(-1, *self.feature_shape_)).double().numpy())
        outputs = np.concatenate(out)
        if not np.all(np.isfinite(outputs)):
            # argmax took a NaN row for class 0 and the softmax gave NaN probabilities:
            # head_predict, validity and faithfulness counted them without a word.
            first = int(np.argmin(np.isfinite(outputs).all(axis=1)))
            largest = float(np.max(np.abs(F)))
            limit = float(torch.finfo(dtype).max) if dtype.is_floating_point else np.inf
            why = (
                f"{name} holds values beyond the range of the network's {dtype} (up to "
                f"{largest:g} in magnitude; it holds up to {limit:.3g})"
                if largest > limit
                else f"from values within the range of the network's {dtype} (up to {largest:g})"
            )
            raise ValueError(
                f"the layers above {self.lower_layer!r} returned NaN or infinite values "
                f"(first on row {first} of {rows}): {why}"
            )
        return outputs

    def _head_proba(self, F: object, *, name: str = "F") -> np.ndarray:
        """:meth:`_head_outputs` as class probabilities: a float64 softmax of logits, as
        :meth:`BlackBox.predict_proba` takes them."""
        out = self._head_outputs(F, name=name)
        if self.blackbox.output != "logits":
            return out
        out = np.exp(out - out.max(axis=1, keepdims=True))
        return out / out.sum(axis=1, keepdims=True)

    def _check_head(self, what: str) -> None:
        """Refuse ``what`` where :meth:`head_predict` cannot run: a ``ValueError``."""
        try:
            self._head()
        except ValueError:
            raise ValueError(
                f"{what} asks the black box about lower features of layer "
                f"{self.lower_layer!r}, which needs an nn.Sequential model whose child "
                "that layer is, without pool or spatial; use source='mined'"
            ) from None

    def _head(self) -> Any:
        from torch import nn

        module = self.blackbox.module
        names = [name for name, _ in module.named_children()]
        if (
            self.pool is not None
            or self.spatial
            or not isinstance(module, nn.Sequential)
            or self.lower_layer not in names
        ):
            raise ValueError(
                "head_predict needs an nn.Sequential model whose child is lower_layer, "
                "without pool or spatial"
            )
        return nn.Sequential(*list(module.children())[names.index(self.lower_layer) + 1 :])

    # ------------------------------------------------------------------ examples
    def _pool(self, X: object | None) -> tuple[np.ndarray, np.ndarray]:
        if X is None:
            return self.X_fit_, self._fit_pool()
        inputs = self.blackbox.check_X(X)
        return inputs, self.jgmm_.transform_x(self.lower_features(_labelled(X, inputs)))

    def _fit_pool(self) -> np.ndarray:
        """The whitened lower features of ``X_fit_``, the default example pool, read-only.

        Computed at the first example call that mines ``X_fit_`` and kept until the
        fit, the model or the feature settings change: each such call ran the black box
        over every training row and whitened them again (about 9 s at 60,000 rows of
        LeNet's pool2). It costs ``8 n D`` bytes (192 MB at 60,000 rows of pool2's 400
        features), so it is made only when asked for. The key holds the fitted objects
        themselves, so a refit or a new ``blackbox``, ``lower_layer``, ``pool`` or
        ``spatial`` (through ``set_params`` or not) recomputes it. Identity does not
        see a change made in place to ``X_fit_`` (the caller's array) or to the
        module's weights, which leaves ``jgmm_`` stale too: ``X_fit_``'s entry in the
        class docstring asks for a refit then.
        """
        key = (self.jgmm_, self.X_fit_, self.blackbox, self.lower_layer, self.pool, self.spatial)
        cached = self._fit_pool_cache
        if cached is not None and _same_key(cached[0], key):
            return cached[1]
        Z = self.jgmm_.transform_x(self._lower_features(self.X_fit_, self._fit_pool_row()))
        Z.setflags(write=False)  # shared by every later call: none may change it
        self._fit_pool_cache = (key, Z)
        return Z

    def _fit_pool_row(self) -> RowName | None:
        """``row_name`` of a query of the default pool's rows, ``X_fit_``: "row 1 of the
        mining pool, row X.loc['flower-62']" by the label of the fit's DataFrame, which
        the array does not keep; None for an array's, named as ``predict_proba`` names
        them."""
        if self._fit_index is None:
            return None
        return functools.partial(_pool_row, "the mining pool", None, index=self._fit_index)

    def _rng(self, random_state: RandomState) -> np.random.Generator:
        return self.rng_ if random_state is None else check_random_state(random_state)

    def _call_seed(self, random_state: RandomState) -> int:
        """The int seed of one sampling call, as the local explainers draw it: an int
        as it is, else one draw from the Generator (the explainer's own for None).
        ``meta["seed"]`` records it, so ``random_state=meta["seed"]`` makes the call
        again; recording ``random_state`` could not, for a Generator."""
        return call_seed(self.rng_ if random_state is None else random_state)

    def _example_set(
        self,
        kind: str,
        source: str,
        found: jx.Found,
        inputs: np.ndarray | None,
        params: dict[str, Any],
        score: str,
        seed: int | None = None,
        held: tuple[int, ...] | None = None,
        **extra: Any,
    ) -> ExampleSet:
        model = self.jgmm_
        log_pw = jx._log_proba_w(model, found.Z)
        proba = self._class_proba(np.exp(log_pw)) if self._tied else np.exp(log_pw)
        top = descending_order(proba, 2)
        if top.shape[1] < 2:  # pragma: no cover - K_y >= 2 whenever tied
            top = np.concatenate([top, top], axis=1)
        mined = source == "mined" and inputs is not None
        # Generated examples whose lower features are the inputs (layer "0" of
        # nn.Sequential(nn.Identity(), model)) are input rows: a table's drew as heat
        # maps of "layer 0 features" beside their query's bars.
        as_inputs = source == "generated" and self._lower_is_input
        has_inputs = mined or as_inputs or extra.get("query_inputs") is not None
        # Untied, top_classes are higher components w of a hidden layer, which the
        # black box's labels would title as classes in the plots ("digit 0/digit 1").
        classes = self.blackbox.class_names if self._tied else None
        if extra.get("query_classes") is not None and not self._tied:
            extra["query_class_names"] = self.blackbox.class_names  # the black box's own
        meta = make_meta(
            f"JGMM {kind}s",
            {
                **params,
                "lower_layer": self.lower_layer,
                "higher_layer": self.higher_layer,
                "pool": self.pool,
                "score": score,
            },
            # The call's own seed where it drew one; else the explainer's, as before.
            seed=self.random_state if seed is None else seed,
        )
        if kind == "prototype" and self._tied:
            # groups are higher components; the plots title each by its class
            meta["component_classes"] = [int(c) for c in self._fitted_classes()]
        values = model.inverse_transform_x(found.Z) if found.Z.shape[0] else found.Z
        example_inputs = inputs[found.indices] if mined and inputs is not None else None
        if held is not None:
            values, example_inputs = self._held_exactly(
                values, example_inputs, extra["query_inputs"][found.groups], held
            )
        if as_inputs:
            example_inputs = np.array(values, dtype=np.float64)  # its own copy
        return ExampleSet(
            kind=kind,
            source=source,
            values=values,
            scores=found.scores,
            components=found.components,
            groups=found.groups,
            top_classes=top,
            top_proba=np.take_along_axis(proba, top, axis=1),
            meta=meta,
            indices=found.indices,
            inputs=example_inputs,
            image_shape=self._image_shape() if has_inputs else None,
            class_names=classes,
            # The black box's names of its inputs label a table row's bars; a set
            # without inputs (generated examples) has nothing for them to name.
            input_names=self.blackbox.feature_names if has_inputs else None,
            **extra,
        )

    def _held_exactly(
        self,
        values: np.ndarray,
        inputs: np.ndarray | None,
        own_queries: np.ndarray,
        held: tuple[int, ...],
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The examples' values and inputs with the ``held`` features set to those of
        ``own_queries`` (each example's query), exactly. Mined inputs are the rows the
        pool gave with them set, as :meth:`_mine_held` scored them; lower features that
        are the inputs went through whitening and back, which changed them by rounding
        alone."""
        if inputs is not None:
            inputs = inputs.astype(np.result_type(inputs.dtype, own_queries.dtype))
            inputs[:, held] = own_queries[:, held]
        if self._lower_is_input and values.shape[0]:
            values = np.array(values, dtype=np.result_type(values.dtype, own_queries.dtype))
            values[:, held] = own_queries[:, held]
        return values, inputs

    def _image_shape(self) -> tuple[int, ...] | None:
        shape = self.blackbox.input_shape
        if shape is not None and len(shape) == 3:
            return shape[1:] if shape[0] == 1 else shape
        return None

    def _examples_ready(self, source: str, allowed: tuple[str, ...] = _SOURCES) -> None:
        self._check_fitted()
        if self.jgmm_.spatial_:
            raise ValueError(
                "explanatory examples need the plain JGMM (spatial=False); the spatial "
                "model serves as a proxy classifier"
            )
        if source not in allowed:
            raise ValueError(f"source must be one of {allowed}, got {source!r}")

    def prototypes(
        self,
        X: object | None = None,
        *,
        n_per_class: int = 5,
        source: str = "mined",
        n_candidates: int = 200,
        random_state: RandomState = None,
    ) -> ExampleSet:
        """Prototypes of each higher component (eq. 4): mined from ``X``, or sampled
        from ``p(x | w = j)`` (keeping the best of ``n_candidates`` per component).

        Mined prototypes of ``j`` are taken first from the rows the proxy puts in
        ``j``: eq. 4 alone favoured rows of other classes beside a lower component
        they share (the network put 62% of them in ``j``'s class on the tests'
        digits LeNet; 100% so mined). :meth:`faithfulness` measures it.

        ``X`` defaults to the inputs ``fit`` saw. Scores are ``log p(x | w = j)``.

        Parameters
        ----------
        X : array-like of inputs, optional
            The mining pool; default the inputs ``fit`` saw. Unused when generated.
        n_per_class : int, default=5
            Prototypes per higher component, at least 1.
        source : {"mined", "generated"}, default="mined"
        n_candidates : int, default=200
            Generated only: samples drawn per component, of which the best are kept.
        random_state : int, numpy.random.Generator or None, default=None
            Seeds the generation; None draws from the explainer's own generator.
            Generated only: ``meta["seed"]`` records the int seed of the call (this
            int, or one drawn from the generator), which makes it again.

        Returns
        -------
        ExampleSet
            ``groups`` holds each prototype's higher component. A component that no
            row of the fit belongs to (``pi_`` 0; with the logits as higher layer, a
            class the black box never predicted on them) has none, and
            ``meta["empty_components"]`` lists those.
        """
        examples = self._global_examples(
            _PROTOTYPES,
            X,
            n=n_per_class,
            source=source,
            random_state=random_state,
            n_candidates=n_candidates,
        )
        empty = np.setdiff1d(
            np.arange(self.jgmm_.pi_.shape[0]), jx.populated_components(self.jgmm_)
        )
        if empty.size:  # only then: sets of every component record as before
            examples.meta["empty_components"] = empty.tolist()
        return examples

    def criticisms(self, X: object | None = None, *, n: int = 10) -> ExampleSet:
        """The ``n`` rows of ``X`` least represented by any component (eq. 5); mined only,
        as in the paper. Scores are ``-max_j log p(x | w = j)``.

        Parameters
        ----------
        X : array-like of inputs, optional
            The mining pool; default the inputs ``fit`` saw.
        n : int, default=10
            How many criticisms, at least 1. A pool of ``n`` rows or fewer gives every
            row once, as :meth:`prototypes` gives a component every row of a pool
            shorter than ``n_per_class``: a criticism is a row, and none repeats.

        Returns
        -------
        ExampleSet
            Best first; ``min(n, len(X))`` rows, with ``meta``'s parameters recording
            the ``n`` asked for.
        """
        return self._global_examples(_CRITICISMS, X, n=n)

    def influentials(
        self,
        X: object | None = None,
        *,
        n: int = 10,
        source: str = "mined",
        n_per_component: int = 50,
        random_state: RandomState = None,
    ) -> ExampleSet:
        """Rows (or samples of every lower component) of highest entropy of ``p(w | x)``
        (eq. 6).

        Parameters
        ----------
        X : array-like of inputs, optional
            The mining pool; default the inputs ``fit`` saw. Unused when generated.
        n : int, default=10
            How many examples, at least 1.
        source : {"mined", "generated"}, default="mined"
        n_per_component : int, default=50
            Generated only: samples drawn from each lower component.
        random_state : int, numpy.random.Generator or None, default=None
            Seeds the generation; None draws from the explainer's own generator.
            Generated only: ``meta["seed"]`` records the int seed of the call (this
            int, or one drawn from the generator), which makes it again.

        Returns
        -------
        ExampleSet
            Scores are the entropies, in nats.
        """
        return self._global_examples(
            _INFLUENTIALS,
            X,
            n=n,
            source=source,
            random_state=random_state,
            n_per_component=n_per_component,
        )

    def _global_examples(
        self,
        kind: _GlobalKind,
        X: object | None,
        *,
        n: object,
        source: str = "mined",
        random_state: RandomState = None,
        **setting: object,
    ) -> ExampleSet:
        """The ``kind`` of examples of a call, ``n`` of them (its ``kind.count``):
        mined, ``kind.mine`` over the pool of ``X``; generated, ``kind.generate`` with
        the generation's ``setting`` (``n_candidates=``, ``n_per_component=``; checked
        only where generated) from the call's own seed. ``meta``'s parameters record
        the count and the setting."""
        self._examples_ready(source)
        count = check_positive_int(n, name=kind.count)
        params: dict[str, Any] = {kind.count: count}
        seed = None
        if source == "mined":
            inputs, Z = self._pool(X)
            found = kind.mine(self.jgmm_, Z, count)
        else:
            assert kind.generate is not None  # criticisms, which have none, are always mined
            inputs = None
            params.update({key: check_positive_int(v, name=key) for key, v in setting.items()})
            # Before the seed is drawn, as a bad count is: a refused call draws nothing.
            jx.check_draws(self.jgmm_, **{key: params[key] for key in setting})
            seed = self._call_seed(random_state)
            found = kind.generate(self.jgmm_, count, np.random.default_rng(seed), **setting)
        return self._example_set(kind.name, source, found, inputs, params, kind.score, seed=seed)

    def counterfactuals(
        self,
        queries: object,
        *,
        n_per_query: int = 5,
        source: str = "generated",
        radius: float | None = None,
        X: object | None = None,
        n_samples: int = 1000,
        select: str = "proxy",
        sampler: str = "gmm",
        random_state: RandomState = None,
        immutable: Sequence[int | str] | None = None,
    ) -> ExampleSet:
        """Counterfactuals for each query (eq. 7-8).

        Generated: the LP optimum ``alpha`` of eq. 8, ``n_samples`` draws from the GMM
        under ``alpha``, rejection of those farther than ``radius`` from the query, and
        the ``n_per_query`` of highest eq. 7 score. Mined: the same over ``X``.
        Candidates whose scores agree to 6 decimals tie (those whose scores round to
        0, as a query far from every component's do, where their logs agree to 6
        decimals), and the nearest to the query (in the whitened lower features) goes
        first: their near one-hot posteriors give every candidate of a component one
        score, so without it the pool's first rows of that component were every
        query's counterfactuals.

        Parameters
        ----------
        queries : array-like of inputs, shape (n_queries, n_features)
            A DataFrame's index names its rows in the set's ``query_names``.
        n_per_query : int
        source : {"generated", "mined"}
        radius : float, optional
            The l2 constraint, as an RMS distance over the whitened lower-feature
            dimensions, ``||z - z_q|| / sqrt(D)``. None rejects nothing. The samplers
            that move within it ("local", "sparse", "nearest_then_sparse") take 1e-100
            to 1e100.
        X : array-like of inputs, optional
            The mining pool; default the inputs ``fit`` saw.
        n_samples : int
            Draws per query before rejection (the paper: 1000).
        select : {"proxy", "score", "margin", "blackbox"}
            "score": rank the candidates within ``radius`` by eq. 7 alone. "proxy"
            (default): first keep only those the proxy (eq. 3) puts in another class
            than the query, as Sec. 3.2 defines a counterfactual ("very different
            posterior distribution on w"); eq. 7 alone rewards sharing the query's
            lower component and mostly keeps its class. With ``e_step="labelled"``,
            where each lower component has one class and eq. 7 is zero, the score is
            the query's posterior over the other classes' lower components.
            "margin": keep every candidate within ``radius`` and rank by the proxy's
            log-odds of the likeliest other class against the query's (those the
            proxy puts in another class first, then those nearest to a change of
            class); the scores are those log-odds. "blackbox" keeps, as "proxy" does,
            the candidates in another class than the query, but of the black box
            itself, then ranks by eq. 7: every counterfactual returned is valid. The
            black box is asked about the candidates within ``radius`` best first, in
            batches that double, until ``n_per_query`` are found (mined: each distinct
            pool row at most once per call, its copies taking its answer; generated: by
            the layers above ``lower_layer``, as :meth:`validity` does); the examples
            are those of asking about every candidate. ``meta["blackbox_rows"]``
            counts the rows asked, and ``meta["candidates"]["selected"]`` the valid
            ones among those asked about (every valid one where a query got fewer than
            ``n_per_query``). Where none
            of a query's candidates changes the black box's class, it gets none: the
            share of queries with one is then the figure to read, since
            :meth:`validity` is 1 by construction.
        sampler : {"gmm", "local", "boundary", "nearest", "sparse", \
"nearest_then_sparse"}
            Generated only. "gmm" (the paper's) draws from the GMM under ``alpha``;
            "local" draws from each component multiplied by an isotropic Gaussian of
            scale ``radius / 2`` around the query, so that a small radius does not
            reject every draw. "local" needs ``radius``. "boundary" walks from the
            query towards each "gmm" draw and keeps the first point where the proxy's
            class changes: the nearest counterfactual along that line. "nearest"
            draws nothing: for each other class it finds the nearest point the proxy
            puts in that class (DeepFool's iteration on the proxy's log-posterior, whose
            gradient the JGMM gives in closed form) and points 5%, 15%, 30% and 60%
            farther out along the same line; ``n_samples`` does not apply. "sparse"
            (it needs ``radius``) changes one whitened coordinate per candidate by 1/4,
            1/2 or all of the budget ``radius * sqrt(D)``, in the direction that raises
            the proxy's margin for another class, and keeps the ``n_samples`` whose
            linearised margin gains most: sparse counterfactuals, which also show
            which single features the black box is most sensitive to.
            "nearest_then_sparse" (it needs ``radius``) keeps the "nearest" points
            within the radius, up to ``n_per_query``, and fills the rest with the best
            "sparse" moves, which reach radii too small for any nearest point; the
            kept candidates are ranked by their scores.
        random_state : int, Generator or None
            Default: the explainer's generator. One seed is drawn per call, and each
            query draws from it and a hash of the query itself, so a query's examples
            do not depend on the other queries, different queries draw independently
            and identical queries get identical examples. ``meta["seed"]`` records
            the seed of a call that samples (an int is its own), which makes it again.
        immutable : sequence of int or str, optional
            Input features every example must share with its query, exactly: flat
            input indices, or names from the black box's ``feature_names``. Default
            None: every feature may change. Each candidate gets them set to its
            query's values before it is rejected by ``radius``, scored and selected,
            so the scores, the proxy's class and :meth:`validity` are all of the row
            returned. Mined: each query mines the pool with the features set to its
            values, whose lower features are computed anew (one pass of the black box
            over the pool per query); ``inputs`` are those rows, ``indices`` the pool
            rows they were made from, and a row equal to the query once set is
            dropped. Generated: only where the lower features are the inputs
            themselves (``lower_layer`` the first child of an ``nn.Sequential`` model,
            an ``nn.Identity`` or ``nn.Flatten``, without ``pool``). Each candidate is
            mapped back to the inputs, set, and whitened again: for "boundary" the
            draws before the walk, so the whole line holds them; "nearest"'s and
            "sparse"'s points are moved off their line or coordinate, and those no
            longer across the proxy's boundary drop out under ``select="proxy"``.
            Elsewhere generated examples exist only as hidden features, which hold no
            input feature, and ``immutable`` is refused (a ValueError). ``meta``'s
            parameters record the indices held (``"immutable"``) and, where the black
            box names its features, their names (``"immutable_names"``).

        Returns
        -------
        ExampleSet
            ``groups`` holds each example's query row (its position); ``queries``,
            ``query_inputs``, ``query_classes`` and ``query_names`` (a DataFrame's
            index, else None) describe the queries. A query may get fewer than
            ``n_per_query`` examples, or none: ``meta["candidates"]`` gives, per query,
            the candidates ``"found"`` (drawn, searched or in the pool), those
            ``"within_radius"``, those ``select`` kept (``"selected"``) and the
            examples ``"returned"``, so it says at which step a query's ran out.
        """
        return self._local(
            "counterfactual",
            queries,
            n_per_query,
            source,
            radius,
            X,
            n_samples,
            select,
            sampler,
            random_state,
            immutable,
        )

    def semifactuals(
        self,
        queries: object,
        *,
        n_per_query: int = 5,
        source: str = "generated",
        radius: float | None = None,
        X: object | None = None,
        n_samples: int = 1000,
        select: str = "proxy",
        sampler: str = "gmm",
        random_state: RandomState = None,
        immutable: Sequence[int | str] | None = None,
    ) -> ExampleSet:
        """Semi-factuals for each query (eq. 9), found as :meth:`counterfactuals` are;
        ``select="proxy"`` keeps the candidates the proxy puts in the query's class, and
        ``sampler="boundary"`` the last point before the proxy's class changes. Of
        candidates whose scores tie, the farthest from the query goes first: the
        largest change that keeps the class (Sec. 3.2: "significant change ... but the
        same model prediction").

        Parameters
        ----------
        queries : array-like of inputs, shape (n_queries, n_features)
            A DataFrame's index names its rows in the set's ``query_names``.
        n_per_query : int, default=5
            Semi-factuals kept per query, at least 1.
        source : {"generated", "mined"}, default="generated"
        radius : float, optional
            The l2 constraint, as an RMS distance over the whitened lower-feature
            dimensions, ``||z - z_q|| / sqrt(D)``; above 0. None rejects nothing.
        X : array-like of inputs, optional
            The mining pool; default the inputs ``fit`` saw.
        n_samples : int, default=1000
            Draws per query before rejection.
        select : {"proxy", "score", "blackbox"}, default="proxy"
            "proxy" keeps only the candidates in the query's class, then ranks them
            by eq. 9; "score" ranks by eq. 9 alone; "blackbox" keeps those the black
            box itself puts in the query's class, asked as :meth:`counterfactuals`
            asks it. ("margin" is for counterfactuals.)
        sampler : {"gmm", "local", "boundary"}, default="gmm"
            Generated only, as for :meth:`counterfactuals`; "local" needs ``radius``.
            The other samplers find counterfactuals only.
        immutable : sequence of int or str, optional
            Input features every semi-factual shares with its query, exactly, held as
            :meth:`counterfactuals` holds them (default None: every feature may
            change).
        random_state : int, Generator or None
            Default: the explainer's generator. One seed is drawn per call, and each
            query draws from it and a hash of the query itself, so a query's examples
            do not depend on the other queries, different queries draw independently
            and identical queries get identical examples. ``meta["seed"]`` records
            the seed of a call that samples (an int is its own), which makes it again.

        Returns
        -------
        ExampleSet
            Scored by eq. 9; ``groups`` holds each example's query row, and
            ``meta["candidates"]`` counts each query's candidates at every step, as
            for :meth:`counterfactuals`.
        """
        return self._local(
            "semifactual",
            queries,
            n_per_query,
            source,
            radius,
            X,
            n_samples,
            select,
            sampler,
            random_state,
            immutable,
        )

    def _local(
        self,
        kind: str,
        queries: object,
        n_per_query: int,
        source: str,
        radius: float | None,
        X: object | None,
        n_samples: int,
        select: str,
        sampler: str,
        random_state: RandomState,
        immutable: Sequence[int | str] | None = None,
    ) -> ExampleSet:
        self._examples_ready(source)
        if select not in jx.SELECTS:
            raise ValueError(f"select must be one of {jx.SELECTS}, got {select!r}")
        if select in ("proxy", "margin"):
            self._check_tied(f"select={select!r}")
        n_per_query = check_positive_int(n_per_query, name="n_per_query")
        n_samples = check_positive_int(n_samples, name="n_samples")
        # Not float(radius): that took the string "1", and raised a bare TypeError on a list.
        if radius is not None and (
            isinstance(radius, bool) or not isinstance(radius, numbers.Real) or not radius > 0
        ):
            raise ValueError(f"radius must be a positive number or None, got {radius!r}")
        jx.check_local_options(kind, select, sampler, None if radius is None else float(radius))
        q_inputs = self.blackbox.check_X(queries)
        held = check_immutable(immutable, q_inputs.shape[1], self.blackbox.feature_names)
        if held is not None and source == "generated" and not self._lower_is_input:
            raise ValueError(
                f"immutable holds input features, but generated examples exist only as "
                f"features of lower_layer={self.lower_layer!r}"
                + (f" pooled {self.pool}x{self.pool}" if self.pool is not None else "")
                + ", which are not the inputs; use source='mined', or a lower_layer that "
                "is the input (nn.Sequential(nn.Identity(), model), layer '0')"
            )
        if select == "blackbox" and source == "generated":
            self._check_head("select='blackbox' on generated examples")
        # A mined pool's row labels: X's (a DataFrame's), or the fit's for the default pool.
        index = pandas_index(X) if X is not None else self._fit_index
        # A DataFrame's row labels name the query the model raises on, as predict_proba's.
        Zq = self.jgmm_.transform_x(self.lower_features(_labelled(queries, q_inputs)))
        q_classes = self.blackbox._predict_rows(q_inputs, pandas_index(queries))
        if source == "generated":
            inputs, Z_pool = None, None
        elif held is not None:  # each query mines a pool of its own (_mine_held)
            inputs, Z_pool = (self.X_fit_ if X is None else self.blackbox.check_X(X)), None
        else:
            inputs, Z_pool = self._pool(X)
        # Drawn only where the call samples: mined examples and the deterministic
        # searches leave the explainer's generator as it was.
        if jx.samples(source, sampler):  # before the seed: a refused call draws nothing
            jx.check_draws(self.jgmm_, n_samples=n_samples)
        seed = self._call_seed(random_state) if jx.samples(source, sampler) else None
        options: dict[str, Any] = {
            "source": source,
            "rng": self._rng(random_state) if seed is None else seed,
            "radius": None if radius is None else float(radius),
            "n_samples": n_samples,
            "select": select,
            "component_classes": self.classes_ if self._tied else None,
            "sampler": sampler,
        }
        asked = [0]  # the candidates select="blackbox" runs through the black box
        if held is not None and source == "mined":
            pool = cast(np.ndarray, inputs)  # a mined call's inputs: X_fit_ or X
            found, alpha = self._mine_held(
                Zq, kind, n_per_query, q_inputs, pool, held, options, (q_classes, asked), index
            )
        else:
            if select == "blackbox":
                options["blackbox_same"] = self._blackbox_same(
                    q_classes, inputs, asked, index=index
                )
            clamp = projector = None
            if held is not None:
                clamp = self._clamp(q_inputs, held)
                d = self.jgmm_.n_features_x_in_
                projector = jx.hold_projector(self.jgmm_.whitening_x_, held, d)
            found, alpha = jx.local_examples(
                self.jgmm_,
                Zq,
                kind,
                n_per_query,
                Z_pool=Z_pool,
                query_inputs=q_inputs,
                clamp=clamp,
                projector=projector,
                **options,
            )
        params = {
            "n_per_query": n_per_query,
            "radius": radius,
            "n_samples": n_samples,
            "select": select,
            "sampler": sampler,
            "alpha_support": [np.flatnonzero(a > 1e-9).tolist() for a in alpha],
        }
        if held is not None:  # only then: a set found without it records as before
            params["immutable"] = list(held)
            names = self.blackbox.feature_names
            if names is not None:
                params["immutable_names"] = [names[j] for j in held]
        score = "eq. 7, p(same z, different w)" if kind == "counterfactual" else "eq. 9"
        if select == "margin":
            score = "the proxy's log-odds of the likeliest other class against the query's"
        examples = self._example_set(
            kind,
            source,
            found,
            inputs,
            params,
            score,
            seed=seed,
            held=held,
            queries=self.jgmm_.inverse_transform_x(Zq),
            query_inputs=q_inputs,
            query_classes=q_classes,
            # a DataFrame's rows by its index, as the local explainers name theirs
            query_names=frame_index(queries),
        )
        examples.meta["candidates"] = _candidate_counts(found)
        if select == "blackbox":
            examples.meta["blackbox_rows"] = asked[0]
        return examples

    def _mine_held(
        self,
        Zq: np.ndarray,
        kind: str,
        n_per_query: int,
        q_inputs: np.ndarray,
        inputs: np.ndarray,
        held: tuple[int, ...],
        options: dict[str, Any],
        checked: tuple[np.ndarray, list[int]],
        index: Any = None,
    ) -> tuple[jx.Found, np.ndarray]:
        """Mined examples of each query from the pool with the ``held`` features set to
        the query's values: the rows scored are the rows returned, whatever the layer.
        One query at a time, since each has a pool of its own. ``checked`` is the
        queries' black-box classes and the count of rows ``select="blackbox"`` asks
        about (:meth:`_blackbox_same`); ``index`` the pool's row labels (a DataFrame
        ``X``'s), which name a row the model raises on."""
        q_classes, asked = checked
        # Wide enough for both: a float32 pool would round a float64 query's values.
        dtype = np.result_type(inputs.dtype, q_inputs.dtype)
        parts, alphas = [], []
        for q in range(q_inputs.shape[0]):
            pool = inputs.astype(dtype)  # a copy
            pool[:, held] = q_inputs[q, held]
            # A row the model raises on is named with its held features, which the
            # user did not give it: "row 7 of the 40 rows queried" said nothing of them.
            pool_name = f"the mining pool with query {q}'s held features"
            named = functools.partial(_pool_row, pool_name, None, index=index)
            Z_pool = self.jgmm_.transform_x(self._lower_features(pool, named))
            if options["select"] == "blackbox":
                options["blackbox_same"] = self._blackbox_same(
                    q_classes[q : q + 1], pool, asked, pool_name, index
                )
            found, alpha = jx.local_examples(
                self.jgmm_,
                Zq[q : q + 1],
                kind,
                n_per_query,
                Z_pool=Z_pool,
                query_inputs=q_inputs[q : q + 1],
                **options,
            )
            parts.append(dataclasses.replace(found, groups=np.full_like(found.groups, q)))
            alphas.append(alpha)
        return jx._concat(parts, d=Zq.shape[1]), np.concatenate(alphas)

    def _blackbox_same(
        self,
        q_classes: np.ndarray,
        pool: np.ndarray | None,
        asked: list[int],
        pool_name: str = "the mining pool",
        index: Any = None,
    ) -> Callable[[int, np.ndarray, np.ndarray], np.ndarray]:
        """``blackbox_same(q, Z, idx)`` of :func:`~._jgmm_examples.local_examples`:
        whether the black box gives each candidate the class ``q_classes[q]``. Mined
        candidates are the ``pool``'s rows ``idx``, each distinct row run through the
        black box at most once for every query: a row equal to one asked about already
        (a copy in the pool, or rows that differ in held features alone) takes its
        answer. Generated ones exist as lower features, classified by the layers above
        (:meth:`head_predict`). ``local_examples`` asks about the best candidates first
        and stops once it has enough. ``asked[0]`` counts the rows run; ``pool_name``
        names the pool where the model raises on a row of it, and ``index`` (a
        DataFrame ``X``'s) labels its rows."""
        # Each pool row's class as it is asked for (-1: not yet), and each distinct row's
        # by its bytes: a row equal to the byte to one asked about takes its answer, so
        # that the model is given nothing it was given already. Keyed as candidates come,
        # not over the whole pool up front: sorting 60,000 image rows took about a second
        # of every call, however few the candidates asked about. The queries share both.
        pool_classes = None if pool is None else np.full(pool.shape[0], -1, np.int64)
        flat = None if pool is None else np.ascontiguousarray(pool).reshape(pool.shape[0], -1)
        answers: dict[bytes, int] = {}

        def blackbox_same(q: int, Z: np.ndarray, idx: np.ndarray) -> np.ndarray:
            if Z.shape[0] == 0:
                return np.zeros(0, bool)
            if pool is None or flat is None or pool_classes is None:
                asked[0] += Z.shape[0]
                F = self.jgmm_.inverse_transform_x(Z)
                classes = self._head_outputs(F, f"query {q}'s generated candidates").argmax(1)
            else:
                # One pool row per distinct row not asked about yet (its first copy
                # among the candidates), asked in pool order.
                copies: dict[bytes, list[int]] = {}
                for i in np.unique(idx[pool_classes[idx] < 0]).tolist():
                    key = flat[i].tobytes()
                    if key in answers:
                        pool_classes[i] = answers[key]
                    else:
                        copies.setdefault(key, []).append(i)
                if copies:
                    new = np.array([rows[0] for rows in copies.values()])
                    asked[0] += new.size

                    # Rows of the pool by number: a model that raised on one was
                    # reported "on row 3 of the 16 rows queried", of those asked about.
                    named = functools.partial(_pool_row, pool_name, new, index=index)
                    found = self.blackbox._proba_rows(pool[new], named).argmax(1)
                    for (key, rows), answer in zip(copies.items(), found.tolist(), strict=True):
                        answers[key] = answer
                        pool_classes[rows] = answer
                classes = pool_classes[idx]
            return classes == q_classes[q]

        return blackbox_same

    def _clamp(
        self, q_inputs: np.ndarray, held: tuple[int, ...]
    ) -> Callable[[int, np.ndarray], np.ndarray]:
        """``clamp(q, Z)`` of :func:`~._jgmm_examples.local_examples`: whitened
        candidates of query ``q`` with the ``held`` inputs set to its values, where the
        lower features are the inputs (:attr:`_lower_is_input`)."""
        model = self.jgmm_

        def clamp(q: int, Z: np.ndarray) -> np.ndarray:
            X = np.array(model.inverse_transform_x(Z), dtype=np.float64)  # a copy
            X[:, held] = q_inputs[q, held]
            return model.transform_x(X)

        return clamp

    @property
    def _lower_is_input(self) -> bool:
        """Whether the lower features are the inputs themselves: ``lower_layer`` is
        the first child of an ``nn.Sequential`` model and an ``nn.Identity`` or an
        ``nn.Flatten``, unpooled, so that an input feature is a lower coordinate."""
        from torch import nn

        module = self.blackbox.module
        if self.pool is not None or self.spatial or not isinstance(module, nn.Sequential):
            return False
        first = next(iter(module.named_children()), None)
        return (
            first is not None
            and first[0] == self.lower_layer
            and isinstance(first[1], nn.Identity | nn.Flatten)
        )

    # ------------------------------------------------------------------ pictures
    def plot_posteriors(self) -> Any:
        """Heat maps of Q and Psi (Fig. 4a).

        Returns
        -------
        matplotlib.figure.Figure
        """
        from ..report import plot_posteriors

        self._check_fitted()
        if self.jgmm_.spatial_:
            Q, Psi = self.jgmm_.Q_.mean(axis=0), self.jgmm_.psi_.mean(axis=0)
        else:
            Q, Psi = self.jgmm_.Q_, self.jgmm_.psi_
        names = None
        if self._tied:
            names = tuple(self.blackbox.class_name(c) for c in self._fitted_classes())
        return plot_posteriors(Q, Psi, class_names=names)


def _labelled(X: object, rows: np.ndarray) -> object:
    """``X`` itself where a pandas object's index labels its rows, else ``rows``, its
    checked inputs: what to query the black box's layers with, so that a row the model
    raises on is named by its label (``X.loc['flower-62']``) as
    :meth:`~unboxed.BlackBox.predict_proba` names it, not by its position alone."""
    return X if pandas_index(X) is not None else rows


def _pool_row(pool_name: str, rows: np.ndarray | None, i: int, index: Any = None) -> str:
    """``row_name`` of :meth:`~unboxed.BlackBox._proba_rows` for a mining pool's rows:
    row ``i`` of those run (``rows[i]`` of the pool where only ``rows`` run), as a row
    of the pool ``pool_name`` names, and by its label in ``index``, the index of a
    DataFrame ``X`` the pool is made of (", row X.loc['flower-62']")."""
    row = i if rows is None else int(rows[i])
    return f"row {row} of {pool_name}{row_label(index, row, 'X')}"


def _same_key(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Whether two cache keys of :meth:`JGMMExplainer._fit_pool` agree: the same
    objects (compared by identity, as arrays and models have no cheap equality) and
    equal settings."""
    return all(x is y for x, y in zip(a[:3], b[:3], strict=True)) and a[3:] == b[3:]


def _sequence(value: Any, name: str) -> tuple[Any, ...]:
    """One value, or the values of a non-empty sequence of distinct candidates."""
    if not isinstance(value, list | tuple | np.ndarray):
        return (value,)
    if len(value) == 0:
        raise ValueError(f"{name} is an empty sequence; give at least one candidate")
    if len(set(value)) != len(value):
        raise ValueError(f"{name} repeats a candidate: {list(value)}")
    return tuple(value)


def _component_classes(
    model: JGMM, Y: np.ndarray, labels: np.ndarray, n_classes: int
) -> np.ndarray:
    """The class of each higher component: the black-box class holding most of its
    responsibility ``p(w | y)`` (``h`` of eq. 15). Started from the classes, EM keeps
    component j = class j unless a class is empty or two merge; with
    ``e_step="labelled"`` component j is class j by construction."""
    from scipy.special import softmax

    if model.e_step == "labelled":
        return np.arange(n_classes)
    h = softmax(model._log_gy(Y) + jm.safe_log(model.pi_), axis=1)
    return (h.T @ np.eye(n_classes)[labels]).argmax(axis=1)


def _class_proba(proba_w: np.ndarray, classes: np.ndarray, n_classes: int) -> np.ndarray:
    """Class probabilities: each higher component's ``p(w | x)`` added to its class."""
    out = np.zeros((proba_w.shape[0], n_classes))
    np.add.at(out.T, classes, proba_w.T)
    return out


def _candidate_counts(found: jx.Found) -> dict[str, list[int]]:
    """``meta["candidates"]`` of a counterfactual or semi-factual set: per query, the
    candidates found (drawn, searched or mined), those within ``radius``, those
    ``select`` kept, and the examples returned, so that a query that got none says
    at which step its candidates ran out. With ``select="blackbox"`` the kept ones
    are counted among the candidates asked about, which stop once enough are found:
    exact where a query got fewer than ``n_per_query``."""
    funnel = np.zeros((0, 3), np.int64) if found.funnel is None else found.funnel
    return {
        "found": funnel[:, 0].tolist(),
        "within_radius": funnel[:, 1].tolist(),
        "selected": funnel[:, 2].tolist(),
        "returned": np.bincount(found.groups, minlength=funnel.shape[0]).tolist(),
    }
