"""The autoencoder: a deep encoder, a mirrored decoder, hand-written backprop.

Notation (DESIGN.md). X (B, D) a batch; the encoder has L dense layers with widths
``hidden_layer_sizes`` = (n_1, …, n_L), the last one the code size H = n_L; the decoder
has M dense layers ending in D outputs. f_l is layer l's activation.

Forward pass, with H_0 = X:

    (F1)  A_l = H_{l−1} W_l + b_l                 encoder layer l = 1..L,  (B, n_l)
    (F2)  H_l = f_l(A_l)                          its activation;  z = H_L  (B, H)
    (F3)  A'_m = H'_{m−1} V_m + c_m               decoder layer m = 1..M, H'_0 = z
    (F4)  H'_m = g_m(A'_m)                        for m < M; A'_M are the output logits
    (F5)  x̂ = mean(A'_M)                          σ for a Bernoulli output, identity for Gaussian
    (F6)  L = recon(A'_M, X) + (λ/2) Σ ‖W‖_F²     (npae.losses, npae.penalties)

Backward pass, from the top (the 1/B of the batch mean enters once, in B1):

    (B1)  dA'_M = ∂recon/∂A'_M = (x̂ − X) / B    for both outputs (npae.losses)
    (B2)  dV_m = H'_{m−1}ᵀ dA'_m ;  dc_m = Σ_n dA'_m ;  dH'_{m−1} = dA'_m V_mᵀ
    (B3)  dA'_{m−1} = dH'_{m−1} ⊙ g'_{m−1}(A'_{m−1})
    (B4)  dz = dH'_0, then the same two steps down the encoder:
          dW_l = H_{l−1}ᵀ dA_l ;  db_l = Σ_n dA_l ;  dH_{l−1} = dA_l W_lᵀ ;  dA_l = dH_l ⊙ f_l'(A_l)
    (B5)  dW += λ W for every weight matrix (weight decay)
    (B6)  dX = dH_0 + ∂recon/∂X              the input gradient: X enters as input and as target

Tied weights: decoder layer m uses V_m = W_{L+1−m}ᵀ and owns only its bias c_m. W then
reaches the loss twice, and its gradient is the sum of the two uses:

    (B7)  dW_l = H_{l−1}ᵀ dA_l  +  (H'_{m−1}ᵀ dA'_m)ᵀ       with m = L + 1 − l

With identity activations everywhere and a Gaussian output this is a linear autoencoder,
whose optimum spans the top-H principal subspace (Baldi & Hornik 1989; see npae.pca).
Parameters are named ``enc.l.W``, ``enc.l.b``, ``dec.m.W``, ``dec.m.b`` with l, m from 0.

References: Goodfellow, Bengio & Courville, *Deep Learning*, ch. 6 and 14;
Hinton & Salakhutdinov, "Reducing the dimensionality of data with neural networks", 2006.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_array, check_positive_int, check_scalar
from ..layers import get_activation
from ..losses import get_loss
from ..penalties import weight_decay, weight_decay_grad
from ..network import Layer, backprop_layers, run_layers
from .base import BaseModel


class Autoencoder(BaseModel):
    """Deep autoencoder with any number of layers, tied or untied weights.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int
        Encoder widths; the last is the code size H. The decoder mirrors them.
    activation : str or tuple of str
        Encoder activation(s), one name or one per encoder layer (identity, sigmoid,
        tanh, relu, softplus). The code layer uses the last one.
    output : {"bernoulli", "gaussian"}
        Sigmoid output with cross-entropy (X in [0, 1]) or identity output with ½ squared error.
    tied_weights : bool
        Decoder layer m uses the transpose of the mirrored encoder weight (B7).
    decoder_layer_sizes, decoder_activation : optional
        Decoder hidden widths and activations; default to the mirror of the encoder
        (a decoder hidden layer of width n_l uses f_l). Not allowed with tied weights.
    weight_decay : float
        λ of (λ/2) Σ ‖W‖_F² over all weight matrices.
    optimizer, learning_rate, batch_size, epochs, random_state, dtype, verbose
        Training settings (npae.optim, npae.training).
    """

    def __init__(self, hidden_layer_sizes=(64,), activation="sigmoid", output="bernoulli",
                 tied_weights=False, decoder_layer_sizes=None, decoder_activation=None,
                 weight_decay=0.0, optimizer="adam", learning_rate=1e-3, batch_size=128,
                 epochs=10, random_state=None, dtype="float32", verbose=True):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.output = output
        self.tied_weights = tied_weights
        self.decoder_layer_sizes = decoder_layer_sizes
        self.decoder_activation = decoder_activation
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.random_state = random_state
        self.dtype = dtype
        self.verbose = verbose

    # -- architecture -----------------------------------------------------------------
    def _validate_hyperparameters(self):
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, (int, np.integer)):
            sizes = (sizes,)
        if not isinstance(sizes, (tuple, list)) or len(sizes) == 0:
            raise ValueError(f"hidden_layer_sizes must be a non-empty tuple of positive "
                             f"integers, got {self.hidden_layer_sizes!r}")
        for i, n in enumerate(sizes):
            check_positive_int(n, f"hidden_layer_sizes[{i}]")
        self._sizes = tuple(int(n) for n in sizes)
        self._enc_acts = self._per_layer(self.activation, len(sizes), "activation")
        self._loss = get_loss(self.output)
        dec = self.decoder_layer_sizes
        if self.tied_weights and (dec is not None or self.decoder_activation is not None):
            raise ValueError("tied_weights=True needs the mirrored decoder: leave "
                             "decoder_layer_sizes and decoder_activation as None")
        if dec is None:
            self._dec_sizes = self._sizes[-2::-1]
            dec_acts = self.decoder_activation or tuple(a.name for a in self._enc_acts[-2::-1])
        else:
            if not isinstance(dec, (tuple, list)):
                raise ValueError(f"decoder_layer_sizes must be a tuple of positive integers, "
                                 f"got {dec!r}")
            for i, n in enumerate(dec):
                check_positive_int(n, f"decoder_layer_sizes[{i}]")
            self._dec_sizes = tuple(int(n) for n in dec)
            dec_acts = self.decoder_activation or self.activation
        self._dec_acts = self._per_layer(dec_acts, len(self._dec_sizes), "decoder_activation")
        check_scalar(self.weight_decay, "weight_decay", 0, None)
        if not isinstance(self.tied_weights, (bool, np.bool_)):
            raise ValueError(f"tied_weights must be True or False, got {self.tied_weights!r}")

    @staticmethod
    def _per_layer(spec, n, argument):
        names = (spec,) * n if isinstance(spec, str) else tuple(spec)
        if len(names) != n:
            raise ValueError(f"{argument} must be one name or {n} names (one per layer), "
                             f"got {spec!r}")
        return tuple(get_activation(a, argument) for a in names)

    def _layers(self):
        """The encoder then the decoder, as :class:`Layer` records (the loss owns the output)."""
        L = len(self._sizes)
        enc = [Layer(f"enc.{l}", f"enc.{l}.W", f"enc.{l}.b", self._enc_acts[l], False)
               for l in range(L)]
        dec_acts = list(self._dec_acts) + [None]        # output logits: the loss applies x̂
        if self.tied_weights:
            dec = [Layer(f"dec.{m}", f"enc.{L - 1 - m}.W", f"dec.{m}.b", dec_acts[m], True)
                   for m in range(L)]
        else:
            dec = [Layer(f"dec.{m}", f"dec.{m}.W", f"dec.{m}.b", dec_acts[m], False)
                   for m in range(len(self._dec_sizes) + 1)]
        return enc, dec

    def _init_params(self, D, rng):
        """Glorot-uniform weights (He-uniform before a ReLU), zero biases, in ``dtype``.

        U(−r, r) with r = √(6 / (n_in + n_out)) keeps activation variances roughly
        constant through sigmoid/tanh layers; r = √(6 / n_in) does so for ReLU.
        """
        self._validate_hyperparameters()
        widths = (D,) + self._sizes
        dec_widths = (self._sizes[-1],) + self._dec_sizes + (D,)
        enc, dec = self._layers()
        params = {}
        for layer, n_in, n_out in zip(enc, widths[:-1], widths[1:]):
            params[layer.W] = _init_weight(rng, n_in, n_out, layer.activation, self._dtype)
            params[layer.b] = np.zeros(n_out, dtype=self._dtype)
        for layer, n_in, n_out in zip(dec, dec_widths[:-1], dec_widths[1:]):
            if not layer.transposed:
                params[layer.W] = _init_weight(rng, n_in, n_out, layer.activation, self._dtype)
            params[layer.b] = np.zeros(n_out, dtype=self._dtype)
        return params

    def initialize(self, n_features, random_state=None):
        """Set fresh ``params_`` for ``n_features`` inputs without training (for checks and teaching)."""
        self._validate_hyperparameters()
        check_positive_int(n_features, "n_features")
        seed = self.random_state if random_state is None else random_state
        self.n_features_in_ = int(n_features)
        self.params_ = self._init_params(self.n_features_in_, np.random.default_rng(seed))
        self.history_ = {}
        return self

    def _check_targets(self, X, name):
        self._validate_hyperparameters()
        return self._loss.check_targets(X, name)

    # -- forward and backward ------------------------------------------------------
    def _forward_backward(self, params, X, noise, terms, need_grads, need_input_grad):
        X = check_array(X, "X", ndim=2, dtype=params["enc.0.W"].dtype,
                        n_features=params["enc.0.W"].shape[0])
        self._check_targets(X, "X")
        enc, dec = self._layers()
        available = ["recon"] + (["weight_decay"] if self.weight_decay > 0 else [])
        use = self._select_terms(terms, available)

        enc_caches = run_layers(params, enc, X)                             # (F1)-(F2)
        z = enc_caches[-1].out                                              # code (B, H)
        dec_caches = run_layers(params, dec, z)                             # (F3)-(F4)
        logits = dec_caches[-1].out                                         # A'_M (B, D)
        weights = [params[k] for k in params if k.endswith(".W")]
        values = {"recon": self._loss.value(logits, X)}                     # (F6)
        if "weight_decay" in available:
            values["weight_decay"] = weight_decay(weights, self.weight_decay)
        loss = float(sum(values[t] for t in use))
        if not (need_grads or need_input_grad):
            return loss, values, None, None

        grads = {}
        if "recon" in use:
            d_logits = self._loss.grad(logits, X)                           # (B1) (B, D)
        else:
            d_logits = np.zeros_like(logits)
        dz = backprop_layers(params, dec, dec_caches, d_logits, grads)      # (B2)-(B3)
        dX = backprop_layers(params, enc, enc_caches, dz, grads, need_input_grad)  # (B4)
        if "weight_decay" in use:
            for k in params:
                if k.endswith(".W"):
                    grads[k] = grads[k] + weight_decay_grad(params[k], self.weight_decay)  # (B5)
        if need_input_grad and "recon" in use:
            dX = dX + self._loss.target_grad(logits, X)                     # (B6)
        grads = {k: grads[k] for k in params}                               # params' order
        return loss, values, grads, dX

    # -- the estimator API ---------------------------------------------------------
    def transform(self, X):
        """Encode: the code z = H_L for each row of X, (N, H)."""
        self._check_fitted()
        X = self._check_X(X)
        enc, _ = self._layers()
        return run_layers(self.params_, enc, X)[-1].out

    def inverse_transform(self, Z):
        """Decode codes Z (N, H) to the mean reconstruction x̂ (N, D)."""
        self._check_fitted()
        self._validate_hyperparameters()
        Z = check_array(Z, "Z", ndim=2, dtype=self._dtype, n_features=self._sizes[-1])
        _, dec = self._layers()
        return self._loss.mean(run_layers(self.params_, dec, Z)[-1].out)

    def reconstruct(self, X):
        """x̂ = decode(encode(X)), (N, D)."""
        return self.inverse_transform(self.transform(X))

    def reconstruction_error(self, X):
        """Per-example reconstruction loss (summed over features), (N,): an anomaly score."""
        self._check_fitted()
        X = self._check_X(X)
        enc, dec = self._layers()
        z = run_layers(self.params_, enc, X)[-1].out
        return self._loss.per_example(run_layers(self.params_, dec, z)[-1].out, X)


def _init_weight(rng, n_in, n_out, activation, dtype):
    relu = activation is not None and activation.name == "relu"
    r = np.sqrt(6.0 / n_in) if relu else np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-r, r, size=(n_in, n_out)).astype(dtype)


def pca(X, n_components):
    """Principal components by SVD of the centred data.

    With X̄ = X − mean(X) = U S Vᵀ, the top-H principal directions are the first H
    rows of Vᵀ and the explained variances S²/(N−1). Returns ``(components, mean,
    explained_variance)`` with components (H, D), rows orthonormal.
    """
    X = check_array(X, "X", ndim=2)
    check_positive_int(n_components, "n_components", maximum=min(X.shape))
    mean = X.mean(axis=0)
    _, S, Vt = np.linalg.svd(X - mean, full_matrices=False)
    return Vt[:n_components], mean, S[:n_components] ** 2 / max(X.shape[0] - 1, 1)
