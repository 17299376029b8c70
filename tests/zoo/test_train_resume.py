"""Round X3: zoo.train and zoo.train_vae resumed onto other starting weights, an
interrupt at any point, and a user's read-only data."""

import subprocess
import sys
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tests.helpers import interrupt_at
from unboxed import _io, zoo
from unboxed.zoo import _train

SETTINGS = {"epochs": 3, "batch_size": 64, "random_state": 5, "verbose": False}


def _mlp():
    return zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(16,), random_state=0)


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.fixture(scope="module")
def straight(digits):
    """The uninterrupted run with SETTINGS, which every interrupted run must resume to:
    its weights and its record of the settings, trained once, as the tests only compare
    against them."""
    model = _mlp()
    result = zoo.train(model, digits, **SETTINGS)
    return SimpleNamespace(weights=_weights(model), settings=result.settings)


def _crash_at_save(monkeypatch, save: int, *, after_rename: bool):
    """Make the ``save``-th atomic save raise KeyboardInterrupt: before its rename (the
    temporary file written, the previous checkpoint intact) or just after it (the file
    is the newer one). Returns the real ``os.replace``, to put back."""
    real_replace, calls = _io.os.replace, {"n": 0}

    def crash(src, dst):
        calls["n"] += 1
        if calls["n"] == save and not after_rename:
            raise KeyboardInterrupt
        real_replace(src, dst)
        if calls["n"] == save:
            raise KeyboardInterrupt

    monkeypatch.setattr(_io.os, "replace", crash)
    return real_replace


def _other_start(model):
    """The same architecture and config, other starting weights: a user's own
    initialisation, or a model loaded to be fine-tuned."""
    with torch.no_grad():
        model.fc1.weight.mul_(0.5)
    return model


@pytest.mark.parametrize("stop", [None, 5, 30])  # finished; in the first; in the second epoch
def test_a_checkpoint_onto_other_starting_weights_is_refused_not_resumed(
    digits, tmp_path, monkeypatch, stop
):
    # Before, the checkpoint's weights silently replaced the model's: the call returned
    # the model of the checkpoint's run, not one trained from the weights passed.
    checkpoint = tmp_path / "state.safetensors"
    calls = interrupt_at(monkeypatch, torch.optim.Adam, "step", stop=stop)
    if stop is None:
        zoo.train(_mlp(), digits, checkpoint=checkpoint, **SETTINGS)
    else:
        with pytest.raises(KeyboardInterrupt):
            zoo.train(_mlp(), digits, checkpoint=checkpoint, **SETTINGS)
    calls["stop"] = None
    model = _other_start(_mlp())
    before = _weights(model)
    with pytest.raises(ValueError, match="other starting weights"):
        zoo.train(model, digits, checkpoint=checkpoint, **SETTINGS)
    _assert_same(before, _weights(model))  # refused before anything was loaded


def test_a_vae_checkpoint_onto_other_starting_weights_is_refused(digits, tmp_path):
    checkpoint = tmp_path / "vae.safetensors"
    X = digits.X_train[:200] / 16.0
    kwargs = {"epochs": 1, "batch_size": 64, "verbose": False, "checkpoint": checkpoint}
    zoo.train_vae(zoo.vae(n_features=64, latent_dim=2, hidden=(8,)), X, **kwargs)
    other = zoo.vae(n_features=64, latent_dim=2, hidden=(8,))
    with torch.no_grad():
        other.mu.weight.mul_(0.5)
    with pytest.raises(ValueError, match="other starting weights"):
        zoo.train_vae(other, X, **kwargs)


@pytest.mark.parametrize("stop", [1, 5, 23, 24, 30, 69])  # 23 steps an epoch, 69 in all
def test_the_model_interrupted_anywhere_resumes_to_the_uninterrupted_weights(
    digits, straight, tmp_path, monkeypatch, stop
):
    checkpoint = tmp_path / "state.safetensors"
    calls = interrupt_at(monkeypatch, torch.optim.Adam, "step", stop=stop)
    model = _mlp()
    with pytest.raises(KeyboardInterrupt):
        zoo.train(model, digits, checkpoint=checkpoint, **SETTINGS)
    calls["stop"] = None
    for again in (model, _mlp()):  # the same object, or one built alike
        result = zoo.train(again, digits, checkpoint=checkpoint, **SETTINGS)
        _assert_same(straight.weights, _weights(again))
    assert len(result.epoch_loss) == 3
    # The record of the settings (saved with the model by the CLI) is the same too.
    assert result.settings == straight.settings


@pytest.mark.parametrize("save", [1, 2, 3])  # before the first epoch, after the first, second
def test_a_crash_while_saving_keeps_the_previous_checkpoint_and_resumes(
    digits, straight, tmp_path, monkeypatch, save
):
    checkpoint = tmp_path / "state.safetensors"
    real_replace = _crash_at_save(monkeypatch, save, after_rename=False)
    with pytest.raises(KeyboardInterrupt):
        zoo.train(_mlp(), digits, checkpoint=checkpoint, **SETTINGS)
    assert checkpoint.is_file() == (save > 1)
    assert [p.name for p in tmp_path.iterdir()] == ([checkpoint.name] if save > 1 else [])
    monkeypatch.setattr(_io.os, "replace", real_replace)
    model = _mlp()
    zoo.train(model, digits, checkpoint=checkpoint, **SETTINGS)
    _assert_same(straight.weights, _weights(model))


def test_read_only_data_shares_no_memory_torch_would_warn_about(digits):
    X = digits.X_train.astype(np.float32)
    X.setflags(write=False)
    tensor = _train._tensor(X, torch.float32)
    assert not np.shares_memory(tensor.numpy(), X) and tensor.numpy().flags.writeable
    writable = digits.X_train.astype(np.float32)  # the built-in data: not copied
    assert np.shares_memory(_train._tensor(writable, torch.float32).numpy(), writable)


def test_training_on_a_users_read_only_dataset_raises_no_warning():
    # torch warns once per process, and the library's own scans can use that one up,
    # so the check runs in a fresh interpreter with warnings as errors.
    script = textwrap.dedent(
        """
        import warnings
        import numpy as np
        warnings.simplefilter("error")
        from unboxed import zoo
        from unboxed.data import Dataset
        X = np.random.default_rng(0).random((40, 4), dtype=np.float32)
        X.setflags(write=False)
        y = np.arange(40) % 2
        data = Dataset("mine", X[:30], y[:30], X[30:], y[30:], ("a", "b"), ("p", "q", "r", "s"))
        model = zoo.build("mlp", input_shape=(4,), n_classes=2, widths=(4,))
        zoo.train(model, data, epochs=1, verbose=False)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("save", [1, 2, 4])  # before the first epoch, after the first, the last
@pytest.mark.parametrize("after", [False, True], ids=["before-rename", "after-rename"])
def test_the_same_model_resumes_after_a_crash_at_any_point_of_a_save(
    digits, straight, tmp_path, monkeypatch, save, after
):
    checkpoint = tmp_path / "state.safetensors"
    real_replace = _crash_at_save(monkeypatch, save, after_rename=after)
    model = _mlp()
    with pytest.raises(KeyboardInterrupt):
        zoo.train(model, digits, checkpoint=checkpoint, **SETTINGS)
    monkeypatch.setattr(_io.os, "replace", real_replace)
    zoo.train(model, digits, checkpoint=checkpoint, **SETTINGS)
    _assert_same(straight.weights, _weights(model))


def test_a_checkpoint_saved_before_the_start_was_recorded_still_resumes(
    digits, straight, tmp_path, monkeypatch
):
    # Files written by earlier versions hold no start hash: they cannot be checked, and
    # refusing them would lose the epochs they hold.
    from unboxed.zoo._io import load_with_record, save_with_record

    checkpoint = tmp_path / "state.safetensors"
    calls = interrupt_at(monkeypatch, torch.optim.Adam, "step", stop=30)
    with pytest.raises(KeyboardInterrupt):
        zoo.train(_mlp(), digits, checkpoint=checkpoint, **SETTINGS)
    calls["stop"] = None
    tensors, record = load_with_record(checkpoint, what="training checkpoint")
    del record["settings"][_train.START_WEIGHTS]
    save_with_record(checkpoint, tensors, record)
    model = _mlp()
    zoo.train(model, digits, checkpoint=checkpoint, **SETTINGS)
    _assert_same(straight.weights, _weights(model))


def test_a_refused_checkpoint_names_the_settings_that_differ(digits, tmp_path):
    """A short run continued with more epochs is refused (the cosine schedule spans
    all the epochs, so its steps differ): the message says so, not only 'different
    settings', which left the user to guess which of eight."""
    checkpoint = tmp_path / "run.safetensors"
    zoo.train(_mlp(), digits, **{**SETTINGS, "epochs": 1}, checkpoint=checkpoint)
    with pytest.raises(ValueError, match=r"different settings \(epochs: 1 there, 3 now\)"):
        zoo.train(_mlp(), digits, **SETTINGS, checkpoint=checkpoint)
    with pytest.raises(ValueError, match=r"\(epochs: 1 there, 3 now; lr: 0.002 there, 0.01"):
        zoo.train(_mlp(), digits, **SETTINGS, lr=0.01, checkpoint=checkpoint)
    other = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(16,), random_state=1)
    with pytest.raises(ValueError, match=r"\(model differs\)"):
        zoo.train(other, digits, **{**SETTINGS, "epochs": 1}, checkpoint=checkpoint)
