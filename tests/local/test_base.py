"""The shared base of the local explainers: fills, backgrounds, targets and the result."""

import contextlib
import re

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from tests.helpers import (
    digits_gradient_undefined_below,
    each_perturbation_explainer,
    iris_refusing_a_petal_of_4,
)
from unboxed import BlackBox, BlackBoxError
from unboxed.local import Saliency
from unboxed.local._base import (
    BLUR_SIGMA,
    LocalExplainer,
    check_background,
    check_fill_name,
    make_fill,
    naming_rows,
)


def _box(n_features=6, input_shape=None):
    """p(class 1) = sigmoid(sum of x): class 1 wherever the features sum above 0."""

    def proba(X):
        p1 = 1 / (1 + np.exp(-X.reshape(len(X), -1).sum(axis=1)))
        return np.stack([1 - p1, p1], axis=1)

    return BlackBox.from_callable(proba, n_classes=2, input_shape=input_shape or (n_features,))


class _Echo(LocalExplainer):
    """A minimal explainer: the attribution is the input itself."""

    method = "echo"

    def __init__(self, blackbox, *, image_shape=None, alpha=0.5, fill=None, random_state=None):
        super().__init__(blackbox, image_shape=image_shape)
        self.alpha, self.fill, self.random_state = alpha, fill, random_state

    def explain(self, X, *, target=None):
        X = np.asarray(X, dtype=np.float64)
        self.n_seen_ = X.shape[0]  # learned state: never a hyperparameter in meta
        return self._attribution(X.copy(), self._targets(target, X), X, rows=X.shape[0])


def test_the_result_records_hyperparameters_seed_and_extra_meta():
    result = _Echo(_box(), alpha=2, fill=np.zeros(6), random_state=7).explain(np.ones((2, 6)))
    assert result.meta["method"] == "echo" and result.meta["seed"] == 7
    # neither the black box nor learned state; an array by its type name
    assert result.meta["parameters"] == {
        "image_shape": None,
        "alpha": 2,
        "fill": "ndarray",
        "random_state": 7,
    }
    assert result.meta["rows"] == 2


def test_a_numpy_number_setting_is_recorded_as_the_number_and_saves(tmp_path):
    """The settings' checks take np.asarray(100) for 100, so meta must record 100: it
    read "ndarray" (and a setting kept as given could not be written as JSON)."""
    from unboxed.explanation import Attribution
    from unboxed.local import Lime

    box = _box()
    explainer = Lime(box, n_samples=np.asarray(50), kernel_width=np.float32(0.5), random_state=0)
    result = explainer.explain(np.ones((1, 6)))
    parameters = result.meta["parameters"]
    assert parameters["n_samples"] == 50 and type(parameters["n_samples"]) is int
    assert parameters["kernel_width"] == 0.5 and type(parameters["kernel_width"]) is float
    result.save(tmp_path / "lime.npz")
    assert Attribution.load(tmp_path / "lime.npz").meta["parameters"] == parameters


def test_the_result_holds_a_copy_of_the_inputs():
    X = np.ones((2, 6))
    result = _Echo(_box()).explain(X)
    X[0, 0] = 5.0  # the caller's array stays theirs: writable, and not the record
    assert result.inputs[0, 0] == 1.0


def test_the_default_target_is_the_predicted_class_and_a_given_one_is_checked():
    box = _box()
    X = np.array([[1.0] * 6, [-1.0] * 6])
    explainer = _Echo(box)
    assert explainer._targets(None, X).tolist() == [1, 0]
    # given probabilities are used as they are, without asking the black box again
    queries = box.n_queries
    assert explainer._targets(None, X, np.array([[0.9, 0.1], [0.2, 0.8]])).tolist() == [0, 1]
    assert box.n_queries == queries
    assert explainer._targets(1, X).tolist() == [1, 1]
    with pytest.raises(ValueError, match="target"):
        explainer._targets(2, X)


@pytest.mark.parametrize("input_shape", [(1, 2, 3), (2, 3), (2, 3, 1)])
def test_image_shape_is_read_from_a_grayscale_black_box(input_shape):
    result = _Echo(_box(input_shape=input_shape)).explain(np.zeros((1, 6)))
    assert result.image_shape == (2, 3)


@pytest.mark.parametrize("shape", [(3, 3), (6,), (1, 2, 3)])
def test_an_image_shape_that_does_not_fit_is_refused(shape):
    with pytest.raises(ValueError, match=r"image_shape must be \(H, W\) with H\*W = 6"):
        _Echo(_box(), image_shape=shape).explain(np.zeros((1, 6)))


def test_a_black_box_is_required():
    with pytest.raises(TypeError):
        _Echo(lambda X: X)


@pytest.mark.parametrize("fill", [np.nan, np.inf, -np.inf])
def test_a_non_finite_fill_is_refused(fill):
    with pytest.raises(ValueError, match="fill must be finite"):
        make_fill(fill, np.zeros((2, 3)), image_shape=None, background=None)


def test_a_boolean_fill_is_not_taken_for_a_number():
    with pytest.raises(ValueError, match="fill"):
        make_fill(True, np.zeros((2, 3)), image_shape=None, background=None)


@pytest.mark.parametrize(
    ("fill", "value"), [(0.25, 0.25), (3, 3.0), ("zero", 0.0), ("gray", 0.5), ([1, 2, 3], None)]
)
def test_constant_and_array_fills_keep_the_input_dtype(fill, value):
    X = np.ones((2, 3), dtype=np.float32)
    out = make_fill(fill, X, image_shape=None, background=None)
    assert out.dtype == np.float32 and out.shape == (1, 3)
    np.testing.assert_array_equal(out[0], [value] * 3 if value is not None else fill)


def test_the_mean_fill_is_the_background_s_mean():
    background = np.array([[0.0, 1.0, 10.0], [2.0, 1.0, 0.0], [1.0, 4.0, 2.0]])
    out = make_fill("mean", np.zeros((2, 3)), image_shape=None, background=background)
    np.testing.assert_allclose(out, [[1.0, 2.0, 4.0]])
    with pytest.raises(ValueError, match="fill='mean' needs background data"):
        make_fill("mean", np.zeros((2, 3)), image_shape=None, background=None)


def test_the_blur_fill_needs_images_and_uses_blur_sigma():
    X = np.zeros((1, 36))
    X[0, 14] = 1.0
    out = make_fill("blur", X, image_shape=(6, 6), background=None)
    expected = gaussian_filter(X.reshape(6, 6), sigma=BLUR_SIGMA).ravel()
    np.testing.assert_allclose(out[0], expected)
    with pytest.raises(ValueError, match="fill='blur' needs image inputs"):
        make_fill("blur", X, image_shape=None, background=None)


@pytest.mark.parametrize("fill", [np.zeros(4), np.zeros((1, 3)), np.zeros((2, 3))])
def test_a_fill_array_must_have_one_value_per_feature(fill):
    with pytest.raises(ValueError, match=r"a fill array must have shape \(3,\)"):
        make_fill(fill, np.zeros((2, 3)), image_shape=None, background=None)


def test_a_fill_array_with_nan_is_refused():
    with pytest.raises(ValueError, match="fill"):
        make_fill(np.array([0.0, np.nan, 1.0]), np.zeros((2, 3)), image_shape=None, background=None)


def test_an_unknown_fill_name_is_refused_by_its_name():
    with pytest.raises(ValueError, match="baseline must be a number, an array or one of"):
        check_fill_name("grey", name="baseline")
    check_fill_name(0.5)  # numbers and arrays are not names


def test_background_images_are_flattened_and_checked():
    assert check_background(None, 6) is None
    images = np.arange(24.0).reshape(4, 2, 3)
    np.testing.assert_array_equal(check_background(images, 6), images.reshape(4, 6))
    for d in (5, 7):
        with pytest.raises(ValueError, match=f"background must have {d} features, got 6"):
            check_background(images, d)
    with pytest.raises(ValueError, match="background"):
        check_background(np.full((2, 6), np.nan), 6)


@pytest.mark.parametrize("shape", [(2.0, 3.0), (2.5, 2.4), (-2, -3), (True, 6), (2, 0)])
def test_an_image_shape_of_anything_but_positive_ints_is_refused_when_made(shape):
    # (2.0, 3.0) and (True, 6) were cast by int() and (-2, -3) passed H*W = 6: each
    # explained, or failed only after the model had been queried.
    from unboxed.local import Occlusion

    with pytest.raises(ValueError, match="image_shape must be a non-empty tuple of positive"):
        _Echo(_box(), image_shape=shape)
    box = _box()
    with pytest.raises(ValueError, match="image_shape must be a non-empty tuple of positive"):
        Occlusion(box, image_shape=shape, window=1, stride=1)
    assert box.n_queries == 0


def test_an_image_shape_list_is_kept_as_a_tuple_in_meta():
    result = _Echo(_box(), image_shape=[2, 3]).explain(np.zeros((1, 6)))
    # a list used to be recorded by its type name, "list"
    assert result.image_shape == (2, 3) and list(result.meta["parameters"]["image_shape"]) == [2, 3]


def test_an_attribution_of_dataframe_rows_names_them_by_the_frames_index(
    planted, planted_named_blackbox, planted_logreg, tmp_path
):
    """A DataFrame's rows 70..72 were titled "row 0".."row 2": an Attribution kept no
    index, and only row_names= set it right."""
    import pandas as pd

    from tests.helpers import PLANTED_COLUMNS, torch_logistic_regression
    from unboxed import Attribution, zoo
    from unboxed.local import IntegratedGradients, KernelShap, Lime, Occlusion

    frame = pd.DataFrame(planted.X_test, columns=list(PLANTED_COLUMNS)).iloc[70:73]
    torch_box = zoo.as_blackbox(torch_logistic_regression(planted_logreg))
    explainers = [
        Lime(planted_named_blackbox, n_samples=64, random_state=0),
        KernelShap(planted_named_blackbox, n_samples=64, random_state=0),
        Occlusion(planted_named_blackbox),
        IntegratedGradients(torch_box, n_steps=4),
    ]
    for explainer in explainers:
        attribution = explainer.explain(frame)
        assert attribution.row_names == ("70", "71", "72"), explainer.method
        titles = [ax.get_title() for ax in attribution.plot([0, 2]).axes]
        assert titles[0].startswith(f"{explainer.method}: row 70, class ")
        assert titles[1].startswith(f"{explainer.method}: row 72, class ")
        # given names still win; rows of an array keep their positions
        assert (
            attribution.plot(1, row_names=["a", "b", "c"])
            .axes[0]
            .get_title()
            .startswith(f"{explainer.method}: row b, ")
        )
        unnamed = explainer.explain(frame.to_numpy())
        assert unnamed.row_names is None
        assert unnamed.plot(1).axes[0].get_title().startswith(f"{explainer.method}: row 1, ")
    attribution.save(tmp_path / "a.npz")
    assert Attribution.load(tmp_path / "a.npz").row_names == ("70", "71", "72")
    with pytest.raises(ValueError, match="row_names has 2 entries; expected 3"):
        Attribution(attribution.values, attribution.target, row_names=("70", "71"))


def _pool_row(i):
    return f"candidate {i} of the pool"


@each_perturbation_explainer
def test_a_caller_names_the_rows_it_passes_a_perturbation_explainer(make):
    box, frame = iris_refusing_a_petal_of_4()
    X = frame.to_numpy()  # row 1 alone has a petal length of 4, which the model refuses
    explainer = make(box)
    with naming_rows(X, _pool_row), pytest.raises(BlackBoxError) as raised:
        explainer.explain(X, target=0)
    message = str(raised.value)
    assert re.fullmatch(
        r"black box 'refuses_a_petal_of_4' raised ValueError on perturbation 0 of \d+ of "
        r"candidate 1 of the pool: petal length 4\.0",
        message,
    ), message
    # Another array, even of the same rows, or the same one after the block, is not
    # named so: the names are of those rows alone.
    for rows, block in [(X.copy(), naming_rows(X, _pool_row)), (X, contextlib.nullcontext())]:
        with block, pytest.raises(BlackBoxError) as raised:
            explainer.explain(rows, target=0)
        assert "of row 1 of X: petal length 4.0" in str(raised.value), str(raised.value)


def test_a_caller_names_the_rows_it_passes_a_gradient_explainer():
    box, X_test = digits_gradient_undefined_below(0.5)
    X = X_test[:6]  # row 3 alone has pixel 4 below 0.5: its gradient is NaN
    with naming_rows(X, _pool_row), pytest.raises(ValueError) as raised:
        Saliency(box).explain(X, target=2)
    assert str(raised.value).startswith(
        "Saliency produced non-finite attributions on candidate 3 of the pool, target 2: "
    ), str(raised.value)
