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
# # 11 · Convolutional autoencoders, derived by hand
#
# The dense autoencoders of the earlier tutorials treat a digit as 784 unrelated numbers.
# A convolutional layer slides one small kernel over the whole image instead: the same
# few weights everywhere, each output looking at a neighbourhood. This tutorial
#
# 1. writes a convolution as one matrix product (im2col) and checks its three gradients;
# 2. shows that the input gradient is a *transposed* convolution — the adjoint — and checks
#    $\langle \mathrm{conv}(x), y\rangle = \langle x, \mathrm{conv}^\top(y)\rangle$;
# 3. derives max pooling's "switch" and upsampling's block sum;
# 4. trains the Keras blog's convolutional autoencoder (`npae.ConvAutoencoder()`) next to a
#    dense one with a code of the same size, and its denoising variant, on MNIST.
#
# Every equation is in `npae/conv.py` (tags C, T, M, U) and `npae/models/conv.py` (F, B).
# Run as a script (`python tutorials/11_convolutional.py`; `NPAE_FAST=1` for a quick pass;
# `NPAE_DATA=<folder holding mnist/>` to use MNIST) or open with jupytext. Figures go to
# `NPAE_TUTORIAL_OUT` (default `tutorial-output/`).

# %%
import time

import numpy as np

try:                                   # in a checkout: its own npae first
    from _setup import FAST, START, out  # Agg backend, NPAE_FAST, figure folder
except ModuleNotFoundError:            # a tutorial copied out on its own: installed npae
    from npae.tutorial_setup import FAST, START, out
from npae import Autoencoder, ConvAutoencoder, conv, datasets, plotting
from npae.gradcheck import check_model, check_vjp

rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. A convolution is one matrix product
#
# Images are NCHW: $X$ is (B, C, H, W). A kernel $W$ (F, C, k, k) and bias $b$ (F,) give
#
# $$ A_{n f i j} = \sum_{c,u,v} \bar X_{n, c, s i + u, s j + v}\, W_{f c u v} + b_f,
#    \qquad H_o = \Big\lfloor \frac{H + 2p - k}{s} \Big\rfloor + 1 \tag{C1, C3} $$
#
# with $\bar X$ the input padded with $p$ zeros and $s$ the stride. Each output pixel
# $(n, i, j)$ reads one patch of $C k^2$ numbers. Put the patches side by side as the columns
# of $P$ (C·k², B·H_o·W_o) and flatten the kernel to $W_2$ (F, C·k²): then
# $A_2 = W_2 P + b$ is the whole layer in one GEMM (C4)-(C5). `npae.conv` builds $P$ from
# `numpy.lib.stride_tricks.sliding_window_view`, a view of every window without copying,
# and copies once. We check it against four nested loops written straight from (C3), and
# check the size formula by counting window positions.

# %%
X = rng.standard_normal((2, 3, 7, 6))
W = rng.standard_normal((4, 3, 3, 3))
b = rng.standard_normal(4)
s, p = 2, 1
A, P = conv.conv2d_forward(X, W, b, stride=s, padding=p, return_cols=True)
Xbar = np.pad(X, ((0, 0), (0, 0), (p, p), (p, p)))
loop = np.zeros_like(A)
for n in range(A.shape[0]):
    for f in range(A.shape[1]):
        for i in range(A.shape[2]):
            for j in range(A.shape[3]):
                loop[n, f, i, j] = np.sum(Xbar[n, :, s * i:s * i + 3, s * j:s * j + 3] * W[f]) + b[f]
print(f"X {X.shape}, W {W.shape}, stride {s}, padding {p}: P {P.shape}, A {A.shape}")
print(f"max |im2col GEMM − loop| = {np.abs(A - loop).max():.1e}")
for H, k, s_, p_ in [(28, 3, 1, 1), (28, 3, 2, 1), (7, 3, 2, 0), (16, 3, 1, 0)]:
    positions = sum(1 for i in range(100) if s_ * i + k <= H + 2 * p_)
    print(f"H={H:2d} k={k} s={s_} p={p_}: formula {conv.conv_output_size(H, k, s_, p_):2d}, "
          f"window positions counted {positions:2d}")

# %% [markdown]
# ## 2. The three gradients
#
# With $G$ = dA laid out as $A_2$ (F, B·H_o·W_o):
#
# $$ \frac{\partial L}{\partial b_f} = \sum_{n,i,j} dA_{nfij} \tag{C6} $$
# $$ \frac{\partial L}{\partial W_2} = G P^\top, \quad\text{i.e.}\quad
#    dW_{fcuv} = \sum_{n,i,j} dA_{nfij}\, \bar X_{n,c,si+u,sj+v} \tag{C7} $$
#
# — a correlation of the input with $dA$ — and $dP = W_2^\top G$ (C8), whose entries go
# back to the pixels they were copied from: col2im, one strided add per kernel offset
# (C9), then the padding is cropped (C10). `conv2d_backward` returns the three; the two
# that need work are functions of their own, `conv2d_weight_grad` (C7) and
# `conv2d_input_grad` (C8)-(C10), since each needs less than the other: dW reads X and dA,
# dX reads W, dA and the input's size. `check_vjp` compares each of the three with central
# differences (float64).

# %%
report = check_vjp(lambda X, W, b: conv.conv2d_forward(X, W, b, s, p),
                   lambda G, X, W, b: conv.conv2d_backward(G, X, W, s, p), X, W, b)
print(report.table())

# %% [markdown]
# Written out for stride 1 and no padding, the input gradient is
# $dX_{ncyx} = \sum_{f,u,v} dA_{n,f,y-u,x-v} W_{fcuv}$ (C11). Substituting $u' = k - 1 - u$
# turns it into a correlation of $dA$, padded with $k-1$ zeros on each side, with the
# kernel rotated by 180° and its two channel axes swapped: a **"full" convolution of dA
# with the flipped kernel**. With a stride, $dA$ is first spread out with zeros (C12).
# Checked:

# %%
X1 = rng.standard_normal((2, 3, 6, 7))
dA1 = rng.standard_normal(conv.conv2d_forward(X1, W, None).shape)
dX1, _, _ = conv.conv2d_backward(dA1, X1, W)
flipped = W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)               # (C11) (C, F, k, k)
full = conv.conv2d_forward(dA1, flipped, None, stride=1, padding=2)  # (C11) pad k − 1 = 2
print(f"max |dX − full convolution of dA with the flipped kernel| = {np.abs(dX1 - full).max():.1e}")

# %% [markdown]
# ## 3. The transposed convolution is the adjoint
#
# The map $x \mapsto \mathrm{conv}(x) - b$ is linear; its adjoint $\mathrm{conv}^\top$ is
# defined by $\langle \mathrm{conv}(x), y\rangle = \langle x, \mathrm{conv}^\top(y)\rangle$ for all
# $x, y$, and the input gradient of any linear map is its adjoint applied to the upstream
# gradient. So conv2d's input gradient *is* the transposed convolution, and that is how
# `conv_transpose2d_forward` is written (T2)-(T5): `conv2d_input_grad` plus a bias, with
# the kernel stored (C_in, C_out, k, k), as PyTorch stores it. Its output size
# $H_o = (H - 1)s - 2p + k + q$ (T1); the output padding $q < s$ picks one of the $s$ sizes
# that a stride-$s$ convolution maps to the same $H$. Its own backward needs no new
# derivation: $dX$ is conv2d of $dA$ (T6), and $dW$ is `conv2d_weight_grad` with the
# roles of $X$ and $dA$ exchanged (T7).

# %%
Y = rng.standard_normal(A.shape)
q = ((X.shape[2] + 2 * p - 3) % s, (X.shape[3] + 2 * p - 3) % s)   # rows no window reached
lhs = np.sum(conv.conv2d_forward(X, W, None, s, p) * Y)
rhs = np.sum(X * conv.conv_transpose2d_forward(Y, W, None, s, p, q))
print(f"<conv(x), y> = {lhs:.12f}\n<x, convT(y)> = {rhs:.12f}   (output padding q = {q})")
Wt, bt = rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(2)
report = check_vjp(lambda X, W, b: conv.conv_transpose2d_forward(X, W, b, 2, 1, 1),
                   lambda G, X, W, b: conv.conv_transpose2d_backward(G, X, W, 2, 1, 1),
                   X, Wt, bt)
print(f"conv_transpose2d (stride 2, padding 1, q = 1): output "
      f"{conv.conv_transpose2d_forward(X, Wt, bt, 2, 1, 1).shape}, max relative error "
      f"{report.max_rel_error:.1e}")

# %% [markdown]
# ## 4. Pooling's switch, upsampling's sum
#
# Max pooling over $k \times k$ blocks keeps the largest entry of each block (M2). As a
# function it is the copy of one entry, the block's argmax, so its gradient goes to that
# entry alone and the other $k^2 - 1$ get zero (M3): the "switch". At a tie the max has a
# kink; npae sends the gradient to the *first* maximum in row-major order (top-most, then
# left-most). Keras's "same" pooling pads the ragged edge with −∞, so 7 → 4 and the
# padding never wins. Nearest-neighbour upsampling copies each pixel into a $k\times k$
# block (U1), so its gradient is the sum over each block (U2).

# %%
Xp = np.array([[[[1., 5., 2., 0.], [3., 4., 2., 2.], [0., 1., 7., 7.], [6., 0., 7., 1.]]]])
print("X =\n", Xp[0, 0])
print("maxpool(X) =\n", conv.maxpool2d_forward(Xp, 2)[0, 0])
print("dX for dA = 1 (the switch; the tie of three 7s goes to the first) =\n",
      conv.maxpool2d_backward(np.ones((1, 1, 2, 2)), Xp, 2)[0, 0])
X7 = rng.standard_normal((1, 1, 7, 7))
print(f"'valid' pooling maps 7 to {conv.maxpool2d_forward(X7, 2).shape[-1]}, 'same' to "
      f"{conv.maxpool2d_forward(X7, 2, 'same').shape[-1]}")
distinct = rng.permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6) * 0.1   # no ties: smooth
for padding in ("valid", "same"):
    r = check_vjp(lambda X: conv.maxpool2d_forward(X, 2, padding),
                  lambda G, X: conv.maxpool2d_backward(G, X, 2, padding), distinct)
    print(f"maxpool ({padding}) gradient check at distinct entries: max relative error "
          f"{r.max_rel_error:.1e}")
r = check_vjp(lambda X: conv.upsample2d_forward(X, 2),
              lambda G, X: conv.upsample2d_backward(G, 2), X)
print(f"upsample gradient check: max relative error {r.max_rel_error:.1e}")

# %% [markdown]
# The entries of `distinct` are at least 0.1 apart, far more than the checker's steps,
# so every block keeps its argmax while the checker moves one entry: a smooth point.
#
# ## 5. The Keras blog's convolutional autoencoder
#
# `ConvAutoencoder()` is, layer for layer, the model of F. Chollet's "Building autoencoders
# in Keras": three conv3×3 + ReLU + pool-2 stages (16, 8, 8 filters; the last pooling
# "same", 7 → 4), so the code is 8 × 4 × 4 = 128 numbers; a decoder of conv + upsample
# stages whose third convolution has no padding (16 → 14), so that the last upsampling
# lands on 28; a last conv3×3 to one channel into the Bernoulli loss. The shapes after each
# stage, and `check_model` on a small copy (every term and the input, 8 random
# directions per array; `tests/test_conv_model.py` also checks every entry):

# %%
cae = ConvAutoencoder(random_state=0).initialize(784)
enc, dec = cae._stages(cae.image_shape_)
h = np.zeros((1, 1, 28, 28), np.float32)
for st, cache in zip(enc + dec, cae._run(cae.params_, enc, h) + cae._run(
        cae.params_, dec, cae._run(cae.params_, enc, h)[-1].out)):
    what = "convT" if st.transposed else "conv"
    print(f"{st.name}: {what} {st.n_in:2d}→{st.n_out:2d} padding {st.padding}, "
          f"then {st.after or '—':8s} → {cache.out.shape[1:]}")
print(f"parameters: {cae.n_parameters():,}; code shape {cae.code_shape_}")


def kink_distance(model, X):
    """How far the forward pass at X is from a kink: min |a| over ReLU units, and the gap
    between the two largest entries of every pooling block whose maximum is not a ReLU 0."""
    enc, dec = model._stages(model.image_shape_)
    caches = model._run(model.params_, enc, X.reshape((-1,) + model.image_shape_))
    caches += model._run(model.params_, dec, caches[-1].out)
    d = min(np.abs(c.pre).min() for st, c in zip(enc + dec, caches) if st.activation)
    for st, c in zip(enc, caches):
        r = c.act                                              # even sides here: whole blocks
        blocks = np.sort(np.stack([r[:, :, u::2, v::2] for u in (0, 1) for v in (0, 1)]), axis=0)
        moving = blocks[-1] > 0
        if moving.any():
            d = min(d, (blocks[-1] - blocks[-2])[moving].min())
    return d


Xs = rng.uniform(0.05, 0.95, size=(2, 64))
for seed in range(100):                                        # the first smooth point
    small = ConvAutoencoder(filters=(4, 2, 2), weight_decay=1e-3, sparsity="l1",
                            sparsity_weight=0.1, dtype="float64",
                            random_state=seed).initialize(64)
    if kink_distance(small, Xs) > 2e-3:
        break
rep = check_model(small, Xs, eps=1e-5, directions=8)
d = kink_distance(small, Xs)
print(f"seed {seed}: every ReLU input and pooling gap ≥ {d:.1e} from a kink, "
      f"{d / 2e-5:.0f}× the checker's largest step 2·1e-5")
print(f"check_model on 1×8×8 images, terms {sorted({r.term for r in rep.rows})}: "
      f"passed {rep.passed}, max relative error {rep.max_rel_error:.1e}")

# %% [markdown]
# The ReLUs and the poolings have kinks: within the checker's step of one, finite
# differences measure a one-sided slope and the check fails correct code. So the check
# runs at a point chosen away from every kink (the seed loop above), where the loss is
# smooth. Now MNIST: the convolutional autoencoder and a dense one whose code has the
# same 128 numbers, trained the same way (Adam, batch 128).

# %%
X_train, _, X_test, _, source = datasets.load_digits(256 if FAST else 12000,
                                                     100 if FAST else 2000)
print(f"data: {source}")
EPOCHS = 1 if FAST else 3
common = dict(epochs=EPOCHS, batch_size=128, random_state=0, verbose=False)
models = {"dense AE 784-128-784": Autoencoder((128,), activation="relu", **common),
          "conv AE (Keras blog)": ConvAutoencoder(**common)}
seconds = {}
for name, m in models.items():
    t0 = time.perf_counter()
    m.fit(X_train)
    seconds[name] = (time.perf_counter() - t0) / EPOCHS
n_params = {name: sum(v.size for v in m.params_.values()) for name, m in models.items()}
bce = {name: -m.score(X_test) for name, m in models.items()}
print(f"{EPOCHS} epochs on {len(X_train):,} digits; test BCE on {len(X_test):,} (nats per image)")
print(f"{'model':24s} {'code':>5s} {'parameters':>10s} {'test BCE':>9s} {'s / epoch':>9s}")
for name, m in models.items():
    code = m.transform(X_test[:1]).shape[1]
    print(f"{name:24s} {code:5d} {n_params[name]:10,d} {bce[name]:9.2f} {seconds[name]:9.1f}")

# %%
print(f"the dense AE has {n_params['dense AE 784-128-784'] / n_params['conv AE (Keras blog)']:.0f}× "
      f"the parameters of the conv AE for the same code size")
plotting.image_rows([("original", X_test[:10])] +
                    [(name.split(" (")[0], m.reconstruct(X_test[:10])) for name, m in models.items()],
                    n=10, vmin=0, vmax=1, title="test digits and their reconstructions",
                    path=out("11_reconstructions.png"))

# %% [markdown]
# The convolutional model has far fewer parameters than the dense one (the ratio is
# printed below): its weights are shared across positions. Compare the test BCE column
# with that in mind, and with the training budget: the blog trains its model for many
# more epochs than this run, and a model this small needs them. Seconds per epoch are the other side of the
# trade: a dense layer is one GEMM on (B, 784); a convolution copies every 3×3 patch first
# (im2col) and pays for it again in col2im. `benchmarks/bench_conv.py` measures where an
# epoch's time goes.
#
# ## 6. What the first layer learned
#
# The 16 first-layer kernels (3×3, each scaled to its own range: grey 0, white positive,
# black negative) and the 16 feature maps $\mathrm{relu}(W * x + b)$ they produce on one test
# digit — each map is the digit seen through one kernel: edges of one orientation, the
# stroke itself, its background.

# %%
cae = models["conv AE (Keras blog)"]
W0 = cae.params_["enc.0.W"]                                          # (16, 1, 3, 3)
big = conv.upsample2d_forward(W0, 4)                                 # each weight a 4×4 square
plotting.filters(big.reshape(16, -1).T, n=16, image_shape=(12, 12),
                 title="first-layer kernels (16 × 3×3)", path=out("11_filters.png"))
digit = X_test[:1].reshape(1, 1, 28, 28)
maps = np.maximum(conv.conv2d_forward(digit, W0, cae.params_["enc.0.b"], 1, 1), 0)[0]
print(f"feature maps of one digit: {maps.shape}; fraction of zero (ReLU-off) pixels "
      f"{np.mean(maps == 0):.2f}")
peak = maps.max(axis=(1, 2), keepdims=True)
shown = maps / np.where(peak > 0, peak, 1)                          # each map on its own scale
plotting.image_grid(np.concatenate([digit[0], shown[:8], digit[0] * 0, shown[8:]]), ncols=9,
                    vmin=0, vmax=1, title="a test digit and its 16 first-layer feature maps "
                    "(each scaled to its maximum)", path=out("11_feature_maps.png"))

# %% [markdown]
# ## 7. The denoising convolutional autoencoder
#
# The blog's second model is the same network trained on $\tilde x = \mathrm{clip}(x +
# 0.5\,\varepsilon, 0, 1)$ against the clean $x$:
# `ConvAutoencoder(noise="gaussian", noise_level=0.5, noise_clip=(0, 1))`. The clip is part
# of the step (F0), and its gradient is 1 where the noisy pixel stayed inside $[0, 1]$ and
# 0 where it was clipped (B7), so the input gradient is still checkable. On noisy test digits we
# compare with the clean images: mean squared error per pixel of the noisy input and of the
# reconstruction.

# %%
dcae = ConvAutoencoder(noise="gaussian", noise_level=0.5, noise_clip=(0, 1), **common)
t0 = time.perf_counter()
dcae.fit(X_train)
seconds["denoising conv AE"] = (time.perf_counter() - t0) / EPOCHS
eps = np.random.default_rng(10).standard_normal(X_test.shape).astype(np.float32)
X_noisy = np.clip(X_test + 0.5 * eps, 0, 1)
out_d, out_c = dcae.reconstruct(X_noisy), cae.reconstruct(X_noisy)
print(f"MSE per pixel against the clean digits: noisy input {np.mean((X_noisy - X_test) ** 2):.4f}, "
      f"plain conv AE {np.mean((out_c - X_test) ** 2):.4f}, denoising conv AE "
      f"{np.mean((out_d - X_test) ** 2):.4f}")
plotting.image_rows([("noisy", X_noisy[:10]), ("plain conv AE", out_c[:10]),
                     ("denoising conv AE", out_d[:10]), ("clean", X_test[:10])],
                    n=10, vmin=0, vmax=1, path=out("11_denoising.png"))

# %% [markdown]
# ## 8. Seconds per epoch
#
# Measured above, on this machine as loaded as it was during the run (the load average is
# printed beside the numbers; training time moves with it):

# %%
with open("/proc/loadavg") as f:
    load = f.read().split()[0]
for name, t in seconds.items():
    print(f"{name:24s} {t:7.1f} s per epoch of {len(X_train):,} digits (load average {load})")
print(f"done in {time.perf_counter() - START:.1f} s")
