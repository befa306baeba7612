"""Known mistakes ("mutants") of each exercise, each with a hint naming the equation.

A hint names the equation and the kind of mistake (a sign, a missing factor, the
variance for the standard deviation), never the formula: ``npae check`` shows it to a
student whose answer returns what the mutant returns, so a hint that stated the
equation could be fished for by submitting the mistake on purpose. A test checks that
no hint contains a formula that the build redacts (normalized, :mod:`.leaks`).

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

from ..conv import (_check_output_padding, _columns, _im2col, _pad, conv2d_forward,
                    maxpool2d_forward)
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

@mutant("npae.layers:dense_backward", "(B2): the bias gradient is divided by the batch size "
        "once too often (the batch mean is already inside dA)")
def dense_db_mean(dA, X, W, need_dX=True):
    dW = X.T @ dA
    db = dA.mean(axis=0)
    dX = dA @ W.T if need_dX else None
    return dX, dW, db


@mutant("npae.layers:dense_backward", "(B1): ∂L/∂W has the shape of W, (n_in, n_out): the "
        "product is transposed")
def dense_dW_transposed(dA, X, W, need_dX=True):
    dW = dA.T @ X
    db = dA.sum(axis=0)
    dX = dA @ W.T if need_dX else None
    return dX, dW, db


@mutant("npae.layers:dense_backward", "(B3): X is multiplied by W, so a gradient does reach X "
        "(back through the weights)")
def dense_dX_zero(dA, X, W, need_dX=True):
    return np.zeros_like(X), X.T @ dA, dA.sum(axis=0)


@mutant("npae.layers:Sigmoid.backward", "σ'(a): a factor is missing (differentiate σ and write "
        "the result through h)")
def sigmoid_no_one_minus(dh, a, h, out=None):
    return np.multiply(dh, h, out=out)


@mutant("npae.layers:Sigmoid.backward", "σ'(a) is written through the output h = σ(a), not "
        "through the pre-activation a")
def sigmoid_through_a(dh, a, h, out=None):
    return np.multiply(dh * a, 1 - a, out=out)


@mutant("npae.layers:Tanh.backward", "tanh'(a): a power is missing")
def tanh_no_square(dh, a, h, out=None):
    return np.multiply(dh, 1 - h, out=out)


@mutant("npae.layers:Tanh.backward", "tanh'(a) is written through the output h = tanh(a), not "
        "through the pre-activation a")
def tanh_through_a(dh, a, h, out=None):
    return np.multiply(dh, 1 - a * a, out=out)


@mutant("npae.layers:Softplus.backward", "softplus'(a) is not the softplus output h: "
        "differentiate log(1 + e^a) in a")
def softplus_uses_h(dh, a, h, out=None):
    return np.multiply(dh, h, out=out)


@mutant("npae.layers:Softplus.backward", "softplus'(a): the sign of a is flipped")
def softplus_sigmoid_minus_a(dh, a, h, out=None):
    return np.multiply(dh, sigmoid(-a), out=out)


@mutant("npae.layers:sigmoid", "σ(a): e^{−a} overflows for a ≪ 0; write it so that no "
        "exponent is ever positive")
def sigmoid_naive(a, out=None):
    return np.divide(1.0, 1.0 + np.exp(-a), out=out)


@mutant("npae.layers:sigmoid", "σ(a): one formula is used for both signs of a; a ≥ 0 and "
        "a < 0 each need their own stable form")
def sigmoid_one_branch(a, out=None):
    e = np.exp(-np.abs(a))
    return np.divide(e, 1.0 + e, out=out)


@mutant("npae.layers:logsumexp", "exp(1000) overflows: shift a before exponentiating")
def logsumexp_naive(a, axis=-1):
    return np.log(np.sum(np.exp(a), axis=axis))


@mutant("npae.layers:logsumexp", "a slice that is all −inf gives NaN (−inf − (−inf)); the "
        "answer there is −inf")
def logsumexp_no_inf_guard(a, axis=-1):
    a = np.asarray(a)
    m = np.max(a, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return np.squeeze(out, axis=axis)


# -- losses ------------------------------------------------------------------------------

@mutant("npae.losses:GaussianLoss.grad", "losses (B1): ℒ is a mean over the batch: the "
        "batch-size factor is missing")
def gaussian_no_batch_mean(A, X):
    return A - X


@mutant("npae.losses:GaussianLoss.grad", "losses (B1): the sign is flipped")
def gaussian_sign(A, X):
    return (X - A) / A.shape[0]


@mutant("npae.losses:BernoulliLoss.grad", "losses (B3): the gradient goes through the mean x̂ = "
        "σ(A), not through the logits A")
def bernoulli_logits(A, X):
    return (A - X) / A.shape[0]


@mutant("npae.losses:BernoulliLoss.grad", "losses (B3): ℒ is a mean over the batch: the "
        "batch-size factor is missing")
def bernoulli_no_batch_mean(A, X):
    return sigmoid(A) - X


# -- penalties ---------------------------------------------------------------------------

@mutant("npae.penalties:weight_decay_grad", "(P2): a factor ½ too many (differentiate the ½ of "
        "(P1) together with the square)")
def wd_half(W, lam):
    return 0.5 * lam * W


@mutant("npae.penalties:weight_decay_grad", "(P2): the weight λ is missing")
def wd_no_lambda(W, lam):
    return W


@mutant("npae.penalties:l1_activity_grad", "(P4): the penalty is a mean over the batch: the "
        "batch-size factor is missing")
def l1_no_batch_mean(h, lam):
    return lam * np.sign(h)


@mutant("npae.penalties:l1_activity_grad", "(P4): at h = 0 npae takes the subgradient 0 (see "
        "the module docstring)")
def l1_sign_zero_is_one(h, lam):
    B = h.shape[0]
    return (lam / B) * np.where(h >= 0, 1.0, -1.0)


@mutant("npae.penalties:l1_activity_grad", "(P4): the derivative of |h| is not |h|")
def l1_abs(h, lam):
    return (lam / h.shape[0]) * np.abs(h)


@mutant("npae.penalties:kl_sparsity_grad", "(P8): ρ̂ is a mean over the batch: the batch-size "
        "factor of ∂ρ̂_j/∂h_nj is missing")
def kl_no_batch_mean(h, rho, beta):
    rho_hat = clamp_rho_hat(h.mean(axis=0))
    d_rho_hat = beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))
    return np.broadcast_to(d_rho_hat, h.shape).copy()


@mutant("npae.penalties:kl_sparsity_grad", "(P7): a sign is flipped (differentiate each of the "
        "two terms of the KL in ρ̂)")
def kl_sign(h, rho, beta):
    rho_hat = clamp_rho_hat(h.mean(axis=0))
    d_rho_hat = beta * (rho / rho_hat - (1 - rho) / (1 - rho_hat))
    return np.broadcast_to(d_rho_hat / h.shape[0], h.shape).copy()


@mutant("npae.penalties:kl_sparsity_grad", "(P5): ρ̂_j is the mean of unit j over the batch, "
        "not each example's own h_nj")
def kl_per_example(h, rho, beta):
    rho_hat = clamp_rho_hat(h)
    return beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat)) / h.shape[0]


@mutant("npae.penalties:kl_sparsity_grad", "(P7): the KL of (P6) has two terms; the derivative "
        "of the second is missing")
def kl_term_dropped(h, rho, beta):
    rho_hat = clamp_rho_hat(h.mean(axis=0))
    return np.broadcast_to(beta * (-rho / rho_hat) / h.shape[0], h.shape).copy()


@mutant("npae.penalties:kl_sparsity_grad", "(P6)-(P7): the weight β is missing")
def kl_no_beta(h, rho, beta):
    rho_hat = clamp_rho_hat(h.mean(axis=0))
    d_rho_hat = -rho / rho_hat + (1 - rho) / (1 - rho_hat)
    return np.broadcast_to(d_rho_hat / h.shape[0], h.shape).copy()


@mutant("npae.penalties:kl_sparsity_grad", "(P9): clamp ρ̂ as (P9) says before dividing: a unit "
        "saturated on the whole batch gives inf")
def kl_no_clamp(h, rho, beta):
    with np.errstate(divide="ignore", invalid="ignore"):
        rho_hat = h.mean(axis=0)
        d_rho_hat = beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))
    return np.broadcast_to(d_rho_hat / h.shape[0], h.shape).copy()


@mutant("npae.penalties:contractive_grad", "(P13): the chain rule through σ' = h(1 − h) is cut "
        "short: the factor ∂σ'/∂h is missing")
def cae_no_one_minus_2h(h, W, lam):
    s = h * (1 - h)
    c = 2.0 * lam / h.shape[0]
    q = np.einsum("ij,ij->j", W, W)
    return (c * q) * s, W * (c * np.sum(s * s, axis=0))


@mutant("npae.penalties:contractive_grad", "(P14): a constant factor of ∂q_j/∂W_ij is missing")
def cae_dW_no_two(h, W, lam):
    s = h * (1 - h)
    c = 2.0 * lam / h.shape[0]
    q = np.einsum("ij,ij->j", W, W)
    return (c * q) * s * (1 - 2 * h), W * (0.5 * c * np.sum(s * s, axis=0))


@mutant("npae.penalties:contractive_grad", "(P12)-(P14): R is a mean over the batch: the "
        "batch-size factor is missing on both paths")
def cae_no_batch_mean(h, W, lam):
    s = h * (1 - h)
    c = 2.0 * lam
    q = np.einsum("ij,ij->j", W, W)
    return (c * q) * s * (1 - 2 * h), W * (c * np.sum(s * s, axis=0))


@mutant("npae.penalties:contractive_grad", "(P14): σ' enters R squared (P12), and is not "
        "squared on the path through q")
def cae_dW_unsquared(h, W, lam):
    s = h * (1 - h)
    c = 2.0 * lam / h.shape[0]
    q = np.einsum("ij,ij->j", W, W)
    return (c * q) * s * (1 - 2 * h), W * (c * np.sum(s, axis=0))


# -- noise -------------------------------------------------------------------------------

@mutant("npae.noise:GaussianNoise.backward", "(D2): s multiplies ε, not x: the gradient is not "
        "scaled by s")
def gaussian_noise_scaled(self, dX_tilde):
    return dX_tilde * self.scale


@mutant("npae.noise:MaskingNoise.backward", "(D4): a dropped entry does not depend on x, yet "
        "the gradient reaches it")
def masking_no_mask(self, dX_tilde):
    return dX_tilde


@mutant("npae.noise:MaskingNoise.backward", "(D4): kept and dropped entries are swapped (the "
        "kept ones are where m = 1)")
def masking_inverted(self, dX_tilde):
    return dX_tilde * (1 - self.mask)


@mutant("npae.noise:SaltAndPepperNoise.backward", "(D6): kept and replaced entries are swapped "
        "(the replaced ones are where r = 1)")
def salt_inverted(self, dX_tilde):
    return dX_tilde * self.replaced


@mutant("npae.noise:SaltAndPepperNoise.backward", "(D6): a replaced entry is a constant, yet "
        "the gradient reaches x there")
def salt_passes_all(self, dX_tilde):
    return dX_tilde


# -- network -----------------------------------------------------------------------------

@mutant("npae.network:backprop_layers", "network (B2): a tied W is used by two layers: one "
        "contribution overwrites the other instead of adding to it (accumulate)")
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


@mutant("npae.network:backprop_layers", "network (B2): a layer that uses Wᵀ: its contribution "
        "is not transposed back to W's shape")
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

@mutant("npae.models.vae:reparameterize_backward", "vae (E8): the variance std² is used where "
        "the standard deviation std belongs")
def reparam_variance(dz, std, eps):
    return dz, dz * 0.5 * std * std * eps


@mutant("npae.models.vae:reparameterize_backward", "vae (E8): a constant factor of d std/d log "
        "σ² is missing")
def reparam_no_half(dz, std, eps):
    return dz, dz * std * eps


@mutant("npae.models.vae:reparameterize_backward", "vae (E8): the chain rule through std = "
        "exp(½ log σ²) is cut short: a factor is missing")
def reparam_no_std(dz, std, eps):
    return dz, dz * 0.5 * eps


@mutant("npae.models.vae:reparameterize_backward", "vae (E7): dμ is scaled by something z does "
        "not multiply μ by (see (F6))")
def reparam_dmu_scaled(dz, std, eps):
    return dz * std, dz * 0.5 * std * eps


@mutant("npae.models.vae:gaussian_kl_grad", "vae (E6): the standard deviation is used where the "
        "variance σ² belongs")
def kl_grad_std(mu, logvar):
    return mu, 0.5 * (np.exp(0.5 * logvar) - 1.0)


@mutant("npae.models.vae:gaussian_kl_grad", "vae (E6): the constant factor of (E4) is missing")
def kl_grad_no_half(mu, logvar):
    return mu, np.exp(logvar) - 1.0


@mutant("npae.models.vae:gaussian_kl_grad", "vae (E5)-(E6): divided by the batch size: this is "
        "the gradient of KL_n itself (the model applies β_t/B)")
def kl_grad_batch_mean(mu, logvar):
    B = mu.shape[0]
    return mu / B, 0.5 * (np.exp(logvar) - 1.0) / B


@mutant("npae.models.vae:gaussian_kl_grad", "vae (E5): the sign of dμ is flipped")
def kl_grad_dmu_sign(mu, logvar):
    return -mu, 0.5 * (np.exp(logvar) - 1.0)


@mutant("npae.models.vae:kl_divergence", "vae (E4): the standard deviation is used where the "
        "variance σ² belongs")
def kl_div_std(mu, logvar):
    return -0.5 * np.sum(1.0 + logvar - mu * mu - np.exp(0.5 * logvar), axis=-1)


@mutant("npae.models.vae:kl_divergence", "vae (E4): the constant factor is missing")
def kl_div_no_half(mu, logvar):
    return -np.sum(1.0 + logvar - mu * mu - np.exp(logvar), axis=-1)


@mutant("npae.models.vae:kl_divergence", "vae (E4): the sum runs over the latent units j of "
        "each row, one KL per example")
def kl_div_wrong_axis(mu, logvar):
    return -0.5 * np.sum(1.0 + logvar - mu * mu - np.exp(logvar), axis=0)


# -- Gaussian mixture --------------------------------------------------------------------

@mutant("npae.gmm:GaussianMixture._e_step", "gmm (L1): the sum of exponentials underflows far "
        "from every component (npae.layers.logsumexp does not)")
def e_step_naive(self, X, weights, means, chol):
    log_joint = np.log(weights) + _log_gaussian(X, means, chol, self.covariance_type)
    with np.errstate(divide="ignore"):
        log_px = np.log(np.sum(np.exp(log_joint), axis=1))
    return log_joint - log_px[:, None], float(np.mean(log_px))


@mutant("npae.gmm:GaussianMixture._e_step", "gmm (E1): the mixing weights are missing")
def e_step_no_weights(self, X, weights, means, chol):
    log_joint = _log_gaussian(X, means, chol, self.covariance_type)
    log_px = logsumexp(log_joint, axis=1)
    return log_joint - log_px[:, None], float(np.mean(log_px))


@mutant("npae.gmm:GaussianMixture._e_step", "gmm (E1): γ_nk normalizes over the components k of "
        "each sample, not over the samples")
def e_step_wrong_axis(self, X, weights, means, chol):
    log_joint = np.log(weights) + _log_gaussian(X, means, chol, self.covariance_type)
    log_px = logsumexp(log_joint, axis=0)
    return log_joint - log_px[None, :], float(np.mean(logsumexp(log_joint, axis=1)))


# -- convolutional: pooling and upsampling ------------------------------------------------

def _blocks(dA, k):
    """dA (B, C, Ho, Wo) copied onto every entry of its k × k block."""
    return np.repeat(np.repeat(dA, k, axis=2), k, axis=3)


def _pool_shape(dX_blocks, X):
    dX = np.zeros(X.shape, dtype=dX_blocks.dtype)
    h, w = min(X.shape[2], dX_blocks.shape[2]), min(X.shape[3], dX_blocks.shape[3])
    dX[:, :, :h, :w] = dX_blocks[:, :, :h, :w]
    return dX


@mutant("npae.conv:maxpool2d_backward", "conv (M3): the gradient goes to the block's maximum "
        "only, not to every entry of the block")
def pool_every_entry(dA, X, size=2, padding="valid"):
    return _pool_shape(_blocks(dA, size), X)


@mutant("npae.conv:maxpool2d_backward", "conv (M3): the gradient goes to where the maximum "
        "is, which moves from block to block, not to a fixed entry")
def pool_fixed_entry(dA, X, size=2, padding="valid"):
    k = size
    blocks = np.zeros(dA.shape[:2] + (dA.shape[2] * k, dA.shape[3] * k), dtype=dA.dtype)
    blocks[:, :, ::k, ::k] = dA
    return _pool_shape(blocks, X)


@mutant("npae.conv:maxpool2d_backward", "conv (M3): max pooling is not an average: the "
        "gradient is not shared out over the block")
def pool_mean(dA, X, size=2, padding="valid"):
    return _pool_shape(_blocks(dA, size) / size ** 2, X)


@mutant("npae.conv:maxpool2d_backward", "conv (M3): at a tie one entry gets the gradient "
        "(the first maximum in row-major order), not every tied one")
def pool_every_tie(dA, X, size=2, padding="valid"):
    A = maxpool2d_forward(X, size, padding)
    k = size
    Xp = np.full(X.shape[:2] + (A.shape[2] * k, A.shape[3] * k), -np.inf)
    h, w = min(X.shape[2], Xp.shape[2]), min(X.shape[3], Xp.shape[3])
    Xp[:, :, :h, :w] = X[:, :, :h, :w]
    return _pool_shape(_blocks(dA, k) * (Xp == _blocks(A, k)), X)


@mutant("npae.conv:upsample2d_backward", "conv (U2): each input pixel was copied to k² "
        "outputs, and a copy's gradients add up: not an average")
def upsample_mean(dA, size=2):
    B, C, H, W = dA.shape
    return dA.reshape(B, C, H // size, size, W // size, size).mean(axis=(3, 5))


@mutant("npae.conv:upsample2d_backward", "conv (U2): every output of a block depends on its "
        "input pixel, not one of them")
def upsample_one_entry(dA, size=2):
    return dA[:, :, ::size, ::size].copy()


# -- convolutional: the convolution's gradients and the transposed convolution ------------

def _scatter(X, W, stride, padding, q, kernel=None, step=None, crop=True):
    """conv (T3)-(T5) without the bias, written out, with one part that a mutant swaps:
    ``kernel`` (a function of W), ``step`` (the stride of the strided adds), ``crop``."""
    B, C_in, Hi, Wi = X.shape
    _, C_out, kh, kw = W.shape
    W = W if kernel is None else kernel(W)
    t = stride if step is None else step
    Q = (W.reshape(C_in, -1).T @ _columns(X)).reshape(C_out, kh, kw, B, Hi, Wi)
    Hc, Wc = (Hi - 1) * stride + kh + q[0], (Wi - 1) * stride + kw + q[1]
    A = np.zeros((C_out, B, Hc, Wc))
    for u in range(kh):
        for v in range(kw):
            A[:, :, u:u + (Hi - 1) * t + 1:t, v:v + (Wi - 1) * t + 1:t] += Q[:, u, v]
    if crop:
        A = A[:, :, padding:Hc - padding, padding:Wc - padding]
    return np.ascontiguousarray(A.transpose(1, 0, 2, 3))


def _unreached(input_size, W, stride, padding):
    return tuple((n + 2 * padding - k) % stride for n, k in zip(input_size, W.shape[2:]))


@mutant("npae.conv:conv2d_input_grad", "conv (C11): a correlation in the forward is a "
        "convolution in the backward: the kernel is rotated by 180°")
def input_grad_kernel_not_flipped(dA, W, input_size, stride=1, padding=0):
    B, F, Ho, Wo = dA.shape
    _, C, kh, kw = W.shape
    spread = np.zeros((B, F, (Ho - 1) * stride + 1, (Wo - 1) * stride + 1))
    spread[:, :, ::stride, ::stride] = dA
    qh, qw = _unreached(input_size, W, stride, padding)
    full = np.pad(spread, ((0, 0), (0, 0), (kh - 1, kh - 1 + qh), (kw - 1, kw - 1 + qw)))
    dXbar = conv2d_forward(full, np.ascontiguousarray(W.transpose(1, 0, 2, 3)), None)
    Hi, Wi = input_size
    return dXbar[:, :, padding:padding + Hi, padding:padding + Wi]


@mutant("npae.conv:conv2d_input_grad", "conv (C9): with stride s a window starts s pixels "
        "after the previous one, and so does its patch's gradient")
def input_grad_stride_ignored(dA, W, input_size, stride=1, padding=0):
    return _scatter(dA, W, stride, padding, _unreached(input_size, W, stride, padding), step=1)


@mutant("npae.conv:conv2d_input_grad", "conv (C10): the patches read the padded input X̄; "
        "X has no padding rows or columns")
def input_grad_padding_not_cropped(dA, W, input_size, stride=1, padding=0):
    return _scatter(dA, W, stride, padding, _unreached(input_size, W, stride, padding),
                    crop=False)


def _weight_grad(dA, X, kernel_size, stride, padding):
    P = _im2col(X, kernel_size[0], kernel_size[1], stride, padding)[0]
    return (_columns(dA) @ P.T).reshape((dA.shape[1], X.shape[1]) + tuple(kernel_size))


@mutant("npae.conv:conv2d_weight_grad", "conv (C7): a kernel entry is used at every position "
        "of every example, and its gradients add up: a sum, not a mean")
def weight_grad_mean(dA, X, kernel_size, stride=1, padding=0, cols=None):
    return _weight_grad(dA, X, kernel_size, stride, padding) / (
        dA.shape[0] * dA.shape[2] * dA.shape[3])


@mutant("npae.conv:conv2d_weight_grad", "conv (C7): the forward is a cross-correlation, so "
        "entry (u, v) of dW pairs dA with offset (u, v) of each window: no flip")
def weight_grad_flipped(dA, X, kernel_size, stride=1, padding=0, cols=None):
    return _weight_grad(dA, X, kernel_size, stride, padding)[:, :, ::-1, ::-1]


@mutant("npae.conv:conv2d_weight_grad", "conv (C2): the offsets of a window count from the "
        "corner of the padded input X̄, with p zeros on every side")
def weight_grad_padding_on_one_side(dA, X, kernel_size, stride=1, padding=0, cols=None):
    return _weight_grad(dA, _pad(X, 0, 2 * padding, 0.0), kernel_size, stride, 0)


def _tconv(X, W, b, stride, padding, output_padding, **swap):
    q = _check_output_padding(output_padding, stride)
    return _scatter(X, W, stride, padding, q, **swap) + b[:, None, None]


@mutant("npae.conv:conv_transpose2d_forward", "conv (T3): the adjoint uses the kernel as "
        "stored; it is conv2d's input gradient, where no rotation appears in col2im")
def tconv_kernel_flipped(X, W, b, stride=1, padding=0, output_padding=0):
    return _tconv(X, W, b, stride, padding, output_padding, kernel=lambda W: W[:, :, ::-1, ::-1])


@mutant("npae.conv:conv_transpose2d_forward", "conv (T4): with stride s, neighbouring input "
        "pixels land s output pixels apart")
def tconv_stride_ignored(X, W, b, stride=1, padding=0, output_padding=0):
    return _tconv(X, W, b, stride, padding, output_padding, step=1)


@mutant("npae.conv:conv_transpose2d_forward", "conv (T5): padding p crops p rows and "
        "columns from each side of the output, not 2p from one side")
def tconv_cropped_on_one_side(X, W, b, stride=1, padding=0, output_padding=0):
    A = _tconv(X, W, b, stride, padding, output_padding, crop=False)
    return A[:, :, :A.shape[2] - 2 * padding, :A.shape[3] - 2 * padding]


@mutant("npae.conv:conv_transpose2d_forward", "conv (T5): every output pixel of channel o "
        "gets the bias b_o")
def tconv_no_bias(X, W, b, stride=1, padding=0, output_padding=0):
    return _tconv(X, W, np.zeros_like(b), stride, padding, output_padding)


# -- recommendation ------------------------------------------------------------------------

def _softmax(A):
    e = np.exp(A - A.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@mutant("npae.losses:MultinomialLoss.grad", "(B5): the log-sum-exp of user n is weighted by "
        "all of that user's counts, N_n, not by 1")
def multinomial_no_count(A, X, log_p=None):
    return (_softmax(A) - X) / A.shape[0]


@mutant("npae.losses:MultinomialLoss.grad", "(B5): the term −Σ_i x_ni a_ni has a gradient of "
        "its own")
def multinomial_x_missing(A, X, log_p=None):
    return X.sum(axis=1, keepdims=True) * _softmax(A) / A.shape[0]


@mutant("npae.losses:MultinomialLoss.grad", "(B5): the loss is a mean over the B users, not "
        "a sum")
def multinomial_sum_over_users(A, X, log_p=None):
    return X.sum(axis=1, keepdims=True) * _softmax(A) - X


@mutant("npae.noise:DropoutNoise.backward", "(D8): the kept entries were scaled in the "
        "forward, and so is their gradient")
def dropout_no_scale(self, dX_tilde):
    return dX_tilde * self.mask


@mutant("npae.normalization:l2_normalize_backward", "(N3): r_n depends on x_n too: the "
        "component along x̄_n is removed")
def l2_no_projection(dX_bar, X_bar, r):
    return dX_bar / r


@mutant("npae.normalization:l2_normalize_backward", "(N3): x̄_n = x_n / r_n: the gradient "
        "is divided by r_n")
def l2_no_norm(dX_bar, X_bar, r):
    return dX_bar - X_bar * np.sum(X_bar * dX_bar, axis=1, keepdims=True)


@mutant("npae.normalization:l2_normalize_backward", "(N3): the projection is along the "
        "normalized row x̄_n, not the raw one")
def l2_raw_row(dX_bar, X_bar, r):
    X = X_bar * r
    return (dX_bar - X * np.sum(X * dX_bar, axis=1, keepdims=True)) / r
