"""npae: autoencoders in pure NumPy, with every gradient derived by hand and checked.

Models: Autoencoder (plain, deep, tied, linear), SparseAutoencoder, KSparseAutoencoder,
DenoisingAutoencoder, ContractiveAutoencoder, VAE, StackedAutoencoder; GaussianMixture
and LinearProbe for what codes are for; MultDAE, MultVAE, EASE and Popularity recommend
(npae.recsys). Modules: layers, losses, penalties, noise,
network, optim, training, gradcheck, datasets, plotting, metrics, likelihood, anomaly.
"""
import importlib

from ._version import __version__

from . import (anomaly, conv, datasets, gradcheck, layers, likelihood, losses, metrics,
               network, noise, optim, penalties, probe, recsys, training)
from .gmm import GaussianMixture
from .models import (EASE, VAE, Autoencoder, ContractiveAutoencoder, ConvAutoencoder,
                     DenoisingAutoencoder, KSparseAutoencoder, MultDAE, MultVAE,
                     NotFittedError, Popularity, SparseAutoencoder, StackedAutoencoder, pca)
from .persistence import CheckpointError, load_model as load
from .probe import LinearProbe
from .training import TrainingDiverged

__all__ = ["Autoencoder", "CheckpointError", "ContractiveAutoencoder", "ConvAutoencoder",
           "DenoisingAutoencoder", "EASE", "GaussianMixture", "KSparseAutoencoder",
           "LinearProbe", "MultDAE", "MultVAE", "NotFittedError", "Popularity",
           "SparseAutoencoder", "StackedAutoencoder", "TrainingDiverged", "VAE", "anomaly",
           "datasets", "gradcheck", "layers", "likelihood", "load", "losses", "metrics",
           "network", "noise", "optim", "pca", "penalties", "plotting", "probe", "recsys",
           "training", "__version__"]


def __getattr__(name):
    """``npae.plotting`` is imported on first use: it loads matplotlib, which takes a second."""
    if name == "plotting":
        return importlib.import_module(".plotting", __name__)
    raise AttributeError(f"module 'npae' has no attribute {name!r}")
