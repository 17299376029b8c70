"""Point estimates with bootstrap confidence intervals."""

from __future__ import annotations

import dataclasses

import numpy as np

from .._validation import (
    RandomState,
    check_array,
    check_fraction,
    check_positive_int,
    check_random_state,
)

#: Bootstrap draws are processed in blocks of at most this many gathered values, to
#: keep memory bounded on large data sets.
_BLOCK_ELEMENTS = 20_000_000


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A mean with its 95% bootstrap confidence interval.

    Attributes
    ----------
    mean : float
        The mean over all cases.
    ci : tuple of float
        The 2.5th and 97.5th percentiles of the bootstrap means.
    n : int
        The number of cases.
    """

    mean: float
    ci: tuple[float, float]
    n: int

    def __str__(self) -> str:
        return f"{self.mean:.4f} [{self.ci[0]:.4f}, {self.ci[1]:.4f}]"

    def as_dict(self) -> dict[str, float | int | list[float]]:
        """The estimate as JSON-ready plain types.

        Returns
        -------
        dict
            Keys ``mean``, ``ci`` (a list of two floats) and ``n``.
        """
        return {"mean": self.mean, "ci": list(self.ci), "n": self.n}


def bootstrap_mean(
    values: np.ndarray,
    *,
    n_boot: int,
    random_state: RandomState = None,
    sample_frac: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The mean over axis 0 and a 95% percentile-bootstrap interval for it.

    Each bootstrap draw takes ``max(1, round(sample_frac * n))`` rows with replacement.
    ``sample_frac=1`` is the ordinary bootstrap; ``sample_frac=0.3`` follows the
    protocol of ``000_cf0c09d2d9cd2a13.txt`` Sec. 4.1 (repeated draws of 30% of the
    cases), whose interval is wider because each draw is smaller.

    Parameters
    ----------
    values : ndarray of shape (n, ...)
    n_boot : int
    random_state : int, numpy.random.Generator or None
    sample_frac : float in (0, 1]

    Returns
    -------
    mean : ndarray of shape values.shape[1:]
    ci : ndarray of shape values.shape[1:] + (2,)
    """
    rng = check_random_state(random_state)
    n_boot = check_positive_int(n_boot, name="n_boot")
    sample_frac = check_fraction(sample_frac, name="sample_frac")
    values = check_array(values, name="values", ndim=None, allow_empty=True)
    if values.ndim == 0:
        raise ValueError("values is a scalar; bootstrap_mean needs a sample, one row each")
    if values.shape[0] == 0:
        raise ValueError("cannot bootstrap an empty sample")
    n = values.shape[0]
    size = max(1, round(sample_frac * n))
    per_draw = size * max(1, int(np.prod(values.shape[1:])))
    block = max(1, _BLOCK_ELEMENTS // per_draw)
    means = []
    with np.errstate(over="ignore", invalid="ignore"):  # checked below
        for start in range(0, n_boot, block):
            idx = rng.integers(0, n, size=(min(block, n_boot - start), size))
            means.append(values[idx].mean(axis=1))
        boot = np.concatenate(means)
        ci = np.percentile(boot, [2.5, 97.5], axis=0)
        mean = values.mean(axis=0)
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(ci))):
        raise ValueError("values are too large to average in float64 (their sum overflows)")
    return mean, np.moveaxis(ci, 0, -1)


def estimate(values: np.ndarray, *, n_boot: int, random_state: RandomState = None) -> Estimate:
    """:func:`bootstrap_mean` of a 1-D sample (a column is flattened), as an
    :class:`Estimate`."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 0:  # it would pass as a sample of one, with a CI of zero width
        raise ValueError(f"estimate takes a sample, got the scalar {values.item()!r}")
    values = values.ravel()
    mean, ci = bootstrap_mean(values, n_boot=n_boot, random_state=random_state)
    return Estimate(float(mean), (float(ci[0]), float(ci[1])), int(values.size))
