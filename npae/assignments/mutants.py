"""Known mistakes ("mutants") of each exercise, each with a hint naming the equation.

A mutant is the exercise's function with one error planted, written as it would sit in
the exercise's own module (the names it uses exist there too). The build grades every
mutant of every exercise of the assignment and fails if one scores full marks; the
grader shows a mutant's hint when a submission returns what that mutant returns.

Teacher side only: a mutant is the answer with one error, so this module is never
copied into a student build.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..gmm import _log_gaussian
from ..layers import dense_backward, logsumexp, sigmoid
from ..network import accumulate
from ..penalties import clamp_rho_hat


@dataclass(frozen=True)
class Mutant:
    exercise: str
    fn: Callable
    hint: str

    @property
    def label(self):
        return self.fn.__name__


MUTANTS: dict = {}


def mutant(exercise, hint):
    """Register the decorated function as a known mistake of ``exercise``."""
    def register(fn):
        MUTANTS.setdefault(exercise, []).append(Mutant(exercise, fn, hint))
        return fn
    return register


def mutants_of(exercise):
    return list(MUTANTS.get(exercise, []))


# -- layers ------------------------------------------------------------------------------

@mutant("npae.layers:dense_backward", "(B2): ∂L/∂b sums dA over the batch rows; the 1/B "
        "is already inside dA")
def dense_db_mean(dA, X, W, need_dX=True):
    dW = X.T @ dA
    db = dA.mean(axis=0)
    dX = dA @ W.T if need_dX else None
    return dX, dW, db


@mutant("npae.layers:dense_backward", "(B1): ∂L/∂W = Xᵀ dA has the shape of W, (n_in, n_out)")
def dense_dW_transposed(dA, X, W, need_dX=True):
    dW = dA.T @ X
    db = dA.sum(axis=0)
    dX = dA @ W.T if need_dX else None
    return dX, dW, db


@mutant("npae.layers:dense_backward", "(B3): ∂L/∂X = dA Wᵀ (X is multiplied by W, so its "
        "gradient goes back through Wᵀ)")
def dense_dX_zero(dA, X, W, need_dX=True):
    return np.zeros_like(X), X.T @ dA, dA.sum(axis=0)


@mutant("npae.layers:Sigmoid.backward", "σ'(a) = h (1 − h): a factor is missing")
def sigmoid_no_one_minus(dh, a, h, out=None):
    return np.multiply(dh, h, out=out)


@mutant("npae.layers:Sigmoid.backward", "σ'(a) = h (1 − h) is written through h = σ(a), "
        "not through a")
def sigmoid_through_a(dh, a, h, out=None):
    return np.multiply(dh * a, 1 - a, out=out)


@mutant("npae.layers:Tanh.backward", "tanh'(a) = 1 − h²: the square is missing")
def tanh_no_square(dh, a, h, out=None):
    return np.multiply(dh, 1 - h, out=out)


@mutant("npae.layers:Tanh.backward", "tanh'(a) = 1 − h² with h = tanh(a), not 1 − a²")
def tanh_through_a(dh, a, h, out=None):
    return np.multiply(dh, 1 - a * a, out=out)


@mutant("npae.layers:Softplus.backward", "softplus'(a) = σ(a), the sigmoid of the "
        "pre-activation, not the softplus output h")
def softplus_uses_h(dh, a, h, out=None):
    return np.multiply(dh, h, out=out)


@mutant("npae.layers:Softplus.backward", "softplus'(a) = σ(a) = 1/(1 + e^{−a}): the sign "
        "of a is flipped")
def softplus_sigmoid_minus_a(dh, a, h, out=None):
    return np.multiply(dh, sigmoid(-a), out=out)


@mutant("npae.layers:sigmoid", "1/(1 + e^{−a}) overflows for a ≪ 0: use e^{−|a|} on both "
        "branches")
def sigmoid_naive(a, out=None):
    return np.divide(1.0, 1.0 + np.exp(-a), out=out)


@mutant("npae.layers:sigmoid", "for a < 0, σ(a) = e^{a}/(1 + e^{a}) = e^{−|a|}/(1 + e^{−|a|}); "
        "for a ≥ 0 it is 1/(1 + e^{−|a|})")
def sigmoid_one_branch(a, out=None):
    e = np.exp(-np.abs(a))
    return np.divide(e, 1.0 + e, out=out)


@mutant("npae.layers:logsumexp", "subtract the maximum before exp, or exp(1000) overflows")
def logsumexp_naive(a, axis=-1):
    return np.log(np.sum(np.exp(a), axis=axis))


@mutant("npae.layers:logsumexp", "a slice of −inf: its max is −inf, and −inf − (−inf) is "
        "NaN; the sum of exp is 0 and its log −inf")
def logsumexp_no_inf_guard(a, axis=-1):
    a = np.asarray(a)
    m = np.max(a, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return np.squeeze(out, axis=axis)


# -- losses ------------------------------------------------------------------------------

@mutant("npae.losses:GaussianLoss.grad", "losses (B1): ℒ is a batch mean, so ∂ℒ/∂A carries 1/B")
def gaussian_no_batch_mean(A, X):
    return A - X


@mutant("npae.losses:GaussianLoss.grad", "losses (B1): ∂ℒ/∂A = (A − X)/B: the sign is flipped")
def gaussian_sign(A, X):
    return (X - A) / A.shape[0]


@mutant("npae.losses:BernoulliLoss.grad", "losses (B3): softplus'(a) = σ(a), so the gradient "
        "is (σ(A) − X)/B, not (A − X)/B")
def bernoulli_logits(A, X):
    return (A - X) / A.shape[0]


@mutant("npae.losses:BernoulliLoss.grad", "losses (B3): ℒ is a batch mean, so ∂ℒ/∂A carries 1/B")
def bernoulli_no_batch_mean(A, X):
    return sigmoid(A) - X


# -- penalties ---------------------------------------------------------------------------

@mutant("npae.penalties:weight_decay_grad", "(P2): the ½ of (P1) cancels the 2 of ∂‖W‖²/∂W")
def wd_half(W, lam):
    return 0.5 * lam * W


@mutant("npae.penalties:weight_decay_grad", "(P2): R is multiplied by λ")
def wd_no_lambda(W, lam):
    return W


@mutant("npae.penalties:l1_activity_grad", "(P4): the penalty is a batch mean, so its "
        "gradient carries 1/B")
def l1_no_batch_mean(h, lam):
    return lam * np.sign(h)


@mutant("npae.penalties:l1_activity_grad", "(P4): at h = 0 npae takes the subgradient 0, "
        "sign(0) = 0")
def l1_sign_zero_is_one(h, lam):
    B = h.shape[0]
    return (lam / B) * np.where(h >= 0, 1.0, -1.0)


@mutant("npae.penalties:l1_activity_grad", "(P4): d|h|/dh = sign(h), not |h|")
def l1_abs(h, lam):
    return (lam / h.shape[0]) * np.abs(h)


@mutant("npae.penalties:kl_sparsity_grad", "(P8): ∂ρ̂_j/∂h_nj = 1/B — the 1/B of the "
        "batch mean ρ̂ is missing")
def kl_no_batch_mean(h, rho, beta):
    rho_hat = clamp_rho_hat(h.mean(axis=0))
    d_rho_hat = beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))
    return np.broadcast_to(d_rho_hat, h.shape).copy()


@mutant("npae.penalties:kl_sparsity_grad", "(P7): d/dρ̂ [ρ log(ρ/ρ̂)] = −ρ/ρ̂ and "
        "d/dρ̂ [(1−ρ) log((1−ρ)/(1−ρ̂))] = +(1−ρ)/(1−ρ̂): a sign is flipped")
def kl_sign(h, rho, beta):
    rho_hat = clamp_rho_hat(h.mean(axis=0))
    d_rho_hat = beta * (rho / rho_hat - (1 - rho) / (1 - rho_hat))
    return np.broadcast_to(d_rho_hat / h.shape[0], h.shape).copy()


@mutant("npae.penalties:kl_sparsity_grad", "(P5): ρ̂_j is the mean of unit j over the "
        "batch, not each example's own h_nj")
def kl_per_example(h, rho, beta):
    rho_hat = clamp_rho_hat(h)
    return beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat)) / h.shape[0]


@mutant("npae.penalties:kl_sparsity_grad", "(P7): the KL has two terms; the derivative of "
        "(1−ρ) log((1−ρ)/(1−ρ̂)) is missing")
def kl_term_dropped(h, rho, beta):
    rho_hat = clamp_rho_hat(h.mean(axis=0))
    return np.broadcast_to(beta * (-rho / rho_hat) / h.shape[0], h.shape).copy()


@mutant("npae.penalties:kl_sparsity_grad", "(P6)-(P7): R is multiplied by β")
def kl_no_beta(h, rho, beta):
    rho_hat = clamp_rho_hat(h.mean(axis=0))
    d_rho_hat = -rho / rho_hat + (1 - rho) / (1 - rho_hat)
    return np.broadcast_to(d_rho_hat / h.shape[0], h.shape).copy()


@mutant("npae.penalties:kl_sparsity_grad", "(P9): clamp ρ̂ to [δ, 1 − δ] before dividing: "
        "a unit saturated on the whole batch gives inf")
def kl_no_clamp(h, rho, beta):
    with np.errstate(divide="ignore", invalid="ignore"):
        rho_hat = h.mean(axis=0)
        d_rho_hat = beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))
    return np.broadcast_to(d_rho_hat / h.shape[0], h.shape).copy()


@mutant("npae.penalties:contractive_grad", "(P13): ∂(σ'²)/∂h = 2σ' ∂σ'/∂h with "
        "∂σ'/∂h = ∂[h(1 − h)]/∂h = 1 − 2h")
def cae_no_one_minus_2h(h, W, lam):
    s = h * (1 - h)
    c = 2.0 * lam / h.shape[0]
    q = np.einsum("ij,ij->j", W, W)
    return (c * q) * s, W * (c * np.sum(s * s, axis=0))


@mutant("npae.penalties:contractive_grad", "(P14): ∂q_j/∂W_ij = 2 W_ij (q_j = Σ_i W_ij²)")
def cae_dW_no_two(h, W, lam):
    s = h * (1 - h)
    c = 2.0 * lam / h.shape[0]
    q = np.einsum("ij,ij->j", W, W)
    return (c * q) * s * (1 - 2 * h), W * (0.5 * c * np.sum(s * s, axis=0))


@mutant("npae.penalties:contractive_grad", "(P12)-(P14): R is a batch mean, so both paths "
        "carry 1/B")
def cae_no_batch_mean(h, W, lam):
    s = h * (1 - h)
    c = 2.0 * lam
    q = np.einsum("ij,ij->j", W, W)
    return (c * q) * s * (1 - 2 * h), W * (c * np.sum(s * s, axis=0))


@mutant("npae.penalties:contractive_grad", "(P14): the path through q is Σ_n σ'_nj², "
        "the square of σ'")
def cae_dW_unsquared(h, W, lam):
    s = h * (1 - h)
    c = 2.0 * lam / h.shape[0]
    q = np.einsum("ij,ij->j", W, W)
    return (c * q) * s * (1 - 2 * h), W * (c * np.sum(s, axis=0))


# -- noise -------------------------------------------------------------------------------

@mutant("npae.noise:GaussianNoise.backward", "(D2): ∂x̃/∂x = 1; s multiplies ε, not x")
def gaussian_noise_scaled(self, dX_tilde):
    return dX_tilde * self.scale


@mutant("npae.noise:MaskingNoise.backward", "(D4): a dropped entry does not depend on x: "
        "multiply by the mask")
def masking_no_mask(self, dX_tilde):
    return dX_tilde


@mutant("npae.noise:MaskingNoise.backward", "(D4): the kept entries are where m = 1")
def masking_inverted(self, dX_tilde):
    return dX_tilde * (1 - self.mask)


@mutant("npae.noise:SaltAndPepperNoise.backward", "(D6): the replaced entries (r = 1) do "
        "not depend on x; the kept ones pass the gradient")
def salt_inverted(self, dX_tilde):
    return dX_tilde * self.replaced


@mutant("npae.noise:SaltAndPepperNoise.backward", "(D6): a replaced entry is a constant, "
        "so its gradient is 0")
def salt_passes_all(self, dX_tilde):
    return dX_tilde


# -- network -----------------------------------------------------------------------------

@mutant("npae.network:backprop_layers", "network (B2) and the docstring: a tied W is used "
        "by two layers, so both contributions are added (accumulate), not overwritten")
def backprop_overwrites(params, layers, caches, dH, grads, need_dX=True):
    for i in range(len(layers) - 1, -1, -1):
        layer, cache = layers[i], caches[i]
        act = layer.activation
        dA = act.backward(dH, cache.pre, cache.out) if act else dH
        W = params[layer.W].T if layer.transposed else params[layer.W]
        dH, dW, db = dense_backward(dA, cache.inp, W, need_dX or i > 0)
        grads[layer.W] = dW.T if layer.transposed else dW
        grads[layer.b] = db
    return dH


@mutant("npae.network:backprop_layers", "network (B2): a layer that uses Wᵀ contributes "
        "dW_lᵀ to W's gradient")
def backprop_no_transpose(params, layers, caches, dH, grads, need_dX=True):
    for i in range(len(layers) - 1, -1, -1):
        layer, cache = layers[i], caches[i]
        act = layer.activation
        dA = act.backward(dH, cache.pre, cache.out) if act else dH
        W = params[layer.W].T if layer.transposed else params[layer.W]
        dH, dW, db = dense_backward(dA, cache.inp, W, need_dX or i > 0)
        accumulate(grads, layer.W, dW)
        grads[layer.b] = db
    return dH


# -- VAE ---------------------------------------------------------------------------------

@mutant("npae.models.vae:reparameterize_backward", "vae (E8): ∂z/∂log σ² = ½ std ⊙ ε with "
        "std = exp(½ log σ²), the standard deviation — not the variance std²")
def reparam_variance(dz, std, eps):
    return dz, dz * 0.5 * std * std * eps


@mutant("npae.models.vae:reparameterize_backward", "vae (E8): std = exp(½ log σ²), so "
        "d std/d log σ² brings a factor ½")
def reparam_no_half(dz, std, eps):
    return dz, dz * std * eps


@mutant("npae.models.vae:reparameterize_backward", "vae (E8): the chain rule through "
        "std = exp(½ log σ²) gives d std/d log σ² = ½ std: std is missing")
def reparam_no_std(dz, std, eps):
    return dz, dz * 0.5 * eps


@mutant("npae.models.vae:reparameterize_backward", "vae (E7): ∂z/∂μ = 1, so dμ = dz")
def reparam_dmu_scaled(dz, std, eps):
    return dz * std, dz * 0.5 * std * eps


@mutant("npae.models.vae:gaussian_kl_grad", "vae (E6): ∂σ²/∂log σ² = σ² = exp(log σ²), the "
        "variance")
def kl_grad_std(mu, logvar):
    return mu, 0.5 * (np.exp(0.5 * logvar) - 1.0)


@mutant("npae.models.vae:gaussian_kl_grad", "vae (E6): KL_n = −½ Σ (…): the ½ is missing")
def kl_grad_no_half(mu, logvar):
    return mu, np.exp(logvar) - 1.0


@mutant("npae.models.vae:gaussian_kl_grad", "vae (E5)-(E6): this is KL_n itself, no batch "
        "mean 1/B (the model applies β_t/B)")
def kl_grad_batch_mean(mu, logvar):
    B = mu.shape[0]
    return mu / B, 0.5 * (np.exp(logvar) - 1.0) / B


@mutant("npae.models.vae:gaussian_kl_grad", "vae (E5): ∂(μ²)/∂μ = 2μ, times −½ · (−1)")
def kl_grad_dmu_sign(mu, logvar):
    return -mu, 0.5 * (np.exp(logvar) - 1.0)


@mutant("npae.models.vae:kl_divergence", "vae (E4): σ² = exp(log σ²), the variance")
def kl_div_std(mu, logvar):
    return -0.5 * np.sum(1.0 + logvar - mu * mu - np.exp(0.5 * logvar), axis=-1)


@mutant("npae.models.vae:kl_divergence", "vae (E4): −½ Σ_j (1 + log σ² − μ² − σ²): the ½ "
        "is missing")
def kl_div_no_half(mu, logvar):
    return -np.sum(1.0 + logvar - mu * mu - np.exp(logvar), axis=-1)


@mutant("npae.models.vae:kl_divergence", "vae (E4): the sum runs over the latent units j "
        "of each row, one KL per example")
def kl_div_wrong_axis(mu, logvar):
    return -0.5 * np.sum(1.0 + logvar - mu * mu - np.exp(logvar), axis=0)


# -- Gaussian mixture --------------------------------------------------------------------

@mutant("npae.gmm:GaussianMixture._e_step", "gmm (L1): log Σ_k exp(…) underflows far from "
        "every component; use logsumexp (the largest term subtracted)")
def e_step_naive(self, X, weights, means, chol):
    log_joint = np.log(weights) + _log_gaussian(X, means, chol, self.covariance_type)
    with np.errstate(divide="ignore"):
        log_px = np.log(np.sum(np.exp(log_joint), axis=1))
    return log_joint - log_px[:, None], float(np.mean(log_px))


@mutant("npae.gmm:GaussianMixture._e_step", "gmm (E1): the joint is log π_k + log N(x_n | μ_k, "
        "Σ_k): the mixing weights are missing")
def e_step_no_weights(self, X, weights, means, chol):
    log_joint = _log_gaussian(X, means, chol, self.covariance_type)
    log_px = logsumexp(log_joint, axis=1)
    return log_joint - log_px[:, None], float(np.mean(log_px))


@mutant("npae.gmm:GaussianMixture._e_step", "gmm (E1): γ_nk normalizes over the components "
        "k of each sample, not over the samples")
def e_step_wrong_axis(self, X, weights, means, chol):
    log_joint = np.log(weights) + _log_gaussian(X, means, chol, self.covariance_type)
    log_px = logsumexp(log_joint, axis=0)
    return log_joint - log_px[None, :], float(np.mean(logsumexp(log_joint, axis=1)))
