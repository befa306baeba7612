"""How good is a VAE as a density model? The ELBO and the importance-sampled log p(x).

Notation as in npae.models.vae (and docs/notation.md; tags cited from the model read
"vae (F8)"): an example x_n (D,), its posterior approximation
q(z|x_n) = N(μ_n, diag σ²_n) with σ_n = exp(½ log σ²_n), K samples per example

    (I1)  z_nk = μ_n + σ_n ⊙ ε_nk,        ε_nk ~ N(0, I),   ε of shape (N, K, H)

and the log importance weight of each sample, p(x, z) over the proposal q(z|x):

    (I2)  log w_nk = log p(x_n | z_nk) + log p(z_nk) − log q(z_nk | x_n)
    (I3)  log p(z)   = −½ Σ_j (log 2π + z_j²)
    (I4)  log q(z|x) = −½ Σ_j (log 2π + log σ²_j + ε_j²)        since (z_j − μ_j)/σ_j = ε_j

and log p(x|z) = −recon (vae (F8)). What the numbers below are depends on the decoder
and the data:

* Gaussian decoder: a normalized density on R^D, so they are log-densities in nats;
* Bernoulli decoder on binary x ∈ {0, 1}^D: a probability mass function, so they are
  log-probabilities in nats (a true log-likelihood);
* Bernoulli decoder on grey-level x ∈ (0, 1) (MNIST as pixels/255): NOT a density.
  For one pixel ∫₀¹ λˣ(1 − λ)¹⁻ˣ dx = (2λ − 1)/log(λ/(1 − λ)) ≤ ½ for every λ, so
  p(x|z) is unnormalized and log p̂ is a cross-entropy score, comparable between models
  on the same data but not a log-likelihood (and no bound on one). For a true
  log-likelihood on MNIST use :func:`binarized_log_likelihood`: binary test images,
  ideally a model trained with dynamic binarization (``VAE(binarize=True)``), as in the
  IWAE paper's Table 1 (Burda et al. 2016, K = 5000).

The ELBO (vae (E1) and (E3)), estimated with the K samples, two ways:

    (I5)  analytic KL:  ELBO_n ≈ (1/K) Σ_k log p(x_n | z_nk) − KL_n
    (I6)  sampled:      ELBO_n ≈ (1/K) Σ_k log w_nk                     E_q of (I2)

Both are unbiased for the same ELBO; the model trains on (I5) with K = 1. (I5) often
has the lower variance (the KL part is exact), but not always: when q is the exact
posterior every log w_nk equals log p(x_n), so (I6) has zero variance while the
log p(x|z) of (I5) still varies with z (tests/test_likelihood.py checks the first).

Importance sampling (Burda, Grosse & Salakhutdinov 2016): p(x) = E_q[w], so

    (I7)  log p̂_K(x_n) = log (1/K) Σ_k w_nk = LSE_k(log w_nk) − log K

E[log p̂_K] ≤ log p(x) (Jensen), it never decreases with K, equals the sampled ELBO
(I6) at K = 1, and tends to log p(x) as K → ∞. Why the log-sum-exp: exp of a float64
overflows above 709.78 and underflows to 0 below −745.13, and log-weights can leave
that range either way — they are sums over D = 784 pixels, spread over hundreds of
nats across examples, and a Gaussian decoder with a small variance σ²_x gives large
positive ones (each pixel contributes up to −½ log(2π σ²_x), +3.7 nats at σ²_x = 1e-4,
about +2900 over 784 pixels). (A Bernoulli MNIST model's log w ≈ −100 is not itself a
problem: e^−100 ≈ 3.7e-44 is a normal float64.) With the maximum subtracted every
exponent is ≤ 0 and at least one term is exactly 1, so neither can happen:

    (I8)  LSE_k(a_k) = m + log Σ_k exp(a_k − m),     m = max_k a_k

The model draws (I1) and computes log p(x|z) and the analytic ELBO (I5) itself
(:meth:`VAE.elbo <npae.models.vae.VAE.elbo>`, which ``VAE.score`` averages); this module
builds the sampled estimates on those draws. Everything is batched over examples and
samples: the decoder sees N·K codes as one (N·K, H) matrix. Only when N·K·width would
exceed ``max_elements`` are the examples taken in chunks (the samples of one example
always stay together); ε is drawn chunk by chunk from one generator, in example order,
so a seed gives the same numbers whatever the chunk size.
"""
from __future__ import annotations

import numpy as np

from ._validation import check_array, check_choice, check_unit_interval
from .layers import logsumexp  # (I8), the max-subtracted log-sum-exp
from .models.vae import DEFAULT_MAX_ELEMENTS, LOG_2PI, VAE

def _check_model(model):
    if not isinstance(model, VAE):
        raise TypeError(f"model must be a fitted npae VAE, got {type(model).__name__}")


def log_importance_weights(model, X, n_samples=None, random_state=None, eps=None,
                           max_elements=DEFAULT_MAX_ELEMENTS):
    """(I2) log w_nk for K = ``n_samples`` draws per example, (N, K), in float64.

    ``eps`` (N, K, H) fixes the draws (K is then its second size); otherwise they come
    from ``random_state`` (an int, a Generator or None), K = ``n_samples`` (default 1).
    """
    _check_model(model)
    X, eps, K, chunk = model._check_draws(X, n_samples, eps, max_elements)
    out = np.empty((X.shape[0], K))
    for rows, mu, logvar, e, z, log_px in model._posterior_draws(X, K, eps, random_state,
                                                                chunk):
        log_pz = -0.5 * np.sum(LOG_2PI + z * z, axis=-1)                    # (I3) (n, K)
        log_qz = -0.5 * np.sum(LOG_2PI + logvar[:, None, :] + e * e, axis=-1)  # (I4) (n, K)
        out[rows] = log_px + log_pz - log_qz                                # (I2)
    return out


def elbo(model, X, n_samples=None, random_state=None, eps=None, kl="analytic",
         max_elements=DEFAULT_MAX_ELEMENTS):
    """Per-example ELBO estimate in nats, (N,), from K = ``n_samples`` draws per example.

    ``kl="analytic"`` is (I5), the model's training objective with β = 1;
    ``kl="sampled"`` is (I6), the mean log-weight. K = ``n_samples`` (default 1), or
    ``eps`` (N, K, H) fixes the draws.
    """
    check_choice(kl, "kl", ("analytic", "sampled"))
    if kl == "sampled":
        return np.mean(log_importance_weights(model, X, n_samples, random_state, eps,
                                              max_elements), axis=1)        # (I6)
    _check_model(model)
    return model.elbo(X, n_samples, random_state, eps, max_elements)       # (I5)


def importance_sampled_log_likelihood(model, X, n_samples=None, random_state=None, eps=None,
                                      max_elements=DEFAULT_MAX_ELEMENTS):
    """(I7) log p̂_K(x_n) = LSE_k(log w_nk) − log K per example, (N,), in nats.

    A lower bound on log p(x_n) in expectation that tightens as K grows; K =
    ``n_samples`` (≥ 1, default 1000), or ``eps`` (N, K, H) fixes the draws. With a
    Bernoulli decoder this is a log-likelihood only for binary X; on grey-level X it is
    a cross-entropy score, not log p(x) (see the module docstring and
    :func:`binarized_log_likelihood`).
    """
    if n_samples is None and eps is None:
        n_samples = 1000
    log_w = log_importance_weights(model, X, n_samples, random_state, eps, max_elements)
    return logsumexp(log_w, axis=1) - np.log(log_w.shape[1])               # (I7)


def binarize(X, random_state=0):
    """One stochastic binarization of grey levels: X_b = 1[U < X], U ~ U(0, 1), (N, D).

    Each pixel becomes a Bernoulli draw with its grey level as probability, from
    ``random_state`` (same seed => same images): one fixed binary data set, as
    Salakhutdinov & Murray (2008) made for MNIST. Training with ``VAE(binarize=True)``
    instead redraws the pixels at every step (dynamic binarization, Burda, Grosse &
    Salakhutdinov 2016).
    """
    X = check_unit_interval(check_array(X, "X", ndim=2), "X")
    U = np.random.default_rng(random_state).random(X.shape)
    return (U < X).astype(X.dtype)                                          # X_b = 1[U < X]


def binarized_log_likelihood(model, X, n_samples=5000, random_state=0, binarize_seed=0,
                             max_elements=DEFAULT_MAX_ELEMENTS):
    """A true log-likelihood for a Bernoulli VAE: (I7) on binarized test images.

    X (grey levels in [0, 1]) is binarized once by :func:`binarize` with ``binarize_seed``
    (already binary X is unchanged), then log p̂_K(x_b) is estimated with K =
    ``n_samples`` importance samples from ``random_state``. On binary data the Bernoulli
    decoder is a probability mass function, so this is log p(x_b) in nats (a stochastic
    lower bound, tight as K grows), the number the IWAE paper's Table 1 reports (K = 5000,
    dynamically binarized MNIST). The model is best trained with ``binarize=True`` (a
    model trained on grey levels is a valid but mismatched model of binary images).

    On MNIST, npae's reference VAE (784-400-20, ReLU, 10 epochs, seed 0) trained with
    ``binarize=True`` gives, on the first 500 test images binarized once (seed 0),
    −100.65 ± 1.24 (K = 1), −95.83 (K = 100), −95.21 ± 1.17 (K = 1000) nats, printed by
    ``pytest tests/test_likelihood.py -m mnist -s``; K = 5000 gave −94.90 ± 1.17
    (measured once, same setting).

    Returns a dict: ``log_likelihood`` (the mean over examples), ``standard_error`` (over
    examples), ``per_example`` (N,), ``n_samples`` K, ``n_examples`` N and
    ``binarization``, a sentence stating how the test images were binarized.
    """
    _check_model(model)
    if model.output != "bernoulli":
        raise ValueError(f"binarized_log_likelihood needs output='bernoulli' (a Gaussian "
                         f"decoder is already a density: use importance_sampled_log_likelihood), "
                         f"got output={model.output!r}")
    Xb = binarize(X, binarize_seed)
    ll = importance_sampled_log_likelihood(model, Xb, n_samples, random_state,
                                           max_elements=max_elements)       # (I7) (N,)
    N = ll.shape[0]
    return {"log_likelihood": float(ll.mean()),
            "standard_error": float(ll.std(ddof=1) / np.sqrt(N)) if N > 1 else float("nan"),
            "per_example": ll, "n_samples": int(n_samples), "n_examples": int(N),
            "binarization": f"each test pixel binarized once, x_b = 1[u < x], u ~ U(0, 1) "
                            f"(seed {binarize_seed}); K = {int(n_samples)} importance samples"}
