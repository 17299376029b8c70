"""A small variational autoencoder: the image generator G(z) of the slides.

Source: ``002_3e5e1762af60ee33.txt``, "Constraint from Generator": train an image
generator (by GAN, VAE, ...) on the training examples, then search its low-dimensional
input z instead of the image, z* = argmax_z y_i(G(z)) and x* = G(z*), so that the
result stays on the generator's image manifold. The VAE is also a realism score:
its evidence lower bound (ELBO) bounds the log-likelihood of an image under the model
of the training images (Kingma and Welling, 2014, eq. 3).

Images are modelled with independent Bernoulli pixels, the usual choice for images in
[0, 1]; the ELBO is in nats per image.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .._io import array_digest
from .._progress import progress
from .._validation import (
    RandomState,
    allocate,
    check_array,
    check_checkpoint,
    check_positive_int,
    check_positive_ints,
    int_seed,
)
from ..blackbox import module_input
from ._models import DIVERGED, ZooModel, _seeded, check_finite_weights


class VAE(ZooModel):
    """A fully connected VAE: ``encoder -> (mu, logvar)``, ``decoder -> pixel probabilities``.

    Build it with :func:`vae`, train it with :func:`train_vae`. Save and load it with
    :func:`unboxed.zoo.save` and :func:`unboxed.zoo.load` like any zoo model.

    Parameters
    ----------
    layers : OrderedDict of str to torch.nn.Module
        ``encoder``, ``mu``, ``logvar`` and ``decoder``, as :func:`vae` makes them.
    config : dict
        How to rebuild it (see :class:`ZooModel`); its ``kwargs`` hold
        ``n_features`` and ``latent_dim``.
    """

    # modules, added by :func:`vae`
    encoder: nn.Module
    mu: nn.Module
    logvar: nn.Module
    decoder: nn.Module

    @property
    def latent_dim(self) -> int:
        """The size of the latent code z."""
        return int(self.config["kwargs"]["latent_dim"])

    @property
    def n_features(self) -> int:
        """Pixels per image, in and out."""
        return int(self.config["kwargs"]["n_features"])

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean and log-variance of q(z | x).

        Parameters
        ----------
        x : torch.Tensor of shape (n, n_features) or (n, ...) with n_features per row
            Images with values in [0, 1], flattened here.

        Returns
        -------
        mu, logvar : torch.Tensor of shape (n, latent_dim)
        """
        h = self.encoder(x.reshape(x.shape[0], -1))
        return self.mu(h), self.logvar(h)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """The logits of p(x | z).

        Parameters
        ----------
        z : torch.Tensor of shape (n, latent_dim)

        Returns
        -------
        torch.Tensor of shape (n, n_features)
        """
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """G(z): pixel probabilities in (0, 1).

        Parameters
        ----------
        z : torch.Tensor of shape (n, latent_dim)

        Returns
        -------
        torch.Tensor of shape (n, n_features)
        """
        return torch.sigmoid(self.decoder(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction of ``x`` through the posterior mean (no sampling).

        Parameters
        ----------
        x : torch.Tensor of shape (n, n_features) or (n, ...) with n_features per row

        Returns
        -------
        torch.Tensor of shape (n, n_features)
            Pixel probabilities in (0, 1).
        """
        mu, _ = self.encode(x)
        return self.decode(mu)

    def loss(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Per-row negative ELBO with one reparameterised sample, in nats.

        Parameters
        ----------
        x : torch.Tensor of shape (n, n_features) or (n, ...) with n_features per row
            Images with values in [0, 1].
        generator : torch.Generator, optional
            A CPU generator for the noise; None uses torch's global one.

        Returns
        -------
        torch.Tensor of shape (n,)
            Differentiable, for training.
        """
        mu, logvar = self.encode(x)
        # Drawn in float32 on the CPU, where the generator is, so a seed gives the same
        # noise on any device and in any dtype.
        eps = torch.randn(mu.shape, generator=generator).to(mu)
        z = mu + torch.exp(0.5 * logvar) * eps
        return _negative_elbo(self.decode_logits(z), x.reshape(x.shape[0], -1), mu, logvar)

    def elbo(self, X: object, *, n_samples: int = 16, random_state: RandomState = 0) -> np.ndarray:
        """A Monte-Carlo estimate of the ELBO of each image, in nats.

        Higher means more likely under the model of the training images. It is a
        lower bound on log p(x); ``n_samples`` draws of z per image are averaged.

        Parameters
        ----------
        X : array-like of shape (n, n_features), values in [0, 1]
        n_samples : int
        random_state : int, numpy.random.Generator or None
            Seeds the draws of z.

        Returns
        -------
        ndarray of shape (n,)
        """
        X = _check_unit_interval(X, self.n_features)
        n_samples = check_positive_int(n_samples, name="n_samples")
        generator = torch.Generator().manual_seed(int_seed(random_state))
        x = module_input(self, X)
        self.eval()
        total = torch.zeros(x.shape[0], dtype=torch.float64)
        with torch.inference_mode():
            for _ in range(n_samples):
                total += -self.loss(x, generator).double().cpu()
        return (total / n_samples).numpy()

    def sample(self, n: int, *, random_state: RandomState = 0) -> np.ndarray:
        """``n`` images G(z) for z drawn from the prior N(0, I).

        Parameters
        ----------
        n : int
            How many images, at least 1.
        random_state : int, numpy.random.Generator or None, default=0
            Seeds the draws of z.

        Returns
        -------
        ndarray of shape (n, n_features)
            Pixel probabilities in (0, 1), float64.
        """
        n = check_positive_int(n, name="n")
        # The images returned, sized first: n=10**12 failed in torch's allocator ("can't
        # allocate memory: you tried to allocate 8000000000000 bytes"), naming no n.
        allocate((n, self.n_features), setting=f"n={n}")
        generator = torch.Generator().manual_seed(int_seed(random_state))
        z = module_input(self, torch.randn((n, self.latent_dim), generator=generator))
        self.eval()
        with torch.inference_mode():
            return self.decode(z).double().cpu().numpy()


def _negative_elbo(
    logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
) -> torch.Tensor:
    """Bernoulli reconstruction loss plus KL(q(z|x) || N(0, I)), per row.

    logits, x : (n, d); mu, logvar : (n, k) -> (n,)
    """
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
    return reconstruction + kl


def _check_unit_interval(X: object, n_features: int, name: str = "X") -> np.ndarray:
    arr = check_array(X, name=name, ndim=None, dtype=np.float32)
    if arr.ndim < 2:
        raise ValueError(f"{name} must be a batch of images, got shape {arr.shape}")
    arr = arr.reshape(arr.shape[0], -1)
    if arr.shape[1] != n_features:
        raise ValueError(f"{name} has {arr.shape[1]} features; the VAE expects {n_features}")
    if arr.min() < 0.0 or arr.max() > 1.0:
        raise ValueError(
            f"the VAE models pixels in [0, 1], but {name} spans [{arr.min():.3g}, {arr.max():.3g}]"
        )
    return arr


def vae(
    *,
    n_features: int = 784,
    latent_dim: int = 8,
    hidden: Sequence[int] = (256,),
    random_state: RandomState = 0,
) -> VAE:
    """A VAE ``n_features - hidden... - latent_dim - ...hidden - n_features``.

    Parameters
    ----------
    n_features : int
        Pixels per image (64 for digits, 784 for MNIST).
    latent_dim : int
        The size of z.
    hidden : sequence of int
        Hidden widths of the encoder; the decoder mirrors them.
    random_state : int or numpy.random.Generator
        Seed for the initial weights.

    Returns
    -------
    VAE
    """
    n_features = check_positive_int(n_features, name="n_features")
    latent_dim = check_positive_int(latent_dim, name="latent_dim")
    hidden = list(check_positive_ints(hidden, name="hidden"))
    if not hidden:
        raise ValueError("hidden must hold at least one width")

    def stack(sizes: list[int]) -> nn.Sequential:
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for i, (a, b) in enumerate(itertools.pairwise(sizes), start=1):
            layers[f"fc{i}"] = nn.Linear(a, b)
            layers[f"act{i}"] = nn.ReLU()
        return nn.Sequential(layers)

    def build(seed: int) -> VAE:
        config = {
            "architecture": "vae",
            "kwargs": {
                "n_features": n_features,
                "latent_dim": latent_dim,
                "hidden": hidden,
                "random_state": seed,
            },
            "input_shape": [n_features],
            # A generator has no classes; as_blackbox refuses it.
            "n_classes": 0,
        }
        decoder = stack([latent_dim, *hidden[::-1]])
        decoder.add_module("out", nn.Linear(hidden[0], n_features))
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            encoder=stack([n_features, *hidden]),
            mu=nn.Linear(hidden[-1], latent_dim),
            logvar=nn.Linear(hidden[-1], latent_dim),
            decoder=decoder,
        )
        return VAE(layers, config)

    return _seeded(random_state, build)  # type: ignore[return-value]


@dataclasses.dataclass(frozen=True)
class VAETrainingResult:
    """What a VAE training run reached.

    Attributes
    ----------
    epoch_loss : tuple of float
        Mean negative ELBO per training image, per epoch (nats).
    test_elbo : float or None
        Mean ELBO of the held-out images after training (nats), if any were given.
    seconds : float
    settings : dict
    """

    epoch_loss: tuple[float, ...]
    test_elbo: float | None
    seconds: float
    settings: dict[str, Any]


def train_vae(
    model: VAE,
    X: object,
    *,
    X_test: object = None,
    epochs: int = 30,
    batch_size: int = 128,
    lr: float = 2e-3,
    random_state: RandomState = 0,
    checkpoint: str | os.PathLike | None = None,
    verbose: bool = True,
) -> VAETrainingResult:
    """Train ``model`` in place on images ``X`` by maximising the ELBO with Adam.

    Parameters
    ----------
    model : VAE
        Trained on its device, in its dtype; the shuffling and the noise are drawn on
        the CPU, so a seed draws the same on any device.
    X : array-like of shape (n, n_features), values in [0, 1]
        Training images (e.g. ``dataset.X_train``).
    X_test : array-like, optional
        Held-out images whose mean ELBO is reported.
    epochs, batch_size : int
    lr : float
    random_state : int or numpy.random.Generator
        Seeds the shuffling and the reparameterisation noise.
    checkpoint : path-like, optional
        A safetensors file the training state is saved to, atomically, before the
        first epoch and after every epoch. If it exists, training resumes from it and
        ends with the same weights as an uninterrupted run (as
        :func:`unboxed.zoo.train`); one made with other settings, images or starting
        weights is refused.
    verbose : bool
        Show a progress bar.

    Returns
    -------
    VAETrainingResult
    """
    # Not at the top: _train imports _io, which imports this module.
    from ._train import (
        START_WEIGHTS,
        _check_adam_rates,
        back_to_saved,
        save_training_state,
        start_or_resume,
    )

    if not isinstance(model, VAE):
        raise TypeError(f"train_vae takes a VAE from zoo.vae, got {type(model).__name__}")
    X = _check_unit_interval(X, model.n_features)
    if X_test is not None:  # checked now, not after all the epochs
        X_test = _check_unit_interval(X_test, model.n_features, name="X_test")
    epochs = check_positive_int(epochs, name="epochs")
    batch_size = check_positive_int(batch_size, name="batch_size")
    lr, _ = _check_adam_rates(model, lr)
    check_checkpoint(checkpoint, random_state)
    seed = int_seed(random_state)
    generator = torch.Generator().manual_seed(seed)
    x = module_input(model, X)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    settings = {
        "n_train": int(x.shape[0]),
        "data_sha256": array_digest(X),
        "model": model.config,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "random_state": seed,
    }
    state: dict[str, Any] = {"epoch": 0, "loss": []}
    state = start_or_resume(checkpoint, settings, state, model, optimizer, generator)
    losses: list[float] = state["loss"]
    steps = math.ceil(x.shape[0] / batch_size)
    start = time.perf_counter()
    with (
        progress(total=epochs * steps, verbose=verbose, desc="train vae", unit="batch") as bar,
        back_to_saved(model, checkpoint),
    ):
        bar.update(state["epoch"] * steps)
        model.train()
        for epoch in range(state["epoch"], epochs):
            order = torch.randperm(x.shape[0], generator=generator)
            total = 0.0
            for step in range(steps):
                batch = x[order[step * batch_size : (step + 1) * batch_size].to(x.device)]
                optimizer.zero_grad(set_to_none=True)
                loss = model.loss(batch, generator).mean()
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"the VAE loss became {loss.item()} at epoch {epoch}")
                loss.backward()
                optimizer.step()
                total += loss.item() * batch.shape[0]
                bar.update(1)
            check_finite_weights(model, what=f"{DIVERGED} at epoch {epoch}")
            losses.append(total / x.shape[0])
            state["epoch"] = epoch + 1
            bar.set_postfix(neg_elbo=f"{losses[-1]:.2f}")
            if checkpoint is not None:
                save_training_state(checkpoint, settings, state, model, optimizer, generator)
    model.eval()
    test_elbo = None
    if X_test is not None:
        test_elbo = float(model.elbo(X_test, random_state=seed).mean())
    settings.pop(START_WEIGHTS, None)  # the same record with a checkpoint or without
    return VAETrainingResult(tuple(losses), test_elbo, time.perf_counter() - start, settings)


GENERATORS: dict[str, Callable[..., ZooModel]] = {"vae": vae}
