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
# # 04 · Contractive autoencoders: penalising the encoder's Jacobian
#
# A contractive autoencoder (Rifai et al. 2011) asks the code to be *insensitive* to small
# moves of the input: it adds the squared Frobenius norm of the encoder's Jacobian,
# $\|J_f(x)\|_F^2 = \sum_{ij} (\partial h_j/\partial x_i)^2$, to the loss. Directions in which
# the data really varies must still be encoded (or the reconstruction suffers); all other
# directions get contracted. This tutorial
#
# 1. derives the Jacobian of a sigmoid encoder and its closed-form norm, and checks it
#    against the explicit $B\times D\times H$ Jacobian and against finite differences;
# 2. derives the gradient of the penalty — $W$ reaches it twice — and checks it;
# 3. trains a contractive and a plain autoencoder and measures the contraction;
# 4. measures what the closed form saves.
#
# Run as a script (`python tutorials/04_contractive.py`; `NPAE_FAST=1` for a quick pass;
# `NPAE_DATA=<folder holding mnist/>` to use MNIST) or open with jupytext. Figures go to
# `NPAE_TUTORIAL_OUT` (default `tutorial-output/`).

# %%
import inspect
import time

import numpy as np
from matplotlib.figure import Figure

from _setup import FAST, START, out  # Agg backend, npae from a checkout, NPAE_FAST
from npae import Autoencoder, datasets, penalties, plotting
from npae.gradcheck import check_model, relative_error
from npae.layers import sigmoid
from npae.metrics import mean_jacobian_norm
from npae.models.regularized import ContractiveAutoencoder


# %%
X_train, _, X_test, _, source = datasets.load_digits(400 if FAST else 20000, 200 if FAST else 5000)
print(f"data: {source}; train {X_train.shape}, test {X_test.shape}")

# %% [markdown]
# ## 1. The Jacobian of a sigmoid encoder
#
# One layer, $h = \sigma(a)$, $a = xW + b$ with $W$ of shape $(D, H)$. Code unit $j$ depends
# on input $i$ through $a_j = \sum_i x_i W_{ij} + b_j$, and $\sigma'(a) = \sigma(a)(1-\sigma(a))$:
#
# $$ J_{ij} = \frac{\partial h_j}{\partial x_i} = h_j(1-h_j)\,W_{ij} = s_j W_{ij},
#    \qquad s_j = h_j(1-h_j). \tag{F6} $$
#
# Squaring and summing, the factor $s_j$ does not depend on $i$, so the double sum splits
# into a product per unit:
#
# $$ \|J_f(x)\|_F^2 = \sum_j s_j^2 \sum_i W_{ij}^2 = \sum_j s_j^2\, q_j,
#    \qquad q_j = \sum_i W_{ij}^2. \tag{F7} $$
#
# For a batch, $R = \lambda\,\frac1B\sum_n \|J_f(x_n)\|_F^2$ penalties (P12): $O(BH + DH)$ work instead of
# the $O(BDH)$ numbers of the explicit Jacobian. Three ways to the same number:

# %%
rng = np.random.default_rng(0)
Bc, Dc, Hc = 6, 7, 5
Xc = rng.uniform(0.05, 0.95, size=(Bc, Dc))
W = rng.normal(scale=0.8, size=(Dc, Hc))
b = rng.normal(scale=0.5, size=Hc)
h = sigmoid(Xc @ W + b)

closed = penalties.contractive(h, W, 1.0)                         # (P11)-(P12)
explicit = penalties.contractive_explicit(h, W, 1.0)              # einsum -> (B, D, H)
eps = 1e-6
E = np.eye(Dc)
J_fd = (sigmoid((Xc[:, None, :] + eps * E) @ W + b)               # f(x + ε e_i), all n, i
        - sigmoid((Xc[:, None, :] - eps * E) @ W + b)) / (2 * eps)  # (B, D, H)
fd = np.sum(J_fd ** 2) / Bc
print(f"closed form      {closed:.12f}")
print(f"explicit J       {explicit:.12f}")
print(f"finite-diff J    {fd:.12f}")
print(f"max |J_explicit - J_fd| = {np.abs(penalties.sigmoid_encoder_jacobian(h, W) - J_fd).max():.1e}")
print(inspect.getsource(penalties.contractive))

# %% [markdown]
# ## 2. The gradient: $W$ reaches the penalty twice
#
# In (P11) $W$ appears inside $q_j$ *and* inside $s_j$ (through $a = xW + b$). Holding one
# fixed at a time, with $\partial s/\partial h = 1 - 2h$:
#
# $$ \frac{\partial R}{\partial h_{nj}}\Big|_q = \frac{2\lambda}{B}\, s_{nj}\, q_j\,(1 - 2h_{nj}) \tag{B5} $$
# $$ \frac{\partial R}{\partial W_{ij}}\Big|_h = \frac{2\lambda}{B}\, W_{ij} \sum_n s_{nj}^2 \tag{B6} $$
#
# (P13) is then carried down the encoder like any gradient on the code, through $\sigma'$ into
# $W$, $b$ and $x$; (P14) is added to $dW$ where the reader can see it:
# `grads["enc.0.W"] += dW_q` in `npae/models/autoencoder.py` (B11). Both parts are needed:

# %%
dh, dW_q = penalties.contractive_grad(h, W, 1.0)
dh_x, dW_q_x = penalties.contractive_explicit_grad(h, W, 1.0)     # chain rule through J
print(f"closed form vs explicit-Jacobian chain rule: dh {relative_error(dh, dh_x):.1e}, "
      f"dW_q {relative_error(dW_q, dW_q_x):.1e}")
dA = dh * h * (1 - h)                                             # through σ'
dW_total = Xc.T @ dA + dW_q
print(f"|dW via h| = {np.linalg.norm(Xc.T @ dA):.4f}, |dW via q| = {np.linalg.norm(dW_q):.4f}")
print(f"relative error if the q part were forgotten: {relative_error(Xc.T @ dA, dW_total):.2f}; "
      f"if the h part were forgotten: {relative_error(dW_q, dW_total):.2f}")

cae_small = ContractiveAutoencoder((Hc,), contractive_weight=0.7, dtype="float64",
                                   random_state=0).initialize(Dc)
print(check_model(cae_small, Xc))

# %% [markdown]
# **Deeper encoders.** For two or more layers the Jacobian is a product of matrices and
# its norm no longer factorises; its exact gradient needs second derivatives of every
# layer. npae supports the contractive penalty for one sigmoid layer only, and says so
# (deep contractive encoders are built layer by layer, as Rifai et al. did).
# `Autoencoder.encoder_jacobian` still *measures* the exact Jacobian of any encoder.

# %%
try:
    Autoencoder((32, 8), contractive_weight=0.1).initialize(Dc)
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# ## 3. Contraction, measured
#
# A plain and a contractive autoencoder of the same size (64 sigmoid units, Bernoulli
# output), trained the same way. The mean $\|J_f(x)\|_F$ over test images (npae.metrics)
# tells how strongly the code reacts to an infinitesimal change of the input.

# %%
common = dict(hidden_layer_sizes=(32 if FAST else 64,), epochs=2 if FAST else 10,
              learning_rate=1e-2, batch_size=128, random_state=0, verbose=False)
plain = Autoencoder(**common).fit(X_train)
cae = ContractiveAutoencoder(contractive_weight=1.0, **common).fit(X_train)
for name, m in [("plain", plain), ("contractive λ=1", cae)]:
    print(f"{name:16s} mean ||J_f(x)||_F on test {mean_jacobian_norm(m, X_test):7.3f}   "
          f"test loss {-m.score(X_test):7.2f}   recon term {m.history_['recon'][-1]:7.2f}")


def jacobian_norms(model, X):
    J = model.encoder_jacobian(X)                                 # (N, D, H)
    return np.sqrt(np.sum(J ** 2, axis=(1, 2))), np.linalg.svd(J, compute_uv=False)


n_show = 200 if FAST else 1000
norms_p, sv_p = jacobian_norms(plain, X_test[:n_show])
norms_c, sv_c = jacobian_norms(cae, X_test[:n_show])
plotting.histogram([norms_p, norms_c], bins=40, labels=["plain", "contractive"],
                   xlabel=r"$\|J_f(x)\|_F$ per test image", title="encoder sensitivity",
                   path=out("04_jacobian_norms.png"))

# %% [markdown]
# The singular values of $J_f(x)$ say *which* directions survive. Rifai et al. show that a
# contractive encoder keeps a few large singular values — the directions along the data
# manifold (small translations, stroke thickness) — and shrinks the rest; the plain
# encoder's spectrum is flatter.

# %%
fig = Figure(figsize=(6.0, 4.0))
ax = fig.add_subplot()
for sv, label in [(sv_p, "plain"), (sv_c, "contractive")]:
    ax.plot(np.arange(1, sv.shape[1] + 1), sv.mean(axis=0), marker="o", ms=3, label=label)
ax.set_yscale("log")
ax.set_xlabel("index k (sorted)")
ax.set_ylabel(r"mean singular value $\sigma_k(J_f(x))$")
ax.set_title("singular values of the encoder Jacobian (test images)")
ax.legend()
ax.grid(alpha=0.3)
plotting.save_figure(fig, out("04_jacobian_spectrum.png"))
print("mean top-3 singular values: plain", np.round(sv_p.mean(0)[:3], 3),
      " contractive", np.round(sv_c.mean(0)[:3], 3))
print("mean singular value #20:    plain", np.round(sv_p.mean(0)[19], 4),
      " contractive", np.round(sv_c.mean(0)[19], 4))
n_sat = np.mean(np.all((cae.transform(X_test) < 0.01) | (cae.transform(X_test) > 0.99), axis=0))
print(f"fraction of contractive units saturated (h < 0.01 or > 0.99) on every test image: {n_sat:.2f}")
plotting.reconstructions(X_test[:10], cae.reconstruct(X_test[:10]), n=10,
                         titles=("original", "contractive AE"),
                         extra_rows=[("plain AE", plain.reconstruct(X_test[:10]))],
                         path=out("04_reconstructions.png"))
plotting.filters(cae.params_["enc.0.W"], n=64, title="contractive AE: encoder filters",
                 path=out("04_filters_contractive.png"))

# %% [markdown]
# On MNIST the plain encoder's spectrum stays high for about 25 directions, the contractive
# one's for about 15, and every singular value is several times smaller. The price is a
# somewhat higher reconstruction loss. Many of the contractive filters in
# `04_filters_contractive.png` look like noise: those units are saturated on every digit,
# where $s = h(1-h) \approx 0$ — the cheapest way to contribute nothing to $\|J_f\|_F$ —
# and a saturated unit's weights get almost no gradient from either term.

# %% [markdown]
# ## 4. What the closed form costs
#
# One training step of each, on a batch of 128 images (the benchmark
# `benchmarks/bench_contractive.py` does this with more repeats and prints a table).
# The closed form adds $O(BH + DH)$ to a step that costs $O(BDH)$; the explicit Jacobian
# alone costs $O(BDH)$ *memory* and several times a whole step.

# %%
Xb = X_train[:128]
reps = 3 if FAST else 20


def per_call(fn, n):
    fn()                                                          # warm-up
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


h_b = cae.transform(Xb)
W_b = cae.params_["enc.0.W"]
t_plain = per_call(lambda: plain.loss_and_grads(Xb), reps)
t_cae = per_call(lambda: cae.loss_and_grads(Xb), reps)
t_explicit = per_call(lambda: (penalties.contractive_explicit(h_b, W_b, 1.0),
                               penalties.contractive_explicit_grad(h_b, W_b, 1.0)),
                      max(1, reps // 4))
print(f"plain step                  {t_plain * 1e3:8.2f} ms")
print(f"contractive step (closed)   {t_cae * 1e3:8.2f} ms   ratio {t_cae / t_plain:.2f}")
print(f"explicit-Jacobian term only {t_explicit * 1e3:8.2f} ms   ratio {t_explicit / t_plain:.2f}")

# %%
print(f"done in {time.perf_counter() - START:.1f} s")
