"""LIME, KernelSHAP and occlusion: three thin configurations of one engine.

Sources: ``004_7c9aaa9fd587bc3d.txt`` (the LIME procedure, steps 1-8, and
omission/occlusion) and ``002_3e5e1762af60ee33.txt`` (occlusion with a gray box, LIME
on superpixels). KernelSHAP is LIME with the Shapley kernel and the efficiency
constraint (Lundberg and Lee, 2017).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .._validation import (
    RandomState,
    check_number,
    check_positive_int,
    check_random_state,
)
from ..blackbox import BlackBox, RowName
from ..explanation import Attribution
from ._base import Fill, LocalExplainer, check_background, check_fill_name, make_fill
from ._engine import (
    Components,
    Engine,
    bernoulli_masks,
    call_seed,
    centred,
    coalition_folds,
    constrained_solve,
    cross_validated_r2,
    exponential_kernel,
    lasso_solve,
    one_off_masks,
    pooled_effective_sample_size,
    ridge_solve,
    row_folds,
    shapley_kernel,
    shapley_masks,
    top_k_active,
    uniform_kernel,
    weighted_moments,
    weighted_r2,
)
from ._segments import Partition, Segmenter, Windows, check_window, segment

#: The cross-validation folds' lasso fits stop a row once a step moves its
#: coefficients by at most this share of their largest (:func:`lasso_solve`); the fit
#: whose coefficients are the explanation runs all its steps. On 100 digits rows (64
#: pixels, alpha 1e-4 to 1e-2, with and without n_features) the folds ran about 2.8
#: times faster and ``score_cv`` moved by at most 2.3e-13, as far from 5000 steps as
#: 500 were; on MNIST's 784 pixels no row stopped before its 500 steps.
CV_LASSO_TOL = 1e-12
#: The fewest perturbations per instance a local model is fitted to (``n_samples``).
MIN_SAMPLES = 4
#: :meth:`_PerturbationExplainer._run`: (engine, X, target, components, n_samples, seed,
#: row_name) -> (values, targets, info).
Run = Callable[
    [Engine, np.ndarray, Any, Components, int, int, RowName | None],
    tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]],
]


class _PerturbationExplainer(LocalExplainer):
    """Shared set-up: inputs, fill, components; subclasses give the engine."""

    def __init__(
        self,
        blackbox: BlackBox,
        *,
        fill: Fill,
        background: object,
        image_shape: tuple[int, int] | None,
        verbose: bool,
    ) -> None:
        super().__init__(blackbox, image_shape=image_shape)
        check_fill_name(fill)
        check_background(background, blackbox.n_features, blackbox)
        self.fill = fill
        self.background = background
        self.verbose = verbose

    def _run(
        self,
        engine: Engine,
        X: np.ndarray,
        target: Any,
        components: Components,
        n_samples: int,
        seed: int,
        row_name: RowName | None = None,
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Run the engine on inputs ``X`` already checked by ``blackbox.check_X``; every
        row's draws start from ``seed`` and its own content (:func:`~._engine.row_seed`).
        ``row_name``, the ``X`` given's name for its rows (``_Rows.row_name``: the
        caller's, or a DataFrame's labels, as ``predict_proba`` names them), names the
        row of a perturbation the black box raises on."""
        fill = make_fill(
            self.blackbox._by_columns(self.fill, name="fill"),  # fill=X_train.mean(), say
            X,
            image_shape=self._image_shape(X.shape[1]),
            background=check_background(self.background, X.shape[1], self.blackbox),
        )
        targets = None if target is None else self.blackbox._check_target(target, X.shape[0])
        return engine.run(
            self.blackbox,
            X,
            fill,
            components,
            targets,
            n_samples=n_samples,
            seed=seed,
            verbose=self.verbose,
            row_name=row_name,
        )


class _SegmentExplainer(_PerturbationExplainer):
    """A perturbation explainer over a partition: pixels, superpixels or features."""

    def __init__(
        self,
        blackbox: BlackBox,
        *,
        segmenter: Segmenter,
        segment_params: dict[str, Any] | None,
        n_samples: int,
        fill: Fill,
        background: object,
        image_shape: tuple[int, int] | None,
        random_state: RandomState,
        verbose: bool,
        cv: int | None = None,
    ) -> None:
        super().__init__(
            blackbox, fill=fill, background=background, image_shape=image_shape, verbose=verbose
        )
        check_positive_int(n_samples, name="n_samples", minimum=MIN_SAMPLES)
        if cv is not None:
            check_positive_int(cv, name="cv", minimum=2)
        self.segmenter = segmenter
        self.segment_params = segment_params
        self.n_samples = n_samples
        self.cv = cv
        self.random_state = random_state
        # As the fit or explain call checks it, so that a bad seed fails here and in
        # set_params, not once the data is read.
        check_random_state(random_state)

    def _partition(self, X: np.ndarray, segments: object) -> Partition:
        """The given segments, or those of the configured segmenter."""
        if segments is None:
            shape = self._image_shape(X.shape[1])
            method = self.segmenter
            if method == "auto":
                method = "slic" if shape is not None else "pixels"
            segments = segment(X, shape, method=method, **(self.segment_params or {}))
        n, d = X.shape
        return Partition.from_labels(segments, n, d, self.blackbox.input_shape)

    def _explain(
        self,
        engine: Engine,
        X: object,
        target: Any,
        segments: object,
        *,
        seed: int | None = None,
        run: Run | None = None,
    ) -> Attribution:
        """Explain ``X`` with ``engine``, every row's draws starting from one seed,
        ``random_state``'s (:func:`~._engine.call_seed`) unless given, which
        ``meta["seed"]`` records. ``run``, with :meth:`_run`'s arguments and result,
        replaces it: a caller that adds a pass of its own around the engine's
        (``DMMMEN.explain_local``'s held-out R^2) keeps this one path from the inputs to
        the explanation."""
        seed = call_seed(self.random_state) if seed is None else seed
        rows = self._rows(X)
        X = self.blackbox.check_X(X)
        partition = self._partition(X, segments)
        run = self._run if run is None else run
        values, targets, info = run(
            engine, X, target, partition, self.n_samples, seed, rows.row_name
        )
        extra = {k: v.tolist() for k, v in info.items()}
        return self._attribution(values, targets, X, seed=seed, row_names=rows.labels, **extra)


class Lime(_SegmentExplainer):
    """LIME: a weighted linear model of the black box around each instance.

    The procedure of ``004_7c9aaa9fd587bc3d.txt`` (LIME, steps 1-8): sample binary
    masks over the components, map them back to inputs (switched-off components take
    the fill), query the black box, weight each sample by the exponential kernel on
    its cosine distance to the instance, fit a weighted ridge (or lasso), optionally
    keep the ``n_features`` components with the largest weights and refit on them.

    Parameters
    ----------
    blackbox : BlackBox
    segmenter : "auto", "slic", "quickshift", "grid", "pixels" or callable
        How components are made (see :func:`segment`); "auto" is SLIC superpixels for
        images and one component per feature otherwise. ``explain(segments=...)``
        overrides it.
    segment_params : dict, optional
        Passed to the segmenter.
    n_samples : int
        Perturbed samples per instance, the instance itself included.
    kernel_width : float
        Width of the exponential kernel on the cosine distance (LIME's default 0.25).
        A sample farther than about 38 widths gets weight exactly 0 (the exponential
        underflows). So small a width that this holds for every sample but the
        instance itself (distance 0, weight 1) leaves one point to fit: the slopes are
        0, the intercept is f(x), ``meta["score"]`` is 1 and ``meta["score_cv"]`` NaN,
        which says nothing about the model. A little wider, the samples' weights are
        tiny but not 0 and the penalty still holds the slopes near 0: where they are
        below float rounding beside the instance's (``eps**2``), the responses'
        weighted spread is too and both scores are NaN (digits' pixels at 0.01); above
        it ``score`` reads about 0 and ``score_cv`` far below 0 (0.03 there).
        ``meta["n_effective"]`` tells: each row's effective number of samples, Kish's
        ``(sum W)^2 / sum W^2`` over its distinct perturbations, ``W`` the sum of the
        kernel weights of a mask's copies (a fit to copies is the fit to one point
        with their summed weight; :func:`~._engine.pooled_effective_sample_size`).
        It is about 1 where only the instance counts, however many times it was drawn
        (9 to 13 of 200 samples on a grid of 4 cells, which counted apart read as 9 to
        13 at width 0.005), about 190 of 200 at 0.25 on digits' 64 pixels and 1.0 at
        0.01. A call warns (``UserWarning``) where some row drew at least as many
        distinct perturbations as its fit has unknowns (its ``m`` components, or the
        ``n_features`` kept, and the intercept) but the weights leave it fewer
        effective ones, and fewer than half the distinct ones: its fit is then
        underdetermined by the weights, where widening helps.
    regression : {"ridge", "lasso"}
    alpha : float
        Penalty of the regression (LIME's ridge uses 1.0).
    n_features : int, optional
        K of step 6: keep the K components with the largest ``|weight|`` in the fit
        above and refit a weighted ridge on them. None keeps all. (The lime package's
        "highest_weights" ranks them by a ridge with penalty 0.01 instead, and its
        "auto" uses forward selection for K <= 6, so its K may differ.)
    cv : int or None, default=5
        Folds of the cross-validated score ``meta["score_cv"]`` (at least 2); None
        skips it. It costs no queries, one more pass over the samples (each fold's
        sums, subtracted from the fit's) and ``cv`` more solves per row.
    fill : float, {"zero", "gray", "mean", "blur"} or ndarray
        The value of switched-off features: 0 by default, black on an image. On
        tabular data 0 means "absent" only for standardized features; otherwise
        pass ``fill="mean", background=X_train`` (or an array of per-feature values).
    background : array-like of shape (m, n_features), optional
        Data whose mean is the "mean" fill. ``unboxed.evaluate``'s ``fill="mean"`` is
        the mean of the ``X`` a test is given instead, which removes features otherwise
        than this explanation switched them off (on planted data's first 5 test rows,
        Occlusion's top feature scored 0.99 and deleting it to the 5 rows' mean dropped
        the probability by 0.011): pass ``fill=X_train.mean(axis=0)`` there.
    image_shape : (H, W), optional
    random_state : int, Generator or None
        Seeds the samples drawn. An int gives the same result at every call; a
        Generator is drawn from, one seed per call, so a second call on the same rows
        differs; None draws fresh entropy each call. ``meta["seed"]`` records the
        call's seed, so ``random_state=meta["seed"]`` gives that call again. Every row
        of a call starts from that one seed and from a hash of its own values and
        segments (:func:`~unboxed.local._engine.row_seed`): row ``i`` of
        ``explain(X)`` is ``explain(X[i:i+1])`` (bit for bit where the black box's
        answer for a row does not depend on the rows sent with it, but for the last
        bit at a few widths: torch's batched product of the normal equations rounds
        a batch of one otherwise than a larger one at 5, 7 or 9 segments, a
        difference of about 1e-16), different rows
        get independent masks and folds, and identical rows (same values, same
        segments) get identical explanations.
    verbose : bool

    Notes
    -----
    ``meta["score"]`` holds each local fit's weighted R^2 (LIME's score),
    ``meta["intercept"]`` its intercept and ``meta["n_effective"]`` the effective number
    of samples its kernel weights leave (see ``kernel_width``; explanations saved before
    it was recorded load without it). That R^2 is measured on the samples the model was
    fitted to, and it flatters: with ``n_samples`` near the number of components it
    tends to 1 whatever the black box does. ``meta["score_cv"]`` is the honest figure
    (:func:`~unboxed.local._engine.cross_validated_r2`): the samples already drawn are
    split into ``cv`` random folds per row, and each sample is predicted by the same
    local model (same kernel weights, regression, ``alpha`` and, with ``n_features``,
    the selection redone on the other folds) fitted to the other folds; the R^2 of those
    predictions, weighted by the kernel. It is near the in-sample score when the local
    model generalises, about 0 or below when it only fits noise, and NaN where a row's
    kernel puts all its weight in one fold (a ``kernel_width`` so small that only the
    instance counts). The folds are drawn from a child of each row's generator, so the
    values and ``score`` are those of ``cv=None`` exactly.
    """

    method = "lime"

    def __init__(
        self,
        blackbox: BlackBox,
        *,
        segmenter: Segmenter = "auto",
        segment_params: dict[str, Any] | None = None,
        n_samples: int = 1000,
        kernel_width: float = 0.25,
        regression: str = "ridge",
        alpha: float = 1.0,
        n_features: int | None = None,
        cv: int | None = 5,
        fill: Fill = 0.0,
        background: object = None,
        image_shape: tuple[int, int] | None = None,
        random_state: RandomState = None,
        verbose: bool = False,
    ) -> None:
        super().__init__(
            blackbox,
            segmenter=segmenter,
            segment_params=segment_params,
            n_samples=n_samples,
            fill=fill,
            background=background,
            image_shape=image_shape,
            cv=cv,
            random_state=random_state,
            verbose=verbose,
        )
        check_number(kernel_width, name="kernel_width")
        if regression not in ("ridge", "lasso"):
            raise ValueError(f"regression must be 'ridge' or 'lasso', got {regression!r}")
        check_number(alpha, name="alpha", strict=False)
        if n_features is not None:
            check_positive_int(n_features, name="n_features")
        self.kernel_width = kernel_width
        self.regression = regression
        self.alpha = alpha
        self.n_features = n_features

    def explain(self, X: object, *, target: Any = None, segments: object = None) -> Attribution:
        """Explain each row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        target : int or array-like of shape (n_samples,), optional
            The class explained per row; by default the black box's prediction.
        segments : ndarray of int, shape (n_samples, n_features) or (n_features,), optional
            Precomputed components, e.g. to give several methods the same superpixels.
            In the black box's shape too: ``(n_samples, *input_shape)``,
            ``input_shape``, or an image's pixels ``(n_samples, H, W)`` or ``(H, W)``,
            the same on every channel.

        Returns
        -------
        Attribution
            Each feature carries the weight of its component, for the probability of
            the target class.
        """
        seen: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

        def fit(masks, y, w, valid, keys):
            # Around _fit, not in it: a subclass's own _fit (the tests' refitting
            # reference) records the same figure.
            coef, info = self._fit(masks, y, w, valid, keys)
            n_effective, distinct = pooled_effective_sample_size(masks & valid[:, None, :], w)
            info["n_effective"] = n_effective
            seen.append((n_effective, self._unknowns(valid), distinct))
            return coef, info

        engine = Engine(bernoulli_masks, exponential_kernel(self.kernel_width), fit)
        result = self._explain(engine, X, target, segments)
        self._warn_if_underweighted(seen)
        return result

    def _unknowns(self, valid: np.ndarray) -> np.ndarray:
        """The unknowns of each row's final fit, shape ``(r,)``: its slopes (every
        component, or the ``n_features`` kept, where it has that many) and the
        intercept."""
        slopes = valid.sum(axis=1)
        if self.n_features is not None:
            slopes = np.minimum(slopes, self.n_features)
        return slopes + 1

    def _warn_if_underweighted(self, seen: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        """One warning for the call where the kernel leaves some row fewer effective
        samples than its fit's unknowns (its slopes, ``n_features`` where given, and the
        intercept) although it drew enough distinct perturbations: its fit is then
        underdetermined by the weights, and the penalty alone holds its slopes near 0.
        ``seen`` holds per chunk (or per number of components) the rows' effective
        sample sizes (of their distinct perturbations), unknowns and distinct
        perturbations drawn. Rows that drew fewer distinct ones than unknowns are
        underdetermined whatever the width, so they are left out, and so are rows whose
        kernel keeps at least half the distinct ones they drew: there ``n_samples`` just
        above ``m`` is the cause (on 784 pixels at the default width, 786 samples keep
        782), which no width mends."""
        ess = np.concatenate([e for e, _, _ in seen])
        unknowns = np.concatenate([u for _, u, _ in seen])
        drawn = np.concatenate([d for _, _, d in seen])
        under = (ess < unknowns) & (drawn >= unknowns) & (ess < drawn / 2)
        if not under.any():
            return
        worst = int(np.argmin(np.where(under, ess, np.inf)))
        kept = "" if self.n_features is None else f" (n_features={self.n_features})"
        warnings.warn(
            f"Lime's kernel (kernel_width={self.kernel_width!r}) leaves {int(under.sum())} "
            f"of {len(ess)} rows fewer effective samples than their fit's unknowns "
            f"(the smallest: {ess[worst]:.3g} for {unknowns[worst] - 1} components{kept} "
            "plus the intercept; meta['n_effective'] holds each row's): the weights leave "
            "those fits underdetermined, their slopes held near 0 by the penalty, and "
            "meta['score'] and meta['score_cv'] say little. Widen kernel_width.",
            UserWarning,
            stacklevel=3,
        )

    def _fit(self, masks, y, w, valid, keys):
        Z = np.where(valid[:, None, :], masks, 0.0)
        moments = weighted_moments(Z, y, w)
        coef, intercept, _ = self._local_model(moments, valid)
        info = {"score": weighted_r2(Z, y, w, coef, intercept), "intercept": intercept}
        if self.cv is not None:
            # From a child of each row's generator: spawning leaves its stream where it
            # was, so the masks, hence the values, are those of cv=None bit for bit.
            folds = row_folds(keys, y.shape[1], self.cv)

            def fit(train, probe):
                return self._local_model(train, valid, probe, CV_LASSO_TOL)

            info["score_cv"] = cross_validated_r2(Z, y, w, folds, fit, moments)
        return coef, info

    def _local_model(self, moments, valid, probe=False, tol=None):
        """LIME's regression (steps 5-7) on the samples whose sums are ``moments``:
        coef, intercept and, with ``probe``, the firmness of its solves (as
        :func:`~unboxed.local._engine.ridge_solve`). With ``n_features`` the selection
        and the refit read the same sums, restricted to the chosen components. ``tol``
        goes to :func:`~unboxed.local._engine.lasso_solve`."""
        problem = centred(moments)
        if self.regression == "ridge":
            coef, intercept, firmness = ridge_solve(problem, valid, self.alpha, probe=probe)
        else:
            coef, intercept, firmness = lasso_solve(
                problem, valid, self.alpha, tol=tol, probe=probe
            )
        if self.n_features is not None:
            chosen = top_k_active(coef, valid, self.n_features)
            coef, intercept, refit = ridge_solve(problem, chosen, self.alpha, probe=probe)
            if probe:
                firmness = np.minimum(firmness, refit)
        return coef, intercept, firmness


class KernelShap(_SegmentExplainer):
    """KernelSHAP: Shapley values of the components, estimated by weighted regression.

    The budget goes first to every coalition of one component and its complement
    (sizes 1 and ``m - 1``), and to further sizes ``s`` and ``m - s`` where the budget
    left, shared by kernel weight, covers them all, as the ``shap`` package does; the
    rest are drawn from the Shapley kernel over the other sizes (in complementary
    pairs, none twice: a pair drawn again is redrawn, at its size, rather than
    evaluated again), each weighted so that the fit estimates the same Shapley values
    (:func:`~._engine.shapley_kernel`). A linear model is fitted to the black box's
    probability of the target class, with the intercept fixed to ``f(baseline)`` and
    the efficiency constraint ``sum_j phi_j = f(x) - f(baseline)`` enforced exactly,
    where the baseline is the instance with every component switched off (set to the
    fill). With few components (``2^m <= n_samples``) every coalition is used once with
    its exact kernel weight, as the ``shap`` package does, so the values are the exact
    Shapley values.

    Parameters
    ----------
    blackbox : BlackBox
    segmenter, segment_params, n_samples, fill, background, image_shape, random_state, verbose
        As for :class:`Lime`.
    alpha : float
        Optional ridge penalty (0: plain least squares, as ``shap``'s default).
    cv : int or None, default=5
        Folds of ``meta["score_cv"]``, as for :class:`Lime`; None skips it.

    Notes
    -----
    ``meta["base_value"]`` holds ``f(baseline)`` and ``meta["prediction"]`` ``f(x)``
    per row; ``values`` summed over one copy of each component equal their difference.
    ``meta["score"]`` is the weighted R^2 of the regression on its coalitions, each
    predicted as ``f(baseline) + z . phi`` and weighted as in the fit (listed
    coalitions by the kernel, drawn ones alike, as they follow it already), and
    ``meta["score_cv"]`` its cross-validated counterpart, as for :class:`Lime`: the
    coalitions (not the all-on and all-off samples, which are the fit's constraints
    and are known exactly) are split into ``cv`` folds and each
    is predicted by the constrained regression on the others. An enumerated row's
    folds split its ``2^m - 2`` coalitions alone, not its spare samples of weight 0
    (:func:`~._engine.coalition_folds`): with two components, each coalition is
    predicted from the other. (Split with the spares, both fell in one fold for one
    row in ``cv``, whose ``score_cv`` was NaN where the next row's read 1.) Both are
    well defined: the intercept and the sum are fixed by the constraints, so every
    training set with any weight determines ``phi``. A row of a single component has no coalition
    to score, and both are NaN (its value is exact by efficiency).
    With the intercept and the sum fixed rather than fitted, both can fall below 0,
    in sample too: the additive model through ``f(baseline)`` and ``f(x)`` then predicts
    the coalitions worse than their mean does. That is no sampling noise but a
    probability far from additive in the components, as where the model saturates:
    breast cancer's row 0 under a standardized logistic regression (sklearn's
    ``make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))`` on all 569
    rows, ``fill="mean", background=X``) has ``f(x) = 1.000`` against ``f(baseline) =
    0.445``, about 70% of its coalitions already at ``p > 0.99``, and scores -0.107
    (``score_cv`` -0.172) at ``random_state=0``, -0.24 and -0.30 at 1 and 2 (a test in
    ``tests/local/test_perturbation.py`` reproduces them). Its values still sum to
    ``f(x) - f(baseline)`` exactly; a score near or below 0 says only that how the sum
    is shared among the components is not what an additive model of the probability
    there supports. Read the ranking of such a row with care, not as an error.
    The baseline is one input (the fill, e.g. the mean of ``background``), so the sum
    is ``f(x) - f(baseline)``, not ``f(x) - E[f(X)]`` over a background set as in the
    ``shap`` package's KernelExplainer.
    Every feature carries its component's value, so summing ``values`` over features
    counts a component once per feature.
    """

    method = "kernel_shap"

    def __init__(
        self,
        blackbox: BlackBox,
        *,
        segmenter: Segmenter = "auto",
        segment_params: dict[str, Any] | None = None,
        n_samples: int = 1000,
        alpha: float = 0.0,
        cv: int | None = 5,
        fill: Fill = 0.0,
        background: object = None,
        image_shape: tuple[int, int] | None = None,
        random_state: RandomState = None,
        verbose: bool = False,
    ) -> None:
        super().__init__(
            blackbox,
            segmenter=segmenter,
            segment_params=segment_params,
            n_samples=n_samples,
            fill=fill,
            background=background,
            image_shape=image_shape,
            cv=cv,
            random_state=random_state,
            verbose=verbose,
        )
        check_number(alpha, name="alpha", strict=False)
        self.alpha = alpha

    def explain(self, X: object, *, target: Any = None, segments: object = None) -> Attribution:
        """Explain each row of ``X``, as :meth:`Lime.explain` does.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        target : int or array-like of shape (n_samples,), optional
            The class explained per row; by default the black box's prediction.
        segments : ndarray of int, shape (n_samples, n_features) or (n_features,), optional
            Precomputed components, e.g. to give several methods the same superpixels.
            In the black box's shape too: ``(n_samples, *input_shape)``,
            ``input_shape``, or an image's pixels ``(n_samples, H, W)`` or ``(H, W)``,
            the same on every channel.

        Returns
        -------
        Attribution
            Each feature carries the Shapley value of its component, for the
            probability of the target class.
        """
        engine = Engine(shapley_masks, shapley_kernel, self._fit)
        return self._explain(engine, X, target, segments)

    def _fit(self, masks, y, w, valid, keys):
        prediction, base = y[:, 0], y[:, 1]
        # Samples 0 and 1 (all on, all off) are the constraints; the rest are regressed,
        # on y - f(baseline), with no intercept.
        Z, y, w = np.where(valid[:, None, :], masks[:, 2:], 0.0), y[:, 2:], w[:, 2:]
        moments = weighted_moments(Z, y, w, shift=base)

        def fit(sums, probe=False):
            phi, firmness = constrained_solve(
                sums.gram, sums.rhs, valid, prediction - base, self.alpha, probe=probe
            )
            return phi, base, firmness

        phi, _, _ = fit(moments)
        info = {"base_value": base, "prediction": prediction}
        info["score"] = weighted_r2(Z, y, w, phi, base)
        if self.cv is not None:
            folds = coalition_folds(keys, valid, masks.shape[1], self.cv)
            info["score_cv"] = cross_validated_r2(Z, y, w, folds, fit, moments, shift=base)
        return phi, info


class Occlusion(_PerturbationExplainer):
    """Occlusion: slide a box over the input and record how much the probability drops.

    Source: ``002_3e5e1762af60ee33.txt`` (occlusion with a gray box; "the size of the
    gray box can be crucial") and ``004_7c9aaa9fd587bc3d.txt`` (omission). Each
    feature gets the mean drop ``f(x) - f(x with the box over it)`` of the windows
    that cover it, as Captum's ``Occlusion`` computes it. One difference: where the
    stride does not divide the image's extent minus the window, the last box here sits
    flush with the edge, while Captum's starts at the next multiple of the stride and
    is cut off by the edge.

    Parameters
    ----------
    blackbox : BlackBox
    window : int or tuple of int, optional
        The box's size, per axis of the image (or of the feature vector). By default
        4 on images and 1 on a feature vector: neighbouring columns of a table have
        nothing in common, so tabular features are covered one at a time.
    stride : int or tuple of int, optional
        How far the box moves between positions; by default 2 on images and 1 on a
        feature vector.
    fill : float, {"gray", "zero", "mean", "blur"} or ndarray
        What the box shows; gray (0.5, the middle of images in [0, 1]) by default.
        On tabular data pass a value that means "absent" in its units, e.g.
        ``fill="mean", background=X_train``.
    background, image_shape, verbose
        As for :class:`Lime`.
    """

    method = "occlusion"

    def __init__(
        self,
        blackbox: BlackBox,
        *,
        window: int | tuple[int, ...] | None = None,
        stride: int | tuple[int, ...] | None = None,
        fill: Fill = "gray",
        background: object = None,
        image_shape: tuple[int, int] | None = None,
        verbose: bool = False,
    ) -> None:
        super().__init__(
            blackbox, fill=fill, background=background, image_shape=image_shape, verbose=verbose
        )
        check_window(window, stride)
        self.window = window
        self.stride = stride

    def explain(self, X: object, *, target: Any = None) -> Attribution:
        """Explain each row of ``X``, as :meth:`Lime.explain` does.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        target : int or array-like of shape (n_samples,), optional
            The class explained per row; by default the black box's prediction.

        Returns
        -------
        Attribution
            Each feature's mean drop in the target class's probability over the boxes
            that cover it.
        """
        rows = self._rows(X)
        X = self.blackbox.check_X(X)
        shape = self._image_shape(X.shape[1])
        if shape is None and len(self.blackbox.input_shape or ()) == 3:
            # Boxes over the flattened channels would cover runs of one row, not boxes.
            raise ValueError(
                f"Occlusion slides a box over grayscale images, but this black box takes "
                f"inputs of shape {self.blackbox.input_shape} (several channels)"
            )
        # Images: a 4x4 box moved by 2. A feature vector: one feature at a time, since
        # neighbouring columns of a table have nothing in common.
        image = shape is not None
        window = (4 if image else 1) if self.window is None else self.window
        stride = (2 if image else 1) if self.stride is None else self.stride
        windows = Windows.sliding(shape or (X.shape[1],), window, stride)
        engine = Engine(one_off_masks, uniform_kernel, _drops)
        # The seed is unused: occlusion is deterministic.
        values, targets, _ = self._run(
            engine, X, target, windows, windows.width + 1, 0, rows.row_name
        )
        return self._attribution(values, targets, X, row_names=rows.labels)


def _drops(masks, y, w, valid, keys):
    """Occlusion's "fit": the drop in probability when each window is covered."""
    return y[:, :1] - y[:, 1:], {}
