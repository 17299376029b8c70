"""Infidelity (Yeh et al. 2019): Captum's reference, ground truth, determinism, errors."""

import re

import numpy as np
import pytest
import torch
from captum.metrics import infidelity as captum_infidelity
from captum.metrics import infidelity_perturb_func_decorator
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from tests.helpers import iris_refusing_a_petal_of_4, no_zero_dose_for_the_old
from unboxed import Attribution, BlackBox, BlackBoxError
from unboxed.evaluate import _infidelity, infidelity
from unboxed.local import IntegratedGradients, Lime, segment


# ---------------------------------------------------------------------- the math
def test_the_terms_against_brute_force():
    rng = np.random.default_rng(0)
    predicted, effect = rng.normal(size=(5, 30)), rng.normal(size=(5, 30))
    predicted[4] = 0.0  # an attribution that predicts no effect at all
    raw, one, response = _infidelity._infidelity_terms(predicted, effect, normalize=False)
    np.testing.assert_allclose(raw, np.mean((predicted - effect) ** 2, axis=1))
    np.testing.assert_array_equal(one, 1.0)
    np.testing.assert_allclose(response, np.mean(effect**2, axis=1))
    best, beta, _ = _infidelity._infidelity_terms(predicted, effect, normalize=True)
    grid = np.linspace(-3, 3, 60001)
    for row in range(4):  # beta minimises the error over every other scale
        errors = np.mean((grid[:, None] * predicted[row] - effect[row]) ** 2, axis=1)
        assert abs(beta[row] - grid[errors.argmin()]) <= 1e-4
        assert best[row] <= errors.min()
    assert beta[4] == 0 and best[4] == response[4]
    assert np.all(best <= raw) and np.all(best <= response)


# ---------------------------------------------------------------------- Captum's reference
@pytest.fixture(scope="module")
def digits_mlp(digits):
    """A float64 MLP trained on digits here, so that Captum and unboxed agree to 1e-6."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 16), torch.nn.Tanh(), torch.nn.Linear(16, 10)
    ).double()
    X = torch.as_tensor(digits.X_train, dtype=torch.float64)
    y = torch.as_tensor(digits.y_train)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(X), y).backward()
        optimizer.step()
    return model.eval()


def _recording_box(model):
    """A black box over ``model``'s softmax that keeps every batch it is sent."""
    sent = []

    def predict(X):
        sent.append(np.array(X))
        with torch.no_grad():
            return torch.softmax(model(torch.as_tensor(X)), dim=1).numpy()

    return BlackBox.from_callable(predict, n_classes=10, input_shape=(64,)), sent


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize(
    ("perturbation", "settings"),
    [("gaussian", {"scale": 0.2}), ("removal", {"p_remove": 0.3, "fill": "mean"})],
)
def test_infidelity_agrees_with_captum_on_the_same_perturbations(
    digits, digits_mlp, normalize, perturbation, settings
):
    X = digits.X_test[:12].astype(np.float64)
    target = np.argmax(digits_mlp(torch.as_tensor(X)).detach().numpy(), axis=1)
    box, sent = _recording_box(digits_mlp)
    # A real attribution (integrated gradients of the probability), and one with noise.
    x = torch.as_tensor(X).requires_grad_(True)
    proba = torch.softmax(digits_mlp(x), dim=1)[torch.arange(12), torch.as_tensor(target)]
    gradient = torch.autograd.grad(proba.sum(), x)[0].numpy()
    values = gradient if perturbation == "gaussian" else gradient * (X - X.mean(axis=0))
    values = values + 0.5 * np.abs(values).mean() * np.random.default_rng(1).normal(size=X.shape)
    explained = Attribution(values, target)
    n_perturb = 7
    ours = infidelity(
        box, X, explained, perturbation=perturbation, n_perturb=n_perturb,
        normalize=normalize, random_state=0, **settings,
    )  # fmt: skip
    # What the black box was sent: X first, then every row's perturbed copies in
    # Captum's repeat_interleave order. Captum derives I from them itself.
    perturbed = torch.as_tensor(np.concatenate(sent)[12:])
    assert perturbed.shape == (12 * n_perturb, 64)
    baseline = torch.as_tensor(np.broadcast_to(X.mean(axis=0), X.shape).copy())
    removal = perturbation == "removal"

    @infidelity_perturb_func_decorator(multiply_by_inputs=removal)
    def perturb(inputs, baselines=None):
        return perturbed

    def forward(inputs):
        return torch.softmax(digits_mlp(inputs), dim=1)

    reference = captum_infidelity(
        forward, perturb, torch.as_tensor(X), torch.as_tensor(values),
        baselines=baseline if removal else None, target=torch.as_tensor(target),
        n_perturb_samples=n_perturb, normalize=normalize,
    ).numpy()  # fmt: skip
    np.testing.assert_allclose(ours.infidelity, reference, rtol=1e-6)
    assert np.all(reference > 1e-8)  # far from zero: the tolerance is a relative one


# ---------------------------------------------------------------------- ground truth
def _linear_box(w):
    """A black box whose class-1 probability is linear in x: 0.5 + x . w."""

    def predict(X):
        p1 = 0.5 + X @ w
        return np.stack([1 - p1, p1], axis=1)

    return BlackBox.from_callable(predict, n_classes=2, input_shape=(w.size,))


@pytest.mark.parametrize(
    ("perturbation", "settings"), [("gaussian", {"scale": 0.1}), ("removal", {})]
)
def test_the_exact_attribution_of_a_linear_model_has_no_infidelity(perturbation, settings):
    rng = np.random.default_rng(0)
    w = 0.01 * rng.normal(size=20)
    X = rng.uniform(-1, 1, size=(40, 20))  # p1 stays within 0.5 +- 0.2
    box = _linear_box(w)
    # Per unit for noise; for removal (to zero) the effect of each feature, w * x.
    exact = np.tile(w, (40, 1)) if perturbation == "gaussian" else w * X
    shuffled = np.stack([rng.permutation(row) for row in exact])
    common = dict(perturbation=perturbation, target=1, n_perturb=100, random_state=0, **settings)
    good = infidelity(box, X, exact, **common)
    bad = infidelity(box, X, shuffled, **common)
    assert np.all(good.infidelity < 1e-20) and np.all(good.relative < 1e-12)
    np.testing.assert_allclose(good.beta, 1.0, rtol=1e-9)
    assert bad.mean_relative.mean > 0.7 and bad.mean_relative.ci[0] > good.mean_relative.ci[1]
    assert np.all((0 <= bad.relative) & (bad.relative <= 1))
    # Without normalizing, the units count: ten times the attribution errs by 9 x effect.
    raw = infidelity(box, X, 10 * exact, normalize=False, **common)
    np.testing.assert_allclose(raw.relative, 81.0, rtol=1e-9)
    np.testing.assert_allclose(raw.beta, 1.0)
    scaled = infidelity(box, X, 10 * exact, **common)  # normalized: the units do not
    np.testing.assert_allclose(scaled.beta, 0.1, rtol=1e-9)
    assert np.all(scaled.infidelity < 1e-20)


def test_removal_counts_only_the_features_it_changed():
    # Features at the fill value are not perturbed by removing them; an attribution
    # that puts weight on them must not be charged for it.
    rng = np.random.default_rng(0)
    w = 0.01 * rng.normal(size=20)
    X = rng.uniform(-1, 1, size=(30, 20))
    X[:, :10] = 0.0  # already at the zero fill
    exact = w * X
    exact[:, :10] = rng.normal(size=(30, 10))  # weight the removal cannot show
    result = infidelity(_linear_box(w), X, exact, perturbation="removal", target=1, random_state=0)
    assert np.all(result.infidelity < 1e-20)


def test_gradient_noise_and_removal_effects_beat_random_attributions_on_digits(
    digits, digits_blackbox, rng
):
    X = digits.X_test[:40]
    target = digits_blackbox.predict(X)
    random = rng.normal(size=X.shape)
    # Integrated gradients share f(x) - f(0) out among the pixels: removal to zero.
    ig = IntegratedGradients(digits_blackbox, n_steps=16).explain(X, target=target)
    lime = Lime(digits_blackbox, segmenter="pixels", n_samples=300, random_state=0).explain(
        X, target=target
    )
    removal = dict(perturbation="removal", p_remove=0.2, n_perturb=40, random_state=0)
    against = infidelity(digits_blackbox, X, random, target=target, **removal).mean_relative
    for attribution in (ig, lime):
        result = infidelity(digits_blackbox, X, attribution, **removal)
        assert result.mean_relative.ci[1] < against.ci[0], attribution.meta["method"]
    # The signed gradient of the class probability predicts small noise.
    x = digits_blackbox._tensor(X).requires_grad_(True)
    proba = torch.softmax(digits_blackbox.module(x), dim=1)[torch.arange(40), target]
    gradient = torch.autograd.grad(proba.sum(), x)[0].reshape(40, -1).double().numpy()
    noise = dict(perturbation="gaussian", scale=0.02, n_perturb=40, target=target, random_state=0)
    good = infidelity(digits_blackbox, X, gradient, **noise).mean_relative
    bad = infidelity(digits_blackbox, X, random, **noise).mean_relative
    assert good.ci[1] < 0.2 < bad.ci[0]


# ---------------------------------------------------------------------- the draws
@pytest.mark.parametrize(
    ("perturbation", "settings"),
    [
        ("gaussian", {"scale": 0.3}),
        ("removal", {}),
        ("removal", {"segments": np.arange(64) // 8, "fill": "mean"}),
    ],
)
def test_the_same_seed_gives_the_same_figures_whatever_the_chunk_size(
    digits, monkeypatch, perturbation, settings
):
    # Row sums, not a matrix product: each row's probability is the same bit for bit
    # in a batch of any size (a float32 network's need not be), so any difference
    # would be the draws'.
    w = np.random.default_rng(2).normal(size=64)
    box = _sigmoid_box(w)
    X = digits.X_test[:9].astype(np.float64)
    values = np.random.default_rng(3).normal(size=(9, 64))
    common = dict(perturbation=perturbation, n_perturb=5, random_state=7, **settings)
    first = infidelity(box, X, values, **common)
    again = infidelity(box, X, values, **common)
    monkeypatch.setattr(_infidelity, "CHUNK_ELEMENTS", 2 * 5 * 64)  # two rows a chunk
    chunked = infidelity(box, X, values, **common)
    for result in (again, chunked):
        for name in ("infidelity", "relative", "beta", "response"):
            np.testing.assert_array_equal(getattr(result, name), getattr(first, name))
        assert result.mean_relative == first.mean_relative
    other = infidelity(box, X, values, **{**common, "random_state": 8})
    assert not np.array_equal(other.infidelity, first.infidelity)
    assert first.meta["seed"] == 7 and first.meta["n_perturb"] == 5


def _sigmoid_box(w, sent=None):
    def predict(X):
        if sent is not None:
            sent.append(np.array(X))
        p1 = 1 / (1 + np.exp(-np.sum(X * w, axis=1)))
        return np.stack([1 - p1, p1], axis=1)

    return BlackBox.from_callable(predict, n_classes=2, input_shape=(w.size,))


def test_removal_by_segments_removes_whole_segments():
    sent = []
    box = _sigmoid_box(np.full(12, 0.1), sent)
    X = np.arange(1.0, 25.0).reshape(2, 12)
    # Row 0 in three blocks of four; row 1 in two ids far apart, interleaved.
    segments = np.stack([np.arange(12) // 4, np.where(np.arange(12) % 2, 10**9, 3)])
    infidelity(
        box, X, np.ones((2, 12)), perturbation="removal", segments=segments, n_perturb=20,
        target=1, random_state=0,
    )  # fmt: skip
    removed = (np.concatenate(sent)[2:] == 0).reshape(2, 20, 12)
    for row in range(2):
        for label in np.unique(segments[row]):
            part = removed[row][:, segments[row] == label]
            assert np.all(part == part[:, :1])  # all of a segment or none of it
    assert 0 < removed.mean() < 1
    assert len(sent[0]) == 2 and sum(map(len, sent)) == 42  # f(x), then 20 per row


def test_segments_of_one_feature_each_are_the_features(digits, digits_blackbox):
    X = digits.X_test[:6]
    values = np.random.default_rng(0).normal(size=(6, 64))
    common = dict(perturbation="removal", n_perturb=10, random_state=0)
    by_feature = infidelity(digits_blackbox, X, values, **common)
    by_segment = infidelity(digits_blackbox, X, values, segments=np.arange(64), **common)
    np.testing.assert_array_equal(by_feature.infidelity, by_segment.infidelity)
    assert by_segment.meta["unit"] == "segment" and by_feature.meta["unit"] == "feature"


def test_removal_reads_segments_in_the_images_shape(digits, digits_blackbox):
    # They were refused in the LeNet's input_shape (1, 8, 8): "segments must be int
    # labels of shape (6, 64) or (64,), got int64 (6, 8, 8)".
    X = digits.X_test[:6]
    values = np.random.default_rng(0).normal(size=(6, 64))
    flat = segment(X, (8, 8), method="slic", n_segments=6)
    common = dict(perturbation="removal", n_perturb=10, random_state=0)
    reference = infidelity(digits_blackbox, X, values, segments=flat, **common)
    for shaped in (flat.reshape(6, 1, 8, 8), flat.reshape(6, 8, 8)):
        result = infidelity(digits_blackbox, X, values, segments=shaped, **common)
        np.testing.assert_array_equal(result.infidelity, reference.infidelity)
        assert result.meta["unit"] == "segment"


def test_a_row_the_perturbations_do_not_move_has_no_relative_figure():
    def predict(X):
        # Saturated (exactly 1) wherever the first feature is above 5.
        p1 = np.where(X[:, 0] > 5, 1.0, 1 / (1 + np.exp(-X.sum(axis=1))))
        return np.stack([1 - p1, p1], axis=1)

    box = BlackBox.from_callable(predict, n_classes=2, input_shape=(3,))
    X = np.array([[10.0, 0, 0], [0.1, 0.2, 0.3], [0.0, -0.5, 0.2]])
    result = infidelity(box, X, np.ones((3, 3)), scale=0.1, target=1, random_state=0)
    assert result.response[0] == 0 and np.isnan(result.relative[0])
    assert np.all(np.isfinite(result.relative[1:])) and result.meta["n_flat"] == 1
    assert result.mean_relative.n == 2 and result.mean_infidelity.n == 3
    with pytest.raises(ValueError, match="no perturbation of any row moved"):
        infidelity(box, X[:1], np.ones((1, 3)), scale=0.1, target=1)


def test_a_perturbation_that_changes_nothing_has_no_effect_whatever_the_batch():
    """f(x) and f(x - I) come from batches of other sizes; a model whose output moves
    with the batch size in the last bits (as float32 rounding does) showed an effect
    of about 1e-8 for a removal that changed nothing, and a row already at the fill
    got a relative figure of 1 instead of NaN."""

    def predict(X):
        p1 = 1 / (1 + np.exp(-X.sum(axis=1))) * 0.5 + len(X) * 1e-9
        return np.stack([1 - p1, p1], axis=1)

    box = BlackBox.from_callable(predict, n_classes=2, input_shape=(3,))
    X = np.array([[0.0, 0.0, 0.0], [0.5, -1.0, 2.0]])  # the first is all fill already
    result = infidelity(
        box, X, np.ones((2, 3)), perturbation="removal", target=1, n_perturb=20, random_state=0
    )
    assert result.response[0] == 0 and np.isnan(result.relative[0])
    assert result.infidelity[0] == 0 and result.meta["n_flat"] == 1
    assert result.response[1] > 0.01 and np.isfinite(result.relative[1])


# ---------------------------------------------------------------------- bad input
def _box_and_rows():
    w = 0.01 * np.arange(1.0, 7.0)
    return _linear_box(w), np.random.default_rng(0).uniform(-1, 1, size=(4, 6))


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        ({"perturbation": "blur", "scale": 0.1}, ValueError, "perturbation must be one of"),
        ({"perturbation": np.array([1, 2]), "scale": 0.1}, ValueError, "perturbation must be"),
        ({"scale": 0.1, "p_remove": 0.5, "fill": 0.0}, ValueError, "p_remove, fill only apply"),
        ({}, ValueError, r"'gaussian' needs scale.* 0\.1 \* X_train\.std\(\), for a table"),
        ({"scale": 0.1, "p_remove": 0.5}, ValueError, "p_remove only applies to .*removal"),
        ({"scale": 0.1, "fill": "mean"}, ValueError, "fill only applies"),
        ({"scale": 0.1, "segments": np.arange(6)}, ValueError, "segments only applies"),
        ({"perturbation": "removal", "scale": 0.1}, ValueError, "scale only applies"),
        ({"scale": 0.0}, ValueError, "scale must be a finite number > 0"),
        ({"scale": np.nan}, ValueError, "scale must be a finite number"),
        ({"scale": np.zeros(6)}, ValueError, "positive in at least one feature"),
        ({"scale": np.ones(5)}, ValueError, "scale has shape"),
        ({"scale": np.ones(6, bool)}, TypeError, r"scale must be a number .*bools of shape \(6,\)"),
        ({"scale": 1e308}, ValueError, "scale is too large for float64"),
        ({"scale": 0.1, "n_perturb": 0}, ValueError, "n_perturb"),
        ({"scale": 0.1, "normalize": "yes"}, TypeError, "normalize must be True or False"),
        ({"perturbation": "removal", "p_remove": 0.0}, ValueError, "p_remove must be"),
        ({"perturbation": "removal", "p_remove": 1.5}, ValueError, "p_remove must be"),
        ({"perturbation": "removal", "fill": "grey"}, ValueError, "fill must be one of"),
        ({"perturbation": "removal", "fill": "positive_mean"}, ValueError, "fill must be 'zero'"),
        ({"perturbation": "removal", "fill": np.zeros(5)}, ValueError, r"fill must have shape"),
        (
            {"perturbation": "removal", "segments": np.arange(5)},
            ValueError,
            "segments must be int labels",
        ),
        ({"scale": 0.1, "target": 2}, ValueError, "target"),
    ],
)
def test_bad_settings_are_refused_before_any_query(settings, error, message):
    box, X = _box_and_rows()
    with pytest.raises(error, match=message):
        infidelity(box, X, np.ones((4, 6)), **settings)
    if "too large" not in message:  # the overflow shows only in the draws, after f(x)
        assert box.n_queries == 0


def test_bad_attributions_are_refused():
    box, X = _box_and_rows()
    with pytest.raises(ValueError, match=r"attribution has shape \(4, 5\); expected \(4, 6\)"):
        infidelity(box, X, np.ones((4, 5)), scale=0.1)
    with pytest.raises(ValueError, match=r"attribution has shape \(3, 6\)"):
        infidelity(box, X, np.ones((3, 6)), scale=0.1)
    nan = np.ones((4, 6))
    nan[1, 2] = np.nan
    with pytest.raises(ValueError, match="attribution.*NaN"):
        infidelity(box, X, nan, scale=0.1)
    with pytest.raises(TypeError, match="float scores, got dtype int64"):
        infidelity(box, X, np.ones((4, 6), dtype=np.int64), scale=0.1)
    with pytest.raises(TypeError, match="attribution must be an Attribution or an array"):
        infidelity(box, X, "saliency", scale=0.1)
    with pytest.raises(ValueError, match="the attribution has 3 rows but X has 4"):
        infidelity(box, X, Attribution(np.ones((3, 6)), np.ones(3, int)), scale=0.1)
    with pytest.raises(ValueError, match="covers 5 features but X has 6"):
        infidelity(box, X, Attribution(np.ones((4, 5)), np.ones(4, int)), scale=0.1)
    elsewhere = Attribution(np.ones((4, 6)), np.ones(4, int), inputs=X + 1)
    with pytest.raises(ValueError, match="explains other inputs than X"):
        infidelity(box, X, elsewhere, scale=0.1)
    explained = Attribution(np.ones((4, 6)), np.ones(4, int), inputs=X)
    with pytest.raises(ValueError, match="other classes than the attribution"):
        infidelity(box, X, explained, scale=0.1, target=np.zeros(4, int))
    with pytest.raises(ValueError, match="explains class 5, but the black box has 2"):
        infidelity(box, X, Attribution(np.ones((4, 6)), np.full(4, 5)), scale=0.1)
    bad_X = X.copy()
    bad_X[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity|inf"):
        infidelity(box, bad_X, np.ones((4, 6)), scale=0.1)
    with pytest.raises(TypeError, match="must be an unboxed.BlackBox"):
        infidelity(box.predict_proba, X, np.ones((4, 6)), scale=0.1)
    assert box.n_queries == 0
    # The right attribution with its own target and inputs passes.
    assert infidelity(box, X, explained, scale=0.1, target=1).infidelity.shape == (4,)


def test_an_image_shaped_attribution_array_is_read_flat(digits, digits_blackbox):
    X = digits.X_test[:3]
    values = np.random.default_rng(0).normal(size=(3, 64))
    flat = infidelity(digits_blackbox, X, values, scale=0.1, random_state=0)
    shaped = infidelity(digits_blackbox, X, values.reshape(3, 1, 8, 8), scale=0.1, random_state=0)
    np.testing.assert_array_equal(flat.infidelity, shaped.infidelity)


def test_a_scale_series_is_read_by_its_feature_names(planted, planted_named_blackbox):
    # scale=0.1 * X_train.std() is a pandas Series; in another column order than the
    # model's, each feature got another feature's noise.
    import pandas as pd

    from tests.helpers import PLANTED_COLUMNS

    X = planted.X_test[:20]
    attribution = Attribution(np.tile(_support_weights(planted), (20, 1)), np.zeros(20, int))
    scale = np.linspace(0.01, 0.3, 20)  # distinct per feature, so an order shows
    series = pd.Series(scale, index=list(PLANTED_COLUMNS)).iloc[::-1]

    def measure(value):
        result = infidelity(
            planted_named_blackbox, X, attribution, scale=value, n_perturb=5, random_state=0
        )
        return result.infidelity

    expected = measure(scale)
    assert not np.array_equal(measure(scale[::-1].copy()), expected)  # order matters
    np.testing.assert_array_equal(measure(series), expected)


def _support_weights(planted):
    """Weights that single out the planted support, an attribution of every row."""
    weights = np.zeros(planted.n_features)
    weights[planted.support] = 1.0
    return weights


def test_a_model_that_raises_on_a_perturbation_names_it_and_its_row_of_x():
    # It said "on row 52 of the 60 rows queried", of an X of 3 rows: the rows were the
    # perturbed copies x - I, numbered within all of them.
    batches: list[np.ndarray] = []
    box = BlackBox.from_callable(no_zero_dose_for_the_old(batches), n_classes=2)
    X = np.full((3, 5), 0.5)
    X[2, 4] = 1.0  # only row 2's perturbations that remove feature 0 alone raise
    with pytest.raises(BlackBoxError) as raised:
        infidelity(box, X, np.ones((3, 5)), perturbation="removal", n_perturb=20, random_state=4)
    message = str(raised.value)
    found = re.fullmatch(
        r"black box 'no_zero_dose_for_the_old' raised ValueError on perturbation (\d+) "
        r"of 20 of row 2 of X: no zero dose past 0.9",
        message,
    )
    assert found, message
    perturbed = batches[1].reshape(3, 20, 5)[2]  # batches[0]: X itself
    raising = (perturbed[:, 0] == 0) & (perturbed[:, 4] > 0.9)
    assert int(found[1]) == np.flatnonzero(raising)[0] > 0


@pytest.mark.parametrize(
    ("spared_calls", "place"),
    [
        (0, r"row 1 of the 6 rows queried"),  # the base query, f(x)
        (1, r"perturbation \d+ of 20 of row 1 of X"),  # f(x - I): f(x) was answered
    ],
    ids=["base", "perturbation"],
)
def test_a_model_that_raises_on_a_dataframes_row_names_it_by_its_label(spared_calls, place):
    # It said "on row 1 of the 6 rows queried" and "on perturbation 3 of 20 of row 1 of
    # X" alone, where predict_proba and the local explainers add the row's label: row 1
    # of a split is not X.loc[1].
    box, X = iris_refusing_a_petal_of_4(spared_calls)
    with pytest.raises(BlackBoxError) as raised:
        # Removal to 0 keeps row 1's petal length of 4.0 wherever it leaves feature 2.
        infidelity(box, X, np.ones(X.shape), perturbation="removal", n_perturb=20, n_boot=10)
    message = str(raised.value)
    expected = (
        rf"black box 'refuses_a_petal_of_4' raised ValueError on {place}, "
        r"row X\.loc\['flower-62'\]: petal length 4\.0"
    )
    assert re.fullmatch(expected, message), message


def test_a_flat_models_expected_shapes_are_named_once():
    # A flat input_shape (4,) gave its shape twice: "expected (5, 4) or (5, 4), as X"
    # (and, through check_per_feature, "scale ... shape (4,) or (4,)").
    X, y = load_iris(return_X_y=True)
    box = BlackBox.from_sklearn(LogisticRegression(max_iter=500).fit(X, y))
    with pytest.raises(
        ValueError, match=r"attribution has shape \(5, 3\); expected \(5, 4\), as X$"
    ):
        infidelity(box, X[:5], np.ones((5, 3)), scale=0.1)
    with pytest.raises(ValueError, match=r"one value per feature, shape \(4,\)$"):
        infidelity(box, X[:5], np.ones((5, 4)), scale=np.ones(3))


@pytest.mark.parametrize(
    ("setting", "number"),
    [
        ({"scale": np.asarray(0.1)}, 0.1),
        ({"perturbation": "removal", "p_remove": np.asarray(0.3)}, 0.3),
    ],
    ids=["scale", "p_remove"],
)
def test_infidelity_takes_a_0d_array_for_a_number(digits, digits_blackbox, setting, number):
    # np.asarray(0.1) was refused: "scale must be a finite number > 0, got array(0.1)".
    X = digits.X_test[:3]
    values = np.random.default_rng(0).normal(size=(3, 64))
    common = {"n_perturb": 10, "n_boot": 10, "random_state": 0}
    plain = {
        key: number if isinstance(value, np.ndarray) else value for key, value in setting.items()
    }
    expected = infidelity(digits_blackbox, X, values, **plain, **common)
    result = infidelity(digits_blackbox, X, values, **setting, **common)
    np.testing.assert_array_equal(result.infidelity, expected.infidelity)
    assert result.meta == expected.meta


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"n_perturb": 10**30}, f"n_perturb={10**30} is too large"),
        ({"n_perturb": 2**50}, f"n_perturb={2**50} is too large"),  # (3, 2**50) fits no memory
        ({"n_boot": 10**30}, f"n_boot={10**30} is too large"),
    ],
)
def test_counts_beyond_memory_are_refused_before_any_query(settings, message):
    # n_perturb=10**30 failed in numpy ("Maximum allowed dimension exceeded") after
    # f(x) was queried; n_boot=10**30 drew bootstrap means without end (and memory)
    # after every perturbation had been scored.
    def never(X):
        raise AssertionError("the black box was queried")

    X = load_iris().data[:3]
    box = BlackBox.from_callable(never, n_classes=3, input_shape=(4,))
    values = np.ones((3, 4))
    with pytest.raises(ValueError, match=re.escape(message)):
        infidelity(box, X, values, scale=0.1, target=0, random_state=0, **settings)


@pytest.mark.parametrize("unit", [2.0**-600, 2.0**560])
def test_an_attribution_in_tiny_or_huge_units_scores_as_itself_when_normalized(unit):
    # normalize=True makes the figures scale-free, yet an attribution of 2**-600
    # (squares underflowing to 0) was scored as the zero attribution (beta 0, relative
    # 1), and one of 2**560 overflowed to NaN.
    X, y = load_iris(return_X_y=True)
    box = BlackBox.from_sklearn(LogisticRegression(max_iter=500).fit(X, y))
    rows = X[::15]
    values = np.random.default_rng(0).normal(size=rows.shape)
    settings = {"scale": 0.1, "n_perturb": 8, "n_boot": 20, "random_state": 0}
    plain = infidelity(box, rows, values, **settings)
    scaled = infidelity(box, rows, values * unit, **settings)  # a power of two: exact
    np.testing.assert_array_equal(scaled.infidelity, plain.infidelity)
    np.testing.assert_array_equal(scaled.relative, plain.relative)
    np.testing.assert_array_equal(scaled.beta, plain.beta / unit)
    assert np.all(plain.relative < 1)


def test_an_attribution_too_large_to_square_without_normalize_is_refused():
    X, y = load_iris(return_X_y=True)
    box = BlackBox.from_sklearn(LogisticRegression(max_iter=500).fit(X, y))
    values = np.full((3, 4), 1e200)
    with pytest.raises(ValueError, match=r"too large for normalize=False: I \. a reaches"):
        infidelity(box, X[:3], values, scale=0.1, normalize=False, random_state=0)


def test_a_huge_noise_scale_is_scored_not_overflowed():
    # scale=1e200: (I . a)^2 overflowed in beta's sums (a RuntimeWarning, then NaN).
    X, y = load_iris(return_X_y=True)
    box = BlackBox.from_sklearn(LogisticRegression(max_iter=500).fit(X, y))
    values = np.random.default_rng(0).normal(size=(10, 4))
    result = infidelity(box, X[::15], values, scale=1e200, n_perturb=8, n_boot=20, random_state=0)
    assert np.all(np.isfinite(result.infidelity)) and np.all(np.isfinite(result.beta))
    assert 0 <= result.mean_relative.mean <= 1
