"""Finite differences: entry by entry, along a direction, and the error of the check itself.

    (N1)  n_i = [L(θ + ε e_i) − L(θ − ε e_i)] / (2ε)                     error O(ε²)
    (N1') n_i = [8(L(θ + ε e_i) − L(θ − ε e_i)) − (L(θ + 2ε e_i) − L(θ − 2ε e_i))] / (12ε)
                                                                        error O(ε⁴)
    (N2)  rel(a, n) = ‖a − n‖₂ / max(‖a‖₂ + ‖n‖₂, 1e-12)        over the whole array
    (N3)  n_v = d/dt L(θ + t v) at t = 0, by (N1) or (N1') in t     for a direction v
    (N4)  ê = 4 max_i |n_i(ε) − n_i(ε/2)| + 10 u max|L| / ε         the check's own error

(N4) estimates how far the numeric gradient n can be from the true one: halving ε
doubles the rounding part (≈ u|L|/ε) and shrinks the truncation part 16-fold (order 4),
so the disagreement of the two stencils bounds both; the second term, with u = 2⁻⁵³ the
unit roundoff and |L| the largest loss value seen, is a floor for when the two agree by
chance.
"""
from __future__ import annotations

import numpy as np

U = np.finfo(np.float64).eps / 2        # unit roundoff of float64, 2⁻⁵³ ≈ 1.1e-16


def relative_error(analytic, numeric):
    """(N2): ``‖a − n‖ / max(‖a‖ + ‖n‖, 1e-12)``, 2-norms over the whole array."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    return float(np.linalg.norm(a - n) / max(np.linalg.norm(a) + np.linalg.norm(n), 1e-12))


class Tracked:
    """Wrap ``f() -> float``, remembering the largest |f| seen (for the rounding bound)."""

    def __init__(self, f):
        self.f, self.largest = f, 0.0

    def __call__(self):
        value = float(self.f())
        if np.isfinite(value):
            self.largest = max(self.largest, abs(value))
        return value


def _stencil(at, eps, order):
    """(N1) or (N1') from ``at(t)``, the function moved by t along the checked coordinate."""
    d1 = at(eps) - at(-eps)
    if order == 2:
        return d1 / (2.0 * eps)                                          # (N1)
    d2 = at(2 * eps) - at(-2 * eps)
    return (8.0 * d1 - d2) / (12.0 * eps)                                # (N1')


def _check_order(order):
    if order not in (2, 4):
        raise ValueError(f"order must be 2 or 4, got {order!r}")


def numerical_gradient(f, x, eps=1e-3, order=4):
    """Central differences, (N1) or (N1'), of the scalar ``f()`` with respect to array ``x``.

    ``x`` is perturbed in place, one entry at a time, and restored exactly afterwards;
    ``f`` takes no arguments and must read ``x`` (e.g. a closure over a params dict).
    """
    if x.dtype != np.float64:
        raise TypeError(f"gradient checks need float64 arrays, got {x.dtype}; build the "
                        "model with dtype=np.float64")
    _check_order(order)
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)   # views: writing flat writes x
    for i in range(flat.size):
        old = flat[i]

        def at(t):
            flat[i] = old + t
            try:
                return f()
            finally:
                flat[i] = old

        gflat[i] = _stencil(at, eps, order)
    return grad


def directional_derivative(f, arrays, directions, eps, order=4):
    """(N3): the derivative of ``f()`` along ``directions`` (one array per entry of ``arrays``).

    Every array is moved together, ``x ← x₀ + t v``, and restored exactly afterwards.
    """
    _check_order(order)
    saved = [x.copy() for x in arrays]

    def at(t):
        for x, x0, v in zip(arrays, saved, directions):
            np.add(x0, t * v, out=x)
        try:
            return f()
        finally:
            for x, x0 in zip(arrays, saved):
                x[...] = x0

    return _stencil(at, eps, order)


def error_estimate(numeric, numeric_half, largest_loss, eps):
    """(N4): the estimated absolute error of ``numeric`` (stencil at ε) from the one at ε/2."""
    numeric, numeric_half = np.asarray(numeric), np.asarray(numeric_half)
    disagreement = float(np.max(np.abs(numeric - numeric_half), initial=0.0))
    if not np.isfinite(disagreement):
        return np.inf
    return 4.0 * disagreement + 10.0 * U * largest_loss / eps
