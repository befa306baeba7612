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
# # 09 · Imputation: autoencoders that fill in missing values
#
# Filling in missing values is one use of a model of the data: what it predicts for the
# entries nobody observed. This tutorial
#
# 1. derives the reconstruction loss over the **observed** entries only, and checks that
#    its gradients come from those entries alone;
# 2. imputes MNIST pixels missing at random (30 %, 60 %) and in blocks, against mean
#    imputation and PCA imputation (iterative SVD);
# 3. runs I-AutoRec (Sedhain et al., WWW 2015) on MovieLens-100K explicit ratings,
#    against the global-mean and item-mean baselines.
#
# Notation (docs/notation.md): $X$ is $(B, D)$, one example per row; the mask $M$, a
# boolean array of $X$'s shape, is 1 where $X_{nd}$ was observed. Equation tags are those
# of `npae/missing.py`, cited as "missing (I2)". Only the autoencoder family takes a mask
# (`Autoencoder` and its presets); the VAE does not.
#
# Run as a script (`python tutorials/09_imputation.py`, `NPAE_FAST=1` for a quick pass,
# `NPAE_DATA=<folder holding mnist/ and ml-100k/>` for MNIST and MovieLens) or open with
# jupytext. Figures go to `NPAE_TUTORIAL_OUT` (default `tutorial-output/`).

# %%
import os
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

try:                                   # in a checkout: its own npae first
    from _setup import FAST, START, out  # Agg backend, NPAE_FAST, figure folder
except ModuleNotFoundError:            # a tutorial copied out on its own: installed npae
    from npae.tutorial_setup import FAST, START, out
import npae
from npae import datasets, missing, plotting
from npae.gradcheck import check_gradients, check_input_gradient

# %% [markdown]
# ## 1. A loss over the observed entries
#
# A missing entry must neither be read by the encoder nor scored by the loss. npae sets
# it to 0 first (as AutoRec does, and as masking noise does in tutorial 03), so the
# encoder reads
#
# $$ X^0 = M \odot X \tag{missing (I1)} $$
#
# (a missing entry may even hold NaN: it is replaced, never multiplied). The
# reconstruction loss is summed over each example's **observed** entries and averaged
# over the $B$ examples of the batch, with $\ell$ the per-entry loss ($\tfrac12(a - x)^2$
# for a Gaussian output, $\mathrm{softplus}(a) - xa$ for a Bernoulli one) and $A$ the
# output logits:
#
# $$ \mathcal L_\text{rec} = \frac1B \sum_n \sum_d M_{nd}\, \ell(A_{nd}, X^0_{nd}).
#    \tag{missing (I2)} $$
#
# (An example with nothing observed still counts in $B$ and adds 0.) For both losses
# $\partial\ell/\partial a = \hat x - x$, so the output gradient is that of the full loss
# with the unobserved entries zeroed, and by (I1) the input gradient is zero there too:
#
# $$ \frac{\partial\mathcal L_\text{rec}}{\partial A} = \frac{M\odot(\hat X - X^0)}{B},
#    \qquad \frac{\partial\mathcal L}{\partial X} = M \odot \frac{\partial\mathcal L}{\partial X^0}.
#    \tag{missing (I3–I4)} $$
#
# So the loss and every gradient depend on the observed entries alone. Three checks on a
# small model in float64: the gradients against central differences with a mask, the
# input gradient likewise, and bit-identical results when the missing entries change
# (to other numbers, or to NaN).

# %%
rng = np.random.default_rng(0)
Xs = rng.uniform(0.05, 0.95, size=(5, 8))                             # (B, D) = (5, 8)
Ms = rng.uniform(size=Xs.shape) < 0.6                                 # observed: True
small = npae.Autoencoder((4,), weight_decay=0.1, dtype="float64", random_state=0,
                         verbose=False).initialize(8)


def fun(p):
    loss, _, grads = small.loss_and_grads(Xs, params=p, observed=Ms)
    return loss, grads


print(f"{Ms.sum()} of {Ms.size} entries observed")
print(check_gradients(fun, small.params_))
print(check_input_gradient(lambda Xp: small.input_gradient(Xp, observed=Ms), Xs))
X_other = np.where(Ms, Xs, rng.uniform(size=Xs.shape))                # new missing values
X_nan = np.where(Ms, Xs, np.nan)                                      # or NaN
runs = [small.loss_and_grads(X, observed=Ms) for X in (Xs, X_other, X_nan)]
same = all(r[0] == runs[0][0] and all(np.array_equal(r[2][k], runs[0][2][k]) for k in r[2])
           for r in runs[1:])
print(f"loss {runs[0][0]:.10f}; same loss and bit-identical gradients with other values "
      f"or NaN where missing: {same}")
dX = small.input_gradient(X_nan, observed=Ms)[1]
print(f"input gradient on missing entries: max |dL/dX| = {np.abs(dX[~Ms]).max():.1f}")
try:
    small.loss_and_grads(np.where(Ms, np.nan, Xs), observed=Ms)       # NaN where observed
except ValueError as exc:
    print("NaN at an observed entry:", exc)

# %% [markdown]
# **Imputing.** `model.impute(X, observed, n_iter=T)` returns $X$ with every missing entry
# replaced by the reconstruction, iterating
#
# $$ X^{(0)} = X^0, \qquad X^{(t)} = M\odot X + (1 - M)\odot \hat x\big(X^{(t-1)}\big),
#    \quad t = 1..T, \tag{missing (I5)} $$
#
# and keeps the observed entries of $X$ bit for bit. $T = 1$ reads exactly what a model
# fitted with a mask was trained on (zeros where missing); $T > 1$ feeds each fill-in
# back. Whether that helps is an empirical question, answered for digits below.

# %% [markdown]
# ## 2. Missing pixels of MNIST digits
#
# Three patterns: pixels missing completely at random with probability 0.3 and 0.6, and
# one $12\times12$ block per image at a random position (a "scratch": up to 144 of the
# 784 pixels, contiguous). The training images have missing pixels of the same kind:
# every model learns from the observed pixels only. We measure the root mean squared
# error on the **missing** pixels of test images, for
#
# * **mean imputation**: each pixel's mean over the training images where it was observed;
# * **PCA imputation** (iterative SVD): fill the missing pixels with the means, fit a
#   rank-$r$ PCA, replace the missing pixels by the rank-$r$ reconstruction, and repeat
#   (Troyanskaya et al. 2001's SVDimpute; it is EM for probabilistic PCA as the noise
#   goes to 0); the test images are then filled by the same iteration with the training
#   components;
# * **the autoencoder**: 784 → 256 (ReLU) → 64 (ReLU) → mirrored decoder, Bernoulli
#   output, trained with `fit(X, observed=M)`; imputed with $T = 1$ and $T = 5$.

# %%
X_train, _, X_test, _, source = datasets.load_digits(300 if FAST else 10000,
                                                     100 if FAST else 2000)
X_train, X_test = X_train.astype(np.float64), X_test.astype(np.float64)
N, D = X_train.shape
side = int(np.sqrt(D))
print(f"data: {source}; train {X_train.shape}, test {X_test.shape}")


def random_mask(shape, p_missing, rng):
    """Observed (True) with probability 1 − p_missing, independently per pixel."""
    return rng.uniform(size=shape) >= p_missing


def block_mask(n, side, block, rng):
    """One block × block square per image missing, at a uniform random position."""
    rows = rng.integers(0, side - block + 1, size=n)[:, None, None]           # (n, 1, 1)
    cols = rng.integers(0, side - block + 1, size=n)[:, None, None]
    r, c = np.arange(side)[None, :, None], np.arange(side)[None, None, :]    # (1, side, 1)
    inside = (r >= rows) & (r < rows + block) & (c >= cols) & (c < cols + block)
    return ~inside.reshape(n, side * side)


def mean_impute(X, M, X_fit, M_fit):
    """Missing entries of X get each column's mean over the observed entries of X_fit."""
    col_mean = np.sum(X_fit * M_fit, axis=0) / np.maximum(M_fit.sum(axis=0), 1)   # (D,)
    return np.where(M, X, col_mean)


def pca_impute_fit(X, M, rank, n_iter):
    """Iterative SVD on (X, M): returns (components (r, D), mean (D,), X filled)."""
    filled = mean_impute(X, M, X, M)
    for _ in range(n_iter):
        components, mean, _ = npae.pca(filled, rank)                  # (r, D), (D,)
        recon = mean + (filled - mean) @ components.T @ components    # rank-r reconstruction
        filled = np.where(M, X, recon)                                # observed entries kept
    return components, mean, filled


def pca_impute(X, M, components, mean, start, n_iter):
    """The same iteration on new rows with fixed components; ``start`` fills the first pass."""
    filled = np.where(M, X, start)
    for _ in range(n_iter):
        filled = np.where(M, X, mean + (filled - mean) @ components.T @ components)
    return filled


patterns = {"30% random": lambda n, r: random_mask((n, D), 0.3, r),
            "60% random": lambda n, r: random_mask((n, D), 0.6, r),
            "12×12 block": lambda n, r: block_mask(n, side, 12, r)}
rank, pca_iters = (10, 2) if FAST else (40, 10)
ae_settings = dict(hidden_layer_sizes=(64, 16) if FAST else (256, 64), activation="relu",
                   output="bernoulli", epochs=1 if FAST else 10, batch_size=128, learning_rate=1e-3,
                   random_state=0, verbose=False)
results, examples = {}, {}
mask_rng = np.random.default_rng(1)
for name, make_mask in patterns.items():
    t0 = time.perf_counter()
    M_train, M_test = make_mask(N, mask_rng), make_mask(len(X_test), mask_rng)
    missing_test = ~M_test

    def rmse(filled):
        return float(np.sqrt(np.mean((filled - X_test)[missing_test] ** 2)))

    filled = {"mean": mean_impute(X_test, M_test, X_train, M_train)}
    comps, mu, _ = pca_impute_fit(X_train, M_train, rank, pca_iters)
    filled[f"PCA (rank {rank})"] = pca_impute(X_test, M_test, comps, mu, filled["mean"],
                                             pca_iters)
    ae = npae.Autoencoder(**ae_settings).fit(np.where(M_train, X_train, np.nan),
                                            observed=M_train)
    X_test_nan = np.where(M_test, X_test, np.nan)                     # what a user would have
    filled["autoencoder, T = 1"] = ae.impute(X_test_nan, M_test, n_iter=1)
    filled["autoencoder, T = 5"] = ae.impute(X_test_nan, M_test, n_iter=5)
    assert all(np.array_equal(f[M_test], X_test[M_test]) for f in filled.values())
    results[name] = {method: rmse(f) for method, f in filled.items()}
    examples[name] = (M_test, filled)
    print(f"{name:12s} ({missing_test.mean():5.1%} of test pixels missing)  " +
          "  ".join(f"{m} {v:.4f}" for m, v in results[name].items()) +
          f"   [{time.perf_counter() - t0:.0f} s]")

# %%
methods = list(next(iter(results.values())))
fig = Figure(figsize=(8.0, 3.6), layout="constrained")
ax = fig.add_subplot()
width = 0.8 / len(methods)
for j, method in enumerate(methods):
    ax.bar(np.arange(len(results)) + (j - (len(methods) - 1) / 2) * width,
           [results[p][method] for p in results], width, label=method)
ax.set_xticks(np.arange(len(results)), list(results))
ax.set_ylabel("RMSE on the missing pixels (test)")
ax.set_title("imputing MNIST pixels: lower is better")
ax.legend(fontsize=8)
plotting.save_figure(fig, out("09_mnist_rmse.png"))
fig

# %%
rows = []
for name, (M_test, filled) in examples.items():
    shown = np.where(M_test[:8], X_test[:8], 0.5)                    # missing shown grey
    rows += [(f"{name}: input", shown)] + [(m, f[:8]) for m, f in filled.items()
                                           if m != "autoencoder, T = 5"]
plotting.image_rows([("test digit", X_test[:8])] + rows, n=8, path=out("09_mnist_filled.png"),
                    title="missing pixels (grey) filled in by each method", vmin=0, vmax=1)

# %% [markdown]
# Read the numbers above (and `09_mnist_rmse.png`, `09_mnist_filled.png`) pattern by
# pattern. Mean imputation ignores the observed pixels of the image itself, so it draws
# the average digit into every hole. PCA uses them through a linear map, the autoencoder
# through a non-linear one learned from incomplete images only. In a block a whole piece
# of stroke can be missing, to be inferred from the digit's shape rather than from
# neighbouring pixels: compare the block row with the two random rows.

# %%
best = {p: min(r, key=r.get) for p, r in results.items()}
print("lowest RMSE per pattern:", best)
for p, r in results.items():
    print(f"{p:12s} autoencoder (T = 1) / mean imputation = "
          f"{r['autoencoder, T = 1'] / r['mean']:.2f};  autoencoder (T = 1) / PCA = "
          f"{r['autoencoder, T = 1'] / r[f'PCA (rank {rank})']:.2f};  T = 5 / T = 1 = "
          f"{r['autoencoder, T = 5'] / r['autoencoder, T = 1']:.2f}")

# %% [markdown]
# ## 3. I-AutoRec on MovieLens-100K
#
# A ratings matrix is mostly missing: MovieLens-100K holds 100,000 ratings (1 to 5 stars)
# of 1,682 movies by 943 users, 6.3 % of the matrix. Sedhain et al. (WWW 2015) treat each
# **item** as an example: its vector of ratings by all users, $r^{(i)} \in \mathbb
# R^{943}$, observed where user $u$ rated item $i$. I-AutoRec is one hidden layer over
# that vector,
#
# $$ \hat r^{(i)} = V\,\mathrm{sigm}(W r^{(i)} + b) + c, $$
#
# trained on the observed ratings only, with weight decay. That is exactly
# `Autoencoder((500,), activation="sigmoid", output="gaussian", weight_decay=λ)` fitted
# with `observed=M`: missing (I2) with $\ell = \tfrac12(a - r)^2$ is the paper's
# $\sum_{i}\lVert r^{(i)} - \hat r^{(i)}\rVert^2_{\mathcal O}$ up to a factor (npae averages
# over the items of a batch and halves the square: its data term is the paper's divided
# by twice the number of items, so npae's $\lambda$ is about the paper's divided by that
# number, printed below). The prediction for user $u$ and item $i$ is $\hat r^{(i)}_u$, the
# reconstruction of item $i$'s training ratings, clipped to $[1, 5]$ (an item with no
# training rating gets the global mean).
#
# The split: 90 % of the ratings for training, 10 % for testing, drawn at random with a
# fixed seed. $\lambda$ is chosen on a validation tenth of the training ratings, then the
# model is refitted on all of them. The baselines predict the global mean rating, and
# each item's mean training rating.

# %%
data_dir = Path(os.environ.get("NPAE_DATA", "../shared/data"))
ratings_path = data_dir / "ml-100k" / "u.data"
if not ratings_path.is_file():
    print(f"MovieLens-100K not found at {ratings_path}: this section is skipped. Set "
          f"NPAE_DATA to a folder holding ml-100k/u.data (from "
          f"https://grouplens.org/datasets/movielens/100k/).")
    ratings = None
else:
    ratings = np.loadtxt(ratings_path, dtype=np.int64)                # user item rating time
    print(f"{ratings_path}: {len(ratings):,} ratings")

# %%
if ratings is not None:
    users, items = ratings[:, 0] - 1, ratings[:, 1] - 1               # 0-based ids
    stars = ratings[:, 2].astype(np.float64)
    n_users, n_items = users.max() + 1, items.max() + 1
    split_rng = np.random.default_rng(0)
    is_test = split_rng.permutation(len(stars)) < len(stars) // 10    # 10 % test, seeded
    print(f"{n_users} users, {n_items} items, {len(stars):,} ratings "
          f"({len(stars) / (n_users * n_items):.1%} of the matrix); "
          f"{(~is_test).sum():,} training, {is_test.sum():,} test")
    ml_1m = dict(users=6040, items=3706, ratings=1_000_209)          # the ML-1M README's counts
    print(f"against ML-1M: {n_users / ml_1m['users']:.2f} of its users, "
          f"{len(stars) / ml_1m['ratings']:.2f} of its ratings; npae's λ ≈ paper's λ / "
          f"{2 * n_items} (twice the number of items)")

    def item_matrix(keep):
        """Items × users ratings of the rows ``keep`` (NaN where missing) and the mask."""
        R = np.full((n_items, n_users), np.nan)
        R[items[keep], users[keep]] = stars[keep]
        return R, ~np.isnan(R)

    def fit_autorec(keep, lam, epochs):
        R, M_r = item_matrix(keep)
        model = npae.Autoencoder((50 if FAST else 500,), activation="sigmoid", output="gaussian",
                                 weight_decay=lam, epochs=epochs, batch_size=32,
                                 learning_rate=1e-3, random_state=0, verbose=False)
        return model.fit(R, observed=M_r), R, M_r

    def predict(model, R, M_r, rows, fallback):
        """Clipped reconstructions r̂_ui for the ratings ``rows``; ``fallback`` for new items."""
        R_hat = model.reconstruct(np.where(M_r, R, 0.0))              # (items, users)
        pred = np.clip(R_hat[items[rows], users[rows]], 1, 5)
        seen = M_r.any(axis=1)[items[rows]]
        return np.where(seen, pred, fallback)

    def rmse_of(pred, rows):
        return float(np.sqrt(np.mean((pred - stars[rows]) ** 2)))

    epochs_ar = 1 if FAST else 30
    train_rows = ~is_test
    is_val = train_rows & (np.random.default_rng(1).uniform(size=len(stars)) < 0.1)
    fit_rows = train_rows & ~is_val
    val_scores = {}
    for lam in ((1e-3,) if FAST else (1e-3, 1e-2, 1e-1, 1.0)):
        model, R, M_r = fit_autorec(fit_rows, lam, epochs_ar)
        val_scores[lam] = rmse_of(predict(model, R, M_r, is_val, stars[fit_rows].mean()),
                                  is_val)
        print(f"λ = {lam:g}: validation RMSE {val_scores[lam]:.4f}")
    lam_best = min(val_scores, key=val_scores.get)

    t0 = time.perf_counter()
    autorec, R_train, M_train_r = fit_autorec(train_rows, lam_best, epochs_ar)
    global_mean = stars[train_rows].mean()
    counts = M_train_r.sum(axis=1)
    item_mean = np.where(counts > 0, np.nansum(R_train, axis=1) / np.maximum(counts, 1),
                         global_mean)
    scores = {"global mean": rmse_of(np.full(is_test.sum(), global_mean), is_test),
              "item mean": rmse_of(item_mean[items[is_test]], is_test),
              f"I-AutoRec (λ = {lam_best:g})": rmse_of(
                  predict(autorec, R_train, M_train_r, is_test, global_mean), is_test)}
    print(f"I-AutoRec trained in {time.perf_counter() - t0:.0f} s ({epochs_ar} epochs)")
    for name, value in scores.items():
        print(f"test RMSE {name:22s} {value:.4f}")
    print(f"Sedhain et al. report I-AutoRec RMSE 0.831 on MovieLens-1M (90/10 split); here, "
          f"on MovieLens-100K: {scores[f'I-AutoRec (λ = {lam_best:g})']:.3f}")

    fig = Figure(figsize=(6.0, 3.0), layout="constrained")
    ax = fig.add_subplot()
    ax.barh(list(scores), list(scores.values()), color=["0.6", "0.6", "C0"])
    ax.axvline(0.831, color="C3", linestyle="--", label="paper, ML-1M")
    ax.set_xlim(0.8, max(scores.values()) + 0.05)
    ax.set_xlabel("test RMSE (stars)")
    ax.legend(fontsize=8)
    ax.set_title("MovieLens-100K, 90/10 split")
    plotting.save_figure(fig, out("09_autorec.png"))

# %% [markdown]
# The global mean ignores both user and item; the item mean knows which movies are liked;
# I-AutoRec predicts a user's rating of a movie from how the movie was rated by everyone,
# through 500 learned "taste" units. Two differences from the paper matter when comparing
# with its number: ML-100K has far fewer users and ratings than ML-1M (the fractions
# are printed above: less data per item vector), and the paper trains with full-batch Rprop and
# tunes $\lambda$ over a wider grid, where we run minibatch Adam for a fixed number of
# epochs.

# %%
print(f"done in {time.perf_counter() - START:.1f} s")
