"""Reference black boxes: the papers' fully connected networks and a LeNet.

Every model is a :class:`ZooModel`, an ``nn.Sequential`` with readable layer names
(``fc1``, ``act1``, ``conv2``, ...) for :meth:`unboxed.BlackBox.features`, and a JSON
``config`` from which :func:`unboxed.zoo.load` rebuilds it without pickle.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from .._validation import (
    RandomState,
    check_positive_int,
    check_positive_ints,
    check_shape,
    int_seed,
)
from ..blackbox import BlackBox

#: Hidden-layer activations by the name a model's config records; each is built with
#: torch's defaults (GELU exact, LeakyReLU's slope 0.01), so the name alone rebuilds it.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
}


class ZooModel(nn.Sequential):
    """An ``nn.Sequential`` that remembers how it was built.

    Build one with :func:`mlp`, :func:`lenet` or :func:`build`, which fill ``config``.

    Parameters
    ----------
    layers : OrderedDict of str to torch.nn.Module
        The layers in order, by name.
    config : dict
        How to rebuild it, as under Attributes, plus ``"input_shape"`` (a list of
        int) and ``"n_classes"``.

    Attributes
    ----------
    config : dict
        ``{"architecture": ..., "kwargs": {...}}``; ``BUILDERS[architecture](**kwargs)``
        rebuilds the same network.
    class_names : tuple of str or None
        The name of each class (output), or None: :func:`train` records its data
        set's, :func:`save` and :func:`load` keep them, and :func:`as_blackbox` passes
        them on, so that plots of a Fashion-MNIST model read "class Trouser", not
        "class 1".
    feature_names : tuple of str or None
        The name of each input column of a model of a table, or None (images, or a
        model saved before names were kept): kept and passed on as ``class_names``
        are, so that a tree of the breast-cancer MLP reads "worst concave points",
        not "feature_27".
    """

    #: Not part of ``config``: the same architecture serves any data set.
    class_names: tuple[str, ...] | None = None
    feature_names: tuple[str, ...] | None = None

    def __init__(self, layers: OrderedDict[str, nn.Module], config: dict[str, Any]) -> None:
        super().__init__(layers)
        self.config = config

    def __getitem__(self, index: int | slice) -> nn.Module:
        # A slice is a different network, so it is a plain nn.Sequential without config.
        if isinstance(index, slice):
            return nn.Sequential(OrderedDict(list(self._modules.items())[index]))
        return super().__getitem__(index)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one input sample."""
        return tuple(self.config["input_shape"])

    @property
    def n_classes(self) -> int:
        """The number of classes: logits per sample (0 for a :class:`VAE`, a generator)."""
        return int(self.config["n_classes"])


#: How a training loop's :func:`check_finite_weights` message starts.
DIVERGED = "training diverged (lower the learning rate)"


def check_finite_weights(module: nn.Module, *, what: str) -> None:
    """Raise ``FloatingPointError`` if a parameter or buffer of ``module`` is NaN or
    infinite, starting the message with ``what``.

    Training checks each loss before its step, so only this catches a last step that
    diverged (say, with a huge learning rate) before a NaN model is returned or saved.
    """
    for name, tensor in itertools.chain(module.named_parameters(), module.named_buffers()):
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise FloatingPointError(f"{what}: {name} holds NaN or infinite values")


def _seeded(random_state: RandomState, build: Callable[[int], ZooModel]) -> ZooModel:
    """Build a model with torch's default generator seeded, then restore its state.

    Layer constructors draw their initial weights from torch's global generator;
    forking it keeps the seed local to this call. A ``numpy.random.Generator`` is
    turned into an int seed first, and that int is what the model's config records,
    so that :func:`unboxed.zoo.load` rebuilds the same architecture.
    """
    seed = int_seed(random_state)
    with cpu_seeded(seed):
        return build(seed)


@contextlib.contextmanager
def cpu_seeded(seed: int) -> Iterator[None]:
    """Seed torch's default CPU generator for the block, then restore its state.

    Not ``torch.manual_seed``: it seeds every device's generator too (CUDA, MPS, XPU),
    and ``fork_rng(devices=[])`` puts back only the CPU's, so on a GPU machine the
    user's CUDA generator was left reseeded. Layers built on the CPU draw from the CPU
    generator alone.
    """
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        yield


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]()


def mlp(
    widths: Sequence[int] = (256, 64),
    activation: str = "relu",
    *,
    n_features: int = 784,
    n_classes: int = 10,
    random_state: RandomState = 0,
) -> ZooModel:
    """A fully connected network: ``n_features - widths... - n_classes``.

    The default is the papers' 784-256-64-10. Layers are named ``fc1, act1, fc2, act2,
    ..., fc{L}``; the last one returns logits.

    Parameters
    ----------
    widths : sequence of int
        Hidden layer widths.
    activation : {"relu", "sigmoid", "tanh", "elu", "gelu", "silu", "leaky_relu"}
    n_features, n_classes : int
    random_state : int or numpy.random.Generator
        Seed for the initial weights.

    Returns
    -------
    ZooModel
    """
    widths = list(check_positive_ints(widths, name="widths"))
    n_features = check_positive_int(n_features, name="n_features")
    n_classes = check_positive_int(n_classes, name="n_classes", minimum=2)
    _activation(activation)

    def build(seed: int) -> ZooModel:
        config = {
            "architecture": "mlp",
            "kwargs": {
                "widths": widths,
                "activation": activation,
                "n_features": n_features,
                "n_classes": n_classes,
                "random_state": seed,
            },
            "input_shape": [n_features],
            "n_classes": n_classes,
        }
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        sizes = [n_features, *widths]
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes), start=1):
            layers[f"fc{i}"] = nn.Linear(fan_in, fan_out)
            layers[f"act{i}"] = _activation(activation)
        layers[f"fc{len(sizes)}"] = nn.Linear(sizes[-1], n_classes)
        return ZooModel(layers, config)

    return _seeded(random_state, build)


def lenet(
    *,
    input_shape: Sequence[int] = (1, 28, 28),
    n_classes: int = 10,
    activation: str = "relu",
    random_state: RandomState = 0,
) -> ZooModel:
    """LeNet-5: conv 6@5x5, pool, conv 16@5x5, pool, 120-84-``n_classes``.

    The first convolution pads by 2, as in the original on 32x32 inputs, so a 28x28
    image keeps its size and the second block gives 16x5x5. Inputs smaller than 20
    pixels (sklearn's 8x8 digits) would shrink to nothing, so there the second
    convolution pads by 2 too and the second block gives 16x2x2.

    Layers: ``conv1, act1, pool1, conv2, act2, pool2, flatten, fc1, act3, fc2, act4, fc3``.

    Parameters
    ----------
    input_shape : (C, H, W)
    n_classes : int
    activation : {"relu", "sigmoid", "tanh", "elu", "gelu", "silu", "leaky_relu"}
    random_state : int or numpy.random.Generator
        Seed for the initial weights.

    Returns
    -------
    ZooModel
    """
    shape = [check_positive_int(s, name="input_shape") for s in input_shape]
    if len(shape) != 3:
        raise ValueError(f"lenet takes input_shape (C, H, W), got {tuple(input_shape)}")
    channels, height, width = shape
    if min(height, width) < 4:
        raise ValueError(f"lenet needs images of at least 4x4 pixels, got {height}x{width}")
    n_classes = check_positive_int(n_classes, name="n_classes", minimum=2)
    _activation(activation)
    pad2 = 0 if min(height, width) >= 20 else 2
    out_h, out_w = (height // 2 + 2 * pad2 - 4) // 2, (width // 2 + 2 * pad2 - 4) // 2

    def build(seed: int) -> ZooModel:
        config = {
            "architecture": "lenet",
            "kwargs": {
                "input_shape": shape,
                "n_classes": n_classes,
                "activation": activation,
                "random_state": seed,
            },
            "input_shape": shape,
            "n_classes": n_classes,
        }
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            conv1=nn.Conv2d(channels, 6, 5, padding=2),
            act1=_activation(activation),
            pool1=nn.MaxPool2d(2),
            conv2=nn.Conv2d(6, 16, 5, padding=pad2),
            act2=_activation(activation),
            pool2=nn.MaxPool2d(2),
            flatten=nn.Flatten(),
            fc1=nn.Linear(16 * out_h * out_w, 120),
            act3=_activation(activation),
            fc2=nn.Linear(120, 84),
            act4=_activation(activation),
            fc3=nn.Linear(84, n_classes),
        )
        return ZooModel(layers, config)

    return _seeded(random_state, build)


BUILDERS: dict[str, Callable[..., ZooModel]] = {"mlp": mlp, "lenet": lenet}


def build(
    architecture: str, *, input_shape: Sequence[int], n_classes: int, **kwargs: Any
) -> ZooModel:
    """Build a zoo model for data of ``input_shape`` (one sample) and ``n_classes``.

    Parameters
    ----------
    architecture : {"mlp", "lenet"}
    input_shape : sequence of int
        ``(C, H, W)`` for images or ``(n_features,)``; an MLP takes the flattened size.
    n_classes : int
    **kwargs
        Passed to the builder (``widths``, ``activation``, ``random_state``).

    Returns
    -------
    ZooModel
    """
    shape = check_shape(input_shape)
    if "n_features" in kwargs:
        # input_shape gives it: passed again, Python said only "got multiple values for
        # keyword argument 'n_features'" (a LeNet: "unexpected keyword argument").
        raise TypeError("build takes the input's size from input_shape; leave n_features out")
    if architecture == "mlp":
        return mlp(n_features=math.prod(shape), n_classes=n_classes, **kwargs)
    if architecture == "lenet":
        if len(shape) == 2:
            shape = (1, *shape)
        if len(shape) != 3:
            raise ValueError(f"lenet needs image data, but the inputs have shape {shape}")
        return lenet(input_shape=shape, n_classes=n_classes, **kwargs)
    raise ValueError(f"unknown architecture {architecture!r}; choose from {sorted(BUILDERS)}")


def as_blackbox(model: ZooModel, **kwargs: Any) -> BlackBox:
    """Wrap a zoo model, which returns logits, as a :class:`~unboxed.BlackBox`.

    Parameters
    ----------
    model : ZooModel
        A classifier (a VAE is refused).
    **kwargs
        Passed to :meth:`BlackBox.from_torch` (``batch_size``, ``name``,
        ``class_names`` and ``feature_names``: by default the model's
        :attr:`ZooModel.class_names` and :attr:`ZooModel.feature_names`).

    Returns
    -------
    BlackBox
        A torch black box with ``output="logits"`` and the model's ``input_shape``.
    """
    if not isinstance(model, ZooModel):
        raise TypeError(f"as_blackbox takes a ZooModel, got {type(model).__name__}")
    if model.n_classes < 2:
        raise TypeError(f"{model.config['architecture']} is a generator, not a classifier")
    kwargs.setdefault("class_names", model.class_names)
    kwargs.setdefault("feature_names", model.feature_names)
    return BlackBox.from_torch(model, input_shape=model.input_shape, output="logits", **kwargs)
