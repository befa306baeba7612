"""Shared timing helpers for the benchmarks: a model's epoch against its matmuls alone.

"Matmuls alone" are, for every batch of an epoch, the forward X W of each dense layer
and the backward Xᵀ dA and dA Wᵀ (the latter except for the input layer, whose input
gradient training does not need), at the model's shapes and dtype, into preallocated
outputs, with OpenBLAS's threads as the environment sets them. Everything else an
epoch does (activations, losses, penalties, bias sums, Adam, shuffling, batching, the
divergence guard) is what the ratio epoch / matmuls measures.

On a shared machine absolute times move with the load; each benchmark therefore runs
its variants alternately, computes the ratios within each round, and reports medians
over rounds, with the load average (``/proc/loadavg``) at the start and the end.
"""
from __future__ import annotations

import os
import statistics
import time

import numpy as np

import npae
from npae.network import Layer


def load_average():
    """The 1-minute load average as text ('?' where /proc/loadavg does not exist)."""
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[0]
    except OSError:
        return "?"


def mnist(split="train"):
    """MNIST images of ``split``, float32 in [0, 1] (NPAE_DATA or ../shared/data)."""
    from pathlib import Path
    folder = npae.datasets.find_dataset("mnist") or npae.datasets.find_dataset(
        "mnist", data_dir=Path(__file__).resolve().parents[2] / "shared" / "data")
    if folder is None:
        raise SystemExit("MNIST not found: set NPAE_DATA=/path/to/data")
    return npae.datasets.load_mnist(split, data_dir=folder)[0]


def mnist_train():
    return mnist("train")


def layer_shapes(model):
    """[(n_in, n_out, needs_input_grad)] of every dense layer of a model, in order."""
    groups = model._layers()
    layers = []
    for g in groups:
        layers.extend(g if isinstance(g, (list, tuple)) else [g])
    shapes = []
    for layer in layers:
        assert isinstance(layer, Layer)
        n_in, n_out = model.params_[layer.W].shape
        if layer.transposed:
            n_in, n_out = n_out, n_in
        shapes.append((n_in, n_out, layer.name != "enc.0"))
    return shapes


def matmul_epoch(shapes, n, batch_size, dtype, seed=0):
    """Seconds for one epoch of only the forward and backward matmuls at ``shapes``."""
    rng = np.random.default_rng(seed)
    sizes = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
    W = [rng.standard_normal((a, b)).astype(dtype) for a, b, _ in shapes]
    bufs = {}
    for B in set(sizes):
        bufs[B] = dict(
            X=[rng.standard_normal((B, a)).astype(dtype) for a, _, _ in shapes],
            dA=[rng.standard_normal((B, b)).astype(dtype) for _, b, _ in shapes],
            A=[np.empty((B, b), dtype) for _, b, _ in shapes],
            dX=[np.empty((B, a), dtype) for a, _, _ in shapes])
    dW = [np.empty_like(w) for w in W]
    t0 = time.perf_counter()
    for B in sizes:
        buf = bufs[B]
        for i, w in enumerate(W):
            np.matmul(buf["X"][i], w, out=buf["A"][i])                 # forward X W
        for i, (w, (_, _, needs_dX)) in enumerate(zip(W, shapes)):
            np.matmul(buf["X"][i].T, buf["dA"][i], out=dW[i])           # dW = Xᵀ dA
            if needs_dX:
                np.matmul(buf["dA"][i], w.T, out=buf["dX"][i])          # dX = dA Wᵀ
    return time.perf_counter() - t0


def _set_threads(n):
    """npae.set_num_threads(n), or nothing for an npae without threads (a 'before' run)."""
    setter = getattr(npae, "set_num_threads", None)
    return setter(n) if setter else None


def fit_epoch(make_model, X, threads):
    """Seconds of ``make_model().fit(X)`` for one epoch with ``threads`` npae threads."""
    previous = _set_threads(threads)
    try:
        model = make_model()
        model.set_params(epochs=1, verbose=False)
        t0 = time.perf_counter()
        model.fit(X)
        return time.perf_counter() - t0
    finally:
        _set_threads(previous)


def breakdown(make_model, X, threads, seed=0):
    """Where one epoch's time goes, in seconds: the model's loss_and_grads, Adam's step,
    the guard's per-step finiteness check of the parameters, and the rest (shuffle,
    batches, noise), timed phase by phase over one epoch of the real batches."""
    previous = _set_threads(threads)
    try:
        model = make_model()
        model.set_params(epochs=1, verbose=False)
        model.initialize(X.shape[1], random_state=seed)
        opt = npae.optim.make_optimizer(model.optimizer, model.learning_rate)
        rng = np.random.default_rng(seed)
        B = model.batch_size
        t = dict(loss_and_grads=0.0, optimizer=0.0, guard=0.0, other=0.0)
        t_start = time.perf_counter()
        order = rng.permutation(X.shape[0])
        for start in range(0, X.shape[0], B):
            Xb = X[order[start:start + B]]
            noise = model.sample_noise(Xb, rng)
            t0 = time.perf_counter()
            _, _, grads = model.loss_and_grads(Xb, noise)
            t1 = time.perf_counter()
            opt.step(model.params_, grads)
            t2 = time.perf_counter()
            all(np.isfinite(p).all() for p in model.params_.values())   # the guard's check
            t3 = time.perf_counter()
            t["loss_and_grads"] += t1 - t0
            t["optimizer"] += t2 - t1
            t["guard"] += t3 - t2
        total = time.perf_counter() - t_start
        t["other"] = total - t["loss_and_grads"] - t["optimizer"] - t["guard"]
        return t
    finally:
        _set_threads(previous)


def compare_threads(make_model, X, rounds, label, command):
    """Epoch with 2 threads, the matmuls alone, epoch with 1 thread, ``rounds`` times
    alternately; prints the rounds and one README table row; returns the medians."""
    load_before = load_average()
    model = make_model().initialize(X.shape[1])
    shapes = layer_shapes(model)
    dtype, B = model.params_["enc.0.W"].dtype, model.batch_size
    fit_epoch(make_model, X[:4 * B], 2)                                 # warm-up
    rows = []
    print(f"{label}: {X.shape[0]} rows, batch {B}, {dtype}; npae threads 2 / 1 "
          f"(os.cpu_count() = {os.cpu_count()}); npae from {os.path.dirname(npae.__file__)}"
          f"{'' if hasattr(npae, 'set_num_threads') else ' (no threads: both columns serial)'}; "
          f"load average {load_before}")
    print(f"{'round':>5}{'2 threads s':>13}{'matmuls s':>11}{'1 thread s':>12}"
          f"{'ratio 2':>9}{'ratio 1':>9}")
    for r in range(rounds):
        t2 = fit_epoch(make_model, X, 2)
        tm = matmul_epoch(shapes, X.shape[0], B, dtype, seed=r)
        t1 = fit_epoch(make_model, X, 1)
        rows.append((t2, tm, t1, t2 / tm, t1 / tm))
        print(f"{r + 1:>5}{t2:>13.2f}{tm:>11.2f}{t1:>12.2f}{t2 / tm:>9.2f}{t1 / tm:>9.2f}")
    med = [statistics.median(col) for col in zip(*rows)]
    parts = breakdown(make_model, X, 2)
    mm_now = matmul_epoch(shapes, X.shape[0], B, dtype)               # beside the breakdown
    total = sum(parts.values())
    mm_share = min(mm_now, parts["loss_and_grads"]) / total
    elementwise = max(parts["loss_and_grads"] - mm_now, 0.0)
    where = (f"matmuls {100 * mm_share:.0f}%, rest of the model's step (elementwise, "
             f"Python) {100 * elementwise / total:.0f}%, "
             f"Adam {100 * parts['optimizer'] / total:.0f}%, "
             f"guard's finiteness check {100 * parts['guard'] / total:.1f}%, "
             f"other {100 * parts['other'] / total:.0f}%")
    load_after = load_average()
    print(f"medians of {rounds}: 2 threads {med[0]:.2f} s, matmuls {med[1]:.2f} s, "
          f"1 thread {med[2]:.2f} s; ratio {med[3]:.2f} (2 threads), {med[4]:.2f} (1 thread)")
    print(f"where an epoch's time goes (2 threads, phases timed separately): {where}")
    print("README row:")
    per = "epoch" if X.shape[0] >= 60000 else f"{X.shape[0]:,} rows"
    print(f"| {label} (`{command}`) | {med[0]:.2f} s per {per} with 2 threads = **{med[3]:.2f}×** "
          f"its matmuls alone ({med[1]:.2f} s); 1 thread {med[2]:.2f} s = {med[4]:.2f}×; "
          f"{where}; median of {rounds}, load {load_before}→{load_after} |")
    return med
