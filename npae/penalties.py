"""Penalty terms added to the reconstruction loss, each with its own gradient.

Weight decay on the weight matrices (never the biases), λ ≥ 0:

    (F1)  R = (λ/2) Σ_l ‖W_l‖_F²
    (B1)  ∂R/∂W_l = λ W_l

With tied weights a shared W is one parameter and is counted once.
"""
from __future__ import annotations

import numpy as np


def weight_decay(weights, lam):
    """(F1) for an iterable of weight matrices."""
    return 0.5 * lam * float(sum(np.sum(W * W) for W in weights))


def weight_decay_grad(W, lam):
    """(B1) for one weight matrix."""
    return lam * W
