"""Point estimates with confidence intervals: bootstrap intervals for means, Wilson's
score interval for proportions."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
from scipy import special

from .._io import check_header, check_path, read_json, write_json
from .._numbers import fixed
from .._validation import (
    RandomState,
    allocate,
    check_array,
    check_fraction,
    check_positive_int,
    check_random_state,
)

#: The JSON file an :class:`Estimate` saves to: its own format, so that neither an
#: explanation's header nor a model's record reads as one.
_FORMAT = "unboxed-estimate"
_FORMAT_VERSION = 1
_WHAT = "an unboxed estimate file"

#: Bootstrap draws are processed in blocks of at most this many gathered values, to
#: keep memory bounded on large data sets.
_BLOCK_ELEMENTS = 20_000_000


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A mean with its 95% confidence interval.

    Attributes
    ----------
    mean : float
        The mean over all cases.
    ci : tuple of float
        For a mean, the 2.5th and 97.5th percentiles of the bootstrap means; for a
        proportion (:func:`proportion`: agreements, accuracies), Wilson's score interval.
    n : int
        The number of cases.

    Raises
    ------
    ValueError
        If the mean or a bound is NaN, or the interval is inverted (its low bound above
        its high one). A mean outside its interval is kept: a percentile bootstrap of a
        skewed sample can leave it there.
    """

    mean: float
    ci: tuple[float, float]
    n: int

    def __post_init__(self) -> None:
        # What no estimator here gives and no reader can make sense of: refused when
        # made, so a loaded file is held to it too. Infinite figures stay (save refuses
        # them, as JSON could not give them back).
        if np.isnan(self.mean) or np.isnan(self.ci).any():
            raise ValueError(f"an estimate's mean and bounds cannot be NaN, got {self}")
        if self.ci[0] > self.ci[1]:
            raise ValueError(
                f"an estimate's interval cannot be inverted, got low {self.ci[0]!r} > "
                f"high {self.ci[1]!r}"
            )

    def __str__(self) -> str:
        # The one engine of how a figure is written, so that a mean or bound that
        # rounds to 0 reads "0.0000" here as on the report's page, not "-0.0000".
        mean, low, high = (fixed(figure, 4) for figure in (self.mean, *self.ci))
        if self.n == 1 and self.ci[0] == self.ci[1]:
            # A bootstrap of one case draws it every time: [x, x] read as certainty.
            return f"{mean} (one case: no CI)"
        return f"{mean} [{low}, {high}]"

    def as_dict(self) -> dict[str, float | int | list[float]]:
        """The estimate as JSON-ready plain types.

        Returns
        -------
        dict
            Keys ``mean``, ``ci`` (a list of two floats) and ``n``.
        """
        return {"mean": self.mean, "ci": list(self.ci), "n": self.n}

    def save(self, path: str | os.PathLike) -> None:
        """Write this estimate to ``path`` as JSON, atomically: :meth:`as_dict` with a
        header naming the format, its version and the library version.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write; an existing file is replaced only once the new one is
            complete.

        Raises
        ------
        ValueError
            If the mean or a bound is not finite (NaN or inf), which the file could not
            give back.
        """
        from .._version import __version__

        check_path(path)
        # JSON has no NaN (it would be written as null), and load refuses what is not
        # finite: refused here, so that no file is written that cannot be read back.
        if not np.all(np.isfinite([self.mean, *self.ci])):
            raise ValueError(f"cannot save an estimate that is not finite: {self}")
        header = {"format": _FORMAT, "format_version": _FORMAT_VERSION}
        write_json(path, {**header, "library_version": __version__, **self.as_dict()})

    @classmethod
    def load(cls, path: str | os.PathLike) -> Estimate:
        """Read an estimate written by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        Estimate

        Raises
        ------
        ValueError
            If the file is not one that :meth:`save` wrote, is damaged, is of a newer
            format, or holds no finite mean, two finite bounds and a count.
        """
        # Imported here: _saved imports this module for the Estimate class.
        from ._saved import _estimate_from_record

        check_path(path)
        record = read_json(path, what=_WHAT)
        check_header(record, source=path, what=_WHAT, format=_FORMAT, version=_FORMAT_VERSION)
        fields = {key: record[key] for key in ("mean", "ci", "n") if key in record}
        try:
            return _estimate_from_record(fields, name="the estimate")
        except ValueError as err:
            raise ValueError(f"{path} is not a valid Estimate: {err}") from err


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
    # The means below fill this much: refused before the loop, which ran without end
    # on n_boot=10**30 (deletion_curve's, aopc_difference's).
    allocate((n_boot, *values.shape[1:]), setting=f"n_boot={n_boot}")
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


#: The normal quantile of a two-sided 95% interval.
_Z95 = float(-special.ndtri(0.025))


def wilson_interval(successes: int, n: int) -> tuple[float, float]:
    """Wilson's 95% score interval for a binomial proportion ``successes / n``.

    Wilson (1927), "Probable inference, the law of succession, and statistical
    inference", JASA 22: the proportions p whose score test ``|p_hat - p| <= z
    sqrt(p (1 - p) / n)`` does not reject. Brown, Cai and DasGupta (2001, Statist. Sci.
    16) recommend it over the Wald and bootstrap intervals near 0 and 1, where a
    percentile bootstrap of 0/1 outcomes has far less than its nominal coverage: all
    ``n`` outcomes equal give the zero-width interval ``[1, 1]`` (or ``[0, 0]``).

    Parameters
    ----------
    successes : int
        In ``[0, n]``.
    n : int
        At least 1.

    Returns
    -------
    (low, high) : tuple of float
        Within ``[0, 1]``; ``high`` is 1 exactly when ``successes == n``.
    """
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n >= 1, got {successes} of {n}")
    return wilson_bounds(successes / n, n)


def wilson_bounds(share: float, n: float) -> tuple[float, float]:
    """:func:`wilson_interval` of an observed ``share`` in [0, 1] among ``n`` units; ``n``
    may be an effective sample size below the number of outcomes (for clustered ones).

    Returns
    -------
    (low, high) : tuple of float
    """
    if not (n > 0 and 0.0 <= share <= 1.0):
        raise ValueError(f"need a share in [0, 1] of n > 0 units, got {share} of {n}")
    z2 = _Z95 * _Z95
    p = float(share)
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = _Z95 * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # At p = 0 or 1 the bound is exact in theory; rounding must not move it off 0 or 1.
    low = 0.0 if p == 0.0 else max(0.0, float(centre - half))
    high = 1.0 if p == 1.0 else min(1.0, float(centre + half))
    return low, high


def proportion(values: np.ndarray) -> Estimate:
    """The share of true values in a 1-D sample of 0/1 outcomes, with Wilson's 95%
    interval (:func:`wilson_interval`).

    Parameters
    ----------
    values : ndarray of bool or of 0/1, shape (n,)

    Returns
    -------
    Estimate
    """
    values = np.asarray(values).ravel()
    if values.size == 0:
        raise ValueError("cannot estimate a proportion from an empty sample")
    if not np.isin(values, (0, 1)).all():
        raise ValueError("a proportion needs outcomes that are 0 or 1 (or bool)")
    successes = int(np.count_nonzero(values))
    return Estimate(successes / values.size, wilson_interval(successes, values.size), values.size)
