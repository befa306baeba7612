"""ELBO and importance-sampled log-likelihood against the math, including an exact log p(x)."""
import itertools

import numpy as np
import pytest

from npae.likelihood import (binarize, binarized_log_likelihood, elbo,
                             importance_sampled_log_likelihood, log_importance_weights, logsumexp)
from npae.losses import BernoulliLoss
from npae.models.vae import VAE

D, H = 6, 3


def _model(seed=0, **kw):
    kw.setdefault("hidden_layer_sizes", (5,))
    m = VAE(latent_dim=H, activation="tanh", dtype="float64", random_state=seed,
            verbose=False, **kw).initialize(D)
    rng = np.random.default_rng(seed + 100)
    for k in m.params_:
        m.params_[k] += 0.3 * rng.standard_normal(m.params_[k].shape)
    return m


def _X(n=8, seed=1):
    return np.random.default_rng(seed).uniform(0.05, 0.95, (n, D))


def _log_normal(x, mean, var):
    """log N(x; mean, var) summed over the last axis, written out independently."""
    return np.sum(-0.5 * np.log(2 * np.pi * var) - (x - mean) ** 2 / (2 * var), axis=-1)


# --------------------------------------------------------------------------- log-sum-exp

def test_logsumexp_is_stable_and_exact():
    a = np.array([[1000.0, 1000.0], [-1000.0, -1000.0], [0.0, np.log(3.0)]])
    np.testing.assert_allclose(logsumexp(a, axis=1),
                               [1000 + np.log(2), -1000 + np.log(2), np.log(4.0)], rtol=1e-15)
    b = np.random.default_rng(0).normal(size=(4, 7))
    np.testing.assert_allclose(logsumexp(b, axis=0), np.log(np.exp(b).sum(0)), rtol=1e-14)
    assert logsumexp(np.array([-np.inf, -np.inf])) == -np.inf


# --------------------------------------------------------------------------- K = 1 and the ELBO

def test_importance_estimate_with_k_1_equals_the_single_sample_elbo_for_the_same_eps():
    """log p̂_1(x) = log p(x|z) + log p(z) − log q(z|x) with z = μ + σ ε: the model's own
    forward gives recon = −log p(x|z); the two densities are written out here."""
    m = _model()
    X = _X()
    eps = np.random.default_rng(2).standard_normal((X.shape[0], H))
    f = m.forward(X, eps)
    single = -f.recon + _log_normal(f.z, 0.0, 1.0) - _log_normal(f.z, f.mu, np.exp(f.logvar))
    is1 = importance_sampled_log_likelihood(m, X, eps=eps[:, None, :])
    np.testing.assert_allclose(is1, single, rtol=1e-12)
    np.testing.assert_allclose(is1, elbo(m, X, eps=eps[:, None, :], kl="sampled"), rtol=1e-12)


def test_analytic_elbo_is_minus_the_training_loss_with_beta_1():
    m = _model(beta=1.0)
    X = _X()
    eps = np.random.default_rng(2).standard_normal((X.shape[0], H))
    f = m.forward(X, eps)
    np.testing.assert_allclose(elbo(m, X, eps=eps[:, None, :]), -(f.recon + f.kl), rtol=1e-12)


def test_analytic_and_sampled_elbo_agree_in_expectation():
    m = _model()
    X = _X(4)
    a = elbo(m, X, n_samples=4000, random_state=0)
    log_w = log_importance_weights(m, X, n_samples=4000, random_state=0)
    se = log_w.std(axis=1, ddof=1) / np.sqrt(4000)
    assert np.all(np.abs(log_w.mean(axis=1) - a) <= 4 * se + 1e-9)


def test_the_average_estimate_does_not_decrease_with_k():
    """E[log p̂_K] is non-decreasing in K (Burda et al. 2016, Thm 1). On the same 1000
    examples, the mean per-example increase from K = 1 to 10 and from 10 to 100 must
    exceed −4 standard errors; here it is also positive beyond 4 standard errors (q is
    not the posterior), which an estimator averaging log-weights instead of weights fails."""
    m = _model()
    X = _X(1000)
    est = {K: importance_sampled_log_likelihood(m, X, n_samples=K, random_state=K)
           for K in (1, 10, 100)}
    for lo, hi in ((1, 10), (10, 100)):
        diff = est[hi] - est[lo]
        se = diff.std(ddof=1) / np.sqrt(diff.size)
        assert diff.mean() >= -4 * se
        assert diff.mean() > 4 * se


# --------------------------------------------------------------------------- an exact log p(x)

def _linear_gaussian_vae(seed=0, var_factor=1.0, shift=0.0):
    """x = z V + c + noise, noise ~ N(0, v I): log p(x) = log N(x; c, VᵀV + v I) is exact.

    With the rows of V orthogonal the posterior p(z|x) = N(m, S) is diagonal,
    S = (I + V Vᵀ / v)⁻¹ and m = (x − c) Vᵀ S / v, so a linear encoder can hold it
    exactly; ``var_factor`` and ``shift`` make q = N(m + shift, var_factor · S) instead.
    Returns the model, X (50, D), exact log p(x) and KL(q ‖ p(z|x)) per example."""
    rng = np.random.default_rng(seed)
    v = 0.25
    Q, _ = np.linalg.qr(rng.standard_normal((D, H)))                   # (D, H) orthonormal cols
    s = np.array([2.0, 1.0, 0.5])
    V = s[:, None] * Q.T                                                # (H, D), V Vᵀ = diag(s²)
    c = rng.normal(size=D)
    m = VAE(hidden_layer_sizes=(), latent_dim=H, output="gaussian", decoder_variance=v,
            dtype="float64", random_state=seed).initialize(D)
    m.params_["dec.0.W"][:] = V
    m.params_["dec.0.b"][:] = c
    S = 1.0 / (1.0 + s ** 2 / v)                                        # (H,)
    W_mu = V.T * S / v                                                  # (D, H)
    m.params_["mu.W"][:] = W_mu
    m.params_["mu.b"][:] = -c @ W_mu + shift
    m.params_["logvar.W"][:] = 0.0
    m.params_["logvar.b"][:] = np.log(var_factor * S)                  # identity head vae (F4)
    cov = V.T @ V + v * np.eye(D)
    X = rng.multivariate_normal(c, cov, size=50)
    _, logdet = np.linalg.slogdet(cov)
    r = X - c
    log_px = -0.5 * (D * np.log(2 * np.pi) + logdet + np.sum(r @ np.linalg.inv(cov) * r, 1))
    kl = 0.5 * np.sum(var_factor - 1 - np.log(var_factor) + shift ** 2 / S)   # same for every x
    return m, X, log_px, kl


def test_with_the_exact_posterior_every_importance_weight_is_p_of_x():
    """If q(z|x) = p(z|x), then w = p(x, z)/q(z|x) = p(x) for every z: the sampled ELBO and
    every K give the exact log-likelihood. This checks log p(x|z), log p(z), log q(z|x)."""
    m, X, log_px, _ = _linear_gaussian_vae()
    log_w = log_importance_weights(m, X, n_samples=5, random_state=0)
    np.testing.assert_allclose(log_w, np.repeat(log_px[:, None], 5, 1), rtol=1e-10)
    np.testing.assert_allclose(elbo(m, X, 3, 1, kl="sampled"), log_px, rtol=1e-10)
    np.testing.assert_allclose(importance_sampled_log_likelihood(m, X, 7, 2), log_px, rtol=1e-10)


def test_the_elbo_gap_is_the_kl_to_the_posterior_and_importance_sampling_closes_it():
    """vae (E2): log p(x) − ELBO(x) = KL(q(z|x) ‖ p(z|x)), known here in closed form; the
    analytic-KL ELBO over K = 4000 draws matches it within 4 standard errors. With q wider
    than the posterior the weights are bounded and K = 1000 recovers log p(x) to within
    a tenth of the gap, without a bias visible over 50 examples."""
    m, X, log_px, kl = _linear_gaussian_vae(var_factor=2.0, shift=0.3)
    K = 4000
    eps = np.random.default_rng(0).standard_normal((X.shape[0], K, H))
    f_mu, f_logvar = m.encode(X)
    z = f_mu[:, None, :] + np.exp(0.5 * f_logvar)[:, None, :] * eps           # (N, K, H)
    log_px_z = _log_normal(X[:, None, :], z @ m.params_["dec.0.W"] + m.params_["dec.0.b"], 0.25)
    se = log_px_z.std(axis=1, ddof=1) / np.sqrt(K)
    gap = log_px - elbo(m, X, eps=eps)
    assert kl > 0.3 and np.all(np.abs(gap - kl) <= 4 * se)
    err = importance_sampled_log_likelihood(m, X, n_samples=1000, random_state=0) - log_px
    assert np.all(np.abs(err) < 0.1 * kl)                              # gap 1.5 nats -> < 0.15
    assert abs(err.mean()) <= 4 * err.std(ddof=1) / np.sqrt(err.size)  # bias O(1/K): unseen


# ---------------------------------------------------------------------- Bernoulli: density or not

def test_on_binary_data_the_bernoulli_vae_is_normalized_so_its_estimate_is_a_likelihood():
    """Σ over all 2^D binary x of p(x) = 1: the mean importance weight p̂_K(x) is unbiased
    for p(x), so Σ_x p̂_K(x) must be 1 within 4 standard errors (D = 6, 64 images, K = 2e4)."""
    m = _model()
    Xall = np.array(list(itertools.product([0.0, 1.0], repeat=D)))      # (64, D)
    K = 20000
    w = np.exp(log_importance_weights(m, Xall, n_samples=K, random_state=0))   # (64, K)
    total = w.mean(axis=1).sum()
    se = np.sqrt(np.sum(w.var(axis=1, ddof=1)) / K)
    print(f"sum over binary x of p̂(x): {total:.4f} ± {se:.4f}")
    assert abs(total - 1.0) <= 4 * se and se < 0.01


def test_on_grey_levels_the_bernoulli_is_not_a_density():
    """One pixel: ∫₀¹ exp(−BCE(x; a)) dx = (2λ − 1)/logit(λ) ≤ ½, λ = sigm(a); so over
    [0, 1]^D the model's p̂(x) integrates to at most 2^−D (checked by Monte Carlo over
    uniform x): the importance-sampled value on grey levels is a score, not log p(x)."""
    x = np.linspace(0.0, 1.0, 20001)
    for a in (-4.0, -0.5, 0.3, 2.0, 6.0):
        lam = 1 / (1 + np.exp(-a))
        integral = np.trapezoid(np.exp(-BernoulliLoss.per_example(np.full((x.size, 1), a),
                                                                  x[:, None])), x)
        assert integral == pytest.approx((2 * lam - 1) / np.log(lam / (1 - lam)), rel=1e-8)
        assert integral <= 0.5
    m = _model()
    U = np.random.default_rng(3).uniform(size=(4000, D))
    p = np.exp(importance_sampled_log_likelihood(m, U, n_samples=50, random_state=0))
    se = p.std(ddof=1) / np.sqrt(p.size)
    assert p.mean() + 4 * se <= 2.0 ** -D                               # ≤ 1/64, not 1


def test_binarize_is_a_seeded_bernoulli_draw_of_each_pixel():
    X = np.random.default_rng(0).uniform(size=(1, D))
    Xr = np.repeat(X, 20000, axis=0)
    Xb = binarize(Xr, random_state=4)
    assert set(np.unique(Xb)) <= {0.0, 1.0}
    np.testing.assert_array_equal(Xb, binarize(Xr, random_state=4))
    assert np.all(np.abs(Xb.mean(0) - X[0]) <= 4 * np.sqrt(X[0] * (1 - X[0]) / 20000))
    np.testing.assert_array_equal(binarize(Xb, 9), Xb)                  # binary stays binary
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        binarize(Xr + 1.0)


def test_binarized_log_likelihood_states_its_protocol_and_refuses_a_gaussian_decoder():
    m = _model()
    X = _X(10)
    r = binarized_log_likelihood(m, X, n_samples=200, random_state=1, binarize_seed=2)
    ll = importance_sampled_log_likelihood(m, binarize(X, 2), n_samples=200, random_state=1)
    np.testing.assert_array_equal(r["per_example"], ll)
    assert r["log_likelihood"] == pytest.approx(ll.mean())
    assert r["n_samples"] == 200 and r["n_examples"] == 10
    assert "1[u < x]" in r["binarization"] and "K = 200" in r["binarization"]
    with pytest.raises(ValueError, match="bernoulli"):
        binarized_log_likelihood(_model(output="gaussian"), X)


# --------------------------------------------------------------------------- batching, errors

def test_chunking_over_examples_does_not_change_the_numbers():
    m = _model()
    X = _X(10)
    big = importance_sampled_log_likelihood(m, X, n_samples=50, random_state=0)
    small = importance_sampled_log_likelihood(m, X, n_samples=50, random_state=0,
                                              max_elements=50 * 6 * 3)    # 3 examples a chunk
    np.testing.assert_allclose(small, big, rtol=1e-13)
    e_big = elbo(m, X, n_samples=20, random_state=0)
    e_small = elbo(m, X, n_samples=20, random_state=0, max_elements=1)
    np.testing.assert_allclose(e_small, e_big, rtol=1e-13)


def test_float32_model_gives_float64_estimates():
    m = VAE(hidden_layer_sizes=(5,), latent_dim=H, random_state=0).initialize(D)
    out = importance_sampled_log_likelihood(m, _X().astype(np.float32), n_samples=3,
                                            random_state=0)
    assert out.dtype == np.float64 and np.all(np.isfinite(out))


def test_bad_arguments_raise_clear_errors():
    m = _model()
    X = _X(3)
    with pytest.raises(ValueError, match="n_samples"):
        importance_sampled_log_likelihood(m, X, n_samples=0)
    with pytest.raises(ValueError, match="n_samples"):
        elbo(m, X, n_samples=-2)
    with pytest.raises(ValueError, match="eps"):
        elbo(m, X, eps=np.zeros((2, 1, H)))
    with pytest.raises(ValueError, match="n_samples"):
        elbo(m, X, n_samples=3, eps=np.zeros((3, 2, H)))
    with pytest.raises(ValueError, match="kl"):
        elbo(m, X, kl="exact")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        elbo(m, X + 1.0)
    with pytest.raises(TypeError, match="VAE"):
        elbo(object(), X)


@pytest.mark.mnist
@pytest.mark.slow
def test_mnist_true_log_likelihood_of_a_dynamically_binarized_vae(mnist_dir):
    """The protocol of the IWAE paper's Table 1, on npae's reference VAE (784-400-20, ReLU,
    Adam 1e-3, batch 128, 10 epochs, seed 0) trained with dynamic binarization: log p(x_b)
    of the first 500 test images, each binarized once (seed 0), K = 1, 100, 1000. On
    binary images the Bernoulli decoder is a distribution, so these are log-likelihoods;
    they must rise with K (paired over the same images) and exceed the ELBO."""
    from npae.datasets import load_mnist
    X, _ = load_mnist("train", data_dir=mnist_dir)
    Xt, _ = load_mnist("test", data_dir=mnist_dir)
    m = VAE(hidden_layer_sizes=(400,), latent_dim=20, activation="relu", binarize=True,
            epochs=10, random_state=0, verbose=False).fit(X)
    runs = {K: binarized_log_likelihood(m, Xt[:500], n_samples=K, random_state=0)
            for K in (1, 100, 1000)}
    elbo_b = np.mean(elbo(m, binarize(Xt[:500], 0), n_samples=1, random_state=0))
    for K, r in runs.items():
        print(f"log p(x_b), K = {K}: {r['log_likelihood']:.2f} ± {r['standard_error']:.2f} "
              f"nats ({r['binarization']})")
    print(f"ELBO on the same binarized images: {elbo_b:.2f} nats")
    gain = runs[1000]["per_example"] - runs[1]["per_example"]
    assert gain.mean() > 4 * gain.std(ddof=1) / np.sqrt(gain.size)
    assert runs[1000]["log_likelihood"] > runs[100]["log_likelihood"] > elbo_b
    assert -100.0 < runs[1000]["log_likelihood"] < -85.0
