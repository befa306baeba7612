"""One module per model family; every model follows the contracts in npae.models.base."""
from .autoencoder import Autoencoder, pca
from .base import BaseModel, NotFittedError
from .conv import ConvAutoencoder
from .regularized import (ContractiveAutoencoder, DenoisingAutoencoder, KSparseAutoencoder,
                          SparseAutoencoder)
from .recommend import EASE, MultDAE, MultVAE, Popularity
from .stacked import StackedAutoencoder
from .vae import VAE

__all__ = ["Autoencoder", "BaseModel", "ContractiveAutoencoder", "ConvAutoencoder",
           "DenoisingAutoencoder", "EASE", "KSparseAutoencoder", "MultDAE", "MultVAE",
           "NotFittedError", "Popularity", "SparseAutoencoder", "StackedAutoencoder",
           "VAE", "pca"]
