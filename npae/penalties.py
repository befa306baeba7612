"""Penalty terms added to the reconstruction loss, each with its own gradient.

Notation: docs/notation.md. B the batch size, H the code size, h (B, H) the code, W the
weights, R a penalty's value. Tags (P1)-(P14) are this module's; cited from elsewhere
they read "penalties (P6)". Every penalty on the code is averaged over the batch; its
1/B enters in its own backward, once, at the top of its chain. Each function returns
the term as it enters the loss, its weight applied (the ``values`` rule of
docs/notation.md).

Weight decay on the weight matrices (never the biases), λ ≥ 0:

    (P1)  R = (λ/2) Σ_l ‖W_l‖_F²
    (P2)  ∂R/∂W_l = λ W_l

With tied weights a shared W is one parameter and is counted once.

L1 activity penalty on the code (any activation), λ ≥ 0:

    (P3)  R = λ (1/B) Σ_n Σ_j |h_nj|
    (P4)  ∂R/∂h_nj = (λ/B) sign(h_nj)         with sign(0) = 0

|h| has no derivative at 0; every value in [−1, 1] is a subgradient there and npae
takes 0 (np.sign(0) = 0), so a code that is exactly 0 (a ReLU unit that is off) is
left where it is. Gradient checks of (P4) are only meaningful where no h_nj is within
the finite-difference step of 0 (a sigmoid code is exactly 0 only when exp of its
pre-activation underflows: below ≈ −104 in float32, −745 in float64).

KL sparsity on sigmoid codes h ∈ (0, 1), target ρ ∈ (0, 1), weight β ≥ 0
(Ng, "Sparse autoencoder", CS294A notes, 2011):

    (P5)  ρ̂_j = (1/B) Σ_n h_nj                             mean activation of unit j (H,)
    (P6)  R = β Σ_j KL(ρ ‖ ρ̂_j),
          KL(ρ ‖ ρ̂) = ρ log(ρ/ρ̂) + (1−ρ) log((1−ρ)/(1−ρ̂))
    (P7)  ∂R/∂ρ̂_j = β [−ρ/ρ̂_j + (1−ρ)/(1−ρ̂_j)]
    (P8)  ∂R/∂h_nj = Σ_m ∂R/∂ρ̂_m ∂ρ̂_m/∂h_nj = (1/B) ∂R/∂ρ̂_j      since ∂ρ̂_m/∂h_nj = δ_mj / B

(P8) is the term every example of a batch shares: example n's gradient on unit j
depends on the whole batch through ρ̂_j, and is the same for every n. R ≥ 0, with
equality iff every ρ̂_j = ρ; (P7) is negative below ρ (it pushes ρ̂_j up) and positive
above it. The penalty constrains the mean activation, not how often a unit fires.

Minibatch, not training-set, means. In Ng's notes ρ̂_j is the mean over the whole
training set; npae's (P5) is the mean over the minibatch, a noisy estimate of it.
KL(ρ ‖ ·) is convex, so by Jensen E[KL(ρ ‖ ρ̂_B)] ≥ KL(ρ ‖ E ρ̂_B): even when the
full-data mean equals ρ the minibatch penalty is positive on average, about
β Σ_j Var(h_j) / (2 B ρ (1 − ρ)) to second order (at most β H / (2B), since
Var(h_j) ≤ ρ(1 − ρ) for h ∈ [0, 1] with mean ρ). For one unit with h = σ(a),
a ~ N(−4.42, 2²) (mean ρ = 0.05) the bias per unit is 0.0036 / 0.00089 / 0.00022
nats at B = 32 / 128 / 512 (tests/test_penalties.py measures it). So the penalty, and
``score()`` of a KL-sparse model, depend on ``batch_size``.

In exact arithmetic a sigmoid code lies in (0, 1), so ρ̂_j does too; in floating point
σ(a) rounds to exactly 1 for a ≳ 16.6 (float32) or 36.7 (float64) and to 0 below
≈ −104 / −745, and a unit saturated on the whole batch would make (P6) and (P7)
divide by zero. npae therefore evaluates (P6) and (P7) at the clamped value

    (P9)  ρ̂_j ← min(max(ρ̂_j, δ), 1 − δ),     δ = the dtype's machine epsilon
          (2.2e-16 in float64, 1.2e-7 in float32),

and passes (P7) at that value on to every h_nj by (P8) unchanged (a straight-through
clamp: the clamp's own derivative, 0 outside [δ, 1 − δ], is NOT applied). Whenever
every ρ̂_j lies in [δ, 1 − δ] — every non-saturated unit — (P9) is the identity and
value and gradient are exactly (P6) and (P7). For a saturated unit the clamp only keeps
value and gradient finite (no inf/NaN reaches the optimizer); it does not push the
unit back: the code's gradient reaches the weights and bias through σ'(a) = h(1 − h),
which is exactly 0 where h rounded to 0 or 1, so such a unit's incoming weights and
bias get exactly zero gradient from this penalty.

A unit whose codes are not saturated but all tiny, 0 < ρ̂_j < δ (codes of 1e-17, say,
in float64), is clamped too, and then its value and gradient are not (P6) and (P7).
Its (P7) is evaluated at δ instead of ρ̂_j; the term −ρ/ρ̂ dominates both, so

    ∂R/∂ρ̂_j (clamped) = β (−ρ/δ + (1 − ρ)/(1 − δ)) ≈ (ρ̂_j / δ) · ∂R/∂ρ̂_j (true),

to a relative error of about ρ̂_j/ρ. By (P8) every h_nj, and through σ'(a) = h(1 − h)
the unit's incoming weights and bias, get the true gradient scaled by the same
ρ̂_j / δ < 1, which is proportional to the unit's codes over δ: 1e-17 / 2.2e-16 ≈ 4.5 %
of the true push towards ρ at codes of 1e-17, about 5e-15 of it at codes of 1e-30. The
value is KL(ρ ‖ δ), smaller than the true KL(ρ ‖ ρ̂_j) by about ρ log(δ / ρ̂_j).
``tests/test_penalties_clamp.py`` checks both against the unclamped formulas.

Contractive penalty (Rifai et al. 2011) for a one-layer sigmoid encoder
h = σ(a), a = x W + b, W (D, H). The Jacobian of the encoder at one example x, stored
as D × H (npae's orientation, rows = inputs; Rifai et al. write the H × D transpose,
with the same Frobenius norm), is

    (P10) J_ij = ∂h_j/∂x_i = σ'(a_j) W_ij = σ'_j W_ij,    σ'_j = h_j (1 − h_j)    (D, H)

so its squared Frobenius norm factorises into a per-unit product:

    (P11) ‖J_f(x)‖_F² = Σ_i Σ_j σ'_j² W_ij² = Σ_j σ'_j² q_j,     q_j = Σ_i W_ij²
    (P12) R = λ (1/B) Σ_n Σ_j σ'_nj² q_j = λ (1/B) Σ_n ‖J_f(x_n)‖_F²

R reaches W twice: through q (directly) and through σ' (via a = xW + b). With
∂σ'/∂h = 1 − 2h, the two partial derivatives are

    (P13) ∂R/∂h_nj = (λ/B) 2 σ'_nj q_j (1 − 2 h_nj)          the path through h, q held fixed
    (P14) ∂R/∂W_ij |_h = (λ/B) Σ_n σ'_nj² · 2 W_ij            the path through q, h held fixed

(P13) is then carried down the encoder like any code gradient,
dA = ∂R/∂h ⊙ σ', dW += xᵀ dA, db += Σ_n dA, dx = dA Wᵀ, and (P14) is added to dW: the
two uses of W summed where the reader can see them. Altogether

    ∂R/∂a_nj = (2λ/B) q_j σ'_nj² (1 − 2 h_nj),
    ∂R/∂W_ij = Σ_n x_ni ∂R/∂a_nj + (2λ/B) W_ij Σ_n σ'_nj²,     ∂R/∂b_j = Σ_n ∂R/∂a_nj.

Cost: O(B H + D H) on top of the forward pass, against O(B D H) for building the
B×D×H Jacobian explicitly (:func:`contractive_explicit` does that, for teaching and
checking: it must agree with (P12) to rounding).

References: A. Ng, "Sparse autoencoder", CS294A lecture notes, 2011; A. Makhzani,
B. Frey, "k-Sparse autoencoders", ICLR 2014; S. Rifai, P. Vincent, X. Muller,
X. Glorot, Y. Bengio, "Contractive auto-encoders: explicit invariance during feature
extraction", ICML 2011.
"""
from __future__ import annotations

import numpy as np

__all__ = ["weight_decay", "weight_decay_grad", "l1_activity", "l1_activity_grad",
           "kl_sparsity", "kl_sparsity_grad", "kl_divergence_bernoulli", "clamp_rho_hat",
           "contractive", "contractive_grad", "sigmoid_encoder_jacobian",
           "contractive_explicit", "contractive_explicit_grad", "top_k_mask"]


# -- weight decay --------------------------------------------------------------------

def weight_decay(weights, lam):
    """(P1) for an iterable of weight matrices."""
    return 0.5 * lam * float(sum(np.sum(W * W) for W in weights))


def weight_decay_grad(W, lam):
    """(P2) for one weight matrix."""
    return lam * W


# -- L1 activity -----------------------------------------------------------------------

def l1_activity(h, lam):
    """(P3) λ (1/B) Σ_nj |h_nj| for a code h (B, H)."""
    return lam * float(np.sum(np.abs(h))) / h.shape[0]


def l1_activity_grad(h, lam):
    """∂R/∂h (B, H) of the L1 activity penalty (P3), taking the subgradient 0 at h = 0:

        (P4)  ∂R/∂h = (λ/B) sign(h)
    """
    B = h.shape[0]
    return (lam / B) * np.sign(h)                    # (P4) 1/B of the batch mean, once


# -- KL sparsity -----------------------------------------------------------------------

def kl_divergence_bernoulli(rho, rho_hat):
    """KL(ρ ‖ ρ̂) between Bernoulli(ρ) and Bernoulli(ρ̂), elementwise over ``rho_hat``."""
    return rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))


def clamp_rho_hat(rho_hat):
    """(P9) ρ̂ kept in [δ, 1 − δ], δ the machine epsilon of its dtype (identity inside)."""
    delta = np.finfo(rho_hat.dtype).eps
    return np.clip(rho_hat, delta, 1 - delta)


def kl_sparsity(h, rho, beta):
    """(P5)-(P9): β Σ_j KL(ρ ‖ ρ̂_j) for a sigmoid code h (B, H)."""
    rho_hat = clamp_rho_hat(h.mean(axis=0))          # (P5), (P9)  (H,)
    return beta * float(np.sum(kl_divergence_bernoulli(rho, rho_hat)))   # (P6)


def kl_sparsity_grad(h, rho, beta):
    """(P7)-(P8): ∂R/∂h (B, H), the same row for every example of the batch."""
    B = h.shape[0]
    rho_hat = clamp_rho_hat(h.mean(axis=0))          # (P5), (P9)  (H,)
    d_rho_hat = beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))   # (P7) (H,)
    return np.broadcast_to(d_rho_hat / B, h.shape).copy()             # (P8) 1/B once


# -- k-sparse ----------------------------------------------------------------------------

TOP_K_BY = ("value", "magnitude")


def top_k_mask(h, k, by="value"):
    """1 at the k largest entries of each row of h (B, H), 0 elsewhere; same dtype as h.

    ``by="value"`` (npae's default) ranks the signed values h_nj; ``by="magnitude"``
    ranks |h_nj|, as Makhzani & Frey's notes sort linear codes. They differ when a row
    has a large negative code: with h_n = (3, −5, 1) and k = 1, "value" keeps 3 and
    "magnitude" keeps −5. Either way z = h ⊙ S and ∂z/∂h = S away from ties, so the
    backward (autoencoder (B9)) is the same.

    Vectorized with ``np.argpartition`` (O(H) per row, no full sort). Among tied values
    at the k-th place NumPy keeps some k of them: still exactly k ones per row.
    """
    if by not in TOP_K_BY:
        raise ValueError(f"by must be one of {list(TOP_K_BY)}, got {by!r}")
    score = h if by == "value" else np.abs(h)        # what is ranked
    top = np.argpartition(-score, k - 1, axis=1)[:, :k]   # (B, k) indices of the k largest
    mask = np.zeros_like(h)
    np.put_along_axis(mask, top, 1.0, axis=1)
    return mask


# -- contractive -------------------------------------------------------------------------

def contractive(h, W, lam):
    """(P12) λ (1/B) Σ_n Σ_j (h_nj(1 − h_nj))² Σ_i W_ij²; h (B, H) = σ(xW + b), W (D, H)."""
    sig_prime = h * (1 - h)                          # (P10) σ'(a) through h  (B, H)
    q = np.einsum("ij,ij->j", W, W)                  # (P11) q_j = Σ_i W_ij²  (H,)
    return lam * float(np.sum((sig_prime * sig_prime) @ q)) / h.shape[0]   # (P12)


def contractive_grad(h, W, lam):
    """(P13)-(P14): ``(dh, dW_q)``, ∂R/∂h (B, H) with q fixed and ∂R/∂W|_h (D, H), the
    path through q with h held fixed.

    The caller carries ``dh`` down through the sigmoid into W and b, and adds ``dW_q``.
    """
    B = h.shape[0]
    sig_prime = h * (1 - h)                          # (P10) σ' (B, H)
    q = np.einsum("ij,ij->j", W, W)                  # (P11) (H,)
    c = 2.0 * lam / B                                # 1/B of the batch mean, once
    dh = (c * q) * sig_prime * (1 - 2 * h)           # (P13) ∂(σ'²)/∂h = 2 σ' (1 − 2h)  (B, H)
    dW_q = W * (c * np.sum(sig_prime * sig_prime, axis=0))   # (P14) ∂q_j/∂W_ij = 2 W_ij  (D, H)
    return dh, dW_q


def sigmoid_encoder_jacobian(h, W):
    """(P10) the explicit Jacobian J[n, i, j] = ∂h_nj/∂x_ni = σ'_nj W_ij, (B, D, H).

    Each J[n] is D × H, the transpose of Rifai et al.'s H × D ∂h/∂x (same Frobenius
    norm). Slow (B·D·H numbers) and only for teaching and checking the closed form.
    """
    sig_prime = h * (1 - h)                          # (B, H)
    return np.einsum("ij,nj->nij", W, sig_prime)     # (B, D, H)


def contractive_explicit(h, W, lam):
    """(P12) computed the slow way: λ (1/B) Σ_n ‖J_n‖_F² from the explicit (B, D, H) Jacobian."""
    J = sigmoid_encoder_jacobian(h, W)               # (B, D, H)
    return lam * float(np.sum(J * J)) / h.shape[0]


def contractive_explicit_grad(h, W, lam):
    """(P13)-(P14) by the chain rule through the explicit Jacobian J_nij = σ'_nj W_ij.

    With G = ∂R/∂J = (2λ/B) J:  ∂R/∂W_ij|_h = Σ_n G_nij σ'_nj,  ∂R/∂σ'_nj = Σ_i G_nij W_ij,
    ∂R/∂h = ∂R/∂σ' ⊙ (1 − 2h). Returns ``(dh, dW_q)`` like :func:`contractive_grad`.
    """
    B = h.shape[0]
    sig_prime = h * (1 - h)                          # (B, H)
    J = np.einsum("ij,nj->nij", W, sig_prime)        # (P10) (B, D, H)
    G = (2.0 * lam / B) * J                          # ∂R/∂J, 1/B once  (B, D, H)
    dW_q = np.einsum("nij,nj->ij", G, sig_prime)     # (P14) (D, H)
    d_sig_prime = np.einsum("nij,ij->nj", G, W)      # (B, H)
    return d_sig_prime * (1 - 2 * h), dW_q           # (P13)
