"""Round X3: "nothing is lost", adversarially, for every ``checkpoint=``.

Each resumable fit is crashed inside ``atomic_write`` at each of its saves (the
temporary file written, not yet renamed) and, separately, interrupted just after
each save; run again with the same arguments it must end exactly as a fit that was
never interrupted, and the crash must leave the previous checkpoint whole and no
temporary file behind. A checkpoint of another seed, other data or another
architecture is refused.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from unboxed import _io, load_dataset, zoo
from unboxed.piecewise import DecisionNet, Distiller
from unboxed.surrogates import DMMMEN, JGMM, JGMMExplainer

pytestmark = [
    # Fits cut short on purpose: resuming, not quality, is tested here.
    pytest.mark.filterwarnings("ignore:JGMM EM did not converge"),
    pytest.mark.filterwarnings("ignore:the higher components do not map one-to-one"),
]


@pytest.fixture(scope="module")
def problem(planted):
    """Planted rows, an sklearn black box and a small torch MLP black box."""
    from sklearn.linear_model import LogisticRegression

    from unboxed import BlackBox

    model = zoo.build("mlp", input_shape=(20,), n_classes=2, widths=(8,), random_state=0)
    zoo.train(model, planted, epochs=2, random_state=0, verbose=False)
    logreg = LogisticRegression(max_iter=500).fit(planted.X_train, planted.y_train)
    moons = load_dataset("moons")
    net = zoo.mlp((6, 6), n_features=2, n_classes=2, random_state=0)
    zoo.train(net, moons, epochs=5, lr=1e-2, batch_size=64, random_state=0, verbose=False)
    other = zoo.mlp((6, 6), n_features=2, n_classes=2, random_state=1)
    zoo.train(other, moons, epochs=5, lr=1e-2, batch_size=64, random_state=0, verbose=False)
    return {
        "other_net": other,
        "data": planted,
        "X": planted.X_train[:300],
        "bb": BlackBox.from_sklearn(logreg),
        "tb": zoo.as_blackbox(model),
        "moons": moons.X_train[:120],
        "net": net,
    }


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _train(p, checkpoint, seed=5, X=None, width=8):
    model = zoo.build("mlp", input_shape=(20,), n_classes=2, widths=(width,), random_state=1)
    data = _replace_train(p["data"], p["X"] if X is None else X)
    zoo.train(model, data, epochs=3, random_state=seed, checkpoint=checkpoint, verbose=False)
    return _weights(model)


def _replace_train(data, X):
    import dataclasses

    n = len(X)
    return dataclasses.replace(
        data, X_train=X, y_train=data.y_train[:n], X_test=X, y_test=data.y_train[:n]
    )


def _train_vae(p, checkpoint, seed=5, X=None, width=8):
    model = zoo.vae(n_features=20, latent_dim=2, hidden=(width,), random_state=1)
    X = p["X"] / p["X"].max() if X is None else X / X.max()
    zoo.train_vae(model, X, epochs=3, random_state=seed, checkpoint=checkpoint, verbose=False)
    return _weights(model)


def _treereg(p, checkpoint, seed=5, X=None, width=8):
    X = p["X"] if X is None else X
    model = zoo.TreeRegularizedMLP(
        hidden=(width,),
        strength=0.1,
        epochs=4,
        surrogate_steps=10,
        random_state=seed,
        checkpoint=checkpoint,
    ).fit(X, p["data"].y_train[: len(X)])
    return {"proba": model.predict_proba(p["X"])}


def _dmm(p, checkpoint, seed=5, X=None, width=8):
    dmm = DMMMEN(
        n_components=width // 4,
        n_iter=24,
        n_chains=2,
        checkpoint=checkpoint,
        checkpoint_every=8,
        random_state=seed,
        verbose=False,
    ).fit(p["X"] if X is None else X, p["bb"])
    return {name: getattr(dmm, name) for name in ("coef_", "weights_", "sigma2_", "r2_")}


def _jgmm(p, checkpoint, seed=5, X=None, width=8):
    X = p["X"] if X is None else X
    model = JGMM(width // 2 - 1, 2, max_iter=6, n_init=2, random_state=seed, checkpoint=checkpoint)
    model.fit(X, p["bb"].predict_proba(X))
    return {"proba": model.predict_proba_w(p["X"]), "bound": model.lower_bound_}


def _jgmm_explainer(p, checkpoint, seed=5, X=None, width=8):
    explainer = JGMMExplainer(
        p["tb"],
        lower_layer="act1",
        n_components_x=(2, width // 2 - 1),
        max_iter=6,
        random_state=seed,
        checkpoint=checkpoint,
        verbose=False,
    ).fit(p["X"] if X is None else X)
    generated = explainer.prototypes(n_per_class=2, source="generated", n_candidates=8)
    return {"proba": explainer.predict_proba(p["X"]), "values": generated.values}


def _distiller(p, checkpoint, seed=5, X=None, width=8):
    distiller = Distiller(
        widths=(width,),
        epochs=2,
        grid={"temperature": (1.0, 2.0)},
        random_state=seed,
        checkpoint=checkpoint,
        verbose=False,
    ).fit(p["bb"], p["X"] if X is None else X)
    return {"proba": distiller.predict_proba(p["X"])}


def _decisionnet(p, checkpoint, seed=None, X=None, width=8):
    from unboxed.piecewise import _decisionnet

    spacing = _decisionnet._SAVE_SECONDS
    _decisionnet._SAVE_SECONDS = 0.0  # a save after every region, not every few seconds
    try:
        net = p["net"] if width == 8 else p["other_net"]  # the same shape, other weights
        dnet = DecisionNet(net, checkpoint=checkpoint, verbose=False)
        dnet.fit(p["moons"] if X is None else X)
    finally:
        _decisionnet._SAVE_SECONDS = spacing
    return {"w": dnet.hidden_weights_, "b": dnet.hidden_bias_, "states": dnet.states_}


#: name -> run(problem, checkpoint, seed=..., X=..., width=...): the fitted result to
#: compare; ``width`` changes the architecture (or the number of components; for
#: DecisionNet, the network's weights).
RESUMABLE = {
    "zoo.train": _train,
    "zoo.train_vae": _train_vae,
    "TreeRegularizedMLP": _treereg,
    "DMMMEN": _dmm,
    "JGMM": _jgmm,
    "JGMMExplainer": _jgmm_explainer,
    "Distiller": _distiller,
    "DecisionNet": _decisionnet,
}


def assert_same(a, b, where="result"):
    assert type(a) is type(b), where
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), where
    else:
        assert a == b, where


class Replaces:
    """Counts ``os.replace`` (the rename that ends every ``atomic_write``) and raises
    ``KeyboardInterrupt`` at call ``stop``: before the rename, or just after it."""

    def __init__(self, monkeypatch, stop=None, after=False):
        self.n, self.stop, self.after, self.real = 0, stop, after, os.replace
        monkeypatch.setattr(_io.os, "replace", self)

    def __call__(self, src, dst):
        self.n += 1
        if self.n == self.stop and not self.after:
            raise KeyboardInterrupt
        self.real(src, dst)
        if self.n == self.stop:
            raise KeyboardInterrupt


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture(scope="module")
def straight(problem, tmp_path_factory):
    """Each fit uninterrupted, without a checkpoint, and its number of saves."""
    results = {}
    for name, run in RESUMABLE.items():
        folder = tmp_path_factory.mktemp(name.replace(".", "_"))
        mp = pytest.MonkeyPatch()
        try:
            counter = Replaces(mp)
            checkpointed = run(problem, folder / "state")
        finally:
            mp.undo()
        plain = run(problem, None)
        assert_same(plain, checkpointed)  # a checkpoint changes nothing by itself
        results[name] = (plain, counter.n)
    return results


@pytest.mark.parametrize("after", [False, True], ids=["before-rename", "after-rename"])
@pytest.mark.parametrize("name", sorted(RESUMABLE))
def test_a_crash_at_any_save_resumes_to_the_uninterrupted_result(
    name, after, problem, straight, tmp_path, monkeypatch
):
    reference, n_saves = straight[name]
    assert n_saves >= 2, f"{name} saved {n_saves} times; the test needs at least 2"
    path = tmp_path / "state"
    # The first save (before any work, for most), the second and the last.
    for stop in sorted({1, 2, n_saves}):
        for leftover in tmp_path.iterdir():
            leftover.unlink()
        before = None
        crashes = Replaces(monkeypatch, stop=stop, after=after)
        with pytest.raises(KeyboardInterrupt):
            RESUMABLE[name](problem, path)
        if not after:
            # The previous save is whole: byte for byte what the last rename put there.
            assert not any(f.endswith(".tmp") for f in _files(tmp_path)), _files(tmp_path)
            before = path.read_bytes() if path.is_file() else None
        monkeypatch.setattr(_io.os, "replace", crashes.real)
        if before is not None:
            assert path.read_bytes() == before
        assert_same(RESUMABLE[name](problem, path), reference, f"{name}, crash at save {stop}")


REFUSED = "(?i)different|other|another|not the|does not match"


@pytest.mark.parametrize("name", sorted(RESUMABLE))
def test_a_checkpoint_of_another_seed_data_or_architecture_is_refused(name, problem, tmp_path):
    path = tmp_path / "state"
    RESUMABLE[name](problem, path)
    saved = path.read_bytes()
    X = problem["moons"] if name == "DecisionNet" else problem["X"]
    other = X.copy()
    other[3, 1] += 0.25
    if name == "DecisionNet":
        # Its checkpoint holds the answers of linear programs over the regions the
        # data visits; a row moved within its region poses the very same programs, so
        # the resume is right: it must end as a fresh fit on the moved data.
        assert_same(
            RESUMABLE[name](problem, path, X=other), RESUMABLE[name](problem, None, X=other)
        )
        other[np.argmax(other[:, 0]), 0] += 1.0  # a wider bounding box: other programs
    with pytest.raises(ValueError, match=REFUSED):
        RESUMABLE[name](problem, path, X=other)
    if name != "DecisionNet":  # draws nothing: it takes no seed
        with pytest.raises(ValueError, match=REFUSED):
            RESUMABLE[name](problem, path, seed=6)
    with pytest.raises(ValueError, match=REFUSED):
        RESUMABLE[name](problem, path, width=12)
    assert path.read_bytes() == saved  # a refused checkpoint is left as it was
