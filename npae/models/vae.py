"""The variational autoencoder: a Gaussian encoder, reparameterized gradients by hand.

Notation: docs/notation.md; here σ is a standard deviation (Kingma & Welling's
notation) and the logistic sigmoid is written sigm(a) = 1/(1 + e^{−a}). Tags are local
to this module; cited from elsewhere they read "vae (F4)".

Model (Kingma & Welling 2014; Rezende, Mohamed & Wierstra 2014). A latent z ∈ R^H
has the prior p(z) = N(0, I); a decoder network with output logits A'(z) gives the
likelihood p(x|z) = Π_d Bernoulli(x_d; sigm(A'_d)) or Π_d N(x_d; A'_d, σ²_x,d). The
encoder approximates the posterior p(z|x) by q(z|x) = N(μ(x), diag(σ²(x))), whose
log-variance log σ² is the output of its own head.

The Bernoulli likelihood is a probability mass function on binary x ∈ {0, 1}^D. On
grey-level pixels x ∈ (0, 1) it is not a density: ∫₀¹ λˣ(1 − λ)¹⁻ˣ dx ≤ ½ for every
λ, so it is unnormalized, −recon is a (negative) cross-entropy and the ELBO and the
importance-sampled value are scores, not bounds on log p(x). A true log-likelihood
needs binary data: train with ``binarize=True`` and evaluate on binarized test images
(npae.likelihood.binarized_log_likelihood). The Gaussian decoder is a density.

The evidence lower bound (ELBO), two ways. Jensen's inequality (log is concave):

    (E1)  log p(x) = log ∫ p(x|z) p(z) dz = log E_q[ p(x|z) p(z) / q(z|x) ]
                   ≥ E_q[ log p(x|z) + log p(z) − log q(z|x) ]  =:  ELBO(x)

The KL decomposition: Bayes' rule gives log p(x) = log p(x|z) + log p(z) − log p(z|x)
for every z, so taking E_q of both sides and adding and subtracting log q(z|x),

    (E2)  log p(x) = ELBO(x) + KL(q(z|x) ‖ p(z|x))  ≥  ELBO(x)

the gap of (E1) is exactly the KL divergence to the true posterior, zero iff q = p(z|x).
Regrouping the ELBO gives the two terms a VAE trains on:

    (E3)  ELBO(x) = E_q[ log p(x|z) ] − KL(q(z|x) ‖ p(z))  =  −E_q[recon] − KL

The KL between diagonal Gaussians is analytic. With log q(z) = −½ Σ_j [log 2π + log σ²_j
+ (z_j − μ_j)²/σ²_j], log p(z) = −½ Σ_j [log 2π + z_j²], E_q[(z_j − μ_j)²] = σ²_j and
E_q[z_j²] = μ_j² + σ²_j,

    (E4)  KL_n = E_q[log q − log p] = −½ Σ_j (1 + log σ²_nj − μ²_nj − σ²_nj)
    (E5)  ∂KL_n/∂μ_nj     = μ_nj
    (E6)  ∂KL_n/∂log σ²_nj = −½ (1 − σ²_nj)          using ∂σ²/∂log σ² = σ²

(:func:`gaussian_kl_grad` returns (E5)-(E6), per example, without β or 1/B.)

The reparameterization z = μ + σ ⊙ ε, ε ~ N(0, I), σ = exp(½ log σ²), writes
E_q[f(z)] = E_ε[f(μ + σ ⊙ ε)], an expectation over a distribution without
parameters, so the gradient moves inside:

    (E7)  ∂/∂μ  E_ε[f(z)]      = E_ε[ ∂f/∂z ]                       (∂z/∂μ = 1)
    (E8)  ∂/∂log σ² E_ε[f(z)]  = E_ε[ ∂f/∂z ⊙ ½ σ ⊙ ε ]             (∂z/∂log σ² = ½ e^{½ log σ²} ε)

One ε per example gives an unbiased estimate of both; that is what one training step
uses (:func:`reparameterize_backward` is (E7)-(E8) for one draw).

Forward pass for a batch X (B, D), with ε (B, H) passed in through ``noise``:

    (F0)  X̃ = c(X̄; ν),  X̄ = X / ‖X‖₂ per row    the encoder's input: X̄ only with
                                         input_normalization="l2" (normalization (N2)),
                                         c only with ``noise`` (e.g. dropout, noise (D7));
                                         else X̃ = X. The target of (F8) stays X.
    (F1)  h = encoder(X̃)                dense layers of npae.network, (B, n_L); h = X̃ when
                                         hidden_layer_sizes is empty; when fewer than 1% of X̃
                                         is nonzero (clicks) the first layer's X̃ W and
                                         X̃ᵀ dA skip the zeros (npae.sparse (S1)-(S2))
    (F2)  μ = h W_μ + b_μ                                                        (B, H)
    (F3)  a_v = h W_v + b_v                                                      (B, H)
    (F4)  log σ² = a_v                   the identity head (Kingma & Welling)    (B, H)
    (F5)  std = exp(½ log σ²)            a standard deviation, σ                  (B, H)
    (F6)  z = μ + std ⊙ ε                                                        (B, H)
    (F7)  A' = decoder(z)                output logits                           (B, D)
    (F8)  recon_n = −log p(x_n | z_n):
            Bernoulli  Σ_d [softplus(A'_nd) − x_nd A'_nd]                         (losses (F4))
            Gaussian   Σ_d ½ [log 2π + log σ²_x,d + (x_nd − A'_nd)² / σ²_x,d]
            multinomial −Σ_d x_nd log softmax(A'_n)_d                            (losses (F7))
          with log σ²_x = log v for a fixed variance v, or log σ²_x = θ_x learned
          (θ_x = params["dec.logvar"], one per feature, (D,)).
    (F9)  KL_n = −½ Σ_j (1 + log σ²_nj − μ²_nj − exp(log σ²_nj))               (E4)
    (F10) ℒ = (1/B) Σ_n [recon_n + β_t KL_n] + (λ/2) Σ ‖W‖_F²

Why the encoder outputs log σ² and not σ²: a dense layer's output a_v ranges over all of
ℝ, and any real number is the logarithm of a positive variance, so (F4) needs no
constraint, and exp in (F5) makes every σ > 0 whatever the weights.

β_t = β · min(1, t / T) during a KL warm-up over T epochs (t the epoch) or over T
updates (t the number of updates done, ``kl_warmup_steps``), else β.
With ``logvar_bound`` = κ (opt-in, a numerical safeguard) (F4) becomes (F4b) below, for
the encoder's head and for a learned decoder log-variance alike.

``values`` (the rule of every npae model, docs/notation.md): each entry is a term
exactly as it enters ℒ, weight applied, so ℒ = Σ of the selected entries:
recon = (1/B) Σ_n recon_n, kl = β_t (1/B) Σ_n KL_n, and weight_decay when λ > 0.
With β_t = 1, recon + kl is the negative single-sample ELBO. The unweighted KL in
nats is :meth:`VAE.posterior_kl` (per example), never an entry of ``values``.

Backward pass; the batch mean's 1/B enters at the two tops of the chain, in B1 and in
the KL parts of B4-B5 (as β_t/B), and nowhere else. With a Bernoulli decoder a step
takes (F8) and (B1) together from one e^{−|A'|} (BernoulliLoss.value_and_grad: softplus
and σ are both written through it), so the step's ``values["recon"]`` is the loss's
batch mean, equal to the mean of recon_n up to the order of the float sums.

    (B1)  dA' = ∂ℒ/∂A' = (sigm(A') − X)/B   Bernoulli;   (A' − X)/(σ²_x B)   Gaussian;
                      (N_n softmax(A'_n) − x_n)/B  multinomial, N_n = Σ_d x_nd (losses (B5))
    (B2)  dθ_x = (1/B) Σ_n ½ [1 − (x_nd − A'_nd)²/σ²_x,d]     learned σ²_x (× (B6b) if bounded)
    (B3)  dz = dA' backpropagated through the decoder (npae.network)
    (B4)  dμ = dz + (β_t/B) μ                                        (E7) + (E5)
    (B5)  dlog σ² = dz ⊙ ½ std ⊙ ε + (β_t/B) · ½ (σ² − 1)            (E8) + (E6)
    (B6)  da_v = dlog σ²                                             the identity head (F4)
    (B7)  dW_μ = hᵀ dμ, db_μ = Σ_n dμ ;  dW_v = hᵀ da_v, db_v = Σ_n da_v
    (B8)  dh = dμ W_μᵀ + da_v W_vᵀ                                   h feeds both heads
    (B9)  dh backpropagated down the encoder (npae.network)
    (B10) dW += λ W for every weight matrix
    (B11) dX = dX_encoder + ∂recon/∂X:  −A'/B (Bernoulli), −(A' − X)/(σ²_x B) (Gaussian),
          −log softmax(A')/B (multinomial, losses (B6))
    (B0)  dX_encoder = ∂ℒ/∂X̃ of (B9) taken back through (F0): ⊙ m/(1 − p) for dropout
          (noise (D8)), then (I − x̄ x̄ᵀ)/‖x‖ per row for the L2 normalization
          (normalization (N3))

Why the soft bound, and why it is off by default. σ² = exp(log σ²) overflows float32
at log σ² ≈ 88.7 and float64 at ≈ 709.8, and with the identity head (F4) a head output
can get there after one bad step or on a wildly scaled input. The default model is the
textbook one; when exp(log σ²) would overflow (or exp(±θ_x) of a learned decoder
variance), the step raises :class:`LogVarianceOverflow`, a
:class:`npae.training.TrainingDiverged` that says what to do, instead of returning inf;
``fit`` then stops and keeps the last good parameters (npae.training). The opt-in
safeguard ``logvar_bound`` = κ > 0 replaces (F4) by

    (F4b) log σ² = κ tanh(a_v / κ)                                               (B, H)
    (B6b) da_v = dlog σ² ⊙ (1 − (log σ² / κ)²)          tanh' written through its output

smooth and within 1% of the identity for |a_v| ≤ 0.17 κ (5.2 for κ = 30), which
bounds |log σ²| < κ: for κ = 30, σ² ∈ (9.4e-14, 1.1e13), std ∈ (3.1e-7, 3.3e6), all
finite and normal in float32, and so are the KL terms and their gradients, for a head
output of any size. The model is then exactly the Gaussian with the log-variance of
(F4b); only its range is bounded (for κ = 30 tanh rounds to ±1 beyond |a_v| ≈ 300 in
float32 and 570 in float64, where the head's gradient vanishes). It changes the
numbers: a student's gradient for (F4) differs from a bounded model's by the factor
of (B6b). A learned decoder log-variance uses the same bound, θ_x → κ tanh(θ_x / κ).

Randomness. ``noise`` is ε, (B, H), drawn by ``sample_noise``; ``noise=None`` means ε = 0
(the step then decodes the mean μ; the KL is unchanged). With ``binarize=True``,
``sample_noise`` returns ``{"eps": ε, "u": U}`` with uniforms U (B, D), and the step uses
the dynamically binarized batch X_b = 1[U < X] as encoder input and target: a fresh
Bernoulli draw of every pixel at every step, the protocol of Burda, Grosse &
Salakhutdinov (2016). Salakhutdinov & Murray (2008) binarized MNIST stochastically too,
but once, giving one fixed binary data set (what npae.likelihood.binarize does). Given
``noise`` the step is a pure function of (params, X, noise). X_b is piecewise constant
in X, so the input gradient of a binarized step is zero.

KL warm-up. With ``kl_warmup_epochs`` = T > 0, epoch t (from 0) trains with the KL
weight β_t = β · min(1, t / T) (set by the trainer's ``on_epoch_start`` hook; Bowman et
al. 2016, Sønderby et al. 2016); with ``kl_warmup_steps`` = T > 0 the update t (from 0,
counted over the whole fit) uses β_t = β · min(1, t / T) (the trainer's
``on_step_start`` hook), the per-update annealing of Liang et al. (2018, §2.2.2). Their
code writes it β_t = min(β_cap, t / T_total): the same line with T = β_cap · T_total,
which is how npae.MultVAE sets its default. The two warm-ups are not combined. After
``fit`` the weight is β again.

References: Kingma & Welling, "Auto-encoding variational Bayes", ICLR 2014; Rezende,
Mohamed & Wierstra, ICML 2014; Burda, Grosse & Salakhutdinov, "Importance weighted
autoencoders", ICLR 2016 (see npae.likelihood); Salakhutdinov & Murray, "On the
quantitative analysis of deep belief networks", ICML 2008; Doersch, "Tutorial on VAEs", 2016.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import (check_array, check_choice, check_layer_sizes, check_positive_int,
                           check_scalar)
from ..layers import get_activation, sigmoid, softplus
from ..losses import MultinomialLoss, get_loss
from ..network import Layer, LayerCache, backprop_layers, run_layers
from ..noise import NOISES, check_noise, get_noise
from ..normalization import check_normalization, l2_normalize, l2_normalize_backward
from ..penalties import weight_decay, weight_decay_grad
from ..sparse import SPARSE_DENSITY, nonzeros, sparse_matmul, sparse_t_matmul
from ..training import TrainingDiverged
from .base import BaseModel

LOGVAR_BOUND = 30.0          # a suggested κ for ``logvar_bound`` (F4b): |log σ²| < κ
LOG_2PI = float(np.log(2.0 * np.pi))
DEFAULT_MAX_ELEMENTS = 2 ** 22      # entries of the largest (n, K, width) array of a chunk


class LogVarianceOverflow(TrainingDiverged):
    """exp(log σ²) would overflow the dtype: the identity head (F4) left the finite range."""


def soft_bound(a, kappa=LOGVAR_BOUND):
    """(F4b) log σ² = κ tanh(a / κ): the identity near 0, smoothly bounded to (−κ, κ)."""
    return kappa * np.tanh(a / kappa)


def soft_bound_backward(d_logvar, logvar, kappa=LOGVAR_BOUND):
    """(B6b) the derivative 1 − tanh²(a/κ), written through the output log σ²."""
    return d_logvar * (1.0 - (logvar / kappa) ** 2)


def kl_divergence(mu, logvar):
    """(F9) KL(N(μ, diag σ²) ‖ N(0, I)) per row, (B,): the closed form (E4)."""
    return -0.5 * np.sum(1.0 + logvar - mu * mu - np.exp(logvar), axis=-1)


def gaussian_kl_grad(mu, logvar):
    """(E5)-(E6): the gradient of the per-example KL_n of (E4) w.r.t. μ and log σ².

    KL_n of (E4) is a sum over j with σ² = exp(log σ²), each entry of μ and log σ² in one
    term of it, so the derivatives are elementwise:

        (E5)  ∂KL_n/∂μ_nj      = −½ · (−2 μ_nj)                   = μ_nj
        (E6)  ∂KL_n/∂log σ²_nj = −½ (1 − ∂σ²_nj/∂log σ²_nj)      = ½ (σ²_nj − 1)

    using ∂σ²/∂log σ² = exp(log σ²) = σ². This is the gradient of KL_n itself: no β and
    no batch mean 1/B (the model multiplies by β_t/B, vae (B4)-(B5)).
    Returns ``(d_mu, d_logvar)``, both of the shape of ``mu`` (B, H).
    """
    d_mu = mu                                                   # (E5) (B, H)
    d_logvar = 0.5 * (np.exp(logvar) - 1.0)                     # (E6) (B, H)
    return d_mu, d_logvar


def reparameterize_backward(dz, std, eps):
    """(E7)-(E8) for one draw: the gradient reaching μ and log σ² through z = μ + std ⊙ ε.

    With std = exp(½ log σ²) and ε fixed, z_nj depends on μ_nj and log σ²_nj only:

        (E7)  ∂z/∂μ      = 1                          ⇒  dμ      = dz
        (E8)  ∂z/∂log σ² = ½ exp(½ log σ²) ε = ½ std ε  ⇒  dlog σ² = dz ⊙ ½ std ⊙ ε

    ``dz`` = ∂ℒ/∂z (B, H) from the decoder, ``std`` (B, H), ``eps`` (B, H).
    Returns ``(d_mu, d_logvar)``, both (B, H).
    """
    d_mu = dz                                                   # (E7) (B, H)
    d_logvar = dz * 0.5 * std * eps                             # (E8) (B, H)
    return d_mu, d_logvar


def _check_exp_finite(logvar, what, both_signs=False):
    """Raise :class:`LogVarianceOverflow` when exp(log σ²) (or exp(−log σ²)) overflows."""
    limit = float(np.log(np.finfo(logvar.dtype).max))          # 88.7 float32, 709.8 float64
    worst = float(np.max(np.abs(logvar) if both_signs else logvar))
    if not worst <= limit:                                      # also catches NaN
        raise LogVarianceOverflow(
            f"{what} reached {worst:.4g}, beyond log(max {logvar.dtype}) = {limit:.1f}, so "
            f"exp of it overflows. With logvar_bound=None (the default identity head, vae "
            f"(F4)) nothing bounds it: lower learning_rate, rescale the input, or set "
            f"logvar_bound (e.g. {LOGVAR_BOUND:g}), the soft bound vae (F4b)")


def interpolate_codes(z_start, z_end, n_steps=8, method="linear"):
    """Codes from ``z_start`` to ``z_end`` (both included), (n_steps, H).

    linear:     z(t) = (1 − t) z₀ + t z₁
    spherical:  z(t) = [sin((1 − t)Ω) z₀ + sin(tΩ) z₁] / sin Ω,  cos Ω = ẑ₀·ẑ₁
                (slerp; White 2016, "Sampling generative networks"). Under a N(0, I)
                prior most mass lies near the sphere of radius √H, and slerp keeps
                intermediate codes near it where the linear path cuts through the
                low-norm middle. For (anti)parallel codes (sin Ω < 1e-7) slerp is
                undefined or degenerate and the linear path is returned.
    """
    check_choice(method, "method", ("linear", "spherical"))
    n_steps = check_positive_int(n_steps, "n_steps", minimum=2)
    z0 = check_array(z_start, "z_start", ndim=1, dtype=np.float64)
    z1 = check_array(z_end, "z_end", ndim=1, dtype=np.float64, n_features=z0.shape[0])
    t = np.linspace(0.0, 1.0, n_steps)[:, None]                          # (n_steps, 1)
    if method == "spherical":
        n0, n1 = np.linalg.norm(z0), np.linalg.norm(z1)
        if n0 > 0 and n1 > 0:
            cos = min(max(float(z0 @ z1) / (n0 * n1), -1.0), 1.0)        # rounding guard
            omega = np.arccos(cos)
            if np.sin(omega) >= 1e-7:
                return (np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / np.sin(omega)
    return (1 - t) * z0 + t * z1


@dataclass
class VAEForward:
    """Every intermediate array of one forward pass (F1)-(F9), named as in the docstring."""

    x: np.ndarray            # the batch the step used (binarized if noise carries U)  (B, D)
    enc: list                # LayerCache per encoder layer
    h: np.ndarray            # (F1) encoder output                                   (B, n_L)
    mu_cache: LayerCache     # (F2) the μ head
    logvar_cache: LayerCache  # (F3) the log σ² head; .pre is a_v
    mu: np.ndarray           # (F2)                                                  (B, H)
    logvar: np.ndarray       # (F4) or (F4b) log σ²                                  (B, H)
    std: np.ndarray          # (F5) σ = exp(½ log σ²)                                (B, H)
    eps: np.ndarray          # ε                                                     (B, H)
    z: np.ndarray            # (F6)                                                  (B, H)
    dec: list                # LayerCache per decoder layer
    logits: np.ndarray       # (F7) A'                                               (B, D)
    recon: np.ndarray        # (F8) recon_n; None in a Bernoulli step (the loss's own) (B,)
    kl: np.ndarray           # (F9) KL_n                                             (B,)
    nz: tuple = None         # the encoder input's nonzeros when its first layer skips zeros


class VAE(BaseModel):
    """Variational autoencoder with a diagonal Gaussian encoder and an N(0, I) prior.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int
        Encoder widths before the two heads (may be empty: the heads then read X).
        The decoder mirrors them: H -> reversed(hidden_layer_sizes) -> D.
    latent_dim : int
        H, the size of z.
    activation : str
        Hidden-layer activation (identity, sigmoid, tanh, relu, softplus), encoder and decoder.
    output : {"bernoulli", "gaussian", "multinomial"}
        Decoder likelihood p(x|z): Bernoulli on logits (X in [0, 1]), Gaussian with mean
        A', or multinomial over the D features with probabilities softmax(A') (counts
        X ≥ 0; Mult-VAE, npae.MultVAE).
    decoder_variance : float or "learned"
        Gaussian output only. A positive float is a fixed σ²_x shared by every feature
        (default 1.0); "learned" adds one log-variance per feature, ``dec.logvar`` (D,),
        trained with the rest (soft-bounded like the encoder's when ``logvar_bound`` is
        set, F4b). Must stay 1.0 for a Bernoulli decoder.
    logvar_bound : None or float
        None (default): the identity head log σ² = a_v (F4) of Kingma & Welling; a step
        whose exp(log σ²) would overflow raises :class:`LogVarianceOverflow`. A float
        κ > 0: the opt-in numerical safeguard log σ² = κ tanh(a_v/κ) (F4b), applied to
        the encoder's head and to a learned decoder log-variance (e.g. 30.0).
    beta : float
        β ≥ 0, the KL weight of (F10); β = 1 is the ELBO, β > 1 a β-VAE (Higgins et al. 2017).
    kl_warmup_epochs : int
        T ≥ 0: epoch t uses the KL weight β_t = β · min(1, t / T); 0 means no warm-up.
    kl_warmup_steps : int
        T ≥ 0: update t (from 0) uses β_t = β · min(1, t / T); 0 means no warm-up. Not
        together with ``kl_warmup_epochs``.
    binarize : bool
        Dynamic binarization: every step trains on X_b = 1[U < X], U ~ U(0, 1) drawn in
        ``sample_noise`` (Bernoulli decoder only; X are probabilities in [0, 1]).
    weight_decay, optimizer, learning_rate, batch_size, epochs, random_state, dtype, verbose
        As for every npae model (npae.optim, npae.training).
    noise, noise_level : None or str, float
        Corruption of the encoder's input (F0), as for the Autoencoder (npae.noise), drawn
        with ε by ``sample_noise``; e.g. noise="dropout", noise_level=0.5 for Mult-VAE.
    input_normalization : {None, "l2"}
        "l2": the encoder reads each row divided by its 2-norm (F0), before the
        corruption; the likelihood still scores the raw X. Rows of zeros are refused.

    Parameters are ``enc.l.W``/``enc.l.b``, the heads ``mu.W``, ``mu.b``, ``logvar.W``,
    ``logvar.b``, the decoder ``dec.m.W``/``dec.m.b`` and, with a learned decoder
    variance, ``dec.logvar``.
    """

    def __init__(self, hidden_layer_sizes=(400,), latent_dim=20, activation="relu",
                 output="bernoulli", decoder_variance=1.0, logvar_bound=None, beta=1.0,
                 kl_warmup_epochs=0,
                 binarize=False, weight_decay=0.0, optimizer="adam", learning_rate=1e-3,
                 batch_size=128, epochs=10, random_state=None, dtype="float32", verbose=True,
                 noise=None, noise_level=0.0, input_normalization=None, kl_warmup_steps=0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.latent_dim = latent_dim
        self.activation = activation
        self.output = output
        self.decoder_variance = decoder_variance
        self.logvar_bound = logvar_bound
        self.beta = beta
        self.kl_warmup_epochs = kl_warmup_epochs
        self.binarize = binarize
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.random_state = random_state
        self.dtype = dtype
        self.verbose = verbose
        self.noise = noise
        self.noise_level = noise_level
        self.input_normalization = input_normalization
        self.kl_warmup_steps = kl_warmup_steps

    #: the settings params_ belong to (BaseModel._check_fitted); see also _architecture
    _ARCHITECTURE = ("hidden_layer_sizes", "latent_dim", "activation", "output", "dtype")

    def _architecture(self):
        """Plus whether the decoder variance is a parameter (``dec.logvar``) or fixed."""
        return {**super()._architecture(),
                "decoder_variance": "learned" if self._learned_variance else "fixed"}

    # -- architecture -----------------------------------------------------------------
    def _validate_hyperparameters(self):
        self._sizes = check_layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes",
                                        allow_empty=True)       # () : heads read X directly
        self._H = check_positive_int(self.latent_dim, "latent_dim")
        self._act = get_activation(self.activation, "activation")
        self._loss = get_loss(self.output)
        dv = self.decoder_variance
        if isinstance(dv, str):
            if dv != "learned":
                raise ValueError(f"decoder_variance must be a positive float (a fixed σ²) or "
                                 f"'learned', got {dv!r}")
            if self.output != "gaussian":
                raise ValueError("decoder_variance='learned' needs output='gaussian' "
                                 "(a Bernoulli decoder has no variance parameter)")
        else:
            check_scalar(dv, "decoder_variance", 0, None, low_open=True)
            if self.output != "gaussian" and float(dv) != 1.0:
                raise ValueError(f"decoder_variance only applies to output='gaussian'; leave "
                                 f"it at 1.0 for output={self.output!r}, got {dv!r}")
        if self.logvar_bound is not None:
            check_scalar(self.logvar_bound, "logvar_bound", 0, None, low_open=True)
        check_scalar(self.beta, "beta", 0, None)
        check_positive_int(self.kl_warmup_epochs, "kl_warmup_epochs", minimum=0)
        check_positive_int(self.kl_warmup_steps, "kl_warmup_steps", minimum=0)
        if self.kl_warmup_epochs > 0 and self.kl_warmup_steps > 0:
            raise ValueError(f"kl_warmup_epochs={self.kl_warmup_epochs} and kl_warmup_steps="
                             f"{self.kl_warmup_steps}: choose one warm-up (set the other to 0)")
        check_normalization(self.input_normalization)
        if self.noise == "salt_and_pepper":
            raise ValueError("noise='salt_and_pepper' is not available on the VAE (it "
                             "needs the training data's range); use 'dropout', 'masking' "
                             "or 'gaussian'")
        check_noise(self.noise, self.noise_level)
        if not isinstance(self.binarize, (bool, np.bool_)):
            raise ValueError(f"binarize must be True or False, got {self.binarize!r}")
        if self.binarize and self.output != "bernoulli":
            raise ValueError("binarize=True needs output='bernoulli' (pixels are "
                             "resampled as Bernoulli draws)")
        check_scalar(self.weight_decay, "weight_decay", 0, None)

    # Where each loss term's equations are, for the gradient checker's diagnosis.
    term_equations = {
        "recon": "(F7)-(F8), (B1)-(B3) and the path through z, (B4)-(B9), in "
                 "npae/models/vae.py (reparameterize_backward is (E7)-(E8))",
        "kl": "(E4)-(E6), (F9), (B4)-(B6) in npae/models/vae.py ((F4b), (B6b) with "
              "logvar_bound; gaussian_kl_grad is (E5)-(E6))",
        "weight_decay": "(B10) in npae/models/vae.py; (P1)-(P2) in npae/penalties.py",
        "input": "(B11), (B0) in npae/models/vae.py; (D7)-(D8) in npae/noise.py; (N3) in "
                 "npae/normalization.py",
    }

    @property
    def _learned_variance(self):
        return isinstance(self.decoder_variance, str)

    @classmethod
    def _hyperparameters_from_json(cls, hp):
        """A checkpoint written before ``logvar_bound`` existed was trained with κ = 30."""
        hp = dict(hp)
        hp.setdefault("logvar_bound", LOGVAR_BOUND)
        return super()._hyperparameters_from_json(hp)

    def _logvar_head(self, a, what="the encoder's log-variance log σ²"):
        """(F4) log σ² = a, or (F4b) κ tanh(a/κ) with ``logvar_bound`` = κ."""
        logvar = a if self.logvar_bound is None else soft_bound(a, self.logvar_bound)
        _check_exp_finite(logvar, what, both_signs=what.startswith("the decoder"))
        return logvar

    def _logvar_head_backward(self, d_logvar, logvar):
        """(B6) da = dlog σ² for the identity head, or (B6b) through the soft bound."""
        if self.logvar_bound is None:
            return d_logvar                                                 # (B6)
        return soft_bound_backward(d_logvar, logvar, self.logvar_bound)     # (B6b)

    def _layers(self):
        """Encoder, the two heads and the decoder as :class:`Layer` records."""
        L = len(self._sizes)
        enc = [Layer(f"enc.{l}", f"enc.{l}.W", f"enc.{l}.b", self._act) for l in range(L)]
        mu = Layer("mu", "mu.W", "mu.b", None)                              # (F2)
        logvar = Layer("logvar", "logvar.W", "logvar.b", None)              # (F3), F4 below
        dec = [Layer(f"dec.{m}", f"dec.{m}.W", f"dec.{m}.b", self._act if m < L else None)
               for m in range(L + 1)]                                       # last: logits
        return enc, mu, logvar, dec

    def _init_params(self, D, rng):
        """Weights U(−1/√n_in, 1/√n_in), zero biases, in ``dtype``.

        This is the weight scale of ``torch.nn.Linear``'s default, with which the
        reference MNIST result (PyTorch's examples/vae) was obtained; it gives each unit
        a pre-activation variance of 1/3 of its inputs' mean square. On MNIST (784-400-20,
        10 epochs, seed 0) it reaches 105.62 nats of test −ELBO with the default identity
        head (printed by ``pytest tests/test_vae.py -m mnist -s``; 105.5 was measured with
        the soft-bounded head κ = 30), where the He-uniform scale √(6/n_in) of npae's
        Autoencoder reached 106.3-106.4 (measured once, bounded head). The heads therefore start
        small: μ ≈ 0 and log σ² ≈ 0, i.e. q(z|x) starts near the prior. A learned
        decoder log-variance starts at θ_x = 0 (σ²_x = 1).
        """
        self._validate_hyperparameters()
        enc, mu, logvar, dec = self._layers()
        top = self._sizes[-1] if self._sizes else D
        enc_widths = (D,) + self._sizes
        dec_widths = (self._H,) + self._sizes[::-1] + (D,)
        params = {}
        for layer, n_in, n_out in zip(enc, enc_widths[:-1], enc_widths[1:]):
            params[layer.W] = _uniform_fan_in(rng, n_in, n_out, self._dtype)
            params[layer.b] = np.zeros(n_out, dtype=self._dtype)
        for layer in (mu, logvar):
            params[layer.W] = _uniform_fan_in(rng, top, self._H, self._dtype)
            params[layer.b] = np.zeros(self._H, dtype=self._dtype)
        for layer, n_in, n_out in zip(dec, dec_widths[:-1], dec_widths[1:]):
            params[layer.W] = _uniform_fan_in(rng, n_in, n_out, self._dtype)
            params[layer.b] = np.zeros(n_out, dtype=self._dtype)
        if self._learned_variance:
            params["dec.logvar"] = np.zeros(D, dtype=self._dtype)
        return params

    def _check_targets(self, X, name):
        return get_loss(self.output).check_targets(X, name)

    # -- randomness and warm-up --------------------------------------------------------
    def sample_noise(self, X, rng):
        """ε ~ N(0, I), (B, H) in ``dtype``; with ``binarize`` also U ~ U(0, 1), (B, D); with
        ``noise`` also the input's corruption ν (npae.noise), drawn after ε. Returns ε
        alone, or a dict with keys "eps" and "u" and/or "corruption"."""
        self._validate_hyperparameters()
        eps = rng.standard_normal((X.shape[0], self._H), dtype=self._dtype)
        if not self.binarize and self.noise is None:
            return eps
        out = {"eps": eps}
        if self.binarize:
            out["u"] = rng.random(X.shape, dtype=self._dtype)
        if self.noise is not None:
            out["corruption"] = get_noise(self.noise).sample(X, self.noise_level, rng)
        return out

    def on_step_start(self, step):
        """Called by the trainer before update ``step`` (from 0, over the whole fit): the
        per-update KL warm-up factor min(1, t / T) when ``kl_warmup_steps`` = T > 0."""
        T = self.kl_warmup_steps
        if T > 0:
            self._kl_warmup = min(1.0, step / T)

    def on_epoch_start(self, epoch):
        """Called by the trainer: the KL warm-up factor min(1, t / T) for epoch t (from 0)."""
        T = self.kl_warmup_epochs
        self._kl_warmup = 1.0 if T == 0 else min(1.0, epoch / T)

    def fit(self, X, *args, **kwargs):
        """Train from ``random_state`` (BaseModel.fit, same arguments); the KL weight ends at β."""
        try:
            return super().fit(X, *args, **kwargs)
        finally:
            self._kl_warmup = 1.0

    def _unpack_noise(self, noise, X, dtype):
        """ε (B, H) and the batch to use (binarized when ``noise`` carries U)."""
        B, H = X.shape[0], self._H
        u = None
        if isinstance(noise, dict):
            unknown = set(noise) - {"eps", "u", "corruption"}
            if unknown or "eps" not in noise:
                raise ValueError(f"noise must be ε (B, H) or a dict with keys 'eps' and "
                                 f"optionally 'u' and 'corruption', got keys {sorted(noise)}")
            eps, u = noise["eps"], noise.get("u")
        else:
            eps = noise
        if eps is None:
            eps = np.zeros((B, H), dtype=dtype)                             # ε = 0: z = μ
        eps = check_array(eps, "noise ε", ndim=2, dtype=dtype, n_features=H)
        if eps.shape[0] != B:
            raise ValueError(f"noise ε must have shape ({B}, {H}) for this batch, got {eps.shape}")
        if u is not None:
            u = check_array(u, "noise u", ndim=2, dtype=dtype)
            if u.shape != X.shape:
                raise ValueError(f"noise u must have the batch's shape {X.shape}, got {u.shape}")
            X = (u < X).astype(dtype)                                       # X_b = 1[U < X]
        return eps, X, u is not None

    def _encoder_input(self, X, noise):
        """(F0) X̃ = c(X̄; ν): returns ``(X̃, X̄, r, ν)``; X̄ = X and r = None without the L2
        normalization, ν = None without a corruption in ``noise``."""
        corruption = noise.get("corruption") if isinstance(noise, dict) else None
        if corruption is not None and not isinstance(corruption, tuple(NOISES.values())):
            raise ValueError(f"noise['corruption'] must be a record drawn by npae.noise, got "
                             f"{type(corruption).__name__}")
        X_bar, r = (X, None) if self.input_normalization is None else l2_normalize(X)  # (N2)
        X_in = X_bar if corruption is None else corruption.apply(X_bar)    # (F0) (B, D)
        return X_in, X_bar, r, corruption

    # -- forward and backward ------------------------------------------------------
    def _decoder_logvar(self, params):
        """log σ²_x of (F8): (D,) when learned, a float when fixed."""
        if self._learned_variance:
            return self._logvar_head(params["dec.logvar"],
                                     "the decoder's log-variance log σ²_x = θ_x")
        return float(np.log(self.decoder_variance))

    def _recon_per_example(self, params, logits, X):
        """(F8) recon_n = −log p(x_n | z_n), summed over the last axis (any leading shape)."""
        if self.output == "bernoulli":
            return np.sum(softplus(logits) - X * logits, axis=-1)
        if self.output == "multinomial":
            return MultinomialLoss.per_example(logits, X)                   # losses (F7)
        logvar_x = self._decoder_logvar(params)
        return 0.5 * np.sum(LOG_2PI + logvar_x + (X - logits) ** 2 * np.exp(-logvar_x), axis=-1)

    def forward(self, X, noise=None, params=None):
        """All intermediate arrays (F1)-(F9) as a :class:`VAEForward`; for checks and teaching."""
        params = self._params_or_fitted(params)
        self._validate_hyperparameters()
        D = params[f"dec.{len(self._sizes)}.b"].shape[0]
        X = check_array(X, "X", ndim=2, dtype=params["mu.W"].dtype, n_features=D)
        self._check_targets(X, "X")
        eps, X, _ = self._unpack_noise(noise, X, X.dtype)
        return self._forward(params, X, eps, X_in=self._encoder_input(X, noise)[0])

    def _forward(self, params, X, eps, recon=True, X_in=None):
        """(F1)-(F9); ``recon=False`` leaves (F8) to the caller (``recon`` is then None).
        ``X_in`` is the encoder's input X̃ of (F0) (default X); X is the target."""
        enc, mu_layer, logvar_layer, dec = self._layers()
        X_in = X if X_in is None else X_in
        nz = None
        if enc and np.count_nonzero(X_in) < SPARSE_DENSITY * X_in.size:    # e.g. clicks
            nz = nonzeros(X_in)
            a1 = sparse_matmul(nz, params[enc[0].W], X_in.shape[0]) + params[enc[0].b]  # sparse (S1)
            first = LayerCache(inp=X_in, pre=a1, out=enc[0].activation.forward(a1))
            enc_caches = [first] + run_layers(params, enc[1:], first.out)   # (F1)
        else:
            enc_caches = run_layers(params, enc, X_in)                      # (F1)
        h = enc_caches[-1].out if enc_caches else X_in                      # (B, n_L)
        mu_cache = run_layers(params, [mu_layer], h)[0]                     # (F2)
        logvar_cache = run_layers(params, [logvar_layer], h)[0]             # (F3) a_v
        mu = mu_cache.out                                                   # (B, H)
        logvar = self._logvar_head(logvar_cache.out)                        # (F4) / (F4b)
        std = np.exp(0.5 * logvar)                                          # (F5) (B, H)
        z = mu + std * eps                                                  # (F6) (B, H)
        dec_caches = run_layers(params, dec, z)                             # (F7)
        logits = dec_caches[-1].out                                         # A' (B, D)
        recon = self._recon_per_example(params, logits, X) if recon else None  # (F8) (B,)
        kl = kl_divergence(mu, logvar)                                      # (F9) (B,)
        return VAEForward(X, enc_caches, h, mu_cache, logvar_cache, mu, logvar, std, eps, z,
                          dec_caches, logits, recon, kl, nz)

    def _forward_backward(self, params, X, noise, terms, need_grads, need_input_grad):
        self._validate_hyperparameters()
        D = params[f"dec.{len(self._sizes)}.b"].shape[0]                   # output width
        X = check_array(X, "X", ndim=2, dtype=params["mu.W"].dtype, n_features=D)
        self._check_targets(X, "X")
        eps, Xb, binarized = self._unpack_noise(noise, X, X.dtype)
        available = ["recon", "kl"] + (["weight_decay"] if self.weight_decay > 0 else [])
        use = self._select_terms(terms, available)
        beta = self.beta * getattr(self, "_kl_warmup", 1.0)                # β_t (warmed up)

        own_pass = self.output in ("bernoulli", "multinomial")             # the loss's own pass
        X_in, X_bar, norms, corruption = self._encoder_input(Xb, noise)     # (F0) X̃ (B, D)
        f = self._forward(params, Xb, eps, recon=not own_pass, X_in=X_in)  # (F1)-(F9)
        B = Xb.shape[0]
        d_logits_needed = "recon" in use and (need_grads or need_input_grad)
        if own_pass:        # (F8) and (B1) from one pass: losses (F4), (B3) or (F7), (B5)
            recon, d_bce = self._loss.value_and_grad(f.logits, Xb, grad=d_logits_needed)
        else:
            recon = float(np.mean(f.recon))                                 # (1/B) Σ_n (F8)
        values = {"recon": recon,                                           # each term as it
                  "kl": beta * float(np.mean(f.kl))}                        # enters (F10)
        if "weight_decay" in available:
            values["weight_decay"] = weight_decay(
                [params[k] for k in params if k.endswith(".W")], self.weight_decay)
        loss = float(sum(values[t] for t in use))                           # (F10)
        if not (need_grads or need_input_grad):
            return loss, values, None, None

        enc, mu_layer, logvar_layer, dec = self._layers()
        grads = {}
        d_logits = np.zeros_like(f.logits)
        if "recon" in use:
            if own_pass:
                d_logits = d_bce                                            # (B1) losses (B3)/(B5)
            else:
                inv_var_x = np.exp(-self._decoder_logvar(params))           # 1/σ²_x
                d_logits = (f.logits - Xb) * inv_var_x / B                  # (B1) (B, D)
        if self._learned_variance:
            logvar_x = self._decoder_logvar(params)                         # (D,)
            d_logvar_x = np.zeros_like(logvar_x)
            if "recon" in use:
                resid2 = (Xb - f.logits) ** 2                               # (B, D)
                d_logvar_x = 0.5 * np.sum(1.0 - resid2 * np.exp(-logvar_x), axis=0) / B
            grads["dec.logvar"] = self._logvar_head_backward(d_logvar_x, logvar_x)  # (B2) (D,)
        dz = backprop_layers(params, dec, f.dec, d_logits, grads)           # (B3) (B, H)

        d_mu, d_logvar = reparameterize_backward(dz, f.std, f.eps)          # (B4)-(B5): (E7), (E8)
        if "kl" in use:
            d_mu_kl, d_logvar_kl = gaussian_kl_grad(f.mu, f.logvar)         # (E5), (E6) per example
            d_mu = d_mu + (beta / B) * d_mu_kl                              # (B4) β_t/B once
            d_logvar = d_logvar + (beta / B) * d_logvar_kl                  # (B5) β_t/B once
        d_av = self._logvar_head_backward(d_logvar, f.logvar)               # (B6) / (B6b)
        need_dh = bool(enc) or need_input_grad
        dh_mu = backprop_layers(params, [mu_layer], [f.mu_cache], d_mu, grads, need_dh)  # (B7)
        dh_v = backprop_layers(params, [logvar_layer], [f.logvar_cache], d_av, grads, need_dh)
        dh = dh_mu + dh_v if need_dh else None                              # (B8) two heads
        if f.nz is not None:                # (B9) with the first layer's dW by npae.sparse (S2)
            dh1 = backprop_layers(params, enc[1:], f.enc[1:], dh, grads) if len(enc) > 1 else dh
            first, W1 = f.enc[0], params[enc[0].W]
            da1 = enc[0].activation.backward(dh1, first.pre, first.out)
            grads[enc[0].W] = sparse_t_matmul(f.nz, da1, W1.shape[0])      # (S2) (D, n_1)
            grads[enc[0].b] = da1.sum(axis=0)
            dX = da1 @ W1.T if need_input_grad else None
        else:
            dX = backprop_layers(params, enc, f.enc, dh, grads, need_input_grad) if enc else dh  # (B9)
        if need_input_grad and not binarized:
            dX = dX if corruption is None else corruption.backward(dX)      # (B0) noise (D8)
            if norms is not None:
                dX = l2_normalize_backward(dX, X_bar, norms)                # (B0) (N3)
        if "weight_decay" in use:
            for k in params:
                if k.endswith(".W"):
                    grads[k] = grads[k] + weight_decay_grad(params[k], self.weight_decay)  # (B10)
        if need_input_grad:
            if binarized:
                dX = np.zeros_like(X)                 # X_b = 1[U < X] is piecewise constant
            elif "recon" in use:
                if own_pass:
                    dX = dX + self._loss.target_grad(f.logits, Xb)         # (B11) losses (B4)/(B6)
                else:
                    dX = dX - d_logits                                      # (B11) −(A'−X)/(σ²_x B)
        grads = {k: grads[k] for k in params}                               # params' order
        return loss, values, grads, dX

    # -- the estimator API ---------------------------------------------------------
    def encode(self, X):
        """(μ, log σ²) of q(z|x) for each row of X, both (N, H)."""
        self._check_fitted()
        X = self._check_X(X)
        return self._forward_encoder(self.params_, X)

    def _forward_encoder(self, params, X):
        enc, mu_layer, logvar_layer, _ = self._layers()
        X = self._encoder_input(X, None)[0]                                 # (F0) X̄, no noise
        enc_caches = run_layers(params, enc, X)                             # (F1)
        h = enc_caches[-1].out if enc_caches else X
        mu = run_layers(params, [mu_layer], h)[0].out                       # (F2)
        logvar = self._logvar_head(run_layers(params, [logvar_layer], h)[0].out)  # (F3)-(F4)
        return mu, logvar

    def posterior_kl(self, X):
        """KL(q(z|x_n) ‖ p(z)) per row of X in nats, (N,): (E4), unweighted (no β).

        The diagnostic that ``values["kl"]`` is not: ``values["kl"]`` is β_t times the
        batch mean of this, the term as it enters the loss (F10).
        """
        mu, logvar = self.encode(X)
        return kl_divergence(mu, logvar)                                    # (E4) (N,)

    def transform(self, X):
        """Encode to the posterior mean μ(x), (N, H)."""
        return self.encode(X)[0]

    def decode_logits(self, Z):
        """(F7) the decoder's output logits A'(z) for codes Z (N, H) -> (N, D)."""
        self._check_fitted()
        self._validate_hyperparameters()
        Z = check_array(Z, "Z", ndim=2, dtype=self._dtype, n_features=self._H)
        *_, dec = self._layers()
        return run_layers(self.params_, dec, Z)[-1].out

    def _output_logits(self, X):
        """The decoder logits A'(μ(x)) (N, D) of the clean rows X: what ``score_items``
        ranks by (the posterior mean is decoded, as Liang et al. do at test time)."""
        return self.decode_logits(self._forward_encoder(self.params_, X)[0])

    def inverse_transform(self, Z):
        """Decode codes Z (N, H) to the mean of p(x|z): σ(A') (Bernoulli) or A' (Gaussian)."""
        return self._loss.mean(self.decode_logits(Z))

    def reconstruct(self, X):
        """Mean reconstruction x̂ = E[x | z = μ(x)], (N, D) (decodes μ, not a sample of z)."""
        return self.inverse_transform(self.transform(X))

    def reconstruction_nll(self, logits, X):
        """−log p(x|z) per example from decoder logits; X broadcasts against ``logits``."""
        self._check_fitted()
        return self._recon_per_example(self.params_, logits, X)

    def sample(self, n, random_state=None, mean=True):
        """n draws from the model: z ~ N(0, I), then the mean of p(x|z) or (``mean=False``)
        x ~ p(x|z) itself. Returns (n, D)."""
        self._check_fitted()
        n = check_positive_int(n, "n")
        rng = np.random.default_rng(random_state)
        z = rng.standard_normal((n, self._H)).astype(self._dtype)            # z ~ p(z)
        logits = self.decode_logits(z)
        if mean:
            return self._loss.mean(logits)
        if self.output == "bernoulli":
            return (rng.random(logits.shape) < sigmoid(logits)).astype(self._dtype)
        if self.output == "multinomial":
            raise ValueError("sample(mean=False) needs the number of draws N per row, which "
                             "a multinomial decoder does not model; use mean=True (softmax)")
        std_x = np.exp(0.5 * self._decoder_logvar(self.params_))
        return (logits + std_x * rng.standard_normal(logits.shape)).astype(self._dtype)

    def interpolate(self, x_start, x_end, n_steps=8, method="linear"):
        """Decoded means along a path between the codes μ(x_start) and μ(x_end), (n_steps, D).

        ``method``: "linear" or "spherical" (see :func:`interpolate_codes`).
        """
        mus = self.transform(np.stack([np.asarray(x_start), np.asarray(x_end)]))
        codes = interpolate_codes(mus[0], mus[1], n_steps, method)
        return self.inverse_transform(codes)

    # -- the ELBO of a fitted model (npae.likelihood builds its estimates on these) ---
    def elbo(self, X, n_samples=None, random_state=None, eps=None,
             max_elements=DEFAULT_MAX_ELEMENTS):
        """Per-example ELBO (E3) in nats, (N,), with the analytic KL (E4), from K draws:

            ELBO_n ≈ (1/K) Σ_k log p(x_n | z_nk) − KL_n,    z_nk = μ_n + σ_n ⊙ ε_nk  (F6)

        the training objective (F10) with β = 1, no weight decay, averaged over K draws.
        K = ``n_samples`` (default 1) draws per example from ``random_state`` (an int, a
        Generator or None), or ``eps`` (N, K, H) fixes them. Computed in float64 per
        example; see npae.likelihood for the sampled-KL estimate and log p(x).
        """
        X, eps, K, chunk = self._check_draws(X, n_samples, eps, max_elements)
        out = np.empty(X.shape[0])
        for rows, mu, logvar, e, z, log_px in self._posterior_draws(X, K, eps, random_state,
                                                                   chunk):
            out[rows] = np.mean(log_px, axis=1, dtype=np.float64) - kl_divergence(mu, logvar)  # (E3)
        return out

    def _check_draws(self, X, n_samples, eps, max_elements):
        """Validated (X, ε or None, K, examples per chunk) for :meth:`_posterior_draws`."""
        self._check_fitted()
        X = self._check_X(X)                                 # (N, D), in the model's dtype
        N, H = X.shape[0], self.latent_dim
        if eps is not None:
            eps = check_array(eps, "eps", ndim=3, dtype=self._dtype, n_features=H)
            if eps.shape[0] != N:
                raise ValueError(f"eps must have shape (N, K, H) = ({N}, K, {H}), got {eps.shape}")
            if n_samples is not None and n_samples != eps.shape[1]:
                raise ValueError(f"n_samples={n_samples} disagrees with eps, which holds "
                                 f"{eps.shape[1]} samples per example")
            n_samples = eps.shape[1]
        n_samples = check_positive_int(1 if n_samples is None else n_samples, "n_samples")
        max_elements = check_positive_int(max_elements, "max_elements")
        width = max((self.n_features_in_,) + tuple(self._sizes))
        chunk = max(1, max_elements // (n_samples * width))
        return X, eps, n_samples, chunk

    def _posterior_draws(self, X, n_samples, eps, random_state, chunk):
        """Yield (rows, μ, log σ², ε, z, log p(x|z)) per chunk of ``chunk`` examples.

        K = ``n_samples`` draws z_nk = μ_n + σ_n ⊙ ε_nk (F5)-(F6) per example, decoded as one
        (n·K, H) batch; ε (n, K, H) is ``eps[rows]`` or drawn chunk by chunk from one
        generator, in example order, so a seed gives the same numbers whatever the chunk
        size. The samples of one example always stay in one chunk.
        """
        rng = np.random.default_rng(random_state) if eps is None else None
        H = self.latent_dim
        for start in range(0, X.shape[0], chunk):
            rows = slice(start, start + chunk)
            Xc = X[rows]                                                    # (n, D)
            n = Xc.shape[0]
            e = eps[rows] if eps is not None else \
                rng.standard_normal((n, n_samples, H), dtype=self._dtype)   # ε (n, K, H)
            mu, logvar = self.encode(Xc)                                    # (F2)-(F4) (n, H)
            std = np.exp(0.5 * logvar)                                      # (F5) (n, H)
            z = mu[:, None, :] + std[:, None, :] * e                        # (F6) (n, K, H)
            logits = self.decode_logits(z.reshape(n * n_samples, H))        # (F7) (n·K, D)
            logits = logits.reshape(n, n_samples, -1)                       # (n, K, D)
            log_px = -self.reconstruction_nll(logits, Xc[:, None, :])       # −(F8) (n, K)
            yield rows, mu, logvar, e, z, log_px

    def score(self, X, y=None, *, n_samples=1, random_state=0):
        """Mean ELBO over X in nats (higher is better), with β = 1 whatever ``beta`` is.
        ``y`` is ignored (scikit-learn's model selection passes labels).

        One ε per example by default (the convention of the usual MNIST benchmarks),
        drawn from ``random_state``; see :meth:`elbo`. With a Bernoulli decoder on
        grey-level X this is a cross-entropy score, not a bound on a log-density (see the
        module docstring); on binary X it bounds log p(x).
        """
        return float(np.mean(self.elbo(X, n_samples=n_samples, random_state=random_state)))


def _uniform_fan_in(rng, n_in, n_out, dtype):
    """A weight matrix (n_in, n_out) with entries U(−r, r), r = 1/√n_in."""
    r = 1.0 / np.sqrt(n_in)
    return rng.uniform(-r, r, size=(n_in, n_out)).astype(dtype)
