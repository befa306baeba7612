"""Why Python threads for the elementwise work do not pay in training here: OpenBLAS's
threads keep the other core busy.

    python benchmarks/bench_openblas_spin.py [--reps 20]

1. The CPU time each thread of this process uses in the 0.5 s after one 256×256
   matrix product (from /proc/self/task/*/stat; Linux only). OpenBLAS's worker
   threads wait for the next product by spinning for a while before they sleep.
2. A compute-bound pass with no product around it, for contrast: ten square roots of
   4,194,304 float32 entries on 1 thread, then split in two halves on 2 Python threads
   (NumPy releases the GIL inside np.sqrt). npae had such a pool (npae.parallel, off by
   default) and removed it: see benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import os
import statistics
import threading
import time

import numpy as np

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
    ap.add_argument("--reps", type=int, default=20)
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
    a = rng.random(1 << 22, dtype=np.float32)
    out = np.empty_like(a)

    def roots(lo, hi):
        for _ in range(10):
            np.sqrt(a[lo:hi], out=out[lo:hi])

    def run(T):
        """roots over T contiguous blocks: T − 1 on new threads, the last on this one."""
        bounds = [a.size * i // T for i in range(T + 1)]
        workers = [threading.Thread(target=roots, args=(lo, hi))
                   for lo, hi in zip(bounds[:-2], bounds[1:-1])]
        for w in workers:
            w.start()
        roots(bounds[-2], bounds[-1])
        for w in workers:
            w.join()

    seconds = {}
    for T in (1, 2, 1, 2):
        times = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            run(T)
            times.append(time.perf_counter() - t0)
        seconds.setdefault(T, []).append(statistics.median(times))
    t1, t2 = min(seconds[1]), min(seconds[2])
    print(f"2. ten square roots of 4 M entries, no product around: 1 thread {1e3 * t1:.1f} ms, "
          f"2 threads {1e3 * t2:.1f} ms ({t1 / t2:.2f}× speed-up)")
    print(f"load average at the end {load_average()}")


if __name__ == "__main__":
    main()
