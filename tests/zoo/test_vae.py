"""The VAE generator: training, ELBO, safe save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers import assert_progress_shown, interrupt_at
from unboxed import zoo
from unboxed.zoo._vae import _negative_elbo


def test_vae_trains_round_trips_and_scores_real_images_higher(digits, tmp_path):
    vae = zoo.vae(n_features=64, latent_dim=4, hidden=(32,), random_state=0)
    result = zoo.train_vae(
        vae, digits.X_train, X_test=digits.X_test, epochs=8, random_state=0, verbose=False
    )
    assert result.epoch_loss[-1] < result.epoch_loss[0]
    assert result.test_elbo == pytest.approx(vae.elbo(digits.X_test, random_state=0).mean())
    noise = np.random.default_rng(0).uniform(size=(50, 64))
    assert vae.elbo(digits.X_test[:50]).mean() > vae.elbo(noise).mean()
    loaded = zoo.load(zoo.save(vae, tmp_path / "vae"))
    assert isinstance(loaded, zoo.VAE) and loaded.latent_dim == 4
    assert np.array_equal(loaded.sample(3, random_state=1), vae.sample(3, random_state=1))
    with pytest.raises(TypeError, match="generator"):
        zoo.as_blackbox(vae)


def test_training_is_deterministic(digits):
    def fit():
        vae = zoo.vae(n_features=64, latent_dim=2, hidden=(16,), random_state=3)
        zoo.train_vae(vae, digits.X_train[:200], epochs=2, random_state=3, verbose=False)
        return vae

    first, second = fit(), fit()
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key])


def test_negative_elbo_against_closed_form():
    # q = N(0, I) gives KL 0; logits 0 give Bernoulli(0.5), so log 2 nats per pixel.
    x = torch.tensor([[0.0, 1.0, 1.0]])
    zeros = torch.zeros((1, 2))
    value = _negative_elbo(torch.zeros((1, 3)), x, zeros, zeros)
    assert value.item() == pytest.approx(3 * np.log(2))
    kl_only = _negative_elbo(torch.zeros((1, 3)), x, torch.ones((1, 2)), zeros) - value
    assert kl_only.item() == pytest.approx(1.0)  # 0.5 * sum(mu^2)


@pytest.mark.parametrize(
    "X, message",
    [
        (np.full((4, 64), 1.5), r"\[0, 1\]"),
        (np.full((4, 64), -0.5), r"\[0, 1\]"),
        (np.zeros((4, 10)), "features"),
        (np.full((4, 64), np.nan), "NaN"),
        (np.full((4, 64), 1e308), "beyond the range of float32"),  # numpy's RuntimeWarning
    ],
)
def test_bad_images(X, message):
    vae = zoo.vae(n_features=64, latent_dim=2, hidden=(8,))
    with pytest.raises(ValueError, match=message):
        vae.elbo(X)
    with pytest.raises(ValueError, match=message):
        zoo.train_vae(vae, X, epochs=1, verbose=False)
    before = {k: v.clone() for k, v in vae.state_dict().items()}
    with pytest.raises(ValueError, match=message):  # before training, not after it
        zoo.train_vae(vae, np.zeros((4, 64)), X_test=X, epochs=1, verbose=False)
    assert all(torch.equal(v, before[k]) for k, v in vae.state_dict().items())


def test_bad_architecture():
    with pytest.raises(ValueError, match="latent_dim"):
        zoo.vae(latent_dim=0)
    with pytest.raises(ValueError, match="hidden"):
        zoo.vae(hidden=())
    # One width, not a sequence of them: once a bare "'int' object is not iterable".
    with pytest.raises(ValueError, match="hidden must be a sequence of ints"):
        zoo.vae(hidden=64)
    with pytest.raises(TypeError, match="VAE"):
        zoo.train_vae(zoo.mlp(), np.zeros((2, 784)))


def test_kl_term_against_closed_form_with_a_variance():
    x = torch.tensor([[0.0, 1.0, 1.0]])
    zeros = torch.zeros((1, 2))
    base = _negative_elbo(torch.zeros((1, 3)), x, zeros, zeros)
    logvar = torch.tensor([[1.0, 0.5]])
    kl = _negative_elbo(torch.zeros((1, 3)), x, zeros, logvar) - base
    expected = 0.5 * float((logvar.exp() - 1 - logvar).sum())
    assert kl.item() == pytest.approx(expected)


def test_reparameterisation_uses_the_standard_deviation():
    vae = zoo.vae(n_features=4, latent_dim=1, hidden=(3,), random_state=0)
    z_seen = []
    vae.decoder.register_forward_pre_hook(lambda _m, args: z_seen.append(args[0].detach()))
    with torch.no_grad():
        vae.mu.weight.zero_(), vae.mu.bias.zero_()
        vae.logvar.weight.zero_(), vae.logvar.bias.fill_(np.log(4.0))  # variance 4, sd 2
        vae.loss(torch.full((20000, 4), 0.5), torch.Generator().manual_seed(0))
    assert float(z_seen[0].std()) == pytest.approx(2.0, rel=0.03)


def test_interrupted_training_resumes_to_the_same_weights(digits, tmp_path, monkeypatch):
    from unboxed.zoo import _vae

    X = digits.X_train[:300]

    def fresh():
        return zoo.vae(n_features=64, latent_dim=2, hidden=(16,), random_state=3)

    settings = {"epochs": 4, "batch_size": 100, "random_state": 3, "verbose": False}
    straight = fresh()
    zoo.train_vae(straight, X, **settings)

    real_loss, calls = _vae.VAE.loss, {"n": 0}

    def interrupt_in_third_epoch(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 7:  # three batches an epoch: the first of the third epoch
            raise KeyboardInterrupt
        return real_loss(self, *args, **kwargs)

    checkpoint = tmp_path / "vae.safetensors"
    monkeypatch.setattr(_vae.VAE, "loss", interrupt_in_third_epoch)
    with pytest.raises(KeyboardInterrupt):
        zoo.train_vae(fresh(), X, checkpoint=checkpoint, **settings)
    calls["n"] = 100  # past the interrupt: count the batches of the resumed run
    resumed = fresh()
    result = zoo.train_vae(resumed, X, checkpoint=checkpoint, **settings)
    assert calls["n"] == 100 + 2 * 3  # only the last two epochs were trained
    assert len(result.epoch_loss) == 4
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    with pytest.raises(ValueError, match="different settings"):
        zoo.train_vae(fresh(), X[1:], checkpoint=checkpoint, **settings)


def test_the_same_call_again_after_an_interrupt_in_the_first_epoch_ends_as_without_it(
    digits, tmp_path, monkeypatch
):
    # With the one model object: the interrupt came before any checkpoint, so the call
    # run again trained the half-trained weights from scratch.
    X, checkpoint = digits.X_train[:300], tmp_path / "vae.safetensors"
    settings = {"epochs": 2, "batch_size": 100, "random_state": 3, "verbose": False}

    def fresh():
        return zoo.vae(n_features=64, latent_dim=2, hidden=(16,), random_state=3)

    straight, model = fresh(), fresh()
    zoo.train_vae(straight, X, **settings)
    calls = interrupt_at(monkeypatch, torch.optim.Adam, "step", stop=2)
    with pytest.raises(KeyboardInterrupt):
        zoo.train_vae(model, X, checkpoint=checkpoint, **settings)
    calls["stop"] = None
    zoo.train_vae(model, X, checkpoint=checkpoint, **settings)
    for key, value in straight.state_dict().items():
        assert torch.equal(value, model.state_dict()[key]), key


def test_a_checkpoint_of_another_batch_size_or_initial_model_is_refused(digits, tmp_path):
    X, checkpoint = digits.X_train[:200], tmp_path / "vae.safetensors"
    settings = {"epochs": 1, "batch_size": 100, "random_state": 3, "verbose": False}

    def fresh(seed=3):
        return zoo.vae(n_features=64, latent_dim=2, hidden=(16,), random_state=seed)

    zoo.train_vae(fresh(), X, checkpoint=checkpoint, **settings)
    with pytest.raises(ValueError, match="different settings"):
        zoo.train_vae(fresh(), X, checkpoint=checkpoint, **{**settings, "batch_size": 50})
    with pytest.raises(ValueError, match="different settings"):  # same shapes, other weights
        zoo.train_vae(fresh(seed=4), X, checkpoint=checkpoint, **settings)
    with pytest.raises(ValueError, match="different settings"):  # as many rows, other images
        zoo.train_vae(fresh(), digits.X_train[200:400], checkpoint=checkpoint, **settings)
    # The same model and images, another seed: other batches and noise, so resuming
    # would end with weights no uninterrupted run of either seed gives.
    with pytest.raises(ValueError, match="different settings"):
        zoo.train_vae(fresh(), X, checkpoint=checkpoint, **{**settings, "random_state": 4})


@pytest.mark.parametrize("seed", [None, np.random.default_rng(0)])
def test_a_checkpoint_that_could_never_resume_is_refused_before_training(digits, tmp_path, seed):
    X = digits.X_train[:200]
    model = zoo.vae(n_features=64, latent_dim=2, hidden=(16,), random_state=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="reproducible random_state"):
        zoo.train_vae(model, X, epochs=1, random_state=seed, checkpoint=tmp_path / "c.st")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        zoo.train_vae(model, X, epochs=1, random_state=3, checkpoint=tmp_path, verbose=False)
    assert not (tmp_path / "c.st").exists()
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), f"{key} was trained before the refusal"


def test_elbo_averages_its_samples(digits):
    model = zoo.vae(n_features=64, latent_dim=2, hidden=(16,), random_state=0)
    X = digits.X_train[:5]
    generator = torch.Generator().manual_seed(7)
    x = torch.as_tensor(X, dtype=torch.float32)
    with torch.no_grad():
        by_hand = sum(-model.loss(x, generator).double() for _ in range(3)) / 3
    np.testing.assert_allclose(model.elbo(X, n_samples=3, random_state=7), by_hand.numpy())


def test_the_decoder_mirrors_the_encoder():
    model = zoo.vae(n_features=64, latent_dim=2, hidden=(32, 16), random_state=0)
    sizes = [(m.in_features, m.out_features) for m in model.decoder if hasattr(m, "in_features")]
    assert sizes == [(2, 16), (16, 32), (32, 64)]
    assert model(torch.zeros(3, 64)).shape == (3, 64)


def test_forward_and_sample_decode_the_documented_latents():
    """forward reconstructs through the posterior mean; sample decodes z ~ N(0, I)."""
    model = zoo.vae(n_features=6, latent_dim=3, hidden=(5,), random_state=0)
    x = torch.rand((4, 6), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        mu, _ = model.encode(x)
        assert torch.equal(model(x), model.decode(mu))
        z = torch.randn((5, 3), generator=torch.Generator().manual_seed(2))
        expected = model.decode(z).double().numpy()
    np.testing.assert_array_equal(model.sample(5, random_state=2), expected)


def test_epoch_loss_is_the_negative_elbo_per_image(digits):
    # A learning rate too small to move the weights: the epoch's loss is the mean
    # negative ELBO of the training images, batches of 128, 128 and 44 images alike.
    model = zoo.vae(n_features=64, latent_dim=2, hidden=(16,), random_state=0)
    X = digits.X_train[:300]
    before = -model.elbo(X, n_samples=32).mean()
    result = zoo.train_vae(model, X, epochs=1, batch_size=128, lr=1e-9, verbose=False)
    assert result.epoch_loss[0] == pytest.approx(before, rel=0.02)


def test_a_single_image_or_a_bad_learning_rate_is_refused(digits):
    model = zoo.vae(n_features=64, latent_dim=2, hidden=(8,))
    with pytest.raises(ValueError, match="must be a batch of images"):
        model.elbo(digits.X_train[0])
    with pytest.raises(ValueError, match="lr"):
        zoo.train_vae(model, digits.X_train[:10], lr=0, verbose=False)
    # Adam's first step, 10 lr, overflowed float32 in torch's bare words ("value cannot
    # be converted to type float without overflow")
    with pytest.raises(ValueError, match=r"lr must be at most 3\.403e\+37, where Adam's"):
        zoo.train_vae(model, digits.X_train[:10], lr=1e38, verbose=False)


def test_a_float64_vae_trains_scores_and_samples_as_the_float32_one(digits):
    """Images go to the VAE's dtype (and device), the noise is drawn on the CPU: a
    float64 copy follows the float32 run to rounding (float32 images crashed it)."""
    runs = []
    for double in (False, True):
        vae = zoo.vae(n_features=64, latent_dim=2, hidden=(16,), random_state=3)
        vae = vae.double() if double else vae
        result = zoo.train_vae(vae, digits.X_train[:200], epochs=2, random_state=3, verbose=False)
        runs.append((result.epoch_loss, vae.elbo(digits.X_test[:20]), vae.sample(5)))
    for single, double in zip(*runs, strict=True):
        np.testing.assert_allclose(double, single, rtol=1e-4, atol=1e-5)


def test_decode_is_the_sigmoid_of_the_decoder_logits():
    model = zoo.vae(n_features=6, latent_dim=2, hidden=(5,), random_state=0)
    z = 3.0 * torch.randn((8, 2), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        probabilities = model.decode(z)
        torch.testing.assert_close(probabilities, torch.sigmoid(model.decode_logits(z)))
    assert probabilities.min() > 0.0 and probabilities.max() < 1.0
    samples = model.sample(50, random_state=0)
    assert samples.min() > 0.0 and samples.max() < 1.0


def test_the_reconstruction_term_is_bernoulli_cross_entropy_of_gray_pixels():
    # Gray pixels are targets in their own right: -x log s(l) - (1 - x) log(1 - s(l)).
    logits = torch.tensor([[2.0, -1.0, 0.5]], dtype=torch.float64)
    x = torch.tensor([[0.25, 0.6, 1.0]], dtype=torch.float64)
    zeros = torch.zeros((1, 2), dtype=torch.float64)
    s = 1.0 / (1.0 + np.exp(-logits.numpy()))
    expected = -(x.numpy() * np.log(s) + (1 - x.numpy()) * np.log(1 - s)).sum()
    assert _negative_elbo(logits, x, zeros, zeros).item() == pytest.approx(expected, rel=1e-12)


def test_each_epoch_visits_every_image_once_in_a_fresh_order(digits, monkeypatch):
    from unboxed.zoo import _vae

    X = digits.X_train[:50]
    seen = []
    real_loss = _vae.VAE.loss

    def recording_loss(self, batch, generator=None):
        seen.append(batch.detach().clone())
        return real_loss(self, batch, generator)

    monkeypatch.setattr(_vae.VAE, "loss", recording_loss)
    model = zoo.vae(n_features=64, latent_dim=2, hidden=(8,), random_state=0)
    zoo.train_vae(model, X, epochs=2, batch_size=16, random_state=0, verbose=False)
    assert [len(b) for b in seen] == [16, 16, 16, 2] * 2
    x = torch.as_tensor(X, dtype=torch.float32)
    orders = []
    for epoch in range(2):
        rows = torch.cat(seen[4 * epoch : 4 * epoch + 4])
        # each batch row is one training image; find which
        order = [int(torch.nonzero((x == row).all(1))[0, 0]) for row in rows]
        assert sorted(order) == list(range(50))
        orders.append(order)
    assert orders[0] != list(range(50)) and orders[0] != orders[1]  # shuffled, anew


def test_the_learning_rate_is_used(digits):
    X = digits.X_train[:64]

    def moved(lr):
        model = zoo.vae(n_features=64, latent_dim=2, hidden=(8,), random_state=0)
        before = [p.detach().clone() for p in model.parameters()]
        zoo.train_vae(model, X, epochs=1, batch_size=64, lr=lr, random_state=0, verbose=False)
        return max(
            float((p.detach() - b).abs().max())
            for p, b in zip(model.parameters(), before, strict=True)
        )

    # Adam moves each weight by about lr on its first step
    assert moved(1e-6) < 2e-6 and 5e-3 < moved(1e-2) < 2e-2


def test_a_diverging_vae_training_raises(digits):
    model = zoo.vae(n_features=64, latent_dim=2, hidden=(8,), random_state=0)
    with torch.no_grad():
        model.logvar.bias.fill_(1e4)  # exp(logvar) overflows: the loss is infinite
    with pytest.raises(FloatingPointError, match="VAE loss became"):
        zoo.train_vae(model, digits.X_train[:20], epochs=1, verbose=False)


def test_a_last_step_that_diverges_is_caught_by_the_weight_check(digits, monkeypatch):
    # A finite loss whose step leaves NaN weights: only the end-of-epoch check sees it.
    model = zoo.vae(n_features=64, latent_dim=2, hidden=(8,), random_state=0)
    real_step = torch.optim.Adam.step

    def poisoned_step(self, *args, **kwargs):
        out = real_step(self, *args, **kwargs)
        with torch.no_grad():
            model.mu.bias.fill_(float("nan"))
        return out

    monkeypatch.setattr(torch.optim.Adam, "step", poisoned_step)
    with pytest.raises(FloatingPointError, match="training diverged .* at epoch 0"):
        zoo.train_vae(model, digits.X_train[:20], epochs=1, batch_size=20, verbose=False)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m, X: zoo.train_vae(m, X, batch_size=0, verbose=False), "batch_size must be"),
        (lambda m, X: zoo.train_vae(m, X, epochs=0, verbose=False), "epochs must be"),
        (lambda m, X: m.elbo(X, n_samples=0), "n_samples must be"),
        (lambda m, X: m.sample(0), "n must be"),
        (lambda m, X: zoo.vae(n_features=0), "n_features must be"),
        (lambda m, X: zoo.vae(latent_dim=2.5), "latent_dim must be"),
    ],
)
def test_bad_counts_are_refused(call, message):
    model = zoo.vae(n_features=4, latent_dim=2, hidden=(3,))
    with pytest.raises(ValueError, match=message):
        call(model, np.full((5, 4), 0.5))


def test_sample_refuses_a_count_it_cannot_hold_naming_it():
    # torch's bare "can't allocate memory: you tried to allocate 8000000000000 bytes"
    # named no setting.
    model = zoo.vae(n_features=4, latent_dim=2, hidden=(3,), random_state=0)
    with pytest.raises(ValueError, match=r"n=1000000000000 is too large: it asks for"):
        model.sample(10**12)
    assert model.sample(3).shape == (3, 4)


def test_encoder_and_decoder_are_relu_stacks_ending_in_linear_layers():
    model = zoo.vae(n_features=6, latent_dim=2, hidden=(5, 4), random_state=0)
    kinds = [type(m).__name__ for m in model.decoder]
    assert kinds == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]  # logits, unbounded
    assert [type(m).__name__ for m in model.encoder] == ["Linear", "ReLU", "Linear", "ReLU"]


@pytest.mark.parametrize("verbose", [True, False])
def test_verbose_shows_the_vae_bar_and_false_prints_nothing(verbose, digits, capfd):
    vae = zoo.vae(n_features=64, latent_dim=2, hidden=(8,), random_state=0)
    zoo.train_vae(vae, digits.X_train[:100], epochs=1, batch_size=50, verbose=verbose)
    assert_progress_shown(capfd, verbose, "train vae")
