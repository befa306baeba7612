"""npae: autoencoders in pure NumPy, with every gradient derived by hand and checked.

Models: Autoencoder (plain, deep, tied, linear), SparseAutoencoder, KSparseAutoencoder,
DenoisingAutoencoder, ContractiveAutoencoder, VAE, StackedAutoencoder; GaussianMixture
and LinearProbe for what codes are for. Modules: layers, losses, penalties, noise,
network, optim, training, gradcheck, datasets, plotting, metrics, likelihood, anomaly.
"""
__version__ = "0.1.0"

from . import (anomaly, conv, datasets, gradcheck, layers, likelihood, losses, metrics,  # noqa: E402
               network, noise, optim, penalties, probe, training)
from .gmm import GaussianMixture  # noqa: E402
from .models import (VAE, Autoencoder, ContractiveAutoencoder,  # noqa: E402
                     ConvAutoencoder,
                     DenoisingAutoencoder, KSparseAutoencoder, NotFittedError,
                     SparseAutoencoder, StackedAutoencoder, pca)
from .parallel import get_num_threads, set_num_threads  # noqa: E402  (elementwise threads)
from .persistence import CheckpointError, load_model as load  # noqa: E402
from .probe import LinearProbe  # noqa: E402
from .training import TrainingDiverged  # noqa: E402

__all__ = ["Autoencoder", "CheckpointError", "ContractiveAutoencoder", "ConvAutoencoder", "DenoisingAutoencoder",
           "GaussianMixture", "KSparseAutoencoder", "LinearProbe", "NotFittedError",
           "SparseAutoencoder", "StackedAutoencoder", "TrainingDiverged", "VAE", "anomaly",
           "datasets", "gradcheck", "layers", "likelihood", "load", "losses", "metrics",
           "network", "noise", "optim", "pca", "penalties", "plotting", "probe", "training",
           "__version__"]


def __getattr__(name):
    """``npae.plotting`` is imported on first use: it loads matplotlib, which takes a second."""
    if name == "plotting":
        import importlib
        return importlib.import_module(".plotting", __name__)
    raise AttributeError(f"module 'npae' has no attribute {name!r}")
