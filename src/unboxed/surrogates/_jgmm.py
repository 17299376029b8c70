"""The joint Gaussian mixture model (JGMM) between two layers' features.

Source: ``001_7567b900ec60d912.txt``. The model is Sec. 3.1 (eq. 1-3), its EM is
Appendix A (eq. 12-21), the spatial extension is Sec. 3.3 (eq. 10-11) and the PCA
whitening with diagonal covariances is Sec. 4.1.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .._estimator import Params
from .._io import (
    array_digest,
    as_recorded,
    check_generator_state,
    read_checkpoint,
    write_npz_with_header,
)
from .._validation import (
    RandomState,
    allocate,
    check_array,
    check_checkpoint,
    check_is_fitted,
    check_labels,
    check_positive_int,
    check_random_state,
    seed_from,
)
from . import _jgmm_math as jm
from ._driver import FitTrace, Snapshot, check_driver_params, fit_iterative

CHECKPOINT_FORMAT = "unboxed-jgmm-checkpoint"
CHECKPOINT_VERSION = 1
#: The fields of a state a checkpoint keeps; the log densities are recomputed.
_SAVED = ("means_x", "vars_x", "means_y", "vars_y", "Q", "pi")


@dataclasses.dataclass
class _Data:
    """Whitened features passed to the driver's hooks."""

    X: np.ndarray  # (n, R, D_x)
    Y: np.ndarray  # (n, D_y)
    labels_y: np.ndarray | None
    owner: np.ndarray | None  # (K_x,): the label owning each lower component ("labelled")
    floor_x: float
    floor_y: float


@dataclasses.dataclass
class _State:
    """One EM state: the parameters and the log densities under its Gaussians."""

    means_x: np.ndarray
    vars_x: np.ndarray
    means_y: np.ndarray
    vars_y: np.ndarray
    Q: np.ndarray  # (R, K_x, K_y)
    pi: np.ndarray
    log_gx: np.ndarray  # (n, R, K_x)
    log_gy: np.ndarray  # (n, K_y)


def _state_of(
    data: _Data,
    means_x: np.ndarray,
    vars_x: np.ndarray,
    means_y: np.ndarray,
    vars_y: np.ndarray,
    Q: np.ndarray,
    pi: np.ndarray,
) -> _State:
    """The EM state of these parameters, with the log densities of ``data`` under its
    Gaussians."""
    log_gx = jm.log_gaussian(data.X, means_x, vars_x)
    log_gy = jm.log_gaussian(data.Y, means_y, vars_y)
    return _State(means_x, vars_x, means_y, vars_y, Q, pi, log_gx, log_gy)


class JGMM(Params):
    """A joint Gaussian mixture between lower features ``x`` and higher features ``y``.

    ``p(x, y) = sum_i sum_j G(x; mu_i, Sigma_i) G(y; phi_j, Theta_j) Q[i, j] pi_j``
    (eq. 1). Two Gaussian mixtures, one per layer (diagonal, as the paper fits them,
    or full), whose latent components ``z`` and ``w`` are linked by
    ``Q[i, j] = p(z = i | w = j)``.

    With ``X`` of shape ``(n, R, D)`` (one ``D``-vector per position of a feature map)
    it fits the spatial extension of Sec. 3.3: the Gaussians are shared by all
    positions and every position ``r`` has its own ``Q[r]``; inference factorises over
    positions (eq. 11).

    Parameters
    ----------
    n_components_x : int
        ``K_x``, the number of lower components ``z``.
    n_components_y : int
        ``K_y``, the number of higher components ``w``.
    covariance : {"diag", "full"}
        "diag": diagonal covariances after whitening, as the paper fits them (Sec.
        4.1). "full": full covariances, which capture how features vary together
        within a component. Whitening then changes only the floor, as a full
        Gaussian mixture is invariant to an invertible linear map. A full fit costs
        ``O(n K D^2)`` per EM iteration instead of ``O(n K D)``, and needs enough rows
        per component to estimate ``D^2 / 2`` numbers, which ``var_floor`` stands in
        for where they are missing.
    e_step : {"paper", "joint", "labelled"}
        "paper" is eq. 15 as written: ``g`` from x alone (prior ``lambda``), ``h`` from
        y alone, and ``g h`` standing for the joint responsibility in eq. 20-21; the
        EM then ascends the sum of the two layers' mixture log-likelihoods. "joint" is
        the exact E-step of eq. 12, ``p(z, w | x, y)`` (see
        :func:`~unboxed.surrogates._jgmm_math.e_step_joint`), with the same M-step
        (eq. 16-21); it ascends eq. 12 itself and lets y shape the lower components.
        "labelled" (not in the paper) observes ``w``: each row's higher component is
        its ``labels_y`` (the black box's class), and each lower component belongs to
        one label. ``fit`` splits ``K_x`` evenly over the labels present, starts each
        label's components by k-means on its rows, and starts ``Q`` uniform within
        each label's block; the exact EM of ``log p(x, w)`` (see
        :func:`~unboxed.surrogates._jgmm_math.e_step_labelled`) keeps ``Q``'s zeros.
        ``p(w | x)`` is then a mixture discriminant analysis of the labels, whose
        components EM cannot trade between classes to fit ``x`` alone.
    whiten : bool
        PCA-whiten each layer's features first, keeping every component, so that the
        map is invertible and samples map back exactly (Sec. 4.1).
    var_floor : float
        The smallest variance, as a fraction of the mean per-dimension variance of the
        (whitened) data, so that no component collapses on duplicated rows or a
        constant dimension. Diagonal variances are clipped at it; full covariances get
        it added to their diagonal (as sklearn's ``reg_covar``), which is not the exact
        M-step under the floor, so with them the EM objective can dip slightly.
    max_iter : int
        EM iterations per initialisation.
    tol : float
        Stop when the mean per-sample lower bound changes by less than this.
    n_init : int
        Initialisations; the one with the highest final lower bound is kept.
    random_state : int, numpy.random.Generator or None
        Seeds the k-means initialisations.
    checkpoint : path-like or None
        An ``.npz`` file the EM state is written to, atomically, after every
        iteration. ``fit`` run again with the same settings, seed and data goes on from
        it and ends with the same model as an uninterrupted fit. Needs an int
        ``random_state``, or a Generator: the checkpoint then records its state at the
        start of ``fit``, and a rerun resumes only from a generator in that state. A
        checkpoint of other settings or data is refused.
    verbose : bool
        Show a progress bar.

    Attributes
    ----------
    Q_ : ndarray of shape (K_x, K_y), or (R, K_x, K_y) for the spatial model
        ``p(z = i | w = j)``; columns sum to 1.
    pi_ : ndarray of shape (K_y,)
        ``p(w = j)``.
    psi_ : ndarray shaped like ``Q_``
        ``p(w = j | z = i)`` (eq. 2); rows sum to 1.
    lambda_ : ndarray of shape (K_x,) or (R, K_x)
        ``p(z = i) = Q pi`` (eq. 2).
    means_x_, vars_x_ : ndarray of shape (K_x, D_x)
        The lower Gaussians, in whitened coordinates when ``whiten``. With
        ``covariance="full"``, ``vars_x_`` holds the covariance matrices, shape
        (K_x, D_x, D_x).
    means_y_, vars_y_ : ndarray of shape (K_y, D_y)
        The higher Gaussians, likewise.
    lower_bound_ : ndarray of shape (n_iter_,)
        The EM objective at each iteration, per sample. With ``e_step="paper"`` the
        mean of ``sum_r log sum_i lambda_i G(x^(r); mu_i) + log sum_j pi_j G(y; phi_j)``;
        with "joint" the mean of eq. 12's ``log p(x, y)``. It never decreases with
        diagonal covariances; with full ones it can dip by the floor's effect (see
        ``var_floor``).
    converged_ : bool
    n_iter_ : int
    n_features_x_in_, n_features_y_in_ : int
    n_positions_ : int
        ``R``; 1 for the plain model.
    spatial_ : bool
    whitening_x_, whitening_y_ : tuple of ndarray or None
        ``(mean, components, scales)`` of the PCA whitening.
    """

    #: ``(covariances, factors)`` pairs of :meth:`_factors`: not a fitted attribute,
    #: never saved, and dropped when the model no longer holds those covariances.
    _factors_cache: tuple[tuple[np.ndarray, jm.Factors], ...] = ()

    def __init__(
        self,
        n_components_x: int = 32,
        n_components_y: int = 10,
        *,
        covariance: str = "diag",
        e_step: str = "paper",
        whiten: bool = True,
        var_floor: float = 1e-3,
        max_iter: int = 200,
        tol: float = 1e-3,
        n_init: int = 1,
        random_state: RandomState = None,
        checkpoint: str | os.PathLike | None = None,
        verbose: bool = False,
    ) -> None:
        self.n_components_x = n_components_x
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
        self._check_params()
        check_random_state(random_state)  # as fit resolves it
        check_checkpoint(checkpoint, random_state, generator=True)

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> tuple[int, int]:
        kx = check_positive_int(self.n_components_x, name="n_components_x")
        ky = check_positive_int(self.n_components_y, name="n_components_y")
        if self.covariance not in ("diag", "full"):
            raise ValueError(
                f"covariance must be 'diag' (the paper's, Sec. 4.1) or 'full', "
                f"got {self.covariance!r}"
            )
        if self.e_step not in ("paper", "joint", "labelled"):
            raise ValueError(f"e_step must be 'paper', 'joint' or 'labelled', got {self.e_step!r}")
        if not isinstance(self.whiten, bool | np.bool_):
            raise TypeError(f"whiten must be a bool, got {type(self.whiten).__name__}")
        if (
            isinstance(self.var_floor, bool)
            or not isinstance(self.var_floor, numbers.Real)
            or not 0 < self.var_floor < 1
        ):
            raise ValueError(f"var_floor must be a number in (0, 1), got {self.var_floor!r}")
        check_driver_params(self.max_iter, self.tol, self.n_init)
        return kx, ky

    def _check_fitted(self) -> None:
        check_is_fitted(self, "Q_", how="fit(X, Y)")

    def _check_x(self, X: object, *, name: str = "X") -> np.ndarray:
        """``X`` as a float64 (n, R, D) array matching the fitted layout."""
        arr = check_array(X, name=name, ndim=None)
        spatial = self.spatial_
        if arr.ndim != (3 if spatial else 2):
            expected = (
                f"(n_samples, {self.n_positions_}, {self.n_features_x_in_})"
                if spatial
                else f"(n_samples, {self.n_features_x_in_})"
            )
            raise ValueError(f"{name} must have shape {expected}, got {arr.shape}")
        arr = arr if spatial else arr[:, None, :]
        if arr.shape[1:] != (self.n_positions_, self.n_features_x_in_):
            raise ValueError(
                f"{name} has {arr.shape[-1]} features at {arr.shape[1]} positions, but this "
                f"JGMM was fitted with {self.n_features_x_in_} at {self.n_positions_}; "
                "expects the same"
            )
        return arr

    def _check_y(self, Y: object, *, name: str = "Y") -> np.ndarray:
        arr = check_array(Y, name=name, ndim=2)
        if arr.shape[1] != self.n_features_y_in_:
            raise ValueError(
                f"{name} has {arr.shape[1]} features, but this JGMM expects {self.n_features_y_in_}"
            )
        return arr

    # ------------------------------------------------------------------ fitting
    def fit(self, X: object, Y: object, *, labels_y: object = None) -> JGMM:
        """Fit by the EM of Appendix A (eq. 12-21).

        Initialisation as the paper's: Q and pi uniform; k-means on each layer, each
        Gaussian started at its cluster's mean and variance (with ``e_step="labelled"``,
        k-means within each label, and Q uniform within each label's components).

        Parameters
        ----------
        X : array-like of shape (n_samples, D_x), or (n_samples, R, D_x) for the
            spatial model
            Lower features.
        Y : array-like of shape (n_samples, D_y)
            Higher features.
        labels_y : array-like of int of shape (n_samples,), optional
            A hard start for the higher components in place of k-means, e.g. the black
            box's predicted class when ``Y`` are its logits (component j = class j).
            With ``e_step="labelled"``, required: the observed ``w`` of every row.

        Returns
        -------
        self
        """
        kx, ky = self._check_params()
        check_checkpoint(self.checkpoint, self.random_state, generator=True)
        rng = check_random_state(self.random_state)
        start = rng.bit_generator.state  # a Generator's part of the checkpoint's fingerprint
        X = check_array(X, name="X", ndim=None)
        if X.ndim not in (2, 3):
            raise ValueError(
                f"X must have shape (n_samples, n_features) or (n_samples, n_positions, "
                f"n_features), got {X.shape}"
            )
        Y = check_array(Y, name="Y", ndim=2)
        if X.shape[0] != Y.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but Y has {Y.shape[0]}; expected equal")
        spatial = X.ndim == 3
        X3 = X if spatial else X[:, None, :]
        if 0 in X3.shape[1:] or Y.shape[1] == 0:  # an IndexError deep in k-means before
            raise ValueError(
                f"X and Y need at least one feature (and position), got shapes {X.shape} "
                f"and {Y.shape}"
            )
        n = X.shape[0]
        if n < max(kx, ky):
            raise ValueError(
                f"{n} samples cannot fit {max(kx, ky)} components; expected at least as many "
                "samples as components"
            )
        labels = owner = None
        if labels_y is not None:
            labels = check_labels(labels_y, n=n, n_classes=ky, name="labels_y")
        if self.e_step == "labelled":
            if labels is None:
                raise ValueError("e_step='labelled' needs labels_y, the observed w of each row")
            present = np.unique(labels)
            if present.size < 2:
                raise ValueError(
                    "labels_y holds a single class; e_step='labelled' needs at least two "
                    "(with one, every class contrast is 0/0)"
                )
            owner = _owners(kx, present)
        self.spatial_ = spatial
        self.n_positions_ = int(X3.shape[1])
        self.n_features_x_in_ = int(X3.shape[2])
        self.n_features_y_in_ = int(Y.shape[1])
        self.whitening_x_: tuple[np.ndarray, ...] | None
        self.whitening_y_: tuple[np.ndarray, ...] | None
        if self.whiten:
            self.whitening_x_ = jm.fit_whitening(X3.reshape(-1, X3.shape[2]))
            self.whitening_y_ = jm.fit_whitening(Y)
            Xw, Yw = jm.whiten(X3, *self.whitening_x_), jm.whiten(Y, *self.whitening_y_)
        else:
            self.whitening_x_ = self.whitening_y_ = None
            Xw, Yw = X3, Y
            full = self.covariance == "full"
            _check_squares(X3.reshape(-1, X3.shape[2]), "X", centred=full)
            _check_squares(Y, "Y", centred=full)
        data = _Data(
            Xw,
            Yw,
            labels,
            owner,
            self.var_floor * max(float(Xw.reshape(-1, Xw.shape[2]).var(axis=0).mean()), 1e-12),
            self.var_floor * max(float(Yw.var(axis=0).mean()), 1e-12),
        )
        self._kx, self._ky = kx, ky
        fingerprint = self._fingerprint(X, Y, labels, start)
        trace = fit_iterative(
            self._initialize,
            self._step,
            data,
            rng=rng,
            max_iter=self.max_iter,
            tol=self.tol,
            n_init=self.n_init,
            # A floor added to a full covariance's diagonal is not the M-step's exact
            # maximiser, so there the bound may dip slightly: no warning for that.
            monotone=self.covariance == "diag",
            verbose=self.verbose,
            desc="JGMM EM",
            save=None if self.checkpoint is None else lambda s: self._save(s, fingerprint),
            resume=self._resume(data, fingerprint, rng),
        )
        state = trace.state
        self._factors_cache = ()  # of the fit before, if any: free them now
        self.means_x_, self.vars_x_ = state.means_x, state.vars_x
        self.means_y_, self.vars_y_ = state.means_y, state.vars_y
        self._Q, self.pi_ = state.Q, state.pi
        psi = jm.psi(state.Q, state.pi)
        lam = jm.lam(state.Q, state.pi)
        self.Q_ = state.Q if spatial else state.Q[0]
        self.psi_ = psi if spatial else psi[0]
        self.lambda_ = lam if spatial else lam[0]
        self.lower_bound_ = trace.objective
        self.converged_ = bool(trace.converged)
        self.n_iter_ = int(trace.n_iter)
        return self

    # ------------------------------------------------------------------ checkpoints
    def _fingerprint(self, X, Y, labels, rng_state) -> dict[str, Any] | None:
        """What the EM depends on, as JSON: a checkpoint of anything else is refused.

        A Generator ``random_state`` is recorded as ``rng_state``, its state at the start.
        """
        if self.checkpoint is None:
            return None
        params = {k: v for k, v in self.get_params().items() if k not in ("checkpoint", "verbose")}
        if isinstance(self.random_state, np.random.Generator):
            params["random_state"] = {"generator_state": rng_state}
        data = (X, Y) if labels is None else (X, Y, labels)
        return as_recorded({"parameters": params, "data_sha256": array_digest(*data)})

    def _save(self, snapshot: Snapshot[_State], fingerprint: dict[str, Any] | None) -> None:
        header: dict[str, Any] = {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_VERSION,
            "fingerprint": fingerprint,
            "rng": snapshot.rng_state,
        }
        arrays = {}
        for name, trace in (("current", snapshot.current), ("best", snapshot.best)):
            header[name] = None
            if trace is not None:
                header[name] = {"init": trace.init, "converged": trace.converged}
                arrays[f"{name}/objective"] = trace.objective
                arrays.update({f"{name}/{f}": getattr(trace.state, f) for f in _SAVED})
        write_npz_with_header(self.checkpoint, header, arrays)  # type: ignore[arg-type]

    def _resume(
        self, data: _Data, fingerprint: dict[str, Any] | None, rng: np.random.Generator
    ) -> Snapshot | None:
        """The snapshot a checkpoint holds, or None to start afresh; its generator state
        is checked against ``rng``'s bit generator (a Generator seed need not be PCG64)."""
        if self.checkpoint is None or not Path(self.checkpoint).is_file():
            return None
        generator = isinstance(self.random_state, np.random.Generator)
        header, arrays = read_checkpoint(
            self.checkpoint,
            what="a JGMM checkpoint",
            format=CHECKPOINT_FORMAT,
            version=CHECKPOINT_VERSION,
            fingerprint=fingerprint,
            mismatch="was made with other settings or data"
            + (" or a generator in another state" if generator else "")
            + "; delete it or pass another checkpoint",
        )
        try:
            current, best = (
                self._saved_trace(data, header[n], arrays, n) for n in ("current", "best")
            )
            if current is None or not 0 <= current.init < self.n_init:
                raise ValueError("its restart in progress is missing or out of range")
            return Snapshot(current, best, check_generator_state(header["rng"], like=rng))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{self.checkpoint} is a damaged JGMM checkpoint: {err}") from err

    def _saved_trace(self, data: _Data, entry: Any, arrays: dict, name: str) -> FitTrace | None:
        """One restart of a checkpoint, its log densities recomputed from its Gaussians."""
        if entry is None:
            return None
        fresh = self._shapes(data)
        fields = {f: arrays[f"{name}/{f}"] for f in _SAVED}
        objective = arrays[f"{name}/objective"]
        for f, value in fields.items():
            if value.shape != fresh[f] or not np.all(np.isfinite(value)):
                raise ValueError(f"its {f} has shape {value.shape} or is not finite")
            if f.startswith("vars") and value.ndim == 2 and not np.all(value > 0):
                raise ValueError(f"its {f} holds a variance that is not positive")
        if (
            objective.ndim != 1
            or not 1 <= objective.size <= self.max_iter
            or objective.dtype.kind != "f"  # text failed inside the convergence test
            or not np.all(np.isfinite(objective))  # NaN became the fit's lower_bound_
        ):
            raise ValueError(
                f"its {name} objective is {objective.dtype} of shape {objective.shape}, "
                "not 1 to max_iter finite values"
            )
        state = _state_of(data, **fields)
        converged = entry["converged"]
        if not isinstance(converged, bool) or not isinstance(entry["init"], int):
            raise ValueError(f"its {name} restart is malformed")
        return FitTrace(state, objective, converged, objective.size, entry["init"])

    def _shapes(self, data: _Data) -> dict[str, tuple[int, ...]]:
        """The shape of each saved field of a state of this fit."""
        (kx, ky), dx, dy = (self._kx, self._ky), data.X.shape[2], data.Y.shape[1]
        full = self.covariance == "full"
        return {
            "means_x": (kx, dx),
            "vars_x": (kx, dx, dx) if full else (kx, dx),
            "means_y": (ky, dy),
            "vars_y": (ky, dy, dy) if full else (ky, dy),
            "Q": (data.X.shape[1], kx, ky),
            "pi": (ky,),
        }

    # The two hooks of the shared driver (_driver.fit_iterative).
    def _initialize(self, data: _Data, rng: np.random.Generator) -> _State:
        """Uniform Q and pi; Gaussians from k-means clusters (Appendix A, last paragraph).
        With ``e_step="labelled"``, k-means within each label and Q uniform within each
        label's block of components."""
        kx, ky = self._kx, self._ky
        R = data.X.shape[1]
        if data.owner is None:
            X2 = data.X.reshape(-1, data.X.shape[2])
            resp_x = _one_hot(_kmeans(X2, kx, rng), kx).reshape(*data.X.shape[:2], kx)
            Q = np.full((R, kx, ky), 1.0 / kx)
        else:
            assert data.labels_y is not None  # an owner is set only from the labels
            resp_x = _labelled_start(data.X, data.labels_y, data.owner, rng)
            block = (data.owner[:, None] == np.arange(ky)).astype(np.float64)
            Q = np.broadcast_to(block / np.maximum(block.sum(axis=0), 1), (R, kx, ky)).copy()
        labels_y = data.labels_y if data.labels_y is not None else _kmeans(data.Y, ky, rng)
        resp_y = _one_hot(labels_y, ky)
        means_x, vars_x, means_y, vars_y = self._m_step_gaussians(data, resp_x, resp_y)
        return _state_of(data, means_x, vars_x, means_y, vars_y, Q, np.full(ky, 1.0 / ky))

    def _step(self, data: _Data, state: _State, rng: np.random.Generator) -> tuple[_State, float]:
        """One EM iteration of Appendix A; returns the bound of the state it started from.

        Eq. 16-19 update the Gaussians from the responsibilities ``g^(t), h^(t)`` of
        eq. 15; eq. 20-21 then update pi and Q from ``g^(t+1), h^(t+1)``, the
        responsibilities under the new Gaussians (and the current Q, pi), as the
        paper's superscripts say. Each update is coordinate ascent on the same bound,
        so the bound never decreases (up to the full covariances' floor, ``var_floor``).
        The log densities under the new Gaussians are kept in the state: the next
        E-step only re-weights them.
        """
        if self.e_step == "joint":
            # Exact EM of eq. 12: one E-step, then eq. 16-21 with the joint
            # responsibilities, all from the same E-step.
            g, h, co, bound = jm.e_step_joint(state.log_gx, state.log_gy, state.Q, state.pi)
            Q, pi = jm.m_step_latent(g, h, co)
        elif self.e_step == "labelled":
            assert data.labels_y is not None  # fit requires them for this E-step
            g, h, co, bound = jm.e_step_labelled(state.log_gx, data.labels_y, state.Q, state.pi)
            Q, pi = jm.m_step_latent(g, h, co)
        else:
            g, h, bound = jm.e_step(state.log_gx, state.log_gy, state.Q, state.pi)
        means_x, vars_x, means_y, vars_y = self._m_step_gaussians(data, g, h)
        log_gx = jm.log_gaussian(data.X, means_x, vars_x)
        log_gy = jm.log_gaussian(data.Y, means_y, vars_y)
        if self.e_step == "paper":
            g_next, h_next, _ = jm.e_step(log_gx, log_gy, state.Q, state.pi)
            Q, pi = jm.m_step_latent(g_next, h_next)
        return _State(means_x, vars_x, means_y, vars_y, Q, pi, log_gx, log_gy), bound

    def _m_step_gaussians(
        self, data: _Data, resp_x: np.ndarray, resp_y: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        """Eq. 16-19 for both layers: means and covariances of the lower and higher
        Gaussians from responsibilities of shape (n, R, K_x) and (n, K_y)."""
        full = self.covariance == "full"
        means_x, vars_x = jm.m_step_gaussians(data.X, resp_x, data.floor_x, full=full)
        means_y, vars_y = jm.m_step_gaussians(
            data.Y[:, None, :], resp_y[:, None, :], data.floor_y, full=full
        )
        return means_x, vars_x, means_y, vars_y

    # ------------------------------------------------------------------ transforms
    def transform_x(self, X: object) -> np.ndarray:
        """Lower features in the model's (whitened) coordinates.

        Parameters
        ----------
        X : array-like of shape (n_samples, D_x) or (n_samples, R, D_x)

        Returns
        -------
        ndarray of ``X``'s shape
            Unchanged (but as float64) when the model does not whiten.
        """
        self._check_fitted()
        X3 = self._check_x(X)
        out = X3 if self.whitening_x_ is None else _mapped(jm.whiten, X3, self.whitening_x_, "X")
        return out if self.spatial_ else out[:, 0]

    def inverse_transform_x(self, Z: object) -> np.ndarray:
        """Map whitened lower features (e.g. samples, means) back to feature space.

        Parameters
        ----------
        Z : array-like of shape (..., D_x)
            In the model's coordinates, as :meth:`transform_x` gives them.

        Returns
        -------
        ndarray of ``Z``'s shape
            Unchanged (but as float64) when the model does not whiten.
        """
        self._check_fitted()
        Z = check_array(Z, name="Z", ndim=None)
        if Z.ndim == 0:
            raise ValueError(
                f"Z must be an array of shape (..., {self.n_features_x_in_}), got a scalar"
            )
        if Z.shape[-1] != self.n_features_x_in_:
            raise ValueError(f"Z has {Z.shape[-1]} features; expected {self.n_features_x_in_}")
        return Z if self.whitening_x_ is None else _mapped(jm.unwhiten, Z, self.whitening_x_, "Z")

    def _log_gx(self, X: object) -> np.ndarray:
        X = self._check_x(X)
        factors = self._factors(self.vars_x_)
        return _log_densities(X, self.whitening_x_, self.means_x_, self.vars_x_, "X", factors)

    def _log_gy(self, Y: object) -> np.ndarray:
        Y = self._check_y(Y)
        factors = self._factors(self.vars_y_)
        return _log_densities(Y, self.whitening_y_, self.means_y_, self.vars_y_, "Y", factors)

    def _factors(self, covariances: np.ndarray) -> jm.Factors | None:
        """:func:`~._jgmm_math.inverse_choleskys` of the fitted full ``covariances``
        (``vars_x_`` or ``vars_y_``), for :func:`~._jgmm_math.log_gaussian`; None for
        diagonal ones. Computed at the first call and kept while the model holds that
        array: a change made to it in place is not followed (refit instead)."""
        if covariances.ndim != 3:
            return None
        held = [(a, f) for a, f in self._factors_cache if a is self.vars_x_ or a is self.vars_y_]
        for array, factors in held:
            if array is covariances:
                return factors
        factors = jm.inverse_choleskys(covariances)
        self._factors_cache = (*held, (covariances, factors))
        return factors

    # ------------------------------------------------------------------ inference
    def predict_proba_w(self, X: object) -> np.ndarray:
        """``p(w | x)`` (eq. 3; eq. 11 for the spatial model).

        Parameters
        ----------
        X : array-like of shape (n_samples, D_x) or (n_samples, R, D_x)

        Returns
        -------
        ndarray of shape (n_samples, K_y)
        """
        self._check_fitted()
        return np.exp(jm.log_proba_w_given_x(self._log_gx(X), self._Q, self.pi_))

    def predict_w(self, X: object) -> np.ndarray:
        """The most probable higher component per row.

        Parameters
        ----------
        X : array-like of shape (n_samples, D_x) or (n_samples, R, D_x)

        Returns
        -------
        ndarray of int of shape (n_samples,)
            The argmax of :meth:`predict_proba_w`.
        """
        return self.predict_proba_w(X).argmax(axis=1)

    def predict_proba_z(self, Y: object) -> np.ndarray:
        """``p(z | y)`` (eq. 3).

        Parameters
        ----------
        Y : array-like of shape (n_samples, D_y)

        Returns
        -------
        ndarray of shape (n_samples, K_x), or (n_samples, R, K_x) for the spatial model
        """
        self._check_fitted()
        out = np.exp(jm.log_proba_z_given_y(self._log_gy(Y), self._Q, self.pi_))
        return out if self.spatial_ else out[:, 0]

    def predict_proba_z_given_x(self, X: object) -> np.ndarray:
        """``p(z | x)``, the lower component's posterior (``g`` of eq. 15).

        Parameters
        ----------
        X : array-like of shape (n_samples, D_x) or (n_samples, R, D_x)

        Returns
        -------
        ndarray of shape (n_samples, K_x), or (n_samples, R, K_x) for the spatial model
        """
        self._check_fitted()
        out = np.exp(jm.log_proba_z_given_x(self._log_gx(X), self._Q, self.pi_))
        return out if self.spatial_ else out[:, 0]

    def log_px_given_w(self, X: object) -> np.ndarray:
        """``log p(x | w = j)``, the prototype score of eq. 4, in whitened coordinates.

        For the spatial model, the sum over positions of eq. 10.

        Parameters
        ----------
        X : array-like of shape (n_samples, D_x) or (n_samples, R, D_x)

        Returns
        -------
        ndarray of shape (n_samples, K_y)
        """
        self._check_fitted()
        return jm.log_px_given_w(self._log_gx(X), self._Q).sum(axis=1)

    def score_samples(self, X: object, Y: object) -> np.ndarray:
        """``log p(x, y)`` of eq. 1 per sample, in whitened coordinates.

        Parameters
        ----------
        X : array-like of shape (n_samples, D_x) or (n_samples, R, D_x)
        Y : array-like of shape (n_samples, D_y)
            The same rows as ``X``.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        self._check_fitted()
        log_gx, log_gy = self._log_gx(X), self._log_gy(Y)
        if log_gx.shape[0] != log_gy.shape[0]:
            raise ValueError(f"X has {log_gx.shape[0]} rows but Y has {log_gy.shape[0]}")
        return jm.log_joint_density(log_gx, log_gy, self._Q, self.pi_)

    def sample_x(
        self,
        n_samples: int,
        *,
        weights: np.ndarray | None = None,
        random_state: RandomState = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw lower features from the mixture over z with ``weights`` (default lambda).

        Parameters
        ----------
        n_samples : int
        weights : ndarray of shape (K_x,), optional
            A distribution over z, e.g. ``Q[:, j]`` for ``p(x | w = j)`` or the
            optimum alpha of eq. 8. Defaults to ``lambda_`` (the plain model).
        random_state : int, Generator or None

        Returns
        -------
        X : ndarray of shape (n_samples, D_x)
            In the original feature space (mapped back through the whitening).
        components : ndarray of shape (n_samples,)
        """
        self._check_fitted()
        n_samples = check_positive_int(n_samples, name="n_samples")
        # Sized first, as the explainer's generated examples are (check_draws):
        # n_samples=10**12 raised numpy's bare "Unable to allocate 7.28 TiB".
        allocate((n_samples, self.means_x_.shape[1]), setting=f"n_samples={n_samples}")
        rng = check_random_state(random_state)
        if weights is None:
            if self.spatial_:
                raise ValueError("the spatial model has one lambda per position; pass weights")
            weights = self.lambda_
        weights = check_array(weights, name="weights", ndim=1)
        if weights.shape[0] == self.means_x_.shape[0] and weights.min() >= 0:
            with np.errstate(over="ignore"):
                total = weights.sum()
            if not np.isfinite(total):
                # Finite weights whose sum overflows (1e308 twice) gave a RuntimeWarning
                # and numpy's "probabilities do not sum to 1": the same distribution,
                # scaled by the largest, sums to at most K.
                weights = weights / weights.max()
        if weights.shape[0] != self.means_x_.shape[0] or weights.min() < 0 or weights.sum() <= 0:
            raise ValueError(
                f"weights must be {self.means_x_.shape[0]} non-negative numbers with a positive sum"
            )
        Z, comps = jm.sample_gmm(weights, self.means_x_, self.vars_x_, n_samples, rng)
        return self.inverse_transform_x(Z), comps


def _kmeans(X: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Hard k-means labels for the initialisation, seeded from ``rng``."""
    import warnings

    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning

    seed = seed_from(rng)
    with warnings.catch_warnings():
        # Duplicated rows can leave fewer distinct points than k; the empty components
        # then start at the floor variance and EM handles them.
        warnings.simplefilter("ignore", SkConvergenceWarning)
        return KMeans(k, n_init=1, max_iter=100, random_state=seed).fit_predict(X)


def _owners(kx: int, labels: np.ndarray) -> np.ndarray:
    """The label owning each of ``kx`` lower components: ``kx`` split as evenly as
    possible over the distinct ``labels`` (every label needs at least one)."""
    if kx < labels.size:
        raise ValueError(
            f"e_step='labelled' gives every label its own lower components; "
            f"n_components_x={kx} is fewer than the {labels.size} labels in labels_y"
        )
    return np.repeat(labels, [len(part) for part in np.array_split(np.arange(kx), labels.size)])


def _labelled_start(
    X: np.ndarray, labels: np.ndarray, owner: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Hard starting responsibilities, shape (n, R, K_x): k-means on each label's rows
    (all their positions) over the components that label owns."""
    n, R, d = X.shape
    resp = np.zeros((n, R, owner.size))
    for label in np.unique(owner):
        rows, own = labels == label, np.flatnonzero(owner == label)
        points = X[rows].reshape(-1, d)
        clusters = _kmeans(points, min(own.size, points.shape[0]), rng)
        resp[rows] = _one_hot(own[clusters], owner.size).reshape(-1, R, owner.size)
    return resp


def _one_hot(labels: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((labels.shape[0], k))
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out


def _check_squares(values: np.ndarray, name: str, *, centred: bool) -> None:
    """Refuse unwhitened features whose column sums of squares overflow float64.

    The diagonal M-step sums ``resp * x^2`` over the rows: from about 1e153 on iris's
    150 rows that was inf, and the fit ended in "the objective became nan ... the data
    may be degenerate" (diagonal) or scipy's "array must not contain infs or NaNs"
    (full). A full covariance sums squares of deviations from a component's mean
    (``centred``), no more than from the overall mean: iris at 1e154 times ``1 +
    1e-3 x`` fits. With ``whiten=True``, :func:`~._jgmm_math.fit_whitening` refuses
    them.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        summed = values - values.mean(axis=0) if centred else values
        squares = np.einsum("ij,ij->j", summed, summed)
    if not np.all(np.isfinite(squares)):
        what = "squared deviations from its mean" if centred else "squared values"
        raise ValueError(
            f"{name} is too large to fit without whitening: the sum of its {what} "
            f"overflows float64 (largest magnitude {np.abs(values).max():.3g}); "
            f"rescale {name}"
        )


def _mapped(
    through: Callable[..., np.ndarray],
    values: np.ndarray,
    whitening: tuple[np.ndarray, ...],
    name: str,
) -> np.ndarray:
    """``values`` mapped ``through`` the whitening (:func:`~._jgmm_math.whiten` or
    :func:`~._jgmm_math.unwhiten`). Finite values near float64's limit (1e308) overflow
    in the rotation or the scaling, which gave inf and NaN silently (and a
    RuntimeWarning): that is refused, naming ``name``."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = through(values, *whitening)
    if not np.all(np.isfinite(out)):
        raise ValueError(
            f"{name} holds values too large for the model's whitening (up to "
            f"{np.abs(values).max():.3g} in magnitude; mapping them overflows float64); "
            f"rescale {name}"
        )
    return out


def _log_densities(
    values: np.ndarray,
    whitening: tuple[np.ndarray, ...] | None,
    means: np.ndarray,
    variances: np.ndarray,
    name: str,
    factors: jm.Factors | None = None,
) -> np.ndarray:
    """``log G(v; mean_k, var_k)`` of checked ``values`` (whitened first where the fit
    whitened), for one side of the mixture, named ``name`` in errors; ``factors`` as
    :func:`~._jgmm_math.log_gaussian` takes them.

    For finite inputs a Gaussian's log density is finite unless a squared distance
    overflows (``|v|`` near 1e154), which gave NaN posteriors: that is refused instead.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if whitening is not None:
            values = jm.whiten(values, *whitening)
        log_g = jm.log_gaussian(values, means, variances, factors)
    if not np.all(np.isfinite(log_g)):
        raise ValueError(
            f"{name} holds values too large for the model's Gaussians (their squared "
            f"distances overflow); rescale {name}"
        )
    return log_g
