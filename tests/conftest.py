"""Shared fixtures: small real data and small models trained here with fixed seeds."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from tests.helpers import BENCHMARK_TRAINING, PLANTED_COLUMNS, benchmarks_common
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


@pytest.fixture(scope="session")
def benchmark_models(tmp_path_factory):
    """A folder with the tiny MLP on digits that the benchmarks' ``cached_model`` trains
    and saves (once: each test copies it)."""
    common = benchmarks_common()
    folder = tmp_path_factory.mktemp("trained")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(common, "CACHE", folder)
        patch.setattr(common, "TRAINING", BENCHMARK_TRAINING)
        patch.setattr(common, "LOADED", {})
        patch.setenv(common.LOADED_ENV, "")
        common.cached_model("mlp", "digits")
    return folder


@pytest.fixture
def benchmark_cache(benchmark_models, tmp_path, monkeypatch):
    """For ``benchmarks/_common.py``: a model cache (holding the MLP, not its accuracy)
    and results folder of their own, nothing loaded yet, and short trainings in place
    of the benchmarks' long ones."""
    common = benchmarks_common()
    shutil.copytree(benchmark_models / "mlp-digits", tmp_path / "models" / "mlp-digits")
    (tmp_path / "models" / "mlp-digits" / common.ACCURACY_FILE).unlink()
    monkeypatch.setattr(common, "CACHE", tmp_path / "models")
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(common, "LOADED", {})
    monkeypatch.setattr(common, "KEPT", {})
    monkeypatch.setenv(common.LOADED_ENV, "")  # restored (unset) after the test
    monkeypatch.setattr(common, "TRAINING", BENCHMARK_TRAINING)
    return tmp_path / "models"
