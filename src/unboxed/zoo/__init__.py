"""Reference black boxes: definitions, training, and safe save/load."""

from ._io import load, save
from ._models import ACTIVATIONS, BUILDERS, ZooModel, as_blackbox, build, lenet, mlp
from ._train import TrainingResult, accuracy, train
from ._treereg import TreeRegularizedMLP
from ._vae import VAE, VAETrainingResult, train_vae, vae

__all__ = [
    "ACTIVATIONS",
    "BUILDERS",
    "VAE",
    "TrainingResult",
    "TreeRegularizedMLP",
    "VAETrainingResult",
    "ZooModel",
    "accuracy",
    "as_blackbox",
    "build",
    "lenet",
    "load",
    "mlp",
    "save",
    "train",
    "train_vae",
    "vae",
]
