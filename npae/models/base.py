"""What every npae model shares: estimator conventions, fitting, persistence.

A model subclass provides

* ``_validate_hyperparameters()`` – raise a clear error for bad settings;
* ``_init_params(D, rng) -> dict`` – fresh parameters for D input features;
* ``_forward_backward(params, X, noise, terms, need_grads, need_input_grad)``
  – returns ``(loss, values, grads, dX)``: the whole step, a pure function;
* ``sample_noise(X, rng)`` – the step's randomness (``None`` when there is none).

and gets ``fit``, ``fit_transform``, ``loss_and_grads``, ``loss``, ``input_gradient``,
``score``, ``get_params``/``set_params``, ``save``/``load`` from here (the contracts in
README.md; the ``values`` convention in docs/notation.md).

scikit-learn's conventions: ``fit(X, y=None, *, X_val=None)`` (``y`` is ignored, so a
model works inside a ``Pipeline``; validation data is keyword-only), ``fit`` returns
``self``, ``n_features_in_``, and :class:`NotFittedError` is a ``ValueError`` and an
``AttributeError`` as scikit-learn's is.

Fitted state is all-or-nothing. ``fit`` remembers the settings the parameters belong
to (``_ARCHITECTURE``: widths, activations, tied weights, output, dtype, ...); after a
``set_params`` that changes one of them every method that needs the parameters,
``save`` included, refuses and names the setting, instead of running the old
parameters through a new architecture. Other settings (loss weights, training
settings) may change after fit: they act on the next ``loss`` or ``fit``. A ``fit``
that fails before training (bad data found late, a stacked stage that diverges)
leaves the previous fitted state (or an unfitted model) exactly as it was; one that
diverges during training leaves the last good parameters of this fit (npae.training).
"""
from __future__ import annotations

import inspect

import numpy as np

from .._validation import (check_array, check_choice, check_float_dtype, check_positive_int,
                           check_scalar)
from ..estimator import Estimator
from ..missing import check_observed
from ..noise import get_noise
from ..optim import OPTIMIZERS, make_optimizer
from ..persistence import jsonable, load_model, register_model_class, save_model
from ..recsys import BestEpochByNDCG, recommend_top_k
from ..sparse import as_rows, is_sparse, take_rows
from ..training import evaluate, train


class NotFittedError(ValueError, AttributeError):
    """A method that needs learned parameters was called before ``fit`` (or after a
    ``set_params`` that changed the model); a ValueError and an AttributeError, like
    scikit-learn's."""


class BaseModel(Estimator):
    """Estimator conventions without scikit-learn: hyperparameters verbatim, state ends in ``_``."""

    #: the settings ``params_`` depend on (their names, shapes and how the forward pass reads
    #: them); changing one after fit makes the parameters meaningless until the next fit
    _ARCHITECTURE = ("dtype",)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        register_model_class(cls)               # so that npae.load finds it by name

    @classmethod
    def _hyperparameters_from_json(cls, hp):
        """Undo the JSON round trip (lists back to tuples where the default is a tuple)."""
        sig = inspect.signature(cls.__init__)
        out = {}
        for k, v in hp.items():
            if k not in sig.parameters:
                raise ValueError(f"checkpoint has unknown hyperparameter {k!r} for {cls.__name__}")
            out[k] = tuple(v) if isinstance(v, list) else v
        return out

    def _validate_training_settings(self):
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        check_scalar(self.learning_rate, "learning_rate", 0, None, low_open=True)
        check_positive_int(self.batch_size, "batch_size")
        check_positive_int(self.epochs, "epochs", minimum=0)
        if self.random_state is not None:
            check_positive_int(self.random_state, "random_state", minimum=0)
        check_float_dtype(self.dtype)
        if not isinstance(self.verbose, (bool, np.bool_)):
            raise ValueError(f"verbose must be True or False, got {self.verbose!r}")

    @property
    def _dtype(self):
        return np.dtype(self.dtype)

    # -- data -------------------------------------------------------------------------
    def _check_fitted(self):
        if getattr(self, "params_", None) is None:
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X) first")
        fitted = getattr(self, "_fitted_architecture_", None)
        for name, value in self._architecture().items():
            if fitted is not None and value != fitted.get(name, value):
                raise NotFittedError(
                    f"{name} was changed by set_params after this {type(self).__name__} was "
                    f"fitted (fitted with {fitted[name]!r}, now {value!r}): its parameters "
                    f"belong to the old setting. Call fit(X) again to train with the new one, "
                    f"or set it back")
        self._validate_hyperparameters()    # e.g. set_params(weight_decay=nan) after fit

    def _architecture(self):
        """The values of ``_ARCHITECTURE`` in comparable (JSON) form."""
        return {name: jsonable(getattr(self, name)) for name in self._ARCHITECTURE}

    def _remember_architecture(self):
        """Record the settings ``params_`` belong to (see the module docstring)."""
        self._fitted_architecture_ = self._architecture()

    def _fitted_state(self):
        return {k: v for k, v in vars(self).items() if k.endswith("_")}

    def _set_fitted_state(self, state):
        for k in [k for k in vars(self) if k.endswith("_")]:
            delattr(self, k)
        for k, v in state.items():
            setattr(self, k, v)

    def _check_X(self, X, name="X", fitted=True):
        D = self.n_features_in_ if fitted else None
        X = check_array(X, name, ndim=2, dtype=self._dtype, n_features=D)
        self._check_targets(X, name)
        return X

    def _check_targets(self, X, name):
        """Hook: e.g. a Bernoulli decoder requires X in [0, 1]."""
        return X

    # -- fitting -------------------------------------------------------------------
    def fit(self, X, y=None, *, X_val=None, observed=None):
        """Initialise the parameters from ``random_state`` and train; returns self.

        ``y`` is ignored (unsupervised; it is there for scikit-learn pipelines);
        ``X_val`` (keyword-only) adds validation curves to ``history_``. X may be a CSR
        matrix (duck-typed, npae.sparse), densified one minibatch at a time. ``X_val`` =
        ``(X_foldin, X_heldout)`` ranks instead: each epoch records the validation NDCG@100
        of ``recommend(X_foldin)`` against ``X_heldout`` in ``history_["val_ndcg@100"]``,
        and the parameters of the best epoch are kept (npae.recsys, Liang et al. 2018).
        ``observed`` (keyword-only, Autoencoder family), a boolean array of X's shape,
        trains on the observed entries only (npae.missing): X may hold NaN where it is False.
        """
        self._validate_hyperparameters()
        self._validate_training_settings()
        if observed is None:
            X = self._check_fit_X(X, "X")
        else:
            self._check_observed_supported("fit")
            if type(self)._initial_params is not BaseModel._initial_params:
                raise ValueError(f"fit(observed=...) is not supported by "
                                 f"{type(self).__name__}: its layer-wise pretraining reads "
                                 f"complete data; use npae.Autoencoder")
            X, observed = check_observed(X, observed, self._dtype)       # missing (I1)
            if not observed.any():
                raise ValueError("observed is False everywhere: fit needs at least one "
                                 "observed entry of X")
            self._check_targets(X, "X")
        _check_ignored_y(y, X)
        ranking = None
        if isinstance(X_val, tuple):
            ranking = BestEpochByNDCG(*X_val, n_features=X.shape[1], k=100)
            X_val = None
        elif X_val is not None:
            X_val = self._check_fit_X(X_val, "X_val", n_features=X.shape[1])
        rng = np.random.default_rng(self.random_state)
        before = self._fitted_state()
        try:                                        # all of it, or the state before fit
            self.n_features_in_ = X.shape[1]
            self._prepare(X if observed is None else X[observed][None, :])  # observed only
            self.params_ = self._initial_params(X, X_val, rng)
            self.optimizer_ = make_optimizer(self.optimizer, self.learning_rate)
        except BaseException:
            self._set_fitted_state(before)
            raise
        self.history_ = {}
        self._rng_ = rng
        self._remember_architecture()
        train(self, X, X_val, epochs=self.epochs, batch_size=self.batch_size,
              optimizer=self.optimizer_, rng=rng, verbose=self.verbose, history=self.history_,
              on_epoch_end=ranking, observed=observed)
        if ranking is not None:
            self.best_epoch_ = ranking.restore_best(self)
        elif hasattr(self, "best_epoch_"):          # from an earlier fit that ranked
            del self.best_epoch_
        return self

    def _check_fit_X(self, X, name, n_features=None):
        """A dense array (checked, in ``dtype``) or a CSR matrix as npae.sparse.CSRRows."""
        if not is_sparse(X):
            X = check_array(X, name, ndim=2, dtype=self._dtype, n_features=n_features)
            self._check_targets(X, name)
            return X
        X = as_rows(X, name, dtype=self._dtype, n_features=n_features)
        self._check_targets(np.append(X.data, 0.0)[None, :], name)  # the stored values and 0
        return X

    def fit_transform(self, X, y=None, *, X_val=None):
        """``fit(X, X_val=X_val).transform(X)``: the codes of the training data."""
        return self.fit(X, y, X_val=X_val).transform(X)

    def initialize(self, n_features, random_state=None):
        """Set fresh ``params_`` for ``n_features`` inputs without training (checks, teaching)."""
        self._validate_hyperparameters()
        check_positive_int(n_features, "n_features")
        seed = self.random_state if random_state is None else random_state
        self.n_features_in_ = int(n_features)
        self.params_ = self._init_params(self.n_features_in_, np.random.default_rng(seed))
        self.history_ = {}
        self._remember_architecture()
        return self

    def _initial_params(self, X, X_val, rng):
        """Hook: the parameters training starts from (fresh ones; pretrained for a stack)."""
        return self._init_params(X.shape[1], rng)

    def _prepare(self, X):
        """Hook: learn data-dependent constants before training (none by default)."""

    # -- the pure step ----------------------------------------------------------------
    def loss_and_grads(self, X, noise=None, terms=None, params=None, *, observed=None):
        """One step as a pure function: ``(loss, values, grads)`` at ``params`` (default ``params_``).

        ``values`` holds each named loss term; ``terms`` (default: all) selects which
        enter ``loss`` and ``grads``; ``noise`` is the step's randomness from
        ``sample_noise`` (``None``: no corruption / ε = 0 as the model documents);
        ``observed`` (Autoencoder family) scores the observed entries of X only
        (npae.missing (I1)-(I4)).
        """
        params = self._params_or_fitted(params)
        loss, values, grads, _ = self._step(params, X, noise, terms, True, False, observed)
        return loss, values, grads

    def loss(self, X, noise=None, terms=None, params=None, *, observed=None):
        """``(loss, values)`` without the backward pass."""
        params = self._params_or_fitted(params)
        loss, values, _, _ = self._step(params, X, noise, terms, False, False, observed)
        return loss, values

    def input_gradient(self, X, noise=None, terms=None, params=None, *, observed=None):
        """``(loss, dL/dX)``: the gradient with respect to the (clean) input batch."""
        params = self._params_or_fitted(params)
        loss, _, _, dX = self._step(params, X, noise, terms, False, True, observed)
        return loss, dX

    #: True for models whose step takes ``observed`` (npae.missing): the Autoencoder family
    _SUPPORTS_OBSERVED = False

    def _check_observed_supported(self, method):
        if not self._SUPPORTS_OBSERVED:
            raise ValueError(f"{method}(observed=...) is supported by the Autoencoder family "
                             f"only, not by {type(self).__name__}")

    def _step(self, params, X, noise, terms, need_grads, need_input_grad, observed):
        """``_forward_backward``, passing ``observed`` on only when it is given."""
        if observed is None:
            return self._forward_backward(params, X, noise, terms, need_grads, need_input_grad)
        self._check_observed_supported("loss_and_grads")
        return self._forward_backward(params, X, noise, terms, need_grads, need_input_grad,
                                      observed=observed)

    def _params_or_fitted(self, params):
        if params is None:
            self._check_fitted()
            return self.params_
        return params

    def sample_noise(self, X, rng):
        return None

    def _select_terms(self, terms, available):
        if terms is None:
            return set(available)
        unknown = set(terms) - set(available)
        if unknown:
            raise ValueError(f"terms must be a subset of {list(available)} for this model, "
                             f"got unknown {sorted(unknown)}")
        return set(terms)

    def score(self, X, y=None):
        """Higher is better: minus the mean loss over X (noise from a fixed seed); y is ignored."""
        self._check_fitted()
        X = self._check_X(X)
        return -evaluate(self, X, self.batch_size, np.random.default_rng(0))["loss"]

    # -- recommending (npae.recsys) ---------------------------------------------------
    def score_items(self, X):
        """The (N, D) scores a recommender ranks items by: the output logits A' of each row
        of X (dense or CSR), encoded without noise (the mean μ for a VAE). A logit orders
        the items as x̂ = mean(A') does (softmax and σ are increasing)."""
        self._check_fitted()
        N = X.shape[0]
        rows = as_rows(X, "X", dtype=self._dtype) if is_sparse(X) else X
        out = None
        for start in range(0, N, self.batch_size):
            Xc = self._check_X(take_rows(rows, np.arange(start, min(start + self.batch_size, N))))
            scores = self._output_logits(Xc)                                  # (b, D)
            out = np.empty((N, scores.shape[1]), dtype=scores.dtype) if out is None else out
            out[start:start + scores.shape[0]] = scores
        return out

    def recommend(self, X, k=100, exclude_seen=True):
        """The k best items for each row of X, (N, k) item indices, best first; with
        ``exclude_seen`` the items a row already has (x > 0) are never recommended."""
        self._check_fitted()
        return recommend_top_k(self.score_items, X, k, exclude_seen, self.batch_size)

    def _output_logits(self, X):
        """Hook: the output logits A' (N, D) of the clean rows X."""
        raise NotImplementedError(f"{type(self).__name__} does not score items")

    # -- persistence --------------------------------------------------------------
    def save(self, path):
        """Write the fitted model to one ``.npz`` atomically (see :mod:`npae.persistence`).

        Refuses (and writes nothing) when a hyperparameter was changed after ``fit`` or is
        invalid, so that every file written can be loaded.
        """
        self._check_fitted()
        self._validate_hyperparameters()
        self._validate_training_settings()
        return save_model(self, path)

    @classmethod
    def load(cls, path):
        """Load a checkpoint that must hold this class (or a subclass)."""
        return load_model(path, expected_class=cls)

    def _extra_state(self):
        return {"n_features": int(self.n_features_in_)}

    def _restore_extra_state(self, extra):
        self.n_features_in_ = int(extra["n_features"])



class CorruptibleModel(BaseModel):
    """A model whose input npae.noise may corrupt (``noise``, ``noise_level``): it learns
    the training data's range (lo, hi) in fit, the values salt-and-pepper noise writes,
    and saves it with the parameters."""

    def initialize(self, n_features, random_state=None, data_range=(0.0, 1.0)):
        """Set fresh ``params_`` for ``n_features`` inputs without training (checks, teaching).

        ``data_range`` = (lo, hi) stands in for the range ``fit`` would learn from the
        data (the salt-and-pepper values).
        """
        lo = check_scalar(data_range[0], "data_range[0]")
        hi = check_scalar(data_range[1], "data_range[1]", lo, None)
        super().initialize(n_features, random_state)
        self.data_range_ = (lo, hi)
        return self

    def _prepare(self, X):
        """Learn the data range (lo, hi) of the training data: the salt-and-pepper values."""
        self.data_range_ = (float(np.min(X)), float(np.max(X)))

    def _extra_state(self):
        extra = super()._extra_state()
        extra["data_range"] = list(getattr(self, "data_range_", (0.0, 1.0)))
        return extra

    def _restore_extra_state(self, extra):
        super()._restore_extra_state(extra)
        self.data_range_ = tuple(float(v) for v in extra.get("data_range", (0.0, 1.0)))

    def sample_noise(self, X, rng):
        """The step's corruption ν for batch X (npae.noise), or None when ``noise`` is None."""
        self._validate_hyperparameters()
        if self.noise is None:
            return None
        cls = get_noise(self.noise)
        if self.noise == "salt_and_pepper":
            if getattr(self, "data_range_", None) is None:
                raise NotFittedError("salt-and-pepper noise replaces entries by the training "
                                     "data's minimum and maximum, learned by fit(X); call fit "
                                     "or initialize(n_features, data_range=(lo, hi)) first")
            lo, hi = self.data_range_
            return cls.sample(X, self.noise_level, rng, low=lo, high=hi)
        return cls.sample(X, self.noise_level, rng)


def _check_ignored_y(y, X):
    """``y`` is ignored, but a 2-D array with another row count is old-style validation data."""
    if y is None or np.ndim(y) != 2 or len(y) == len(X):
        return
    raise TypeError(f"fit(X, y): y is ignored (one label per row of X, for scikit-learn), but "
                    f"got an array of shape {np.shape(y)} for X of shape {X.shape}; pass "
                    f"validation data by keyword: fit(X, X_val=...)")
