"""Small data sets that ship with the library: sklearn's digits and breast cancer, two
moons, and planted."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from ._dataset import SPLIT_SEED, Dataset, DatasetInfo, pixel_names, register, split_dataset

#: The features the ``planted`` label depends on, and the data set's size.
PLANTED_SUPPORT = (2, 5, 11, 17)
PLANTED_FEATURES = 20
PLANTED_SAMPLES = 5000


def load_digits(path: str | os.PathLike | None = None) -> Dataset:
    """sklearn's 1,797 8x8 digits scaled to [0, 1]; fixed stratified 80/20 split."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    X = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    return split_dataset(
        "digits",
        X,
        y,
        class_names=tuple(str(d) for d in range(10)),
        feature_names=pixel_names((8, 8)),
        image_shape=(8, 8),
        description="scikit-learn's 8x8 digits in [0, 1]; fixed stratified 80/20 split, seed 0",
    )


def load_breast_cancer(path: str | os.PathLike | None = None) -> Dataset:
    """sklearn's Wisconsin diagnostic breast cancer rows, standardized; fixed 80/20 split.

    569 tumours, 30 measurements of their cell nuclei, malignant (212) or benign (357).
    Each feature is centred and scaled by the training split's mean and standard
    deviation, so that it reads in standard deviations from the training mean. The
    raw units span five orders of magnitude (smoothness near 0.1, area up to 4,254),
    and the tools' defaults read one scale: a fill of 0 (now the training mean, the
    natural "feature switched off"), DMM-MEN's prior, one noise level for all.
    ``feature_mean`` and ``feature_scale`` keep those statistics, so that
    :meth:`Dataset.to_raw` gives a person the raw units back.
    """
    from sklearn.datasets import load_breast_cancer as sk_breast_cancer

    bunch = sk_breast_cancer()
    split = split_dataset(
        "breast-cancer",
        bunch.data,
        bunch.target.astype(np.int64),
        class_names=tuple(str(name) for name in bunch.target_names),
        feature_names=tuple(str(name) for name in bunch.feature_names),
    )
    mean = split.X_train.mean(axis=0)
    scale = split.X_train.std(axis=0)
    return dataclasses.replace(
        split,
        X_train=((split.X_train - mean) / scale).astype(np.float32),
        X_test=((split.X_test - mean) / scale).astype(np.float32),
        feature_mean=mean,
        feature_scale=scale,
        description="sklearn's Wisconsin diagnostic breast cancer (569 rows, 30 features), "
        "each standardized by the training split's mean and std; stratified 80/20 split",
    )


def load_moons(path: str | os.PathLike | None = None) -> Dataset:
    """Two interleaving half circles in 2-D (1,000 points, noise 0.2), for boundary plots."""
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=1000, noise=0.2, random_state=SPLIT_SEED)
    return split_dataset(
        "moons",
        X,
        y,
        class_names=("upper moon", "lower moon"),
        feature_names=("x1", "x2"),
        description="sklearn make_moons(1000, noise=0.2, random_state=0); stratified 80/20 split",
    )


def load_planted(path: str | os.PathLike | None = None) -> Dataset:
    """Tabular data whose label depends only on a known set of features.

    ``X`` is uniform on [0, 1]^20 and ``y = 1`` exactly when the mean of the features
    in :data:`PLANTED_SUPPORT` exceeds 0.5. The other 16 features are pure noise, so
    an explanation that finds the model's evidence must rank the support first.
    """
    rng = np.random.default_rng(SPLIT_SEED)
    X = rng.uniform(size=(PLANTED_SAMPLES, PLANTED_FEATURES))
    support = np.array(PLANTED_SUPPORT)
    y = (X[:, support].mean(axis=1) > 0.5).astype(np.int64)
    return split_dataset(
        "planted",
        X,
        y,
        class_names=("negative", "positive"),
        feature_names=tuple(f"f{j}" for j in range(PLANTED_FEATURES)),
        support=support,
        description=f"uniform [0, 1]^{PLANTED_FEATURES}; y = 1 iff "
        f"mean(x[{list(PLANTED_SUPPORT)}]) > 0.5; stratified 80/20 split",
    )


register(DatasetInfo("digits", "scikit-learn's 1,797 8x8 digits (ships with sklearn)", load_digits))
register(
    DatasetInfo(
        "breast-cancer",
        "sklearn's 569 breast tumours, 30 standardized features (ships with sklearn)",
        load_breast_cancer,
    )
)
register(DatasetInfo("moons", "2-D two moons, 1,000 points, for boundary plots", load_moons))
register(
    DatasetInfo("planted", "synthetic tabular data with a known feature support", load_planted)
)
