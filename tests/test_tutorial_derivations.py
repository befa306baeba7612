"""The derivations the tutorials show (issue 10 §3), re-derived here with their numbers.

Each test recomputes one identity of a tutorial independently (small sizes, fixed seeds)
and asserts the property the tutorial prints:

* tutorial 08: log p(x) = ELBO + KL(q‖p(z|x)) on probabilistic PCA, the exact posterior
  as the ELBO's maximizer (zero-variance log-weights in npae's VAE), the importance-
  sampled gap against v/(2K), the reparameterization and score-function gradients;
* tutorial 04: E‖f(x + sε) − f(x)‖² ≈ s² ‖J_f(x)‖²_F, and (RC) for the whole
  reconstruction with its Hessian term (r(x) − x)·Δr(x);
* tutorial 07: F(q, θ) = ℓ(θ) − Σ KL(q‖γ), F = ℓ after every E step, the M step;
* tutorial 02: the upward bias of the minibatch KL-sparsity penalty, ∝ 1/B.
"""
import numpy as np
import pytest

from npae import Autoencoder, GaussianMixture, penalties
from npae.gradcheck import numerical_gradient, relative_error
from npae.layers import sigmoid
from npae.likelihood import elbo, importance_sampled_log_likelihood, log_importance_weights
from npae.models.regularized import ContractiveAutoencoder
from npae.models.vae import VAE, reparameterize_backward

LOG_2PI = np.log(2 * np.pi)


# --------------------------------------------------------------------------- pPCA (tutorial 08)

def _ppca(seed=0, N=400, D=6, H=2):
    """Data from a pPCA and its maximum-likelihood fit (orthogonal rows of V)."""
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((N, H)) @ (rng.normal(size=(H, D)) * [[2.0], [1.0]])
         + rng.normal(size=D) + 0.5 * rng.standard_normal((N, D)))
    c = X.mean(0)
    lam, U = np.linalg.eigh(np.cov(X.T, bias=True))
    lam, U = lam[::-1], U[:, ::-1]
    var_x = lam[H:].mean()
    V = np.sqrt(lam[:H] - var_x)[:, None] * U[:, :H].T                  # (H, D)
    return X, V, c, var_x


def _log_px(X, V, c, var_x):
    C = V.T @ V + var_x * np.eye(V.shape[1])
    d = X - c
    return -0.5 * (X.shape[1] * LOG_2PI + np.linalg.slogdet(C)[1]
                   + np.einsum("nd,de,ne->n", d, np.linalg.inv(C), d))


def _posterior(X, V, c, var_x):
    Minv = np.linalg.inv(V @ V.T + var_x * np.eye(V.shape[0]))
    return (X - c) @ V.T @ Minv, var_x * Minv


def _elbo_diag(X, V, c, var_x, mu, s2):
    """E_q[log p(x|z) + log p(z) − log q(z)] for q = N(μ, diag s²), in closed form."""
    D = X.shape[1]
    resid = np.sum((X - c - mu @ V) ** 2, 1) + s2 @ np.sum(V * V, 1)
    return (-0.5 * D * np.log(2 * np.pi * var_x) - resid / (2 * var_x)
            - 0.5 * np.sum(mu ** 2 + s2, 1) + 0.5 * np.sum(1 + np.log(s2), 1))


def _kl_gauss(mu, s2, m, S):
    P = np.linalg.inv(S)
    d = m - mu
    return 0.5 * (s2 @ np.diag(P) + np.einsum("nh,hk,nk->n", d, P, d) - S.shape[0]
                  + np.linalg.slogdet(S)[1] - np.sum(np.log(s2), 1))


def _linear_vae(V, c, var_x, W_mu, b_mu, b_logvar):
    vae = VAE(hidden_layer_sizes=(), latent_dim=V.shape[0], output="gaussian",
              decoder_variance=var_x, dtype="float64", random_state=0,
              verbose=False).initialize(V.shape[1])
    p = vae.params_
    p["dec.0.W"][:], p["dec.0.b"][:] = V, c
    p["mu.W"][:], p["mu.b"][:] = W_mu, b_mu
    p["logvar.W"][:], p["logvar.b"][:] = 0.0, b_logvar
    return vae


def _exact_encoder(V, c, var_x):
    Minv = np.linalg.inv(V @ V.T + var_x * np.eye(V.shape[0]))
    return V.T @ Minv, -c @ V.T @ Minv, np.diag(var_x * Minv)


def test_elbo_plus_kl_to_the_posterior_is_log_px_for_any_q():
    """(2) of tutorial 08: the identity to rounding, for random diagonal q; ELBO < log p."""
    X, V, c, var_x = _ppca()
    rng = np.random.default_rng(1)
    m, S = _posterior(X[:20], V, c, var_x)
    mu = m + rng.normal(scale=0.5, size=m.shape)
    s2 = np.diag(S) * np.exp(rng.normal(scale=0.7, size=m.shape))
    e, kl, lp = (_elbo_diag(X[:20], V, c, var_x, mu, s2), _kl_gauss(mu, s2, m, S),
                 _log_px(X[:20], V, c, var_x))
    assert np.max(np.abs(lp - (e + kl))) < 1e-12
    assert np.all(kl > 0) and np.all(e < lp)
    # a planted error (forgetting the entropy's +½ per coordinate) breaks the identity
    assert np.max(np.abs(lp - (e - 0.5 * m.shape[1] + kl))) > 0.5


def test_npae_monte_carlo_elbo_matches_the_closed_form():
    X, V, c, var_x = _ppca()
    W, b, Sd = _exact_encoder(V, c, var_x)
    wrong = _linear_vae(V, c, var_x, W, b + 1.5 * np.sqrt(Sd), np.log(2 * Sd))
    mu, logvar = wrong.encode(X[:5])
    exact = _elbo_diag(X[:5], V, c, var_x, mu, np.exp(logvar))
    mc = elbo(wrong, X[:5], n_samples=20000, random_state=0)
    assert np.max(np.abs(mc - exact)) < 0.1                          # ~4 SE at K = 20000
    assert np.max(np.abs(mc - exact)) > 1e-6                         # it is a sample mean


def test_exact_posterior_encoder_gives_log_px_in_every_sample():
    """The ELBO's maximizer is p(z|x): every log-weight equals log p(x) (zero variance)."""
    X, V, c, var_x = _ppca()
    exact = _linear_vae(V, c, var_x, *_exact_encoder(V, c, var_x)[:2],
                        np.log(_exact_encoder(V, c, var_x)[2]))
    log_w = log_importance_weights(exact, X[:8], n_samples=30, random_state=0)
    assert np.max(np.abs(log_w - _log_px(X[:8], V, c, var_x)[:, None])) < 1e-10
    slightly_off = _linear_vae(V, c, var_x, *_exact_encoder(V, c, var_x)[:2],
                               np.log(1.1 * _exact_encoder(V, c, var_x)[2]))
    log_w = log_importance_weights(slightly_off, X[:8], n_samples=30, random_state=0)
    assert np.max(np.abs(log_w - _log_px(X[:8], V, c, var_x)[:, None])) > 1e-3


def test_elbo_gradient_vanishes_at_the_mean_field_optimum():
    """(7) of tutorial 08: ∂ELBO/∂μ = −(μ − m)S⁻¹, ∂ELBO/∂log s² = ½ − ½ s² (S⁻¹)_jj;
    for a rotated V (correlated posterior) the best diagonal q leaves a gap > 0."""
    X, V, c, var_x = _ppca()
    th = 0.6
    R = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    for Vm, tight in ((V, True), (R @ V, False)):
        x = X[:1]
        m, S = _posterior(x, Vm, c, var_x)
        P = np.linalg.inv(S)
        mu, ls = m[0].copy(), -np.log(np.diag(P))                   # the claimed optimum
        f = lambda: _elbo_diag(x, Vm, c, var_x, mu[None], np.exp(ls)[None])[0]  # noqa: E731
        assert np.max(np.abs(numerical_gradient(f, mu))) < 1e-8
        assert np.max(np.abs(numerical_gradient(f, ls))) < 1e-8
        mu2, ls2 = mu + 0.3, ls.copy()                               # check (7) off the optimum
        g = lambda: _elbo_diag(x, Vm, c, var_x, mu2[None], np.exp(ls2)[None])[0]  # noqa: E731
        assert relative_error(-(mu2 - m[0]) @ P, numerical_gradient(g, mu2)) < 1e-9
        gap = _kl_gauss(mu[None], np.exp(ls)[None], m, S)[0]
        assert (gap < 1e-12) if tight else (gap > 1e-3)


def test_importance_sampled_gap_follows_v_over_2k():
    """(8) of tutorial 08: log p(x) − E log p̂_K ≈ v/(2K), v = Var_q[w/p] in closed form."""
    X, V, c, var_x = _ppca(N=2000)
    W, b, Sd = _exact_encoder(V, c, var_x)
    delta, r = 1.5, 2.0
    wrong = _linear_vae(V, c, var_x, W, b + delta * np.sqrt(Sd), np.log(r * Sd))
    v = (r / np.sqrt(2 * r - 1) * np.exp(delta ** 2 / (2 * r - 1))) ** 2 - 1
    lp = _log_px(X, V, c, var_x)
    mu, logvar = wrong.encode(X)
    e = _elbo_diag(X, V, c, var_x, mu, np.exp(logvar))
    est1 = importance_sampled_log_likelihood(wrong, X, n_samples=1, random_state=1)
    assert abs(np.mean(est1 - e)) < 4 * np.std(est1 - e) / np.sqrt(len(X))   # K = 1: the ELBO
    gaps = []
    for K in (10, 100):
        d = lp - importance_sampled_log_likelihood(wrong, X, n_samples=K, random_state=K)
        gaps.append(d.mean())
        assert abs(d.mean() - v / (2 * K)) < 0.25 * v / (2 * K) + 4 * d.std() / np.sqrt(len(X))
    assert np.mean(lp - e) > gaps[0] > gaps[1] > 0


def test_reparameterization_and_score_function_are_unbiased_with_different_variances():
    X, V, c, var_x = _ppca()
    W, b, Sd = _exact_encoder(V, c, var_x)
    model = _linear_vae(V, c, var_x, W, b + 1.5 * np.sqrt(Sd), np.log(2 * Sd))
    x = X[:1]
    mu, logvar = model.encode(x)
    mu, s2 = mu[0], np.exp(logvar[0])
    s, M, D = np.sqrt(s2), 50000, X.shape[1]
    eps = np.random.default_rng(3).standard_normal((M, 2))
    z = mu + s * eps
    resid = x - c - z @ V
    f = -0.5 * D * np.log(2 * np.pi * var_x) - np.sum(resid ** 2, 1) / (2 * var_x)
    d_mu, d_lv = reparameterize_backward(-(resid @ V.T) / var_x, np.broadcast_to(s, z.shape), eps)
    reparam = -np.hstack([d_mu, d_lv])
    score = f[:, None] * np.hstack([eps / s, 0.5 * (eps ** 2 - 1)])
    exact = np.concatenate([(x[0] - c - mu @ V) @ V.T / var_x, -s2 * np.sum(V * V, 1) / (2 * var_x)])
    for g in (reparam, score):
        assert np.all(np.abs(g.mean(0) - exact) < 4 * g.std(0) / np.sqrt(M))
    assert np.all(score.var(0) > 20 * reparam.var(0))
    _, _, grads = model.loss_and_grads(np.repeat(x, M, 0), noise=eps, terms=["recon"])
    npae_mean = -np.concatenate([grads["mu.b"], grads["logvar.b"]])
    assert np.max(np.abs(npae_mean - reparam.mean(0))) < 1e-9


# --------------------------------------------------------------------------- tutorial 04

def test_gaussian_jitter_of_the_code_is_s2_times_the_jacobian_norm():
    """E‖f(x + sε) − f(x)‖² = s²‖J_f(x)‖²_F + O(s⁴), with antithetic pairs ±ε."""
    model = ContractiveAutoencoder((5,), dtype="float64", random_state=0).initialize(7)
    rng = np.random.default_rng(0)
    model.params_["enc.0.W"] += rng.normal(scale=1.0, size=(7, 5))
    x = rng.uniform(0.1, 0.9, size=(1, 7))
    J = model.encoder_jacobian(x)[0]                                  # (D, H)
    J2 = np.sum(J ** 2)
    assert np.isclose(J2, penalties.contractive(model.transform(x), model.params_["enc.0.W"], 1.0),
                      rtol=1e-12)
    M = 20000
    eps = rng.standard_normal((M, 7))
    lin = np.mean(np.sum((eps @ J) ** 2, 1))                          # ‖Jᵀε‖², same ε
    errs = []
    for s in (0.1, 0.01, 0.001):
        fx = model.transform(x)
        sq = 0.5 * sum(np.sum((model.transform(x + sign * s * eps) - fx) ** 2, 1)
                       for sign in (1, -1)) / s ** 2
        errs.append(abs(sq.mean() / lin - 1))
        assert abs(sq.mean() / J2 - 1) < 4 * sq.std() / np.sqrt(M) / J2 + errs[-1]
    assert errs[0] > 50 * errs[1] > 2500 * errs[2] and errs[2] < 1e-5   # O(s²)


def test_the_reconstructions_jitter_has_a_hessian_term_that_does_not_vanish():
    """Tutorial 04 (RC): E‖r(x + sε) − x‖² = ‖r(x) − x‖² + s²[‖J_r‖²_F + (r(x) − x)·Δr(x)]
    + O(s⁴). Checked against the quadratic model with the same ε (its error falls like s²)
    and in expectation; the Jacobian term alone (Alain & Bengio's r(x) ≈ x) misses it."""
    model = Autoencoder((4,), activation="tanh", dtype="float64", random_state=0).initialize(7)
    rng = np.random.default_rng(0)
    for k in model.params_:
        model.params_[k] += rng.normal(scale=1.0, size=model.params_[k].shape)
    x = rng.uniform(0.1, 0.9, size=7)
    r, h, E = model.reconstruct, 1e-4, np.eye(7)
    e = r(x[None])[0] - x                                             # r(x) − x (D,)
    J = (r(x + h * E) - r(x - h * E)) / (2 * h)                       # (D, D) ∂r_j/∂x_i
    Hs = np.stack([(r(x + h * E[i] + h * E) - r(x + h * E[i] - h * E)
                    - r(x - h * E[i] + h * E) + r(x - h * E[i] - h * E)) / (4 * h * h)
                   for i in range(7)])                                # (D, D, D) ∂²r_j/∂x_i∂x_k
    lap = np.einsum("iij->j", Hs)                                     # Δr_j
    J2, hess = np.sum(J ** 2), e @ lap
    M = 20000
    eps = rng.standard_normal((M, 7))
    quad = np.sum((eps @ J) ** 2, 1) + np.einsum("j,mi,ijk,mk->m", e, eps,
                                                 Hs.transpose(0, 2, 1), eps)   # same ε
    errs = []
    for s in (0.1, 0.01, 0.001):
        pair = 0.5 * sum(np.sum((r(x + sign * s * eps) - x) ** 2, 1) for sign in (1, -1))
        excess = (pair - e @ e) / s ** 2
        errs.append(abs(excess.mean() / quad.mean() - 1))
        se = excess.std() / np.sqrt(M)
        assert abs(excess.mean() - (J2 + hess)) < 4 * se + errs[-1] * abs(quad.mean())
    print(f"‖J_r‖² = {J2:.4f}, (r(x) − x)·Δr = {hess:.4f}, errors vs the quadratic model "
          f"{[f'{v:.1e}' for v in errs]}, SE {se:.1e}")
    assert errs[0] > 50 * errs[1] > 2500 * errs[2] and errs[2] < 1e-5   # O(s²)
    assert abs(hess) > 10 * se                       # the Hessian term is not negligible
    assert abs(quad.mean() - J2 - hess) < 4 * quad.std() / np.sqrt(M)  # E quad = (RC)


# --------------------------------------------------------------------------- tutorial 07

def _log_joint(X, g):
    out = []
    for k in range(g.n_components):
        d = X - g.means_[k]
        S = g.covariances_[k]
        out.append(np.log(g.weights_[k]) - 0.5 * np.linalg.slogdet(2 * np.pi * S)[1]
                   - 0.5 * np.einsum("nd,de,ne->n", d, np.linalg.inv(S), d))
    return np.stack(out, 1)


def test_em_bound_identity_and_tightness_after_every_e_step():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(150, 2)) + [-2, 0], rng.normal(size=(100, 2)) * 0.5 + [2, 1],
                        rng.normal(size=(80, 2)) * [1.0, 0.3] + [1, -2]])
    fits = [GaussianMixture(3, max_iter=t, tol=0.0, reg_covar=0.0, random_state=4).fit(X)
            for t in range(1, 7)]
    for prev, cur in zip(fits, fits[1:]):
        g_prev, g_cur = prev.predict_proba(X), cur.predict_proba(X)
        ell_prev, ell_cur = len(X) * prev.score(X), len(X) * cur.score(X)
        F = lambda q, g: float(np.sum(q * (_log_joint(X, g) - np.log(q))))  # noqa: E731
        kl = float(np.sum(g_prev * np.log(g_prev / g_cur)))
        assert abs(F(g_prev, cur) - (ell_cur - kl)) < 1e-9            # F = ℓ − KL
        assert abs(F(g_cur, cur) - ell_cur) < 1e-9                    # tight after the E step
        assert ell_prev - 1e-9 <= F(g_prev, cur) <= ell_cur + 1e-9   # M step, then E step
        assert kl > 0
        Nk = g_prev.sum(0)                                            # the M step, (M1)-(M4)
        mu = g_prev.T @ X / Nk[:, None]
        np.testing.assert_allclose(cur.weights_, Nk / len(X), atol=1e-12)
        np.testing.assert_allclose(cur.means_, mu, atol=1e-12)
        for k in range(3):
            Sk = (g_prev[:, k, None] * (X - mu[k])).T @ (X - mu[k]) / Nk[k]
            np.testing.assert_allclose(cur.covariances_[k], Sk, atol=1e-12)


# --------------------------------------------------------------------------- tutorial 02

def test_minibatch_kl_sparsity_penalty_is_biased_upward_like_one_over_b():
    """Codes h = σ(a), a ~ N(−4.42, 2²); targets at the full-data means: the penalty's
    mean over minibatches is pure bias ≈ β Σ_j Var(h_j) / (2 B ρ̄_j (1 − ρ̄_j))."""
    rng = np.random.default_rng(0)
    h = sigmoid(rng.normal(-4.42, 2.0, size=(20000, 4)))
    rho_bar, v = h.mean(0), h.var(0)
    assert np.all(np.abs(rho_bar - 0.05) < 0.005)
    bias = {}
    for B in (32, 128, 512):
        idx = rng.integers(0, len(h), size=(1000, B))
        pen = np.sum(penalties.kl_divergence_bernoulli(rho_bar, h[idx].mean(1)), 1)  # β = 1
        predicted = np.sum(v / (rho_bar * (1 - rho_bar))) / (2 * B)
        bias[B] = pen.mean()
        assert abs(pen.mean() - predicted) < 0.1 * predicted + 4 * pen.std() / np.sqrt(1000)
        assert penalties.kl_sparsity(h, rho_bar, 1.0) == pytest.approx(0.0, abs=1e-12)
    per_unit = {B: b / 4 for B, b in bias.items()}
    assert per_unit[32] == pytest.approx(0.0036, rel=0.15)          # penalties.py's numbers
    assert per_unit[128] == pytest.approx(0.00089, rel=0.15)
    assert per_unit[512] == pytest.approx(0.00022, rel=0.15)
    assert bias[32] > 3 * bias[128] > 9 * bias[512]


# --------------------------------------------------------------- soft-thresholding (tutorial 02)

def test_ista_with_the_soft_threshold_reaches_the_lasso_optimality_conditions():
    """Tutorial 02 §7: h ← S_{λ/L}(h − ∇/L) with npae.layers.SoftThreshold solves
    min_h ½‖x − hV − c‖² + λ‖h‖₁. At the optimum the gradient g = (hV + c − x)Vᵀ satisfies
    g_j = −λ sign(h_j) where h_j ≠ 0 and |g_j| ≤ λ where h_j = 0 (the subgradient
    condition), and some codes are exactly 0."""
    from npae.layers import SoftThreshold
    rng = np.random.default_rng(0)
    V, c = rng.normal(size=(12, 20)), rng.normal(scale=0.1, size=20)
    X = rng.normal(size=(6, 20))
    lam = 2.0
    L = np.linalg.norm(V, 2) ** 2
    shrink = SoftThreshold(lam / L)
    h = np.zeros((6, 12))
    for _ in range(5000):
        h = shrink.forward(h - (h @ V + c - X) @ V.T / L)
    g = (h @ V + c - X) @ V.T
    on = h != 0
    assert on.any() and (~on).any()
    np.testing.assert_allclose(g[on], -lam * np.sign(h[on]), atol=1e-8)
    assert np.all(np.abs(g[~on]) <= lam + 1e-8)
