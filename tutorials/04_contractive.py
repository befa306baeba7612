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
# 4. derives and checks the link to denoising: for small Gaussian noise of standard
#    deviation $s$, $\mathbb E\lVert f(x + s\varepsilon) - f(x)\rVert^2 \approx s^2\lVert J_f(x)\rVert_F^2$,
#    and for the whole reconstruction the Hessian term that the usual statement drops;
# 5. measures what the closed form saves.
#
# Notation: docs/notation.md; equation tags cited from `npae/penalties.py` read
# "penalties (P11)", from the autoencoder "autoencoder (B11)". npae stores the Jacobian
# as $D\times H$ (rows are inputs), the transpose of Rifai et al.'s $H\times D$; the
# Frobenius norm is the same.
#
# Run as a script (`python tutorials/04_contractive.py`; `NPAE_FAST=1` for a quick pass;
# `NPAE_DATA=<folder holding mnist/>` to use MNIST) or open with jupytext. Figures go to
# `NPAE_TUTORIAL_OUT` (default `tutorial-output/`).

# %%
import inspect
import time

import numpy as np
from matplotlib.figure import Figure

try:                                   # in a checkout: its own npae first
    from _setup import FAST, START, out  # Agg backend, NPAE_FAST, figure folder
except ModuleNotFoundError:            # a tutorial copied out on its own: installed npae
    from npae.tutorial_setup import FAST, START, out
from npae import Autoencoder, datasets, penalties, plotting
from npae.gradcheck import check_model, relative_error
from npae.layers import sigmoid
from npae.metrics import mean_jacobian_norm
from npae.models.regularized import ContractiveAutoencoder
from npae.noise import GaussianNoise


# %%
X_train, _, X_test, _, source = datasets.load_digits(400 if FAST else 20000, 200 if FAST else 5000)
print(f"data: {source}; train {X_train.shape}, test {X_test.shape}")

# %% [markdown]
# ## 1. The Jacobian of a sigmoid encoder
#
# One layer, $h = \sigma(a)$, $a = xW + b$ with $W$ of shape $(D, H)$. Code unit $j$ depends
# on input $i$ through $a_j = \sum_i x_i W_{ij} + b_j$, and $\sigma'(a) = \sigma(a)(1-\sigma(a))$:
#
# $$ J_{ij} = \frac{\partial h_j}{\partial x_i} = h_j(1-h_j)\,W_{ij} = \sigma'_j W_{ij},
#    \qquad \sigma'_j = h_j(1-h_j). \tag{penalties (P10)} $$
#
# Squaring and summing, the factor $\sigma'_j$ does not depend on $i$, so the double sum
# splits into a product per unit:
#
# $$ \|J_f(x)\|_F^2 = \sum_j \sigma_j'^2 \sum_i W_{ij}^2 = \sum_j \sigma_j'^2\, q_j,
#    \qquad q_j = \sum_i W_{ij}^2. \tag{penalties (P11)} $$
#
# For a batch, $R = \lambda\,\frac1B\sum_n \|J_f(x_n)\|_F^2$ (penalties (P12)): $O(BH + DH)$
# work instead of
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
# In (P11) $W$ appears inside $q_j$ *and* inside $\sigma'_j$ (through $a = xW + b$). Take one
# path at a time, holding the other fixed (the subscript says what is held), with
# $\partial\sigma'/\partial h = 1 - 2h$:
#
# $$ \frac{\partial R}{\partial h_{nj}}\Big|_q = \frac{2\lambda}{B}\, \sigma'_{nj}\, q_j\,(1 - 2h_{nj})
#    \quad\text{the path through } h\text{, } q \text{ held fixed} \tag{penalties (P13)} $$
# $$ \frac{\partial R}{\partial W_{ij}}\Big|_h = \frac{2\lambda}{B}\, W_{ij} \sum_n \sigma_{nj}'^2
#    \quad\text{the path through } q\text{, } h \text{ held fixed} \tag{penalties (P14)} $$
#
# (P13) is then carried down the encoder like any gradient on the code, through $\sigma'$ into
# $W$, $b$ and $x$; (P14) is added to $dW$ where the reader can see it:
# `grads["enc.0.W"] += dW_q` in `npae/models/autoencoder.py` (autoencoder (B11)). Both parts are needed:

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
for sv, label in [(sv_p, "plain"), (sv_c, "contractive")]:
    spectrum = sv.mean(axis=0)
    print(f"{label:12s}: {int(np.sum(spectrum > 0.01 * spectrum[0]))} mean singular values above "
          f"1% of its largest")
print("plain / contractive, mean singular value by index: min "
      f"{np.min(sv_p.mean(0) / sv_c.mean(0)):.1f}, median {np.median(sv_p.mean(0) / sv_c.mean(0)):.1f}")
n_sat = np.mean(np.all((cae.transform(X_test) < 0.01) | (cae.transform(X_test) > 0.99), axis=0))
print(f"fraction of contractive units saturated (h < 0.01 or > 0.99) on every test image: {n_sat:.2f}")
h_cae = cae.transform(X_test)                                         # (N, H)
spread, slope = h_cae.std(axis=0), np.mean(h_cae * (1 - h_cae), axis=0)   # per unit
quiet = (slope < 0.01) & (spread < 0.05)
print(f"contractive units with mean σ' = h(1-h) below 0.01 and a code that varies by less than "
      f"0.05 (std over test images): {int(quiet.sum())} of {len(quiet)}")
plotting.reconstructions(X_test[:10], cae.reconstruct(X_test[:10]), n=10,
                         titles=("original", "contractive AE"),
                         extra_rows=[("plain AE", plain.reconstruct(X_test[:10]))],
                         path=out("04_reconstructions.png"))
plotting.filters(cae.params_["enc.0.W"], n=64, title="contractive AE: encoder filters",
                 path=out("04_filters_contractive.png"))

# %% [markdown]
# The printed counts say for how many directions each spectrum stays above 1 % of its
# largest value (before the knee in the figure), and the ratios how much smaller the
# contractive singular values are (measured once on MNIST with
# `NPAE_DATA=../shared/data python tutorials/04_contractive.py`: 27 directions for
# the plain encoder, 16 for the contractive one, and the contractive singular values
# smaller at every index, by a factor of at least 2.1, median 6.7). The price is a
# higher reconstruction loss (115.5 against 97.2 nats per image in that run). Many of the contractive filters in
# `04_filters_contractive.png` look like noise: those units sit near saturation on nearly
# every digit, where $\sigma' = h(1-h) \approx 0$ — the cheapest way to contribute nothing
# to $\|J_f\|_F$ — and such a unit's weights get almost no gradient from either term
# (the last printed line counts them; in the MNIST run above, 49 of 64; the stricter
# count of units with every code below 0.01 or above 0.99 was 0).

# %% [markdown]
# ## 4. Denoising and contraction: one expansion
#
# A denoising autoencoder (tutorial 03) trains on $\tilde x = x + s\varepsilon$, $\varepsilon
# \sim \mathcal N(0, I)$. What does small Gaussian noise do to a code $f$? Expand $f$ around
# $x$, with npae's $D\times H$ Jacobian ($J_{ij} = \partial f_j/\partial x_i$):
#
# $$ f(x + s\varepsilon) - f(x) = s\,J^\top\varepsilon + \tfrac{s^2}{2}\,
#    \big(\varepsilon^\top \nabla^2 f_j\,\varepsilon\big)_j + O(s^3). $$
#
# Square and take $\mathbb E_\varepsilon$. The leading term is $s^2\,\mathbb E[\varepsilon^\top J
# J^\top \varepsilon] = s^2\operatorname{tr}(JJ^\top) = s^2\lVert J\rVert_F^2$, since
# $\mathbb E[\varepsilon\varepsilon^\top] = I$; the cross term with the second-order part has
# an odd number of ε factors and vanishes in expectation, so
#
# $$ \mathbb E_\varepsilon\lVert f(x + s\varepsilon) - f(x)\rVert^2 = s^2\,\lVert J_f(x)\rVert_F^2
#    + O(s^4). \tag{DC} $$
#
# The contractive penalty is therefore the small-noise limit of "the code should not move
# when the input is jittered", computed without sampling (Rifai et al. 2011). For the
# whole reconstruction $g(f(x))$ of a denoising autoencoder the same expansion has a
# second, Hessian term; it is derived and checked after this one.
#
# The check, on the trained contractive encoder and a few test images: draw the
# corruption with `npae.noise.GaussianNoise` (one ε for every $s$), encode with
# `transform`, and compare the Monte-Carlo mean of $\lVert f(x + s\varepsilon) -
# f(x)\rVert^2/s^2$ with $\lVert J_f(x)\rVert_F^2$ from `encoder_jacobian` and from the closed
# form (P11). Two errors are printed: against the same ε pushed through the linearization
# $sJ^\top\varepsilon$ (which isolates the $O(s^2)$ relative error of (DC)), and against
# $\lVert J\rVert_F^2$ itself (which adds the Monte-Carlo error, shown as a standard error).
# Each ε is used with its mirror image −ε (antithetic pairs): the odd-order terms of the
# expansion then cancel exactly in every pair, not only in expectation, so the first
# error falls like $s^2$ instead of being swamped by the Monte-Carlo noise of the $s^3$ term.

# %%
n_x, M_dc = 4, 500 if FAST else 4000
x_dc = X_test[:n_x].astype(np.float64)
cae64 = ContractiveAutoencoder(**{**cae.get_params(), "dtype": "float64"}).initialize(
    cae.n_features_in_)                                               # float64: s down to 0.003
for k in cae64.params_:
    cae64.params_[k][:] = cae.params_[k]                              # the trained weights
J = cae64.encoder_jacobian(x_dc)                                      # (n, D, H)
J2 = np.sum(J ** 2, axis=(1, 2))                                      # ‖J_f(x)‖²_F (n,)
J2_closed = np.array([penalties.contractive(cae64.transform(x_dc[i:i + 1]),
                                            cae64.params_["enc.0.W"], 1.0) for i in range(n_x)])
print(f"‖J_f(x)‖²_F per image, encoder_jacobian: {np.round(J2, 4)}; closed form (P11): "
      f"{np.round(J2_closed, 4)}")
assert np.allclose(J2, J2_closed, rtol=1e-10)
x_rep = np.repeat(x_dc, M_dc, axis=0)                                 # (n·M, D)
f_x = np.repeat(cae64.transform(x_dc), M_dc, axis=0)                  # (n·M, H)
print(f"{'s':>7} {'E‖Δf‖²/s² / ‖J‖²':>18} {'vs linearization':>17} {'± SE':>8}")
lin_err = []
for s_dc in (0.3, 0.1, 0.03, 0.01, 0.003):
    x_plus = GaussianNoise.sample(x_rep, s_dc, np.random.default_rng(0)).apply(x_rep)  # (D1)
    x_minus = 2 * x_rep - x_plus                                        # x − sε: the pair's twin
    sq = 0.5 * sum(np.sum((cae64.transform(xt) - f_x) ** 2, axis=1)     # ‖f(x ± sε) − f(x)‖²
                   for xt in (x_plus, x_minus)).reshape(n_x, M_dc) / s_dc ** 2  # (n, M)
    eps_dc = ((x_plus - x_rep) / s_dc).reshape(n_x, M_dc, -1)          # the ε drawn (same each s)
    lin = np.sum(np.einsum("nmd,ndh->nmh", eps_dc, J) ** 2, axis=2)     # ‖Jᵀε‖², same ε
    ratio = sq.mean(1) / J2
    se = sq.std(1, ddof=1) / np.sqrt(M_dc) / J2
    lin_err.append(np.max(np.abs(sq.mean(1) / lin.mean(1) - 1)))
    print(f"{s_dc:7.3f} {np.array2string(ratio, precision=4):>18} {lin_err[-1]:17.2e} "
          f"{np.array2string(se, precision=3)}")
assert lin_err[-1] < 1e-4 and all(a > 3 * b for a, b in zip(lin_err, lin_err[1:]))
assert np.all(np.abs(ratio - 1) < 4 * se)

# %% [markdown]
# The relative error against the linearization falls about tenfold for every
# $\sqrt{10}$-fold smaller $s$: the $O(s^2)$ of (DC). At the pixel noise a denoising
# autoencoder trains with ($s$ of a few tenths) the expansion is no longer accurate,
# which is one reason the two regularizers behave differently in practice: denoising
# sees the finite-noise, non-linear response.

# %% [markdown]
# ### The whole reconstruction: a Hessian term
#
# A denoising autoencoder compares $r(x + s\varepsilon)$, $r = g\circ f$ the whole
# reconstruction, with the clean $x$, not with $r(x)$. Expand $r$ as $f$ above, with
# $e = r(x) - x$ and $J_r$ the $D\times D$ Jacobian of $r$:
#
# $$ \lVert r(x + s\varepsilon) - x\rVert^2 = \lVert e\rVert^2 + 2s\,e^\top J_r^\top\varepsilon
#    + s^2\lVert J_r^\top\varepsilon\rVert^2 + s^2 \textstyle\sum_j e_j\,
#    \varepsilon^\top\nabla^2 r_j\,\varepsilon + O(s^3). $$
#
# In expectation the term linear in ε vanishes and
# $\mathbb E[\varepsilon^\top\nabla^2 r_j\,\varepsilon] = \operatorname{tr}\nabla^2 r_j =
# \Delta r_j$, the Laplacian of output $j$:
#
# $$ \mathbb E_\varepsilon\lVert r(x + s\varepsilon) - x\rVert^2 = \lVert r(x) - x\rVert^2
#    + s^2\big[\lVert J_r(x)\rVert_F^2 + (r(x) - x)\cdot\Delta r(x)\big] + O(s^4). \tag{RC} $$
#
# The second term is a Hessian term, and it does not vanish: a trained autoencoder does
# not reconstruct exactly, $r(x) \ne x$. Alain & Bengio (2014) state the small-noise
# denoising loss as $\lVert r(x) - x\rVert^2 + s^2\lVert J_r\rVert_F^2$ by *assuming*
# $r(x) \approx x$, which drops $(r(x) - x)\cdot\Delta r(x)$; the contractive reading of
# denoising holds for the whole reconstruction only as far as that assumption does.
#
# The check, on the trained contractive autoencoder in float64 and a few test images:
# $J_r$ and $\Delta r$ by central differences of `reconstruct`, one pixel at a time
# ($2D$ reconstructions per image: $J_r$ from $[r(x + he_i) - r(x - he_i)]/2h$,
# $\Delta r = \sum_i [r(x + he_i) - 2r(x) + r(x - he_i)]/h^2$), then the Monte-Carlo mean
# of $(\lVert r(x + s\varepsilon) - x\rVert^2 - \lVert r(x) - x\rVert^2)/s^2$ over
# antithetic pairs (the odd terms cancel in each pair), against both sides: (RC), and
# the Jacobian term alone. The distances are in standard errors of the Monte-Carlo mean.

# %%
n_rc, M_rc, h_fd = 3, 500 if FAST else 4000, 1e-3
x_rc = X_test[:n_rc].astype(np.float64)
r_x = cae64.reconstruct(x_rc)                                         # r(x) (n, D)
e_rc = r_x - x_rc                                                     # r(x) − x
moves = h_fd * np.eye(x_rc.shape[1])                                  # (D, D) one pixel each
J2_r, hess_r = np.empty(n_rc), np.empty(n_rc)
for i in range(n_rc):
    r_plus = cae64.reconstruct(x_rc[i] + moves)                       # row i: r(x + h e_i)
    r_minus = cae64.reconstruct(x_rc[i] - moves)
    J_r = (r_plus - r_minus) / (2 * h_fd)                             # (D, D) ∂r_j/∂x_i
    lap = np.sum(r_plus - 2 * r_x[i] + r_minus, axis=0) / h_fd ** 2   # (D,) Δr_j
    J2_r[i], hess_r[i] = np.sum(J_r ** 2), e_rc[i] @ lap              # (RC)'s two terms
print(f"‖J_r‖²_F: {np.round(J2_r, 3)}; Hessian term (r(x) − x)·Δr(x): {np.round(hess_r, 3)}")
x_rep = np.repeat(x_rc, M_rc, axis=0)                                 # (n·M, D)
base = np.sum(e_rc ** 2, axis=1)[:, None]                             # ‖r(x) − x‖² (n, 1)
print(f"{'s':>6} {'MC mean':>26} {'(RC): distance / SE':>26} {'‖J_r‖² alone':>22}")
for s_rc in (0.1, 0.03, 0.01):
    x_plus = GaussianNoise.sample(x_rep, s_rc, np.random.default_rng(1)).apply(x_rep)  # (D1)
    x_minus = 2 * x_rep - x_plus                                      # the antithetic twin
    pair = 0.5 * sum(np.sum((cae64.reconstruct(xt) - x_rep) ** 2, axis=1)
                     for xt in (x_plus, x_minus)).reshape(n_rc, M_rc)  # (n, M)
    excess = (pair - base) / s_rc ** 2
    mc, se = excess.mean(1), excess.std(1, ddof=1) / np.sqrt(M_rc)
    z_rc, z_ab = (mc - J2_r - hess_r) / se, (mc - J2_r) / se
    print(f"{s_rc:6.2f} {np.array2string(mc, precision=3):>26} "
          f"{np.array2string(z_rc, precision=1):>26} {np.array2string(z_ab, precision=1):>22}")
assert np.all(np.abs(z_rc) < 4)                   # (RC) holds within the Monte-Carlo error
assert np.any(np.abs(z_ab) > 4)                   # the Jacobian term alone does not

# %% [markdown]
# (RC) agrees with the Monte-Carlo mean to within its standard error; the Jacobian
# term alone misses it by the Hessian term, many standard errors away on these images.
# How large that term is depends on how far $r(x)$ is from $x$: it shrinks as the
# reconstruction improves, and vanishes only for a perfect one.

# %% [markdown]
# ## 5. What the closed form costs
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

# %% [markdown]
# ## Common misreadings
#
# > **"The contractive penalty is the L2 norm of the Jacobian."** It is the **squared**
# > Frobenius norm, $\lambda\frac1B\sum_n\lVert J_f(x_n)\rVert_F^2 = \lambda\frac1B\sum_n
# > \sum_{i,j} J_{ij}^2$ (penalties (P11)–(P12)): no square root, and the Frobenius norm,
# > not the spectral norm (the matrix "2-norm", the largest singular value). Settled by
# > the numbers below, for the trained model on a few digits.

# %%
h_m = cae.transform(Xb[:8])
J_m = penalties.sigmoid_encoder_jacobian(h_m, W_b)                      # (8, D, H)
penalty = penalties.contractive(h_m, W_b, 1.0)                           # λ = 1
print(f"penalty (λ = 1)                        {penalty:.6f}")
print(f"mean squared Frobenius norm  ‖J‖_F²    {np.mean(np.sum(J_m ** 2, axis=(1, 2))):.6f}")
print(f"mean Frobenius norm          ‖J‖_F     {np.mean(np.linalg.norm(J_m, axis=(1, 2))):.6f}")
print(f"mean squared spectral norm   ‖J‖_2²    "
      f"{np.mean(np.linalg.norm(J_m, ord=2, axis=(1, 2)) ** 2):.6f}")
