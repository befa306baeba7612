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
# # 00 · Deriving a backward pass, and proving it with finite differences
#
# Every model in npae is trained with gradients written by hand. This tutorial derives
# the three pieces a one-layer autoencoder is made of, checks each one numerically, then
# chains them and checks the whole model:
#
# 1. a dense layer $A = XW + b$,
# 2. the logistic sigmoid $h = \sigma(a)$,
# 3. binary cross-entropy (BCE) on logits, the loss of a Bernoulli decoder;
# 4. how a finite-difference check works, and why it is done in float64 with a
#    fourth-order stencil;
# 5. what a failing check looks like, and the diagnosis the checker gives for each
#    kind of bug;
# 6. the zero-gradient trap, and the absolute criterion that avoids it;
# 7. the one-layer autoencoder, every parameter checked with `npae.gradcheck.check_model`;
# 8. checking a function you wrote yourself with `check_vjp` (and a Jacobian with
#    `check_jacobian`);
# 9. checking the full-size MNIST autoencoder in seconds with random directions;
# 10. what a gradient check cannot tell you.
#
# Equation tags: the tags of npae's modules are cited with the module's name, e.g.
# "layers (B1)" is (B1) of `npae/layers.py`; this tutorial's own chain in §7 has plain
# tags. Notation (docs/notation.md): a batch $X$ has one example per row, shape $(B, D)$; a dense layer
# has $W$ of shape $(n_\text{in}, n_\text{out})$ and $b$ of shape $(n_\text{out},)$. For a
# scalar loss $L$ we write $dW$ for $\partial L/\partial W$; $dW$ always has the shape of $W$.
#
# Run it as a script (`python tutorials/00_gradient_checking.py`; set `NPAE_FAST=1` for
# a quick pass) or open it as a notebook with jupytext. Figures go to the folder in
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
from npae import datasets, layers, losses, penalties, plotting
from npae.gradcheck import (GradientCheckError, check_gradients, check_jacobian, check_model,
                            check_vjp, numerical_gradient, relative_error)

rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. A dense layer
#
# The layer computes, for every example $n$ and output unit $k$,
#
# $$ A = XW + b, \qquad A_{nk} = \sum_i X_{ni} W_{ik} + b_k
#    \qquad (B, n_\text{out}). \tag{F1} $$
#
# Suppose the rest of the network has already given us the upstream gradient
# $dA = \partial L/\partial A$, shape $(B, n_\text{out})$. Each $W_{ik}$ reaches $L$ through
# every $A_{nk}$ of column $k$ (one per example), with $\partial A_{nk}/\partial W_{ik} = X_{ni}$,
# so the chain rule sums over the batch:
#
# $$ dW_{ik} = \sum_n X_{ni}\, dA_{nk}
#    \quad\Longrightarrow\quad dW = X^\top dA \qquad (n_\text{in}, n_\text{out}) \tag{layers B1} $$
#
# $$ db_k = \sum_n dA_{nk}
#    \quad\Longrightarrow\quad db = \textstyle\sum_n dA_{n,:} \qquad (n_\text{out},) \tag{layers B2} $$
#
# $$ dX_{ni} = \sum_k dA_{nk}\, W_{ik}
#    \quad\Longrightarrow\quad dX = dA\, W^\top \qquad (B, n_\text{in}) \tag{layers B3} $$
#
# The shapes are a free sanity check: $dW$ must be $(n_\text{in}, n_\text{out})$, and the
# only product of $X$ $(B, n_\text{in})$ and $dA$ $(B, n_\text{out})$ with that shape is
# $X^\top dA$. The bias is added to every row, so its gradient sums over rows. Here is
# npae's code; each line carries its equation:

# %%
print(inspect.getsource(layers.dense_backward))

# %% [markdown]
# **Checking a layer on its own.** A layer returns a matrix, but a finite-difference check
# needs a scalar. Contract the output with a fixed random matrix $G$:
#
# $$ L = \langle G, A\rangle = \sum_{n,k} G_{nk} A_{nk}
#    \quad\Longrightarrow\quad \frac{\partial L}{\partial A} = G . $$
#
# Feeding $dA = G$ to the backward must then give the exact gradient of this $L$. A random
# $G$ probes every direction of the layer's Jacobian at once, so a wrong entry cannot hide.
#
# `npae.gradcheck.check_gradients(fun, params)` takes any function of a dict of float64
# arrays returning `(loss, grads)`; by putting $X$ in the dict we check layers (B3) too.
# (Section 8 shows `check_vjp`, which does the contraction with $G$ for you.)

# %%
B, n_in, n_out = 5, 4, 3
G = rng.normal(size=(B, n_out))                                  # probe, (B, n_out)
dense = {"X": rng.normal(size=(B, n_in)),                        # (B, n_in)
         "W": rng.normal(size=(n_in, n_out)),                    # (n_in, n_out)
         "b": rng.normal(size=n_out)}                            # (n_out,)


def dense_probe(p):
    A = layers.dense_forward(p["X"], p["W"], p["b"])             # (F1) (B, n_out)
    L = np.sum(G * A)                                            # <G, A>: dL/dA = G
    dX, dW, db = layers.dense_backward(G, p["X"], p["W"])        # layers (B1)-(B3)
    return L, {"X": dX, "W": dW, "b": db}


print(check_gradients(dense_probe, dense))

# %% [markdown]
# Every relative error is below $10^{-10}$; the check passes when it is below
# $10^{-7}$ (section 4 explains both numbers).
#
# ## 2. The sigmoid
#
# $\sigma(a) = 1/(1 + e^{-a})$ acts elementwise. Its derivative can be written through its
# own output, which the forward pass has already computed:
#
# $$ \sigma'(a) = \frac{e^{-a}}{(1+e^{-a})^2}
#    = \frac{1}{1+e^{-a}}\cdot\frac{e^{-a}}{1+e^{-a}} = \sigma(a)\,\bigl(1-\sigma(a)\bigr). $$
#
# An elementwise map has a diagonal Jacobian, so with $h = \sigma(a)$ and upstream $dh$
# (both $(B, n)$) the backward is a product, no matrix multiply:
#
# $$ da = dh \odot h \odot (1 - h) \qquad (B, n). $$

# %%
print(inspect.getsource(layers.Sigmoid.backward))
print(inspect.getsource(layers.sigmoid))

# %% [markdown]
# (The forward uses $e^{-|a|} \le 1$ in both branches so it never overflows, even for
# $|a|$ in the thousands.) The same probe trick checks it: $L = \langle G, \sigma(A)\rangle$
# has $\partial L/\partial A = G \odot \sigma'(A)$.

# %%
G_act = rng.normal(size=(B, n_out))                              # probe, (B, n)
act = {"A": 3.0 * rng.normal(size=(B, n_out))}                   # pre-activations, (B, n)


def sigmoid_probe(p):
    h = layers.Sigmoid.forward(p["A"])                           # (B, n)
    return np.sum(G_act * h), {"A": layers.Sigmoid.backward(G_act, p["A"], h)}


print(check_gradients(sigmoid_probe, act))

# %% [markdown]
# ## 3. Binary cross-entropy on logits
#
# A Bernoulli decoder outputs logits $A$ $(B, D)$ and the reconstruction
# $\hat x = \sigma(A)$. With targets $X \in [0,1]$ (grey pixels are allowed: BCE is
# defined for soft targets), the textbook loss, summed over features and averaged over the
# batch, is
#
# $$ L = -\frac1B \sum_{n,d} \Bigl[ X_{nd}\log\sigma(A_{nd})
#        + (1 - X_{nd})\log\bigl(1-\sigma(A_{nd})\bigr) \Bigr]. $$
#
# With $\operatorname{softplus}(a) = \log(1 + e^a)$ we have $\log\sigma(a) =
# -\operatorname{softplus}(-a)$, $\log(1-\sigma(a)) = -\operatorname{softplus}(a)$ and
# $\operatorname{softplus}(a) - \operatorname{softplus}(-a) = a$, so
#
# $$ L = \frac1B \sum_{n,d} \bigl[\operatorname{softplus}(A_{nd}) - X_{nd} A_{nd}\bigr]. \tag{losses F4} $$
#
# This form never takes the log of a number that rounded to 0 (section 10 shows the
# textbook form failing). Since $\operatorname{softplus}'(a) = \sigma(a)$:
#
# $$ dA = \frac{\partial L}{\partial A} = \frac{\sigma(A) - X}{B} \qquad (B, D). \tag{losses B3} $$
#
# The $1/B$ of the batch mean enters here, at the top of the backward chain, once. The
# famous "$\hat x - x$" is not a property of the sigmoid alone nor of BCE alone but of the
# pair: npae keeps it inside the loss that owns the sigmoid, so it cannot be reused by
# accident with another output.

# %%
print(inspect.getsource(losses.BernoulliLoss.value))
print(inspect.getsource(losses.BernoulliLoss.grad))

B, D = 4, 6
T = rng.uniform(size=(B, D))                                     # soft targets in [0, 1]
logits = {"A": 2.0 * rng.normal(size=(B, D))}                    # (B, D)


def bce_probe(p):
    return (losses.BernoulliLoss.value(p["A"], T),               # losses (F4)
            {"A": losses.BernoulliLoss.grad(p["A"], T)})         # losses (B3)


print(check_gradients(bce_probe, logits))

# %% [markdown]
# ## 4. How the check works
#
# **Central differences.** Taylor-expanding the loss along one coordinate $\theta_i$,
#
# $$ L(\theta \pm \varepsilon e_i) = L \pm \varepsilon L' + \tfrac{\varepsilon^2}{2} L''
#    \pm \tfrac{\varepsilon^3}{6} L''' + \tfrac{\varepsilon^4}{24}L'''' \pm \dots $$
#
# The even terms cancel in the difference, so
#
# $$ n_i = \frac{L(\theta + \varepsilon e_i) - L(\theta - \varepsilon e_i)}{2\varepsilon}
#        = L' + \tfrac{\varepsilon^2}{6}L''' + O(\varepsilon^4), \tag{N1} $$
#
# a truncation error $O(\varepsilon^2)$, against $O(\varepsilon)$ for the one-sided
# $[L(\theta+\varepsilon e_i) - L(\theta)]/\varepsilon$. Writing (N1) as
# $D(\varepsilon) = L' + c\varepsilon^2 + O(\varepsilon^4)$, the combination
# $[4D(\varepsilon) - D(2\varepsilon)]/3$ cancels the $\varepsilon^2$ term too:
#
# $$ n_i = \frac{8\,[L(\theta+\varepsilon e_i) - L(\theta-\varepsilon e_i)]
#               - [L(\theta+2\varepsilon e_i) - L(\theta-2\varepsilon e_i)]}{12\,\varepsilon}
#        = L' + O(\varepsilon^4). \tag{N1'} $$
#
# **Rounding.** Each $L$ is computed with a relative error of about the unit roundoff $u$
# ($1.1\times10^{-16}$ in float64, $6\times10^{-8}$ in float32); the difference of two
# nearly equal values keeps that absolute error, and dividing by $\varepsilon$ amplifies
# it: about $u\,|L|/\varepsilon$. So a smaller $\varepsilon$ is *not* always better:
#
# | stencil | truncation | rounding | best $\varepsilon$ | best error |
# | --- | --- | --- | --- | --- |
# | (N1), order 2 | $\varepsilon^2 \lvert L'''\rvert/6$ | $u\lvert L\rvert/\varepsilon$ | $\sim u^{1/3} \approx 5\times10^{-6}$ | $\sim u^{2/3} \approx 10^{-11}$ |
# | (N1'), order 4 | $\varepsilon^4 \lvert L^{(5)}\rvert/30$ | $u\lvert L\rvert/\varepsilon$ | $\sim u^{1/5} \approx 10^{-3}$ | $\sim u^{4/5} \approx 10^{-13}$ |
#
# (in units of the loss's scale). In float32, $u^{2/3} \approx 10^{-5}$: the check itself
# would be noisier than many real bugs, which is why npae's checker refuses anything but
# float64. npae uses (N1') with $\varepsilon = 10^{-3}$ by default: two more loss
# evaluations per entry buy two orders of magnitude, and a tolerance of $10^{-7}$ then
# leaves a wide margin on both sides.
#
# **Relative error.** One number per array,
#
# $$ \operatorname{rel}(a, n) = \frac{\lVert a - n\rVert_2}{\max(\lVert a\rVert_2 +
#    \lVert n\rVert_2,\ 10^{-12})} \in [0, 1], \tag{N2} $$
#
# is independent of the gradient's scale, does not divide by individual entries that
# happen to be near zero, and is exactly 1 when one side is zero or they point in
# opposite directions. A gradient off by a factor $k$ gives $|k-1|/(k+1)$.
#
# Let us measure the table above: the relative error of the BCE gradient for a range
# of $\varepsilon$, with both stencils, and with the loss evaluated in float32.

# %%
eps_grid = np.logspace(-9, -1, 9 if FAST else 17)
A_probe = logits["A"]
analytic = losses.BernoulliLoss.grad(A_probe, T)


def bce64():
    return losses.BernoulliLoss.value(A_probe, T)


def bce32():                                   # same loss, computed in float32
    return losses.BernoulliLoss.value(A_probe.astype(np.float32), T.astype(np.float32))


sweep = {"order 2": [], "order 4": [], "order 2, float32 loss": []}
for eps in eps_grid:
    sweep["order 2"].append(relative_error(analytic, numerical_gradient(bce64, A_probe, eps, 2)))
    sweep["order 4"].append(relative_error(analytic, numerical_gradient(bce64, A_probe, eps, 4)))
    sweep["order 2, float32 loss"].append(
        relative_error(analytic, numerical_gradient(bce32, A_probe, eps, 2)))

print(f"{'eps':>8} " + " ".join(f"{k:>22}" for k in sweep))
for i, eps in enumerate(eps_grid):
    print(f"{eps:8.0e} " + " ".join(f"{sweep[k][i]:22.2e}" for k in sweep))
for k, v in sweep.items():
    j = int(np.argmin(v))
    print(f"best for {k}: eps = {eps_grid[j]:.0e}, relative error {v[j]:.1e}")

# %%
fig = Figure(figsize=(6.4, 4.2), layout="constrained")
ax = fig.add_subplot()
for (k, v), style in zip(sweep.items(), ("o-", "s-", "^--")):
    ax.loglog(eps_grid, v, style, label=k, markersize=4)
ax.axhline(1e-7, color="0.4", linestyle=":", label="npae's tolerance 1e-7")
ax.axvline(1e-3, color="0.7", linestyle=":", label="npae's default eps 1e-3")
ax.set_xlabel(r"step $\varepsilon$")
ax.set_ylabel("relative error (N2)")
ax.set_title("finite differences: truncation (right) vs rounding (left)")
ax.grid(alpha=0.3, which="both")
ax.legend(fontsize="small")
plotting.save_figure(fig, out("00_eps_sweep.png"))
fig

# %% [markdown]
# The V shapes are the two error sources: to the left of each minimum the error grows
# like $1/\varepsilon$ (rounding, slope −1), to the right like $\varepsilon^2$ or
# $\varepsilon^4$ (truncation, slopes 2 and 4). The fourth-order stencil is both more
# accurate at its best and far less sensitive to the choice of $\varepsilon$; in float32
# no $\varepsilon$ gets near $10^{-7}$.
#
# ## 5. What a failing check looks like
#
# Plant classic bugs and let the checker find them. It raises `GradientCheckError` (an
# `AssertionError`, so pytest reports it as a failure) whose message names the array,
# prints the table and, under it, a **diagnosis** of every failing row: what the error
# looks like, in words you can act on.
#
# **Bug 1: forgetting the $1/B$** in losses (B3). The gradient is then $B$ times too
# large, and (N2) gives $(B-1)/(B+1) = 0.6$ for $B = 4$: not a rounding issue, a factor.
# The checker fits $a \approx c\,n$ by least squares, $c = \langle a, n\rangle /
# \langle n, n\rangle$, and when the fit is exact it names $c$: here $c = B$, and telling
# the checker the batch size (`batch_size=B`) lets it say so.

# %%
def bce_forgot_batch_mean(p):
    A = p["A"]
    return losses.BernoulliLoss.value(A, T), {"A": layers.sigmoid(A) - T}   # BUG: no / B


try:
    check_gradients(bce_forgot_batch_mean, logits, batch_size=B)
except GradientCheckError as err:
    print(err)
    assert f"B = {B}" in err.report.failures[0].diagnosis
print(f"\n(B - 1)/(B + 1) = {(B - 1) / (B + 1):.3f}")

# %% [markdown]
# **Bug 2: using $\sigma$ instead of $\sigma'$** in the sigmoid's backward, i.e.
# `dh * h` for `dh * h * (1 - h)`.

# %%
def sigmoid_wrong_derivative(p):
    h = layers.sigmoid(p["A"])
    return np.sum(G_act * h), {"A": G_act * h}                   # BUG: σ(a), not σ'(a)


try:
    check_gradients(sigmoid_wrong_derivative, act)
except GradientCheckError as err:
    print(err)

# %% [markdown]
# No constant factor fits here ($\sigma/\sigma' = 1/(1-\sigma)$ differs per entry), so the
# diagnosis reports the correlation of $a$ and $n$ and their norms: a sign that the
# formula, not a constant, is wrong.

# %% [markdown]
# **Bug 3: a transposed product**, `dA.T @ X` for `X.T @ dA`. Here the checker stops
# before differencing anything, because the gradient does not even have its parameter's
# shape.

# %%
def dense_transposed(p):
    A = layers.dense_forward(p["X"], p["W"], p["b"])
    dX, _, db = layers.dense_backward(G, p["X"], p["W"])
    return np.sum(G * A), {"X": dX, "W": G.T @ p["X"], "b": db}  # BUG: (n_out, n_in)


try:
    check_gradients(dense_transposed, dense)
except GradientCheckError as err:
    print(err)

# %% [markdown]
# **Every kind of bug, and what the checker says.** The usual mistakes leave
# recognisable fingerprints in $a - n$. Below, one correct gradient — the batch-mean
# loss $L = \frac1B \sum_n \tfrac12 \lVert x_n W\rVert^2$, whose gradient is
# $X^\top X W / B$, with a square $W$ so that a transpose keeps the shape — is broken in
# each classic way, and `check_vjp` (section 8) reports the diagnosis. The known
# constants it may name are the batch size and any hyperparameter passed as `factors`.

# %%
Bq = 7
Xq = rng.normal(size=(Bq, 4))
Wq = rng.normal(size=(4, 4))
beta_q = 3.0


def batch_mean_loss(W):
    return 0.5 * np.sum((Xq @ W) ** 2) / Bq                      # (1/B) Σ_n ½‖x_n W‖²


def batch_mean_grad(G, W):
    return G * Xq.T @ (Xq @ W) / Bq                              # Xᵀ X W / B


planted = {
    "1/B forgotten": lambda g: g * Bq,
    "divided by B twice": lambda g: g / Bq,
    "½ forgotten": lambda g: 2 * g,
    "a factor 2 dropped": lambda g: 0.5 * g,
    "sign flipped": lambda g: -g,
    "β applied twice": lambda g: beta_q * g,
    "transposed": lambda g: g.T,
    "one column wrong": lambda g: np.where(np.arange(4) == 2, 0.3 * g + 1.0, g),
    "term left out": lambda g: np.zeros_like(g),
    "NaN on the diagonal": lambda g: np.where(np.eye(4, dtype=bool), np.nan, g),
}
for what, bug in planted.items():
    report = check_vjp(batch_mean_loss, lambda G, W, bug=bug: bug(batch_mean_grad(G, W)), Wq,
                       names=["W"], batch_size=Bq, factors={"β": beta_q}, raise_on_fail=False)
    row = report.rows[0]
    assert not row.passed
    print(f"{what:>20}: rel {row.rel_error:.1e}  ->  {row.diagnosis}")

# %% [markdown]
# ## 6. The zero-gradient trap, and why an absolute criterion is sound
#
# (N2) has one blind spot. Where the true gradient is exactly zero, $a = 0$ (or rounding
# of order $10^{-16}$) and $n$ is pure finite-difference error, about $10^{-13}$; then
# $\lVert a - n\rVert / (\lVert a\rVert + \lVert n\rVert) \approx 1$ — the
# "relative error" of two numbers that are both zero to the precision of the check.
# Such points are not exotic: the KL sparsity penalty at $\hat\rho_j = \rho$ (its minimum),
# a VAE's KL term at $\log\sigma^2 = 0$ (where its heads start), any symmetric
# initialization. Here is the correct `kl_sparsity_grad` at a batch whose unit means are
# exactly $\rho$:

# %%
rho = 0.3
h_eq = np.array([[0.1, 0.2, 0.5], [0.5, 0.4, 0.1], [0.3, 0.3, 0.3], [0.3, 0.3, 0.3]])
print("unit means ρ̂ =", h_eq.mean(axis=0), " target ρ =", rho)
a_eq = penalties.kl_sparsity_grad(h_eq, rho, 1.0)
n_eq = numerical_gradient(lambda: penalties.kl_sparsity(h_eq, rho, 1.0), h_eq)
print(f"max |analytic| {np.max(np.abs(a_eq)):.1e}, max |numeric| {np.max(np.abs(n_eq)):.1e}, "
      f"relative error (N2) {relative_error(a_eq, n_eq):.2f}  <- a correct gradient 'fails'")

# %% [markdown]
# The way out is to ask the question the relative error stands in for: *is $a - n$ larger
# than the error of the finite differences themselves?* That error can be measured on
# the spot. Halving $\varepsilon$ doubles the rounding part of (N1') and divides its
# truncation part by 16, so the two stencils disagree by about as much as either is wrong:
#
# $$ \hat e = 4 \max_i \lvert n_i(\varepsilon) - n_i(\varepsilon/2)\rvert
#    + 10\,u \max\lvert L\rvert/\varepsilon. \tag{N4} $$
#
# (the second term is a floor from the rounding bound, for when the two happen to agree).
# An array now passes when **$\operatorname{rel}(a, n) \le 10^{-7}$ or
# $\max_i \lvert a_i - n_i\rvert \le \hat e$**, and the table says which (`rel`,
# `abs`, or `NO`). This is sound in both directions. It passes correct code at zero
# gradients, because there $a - n$ *is* finite-difference error. And it does not pass
# real bugs, because $\hat e$ is tiny — about $10^{-12}$ for a loss of order 1 — while a
# bug of relative size $10^{-6}$ in a gradient of size 1 is an absolute error of
# $10^{-6}$. (Where $\hat e$ is large, above $10^{-6}$, the function is not smooth within
# $2\varepsilon$ — a kink, a top-k tie — and the row fails with that explanation instead
# of passing on a meaningless tolerance.)
#
# "Sound in both directions" needs one more condition: the gradient itself must be
# larger than $\hat e$. If the largest analytic entry $b$ is itself of the order of
# $\hat e$, agreement within $\hat e$ proves nothing — a sign flip or a factor 2 agrees
# as well. npae's checker therefore has a **third verdict**, (N5) in
# `npae/gradcheck/numeric.py`: within $\hat e$ it passes when $b \ge 100\,\hat e$
# (resolved) or $b \le \hat e/100$ (a rounding-level zero, as above), and otherwise says
# **cannot judge**, which is never counted as a pass. The next cell is the case that
# forced it: a large constant in the loss makes $\hat e$ large through the rounding of
# $L$, and the gradient is smaller still.

# %%
zero_ok = check_vjp(lambda h: penalties.kl_sparsity(h, rho, 1.0),
                    lambda G, h: G * penalties.kl_sparsity_grad(h, rho, 1.0), h_eq)
print(zero_ok)
assert zero_ok.passed and zero_ok.rows[0].criterion == "abs"

x_s = rng.uniform(-1, 1, 50)
tiny_bug = check_vjp(lambda x: np.sum(np.sin(x)), lambda G, x: G * np.cos(x) * (1 + 1e-6), x_s,
                     raise_on_fail=False)
print(tiny_bug)
assert not tiny_bug.passed
print(f"a 1e-6 relative bug: max |a - n| = {tiny_bug.rows[0].max_abs_error:.1e}, "
      f"{tiny_bug.rows[0].max_abs_error / tiny_bug.rows[0].atol:.0f} times the check's own "
      "error: caught")

# %%
W_small = rng.uniform(-1, 1, 20)
for what, factor in (("correct", 1.0), ("sign flipped", -1.0), ("2x", 2.0)):
    r = check_vjp(lambda w: 2e5 + 1e-7 * np.sum(np.sin(w)),
                  lambda G, w, f=factor: G * f * 1e-7 * np.cos(w), W_small, raise_on_fail=False)
    print(f"{what:>12}: passed={r.passed}, verdict {r.verdict}, check's own error "
          f"{r.rows[0].atol:.1e}")
    assert not r.passed and r.verdict == "CANNOT JUDGE"
r = check_vjp(lambda w: 1e-7 * np.sum(np.sin(w)), lambda G, w: -G * 1e-7 * np.cos(w), W_small,
              raise_on_fail=False)
print(f"without the offset the sign flip is judged: verdict {r.verdict}")
assert r.verdict == "FAIL"

# %% [markdown]
# ## 7. Chaining the pieces: a one-layer autoencoder
#
# An autoencoder with a sigmoid code of size $H$ and a Bernoulli decoder is exactly the
# three pieces above, in a chain:
#
# $$ \begin{aligned}
# A_1 &= X W_1 + b_1 & (B, H) \quad & \text{(F1)} \\
# Z &= \sigma(A_1) & (B, H) \quad & \text{(F2) the code} \\
# A_2 &= Z W_2 + b_2 & (B, D) \quad & \text{(F3) logits, } \hat x = \sigma(A_2) \\
# L &= \tfrac1B \textstyle\sum_{n,d} [\operatorname{softplus}(A_2) - X \odot A_2]_{nd}
#   & & \text{(F4)}
# \end{aligned} $$
#
# Going backwards, each step is one of the derivations above with its own upstream
# gradient:
#
# $$ \begin{aligned}
# dA_2 &= (\sigma(A_2) - X)/B & (B, D) \quad & \text{(B1) BCE, §3} \\
# dW_2 &= Z^\top dA_2,\quad db_2 = \textstyle\sum_n dA_2,\quad dZ = dA_2 W_2^\top
#   & (H, D),\ (D,),\ (B, H) \quad & \text{(B2) dense, §1} \\
# dA_1 &= dZ \odot Z \odot (1 - Z) & (B, H) \quad & \text{(B3) sigmoid, §2} \\
# dW_1 &= X^\top dA_1,\quad db_1 = \textstyle\sum_n dA_1 & (D, H),\ (H,) \quad & \text{(B4) dense, §1}
# \end{aligned} $$
#
# The data: a few digits, average-pooled to keep the check fast (every entry of every
# parameter is differenced four times). The pixels are then squeezed into $[0.01, 0.99]$:
# the input-gradient check below moves each pixel by up to $\pm 2\varepsilon$, and a
# pixel at exactly 0 would leave the interval $[0, 1]$ on which BCE is defined (npae's
# loss refuses such targets instead of clipping them).

# %%
if datasets.find_dataset("mnist", split="test") is not None:
    digits, digit_labels = datasets.load_mnist("test")
    source = "MNIST (test split)"
else:
    digits, digit_labels = datasets.load_glyph_digits(200, seed=0)
    source = "synthetic glyph digits (MNIST not found; set NPAE_DATA to use it)"
pool = 4 if FAST else 2                                          # 28/pool pixels a side
side = 28 // pool
B, H = 8, (6 if FAST else 16)
X = (digits[:B].astype(np.float64)
     .reshape(B, side, pool, side, pool).mean(axis=(2, 4))       # average-pool, in [0, 1]
     .reshape(B, side * side))                                   # (B, D)
X = 0.01 + 0.98 * X                                              # away from 0 and 1
D = X.shape[1]
print(f"data: {source}; a batch of B={B} digits pooled to {side}x{side} (D={D}), code H={H}")
plotting.image_grid(X, ncols=B, title=f"the batch being checked ({side}x{side})",
                    path=out("00_batch.png"))

# %% [markdown]
# First the chain written out from npae's primitives, one line per equation:

# %%
def one_layer_autoencoder(p):
    A1 = layers.dense_forward(X, p["enc.0.W"], p["enc.0.b"])     # (F1) (B, H)
    Z = layers.Sigmoid.forward(A1)                               # (F2) (B, H)
    A2 = layers.dense_forward(Z, p["dec.0.W"], p["dec.0.b"])     # (F3) (B, D)
    L = losses.BernoulliLoss.value(A2, X)                        # (F4)
    dA2 = losses.BernoulliLoss.grad(A2, X)                       # (B1) (B, D), holds the 1/B
    dZ, dW2, db2 = layers.dense_backward(dA2, Z, p["dec.0.W"])   # (B2)
    dA1 = layers.Sigmoid.backward(dZ, A1, Z)                     # (B3) (B, H)
    _, dW1, db1 = layers.dense_backward(dA1, X, p["enc.0.W"], need_dX=False)  # (B4)
    return L, {"enc.0.W": dW1, "enc.0.b": db1, "dec.0.W": dW2, "dec.0.b": db2}


ae_params = {"enc.0.W": rng.normal(scale=0.3, size=(D, H)), "enc.0.b": rng.normal(size=H),
             "dec.0.W": rng.normal(scale=0.3, size=(H, D)), "dec.0.b": rng.normal(size=D)}
t = time.perf_counter()
print(check_gradients(one_layer_autoencoder, ae_params))
print(f"({time.perf_counter() - t:.2f} s)")

# %% [markdown]
# Now the same model as an `npae.Autoencoder`. It must compute the very same loss and
# gradients at the same parameters (its backward is the same chain, run by
# `npae.network.backprop_layers`):

# %%
model = npae.Autoencoder(hidden_layer_sizes=(H,), activation="sigmoid", output="bernoulli",
                         dtype="float64", random_state=0, verbose=False).initialize(D)
model.params_ = {k: v.copy() for k, v in ae_params.items()}
loss, values, grads = model.loss_and_grads(X)
mine, my_grads = one_layer_autoencoder(ae_params)
print(f"loss: npae {loss:.12f}, by hand {mine:.12f}")
for k in grads:
    print(f"  max |npae - by hand| for {k:8s} {np.max(np.abs(grads[k] - my_grads[k])):.1e}")

# %% [markdown]
# `check_model` checks a model's `loss_and_grads` in one call: every parameter, every
# loss term on its own (`terms=[name]`) and all together, and the gradient with respect
# to the input $X$ — which enters the loss twice, as the encoder's input and as the
# target: $dX = dA_1 W_1^\top - A_2/B$. With weight decay
# $\tfrac\lambda2\sum\lVert W\rVert_F^2$ switched on there are two terms to check.

# %%
model.set_params(weight_decay=1e-2)
t = time.perf_counter()
report = check_model(model, X)
print(report)
print(f"all {len(report.rows)} rows pass: {report.passed}; largest relative error "
      f"{report.max_rel_error:.1e} ({time.perf_counter() - t:.2f} s)")

# %% [markdown]
# ## 8. Checking a function you wrote: `check_vjp`
#
# Sections 1-3 built the probe $L = \langle G, y\rangle$ by hand. `check_vjp(forward,
# backward, *inputs)` does it for any function: it computes $y = $ `forward(*inputs)`,
# draws a random upstream $G$ of $y$'s shape, and checks that `backward(G, *inputs)`
# returns $\partial L/\partial x = G^\top \partial y/\partial x$ for every input (the
# vector-Jacobian product a backward pass computes). Float64 arrays are differentiated;
# other inputs (a $\rho$, a $\beta$) pass through and get `None`.
#
# Try it on a function you derive yourself: the row-wise softmax
# $y_{nk} = e^{a_{nk}} / \sum_m e^{a_{nm}}$. Its Jacobian is
# $\partial y_{nk}/\partial a_{nj} = y_{nk}(\delta_{kj} - y_{nj})$, so
#
# $$ da_{nj} = \sum_k G_{nk}\, y_{nk} (\delta_{kj} - y_{nj})
#    = y_{nj}\Bigl(G_{nj} - \sum_k G_{nk} y_{nk}\Bigr). \tag{S1} $$

# %%
def softmax(a):
    e = np.exp(a - a.max(axis=1, keepdims=True))                 # shift: no overflow
    return e / e.sum(axis=1, keepdims=True)                      # (B, K)


def softmax_backward(G, a):
    y = softmax(a)
    return y * (G - np.sum(G * y, axis=1, keepdims=True))        # (S1) (B, K)


def softmax_backward_forgot_sum(G, a):
    return softmax(a) * G                                        # BUG: only the δ_kj part


a_sm = rng.normal(size=(5, 4))
print(check_vjp(softmax, softmax_backward, a_sm))
forgot = check_vjp(softmax, softmax_backward_forgot_sum, a_sm, raise_on_fail=False)
print(forgot)
assert check_vjp(softmax, softmax_backward, a_sm).passed and not forgot.passed

# %% [markdown]
# The same from the command line, for a file of your own with `forward` and `backward`
# (one `--shape` per input; `--low/--high` keep random inputs inside a domain):
#
# ```
# python -m npae gradcheck --function mine.py:forward:backward --shape 5,4
# ```
#
# For a map whose *Jacobian* you derived, `check_jacobian(f, jacobian, x)` compares it
# entry by entry. npae's `Autoencoder.encoder_jacobian` returns, per example, the
# $D\times H$ matrix $J_{ij} = \partial z_j/\partial x_i$ of the encoder:

# %%
enc_model = npae.Autoencoder((6, 3), activation="tanh", dtype="float64",
                             random_state=0).initialize(5)
X_j = rng.uniform(0.1, 0.9, (4, 5))
print(check_jacobian(enc_model.transform, enc_model.encoder_jacobian, X_j))

# %% [markdown]
# ## 9. Full-size models: directional checks
#
# Entry-by-entry differences cost four forward passes per parameter. The MNIST
# autoencoder 784-512-256-32-256-512-784 has 1.07 million parameters: 4.3 million forward
# passes, hours. But a gradient is also defined by its directional derivatives: for any
# direction $v$,
#
# $$ \langle \nabla L, v\rangle = \frac{d}{dt} L(\theta + t v)\Big|_{t=0}, \tag{N3} $$
#
# and the right side is a one-dimensional central difference, four forward passes
# whatever the size of $\theta$. If one array's gradient is wrong by $\delta$, the two
# sides differ by $\langle \delta, v\rangle$, which for a random $v$ vanishes only on a
# set of measure zero. `check_model(..., directions=K)` draws K random unit directions over
# all parameters together and K over each array alone (rows marked `~`), so a failure
# also says *which* array is wrong. Here is the full-size model in float64 on a synthetic
# batch, then the same with a planted 1% error in one weight matrix:

# %%
big = npae.Autoencoder((512, 256, 32), activation="tanh", dtype="float64",
                       random_state=0).initialize(784)
print(f"{sum(v.size for v in big.params_.values()):,} parameters in {len(big.params_)} arrays")
X_big_batch = rng.uniform(0.05, 0.95, (16, 784))
K = 4 if FAST else 8
t = time.perf_counter()
big_report = check_model(big, X_big_batch, directions=K, each_term=False, include_input=False)
big_seconds = time.perf_counter() - t
print(big_report)
print(f"K = {K}: {big_seconds:.1f} s; largest relative error {big_report.max_rel_error:.1e}")

real_step = big._forward_backward


def one_percent_off(params, X, noise, terms, need_grads, need_input_grad):
    loss, values, grads, dX = real_step(params, X, noise, terms, need_grads, need_input_grad)
    if grads is not None:
        grads["enc.1.W"] = 1.01 * grads["enc.1.W"]               # BUG: 1% too large
    return loss, values, grads, dX


big._forward_backward = one_percent_off
caught = check_model(big, X_big_batch, directions=K, each_term=False, include_input=False,
                     raise_on_fail=False)
print("\n".join(f"{r.name}: {r.diagnosis}" for r in caught.failures))
assert [r.name for r in caught.failures if r.name != "(all)"] == ["enc.1.W"]
del big._forward_backward

# %% [markdown]
# ## 10. What a gradient check cannot tell you
#
# **A gradient check proves that the backward pass matches the forward pass, not that the
# forward pass matches the equations.** If the forward is wrong and the backward is its
# correct derivative, the check passes. Here is BCE with a sign slip, $+X A$ for
# $-X A$, and the backward derived faithfully from the slip:

# %%
def bce_sign_slip(p):
    A = p["A"]
    L = float(np.sum(layers.softplus(A) + T * A) / A.shape[0])   # BUG: + X A
    return L, {"A": (layers.sigmoid(A) + T) / A.shape[0]}        # ...and its true gradient


print(check_gradients(bce_sign_slip, logits))
print("the check passes: the backward is the derivative of this (wrong) forward")

# %% [markdown]
# Real cases are less obvious: numpy-ml's VAE multiplied $\varepsilon$ by a variance where
# the equations need a standard deviation, consistently in forward and backward, and its
# gradient checks passed. The remedy is a second kind of test, **forward versus
# equation**: compute the loss independently, straight from the textbook formula, and
# compare. For moderate logits the textbook BCE is accurate in float64:

# %%
def textbook_bce(A, X):
    x_hat = 1.0 / (1.0 + np.exp(-A))                             # σ(A)
    return float(-np.sum(X * np.log(x_hat) + (1 - X) * np.log(1 - x_hat)) / A.shape[0])


A = logits["A"]
print(f"textbook BCE       {textbook_bce(A, T):.15f}")
print(f"npae BernoulliLoss {losses.BernoulliLoss.value(A, T):.15f}   "
      f"difference {abs(losses.BernoulliLoss.value(A, T) - textbook_bce(A, T)):.1e}")
print(f"sign-slip BCE      {bce_sign_slip(logits)[0]:.15f}   <- caught")

# %% [markdown]
# The same comparison for the whole autoencoder: its reported reconstruction loss against
# the formula applied to $\hat x = \sigma(\sigma(XW_1+b_1)W_2+b_2)$ computed by hand.

# %%
W1, b1, W2, b2 = (model.params_[k] for k in ("enc.0.W", "enc.0.b", "dec.0.W", "dec.0.b"))
x_hat = 1 / (1 + np.exp(-((1 / (1 + np.exp(-(X @ W1 + b1)))) @ W2 + b2)))
by_formula = -np.sum(X * np.log(x_hat) + (1 - X) * np.log(1 - x_hat)) / X.shape[0]
print(f"model recon {values['recon']:.15f}, formula {by_formula:.15f}, "
      f"difference {abs(values['recon'] - by_formula):.1e}")
print(f"model.reconstruct(X) vs formula: max difference "
      f"{np.max(np.abs(model.reconstruct(X) - x_hat)):.1e}")

# %% [markdown]
# Finally, why npae writes (F4) and not the textbook form: once a logit is large,
# $\sigma(a)$ rounds to exactly 1 in float64 (for $a \gtrsim 37$) and $\log(1 - \sigma(a))$
# is $-\infty$; the softplus form stays exact.

# %%
A_big = np.array([[-800.0, -40.0, 0.0, 40.0, 800.0]])
X_big = np.array([[0.0, 1.0, 0.5, 0.0, 1.0]])
with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
    x_hat = 1.0 / (1.0 + np.exp(-A_big))
    per_entry = -(X_big * np.log(x_hat) + (1 - X_big) * np.log(1 - x_hat))
    print(f"textbook σ(a):                      {x_hat[0]}")
    print(f"textbook terms per entry:           {per_entry[0]}")
    print(f"textbook BCE at logits {A_big[0]}: {textbook_bce(A_big, X_big)}")
print(f"npae terms per entry:               "
      f"{(layers.softplus(A_big) - X_big * A_big)[0]}")
print(f"npae BCE at the same logits:        {losses.BernoulliLoss.value(A_big, X_big):.6f}"
      f"  (= 40 + 40 + log 2 + ~0: the two wrong confident guesses cost |a| each)")

# %% [markdown]
# ## Summary
#
# * Each backward equation comes from summing the chain rule over the entries that
#   depend on a parameter; shapes pin down the matrix products.
# * A layer is checked alone by contracting its output with a random $G$.
# * Checks run in float64 with central differences; npae's fourth-order stencil at
#   $\varepsilon = 10^{-3}$ reaches ~$10^{-12}$, so a tolerance of $10^{-7}$ separates
#   bugs (errors of order 1) from rounding with a wide margin.
# * Where the true gradient is zero the relative error is meaningless; an array also
#   passes when $\max\lvert a - n\rvert$ is within the check's own error (N4).
# * A failing row comes with a diagnosis: a constant factor (and which: $B$, $1/B$,
#   $2$, $\tfrac12$, $-1$, a hyperparameter), a transpose, the rows or columns that are
#   wrong, a term left out, NaN.
# * `check_vjp` checks any function's backward; `directions=K` checks models of any
#   size in seconds.
# * Gradient checks and forward-versus-equation tests prove different things; a model
#   needs both.
#
# Next: `01_autoencoder_and_pca.py` derives deep and tied autoencoders, and shows a linear
# autoencoder finding PCA's subspace.

# %%
print(f"done in {time.perf_counter() - START:.1f} s")
