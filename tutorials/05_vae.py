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
# # 05 · The variational autoencoder
#
# 1. why an autoencoder's code space cannot be sampled: its codes leave empty regions;
# 2. the VAE: a probabilistic encoder, a prior, and the evidence lower bound (ELBO),
#    derived twice — from Jensen's inequality and from a KL decomposition;
# 3. the analytic KL, its gradients, and the reparameterized gradient of the
#    reconstruction term; every gradient checked with ε held fixed;
# 4. the forward pass against the equations: a Monte-Carlo check of the KL and of the
#    distribution of z;
# 5. training on MNIST in the setting of PyTorch's `examples/vae`; the ELBO and the
#    importance-sampled estimate (a score on grey-level pixels), and a true
#    log-likelihood on binarized digits;
# 6. samples from the prior, reconstructions, linear and spherical interpolations;
# 7. a 2-D latent space: the manifold of digits;
# 8. the effect of β;
# 9. why a VAE and not plain maximum likelihood: pixel distance, the prior-sampling
#    estimate of p(x) against importance sampling, a Gaussian warped onto a ring;
# 10. the KL divergence's properties, and three common misreadings corrected.
#
# Notation: docs/notation.md. $X$ is $(B, D)$, one example per row; $H$ is the latent size;
# $\odot$ is the elementwise product. As in `npae/models/vae.py`, σ is a standard
# deviation here and the logistic sigmoid is written $\mathrm{sigm}$. Tutorial 08 checks
# every identity of section 2 on a linear-Gaussian VAE (probabilistic PCA), where
# $\log p(x)$ and the posterior are exact. Run as a script (`python tutorials/05_vae.py`,
# `NPAE_FAST=1` for a quick pass, `NPAE_DATA=<folder holding mnist/>` to use MNIST) or open
# with jupytext. Figures go to `NPAE_TUTORIAL_OUT` (default `tutorial-output/`).

# %%
import inspect
import time

import numpy as np
from matplotlib.figure import Figure

try:                                   # in a checkout: its own npae first
    from _setup import FAST, START, out  # Agg backend, NPAE_FAST, figure folder
except ModuleNotFoundError:            # a tutorial copied out on its own: installed npae
    from npae.tutorial_setup import FAST, START, out
import npae
from npae import datasets, plotting
from npae.gradcheck import check_model
from npae.layers import logsumexp
from npae.likelihood import (binarize, binarized_log_likelihood, elbo,
                             importance_sampled_log_likelihood, log_importance_weights)
from npae.models import vae as vae_module
from npae.models.vae import VAE


# %% [markdown]
# ## Data
#
# MNIST when `npae.datasets.find_dataset` finds it, otherwise npae's synthetic digits
# rendered from matplotlib's fonts. Pixels are grey levels in $[0, 1]$: the Bernoulli
# decoder's cross-entropy treats each as a soft target, the probability of "ink". That
# is a standard training loss but not a density on grey levels (section 5).

# %%
X_train, y_train, X_test, y_test, source = datasets.load_digits(
    1000 if FAST else None, 300 if FAST else None)     # MNIST if found, else glyph digits
D = X_train.shape[1]
print(f"data: {source}; train {X_train.shape}, test {X_test.shape}")

EPOCHS = 2 if FAST else 10                     # the reference setting trains 10 epochs
HIDDEN = (64,) if FAST else (400,)

# %% [markdown]
# ## 1. An autoencoder's codes leave holes
#
# An autoencoder maps each digit to one code and back. Nothing asks the codes to fill any
# particular region, so they land wherever reconstruction is easiest: in clusters of odd
# shapes and scales, with gaps in between. To *generate* a digit we would have to pick a
# code — but from which distribution? Let us train an autoencoder with a 2-D code and
# decode a grid over a Gaussian fitted to its codes.

# %%
ae = npae.Autoencoder(hidden_layer_sizes=HIDDEN + (2,), activation=("relu", "identity"),
                      output="bernoulli", epochs=EPOCHS, random_state=0, verbose=False)
ae.fit(X_train)
codes = ae.transform(X_test)                                         # (N, 2)
c_mean, c_std = codes.mean(0), codes.std(0)
print(f"AE codes: mean {np.round(c_mean, 2)}, std {np.round(c_std, 2)}")
plotting.codes_2d(codes, y_test, path=out("05_ae_codes.png"), title="autoencoder codes (test)")
plotting.latent_grid(lambda Z: ae.inverse_transform((c_mean + Z * c_std).astype(np.float32)),
                     n=15, path=out("05_ae_grid.png"),
                     title="AE decoder on a grid of a Gaussian fitted to its codes")

# %% [markdown]
# The scatter (`05_ae_codes.png`) shows clusters of different shapes and spreads with
# empty space between them (on MNIST the 1s sit far from everything else); in the decoded
# grid (`05_ae_grid.png`) the cells that fall into that space show blends and distorted
# shapes: the decoder was never trained there. To put a number on the holes: standardise
# the codes, lay a $15\times15$ grid of Gaussian quantiles over them, and count the grid
# points that have no code within 0.2 standard deviations (printed below; section 7
# prints the same count for the VAE, next to this one).


# %%
def empty_fraction(codes, n=15, radius=0.2):
    """Fraction of an n×n grid of N(0,1) quantiles with no standardised code within radius."""
    Zs = (codes - codes.mean(0)) / codes.std(0)                       # (N, 2) standardised
    q = plotting.ndtri(np.linspace(0.05, 0.95, n))                    # (n,) quantiles
    grid = np.stack(np.meshgrid(q, q), axis=-1).reshape(-1, 2)        # (n², 2)
    d2 = np.sum((grid[:, None, :] - Zs[None, :, :]) ** 2, axis=-1)    # (n², N)
    return float(np.mean(d2.min(axis=1) > radius ** 2))


print(f"AE: {100 * empty_fraction(codes):.0f}% of the grid points have no code nearby")

# %% [markdown]
# The VAE fixes this by making the code *random* and pulling its distribution towards a
# fixed prior $p(z) = \mathcal N(0, I)$, which we can then sample.
#
# ## 2. The model and the evidence lower bound
#
# A latent $z \in \mathbb R^H$ with prior $p(z) = \mathcal N(0, I)$ generates $x$ through a
# decoder network with output logits $A'(z)$: $p(x\mid z) = \prod_d
# \mathrm{Bernoulli}(x_d; \mathrm{sigm}(A'_d))$ for binary $x$ (or a Gaussian with mean $A'$). We would like to
# maximise $\log p(x) = \log \int p(x\mid z)\,p(z)\,dz$, but the integral is intractable.
# An *encoder* proposes where to look: $q(z\mid x) = \mathcal N(\mu(x),
# \operatorname{diag}\sigma^2(x))$, with two heads for $\mu$ and $\log\sigma^2$.
#
# **Jensen.** Multiply and divide by $q$ inside the integral; $\log$ is concave, so
#
# $$ \log p(x) = \log \mathbb E_{q}\!\left[\frac{p(x\mid z)\,p(z)}{q(z\mid x)}\right]
#    \;\ge\; \mathbb E_{q}\big[\log p(x\mid z) + \log p(z) - \log q(z\mid x)\big]
#    =: \mathrm{ELBO}(x). \tag{E1} $$
#
# **KL decomposition.** Bayes' rule gives $\log p(x) = \log p(x\mid z) + \log p(z) -
# \log p(z\mid x)$ for *every* $z$. Take $\mathbb E_q$ of both sides and add and subtract
# $\log q(z\mid x)$:
#
# $$ \log p(x) = \mathrm{ELBO}(x) + \mathrm{KL}\big(q(z\mid x)\,\|\,p(z\mid x)\big)
#    \;\ge\; \mathrm{ELBO}(x). \tag{E2} $$
#
# So the gap in Jensen's inequality is exactly how far $q$ is from the true posterior;
# maximising the ELBO over the encoder pulls $q$ towards $p(z\mid x)$ (with the decoder
# fixed, $\log p(x)$ is fixed, so raising the ELBO can only shrink the KL). Over the
# decoder it raises $\log p(x) - \mathrm{KL}(q\,\|\,p(z\mid x))$, not necessarily
# $\log p(x)$: a decoder may gain ELBO by making its posterior easier for $q$ to match.
# Tutorial 08 checks (E1)–(E2) to rounding where all three terms are closed-form.
# Regrouping the terms:
#
# $$ \mathrm{ELBO}(x) = \underbrace{\mathbb E_q[\log p(x\mid z)]}_{-\text{reconstruction}}
#    - \underbrace{\mathrm{KL}\big(q(z\mid x)\,\|\,p(z)\big)}_{\text{pull to the prior}}.
#    \tag{E3} $$
#
# **The KL is analytic.** Per latent coordinate, with $\log q = -\tfrac12[\log 2\pi +
# \log\sigma^2 + (z-\mu)^2/\sigma^2]$, $\log p = -\tfrac12[\log 2\pi + z^2]$,
# $\mathbb E_q(z-\mu)^2 = \sigma^2$ and $\mathbb E_q z^2 = \mu^2 + \sigma^2$:
#
# $$ \mathrm{KL}_n = -\tfrac12 \sum_j \big(1 + \log\sigma^2_{nj} - \mu^2_{nj} -
#    \sigma^2_{nj}\big), \qquad
#    \frac{\partial \mathrm{KL}_n}{\partial \mu_{nj}} = \mu_{nj}, \qquad
#    \frac{\partial \mathrm{KL}_n}{\partial \log\sigma^2_{nj}} =
#    -\tfrac12\big(1 - \sigma^2_{nj}\big). \tag{E4–E6} $$
#
# **The reparameterization.** The reconstruction term is an expectation over $q$, whose
# parameters we differentiate. Writing $z = \mu + \sigma\odot\varepsilon$ with
# $\varepsilon \sim \mathcal N(0, I)$ moves the parameters inside:
# $\mathbb E_q[f(z)] = \mathbb E_\varepsilon[f(\mu + \sigma\odot\varepsilon)]$, and
#
# $$ \frac{\partial}{\partial\mu}\mathbb E_\varepsilon[f] = \mathbb E_\varepsilon\Big[
#    \frac{\partial f}{\partial z}\Big], \qquad
#    \frac{\partial}{\partial\log\sigma^2}\mathbb E_\varepsilon[f] =
#    \mathbb E_\varepsilon\Big[\frac{\partial f}{\partial z}\odot\tfrac12\sigma\odot
#    \varepsilon\Big], \tag{E7–E8} $$
#
# since $\sigma = e^{\frac12\log\sigma^2}$ gives $\partial z/\partial\log\sigma^2 =
# \tfrac12\sigma\odot\varepsilon$. One $\varepsilon$ per example gives an unbiased
# estimate of both. The loss npae minimises, per batch, is
#
# $$ L = \frac1B\sum_n \big[\mathrm{recon}_n + \beta\,\mathrm{KL}_n\big], \qquad
#    \mathrm{recon}_n = \sum_d \big[\operatorname{softplus}(A'_{nd}) - x_{nd}A'_{nd}\big], $$
#
# which is $-\log p(x_n\mid z_n)$ for binary $x$, so $L$ is then the negative
# single-sample ELBO when $\beta = 1$. On grey-level pixels $x \in (0, 1)$ the
# Bernoulli "likelihood" $\prod_d \lambda_d^{x_d}(1-\lambda_d)^{1-x_d}$ is not a density
# ($\int_0^1 \lambda^x(1-\lambda)^{1-x}\,dx \le \tfrac12$ for every λ), so recon is a
# cross-entropy and $-L$ a score that compares models on the same data, not a bound on
# any $\log p(x)$. Here are the forward and backward
# equations as the module states them, and the lines of code that carry their tags:

# %%
doc = vae_module.__doc__
print(doc[doc.index("Forward pass for a batch"):doc.index("Why the soft bound")])
src = inspect.getsource(VAE._forward_backward)
print("\n".join(line for line in src.splitlines() if "# (B" in line))

# %% [markdown]
# Note `std = np.exp(0.5 * logvar)` and `z = mu + std * eps` in `_forward`: $\varepsilon$
# is scaled by the standard deviation. One widely used NumPy VAE scales it by the
# *variance*; its backward pass matches its forward, so its gradient check passes — the
# model is still wrong. Section 4 tests the forward pass against the equations for that
# reason.
#
# The log-variance head is the identity, $\log\sigma^2 = a_v$ (F4), as in Kingma &
# Welling and in PyTorch's example, so the gradients above are exactly the ones a
# student derives. $\sigma^2 = e^{\log\sigma^2}$ overflows float32 at $\log\sigma^2 \approx
# 88.7$; if a step would get there, npae stops with `LogVarianceOverflow` (a
# `TrainingDiverged`) instead of producing inf. The opt-in numerical safeguard
# `logvar_bound=κ` replaces (F4) by $\log\sigma^2 = \kappa\tanh(a_v/\kappa)$ (F4b), which keeps
# every exponential finite for any head output and adds the factor
# $1 - (\log\sigma^2/\kappa)^2$ to the backward pass (B6b); it is off here.
#
# ## 3. Every gradient, checked with ε fixed
#
# Given $\varepsilon$, one training step is a deterministic function of the parameters
# and the batch, so finite differences apply. `check_model` checks each loss term alone
# (`recon`, `kl`), both together, and the gradient with respect to the input. tanh and
# softplus hidden units are smooth everywhere (ReLU's kink at 0 would need a point chosen
# away from it; `tests/test_vae.py` does that too). Small models, float64:

# %%
rng = np.random.default_rng(0)
Xg = rng.uniform(0.05, 0.95, (4, 6))                                  # (B, D) = (4, 6)
eps_g = rng.standard_normal((4, 3))                                   # ε fixed, (B, H)
configs = {
    "Bernoulli decoder": dict(output="bernoulli", activation="tanh"),
    "Gaussian, fixed σ²_x = 0.3": dict(output="gaussian", decoder_variance=0.3,
                                      activation="softplus"),
    "Gaussian, learned σ²_x": dict(output="gaussian", decoder_variance="learned",
                                   activation="tanh", beta=2.0),
}
for title, kw in configs.items():
    small = VAE(hidden_layer_sizes=(5,), latent_dim=3, dtype="float64", random_state=1,
                verbose=False, **kw).initialize(6)
    for k, v in small.params_.items():                                 # move off the init
        v += 0.3 * rng.standard_normal(v.shape)
    report = check_model(small, Xg, noise=eps_g)
    print(f"--- {title}: largest relative error {report.max_rel_error:.1e}")
    if title.startswith("Gaussian, learned"):
        print(report)

# %% [markdown]
# Every relative error is around $10^{-11}$, far below the $10^{-7}$ threshold. The
# `kl` rows of the decoder parameters are exactly zero: the KL depends on the encoder only.
#
# ## 4. The forward pass against the equations
#
# **The KL.** For one example, draw many $\varepsilon$, form $z$ with the model's own
# forward pass, and average $\log q(z\mid x) - \log p(z)$ written out from the Gaussian
# densities. The mean must match the analytic KL within a few standard errors.
# **The distribution of z.** The same samples must have mean $\mu$ and variance
# $\sigma^2 = e^{\log\sigma^2}$; the variance-for-standard-deviation bug would give
# $\sigma^4$.

# %%
M = 2000 if FAST else 20000
small = VAE(hidden_layer_sizes=(5,), latent_dim=3, activation="tanh", dtype="float64",
            random_state=1, verbose=False).initialize(6)
small.params_["mu.b"][:] = [0.8, -1.2, 0.3]
small.params_["logvar.b"][:] = [-1.5, 0.9, -0.4]
Xm = np.repeat(Xg[:1], M, axis=0)                                     # one x, M times
f = small.forward(Xm, rng.standard_normal((M, 3)))
mu, var = f.mu[0], np.exp(f.logvar[0])
log_q = np.sum(-0.5 * np.log(2 * np.pi * var) - (f.z - mu) ** 2 / (2 * var), axis=1)
log_p = np.sum(-0.5 * np.log(2 * np.pi) - f.z ** 2 / 2, axis=1)
mc, se = (log_q - log_p).mean(), (log_q - log_p).std(ddof=1) / np.sqrt(M)
print(f"analytic KL {f.kl[0]:.4f};  Monte Carlo {mc:.4f} ± {se:.4f}  "
      f"({abs(mc - f.kl[0]) / se:.1f} standard errors apart)")
print("mean of z     ", np.round(f.z.mean(0), 3), "  μ ", np.round(mu, 3))
print("variance of z ", np.round(f.z.var(0, ddof=1), 3), "  σ²", np.round(var, 3),
      "  σ⁴ (the bug)", np.round(var ** 2, 3))

# %% [markdown]
# ## 5. Training on MNIST
#
# The reference setting of PyTorch's `examples/vae`: encoder 784-400-(20, 20), decoder
# 20-400-784, ReLU, Bernoulli decoder on pixels/255, Adam with learning rate $10^{-3}$,
# batch 128, 10 epochs. That example's README reports a test loss of 105.6–105.9 nats
# per example (a cross-entropy score on grey levels, section 2); npae's VAE reaches 105.62
# in this setting with seed 0 (printed by `pytest tests/test_vae.py -m mnist -s`; this
# run prints its own below). (In fast mode: a small model on a
# little data, for a quick run-through.) The history's `kl` is the KL term as it enters
# the loss, $\beta_t$ times the KL in nats ($\beta = 1$ here, so the same number);
# `VAE.posterior_kl` gives the KL in nats per example.

# %%
vae = VAE(hidden_layer_sizes=HIDDEN, latent_dim=8 if FAST else 20, activation="relu",
          output="bernoulli", learning_rate=1e-3, batch_size=128, epochs=EPOCHS,
          random_state=0, verbose=False)
t0 = time.perf_counter()
vae.fit(X_train, X_val=X_test)
print(f"trained in {time.perf_counter() - t0:.1f} s")
h = vae.history_
for e in range(len(h["epoch"])):
    print(f"epoch {h['epoch'][e]:2d}: train recon {h['recon'][e]:7.2f}  kl {h['kl'][e]:6.2f}   "
          f"test -ELBO {h['val_loss'][e]:7.2f}")
plotting.loss_curves(h, path=out("05_loss.png"))
print(f"test -ELBO score (one ε per example): {-vae.score(X_test):.2f} nats; mean KL in nats "
      f"{np.mean(vae.posterior_kl(X_test)):.2f}")

# %% [markdown]
# For binary data the ELBO is a lower bound on $\log p(x)$. A tighter estimate uses $K$ samples as
# importance samples (Burda et al. 2016):
#
# $$ \log \hat p_K(x) = \log \frac1K \sum_{k=1}^K \frac{p(x\mid z_k)\,p(z_k)}{q(z_k\mid x)},
#    \qquad z_k \sim q(z\mid x), $$
#
# whose expectation rises with $K$ towards $\log p(x)$ and equals the ELBO at $K = 1$. The
# log-weights $\log w_k$ are sums over 784 pixels and spread over hundreds of nats across
# examples and samples; $e^{\log w}$ leaves float64's range below ≈ −745 (underflow to 0)
# or above ≈ 709 (overflow; a Gaussian decoder with a small variance gives large
# positive log-weights). ($e^{-100} \approx 3.7\times10^{-44}$ itself is an ordinary float64.)
# So `npae.likelihood` sums them as a log-sum-exp with the maximum subtracted, where
# every exponent is ≤ 0 and the largest term is exactly 1, for all examples and samples
# at once.
#
# **What the numbers are.** On grey-level pixels the Bernoulli decoder is not a density
# (section 2), so the importance-sampled value below is a cross-entropy *score* in nats,
# comparable between models on the same data but not $\log p(x)$. A true log-likelihood
# needs binary data: the second cell trains the same VAE with dynamic binarization
# (`binarize=True`: every pixel resampled as a Bernoulli draw of its grey level at every
# step) and evaluates $\log\hat p_K(x)$ on test digits binarized once
# (`npae.likelihood.binarized_log_likelihood`, which states the binarization and $K$), the
# setting of the IWAE paper's Table 1 (which uses $K = 5000$).

# %%
n_is, K = (50, 20) if FAST else (500, 1000)
t0 = time.perf_counter()
for k in sorted({1, 10, K}):
    ll = importance_sampled_log_likelihood(vae, X_test[:n_is], n_samples=k, random_state=0)
    print(f"K = {k:4d}: mean importance-sampled score {ll.mean():8.2f} ± "
          f"{ll.std(ddof=1) / np.sqrt(n_is):.2f} nats  (first {n_is} test digits, grey levels: "
          f"a cross-entropy score, not log p(x))")
print(f"ELBO score on the same digits: {np.mean(elbo(vae, X_test[:n_is], random_state=0)):8.2f}; "
      f"{time.perf_counter() - t0:.1f} s")

# %%
t0 = time.perf_counter()
vae_bin = VAE(hidden_layer_sizes=HIDDEN, latent_dim=8 if FAST else 20, activation="relu",
              output="bernoulli", binarize=True, learning_rate=1e-3, batch_size=128,
              epochs=EPOCHS, random_state=0, verbose=False).fit(X_train)
res = binarized_log_likelihood(vae_bin, X_test[:n_is], n_samples=K, random_state=0)
print(f"dynamically binarized VAE ({time.perf_counter() - t0:.1f} s): log p(x) = "
      f"{res['log_likelihood']:.2f} ± {res['standard_error']:.2f} nats on {res['n_examples']} "
      f"binarized test digits, K = {res['n_samples']}; {res['binarization']}")

# %% [markdown]
# ## 6. Samples, reconstructions, interpolations
#
# Sampling is now easy: $z \sim \mathcal N(0, I)$, then the decoder's mean $\mathrm{sigm}(A'(z))$.

# %%
plotting.image_grid(vae.sample(64, random_state=0), ncols=8, path=out("05_samples.png"),
                    title="samples: z ~ N(0, I), decoded mean")
plotting.reconstructions(X_test[:10], vae.reconstruct(X_test[:10]),
                         path=out("05_reconstructions.png"))

# %% [markdown]
# Interpolating between the codes $\mu(x_a)$ and $\mu(x_b)$ of two test digits: linearly,
# and spherically (slerp). $\mathcal N(0, I)$ puts most of its mass near the sphere of
# radius $\approx\sqrt H$. The linear path's norm is convex along the path, so it never
# exceeds the larger end's, and when the two codes point in different directions its
# middle dips below both ends (for orthogonal codes of equal norm $r$, to $r/\sqrt2$) —
# towards a region the decoder saw less of; for nearly parallel codes it does not dip.
# Slerp rotates instead: between two codes of equal norm it keeps that norm exactly, and
# between unequal norms its norm stays between theirs only roughly (it can bulge above
# them). So it stays near the $\sqrt H$ sphere only if the endpoints are near it; the
# posterior means $\mu(x)$ usually have norms below $\sqrt H$ (printed, with the norms
# along both paths).

# %%
pairs = [(0, 1), (2, 3), (4, 7)]
rows = []
for a, b in pairs:
    for method in ("linear", "spherical"):
        rows.append((f"{y_test[a]}→{y_test[b]} {method[:3]}",
                     vae.interpolate(X_test[a], X_test[b], n_steps=10, method=method)))
plotting.image_rows(rows, n=10, path=out("05_interpolations.png"),
                    title="interpolations between test codes")
mu_ab = vae.transform(X_test[[0, 1]])
path_lin = vae_module.interpolate_codes(mu_ab[0], mu_ab[1], 9, "linear")
path_sph = vae_module.interpolate_codes(mu_ab[0], mu_ab[1], 9, "spherical")
print(f"√H = {np.sqrt(vae.latent_dim):.2f}; cosine between the two codes "
      f"{mu_ab[0] @ mu_ab[1] / np.prod(np.linalg.norm(mu_ab, axis=1)):.2f}")
print("norms along the linear path:   ", np.round(np.linalg.norm(path_lin, axis=1), 2))
print("norms along the spherical path:", np.round(np.linalg.norm(path_sph, axis=1), 2))

# %% [markdown]
# ## 7. A 2-D latent space: the manifold of digits
#
# With $H = 2$ we can look at the whole latent space. Decoding a grid of Gaussian
# quantiles $\Phi^{-1}(p)$, $p \in [0.05, 0.95]$, covers the prior evenly in probability
# (Kingma & Welling 2014, fig. 4). Compare with section 1: the VAE's codes fill the
# prior's disk, so every grid point decodes to a plausible digit and neighbouring points
# to similar ones.

# %%
vae2 = VAE(hidden_layer_sizes=HIDDEN, latent_dim=2, activation="relu", output="bernoulli",
           epochs=EPOCHS, random_state=0, verbose=False).fit(X_train)
print(f"2-D VAE test -ELBO: {-vae2.score(X_test):.2f} nats")
plotting.latent_grid(vae2.inverse_transform, n=20, path=out("05_manifold.png"),
                     title="2-D VAE: decoded grid of N(0, 1) quantiles")
codes_vae = vae2.transform(X_test)
plotting.codes_2d(codes_vae, y_test, path=out("05_vae_codes.png"),
                  title="VAE codes μ(x) (test)")
print(f"grid points with no code nearby: VAE {100 * empty_fraction(codes_vae):.0f}%, "
      f"AE {100 * empty_fraction(codes):.0f}%")

# %% [markdown]
# ## 8. The effect of β
#
# $\beta$ weighs the KL against the reconstruction (Higgins et al. 2017). Small $\beta$
# is close to a plain autoencoder: sharp reconstructions, codes free to spread, a worse
# match to the prior. Large $\beta$ pulls every $q(z\mid x)$ towards $\mathcal N(0, I)$:
# blurrier reconstructions, and the KL concentrates in fewer latent units. (The average
# KL is not exactly the information the code carries: $\mathbb E_x\,\mathrm{KL}(q(z\mid x)\,\|\,
# p(z)) = I_q(x; z) + \mathrm{KL}(q(z)\,\|\,p(z))$ with $q(z)$ the aggregate posterior
# $\mathbb E_x q(z\mid x)$, so it is an upper bound on the mutual information $I_q(x; z)$.) A unit is *active* when its posterior mean varies
# across the data, $\operatorname{Var}_x \mu_j(x) > 0.01$ (Burda et al. 2016); we also
# print the average KL each unit carries (E4 per coordinate) and count the units below
# 0.1 nat, which are nearly switched off. Every model is evaluated by the same ELBO
# ($\beta = 1$), so the last column compares.

# %%
n_beta = 1000 if FAST else 20000
rows = []
print(f"{'beta':>5} {'recon':>8} {'KL':>7} {'-ELBO':>8} {'active':>7} {'KL<0.1':>7}  "
      f"KL per unit, sorted (nats)")
for beta in (0.25, 1.0, 4.0):
    mb = VAE(hidden_layer_sizes=HIDDEN, latent_dim=8 if FAST else 20, beta=beta,
             epochs=1 if FAST else 5, random_state=0, verbose=False).fit(X_train[:n_beta])
    _, values = mb.loss(X_test, noise=mb.sample_noise(X_test, np.random.default_rng(0)))
    mu_t, logvar_t = mb.encode(X_test)
    kl_unit = np.mean(-0.5 * (1 + logvar_t - mu_t ** 2 - np.exp(logvar_t)), axis=0)  # (H,)
    active = int(np.sum(mu_t.var(axis=0) > 0.01))
    print(f"{beta:5.2f} {values['recon']:8.2f} {kl_unit.sum():7.2f} "           # KL in nats
          f"{values['recon'] + kl_unit.sum():8.2f} {active:4d}/{mb.latent_dim} "
          f"{int(np.sum(kl_unit < 0.1)):4d}/{mb.latent_dim}  {np.round(np.sort(kl_unit)[::-1], 1)}")
    rows.append((f"β={beta:g} recon", mb.reconstruct(X_test[:10])))
    rows.append((f"β={beta:g} sample", mb.sample(10, random_state=1)))
plotting.image_rows([("test digits", X_test[:10])] + rows, n=10, path=out("05_beta.png"),
                    title="reconstructions and prior samples for three values of β")

# %% [markdown]
# Reading the table (on MNIST): as $\beta$ grows the KL falls and the reconstruction
# error rises. $\beta = 1$ gives the best ELBO — it is the objective that *is* the ELBO.
# $\beta < 1$ reconstructs best, but its codes match $\mathcal N(0, I)$ less well, so
# its samples from the prior are worse; $\beta > 1$ gives smooth, blurry digits and
# spends its KL on a few units while others carry almost nothing. (After the short
# training here, few units are fully switched off yet; with longer training at large
# $\beta$ they drop below Burda's threshold one by one.)
#
# **Further options.** `kl_warmup_epochs=W` ramps the KL weight linearly from 0 over the
# first $W$ epochs (Bowman et al. 2016), which helps against units switching off early;
# `binarize=True` resamples every pixel as a Bernoulli draw at each step (dynamic
# binarization), the setting in which published MNIST log-likelihoods are reported.

# %% [markdown]
# ## 9. Why a VAE, and not plain maximum likelihood?
#
# **Closeness in pixel space is the wrong closeness.** A model that scores images by a
# pixel-wise likelihood around known digits (a Gaussian at each training image, say, as
# a kernel density estimate does) ranks images by their pixel distance. Take a test
# digit, erase a patch of it, and separately shift it by 2 pixels:

# %%
x0 = X_test[0].reshape(28, 28)
ink = np.lib.stride_tricks.sliding_window_view(x0, (6, 6)).sum(axis=(2, 3))   # (23, 23)
r0, c0 = np.unravel_index(np.argmax(ink), ink.shape)                 # the inkiest 6×6 window
erased = x0.copy()
erased[r0:r0 + 6, c0:c0 + 6] = 0.0                                   # erased
shifted = np.zeros_like(x0)
shifted[:, 2:] = x0[:, :-2]                                          # 2 pixels to the right
mse_erased = float(np.mean((erased - x0) ** 2))
mse_shifted = float(np.mean((shifted - x0) ** 2))
print(f"pixel MSE against the original: erased patch {mse_erased:.4f}, shifted by 2 pixels "
      f"{mse_shifted:.4f}; the erased one is closer: {mse_erased < mse_shifted}")
plotting.image_rows([("", np.stack([x0, erased, shifted]).reshape(3, -1))], n=3,
                    path=out("05_erase_vs_shift.png"),
                    title=f"original | erased (MSE {mse_erased:.3f}) | shifted (MSE {mse_shifted:.3f})")

# %% [markdown]
# A person sees the shifted digit as the same digit and the erased one as damaged; pixel
# distance says the opposite. A latent-variable model $p(x) = \int p(x\mid z)p(z)\,dz$
# can put both right: "this digit, moved a little" is a small change of $z$, and the
# decoder $p(x\mid z)$ only has to be good near the images it generates.
#
# **But then $p(x)$ is an integral, and sampling the prior is hopeless.** The direct
# estimate $p(x) \approx \frac1K\sum_k p(x\mid z_k)$, $z_k \sim p(z)$, is unbiased, but
# almost every $z$ from the prior decodes to some other digit, with $p(x\mid z)$ smaller
# by hundreds of nats, so the sum is carried by the rare $z$ that land near $x$'s
# posterior. Importance sampling draws $z$ from the encoder's $q(z\mid x)$ instead
# (section 5). Both for the dynamically binarized VAE of section 5, on binarized test
# digits (so both estimate a true $\log p(x)$), each repeated with fresh samples: the
# mean over digits of each estimate, and the spread (standard deviation over repeats,
# averaged over digits).

# %%
n_ml, repeats = (3, 2) if FAST else (10, 5)
X_bin = binarize(X_test[:n_ml], random_state=0)                      # (n, D) binary


def prior_log_likelihood(model, X, K, rng):
    """log (1/K) Σ_k p(x|z_k) with z_k ~ N(0, I), the same K codes for every row of X."""
    Z = rng.standard_normal((K, model.latent_dim)).astype(model._dtype)
    A = model.decode_logits(Z).astype(np.float64)                    # (K, D) logits
    log_px = -(np.sum(np.logaddexp(0, A), axis=1)[None, :] - X @ A.T)   # (n, K) −BCE
    return logsumexp(log_px, axis=1) - np.log(K)                     # (n,)


rows_ml = []
for K_ml in (10, 100, 1000):
    prior = np.array([prior_log_likelihood(vae_bin, X_bin, K_ml, np.random.default_rng(r))
                      for r in range(repeats)])                       # (repeats, n)
    imp = np.array([importance_sampled_log_likelihood(vae_bin, X_bin, n_samples=K_ml,
                                                      random_state=r)
                    for r in range(repeats)])
    rows_ml.append((K_ml, prior.mean(), prior.std(axis=0).mean(), imp.mean(),
                    imp.std(axis=0).mean()))
print(f"{'K':>5} {'prior sampling':>15} {'spread':>8} {'importance (q)':>15} {'spread':>8}")
for K_ml, pm, ps, im, isd in rows_ml:
    print(f"{K_ml:5d} {pm:15.2f} {ps:8.2f} {im:15.2f} {isd:8.2f}")

# %% [markdown]
# Both estimators are unbiased for $p(x)$ and both underestimate $\log p(x)$ (Jensen),
# but the prior-sampling estimate sits far below the importance-sampled one at every
# $K$ printed above. Its estimate of $p(x)$ has an enormous variance — the average is
# carried by rare, huge terms that $K$ draws mostly miss — and in log space that shows as
# a large downward bias that shrinks only slowly with $K$ (a small spread over repeats
# does not help when every repeat misses the same way). To hit the region where
# $p(x\mid z)$ is large, sampling the prior needs a number of samples that grows with
# how small that region is under the prior. The encoder exists to propose $z$ there: $q(z\mid x)$ is a
# learned importance distribution, and the ELBO is the $K = 1$ case of this estimate.
#
# **A simple prior suffices once a network warps it.** $\mathcal N(0, I)$ looks too
# simple for digits, but any distribution in $d$ dimensions is a deterministic function
# of $d$ standard normals (Doersch 2016, fig. 2): a fixed small function moves the
# Gaussian's mass onto a ring.

# %%
z_ring = np.random.default_rng(3).standard_normal((2000, 2))
ring = z_ring / 10 + z_ring / np.linalg.norm(z_ring, axis=1, keepdims=True)   # g(z)
fig = Figure(figsize=(7.0, 3.4), layout="constrained")
ax_z, ax_g = fig.subplots(1, 2)
ax_z.scatter(*z_ring.T, s=2)
ax_z.set_title(r"$z \sim \mathcal{N}(0, I)$")
ax_g.scatter(*ring.T, s=2, color="C1")
ax_g.set_title(r"$g(z) = z/10 + z/\|z\|$")
for a_ in (ax_z, ax_g):
    a_.set_aspect("equal")
    a_.set_xlim(-3.5, 3.5)
    a_.set_ylim(-3.5, 3.5)
plotting.save_figure(fig, out("05_ring.png"))
print(f"radius of g(z): mean {np.linalg.norm(ring, axis=1).mean():.2f}, "
      f"std {np.linalg.norm(ring, axis=1).std():.2f}")
fig

# %% [markdown]
# The decoder of a VAE is such a function, learned: it warps $\mathcal N(0, I)$ onto the
# digits.
#
# ## 10. The KL divergence: what it is and is not
#
# $\mathrm{KL}(p\,\|\,q) = \mathbb E_p[\log p(x) - \log q(x)]$.
#
# **It is never negative (Gibbs' inequality).** $\log$ is concave, so by Jensen
# $\mathbb E[\log Y] \le \log\mathbb E[Y]$; with $Y = q(x)/p(x)$ under $p$,
#
# $$ -\mathrm{KL}(p\,\|\,q) = \mathbb E_p\Big[\log\frac{q(x)}{p(x)}\Big]
#    \le \log \mathbb E_p\Big[\frac{q(x)}{p(x)}\Big] = \log\sum_x q(x) = 0, $$
#
# with equality iff $q/p$ is constant, i.e. $p = q$. Checked on random pairs of
# distributions over 5 outcomes:

# %%
kl_rng = np.random.default_rng(0)
P_kl = kl_rng.dirichlet(np.ones(5), size=10000)                      # (10000, 5)
Q_kl = kl_rng.dirichlet(np.ones(5), size=10000)


def kl_discrete(p, q):
    return np.sum(p * (np.log(p) - np.log(q)), axis=-1)


kls = kl_discrete(P_kl, Q_kl)
print(f"10,000 random pairs: smallest KL(p‖q) {kls.min():.2e} (≥ 0), KL(p‖p) = "
      f"{np.abs(kl_discrete(P_kl, P_kl)).max():.1f}")
cross_entropy = -np.sum(P_kl * np.log(Q_kl), axis=1)                 # H(p, q)
entropy = -np.sum(P_kl * np.log(P_kl), axis=1)                       # H(p)
print(f"KL = cross-entropy − entropy: max |KL − (H(p, q) − H(p))| = "
      f"{np.max(np.abs(kls - (cross_entropy - entropy))):.1e}; first pair: "
      f"H(p, q) = {cross_entropy[0]:.4f}, H(p) = {entropy[0]:.4f}, KL = {kls[0]:.4f}")

# %% [markdown]
# So minimising a cross-entropy $H(p, q)$ over $q$ (a classifier's loss, a decoder's
# reconstruction term with $p$ the data) is minimising $\mathrm{KL}(p\,\|\,q)$: $H(p)$
# does not depend on $q$.
#
# **It is not symmetric, so it is not a distance.** For two Bernoullis and two
# Gaussians, with the closed forms $\mathrm{KL}(\mathcal N(\mu_1, s_1^2)\,\|\,\mathcal
# N(\mu_2, s_2^2)) = \log\frac{s_2}{s_1} + \frac{s_1^2 + (\mu_1 - \mu_2)^2}{2 s_2^2} -
# \frac12$:

# %%
def kl_bernoulli(a, b):
    return a * np.log(a / b) + (1 - a) * np.log((1 - a) / (1 - b))


def kl_gauss(m1, s1, m2, s2):
    return np.log(s2 / s1) + (s1 ** 2 + (m1 - m2) ** 2) / (2 * s2 ** 2) - 0.5


print(f"Bernoulli: KL(0.1 ‖ 0.5) = {kl_bernoulli(0.1, 0.5):.4f},  "
      f"KL(0.5 ‖ 0.1) = {kl_bernoulli(0.5, 0.1):.4f}")
print(f"Gaussian:  KL(N(0, 1) ‖ N(1, 2²)) = {kl_gauss(0, 1, 1, 2):.4f},  "
      f"KL(N(1, 2²) ‖ N(0, 1)) = {kl_gauss(1, 2, 0, 1):.4f}")
samples_g = np.random.default_rng(1).normal(0, 1, 200000)            # Monte Carlo of the first
log_n = lambda x, m, s: -0.5 * np.log(2 * np.pi * s ** 2) - (x - m) ** 2 / (2 * s ** 2)  # noqa: E731
print(f"Monte Carlo of KL(N(0, 1) ‖ N(1, 2²)): "
      f"{np.mean(log_n(samples_g, 0, 1) - log_n(samples_g, 1, 2)):.4f}")

# %% [markdown]
# **KL ≥ 0 does not mean $\log p(x) > \log q(x)$ everywhere.** Both are normalised, so
# if $p$ is larger somewhere it is smaller somewhere else. The inequality holds for the
# *average* under $p$:

# %%
p1, q1 = 0.1, 0.5                                                    # Bernoulli(p1), (q1)
for x_val in (0, 1):
    lp = np.log(p1 if x_val else 1 - p1)
    lq = np.log(q1 if x_val else 1 - q1)
    print(f"x = {x_val}: log p(x) = {lp:.4f}, log q(x) = {lq:.4f}, log p − log q = {lp - lq:+.4f}")
print(f"and still KL(p‖q) = E_p[log p − log q] = {kl_bernoulli(p1, q1):.4f} > 0")

# %% [markdown]
# **Why the encoder outputs $\log\sigma^2$.** A dense layer's output is any real number
# and a variance must be positive; $\sigma^2 = e^{\log\sigma^2}$ maps $\mathbb R$ onto
# $(0, \infty)$, so the head needs no constraint and no clipping.
#
# ## Common misreadings
#
# > **"KL ≥ 0 because $\log p > \log q$ everywhere."** No: at $x = 1$ above,
# > $\log p(x) < \log q(x)$, and the KL is still positive. Gibbs' inequality is about the
# > $p$-average of $\log p - \log q$, by Jensen.
#
# > **"Jensen's inequality gives the ELBO as an upper bound"** (or, the direction
# > reversed: $\mathbb E\log \ge \log\mathbb E$). $\log$ is concave, so
# > $\log p(x) = \log\mathbb E_q[w] \ge \mathbb E_q[\log w] = \mathrm{ELBO}$ with
# > $w = p(x, z)/q(z\mid x)$: the ELBO is a **lower** bound. Settled by section 5's
# > printed numbers (the importance-sampled score rises with $K$ above the ELBO) and by
# > one digit's weights below.
#
# > **"MNIST pixels are 0 or 1."** They are grey levels (printed below: most ink pixels
# > lie strictly between 0 and 1), and a Bernoulli decoder's $\prod_d \lambda_d^{x_d}(1 -
# > \lambda_d)^{1 - x_d}$ is then not a density on $[0, 1]^D$: per pixel it integrates to
# > $(2\lambda - 1)/\log\frac{\lambda}{1 - \lambda} \le \tfrac12$ (printed for
# > $\lambda = 0.9$). The cross-entropy on grey levels is a score; a true
# > log-likelihood needs binary images (section 5's `binarized_log_likelihood`).

# %%
log_w = log_importance_weights(vae_bin, X_bin[:1], n_samples=1000, random_state=0)[0]
print(f"one digit, 1000 samples from q: mean of log w (ELBO) {log_w.mean():.2f} ≤ "
      f"log of the mean of w {logsumexp(log_w) - np.log(len(log_w)):.2f}")
ink_px = X_train[X_train > 0]
print(f"MNIST-style pixels: {np.mean(ink_px < 1):.1%} of the non-zero pixels are "
      f"strictly between 0 and 1; distinct values: {len(np.unique(X_train))}")
lam_px = 0.9
print(f"∫₀¹ λ^x (1 − λ)^(1−x) dx at λ = {lam_px}: "
      f"{(2 * lam_px - 1) / np.log(lam_px / (1 - lam_px)):.4f} (a density would give 1)")

# %%
print(f"tutorial finished in {time.perf_counter() - START:.1f} s")
