"""Benchmark: the default ConvAutoencoder (the Keras blog's) against PyTorch CPU, epoch by epoch.

Setting: all 60,000 MNIST training digits, batch 128, Adam (learning rate 1e-3), float32;
the architecture of npae.ConvAutoencoder() (npae/models/conv.py): conv3×3(1→16) relu pool;
conv3×3(16→8) relu pool; conv3×3(8→8) relu pool ("same", 7 → 4); conv3×3(8→8) relu up;
conv3×3(8→8) relu up; conv3×3(8→16, valid) relu up; conv3×3(16→1) + BCE on logits, summed
over pixels and averaged over the batch. The PyTorch model is the same network
(MaxPool2d(ceil_mode=True) is the "same" pooling) started from npae's initial kernels.

This script runs two worker processes, one per framework, with the same number of BLAS /
OpenMP threads (``--threads``), and alternates whole epochs between them (npae, torch,
torch, npae, ...), so a change in the machine's load hits both; the load average is
recorded beside every epoch. Then it reports

1. seconds per epoch of each, and their ratio (target: npae within 1.5× of PyTorch);
2. test BCE (nats per image on the 10,000 test digits) after ``--epochs`` epochs of each
   (target: within 1.5 nats of PyTorch's);
3. npae's peak RSS (its worker never imports torch; target < 1 GB at batch 128);
4. the same GEMMs alone for one epoch — for every batch and every convolution the
   forward W₂P, the backward GPᵀ and W₂ᵀG (conv (C5), (C7), (C8); no input gradient for
   the first layer) at the model's shapes, into preallocated outputs — and a profile of
   ``--profile-steps`` training steps grouped by what the time is spent on (im2col, col2im,
   pooling, ...), which says where the rest goes.

PyTorch is a benchmark-only tool here: npae and its tests never import it.

Last run (main after the speed branch's merge, torch 2.13.0+cpu, all 60,000 digits, 3
epochs, the quiet 2-core machine, load average 0.2-1.8):

    --threads 1                                  --threads 2 --profile-steps 0
    epoch  framework  wall s  train BCE          epoch  framework  wall s  train BCE
      1    npae        37.5    144.12              1    npae        29.8    144.13
      1    torch       26.9    144.26              1    torch       31.9    144.23
      2    torch       37.6    106.35              2    torch       18.6    106.34
      2    npae        32.8    106.47              2    npae        23.9    106.53
      3    npae        35.4     97.07              3    npae        24.6     97.10
      3    torch       38.2     97.52              3    torch       18.4     97.51

    1 thread: npae / PyTorch per epoch pair 1.39, 0.87, 0.93; medians 35.4 s and 37.6 s
    (target 1.5: met). 2 threads: 0.93, 1.29, 1.33; medians 24.6 s and 18.6 s, 1.32
    (met). PyTorch's own epochs vary by 40% between epochs on this machine (26.9 to
    38.2 s with 1 thread), so a single pair says little; the medians are the measure.
    Test BCE after 3 epochs: npae 93.16, PyTorch 94.39 nats (difference −1.23: met);
    with 2 threads 93.12 and 94.31. npae peak RSS 319 MiB (met). The GEMMs alone: 14.1 s
    an epoch (1 thread), so an npae epoch is 2.5× its GEMMs. A profiled step (91 ms
    under the profiler, 1 thread): GEMMs 25 ms, im2col copies 18 ms, max pooling 9 ms,
    layout copies 7 ms, ReLU 6.5 ms, col2im 6 ms, upsampling 5 ms, padding and buffers
    2 ms, BCE and bias sums 2.5 ms, the rest 10 ms.

Before the speed branch (main at 6bf7f89, the same script, 30,000 digits, 2 epochs, 1
thread) npae / PyTorch was 2.13 and 2.09 and a profiled step 119 ms, a third of it the
output layer conv3×3(16→1): its 144 × 100,352 patch matrix and that matrix's col2im.
What changed: the two convolutions to fewer channels (16 → 8, and the output layer)
run as transposed convolutions of the flipped kernel (conv (C11); patch matrices of
n_out·k² rows, see npae/models/conv.py's _flipped), the 8 → 8 input gradients by the
full convolution, max pooling's backward allocates less, upsampling is k² strided
copies. The GEMM line times the plain route's shapes (W₂P, GPᵀ, W₂ᵀG per
convolution); the narrow layers now multiply the same numbers in other shapes. About a
fifth of a step is page faults (glibc returns the step's ~40 MB to the kernel and
faults it in again each step: user 48 ms + sys 15 ms a step in a separate measurement).

The torch worker reports "ready" before the first epoch: its import and set-up used to
run during npae's first timed epoch (on 12,000 digits that added about 4 s of wall time
to npae's epoch 1).

Run from the repository root (MNIST found through NPAE_DATA):

    NPAE_DATA=/work/shared/data python benchmarks/bench_conv.py --threads 1
    python benchmarks/bench_conv.py --epochs 1 --n-train 6000        # quicker
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def _mnist(split):
    sys.path.insert(0, str(ROOT))
    import npae
    folder = npae.datasets.find_dataset("mnist") or npae.datasets.find_dataset(
        "mnist", data_dir=ROOT.parent / "shared" / "data")
    if folder is None:
        raise SystemExit("MNIST not found: set NPAE_DATA=/path/to/data")
    return npae.datasets.load_mnist(split, data_dir=folder)[0]


# -- the npae worker ----------------------------------------------------------------------------
def npae_worker(conn, n_train, batch_size):
    import resource
    sys.path.insert(0, str(ROOT))
    import npae
    from npae.training import train
    X = _mnist("train")[:n_train]
    X_test = _mnist("test")
    model = npae.ConvAutoencoder(random_state=0, epochs=0, batch_size=batch_size,
                                 verbose=False).fit(X)                # parameters, Adam, rng
    conn.send({k: v.copy() for k, v in model.params_.items()})
    epoch = 0
    while True:
        cmd = conn.recv()
        if cmd == "epoch":
            load, t0, c0 = _loadavg(), time.perf_counter(), time.process_time()
            train(model, X, epochs=1, batch_size=batch_size, optimizer=model.optimizer_,
                  rng=model._rng_, verbose=False, history=model.history_, epoch_offset=epoch)
            epoch += 1
            conn.send(dict(seconds=time.perf_counter() - t0, cpu=time.process_time() - c0,
                           load_before=load, load_after=_loadavg(),
                           train_loss=model.history_["loss"][-1]))
        elif cmd == "test":
            conn.send(-model.score(X_test))
        elif cmd == "rss":
            conn.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)   # MiB
        elif cmd == "gemm":
            conn.send(gemm_epoch(model, n_train, batch_size))
        elif isinstance(cmd, tuple) and cmd[0] == "profile":
            conn.send(profile_steps(model, X, batch_size, cmd[1]))
        elif cmd == "stop":
            return


def _conv_gemm_shapes(model, B):
    """(F, CK, N, needs_dX) of the three GEMMs of every convolution for a batch of B."""
    enc, dec = model._stages(model.image_shape_)
    X = np.zeros((B,) + model.image_shape_, dtype=np.float32)
    caches = model._run(model.params_, enc, X)
    caches += model._run(model.params_, dec, caches[-1].out)
    shapes = []
    for i, (st, c) in enumerate(zip(enc + dec, caches)):
        k2 = model.kernel_size ** 2
        if st.transposed:       # convᵀ: its forward is conv2d's (C8), its backward (C5), (C7)
            shapes.append((st.n_in, st.n_out * k2, int(np.prod(c.inp.shape[2:])) * B, i > 0))
        else:
            shapes.append((st.n_out, st.n_in * k2, int(np.prod(c.pre.shape[2:])) * B, i > 0))
    return shapes


def gemm_epoch(model, n, batch_size):
    """Seconds of one epoch's GEMMs alone: W₂P, GPᵀ and W₂ᵀG per convolution per batch."""
    rng = np.random.default_rng(0)
    sizes = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
    plans = {}
    for B in set(sizes):
        plan = []
        for F, CK, N, needs_dX in _conv_gemm_shapes(model, B):
            W2 = rng.standard_normal((F, CK)).astype(np.float32)
            P = rng.standard_normal((CK, N)).astype(np.float32)
            G = rng.standard_normal((F, N)).astype(np.float32)
            plan.append((W2, P, G, np.empty((F, N), np.float32), np.empty((F, CK), np.float32),
                         np.empty((CK, N), np.float32) if needs_dX else None))
        plans[B] = plan
    t0 = time.perf_counter()
    for B in sizes:
        for W2, P, G, A, dW, dP in plans[B]:
            np.matmul(W2, P, out=A)                                   # (C5)
            np.matmul(G, P.T, out=dW)                                 # (C7)
            if dP is not None:
                if W2.shape[0] > 1:
                    np.matmul(W2.T, G, out=dP)                        # (C8)
                else:
                    np.multiply(W2.T, G, out=dP)                      # (C8), as npae does
    return time.perf_counter() - t0


GROUPS = [  # (label, functions whose own time counts) — matched on the function's name
    ("GEMMs (conv2d_forward, conv2d_weight_grad, conv2d_input_grad: the matmul lines)",
     ("conv2d_forward", "conv2d_weight_grad", "conv2d_input_grad")),
    ("im2col copies (reshape of the window view)", ("reshape",)),
    ("col2im strided adds", ("_col2im",)),
    ("NCHW ↔ column layout copies", ("ascontiguousarray", "_columns", "_images")),
    ("max pooling forward/backward", ("maxpool2d_forward", "maxpool2d_backward",
                                      "_pool_input")),
    ("upsampling forward/backward", ("upsample2d_forward", "upsample2d_backward")),
    ("zero padding and buffers", ("_pad", "full", "zeros")),
    ("activations (ReLU)", ("positive_part", "backward", "forward", "by_rows", "elementwise")),
    ("loss (BCE)", ("_bce_terms", "_bce_grad", "_exp_neg_abs", "value_and_grad")),
    ("reductions (bias sums)", ("reduce", "sum", "_sum")),
    ("Adam", ("step", "_adam", "update")),
]


def profile_steps(model, X, batch_size, n_steps):
    """Own time per function over training steps (loss_and_grads + Adam), grouped."""
    import cProfile
    import pstats
    rng = np.random.default_rng(1)
    batches = [X[rng.choice(len(X), batch_size, replace=False)] for _ in range(n_steps)]

    def run():
        for Xb in batches:
            _, _, grads = model.loss_and_grads(Xb)
            model.optimizer_.step(model.params_, grads)

    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.runcall(run)
    total = time.perf_counter() - t0
    stats = pstats.Stats(prof).stats
    own = {}
    for (filename, line, name), (cc, nc, tt, ct, callers) in stats.items():
        key = name.strip("<>").split(" of ")[0].replace("method '", "").replace("'", "")
        key = key.replace("built-in method numpy.", "").replace("built-in method ", "")
        own[key] = own.get(key, 0.0) + tt
    rows, used = [], set()
    for label, names in GROUPS:
        t = sum(v for k, v in own.items() if k in names and k not in used)
        used.update(k for k in own if k in names)
        rows.append((label, t / n_steps))
    rows.append(("everything else (Python, checks, slicing)",
                 (sum(own.values()) - sum(t for _, t in rows) * n_steps) / n_steps))
    return dict(total_per_step=total / n_steps, rows=rows, n_steps=n_steps)


# -- the PyTorch worker ---------------------------------------------------------------------------
def torch_worker(conn, n_train, batch_size, threads, init):
    import torch
    from torch import nn
    torch.set_num_threads(threads)
    X = torch.from_numpy(_mnist("train")[:n_train].reshape(-1, 1, 28, 28))
    X_test = torch.from_numpy(_mnist("test").reshape(-1, 1, 28, 28))
    pool = dict(kernel_size=2, ceil_mode=True)            # "same" pooling: 7 → 4
    net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(**pool),
        nn.Conv2d(16, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(**pool),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(**pool),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=2),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=2),
        nn.Conv2d(8, 16, 3, padding=0), nn.ReLU(), nn.Upsample(scale_factor=2),
        nn.Conv2d(16, 1, 3, padding=1))
    convs = [m for m in net if isinstance(m, nn.Conv2d)]
    names = [f"enc.{i}" for i in range(3)] + [f"dec.{i}" for i in range(4)]
    with torch.no_grad():                                 # npae's initial kernels
        for conv, name in zip(convs, names):
            conv.weight.copy_(torch.from_numpy(init[f"{name}.W"]))
            conv.bias.copy_(torch.from_numpy(init[f"{name}.b"]))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    bce = nn.BCEWithLogitsLoss(reduction="sum")
    rng = np.random.default_rng(0)
    conn.send("ready")                                    # set up: the timed epochs may start
    while True:
        cmd = conn.recv()
        if cmd == "epoch":
            load, t0, c0 = _loadavg(), time.perf_counter(), time.process_time()
            order = torch.from_numpy(rng.permutation(len(X)))
            total = 0.0
            for i in range(0, len(X), batch_size):
                Xb = X[order[i:i + batch_size]]
                loss = bce(net(Xb), Xb) / len(Xb)        # summed over pixels, mean over batch
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(Xb)
            conn.send(dict(seconds=time.perf_counter() - t0, cpu=time.process_time() - c0,
                           load_before=load, load_after=_loadavg(), train_loss=total / len(X)))
        elif cmd == "test":
            with torch.no_grad():
                s = sum(bce(net(X_test[i:i + 1000]), X_test[i:i + 1000]).item()
                        for i in range(0, len(X_test), 1000))
            conn.send(s / len(X_test))
        elif cmd == "stop":
            return


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS/OpenMP threads of both frameworks (default 1)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--n-train", type=int, default=60000)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--profile-steps", type=int, default=20,
                    help="training steps to profile (0: no profile)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    for name in ("epochs", "n_train", "batch_size"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.profile_steps < 0:
        ap.error("--profile-steps must be at least 0")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)              # inherited by both workers
    ctx = mp.get_context("spawn")
    a, a_child = ctx.Pipe()
    b, b_child = ctx.Pipe()
    pn = ctx.Process(target=npae_worker, args=(a_child, args.n_train, args.batch_size))
    pn.start()
    init = a.recv()
    pt = ctx.Process(target=torch_worker, args=(b_child, args.n_train, args.batch_size,
                                                args.threads, init))
    pt.start()
    b.recv()            # "ready": torch's import and set-up must not overlap npae's first epoch
    print(f"threads {args.threads}, {args.n_train} training digits, batch {args.batch_size}, "
          f"load at start {_loadavg()}")
    print(f"{'epoch':>5} {'framework':>9} {'seconds':>8} {'cpu s':>7} {'train BCE':>9}  load before → after")
    results = {"npae": [], "torch": []}
    for e in range(args.epochs):
        order = [("npae", a), ("torch", b)] if e % 2 == 0 else [("torch", b), ("npae", a)]
        for name, conn in order:
            conn.send("epoch")
            r = conn.recv()
            results[name].append(r)
            print(f"{e + 1:>5} {name:>9} {r['seconds']:8.1f} {r['cpu']:7.1f} "
                  f"{r['train_loss']:9.2f}  {r['load_before']} → {r['load_after']}", flush=True)
    a.send("test")
    b.send("test")
    test = {"npae": a.recv(), "torch": b.recv()}
    b.send("stop")
    pt.join()
    a.send("rss")
    rss = a.recv()
    a.send("gemm")
    load = _loadavg()
    gemm = a.recv()
    prof = None
    if args.profile_steps:
        a.send(("profile", args.profile_steps))
        prof = a.recv()
    a.send("stop")
    pn.join()

    sec = {k: sorted(r["seconds"] for r in v) for k, v in results.items()}
    med = {k: v[len(v) // 2] for k, v in sec.items()}
    ratio = [n["seconds"] / t["seconds"] for n, t in zip(results["npae"], results["torch"])]
    print(f"\nseconds per epoch (median of {args.epochs}): npae {med['npae']:.1f}, "
          f"PyTorch {med['torch']:.1f}; npae / PyTorch per epoch pair: "
          + ", ".join(f"{r:.2f}" for r in ratio) + "  (target ≤ 1.5)")
    print(f"test BCE after {args.epochs} epochs: npae {test['npae']:.2f}, PyTorch "
          f"{test['torch']:.2f} nats; difference {test['npae'] - test['torch']:+.2f} "
          f"(target |·| ≤ 1.5)")
    print(f"npae peak RSS (its own process, batch {args.batch_size}, MNIST loaded): {rss:.0f} MiB "
          f"(target < 1024)")
    print(f"the same GEMMs alone, one epoch: {gemm:.1f} s (load {load}); an npae epoch is "
          f"{med['npae'] / gemm:.2f}× its GEMMs")
    if prof is not None:
        print(f"\nwhere a training step goes (own time per step, {prof['n_steps']} steps "
              f"profiled, {prof['total_per_step'] * 1e3:.0f} ms per step under the profiler):")
        for label, t in prof["rows"]:
            print(f"  {t * 1e3:8.1f} ms  {label}")
    if args.json:
        args.json.write_text(json.dumps(dict(args={k: str(v) for k, v in vars(args).items()},
                                             epochs=results, test_bce=test, rss_mib=rss,
                                             gemm_epoch_seconds=gemm, profile=prof), indent=1))


if __name__ == "__main__":
    main()
