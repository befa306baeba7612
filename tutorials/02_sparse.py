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
# # 02 · Sparse autoencoders: L1, KL sparsity and k-sparse codes
#
# An autoencoder with as many code units as it likes can copy its input. A *sparse*
# autoencoder is asked to explain each example with few active units, and then learns
# parts — strokes of digits, edges of natural images. This tutorial
#
# 1. writes the three ways npae makes a code sparse: an L1 penalty, a KL penalty on the
#    mean activation of each unit, and a hard k-sparse code;
# 2. derives the KL gradient through the batch mean $\hat\rho_j$ and checks it term by
#    term, then inside the whole model;
# 3. checks the L1 subgradient and the k-sparse mask, and shows what a gradient check
#    does at a kink;
# 4. trains the three on digits and compares code activations;
# 5. learns filters on whitened natural-image patches: localized, oriented edges.
#
# Notation (DESIGN.md): a batch $X$ is $(B, D)$; the code $h$ (or $z$) is $(B, H)$;
# $h_{nj}$ is unit $j$'s activation on example $n$.
#
# Run as a script (`python tutorials/02_sparse.py`; `NPAE_FAST=1` for a quick pass;
# `NPAE_DATA=<folder holding mnist/>` to use MNIST) or open with jupytext. Figures go to
# `NPAE_TUTORIAL_OUT` (default `tutorial-output/`).

# %%
import inspect
import time

import numpy as np

from _setup import FAST, START, out  # Agg backend, npae from a checkout, NPAE_FAST
from npae import Autoencoder, datasets, penalties, plotting
from npae.gradcheck import check_model, numerical_gradient, relative_error
from npae.metrics import fraction_near_zero, mean_activation
from npae.models.regularized import KSparseAutoencoder, SparseAutoencoder


# %% [markdown]
# ## Data
#
# MNIST when npae finds it, otherwise npae's synthetic digits
# rendered from matplotlib's fonts. Pixels are in $[0, 1]$.

# %%
X_train, _, X_test, _, source = datasets.load_digits(400 if FAST else 20000, 200 if FAST else None)
print(f"data: {source}; train {X_train.shape}, test {X_test.shape}")

# %% [markdown]
# ## 1. Three ways to a sparse code
#
# **L1 activity.** Add the absolute values of the codes, averaged over the batch:
#
# $$ R_{L1} = \lambda \frac{1}{B}\sum_{n}\sum_j |h_{nj}|, \qquad
#    \frac{\partial R_{L1}}{\partial h_{nj}} = \frac{\lambda}{B}\,\mathrm{sign}(h_{nj}). $$
#
# $|h|$ has no derivative at 0: any value in $[-1, 1]$ is a *subgradient* there, and npae
# takes 0 (`np.sign(0) == 0`), so an exactly-zero code (a ReLU unit that is off) is left
# alone.
#
# **KL sparsity** (Ng's notes) works on sigmoid units, $h \in (0, 1)$, read as the
# probability that a unit fires. The mean activation of unit $j$ over the batch,
#
# $$ \hat\rho_j = \frac{1}{B}\sum_n h_{nj}, \tag{F3} $$
#
# is pulled towards a small target $\rho$ (e.g. 0.05) by the KL divergence between two
# Bernoulli distributions:
#
# $$ R_{KL} = \beta \sum_j \mathrm{KL}(\rho\,\|\,\hat\rho_j), \qquad
#    \mathrm{KL}(\rho\,\|\,\hat\rho) = \rho\log\frac{\rho}{\hat\rho}
#    + (1-\rho)\log\frac{1-\rho}{1-\hat\rho}. \tag{F4} $$
#
# Unlike L1 it does not care about any single example: a unit may fire strongly on a few
# examples as long as it is quiet on average.
#
# **k-sparse** (Makhzani & Frey): no penalty at all. In each row keep the $k$ largest
# codes and zero the others, $z = h \odot M$; the gradient flows through the kept units
# only, $dh = dz \odot M$.
#
# All three live on `npae.Autoencoder` (hyperparameters `sparsity`, `sparsity_weight`,
# `sparsity_target`, `k`); `SparseAutoencoder` and `KSparseAutoencoder` are presets.

# %% [markdown]
# ## 2. The KL gradient, derived through $\hat\rho_j$
#
# $R_{KL}$ depends on $h$ only through the $H$ means $\hat\rho_j$. Differentiate penalties (P6)
# with respect to one mean:
#
# $$ \frac{\partial R}{\partial\hat\rho_j}
#    = \beta\left[-\frac{\rho}{\hat\rho_j} + \frac{1-\rho}{1-\hat\rho_j}\right]. \tag{B3} $$
#
# and (P5) gives $\partial\hat\rho_m/\partial h_{nj} = \delta_{mj}/B$: example $n$'s code on
# unit $j$ moves only unit $j$'s mean, by $1/B$. The chain rule sums over $m$ and keeps one
# term:
#
# $$ \frac{\partial R}{\partial h_{nj}} = \sum_m \frac{\partial R}{\partial\hat\rho_m}
#    \frac{\partial\hat\rho_m}{\partial h_{nj}}
#    = \frac{1}{B}\,\frac{\partial R}{\partial\hat\rho_j}. \tag{B4} $$
#
# So every example of the batch receives **the same** gradient on unit $j$ — the term
# they share. Below, each step is checked on its own: (P7) against central differences
# of $R(\hat\rho)$, then (P8) against central differences of $R(h)$.

# %%
rng = np.random.default_rng(0)
B, H, rho, beta = 6, 5, 0.05, 3.0
h = 1 / (1 + np.exp(-rng.normal(-1.0, 1.0, size=(B, H))))     # sigmoid codes in (0, 1)
rho_hat = h.mean(axis=0)                                       # (P5)
print("rho_hat =", np.round(rho_hat, 4))

def R_of_rho_hat(r):                                           # (P6) as a function of ρ̂
    return beta * np.sum(penalties.kl_divergence_bernoulli(rho, r))

dR_drho_hat = beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))         # (P7)
r = rho_hat.copy()
numeric = numerical_gradient(lambda: R_of_rho_hat(r), r)
print(f"(P7) dR/drho_hat: relative error {relative_error(dR_drho_hat, numeric):.1e}")

print(f"value: penalties.kl_sparsity = {penalties.kl_sparsity(h, rho, beta):.10f}, "
      f"(P6) on the batch mean = {R_of_rho_hat(rho_hat):.10f}")
dh = penalties.kl_sparsity_grad(h, rho, beta)                              # (P8)
hh = h.copy()
numeric_h = numerical_gradient(lambda: penalties.kl_sparsity(hh, rho, beta), hh)
print(f"(P8) dR/dh: relative error {relative_error(dh, numeric_h):.1e}")
print("every row of dR/dh is the same row (P8):", bool(np.all(dh == dh[0])))
print("and that row is (P7)/B:", np.allclose(dh[0], dR_drho_hat / B, rtol=1e-14))

# %% [markdown]
# The code that computes it, from `npae.penalties`:

# %%
print(inspect.getsource(penalties.kl_sparsity_grad))

# %% [markdown]
# **Keeping $\hat\rho$ away from 0 and 1.** In exact arithmetic sigmoid codes lie strictly in
# $(0, 1)$, but in floating point $\sigma(a)$ rounds to exactly 1 for $a \gtrsim 17$ (float32),
# and a unit saturated on the whole batch would divide by zero in (P7). npae evaluates (P6)
# and (P7) at $\min(\max(\hat\rho_j, \delta), 1-\delta)$ with $\delta$ the machine epsilon,
# and passes (P7) at that point on to every $h_{nj}$ unchanged (the clamp's own zero
# derivative is not applied). Inside $[\delta, 1-\delta]$ nothing changes; a saturated unit
# gets a finite gradient that still points back towards $\rho$:

# %%
h_sat = np.ones((4, 2), dtype=np.float32)                       # unit 0 saturated at 1
h_sat[:, 1] = 0.3
print("value", penalties.kl_sparsity(h_sat, rho, beta), "gradient row",
      penalties.kl_sparsity_grad(h_sat, rho, beta)[0])

# %% [markdown]
# ### Inside the model
#
# In `Autoencoder` the penalty's gradient joins the decoder's gradient on the code,
# $dz \mathrel{+}= \partial R/\partial z$ (equation B8 of `npae/models/autoencoder.py`), and both
# go down the encoder together. `check_model` checks the `recon` term alone, the `sparsity`
# term alone, both together, and the input gradient — in float64, for a two-layer encoder.

# %%
Xc = np.random.default_rng(1).uniform(0.05, 0.95, size=(5, 8))
sparse_small = SparseAutoencoder((6, 4), sparsity_target=0.1, sparsity_weight=3.0,
                                 dtype="float64", random_state=0).initialize(8)
print(check_model(sparse_small, Xc))

# %% [markdown]
# ## 3. L1 and k-sparse: checks at smooth points, and what a kink does
#
# With sigmoid codes $|h| = h$ is smooth (codes are never 0). With linear (identity) codes
# the L1 term has a kink wherever a code crosses 0. The checker moves one number by up to
# $2\varepsilon = 2\times10^{-3}$; so we pick a point where every code is further than that
# from 0 (and say how far) and the check passes. Then we move one code to $5\times10^{-4}$,
# inside the checker's reach: the central difference of $|a|$ there is
# $(|a+\varepsilon| - |a-\varepsilon|)/2\varepsilon = a/\varepsilon$, an average of the two
# slopes, not the slope $+1$ the backward pass (rightly) reports.

# %%
l1_model = Autoencoder((4,), activation="identity", sparsity="l1", sparsity_weight=0.5,
                       dtype="float64", random_state=0).initialize(8)
codes = l1_model.transform(Xc)
print(f"closest code to the kink: {np.abs(codes).min():.3f}")
print("L1 at a smooth point: max relative error "
      f"{check_model(l1_model, Xc).max_rel_error:.1e}")

# move example 0's code on unit 0 to 5e-4 by shifting that unit's bias
kinked = Autoencoder(**l1_model.get_params()).initialize(8)
kinked.params_["enc.0.b"][0] += 5e-4 - codes[0, 0]
report = check_model(kinked, Xc, terms=["sparsity"], each_term=False, raise_on_fail=False)
print(report)
print("a code within the checker's step of the kink: the check fails, as it should —"
      " the point is not smooth")

# %% [markdown]
# For k-sparse codes the kink is a *tie*: if the $k$-th and $(k+1)$-th largest codes of a
# row are closer than a perturbation can move them, the check compares two different
# masks. At a point with a clear gap every row keeps the same units and the check passes;
# exactly $k$ codes per row are non-zero, and a unit that is never kept gets no gradient.

# %%
k_model = KSparseAutoencoder((6,), k=2, dtype="float64", random_state=0).initialize(8)
a = np.sort(Xc @ k_model.params_["enc.0.W"] + k_model.params_["enc.0.b"], axis=1)[:, ::-1]
print(f"smallest gap between the 2nd and 3rd largest code of a row: {np.min(a[:, 1] - a[:, 2]):.3f}")
print(f"k-sparse: max relative error {check_model(k_model, Xc).max_rel_error:.1e}")
print("non-zeros per row:", np.count_nonzero(k_model.transform(Xc), axis=1))

# %% [markdown]
# ## 4. Training the three on digits
#
# Same size for all: one hidden layer of $H$ units, Bernoulli output. KL targets
# $\rho = 0.05$ with $\beta = 3$; L1 uses sigmoid codes with $\lambda = 0.3$; k-sparse keeps
# $k = 10$ linear units (Makhzani & Frey's setting is linear codes). A plain autoencoder
# is the reference.

# %%
H = 32 if FAST else 196
common = dict(hidden_layer_sizes=(H,), epochs=2 if FAST else 10, learning_rate=3e-3,
              batch_size=128, random_state=0, verbose=False)
models = {
    "plain": Autoencoder(**common),
    "L1 (λ=0.3)": Autoencoder(sparsity="l1", sparsity_weight=0.3, **common),
    "KL (ρ=0.05, β=3)": SparseAutoencoder(sparsity_target=0.05, sparsity_weight=3.0, **common),
    "k-sparse (k=10)": KSparseAutoencoder(k=10, **common),
}
codes = {}
for name, m in models.items():
    t0 = time.perf_counter()
    m.fit(X_train)
    Z = m.transform(X_test)
    codes[name] = Z
    per_unit = mean_activation(Z)
    print(f"{name:18s} {time.perf_counter() - t0:5.1f} s   test BCE {-m.score(X_test):7.2f}   "
          f"mean activation {per_unit.mean():.3f} (units {per_unit.min():.3f}..{per_unit.max():.3f})"
          f"   |z| <= 0.01: {fraction_near_zero(Z):.2f}")

# %% [markdown]
# The KL model's mean activation moves from the plain model's ≈ 0.6 to near its target
# $\rho$, but settles above it (≈ 0.085 on MNIST with this setting): the reconstruction
# term pulls the other way, and where the two balance depends on its scale. BCE summed
# over 784 pixels has large gradients; with a linear Gaussian decoder ($\tfrac12$ squared
# error, as in Ng's notes) the same $\rho = 0.05$, $\beta = 3$ reaches 0.054 (the MNIST test
# in `tests/test_regularized.py` asserts 0.04–0.06). Histograms of all
# code values show the difference in kind: the plain code spreads over $(0, 1)$, the KL
# code piles up near 0 with a tail of strong responses, L1 pushes values towards 0, and the
# k-sparse code is exactly 0 except for $k$ values per example.

# %%
sig_names = ["plain", "L1 (λ=0.3)", "KL (ρ=0.05, β=3)"]
plotting.histogram([codes[n] for n in sig_names], bins=50, labels=sig_names, logy=True,
                   density=True, xlabel="code value h", title="sigmoid code activations (test)",
                   path=out("02_code_histograms.png"))
plotting.histogram(codes["k-sparse (k=10)"], bins=50, logy=True, xlabel="code value z",
                   title="k-sparse code values (test)",
                   path=out("02_ksparse_histogram.png"))
plotting.histogram([mean_activation(codes[n]) for n in sig_names], bins=30, labels=sig_names,
                   xlabel="mean activation of a unit", title="per-unit mean activation",
                   path=out("02_unit_means.png"))
for name, tag in [("plain", "plain"), ("KL (ρ=0.05, β=3)", "kl"), ("k-sparse (k=10)", "ksparse")]:
    plotting.filters(models[name].params_["enc.0.W"], n=64,
                     path=out(f"02_filters_{tag}.png"),
                     title=f"{name}: first 64 encoder filters")

# %% [markdown]
# ## 5. Natural-image patches: sparse codes learn edges
#
# The classic experiment (Olshausen & Field 1996; Ng's notes): cut small patches from
# a photograph, remove each patch's mean brightness, and **whiten** them with ZCA,
# $x \leftarrow x\,U\,\mathrm{diag}\big(1/\sqrt{\lambda + \varepsilon\bar\lambda}\big)\,U^\top$
# for the eigen-decomposition $C = U\,\mathrm{diag}(\lambda)\,U^\top$ of the patch covariance.
# The variance of natural images falls steeply with spatial frequency (a few smooth
# directions dominate); whitening gives the strong directions (those with
# $\lambda \gg \varepsilon\bar\lambda$) about unit variance and damps the weakest (fine
# detail, JPEG and sensor noise), so no direction dominates and the noise is not amplified.
# `npae.datasets.load_patches` does this on matplotlib's bundled sample photograph.
# Whitened values are zero-mean and unbounded, so the decoder is linear
# (`output="gaussian"`). A sparse code then prefers units that each explain one local
# structure: the encoder filters become localized, oriented edges.

# %%
P = datasets.load_patches(1000 if FAST else 10000, size=8, whiten=True, seed=0)
P_raw = datasets.load_patches(P.shape[0], size=8, whiten=False, seed=0)
for label, data in [("before", P_raw), ("after", P)]:
    lam = np.linalg.eigvalsh(np.cov(data.T.astype(np.float64)))[::-1]
    print(f"covariance eigenvalues {label} whitening, as fractions of the largest: "
          f"{np.round(lam[[0, 1, 3, 7, 15, 31]] / lam[0], 3)} (ranks 1, 2, 4, 8, 16, 32)")
plotting.image_grid(P[:64], title="whitened 8×8 patches", path=out("02_patches.png"))
patch_epochs = 2 if FAST else 100
kl_patches = SparseAutoencoder((64,), output="gaussian", sparsity_target=0.035,
                               sparsity_weight=3.0, weight_decay=1e-2, epochs=patch_epochs,
                               learning_rate=3e-3, random_state=0, verbose=False).fit(P)
ks_patches = KSparseAutoencoder((64,), output="gaussian", k=4, tied_weights=True,
                                epochs=patch_epochs, learning_rate=3e-3, random_state=0,
                                verbose=False).fit(P)
for m, tag, title in [(kl_patches, "kl", "KL-sparse AE (ρ=0.035, β=3) on whitened patches"),
                      (ks_patches, "ksparse", "k-sparse AE (k=4, tied) on whitened patches")]:
    print(f"{title}: reconstruction ½‖x − x̂‖² {m.history_['recon'][-1]:.2f} "
          f"(data ½‖x‖² {0.5 * np.mean(np.sum(P ** 2, axis=1)):.2f})")
    plotting.filters(m.params_["enc.0.W"], n=64, title=title,
                     path=out(f"02_patch_filters_{tag}.png"))

# %% [markdown]
# Open `02_patch_filters_kl.png` and `02_patch_filters_ksparse.png`: most filters are a
# light bar next to a dark one at some position and orientation — edge detectors, like
# the receptive fields of simple cells in the visual cortex. The plain autoencoder's
# filters on digits (`02_filters_plain.png`) are global blobs by comparison, while the
# sparse ones (`02_filters_kl.png`) are pieces of strokes. In `02_filters_ksparse.png`
# some filters are still the random noise they started as: units that are never among
# the $k$ largest never receive a gradient ("dead" units; Makhzani & Frey start with a
# larger $k$ and lower it during training to avoid them).

# %%
print(f"done in {time.perf_counter() - START:.1f} s")
