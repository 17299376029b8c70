"""DecisionNet: a one-hidden-layer white box built from a binary PLNN's decision hyperplanes.

``003_9368caac562d9b13.txt`` Sec. 5.4 (Fig. 4). In each linear region the network's
decision boundary is the hyperplane ``(W~_1 - W~_0) x + (b~_1 - b~_0) = 0`` (eq. 5). The
hidden units of DecisionNet are the distinct hyperplanes that actually cut through a
region the training data visits; a unit outputs the side of its hyperplane an input lies
on. The vector of sides is the input's *state*. Each state seen in training is labelled
with the network's prediction there; an unseen state, or one whose training inputs the
network labels differently, falls back to the original network, and those fallbacks are
counted.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linprog

from .._estimator import Params
from .._io import array_digest, read_checkpoint, write_npz_with_header
from .._progress import progress
from .._validation import check_checkpoint_file, check_is_fitted
from ._regions import LinearRegions

#: Hyperplanes equal after scaling to unit norm and rounding to this many decimals
#: are one unit.
_DECIMALS = 8

CHECKPOINT_FORMAT = "unboxed-decisionnet-checkpoint"
CHECKPOINT_VERSION = 1
#: Seconds between two saves of a checkpoint during the fit: one linear program takes
#: milliseconds on small inputs, so saving (and syncing) after each would cost more
#: than the programs. An interrupted fit saves its progress as it stops, too.
_SAVE_SECONDS = 10.0


def _unit_hyperplanes(weights: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale each hyperplane ``w x + b = 0`` to unit ``||(w, b)||`` and drop duplicates.

    Parameters
    ----------
    weights : ndarray of shape (m, d)
    bias : ndarray of shape (m,)

    Returns
    -------
    weights : ndarray of shape (m', d)
    bias : ndarray of shape (m',)
        In order of first appearance; the sign (the side called positive) is kept.
    """
    if weights.shape[0] == 0:
        return weights, bias
    full = np.concatenate([weights, bias[:, None]], axis=1)
    norm = np.linalg.norm(full, axis=1, keepdims=True)
    full = full / np.where(norm > 0, norm, 1.0)
    _, first = np.unique(np.round(full, _DECIMALS), axis=0, return_index=True)
    keep = np.sort(first)
    return full[keep, :-1], full[keep, -1]


def _states(X: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """The DecisionNet hidden layer: which side of each hyperplane each input is on.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    weights : ndarray of shape (m, d)
    bias : ndarray of shape (m,)

    Returns
    -------
    ndarray of shape (n, m), bool
    """
    return X @ weights.T + bias > 0


def _crosses(
    H: np.ndarray, h: np.ndarray, w: np.ndarray, b: float, lower: np.ndarray, upper: np.ndarray
) -> bool:
    """Whether the hyperplane ``w z + b = 0`` meets the polytope ``H z <= h`` in the box.

    A linear feasibility problem solved by HiGHS.

    Parameters
    ----------
    H : ndarray of shape (m, d)
    h : ndarray of shape (m,)
    w : ndarray of shape (d,)
    b : float
    lower, upper : ndarray of shape (d,)
    """
    if not np.any(w):
        return False
    result = linprog(
        np.zeros(w.size),
        A_ub=H if H.shape[0] else None,
        b_ub=h if H.shape[0] else None,
        A_eq=w[None],
        b_eq=np.array([-b]),
        bounds=np.stack([lower, upper], axis=1),
        method="highs",
    )
    return result.status == 0


class DecisionNet(Params):
    """A white-box twin of a binary piecewise-linear network (Sec. 5.4).

    Parameters
    ----------
    module : torch.nn.Module or unboxed.BlackBox
        A piecewise-linear network with two outputs (see :class:`LinearRegions`).
    boundary_only : bool
        Keep only the hyperplanes that cut through their region (checked by a linear
        program inside the training data's bounding box). With False, every visited
        region's hyperplane becomes a unit.
    input_shape : tuple of int, optional
        Passed to :class:`LinearRegions`.
    verbose : bool
        Show progress over the regions.
    checkpoint : path-like, optional
        A file the boundary checks (one linear program per region, the long part of
        the fit) are saved to, atomically, every few seconds and when the fit is
        interrupted. A fit run again on the same network and data solves only the
        regions left, and ends with the same DecisionNet as an uninterrupted fit. A
        checkpoint of another network, data or setting is refused. Unused with
        ``boundary_only=False``, which solves no programs.

    Attributes
    ----------
    hidden_weights_ : ndarray of shape (n_neurons, n_features)
    hidden_bias_ : ndarray of shape (n_neurons,)
    n_neurons_ : int
    states_ : dict of bytes to int
        Each training state and its label (-1: ambiguous, falls back).
    n_regions_ : int
        Linear regions visited by the training data.
    n_ambiguous_states_ : int
        Training states whose inputs the network labels differently.
    n_features_in_ : int
    """

    def __init__(
        self,
        module: object,
        *,
        boundary_only: bool = True,
        input_shape: tuple[int, ...] | None = None,
        verbose: bool = True,
        checkpoint: str | os.PathLike | None = None,
    ) -> None:
        self.module = module
        self.boundary_only = boundary_only
        self.input_shape = input_shape
        self.verbose = verbose
        self.checkpoint = checkpoint
        # Here, so that a bad setting or a network that is not binary fails now and not
        # after the data is read; fit checks again, for attributes set directly.
        self._check_params()

    def _check_params(self) -> LinearRegions:
        """Check every setting that needs no data.

        Returns
        -------
        LinearRegions
            The network's regions, read from ``module`` as it is now (it may have been
            trained since the DecisionNet was made).
        """
        if not isinstance(self.boundary_only, bool):  # "no" or 0 would read as a choice
            raise TypeError(
                f"boundary_only must be True or False, got {type(self.boundary_only).__name__} "
                f"{self.boundary_only!r}"
            )
        check_checkpoint_file(self.checkpoint)  # the fit draws nothing: no seed needed
        regions = LinearRegions(self.module, input_shape=self.input_shape)
        if regions.n_outputs_ != 2:
            raise ValueError(
                f"DecisionNet is for binary classifiers; the network has {regions.n_outputs_} "
                "outputs"
            )
        return regions

    def fit(self, X: object, y: object = None) -> DecisionNet:
        """Collect the decision hyperplanes of the regions ``X`` visits and label the states.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The training inputs.
        y : ignored
            The states are labelled with the network's own predictions.

        Returns
        -------
        self
        """
        regions = self._check_params()
        X = regions._check_X(X)
        visited = regions.regions(X)
        first = np.zeros(visited.n_regions, dtype=np.int64)
        first[visited.region[::-1]] = np.arange(X.shape[0])[::-1]
        weights, bias = regions.decision_features(X[first], 1, 0)
        if self.boundary_only:
            lower, upper = X.min(axis=0), X.max(axis=0)
            polytopes = regions._polytopes(X[first])
            saved = None
            if self.checkpoint is not None:
                # Every program is a function of exactly these arrays.
                problems = [a for H_h in polytopes for a in H_h]
                digest = array_digest(lower, upper, weights, bias, *problems)
                saved = _Checkpoint(self.checkpoint, digest, visited.n_regions)
            keep = [] if saved is None else saved.done()
            todo = range(len(keep), visited.n_regions)
            try:
                for r in progress(todo, verbose=self.verbose, desc="regions"):
                    H, h = polytopes[r]
                    keep.append(_crosses(H, h, weights[r], bias[r], lower, upper))
                    if saved is not None:
                        saved.save(keep, every=_SAVE_SECONDS)
            finally:  # what is solved is kept, however the loop ends
                if saved is not None:
                    saved.save(keep)
            weights, bias = weights[np.array(keep, dtype=bool)], bias[np.array(keep, dtype=bool)]
        self.hidden_weights_, self.hidden_bias_ = _unit_hyperplanes(weights, bias)
        self.n_neurons_ = int(self.hidden_bias_.size)
        self.n_regions_ = visited.n_regions
        self.n_features_in_ = regions.n_features_in_
        self.regions_ = regions
        labels = regions.logits(X).argmax(axis=1)
        states = _states(X, self.hidden_weights_, self.hidden_bias_)
        table: dict[bytes, int] = {}
        for key, label in zip(map(bytes, np.packbits(states, axis=1)), labels, strict=True):
            seen = table.setdefault(key, int(label))
            if seen != label:
                table[key] = -1
        self.states_ = table
        self.n_ambiguous_states_ = sum(v == -1 for v in table.values())
        return self

    def _check_fitted(self) -> None:
        check_is_fitted(self, "states_")

    def predict(
        self, X: object, *, return_fallback: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Labels from the state table, and from the original network where it has none.

        The table's labels are checked inside the training data's bounding box only
        (``boundary_only``): beyond it a known state may carry the wrong label, with
        no fallback (in a one-off measurement on moons, in no results file, 57 of the
        3,558 points of [-3, 3]^2 outside the box; ``docs/piecewise.md`` gives its setup).
        Inside it, only in the regions the training inputs visit: a boundary through a
        region none of them is in gives no unit, and a known state may carry the wrong
        label there too, with no fallback (29 of 20,000 points of the box in another
        one-off measurement, given there). Fit on inputs that cover where you predict.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        return_fallback : bool
            Also return which rows fell back to the original network.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        fallback : ndarray of shape (n_samples,), bool
            Only with ``return_fallback``.
        """
        self._check_fitted()
        if not isinstance(return_fallback, (bool, np.bool_)):
            # "no" is truthy: it gave a (labels, fallback) tuple where labels were asked for.
            raise TypeError(
                "return_fallback must be True or False, got "
                f"{type(return_fallback).__name__} {return_fallback!r}"
            )
        X = self.regions_._check_X(X)
        states = np.packbits(_states(X, self.hidden_weights_, self.hidden_bias_), axis=1)
        labels = np.array([self.states_.get(bytes(row), -1) for row in states], dtype=np.int64)
        fallback = labels < 0
        if fallback.any():
            labels[fallback] = self.regions_.logits(X[fallback]).argmax(axis=1)
        return (labels, fallback) if bool(return_fallback) else labels

    def __repr__(self) -> str:
        fitted = f"n_neurons={self.n_neurons_}" if hasattr(self, "states_") else "not fitted"
        return f"DecisionNet({fitted})"


class _Checkpoint:
    """The boundary checks of a :class:`DecisionNet` fit done so far, in one file.

    Parameters
    ----------
    path : path-like
        The checkpoint; an existing one is resumed.
    digest : str
        :func:`~unboxed._io.array_digest` of every array the programs depend on; a
        checkpoint of other ones is refused.
    n_regions : int
    """

    def __init__(self, path: str | os.PathLike, digest: str, n_regions: int) -> None:
        self.path, self.n_regions = Path(path), n_regions
        self.fingerprint = {"problems_sha256": digest, "n_regions": n_regions}
        self.saved_at = time.monotonic()
        self.n_saved = -1

    def done(self) -> list[bool]:
        """The checks a checkpoint holds, first region first (none without one)."""
        if not self.path.is_file():
            return []
        _, arrays = read_checkpoint(
            self.path,
            what="a DecisionNet checkpoint",
            format=CHECKPOINT_FORMAT,
            version=CHECKPOINT_VERSION,
            fingerprint=self.fingerprint,
            mismatch="was made for another network, data or setting; delete it or pass "
            "another checkpoint",
        )
        crosses = arrays.get("crosses")
        if (
            set(arrays) != {"crosses"}
            or crosses is None
            or crosses.dtype != np.bool_
            or crosses.ndim != 1
            or crosses.size > self.n_regions
        ):
            raise ValueError(f"{self.path} is a damaged DecisionNet checkpoint")
        self.n_saved = int(crosses.size)
        return [bool(c) for c in crosses]

    def save(self, crosses: list[bool], *, every: float = 0.0) -> None:
        """Write ``crosses`` unless they are saved already, or ``every`` seconds have not
        passed since the last save."""
        now = time.monotonic()
        if len(crosses) == self.n_saved or now - self.saved_at < every:
            return
        header: dict[str, Any] = {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_VERSION,
            "fingerprint": self.fingerprint,
        }
        write_npz_with_header(self.path, header, {"crosses": np.array(crosses, dtype=bool)})
        self.saved_at, self.n_saved = now, len(crosses)
