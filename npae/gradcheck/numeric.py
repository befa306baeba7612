"""Finite differences: entry by entry, along a direction, and the error of the check itself.

    (N1)  n_i = [L(θ + ε e_i) − L(θ − ε e_i)] / (2ε)                     error O(ε²)
    (N1') n_i = [8(L(θ + ε e_i) − L(θ − ε e_i)) − (L(θ + 2ε e_i) − L(θ − 2ε e_i))] / (12ε)
                                                                        error O(ε⁴)
    (N2)  rel(a, n) = ‖a − n‖₂ / max(‖a‖₂ + ‖n‖₂, 1e-12)        over the whole array
    (N3)  n_v = d/dt L(θ + t v) at t = 0, by (N1) or (N1') in t     for a direction v
    (N4)  ê = 4 max_i |n_i(ε) − n_i(ε/2)| + 10 u max|L| / ε         the check's own error
    (N5)  with b = max_i |a_i| and max_i |a_i − n_i| ≤ ê:
              b ≥ R ê  (R = 100)     resolved: pass
              b ≤ θ ê  (θ = 1/100)   a rounding-level zero: pass
              otherwise              cannot judge: the gradient is below the resolution

(N4) estimates how far the numeric gradient n can be from the true one: halving ε
doubles the rounding part (≈ u|L|/ε) and shrinks the truncation part 16-fold (order 4),
so the disagreement of the two stencils bounds both; the second term, with u = 2⁻⁵³ the
unit roundoff and |L| the largest loss value seen, is a floor for when the two agree by
chance.

(N5), what an agreement within ê proves. Let g be the true gradient and suppose
|n − g| ≤ ê, as (N4) estimates. An array a with max|a − n| ≤ ê is then within

    |a − g| ≤ |a − n| + |n − g| ≤ 2ê                                         (N5a)

of the truth, and nothing more is known. The usual bugs are factors: a = c g with
c = −1 (sign), 2, ½, B, 1/B, β, … . Such an a is off by |a − g| = |1 − 1/c| |a|, so
(N5a) rules it out exactly when |1 − 1/c| b > 2ê. Three regimes follow:

* b ≥ R ê, R = 100. Every factor with |1 − 1/c| > 2/R = 2 % would have failed: the
  sign, 2, ½, B and every hyperparameter that is not within 2 % of 1. The array is
  checked to 2 % of its largest entry, which is what a pass promises when the relative
  test (rel ≤ tol) is out of reach (a large |L|, a gradient with tiny entries).
* b ≤ θ ê, θ = 1/100. The analytic side says "this array's gradient is nothing" and the
  numbers agree: |g| ≤ (2 + θ) ê, zero at this check's resolution. This is the
  rounding-level zero that must pass: every ρ̂_j = ρ of a KL penalty, log σ² = 0 in a
  VAE's KL, a ReLU's dead units, a symmetric initialization. Their analytic values are
  exact zeros or rounding, u times the size of the terms they are computed from,
  while (N4) is at least 10 u |L| / ε = 10⁴ u |L|: the KL penalty at ρ̂ = ρ has
  b ≈ 9e-5 ê, a hundred times below θ (tests/test_gradcheck.py measures it). A
  factor c applied to such a gradient is invisible to any finite-difference check at
  this step, and so is a term left out whose gradient is below ê: the pass says "zero
  to within (2 + θ) ê", no more.
* θ ê < b < R ê: cannot judge. The analytic values are neither rounding nor resolved,
  and by (N5a) a sign flip can hide whenever b ≤ ê, a factor 2 whenever b ≤ 4ê, a 10 %
  error whenever b ≤ 22ê. Example: L(W) = 2·10⁵ + 10⁻⁷ Σ sin(W_i) has ê ≈ 4e-7 from the rounding of
  |L| alone, b ≈ 1e-7, and a backward returning −1× or 2× the truth agrees within ê.
  Such a row is never passed. What helps: a smaller constant offset in the loss (the
  rounding part 10 u |L| / ε shrinks with |L|), a larger scale of the function, or, for
  a vector-Jacobian product, another upstream gradient.
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
        value = self.f()
        if np.iscomplexobj(value):
            raise TypeError(f"the loss is complex ({value!r}); gradient checks need a real "
                            "loss: the imaginary part would be cast away")
        value = float(value)
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
    return 4.0 * disagreement + rounding_floor(largest_loss, eps)


# (N5): b = max|a| against ê; see the module docstring for the derivation.
RESOLVED = 100.0        # R: b ≥ R ê is checked to 2ê/b ≤ 2 % of its largest entry
ROUNDING_ZERO = 1e-2    # θ: b ≤ θ ê is a rounding-level zero


def resolution(largest_analytic, estimate):
    """(N5) for a row whose max |a − n| is within ``estimate`` = ê.

    Returns ``"resolved"`` (b ≥ R ê), ``"zero"`` (b ≤ θ ê) or ``"below"`` (cannot judge).
    """
    b = float(largest_analytic)
    if b >= RESOLVED * estimate:
        return "resolved"
    if b <= ROUNDING_ZERO * estimate:
        return "zero"
    return "below"


def rounding_floor(largest_loss, eps):
    """The second term of (N4): the rounding of |L| alone, 10 u max|L| / ε."""
    return 10.0 * U * largest_loss / eps
