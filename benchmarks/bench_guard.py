"""What the divergence guard of npae.training costs per step, on the MNIST-size autoencoder.

Model: 784-512-256-32-256-512-784, ReLU, Bernoulli output, Adam, batch 128, float32 (the
model of bench_autoencoder.py), on 2,048 random images in [0, 1]. It times, best of
``--repeats``:

* one training step (sample noise, loss_and_grads, Adam) as the loop runs it;
* the guard's per-step work: ``np.isfinite(p).all()`` over every parameter array;
* what a per-step snapshot would cost instead (copying parameters and Adam's moments),
  which is why the guard keeps one copy per epoch and replays on failure;
* the epoch-end check of the optimizer's moments.

    python benchmarks/bench_guard.py [--steps 100] [--repeats 3]
"""
from __future__ import annotations

import argparse
import copy
import time

import numpy as np

import npae
from npae.training import _all_finite, _optimizer_arrays


def best_of(fn, n, repeats):
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(n):
            fn(i)
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(2048, 784)).astype(np.float32)
    model = npae.Autoencoder((512, 256, 32), activation="relu", random_state=0,
                             verbose=False).initialize(784)
    opt = npae.optim.Adam(1e-3)

    def step(i):
        Xb = X[(i * 128) % 1920:][:128]
        _, _, grads = model.loss_and_grads(Xb, model.sample_noise(Xb, rng))
        opt.step(model.params_, grads)

    for i in range(10):
        step(i)
    params = model.params_
    n_params = sum(p.size for p in params.values())
    rows = [("training step", best_of(step, args.steps, args.repeats))]
    rows.append(("guard: isfinite of every parameter",
                 best_of(lambda i: _all_finite(params.values()), 10 * args.steps, args.repeats)))
    rows.append(("(a float32 sum instead; overflows)",
                 best_of(lambda i: [np.isfinite(p.sum()) for p in params.values()],
                         10 * args.steps, args.repeats)))
    rows.append(("per-step snapshot (not done): params + Adam",
                 best_of(lambda i: ({k: p.copy() for k, p in params.items()},
                                    copy.deepcopy(vars(opt))), args.steps, args.repeats)))
    rows.append(("epoch-end check of Adam's moments",
                 best_of(lambda i: _all_finite(_optimizer_arrays(opt)), args.steps,
                         args.repeats)))
    t_step = rows[0][1]
    print(f"{n_params:,} parameters, batch 128, float32")
    for name, t in rows:
        print(f"{name:45s} {1e3 * t:8.3f} ms  {100 * t / t_step:6.1f}% of a step")


if __name__ == "__main__":
    main()
