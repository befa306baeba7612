"""One module per model family; every model follows the contracts in npae.models.base."""
from .autoencoder import Autoencoder, pca
from .base import BaseModel, NotFittedError

__all__ = ["Autoencoder", "BaseModel", "NotFittedError", "pca"]
