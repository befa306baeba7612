"""Command line: ``python -m npae {demo,train,gradcheck,download,notebooks} --help``.

Bad arguments exit with status 2 and a one-line message on stderr.

``gradcheck`` exits with 0 when every array passed, 1 when some array FAILed, 3 when
none failed but the check cannot judge some (the gradient is below its resolution, or
the forward is not smooth near the point: not a pass), 2 for a usage error or when the
code of ``--function`` raised or called sys.exit (a one-line message naming the
function, then the traceback of that file's own frames), and 130 when interrupted.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

import numpy as np

# small float64 models for `gradcheck` that each model supports; smooth activations keep
# the finite differences away from kinks (k-sparse: random codes have no top-k ties)
GRADCHECK_DEFAULTS = {
    "autoencoder": {"hidden_layer_sizes": (5, 3), "activation": "tanh"},
    "sparse": {"hidden_layer_sizes": (5,), "activation": "sigmoid"},
    "ksparse": {"hidden_layer_sizes": (6,), "activation": "tanh", "k": 3},
    "denoising": {"hidden_layer_sizes": (5, 3), "activation": "tanh"},
    "contractive": {"hidden_layer_sizes": (5,), "activation": "sigmoid"},
    "vae": {"hidden_layer_sizes": (5,), "latent_dim": 3, "activation": "tanh"},
    "stacked": {"hidden_layer_sizes": (5, 3), "activation": "tanh"},
}

# CLI model name -> (module, class, default hyperparameters for `train`)
MODELS = {
    "autoencoder": ("npae.models.autoencoder", "Autoencoder", {}),
    "sparse": ("npae.models.regularized", "SparseAutoencoder", {}),
    "ksparse": ("npae.models.regularized", "KSparseAutoencoder", {}),
    "denoising": ("npae.models.regularized", "DenoisingAutoencoder", {}),
    "contractive": ("npae.models.regularized", "ContractiveAutoencoder", {}),
    "vae": ("npae.models.vae", "VAE", {}),
    "stacked": ("npae.models.stacked", "StackedAutoencoder", {}),
}


GRADCHECK_EXIT_STATUS = (
    "exit status: 0 every array passed; 1 some array FAILed; 3 nothing failed but the "
    "check cannot judge some array (its gradient is below the check's resolution, or the "
    "forward is not smooth there): not a pass; 2 usage error, or your --function code "
    "raised or exited; 130 interrupted")
EXIT = {"PASS": 0, "FAIL": 1, "CANNOT JUDGE": 3}


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def _model_class(name):
    if name not in MODELS:
        raise UsageError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    module, cls, _ = MODELS[name]
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError):
        raise UsageError(f"model {name!r} is not available in this version of npae") from None


def _sizes(text):
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text!r}")
    return sizes


def _shape(text):
    try:
        shape = tuple(int(s) for s in text.split(",")) if text.strip() else ()
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a shape like 4,3, got {text!r}")
    if any(n < 1 for n in shape):
        raise argparse.ArgumentTypeError(f"shape entries must be positive, got {text!r}")
    return shape


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    if not value > 0 or not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def build_parser():
    p = _Parser(prog="npae", description="Autoencoders in pure NumPy, derived by hand.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    d = sub.add_parser("demo", help="train a small autoencoder and write figures (about a minute)")
    d.add_argument("--dataset", default="auto",
                   help="auto (MNIST if found on disk, else synthetic glyph digits), mnist, "
                        "fashion-mnist or glyphs")
    d.add_argument("--out", default="npae-demo", help="output folder (default: npae-demo/)")
    d.add_argument("--epochs", type=_positive_int, default=None,
                   help="training epochs (default: 10 on MNIST-sized data, 30 on glyphs)")
    d.add_argument("--seed", type=int, default=0)

    t = sub.add_parser("train", help="train a model and save checkpoint, history and figures")
    t.add_argument("model", help=f"one of: {', '.join(MODELS)}")
    t.add_argument("--dataset", default="auto", help="auto, mnist, fashion-mnist or glyphs")
    t.add_argument("--epochs", type=_positive_int, default=10)
    t.add_argument("--hidden", type=_sizes, default=None,
                   help="encoder widths, comma-separated, e.g. 256,32 (VAE: widths before "
                        "the heads)")
    t.add_argument("--latent-dim", type=_positive_int, default=None, help="VAE latent size")
    t.add_argument("--activation", default=None, help="e.g. relu, sigmoid, tanh")
    t.add_argument("--output", default=None, choices=["bernoulli", "gaussian"])
    t.add_argument("--tied", action="store_true", help="tied weights (autoencoders)")
    t.add_argument("--lr", type=_positive_float, default=1e-3, help="learning rate")
    t.add_argument("--batch-size", type=_positive_int, default=128)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="any other hyperparameter, e.g. --set sparsity_weight=3 (JSON value)")
    t.add_argument("--out", default=None, help="output folder (default: npae-<model>/)")

    g = sub.add_parser("gradcheck", help="check a model's gradients, or a forward/backward "
                                         "pair of your own (--function)",
                       epilog=GRADCHECK_EXIT_STATUS)
    g.add_argument("model", nargs="?", default=None,
                   help=f"one of: {', '.join(MODELS)} (or use --function)")
    g.add_argument("--function", default=None, metavar="FILE.py:FORWARD:BACKWARD",
                   help="check backward(G, *inputs) against forward(*inputs) from your file")
    g.add_argument("--shape", type=_shape, action="append", default=[],
                   help="with --function: the shape of one input, e.g. 4,3 (one per input)")
    g.add_argument("--low", type=float, default=-1.0,
                   help="with --function: inputs are drawn uniform in [low, high)")
    g.add_argument("--high", type=float, default=1.0)
    g.add_argument("--directions", type=_positive_int, default=None,
                   help="K random directions per array instead of every entry")
    g.add_argument("--time-limit", type=_positive_float, default=600.0, metavar="SECONDS",
                   help="with --function: refuse an entrywise check estimated to take longer "
                        "(default 600)")
    g.add_argument("--json", action="store_true", help="print the report as JSON")
    g.add_argument("--tied", action="store_true")
    g.add_argument("--activation", default=None,
                   help="default: one the model supports (sigmoid where a penalty needs it, "
                        "else tanh: smooth, so no kink is near the check)")
    g.add_argument("--output", default="bernoulli", choices=["bernoulli", "gaussian"])
    g.add_argument("--hidden", type=_sizes, default=None,
                   help="encoder widths (VAE: the last is latent_dim); default: a small model")
    g.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    g.add_argument("--seed", type=int, default=0)

    dl = sub.add_parser("download", help="download and verify a data set")
    dl.add_argument("name", help="mnist or fashion-mnist")
    dl.add_argument("--data-dir", default=None, help="target folder (default ~/.cache/npae/NAME)")
    dl.add_argument("--mirror", action="append", default=None,
                    help="mirror base URL (repeatable; http://, https:// or file://)")
    nb = sub.add_parser("notebooks", help="write the tutorials as Jupyter notebooks (.ipynb)")
    nb.add_argument("names", nargs="*", metavar="NAME",
                    help="tutorials to write, e.g. 02 or 02_sparse (default: all)")
    nb.add_argument("--out", default="npae-notebooks",
                    help="output folder (default: npae-notebooks/)")
    nb.add_argument("--force", action="store_true",
                    help="overwrite notebooks that exist (default: keep them)")
    from .assignments.cli import add_parsers as add_assignment_parsers
    add_assignment_parsers(sub)             # `assignment {list,build,grade}` and `check`
    return p


def _extra_hyperparameters(pairs):
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise UsageError(f"--set expects NAME=VALUE, got {pair!r}")
        key, raw = pair.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[key.strip()] = tuple(value) if isinstance(value, list) else value
    return out


def _load_data(name):
    """(X_train, y_train, X_test, y_test, name, note) for ``auto`` or a named data set."""
    from . import datasets
    if name == "auto":
        X, y, X_test, y_test, source = datasets.load_digits()
        auto_name = "mnist" if source.startswith("MNIST") else "glyph-digits"
        return X, y, X_test, y_test, auto_name, "" if auto_name == "mnist" else source
    name = {"glyphs": "glyph-digits", "fashion": "fashion-mnist"}.get(name, name)
    if name not in datasets.available_datasets():
        raise UsageError(f"unknown dataset {name!r}; choose from auto, "
                         f"{', '.join(datasets.available_datasets())}")
    X, y = datasets.load(name, "train")
    X_test, y_test = datasets.load(name, "test")
    return X, y, X_test, y_test, name, ""


def _figures(model, X_test, y_test, out):
    from . import plotting
    figs = {}
    Xs = X_test[:10]
    figs["reconstructions"] = plotting.reconstructions(
        Xs, model.reconstruct(Xs), path=out / "reconstructions.png",
        title="test images (top) and their reconstructions (bottom)")
    figs["loss_curves"] = plotting.loss_curves(model.history_, path=out / "loss_curves.png")
    W = model.params_.get("enc.0.W")
    if W is not None and int(np.sqrt(W.shape[0])) ** 2 == W.shape[0]:
        figs["filters"] = plotting.filters(W, n=64, path=out / "filters.png",
                                           title="first-layer filters (columns of enc.0.W)")
    Z = model.transform(X_test[:3000])
    if Z.shape[1] > 2:
        from .models.autoencoder import pca
        comps, mean, _ = pca(Z, 2)
        Z, title = (Z - mean) @ comps.T, "test codes, first two principal components"
    else:
        title = "test codes"
    figs["codes"] = plotting.codes_2d(Z, y_test[:3000], path=out / "codes.png", title=title)
    return {k: f"{k}.png" for k in figs}


def _write_json(path, obj):
    from .persistence import atomic_write
    atomic_write(path, lambda f: f.write(json.dumps(obj, indent=2).encode()))


def cmd_demo(args):
    from .models.autoencoder import Autoencoder
    out = Path(args.out)
    X, y, X_test, y_test, name, note = _load_data(args.dataset)
    if note:
        print(note)
    epochs = args.epochs or (10 if len(X) > 20000 else 30)
    print(f"npae demo: a 784-256-32-256-784 ReLU autoencoder with a Bernoulli output on "
          f"{name} ({len(X)} training images), {epochs} epochs of Adam")
    model = Autoencoder((256, 32), activation="relu", output="bernoulli", epochs=epochs,
                        batch_size=128, learning_rate=1e-3, random_state=args.seed, verbose=True)
    t0 = time.perf_counter()
    model.fit(X, X_val=X_test)
    seconds = time.perf_counter() - t0
    figures = _figures(model, X_test, y_test, out)
    model.save(out / "model.npz")
    summary = {
        "dataset": name, "n_train": int(len(X)), "n_test": int(len(X_test)),
        "model": repr(model), "epochs": epochs, "train_seconds": round(seconds, 2),
        "train_bce_per_image": model.history_["recon"][-1],
        "test_bce_per_image": model.history_["val_recon"][-1],
        "figures": figures, "checkpoint": "model.npz",
    }
    _write_json(out / "summary.json", summary)
    print()
    print(f"{'':<22}{'value':>12}")
    print(f"{'dataset':<22}{name:>12}")
    print(f"{'epochs':<22}{epochs:>12}")
    print(f"{'train BCE / image':<22}{summary['train_bce_per_image']:>12.2f}  nats")
    print(f"{'test BCE / image':<22}{summary['test_bce_per_image']:>12.2f}  nats")
    print(f"{'training time':<22}{seconds:>12.1f}  s")
    print(f"figures, model.npz and summary.json are in {out}/")
    return 0


def cmd_train(args):
    cls = _model_class(args.model)
    X, y, X_test, y_test, name, note = _load_data(args.dataset)
    if note:
        print(note)
    hp = dict(MODELS[args.model][2])
    if args.hidden is not None:
        hp["hidden_layer_sizes"] = args.hidden
    for key, value in (("activation", args.activation), ("output", args.output),
                       ("latent_dim", args.latent_dim)):
        if value is not None:
            hp[key] = value
    if args.tied:
        hp["tied_weights"] = True
    hp.update(epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size,
              random_state=args.seed, verbose=True)
    hp.update(_extra_hyperparameters(args.set))
    try:
        model = cls(**hp)
    except TypeError as exc:
        raise UsageError(f"{args.model}: {exc}") from None
    out = Path(args.out or f"npae-{args.model}")
    model.fit(X, X_val=X_test)
    model.save(out / "model.npz")
    _write_json(out / "history.json", model.history_)
    figures = _figures(model, X_test, y_test, out)
    print(f"{args.model} on {name}: final loss {model.history_['loss'][-1]:.3f}, "
          f"validation loss {model.history_['val_loss'][-1]:.3f}")
    print(f"wrote model.npz, history.json and {', '.join(figures.values())} to {out}/")
    return 0


def _print_report(report, args, what):
    if args.json:
        print(report.to_json(indent=2))
        return
    print(what)
    print(report.table())
    verdict = {"PASS": "PASS", "FAIL": "FAIL",
               "CANNOT JUDGE": "CANNOT JUDGE, not a pass"}[report.verdict]
    print(f"largest relative error {report.max_rel_error:.2e} "
          f"({verdict}: each array within rel. tolerance 1e-07, or within the check's own "
          "error where that proves something)")


def cmd_gradcheck(args):
    from .gradcheck import check_model
    if args.function is not None:
        return _gradcheck_function(args)
    if args.model is None:
        raise UsageError("gradcheck needs a model name or --function FILE.py:FORWARD:BACKWARD")
    if args.shape:
        raise UsageError("--shape applies to --function only")
    cls = _model_class(args.model)
    hp = {"dtype": "float64", "random_state": args.seed, "verbose": False,
          "output": args.output, **GRADCHECK_DEFAULTS[args.model]}
    if args.activation is not None:
        hp["activation"] = args.activation
    if args.hidden is not None and args.model == "vae":
        hp.update(hidden_layer_sizes=args.hidden[:-1], latent_dim=args.hidden[-1])
    elif args.hidden is not None:
        hp["hidden_layer_sizes"] = args.hidden
    if args.tied:
        if args.model == "vae":
            raise UsageError("--tied applies to autoencoders, not the VAE")
        hp["tied_weights"] = True
    hp.update(_extra_hyperparameters(args.set))
    try:
        model = cls(**hp)
    except TypeError as exc:
        raise UsageError(f"{args.model}: {exc}") from None
    rng = np.random.default_rng(args.seed)
    X = rng.uniform(0.05, 0.95, size=(4, 8))
    model.initialize(X.shape[1])
    noise = model.sample_noise(X, rng)
    report = check_model(model, X, noise=noise, raise_on_fail=False, directions=args.directions,
                         seed=args.seed)
    how = "4th-order central differences" + (f", {args.directions} random directions per array"
                                             if args.directions else "")
    _print_report(report, args, f"gradient check of {model!r} on a random 4x8 batch (float64, "
                                f"{how})")
    return EXIT[report.verdict]


def _gradcheck_function(args):
    """``--function``: the user's code runs with its prints sent to stderr (stdout holds
    only the report), and whatever it raises is reported as its own (see gradcheck.user)."""
    import contextlib

    from .gradcheck.user import FunctionSpecError, UserCodeError, check_user_pair
    if args.model is not None:
        raise UsageError("give either a model name or --function, not both")
    log = lambda text: print(text, file=sys.stderr)                      # noqa: E731
    try:
        with contextlib.redirect_stdout(sys.stderr):
            report = check_user_pair(args.function, args.shape, seed=args.seed, low=args.low,
                                     high=args.high, directions=args.directions,
                                     time_limit=args.time_limit, log=log)
    except FunctionSpecError as exc:
        raise UsageError(str(exc)) from None
    except UserCodeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.frames:
            print(exc.frames, file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print("error: gradcheck interrupted", file=sys.stderr)
        return 130
    shapes = ", ".join(str(s) for s in args.shape)
    _print_report(report, args, f"gradient check of {args.function} at inputs of shape "
                                f"{shapes}, uniform in [{args.low:g}, {args.high:g}) "
                                f"(seed {args.seed}), L = Σ G ⊙ forward(...)")
    return EXIT[report.verdict]


def cmd_download(args):
    from . import datasets
    path = datasets.download(args.name, data_dir=args.data_dir, mirrors=args.mirror)
    print(f"{args.name} is ready in {path}")
    return 0


def cmd_notebooks(args):
    from .notebooks import write_notebooks
    write_notebooks(args.out, args.names, force=args.force)
    return 0


def _assignments_cli():
    from .assignments import cli
    return cli


def main(argv=None):
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return {"demo": cmd_demo, "train": cmd_train, "gradcheck": cmd_gradcheck,
                "download": cmd_download, "notebooks": cmd_notebooks, "assignment": _assignments_cli().cmd_assignment,
                "check": _assignments_cli().cmd_check}[args.command](args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:           # a bad value that got past argparse, e.g. a hyperparameter
        print(f"error: {_first_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:              # missing data, failed download, unwritable folder
        print(f"error: {_first_line(exc)}", file=sys.stderr)
        return 1
    except FloatingPointError as exc:   # TrainingDiverged: nothing was saved
        print(f"error: {_first_line(exc)} (nothing was saved)", file=sys.stderr)
        return 1


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
