"""An optional thread pool for the elementwise work (off by default: see below).

NumPy's matrix products run on every core (OpenBLAS's threads), but its elementwise
functions (``np.exp``, ``+=``, ``np.sqrt`` ...) run on the calling thread only. They do
release the GIL while they loop over the data, so T Python threads, each running the
same elementwise code on its own block of rows, compute at the same time. This module
splits such a pass into T contiguous blocks, runs T − 1 of them on persistent worker
threads and the last on the calling thread, and waits for all of them.

Bit-identical results. Every element is computed by the same NumPy calls whichever
thread computes it and however the rows are split: a block is a slice of rows (or of
a flat array), it keeps the array's memory layout, and an elementwise function's value
at an element does not depend on the other elements. Reductions (a sum over the batch,
a loss value) are *not* split: summing in two halves would round differently, so they
run on the whole array, on one thread, after the elementwise work.
``tests/test_parallel.py`` checks serial = threaded = repeated, bit for bit, for every
threaded pass and for whole seeded fits.

The setting. ``T`` is 1 (serial) unless the environment variable ``NPAE_NUM_THREADS``
is set (looked up as each pass starts) or :func:`set_num_threads` chose otherwise
(``set_num_threads(None)`` goes back to the default). A pass whose cost is below
``MIN_SIZE`` = 131,072 element-operations runs serially: handing a block to a thread
and waiting for it costs some 55-65 µs here (a round trip through an idle worker),
about what one core needs for a simple pass over 200,000 floats. A call made while
the pool is busy (from a worker, or from a second user thread) runs serially too, so
the pool never deadlocks. Threads are started on first use and live as daemons; a
forked child starts its own.

Why serial by default. On this project's 2-core machine the pool made training
slower, not faster. OpenBLAS's worker threads wait for the next matrix product by
spinning for some 0.1 s before they sleep (``python benchmarks/bench_openblas_spin.py``:
0.10-0.11 s of CPU in the 0.5 s after a single product), and training runs a product
every few hundred microseconds, so the second core is never free for a Python thread.
With 2 threads instead of 1, the training steps of the four benchmark models were
3-7% slower (``benchmarks/bench_epochs.py``: 1.87× against 1.75× their matmuls for the
MNIST autoencoder), Adam's update took 2.25 ms against 2.10 ms (``bench_adam.py``), and
the importance-sampled likelihood of 10,000 test images 87.5 s against 75.2 s
(``bench_likelihood.py``). A pass with no product around it does gain: ten square
roots of 4 M float32 entries took 7.8 ms with 2 threads against 15.1 ms with 1
(``bench_openblas_spin.py``).
Set ``NPAE_NUM_THREADS`` (e.g. to the core count) where that is the work, or where
OpenBLAS's threads do not spin (``OPENBLAS_NUM_THREADS=1``, several processes).

The workers run each job in a copy of the caller's context (``contextvars``), so an
``np.errstate`` set by the caller applies in them too.
"""
from __future__ import annotations

import contextvars
import functools
import numbers
import os
import queue
import threading

import numpy as np

__all__ = ["ENV_VAR", "MIN_SIZE", "elementwise", "get_num_threads", "rowwise", "run_blocks",
           "set_num_threads", "split"]

ENV_VAR = "NPAE_NUM_THREADS"

#: cost (element-operations) below which a pass is not split; see the module docstring
MIN_SIZE = 1 << 17

_requested = None          # what set_num_threads chose; None: environment, else 1
_pool = None               # the live _Pool, or None
_state_lock = threading.Lock()


def _parse(value, name, text=False):
    """A thread count >= 1 from an int (or a decimal string if ``text``); errors name ``name``."""
    if text and isinstance(value, str) and value.strip().isdigit() and int(value) >= 1:
        return int(value)
    if (not text and isinstance(value, numbers.Integral) and not isinstance(value, bool)
            and value >= 1):
        return int(value)
    raise ValueError(f"{name} must be a positive integer number of threads, got {value!r}")


def get_num_threads():
    """The number of threads elementwise passes use (1: serial)."""
    if _requested is not None:
        return _requested
    env = os.environ.get(ENV_VAR)
    if env is not None and env.strip() != "":
        return _parse(env, f"the environment variable {ENV_VAR}", text=True)
    return 1                                      # serial: see "Why serial by default"


def set_num_threads(n):
    """Use ``n`` threads for npae's elementwise passes (1 turns threading off).

    ``None`` goes back to the default: ``NPAE_NUM_THREADS`` if set, else 1 (serial).
    Results are bit-identical for every ``n``. Returns the previous setting (an int, or
    None for the default), so ``old = set_num_threads(1); …; set_num_threads(old)`` restores.
    """
    global _requested
    previous = _requested
    _requested = None if n is None else _parse(n, "n")
    return previous


def split(n, parts, align=1):
    """Boundaries 0 = b_0 < b_1 < … < b_parts = n of ``parts`` near-equal contiguous blocks.

    Inner boundaries are multiples of ``align``; blocks that would be empty are dropped.
    """
    bounds = [0]
    for i in range(1, parts):
        b = (n * i // parts) // align * align
        if b > bounds[-1]:
            bounds.append(b)
    if n > bounds[-1]:
        bounds.append(n)
    return bounds


class _Pool:
    """T − 1 daemon threads, each with its own job queue, and one queue for results."""

    def __init__(self, n_workers):
        self.n_workers = n_workers
        self.lock = threading.Lock()              # held by the one caller using the pool
        self.jobs = [queue.SimpleQueue() for _ in range(n_workers)]
        self.done = queue.SimpleQueue()
        for q in self.jobs:
            threading.Thread(target=self._work, args=(q,), daemon=True,
                             name="npae-worker").start()

    def _work(self, q):
        while True:
            context, fn, args = q.get()
            try:
                context.run(fn, *args)
                self.done.put(None)
            except BaseException as exc:          # handed to the caller, re-raised there
                self.done.put(exc)

    def run(self, fn, arg_list):
        """fn(*args) for each args in ``arg_list``: all but the last on the workers."""
        for q, args in zip(self.jobs, arg_list[:-1]):
            q.put((contextvars.copy_context(), fn, args))       # one per job: see docstring
        error = None
        try:
            fn(*arg_list[-1])
        except BaseException as exc:
            error = exc
        pending = len(arg_list) - 1               # collect every worker's result, even
        while pending:                            # if Ctrl-C arrives meanwhile: a job left
            try:                                  # running would write into the next call
                result = self.done.get()
            except BaseException as exc:
                error = error or exc
                continue
            pending -= 1
            if error is None and result is not None:
                error = result
        if error is not None:
            raise error


def _get_pool(n_threads):
    global _pool
    with _state_lock:
        if _pool is None or _pool.n_workers < n_threads - 1:
            _pool = _Pool(n_threads - 1)          # (an older, smaller pool's threads idle)
        return _pool


def _forget_pool_in_child():
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def run_blocks(fn, n, cost, min_size=None, align=1):
    """Call ``fn(start, stop)`` over contiguous blocks covering ``range(n)``.

    ``cost`` is the number of elements the whole pass touches (e.g. ``a.size``); below
    ``min_size`` (default ``MIN_SIZE``) one call ``fn(0, n)`` does it all on the calling
    thread. ``fn`` must write each block's results only into that block (then the split
    changes no bit).
    """
    T = get_num_threads()
    if T == 1 or n < 2 or cost < (MIN_SIZE if min_size is None else min_size):
        fn(0, n)
        return
    bounds = split(n, T, align)
    pool = _get_pool(T)
    if len(bounds) < 3 or not pool.lock.acquire(blocking=False):
        fn(0, n)                                  # one block, or the pool is busy: serial
        return
    try:
        pool.run(fn, list(zip(bounds[:-1], bounds[1:])))
    finally:
        pool.lock.release()


def elementwise(kernel, *args, weight=1, min_size=None):
    """``kernel(*args)`` computed by blocks of rows on the pool; the same bits as serial.

    ``kernel(*args, out=None)`` must be elementwise (entry i of the result depends only
    on entry i of each array argument) and end in a NumPy call that writes into ``out``.
    The array arguments are split along their first axis, scalars are passed as they
    are. The split happens when every array is a floating-point ndarray of one shape
    and ``weight`` (the pass's cost in simple passes, e.g. 8 for a sigmoid) times the
    size reaches ``min_size``; otherwise ``kernel(*args)`` runs as it is.
    """
    first = args[0]
    min_size = MIN_SIZE if min_size is None else min_size
    if (get_num_threads() == 1 or not isinstance(first, np.ndarray) or first.ndim == 0
            or first.size * weight < min_size):
        return kernel(*args)
    arrays = [x for x in args if np.ndim(x) > 0]
    if not all(isinstance(x, np.ndarray) and x.shape == first.shape and x.dtype.kind == "f"
               for x in arrays):
        return kernel(*args)
    out = np.empty(first.shape, np.result_type(*args))
    if first.ndim > 2 and all(x.flags.c_contiguous for x in arrays):   # (n, K, D): n·K rows
        rows = (-1, first.shape[-1])
        args = tuple(x.reshape(rows) if np.ndim(x) > 0 else x for x in args)
        flat_out = out.reshape(rows)
    else:
        flat_out = out

    def block(lo, hi):
        kernel(*(x[lo:hi] if np.ndim(x) > 0 else x for x in args), out=flat_out[lo:hi])

    run_blocks(block, flat_out.shape[0], cost=first.size * weight, min_size=min_size)
    return out


def rowwise(weight=1):
    """Decorator: ``f = rowwise(w)(kernel)`` makes ``f(*args)`` = ``elementwise(kernel, *args)``.

    The kernel keeps its formula where the reader looks for it (an activation's
    forward or backward); ``weight`` is its cost in simple passes.
    """
    def decorate(kernel):
        @functools.wraps(kernel)
        def by_rows(*arrays):
            return elementwise(kernel, *arrays, weight=weight)
        return by_rows
    return decorate
