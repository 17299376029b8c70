"""Training of zoo models: Adam with a cosine learning-rate schedule, resumable.

With ``checkpoint=path`` the whole training state (weights, Adam moments, the
shuffling generator, the history) is written atomically to one safetensors file
before the first epoch and after every epoch. A run that is interrupted and started
again with the same settings (the same model object, or a fresh one built alike)
continues from the last finished epoch and ends with the same weights as an
uninterrupted run. The checkpoint records a hash of the starting weights: a model with
other ones (another initialisation, a model loaded to be fine-tuned) is refused, not
silently replaced by the checkpoint's run; an interrupted call leaves its model at the
last saved epoch, so that the same object resumes too.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._io import array_digest, as_recorded
from .._progress import progress
from .._validation import (
    ADAM_LR_SHARE,
    RandomState,
    check_checkpoint,
    check_instance,
    check_number,
    check_positive_int,
    int_seed,
)
from ..blackbox import module_input
from ..data import Dataset
from ._io import _tensors_digest, load_with_record, save_with_record
from ._models import DIVERGED, ZooModel, check_finite_weights


@dataclasses.dataclass(frozen=True)
class TrainingResult:
    """What a training run reached.

    Attributes
    ----------
    test_accuracy : float
        Accuracy on the data set's test split after the last epoch.
    epoch_loss : tuple of float
        Mean training loss per epoch.
    epoch_test_accuracy : tuple of float
        Test accuracy after each epoch.
    seconds : float
        Wall time of this call (not counting epochs restored from a checkpoint).
    settings : dict
        The settings, for the record saved with the model.
    """

    test_accuracy: float
    epoch_loss: tuple[float, ...]
    epoch_test_accuracy: tuple[float, ...]
    seconds: float
    settings: dict[str, Any]


def _tensors(model: ZooModel, dataset: Dataset) -> tuple[torch.Tensor, ...]:
    n_in = math.prod(model.input_shape)
    if n_in != dataset.n_features:
        raise ValueError(
            f"the model takes {n_in} features but {dataset.name!r} has {dataset.n_features}"
        )
    if model.n_classes < dataset.n_classes:
        raise ValueError(
            f"the model has {model.n_classes} outputs but {dataset.name!r} has "
            f"{dataset.n_classes} classes"
        )
    if np.unique(dataset.y_train).size < 2:
        raise ValueError(f"{dataset.name!r} has a single class in its training split")
    shape = (-1, *model.input_shape)
    return (
        _tensor(dataset.X_train, torch.float32).reshape(shape),
        _tensor(dataset.y_train),
        _tensor(dataset.X_test, torch.float32).reshape(shape),
        _tensor(dataset.y_test),
    )


def _tensor(arr: np.ndarray, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``arr`` as a tensor, sharing its memory where torch can.

    torch warns (once per process) when it shares a read-only array, as a user's
    Dataset may hold one (a memory map, a frozen array); training never writes to its
    data, but a copy of that array alone keeps the warning away and the built-in data
    sets, which are writable, uncopied.
    """
    shared = dtype is None or arr.dtype == np.float32  # else as_tensor converts, a copy
    if shared and not arr.flags.writeable:
        arr = np.array(arr)
    return torch.as_tensor(arr, dtype=dtype)


def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int = 2048) -> float:
    """The share of rows of ``X`` that ``model`` classifies as ``y``.

    The model is left in eval mode.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier that maps a batch of ``X`` to one logit (or score) per class.
    X : torch.Tensor or array-like of shape (n_samples, ...)
        The model's inputs, at least one row, finite; sent in the model's dtype and
        device. A :class:`ZooModel` takes its ``input_shape`` or flat rows, as its
        black box does.
    y : torch.Tensor or array-like of shape (n_samples,)
        One class label per row of ``X``: whole numbers from 0 to the number of
        outputs less 1.
    batch_size : int, default=2048
        Rows per forward pass, at least 1.

    Returns
    -------
    float
        In [0, 1].
    """
    check_instance(model, nn.Module, name="model", what="a torch.nn.Module")
    batch_size = check_positive_int(batch_size, name="batch_size")
    X, y = _as_tensor(X, name="X"), _as_tensor(y, name="y")
    if X.ndim == 0 or X.shape[0] == 0:  # a ZeroDivisionError before
        raise ValueError(f"X is empty or a scalar (shape {tuple(X.shape)}); expected rows")
    if y.shape != (X.shape[0],):
        raise ValueError(
            f"y must have shape ({X.shape[0]},), one label per row, got {tuple(y.shape)}"
        )
    # NaN rows give NaN logits, whose argmax is 0: they scored as class 0 before.
    if X.is_floating_point() and not _all_finite(X):
        raise ValueError("X holds NaN or infinite values")
    # Half labels never matched a class, and negative ones none either.
    whole = not y.is_complex() and y.dtype != torch.bool
    if whole and y.is_floating_point():
        whole = bool(torch.isfinite(y).all()) and bool((y == y.round()).all())
    if not whole or bool((y < 0).any()):
        raise ValueError("y must hold integer class labels 0, 1, ..., one per row of X")
    if isinstance(model, ZooModel):  # flat rows or images, as its black box takes them
        if math.prod(X.shape[1:]) != math.prod(model.input_shape):
            raise ValueError(
                f"X has {math.prod(X.shape[1:])} values per row; the model takes "
                f"{model.input_shape}"
            )
        X = X.reshape(-1, *model.input_shape)
    model.eval()
    correct = 0
    with torch.inference_mode():
        for start in range(0, X.shape[0], batch_size):
            logits = model(module_input(model, X[start : start + batch_size]))
            if not bool(torch.isfinite(logits).all()):
                raise FloatingPointError("the model gives NaN or infinite outputs on X")
            labels = y[start : start + batch_size].cpu()
            if labels.numel() and int(labels.max()) >= logits.shape[1]:
                raise ValueError(
                    f"y holds class {int(labels.max())} but the model has "
                    f"{logits.shape[1]} outputs (classes 0 to {logits.shape[1] - 1})"
                )
            correct += int((logits.argmax(1).cpu() == labels).sum())
    return correct / X.shape[0]


def _all_finite(X: torch.Tensor) -> bool:
    """Whether ``X`` holds no NaN or infinity, by one sum where it can: a finite sum
    means every value is finite (NaN and infinity propagate). ``isfinite(X).all()``
    builds a mask of X's size, and on 60,000 x 784 rows took as long as an MLP's
    forward pass over them; a sum that overflowed goes to that exact scan."""
    return bool(torch.isfinite(X.sum())) or bool(torch.isfinite(X).all())


def _as_tensor(values: object, *, name: str) -> torch.Tensor:
    """``values`` (a tensor, an array, a frame, a list) as a tensor, numbers only."""
    if isinstance(values, torch.Tensor):
        return values
    arr = np.asarray(values)  # a DataFrame raised a KeyError in torch.as_tensor
    if arr.dtype.kind not in "biuf":  # strings raised a TypeError in torch
        what = "integer class labels" if name == "y" else "numbers"
        raise ValueError(f"{name} must hold {what}, got dtype {arr.dtype}")
    return torch.as_tensor(arr)


def _check_adam_rates(
    model: nn.Module, lr: object, weight_decay: object = 0.0
) -> tuple[float, float]:
    """``lr`` (> 0) and ``weight_decay`` (>= 0) checked for torch's Adam on ``model``'s
    weights. Adam's first step is lr / (1 - beta1), 10 lr at its default beta1 = 0.9, and
    it adds weight_decay times each weight, both converted to the weights' dtype: on
    float32 ones lr=1e38 (or weight_decay=1e300) raised torch's bare "value cannot be
    converted to type float without overflow" at the first step, after the data was
    read."""
    lr = check_number(lr, name="lr")
    weight_decay = check_number(weight_decay, name="weight_decay", strict=False)
    dtype = next(model.parameters()).dtype
    largest = float(torch.finfo(dtype).max)
    if lr > largest * ADAM_LR_SHARE:
        raise ValueError(
            f"lr must be at most {largest * ADAM_LR_SHARE:.4g}, where Adam's first step, 10 lr, "
            f"still fits the model's {dtype}, got {lr!r}"
        )
    if weight_decay > largest:
        raise ValueError(
            f"weight_decay must be at most {largest:.4g}, the largest number of the "
            f"model's {dtype}, got {weight_decay!r}"
        )
    return lr, weight_decay


def train(
    model: ZooModel,
    dataset: Dataset,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 2e-3,
    weight_decay: float = 0.0,
    random_state: RandomState = 0,
    checkpoint: str | os.PathLike | None = None,
    verbose: bool = True,
) -> TrainingResult:
    """Train ``model`` in place on ``dataset`` with cross-entropy and Adam.

    The learning rate follows a cosine schedule from ``lr`` to 0 over all steps.
    ``model.class_names`` becomes the data set's (None unless it has one class per
    output), and so does ``model.feature_names`` for a table (None for images).

    Parameters
    ----------
    model : ZooModel
        Trained on its device, in its dtype: move it first (``model.to("cuda")``) to
        train on a GPU. The batches are shuffled on the CPU, so a seed draws the same
        batches on any device.
    dataset : Dataset
    epochs, batch_size : int
    lr, weight_decay : float
    random_state : int or numpy.random.Generator
        Seeds the shuffling of the training set. The same seed gives the same weights
        only at the same number of torch threads: torch's CPU kernels sum in an order
        that depends on it (seed-0 LeNet on MNIST: test accuracy 0.9815 with
        ``OMP_NUM_THREADS=1``, 0.9800 with 2). Package versions or the processor can
        change them too (0.9805 with 2 threads in a later run).
    checkpoint : path-like, optional
        A file to save the training state to before the first epoch and after every
        epoch, and to resume from. One made with other settings, data or starting
        weights is refused. An interrupted call leaves ``model`` at the last epoch
        saved.
    verbose : bool
        Show a progress bar.

    Returns
    -------
    TrainingResult
    """
    # checked first: bare AttributeErrors on input_shape before
    check_instance(model, ZooModel, name="model", what="a ZooModel (from unboxed.zoo)")
    check_instance(dataset, Dataset, name="dataset", what="an unboxed Dataset")
    epochs = check_positive_int(epochs, name="epochs")
    batch_size = check_positive_int(batch_size, name="batch_size")
    check_checkpoint(checkpoint, random_state)
    random_state = int_seed(random_state)
    lr, weight_decay = _check_adam_rates(model, lr, weight_decay)
    X, y, X_test, y_test = _tensors(model, dataset)
    # The data set's names go with the model (to its black box and its saved folder);
    # a model with more outputs than the data set has classes has no name for the rest.
    same = model.n_classes == dataset.n_classes
    model.class_names = tuple(dataset.class_names) if same else None
    # Columns only, as the CLI's black boxes take them: an image's pixels are not named.
    tabular = dataset.image_shape is None
    model.feature_names = tuple(dataset.feature_names) if tabular else None
    settings = {
        "dataset": dataset.name,
        "n_train": int(X.shape[0]),
        # Other data of the same name and size (two spurious-cue variants, say) must
        # not resume this run.
        "data_sha256": array_digest(*(t.numpy() for t in (X, y, X_test, y_test))),
        "model": model.config,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "random_state": random_state,
    }
    # The batches go where the model is; the shuffling stays on the CPU, so a seed
    # draws the same batches on any device.
    X = module_input(model, X)
    y = y.to(X.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(random_state)
    state: dict[str, Any] = {"epoch": 0, "loss": [], "test_accuracy": []}
    state = start_or_resume(checkpoint, settings, state, model, optimizer, generator)

    steps_per_epoch = math.ceil(X.shape[0] / batch_size)
    total_steps = epochs * steps_per_epoch
    loss_fn = nn.CrossEntropyLoss()
    start_time = time.perf_counter()
    with (
        progress(
            total=total_steps,
            verbose=verbose,
            desc=f"train {model.config['architecture']}",
            unit="batch",
        ) as bar,
        back_to_saved(model, checkpoint),
    ):
        bar.update(state["epoch"] * steps_per_epoch)
        for epoch in range(state["epoch"], epochs):
            model.train()
            order = torch.randperm(X.shape[0], generator=generator)
            losses = []
            for step in range(steps_per_epoch):
                global_step = epoch * steps_per_epoch + step
                for group in optimizer.param_groups:
                    group["lr"] = 0.5 * lr * (1 + math.cos(math.pi * global_step / total_steps))
                batch = order[step * batch_size : (step + 1) * batch_size].to(X.device)
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(X[batch]), y[batch])
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"the training loss became {loss.item()} at epoch {epoch}"
                    )
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                bar.update(1)
            check_finite_weights(model, what=f"{DIVERGED} at epoch {epoch}")
            state["epoch"] = epoch + 1
            state["loss"].append(float(np.mean(losses)))
            state["test_accuracy"].append(accuracy(model, X_test, y_test))
            bar.set_postfix(
                loss=f"{state['loss'][-1]:.3f}", test_acc=f"{state['test_accuracy'][-1]:.4f}"
            )
            if checkpoint is not None:
                save_training_state(checkpoint, settings, state, model, optimizer, generator)
    model.eval()
    return TrainingResult(
        test_accuracy=state["test_accuracy"][-1],
        epoch_loss=tuple(state["loss"]),
        epoch_test_accuracy=tuple(state["test_accuracy"]),
        seconds=time.perf_counter() - start_time,
        # the same record with a checkpoint or without
        settings={k: v for k, v in settings.items() if k != START_WEIGHTS},
    )


#: The key of ``settings`` that holds a hash of the model's weights when its run began.
START_WEIGHTS = "start_weights_sha256"


def start_or_resume(
    checkpoint: str | os.PathLike | None,
    settings: dict[str, Any],
    state: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
) -> dict[str, Any]:
    """The training state to begin from: ``state`` (before the first epoch), saved to
    ``checkpoint`` so that the first epoch can be resumed too, or the state of an
    existing ``checkpoint``, restored into ``model``, ``optimizer`` and ``generator``.

    ``settings`` gains the hash of the model's starting weights (:data:`START_WEIGHTS`),
    so that a checkpoint made from other starting weights is refused; without a
    checkpoint it returns ``state`` and changes nothing.

    Returns
    -------
    dict
        The state to train from.
    """
    if checkpoint is None:
        return state
    settings[START_WEIGHTS] = weights_digest(model)
    if Path(checkpoint).is_file():
        return restore_training_state(checkpoint, settings, state, model, optimizer, generator)[0]
    save_training_state(checkpoint, settings, state, model, optimizer, generator)
    return state


def weights_digest(model: nn.Module) -> str:
    """A hash of ``model``'s weights and buffers (names, dtypes, shapes, values)."""
    return _tensors_digest(model.state_dict())


@contextlib.contextmanager
def back_to_saved(model: nn.Module, checkpoint: str | os.PathLike | None) -> Iterator[None]:
    """On any exception in the block, put ``model`` back to the weights in
    ``checkpoint`` (None: leave it), which the block's loop keeps saved.

    The loop trains the caller's model in place: interrupted mid-epoch it would hold
    weights no checkpoint knows, and the same object could not be told from a model
    with other starting weights when the call is run again. The file is read, not a
    copy kept in memory: a crash just after a save's rename leaves the newer weights
    there, and they are the ones a resume starts from.
    """
    try:
        yield
    except BaseException:
        if checkpoint is not None:
            # Unreadable, the model stays as it is, and a rerun refuses it clearly.
            with contextlib.suppress(ValueError, OSError, RuntimeError):
                tensors, _ = load_with_record(checkpoint, what="training checkpoint")
                model.load_state_dict(
                    {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
                )
        raise


def save_training_state(
    path: str | os.PathLike,
    settings: dict[str, Any],
    state: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    extra: dict[str, torch.Tensor] | None = None,
) -> None:
    """Save an epoch loop's state (weights, Adam's moments, the shuffling generator and
    ``state``: ``epoch`` and one list per history, one entry per finished epoch), and
    ``extra`` tensors the loop keeps besides.

    :func:`train` and :func:`unboxed.zoo.train_vae` save it before the first step too
    (epoch 0, no moments yet): they train the caller's model in place, so the same call
    run again after an interrupt in the first epoch would otherwise go on from the
    half-trained weights, with no checkpoint to put them back.
    """
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    for index, moments in optimizer.state_dict()["state"].items():
        for key, value in moments.items():
            tensors[f"optim.{index}.{key}"] = torch.as_tensor(value)
    tensors["generator"] = generator.get_state()
    tensors.update({f"extra.{k}": v for k, v in (extra or {}).items()})
    save_with_record(path, tensors, {"settings": settings, "state": state})


def restore_training_state(
    path: str | os.PathLike,
    settings: dict[str, Any],
    fresh: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    read_extra: Callable[[dict[str, torch.Tensor], dict[str, Any]], Any] | None = None,
) -> tuple[dict[str, Any], Any]:
    """Load what :func:`save_training_state` saved into ``model``, ``optimizer`` and
    ``generator``, and return its ``state``, which must hold the keys of ``fresh`` (the
    state before the first epoch); a clear error for other settings or a damaged file.

    With :data:`START_WEIGHTS` in ``settings`` (the hash of the model's weights now),
    the model must hold the weights the checkpoint's run started from or the ones it
    saved; ``settings`` then takes the run's start.

    ``read_extra(extra, state)``, given the saved ``extra`` tensors, returns what the
    caller keeps of them (the second value returned; None without it), or raises
    ValueError if they are damaged. It runs before anything is loaded.
    """
    tensors, record = load_with_record(path, what="training checkpoint")
    if "settings" not in record:
        raise ValueError(f"{path} is not an unboxed training checkpoint")
    ours, theirs = dict(as_recorded(settings)), record["settings"]
    start = ours.pop(START_WEIGHTS, None)
    if isinstance(theirs, dict) and start is not None:
        theirs = {k: v for k, v in theirs.items() if k != START_WEIGHTS}
    if theirs != ours:
        raise ValueError(
            f"{path} was made with different settings{_differences(theirs, ours)}; delete "
            "it or pass another checkpoint"
        )
    if start is not None:
        # The model passed must be the one the run started from (built alike) or the
        # one it saved (the same object, put back to its last epoch by the interrupt).
        # A checkpoint from before the start was recorded (None) resumes unchecked.
        begun = record["settings"].get(START_WEIGHTS)
        model_tensors = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        if begun is not None and start not in (begun, _tensors_digest(model_tensors)):
            raise ValueError(
                f"{path} was made from other starting weights than the model's: resuming "
                "would replace them; delete it or pass another checkpoint"
            )
        settings[START_WEIGHTS] = begun  # the later saves keep the run's start
    # A refused checkpoint must leave the caller's model as it was: the record is
    # checked before anything is loaded, and a failed load is rolled back.
    before = _copies(model, optimizer, generator)
    try:
        state = _checked_state(record.get("state"), fresh, settings["epochs"])
        # Adam's moments exist from the first step on: a file of epoch 0 with them holds
        # trained weights, which would be trained again from the start.
        if any(k.startswith("optim.") for k in tensors) != (state["epoch"] > 0):
            raise ValueError(f"its epoch {state['epoch']} does not fit its optimizer state")
        extra = {k[6:]: v for k, v in tensors.items() if k.startswith("extra.")}
        kept = None if read_extra is None else read_extra(extra, state)
        _check_model_tensors(tensors, model)
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        optim_state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                optim_state.setdefault(int(index), {})[name] = value
        _check_moments(optim_state, optimizer)
        optimizer.load_state_dict(
            {"state": optim_state, "param_groups": optimizer.state_dict()["param_groups"]}
        )
        generator.set_state(tensors["generator"])
        check_finite_weights(model, what="its model")
        return state, kept
    except (KeyError, RuntimeError, ValueError, TypeError, FloatingPointError) as err:
        _put_back(before, model, optimizer, generator)
        raise ValueError(f"{path} is a damaged training checkpoint: {err}") from err


def _differences(theirs: object, ours: dict[str, Any]) -> str:
    """Which settings a checkpoint's differ in, `` (epochs: 1 there, 3 now)``: a short
    run continued with more epochs is refused (its cosine schedule spanned fewer steps),
    and the user should not have to guess why. Long values (the model's config, the
    data's hash) are named only."""
    if not isinstance(theirs, dict):
        return ""
    parts = []
    for key in sorted(set(theirs) | set(ours), key=str):
        there, now = theirs.get(key), ours.get(key)
        if there == now:
            continue
        short = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (there, now))
        parts.append(f"{key}: {there!r} there, {now!r} now" if short else f"{key} differs")
    return f" ({'; '.join(parts)})" if parts else ""


def _check_model_tensors(tensors: dict[str, torch.Tensor], model: nn.Module) -> None:
    """Refuse tensors no training checkpoint holds, and model tensors of another dtype
    than the model's: ``load_state_dict`` casts them silently (int weights became
    floats) and the saved model then held what no save had written."""
    unknown = [
        key
        for key in tensors
        if key != "generator" and not key.startswith(("model.", "optim.", "extra."))
    ]
    if unknown:
        raise ValueError(f"it holds tensors no training checkpoint has: {sorted(unknown)}")
    for name, value in model.state_dict().items():
        saved = tensors.get(f"model.{name}")
        if saved is not None and saved.dtype != value.dtype:
            raise ValueError(f"its model tensor {name} is {saved.dtype}, not {value.dtype}")


#: What Adam keeps for each parameter once it has stepped: every loop here uses Adam.
_ADAM_STATE = ("exp_avg", "exp_avg_sq", "step")


def _check_moments(
    moments: dict[int, dict[str, torch.Tensor]], optimizer: torch.optim.Optimizer
) -> None:
    """Refuse saved Adam state that training could not go on from: a parameter index
    the optimizer lacks, a missing or extra entry, a moment of another shape, or any
    value that is not a finite float (or a negative second moment, a step below 1).

    ``load_state_dict`` takes such state as it is: a missing moment raised a KeyError
    inside ``Adam.step``, one of the wrong shape a RuntimeError from torch's arithmetic,
    and a NaN a "loss became nan" an epoch later, none of them naming the file.
    """
    params = [param for group in optimizer.param_groups for param in group["params"]]
    for index, state in moments.items():
        if not 0 <= index < len(params):  # a frozen parameter has no state: a subset is fine
            raise ValueError(f"its optimizer state names parameter {index} of {len(params)}")
        if sorted(state) != sorted(_ADAM_STATE):
            raise ValueError(
                f"its optimizer state of parameter {index} holds {sorted(state)}, "
                f"not {sorted(_ADAM_STATE)}"
            )
        for name, value in state.items():
            shape = () if name == "step" else tuple(params[index].shape)
            if (
                not value.is_floating_point()
                or tuple(value.shape) != shape
                or not bool(torch.isfinite(value).all())
            ):
                raise ValueError(
                    f"its optimizer state {index}.{name} is not finite floats of shape {shape}"
                )
        if bool((state["exp_avg_sq"] < 0).any()) or float(state["step"]) < 1:
            raise ValueError(f"its optimizer state of parameter {index} is impossible for Adam")


def _checked_state(state: object, fresh: dict[str, Any], epochs: int) -> dict[str, Any]:
    """A saved loop state: the keys of ``fresh``, one entry per history per finished
    epoch (none at epoch 0, saved before the first step), and no more epochs than
    asked."""
    if not isinstance(state, dict) or set(state) != set(fresh):
        raise ValueError(f"its loop state must hold {sorted(fresh)}")
    epoch = state["epoch"]
    histories = [v for k, v in state.items() if k != "epoch"]
    if not (
        isinstance(epoch, int)
        and 0 <= epoch <= epochs
        and all(isinstance(h, list) and len(h) == epoch for h in histories)
    ):
        raise ValueError(f"its record of epochs is inconsistent (epoch {epoch!r})")
    return dict(state)


def _copies(model, optimizer, generator) -> tuple:
    """Copies of what a resume overwrites, to put back if it fails."""
    return (
        copy.deepcopy(model.state_dict()),
        copy.deepcopy(optimizer.state_dict()),
        generator.get_state(),
    )


def _put_back(copies: tuple, model, optimizer, generator) -> None:
    weights, optimizer_state, generator_state = copies
    model.load_state_dict(weights)
    optimizer.load_state_dict(optimizer_state)
    generator.set_state(generator_state)
