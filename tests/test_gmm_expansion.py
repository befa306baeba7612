"""npae.gmm's diagonal EM by matrix products, (L2d) and (M4d), against the direct forms.

The expansion Σ_d x²/σ² − 2 Σ_d xμ/σ² + Σ_d μ²/σ² cancels badly when the data sit far
from the origin; the module centres it and falls back to the direct form for components
far from the centre. These tests compare with the definitions in float64, on float32
data with a large offset, and show that without the centring the error would be large.
"""
import numpy as np
import pytest

from npae.gmm import (_EXPANSION_LIMIT, GaussianMixture, _diag_quadratic,
                      _estimate_parameters, _log_gaussian)


def _direct_log_gaussian(X, means, std):
    """(L2) for diagonal Σ_k written plainly: one pass over (N, D) per component."""
    D = X.shape[1]
    out = np.empty((X.shape[0], means.shape[0]))
    for k in range(means.shape[0]):
        u = (X - means[k]) / std[k]
        out[:, k] = -0.5 * D * np.log(2 * np.pi) - np.sum(np.log(std[k])) - 0.5 * np.sum(u * u, 1)
    return out


def _direct_variances(X, resp, means, reg):
    """(M4) diag as defined: σ²_kd = Σ_n γ_nk (x_nd − μ_kd)² / N_k + r."""
    Nk = resp.sum(axis=0) + 10 * np.finfo(np.float64).eps
    return np.stack([resp[:, k] @ (X - means[k]) ** 2 / Nk[k] for k in range(len(means))]) + reg


def _problem(offset=0.0, dtype=np.float64, N=2000, D=7, K=4, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(K, D)) * 3
    z = rng.integers(K, size=N)
    X = (offset + centres[z] + rng.normal(size=(N, D)) * rng.uniform(0.3, 2, size=D))
    X = X.astype(dtype).astype(np.float64)                  # GaussianMixture works in float64
    resp = rng.dirichlet(np.ones(K) * 0.3, size=N)
    means = offset + centres + rng.normal(size=(K, D)) * 0.1
    std = rng.uniform(0.3, 2.0, size=(K, D))
    return X, resp, means, std


@pytest.mark.parametrize("offset,dtype,tol", [(0.0, np.float64, 1e-11),
                                              (1e4, np.float32, 1e-9),
                                              (1e7, np.float64, 1e-9)])
def test_expanded_log_density_equals_the_direct_form(offset, dtype, tol):
    """(L2d) by two matrix products = (L2) per component, to `tol` nats, offsets included."""
    X, _, means, std = _problem(offset, dtype)
    err = np.max(np.abs(_log_gaussian(X, means, std, "diag") - _direct_log_gaussian(X, means, std)))
    print(f"offset {offset:g} ({np.dtype(dtype).name} data): max |error| {err:.2e} nats")
    assert err <= tol


def test_without_centring_the_expansion_would_lose_the_density():
    """Planted: the uncentred expansion at an offset of 1e7 is off by far more than the
    centred one (which the test above holds to 1e-9 nats)."""
    X, _, means, std = _problem(1e7)
    prec = 1 / std ** 2
    Q = (X * X) @ prec.T - 2 * X @ (means * prec).T + np.sum(means ** 2 * prec, axis=1)
    naive = -0.5 * X.shape[1] * np.log(2 * np.pi) - np.sum(np.log(std), 1) - 0.5 * Q
    err = np.max(np.abs(naive - _direct_log_gaussian(X, means, std)))
    print(f"uncentred expansion at offset 1e7: max |error| {err:.2e} nats")
    assert err > 1e-3


def test_a_component_far_from_the_centre_falls_back_to_the_direct_form():
    """Two components 1e9 σ apart: centring cannot help both, so (L2d) is not trusted
    (Σ μ_c²/σ² > 1e7) and the direct form is used; it matches the definition to rounding
    (the expansion would give 0 or 2^k for the near points: every digit lost)."""
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(size=(50, 3)), 1e9 + rng.normal(size=(50, 3))])
    means, std = np.array([[0.0] * 3, [1e9] * 3]), np.ones((2, 3))
    Xc_mean = means.mean(axis=0)
    assert np.all(np.sum((means - Xc_mean) ** 2, axis=1) > _EXPANSION_LIMIT)
    Q = _diag_quadratic(X, means, std)
    direct = np.stack([np.sum((X - m) ** 2, axis=1) for m in means], axis=1)
    np.testing.assert_allclose(Q, direct, rtol=1e-14)


@pytest.mark.parametrize("offset,dtype", [(0.0, np.float64), (1e4, np.float32),
                                          (1e7, np.float64), (1e9, np.float64)])
def test_expanded_variances_equal_the_direct_form(offset, dtype):
    """(M4d) = (M4) diag to 1e-9 relative, also where the expansion would cancel
    (offset 1e9: handled by the fallback), and an empty component gets exactly r."""
    X, resp, _, _ = _problem(offset, dtype)
    resp[:, -1] = 0.0                                       # a component nobody claims
    resp /= resp.sum(axis=1, keepdims=True)
    weights, means, covs = _estimate_parameters(X, resp, 1e-6, "diag")
    expected = _direct_variances(X, resp, means, 1e-6)
    rel = np.max(np.abs(covs - expected) / expected)
    print(f"offset {offset:g}: max relative error of the variances {rel:.2e}")
    assert rel <= 1e-9
    assert np.all(covs[-1] == 1e-6)


def test_diagonal_fit_is_translation_equivariant():
    """The same data shifted by 1e6: the same fit, means shifted, log-likelihood equal."""
    X, _, _, _ = _problem(0.0, N=1500)
    a = GaussianMixture(4, "diag", max_iter=30, tol=0, random_state=3).fit(X)
    b = GaussianMixture(4, "diag", max_iter=30, tol=0, random_state=3).fit(X + 1e6)
    np.testing.assert_allclose(b.means_ - 1e6, a.means_, atol=1e-6)
    np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=1e-6)
    assert abs(a.lower_bound_ - b.lower_bound_) <= 1e-7
