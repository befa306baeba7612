"""The minibatch training loop shared by every model, and its divergence guard.

One epoch visits the N training rows once in a random order (a permutation drawn
from the model's generator), in batches of ``batch_size``; the last batch may be
smaller. For each batch the loop

1. draws the step's randomness, ``noise = model.sample_noise(Xb, rng)`` (and tells a
   model with an ``on_step_start`` hook the number of updates done so far, for
   per-update schedules such as the VAE's ``kl_warmup_steps``);
2. computes ``loss, values, grads = model.loss_and_grads(Xb, noise)`` (with
   ``observed=M[idx]``, the batch's rows of the mask, when training with missing
   values: npae.missing);
3. lets the optimizer update ``model.params_`` in place;
4. checks the result (below).

The guard. A step is *bad* when its loss is NaN/inf, when the loss explodes
(exceeds ``best + EXPLOSION · max(|best|, 1)``, ``best`` the lowest batch loss of this
run; a loss of 10⁴ times its best is a divergence, not noise), when the model raises
:class:`TrainingDiverged` itself, or when an update leaves any parameter NaN/inf.
The loss of step t is computed at the parameters θ_{t−1} left by update t − 1, so a
bad loss condemns θ_{t−1} and the last good parameters are θ_{t−2}; a non-finite θ_t
condemns θ_t and the last good ones are θ_{t−1}. Training then stops with
:class:`TrainingDiverged` and the model is put back at those last good parameters
*and* the optimizer state that goes with them (``model.optimizer_``), a consistent
model that transforms, scores and saves.

Restoring without copying every step: at the start of each epoch the loop keeps one
copy of the parameters, the optimizer's state and the generator's state (one copy per
epoch, the previous epoch's kept too, since θ_{t−2} may lie in it). On a bad step it
restores the copy and replays the good steps (same batches, same noise: training is
deterministic given the generator). The per-step cost is one ``np.isfinite(p).all()``
per parameter array: 0.1-0.2 ms for the 1.1M parameters of the 784-512-256-32 MNIST
autoencoder, about 1% of its 10 ms step (batch 128, float32) on an idle core, where a
copy of the parameters and Adam's moments at every step took 0.8-2.3 ms
(``python benchmarks/bench_guard.py``; timings on a shared machine vary). A sum of the
entries would not do: a float32 sum of finite values can overflow. The optimizer's
moments are checked once per epoch (an overflow to inf there freezes an Adam update
without making a parameter non-finite).

The history records per epoch the training loss and each named term (averaged over
the epoch's batches, weighted by batch size), the same on validation data when given
(with noise from a generator re-seeded each epoch, so validation curves are
comparable across epochs), whatever an ``on_epoch_end`` callback adds (e.g. validation
NDCG, npae.recsys), and the elapsed seconds. An epoch that diverges gets no row.

X may be a dense array or a :class:`npae.sparse.CSRRows`: each minibatch is then
densified on its own (``take_rows``), never the whole matrix.
"""
from __future__ import annotations

import copy
import sys
import time

import numpy as np

from .sparse import take_rows

#: a batch loss above best + EXPLOSION · max(|best|, 1) is a divergence (module docstring)
EXPLOSION = 1e4


class TrainingDiverged(FloatingPointError):
    """The loss or a parameter became NaN/inf (or the loss exploded); the model holds the
    last good parameters and optimizer state."""


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
        Xb = take_rows(X, idx)
        noise = model.sample_noise(Xb, rng) if rng is not None else None
        loss, values = model.loss(Xb, noise=noise)
        for k, v in {"loss": loss, **values}.items():
            totals[k] = totals.get(k, 0.0) + v * len(idx)
    return {k: v / n for k, v in totals.items()}


def _all_finite(arrays):
    """True when every entry of every array is finite (no float sum: it can overflow)."""
    return all(np.isfinite(a).all() for a in arrays)


def _optimizer_arrays(optimizer):
    """The optimizer's state arrays (its public dicts of arrays; scratch buffers start with _)."""
    for name, value in vars(optimizer).items():
        if isinstance(value, dict) and not name.startswith("_"):
            yield from (v for v in value.values() if isinstance(v, np.ndarray))


class _Snapshot:
    """Parameters, optimizer state and generator state at the start of an epoch."""

    def __init__(self, model, optimizer, rng, epoch):
        self.params = {k: p.copy() for k, p in model.params_.items()}
        self.optimizer = copy.deepcopy(vars(optimizer))
        self.rng_state = copy.deepcopy(rng.bit_generator.state)
        self.epoch = epoch

    def restore(self, model, optimizer, rng):
        for k, p in model.params_.items():
            np.copyto(p, self.params[k])            # in place: the optimizer's views stay valid
        vars(optimizer).clear()
        vars(optimizer).update(copy.deepcopy(self.optimizer))
        rng.bit_generator.state = copy.deepcopy(self.rng_state)
        if hasattr(model, "on_epoch_start"):
            model.on_epoch_start(self.epoch)


def _observed_rows(observed, idx):
    """The keyword arguments that pass a batch's rows of the mask (none without a mask)."""
    return {} if observed is None else {"observed": observed[idx]}


def _replay(model, X, batch_size, optimizer, rng, snapshot, n_steps, observed=None):
    """Restore ``snapshot`` and redo its epoch's first ``n_steps`` updates (all were good)."""
    snapshot.restore(model, optimizer, rng)
    order = rng.permutation(X.shape[0])
    n_batches = -(-X.shape[0] // batch_size)
    for step, idx in enumerate(batches(X.shape[0], batch_size, order)):
        if step == n_steps:
            break
        Xb = take_rows(X, idx)
        if hasattr(model, "on_step_start"):
            model.on_step_start(snapshot.epoch * n_batches + step)
        _, _, grads = model.loss_and_grads(Xb, noise=model.sample_noise(Xb, rng),
                                           **_observed_rows(observed, idx))
        optimizer.step(model.params_, grads)
    if not _all_finite(model.params_.values()):     # replay not bit-identical: be safe
        snapshot.restore(model, optimizer, rng)
        return 0
    return n_steps


def _bad_loss(loss, best):
    """Why ``loss`` is bad (a phrase), or None."""
    if not np.isfinite(loss):
        return f"the loss became {loss}"
    if best is not None and loss > best + EXPLOSION * max(abs(best), 1.0):
        return f"the loss exploded to {loss:.3g} (lowest batch loss so far {best:.3g})"
    return None


def train(model, X, X_val=None, *, epochs, batch_size, optimizer, rng, verbose=True,
          history=None, epoch_offset=0, val_seed=0, on_epoch_end=None, observed=None):
    """Run ``epochs`` epochs of minibatch training; returns the history dict (appended to).

    ``on_epoch_end(model)``, if given, returns a dict of numbers added to each epoch's row.
    ``observed`` (a boolean array of X's shape, or None) is passed on, by batch rows,
    to ``model.loss_and_grads``: training on the observed entries only.
    """
    n = X.shape[0]
    history = history if history is not None else {}
    n_batches = -(-n // batch_size)
    progress = Progress(epochs, n_batches, enabled=verbose)
    t0 = time.perf_counter()
    best, previous = None, None                     # lowest batch loss; last epoch's snapshot
    for epoch in range(epochs):
        if hasattr(model, "on_epoch_start"):
            model.on_epoch_start(epoch_offset + epoch)
        snapshot = _Snapshot(model, optimizer, rng, epoch_offset + epoch)
        totals = {}
        for b, idx in enumerate(batches(n, batch_size, rng.permutation(n))):
            Xb = take_rows(X, idx)
            noise = model.sample_noise(Xb, rng)
            if hasattr(model, "on_step_start"):     # updates done so far, over the whole fit
                model.on_step_start((epoch_offset + epoch) * n_batches + b)
            kind = TrainingDiverged
            try:
                loss, values, grads = model.loss_and_grads(Xb, noise=noise,
                                                           **_observed_rows(observed, idx))
                problem = _bad_loss(loss, best)
            except TrainingDiverged as exc:         # e.g. the VAE's log-variance overflow
                problem, kind = str(exc).rstrip("."), type(exc)
            if problem is not None:                 # θ_{t−1} is bad: back to θ_{t−2}
                _diverged(model, X, batch_size, optimizer, rng, problem, epoch_offset + epoch,
                          b, n_batches, snapshot, previous, b - 1, kind, observed)
            optimizer.step(model.params_, grads)
            if not _all_finite(model.params_.values()):   # θ_t is bad: back to θ_{t−1}
                _diverged(model, X, batch_size, optimizer, rng,
                          "an update made a parameter NaN/inf", epoch_offset + epoch, b,
                          n_batches, snapshot, previous, b, observed=observed)
            best = loss if best is None else min(best, loss)
            for k, v in {"loss": loss, **values}.items():
                totals[k] = totals.get(k, 0.0) + v * len(idx)
            progress.update(epoch, b, loss)
        if not _all_finite(_optimizer_arrays(optimizer)):
            _diverged(model, X, batch_size, optimizer, rng,
                      "the optimizer's moments overflowed to NaN/inf", epoch_offset + epoch,
                      n_batches - 1, n_batches, snapshot, previous, 0, observed=observed)
        row = {"epoch": epoch_offset + epoch + 1, **{k: v / n for k, v in totals.items()}}
        if X_val is not None:
            val_rng = np.random.default_rng(val_seed)
            val = evaluate(model, X_val, batch_size, val_rng)
            row.update({f"val_{k}": v for k, v in val.items()})
        if on_epoch_end is not None:
            row.update(on_epoch_end(model))
        row["seconds"] = time.perf_counter() - t0
        for k, v in row.items():
            history.setdefault(k, []).append(v)
        progress.end_epoch(epoch, row)
        previous = snapshot
    return history


def _diverged(model, X, batch_size, optimizer, rng, problem, epoch, batch, n_batches,
              snapshot, previous, n_good, kind=TrainingDiverged, observed=None):
    """Put the model back at its last good state (``n_good`` updates into this epoch) and raise."""
    if n_good < 0 and previous is not None:         # θ_{t−2} is in the previous epoch
        snapshot, n_good = previous, n_batches - 1
    n_good = _replay(model, X, batch_size, optimizer, rng, snapshot, max(n_good, 0), observed)
    if n_good == 0 and previous is None and snapshot.epoch == epoch:
        where = "the parameters it started from (no update was kept)"
    else:
        where = (f"its last good parameters, those after {n_good} update(s) of epoch "
                 f"{snapshot.epoch + 1}")
    raise kind(
        f"training diverged at epoch {epoch + 1}, batch {batch + 1} of {n_batches}: "
        f"{problem}. The model was restored to {where}, with the matching optimizer state. "
        f"Try a smaller learning_rate (or check the scale of X).")
