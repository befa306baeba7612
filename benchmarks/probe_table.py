"""Benchmark: linear-probe test accuracy on the codes of every autoencoder family.

What it measures. Each model is trained (unsupervised) on the same training images; its
encoder maps train and test images to codes; a linear probe (npae.LinearProbe:
multinomial logistic regression, L-BFGS, standardized features, λ = 1e-4) is fitted on
the training codes and their labels and scored on the test codes. The same probe on the
raw pixels is the first baseline row; the second is PCA with H components (the best
linear code of the same size, in squared error), which separates "any 64-number summary"
from what a model's training principle adds. A second column gives each model's test
reconstruction error as the mean squared error per pixel (npae.anomaly.reconstruction_scores),
which every model has in the same units (a VAE decodes its mean code μ).

The models, all with the same code size H (``--code-size``, default 64), a Bernoulli
decoder on pixels in [0, 1], Adam with batches of 32, the same epochs and seed:

===============  ========================  =============================================
group            model                     encoder, regularizer
===============  ========================  =============================================
one layer        plain                     784 → H sigmoid
one layer        sparse                    784 → H sigmoid, KL sparsity ρ = 0.05, β = 3
one layer        denoising                 784 → H sigmoid, masking noise p = 0.3
one layer        contractive               784 → H sigmoid, λ_c = 1 (closed form: one layer only)
one layer        variational               784 → (μ, log σ²) ∈ R^H, linear heads; code = μ
two layers       deep, end to end          784 → 256 → H sigmoid, trained end to end
two layers       stacked                   784 → 256 → H sigmoid, greedy + fine-tuning
two layers       variational, deep         784 → 256 ReLU → (μ, log σ²); code = μ
===============  ========================  =============================================

Why two groups. npae's contractive penalty is the closed form for ONE sigmoid layer,
and a stacked autoencoder is deep by definition, so no single architecture fits every
family. Inside each group the architecture, code size, decoder, optimizer and epochs are
the same and only the training principle differs; across groups, compare with care.
Every one-layer model has a single dense decoder layer H → 784; each two-layer model
mirrors its encoder. The one-layer VAE's code μ(x) = x W_μ + b_μ is a *linear*
function of x (there is no hidden layer before the heads), so its probe is a linear
classifier on a rank-H linear projection of the pixels: that row isolates what the
VAE objective picks as a subspace, the deep VAE row what it does with a nonlinearity.

Step sizes. A budget of 5 epochs over 10,000 images is about 1,500 Adam steps, short for
a sigmoid code layer: every unit starts near σ(0) = ½ for every input, and with the
usual step 1e-3 the plain, denoising and contractive models were still on the "mean
image" plateau after 5 epochs (test MSE 0.068 per pixel, the error of predicting the
mean image). So each model gets the step size, among 1e-3, 3e-3 and 1e-2, that
maximizes its OWN objective (``model.score``: minus its loss with its penalties, or the
ELBO) on 2,000 further training images; no label is used. ``--select-lr`` reruns that
selection; :data:`LEARNING_RATES` holds its result for the default settings (measured
with ``NPAE_DATA=/work/shared/data python benchmarks/probe_table.py --select-lr``:
every model chose 1e-2 except the deep VAE, 3e-3).

Epoch budget: every model gets ``--epochs`` passes over the data. The stacked model
spends them as ``--epochs // 3`` (at least 1) per pretraining stage and the rest in
fine-tuning, so it makes ``--epochs`` passes in all (a stage-2 pass reads the 256-D
codes of stage 1, not the images, and is cheap).

Run from the repository root (MNIST found through NPAE_DATA or ``--data-dir``; else the
synthetic glyph digits, and the script says so):

    NPAE_DATA=/work/shared/data python benchmarks/probe_table.py
    NPAE_DATA=/work/shared/data python benchmarks/probe_table.py --seed 0 1 2   # mean ± sd
    NPAE_DATA=/work/shared/data python benchmarks/probe_table.py --n-train 60000 --epochs 10
    python benchmarks/probe_table.py --json probe_table.json      # also write the rows

Tutorial 07 imports :func:`probe_table` from this file, so the table is computed in one
place; this script prints it as Markdown.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import npae  # noqa: E402
from npae import datasets  # noqa: E402
from npae.anomaly import reconstruction_scores  # noqa: E402
from npae.persistence import atomic_write  # noqa: E402

#: the probe of every row, the pixels' included (npae.LinearProbe's arguments)
PROBE = {"l2": 1e-4, "max_iter": 200}

#: Adam's step size per model, as chosen by ``--select-lr`` (see the module docstring)
LEARNING_RATES = {"plain": 1e-2, "sparse": 1e-2, "denoising": 1e-2, "contractive": 1e-2,
                  "variational": 1e-2, "deep, end to end": 1e-2, "stacked": 1e-2,
                  "variational, deep": 3e-3}


def load_digits(n_train=10_000, n_test=10_000, n_val=0, data_dir=None):
    """The images of the table: MNIST if found, else glyph digits (``source`` says which).

    Returns a namespace with ``X_train, y_train`` (the first ``n_train`` training
    images), ``X_val`` (the next ``n_val``, for choosing step sizes; no labels), ``X_test,
    y_test`` (the first ``n_test`` test images) and ``source``. MNIST's order is already
    mixed: every class is present in the first 1,000 images.
    """
    name = "mnist" if datasets.find_dataset("mnist", data_dir) is not None else "glyph-digits"
    X, y = datasets.load(name, "train", data_dir=data_dir, n=n_train + n_val)
    X_test, y_test = datasets.load(name, "test", data_dir=data_dir, n=n_test)
    source = ("MNIST" if name == "mnist" else
              "synthetic glyph digits (MNIST not found: set NPAE_DATA to use it)")
    return SimpleNamespace(X_train=X[:n_train], y_train=y[:n_train], X_val=X[n_train:],
                           X_test=X_test, y_test=y_test, source=source)


def make_models(code_size=64, epochs=5, hidden=256, seed=0, learning_rates=None,
                batch_size=32):
    """The unfitted models of the table: ``{name: (group, encoder description, model)}``.

    ``learning_rates`` maps a model's name to Adam's step size (default
    :data:`LEARNING_RATES`; a float gives every model the same one).
    """
    H = code_size
    if learning_rates is None or isinstance(learning_rates, float):
        learning_rates = {name: learning_rates or lr for name, lr in LEARNING_RATES.items()}
    base = dict(output="bernoulli", optimizer="adam", batch_size=batch_size, epochs=epochs,
                random_state=seed, verbose=False)
    one = dict(hidden_layer_sizes=(H,), activation="sigmoid", **base)
    deep = dict(hidden_layer_sizes=(hidden, H), activation="sigmoid", **base)
    stage_epochs = max(1, epochs // 3)
    stacked = {**deep, "pretrain_epochs": stage_epochs,
               "epochs": max(1, epochs - 2 * stage_epochs)}
    vae = dict(latent_dim=H, activation="relu", **base)
    specs = {
        "plain": ("one layer", f"784-{H} sigmoid", npae.Autoencoder, one),
        "sparse": ("one layer", f"784-{H} sigmoid, KL ρ=0.05 β=3", npae.SparseAutoencoder,
                   dict(sparsity="kl", sparsity_target=0.05, sparsity_weight=3.0, **one)),
        "denoising": ("one layer", f"784-{H} sigmoid, masking p=0.3", npae.DenoisingAutoencoder,
                      dict(noise="masking", noise_level=0.3, **one)),
        "contractive": ("one layer", f"784-{H} sigmoid, λ_c=1", npae.ContractiveAutoencoder,
                        dict(contractive_weight=1.0, **one)),
        "variational": ("one layer", f"784-{H} linear μ head", npae.VAE,
                        dict(hidden_layer_sizes=(), **vae)),
        "deep, end to end": ("two layers", f"784-{hidden}-{H} sigmoid", npae.Autoencoder, deep),
        "stacked": ("two layers", f"784-{hidden}-{H} sigmoid, {stage_epochs}+{stage_epochs} "
                    f"pretrain + {stacked['epochs']} fine-tune epochs",
                    npae.StackedAutoencoder, stacked),
        "variational, deep": ("two layers", f"784-{hidden} ReLU-{H} μ head", npae.VAE,
                              dict(hidden_layer_sizes=(hidden,), **vae)),
    }
    return {name: (group, encoder, cls(learning_rate=learning_rates[name], **kw))
            for name, (group, encoder, cls, kw) in specs.items()}


def select_learning_rates(X_train, X_val, grid=(1e-3, 3e-3, 1e-2), log=print, **settings):
    """For each model, the step size of ``grid`` whose fit scores best on ``X_val``.

    Each model is judged by its own objective (``model.score``: minus its loss, penalties
    included, or the ELBO of a VAE) on images used neither for training nor for the
    probe; no label is looked at. Returns ``(best, scores)``, ``scores[name][lr]``.
    """
    scores = {}
    for lr in grid:
        for name, (_, _, model) in make_models(learning_rates=float(lr), **settings).items():
            try:
                scores.setdefault(name, {})[lr] = model.fit(X_train).score(X_val)
            except npae.TrainingDiverged:
                scores.setdefault(name, {})[lr] = -np.inf
            log(f"{name:>20} lr {lr:g}: validation score {scores[name][lr]:10.3f}")
    best = {name: max(s, key=s.get) for name, s in scores.items()}
    return best, scores


def probe_table(X_train, y_train, X_test, y_test, code_size=64, epochs=5, hidden=256, seed=0,
                learning_rates=None, batch_size=32, only=None, log=print):
    """Train every model, probe its codes; returns ``(rows, models)``.

    ``rows`` is a list of dicts (model, group, encoder, code_size, learning_rate,
    probe_accuracy, recon_mse, train_seconds, probe_seconds), the baselines (raw pixels,
    PCA with ``code_size`` components) first; ``models`` maps each name to its fitted
    model. ``only`` restricts the table to some names.
    """
    t0 = time.perf_counter()
    acc = npae.LinearProbe(**PROBE).fit(X_train, y_train).score(X_test, y_test)
    rows = [dict(model="raw pixels", group="baseline", encoder="identity",
                 code_size=X_train.shape[1], learning_rate=None, probe_accuracy=acc,
                 recon_mse=None, train_seconds=0.0, probe_seconds=time.perf_counter() - t0)]
    log(f"{'raw pixels':>20}: probe {acc:.4f}  ({rows[0]['probe_seconds']:.0f} s)")
    t0 = time.perf_counter()
    components, mean, _ = npae.pca(X_train, code_size)                # (H, D), (D,)
    Z_train, Z_test = (X_train - mean) @ components.T, (X_test - mean) @ components.T
    acc = npae.LinearProbe(**PROBE).fit(Z_train, y_train).score(Z_test, y_test)
    mse = float(np.mean((Z_test @ components + mean - X_test) ** 2))
    rows.append(dict(model="PCA", group="baseline", encoder=f"784-{code_size} linear (top "
                     f"principal directions)", code_size=code_size, learning_rate=None,
                     probe_accuracy=acc, recon_mse=mse, train_seconds=0.0,
                     probe_seconds=time.perf_counter() - t0))
    log(f"{'PCA':>20}: probe {acc:.4f}  recon MSE {mse:.4f}")
    models = {}
    for name, (group, encoder, model) in make_models(code_size, epochs, hidden, seed,
                                                     learning_rates, batch_size).items():
        if only is not None and name not in only:
            continue
        t0 = time.perf_counter()
        model.fit(X_train)
        t1 = time.perf_counter()
        acc = npae.LinearProbe(**PROBE).fit(model.transform(X_train), y_train).score(
            model.transform(X_test), y_test)
        mse = float(np.mean(reconstruction_scores(model, X_test)))
        t2 = time.perf_counter()
        rows.append(dict(model=name, group=group, encoder=encoder, code_size=code_size,
                         learning_rate=model.learning_rate, probe_accuracy=acc, recon_mse=mse,
                         train_seconds=t1 - t0, probe_seconds=t2 - t1))
        models[name] = model
        log(f"{name:>20}: probe {acc:.4f}  recon MSE {mse:.4f}  "
            f"(train {t1 - t0:.0f} s, probe {t2 - t1:.0f} s)")
    return rows, models


def format_table(rows):
    """The rows as a Markdown table."""
    lines = ["| model | group | encoder | Adam step | probe test accuracy | "
             "test recon MSE/pixel | train s |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        mse = "—" if r["recon_mse"] is None else f"{r['recon_mse']:.4f}"
        lr = "—" if r["learning_rate"] is None else f"{r['learning_rate']:g}"
        lines.append(f"| {r['model']} | {r['group']} | {r['encoder']} | {lr} | "
                     f"{r['probe_accuracy']:.4f} | {mse} | {r['train_seconds']:.0f} |")
    return "\n".join(lines)


def format_summary(rows_by_seed):
    """Mean ± standard deviation over seeds of each row, as a Markdown table."""
    seeds = list(rows_by_seed)
    lines = [f"| model | group | probe accuracy, mean ± sd over seeds {seeds} | per seed | "
             "test recon MSE/pixel, mean ± sd |",
             "| --- | --- | ---: | --- | ---: |"]
    for i, r in enumerate(rows_by_seed[seeds[0]]):
        acc = np.array([rows_by_seed[s][i]["probe_accuracy"] for s in seeds])
        per_seed = ", ".join(f"{a:.4f}" for a in acc)
        if r["recon_mse"] is None:
            mse = "—"
        else:
            m = np.array([rows_by_seed[s][i]["recon_mse"] for s in seeds])
            mse = f"{m.mean():.4f} ± {m.std(ddof=1) if len(m) > 1 else 0.0:.4f}"
        sd = acc.std(ddof=1) if len(acc) > 1 else 0.0
        lines.append(f"| {r['model']} | {r['group']} | {acc.mean():.4f} ± {sd:.4f} | "
                     f"{per_seed} | {mse} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-train", type=int, default=10_000, help="training images")
    parser.add_argument("--n-test", type=int, default=10_000, help="test images")
    parser.add_argument("--code-size", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=256, help="first layer of the deep models")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="one Adam step size for every model (default: LEARNING_RATES)")
    parser.add_argument("--select-lr", action="store_true",
                        help="first choose each model's step size among 1e-3, 3e-3, 1e-2 by "
                             "its own objective on --n-val further training images")
    parser.add_argument("--n-val", type=int, default=2000)
    parser.add_argument("--seed", type=int, nargs="+", default=[0],
                        help="one table per seed, then mean ± sd when several are given")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args(argv)
    data = load_digits(args.n_train, args.n_test, args.n_val if args.select_lr else 0,
                       args.data_dir)
    settings = dict(code_size=args.code_size, epochs=args.epochs, hidden=args.hidden,
                    batch_size=args.batch_size)
    print(f"data: {data.source}, {len(data.y_train)} training and {len(data.y_test)} test "
          f"images; {settings}; seeds {args.seed}; probe {PROBE}")
    t0 = time.perf_counter()
    learning_rates, selection = args.learning_rate, None
    if args.select_lr:
        learning_rates, selection = select_learning_rates(
            data.X_train, data.X_val, seed=args.seed[0], **settings)
        print(f"\nchosen step sizes: {learning_rates}\n")
    rows_by_seed = {}
    for seed in args.seed:
        rows, _ = probe_table(data.X_train, data.y_train, data.X_test, data.y_test, seed=seed,
                              learning_rates=learning_rates, **settings)
        rows_by_seed[seed] = rows
        print(f"\nseed {seed}:\n")
        print(format_table(rows))
        print()
    if len(args.seed) > 1:
        print(format_summary(rows_by_seed))
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if args.json:
        payload = {"settings": {**vars(args), "data": data.source, "probe": PROBE},
                   "learning_rate_selection": selection, "rows": rows_by_seed}
        atomic_write(args.json, lambda f: f.write(json.dumps(payload, indent=1).encode()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
