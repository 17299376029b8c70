"""Ranking arrays by score: the one place that decides order and ties."""

from __future__ import annotations

import numpy as np


def descending_order(scores: np.ndarray, k: int | None = None) -> np.ndarray:
    """Indices along the last axis from the highest score down; ties go to the lower index.

    NaN ranks last, below -inf.

    Parameters
    ----------
    scores : ndarray of shape (..., n_features)
    k : int, optional
        Keep only the first ``k`` indices.

    Returns
    -------
    ndarray of int, shape (..., k or n_features)
    """
    scores = np.asarray(scores)
    # Negating an integer overflows (int8's -128 stays -128, uint8's 1 becomes 255) and
    # numpy refuses to negate a bool; ~x (-x - 1, or max - x unsigned) reverses the
    # order of every integer and bool without leaving its dtype.
    flipped = ~scores if scores.dtype.kind in "biu" else -scores
    order = np.argsort(flipped, axis=-1, kind="stable")
    return order if k is None else order[..., :k]


def mask_of(order: np.ndarray, k: int, width: int | None = None) -> np.ndarray:
    """Boolean mask of the first ``k`` indices in each row of ``order``.

    The mask has ``width`` columns (default: as many as ``order``).
    """
    mask = np.zeros((*order.shape[:-1], width or order.shape[-1]), dtype=bool)
    np.put_along_axis(mask, order[..., :k], True, axis=-1)
    return mask


def top_k_mask(scores: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask, shaped like ``scores``, of each row's ``k`` highest scores."""
    return mask_of(descending_order(scores, k), k, scores.shape[-1])
