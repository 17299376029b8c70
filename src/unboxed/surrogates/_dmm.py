"""DMM-MEN: a Dirichlet-process mixture of elastic-net regressions approximating a model.

Source: ``000_cf0c09d2d9cd2a13.txt`` (Sec. 3, eq. 4-7; Sec. 4.1 insights; Sec. 4.2
local explanations), with the posterior updates of ``../shared/notes/dmm-men-sampler.md``
(:mod:`._dmm_math`). For each class ``c`` the surrogate regresses the logit of the
black box's probability of ``c`` on the inputs the black box assigns to ``c``; a
mixture of linear regressions, each with one of ``K`` elastic-net priors, covers the
different ways the model reaches that class.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import multiprocessing
import os
import signal
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Literal, NamedTuple, cast

import numpy as np
from scipy import special

from .._estimator import Params
from .._io import array_digest
from .._progress import progress
from .._ranks import descending_order
from .._validation import (
    CLASS_INDEX_HINT,
    NotFittedError,
    RandomState,
    check_checkpoint,
    check_feature_indices,
    check_finite,
    check_finite_labels,
    check_fraction,
    check_is_fitted,
    check_labels,
    check_n_jobs,
    check_no_missing,
    check_number,
    check_positive_int,
    check_torch_seed,
    frame_index,
    int_seed,
    is_int,
    pandas_index,
)
from ..blackbox import (
    BlackBox,
    RowName,
    _row_of_x,
    check_blackbox,
    class_title,
    grayscale_shape,
)
from ..explanation import Attribution, FeatureImportance, make_meta
from ..local._base import Fill
from ..local._engine import (
    Engine,
    Kernel,
    bernoulli_masks,
    exponential_kernel,
    pooled_effective_sample_size,
    r2_of_predictions,
    uniform_kernel,
)
from ..local._perturbation import _SegmentExplainer
from ..local._segments import Partition, Segmenter
from ._dmm_chain import (
    RHAT_GROUPS,
    ChainSettings,
    Checkpoint,
    Posterior,
    check_posterior,
    sample_posterior,
)
from ._dmm_math import Prior
from ._driver import ConvergenceWarning
from ._mcmc import RHAT_LIMIT

#: Probabilities are clipped to [CLIP, 1 - CLIP] before the logit, so a black box that
#: outputs exact 0 or 1 gives finite targets (|logit| <= 27.6). The note's 1e-6 binds
#: for confident networks: 39% of the Fashion-MNIST trousers the benchmark's LeNet
#: sees sit at logit(1 - 1e-6) = 13.8 exactly, a point mass that one component fits
#: with a collapsing variance (R^2 0.62 against 0.78 with the unclipped logits).
CLIP = 1e-12
#: The fewest samples a class needs: below this a mixture of regressions says nothing.
MIN_SAMPLES = 20
#: Features kept per insight row by default, as the paper's Fig. 1 (fewer when fewer
#: are fitted).
DEFAULT_K = 150
#: The last entry of the seed key of a class's occlusions: no chain index reaches it,
#: so the occlusions draw from a stream of their own.
OCCLUSION_STREAM = 2**32 - 1
#: The last entry of the seed key of ``explain_local``'s held-out masks: no chain of
#: the fit is seeded with it, so they come from a stream of their own.
HELD_OUT_STREAM = 2**32 - 2
#: Seconds a worker has to save its chain after an interrupt before it is killed.
STOP_GRACE = 10.0

#: The smallest shape of the Gamma priors an empty component's variance and the
#: lambdas are drawn from: below it a Gamma draw underflows to 0 too often (with
#: probability about ``1e-308 ** shape``), and the sampler divides by it. At 0.2
#: a draw below 1e-76, which overflows the stored coefficients, has odds of 6e-16.
MIN_PRIOR_SHAPE = 0.2
#: The range of the priors' rates and scale, beyond which the draws leave float range.
PRIOR_SCALE_RANGE = (1e-30, 1e30)


def logit(p: np.ndarray) -> np.ndarray:
    """``log(p / (1 - p))`` of ``p`` clipped to ``[CLIP, 1 - CLIP]``: 0 and 1 give
    ``-+log(1 / CLIP - 1)``, about 27.6; a NaN or infinity is refused (``ValueError``)."""
    _refuse_nonfinite_probabilities(p, name="p")
    p = np.clip(p, CLIP, 1 - CLIP)
    return np.log(p) - np.log1p(-p)


def _refuse_nonfinite_probabilities(p: object, *, name: str) -> None:
    """Refuse a NaN or infinity among probabilities: the clip passes a NaN through (a
    NaN logit reached the fit's targets or a local fit's response with no word) and
    reads an infinity as a certainty."""
    check_finite(np.asarray(p, dtype=float), name=name)


def _refuse_missing_class(classes: object, *, name: str, advice: str) -> None:
    """Refuse a missing entry (NaN, None) or an infinity among classes a user names, by
    its position and a pandas Series' label: they are classes, not rows, so the label
    checks' advice to "drop those rows" does not fit, and without labels a NaN read
    "classes must be ints in [0, 3), got array([2., 1., 0., nan, 0.])" (and an
    infinity "got array([ 1., inf])")."""
    # The classes as given: np.asarray made ["setosa", nan] the strings [..., "nan"].
    index = pandas_index(classes)
    check_no_missing(classes, name=name, index=index, advice=advice)
    check_finite_labels(classes, name=name, index=index)


def class_logit(proba: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The logit of each row's probability of its ``target`` class, clipped as :func:`logit`.

    ``1 - p`` is taken as the sum of the other classes' probabilities: where a
    confident black box rounds ``p`` to 1 (at 6e-8 in float32), the others still
    carry how confident it is.

    ``proba`` must be of shape (n, n_classes) without NaN, and ``target`` column
    indices of shape (n,); anything else is refused (``ValueError``).
    """
    proba, target = np.asarray(proba), np.asarray(target)
    if proba.ndim != 2:
        raise ValueError(f"proba must be of shape (n, n_classes), got shape {proba.shape}")
    if target.shape != (proba.shape[0],):
        raise ValueError(
            f"target must be of shape ({proba.shape[0]},), one class per row of proba, "
            f"got shape {target.shape}"
        )
    if target.size and (
        not np.issubdtype(target.dtype, np.integer)
        or target.min() < 0
        or target.max() >= proba.shape[1]
    ):
        raise ValueError(
            f"target must hold column indices in [0, {proba.shape[1]}), got {target.tolist()}"
        )
    _refuse_nonfinite_probabilities(proba, name="proba")
    own = np.arange(proba.shape[1]) == target[:, None]
    p = proba[own]
    rest = np.where(own, 0.0, proba).sum(axis=1)  # not 1 - p, which cancels
    return np.log(np.clip(p, CLIP, 1.0)) - np.log(np.clip(rest, CLIP, 1.0))


class DMMMEN(Params):
    """Global approximation of a black box by a Dirichlet-process mixture of elastic nets.

    Parameters
    ----------
    n_components : int
        J, the truncation of the stick-breaking prior (raise it if the last
        component keeps weight). 1 is the mixture's degenerate case: one Bayesian
        elastic net per class (for ``explain_local``, per instance).
    n_priors : int
        K, the number of elastic-net priors the components choose from.
    n_iter : int
        Sweeps per chain.
    burn_in : int, optional
        Sweeps discarded; half of ``n_iter`` by default.
    thin : int
        Keep every ``thin``-th sweep after burn-in.
    n_chains : int
        Independent chains per class, pooled after relabelling; R-hat compares them
        (split in halves, so one chain also gives an R-hat).
    n_init : int
        Each chain starts from the best of ``n_init`` pilot runs of ``init_sweeps``
        sweeps, each from its own random start, by the mean log-likelihood of the
        pilot's second half. A Gibbs sampler keeps the partition of the data it first
        settles in, so single starts leave chains in partitions far less likely than
        the best one, and R-hat then compares different modes. 1: no pilots.
    init_sweeps : int
        Sweeps per pilot run; they are not counted in ``n_iter``.
    collapse_every : int
        Every ``collapse_every``-th sweep draws the allocations one sample at a time
        with the coefficients integrated out (a partially collapsed Gibbs step, not in
        the note). With about as many samples per component as features each
        component nearly interpolates its own members, so the note's allocation step
        seldom moves a sample and chains keep their first partition; the collapsed
        step judges a sample by the component fitted without it. A collapsed sweep
        costs 10-20 of the note's sweeps (rank-one updates of a p x p matrix per large
        component and sample). 0: never, the note's sampler.
    split_merge_every : int
        Every ``split_merge_every``-th sweep tries to split one component in two or
        merge two into one, by Metropolis-Hastings with the coefficients integrated out
        (sequentially allocated split-merge; not in the note). Single-sample moves
        almost never empty a large component or build a new one, so without it chains
        keep the number of large components they settle in. A move costs about 5
        sweeps, and 0.2-1.8% of them were accepted in the benchmark, whose worst R-hat
        it lowered with one seed and not with another. 0: never, the note's sampler.
    n_features : int, optional
        How many features the regressions use (see ``reduction``). None uses every
        feature, which costs ``O(p^3)`` per component and sweep in the coefficient
        step and ``p``-times more memory per draw; constant features are then an
        error, since they carry no information (with ``reduction="pca"``, None keeps
        as many components as features vary).
    reduction : {"variance", "pca"}
        "variance" keeps the ``n_features`` features of largest variance in
        ``fit``'s ``X`` (the original authors' reduction for images); the others get
        coefficient 0. "pca" regresses on the scores of ``X``'s top ``n_features``
        principal components instead and maps each component's coefficients back to
        the inputs (``coef_ = beta @ components_``): the model is the same mixture of
        linear regressions on the inputs, with the elastic-net prior on the scores,
        so coefficients are spread over correlated pixels rather than sparse (not in
        the paper). On the benchmark's images 100 components fit the logits better
        than 300 pixels, in half the time per sweep, and rank pixels that matter
        more to the network; the chains converged on more Fashion-MNIST classes, not
        on more MNIST ones (``benchmarks/dmm_men_components.py --study pca``).
    standardize : bool
        False (the default, the paper's fit): the regressions see the centred
        features, on their own scale. True: each class's regressions see every
        feature divided by its standard deviation over that class's training rows
        (occluded copies included; a feature constant there is left as it is), so one
        elastic-net prior treats every feature alike, whatever its unit. Use it for
        tabular features of different units: per unit of input, a feature in metres
        would outrank itself in millimetres (on raw breast-cancer features a feature
        the model never reads ranked 19th of 31 without it, last with it). The
        coefficients are mapped back to the inputs' units, so ``coef_``, ``intercept_``,
        :meth:`explain` (``beta * x``) and ``r2_`` mean what they mean without it; only
        the insights' ranking changes (see ``std_input_``). ``n_features`` still keeps
        the features of largest variance in ``X``'s own units. With
        ``reduction="pca"`` the principal axes are still those of ``X``'s unscaled
        covariance, and it is each component's scores that are divided by their
        standard deviation; to take the axes of standardized features, standardize
        ``X`` before ``fit`` instead.
    n_occlusions : int
        Occluded copies of each sample to fit alongside it (not in the paper; 0, the
        paper's fit, by default). Each copy has a random share, uniform in ``[0,
        max_occluded]``, of the regressions' features set to 0 (the value the
        scrutability test of Fig. 2 nullifies to), and its target is the black box's
        logit of the class on the copy. Fitted on the data alone, a coefficient says how
        a feature co-varies with the logit among the class's samples; with the copies it
        also says what removing the feature does to the black box, which is what an
        insight is tested on. With 2 copies and ``reduction="pca"``, the PCR at k = 75
        on the benchmark's Fashion-MNIST LeNet falls from 0.34 to 0.27 after 1000
        sweeps (``benchmarks/dmm_men_components.py --study occlusion``; 0.280 after
        9000 in ``benchmarks/dmm_men.py``, against the 0.3 target). A sweep costs
        up to ``1 + n_occlusions`` times as much (2.2 times with 2 copies on 300
        pixels there); each sample's copies are held out with it.
    max_occluded : float in (0, 1]
        The largest share of the features a copy loses.
    test_size : float in (0, 1)
        The share of each class's samples held out to measure ``r2_``.
    alpha_shape, alpha_rate : float
        ``alpha ~ Gamma(alpha_shape, rate=alpha_rate)`` (the note's e = 5, f = 1).
    sigma_shape, sigma_scale : float
        ``sigma_j^2 ~ InvGamma(sigma_shape, sigma_scale)`` (a = b = 0.5).
    lambda1_shape, lambda2_shape, lambda_rate : float
        ``lambda1_k ~ Gamma(lambda1_shape, rate=lambda_rate)`` (the lasso part, the
        paper's R) and ``lambda2_k ~ Gamma(lambda2_shape, rate=lambda_rate)`` (the
        ridge part, L; rate V / 2). The paper's text and its authors' code disagree on
        which of the shapes 1 and 4 goes with which; here lambda1 gets 1 and lambda2
        gets 4, so the ridge part is the stronger a priori.

        The shapes of sigma and the lambdas must be at least 0.2 (below, the prior's
        Gamma draws underflow to 0), and the rates and ``sigma_scale`` lie in
        [1e-30, 1e30].
    checkpoint : path-like, optional
        A ``.npz`` file the chains are saved to every ``checkpoint_every`` sweeps (and
        on Ctrl-C), atomically. A fit with the same settings, data and int
        ``random_state`` resumes from it to the same draws as an uninterrupted fit.
    checkpoint_every : int
    n_jobs : int or None
        Classes fitted at once, each in its own process; 1 fits them one after another
        in this one. As in scikit-learn, None means 1, -1 one process per core
        (``os.cpu_count()``), -2 all cores but one, and so on, resolved in ``fit`` (at
        least 1); 0 is refused. (The workers are this class's own processes, not
        joblib's: a joblib ``parallel_backend`` context does not change what None
        means.) The draws do not depend on it (each chain has its own
        seeded stream). The workers are started fresh, so a script that fits in more
        than one process needs the ``if __name__ == "__main__":`` guard. With a
        checkpoint, a class in flight in a worker keeps its progress in a file of its
        own next to it, ``<name>.class<c>.npz``, which is folded into the checkpoint
        and removed once the class is done. A fit resumes every saved chain, finished
        or running, whatever ``n_jobs`` saved it or resumes it.
    random_state : int, Generator or None
        Seeds every chain (each class and chain gets its own stream). In
        :meth:`explain_local`, every row's masks, chains and held-out masks come from
        the call's seed (``meta["seed"]``) and a hash of the row's values and segments
        (:func:`~unboxed.local._engine.row_seed`), so a row's fit does not depend on
        the rows explained with it, different rows' draws are independent, and
        identical rows get identical fits.
    verbose : bool
        A progress bar per chain.

    Attributes
    ----------
    classes_ : ndarray of int, shape (n_classes,)
    features_ : ndarray of int, shape (p,)
        The features the regressions use: with ``reduction="pca"``, every feature
        that varies (the principal components mix them).
    components_ : ndarray of shape (n_components, n_features_in) or None
        With ``reduction="pca"``, the principal axes the regressions use, as rows
        (0 off ``features_``); ``center_`` holds the mean they are taken about.
    weights_ : ndarray of shape (n_classes, J)
        Posterior mean mixture weights, after relabelling.
    coef_ : ndarray of shape (n_classes, J, n_features_in)
        Posterior mean coefficients on the original features (0 off ``features_``).
    intercept_ : ndarray of shape (n_classes, J)
    sigma2_ : ndarray of shape (n_classes, J)
    prior_of_component_ : ndarray of int, shape (n_classes, J)
        The elastic-net prior each component mostly used, the priors numbered in order
        of first use by components 0, 1, ... (their own labels switch between draws and
        chains): components with the same number share a prior.
    lambdas_ : ndarray of shape (n_classes, J, 2)
        Posterior mean (lambda1, lambda2) of each component's prior.
    rhat_, ess_ : ndarray of shape (n_classes,)
        Worst split R-hat and smallest ESS over what the explanations are built from:
        the relabelled coefficients on the inputs of each occupied component (weight
        at least 5%, and always the heaviest) and the label-invariant insight
        ``sum_j pi_j |beta_j|``.
    convergence_ : dict of str to ndarray of shape (n_classes,)
        The worst split R-hat of each monitored group: "coef", "insight",
        "log_likelihood", "alpha", "log_weight" and "log_sigma2" (the last four
        describe how the mixture splits the data, and mix more slowly).
    acceptance_ : ndarray of shape (n_classes, 4)
        MH acceptance rates of sigma^2, lambda1, lambda2 and split-merge moves (0
        without them).
    r2_ : ndarray of shape (n_classes,)
        R^2 of the posterior-predictive mean against the black box's logits on each
        class's held-out samples; NaN where those logits are all equal (``fit`` warns
        of a class whose logits are).
    r2_ci_ : ndarray of shape (n_classes, 2)
        A 95% percentile-bootstrap interval of each ``r2_``: 1000 resamples of the
        held-out samples, each with its occluded copies. NaN where ``r2_`` is.
    n_samples_ : ndarray of int, shape (n_classes,)
        Samples each class was fitted on, occluded copies included.
    mean_input_ : ndarray of shape (n_classes, n_features_in)
        The mean of those samples, without the copies (0 off ``features_``).
    std_input_ : ndarray of shape (n_classes, n_features_in) or None
        With ``standardize=True``, the standard deviation of each input over those
        samples, without the copies (1 where it is 0 and off ``features_``):
        :meth:`insights` then rank ``coef_ * std_input_``, the change in the logit per
        standard deviation of each input, as a standardized regression reads. None
        without it.
    n_jobs_ : int
        The processes this fit sampled in: 1 where it sampled in this one (``n_jobs``
        1 or None, or a single class), else the worker processes it started:
        ``n_jobs`` resolved (-1: ``os.cpu_count()``), and no more than the classes left
        to sample. A fit resumed from a checkpoint that holds finished classes records
        the smaller pool it ran, not a fresh fit's; one with every class finished
        samples nothing and records 1 (this process reads them back).

    Notes
    -----
    The regressions use centred targets and features plus a column of ones, whose
    coefficient (under the same elastic-net prior) is each component's offset from
    the class mean; ``intercept_`` maps it back to the original scale.

    By default features are centred, not scaled: one elastic-net prior serves every
    coefficient, as it does for the paper's pixels, which share one scale, and
    ``insights(by="magnitude")`` compares coefficients across features. For tabular
    features of different units pass ``standardize=True`` (or standardize them before
    ``fit``, and give the black box the standardized rows).
    """

    def __init__(
        self,
        *,
        n_components: int = 6,
        n_priors: int = 3,
        n_iter: int = 2000,
        burn_in: int | None = None,
        thin: int = 1,
        n_chains: int = 2,
        n_init: int = 1,
        init_sweeps: int = 50,
        collapse_every: int = 0,
        split_merge_every: int = 0,
        n_features: int | None = None,
        reduction: Literal["variance", "pca"] = "variance",
        standardize: bool = False,
        n_occlusions: int = 0,
        max_occluded: float = 0.3,
        test_size: float = 0.2,
        alpha_shape: float = 5.0,
        alpha_rate: float = 1.0,
        sigma_shape: float = 0.5,
        sigma_scale: float = 0.5,
        lambda1_shape: float = 1.0,
        lambda2_shape: float = 4.0,
        lambda_rate: float = 0.5,
        checkpoint: str | os.PathLike | None = None,
        checkpoint_every: int = 100,
        n_jobs: int | None = 1,
        random_state: RandomState = None,
        verbose: bool = True,
    ) -> None:
        self.n_components = n_components
        self.n_priors = n_priors
        self.n_iter = n_iter
        self.burn_in = burn_in
        self.thin = thin
        self.n_chains = n_chains
        self.n_init = n_init
        self.init_sweeps = init_sweeps
        self.collapse_every = collapse_every
        self.split_merge_every = split_merge_every
        self.n_features = n_features
        self.reduction = reduction
        self.standardize = standardize
        self.n_occlusions = n_occlusions
        self.max_occluded = max_occluded
        self.test_size = test_size
        self.alpha_shape = alpha_shape
        self.alpha_rate = alpha_rate
        self.sigma_shape = sigma_shape
        self.sigma_scale = sigma_scale
        self.lambda1_shape = lambda1_shape
        self.lambda2_shape = lambda2_shape
        self.lambda_rate = lambda_rate
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        # Here, so that a mistyped setting fails now and not after the data is loaded;
        # fit checks again, for attributes set directly.
        self._check_params()

    # ------------------------------------------------------------ settings
    def _check_params(self) -> tuple[ChainSettings, float, int, int, float]:
        """Check every setting that needs no data.

        Returns
        -------
        settings : ChainSettings
        test_size : float
        n_jobs : int
        copies : int
            Each row's copies in the fit: the row and its ``n_occlusions`` occluded ones.
        max_occluded : float
        """
        settings = self._settings()
        check_torch_seed(self.random_state)  # as fit resolves it
        check_checkpoint(self.checkpoint, self.random_state)
        test_size = check_fraction(self.test_size, name="test_size", below_one=True)
        check_positive_int(self.checkpoint_every, name="checkpoint_every")
        n_jobs = check_n_jobs(self.n_jobs)
        copies = 1 + check_positive_int(self.n_occlusions, name="n_occlusions", minimum=0)
        max_occluded = check_fraction(self.max_occluded, name="max_occluded")
        if not isinstance(self.standardize, bool):  # "no" or 0 would read as a choice
            raise TypeError(
                f"standardize must be True or False, got {type(self.standardize).__name__} "
                f"{self.standardize!r}"
            )
        _check_reduction(self.reduction)
        if self.n_features is not None:
            check_positive_int(self.n_features, name="n_features")
        return settings, test_size, n_jobs, copies, max_occluded

    def _settings(self) -> ChainSettings:
        J = check_positive_int(self.n_components, name="n_components")
        K = check_positive_int(self.n_priors, name="n_priors")
        n_iter = check_positive_int(self.n_iter, name="n_iter", minimum=8)
        burn_in = n_iter // 2 if self.burn_in is None else self.burn_in
        burn_in = check_positive_int(burn_in, name="burn_in", minimum=0)
        thin = check_positive_int(self.thin, name="thin")
        if len(range(burn_in, n_iter, thin)) < 4:
            raise ValueError(
                f"n_iter={n_iter}, burn_in={burn_in} and thin={thin} keep fewer than 4 draws"
            )
        hyper = {
            name: getattr(self, name)
            for name in (
                "alpha_shape",
                "alpha_rate",
                "sigma_shape",
                "sigma_scale",
                "lambda1_shape",
                "lambda2_shape",
                "lambda_rate",
            )
        }
        # Finite too: an infinite shape or scale fitted silently or failed in numpy.
        hyper = {name: check_number(value, name=name) for name, value in hyper.items()}
        _check_prior_range(hyper)
        return ChainSettings(
            n_components=J,
            n_priors=K,
            n_iter=n_iter,
            burn_in=burn_in,
            thin=thin,
            n_chains=check_positive_int(self.n_chains, name="n_chains"),
            prior=Prior(**hyper),
            n_init=check_positive_int(self.n_init, name="n_init"),
            init_sweeps=check_positive_int(self.init_sweeps, name="init_sweeps", minimum=2),
            collapse_every=check_positive_int(
                self.collapse_every, name="collapse_every", minimum=0
            ),
            split_merge_every=check_positive_int(
                self.split_merge_every, name="split_merge_every", minimum=0
            ),
        )

    def _parameters(self) -> dict[str, Any]:
        """The constructor's arguments as JSON values, for ``meta`` and the checkpoint's
        fingerprint (a Generator, whose state is not one number, by its type name)."""
        return {
            k: (
                str(v)
                if isinstance(v, os.PathLike)
                else type(v).__name__
                if isinstance(v, np.random.Generator)
                else v
            )
            for k, v in vars(self).items()
            # n_jobs changes how fast, not what: a checkpoint resumes under any n_jobs.
            if not k.endswith("_") and k not in ("checkpoint", "verbose", "n_jobs")
        }

    # ------------------------------------------------------------ fit
    def fit(self, X: object, blackbox: BlackBox, *, classes: object = None) -> DMMMEN:
        """Fit one mixture per class to the black box's logits.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs; each class is fitted on the rows the black box assigns to it.
        blackbox : BlackBox
        classes : sequence, optional
            The classes to fit, in the black box's labels (:attr:`BlackBox.classes`)
            where it has them, else as column indices; all classes by default.
            ``classes_`` holds their column indices.

        Returns
        -------
        self

        Warns
        -----
        ConvergenceWarning
            When a class's ``rhat_`` is not below 1.1: its chains have not mixed.
        """
        check_blackbox(blackbox)
        settings, test_size, n_jobs, copies, max_occluded = self._check_params()
        seed = int_seed(self.random_state)
        # A DataFrame's row labels name the row the model raises on, in X and in its
        # occluded copies, as predict_proba names it: row 1 of a split is not X.loc[1].
        index = pandas_index(X)
        X = blackbox.check_X(X)
        features, axes, center = self._reduce(X)
        given = classes
        if classes is not None:
            # Before class_index: a gap read "classes must be ints in [0, 3), got
            # array([2., 1., 0., nan, 0.])" without labels, and told of rows with them.
            _refuse_missing_class(
                classes,
                name="classes",
                advice="classes lists the classes to fit: leave it out, or pass "
                "classes=None for all",
            )
            classes = blackbox.class_index(classes, name="classes")
        classes = self._check_classes(classes, blackbox.n_classes, given=given)
        proba = blackbox._proba_rows(X, index=index)
        predicted = proba.argmax(axis=1)
        counts = np.bincount(predicted, minlength=blackbox.n_classes)
        # Labels as classes= takes them (a str, not "class 2"), and plain Python values.
        labels = blackbox.class_labels(np.arange(blackbox.n_classes)).tolist()
        fittable = [labels[c] for c, n in enumerate(counts) if _class_fits(int(n), test_size)]
        for c in classes:
            _check_class_size(
                int(counts[c]), X.shape[0], labels[c], test_size, fittable=fittable or None
            )
        checkpoint = self._open_checkpoint(X, proba, features, classes, seed)
        problems = {}
        for c in classes:
            rows = np.flatnonzero(predicted == c)
            X_c, proba_c = X[rows], proba[rows]
            if copies > 1:
                rng = np.random.default_rng([seed, int(c), OCCLUSION_STREAM])
                occluded = occlude(X_c, features, copies - 1, max_occluded, rng)
                X_c = np.vstack([X_c, occluded])
                named = _occluded_name(rows, copies - 1, index)
                proba_c = np.vstack([proba_c, blackbox._proba_rows(occluded, named)])
            inputs = X_c[:, features] if axes is None else (X_c[:, features] - center) @ axes.T
            problems[int(c)] = (inputs, class_logit(proba_c, np.full(len(X_c), c)))
        _warn_constant_targets(problems)
        job = _ClassJob(
            seed, settings, test_size, self.checkpoint_every, axes, copies, self.standardize
        )
        if n_jobs == 1 or len(classes) == 1:
            fits = [
                _run_here(job, c, *problems[c], checkpoint, verbose=self.verbose) for c in problems
            ]
            processes = 1
        else:
            fits, processes = _run_in_workers(
                job, problems, checkpoint, n_jobs, asked=self.n_jobs, verbose=self.verbose
            )
        self._store(fits, X, predicted, classes, features, axes, center)
        self.blackbox_ = blackbox
        self.seed_ = seed
        self.n_jobs_ = processes
        self._warn_unmixed()
        return self

    def _warn_unmixed(self) -> None:
        """Say which classes' chains have not mixed: their insights may change with the
        seed, and a user reading them should know."""
        unmixed = ~(self.rhat_ < RHAT_LIMIT)
        if np.any(unmixed):
            warnings.warn(
                f"DMM-MEN: the chains of classes {self.classes_[unmixed].tolist()} have not "
                "mixed (split R-hat of the coefficients and insights up to "
                f"{np.max(self.rhat_[unmixed]):.2f}; "
                f"below {RHAT_LIMIT} is mixed), so their insights may change with the seed. "
                "Raise n_iter or n_chains; rhat_ and convergence_ hold the figures",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _reduce(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The features the regressions see and, with ``reduction="pca"``, their axes.

        Returns
        -------
        features : ndarray of int
        axes : ndarray of shape (n_features, features.size) or None
            The top principal axes of ``X[:, features]``, as rows.
        center : ndarray of shape (features.size,) or None
        """
        _check_reduction(self.reduction)
        with np.errstate(over="ignore", invalid="ignore"):
            variance = X.var(axis=0)
        if not np.all(np.isfinite(variance)):  # regressions on such values yield NaN
            bad = np.flatnonzero(~np.isfinite(variance))
            raise ValueError(
                f"X's values are too large: the variance of feature(s) {bad[:5].tolist()} "
                f"overflows {X.dtype}; rescale X"
            )
        informative = np.flatnonzero(variance > 0)
        if (
            self.n_features is None
            and self.reduction == "variance"
            and informative.size < X.shape[1]
        ):
            constant = np.flatnonzero(variance == 0)
            raise ValueError(
                f"{constant.size} features are constant in X (e.g. {constant[:5].tolist()}); "
                "they carry no information. Pass n_features=k to keep the k features of "
                "largest variance, or drop them"
            )
        k = informative.size
        if self.n_features is not None:
            k = check_positive_int(self.n_features, name="n_features")
        if k > informative.size:
            raise ValueError(
                f"n_features={k} but only {informative.size} features vary in X; "
                "the others are constant"
            )
        if self.reduction == "variance":
            return np.sort(descending_order(variance, k)), None, None
        if k >= X.shape[0]:
            raise ValueError(
                f"reduction='pca' with n_features={k} needs more than {k} samples, got {X.shape[0]}"
            )
        center = X[:, informative].mean(axis=0)
        _, _, axes = np.linalg.svd(X[:, informative] - center, full_matrices=False)
        return informative, axes[:k], center

    @staticmethod
    def _check_classes(classes: object, n_classes: int, given: object = None) -> np.ndarray:
        """``classes`` as sorted column indices; ``given``, the labels they were read
        from, for the message."""
        if classes is None:
            return np.arange(n_classes)
        out = np.atleast_1d(np.asarray(classes))
        if (
            out.ndim != 1
            or out.dtype.kind not in "iu"
            or out.size == 0
            or out.min() < 0
            or out.max() >= n_classes
        ):
            raise ValueError(f"classes must be ints in [0, {n_classes}), got {classes!r}")
        if np.unique(out).size != out.size:
            # The labels given, not their column indices ([0, 0] for "setosa" twice).
            shown = out if given is None else np.atleast_1d(np.asarray(given))
            raise ValueError(f"classes must not repeat, got {shown.tolist()}")
        return np.sort(out).astype(np.int64)

    def _open_checkpoint(self, X, proba, features, classes, seed) -> Checkpoint | None:
        if self.checkpoint is None:
            return None
        # How often the state is saved does not change the draws, so a fit may resume
        # under another checkpoint_every.
        parameters = {**self._parameters(), "random_state": seed}
        del parameters["checkpoint_every"]
        if not self.standardize:  # as recorded before the option, so older files resume
            del parameters["standardize"]
        data = array_digest(X, proba, features, classes)
        return Checkpoint(self.checkpoint, {"parameters": parameters, "data": data})

    def _store(
        self, fits: list[dict[str, Any]], X, predicted, classes, features, axes, center
    ) -> None:
        """The fitted attributes, with coefficients mapped back to the inputs."""
        J, C = self.n_components, len(fits)
        self.classes_ = classes
        self.features_ = features
        self.n_features_in_ = X.shape[1]
        self.coef_ = np.zeros((C, J, X.shape[1]))
        self.intercept_ = np.zeros((C, J))
        self.mean_input_ = np.zeros((C, X.shape[1]))
        std_input = np.ones((C, X.shape[1]))
        for i, fit in enumerate(fits):
            coef, intercept = fit["coef"], fit["intercept"]
            if axes is not None:
                coef = coef @ axes
                intercept = intercept - coef @ center
            self.coef_[i][:, features] = coef
            self.intercept_[i] = intercept
            own = X[predicted == classes[i]][fit["train"]]  # the rows the class was fitted on
            self.mean_input_[i, features] = own[:, features].mean(axis=0)
            if self.standardize:
                std_input[i, features] = _unit_scale(own[:, features])
        self.std_input_ = std_input if self.standardize else None
        self.components_ = None
        self.center_ = None
        if axes is not None:
            self.components_ = np.zeros((axes.shape[0], X.shape[1]))
            self.components_[:, features] = axes
            self.center_ = np.zeros(X.shape[1])
            self.center_[features] = center
        posts: list[Posterior] = [fit["posterior"] for fit in fits]
        self.weights_ = np.stack([p.weights for p in posts])
        self.sigma2_ = np.stack([p.sigma2 for p in posts])
        self.prior_of_component_ = np.stack([p.prior_of_component for p in posts])
        self.lambdas_ = np.stack([p.lambdas for p in posts])
        self.rhat_ = np.array([p.rhat for p in posts])
        self.ess_ = np.array([p.ess for p in posts])
        groups = np.stack([p.rhat_groups for p in posts])
        self.convergence_ = {name: groups[:, i] for i, name in enumerate(RHAT_GROUPS)}
        self.acceptance_ = np.stack([p.acceptance for p in posts])
        self.r2_ = np.array([fit["r2"] for fit in fits])
        self.r2_ci_ = np.array([fit["r2_ci"] for fit in fits]).reshape(len(fits), 2)
        self.n_samples_ = np.array([fit["n_samples"] for fit in fits])

    # ------------------------------------------------------------ explanations
    def _check_fitted(self) -> None:
        check_is_fitted(self, "coef_", how="fit(X, blackbox)")

    def _check_inputs(self, X: object) -> np.ndarray:
        """The black box's check, then the feature count of the fit: a black box
        without an input shape accepts any, and the coefficients do not."""
        X = self.blackbox_.check_X(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but this DMMMEN was fitted on {self.n_features_in_}"
            )
        return X

    def _rows(self, classes: np.ndarray, *, predicted: bool = False) -> np.ndarray:
        """The row of ``coef_`` etc. of each class (``classes_`` is sorted);
        ``predicted``: the classes are the black box's predictions on ``X``."""
        self._check_fitted()
        missing = np.setdiff1d(classes, self.classes_)
        if missing.size:
            # By the labels the user gave fit(classes=...): column indices read as
            # other classes' labels where those are ints, and as nothing where str.
            labels = self.blackbox_.class_labels
            message = (
                f"classes {labels(missing).tolist()} were not fitted; fitted: "
                f"{labels(self.classes_).tolist()}"
            )
            if predicted:
                message += (
                    "; the black box predicts them for rows of X: pass target= a fitted "
                    "class, or fit them too with classes="
                )
            raise ValueError(message)
        return np.searchsorted(self.classes_, classes)

    def insights(
        self,
        class_: Any,
        k: int | None = None,
        *,
        by: Literal["magnitude", "positive", "contribution"] = "magnitude",
    ) -> FeatureImportance:
        """The generalizable insight of a class (the paper's Fig. 1).

        Row 0 ranks features by the weight-averaged magnitude ``sum_j pi_j |beta_j|``
        over the class's components; rows 1, 2, ... are the occupied components (weight
        at least 5%), heaviest first, each ranked by ``|beta_j|``. Only the top ``k``
        features of each row are kept (150 by default, or every fitted feature if
        fewer); the rest are 0.

        With ``by="positive"`` the rows rank ``sum_j pi_j beta_j`` (and ``beta_j``)
        instead, largest first, keeping only positive values: the features whose
        presence raises the class's logit, without those that count against it. With
        ``by="contribution"`` they rank ``beta_j * mean_input_`` (positive part): each
        feature's mean contribution to the logit over the class's samples, i.e. the
        mean of the local explanations of :meth:`explain`.

        With ``standardize=True``, "magnitude" and "positive" rank ``coef_ *
        std_input_``, the coefficients per standard deviation of each input;
        "contribution" is in logit units already and is unchanged.

        Parameters
        ----------
        class_ : int or str
            A fitted class, in the black box's labels where it has them
            (:attr:`BlackBox.classes`; its column index is in ``classes_``).
        k : int, optional
            Features kept per row, from 1 to the number of fitted features; by
            default 150, or every fitted feature if fewer.
        by : {"magnitude", "positive", "contribution"}, default="magnitude"
            What ranks the features (above).

        Returns
        -------
        FeatureImportance
            Rows named ``"class c: weighted"`` and ``"class c: component j (weight
            w)"``, ``c`` by the black box's :attr:`~BlackBox.class_names` where it has
            them; ``meta`` holds the components' weights and the signs of the kept
            coefficients.
        """
        self._check_fitted()
        return self._insights(self._class_indices(class_, name="class_")[0], k, by)

    def _class_indices(self, classes: object, *, name: str) -> np.ndarray:
        """Classes named by the user (the black box's labels) as column indices."""
        _refuse_missing_class(
            classes, name=name, advice=f"{name} names fitted classes: leave it out or name one"
        )
        index = np.atleast_1d(self.blackbox_.class_index(classes, name=name))
        # Checked as the black box checks a target, so that 1.5, "a" or -1 get its
        # message (not "classes [1.5] were not fitted") where it has no labels.
        return check_labels(
            index,
            n=index.size,
            n_classes=self.blackbox_.n_classes,
            name=name,
            hint=CLASS_INDEX_HINT,
        )

    def _insights(self, class_: Any, k: int | None, by: str) -> FeatureImportance:
        """:meth:`insights` of a column index."""
        row = int(self._rows(np.atleast_1d(class_))[0])
        k = self._resolve_k(k)
        if by not in ("magnitude", "positive", "contribution"):
            raise ValueError(f"by must be 'magnitude', 'positive' or 'contribution', got {by!r}")
        weights = self.weights_[row]
        order = [j for j in descending_order(weights) if weights[j] >= 0.05]
        coef = self.coef_[row]
        if by == "contribution":
            coef = coef * self.mean_input_[row]
        elif self.std_input_ is not None:
            # Per unit of input, a ranking would follow the units (the same feature in
            # metres would outrank itself in millimetres); per standard deviation it
            # does not.
            coef = coef * self.std_input_[row]
        score = np.abs(coef) if by == "magnitude" else np.maximum(coef, 0.0)
        rows = np.vstack([weights @ score, score[order]])
        if by != "magnitude":
            rows[0] = np.maximum(weights @ coef, 0.0)
        kept = np.zeros_like(rows)
        top = descending_order(rows, k)
        np.put_along_axis(kept, top, np.take_along_axis(rows, top, axis=1), axis=1)
        # Each row names its class: the plot's panels showed "weighted" and "component
        # 3 (weight 0.40)" without saying which class they explain.
        label = class_title(self.blackbox_.class_name(int(class_)))
        names = [f"{label}: weighted"] + [
            f"{label}: component {j} (weight {weights[j]:.2f})" for j in order
        ]
        meta = make_meta("dmm-men", self._parameters(), seed=self.seed_)
        meta.update(
            class_=int(class_),
            k=k,
            by=by,
            components=[int(j) for j in order],
            weights=[float(weights[j]) for j in order],
            sign=np.sign(np.vstack([weights @ coef, coef[order]])).astype(int).tolist(),
            r2=float(self.r2_[row]),
            r2_ci=[float(v) for v in self.r2_ci_[row]],
        )
        return FeatureImportance(
            kept,
            meta,
            class_names=tuple(names),
            image_shape=self._image_shape(),
            feature_names=self.blackbox_.feature_names,
        )

    def _image_shape(self) -> tuple[int, ...] | None:
        return grayscale_shape(self.blackbox_.input_shape)

    def responsibilities(
        self, X: object, *, target: object = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each row's responsibilities ``pi_j N(g(x) | x^T beta_j, sigma_j^2)``, normalised.

        ``g(x)`` is the black box's logit of the target class, as in the fit.

        Parameters
        ----------
        X : array-like of shape (n, n_features) or (n, *input_shape)
        target : label or array of labels, optional
            The class per row (in :attr:`BlackBox.classes` where set), which must have
            been fitted; the black box's prediction by default.

        Returns
        -------
        resp : ndarray of shape (n, J)
        target : ndarray of int, shape (n,)
            Column indices.
        """
        self._check_fitted()
        # A DataFrame's row labels name the row the model raises on, as fit names it:
        # row 1 of a split is not X.loc[1] (check_X drops the index).
        index = pandas_index(X)
        resp, target, _ = self._responsibilities(self._check_inputs(X), target, index=index)
        return resp, target

    def _responsibilities(
        self, X: np.ndarray, target: object, index: Any = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`responsibilities` of checked inputs, plus each row's class row;
        ``index`` labels the rows of a DataFrame ``X`` was read from."""
        proba = self.blackbox_._proba_rows(X, index=index)
        # The prediction is a column index already; a given target is read as a label.
        given = target
        target = (
            proba.argmax(axis=1)
            if target is None
            else self.blackbox_._check_target(target, X.shape[0])
        )
        rows = self._rows(target, predicted=given is None)
        g = class_logit(proba, target)
        mean = np.einsum("nd,njd->nj", X, self.coef_[rows]) + self.intercept_[rows]
        resp = _responsibility(g, mean, self.weights_[rows], self.sigma2_[rows])
        return resp, target, rows

    def explain(self, X: object, *, target: object = None, mode: bool = False) -> Attribution:
        """Local explanations from the fitted mixture: ``beta_j * x`` per feature.

        Each value is measured from ``x = 0``, not from the data's mean: a feature
        whose values sit far from 0 (a raw area of 650, say) scores large whatever
        the model reads in its variation. For contributions relative to a typical
        row, center the inputs before fitting (``standardize=True`` does not: it
        maps the coefficients back to the inputs' units).

        Parameters
        ----------
        X : array-like of shape (n, n_features)
        target : label or array of labels, optional
            The explained class per row (in :attr:`BlackBox.classes` where set); the
            black box's prediction by default.
        mode : bool, default=False
            False uses the component with the highest responsibility for each row;
            True weights every component by its responsibility (the paper's
            relaxation).

        Returns
        -------
        Attribution
            ``meta["component"]`` holds each row's responsible component, and
            ``meta["class_r2"]`` the held-out R^2 (``r2_``) of the class it explains.
        """
        self._check_fitted()
        if not isinstance(mode, bool | np.bool_):  # "False" or 0.5 would read as True
            raise TypeError(f"mode must be True or False, got {type(mode).__name__} {mode!r}")
        row_names = frame_index(X)  # a DataFrame's rows by its index, as the local explainers
        index = pandas_index(X)  # and the row the model raises on, as responsibilities
        X = self._check_inputs(X)
        resp, target, rows = self._responsibilities(X, target, index=index)
        component = resp.argmax(axis=1)
        if mode:
            coef = np.einsum("nj,njd->nd", resp, self.coef_[rows])
        else:
            coef = self.coef_[rows, component]
        meta = make_meta("dmm-men", self._parameters(), seed=self.seed_)
        # How far each row's explanation can be trusted: its class fit's held-out R^2.
        meta.update(mode=bool(mode), component=component.tolist(), class_r2=self.r2_[rows].tolist())
        return Attribution(
            coef * X,
            target,
            meta,
            inputs=X,
            image_shape=self._image_shape(),
            feature_names=self.blackbox_.feature_names,
            class_names=self.blackbox_.class_names,
            row_names=row_names,
        )

    def explain_local(
        self,
        X: object,
        *,
        blackbox: BlackBox | None = None,
        target: object = None,
        segments: object = None,
        n_samples: int = 1000,
        segmenter: Segmenter = "auto",
        segment_params: dict[str, Any] | None = None,
        fill: Fill = 0.0,
        image_shape: tuple[int, int] | None = None,
        scale: Literal["logit", "probability"] = "logit",
        component: Literal["responsible", "average"] = "responsible",
        kernel_width: float | None = None,
        n_score: int | Literal["auto"] | None = "auto",
    ) -> Attribution:
        """The paper's route for high-dimensional inputs (Sec. 4.2), per instance.

        Perturb each instance over its superpixels with the shared perturbation engine
        (each segment on with probability 1/2, off segments take ``fill``), and fit a
        DMM-MEN with this estimator's settings to the black box's response for the
        target class on the binary masks.

        This needs no global fit: ``blackbox`` defaults to the fitted one.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            The instances to explain.
        blackbox : BlackBox, optional
            The model explained; by default the one given to :meth:`fit`.
        target : int or array-like of shape (n_samples,), optional
            The class explained per row; by default the black box's prediction.
        segments : ndarray of int, shape (n_samples, n_features) or (n_features,), optional
            Precomputed component labels per row; by default from ``segmenter``. In the
            black box's shape too: ``(n_samples, *input_shape)``, ``input_shape``, or an
            image's pixels ``(n_samples, H, W)`` or ``(H, W)``, the same on every channel.
        n_samples : int
            Perturbed samples per instance, the instance itself included. Below a
            row's number of segments plus one (its unknowns: a slope per segment and
            the intercept) the fit is underdetermined, and a ``UserWarning`` says so.
        segmenter, segment_params, fill, image_shape
            As for :class:`unboxed.local.Lime`, except that there is no
            ``background`` for ``fill="mean"``: pass the means as an array instead,
            ``fill=X_train.mean(axis=0)``.
        scale : {"logit", "probability"}
            The response regressed: the logit of the class probability (as in the
            global fit) or the probability itself (as LIME does).
        component : {"responsible", "average"}
            A segment's attribution is its coefficient in the component responsible
            for the instance itself (the all-on mask), or its posterior-mean
            coefficient averaged over the components by their weights (the mixture's
            average linear effect over all the perturbations). Either way the
            explanation is one linear model of the masks, ``meta["intercept"] + z @
            coef``, and the R^2 figures score that model: the component's regression,
            or the averaged one, which is also the mixture's posterior-predictive mean.
            Which component is responsible is itself a posterior draw: a component
            whose perturbations never reach the instance (a segment that is on in
            none of them) predicts it without constraint and may claim it, so the
            choice can change with the seed; "average" does not depend on it.
        kernel_width : float, optional
            None weighs every perturbation alike. A width weighs perturbation ``i`` by
            LIME's kernel ``w_i = sqrt(exp(-d_i^2 / width^2))`` of its mask's cosine
            distance to the all-on mask (the lime package's default width is 0.25):
            its likelihood becomes ``N(y_i | z_i beta, sigma^2 / w_i)``, so the
            perturbations near the instance count more.
        n_score : int, "auto" or None
            Perturbations per instance held out of the fit to score it
            (``meta["r2_held_out"]``); "auto" is ``max(2, n_samples // 5)``, 0 or None
            skips the score. They cost that many more black-box queries per instance
            (``n_samples + n_score`` in all; 1200 at the defaults), and no MCMC.

        Returns
        -------
        Attribution
            ``meta["intercept"]`` holds each local model's response to the all-off
            mask (the mask ``z`` of 0/1 per segment is predicted as ``intercept + z @
            coef``, ``coef`` the segments' attributions, as LIME's
            ``meta["intercept"]``), ``meta["r2"]`` its in-sample R^2 on the fitting
            perturbations, ``meta["r2_held_out"]`` its held-out R^2 (below),
            ``meta["rhat"]`` the fit's worst R-hat and ``meta["n_effective"]`` the
            fit's effective number of perturbations under the kernel, as Lime's (Kish's
            ``(sum W)^2 / sum W^2`` over the distinct masks, ``W`` the summed weight of
            a mask's copies; without ``kernel_width``, the number of distinct masks
            when none repeats).

        Notes
        -----
        Both R^2 score the linear model the attribution is (``component``): with
        "responsible" one component's regression, not the mixture, whose other
        components the explanation does not show (nor each perturbation's likeliest
        component, picked by its own response, which a new perturbation does not
        come with); with "average" the averaged regression, which is the mixture's
        posterior-predictive mean (as ``r2_`` predicts the global fit's held-out
        samples). The in-sample R^2 flatters: it scores the perturbations the chain
        was fitted to. ``meta["r2_held_out"]`` is the honest figure, the counterpart
        of LIME's ``score_cv``: after all the fitting perturbations, ``n_score``
        more per instance are drawn by the same sampler from a stream of their own
        (seeded by the call's seed and ``HELD_OUT_STREAM``, then each row's content;
        each segment on with probability 1/2; the instance itself, which the fit
        saw, is not among them), the black box is queried on them, and each is predicted by
        that linear model. Their R^2 of the same response (logit or probability, as
        ``scale``) is weighted by the same kernel as the fit where ``kernel_width``
        is given: ``1 - sum_i w_i (y_i - yhat_i)^2 / sum_i w_i (y_i - ybar)^2``,
        ``ybar`` their weighted mean. The in-sample R^2 is the same sum over the
        fitting perturbations, the instance among them. The held-out one is near the
        in-sample figure where the local model generalises, about 0 or below where
        it fits noise, and NaN where ``n_score`` is 0 or None, or where the held-out
        responses with weight are all equal. Drawn after the fit's, the held-out
        perturbations leave the fit's, the chains and so the attributions those of
        ``n_score=0``, bit for bit. With few segments some will repeat masks of the
        fit: they are new draws from the distribution the fit was drawn from, not
        masks it never saw.
        """
        blackbox = blackbox if blackbox is not None else getattr(self, "blackbox_", None)
        if blackbox is None:
            raise NotFittedError("pass blackbox=... or fit this DMMMEN first")
        if scale not in ("logit", "probability"):
            raise ValueError(f"scale must be 'logit' or 'probability', got {scale!r}")
        if component not in ("responsible", "average"):
            raise ValueError(f"component must be 'responsible' or 'average', got {component!r}")
        if kernel_width is not None:
            kernel_width = check_number(kernel_width, name="kernel_width")
        if isinstance(fill, str) and fill == "mean":
            # Lime's check would ask for a background= that this method does not take.
            raise ValueError(
                "explain_local takes no background data for fill='mean'; pass the "
                "per-feature means as an array, e.g. fill=X_train.mean(axis=0)"
            )
        local = _LocalDMM(
            blackbox,
            dmm=self,
            scale=scale,
            component=component,
            kernel_width=kernel_width,
            n_score=n_score,
            segmenter=segmenter,
            segment_params=segment_params,
            n_samples=n_samples,
            fill=fill,
            image_shape=image_shape,
        )
        return local.explain(X, target=target, segments=segments)

    def _resolve_k(self, k: int | None) -> int:
        """``k`` checked; None is :data:`DEFAULT_K`, or every feature if fewer are fitted."""
        if k is None:
            return min(DEFAULT_K, self.features_.size)
        k = check_positive_int(k, name="k")
        if k > self.features_.size:
            raise ValueError(f"k={k} exceeds the {self.features_.size} features fitted")
        return k

    def class_insights(
        self,
        k: int | None = None,
        *,
        by: Literal["magnitude", "positive", "contribution"] = "magnitude",
        classes: object = None,
    ) -> FeatureImportance:
        """One ranking per class: row 0 of :meth:`insights` for each of ``classes``.

        Row i belongs to ``classes[i]`` (all fitted classes by default), so when every
        class was fitted, row c is class c, as the fidelity tests of
        :mod:`unboxed.evaluate` read a per-class ranking.

        Parameters
        ----------
        k : int, optional
            Features kept per row, from 1 to the number of fitted features; by
            default 150, or every fitted feature if fewer.
        by : {"magnitude", "positive", "contribution"}, default="magnitude"
            What ranks the features (above).
        classes : label or array-like of labels, optional
            Fitted classes (in :attr:`BlackBox.classes` where set), one row each; all
            of ``classes_`` by default.

        Returns
        -------
        FeatureImportance
            One row per class, named ``"class c"``; ``meta`` holds ``k``, ``by`` and
            ``classes``.
        """
        self._check_fitted()
        k = self._resolve_k(k)
        chosen = self.classes_ if classes is None else self._class_indices(classes, name="classes")
        values = np.vstack([self._insights(c, k, by).values[0] for c in chosen])
        meta = make_meta("dmm-men", self._parameters(), seed=self.seed_)
        meta.update(k=k, by=by, classes=[int(c) for c in chosen])
        return FeatureImportance(
            values,
            meta,
            class_names=tuple(class_title(self.blackbox_.class_name(c)) for c in chosen),
            image_shape=self._image_shape(),
            feature_names=self.blackbox_.feature_names,
        )

    def plot(self, class_: Any = None, *, k: int | None = None, **kwargs: Any) -> Any:
        """Heat maps of the insights: one panel per class (row 0 of :meth:`insights`).

        For tabular data, bars of the ``k`` insight features (``top`` in ``kwargs`` may
        change that); the other features are 0 in an insight.

        Parameters
        ----------
        class_ : label, list of labels or None, default=None
            The fitted classes shown (in :attr:`BlackBox.classes` where set); None
            shows all.
        k : int, optional
            Features kept per insight, as for :meth:`insights`.
        **kwargs
            Passed to :meth:`~unboxed.FeatureImportance.plot` (``top``: bars per
            panel for tabular data; ``value_label``: the bars' axis label, by default
            their units: the class logit per unit of the feature, or per standard
            deviation with ``standardize=True``).

        Returns
        -------
        matplotlib.figure.Figure
        """
        importance = self.class_insights(k, classes=class_)
        kwargs.setdefault("top", importance.meta["k"])
        per = "unit of the feature" if self.std_input_ is None else "standard deviation"
        kwargs.setdefault("value_label", f"weighted |coefficient|: class logit per {per}")
        return importance.plot(list(range(importance.n_classes)), **kwargs)


@dataclasses.dataclass(frozen=True)
class _ClassJob:
    """Fitting one class's regression problem: split, centre, sample and map back.

    A plain picklable object, so that :func:`_run_in_workers` can send it to other
    processes.
    """

    seed: int
    settings: ChainSettings
    test_size: float
    checkpoint_every: int
    #: With ``reduction="pca"``, the principal axes the inputs are scores on: R-hat is
    #: judged on the coefficients mapped back to the original features.
    axes: np.ndarray | None = None
    #: Rows per sample: the sample, then its occluded copies, stacked copy after copy
    #: (row ``i + k * n`` is copy ``k`` of sample ``i``).
    copies: int = 1
    #: Divide each regression feature by its standard deviation over the training rows.
    standardize: bool = False

    def run(
        self,
        class_: int,
        X: np.ndarray,
        y: np.ndarray,
        checkpoint: Checkpoint | None,
        *,
        verbose: bool,
    ) -> dict[str, Any]:
        """The posterior of one class, with its coefficients on the uncentred inputs."""
        rngs = [
            np.random.default_rng([self.seed, int(class_), chain])
            for chain in range(self.settings.n_chains)
        ]
        rng = np.random.default_rng([self.seed, int(class_)])
        test, train = held_out_split(X.shape[0], self.copies, self.test_size, rng)
        n = X.shape[0] // self.copies
        unit = f"class{class_}/"
        design, y_c, x_mean, y_mean = _design(X[train], y[train])
        scale = None
        basis = self.axes
        if self.standardize:
            scale = _unit_scale(design[:, 1:])
            design[:, 1:] /= scale
            if basis is not None:  # R-hat on the inputs: undo the scaling first
                basis = basis / scale[:, None]
        if checkpoint is not None and f"{unit}posterior" in checkpoint.units:
            saved = checkpoint.units[f"{unit}posterior"]
            checkpoint.checked(check_posterior, saved, self.settings, design.shape[1])
            posterior = Posterior.from_arrays(saved)
            running = checkpoint.running
            if running is not None and running["unit"].startswith(unit):
                # Superseded, not lost: its draws are in the posterior. Fits with n_jobs
                # > 1 left such a chain behind until their resume took it over.
                checkpoint.running = None
        else:
            posterior = sample_posterior(
                design,
                y_c,
                self.settings,
                rngs,
                unit=unit,
                checkpoint=checkpoint,
                checkpoint_every=self.checkpoint_every,
                verbose=verbose,
                desc=f"DMM-MEN class {class_}",
                basis=basis,
            )
            if checkpoint is not None:
                for key in [k for k in checkpoint.units if k.startswith(unit)]:
                    del checkpoint.units[key]
                checkpoint.units[f"{unit}posterior"] = posterior.arrays()
                checkpoint.save()
        sampled = posterior  # as the checkpoint keeps it: with scale, coefficients per sd
        if scale is not None:  # per unit of the regression's features
            posterior = dataclasses.replace(
                posterior,
                coef=np.hstack([posterior.coef[:, :1], posterior.coef[:, 1:] / scale]),
                predictive_coef=np.r_[
                    posterior.predictive_coef[:1], posterior.predictive_coef[1:] / scale
                ],
            )
        coef = posterior.coef[:, 1:]
        intercept = y_mean + posterior.coef[:, 0] - coef @ x_mean
        predicted = (
            y_mean
            + posterior.predictive_coef[0]
            + (X[test] - x_mean) @ posterior.predictive_coef[1:]
        )
        return {
            "posterior": sampled,
            "coef": coef,
            "intercept": intercept,
            "r2": _r2(y[test], predicted),
            # Its own stream: the chains' draws stay what they were before it existed.
            "r2_ci": _r2_interval(
                y[test], predicted, test % n, np.random.default_rng([self.seed, int(class_), _R2])
            ),
            "n_samples": train.size,
            "train": train[train < n],  # the samples themselves, without their copies
        }


def _stop_on_sigterm() -> None:
    """Worker initializer. Ctrl-C is left to the parent (a notebook's interrupt reaches
    only it), which stops each worker with one SIGTERM; a worker turns that into the
    KeyboardInterrupt on which its chain saves its state. Two signals, one from the
    terminal and one from the parent, could cut that save short."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _class_file(checkpoint: Checkpoint, class_: int) -> Checkpoint:
    """Class ``class_``'s own checkpoint beside ``checkpoint``, where a worker keeps its
    chains: ``<name>.class<c>.npz``, read if it exists."""
    path = checkpoint.path.with_name(f"{checkpoint.path.stem}.class{class_}.npz")
    return Checkpoint(path, {**checkpoint.fingerprint, "class": class_})


def _progress(checkpoint: Checkpoint, class_: int) -> tuple[bool, int, int]:
    """How far ``checkpoint`` has class ``class_``: its posterior saved, the number of
    its finished chains, and one past the sweep of its running chain (0: none). Chains
    run in order, so a larger tuple is further on along the same draws."""
    prefix = f"class{class_}/"
    running = checkpoint.running
    sweep = 0
    if running is not None and running["unit"].startswith(prefix):
        sweep = int(running["sweep"]) + 1  # the state at sweep 0 is past the pilots
    finished = sum(unit.startswith(f"{prefix}chain") for unit in checkpoint.units)
    return f"{prefix}posterior" in checkpoint.units, finished, sweep


def _move_class(source: Checkpoint, target: Checkpoint, class_: int) -> bool:
    """Move class ``class_``'s saved work (posterior, finished and running chains) from
    ``source`` to ``target``, unless ``target`` holds as much of it already.

    ``target`` is saved; ``source`` is left to the caller, to be saved or removed
    after it, so that at every moment one file or both hold the work.

    Returns
    -------
    bool
        Whether ``source`` held any of it.

    Raises
    ------
    ValueError
        If the work includes a running chain and ``target`` runs a chain of another
        class: it holds one running chain only, and neither may be dropped.
    """
    prefix = f"class{class_}/"
    ours = _progress(source, class_)
    if ours > _progress(target, class_):
        running = source.running if ours[2] else None
        other = target.running
        if running is not None and other is not None and not other["unit"].startswith(prefix):
            raise ValueError(
                f"{target.path} is a damaged DMM-MEN checkpoint: its running chain is "
                f"{other['unit']!r}, but this fit goes on with {running['unit']!r}, saved "
                f"in {source.path}"
            )
        _take_class(target, prefix)
        target.units.update({k: v for k, v in source.units.items() if k.startswith(prefix)})
        if running is not None:
            target.running = running
        target.save()
    return _take_class(source, prefix)


def _take_class(checkpoint: Checkpoint, prefix: str) -> bool:
    """Remove the units and running chain whose names start with ``prefix`` from
    ``checkpoint`` (not saved); whether there were any."""
    units = [unit for unit in checkpoint.units if unit.startswith(prefix)]
    for unit in units:
        del checkpoint.units[unit]
    running = checkpoint.running
    if running is not None and running["unit"].startswith(prefix):
        checkpoint.running = None
        return True
    return bool(units)


def _run_here(
    job: _ClassJob,
    class_: int,
    X: np.ndarray,
    y: np.ndarray,
    checkpoint: Checkpoint | None,
    *,
    verbose: bool,
) -> dict[str, Any]:
    """One class in this process, its chains saved in ``checkpoint`` itself: a fit with
    ``n_jobs > 1`` left them in the class's own file, they are taken from there."""
    if checkpoint is not None:
        own = _class_file(checkpoint, class_)
        if own.path.is_file():
            _move_class(own, checkpoint, class_)
            own.path.unlink()
    return job.run(class_, X, y, checkpoint, verbose=verbose)


def _run_in_worker(
    job: _ClassJob, class_: int, X: np.ndarray, y: np.ndarray, path, fingerprint
) -> dict[str, Any]:
    """One class in a worker process, checkpointed to its own file if ``path``."""
    checkpoint = None if path is None else Checkpoint(path, fingerprint)
    return job.run(class_, X, y, checkpoint, verbose=False)


def _run_in_workers(
    job: _ClassJob,
    problems: dict[int, tuple[np.ndarray, np.ndarray]],
    checkpoint: Checkpoint | None,
    n_jobs: int,
    *,
    asked: object,
    verbose: bool,
) -> tuple[list[dict[str, Any]], int]:
    """Fit the classes in ``n_jobs`` processes at most; results in the order of
    ``problems``, and the number of processes that sampled: one per class left to
    sample at most, 1 (this process) where a checkpoint left none. ``asked`` is the
    ``n_jobs`` the user gave (-1, None), that errors name.

    Each worker checkpoints its class to ``<name>.class<c>.npz``; a finished class's
    posterior goes into ``checkpoint`` (saved atomically) and its file is removed.
    Workers are started fresh ("spawn"): forking a process that holds torch's
    thread pools can deadlock.
    """
    fits: dict[int, dict[str, Any]] = {}
    todo = []
    for c, (X, y) in problems.items():
        if checkpoint is not None and f"class{c}/posterior" in checkpoint.units:
            fits[c] = job.run(c, X, y, checkpoint, verbose=False)  # no sampling left
        else:
            todo.append(c)
    own = {} if checkpoint is None else _hand_out(checkpoint, todo)
    if not todo:
        # A finished checkpoint: this process read every class, and a pool would start
        # no process, only be built and shut down.
        return [fits[c] for c in problems], 1

    def side_file(c: int) -> Path | None:
        return None if checkpoint is None else own[c].path

    context = multiprocessing.get_context("spawn")
    processes = min(n_jobs, len(todo))
    pool = ProcessPoolExecutor(processes, mp_context=context, initializer=_stop_on_sigterm)
    try:
        futures = {
            pool.submit(
                _run_in_worker,
                job,
                c,
                *problems[c],
                side_file(c),
                None if checkpoint is None else own[c].fingerprint,
            ): c
            for c in todo
        }
        with progress(
            as_completed(futures), verbose=verbose, desc="DMM-MEN classes", total=len(todo)
        ) as bar:
            for future in bar:
                c = futures[future]
                fits[c] = _worker_result(future, asked, n_jobs)
                if checkpoint is not None:
                    checkpoint.units[f"class{c}/posterior"] = fits[c]["posterior"].arrays()
                    checkpoint.save()
                    cast(Path, side_file(c)).unlink(missing_ok=True)
    except BaseException:
        # Running futures cannot be cancelled: stop their workers, once each. Each saves
        # its chain's state on the way out, as on Ctrl-C, unless the signal lands where
        # Python swallows the exception (a finalizer): such a worker is killed after a
        # grace period, losing at most the sweeps since its last periodic save.
        workers = list((getattr(pool, "_processes", None) or {}).values())
        for process in workers:
            if process.is_alive():
                process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)  # workers exit once their task ends
        deadline = time.monotonic() + STOP_GRACE
        for process in workers:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
        pool.shutdown(wait=True)
        raise
    pool.shutdown()
    return [fits[c] for c in problems], processes


def _worker_result(future: Future, asked: object, n_jobs: int) -> dict[str, Any]:
    """The result of a worker's class, or a clear error if its process died. The error
    names the ``n_jobs`` the user gave (``asked``) and, where it differs, the number
    ``n_jobs`` it resolved to.

    Raises
    ------
    RuntimeError
        If a worker process ended abruptly, most often because the script that fits
        has no ``if __name__ == "__main__":`` guard: each fresh ("spawn") worker
        imports it again, reaches the fit and fails while it starts.
    """
    try:
        return future.result()
    except BrokenProcessPool as error:
        # The user wrote -1, not the count it came to on this machine.
        given = f"n_jobs={n_jobs}" if asked == n_jobs else f"n_jobs={asked!r}, resolved to {n_jobs}"
        raise RuntimeError(
            f"DMMMEN({given}): a worker process ended abruptly before its class "
            "was fitted. The workers start fresh and import the main script again, so "
            "a script that fits in more than one process must do so under "
            '`if __name__ == "__main__":`; put the fit under that guard, or use '
            "n_jobs=1. (A worker killed from outside, for instance for lack of "
            "memory, also ends this way.)"
        ) from error


def _hand_out(checkpoint: Checkpoint, classes: list[int]) -> dict[int, Checkpoint]:
    """Each class's own checkpoint for its worker, given the class's saved chains that
    a fit with ``n_jobs=1`` left in ``checkpoint`` (a worker reads its own file only).

    Raises
    ------
    ValueError
        If ``checkpoint`` runs a chain of none of these classes.
    """
    own = {c: _class_file(checkpoint, c) for c in classes}
    moved = [_move_class(checkpoint, own[c], c) for c in classes]
    if checkpoint.running is not None:
        raise ValueError(
            f"{checkpoint.path} is a damaged DMM-MEN checkpoint: its running chain is "
            f"{checkpoint.running['unit']!r}, a chain of none of the classes left to "
            f"sample ({classes})"
        )
    if any(moved):
        checkpoint.save()
    return own


def _warn_constant_targets(problems: dict[int, tuple[np.ndarray, np.ndarray]]) -> None:
    """Warn of classes whose logits are all equal: a black box with hard 0/1 answers
    (a grown tree) or saturated past the clip leaves nothing to regress."""
    flat = [c for c, (_, y) in problems.items() if np.ptp(y) == 0]
    if flat:
        warnings.warn(
            f"DMM-MEN: the black box gives every sample of classes {flat} the same "
            "probability (hard 0/1, or saturated at the clip), so their logits are "
            "constant and there is nothing to regress: their coefficients and insights "
            "are noise, and their r2_ is NaN",
            UserWarning,
            stacklevel=3,
        )


def _class_fits(count: int, test_size: float) -> bool:
    """Whether a class of ``count`` samples passes :func:`_check_class_size`."""
    n_test = _n_held_out(count, test_size)
    return count - n_test >= MIN_SAMPLES and n_test >= 2


def _check_reduction(reduction: object) -> None:
    if reduction not in ("variance", "pca"):
        raise ValueError(f"reduction must be 'variance' or 'pca', got {reduction!r}")


def _check_class_size(
    count: int,
    n_total: int,
    class_: Any,
    test_size: float,
    fittable: list[Any] | None = None,
) -> None:
    """A class needs ``MIN_SAMPLES`` samples to fit after the held-out split, and two
    held out (one gives no R^2). ``class_`` is its label, as ``classes=`` takes it, and
    ``fittable`` the labels of the classes that can fit, offered as ``classes=``."""
    n_test = _n_held_out(count, test_size)
    leave_out = "leave the class out with classes=" + (
        "[...]" if fittable is None else repr(fittable)
    )
    if count == 0:  # a class the model never predicts: nothing to hold out or fit
        raise ValueError(
            f"the black box assigns none of the {n_total} samples to class {class_!r}; "
            f"DMM-MEN needs at least {MIN_SAMPLES} to fit per class. Give rows it "
            f"assigns to that class, or {leave_out}"
        )
    if count - n_test < MIN_SAMPLES:
        raise ValueError(
            f"the black box assigns {count} of the {n_total} samples to class {class_!r}, "
            f"{count - n_test} of them fitted after test_size={test_size} holds "
            f"{n_test} out; DMM-MEN needs at least {MIN_SAMPLES} to fit per class. Give "
            f"more data, lower test_size or {leave_out}"
        )
    if n_test < 2:
        raise ValueError(
            f"test_size={test_size} holds out {n_test} of class {class_!r}'s {count} samples; "
            "R^2 needs at least 2"
        )


def _n_held_out(n: int, test_size: float) -> int:
    """How many of a class's ``n`` samples :func:`held_out_split` holds out."""
    return max(1, round(test_size * n))


def held_out_split(
    n_rows: int, copies: int, test_size: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Test and training rows of a class's problem, ``copies`` rows per sample.

    Row ``i + k * n`` is copy ``k`` of sample ``i`` (``n = n_rows // copies``). A
    sample's copies go where it goes, so that the held-out R^2 sees none of a training
    sample; with one copy this is a plain permutation split.

    ``n_rows`` must be a positive multiple of ``copies`` (an int >= 1), and
    ``test_size`` lie in (0, 1); anything else is refused (``ValueError``).

    Returns
    -------
    test, train : ndarray of int
    """
    copies = check_positive_int(copies, name="copies")
    check_positive_int(n_rows, name="n_rows")
    if n_rows % copies:  # the last rows would be in neither part
        raise ValueError(f"n_rows={n_rows} must be a multiple of copies={copies}")
    check_fraction(test_size, name="test_size", below_one=True)
    n = n_rows // copies
    order = rng.permutation(n)
    n_test = _n_held_out(n, test_size)

    def with_copies(samples: np.ndarray) -> np.ndarray:
        return (samples[None, :] + n * np.arange(copies)[:, None]).ravel()

    return with_copies(order[:n_test]), with_copies(order[n_test:])


def _occluded_name(rows: np.ndarray, n_copies: int, index: Any = None) -> Callable[[int], str]:
    """``row_name`` of :meth:`BlackBox._proba_rows` for :func:`occlude`'s ``n_copies``
    copies of ``X[rows]``: a model that raised on one was reported "on row 7 of the 8
    rows queried", of the copies of one class's rows. ``index``, a pandas ``X``'s row
    labels, adds the row's label (", row X.loc['flower-62']") where it is not its
    position (:func:`~unboxed.blackbox._row_of_x`)."""

    def name(i: int) -> str:
        copy, row = divmod(i, rows.size)
        return f"occluded copy {copy + 1} of {n_copies} of {_row_of_x(int(rows[row]), index)}"

    return name


def occlude(
    X: np.ndarray, columns: np.ndarray, n_copies: int, max_share: float, rng: np.random.Generator
) -> np.ndarray:
    """``n_copies`` copies of ``X``, stacked copy after copy, each row with a random share
    (uniform in ``[0, max_share]``) of ``columns`` set to 0.

    ``columns`` must be feature indices of ``X``, ``n_copies`` an int >= 0 and
    ``max_share`` lie in [0, 1]; anything else is refused (``ValueError``).

    Returns
    -------
    ndarray of shape (n_copies * n_samples, n_features)
    """
    check_feature_indices(columns, n_features=X.shape[1], name="columns")
    check_positive_int(n_copies, name="n_copies", minimum=0)
    if not 0.0 <= max_share <= 1.0:  # NaN too: numpy's "high - low range exceeds valid bounds"
        raise ValueError(f"max_share must lie in [0, 1], got {max_share!r}")
    out = np.tile(X, (n_copies, 1))
    share = rng.uniform(0.0, max_share, size=(out.shape[0], 1))
    block = out[:, columns]
    block[rng.random(block.shape) < share] = 0.0
    out[:, columns] = block
    return out


def _design(
    X: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Centred features with a leading column of ones, and the centred targets.

    With ``weights``, the centring is weighted and every row is scaled by the square
    root of its weight: a unit-variance regression on the scaled rows is the weighted
    one, ``y_i ~ N(x_i beta, sigma^2 / w_i)``, and each row's likelihood under every
    component changes by the same factor, so the allocations are those of the
    weighted model too.
    """
    x_mean = np.average(X, axis=0, weights=weights)
    y_mean = float(np.average(y, weights=weights))
    design = np.hstack([np.ones((X.shape[0], 1)), X - x_mean])
    y_c = y - y_mean
    if weights is not None:
        root = np.sqrt(weights / weights.mean())
        design, y_c = design * root[:, None], y_c * root
    return design, y_c, x_mean, y_mean


def _unit_scale(X: np.ndarray) -> np.ndarray:
    """Each column's standard deviation, 1 where it is 0: shape (p,) of ``X`` (n, p).

    A constant column has nothing to scale, and its coefficient stays in its own units.
    It is told by its range, which is exactly 0: its standard deviation can be 1e-17
    from rounding, and dividing by that would blow it up.
    """
    return np.where(np.ptp(X, axis=0) > 0, X.std(axis=0), 1.0)


def _responsibility(
    y: np.ndarray, mean: np.ndarray, weights: np.ndarray, sigma2: np.ndarray
) -> np.ndarray:
    """Normalised ``pi_j N(y_i | mean_ij, sigma_j^2)``, shape (n, J); the parameters
    broadcast against ``mean`` (one set, or one per row)."""
    log_r = np.log(np.maximum(weights, 1e-300)) - 0.5 * (
        np.log(sigma2) + (y[:, None] - mean) ** 2 / sigma2
    )
    return special.softmax(log_r, axis=1)


def _r2(y: np.ndarray, predicted: np.ndarray) -> float:
    """R^2 of ``predicted`` for ``y`` (n,), equally weighted (:func:`_weighted_r2`)."""
    return _weighted_r2(y, predicted, None)


def _weighted_r2(y: np.ndarray, predicted: np.ndarray, weights: np.ndarray | None) -> float:
    """``1 - sum w (y - predicted)^2 / sum w (y - ybar)^2``, ``ybar`` the weighted mean
    of ``y`` (n,), by the local explainers' rule
    (:func:`~unboxed.local._engine.r2_of_predictions`): NaN where the responses with
    weight are all equal (a constant response has no R^2), no weight is left (a kernel
    so narrow that only the instance counts) or the weighted total is within rounding
    of 0 while they differ (a kernel that leaves the instance all but all the weight:
    the ratio of two rounding errors, which read -1e200 or overflowed)."""
    w = np.ones(y.shape) if weights is None else weights
    return float(r2_of_predictions(y[None], predicted[None], w[None], constant=math.nan)[0])


#: The last word of the seed of the R^2 bootstrap's generator (``[seed, class, _R2]``),
#: apart from the chains' ``[seed, class, chain]`` for any sane number of chains.
_R2 = 0x5232
#: Bootstrap draws of the held-out R^2's interval.
_R2_BOOT = 1000


def _r2_interval(
    y: np.ndarray,
    predicted: np.ndarray,
    groups: np.ndarray,
    rng: np.random.Generator,
    n_boot: int = _R2_BOOT,
) -> tuple[float, float]:
    """The 95% percentile-bootstrap interval of :func:`_r2`.

    Each draw resamples the ``groups`` (held-out samples) with replacement and scores
    every row of each drawn group (a sample and its occluded copies), as many times as
    the group is drawn. Draws whose rows all share one ``y`` have no R^2 and are left out.

    Parameters
    ----------
    y, predicted : ndarray of shape (n_rows,)
    groups : ndarray of int of shape (n_rows,)
        The sample each row belongs to.
    rng : numpy.random.Generator
    n_boot : int

    Returns
    -------
    (low, high) : tuple of float
        NaN, NaN where :func:`_r2` is NaN.
    """
    if np.ptp(y) == 0:
        return math.nan, math.nan
    _, inverse = np.unique(groups, return_inverse=True)
    m = int(inverse.max()) + 1
    draws = rng.integers(0, m, size=(n_boot, m)) + m * np.arange(n_boot)[:, None]
    weight = np.bincount(draws.ravel(), minlength=n_boot * m).reshape(n_boot, m)[:, inverse]
    drawn = weight > 0
    # Compared, not measured: the rounded mean of equal values leaves a total of ~1e-32
    # whose ratio (as in _r2) would be noise.
    varied = np.where(drawn, y, -np.inf).max(axis=1) > np.where(drawn, y, np.inf).min(axis=1)
    weight = weight[varied]
    mean = (weight @ y) / weight.sum(axis=1)
    total = np.einsum("bn,bn->b", weight, (y[None, :] - mean[:, None]) ** 2)
    r2 = 1.0 - (weight @ (y - predicted) ** 2) / total
    if r2.size == 0:
        return math.nan, math.nan
    low, high = np.percentile(r2, [2.5, 97.5])
    return float(low), float(high)


class _LocalDMM(_SegmentExplainer):
    """The perturbation engine with a DMM-MEN fit per instance (``explain_local``)."""

    method = "dmm-men-local"

    def __init__(
        self,
        blackbox: BlackBox,
        *,
        dmm: DMMMEN,
        scale: str,
        component: str,
        kernel_width: float | None,
        n_score: int | str | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            blackbox,
            background=None,
            random_state=dmm.random_state,
            verbose=dmm.verbose,
            **kwargs,
        )
        self.dmm = dmm
        self.scale = scale
        self.component = component
        self.kernel_width = kernel_width
        # resolved here, after the base class has checked n_samples
        self.n_score = _check_n_score(n_score, self.n_samples)
        self.settings = dmm._settings()

    def _parameters(self) -> dict[str, Any]:
        params = super()._parameters()
        del params["settings"]  # derived from the DMMMEN's own parameters
        params["dmm"] = self.dmm._parameters()
        return params

    def explain(self, X: object, *, target: object = None, segments: object = None) -> Attribution:
        seed = int_seed(self.random_state)
        # Each instance's fit, by the hash of its content (its row_seed without the
        # seed), for the held-out pass to score: that pass's chunks are larger (fewer
        # samples a row) and the engine fits a chunk's rows grouped by their number of
        # segments, so the two passes meet mixed rows in different orders. Rows of one
        # hash (identical rows, one number of segments) come in the order of the batch
        # in both passes, so each takes the first fit of its hash not yet taken.
        fits: dict[tuple[int, ...], list[_LocalFit]] = {}
        bar: Any = None  # opened by run(), moved by fit()

        def fit(masks, y, weights, valid, keys):
            scores = np.zeros(valid.shape)
            r2, rhat = np.zeros(valid.shape[0]), np.zeros(valid.shape[0])
            intercept = np.zeros(valid.shape[0])
            for i in range(valid.shape[0]):
                on = np.flatnonzero(valid[i])
                # Each chain's seed is the row's (row_seed: the call's seed and the
                # row's content) and the chain: a row's fit depends neither on its place
                # in the batch nor on the other rows, and different rows' chains are
                # independent. Longer than the masks' key, so a stream of its own.
                rngs = [
                    np.random.default_rng([*keys[i], chain])
                    for chain in range(self.settings.n_chains)
                ]
                local = _fit_local(
                    masks[i][:, on].astype(np.float64),
                    self._response(y[i]),
                    self.settings,
                    rngs,
                    average=self.component == "average",
                    weights=None if self.kernel_width is None else weights[i],
                )
                scores[i, on], r2[i], rhat[i] = local.coef, local.r2, local.rhat
                intercept[i] = local.intercept
                if self.n_score:
                    fits.setdefault(tuple(keys[i][1:]), []).append(local)
                bar.update(1)
            # Lime's figure of the same kernel's weights, over the distinct masks (a
            # weighted fit to copies of a mask is the fit to one with their summed
            # weight): 1 where only the instance counts; without a width, the number
            # of samples where no mask repeats.
            n_effective, _ = pooled_effective_sample_size(masks & valid[:, None, :], weights)
            info = {"r2": r2, "rhat": rhat, "intercept": intercept, "n_effective": n_effective}
            return scores, info

        def run(engine, X, target, partition, n_samples, seed, row_name):
            """The engine's pass, then the held-out one; ``row_name`` names ``X``'s rows
            in a message about a perturbation the black box raises on (the caller's,
            :func:`~unboxed.local._base.naming_rows`, or a DataFrame's labels)."""
            nonlocal bar
            _warn_if_underdetermined(partition.counts, n_samples)
            # The engine's bar moves once per chunk of ~32 instances, and each instance
            # is a whole MCMC run (3 s at n_iter=50 on 784 pixels, minutes at the
            # default): this bar moves once per instance, so a long explain_local shows
            # it is alive.
            with progress(
                total=X.shape[0], verbose=self.verbose, desc="DMM-MEN local fits", unit="instance"
            ) as bar:
                values, targets, info = self._run(
                    engine, X, target, partition, n_samples, seed, row_name
                )
            info["r2_held_out"] = self._held_out_r2(X, targets, partition, fits, seed, row_name)
            return values, targets, info

        engine = Engine(bernoulli_masks, self._kernel(), fit)
        return self._explain(engine, X, target, segments, seed=seed, run=run)

    def _response(self, y: np.ndarray) -> np.ndarray:
        """The response regressed on the masks: the logit or the probability itself."""
        return logit(y) if self.scale == "logit" else y

    def _kernel(self) -> Kernel:
        """Equal weights, or LIME's kernel of width ``kernel_width``."""
        if self.kernel_width is None:
            return uniform_kernel
        return exponential_kernel(self.kernel_width)

    def _held_out_r2(
        self,
        X: np.ndarray,
        targets: np.ndarray,
        partition: Partition,
        fits: dict[tuple[int, ...], list[_LocalFit]],
        seed: int,
        row_name: RowName | None = None,
    ) -> np.ndarray:
        """Each instance's R^2 on ``n_score`` new perturbations, shape (n,); NaN if off.

        A second pass of the engine, after the fit's: its masks come from a seed of
        their own, drawn from the fit's ``seed`` (the fit's seed would give a row the
        fit's first masks again), so they leave the fit's as they were, and its
        queries go to the black box in blocks of their own, so the fit's rows keep
        the batches they had (a network's output can change in the last bits with
        the batch a row is in). Each row finds its fit in ``fits`` by the hash of its
        content, which the two passes' row seeds share (the order in which they meet
        the rows can differ), the first of that hash not yet scored.
        ``row_name`` names ``X``'s rows, as in the fit's pass.
        """
        if not self.n_score:
            return np.full(X.shape[0], math.nan)
        pending = {digest: iter(found) for digest, found in fits.items()}

        def score(masks, y, weights, valid, keys):
            r2 = np.empty(valid.shape[0])
            for i in range(valid.shape[0]):
                on = np.flatnonzero(valid[i])  # the segments the fit regressed on
                own = next(pending[tuple(keys[i][1:])])
                r2[i] = _weighted_r2(
                    self._response(y[i]),
                    own.predict(masks[i][:, on].astype(np.float64)),
                    None if self.kernel_width is None else weights[i],
                )
            return np.zeros(valid.shape), {"r2_held_out": r2}

        engine = Engine(_held_out_masks, self._kernel(), score)
        # _run reads targets as labels; the fit's are column indices
        labels = self.blackbox.class_labels(targets)
        held_out_seed = int(np.random.default_rng([seed, HELD_OUT_STREAM]).integers(2**63))
        _, _, info = self._run(engine, X, labels, partition, self.n_score, held_out_seed, row_name)
        return info["r2_held_out"]


def _warn_if_underdetermined(counts: np.ndarray, n_samples: int) -> None:
    """Warn where a row has more unknowns (its ``counts`` segments and the intercept)
    than the ``n_samples`` perturbations its local fit sees: only the prior then holds
    its coefficients, and its in-sample R^2 says nothing (-31.8 on 16 segments at
    ``n_samples=10``). Called from inside ``explain_local``, whose caller it names."""
    unknowns = counts + 1
    short = unknowns > n_samples
    if not short.any():
        return
    warnings.warn(
        f"DMM-MEN explain_local: {int(short.sum())} of {len(counts)} rows have more "
        f"unknowns than the n_samples={n_samples} perturbations their fit sees (up to "
        f"{int(counts.max())} segments plus the intercept): their fit is underdetermined, "
        "only the prior settles its coefficients, and its R^2 says little. Give "
        f"n_samples >= {int(unknowns.max())}, or fewer segments",
        UserWarning,
        stacklevel=_above_explain_local(),
    )


def _above_explain_local() -> int:
    """The ``stacklevel`` at which a warning from the caller of this function names the
    line that called :meth:`DMMMEN.explain_local`: counted, since the engine's frames
    between the two change with the engine (a fixed count named the library's own line
    once a frame was added). 2, the caller's caller, where ``explain_local`` is not on
    the stack."""
    code = DMMMEN.explain_local.__code__
    frame, level = inspect.currentframe(), 0  # this function's frame; the caller's is 1
    while frame is not None and frame.f_code is not code:
        frame, level = frame.f_back, level + 1
    return 2 if frame is None else level + 1


def _check_n_score(n_score: object, n_samples: int) -> int:
    """``explain_local``'s ``n_score`` as a count: 0 (off), or at least 2."""
    if n_score is None:
        return 0
    if isinstance(n_score, str) and n_score == "auto":
        return max(2, n_samples // 5)
    if is_int(n_score) and n_score == 0:
        return 0
    # one held-out response has no spread to explain
    if not is_int(n_score) or n_score < 2:
        raise ValueError(f"n_score must be 'auto', None, 0 or an int >= 2, got {n_score!r}")
    return int(n_score)


def _held_out_masks(valid: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """``n_samples`` masks per row from the fit's sampler, without its sample 0 (the
    instance itself, which the fit has seen): shape (r, n_samples, M)."""
    return bernoulli_masks(valid, n_samples + 1, rng)[:, 1:]


class _LocalFit(NamedTuple):
    """One instance's local DMM-MEN (:func:`_fit_local`).

    Attributes
    ----------
    coef : ndarray of shape (M,)
        The attribution of each segment.
    r2 : float
        The in-sample R^2 of the shown linear model (:meth:`predict`).
    rhat : float
        The worst R-hat.
    x_mean : ndarray of shape (M,)
    y_mean : float
        The (weighted) means the design was centred at.
    shown_coef : ndarray of shape (M + 1,)
        The linear model whose slopes are ``coef``, on the centred design (intercept
        first): the responsible component's posterior-mean ``beta_j``, or the
        posterior mean of ``sum_j pi_j beta_j``.
    """

    coef: np.ndarray
    r2: float
    rhat: float
    x_mean: np.ndarray
    y_mean: float
    shown_coef: np.ndarray

    def predict(self, Z: np.ndarray) -> np.ndarray:
        """The shown linear model's response to masks ``Z`` (S, M), shape (S,)."""
        return self.y_mean + self.shown_coef[0] + (Z - self.x_mean) @ self.shown_coef[1:]

    @property
    def intercept(self) -> float:
        """The shown model's response to the all-off mask: it predicts mask ``z`` as
        ``intercept + z @ coef``."""
        return float(self.y_mean + self.shown_coef[0] - self.x_mean @ self.shown_coef[1:])


def _fit_local(
    Z: np.ndarray,
    y: np.ndarray,
    settings: ChainSettings,
    rngs: list[np.random.Generator],
    *,
    average: bool,
    weights: np.ndarray | None = None,
) -> _LocalFit:
    """Fit a DMM-MEN to one instance's perturbations; sample 0 is the instance itself.

    Returns the linear model shown: the coefficients (and intercept) of the component
    responsible for sample 0, or, with ``average``, the posterior mean of the
    weight-averaged ones, which is the posterior-predictive mean; its in-sample R^2
    (weighted, with ``weights``); and the worst R-hat.
    """
    design, y_c, x_mean, y_mean = _design(Z, y, weights)
    posterior = sample_posterior(design, y_c, settings, rngs)
    if average:
        shown = posterior.predictive_coef
    else:
        mean = design @ posterior.coef.T  # (S, J) centred (and scaled) predictions
        resp = _responsibility(y_c, mean, posterior.weights, posterior.sigma2)
        shown = posterior.coef[int(np.argmax(resp[0]))]  # responsible for the instance
    # The R^2 of the model the attribution is, not of each sample's likeliest
    # component, which a reader of the attribution does not have (and which a new
    # perturbation, without its response, could not pick).
    fit = _LocalFit(shown[1:], math.nan, posterior.rhat, x_mean, y_mean, shown)
    return fit._replace(r2=_weighted_r2(y, fit.predict(Z), weights))


def _check_prior_range(hyper: dict[str, float]) -> None:
    """Refuse priors whose draws leave float range: they failed deep in the sampler
    (numpy's ``wald`` with a mean of 0, a division by 0) or stored infinities."""
    for name in ("sigma_shape", "lambda1_shape", "lambda2_shape"):
        if hyper[name] < MIN_PRIOR_SHAPE:
            raise ValueError(
                f"{name} must be at least {MIN_PRIOR_SHAPE:g}, got {hyper[name]!r}: below "
                "it the prior's Gamma draws underflow to 0, which the sampler divides by"
            )
    low, high = PRIOR_SCALE_RANGE
    for name in ("alpha_rate", "sigma_scale", "lambda_rate"):
        if not low <= hyper[name] <= high:
            raise ValueError(
                f"{name} must be between {low:g} and {high:g}, got {hyper[name]!r}: "
                "beyond them the prior's draws leave float range"
            )
