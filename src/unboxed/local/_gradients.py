"""The gradient family, on Captum: saliency, input x gradient, integrated gradients,
SmoothGrad and DeepLIFT.

Source: ``002_3e5e1762af60ee33.txt`` (saliency maps |dy_k/dx|, gradient saturation and
its fixes: integrated gradients and DeepLIFT). Every method differentiates the
module's raw output for the target class: the logit for ``output="logits"``, the
probability for a module that returns probabilities.
"""

from __future__ import annotations

import warnings
from typing import Any, cast

import numpy as np

from .._progress import progress
from .._validation import (
    RandomState,
    all_finite,
    check_number,
    check_per_feature,
    check_positive_int,
    check_random_state,
)
from ..blackbox import BlackBox
from ..explanation import Attribution, hand_over
from ._base import Fill, LocalExplainer, _Rows, check_background, check_fill_name, make_fill
from ._engine import call_seed, row_seed

PERTURBATION_METHODS = "Lime, KernelShap or Occlusion"
#: SmoothGrad's noise, as a fraction of each row's range, where no scale is given.
DEFAULT_NOISE_LEVEL = 0.15


class _GradientExplainer(LocalExplainer):
    """Shared driver: check the inputs, pick targets, run Captum chunk by chunk."""

    #: Model evaluations per instance; chunks are sized so each Captum call sends about
    #: ``blackbox.batch_size`` rows through the network.
    evals_per_row = 1

    def __init__(
        self,
        blackbox: BlackBox,
        *,
        image_shape: tuple[int, int] | None = None,
        verbose: bool = False,
    ) -> None:
        super().__init__(blackbox, image_shape=image_shape)
        self.verbose = verbose
        if blackbox.kind != "torch":
            raise TypeError(
                f"{type(self).__name__} needs gradients, so it needs a torch black box "
                f"(BlackBox.from_torch), but {blackbox.name!r} is a {blackbox.kind} black box. "
                f"Explain it with a perturbation method instead: {PERTURBATION_METHODS} "
                "(unboxed.local)."
            )

    def explain(self, X: object, *, target: Any = None) -> Attribution:
        """Attribute each row's target output to its input features.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        target : int or array-like of shape (n_samples,), optional
            The class explained per row; by default the black box's prediction.

        Returns
        -------
        Attribution
        """
        import torch

        # A model that raises on one row of a DataFrame is named by its label too,
        # "row 6 of the 10 rows queried, row X.loc[103]", as predict_proba names it, and
        # a row the caller named (naming_rows) by its name. So the queries of X itself
        # take rows.name and rows.index apart, not rows.row_name, whose "row 6 of X, row
        # X.loc[103]" names a row of X in a message about the model's answer
        # (_check_finite) but is not how a row queried is named where the model raises.
        rows = self._rows(X)
        X = self.blackbox.check_X(X)
        # Baselines first: a baseline or background they refuse is refused before the
        # default target (the predicted class) queries the model.
        extra = self._prepare(X)
        proba = None if target is not None else self.blackbox._proba_rows(X, rows.name, rows.index)
        targets = self._targets(target, X, proba)
        per_chunk = max(1, self.blackbox.batch_size // self.evals_per_row)
        values, deltas = [], []
        starts = range(0, X.shape[0], per_chunk)
        for start in progress(starts, verbose=self.verbose, desc=self.method, total=len(starts)):
            stop = min(start + per_chunk, X.shape[0])

            def run(part: slice, start: int = start) -> Any:
                chunk = slice(start + part.start, start + part.stop)  # rows of X
                # Inputs that already require gradients spare Captum's warning about it.
                x = self.blackbox._tensor(X[chunk]).requires_grad_(True)
                t = torch.as_tensor(targets[chunk], device=x.device)
                return self._attribute(x, t, chunk, extra)

            out = self.blackbox._run_batch(
                run, stop - start, X.shape[0], start, rows.name, rows.index
            )
            attr, delta = out if isinstance(out, tuple) else (out, None)
            self.blackbox.n_queries += (stop - start) * self.evals_per_row
            # In the model's own precision: a float64 copy cost the MLP a tenth of its time.
            values.append(attr.detach().reshape(stop - start, -1).cpu().numpy())
            if delta is not None:
                deltas.append(delta.detach().double().cpu().numpy().ravel())
        values_arr = values[0] if len(values) == 1 else np.concatenate(values)
        self._check_finite(values_arr, targets, rows)
        info = {}
        if deltas:
            delta_arr = np.concatenate(deltas)
            info = {"delta": delta_arr.tolist(), "max_abs_delta": float(np.abs(delta_arr).max())}
        return self._attribution(
            hand_over(values_arr), targets, X, seed=self._seed(extra), row_names=rows.labels, **info
        )

    def _check_finite(self, values: np.ndarray, targets: np.ndarray, rows: _Rows) -> None:
        """Refuse NaN/inf attributions (a gradient that overflowed or is undefined), on
        the first row that holds one, as the caller names it, and its target: "values
        contains NaN (first at index (60, 4))" was the 60th row of the array explained,
        which a caller's own rows (a DataFrame's, explanation_sensitivity's noisy
        copies) do not number so."""
        if all_finite(values):
            return
        row, feature = (int(i) for i in np.argwhere(~np.isfinite(values))[0])
        kind = "NaN" if np.isnan(values[row, feature]) else "infinity"
        names = self.blackbox.feature_names
        name = "" if names is None else f" ({names[feature]!r})"
        label = self.blackbox.class_label(int(targets[row]))
        raise ValueError(
            f"{type(self).__name__} produced non-finite attributions on "
            f"{rows.row_name(row)}, target {label!r}: {kind} at feature "
            f"{feature}{name}; the model's gradient overflowed or is undefined at this input"
        )

    def _prepare(self, X: np.ndarray) -> Any:
        """Per-call set-up shared by all chunks (baselines, noise generator)."""
        return None

    def _seed(self, extra: Any) -> int | None:
        """The int seed the call drew from, for ``meta["seed"]``; None where it draws
        nothing."""
        return None

    def _attribute(self, x: Any, target: Any, rows: slice, extra: Any) -> Any:
        raise NotImplementedError


class Saliency(_GradientExplainer):
    """Saliency map |dy_k/dx| (Simonyan et al. 2014, as in the lecture slides).

    Parameters
    ----------
    blackbox : BlackBox
        A torch black box (``BlackBox.from_torch``).
    image_shape : (H, W), optional
        The image's shape, for plots; by default read from the black box's
        ``input_shape``.
    verbose : bool, default=False
        Show a progress bar over the chunks of rows.
    """

    method = "saliency"

    def _attribute(self, x, target, rows, extra):
        from captum.attr import Saliency as CaptumSaliency

        return CaptumSaliency(self.blackbox.module).attribute(x, target=target, abs=True)


class InputXGradient(_GradientExplainer):
    """x * dy_k/dx: the gradient scaled by the input.

    Parameters
    ----------
    blackbox : BlackBox
        A torch black box (``BlackBox.from_torch``).
    image_shape : (H, W), optional
        The image's shape, for plots; by default read from the black box's
        ``input_shape``.
    verbose : bool, default=False
        Show a progress bar over the chunks of rows.
    """

    method = "input_x_gradient"

    def _attribute(self, x, target, rows, extra):
        from captum.attr import InputXGradient as CaptumInputXGradient

        return CaptumInputXGradient(self.blackbox.module).attribute(x, target=target)


class _BaselineExplainer(_GradientExplainer):
    """A gradient method that compares the input with a baseline."""

    def __init__(
        self,
        blackbox: BlackBox,
        *,
        baseline: Fill = 0.0,
        background: object = None,
        image_shape: tuple[int, int] | None = None,
        verbose: bool = False,
    ) -> None:
        super().__init__(blackbox, image_shape=image_shape, verbose=verbose)
        check_fill_name(baseline, "baseline")
        check_background(background, blackbox.n_features, blackbox)
        self.baseline = baseline
        self.background = background

    def _prepare(self, X: np.ndarray) -> Any:
        shape = self._image_shape(X.shape[1])
        background = check_background(self.background, X.shape[1], self.blackbox)
        baseline = self.blackbox._by_columns(self.baseline, name="baseline")
        fill = make_fill(baseline, X, image_shape=shape, background=background, name="baseline")
        if fill.shape[0] == 1 and np.all(fill == fill.flat[0]):
            return float(fill.flat[0])  # Captum broadcasts a scalar baseline cheaply
        return np.broadcast_to(fill, X.shape)

    def _baselines(self, extra: float | np.ndarray, rows: slice) -> Any:
        if isinstance(extra, float):
            # None is Captum's own zero baseline, and its fast path: a 0.0 scalar made
            # DeepLift 20% slower on the LeNet.
            return None if extra == 0.0 else extra
        return self.blackbox._tensor(np.ascontiguousarray(extra[rows]))


class IntegratedGradients(_BaselineExplainer):
    """Integrated gradients (Sundararajan et al. 2017): the path integral of the gradient
    from a baseline to the input, times their difference.

    Parameters
    ----------
    blackbox : BlackBox
    n_steps : int
        Gauss-Legendre steps of the path integral.
    baseline : float, {"zero", "gray", "mean", "blur"} or ndarray
        The reference input (0 by default).
    background : array-like, optional
        Rows whose per-feature mean is the "mean" baseline, which needs them (it is
        never the mean of the explained rows; the same meaning as the perturbation
        explainers' ``fill="mean"``).
    image_shape : (H, W), optional
        The image's shape, for the "blur" baseline and for plots; by default read from
        the black box's ``input_shape``.
    verbose : bool
        Show a progress bar over the chunks of rows.

    Notes
    -----
    ``meta["delta"]`` is the completeness gap per row, ``sum(attributions) -
    (y(x) - y(baseline))``, and ``meta["max_abs_delta"]`` its largest magnitude.
    """

    method = "integrated_gradients"

    def __init__(
        self,
        blackbox: BlackBox,
        *,
        n_steps: int = 50,
        baseline: Fill = 0.0,
        background: object = None,
        image_shape: tuple[int, int] | None = None,
        verbose: bool = False,
    ) -> None:
        super().__init__(
            blackbox,
            baseline=baseline,
            background=background,
            image_shape=image_shape,
            verbose=verbose,
        )
        check_positive_int(n_steps, name="n_steps")
        self.n_steps = n_steps

    @property
    def evals_per_row(self) -> int:  # type: ignore[override]
        """Model evaluations per instance: ``n_steps``, read on each call so that
        ``set_params(n_steps=...)`` changes it too."""
        return int(self.n_steps)

    def _attribute(self, x, target, rows, extra):
        from captum.attr import IntegratedGradients as CaptumIG

        return CaptumIG(self.blackbox.module).attribute(
            x,
            baselines=self._baselines(extra, rows),
            target=target,
            n_steps=self.n_steps,
            # With more steps than the batch size a chunk is one row, whose n_steps
            # points Captum sent through the network at once, past the batch size.
            internal_batch_size=self.blackbox.batch_size,
            return_convergence_delta=True,
        )


class DeepLift(_BaselineExplainer):
    """DeepLIFT, rescale rule (Shrikumar et al. 2017), through Captum.

    Captum needs each nonlinearity to be its own module, used once per forward pass
    (true of the zoo's models). ``meta["delta"]`` is the summation-to-delta gap.

    Parameters
    ----------
    blackbox : BlackBox
        A torch black box (``BlackBox.from_torch``).
    baseline : float, {"zero", "gray", "mean", "blur"} or ndarray, default=0.0
        The reference input.
    background : array-like, optional
        Rows whose per-feature mean is the "mean" baseline, which needs them (it is
        never the mean of the explained rows; the same meaning as the perturbation
        explainers' ``fill="mean"``).
    image_shape : (H, W), optional
        The image's shape, for the "blur" baseline and for plots; by default read from
        the black box's ``input_shape``.
    verbose : bool, default=False
        Show a progress bar over the chunks of rows.
    """

    method = "deeplift"

    def _attribute(self, x, target, rows, extra):
        from captum.attr import DeepLift as CaptumDeepLift

        with warnings.catch_warnings():
            # Captum announces, every call, that it hooks the activations; we know.
            warnings.filterwarnings("ignore", message="Setting forward, backward hooks")
            return CaptumDeepLift(self.blackbox.module).attribute(
                x,
                baselines=self._baselines(extra, rows),
                target=target,
                return_convergence_delta=True,
            )


class SmoothGrad(_GradientExplainer):
    """SmoothGrad (Smilkov et al. 2017): the saliency map averaged over noisy copies.

    The noise is drawn here, from ``random_state``, instead of Captum's NoiseTunnel,
    which draws from torch's global generator; so the same seed gives the same map.

    Parameters
    ----------
    blackbox : BlackBox
    n_samples : int
        Noisy copies per instance.
    noise_level : float, optional
        Standard deviation of the Gaussian noise, as a fraction of each input's range
        ``max(x) - min(x)`` over all its features (the paper suggests 0.1-0.2), the
        same for every feature, as for an image's pixels. 0.15 unless ``noise_scale``
        is given. On tabular features of different units the widest feature sets the
        noise of all (0.15 of a breast-cancer row's range is 28 to 638, 103 in the
        median, in every feature, though 20 of its 30 features have a standard
        deviation below 1): give ``noise_scale`` instead.
    noise_scale : float or array-like of shape (n_features,), optional
        Standard deviation of the noise in the features' own units, one number for
        all or one per feature (an array broadcastable to one input, such as
        ``0.15 * X_train.std(0)``; 0 leaves a feature unperturbed). Replaces
        ``noise_level``; pass one of the two.
    random_state : int, Generator or None
        Seeds the noise. An int gives the same result at every call; a Generator is
        drawn from, one seed per call, so a second call on the same rows differs;
        None draws fresh entropy each call. ``meta["seed"]`` records the call's seed,
        so ``random_state=meta["seed"]`` gives that call again. Every row's noise
        comes from that one seed and a hash of the row's values
        (:func:`~unboxed.local._engine.row_seed`): row ``i`` of ``explain(X)`` is
        ``explain(X[i:i+1])`` (bit for bit where the module's gradient for a row does
        not depend on the rows sent with it), different rows get independent noise,
        and identical rows get identical maps. The noise is drawn by torch, whose
        generator takes a 32-bit seed: of ``n`` different rows, two share their
        standard normal draws with probability about ``n^2 / 2^33`` (1% at 10,000).
    image_shape : (H, W), optional
        The image's shape, for plots; by default read from the black box's
        ``input_shape``.
    verbose : bool
        Show a progress bar over the chunks of rows.
    """

    method = "smoothgrad"

    def __init__(
        self,
        blackbox: BlackBox,
        *,
        n_samples: int = 25,
        noise_level: float | None = None,
        noise_scale: float | np.ndarray | None = None,
        random_state: RandomState = None,
        image_shape: tuple[int, int] | None = None,
        verbose: bool = False,
    ) -> None:
        super().__init__(blackbox, image_shape=image_shape, verbose=verbose)
        check_positive_int(n_samples, name="n_samples")
        self.n_samples = n_samples
        self.noise_level = noise_level
        self.noise_scale = noise_scale
        self.random_state = random_state
        # As the fit or explain call checks it, so that a bad seed fails here and in
        # set_params, not once the data is read.
        check_random_state(random_state)
        self._sigma(cast(int, blackbox.n_features))  # refuse bad settings now, not at explain

    def _sigma(self, n_features: int) -> tuple[float, float | np.ndarray | None]:
        """The checked settings: the noise level, and the per-feature scale (None for
        the row's range)."""
        if self.noise_scale is None:
            level = DEFAULT_NOISE_LEVEL if self.noise_level is None else self.noise_level
            return check_number(level, name="noise_level", strict=False), None
        if self.noise_level is not None:
            raise ValueError(
                "pass noise_level (a fraction of each row's range) or noise_scale (the "
                "noise's standard deviation in the features' units), not both"
            )
        scale = check_per_feature(
            self.blackbox._by_columns(self.noise_scale, name="noise_scale"),
            name="noise_scale",
            n_features=n_features,
            input_shape=self.blackbox.input_shape,
        )
        return 1.0, scale

    @property
    def evals_per_row(self) -> int:  # type: ignore[override]
        """Model evaluations per instance: ``n_samples``."""
        return int(self.n_samples)

    def _prepare(self, X: np.ndarray) -> Any:
        # One seed per call, and from it and each row's values a torch seed per row:
        # drawn for the whole chunk, a row's noise depended on its place in the batch,
        # and from the call's seed alone every row got the same standard normal draws.
        # torch's CPU generator keeps the low 32 bits of a seed (manual_seed(5) and
        # manual_seed(5 + 2**40) draw alike), so a row's seed is one 32-bit word: the
        # same the 64-bit word gave, said as it is.
        seed = call_seed(self.random_state)
        keys = (np.random.SeedSequence(row_seed(seed, x)) for x in X)
        torch_seeds = [int(key.generate_state(1, np.uint32)[0]) for key in keys]
        return seed, torch_seeds, *self._sigma(X.shape[1])

    def _seed(self, extra: Any) -> int | None:
        return int(extra[0])

    def _attribute(self, x, target, rows, extra):
        import torch
        from captum.attr import Saliency as CaptumSaliency

        _, torch_seeds, level, scale = extra
        n, s = x.shape[0], self.n_samples
        flat = x.reshape(n, -1)
        # torch draws the noise several times faster than numpy; each row's generator
        # is seeded from the row's own seed, so the same random_state still gives the
        # same map.
        noise = torch.stack(
            [
                torch.randn(
                    (s, flat.shape[1]), generator=torch.Generator().manual_seed(seed), dtype=x.dtype
                )
                for seed in torch_seeds[rows]
            ]
        )
        if scale is None:
            sigma = level * (flat.max(dim=1).values - flat.min(dim=1).values)
            noise = sigma[:, None, None] * noise.to(x.device)
        else:
            scale = torch.as_tensor(scale, dtype=x.dtype).to(x.device)
            noise = scale * noise.to(x.device)
        noisy = (flat[:, None, :] + noise).reshape(n * s, *x.shape[1:])
        targets = target.repeat_interleave(s)
        saliency = CaptumSaliency(self.blackbox.module)
        # In slices of the batch size: with more noisy copies than it, a chunk is one
        # row, whose n_samples copies would go through the network at once.
        size = self.blackbox.batch_size
        grads = torch.cat(
            [
                saliency.attribute(noisy[i : i + size], target=targets[i : i + size], abs=True)
                for i in range(0, n * s, size)
            ]
        )
        return grads.reshape(n, s, -1).mean(dim=1)

    def _parameters(self) -> dict[str, Any]:
        params = super()._parameters()
        level, scale = self._sigma(cast(int, self.blackbox.n_features))
        params["noise_level"] = None if scale is not None else level
        params["noise_scale"] = scale.tolist() if isinstance(scale, np.ndarray) else scale
        return params
