"""Shared fixtures: small real data and small models trained here with fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from tests.helpers import PLANTED_COLUMNS
from unboxed import BlackBox, load_dataset, zoo

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="session")
def planted():
    return load_dataset("planted")


@pytest.fixture(scope="session")
def digits_lenet(digits):
    """A LeNet trained on digits for a few epochs (test accuracy about 0.97)."""
    model = zoo.build("lenet", input_shape=digits.input_shape, n_classes=10, random_state=0)
    zoo.train(model, digits, epochs=20, batch_size=64, lr=2e-3, random_state=0, verbose=False)
    return model


@pytest.fixture()
def digits_blackbox(digits_lenet):
    return zoo.as_blackbox(digits_lenet)


@pytest.fixture(scope="session")
def planted_logreg(planted):
    return LogisticRegression(C=100.0, max_iter=2000).fit(planted.X_train, planted.y_train)


@pytest.fixture()
def planted_blackbox(planted_logreg):
    return BlackBox.from_sklearn(planted_logreg)


@pytest.fixture(scope="session")
def planted_frame_logreg(planted):
    """The logistic regression fitted on a DataFrame, so it has ``feature_names_in_``."""
    import pandas as pd

    frame = pd.DataFrame(planted.X_train, columns=list(PLANTED_COLUMNS))
    return LogisticRegression(C=100.0, max_iter=2000).fit(frame, planted.y_train)


@pytest.fixture()
def planted_named_blackbox(planted_frame_logreg):
    return BlackBox.from_sklearn(planted_frame_logreg)


@pytest.fixture()
def rng():
    return np.random.default_rng(0)
