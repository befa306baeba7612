"""Dense layer and activations, each a forward/backward pair.

Notation (docs/notation.md): a batch X has one example per row.

Dense layer, X (B, n_in), W (n_in, n_out), b (n_out,):

    (F1)  A = X W + b                                   (B, n_out)

Given the upstream gradient dA = ∂L/∂A (B, n_out), the chain rule gives

    (B1)  ∂L/∂W = Xᵀ dA                                 (n_in, n_out)
    (B2)  ∂L/∂b = Σ_n dA_n   (sum over the batch rows)  (n_out,)
    (B3)  ∂L/∂X = dA Wᵀ                                 (B, n_in)

Activations act elementwise, h = f(a), so their backward is a product with f'(a),
written through whichever of a or h makes it cheapest and stable:

    identity  f(a) = a                        f'(a) = 1
    sigmoid   f(a) = σ(a) = 1 / (1 + e^{−a})  f'(a) = h (1 − h)
    tanh      f(a) = tanh(a)                  f'(a) = 1 − h²
    relu      f(a) = max(a, 0)                f'(a) = 1[a > 0]   (0 chosen at the kink a = 0)
    softplus  f(a) = log(1 + e^{a})           f'(a) = σ(a)

The sigmoid and softplus are written with e^{−|a|} ≤ 1, so they never overflow,
for pre-activations of any size.
"""
from __future__ import annotations

import numpy as np


def dense_forward(X, W, b):
    """(F1) A = X W + b, X (B, n_in) -> A (B, n_out)."""
    A = X @ W
    A += b                    # in place: broadcasting b over the rows needs no second array
    return A


def dense_backward(dA, X, W, need_dX=True):
    """(B1)-(B3): returns (dX, dW, db); dX is None when ``need_dX`` is false."""
    dW = X.T @ dA                                   # (B1) (n_in, n_out)
    db = dA.sum(axis=0)                             # (B2) (n_out,)
    dX = dA @ W.T if need_dX else None              # (B3) (B, n_in)
    return dX, dW, db


def sigmoid(a):
    """σ(a) = 1/(1+e^{−a}) for a ≥ 0 and e^{a}/(1+e^{a}) for a < 0, both via e^{−|a|}."""
    e = np.exp(-np.abs(a))                          # in (0, 1]: cannot overflow
    numerator = np.maximum(e, a >= 0)               # 1 where a ≥ 0 (as e ≤ 1), else e; NaN stays
    return numerator / (1.0 + e)                    # (np.where(a >= 0, 1, e) is 7× slower)


def softplus(a):
    """log(1 + e^{a}) = max(a, 0) + log(1 + e^{−|a|}), exact and overflow-free."""
    return positive_part(a) + np.log1p(np.exp(-np.abs(a)))


def positive_part(a):
    """max(a, 0), NaN kept. Written against an array of zeros: NumPy's loop with a
    scalar 0 is 2-3× slower here (for the same bits, +0 at a = −0 included)."""
    a = np.asarray(a)
    if a.dtype.kind != "f" or a.ndim == 0:
        return np.maximum(a, 0)
    return np.maximum(a, np.zeros(a.shape, a.dtype))


def logsumexp(a, axis=-1):
    """log Σ exp(a) along ``axis`` = m + log Σ exp(a − m), m the maximum along ``axis``.

    Subtracting m makes the largest term e⁰ = 1: nothing overflows, and the sum is at
    least 1, so its log is finite. A slice that is all −inf gives −inf (log of a sum of
    zeros), not NaN. (softplus(a) is the two-term case log(e⁰ + eᵃ).)
    """
    a = np.asarray(a)
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)                 # an all −inf slice: exp(−inf − 0) = 0
    with np.errstate(divide="ignore"):                   # log 0 = −inf for such a slice
        out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return np.squeeze(out, axis=axis)


class Identity:
    name = "identity"

    @staticmethod
    def forward(a):
        return a

    @staticmethod
    def backward(dh, a, h):
        return dh                                   # f'(a) = 1


class Sigmoid:
    name = "sigmoid"

    @staticmethod
    def forward(a):
        return sigmoid(a)

    @staticmethod
    def backward(dh, a, h):
        return dh * h * (1 - h)                     # σ'(a) = h (1 − h)


class Tanh:
    name = "tanh"

    @staticmethod
    def forward(a):
        return np.tanh(a)

    @staticmethod
    def backward(dh, a, h):
        return dh * (1 - h * h)                     # tanh'(a) = 1 − h²


class ReLU:
    name = "relu"

    @staticmethod
    def forward(a):
        return positive_part(a)                     # max(a, 0)

    @staticmethod
    def backward(dh, a, h):
        return dh * (a > 0)                         # 1[a > 0]; 0 at the kink


class Softplus:
    name = "softplus"

    @staticmethod
    def forward(a):
        return softplus(a)

    @staticmethod
    def backward(dh, a, h):
        return dh * sigmoid(a)                      # softplus'(a) = σ(a)


ACTIVATIONS = {cls.name: cls for cls in (Identity, Sigmoid, Tanh, ReLU, Softplus)}


def get_activation(name, argument="activation"):
    """Look an activation up by name; the error names the argument and the choices."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"{argument} must be one of {sorted(ACTIVATIONS)}, got {name!r}") from None
