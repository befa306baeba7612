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

import threading

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
    def value(A, X):
        return float(np.sum((A - X) ** 2) * (0.5 / A.shape[0]))   # (F2)

    @staticmethod
    def grad(A, X):
        return (A - X) / A.shape[0]                        # (B1) (B, D)

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
    def value(A, X):
        terms = _shared_exp.terms(A, X)                    # softplus(A) − X A, keeping e^{−|A|}
        return float(np.sum(terms) / A.shape[0])           # (F4); the sum on one thread

    @staticmethod
    def grad(A, X):
        E, A_then = _shared_exp.take(A)                    # value(A, X)'s e^{−|A|}, if any
        if E is None:
            return _bce_grad(A, X, A.shape[0])
        return _bce_grad_reusing(A, X, E, A_then, A.shape[0])

    @staticmethod
    def target_grad(A, X):
        return -A / A.shape[0]                             # (B4)

    @staticmethod
    def check_targets(X, name="X"):
        return check_unit_interval(X, name)


class _SharedExp(threading.local):
    """e^{−|A|} computed by ``BernoulliLoss.value(A, X)``, handed to ``grad(A, X)``.

    A model computes the loss value and then its gradient on the same logits A; both
    need e^{−|A|} (softplus and σ, npae.layers), the only exponential of the pair. value
    keeps A, a copy of A and E = e^{−|A|}; grad uses E for each block of rows whose
    entries still equal the copy, and recomputes the others (A changed in place), so a
    stale E is never used. The copy and the comparison are two cheap passes in place
    of abs, negate and exp. One entry per thread, dropped by grad; arrays above
    ``MAX_SIZE`` entries are not kept.
    """

    MAX_SIZE = 1 << 22

    def terms(self, A, X):
        """softplus(A) − X A by rows (one pass of the pool), keeping (A, its copy, E)."""
        A = np.asarray(A)
        if A.dtype.kind != "f" or A.size > self.MAX_SIZE:
            self.entry = None
            return _bce_terms(A, X, np.exp(-np.abs(A)), None)
        E, A_copy = np.empty_like(A), np.empty_like(A)
        terms = _bce_terms(A, X, E, A_copy)
        self.entry = (A, A_copy, E)
        return terms

    def take(self, A):
        entry, self.entry = getattr(self, "entry", None), None
        if entry is None or entry[0] is not A:
            return None, None
        return entry[2], entry[1]


_shared_exp = _SharedExp()


@rowwise(weight=3)
def _exp_neg_abs(A, out=None):
    return np.exp(-np.abs(A), out=out)                     # in (0, 1]: cannot overflow


@rowwise(weight=8)
def _bce_terms(A, X, E, A_copy, out=None):
    """softplus(A) − X A = max(A, 0) + log(1 + E) − X A; fills E = e^{−|A|} and A_copy
    on the way (E already computed when A_copy is None)."""
    if A_copy is not None:
        np.copyto(A_copy, A)
        np.exp(-np.abs(A), out=E)                          # in (0, 1]: cannot overflow
    return np.subtract(positive_part(A) + np.log1p(E), X * A, out=out)   # softplus(A) − X A


@rowwise(weight=8)
def _bce_grad(A, X, B, out=None):
    return np.divide(sigmoid(A) - X, B, out=out)           # (B3) (σ(A) − X) / B


@rowwise(weight=6)
def _bce_grad_reusing(A, X, E, A_then, B, out=None):
    if not np.array_equal(A, A_then):                      # changed since value(): recompute
        E = _exp_neg_abs(A)
    sigma = np.maximum(E, A >= 0) / (1.0 + E)              # σ(A) as npae.layers.sigmoid
    return np.divide(sigma - X, B, out=out)                # (B3) (σ(A) − X) / B


LOSSES = {cls.name: cls for cls in (GaussianLoss, BernoulliLoss)}


def get_loss(name, argument="output"):
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"{argument} must be one of {sorted(LOSSES)}, got {name!r}") from None
