"""The VAE: gradients against finite differences, and the forward pass against the math."""
import numpy as np
import pytest

from npae.gradcheck import check_gradients, check_model
from npae.likelihood import elbo
from npae.losses import BernoulliLoss
from npae.models import vae as vae_module
from npae.models.vae import (LOGVAR_BOUND, VAE, LogVarianceOverflow, gaussian_kl_grad,
                             interpolate_codes, kl_divergence, reparameterize_backward,
                             soft_bound)
from npae.training import TrainingDiverged

D, H, B = 6, 3, 4


def _model(seed=0, jitter=0.3, **kw):
    """A small float64 VAE with perturbed parameters (biases non-zero, heads off the prior)."""
    kw.setdefault("hidden_layer_sizes", (5,))
    kw.setdefault("activation", "tanh")
    m = VAE(latent_dim=H, dtype="float64", random_state=seed, verbose=False, **kw).initialize(D)
    rng = np.random.default_rng(seed + 100)
    for k in m.params_:
        m.params_[k] += jitter * rng.standard_normal(m.params_[k].shape)
    return m


def _with(m, **kw):
    """A model with m's parameters (copied) and some hyperparameters changed."""
    m2 = type(m)(**{**m.get_params(), **kw}).initialize(m.n_features_in_)
    m2.params_ = {k: v.copy() for k, v in m.params_.items()}
    return m2


def _batch(seed=1, n=B, d=D):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.05, 0.95, (n, d)), rng.standard_normal((n, H))


# --------------------------------------------------------------------------- gradient checks

SMOOTH_CONFIGS = {
    "bernoulli": dict(output="bernoulli"),
    "bernoulli-beta-wd-2layers": dict(output="bernoulli", beta=2.5, weight_decay=0.1,
                                      hidden_layer_sizes=(5, 4), activation="softplus"),
    "gaussian-fixed-variance": dict(output="gaussian", decoder_variance=0.3,
                                    activation="softplus"),
    "gaussian-learned-variance": dict(output="gaussian", decoder_variance="learned",
                                      weight_decay=0.05),
    "gaussian-no-hidden-layer": dict(output="gaussian", hidden_layer_sizes=()),
    "bounded-logvar-learned-variance": dict(output="gaussian", decoder_variance="learned",
                                            logvar_bound=1.5, beta=0.7),
}


@pytest.mark.parametrize("name", list(SMOOTH_CONFIGS))
def test_gradients_match_central_differences_for_each_term_and_the_input(name):
    """recon alone, kl alone (and weight decay), all together, and dL/dX, with ε fixed.

    tanh/softplus are smooth everywhere, so central differences apply at any point."""
    m = _model(**SMOOTH_CONFIGS[name])
    X, eps = _batch()
    report = check_model(m, X, noise=eps)
    terms = {r.term for r in report.rows}
    assert {"recon", "kl", "all"} <= terms
    assert report.passed and report.max_rel_error <= 1e-7, report.table()
    if SMOOTH_CONFIGS[name].get("decoder_variance") == "learned":
        assert any(r.name == "dec.logvar" for r in report.rows)


class _PatternGuardVAE(VAE):
    """Asserts that every forward pass has the ReLU on/off pattern of the first one."""

    reference = None

    def _forward(self, params, X, eps, recon=True, **encoder_input):
        f = super()._forward(params, X, eps, recon, **encoder_input)
        pattern = [c.pre > 0 for c in f.enc + f.dec[:-1]]
        if self.reference is None:
            type(self).reference = pattern
        else:
            assert all(np.array_equal(a, b) for a, b in zip(pattern, self.reference)), \
                "a finite-difference step crossed a ReLU kink"
        return f


def test_relu_gradients_at_a_point_with_a_verified_margin_from_every_kink():
    """ReLU has a kink at 0: the point is chosen with every pre-activation at least 0.1 from
    0, and every one of the checker's evaluations (steps up to 2·1e-3) is asserted to keep
    the same on/off pattern, so the loss is smooth between the points it compares."""
    _PatternGuardVAE.reference = None
    m = _PatternGuardVAE(hidden_layer_sizes=(8,), latent_dim=H, activation="relu",
                         dtype="float64", random_state=34).initialize(D)
    rng = np.random.default_rng(34)
    for k in m.params_:
        if k.endswith(".b"):
            m.params_[k] += rng.standard_normal(m.params_[k].shape)
    X = rng.uniform(0.05, 0.95, (4, D))
    eps = rng.standard_normal((4, H))
    f = m.forward(X, eps)
    margin = min(np.abs(c.pre).min() for c in f.enc + f.dec[:-1])
    assert margin > 0.1
    assert 0.3 < np.mean([(c.pre > 0).mean() for c in f.enc + f.dec[:-1]]) < 0.7   # both sides
    report = check_model(m, X, noise=eps)
    assert report.passed and report.max_rel_error <= 1e-7, report.table()
    _PatternGuardVAE.reference = None


def test_binarized_step_gradients_and_zero_input_gradient():
    """With U in the noise the step is a function of X_b = 1[U < X]: parameter gradients
    check, and dL/dX is 0 (no entry of X is within 2e-3 of its U, so no step flips a pixel)."""
    m = _model(binarize=True)
    X, eps = _batch()
    u = np.random.default_rng(7).uniform(size=X.shape)
    assert np.abs(u - X).min() > 2e-3
    report = check_model(m, X, noise={"eps": eps, "u": u})
    assert report.passed, report.table()
    _, dX = m.input_gradient(X, noise={"eps": eps, "u": u})
    assert np.all(dX == 0)


def test_kl_term_changes_the_gradient_iff_beta_is_positive():
    X, eps = _batch()
    m = _model()
    _, _, g_recon = m.loss_and_grads(X, eps, terms=["recon"])
    loss0, values, g0 = _with(m, beta=0.0).loss_and_grads(X, eps)
    assert loss0 == pytest.approx(values["recon"])
    assert all(np.array_equal(g0[k], g_recon[k]) for k in g0)
    m = _with(m, beta=2.0)
    loss2, values2, g2 = m.loss_and_grads(X, eps)
    assert loss2 == pytest.approx(values2["recon"] + values2["kl"], rel=1e-14)
    assert values2["kl"] == pytest.approx(2.0 * np.mean(m.posterior_kl(X)), rel=1e-13)
    assert not np.allclose(g2["mu.b"], g_recon["mu.b"])
    assert np.array_equal(g2["dec.0.W"], g_recon["dec.0.W"])     # the KL never reaches the decoder


# --------------------------------------------------------------------------- forward vs the math

def _one_example_many_eps(m, M, seed=3):
    x = np.random.default_rng(seed).uniform(0.05, 0.95, (1, D))
    eps = np.random.default_rng(seed + 1).standard_normal((M, H))
    return np.repeat(x, M, axis=0), eps


def test_analytic_kl_equals_a_monte_carlo_estimate_within_4_standard_errors():
    """KL(q‖p) = E_q[log q(z|x) − log p(z)], with the densities written out here."""
    m = _model()
    m.params_["mu.b"][:] = [0.8, -1.2, 0.3]
    m.params_["logvar.b"][:] = [-1.5, 0.9, -0.4]
    M = 20000
    X, eps = _one_example_many_eps(m, M)
    f = m.forward(X, eps)
    mu, var, z = f.mu[0], np.exp(f.logvar[0]), f.z                      # (H,), (H,), (M, H)
    log_q = np.sum(-0.5 * np.log(2 * np.pi * var) - (z - mu) ** 2 / (2 * var), axis=1)
    log_p = np.sum(-0.5 * np.log(2 * np.pi) - z ** 2 / 2, axis=1)
    mc = log_q - log_p
    se = mc.std(ddof=1) / np.sqrt(M)
    kl = m.posterior_kl(X[:1])[0]                                      # nats, unweighted
    assert abs(mc.mean() - kl) <= 4 * se
    assert kl > 0.5                                                    # a KL far from 0 is tested
    exact = 0.5 * np.sum(mu ** 2 + var - 1 - np.log(var))
    assert kl == pytest.approx(exact, rel=1e-12)
    _, values = m.loss(X, eps)                                         # β = 1: the same number
    assert values["kl"] == pytest.approx(exact, rel=1e-12)


def test_z_has_mean_mu_and_variance_exp_logvar():
    """The reparameterized z = μ + exp(½ log σ²) ε has E[z] = μ, Var[z] = σ² = exp(log σ²)
    (scaling ε by the variance instead, the classic bug, gives Var = σ⁴ and fails here)."""
    m = _model()
    m.params_["logvar.b"][:] = [-1.5, 0.9, -0.4]
    M = 40000
    X, eps = _one_example_many_eps(m, M)
    f = m.forward(X, eps)
    mu, var = f.mu[0], np.exp(f.logvar[0])
    assert np.all(np.abs(np.log(var)) > 0.3)
    se_mean = np.sqrt(var / M)
    se_var = var * np.sqrt(2.0 / (M - 1))
    assert np.all(np.abs(f.z.mean(0) - mu) <= 4 * se_mean)
    assert np.all(np.abs(f.z.var(0, ddof=1) - var) <= 4 * se_var)


def test_noise_none_means_eps_zero_so_z_is_mu():
    m = _model()
    X, _ = _batch()
    f = m.forward(X)
    np.testing.assert_array_equal(f.z, f.mu)
    np.testing.assert_array_equal(f.eps, 0)


def test_recon_is_the_bernoulli_and_gaussian_negative_log_likelihood():
    X, eps = _batch()
    m = _model()
    f = m.forward(X, eps)
    np.testing.assert_allclose(f.recon, BernoulliLoss.per_example(f.logits, X), rtol=1e-13)
    p = 1 / (1 + np.exp(-f.logits))
    np.testing.assert_allclose(f.recon, -np.sum(X * np.log(p) + (1 - X) * np.log(1 - p), 1),
                               rtol=1e-10)
    for dv in (0.3, "learned"):
        g = _model(output="gaussian", decoder_variance=dv)
        fg = g.forward(X, eps)
        var = 0.3 if dv == 0.3 else np.exp(g.params_["dec.logvar"])    # identity (F4)
        density = np.exp(-(X - fg.logits) ** 2 / (2 * var)) / np.sqrt(2 * np.pi * var)
        np.testing.assert_allclose(fg.recon, -np.sum(np.log(density), axis=1), rtol=1e-10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_bernoulli_step_takes_one_exponential_and_the_loss_functions_own_bits(
        dtype, monkeypatch):
    """(F8) and (B1) of a Bernoulli step share e^{−|A'|}: BernoulliLoss.value_and_grad is
    called once and computes it once, the decoder's softplus is not taken again, and
    the step's recon value and output gradient are the loss's own, bit for bit."""
    from npae import losses
    X, eps = _batch()
    perturbed = _model(activation="relu").params_                  # float64, off the prior
    m = VAE((5,), latent_dim=H, activation="relu", dtype=dtype, verbose=False).initialize(D)
    m.params_ = {k: v.astype(dtype) for k, v in perturbed.items()}
    X, eps = X.astype(dtype), eps.astype(dtype)
    exps, softplus_calls = [], []
    real_exp, real_softplus = losses._exp_neg_abs, vae_module.softplus
    monkeypatch.setattr(losses, "_exp_neg_abs", lambda A: exps.append(A.shape) or real_exp(A))
    monkeypatch.setattr(vae_module, "softplus",
                        lambda a: softplus_calls.append(a.shape) or real_softplus(a))
    _, values, grads = m.loss_and_grads(X, eps)
    assert exps == [(B, D)] and softplus_calls == []
    monkeypatch.undo()
    f = m.forward(X, eps)                                  # the teaching path: recon_n per example
    value, d_logits = BernoulliLoss.value_and_grad(f.logits, X)
    assert values["recon"] == value
    assert values["recon"] == pytest.approx(np.mean(f.recon), rel=1e-6 if dtype == "float32"
                                            else 1e-14)
    L = len(m._sizes)                                       # dec.L is the output layer
    np.testing.assert_array_equal(grads[f"dec.{L}.b"], d_logits.sum(axis=0))     # (B1), (B2)
    assert m.loss_and_grads(X, eps, terms=["kl"])[1]["recon"] == value             # value kept


def test_loss_is_the_batch_mean_of_recon_plus_beta_kl_and_matches_the_elbo():
    X, eps = _batch()
    m = _model(beta=1.0)
    loss, values, _ = m.loss_and_grads(X, eps)
    f = m.forward(X, eps)
    assert values["recon"] == pytest.approx(np.mean(f.recon), rel=1e-14)
    assert values["kl"] == pytest.approx(np.mean(kl_divergence(f.mu, f.logvar)), rel=1e-14)
    assert loss == pytest.approx(-np.mean(elbo(m, X, eps=eps[:, None, :])), rel=1e-12)


def test_bounded_logvar_extremes_do_not_overflow_and_are_softly_bounded():
    """logvar_bound = κ = 30, a_v = ±1e3 (and a learned decoder θ_x = ±1e3) in float32 and
    float64: loss, grads and input gradient finite; log σ² = ±κ tanh(1e3/κ)."""
    for dtype in ("float32", "float64"):
        for sign in (1.0, -1.0):
            m = VAE(hidden_layer_sizes=(5,), latent_dim=H, output="gaussian",
                    decoder_variance="learned", logvar_bound=LOGVAR_BOUND, dtype=dtype,
                    random_state=0).initialize(D)
            m.params_["logvar.b"][:] = sign * 1e3
            m.params_["dec.logvar"][:] = sign * 1e3
            X, eps = _batch()
            loss, values, grads = m.loss_and_grads(X.astype(dtype), eps.astype(dtype))
            _, dX = m.input_gradient(X.astype(dtype), eps.astype(dtype))
            assert np.isfinite(loss) and np.all(np.isfinite(dX))
            assert all(np.all(np.isfinite(g)) for g in grads.values())
            f = m.forward(X.astype(dtype), eps.astype(dtype))
            np.testing.assert_allclose(f.logvar, sign * LOGVAR_BOUND * np.tanh(1e3 / LOGVAR_BOUND),
                                       rtol=1e-6)
            assert np.all(np.abs(f.logvar) <= LOGVAR_BOUND)      # tanh rounds to ±1 here


def test_default_head_is_the_identity_and_the_bound_only_adds_the_tanh_factor():
    """(F4) log σ² = a_v exactly by default; with κ the head is (F4b), and its gradient in
    a_v is the identity head's gradient at the same log σ² times 1 − (log σ²/κ)² (B6b)."""
    X, eps = _batch()
    m = _model()
    assert m.logvar_bound is None
    f = m.forward(X, eps)
    np.testing.assert_array_equal(f.logvar, f.logvar_cache.out)
    kappa = 2.0
    mb = _model(logvar_bound=kappa)
    fb = mb.forward(X, eps)
    np.testing.assert_allclose(fb.logvar, kappa * np.tanh(fb.logvar_cache.out / kappa), rtol=1e-15)
    assert np.max(np.abs(fb.logvar - fb.logvar_cache.out)) > 0.01        # the bound is active
    # the identity model with log σ² moved to the bounded model's values: same dlog σ²
    mi = _model()
    mi.params_["logvar.b"] = mb.params_["logvar.b"].copy()
    mi.params_["logvar.W"] = mb.params_["logvar.W"].copy()
    _, _, gi = mi.loss_and_grads(X, eps, terms=["kl"])
    _, _, gb = mb.loss_and_grads(X, eps, terms=["kl"])
    # KL only: dlog σ² = (β/B) ½ (σ² − 1) depends on log σ² alone
    d_logvar_b = (1.0 / B) * 0.5 * (np.exp(fb.logvar) - 1.0)
    tanh_factor = 1 - (fb.logvar / kappa) ** 2                          # (B6b)
    np.testing.assert_allclose(gb["logvar.b"], np.sum(d_logvar_b * tanh_factor, 0), rtol=1e-12)
    d_logvar_i = (1.0 / B) * 0.5 * (np.exp(mi.forward(X, eps).logvar) - 1.0)
    np.testing.assert_allclose(gi["logvar.b"], np.sum(d_logvar_i, 0), rtol=1e-12)


def test_identity_head_overflow_raises_a_clear_training_diverged():
    """The default head is unbounded: when exp(log σ²) would overflow the dtype the step
    raises LogVarianceOverflow (a TrainingDiverged) naming logvar_bound, for the encoder's
    head (log σ² > 88.7 in float32) and a learned decoder's (|θ_x| > 88.7); a finite but
    large a_v (80) still gives a finite step."""
    X, eps = _batch()
    m = VAE(hidden_layer_sizes=(5,), latent_dim=H, output="gaussian",
            decoder_variance="learned", dtype="float32", random_state=0).initialize(D)
    Xf, ef = X.astype("float32"), eps.astype("float32")
    m.params_["logvar.b"][:] = 80.0
    loss, _, grads = m.loss_and_grads(Xf, ef)
    assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads.values())
    m.params_["logvar.b"][:] = 100.0
    with pytest.raises(LogVarianceOverflow, match=r"logvar_bound.*\(F4b\)"):
        m.loss_and_grads(Xf, ef)
    assert issubclass(LogVarianceOverflow, TrainingDiverged)
    m.params_["logvar.b"][:] = 0.0
    m.params_["dec.logvar"][:] = -100.0                                 # 1/σ²_x = e^100
    with pytest.raises(LogVarianceOverflow, match="decoder's log-variance"):
        m.loss(Xf, ef)
    assert np.isfinite(_with(m, logvar_bound=30.0).loss(Xf, ef)[0])     # the safeguard


def test_fit_that_blows_up_the_log_variance_stops_with_training_diverged():
    """Inputs of size 1e6 under a Gaussian decoder: the default model stops with a
    TrainingDiverged whose message says the log-variance overflowed and names
    logvar_bound, instead of training on inf; the same run with logvar_bound=30 stays
    finite."""
    rng = np.random.default_rng(0)
    X = 1e6 * rng.standard_normal((64, D))
    kw = dict(hidden_layer_sizes=(8,), latent_dim=H, output="gaussian", activation="identity",
              epochs=3, batch_size=16, learning_rate=1e-2, random_state=0, verbose=False)
    with pytest.raises(TrainingDiverged, match=r"log-variance.*logvar_bound"):
        VAE(**kw).fit(X)
    m = VAE(logvar_bound=30.0, **kw).fit(X)
    assert all(np.all(np.isfinite(p)) for p in m.params_.values())


def test_checkpoints_written_before_logvar_bound_existed_load_with_kappa_30():
    hp = VAE().get_params()
    del hp["logvar_bound"]
    hp = {k: list(v) if isinstance(v, tuple) else v for k, v in hp.items()}
    assert VAE(**VAE._hyperparameters_from_json(hp)).logvar_bound == LOGVAR_BOUND
    hp["logvar_bound"] = None
    assert VAE(**VAE._hyperparameters_from_json(hp)).logvar_bound is None


def test_named_reparameterization_and_kl_gradients_match_finite_differences():
    """reparameterize_backward(dz, std, eps) is the VJP of z = μ + exp(½ log σ²) ⊙ ε in
    (μ, log σ²); gaussian_kl_grad(μ, log σ²) the gradient of Σ_n KL_n (no β, no 1/B)."""
    rng = np.random.default_rng(5)
    p0 = {"mu": rng.standard_normal((4, 3)), "logvar": rng.uniform(-2, 2, (4, 3))}
    eps, G = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))

    def z_loss(p):
        std = np.exp(0.5 * p["logvar"])
        d_mu, d_logvar = reparameterize_backward(G, std, eps)
        return float(np.sum(G * (p["mu"] + std * eps))), {"mu": d_mu, "logvar": d_logvar}

    def kl_loss(p):
        d_mu, d_logvar = gaussian_kl_grad(p["mu"], p["logvar"])
        return float(np.sum(kl_divergence(p["mu"], p["logvar"]))), {"mu": d_mu, "logvar": d_logvar}

    for fun in (z_loss, kl_loss):
        report = check_gradients(fun, p0)
        assert report.passed and report.max_rel_error <= 1e-7, report.table()
    d_mu, d_logvar = gaussian_kl_grad(p0["mu"], p0["logvar"])
    np.testing.assert_array_equal(d_mu, p0["mu"])                                   # (E5)
    np.testing.assert_allclose(d_logvar, 0.5 * (np.exp(p0["logvar"]) - 1), rtol=1e-15)  # (E6)


def test_the_model_step_calls_the_named_gradient_functions(monkeypatch):
    """One code path: VAE._forward_backward uses reparameterize_backward and
    gaussian_kl_grad; breaking either (here: doubling its output) changes the model's
    gradient, so an exercise that fills in these two functions drives the real model."""
    X, eps = _batch()
    m = _model()
    _, _, g = m.loss_and_grads(X, eps)
    calls = []
    for name in ("reparameterize_backward", "gaussian_kl_grad"):
        orig = getattr(vae_module, name)

        def doubled(*a, _orig=orig, _name=name):
            calls.append(_name)
            return tuple(2 * x for x in _orig(*a))
        with monkeypatch.context() as mp:
            mp.setattr(vae_module, name, doubled)
            _, _, g2 = m.loss_and_grads(X, eps)
        assert not np.allclose(g2["mu.b"], g["mu.b"]), name
    assert calls == ["reparameterize_backward", "gaussian_kl_grad"]


def test_soft_bound_is_near_identity_in_the_realistic_range():
    a = np.linspace(-5.2, 5.2, 1001)
    assert np.all(np.abs(soft_bound(a) - a) <= 0.01 * np.abs(a) + 1e-15)
    assert np.all(np.diff(soft_bound(np.linspace(-1e4, 1e4, 100001))) >= 0)


def test_binarization_uses_bernoulli_draws_of_the_pixels():
    """X_b = 1[U < X]: binary, and over many draws its mean is X."""
    m = _model(binarize=True)
    rng = np.random.default_rng(0)
    x = rng.uniform(0.05, 0.95, (1, D))
    Xr = np.repeat(x, 20000, axis=0)
    noise = m.sample_noise(Xr, rng)
    assert set(noise) == {"eps", "u"} and noise["u"].shape == Xr.shape
    f = m.forward(Xr, noise)
    assert set(np.unique(f.x)) <= {0.0, 1.0}
    se = np.sqrt(x * (1 - x) / Xr.shape[0])
    assert np.all(np.abs(f.x.mean(0) - x) <= 4 * se)
    loss_b, _ = m.loss(Xr[:8], {"eps": noise["eps"][:8], "u": noise["u"][:8]})
    loss_plain, _ = m.loss(f.x[:8], noise["eps"][:8])
    assert loss_b == loss_plain


def test_sample_noise_is_standard_normal_in_the_model_dtype_and_seeded():
    m = VAE(latent_dim=H, dtype="float32").initialize(D)
    X = np.zeros((5000, D), dtype=np.float32)
    e1 = m.sample_noise(X, np.random.default_rng(1))
    e2 = m.sample_noise(X, np.random.default_rng(1))
    assert e1.shape == (5000, H) and e1.dtype == np.float32
    np.testing.assert_array_equal(e1, e2)
    assert abs(e1.mean()) < 4 / np.sqrt(e1.size) and abs(e1.var() - 1) < 4 * np.sqrt(2 / e1.size)


# --------------------------------------------------------------------------- training, API

def _toy_data(n=400, seed=0):
    """Binary-ish 16-pixel data on a 2-D manifold: bars at two positions."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 1, (n, 2))
    grid = np.linspace(0, 1, 4)
    rows = np.exp(-((grid[None, :] - t[:, :1]) ** 2) / 0.05)
    cols = np.exp(-((grid[None, :] - t[:, 1:]) ** 2) / 0.05)
    return np.clip(np.einsum("ni,nj->nij", rows, cols).reshape(n, 16), 0, 1)


def test_fit_lowers_the_loss_and_is_bit_identical_for_a_seed():
    X = _toy_data()
    kw = dict(hidden_layer_sizes=(32,), latent_dim=2, epochs=15, batch_size=32,
              learning_rate=3e-3, random_state=0, verbose=False)
    a = VAE(**kw).fit(X)
    b = VAE(**kw).fit(X)
    assert all(np.array_equal(a.params_[k], b.params_[k]) for k in a.params_)
    assert a.history_["loss"][-1] < 0.8 * a.history_["loss"][0]
    assert a.score(X) > VAE(**kw).initialize(16).score(X) + 1.0


def test_kl_warmup_scales_the_kl_per_epoch_and_ends_at_beta():
    X = _toy_data(200)
    m = VAE(hidden_layer_sizes=(16,), latent_dim=2, epochs=3, kl_warmup_epochs=4, beta=2.0,
            batch_size=50, random_state=0, verbose=False).fit(X)
    h = m.history_
    assert h["kl"][0] == 0.0                                        # β_0 = 0: the term is off
    for e in range(3):
        assert h["loss"][e] == pytest.approx(h["recon"][e] + h["kl"][e], rel=1e-5)
    assert 0 < h["kl"][1] and 0 < h["kl"][2]
    Xs = X[:10].astype(np.float32)
    loss, values = m.loss(Xs)                                       # after fit: β_t = β = 2
    assert loss == pytest.approx(values["recon"] + values["kl"], rel=1e-6)
    assert values["kl"] == pytest.approx(2.0 * np.mean(m.posterior_kl(Xs)), rel=1e-5)
    m.on_epoch_start(1)                                             # β_1 = 2 · ¼
    assert m.loss(Xs)[1]["kl"] == pytest.approx(0.5 * np.mean(m.posterior_kl(Xs)), rel=1e-5)


def test_transform_decode_sample_reconstruct_and_interpolate():
    m = _model()
    X, _ = _batch(n=5)
    f = m.forward(X)
    np.testing.assert_array_equal(m.transform(X), f.mu)
    mu, logvar = m.encode(X)
    np.testing.assert_array_equal(logvar, f.logvar)
    np.testing.assert_allclose(m.reconstruct(X), 1 / (1 + np.exp(-f.logits)), rtol=1e-12)
    s1, s2 = m.sample(7, random_state=3), m.sample(7, random_state=3)
    assert s1.shape == (7, D) and np.array_equal(s1, s2) and np.all((s1 > 0) & (s1 < 1))
    xb = m.sample(7, random_state=3, mean=False)
    assert set(np.unique(xb)) <= {0.0, 1.0}
    path = m.interpolate(X[0], X[1], n_steps=5)
    assert path.shape == (5, D)
    np.testing.assert_allclose(path[[0, -1]], m.inverse_transform(mu[:2]), rtol=1e-12)


def test_linear_and_spherical_interpolation_of_codes():
    z0, z1 = np.array([3.0, 0.0]), np.array([0.0, 3.0])
    lin = interpolate_codes(z0, z1, 5, "linear")
    sph = interpolate_codes(z0, z1, 5, "spherical")
    np.testing.assert_allclose(lin[2], [1.5, 1.5])
    np.testing.assert_allclose(np.linalg.norm(sph, axis=1), 3.0)       # stays on the sphere
    np.testing.assert_allclose(sph[[0, -1]], [z0, z1], atol=1e-15)
    angles = np.arctan2(sph[:, 1], sph[:, 0])
    np.testing.assert_allclose(np.diff(angles), np.pi / 8)              # constant angular speed
    np.testing.assert_allclose(interpolate_codes(z0, 2 * z0, 3, "spherical")[1], 1.5 * z0)


def test_save_and_load_round_trip(tmp_path):
    from npae.persistence import load_model
    X = _toy_data(100)
    m = VAE(hidden_layer_sizes=(8,), latent_dim=2, output="gaussian", decoder_variance="learned",
            epochs=1, random_state=0, verbose=False).fit(X)
    path = m.save(tmp_path / "vae.npz")
    r = load_model(path)
    assert isinstance(r, VAE) and r.get_params() == m.get_params()
    np.testing.assert_array_equal(r.transform(X), m.transform(X))
    np.testing.assert_array_equal(r.params_["dec.logvar"], m.params_["dec.logvar"])


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("kw, match", [
    (dict(beta=-0.5), "beta"),
    (dict(latent_dim=0), "latent_dim"),
    (dict(hidden_layer_sizes=(0,)), "hidden_layer_sizes"),
    (dict(output="poisson"), "output"),
    (dict(decoder_variance="learned"), "gaussian"),
    (dict(output="gaussian", decoder_variance=-1.0), "decoder_variance"),
    (dict(output="gaussian", decoder_variance="fixed"), "decoder_variance"),
    (dict(output="gaussian", binarize=True), "binarize"),
    (dict(kl_warmup_epochs=-1), "kl_warmup_epochs"),
    (dict(logvar_bound=0.0), "logvar_bound"),
    (dict(logvar_bound="30"), "logvar_bound"),
    (dict(activation="swish"), "activation"),
])
def test_bad_hyperparameters_raise_clear_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        VAE(**kw).fit(np.full((4, D), 0.5))


def test_pixels_outside_unit_interval_are_refused_by_the_bernoulli_decoder():
    X = np.full((4, D), 0.5)
    X[0, 0] = 1.5
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        VAE(latent_dim=2).fit(X)
    m = _model()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        m.loss_and_grads(X)


def test_noise_of_the_wrong_shape_is_refused():
    m = _model()
    X, eps = _batch()
    with pytest.raises(ValueError, match="noise"):
        m.loss_and_grads(X, eps[:, :2])
    with pytest.raises(ValueError, match="noise"):
        m.loss_and_grads(X, eps[:2])
    with pytest.raises(ValueError, match="noise"):
        m.loss_and_grads(X, {"epsilon": eps})
    with pytest.raises(ValueError, match="terms"):
        m.loss_and_grads(X, eps, terms=["sparsity"])


# --------------------------------------------------------------------------- MNIST

@pytest.mark.mnist
@pytest.mark.slow
def test_mnist_reference_setting_reaches_106_5_nats_in_10_epochs(mnist_dir):
    """784-400-20 / 20-400-784, ReLU, Bernoulli, Adam 1e-3, batch 128, 10 epochs: the
    setting of PyTorch's examples/vae, whose test loss is 105.6-105.9 nats per example."""
    from npae.datasets import load_mnist
    X, _ = load_mnist("train", data_dir=mnist_dir)
    Xt, _ = load_mnist("test", data_dir=mnist_dir)
    m = VAE(hidden_layer_sizes=(400,), latent_dim=20, activation="relu", output="bernoulli",
            optimizer="adam", learning_rate=1e-3, batch_size=128, epochs=10, random_state=0,
            verbose=False).fit(X)
    print(f"MNIST VAE, identity log-variance head: test -ELBO {-m.score(Xt):.2f} nats")
    assert -m.score(Xt) <= 106.5
