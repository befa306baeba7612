"""Tests for npae.gmm: EM's monotonicity, recovery of a known mixture, the density
against its textbook formula, the covariance floor, sampling, and argument checks."""
import itertools

import numpy as np
import pytest

from npae import NotFittedError
from npae.gmm import GaussianMixture

TRUE_WEIGHTS = np.array([0.5, 0.3, 0.2])
TRUE_MEANS = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
TRUE_COVS = np.array([[[1.0, 0.3], [0.3, 0.5]],
                      [[0.6, -0.2], [-0.2, 0.8]],
                      [[0.4, 0.0], [0.0, 1.2]]])


def three_blobs(n=3000, seed=0):
    """n points from the well-separated mixture above, with their true components."""
    rng = np.random.default_rng(seed)
    z = rng.choice(3, size=n, p=TRUE_WEIGHTS)
    L = np.linalg.cholesky(TRUE_COVS)
    X = TRUE_MEANS[z] + np.einsum("nij,nj->ni", L[z], rng.standard_normal((n, 2)))
    return X, z


def best_permutation(est_means, true_means):
    """The matching of fitted to true components with the least total squared error."""
    K = len(true_means)
    return min(itertools.permutations(range(K)),
               key=lambda p: np.sum((est_means[list(p)] - true_means) ** 2))


def mixture_density_by_formula(X, weights, means, covs):
    """p(x) = Σ_k π_k (2π)^{-D/2} |Σ_k|^{-1/2} exp(−½ (x−μ_k)ᵀ Σ_k⁻¹ (x−μ_k)), plainly."""
    D = X.shape[1]
    p = np.zeros(len(X))
    for w, m, S in zip(weights, means, covs):
        d = X - m
        maha = np.sum(d @ np.linalg.inv(S) * d, axis=1)
        p += w * np.exp(-0.5 * maha) / np.sqrt((2 * np.pi) ** D * np.linalg.det(S))
    return p


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_em_never_decreases_the_log_likelihood(covariance_type, seed):
    """(J2): with reg_covar = 0 the mean log-likelihood is non-decreasing up to rounding;
    with reg_covar = r > 0 it never drops by more than r (see the module docstring)."""
    rng = np.random.default_rng(seed)
    X = TRUE_MEANS[rng.integers(3, size=400)] + rng.standard_normal((400, 2)) * [1.0, 0.4]
    for reg in (0.0, 1e-6, 1e-2):
        gm = GaussianMixture(5, covariance_type, max_iter=150, tol=0.0, reg_covar=reg,
                             random_state=seed).fit(X)
        steps = np.diff(gm.log_likelihood_history_)
        assert len(steps) == gm.n_iter_ >= 20
        allowed = 1e-12 if reg == 0 else reg
        assert steps.min() >= -allowed, (reg, steps.min())
        # and EM does improve on its k-means++ start
        assert gm.log_likelihood_history_[-1] > gm.log_likelihood_history_[0] + 1e-3


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_recovers_known_three_component_mixture(covariance_type):
    """Means within 0.1 (standard errors ≤ √(1.2/600) ≈ 0.045) and weights within 0.03
    (standard error √(0.25/3000) ≈ 0.009) after the best matching of components."""
    X, _ = three_blobs()
    gm = GaussianMixture(3, covariance_type, random_state=0).fit(X)
    assert gm.converged_
    perm = list(best_permutation(gm.means_, TRUE_MEANS))
    np.testing.assert_allclose(gm.means_[perm], TRUE_MEANS, atol=0.1)
    np.testing.assert_allclose(gm.weights_[perm], TRUE_WEIGHTS, atol=0.03)
    if covariance_type == "full":
        # covariance entries: standard error ≈ √((Σii Σjj + Σij²)/n_k) ≤ 0.07 for n_k = 600
        np.testing.assert_allclose(gm.covariances_[perm], TRUE_COVS, atol=0.2)
    else:
        np.testing.assert_allclose(gm.covariances_[perm],
                                   np.diagonal(TRUE_COVS, axis1=1, axis2=2), atol=0.2)
    assert abs(np.sum(gm.weights_) - 1.0) < 1e-12
    assert gm.lower_bound_ == pytest.approx(gm.score(X), abs=1e-12)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_score_samples_matches_textbook_density(covariance_type):
    """The log-space Cholesky evaluation (L1)-(L2) equals log of the plain formula."""
    X, _ = three_blobs(n=300, seed=3)
    gm = GaussianMixture(3, covariance_type, max_iter=5, random_state=1).fit(X)
    covs = gm.covariances_ if covariance_type == "full" else \
        np.stack([np.diag(v) for v in gm.covariances_])
    expected = np.log(mixture_density_by_formula(X, gm.weights_, gm.means_, covs))
    np.testing.assert_allclose(gm.score_samples(X), expected, rtol=1e-10, atol=1e-10)
    proba = gm.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(np.argmax(proba, axis=1), gm.predict(X))


def test_log_space_survives_far_away_points():
    """A point 1e3 standard deviations out has density e^{-5e5}: exp underflows, the
    log-sum-exp does not, and the responsibilities stay a proper distribution."""
    X, _ = three_blobs(n=300)
    gm = GaussianMixture(3, random_state=0).fit(X)
    far = np.array([[1000.0, -1000.0]])
    assert np.isfinite(gm.score_samples(far)).all()
    assert gm.score_samples(far)[0] < -1e5
    np.testing.assert_allclose(gm.predict_proba(far).sum(), 1.0)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_constant_feature_is_handled_by_the_covariance_floor(covariance_type):
    """A constant column makes every sample covariance singular; reg_covar keeps every
    eigenvalue ≥ reg_covar and the likelihood finite, and reg_covar = 0 is refused."""
    X, _ = three_blobs(n=500)
    X = np.column_stack([X, np.full(len(X), 5.0)])
    gm = GaussianMixture(3, covariance_type, reg_covar=1e-4, random_state=0).fit(X)
    assert np.all(np.isfinite(gm.score_samples(X)))
    if covariance_type == "full":
        eig = np.linalg.eigvalsh(gm.covariances_)
    else:
        eig = gm.covariances_
    assert eig.min() >= 1e-4 * (1 - 1e-9)
    assert eig.min() <= 1e-4 * (1 + 1e-6)    # the constant direction sits on the floor
    with pytest.raises(ValueError, match="reg_covar"):
        GaussianMixture(3, covariance_type, reg_covar=0.0, random_state=0).fit(X)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_component_on_duplicated_points_is_floored(covariance_type):
    """100 copies of one point beside a spread cloud: one component collapses onto the
    copies with covariance exactly reg_covar·I, and nothing becomes NaN or infinite."""
    rng = np.random.default_rng(0)
    X = np.vstack([np.tile([[3.0, -2.0]], (100, 1)), rng.standard_normal((300, 2))])
    gm = GaussianMixture(2, covariance_type, reg_covar=1e-6, random_state=0).fit(X)
    k = int(np.argmin(np.sum((gm.means_ - [3.0, -2.0]) ** 2, axis=1)))
    np.testing.assert_allclose(gm.means_[k], [3.0, -2.0], atol=1e-9)
    cov_k = gm.covariances_[k] if covariance_type == "diag" else np.diagonal(gm.covariances_[k])
    np.testing.assert_allclose(cov_k, 1e-6, rtol=1e-6)
    assert np.all(np.isfinite(gm.log_likelihood_history_))
    assert np.all(np.isfinite(gm.predict_proba(X)))


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_sample_follows_the_generative_process(covariance_type):
    """200 000 draws: component frequencies within 4 standard errors √(π(1−π)/n) of π,
    per-component means within 4 s.e. √(Σ_dd/n_k) of μ_k, covariance entries within 4 s.e.
    √((Σ_ii Σ_jj + Σ_ij²)/n_k) of Σ_k (variances of Gaussian sample moments)."""
    X, _ = three_blobs(n=1000)
    gm = GaussianMixture(3, covariance_type, random_state=0).fit(X)
    n = 200_000
    Xs, z = gm.sample(n, random_state=1)
    assert Xs.shape == (n, 2) and z.shape == (n,)
    freq = np.bincount(z, minlength=3) / n
    se = np.sqrt(gm.weights_ * (1 - gm.weights_) / n)
    assert np.all(np.abs(freq - gm.weights_) < 4 * se)
    for k in range(3):
        Xk = Xs[z == k]
        nk = len(Xk)
        S = gm.covariances_[k] if covariance_type == "full" else np.diag(gm.covariances_[k])
        assert np.all(np.abs(Xk.mean(axis=0) - gm.means_[k]) < 4 * np.sqrt(np.diag(S) / nk))
        se_cov = np.sqrt((np.outer(np.diag(S), np.diag(S)) + S ** 2) / nk)
        assert np.all(np.abs(np.cov(Xk.T) - S) < 4 * se_cov)


def test_sample_is_reproducible():
    X, _ = three_blobs(n=300)
    gm = GaussianMixture(3, random_state=0).fit(X)
    a, za = gm.sample(50, random_state=7)
    b, zb = gm.sample(50, random_state=7)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(za, zb)


def test_same_random_state_gives_bit_identical_fits():
    X, _ = three_blobs(n=600)
    a = GaussianMixture(3, n_init=2, random_state=42).fit(X)
    b = GaussianMixture(3, n_init=2, random_state=42).fit(X)
    for name in ("weights_", "means_", "covariances_", "log_likelihood_history_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = GaussianMixture(3, max_iter=1, random_state=43).fit(X)
    d = GaussianMixture(3, max_iter=1, random_state=42).fit(X)
    assert not np.array_equal(c.means_, d.means_)


def test_bic_and_aic_count_parameters():
    """p = (K−1) + K·D + K·D(D+1)/2 (full) or K·D (diag); here K = 3, D = 2."""
    X, _ = three_blobs(n=500)
    N = len(X)
    for covariance_type, p in (("full", 2 + 6 + 9), ("diag", 2 + 6 + 6)):
        gm = GaussianMixture(3, covariance_type, random_state=0).fit(X)
        ll = gm.score(X) * N
        assert gm.bic(X) == pytest.approx(-2 * ll + p * np.log(N), rel=1e-12)
        assert gm.aic(X) == pytest.approx(-2 * ll + 2 * p, rel=1e-12)
    # BIC prefers the true number of components to one or six
    bics = {K: GaussianMixture(K, random_state=0).fit(X).bic(X) for K in (1, 3, 6)}
    assert min(bics, key=bics.get) == 3


def test_estimator_conventions():
    gm = GaussianMixture(n_components=4, covariance_type="diag", tol=1e-3)
    params = gm.get_params()
    assert params["n_components"] == 4 and params["covariance_type"] == "diag"
    assert set(params) == {"n_components", "covariance_type", "max_iter", "tol", "reg_covar",
                           "n_init", "random_state", "verbose"}
    assert gm.set_params(n_components=2) is gm and gm.n_components == 2
    with pytest.raises(ValueError, match="'bogus' is not a hyperparameter"):
        gm.set_params(bogus=1)
    X, _ = three_blobs(n=200)
    assert gm.fit(X) is gm
    assert not any(name.endswith("_") for name in vars(GaussianMixture(3)))


def test_verbose_prints_progress(capsys):
    X, _ = three_blobs(n=200)
    GaussianMixture(3, max_iter=3, tol=0.0, verbose=True, random_state=0).fit(X)
    assert capsys.readouterr().out.count("mean log-likelihood") == 3


@pytest.mark.parametrize("kwargs, match", [
    ({"n_components": 0}, "n_components"),
    ({"n_components": 2.5}, "n_components"),
    ({"n_components": 201}, "n_components=201 must be at most the number of samples"),
    ({"covariance_type": "spherical"}, "covariance_type"),
    ({"reg_covar": -1.0}, "reg_covar"),
    ({"tol": float("nan")}, "tol"),
    ({"max_iter": 0}, "max_iter"),
    ({"n_init": 0}, "n_init"),
    ({"random_state": "seed"}, "random_state"),
])
def test_bad_hyperparameters_raise_at_fit(kwargs, match):
    X, _ = three_blobs(n=200)
    gm = GaussianMixture(**{"n_components": 2, **kwargs})   # stored unchanged, no error yet
    with pytest.raises(ValueError, match=match):
        gm.fit(X)


def test_bad_data_raise():
    X, _ = three_blobs(n=200)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="X contains 1 NaN"):
        GaussianMixture(2).fit(bad)
    with pytest.raises(ValueError, match="2-dimensional"):
        GaussianMixture(2).fit(X[:, 0])
    with pytest.raises(NotFittedError, match="not fitted"):
        GaussianMixture(2).predict(X)
    with pytest.raises(NotFittedError):
        GaussianMixture(2).sample(3)
    gm = GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="must have 2 columns"):
        gm.predict(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="n_samples"):
        gm.sample(0)


@pytest.mark.slow      # over a second: the quick loop stays about a minute
def test_the_likelihood_drops_the_docstring_quotes():
    """The module docstring's figures, on the data of the monotonicity test: no drop
    above 1e-12 at r = 1e-6 and 1e-3, and a largest drop of 3.0e-3 at r = 1."""
    worst = {}
    for covariance_type, reg, seed in itertools.product(["full", "diag"], [1e-6, 1e-3, 1.0],
                                                        [0, 1, 2]):
        rng = np.random.default_rng(seed)
        X = TRUE_MEANS[rng.integers(3, size=400)] + rng.standard_normal((400, 2)) * [1.0, 0.4]
        gm = GaussianMixture(5, covariance_type, max_iter=150, tol=0.0, reg_covar=reg,
                             random_state=seed).fit(X)
        drop = float(-np.diff(gm.log_likelihood_history_).min())
        worst[reg] = max(worst.get(reg, -np.inf), drop)
    print({r: f"{d:.1e}" for r, d in worst.items()})
    assert worst[1e-6] <= 1e-12 and worst[1e-3] <= 1e-12
    assert worst[1.0] == pytest.approx(3.0e-3, abs=5e-5)


def test_data_whose_squared_distances_overflow_is_refused_with_its_scale():
    """Values around 1e160 made k-means++ fail with NumPy's "Probabilities contain NaN";
    now a ValueError names the scale and says to standardize. 1e100 still fits."""
    X = np.random.default_rng(0).normal(size=(100, 3))
    with pytest.raises(ValueError, match=r"X has values up to 3\.1e\+160.*standardize X"):
        GaussianMixture(2, random_state=0).fit(X * 1e160)
    gm = GaussianMixture(2, random_state=0).fit(X * 1e100)
    assert np.isfinite(gm.covariances_).all() and np.isfinite(gm.score(X * 1e100))
    same = GaussianMixture(2, random_state=0).fit(X)
    assert gm.score(X * 1e100) == pytest.approx(same.score(X) - 3 * np.log(1e100), rel=1e-6)
