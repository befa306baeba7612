"""Why npae's thread pool does not pay here: OpenBLAS's threads keep the other core busy.

    python benchmarks/bench_openblas_spin.py [--reps 100]

1. The CPU time each thread of this process uses in the 0.5 s after one 256×256
   matrix product (from /proc/self/task/*/stat; Linux only). OpenBLAS's worker
   threads wait for the next product by spinning for a while before they sleep.
2. Adam's update of 1,083,696 float32 entries (the MNIST autoencoder's size, one
   flat parameter) with 1 and 2 npae threads, first with the cores idle (after a
   0.2 s pause), then right after a 128×784 by 784×512 product, as in training,
   where a product runs every few hundred microseconds. Medians over ``--reps``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import npae
from _timing import load_average


def thread_ticks():
    """{thread id: user + system CPU ticks} of this process's threads."""
    ticks = {}
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks[tid] = int(fields[11]) + int(fields[12])
    return ticks


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=100)
    args = ap.parse_args(argv)
    print(f"load average {load_average()}; os.cpu_count() = {os.cpu_count()}")
    A = np.random.default_rng(0).random((256, 256), dtype=np.float32)
    A @ A
    time.sleep(1.0)
    if os.path.isdir("/proc/self/task"):
        hz = os.sysconf("SC_CLK_TCK")
        before = thread_ticks()
        A @ A
        time.sleep(0.5)
        after = thread_ticks()
        used = {t: (after[t] - before.get(t, 0)) / hz for t in after}
        main_id = str(__import__("threading").main_thread().native_id)
        others = ", ".join(f"{s:.2f} s" for t, s in sorted(used.items()) if t != main_id)
        print(f"1. CPU used in the 0.5 s after one product: main thread "
              f"{used.get(main_id, 0):.2f} s; the other threads {others}")
    rng = np.random.default_rng(1)
    n = 1_083_696
    theta, g = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    X, W = rng.random((128, 784), dtype=np.float32), rng.random((784, 512), dtype=np.float32)
    results = {}
    previous = npae.get_num_threads()
    try:
        for when in ("idle", "after a product"):
            for T in (1, 2):
                npae.set_num_threads(T)
                opt = npae.optim.Adam()
                times = []
                for _ in range(args.reps):
                    if when == "idle":
                        time.sleep(0.2 if len(times) < 5 else 0.02)
                    else:
                        X @ W
                    t0 = time.perf_counter()
                    opt.step({"p": theta}, {"p": g})
                    times.append(time.perf_counter() - t0)
                results[when, T] = statistics.median(times[3:])
    finally:
        npae.set_num_threads(previous)
    for when in ("idle", "after a product"):
        t1, t2 = results[when, 1], results[when, 2]
        print(f"2. Adam, {when}: 1 thread {1e3 * t1:.2f} ms, 2 threads {1e3 * t2:.2f} ms "
              f"({t1 / t2:.2f}× speed-up)")
    print(f"load average at the end {load_average()}")


if __name__ == "__main__":
    main()
