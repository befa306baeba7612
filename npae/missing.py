"""Missing values: the reconstruction loss over the observed entries only, and imputation.

Notation: docs/notation.md. X (B, D) is a batch with some entries missing; the mask
M ∈ {0, 1}^{B×D} (a boolean array of X's shape) is 1 where X_nd was observed. A
missing entry may hold anything, NaN included; an observed one must be finite. ℓ(a, x)
is the per-entry reconstruction loss of npae.losses (½ (a − x)² for a Gaussian output,
softplus(a) − x a for a Bernoulli one), A the output logits, x̂ = mean(A). Tags are
this module's; cited from elsewhere they read "missing (I3)".

The encoder must not read a missing entry, and the loss must not score one. npae
fills the missing entries with 0 before anything else (as AutoRec does, Sedhain et
al. 2015, and as masking noise does):

    (I1)  X⁰ = M ⊙ X               (a missing entry, even NaN, becomes 0)      (B, D)

and the encoder reads X⁰ (or its corruption, autoencoder (F0)). The reconstruction
loss sums over the observed entries of each example and averages over the B examples
of the batch (an example with nothing observed counts in B and adds 0):

    (I2)  ℒ_rec = (1/B) Σ_n Σ_d M_nd ℓ(A_nd, X⁰_nd)

With M ≡ 1 this is the ordinary loss (losses (F2), (F4)). Its gradients follow term by
term, since ∂ℓ(a, x)/∂a = x̂ − x for both losses (losses (B1), (B3)):

    (I3)  ∂ℒ_rec/∂A = M ⊙ (x̂ − X⁰) / B           only observed entries send a gradient
    (I4)  ∂ℒ/∂X = M ⊙ (∂ℒ/∂X⁰)                    by (I1), ∂X⁰_nd/∂X_nd = M_nd

where ∂ℒ/∂X⁰ is the full-data input gradient (autoencoder (B6), (B12)) with (I3) in
place of (B1). So ℒ and every gradient are functions of the observed entries alone:
changing a missing entry changes neither (tests/test_imputation.py checks this).

Imputation (``Autoencoder.impute``). Start from the encoder's training input and
replace the missing entries by the reconstruction, T times (T = ``n_iter``):

    (I5)  X⁽⁰⁾ = X⁰,    X⁽ᵗ⁾ = M ⊙ X + (1 − M) ⊙ x̂(X⁽ᵗ⁻¹⁾)     t = 1..T

T = 1 reads exactly what training read (zeros where missing). T > 1 feeds each fill-in
back, a fixed-point iteration that helps a model trained on complete data (it never saw
zeros standing for "missing") and can hurt one trained with a mask (it never saw
filled-in values): compare both on held-out entries. The observed entries of the result
are those of X, bit for bit.
"""
from __future__ import annotations

import numpy as np

from ._validation import check_array


def check_observed(X, observed, dtype, n_features=None, name="X"):
    """Validate ``X`` with its mask ``observed``; return ``(X⁰, M)`` by (I1).

    ``observed`` must be a boolean array of X's shape; X may hold NaN (or anything)
    exactly where ``observed`` is False and must be finite where it is True. X⁰ is X
    in ``dtype`` with every missing entry 0; M is the boolean mask.
    """
    X = check_array(X, name, ndim=2, n_features=n_features, finite=False)
    if observed is None:
        raise ValueError("observed must be a boolean array of X's shape, got None")
    M = np.asarray(observed)
    if M.dtype != bool:
        raise ValueError(f"observed must be a boolean array (True where {name} is observed), "
                         f"got dtype {M.dtype}")
    if M.shape != X.shape:
        raise ValueError(f"observed must have {name}'s shape {X.shape}, got {M.shape}")
    bad = M & ~np.isfinite(X)
    if bad.any():
        n, d = np.argwhere(bad)[0]
        raise ValueError(f"{name} has {int(bad.sum())} NaN or infinite value(s) at observed "
                         f"entries (the first at row {n}, column {d}); NaN is allowed only "
                         f"where observed is False")
    with np.errstate(invalid="ignore"):
        X0 = np.where(M, X, 0).astype(dtype, copy=False)                     # (I1)
    check_array(X0, name, ndim=2, dtype=dtype)      # e.g. a float64 value beyond float32
    return X0, M


def masked_value_and_grad(loss, A, X0, M, grad=True):
    """(I2) and, if ``grad``, (I3): the reconstruction loss over the observed entries."""
    B = A.shape[0]
    value = float(np.sum(loss.entries(A, X0), where=M) / B)                  # (I2)
    if not grad:
        return value, None
    return value, loss.grad(A, X0) * M                                       # (I3) (B, D)


def masked_target_grad(loss, A, X0, M):
    """∂ℒ_rec/∂X⁰ with the target scored on observed entries only: M ⊙ losses (B2)/(B4)."""
    return loss.target_grad(A, X0) * M
