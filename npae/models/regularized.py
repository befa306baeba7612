"""Named presets of the regularized autoencoder: thin subclasses that only change defaults.

All the mechanism lives in :class:`npae.models.autoencoder.Autoencoder` (equations
autoencoder (F0)-(F10), (B8)-(B12), each term derived in :mod:`npae.penalties` and
:mod:`npae.noise`; notation in docs/notation.md).
A preset takes every hyperparameter of ``Autoencoder`` with the same meaning and
changes only some defaults, so that the model a student is looking for has a name:

=========================  =================================================================
preset                     defaults that differ from ``Autoencoder``
=========================  =================================================================
SparseAutoencoder          sparsity="kl", sparsity_weight=3.0, sparsity_target=0.05
KSparseAutoencoder         k=10, activation="identity" (linear codes, Makhzani & Frey 2014);
                           ``k_by="magnitude"`` ranks |h| instead of h
DenoisingAutoencoder       noise="masking", noise_level=0.3
ContractiveAutoencoder     contractive_weight=1.0
=========================  =================================================================

Regularizers still compose: ``DenoisingAutoencoder(sparsity="kl", sparsity_weight=3.0)``
is a sparse denoising autoencoder, and so is ``Autoencoder(sparsity="kl", ...,
noise="masking", noise_level=0.3)``. Every preset is registered by class name, so
``npae.load`` rebuilds it from a checkpoint.

With ``sparsity="l1"`` choose the weight for your data: λ_s multiplies Σ_j |z_j| per
example, which is about H/2 for sigmoid codes at initialisation, against a
reconstruction loss of about 100 nats on MNIST; 0.1 to 1 is a reasonable range there.
"""
from __future__ import annotations

from .autoencoder import Autoencoder

__all__ = ["SparseAutoencoder", "KSparseAutoencoder", "DenoisingAutoencoder",
           "ContractiveAutoencoder"]


def _hyperparameters(local_vars):
    """The arguments an ``__init__`` received, to pass on verbatim (no ``self``)."""
    return {k: v for k, v in local_vars.items() if k not in ("self", "__class__")}


class SparseAutoencoder(Autoencoder):
    """Autoencoder with a sparsity penalty on the code: KL (default, sigmoid codes) or L1.

    KL: β Σ_j KL(ρ ‖ ρ̂_j) with ρ̂_j the batch-mean activation of code unit j, pulling
    every unit's mean activation towards ``sparsity_target`` ρ (Ng 2011).
    L1: λ (1/B) Σ_nj |z_nj|. See penalties (P3)-(P9). ρ̂_j is a minibatch mean, which
    biases the KL penalty upward by about β Σ_j Var(h_j)/(2Bρ(1−ρ)) (penalties (P5)).
    """

    def __init__(self, hidden_layer_sizes=(64,), activation="sigmoid", output="bernoulli",
                 tied_weights=False, decoder_layer_sizes=None, decoder_activation=None,
                 weight_decay=0.0, sparsity="kl", sparsity_weight=3.0, sparsity_target=0.05,
                 k=None, k_alpha=1.0, noise=None, noise_level=0.0, contractive_weight=0.0,
                 optimizer="adam", learning_rate=1e-3, batch_size=128,
                 epochs=10, random_state=None, dtype="float32", verbose=True,
                 input_normalization=None, k_by="value"):
        super().__init__(**_hyperparameters(locals()))


class KSparseAutoencoder(Autoencoder):
    """k-sparse autoencoder (Makhzani & Frey 2014): keep the k largest codes per example.

    Linear code units by default, as in the paper; the gradient flows only through the
    kept units (autoencoder (F7), (B9)); at transform time round(k_alpha · k) are kept.
    """

    def __init__(self, hidden_layer_sizes=(64,), activation="identity", output="bernoulli",
                 tied_weights=False, decoder_layer_sizes=None, decoder_activation=None,
                 weight_decay=0.0, sparsity=None, sparsity_weight=0.0, sparsity_target=0.05,
                 k=10, k_alpha=1.0, noise=None, noise_level=0.0, contractive_weight=0.0,
                 optimizer="adam", learning_rate=1e-3, batch_size=128,
                 epochs=10, random_state=None, dtype="float32", verbose=True,
                 input_normalization=None, k_by="value"):
        super().__init__(**_hyperparameters(locals()))


class DenoisingAutoencoder(Autoencoder):
    """Denoising autoencoder (Vincent et al. 2008): encode a corrupted x̃, reconstruct x.

    ``noise`` is "masking" (default; each entry set to 0 with probability ``noise_level``),
    "gaussian" (x + s ε with s = ``noise_level``) or "salt_and_pepper" (each entry, with
    probability ``noise_level``, set to the training data's minimum or maximum). See
    noise (D1), (D3), (D5).
    """

    def __init__(self, hidden_layer_sizes=(64,), activation="sigmoid", output="bernoulli",
                 tied_weights=False, decoder_layer_sizes=None, decoder_activation=None,
                 weight_decay=0.0, sparsity=None, sparsity_weight=0.0, sparsity_target=0.05,
                 k=None, k_alpha=1.0, noise="masking", noise_level=0.3, contractive_weight=0.0,
                 optimizer="adam", learning_rate=1e-3, batch_size=128,
                 epochs=10, random_state=None, dtype="float32", verbose=True,
                 input_normalization=None, k_by="value"):
        super().__init__(**_hyperparameters(locals()))


class ContractiveAutoencoder(Autoencoder):
    """Contractive autoencoder (Rifai et al. 2011) with a one-layer sigmoid encoder.

    Adds λ (1/B) Σ_n ‖J_f(x_n)‖_F², in closed form Σ_j (h_j(1 − h_j))² Σ_i W_ij²
    (penalties (P10)-(P14)); deeper encoders are refused.
    """

    def __init__(self, hidden_layer_sizes=(64,), activation="sigmoid", output="bernoulli",
                 tied_weights=False, decoder_layer_sizes=None, decoder_activation=None,
                 weight_decay=0.0, sparsity=None, sparsity_weight=0.0, sparsity_target=0.05,
                 k=None, k_alpha=1.0, noise=None, noise_level=0.0, contractive_weight=1.0,
                 optimizer="adam", learning_rate=1e-3, batch_size=128,
                 epochs=10, random_state=None, dtype="float32", verbose=True,
                 input_normalization=None, k_by="value"):
        super().__init__(**_hyperparameters(locals()))
