"""Optimizers that update a parameter dict in place.

With g = ∂L/∂θ at step t = 1, 2, …:

SGD:       (O1)  θ ← θ − η g
Momentum:  (O2)  v ← μ v − η g ;  θ ← θ + v                       (heavy ball)
Adam:      (O3)  m ← β₁ m + (1 − β₁) g ;  s ← β₂ s + (1 − β₂) g²
           (O4)  m̂ = m / (1 − β₁ᵗ) ;  ŝ = s / (1 − β₂ᵗ)
           (O5)  θ ← θ − η m̂ / (√ŝ + ε)
(Kingma & Ba 2015, Algorithm 1.) State is created lazily, one array per parameter,
in the parameter's dtype; updates are written in place to avoid fresh temporaries.
"""
from __future__ import annotations

import math

import numpy as np

from ._validation import check_positive_int, check_scalar


class SGD:
    name = "sgd"

    def __init__(self, learning_rate=0.01):
        self.learning_rate = check_scalar(learning_rate, "learning_rate", 0, None, low_open=True)

    def step(self, params, grads):
        for k, p in params.items():
            p -= self.learning_rate * grads[k]                     # (O1)


class Momentum:
    name = "momentum"

    def __init__(self, learning_rate=0.01, momentum=0.9):
        self.learning_rate = check_scalar(learning_rate, "learning_rate", 0, None, low_open=True)
        self.momentum = check_scalar(momentum, "momentum", 0, 1, high_open=True)
        self.velocity = {}

    def step(self, params, grads):
        for k, p in params.items():
            v = self.velocity.setdefault(k, np.zeros_like(p))
            v *= self.momentum
            v -= self.learning_rate * grads[k]                      # (O2)
            p += v


class Adam:
    """Adam (O3)-(O5), updated in place in blocks of ``block`` entries.

    An update reads and writes five arrays (θ, g, m, s and a scratch buffer) in thirteen
    elementwise passes. Done one block of 65,536 entries at a time, the five blocks
    (1.3 MB in float32) stay in a core's L2 cache across the passes instead of streaming
    the whole 784×512 matrix through memory thirteen times (benchmarks/bench_autoencoder.py
    reports the step time). The arithmetic is the same for any block size.
    """

    name = "adam"

    def __init__(self, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, block=65536):
        self.learning_rate = check_scalar(learning_rate, "learning_rate", 0, None, low_open=True)
        self.beta1 = check_scalar(beta1, "beta1", 0, 1, high_open=True)
        self.beta2 = check_scalar(beta2, "beta2", 0, 1, high_open=True)
        self.eps = check_scalar(eps, "eps", 0, None, low_open=True)
        self.block = check_positive_int(block, "block")
        self.t = 0
        self.m, self.s, self._buf = {}, {}, {}

    def step(self, params, grads):
        self.t += 1
        # (O4)-(O5) folded into two scalars: θ -= η/(1-β₁ᵗ) · m / (√s / √(1-β₂ᵗ) + ε)
        step_size = self.learning_rate / (1 - self.beta1 ** self.t)
        inv_sqrt_c2 = 1.0 / math.sqrt(1 - self.beta2 ** self.t)
        for k, p in params.items():
            if not p.flags.c_contiguous:
                raise ValueError(f"parameter {k!r} must be a C-contiguous array to be "
                                 "updated in place")
            if k not in self.m:
                self.m[k], self.s[k] = np.zeros(p.size, p.dtype), np.zeros(p.size, p.dtype)
                self._buf[k] = np.empty(min(p.size, self.block), p.dtype)
            theta, g = p.reshape(-1), grads[k].reshape(-1)     # flat views of the arrays
            for start in range(0, p.size, self.block):
                blk = slice(start, start + self.block)
                self._update(theta[blk], g[blk], self.m[k][blk], self.s[k][blk],
                             self._buf[k][:len(theta[blk])], step_size, inv_sqrt_c2)

    def _update(self, theta, g, m, s, buf, step_size, inv_sqrt_c2):
        """(O3)-(O5) on one block, in place through the scratch ``buf``."""
        b1, b2 = self.beta1, self.beta2
        np.subtract(g, m, out=buf)
        buf *= 1 - b1
        m += buf                                                    # (O3) m += (1-β₁)(g - m)
        np.multiply(g, g, out=buf)
        buf -= s
        buf *= 1 - b2
        s += buf                                                    # (O3) s += (1-β₂)(g² - s)
        np.sqrt(s, out=buf)
        buf *= inv_sqrt_c2
        buf += self.eps                                             # √ŝ + ε   (O4)
        np.divide(m, buf, out=buf)
        buf *= step_size
        theta -= buf                                                # (O5)


OPTIMIZERS = {cls.name: cls for cls in (SGD, Momentum, Adam)}


def make_optimizer(name, learning_rate):
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    return OPTIMIZERS[name](learning_rate)
