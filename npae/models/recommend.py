"""Autoencoders that recommend: Mult-DAE and Mult-VAE (presets), EASE and popularity.

A user is a row x_u ∈ {0, 1}^I of clicks over I items; a recommender scores every item
and ranks the ones the user does not have (npae.recsys: the split, the metrics). Tags
(E1)-(E7) are this module's ("recommend (E4)").

Mult-DAE and Mult-VAE (Liang, Krishnan, Hoffman & Jebara, "Variational autoencoders for
collaborative filtering", WWW 2018) are npae's Autoencoder and VAE with new defaults,
nothing else: each piece is derived where it lives,

- the multinomial likelihood −Σ_i x_ui log softmax(a_u)_i: losses (F5)-(F7), (B5)-(B6);
- dropout on the input, kept entries scaled by 1/(1 − p): noise (D7)-(D8);
- the L2 normalization of the input, before the dropout: normalization (N1)-(N3);
- the KL weight annealed per update up to a cap β: vae (F10) and ``kl_warmup_steps``.

The score of item i for user u is the output logit a_ui of the clean (not dropped-out)
input, decoded from μ for Mult-VAE; it ranks items as softmax(a_u) does.

EASE (Steck, "Embarrassingly shallow autoencoders for sparse data", WWW 2019) is one
item-item matrix B (I, I) learned in closed form. With X (U, I) the training clicks
and λ > 0, it solves the constrained ridge regression

    (E1)  min_B ‖X − X B‖_F² + λ ‖B‖_F²    subject to   diag(B) = 0

(without the constraint B = I would reconstruct X perfectly and recommend nothing new).
With a multiplier γ_j for each constraint B_jj = 0, the Lagrangian is

    (E2)  ℒ(B, γ) = ‖X − X B‖_F² + λ ‖B‖_F² + 2 Σ_j γ_j B_jj

and, writing G = XᵀX + λI and P = G⁻¹ (G is positive definite for λ > 0), setting
∂ℒ/∂B = −2Xᵀ(X − XB) + 2λB + 2 diagMat(γ) to zero gives

    (E3)  G B = XᵀX − diagMat(γ) = G − diagMat(λ + γ)     the stationarity conditions
    (E4)  B = I − P diagMat(λ + γ)

The constraint fixes γ: 0 = B_jj = 1 − P_jj (λ + γ_j), so λ + γ_j = 1 / P_jj and

    (E5)  B = I − P diagMat(1 / diag P),   i.e.  B_ij = −P_ij / P_jj (i ≠ j),  B_jj = 0
    (E6)  γ_j = 1 / P_jj − λ
    (E7)  score of user u:  s_u = x_u B                                       (I,)

(E1) is convex and (E3)-(E6) are its KKT conditions, so (E5) is the global minimum.
Cost: one I × I inverse, O(I³), and XᵀX, independent of U in memory.

Where EASE is a linear autoencoder, and where not. x_u ↦ x_u B is an "autoencoder"
with the identity as activation, no biases and one weight matrix, trained to
reconstruct its input under squared error (a Gaussian likelihood) — the linear
autoencoder of npae.Autoencoder(activation="identity", output="gaussian"). But there
is no code: B maps I inputs to I outputs without a narrower layer, so it is no
factorization B = W V and learns no subspace (PCA's result for a linear autoencoder,
autoencoder "A linear autoencoder and PCA", does not apply); what stops it from
copying its input is the zero diagonal, not a bottleneck; and it is not trained by
gradient descent but solved exactly. It has no ``transform``: there is nothing to encode.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_array, check_choice, check_positive_int, check_scalar
from ..estimator import Estimator
from ..recsys import CHUNK, recommend_top_k
from ..sparse import as_rows, is_sparse, take_rows
from .autoencoder import Autoencoder
from .base import NotFittedError
from .vae import VAE

__all__ = ["EASE", "MultDAE", "MultVAE", "Popularity"]


def _hyperparameters(local_vars):
    """The arguments an ``__init__`` received, to pass on verbatim (no ``self``)."""
    return {k: v for k, v in local_vars.items() if k not in ("self", "__class__")}


class MultDAE(Autoencoder):
    """Mult-DAE (Liang et al. 2018): a denoising autoencoder with a multinomial likelihood.

    Defaults that differ from ``Autoencoder``, each the paper's (§4.3) or its code's
    (github.com/dawenl/vae_cf, notebook VAE_ML20M_WWW2018):

    - ``hidden_layer_sizes=(200,)``, ``activation="tanh"``: the [I → 200 → I] architecture
      with a tanh code, which the authors' notebook found better on validation NDCG@100
      than [I → 600 → 200 → 600 → I] for Mult-DAE;
    - ``output="multinomial"``: the paper's §2.1 likelihood, losses (F5)-(F7);
    - ``input_normalization="l2"``, ``noise="dropout"``, ``noise_level=0.5``: the input is
      L2-normalized, then dropped out with keep probability 0.5 (§2.2.2 and the code);
    - ``weight_decay=4e-5``: the code builds MultiDAE with lam = 0.01 / batch_size
      = 2e-5 and adds 2 · lam · ½ Σ ‖W‖² (twice TensorFlow's l2_loss, itself ½ Σ W²) =
      lam Σ ‖W‖² to the batch-mean loss: npae's (λ/2) Σ ‖W‖_F² with λ = 2 lam = 4e-5;
    - ``batch_size=500``, Adam with ``learning_rate=1e-3``, ``epochs=200`` (§4.3).
    """

    def __init__(self, hidden_layer_sizes=(200,), activation="tanh", output="multinomial",
                 tied_weights=False, decoder_layer_sizes=None, decoder_activation=None,
                 weight_decay=4e-5, sparsity=None, sparsity_weight=0.0, sparsity_target=0.05,
                 k=None, k_alpha=1.0, noise="dropout", noise_level=0.5, contractive_weight=0.0,
                 optimizer="adam", learning_rate=1e-3, batch_size=500,
                 epochs=200, random_state=None, dtype="float32", verbose=True,
                 input_normalization="l2", k_by="value"):
        super().__init__(**_hyperparameters(locals()))


class MultVAE(VAE):
    """Mult-VAE^PR (Liang et al. 2018): a VAE with a multinomial likelihood, a partially
    regularized (annealed, capped) KL term, and dropout on the normalized input.

    Defaults that differ from ``VAE``, each the paper's (§2.2, §4.3) or its code's:

    - ``hidden_layer_sizes=(600,)``, ``latent_dim=200``, ``activation="tanh"``: the
      [I → 600 → 200 → 600 → I] architecture with tanh hidden units;
    - ``output="multinomial"``: the likelihood of §2.1, losses (F5)-(F7);
    - ``input_normalization="l2"``, ``noise="dropout"``, ``noise_level=0.5``: the encoder
      reads the L2-normalized input with dropout, keep probability 0.5;
    - ``beta=0.2``: the cap of the annealed KL weight (§2.2.2, "anneal_cap");
    - ``kl_warmup_steps=40000``: the code anneals min(0.2, t / 200000) over updates t,
      which is npae's β · min(1, t / T) with β = 0.2 and T = 0.2 × 200,000 = 40,000;
    - ``batch_size=500``, Adam with ``learning_rate=1e-3``, ``epochs=200``; no weight
      decay (the code's λ = 0 for Mult-VAE).
    """

    def __init__(self, hidden_layer_sizes=(600,), latent_dim=200, activation="tanh",
                 output="multinomial", decoder_variance=1.0, logvar_bound=None, beta=0.2,
                 kl_warmup_epochs=0,
                 binarize=False, weight_decay=0.0, optimizer="adam", learning_rate=1e-3,
                 batch_size=500, epochs=200, random_state=None, dtype="float32", verbose=True,
                 noise="dropout", noise_level=0.5, input_normalization="l2",
                 kl_warmup_steps=40000):
        super().__init__(**_hyperparameters(locals()))


class _ItemScorer(Estimator):
    """``recommend`` from ``score_items``, and input checks, for the closed-form scorers."""

    def _check_fitted(self):
        if not hasattr(self, "n_features_in_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X) first")

    def _rows(self, X, name="X", fitted=True):
        D = self.n_features_in_ if fitted else None
        if is_sparse(X):
            return as_rows(X, name, dtype=np.float64, n_features=D)
        return check_array(X, name, ndim=2, dtype=np.float64, n_features=D)

    def recommend(self, X, k=100, exclude_seen=True):
        """The k best items per row of X, (N, k) indices best first (npae.recsys)."""
        self._check_fitted()
        return recommend_top_k(self.score_items, self._rows(X), k, exclude_seen)


class EASE(_ItemScorer):
    """EASE (Steck 2019): B = I − P diagMat(1/diag P), P = (XᵀX + λI)⁻¹, diag B = 0 (E5).

    ``l2`` is λ > 0 (Steck: 500 on MovieLens-20M). ``fit(X)`` (dense or CSR; XᵀX is
    accumulated a chunk of rows at a time, in float64) sets ``B_`` (I, I);
    ``score_items(X)`` = X B_ (E7). Memory and time grow as I² and I³.
    """

    _sklearn_kind = "transformer"

    def __init__(self, l2=500.0):
        self.l2 = l2

    def fit(self, X, y=None):
        lam = check_scalar(self.l2, "l2", 0, None, low_open=True)
        rows = self._rows(X, fitted=False)
        N, D = rows.shape
        G = np.zeros((D, D))
        for start in range(0, N, CHUNK):
            Xc = take_rows(rows, np.arange(start, min(start + CHUNK, N)))
            G += Xc.T @ Xc                                                  # XᵀX (I, I)
        G[np.diag_indices(D)] += lam                                        # G = XᵀX + λI
        P = np.linalg.inv(G)                                                # P = G⁻¹
        B = -P / np.diag(P)[None, :]                                        # (E5) −P_ij / P_jj
        B[np.diag_indices(D)] = 0.0                                         # (E5) B_jj = 0
        self.B_ = B
        self.n_features_in_ = D
        return self

    def score_items(self, X):
        """(E7) the scores X B_, (N, I)."""
        self._check_fitted()
        rows = self._rows(X)
        N = rows.shape[0]
        return np.concatenate([take_rows(rows, np.arange(s, min(s + CHUNK, N))) @ self.B_
                               for s in range(0, N, CHUNK)])


class Popularity(_ItemScorer):
    """The baseline: every user gets the items most clicked in training, s_ui = Σ_v x_vi."""

    def __init__(self):
        pass

    def fit(self, X, y=None):
        rows = self._rows(X, fitted=False)
        counts = np.zeros(rows.shape[1])
        for start in range(0, rows.shape[0], CHUNK):
            counts += take_rows(rows, np.arange(start, min(start + CHUNK, rows.shape[0]))).sum(0)
        self.item_counts_ = counts
        self.n_features_in_ = rows.shape[1]
        return self

    def score_items(self, X):
        """The training click count of every item, the same for each row of X, (N, I)."""
        self._check_fitted()
        return np.broadcast_to(self.item_counts_, (self._rows(X).shape[0], self.n_features_in_))
