"""The convolutional autoencoder: conv + pool encoder, conv + upsample (or transposed-conv)
decoder, hand-written backprop through npae.conv.

Notation: docs/notation.md and npae.conv. X (B, D) is a batch of images stored as rows,
D = C·H·W for ``image_shape`` (C, H, W), read as images X (B, C, H, W) (NCHW). The
encoder has L stages with widths ``filters`` = (F_1, …, F_L); stage l's kernel W_l is
(F_l, F_{l−1}, k, k) with F_0 = C. The decoder mirrors the widths: (F_L, …, F_1), then
one more convolution to the C output channels. k = ``kernel_size`` (odd), p = (k−1)/2
the padding that keeps a stride-1 convolution's size ("same"). Tags are this module's;
npae.conv's read "conv (C7)".

Forward pass, with h_0 = X̃ the (possibly corrupted) input as images:

    (F1)  a_l = conv(h_{l−1}; W_l, b_l, stride 1, padding p)        conv (C3),  (B, F_l, H_l, W_l)
    (F2)  r_l = f(a_l)
    (F3)  h_l = maxpool(r_l, 2, "same")                             conv (M2),  (B, F_l, ⌈H_l/2⌉, ⌈W_l/2⌉)
          the code is z = h_L, (B, F_L, H_L', W_L'), flattened to (B, F_L·H_L'·W_L') by transform
    (F4)  decoder stage m = 1..L, h'_0 = z, with widths (F_L, …, F_1):
          upsample decoder:   a'_m = conv(h'_{m−1}; V_m, c_m, 1, p_m);   h'_m = up(g(a'_m), 2)
          transposed decoder: a'_m = convᵀ(h'_{m−1}; V_m, c_m, 2, p, q_m); h'_m = g(a'_m)
                                                                         conv (T1)-(T5), (U1)
    (F5)  A' = conv(h'_L; V_out, c_out, 1, p)                       the output logits (B, C, H, W)
    (F6)  ℒ = recon(A', X) + λ_s (1/B) Σ |z| + (λ/2) Σ ‖W‖_F²        losses (F2)/(F4),
                                                                   penalties (P3), (P1)

The decoder must land on H × W exactly. The upsample decoder doubles the size at each
stage, so p_m ∈ {p, 0} ("same" or "valid", the valid one trims k − 1) is chosen per stage:
the fewest valid convolutions, as late as possible. For MNIST (28 → 14 → 7 → 4) that is
same, same, valid: 4 → 8 → 16 → 14 → 28, the Keras blog's decoder. The transposed
decoder mirrors the encoder's sizes exactly: stride 2 maps u to 2u − 1 + q_m, and
q_m ∈ {0, 1} (the output padding, conv (T1)) picks the odd or even size.

Backward pass, from the top (the 1/B of the batch mean enters once, in B1):

    (B1)  dA' = ∂recon/∂A' = (x̂ − X)/B                            losses (B1)/(B3)
    (B2)  dV_out, dc_out, dh'_L = conv backward                      conv (C6)-(C10)
    (B3)  decoder stage m = L..1:
          upsample decoder:   dr'_m = up-backward(dh'_m)  (the block sums, conv (U2));
                              da'_m = dr'_m ⊙ g'(a'_m);  dV_m, dc_m, dh'_{m−1} by conv (C6)-(C10)
          transposed decoder: da'_m = dh'_m ⊙ g'(a'_m);  dV_m, dc_m, dh'_{m−1} by conv (T6)-(T8)
    (B4)  dz = dh'_0 + (λ_s/B) sign(z)                             penalties (P4)
    (B5)  encoder stage l = L..1, dh_L = dz:
          dr_l = maxpool-backward(dh_l)  (to each block's first maximum, conv (M3));
          da_l = dr_l ⊙ f'(a_l);  dW_l, db_l, dh_{l−1} by conv (C6)-(C10)
    (B6)  dW += λ W for every kernel (weight decay, penalties (P2))

Denoising (every process of npae.noise, drawn by ``sample_noise``) and clipping:

    (F0)  X̃ = clip(c(X; ν), lo, hi)       c from noise (D1)/(D3)/(D5); no clip when
                                          ``noise_clip`` is None
    (B7)  dX = (∂c/∂X)ᵀ [dh_0 ⊙ 1(lo < c(X; ν) < hi)] + ∂recon/∂X
          X enters corrupted and as the (clean) target (losses (B2)/(B4)); a clipped
          pixel does not move with X.

``ConvAutoencoder(noise="gaussian", noise_level=0.5, noise_clip=(0, 1))`` is the blog's
denoising autoencoder (x̃ = clip(x + 0.5 ε, 0, 1)).

The default architecture is the Keras blog's convolutional autoencoder (F. Chollet,
"Building autoencoders in Keras", 2016): encoder conv3×3(1→16) relu, pool 2; conv3×3(16→8)
relu, pool 2; conv3×3(8→8) relu, pool 2 ("same", 7 → 4); the code is (8, 4, 4); decoder
conv3×3(8→8) relu, up 2; conv3×3(8→8) relu, up 2; conv3×3(8→16, no padding) relu, up 2;
conv3×3(16→1) into the Bernoulli loss. Parameters are named ``enc.l.W``, ``enc.l.b``,
``dec.m.W``, ``dec.m.b`` with l, m from 0; ``dec.L`` is the output convolution (F5).
Kernels are (F_out, F_in, k, k) for a convolution and (F_in, F_out, k, k) for a
transposed one (npae.conv).

References: npae.conv; J. Masci, U. Meier, D. Cireşan, J. Schmidhuber, "Stacked
convolutional auto-encoders for hierarchical feature extraction", ICANN 2011.
"""
from __future__ import annotations

import itertools
import math
import numbers
from dataclasses import dataclass

import numpy as np

from .._validation import check_array, check_layer_sizes, check_positive_int, check_scalar
from ..conv import (conv2d_backward, conv2d_forward, conv_transpose2d_backward,
                    conv_transpose2d_forward, maxpool2d_backward, maxpool2d_forward,
                    upsample2d_backward, upsample2d_forward)
from ..layers import get_activation
from ..losses import get_loss
from ..noise import NOISES, check_noise
from ..penalties import l1_activity, l1_activity_grad, weight_decay, weight_decay_grad
from .base import CorruptibleModel, NotFittedError

DECODERS = ("upsample", "transposed")


@dataclass(frozen=True)
class Stage:
    """One convolution with what follows it: where its kernel lives and how it is applied."""

    name: str                 # "enc.0", "dec.2", ...
    transposed: bool          # conv_transpose2d (kernel (n_in, n_out, k, k)) or conv2d
    n_in: int
    n_out: int
    stride: int
    padding: int
    output_padding: tuple     # (rows, columns), transposed convolutions only
    activation: object        # an activation class from npae.layers, or None (the logits)
    after: str | None         # "pool", "upsample" or None


@dataclass
class StageCache:
    """What a stage's backward needs from its forward."""

    inp: np.ndarray           # h_{l−1}, the stage's input
    pre: np.ndarray           # a_l, the convolution's output
    act: np.ndarray           # r_l = f(a_l), before pooling / upsampling
    out: np.ndarray           # h_l
    cols: np.ndarray | None   # the patch matrix P of a convolution's input (conv (C4))


class ConvAutoencoder(CorruptibleModel):
    """Convolutional autoencoder; the default is the Keras blog's (see the module docstring).

    Parameters
    ----------
    image_shape : tuple (C, H, W) or None
        How a row of X is read as an image; None infers (1, √D, √D) for square
        single-channel images, or takes the shape of a 4-D X given to ``fit``.
    filters : tuple of int
        Encoder widths F_1..F_L (one conv + pool stage each); the decoder mirrors them.
    kernel_size : int
        Odd side k of every kernel.
    decoder : {"upsample", "transposed"}
        Conv + nearest-neighbour upsampling stages, or stride-2 transposed convolutions.
    activation : str
        The activation of every hidden convolution (identity, sigmoid, tanh, relu, softplus).
    output : {"bernoulli", "gaussian"}
        Sigmoid output with cross-entropy (X in [0, 1]) or identity output with ½ squared error.
    weight_decay : float
        λ of (λ/2) Σ ‖W‖_F² over all kernels.
    sparsity : {None, "l1"}, sparsity_weight : float
        L1 penalty λ_s (1/B) Σ |z| on the code (F6).
    noise : {None, "gaussian", "masking", "salt_and_pepper"}, noise_level : float
        Corruption of the input (F0), drawn by ``sample_noise`` (npae.noise).
    noise_clip : None or (lo, hi)
        Clip the corrupted input to [lo, hi] (F0); (0, 1) with Gaussian noise is the blog's.
    optimizer, learning_rate, batch_size, epochs, random_state, dtype, verbose
        Training settings (npae.optim, npae.training).
    """

    def __init__(self, image_shape=None, filters=(16, 8, 8), kernel_size=3, decoder="upsample",
                 activation="relu", output="bernoulli", weight_decay=0.0, sparsity=None,
                 sparsity_weight=0.0, noise=None, noise_level=0.0, noise_clip=None,
                 optimizer="adam", learning_rate=1e-3, batch_size=128, epochs=10,
                 random_state=None, dtype="float32", verbose=True):
        self.image_shape = image_shape
        self.filters = filters
        self.kernel_size = kernel_size
        self.decoder = decoder
        self.activation = activation
        self.output = output
        self.weight_decay = weight_decay
        self.sparsity = sparsity
        self.sparsity_weight = sparsity_weight
        self.noise = noise
        self.noise_level = noise_level
        self.noise_clip = noise_clip
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.random_state = random_state
        self.dtype = dtype
        self.verbose = verbose

    #: the settings params_ belong to (BaseModel._check_fitted)
    _ARCHITECTURE = ("image_shape", "filters", "kernel_size", "decoder", "activation",
                     "output", "dtype")

    # -- hyperparameters ---------------------------------------------------------------
    def _validate_hyperparameters(self):
        self._filters = check_layer_sizes(self.filters, "filters")
        k = check_positive_int(self.kernel_size, "kernel_size")
        if k % 2 == 0:
            raise ValueError(f"kernel_size must be odd (so that padding (k−1)/2 keeps the size), "
                             f"got {k}")
        if self.image_shape is not None:
            _check_image_shape(self.image_shape, "image_shape")
        if self.decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {self.decoder!r}")
        self._act = get_activation(self.activation)
        self._loss = get_loss(self.output)
        check_scalar(self.weight_decay, "weight_decay", 0, None)
        if self.sparsity not in (None, "l1"):
            raise ValueError(f"sparsity must be None or 'l1' (L1 on the code), got "
                             f"{self.sparsity!r}")
        check_scalar(self.sparsity_weight, "sparsity_weight", 0, None)
        if self.sparsity is None and self.sparsity_weight > 0:
            raise ValueError(f"sparsity_weight={self.sparsity_weight} has no effect without a "
                             f"penalty: set sparsity='l1'")
        check_noise(self.noise, self.noise_level)
        if self.noise is None and self.noise_clip is not None:
            raise ValueError("noise_clip clips the corrupted input: it needs a noise")
        if self.noise_clip is not None:
            if not isinstance(self.noise_clip, (tuple, list)) or len(self.noise_clip) != 2:
                raise ValueError(f"noise_clip must be None or a pair (lo, hi), got "
                                 f"{self.noise_clip!r}")
            lo = check_scalar(self.noise_clip[0], "noise_clip[0]")
            check_scalar(self.noise_clip[1], "noise_clip[1]", lo, None, low_open=True)

    def _terms(self):
        """The named loss terms this configuration reports (a term with weight 0 is off)."""
        terms = ["recon"]
        if self.sparsity is not None and self.sparsity_weight > 0:
            terms.append("sparsity")
        if self.weight_decay > 0:
            terms.append("weight_decay")
        return terms

    # Where each loss term's equations are, for the gradient checker's diagnosis.
    term_equations = {
        "recon": "(F1)-(F6), (B1)-(B5) in npae/models/conv.py; (C1)-(U2) in npae/conv.py",
        "sparsity": "(F6), (B4) in npae/models/conv.py; (P3)-(P4) in npae/penalties.py",
        "weight_decay": "(B6) in npae/models/conv.py; (P1)-(P2) in npae/penalties.py",
        "input": "(F0), (B7) in npae/models/conv.py; (D1)-(D6) in npae/noise.py",
    }

    # -- architecture --------------------------------------------------------------------
    def _resolve_image_shape(self, D):
        """image_shape, else the shape of a 4-D X given to fit, else (1, √D, √D)."""
        if self.image_shape is not None:
            shape = _check_image_shape(self.image_shape, "image_shape")
        elif getattr(self, "_data_image_shape", None) is not None:
            shape = self._data_image_shape
        else:
            side = math.isqrt(D)
            if side * side != D:
                raise ValueError(f"image_shape is None and D = {D} features is not a square "
                                 f"number: pass image_shape=(C, H, W) with C·H·W = {D}")
            shape = (1, side, side)
        if int(np.prod(shape)) != D:
            raise ValueError(f"image_shape={shape} has {int(np.prod(shape))} pixels, but X "
                             f"has {D} features per row")
        return tuple(int(v) for v in shape)

    def _stages(self, image_shape):
        """The encoder then the decoder, as :class:`Stage` records, for images (C, H, W)."""
        self._validate_hyperparameters()
        C, H, W = image_shape
        k, p, F = self.kernel_size, self.kernel_size // 2, self._filters
        L = len(F)
        sizes = [(H, W)]
        for _ in range(L):                                     # (F3) "same" pooling: ⌈n/2⌉
            sizes.append(tuple(-(-n // 2) for n in sizes[-1]))
        enc = [Stage(f"enc.{l}", False, F[l - 1] if l else C, F[l], 1, p, (0, 0), self._act,
                     "pool") for l in range(L)]                 # (F1)-(F3)
        widths = F[::-1]                                       # (F_L, …, F_1)
        dec = []
        if self.decoder == "upsample":
            pads = _upsample_paddings(sizes[-1], (H, W), k, L)
            for m in range(L):
                dec.append(Stage(f"dec.{m}", False, widths[m - 1] if m else F[-1], widths[m],
                                 1, pads[m], (0, 0), self._act, "upsample"))
        else:
            for m in range(L):
                (u, v), (t, s) = sizes[L - m], sizes[L - m - 1]
                dec.append(Stage(f"dec.{m}", True, widths[m - 1] if m else F[-1], widths[m],
                                 2, p, (t - 2 * u + 1, s - 2 * v + 1), self._act, None))
        dec.append(Stage(f"dec.{L}", False, widths[-1], C, 1, p, (0, 0), None, None))   # (F5)
        return enc, dec

    def _init_params(self, D, rng):
        """Glorot-uniform kernels (He-uniform before a ReLU), zero biases, in ``dtype``.

        As npae.models.autoencoder with the fans of a convolution: n_in·k² inputs and
        n_out·k² outputs per kernel entry; U(−r, r), r = √(6/fan_in) before a ReLU, else
        √(6/(fan_in + fan_out)).
        """
        self._validate_hyperparameters()
        self.image_shape_ = self._resolve_image_shape(D)
        enc, dec = self._stages(self.image_shape_)
        k2, params = self.kernel_size ** 2, {}
        for st in enc + dec:
            fan_in, fan_out = st.n_in * k2, st.n_out * k2
            relu = st.activation is not None and st.activation.name == "relu"
            r = math.sqrt(6.0 / fan_in) if relu else math.sqrt(6.0 / (fan_in + fan_out))
            shape = (st.n_in, st.n_out) if st.transposed else (st.n_out, st.n_in)
            params[f"{st.name}.W"] = rng.uniform(-r, r, size=shape + (self.kernel_size,) * 2) \
                .astype(self._dtype)
            params[f"{st.name}.b"] = np.zeros(st.n_out, dtype=self._dtype)
        return params

    @property
    def code_shape_(self):
        """(F_L, H_L', W_L'), the shape of one code z (F3)."""
        self._check_fitted()
        C, H, W = self.image_shape_
        for _ in self._filters:
            H, W = -(-H // 2), -(-W // 2)
        return (self._filters[-1], H, W)

    # -- data ------------------------------------------------------------------------------
    def _as_rows(self, X, name):
        """X as rows (N, D): a 4-D (N, C, H, W) array is flattened after its shape is checked."""
        arr = np.asarray(X) if X is not None else X
        if isinstance(arr, np.ndarray) and arr.ndim == 4:
            shape = getattr(self, "image_shape_", None) if getattr(self, "params_", None) \
                is not None else None
            shape = shape or (None if self.image_shape is None
                              else _check_image_shape(self.image_shape, "image_shape"))
            if shape is not None and tuple(arr.shape[1:]) != tuple(shape):
                raise ValueError(f"{name} has images of shape {arr.shape[1:]}, expected "
                                 f"(C, H, W) = {tuple(shape)}")
            return arr.reshape(arr.shape[0], -1)
        if isinstance(arr, np.ndarray) and arr.ndim not in (2, 4):
            raise ValueError(f"{name} must be 2-dimensional (N, D) or 4-dimensional (N, C, H, W), "
                             f"got shape {arr.shape}")
        return X

    def fit(self, X, y=None, *, X_val=None):
        """Train on X (N, D) or (N, C, H, W); see BaseModel.fit."""
        arr = np.asarray(X) if X is not None else X
        self._data_image_shape = (tuple(int(v) for v in arr.shape[1:])
                                  if isinstance(arr, np.ndarray) and arr.ndim == 4 else None)
        try:
            return super().fit(self._as_rows(X, "X"), y,
                               X_val=None if X_val is None else self._as_rows(X_val, "X_val"))
        finally:
            self._data_image_shape = None

    def _check_X(self, X, name="X", fitted=True):
        return super()._check_X(self._as_rows(X, name), name, fitted)

    def _check_targets(self, X, name):
        self._validate_hyperparameters()
        return self._loss.check_targets(X, name)

    def _extra_state(self):
        extra = super()._extra_state()
        extra["image_shape"] = list(self.image_shape_)
        return extra

    def _restore_extra_state(self, extra):
        super()._restore_extra_state(extra)
        self.image_shape_ = tuple(int(v) for v in extra["image_shape"])

    # -- forward and backward --------------------------------------------------------------
    @staticmethod
    def _run(params, stages, h):
        """(F1)-(F5) through ``stages`` from images h; one cache per stage."""
        caches = []
        for st in stages:
            W, b = params[f"{st.name}.W"], params[f"{st.name}.b"]
            cols = None
            if st.transposed:
                a = conv_transpose2d_forward(h, W, b, st.stride, st.padding,
                                             st.output_padding)         # (F4) convᵀ
            else:
                a, cols = _conv2d_forward(h, W, b, st)                  # (F1), (F4), (F5)
            r = st.activation.forward(a) if st.activation else a        # (F2), (F4) f, g
            if st.after == "pool":
                out = maxpool2d_forward(r, 2, "same")                   # (F3)
            elif st.after == "upsample":
                out = upsample2d_forward(r, 2)                          # (F4) up
            else:
                out = r
            caches.append(StageCache(inp=h, pre=a, act=r, out=out, cols=cols))
            h = out
        return caches

    @staticmethod
    def _backprop(params, stages, caches, dh, grads, need_dX=True):
        """(B2)-(B3), (B5) down ``stages`` from dh = ∂ℒ/∂(last output); returns ∂ℒ/∂(input)."""
        for i in range(len(stages) - 1, -1, -1):
            st, cache = stages[i], caches[i]
            if st.after == "pool":
                dh = maxpool2d_backward(dh, cache.act, 2, "same")       # (B5) to the switch
            elif st.after == "upsample":
                dh = upsample2d_backward(dh, 2)                         # (B3) block sums
            da = st.activation.backward(dh, cache.pre, cache.act) if st.activation else dh
            W = params[f"{st.name}.W"]
            if st.transposed:
                dh, dW, db = conv_transpose2d_backward(
                    da, cache.inp, W, st.stride, st.padding, st.output_padding,
                    need_dX=need_dX or i > 0)                           # (B3) conv (T6)-(T8)
            else:
                dh, dW, db = _conv2d_backward(da, cache.inp, W, st, cache.cols,
                                              need_dX or i > 0)         # (B2), (B3), (B5)
            grads[f"{st.name}.W"] = dW
            grads[f"{st.name}.b"] = db
        return dh

    def _forward_backward(self, params, X, noise, terms, need_grads, need_input_grad):
        W0 = params["enc.0.W"]
        shape = self._param_image_shape(params)
        X = check_array(self._as_rows(X, "X"), "X", ndim=2, dtype=W0.dtype,
                        n_features=int(np.prod(shape)))
        self._check_targets(X, "X")
        enc, dec = self._stages(shape)
        use = self._select_terms(terms, self._terms())
        B = X.shape[0]

        X_noisy = X if noise is None else _corrupt(noise, X)               # (F0) c(X; ν)
        X_in = X_noisy if self.noise_clip is None else np.clip(X_noisy, *self.noise_clip)
        enc_caches = self._run(params, enc, X_in.reshape((B,) + shape))    # (F1)-(F3)
        z = enc_caches[-1].out                                             # code (B, F_L, ·, ·)
        dec_caches = self._run(params, dec, z)                             # (F4)-(F5)
        logits = dec_caches[-1].out.reshape(B, -1)                         # A' as rows (B, D)
        recon, d_recon = self._loss.value_and_grad(
            logits, X, grad=need_grads or need_input_grad)                 # (F6), (B1)
        values = {"recon": recon}
        if "sparsity" in self._terms():
            values["sparsity"] = l1_activity(z.reshape(B, -1), self.sparsity_weight)   # (F6)
        kernels = [params[k] for k in params if k.endswith(".W")]
        if self.weight_decay > 0:
            values["weight_decay"] = weight_decay(kernels, self.weight_decay)           # (F6)
        loss = float(sum(values[t] for t in use))
        if not (need_grads or need_input_grad):
            return loss, values, None, None

        grads = {}
        d_logits = d_recon if "recon" in use else np.zeros_like(logits)   # (B1) (B, D)
        dz = self._backprop(params, dec, dec_caches,
                            d_logits.reshape(dec_caches[-1].out.shape), grads)   # (B2)-(B3)
        if "sparsity" in use:
            dz = dz + l1_activity_grad(z.reshape(B, -1),
                                       self.sparsity_weight).reshape(z.shape)    # (B4)
        dX_in = self._backprop(params, enc, enc_caches, dz, grads, need_input_grad)   # (B5)
        if "weight_decay" in use:
            for k in params:
                if k.endswith(".W"):
                    grads[k] = grads[k] + weight_decay_grad(params[k], self.weight_decay)  # (B6)
        dX = None
        if need_input_grad:
            dX_in = dX_in.reshape(B, -1)
            if self.noise_clip is not None:
                lo, hi = self.noise_clip
                dX_in = dX_in * ((X_noisy > lo) & (X_noisy < hi))          # (B7) clipped: 0
            dX = dX_in if noise is None else noise.backward(dX_in)         # (B7) ∂c/∂X
            if "recon" in use:
                dX = dX + self._loss.target_grad(logits, X)                # (B7) X as target
        grads = {k: grads[k] for k in params}                              # params' order
        return loss, values, grads, dX

    def _param_image_shape(self, params):
        """The image shape (C, H, W) the parameters were made for (set with them)."""
        shape = getattr(self, "image_shape_", None)
        if shape is None:
            raise NotFittedError(f"this {type(self).__name__} has no image_shape_ yet; call "
                                 f"fit(X) or initialize(n_features) first")
        return tuple(shape)

    # -- the estimator API -----------------------------------------------------------------
    def _chunks(self, X):
        """Row blocks of ``batch_size``: the patch matrices of a whole test set would not fit."""
        return (X[i:i + self.batch_size] for i in range(0, X.shape[0], self.batch_size))

    def _check_input(self, X, name="X"):
        """X as an encoder input: finite, the right size, any range (not a target)."""
        self._check_fitted()
        return check_array(self._as_rows(X, name), name, ndim=2, dtype=self._dtype,
                           n_features=self.n_features_in_)

    def transform(self, X):
        """Encode: the code z of each image, flattened, (N, F_L·H_L'·W_L')."""
        X = self._check_input(X)
        enc, _ = self._stages(self.image_shape_)
        shape = (-1,) + self.image_shape_
        return np.concatenate([self._run(self.params_, enc, Xb.reshape(shape))[-1].out
                               .reshape(Xb.shape[0], -1) for Xb in self._chunks(X)])

    def inverse_transform(self, Z):
        """Decode codes Z (N, F_L·H_L'·W_L') or (N, F_L, H_L', W_L') to x̂ (N, D)."""
        self._check_fitted()
        code = self.code_shape_
        Z = np.asarray(Z) if Z is not None else Z
        if isinstance(Z, np.ndarray) and Z.ndim == 4:
            if Z.shape[1:] != code:
                raise ValueError(f"Z has codes of shape {Z.shape[1:]}, expected {code}")
            Z = Z.reshape(Z.shape[0], -1)
        Z = check_array(Z, "Z", ndim=2, dtype=self._dtype, n_features=int(np.prod(code)))
        _, dec = self._stages(self.image_shape_)
        return np.concatenate([
            self._loss.mean(self._run(self.params_, dec, Zb.reshape((-1,) + code))[-1].out
                            .reshape(Zb.shape[0], -1)) for Zb in self._chunks(Z)])   # (F4)-(F5)

    def reconstruct(self, X):
        """x̂ = decode(encode(X)), (N, D); X is encoded as given (no corruption, any range)."""
        return self.inverse_transform(self.transform(X))

    def reconstruction_error(self, X):
        """Per-example reconstruction loss (summed over pixels), (N,)."""
        self._check_fitted()
        X = self._check_X(X)
        enc, dec = self._stages(self.image_shape_)
        shape = (-1,) + self.image_shape_
        out = []
        for Xb in self._chunks(X):
            z = self._run(self.params_, enc, Xb.reshape(shape))[-1].out
            out.append(self._loss.per_example(
                self._run(self.params_, dec, z)[-1].out.reshape(Xb.shape[0], -1), Xb))
        return np.concatenate(out)

    def n_parameters(self):
        """The number of learned numbers (kernels and biases)."""
        self._check_fitted()
        return int(sum(v.size for v in self.params_.values()))


def _check_image_shape(shape, name):
    if (not isinstance(shape, (tuple, list)) or len(shape) != 3
            or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1
                       for v in shape)):
        raise ValueError(f"{name} must be None or (C, H, W), three positive integers, got "
                         f"{shape!r}")
    return tuple(int(v) for v in shape)


def _upsample_paddings(code_hw, target_hw, k, L):
    """Paddings p_m ∈ {(k−1)/2, 0} of the L upsample-decoder convolutions that take the
    code's size to the image's (F4): the fewest valid ones, as late as possible."""
    same = k // 2

    def size(n, pads):
        for p in pads:
            n = n + 2 * p - k + 1                          # conv (C1), stride 1
            if n < 1:
                return None
            n = 2 * n                                      # conv (U1)
        return n

    options = sorted(itertools.product((same, 0), repeat=L),
                     key=lambda pads: (sum(p != same for p in pads),
                                       tuple(p != same for p in pads)))
    for pads in options:
        if all(size(n, pads) == t for n, t in zip(code_hw, target_hw)):
            return pads
    raise ValueError(f"no upsample decoder of {L} stages (each a {k}×{k} convolution, same "
                     f"or valid, then ×2) takes the code's {code_hw[0]}×{code_hw[1]} back to "
                     f"{target_hw[0]}×{target_hw[1]}; use decoder='transposed', which mirrors "
                     f"any size")


def _conv2d_forward(h, W, b, st):
    """(F1), (F5): a conv2d stage's A = conv(h; W) + b, and its patch matrix P (C4).

    P is what the stage's backward reuses (None when it has none); see _flipped for the
    route taken."""
    if _via_flipped(W, st) == "forward and backward":
        return conv_transpose2d_forward(h, _flipped(W), b, 1,
                                        _flipped_padding(W, st.padding)), None
    return conv2d_forward(h, W, b, st.stride, st.padding, return_cols=True)


def _conv2d_backward(da, inp, W, st, cols, need_dX):
    """(B2), (B5): (dh, dW, db) of a conv2d stage given da = ∂ℒ/∂a.

    dh is None when ``need_dX`` is false; see _flipped for the route taken."""
    route = _via_flipped(W, st)
    if route == "forward and backward":
        dh, dW, db = conv_transpose2d_backward(da, inp, _flipped(W), 1,
                                               _flipped_padding(W, st.padding), need_dX=need_dX)
        return dh, np.ascontiguousarray(_flipped(dW)), db              # dW back to (F, C, k, k)
    by_flip = need_dX and route == "input gradient"
    dh, dW, db = conv2d_backward(da, inp, W, st.stride, st.padding,
                                 need_dX=need_dX and not by_flip, cols=cols)
    if by_flip:
        dh = conv2d_forward(da, _flipped(W), None, 1, _flipped_padding(W, st.padding))
    return dh, dW, db


def _via_flipped(W, st):
    """Which part of a conv2d stage takes the second route (see _flipped), or None.

    "forward and backward" for a stride-1 convolution to fewer channels than it reads,
    "input gradient" for one to as many, None otherwise (and for any stride, padding or
    kernel shape where the identity does not hold as used here)."""
    F, C, kh, kw = W.shape
    if st.stride != 1 or kh != kw or st.padding > kh - 1:
        return None
    return "forward and backward" if F < C else "input gradient" if F == C else None


def _flipped(W):
    """The kernel (C, F, kh, kw) of the second route some conv2d stages take (below).

    It is W (F, C, kh, kw) rotated by 180° with its channel axes swapped; flipping twice
    gives W back.

    By conv (C11)-(C12) the adjoint of conv(·; W, stride 1, padding p) is the convolution
    with kernel _flipped(W) and padding kh − 1 − p (square kernels, as the model's); taking
    adjoints again (conv (T2)), conv(·; W, 1, p) is the transposed convolution with kernel
    _flipped(W) and padding kh − 1 − p, and its gradients are that one's (conv (T6)-(T8)),
    dW flipped back. The model runs a narrowing convolution (n_out < n_in) this way because
    its patch matrices then have n_out·k² rows instead of n_in·k²: the forward's GEMM
    writes Q (n_out·k², B·Hi·Wi) and scatters it (conv (T3)-(T4)) instead of copying the
    patches P (n_in·k², B·Ho·Wo) of (C4), and the backward copies the patches of dA
    (T6)-(T7) instead of scattering dP (C8)-(C9). For the output layer conv3×3(16→1) at
    28×28 that is 9 rows instead of 144 (58 MB per batch of 128): its forward and backward
    went from 38 ms to 6 ms, and conv3×3(16→8) at 14×14 from 14 ms to 8 ms (one thread).
    For n_out = n_in only the input gradient goes this way: conv2d of dA with _flipped(W)
    copies the patches of dA (n_out·k² rows) instead of scattering dP (n_in·k² rows, as
    many) by col2im (C9), about 2× faster for 8 → 8 at 4-14 pixels.
    """
    return W.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]


def _flipped_padding(W, padding):
    """The padding that goes with _flipped(W).

    kh − 1 − p, the padding of the transposed convolution equal to conv(·; W, 1, p):
    conv (T1) gives (Hi − 1) − 2(kh − 1 − p) + kh = Hi + 2p − kh + 1, conv (C1)'s Ho."""
    return W.shape[2] - 1 - padding


def _corrupt(noise, X):
    """(F0) c(X; ν) for a record drawn by npae.noise (an unknown object is refused)."""
    if not isinstance(noise, tuple(NOISES.values())):
        raise ValueError(f"noise must be None or a record drawn by sample_noise (one of "
                         f"{[c.__name__ for c in NOISES.values()]}), got "
                         f"{type(noise).__name__}")
    return noise.apply(X)
