"""The one perturbation engine behind LIME, KernelSHAP and occlusion.

An explanation by perturbation has three parts (DESIGN.md, convention 7):

- *components and a fill*: which groups of features are switched off together
  (:mod:`._segments`) and what they become (:func:`._base.make_fill`);
- *a sampler*: binary masks over the components, one row per perturbed sample;
- *a kernel and a fit*: weights for the samples and an interpretable model fitted
  to the black box's answers, whose coefficients are the component scores.

The engine builds the perturbed inputs for many instances at once, sends them to
the black box in large batches, and solves the weighted least-squares problems of a
whole chunk of instances in one batched call per number of components. No Python
loop runs over instances' queries or fits (only over their seeds and masks, below).

Every sampler puts the all-on mask (the instance itself) first, so ``f(x)`` is
always sample 0, and the explained class defaults to its argmax.

A row's draws depend on the seed and on that row alone: each row's masks come from a
generator of its own, seeded with the call's seed and a hash of the row's content, its
values and its segments (:func:`row_seed`), and so do its cross-validation folds
(:func:`row_folds`). So a row explained alone or at any place in any batch gets the
same masks, folds and explanation (to the last bit but at a few widths, where
:func:`_gram`'s ``torch.bmm`` rounds a batch of one otherwise), and two different
rows get independent draws (so the sampling errors of a mean over many rows average
out). Identical rows (same values, same segments) get identical draws, hence
identical explanations. Hashing
each row and drawing its masks loop over the rows (about 0.03 s of 0.2 s for
KernelSHAP on 60 digits rows at 1000 samples and 64 pixels).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import math
import numbers
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import numpy as np
from scipy import special

from .._progress import progress
from .._ranks import top_k_mask
from .._validation import RandomState, as_seed, check_random_state
from ..blackbox import BlackBox, RowName, perturbation_name

#: Perturbed samples of the instances explained together: their masks, answers and
#: batched fits. Bounds the memory of a chunk to about CHUNK_ROWS x n_components.
CHUNK_ROWS = 32768
#: Perturbed rows built at once and sent straight to the black box. Small enough that
#: the rows are still in cache when the model reads them: building a whole chunk first
#: sends every row through main memory twice, which cost more than a small MLP's own
#: forward pass (measured on the MLP: 1.45x the query floor, against 1.10x with blocks
#: of 4 instances x 1000 samples).
QUERY_ROWS = 4096

#: Words of the hash of a row's content in its seed (:func:`row_seed`). Four 32-bit
#: words: with the call's seed, more than a SeedSequence's pool of 4 words, whose
#: shorter entropy reads as if padded with zeros ([s, 0] seeds as [s] does).
DIGEST_WORDS = 4

Masks = np.ndarray  # (r, S, M) bool
Sampler = Callable[[np.ndarray, int, np.random.Generator], Masks]
Kernel = Callable[[Masks, np.ndarray], np.ndarray]
#: Each row's seed words, ``[seed, *digest]`` (:func:`row_seed`).
Keys = list[list[int]]
Fit = Callable[[Masks, np.ndarray, np.ndarray, np.ndarray, Keys], tuple[np.ndarray, dict[str, Any]]]


class Components(Protocol):
    """Interpretable components: a :class:`Partition` or :class:`Windows`."""

    @property
    def width(self) -> int: ...

    def valid(self, n: int) -> np.ndarray: ...

    def perturb(
        self, masks: np.ndarray, rows: slice, X: np.ndarray, fill: np.ndarray
    ) -> np.ndarray: ...

    def spread(self, scores: np.ndarray) -> np.ndarray: ...

    def labelling(self, row: int) -> np.ndarray | None: ...


@dataclasses.dataclass(frozen=True)
class Engine:
    """A perturbation explainer: a sampler, a similarity kernel and a fit.

    Attributes
    ----------
    sampler : callable (valid (r, M) bool, n_samples, rng) -> masks (r, S, M) bool
    kernel : callable (masks, valid) -> weights (r, S)
    fit : callable (masks, y (r, S), weights, valid, keys) -> (scores (r, M), info)
        ``keys`` holds each row's seed words (:func:`row_seed`), for a fit that draws
        (cross-validation folds, chains). ``info`` maps names to per-instance arrays
        ``(r,)``.
    """

    sampler: Sampler
    kernel: Kernel
    fit: Fit

    def run(
        self,
        blackbox: BlackBox,
        X: np.ndarray,
        fill: np.ndarray,
        components: Components,
        target: np.ndarray | None,
        *,
        n_samples: int,
        seed: int,
        verbose: bool = False,
        row_name: RowName | None = None,
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Explain every row of ``X``.

        Parameters
        ----------
        X : ndarray of shape (n, d)
        fill : ndarray of shape (n, d) or (1, d)
        components : Partition or Windows
        target : ndarray of shape (n,) or None (the black box's class for each row)
        n_samples : int
        seed : int
            Every row's masks are drawn from a generator of its own seeded with it and
            with the row's content (:func:`row_seed`), so a row's explanation does not
            depend on the others, and different rows' draws are independent.
        verbose : bool
            Show a progress bar over the chunks of rows.
        row_name : callable, optional
            The name of row ``i`` of ``X`` (``_Rows.row_name`` of :mod:`._base`: the
            caller's, or by a pandas ``X``'s label), which names the row of a
            perturbation the black box raises on
            (:func:`~unboxed.blackbox.perturbation_name`); None reads "row i of X".

        Returns
        -------
        values : ndarray of shape (n, d)
            Component scores spread back to the features.
        target : ndarray of shape (n,)
        info : dict of ndarray of shape (n,)
        """
        n = X.shape[0]
        valid = components.valid(n)
        scores = np.zeros((n, components.width))
        targets = np.empty(n, dtype=np.int64)
        infos: list[dict[str, np.ndarray]] = []
        per_chunk = max(1, CHUNK_ROWS // n_samples)
        starts = range(0, n, per_chunk)
        for start in progress(starts, verbose=verbose, desc="perturbing", total=len(starts)):
            rows = slice(start, min(start + per_chunk, n))
            keys = [row_seed(seed, X[i], components.labelling(i)) for i in range(n)[rows]]
            counts = valid[rows].sum(axis=1)
            try:
                masks, sizes = row_masks(self.sampler, counts, n_samples, keys, components.width)
            except MemoryError as error:
                # numpy's own message names an array shape, not the setting that asked
                # for it: n_samples=10**12 failed allocating "(1, 10**12, 1) uint8".
                raise MemoryError(
                    f"n_samples={n_samples} perturbations of {components.width} components "
                    f"do not fit in memory; lower n_samples"
                ) from error
            y, targets[rows] = self._query(
                blackbox, X, fill, components, masks, rows, target, row_name
            )
            scores[rows], info = self._fit_by_count(counts, sizes, masks, y, valid[rows], keys)
            infos.append(info)
        info = {key: np.concatenate([i[key] for i in infos]) for key in infos[0]}
        return components.spread(scores), targets, info

    def _fit_by_count(
        self,
        counts: np.ndarray,
        sizes: np.ndarray,
        masks: Masks,
        y: np.ndarray,
        valid: np.ndarray,
        keys: Keys,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The kernel and the fit, on the rows of each number of components apart.

        Each group's problem is the one its rows have alone: their own width and
        samples. Padded to a wider row's width, a row's solve was factorised at another
        size and its jitter scaled by another width, which moved its values by about
        1e-13 with the other rows of the batch. Rows of one width (pixels, a grid, one
        segmentation for all) stay one batched fit.

        Parameters
        ----------
        counts : ndarray of shape (r,), int
        sizes : ndarray of shape (r,), int
            Each row's number of samples drawn, from :func:`row_masks`.
        masks : ndarray of shape (r, S, M), bool
            From :func:`row_masks`.
        y : ndarray of shape (r, S)
        valid : ndarray of shape (r, M), bool
        keys : list of list of int
            Each row's seed words.
        """
        if np.all(counts == valid.shape[1]):
            return self.fit(masks, y, self.kernel(masks, valid), valid, keys)
        scores = np.zeros(valid.shape)
        info: dict[str, np.ndarray] = {}
        for c in np.unique(counts):
            group = np.flatnonzero(counts == c)
            s = int(sizes[group[0]])  # a sampler's number of samples is one per count
            own = masks[group, :s, :c]
            ones = np.ones((group.size, c), dtype=bool)
            own_keys = [keys[i] for i in group]
            found = self.fit(own, y[group, :s], self.kernel(own, ones), ones, own_keys)
            scores[group, :c], part = found
            for key, value in part.items():
                info.setdefault(key, np.empty(len(counts), dtype=value.dtype))[group] = value
        return scores, info

    @staticmethod
    def _query(blackbox, X, fill, components, masks, rows, target, row_name=None):
        """The black box's probability of the explained class for every sample, (r, S);
        ``row_name`` names the rows in a message about one (:meth:`run`)."""
        r, s = masks.shape[:2]
        proba = np.empty((r, s, blackbox.n_classes))
        step = max(1, QUERY_ROWS // s)
        for first in range(0, r, step):
            block = slice(rows.start + first, min(rows.start + first + step, rows.stop))
            fill_rows = fill[block] if fill.shape[0] > 1 else fill
            perturbed = components.perturb(masks[first : first + step], block, X[block], fill_rows)
            answers = blackbox._proba_rows(
                perturbed.reshape(-1, perturbed.shape[-1]),
                perturbation_name(block.start, s, row_name=row_name),
            )
            proba[first : first + step] = answers.reshape(-1, s, blackbox.n_classes)
        classes = proba[:, 0].argmax(axis=1) if target is None else target[rows]
        return np.take_along_axis(proba, classes[:, None, None], axis=2)[..., 0], classes


# ---------------------------------------------------------------- samplers
def call_seed(random_state: RandomState) -> int:
    """The seed of one call: an int as it is, else one drawn from the generator (or from
    fresh entropy for None). Every row of the call starts from it (:func:`row_seed`),
    so a Generator is drawn from once per call, whatever the number of rows; an
    explanation records it in ``meta["seed"]``, so that call can be made again."""
    rng = check_random_state(random_state)  # refuses a bool, a negative int, a float
    seed = as_seed(random_state)  # np.asarray(3) is the seed 3, not a source of one
    if isinstance(seed, numbers.Integral):
        return int(seed)
    return int(rng.integers(2**63))


def row_seed(seed: int, x: np.ndarray, labels: np.ndarray | None = None) -> list[int]:
    """The seed words of one row's generator: ``[seed, *digest]``.

    ``digest`` is :data:`DIGEST_WORDS` 32-bit words of a BLAKE2b hash of the row's
    content: its shape and its values as little-endian float64 bytes (-0.0 as 0.0),
    and, where given, its components' labels as little-endian int64. So the same row
    (same values, same segments) gets the same draws alone or at any place in any batch,
    on any platform, and two different rows get independent draws. (From the seed
    alone, every row with as many components drew the same masks, and their sampling
    errors added up instead of averaging out over the rows.)
    ``np.random.default_rng(row_seed(...))`` is the row's generator; a further word
    appended gives a stream of its own (e.g. a chain's).

    Parameters
    ----------
    seed : int
        The call's seed (:func:`call_seed`).
    x : ndarray
        The row's values.
    labels : ndarray of int, optional
        Its components, one label per value.

    Returns
    -------
    list of int
        ``1 + DIGEST_WORDS`` non-negative ints.
    """
    digest = hashlib.blake2b(digest_size=4 * DIGEST_WORDS)
    # + 0.0 turns -0.0 into 0.0: equal values, which the black box answers alike, whose
    # bytes differ.
    values = np.ascontiguousarray(np.asarray(x, dtype=np.float64) + 0.0, dtype="<f8")
    digest.update(np.asarray(values.shape, dtype="<i8").tobytes())
    digest.update(values.tobytes())
    if labels is not None:
        ids = np.ascontiguousarray(labels, dtype="<i8")
        digest.update(b"labels")
        digest.update(np.asarray(ids.shape, dtype="<i8").tobytes())
        digest.update(ids.tobytes())
    return [int(seed), *np.frombuffer(digest.digest(), dtype="<u4").tolist()]


def row_masks(
    sampler: Sampler, counts: np.ndarray, n_samples: int, keys: Keys, width: int
) -> tuple[Masks, np.ndarray]:
    """``sampler``'s masks for each row, drawn alone from the row's own generator.

    A row's masks are those ``sampler`` draws for that row alone with
    ``np.random.default_rng(key)``, ``key`` its :func:`row_seed`: a function of the
    seed, of the row's content and of its number of components, not of its place in
    the batch nor of the other rows. (Drawn for all rows from one generator, a row got
    the masks of its place, and padded to the widest row's width even the first row's
    changed with the others.)

    Parameters
    ----------
    sampler : callable (valid (r, M) bool, n_samples, rng) -> masks (r, S, M) bool
    counts : ndarray of shape (r,), int
        Each row's number of components.
    n_samples : int
    keys : list of list of int
        Each row's seed words.
    width : int
        The padded number of components.

    Returns
    -------
    masks : ndarray of shape (r, S, width), bool
        Each row's masks, padded with components switched off and, to the largest
        number of samples, with copies of its sample 0 (the instance: a sampler such
        as :func:`one_off_masks` draws fewer for fewer components).
    sizes : ndarray of shape (r,), int
        The number of samples drawn for each row.
    """
    # Each row's masks go into the padded array as they are drawn: held in a list
    # first, a chunk's masks were in memory twice (about 50 MB at 784 pixels). Rows of
    # more components first, as a sampler draws more samples for more (occlusion) or
    # as many (a fixed budget): the array is then made once, at the first row. (Each
    # row draws from its own generator, so the order changes no draw.)
    counts = np.asarray(counts, dtype=np.int64)
    if counts.shape != (len(keys),):
        raise ValueError(f"{len(keys)} keys for counts of shape {counts.shape}")
    order = np.argsort(-counts, kind="stable")
    sizes = np.zeros(len(keys), dtype=np.int64)
    masks = np.zeros((len(keys), 0, width), dtype=bool)
    for k, row in enumerate(order):
        key = keys[row]
        own = sampler(
            np.ones((1, int(counts[row])), dtype=bool), n_samples, np.random.default_rng(key)
        )[0]
        sizes[row] = own.shape[0]
        if own.shape[0] > masks.shape[1]:
            # A sampler that draws more samples for fewer components: the rows drawn
            # so far are padded to the new size with their sample 0 (all of it,
            # padded components included).
            wider = np.zeros((len(keys), own.shape[0], width), dtype=bool)
            if k:
                done = order[:k]
                wider[done, : masks.shape[1]] = masks[done]
                wider[done, masks.shape[1] :] = masks[done, :1]
            masks = wider
        masks[row, : own.shape[0], : own.shape[1]] = own
        masks[row, own.shape[0] :, : own.shape[1]] = own[0]
    return masks, sizes


def bernoulli_masks(valid: np.ndarray, n_samples: int, rng: np.random.Generator) -> Masks:
    """LIME's sampler: each component on with probability 1/2; sample 0 is all on."""
    r, m = valid.shape
    # One random byte gives eight fair coins: four times faster than a float per mask.
    packed = rng.integers(0, 256, size=(r, n_samples, -(-m // 8)), dtype=np.uint8)
    masks = np.unpackbits(packed, axis=2, count=m).view(bool)
    masks[:, 0] = True
    return masks & valid[:, None, :]


def enumerable(valid: np.ndarray, n_samples: int) -> np.ndarray:
    """Rows whose every coalition fits the budget: ``2^m - 2 <= n_samples - 2``, shape (r,)."""
    return _all_fit(valid.sum(axis=1), n_samples)


def _all_fit(counts: np.ndarray, n_samples: int) -> np.ndarray:
    """:func:`enumerable` of rows of ``counts`` components."""
    return (counts < 62) & (2.0 ** np.minimum(counts, 62) <= n_samples)


def listed_sizes(counts: np.ndarray, n_samples: int) -> np.ndarray:
    """How many coalition sizes :func:`shapley_masks` lists in full, per row, shape (r,).

    ``k``: the coalitions of sizes ``1..k`` and ``m-k..m-1`` are all listed, and at least
    one coalition is left to draw. Sizes 1 and ``m - 1`` are listed where they fit:
    without them a small budget leaves some components never seen alone nor left out
    alone, whose values the draws then barely determine. A further size is listed, as
    the ``shap`` package does, where the budget left, shared among the sizes left by
    their kernel weight, gives it at least as many draws as it has coalitions. (Listing
    a size while it merely fits spent 870 of 1022 samples on sizes 2 and 28 of 30
    features, leaving 92 draws for 60% of the weight: the relative error of breast-
    cancer's random forest rose from 0.044 to 0.122.) ``m // 2`` for an
    :func:`enumerable` row (all of them).

    Each row's value is the one it has alone (:func:`_listed_size`, cached).
    """
    counts = np.asarray(counts, dtype=np.int64)
    return np.fromiter(
        (_listed_size(c, int(n_samples)) for c in counts.ravel().tolist()),
        dtype=np.int64,
        count=counts.size,
    ).reshape(counts.shape)


@functools.lru_cache(maxsize=256)
def _listed_size(count: int, n_samples: int) -> int:
    """:func:`listed_sizes` of one row of ``count`` components.

    Cached: computed afresh, it cost about 100 us a row, the largest fixed cost of
    a row's masks (each row draws alone, :func:`row_masks`), while the rows of a
    call share their budget and mostly their count.
    """
    m = count
    if _all_fit(np.asarray(m), n_samples):
        return m // 2
    s = np.arange(1, m // 2 + 1)
    # Sizes s and m - s: 2 C(m, s) coalitions, C(m, s) where they coincide.
    twice = np.where(2 * s == m, 1.0, 2.0)
    kernel = twice * (m - 1) / (s * (m - s))
    weight_left = kernel.sum() - (np.cumsum(kernel) - kernel)
    # Past about 1,020 components a size's count overflows to inf (it never fits), and
    # inf - inf is NaN (no size fits either).
    with np.errstate(over="ignore", invalid="ignore"):
        number = twice * special.comb(m, s)
        budget_left = n_samples - 2 - (np.cumsum(number) - number)
    share = budget_left * kernel / weight_left
    fits = number < budget_left
    lists = fits & ((s == 1) | (share >= number * (1 - 1e-8)))
    return int(np.cumprod(lists).sum())


def shapley_masks(valid: np.ndarray, n_samples: int, rng: np.random.Generator) -> Masks:
    """KernelSHAP's sampler: the smallest and largest coalitions listed, the rest drawn.

    Sample 0 is all on and sample 1 all off (their kernel weight is infinite; the fit
    turns them into constraints). The budget goes first to whole sizes, whose
    coalitions weigh the most each: every coalition of size 1 and its complement (size
    ``m - 1``), then of sizes 2 and ``m - 2``, and so on, as :func:`listed_sizes`
    decides (as the ``shap`` package does, but for sizes 1 and ``m - 1``, listed
    wherever they fit). The rest come in
    complementary pairs, which halves the variance, drawn from the other sizes: a size
    ``s`` with probability proportional to ``1 / (s (m - s))`` (the total kernel weight
    of all coalitions of that size), then a uniformly random coalition of that size,
    then its complement; a pair already drawn is drawn again (:func:`_distinct_pairs`),
    so no model evaluation is spent twice on one coalition. :func:`shapley_kernel`
    gives their weights.

    A row with so few components that every coalition fits the budget gets all of them
    once, and its spare samples are all on, with weight 0.
    """
    counts = valid.sum(axis=1)
    listed = listed_sizes(counts, n_samples)
    masks = _sampled_coalitions(valid, n_samples, rng, listed)
    full = _all_fit(counts, n_samples)  # enumerable
    for row in np.flatnonzero(full):
        masks[row, 2:] = valid[row]
        on = np.flatnonzero(valid[row])
        codes = np.arange(1, 2**on.size - 1)[:, None]  # every coalition but none and all
        block = masks[row, 2 : 2 + codes.shape[0]]  # a view
        block[:, on] = (codes >> np.arange(on.size)) & 1 == 1
    for row in np.flatnonzero((listed > 0) & ~full):
        on = np.flatnonzero(valid[row])
        coalitions = _small_coalitions(on.size, int(listed[row]))
        # The draws move behind the listed coalitions; the last ones are dropped.
        masks[row, 2 + len(coalitions) :] = masks[row, 2 : n_samples - len(coalitions)]
        block = masks[row, 2 : 2 + len(coalitions)]  # a view
        block[:, on] = coalitions
    return masks


@functools.lru_cache(maxsize=8)
def _small_coalitions(m: int, k: int) -> np.ndarray:
    """Every coalition of ``m`` components of sizes ``1..k``, each followed by its
    complement (sizes ``m-1..m-k``), shape ``(2 sum_s C(m, s), m)``, bool; ``2k < m``.

    Read-only and cached: the rows of a batch mostly share ``m`` and ``k``, and
    building it cost about a tenth of a row's masks (37 components at 1000 samples).
    """
    blocks = []
    for size in range(1, k + 1):
        members = np.array(list(itertools.combinations(range(m), size)))
        coalitions = np.zeros((len(members), m), dtype=bool)
        np.put_along_axis(coalitions, members, True, axis=1)
        blocks.append(np.stack([coalitions, ~coalitions], axis=1).reshape(-1, m))
    listed = np.concatenate(blocks)
    listed.flags.writeable = False
    return listed


def _sampled_coalitions(
    valid: np.ndarray, n_samples: int, rng: np.random.Generator, listed: np.ndarray
) -> Masks:
    """:func:`shapley_masks`'s coalitions drawn from the kernel over the sizes
    ``listed + 1 .. m - listed - 1`` of each row, no pair drawn twice
    (:func:`_distinct_pairs`)."""
    r, m = valid.shape
    counts = valid.sum(axis=1)
    # An odd budget's last sample is the first coalition of one more pair. (It was the
    # first pair's again: one evaluation spent on a coalition already weighed.)
    half = (n_samples - 1) // 2
    cdf = np.empty((r, m + 1))
    for i, (count, k) in enumerate(zip(counts.tolist(), listed.tolist(), strict=True)):
        cdf[i] = _size_cdf(count, k, m)
    drawing = cdf[:, -1] > 0  # the rows with sizes left to draw
    draws = rng.random((r, half))
    size = np.zeros((r, half), dtype=np.intp)
    for row in np.flatnonzero(drawing):
        # The sizes whose cdf is at most the draw (the cdf never decreases): a draw in
        # [cdf[s - 1], cdf[s]) is size s. Counting those below it only, a draw of 0 was
        # size 0, the empty coalition (and the full one its pair).
        size[row] = np.searchsorted(cdf[row], draws[row], side="right")
    keys = rng.random((r, half, m))
    if not valid.all():
        keys[~np.broadcast_to(valid[:, None, :], keys.shape)] = 2.0  # padding sorts last
    coalition = _smallest(keys, size)
    for row in np.flatnonzero(drawing & ~_all_fit(counts, n_samples)):
        on = np.flatnonzero(valid[row])
        # Only the pairs that the listed coalitions leave room for are kept.
        kept = n_samples - 2 - 2 * sum(math.comb(on.size, s) for s in range(1, listed[row] + 1))
        block = coalition[row, : (kept + 1) // 2]  # a view
        # Components 0..c-1 (a row alone, or padded at the end): a view, not a copy.
        cols = slice(0, on.size) if on[-1] == on.size - 1 else on
        block[:, cols] = _distinct_pairs(block[:, cols], int(listed[row]), rng)
    pairs = np.stack([coalition, ~coalition & valid[:, None, :]], axis=2).reshape(r, 2 * half, m)
    masks = np.zeros((r, n_samples, m), dtype=bool)
    masks[:, 0] = valid
    masks[:, 2:] = pairs[:, : n_samples - 2]
    return masks


@functools.lru_cache(maxsize=256)
def _size_cdf(count: int, listed: int, width: int) -> np.ndarray:
    """The cumulative distribution of the sizes :func:`_sampled_coalitions` draws for
    a row of ``count`` components padded to ``width``, shape (width + 1,), read-only:
    the kernel's ``1 / (s (m - s))`` over ``listed + 1 .. m - listed - 1``, all 0 where
    no size is left.

    Cached: computed for each row it cost about a tenth of a row's masks (37
    components at 1000 samples), and rows draw alone (:func:`row_masks`). Each row
    of a batch had its own sum and cumulative sum, as here.
    """
    sizes = np.arange(width + 1)
    inner = (sizes > listed) & (sizes < count - listed)
    with np.errstate(divide="ignore"):
        weight = np.where(inner, 1.0 / (sizes * np.maximum(count - sizes, 1)), 0.0)
    total = weight.sum()
    cdf = np.cumsum(weight) / (total if total > 0 else 1.0)
    if total > 0:
        # Exactly 1 from the last size drawable on: the cumulative sum rounds apart from
        # the sum (1 - 3.3e-16 at 11 components, 1 listed), and a draw above it counted
        # every size, width + 1, out of range.
        cdf[count - listed - 1 :] = 1.0
    cdf.flags.writeable = False
    return cdf


def _smallest(keys: np.ndarray, size: np.ndarray) -> np.ndarray:
    """The coalitions of the ``size`` (...,) smallest ``keys`` (..., m) each."""
    # Every key up to the size-th smallest (float64 keys tie with negligible
    # probability). Half the cost of an argsort. (Indexed directly: take_along_axis
    # cost more than the sort on a redraw's few rows.)
    ordered = np.sort(keys, axis=-1).reshape(-1, keys.shape[-1])
    cut = ordered[np.arange(len(ordered)), np.maximum(size, 1).ravel() - 1]
    return (keys <= cut.reshape(size.shape)[..., None]) & (size[..., None] > 0)


def _distinct_pairs(first: np.ndarray, listed: int, rng: np.random.Generator) -> np.ndarray:
    """One row's drawn pairs (the first coalition of each, shape (k, m) over its ``m``
    components), each pair that repeats an earlier one drawn again, at its size.

    A repeated pair cost model evaluations and added nothing the fit had not seen
    (``shap``'s KernelExplainer draws on instead, adding the repeat's weight to the
    first copy): on 13 features at 256 evaluations about 15 of 254 samples were
    repeats, and breast-cancer's relative error was 0.056 against ``shap``'s 0.050
    (``benchmarks/results/kernelshap_accuracy.md``). Drawn again at its own size, each
    size ``s`` (with ``m - s``) keeps the number of pairs it drew, ``n_s``, and its
    ``n_s`` distinct pairs are a uniform draw without replacement: a coalition is in
    with probability ``n_s / N_s``, ``N_s`` the pairs of that size, as the kernel's
    draws with replacement hold it on average, so :func:`shapley_kernel`'s equal
    weights per draw still give unbiased sums. A size that drew more pairs than it has
    is then complete (:func:`shapley_kernel` weighs it exactly), and its surplus goes
    to the sizes left, by the kernel. A size nearly complete (:data:`NEARLY_FULL`)
    gets its missing pairs picked among those not drawn yet, uniformly without
    replacement (:func:`_missing_pairs`), which is what drawing again until new gives.
    """
    k, m = first.shape
    keys = _pair_keys(first)
    again = _repeats(keys)
    if not again.any():  # most rows of a small budget
        return first
    first, size = first.copy(), np.count_nonzero(first, axis=1)
    first_at: dict = {}  # each key's first place, from the second round (_repeats_among)
    half = np.arange(m // 2 + 1)  # a pair's smaller size
    capacity = _capacity(m)
    drawable = (half > listed) & (half > 0)
    if k * NEARLY_FULL <= (NEARLY_FULL - 1) * capacity[drawable].min():
        # No size can fill up, nor nearly (37 components at 1000 samples: 463 pairs,
        # 666 of the fewest): repeats are only drawn again, with less bookkeeping.
        while again.any():
            first[again] = _smallest(rng.random((int(again.sum()), m)), size[again])
            keys[again] = _pair_keys(first[again])
            again = _repeats_among(keys, again, first_at)
        return first
    while True:
        repeated = again.copy()
        pair_size = np.minimum(size, m - size)
        have = np.bincount(pair_size[~again], minlength=half.size)
        full = have >= capacity
        move = again & full[pair_size]
        if move.any():
            sizes = np.arange(1, m)
            with np.errstate(divide="ignore"):
                weight = np.where(
                    drawable[np.minimum(sizes, m - sizes)] & ~full[np.minimum(sizes, m - sizes)],
                    1.0 / (sizes * (m - sizes)),
                    0.0,
                )
            size[move] = rng.choice(sizes, size=int(move.sum()), p=weight / weight.sum())
            pair_size = np.minimum(size, m - size)
        # Drawing again until new takes about capacity / missing rounds: thousands for
        # the last pairs of a size near a full budget (33 s for one row of 15
        # components at 32,767 samples), each over all the pairs.
        nearly = ~full & (capacity > NEARLY_FULL * (capacity - have))
        for t in np.flatnonzero(nearly & (np.bincount(pair_size[again], minlength=half.size) > 0)):
            slots = np.flatnonzero(again & (pair_size == t))
            picked = _missing_pairs(m, int(t), keys[~again & (pair_size == t)], slots.size, rng)
            # Surplus slots keep their repeat, to move next round (the size is full).
            slots = slots[: len(picked)]
            # Each slot keeps its size: the pair's member of that size comes first. At
            # m / 2 both members have it, and either comes first, as a draw of that
            # size holds component 0 half the time (an odd budget keeps only the last
            # pair's first member).
            if 2 * t == m:
                flip = rng.random(len(picked)) < 0.5
            else:
                flip = picked.sum(axis=1) != size[slots]
            first[slots] = picked ^ flip[:, None]
            keys[slots] = _pair_keys(first[slots])
            again[pair_size == t] = False
        if again.any():
            first[again] = _smallest(rng.random((int(again.sum()), m)), size[again])
            keys[again] = _pair_keys(first[again])
        again = _repeats_among(keys, repeated, first_at)
        if not again.any():
            return first


@functools.lru_cache(maxsize=64)
def _capacity(m: int) -> np.ndarray:
    """The number of complementary pairs of each smaller size ``0..m // 2`` of ``m``
    components, shape (m // 2 + 1,), float, read-only (cached: scipy's comb cost a few
    percent of a row's masks)."""
    half = np.arange(m // 2 + 1)
    capacity = special.comb(m, half) / np.where(2 * half == m, 2, 1)
    capacity.flags.writeable = False
    return capacity


#: A size is nearly full once a random draw of it finds a pair not drawn yet less
#: than once in NEARLY_FULL (:func:`_distinct_pairs`): its missing pairs are then
#: picked directly. Sizes of at most 256 pairs never are: drawing their last pairs
#: again costs a few hundred rounds at most, and the draws of 3 to 60 components at
#: budgets up to 1024 stay as they were. (At 2, "a repeat more likely than a new
#: pair", 10 components at 256 samples drew differently, whose sizes 2 and 8 have 45
#: pairs and draw about 43; at 64, 11 and 17 components at 1000.)
NEARLY_FULL = 256


def _pair_keys(first: np.ndarray) -> np.ndarray:
    """One key per pair, shape (k,): its coalition without component 0, packed.

    Eight bytes or fewer (``m <= 64``) make one integer, which sorts several times
    faster than the bytes as one opaque value.
    """
    k, m = first.shape
    if m <= 64:
        bits = np.zeros((k, 64), dtype=bool)
        np.not_equal(first, first[:, :1], out=bits[:, :m])
        return np.packbits(bits, axis=1).view("<u8").ravel()
    packed = np.packbits(first ^ first[:, :1], axis=1)
    return packed.view(np.dtype((np.void, packed.shape[1]))).ravel()


def _repeats(keys: np.ndarray) -> np.ndarray:
    """Whether each of ``keys`` (k,) repeats an earlier one, shape (k,), bool."""
    # A stable sort puts each key's first place first among its copies.
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    again = np.zeros(len(keys), dtype=bool)
    again[order[1:][ordered[1:] == ordered[:-1]]] = True
    return again


def _repeats_among(keys: np.ndarray, again: np.ndarray, first_at: dict) -> np.ndarray:
    """:func:`_repeats` of ``keys`` (k,) once some of the places that repeated,
    ``again`` (k,), bool, were written, and only those; ``first_at`` maps each key to
    its first place before, and is brought up to date (empty: not known yet).

    A place written repeated an earlier key, whose first place keeps it: only the
    places ``again`` marks can change, each of them a repeat of a key's earlier place
    or the new first place of its key, whose old first place then repeats it. So a
    round costs its repeats, not a sort of all the keys: sorting them each round cost
    about half of a row near a full budget, over its hundreds of rounds (15 components
    at 32,767 samples). The first round sorts, as most rows need no other.
    """
    if not first_at:
        again = _repeats(keys)
        if again.any():
            firsts = np.flatnonzero(~again)
            first_at.update(zip(keys[firsts].tolist(), firsts.tolist(), strict=True))
        return again
    again = again.copy()
    places = np.flatnonzero(again)
    for place, key in zip(places.tolist(), keys[places].tolist(), strict=True):
        earlier = first_at.setdefault(key, place)
        again[place] = earlier < place
        if earlier > place:
            first_at[key] = place
            again[earlier] = True
    return again


def _missing_pairs(
    m: int, t: int, taken: np.ndarray, count: int, rng: np.random.Generator
) -> np.ndarray:
    """Up to ``count`` pairs of sizes ``t`` and ``m - t`` whose keys are not in ``taken``
    (:func:`_pair_keys`), uniformly without replacement, each as its member without
    component 0, shape (j, m), ``j = min(count, missing)``.

    Called for a nearly full size only, so its pairs number at most about the row's
    draws.
    """
    reps, keys = _size_pairs(m, t)
    missing = np.flatnonzero(~np.isin(keys, taken))
    return reps[rng.choice(missing, size=min(count, missing.size), replace=False)]


@functools.lru_cache(maxsize=16)
def _size_pairs(m: int, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of sizes ``t`` and ``m - t`` as its member without component 0, shape
    (C, m), bool, and its key (:func:`_pair_keys`), shape (C,).

    Read-only and cached: :func:`_missing_pairs` needs them in each round that a nearly
    full size still repeats a pair, and building them cost more than the rest of the
    round (6,435 pairs at 15 components: milliseconds).
    """
    # Every coalition of size t, each replaced by its complement where it holds 0 (at
    # t = m / 2, those of the other components alone, as both members have size t).
    members = np.array(list(itertools.combinations(range(1 if 2 * t == m else 0, m), t)))
    reps = np.zeros((len(members), m), dtype=bool)
    np.put_along_axis(reps, members, True, axis=1)
    reps ^= reps[:, :1]
    keys = _pair_keys(reps)
    reps.flags.writeable = keys.flags.writeable = False
    return reps, keys


def one_off_masks(valid: np.ndarray, n_samples: int, rng: np.random.Generator) -> Masks:
    """Occlusion's sampler: sample 0 is all on, sample ``j + 1`` switches off component ``j``.

    It is deterministic; ``n_samples`` and ``rng`` are ignored (there are
    ``n_components + 1`` samples).
    """
    r, m = valid.shape
    masks = ~np.eye(m + 1, m, k=-1, dtype=bool)
    return np.broadcast_to(masks, (r, m + 1, m)) & valid[:, None, :]


# ---------------------------------------------------------------- kernels
def exponential_kernel(width: float) -> Kernel:
    """LIME's kernel ``sqrt(exp(-d^2 / width^2))`` on the cosine distance ``d`` between a
    mask and the all-on mask (as ``lime.lime_image`` does, default width 0.25)."""

    def kernel(masks: Masks, valid: np.ndarray) -> np.ndarray:
        on = masks.sum(axis=2)
        m = np.maximum(valid.sum(axis=1, keepdims=True), 1)
        distance = 1.0 - np.sqrt(on / m)  # cosine distance between binary z and 1
        # (d / width)^2, not d^2 / width^2: a width under 1e-154 squares to 0, and the
        # instance itself (d = 0) then got the weight 0 / 0 = NaN. Its overflow to inf
        # is a weight of exactly 0.
        with np.errstate(over="ignore"):
            return np.exp(-0.5 * (distance / width) ** 2)

    return kernel


def uniform_kernel(masks: Masks, valid: np.ndarray) -> np.ndarray:
    """Equal weights: the samples are already drawn from the kernel (KernelSHAP)."""
    return np.ones(masks.shape[:2])


def shapley_kernel(masks: Masks, valid: np.ndarray) -> np.ndarray:
    """KernelSHAP's weights for :func:`shapley_masks`, shape (r, S).

    The Shapley values minimise ``L(phi) = sum_S k(S) (v(S) - v(0) - z_S . phi)^2``
    over the proper coalitions ``S`` (with efficiency), where
    ``k(S) = (m - 1) / (C(m, s) s (m - s))`` for ``|S| = s``. A listed coalition
    (:func:`listed_sizes`) enters with its own ``k(S)``. The others are drawn with
    probability ``k(S) / K_R``, ``K_R`` their total kernel weight, so each of the
    ``n_d`` draws weighs ``K_R / n_d``: then the weighted sums of the fit, its
    ``Z' W Z`` and ``Z' W y``, are unbiased for those of ``L`` (a complement is
    drawn as often as its coalition, the kernel being symmetric in ``s`` and
    ``m - s``), and the fit estimates the same Shapley values. Drawn without repeats
    (:func:`_distinct_pairs`), every pair of a size ``s`` and ``m - s`` may end up
    drawn: those coalitions then enter with their own ``k(S)``, as if listed, and the
    other draws share the rest. Such a row's weights are
    scaled to sum to its ``n_samples - 2`` coalitions: a row with no size listed keeps
    weight 1 on every sample, as its draws follow the kernel already. An
    :func:`enumerable` row keeps ``k(S)`` as it is, and 0 on its spare all-on samples.
    Samples 0 and 1 (all on, all off) are the fit's constraints.
    """
    n_samples = masks.shape[1]
    counts = valid.sum(axis=1)
    listed = listed_sizes(counts, n_samples)
    weights = np.ones(masks.shape[:2])
    rows = np.flatnonzero((listed > 0) | _all_fit(counts, n_samples))
    if rows.size == 0:
        return weights
    m, k = counts[rows, None], listed[rows, None]
    size = masks[rows].sum(axis=2)
    inner = (size > 0) & (size < m)
    in_list = inner & ((size <= k) | (size >= m - k))
    drawn = inner & ~in_list
    # Read at listed sizes only: elsewhere 0 / 0 (sizes 0 and m) or, past what a budget
    # could list, comb's overflow to inf.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        exact = (m - 1) / (special.comb(m, size) * size * (m - size))
    s = np.arange(1, int(m.max()))
    kernel = np.where(s < m, (m - 1) / (s * np.maximum(m - s, 1)), 0.0)  # per size
    total = kernel.sum(axis=1, keepdims=True)
    rest = np.where((s > k) & (s < m - k), kernel, 0.0).sum(axis=1, keepdims=True)
    # A size whose every coalition was drawn (each once: the sampler repeats none).
    half = np.minimum(size, m - size)
    t = np.arange(int(m.max()) // 2 + 1)
    drawn_of = ((half[..., None] == t) & drawn[..., None]).sum(axis=1)  # (rows, sizes)
    with np.errstate(over="ignore"):
        capacity = 2 * special.comb(m, t) / np.where(2 * t == m, 2, 1)
    complete = drawn & np.take_along_axis(drawn_of >= capacity, half, axis=1)
    rest = rest - np.where(complete, exact, 0.0).sum(axis=1, keepdims=True)
    per_draw = rest / np.maximum((drawn & ~complete).sum(axis=1, keepdims=True), 1)
    own = np.where(in_list | complete, exact, np.where(drawn, per_draw, 0.0))
    full = _all_fit(counts[rows], n_samples)[:, None]
    weights[rows] = np.where(full, own, own * (n_samples - 2) / np.where(full, 1.0, total))
    return weights


# ---------------------------------------------------------------- fits
def _gram(Z, y, w):
    """Batched weighted normal equations: ``Z' W Z`` (r, M, M) and ``Z' W y`` (r, M).

    On torch, not numpy: its threads share the cores with the black box's, where
    OpenBLAS's threads fought them and made this step 10x slower than alone.
    """
    import torch

    Zt = torch.from_numpy(Z)
    # KernelSHAP's samples carry equal weights; then scaling the products is cheaper
    # than weighting every sample.
    equal = bool(np.all(w == w[:, :1]))
    Zw = Zt if equal else Zt * torch.from_numpy(w)[..., None]
    gram = torch.bmm(Zw.transpose(1, 2), Zt).numpy()
    # By einsum, which adds each row's terms in one order: torch's matrix-vector
    # product splits the sum over the samples between its threads otherwise for one
    # row than for a batch, so a row's explanation changed in its last bits with the
    # rows beside it. (As fast: 50 ms against bmm's 125 on 32 x 1000 x 784.)
    rhs = np.einsum("rsm,rs->rm", Zw.numpy(), y)
    if equal:
        gram, rhs = gram * w[:, :1, None], rhs * w[:, :1]
    return gram, rhs


class Moments(NamedTuple):
    """Weighted sums over each row's samples: all that a linear least-squares fit of
    ``y`` on ``Z`` reads from them. Sums over disjoint sets of samples add, so those of
    a cross-validation fold's training samples are those of all samples minus those
    of the held-out ones (:func:`cross_validated_r2`).

    Attributes
    ----------
    gram : ndarray of shape (r, M, M)
        ``Z' W Z``.
    rhs : ndarray of shape (r, M)
        ``Z' W (y - shift)``.
    z_sum : ndarray of shape (r, M)
        ``Z' w``.
    y_sum : ndarray of shape (r,)
        ``w' (y - shift)``.
    sw : ndarray of shape (r,)
        ``sum w``.
    shift : ndarray of shape (r,)
        The offset taken off ``y``: its weighted mean, or a fixed intercept.
    """

    gram: np.ndarray
    rhs: np.ndarray
    z_sum: np.ndarray
    y_sum: np.ndarray
    sw: np.ndarray
    shift: np.ndarray

    def __sub__(self, other: object) -> Moments:
        """The sums over the samples of ``self`` that are not in ``other`` (same shift)."""
        if not isinstance(other, Moments):
            return NotImplemented
        return Moments(
            self.gram - other.gram,
            self.rhs - other.rhs,
            self.z_sum - other.z_sum,
            self.y_sum - other.y_sum,
            self.sw - other.sw,
            self.shift,
        )

    def put(self, rows: np.ndarray, part: Moments) -> Moments:
        """These sums with those of ``part`` in the rows where ``rows`` (r,) is True
        (``part`` holds those rows alone, or all ``r``)."""
        if not rows.any():
            return self
        sums = [a.copy() for a in self]
        for a, b in zip(sums, part, strict=True):
            a[rows] = b if len(b) == rows.sum() else b[rows]
        return Moments(*sums)


def weighted_moments(
    Z: np.ndarray, y: np.ndarray, w: np.ndarray, shift: np.ndarray | None = None
) -> Moments:
    """The :class:`Moments` of each row's samples: one batched product ``Z' W Z``.

    Parameters
    ----------
    Z : ndarray of shape (r, S, M), float
    y, w : ndarray of shape (r, S)
    shift : ndarray of shape (r,), optional
        The offset to take off ``y``; by default its weighted mean, whose ``y_sum`` is
        then 0 by definition (a fit with an intercept centres on it).
    """
    sw = w.sum(axis=1)
    if shift is None:
        shift = (w * y).sum(axis=1) / sw
        y_sum = np.zeros_like(sw)
    else:
        y_sum = (w * (y - shift[:, None])).sum(axis=1)
    gram, rhs = _gram(Z, y - shift[:, None], w)
    return Moments(gram, rhs, np.einsum("rs,rsm->rm", w, Z), y_sum, sw, shift)


class Centred(NamedTuple):
    """The normal equations of a weighted fit with an intercept, centred on the weighted
    means: gram (r, M, M), rhs (r, M), z_mean (r, M), y_mean (r,), sw (r,)."""

    gram: np.ndarray
    rhs: np.ndarray
    z_mean: np.ndarray
    y_mean: np.ndarray
    sw: np.ndarray


def centred(moments: Moments) -> Centred:
    """The centred normal equations, without a centred copy of ``Z``:
    ``Zc' W Zc = Z' W Z - sw m m'`` for the weighted column means ``m``, and
    ``Zc' W yc = Z' W (y - shift) - c Z' w`` for ``c`` the weighted mean of
    ``y - shift`` (exactly 0 where ``shift`` is the mean itself, so the rhs is taken
    as it is)."""
    gram, rhs, z_sum, y_sum, sw, shift = moments
    z_mean = z_sum / sw[:, None]
    offset = y_sum / sw
    gram = gram - sw[:, None, None] * z_mean[:, :, None] * z_mean[:, None, :]
    return Centred(gram, rhs - offset[:, None] * z_sum, z_mean, shift + offset, sw)


def _restrict(problem: Centred, active: np.ndarray) -> Centred:
    """The normal equations of the columns in ``active`` (r, M) alone: those of ``Z``
    with the other columns set to 0."""
    pair = active[:, :, None] & active[:, None, :]
    return problem._replace(
        gram=np.where(pair, problem.gram, 0.0),
        rhs=np.where(active, problem.rhs, 0.0),
        z_mean=np.where(active, problem.z_mean, 0.0),
    )


def weighted_ridge(
    Z: np.ndarray, y: np.ndarray, w: np.ndarray, active: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """Batched weighted ridge with an unpenalised intercept, as sklearn's ``Ridge``.

    Minimises ``sum_s w_s (y_s - b - z_s . beta)^2 + alpha ||beta||^2`` for each of
    ``r`` problems, with coefficients outside ``active`` held at zero.

    Parameters
    ----------
    Z : ndarray of shape (r, S, M)
    y, w : ndarray of shape (r, S)
    active : ndarray of shape (r, M), bool
    alpha : float

    Returns
    -------
    coef : ndarray of shape (r, M)
    intercept : ndarray of shape (r,)
    """
    Z = np.where(active[:, None, :], Z, 0.0)
    return ridge_solve(centred(weighted_moments(Z, y, w)), active, alpha)[:2]


def ridge_solve(
    problem: Centred, active: np.ndarray, alpha: float, *, probe: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """:func:`weighted_ridge` on its centred normal equations (of any superset of the
    ``active`` columns).

    Returns
    -------
    coef : ndarray of shape (r, M)
    intercept : ndarray of shape (r,)
    firmness : ndarray of shape (r,) or None
        With ``probe``, an estimate of the smallest eigenvalue of the system solved
        (see :func:`_solve`); else None.
    """
    gram, rhs, z_mean, y_mean, sw = _restrict(problem, active)
    m = gram.shape[2]
    # Inactive columns are all zero; a unit diagonal there pins their coefficient to 0.
    # A jitter relative to the scale keeps alpha = 0 solvable when columns coincide.
    # Its floor, relative to the weight, keeps it so where the kernel weighs only the
    # instance: the centred gram and the rhs are then exactly 0, and the coef 0.
    scale = np.maximum(np.trace(gram, axis1=1, axis2=2) / m, 1e-12 * sw)[:, None]
    diag = np.where(active, alpha + 1e-12 * scale, 1.0)
    gram = gram + diag[:, :, None] * np.eye(m)
    coef, firmness = _solve(gram, rhs, active, probe)
    coef = coef * active
    return coef, y_mean - np.einsum("rm,rm->r", z_mean, coef), firmness


def _solve(
    a: np.ndarray, b: np.ndarray, active: np.ndarray, probe: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """The solutions of the systems ``a x = b``, a (r, n, n), b (r, n).

    With ``probe``, also the firmness of each system (r,): ``|p| / |(a^-1 p)[:M]|`` for
    a fixed generic ``p`` on the first ``M`` unknowns where ``active`` (r, M) holds,
    from the same factorisation. It is at least, and for a generic ``p`` near, the
    smallest eigenvalue (in modulus) of ``a`` on those unknowns: an error ``e`` in
    ``a`` may move the solution by about ``e / firmness`` times its size. (The other
    unknowns are pinned by a unit diagonal or are a constraint's multiplier.)
    """
    if not probe:
        return np.linalg.solve(a, b[..., None])[..., 0], None
    m = active.shape[1]
    # Distinct values, so that neither a single unknown nor the difference of two
    # (coinciding columns) is orthogonal to it; scaled as ``a``, so that ``a^-1 p``
    # stays near the condition number, far from overflow, when ``a`` is tiny.
    scale = np.abs(np.diagonal(a, axis1=1, axis2=2)[:, :m]).sum(axis=1, where=active)
    scale = np.where(scale > 0, scale / np.maximum(active.sum(axis=1), 1), 1.0)
    p = np.zeros_like(b)
    p[:, :m] = np.where(active, 1.0 + (np.arange(m) * 0.6180339887498949) % 1.0, 0.0)
    x = np.linalg.solve(a, np.stack([b, p * scale[:, None]], axis=2))
    moved = np.linalg.norm(x[:, :m, 1], axis=1)
    size = np.linalg.norm(p, axis=1) * scale
    return x[..., 0], np.where(moved > 0, size / np.where(moved > 0, moved, 1.0), np.inf)


def weighted_lasso(
    Z: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    active: np.ndarray,
    alpha: float,
    *,
    n_iter: int = 500,
) -> tuple[np.ndarray, np.ndarray]:
    """Batched weighted lasso by FISTA on the normal equations.

    Minimises ``(1 / (2 sum w)) sum_s w_s (y_s - b - z_s . beta)^2 + alpha ||beta||_1``,
    sklearn's ``Lasso`` objective with sample weights, for ``r`` problems at once.

    Parameters and returns as :func:`weighted_ridge`.
    """
    Z = np.where(active[:, None, :], Z, 0.0)
    return lasso_solve(centred(weighted_moments(Z, y, w)), active, alpha, n_iter=n_iter)[:2]


def lasso_solve(
    problem: Centred,
    active: np.ndarray,
    alpha: float,
    *,
    n_iter: int = 500,
    tol: float | None = None,
    probe: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """:func:`weighted_lasso` on its centred normal equations (of any superset of the
    ``active`` columns): coef (r, M), intercept (r,) and, with ``probe``, the largest
    eigenvalue of the centred gram (r,), else None. Its fixed number of steps, each of
    a length set by that eigenvalue, moves the coefficients about as much as an error
    in the gram relative to that eigenvalue, so that is its firmness (see
    :func:`ridge_solve`).

    With ``tol``, a row stops at the first step whose proximal-gradient move from the
    extrapolated point (the gradient mapping times the step, zero exactly at the
    optimum) is at most ``tol`` times its largest coefficient, and keeps those
    coefficients; the loop ends when every row has stopped or after ``n_iter`` steps.
    A row's steps read that row alone, so where it stops does not depend on the others.
    """
    gram, rhs, z_mean, y_mean, sw = _restrict(problem, active)
    gram, rhs = gram / sw[:, None, None], rhs / sw[:, None]
    largest = _largest_eigenvalue(gram)
    step = 1.0 / np.maximum(largest * 1.01, 1e-12)
    coef = np.zeros_like(rhs)
    momentum, t = coef.copy(), 1.0
    stopped = np.zeros(len(coef), dtype=bool)
    for _ in range(n_iter):
        grad = np.einsum("rmk,rk->rm", gram, momentum) - rhs
        moved = momentum - step[:, None] * grad
        new = np.sign(moved) * np.maximum(np.abs(moved) - alpha * step[:, None], 0.0) * active
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        if tol is not None:
            new = np.where(stopped[:, None], coef, new)
            size = np.abs(new).max(axis=1, initial=0.0)
            stopped |= np.abs(new - momentum).max(axis=1, initial=0.0) <= tol * size
        momentum = new + ((t - 1) / t_new) * (new - coef)
        coef, t = new, t_new
        if tol is not None:
            if stopped.all():
                break
            momentum = np.where(stopped[:, None], coef, momentum)
    firmness = largest * sw if probe else None
    return coef, y_mean - np.einsum("rm,rm->r", z_mean, coef), firmness


def _largest_eigenvalue(gram: np.ndarray, n_iter: int = 50) -> np.ndarray:
    """Power iteration on a batch of PSD matrices (r, M, M) -> (r,)."""
    v = np.ones(gram.shape[:2]) / np.sqrt(gram.shape[1])
    for _ in range(n_iter):
        v = np.einsum("rmk,rk->rm", gram, v)
        v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-300)
    return np.einsum("rm,rmk,rk->r", v, gram, v)


def effective_sample_size(w: np.ndarray) -> np.ndarray:
    """Kish's effective number of samples of each row's weights,
    ``(sum_s w_s)^2 / sum_s w_s^2``, shape ``(r,)``.

    Kish, *Survey Sampling* (1965), Sec. 11.7: the number of equally weighted samples
    that would give a weighted mean the same variance. It is ``S`` for ``S`` equal
    weights and 1 where one sample carries all the weight (LIME's instance under a
    kernel so narrow that every perturbed sample weighs next to nothing).

    Parameters
    ----------
    w : ndarray of shape (r, S)
        Non-negative weights.

    Returns
    -------
    ndarray of shape (r,)
        0 for a row whose weights are all 0.
    """
    # Divided by each row's largest weight first: the ratio is the same, and squares
    # of weights near 1e-160 or 1e160 neither underflow nor overflow.
    top = w.max(axis=1, keepdims=True, initial=0.0)
    v = w / np.where(top > 0, top, 1.0)
    total = v.sum(axis=1)
    squares = (v * v).sum(axis=1)
    return np.where(squares > 0, total**2 / np.where(squares > 0, squares, 1.0), 0.0)


def pooled_effective_sample_size(masks: Masks, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kish's effective number of samples of each row's distinct perturbations, and
    how many distinct ones it drew: both shape ``(r,)``.

    Samples that repeat a mask (LIME's instance, all on, and with few components many
    others) are one design point: the black box answers them alike, and a weighted
    least-squares fit to ``k`` copies of a point with weight ``w`` is the fit to the
    point alone with weight ``k w`` (the normal equations hold the same sums). So the
    fit sees the distinct masks, each weighing the sum of its copies' weights, and
    :func:`effective_sample_size` of those pooled weights is the number of equally
    weighted distinct points the fit is worth. Counted apart, ``k`` copies at weight
    1 read as ``k`` samples (Kish's figure assumes independent draws, and copies are
    not): on digits' grid of 4 cells at ``kernel_width=0.005`` (200 samples) the
    instance's 9 to 13 copies read 9 to 13 where the fit sees the instance alone.
    Where no mask repeats the figure is :func:`effective_sample_size`'s.

    Parameters
    ----------
    masks : ndarray of shape (r, S, M), bool
    w : ndarray of shape (r, S)
        Non-negative weights.
    """
    packed = np.packbits(masks, axis=2)  # eight components a byte: fewer to compare
    pooled = np.zeros(w.shape)
    distinct = np.empty(w.shape[0], dtype=np.int64)
    for row in range(w.shape[0]):
        _, point = np.unique(packed[row], axis=0, return_inverse=True)
        sums = np.bincount(point.ravel(), weights=w[row])
        pooled[row, : sums.size] = sums  # the padding's zeros change no sum
        distinct[row] = sums.size
    return effective_sample_size(pooled), distinct


def weighted_r2(
    Z: np.ndarray, y: np.ndarray, w: np.ndarray, coef: np.ndarray, intercept: np.ndarray
) -> np.ndarray:
    """Weighted R^2 of each local fit (LIME's ``score``), shape ``(r,)``; 1 for a
    constant response that is fitted exactly."""
    return _r2_of_residuals(y, y - intercept[:, None] - _products(Z, coef), w)


def _products(Z: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """``Z_r @ coef_r`` for each row, (r, S, M) and (r, M) -> (r, S).

    By einsum, not ``torch.bmm``: that rounds a batch of one otherwise than a larger
    batch (and an array otherwise than its transposed copy), so a row's score changed
    in its last bit with the rows beside it. einsum adds each row's terms in one order.
    """
    return np.einsum("rsm,rm->rs", Z, coef)


def r2_of_predictions(
    y: np.ndarray, predicted: np.ndarray, w: np.ndarray, *, constant: float = 1.0
) -> np.ndarray:
    """Weighted R^2 of each row's predictions, ``1 - sum w (y - predicted)^2 / sum w
    (y - weighted mean)^2``, shape ``(r,)``: the one rule for local fits' R^2 (Lime's
    and KernelSHAP's scores, DMM-MEN's local and global R^2).

    Parameters
    ----------
    y, predicted, w : ndarray of shape (r, S)
        Responses, their predictions and non-negative weights.
    constant : float, default=1.0
        The figure of a row whose responses with weight are all equal (the ratio is
        0 / 0) and whose predictions reproduce them: 1 for a fit that does (an
        in-sample fit of a constant response); NaN where a constant response is to
        have no R^2 (DMM-MEN documents it so). Predictions that miss a constant
        response score 0, as sklearn's ``r2_score`` scores them ("1.0 (perfect
        predictions) or 0.0 (imperfect predictions)" under its default
        ``force_finite=True``): 0.9 for responses all 0.3 read 1 until 6 Dec. Where
        ``constant`` is NaN, NaN wins: a constant response has no R^2, met or missed.
        Unlike sklearn's exact test, predictions within rounding of the response
        (a weighted RMS residual below ``sqrt(eps)`` of its size) reproduce it.

    Returns
    -------
    ndarray of shape (r,)
        NaN for a row whose weights are all 0, or whose weighted total is within
        rounding of 0 while its responses differ (a kernel that leaves one sample all
        but all the weight): the ratio of two rounding errors says nothing.
    """
    return _r2_of_residuals(y, y - predicted, w, constant=constant)


def _r2_of_residuals(
    y: np.ndarray, resid: np.ndarray, w: np.ndarray, *, constant: float = 1.0
) -> np.ndarray:
    """``1 - sum w resid^2 / sum w (y - weighted mean)^2`` per row, shape ``(r,)``;
    for a constant response ``constant`` (1: fitted exactly) where the residuals are
    within rounding of 0 and 0 where they are not (:func:`_constant_r2`), NaN for a row
    whose weights are all 0 (nothing to score: KernelSHAP's row of one component) or
    whose weighted total is within rounding of 0 (the ratio is undefined: a kernel that
    leaves one sample its weight)."""
    # Measured from the first sample, a constant response is exactly 0 and its total
    # exactly 0; around its rounded weighted mean it left ~1e-32, and R^2 came out as
    # the ratio of two rounding errors (-11 for a black box that answers 0.3 always).
    shifted = y - y[:, :1]
    sw = w.sum(axis=1, keepdims=True)
    y_mean = (w * shifted).sum(axis=1, keepdims=True) / np.where(sw > 0, sw, 1.0)
    total = (w * (shifted - y_mean) ** 2).sum(axis=1)
    err = (w * resid**2).sum(axis=1)
    # A weighted variance below (eps * spread)^2 leaves the responses that differ weights
    # below eps^2 of the others': at float resolution the fit saw one response, and the
    # ratio is undefined as for a constant one. Lime's kernel_width=0.005 on digits left
    # totals of ~1e-300 beside the instance's weight of 1, and err / total overflowed
    # (-inf) or gave R^2 = -1e226 held out.
    # The spread is that of the responses with weight: one whose weighted squares
    # underflow to a total of 0 is no constant response.
    spread = np.where(w > 0, shifted, -np.inf).max(axis=1)
    spread -= np.where(w > 0, shifted, np.inf).min(axis=1)
    spread = np.where(sw[:, 0] > 0, spread, 0.0)
    resolution = sw[:, 0] * (np.finfo(float).eps * spread) ** 2
    defined = total > resolution
    r2 = 1.0 - err / np.where(defined, total, 1.0)
    flat = _constant_r2(y, err, w, sw[:, 0], constant)
    r2 = np.where(defined, r2, np.where(spread > 0, np.nan, flat))
    return np.where(sw[:, 0] > 0, r2, np.nan)


#: A constant response's weighted RMS residual, as a share of the response's size, below
#: which its predictions reproduce it. Fits of one carry rounding alone: 2 to 4 eps of
#: 0.3 measured for Lime's ridge (alpha 1 and 0) and lasso on 6 features, 0 for
#: KernelSHAP, and 0 for a response of 0, which the fits measure from their first
#: sample and so meet exactly. sqrt(eps), 1.5e-8, is 10^7 times that, leaves room
#: for the digits a solve loses to conditioning, and is below anything a printed R^2
#: resolves; a miss larger than it is a miss.
REPRODUCED = float(np.sqrt(np.finfo(float).eps))


def _constant_r2(
    y: np.ndarray, err: np.ndarray, w: np.ndarray, sw: np.ndarray, constant: float
) -> np.ndarray:
    """The R^2 of each row as if its responses were constant, shape ``(r,)``:
    ``constant`` where the weighted squared residuals ``err`` are within rounding of 0
    on the scale of the responses (:data:`REPRODUCED`) or ``constant`` is NaN, 0 where
    they miss (sklearn's ``r2_score`` for a constant target)."""
    size = np.where(w > 0, np.abs(y), 0.0).max(axis=1)
    rms = np.sqrt(err / np.where(sw > 0, sw, 1.0))  # not squared sizes: 1e200 overflows
    reproduced = rms <= REPRODUCED * size
    return np.where(reproduced | np.isnan(constant), constant, 0.0)


def fold_labels(n_rows: int, n_samples: int, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Random balanced folds of each row's samples, shape ``(n_rows, n_samples)``, int.

    Row by row a permutation of ``0, 1, ..., n_folds - 1, 0, 1, ...``: the folds' sizes
    differ by at most one. With fewer samples than folds each sample is its own fold.
    """
    labels = np.broadcast_to(np.arange(n_samples) % n_folds, (n_rows, n_samples))
    return rng.permuted(labels, axis=1)


def row_folds(keys: Keys, n_samples: int, n_folds: int) -> np.ndarray:
    """The cross-validation folds of each row, shape ``(len(keys), n_samples)``, int.

    Each row's are :func:`fold_labels` of that row alone from the first child of its
    own generator, ``np.random.default_rng(key)`` for its :func:`row_seed` ``key``
    (spawning leaves the masks' stream alone): they depend on the seed and on the
    row's content, not on its place in the batch.
    """
    folds = np.empty((len(keys), n_samples), dtype=np.int64)
    for row, key in enumerate(keys):
        rng = np.random.default_rng(key).spawn(1)[0]
        folds[row] = fold_labels(1, n_samples, n_folds, rng)[0]
    return folds


def coalition_folds(keys: Keys, valid: np.ndarray, n_samples: int, n_folds: int) -> np.ndarray:
    """The folds of KernelSHAP's coalitions (:func:`shapley_masks`'s samples from 2 on),
    shape ``(len(keys), n_samples - 2)``, int.

    Drawn rows' are :func:`row_folds`'. An enumerated row's ``2^m - 2`` coalitions, the
    only ones with weight, get folds of their own, drawn as :func:`row_folds` draws them
    for that many samples; its spare samples (weight 0) are all fold 0. Folds drawn over
    all ``n_samples - 2`` put both of two components' coalitions in one fold one time in
    ``n_folds``, where that fold held all the weight and ``score_cv`` was NaN: of a
    saturated moons MLP's rows, some read 1.000 and some NaN by that luck alone.
    """
    folds = row_folds(keys, n_samples - 2, n_folds)
    for row in np.flatnonzero(enumerable(valid, n_samples)):
        n_coalitions = 2 ** int(valid[row].sum()) - 2
        folds[row] = 0
        folds[row, :n_coalitions] = row_folds(keys[row : row + 1], n_coalitions, n_folds)[0]
    return folds


#: A fold's training samples whose weight is below this share of the row's total get
#: their sums directly: subtracting the held-out sums from the total leaves rounding
#: errors of the total's size, large against a small remainder.
DIRECT_SHARE = 0.05
#: A fit whose firmness (the smallest eigenvalue of the system it solves, as the fit
#: estimates it) is below this share of the row's total weight (the size of the
#: subtraction's rounding errors over eps) is redone on sums taken directly. Well posed
#: fits stay above 1e-2; a system left singular but for the 1e-12 jitter (fewer
#: training samples than components, or components that coincide on them), whose
#: solution the rounding of its sums decides, is near 1e-9 and below.
DIRECT_FIRMNESS = 1e-5

#: A local fit on the sums of its samples, for :func:`cross_validated_r2`: (Moments of
#: r rows, probe) -> (coef (r, M), intercept (r,), firmness (r,) or None), the last
#: given where ``probe`` is True (see :func:`ridge_solve`).
SumsFit = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray | None]]


def cross_validated_r2(
    Z: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    folds: np.ndarray,
    fit: SumsFit,
    moments: Moments,
    *,
    shift: np.ndarray | None = None,
) -> np.ndarray:
    """K-fold cross-validated weighted R^2 of a batch of local fits, shape ``(r,)``.

    Each sample is predicted by the model fitted to the samples of the other folds
    (the same fit, with the held-out fold's weights set to 0), and these predictions
    are scored as :func:`weighted_r2` scores the in-sample ones: ``1 - sum_s w_s
    (y_s - yhat_s)^2 / sum_s w_s (y_s - ybar)^2``, with ``ybar`` the weighted mean of
    all samples (the pooled, "predictive" R^2, Q^2). It can be negative: a model no
    better than the mean on unseen samples scores about 0 or below. No new queries:
    it reuses the samples drawn for the fit.

    The fits read the samples only through their :class:`Moments`, and those of a
    fold's training samples are ``moments`` (of all samples) minus those of the
    held-out ones. So all folds together cost one more pass over the samples, each on
    its own fold's, and one small solve each, where a refit from the samples cost a
    pass over all of them per fold. Where the subtraction's rounding errors (of the
    size of the totals) could show in a fold's fit, i.e. where its training samples
    hold under :data:`DIRECT_SHARE` of the weight or the fit's firmness is under
    :data:`DIRECT_FIRMNESS` of it, that row's training sums are taken from its
    samples, as a refit on the held-out weights set to 0 takes them.

    Parameters
    ----------
    Z : ndarray of shape (r, S, M), float
    y, w : ndarray of shape (r, S)
    folds : ndarray of shape (r, S), int
        Each sample's fold, e.g. from :func:`fold_labels`.
    fit : callable (Moments, probe) -> (coef (r, M), intercept (r,), firmness)
        The local model fitted to the samples whose sums are given, as
        :func:`ridge_solve`; the firmness (r,) is read where ``probe`` is True.
    moments : Moments
        Those of all samples, ``weighted_moments(Z, y, w, shift)``.
    shift : ndarray of shape (r,), optional
        The ``shift`` of ``moments``: a fixed offset of ``y`` (KernelSHAP's intercept),
        or None where each fit centres on the weighted mean of its own samples.

    Returns
    -------
    ndarray of shape (r,)
        NaN for a row where some fold holds all the weight (its complement has
        nothing to fit to) or where all weights are 0.
    """
    predicted = np.zeros_like(y)
    undefined = np.zeros(y.shape[0], dtype=bool)

    def direct(train: Moments, rows: np.ndarray, train_w: np.ndarray) -> Moments:
        """``train`` with the sums of ``rows`` (r,) taken from their samples."""
        own = None if shift is None else shift[rows]
        return train.put(rows, weighted_moments(Z[rows], y[rows], train_w[rows], own))

    for fold in np.unique(folds):
        held = folds == fold
        train_w = np.where(held, 0.0, w)
        train_sw = train_w.sum(axis=1)
        # A row with nothing left to fit would divide by a zero weight sum (or make a
        # singular system); it is fitted on all its samples instead and marked NaN.
        empty = train_sw <= 0
        undefined |= empty
        # Each row's held-out samples, padded with copies of its first to the largest
        # fold's size (weight 0): balanced folds need no padding.
        count = held.sum(axis=1)
        order = np.argsort(~held, axis=1, kind="stable")[:, : max(1, count.max())]
        present = np.arange(order.shape[1]) < count[:, None]
        order = np.where(present, order, order[:, :1])
        # Whole rows of Z by their flat index: several times faster than
        # take_along_axis, whose index spans every element.
        flat = order + np.arange(len(order))[:, None] * Z.shape[1]
        Z_held = Z.reshape(-1, Z.shape[2])[flat.ravel()].reshape(*order.shape, Z.shape[2])
        w_held = np.where(present, np.take_along_axis(w, order, axis=1), 0.0)
        y_held = np.take_along_axis(y, order, axis=1)
        train = moments - weighted_moments(Z_held, y_held, w_held, moments.shift)
        exact = ~empty & (train_sw < DIRECT_SHARE * moments.sw)
        if exact.any():
            train = direct(train, exact, train_w)
        coef, intercept, firmness = fit(train.put(empty, moments), True)
        soft = np.zeros(len(y), dtype=bool)
        if firmness is not None:
            soft = firmness < DIRECT_FIRMNESS * moments.sw
        unstable = ~empty & ~exact & soft
        if unstable.any():
            train = direct(train, unstable, train_w)
            again, again_intercept, _ = fit(train.put(empty, moments), False)
            # The others keep their first solve: solved again (one right-hand side, not
            # two), a row's score changed in its last bits with the rows beside it.
            coef = np.where(unstable[:, None], again, coef)
            intercept = np.where(unstable, again_intercept, intercept)
        values = intercept[:, None] + _products(Z_held, coef)
        rows = np.broadcast_to(np.arange(y.shape[0])[:, None], order.shape)
        predicted[rows[present], order[present]] = values[present]
    return np.where(undefined, np.nan, _r2_of_residuals(y, y - predicted, w))


def constrained_wls(
    Z: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    active: np.ndarray,
    total: np.ndarray,
    alpha: float = 0.0,
) -> np.ndarray:
    """Batched weighted least squares without intercept whose coefficients sum to ``total``.

    Solves, for each of ``r`` problems, ``min sum_s w_s (y_s - z_s . phi)^2 +
    alpha ||phi||^2`` subject to ``sum_{j active} phi_j = total`` through the KKT
    system. This is KernelSHAP's efficiency constraint.

    Parameters
    ----------
    Z : ndarray of shape (r, S, M), float or bool
    y, w : ndarray of shape (r, S)
    active : ndarray of shape (r, M), bool
    total : ndarray of shape (r,)
    alpha : float

    Returns
    -------
    ndarray of shape (r, M)
    """
    Z = np.where(active[:, None, :], Z, 0.0)  # also turns boolean masks into floats
    gram, rhs = _gram(Z, y, w)
    return constrained_solve(gram, rhs, active, total, alpha)[0]


def constrained_solve(
    gram: np.ndarray,
    rhs: np.ndarray,
    active: np.ndarray,
    total: np.ndarray,
    alpha: float,
    *,
    probe: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`constrained_wls` on its normal equations ``Z' W Z`` (r, M, M) and
    ``Z' W y`` (r, M), ``Z`` zero outside ``active``: phi (r, M) and, with ``probe``,
    the firmness of :func:`ridge_solve` (else None)."""
    r, m = rhs.shape
    scale = np.trace(gram, axis1=1, axis2=2)[:, None] / m
    # No weighed coalition: any jitter gives the minimum-norm, equal split.
    scale = np.where(scale > 0, scale, 1.0)
    diag = np.where(active, alpha + 1e-12 * scale, 1.0)
    kkt = np.zeros((r, m + 1, m + 1))
    kkt[:, :m, :m] = gram + diag[:, :, None] * np.eye(m)
    kkt[:, :m, m] = kkt[:, m, :m] = active
    solution, firmness = _solve(kkt, np.concatenate([rhs, total[:, None]], axis=1), active, probe)
    return solution[:, :m] * active, firmness


def top_k_active(coef: np.ndarray, active: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` active components with the largest ``|coef|`` (ties to the lower index),
    shape ``(r, M)`` bool: LIME's feature selection by highest weights."""
    return top_k_mask(np.where(active, np.abs(coef), -np.inf), k) & active
