"""Stacked autoencoder: greedy layer-wise pretraining, then end-to-end fine-tuning.

Notation: docs/notation.md and npae.models.autoencoder (cited as "autoencoder (F1)").
Greedy layer-wise training (Hinton & Salakhutdinov 2006; Bengio et al. 2007; Vincent
et al. 2010) builds a deep encoder one layer at a time. With h_0 = X and widths
(n_1, …, n_L):

    (S1)  for l = 1..L: train a one-layer autoencoder
              h = f_l(h_{l−1} W_l + b_l),   ĥ_{l−1} = out_l(h V_l + c_l)
          on the codes of the layer below (optionally denoising or sparse: any
          regularizer of npae.Autoencoder, given in ``layer_options``);
    (S2)  h_l = f_l(h_{l−1} W_l + b_l) ⊙ S_l    its codes (the stage's ``transform``)
          become the next layer's data; S_l = 1 unless the stages are k-sparse, when
          S_l keeps the round(k_alpha · k) largest entries of each row (autoencoder (F7));
    (S3)  unroll: the deep autoencoder with encoder W_1..W_L and decoder V_L..V_1
          (decoder layer m = 1..L uses the V and c of stage L + 1 − m), and with a
          k-sparse stage's mask S_l after encoder layer l, so that its ``transform`` is
          exactly the pipeline (S2);
    (S4)  fine-tune all layers together on the reconstruction loss of X (autoencoder
          (F1)-(F7)), plain: the stage penalties and noise are not applied. A k-sparse
          mask is part of the architecture and stays (training keeps k units per layer,
          ``transform`` round(k_alpha · k), as each stage does; autoencoder (B9) after
          every masked layer).

Each stage sees data of a different kind, so its output (reconstruction) model follows
the data: stage 1 uses ``output``; a later stage uses a Bernoulli output when the
codes below come from sigmoid units (values in (0, 1)) and a Gaussian one otherwise.
In the unrolled decoder a hidden layer uses the activation of the mirrored encoder
layer (npae.Autoencoder's rule), so for sigmoid stacks (S3) reproduces every stage's
decoder exactly; for ReLU stacks the stage decoders are linear and the unrolled ones
apply ReLU to a non-negative target, a difference fine-tuning absorbs.

After ``fit`` the model *is* the fine-tuned deep autoencoder: ``transform``,
``inverse_transform``, ``loss_and_grads`` and the gradient checks are those of
npae.Autoencoder. ``pretrain_history_`` holds each stage's history and ``history_``
the fine-tuning's; ``stages_`` keeps the pretrained one-layer models of the last
``fit`` (not saved with the model: a loaded model has only the unrolled parameters).

References: Hinton & Salakhutdinov, Science 2006; Bengio, Lamblin, Popovici &
Larochelle, "Greedy layer-wise training of deep networks", NIPS 2007; Vincent et al.,
"Stacked denoising autoencoders", JMLR 2010.
"""
from __future__ import annotations


from .._validation import check_positive_int
from ..training import TrainingDiverged
from .autoencoder import Autoencoder

#: the hyperparameters of a stage that ``layer_options`` may set
STAGE_OPTIONS = ("sparsity", "sparsity_weight", "sparsity_target", "k", "k_alpha", "noise",
                 "noise_level", "contractive_weight", "weight_decay")


class StageDiverged(TrainingDiverged):
    """A pretraining stage diverged; ``state`` is the stack's fitted state to keep."""

    def __init__(self, message, state):
        super().__init__(message)
        self.state = state


class StackedAutoencoder(Autoencoder):
    """Deep autoencoder pretrained greedily, one layer at a time, then fine-tuned.

    Parameters
    ----------
    hidden_layer_sizes, activation, output, tied_weights, weight_decay
        As for npae.Autoencoder: the deep model that is assembled and fine-tuned.
    pretrain_epochs : int
        Epochs of each layer's pretraining (S1).
    layer_options : dict or None
        Regularizers of each pretraining stage, e.g. ``{"noise": "masking",
        "noise_level": 0.3}`` for a stacked denoising autoencoder, or
        ``{"sparsity": "kl", "sparsity_weight": 3, "sparsity_target": 0.05}``.
    epochs : int
        Epochs of end-to-end fine-tuning (S4); 0 keeps the pretrained stack as it is.
    optimizer, learning_rate, batch_size, random_state, dtype, verbose
        Training settings, shared by every stage and the fine-tuning.
    """

    def __init__(self, hidden_layer_sizes=(256, 64), activation="sigmoid", output="bernoulli",
                 tied_weights=False, weight_decay=0.0, pretrain_epochs=5, layer_options=None,
                 optimizer="adam", learning_rate=1e-3, batch_size=128, epochs=5,
                 random_state=None, dtype="float32", verbose=True):
        super().__init__(hidden_layer_sizes=hidden_layer_sizes, activation=activation,
                         output=output, tied_weights=tied_weights, weight_decay=weight_decay,
                         optimizer=optimizer, learning_rate=learning_rate,
                         batch_size=batch_size, epochs=epochs, random_state=random_state,
                         dtype=dtype, verbose=verbose)
        self.pretrain_epochs = pretrain_epochs
        self.layer_options = layer_options

    def _validate_hyperparameters(self):
        super()._validate_hyperparameters()
        check_positive_int(self.pretrain_epochs, "pretrain_epochs")
        options = self.layer_options or {}
        if not isinstance(options, dict):
            raise ValueError(f"layer_options must be a dict of stage hyperparameters, "
                             f"got {options!r}")
        unknown = set(options) - set(STAGE_OPTIONS)
        if unknown:
            raise ValueError(f"layer_options may set {list(STAGE_OPTIONS)}, got unknown "
                             f"{sorted(unknown)}")
        if options.get("k") is not None:
            check_positive_int(options["k"], "layer_options['k']", minimum=1,
                               maximum=min(self._sizes))               # every stage's width

    def _stage_k(self):
        """(k, k_alpha) of k-sparse stages, or None."""
        options = self.layer_options or {}
        if options.get("k") is None:
            return None
        return options["k"], options.get("k_alpha", 1.0)

    def _encoder_ks(self, training):
        """(S3): a k-sparse stage's mask after every encoder layer (autoencoder (F7))."""
        stage_k = self._stage_k()
        if stage_k is None:
            return super()._encoder_ks(training)
        k, k_alpha = stage_k
        return (k if training else int(round(k_alpha * k)),) * len(self._sizes)

    def _stage_output(self, l):
        if l == 0:
            return self.output
        return "bernoulli" if self._enc_acts[l - 1].name == "sigmoid" else "gaussian"

    def _stage(self, l, rng):
        """The one-layer autoencoder of stage l + 1 (S1)."""
        options = {"weight_decay": self.weight_decay, **(self.layer_options or {})}
        return Autoencoder((self._sizes[l],), activation=self._enc_acts[l].name,
                           output=self._stage_output(l), tied_weights=self.tied_weights,
                           optimizer=self.optimizer, learning_rate=self.learning_rate,
                           batch_size=self.batch_size, epochs=self.pretrain_epochs,
                           random_state=int(rng.integers(2**31)), dtype=self.dtype,
                           verbose=self.verbose, **options)

    def fit(self, X, y=None, *, X_val=None, observed=None):
        """(S1)-(S4); returns self. ``y`` is ignored; ``observed`` is refused (layer-wise
        pretraining reads complete data).

        A stage whose pretraining diverges ends ``fit`` with :class:`TrainingDiverged`
        naming the stage. As every npae model whose training diverged, the stack then
        holds the parameters training restored: the stages pretrained so far, the
        diverged one at its last good parameters (restored by its own guard), and the
        layers above freshly initialized, unrolled (S3) and not fine-tuned.
        """
        try:
            return super().fit(X, y, X_val=X_val, observed=observed)
        except StageDiverged as exc:
            self._set_fitted_state(exc.state)      # base.fit put back the state before fit
            self._remember_architecture()
            raise

    def _initial_params(self, X, X_val, rng):
        """(S1)-(S3): pretrain each layer on the codes below, then unroll the stack."""
        L = len(self._sizes)
        H, H_val = X, X_val
        self.pretrain_history_ = {}
        stages = []
        for l in range(L):
            stage = self._stage(l, rng)
            try:
                stage.fit(H, X_val=H_val)                                    # (S1)
            except TrainingDiverged as exc:
                stages.append(stage)                     # at its restored parameters
                self.pretrain_history_[f"layer {l + 1}"] = stage.history_
                self.stages_ = stages
                params = self._unroll(stages, X.shape[1], rng)
                held = (f"stages 1-{l} as pretrained, " if l else "") + (
                    f"stage {l + 1} at its last good parameters"
                    + (" and fresh layers above it" if l < L - 1 else ""))
                raise StageDiverged(
                    f"pretraining stage {l + 1} of {L} diverged; the stack holds {held}, "
                    f"unrolled and not fine-tuned. Stage {l + 1}: {exc}",
                    {**self._fitted_state(), "params_": params, "history_": {}}) from exc
            self.pretrain_history_[f"layer {l + 1}"] = stage.history_
            stages.append(stage)
            if l < L - 1:
                H = stage.transform(H)                                       # (S2)
                H_val = None if H_val is None else stage.transform(H_val)
        self.stages_ = stages
        return self._unroll(stages, X.shape[1], rng)

    def _unroll(self, stages, n_features, rng):
        """(S3): the deep autoencoder's parameters from the stages (fresh for the rest)."""
        L = len(self._sizes)
        params = self._init_params(n_features, rng)      # the names, shapes and order
        for l, stage in enumerate(stages):                                   # (S3)
            params[f"enc.{l}.W"] = stage.params_["enc.0.W"].copy()
            params[f"enc.{l}.b"] = stage.params_["enc.0.b"].copy()
            m = L - 1 - l                                # decoder layer that undoes stage l
            params[f"dec.{m}.b"] = stage.params_["dec.0.b"].copy()
            if not self.tied_weights:
                params[f"dec.{m}.W"] = stage.params_["dec.0.W"].copy()
        return params

    def _extra_state(self):
        return {**super()._extra_state(), "pretrain_history": getattr(self, "pretrain_history_", {})}

    def _restore_extra_state(self, extra):
        super()._restore_extra_state(extra)
        self.pretrain_history_ = extra.get("pretrain_history", {})
