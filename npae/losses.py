"""Reconstruction losses on the output layer's pre-activation A (logits).

Each loss owns its output nonlinearity, so the pair (output, loss) is derived once and
never silently assumed: x̂ = mean(A). As every npae loss (docs/notation.md), each is
summed over features and averaged over the batch of B examples; ℒ is the loss. Tags
are this module's; cited from elsewhere they read "losses (F4)".

Gaussian output (identity, squared error):

    (F1)  x̂ = A
    (F2)  ℒ = (1/B) Σ_n ½ ‖A_n − X_n‖²
    (B1)  ∂ℒ/∂A = (A − X) / B
    (B2)  ∂ℒ/∂X = −(A − X) / B        (the target's own gradient, for input checks)

Bernoulli output (sigmoid, cross-entropy on logits):

    (F3)  x̂ = σ(A)
    (F4)  ℒ = −(1/B) Σ_nd [X log σ(A) + (1 − X) log(1 − σ(A))]
            = (1/B) Σ_nd [softplus(A) − X A]
          using log σ(a) = −softplus(−a), log(1 − σ(a)) = −softplus(a), and
          softplus(a) − softplus(−a) = a.
    (B3)  ∂ℒ/∂A = (σ(A) − X) / B      since softplus'(a) = σ(a)
    (B4)  ∂ℒ/∂X = −A / B

The second form of (F4) is finite for every A. The first, evaluated as written, fails
long before any exponential overflows: σ(a) rounds to exactly 1 at a ≈ 36.7 in float64
(16.6 in float32), so log(1 − σ(a)) = log 0 = −inf, and a target x = 1 then gives
(1 − x) · (−inf) = 0 · (−inf) = NaN (any other x gives +inf). On the other side
log σ(a) = −inf once σ(a) is 0: below a ≈ −709.8 (float64) when σ is computed as
1/(1 + e^{−a}), where e^{−a} overflows — the only overflow — and below ≈ −745 (float64)
/ −104 (float32) with npae's stable sigmoid.

Multinomial output (softmax over the D features, Liang et al. 2018): row n of X holds
counts x_ni ≥ 0 (clicks of user n on item i), N_n = Σ_i x_ni of them, each drawn from
the categorical distribution softmax(A_n). Up to the multinomial coefficient (constant
in A), the negative log-likelihood of row n is −Σ_i x_ni log softmax(A_n)_i:

    (F5)  lse(a) = m + log Σ_i e^{a_i − m},   m = max_i a_i      log-sum-exp, one per row
    (F6)  x̂_n = softmax(A_n) = e^{A_n − lse(A_n)}
    (F7)  ℒ = −(1/B) Σ_n Σ_i x_ni log softmax(A_n)_i = (1/B) Σ_n [N_n lse(A_n) − Σ_i x_ni A_ni]
    (B5)  ∂ℒ/∂A_ni = (N_n softmax(A_n)_i − x_ni) / B           since ∂lse(a)/∂a_i = softmax(a)_i
    (B6)  ∂ℒ/∂x_ni = −log softmax(A_n)_i / B = (lse(A_n) − A_ni) / B

(B5) is (N_n x̂ − x)/B, not (x̂ − x)/B: the Bernoulli and Gaussian shortcut "prediction
minus target" holds only when each row's counts sum to 1. Subtracting m in (F5) makes
every exponent ≤ 0, so nothing overflows and the largest term is e^0 = 1 (the sum is
in [1, D]): log softmax = A − lse(A) is finite for logits of ±1e4 in float32, where
e^{1e4} as written in (F6) would be inf and inf/inf NaN.

The 1/B of the batch mean enters here, at the top of the backward chain, once.
"""
from __future__ import annotations

import numpy as np

from ._validation import check_unit_interval
from .layers import positive_part, sigmoid, softplus


class GaussianLoss:
    """½ squared error with identity output (a Gaussian likelihood with unit variance, up to a constant)."""

    name = "gaussian"

    @staticmethod
    def mean(A):
        return A                                           # (F1)

    @staticmethod
    def per_example(A, X):
        return 0.5 * np.sum((A - X) ** 2, axis=1)         # (F2) before the mean, (B,)

    @staticmethod
    def entries(A, X):
        return 0.5 * (A - X) ** 2                          # (F2) per entry, (B, D)

    @staticmethod
    def value(A, X):
        return float(np.sum((A - X) ** 2) * (0.5 / A.shape[0]))   # (F2)

    @staticmethod
    def grad(A, X):
        return (A - X) / A.shape[0]                        # (B1) (B, D)

    @staticmethod
    def value_and_grad(A, X, grad=True):
        """(F2) and, if ``grad``, (B1) (else None): the pair a model's step needs."""
        return GaussianLoss.value(A, X), (GaussianLoss.grad(A, X) if grad else None)

    @staticmethod
    def target_grad(A, X):
        return (X - A) / A.shape[0]                        # (B2)

    @staticmethod
    def check_targets(X, name="X"):
        return X


class BernoulliLoss:
    """Binary cross-entropy on logits, with x̂ = σ(A); targets must lie in [0, 1]."""

    name = "bernoulli"

    @staticmethod
    def mean(A):
        return sigmoid(A)                                  # (F3)

    @staticmethod
    def per_example(A, X):
        return np.sum(softplus(A) - X * A, axis=1)         # (F4) before the mean, (B,)

    @staticmethod
    def entries(A, X):
        return softplus(A) - X * A                         # (F4) per entry, (B, D)

    @staticmethod
    def value(A, X):
        return float(np.sum(_bce_terms(A, X, _exp_neg_abs(A))) / A.shape[0])   # (F4)

    @staticmethod
    def grad(A, X):
        return _bce_grad(A, X, _exp_neg_abs(A), A.shape[0])                    # (B3) (B, D)

    @staticmethod
    def value_and_grad(A, X, grad=True):
        """(F4) and, if ``grad``, (B3) (else None), from one exponential E = e^{−|A|}:
        softplus(A) and σ(A) are both written through it, so a model that needs both
        computes it once. The same bits as ``value`` and ``grad`` called apart."""
        E = _exp_neg_abs(A)                                # in (0, 1]: cannot overflow
        value = float(np.sum(_bce_terms(A, X, E)) / A.shape[0])                # (F4)
        return value, (_bce_grad(A, X, E, A.shape[0]) if grad else None)      # (B3)

    @staticmethod
    def target_grad(A, X):
        return -A / A.shape[0]                             # (B4)

    @staticmethod
    def check_targets(X, name="X"):
        return check_unit_interval(X, name)


class MultinomialLoss:
    """Multinomial negative log-likelihood on logits, with x̂ = softmax(A); counts X ≥ 0."""

    name = "multinomial"

    @staticmethod
    def log_softmax(A):
        """log softmax(A) = A − lse(A) per row, (B, D), stable by (F5)."""
        m = np.max(A, axis=-1, keepdims=True)                             # (B, 1)
        lse = m + np.log(np.sum(np.exp(A - m), axis=-1, keepdims=True))   # (F5) (B, 1)
        return A - lse

    @staticmethod
    def mean(A):
        return np.exp(MultinomialLoss.log_softmax(A))                     # (F6) (B, D)

    @staticmethod
    def per_example(A, X):
        return -np.sum(X * MultinomialLoss.log_softmax(A), axis=-1)       # (F7) before the mean, (B,)

    @staticmethod
    def value(A, X):
        return float(-np.sum(X * MultinomialLoss.log_softmax(A)) / A.shape[0])   # (F7)

    @staticmethod
    def grad(A, X, log_p=None):
        """(B5) ∂ℒ/∂A (B, D); ``log_p`` = log softmax(A) when the caller has it already."""
        log_p = MultinomialLoss.log_softmax(A) if log_p is None else log_p   # (F5)-(F6)
        N = np.sum(X, axis=1, keepdims=True)                              # N_n (B, 1)
        return (N * np.exp(log_p) - X) / A.shape[0]                       # (B5) (B, D)

    @staticmethod
    def value_and_grad(A, X, grad=True):
        """(F7) and, if ``grad``, (B5) (else None), from one log-softmax."""
        log_p = MultinomialLoss.log_softmax(A)                            # (F5)-(F6) (B, D)
        value = float(-np.sum(X * log_p) / A.shape[0])                    # (F7)
        return value, (MultinomialLoss.grad(A, X, log_p) if grad else None)   # (B5)

    @staticmethod
    def target_grad(A, X):
        return -MultinomialLoss.log_softmax(A) / A.shape[0]               # (B6)

    @staticmethod
    def check_targets(X, name="X"):
        lo = float(np.min(X))
        if lo < 0.0:
            raise ValueError(f"{name} must be counts >= 0 for a multinomial loss (e.g. 0/1 "
                             f"clicks), got a minimum of {lo:g}")
        return X


def _exp_neg_abs(A):
    return np.exp(-np.abs(A))                              # E = e^{−|A|}


def _bce_terms(A, X, E):
    """softplus(A) − X A = max(A, 0) + log(1 + E) − X A, as npae.layers.softplus."""
    return positive_part(A) + np.log1p(E) - X * A


def _bce_grad(A, X, E, B):
    """∂L/∂A of the batch-mean Bernoulli loss, with E = e^{−|A|}:

        (B3)  ∂L/∂A = (σ(A) − X) / B

    σ(A) = max(E, 1[A ≥ 0]) / (1 + E) as npae.layers.sigmoid.
    """
    sigma = np.maximum(E, A >= 0) / (1.0 + E)
    return (sigma - X) / B


LOSSES = {cls.name: cls for cls in (GaussianLoss, BernoulliLoss, MultinomialLoss)}


def get_loss(name, argument="output"):
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"{argument} must be one of {sorted(LOSSES)}, got {name!r}") from None
