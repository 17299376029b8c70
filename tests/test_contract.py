"""One contract suite over every public estimator, procedure and explanation class.

Each later issue adds its classes to the registries below; the tests then check the
save/load round trip, determinism under ``random_state`` and the bad-input errors.
"""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from unboxed import Attribution, BlackBox, Explanation, FeatureImportance, make_meta, zoo
from unboxed.evaluate import agreement, crafted_cases, deletion_test, keep_top_k
from unboxed.piecewise import Distiller

SUPPORT = np.array([2, 5, 11, 17])


# ----------------------------------------------------------------- explanations
def _attribution(rng: np.random.Generator) -> Attribution:
    return Attribution(
        rng.normal(size=(3, 16)),
        rng.integers(0, 4, size=3),
        make_meta("contract", {"a": 1}, seed=0),
        inputs=rng.uniform(size=(3, 16)),
        image_shape=(4, 4),
    )


def _importance(rng: np.random.Generator) -> FeatureImportance:
    values = rng.uniform(size=(4, 6))
    return FeatureImportance(
        values,
        make_meta("contract", {}),
        ci=np.stack([values - 1, values + 1], -1),
        class_names=tuple("abcd"),
        feature_names=tuple(f"f{j}" for j in range(6)),
    )


EXPLANATIONS = {"Attribution": _attribution, "FeatureImportance": _importance}


def assert_same(a, b) -> None:
    """Exact equality of two results, field by field, arrays included."""
    assert type(a) is type(b)
    if dataclasses.is_dataclass(a):
        for field in dataclasses.fields(a):
            assert_same(getattr(a, field.name), getattr(b, field.name))
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same(a[key], b[key])
    else:
        assert a == b


def test_every_explanation_class_is_registered():
    assert set(EXPLANATIONS) == set(Explanation._registry)


@pytest.mark.parametrize("name", sorted(EXPLANATIONS))
def test_explanation_round_trip(name, tmp_path):
    original = EXPLANATIONS[name](np.random.default_rng(0))
    original.save(tmp_path / "e.npz")
    assert_same(type(original).load(tmp_path / "e.npz"), original)
    assert_same(Explanation.load(tmp_path / "e.npz"), original)


@pytest.mark.parametrize("name", sorted(EXPLANATIONS))
def test_explanation_rejects_pickles_and_other_classes(name, tmp_path):
    cls = type(EXPLANATIONS[name](np.random.default_rng(0)))
    (tmp_path / "p.npz").write_bytes(pickle.dumps(np.zeros(3)))
    with pytest.raises(ValueError, match="not an unboxed explanation file"):
        cls.load(tmp_path / "p.npz")
    for other, build in EXPLANATIONS.items():
        if other != name:
            build(np.random.default_rng(0)).save(tmp_path / "o.npz")
            with pytest.raises(ValueError, match=f"not the {name} asked for"):
                cls.load(tmp_path / "o.npz")


@pytest.mark.parametrize("name", sorted(EXPLANATIONS))
def test_explanation_rejects_nan_and_is_frozen(name):
    good = EXPLANATIONS[name](np.random.default_rng(0))
    values = good.values.copy()
    values[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        dataclasses.replace(good, values=values)
    with pytest.raises(dataclasses.FrozenInstanceError):
        good.meta = {}
    with pytest.raises(ValueError, match="read-only"):
        good.values[0, 0] = 0.0


@pytest.mark.parametrize("name", sorted(EXPLANATIONS))
def test_explanation_top_k_and_plot(name):
    import matplotlib.pyplot as plt

    explanation = EXPLANATIONS[name](np.random.default_rng(0))
    kwargs = {"class_": 0} if isinstance(explanation, FeatureImportance) else {}
    top = explanation.top_k(3, **kwargs)
    assert top.shape[-1] == 3 and top.min() >= 0 and top.max() < explanation.values.shape[1]
    assert explanation.plot() is not None
    plt.close("all")


# ----------------------------------------------------------------- black boxes
def _torch_box(planted):
    model = zoo.mlp((8,), n_features=20, n_classes=2)
    return BlackBox.from_torch(model, input_shape=(20,))


def _sklearn_box(planted):
    return BlackBox.from_sklearn(LogisticRegression().fit(planted.X_train, planted.y_train))


def _callable_box(planted):
    return BlackBox.from_callable(
        lambda X: np.stack([1 - X[:, 2], X[:, 2]], axis=1), n_classes=2, input_shape=(20,)
    )


BLACKBOXES = {"torch": _torch_box, "sklearn": _sklearn_box, "callable": _callable_box}


def _bad_inputs(X: np.ndarray) -> dict[str, tuple[np.ndarray, str]]:
    nan = X.copy()
    nan[1, 3] = np.nan
    inf = X.copy()
    inf[0, 0] = -np.inf
    return {
        "nan": (nan, "contains NaN"),
        "inf": (inf, "contains infinity"),
        "empty": (X[:0], "empty"),
        "wrong width": (X[:, :7], "expects"),
    }


@pytest.mark.parametrize("kind", sorted(BLACKBOXES))
@pytest.mark.parametrize("case", ["nan", "inf", "empty", "wrong width"])
def test_blackbox_bad_input(kind, case, planted):
    blackbox = BLACKBOXES[kind](planted)
    X, message = _bad_inputs(planted.X_test[:10])[case]
    with pytest.raises(ValueError, match=message):
        blackbox.predict_proba(X)


# ----------------------------------------------------------------- procedures
# name -> run(blackbox, X, random_state) -> result. Every public estimator or
# procedure that takes a random_state goes here.
PROCEDURES = {
    "deletion_test": lambda bb, X, rs: deletion_test(
        bb, X, SUPPORT, [1, 3], target=1, random_state=rs, verbose=False
    ),
    "deletion_test_negative": lambda bb, X, rs: deletion_test(
        bb,
        X,
        SUPPORT,
        [2],
        target=1,
        cases="negative",
        fill="positive_mean",
        random_state=rs,
        verbose=False,
    ),
    "crafted_cases": lambda bb, X, rs: crafted_cases(
        bb, X, SUPPORT, [0, 4], target=1, n_cases=50, random_state=rs, verbose=False
    ),
    "keep_top_k": lambda bb, X, rs: keep_top_k(
        bb, X, np.zeros(len(X), int), SUPPORT, 2, n_boot=50, random_state=rs
    ),
    "agreement": lambda bb, X, rs: agreement(
        bb.predict(X), (X[:, 2] > 0.5).astype(int), n_boot=50, random_state=rs
    ),
    # piecewise (issue 6)
    "Distiller": lambda bb, X, rs: (
        Distiller(
            widths=(8,), epochs=2, grid={"temperature": (2.0,)}, random_state=rs, verbose=False
        )
        .fit(bb, X)
        .predict_proba(X)
    ),
}


@pytest.mark.parametrize("name", sorted(PROCEDURES))
def test_same_random_state_same_result(name, planted, planted_blackbox):
    X = planted.X_test[:300]
    first = PROCEDURES[name](planted_blackbox, X, 11)
    second = PROCEDURES[name](planted_blackbox, X, 11)
    assert_same(first, second)


@pytest.mark.parametrize("name", sorted(PROCEDURES))
@pytest.mark.parametrize("case", ["nan", "inf", "empty", "wrong width"])
def test_procedure_bad_input(name, case, planted, planted_blackbox):
    X, message = _bad_inputs(planted.X_test[:50])[case]
    with pytest.raises(ValueError, match=message):
        PROCEDURES[name](planted_blackbox, X, 0)


@pytest.mark.parametrize("name", sorted(PROCEDURES))
def test_procedure_rejects_a_bad_random_state(name, planted, planted_blackbox):
    with pytest.raises((TypeError, ValueError), match="random_state"):
        PROCEDURES[name](planted_blackbox, planted.X_test[:50], "seed")


# ----------------------------------------------------------------- zoo models
@pytest.mark.parametrize("architecture", sorted(zoo.BUILDERS))
def test_zoo_model_determinism_and_round_trip(architecture, tmp_path, digits):
    def fit():
        model = zoo.build(architecture, input_shape=(1, 8, 8), n_classes=10, random_state=3)
        zoo.train(model, digits, epochs=1, random_state=3, verbose=False)
        return model

    first, second = fit(), fit()
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key]), key
    loaded = zoo.load(zoo.save(first, tmp_path))
    X = digits.X_test[:20]
    assert np.array_equal(
        zoo.as_blackbox(first).predict_proba(X), zoo.as_blackbox(loaded).predict_proba(X)
    )
