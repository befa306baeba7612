"""Benchmark: the MNIST VAE of PyTorch's examples/vae, in npae, and what its time is made of.

The reference setting: encoder 784-400-(20, 20), decoder 20-400-784, ReLU, Bernoulli
decoder on pixels/255, Adam with learning rate 1e-3, batch 128, 10 epochs. That example
reports a test loss of 105.6-105.9 nats per example (it sums over the batch; npae
averages, which gives the same per-example number). This script

1. trains npae.VAE in that setting and reports the test loss (−ELBO per example, one
   ε per example, from the trainer's validation pass) after each epoch and the seconds per epoch;
2. times one training epoch (noise, forward, backward, Adam step for every batch) and,
   alternating with it, the same epoch's matrix products alone — for every batch, the
   forward X @ W of each layer and the backward dA @ Wᵀ and Xᵀ @ dA with the same shapes
   and dtype — so the gap between the two is what everything else (activations, losses,
   the optimizer, Python) costs. Each is repeated ``--repeats`` times and the fastest
   run is reported, in wall-clock and in CPU seconds of this process: on a shared
   machine the minimum is the least disturbed run;
3. estimates the test log-likelihood by importance sampling with K = 1000
   (npae.likelihood.importance_sampled_log_likelihood) on ``--is-examples`` test examples.

Run from the repository root (MNIST found through NPAE_DATA or ``--data-dir``):

    NPAE_DATA=/work/shared/data python benchmarks/bench_vae.py
    python benchmarks/bench_vae.py --epochs 2 --is-examples 200        # quicker

Timings depend on the BLAS threads (OPENBLAS_NUM_THREADS) and on what else the machine
runs; the two timings alternate in one process, so their ratio is the number to compare
across machines. ``--load model.npz`` skips training and times/evaluates a saved model.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from npae.datasets import find_dataset, load_mnist  # noqa: E402
from npae.likelihood import importance_sampled_log_likelihood  # noqa: E402
from npae.models.vae import VAE  # noqa: E402
from npae.optim import make_optimizer  # noqa: E402
from npae.persistence import atomic_write, load_model  # noqa: E402
from npae.training import train  # noqa: E402


def matmul_only_epoch(widths_enc, H, widths_dec, n, batch_size, dtype, seed=0):
    """Seconds for one epoch's matrix products alone, with the shapes of the VAE's layers.

    Layers (n_in, n_out): the encoder, the two heads (n_L, H), the decoder. Per batch of
    B rows: forward X @ W for every layer; backward Xᵀ @ dA for every layer and dA @ Wᵀ for
    every layer but the first (no input gradient is needed in training).
    """
    rng = np.random.default_rng(seed)
    layers = list(zip(widths_enc[:-1], widths_enc[1:])) + [(widths_enc[-1], H)] * 2 + \
        list(zip(widths_dec[:-1], widths_dec[1:]))
    W = [rng.standard_normal((a, b)).astype(dtype) for a, b in layers]
    sizes = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
    inputs = {B: [rng.standard_normal((B, a)).astype(dtype) for a, _ in layers]
              for B in set(sizes)}
    grads = {B: [rng.standard_normal((B, b)).astype(dtype) for _, b in layers]
             for B in set(sizes)}
    t0 = time.perf_counter()
    for B in sizes:
        Xs, dAs = inputs[B], grads[B]
        for i, w in enumerate(W):
            Xs[i] @ w                                   # forward  X @ W
        for i, w in enumerate(W):
            Xs[i].T @ dAs[i]                            # backward dW = Xᵀ dA
            if i > 0:
                dAs[i] @ w.T                            # backward dX = dA Wᵀ
    return time.perf_counter() - t0


def _timed(fn):
    """(wall seconds, CPU seconds of this process) of one call."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def time_epochs(model, X, repeats, seed):
    """Fastest of ``repeats`` training epochs and matmul-only epochs, run alternately."""
    scratch = copy.deepcopy(model)          # train a copy: the evaluated model stays as is
    rng = np.random.default_rng(seed)
    epoch, mm = [], []
    for _ in range(repeats):
        epoch.append(_timed(lambda: train(scratch, X, None, epochs=1, batch_size=128,
                                          optimizer=scratch.optimizer_, rng=rng,
                                          verbose=False)))
        mm.append(_timed(lambda: matmul_only_epoch((784, 400), 20, (20, 400, 784),
                                                   X.shape[0], 128, np.float32, seed)))
    return min(epoch), min(mm)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3, help="timing repetitions (fastest kept)")
    p.add_argument("--is-samples", type=int, default=1000, help="K of the importance sampler")
    p.add_argument("--is-examples", type=int, default=1000,
                   help="test examples for the K-sample estimate (10000 = all)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--load", default=None, help="evaluate this saved model instead of training")
    p.add_argument("--save", default=None, help="write the trained model to this .npz")
    p.add_argument("--json", default=None, help="write the numbers to this .json")
    args = p.parse_args(argv)

    folder = find_dataset("mnist", data_dir=args.data_dir) or \
        find_dataset("mnist", data_dir=Path(__file__).resolve().parents[2] / "shared" / "data")
    if folder is None:
        sys.exit("MNIST not found: set NPAE_DATA or pass --data-dir")
    X, _ = load_mnist("train", data_dir=folder)
    Xt, _ = load_mnist("test", data_dir=folder)
    results = dict(seed=args.seed)

    if args.load:
        model = load_model(args.load, expected_class=VAE)
        print(f"loaded {args.load} ({len(model.history_.get('epoch', []))} epochs trained)")
        model.optimizer_ = make_optimizer(model.optimizer, model.learning_rate)
    else:
        model = VAE(hidden_layer_sizes=(400,), latent_dim=20, activation="relu",
                    output="bernoulli", optimizer="adam", learning_rate=1e-3, batch_size=128,
                    epochs=args.epochs, random_state=args.seed, verbose=False)
        t0 = time.perf_counter()
        model.fit(X, X_val=Xt)
        h = model.history_
        per_epoch = np.diff([0.0] + h["seconds"])
        print(f"{'epoch':>5} {'train loss':>11} {'test -ELBO':>11} {'seconds':>8}")
        for e in range(args.epochs):
            print(f"{e + 1:>5} {h['loss'][e]:11.2f} {h['val_loss'][e]:11.2f} {per_epoch[e]:8.2f}")
        results.update(epochs=args.epochs, fit_seconds=time.perf_counter() - t0,
                       test_neg_elbo_per_epoch=h["val_loss"],
                       fit_seconds_per_epoch=per_epoch.tolist())
        if args.save:
            model.save(args.save)
    test_nelbo = -model.score(Xt)
    print(f"\ntest -ELBO: {test_nelbo:.2f} nats per example (reference after 10 epochs: "
          f"105.6-105.9)")

    (ep_wall, ep_cpu), (mm_wall, mm_cpu) = time_epochs(model, X, args.repeats, args.seed)
    print(f"one training epoch (fastest of {args.repeats}): {ep_wall:.2f} s wall, "
          f"{ep_cpu:.2f} s CPU;  its matmuls alone: {mm_wall:.2f} s wall, {mm_cpu:.2f} s CPU "
          f"({100 * mm_cpu / ep_cpu:.0f}% of the epoch's CPU time)")

    n_is = min(args.is_examples, Xt.shape[0])
    t0 = time.perf_counter()
    ll = importance_sampled_log_likelihood(model, Xt[:n_is], n_samples=args.is_samples,
                                           random_state=args.seed)
    is_seconds = time.perf_counter() - t0
    se = ll.std(ddof=1) / np.sqrt(n_is) if n_is > 1 else float("nan")
    nelbo_sub = -model.score(Xt[:n_is])
    # Bernoulli on grey-level pixels is unnormalized: this is a cross-entropy score, not
    # log p(x) (npae.likelihood.binarized_log_likelihood gives a true one on binary images)
    print(f"importance-sampled score (grey-level pixels: not a density), K = {args.is_samples}, "
          f"first {n_is} test examples: "
          f"{ll.mean():.2f} ± {se:.2f} nats (−ELBO on the same examples {nelbo_sub:.2f}); "
          f"{is_seconds:.1f} s")
    results.update(test_neg_elbo=test_nelbo, epoch_wall=ep_wall, epoch_cpu=ep_cpu,
                   matmul_wall=mm_wall, matmul_cpu=mm_cpu, is_samples=args.is_samples,
                   is_examples=n_is, is_log_likelihood=float(ll.mean()),
                   is_standard_error=float(se), neg_elbo_same_examples=nelbo_sub,
                   is_seconds=is_seconds)
    if args.json:
        atomic_write(args.json, lambda f: f.write(json.dumps(results, indent=1).encode()))
    return results


if __name__ == "__main__":
    main()
