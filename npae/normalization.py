"""Row normalization of an encoder's input: each example divided by its Euclidean norm.

The encoders of Mult-DAE and Mult-VAE (Liang et al. 2018, §2.2 and their code) read a
user's click vector x_n normalized to unit length, so that a user with 500 clicks and
one with 5 put inputs of the same size into the first layer; the likelihood still
scores the raw counts. Notation: X (B, D) the batch, x_n its row n, x̄ the normalized
batch, r (B, 1) the row norms, g = ∂ℒ/∂x̄ (B, D) the gradient arriving from above.
Tags are this module's; cited from elsewhere they read "normalization (N3)".

    (N1)  r_n = ‖x_n‖₂ = (Σ_i x_ni²)^{1/2}
    (N2)  x̄_n = x_n / r_n
    (N3)  ∂ℒ/∂x_n = (g_n − x̄_n (x̄_n · g_n)) / r_n

Derivation of (N3): ∂r/∂x_i = x_i / r, so ∂x̄_j/∂x_i = δ_ij / r − x_j x_i / r³
= (δ_ij − x̄_i x̄_j) / r, the projection I − x̄ x̄ᵀ away from x̄ divided by r; it is
symmetric, so the chain rule Σ_j g_j ∂x̄_j/∂x_i gives (N3). Scaling x_n leaves x̄_n
unchanged, so the gradient has no component along x_n: x_n · ∂ℒ/∂x_n = 0.

A row of zeros has no direction (r = 0): it is refused with an error naming the row,
never divided by zero.
"""
from __future__ import annotations

import numpy as np

__all__ = ["NORMALIZATIONS", "check_normalization", "l2_normalize", "l2_normalize_backward"]

#: the values of ``input_normalization`` (None: the encoder reads x as it is)
NORMALIZATIONS = (None, "l2")


def check_normalization(value, argument="input_normalization"):
    if value not in NORMALIZATIONS:
        raise ValueError(f"{argument} must be None or 'l2', got {value!r}")
    return value


def l2_normalize(X, name="X"):
    """(N1)-(N2): ``(X̄, r)``, X̄ (B, D) with unit rows and r (B, 1) the row norms."""
    r = np.sqrt(np.sum(X * X, axis=1, keepdims=True))                  # (N1) (B, 1)
    zero = np.flatnonzero(r[:, 0] == 0)
    if zero.size:
        raise ValueError(f"input_normalization='l2' divides each row of {name} by its 2-norm, "
                         f"but {zero.size} row(s) are all zeros (first: row {zero[0]}), e.g. "
                         f"users without any click: drop them before fit or scoring")
    return X / r, r                                                    # (N2) (B, D)


def l2_normalize_backward(dX_bar, X_bar, r):
    """(N3): ∂ℒ/∂X (B, D) from g = ∂ℒ/∂X̄ (B, D), the normalized rows and their norms."""
    along = np.sum(X_bar * dX_bar, axis=1, keepdims=True)              # x̄_n · g_n (B, 1)
    return (dX_bar - X_bar * along) / r                                # (N3) (B, D)
