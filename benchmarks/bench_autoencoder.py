"""Seconds per epoch of the deep MNIST autoencoder, against its matmuls alone.

Model (issue 2): 784-512-256-32-256-512-784, ReLU on every hidden layer (the code
included), Bernoulli output, Adam (lr 1e-3), batch 128, float32.

Both timings are taken in the same run, on the same data, so the ratio
    step time / matmul time
is meaningful on any machine. "Matmuls alone" are, per batch, the forward X W of
each layer and the backward dA Wᵀ (except the first layer) and Xᵀ dA, at the same
shapes, with preallocated outputs; everything else a step does (activations, loss,
bias sums, Adam, batching) is the overhead the ratio measures.

    python benchmarks/bench_autoencoder.py [--epochs 5] [--steps 200]

It then trains for --epochs (the real loop: shuffling, batching, NaN guard, Adam) and
reports the seconds per epoch against the matmuls of one epoch alone, and the test BCE
per image (MNIST when found, else glyph digits); --epochs 0 skips training.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import npae
from npae import datasets

SIZES = (512, 256, 32)
B, D = 128, 784


def matmul_time(n_steps, dtype=np.float32, repeats=3):
    """Seconds for n_steps batches of only the forward and backward matmuls."""
    rng = np.random.default_rng(0)
    widths = (D,) + SIZES + SIZES[-2::-1] + (D,)
    Ws = [rng.normal(size=(a, b)).astype(dtype) for a, b in zip(widths[:-1], widths[1:])]
    Hs = [rng.normal(size=(B, w)).astype(dtype) for w in widths]
    fwd = [np.empty((B, W.shape[1]), dtype) for W in Ws]
    dWs = [np.empty_like(W) for W in Ws]
    dHs = [np.empty((B, W.shape[0]), dtype) for W in Ws]
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n_steps):
            for i, W in enumerate(Ws):
                np.matmul(Hs[i], W, out=fwd[i])                      # X W
            for i, W in enumerate(Ws):
                np.matmul(Hs[i].T, Hs[i + 1], out=dWs[i])            # Xᵀ dA
                if i > 0:
                    np.matmul(Hs[i + 1], W.T, out=dHs[i])            # dA Wᵀ
        best = min(best, time.perf_counter() - t0)
    return best


def step_time(model, X, n_steps, repeats=3):
    """Seconds for n_steps full training steps (sample, forward, backward, Adam)."""
    rng = np.random.default_rng(0)
    opt = npae.optim.Adam(1e-3)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        order = rng.permutation(len(X))
        for s in range(n_steps):
            Xb = X[order[(s * B) % (len(X) - B):][:B]]
            loss, values, grads = model.loss_and_grads(Xb, model.sample_noise(Xb, rng))
            opt.step(model.params_, grads)
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--steps", type=int, default=200)
    args = ap.parse_args()
    have_mnist = datasets.find_dataset("mnist") is not None
    X, _ = datasets.load("mnist" if have_mnist else "glyph-digits", "train")
    n_batches = -(-len(X) // B)
    model = npae.Autoencoder(SIZES, activation="relu", output="bernoulli", epochs=args.epochs,
                             learning_rate=1e-3, batch_size=B, random_state=0, verbose=True)
    model.initialize(D)
    t_step = step_time(model, X, args.steps)
    t_mm = matmul_time(args.steps)
    print(f"{'':<40}{'ms / step':>10}{'s / epoch':>11}")
    print(f"{'training step at initialization':<40}{1e3 * t_step / args.steps:>10.2f}"
          f"{t_step / args.steps * n_batches:>11.2f}")
    print(f"{'same matmuls alone':<40}{1e3 * t_mm / args.steps:>10.2f}"
          f"{t_mm / args.steps * n_batches:>11.2f}")
    print(f"ratio step / matmuls: {t_step / t_mm:.2f}   ({n_batches} batches of {B} an epoch)")
    if args.epochs:
        X_test, _ = datasets.load("mnist" if have_mnist else "glyph-digits", "test")
        t0 = time.perf_counter()
        model.fit(X)                               # the real loop, no validation pass
        wall = (time.perf_counter() - t0) / args.epochs
        t_mm_epoch = matmul_time(n_batches, repeats=1)
        print(f"training loop: {wall:.2f} s / epoch over {args.epochs} epochs; the same "
              f"matmuls alone {t_mm_epoch:.2f} s; ratio {wall / t_mm_epoch:.2f}")
        test_bce = model.reconstruction_error(X_test).mean()
        print(f"test BCE per image after {args.epochs} epochs: {test_bce:.2f} nats "
              f"({'MNIST' if have_mnist else 'glyph digits'})")


if __name__ == "__main__":
    main()
