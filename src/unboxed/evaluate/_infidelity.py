"""Infidelity: how well an attribution predicts the black box's response to perturbations.

Yeh, Hsieh, Suggala, Inouye and Ravikumar (2019), "On the (In)fidelity and Sensitivity
of Explanations", NeurIPS, eq. 1:

    INFD(a, f, x) = E_I[(I . a - (f(x) - f(x - I)))^2]

with ``f`` the black box's probability of the explained class and ``I`` a random
perturbation. An attribution that reads as a linear model of the black box around
``x`` predicts each perturbation's effect ``f(x) - f(x - I)`` by ``I . a``; the
infidelity is the mean squared error of that prediction. It gives every attribution a
per-row figure, whatever made it (gradients, occlusion, LIME), where
:func:`~unboxed.evaluate.deletion_curve` ranks features and ignores the values.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from .._estimator import short_repr
from .._validation import (
    RandomState,
    allocate,
    check_array,
    check_fraction,
    check_number,
    check_per_feature,
    check_positive_int,
    check_random_state,
    input_shapes,
    pandas_index,
)
from ..blackbox import BlackBox, _row_of_x, check_blackbox, perturbation_name
from ..explanation import Attribution, _json_seed
from ..local._segments import Partition
from ._fidelity import Fill, _check_fill, _make_fill
from ._ranking import check_rows, explained_classes
from ._saved import SavedWithEstimates, check_estimate_of, loaded_array
from ._stats import Estimate, estimate

Perturbation = Literal["gaussian", "removal"]
PERTURBATIONS = ("gaussian", "removal")

#: Perturbed values built and sent to the black box at once (32 MiB of float64), so
#: that 1000 images times 50 perturbations never need one (50000, 784) array.
CHUNK_ELEMENTS = 1 << 22

#: From a block of row indices to their perturbations ``I`` and perturbed inputs
#: ``x - I``, each of shape ``(n_rows, n_perturb, n_features)``.
Draw = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclasses.dataclass(frozen=True, eq=False)
class InfidelityResult(SavedWithEstimates):
    """Per-row infidelity of an attribution (Yeh et al. 2019, eq. 1).

    Its :meth:`save` and :meth:`load` write and read one ``.npz`` file, as an
    :class:`~unboxed.Explanation`'s do.

    Attributes
    ----------
    infidelity : ndarray of shape (n_samples,)
        ``mean_I (beta * I . a - (f(x) - f(x - I)))^2`` over the row's perturbations,
        in squared probability units.
    relative : ndarray of shape (n_samples,)
        ``infidelity / response``: the infidelity against that of the zero
        attribution, which predicts no effect at all. With ``normalize=True`` it lies
        in [0, 1]: 0 when ``beta * I . a`` predicts every perturbation's effect
        exactly, 1 when it predicts nothing (it is one minus the squared uncentred
        correlation of ``I . a`` with the effect). Without normalizing it exceeds 1
        for an attribution of the wrong scale. NaN on a row whose probability no
        perturbation moved (``response`` 0).
    beta : ndarray of shape (n_samples,)
        The scale applied to each row's attribution: the least-squares
        ``sum (I . a) dF / sum (I . a)^2`` with ``normalize=True`` (0 for an
        attribution that is zero on every perturbation), else 1.
    response : ndarray of shape (n_samples,)
        ``mean_I (f(x) - f(x - I))^2``: how much the perturbations move the row's
        probability at all (a perturbed row equal to ``x`` counts 0).
    mean_infidelity : Estimate
        The mean of ``infidelity`` over rows, with a 95% bootstrap CI over rows.
    mean_relative : Estimate
        The mean of ``relative`` over the rows where it is defined.
    meta : dict
        The settings (perturbation, scale or p_remove, n_perturb, normalize, fill,
        unit), the seed, and ``n_flat``, the rows left out of ``mean_relative``.
    """

    infidelity: np.ndarray
    relative: np.ndarray
    beta: np.ndarray
    response: np.ndarray
    mean_infidelity: Estimate
    mean_relative: Estimate
    meta: dict[str, Any]

    __repr__ = short_repr  # shapes, not every row's figure

    @classmethod
    def _decode(cls, fields: dict[str, Any]) -> dict[str, Any]:
        fields = super()._decode(fields)
        names = ("infidelity", "relative", "beta", "response")
        sizes = {loaded_array(fields, name, kind="f", ndim=1).size for name in names}
        if len(sizes) != 1:
            raise ValueError(f"{', '.join(names)} must have one value per row each")
        # A figure infidelity cannot give read back as one (a NaN infidelity, an
        # empty result) and was averaged or plotted without a word.
        if sizes == {0}:
            raise ValueError("it holds no rows")
        for name in ("infidelity", "beta", "response"):
            if not np.all(np.isfinite(fields[name])):
                raise ValueError(f"{name} holds NaN or infinity")
        for name in ("infidelity", "response"):
            if np.any(fields[name] < 0):
                raise ValueError(f"{name} holds a negative mean square")
        if np.any(np.isnan(fields["relative"]) != (fields["response"] == 0)):
            raise ValueError("relative must be NaN exactly where response is 0")
        relative = fields["relative"]
        defined = ~np.isnan(relative)
        if not np.all(np.isfinite(relative[defined])):
            raise ValueError("relative holds infinity")
        expected = fields["infidelity"][defined] / fields["response"][defined]
        if not np.allclose(relative[defined], expected, rtol=1e-9, atol=0):
            raise ValueError("relative must be infidelity / response on every row")
        if "mean_infidelity" in fields and fields["mean_infidelity"].n != relative.size:
            raise ValueError("mean_infidelity's n is not the number of rows")
        # Each estimate is of the rows' figures: a hand-edited mean loaded as the result.
        check_estimate_of(fields, "mean_infidelity", fields["infidelity"], of="infidelity")
        check_estimate_of(fields, "mean_relative", relative[defined], of="relative's defined rows")
        return fields


def infidelity(
    blackbox: BlackBox,
    X: object,
    attribution: Attribution | np.ndarray,
    *,
    perturbation: Perturbation = "gaussian",
    scale: float | np.ndarray | None = None,
    p_remove: float | None = None,
    n_perturb: int = 50,
    normalize: bool = True,
    segments: np.ndarray | None = None,
    fill: Fill | None = None,
    target: object = None,
    n_boot: int = 1000,
    random_state: RandomState = None,
) -> InfidelityResult:
    """How well each row's attribution predicts the black box's response to perturbations.

    For each row ``x`` with attribution ``a`` and explained class ``c``, draws
    ``n_perturb`` perturbations ``I`` and reports the infidelity of Yeh et al. (2019),
    eq. 1: the mean of ``(beta * I . a - (f_c(x) - f_c(x - I)))^2``, with ``f_c`` the
    black box's probability of class ``c``. Two families of ``I``, the paper's:

    - ``"gaussian"`` (its "noisy baseline"): ``I ~ N(0, scale^2)`` in every feature,
      so ``x - I`` is ``x`` plus noise and ``I . a`` is the first-order prediction of
      a per-unit attribution: a signed gradient (``blackbox.gradient(X, target)``).
      :class:`~unboxed.local.Saliency` and :class:`~unboxed.local.SmoothGrad` map
      ``|gradient|``, which has lost the sign this figure needs: their infidelity
      says how far the magnitude map is from the model's local behaviour.
    - ``"removal"`` (its "square removal", generalised to any subset): each feature,
      or each segment with ``segments``, is removed (set to ``fill``) independently
      with probability ``p_remove``, and ``I`` is the 0/1 indicator of the features
      the removal changed, so ``I . a`` is the summed attribution of the removed
      features. This is the paper's own code for square removal (its ``binary_I``)
      and Captum's ``infidelity_perturb_func_decorator(multiply_by_inputs=True)``:
      ``(x - x_removed) / (x - fill)``, 0 where ``x`` already equals the fill. It
      suits attributions that share an effect out among the features (occlusion,
      LIME, KernelSHAP, integrated gradients, DeepLift, input times gradient): each
      claims what removing a feature costs. A gradient predicts removal by
      ``gradient * (x - fill)``: pass that product. With ``segments`` the
      attribution stays one value per feature (pixel); only whole segments are
      removed.

    The same perturbations serve every row's figure and are sent to the black box in
    chunks, one query per row and perturbation; ``f(x)`` costs one more per row. A
    perturbed row equal to ``x`` (every removed feature already at the fill) has an
    effect of exactly 0, whatever the black box returns for it: ``f(x)`` and
    ``f(x - I)`` come from batches of other sizes, which a float32 model may round
    differently.

    Parameters
    ----------
    blackbox : BlackBox
    X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        The explained rows.
    attribution : Attribution or ndarray of float, shape (n_samples, n_features)
        One attribution per row of ``X``, in any units (probability, logit): with
        ``normalize=True`` the figure does not depend on its scale. An array explains
        ``target``, else each row's predicted class.
    perturbation : {"gaussian", "removal"}
    scale : float or array-like of shape (n_features,) or input_shape
        ``"gaussian"`` only, and required there: the noise's standard deviation, in
        the features' own units: one number for every feature (pixels of one range)
        or one per feature (``0.1 * X_train.std(0)``; 0 holds a feature still).
    p_remove : float in (0, 1]
        ``"removal"`` only: the probability that each feature or segment is removed;
        default 0.5, which makes every subset equally likely.
    n_perturb : int
        Perturbations per row.
    normalize : bool
        Scale each row's attribution by the least-squares ``beta`` first (as Captum's
        ``infidelity(normalize=True)``), so that the figure measures the attribution's
        shape, not its units. Without it an attribution of logits is scored against
        probabilities as it is.
    segments : ndarray of int, shape (n_samples, n_features) or (n_features,), optional
        ``"removal"`` only: remove whole segments (superpixels) rather than features.
        In the black box's shape too: ``(n_samples, *input_shape)``, ``input_shape``, or
        an image's pixels ``(n_samples, H, W)`` or ``(H, W)``, the same on every channel.
    fill : {"zero", "mean"} or ndarray of shape (n_features,), optional
        ``"removal"`` only: what removed features become; default "zero". "mean" is
        each feature's mean over the rows of ``X``, as in
        :func:`~unboxed.evaluate.deletion_curve`, not an explainer's ``fill="mean"``
        (the mean of its ``background``): pass ``fill=X_train.mean(axis=0)`` to remove
        features as an explanation made with ``background=X_train`` switched them off.
    target : array-like of shape (n_samples,) or a class, optional
        The class per row; an :class:`~unboxed.Attribution`'s own classes must agree
        with it.
    n_boot : int
    random_state : int, Generator or None
        Seeds the perturbations and the bootstrap; the same seed gives the same figures.

    Returns
    -------
    InfidelityResult

    Raises
    ------
    ValueError
        On a setting that does not belong to ``perturbation``, an attribution of
        another shape than ``X`` or made for other inputs or classes, NaN or infinity
        in ``X`` or the attribution, or when no perturbation of any row moved the
        probability (``relative`` would be undefined everywhere).
    """
    rng = check_random_state(random_state)
    n_perturb = check_positive_int(n_perturb, name="n_perturb")
    n_boot = check_positive_int(n_boot, name="n_boot")
    if not isinstance(normalize, bool | np.bool_):
        raise TypeError(f"normalize must be True or False, got {normalize!r}")
    _check_family(perturbation, scale=scale, p_remove=p_remove, segments=segments, fill=fill)
    # A DataFrame's row labels name the row the model raises on, in f(x) and f(x - I)
    # alike, as predict_proba names it: row 1 of a split is not X.loc[1].
    index = pandas_index(X)
    X = check_blackbox(blackbox).check_X(X)
    n, d = X.shape
    values = _attribution_values(attribution, X, blackbox.input_shape)
    # With normalize, each row's attribution is scaled by a power of two to at most 1
    # (exactly, so the figures are those of the values given, and beta is scaled
    # back): I . a of an attribution of 1e308 overflowed, and of 1e-300 underflowed.
    attribution_max = np.max(np.abs(values), axis=1)
    exponent = np.frexp(attribution_max)[1] if normalize else np.zeros(n, int)
    values = np.ldexp(values, -exponent[:, None])
    classes = explained_classes(blackbox, attribution, target, n)
    meta: dict[str, Any] = {
        "test": "infidelity",
        "perturbation": perturbation,
        "n_perturb": n_perturb,
        "normalize": bool(normalize),
    }
    if perturbation == "gaussian":
        sd = _check_scale(blackbox._by_columns(scale, name="scale"), d, blackbox.input_shape)
        meta["scale"] = sd if isinstance(sd, float) else sd.tolist()
        draw = _gaussian(X, sd, n_perturb, rng)
    else:
        p = 0.5 if p_remove is None else check_fraction(p_remove, name="p_remove")
        # No class enters: "positive_mean", the fill by class, is refused above.
        removed = blackbox._by_columns("zero" if fill is None else fill, name="fill")
        fills = _make_fill(removed, X, np.zeros(n, int), lambda: np.zeros(n, int), 1)
        shape = blackbox.input_shape
        labels = None if segments is None else Partition.from_labels(segments, n, d, shape)
        meta.update(
            p_remove=p,
            fill=removed if isinstance(removed, str) else "array",
            unit="feature" if labels is None else "segment",
        )
        draw = _removal(X, fills.table[0], p, n_perturb, labels, rng)
    rows_per_chunk = max(1, CHUNK_ELEMENTS // (n_perturb * d))
    # Held before the black box is queried: n_perturb=10**30 failed in numpy
    # ("Maximum allowed dimension exceeded") after f(x), and n_boot=10**30 drew
    # bootstrap means without end once every perturbation had been scored.
    predicted = allocate((n, n_perturb), setting=f"n_perturb={n_perturb}")  # I . a
    effect = allocate((n, n_perturb), setting=f"n_perturb={n_perturb}")  # f(x) - f(x - I)
    allocate((min(n, rows_per_chunk), n_perturb, d), setting=f"n_perturb={n_perturb}")  # a draw
    allocate((n_boot,), setting=f"n_boot={n_boot}")  # the bootstrap's means
    # Every setting is checked: from here on the black box is queried.
    base = blackbox._proba_rows(X, index=index)
    if classes is None:
        classes = base.argmax(axis=1)
    f = base[np.arange(n), classes]
    of_x = functools.partial(_row_of_x, index=index)  # "row 6 of X, row X.loc[40]"
    for start in range(0, n, rows_per_chunk):
        rows = np.arange(start, min(start + rows_per_chunk, n))
        perturbation_, perturbed = draw(rows)
        # Row-major, perturbations of one row together: Captum's repeat_interleave order.
        named = perturbation_name(start, n_perturb, of_x)
        proba = blackbox._proba_rows(perturbed.reshape(-1, d), named)
        picked = proba[np.arange(proba.shape[0]), np.repeat(classes[rows], n_perturb)]
        change = f[rows, None] - picked.reshape(rows.size, n_perturb)
        # f(x) and f(x - I) come from batches of other sizes, which a float32 model can
        # round apart (1e-8): an x - I equal to x is no perturbation, and its effect is
        # exactly 0, or a row nothing moves got a relative figure of 1, not NaN.
        change[~perturbation_.any(axis=2)] = 0.0  # I = 0: x - I is x
        effect[rows] = change
        predicted[rows] = np.einsum("rpd,rd->rp", perturbation_, values[rows])
    with np.errstate(over="ignore", invalid="ignore"):  # named below
        infid, beta, response = _infidelity_terms(predicted, effect, normalize=normalize)
    if not np.all(np.isfinite(infid)):
        raise ValueError(
            f"the attribution is too large for normalize=False: I . a reaches "
            f"{np.abs(predicted).max():.3g}, and its square overflows float64; pass "
            "normalize=True, which scales it, or an attribution in probability units"
        )
    with np.errstate(over="ignore"):  # named below
        beta = np.ldexp(beta, -exponent)
    if not np.all(np.isfinite(beta)):
        raise ValueError(
            "the attribution is too small: beta, the scale that fits it to the "
            f"probabilities, exceeds float64 (|attribution| at most "
            f"{attribution_max[~np.isfinite(beta)].min():.3g} on a row); scale it up first"
        )
    moved = response > 0
    if not moved.any():
        raise ValueError(
            "no perturbation of any row moved the probability of the explained class "
            "(saturated at 0 or 1?), so the relative infidelity is undefined; perturb "
            "more (a larger scale or p_remove)"
        )
    relative = np.full(n, np.nan)
    relative[moved] = infid[moved] / response[moved]
    meta.update(seed=_json_seed(random_state), n_flat=int(n - moved.sum()))
    return InfidelityResult(
        infidelity=infid,
        relative=relative,
        beta=beta,
        response=response,
        mean_infidelity=estimate(infid, n_boot=n_boot, random_state=rng),
        mean_relative=estimate(relative[moved], n_boot=n_boot, random_state=rng),
        meta=meta,
    )


# ---------------------------------------------------------------------- math
def _infidelity_terms(
    predicted: np.ndarray, effect: np.ndarray, *, normalize: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row infidelity, beta and response (Yeh et al. 2019, eq. 1 and Sec. 2.1).

    Parameters
    ----------
    predicted : ndarray of shape (n_rows, n_perturb)
        ``s = I . a`` per perturbation.
    effect : ndarray of shape (n_rows, n_perturb)
        ``dF = f(x) - f(x - I)`` per perturbation.
    normalize : bool
        Scale ``s`` by ``beta = sum s dF / sum s^2`` first, the least-squares fit of
        ``dF`` by ``beta * s`` (Captum's ``normalize=True``); 0 for an ``s`` that is
        zero throughout, as Captum's ``safe_div`` gives. Else ``beta = 1``.

    Returns
    -------
    infidelity : ndarray of shape (n_rows,)
        ``mean (beta * s - dF)^2``. Summed over the residuals themselves, not expanded
        into ``beta^2 sum s^2 - 2 beta sum s dF + sum dF^2`` as Captum does: that
        cancels to rounding noise (and below zero) for a faithful attribution.
    beta : ndarray of shape (n_rows,)
    response : ndarray of shape (n_rows,)
        ``mean dF^2``.
    """
    beta = np.ones(predicted.shape[0])
    if normalize:
        # beta * s is the same when s is scaled by a power of two (exactly), and the
        # squares of an s of 1e200 (a large scale) overflowed, of 1e-170 underflowed
        # to 0 (beta 0: the figures of the zero attribution).
        exponent = np.frexp(np.max(np.abs(predicted), axis=1))[1]
        unit = np.ldexp(predicted, -exponent[:, None])
        squares = np.sum(unit**2, axis=1)
        cross = np.sum(unit * effect, axis=1)
        scaled = np.divide(cross, squares, out=np.zeros_like(squares), where=squares > 0)
        residual = scaled[:, None] * unit - effect
        beta = np.ldexp(scaled, -exponent)
    else:
        residual = predicted - effect
    return np.mean(residual**2, axis=1), beta, np.mean(effect**2, axis=1)


# ---------------------------------------------------------------------- draws
def _gaussian(
    X: np.ndarray, sd: float | np.ndarray, n_perturb: int, rng: np.random.Generator
) -> Draw:
    """A function from a block of rows to their ``(I, x - I)``, each ``(r, P, d)``.

    The noise is drawn block after block from one generator in row order, which is
    the same stream as one draw for every row: the figures do not depend on the block
    size.
    """
    d = X.shape[1]

    def draw(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is named below
            noise = rng.standard_normal((rows.size, n_perturb, d)) * sd
            perturbed = (X[rows, None, :] - noise).astype(X.dtype, copy=False)
        if not np.all(np.isfinite(perturbed)):
            raise ValueError(
                f"scale is too large for {X.dtype} inputs: x - noise overflows to infinity"
            )
        # The perturbation that reached the black box, after rounding to X's dtype.
        return X[rows, None, :] - perturbed.astype(np.float64), perturbed

    return draw


def _removal(
    X: np.ndarray,
    fill: np.ndarray,
    p: float,
    n_perturb: int,
    labels: Partition | None,
    rng: np.random.Generator,
) -> Draw:
    """A function from a block of rows to their ``(I, x_removed)``, each ``(r, P, d)``,
    ``I`` the 0/1 indicator of the features that a removal changed.

    Every row draws one coin per slot of the widest row (features, or segments), so
    the stream, and the figures, do not depend on the block size.
    """
    d = X.shape[1]
    width = d if labels is None else labels.width

    def draw(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        removed = rng.random((rows.size, n_perturb, width)) < p
        if labels is not None:
            index = np.broadcast_to(labels.labels[rows][:, None, :], (rows.size, n_perturb, d))
            removed = np.take_along_axis(removed, index, axis=2)
        perturbed = np.where(removed, fill.astype(X.dtype), X[rows, None, :])
        # A feature that already held its fill value is not perturbed by removing it:
        # its attribution predicts nothing (Captum's safe_div gives 0 there too).
        return (perturbed != X[rows, None, :]).astype(np.float64), perturbed

    return draw


# ---------------------------------------------------------------------- checks
def _check_family(
    perturbation: object,
    *,
    scale: object,
    p_remove: object,
    segments: object,
    fill: object,
) -> None:
    """Refuse a setting of the other family: it would be silently ignored."""
    if not isinstance(perturbation, str) or perturbation not in PERTURBATIONS:
        raise ValueError(f"perturbation must be one of {PERTURBATIONS}, got {perturbation!r}")
    if perturbation == "gaussian":
        if scale is None:
            raise ValueError(
                "perturbation='gaussian' needs scale, the noise's standard deviation in "
                "the features' units (say 0.1 for pixels in [0, 1], or one per feature, "
                "0.1 * X_train.std(), for a table's features of different units)"
            )
        settings = {"p_remove": p_remove, "segments": segments, "fill": fill}
        given = [name for name, value in settings.items() if value is not None]
        if given:
            verb = "applies" if len(given) == 1 else "apply"
            raise ValueError(
                f"{', '.join(given)} only {verb} to perturbation='removal', not 'gaussian'"
            )
    else:
        if scale is not None:
            raise ValueError("scale only applies to perturbation='gaussian'; use p_remove")
        if fill is not None:
            _check_fill(fill)
            if isinstance(fill, str) and fill == "positive_mean":
                raise ValueError("fill must be 'zero', 'mean' or an array, got 'positive_mean'")


def _check_scale(scale: object, d: int, input_shape: tuple[int, ...] | None) -> float | np.ndarray:
    if np.ndim(scale) == 0:  # type: ignore[arg-type]
        return check_number(scale, name="scale")
    sd = np.asarray(check_per_feature(scale, name="scale", n_features=d, input_shape=input_shape))
    if not np.any(sd > 0):  # no noise at all would measure nothing
        raise ValueError("scale must be positive in at least one feature, got all zeros")
    return sd


def _attribution_values(
    attribution: object, X: np.ndarray, input_shape: tuple[int, ...] | None
) -> np.ndarray:
    """The attribution's values as float64 of ``X``'s shape ``(n, d)``."""
    n, d = X.shape
    if isinstance(attribution, Attribution):
        if attribution.values.shape[1] != d:
            raise ValueError(
                f"the attribution covers {attribution.values.shape[1]} features but X has {d}"
            )
        check_rows(attribution, X)
        return np.asarray(attribution.values, dtype=np.float64)
    if not isinstance(attribution, np.ndarray | list | tuple) and not hasattr(
        attribution, "__array__"
    ):
        raise TypeError(
            "attribution must be an Attribution or an array of shape (n_samples, "
            f"n_features), got {type(attribution).__name__}"
        )
    arr = np.asarray(attribution)
    if arr.dtype.kind in "iub":
        raise TypeError(
            f"attribution must hold float scores, got dtype {arr.dtype} (an integer array "
            "reads as a ranking of feature indices elsewhere in unboxed.evaluate)"
        )
    arr = check_array(arr, name="attribution", ndim=None)
    shapes = [(n, *shape) for shape in input_shapes(d, input_shape)]
    if arr.shape not in shapes:
        expected = " or ".join(str(s) for s in shapes)
        raise ValueError(f"attribution has shape {arr.shape}; expected {expected}, as X")
    return arr.reshape(n, d)
