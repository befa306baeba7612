"""Adam's step for the MNIST autoencoder, by variant, against the step's matmuls alone.

    NPAE_DATA=/work/shared/data python benchmarks/bench_adam.py [--steps 300]

The parameters are those of the 784-512-256-32 autoencoder of ``bench_epochs.py ae``
(1,083,696 entries, float32), the gradients its real ones on MNIST batches of 128.
Each step runs, in turn, the step's matrix products alone (forward and backward, as
in ``_timing.matmul_step``, which leaves OpenBLAS's threads as they are after a
real step) and then one Adam update of each variant on its own copy of the
parameters, so every variant sees the same gradients and the same machine state:

* ``whole``: ``Adam()``, each parameter in one piece (the default);
* ``blocks``: ``Adam(block=32768)``, the ten passes block by block (L2-sized);
* ``one array``: the ten passes of (O3)-(O5) once over a single flat array of all
  1,083,696 entries, no Python between them: the least time NumPy needs for Adam
  on one core.

The medians over steps are printed, as milliseconds and as fractions of the step's
matmuls; the fraction is what Adam adds to the ratio epoch / matmuls.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import numpy as np

import npae
from _timing import layer_shapes, load_average, matmul_buffers, matmul_step, mnist_train


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args(argv)
    load_before = load_average()
    X = mnist_train()[:128 * args.steps]
    model = npae.Autoencoder((512, 256, 32), activation="relu", output="bernoulli",
                             dtype="float32").initialize(784, random_state=0)
    shapes = layer_shapes(model)
    W, bufs, dW = matmul_buffers(shapes, [128], np.float32)
    variants = {"whole": None, "blocks": 32768}
    params = {name: copy.deepcopy(model.params_) for name in variants}
    optims = {name: npae.optim.Adam(block=block) for name, block in variants.items()}
    n = sum(p.size for p in model.params_.values())
    flat = [np.zeros(n, np.float32) for _ in range(5)]      # θ, g, m̃, s̃, scratch
    flat_adam = npae.optim.Adam()
    times = {name: [] for name in [*variants, "one array", "matmuls"]}
    for start in range(0, X.shape[0], 128):
        grads = model.loss_and_grads(X[start:start + 128])[2]
        flat[1][:] = np.concatenate([g.ravel() for g in grads.values()])
        for name in times:
            t0 = time.perf_counter()
            matmul_step(W, bufs[128], dW, shapes)
            t1 = time.perf_counter()
            if name in variants:
                optims[name].step(params[name], grads)
            elif name == "one array":
                flat_adam._update(*flat, 1e-3, 1e-8)
            times[name].append((t1 - t0, time.perf_counter() - t1))
    mm = statistics.median(t for name in times for t, _ in times[name][10:])
    print(f"Adam on {n:,} float32 parameters (784-512-256-32 autoencoder), {args.steps} steps, "
          f"medians after 10 warm-up steps; the step's matmuls alone {mm * 1e3:.2f} ms; "
          f"load average {load_before}")
    for name in times:
        if name == "matmuls":
            continue
        med = statistics.median(t for _, t in times[name][10:])
        print(f"  {name:18s} {med * 1e3:6.2f} ms = {med / mm:.2f}× the matmuls")
    print(f"load average at the end {load_average()}")


if __name__ == "__main__":
    main()
