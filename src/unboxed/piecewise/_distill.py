"""Distillation-based CLIME: Hinton knowledge distillation of any black box into a ReLU MLP.

``003_9368caac562d9b13.txt`` Sec. 6 and Sec. 7.3. The student is a piecewise-linear
network, so once fitted it is explained exactly by :class:`LinearRegions`. The loss is
Hinton et al. (2015):

    alpha * T^2 * KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) * CE(s, y),

with ``t`` the teacher's log-probabilities (any black box gives probabilities; their log
is a valid logit vector), ``s`` the student's logits and ``y`` the labels (the teacher's
own hard labels when none are given). ``alpha = 0`` trains on labels alone: the plain
baseline of Table 2. Temperature, alpha, learning rate and batch size are searched over
a grid; the student that agrees most with the teacher on a held-out split is kept.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .._estimator import Params
from .._io import array_digest, as_recorded
from .._progress import progress
from .._validation import (
    ADAM_LR_SHARE,
    FLOAT32_MAX,
    RandomState,
    as_float32,
    as_seed,
    check_aligned,
    check_array,
    check_checkpoint,
    check_fraction,
    check_is_fitted,
    check_number,
    check_positive_int,
    check_positive_ints,
    check_random_state,
    frame_index,
    is_int,
    pandas_index,
    seed_from,
)
from ..blackbox import BlackBox, check_blackbox
from ..evaluate import Estimate, agreement
from ..explanation import Attribution
from ..zoo._io import load_with_record, save_with_record
from ..zoo._models import DIVERGED, ZooModel, check_finite_weights, mlp
from ._regions import LinearRegions

#: A few fits: the default.
SMALL_GRID: dict[str, tuple[float, ...]] = {
    "temperature": (3.0, 10.0),
    "alpha": (0.9,),
    "lr": (1e-3,),
    "batch_size": (128,),
}
#: The grid of Sec. 7.3 (780 fits).
PAPER_GRID: dict[str, tuple[float, ...]] = {
    "temperature": (1.0, 3.0, 5.0, 10.0, 20.0),
    "alpha": (0.5, 0.9, 0.95),
    "lr": (1e-5, 3e-5, 5e-5, 8e-5, 1e-4, 3e-4, 5e-4, 8e-4, 1e-3, 3e-3, 5e-3, 8e-3, 1e-2),
    "batch_size": (32, 64, 128, 256),
}
GRIDS = {"small": SMALL_GRID, "paper": PAPER_GRID}


def _kd_loss(
    student_logits: torch.Tensor,
    teacher_logp: torch.Tensor,
    labels: torch.Tensor,
    temperature: float,
    alpha: float,
) -> torch.Tensor:
    """Hinton's distillation loss, averaged over the batch.

    Parameters
    ----------
    student_logits : tensor of shape (n, c)
    teacher_logp : tensor of shape (n, c)
        The teacher's log-probabilities.
    labels : long tensor of shape (n,)
    temperature : float > 0
    alpha : float in [0, 1]
        Weight of the soft term.

    Returns
    -------
    scalar tensor
    """
    hard = F.cross_entropy(student_logits, labels)
    if alpha == 0:
        return hard
    soft_targets = F.log_softmax(teacher_logp / temperature, dim=1)
    soft = F.kl_div(
        F.log_softmax(student_logits / temperature, dim=1),
        soft_targets,
        reduction="batchmean",
        log_target=True,
    )
    # T^2 keeps the soft gradients on the scale of the hard ones (Hinton et al., Sec. 2).
    return alpha * temperature**2 * soft + (1 - alpha) * hard


#: The largest temperature and learning rate: for the temperature the square root of
#: float32's largest number, as the loss scales by its square; for the learning rate
#: Adam's share of it (``ADAM_LR_SHARE``; _train_student uses torch's Adam).
_LARGEST = {"temperature": math.sqrt(FLOAT32_MAX), "lr": FLOAT32_MAX * ADAM_LR_SHARE}
#: A checked grid: each key's values.
Grid = dict[str, tuple[float, ...]]


def _check_grid(grid: Any) -> Grid:
    if isinstance(grid, str):
        if grid not in GRIDS:
            raise ValueError(f"grid must be one of {sorted(GRIDS)} or a dict, got {grid!r}")
        return GRIDS[grid]
    if not isinstance(grid, dict) or set(grid) - set(SMALL_GRID):
        raise ValueError(f"a grid dict may only hold the keys {sorted(SMALL_GRID)}, got {grid!r}")
    for key, values in grid.items():
        if not isinstance(values, Sequence) or isinstance(values, str):
            raise ValueError(f"grid[{key!r}] must be a sequence of values, got {values!r}")
    full = {**SMALL_GRID, **{k: tuple(v) for k, v in grid.items()}}
    for key, values in full.items():
        if len(values) == 0:
            raise ValueError(f"grid[{key!r}] is empty")
    for key in ("temperature", "lr"):
        full[key] = tuple(check_number(v, name=f"grid[{key!r}]") for v in full[key])
        # The student trains in float32: a larger lr raised Adam's bare "value cannot
        # be converted to type float without overflow", a temperature of 1e300 a bare
        # OverflowError squaring it.
        for v in full[key]:
            if v > _LARGEST[key]:
                raise ValueError(
                    f"grid[{key!r}] must be at most {_LARGEST[key]:.3g}, got {v!r}: the "
                    "student trains in float32"
                )
    # "a" and None raised a bare "'<=' not supported", and True passed as alpha 1.
    alphas = tuple(check_number(a, name="grid['alpha']", strict=False) for a in full["alpha"])
    if any(a > 1 for a in alphas):
        raise ValueError(f"grid['alpha'] must lie in [0, 1], got {full['alpha']!r}")
    full["alpha"] = alphas
    for b in full["batch_size"]:
        check_positive_int(b, name="batch_size")
    return full


class Distiller(Params):
    """Distil any black box into a ReLU MLP that :class:`LinearRegions` explains exactly.

    Parameters
    ----------
    widths : sequence of int
        Hidden widths of the student; the paper's is 256-64.
    grid : {"small", "paper"} or dict
        Values searched for ``temperature``, ``alpha``, ``lr`` and ``batch_size``; a dict
        overrides keys of the small grid.
    epochs : int
        Training epochs per grid point (Adam, cosine learning rate to 0).
    validation_fraction : float in (0, 1)
        Share of ``X`` held out to pick the grid point by agreement with the teacher.
    n_mixup : int
        Extra transfer inputs, each a random convex mix of two training inputs, labelled
        by the teacher (queried once more). Any black box can be queried off the data,
        and mixes probe it between the classes, where student and teacher differ most.
        Their hard labels are the teacher's. 0 distils on ``X`` alone, as the paper does.
    random_state : int, numpy.random.Generator or None
    checkpoint : path-like, optional
        A file (safetensors) the search is saved to, atomically, after each grid point:
        the points done, their scores and the best student so far. A fit interrupted
        and run again with the same settings, seed and data trains only the points left,
        and ends with the same student as an uninterrupted fit. Needs an int
        ``random_state``. A checkpoint of other settings or data is refused.
    verbose : bool

    Attributes
    ----------
    student_ : ZooModel
        The chosen student (returns logits).
    best_params_ : dict
    cv_results_ : list of dict
        Per grid point: its parameters, validation agreement and seconds.
    teacher_ : BlackBox
        The black box the student was distilled from.
    fidelity_ : Estimate
        The chosen student's agreement with the teacher on the held-out validation
        rows, with Wilson's 95% interval. With more than one grid point these rows
        also chose the student, so the figure leans optimistic: call :meth:`fidelity`
        on fresh data for an unbiased one.
    n_features_in_, n_classes_ : int

    Notes
    -----
    The student reads the teacher's inputs as they are, unscaled: a scaler inside the
    teacher (a scikit-learn pipeline's) does not reach it, and features in units
    from 0.13 to 1,680 (wine's) slow its training. Standardize first: fit on
    ``pipeline[0].transform(X)`` with ``BlackBox.from_sklearn(pipeline[1:])``, the
    same fitted model past its scaler, as the wine example of ``docs/piecewise.md``
    does: there the default student agreed with a logistic regression on 44 of the
    45 test rows (0.9778) taught on standardized rows, and on 0.4000 taught on the
    raw ones, same split and seed (``tests/test_readme.py`` runs that example and
    holds it to at least 0.9 and at most 0.7).
    """

    def __init__(
        self,
        *,
        widths: tuple[int, ...] = (256, 64),
        grid: str | dict[str, Any] = "small",
        epochs: int = 10,
        validation_fraction: float = 0.1,
        n_mixup: int = 0,
        random_state: RandomState = 0,
        checkpoint: str | os.PathLike | None = None,
        verbose: bool = True,
    ) -> None:
        self.widths = widths
        self.grid = grid
        self.epochs = epochs
        self.validation_fraction = validation_fraction
        self.n_mixup = n_mixup
        self.random_state = random_state
        self.checkpoint = checkpoint
        self.verbose = verbose
        # Here, so that a mistyped setting fails now and not after the data is loaded;
        # fit checks again, for attributes set directly.
        self._check_params()

    def _check_params(self) -> tuple[Grid, int, float, tuple[int, ...], int]:
        """Every setting that needs no data: (grid, epochs, validation fraction,
        widths, n_mixup)."""
        grid = _check_grid(self.grid)
        epochs = check_positive_int(self.epochs, name="epochs")
        fraction = check_fraction(
            self.validation_fraction, name="validation_fraction", below_one=True
        )
        # Checked before the teacher is queried on all of X: a bad width raised only
        # after that, and a string of widths raised int()'s bare "invalid literal".
        widths = check_positive_ints(self.widths, name="widths")
        n_mix = check_positive_int(self.n_mixup, name="n_mixup", minimum=0)
        check_random_state(self.random_state)  # as fit resolves it
        check_checkpoint(self.checkpoint, self.random_state)
        return grid, epochs, fraction, widths, n_mix

    def fit(self, teacher: BlackBox, X: object, y: object = None) -> Distiller:
        """Query the teacher on ``X`` once, then train one student per grid point.

        Parameters
        ----------
        teacher : BlackBox
            Any black box.
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            The transfer set.
        y : array-like of shape (n_samples,), optional
            Labels for the hard term; the teacher's predictions by default.

        Returns
        -------
        self
        """
        check_blackbox(teacher, name="teacher")
        grid, epochs, fraction, widths, n_mix = self._check_params()
        rng = check_random_state(self.random_state)
        check_aligned(y, X)
        # A DataFrame's row labels name the row the teacher raises on, as predict_proba
        # names it: row 1 of a split is not X.loc[1].
        index = pandas_index(X)
        # check_X once: the float32 rows the student reads are checked X, cast where
        # nothing overflows, so a second check_X of them could not fail.
        X = as_float32(teacher.check_X(X), index, reader="the student computes")
        proba = teacher._proba_rows(X, index=index)
        n_classes = teacher.n_classes
        y = proba.argmax(1) if y is None else teacher.class_indices(y, n=X.shape[0])
        order = rng.permutation(X.shape[0])
        n_val = max(1, round(fraction * X.shape[0]))
        if X.shape[0] - n_val < 1:
            raise ValueError(f"X has {X.shape[0]} rows; too few to hold out a validation split")
        val, train = order[:n_val], order[n_val:]
        X_fit, proba_fit, y_fit = X[train], proba[train], y[train]
        if n_mix:
            X_mix = _mixup(X_fit, n_mix, rng)
            # Named as blends: a teacher that raised on one was reported "on row 3 of
            # the 8 rows queried", rows of X it never had.
            proba_mix = teacher._proba_rows(
                X_mix, lambda i: f"mixup blend {i} of {n_mix} (of two rows of X)"
            )
            X_fit = np.concatenate([X_fit, X_mix])
            proba_fit = np.concatenate([proba_fit, proba_mix])
            y_fit = np.concatenate([y_fit, proba_mix.argmax(1)])
        tensors = (
            torch.as_tensor(X_fit),
            torch.as_tensor(np.log(np.clip(proba_fit, 1e-12, 1.0)), dtype=torch.float32),
            torch.as_tensor(y_fit),
        )
        X_val, teacher_val = torch.as_tensor(X[val]), proba[val].argmax(1)
        init_seed, shuffle_seed = seed_from(rng), seed_from(rng)

        def new_student() -> ZooModel:
            # Every grid point starts from the same weights and shuffles alike, so a
            # point's student does not depend on the points before it.
            return mlp(
                widths,
                "relu",
                n_features=X.shape[1],
                n_classes=n_classes,
                random_state=init_seed,
            )

        points: list[dict[str, Any]] = [
            {**dict(zip(GRID_KEYS, values, strict=True)), "batch_size": int(values[-1])}
            for values in itertools.product(*(grid[k] for k in GRID_KEYS))
        ]
        settings = {
            "widths": list(widths),
            "grid": {k: [float(v) for v in grid[k]] for k in GRID_KEYS},
            "epochs": epochs,
            "validation_fraction": float(fraction),
            "n_mixup": n_mix,
            # as_seed: np.asarray(3) is recorded as 3 (not None), so a resume with another
            # seed, an array or not, is told apart.
            "random_state": int(seed) if is_int(seed := as_seed(self.random_state)) else None,
            "data_sha256": array_digest(X, y, proba) if self.checkpoint is not None else None,
        }
        search = _Search(self.checkpoint, settings, points, new_student)
        todo = points[len(search.results) :]
        with progress(total=len(points), verbose=self.verbose, desc="distil grid") as bar:
            bar.update(len(search.results))
            for params in todo:
                student = new_student()
                start = time.perf_counter()
                try:
                    _train_student(student, *tensors, epochs=epochs, seed=shuffle_seed, **params)
                except FloatingPointError as err:
                    # Which of the grid's points diverged: a temperature of 1e-300 said
                    # only "the distillation loss became nan".
                    point = ", ".join(f"{k}={params[k]:g}" for k in GRID_KEYS)
                    raise FloatingPointError(f"grid point {point}: {err}") from err
                with torch.inference_mode():
                    agree = float(np.mean(student(X_val).argmax(1).numpy() == teacher_val))
                search.add(params, agree, time.perf_counter() - start, student)
                bar.update(1)
        if search.best is None:  # unreachable: _check_grid rejects empty grids
            raise RuntimeError("the grid is empty")
        self.student_: ZooModel = search.best.eval()
        self.best_params_ = dict(points[search.best_index])
        self.cv_results_ = search.results
        self.teacher_ = teacher
        with torch.inference_mode():
            chosen = self.student_(X_val).argmax(1).numpy()
        # The student explains the teacher only as far as it agrees with it: the
        # figure every Distiller explanation is judged by, measured on rows it never saw.
        self.fidelity_: Estimate = agreement(chosen, teacher_val, classes=range(n_classes))
        self.n_features_in_ = X.shape[1]
        self.n_classes_ = n_classes
        self.input_shape_ = teacher.input_shape
        # The student's columns are the teacher's classes.
        self._regions = LinearRegions(self.student_, class_names=teacher.class_names)
        return self

    def _check_fitted(self) -> None:
        check_is_fitted(self, "student_", how="fit(teacher, X)")

    def _check_X(self, X: object) -> np.ndarray:
        regions = self.linear_regions()
        # A DataFrame is read by its column names, as the teacher reads it.
        arr = check_array(self.teacher_._by_columns(X, name="X"), ndim=None)
        # The student reads flat rows; the teacher's inputs may come image-shaped.
        if self.input_shape_ is not None and arr.ndim >= 2:
            if arr.shape[1:] == tuple(self.input_shape_):
                arr = arr.reshape(arr.shape[0], -1)
        return regions._check_X(arr)

    def linear_regions(self) -> LinearRegions:
        """The exact explainer of the student (:class:`LinearRegions`).

        Returns
        -------
        LinearRegions
            Built once at fit time; the same object on every call.
        """
        self._check_fitted()
        return self._regions

    def predict_proba(self, X: object) -> np.ndarray:
        """The student's class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            Rows as the teacher took them, flat or in its ``input_shape``.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            A float64 softmax of the student's logits.
        """
        X = self._check_X(X)
        with torch.inference_mode():
            logits = self.student_(torch.as_tensor(X, dtype=torch.float32)).double()
        if not bool(torch.isfinite(logits).all()):  # a softmax of them would be NaN
            raise ValueError(
                "the student's logits are not finite; are X's values beyond the range of "
                "its float32?"
            )
        return torch.softmax(logits, dim=1).numpy()

    def fidelity(self, X: object) -> Estimate:
        """The share of rows of ``X`` on which the student gives the teacher's class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            Rows as the teacher takes them; pass rows the student was not distilled on.

        Returns
        -------
        Estimate
            The agreement in [0, 1], with Wilson's 95% score interval.
        """
        index = pandas_index(X)  # names the row the teacher raises on, as in fit
        X = self._check_X(X)
        answers = self.teacher_._predict_rows(self.teacher_.check_X(X), index)
        return agreement(self.predict(X), answers, classes=range(self.n_classes_))

    def predict(self, X: object) -> np.ndarray:
        """The student's labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            Rows as the teacher took them, flat or in its ``input_shape``.

        Returns
        -------
        ndarray of int of shape (n_samples,)
        """
        return self.predict_proba(X).argmax(axis=1)

    def explain(self, X: object, *, target: object = None) -> Attribution:
        """The student's exact per-feature contributions (:meth:`LinearRegions.explain`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            Rows as the teacher took them, flat or in its ``input_shape``.
        target : int or array-like of shape (n_samples,), optional
            The class explained per row; the student's predicted class by default.

        Returns
        -------
        Attribution
            ``W~_c,j * x_j`` per feature, with the teacher's image shape and
            ``feature_names`` when it has them.
            ``meta["delta"]`` is exact for the student; ``meta["student_fidelity"]`` (of
            :attr:`fidelity_`) says how far the student stands for the teacher.
        """
        if target is not None:  # the teacher's labels, as the student's columns
            target = self.teacher_.class_index(target, name="target")
        attribution = self.linear_regions().explain(self._check_X(X), target=target)
        meta = {**attribution.meta, "student_fidelity": self.fidelity_.as_dict()}
        shape = self.input_shape_
        image_shape = shape if shape is not None and len(shape) in (2, 3) else None
        return dataclasses.replace(
            attribution,
            meta=meta,
            image_shape=image_shape or attribution.image_shape,
            feature_names=self.teacher_.feature_names,  # the student reads the same columns
            row_names=frame_index(X),  # LinearRegions was given the checked array
        )


#: The searched settings, in the order the grid is walked.
GRID_KEYS = ("temperature", "alpha", "lr", "batch_size")


class _Search:
    """The grid search's results and best student, saved after each point if asked.

    Parameters
    ----------
    path : path-like or None
        The checkpoint; an existing one is resumed.
    settings : dict
        Everything the students depend on; a checkpoint of other settings is refused.
    points : list of dict
        The grid points, in the order they are trained.
    new_student : callable
        Builds an untrained student, to load the saved best one into.
    """

    def __init__(self, path, settings, points, new_student) -> None:
        self.path, self.settings, self.points = path, settings, points
        self.results: list[dict[str, Any]] = []
        self.best: ZooModel | None = None
        self.best_index = -1
        if path is not None and Path(path).is_file():
            self._resume(new_student)

    def add(self, params: dict, agreement: float, seconds: float, student: ZooModel) -> None:
        """Record one trained point; keep its student if it agrees best (first wins ties)."""
        self.results.append({**params, "validation_agreement": agreement, "seconds": seconds})
        best = self.best
        if best is None or agreement > self.results[self.best_index]["validation_agreement"]:
            best, self.best_index = student, len(self.results) - 1
        self.best = best
        if self.path is not None:
            tensors = {f"student.{k}": v for k, v in best.state_dict().items()}
            record = {"settings": self.settings, "results": self.results, "best": self.best_index}
            save_with_record(self.path, tensors, record)

    def _resume(self, new_student) -> None:
        tensors, record = load_with_record(self.path, what="distillation checkpoint")
        if "settings" not in record:
            raise ValueError(f"{self.path} is not an unboxed distillation checkpoint")
        if record["settings"] != as_recorded(self.settings):
            raise ValueError(
                f"{self.path} was made with other settings or data; delete it or pass "
                "another checkpoint"
            )
        try:
            results, best = list(record["results"]), record["best"]
            done = [{k: r[k] for k in GRID_KEYS} for r in results]
            agreements = [float(r["validation_agreement"]) for r in results]
            if not (done and done == self.points[: len(done)] and is_int(best)):
                raise ValueError("its record of grid points is not a start of this grid")
            if not 0 <= best < len(results) or best != int(np.argmax(agreements)):
                raise ValueError(f"its best point {best!r} is not the best it records")
            student = new_student()
            student.load_state_dict(
                {k[8:]: v for k, v in tensors.items() if k.startswith("student.")}
            )
            check_finite_weights(student, what="its student")
        except (KeyError, TypeError, ValueError, RuntimeError, FloatingPointError) as err:
            raise ValueError(f"{self.path} is a damaged distillation checkpoint: {err}") from err
        self.results, self.best, self.best_index = results, student, best


def _mixup(X: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random convex combinations ``lam * X[i] + (1 - lam) * X[j]``, lam ~ U(0, 1).

    Parameters
    ----------
    X : ndarray of shape (m, d)
    n : int
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of shape (n, d), X's dtype
    """
    i, j = rng.integers(0, X.shape[0], size=(2, n))
    lam = rng.uniform(size=(n, 1)).astype(X.dtype)
    return lam * X[i] + (1 - lam) * X[j]


def _train_student(
    student: nn.Module,
    X: torch.Tensor,
    teacher_logp: torch.Tensor,
    y: torch.Tensor,
    *,
    temperature: float,
    alpha: float,
    lr: float,
    batch_size: int,
    epochs: int,
    seed: int,
) -> None:
    """Adam with a cosine learning rate from ``lr`` to 0, as :func:`unboxed.zoo.train`."""
    optimizer = torch.optim.Adam(student.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    steps = math.ceil(X.shape[0] / batch_size)
    total = epochs * steps
    student.train()
    for epoch in range(epochs):
        order = torch.randperm(X.shape[0], generator=generator)
        for step in range(steps):
            for group in optimizer.param_groups:
                group["lr"] = 0.5 * lr * (1 + math.cos(math.pi * (epoch * steps + step) / total))
            batch = order[step * batch_size : (step + 1) * batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = _kd_loss(student(X[batch]), teacher_logp[batch], y[batch], temperature, alpha)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the distillation loss became {loss.item()}")
            loss.backward()
            optimizer.step()
    check_finite_weights(student, what=f"distillation {DIVERGED}")
    student.eval()
