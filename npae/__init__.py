"""npae: autoencoders in pure NumPy, with every gradient derived by hand and checked."""
__version__ = "0.1.0"

from .models import Autoencoder, NotFittedError, pca  # noqa: E402
from .persistence import CheckpointError, load_model as load  # noqa: E402
from .training import TrainingDiverged  # noqa: E402

__all__ = ["Autoencoder", "CheckpointError", "NotFittedError", "TrainingDiverged",
           "load", "pca", "__version__"]
