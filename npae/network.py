"""A stack of dense layers run forward and backward: the machinery every model shares.

Notation: docs/notation.md (a_l, h_l the pre-activation and activation of layer l,
h_0 the input, B the batch size). A network is a list of :class:`Layer` records.
Running it forward on h_0 computes, for each layer l,

    (F1)  a_l = h_{l−1} W_l + b_l          (W_lᵀ for a layer that shares a transposed weight)
    (F2)  h_l = f_l(a_l)                   (h_l = a_l for a layer without activation: logits)

and keeps a :class:`LayerCache` per layer. Backpropagating an upstream gradient
dh_L = ∂L/∂h_L applies, from the top layer down,

    (B1)  da_l = dh_l ⊙ f_l'(a_l)
    (B2)  dW_l = h_{l−1}ᵀ da_l ;  db_l = Σ_n da_l          (dW_lᵀ for a transposed use)
    (B3)  dh_{l−1} = da_l W_lᵀ

and *adds* each weight gradient into ``grads`` (a weight used by two layers, as with
tied weights, gets the sum of both contributions). In the code the batch arrays keep
capital names (``H``, ``A``, ``dH``, ``dA``: B rows of h_l, a_l, dh_l, da_l).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .layers import dense_backward, dense_forward


@dataclass(frozen=True)
class Layer:
    """One dense layer: where its W and b live in the params dict, and its activation."""

    name: str            # "enc.0", "dec.1", ...
    W: str               # key of the weight matrix in params
    b: str               # key of the bias
    activation: object   # an activation class from npae.layers, or None (logits)
    transposed: bool = False   # True when the layer uses Wᵀ (a tied decoder layer)


@dataclass
class LayerCache:
    """What a layer's backward needs from its forward."""

    inp: np.ndarray      # h_{l−1}, the layer's input  (B, n_in)
    pre: np.ndarray      # a_l, the pre-activation     (B, n_out)
    out: np.ndarray      # h_l = f_l(a_l)              (B, n_out)


def accumulate(grads, key, value):
    """A parameter used twice gets both contributions added (e.g. tied weights)."""
    grads[key] = grads[key] + value if key in grads else value


def run_layers(params, layers, H):
    """(F1)-(F2) through ``layers`` from input ``H``; returns one cache per layer."""
    caches = []
    for layer in layers:
        W = params[layer.W].T if layer.transposed else params[layer.W]
        A = dense_forward(H, W, params[layer.b])                           # (F1)
        H_next = layer.activation.forward(A) if layer.activation else A     # (F2)
        caches.append(LayerCache(inp=H, pre=A, out=H_next))
        H = H_next
    return caches


def backprop_layers(params, layers, caches, dH, grads, need_dX=True):
    """(B1)-(B3) down ``layers`` from ``dH`` = ∂L/∂(last output); returns ∂L/∂(input).

    Returns None for the input gradient when ``need_dX`` is false (saves one matmul).
    """
    for i in range(len(layers) - 1, -1, -1):
        layer, cache = layers[i], caches[i]
        act = layer.activation
        dA = act.backward(dH, cache.pre, cache.out) if act else dH          # (B1)
        W = params[layer.W].T if layer.transposed else params[layer.W]
        dH, dW, db = dense_backward(dA, cache.inp, W, need_dX or i > 0)     # (B2)-(B3)
        accumulate(grads, layer.W, dW.T if layer.transposed else dW)
        grads[layer.b] = db
    return dH
