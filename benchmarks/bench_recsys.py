"""Benchmark: npae's Mult-VAE against a PyTorch Mult-VAE of the same architecture.

Reference: Liang et al. (WWW 2018) and their code (github.com/dawenl/vae_cf), which
densifies each minibatch of the CSR click matrix (``X[idx].toarray()``) and runs a dense
[I → 600 → 200 → 600 → I] tanh network with dropout 0.5 on the L2-normalized input, a
multinomial likelihood and a KL weight annealed per update to a cap of 0.2; Adam 1e-3,
batches of 500 users. The PyTorch model here is that network (torch.nn.Linear layers,
F.normalize, F.dropout, log_softmax), fed the same densified batches; PyTorch is used by
this script only, never by npae.

Measured, each implementation in its own subprocess (so peak RSS is its own):

1. ``ml100k``: seconds per epoch on MovieLens-100K's training users (the paper's
   protocol, npae.recsys), batch 500, the fastest (and the median) of ``--repeats`` epochs;
2. ``ml20m``: seconds per epoch on a synthetic CSR matrix shaped like MovieLens-20M
   (136,677 users × 20,108 items, 10 M clicks, item popularity ~ rank^(−0.8)), timed over
   ``--batches`` batches and scaled to the 274 batches of an epoch; peak RSS
   (ru_maxrss) of the process, CSR matrix included;
3. ``ndcg``: test NDCG@100 on ML-100K, mean over ``--seeds`` seeds (split and
   initialization), each model trained ``--epochs`` epochs with batch 100, the KL cap
   reached after a third of the updates, and the best validation epoch kept.

Run from the repository root (ML-100K through NPAE_DATA or ../shared/data):

    python benchmarks/bench_recsys.py                      # all three, 2 threads
    python benchmarks/bench_recsys.py --part ml20m --batches 10 --threads 2

Both libraries get ``--threads`` BLAS threads (OPENBLAS_NUM_THREADS / torch.set_num_threads).
On a shared machine absolute times move with the load (printed beside each timing); the
ratios of one run are the numbers to compare.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ML20M_SHAPE = (136_677, 20_108)
ML20M_CLICKS = 10_000_000


def load_average():
    try:
        return open("/proc/loadavg").read().split()[0]
    except OSError:
        return "?"


# --------------------------------------------------------------------------- data
def ml100k_split(seed):
    import npae
    from npae.datasets.movielens import find_movielens, load_movielens
    folder = find_movielens("ml-100k") or find_movielens("ml-100k",
                                                         data_dir=ROOT.parent / "shared" / "data")
    if folder is None:
        raise SystemExit("MovieLens-100K not found: set NPAE_DATA")
    r = load_movielens("ml-100k", data_dir=folder)
    users, items = npae.recsys.clicks_from_ratings(r.users, r.items, r.ratings)
    return npae.recsys.strong_generalization_split(users, items, n_heldout_users=100,
                                                   random_state=seed)


def to_scipy(rows):
    import scipy.sparse as sp
    return sp.csr_matrix((rows.data, rows.indices, rows.indptr), shape=rows.shape)


def synthetic_ml20m(seed=0):
    """A CSR click matrix of MovieLens-20M's shape: Zipf-like item popularity, about 73
    clicks per user (at least 5), 10 M distinct clicks."""
    import numpy as np
    import scipy.sparse as sp
    rng = np.random.default_rng(seed)
    U, I = ML20M_SHAPE
    p = 1.0 / np.arange(1, I + 1) ** 0.8
    p /= p.sum()
    per_user = np.maximum(5, rng.geometric(1 / 70, U))
    per_user = np.round(per_user * (ML20M_CLICKS * 1.10 / per_user.sum())).astype(np.int64)
    rows = np.repeat(np.arange(U), per_user)
    cols = rng.choice(I, size=rows.size, p=p)
    X = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), shape=(U, I))
    X.data[:] = 1.0                                  # duplicates summed: back to clicks
    return X


# --------------------------------------------------------------------------- models
def npae_model(epochs, batch, seed, warmup):
    import npae
    return npae.MultVAE(epochs=epochs, batch_size=batch, random_state=seed,
                        kl_warmup_steps=warmup, verbose=False)


class TorchMultVAE:
    """The authors' Mult-VAE in PyTorch: dense batches, same layers and schedule."""

    def __init__(self, n_items, seed, lr=1e-3, beta=0.2, warmup=40000):
        import torch
        torch.manual_seed(seed)
        nn = torch.nn
        self.torch = torch
        self.enc = nn.Linear(n_items, 600)
        self.heads = nn.Linear(600, 400)             # μ and log σ², 200 each
        self.dec1 = nn.Linear(200, 600)
        self.dec2 = nn.Linear(600, n_items)
        self.params = [p for m in (self.enc, self.heads, self.dec1, self.dec2)
                       for p in m.parameters()]
        self.opt = torch.optim.Adam(self.params, lr=lr)
        self.beta, self.warmup, self.step = beta, warmup, 0

    def forward(self, x, train):
        F = self.torch.nn.functional
        h = F.normalize(x, dim=1)
        h = F.dropout(h, p=0.5, training=train)
        h = self.torch.tanh(self.enc(h))
        mu, logvar = self.heads(h).chunk(2, dim=1)
        z = mu + self.torch.exp(0.5 * logvar) * self.torch.randn_like(mu) if train else mu
        return self.dec2(self.torch.tanh(self.dec1(z))), mu, logvar

    def train_batch(self, x_dense):
        torch = self.torch
        x = torch.from_numpy(x_dense)
        logits, mu, logvar = self.forward(x, True)
        nll = -(torch.log_softmax(logits, 1) * x).sum(1).mean()
        kl = (-0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(1)).mean()
        beta = self.beta * min(1.0, self.step / self.warmup)
        loss = nll + beta * kl
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.step += 1

    def epoch(self, X, batch, rng):
        order = rng.permutation(X.shape[0])
        for s in range(0, X.shape[0], batch):
            self.train_batch(X[order[s:s + batch]].toarray())   # the authors' densify

    def score(self, x_dense):
        with self.torch.no_grad():
            return self.forward(self.torch.from_numpy(x_dense), False)[0].numpy()


# --------------------------------------------------------------------------- parts
def epoch_seconds(impl, X, batch, repeats, seed=0):
    """(fastest, median) seconds of ``repeats`` single epochs after a warm-up epoch (on a
    shared machine the fastest is the least disturbed run). npae's epoch
    is ``npae.training.train`` for one epoch (what ``fit`` runs: the steps, the guard and
    its one snapshot per epoch), after ``fit(X)`` with ``epochs=0`` set up the model."""
    import numpy as np
    times = []
    if impl == "npae":
        from npae.sparse import as_rows
        from npae.training import train
        model = npae_model(0, batch, seed, 40000).fit(X)
        rows = as_rows(X, dtype="float32")
        for r in range(repeats + 1):
            t0 = time.perf_counter()
            train(model, rows, epochs=1, batch_size=batch, optimizer=model.optimizer_,
                  rng=model._rng_, verbose=False, epoch_offset=r)
            times.append(time.perf_counter() - t0)
    else:
        model, rng = TorchMultVAE(X.shape[1], seed), np.random.default_rng(seed)
        for r in range(repeats + 1):
            t0 = time.perf_counter()
            model.epoch(X, batch, rng)
            times.append(time.perf_counter() - t0)
    return float(np.min(times[1:])), float(np.median(times[1:]))


def part_ml100k(impl, args):
    split = ml100k_split(0)
    X = to_scipy(split.train)
    fastest, median = epoch_seconds(impl, X, 500, args.repeats)
    return {"seconds_per_epoch": fastest, "median_seconds_per_epoch": median}


def part_ml20m(impl, args):
    import resource
    X = synthetic_ml20m()
    n = args.batches * 500
    sub = X[:n]                                     # the first users: timed batches
    t = epoch_seconds(impl, sub, 500, 1)[0]
    per_epoch = t * X.shape[0] / n
    if impl == "npae":                              # the whole matrix as fit holds it
        import npae
        npae.sparse.as_rows(X, dtype="float32")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2   # GB (KiB → GB)
    return {"seconds_per_epoch": per_epoch, "timed_batches": args.batches, "nnz": int(X.nnz),
            "peak_rss_gb": rss}


def part_ndcg(impl, args):
    import numpy as np
    import npae
    out = []
    for seed in range(args.seeds):
        s = ml100k_split(seed)
        n_batches = -(-s.train.shape[0] // 100)
        warmup = args.epochs * n_batches // 3
        if impl == "npae":
            model = npae_model(args.epochs, 100, seed, warmup)
            model.fit(s.train, X_val=(s.val_foldin, s.val_heldout))
            rec = model.recommend(s.test_foldin, k=100)
        else:
            model = TorchMultVAE(s.train.shape[1], seed, warmup=warmup)
            X, rng = to_scipy(s.train), np.random.default_rng(seed)
            best, best_state = -1.0, None
            for _ in range(args.epochs):
                model.epoch(X, 100, rng)
                vf = s.val_foldin.toarray()
                rec = npae.recsys.top_k(np.where(vf > 0, -np.inf, model.score(vf)), 100)
                ndcg = np.mean(npae.recsys.ndcg_at_k(rec, s.val_heldout, 100))
                if ndcg > best:
                    best = ndcg
                    best_state = [p.detach().clone() for p in model.params]
            with model.torch.no_grad():
                for p, b in zip(model.params, best_state):
                    p.copy_(b)
            tf = s.test_foldin.toarray()
            rec = npae.recsys.top_k(np.where(tf > 0, -np.inf, model.score(tf)), 100)
        out.append(float(np.mean(npae.recsys.ndcg_at_k(rec, s.test_heldout, 100))))
    return {"test_ndcg@100": out}


PARTS = {"ml100k": part_ml100k, "ml20m": part_ml20m, "ndcg": part_ndcg}


def child(args):
    if args.impl == "torch":
        import torch
        torch.set_num_threads(args.threads)
    load0 = load_average()
    result = PARTS[args.part](args.impl, args)
    result.update(load_start=load0, load_end=load_average())
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=list(PARTS) + ["all"], default="all")
    parser.add_argument("--impl", choices=["npae", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=50)
    args = parser.parse_args()
    if args.impl:
        return child(args)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(args.threads),
           "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(ROOT)}
    parts = list(PARTS) if args.part == "all" else [args.part]
    for part in parts:
        res = {}
        for impl in ("npae", "torch"):
            cmd = [sys.executable, __file__, "--part", part, "--impl", impl,
                   "--threads", str(args.threads), "--repeats", str(args.repeats),
                   "--batches", str(args.batches), "--seeds", str(args.seeds),
                   "--epochs", str(args.epochs)]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"{impl} {part} failed:\n{done.stderr}")
            res[impl] = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{part:7s} {impl:6s} {json.dumps(res[impl])}", flush=True)
        if "seconds_per_epoch" in res["npae"]:
            ratio = res["npae"]["seconds_per_epoch"] / res["torch"]["seconds_per_epoch"]
            print(f"{part:7s} npae / torch seconds per epoch: {ratio:.2f}", flush=True)
        if "test_ndcg@100" in res["npae"]:
            import statistics
            a, b = (statistics.mean(res[i]["test_ndcg@100"]) for i in ("npae", "torch"))
            print(f"ndcg    test NDCG@100 mean: npae {a:.4f}, torch {b:.4f}, "
                  f"difference {a - b:+.4f}", flush=True)


if __name__ == "__main__":
    main()
