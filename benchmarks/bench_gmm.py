"""GaussianMixture seconds per EM iteration: diagonal (matrix products) vs full, and the
diagonal iteration in its direct per-component form (the implementation before
(L2d)/(M4d)), alternated in one run.

    NPAE_DATA=/work/shared/data python benchmarks/bench_gmm.py [--rounds 5] [--K 10]

Data: the 60,000 MNIST training images projected on their first 32 principal components
(npae.pca), so N = 60,000, D = 32 (synthetic Gaussian blobs of that size if MNIST is not
found). One EM iteration is the M step (M1)-(M4), the factorization, the E step (E1)
and exp(log γ): what ``fit`` does per iteration. The iterations start from the
responsibilities after 3 EM iterations of a fit with the same covariance type.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import npae
from _timing import load_average
from npae.gmm import (_LOG_2PI, GaussianMixture, _cholesky, _diag_quadratic_direct,
                      _estimate_parameters)
from npae.layers import logsumexp


def data(n_components=32):
    try:
        from _timing import mnist_train
        X = mnist_train()
        W, mean, _ = npae.pca(X, n_components)
        return (X - mean) @ W.T, "MNIST train on 32 principal components"
    except SystemExit:
        rng = np.random.default_rng(0)
        z = rng.integers(10, size=60000)
        centres = rng.normal(size=(10, n_components)) * 3
        return centres[z] + rng.normal(size=(60000, n_components)), "synthetic blobs"


def iteration(gm, X, resp):
    """One EM iteration as fit runs it; returns the new responsibilities."""
    weights, means, covs = _estimate_parameters(X, resp, gm.reg_covar, gm.covariance_type)
    chol = _cholesky(covs, gm.covariance_type)
    log_resp, _ = gm._e_step(X, weights, means, chol)
    return np.exp(log_resp)


def direct_diag_iteration(X, resp, reg_covar):
    """The same diagonal iteration with one pass over (N, D) per component (the old form)."""
    N, D = X.shape
    Nk = resp.sum(axis=0) + 10 * np.finfo(np.float64).eps
    weights, means = Nk / N, (resp.T @ X) / Nk[:, None]
    covs = np.stack([resp[:, k] @ (X - means[k]) ** 2 / Nk[k] + reg_covar
                     for k in range(len(Nk))])
    std = np.sqrt(covs)
    log_joint = np.log(weights) + np.stack(
        [-0.5 * D * _LOG_2PI - np.sum(np.log(std[k]))
         - 0.5 * _diag_quadratic_direct(X, means[k], std[k]) for k in range(len(Nk))], axis=1)
    return np.exp(log_joint - logsumexp(log_joint, axis=1)[:, None])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--K", type=int, default=10)
    args = ap.parse_args(argv)
    X, source = data()
    load_before = load_average()
    start = {}
    for ct in ("diag", "full"):
        gm = GaussianMixture(args.K, ct, max_iter=3, tol=0.0, random_state=0).fit(X)
        start[ct] = (gm, gm.predict_proba(X))
    gm_d, resp_d = start["diag"]
    np.testing.assert_allclose(iteration(gm_d, X, resp_d),
                               direct_diag_iteration(X, resp_d, gm_d.reg_covar), atol=1e-9)
    variants = {
        "diag (matrix products)": lambda: iteration(gm_d, X, resp_d),
        "diag (direct, per component)": lambda: direct_diag_iteration(X, resp_d, gm_d.reg_covar),
        "full": lambda: iteration(*start["full"][:1], X, start["full"][1]),
    }
    times = {name: [] for name in variants}
    for fn in variants.values():                                   # warm-up
        fn()
    for _ in range(args.rounds):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    rounds = list(zip(*times.values()))
    full_over_diag = statistics.median(r[2] / r[0] for r in rounds)
    direct_over_diag = statistics.median(r[1] / r[0] for r in rounds)
    full_over_direct = statistics.median(r[2] / r[1] for r in rounds)
    med = {name: statistics.median(t) for name, t in times.items()}
    N, D = X.shape
    print(f"{source}: N = {N}, D = {D}, K = {args.K}; median of {args.rounds} rounds; "
          f"load average {load_before}→{load_average()}")
    for name, t in med.items():
        print(f"  {name:<30} {1e3 * t:8.1f} ms per iteration")
    print(f"full / diag: {full_over_diag:.1f}× (target ≥ 5); direct diag / diag: "
          f"{direct_over_diag:.1f}×; full / direct diag (before): {full_over_direct:.1f}×")
    print("README row:")
    print(f"| GaussianMixture, {N:,} × {D}, K = {args.K}, per EM iteration "
          f"(`python benchmarks/bench_gmm.py`) | "
          f"diagonal {1e3 * med['diag (matrix products)']:.0f} ms, "
          f"full {1e3 * med['full']:.0f} ms: diagonal **{full_over_diag:.1f}×** faster than full "
          f"(was {full_over_direct:.1f}× with the per-component diagonal form, "
          f"{1e3 * med['diag (direct, per component)']:.0f} ms); median of {args.rounds}, "
          f"load {load_before} |")


if __name__ == "__main__":
    main()
