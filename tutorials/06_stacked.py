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
# # 06 · Greedy layer-wise training versus end-to-end training
#
# A deep autoencoder can be trained in two ways:
#
# * **end to end**: all layers from a random start, by backpropagation through the whole
#   network (tutorial 01);
# * **greedily, one layer at a time** (Hinton & Salakhutdinov 2006; Bengio et al. 2007):
#   train a one-layer autoencoder on the data, then another on its codes, and so on; then
#   stack the trained layers into a deep autoencoder and *fine-tune* it end to end.
#
# Greedy pretraining was how deep networks were first trained at all. This tutorial
#
# 1. writes the procedure as four equations (S1)–(S4), as in `npae.models.stacked`;
# 2. checks each step numerically on a small float64 stack: the codes of (S2), the
#    unrolled parameters of (S3) against an unroll written here from the equations, the
#    reconstruction of the unrolled stack against the stages', and a gradient check of
#    the unrolled model;
# 3. trains on MNIST a stacked autoencoder 784-256-64 (plain and with denoising stages)
#    and the same deep autoencoder end to end, with the same number of passes over the
#    data, and compares test reconstruction and linear-probe accuracy of the codes;
# 4. shows per-stage loss curves, the first-layer filters and reconstructions.
#
# Run as a script (`python tutorials/06_stacked.py`; `NPAE_FAST=1` for a quick pass;
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
import npae
from npae import datasets, plotting
from npae.gradcheck import check_model
from npae.probe import linear_probe_accuracy


# %% [markdown]
# ## 1. The procedure
#
# Let the deep encoder have widths $(n_1, \dots, n_L)$ and write $H_0 = X$, shape
# $(N, D)$. Greedy layer-wise training is
#
# $$ \text{(S1)}\quad \text{for } l = 1..L:\ \text{train}\quad
#    h = f_l(H_{l-1} W_l + b_l),\qquad \hat H_{l-1} = \mathrm{out}_l(h V_l + c_l) $$
#
# a one-layer autoencoder on the codes of the layer below, minimizing its reconstruction
# loss $\frac1B \sum_n \mathrm{recon}(\hat H_{l-1,n}, H_{l-1,n})$ (optionally with a
# regularizer: masking noise makes each stage a denoising autoencoder, giving a *stacked
# denoising autoencoder*, Vincent et al. 2010);
#
# $$ \text{(S2)}\quad H_l = f_l(H_{l-1} W_l + b_l) \qquad (N, n_l) $$
#
# its codes, which become the next stage's data;
#
# $$ \text{(S3)}\quad \text{unroll: encoder } W_1, \dots, W_L,\quad
#    \text{decoder } V_L, \dots, V_1 $$
#
# (decoder layer $m = 1..L$ takes $V$ and $c$ of stage $L + 1 - m$); and
#
# $$ \text{(S4)}\quad \text{fine-tune all } 2L \text{ layers together on }
#    \tfrac1B \textstyle\sum_n \mathrm{recon}(\hat x_n, x_n) $$
#
# with the deep autoencoder's backward pass (B1)–(B4) of `npae.models.autoencoder`.
#
# **What each stage reconstructs.** Stage 1 reconstructs pixels in $[0, 1]$ with a
# Bernoulli output: $\mathrm{out}_1 = \sigma$ and the cross-entropy of tutorial 00. Stage 2
# reconstructs the sigmoid codes $H_1 \in (0, 1)$ — again numbers in $(0, 1)$, so npae
# uses a Bernoulli output there too (BCE is defined for soft targets). Its minimum over
# $\hat h$ is at $\hat h = h$ but is not zero: it is the entropy
# $-\sum_j [h_j \log h_j + (1 - h_j)\log(1 - h_j)]$, so stage 2's loss curve levels off
# above zero however well it does.
#
# **Why the unrolled decoder is exact.** Stage 2's reconstruction is
# $\hat H_1 = \sigma(z V_2 + c_2)$, and in the unrolled decoder the hidden layer mirrors
# encoder layer 1, so it applies $f_1 = \sigma$ to the same $z V_2 + c_2$. The unrolled
# stack before fine-tuning therefore reconstructs $x$ as
# $\hat x = \sigma(\hat H_1 V_1 + c_1)$: stage 1's decoder applied to stage 2's
# reconstruction. Section 2 checks this to rounding.
#
# **Why bother.** A sigmoid's derivative is at most $\tfrac14$, so each sigmoid layer
# shrinks the backpropagated gradient (autoencoder (B4)) by a factor of at least 4 from the
# activation alone (more where units saturate; the weights can shrink or grow it
# further); the layers far from the
# loss learn slowly from a random start. Each greedy stage is a *shallow* problem with
# its own nearby loss, and it puts the deep network in a region where the codes already
# carry the data before (S4) starts. Whether that still helps with Adam and a good
# initialization (npae uses Glorot's) is what section 3 measures.
#
# npae's implementation of (S1)–(S3), each step tagged:

# %%
print(inspect.getsource(npae.StackedAutoencoder._initial_params))

# %% [markdown]
# `fit` calls this hook for the starting parameters, then runs the ordinary training
# loop on them: that loop *is* (S4). After `fit` the model is the fine-tuned deep
# autoencoder; `stages_` keeps the pretrained one-layer models and `pretrain_history_`
# their loss curves.
#
# ## 2. Checking each step on a small stack
#
# Digits average-pooled to $7\times 7$ ($D = 49$), a stack $49 \to 12 \to 6$ in float64,
# pretrained for 3 epochs per stage and **not** fine-tuned (`epochs=0`), so that the
# model's parameters are exactly the unrolled stages. The pixels are squeezed into
# $[0.01, 0.99]$ as in tutorial 00: the input-gradient check moves each one by
# $\pm 2\varepsilon$, and BCE is defined for targets in $[0, 1]$ only.

# %%
name = "mnist" if datasets.find_dataset("mnist", split="test") is not None else "glyph-digits"
X_small, _ = datasets.load(name, "test", n=200)
X_small = X_small.astype(np.float64).reshape(200, 7, 4, 7, 4).mean(axis=(2, 4)).reshape(200, 49)
X_small = 0.01 + 0.98 * X_small          # away from 0 and 1, for the input-gradient check
tiny = npae.StackedAutoencoder(hidden_layer_sizes=(12, 6), activation="sigmoid",
                               pretrain_epochs=3, epochs=0, batch_size=50, dtype="float64",
                               random_state=0, verbose=False).fit(X_small)
stage1, stage2 = tiny.stages_
print(f"stage 1: {stage1.hidden_layer_sizes} on {stage1.n_features_in_} inputs, "
      f"output {stage1.output!r}")
print(f"stage 2: {stage2.hidden_layer_sizes} on {stage2.n_features_in_} inputs, "
      f"output {stage2.output!r} (its data are sigmoid codes in (0, 1))")

# %% [markdown]
# **(S2).** The deep encoder's code is stage 2's code of stage 1's code:

# %%
H1 = stage1.transform(X_small)                                   # (S2) (N, 12)
Z = stage2.transform(H1)                                         # (S2) (N, 6)
print(f"max |tiny.transform(X) - stage2(stage1(X))| = "
      f"{np.max(np.abs(tiny.transform(X_small) - Z)):.1e}")

# %% [markdown]
# **(S3).** The unroll, written here straight from the equation — encoder layer $l$ is
# stage $l$'s encoder, decoder layer $m$ is stage $L + 1 - m$'s decoder — must give the
# model's parameters exactly. Section 3 reuses this function to evaluate the pretrained
# stack of a model that has since been fine-tuned.

# %%
def unroll(stages):
    """(S3): the deep autoencoder's parameters from the one-layer stages, by the equation."""
    L = len(stages)
    params = {}
    for l, stage in enumerate(stages):                           # encoder: W_1 .. W_L
        params[f"enc.{l}.W"] = stage.params_["enc.0.W"]
        params[f"enc.{l}.b"] = stage.params_["enc.0.b"]
    for m in range(L):                                           # decoder: V_L .. V_1
        stage = stages[L - 1 - m]
        params[f"dec.{m}.W"] = stage.params_["dec.0.W"]
        params[f"dec.{m}.b"] = stage.params_["dec.0.b"]
    return params


by_hand = unroll(tiny.stages_)
print(f"{'parameter':10s} {'shape':>10s}  max |npae - by hand|")
for k, v in tiny.params_.items():
    print(f"{k:10s} {str(v.shape):>10s}  {np.max(np.abs(v - by_hand[k])):.1e}")

# %% [markdown]
# **The unrolled reconstruction** equals stage 1's decoder applied to stage 2's
# reconstruction:

# %%
through_stages = stage1.inverse_transform(stage2.inverse_transform(Z))   # (N, 49)
print(f"max |tiny.reconstruct(X) - decode_1(decode_2(z))| = "
      f"{np.max(np.abs(tiny.reconstruct(X_small) - through_stages)):.1e}")

# %% [markdown]
# **The gradient of (S4)** is the deep autoencoder's; `check_model` differences every
# parameter of the unrolled model, and the input, at the pretrained point:

# %%
report = check_model(tiny, X_small[:8])
print(report)
print(f"all rows pass: {report.passed}; largest relative error {report.max_rel_error:.1e}")

# %% [markdown]
# ## 3. MNIST: greedy versus end to end
#
# Three deep autoencoders 784-256-64, sigmoid units, Bernoulli output, Adam with step
# size $10^{-2}$ and batches of 32, the same seed (the step size that
# `benchmarks/probe_table.py --select-lr` picks for both the deep and the stacked model in
# a budget this short; with the usual $10^{-3}$ sigmoid layers stay for thousands of
# steps near the "mean image" solution):
#
# * **end to end**: $E$ epochs from Glorot's initialization;
# * **stacked**: $P$ epochs for each of the two stages, then $F$ epochs of fine-tuning;
# * **stacked denoising**: the same, each stage trained with masking noise
#   ($p = 0.3$, Vincent et al. 2010); fine-tuning is plain, as (S4) says.
#
# The budget is the number of passes over the training set, $E = 2P + F$. That is
# generous to the stack in one way (stage 2 reads 256 numbers per example, not 784, so
# its passes are cheaper) and the wall-clock times are printed so you can judge. Part of
# the test set (2,000 images) is passed to `fit` as validation data for the loss curves;
# all numbers below are on the whole test split.

# %%
if FAST:
    X_train, y_train = datasets.load(name, "test", n=900)        # small and quick to load
    X_train, y_train, X_test, y_test = X_train[:600], y_train[:600], X_train[600:], y_train[600:]
    SIZES, (P, F) = (64, 16), (1, 1)
else:
    X_train, y_train = datasets.load(name, "train", n=10_000)
    X_test, y_test = datasets.load(name, "test", n=10_000)
    SIZES, (P, F) = (256, 64), (2, 2)
E = 2 * P + F
X_val = X_test[:2000]
source = "MNIST" if name == "mnist" else \
    "synthetic glyph digits (MNIST not found; set NPAE_DATA to use it)"
print(f"data: {source}; train {X_train.shape}, test {X_test.shape}; sizes {SIZES}; "
      f"E = {E} = 2·{P} + {F}")

common = dict(hidden_layer_sizes=SIZES, activation="sigmoid", output="bernoulli",
              optimizer="adam", learning_rate=1e-2, batch_size=32, random_state=0,
              verbose=False)
models, seconds = {}, {}
for label, model in [
        ("end to end", npae.Autoencoder(epochs=E, **common)),
        ("stacked", npae.StackedAutoencoder(pretrain_epochs=P, epochs=F, **common)),
        ("stacked denoising", npae.StackedAutoencoder(
            pretrain_epochs=P, epochs=F, layer_options={"noise": "masking", "noise_level": 0.3},
            **common))]:
    t = time.perf_counter()
    models[label] = model.fit(X_train, X_val=X_val)
    seconds[label] = time.perf_counter() - t
    print(f"{label:18s} trained in {seconds[label]:6.1f} s")

# %% [markdown]
# **What to measure.** For each model, on the test split: the reconstruction loss it was
# trained on (BCE, nats per image), the mean squared error per pixel, and the accuracy
# of a linear probe (`npae.LinearProbe`: multinomial logistic regression on standardized
# codes, $\lambda = 10^{-4}$) trained on the training codes — how linearly the 64-D code
# separates the ten digits, although no model ever saw a label. For each stack we also
# evaluate the pretrained stack *before* fine-tuning: its parameters are `unroll(stages_)`
# (checked in section 2), its codes and reconstructions those of the stages.

# %%
PROBE = dict(l2=1e-4, max_iter=200)


def encode_stages(stages, X):
    """(S2) through every stage: the pretrained stack's code."""
    for stage in stages:
        X = stage.transform(X)
    return X


def decode_stages(stages, Z):
    """The pretrained stack's reconstruction: each stage's decoder, top stage first."""
    for stage in reversed(stages):
        Z = stage.inverse_transform(Z)
    return Z


rows = []


def add_row(label, passes, secs, bce, codes_train, codes_test, X_hat):
    acc = linear_probe_accuracy(codes_train, y_train, codes_test, y_test, **PROBE)
    mse = float(np.mean((X_hat - X_test) ** 2))
    rows.append((label, passes, secs, bce, mse, acc))
    return X_hat


t = time.perf_counter()
pixel_acc = linear_probe_accuracy(X_train, y_train, X_test, y_test, **PROBE)
print(f"probe on raw pixels: {pixel_acc:.4f} ({time.perf_counter() - t:.0f} s)")

recons = {}
e2e = models["end to end"]
recons["end to end"] = add_row("end to end", f"{E}", seconds["end to end"],
                               e2e.loss(X_test)[1]["recon"], e2e.transform(X_train),
                               e2e.transform(X_test), e2e.reconstruct(X_test))
for label in ("stacked", "stacked denoising"):
    m = models[label]
    pre = unroll(m.stages_)                                      # (S3): before (S4)
    Z_test = encode_stages(m.stages_, X_test)
    recons[f"{label}, pretrained"] = add_row(
        f"{label}, pretrained only", f"{P}+{P}", float("nan"),
        m.loss(X_test, params=pre)[1]["recon"], encode_stages(m.stages_, X_train), Z_test,
        decode_stages(m.stages_, Z_test))
    recons[f"{label}, fine-tuned"] = add_row(
        f"{label}, fine-tuned", f"{P}+{P}+{F}", seconds[label], m.loss(X_test)[1]["recon"],
        m.transform(X_train), m.transform(X_test), m.reconstruct(X_test))

print("\n| model | epochs | train s | test BCE (nats/image) | test MSE/pixel | probe accuracy |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
print(f"| raw pixels (784) | — | — | — | — | {pixel_acc:.4f} |")
for label, passes, secs, bce, mse, acc in rows:
    secs = "(in the next row)" if np.isnan(secs) else f"{secs:.0f}"
    print(f"| {label} | {passes} | {secs} | {bce:.2f} | {mse:.4f} | {acc:.4f} |")

# %% [markdown]
# **Reading the table** (full run on 10,000 MNIST training images; numbers at the time
# of writing, your run prints its own above). With the same six passes over the data,
# the stack reconstructs the test digits far better than the same network trained end
# to end: a test BCE of 74.4 against 89.9 nats per image (with seeds 1 and 2: 74.2
# against 95.8, and 74.8 against 97.9). Even the pretrained stack *before* fine-tuning,
# after four passes, does better (78.5). The end-to-end model spends its first epoch
# leaving the starting plateau (training BCE 183 nats after one epoch, against 109 for
# stage 1 alone): its code layer starts near $\sigma(0) = \tfrac12$ for every input,
# and the gradient that reaches $W_1$ has crossed two sigmoid layers (B4). Each greedy
# stage is a one-layer problem, one sigmoid away from its own loss.
#
# Fine-tuning lowers the plain stack's loss by 4 nats and the denoising stack's by 18:
# (S1) never optimized the *composition* of the stages (stage 1's decoder was trained on
# the true $H_1$, not on stage 2's imperfect $\hat H_1$), and the denoising stages were
# trained to undo corruption, not to reconstruct clean codes as well as possible. The
# probe column barely moves (0.894 to 0.904, all at or above the raw pixels' 0.890): 64
# numbers from any of these models make the digits about as linearly separable as the
# 784 pixels, whatever their reconstruction loss.
#
# **Does the head start last?** The same two models with three times the budget,
# $3E$ passes (the stack: the same $P + P$ pretraining, then $3E - 2P$ fine-tuning
# epochs):

# %%
E_LONG = 3 * E
long_runs = {}
for label, model in [
        ("end to end", npae.Autoencoder(epochs=E_LONG, **common)),
        ("stacked", npae.StackedAutoencoder(pretrain_epochs=P, epochs=E_LONG - 2 * P, **common))]:
    t = time.perf_counter()
    long_runs[label] = model.fit(X_train, X_val=X_val)
    acc = linear_probe_accuracy(model.transform(X_train), y_train, model.transform(X_test),
                                y_test, **PROBE)
    print(f"{label:10s} {E_LONG} passes: test BCE {model.loss(X_test)[1]['recon']:6.2f} nats, "
          f"probe {acc:.4f} ({time.perf_counter() - t:.0f} s)")

fig = Figure(figsize=(6, 4), layout="constrained")
ax = fig.add_subplot()
for i, (label, m) in enumerate(long_runs.items()):
    passes = np.asarray(m.history_["epoch"]) + (2 * P if label == "stacked" else 0)
    ax.plot(passes, m.history_["val_recon"], "--o", markersize=3, color=f"C{i}",
            label=f"{label} (validation)")
ax.set_xlabel("passes over the training set")
ax.set_ylabel("BCE per example (nats)")
ax.set_title(f"{E_LONG} passes: end to end vs stacked")
ax.grid(alpha=0.3)
ax.legend()
plotting.save_figure(fig, out("06_long_budget.png"))
fig

# %% [markdown]
# At $3E = 18$ passes the end-to-end model has closed part of the gap but not all of it:
# 78.6 against 69.9 nats with seed 0 (seeds 1 and 2: 83.2 against 69.3, and 84.7 against
# 69.6); the probe accuracies stay close (0.890 and 0.899). That is the observation of
# Bengio et al. (2007) and Erhan et al. (2010) — pretraining is not only a faster start
# but leads deep sigmoid networks to better regions — reproduced here at a small scale;
# 18 epochs on 10,000 images is far from convergence, and we make no claim about the
# limit. Pretraining is rarely used for
# networks like this today: units that do not saturate (ReLU) and scaled
# initializations removed most of the difficulty it addressed.
#
# ## 4. Loss curves, stage by stage
#
# Left and middle: each stage's own loss (BCE on pixels for stage 1, on the 256 stage-1
# codes for stage 2), training (solid) and validation (dashed). The training value of an
# epoch is the mean over its batches, taken while the parameters improve, and the
# validation value is measured at the end of the epoch, which is why it is lower.
# Right: the reconstruction loss of the whole deep model on the validation images
# against the passes over the data spent so far; each stack enters the plot at $2P$ with
# its pretrained (unrolled, not yet fine-tuned) loss.

# %%
fig = Figure(figsize=(14, 4.0), layout="constrained")
axes = fig.subplots(1, 3)
for i, label in enumerate(("stacked", "stacked denoising")):
    m = models[label]
    for ax, stage in zip(axes[:2], ("layer 1", "layer 2")):
        h = m.pretrain_history_[stage]
        ax.plot(h["epoch"], h["recon"], "-o", color=f"C{i + 1}", label=f"{label}, train")
        ax.plot(h["epoch"], h["val_recon"], "--o", color=f"C{i + 1}", label=f"{label}, val")
    pre_val = m.loss(X_val, params=unroll(m.stages_))[1]["recon"]
    axes[2].plot([2 * P] + [2 * P + e for e in m.history_["epoch"]],
                 [pre_val] + list(m.history_["val_recon"]), "--o", color=f"C{i + 1}",
                 label=f"{label} (val)")
axes[2].plot(e2e.history_["epoch"], e2e.history_["val_recon"], "--o", color="C0",
             label="end to end (val)")
n1, n2 = SIZES
for ax, title in zip(axes, (f"stage 1: 784 → {n1} → 784 (pixels)",
                            f"stage 2: {n1} → {n2} → {n1} (stage-1 codes)",
                            "deep model: reconstruction of the images")):
    ax.set_title(title)
    ax.set_xlabel("epoch" if ax is not axes[2] else "passes over the training set")
    ax.set_ylabel("BCE per example (nats)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
plotting.save_figure(fig, out("06_loss_curves.png"))
fig

# %% [markdown]
# The denoising stages report a higher loss: they reconstruct each input from a copy
# with 30 % of its entries zeroed, a harder task than the identity. On the right, the
# plain stack starts where the end-to-end model will not arrive within the budget.
#
# ## 5. What the first layer learned
#
# Column $j$ of $W_1$ drawn as an image is the input pattern that drives hidden unit $j$
# hardest (per unit norm). Stage 1 of the stack is a one-layer autoencoder 784-256;
# the end-to-end model's first layer was shaped only through the second.

# %%
plotting.filters(models["stacked"].stages_[0].params_["enc.0.W"], n=100,
                 path=out("06_filters_stage1.png"),
                 title="stacked: stage-1 filters (100 of 256, pretrained)")
plotting.filters(models["stacked denoising"].stages_[0].params_["enc.0.W"], n=100,
                 path=out("06_filters_stage1_denoising.png"),
                 title="stacked denoising: stage-1 filters (100 of 256, pretrained)")
plotting.filters(e2e.params_["enc.0.W"], n=100, path=out("06_filters_end_to_end.png"),
                 title="end to end: first-layer filters (100 of 256)")

# %% [markdown]
# After two epochs the plain stage-1 filters are high-frequency textures spread over the
# whole digit area: with 256 units for 784 pixels nothing pushes a unit to be local. The
# denoising stage has more localized blobs and pieces of strokes: a unit cannot rely on
# any single pixel, since 30 % of them are missing at random (Vincent et al. 2010,
# figure 6, find this more clearly after many more epochs). The end-to-end first layer,
# shaped only through the second layer, shows smoother, digit-sized blobs.
#
# ## 6. Reconstructions

# %%
plotting.image_rows([("test digits", X_test)] + [(k, v) for k, v in recons.items()], n=12,
                    path=out("06_reconstructions.png"),
                    title="test reconstructions: end to end, stacked before / after fine-tuning")

# %% [markdown]
# Every model gets the digit right; the end-to-end row is the blurriest (look at the
# 5 and the 6), the pretrained-only denoising stack is a little blurry too, and the
# fine-tuned stacks keep the most detail, as their BCE says.
#
# ## Summary
#
# * Greedy layer-wise training (S1)–(S2) turns a deep problem into $L$ shallow ones; the
#   unroll (S3) is exact for sigmoid stacks (checked to 0), and (S4) fine-tunes the
#   composition.
# * For this sigmoid network, with Adam, Glorot initialization and the same number of
#   passes, the stack reconstructs much better than end-to-end training (74 against
#   90–98 nats), and keeps a lead at three times the budget; linear-probe accuracy is
#   about the same for all.
# * Denoising stages change what the first layer learns (localized strokes).
#
# Next: `07_gmm_and_generation.py` fits Gaussian mixtures, generates digits from
# autoencoder codes and compares the linear-probe accuracy of every model family.
#
# References: G. E. Hinton, R. R. Salakhutdinov, "Reducing the dimensionality of data
# with neural networks", Science 313, 2006; Y. Bengio, P. Lamblin, D. Popovici,
# H. Larochelle, "Greedy layer-wise training of deep networks", NIPS 2007; P. Vincent
# et al., "Stacked denoising autoencoders", JMLR 11, 2010; D. Erhan et al., "Why does
# unsupervised pre-training help deep learning?", JMLR 11, 2010; G. Alain, Y. Bengio,
# "Understanding intermediate layers using linear classifier probes", 2016.

# %%
print(f"done in {time.perf_counter() - START:.1f} s")
