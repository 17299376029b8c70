"""Activation maximization: what does a class (or a hidden unit) "look like" to the model?

Sources: ``002_3e5e1762af60ee33.txt``, "Activation Maximization" and "Constraint from
Generator", and ``004_7c9aaa9fd587bc3d.txt``, "Activation maximization framework".

- Plain: x* = argmax_x y_i(x). The slides show that on MNIST this gives noise, not
  digits ("Deep Neural Networks are Easily Fooled").
- Regularised: x* = argmax_x y_i(x) + R(x), where R(x) says "how likely x is a digit";
  the slides' example is R(x) = -sum_ij |x_ij|. Yosinski et al. (2015,
  arXiv:1506.06579, cited there) add L2 decay, blur and jitter; total variation is
  the usual smoothness prior.
- Generator-constrained: z* = argmax_z y_i(G(z)), x* = G(z*), with G the decoder of
  a VAE trained on the data (:func:`unboxed.zoo.vae`).

The class score y_i is taken as log p_i(x): it is monotone in the probability the
slides maximise but does not saturate at 1, so the optimisation keeps a gradient.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any, Literal, cast

import numpy as np

from .._estimator import Params
from .._progress import progress
from .._validation import (
    ADAM_LR_SHARE,
    FLOAT32_MAX,
    RandomState,
    allocate,
    check_array,
    check_bounds,
    check_instance,
    check_labels,
    check_names,
    check_not_bool,
    check_number,
    check_per_feature,
    check_positive_int,
    check_torch_seed,
    int_seed,
)
from ..blackbox import BlackBox, check_blackbox, class_title, grayscale_shape
from ..explanation import Explanation, _check_class_names, _top_k_order, make_meta

Regularizer = Literal["none", "l2", "l1", "tv", "jitter"]
#: Checked search bounds: two numbers, or two arrays of one value per feature.
Bounds = tuple[float | np.ndarray, float | np.ndarray]
REGULARIZERS = ("none", "l2", "l1", "tv", "jitter")
#: Default weight of each penalty; R is a sum over pixels, as on the slides.
DEFAULT_STRENGTH = {"none": 0.0, "l2": 0.02, "l1": 0.02, "tv": 0.02, "jitter": 0.0}


# repr=False keeps Explanation's short repr
@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Prototypes(Explanation):
    """Synthetic inputs that maximise a class or a unit: one row per target.

    Parameters
    ----------
    values : ndarray of shape (n_targets, n_features)
        The inputs x*, flattened in C order.
    target : ndarray of shape (n_targets,)
        The class (or, with ``meta["layer"]``, the unit) each row maximises.
    activation : ndarray of shape (n_targets,)
        The maximised score at x*: log p_target(x*) for a class, the unit's
        activation for a unit.
    probability : ndarray of shape (n_targets,), optional
        The black box's probability of ``target`` at x* (class targets only).
    latent : ndarray of shape (n_targets, latent_dim), optional
        z* for the generator-constrained version.
    meta : dict
    image_shape : tuple of int, optional
    feature_names : tuple of str, optional
    class_names : tuple of str, optional
        The model's label of each class, as text (``class_names[c]`` names ``target``
        c), for plots; recorded for class targets of a black box with
        :attr:`~unboxed.BlackBox.classes`. None (units, a model without labels, files
        saved before it existed) shows the indices.
    """

    values: np.ndarray
    target: np.ndarray
    activation: np.ndarray
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    probability: np.ndarray | None = None
    latent: np.ndarray | None = None
    image_shape: tuple[int, ...] | None = None
    feature_names: tuple[str, ...] | None = None
    class_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        values = check_array(self.values, name="values", ndim=2)
        n = values.shape[0]
        self._freeze("values", values)
        target = check_labels(self.target, n=n, name="target", allow_bool=False)  # an index
        self._freeze("target", target)
        object.__setattr__(self, "class_names", _check_class_names(self.class_names, target))
        for name in ("activation", "probability"):
            field = getattr(self, name)
            if field is None:
                continue
            arr = check_array(field, name=name, ndim=1)
            if arr.shape != (n,):
                raise ValueError(f"{name} has shape {arr.shape}; expected ({n},)")
            # A hand-edited file's p = 1.7 loaded, and was plotted as "p=1.70".
            if name == "probability" and (arr.min() < 0 or arr.max() > 1 + 1e-9):
                raise ValueError(
                    f"probability must hold probabilities in [0, 1], got values in "
                    f"[{arr.min():.4g}, {arr.max():.4g}]"
                )
            self._freeze(name, arr)
        if self.latent is not None:
            latent = check_array(self.latent, name="latent", ndim=2)
            if latent.shape[0] != n:
                raise ValueError(f"latent has {latent.shape[0]} rows; expected {n}")
            self._freeze("latent", latent)
        object.__setattr__(self, "feature_names", check_names(self.feature_names, values.shape[1]))
        self._check_features_and_meta()

    @property
    def n_samples(self) -> int:
        """The number of prototypes: rows of ``values``."""
        return int(self.values.shape[0])

    def top_k(self, k: int) -> np.ndarray:
        """The ``k`` largest features of each prototype (its brightest pixels), largest first.

        Parameters
        ----------
        k : int
            How many features, from 1 to ``n_features``.

        Returns
        -------
        ndarray of shape (n_targets, k)
        """
        return _top_k_order(self.values, k)

    def plot(self, *, panel_size: float = 1.8, top: int = 10) -> Any:
        """The prototypes as images (bars for tabular data), titled with their target
        ("class" and its label in :attr:`class_names`, or "unit" and its index for a
        hidden layer's units; the output layer's units are classes) and probability.

        Parameters
        ----------
        panel_size : float, default=1.8
            Inches per panel.
        top : int, default=10
            For tabular data, the bars per panel: the features of largest magnitude.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from ..report._plots import _as_image, _bars, _figure, _hide_unused_axes

        panel_size = check_number(panel_size, name="panel_size")
        top = check_positive_int(top, name="top")
        names = list(self.feature_names or [f"x{j}" for j in range(self.n_features)])
        # Bar panels widened by their longest name, as Attribution.plot's: at 1.8 in,
        # breast-cancer's names ran into the next panel and squeezed the value axis.
        labels = names if self.image_shape is None else None
        fig, axes = _figure(self.n_samples, panel_size=panel_size, labels=labels)
        for row, ax in zip(range(self.n_samples), axes, strict=False):
            target = int(self.target[row])
            # Files saved before "output_layer" was recorded show units as before.
            if self.meta.get("layer") is not None and not self.meta.get("output_layer"):
                title = f"unit {target}"
            else:
                name = target if self.class_names is None else self.class_names[target]
                title = class_title(name)
            if self.probability is not None:
                title += f": p={self.probability[row]:.2f}"
            if self.image_shape is None:
                _bars(ax, self.values[row], names, title, top)
                continue
            ax.imshow(_as_image(self.values[row], self.image_shape), cmap="gray")
            ax.set_title(title, fontsize=8)
            ax.axis("off")
        _hide_unused_axes(fig.axes)  # axes, a flat iterator, is spent
        fig.tight_layout()
        return fig


def _penalty(x: Any, regularizer: str, image_shape: tuple[int, int] | None) -> Any:
    """R(x) as a penalty to subtract, per row: the slides' sums over pixels.

    x : (n, d) tensor -> (n,) tensor
    """
    if regularizer == "l2":
        return x.pow(2).sum(1)
    if regularizer == "l1":
        # 002_3e5e1762af60ee33.txt: R(x) = -sum_ij |x_ij|, "how likely x is a digit".
        return x.abs().sum(1)
    if regularizer == "tv":
        if image_shape is None:
            raise ValueError("regularizer='tv' needs image inputs")
        img = x.reshape(x.shape[0], *image_shape)
        dv = (img[:, 1:, :] - img[:, :-1, :]).abs().sum((1, 2))
        dh = (img[:, :, 1:] - img[:, :, :-1]).abs().sum((1, 2))
        return dv + dh
    return x.new_zeros(x.shape[0])


def _check_regularizer(regularizer: object, blackbox: BlackBox) -> None:
    """Refuse an unknown regularizer, or one that shifts or compares neighbouring pixels
    on a black box whose inputs are not (H, W) images: the black box alone tells."""
    if regularizer not in REGULARIZERS:
        raise ValueError(f"regularizer must be one of {REGULARIZERS}, got {regularizer!r}")
    if regularizer in ("tv", "jitter") and grayscale_shape(blackbox.input_shape) is None:
        raise ValueError(
            f"regularizer={regularizer!r} needs (H, W) image inputs; this black box takes "
            f"inputs of shape {blackbox.input_shape}"
        )


def _blur(x: Any, image_shape: tuple[int, int], sigma: float) -> Any:
    """Gaussian blur of each image row with a 3x3 kernel (Yosinski et al., 2015)."""
    import torch
    from torch.nn import functional as F

    t = torch.arange(-1, 2, dtype=x.dtype, device=x.device)
    k1 = torch.exp(-(t**2) / (2 * sigma**2))
    k1 = k1 / k1.sum()
    kernel = (k1[:, None] * k1[None, :])[None, None]
    img = x.reshape(x.shape[0], 1, *image_shape)
    return F.conv2d(F.pad(img, (1, 1, 1, 1), mode="replicate"), kernel).reshape(x.shape)


@dataclasses.dataclass(eq=False)
class _Search:
    """One call's search: its targets, its batch of points, the step it is at, and the
    names its errors give those points.

    Row ``s * n + i`` of the batch searches for target ``i`` from start ``s``.
    """

    blackbox: BlackBox
    targets: np.ndarray
    n_starts: int
    layer: str | None
    output_layer: bool
    #: (n_starts * n, ...) tensor: each feature's place in its range, or with a
    #: generator its latent z, the leaf that Adam moves
    variable: Any
    #: a tensor on the model's device, in its dtype
    like: Any
    bounds: Bounds
    image_shape: tuple[int, int] | None
    jitter_shape: tuple[int, int] | None
    #: the torch generator of the starts, then of the jitter's shifts
    gen: Any
    step: int = 0
    #: the jitter's shift of this step's images (rows, columns), which the model answers
    #: for; None without jitter and after the last step
    shift: tuple[int, int] | None = None

    @property
    def n(self) -> int:
        return int(self.targets.size)

    @property
    def batch(self) -> int:
        return int(self.variable.shape[0])

    @property
    def tiled(self) -> np.ndarray:
        """Each row's target."""
        return np.tile(self.targets, self.n_starts)

    def place(self) -> str:
        # Where a step's gradient fails: the failing batch is the search's own points,
        # not rows the user passed; with the jitter, their images rolled, as the model
        # saw them.
        searched = (
            f"{self.n_starts} start{'s' if self.n_starts != 1 else ''} x "
            f"{self.n} target{'s' if self.n != 1 else ''}"
        )
        if self.shift is None:
            return f"at step {self.step} of the search, on the points of its {searched}"
        return (
            f"at step {self.step} of the search, on the jittered points of its {searched} "
            f"({self.shifted('their images')})"
        )

    def point(self, row: int) -> str:
        """Row ``row`` of the batch, named by its target and start."""
        target = int(self.targets[row % self.n])
        if self.layer is None or self.output_layer:
            name = class_title(self.blackbox.class_name(target))
        else:
            name = f"unit {target}"
        start = f", from start {row // self.n} of {self.n_starts}" if self.n_starts > 1 else ""
        return f"{name}{start}"

    def searched(self, row: int) -> str:
        """What the model answered for at this step for row ``row``: with the jitter, not
        the point searched but its shifted image."""
        if self.shift is None:
            return f"the point searched at step {self.step} for {self.point(row)}"
        return (
            f"the jittered point searched at step {self.step} for {self.point(row)} "
            f"({self.shifted()})"
        )

    def there(self) -> str:
        """Where the model answered for a point named: the point, or its jittered image."""
        return "there" if self.shift is None else f"at its jittered point ({self.shifted()})"

    def shifted(self, images: str = "its image") -> str:
        """How this step's jitter moved the ``images`` (torch.roll along rows and
        columns): one point's, or the whole batch's, all moved alike."""
        dy, dx = cast(tuple[int, int], self.shift)
        moves = [
            f"{abs(n)} pixel{'s' if abs(n) != 1 else ''} {way}"
            for n, way in ((dy, "down" if dy > 0 else "up"), (dx, "right" if dx > 0 else "left"))
            if n
        ]
        return f"{images} rolled " + " and ".join(moves) if moves else "not shifted at this step"

    def found(self, row: int) -> str:
        return f"the point found for {self.point(row)}"

    def refuse_nonfinite(
        self,
        values: Any,
        what: str,
        when: str,
        why: str,
        hint: str = "a lower lr or strength may help",
    ) -> None:
        """Raise FloatingPointError if a row of ``values`` holds NaN or infinity."""
        # Named by the first such row's target and start: a NaN let through made that
        # start the best (argmax) and failed later on an X the user never passed.
        row = self.first_nonfinite(values)
        if row is not None:
            raise FloatingPointError(
                f"{what} became NaN or infinite {when}, first for {self.point(row)}{why} ({hint})"
            )

    def first_nonfinite(self, values: Any) -> int | None:
        """The first row of ``values`` (one per point of the batch) that holds NaN or
        infinity, or None."""
        import torch

        finite = torch.isfinite(values.reshape(self.batch, -1)).all(1)
        return None if bool(finite.all()) else int(torch.nonzero(~finite)[0, 0])


class ActivationMaximization(Params):
    """Find the input that the black box finds most typical of a class or a hidden unit.

    Parameters
    ----------
    blackbox : BlackBox
        A torch black box (the search follows its gradient).
    regularizer : {"none", "l2", "l1", "tv", "jitter"}
        R(x): L2 decay, the slides' -sum |x_ij|, total variation, or random jitter
        (shifts of up to ``jitter`` pixels every step) with a light blur every
        ``blur_every`` steps. With ``generator``, R applies to G(z).
    strength : float, optional
        The weight of the penalty; defaults to :data:`DEFAULT_STRENGTH`. The penalty
        is in input units (l2 sums x**2), so inputs in [0, 16] need a strength about
        256 times smaller for l2 (16 for l1 and tv) than inputs in [0, 1].
    steps : int
        Adam steps.
    lr : float
        Adam's learning rate, as a fraction of each feature's range between
        ``bounds``: the search moves each feature's place in its range, so the same
        lr suits pixels in [0, 1] and in [0, 255]. With ``generator``, the search
        moves z, and lr is in latent units.
    generator : VAE, optional
        A trained :func:`unboxed.zoo.vae`. The search then runs over its latent z,
        from z ~ N(0, 0.25 I), and returns x* = G(z*), as in the slides' simplified
        version. It may sit on another device than the black box's module: z stays
        on the generator's, and G(z) goes to the module's.
    prior_strength : float
        Weight of an optional latent prior log N(z; 0, I) added to the objective
        (generator only). 0 by default: on digits and MNIST the prior pulled z towards
        the origin, whose decoding is a blurred average digit, and made x* less
        realistic by both realism scores (benchmarks/global_probes.py).
    bounds : (low, high), default=(0.0, 1.0)
        The valid input values; x is projected onto them after every step. Each of
        ``low`` and ``high`` is a number, the same for every feature (an image's
        pixels in [0, 1]), or one value per feature (an array broadcastable to one
        input), such as ``(X_train.min(0), X_train.max(0))`` for tabular features of
        different units. Numbers need ``low < high``; per feature ``low <= high``, and
        a feature whose two bounds are equal stays fixed at that value. The bounds
        and their width lie within float32's range, and within the model's dtype's
        (65504 for float16).
    jitter, blur_every : int
        The jitter regularizer's largest shift (pixels) and blur period (steps).
    n_starts : int, default=1
        Searches per target, each from its own starting point, all in one batch; each
        target keeps the one that reaches the highest objective (its score less the
        penalty). One start can stall: through a VAE trained on Fashion-MNIST, one of
        ten classes stopped at p = 0.49 from one start, and reached p >= 0.999 from
        each of four others. It costs ``n_starts`` times the queries: the search asks
        the model about ``(steps + 1) * n_starts * n_targets`` rows (each step's points,
        then the last), and then, for classes, about the ``n_targets`` prototypes' own
        probabilities (:attr:`BlackBox.n_queries` counts them all).
    random_state : int, numpy.random.Generator or None
        Seeds the starting points and the jitter.
    verbose : bool
        Show a progress bar.
    """

    method = "activation_maximization"

    def __init__(
        self,
        blackbox: BlackBox,
        *,
        regularizer: Regularizer = "l2",
        strength: float | None = None,
        steps: int = 200,
        lr: float = 0.05,
        generator: Any = None,
        prior_strength: float = 0.0,
        bounds: tuple[float | np.ndarray, float | np.ndarray] = (0.0, 1.0),
        jitter: int = 1,
        blur_every: int = 10,
        n_starts: int = 1,
        random_state: RandomState = None,
        verbose: bool = False,
    ) -> None:
        check_blackbox(blackbox)
        blackbox._require_torch("ActivationMaximization")
        _check_regularizer(regularizer, blackbox)
        if strength is not None:
            check_number(strength, name="strength", strict=False)
        check_number(prior_strength, name="prior_strength", strict=False)
        _check_search_bounds(bounds, blackbox)
        if generator is not None:
            from ..zoo import VAE

            check_instance(generator, VAE, name="generator", what="a zoo VAE")
            if generator.n_features != blackbox.n_features:
                raise ValueError(
                    f"the generator makes {generator.n_features} features; the black box "
                    f"takes {blackbox.n_features}"
                )
        _check_lr(lr, blackbox, generator)
        check_positive_int(steps, name="steps")
        check_positive_int(jitter, name="jitter", minimum=0)
        check_positive_int(blur_every, name="blur_every")
        check_positive_int(n_starts, name="n_starts")
        # Each argument as given (get_params, clone); what is derived from one is
        # derived where it is used, so that set_params changes it too.
        self.blackbox = blackbox
        self.regularizer = regularizer
        self.strength = strength
        self.steps = steps
        self.lr = lr
        self.generator = generator
        self.prior_strength = prior_strength
        self.bounds = bounds
        self.jitter = jitter
        self.blur_every = blur_every
        self.n_starts = n_starts
        self.random_state = random_state
        self.verbose = verbose
        # As the fit or explain call checks it, so that a bad seed fails here and in
        # set_params, not once the data is read.
        check_torch_seed(random_state)

    @property
    def _n_features(self) -> int:
        return cast(int, self.blackbox.n_features)  # a torch black box has an input shape

    def _image_shape(self) -> tuple[int, int] | None:
        return grayscale_shape(self.blackbox.input_shape)

    def explain(
        self, target: int | Sequence[int] | None = None, *, layer: str | None = None
    ) -> Prototypes:
        """Maximise each target, all in one batch.

        Parameters
        ----------
        target : int or sequence of int, optional
            The classes to maximise (all classes by default), or with ``layer`` the
            flat indices of the layer's units.
        layer : str, optional
            A name from :meth:`BlackBox.layer_names`: maximise hidden units of that
            layer instead of class probabilities. "logits" (or "output") maximises the
            model's raw output, whose units are the classes: they are named as
            classes, and ``meta["output_layer"]`` is True; where a submodule bears
            that name, it is that submodule, as in :meth:`BlackBox.features`.

        Returns
        -------
        Prototypes
        """
        import torch

        search = self._new_search(target, layer)
        # Every query runs in the black box's guard, in eval mode, which then gives each
        # submodule its mode back: a module.eval() here left the user's model in it.
        optimizer = torch.optim.Adam([search.variable], lr=self.lr)
        with progress(
            range(self.steps), verbose=self.verbose, desc="activation maximization"
        ) as bar:
            for step in bar:
                search.step = step
                self._step(search, optimizer)
        x, final, objective = self._last_points(search)
        return self._prototypes(search, x, final, objective)

    def _new_search(self, target: Any, layer: str | None) -> _Search:
        """The checked targets and the starting points of every start, all in one batch."""
        import torch

        # Checked again: an attribute set directly skips the constructor's checks (a
        # scikit-learn black box failed on its module, None: "has no attribute
        # 'parameters'").
        check_blackbox(self.blackbox)
        self.blackbox._require_torch("ActivationMaximization")
        _check_regularizer(self.regularizer, self.blackbox)
        image_shape = self._image_shape()
        targets = self._targets(target, layer)
        if targets.size == 0:
            raise ValueError("target is empty: pass at least one class or unit to maximise")
        gen = torch.Generator().manual_seed(int_seed(self.random_state))
        param = next(self.blackbox.module.parameters(), None)
        # The variable lives where the model does, in its dtype (float32 on the CPU for
        # a model without parameters).
        like = torch.zeros((), dtype=torch.float32) if param is None else param
        bounds = _check_search_bounds(self.bounds, self.blackbox)
        # Their batch, refused up front where it cannot be held: n_starts=10**12 ran a
        # Python loop of 10**12 draws, growing until memory ran out, without a word.
        width = self._n_features if self.generator is None else self.generator.latent_dim
        allocate((self.n_starts * targets.size, width), setting=f"n_starts={self.n_starts}")
        # The starts search side by side, start by start: rows s * n .. s * n + n - 1
        # are start s, and start 0 draws what a single start always drew.
        variable = torch.cat([self._start(targets.size, gen, like) for _ in range(self.n_starts)])
        variable.requires_grad_(True)
        return _Search(
            blackbox=self.blackbox,
            targets=targets,
            n_starts=self.n_starts,
            layer=layer,
            # The output layer's units are the classes (the score is the model's own
            # output there): its panels read "unit 3" where "class 3" was meant.
            output_layer=self.blackbox._is_output(layer),
            variable=variable,
            like=like,
            bounds=bounds,
            image_shape=image_shape,
            jitter_shape=image_shape if self.regularizer == "jitter" else None,
            gen=gen,
        )

    @property
    def _point_why(self) -> str:
        # The point is x = lerp(low, high, u) with u clamped to [0, 1], finite while the
        # gradients are; only a generator's decoding can make it NaN or infinite.
        return "" if self.generator is None else ": the generator's output is not finite there"

    def _step(self, search: _Search, optimizer: Any) -> None:
        """One Adam step of every point, refused where anything turns NaN or infinite."""
        import torch

        optimizer.zero_grad(set_to_none=True)
        variable, batch = search.variable, search.batch
        x = self._image(variable, search.like, search.bounds)
        x_in = x
        if search.jitter_shape is not None:
            shifts = torch.randint(-self.jitter, self.jitter + 1, (2,), generator=search.gen)
            search.shift = (int(shifts[0]), int(shifts[1]))
            x_in = torch.roll(
                x.reshape(batch, *search.jitter_shape), search.shift, dims=(1, 2)
            ).reshape(batch, -1)
        at_step = f"at step {search.step}"
        search.refuse_nonfinite(x, "the point searched", at_step, self._point_why)
        # A model that raises is run on the points one at a time, to name the first that
        # raises alone, as on the last points.
        run = functools.partial(self._part_score, search, x_in)
        y = self.blackbox._run_batch(run, batch, batch, 0, search.searched)
        objective = self._objective(search, y, x, at_step)
        # autograd.grad, not backward: the models' own .grad fields stay untouched. Its
        # failure is the batch's: one row's gradient is not run alone. The graph is kept
        # for _gradient_why to take a gradient that is not finite apart, term by term.
        with self.blackbox._guard(batch, search.place):
            (variable.grad,) = torch.autograd.grad(-objective.sum(), [variable], retain_graph=True)
        # A NaN gradient makes the point NaN (Adam, then clamp, keep it): on the
        # last step, the point returned.
        row = search.first_nonfinite(variable.grad)
        if row is not None:
            why, hint = self._gradient_why(search, x, y, row)
            search.refuse_nonfinite(variable.grad, "the objective's gradient", at_step, why, hint)
        optimizer.step()
        self.blackbox.n_queries += batch
        if self.generator is None:
            with torch.no_grad():
                if search.jitter_shape is not None and (search.step + 1) % self.blur_every == 0:
                    image = self._image(variable, search.like, search.bounds)
                    blurred = _blur(image, search.jitter_shape, 0.5)
                    variable.copy_(_place(blurred, variable, search.bounds))
                variable.clamp_(0.0, 1.0)

    def _gradient_why(self, search: _Search, x: Any, score: Any, row: int) -> tuple[str, str]:
        """Why the gradient of ``row`` in the search variable is not finite, and what may
        help: the first of its terms that is not (the model's gradient in ``x``, the
        penalty's, their difference), or else the chain factor from ``x`` to the
        variable, which a finite gradient in ``x`` overflows: the bounds' width
        (``x = low + u * (high - low)``), the generator's Jacobian or the latent prior.

        ``score`` is the step's score of the points ``x``, whose graph the step kept.
        """
        import torch

        def grad_in(out: Any, wrt: Any) -> Any:
            if not out.requires_grad:
                return torch.zeros_like(wrt[row])
            (grad,) = torch.autograd.grad(out.sum(), [wrt], retain_graph=True, allow_unused=True)
            return torch.zeros_like(wrt[row]) if grad is None else grad[row]

        bounds_hint = "narrow the bounds or lower the strength"
        # The model's backward runs again, as in the step, in the black box's guard.
        with self.blackbox._guard(search.batch, search.place):
            model = grad_in(score, x)
        if not bool(torch.isfinite(model).all()):
            return self._model_why(search, x, row, "gradient")
        gradient = model
        if self._strength:
            penalty = self._strength * _penalty(x, self.regularizer, search.image_shape)
            penalty_gradient = grad_in(penalty, x)
            if not bool(torch.isfinite(penalty_gradient).all()):
                return f": the {self.regularizer} penalty's gradient overflowed", bounds_hint
            gradient = model - penalty_gradient
            if not bool(torch.isfinite(gradient).all()):
                return ": the model's gradient less the penalty's overflowed", bounds_hint
        if self.generator is not None:
            # Every row, as grad_in reads row ``row`` of the gradient: that row alone
            # was read at index ``row`` of a batch of one (an IndexError past row 0).
            z = search.variable.detach().requires_grad_(True)
            prior = 0.5 * self.prior_strength * z.pow(2).sum(1)
            if self.prior_strength and not bool(torch.isfinite(grad_in(prior, z)).all()):
                return ": the latent prior's gradient overflowed", "lower prior_strength"
            return ": the generator's gradient is not finite there", "a lower lr may help"
        # Finite in x, overflowed in u: dx/du is each feature's width between its bounds.
        lo, hi = (torch.as_tensor(b).to(x).expand_as(x)[row] for b in search.bounds)
        overflowed = ~torch.isfinite(search.variable.grad[row])
        width = float((hi - lo)[overflowed].max())
        return (
            f": the gradient in the input is finite there but overflows times the bounds' "
            f"width, {width:.3g}, as the search moves each feature's place between them",
            "narrow the bounds",
        )

    def _last_points(self, search: _Search) -> tuple[Any, Any, Any]:
        """The last points ``x``, their score and their objective: checked and queried as
        each step's are."""
        import torch

        after = "at the points found, after the search's last step"
        search.shift = None  # the last points are scored as they are
        with torch.no_grad():
            x = self._image(search.variable, search.like, search.bounds)
            search.refuse_nonfinite(x, "the point searched", after, self._point_why)
            final = self.blackbox._run_batch(
                functools.partial(self._part_score, search, x),
                search.batch,
                search.batch,
                0,
                search.found,
            )
            # _run_batch counts nothing (predict_proba's _evaluate does, for its own
            # calls): the model answered for every last point.
            self.blackbox.n_queries += search.batch
            objective = self._objective(search, final, x, after)
        return x, final, objective

    def _part_score(self, search: _Search, x: Any, part: slice) -> Any:
        """The score of rows ``part`` of the points ``x``: all of them, or after a failure
        a row alone, for the guard to name the first that raises."""
        device = search.like.device
        score = self._score_fn(self.blackbox.module, search.layer, search.tiled[part], device)
        return score(x[part])

    def _prototypes(self, search: _Search, x: Any, final: Any, objective: Any) -> Prototypes:
        """Each target's best start among the last points ``x``, with its ``final`` score."""
        n, layer = search.n, search.layer
        # Each target's best start: the highest objective the search itself maximised.
        best = objective.double().cpu().numpy().reshape(search.n_starts, n).argmax(0)
        rows = best * n + np.arange(n)
        low, high = search.bounds
        X_star = np.clip(x.detach().double().cpu().numpy()[rows], low, high)
        probability = None
        if layer is None:
            checked = self.blackbox.check_X(X_star)
            # The search's own points, not rows the user passed: a model that answered
            # one badly was reported on "row 0 of X".
            # Not the last query again, though it ran on the same model inputs (the
            # clip moves float32's 0.100000001 back to a bound of 0.1, read as float32
            # again: test_a_bad_answer_on_a_found_point_names_its_class_and_start sees
            # equal tensors): that query kept each point's float32 log score of one
            # class; this is the black box's probability of every class, checked as
            # predict_proba checks it (rows that are no probabilities are refused), which
            # BlackBox does only with its own forward pass. With several starts reuse
            # would also change it: a row's float32 output depends on its batch (LeNet
            # on digits, 2 starts x 2 classes: by 8.7e-8).
            probability = self.blackbox._proba_rows(checked, lambda i: search.found(int(rows[i])))
            probability = probability[np.arange(n), search.targets]
        meta = make_meta(self.method, self._parameters(), seed=self.random_state)
        meta["layer"] = layer
        if search.n_starts > 1:
            meta["best_start"] = best.tolist()
        if layer is not None:
            meta["output_layer"] = search.output_layer
        latent = search.variable.detach().double().cpu().numpy()[rows]
        return Prototypes(
            X_star,
            search.targets,
            final.double().cpu().numpy()[rows],
            meta,
            probability=probability,
            latent=None if self.generator is None else latent,
            image_shape=search.image_shape,
            feature_names=self.blackbox.feature_names,
            class_names=(
                self.blackbox.class_names if layer is None or search.output_layer else None
            ),
        )

    def _start(self, n: int, gen: Any, like: Any) -> Any:
        """One start's ``n`` starting points: z ~ N(0, 0.25 I) on the generator's device,
        or each feature's place a little off the middle of its range, on ``like``'s."""
        import torch

        if self.generator is not None:
            self.generator.eval()
            z_like = next(self.generator.parameters())
            return (0.5 * torch.randn((n, self.generator.latent_dim), generator=gen)).to(z_like)
        # The search runs over each feature's place between its bounds, u in [0, 1], so
        # that lr is a fraction of the range whatever the inputs' units (in input units,
        # lr = 0.05 went 16 times less far on digits in [0, 16] than in [0, 1]). Start
        # from a dim, slightly noisy image in the middle of the range.
        return (0.45 + 0.1 * torch.rand((n, self._n_features), generator=gen)).to(like)

    def _objective(self, search: _Search, score: Any, x: Any, when: str) -> Any:
        """What the search maximises per row: the score, less the penalty on x and, with
        a generator, the latent prior (z is on the generator's device).

        Each term is refused apart where it is NaN or infinite, named: near float32's
        limit the penalty overflows where the model's output is finite (x = 1e20 has an
        l2 penalty of inf), and a lower lr, or the model, is not the fix there.
        """
        row = search.first_nonfinite(score)
        if row is not None:
            why, hint = self._model_why(search, x, row, "output")
            search.refuse_nonfinite(score, "the objective", when, why, hint)
        objective = score
        bounds_hint = "narrow the bounds or lower the strength"
        # A penalty of weight 0 is left out: 0 * inf is NaN, and its gradient too.
        if self._strength:
            penalty = self._strength * _penalty(x, self.regularizer, search.image_shape)
            overflowed = f": the {self.regularizer} penalty overflowed"
            search.refuse_nonfinite(penalty, "the objective", when, overflowed, hint=bounds_hint)
            objective = score - penalty
        # A prior of weight 0 is left out as the penalty is: where z**2 overflowed,
        # 0 * inf made the objective NaN, blamed on "the latent prior" with the hint
        # "lower prior_strength", which was 0 already.
        if self.generator is not None and self.prior_strength:
            prior = 0.5 * self.prior_strength * search.variable.pow(2).sum(1)
            why = ": the latent prior overflowed"
            search.refuse_nonfinite(prior, "the objective", when, why, hint="lower prior_strength")
            objective = objective - prior.to(objective)
        why = ": the score less the penalty overflowed"
        search.refuse_nonfinite(objective, "the objective", when, why, hint=bounds_hint)
        return objective

    def _model_why(self, search: _Search, x: Any, row: int, what: str) -> tuple[str, str]:
        """Why the model's ``what`` ("output" or "gradient") is not finite at point ``row``
        of ``x``, as predict_proba says it (:meth:`BlackBox._input_range_note`), and what
        may help: the largest input there, within the model's dtype (the search's points
        are in it), tells a point pushed near its limit by wide bounds from the model's
        own arithmetic."""
        import torch

        # A jittered image holds the point's values, rolled: the same largest input.
        point = x[row : row + 1].detach().double().cpu().numpy()
        note = self.blackbox._input_range_note(point)
        why = f": the model's {what} is not finite {search.there()}{note}"
        # Past the square root of the dtype's largest value an input's square overflows
        # it: the bounds let the search reach such a point (at step 0, from the middle of
        # bounds (0, 3e38)), and neither lr nor the strength keeps it away.
        dtype = x.dtype
        limit = float(np.sqrt(torch.finfo(dtype).max))
        if float(np.abs(point).max()) > limit:
            return why, f"narrow the bounds: past {limit:.3g}, an input's square overflows {dtype}"
        return why, "a lower lr or strength may help"

    def _image(self, variable: Any, like: Any, bounds: Bounds) -> Any:
        """The image the search scores: the variable's place between ``bounds`` (the
        checked ``self.bounds``), or its decoding on ``like``'s device and in its dtype,
        held to them."""
        if self.generator is None:
            import torch

            lo, hi = (torch.as_tensor(b).to(variable) for b in bounds)
            # lerp is exact at both ends: u = 0 and 1 give the bounds themselves, and
            # bounds (0, 1) give u unchanged.
            return torch.lerp(lo.expand_as(variable), hi.expand_as(variable), variable)
        # Decoded images are held to the bounds as the pixels are without a generator:
        # the search scores the image it will return.
        return _clamp(self.generator.decode(variable), *bounds).to(like)

    def _targets(self, target: Any, layer: str | None) -> np.ndarray:
        if layer is None:
            if target is None:
                return np.arange(self.blackbox.n_classes)
            flat = np.atleast_1d(self.blackbox.class_index(target, name="target"))
            return check_labels(flat, n=flat.size, n_classes=self.blackbox.n_classes, name="target")
        names = self.blackbox.layer_names()
        if layer not in names:
            raise ValueError(f"{self.blackbox.name!r} has no layer {layer!r}; choose from {names}")
        width = int(
            np.prod(self.blackbox.features(np.zeros((1, self._n_features)), layer).shape[1:])
        )
        if target is None:
            raise ValueError(f"pass target: the units of {layer!r} to maximise (0..{width - 1})")
        check_not_bool(target, name="target")  # True read as unit 1
        flat = np.atleast_1d(np.asarray(target))
        # Units, not classes: "holds class 8 but there are only 8 classes" of a layer.
        hint = f" (here units: layer {layer!r} has {width}, 0..{width - 1})"
        return check_labels(flat, n=flat.size, n_classes=width, name="target", hint=hint)

    def _score_fn(self, module: Any, layer: str | None, targets: np.ndarray, device: Any) -> Any:
        """The differentiable score y(x) per row: log p_target, or a unit's activation."""
        import torch

        t = torch.as_tensor(targets, device=device)
        input_shape = cast(tuple[int, ...], self.blackbox.input_shape)  # a torch model's
        logits = self.blackbox.output == "logits"

        # A submodule named "logits" is that submodule, as features reads it.
        if layer is None or self.blackbox._is_output(layer):

            def class_score(x: Any) -> Any:
                out = module(x.reshape(-1, *input_shape))
                if layer is not None:
                    return out.reshape(out.shape[0], -1).gather(1, t[:, None])[:, 0]
                logp = torch.log_softmax(out, 1) if logits else torch.log(out.clamp_min(1e-12))
                return logp.gather(1, t[:, None])[:, 0]

            return class_score
        hooked = dict(module.named_modules())[layer]

        def unit_score(x: Any) -> Any:
            captured: list[Any] = []
            hook = hooked.register_forward_hook(lambda _m, _i, out: captured.append(out))
            try:
                module(x.reshape(-1, *input_shape))
            finally:
                hook.remove()
            out = captured[0]
            return out.reshape(out.shape[0], -1).gather(1, t[:, None])[:, 0]

        return unit_score

    @property
    def _strength(self) -> float:
        """The penalty's weight: the regularizer's default where none was given."""
        strength = DEFAULT_STRENGTH[self.regularizer] if self.strength is None else self.strength
        return float(strength)

    def _parameters(self) -> dict[str, Any]:
        return {
            "regularizer": self.regularizer,
            "strength": self._strength,
            "steps": self.steps,
            "lr": float(self.lr),
            "generator": None if self.generator is None else self.generator.config,
            "prior_strength": float(self.prior_strength),
            "bounds": [
                b if isinstance(b, float) else b.tolist()
                for b in _check_search_bounds(self.bounds, self.blackbox)
            ],
            "jitter": self.jitter,
            "blur_every": self.blur_every,
            "n_starts": self.n_starts,
        }


def _check_search_bounds(bounds: object, blackbox: BlackBox) -> Bounds:
    """The checked ``(low, high)``: two floats, or where either is given per feature,
    two arrays of shape (n_features,)."""
    n_features = cast(int, blackbox.n_features)  # a torch black box has an input shape
    items: tuple[Any, ...] = ()
    if (isinstance(bounds, np.ndarray) and bounds.ndim) or isinstance(bounds, Sequence):
        items = tuple(bounds)
    low: Any
    high: Any
    if len(items) != 2 or all(np.ndim(b) == 0 for b in items):
        low, high = check_bounds(bounds)  # explains a wrong number of bounds too
    else:
        low, high = (
            np.broadcast_to(
                check_per_feature(
                    blackbox._by_columns(b, name=f"bounds' {side}"),  # X_train.min(), say
                    name=f"bounds' {side}",
                    n_features=n_features,
                    input_shape=blackbox.input_shape,
                    minimum=None,
                ),
                (n_features,),
            ).copy()  # writeable, as torch.as_tensor wants it
            for b, side in zip(items, ("low", "high"), strict=True)
        )
        above = np.flatnonzero(low > high)
        if above.size:
            j = int(above[0])
            raise ValueError(
                f"bounds' low exceeds its high in {above.size} feature(s), first feature {j} "
                f"({low[j]:g} > {high[j]:g})"
            )
    # Wider bounds overflow the search. Its points are tensors in the model's dtype
    # (float32 for a model without parameters; a generator's images are clamped in its
    # own dtype); float32's range is the cap for every model, a float64 one's too,
    # which could hold more. In a half precision dtype they hold far less: bounds
    # (0, 1e5) made a float16 model's point searched infinite at step 0, with no reason.
    import torch

    dtype = blackbox._tensor(np.zeros((1, n_features))).dtype  # the search's points'
    limit, within = FLOAT32_MAX, "float32's range"
    if dtype.is_floating_point and torch.finfo(dtype).max < FLOAT32_MAX:
        limit, within = float(torch.finfo(dtype).max), f"the range of the model's {dtype}"
    with np.errstate(over="ignore"):  # a width beyond float64 is inf: refused below
        widest = np.max(np.maximum(np.maximum(abs(low), abs(high)), high - low))
    if not widest <= limit:
        raise ValueError(f"bounds must lie within {within} (±{limit:.3g}), got {bounds!r}")
    return low, high


def _check_lr(lr: object, blackbox: BlackBox, generator: Any) -> None:
    """Refuse an ``lr`` that is no finite number > 0, or whose Adam step the search
    variable's dtype cannot hold: torch converts the first step, lr / (1 - 0.9), to it,
    and lr=1e39 raised its bare "value cannot be converted to type float without
    overflow" at step 0."""
    import torch

    lr = check_number(lr, name="lr")
    if generator is not None:  # the variable is z, in the generator's dtype
        dtype = next(generator.parameters()).dtype
    else:  # each feature's place, in the model's dtype (float32 without parameters)
        param = next(blackbox.module.parameters(), None)
        dtype = torch.float32 if param is None else param.dtype
    limit = float(torch.finfo(dtype).max) * ADAM_LR_SHARE
    if lr > limit:
        raise ValueError(
            f"lr must be at most {limit:.3g}, where Adam's first step (10 lr) still fits "
            f"the search's {dtype}, got {lr!r}; lr is a fraction of each feature's range, "
            "so 1 already crosses it in one step (with a generator, a step in latent units)"
        )


def _place(x: Any, variable: Any, bounds: Bounds) -> Any:
    """Each feature's place in ``[low, high]`` of the image ``x``, the inverse of
    :meth:`ActivationMaximization._image` without a generator; where a feature's range
    is empty its place is its ``variable``'s (any place gives its one value)."""
    import torch

    lo, hi = (torch.as_tensor(b).to(variable).expand_as(variable) for b in bounds)
    width = hi - lo
    return torch.where(width > 0, (x - lo) / torch.where(width > 0, width, 1.0), variable)


def _clamp(x: Any, low: float | np.ndarray, high: float | np.ndarray) -> Any:
    """``x`` held to the bounds: numbers, or per-feature arrays on ``x``'s device, in its
    dtype (rows of ``x`` are flat inputs)."""
    if isinstance(low, float) and isinstance(high, float):
        return x.clamp(low, high)
    import torch

    lo, hi = (torch.as_tensor(b, dtype=x.dtype, device=x.device) for b in (low, high))
    return torch.clamp(x, lo, hi)


def nearest_distance(
    X: object, reference: object, *, k: int = 1, normalize: bool = False
) -> np.ndarray:
    """Realism by proximity: the mean Euclidean distance to the ``k`` nearest reference rows.

    An image close to real training images is plausible; the noise that plain
    activation maximization produces is far from all of them.

    Parameters
    ----------
    X : array-like of shape (n, d)
    reference : array-like of shape (m, d)
        Real images, e.g. the training split.
    k : int
    normalize : bool
        Compare the rows scaled to unit norm, so the distance (in [0, 2]) judges the
        pattern and not the brightness. A faint image is close to every real image in
        plain distance, which would score a washed-out search as realistic.

    Returns
    -------
    ndarray of shape (n,)
    """
    X = check_array(X, name="X", ndim=2)
    reference = check_array(reference, name="reference", ndim=2)
    if X.shape[1] != reference.shape[1]:
        raise ValueError(f"X has {X.shape[1]} features but reference has {reference.shape[1]}")
    k = check_positive_int(k, name="k")
    if k > reference.shape[0]:
        raise ValueError(f"k={k} exceeds the {reference.shape[0]} reference rows")
    if normalize:
        X, reference = _unit_rows(X, "X"), _unit_rows(reference, "reference")
    # Squares of finite values far from 1 overflow (1e200**2); distances scale.
    scale = max(float(np.abs(X).max()), float(np.abs(reference).max())) or 1.0
    X, reference = X / scale, reference / scale
    ref_sq = (reference**2).sum(1)
    out = np.empty(X.shape[0])
    block = max(1, 2**22 // reference.shape[0])
    for start in range(0, X.shape[0], block):
        rows = X[start : start + block]
        sq = (rows**2).sum(1)[:, None] + ref_sq[None] - 2.0 * rows @ reference.T
        nearest = np.sort(np.sqrt(np.maximum(sq, 0.0)), axis=1)[:, :k]
        out[start : start + rows.shape[0]] = nearest.mean(1)
    return out * scale


def _unit_rows(X: np.ndarray, name: str) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError(f"{name} has an all-zero row, which has no direction to compare")
    return X / norms
