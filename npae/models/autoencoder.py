"""The autoencoder: a deep encoder, a mirrored decoder, hand-written backprop.

Notation: docs/notation.md. Tags are local to this module; cited from elsewhere they
read "autoencoder (B3)", and this module cites the others the same way ("losses (F4)",
"penalties (P6)", "noise (D3)"). X (B, D) is a batch, one example per row; the encoder
has L dense layers with widths ``hidden_layer_sizes`` = (n_1, …, n_L), the last one the
code size H = n_L; the decoder has M dense layers ending in D outputs (M = L when it
mirrors the encoder). a_l and h_l (B, n_l) are layer l's pre-activation and activation,
f_l its activation function (g_m for decoder layer m); ℒ is the loss.

Forward pass, with h_0 = X:

    (F1)  a_l = h_{l−1} W_l + b_l                 encoder layer l = 1..L,  (B, n_l)
    (F2)  h_l = f_l(a_l)                          its activation;  z = h_L  (B, H)
    (F3)  a'_m = h'_{m−1} V_m + c_m               decoder layer m = 1..M, h'_0 = z
    (F4)  h'_m = g_m(a'_m)                        for m < M; A' = a'_M are the output logits (B, D)
    (F5)  x̂ = mean(A')                            σ(A') for a Bernoulli output, A' for Gaussian
    (F6)  ℒ = recon(A', X) + (λ/2) Σ ‖W‖_F²       losses (F2)/(F4), penalties (P1)

Backward pass, from the top (the 1/B of the batch mean enters once, in B1):

    (B1)  dA' = ∂recon/∂A' = (x̂ − X) / B         for both outputs (losses (B1)/(B3))
    (B2)  dV_m = h'_{m−1}ᵀ da'_m ;  dc_m = Σ_n da'_m ;  dh'_{m−1} = da'_m V_mᵀ      (da'_M = dA')
    (B3)  da'_{m−1} = dh'_{m−1} ⊙ g'_{m−1}(a'_{m−1})
    (B4)  dz = dh'_0 = dh_L, then down the encoder for l = L..1:
          da_l = dh_l ⊙ f_l'(a_l) ;  dW_l = h_{l−1}ᵀ da_l ;  db_l = Σ_n da_l ;  dh_{l−1} = da_l W_lᵀ
    (B5)  dW += λ W for every weight matrix (weight decay, penalties (P2))
    (B6)  dX = dh_0 + ∂recon/∂X              the input gradient: X enters as input and as target

Tied weights: decoder layer m uses V_m = W_{L+1−m}ᵀ and owns only its bias c_m. W then
reaches the loss twice, and its gradient is the sum of the two uses:

    (B7)  dW_l = h_{l−1}ᵀ da_l  +  (h'_{m−1}ᵀ da'_m)ᵀ       with m = L + 1 − l

Regularized autoencoders: one mechanism, many models
-----------------------------------------------------
Corruption of the input, penalties on the code and a k-sparse code compose on this one
class (all are off by default; the presets in npae.models.regularized only change
defaults, so e.g. a sparse denoising autoencoder is ``Autoencoder(sparsity="kl",
noise="masking")``). With ν the step's noise drawn by ``sample_noise`` (npae.noise):

    (F0)  X̃ = c(X; ν)                        corrupted input (X̃ = X when ν is None);
                                             the encoder reads h_0 = X̃ in (F1)
    (F0n) X̄ = X / ‖X‖₂ row by row            with input_normalization="l2" (normalization
                                             (N1)-(N2)), before (F0): X̃ = c(X̄; ν)
    (F7)  z = h_L ⊙ S,  S_nj = 1[h_nj among the k largest of row n]    k-sparse (else z = h_L);
                                             with k_by="magnitude", the k largest |h_nj|
    (F8)  R_sp = λ_s (1/B) Σ_nj |z_nj|        or   β Σ_j KL(ρ ‖ ρ̂_j),  ρ̂_j = (1/B) Σ_n z_nj
                                             (penalties (P3) or (P5)-(P6))
    (F9)  R_c = λ_c (1/B) Σ_n ‖J_f(x̃_n)‖_F²   = λ_c (1/B) Σ_nj (h_nj(1 − h_nj))² Σ_i W_ij²
                                             one-layer sigmoid encoder h = σ(x̃ W + b),
                                             penalties (P10)-(P12)
    (F10) ℒ = recon(A', X) + R_sp + R_c + (λ/2) Σ ‖W‖_F²      the target is the CLEAN X

and the backward pass gains, in this order (npae.penalties derives each term):

    (B8)  dz += ∂R_sp/∂z = (1/B) β [−ρ/ρ̂_j + (1−ρ)/(1−ρ̂_j)]   KL sparsity, penalties (P7)-(P8);
          for the L1 penalty its subgradient instead, penalties (P4)
    (B9)  dh_L = dz ⊙ S                      only the k kept units pass a gradient
    (B10) dh_L += ∂R_c/∂h = (2λ_c/B) σ' q (1 − 2h),  σ' = h(1 − h), q_j = Σ_i W_ij²;
          then (B4) carries dh_L down the encoder (through σ' into W, b and X̃)
    (B11) dW_1 += ∂R_c/∂W |_h = (2λ_c/B) W ⊙ Σ_n σ'_n²     the path through q, h held
          fixed (penalties (P14)): W reaches R_c twice, via h and via q
    (B12) dX = (∂X̃/∂X)ᵀ dh_0 + ∂recon/∂X     X enters corrupted and as the target
          (∂X̃/∂X: 1 for Gaussian noise, the mask m for masking, 1 − r for salt-and-pepper,
          m/(1 − p) for dropout; noise (D2), (D4), (D6), (D8))
    (B0n) with input_normalization="l2" the (B12) path through X̃ continues through X̄:
          (I − x̄ x̄ᵀ)/‖x‖ row by row (normalization (N3)); the target path is unchanged

``values`` holds each term exactly as it enters (F10), its weight applied (recon, and
sparsity, contractive, weight_decay when their weight is positive), so ℒ is the sum of
the selected entries (docs/notation.md). Unweighted diagnostics are elsewhere:
ρ̂ by npae.metrics.mean_activation, ‖J_f‖_F by npae.metrics.mean_jacobian_norm.

Missing values (Autoencoder family only, not the VAE). ``fit(X, observed=M)``,
``loss_and_grads(X, observed=M)``, ``loss`` and ``input_gradient`` take a boolean mask M
of X's shape: the encoder reads X⁰ = M ⊙ X, the reconstruction term is summed over the
observed entries of each example and averaged over the batch, and only observed entries
send a gradient (npae.missing (I1)-(I4)); ``impute(X, observed)`` fills the missing
entries with the reconstruction (missing (I5)).

Design decisions. ``sparsity`` and ``k`` are two ways to a sparse code and are not
combined. The sparsity penalties act on the code z. KL sparsity needs sigmoid code
units, so that ρ̂_j is a probability; ρ̂_j is the mean over the minibatch, not over the
training set as in Ng's notes (see penalties (P5)), which biases the penalty upward and
makes ``score`` depend on ``batch_size``. The contractive penalty is the closed form of
Rifai et al. (2011) for ONE sigmoid layer and is refused for deeper or non-sigmoid
encoders (train deep contractive encoders layer by layer, as Rifai et al. do); it is
evaluated at the encoder's input x̃ and on h before any k-sparse mask. Salt-and-pepper
values are the minimum and maximum of the training data, learned by ``fit`` and saved
with the model (``data_range_``), so (F0) is differentiable in X away from the replaced
entries. At test time (``transform``, ``reconstruct``, ``reconstruction_error``) a
k-sparse model keeps round(k_alpha · k) units (Makhzani & Frey 2014 use α ≥ 1 at test
time); training always keeps k. A subclass may mask intermediate encoder layers too
(``_encoder_ks``; npae.models.stacked does for k-sparse stages): (F7) and (B9) then
apply after each such layer.

A linear autoencoder and PCA. With identity activations everywhere, a Gaussian output,
no weight decay and the code layer the narrowest, the global minimum of the squared
error spans the top-H principal subspace of the centered data (the biases absorb the
mean); when the data covariance has distinct eigenvalues every other critical point is
a saddle (Baldi & Hornik 1989). Only the subspace is determined: the weights are the
principal directions up to an invertible H × H map (see :func:`pca`).
Parameters are named ``enc.l.W``, ``enc.l.b``, ``dec.m.W``, ``dec.m.b`` with l, m from 0.

References: Goodfellow, Bengio & Courville, *Deep Learning*, ch. 6 and 14;
Hinton & Salakhutdinov, "Reducing the dimensionality of data with neural networks", 2006;
regularizers: Ng, "Sparse autoencoder" (CS294A notes, 2011); Makhzani & Frey, "k-Sparse
autoencoders" (ICLR 2014); Vincent et al., "Stacked denoising autoencoders" (JMLR 2010);
Rifai et al., "Contractive auto-encoders" (ICML 2011); Baldi & Hornik, "Neural networks
and principal component analysis", Neural Networks 2, 1989.
"""
from __future__ import annotations

import numpy as np

from .._validation import (check_array, check_choice, check_layer_sizes, check_positive_int,
                           check_scalar)
from ..layers import get_activation
from ..losses import get_loss
from ..missing import check_observed, masked_target_grad, masked_value_and_grad
from ..network import Layer, backprop_layers, run_layers
from ..noise import NOISES, check_noise
from ..normalization import check_normalization, l2_normalize, l2_normalize_backward
from ..penalties import (contractive, contractive_grad, kl_sparsity, kl_sparsity_grad,
                         l1_activity, l1_activity_grad, TOP_K_BY, top_k_mask, weight_decay,
                         weight_decay_grad)
from ..sparse import CSRRows
from .base import CorruptibleModel

SPARSITIES = ("l1", "kl")


class Autoencoder(CorruptibleModel):
    """Deep autoencoder with any number of layers, tied or untied weights.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int
        Encoder widths; the last is the code size H. The decoder mirrors them.
    activation : str or tuple of str
        Encoder activation(s), one name or one per encoder layer (identity, sigmoid,
        tanh, relu, softplus, soft_threshold or soft_threshold:λ, npae.layers
        (S1)-(S2)). The code layer uses the last one.
    output : {"bernoulli", "gaussian", "multinomial"}
        Sigmoid output with cross-entropy (X in [0, 1]), identity output with ½ squared
        error, or softmax output with the multinomial likelihood of counts X ≥ 0
        (losses (F5)-(F7); Mult-DAE, npae.MultDAE).
    tied_weights : bool
        Decoder layer m uses the transpose of the mirrored encoder weight (B7).
    decoder_layer_sizes, decoder_activation : optional
        Decoder hidden widths and activations; default to the mirror of the encoder
        (a decoder hidden layer of width n_l uses f_l). Not allowed with tied weights.
    weight_decay : float
        λ of (λ/2) Σ ‖W‖_F² over all weight matrices.
    sparsity : {None, "l1", "kl"}
        Penalty on the code (F8): L1 activity or KL sparsity (sigmoid code units only).
    sparsity_weight : float
        λ_s of the L1 penalty or β of the KL penalty; 0 switches the term off.
    sparsity_target : float
        ρ ∈ (0, 1), the target mean activation of the KL penalty.
    k : int or None
        k-sparse code (F7): keep the k largest code values per example, 1 ≤ k ≤ H.
    k_alpha : float
        At transform time keep round(k_alpha · k) units (between 1 and H).
    k_by : {"value", "magnitude"}
        What the k-sparse mask ranks: the signed code values (default) or their
        absolute values |h| (npae.penalties.top_k_mask).
    noise : {None, "gaussian", "masking", "dropout", "salt_and_pepper"}
        Corruption of the input (F0), drawn by ``sample_noise`` (npae.noise).
    noise_level : float
        s ≥ 0 (Gaussian standard deviation) or p ∈ [0, 1] (the probability that an
        entry is corrupted: the fraction corrupted only in expectation).
    contractive_weight : float
        λ_c of the contractive penalty (F9); one-layer sigmoid encoders only.
    input_normalization : {None, "l2"}
        "l2": the encoder reads each row divided by its 2-norm (F0n), before the
        corruption; the loss still compares with the raw X. Rows of zeros are refused.
    optimizer, learning_rate, batch_size, epochs, random_state, dtype, verbose
        Training settings (npae.optim, npae.training).
    """

    def __init__(self, hidden_layer_sizes=(64,), activation="sigmoid", output="bernoulli",
                 tied_weights=False, decoder_layer_sizes=None, decoder_activation=None,
                 weight_decay=0.0, sparsity=None, sparsity_weight=0.0, sparsity_target=0.05,
                 k=None, k_alpha=1.0, noise=None, noise_level=0.0, contractive_weight=0.0,
                 optimizer="adam", learning_rate=1e-3, batch_size=128,
                 epochs=10, random_state=None, dtype="float32", verbose=True,
                 input_normalization=None, k_by="value"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.output = output
        self.tied_weights = tied_weights
        self.decoder_layer_sizes = decoder_layer_sizes
        self.decoder_activation = decoder_activation
        self.weight_decay = weight_decay
        self.sparsity = sparsity
        self.sparsity_weight = sparsity_weight
        self.sparsity_target = sparsity_target
        self.k = k
        self.k_alpha = k_alpha
        self.k_by = k_by
        self.noise = noise
        self.noise_level = noise_level
        self.contractive_weight = contractive_weight
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.random_state = random_state
        self.dtype = dtype
        self.verbose = verbose
        self.input_normalization = input_normalization

    #: the settings params_ belong to (BaseModel._check_fitted)
    _ARCHITECTURE = ("hidden_layer_sizes", "activation", "output", "tied_weights",
                     "decoder_layer_sizes", "decoder_activation", "dtype")

    # -- architecture -----------------------------------------------------------------
    def _validate_hyperparameters(self):
        self._sizes = check_layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes")
        self._enc_acts = self._per_layer(self.activation, len(self._sizes), "activation")
        self._loss = get_loss(self.output)
        dec = self.decoder_layer_sizes
        if self.tied_weights and (dec is not None or self.decoder_activation is not None):
            raise ValueError("tied_weights=True needs the mirrored decoder: leave "
                             "decoder_layer_sizes and decoder_activation as None")
        if dec is None:
            self._dec_sizes = self._sizes[-2::-1]
            dec_acts = (tuple(a.name for a in self._enc_acts[-2::-1])
                        if self.decoder_activation is None else self.decoder_activation)
        else:
            self._dec_sizes = check_layer_sizes(dec, "decoder_layer_sizes", allow_empty=True)
            dec_acts = self.decoder_activation
            if dec_acts is None:                  # one encoder activation serves any depth
                names = {a.name for a in self._enc_acts}
                if len(names) > 1:
                    raise ValueError(
                        f"decoder_layer_sizes={dec!r} with per-layer activation="
                        f"{self.activation!r}: set decoder_activation (one name or "
                        f"{len(self._dec_sizes)}), the encoder's cannot be mirrored")
                dec_acts = names.pop()
        self._dec_acts = self._per_layer(dec_acts, len(self._dec_sizes), "decoder_activation")
        check_scalar(self.weight_decay, "weight_decay", 0, None)
        if not isinstance(self.tied_weights, (bool, np.bool_)):
            raise ValueError(f"tied_weights must be True or False, got {self.tied_weights!r}")
        self._validate_regularizers()

    def _validate_regularizers(self):
        """Sparsity, k-sparse, noise and contractive settings; each error names its argument."""
        H, code_act = self._sizes[-1], self._enc_acts[-1].name
        if self.sparsity is not None and self.sparsity not in SPARSITIES:
            raise ValueError(f"sparsity must be None, 'l1' or 'kl', got {self.sparsity!r}")
        check_scalar(self.sparsity_weight, "sparsity_weight", 0, None)
        if self.sparsity is None and self.sparsity_weight > 0:
            raise ValueError(f"sparsity_weight={self.sparsity_weight} has no effect without a "
                             f"penalty: set sparsity='l1' or 'kl'")
        if self.sparsity == "kl":
            check_scalar(self.sparsity_target, "sparsity_target", 0, 1, True, True)
            if code_act != "sigmoid":
                raise ValueError(
                    f"sparsity='kl' needs sigmoid code units (ρ̂_j must be a mean "
                    f"probability in (0, 1)), but the code layer's activation is "
                    f"{code_act!r}: use activation='sigmoid' for the code layer, or "
                    f"sparsity='l1'")
        check_choice(self.k_by, "k_by", TOP_K_BY)
        if self.k is not None:
            check_positive_int(self.k, "k", minimum=1, maximum=H)
            if self.sparsity is not None:
                raise ValueError("k (a k-sparse code) and sparsity are two ways to a sparse "
                                 "code; set one of them, not both")
            check_scalar(self.k_alpha, "k_alpha", 0, None, low_open=True)
            k_t = int(round(self.k_alpha * self.k))
            if not 1 <= k_t <= H:
                raise ValueError(f"k_alpha must make round(k_alpha * k) a number of units in "
                                 f"[1, {H}] (the code size), got round({self.k_alpha} * "
                                 f"{self.k}) = {k_t}")
        check_noise(self.noise, self.noise_level)
        check_scalar(self.contractive_weight, "contractive_weight", 0, None)
        check_normalization(self.input_normalization)
        if self.contractive_weight > 0 and (len(self._sizes) != 1 or code_act != "sigmoid"):
            raise ValueError(
                f"contractive_weight > 0 is supported for a one-layer sigmoid encoder only "
                f"(the closed form of ‖J_f(x)‖_F², Rifai et al. 2011), got "
                f"hidden_layer_sizes={self.hidden_layer_sizes!r} and activation="
                f"{self.activation!r}; train deeper contractive encoders layer by layer")

    def _terms(self):
        """The named loss terms this configuration reports (a term with weight 0 is off)."""
        terms = ["recon"]
        if self.sparsity is not None and self.sparsity_weight > 0:
            terms.append("sparsity")
        if self.contractive_weight > 0:
            terms.append("contractive")
        if self.weight_decay > 0:
            terms.append("weight_decay")
        return terms

    # Where each loss term's equations are, for the gradient checker's diagnosis.
    term_equations = {
        "recon": "(F1)-(F7), (B1)-(B7), (B9) in npae/models/autoencoder.py; (F1)-(B4) in "
                 "npae/losses.py; with observed=M, (I1)-(I4) in npae/missing.py",
        "sparsity": "(F8), (B8) in npae/models/autoencoder.py; (P3)-(P9) in npae/penalties.py",
        "contractive": "(F9), (B10)-(B11) in npae/models/autoencoder.py; (P10)-(P14) in "
                       "npae/penalties.py",
        "weight_decay": "(B5) in npae/models/autoencoder.py; (P1)-(P2) in npae/penalties.py",
        "input": "(B6), (B12), (B0n) in npae/models/autoencoder.py; (D1)-(D8) in "
                 "npae/noise.py; (N3) in npae/normalization.py",
    }

    @staticmethod
    def _per_layer(spec, n, argument):
        if isinstance(spec, str):
            get_activation(spec, argument)          # checked even when no layer uses it
            names = (spec,) * n
        elif isinstance(spec, (tuple, list)):
            names = tuple(spec)
        else:
            raise ValueError(f"{argument} must be an activation name or a tuple of names "
                             f"(one per layer), got {spec!r}")
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

        U(−r, r) with r = √(6 / (n_in + n_out)) has Var W = 2 / (n_in + n_out), Glorot &
        Bengio's (2010) compromise between keeping the forward and the backward variance
        of a linear layer (or tanh near 0) constant. It does not preserve variance
        through a sigmoid (σ'(a) ≤ ¼ shrinks the backward signal, and σ's outputs have
        mean ½, not 0). r = √(6 / n_in) (He et al. 2015) keeps a ReLU layer's forward
        second moment constant.
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

    def _prepare(self, X):
        """The data range (lo, hi), over the stored values and the zeros of a sparse X."""
        super()._prepare(np.append(X.data, 0.0) if isinstance(X, CSRRows) else X)

    def _check_targets(self, X, name):
        self._validate_hyperparameters()
        return self._loss.check_targets(X, name)

    # -- forward and backward ------------------------------------------------------
    def _encoder_ks(self, training):
        """k of the top-k mask (F7) after each encoder layer, None for no mask: the code
        layer's k (round(k_alpha · k) at test time) and no mask below it."""
        k = self.k if training else self._transform_k()
        return (None,) * (len(self._sizes) - 1) + (k,)

    def _encode(self, params, X_in, ks):
        """(F1)-(F2) and (F7) layer by layer: the caches, the code before its mask h_L,
        the masks S (one per layer, None where ``ks`` has None), and the code z."""
        enc, _ = self._layers()
        caches, masks, h_in = [], [], X_in
        for layer, k in zip(enc, ks):
            cache = run_layers(params, [layer], h_in)[0]                    # (F1)-(F2) (B, n_l)
            mask = (top_k_mask(cache.out, k, self.k_by)
                    if k is not None else None)                             # (F7) S (B, n_l)
            h_in = cache.out * mask if mask is not None else cache.out      # (F7) (B, n_l)
            caches.append(cache)
            masks.append(mask)
        return caches, caches[-1].out, masks, h_in                          # z = h_L ⊙ S

    @staticmethod
    def _encoder_backward(params, enc, caches, masks, dh, grads, need_dX):
        """(B4) down the encoder from dh_L, with (B9) dh_l ⊙ S_l after each masked layer
        below the code (the code's own mask is applied by the caller)."""
        if not any(m is not None for m in masks[:-1]):
            return backprop_layers(params, enc, caches, dh, grads, need_dX)  # (B4), (B7)
        for l in range(len(enc) - 1, -1, -1):
            dh = backprop_layers(params, [enc[l]], [caches[l]], dh, grads,
                                 need_dX or l > 0)                          # (B4) layer l
            if l > 0 and masks[l - 1] is not None:
                dh = dh * masks[l - 1]                                      # (B9) S_{l−1}
        return dh

    #: fit, loss_and_grads, loss and input_gradient accept ``observed`` (npae.missing)
    _SUPPORTS_OBSERVED = True

    def _forward_backward(self, params, X, noise, terms, need_grads, need_input_grad,
                          observed=None):
        dtype, D = params["enc.0.W"].dtype, params["enc.0.W"].shape[0]
        M = None
        if observed is None:
            X = check_array(X, "X", ndim=2, dtype=dtype, n_features=D)
        else:
            X, M = check_observed(X, observed, dtype, D)                    # missing (I1) X⁰
        self._check_targets(X, "X")
        enc, dec = self._layers()
        available = self._terms()
        use = self._select_terms(terms, available)
        lam_s, lam_c, rho = self.sparsity_weight, self.contractive_weight, self.sparsity_target

        X_bar, norms = self._normalize(X)                                   # (F0n) X̄ (B, D)
        X_in = X_bar if noise is None else _corrupt(noise, X_bar)           # (F0) X̃ (B, D)
        enc_caches, h, masks, z = self._encode(params, X_in,
                                               self._encoder_ks(True))      # (F1)-(F2), (F7)
        mask = masks[-1]                                                    # S of the code
        dec_caches = run_layers(params, dec, z)                             # (F3)-(F4)
        logits = dec_caches[-1].out                                         # A' = a'_M (B, D)
        weights = [params[k] for k in params if k.endswith(".W")]
        if M is None:
            recon, d_recon = self._loss.value_and_grad(                     # (F6) and (B1),
                logits, X, grad=need_grads or need_input_grad)              # clean target X
        else:
            recon, d_recon = masked_value_and_grad(                         # missing (I2)-(I3)
                self._loss, logits, X, M, grad=need_grads or need_input_grad)
        values = {"recon": recon}
        if "sparsity" in available:                                         # (F8)
            values["sparsity"] = (l1_activity(z, lam_s) if self.sparsity == "l1"
                                  else kl_sparsity(z, rho, lam_s))
        if "contractive" in available:                                      # (F9)
            values["contractive"] = contractive(h, params["enc.0.W"], lam_c)
        if "weight_decay" in available:
            values["weight_decay"] = weight_decay(weights, self.weight_decay)
        loss = float(sum(values[t] for t in use))                           # (F10)
        if not (need_grads or need_input_grad):
            return loss, values, None, None

        grads = {}
        d_logits = d_recon if "recon" in use else np.zeros_like(logits)    # (B1) (B, D)
        dz = backprop_layers(params, dec, dec_caches, d_logits, grads)      # (B2)-(B3) (B, H)
        if "sparsity" in use:
            dz = dz + (l1_activity_grad(z, lam_s) if self.sparsity == "l1"
                       else kl_sparsity_grad(z, rho, lam_s))                # (B8)
        dh = dz * mask if mask is not None else dz                          # (B9) (B, H)
        if "contractive" in use:
            dh_c, dW_q = contractive_grad(h, params["enc.0.W"], lam_c)
            dh = dh + dh_c                                                  # (B10)
        dX_in = self._encoder_backward(params, enc, enc_caches, masks, dh, grads,
                                       need_input_grad)                     # (B4); tied: (B7)
        if "contractive" in use:
            grads["enc.0.W"] += dW_q                                        # (B11) W's 2nd use
        if "weight_decay" in use:
            for k in params:
                if k.endswith(".W"):
                    grads[k] = grads[k] + weight_decay_grad(params[k], self.weight_decay)  # (B5)
        dX = None
        if need_input_grad:
            dX = dX_in if noise is None else noise.backward(dX_in)          # (B12) through X̃
            if norms is not None:
                dX = l2_normalize_backward(dX, X_bar, norms)                # (B0n) through X̄
            if "recon" in use:
                dX = dX + (self._loss.target_grad(logits, X) if M is None   # (B6) X as target
                           else masked_target_grad(self._loss, logits, X, M))
            if M is not None:
                dX = dX * M                                                 # missing (I4)
        grads = {k: grads[k] for k in params}                               # params' order
        return loss, values, grads, dX

    def _normalize(self, X):
        """(F0n) ``(X̄, r)`` with input_normalization="l2", else ``(X, None)``."""
        if self.input_normalization is None:
            return X, None
        return l2_normalize(X)

    # -- the estimator API ---------------------------------------------------------
    def _transform_k(self):
        return None if self.k is None else int(round(self.k_alpha * self.k))

    def _check_input(self, X):
        """X as an encoder input: finite, the right width; not a target, so any range
        (e.g. Gaussian-noised images outside [0, 1] under a Bernoulli decoder)."""
        self._check_fitted()
        self._validate_hyperparameters()
        return check_array(X, "X", ndim=2, dtype=self._dtype, n_features=self.n_features_in_)

    def transform(self, X):
        """Encode: the code z for each row of X, (N, H) (a k-sparse model keeps round(k_alpha·k))."""
        X = self._check_input(X)
        return self._encode(self.params_, self._normalize(X)[0], self._encoder_ks(False))[3]

    def inverse_transform(self, Z):
        """Decode codes Z (N, H) to the mean reconstruction x̂ (N, D)."""
        self._check_fitted()
        self._validate_hyperparameters()
        Z = check_array(Z, "Z", ndim=2, dtype=self._dtype, n_features=self._sizes[-1])
        _, dec = self._layers()
        return self._loss.mean(run_layers(self.params_, dec, Z)[-1].out)   # (F3)-(F5)

    def _output_logits(self, X):
        """The output logits A' (N, D) of the clean rows X: what ``score_items`` ranks by."""
        _, dec = self._layers()
        z = self._encode(self.params_, self._normalize(X)[0], self._encoder_ks(False))[3]
        return run_layers(self.params_, dec, z)[-1].out                     # (F1)-(F4)

    def reconstruct(self, X):
        """x̂ = decode(encode(X)), (N, D); X is encoded as given (no corruption, any range)."""
        return self.inverse_transform(self.transform(X))

    def reconstruction_error(self, X):
        """Per-example reconstruction loss (summed over features), (N,): an anomaly score.

        The code is the one ``reconstruct`` decodes (a k-sparse model keeps round(k_alpha·k)
        units), so this is the loss of ``reconstruct(X)`` against X.
        """
        self._check_fitted()
        X = self._check_X(X)
        _, dec = self._layers()
        z = self._encode(self.params_, self._normalize(X)[0], self._encoder_ks(False))[3]
        return self._loss.per_example(run_layers(self.params_, dec, z)[-1].out, X)

    def impute(self, X, observed, n_iter=1):
        """X with every missing entry (``observed`` False) replaced by the reconstruction.

        Iterates npae.missing (I5) ``n_iter`` times from X⁰ = M ⊙ X (the input a model
        fitted with ``observed`` was trained on); each step decodes the current fill-in
        and keeps the observed entries. Returns a new array of X's dtype (float64 for
        integer X) whose observed entries are X's, bit for bit. X may hold NaN where
        ``observed`` is False.
        """
        self._check_fitted()
        check_positive_int(n_iter, "n_iter")
        X0, M = check_observed(X, observed, self._dtype, self.n_features_in_)  # (I1)
        filled = X0
        for _ in range(n_iter):                                             # (I5) t = 1..T
            filled = np.where(M, X0, self.reconstruct(filled))
        X = np.asarray(X)
        out = np.array(X, dtype=X.dtype if X.dtype.kind == "f" else np.float64)
        out[~M] = filled[~M]                                                # observed: X's bits
        return out

    def encoder_jacobian(self, X):
        """The encoder's Jacobian J[n, i, j] = ∂z_nj/∂x_ni, (N, D, H), for any depth.

        Forward-mode chain rule through (F1)-(F2), with f' written as in npae.layers:

            J_1 = W_1 ⊙ f_1'(a_1)          broadcast to (N, D, n_1)
            J_l = (J_{l−1} W_l) ⊙ f_l'(a_l)   (N, D, n_l)

        and after each masked layer the k-sparse mask of ``transform`` (a kept unit passes
        its column, a zeroed one has zero derivative away from ties). Stored as (N, D, H):
        J[n] is D × H, the transpose of the H × D Jacobian ∂z/∂x of Rifai et al.; the
        Frobenius norm is the same. Costs N·D·H numbers: batch large sets (see
        npae.metrics.mean_jacobian_norm). For a one-layer sigmoid encoder it equals
        npae.penalties.sigmoid_encoder_jacobian.
        """
        X = self._check_input(X)
        if self.input_normalization is not None:
            raise ValueError("encoder_jacobian does not include input_normalization='l2' "
                             "(normalization (N3)); use input_gradient for that path")
        enc, _ = self._layers()
        caches, _, masks, _ = self._encode(self.params_, X, self._encoder_ks(False))
        J = None
        for layer, cache, mask in zip(enc, caches, masks):
            W = self.params_[layer.W]                                       # (n_in, n_out)
            fprime = layer.activation.backward(np.ones_like(cache.pre), cache.pre, cache.out)
            J = W[None] if J is None else np.einsum("ndi,ij->ndj", J, W)    # (N, D, n_out)
            J = J * fprime[:, None, :]                                      # ⊙ f'(a_l)
            if mask is not None:
                J = J * mask[:, None, :]                                    # (F7) S_l
        return J


def _corrupt(noise, X):
    """(F0) X̃ = c(X; ν) for a record drawn by npae.noise (an unknown object is refused)."""
    if not isinstance(noise, tuple(NOISES.values())):
        raise ValueError(f"noise must be None or a record drawn by sample_noise (one of "
                         f"{[c.__name__ for c in NOISES.values()]}), got "
                         f"{type(noise).__name__}")
    return noise.apply(X)


def _init_weight(rng, n_in, n_out, activation, dtype):
    relu = activation is not None and activation.name == "relu"
    r = np.sqrt(6.0 / n_in) if relu else np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-r, r, size=(n_in, n_out)).astype(dtype)


def pca(X, n_components):
    """Principal components of X (N, D), from the covariance matrix, in float64.

    With X̄ = X − mean(X) the sample covariance C = X̄ᵀX̄ / (N − 1) = V Λ Vᵀ; the top-H
    principal directions are the eigenvectors of the H largest eigenvalues, which are
    also the first H right singular vectors of X̄ (X̄ = U S Vᵀ gives C = V S²/(N−1) Vᵀ).
    Forming the D×D matrix costs one matrix product and keeps the eigenproblem small,
    much cheaper than the N×D SVD when N ≫ D (60,000 MNIST images, D = 784).
    Returns ``(components, mean, explained_variance)``: components (H, D) with
    orthonormal rows, sorted by decreasing variance, each row's sign fixed so that its
    largest entry is positive (eigenvectors are defined up to sign).
    """
    X = check_array(X, "X", ndim=2, dtype=np.float64)
    check_positive_int(n_components, "n_components", maximum=min(X.shape))
    mean = X.mean(axis=0)
    Xc = X - mean
    C = Xc.T @ Xc / max(X.shape[0] - 1, 1)                 # (D, D) covariance
    eigvals, eigvecs = np.linalg.eigh(C)                   # ascending order
    top = np.argsort(eigvals)[::-1][:n_components]
    components = eigvecs[:, top].T                         # (H, D)
    signs = np.sign(components[np.arange(n_components), np.abs(components).argmax(axis=1)])
    return components * signs[:, None], mean, np.maximum(eigvals[top], 0.0)
