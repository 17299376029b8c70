import functools
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator
from sklearn.datasets import load_breast_cancer, load_digits, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from tests.helpers import PLANTED_COLUMNS
from unboxed import BlackBox, BlackBoxError, NotFittedError, zoo
from unboxed.blackbox import PROBABILITY_TOLERANCE, _float_output, _row_of_x, perturbation_name
from unboxed.local import IntegratedGradients, Lime, Saliency


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def test_torch_probabilities_match_softmax_of_logits(digits, digits_lenet):
    bb = BlackBox.from_torch(digits_lenet, input_shape=(1, 8, 8))
    X = digits.X_test[:50]
    proba = bb.predict_proba(X)
    with torch.no_grad():
        logits = digits_lenet(torch.as_tensor(X).reshape(-1, 1, 8, 8)).double().numpy()
    assert proba.dtype == np.float64 and proba.shape == (50, 10)
    np.testing.assert_allclose(proba, softmax(logits), atol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    assert np.array_equal(bb.predict(X), logits.argmax(axis=1))
    assert bb.n_classes == 10 and bb.n_features == 64


def test_inputs_may_be_flat_or_shaped_and_batching_is_invisible(digits, digits_lenet):
    X = digits.X_test[:37]
    bb = BlackBox.from_torch(digits_lenet, input_shape=(1, 8, 8), batch_size=5)
    flat = bb.predict_proba(X)
    shaped = bb.predict_proba(X.reshape(-1, 1, 8, 8))
    whole = BlackBox.from_torch(digits_lenet, input_shape=(1, 8, 8)).predict_proba(X)
    np.testing.assert_allclose(flat, shaped)
    np.testing.assert_allclose(flat, whole, atol=1e-6)


def test_n_queries_counts_rows(digits_blackbox, digits):
    assert digits_blackbox.n_queries == 0
    digits_blackbox.predict_proba(digits.X_test[:30])
    digits_blackbox.predict(digits.X_test[:12])
    assert digits_blackbox.n_queries == 42


def test_probability_output_module():
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Softmax(dim=1))
    bb = BlackBox.from_torch(module, input_shape=(4,), output="probabilities")
    X = np.random.default_rng(0).normal(size=(6, 4))
    with torch.no_grad():
        expected = module(torch.as_tensor(X, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(bb.predict_proba(X), expected / expected.sum(1, keepdims=True))
    assert bb.layer_names()[-1] == "output"


def test_a_module_that_ends_in_a_softmax_read_as_logits_is_warned_of():
    torch.manual_seed(0)
    softmaxed = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Softmax(dim=1))
    with pytest.warns(UserWarning, match="output='probabilities'"):
        BlackBox.from_torch(softmaxed, input_shape=(4,))  # flattened its answers silently
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        BlackBox.from_torch(softmaxed, input_shape=(4,), output="probabilities")
        BlackBox.from_torch(torch.nn.Linear(4, 3), input_shape=(4,))


def test_a_parameter_free_or_saturated_softmax_is_warned_of():
    # Without parameters the module gets the float32 tolerance (no dtype to read one
    # from); a confident softmax rounds its smallest probabilities to exactly 0.
    confident = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Softmax(dim=1))
    with torch.no_grad():
        confident[0].bias.copy_(torch.tensor([200.0, 0.0, 0.0]))
    for module in (torch.nn.Softmax(dim=1), confident):
        with pytest.warns(UserWarning, match="output='probabilities'"):
            BlackBox.from_torch(module, input_shape=(4,))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_a_half_precision_module_that_ends_in_a_softmax_is_warned_of(dtype):
    # Seed 3: its row sums to 1 - 1.8e-4 in float16 (1 + 4.9e-4 in bfloat16), off by
    # more than a float32 softmax's 1e-6, which a fixed 1e-5 threshold took for
    # logits; the warning allows the module's own rounding, as predict_proba does.
    torch.manual_seed(3)
    softmaxed = torch.nn.Sequential(torch.nn.Linear(4, 10), torch.nn.Softmax(dim=1)).to(dtype)
    with pytest.warns(UserWarning, match="output='probabilities'"):
        BlackBox.from_torch(softmaxed, input_shape=(4,))


class _Shifts(torch.nn.Module):
    """A model that changes its input in place before reading it."""

    def forward(self, x):
        return torch.nn.functional.linear(x.sub_(0.5), torch.ones(2, 4))


def test_a_model_that_changes_its_input_in_place_leaves_the_callers_array_alone(rng):
    X = rng.normal(size=(5, 4)).astype(np.float32)
    before = X.copy()
    bb = BlackBox.from_torch(_Shifts(), input_shape=(4,))
    bb.predict_proba(X)
    bb.features(X, "logits")
    np.testing.assert_array_equal(X, before)

    def shifts(Z):
        Z *= 0.0
        return np.full((len(Z), 2), 0.5)

    BlackBox.from_callable(shifts, n_classes=2).predict_proba(X)
    np.testing.assert_array_equal(X, before)


def test_a_float64_output_the_model_keeps_is_neither_written_nor_returned():
    # A float64 answer is read without a copy: the model's own array (here one it keeps
    # and answers every call with) must not be clipped or renormalised in place, nor
    # come back as predict_proba's result, through which a caller would change it.
    kept = np.array(
        [
            [-1e-6, 0.5, 0.500001],  # clipped to [0, 1]
            [0.3333, 0.3333, 0.3333],  # rounded to 4 decimals: renormalised
            [0.2, 0.3, 0.5],
        ]
    )
    before = kept.copy()
    frozen = kept.view()
    frozen.setflags(write=False)  # a model's cached answer may be read-only
    answers = (lambda X: kept[: len(X)], lambda X: frozen[: len(X)])
    for answer in (*answers, lambda X: _frame_of(kept[: len(X)])):
        bb = BlackBox.from_callable(answer, n_classes=3)
        proba = bb.predict_proba(np.zeros((3, 4)))
        np.testing.assert_array_equal(kept, before)
        assert not np.shares_memory(proba, kept)
        np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=0, atol=1e-12)
        assert proba[0, 0] == 0 and np.allclose(proba[1], 1 / 3)
        proba[:] = 7.0  # the caller's result is its own
        np.testing.assert_array_equal(kept, before)
    # What makes the checks above matter: the answer is read as it is, not copied.
    assert _float_output(kept, "kept")[0] is kept


def _frame_of(values):
    """A DataFrame that holds ``values`` without a copy, as a model may return one."""
    import pandas as pd

    frame = pd.DataFrame(values, copy=False)
    assert np.shares_memory(np.asarray(frame), values)
    return frame


def test_sklearn_matches_the_estimator(planted, planted_logreg):
    bb = BlackBox.from_sklearn(planted_logreg)
    np.testing.assert_allclose(
        bb.predict_proba(planted.X_test), planted_logreg.predict_proba(planted.X_test)
    )
    assert bb.kind == "sklearn" and bb.input_shape == (20,) and bb.n_classes == 2


def test_sklearn_fitted_on_a_dataframe_is_called_with_its_columns(planted):
    # Tabular models are often fitted on a DataFrame, and a pipeline may pick its
    # columns by name: on bare arrays it raised, and every other estimator warned on
    # every query that X has no feature names.
    import pandas as pd
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    names = [f"f{j}" for j in range(planted.n_features)]
    frame = pd.DataFrame(planted.X_train, columns=names)
    picked = make_column_transformer((StandardScaler(), ["f0", "f1", "f2", "f3"]))
    pipe = make_pipeline(picked, LogisticRegression()).fit(frame, planted.y_train)
    plain = LogisticRegression().fit(frame, planted.y_train)
    X = planted.X_test[:30]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sklearn's "X does not have valid feature names"
        for estimator in (pipe, plain):
            bb = BlackBox.from_sklearn(estimator)
            np.testing.assert_allclose(
                bb.predict_proba(X), estimator.predict_proba(pd.DataFrame(X, columns=names))
            )
            np.testing.assert_allclose(
                bb.predict_proba(pd.DataFrame(X, columns=names)[:5]),
                estimator.predict_proba(pd.DataFrame(X[:5], columns=names)),
            )


def test_a_binary_model_with_one_output_is_told_to_return_two_columns(rng):
    # A tabular binary classifier often ends in one logit (BCEWithLogitsLoss) or one
    # probability. Refused, as before, but the message says what to return instead.
    one_logit = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    for output in ("logits", "probabilities"):
        with pytest.raises(ValueError, match=r"at least 2 classes.*one output.*two columns"):
            BlackBox.from_torch(one_logit, input_shape=(5,), output=output)
    p1 = BlackBox.from_callable(lambda X: 1 / (1 + np.exp(-X[:, 0])), n_classes=2)
    with pytest.raises(ValueError, match=r"returned shape \(3,\); expected \(3, 2\).*1 - p"):
        p1.predict_proba(rng.normal(size=(3, 5)))


def test_callable_with_and_without_input_shape(rng):
    W = rng.normal(size=(5, 3))

    def model(X):
        return softmax(X.reshape(len(X), -1) @ W)

    X = rng.normal(size=(8, 5))
    np.testing.assert_allclose(
        BlackBox.from_callable(model, n_classes=3).predict_proba(X), model(X)
    )
    shaped = BlackBox.from_callable(model, n_classes=3, input_shape=(5,))
    np.testing.assert_allclose(shaped.predict_proba(X), model(X))
    assert shaped.name == "model"


def test_gradient_matches_finite_differences(digits_blackbox, digits):
    X = digits.X_test[:3].astype(np.float64)
    target = np.array([0, 3, 7])
    grad = digits_blackbox.gradient(X, target)
    assert grad.shape == (3, 64)
    module = digits_blackbox.module.double()
    try:
        eps = 1e-6
        for j in (10, 27, 44):
            step = np.zeros_like(X)
            step[:, j] = eps
            with torch.no_grad():
                up = module(torch.as_tensor(X + step).reshape(-1, 1, 8, 8)).numpy()
                down = module(torch.as_tensor(X - step).reshape(-1, 1, 8, 8)).numpy()
            numeric = (up - down)[np.arange(3), target] / (2 * eps)
            # the float64 finite difference approximates the float32 gradient
            np.testing.assert_allclose(grad[:, j], numeric, rtol=1e-3, atol=1e-4)
    finally:
        module.float()


def test_gradient_and_features_need_torch(planted_blackbox, planted):
    with pytest.raises(TypeError, match="needs a torch model.*from_torch"):
        planted_blackbox.gradient(planted.X_test[:2], 1)
    with pytest.raises(TypeError, match="needs a torch model"):
        planted_blackbox.features(planted.X_test[:2], "fc1")


def test_features_capture_named_layers(digits_blackbox, digits):
    X = digits.X_test[:7]
    pooled = digits_blackbox.features(X, "pool2")
    assert pooled.shape == (7, 16, 2, 2)
    logits = digits_blackbox.features(X, "logits")
    np.testing.assert_allclose(
        softmax(logits.astype(np.float64)), digits_blackbox.predict_proba(X), atol=1e-6
    )
    hidden = digits_blackbox.features(X, "act3")
    assert hidden.shape == (7, 120) and hidden.min() >= 0
    with pytest.raises(ValueError, match="has no layer 'conv9'; choose from"):
        digits_blackbox.features(X, "conv9")


# --------------------------------------------------------------------- bad input
def test_wrong_input_shape(digits_blackbox):
    with pytest.raises(ValueError, match=r"expects \(n_samples, 64\)"):
        digits_blackbox.predict_proba(np.zeros((3, 65)))
    with pytest.raises(ValueError, match="single sample"):
        digits_blackbox.predict_proba(np.zeros(64))


def test_a_flat_input_shape_is_offered_once(digits):
    # A model of flat rows offered "(n_samples, 64) or (n_samples, 64)".
    tree = DecisionTreeClassifier(max_depth=3, random_state=0)
    box = BlackBox.from_sklearn(tree.fit(digits.X_train, digits.y_train))
    with pytest.raises(ValueError, match=r"expects \(n_samples, 64\)$"):
        box.predict_proba(digits.X_test[:3, :10])


def test_nan_and_inf_in_X(digits_blackbox):
    X = np.zeros((4, 64))
    X[2, 5] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN \(first at index \(2, 5\)\)"):
        digits_blackbox.predict_proba(X)
    X[2, 5] = np.inf
    with pytest.raises(ValueError, match="X contains infinity"):
        digits_blackbox.predict(X)


def test_empty_X(digits_blackbox):
    with pytest.raises(ValueError, match="X is empty"):
        digits_blackbox.predict_proba(np.zeros((0, 64)))


def test_non_numeric_X(digits_blackbox):
    with pytest.raises(TypeError, match="must be numeric"):
        digits_blackbox.predict_proba(np.array([["a"] * 64]))


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (lambda X: np.full((len(X), 2), 0.5), r"returned shape \(\d+, 2\); expected \(\d+, 3\)"),
        (lambda X: np.full((len(X) + 1, 3), 1 / 3), "returned shape"),
        (lambda X: np.full((len(X), 3), np.nan), "NaN or infinite"),
        (lambda X: np.full((len(X), 3), 2.0), r"outside \[0, 1\].*logits"),
        (lambda X: np.full((len(X), 3), 0.2), "not probabilities: row 0 of X sums to 0.6"),
        (lambda X: "nonsense", "not a numeric array|returned shape"),
    ],
)
def test_callable_returning_bad_output(output, message):
    bb = BlackBox.from_callable(output, n_classes=3, name="bad-model")
    with pytest.raises(ValueError, match=message) as info:
        bb.predict_proba(np.zeros((4, 2)))
    assert "bad-model" in str(info.value)


def test_logits_are_refused_with_the_fix_for_the_kind_of_black_box(planted, planted_logreg):
    # A callable's logits were told to use from_torch(..., output='logits'), which
    # takes no function: the fix is a softmax in the function itself.
    def logits(X):
        z = planted_logreg.decision_function(X)
        return np.stack([-z, z], axis=1)

    with pytest.raises(ValueError, match=r"outside \[0, 1\].*are these logits") as info:
        BlackBox.from_callable(logits, n_classes=2).predict_proba(planted.X_test[:5])
    assert "scipy.special.softmax(logits, axis=1)" in str(info.value)
    assert "from_torch" not in str(info.value)
    module = torch.nn.Linear(20, 2)
    with torch.no_grad():  # logits of 5 for both classes, whatever the row
        module.weight.zero_()
        module.bias.fill_(5.0)
    as_probabilities = BlackBox.from_torch(module, input_shape=(20,), output="probabilities")
    with pytest.raises(
        ValueError, match=r"logits\? Use BlackBox.from_torch\(\.\.\., output='logits'\)"
    ):
        as_probabilities.predict_proba(planted.X_test[:5])


def test_model_that_raises_is_named():
    def broken(X):
        raise RuntimeError("out of memory")

    bb = BlackBox.from_callable(broken, n_classes=2)
    with pytest.raises(BlackBoxError, match="'broken' raised RuntimeError.*out of memory"):
        bb.predict(np.zeros((2, 3)))
    assert bb.n_queries == 0


def _raises_on_negative_first_feature(X):
    if np.any(X[:, 0] < 0):
        raise ValueError("negative dose")
    return np.tile([0.25, 0.75], (len(X), 1))


def test_a_model_that_raises_on_one_row_names_that_row_of_x():
    # It said only "on a batch of 10 rows", leaving the user to find the row.
    bb = BlackBox.from_callable(_raises_on_negative_first_feature, n_classes=2, batch_size=4)
    X = np.ones((10, 3))
    X[[6, 9], 0] = -1.0  # the second batch (rows 4..7) holds row 6
    with pytest.raises(BlackBoxError) as raised:
        bb.predict_proba(X)
    assert str(raised.value) == (
        "black box '_raises_on_negative_first_feature' raised ValueError on row 6 of the "
        "10 rows queried: negative dose"
    )
    assert isinstance(raised.value.__cause__, ValueError)
    assert bb.n_queries == 4  # the first batch, which ran


def test_a_model_that_raises_on_one_row_of_a_dataframe_names_its_label():
    # It said "on row 6 of the 10 rows queried" only: row 6 of a split is not
    # X.loc[6], so the user looked up another row (or none), where the checks of X
    # name the label.
    from sklearn.model_selection import train_test_split

    _, X = train_test_split(load_iris(as_frame=True).data, test_size=10, random_state=0)
    X = X.copy()
    X.iloc[[6, 9], 0] = -1.0  # the second batch (rows 4..7) holds row 6
    label = X.index[6]
    assert label != 6
    bb = BlackBox.from_callable(_raises_on_negative_first_feature, n_classes=2, batch_size=4)
    with pytest.raises(BlackBoxError) as raised:
        bb.predict_proba(X)
    assert str(raised.value) == (
        "black box '_raises_on_negative_first_feature' raised ValueError on row 6 of the "
        f"10 rows queried, row X.loc[{label}]: negative dose"
    )
    with pytest.raises(BlackBoxError, match=r"on row 6 of the 10 rows queried: negative"):
        bb.predict_proba(X.to_numpy())  # no labels
    torch.manual_seed(0)
    module = BlackBox.from_torch(_RefusesNegativeDoses(), input_shape=(3,), batch_size=4)
    frame = X.iloc[:, :3]
    for call in (lambda: module.gradient(frame, 1), lambda: module.features(frame, "fc")):
        with pytest.raises(BlackBoxError) as raised:
            call()
        assert str(raised.value) == (
            "black box '_RefusesNegativeDoses' raised ValueError on row 6 of the 10 rows "
            f"queried, row X.loc[{label}]: negative dose"
        )


def test_probabilities_outside_zero_one_name_the_first_row():
    # It gave only the extremes, "(min -4.2, max 6.1)": the user searched all of X
    # for the input whose answer was logits. A DataFrame's row is named by its label.
    from sklearn.model_selection import train_test_split

    X_all, y_all = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=500).fit(X_all.to_numpy(), y_all)

    def proba(X):
        out = model.predict_proba(X)
        long = X[:, 2] > 100  # a model that answers such a petal with its logits
        if long.any():
            out[long] = model.decision_function(X[long])
        return out

    bb = BlackBox.from_callable(proba, n_classes=3, input_shape=(4,), batch_size=4)
    _, X = train_test_split(X_all, test_size=10, random_state=0)
    X = X.copy()
    X.iloc[5, 2] = 1e3  # in the second batch, rows 4..7
    label = X.index[5]
    assert label != 5
    batch = proba(X.to_numpy()[4:8])
    extremes = f"min {batch.min():.6g}, max {batch.max():.6g}"
    with pytest.raises(ValueError) as raised:
        bb.predict_proba(X)
    assert str(raised.value).startswith(
        "black box 'proba' returned values outside [0, 1] "
        f"(first on row 5 of X, row X.loc[{label}]; {extremes}); are these logits?"
    )
    with pytest.raises(ValueError, match=rf"\(first on row 5 of X; {extremes}\)"):
        bb.predict_proba(X.to_numpy())  # no labels
    with pytest.raises(ValueError, match=r"\(first on perturbation 1 of 2 of row 2 of X; min"):
        bb._proba_rows(X.to_numpy(), perturbation_name(0, 2))  # rows the caller made


def test_a_batch_that_fails_only_as_a_whole_says_so():
    def no_more_than_two(X):
        if len(X) > 2:
            raise RuntimeError("out of memory")
        return np.tile([0.5, 0.5], (len(X), 1))

    bb = BlackBox.from_callable(no_more_than_two, n_classes=2)
    with pytest.raises(
        BlackBoxError,
        match=r"on a batch of 3 rows \(0\.\.2 of the 3 queried\), "
        r"though none of them raised alone: out of memory",
    ):
        bb.predict(np.zeros((3, 2)))


def test_a_batch_of_a_dataframe_that_fails_only_as_a_whole_names_its_labels():
    # It gave the positions alone, "(4..7 of the 10 queried)": rows 4..7 of a split
    # are not df.loc[4:7], where a single failing row is named by its label.
    import pandas as pd
    from sklearn.model_selection import train_test_split

    def no_more_than_three(X):
        if len(X) > 3:
            raise RuntimeError("out of memory")
        return np.tile([0.5, 0.5], (len(X), 1))

    _, X = train_test_split(load_iris(as_frame=True).data, test_size=10, random_state=0)
    first, last = X.index[0], X.index[3]
    assert (first, last) != (0, 3)
    bb = BlackBox.from_callable(no_more_than_three, n_classes=2, batch_size=4)
    with pytest.raises(BlackBoxError) as raised:
        bb.predict_proba(X)
    assert str(raised.value) == (
        "black box 'no_more_than_three' raised RuntimeError on a batch of 4 rows (0..3 of "
        f"the 10 queried, rows X.loc[{first}] to X.loc[{last}]), though none of them raised "
        "alone: out of memory"
    )
    # An end whose label is its own position is named by it all the same.
    X.index = [0, 1, 2, 30, *range(4, 10)]
    with pytest.raises(BlackBoxError, match=r"queried, rows X\.loc\[0\] to X\.loc\[30\]\), "):
        bb.predict_proba(X)
    # An end without a label (None) is named by its position, as a single row is: it
    # read X.loc[3], which is no row of X.
    X.index = pd.Index(["a", "b", "c", None, *"efghij"], dtype=object)
    with pytest.raises(BlackBoxError, match=r"queried, rows X\.loc\['a'\] to X\.iloc\[3\]\), "):
        bb.predict_proba(X)
    X.index = pd.Index([None, "b", "c", "d", *"efghij"], dtype=object)
    with pytest.raises(BlackBoxError, match=r"queried, rows X\.iloc\[0\] to X\.loc\['d'\]\), "):
        bb.predict_proba(X)
    X.index = range(10)  # labels that are the positions add nothing
    with pytest.raises(BlackBoxError, match=r"\(0\.\.3 of the 10 queried\), though none"):
        bb.predict_proba(X)


def test_rows_the_caller_made_are_named_as_it_names_them():
    # An explainer's perturbations: numbered within all rows queried, the rows read as
    # rows of X ("row 6 of the 8 rows queried", of an X of 2 rows).
    bb = BlackBox.from_callable(_raises_on_negative_first_feature, n_classes=2, batch_size=4)
    perturbed = np.ones((8, 3))
    perturbed[6, 0] = -1.0
    with pytest.raises(BlackBoxError) as raised:
        bb._proba_rows(perturbed, perturbation_name(0, 4))
    assert str(raised.value) == (
        "black box '_raises_on_negative_first_feature' raised ValueError on perturbation 2 of "
        "4 of row 1 of X: negative dose"
    )

    def no_more_than_two(X):
        if len(X) > 2:
            raise RuntimeError("out of memory")
        return np.tile([0.5, 0.5], (len(X), 1))

    bb = BlackBox.from_callable(no_more_than_two, n_classes=2)
    with pytest.raises(BlackBoxError) as raised:
        bb._proba_rows(np.zeros((6, 2)), perturbation_name(4, 3))
    assert str(raised.value) == (
        "black box 'no_more_than_two' raised RuntimeError on a batch of 6 rows (perturbation "
        "0 of 3 of row 4 of X to perturbation 2 of 3 of row 5 of X), though none of them "
        "raised alone: out of memory"
    )


def test_perturbations_of_a_dataframes_rows_are_named_by_their_labels():
    # The local explainers' perturbations of a split's rows read "of row 1 of X" alone,
    # where predict_proba names that row X.loc[62]: row 1 of a split is not X.loc[1].
    import pandas as pd

    bb = BlackBox.from_callable(_raises_on_negative_first_feature, n_classes=2, batch_size=4)
    perturbed = np.ones((8, 3))
    perturbed[6, 0] = -1.0  # perturbation 2 of the rows' second, X's row 3
    index = pd.Index(["flower-114", "flower-62", "flower-33", "flower-107"])
    of_x = functools.partial(_row_of_x, index=index)  # a row of X, as predict_proba names it
    with pytest.raises(BlackBoxError) as raised:
        bb._proba_rows(perturbed, perturbation_name(2, 4, of_x))
    assert str(raised.value) == (
        "black box '_raises_on_negative_first_feature' raised ValueError on perturbation 2 of "
        "4 of row 3 of X, row X.loc['flower-107']: negative dose"
    )
    # Labels that are the rows' positions add nothing, as predict_proba's do not.
    with pytest.raises(BlackBoxError, match=r"of 4 of row 3 of X: negative dose$"):
        of_x = functools.partial(_row_of_x, index=pd.RangeIndex(4))
        bb._proba_rows(perturbed, perturbation_name(2, 4, of_x))
    # A batch that fails whole names its ends by their labels too.
    name = perturbation_name(1, 2, functools.partial(_row_of_x, index=pd.Index([10, 20, 30])))
    assert (name(0), name(3)) == (
        "perturbation 0 of 2 of row 1 of X, row X.loc[20]",
        "perturbation 1 of 2 of row 2 of X, row X.loc[30]",
    )


def test_single_class_is_rejected(planted):
    with pytest.raises(ValueError, match="at least 2 classes"):
        BlackBox.from_callable(lambda X: np.ones((len(X), 1)), n_classes=1)
    one_class = DecisionTreeClassifier().fit(planted.X_train, np.zeros(len(planted.X_train), int))
    with pytest.raises(ValueError, match="at least 2 classes"):
        BlackBox.from_sklearn(one_class)


def test_unfitted_or_unsuitable_estimators():
    with pytest.raises(NotFittedError, match="DecisionTreeClassifier is not fitted"):
        BlackBox.from_sklearn(DecisionTreeClassifier())
    with pytest.raises(TypeError, match="has no predict_proba"):
        BlackBox.from_sklearn(object())
    with pytest.raises(TypeError, match="expects a torch.nn.Module"):
        BlackBox.from_torch(object(), input_shape=(3,))


def test_wrong_input_shape_for_a_torch_module_fails_at_construction():
    model = zoo.mlp(n_features=10, n_classes=3)
    with pytest.raises(BlackBoxError, match="check input_shape"):
        BlackBox.from_torch(model, input_shape=(11,))
    with pytest.raises(ValueError, match="input_shape must be a non-empty tuple"):
        BlackBox.from_torch(model, input_shape=())


def test_nan_logits_are_reported():
    model = zoo.mlp(n_features=4, n_classes=3)
    with torch.no_grad():
        model.fc3.bias[0] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        BlackBox.from_torch(model, input_shape=(4,)).predict_proba(np.zeros((2, 4)))


def test_torch_blackbox_pickles_for_parallel_workers(digits, digits_blackbox):
    import pickle

    clone = pickle.loads(pickle.dumps(digits_blackbox))
    X = digits.X_test[:10]
    np.testing.assert_array_equal(clone.predict_proba(X), digits_blackbox.predict_proba(X))


def test_numpy_int_n_classes_is_accepted():
    bb = BlackBox.from_callable(lambda X: np.full((len(X), 2), 0.5), n_classes=np.int64(2))
    assert bb.n_classes == 2 and isinstance(bb.n_classes, int)


class _SharedActivation(torch.nn.Module):
    """Uses one ReLU module twice, and has a submodule called "output"."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)
        self.relu = torch.nn.ReLU()
        self.output = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.output(self.relu(self.fc(self.relu(x))))


def test_features_refuse_a_layer_that_runs_twice_and_keep_real_names():
    bb = BlackBox.from_torch(_SharedActivation(), input_shape=(4,), output="probabilities")
    assert bb.layer_names() == ["fc", "relu", "output"]
    X = np.random.default_rng(0).normal(size=(5, 4))
    with pytest.raises(ValueError, match="produced 2 outputs in one forward pass"):
        bb.features(X, "relu")
    # "output" is the submodule of that name: raw scores, not probabilities
    raw = bb.features(X, "output")
    assert raw.shape == (5, 3) and not np.allclose(raw.sum(axis=1), 1.0)


class _FailsAfterTheProbes(torch.nn.Module):
    """A linear model that raises ``error`` from its third call on: the two probes at
    construction (the number of classes, the softmax check) succeed."""

    def __init__(self, error: BaseException):
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)
        self.calls = 0
        self.error = error

    def forward(self, x):
        self.calls += 1
        if self.calls > 2:
            raise self.error
        return self.fc(x)


def test_gradient_reports_a_failing_model():
    bb = BlackBox.from_torch(_FailsAfterTheProbes(RuntimeError("device lost")), input_shape=(3,))
    with pytest.raises(BlackBoxError, match="raised RuntimeError.*device lost"):
        bb.gradient(np.zeros((2, 3)), 0)


class _RefusesNegativeDoses(torch.nn.Module):
    """A torch model that raises on any row whose first feature is negative."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)

    def forward(self, x):
        if bool((x[:, 0] < 0).any()):
            raise ValueError("negative dose")
        return self.fc(x)


@pytest.mark.parametrize(
    "call",
    [
        lambda bb, X: bb.gradient(X, 1),
        lambda bb, X: bb.features(X, "fc"),
        lambda bb, X: bb.features(X, "logits"),
        lambda bb, X: Saliency(bb).explain(X, target=0),  # chunks of 4 rows
        lambda bb, X: IntegratedGradients(bb, n_steps=2).explain(X, target=0),  # of 2
    ],
    ids=["gradient", "features", "features-logits", "saliency", "integrated-gradients"],
)
def test_every_model_call_names_the_row_it_raises_on(call):
    """Only predict_proba named the row; gradient, features and the gradient
    explainers said "on a batch of 4 rows"."""
    torch.manual_seed(0)
    bb = BlackBox.from_torch(_RefusesNegativeDoses(), input_shape=(3,), batch_size=4)
    X = np.ones((10, 3))
    X[[6, 9], 0] = -1.0  # the second batch (rows 4..7) holds row 6
    with pytest.raises(BlackBoxError) as raised:
        call(bb, X)
    assert str(raised.value) == (
        "black box '_RefusesNegativeDoses' raised ValueError on row 6 of the 10 rows "
        "queried: negative dose"
    )
    assert isinstance(raised.value.__cause__, ValueError)
    assert str(raised.value.__cause__) == "negative dose"


def test_rows_within_tolerance_are_clipped_and_renormalised():
    bb = BlackBox.from_callable(lambda X: np.tile([-5e-5, 0.5, 0.50004], (len(X), 1)), n_classes=3)
    p = bb.predict_proba(np.zeros((2, 4)))
    assert p.min() >= 0.0
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-15)


@pytest.mark.parametrize("load", [load_iris, load_digits])
def test_probabilities_rounded_to_4_decimals_are_accepted_and_renormalised(load):
    # Each is off by up to 5e-5, so a row of n classes sums off 1 by up to n * 5e-5:
    # iris's row 5 summed to 1.0001 and digits' row 313 to 0.9997, both refused as
    # "not probabilities" by the tolerance of 1e-4.
    X, y = load(return_X_y=True)
    X, y = X[::3] / X.max(), y[::3]
    model = LogisticRegression(max_iter=1000).fit(X, y)
    rounded = BlackBox.from_callable(
        lambda rows: np.round(model.predict_proba(rows), 4).astype(np.float32),
        n_classes=model.classes_.size,
    )
    proba = rounded.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=0, atol=5e-4)
    np.testing.assert_array_equal(rounded.predict(X), model.predict(X))
    # Rows that are no probabilities still miss 1 by far more, and are refused.
    for fn, message in (
        (lambda rows: model.decision_function(rows), r"outside \[0, 1\].*are these logits"),
        (lambda rows: 0.99 * model.predict_proba(rows), r"sums to 0\.99, not 1$"),
    ):
        off = BlackBox.from_callable(fn, n_classes=model.classes_.size)
        with pytest.raises(ValueError, match=message):
            off.predict_proba(X)
    short = BlackBox.from_callable(lambda rows: np.tile([0.5, 0.4], (len(rows), 1)), n_classes=2)
    with pytest.raises(ValueError, match=r"row 0 of X sums to 0\.9, not 1$"):
        short.predict_proba(X[:3])


def _thousand_class_softmax(seed, scale):
    # iris through a random linear map to 1000 classes: scale 0.05 gives flat rows
    # (every class near 0.001), scale 3 peaked ones (most classes round to 0.0000).
    X = load_iris(return_X_y=True)[0]
    X = (X - X.mean(0)) / X.std(0)
    W = np.random.default_rng(seed).normal(size=(4, 1000))
    return X, functools.partial(_softmax_rows, W=W, scale=scale)


def _softmax_rows(rows, W, scale):
    logits = scale * rows @ W
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _rounded(rows, model, decimals, dtype):
    return np.round(model(rows), decimals).astype(dtype)


def _scaled(rows, model, dtype):
    return (0.95 * model(rows)).astype(dtype)


def _over(rows, model, dtype):
    rounded = np.round(model(rows), 4)
    rounded[np.arange(len(rows)), rounded.argmin(axis=1)] += 0.01
    return rounded.astype(dtype)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("scale", [0.05, 3.0])
def test_a_thousand_class_softmax_rounded_to_4_decimals_is_accepted(seed, scale):
    X, model = _thousand_class_softmax(seed, scale)
    truth = model(X)
    for decimals in (4, 5, 6):
        for dtype in (np.float64, np.float32):
            rounded = functools.partial(_rounded, model=model, decimals=decimals, dtype=dtype)
            proba = BlackBox.from_callable(rounded, n_classes=1000).predict_proba(X)
            np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
            # each value off by half a step, then renormalised by a sum within 0.6% of 1
            np.testing.assert_allclose(proba, truth, rtol=1e-2, atol=0.6 * 10.0**-decimals)
    # Every 4-decimal rounding of a distribution passes, however far its sum lands: an
    # uninformative 1500-class model's 1/1500 rounds to 0.0007, and its rows sum to 1.05.
    flat = BlackBox.from_callable(lambda rows: np.full((len(rows), 1500), 0.0007), n_classes=1500)
    np.testing.assert_allclose(flat.predict_proba(X[:2]), 1 / 1500, rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("scale", [0.05, 3.0])
def test_a_thousand_class_row_that_no_rounding_explains_is_refused(seed, scale):
    # The allowance was 1000 * 5e-5 = 0.05 for any row of 1000 classes: a softmax
    # scaled by 0.95, not rounded at all, and a rounded one 0.01 over 1 were both
    # renormalised as if rounding had moved them.
    X, model = _thousand_class_softmax(seed, scale)
    for dtype in (np.float64, np.float32):
        short = functools.partial(_scaled, model=model, dtype=dtype)
        with pytest.raises(ValueError, match=r"row \d+ of X sums to 0\.95, not 1$"):
            BlackBox.from_callable(short, n_classes=1000).predict_proba(X)
        # Rounding moves a sum up only by the classes it left nonzero, 5e-5 each: a
        # peaked row keeps a handful, a flat one all 1000 and may reach 1.05.
        if scale > 1:
            over = functools.partial(_over, model=model, dtype=dtype)
            with pytest.raises(ValueError, match=r"row \d+ of X sums to 1\.0\d*, not 1$"):
                BlackBox.from_callable(over, n_classes=1000).predict_proba(X)


def _rounded_in_float32_as_list(rows, model):
    # A float32 network's probabilities rounded to 4 decimals and sent as a list, as a
    # server's json.dumps(np.round(p, 4).tolist()) does: Python floats, float64, each
    # the float32 0.33329999 rather than 0.3333.
    return np.round(model(rows).astype(np.float32), 4).tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("scale", [0.05, 3.0])
def test_a_softmax_rounded_in_float32_and_sent_as_float64_is_accepted(seed, scale):
    # Its values lie on the 4-decimal grid only to float32's precision, and with
    # float64's they got no rounding allowance: rows of 1000 classes summing to
    # 0.994 or 1.0022 were refused, which the allowance for 4 decimals accepted before.
    X, model = _thousand_class_softmax(seed, scale)
    sent = functools.partial(_rounded_in_float32_as_list, model=model)
    proba = BlackBox.from_callable(sent, n_classes=1000).predict_proba(X)
    np.testing.assert_allclose(proba, model(X), rtol=1e-2, atol=0.6e-4)
    # A softmax scaled by 0.95 is on no grid in float32 either, and still refused.
    short = functools.partial(_scaled, model=model, dtype=np.float32)
    as_list = BlackBox.from_callable(lambda rows: short(rows).tolist(), n_classes=1000)
    with pytest.raises(ValueError, match=r"row \d+ of X sums to 0\.95, not 1$"):
        as_list.predict_proba(X)


def test_rounding_allowance_is_what_some_distribution_rounds_to():
    # Below 1: every class may have lost half a step (a 0 hid up to 5e-5); above 1:
    # only the nonzero ones can have gained it.
    from unboxed.blackbox import _rounding_allowance

    f64 = float(np.finfo(np.float64).eps)
    rows = np.array(
        [
            [0.3333, 0.3333, 0.3333, 0.0],  # 4 decimals, 3 nonzero
            [0.5, 0.49999, 0.0, 0.0],  # 5 decimals
            [1 / 3, 1 / 3, 1 / 3, 0.0],  # on no grid
        ]
    )
    below, above = _rounding_allowance(rows, f64)
    np.testing.assert_allclose(below, [4 * 5e-5, 4 * 5e-6, 0.0], rtol=1e-12)
    np.testing.assert_allclose(above, [3 * 5e-5, 2 * 5e-6, 0.0], rtol=1e-12)
    # a float32 0.3333 is 0.33329999: on the grid to float32's precision, not float64's
    stored = rows[:1].astype(np.float32).astype(np.float64)
    assert _rounding_allowance(stored, f64)[0][0] == 0.0
    f32 = float(np.finfo(np.float32).eps)
    np.testing.assert_allclose(_rounding_allowance(stored, f32)[0], [4 * 5e-5], rtol=1e-12)
    # The worst case stays accepted: [0.95007, 4.998e-5 * 999] rounds to [0.9501, 0,
    # ..., 0], whose sum no allowance that refuses 0.95 could accept.
    worst = BlackBox.from_callable(
        lambda X: np.eye(1, 1000).repeat(len(X), axis=0) * 0.9501, n_classes=1000
    )
    np.testing.assert_array_equal(worst.predict_proba(np.zeros((2, 3))), np.eye(1, 1000)[[0, 0]])


def test_a_rounded_row_of_zeros_is_refused_not_renormalised_to_nan():
    # Over 20000 classes or more, a flat softmax rounded to 4 decimals is all zeros
    # (each 1/21000 below 5e-5): within the rounding allowance (21000 * 5e-5 > 1),
    # and renormalised as 0 / 0, NaN rows (numpy's "invalid value" warning) returned
    # as probabilities.
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=0.01, size=(3, 21000))
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    rounded = np.round(softmax, 4)
    rounded[1] = np.eye(1, 21000)[0]  # a sure row
    assert not rounded[0].any() and not rounded[2].any()
    # row i of X is answered by rounded[i]
    bb = BlackBox.from_callable(lambda X: rounded[X[:, 0].astype(int)], n_classes=21000)
    X = np.repeat(np.arange(3.0)[:, None], 2, axis=1)
    with pytest.raises(ValueError, match=r"not probabilities: row 0 of X sums to 0, not 1$"):
        bb.predict_proba(X)
    with pytest.raises(ValueError, match=r"not probabilities: row 1 of X sums to 0, not 1$"):
        bb.predict_proba(X[1:])
    # A row that keeps one nonzero class is a rounding still, and renormalised.
    np.testing.assert_array_equal(bb.predict_proba(X[1:2]), np.eye(1, 21000))


def test_eps_follows_the_float_dtype_a_callable_returns():
    # _eps read float64's for every callable, though one returning float32 rounds its
    # probabilities 5e8 times coarser (PermutationImportance's rounding bound).
    def answering(dtype):
        return BlackBox.from_callable(
            lambda X: np.full((len(X), 2), 0.5, dtype=dtype), n_classes=2, input_shape=(3,)
        )

    for dtype in (np.float64, np.float32, np.float16):
        box = answering(dtype)
        assert box._eps == np.finfo(np.float64).eps  # nothing returned yet
        box.predict_proba(np.zeros((2, 3)))
        assert box._eps == np.finfo(dtype).eps
    # the coarsest seen stays: a batch in float64 does not make float32 rounding finer
    mixed = BlackBox.from_callable(
        lambda X: np.full((len(X), 2), 0.5, dtype=np.float32 if len(X) == 1 else np.float64),
        n_classes=2,
        input_shape=(3,),
    )
    mixed.predict_proba(np.zeros((1, 3)))
    mixed.predict_proba(np.zeros((4, 3)))
    assert mixed._eps == np.finfo(np.float32).eps
    tensor = BlackBox.from_callable(
        lambda X: torch.full((len(X), 2), 0.5, dtype=torch.bfloat16), n_classes=2
    )
    tensor.predict_proba(np.zeros((2, 3)))
    assert tensor._eps == torch.finfo(torch.bfloat16).eps
    # a torch module's stays its parameters' dtype
    module = BlackBox.from_torch(torch.nn.Linear(3, 2).double(), input_shape=(3,))
    module.predict_proba(np.zeros((2, 3)))
    assert module._eps == np.finfo(np.float64).eps


def test_eps_and_tolerance_follow_the_float_dtype_of_a_dataframe_or_a_list_returned():
    # Only an output's own .dtype was read: a DataFrame of float32 columns, or a list of
    # np.float32 scalars, has none, and got float64's eps (PermutationImportance's
    # rounding bound) and tolerance, though numpy reads both as float32.
    import pandas as pd

    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    model = LogisticRegression(max_iter=500).fit(X, y)

    def as_frame(dtype, rows):
        return pd.DataFrame(model.predict_proba(rows).astype(dtype), columns=["benign", "sick"])

    def as_scalars(dtype, rows):
        return [[dtype(p) for p in row] for row in model.predict_proba(rows)]

    for make in (as_frame, as_scalars):
        for dtype in (np.float32, np.float16, np.float64):
            box = BlackBox.from_callable(functools.partial(make, dtype), n_classes=2)
            assert box._eps == np.finfo(np.float64).eps  # nothing returned yet
            # float16: row 10 sums to 1.00024, within its rounding (4 eps, 3.9e-3), which
            # float64's tolerance of 1e-4 (plus 5e-5 a class) refused as "not probabilities"
            proba = box.predict_proba(X)
            np.testing.assert_allclose(proba, model.predict_proba(X), atol=1e-3)
            assert box._eps == np.finfo(dtype).eps, (make.__name__, dtype)
    # Python floats are float64, and an output numpy cannot read still says why.
    floats = BlackBox.from_callable(lambda rows: model.predict_proba(rows).tolist(), n_classes=2)
    floats.predict_proba(X[:3])
    assert floats._eps == np.finfo(np.float64).eps
    ragged = BlackBox.from_callable(lambda rows: [[0.5, 0.5], [1.0]], n_classes=2)
    with pytest.raises(ValueError, match="returned list, which is not a numeric array"):
        ragged.predict_proba(X[:2])


def test_a_dataframe_output_is_converted_once_per_batch():
    # Its eps was read twice per batch (for _eps, then for the tolerance) before the
    # check read it a third time: three conversions of every batch's DataFrame.
    import pandas as pd

    reads = []

    class CountedFrame(pd.DataFrame):
        def __array__(self, *args, **kwargs):
            reads.append(len(self))
            return super().__array__(*args, **kwargs)

    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    box = BlackBox.from_callable(
        lambda rows: CountedFrame(model.predict_proba(rows).astype(np.float32)),
        n_classes=3,
        batch_size=64,
    )
    proba = box.predict_proba(X)
    assert reads == [64, 64, 22]
    assert box._eps == np.finfo(np.float32).eps
    np.testing.assert_allclose(proba, model.predict_proba(X), atol=1e-6)


def test_a_negative_probability_is_refused():
    bb = BlackBox.from_callable(lambda X: np.tile([-0.2, 0.6, 0.6], (len(X), 1)), n_classes=3)
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        bb.predict_proba(np.zeros((2, 4)))


def test_gradient_and_features_count_their_rows(digits_blackbox, digits):
    X = digits.X_test[:7]
    digits_blackbox.gradient(X, 0)
    assert digits_blackbox.n_queries == 7
    digits_blackbox.features(X, "fc1")
    assert digits_blackbox.n_queries == 14


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        # short of 1, among good rows
        ([[0.5, 0.5], [0.25, 0.25], [0.5, 0.5]], "row 1 of X sums to 0.5,"),
        ([[0.5, 0.5], [0.5, 0.501]], "row 1 of X sums to 1.001,"),  # ten times the tolerance
    ],
)
def test_the_worst_row_is_found_among_good_ones(rows, message):
    bb = BlackBox.from_callable(lambda X: np.array(rows), n_classes=2)
    with pytest.raises(ValueError, match=message):
        bb.predict_proba(np.zeros((len(rows), 3)))


def test_logits_that_merely_lie_in_zero_one_are_not_warned_of():
    module = torch.nn.Linear(4, 3)
    with torch.no_grad():
        module.weight.zero_()
        module.bias.copy_(torch.tensor([0.2, 0.3, 0.1]))  # in [0, 1], but sum to 0.6
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bb = BlackBox.from_torch(module, input_shape=(4,))
    np.testing.assert_allclose(
        bb.predict_proba(np.zeros((1, 4))), softmax(np.array([[0.2, 0.3, 0.1]]))
    )


def test_gradient_refuses_a_target_class_the_model_lacks():
    bb = BlackBox.from_torch(torch.nn.Linear(4, 3), input_shape=(4,))
    with pytest.raises(ValueError, match="target holds class 3 but there are only 3 classes"):
        bb.gradient(np.zeros((2, 4)), 3)
    with pytest.raises(ValueError, match="target holds class 5"):
        bb.gradient(np.zeros((2, 4)), [0, 5])


@pytest.mark.parametrize(
    ("input_shape", "expected"),
    [
        ((1, 8, 8), (8, 8)),
        ((8, 6, 1), (8, 6)),
        ((8, 6), (8, 6)),
        ((3, 8, 8), None),
        ((64,), None),
        (None, None),
    ],
)
def test_grayscale_shape(input_shape, expected):
    from unboxed.blackbox import grayscale_shape

    assert grayscale_shape(input_shape) == expected


class _Folds(torch.nn.Module):
    """Returns two rows per input row."""

    def forward(self, x):
        return x.reshape(-1, 2)


def test_a_module_that_returns_more_rows_than_inputs_fails_at_construction():
    with pytest.raises(ValueError, match=r"returned shape \(2, 2\) for one input"):
        BlackBox.from_torch(_Folds(), input_shape=(4,))


def test_features_in_many_batches_match_one_pass(rng):
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    X = rng.normal(size=(7, 4)).astype(np.float32)
    bb = BlackBox.from_torch(module, input_shape=(4,), batch_size=3)
    hidden = bb.features(X, "1")
    with torch.no_grad():
        expected = torch.relu(module[0](torch.as_tensor(X))).numpy()
    assert hidden.shape == (7, 5)
    np.testing.assert_allclose(hidden, expected, rtol=1e-6)
    assert bb.n_queries == 7


@pytest.mark.parametrize("value", [1e300, -1e300])
def test_features_that_overflow_the_model_dtype_are_refused(value):
    # Finite in float64, infinite in the float32 model: features returned inf.
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    bb = BlackBox.from_torch(module, input_shape=(4,))
    X = np.zeros((2, 4))
    X[1, 2] = value
    with pytest.raises(ValueError, match=r"layer '0' of 'Sequential' produced NaN or infinite"):
        bb.features(X, "0")


class _Log(torch.nn.Module):
    def forward(self, x):
        return torch.log(x)


def test_features_name_the_cause_of_a_layer_output_that_is_not_finite():
    # The message asked whether X overflowed the model's dtype even where it did not:
    # here the model itself takes the log of a ReLU's zeros.
    module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), _Log())
    with torch.no_grad():
        module[0].weight.zero_()
        module[0].bias.fill_(-1.0)
    bb = BlackBox.from_torch(module, input_shape=(4,))
    with pytest.raises(ValueError, match=r"values \(first on row 0 of X\) from inputs within"):
        bb.features(np.ones((2, 4)), "2")
    X = np.zeros((2, 4))
    X[1, 2] = -1e300
    with pytest.raises(
        ValueError, match=r"beyond the range of the model's torch.float32 \(up to 1e\+300"
    ):
        bb.features(X, "0")


class _RecordsBatches(torch.nn.Linear):
    def __init__(self):
        super().__init__(4, 2)
        self.sizes = []

    def forward(self, x):
        self.sizes.append(int(x.shape[0]))
        return super().forward(x)


def test_from_torch_evaluates_in_the_batches_asked_for():
    module = _RecordsBatches()
    bb = BlackBox.from_torch(module, input_shape=(4,), batch_size=3)
    module.sizes.clear()  # the probes at construction
    bb.predict_proba(np.zeros((7, 4)))
    assert bb.batch_size == 3 and module.sizes == [3, 3, 1]


def test_a_float64_module_gets_float64_inputs(rng):
    torch.manual_seed(0)
    module = torch.nn.Linear(4, 3).double()
    X = rng.normal(size=(5, 4))
    bb = BlackBox.from_torch(module, input_shape=(4,))
    with torch.no_grad():
        logits = module(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(bb.predict_proba(X), softmax(logits), rtol=1e-12)


def test_a_callable_without_input_shape_still_needs_a_batch():
    bb = BlackBox.from_callable(lambda X: np.full((len(X), 2), 0.5), n_classes=2)
    with pytest.raises(ValueError, match=r"X must be 2-dimensional, got shape \(5,\)"):
        bb.predict_proba(np.zeros(5))
    with pytest.raises(ValueError, match=r"X must be 2-dimensional, got shape \(2, 3, 4\)"):
        bb.predict_proba(np.zeros((2, 3, 4)))


def test_a_callable_without_input_shape_needs_a_feature():
    from unboxed.local import KernelShap, Lime

    bb = BlackBox.from_callable(lambda X: np.full((len(X), 2), 0.5), n_classes=2)
    with pytest.raises(ValueError, match=r"X has no features: got shape \(3, 0\)"):
        bb.predict_proba(np.zeros((3, 0)))
    assert bb.predict_proba(np.zeros((3, 1))).shape == (3, 2)  # one feature is enough
    for explainer in (Lime(bb, n_samples=10), KernelShap(bb, n_samples=10)):
        # numpy's 'zero-size array to reduction operation minimum' before
        with pytest.raises(ValueError, match="X has no features"):
            explainer.explain(np.zeros((3, 0)), target=0)


class _Sqrt(torch.nn.Module):
    """Finite outputs at zero, but an infinite gradient there."""

    def forward(self, x):
        root = torch.sqrt(x).sum(dim=1)
        return torch.stack([root, -root], dim=1)


def test_an_infinite_gradient_is_reported():
    bb = BlackBox.from_torch(_Sqrt(), input_shape=(3,))
    np.testing.assert_allclose(bb.predict_proba(np.zeros((2, 3))), 0.5)
    with pytest.raises(ValueError, match="'_Sqrt' produced a NaN or infinite gradient"):
        bb.gradient(np.zeros((2, 3)), 0)


def test_a_fractional_n_classes_is_rejected_not_truncated():
    # "a classifier needs at least 2 classes; 'f' has n_classes=2.0" misled: it has 2.
    for given, shown in (
        (2.5, "float 2.5"),
        (2.0, "float 2.0"),
        ("2", "str '2'"),
        (True, "bool True"),
    ):
        with pytest.raises(ValueError, match=rf"^n_classes must be an int >= 2, got {shown}$"):
            BlackBox.from_callable(lambda X: np.full((len(X), 2), 0.5), n_classes=given, name="f")
    with pytest.raises(ValueError, match=r"at least 2 classes; 'f' has n_classes=1"):  # an int
        BlackBox.from_callable(lambda X: np.full((len(X), 1), 1.0), n_classes=1, name="f")


def test_a_value_above_one_is_refused_even_when_its_row_sums_to_one():
    # 1.0004 - 4 * 0.00009 = 1.00004: the sum is within tolerance, the value is not
    row = [1.0004, -0.00009, -0.00009, -0.00009, -0.00009]
    bb = BlackBox.from_callable(lambda X: np.tile(row, (len(X), 1)), n_classes=5)
    with pytest.raises(
        ValueError, match=r"outside \[0, 1\] \(first on row 0 of X; min -9e-05, max 1\.0004\)"
    ):
        bb.predict_proba(np.zeros((2, 3)))


def test_rows_of_several_samples_each_are_refused(digits_blackbox):
    # 128 = 2 x 64 values per row would otherwise be read as twice as many samples
    with pytest.raises(
        ValueError, match=r"X has shape \(3, 128\), but .* expects \(n_samples, 64\)"
    ):
        digits_blackbox.predict_proba(np.zeros((3, 128)))
    with pytest.raises(ValueError, match=r"X has shape \(3, 8, 8\)"):
        digits_blackbox.predict_proba(np.zeros((3, 8, 8)))  # channel axis missing


def test_a_single_shaped_sample_or_a_scalar_is_named(digits_blackbox):
    with pytest.raises(ValueError, match=r"single sample \(1, 8, 8\).*X\[None\]"):
        digits_blackbox.predict_proba(np.zeros((1, 8, 8)))
    with pytest.raises(ValueError, match="got a scalar"):
        digits_blackbox.predict_proba(np.float64(1.0))


def test_an_infinite_logit_is_reported_not_softmaxed():
    module = torch.nn.Linear(4, 3)
    with torch.no_grad():
        module.bias[0] = float("-inf")  # softmax would turn it into a silent 0
    bb = BlackBox.from_torch(module, input_shape=(4,))
    with pytest.raises(ValueError, match="NaN or infinite"):
        bb.predict_proba(np.zeros((2, 4)))


def test_logits_summing_to_one_with_a_negative_are_not_warned_of():
    module = torch.nn.Linear(4, 2)
    with torch.no_grad():
        module.weight.zero_()
        module.bias.copy_(torch.tensor([2.0, -1.0]))  # sum to 1, but no probabilities
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        BlackBox.from_torch(module, input_shape=(4,))


def test_an_unknown_output_kind_is_refused():
    with pytest.raises(
        ValueError, match="output must be 'logits' or 'probabilities', got 'softmax'"
    ):
        BlackBox.from_torch(torch.nn.Linear(4, 2), input_shape=(4,), output="softmax")


def test_a_module_in_training_mode_is_put_in_eval_mode(rng):
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 3)
    )
    module.train()
    bb = BlackBox.from_torch(module, input_shape=(4,))
    X = rng.normal(size=(20, 4))
    assert not module.training
    # dropout off: the same input gives the same answer
    np.testing.assert_array_equal(bb.predict_proba(X), bb.predict_proba(X))


def test_a_module_set_back_to_training_is_queried_in_eval_mode(rng):
    # A user who trains on after wrapping: queries must not apply dropout or teach
    # BatchNorm the statistics of perturbed inputs, and the module keeps its own mode.
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 3)
    )
    bb = BlackBox.from_torch(module, input_shape=(4,))
    X = rng.normal(size=(20, 4))
    expected = bb.predict_proba(X)
    module.train()
    module[2].eval()  # a mixed mode, given back as it was
    running_mean = module[1].running_mean.clone()
    np.testing.assert_array_equal(bb.predict_proba(X * 5.0 + 3.0), bb.predict_proba(X * 5.0 + 3.0))
    bb.gradient(X, target=0)
    bb.features(X, layer="1")
    np.testing.assert_array_equal(bb.predict_proba(X), expected)
    assert torch.equal(module[1].running_mean, running_mean)
    assert [m.training for m in module.modules()] == [True, True, True, False, True]


def test_a_direct_blackbox_names_an_unknown_kind_or_output():
    with pytest.raises(ValueError, match="kind must be 'torch', 'sklearn' or 'callable'"):
        BlackBox(np.ones, n_classes=2, input_shape=None, name="m", kind="keras")
    with pytest.raises(ValueError, match="output must be 'logits' or 'probabilities', got 'x'"):
        BlackBox(np.ones, n_classes=2, input_shape=None, name="m", kind="callable", output="x")


class _MixesTheBatch(torch.nn.Module):
    """Averages over the batch: one output row, whatever the number of inputs."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(x).mean(dim=0, keepdim=True)


def test_gradient_names_an_output_of_the_wrong_shape():
    bb = BlackBox.from_torch(_MixesTheBatch(), input_shape=(3,))  # the one-row probe passes
    with pytest.raises(BlackBoxError, match=r"output shape \(1, 2\) is not \(n, n_classes\)"):
        bb.gradient(np.zeros((2, 3)), 0)


class _Detached(torch.nn.Module):
    """A model whose output autograd cannot trace back to its input."""

    def __init__(self, how):
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)
        self.how = how

    def forward(self, x):
        if self.how == "detach":  # the output uses the weights, not the input
            return self.fc(x.detach())
        # an argmax: no graph at all
        return torch.nn.functional.one_hot(self.fc(x).argmax(dim=1), 2).float()


@pytest.mark.parametrize("how", ["detach", "argmax"])
def test_gradient_names_a_model_whose_output_is_not_differentiable(how):
    output = "logits" if how == "detach" else "probabilities"
    bb = BlackBox.from_torch(_Detached(how), input_shape=(3,), output=output)
    X = np.random.default_rng(0).normal(size=(5, 3))
    assert bb.predict_proba(X).shape == (5, 2)  # it answers; only its gradient is missing
    # torch's own "element 0 of tensors does not require grad" (argmax) or "appears to
    # not have been used in the graph" (detach) came as a BlackBoxError on "row 0"
    with pytest.raises(ValueError, match=r"gradient needs .*'_Detached'.* not differentiable"):
        bb.gradient(X, 1)


def test_a_callable_with_input_shape_gets_shaped_inputs():
    seen = []

    def model(X):
        seen.append(X.shape)
        return np.full((len(X), 2), 0.5)

    bb = BlackBox.from_callable(model, n_classes=2, input_shape=[2, 3])
    assert bb.input_shape == (2, 3) and bb.n_features == 6
    bb.predict_proba(np.zeros((4, 6)))
    assert seen == [(4, 2, 3)]
    with pytest.raises(ValueError, match=r"expects \(n_samples, 6\) or \(n_samples, 2, 3\)"):
        bb.predict_proba(np.zeros((4, 5)))


def test_a_non_callable_fn_is_a_type_error():
    with pytest.raises(TypeError, match="fn must be callable, got int"):
        BlackBox.from_callable(5, n_classes=2)


class _NoFeatureCount(BaseEstimator):
    """Fitted (it has a learned attribute) but without n_features_in_."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.full((len(X), 2), 0.5)


def test_an_estimator_without_n_features_in_is_sent_to_from_callable():
    with pytest.raises(ValueError, match="lacks n_features_in_ or classes_.*from_callable"):
        BlackBox.from_sklearn(_NoFeatureCount().fit(np.zeros((2, 3)), [0, 1]))


def test_a_module_that_returns_a_tuple_is_named():
    class Pair(torch.nn.Module):
        def forward(self, x):
            return x, x

    with pytest.raises(BlackBoxError, match="returned tuple, not a tensor"):
        BlackBox.from_torch(Pair(), input_shape=(3,))


def test_torchs_warning_about_read_only_inputs_is_muted(monkeypatch):
    # torch warns once per process, so a stand-in that warns every time checks the muting
    real = torch.as_tensor

    def as_tensor(data, *args, **kwargs):
        if isinstance(data, np.ndarray) and not data.flags.writeable:
            warnings.warn("The given NumPy array is not writable", UserWarning, stacklevel=2)
        return real(data, *args, **kwargs)

    monkeypatch.setattr(torch, "as_tensor", as_tensor)
    bb = BlackBox.from_torch(torch.nn.Linear(3, 2), input_shape=(3,))
    X = np.zeros((2, 3), dtype=np.float32)
    X.flags.writeable = False  # as an explanation's frozen inputs are
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bb.gradient(X, 0).shape == (2, 3)


def test_check_blackbox_names_what_to_wrap():
    from unboxed.blackbox import check_blackbox

    with pytest.raises(TypeError, match="model must be an unboxed.BlackBox, got function"):
        check_blackbox(lambda X: X, name="model")


def test_gradient_of_a_linear_model_is_its_weight_row_in_any_batching(rng):
    # The gradient of logit t of x @ W.T + b is W[t]: exact ground truth, which must
    # not depend on how the rows are batched, and a scalar target means every row.
    torch.manual_seed(0)
    module = torch.nn.Linear(4, 3)
    weight = module.weight.detach().double().numpy()
    X = rng.normal(size=(7, 4))
    target = np.array([0, 1, 2, 2, 1, 0, 1])
    bb = BlackBox.from_torch(module, input_shape=(4,), batch_size=3)
    np.testing.assert_allclose(bb.gradient(X, target), weight[target], rtol=1e-6)
    assert bb.n_queries == 7
    np.testing.assert_allclose(bb.gradient(X, 2), np.tile(weight[2], (7, 1)), rtol=1e-6)


def test_a_module_without_parameters_gets_float32_inputs():
    seen = []

    class Recorder(torch.nn.Module):
        def forward(self, x):
            seen.append(x.dtype)
            return torch.zeros(len(x), 2, dtype=x.dtype)

    bb = BlackBox.from_torch(Recorder(), input_shape=(3,))
    np.testing.assert_allclose(bb.predict_proba(np.zeros((2, 3))), 0.5)
    assert set(seen) == {torch.float32}


def test_logits_in_zero_one_summing_to_a_little_over_one_are_not_warned_of():
    # Zero-input logits (0.5, 0.51) lie in [0, 1] and sum to 1.01: real logits, so no
    # warning; only a sum of 1 within float error means a softmax is already applied.
    module = torch.nn.Linear(4, 2)
    with torch.no_grad():
        module.weight.zero_()
        module.bias.copy_(torch.tensor([0.5, 0.51]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        BlackBox.from_torch(module, input_shape=(4,))


def test_from_torch_refuses_what_is_not_a_module(planted_logreg):
    with pytest.raises(
        TypeError, match="from_torch expects a torch.nn.Module, got LogisticRegression"
    ):
        BlackBox.from_torch(planted_logreg, input_shape=(20,))


class _HeadFirst(torch.nn.Module):
    """The output layer is registered before the hidden one."""

    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(3, 2)
        self.hidden = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.head(torch.relu(self.hidden(x)))


def test_the_logits_layer_is_the_modules_own_output(rng):
    torch.manual_seed(0)
    module = _HeadFirst()
    bb = BlackBox.from_torch(module, input_shape=(4,))
    X = rng.normal(size=(5, 4)).astype(np.float32)
    with torch.no_grad():
        expected = module(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(bb.features(X, "logits"), expected, rtol=1e-6)
    assert bb.layer_names() == ["head", "hidden", "logits"]


@pytest.mark.parametrize(
    "output",
    [
        lambda X: np.full((len(X), 2), 0.5 + 0.5j),  # the imaginary part was dropped
        lambda X: np.full((len(X), 2), "0.5"),  # the strings were parsed as numbers
    ],
)
def test_complex_or_string_outputs_are_refused_not_cast(output):
    bb = BlackBox.from_callable(output, n_classes=2, name="odd")
    with pytest.raises(ValueError, match="'odd' returned ndarray of dtype .*not a numeric array"):
        bb.predict_proba(np.zeros((2, 3)))


def test_rows_of_the_right_width_but_an_extra_axis_are_refused(digits_blackbox):
    # (2, 64, 3) starts with 64 columns but holds three times the features.
    with pytest.raises(ValueError, match=r"X has shape \(2, 64, 3\), but .* expects"):
        digits_blackbox.predict_proba(np.zeros((2, 64, 3)))


def test_a_value_just_above_one_within_tolerance_is_accepted_and_clipped():
    # 1 + 5e-5 is float error, as -5e-5 is (the test above): both are let through and
    # clipped, so that a row such as a float32 softmax's is never refused.
    bb = BlackBox.from_callable(lambda X: np.tile([1 + 5e-5, -5e-5], (len(X), 1)), n_classes=2)
    np.testing.assert_array_equal(bb.predict_proba(np.zeros((2, 3))), [[1.0, 0.0], [1.0, 0.0]])


def test_a_tensor_that_requires_grad_is_read_as_its_values(rng):
    # torch refuses numpy() on such a tensor; its values are what the model is asked about
    torch.manual_seed(0)
    module = torch.nn.Linear(4, 3)
    X = torch.as_tensor(rng.normal(size=(5, 4)), dtype=torch.float32).requires_grad_(True)
    bb = BlackBox.from_torch(module, input_shape=(4,))
    with torch.no_grad():
        expected = softmax(module(X).double().numpy())
    np.testing.assert_allclose(bb.predict_proba(X), expected, rtol=1e-12)
    assert bb.gradient(X, 1).shape == (5, 4) and X.grad is None


def test_module_input_follows_the_modules_device_and_dtype():
    # The meta device stands in for a GPU: inputs must go where the parameters live,
    # in their dtype, or the forward pass fails on a CUDA model.
    from unboxed.blackbox import module_input

    module = torch.nn.Linear(3, 2, device="meta", dtype=torch.float16)
    x = module_input(module, np.zeros((2, 3)))
    assert x.device.type == "meta" and x.dtype == torch.float16 and x.shape == (2, 3)
    x = module_input(torch.nn.ReLU(), np.zeros((2, 3)))  # no parameters: float32, CPU
    assert x.device.type == "cpu" and x.dtype == torch.float32


def test_every_builder_passes_batch_size_on_and_defaults_to_4096(planted_logreg):
    sizes = []

    def model(X):
        sizes.append(len(X))
        return np.full((len(X), 2), 0.5)

    bb = BlackBox.from_callable(model, n_classes=2, batch_size=3)
    bb.predict_proba(np.zeros((7, 2)))
    assert bb.batch_size == 3 and sizes == [3, 3, 1] and bb.n_queries == 7
    sizes.clear()
    BlackBox.from_callable(model, n_classes=2).predict_proba(np.zeros((5000, 1)))
    assert sizes == [4096, 904]  # large inputs go in default batches of 4096
    assert BlackBox.from_sklearn(planted_logreg, batch_size=3).batch_size == 3
    assert BlackBox.from_sklearn(planted_logreg).batch_size == 4096
    torch_bb = BlackBox.from_torch(torch.nn.Linear(2, 2), input_shape=(2,))
    assert torch_bb.batch_size == 4096


def test_batch_size_set_after_building_is_checked_as_the_builders_check_it():
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    bb = BlackBox.from_sklearn(model)
    whole = bb.predict_proba(X)
    # -1 made range(0, n, -1) empty, and predict_proba returned np.empty's garbage;
    # 0 raised range()'s "arg 3 must not be zero", 2.5 its "'float' object ..."
    for bad in (0, -1, 2.5, True, "8", None):
        with pytest.raises(ValueError, match=r"batch_size must be an int >= 1"):
            bb.batch_size = bad
        assert bb.batch_size == 4096
    bb.batch_size = np.int64(7)
    assert type(bb.batch_size) is int and bb.batch_size == 7
    assert np.array_equal(bb.predict_proba(X), whole) and bb.n_queries == 300
    np.testing.assert_allclose(whole, model.predict_proba(X), rtol=0, atol=1e-15)


def test_a_masked_array_with_masked_entries_is_refused_not_read_through():
    X, y = load_iris(return_X_y=True)
    bb = BlackBox.from_sklearn(LogisticRegression(max_iter=500).fit(X, y))
    masked = np.ma.masked_greater(X[:3], 5.0)  # X[0, 0] is 5.1
    # the values hidden under the mask reached the model as if they were data
    with pytest.raises(ValueError, match=r"X is a masked array .*first at index \(0, 0\)"):
        bb.predict_proba(masked)
    assert bb.n_queries == 0
    unmasked = np.ma.masked_array(X[:3], mask=False)  # nothing masked: read as it is
    assert np.array_equal(bb.predict_proba(unmasked), bb.predict_proba(X[:3]))


def test_a_given_name_is_kept_by_every_builder(planted_logreg):
    assert BlackBox.from_sklearn(planted_logreg, name="credit").name == "credit"
    assert BlackBox.from_callable(lambda X: X, n_classes=2, name="fn").name == "fn"
    bb = BlackBox.from_torch(_Sqrt(), input_shape=(3,), name="root")
    assert bb.name == "root" and repr(bb).startswith("BlackBox('root', kind='torch'")
    with pytest.raises(ValueError, match="'root' produced a NaN or infinite gradient"):
        bb.gradient(np.zeros((1, 3)), 0)


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_a_batch_size_that_is_not_a_positive_int_is_refused(batch_size):
    # range() would refuse 0 only at the first query, and 2.5 would slice with floats
    with pytest.raises(ValueError, match=r"batch_size must be an int >= 1, got"):
        BlackBox.from_callable(lambda X: X, n_classes=2, batch_size=batch_size)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_a_half_precision_softmax_is_read_as_probabilities(dtype, rng):
    # Its rows sum to 1 only within its own rounding (float16: about 2e-4 here), which
    # the float32 tolerance of 1e-4 refused: "row 9 sums to 0.999832, not 1".
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(4, 10), torch.nn.Softmax(dim=1)).to(dtype)
    X = rng.normal(size=(50, 4))
    bb = BlackBox.from_torch(module, input_shape=(4,), output="probabilities")
    with torch.no_grad():
        expected = module(torch.as_tensor(X, dtype=dtype)).double().numpy()
    np.testing.assert_allclose(bb.predict_proba(X), expected / expected.sum(1, keepdims=True))
    # still no licence for raw scores
    raw = BlackBox.from_torch(
        torch.nn.Linear(4, 10).to(dtype), input_shape=(4,), output="probabilities"
    )
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        raw.predict_proba(X)


def test_ctrl_c_inside_the_model_is_not_turned_into_a_black_box_error():
    # Only the model's own errors become BlackBoxError: a KeyboardInterrupt reaching
    # it must stop the user's work as Ctrl-C does, whatever the call.
    def interrupted(X):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        BlackBox.from_callable(interrupted, n_classes=2).predict_proba(np.zeros((2, 3)))

    bb = BlackBox.from_torch(_FailsAfterTheProbes(KeyboardInterrupt()), input_shape=(3,))
    with pytest.raises(KeyboardInterrupt):
        bb.gradient(np.zeros((2, 3)), 0)
    assert bb.n_queries == 0
    always = _FailsAfterTheProbes(KeyboardInterrupt())
    always.calls = 2
    with pytest.raises(KeyboardInterrupt):  # the probe for the number of classes
        BlackBox.from_torch(always, input_shape=(3,))


def test_sklearn_clone_keeps_the_black_box_itself(planted_blackbox):
    from sklearn.base import clone

    # clone deep-copies a parameter that is not an estimator: an explainer's clone would
    # have explained a copy of the model's weights.
    assert clone(planted_blackbox, safe=False) is planted_blackbox
    assert clone({"model": planted_blackbox}, safe=False)["model"] is planted_blackbox


def test_feature_names_come_from_the_model_or_the_keyword(planted, planted_logreg):
    # Before, check_X dropped a DataFrame's columns and nothing kept the names.
    import pandas as pd

    frame = pd.DataFrame(planted.X_train, columns=list(PLANTED_COLUMNS))
    fitted = type(planted_logreg)(max_iter=2000).fit(frame, planted.y_train)
    assert BlackBox.from_sklearn(fitted).feature_names == PLANTED_COLUMNS
    assert BlackBox.from_sklearn(planted_logreg).feature_names is None  # fitted on an array
    mine = tuple(f"m{j}" for j in range(20))
    # The keyword relabels; the model is still called with its own columns.
    renamed = BlackBox.from_sklearn(fitted, feature_names=mine)
    assert renamed.feature_names == mine
    np.testing.assert_allclose(
        renamed.predict_proba(planted.X_test[:5]),
        fitted.predict_proba(pd.DataFrame(planted.X_test[:5], columns=list(PLANTED_COLUMNS))),
    )
    assert BlackBox.from_sklearn(planted_logreg, feature_names=list(mine)).feature_names == mine
    module = torch.nn.Linear(3, 2)
    torch_box = BlackBox.from_torch(module, input_shape=(3,), feature_names=["a", "b", "c"])
    assert torch_box.feature_names == ("a", "b", "c")
    assert BlackBox.from_torch(module, input_shape=(3,)).feature_names is None
    box = BlackBox.from_callable(
        lambda X: np.full((len(X), 2), 0.5), n_classes=2, input_shape=(2,), feature_names=("u", "v")
    )
    assert box.feature_names == ("u", "v") and "\n" not in repr(box)


def test_a_model_fitted_on_an_array_takes_the_names_of_a_dataframe_it_explains():
    # The model knows no names, so the attributions of breast cancer's rows, given as
    # a DataFrame, carried none: "feature 3" where the table says "mean area".
    from unboxed.local import Occlusion
    from unboxed.probes import PermutationImportance

    data = load_breast_cancer(as_frame=True)
    X = (data.data - data.data.mean()) / data.data.std()
    model = LogisticRegression(max_iter=1000).fit(X.to_numpy(), data.target)
    columns = tuple(X.columns)
    bb = BlackBox.from_sklearn(model)
    assert bb.feature_names is None
    attribution = Occlusion(bb).explain(X.iloc[:3])
    assert attribution.feature_names == columns and bb.feature_names == columns
    importance = PermutationImportance(bb, n_repeats=2, random_state=0).explain(X.iloc[:40])
    assert importance.feature_names == columns
    # From then on a DataFrame is read by those names: reordered, it is the same rows.
    np.testing.assert_allclose(
        bb.predict_proba(X.iloc[:5, ::-1]), model.predict_proba(X.to_numpy()[:5]), rtol=1e-12
    )
    renamed = X.rename(columns={"mean area": "area"}).iloc[:3]
    with pytest.raises(
        ValueError,
        match=r"^X's columns do not match the 30 columns of 'LogisticRegression' \(the "
        r"columns of the first DataFrame it accepted\): it lacks column 'mean area'; "
        r"it has unknown column 'area'\.",
    ):
        bb.predict_proba(renamed)
    # Names of the black box's own win, and other columns are refused as before.
    mine = BlackBox.from_sklearn(model, feature_names=[f"m{j}" for j in range(30)])
    with pytest.raises(ValueError, match=r"the 30 columns of 'LogisticRegression': it lacks"):
        Occlusion(mine).explain(X.iloc[:3])
    # Arrays, unnamed columns and a repeated label give no names.
    for unnamed in (X.to_numpy()[:3], X.iloc[:3].set_axis(range(30), axis=1)):
        fresh = BlackBox.from_sklearn(model)
        assert Occlusion(fresh).explain(unnamed).feature_names is None
    repeated = X.iloc[:3].set_axis([*columns[:29], columns[0]], axis=1)
    fresh = BlackBox.from_sklearn(model)
    fresh.predict_proba(repeated)
    assert fresh.feature_names is None


def test_a_dataframe_the_black_box_refuses_gives_it_no_names():
    # A table refused for a NaN named the features, and the corrected table that
    # followed, with its columns renamed, was refused as not matching the first one.
    data = load_breast_cancer(as_frame=True)
    X = data.data.iloc[:5]
    model = LogisticRegression(max_iter=5000).fit(data.data.to_numpy(), data.target)
    bb = BlackBox.from_sklearn(model)
    broken = X.copy()
    broken.iloc[2, 3] = np.nan
    with pytest.raises(ValueError, match="contains NaN"):
        bb.predict_proba(broken)
    assert bb.feature_names is None
    renamed = X.set_axis([f"c{j}" for j in range(30)], axis=1)
    np.testing.assert_allclose(bb.predict_proba(renamed), model.predict_proba(X.to_numpy()))
    assert bb.feature_names == tuple(renamed.columns)
    # A later table is refused by those names, which the message says are of the first
    # table it accepted: "it was given" read as the refused one, whose columns X has.
    with pytest.raises(
        ValueError,
        match=r"the 30 columns of 'LogisticRegression' \(the columns of the first "
        r"DataFrame it accepted\): it lacks columns 'c0'",
    ):
        bb.predict_proba(X)


def test_string_labels_that_look_like_numbers_stay_strings():
    # "10" must not be read as the number 10: against a model fitted on "1".."10"
    # (classes_ sorted as text, "10" second) it is its own label, and against one
    # fitted on ints 1..10 it names no class, whatever its digits say.
    import pandas as pd

    X, y = load_digits(return_X_y=True)
    X, y = X[::4] / 16, y[::4] + 1
    text = BlackBox.from_sklearn(LogisticRegression(max_iter=300).fit(X, y.astype(str)))
    ints = BlackBox.from_sklearn(LogisticRegression(max_iter=300).fit(X, y))
    assert text.classes[:3] == ("1", "10", "2") and ints.classes[:3] == (1, 2, 3)
    labels = pd.Series(["1", "2", "10"], index=[7, 8, 9])
    np.testing.assert_array_equal(text.class_index(labels), [0, 2, 1])
    np.testing.assert_array_equal(text.class_indices(labels.astype("string"), n=3), [0, 2, 1])
    for box, wrong, shown in ((ints, labels, "'1'"), (text, pd.Series([1, 2, 10]), "1")):
        with pytest.raises(ValueError, match=rf"^y holds {shown}, which is not a class of 'Log"):
            box.class_indices(wrong, n=3)
    # Without labels, strings name no column index either.
    with pytest.raises(ValueError, match=r"y must hold integer class labels, got dtype <U2"):
        BlackBox.from_callable(lambda Z: np.full((len(Z), 11), 1 / 11), n_classes=11).class_indices(
            labels.to_numpy(dtype=str), n=3
        )


@pytest.mark.parametrize(
    "names, message",
    [
        (("a", "b"), "feature_names has 2 entries; expected 3"),
        (("a", "b", "c", "d"), "feature_names has 4 entries; expected 3"),
        (("a", 1, "c"), "feature_names must be non-empty strings; got 1"),
        (("a", "", "c"), "feature_names must be non-empty strings; got ''"),
        (("a", "b", "a"), "feature_names must be unique; 'a' repeat"),
        ("abc", "feature_names has 1 entries; expected 3"),
    ],
)
def test_bad_feature_names_are_refused(names, message):
    fn = lambda X: np.full((len(X), 2), 0.5)  # noqa: E731
    with pytest.raises(ValueError, match=message):
        BlackBox.from_callable(fn, n_classes=2, input_shape=(3,), feature_names=names)
    with pytest.raises(ValueError, match=message):
        BlackBox.from_torch(torch.nn.Linear(3, 2), input_shape=(3,), feature_names=names)


def test_feature_names_need_a_number_of_features():
    fn = lambda X: np.full((len(X), 2), 0.5)  # noqa: E731
    with pytest.raises(ValueError, match="feature_names needs the number of features"):
        BlackBox.from_callable(fn, n_classes=2, feature_names=("a", "b"))


# ---------------------------------------------------------------- class labels (W7)
def _wine(offset=1):
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return X, y, LogisticRegression(max_iter=1000).fit(X, y + offset)


def test_from_sklearn_keeps_the_model_labels_and_maps_them_to_columns():
    model = _wine(offset=1)[2]
    bb = BlackBox.from_sklearn(model)
    assert bb.classes == (1, 2, 3)
    assert all(type(c) is int for c in bb.classes)  # plain ints: JSON and titles read them
    assert np.array_equal(bb.class_index([3, 1, 2, 2]), [2, 0, 1, 1])
    assert np.array_equal(bb.class_labels([2, 0]), [3, 1])
    assert bb.class_label(0) == 1
    # A column index is not a label of this model: 0 would have been read silently.
    with pytest.raises(ValueError, match=r"target holds 0.*pass its labels, \[1, 2, 3\]"):
        bb.class_index([0, 1, 2])
    # The gradient's target and every explainer read through the same method.
    with pytest.raises(ValueError, match="not a class of"):
        bb._check_target(0, 3)
    assert np.array_equal(bb._check_target(3, 2), [2, 2])


def test_a_label_map_0_to_k_is_the_identity():
    model = _wine(offset=0)[2]
    bb = BlackBox.from_sklearn(model)
    assert bb.classes == (0, 1, 2)
    target = np.array([2, 0, 1])
    assert np.array_equal(bb._check_target(target, 3), target)
    with pytest.raises(ValueError, match="only 3 classes"):  # the index message, as before
        bb._check_target(3, 2)


def test_string_labels_are_read_and_an_int_is_not_one_of_them():
    X, y, _ = _wine()
    from sklearn.linear_model import LogisticRegression

    names = np.array(["bad", "good"])
    model = LogisticRegression(max_iter=1000).fit(X[y < 2], names[y[y < 2]])
    bb = BlackBox.from_sklearn(model)
    assert bb.classes == ("bad", "good")
    assert np.array_equal(bb.class_index(["good", "bad", "good"]), [1, 0, 1])
    assert np.array_equal(bb._check_target("good", 2), [1, 1])
    for wrong in ([0, 1], ["1"], ["fair"]):
        with pytest.raises(ValueError, match=r"pass its labels, \['bad', 'good'\]"):
            bb.class_index(wrong)


def test_classes_keyword_on_every_constructor_and_none_for_torch_by_default():
    module = torch.nn.Linear(3, 2)
    assert BlackBox.from_torch(module, input_shape=(3,)).classes is None
    torch_box = BlackBox.from_torch(module, input_shape=(3,), classes=["cat", "dog"])
    assert torch_box.classes == ("cat", "dog")
    assert np.array_equal(torch_box._check_target("dog", 2), [1, 1])
    fn_box = BlackBox.from_callable(
        lambda X: np.full((len(X), 2), 0.5), n_classes=2, classes=np.array([-1, 1])
    )
    assert fn_box.classes == (-1, 1) and np.array_equal(fn_box.class_index([1, -1]), [1, 0])
    model = _wine(offset=1)[2]
    # classes= overrides classes_; range(n) reads column indices again.
    assert np.array_equal(
        BlackBox.from_sklearn(model, classes=range(3))._check_target([0, 2], 2), [0, 2]
    )
    for bad, what in ((["a"], "one label per class"), (["a", "a"], "distinct")):
        with pytest.raises(ValueError, match=what):
            BlackBox.from_torch(module, input_shape=(3,), classes=bad)
    with pytest.raises(TypeError, match="ints, floats or strings, got complex"):
        BlackBox.from_torch(module, input_shape=(3,), classes=[1j, 2j])
    # A missing label is named where it is, as ["setosa", nan]'s is: it read "classes
    # must hold ints, floats or strings, got NoneType".
    for gap in ([None, "a"], [1, None]):
        with pytest.raises(ValueError) as raised:
            BlackBox.from_torch(module, input_shape=(3,), classes=gap)
        assert str(raised.value) == (
            f"classes holds a missing label (None) at index {gap.index(None)}; "
            "give each class its label"
        )


def test_class_names_show_classes_and_leave_targets_as_indices():
    module = torch.nn.Linear(3, 2)
    box = BlackBox.from_torch(module, input_shape=(3,), class_names=["cat", "dog"])
    assert box.class_names == ("cat", "dog") and box.class_name(1) == "dog"
    # display names only: target=1 is still column 1, and a name is no label
    assert box.classes is None and np.array_equal(box._check_target(1, 2), [1, 1])
    fn_box = BlackBox.from_callable(
        lambda X: np.full((len(X), 2), 0.5), n_classes=2, classes=[3, 7], class_names=["a", "b"]
    )
    assert fn_box.class_names == ("a", "b") and np.array_equal(fn_box.class_index(7), 1)
    model = _wine(offset=1)[2]
    assert BlackBox.from_sklearn(model).class_names == ("1", "2", "3")  # labels as text
    assert BlackBox.from_sklearn(model, class_names=list("xyz")).class_name(2) == "z"
    assert BlackBox.from_torch(module, input_shape=(3,)).class_name(1) == "1"
    for bad, what in ((["a"], "expected 2"), (["a", "a"], "unique"), (["a", ""], "non-empty")):
        with pytest.raises(ValueError, match=what):
            BlackBox.from_torch(module, input_shape=(3,), class_names=bad)


def test_a_torch_model_without_labels_reads_indices_as_before(digits, digits_lenet):
    bb = BlackBox.from_torch(digits_lenet, input_shape=(1, 8, 8))
    X = digits.X_test[:4]
    assert bb.classes is None
    assert np.array_equal(bb.class_index([0, 9]), [0, 9])
    grad = bb.gradient(X, 3)
    labelled = BlackBox.from_torch(digits_lenet, input_shape=(1, 8, 8), classes=range(1, 11))
    np.testing.assert_array_equal(labelled.gradient(X, 4), grad)  # label 4 is column 3
    with pytest.raises(ValueError, match="only 10 classes"):
        bb.gradient(X, 10)


@pytest.mark.parametrize(
    "classes",
    [
        np.array([0.0, 1.0, np.inf]),
        np.array([0.0, 1.0, np.inf], dtype=np.float32),
        (0, 1, np.float32(np.inf)),
        [0, 1.5, np.inf],
        # Items numpy reads as the numbers they hold: these reached BlackBox's own
        # loop, whose message named no place ("classes holds inf; labels must be finite").
        [0, 1, np.array(np.inf)],
        [torch.tensor(0.0), torch.tensor(1.0), torch.tensor(np.inf)],
    ],
)
def test_an_infinite_class_label_is_named_with_its_place(classes):
    import pandas as pd

    def uniform(X):
        return np.full((len(X), 3), 1 / 3)

    with pytest.raises(ValueError) as raised:
        BlackBox.from_callable(uniform, n_classes=3, classes=classes)
    assert str(raised.value) == "classes holds inf at index 2; labels must be finite"
    with pytest.raises(ValueError) as raised:
        BlackBox.from_callable(uniform, n_classes=3, classes=pd.Series(classes, index=[7, 8, 9]))
    assert str(raised.value) == (
        "classes holds inf at index 2, row classes.loc[9]; labels must be finite"
    )


@pytest.mark.parametrize("classes", [[0, "cat"], ("dog", 1.5), np.array([0, "cat"], dtype=object)])
def test_classes_that_mix_strings_and_numbers_are_refused(classes):
    # numpy read [0, "cat"] as ["0", "cat"]: the int label 0 then named no class, and
    # results showed the string "0".
    module = torch.nn.Linear(3, 2)
    with pytest.raises(TypeError, match=r"classes mixes strings and numbers.*one kind"):
        BlackBox.from_torch(module, input_shape=(3,), classes=classes)
    # one kind is fine, numbers of both kinds included
    assert BlackBox.from_torch(module, input_shape=(3,), classes=["0", "cat"]).classes == (
        "0",
        "cat",
    )
    assert BlackBox.from_torch(module, input_shape=(3,), classes=[0, 1.5]).classes == (0.0, 1.5)


@pytest.mark.parametrize("target", [True, np.True_, [True, False, True], np.array([1, 0, 1]) == 1])
@pytest.mark.parametrize("classes", [None, range(2), ["neg", "pos"]])
def test_a_bool_names_no_class(target, classes):
    # target=True explained class 1 without a word (numpy reads True as 1), except in
    # deletion_test, which refused it: every argument that names classes refuses it now.
    box = BlackBox.from_torch(torch.nn.Linear(3, 2), input_shape=(3,), classes=classes)
    with pytest.raises(TypeError, match=r"target holds a bool, which names no class"):
        box.class_index(target)
    with pytest.raises(TypeError, match=r"target holds a bool"):
        box.gradient(np.zeros((3, 3)), target)


def test_a_list_that_mixes_bools_and_ints_is_refused_too():
    box = BlackBox.from_torch(torch.nn.Linear(3, 2), input_shape=(3,))
    assert np.asarray([True, 1]).dtype.kind == "i"  # numpy drops the bool
    with pytest.raises(TypeError, match=r"y holds a bool"):
        box.class_indices([True, 1], n=2)


def test_an_integral_float_names_its_int_class_and_bool_labels_take_bools():
    box = BlackBox.from_torch(torch.nn.Linear(3, 2), input_shape=(3,))
    assert box.class_index(1.0).dtype == np.int64 and box.class_index(1.0) == 1
    np.testing.assert_array_equal(box._check_target(np.float32(1.0), 2), [1, 1])
    labelled = BlackBox.from_torch(torch.nn.Linear(3, 3), input_shape=(3,), classes=[1, 2, 3])
    np.testing.assert_array_equal(labelled.class_index([3.0, 1.0]), [2, 0])
    with pytest.raises(ValueError, match="integer class labels"):
        box._check_target(1.5, 2)
    # A model fitted on bool labels names its classes by them.
    X = np.random.default_rng(0).normal(size=(40, 3))
    model = DecisionTreeClassifier(max_depth=1).fit(X, X[:, 0] > 0)
    bools = BlackBox.from_sklearn(model)
    assert bools.classes == (False, True)
    np.testing.assert_array_equal(bools._check_target(True, 2), [1, 1])


@pytest.mark.parametrize("class_names", [None, ["cat", "dog", "owl"]])
def test_class_name_and_label_take_only_a_column_index(class_names):
    """A class index lies in [0, n_classes): -1 named the last class (Python's indexing)
    and, without names, came back as "-1"; 3 raised a bare IndexError or came back "3"."""
    box = BlackBox.from_callable(
        lambda X: np.full((len(X), 3), 1 / 3), n_classes=3, class_names=class_names
    )
    assert box.class_name(2) == ("2" if class_names is None else "owl")
    assert box.class_name(np.int64(1)) == box.class_name(1.0) == box.class_name(1)
    assert box.class_label(np.int64(2)) == 2
    for method in (box.class_name, box.class_label):
        with pytest.raises(ValueError, match="negative"):
            method(-1)
        with pytest.raises(ValueError, match="class 3 but there are only 3"):
            method(3)
        with pytest.raises(ValueError, match="integer"):
            method(1.5)
        with pytest.raises(TypeError, match="bool"):
            method(True)


@pytest.mark.parametrize("classes", [None, [0, 1, 2], [1, 2, 3]])
def test_class_labels_take_only_column_indices(classes):
    """As class_label, for every entry: -1 wrapped to the last class, and where labels
    equal indices, -1 and 3 came back unchecked."""
    box = BlackBox.from_callable(
        lambda X: np.full((len(X), 3), 1 / 3), n_classes=3, classes=classes
    )
    first = 0 if classes is None else classes[0]
    np.testing.assert_array_equal(
        box.class_labels([[2, 0], [1, 1]]), np.add([[2, 0], [1, 1]], first)
    )
    assert box.class_labels(np.array([], dtype=np.int64)).shape == (0,)
    assert box.class_labels(1).shape == ()
    with pytest.raises(ValueError, match=r"indices holds a negative class label \(-1\)"):
        box.class_labels([0, -1])
    with pytest.raises(ValueError, match=r"class 3 but there are only 3 classes.*\[0, 3\)"):
        box.class_labels(np.array([[3], [0]]))
    with pytest.raises(ValueError, match="integer"):
        box.class_labels([0.5])
    with pytest.raises(TypeError, match="bool"):
        box.class_labels([True, 0])


def test_a_dataframe_is_read_by_its_column_names(planted, planted_frame_logreg):
    # Columns in another order than the model's went to it by position, shuffled,
    # without a word; scikit-learn itself reads them by name.
    import pandas as pd

    bb = BlackBox.from_sklearn(planted_frame_logreg)
    frame = pd.DataFrame(planted.X_test[:8], columns=list(PLANTED_COLUMNS))
    expected = planted_frame_logreg.predict_proba(frame)
    np.testing.assert_allclose(bb.predict_proba(frame.iloc[:, ::-1]), expected)
    # Relabelled features: the DataFrame still carries the estimator's own columns.
    mine = [f"m{j}" for j in range(20)]
    renamed = BlackBox.from_sklearn(planted_frame_logreg, feature_names=mine)
    np.testing.assert_allclose(renamed.predict_proba(frame.iloc[:, ::-1]), expected)
    # Unnamed columns (0, 1, ...) and arrays are read by position, as before.
    np.testing.assert_allclose(bb.predict_proba(pd.DataFrame(planted.X_test[:8])), expected)
    named = BlackBox.from_callable(
        planted_frame_logreg.predict_proba,
        n_classes=2,
        input_shape=(20,),
        feature_names=PLANTED_COLUMNS,
    )
    np.testing.assert_allclose(
        named.check_X(frame.iloc[:, ::-1]), planted.X_test[:8], rtol=0, atol=0
    )


@pytest.mark.parametrize(
    "change, fault",
    [
        (lambda f: f.assign(label=1.0), "it has unknown column 'label'"),
        (lambda f: f.drop(columns=["column 3", "column 5"]), "columns 'column 3', 'column 5'"),
        (lambda f: f.rename(columns={"column 0": "column 1"}), "lacks column 'column 0'; it rep"),
    ],
)
def test_a_dataframe_with_a_missing_unknown_or_repeated_column_is_refused(
    planted, planted_named_blackbox, change, fault
):
    import pandas as pd

    frame = change(pd.DataFrame(planted.X_test[:4], columns=list(PLANTED_COLUMNS)))
    expected = r"X's columns do not match the 20 columns of 'LogisticRegression'"
    with pytest.raises(ValueError, match=expected) as err:
        planted_named_blackbox.predict_proba(frame)
    assert fault in str(err.value)


def test_a_series_fill_with_a_missing_column_is_told_to_be_a_series(
    planted, planted_named_blackbox
):
    # A fill such as X_train.mean() is a Series: it was told to "Pass a DataFrame".
    import pandas as pd

    fill = pd.Series(planted.X_train.mean(axis=0), index=list(PLANTED_COLUMNS)).drop("column 3")
    with pytest.raises(ValueError, match="Pass a Series indexed by exactly those columns") as err:
        planted_named_blackbox._by_columns(fill, name="fill")
    assert "lacks column 'column 3'" in str(err.value)


def test_a_dataframe_of_bool_or_nullable_columns_is_numeric(planted):
    # numpy reads a bool column beside float ones, or a nullable Float64 column, as
    # objects, and such a table was refused: "X must be numeric, got dtype object".
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame(planted.X_train[:, :3], columns=["a", "b", "c"])
    frame["high"] = frame["a"] > 0
    model = LogisticRegression().fit(frame, planted.y_train)
    bb = BlackBox.from_sklearn(model)
    rows = frame.iloc[:6]
    np.testing.assert_allclose(bb.predict_proba(rows), model.predict_proba(rows))
    nullable = rows.astype({"a": "Float64", "high": "boolean"})
    np.testing.assert_allclose(bb.predict_proba(nullable), model.predict_proba(rows))
    nullable.iloc[2, 1] = pd.NA
    with pytest.raises(ValueError, match=r"X contains NaN \(first at index \(2, 1\), column 'b'"):
        bb.predict_proba(nullable)
    text = rows.assign(high=np.where(rows["high"], "yes", "no"))
    with pytest.raises(TypeError, match=r"X must be numeric, but its column\(s\) 'high' \("):
        bb.predict_proba(text)


def test_a_dataframes_row_is_told_how_to_become_a_batch(planted, planted_named_blackbox):
    # df.iloc[0] is a Series: the hint X[None] raised KeyError on it.
    import pandas as pd

    frame = pd.DataFrame(planted.X_test[:3], columns=list(PLANTED_COLUMNS))
    with pytest.raises(ValueError, match=r"single sample \(20,\); .*X\.to_frame\(\)\.T") as err:
        planted_named_blackbox.predict_proba(frame.iloc[0])
    assert "X[None]" not in str(err.value)
    # The hint works: one row, its columns matched by name.
    row = frame.iloc[0].to_frame().T
    np.testing.assert_allclose(
        planted_named_blackbox.predict_proba(row), planted_named_blackbox.predict_proba(frame)[:1]
    )


def test_a_classifier_without_probabilities_is_told_how_to_get_them(planted):
    # A pipeline ending in an SVC was refused with "Pipeline has no predict_proba" and
    # no word of the two ways scikit-learn gives it one.
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    X, y = planted.X_train[:300], planted.y_train[:300]
    pipe = make_pipeline(StandardScaler(), SVC()).fit(X, y)
    with pytest.raises(TypeError, match=r"Pipeline has no predict_proba: .*probability=True"):
        BlackBox.from_sklearn(pipe)
    calibrated = CalibratedClassifierCV(pipe).fit(X, y)  # the fix the message names
    np.testing.assert_allclose(
        BlackBox.from_sklearn(calibrated).predict_proba(X[:4]), calibrated.predict_proba(X[:4])
    )


def test_a_missing_label_among_string_labels_is_named(planted):
    # A pandas column of string labels with a gap holds NaN among its strings, and
    # np.unique failed on it: "'<' not supported between instances of 'float' and 'str'".
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    labels = np.array(["no", "yes"])[planted.y_train]
    box = BlackBox.from_sklearn(LogisticRegression(max_iter=1000).fit(planted.X_train, labels))
    gappy = pd.Series(labels[:5]).astype(object)
    for missing in (None, np.nan, pd.NA):
        gappy.iloc[3] = missing
        with pytest.raises(ValueError, match=r"y holds a missing label \(.*\) at index 3"):
            box.class_indices(gappy, n=5)
    gappy.iloc[3] = "no"
    np.testing.assert_array_equal(box.class_indices(gappy, n=5), (labels[:5] == "yes") * 1)


def test_a_gap_in_a_dataframe_is_named_by_its_column(planted, planted_named_blackbox):
    # "X contains NaN (first at index (1, 2))" left the user to count columns.
    import pandas as pd

    frame = pd.DataFrame(planted.X_test[:4], columns=list(PLANTED_COLUMNS))
    frame.iloc[1, 12] = np.nan
    message = r"X contains NaN \(first at index \(1, 12\), column 'column 12'; impute or drop"
    with pytest.raises(ValueError, match=message):
        planted_named_blackbox.predict_proba(frame)
    with pytest.raises(ValueError, match=r"X contains NaN \(first at index \(1, 12\)\)$"):
        planted_named_blackbox.predict_proba(frame.to_numpy())  # no names to give


@pytest.mark.parametrize("dtype", [np.float16, torch.float16, torch.bfloat16])
def test_a_callable_may_return_half_precision_probabilities(dtype):
    # A float16 softmax sums to 1 only within its rounding (row 10 here: 1.00024), and
    # numpy could not read a bfloat16 tensor at all: both were refused, though
    # from_callable takes "a tensor, of any float dtype".
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    model = LogisticRegression(max_iter=500).fit(X, y)

    def half(rows):
        proba = model.predict_proba(rows)
        if isinstance(dtype, torch.dtype):
            return torch.as_tensor(proba).to(dtype)
        return proba.astype(dtype)

    bb = BlackBox.from_callable(half, n_classes=2, input_shape=(30,))
    proba = bb.predict_proba(X)
    np.testing.assert_allclose(proba, model.predict_proba(X), atol=1e-2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-15)
    # still no licence for a row that does not sum to 1
    off = BlackBox.from_callable(lambda rows: half(rows) * 0.5, n_classes=2, input_shape=(30,))
    with pytest.raises(ValueError, match=r"probabilities: row \d+ of X sums to 0\.[45]\d*, not"):
        off.predict_proba(X)


def test_a_callable_may_return_a_tensor_that_requires_grad():
    # A module called without no_grad returns such a tensor; numpy refuses to read it,
    # and the black box said "returned Tensor, which is not a numeric array".
    X = load_iris().data
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 3)

    def forward(rows):
        return torch.softmax(net(torch.as_tensor(rows, dtype=torch.float32)), dim=1)

    bb = BlackBox.from_callable(forward, n_classes=3, input_shape=(4,))
    with torch.no_grad():
        expected = forward(X).double().numpy()
    np.testing.assert_allclose(bb.predict_proba(X), expected, atol=1e-6)


def test_a_dataframe_whose_labels_mix_names_and_numbers_is_refused():
    # Read by position, the named column out of place (petal width first) went to
    # the model as sepal length without a word; scikit-learn refuses such labels.
    import pandas as pd

    iris = load_iris(as_frame=True)
    frame = iris.data
    model = LogisticRegression(max_iter=500).fit(frame, iris.target)
    bb = BlackBox.from_sklearn(model)
    names = list(frame.columns)
    mixed = pd.DataFrame(frame[names[::-1]].to_numpy(), columns=[names[3], 1, 2, names[0]])
    with pytest.raises(ValueError, match=r"X's column labels mix names and other labels "):
        bb.predict_proba(mixed)
    with pytest.raises(ValueError, match=r"\(columns 1, 2\)"):
        Lime(bb, n_samples=40, random_state=0).explain(mixed)
    # named, in any order, or unnamed (by position), it is read as before
    expected = model.predict_proba(frame)
    np.testing.assert_allclose(bb.predict_proba(frame[names[::-1]]), expected)
    np.testing.assert_allclose(bb.predict_proba(pd.DataFrame(frame.to_numpy())), expected)


@pytest.mark.parametrize("input_shape", [4, np.int64(4)])
def test_a_callables_input_shape_that_is_no_tuple_of_positive_ints_is_named(input_shape):
    # An int failed in tuple() with "'int' object is not iterable", naming no argument,
    # where from_torch says what input_shape must be.
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    with pytest.raises(ValueError, match=r"input_shape must be a non-empty tuple of positive"):
        BlackBox.from_callable(model.predict_proba, n_classes=3, input_shape=input_shape)
    # a list or numpy ints are a shape as a tuple is
    bb = BlackBox.from_callable(model.predict_proba, n_classes=3, input_shape=[np.int64(4)])
    assert bb.input_shape == (4,)
    np.testing.assert_allclose(bb.predict_proba(X[:5]), model.predict_proba(X[:5]))


def test_a_longdouble_X_is_explained_as_float64():
    # It went to torch as it was: a torch black box blamed the model ("raised TypeError
    # ... can't convert np.ndarray of type numpy.longdouble") and Lime failed in torch.
    X, y = load_iris(return_X_y=True)
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    bb = BlackBox.from_torch(module, input_shape=(4,))
    wide = X[:6].astype(np.longdouble)
    np.testing.assert_array_equal(bb.predict_proba(wide), bb.predict_proba(X[:6]))
    sk = BlackBox.from_sklearn(LogisticRegression(max_iter=500).fit(X, y))
    lime = Lime(sk, n_samples=40, random_state=0)
    np.testing.assert_array_equal(lime.explain(wide).values, lime.explain(X[:6]).values)


@pytest.mark.parametrize("value", [1e39, -1e300])
def test_probabilities_that_overflow_the_model_dtype_say_so(value):
    # Finite in float64, infinite in the float32 model: predict_proba said only that
    # the model "returned NaN or infinite values", where features() named the cause.
    X = load_iris().data
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    bb = BlackBox.from_torch(module, input_shape=(4,))
    rows = X[:3].copy()
    rows[1, 2] = value
    with pytest.raises(
        ValueError,
        match=r"NaN or infinite values \(first on row 1 of X\): X holds values beyond the range",
    ):
        bb.predict_proba(rows)
    with pytest.raises(ValueError, match=r"beyond the range of the model's torch.float32"):
        Saliency(bb).explain(rows)
    # a model whose own weights make NaN is not said to have been given too large an X
    with torch.no_grad():
        module[2].bias[0] = float("nan")
    with pytest.raises(ValueError, match=r"values \(first on row 0 of X\) from inputs within"):
        bb.predict_proba(X[:3])


def test_a_missing_label_of_a_series_is_named_by_its_index_label(planted):
    # class_indices read the Series as an array before check_labels saw it: "at index
    # 3" sent the user to y.loc[3], another row's label (a split's shuffled index).
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rows = np.random.default_rng(0).permutation(10) + 100
    y = planted.y_train[:10]
    names = np.array(["no", "yes"])
    by_name = LogisticRegression(max_iter=1000).fit(planted.X_train, names[planted.y_train])
    for box, labels in (  # indices as labels (class_index hands them on), named labels
        (
            BlackBox.from_sklearn(
                LogisticRegression(max_iter=1000).fit(planted.X_train, planted.y_train)
            ),
            y.astype(float),
        ),
        (BlackBox.from_sklearn(by_name), names[y].astype(object)),
    ):
        gappy = pd.Series(labels, index=rows)
        gappy.iloc[3] = np.nan
        message = rf"y holds a missing label \(nan\) at index 3, row y\.loc\[{rows[3]}\]; drop"
        with pytest.raises(ValueError, match=message):
            box.class_indices(gappy, n=10)
        with pytest.raises(ValueError, match=r"at index 3; drop"):  # its own row numbers
            box.class_indices(gappy.reset_index(drop=True), n=10)


def test_a_nan_among_string_labels_in_a_list_is_named_as_missing():
    # numpy turned ["setosa", nan] into the strings ["setosa", "nan"]: "target holds
    # 'nan', which is not a class", and for the labels themselves "classes mixes
    # strings and numbers, ['setosa', 'versicolor', nan]".
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])
    model = LogisticRegression(max_iter=500).fit(X, names[y])
    box = BlackBox.from_sklearn(model)
    with pytest.raises(ValueError) as raised:
        box.class_indices(["setosa", np.nan], n=2, name="target")
    assert str(raised.value) == (
        "target holds a missing label (nan) at index 1; drop those rows or give them a class"
    )
    with pytest.raises(ValueError) as raised:
        BlackBox.from_sklearn(model, classes=["setosa", "versicolor", np.nan])
    assert str(raised.value) == (
        "classes holds a missing label (nan) at index 2; give each class its label"
    )
    assert box.class_indices(["virginica", "setosa"], n=2).tolist() == [2, 0]


def test_features_name_the_first_row_whose_layer_output_is_not_finite():
    # "produced NaN or infinite values" named no row: the user searched all of X for
    # the input that overflowed. A DataFrame's row is named by its label, as X's are.
    from sklearn.model_selection import train_test_split

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    bb = BlackBox.from_torch(module, input_shape=(4,), batch_size=4)
    _, X = train_test_split(load_iris(as_frame=True).data, test_size=10, random_state=0)
    X = X.copy()
    X.iloc[5, 2] = 1e300  # finite in float64, infinite in the float32 model; batch 2
    label = X.index[5]
    assert label != 5
    message = (
        r"layer '0' of 'Sequential' produced NaN or infinite values "
        rf"\(first on row 5 of X, row X\.loc\[{label}\]\): X holds values beyond"
    )
    with pytest.raises(ValueError, match=message):
        bb.features(X, "0")
    with pytest.raises(ValueError, match=r"\(first on row 5 of X\): X holds"):  # no labels
        bb.features(X.to_numpy(), "0")
    with pytest.raises(ValueError, match=r"\(first on perturbation 1 of 2 of row 2 of X\)"):
        bb._features(X.to_numpy(), "0", perturbation_name(0, 2))  # rows the caller made


def test_probabilities_name_the_first_row_the_model_answers_with_nan():
    # "returned NaN or infinite values" named no row, where features() names its
    # own: the user searched all of X for the input. A DataFrame's row is named by
    # its label, a later batch's by its row of X, and rows the caller made by name.
    from sklearn.model_selection import train_test_split

    X_all, y_all = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=500).fit(X_all.to_numpy(), y_all)

    def proba(X):
        out = model.predict_proba(X)
        out[X[:, 2] > 100] = np.nan  # a model with no answer for such a petal
        return out

    bb = BlackBox.from_callable(proba, n_classes=3, input_shape=(4,), batch_size=4)
    _, X = train_test_split(X_all, test_size=10, random_state=0)
    X = X.copy()
    X.iloc[5, 2] = 1e3  # in the second batch
    label = X.index[5]
    assert label != 5
    message = (
        r"black box 'proba' returned NaN or infinite values "
        rf"\(first on row 5 of X, row X\.loc\[{label}\]\)$"
    )
    with pytest.raises(ValueError, match=message):
        bb.predict_proba(X)
    with pytest.raises(ValueError, match=r"values \(first on row 5 of X\)$"):  # no labels
        bb.predict_proba(X.to_numpy())
    with pytest.raises(ValueError, match=r"\(first on perturbation 1 of 2 of row 2 of X\)$"):
        bb._proba_rows(X.to_numpy(), perturbation_name(0, 2))  # rows the caller made


def test_a_row_that_does_not_sum_to_one_is_named_by_its_row_of_x():
    # It was numbered within its batch: row 6 of X, in the fourth batch of 2, was
    # reported as "row 0 sums to 0.6".
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(X, y)

    def proba(rows):
        out = model.predict_proba(rows)
        out[rows[:, 0] > 7.5] *= 0.6  # a model that loses mass on long sepals
        return out

    bb = BlackBox.from_callable(proba, n_classes=3, input_shape=(4,), batch_size=2)
    rows = X[:8].copy()
    rows[6, 0] = 7.9
    with pytest.raises(ValueError, match=r"not probabilities: row 6 of X sums to 0\.6, not 1$"):
        bb.predict_proba(rows)


@pytest.mark.parametrize("missing", ["nan", "NA", "NaT"])
def test_a_row_whose_label_is_missing_is_named_by_its_position(missing):
    # A NaN label read "row X.loc[nan]", a location no one can look up (X.loc[nan]
    # raises KeyError), where a None label was left out and the position named the row.
    import pandas as pd

    from tests.helpers import iris_refusing_a_petal_of_4

    gap = {"nan": np.nan, "NA": pd.NA, "NaT": pd.NaT}[missing]
    box, X = iris_refusing_a_petal_of_4()  # row 1 raises
    labels = (
        [pd.Timestamp(f"2024-01-0{i + 1}") for i in range(6)]
        if missing == "NaT"
        else [f"flower-{i}" for i in range(6)]
    )
    labels[1] = gap
    X = X.set_axis(pd.Index(labels, dtype="datetime64[ns]" if missing == "NaT" else object))
    with pytest.raises(BlackBoxError) as raised:
        box.predict_proba(X)
    assert str(raised.value) == (
        "black box 'refuses_a_petal_of_4' raised ValueError on row 1 of the 6 rows queried: "
        "petal length 4.0"
    )

    def no_more_than_three(rows):
        if len(rows) > 3:
            raise RuntimeError("out of memory")
        return np.tile([0.5, 0.5], (len(rows), 1))

    # A batch's end without a label reads X.iloc[i]: X.loc[1] is another row, or none.
    batches = BlackBox.from_callable(no_more_than_three, n_classes=2, batch_size=4)
    with pytest.raises(BlackBoxError) as raised:
        batches.predict_proba(X.iloc[[1, 0, 2, 3, 4, 5]])
    assert "(0..3 of the 6 queried, rows X.iloc[0] to X.loc[" in str(raised.value)
    if missing == "nan":
        float_labels = X.set_axis(pd.Index([10.0, 11.0, 12.0, np.nan, 14.0, 15.0]))
        with pytest.raises(BlackBoxError, match=r"rows X\.loc\[10\.0\] to X\.iloc\[3\]\), "):
            batches.predict_proba(float_labels)


def test_the_rounding_allowance_is_worked_out_only_for_rows_beyond_the_tolerance(monkeypatch):
    # It made five arrays of the whole batch's size for every batch, though a float
    # model's rows (nearly all) sum to 1 within the tolerance and need none.
    import unboxed.blackbox as blackbox_module

    X, y = load_digits(return_X_y=True)
    model = LogisticRegression(max_iter=2000).fit(X / 16, y)
    X = X[:300] / 16
    seen = []
    allowance = blackbox_module._rounding_allowance

    def recorded(proba, resolution):
        seen.append(proba.shape[0])
        return allowance(proba, resolution)

    monkeypatch.setattr(blackbox_module, "_rounding_allowance", recorded)
    BlackBox.from_sklearn(model).predict_proba(X)
    assert seen == []
    # rounded to 4 decimals, only the rows that stray beyond the tolerance are read
    rounded = np.round(model.predict_proba(X), 4)
    strays = int(np.sum(np.abs(rounded.sum(axis=1) - 1) > PROBABILITY_TOLERANCE))
    assert strays > 0
    box = BlackBox.from_callable(lambda rows: np.round(model.predict_proba(rows), 4), n_classes=10)
    np.testing.assert_allclose(box.predict_proba(X).sum(axis=1), 1.0)
    assert sum(seen) == strays
