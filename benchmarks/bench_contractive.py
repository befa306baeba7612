"""Cost of the contractive penalty: closed form versus a plain step, and the explicit Jacobian.

One training step (``loss_and_grads``: forward, backward) of a one-layer sigmoid
autoencoder D-H-D on a batch of B MNIST-sized rows, timed in the same run for

* the plain autoencoder,
* the contractive autoencoder with the closed form (penalties (P12)-(P14)),
  which adds O(B·H + D·H) work to a step that costs O(B·D·H);
* the contractive term alone, closed form and explicit: the explicit path builds the
  B×D×H Jacobian J_nij = s_nj W_ij (penalties ``contractive_explicit``/``_grad``),
  O(B·D·H) memory and time for the term alone;
* a plain step plus the explicit term: what a contractive step would cost the slow way.

Timings alternate between the variants for ``--rounds`` rounds and keep each one's
best, so load on the machine hits all of them alike. The issue's target is a
contractive/plain ratio of at most 1.5; ``--check`` exits with status 1 when it is missed.

    python benchmarks/bench_contractive.py [--batch 128] [--hidden 256] [--steps 50] [--check]
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from npae import Autoencoder
from npae.penalties import (contractive, contractive_explicit, contractive_explicit_grad,
                            contractive_grad)

D = 784


def best_time(fn, steps):
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t0) / steps


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--check", action="store_true", help="exit 1 if contractive/plain > 1.5")
    args = ap.parse_args(argv)
    B, H = args.batch, args.hidden
    X = np.random.default_rng(0).uniform(size=(B, D)).astype(args.dtype)
    kw = dict(hidden_layer_sizes=(H,), dtype=args.dtype, random_state=0)
    plain = Autoencoder(**kw).initialize(D)
    cae = Autoencoder(contractive_weight=1.0, **kw).initialize(D)
    W, b = cae.params_["enc.0.W"], cae.params_["enc.0.b"]
    h = 1 / (1 + np.exp(-(X @ W + b)))

    def term_closed():
        contractive(h, W, 1.0)
        contractive_grad(h, W, 1.0)

    def term_explicit():
        contractive_explicit(h, W, 1.0)
        contractive_explicit_grad(h, W, 1.0)

    def plain_plus_explicit():
        plain.loss_and_grads(X)
        term_explicit()

    variants = {
        "plain AE step": lambda: plain.loss_and_grads(X),
        "contractive step (closed form)": lambda: cae.loss_and_grads(X),
        "contractive term alone, closed form": term_closed,
        "contractive term alone, explicit J": term_explicit,
        "plain step + explicit-J term": plain_plus_explicit,
    }
    best = {name: np.inf for name in variants}
    for name, fn in variants.items():                       # warm-up
        fn()
    for _ in range(args.rounds):
        for name, fn in variants.items():
            steps = max(1, args.steps // 5) if "explicit" in name else args.steps
            best[name] = min(best[name], best_time(fn, steps))
    base = best["plain AE step"]
    print(f"one step, B={B}, D={D}, H={H}, {args.dtype} (best of {args.rounds} rounds)")
    print(f"{'variant':<38}{'ms':>10}{'/ plain step':>14}")
    print("-" * 62)
    for name, t in best.items():
        print(f"{name:<38}{t * 1e3:>10.3f}{t / base:>14.2f}")
    ratio = best["contractive step (closed form)"] / base
    print(f"contractive / plain step: {ratio:.2f} (target <= 1.5)")
    if args.check and ratio > 1.5:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
