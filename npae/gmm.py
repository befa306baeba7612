r"""Gaussian mixture models fitted by expectation-maximization (EM), in log space.

Why it is here: an autoencoder's code space is where a mixture model is cheap to fit
and meaningful to read. A mixture on the codes clusters the data, scores how typical
a code is (``score_samples``) and, through ``sample`` and the decoder, generates.

Notation (shapes)
-----------------
    N, D, K      number of samples, features, components
    X            data, one sample x_n per row                         (N, D)
    π            mixing weights, π_k ≥ 0, Σ_k π_k = 1                  (K,)
    μ            component means                                       (K, D)
    Σ            covariances: full (K, D, D) or diagonal variances     (K, D)
    L_k          lower Cholesky factor, Σ_k = L_k L_kᵀ                  (D, D)
    γ            responsibilities γ_nk = p(z_n = k | x_n)              (N, K)

Generative process
------------------
    (G1)  z_n ~ Categorical(π)
    (G2)  x_n | z_n = k ~ N(μ_k, Σ_k),   sampled as  x_n = μ_k + L_k ε_n,  ε_n ~ N(0, I)

Log-likelihood
--------------
Marginalizing z,

    (L1)  log p(x_n) = log Σ_k π_k N(x_n | μ_k, Σ_k)
    (L2)  log N(x | μ_k, Σ_k) = −½ D log 2π − Σ_d log (L_k)_dd − ½ ‖u‖²,
          u = L_k⁻¹ (x − μ_k)   (L_k⁻¹ = solve(L_k, I), explicit, once per k; log|Σ_k| = 2 Σ_d log (L_k)_dd)
          diag: L_k = diag(σ_k), so u_d = (x_d − μ_kd) / σ_kd
    (L3)  ℓ(θ) = Σ_n log p(x_n)        (we report the mean ℓ/N, per sample)

(L1) is evaluated as a log-sum-exp with the largest term subtracted,
log Σ_k e^{c_k} = m + log Σ_k e^{c_k − m}, m = max_k c_k, so that densities of 1e-300
and below, common in 32 dimensions, neither underflow to log 0 nor overflow.

Diagonal covariances as matrix products
---------------------------------------
With Σ_k = diag(σ²_k), the quadratic form of (L2) expands over the features d:

    (L2d) Σ_d (x_d − μ_kd)²/σ²_kd = Σ_d x_d²/σ²_kd − 2 Σ_d x_d μ_kd/σ²_kd + Σ_d μ²_kd/σ²_kd,
          i.e. for all n and k at once  Q = X² (1/σ²)ᵀ − 2 X (μ/σ²)ᵀ + (Σ_d μ²/σ²)ᵀ,

two (N, D)·(D, K) matrix products instead of K passes over (N, D); so log N =
−½ [Q + Σ_d log σ²_kd + D log 2π]. The M step's variances likewise:

    (M4d) σ²_kd = (1/N_k) Σ_n γ_nk x_nd² − μ²_kd + r,   one (K, N)·(N, D) product.

The price is cancellation. When x is close to μ_k but both are far from 0 in units of
σ_k, the three terms of (L2d) are large and nearly cancel: each carries a rounding
error of about ε = 2.2e-16 times its size, so Q loses ε · (largest term) in absolute
terms. With data at an offset m = 10⁴ from the origin and σ = 1 that is 1e-8 per
feature; at m = 10⁸ every digit is gone and (M4d) can even return a negative
variance (the uncentred expansion is 0.5 nats off at m = 10⁷ in the test below). Two
measures keep it harmless. (L2) and (M4) do not change when x and μ are shifted by the
same vector, so both expansions are computed on X − c, with c the mean of the component
means (the data mean in the M step, where μ_k − c is also formed from X − c: a mean
rounded at the offset's scale would enter σ² at first order); that removes any common
offset. And a component for which the expansion's largest term still exceeds 1e7
times its result (a mean more than ~3000 σ from c) is computed in the direct form
(x − μ_k)²/σ²_k instead, so the error stays below ~4ε·1e7 ≈ 1e-8 (nats in (L2d),
relative in (M4d)). ``tests/test_gmm_expansion.py`` checks both against the direct
form in float64 and on float32 data with a large mean offset (the arithmetic is float64).

EM
--
With the assignments z observed, the complete-data log-likelihood would be

    (C1)  log p(X, z | θ) = Σ_n Σ_k [z_n = k] (log π_k + log N(x_n | μ_k, Σ_k)).

EM alternates between taking its expectation under the posterior of z at the current
parameters θ_old (E step) and maximizing that expectation over θ (M step).

E step. Bayes' rule, computed in log space:

    (E1)  log γ_nk = log π_k + log N(x_n | μ_k, Σ_k) − log p(x_n)

and the expected complete-data log-likelihood is

    (E2)  Q(θ | θ_old) = Σ_n Σ_k γ_nk (log π_k + log N(x_n | μ_k, Σ_k)).

M step. Setting the derivatives of (E2) to zero (π with a Lagrange multiplier for
Σ_k π_k = 1; Σ_k through ∂/∂Σ of −½ log|Σ| − ½ (x−μ)ᵀ Σ⁻¹ (x−μ)):

    (M1)  N_k = Σ_n γ_nk                                   effective count
    (M2)  π_k = N_k / N
    (M3)  μ_k = (1/N_k) Σ_n γ_nk x_n
    (M4)  Σ_k = (1/N_k) Σ_n γ_nk (x_n − μ_k)(x_n − μ_k)ᵀ + r I       (full)
          σ²_kd = (1/N_k) Σ_n γ_nk (x_nd − μ_kd)² + r                (diag)

where r = ``reg_covar``. The ridge r I is a covariance floor: every eigenvalue of Σ_k
(every variance) is at least r, so a component sitting on duplicated points, or data
with a constant feature, keeps a finite likelihood instead of a singular covariance
(with r = 0 the likelihood is unbounded there: put μ_k on a point, let Σ_k → 0). N_k
is also increased by 10·machine-ε, so that a component that no sample claims gives
μ_k = 0 instead of 0/0; this changes no other number visibly.

Scale. Squared distances are formed (k-means++, (M4)) and summed over up to N rows
and D features, so every |x| must stay below √(max float64 / (16 N D)), 6.1e150 for
N = 10⁴, D = 30 (16 = 4 for the distance between two points at most 2 max|x| apart
per feature, squared). Beyond that the covariances themselves (x² ≈ 1e320) cannot be
represented, so no change of units inside the fit could return them: ``fit`` raises a
ValueError that names the scale and says to standardize X instead.

Initialization: k-means++ (Arthur & Vassilvitskii, 2007) picks K centres, each
sampled with probability proportional to its squared distance to the nearest centre
already chosen; every sample is assigned to its nearest centre and (M1)–(M4) on
these hard responsibilities give θ_0.

Why EM never decreases the likelihood
-------------------------------------
For any distribution q_n over z_n, Jensen's inequality (log is concave) gives

    (J1)  log p(x_n | θ) = log Σ_k q_nk p(x_n, k | θ) / q_nk
                         ≥ Σ_k q_nk log [p(x_n, k | θ) / q_nk]  =:  F(q, θ)  (the ELBO)

with equality iff q_nk = p(k | x_n, θ). The E step sets q = γ(θ_old), which makes the
bound tight at θ_old: F(γ, θ_old) = ℓ(θ_old). The M step maximizes F(γ, θ) over θ
(F and Q differ only by the entropy of γ, which does not depend on θ). Hence

    (J2)  ℓ(θ_new) ≥ F(γ, θ_new) ≥ F(γ, θ_old) = ℓ(θ_old).

Strictly, (J2) holds for r = 0. With r > 0 the update (M4) is the maximizer of Q plus
a ridge that moves with N_k, not of Q alone, and the likelihood can drop a little.
On the 2-D data of ``tests/test_gmm.py`` (400 points from three unit-scale blobs,
K = 5, random_state = seed = 0, 1, 2, 150 iterations, both covariance types) no step
drops the mean log-likelihood per sample by more than 1e-12 at r = 1e-6 or r = 1e-3,
and the largest drop at r = 1 is 3.0e-3; ``test_the_likelihood_drops_the_docstring_quotes``
reproduces these figures, and the other tests check (J2) to rounding at r = 0 and drops
below r at r > 0.

Convergence: EM stops when the mean log-likelihood changes by less than ``tol`` from
one iteration to the next. It converges to a local maximum (or saddle) only, so
``n_init`` restarts keep the best.

References
----------
C. M. Bishop, Pattern Recognition and Machine Learning, Springer 2006, ch. 9
    (sections 9.2 and 9.4).
A. P. Dempster, N. M. Laird, D. B. Rubin, "Maximum likelihood from incomplete data
    via the EM algorithm", J. R. Statist. Soc. B 39(1), 1977.
D. Arthur, S. Vassilvitskii, "k-means++: the advantages of careful seeding",
    SODA 2007.
"""
from __future__ import annotations

import numbers

import numpy as np

from ._validation import check_array, check_choice, check_positive_int, check_scalar
from .estimator import Estimator
from .layers import logsumexp
from .models.base import NotFittedError

__all__ = ["GaussianMixture"]

_LOG_2PI = np.log(2.0 * np.pi)


def _rng(random_state):
    ok = random_state is None or isinstance(random_state, (np.random.Generator,
                                                          np.random.SeedSequence))
    ok = ok or (isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool)
                and random_state >= 0)
    if not ok:
        raise ValueError(f"random_state must be None, a non-negative int or a "
                         f"np.random.Generator, got {random_state!r}")
    return np.random.default_rng(random_state)


def _cholesky(covariances, covariance_type):
    """Σ_k = L_k L_kᵀ for full covariances (K, D, D); standard deviations for diag (K, D)."""
    if covariance_type == "diag":
        if np.any(covariances <= 0):
            raise ValueError(
                "a component has a zero variance (singular data, e.g. a constant feature "
                "or duplicated points); increase reg_covar")
        return np.sqrt(covariances)                               # (K, D)
    try:
        return np.linalg.cholesky(covariances)                    # (K, D, D), batched
    except np.linalg.LinAlgError:
        raise ValueError(
            "a component's covariance is not positive definite (singular data, e.g. a "
            "constant feature or duplicated points); increase reg_covar") from None


def _log_gaussian(X, means, chol, covariance_type):
    """(L2) log N(x_n | μ_k, Σ_k) for every sample and component, shape (N, K).

    Full: the triangular system L_k u_n = x_n − μ_k is solved for all n at once by
    forming the explicit inverse P_k = L_k⁻¹ (``np.linalg.solve(L_k, I)``, a general
    D×D solve, once per component) and the rows U = X P_kᵀ − μ_k P_kᵀ with one matrix
    product; the loop is over components only. Diagonal: (L2d), two matrix products
    for all components at once (:func:`_diag_quadratic`).
    """
    N, D = X.shape
    K = means.shape[0]
    if covariance_type == "diag":
        half_log_det = np.sum(np.log(chol), axis=1)              # (K,) ½ log|Σ_k|
        return -0.5 * D * _LOG_2PI - half_log_det - 0.5 * _diag_quadratic(X, means, chol)
    out = np.empty((N, K))
    for k in range(K):
        P = np.linalg.solve(chol[k], np.eye(D))                   # (D, D) L_k⁻¹, explicit
        U = X @ P.T                                               # (N, D) rows L_k⁻¹ x_n
        U -= means[k] @ P.T                                       # u_n = L_k⁻¹(x_n − μ_k)
        half_log_det = np.sum(np.log(np.diagonal(chol[k])))       # ½ log|Σ_k|
        sq_norm = np.einsum("nd,nd->n", U, U)                     # (N,) ‖u_n‖²
        out[:, k] = -0.5 * D * _LOG_2PI - half_log_det - 0.5 * sq_norm   # (L2)
    return out


#: the expansions (L2d) and (M4d) are trusted while their largest term is at most this
#: times their result: rounding then costs at most ~4·ε·1e7 ≈ 1e-8 (module docstring)
_EXPANSION_LIMIT = 1e7


def _diag_quadratic(X, means, std):
    """Q_nk = Σ_d (x_nd − μ_kd)² / σ²_kd for all n, k, (N, K), by (L2d).

    Centred at c = the mean of the component means, then expanded:
    Q = (X_c ⊙ X_c) (1/σ²)ᵀ − 2 X_c (μ_c/σ²)ᵀ + Σ_d μ_c²/σ². A component whose
    Σ_d μ_c²/σ² exceeds ``_EXPANSION_LIMIT`` (its mean lies over 3000 σ from c, or as
    far in total over the D features) gets the direct form instead.
    """
    c = means.mean(axis=0)                                        # (D,) (L2) is shift-invariant
    Xc, Mc = X - c, means - c                                     # (N, D), (K, D)
    prec = 1.0 / (std * std)                                      # (K, D) 1/σ²
    Q = (Xc * Xc) @ prec.T                                        # (L2d) Σ_d x²/σ²      (N, K)
    Q -= 2.0 * (Xc @ (Mc * prec).T)                               # (L2d) − 2 Σ_d x μ/σ²
    mu_term = np.sum(Mc * Mc * prec, axis=1)                      # (L2d) Σ_d μ²/σ²       (K,)
    Q += mu_term
    for k in np.flatnonzero(mu_term > _EXPANSION_LIMIT):          # cancellation: direct form
        Q[:, k] = _diag_quadratic_direct(X, means[k], std[k])
    return Q


def _diag_quadratic_direct(X, mean, std):
    """Σ_d ((x_nd − μ_d) / σ_d)² for one component, (N,): the definition, one pass per k."""
    U = (X - mean) / std                                          # (N, D) u_n, diag L_k
    return np.einsum("nd,nd->n", U, U)


def _estimate_parameters(X, resp, reg_covar, covariance_type):
    """(M1)–(M4) from responsibilities ``resp`` (N, K); returns (π, μ, Σ)."""
    N, D = X.shape
    K = resp.shape[1]
    Nk = resp.sum(axis=0) + 10 * np.finfo(np.float64).eps      # (M1) (K,)
    weights = Nk / N                                              # (M2) (K,)
    if covariance_type == "full":
        means = (resp.T @ X) / Nk[:, None]                        # (M3) (K, D)
        covs = np.empty((K, D, D))
        for k in range(K):
            diff = X - means[k]                                   # (N, D)
            covs[k] = (diff.T * resp[:, k]) @ diff / Nk[k]        # (M4) (D, D)
            covs[k].flat[:: D + 1] += reg_covar                   # (M4) + r I
    else:
        c = X.mean(axis=0)                                        # (D,) shift (module docstring)
        Xc = X - c                                                # (N, D)
        Mc = (resp.T @ Xc) / Nk[:, None]                          # (M3) μ_k − c  (K, D)
        means = c + Mc                                            # (M3)
        second = (resp.T @ (Xc * Xc)) / Nk[:, None]               # (M4d) E_γ[(x − c)²] (K, D)
        covs = second - Mc * Mc                                   # (M4d) E_γ[(x − μ)²]
        risky = np.any(second > _EXPANSION_LIMIT * covs, axis=1)  # cancellation: direct form
        for k in np.flatnonzero(risky):
            diff = X - means[k]                                   # (N, D)
            covs[k] = resp[:, k] @ (diff * diff) / Nk[k]          # (M4) diag, as defined
        covs += reg_covar                                         # (M4) + r
    return weights, means, covs


def _check_scale(X):
    """Refuse data whose squared distances overflow float64 (see "Scale" above)."""
    N, D = X.shape
    limit = np.sqrt(np.finfo(np.float64).max / (16.0 * N * D))
    largest = float(np.max(np.abs(X), initial=0.0))
    if largest > limit:
        raise ValueError(
            f"X has values up to {largest:.1e}: squared distances between its rows "
            f"overflow float64 above {limit:.1e} (for N = {N}, D = {D}), and so would the "
            "covariances; standardize X first, e.g. (X - X.mean(0)) / X.std(0), and map "
            "the fitted means and covariances back with that shift and scale")


def _kmeans_plusplus(X, K, rng):
    """k-means++ seeding: K row indices of X; the loop is over the K centres only."""
    N = X.shape[0]
    centres = [int(rng.integers(N))]
    closest = np.sum((X - X[centres[0]]) ** 2, axis=1)            # (N,) squared distance
    for _ in range(1, K):
        total = closest.sum()
        if total > 0:
            idx = int(rng.choice(N, p=closest / total))          # D² sampling
        else:                                                     # every point is a centre
            idx = int(rng.integers(N))
        centres.append(idx)
        closest = np.minimum(closest, np.sum((X - X[idx]) ** 2, axis=1))
    return np.array(centres)


class GaussianMixture(Estimator):
    """Gaussian mixture fitted by EM; see the module docstring for equations.

    Parameters
    ----------
    n_components : int >= 1, at most the number of samples.
    covariance_type : ``"full"`` (one D×D covariance per component) or ``"diag"``.
    max_iter : maximum number of EM iterations per initialization.
    tol : stop when the mean log-likelihood improves by less than this.
    reg_covar : r >= 0 added to every covariance's diagonal (M4), the covariance floor.
    n_init : number of k-means++ initializations; the one with the best final
        log-likelihood is kept.
    random_state : None, int or ``np.random.Generator``; seeds k-means++ (and ``sample``
        when it is not given a seed).
    verbose : print the mean log-likelihood at each iteration.

    Fitted attributes
    -----------------
    weights_ (K,), means_ (K, D), covariances_ ((K, D, D) full or (K, D) diag),
    converged_ (bool), n_iter_ (EM iterations of the kept run), lower_bound_ (mean
    log-likelihood of the training data at the fitted parameters, = ``score(X)``),
    log_likelihood_history_ (mean log-likelihood at θ_0, θ_1, …, θ_{n_iter_}:
    length n_iter_ + 1, non-decreasing up to the effect of reg_covar), cholesky_
    (the factors L_k (K, D, D), or the standard deviations (K, D) for diag).

    All arithmetic is float64, whatever the dtype of X.
    """

    _sklearn_kind = "density_estimator"

    def __init__(self, n_components=1, covariance_type="full", max_iter=100, tol=1e-4,
                 reg_covar=1e-6, n_init=1, random_state=None, verbose=False):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.max_iter = max_iter
        self.tol = tol
        self.reg_covar = reg_covar
        self.n_init = n_init
        self.random_state = random_state
        self.verbose = verbose

    # -- fitting ---------------------------------------------------------------------
    def _validate_hyperparameters(self):
        check_positive_int(self.n_components, "n_components")
        check_choice(self.covariance_type, "covariance_type", {"full", "diag"})
        check_positive_int(self.max_iter, "max_iter")
        check_scalar(self.tol, "tol", low=0)
        check_scalar(self.reg_covar, "reg_covar", low=0)
        check_positive_int(self.n_init, "n_init")

    def _check_fitted(self):
        if not hasattr(self, "means_"):
            raise NotFittedError("this GaussianMixture is not fitted yet; call fit(X) first")

    def _check_X(self, X):
        self._check_fitted()
        return check_array(X, "X", ndim=2, dtype=np.float64, n_features=self.means_.shape[1])

    # -- EM ----------------------------------------------------------------------------
    def _e_step(self, X, weights, means, chol):
        """(E1): log γ (N, K) and the mean log-likelihood (L1, L3) at these parameters."""
        log_joint = np.log(weights) + _log_gaussian(X, means, chol, self.covariance_type)
        log_px = logsumexp(log_joint, axis=1)                     # (L1) (N,)
        return log_joint - log_px[:, None], float(np.mean(log_px))

    def _fit_once(self, X, rng):
        N, K = X.shape[0], self.n_components
        centres = X[_kmeans_plusplus(X, K, rng)]                  # (K, D)
        d2 = np.stack([np.sum((X - c) ** 2, axis=1) for c in centres], axis=1)  # (N, K)
        resp = np.zeros((N, K))
        resp[np.arange(N), np.argmin(d2, axis=1)] = 1.0           # hard assignments
        weights, means, covs = _estimate_parameters(X, resp, self.reg_covar,
                                                    self.covariance_type)
        chol = _cholesky(covs, self.covariance_type)
        log_resp, ll = self._e_step(X, weights, means, chol)
        history, converged, n_iter = [ll], False, 0
        for n_iter in range(1, self.max_iter + 1):
            weights, means, covs = _estimate_parameters(             # M step
                X, np.exp(log_resp), self.reg_covar, self.covariance_type)
            chol = _cholesky(covs, self.covariance_type)
            log_resp, ll_new = self._e_step(X, weights, means, chol)  # E step
            history.append(ll_new)
            if self.verbose:
                print(f"iteration {n_iter:4d}  mean log-likelihood {ll_new:.6f}")
            if abs(ll_new - ll) < self.tol:
                converged = True
                break
            ll = ll_new
        return dict(weights_=weights, means_=means, covariances_=covs, cholesky_=chol,
                    converged_=converged, n_iter_=n_iter, lower_bound_=history[-1],
                    log_likelihood_history_=np.array(history))

    def fit(self, X, y=None):
        """Fit by EM from ``n_init`` k-means++ starts; ``y`` is ignored. Returns self."""
        self._validate_hyperparameters()
        X = check_array(X, "X", ndim=2, dtype=np.float64)
        _check_scale(X)
        if self.n_components > X.shape[0]:
            raise ValueError(f"n_components={self.n_components} must be at most the number "
                             f"of samples, X has {X.shape[0]}")
        rng = _rng(self.random_state)
        best = None
        for i in range(self.n_init):
            run = self._fit_once(X, rng)
            if self.verbose and self.n_init > 1:
                print(f"init {i}: mean log-likelihood {run['lower_bound_']:.6f}")
            if best is None or run["lower_bound_"] > best["lower_bound_"]:
                best = run
        for name, value in best.items():
            setattr(self, name, value)
        self.n_features_in_ = X.shape[1]
        return self

    # -- inference ---------------------------------------------------------------------
    def _log_joint(self, X):
        X = self._check_X(X)
        return np.log(self.weights_) + _log_gaussian(X, self.means_, self.cholesky_,
                                                     self.covariance_type)   # (N, K)

    def score_samples(self, X):
        """(L1) log p(x_n) for every row, shape (N,)."""
        return logsumexp(self._log_joint(X), axis=1)

    def score(self, X, y=None):
        """Mean log-likelihood per sample (higher is better)."""
        return float(np.mean(self.score_samples(X)))

    def predict_proba(self, X):
        """(E1) responsibilities γ_nk = p(z_n = k | x_n), shape (N, K), rows sum to 1."""
        log_joint = self._log_joint(X)
        return np.exp(log_joint - logsumexp(log_joint, axis=1)[:, None])

    def predict(self, X):
        """Most probable component for each row, shape (N,)."""
        return np.argmax(self._log_joint(X), axis=1)

    def _n_parameters(self):
        K, D = self.means_.shape
        cov_params = K * D * (D + 1) // 2 if self.covariance_type == "full" else K * D
        return (K - 1) + K * D + cov_params

    def bic(self, X):
        """Bayesian information criterion −2 ℓ + p log N (lower is better)."""
        X = self._check_X(X)
        return -2.0 * self.score(X) * X.shape[0] + self._n_parameters() * np.log(X.shape[0])

    def aic(self, X):
        """Akaike information criterion −2 ℓ + 2 p (lower is better)."""
        X = self._check_X(X)
        return -2.0 * self.score(X) * X.shape[0] + 2 * self._n_parameters()

    def sample(self, n_samples=1, random_state=None):
        """Draw ``n_samples`` by (G1)–(G2); returns (X (n, D), z (n,)).

        ``random_state`` defaults to the estimator's own; the loop is over components.
        """
        self._check_fitted()
        n_samples = check_positive_int(n_samples, "n_samples")
        rng = _rng(self.random_state if random_state is None else random_state)
        K, D = self.means_.shape
        z = rng.choice(K, size=n_samples, p=self.weights_ / self.weights_.sum())   # (G1)
        eps = rng.standard_normal((n_samples, D))                                  # (n, D)
        if self.covariance_type == "diag":
            return self.means_[z] + self.cholesky_[z] * eps, z                     # (G2)
        X = np.empty((n_samples, D))
        for k in range(K):
            rows = z == k
            X[rows] = self.means_[k] + eps[rows] @ self.cholesky_[k].T             # (G2)
        return X, z
