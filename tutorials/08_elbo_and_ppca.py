# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · The ELBO on a model where everything is exact: probabilistic PCA
#
# Tutorial 05 derived the evidence lower bound (ELBO) and trained a VAE whose
# $\log p(x)$ and posterior $p(z\mid x)$ nobody can compute. Here the decoder is linear
# and Gaussian — *probabilistic PCA* (Tipping & Bishop 1999) — so $\log p(x)$, the
# posterior and the gap of the bound are closed-form, and every claim of tutorial 05 can
# be checked to rounding:
#
# 1. the ELBO derived two ways (Jensen; $\log p(x) = \mathrm{ELBO} + \mathrm{KL}(q\,\|\,p(z\mid x))$);
# 2. pPCA's marginal, posterior and ELBO in closed form; the identity checked for
#    arbitrary $q$, and npae's Monte-Carlo ELBO against the closed form;
# 3. the ELBO's maximizer over $q$ is the true posterior (and what a diagonal $q$
#    misses when the posterior is not diagonal);
# 4. the importance-sampled estimate converging to the exact $\log p(x)$ as $K$ grows;
# 5. linear VAE ↔ pPCA ↔ PCA: a linear VAE trained by npae finds tutorial 01's
#    principal subspace, and pPCA's posterior mean becomes PCA's projection as σ²_x → 0;
# 6. the reparameterization gradient against the score-function (REINFORCE) estimator
#    of the same gradient: both unbiased, very different variances.
#
# Notation: docs/notation.md. Rows are examples; here the decoder is $x = zV + c +
# \text{noise}$ with $V$ of shape $(H, D)$ (npae's `dec.0.W`); $q(z\mid x) =
# \mathcal N(\mu, \operatorname{diag}\sigma^2)$ with mean μ and standard deviation σ, as in
# `npae/models/vae.py`, and the decoder's noise variance is written $\sigma_x^2$ (docs/notation.md
# keeps $s$ for the standard deviation of a Gaussian corruption, tutorial 03).
#
# Run as a script (`python tutorials/08_elbo_and_ppca.py`, `NPAE_FAST=1` for a quick
# pass) or open with jupytext. No data set is needed. Figures go to `NPAE_TUTORIAL_OUT`.

# %%
import time

import numpy as np
from matplotlib.figure import Figure

try:                                   # in a checkout: its own npae first
    from _setup import FAST, START, out  # Agg backend, NPAE_FAST, figure folder
except ModuleNotFoundError:            # a tutorial copied out on its own: installed npae
    from npae.tutorial_setup import FAST, START, out
from npae import plotting
from npae.gradcheck import numerical_gradient, relative_error
from npae.likelihood import elbo, importance_sampled_log_likelihood, log_importance_weights
from npae.models.vae import VAE, reparameterize_backward

LOG_2PI = np.log(2 * np.pi)

# %% [markdown]
# ## 1. The ELBO, two ways
#
# A latent $z$ with prior $p(z)$ generates $x$ through $p(x\mid z)$; $\log p(x) = \log\int
# p(x\mid z)\,p(z)\,dz$. For any density $q(z)$ that is positive where $p(x, z)$ is:
#
# **Jensen.** $\log$ is concave, so $\log \mathbb E[Y] \ge \mathbb E[\log Y]$:
#
# $$ \log p(x) = \log \mathbb E_{q}\Big[\frac{p(x, z)}{q(z)}\Big]
#    \;\ge\; \mathbb E_{q}\big[\log p(x, z) - \log q(z)\big] =: \mathrm{ELBO}(q). \tag{1} $$
#
# **The KL decomposition.** Bayes' rule, $p(x, z) = p(x)\,p(z\mid x)$, holds for every $z$;
# so $\log p(x, z) - \log q(z) = \log p(x) - [\log q(z) - \log p(z\mid x)]$. Take $\mathbb E_q$:
#
# $$ \mathrm{ELBO}(q) = \log p(x) - \mathrm{KL}\big(q\,\|\,p(z\mid x)\big), \qquad
#    \log p(x) = \mathrm{ELBO}(q) + \mathrm{KL}\big(q\,\|\,p(z\mid x)\big). \tag{2} $$
#
# (2) says more than (1): the gap is exactly the KL divergence from $q$ to the true
# posterior, so (as $\mathrm{KL} \ge 0$, $= 0$ iff the two agree) **the ELBO's maximizer
# over $q$ is $p(z\mid x)$**, where the bound is tight. Over the decoder (the model
# θ), maximizing the ELBO raises $\log p_\theta(x) - \mathrm{KL}(q\,\|\,p_\theta(z\mid x))$,
# which is not the same as raising $\log p_\theta(x)$: a decoder whose posterior is
# easy for $q$ to match is favoured. The same identity is EM's (tutorial 07, with a
# discrete $z$ and $q$ the responsibilities).
#
# ## 2. Probabilistic PCA, in closed form
#
# $$ p(z) = \mathcal N(0, I_H), \qquad p(x\mid z) = \mathcal N(zV + c,\ \sigma_x^2 I_D). $$
#
# **Marginal.** $x = zV + c + e$ with independent $z$ and $e \sim \mathcal N(0, \sigma_x^2 I)$,
# so $x$ is Gaussian with mean $c$ and covariance $\operatorname{Cov}(zV) + \sigma_x^2 I$:
#
# $$ p(x) = \mathcal N(c,\ C), \qquad C = V^\top V + \sigma_x^2 I_D \quad (D\times D). \tag{3} $$
#
# **Posterior.** As a function of $z$, $\log p(x\mid z) + \log p(z) = -\tfrac1{2\sigma_x^2}
# \lVert x - c - zV\rVert^2 - \tfrac12\lVert z\rVert^2 + \text{const}$ is quadratic: its
# $zz^\top$ part is $-\tfrac12 z\,(VV^\top/\sigma_x^2 + I)\,z^\top$ and its linear part
# $z V (x-c)^\top/\sigma_x^2$. Completing the square,
#
# $$ p(z\mid x) = \mathcal N\big(m(x),\ S\big), \qquad S = \sigma_x^2 M^{-1},\quad
#    M = VV^\top + \sigma_x^2 I_H \quad (H\times H), \qquad m(x) = (x - c)V^\top M^{-1}. \tag{4} $$
#
# **The ELBO of a diagonal Gaussian** $q = \mathcal N(\mu, \operatorname{diag} \sigma^2)$ (the
# VAE's family). With $\mathbb E_q\lVert x - c - zV\rVert^2 = \lVert x - c - \mu V\rVert^2 +
# \sum_j \sigma_j^2 \lVert V_j\rVert^2$ ($V_j$ row $j$ of $V$), $\mathbb E_q\lVert z\rVert^2 =
# \lVert\mu\rVert^2 + \sum_j \sigma_j^2$ and the entropy $\sum_j \tfrac12\log(2\pi e\, \sigma_j^2)$:
#
# $$ \mathrm{ELBO} = -\tfrac D2\log(2\pi\sigma_x^2) - \frac{\lVert x - c - \mu V\rVert^2 +
#    \sum_j \sigma_j^2\lVert V_j\rVert^2}{2\sigma_x^2} - \tfrac12\big(\lVert\mu\rVert^2 +
#    \textstyle\sum_j \sigma_j^2\big) + \tfrac12\sum_j\big(1 + \log \sigma_j^2\big). \tag{5} $$
#
# **The gap**, the KL between two Gaussians, $q = \mathcal N(\mu, \Sigma_q)$ and $p(z\mid x) = \mathcal N(m, S)$:
#
# $$ \mathrm{KL} = \tfrac12\Big[\operatorname{tr}(S^{-1}\Sigma_q) + (m - \mu)S^{-1}(m - \mu)^\top
#    - H + \log\det S - \log\det\Sigma_q\Big]. \tag{6} $$
#
# (3)–(6) written out, one example per row:

# %%
def ppca_log_marginal(X, V, c, var_x):
    """(3) log N(x; c, VᵀV + σ²_x I) per row of X, (N,)."""
    C = V.T @ V + var_x * np.eye(V.shape[1])                          # (D, D)
    L = np.linalg.cholesky(C)
    u = np.linalg.solve(L, (X - c).T)                                 # (D, N)
    return -0.5 * (X.shape[1] * LOG_2PI + 2 * np.sum(np.log(np.diag(L))) + np.sum(u * u, 0))


def ppca_posterior(X, V, c, var_x):
    """(4) the posterior mean m(x) (N, H) and covariance S (H, H)."""
    M = V @ V.T + var_x * np.eye(V.shape[0])                          # (H, H)
    return (X - c) @ V.T @ np.linalg.inv(M), var_x * np.linalg.inv(M)


def ppca_elbo(X, V, c, var_x, mu, s2):
    """(5) the ELBO of q = N(μ, diag σ²) per row, (N,); mu, s2 = σ² (N, H)."""
    D = X.shape[1]
    resid = np.sum((X - c - mu @ V) ** 2, 1) + s2 @ np.sum(V * V, 1)  # E_q ||x - c - zV||²
    return (-0.5 * D * np.log(2 * np.pi * var_x) - resid / (2 * var_x)
            - 0.5 * np.sum(mu ** 2 + s2, 1) + 0.5 * np.sum(1 + np.log(s2), 1))


def gaussian_kl(mu, s2, m, S):
    """(6) KL(N(μ, diag σ²) ‖ N(m, S)) per row, (N,)."""
    P = np.linalg.inv(S)                                              # S⁻¹ (H, H)
    d = m - mu                                                        # (N, H)
    return 0.5 * (s2 @ np.diag(P) + np.einsum("nh,hk,nk->n", d, P, d) - S.shape[0]
                  + np.linalg.slogdet(S)[1] - np.sum(np.log(s2), 1))


# %% [markdown]
# **Data and the maximum-likelihood fit.** 10-D data drawn from a pPCA with $H = 2$.
# Tipping & Bishop's closed-form maximum of $\sum_n \log p(x_n)$: $c$ the mean; with
# $\lambda_1 \ge \dots \ge \lambda_D$ and $u_1, \dots$ the eigenvalues and eigenvectors of
# the covariance $\tfrac1N\sum_n (x_n - c)^\top(x_n - c)$, $\sigma_x^2$ the mean of the
# $D - H$ discarded eigenvalues and $V = \operatorname{diag}\big((\lambda_j - \sigma_x^2)^{1/2}\big)
# U_H^\top$ — times any rotation $R$ on the left; we take $R = I$, which makes the rows of
# $V$ orthogonal, so $M$ and the posterior covariance $S$ are diagonal.

# %%
rng = np.random.default_rng(0)
D, H = 10, 2
N = 1000 if FAST else 5000
V_true = rng.normal(size=(H, D)) * np.array([[2.0], [1.2]])
c_true = rng.normal(size=D)
X = rng.standard_normal((N, H)) @ V_true + c_true + 0.5 * rng.standard_normal((N, D))


def ppca_fit(X, H):
    """Tipping & Bishop's maximum-likelihood pPCA: c, V (H, D) with orthogonal rows, σ²_x."""
    c = X.mean(0)
    lam, U = np.linalg.eigh(np.cov(X.T, bias=True))                   # ascending
    lam, U = lam[::-1], U[:, ::-1]
    var_x = lam[H:].mean()
    return c, np.sqrt(lam[:H] - var_x)[:, None] * U[:, :H].T, var_x, lam, U


c, V, var_x, lam, U = ppca_fit(X, H)
ll = ppca_log_marginal(X, V, c, var_x)
print(f"pPCA fit: σ²_x = {var_x:.4f} (data made with 0.25); mean log p(x) = {ll.mean():.4f} nats")
for scale in (0.9, 1.1):                                           # the maximum is a maximum
    print(f"  V × {scale}: mean log p(x) {ppca_log_marginal(X, scale * V, c, var_x).mean():.4f}")
assert all(ppca_log_marginal(X, scale * V, c, var_x).mean() < ll.mean() for scale in (0.9, 1.1))

# %% [markdown]
# ## 3. The identity (2), to rounding, for any q
#
# Take the first few examples and a *random* diagonal Gaussian $q$ for each; compute
# $\log p(x)$ by (3), the ELBO by (5) and the KL by (6). The identity must hold to
# rounding, the ELBO must lie below $\log p(x)$, and npae's own Monte-Carlo ELBO — a VAE
# with no hidden layer (heads reading $x$ directly), decoder `dec.0.W` $= V$,
# `dec.0.b` $= c$, Gaussian output with fixed variance $\sigma_x^2$ — must agree with (5)
# within its standard error.

# %%
Xs = X[:6]
m, S = ppca_posterior(Xs, V, c, var_x)
mu_q = m + rng.normal(scale=0.7, size=m.shape)                       # a wrong mean
s2_q = np.diag(S) * np.exp(rng.normal(scale=0.8, size=m.shape))     # wrong variances
elbo_q = ppca_elbo(Xs, V, c, var_x, mu_q, s2_q)
kl_q = gaussian_kl(mu_q, s2_q, m, S)
logp = ppca_log_marginal(Xs, V, c, var_x)
identity_err = np.max(np.abs(logp - (elbo_q + kl_q)))
print(" log p(x)     ELBO(q)    KL(q‖p(z|x))")
for row in zip(logp, elbo_q, kl_q):
    print(" {:9.5f}  {:9.5f}  {:9.5f}".format(*row))
print(f"max |log p(x) − (ELBO + KL)| = {identity_err:.1e}")
assert identity_err < 1e-12 and np.all(kl_q > 0) and np.all(elbo_q < logp)


def linear_vae(V, c, var_x, W_mu, b_mu, b_logvar):
    """npae's VAE with no hidden layer: μ = x W_μ + b_μ, log σ² = b_logvar (W_v = 0), z V + c."""
    vae = VAE(hidden_layer_sizes=(), latent_dim=V.shape[0], output="gaussian",
              decoder_variance=var_x, dtype="float64", random_state=0,
              verbose=False).initialize(V.shape[1])
    p = vae.params_
    p["dec.0.W"][:], p["dec.0.b"][:] = V, c
    p["mu.W"][:], p["mu.b"][:] = W_mu, b_mu
    p["logvar.W"][:], p["logvar.b"][:] = 0.0, b_logvar
    return vae


# an encoder whose q is wrong for every example: the mean off by 1.5 posterior standard
# deviations in each coordinate, twice the posterior variances
DELTA, VSCALE = 1.5, 2.0
Minv = np.linalg.inv(V @ V.T + var_x * np.eye(H))
W_post, b_post = V.T @ Minv, -c @ V.T @ Minv                          # m(x) = x W_post + b_post
wrong = linear_vae(V, c, var_x, W_post, b_post + DELTA * np.sqrt(np.diag(S)),
                   np.log(VSCALE * np.diag(S)))
mu_w, logvar_w = wrong.encode(Xs)
exact_w = ppca_elbo(Xs, V, c, var_x, mu_w, np.exp(logvar_w))
K_mc = 2000 if FAST else 20000
mc = elbo(wrong, Xs, n_samples=K_mc, random_state=0)                 # npae, (I5) analytic KL
se = np.std(-wrong.forward(np.repeat(Xs, 200, 0),
                           np.random.default_rng(1).standard_normal((1200, H))).recon
            .reshape(6, 200), axis=1, ddof=1) / np.sqrt(K_mc)        # SE of the recon mean
z_scores = (mc - exact_w) / se
print(f"npae.likelihood.elbo with K = {K_mc}: {np.round(mc, 4)}")
print(f"closed form (5):                  {np.round(exact_w, 4)}")
print(f"difference in standard errors: {np.round(z_scores, 1)}")
assert np.all(np.abs(z_scores) < 4)

# %% [markdown]
# ## 4. The ELBO's maximizer over q is the posterior
#
# Differentiate (5). The μ-part of the ELBO is the quadratic $-\tfrac1{2\sigma_x^2}\lVert
# x - c - \mu V\rVert^2 - \tfrac12\lVert\mu\rVert^2 = -\tfrac12(\mu - m)\,S^{-1}(\mu - m)^\top
# + \text{const}$ (the same square as in (4)), and the $\sigma^2$-part separates:
#
# $$ \frac{\partial\,\mathrm{ELBO}}{\partial\mu} = -(\mu - m)\,S^{-1}, \qquad
#    \frac{\partial\,\mathrm{ELBO}}{\partial\log \sigma_j^2} = \tfrac12 - \tfrac12 \sigma_j^2\,(S^{-1})_{jj}. \tag{7} $$
#
# Both vanish at $\mu = m(x)$, $\sigma_j^2 = 1/(S^{-1})_{jj}$, and (5) is concave there. When
# $S$ is diagonal (our $R = I$ fit) that is $\sigma_j^2 = S_{jj}$: **the maximizer is the
# posterior, and the bound is tight**. When $S$ is not diagonal (the same model with a
# rotated $V$: same $p(x)$, a correlated posterior) the best diagonal $q$ has the right
# mean but variances $1/(S^{-1})_{jj} < S_{jj}$, and the gap that remains is (6) at that
# $q$. First (7) against finite differences, then gradient ascent on (7) from a random $q$:

# %%
def elbo_grad(x, V, c, var_x, mu, log_s2):
    """(7) for one example: ∂ELBO/∂μ (H,) and ∂ELBO/∂log σ² (H,)."""
    m1, S1 = ppca_posterior(x[None], V, c, var_x)
    P = np.linalg.inv(S1)
    return -(mu - m1[0]) @ P, 0.5 - 0.5 * np.exp(log_s2) * np.diag(P)


x0 = X[0]
mu0, ls0 = rng.normal(size=H), rng.normal(size=H)
g_mu, g_ls = elbo_grad(x0, V, c, var_x, mu0, ls0)
f = lambda: ppca_elbo(x0[None], V, c, var_x, mu0[None], np.exp(ls0)[None])[0]  # noqa: E731
err7 = max(relative_error(g_mu, numerical_gradient(f, mu0)),
           relative_error(g_ls, numerical_gradient(f, ls0)))
print(f"(7) against central differences: relative error {err7:.1e}")
assert err7 < 1e-9

theta = 0.6                                                           # a rotation of V
R = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
results = {}
for name, Vm in [("orthogonal V (R = I)", V), ("rotated V (R ≠ I)", R @ V)]:
    m0, S0 = ppca_posterior(x0[None], Vm, c, var_x)
    step = 1 / np.linalg.eigvalsh(np.linalg.inv(S0)).max()            # 1 / the curvature in μ
    mu, ls = np.zeros(H), np.zeros(H)                                 # start at the prior
    for _ in range(400):                                              # gradient ascent on (7)
        g_mu, g_ls = elbo_grad(x0, Vm, c, var_x, mu, ls)
        mu, ls = mu + step * g_mu, ls + 0.5 * g_ls
    gap = gaussian_kl(mu[None], np.exp(ls)[None], m0, S0)[0]
    results[name] = gap
    print(f"{name}: |μ* − m(x)| = {np.max(np.abs(mu - m0[0])):.1e};  σ*² = {np.round(np.exp(ls), 5)}"
          f", posterior variances S_jj = {np.round(np.diag(S0), 5)}, 1/(S⁻¹)_jj = "
          f"{np.round(1 / np.diag(np.linalg.inv(S0)), 5)};  gap log p(x) − ELBO = {gap:.2e} nats")
    assert np.max(np.abs(mu - m0[0])) < 1e-8
assert results["orthogonal V (R = I)"] < 1e-12 < 1e-4 < results["rotated V (R ≠ I)"]

# %% [markdown]
# With the exact posterior as $q$ every sample's log-weight $\log p(x, z) - \log q(z)$
# *is* $\log p(x)$ (that is Bayes' rule), so even npae's single-sample estimate has zero
# variance. The encoder $\mu = xW_\mu + b_\mu$ with $W_\mu = V^\top M^{-1}$,
# $b_\mu = -cV^\top M^{-1}$ and a constant log-variance $\log S_{jj}$ is that posterior:

# %%
exact = linear_vae(V, c, var_x, W_post, b_post, np.log(np.diag(S)))
log_w = log_importance_weights(exact, Xs, n_samples=50, random_state=0)   # (6, 50)
print(f"exact-posterior encoder: max over 6 examples × 50 draws of |log w − log p(x)| = "
      f"{np.max(np.abs(log_w - logp[:, None])):.1e}")
assert np.max(np.abs(log_w - logp[:, None])) < 1e-10

# %% [markdown]
# ## 5. Importance sampling converges to log p(x)
#
# With the *wrong* encoder of section 3, the importance-sampled estimate (tutorial 05,
# Burda et al. 2016) $\log\hat p_K(x) = \log\frac1K\sum_k w_k$, $w_k = p(x, z_k)/q(z_k)$,
# equals the ELBO in expectation at $K = 1$ and rises towards the exact $\log p(x)$.
# How fast: write $\log\hat p_K = \log p(x) + \log(1 + \delta)$ with $\delta =
# \frac1K\sum_k w_k/p(x) - 1$, $\mathbb E\delta = 0$, $\mathbb E\delta^2 = v/K$, $v =
# \operatorname{Var}_q[w/p(x)]$; to second order $\mathbb E\log(1 + \delta) \approx -\tfrac12
# \mathbb E\delta^2$, so
#
# $$ \log p(x) - \mathbb E\log\hat p_K(x) \approx \frac{v}{2K}. \tag{8} $$
#
# Here $v$ is closed-form too. Our $q$ and the posterior are both diagonal; in
# coordinate $j$, with the offset $\delta_j$ in posterior standard deviations and the
# variance ratio $r_j = \sigma_j^2/S_{jj}$, a Gaussian integral gives
# $\mathbb E_q[(p(z\mid x)/q(z))^2] = \prod_j r_j(2r_j - 1)^{-1/2}\exp\big(\delta_j^2/(2r_j - 1)\big)$
# (finite only for $r_j > \tfrac12$: a $q$ narrower than half the posterior has weights of
# infinite variance), and $v$ is that minus 1. Averaged over examples, with the standard
# error over examples:

# %%
n_is = 500 if FAST else 2000
Xi = X[:n_is]
logp_i = ppca_log_marginal(Xi, V, c, var_x)
mu_i, logvar_i = wrong.encode(Xi)
elbo_i = ppca_elbo(Xi, V, c, var_x, mu_i, np.exp(logvar_i))
v_w = (VSCALE / np.sqrt(2 * VSCALE - 1) * np.exp(DELTA ** 2 / (2 * VSCALE - 1))) ** H - 1  # (H,) alike
v_mc = np.mean(np.exp(2 * (log_importance_weights(wrong, Xi[:20], n_samples=20000, random_state=1)
                           - logp_i[:20, None]))) - 1
print(f"v = Var_q[w/p(x)]: closed form {v_w:.3f}, Monte Carlo {v_mc:.3f} (20 × 20000 draws)")
Ks = [1, 3, 10, 30, 100, 300, 1000] + ([] if FAST else [3000, 10000])
gaps, ses = [], []
print(f"exact mean log p(x) {logp_i.mean():.4f};  exact mean ELBO of q {elbo_i.mean():.4f} "
      f"(gap {np.mean(logp_i - elbo_i):.4f})")
print(f"{'K':>6} {'mean log p̂_K':>13} {'gap to log p(x)':>16} {'± SE':>8} {'(8): v/(2K)':>12}")
for K in Ks:
    est = importance_sampled_log_likelihood(wrong, Xi, n_samples=K, random_state=K)
    d = logp_i - est
    gaps.append(d.mean())
    ses.append(d.std(ddof=1) / np.sqrt(n_is))
    print(f"{K:6d} {est.mean():13.4f} {d.mean():16.5f} {ses[-1]:8.5f} {v_w / (2 * K):12.5f}")
    if K == 1:
        assert abs(np.mean(est - elbo_i)) < 4 * np.std(est - elbo_i, ddof=1) / np.sqrt(n_is)
assert abs(v_mc - v_w) < 0.1 * v_w
assert gaps[-1] < 0.02 * np.mean(logp_i - elbo_i) + 4 * ses[-1]
assert all(abs(g - v_w / (2 * K)) < 4 * se + 0.25 * v_w / (2 * K)
           for g, se, K in zip(gaps, ses, Ks) if K >= 30)

fig = Figure(figsize=(5.5, 3.8))
ax = fig.add_subplot()
pos = np.array(gaps) > 0                                             # a log axis shows > 0 only
ax.loglog(np.array(Ks)[pos], np.array(gaps)[pos], "o", label=r"mean $\log p(x) - \log\hat p_K(x)$")
ax.loglog(Ks, 2 * np.array(ses), ":", color="grey", label="2 standard errors (noise floor)")
ax.loglog(Ks, v_w / (2 * np.array(Ks, float)), "--", label=r"(8): $v/(2K)$")
ax.set_xlabel("K (importance samples)")
ax.set_ylabel("gap (nats)")
ax.set_title("pPCA: the IS estimate converges to the exact log p(x)")
ax.legend()
ax.grid(alpha=0.3, which="both")
plotting.save_figure(fig, out("08_is_convergence.png"))

# %% [markdown]
# ## 6. Linear VAE ↔ pPCA ↔ PCA
#
# Tutorial 01 trained a linear autoencoder and found PCA's subspace. A VAE whose encoder
# heads and decoder are linear, with a Gaussian decoder, is exactly the pPCA model with
# a linear $q$ — and section 4 showed the exact posterior is linear with a constant
# variance, so the ELBO's optimum over encoder *and* decoder is pPCA's maximum
# likelihood with a tight bound (Lucas et al. 2019 show the linear VAE has no spurious
# local optima). We train npae's linear VAE from its random start (σ²_x fixed at the
# pPCA value, Adam) and compare: its −ELBO with the exact −log p(x) of the fit, and its
# decoder's row space with PCA's top-2 subspace, by principal angles as in tutorial 01.
# (Adam with a constant step ends in a small noise ball around the optimum, not on it;
# the remaining gap is split below into the decoder's and the encoder's share.)

# %%
t0 = time.perf_counter()
lin = VAE(hidden_layer_sizes=(), latent_dim=H, output="gaussian", decoder_variance=var_x,
          learning_rate=3e-2, batch_size=100, epochs=100, dtype="float64",
          random_state=0, verbose=False).fit(X)
mu_l, logvar_l = lin.encode(X)
Vl, cl = lin.params_["dec.0.W"], lin.params_["dec.0.b"]
elbo_l = ppca_elbo(X, Vl, cl, var_x, mu_l, np.exp(logvar_l))         # exact ELBO of the VAE
Q = np.linalg.qr(Vl.T)[0]                                            # (D, H) basis of its rows
cos = np.linalg.svd(Q.T @ U[:, :H], compute_uv=False)
angle = np.degrees(np.arccos(np.clip(cos.min(), -1, 1)))
print(f"linear VAE trained {lin.epochs} epochs in {time.perf_counter() - t0:.1f} s")
ll_l = ppca_log_marginal(X, Vl, cl, var_x).mean()
print(f"  pPCA maximum of mean log p(x) {ll.mean():.4f} = its decoder's exact log p(x) "
      f"{ll_l:.4f} + {ll.mean() - ll_l:.4f}")
print(f"  its decoder's log p(x) {ll_l:.4f} = its exact mean ELBO {elbo_l.mean():.4f} + "
      f"{ll_l - elbo_l.mean():.4f} (the mean KL(q‖p(z|x)) of its encoder)")
print(f"  largest principal angle, decoder rows vs PCA's top-{H} subspace: {angle:.2f}°")
assert ll.mean() - elbo_l.mean() < 0.25 and angle < 2.0

# %% [markdown]
# **From pPCA to PCA.** With (4) and the fit, the posterior mean's reconstruction is
# $m(x)V + c = c + (x - c)\,U_H\operatorname{diag}\big((\lambda_j - \sigma_x^2)/\lambda_j\big)U_H^\top$:
# PCA's projection on the top-$H$ subspace, each coordinate shrunk by
# $(\lambda_j - \sigma_x^2)/\lambda_j$. As $\sigma_x^2 \to 0$ (keeping $V$ the fit for that
# $\sigma_x^2$) the shrinkage disappears and pPCA's posterior mean is PCA's projection —
# the linear autoencoder of tutorial 01:

# %%
pca_recon = c + (X - c) @ U[:, :H] @ U[:, :H].T
dev = []
for v in (1.0, 0.1, 0.01, 0.001):
    Vv = np.sqrt(lam[:H] - v)[:, None] * U[:, :H].T
    mv, _ = ppca_posterior(X, Vv, c, v)
    dev.append(np.max(np.abs(mv @ Vv + c - pca_recon)))
    print(f"σ²_x = {v:6.3f}: max |m(x)V + c − PCA reconstruction| = {dev[-1]:.2e}")
assert all(a > b for a, b in zip(dev, dev[1:])) and dev[-1] < 1e-3

# %% [markdown]
# ## 7. Two estimators of one gradient: reparameterization and score function
#
# The VAE needs $\nabla_\phi\,\mathbb E_{q_\phi}[f(z)]$ for $f(z) = \log p(x\mid z)$ and
# $\phi = (\mu, \log \sigma^2)$. Two unbiased estimators from samples $\varepsilon \sim \mathcal N(0, I)$, $z = \mu + \sigma\odot\varepsilon$:
#
# * **reparameterization** (tutorial 05, vae (E7)–(E8)): $\mathbb E_q f = \mathbb E_\varepsilon
#   f(\mu + \sigma\odot\varepsilon)$, so $\hat g_\mu = \nabla_z f(z)$,
#   $\hat g_{\log \sigma^2} = \nabla_z f(z) \odot \tfrac12 \sigma\odot\varepsilon$;
# * **score function** (REINFORCE; Williams 1992): $\nabla_\phi \int q_\phi f =
#   \int q_\phi\, f\,\nabla_\phi\log q_\phi$, and $\nabla_\mu\log q = (z - \mu)/\sigma^2 =
#   \varepsilon/\sigma$, $\nabla_{\log \sigma_j^2}\log q = \tfrac12\big((z_j - \mu_j)^2/\sigma_j^2 - 1\big) =
#   \tfrac12(\varepsilon_j^2 - 1)$, so $\hat g_\mu = f(z)\,\varepsilon/\sigma$,
#   $\hat g_{\log \sigma^2} = f(z)\,\tfrac12(\varepsilon^2 - 1)$. It needs only values of $f$ (no
#   gradient), works for discrete $z$ — and is noisy. Subtracting a constant baseline $b$
#   ($f(z) - b$; $\mathbb E_q\nabla\log q = 0$ keeps it unbiased) helps; we use $b = f(\mu)$.
#
# For pPCA the exact gradient follows from (5): $\partial\,\mathbb E_q f/\partial\mu =
# (x - c - \mu V)V^\top/\sigma_x^2$ and $\partial\,\mathbb E_q f/\partial\log \sigma_j^2 =
# -\sigma_j^2\lVert V_j\rVert^2/(2\sigma_x^2)$. The reparameterized per-sample gradients below go
# through npae's `reparameterize_backward` (vae (E7)–(E8)), fed with
# $-\nabla_z f$ = the loss gradient; their batch mean is npae's `mu.b`/`logvar.b`
# gradient of the `recon` term, which we also compare.

# %%
M_mc = 20000 if FAST else 200000
mu1, s2_1 = mu_w[0], np.exp(logvar_w[0])                             # the wrong q of x_0
s1, x1 = np.sqrt(s2_1), Xs[0]
eps = np.random.default_rng(3).standard_normal((M_mc, H))
z = mu1 + s1 * eps                                                    # (M, H)
resid = x1 - c - z @ V                                                # (M, D)
f_z = -0.5 * D * np.log(2 * np.pi * var_x) - np.sum(resid ** 2, 1) / (2 * var_x)  # log p(x|z)
grad_z = resid @ V.T / var_x                                          # ∇_z f (M, H)
d_mu, d_logvar = reparameterize_backward(-grad_z, np.broadcast_to(s1, z.shape), eps)
reparam = -np.hstack([d_mu, d_logvar])                                # (M, 2H) ascent direction
f_mu = -0.5 * D * np.log(2 * np.pi * var_x) - np.sum((x1 - c - mu1 @ V) ** 2) / (2 * var_x)
score_dir = np.hstack([eps / s1, 0.5 * (eps ** 2 - 1)])              # ∇_φ log q (M, 2H)
estimators = {"reparameterization": reparam,
              "score function": f_z[:, None] * score_dir,
              "score function, baseline f(μ)": (f_z - f_mu)[:, None] * score_dir}
exact_g = np.concatenate([(x1 - c - mu1 @ V) @ V.T / var_x,
                          -s2_1 * np.sum(V * V, 1) / (2 * var_x)])

_, _, g_npae = wrong.loss_and_grads(np.repeat(x1[None], M_mc, 0), noise=eps, terms=["recon"])
npae_err = np.max(np.abs(-np.concatenate([g_npae["mu.b"], g_npae["logvar.b"]])
                         - reparam.mean(0)))
print(f"npae's recon gradient on mu.b, logvar.b vs the mean of the per-sample estimates: "
      f"{npae_err:.1e}")
assert npae_err < 1e-9
names = ["∂/∂μ_1", "∂/∂μ_2", "∂/∂log σ²_1", "∂/∂log σ²_2"]
print(f"exact gradient {np.round(exact_g, 4)}   ({M_mc} samples per estimator)")
print(f"{'estimator':31s} " + " ".join(f"{n:>24s}" for n in names))
variances = {}
for name, g in estimators.items():
    mean, var = g.mean(0), g.var(0, ddof=1)
    z_sc = (mean - exact_g) / np.sqrt(var / M_mc)
    variances[name] = var
    print(f"{name:31s} " + " ".join(f"{a:9.4f} ({b:+.1f}se) v={v:7.2g}"
                                    for a, b, v in zip(mean, z_sc, var)))
    assert np.all(np.abs(z_sc) < 4), name                           # unbiased
ratio = variances["score function"] / variances["reparameterization"]
ratio_b = variances["score function, baseline f(μ)"] / variances["reparameterization"]
print(f"variance ratio score/reparam per coordinate: {np.round(ratio, 0)}; "
      f"with the baseline: {np.round(ratio_b, 1)}")
print(f"f(z) = log p(x|z) over the samples: mean {f_z.mean():.2f}, standard deviation "
      f"{f_z.std():.2f} nats")
assert np.all(ratio > 20) and np.all(ratio_b > 3)

# %% [markdown]
# Both estimators are unbiased — every mean is within a few standard errors (the `se`
# column) of the exact gradient — but the score-function estimator's variance is many
# times larger (the printed ratios; every ratio is asserted above 20): it multiplies the
# *value* $f(z)$ (its mean and spread printed last) by a zero-mean direction and learns
# about the gradient only through the correlation between the two, while the
# reparameterization differentiates $f$ along the sample. The baseline removes the
# constant part of $f$ and most of the variance, not all of it (ratios asserted above 3).
# With $H = 20$ latent units and $D = 784$ pixels the difference grows, which is why VAEs
# use the reparameterization wherever $z$ is continuous.

# %%
print(f"tutorial finished in {time.perf_counter() - START:.1f} s")
