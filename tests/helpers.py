"""Markers and helpers shared by the tests."""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import os
import sys
import zipfile
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch

from unboxed import load_dataset, zoo
from unboxed.data import _fashion_mnist, _mnist
from unboxed.local import KernelShap, Lime, Occlusion

#: Column names for ``planted`` as a DataFrame: unlike ``planted.feature_names``, they
#: can reach an explanation only through the model.
PLANTED_COLUMNS = tuple(f"column {j}" for j in range(20))


def load_benchmark(name: str, common=None):
    """``benchmarks/<name>.py``, loaded from its file: the benchmarks folder on sys.path
    would let its scripts (clime, jgmm) shadow other modules for the whole session. A
    script's ``from _common import ...`` reads ``common`` (a module this loaded)."""
    path = Path(__file__).parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_benchmarks_{name.lstrip('_')}", path)
    module = importlib.util.module_from_spec(spec)
    saved = sys.modules.get("_common")
    if common is not None:
        sys.modules["_common"] = common
    try:
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            sys.modules.pop("_common", None)
        else:
            sys.modules["_common"] = saved
    return module


@functools.cache
def benchmarks_common():
    """``benchmarks/_common.py``, loaded once for every test that uses it."""
    return load_benchmark("_common")


#: Short trainings in place of the benchmarks' long ones (``_common.TRAINING``).
BENCHMARK_TRAINING = {
    ("mlp", "digits"): {"epochs": 2, "lr": 1e-2},
    ("mlp", "moons"): {"epochs": 1, "lr": 1e-2},
}


def digits_accuracy(model):
    """A zoo model's accuracy on digits' test split, computed here."""
    digits = load_dataset("digits")
    return float(np.mean(zoo.as_blackbox(model).predict(digits.X_test) == digits.y_test))


def retrain_benchmark_model(cache, key):
    """Save other weights under ``key``, as a rerun of the training elsewhere would."""
    model = zoo.load(cache / key)
    with torch.no_grad():
        model.fc1.weight[0, 0] += 1e-3
    zoo.save(model, cache / key)


def assert_same_result(loaded, saved):
    """``loaded`` is ``saved`` field by field: same type, arrays of the same dtype,
    shape and values, other fields equal and of the same type."""
    assert type(loaded) is type(saved)
    for field in dataclasses.fields(saved):
        got, want = getattr(loaded, field.name), getattr(saved, field.name)
        if isinstance(want, np.ndarray):
            assert got.dtype == want.dtype and got.shape == want.shape, field.name
            np.testing.assert_array_equal(got, want)
        else:
            assert got == want and type(got) is type(want), field.name


def save_without_field(source, field, target=None):
    """Rewrite the result file ``source`` (to ``target``, by default in place) with
    ``field`` taken out of its JSON header, as a file written before the field existed."""
    arrays = dict(np.load(source, allow_pickle=False))
    header = json.loads(str(arrays["__unboxed__"]))
    del header["fields"][field]
    arrays["__unboxed__"] = np.array(json.dumps(header))
    np.savez(target or source, **arrays)


def drop_meta(result):
    """``result`` without its ``meta`` fields, which record the seed and so always
    differ between seeds: dataclasses and dicts become dicts, recursively."""
    if dataclasses.is_dataclass(result):
        return {
            f.name: drop_meta(getattr(result, f.name))
            for f in dataclasses.fields(result)
            if f.name != "meta"
        }
    if isinstance(result, dict):
        return {key: drop_meta(value) for key, value in result.items()}
    return result


requires_fashion_mnist = pytest.mark.skipif(
    _fashion_mnist.locate() is None,
    reason="Fashion-MNIST is not installed (make data, or apt-get install dataset-fashion-mnist)",
)
requires_mnist = pytest.mark.skipif(
    _mnist.locate() is None, reason="MNIST is not installed (make data)"
)


def torch_logistic_regression(estimator):
    """A zoo MLP that computes a binary sklearn ``LogisticRegression``'s probabilities:
    its hidden layer passes the features through (ReLU of non-negative inputs), and
    its two logits are -z/2 and z/2 for the regression's z."""
    import torch

    from unboxed import zoo

    n_features = estimator.coef_.shape[1]
    model = zoo.mlp((n_features,), n_features=n_features, n_classes=2)
    with torch.no_grad():
        model.fc1.weight.copy_(torch.eye(n_features))
        model.fc1.bias.zero_()
        coef = torch.as_tensor(estimator.coef_[0], dtype=torch.float32) / 2
        model.fc2.weight.copy_(torch.stack([-coef, coef]))
        b = float(estimator.intercept_[0]) / 2
        model.fc2.bias.copy_(torch.tensor([-b, b]))
    return model


def breast_cancer_box():
    """Raw breast-cancer rows (features from 1e-3 to 4e3) and a torch black box of a
    logistic regression fitted on them: the model is linear in the raw features, so
    its logit's gradient is the same everywhere. Returns ``(X, box, coef)``, ``coef``
    the raw-unit weights of class 1's logit."""
    from types import SimpleNamespace

    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    from unboxed import BlackBox

    X, y = load_breast_cancer(return_X_y=True)
    mean, std = X.mean(0), X.std(0)
    fitted = LogisticRegression(max_iter=1000).fit((X - mean) / std, y)
    coef = fitted.coef_[0] / std  # the same model on the raw features
    raw = SimpleNamespace(coef_=coef[None], intercept_=fitted.intercept_ - coef @ mean)
    box = BlackBox.from_torch(torch_logistic_regression(raw), input_shape=(X.shape[1],))
    return X, box, coef


def breast_cancer_mlp():
    """Breast-cancer (standardized) and a torch black box of a small MLP trained on it
    here (seed 0), with an ``nn.Identity`` first so that its layer "0" is the input
    itself. Returns ``(data, box)``."""
    from torch import nn

    from unboxed import BlackBox

    data = load_dataset("breast-cancer")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Identity(), nn.Linear(30, 8), nn.ReLU(), nn.Linear(8, 2))
    X, y = torch.as_tensor(data.X_train), torch.as_tensor(data.y_train)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(60):
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(X), y).backward()
        optimizer.step()
    return data, BlackBox.from_torch(net, input_shape=(30,), feature_names=data.feature_names)


def interrupt_at(monkeypatch, owner, name, stop=None):
    """Count the calls to ``owner.name`` and raise ``KeyboardInterrupt`` on call number
    ``calls["stop"]`` (None: never), as Ctrl-C would; the dict returned holds the count
    ``"n"`` and ``"stop"``, both free to reset between runs."""
    calls, real = {"n": 0, "stop": stop}, getattr(owner, name)

    def counted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == calls["stop"]:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def spy_on_device_seeding(monkeypatch):
    """Record, instead of running, every seeding of an accelerator's generators (CUDA,
    MPS, XPU) and return the list of their names.

    ``torch.manual_seed`` seeds every device's generator, not just the CPU's: a call
    that reached it reseeded the user's CUDA generator on a GPU machine, which
    ``fork_rng(devices=[])`` does not put back. The spy shows it on any machine.
    """
    import torch

    seeded = []
    for module, name in [
        (torch.cuda, "manual_seed_all"),
        (torch.mps, "manual_seed"),
        (torch.xpu, "manual_seed_all"),
    ]:
        monkeypatch.setattr(module, name, lambda seed, name=name: seeded.append(name))
    return seeded


def record_progress(monkeypatch, owner):
    """Replace ``owner.progress`` with a recorder and return the list of bars it makes:
    each keeps its ``kwargs``, its ``updates`` and the ``items`` iterated through it."""
    bars = []

    class Recorder:
        def __init__(self, iterable=None, **kwargs):
            self.iterable, self.kwargs, self.updates, self.items = iterable, kwargs, [], []
            bars.append(self)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def __iter__(self):
            for item in self.iterable:
                self.items.append(item)
                yield item

        def update(self, k):
            self.updates.append(k)

    monkeypatch.setattr(owner, "progress", Recorder)
    return bars


def cut_off_mid_write(partial: bytes):
    """A stand-in for a writer (``Figure.savefig``, ``np.savez``) that is interrupted
    after writing ``partial``: its file is the last positional argument."""

    def write(*args, **kwargs):
        target = args[-1]
        if isinstance(target, str | os.PathLike):
            with open(target, "wb") as handle:
                handle.write(partial)
        else:
            target.write(partial)
        raise KeyboardInterrupt

    return write


half_an_image_then_ctrl_c = cut_off_mid_write(b"\x89PNG half")


def assert_progress_shown(capfd, verbose: bool, *labels: str) -> None:
    """What the call before printed: with ``verbose`` a bar per label on stderr, without
    it nothing at all; never anything on stdout, where a user's piped output goes."""
    out, err = capfd.readouterr()
    assert out == ""
    if verbose:
        assert all(label in err for label in labels), err
    else:
        assert err == ""


class HtmlPage(HTMLParser):
    """An HTML page read with the standard library's parser: every tag closed in
    order (void elements aside), and per ``<section id=...>`` its text, ``<img>``
    sources and ``<pre>`` texts (entities decoded)."""

    VOID = frozenset({"meta", "img", "br", "hr", "link", "input"})

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.tags: list[str] = []
        self.doctype = ""
        self.sections: dict[str, dict] = {}
        self._section: dict | None = None
        self.feed(text)
        self.close()
        assert self.open == [], f"tags left open: {self.open}"

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        attributes = dict(attrs)
        if tag == "section":
            self._section = {"text": "", "images": [], "pre": []}
            self.sections[attributes["id"]] = self._section
        if self._section is not None and tag == "img":
            self._section["images"].append(attributes["src"])
        if self._section is not None and tag == "pre":
            self._section["pre"].append("")
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()
        if tag == "section":
            self._section = None

    def handle_data(self, data: str) -> None:
        if self._section is not None:
            self._section["text"] += data
            if "pre" in self.open:
                self._section["pre"][-1] += data


def no_zero_dose_for_the_old(batches: list | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """A model of 5 features for ``BlackBox.from_callable(..., n_classes=2)`` that raises
    on any row with feature 0 at 0 and feature 4 above 0.9 (a zero dose for the old),
    and gives [0.25, 0.75] elsewhere: a model that breaks on some rows an explainer
    makes and not on the user's. Each batch it is given goes to ``batches``."""

    def no_zero_dose_for_the_old(X: np.ndarray) -> np.ndarray:
        if batches is not None:
            batches.append(np.array(X))
        if np.any((X[:, 0] == 0) & (X[:, 4] > 0.9)):
            raise ValueError("no zero dose past 0.9")
        return np.tile([0.25, 0.75], (len(X), 1))

    return no_zero_dose_for_the_old


def iris_refusing_a_petal_of_4(spared_calls: int = 0):
    """Six iris rows as a DataFrame labelled "flower-<n>" (a split's, ``test_size=6``,
    seed 0) and a black box of a logistic regression fitted to the others that raises
    on any row whose petal length is 4.0: row 1 ("flower-62") alone holds one, so the
    model refuses that row and those of its copies that keep its petal length. Its
    first ``spared_calls`` calls are answered whatever their rows (an evaluation's
    query of X itself, say, so that its perturbations are what raises). Returns
    ``(box, X)``; the box is named "refuses_a_petal_of_4"."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    from unboxed import BlackBox

    iris = load_iris(as_frame=True)
    X_train, X, y_train, _ = train_test_split(iris.data, iris.target, test_size=6, random_state=0)
    model = LogisticRegression(max_iter=1000).fit(X_train.to_numpy(), y_train)
    X = X.set_axis([f"flower-{i}" for i in X.index])
    petal = X["petal length (cm)"].to_numpy()
    assert np.flatnonzero(petal == 4.0).tolist() == [1]  # row 1's alone, and not a 0 fill
    calls = 0

    def refuses_a_petal_of_4(rows: np.ndarray) -> np.ndarray:
        nonlocal calls
        calls += 1
        if calls > spared_calls and np.any(rows[:, 2] == 4.0):
            raise ValueError("petal length 4.0")
        return model.predict_proba(rows)

    return BlackBox.from_callable(refuses_a_petal_of_4, n_classes=3), X


def digits_gradient_undefined_below(threshold: float):
    """A torch black box of a logistic regression on digits (fitted here, seed 0) whose
    gradient is NaN at every input with pixel 4 at ``threshold`` or below, though its
    probabilities are finite everywhere: each logit gains ``sqrt(u)``, ``u = (x_4 -
    threshold) * (x_4 > threshold)``, the same for every class (so the softmax is the
    regression's), and at ``u = 0`` that term's derivative is ``inf * 0``. Of the first
    6 test rows, pixel 4 is 9, 14, 14, 7, 14, 11 sixteenths: row 3's alone is below
    0.5. Returns ``(box, X_test)``."""
    from sklearn.linear_model import LogisticRegression

    from unboxed import BlackBox

    data = load_dataset("digits")
    fitted = LogisticRegression(max_iter=500).fit(data.X_train, data.y_train)

    class GradientUndefinedBelow(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(64, 10)
            with torch.no_grad():
                self.linear.weight.copy_(torch.as_tensor(fitted.coef_))
                self.linear.bias.copy_(torch.as_tensor(fitted.intercept_))

        def forward(self, x):
            pixel = x.reshape(x.shape[0], -1)[:, 4:5]
            return self.linear(x.reshape(x.shape[0], -1)) + torch.sqrt(
                (pixel - threshold) * (pixel > threshold)
            )

    return BlackBox.from_torch(GradientUndefinedBelow(), input_shape=(64,)), data.X_test


#: Parametrizes a test's ``make(box)`` with small Lime, KernelShap and Occlusion
#: explainers filling with 0: the perturbation explainers whose shared path it tests.
each_perturbation_explainer = pytest.mark.parametrize(
    "make",
    [
        lambda box: Lime(box, n_samples=20, fill=0.0, random_state=0),
        lambda box: KernelShap(box, n_samples=20, fill=0.0, random_state=0),
        lambda box: Occlusion(box, fill=0.0),
    ],
    ids=["Lime", "KernelShap", "Occlusion"],
)


def rewrite_saved(path, change):
    """Rewrite the saved result at ``path`` (an ``.npz`` with a JSON header) with
    ``change(header, arrays)`` applied: a hand-edited file, for the loaders' checks."""
    with zipfile.ZipFile(path) as archive:
        arrays = {n[:-4]: np.load(archive.open(n)) for n in archive.namelist()}
    header = json.loads(str(arrays["__unboxed__"]))
    change(header, arrays)
    arrays["__unboxed__"] = np.array(json.dumps(header))
    np.savez(path, **arrays)


def assert_refused_on_load(result, path, change, message):
    """Save ``result`` to ``path``, hand-edit it with ``change(header, arrays)``
    (:func:`rewrite_saved`), and assert that loading it is refused as "not a valid
    <its class>: " followed by the pattern ``message``."""
    result.save(path)
    rewrite_saved(path, change)
    kind = type(result)
    with pytest.raises(ValueError, match=f"not a valid {kind.__name__}: {message}"):
        kind.load(path)
