"""The minibatch training loop shared by every model.

One epoch visits the N training rows once in a random order (a permutation drawn
from the model's generator), in batches of ``batch_size``; the last batch may be
smaller. For each batch the loop

1. draws the step's randomness, ``noise = model.sample_noise(Xb, rng)``;
2. computes ``loss, values, grads = model.loss_and_grads(Xb, noise)``;
3. stops with :class:`TrainingDiverged` if the loss or a gradient is not finite —
   before any update, so the model keeps the last finite parameters;
4. lets the optimizer update ``model.params_`` in place.

The history records per epoch the training loss and each named term (averaged over
the epoch's batches, weighted by batch size), the same on validation data when given
(with noise from a generator re-seeded each epoch, so validation curves are
comparable across epochs), and the elapsed seconds.
"""
from __future__ import annotations

import sys
import time

import numpy as np


class TrainingDiverged(FloatingPointError):
    """The loss or a gradient became NaN or infinite; the parameters are the last finite ones."""


class Progress:
    """A one-line progress display on stderr, shown only once a run lasts over ``delay`` s."""

    def __init__(self, epochs, n_batches, enabled=True, delay=1.0, stream=None):
        self.epochs, self.n_batches = epochs, n_batches
        self.enabled, self.delay = enabled, delay
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        self.shown = False
        self.last = 0.0
        self.tty = getattr(self.stream, "isatty", lambda: False)()

    def update(self, epoch, batch, loss):
        if not self.enabled or not self.tty:
            return
        now = time.perf_counter() - self.start
        if now < self.delay or now - self.last < 0.2:
            return
        self.last, self.shown = now, True
        done = (batch + 1) / self.n_batches
        bar = "#" * int(20 * done) + "." * (20 - int(20 * done))
        self.stream.write(f"\repoch {epoch + 1}/{self.epochs} [{bar}] loss {loss:9.4f}  {now:6.1f}s")
        self.stream.flush()

    def end_epoch(self, epoch, row):
        if not self.enabled:
            return
        now = time.perf_counter() - self.start
        if not (self.shown or now >= self.delay):
            return
        self.shown = True
        val = f"  val_loss {row['val_loss']:9.4f}" if "val_loss" in row else ""
        self.stream.write(f"\repoch {epoch + 1}/{self.epochs}  loss {row['loss']:9.4f}{val}"
                          f"  {now:6.1f}s" + " " * 20 + "\n")
        self.stream.flush()


def batches(n, batch_size, order=None):
    """Yield index arrays of consecutive batches over ``order`` (default 0..n-1)."""
    order = np.arange(n) if order is None else order
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def evaluate(model, X, batch_size, rng=None):
    """Batch-size-weighted mean of the loss and each term over X (no parameter update)."""
    totals, n = {}, X.shape[0]
    for idx in batches(n, batch_size):
        Xb = X[idx]
        noise = model.sample_noise(Xb, rng) if rng is not None else None
        loss, values = model.loss(Xb, noise=noise)
        for k, v in {"loss": loss, **values}.items():
            totals[k] = totals.get(k, 0.0) + v * len(idx)
    return {k: v / n for k, v in totals.items()}


def train(model, X, X_val=None, *, epochs, batch_size, optimizer, rng, verbose=True,
          history=None, epoch_offset=0, val_seed=0):
    """Run ``epochs`` epochs of minibatch training; returns the history dict (appended to)."""
    n = X.shape[0]
    history = history if history is not None else {}
    n_batches = -(-n // batch_size)
    progress = Progress(epochs, n_batches, enabled=verbose)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        if hasattr(model, "on_epoch_start"):
            model.on_epoch_start(epoch_offset + epoch)
        totals = {}
        for b, idx in enumerate(batches(n, batch_size, rng.permutation(n))):
            Xb = X[idx]
            noise = model.sample_noise(Xb, rng)
            loss, values, grads = model.loss_and_grads(Xb, noise=noise)
            if not (np.isfinite(loss) and all(np.isfinite(g.sum()) for g in grads.values())):
                raise TrainingDiverged(
                    f"the loss or a gradient became NaN/inf at epoch {epoch_offset + epoch + 1}, "
                    f"batch {b + 1} of {n_batches}; the parameters are left at their last "
                    f"finite values. Try a smaller learning_rate.")
            optimizer.step(model.params_, grads)
            for k, v in {"loss": loss, **values}.items():
                totals[k] = totals.get(k, 0.0) + v * len(idx)
            progress.update(epoch, b, loss)
        row = {"epoch": epoch_offset + epoch + 1, **{k: v / n for k, v in totals.items()}}
        if X_val is not None:
            val_rng = np.random.default_rng(val_seed)
            row.update({f"val_{k}": v for k, v in evaluate(model, X_val, batch_size, val_rng).items()})
        row["seconds"] = time.perf_counter() - t0
        for k, v in row.items():
            history.setdefault(k, []).append(v)
        progress.end_epoch(epoch, row)
    return history
