"""The gradient family against the black box's own gradient and its axioms."""

import re

import numpy as np
import pytest
import torch

from tests.helpers import (
    PLANTED_COLUMNS,
    assert_progress_shown,
    breast_cancer_box,
    digits_gradient_undefined_below,
)
from unboxed import BlackBox, BlackBoxError, zoo
from unboxed.local import (
    DeepLift,
    InputXGradient,
    IntegratedGradients,
    Saliency,
    SmoothGrad,
)


def test_saliency_is_the_absolute_gradient(digits, digits_blackbox):
    X = digits.X_test[:16]
    result = Saliency(digits_blackbox).explain(X)
    target = digits_blackbox.predict(X)
    assert np.array_equal(result.target, target)
    expected = np.abs(digits_blackbox.gradient(X, target))
    np.testing.assert_allclose(result.values, expected, rtol=1e-5, atol=1e-6)
    assert result.image_shape == (8, 8)


def test_input_x_gradient(digits, digits_blackbox):
    X = digits.X_test[:16]
    result = InputXGradient(digits_blackbox).explain(X, target=3)
    expected = X * digits_blackbox.gradient(X, 3)
    np.testing.assert_allclose(result.values, expected, rtol=1e-5, atol=1e-6)


def test_integrated_gradients_completeness(digits, digits_blackbox):
    X = digits.X_test[:16]
    # The quadrature error comes from the ReLU and max-pool kinks along the path and
    # falls about as 1 / n_steps: 300 steps gave 0.0117 on one machine, 1000 gave 0.0027.
    result = IntegratedGradients(digits_blackbox, n_steps=600).explain(X)
    assert result.meta["max_abs_delta"] < 1e-2
    # Completeness, checked here against the logits directly.
    import torch

    with torch.no_grad():
        logits = digits_blackbox.module(torch.as_tensor(X.reshape(-1, 1, 8, 8)))
        base = digits_blackbox.module(torch.zeros(1, 1, 8, 8))
    rows = np.arange(16)
    gap = logits.numpy()[rows, result.target] - base.numpy()[0, result.target]
    np.testing.assert_allclose(result.values.sum(axis=1), gap, atol=1e-2)


def test_deeplift_sums_to_the_difference(digits):
    # Summation-to-delta is exact for ReLU networks; Captum's max-pool rule can break
    # it (a LeNet shows gaps of about 0.2 on digits), so an MLP is used here.
    model = zoo.mlp((32, 16), n_features=64, n_classes=10, random_state=0)
    blackbox = BlackBox.from_torch(model, input_shape=(64,))
    result = DeepLift(blackbox).explain(digits.X_test[:16])
    assert result.meta["max_abs_delta"] < 1e-4


def test_smoothgrad_without_noise_is_saliency_and_is_seeded(digits, digits_blackbox):
    X = digits.X_test[:8]
    plain = Saliency(digits_blackbox).explain(X).values
    quiet = SmoothGrad(digits_blackbox, noise_level=0.0, n_samples=3).explain(X).values
    np.testing.assert_allclose(quiet, plain, rtol=1e-5, atol=1e-7)
    first = SmoothGrad(digits_blackbox, random_state=1).explain(X).values
    again = SmoothGrad(digits_blackbox, random_state=1).explain(X).values
    other = SmoothGrad(digits_blackbox, random_state=2).explain(X).values
    assert np.array_equal(first, again) and not np.array_equal(first, other)


@pytest.mark.parametrize(
    "cls", [Saliency, InputXGradient, IntegratedGradients, SmoothGrad, DeepLift]
)
def test_non_torch_black_box_gets_a_clear_error(cls, planted_blackbox):
    with pytest.raises(TypeError, match="needs a torch black box.*Lime, KernelShap or Occlusion"):
        cls(planted_blackbox)


def test_baseline_mean_needs_background(digits, digits_blackbox):
    with pytest.raises(ValueError, match="background"):
        IntegratedGradients(digits_blackbox, baseline="mean").explain(digits.X_test[:2])
    result = IntegratedGradients(
        digits_blackbox, baseline="mean", background=digits.X_train
    ).explain(digits.X_test[:2])
    assert result.values.shape == (2, 64)


@pytest.mark.parametrize("cls", [IntegratedGradients, DeepLift])
def test_a_background_beside_a_baseline_other_than_mean_is_refused_before_any_query(
    digits, digits_blackbox, cls
):
    # The default target (the predicted class) was queried first, so the refusal
    # came after the model had seen the rows, as docs/local.md says it must not.
    explainer = cls(digits_blackbox, background=digits.X_train[:50])
    with pytest.raises(
        ValueError,
        match=re.escape(
            "background is used only by baseline='mean' (the mean of its rows), and "
            "baseline is 0.0; pass baseline='mean' with it, or leave it out"
        ),
    ):
        explainer.explain(digits.X_test[:2])
    assert digits_blackbox.n_queries == 0


@pytest.mark.parametrize(
    "baseline, message",
    [
        ("blur", "baseline='blur' needs image inputs; set image_shape=(H, W)"),
        ("mean", "baseline='mean' needs background data: pass background=X_train"),
        (np.zeros(3), "a baseline array must have shape (30,), got (3,)"),
    ],
)
def test_a_baseline_a_table_cannot_take_is_refused_by_name_before_any_query(baseline, message):
    # The messages said fill=, an argument the gradient family does not have, and
    # came after the default target had been queried.
    X, box, _ = breast_cancer_box()
    with pytest.raises(ValueError, match=re.escape(message)):
        IntegratedGradients(box, baseline=baseline).explain(X[:2])
    assert box.n_queries == 0


def test_bad_target_is_refused(digits, digits_blackbox):
    with pytest.raises(ValueError, match="target"):
        Saliency(digits_blackbox).explain(digits.X_test[:2], target=[0, 10])


def test_gradients_count_queries(digits, digits_blackbox):
    before = digits_blackbox.n_queries
    IntegratedGradients(digits_blackbox, n_steps=10).explain(digits.X_test[:4], target=0)
    assert digits_blackbox.n_queries - before == 40


def test_callable_black_box_is_not_torch():
    box = BlackBox.from_callable(lambda X: np.full((len(X), 2), 0.5), n_classes=2)
    with pytest.raises(TypeError, match="callable black box"):
        Saliency(box)


def test_float32_model_gives_float32_attributions(digits, digits_blackbox, recwarn):
    X = digits.X_test[:4].copy()
    X.setflags(write=False)  # a read-only input is copied without torch's warning
    result = Saliency(digits_blackbox).explain(X)
    assert not [w for w in recwarn if "not writable" in str(w.message)]
    assert result.values.dtype == np.float32  # the model's own precision, not a copy
    assert not result.values.flags.writeable and not result.inputs.flags.writeable
    assert not np.shares_memory(result.inputs, X)


def test_undefined_gradient_gets_a_clear_error():
    import torch

    class SqrtModel(torch.nn.Module):
        """Finite outputs, but d sqrt|x| / dx is undefined at x = 0."""

        def forward(self, x):
            root = torch.sqrt(x.abs()).sum(1, keepdim=True)
            return torch.cat([root, -root], dim=1)

    box = BlackBox.from_torch(SqrtModel(), input_shape=(3,))
    X = np.array([[0.0, 1.0, 4.0], [1.0, 1.0, 1.0]])
    assert np.isfinite(box.predict_proba(X)).all()
    with pytest.raises(ValueError, match="Saliency produced non-finite attributions"):
        Saliency(box).explain(X, target=0)


@pytest.mark.parametrize("frame", [False, True], ids=["array", "dataframe"])
@pytest.mark.parametrize("explainer", [Saliency, InputXGradient])
def test_a_non_finite_attribution_names_its_row_and_target(explainer, frame):
    # It said "values contains NaN (first at index (3, 4))": the place in the array
    # explained, without the row's label or the class explained.
    import pandas as pd

    box, X_test = digits_gradient_undefined_below(0.5)
    X = X_test[:6]  # row 3 alone has pixel 4 below 0.5
    where = "row 3 of X"
    if frame:
        X = pd.DataFrame(X, index=[f"digit-{i}" for i in range(100, 106)])
        where += r", row X\.loc\['digit-103'\]"
    with pytest.raises(ValueError) as raised:
        explainer(box).explain(X, target=[0, 1, 2, 7, 4, 5])
    message = str(raised.value)
    expected = (
        rf"{explainer.__name__} produced non-finite attributions on {where}, target 7: "
        r"NaN at feature 4; the model's gradient overflowed or is undefined at this input"
    )
    assert re.fullmatch(expected, message), message


def test_integrated_gradients_with_a_gray_baseline_is_complete(digits, digits_blackbox):
    import torch

    X = digits.X_test[:8]
    result = IntegratedGradients(digits_blackbox, n_steps=300, baseline="gray").explain(X)
    with torch.no_grad():
        logits = digits_blackbox.module(torch.as_tensor(X.reshape(-1, 1, 8, 8))).numpy()
        base = digits_blackbox.module(torch.full((1, 1, 8, 8), 0.5)).numpy()
    gap = logits[np.arange(8), result.target] - base[0, result.target]
    np.testing.assert_allclose(result.values.sum(axis=1), gap, atol=3e-2)


@pytest.mark.parametrize("offset", [0.0, 1.0])  # the range, not the largest value
def test_smoothgrad_noise_scales_with_the_input_range(digits, digits_blackbox, monkeypatch, offset):
    import captum.attr

    seen = []
    real = captum.attr.Saliency.attribute

    def spy(self, inputs, *args, **kwargs):
        seen.append(inputs.detach().clone())
        return real(self, inputs, *args, **kwargs)

    monkeypatch.setattr(captum.attr.Saliency, "attribute", spy)
    X = 0.2 * digits.X_test[:4] + offset  # range 0.2 or less per row
    SmoothGrad(digits_blackbox, n_samples=400, noise_level=0.1, random_state=0).explain(X)
    noise = seen[0].reshape(4, 400, 64).numpy() - X[:, None, :]
    np.testing.assert_allclose(noise.std(axis=(1, 2)), 0.1 * np.ptp(X, axis=1), rtol=0.05)


def test_integrated_gradients_with_a_mean_baseline_is_complete(digits, digits_blackbox):
    import torch

    X = digits.X_test[:8]
    mean = digits.X_train.mean(axis=0)
    result = IntegratedGradients(
        digits_blackbox, n_steps=300, baseline="mean", background=digits.X_train
    ).explain(X)
    with torch.no_grad():
        logits = digits_blackbox.module(torch.as_tensor(X.reshape(-1, 1, 8, 8))).numpy()
        base = digits_blackbox.module(torch.as_tensor(mean.reshape(1, 1, 8, 8))).numpy()
    gap = logits[np.arange(8), result.target] - base[0, result.target]
    np.testing.assert_allclose(result.values.sum(axis=1), gap, atol=3e-2)


def test_integrated_gradients_reports_its_completeness_gap(digits):
    import torch

    model = zoo.mlp((32, 16), n_features=64, n_classes=10, random_state=0)
    X = digits.X_test[:8]
    # Four steps leave gaps of both signs, the largest in magnitude a negative one.
    result = IntegratedGradients(BlackBox.from_torch(model, input_shape=(64,)), n_steps=4).explain(
        X
    )
    with torch.no_grad():
        logits = model(torch.as_tensor(X)).numpy()
        base = model(torch.zeros(1, 64)).numpy()
    rows = np.arange(8)
    gap = result.values.sum(axis=1) - (logits[rows, result.target] - base[0, result.target])
    np.testing.assert_allclose(result.meta["delta"], gap, atol=1e-5)
    assert result.meta["max_abs_delta"] == pytest.approx(np.abs(gap).max(), abs=1e-5)


def _linear_torch_box(batch_size=4096):
    """A float64 linear layer 64 -> 3: every gradient method's answer is known exactly."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Linear(64, 3).double()
    box = BlackBox.from_torch(model, input_shape=(64,), batch_size=batch_size)
    return box, model.weight.detach().numpy().copy()


def test_per_row_targets_on_a_linear_model(digits):
    box, W = _linear_torch_box()
    X, target = digits.X_test[:5], np.array([0, 1, 2, 2, 1])
    np.testing.assert_allclose(Saliency(box).explain(X, target=target).values, np.abs(W[target]))
    np.testing.assert_allclose(
        InputXGradient(box).explain(X, target=target).values, X * W[target], atol=1e-12
    )


@pytest.mark.parametrize("cls", [IntegratedGradients, DeepLift])
@pytest.mark.parametrize("baseline", ["gray", "blur"])
def test_baselines_are_exact_on_a_linear_model_across_chunks(cls, baseline, digits):
    # A linear model: both methods give (x - baseline) * w_target exactly. Batches of 20
    # rows make integrated gradients (10 steps) run 2 instances per chunk, so a blurred
    # baseline, one per image, must follow its rows from chunk to chunk.
    from scipy.ndimage import gaussian_filter

    from unboxed.local._base import BLUR_SIGMA

    box, W = _linear_torch_box(batch_size=20)
    X, target = digits.X_test[:5], np.array([0, 1, 2, 2, 1])
    kwargs = {"n_steps": 10} if cls is IntegratedGradients else {}
    result = cls(box, baseline=baseline, image_shape=(8, 8), **kwargs).explain(X, target=target)
    if baseline == "gray":
        reference = np.full_like(X, 0.5)
    else:
        reference = np.stack([gaussian_filter(x.reshape(8, 8), BLUR_SIGMA).ravel() for x in X])
    np.testing.assert_allclose(result.values, (X - reference) * W[target], atol=1e-10)
    np.testing.assert_allclose(result.meta["delta"], 0.0, atol=1e-6)


@pytest.mark.parametrize(
    ("cls", "kwargs", "queries"),
    [
        (SmoothGrad, {}, 25),
        (SmoothGrad, {"n_samples": 7}, 7),
        (IntegratedGradients, {}, 50),
    ],
)
def test_default_evaluations_per_row_are_counted(cls, kwargs, queries, digits):
    box, _ = _linear_torch_box()
    extra = {"random_state": 0} if cls is SmoothGrad else {}
    cls(box, **kwargs, **extra).explain(digits.X_test[:3], target=0)
    assert box.n_queries == 3 * queries


def test_chunks_keep_each_forward_pass_within_the_batch_size(digits):
    # 10 integrated-gradient steps per row and batches of 20: two rows per Captum call.
    box, _ = _linear_torch_box(batch_size=20)
    sizes = []
    box.module.register_forward_hook(lambda module, args, out: sizes.append(args[0].shape[0]))
    IntegratedGradients(box, n_steps=10).explain(digits.X_test[:5], target=0)
    assert sizes and max(sizes) <= 20


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [(IntegratedGradients, {"n_steps": 50}), (SmoothGrad, {"n_samples": 50, "random_state": 0})],
)
def test_more_evaluations_per_row_than_the_batch_size_still_keep_within_it(cls, kwargs, digits):
    # 50 steps (or noisy copies) of one row and batches of 20: a chunk of one row sent
    # all 50 through the network at once, past the batch size the user set to bound
    # memory (n_steps=10**12 then raised MemoryError, blamed on the black box).
    box, _ = _linear_torch_box(batch_size=20)
    X = digits.X_test[:3]
    whole = cls(_linear_torch_box()[0], **kwargs).explain(X, target=0)
    sizes = []
    box.module.register_forward_hook(lambda module, args, out: sizes.append(args[0].shape[0]))
    result = cls(box, **kwargs).explain(X, target=0)
    assert sizes and max(sizes) <= 20
    np.testing.assert_allclose(result.values, whole.values, rtol=1e-12, atol=1e-12)
    if cls is IntegratedGradients:
        np.testing.assert_allclose(result.meta["delta"], whole.meta["delta"], atol=1e-10)


def test_smoothgrad_default_noise_is_0_15_of_each_row_s_range():
    """d(x0^2)/dx0 = 2 x0: at x0 = 0 SmoothGrad averages |2 sigma e|, whose mean is
    2 sigma sqrt(2 / pi), with sigma = 0.15 (max(x) - min(x)) for each row."""
    import torch

    class Square(torch.nn.Module):
        def forward(self, x):
            return torch.stack([x[:, 0] ** 2, -(x[:, 0] ** 2)], dim=1)

    box = BlackBox.from_torch(Square().double(), input_shape=(2,))
    X = np.array([[0.0, 1.0], [0.0, 3.0]])  # ranges 1 and 3
    values = SmoothGrad(box, n_samples=4000, random_state=0).explain(X, target=0).values
    np.testing.assert_allclose(
        values[:, 0], 2 * 0.15 * np.array([1, 3]) * np.sqrt(2 / np.pi), rtol=0.05
    )
    np.testing.assert_array_equal(values[:, 1], 0.0)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda box: IntegratedGradients(box, n_steps=0), "n_steps"),
        (lambda box: SmoothGrad(box, n_samples=0), "n_samples"),
        (lambda box: SmoothGrad(box, noise_level=-0.1), "noise_level"),
        (lambda box: SmoothGrad(box, noise_level=float("nan")), "noise_level"),
        (lambda box: IntegratedGradients(box, baseline="purple"), "baseline must be"),
        (lambda box: DeepLift(box, baseline="purple"), "baseline must be"),
    ],
)
def test_bad_settings_are_refused_when_the_explainer_is_made(make, message):
    box, _ = _linear_torch_box()
    with pytest.raises(ValueError, match=message):
        make(box)


@pytest.mark.parametrize(
    "cls", [Saliency, InputXGradient, IntegratedGradients, DeepLift, SmoothGrad]
)
@pytest.mark.parametrize("verbose", [True, False])
def test_verbose_shows_a_bar_over_the_chunks_and_false_prints_nothing(cls, verbose, digits, capfd):
    # Long runs (integrated gradients on thousands of images) show their progress; the
    # bar is named after the method and silenced by verbose=False, the default.
    box, _ = _linear_torch_box(batch_size=20)
    X = digits.X_test[:5]
    result = cls(box, verbose=verbose).explain(X, target=0)
    assert_progress_shown(capfd, verbose, result.meta["method"])
    assert cls(box).verbose is False


def test_set_params_n_steps_changes_the_query_count_with_the_steps(digits):
    # evals_per_row used to be a copy of n_steps made in __init__, which set_params
    # left at the old value.
    model = zoo.mlp((8,), n_features=64, n_classes=10, random_state=0)
    X = digits.X_test[:3]

    def queries(explainer):
        before = explainer.blackbox.n_queries
        explainer.explain(X, target=0)
        return explainer.blackbox.n_queries - before

    box = BlackBox.from_torch(model, input_shape=(64,))
    changed = IntegratedGradients(box, n_steps=50).set_params(n_steps=4)
    assert changed.evals_per_row == 4
    assert queries(changed) == queries(IntegratedGradients(box, n_steps=4)) < 50 * 3


def test_set_params_background_as_a_list_changes_the_next_integrated_gradients(digits):
    model = zoo.mlp((8,), n_features=64, n_classes=10, random_state=0)
    box = BlackBox.from_torch(model, input_shape=(64,))
    X, old, new = digits.X_test[:3], digits.X_train[:5], digits.X_train[5:9]
    changed = IntegratedGradients(box, n_steps=4, baseline="mean", background=old)
    changed.set_params(background=new.tolist())  # checked and converted where it is used
    fresh = IntegratedGradients(box, n_steps=4, baseline="mean", background=new)
    np.testing.assert_allclose(
        changed.explain(X, target=0).values, fresh.explain(X, target=0).values
    )


@pytest.mark.parametrize("cls", [IntegratedGradients, DeepLift])
def test_background_of_the_wrong_width_is_refused_when_made_and_set(digits_blackbox, cls):
    with pytest.raises(ValueError, match="background must have 64 features"):
        cls(digits_blackbox, baseline="mean", background=np.zeros((3, 5)))
    explainer = cls(digits_blackbox)
    with pytest.raises(ValueError, match="background must have 64 features"):
        explainer.set_params(background=np.zeros((3, 5)))
    assert explainer.background is None  # a refused value changes nothing


def test_a_torch_black_box_given_names_passes_them_on(planted):
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(20, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    box = BlackBox.from_torch(module, input_shape=(20,), feature_names=PLANTED_COLUMNS)
    X = planted.X_test[:4]
    for explainer in (Saliency(box), IntegratedGradients(box, n_steps=8)):
        assert explainer.explain(X).feature_names == PLANTED_COLUMNS
    unnamed = BlackBox.from_torch(module, input_shape=(20,))
    assert Saliency(unnamed).explain(X).feature_names is None


def test_target_is_a_label_where_the_torch_black_box_is_given_labels(digits, digits_lenet):
    X = digits.X_test[:4]
    plain = BlackBox.from_torch(digits_lenet, input_shape=(1, 8, 8))
    named = BlackBox.from_torch(
        digits_lenet, input_shape=(1, 8, 8), classes=[f"digit {d}" for d in range(10)]
    )
    by_label = Saliency(named).explain(X, target="digit 7")
    np.testing.assert_array_equal(by_label.values, Saliency(plain).explain(X, target=7).values)
    assert np.array_equal(by_label.target, [7] * 4)
    with pytest.raises(ValueError, match="not a class of"):
        Saliency(named).explain(X, target=7)


def _noisy_inputs(monkeypatch):
    """The rows SmoothGrad sends to Captum's saliency, recorded."""
    import captum.attr

    seen = []
    real = captum.attr.Saliency.attribute

    def spy(self, inputs, *args, **kwargs):
        seen.append(inputs.detach().double().numpy().copy())
        return real(self, inputs, *args, **kwargs)

    monkeypatch.setattr(captum.attr.Saliency, "attribute", spy)
    return seen


def test_smoothgrad_noise_scale_sets_each_feature_s_std_on_raw_tabular_data(monkeypatch):
    # Breast cancer's raw features range from 1e-3 to 4e3: 0.15 of a row's range is a
    # noise of 28 to 638 in every feature. noise_scale gives each feature its own.
    X_all, box, _ = breast_cancer_box()
    # Each row gets standard normal draws of its own: 2 x 10000 of them.
    X, scale = X_all[:2], 0.15 * X_all.std(0)
    seen = _noisy_inputs(monkeypatch)
    SmoothGrad(box, n_samples=10000, noise_scale=scale, random_state=0).explain(X)
    noise = np.concatenate(seen).reshape(2, 10000, 30) - X[:, None, :]
    np.testing.assert_allclose(noise.std(axis=(0, 1)), scale, rtol=0.03)
    assert np.all(np.abs(noise.mean(axis=(0, 1))) < 0.05 * scale)


def test_smoothgrad_noise_scale_averages_the_gradient_at_each_feature_s_own_spread():
    """d(x_j^2)/dx_j = 2 x_j: at x = 0 SmoothGrad averages |2 sigma_j e|, whose mean is
    2 sigma_j sqrt(2 / pi), with sigma_j the feature's own noise scale."""

    class Squares(torch.nn.Module):
        def forward(self, x):
            return torch.stack([(x**2).sum(1), -(x**2).sum(1)], dim=1)

    box = BlackBox.from_torch(Squares().double(), input_shape=(3,))
    scale = np.array([1e-3, 1.0, 1e3])
    values = SmoothGrad(box, n_samples=4000, noise_scale=scale, random_state=0).explain(
        np.zeros((2, 3)), target=0
    )
    np.testing.assert_allclose(
        values.values, 2 * scale * np.sqrt(2 / np.pi) * np.ones((2, 1)), rtol=0.05
    )
    assert values.meta["parameters"]["noise_scale"] == scale.tolist()
    assert values.meta["parameters"]["noise_level"] is None


def test_smoothgrad_noise_scale_as_a_number_an_image_or_a_flat_row_is_the_same(
    digits, digits_blackbox
):
    X = digits.X_test[:4]

    def explain(noise_scale):
        explainer = SmoothGrad(
            digits_blackbox, n_samples=8, noise_scale=noise_scale, random_state=0
        )
        return explainer.explain(X, target=1).values

    flat = explain(np.full(64, 0.1))
    np.testing.assert_array_equal(explain(0.1), flat)
    np.testing.assert_array_equal(explain(np.full((8, 8), 0.1)), flat)
    np.testing.assert_array_equal(explain(np.full((1, 8, 8), 0.1)), flat)
    assert not np.array_equal(explain(np.linspace(0.0, 0.2, 64)), flat)


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        ({"noise_scale": np.ones(5)}, ValueError, r"noise_scale has shape \(5,\); expected"),
        ({"noise_scale": np.ones((64, 2))}, ValueError, "noise_scale has shape"),
        ({"noise_scale": -0.1}, ValueError, "noise_scale must be >= 0"),
        ({"noise_scale": np.r_[-1.0, np.ones(63)]}, ValueError, "noise_scale must be >= 0"),
        ({"noise_scale": np.r_[np.nan, np.ones(63)]}, ValueError, "noise_scale must be finite"),
        ({"noise_scale": [np.inf] * 64}, ValueError, "noise_scale must be finite"),
        ({"noise_scale": "wide"}, TypeError, "noise_scale must be numeric"),
        ({"noise_scale": True}, TypeError, "noise_scale must be a number"),
        # numpy's bools were read as 1.0/0.0: a scale of 1 pixel value, or a mask's.
        ({"noise_scale": np.True_}, TypeError, "noise_scale must be a number.*got np.True_"),
        ({"noise_scale": np.asarray(True)}, TypeError, "noise_scale must be a number"),
        ({"noise_scale": np.ones(64, bool)}, TypeError, r"got bools of shape \(64,\)"),
        ({"noise_scale": 0.1, "noise_level": 0.1}, ValueError, "not both"),
    ],
)
def test_a_bad_noise_scale_is_refused_when_made_and_set(digits_blackbox, settings, error, message):
    with pytest.raises(error, match=message):
        SmoothGrad(digits_blackbox, **settings)
    explainer = SmoothGrad(digits_blackbox)
    with pytest.raises(error, match=message):
        explainer.set_params(**settings)


def test_smoothgrad_s_default_noise_is_unchanged_on_digits(digits):
    # Pinned since each row's noise is seeded from its own values (it was pinned from
    # the release before noise_scale): the default is still 0.15 of each row's range.
    model = zoo.mlp((32, 16), n_features=64, n_classes=10, random_state=0)
    box = BlackBox.from_torch(model, input_shape=(64,))
    result = SmoothGrad(box, random_state=0).explain(digits.X_test[:6])
    np.testing.assert_allclose(
        result.values[0, :4], [0.00407089, 0.0042304, 0.01872702, 0.01364699], rtol=1e-5
    )
    assert result.meta["parameters"]["noise_level"] == 0.15
    assert result.meta["parameters"]["noise_scale"] is None


@pytest.mark.parametrize("noise", [{}, {"noise_scale": 0.5}])
@pytest.mark.parametrize("seed", [3, "generator"])
def test_smoothgrad_gives_a_row_the_same_noise_alone_or_in_a_batch(
    noise, seed, digits, digits_blackbox, monkeypatch
):
    """Row i of explain(X) gets the noise that explain(X[i:i+1]) gets, from the same int
    seed or a Generator in the same state: one seed per call, from which every row's
    noise starts. Before, the noise was drawn for the whole chunk, so a row's depended
    on its place in the batch."""
    X = digits.X_test[:5]

    def make():
        state = np.random.default_rng(8) if seed == "generator" else seed
        return SmoothGrad(digits_blackbox, n_samples=6, random_state=state, **noise)

    seen = _noisy_inputs(monkeypatch)
    make().explain(X)
    batch = np.concatenate(seen).reshape(5, 6, 64)
    for i in range(len(X)):
        seen.clear()
        make().explain(X[i : i + 1])
        assert np.array_equal(np.concatenate(seen).reshape(6, 64), batch[i]), i


class _RowExact(torch.nn.Module):
    """tanh of elementwise products summed over a strided axis: a row's output and
    gradient are the same bit for bit whatever rows it is sent with (no BLAS product,
    whose blocking depends on the number of rows)."""

    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.weight = torch.nn.Parameter(torch.randn(64, 10, generator=generator) / 4)

    def forward(self, x):
        return torch.tanh((x.reshape(len(x), -1, 1) * self.weight).sum(dim=1))


def test_smoothgrad_explains_a_row_alike_alone_or_in_a_batch(digits):
    box = BlackBox.from_torch(_RowExact().double(), input_shape=(64,))
    X = digits.X_test[:5].reshape(5, -1)
    batch = SmoothGrad(box, n_samples=6, random_state=3).explain(X)
    for i in range(len(X)):
        alone = SmoothGrad(box, n_samples=6, random_state=3).explain(X[i : i + 1])
        assert np.array_equal(batch.values[i], alone.values[0]), i


def test_smoothgrad_explains_a_row_alike_at_any_place_in_a_shuffled_batch(digits):
    box = BlackBox.from_torch(_RowExact().double(), input_shape=(64,))
    X = digits.X_test[:5].reshape(5, -1)
    batch = SmoothGrad(box, n_samples=6, random_state=3).explain(X)
    perm = np.array([2, 4, 0, 3, 1])
    shuffled = SmoothGrad(box, n_samples=6, random_state=3).explain(X[perm])
    for place, i in enumerate(perm):
        assert np.array_equal(shuffled.values[place], batch.values[i]), i


def test_smoothgrad_gives_different_rows_their_own_noise_and_equal_rows_the_same(
    digits, digits_blackbox, monkeypatch
):
    """Each row's noise comes from the call's seed and the row's values: two different
    rows get independent standard normal draws (from the seed alone they got the same
    ones, so their errors did not average out over the rows), the same row twice the
    same draws and the same map."""
    X = digits.X_test[[0, 1, 0]]
    seen = _noisy_inputs(monkeypatch)
    result = SmoothGrad(digits_blackbox, n_samples=6, random_state=3).explain(X)
    noise = np.concatenate(seen).reshape(3, 6, 64) - X[:, None, :]
    standard = noise / (0.15 * np.ptp(X, axis=1))[:, None, None]
    assert np.abs(standard[0] - standard[1]).max() > 0.1
    np.testing.assert_array_equal(noise[0], noise[2])
    np.testing.assert_array_equal(result.values[0], result.values[2])


def test_a_noise_scale_series_is_read_by_its_feature_names(planted, planted_logreg):
    # noise_scale=0.15 * X_train.std() is a pandas Series; in another column order
    # than the model's, each feature got another feature's noise.
    import pandas as pd

    from tests.helpers import torch_logistic_regression

    box = BlackBox.from_torch(
        torch_logistic_regression(planted_logreg), input_shape=(20,), feature_names=PLANTED_COLUMNS
    )
    scale = np.linspace(0.01, 0.3, 20)  # distinct per feature, so an order shows
    series = pd.Series(scale, index=list(PLANTED_COLUMNS)).iloc[::-1]
    X = planted.X_test[:4]

    def smooth(noise_scale):
        return SmoothGrad(box, noise_scale=noise_scale, n_samples=8, random_state=0).explain(X)

    expected = smooth(scale).values
    assert not np.array_equal(smooth(scale[::-1].copy()).values, expected)  # order matters
    np.testing.assert_array_equal(smooth(series).values, expected)


def test_a_background_beside_a_baseline_other_than_mean_is_refused(digits, digits_blackbox):
    # It was ignored: the baseline stayed 0 whatever the background.
    explainer = IntegratedGradients(digits_blackbox, n_steps=4, background=digits.X_train[:50])
    with pytest.raises(ValueError, match=r"background is used only by baseline='mean'"):
        explainer.explain(digits.X_test[:2])


class _RefusesNegativeDoses(torch.nn.Module):
    """A torch model that raises on any row whose first feature is negative."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        if bool((x[:, 0] < 0).any()):
            raise ValueError("negative dose")
        return self.fc(x)


@pytest.mark.parametrize(
    "cls", [Saliency, InputXGradient, IntegratedGradients, SmoothGrad, DeepLift]
)
@pytest.mark.parametrize("target", [1, None])  # None: the predicted class's query fails
def test_a_model_that_raises_on_one_row_of_a_dataframe_names_its_label(cls, target):
    # It said "on row 6 of the 10 rows queried" only, where predict_proba, gradient
    # and features add the row's label: row 6 of a split is not X.loc[6].
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    _, X = train_test_split(load_iris(as_frame=True).data, test_size=10, random_state=0)
    X = X.copy()
    X.iloc[6, 0] = -1.0  # the second batch of 4 rows (4..7) holds row 6
    label = X.index[6]
    assert label != 6
    torch.manual_seed(0)
    bb = BlackBox.from_torch(_RefusesNegativeDoses(), input_shape=(4,), batch_size=4)
    with pytest.raises(BlackBoxError) as raised:
        cls(bb).explain(X, target=target)
    assert str(raised.value) == (
        "black box '_RefusesNegativeDoses' raised ValueError on row 6 of the 10 rows "
        f"queried, row X.loc[{label}]: negative dose"
    )
    with pytest.raises(BlackBoxError, match=r"on row 6 of the 10 rows queried: negative dose$"):
        cls(bb).explain(X.to_numpy(), target=target)  # no labels
