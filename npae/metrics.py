"""Numbers that describe what a regularizer did: sparsity, contraction, denoising quality.

Notation (docs/notation.md): Z (N, H) codes, X (N, D) clean data, Y (N, D) an estimate of
X (a noisy or a denoised copy), R the data range (1 for pixels in [0, 1]). These are
unweighted diagnostics: a model's ``values`` hold only weighted loss terms.

Sparsity of a code:

    (M1)  ρ̄_j = (1/N) Σ_n z_nj                      mean activation of unit j      (H,)
    (M2)  f_0 = (1/(N H)) #{(n, j) : |z_nj| ≤ τ}     fraction of near-zero codes

Contraction of an encoder f (Rifai et al. 2011), with J_f(x) = ∂f/∂x stored as D × H
(J_ij = ∂f_j/∂x_i; Rifai et al. write the H × D transpose, with the same Frobenius norm):

    (M3)  C = (1/N) Σ_n ‖J_f(x_n)‖_F                mean Frobenius norm (not squared)

Denoising quality, per entry (unlike the training loss (1/B) Σ_n ½‖·‖², which is
summed over the D features and halved):

    (M4)  MSE(X, Y) = (1/(N D)) Σ_nd (x_nd − y_nd)²
    (M5)  PSNR(X, Y) = 10 log₁₀(R² / MSE(X, Y))      in dB, from the MSE over all of X

A lower MSE / higher PSNR of the denoised images than of the noisy ones, both
against the clean ones, is what a denoising autoencoder promises.
"""
from __future__ import annotations

import numpy as np

from ._validation import check_array, check_positive_int, check_scalar

__all__ = ["mean_activation", "fraction_near_zero", "mean_jacobian_norm", "mse", "psnr",
           "denoising_scores"]


def mean_activation(Z):
    """(M1) the mean activation of each code unit over the rows of Z (N, H): (H,)."""
    Z = check_array(Z, "Z", ndim=2)
    return Z.mean(axis=0)


def fraction_near_zero(Z, tol=1e-2):
    """(M2) the fraction of entries of Z with |z| ≤ ``tol`` (a float in [0, 1])."""
    Z = check_array(Z, "Z", ndim=2)
    tol = check_scalar(tol, "tol", 0, None)
    return float(np.mean(np.abs(Z) <= tol))


def mean_jacobian_norm(model, X, batch_size=None):
    """(M3) the mean of ‖J_f(x_n)‖_F over the rows of X for a fitted autoencoder.

    Uses ``model.encoder_jacobian`` (exact, any depth) on batches of ``batch_size``
    rows (default: as many as keep a batch's (b, D, H) Jacobian near 4 million numbers).
    """
    X = check_array(X, "X", ndim=2)
    if not hasattr(model, "encoder_jacobian"):
        raise ValueError(f"model must provide encoder_jacobian(X) (an npae Autoencoder), "
                         f"got {type(model).__name__}")
    D = X.shape[1]
    H = model.transform(X[:1]).shape[1]
    if batch_size is None:
        batch_size = max(1, 4_000_000 // (D * H))
    batch_size = check_positive_int(batch_size, "batch_size")
    norms = [np.sqrt(np.sum(model.encoder_jacobian(X[i:i + batch_size]) ** 2, axis=(1, 2)))
             for i in range(0, X.shape[0], batch_size)]    # a loop over batches, not rows
    return float(np.mean(np.concatenate(norms)))


def _pair(X, Y):
    X = check_array(X, "X", ndim=None)
    Y = check_array(Y, "Y", ndim=None)
    if X.shape != Y.shape:
        raise ValueError(f"X and Y must have the same shape, got {X.shape} and {Y.shape}")
    return X.astype(np.float64), Y.astype(np.float64)


def mse(X, Y):
    """(M4) the mean squared error per entry between X (reference) and Y."""
    X, Y = _pair(X, Y)
    return float(np.mean((X - Y) ** 2))


def psnr(X, Y, data_range=1.0):
    """(M5) peak signal-to-noise ratio of Y against the reference X, in dB (inf if equal)."""
    R = check_scalar(data_range, "data_range", 0, None, low_open=True)
    err = mse(X, Y)
    return float("inf") if err == 0 else float(10 * np.log10(R * R / err))


def denoising_scores(X_clean, X_noisy, X_denoised, data_range=1.0):
    """MSE and PSNR of the noisy and of the denoised images against the clean ones.

    Returns ``{"mse_noisy", "mse_denoised", "psnr_noisy", "psnr_denoised"}``.
    """
    return {"mse_noisy": mse(X_clean, X_noisy), "mse_denoised": mse(X_clean, X_denoised),
            "psnr_noisy": psnr(X_clean, X_noisy, data_range),
            "psnr_denoised": psnr(X_clean, X_denoised, data_range)}
