"""Convolution, transposed convolution, max pooling and upsampling: forward/backward pairs.

Layout NCHW as in CS231n and PyTorch. A batch of images X has shape (B, C, Hi, Wi): B
examples, C channels, Hi × Wi pixels; a convolution's kernel W has shape (F, C, kh, kw)
(F output channels, or filters), its bias b (F,). s is the stride, p the zero padding on
every side, k = kh (or kw) a kernel side. Tags (C…) are this module's; cited from
elsewhere they read "conv (C7)".

Convolution (cross-correlation, as in every framework)
------------------------------------------------------

    (C1)  Ho = ⌊(Hi + 2p − kh)/s⌋ + 1,   Wo = ⌊(Wi + 2p − kw)/s⌋ + 1     the output size
    (C2)  X̄ = X with p zeros added on each side                        (B, C, Hi+2p, Wi+2p)
    (C3)  A[n,f,i,j] = Σ_{c,u,v} X̄[n, c, s·i + u, s·j + v] W[f,c,u,v] + b_f   (B, F, Ho, Wo)

im2col: every output pixel (n, i, j) reads one patch of C·kh·kw numbers, so (C3) is one
matrix product. Let P hold the patches as columns (CS231n's ``cols``) and W₂ be the kernel
with its last three axes flattened:

    (C4)  P[(c,u,v), (n,i,j)] = X̄[n, c, s·i + u, s·j + v]             (C·kh·kw, B·Ho·Wo)
    (C5)  A₂ = W₂ P + b,   W₂ = W.reshape(F, C·kh·kw)                  (F, B·Ho·Wo)

and A is A₂ unflattened to (F, B, Ho, Wo) with its first two axes swapped to NCHW.
P is built from a view: ``sliding_window_view`` gives every kh × kw window of X̄ without
copying; keeping every s-th window is the stride; the one copy is the reshape to P
(with the pixel axes last, so that it copies runs of Wo neighbours).

Backward, with dA = ∂L/∂A (B, F, Ho, Wo) and G = dA as (F, B·Ho·Wo), laid out as A₂:

    (C6)  db_f = Σ_{n,i,j} dA[n,f,i,j]                                  (F,)
    (C7)  dW₂ = G Pᵀ,  i.e.  dW[f,c,u,v] = Σ_{n,i,j} dA[n,f,i,j] X̄[n, c, s·i + u, s·j + v]
          dW is a correlation of the input with dA                      (F, C, kh, kw)
    (C8)  dP = W₂ᵀ G                                                    (C·kh·kw, B·Ho·Wo)
    (C9)  col2im: dX̄[n, c, s·i + u, s·j + v] += dP[(c,u,v), (n,i,j)]  for every (u, v):
          a patch entry is a copy of one pixel, so the pixel's gradient is the sum over
          every patch that copied it. One strided add per kernel offset (kh·kw of them).
    (C10) dX = dX̄[:, :, p:p+Hi, p:p+Wi]                                 crop the padding

(C8)-(C10) written out, for stride 1 and no padding first:

    (C11) dX[n,c,y,x] = Σ_{f,u,v} dA[n,f,y−u,x−v] W[f,c,u,v]   over the indices inside dA
                      = Σ_{f,u′,v′} dA_full[n,f,y+u′,x+v′] W[f,c,kh−1−u′,kw−1−v′]
          with u′ = kh−1−u and dA_full = dA with kh−1 (kw−1) zeros on each side: a
          correlation of dA_full with the kernel rotated by 180° and its channel axes
          swapped, i.e. a "full" convolution of dA with the flipped kernel
    (C12) dA_full ← dA spread out with s−1 zeros between its entries (stride s), then
          padded as in (C11); dX ← the result with p rows and columns cropped from each
          side (padding p), as in (C10)

That whole map, dA ↦ dX, is the adjoint of X ↦ A − b: it is the transposed
convolution below, and conv_transpose2d_forward is conv2d_input_grad plus a bias.

Transposed convolution (the adjoint of convolution)
---------------------------------------------------
Here X (B, C_in, Hi, Wi) and W (C_in, C_out, kh, kw), the layout PyTorch stores: the
same array as the kernel of the convolution C_out → C_in whose input gradient this is.
The extra rows ``output_padding`` = q ∈ [0, s) choose among the s input sizes that the
convolution maps to the same Hi; they receive no patch, only the bias.

    (T1)  Ho = (Hi − 1)·s − 2p + kh + q,   Wo likewise                  the output size
    (T2)  A − b = (conv2d with kernel W, stride s, padding p, input size Ho)ᵀ applied to X,
          so that ⟨conv2d(Y; W), X⟩ = ⟨Y, convᵀ(X; W)⟩ for every Y (B, C_out, Ho, Wo)
    (T3)  Q = W₂ᵀ G,  G = X as (C_in, B·Hi·Wi), W₂ = W.reshape(C_in, C_out·kh·kw)
    (T4)  Ā = col2im(Q) onto (B, C_out, (Hi − 1)s + kh + q, …)          as (C9)
    (T5)  A = Ā[:, :, p:p+Ho, p:p+Wo] + b                               crop as (C10), add b

Backward. (T2) is linear in X with the map adjoint to conv2d, so its adjoint is conv2d
itself; W appears in the same product as in (C7) with the roles of input and output
exchanged:

    (T6)  dX = conv2d(dA; W, stride s, padding p) without bias = W₂ P_dA (C_in, B·Hi·Wi)
    (T7)  dW₂ = G P_dAᵀ,   P_dA the patches (C4) of dA padded by p       (C_in, C_out·kh·kw)
          i.e. conv2d's weight gradient (C7) with X in the place of dA and dA in that of X
    (T8)  db = Σ_{n,y,x} dA[n, :, y, x]                                 (C_out,)

Max pooling (size k, stride k: blocks that do not overlap)
-----------------------------------------------------------

    (M1)  Ho = ⌊Hi/k⌋ ("valid": the ragged edge is dropped) or ⌈Hi/k⌉ ("same": the
          ragged edge is padded with −∞, so it can never win; Keras maps 7 to 4 this way)
    (M2)  A[n,c,i,j] = max_{u,v < k} X[n, c, k·i + u, k·j + v]
    (M3)  dX[n, c, k·i + u, k·j + v] = dA[n,c,i,j] · 1[(u, v) = (u*, v*)]
          (u*, v*) = the first maximum of the block in row-major order: on a tie the
          top-most, then left-most, of the tied entries gets the whole gradient (the
          "switch"). Dropped or padded pixels get 0.

Both are computed over the k² block offsets: Xk[:, :, u::k, v::k] holds entry (u, v) of
every block, A is the elementwise maximum of those k² strided views, and the offsets are
visited in row-major order, each taking the blocks whose maximum it holds and no earlier
offset took.

The max is differentiable wherever the block maximum is unique; at a tie it has a kink
and (M3) is one subgradient.

Nearest-neighbour upsampling (factor k)
----------------------------------------

    (U1)  A[n, c, k·i + u, k·j + v] = X[n, c, i, j]   for u, v < k       (B, C, k·Hi, k·Wi)
    (U2)  dX[n,c,i,j] = Σ_{u,v < k} dA[n, c, k·i + u, k·j + v]          the sum over each block

No function here loops in Python over examples, channels or pixels; col2im, pooling
and upsampling loop over the kernel (block) offsets only.

References: CS231n, "Convolutional networks" notes and assignment 2 (im2col); V. Dumoulin
& F. Visin, "A guide to convolution arithmetic for deep learning", arXiv:1603.07285
(output sizes, transposed convolution as the adjoint); Goodfellow, Bengio & Courville,
*Deep Learning*, §9.5.
"""
from __future__ import annotations

import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["conv_output_size", "conv2d_forward", "conv2d_backward", "conv2d_input_grad",
           "conv2d_weight_grad",
           "conv_transpose2d_output_size", "conv_transpose2d_forward",
           "conv_transpose2d_backward", "maxpool2d_forward", "maxpool2d_backward",
           "upsample2d_forward", "upsample2d_backward", "POOL_PADDINGS"]

POOL_PADDINGS = ("valid", "same")


# -- argument checks ----------------------------------------------------------------------
def _check_int(value, name, minimum):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
            or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_images(X, name):
    if not isinstance(X, np.ndarray) or X.ndim != 4 or X.dtype.kind != "f":
        shape = getattr(X, "shape", None)
        raise ValueError(f"{name} must be a 4-D float array (B, C, H, W) in NCHW layout, got "
                         f"{type(X).__name__} with shape {shape} and dtype "
                         f"{getattr(X, 'dtype', None)}")
    return X


def _check_kernel(X, W, b, channels_axis, name="W"):
    _check_images(W, name)
    if W.shape[channels_axis] != X.shape[1]:
        which = "W.shape[1]" if channels_axis == 1 else "W.shape[0]"
        raise ValueError(f"{which} must equal the input channels X.shape[1] = {X.shape[1]}, "
                         f"got W of shape {W.shape}")
    n_out = W.shape[1 - channels_axis]
    if b is not None and (not isinstance(b, np.ndarray) or b.shape != (n_out,)):
        raise ValueError(f"b must be an array of shape ({n_out},) (one bias per output "
                         f"channel), got {getattr(b, 'shape', b)!r}")


# -- output sizes -------------------------------------------------------------------------
def conv_output_size(n, k, stride=1, padding=0):
    """(C1) ⌊(n + 2p − k)/s⌋ + 1; an error if the kernel does not fit the padded input."""
    if n + 2 * padding < k:
        raise ValueError(f"the kernel side {k} is larger than the padded input side "
                         f"{n} + 2·{padding} = {n + 2 * padding}")
    return (n + 2 * padding - k) // stride + 1                        # (C1)


def conv_transpose2d_output_size(n, k, stride=1, padding=0, output_padding=0):
    """(T1) (n − 1)·s − 2p + k + q."""
    size = (n - 1) * stride - 2 * padding + k + output_padding        # (T1)
    if size < 1:
        raise ValueError(f"padding={padding} crops the whole output: (n − 1)·s − 2p + k + q "
                         f"= {size} for n={n}, k={k}, s={stride}, q={output_padding}")
    return size


def _pad(X, before, after, value):
    """X (B, C, H, W) with ``before`` rows/columns of ``value`` above/left and ``after``
    (an int, or a pair (rows, columns)) below/right; X itself when there is nothing to add.
    (A slice assignment into a new array: np.pad costs 10× more on small batches.)"""
    ah, aw = (after, after) if isinstance(after, int) else after
    if not (before or ah or aw):
        return X
    B, C, H, W = X.shape
    out = np.full((B, C, before + H + ah, before + W + aw), value, dtype=X.dtype)
    out[:, :, before:before + H, before:before + W] = X
    return out


# -- im2col and col2im --------------------------------------------------------------------
def _im2col(X, kh, kw, stride, padding):
    """(C2) and (C4): the patch matrix P (C·kh·kw, B·Ho·Wo) of X (B, C, Hi, Wi) and (Ho, Wo)."""
    B, C, Hi, Wi = X.shape
    Ho = conv_output_size(Hi, kh, stride, padding)                    # (C1)
    Wo = conv_output_size(Wi, kw, stride, padding)                    # (C1)
    Xbar = _pad(X, padding, padding, 0.0)                             # (C2) (B, C, Hi+2p, Wi+2p)
    windows = sliding_window_view(Xbar, (kh, kw), axis=(2, 3))       # (B, C, ·, ·, kh, kw) view
    windows = windows[:, :, :(Ho - 1) * stride + 1:stride,
                      :(Wo - 1) * stride + 1:stride]                 # every s-th: (B, C, Ho, Wo, kh, kw)
    P = windows.transpose(1, 4, 5, 0, 2, 3).reshape(C * kh * kw, B * Ho * Wo)   # (C4) one copy
    return P, Ho, Wo


def _col2im(dP, stride, padding, input_size):
    """(C9)-(C10): sum the patch gradients dP (C, kh, kw, B, Ho, Wo) back onto the pixels
    of the padded input, then crop the padding: dX (B, C, Hi, Wi)."""
    C, kh, kw, B, Ho, Wo = dP.shape
    Hi, Wi = input_size
    dXbar = np.zeros((C, B, Hi + 2 * padding, Wi + 2 * padding), dtype=dP.dtype)
    for u in range(kh):                                               # kernel offsets only
        for v in range(kw):
            dXbar[:, :, u:u + (Ho - 1) * stride + 1:stride,
                  v:v + (Wo - 1) * stride + 1:stride] += dP[:, u, v]  # (C9) strided add
    dX = dXbar[:, :, padding:padding + Hi, padding:padding + Wi]      # (C10) crop
    return np.ascontiguousarray(dX.transpose(1, 0, 2, 3))             # (B, C, Hi, Wi)


def _columns(A):
    """(B, F, H, W) -> (F, B·H·W): laid out as A₂ in (C5), G in (C7)-(C8)."""
    return A.transpose(1, 0, 2, 3).reshape(A.shape[1], -1)


def _images(A2, B, H, W):
    """(F, B·H·W) -> (B, F, H, W), the inverse of :func:`_columns` (one copy, to NCHW)."""
    return np.ascontiguousarray(A2.reshape(-1, B, H, W).transpose(1, 0, 2, 3))


def _check_size(size, name):
    """An image size (rows, columns) of two integers >= 1."""
    pair = tuple(size) if isinstance(size, (tuple, list)) else None
    if pair is None or len(pair) != 2 or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) and v >= 1
            for v in pair):
        raise ValueError(f"{name} must be a pair (rows, columns) of integers >= 1, got {size!r}")
    return tuple(int(v) for v in pair)


def _geometry(kernel_size, input_size, stride, padding):
    """Checked (kh, kw), s, p and the output size (Ho, Wo) (C1) of a convolution."""
    kh, kw = _check_size(kernel_size, "kernel_size")
    stride, padding = _check_int(stride, "stride", 1), _check_int(padding, "padding", 0)
    return (kh, kw), stride, padding, tuple(conv_output_size(n, k, stride, padding)
                                            for n, k in zip(input_size, (kh, kw)))


def _check_output(dA, shape):
    _check_images(dA, "dA")
    if dA.shape != shape:
        raise ValueError(f"dA must have the output's shape {shape}, got {dA.shape}")


# -- convolution --------------------------------------------------------------------------
def conv2d_forward(X, W, b, stride=1, padding=0, return_cols=False):
    """(C1)-(C5): X (B, C, Hi, Wi), W (F, C, kh, kw), b (F,) or None -> A (B, F, Ho, Wo).

    With ``return_cols`` also the patch matrix P (C4), which ``conv2d_weight_grad`` can
    take as ``cols`` instead of building it again (a model's step does: the same X both ways).
    """
    _check_images(X, "X")
    _check_kernel(X, W, b, channels_axis=1)
    stride, padding = _check_int(stride, "stride", 1), _check_int(padding, "padding", 0)
    F, C, kh, kw = W.shape
    P, Ho, Wo = _im2col(X, kh, kw, stride, padding)                   # (C4) (C·kh·kw, B·Ho·Wo)
    A2 = W.reshape(F, C * kh * kw) @ P                                # (C5) one GEMM (F, B·Ho·Wo)
    if b is not None:
        A2 += b[:, None]                                              # (C5) + b
    A = _images(A2, X.shape[0], Ho, Wo)                               # (C3) (B, F, Ho, Wo)
    return (A, P) if return_cols else A


def conv2d_weight_grad(dA, X, kernel_size, stride=1, padding=0, cols=None):
    """(C7): dW (F, C, kh, kw) of A = conv2d(X; W) given dA (B, F, Ho, Wo) and X.

    ``kernel_size`` is (kh, kw); ``cols`` the P that ``conv2d_forward(X, W, ...,
    return_cols=True)`` returned, or None to build it from X.
    """
    _check_images(X, "X")
    (kh, kw), stride, padding, (Ho, Wo) = _geometry(kernel_size, X.shape[2:], stride, padding)
    B, C = X.shape[:2]
    _check_images(dA, "dA")
    if dA.shape[:1] + dA.shape[2:] != (B, Ho, Wo):
        raise ValueError(f"dA must have the output's shape (B, F, Ho, Wo) = (B, F, {Ho}, {Wo}) "
                         f"with B = {B}, got {dA.shape}")
    if cols is None:
        P = _im2col(X, kh, kw, stride, padding)[0]                    # (C4) (C·kh·kw, B·Ho·Wo)
    elif getattr(cols, "shape", None) != (C * kh * kw, B * Ho * Wo):
        raise ValueError(f"cols must be the patch matrix of X, shape "
                         f"{(C * kh * kw, B * Ho * Wo)}, got {getattr(cols, 'shape', cols)}")
    else:
        P = cols
    G = _columns(dA)                                                  # (F, B·Ho·Wo)
    return (G @ P.T).reshape(dA.shape[1], C, kh, kw)                  # (C7) dW₂ = G Pᵀ


def conv2d_input_grad(dA, W, input_size, stride=1, padding=0):
    """(C8)-(C10): dX (B, C, Hi, Wi) of A = conv2d(X; W) given dA (B, F, Ho, Wo) and W.

    ``input_size`` is (Hi, Wi): several input sizes give the same output size when
    s > 1, and the rows no window reached, (Hi + 2p − kh) mod s of them, get 0.
    This map dA ↦ dX is the transposed convolution: ``conv_transpose2d_forward`` is it.
    """
    _check_images(W, "W")
    Hi, Wi = _check_size(input_size, "input_size")
    (kh, kw), stride, padding, (Ho, Wo) = _geometry(W.shape[2:], (Hi, Wi), stride, padding)
    F, C = W.shape[:2]
    _check_images(dA, "dA")
    if dA.shape[1:] != (F, Ho, Wo):
        raise ValueError(f"dA must have the output's shape (B, {F}, {Ho}, {Wo}) for W of shape "
                         f"{W.shape} and input_size {(Hi, Wi)}, got {dA.shape}")
    W2, G = W.reshape(F, C * kh * kw), _columns(dA)                   # (F, C·kh·kw), (F, B·Ho·Wo)
    # (C8) one GEMM; with one output channel it is an outer product, which OpenBLAS
    # runs several times slower than the broadcast product (the same numbers)
    dP = W2.T @ G if F > 1 else W2.T * G                              # (C·kh·kw, B·Ho·Wo)
    return _col2im(dP.reshape(C, kh, kw, dA.shape[0], Ho, Wo), stride, padding,
                   (Hi, Wi))                                          # (C9)-(C10)


def conv2d_backward(dA, X, W, stride=1, padding=0, need_dX=True, cols=None):
    """(C6)-(C10): returns (dX, dW, db); dX is None when ``need_dX`` is false.

    ``cols`` is the P that ``conv2d_forward(X, W, ..., return_cols=True)`` returned, or None.
    """
    _check_images(X, "X")
    _check_kernel(X, W, None, channels_axis=1)
    kernel, stride, padding, out = _geometry(W.shape[2:], X.shape[2:], stride, padding)
    _check_output(dA, (X.shape[0], W.shape[0]) + out)
    db = dA.sum(axis=(0, 2, 3))                                       # (C6) (F,)
    dW = conv2d_weight_grad(dA, X, kernel, stride, padding, cols)     # (C7)
    dX = None
    if need_dX:
        dX = conv2d_input_grad(dA, W, X.shape[2:], stride, padding)   # (C8)-(C10)
    return dX, dW, db


# -- transposed convolution ---------------------------------------------------------------
def _check_output_padding(output_padding, stride):
    """q as a pair (rows, columns); one integer serves both."""
    pair = tuple(output_padding) if isinstance(output_padding, (tuple, list)) \
        else (output_padding, output_padding)
    if len(pair) != 2:
        raise ValueError(f"output_padding must be an integer or a pair (rows, columns), "
                         f"got {output_padding!r}")
    q = tuple(_check_int(v, "output_padding", 0) for v in pair)
    if max(q) >= stride:
        raise ValueError(f"output_padding must be smaller than stride={stride} (it picks one of "
                         f"the {stride} sizes that stride maps to the same input), got "
                         f"{output_padding!r}")
    return q


def _transposed_size(X, W, b, stride, padding, output_padding):
    """(T1) for both sides, the arguments checked: (Ho, Wo)."""
    _check_images(X, "X")
    _check_kernel(X, W, b, channels_axis=0)
    stride, padding = _check_int(stride, "stride", 1), _check_int(padding, "padding", 0)
    q = _check_output_padding(output_padding, stride)
    return tuple(conv_transpose2d_output_size(n, k, stride, padding, qi)
                 for n, k, qi in zip(X.shape[2:], W.shape[2:], q))


def conv_transpose2d_forward(X, W, b, stride=1, padding=0, output_padding=0):
    """(T1)-(T5): X (B, C_in, Hi, Wi), W (C_in, C_out, kh, kw), b (C_out,) or None
    -> A (B, C_out, Ho, Wo), Ho = (Hi − 1)s − 2p + kh + q; ``output_padding`` q is an
    integer or a pair (rows, columns)."""
    size = _transposed_size(X, W, b, stride, padding, output_padding)   # (T1)
    A = conv2d_input_grad(X, W, size, stride, padding)                # (T2)-(T5): conv2d's dX
    if b is not None:
        A += b[:, None, None]                                         # (T5) + b
    return A


def conv_transpose2d_backward(dA, X, W, stride=1, padding=0, output_padding=0, need_dX=True):
    """(T6)-(T8): returns (dX, dW, db); dX is None when ``need_dX`` is false.

    The adjoint's gradients are the convolution's own functions with the roles of input
    and output exchanged: dX is conv2d's forward of dA, dW its weight gradient with X in
    the place of dA (their patch matrix of dA built once)."""
    size = _transposed_size(X, W, None, stride, padding, output_padding)   # (T1)
    _check_output(dA, (X.shape[0], W.shape[1]) + size)
    dX, P_dA = None, None
    if need_dX:
        dX, P_dA = conv2d_forward(dA, W, None, stride, padding, return_cols=True)  # (T6)
    dW = conv2d_weight_grad(X, dA, W.shape[2:], stride, padding, cols=P_dA)     # (T7)
    db = dA.sum(axis=(0, 2, 3))                                       # (T8) (C_out,)
    return dX, dW, db


# -- max pooling --------------------------------------------------------------------------
def _pool_input(X, size, padding):
    """(M1): X cropped ("valid") or padded with −∞ ("same") to whole k × k blocks."""
    _check_images(X, "X")
    k = _check_int(size, "size", 1)
    if padding not in POOL_PADDINGS:
        raise ValueError(f"padding must be one of {POOL_PADDINGS}, got {padding!r}")
    Hi, Wi = X.shape[2:]
    if padding == "valid":
        Ho, Wo = Hi // k, Wi // k                                     # (M1) ⌊Hi/k⌋
        if Ho == 0 or Wo == 0:
            raise ValueError(f"size={k} is larger than the image {Hi}×{Wi}: 'valid' pooling "
                             f"would leave nothing (use padding='same')")
        return X[:, :, :Ho * k, :Wo * k], k                           # the ragged edge dropped
    Ho, Wo = -(-Hi // k), -(-Wi // k)                                 # (M1) ⌈Hi/k⌉
    return _pad(X, 0, (Ho * k - Hi, Wo * k - Wi), -np.inf), k         # −∞ never wins


def _offsets(k):
    """The k² positions (u, v) inside a block, in row-major order."""
    return [(u, v) for u in range(k) for v in range(k)]


def maxpool2d_forward(X, size=2, padding="valid"):
    """(M1)-(M2): X (B, C, Hi, Wi) -> A (B, C, Ho, Wo), the maximum of each k × k block.

    Xk[:, :, u::k, v::k] holds entry (u, v) of every block, so the block maxima are k² − 1
    elementwise maxima of strided views (a loop over the offsets in a block only)."""
    Xk, k = _pool_input(X, size, padding)
    A = Xk[:, :, ::k, ::k].copy()                                     # entry (0, 0) of each block
    for u, v in _offsets(k)[1:]:
        np.maximum(A, Xk[:, :, u::k, v::k], out=A)                    # (M2)
    return A


def maxpool2d_backward(dA, X, size=2, padding="valid"):
    """(M3): dX (B, C, Hi, Wi); each block's gradient goes to its first maximum (row-major)."""
    A = maxpool2d_forward(X, size, padding)                           # (M2) recomputed
    Xk, k = _pool_input(X, size, padding)
    _check_images(dA, "dA")
    if dA.shape != A.shape:
        raise ValueError(f"dA must have the output's shape {A.shape}, got {dA.shape}")
    dXk = np.empty(Xk.shape, dtype=dA.dtype)                          # every entry written below
    taken = np.zeros(A.shape, dtype=bool)                             # block's switch found
    switch = np.empty(A.shape, dtype=bool)
    for u, v in _offsets(k):                                          # row-major: first max wins
        np.equal(Xk[:, :, u::k, v::k], A, out=switch)                 # a maximum of its block
        np.greater(switch, taken, out=switch)                         # and the first: (M3)'s
                                                                      # 1[(u, v) = (u*, v*)]
        np.multiply(dA, switch, out=dXk[:, :, u::k, v::k])            # (M3)
        taken |= switch
    Hi, Wi = X.shape[2:]
    if padding == "same":
        return dXk[:, :, :Hi, :Wi]                                    # padded pixels cropped
    dX = np.zeros(X.shape, dtype=dXk.dtype)                           # dropped pixels: 0
    dX[:, :, :Xk.shape[2], :Xk.shape[3]] = dXk
    return dX


# -- upsampling ---------------------------------------------------------------------------
def upsample2d_forward(X, size=2):
    """(U1): X (B, C, Hi, Wi) -> A (B, C, k·Hi, k·Wi), every pixel copied into a k × k block."""
    _check_images(X, "X")
    k = _check_int(size, "size", 1)
    B, C, Hi, Wi = X.shape
    A = np.empty((B, C, Hi * k, Wi * k), dtype=X.dtype)
    for u, v in _offsets(k):                                          # block offsets only
        A[:, :, u::k, v::k] = X                                       # (U1) strided copies
    return A


def upsample2d_backward(dA, size=2):
    """(U2): dA (B, C, k·Hi, k·Wi) -> dX (B, C, Hi, Wi), the sum over each k × k block."""
    _check_images(dA, "dA")
    k = _check_int(size, "size", 1)
    B, C, H, W = dA.shape
    if H % k or W % k:
        raise ValueError(f"dA's sides must be multiples of size={k}, got {H}×{W}")
    dX = dA[:, :, ::k, ::k].copy()                                    # entry (0, 0) of each block
    for u, v in _offsets(k)[1:]:
        dX += dA[:, :, u::k, v::k]                                    # (U2) strided adds
    return dX
