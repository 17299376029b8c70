import dataclasses

import numpy as np
import pytest
import torch

from tests.helpers import assert_progress_shown, interrupt_at
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


@pytest.mark.parametrize("stop", [5, 30])  # 23 steps an epoch: in the first, in the second
def test_the_same_call_again_after_an_interrupt_ends_as_an_uninterrupted_run(
    digits, tmp_path, monkeypatch, stop
):
    # The README's promise, with the one model object: an interrupt in the first epoch
    # came before any checkpoint, so the call run again trained the half-trained
    # weights from scratch and ended elsewhere. The state is now saved before the
    # first step too.
    def fresh():
        return zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(16,), random_state=0)

    settings = {"epochs": 3, "batch_size": 64, "random_state": 5, "verbose": False}
    straight = fresh()
    zoo.train(straight, digits, **settings)
    model, checkpoint = fresh(), tmp_path / "state.safetensors"
    calls = interrupt_at(monkeypatch, torch.optim.Adam, "step", stop=stop)
    with pytest.raises(KeyboardInterrupt):
        zoo.train(model, digits, checkpoint=checkpoint, **settings)
    calls["stop"] = None
    zoo.train(model, digits, checkpoint=checkpoint, **settings)
    for key, value in _weights(straight).items():
        assert torch.equal(value, model.state_dict()[key]), key


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


def test_a_rate_adam_cannot_step_in_float32_is_refused_by_name(digits):
    # lr=1e38 (Adam's first step is 10 lr) and weight_decay=1e300 raised torch's bare
    # "value cannot be converted to type float without overflow" at the first step
    model = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(8,))
    with pytest.raises(ValueError, match=r"lr must be at most 3\.403e\+37, where Adam's"):
        zoo.train(model, digits, epochs=1, lr=1e38, verbose=False)
    with pytest.raises(ValueError, match=r"weight_decay must be at most 3\.403e\+38, the"):
        zoo.train(model, digits, epochs=1, weight_decay=1e300, verbose=False)


def test_train_refuses_what_is_not_a_zoo_model_or_a_dataset(digits):
    model = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(8,))
    # both were AttributeErrors (on input_shape, n_features) before
    with pytest.raises(TypeError, match="model must be a ZooModel"):
        zoo.train(None, digits, epochs=1, verbose=False)
    with pytest.raises(TypeError, match="dataset must be an unboxed Dataset"):
        zoo.train(model, (digits.X_train, digits.y_train), epochs=1, verbose=False)


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
        # Epoch 0 (saved before the first step) with Adam's moments holds trained
        # weights: they would be trained again from the start.
        lambda record, tensors: record["state"].update(epoch=0, loss=[], test_accuracy=[]),
        # Epochs done but no moments: the resumed run would step without them.
        lambda record, tensors: [tensors.pop(k) for k in list(tensors) if k[:6] == "optim."],
        # More epochs than asked, each with its history: returned a 3-epoch result.
        lambda record, tensors: record["state"].update(
            epoch=3, loss=[1.0, 0.5, 0.2], test_accuracy=[0.5, 0.8, 0.9]
        ),
        lambda record, tensors: record["state"].update(test_accuracy=[]),  # an IndexError
        lambda record, tensors: record["state"].pop("test_accuracy"),  # a KeyError
        lambda record, tensors: tensors["model.fc1.weight"].fill_(float("nan")),
        # Cast to float without a word by load_state_dict, then saved as the model.
        lambda record, tensors: tensors.update({"model.fc1.weight": torch.ones(8, 64).int()}),
        lambda record, tensors: tensors.update(stray=torch.zeros(1)),  # read as nothing
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


def test_a_model_with_fewer_outputs_than_classes_is_refused(digits):
    model = zoo.build("mlp", input_shape=(64,), n_classes=2, widths=(8,))
    with pytest.raises(ValueError, match="the model has 2 outputs but 'digits' has 10 classes"):
        zoo.train(model, digits, epochs=1, verbose=False)


def test_bad_batch_size_and_lr_are_refused(digits):
    model = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(8,))
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        zoo.train(model, digits, epochs=1, batch_size=0, verbose=False)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        zoo.train(model, digits, epochs=1, lr=0.0, verbose=False)


@pytest.mark.parametrize("batch_size", [1, 7, 359, 4096])
def test_accuracy_in_batches_agrees_with_one_pass(digits, batch_size):
    model = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(8,), random_state=2)
    X = torch.as_tensor(digits.X_test)
    y = torch.as_tensor(digits.y_test)
    with torch.no_grad():
        predicted = model(X).argmax(1)
    expected = float((predicted == y).double().mean())
    assert 0.05 < expected < 0.95  # an untrained model: neither all right nor all wrong
    assert zoo.accuracy(model, X, y, batch_size=batch_size) == pytest.approx(expected, abs=1e-12)
    # every row counts, the last batch's last one too
    assert zoo.accuracy(model, X, predicted, batch_size=batch_size) == 1.0


def test_accuracy_takes_arrays_and_refuses_empty_or_mismatched_rows(digits):
    model = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(8,), random_state=2)
    X, y = digits.X_test[:50], digits.y_test[:50]
    expected = zoo.accuracy(model, torch.as_tensor(X), torch.as_tensor(y))
    assert zoo.accuracy(model, X, y) == expected  # an AttributeError on .cpu before
    with pytest.raises(ValueError, match="X is empty"):
        zoo.accuracy(model, X[:0], y[:0])  # a ZeroDivisionError before
    with pytest.raises(ValueError, match=r"y must have shape \(50,\)"):
        zoo.accuracy(model, X, y[:10])


def test_accuracy_refuses_labels_and_inputs_it_would_score_wrongly(digits):
    """Each of these gave a number before, or a crash inside torch: NaN rows scored 1.0
    against labels 0 (NaN logits argmax to 0), labels 1..10 never matched class 10."""
    model = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(8,), random_state=2)
    X, y = digits.X_test[:50], digits.y_test[:50]
    with pytest.raises(ValueError, match="X holds NaN or infinite values"):
        zoo.accuracy(model, np.full((3, 64), np.nan, dtype=np.float32), np.zeros(3, int))
    with pytest.raises(ValueError, match=r"y holds class 10 but the model has 10 outputs"):
        zoo.accuracy(model, X, y + 1)
    with pytest.raises(ValueError, match="y must hold integer class labels"):
        zoo.accuracy(model, X, y + 0.5)
    with pytest.raises(ValueError, match="y must hold integer class labels"):
        zoo.accuracy(model, X, np.array(digits.class_names)[y])  # a TypeError in torch
    with pytest.raises(ValueError, match="y must hold integer class labels"):
        zoo.accuracy(model, X, y - 1)
    with pytest.raises(ValueError, match=r"X has 10 values per row; the model takes \(64,\)"):
        zoo.accuracy(model, X[:, :10], y)  # a RuntimeError from torch's matmul
    weights = dict(model.state_dict(), **{"fc1.bias": torch.full((8,), float("nan"))})
    model.load_state_dict(weights)
    with pytest.raises(FloatingPointError, match="NaN or infinite outputs"):
        zoo.accuracy(model, X, y)


def test_accuracy_reads_whole_labels_and_images_of_the_models_shape(digits):
    model = zoo.build("lenet", input_shape=(1, 8, 8), n_classes=10, random_state=2)
    X, y = digits.X_test[:50], digits.y_test[:50]
    expected = zoo.accuracy(model, X.reshape(-1, 1, 8, 8), y)
    assert zoo.accuracy(model, X, y) == expected  # flat rows, as a black box takes them
    assert zoo.accuracy(model, X.reshape(-1, 8, 8), y.astype(float)) == expected


def test_accuracy_checks_finite_rows_by_their_sum_not_a_mask_of_them(digits, monkeypatch):
    # torch.isfinite(X).all() builds a mask of X's size: on Fashion-MNIST's 60,000 x 784
    # it took as long as an MLP's forward pass over the rows, once per epoch. A finite
    # sum means every value is finite; a sum that overflowed goes to the exact scan.
    model = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(8,), random_state=0)
    # a copy: a NaN is written into it below, not into the shared data set
    X, y = torch.tensor(digits.X_test, dtype=torch.float32), torch.as_tensor(digits.y_test)
    expected = zoo.accuracy(model, X, y)
    scanned, real_isfinite = [], torch.isfinite

    def recording_isfinite(tensor):
        scanned.append(tensor.numel())
        return real_isfinite(tensor)

    monkeypatch.setattr(torch, "isfinite", recording_isfinite)
    assert zoo.accuracy(model, X, y) == expected
    assert max(scanned) < X.numel()
    big = torch.full_like(X, 1e37)  # finite, though its float32 sum overflows
    assert 0 <= zoo.accuracy(model, big, y) <= 1
    X[5, 3] = float("nan")
    with pytest.raises(ValueError, match="X holds NaN or infinite values"):
        zoo.accuracy(model, X, y)


def test_each_epoch_sees_every_sample_once_on_a_cosine_schedule(digits, monkeypatch):
    """1438 samples in batches of 500: 3 steps per epoch, the last one 438 long; the
    learning rate is lr * (1 + cos(pi * k / K)) / 2 at step k of K = 6."""
    rows, lrs = [], []
    real_step = torch.optim.Adam.step

    def recording_step(self, *args, **kwargs):
        lrs.append(self.param_groups[0]["lr"])
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", recording_step)
    model = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(8,), random_state=0)
    model.register_forward_pre_hook(
        lambda module, args: rows.append(args[0].detach().clone()) if module.training else None
    )
    result = zoo.train(model, digits, epochs=2, batch_size=500, lr=0.01, verbose=False)
    expected_lrs = [0.005 * (1 + np.cos(np.pi * k / 6)) for k in range(6)]
    np.testing.assert_allclose(lrs, expected_lrs, rtol=1e-12)
    assert [len(r) for r in rows] == [500, 500, 438] * 2
    for epoch in range(2):
        seen = torch.cat(rows[3 * epoch : 3 * epoch + 3]).numpy()
        assert np.array_equal(np.unique(seen, axis=0), np.unique(digits.X_train, axis=0))
        assert len(seen) == len(digits.X_train)
    # the result is the last epoch's, scored on the test split
    X_test = torch.as_tensor(digits.X_test)
    assert result.test_accuracy == result.epoch_test_accuracy[-1]
    assert result.test_accuracy == zoo.accuracy(model, X_test, torch.as_tensor(digits.y_test))
    assert result.seconds > 0


def test_other_seeds_shuffle_otherwise(digits):
    runs = []
    for seed in (3, 4):
        model = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(8,), random_state=1)
        zoo.train(model, digits, epochs=1, batch_size=256, random_state=seed, verbose=False)
        runs.append(model.fc1.weight.detach().clone())
    assert not torch.allclose(runs[0], runs[1])


def test_epoch_loss_is_the_mean_over_the_epochs_batches(digits):
    """Two equal batches and a learning rate too small to move the weights: the epoch
    loss is the initial model's cross-entropy over the whole training split."""
    model = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(8,), random_state=0)
    X, y = torch.as_tensor(digits.X_train), torch.as_tensor(digits.y_train)
    with torch.no_grad():
        expected = float(torch.nn.functional.cross_entropy(model(X), y))
    assert len(X) == 2 * 719
    result = zoo.train(model, digits, epochs=1, batch_size=719, lr=1e-12, verbose=False)
    assert result.epoch_loss[0] == pytest.approx(expected, rel=1e-5)


def test_a_non_finite_loss_is_named_before_the_step(digits):
    model = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(8,))
    model.register_forward_hook(lambda module, args, output: output * float("nan"))
    with pytest.raises(FloatingPointError, match="the training loss became nan at epoch 0"):
        zoo.train(model, digits, epochs=1, verbose=False)


@pytest.mark.parametrize("other", [{"batch_size": 64}, {"random_state": 1}, {"epochs": 2}])
def test_a_checkpoint_from_another_schedule_or_seed_is_refused(digits, tmp_path, other):
    checkpoint = tmp_path / "state.safetensors"
    model = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(8,))
    settings = {"epochs": 1, "batch_size": 128, "random_state": 0, "verbose": False}
    zoo.train(model, digits, checkpoint=checkpoint, **settings)
    with pytest.raises(ValueError, match="different settings"):
        zoo.train(model, digits, checkpoint=checkpoint, **{**settings, **other})


def test_a_safetensors_file_without_settings_is_not_a_training_checkpoint(digits, tmp_path):
    from unboxed.zoo._io import save_with_record

    checkpoint = tmp_path / "state.safetensors"
    save_with_record(checkpoint, {"w": torch.zeros(2)}, {"state": {}})
    model = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(8,))
    with pytest.raises(ValueError, match="is not an unboxed training checkpoint"):
        zoo.train(model, digits, epochs=1, checkpoint=checkpoint, verbose=False)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda state: state.update(epoch=2.0),  # range() then failed with a TypeError
        lambda state: state.update(extra=[1, 2]),  # a key the loop does not keep
    ],
)
def test_a_checkpoint_with_a_malformed_state_is_refused(digits, tmp_path, tamper):
    from unboxed.zoo._io import load_with_record, save_with_record

    checkpoint = tmp_path / "state.safetensors"
    model = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(8,))
    zoo.train(model, digits, epochs=2, checkpoint=checkpoint, verbose=False)
    tensors, record = load_with_record(checkpoint, what="training checkpoint")
    tamper(record["state"])
    save_with_record(checkpoint, tensors, record)
    with pytest.raises(ValueError, match="damaged training checkpoint"):
        zoo.train(model, digits, epochs=2, checkpoint=checkpoint, verbose=False)


def test_resuming_a_finished_run_trains_nothing_and_returns_it_ready_to_predict(
    digits, tmp_path, monkeypatch
):
    checkpoint = tmp_path / "state.safetensors"
    settings = {"epochs": 1, "batch_size": 256, "random_state": 0, "verbose": False}
    trained = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(8,), random_state=0)
    first = zoo.train(trained, digits, checkpoint=checkpoint, **settings)
    calls = interrupt_at(monkeypatch, torch.optim.Adam, "step")
    fresh = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(8,), random_state=0)
    assert fresh.training
    again = zoo.train(fresh, digits, checkpoint=checkpoint, **settings)
    assert calls["n"] == 0 and not fresh.training  # in eval mode, as after any training
    assert again.epoch_loss == first.epoch_loss and again.test_accuracy == first.test_accuracy
    for key, value in _weights(trained).items():
        assert torch.equal(value, fresh.state_dict()[key]), key


@pytest.mark.parametrize("verbose", [True, False])
def test_verbose_shows_the_training_bar_and_false_prints_nothing(verbose, planted, capfd):
    model = zoo.build("mlp", input_shape=(20,), n_classes=2, widths=(4,), random_state=0)
    zoo.train(model, planted, epochs=1, batch_size=512, random_state=0, verbose=verbose)
    assert_progress_shown(capfd, verbose, "train mlp")


def test_training_gives_the_model_its_data_sets_class_names(digits):
    # A zoo model of Fashion-MNIST wrapped as a black box had no names: its plots
    # read "class 1" for a trouser.
    from unboxed.data._fashion_mnist import CLASS_NAMES
    from unboxed.local import Saliency

    fashion = dataclasses.replace(digits, name="fashion-like", class_names=CLASS_NAMES)
    model = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(8,), random_state=0)
    assert model.class_names is None
    zoo.train(model, fashion, epochs=1, verbose=False)
    assert model.class_names == CLASS_NAMES
    box = zoo.as_blackbox(model)
    assert box.class_names == CLASS_NAMES and box.classes is None  # targets stay indices
    title = Saliency(box).explain(digits.X_test[:1], target=1).plot().axes[0].get_title()
    assert "class Trouser" in title
    assert zoo.as_blackbox(model, class_names=list("abcdefghij")).class_name(1) == "b"
    # more outputs than the data set has classes: no name for the rest
    wide = zoo.build("mlp", input_shape=(64,), n_classes=12, widths=(8,), random_state=0)
    zoo.train(wide, fashion, epochs=1, verbose=False)
    assert wide.class_names is None and zoo.as_blackbox(wide).class_names is None
