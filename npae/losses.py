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

The 1/B of the batch mean enters here, at the top of the backward chain, once.
"""
from __future__ import annotations

import numpy as np

from ._validation import check_unit_interval
from .layers import positive_part, sigmoid, softplus
from .parallel import rowwise


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


@rowwise(weight=3)
def _exp_neg_abs(A, out=None):
    return np.exp(-np.abs(A), out=out)                     # E = e^{−|A|}


@rowwise(weight=5)
def _bce_terms(A, X, E, out=None):
    """softplus(A) − X A = max(A, 0) + log(1 + E) − X A, as npae.layers.softplus."""
    return np.subtract(positive_part(A) + np.log1p(E), X * A, out=out)


@rowwise(weight=4)
def _bce_grad(A, X, E, B, out=None):
    """(B3) (σ(A) − X) / B, with σ(A) = max(E, 1[A ≥ 0]) / (1 + E) as npae.layers.sigmoid."""
    sigma = np.maximum(E, A >= 0) / (1.0 + E)
    return np.divide(sigma - X, B, out=out)


LOSSES = {cls.name: cls for cls in (GaussianLoss, BernoulliLoss)}


def get_loss(name, argument="output"):
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"{argument} must be one of {sorted(LOSSES)}, got {name!r}") from None
