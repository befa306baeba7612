"""Seconds per MNIST epoch of four models against their matmuls alone.

    NPAE_DATA=/work/shared/data python benchmarks/bench_epochs.py ae   [--rows 60000]
    NPAE_DATA=/work/shared/data python benchmarks/bench_epochs.py vae
    NPAE_DATA=/work/shared/data python benchmarks/bench_epochs.py cae
    NPAE_DATA=/work/shared/data python benchmarks/bench_epochs.py kl

The models (batch 128, Adam lr 1e-3, float32, the 60,000 MNIST training images):

* ``ae``:  Autoencoder 784-512-256-32-256-512-784, ReLU (code included), Bernoulli;
* ``vae``: VAE 784-400-(20, 20), decoder 20-400-784, ReLU, Bernoulli;
* ``cae``: ContractiveAutoencoder 784-256-784, sigmoid, λ_c = 1 (closed-form penalty);
* ``kl``:  SparseAutoencoder 784-256-784, sigmoid, KL sparsity ρ = 0.05, β = 3.

One epoch of training steps (loss_and_grads, Adam, the guard's check) runs 16 steps
at a time, each chunk followed by the same batches' matmuls alone
(``_timing.alternating_epoch``); the ratio steps / matmuls is taken per chunk and its
median reported, so the machine's drift (large on a shared host) cancels; the
breakdown says where a step's time goes. Then one real ``fit`` epoch (shuffling,
batching, the guard) is timed against an epoch of matmuls. The last line is the
README table row. OpenBLAS's threads are left as the environment sets them.
"""
from __future__ import annotations

import argparse

import npae
from _timing import mnist_train, time_epoch

COMMON = dict(batch_size=128, learning_rate=1e-3, optimizer="adam", dtype="float32",
              random_state=0, verbose=False)
MODELS = {
    "ae": ("AE 784-512-256-32-256-512-784, ReLU, Bernoulli, 1 epoch",
           lambda: npae.Autoencoder((512, 256, 32), activation="relu", output="bernoulli",
                                    **COMMON)),
    "vae": ("VAE 784-400-20, ReLU, Bernoulli, 1 epoch",
            lambda: npae.VAE((400,), latent_dim=20, activation="relu", output="bernoulli",
                             **COMMON)),
    "cae": ("CAE 784-256, sigmoid, λ_c = 1, 1 epoch",
            lambda: npae.ContractiveAutoencoder((256,), contractive_weight=1.0, **COMMON)),
    "kl": ("KL-sparse 784-256, sigmoid, ρ = 0.05, β = 3, 1 epoch",
           lambda: npae.SparseAutoencoder((256,), sparsity="kl", sparsity_weight=3.0,
                                          sparsity_target=0.05, **COMMON)),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", choices=sorted(MODELS))
    ap.add_argument("--rows", type=int, default=60000, help="training rows (60000 = all)")
    args = ap.parse_args(argv)
    X = mnist_train()[:args.rows]
    label, make = MODELS[args.model]
    rows = "" if args.rows >= 60000 else f" --rows {args.rows}"
    time_epoch(make, X, label, f"python benchmarks/bench_epochs.py {args.model}{rows}")


if __name__ == "__main__":
    main()
