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
# # 03 · Denoising autoencoders
#
# A denoising autoencoder (Vincent et al. 2008) is shown a *corrupted* copy $\tilde x$ of
# each example and asked to reconstruct the *clean* $x$. It cannot succeed by copying, so
# it has to learn what digits look like. This tutorial
#
# 1. draws the three corruptions side by side: Gaussian, masking, salt-and-pepper;
# 2. shows why the randomness is drawn *outside* the step, and checks the gradient of a
#    denoising step — including the gradient with respect to the input, which reaches
#    the loss along two paths;
# 3. trains denoising autoencoders and a plain one of the same size, and compares them on
#    noisy test images: grids of noisy / denoised / clean digits, MSE and PSNR.
#
# Run as a script (`python tutorials/03_denoising.py`; `NPAE_FAST=1` for a quick pass;
# `NPAE_DATA=<folder holding mnist/>` to use MNIST) or open with jupytext. Figures go to
# `NPAE_TUTORIAL_OUT` (default `tutorial-output/`).

# %%
import inspect
import time

import numpy as np

try:                                   # in a checkout: its own npae first
    from _setup import FAST, START, out  # Agg backend, NPAE_FAST, figure folder
except ModuleNotFoundError:            # a tutorial copied out on its own: installed npae
    from npae.tutorial_setup import FAST, START, out
from npae import Autoencoder, datasets, noise, plotting
from npae.gradcheck import check_model
from npae.metrics import denoising_scores
from npae.models.regularized import DenoisingAutoencoder


# %%
X_train, _, X_test, _, source = datasets.load_digits(400 if FAST else 20000, 200 if FAST else None)
print(f"data: {source}; train {X_train.shape}, test {X_test.shape}")

# %% [markdown]
# ## 1. Three corruptions
#
# With the noise drawn once (npae.noise):
#
# $$ \text{Gaussian:}\quad \tilde X = X + s\,\varepsilon,\ \ \varepsilon \sim \mathcal N(0, I) \tag{F1} $$
# $$ \text{masking:}\quad \tilde X = X \odot m,\ \ m_{nd} \sim \mathrm{Bernoulli}(1-p) \tag{F2} $$
# $$ \text{salt-and-pepper:}\quad \tilde X = X \odot (1 - r) + v \odot r,\ \
#    r_{nd} \sim \mathrm{Bernoulli}(p),\ v_{nd} \in \{\text{lo}, \text{hi}\} \text{ each w.p. } \tfrac12 \tag{F3} $$
#
# Masking noise deletes a fraction $p$ of the pixels, salt-and-pepper overwrites a fraction
# $p$ with black or white (the minimum and maximum of the training data, learned by `fit`).

# %%
rng = np.random.default_rng(0)
clean = X_test[:10]
rows = [("clean", clean)]
for name, level in [("gaussian", 0.3), ("masking", 0.3), ("salt_and_pepper", 0.3)]:
    nu = noise.sample_noise(clean, name, level, rng)
    rows.append((f"{name} {level}", np.clip(nu.apply(clean), 0, 1)))   # clip only to draw
plotting.image_rows(rows, n=10, vmin=0, vmax=1, title="three corruptions, level 0.3",
                    path=out("03_corruptions.png"))
print("fraction of pixels changed by masking at p = 0.3:",
      np.mean(noise.sample_noise(X_test, "masking", 0.3, rng).mask == 0).round(3))

# %% [markdown]
# ## 2. The step is a pure function of the noise
#
# If the corruption were drawn inside the forward pass, every evaluation of the loss would
# see different noise, and a finite-difference check would compare two different functions.
# So `model.sample_noise(X, rng)` draws the noise into a small record *before* the step, and
# the step `loss_and_grads(X, noise)` is deterministic given it. Training draws fresh noise
# for every batch; a gradient check holds one draw fixed.
#
# The clean $X$ reaches the loss twice: through the corrupted input $\tilde X(X)$ that the
# encoder reads, and as the reconstruction target. Its gradient is the sum of both paths:
#
# $$ \frac{\partial L}{\partial X} = \Big(\frac{\partial \tilde X}{\partial X}\Big)^{\!\top}
#    \frac{\partial L}{\partial \tilde X} + \frac{\partial\,\mathrm{recon}}{\partial X}\Big|_\text{target},
#    \qquad \frac{\partial \tilde x_{nd}}{\partial x_{nd}} = 1,\ m_{nd},\ 1 - r_{nd}. \tag{B12} $$
#
# For salt-and-pepper the replacement values are constants of the draw, so $\tilde X$ is
# affine in $X$: derivative 1 where a pixel is kept, 0 where it was replaced.

# %%
print(inspect.getsource(noise.SaltAndPepperNoise.apply))
print(inspect.getsource(noise.SaltAndPepperNoise.backward))
Xc = np.random.default_rng(1).uniform(0.05, 0.95, size=(5, 8))
for name in ["gaussian", "masking", "salt_and_pepper"]:
    dae_small = DenoisingAutoencoder((5, 3), noise=name, noise_level=0.4, tied_weights=True,
                                     dtype="float64", random_state=0).initialize(8)
    nu = dae_small.sample_noise(Xc, np.random.default_rng(2))
    report = check_model(dae_small, Xc, noise=nu)
    inp = [r for r in report.rows if r.name == "input X"][0]
    print(f"{name:16s} max relative error over all arrays {report.max_rel_error:.1e}; "
          f"input gradient {inp.rel_error:.1e}")
a = dae_small.loss_and_grads(Xc, noise=nu)[0]
b = dae_small.loss_and_grads(Xc, noise=nu)[0]
c = dae_small.loss_and_grads(Xc, noise=dae_small.sample_noise(Xc, np.random.default_rng(3)))[0]
print(f"same noise, same loss: {a == b}; another draw: {a:.6f} vs {c:.6f}")

# %% [markdown]
# ## 3. Denoising versus a plain autoencoder
#
# Four models of the same size (one hidden layer of 64 sigmoid units, Bernoulli output)
# trained the same way: a plain autoencoder and three denoising ones, one per corruption.
# A tiny weight decay is there for the filter pictures only: MNIST's border pixels are
# always 0, so their weights get no gradient from the data and would keep their random
# initial values, which dominate a filter's grey scale; with Adam even λ = 1e-5 clears them.
# Each is then given test images corrupted with its own kind of noise (the plain one with
# masking noise), and we measure how close the reconstruction is to the clean image:
# MSE per pixel and PSNR $= 10\log_{10}(1/\mathrm{MSE})$ (npae.metrics).

# %%
common = dict(hidden_layer_sizes=(32 if FAST else 64,), epochs=2 if FAST else 10,
              learning_rate=1e-2, batch_size=128, random_state=0, verbose=False,
              weight_decay=1e-5)    # clears the weights of never-lit border pixels (filters)
models = {"plain": Autoencoder(**common)}
levels = {"gaussian": 0.3, "masking": 0.3, "salt_and_pepper": 0.1}
for name, level in levels.items():
    models[name] = DenoisingAutoencoder(noise=name, noise_level=level, **common)
for name, m in models.items():
    t0 = time.perf_counter()
    m.fit(X_train)
    print(f"trained {name:16s} in {time.perf_counter() - t0:5.1f} s")

test_rng = np.random.default_rng(10)
noisy = {name: noise.sample_noise(X_test, name, level, test_rng,
                                  data_range=models[name].data_range_).apply(X_test)
         for name, level in levels.items()}
print(f"\n{'noise':16s} {'model':16s} {'MSE noisy':>10s} {'MSE out':>10s} {'PSNR noisy':>11s} {'PSNR out':>9s}")
for name in levels:
    for model_name in ([name, "plain"] if name == "masking" else [name]):
        s = denoising_scores(X_test, noisy[name], models[model_name].reconstruct(noisy[name]))
        print(f"{name:16s} {model_name:16s} {s['mse_noisy']:10.4f} {s['mse_denoised']:10.4f} "
              f"{s['psnr_noisy']:11.2f} {s['psnr_denoised']:9.2f}")
plain_clean = denoising_scores(X_test, X_test, models["plain"].reconstruct(X_test))
print(f"(plain AE on clean test images: MSE {plain_clean['mse_denoised']:.4f})")

# %% [markdown]
# The denoising autoencoder trained with masking noise brings masked test images closer to
# the clean ones than the plain autoencoder does, and closer than the noisy input itself
# (the test in `tests/test_regularized.py` asserts both on MNIST). Grids, column $k$ being
# one test digit: noisy input, the plain model's output, the denoising model's output, and
# the clean digit.

# %%
Xn = noisy["masking"][:10]
plotting.image_rows([("noisy (mask 0.3)", Xn), ("plain AE", models["plain"].reconstruct(Xn)),
                     ("denoising AE", models["masking"].reconstruct(Xn)),
                     ("clean", X_test[:10])], n=10, vmin=0, vmax=1,
                    path=out("03_masking_grid.png"))
for name in ["gaussian", "salt_and_pepper"]:
    Xn = noisy[name][:10]
    plotting.image_rows([("noisy", np.clip(Xn, 0, 1)), ("denoised", models[name].reconstruct(Xn)),
                         ("clean", X_test[:10])], n=10, vmin=0, vmax=1,
                        title=f"{name} noise", path=out(f"03_{name}_grid.png"))
for name in ["plain", "masking"]:
    plotting.filters(models[name].params_["enc.0.W"], n=64,
                     title=f"{name}: first 64 encoder filters",
                     path=out(f"03_filters_{name}.png"))

# %% [markdown]
# Vincent et al. observed that long denoising training turns the filters into localized
# stroke detectors. After this short run (10 epochs on 20,000 digits) compare
# `03_filters_plain.png` with `03_filters_masking.png` with care: in both, many units show
# speckled, structureless filters. Those units are saturated on every digit ($h \approx 0$
# or 1, so $\sigma'(a) \approx 0$ and their weights barely receive a gradient); the
# difference the noise makes is clearest in the numbers and grids above. Salt-and-pepper
# noise is the hardest of the three here: at 10% the denoised images are only slightly
# closer to the clean ones than the noisy input. Regularizers compose: `Autoencoder(noise="masking",
# noise_level=0.3, sparsity="kl", sparsity_weight=3.0)` is a sparse denoising autoencoder,
# one model with both terms, each gradient-checked in `tests/test_regularized.py`.

# %%
print(f"done in {time.perf_counter() - START:.1f} s")

# %% [markdown]
# ## Common misreadings
#
# > **"The Gaussian noise level is a variance."** In npae it is the **standard
# > deviation** $s$: $\tilde x = x + s\,\varepsilon$, $\varepsilon \sim \mathcal N(0, I)$
# > (noise (D1)), so `noise_level=0.2` adds noise of variance $0.04$. Settled by the
# > sample statistics of $\tilde x - x$ below, from the same `sample_noise` that training
# > uses.

# %%
gauss_model = Autoencoder(noise="gaussian", noise_level=0.2, random_state=0, verbose=False)
record = gauss_model.sample_noise(X_test, np.random.default_rng(0))      # the step's ν
diff = record.apply(X_test) - X_test                                      # x̃ − x
print(f"noise_level = {gauss_model.noise_level}: std of x̃ − x {diff.std():.4f}, "
      f"variance {diff.var():.4f} (s² = {gauss_model.noise_level ** 2:.4f})")
