"""Seconds of the importance-sampled log-likelihood (K = 1000) of the MNIST VAE on the
test images, against its decoder's matmuls alone.

    NPAE_DATA=/work/shared/data python benchmarks/bench_likelihood.py [--examples 10000]
        [--load vae.npz]

The VAE is 784-400-20 (ReLU, Bernoulli, as in bench_vae.py), trained for ``--epochs``
(default 1: the cost does not depend on how well it is trained) unless ``--load``
gives a saved one. npae.likelihood.importance_sampled_log_likelihood draws K = 1000
codes per image and decodes them in chunks of 2^22 entries (5 images × 1000 codes ×
784 pixels): per image 1000 decoder passes 20-400-784, then a log-sum-exp. "Matmuls
alone" are the two decoder products per chunk at the same shapes (the encoder's are
negligible).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import npae
from _timing import load_average
from npae.likelihood import DEFAULT_MAX_ELEMENTS, importance_sampled_log_likelihood


def decoder_matmuls(model, n_examples, K, seed=0):
    """Seconds of the decoder's (n·K, H)·(H, 400) and (n·K, 400)·(400, D) products alone."""
    width = max((model.n_features_in_,) + tuple(model._sizes))
    chunk = max(1, DEFAULT_MAX_ELEMENTS // (K * width))
    rng = np.random.default_rng(seed)
    *_, dec = model._layers()
    Ws = [model.params_[layer.W] for layer in dec]
    t0 = time.perf_counter()
    for start in range(0, n_examples, chunk):
        rows = min(chunk, n_examples - start) * K
        H = rng.standard_normal((rows, Ws[0].shape[0]), dtype=Ws[0].dtype)
        for W in Ws:
            H = H @ W
    return time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=10000)
    ap.add_argument("--K", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--load", default=None)
    args = ap.parse_args(argv)
    from _timing import mnist, mnist_train
    if args.load:
        model = npae.load(args.load)
    else:
        model = npae.VAE((400,), latent_dim=20, activation="relu", output="bernoulli",
                         epochs=args.epochs, random_state=0, verbose=False).fit(mnist_train())
    Xt = mnist("test")[:args.examples]
    load_before = load_average()
    t0 = time.perf_counter()
    result = importance_sampled_log_likelihood(model, Xt, args.K, random_state=0)
    seconds = time.perf_counter() - t0
    t_mm = decoder_matmuls(model, len(Xt), args.K)
    n = len(Xt)
    print(f"importance-sampled log p(x), K = {args.K}, {n} MNIST test images: mean "
          f"{result.mean():.2f} nats")
    print(f"{seconds:.1f} s, decoder matmuls alone {t_mm:.1f} s; load average "
          f"{load_before}→{load_average()}")
    print("README row:")
    print(f"| importance-sampled log-likelihood, K = {args.K}, {n:,} test images "
          f"(`python benchmarks/bench_likelihood.py --examples {n}`) | {seconds:.1f} s = "
          f"{seconds / t_mm:.2f}× its decoder matmuls alone ({t_mm:.1f} s); one run, load "
          f"{load_before} |")


if __name__ == "__main__":
    main()
