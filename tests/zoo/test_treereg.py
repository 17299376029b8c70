"""Tree regularization (Wu et al., 2018, as in 002_3e5e1762af60ee33.txt)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers import assert_progress_shown, interrupt_at, spy_on_device_seeding
from unboxed import NotFittedError, zoo
from unboxed.zoo._treereg import _apl, _flat


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def moons():
    from unboxed import load_dataset

    return load_dataset("moons")


def _path_length_and_accuracy(strength: float, seed: int) -> tuple[float, float]:
    """One network of the test below, trained in a worker process on one thread."""
    from unboxed import load_dataset

    torch.set_num_threads(1)
    moons = load_dataset("moons")
    model = zoo.TreeRegularizedMLP(strength=strength, epochs=40, random_state=seed)
    model.fit(moons.X_train, moons.y_train)
    return model.path_length_, float((model.predict(moons.X_test) == moons.y_test).mean())


def test_path_length_falls_as_lambda_grows_on_moons():
    """The issue's target, in a small configuration: the true path length, averaged
    over three seeds, falls monotonically over lambda in {0, 1, 10}, and at lambda 1
    the mean test accuracy stays within 0.1 of the unregularised network's (at 10 the
    tree collapses to one or two splits and the accuracy with it, as
    benchmarks/results/global_probes.md shows).

    The lambdas are far apart because the means move between machines and package
    versions: at lambda 3 they have read 3.809 with accuracy 0.917, and 3.928 with
    accuracy 0.882 (a seed's path length there spreads by 0.57), so {0, 1, 3} passed
    on one machine and failed on another.

    The nine trainings are independent and spend their time in small tensor calls that
    a second thread does not speed up, so two worker processes share them (each on one
    thread, as this module's tests run): they took 68 s in a row on a 2-core AMD EPYC.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    strengths, seeds = (0.0, 1.0, 10.0), range(3)
    jobs = [(strength, seed) for strength in strengths for seed in seeds]
    context = multiprocessing.get_context("spawn")  # torch's threads do not survive a fork
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        results = np.array(list(pool.map(_path_length_and_accuracy, *zip(*jobs, strict=True))))
    # per lambda, means over the seeds
    lengths, accuracies = results.reshape(len(strengths), len(seeds), 2).mean(axis=1).T
    assert lengths[0] > lengths[1] > lengths[2], (lengths, accuracies)
    assert accuracies[0] > 0.95
    assert accuracies[1] >= accuracies[0] - 0.1, (lengths, accuracies)


def test_fit_records_snapshots_and_predicts(moons):
    model = zoo.TreeRegularizedMLP(strength=0.5, epochs=4, snapshot_every=2, n_jitter=2)
    assert model.fit(moons.X_train, moons.y_train) is model
    history = model.history_
    assert history["snapshot_epoch"] == [0, 2] and len(history["loss"]) == 4
    assert history["apl_hat"][0] is None and history["apl_hat"][1] >= 1.0
    proba = model.predict_proba(moons.X_test)
    assert proba.shape == (len(moons.X_test), 2) and np.allclose(proba.sum(1), 1)
    assert set(np.unique(model.predict(moons.X_test))) <= {0, 1}
    box = model.blackbox()
    assert np.allclose(box.predict_proba(moons.X_test), proba, atol=1e-6)
    assert model.path_length(moons.X_test) >= 1.0
    # the surrogate is differentiable in the weights and never predicts below 1 node
    theta = _flat(model.module_).detach().requires_grad_(True)
    value = model.surrogate_(theta)
    (grad,) = torch.autograd.grad(value, theta)
    assert value.item() >= 1.0 and grad.shape == theta.shape


def test_labels_are_mapped_back(moons):
    y = np.where(moons.y_train == 1, 7, 3)
    model = zoo.TreeRegularizedMLP(epochs=2, n_jitter=0).fit(moons.X_train, y)
    assert set(np.unique(model.predict(moons.X_test))) <= {3, 7}
    assert model.classes_.tolist() == [3, 7]


def test_same_seed_same_network(moons):
    def fit():
        return zoo.TreeRegularizedMLP(strength=1.0, epochs=3, n_jitter=1, random_state=2).fit(
            moons.X_train[:200], moons.y_train[:200]
        )

    a, b = fit(), fit()
    for key, value in a.module_.state_dict().items():
        assert torch.equal(value, b.module_.state_dict()[key])


def test_apl_of_a_constant_and_of_a_split():
    X = np.linspace(0, 1, 100)[:, None]
    assert _apl(X, np.zeros(100, int), 1) == 1.0
    assert _apl(X, (X[:, 0] > 0.5).astype(int), 1) == 2.0


def test_not_fitted_and_bad_input(moons):
    model = zoo.TreeRegularizedMLP()
    with pytest.raises(NotFittedError, match="not fitted"):
        model.predict(moons.X_test)
    with pytest.raises(ValueError, match="single class"):
        model.fit(moons.X_train, np.zeros(len(moons.X_train), int))
    X = moons.X_train.copy()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(X, moons.y_train)
    with pytest.raises(ValueError, match=r"shape \(800,\)"):
        model.fit(moons.X_train, moons.y_train[:5])
    fitted = zoo.TreeRegularizedMLP(epochs=1, n_jitter=0).fit(moons.X_train, moons.y_train)
    with pytest.raises(ValueError, match="features"):
        fitted.predict(np.zeros((3, 5)))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"strength": -1},
        {"lr": 0},
        {"epochs": 0},
        {"hidden": (0,)},
        {"hidden": 16},
        {"n_jitter": -1},
        {"batch_size": 0},
        {"snapshot_every": 0},
        {"min_samples_leaf": 0},
        {"surrogate_hidden": 0},
        {"surrogate_steps": 0},
        {"weight_decay": -1.0},
        {"jitter_scale": -1.0},
    ],
)
def test_bad_hyperparameters(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        zoo.TreeRegularizedMLP(**kwargs)


def test_apl_respects_min_samples_leaf():
    X = np.linspace(0, 1, 100)[:, None]
    split = (X[:, 0] > 0.5).astype(int)
    assert _apl(X, split, 50) == 2.0
    assert _apl(X, split, 51) == 1.0  # no split leaves 51 rows on each side


def test_snapshot_apl_is_that_of_the_unperturbed_weights(moons):
    from unboxed.zoo._treereg import TreeRegularizedMLP

    X, y = moons.X_train[:300], moons.y_train[:300]
    model = TreeRegularizedMLP(
        epochs=1, n_jitter=5, jitter_scale=3.0, min_samples_leaf=5, random_state=0
    )
    model.fit(X, y)
    start = zoo.mlp(model.hidden, model.activation, n_features=2, n_classes=2, random_state=0)
    with torch.inference_mode():
        predictions = start(torch.as_tensor(X, dtype=torch.float32)).argmax(1).numpy()
    assert model.history_["apl"] == [_apl(X, predictions, 5)]


def test_omega_hat_fits_the_recorded_path_lengths():
    from unboxed.zoo._treereg import TreeRegularizedMLP

    gen = torch.Generator().manual_seed(0)
    thetas = list(torch.randn((60, 5), generator=gen))
    apls = [float(6.0 + 2.0 * theta[0]) for theta in thetas]
    omega = TreeRegularizedMLP(surrogate_steps=300)._fit_omega(thetas, apls, gen)
    fitted = omega(torch.stack(thetas)).numpy()
    assert np.abs(fitted - np.array(apls)).mean() < 0.3


def test_an_interrupted_fit_resumes_to_the_same_network(moons, tmp_path, monkeypatch):
    """The state is saved after every epoch: a rerun trains only the epochs left and
    ends with the same network, records, surrogate and history; a finished fit trains
    none."""
    from unboxed.zoo import _treereg

    X, y, path = moons.X_train[:300], moons.y_train[:300], tmp_path / "treereg.safetensors"
    settings = dict(strength=1.0, epochs=5, snapshot_every=2, n_jitter=2, random_state=3)
    whole = zoo.TreeRegularizedMLP(**settings).fit(X, y)
    # check_finite_weights is called once at the end of every epoch.
    epochs = interrupt_at(monkeypatch, _treereg, "check_finite_weights", stop=4)
    with pytest.raises(KeyboardInterrupt):
        zoo.TreeRegularizedMLP(**settings, checkpoint=path).fit(X, y)
    epochs.update(n=0, stop=None)
    resumed = zoo.TreeRegularizedMLP(**settings, checkpoint=path).fit(X, y)
    assert epochs["n"] == 5 - 3  # only the epochs left
    for key, value in whole.module_.state_dict().items():
        assert torch.equal(resumed.module_.state_dict()[key], value), key
    assert resumed.history_ == whole.history_
    theta = _flat(whole.module_).detach()
    assert torch.equal(resumed.surrogate_(theta), whole.surrogate_(theta))
    again = zoo.TreeRegularizedMLP(**settings, checkpoint=path).fit(X, y)
    assert epochs["n"] == 2 and again.history_ == whole.history_  # a finished fit trains none


def test_a_checkpoint_of_other_settings_or_data_or_a_damaged_one_is_refused(moons, tmp_path):
    from unboxed.zoo._io import load_with_record, save_with_record

    X, y, path = moons.X_train[:200], moons.y_train[:200], tmp_path / "treereg.safetensors"
    settings = dict(epochs=3, snapshot_every=2, n_jitter=1, random_state=0)
    zoo.TreeRegularizedMLP(**settings, checkpoint=path).fit(X, y)
    # Another seed starts from other weights of the same shapes, and the same rows with
    # other labels train towards another target: neither may take up this run.
    for other, rows, labels in (
        ({"n_jitter": 2}, slice(None), y),
        ({}, slice(1, None), y),
        ({"random_state": 1}, slice(None), y),
        ({}, slice(None), 1 - y),
    ):
        with pytest.raises(ValueError, match="different settings"):
            zoo.TreeRegularizedMLP(**{**settings, **other}, checkpoint=path).fit(
                X[rows], labels[rows]
            )
    tensors, record = load_with_record(path, what="training checkpoint")
    for damage in (
        {"extra.apls": tensors["extra.apls"][:-1]},  # a record missing
        {"extra.apls": torch.zeros_like(tensors["extra.apls"])},  # below one node
        {"extra.thetas": torch.full_like(tensors["extra.thetas"], float("nan"))},
        {"extra.omega.net.0.weight": torch.zeros(3, 3)},
        # Records and surrogate one weight short, consistently: the surrogate would load
        # and then fail on the network's weights.
        {
            f"extra.{key}": tensors[f"extra.{key}"][..., :-1]
            for key in ("thetas", "omega.net.0.weight", "omega.x_mean", "omega.x_scale")
        },
    ):
        save_with_record(path, {**tensors, **damage}, record)
        with pytest.raises(ValueError, match="damaged training checkpoint"):
            zoo.TreeRegularizedMLP(**settings, checkpoint=path).fit(X, y)
    for seed in (None, np.random.default_rng(0)):
        with pytest.raises(ValueError, match="reproducible random_state"):
            zoo.TreeRegularizedMLP(**{**settings, "random_state": seed}, checkpoint=path).fit(X, y)


def test_omega_hat_never_predicts_below_one_node():
    """Far outside the recorded weights the fit extrapolates to negative path lengths;
    the surrogate's floor keeps its prediction at one node (a single leaf) or more."""
    from unboxed.zoo._treereg import TreeRegularizedMLP

    gen = torch.Generator().manual_seed(0)
    thetas = list(torch.randn((60, 5), generator=gen))
    apls = [float(3.0 + theta[0]) for theta in thetas]
    omega = TreeRegularizedMLP(surrogate_steps=300)._fit_omega(thetas, apls, gen)
    far = torch.zeros((3, 5))
    far[:, 0] = torch.tensor([-20.0, -50.0, -100.0])
    assert torch.all(omega(far) >= 1.0)


def test_perturbed_snapshots_scale_with_the_weights(moons):
    """Each perturbed copy moves theta by at most jitter_scale * rms(theta): scaling the
    weights by 10 scales the same draws by 10; all-zero weights are still spread."""
    from unboxed.zoo._treereg import TreeRegularizedMLP, _Records

    X = moons.X_train[:100]
    x = torch.as_tensor(X, dtype=torch.float32)
    model = TreeRegularizedMLP(n_jitter=4, jitter_scale=0.1, min_samples_leaf=5)
    scratch = zoo.mlp(model.hidden, model.activation, n_features=2, n_classes=2)
    theta = _flat(scratch).detach().clone()

    def deltas(start):
        records = _Records([], [], [], None)
        gen = torch.Generator().manual_seed(0)
        model._record(start, scratch, X, x, gen, records)
        thetas = records.thetas
        assert len(thetas) == len(records.apls) == 5 and torch.equal(thetas[0], start)
        return torch.stack([t - start for t in thetas[1:]])

    small, large, zero = deltas(theta), deltas(10 * theta), deltas(torch.zeros_like(theta))
    rms = float(theta.pow(2).mean().sqrt())
    assert torch.all(small.pow(2).mean(1).sqrt() > 0)
    assert torch.all(small.pow(2).mean(1).sqrt() < 1.2 * 0.1 * rms)
    torch.testing.assert_close(large, 10 * small, rtol=1e-4, atol=1e-6)
    assert torch.all(zero.pow(2).mean(1).sqrt() > 0)  # the rms of zero weights counts as 1
    assert torch.all(zero.pow(2).mean(1).sqrt() < 1.2 * 0.1)


def test_epoch_loss_is_the_mean_cross_entropy_of_the_seeded_network(moons):
    """With a learning rate too small to move the weights, the epoch's loss is the mean
    cross-entropy over all rows (batches of 64 and 36) of zoo.mlp(random_state=3)."""
    X, y = moons.X_train[:100], moons.y_train[:100]
    model = zoo.TreeRegularizedMLP(epochs=1, batch_size=64, lr=1e-9, n_jitter=0, random_state=3)
    model.fit(X, y)
    start = zoo.mlp(model.hidden, model.activation, n_features=2, n_classes=2, random_state=3)
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(
            start(torch.as_tensor(X, dtype=torch.float32)), torch.as_tensor(y)
        )
    assert model.history_["loss"][0] == pytest.approx(float(expected), rel=1e-4)


def test_weight_decay_shrinks_the_weights(moons):
    def norm(module):
        return float(_flat(module).detach().norm())

    def trained(weight_decay):
        model = zoo.TreeRegularizedMLP(weight_decay=weight_decay, epochs=2, n_jitter=0)
        return norm(model.fit(moons.X_train[:200], moons.y_train[:200]).module_)

    start = norm(zoo.mlp((16, 16), "tanh", n_features=2, n_classes=2, random_state=0))
    assert trained(10.0) < 0.8 * min(trained(0.0), start)


def test_a_last_step_that_diverges_is_an_error(moons, monkeypatch):
    """One batch per epoch: only the check of the weights after the step can see a NaN
    gradient (as an overflowing step would give)."""
    from unboxed.zoo import _treereg

    real = _treereg.mlp

    def nan_gradient_mlp(*args, **kwargs):
        net = real(*args, **kwargs)
        net.fc1.weight.register_hook(lambda grad: grad * float("nan"))
        return net

    monkeypatch.setattr(_treereg, "mlp", nan_gradient_mlp)
    X, y = moons.X_train[:200], moons.y_train[:200]
    with pytest.raises(FloatingPointError, match="training diverged .* fc1.weight holds NaN"):
        zoo.TreeRegularizedMLP(epochs=1, batch_size=len(X), n_jitter=0).fit(X, y)


def test_fit_leaves_torchs_global_generator_alone(moons):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    zoo.TreeRegularizedMLP(strength=1.0, epochs=2, n_jitter=1).fit(
        moons.X_train[:100], moons.y_train[:100]
    )
    assert torch.equal(torch.rand(3), expected)


def test_the_penalty_descends_omega_hat(moons):
    """One epoch under a fixed Omega_hat lowers its prediction: the penalty is added,
    not subtracted. (The ~50 s moons test was the only one that caught the sign.)"""
    settings = {"strength": 10.0, "snapshot_every": 1, "random_state": 0}
    one = zoo.TreeRegularizedMLP(epochs=1, **settings).fit(moons.X_train, moons.y_train)
    two = zoo.TreeRegularizedMLP(epochs=2, **settings).fit(moons.X_train, moons.y_train)
    # The same seed retraces the first epoch, so `one` holds the weights at which
    # `two` refitted its last Omega_hat, and `two` took one epoch of steps on it.
    with torch.no_grad():
        before = float(two.surrogate_(_flat(one.module_)))
        after = float(two.surrogate_(_flat(two.module_)))
    assert after < before - 1.0, (before, after)  # 3.23 -> 1.02 nodes; reversed: 4.10 -> 9.03


@pytest.mark.parametrize("verbose", [True, False])
def test_verbose_shows_the_fit_bar_and_false_prints_nothing(verbose, moons, capfd):
    settings = {"epochs": 1, "snapshot_every": 1, "n_jitter": 1, "surrogate_steps": 2}
    zoo.TreeRegularizedMLP(**settings, verbose=verbose).fit(moons.X_train, moons.y_train)
    assert_progress_shown(capfd, verbose, "tree-regularized mlp")


def test_set_params_and_a_list_of_ints_train_as_the_tuple_and_floats_did():
    # hidden, strength and lr are kept as given (get_params, clone) and read at fit
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    kwargs = {"epochs": 2, "n_jitter": 0, "batch_size": 20, "surrogate_steps": 5}
    kwargs |= {"random_state": 0, "verbose": False}
    given = zoo.TreeRegularizedMLP(hidden=[4], strength=1, lr=1e-2, **kwargs).fit(X, y)
    changed = zoo.TreeRegularizedMLP(hidden=(8,), strength=0, **kwargs)
    changed.set_params(hidden=(4,), strength=1.0, lr=0.01).fit(X, y)
    assert changed.module_.fc1.out_features == 4
    np.testing.assert_array_equal(given.predict_proba(X), changed.predict_proba(X))


def test_fitting_seeds_no_accelerators_generator(moons, monkeypatch):
    # Omega_hat's initial weights are drawn under a seed of their own.
    seeded = spy_on_device_seeding(monkeypatch)
    zoo.TreeRegularizedMLP(hidden=(4,), epochs=2, n_jitter=1, random_state=2).fit(
        moons.X_train[:100], moons.y_train[:100]
    )
    assert seeded == []


def test_a_dataframe_is_read_by_its_column_names():
    """Fitted on a table, the network reads a later one by name: read by position, the
    columns of iris in reverse order went to it shuffled and changed its answers."""
    pd = pytest.importorskip("pandas")
    from sklearn.datasets import load_iris

    X = load_iris(as_frame=True).data
    y = load_iris().target
    model = zoo.TreeRegularizedMLP(hidden=(8,), epochs=4, n_jitter=0, random_state=0)
    model.fit(X, y)
    assert model.feature_names_in_.tolist() == list(X.columns)
    reordered = X[X.columns[::-1]]
    assert not np.array_equal(model.predict_proba(X.to_numpy()[:, ::-1]), model.predict_proba(X))
    np.testing.assert_array_equal(model.predict_proba(reordered), model.predict_proba(X))
    assert model.path_length(reordered) == model.path_length(X)
    assert model.blackbox().feature_names == tuple(X.columns)
    np.testing.assert_array_equal(model.blackbox().predict(reordered), model.predict(X))
    with pytest.raises(ValueError, match="lacks column 'petal width"):
        model.predict(X.iloc[:, :3])
    # an array, or unnamed columns, are read by position
    plain = zoo.TreeRegularizedMLP(hidden=(8,), epochs=4, n_jitter=0, random_state=0)
    assert plain.fit(X.to_numpy(), y).feature_names_in_ is None
    unnamed = pd.DataFrame(X.to_numpy())
    np.testing.assert_array_equal(plain.predict_proba(unnamed), plain.predict_proba(X.to_numpy()))


def test_values_beyond_float32_are_refused_by_name():
    """The network and the path-length trees read X as float32: 1e300 crashed in
    scikit-learn's cast with a RuntimeWarning."""
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    big = X.copy()
    big[5, 2] = 1e300
    match = r"beyond float32's range.*index \(5, 2\): 1e\+300"
    model = zoo.TreeRegularizedMLP(hidden=(4,), epochs=1, n_jitter=0, surrogate_steps=5)
    with pytest.raises(ValueError, match=match):
        model.fit(big, y)
    model.fit(X, y)
    for use in (model.predict_proba, model.predict, model.path_length):
        with pytest.raises(ValueError, match=match):
            use(big)


def test_a_read_only_x_trains_and_predicts_without_torchs_warning(recwarn):
    """torch warned "The given NumPy array is not writable" of a frozen X (iris's
    DataFrame .values), which the network never writes to. torch warns once per
    process, so this shows it where it runs first in its process."""
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    X.setflags(write=False)
    model = zoo.TreeRegularizedMLP(hidden=(4,), epochs=1, n_jitter=0, surrogate_steps=5)
    model.fit(X, y).predict_proba(X)
    assert not [w for w in recwarn if "not writable" in str(w.message)]


def test_a_dataframe_whose_names_a_network_cannot_take_is_read_by_position():
    """A column named "" is no name the network's feature_names take: such a table is
    read by position, as one of unnamed columns is. Its names were kept on the network,
    and blackbox() (and zoo.save of module_) refused them after the whole fit
    ("feature_names must be non-empty strings; got ''")."""
    pytest.importorskip("pandas")
    from sklearn.datasets import load_iris

    X = load_iris(as_frame=True).data
    y = load_iris().target
    X.columns = ["", "b", "c", "d"]
    model = zoo.TreeRegularizedMLP(hidden=(8,), epochs=1, n_jitter=0, random_state=0)
    model.fit(X, y)
    assert model.blackbox().feature_names is None
    assert model.feature_names_in_ is None
    np.testing.assert_array_equal(model.predict_proba(X), model.predict_proba(X.to_numpy()))
