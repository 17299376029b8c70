"""Tree regularization: train a network that a small decision tree can mimic.

Sources: ``002_3e5e1762af60ee33.txt``, "Decision Tree - Tree regularization":
theta* = argmin_theta L(theta) + lambda * O(T_theta), where T_theta is the tree that
mimics the network with parameters theta and O(T_theta) "how complex T_theta is, e.g.
average depth". The slides note that this objective is not differentiable and point
to Wu et al. (2018, arXiv:1711.06178), whose solution is followed here:

1. O(T_theta) is the average decision-path length (APL) of a tree fitted to the
   network's predictions on the training inputs (Wu et al., Sec. 3, eq. 2).
2. A small MLP, Omega_hat(theta), learns to predict the APL from the flattened
   weights; it is differentiable, so lambda * Omega_hat(theta) joins the loss
   (Sec. 3.1).
3. Every ``snapshot_every`` epochs the current weights, plus randomly perturbed
   copies to spread the surrogate's training set, are recorded with their true APL,
   and Omega_hat is retrained on all records so far (Sec. 3.1, "dataset of
   (theta, APL) pairs ... retrained every E epochs").

In the survey's terms (``004_7c9aaa9fd587bc3d.txt``, "Intrinsic interpretability /
adding interpretability constraints") this is an intrinsically interpretable model.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .._estimator import Params
from .._io import array_digest
from .._progress import progress
from .._validation import (
    RandomState,
    as_float32,
    check_array,
    check_checkpoint,
    check_is_fitted,
    check_labels,
    check_number,
    check_positive_int,
    check_positive_ints,
    check_torch_seed,
    frame_columns,
    in_column_order,
    int_seed,
    pandas_index,
)
from ..blackbox import BlackBox
from ._models import DIVERGED, ZooModel, as_blackbox, check_finite_weights, cpu_seeded, mlp
from ._train import restore_training_state, save_training_state

#: What reads X in float32, for the refusal of values beyond its range.
_READS = "the network and the trees that measure its path length read X"


def _rows(X: np.ndarray) -> torch.Tensor:
    """``X`` as the network's float32 tensor. torch warns once per process that "the
    given NumPy array is not writable" of a read-only array (a user's frozen one, a
    DataFrame's ``.values``), though neither training nor prediction writes to it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.as_tensor(X, dtype=torch.float32)


def _flat(module: nn.Module) -> torch.Tensor:
    """All parameters as one differentiable vector, in ``parameters()`` order."""
    return torch.cat([p.reshape(-1) for p in module.parameters()])


def _apl(X: np.ndarray, labels: np.ndarray, min_samples_leaf: int) -> float:
    """The true O(T_theta): APL of a tree fitted to ``labels`` (the network's predictions)."""
    from sklearn.tree import DecisionTreeClassifier

    from ..surrogates._tree import path_length

    tree = DecisionTreeClassifier(min_samples_leaf=min_samples_leaf, random_state=0)
    return path_length(tree.fit(X, labels), X)


class _Omega(nn.Module):
    """Omega_hat: standardised weights -> one hidden layer -> standardised APL."""

    # buffers, registered in __init__
    x_mean: torch.Tensor
    x_scale: torch.Tensor
    y_mean: torch.Tensor
    y_scale: torch.Tensor

    def __init__(self, n_in: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.register_buffer("x_mean", torch.zeros(n_in))
        self.register_buffer("x_scale", torch.ones(n_in))
        self.register_buffer("y_mean", torch.zeros(()))
        self.register_buffer("y_scale", torch.ones(()))

    def forward(self, theta: torch.Tensor) -> torch.Tensor:
        z = (theta - self.x_mean) / self.x_scale
        # An APL is at least 1 (a single leaf). Without this floor the network finds
        # weights where the surrogate extrapolates to absurd negative path lengths.
        return 1.0 + F.softplus(self.y_mean + self.y_scale * self.net(z).squeeze(-1) - 1.0)


def _frozen(omega: _Omega) -> _Omega:
    """Omega_hat as a fixed penalty: evaluation mode, no gradients for its own weights."""
    omega.eval()
    for p in omega.parameters():
        p.requires_grad_(False)
    return omega


@dataclasses.dataclass
class _Records:
    """Omega_hat's training set so far: every recorded theta with its true APL, its
    guess at each snapshot before the refit (nan for the first), and the fit itself."""

    thetas: list[torch.Tensor]
    apls: list[float]
    apl_hat: list[float]
    omega: _Omega | None

    def tensors(self) -> dict[str, torch.Tensor]:
        """What a checkpoint keeps of them."""
        assert self.omega is not None  # the first epoch records a snapshot
        return {
            "thetas": torch.stack(self.thetas),
            "apls": torch.tensor(self.apls, dtype=torch.float64),
            "apl_hat": torch.tensor(self.apl_hat, dtype=torch.float64),
            **{f"omega.{k}": v for k, v in self.omega.state_dict().items()},
        }


class TreeRegularizedMLP(Params):
    """An MLP trained with cross-entropy + ``strength`` * Omega_hat(theta) (Wu et al., 2018).

    Parameters
    ----------
    hidden : sequence of int
        Hidden widths of the network.
    activation : {"relu", "sigmoid", "tanh", "elu", "gelu", "silu", "leaky_relu"}
    strength : float
        lambda, the weight of the tree penalty; 0 trains a plain MLP (the surrogate
        is still fitted, to report its predictions).
    epochs, batch_size : int
    lr : float
        Adam's learning rate for the network.
    weight_decay : float
        L2 penalty of the network's weights.
    snapshot_every : int
        Epochs between recorded snapshots and surrogate refits.
    n_jitter : int
        Perturbed copies of the weights recorded with each snapshot.
    jitter_scale : float
        The largest perturbation, relative to the weights' root mean square.
    min_samples_leaf : int
        Of the trees whose APL is measured; it stops a tree from memorising noise.
    surrogate_hidden, surrogate_steps : int
        Width and full-batch Adam steps of Omega_hat.
    random_state : int, numpy.random.Generator or None
        Seeds the initial weights, the shuffles, the perturbations and Omega_hat.
    checkpoint : path-like, optional
        A safetensors file the training state is written to, atomically, after every
        epoch: the weights, Adam's moments, the generator, the recorded (theta, APL)
        pairs and Omega_hat. ``fit`` run again with the same settings and data goes on
        from the last finished epoch and ends with the same network as an
        uninterrupted fit. Needs an int ``random_state``; a checkpoint of other
        settings or data is refused.
    verbose : bool
        Show a progress bar.

    Attributes
    ----------
    module_ : ZooModel
        The trained network (an :func:`unboxed.zoo.mlp`; save it with zoo.save).
    classes_ : ndarray
        The class labels, in the order of the network's outputs.
    n_features_in_ : int
    feature_names_in_ : ndarray of str or None
        The column names of ``fit``'s DataFrame, where they were distinct non-empty
        strings; :meth:`predict_proba`, :meth:`predict` and :meth:`path_length` then
        read a DataFrame's columns by these names (in any order), and :meth:`blackbox`
        names its features by them. None for an array (columns read by position).
    history_ : dict
        ``loss`` (per epoch), ``snapshot_epoch``, ``apl`` (true APL of the snapshot)
        and ``apl_hat`` (Omega_hat's prediction before the refit).
    path_length_ : float
        The true APL of the final network on the training inputs.
    """

    def __init__(
        self,
        *,
        hidden: Sequence[int] = (16, 16),
        activation: str = "tanh",
        strength: float = 0.0,
        epochs: int = 40,
        batch_size: int = 64,
        lr: float = 1e-2,
        weight_decay: float = 0.0,
        snapshot_every: int = 2,
        n_jitter: int = 10,
        jitter_scale: float = 0.1,
        min_samples_leaf: int = 25,
        surrogate_hidden: int = 25,
        surrogate_steps: int = 300,
        random_state: RandomState = 0,
        checkpoint: str | os.PathLike | None = None,
        verbose: bool = False,
    ) -> None:
        for name, value in (
            ("strength", strength),
            ("weight_decay", weight_decay),
            ("jitter_scale", jitter_scale),
        ):
            check_number(value, name=name, strict=False)
        check_number(lr, name="lr")
        check_positive_ints(hidden, name="hidden")
        for name, value in (
            ("epochs", epochs),
            ("batch_size", batch_size),
            ("snapshot_every", snapshot_every),
            ("min_samples_leaf", min_samples_leaf),
            ("surrogate_hidden", surrogate_hidden),
            ("surrogate_steps", surrogate_steps),
        ):
            check_positive_int(value, name=name)
        check_positive_int(n_jitter, name="n_jitter", minimum=0)
        # Each argument as given, so that get_params and sklearn's clone give it back.
        self.hidden = hidden
        self.activation = activation
        self.strength = strength
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.snapshot_every = snapshot_every
        self.n_jitter = n_jitter
        self.jitter_scale = jitter_scale
        self.min_samples_leaf = min_samples_leaf
        self.surrogate_hidden = surrogate_hidden
        self.surrogate_steps = surrogate_steps
        self.random_state = random_state
        self.checkpoint = checkpoint
        self.verbose = verbose
        # As the fit or explain call checks it, so that a bad seed fails here and in
        # set_params, not once the data is read.
        check_torch_seed(random_state)

    # ------------------------------------------------------------------ fitting
    def fit(self, X: object, y: object) -> TreeRegularizedMLP:
        """Train the network with the tree penalty.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Integer class labels; at least two classes.

        Returns
        -------
        self
        """
        check_checkpoint(self.checkpoint, self.random_state)
        columns = frame_columns(X)
        index = pandas_index(X)
        X = check_array(X, name="X", ndim=2)
        as_float32(X, index, reader=_READS)
        labels = check_labels(y, n=X.shape[0])
        classes, y_idx = np.unique(labels, return_inverse=True)
        if classes.size < 2:
            raise ValueError(f"y holds a single class ({classes[0]}); need at least two")
        seed = int_seed(self.random_state)
        gen = torch.Generator().manual_seed(seed)
        net = mlp(
            self.hidden,
            self.activation,
            n_features=X.shape[1],
            n_classes=classes.size,
            random_state=seed,
        )
        x = _rows(X)
        t = torch.as_tensor(y_idx)
        scratch = copy.deepcopy(net)
        optimizer = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        state: dict[str, Any] = {"epoch": 0, "loss": []}
        records = _Records([], [], [], None)
        # Hashing the data is for the checkpoint alone.
        checkpoint = self.checkpoint
        settings = {} if checkpoint is None else self._settings(X, labels, seed)
        if checkpoint is not None and Path(checkpoint).is_file():
            n_params = _flat(net).numel()
            state, records = restore_training_state(
                checkpoint,
                settings,
                state,
                net,
                optimizer,
                gen,
                lambda extra, restored: self._read_records(extra, restored, n_params),
            )
        steps = math.ceil(X.shape[0] / self.batch_size)
        with progress(total=self.epochs, verbose=self.verbose, desc="tree-regularized mlp") as bar:
            bar.update(state["epoch"])
            for epoch in range(state["epoch"], self.epochs):
                if epoch % self.snapshot_every == 0:  # record theta, Omega_hat's guess; refit
                    theta, omega = _flat(net).detach().clone(), records.omega
                    records.apl_hat.append(float("nan") if omega is None else float(omega(theta)))
                    self._record(theta, scratch, X, x, gen, records)
                    records.omega = self._fit_omega(records.thetas, records.apls, gen)
                net.train()
                order = torch.randperm(X.shape[0], generator=gen)
                total = 0.0
                for step in range(steps):
                    batch = order[step * self.batch_size : (step + 1) * self.batch_size]
                    optimizer.zero_grad(set_to_none=True)
                    loss = F.cross_entropy(net(x[batch]), t[batch])
                    if self.strength > 0:
                        loss = loss + self.strength * records.omega(_flat(net))  # type: ignore[misc]
                    if not torch.isfinite(loss):
                        raise FloatingPointError(f"the loss became {loss.item()} at epoch {epoch}")
                    loss.backward()
                    optimizer.step()
                    total += loss.item() * batch.numel()
                check_finite_weights(net, what=f"{DIVERGED} at epoch {epoch}")
                state["epoch"] = epoch + 1
                state["loss"].append(total / X.shape[0])
                if checkpoint is not None:
                    extra = records.tensors()
                    save_training_state(checkpoint, settings, state, net, optimizer, gen, extra)
                bar.update(1)
        net.eval()
        self.classes_ = classes
        self.module_: ZooModel = net
        self.surrogate_ = records.omega
        self.history_ = {
            "loss": state["loss"],
            "snapshot_epoch": list(range(0, self.epochs, self.snapshot_every)),
            "apl": records.apls[:: self.n_jitter + 1],
            # None marks "no prediction yet" (the first snapshot); JSON-friendly floats.
            "apl_hat": [None if math.isnan(v) else v for v in records.apl_hat],
        }
        self.n_features_in_ = int(X.shape[1])
        # A DataFrame's column names, so that a later table is read by name, as
        # scikit-learn reads it: read by position, its columns in another order went to
        # the network shuffled, without a word.
        names = columns if columns is not None and len(set(columns)) == len(columns) else None
        # Unnamed columns (0, 1, ...) are read by position, and so are names the
        # network's feature_names refuse (""): kept, blackbox() refused them.
        if names is not None and not all(isinstance(c, str) and c for c in names):
            names = None
        self.feature_names_in_ = None if names is None else np.asarray(names, dtype=object)
        net.feature_names = None if names is None else tuple(names)
        self.path_length_ = self.path_length(X)
        return self

    def _settings(self, X: np.ndarray, labels: np.ndarray, seed: int) -> dict[str, Any]:
        """Everything the training depends on, for the checkpoint."""
        names: tuple[str, ...] = ("activation", "strength", "epochs", "batch_size", "lr")
        names += ("weight_decay", "snapshot_every", "n_jitter", "jitter_scale")
        names += ("min_samples_leaf", "surrogate_hidden", "surrogate_steps")
        return {
            **{name: getattr(self, name) for name in names},
            "hidden": list(self.hidden),
            "random_state": seed,
            "data_sha256": array_digest(X, labels),
        }

    def _read_records(
        self, extra: dict[str, torch.Tensor], state: dict[str, Any], n_params: int
    ) -> _Records:
        """The records a checkpoint holds after ``state["epoch"]`` epochs, checked
        against a network of ``n_params`` weights."""
        n_snapshots = math.ceil(state["epoch"] / self.snapshot_every)
        n_rows = n_snapshots * (self.n_jitter + 1)
        thetas, apls, apl_hat = extra["thetas"], extra["apls"], extra["apl_hat"]
        if (
            thetas.shape != (n_rows, n_params)
            or apls.shape != (n_rows,)
            or apl_hat.shape != (n_snapshots,)
            # inf passed ">= 1", and turned the loss into NaN an epoch later
            or not bool(torch.isfinite(thetas).all() and torch.isfinite(apls).all())
            or not bool((apls >= 1).all())
            # the first guess is NaN (no Omega_hat yet); the others are its predictions
            or not bool(torch.isnan(apl_hat[:1]).all() and torch.isfinite(apl_hat[1:]).all())
        ):
            raise ValueError(
                f"its records do not hold {n_snapshots} snapshots of {n_params} finite "
                "weights, finite path lengths of at least 1 and guesses at them (NaN, then "
                "finite)"
            )
        omega = _Omega(n_params, self.surrogate_hidden)
        omega.load_state_dict({k[6:]: v for k, v in extra.items() if k.startswith("omega.")})
        # A NaN Omega_hat loaded silently and became the training's penalty.
        if not all(bool(torch.isfinite(v).all()) for v in omega.state_dict().values()) or not (
            bool((omega.x_scale > 0).all() and omega.y_scale > 0)
        ):
            raise ValueError("its surrogate holds NaN or infinite values, or scales not above 0")
        return _Records(list(thetas), apls.tolist(), apl_hat.tolist(), _frozen(omega))

    def _record(
        self,
        theta: torch.Tensor,
        scratch: nn.Module,
        X: np.ndarray,
        x: torch.Tensor,
        gen: torch.Generator,
        records: _Records,
    ) -> None:
        """Record theta and ``n_jitter`` perturbed copies with their true APL."""
        rms = float(theta.pow(2).mean().sqrt()) or 1.0
        for j in range(self.n_jitter + 1):
            if j == 0:
                candidate = theta
            else:
                size = self.jitter_scale * rms * float(torch.rand((), generator=gen))
                candidate = theta + size * torch.randn(theta.shape, generator=gen)
            nn.utils.vector_to_parameters(candidate, scratch.parameters())
            with torch.inference_mode():
                predictions = scratch(x).argmax(1).numpy()
            records.thetas.append(candidate)
            records.apls.append(_apl(X, predictions, self.min_samples_leaf))

    def _fit_omega(
        self, thetas: list[torch.Tensor], apls: list[float], gen: torch.Generator
    ) -> _Omega:
        """Fit Omega_hat afresh on every recorded (theta, APL) pair (full-batch Adam, MSE)."""
        inputs = torch.stack(thetas)
        targets = torch.as_tensor(apls, dtype=torch.float32)
        with cpu_seeded(int(torch.randint(0, 2**31 - 1, (), generator=gen))):
            omega = _Omega(inputs.shape[1], self.surrogate_hidden)
        omega.x_mean.copy_(inputs.mean(0))
        # One scale for all weights, not one per weight: per-weight scales blow up the
        # directions in which the snapshots barely vary, and the network then follows
        # the surrogate's wild extrapolation along them.
        omega.x_scale.fill_(float((inputs - omega.x_mean).pow(2).mean().sqrt().clamp_min(1e-3)))
        omega.y_mean.copy_(targets.mean())
        omega.y_scale.copy_(targets.std(unbiased=False).clamp_min(1e-3))
        optimizer = torch.optim.Adam(omega.parameters(), lr=1e-2, weight_decay=1e-2)
        scaled = (targets - omega.y_mean) / omega.y_scale
        z = (inputs - omega.x_mean) / omega.x_scale
        for _ in range(self.surrogate_steps):
            optimizer.zero_grad(set_to_none=True)
            F.mse_loss(omega.net(z).squeeze(-1), scaled).backward()
            optimizer.step()
        return _frozen(omega)

    # ------------------------------------------------------------------ using
    def _check_fitted(self) -> None:
        check_is_fitted(self, "module_", how="fit(X, y)")

    def _check_X(self, X: object) -> np.ndarray:
        self._check_fitted()
        names = self.feature_names_in_
        X = in_column_order(
            X, None if names is None else list(names), name="X", whose="the fitted network"
        )
        index = pandas_index(X)
        X = check_array(X, name="X", ndim=2)
        as_float32(X, index, reader=_READS)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features; the model expects {self.n_features_in_}"
            )
        return X

    def predict_proba(self, X: object) -> np.ndarray:
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            A float64 softmax of the network's logits; columns follow ``classes_``.
        """
        X = self._check_X(X)
        with torch.inference_mode():
            logits = self.module_(_rows(X))
            return torch.softmax(logits.double(), 1).numpy()

    def predict(self, X: object) -> np.ndarray:
        """The most probable class label per row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``, as ``fit``'s ``y`` gave them.
        """
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(1)]

    def path_length(self, X: object) -> float:
        """The true APL on ``X``: mean decision-path length (nodes) of a tree fitted to the
        network's predictions on ``X``, with ``min_samples_leaf`` as in training.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        float
            Nodes per path, root and leaf included; at least 1.
        """
        X = self._check_X(X)
        return _apl(X, self.predict_proba(X).argmax(1), self.min_samples_leaf)

    def blackbox(self, **kwargs: Any) -> BlackBox:
        """The trained network as a :class:`~unboxed.BlackBox` (columns follow ``classes_``).

        Parameters
        ----------
        **kwargs
            Passed to :meth:`BlackBox.from_torch` (``batch_size``, ``name``).

        Returns
        -------
        BlackBox
        """
        self._check_fitted()
        return as_blackbox(self.module_, **kwargs)
