"""Shared timing helpers for the benchmarks: a model's epoch against its matmuls alone.

"Matmuls alone" are, for every batch of an epoch, the forward X W of each dense layer
and the backward Xᵀ dA and dA Wᵀ (the latter except for the input layer, whose input
gradient training does not need), at the model's shapes and dtype, into preallocated
outputs, with OpenBLAS's threads as the environment sets them. Everything else an
epoch does (activations, losses, penalties, bias sums, Adam, shuffling, batching, the
divergence guard) is what the ratio epoch / matmuls measures.

On a shared machine absolute times move with the load, by up to ±30% between whole
epochs here; ``alternating_epoch`` therefore takes each ratio over a chunk of 16 steps
against the same batches' matmuls timed right after it, and reports medians over
chunks, with the load average (``/proc/loadavg``) at the start and the end. Nothing
here depends on npae's internals beyond its public models, ``_layers`` and
``npae.optim``, so an older npae on ``PYTHONPATH`` can be timed the same way.
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


def matmul_buffers(shapes, batch_sizes, dtype, seed=0):
    """Random weights and, per batch size, inputs and upstream gradients at ``shapes``."""
    rng = np.random.default_rng(seed)
    W = [rng.standard_normal((a, b)).astype(dtype) for a, b, _ in shapes]
    bufs = {}
    for B in set(batch_sizes):
        bufs[B] = dict(
            X=[rng.standard_normal((B, a)).astype(dtype) for a, _, _ in shapes],
            dA=[rng.standard_normal((B, b)).astype(dtype) for _, b, _ in shapes],
            A=[np.empty((B, b), dtype) for _, b, _ in shapes],
            dX=[np.empty((B, a), dtype) for a, _, _ in shapes])
    return W, bufs, [np.empty_like(w) for w in W]


def matmul_step(W, buf, dW, shapes):
    """One batch's matmuls alone: X W per layer, then Xᵀ dA and (but the first) dA Wᵀ."""
    for i, w in enumerate(W):
        np.matmul(buf["X"][i], w, out=buf["A"][i])                 # forward X W
    for i, (w, (_, _, needs_dX)) in enumerate(zip(W, shapes)):
        np.matmul(buf["X"][i].T, buf["dA"][i], out=dW[i])           # dW = Xᵀ dA
        if needs_dX:
            np.matmul(buf["dA"][i], w.T, out=buf["dX"][i])          # dX = dA Wᵀ


def batch_sizes(n, batch_size):
    return [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])


def matmul_epoch(shapes, n, batch_size, dtype, seed=0):
    """Seconds for one epoch of only the forward and backward matmuls at ``shapes``."""
    sizes = batch_sizes(n, batch_size)
    W, bufs, dW = matmul_buffers(shapes, sizes, dtype, seed)
    t0 = time.perf_counter()
    for B in sizes:
        matmul_step(W, bufs[B], dW, shapes)
    return time.perf_counter() - t0


def fit_epoch(make_model, X):
    """Seconds of ``make_model().fit(X)`` for one epoch."""
    model = make_model()
    model.set_params(epochs=1, verbose=False)
    t0 = time.perf_counter()
    model.fit(X)
    return time.perf_counter() - t0


PHASES = ("loss_and_grads", "optimizer", "guard", "other")


def alternating_epoch(make_model, X, chunk=16, seed=0):
    """One epoch of one model's training steps, alternating with their matmuls by chunks.

    The epoch's batches (the training loop's shuffle, batches and noise) are taken
    ``chunk`` at a time, each chunk followed by ``chunk`` steps of the same batches'
    matmuls alone; each chunk's ratio steps / matmuls is taken against the matmuls next
    to it, so drift in the machine's speed (large on a shared host) cancels. A model
    step is ``loss_and_grads``, Adam's update and the guard's finiteness check, each
    timed; "other" is drawing the batch and its noise.

    Returns ([chunk ratio], {phase: seconds}, matmul seconds, steps).
    """
    model = make_model()
    model.initialize(X.shape[1], random_state=seed)
    opt = npae.optim.make_optimizer(model.optimizer, model.learning_rate)
    shapes, B = layer_shapes(model), model.batch_size
    dtype = model.params_[next(iter(model.params_))].dtype
    rng = np.random.default_rng(seed)
    order = rng.permutation(X.shape[0])
    W, bufs, dW = matmul_buffers(shapes, batch_sizes(X.shape[0], B), dtype, seed)
    starts = list(range(0, X.shape[0], B))
    ratios, parts, matmuls = [], dict.fromkeys(PHASES, 0.0), 0.0
    for first in range(0, len(starts), chunk):
        t_steps, sizes = 0.0, []
        for start in starts[first:first + chunk]:
            t_batch = time.perf_counter()
            Xb = X[order[start:start + B]]
            noise = model.sample_noise(Xb, rng)
            t0 = time.perf_counter()
            _, _, grads = model.loss_and_grads(Xb, noise)
            t1 = time.perf_counter()
            opt.step(model.params_, grads)
            t2 = time.perf_counter()
            all(np.isfinite(p).all() for p in model.params_.values())   # the guard's check
            t3 = time.perf_counter()
            for phase, t in zip(PHASES, (t1 - t0, t2 - t1, t3 - t2, t0 - t_batch)):
                parts[phase] += t
            t_steps += t3 - t_batch
            sizes.append(Xb.shape[0])
        t0 = time.perf_counter()
        for size in sizes:
            matmul_step(W, bufs[size], dW, shapes)
        t_mm = time.perf_counter() - t0
        matmuls += t_mm
        ratios.append(t_steps / t_mm)
    return ratios, parts, matmuls, len(starts)


def _fmt_where(parts, matmuls):
    """Where a step's time goes, as shares of the whole step."""
    total = sum(parts.values())
    mm = min(matmuls, parts["loss_and_grads"])
    return (f"matmuls {100 * mm / total:.0f}%, rest of the model's step (elementwise, "
            f"Python) {100 * (parts['loss_and_grads'] - mm) / total:.0f}%, "
            f"Adam {100 * parts['optimizer'] / total:.0f}%, "
            f"guard's finiteness check {100 * parts['guard'] / total:.1f}%, "
            f"other {100 * parts['other'] / total:.0f}%")


def time_epoch(make_model, X, label, command):
    """Prints the median of ``alternating_epoch``'s chunk ratios, a real ``fit`` epoch
    against a matmul epoch, and one README table row; returns the median ratio."""
    load_before = load_average()
    fit_epoch(make_model, X[:4 * make_model().batch_size])              # warm-up
    print(f"{label}: {X.shape[0]} rows (os.cpu_count() = {os.cpu_count()}); npae from "
          f"{os.path.dirname(npae.__file__)}; load average {load_before}")
    chunk_ratios, parts, matmuls, steps = alternating_epoch(make_model, X)
    ratio = statistics.median(chunk_ratios)
    where = _fmt_where(parts, matmuls)
    print(f"  median ratio steps / matmuls over {len(chunk_ratios)} chunks {ratio:.2f} "
          f"(chunks {min(chunk_ratios):.2f}-{max(chunk_ratios):.2f}); {where}")
    shapes = layer_shapes(make_model().initialize(X.shape[1]))
    model = make_model()
    dtype = np.dtype(getattr(model, "dtype", "float32"))
    t_mm = matmul_epoch(shapes, X.shape[0], model.batch_size, dtype)
    t_fit = fit_epoch(make_model, X)
    t_mm = (t_mm + matmul_epoch(shapes, X.shape[0], model.batch_size, dtype, seed=1)) / 2
    load_after = load_average()
    print(f"  fit, one epoch: {t_fit:.2f} s = {t_fit / t_mm:.2f}× an epoch of its matmuls "
          f"alone ({t_mm:.2f} s, the mean of one before and one after)")
    print("README row:")
    print(f"| {label} (`{command}`) | steps / their matmuls alone, median over chunks of "
          f"16 of {steps} steps: **{ratio:.2f}×**; {where}; `fit` {t_fit:.2f} s per epoch "
          f"= {t_fit / t_mm:.2f}× ({t_mm:.2f} s of matmuls); load {load_before}→{load_after} |")
    return ratio
