import dataclasses

import numpy as np
import pytest
import torch

from unboxed import zoo
from unboxed.zoo import _train


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_training_learns_digits(digits, digits_lenet):
    acc = zoo.accuracy(
        digits_lenet,
        torch.as_tensor(digits.X_test).reshape(-1, 1, 8, 8),
        torch.as_tensor(digits.y_test),
    )
    assert acc > 0.93


def test_mlp_on_planted(planted):
    model = zoo.build("mlp", input_shape=(20,), n_classes=2, widths=(32,), random_state=0)
    result = zoo.train(model, planted, epochs=30, batch_size=64, lr=3e-3, verbose=False)
    assert result.test_accuracy > 0.95
    assert len(result.epoch_loss) == 30 and result.epoch_loss[-1] < result.epoch_loss[0]


def test_same_seed_same_weights(digits):
    runs = []
    for _ in range(2):
        model = zoo.build("lenet", input_shape=(1, 8, 8), n_classes=10, random_state=1)
        zoo.train(model, digits, epochs=2, random_state=3, verbose=False)
        runs.append(_weights(model))
    for key in runs[0]:
        assert torch.equal(runs[0][key], runs[1][key]), key


def test_interrupted_training_resumes_to_the_same_weights(digits, tmp_path, monkeypatch):
    def fresh():
        return zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(32,), random_state=0)

    settings = {"epochs": 4, "batch_size": 64, "lr": 3e-3, "random_state": 5, "verbose": False}
    straight = fresh()
    zoo.train(straight, digits, **settings)

    real_accuracy = _train.accuracy
    calls = {"n": 0}

    def interrupt_in_third_epoch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_accuracy(*args, **kwargs)

    checkpoint = tmp_path / "state.safetensors"
    monkeypatch.setattr(_train, "accuracy", interrupt_in_third_epoch)
    with pytest.raises(KeyboardInterrupt):
        zoo.train(fresh(), digits, checkpoint=checkpoint, **settings)
    assert checkpoint.is_file()

    calls["n"] = 100  # past the interrupt: count the epochs of the resumed run
    resumed = fresh()
    result = zoo.train(resumed, digits, checkpoint=checkpoint, **settings)
    assert calls["n"] == 102  # only the last two epochs were trained
    assert len(result.epoch_loss) == 4
    for key, value in _weights(straight).items():
        assert torch.equal(value, resumed.state_dict()[key]), key


@pytest.mark.parametrize("other", [{"lr": 0.5}, {"weight_decay": 0.1}])
def test_checkpoint_from_other_settings_is_refused(digits, tmp_path, other):
    checkpoint = tmp_path / "state.safetensors"
    model = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(8,))
    zoo.train(model, digits, epochs=1, checkpoint=checkpoint, verbose=False)
    with pytest.raises(ValueError, match="different settings"):
        zoo.train(model, digits, epochs=1, checkpoint=checkpoint, verbose=False, **other)
    checkpoint.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        zoo.train(model, digits, epochs=1, checkpoint=checkpoint, verbose=False)


def test_checkpoint_from_other_data_of_the_same_name_and_size_is_refused(digits, tmp_path):
    checkpoint = tmp_path / "state.safetensors"
    model = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(8,))
    zoo.train(model, digits, epochs=1, checkpoint=checkpoint, verbose=False)
    other = dataclasses.replace(digits, X_train=digits.X_train[::-1].copy())
    with pytest.raises(ValueError, match="different settings"):
        zoo.train(model, other, epochs=1, checkpoint=checkpoint, verbose=False)


def test_bad_data_is_refused(digits):
    model = zoo.build("mlp", input_shape=(64,), n_classes=10)
    single = dataclasses.replace(digits, y_train=np.zeros_like(digits.y_train))
    with pytest.raises(ValueError, match="single class"):
        zoo.train(model, single, epochs=1, verbose=False)
    with pytest.raises(ValueError, match="takes 20 features but 'digits' has 64"):
        zoo.train(zoo.mlp(n_features=20), digits, epochs=1, verbose=False)
    with pytest.raises(ValueError, match="epochs must be an int >= 1"):
        zoo.train(model, digits, epochs=0, verbose=False)
    for lr, weight_decay in ((np.inf, 0.0), (1e-3, np.nan)):
        with pytest.raises(ValueError, match="must be a finite number"):
            zoo.train(model, digits, epochs=1, lr=lr, weight_decay=weight_decay, verbose=False)


def test_a_last_step_that_diverges_is_an_error_not_a_nan_model(digits):
    """One batch per epoch: the loss is checked before each step, the weights after.
    A NaN gradient (as a step overflowing would give) makes the only step diverge."""
    model = zoo.build("mlp", input_shape=(64,), n_classes=10)
    model.fc1.weight.register_hook(lambda grad: grad * float("nan"))
    n = len(digits.X_train)
    with pytest.raises(FloatingPointError, match="training diverged .* fc1.weight holds NaN"):
        zoo.train(model, digits, epochs=1, batch_size=n, verbose=False)


def test_a_damaged_checkpoint_is_a_clear_error(digits, tmp_path):
    from unboxed.zoo._io import load_tensors, save_tensors

    checkpoint = tmp_path / "state.safetensors"
    model = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(8,))
    zoo.train(model, digits, epochs=1, checkpoint=checkpoint, verbose=False)
    tensors = load_tensors(checkpoint)
    del tensors["generator"]
    save_tensors(checkpoint, tensors)
    with pytest.raises(ValueError, match="damaged training checkpoint"):
        zoo.train(model, digits, epochs=1, checkpoint=checkpoint, verbose=False)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda record, tensors: record["state"].update(epoch=99),  # returned a stale result
        lambda record, tensors: record["state"].update(epoch=-3),  # trained extra epochs
        # Saved only after an epoch: epoch 0 would train the saved weights from scratch.
        lambda record, tensors: record["state"].update(epoch=0, loss=[], test_accuracy=[]),
        # More epochs than asked, each with its history: returned a 3-epoch result.
        lambda record, tensors: record["state"].update(
            epoch=3, loss=[1.0, 0.5, 0.2], test_accuracy=[0.5, 0.8, 0.9]
        ),
        lambda record, tensors: record["state"].update(test_accuracy=[]),  # an IndexError
        lambda record, tensors: record["state"].pop("test_accuracy"),  # a KeyError
        lambda record, tensors: tensors["model.fc1.weight"].fill_(float("nan")),
    ],
)
def test_a_tampered_checkpoint_is_refused(digits, tmp_path, tamper):
    import json

    import torch

    from unboxed.zoo._io import load_tensors, save_tensors

    checkpoint = tmp_path / "state.safetensors"
    model = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(8,))
    zoo.train(model, digits, epochs=2, checkpoint=checkpoint, verbose=False)
    tensors = load_tensors(checkpoint)
    record = json.loads(bytes(tensors["record"].numpy()).decode())
    tamper(record, tensors)
    tensors["record"] = torch.frombuffer(bytearray(json.dumps(record).encode()), dtype=torch.uint8)
    save_tensors(checkpoint, tensors)
    fresh = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(8,))  # untrained
    before = _weights(fresh)
    with pytest.raises(ValueError, match="damaged training checkpoint"):
        zoo.train(fresh, digits, epochs=2, checkpoint=checkpoint, verbose=False)
    # A refused checkpoint leaves the caller's model as it was.
    for name, value in _weights(fresh).items():
        torch.testing.assert_close(value, before[name], rtol=0, atol=0)


def test_a_refused_resume_puts_back_the_optimizer_and_the_generator(digits, tmp_path):
    from unboxed.zoo._io import load_with_record, save_with_record

    checkpoint = tmp_path / "state.safetensors"
    model = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(8,))
    zoo.train(model, digits, epochs=1, checkpoint=checkpoint, verbose=False)
    tensors, record = load_with_record(checkpoint, what="training checkpoint")
    tensors["model.fc2.bias"].fill_(float("inf"))  # found only once it is loaded
    save_with_record(checkpoint, tensors, record)
    optimizer = torch.optim.Adam(model.parameters())
    generator = torch.Generator().manual_seed(5)
    weights, generator_state = _weights(model), generator.get_state()
    fresh = {"epoch": 0, "loss": [], "test_accuracy": []}
    with pytest.raises(ValueError, match="NaN or infinite"):
        _train.restore_training_state(
            checkpoint, record["settings"], fresh, model, optimizer, generator
        )
    assert optimizer.state_dict()["state"] == {}  # no Adam moments loaded
    assert torch.equal(generator.get_state(), generator_state)
    for name, value in _weights(model).items():
        assert torch.equal(value, weights[name]), name


@pytest.mark.parametrize("seed", [None, np.random.default_rng(0)])
def test_a_checkpoint_without_an_int_seed_is_refused_before_training(digits, tmp_path, seed):
    model = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(8,))
    with pytest.raises(ValueError, match="reproducible random_state"):
        zoo.train(model, digits, epochs=1, random_state=seed, checkpoint=tmp_path / "c.st")
    assert not (tmp_path / "c.st").exists()


def test_a_folder_as_checkpoint_is_refused_before_training(digits, tmp_path):
    model = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(8,))
    before = _weights(model)
    with pytest.raises(IsADirectoryError, match="is a folder"):
        zoo.train(model, digits, epochs=1, checkpoint=tmp_path, verbose=False)
    for name, value in _weights(model).items():
        assert torch.equal(value, before[name]), f"{name} was trained before the refusal"


def test_weight_decay_shrinks_the_weights(planted):
    def norm(decay):
        model = zoo.mlp((8,), n_features=20, n_classes=2, random_state=0)
        zoo.train(model, planted, epochs=2, lr=1e-2, weight_decay=decay, verbose=False)
        return float(model.fc1.weight.detach().norm())

    assert norm(0.5) < 0.8 * norm(0.0)


def test_a_float64_model_trains_on_the_same_batches_and_is_scored_in_its_dtype(digits):
    """Batches go to the model's dtype (and device), and the shuffling stays on the CPU:
    a float64 copy follows the float32 run to float32 rounding, not to another
    shuffle's weights (the float32 batches crashed a float64 model before)."""
    single = zoo.build("lenet", input_shape=(1, 8, 8), n_classes=10, random_state=1)
    double = zoo.build("lenet", input_shape=(1, 8, 8), n_classes=10, random_state=1).double()
    runs = [zoo.train(m, digits, epochs=2, random_state=3, verbose=False) for m in (single, double)]
    np.testing.assert_allclose(runs[1].epoch_loss, runs[0].epoch_loss, rtol=1e-4)
    for key, value in double.state_dict().items():
        assert value.dtype == torch.float64
        torch.testing.assert_close(value.float(), single.state_dict()[key], atol=1e-4, rtol=0)
    X = torch.as_tensor(digits.X_test, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.as_tensor(digits.y_test)
    assert zoo.accuracy(double, X, y) == zoo.accuracy(single, X, y) == runs[0].test_accuracy
