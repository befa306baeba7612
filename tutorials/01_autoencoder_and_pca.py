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
# # 01 · The autoencoder, tied weights, and PCA
#
# 1. the backward pass of a deep autoencoder, derived once for any depth and checked;
# 2. tied weights: one matrix used twice, so its gradient is the sum of two contributions;
# 3. a *linear* autoencoder finds the same subspace as PCA — measured with principal
#    angles;
# 4. a deep ReLU autoencoder on MNIST: loss curves, reconstructions, first-layer filters;
# 5. a 2-unit code, next to PCA's 2-D projection.
# 6. the code size: a sweep past the input size, train and test error, how close an
#    overcomplete autoencoder comes to the identity, and each regulariser breaking it;
# 7. tied against untied weights in one table; and two common misreadings corrected.
#
# Tutorial 00 derived the pieces (dense layer, sigmoid, BCE on logits) and how the
# finite-difference check works. Notation: docs/notation.md. $X$ is $(B, D)$, one example
# per row; a layer computes $a = hW + b$ with $W$ of shape $(n_\text{in}, n_\text{out})$.
# Tutorial 08 continues section 3: a *linear VAE* with a Gaussian decoder is probabilistic
# PCA, whose posterior mean becomes this section's PCA projection as the noise goes to 0.
#
# Run as a script (`python tutorials/01_autoencoder_and_pca.py`, `NPAE_FAST=1` for a quick
# pass, `NPAE_DATA=<folder holding mnist/>` to use MNIST) or open with jupytext. Figures go
# to `NPAE_TUTORIAL_OUT` (default `tutorial-output/`).

# %%
import inspect
import os
import time

import numpy as np
from matplotlib.figure import Figure

try:                                   # in a checkout: its own npae first
    from _setup import FAST, START, out  # Agg backend, NPAE_FAST, figure folder
except ModuleNotFoundError:            # a tutorial copied out on its own: installed npae
    from npae.tutorial_setup import FAST, START, out
import npae
from npae import datasets, losses, network, plotting
from npae.gradcheck import DEFAULT_EPS, check_model, relative_error

rng = np.random.default_rng(0)

# %% [markdown]
# ## Data
#
# MNIST when `npae.datasets.find_dataset` finds it (set `NPAE_DATA` to the folder holding
# `mnist/`), otherwise npae's synthetic digits rendered from matplotlib's fonts, which
# need no download. Pixels are in $[0, 1]$.

# %%
X_train, y_train, X_test, y_test, source = datasets.load_digits(
    1000 if FAST else None, 500 if FAST else None)     # MNIST if found, else glyph digits
print(f"data: {source}; train {X_train.shape}, test {X_test.shape}, "
      f"pixels in [{X_train.min():.0f}, {X_train.max():.0f}]")

# %% [markdown]
# ## 1. The backward pass of a deep autoencoder
#
# With $H_0 = X$, an encoder of $L$ dense layers and a decoder of $M$ dense layers compute
#
# $$ \begin{aligned}
# A_l &= H_{l-1} W_l + b_l,\quad H_l = f_l(A_l) && l = 1..L, \quad z = H_L \ (B, H)
#   && \text{(F1–F2)} \\
# A'_m &= H'_{m-1} V_m + c_m,\quad H'_m = g_m(A'_m) && m = 1..M, \quad H'_0 = z
#   && \text{(F3–F4)} \\
# \hat x &= \sigma(A'_M),\quad L = \tfrac1B \textstyle\sum_{n,d}
#   [\operatorname{softplus}(A'_M) - X \odot A'_M]_{nd} && && \text{(F5–F6)}
# \end{aligned} $$
#
# (the last decoder layer has no activation of its own: its output $A'_M$ are the logits,
# and the loss owns the sigmoid, as in tutorial 00). Backwards, every layer does the same
# three things with the gradient $dH$ it receives from above:
#
# $$ dA = dH \odot f'(A), \qquad dW = H_\text{in}^\top dA,\quad db = \textstyle\sum_n dA,
#    \qquad dH_\text{in} = dA\, W^\top, $$
#
# starting from $dA'_M = (\sigma(A'_M) - X)/B$ (the only place $1/B$ appears). The decoder
# hands $dz = dH'_0$ to the encoder, which continues the same recursion down to
# $dH_0 = dX$. npae runs this recursion for every model in `npae.network.backprop_layers`:

# %%
print(inspect.getsource(network.backprop_layers))

# %% [markdown]
# Line by line: `dA = act.backward(...)` is $dA = dH \odot f'(A)$ (skipped for the
# output logits, whose gradient comes from the loss); `dense_backward` returns
# $dH_\text{in}, dW, db$; and `accumulate` *adds* $dW$ into `grads` — which matters in
# section 2. The input layer's $dH_\text{in} = dX$ is only computed when asked for.
#
# **Check.** The MNIST model of section 4 has ReLU layers. A ReLU has a kink at 0, where
# a finite difference straddling the kink measures a slope of neither side; so we check
# at a point where every ReLU pre-activation is farther than $2\varepsilon$ from 0, and
# verify that it is. A few digits, average-pooled to $7\times7$ so that differencing every
# entry is quick, and squeezed into $[0.01, 0.99]$ so the input check's $\pm2\varepsilon$
# steps stay inside BCE's domain $[0, 1]$:

# %%
B_check = 4 if FAST else 6
Xc = (X_test[:B_check].astype(np.float64).reshape(B_check, 7, 4, 7, 4).mean(axis=(2, 4))
      .reshape(B_check, 49))                                      # (B, D) = (B, 49)
Xc = 0.01 + 0.98 * Xc
small = (8, 3) if FAST else (16, 4)            # encoder widths for the checks
deep = npae.Autoencoder(hidden_layer_sizes=small, activation=("relu", "identity"),
                        output="bernoulli", dtype="float64", verbose=False)
for seed in range(100):                        # the first initialisation away from the kinks
    p = deep.initialize(Xc.shape[1], random_state=seed).params_
    A_enc = Xc @ p["enc.0.W"] + p["enc.0.b"]                      # (F1) (B, n_1), ReLU
    z = np.maximum(A_enc, 0) @ p["enc.1.W"] + p["enc.1.b"]        # (F1) (B, H), identity code
    A_dec = z @ p["dec.0.W"] + p["dec.0.b"]                       # (F3) (B, n_1), ReLU
    closest = min(np.abs(A_enc).min(), np.abs(A_dec).min())
    if closest > 2 * DEFAULT_EPS:
        break
print("parameters:", {k: v.shape for k, v in p.items()})
print(f"seed {seed}: closest ReLU pre-activation to the kink {closest:.1e} "
      f"(2 eps = {2 * DEFAULT_EPS:.0e})")
print(check_model(deep, Xc))

# %% [markdown]
# ## 2. Tied weights: one matrix, two uses
#
# A tied autoencoder decodes with the transposes of its encoder weights:
# $V_m = W_{L+1-m}^\top$; the decoder owns only its biases. For one layer,
#
# $$ A_1 = X W + b, \quad z = f(A_1), \quad A_2 = z W^\top + c . $$
#
# $W$ now reaches $L$ along two paths, and the chain rule adds them. The decoder use
# $A_2 = z W^\top$ gives $\partial L/\partial (W^\top) = z^\top dA_2$ $(H, D)$, i.e. a
# contribution $(z^\top dA_2)^\top = dA_2^\top z$ $(D, H)$ to $dW$:
#
# $$ dW = \underbrace{X^\top dA_1}_{\text{encoder use}}
#       + \underbrace{(z^\top dA_2)^\top}_{\text{decoder use}} \qquad (D, H). \tag{B7} $$
#
# So the tied gradient must equal the sum of the two gradients of an *untied* model whose
# decoder weight happens to equal $W^\top$. Let us check exactly that, for a two-layer
# encoder ($W_1$ is used by `enc.0` and `dec.1`, $W_2$ by `enc.1` and `dec.0`):

# %%
tied = npae.Autoencoder(hidden_layer_sizes=small, activation="sigmoid", tied_weights=True,
                        dtype="float64", random_state=2, verbose=False).initialize(Xc.shape[1])
untied = npae.Autoencoder(hidden_layer_sizes=small, activation="sigmoid",
                          dtype="float64", random_state=2, verbose=False).initialize(Xc.shape[1])
print("tied parameters:  ", list(tied.params_))
print("untied parameters:", list(untied.params_))
T = tied.params_
untied.params_ = {
    "enc.0.W": T["enc.0.W"].copy(), "enc.0.b": T["enc.0.b"].copy(),     # W_1
    "enc.1.W": T["enc.1.W"].copy(), "enc.1.b": T["enc.1.b"].copy(),     # W_2
    "dec.0.W": T["enc.1.W"].T.copy(), "dec.0.b": T["dec.0.b"].copy(),   # V_1 = W_2ᵀ
    "dec.1.W": T["enc.0.W"].T.copy(), "dec.1.b": T["dec.1.b"].copy(),   # V_2 = W_1ᵀ
}
L_enc = 2
loss_t, _, g_tied = tied.loss_and_grads(Xc)
loss_u, _, g_untied = untied.loss_and_grads(Xc)
print(f"\nsame function: loss tied {loss_t:.12f}, untied {loss_u:.12f}")
for l in range(L_enc):
    enc_use = g_untied[f"enc.{l}.W"]                                   # X-side use, (n_in, n_out)
    dec_use = g_untied[f"dec.{L_enc - 1 - l}.W"].T                     # transposed use
    diff = np.max(np.abs(g_tied[f"enc.{l}.W"] - (enc_use + dec_use)))
    print(f"enc.{l}.W: |encoder part| {np.linalg.norm(enc_use):.4f}, |decoder part| "
          f"{np.linalg.norm(dec_use):.4f}, max |tied - (sum)| = {diff:.1e}")
print("relative error (N2) if the encoder part of enc.0.W were forgotten: "
      f"{relative_error(g_tied['enc.0.W'], g_untied['dec.1.W'].T):.1e}")

# %% [markdown]
# The sum is the tied gradient to rounding. Note how unequal the two parts are at this
# initialisation: the decoder use of $W_1$ sits right under the loss, while the encoder
# use is reached through two sigmoid derivatives ($\le \tfrac14$ each) and the code
# layer. Forgetting the small part is the dangerous bug: it changes the gradient by a
# fraction of a percent, which a loose test (`rtol=0.1`) would never notice, but it is
# four orders of magnitude above the checker's tolerance of $10^{-7}$. The
# finite-difference check of the tied model:

# %%
print(check_model(tied, Xc))

# %% [markdown]
# ## 3. A linear autoencoder finds PCA's subspace
#
# Take identity activations and a Gaussian output ($\hat x = A'$, loss
# $\tfrac1B\sum_n \tfrac12\lVert\hat x_n - x_n\rVert^2$) with one hidden layer of $H$ units:
#
# $$ \hat x = (x W_1 + b_1) W_2 + b_2 = x\, W_1 W_2 + (b_1 W_2 + b_2), $$
#
# an affine map of rank at most $H$. By the Eckart–Young theorem the best rank-$H$
# approximation of the centred data is its projection on the top-$H$ principal
# subspace: with $\mu$ the mean and $V_H$ $(H, D)$ the top-$H$ principal directions,
# the optimum is $\hat x = \mu + (x - \mu)V_H^\top V_H$. Its loss, $\tfrac1N\sum_n
# \tfrac12\lVert\hat x_n - x_n\rVert^2$, is $\tfrac12\,\tfrac{N-1}{N}\sum_{j>H}\lambda_j$ for the
# eigenvalues $\lambda_j$ of the sample covariance $\tfrac1{N-1}\sum_n (x_n - \mu)^\top(x_n -
# \mu)$ (half the sum of the discarded eigenvalues of the $\tfrac1N$-normalized covariance).
# Baldi & Hornik (1989) showed more, for a covariance matrix that is invertible with
# *distinct* eigenvalues $\lambda_1 > \dots > \lambda_D$: every local minimum of the
# linear autoencoder's squared error is this global one (the other critical points are
# saddles). (With no weight decay and the code layer the narrowest; tutorial 08 reaches
# the same subspace through probabilistic PCA.)
#
# But only the *product* is determined: $W_1 = V_H^\top C$, $W_2 = C^{-1} V_H$ is optimal
# for every invertible $C$ $(H, H)$. The decoder's rows span the principal subspace
# without being the principal directions. So we compare **subspaces**, by principal
# angles: with $Q$ an orthonormal basis of the span of $W_2$'s rows and $V_H$ PCA's
# orthonormal rows, the cosines of the angles are the singular values of $Q^\top V_H^\top$;
# the largest angle is 0 exactly when the subspaces coincide.
#
# Synthetic data with a clear spectral gap: $D = 20$, three strong directions
# (standard deviations 3, 2.5, 2) and 17 weak ones (0.6 down to 0.1), randomly rotated.

# %%
N_lin, D_lin, H_lin = (500 if FAST else 2000), 20, 3
stds = np.concatenate([[3.0, 2.5, 2.0], np.linspace(0.6, 0.1, D_lin - H_lin)])
rotation, _ = np.linalg.qr(rng.normal(size=(D_lin, D_lin)))       # random orthogonal
X_lin = (rng.normal(size=(N_lin, D_lin)) * stds) @ rotation.T + rng.normal(size=D_lin)

components, mean, explained = npae.pca(X_lin, H_lin)               # (H, D), (D,), (H,)
all_variances = npae.pca(X_lin, D_lin)[2]
X_pca = mean + (X_lin - mean) @ components.T @ components          # projection
pca_error = 0.5 * np.mean(np.sum((X_lin - X_pca) ** 2, axis=1))
print("data variances along the principal axes:", np.round(all_variances, 3))
print(f"PCA reconstruction error ½ mean ||x - x̂||² = {pca_error:.5f} "
      f"(= ½ (N-1)/N · sum of discarded eigenvalues = "
      f"{0.5 * (N_lin - 1) / N_lin * all_variances[H_lin:].sum():.5f})")

fig = Figure(figsize=(6.0, 3.2), layout="constrained")
ax = fig.add_subplot()
ax.bar(np.arange(1, D_lin + 1), all_variances,
       color=["C0"] * H_lin + ["0.6"] * (D_lin - H_lin))
ax.set_yscale("log")
ax.set_xlabel("principal component")
ax.set_ylabel("variance (eigenvalue)")
ax.set_title(f"spectrum: the top {H_lin} (blue) are separated by a gap")
ax.set_xticks(np.arange(1, D_lin + 1))
plotting.save_figure(fig, out("01_spectrum.png"))
fig


# %%
def largest_principal_angle(W_dec, components):
    """Largest angle (degrees) between the row spaces of W_dec (H, D) and components (H, D)."""
    Q, _ = np.linalg.qr(W_dec.T)                                    # (D, H) orthonormal columns
    cosines = np.linalg.svd(Q.T @ components.T, compute_uv=False)  # (H,) cos of the angles
    return float(np.degrees(np.arccos(np.clip(cosines.min(), -1.0, 1.0))))


linear_settings = dict(hidden_layer_sizes=(H_lin,), activation="identity", output="gaussian",
                       optimizer="adam", random_state=0, dtype="float64", verbose=False)
runs = {"minibatch Adam (batch 50)": dict(batch_size=50, learning_rate=1e-2,
                                          epochs=10 if FAST else 50),
        "full-batch Adam": dict(batch_size=N_lin, learning_rate=3e-2,
                                epochs=200 if FAST else 1000)}
linear_models = {}
for name, settings in runs.items():
    t = time.perf_counter()
    lin = npae.Autoencoder(**linear_settings, **settings).fit(X_lin)
    linear_models[name] = lin
    print(f"{name:27s} largest principal angle {largest_principal_angle(lin.params_['dec.0.W'], components):6.3f}°"
          f"   loss {-lin.score(X_lin):.5f} (PCA {pca_error:.5f})"
          f"   {lin.epochs} epochs, {time.perf_counter() - t:.1f} s")

# %% [markdown]
# The linear autoencoder, trained by gradient descent from a random start, lands on
# PCA's subspace and on PCA's error. Minibatch gradients are noisy, so Adam at a constant
# step keeps jittering around the optimum (an angle of a degree or two, a loss a bit above
# PCA's); full-batch steps remove the noise and the angle falls towards 0.
#
# That it is the subspace and not the axes: the cosines between the decoder's (normalised)
# rows and the principal directions form no permutation matrix, and the rows are not unit
# vectors. What is determined is the linear map $M = W_1W_2$ $(D, D)$, $\hat x - \hat\mu =
# (x - \mu)M$, which should be PCA's projector $P = V_H^\top V_H$. Split the comparison in
# three (rows of $M$ are inputs, columns are outputs):

# %%
lin = linear_models["full-batch Adam"]
W1, W2 = lin.params_["enc.0.W"], lin.params_["dec.0.W"]            # (D, H), (H, D)
rows = W2 / np.linalg.norm(W2, axis=1, keepdims=True)
print("|cos| between decoder rows and principal directions:")
print(np.round(np.abs(rows @ components.T), 3))
print(f"decoder row norms: {np.round(np.linalg.norm(W2, axis=1), 3)}")
M = W1 @ W2                                                        # (D, D)
P = components.T @ components                                      # V_Hᵀ V_H, (D, D)
I = np.eye(D_lin)
print(f"max |P M P - P|   = {np.max(np.abs(P @ M @ P - P)):.1e}   on the subspace M is the identity")
print(f"max |M (I - P)|   = {np.max(np.abs(M @ (I - P))):.1e}   outputs stay in the subspace (decoder)")
print(f"max |(I - P) M|   = {np.max(np.abs((I - P) @ M)):.1e}   inputs outside it are ignored (encoder)")
excess = (np.mean(np.sum((lin.reconstruct(X_lin) - X_pca) ** 2, axis=1))
          / np.mean(np.sum((X_lin - mean) ** 2, axis=1)))
print(f"mean ||x̂_AE - x̂_PCA||² / mean ||x - μ||² = {excess:.1e}")

# %% [markdown]
# The last of the three converges slowest, and for a reason worth knowing: the
# encoder's response to a direction is learned from the data's variance along it, so
# its gradient in the weak directions (variances 0.01–0.3 here) is 10–1000 times smaller
# than in the strong ones. Those same directions matter little to the loss, so the
# reconstructions already agree with PCA's to a small fraction of the data's variance.

# %% [markdown]
# ## 4. A deep autoencoder on MNIST
#
# Now a non-linear one: 784 → 256 → 64 with ReLU hidden units and a linear 64-unit code,
# decoder 64 → 256 → 784 (mirrored), Bernoulli output — the BCE of tutorial 00, treating
# each pixel intensity as the probability of a white pixel. Adam, minibatches of 128,
# float32. The held-out test digits give the validation curve.
#
# We add a weight decay $\tfrac\lambda2\sum_l\lVert W_l\rVert_F^2$ (gradient $\lambda W$,
# `npae.penalties`), for a reason the filters below make visible: a weight whose input
# pixel is black in every training digit (MNIST's border) receives no gradient from the
# reconstruction at all, $dW_{ij} = \sum_n X_{ni}\,dA_{nj} = 0$, so without decay it keeps
# its random initial value forever; and Adam's per-coordinate steps keep stirring weights
# whose gradients are small and noisy. The decay removes what the data does not support,
# at a cost in reconstruction error. Measured once with this section's settings on MNIST
# (60,000 digits, 5 epochs), by setting `decay` below to each value and running
# `NPAE_DATA=../shared/data python tutorials/01_autoencoder_and_pca.py` (this run
# prints its own numbers for the λ it uses, and PCA's, further down):
#
# | $\lambda$ | 0 | 0.01 | 0.03 | **0.05** | 0.1 |
# | --- | --- | --- | --- | --- | --- |
# | test BCE (nats per image) | 58.3 | 59.0 | 61.7 | **65.0** | 71.7 |
# | test squared error per image | 3.37 | 3.53 | 4.27 | **5.24** | 7.25 (PCA-64: 7.26) |
# | first-layer filters | mostly noise | mostly noise | strokes and noise | **strokes, some noise** | clean strokes |
#
# We take $\lambda = 0.05$: filters that can be read, and still a clear gain over PCA.

# %%
code_size = 16 if FAST else 64
hidden = 64 if FAST else 256
epochs = 2 if FAST else 5
decay = 0.05
ae = npae.Autoencoder(hidden_layer_sizes=(hidden, code_size), activation=("relu", "identity"),
                      output="bernoulli", weight_decay=decay, optimizer="adam",
                      learning_rate=1e-3, batch_size=128, epochs=epochs, random_state=0,
                      verbose=True)
t = time.perf_counter()
ae.fit(X_train, X_val=X_test)
fit_seconds = time.perf_counter() - t
print(f"{ae!r}\ntrained on {len(X_train)} digits in {fit_seconds:.1f} s")
h = ae.history_
for i, e in enumerate(h["epoch"]):
    print(f"  epoch {e:2d}: train BCE {h['recon'][i]:7.2f}   test BCE {h['val_recon'][i]:7.2f}"
          f"   (nats per image; weight decay term {h['weight_decay'][i]:.1f})")
plotting.loss_curves(ae.history_, path=out("01_loss_curves.png"))

# %% [markdown]
# (The training loss is averaged over an epoch during which the model keeps improving;
# the test loss is measured at the epoch's end. That, not a miracle, is why the test curve
# starts below the training curve.)

# %% [markdown]
# The reconstruction loss is in nats per image, summed over 784 pixels. For scale: a
# model that predicts every pixel's mean intensity, ignoring the image, scores about the
# entropy of the pixel marginals:

# %%
p_mean = np.clip(X_train.mean(axis=0), 1e-6, 1 - 1e-6)
logit_mean = np.log(p_mean) - np.log1p(-p_mean)
baseline = losses.BernoulliLoss.value(np.broadcast_to(logit_mean, X_test.shape), X_test)
print(f"baseline (mean image) test BCE {baseline:.1f}; autoencoder {h['val_recon'][-1]:.1f}")

# %% [markdown]
# **Reconstructions** of test digits the model never saw, with PCA's reconstruction
# from the same number of numbers per image ($H$ principal components) underneath.
# Squared error per image compares the two on the same footing (PCA has no BCE: its
# reconstructions leave $[0, 1]$).

# %%
n_pca = 500 if FAST else 5000                   # enough digits to pin the components down
comps_img, mean_img, _ = npae.pca(X_train[:n_pca].astype(np.float64), code_size)
X_hat = ae.reconstruct(X_test)
X_hat_pca = np.clip(mean_img + (X_test - mean_img) @ comps_img.T @ comps_img, 0, 1)
sq_ae = np.mean(np.sum((X_hat - X_test) ** 2, axis=1))
sq_pca = np.mean(np.sum((mean_img + (X_test - mean_img) @ comps_img.T @ comps_img - X_test) ** 2,
                        axis=1))
print(f"test squared error per image: autoencoder {sq_ae:.2f}, PCA with {code_size} "
      f"components {sq_pca:.2f}")
plotting.reconstructions(X_test[:12], X_hat[:12], n=12,
                         titles=("test digit", f"autoencoder ({code_size})"),
                         extra_rows=[(f"PCA ({code_size})", X_hat_pca[:12])],
                         path=out("01_reconstructions.png"))

# %% [markdown]
# **First-layer filters.** Unit $j$ of the first layer computes $a_j = \sum_i x_i W_{ij}
# + b_j$: column $W_{:, j}$, drawn as a 28×28 image, is the pattern that excites it most
# (white positive, black negative, grey zero). They are smooth strokes and blobs, parts
# of digits rather than whole digits: the first layer finds parts, the later layers
# combine them. Some units still carry a noisy remainder of their random start, and a
# few have been switched off by the decay altogether (a flat grey square, at most a stray
# pixel left).

# %%
black = X_train.max(axis=0) == 0                                  # pixels black in every digit
W_enc = ae.params_["enc.0.W"]                                      # (D, n_1)
init_scale = np.sqrt(6.0 / W_enc.shape[0]) / np.sqrt(3.0)          # std of He-uniform init
if black.any():
    print(f"{black.sum()} pixels are black in every training digit; their weights have "
          f"rms {np.sqrt(np.mean(W_enc[black] ** 2)):.1e} (initialised at {init_scale:.1e}), "
          f"the other pixels' {np.sqrt(np.mean(W_enc[~black] ** 2)):.1e}")
plotting.filters(W_enc, n=100, path=out("01_filters.png"))

# %% [markdown]
# ## 5. A 2-unit code
#
# Squeeze the code to $H = 2$ and every digit becomes a point in the plane. PCA's best
# 2-D linear projection (`01_codes_pca.png`) separates little more than the 0s from the
# 1s. A non-linear encoder (784 → 128 → 2, ReLU, linear code; `01_codes_2d.png`) gives
# several classes an arm of their own — on MNIST the 1s, 0s and 6s, with 7s, 9s and 4s
# sharing another — without ever seeing a label, while 2, 3, 5 and 8 still crowd near the
# origin: two numbers per digit are few.

# %%
hidden_2d = 32 if FAST else 128
epochs_2d = 2 if FAST else 6
ae2 = npae.Autoencoder(hidden_layer_sizes=(hidden_2d, 2), activation=("relu", "identity"),
                       output="bernoulli", optimizer="adam", learning_rate=1e-3,
                       batch_size=128, epochs=epochs_2d, random_state=0, verbose=True)
t = time.perf_counter()
ae2.fit(X_train, X_val=X_test)
print(f"2-unit code: test BCE {ae2.history_['val_loss'][-1]:.1f} after {epochs_2d} epochs "
      f"({time.perf_counter() - t:.1f} s)")
plotting.codes_2d((X_test - mean_img) @ comps_img[:2].T, y_test,   # PCA's top 2 of section 4
                  title="PCA, 2 components",
                  path=out("01_codes_pca.png"))

# %%
plotting.codes_2d(ae2.transform(X_test), y_test, title="autoencoder, 2-unit code",
                  path=out("01_codes_2d.png"))

# %% [markdown]
# ## 6. Code size: bias against variance
#
# How many code units? Sweep $H$ from 2 to past the input size. To make an overcomplete
# code ($H > D$) cheap, the digits are average-pooled to $14\times14$, $D = 196$; one
# sigmoid hidden layer, a linear decoder with $\tfrac12$ squared error, Adam, a small
# training set, and three numbers per $H$: the training error, the test error, and the
# error of reconstructing a clean test digit from a **noisy** one ($x + 0.2\,\varepsilon$,
# $\varepsilon\sim\mathcal N(0, I)$): a map that copies its input copies the noise too.
#
# And one more: how close the whole map $x \mapsto \hat x$ is to the identity. Its
# Jacobian at $x$ is, with $s = \sigma'(xW_1 + b_1) = h(1-h)$,
#
# $$ J(x) = \frac{\partial \hat x}{\partial x} = W_1\,\mathrm{diag}(s)\,W_2 \quad (D, D), $$
#
# and we print $\lVert J - I\rVert_F / \lVert I\rVert_F = \lVert J - I\rVert_F/\sqrt D$,
# averaged over test digits: 0 for the identity map, 1 for a map that ignores its input.
# Pixels that are black in every training digit give the model no reason to copy them,
# so we also print the same distance restricted to the directions the data occupies,
# $\lVert (J - I)P\rVert_F/\lVert P\rVert_F$ with $P$ the projector onto the principal
# directions holding 99 % of the training variance.

# %%
def pool2(X):
    """28×28 images -> 14×14 by averaging 2×2 blocks, (N, 196)."""
    return X.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4)).reshape(len(X), 196)


def identity_distance(model, X, P=None):
    """Mean over rows of ‖(J(x) − I)P‖_F / ‖P‖_F (P = I by default) for a one-layer
    sigmoid encoder and a linear decoder."""
    W1, b1 = model.params_["enc.0.W"], model.params_["enc.0.b"]      # (D, H), (H,)
    W2 = model.params_["dec.0.W"]                                      # (H, D)
    h_x = 1 / (1 + np.exp(-(X @ W1 + b1)))                             # (N, H)
    J = np.einsum("dh,nh,he->nde", W1, h_x * (1 - h_x), W2)            # (N, D, D)
    P = np.eye(X.shape[1]) if P is None else P
    return float(np.mean(np.linalg.norm((J - np.eye(X.shape[1])) @ P, axis=(1, 2))
                         / np.linalg.norm(P)))


def half_sq(model, X_in, X_target):
    return float(0.5 * np.mean(np.sum((model.reconstruct(X_in) - X_target) ** 2, axis=1)))


n_cs = 300 if FAST else 2000
Xp_train = pool2(X_train[:n_cs]).astype(np.float64)
Xp_test = pool2(X_test[:1000]).astype(np.float64)
Xp_noisy = Xp_test + 0.2 * np.random.default_rng(5).standard_normal(Xp_test.shape)
D_p = Xp_train.shape[1]
variances = npae.pca(Xp_train, D_p)[2]
n_dirs = int(np.searchsorted(np.cumsum(variances) / variances.sum(), 0.99)) + 1
V_dirs = npae.pca(Xp_train, n_dirs)[0]                                 # (n_dirs, D)
P_data = V_dirs.T @ V_dirs                                             # projector (D, D)
cs_common = dict(activation="sigmoid", output="gaussian", learning_rate=3e-3, batch_size=64,
                 epochs=2 if FAST else 60, random_state=0, dtype="float64", verbose=False)
sizes = (4, 32, 256) if FAST else (2, 4, 8, 16, 32, 64, 128, 256, 400)
sweep = {}
print(f"D = {D_p}, {n_cs} training digits; {n_dirs} principal directions hold 99% of "
      f"the variance")
print(f"{'H':>4} {'train':>7} {'test':>7} {'noisy test':>10} {'‖J − I‖/√D':>11} "
      f"{'on the data':>11}")
for H_cs in sizes:
    m = npae.Autoencoder(hidden_layer_sizes=(H_cs,), **cs_common).fit(Xp_train)
    row = (half_sq(m, Xp_train, Xp_train), half_sq(m, Xp_test, Xp_test),
           half_sq(m, Xp_noisy, Xp_test), identity_distance(m, Xp_test[:100]),
           identity_distance(m, Xp_test[:100], P_data))
    sweep[H_cs] = row
    print(f"{H_cs:4d} {row[0]:7.3f} {row[1]:7.3f} {row[2]:10.3f} {row[3]:11.3f} {row[4]:11.3f}"
          + ("   overcomplete (H > D)" if H_cs > D_p else ""))
noise_only = 0.5 * D_p * 0.2 ** 2                                      # ½ E‖0.2 ε‖²
print(f"a map that copies its input exactly: noisy-test error ½E‖0.2ε‖² = {noise_only:.2f}")

fig = Figure(figsize=(6.5, 3.4), layout="constrained")
ax = fig.add_subplot()
Hs = list(sweep)
for i, label in enumerate(["train", "test", "noisy test (clean target)"]):
    ax.plot(Hs, [sweep[H_][i] for H_ in Hs], "o-", label=label)
ax.axvline(D_p, color="0.5", linestyle=":", label=f"H = D = {D_p}")
ax.axhline(noise_only, color="C2", linestyle="--", lw=0.8, label="noise of a copied input")
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel("code size H")
ax.set_ylabel("½‖x̂ − x‖² per digit")
ax.legend(fontsize=8)
ax.set_title("code size sweep (14×14 digits)")
plotting.save_figure(fig, out("01_code_size.png"))
fig

# %% [markdown]
# Reading the table and `01_code_size.png`: at small $H$ both errors are high and close
# together — the model cannot represent the digits (**bias**). As $H$ grows both fall.
# Towards and past the input size the unregularised model approaches a copy of its
# input, and the Jacobian distance shows it: $J$ moves towards $I$ (fastest in the
# directions the data occupies). The test error keeps falling (a copy generalises
# perfectly, so reconstruction error alone cannot choose $H$), but the noisy-test error
# turns and rises towards the printed noise of a copied input: an overcomplete
# map reproduces whatever is in its input, noise included, and its code, a re-encoding
# of $x$, has learned nothing about digits (**variance**: the map is as sensitive to
# the particular input as it can be). The useful sizes are in between, and a regulariser
# can make a large code useful again — next.
#
# **Each regulariser breaks the identity.** The overcomplete $H = 256$ model again, with
# a KL sparsity penalty, with masking noise (denoising), and with the contractive
# penalty (tutorials 02–04):

# %%
H_over = 256
breakers = {"none": {},
            "sparse (KL, ρ=0.05, β=3)": dict(sparsity="kl", sparsity_weight=3.0,
                                             sparsity_target=0.05),
            "denoising (masking 0.3)": dict(noise="masking", noise_level=0.3),
            "contractive (λ=0.1)": dict(contractive_weight=0.1)}
print(f"H = {H_over} > D = {D_p}")
print(f"{'regulariser':26s} {'test':>7} {'noisy test':>10} {'‖J − I‖/√D':>11} "
      f"{'on the data':>11}")
broken = {}
for name, kw in breakers.items():
    m = npae.Autoencoder(hidden_layer_sizes=(H_over,), **cs_common, **kw).fit(Xp_train)
    broken[name] = (half_sq(m, Xp_test, Xp_test), half_sq(m, Xp_noisy, Xp_test),
                    identity_distance(m, Xp_test[:100]),
                    identity_distance(m, Xp_test[:100], P_data))
    print(f"{name:26s} {broken[name][0]:7.3f} {broken[name][1]:10.3f} {broken[name][2]:11.3f} "
          f"{broken[name][3]:11.3f}")

# %% [markdown]
# Every regulariser moves the Jacobian away from $I$: both distance columns grow past
# the unregularised row's, the identity is broken. Each does it by asking for something
# a copy cannot give: few active units per digit (sparse), undoing a corruption
# (denoising), a small encoder Jacobian $\lVert J_f\rVert_F$ (contractive). What that
# buys depends on the question. All three pay in clean test error (bias). On inputs
# with *Gaussian* noise the printed noisy-test column differs by regulariser: a
# contractive map damps every small input change, noise included; a denoiser trained
# on masking noise learned to undo masking, not Gaussian noise; a sparse code spends
# its few units on the digit but also reconstructs worse. Regularisation trades
# variance for bias, and which variance it removes depends on the regulariser: choose
# it for the perturbations you expect.
#
# ## 7. Tied or untied?
#
# Same code size, same data, same training; parameter count, test error and training
# time, on the full 28×28 digits:

# %%
n_tu = 500 if FAST else 10000
tu_rows = []
for tied_flag in (False, True):
    m = npae.Autoencoder(hidden_layer_sizes=(64,), activation="sigmoid", output="bernoulli",
                         tied_weights=tied_flag, epochs=2 if FAST else 10, batch_size=128,
                         learning_rate=1e-3, random_state=0, verbose=False)
    t_fit = time.perf_counter()
    m.fit(X_train[:n_tu])
    t_fit = time.perf_counter() - t_fit
    n_params = sum(p.size for p in m.params_.values())
    tu_rows.append(("tied" if tied_flag else "untied", n_params,
                    float(np.mean(m.reconstruction_error(X_train[:n_tu]))),
                    float(np.mean(m.reconstruction_error(X_test))), t_fit))
print(f"{'weights':8s} {'parameters':>10s} {'train BCE':>10s} {'test BCE':>9s} {'fit (s)':>8s}")
for name, n_params, tr, te, secs in tu_rows:
    print(f"{name:8s} {n_params:10,d} {tr:10.2f} {te:9.2f} {secs:8.1f}")
print(f"(time measured on a shared machine, load {open('/proc/loadavg').read().split()[0]})"
      if os.path.exists("/proc/loadavg") else "")

# %% [markdown]
# Tying removes the decoder's $H\times D$ weight matrix, almost half the parameters. A
# step computes the same matrix products either way (only the gradient of $W$ gains the
# `+` of (B7)), so the time per step should be about the same; the printed times come
# from a shared machine and carry its noise. What tying does to the error depends on
# the setting; here the table says it.
#
# ## Common misreadings
#
# > **"The decoder of a tied autoencoder is not trained."** It is the encoder's weight,
# > transposed, and it is trained through both uses: the gradient of $W$ is the sum of
# > the encoder's and the decoder's contributions (B7). Settled by section 2's printed
# > line for `enc.0.W`: its "decoder part" is not 0, and the tied gradient equals the sum
# > of the two parts to rounding.
#
# > **"A linear autoencoder is PCA."** It finds PCA's **subspace**, not PCA's axes: its
# > decoder rows are the principal directions up to an invertible $H\times H$ map.
# > Settled by section 3's printed numbers: the largest principal angle is near 0°, while
# > the $|\cos|$ matrix between the decoder rows and the principal directions is not a
# > permutation matrix and the rows are not unit vectors.

# %% [markdown]
# ## Summary
#
# * A deep autoencoder's backward is one recursion, $dA = dH\odot f'(A)$,
#   $dW = H_\text{in}^\top dA$, $dH_\text{in} = dA W^\top$, started by $(\hat x - X)/B$.
# * A tied weight is used twice; its gradient is the sum (B7), visible as a `+=`.
# * A linear autoencoder learns PCA's subspace (not its axes) and PCA's error.
# * Non-linear layers buy lower error at the same code size and codes that separate
#   classes.
#
# Next: `02_sparse.py` and the other regularised autoencoders.

# %%
print(f"done in {time.perf_counter() - START:.1f} s")
