"""Issue 12 §3: the public API fuzzed with bad inputs, kept as a table so the cases stay fixed.

Each row is ``(case id, call, expected)``: ``call(tmp)`` gets a fresh folder, and
``expected`` is either ``WORKS`` (optionally with a check of the result) or an error
type and a regular expression that must name the argument and what was expected.
The classes: data of every dtype and shape for every estimator; hyperparameters of
the wrong type or value; methods before fit; refits; saving; checkpoints; IDX files;
loaders; model methods; the command line. Every row runs in well under a second.
"""
import gzip
import io
import os
import pickle
import warnings
import zipfile

import numpy as np
import pytest

import npae
from npae import cli, datasets
from npae.persistence import CheckpointError
from npae.training import TrainingDiverged

WORKS = "works"
rng = np.random.default_rng(0)
X = rng.uniform(0.05, 0.95, size=(24, 6)).astype(np.float32)
Y = np.arange(24) % 3


def ae(**kw):
    return npae.Autoencoder(**{"hidden_layer_sizes": (3,), "epochs": 1, "batch_size": 8,
                               "random_state": 0, "verbose": False, **kw})


def vae(**kw):
    return npae.VAE(**{"hidden_layer_sizes": (4,), "latent_dim": 2, "epochs": 1,
                       "batch_size": 8, "random_state": 0, "verbose": False, **kw})


def stacked(**kw):
    return npae.StackedAutoencoder(**{"hidden_layer_sizes": (4, 2), "pretrain_epochs": 1,
                                      "epochs": 1, "batch_size": 8, "random_state": 0,
                                      "verbose": False, **kw})


def gmm(**kw):
    return npae.GaussianMixture(**{"n_components": 2, "random_state": 0, **kw})


def probe(**kw):
    return npae.LinearProbe(**kw)


def preset(cls, **kw):
    return cls(**{"hidden_layer_sizes": (3,), "epochs": 1, "batch_size": 8, "random_state": 0,
                  "verbose": False, **kw})


FITS = {"Sparse": lambda A: preset(npae.SparseAutoencoder).fit(A),
        "KSparse": lambda A: preset(npae.KSparseAutoencoder, k=2).fit(A),
        "Denoising": lambda A: preset(npae.DenoisingAutoencoder).fit(A),
        "Contractive": lambda A: preset(npae.ContractiveAutoencoder).fit(A),
        "Autoencoder": lambda A: ae().fit(A), "VAE": lambda A: vae().fit(A),
        "Stacked": lambda A: stacked().fit(A), "GMM": lambda A: gmm().fit(A),
        "Probe": lambda A: probe().fit(A, Y[:len(A)] if hasattr(A, "__len__") else Y)}


def _frozen(A):
    A = A.copy()
    A.setflags(write=False)
    return A


def _read_only_untouched(fit):
    A = _frozen(X)
    fit(A)
    return np.array_equal(A, X)


CASES = []


def case(case_id, call, expected=WORKS, check=None):
    CASES.append(pytest.param(call, expected, check, id=case_id))


# ---------------------------------------------------------------- data: dtypes and shapes
for name, fit in FITS.items():
    needs01 = name not in ("GMM", "Probe")                       # Bernoulli decoders
    case(f"{name}-int-data", lambda f=fit: f((X > 0.5).astype(np.int64)))
    case(f"{name}-bool-data", lambda f=fit: f(X > 0.5))
    case(f"{name}-float16-data", lambda f=fit: f(X.astype(np.float16)))
    case(f"{name}-float64-data", lambda f=fit: f(X.astype(np.float64)))
    case(f"{name}-list-data", lambda f=fit: f(X.tolist()))
    case(f"{name}-fortran-data", lambda f=fit: f(np.asfortranarray(X)))
    case(f"{name}-noncontiguous-data", lambda f=fit: f(np.repeat(X, 2, axis=1)[:, ::2]))
    case(f"{name}-readonly-data-untouched", lambda f=fit: _read_only_untouched(f),
         check=lambda ok: ok is True)
    case(f"{name}-object-data", lambda f=fit: f(X.astype(object)),
         (ValueError, "X must hold numbers"))
    case(f"{name}-string-data", lambda f=fit: f(X.astype(str)), (ValueError, "X must hold numbers"))
    case(f"{name}-complex-data", lambda f=fit: f(X + 1j), (ValueError, "X must hold real numbers"))
    case(f"{name}-ragged-list", lambda f=fit: f([[0.1, 0.2], [0.3]]),
         (ValueError, "X could not be converted"))
    case(f"{name}-1d-data", lambda f=fit: f(X[0]), (ValueError, "X must be 2-dimensional"))
    case(f"{name}-3d-data", lambda f=fit: f(X[None]), (ValueError, "X must be 2-dimensional"))
    case(f"{name}-empty-data", lambda f=fit: f(X[:0]), (ValueError, "X is empty"))
    case(f"{name}-none-data", lambda f=fit: f(None), (ValueError, "X must be an array"))
    case(f"{name}-nan-data", lambda f=fit: f(np.where(X > 0.9, np.nan, X)),
         (ValueError, "X contains .* NaN or infinite"))
    case(f"{name}-inf-data", lambda f=fit: f(np.where(X > 0.9, np.inf, X)),
         (ValueError, "X contains .* NaN or infinite"))
    case(f"{name}-subnormal-data", lambda f=fit: f(X * np.float32(1e-39)))
    if needs01:
        case(f"{name}-1e30-data", lambda f=fit: f(X * 1e30),
             (ValueError, r"X must lie in \[0, 1\]"))
    else:
        case(f"{name}-1e30-data", lambda f=fit: f(X.astype(np.float64) * 1e30))

case("Autoencoder-gaussian-1e30-data-diverges-clearly",
     lambda: ae(output="gaussian").fit(X * np.float32(1e30)),
     (TrainingDiverged, "the loss became inf.*started from"))
case("Autoencoder-float64-data-beyond-float32", lambda: ae(output="gaussian").fit(
    X.astype(np.float64) * 1e39), (ValueError, "X has values up to .* beyond the range of float32"))
case("Autoencoder-N=1", lambda: ae().fit(X[:1]))
case("VAE-N=1", lambda: vae().fit(X[:1]))
case("Stacked-N=1", lambda: stacked().fit(X[:1]))
case("GMM-N=1-one-component", lambda: gmm(n_components=1).fit(X[:1]))
case("GMM-1e160-data-refused-naming-the-scale", lambda: gmm().fit(X.astype(np.float64) * 1e160),
     (ValueError, r"X has values up to .*e\+159.*standardize X"))


def _stacked_first_stage_diverges():
    m = stacked(learning_rate=1e39, optimizer="sgd")
    with pytest.raises(TrainingDiverged, match="pretraining stage 1 of 2 diverged"):
        m.fit(X)
    return m.transform(X).shape


case("Stacked-first-stage-diverges-keeps-restored-params", _stacked_first_stage_diverges,
     check=lambda shape: shape == (24, 2))
case("GMM-more-components-than-rows", lambda: gmm(n_components=5).fit(X[:3]),
     (ValueError, "n_components=5 must be at most the number of samples"))
case("Probe-N=1", lambda: probe().fit(X[:1], Y[:1]), (ValueError, "at least 2 classes"))
case("Autoencoder-batch-larger-than-N", lambda: ae(batch_size=1000).fit(X))
case("VAE-batch-larger-than-N", lambda: vae(batch_size=1000).fit(X))
case("Autoencoder-X_val-other-width", lambda: ae().fit(X, X_val=X[:, :4]),
     (ValueError, "X_val must have 6 columns"))
case("Autoencoder-X_val-nan", lambda: ae().fit(X, X_val=X * np.nan),
     (ValueError, "X_val contains"))
case("Autoencoder-old-positional-X_val", lambda: ae().fit(X, X[:5]),
     (TypeError, r"fit\(X, X_val=...\)"))
case("Autoencoder-y-labels-ignored", lambda: ae().fit(X, Y))
case("Probe-no-labels", lambda: probe().fit(X),
     (TypeError, "missing 1 required positional argument: 'y'"))
case("Probe-labels-None", lambda: probe().fit(X, None), (ValueError, "y must be the class labels"))
case("Probe-float-labels", lambda: probe().fit(X, Y.astype(float)),
     (ValueError, "y must hold integer class labels"))
case("Probe-complex-labels", lambda: probe().fit(X, Y + 0j),
     (ValueError, "y must hold integer class labels"))
case("Probe-labels-wrong-length", lambda: probe().fit(X, Y[:-1]),
     (ValueError, "y has 23 labels but X has 24 rows"))
case("Probe-labels-2d", lambda: probe().fit(X, Y[:, None]), (ValueError, "y must be 1-dimensional"))
case("Probe-scaled-1e20", lambda: probe().fit(X * np.float32(1e20), Y).score(
    X * np.float32(1e20), Y), check=lambda acc: acc == probe().fit(X, Y).score(X, Y))
case("Probe-scaled-1e-25", lambda: probe().fit(X * np.float32(1e-25), Y).score(
    X * np.float32(1e-25), Y), check=lambda acc: acc == probe().fit(X, Y).score(X, Y))
case("Probe-unstandardized-1e20", lambda: probe(standardize=False).fit(X * np.float32(1e20), Y),
     (ValueError, "standardize=False"))

# ---------------------------------------------------------------- hyperparameters
BAD_HP = [
    (ae, dict(hidden_layer_sizes="64"), "hidden_layer_sizes must be a non-empty tuple"),
    (ae, dict(hidden_layer_sizes=(4.5,)), r"hidden_layer_sizes\[0\] must be an integer"),
    (ae, dict(hidden_layer_sizes=(True,)), r"hidden_layer_sizes\[0\] must be an integer"),
    (ae, dict(hidden_layer_sizes=(0,)), r"hidden_layer_sizes\[0\] must be an integer"),
    (ae, dict(hidden_layer_sizes=np.array([4])), "hidden_layer_sizes must be a non-empty tuple"),
    (ae, dict(activation=None), "activation must be an activation name"),
    (ae, dict(activation=5), "activation must be an activation name"),
    (ae, dict(activation="bogus"), "activation must be one of"),
    (ae, dict(activation=("tanh", "tanh")), "activation must be one name or 1 names"),
    (ae, dict(decoder_activation=5), "decoder_activation must be an activation name"),
    (ae, dict(decoder_activation="bogus"), "decoder_activation must be one of"),
    (ae, dict(output="poisson"), "output must be one of"),
    (ae, dict(output=None), "output must be one of"),
    (ae, dict(output=["gaussian"]), "output must be one of"),
    (ae, dict(tied_weights="yes"), "tied_weights must be True or False"),
    (ae, dict(tied_weights=1), "tied_weights must be True or False"),
    (ae, dict(optimizer=["adam"]), "optimizer must be one of"),
    (ae, dict(optimizer="rmsprop"), "optimizer must be one of"),
    (ae, dict(optimizer=None), "optimizer must be one of"),
    (ae, dict(learning_rate="0.1"), "learning_rate must be a finite real number"),
    (ae, dict(learning_rate=float("nan")), "learning_rate must be a finite real number"),
    (ae, dict(learning_rate=float("inf")), "learning_rate must be a finite real number"),
    (ae, dict(learning_rate=True), "learning_rate must be a finite real number"),
    (ae, dict(learning_rate=0.0), r"learning_rate must be in \(0, inf\]"),
    (ae, dict(learning_rate=-1e-3), r"learning_rate must be in \(0, inf\]"),
    (ae, dict(batch_size=0), "batch_size must be an integer >= 1"),
    (ae, dict(batch_size=2.5), "batch_size must be an integer >= 1"),
    (ae, dict(batch_size=True), "batch_size must be an integer >= 1"),
    (ae, dict(batch_size="8"), "batch_size must be an integer >= 1"),
    (ae, dict(epochs=-1), "epochs must be an integer >= 0"),
    (ae, dict(epochs=float("nan")), "epochs must be an integer >= 0"),
    (ae, dict(random_state=-1), "random_state must be an integer >= 0"),
    (ae, dict(random_state=1.5), "random_state must be an integer >= 0"),
    (ae, dict(random_state="0"), "random_state must be an integer >= 0"),
    (ae, dict(dtype=None), "dtype must be float32 or float64, got None"),
    (ae, dict(dtype="float16"), "dtype must be float32 or float64"),
    (ae, dict(dtype="banana"), "dtype must be float32 or float64"),
    (ae, dict(dtype=np.int32), "dtype must be float32 or float64"),
    (ae, dict(verbose="yes"), "verbose must be True or False"),
    (ae, dict(weight_decay=float("nan")), "weight_decay must be a finite real number"),
    (ae, dict(weight_decay=-1.0), r"weight_decay must be in \[0, inf\]"),
    (ae, dict(sparsity="l3"), "sparsity must be None, 'l1' or 'kl'"),
    (ae, dict(sparsity=["l1"]), "sparsity must be None, 'l1' or 'kl'"),
    (ae, dict(sparsity="l1", sparsity_weight=float("nan")), "sparsity_weight must be a finite"),
    (ae, dict(sparsity_weight=1.0), "sparsity_weight=1.0 has no effect"),
    (ae, dict(k=0), "k must be an integer in"),
    (ae, dict(k=4), r"k must be an integer in \[1, 3\]"),
    (ae, dict(k=2.5), "k must be an integer"),
    (ae, dict(noise="pink"), "noise"),
    (ae, dict(noise="masking", noise_level=2.0), r"noise_level must be in \[0, 1\]"),
    (ae, dict(noise="gaussian", noise_level=float("nan")), "noise_level must be a finite"),
    (ae, dict(contractive_weight=float("nan")), "contractive_weight must be a finite"),
    (vae, dict(latent_dim=0), "latent_dim must be an integer >= 1"),
    (vae, dict(latent_dim="2"), "latent_dim must be an integer >= 1"),
    (vae, dict(output="gaussian", decoder_variance="learnd"), "decoder_variance must be"),
    (vae, dict(output="gaussian", decoder_variance=-1.0), "decoder_variance must be in"),
    (vae, dict(output="gaussian", decoder_variance=float("nan")),
         "decoder_variance must be a finite"),
    (vae, dict(beta=float("nan")), "beta must be a finite"),
    (vae, dict(beta=-1.0), "beta must be in"),
    (vae, dict(kl_warmup_epochs=-1), "kl_warmup_epochs must be an integer >= 0"),
    (vae, dict(binarize="yes"), "binarize must be True or False"),
    (vae, dict(activation=None), "activation must be one of"),
    (stacked, dict(pretrain_epochs=0), "pretrain_epochs must be an integer >= 1"),
    (stacked, dict(layer_options=[1]), "layer_options must be a dict"),
    (stacked, dict(layer_options={"bogus": 1}), "layer_options may set"),
    (gmm, dict(n_components=0), "n_components must be an integer >= 1"),
    (gmm, dict(n_components="2"), "n_components must be an integer >= 1"),
    (gmm, dict(n_components=True), "n_components must be an integer >= 1"),
    (gmm, dict(covariance_type=["full"]), "covariance_type must be one of"),
    (gmm, dict(covariance_type="spherical"), "covariance_type must be one of"),
    (gmm, dict(max_iter=0), "max_iter must be an integer >= 1"),
    (gmm, dict(tol=float("nan")), "tol must be a finite"),
    (gmm, dict(reg_covar=-1.0), r"reg_covar must be in \[0, inf\]"),
    (gmm, dict(n_init=0), "n_init must be an integer >= 1"),
    (gmm, dict(random_state=-3), "random_state must be None, a non-negative int"),
    (gmm, dict(random_state="x"), "random_state must be None, a non-negative int"),
    (gmm, dict(random_state=True), "random_state must be None, a non-negative int"),
    (probe, dict(l2=-1.0), r"l2 must be in \[0, inf\]"),
    (probe, dict(l2=float("nan")), "l2 must be a finite"),
    (probe, dict(max_iter=0), "max_iter must be an integer >= 1"),
    (probe, dict(tol=float("nan")), "tol must be a finite"),
    (probe, dict(memory=0), "memory must be an integer >= 1"),
    (probe, dict(standardize="yes"), "standardize must be True or False"),
    (probe, dict(dtype=np.int32), "dtype must be float32 or float64"),
    (probe, dict(dtype=None), "dtype must be float32 or float64"),
]
for make, kw, match in BAD_HP:
    key, value = next(iter(kw.items()))
    fit = (lambda m: m.fit(X, Y)) if make is probe else (lambda m: m.fit(X))
    case(f"{make.__name__}-{key}={value!r}", lambda make=make, kw=kw, fit=fit: fit(make(**kw)),
         (ValueError, match))

NUMPY_HP = [(ae, dict(hidden_layer_sizes=(np.int64(3),), batch_size=np.int32(8),
                      epochs=np.int64(1), learning_rate=np.float32(1e-3),
                      random_state=np.int64(1))),
            (vae, dict(latent_dim=np.int64(2), beta=np.float64(0.5))),
            (gmm, dict(n_components=np.int64(2), tol=np.float32(1e-3))),
            (probe, dict(l2=np.float32(1e-3), max_iter=np.int64(20)))]
for make, kw in NUMPY_HP:
    fit = (lambda m: m.fit(X, Y)) if make is probe else (lambda m: m.fit(X))
    case(f"{make.__name__}-numpy-scalar-hyperparameters",
         lambda make=make, kw=kw, fit=fit: fit(make(**kw)))
case("Autoencoder-set_params-unknown", lambda: ae().set_params(lr=1),
     (ValueError, "'lr' is not a hyperparameter of Autoencoder"))
case("Autoencoder-set_params-nan-after-fit-then-score",
     lambda: ae().fit(X).set_params(weight_decay=np.nan).score(X),
     (ValueError, "weight_decay must be a finite"))
case("VAE-set_params-negative-beta-after-fit-then-loss",
     lambda: vae().fit(X).set_params(beta=-1.0).loss(X), (ValueError, "beta must be in"))
case("Autoencoder-set_params-nan-then-fit", lambda: ae().set_params(learning_rate=np.nan).fit(X),
     (ValueError, "learning_rate must be a finite"))

# ---------------------------------------------------------------- methods before fit
BEFORE_FIT = {
    "Autoencoder.transform": lambda: ae().transform(X),
    "Autoencoder.inverse_transform": lambda: ae().inverse_transform(X[:, :3]),
    "Autoencoder.reconstruct": lambda: ae().reconstruct(X),
    "Autoencoder.reconstruction_error": lambda: ae().reconstruction_error(X),
    "Autoencoder.score": lambda: ae().score(X),
    "Autoencoder.loss": lambda: ae().loss(X),
    "Autoencoder.encoder_jacobian": lambda: ae().encoder_jacobian(X),
    "VAE.encode": lambda: vae().encode(X),
    "VAE.sample": lambda: vae().sample(3),
    "VAE.score": lambda: vae().score(X),
    "Stacked.transform": lambda: stacked().transform(X),
    "GMM.predict": lambda: gmm().predict(X),
    "GMM.score": lambda: gmm().score(X),
    "GMM.sample": lambda: gmm().sample(2),
    "GMM.bic": lambda: gmm().bic(X),
    "Probe.predict": lambda: probe().predict(X),
    "Probe.score": lambda: probe().score(X, Y),
}
for key, call in BEFORE_FIT.items():
    case(f"before-fit-{key}", call, (npae.NotFittedError, "not fitted yet"))
case("before-fit-Autoencoder.save", lambda tmp: ae().save(tmp / "m.npz"),
     (npae.NotFittedError, "not fitted yet"), check=None)
case("before-fit-gradcheck.check_model", lambda: npae.gradcheck.check_model(ae(), X),
     (npae.NotFittedError, "fit"))
_x3 = np.linspace(0.1, 0.9, 3)
case("gradcheck-complex-forward-output", lambda: npae.gradcheck.check_vjp(
    lambda x: np.sin(x) + 1j, lambda G, x: G * np.cos(x), _x3),
     (TypeError, "forward's output is complex"))
case("gradcheck-complex-backward", lambda: npae.gradcheck.check_vjp(
    np.sin, lambda G, x: G * np.cos(x) + 0j, _x3), (TypeError, "backward's gradient for x"))
case("gradcheck-complex-input", lambda: npae.gradcheck.check_vjp(
    np.sin, lambda G, x: G * np.cos(x), _x3 + 0j), (TypeError, "input x is complex"))
case("gradcheck-below-resolution-is-not-passed", lambda: npae.gradcheck.check_vjp(
    lambda w: 2e5 + 1e-7 * np.sum(np.sin(w)), lambda G, w: -G * 1e-7 * np.cos(w), _x3,
    upstream=np.array(1.0)), (npae.gradcheck.GradientCheckError, "cannot judge"))

# ---------------------------------------------------------------- fitted methods, refits
FITTED = ae().fit(X)
FITTED_VAE = vae().fit(X)
case("transform-other-width", lambda: FITTED.transform(X[:, :4]),
     (ValueError, "X must have 6 columns"))
case("transform-complex", lambda: FITTED.transform(X + 0j), (ValueError, "complex"))
case("transform-nan", lambda: FITTED.transform(X * np.nan), (ValueError, "NaN or infinite"))
case("transform-outside-[0,1]-allowed", lambda: FITTED.transform(X * 3))
case("score-outside-[0,1]-refused", lambda: FITTED.score(X * 3),
     (ValueError, r"X must lie in \[0, 1\]"))
case("inverse_transform-wrong-width", lambda: FITTED.inverse_transform(X),
     (ValueError, "Z must have 3 columns"))
case("transform-batch-equals-rows", lambda: np.array_equal(FITTED.transform(X)[:5],
                                                           FITTED.transform(X[:5])),
     check=lambda same: same)
case("refit-another-width", lambda: ae().fit(X).fit(X[:, :4]).transform(X[:, :4]).shape,
     check=lambda shape: shape == (24, 3))
case("refit-another-width-old-width-refused", lambda: ae().fit(X).fit(X[:, :4]).transform(X),
     (ValueError, "X must have 4 columns"))
case("set_params-architecture-after-fit", lambda: ae().fit(X).set_params(
    hidden_layer_sizes=(2,)).transform(X), (npae.NotFittedError, "hidden_layer_sizes was changed"))
case("loss_and_grads-unknown-term", lambda: FITTED.loss_and_grads(X, terms=["bogus"]),
     (ValueError, "terms must be a subset"))
case("loss_and_grads-bad-noise", lambda: FITTED.loss_and_grads(X, noise=np.zeros(3)),
     (ValueError, "noise must be None or a record"))
case("VAE-noise-wrong-shape", lambda: FITTED_VAE.loss_and_grads(X, noise=np.zeros((24, 5))),
     (ValueError, "noise ε must have 2 columns"))
case("VAE-sample-0", lambda: FITTED_VAE.sample(0), (ValueError, "n must be an integer >= 1"))
case("VAE-sample-2.5", lambda: FITTED_VAE.sample(2.5), (ValueError, "n must be an integer >= 1"))
case("VAE-interpolate-bad-method", lambda: FITTED_VAE.interpolate(X[0], X[1], method="cubic"),
     (ValueError, "method"))
case("initialize-0-features", lambda: ae().initialize(0),
     (ValueError, "n_features must be an integer >= 1"))
case("initialize-string-features", lambda: ae().initialize("6"),
     (ValueError, "n_features must be an integer"))
case("GMM-sample-0", lambda: gmm().fit(X).sample(0),
     (ValueError, "n_samples must be an integer >= 1"))
case("GMM-constant-data-no-ridge", lambda: gmm(reg_covar=0.0, covariance_type="diag").fit(
    np.full((10, 3), 0.5)), (ValueError, "increase reg_covar"))

# ---------------------------------------------------------------- saving
case("save-to-directory", lambda tmp: FITTED.save(tmp), (IsADirectoryError, "is a directory"))
case("save-under-a-file",
     lambda tmp: (tmp / "f").write_text("x") and FITTED.save(tmp / "f" / "sub" / "m.npz"),
     (NotADirectoryError, "f is a file, not a folder"))
case("save-over-existing-file", lambda tmp: (tmp / "m.npz").write_text("old") and np.array_equal(
    npae.load(FITTED.save(tmp / "m.npz")).transform(X), FITTED.transform(X)), check=lambda ok: ok)


def _killed_mid_write(tmp):
    path = FITTED.save(tmp / "m.npz")
    before = path.read_bytes()
    real = np.savez

    def dying(f, **arrays):
        f.write(b"half a file")
        raise KeyboardInterrupt

    np.savez = dying
    try:
        FITTED.save(path)
    except KeyboardInterrupt:
        pass
    finally:
        np.savez = real
    return path.read_bytes() == before and sorted(os.listdir(tmp)) == ["m.npz"]


case("save-killed-mid-write-keeps-old-file", _killed_mid_write, check=lambda ok: ok)

# ---------------------------------------------------------------- checkpoints


def _write(tmp, data, name="c.npz"):
    (tmp / name).write_bytes(data)
    return tmp / name


def _npz_bytes(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _good_bytes(tmp):
    return FITTED.save(tmp / "good.npz").read_bytes()


CKPT = {
    "missing-file": (lambda tmp: npae.load(tmp / "nope.npz"), (FileNotFoundError, "nope.npz")),
    "empty-file": (lambda tmp: npae.load(_write(tmp, b"")), (CheckpointError, "not a zip")),
    "random-bytes": (lambda tmp: npae.load(_write(tmp, os.urandom(100))),
         (CheckpointError, "not a zip")),
    "npy-file": (lambda tmp: npae.load(_write(tmp, b"\x93NUMPY")), (CheckpointError, "not a zip")),
    "zip-without-metadata": (lambda tmp: npae.load(_write(tmp, _npz_bytes(a=np.zeros(2)))),
                             (CheckpointError, "no __npae__ entry")),
    "pickle-bearing": (lambda tmp: npae.load(_write(tmp, _npz_bytes(
        __npae__=np.array([{"x": 1}], dtype=object)))), (CheckpointError, "never loads pickled")),
    "truncated": (lambda tmp: npae.load(_write(tmp, _good_bytes(tmp)[:300])),
                  (CheckpointError, "not a readable")),
    "directory": (lambda tmp: npae.load(tmp), (CheckpointError, "is a directory")),
    "wrong-class-for-loader": (lambda tmp: npae.VAE.load(FITTED.save(tmp / "m.npz")),
                               (CheckpointError, "holds a Autoencoder, not a VAE")),
    "a-raw-pickle": (lambda tmp: npae.load(_write(tmp, pickle.dumps(FITTED))),
                     (CheckpointError, "not a zip")),
}
for key, (call, expected) in CKPT.items():
    case(f"load-{key}", call, expected)


def _bitflip(tmp):
    path = FITTED.save(tmp / "m.npz")
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        offset = z.getinfo("enc.0.W.npy").header_offset + 150
    data[offset] ^= 0x55
    path.write_bytes(bytes(data))
    return npae.load(path)


case("load-bit-flipped", _bitflip, (CheckpointError, "not a readable"))

# ---------------------------------------------------------------- IDX files and loaders


def _idx(tmp, data, name="f-idx1-ubyte"):
    (tmp / name).write_bytes(data)
    return datasets.read_idx(tmp / name)


GOOD_IDX = bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes([1, 2, 3])
IDX = {
    "good": (lambda tmp: _idx(tmp, GOOD_IDX).tolist(), WORKS, lambda v: v == [1, 2, 3]),
    "empty": (lambda tmp: _idx(tmp, b""), (ValueError, "truncated IDX file"), None),
    "bad-magic": (lambda tmp: _idx(tmp, b"\x01\x00" + GOOD_IDX[2:]), (ValueError, "magic"), None),
    "bad-type-code": (lambda tmp: _idx(tmp, GOOD_IDX[:2] + b"\x42" + GOOD_IDX[3:]),
                      (ValueError, "unknown IDX type code"), None),
    "truncated-body": (lambda tmp: _idx(tmp, GOOD_IDX[:-1]),
         (ValueError, "truncated IDX file"), None),
    "trailing-bytes": (lambda tmp: _idx(tmp, GOOD_IDX + b"\x00"),
         (ValueError, "trailing bytes"), None),
    "corrupt-gzip": (lambda tmp: _idx(tmp, gzip.compress(GOOD_IDX)[:-6], "f.gz"),
                     (ValueError, "bad gzip file"), None),
    "checksum-mismatch": (lambda tmp: (tmp / "f").write_bytes(GOOD_IDX) and datasets.read_idx(
        tmp / "f", sha256="0" * 64), (ValueError, "SHA-256"), None),
}
for key, (call, expected, check) in IDX.items():
    case(f"idx-{key}", call, expected, check)

LOADERS = {
    "unknown-name": (lambda tmp: datasets.load("imagenet"), "unknown dataset name 'imagenet'"),
    "split-list": (lambda tmp: datasets.load_mnist(split=["train"], data_dir=tmp),
         "split must be one of"),
    "dtype-banana": (lambda tmp: datasets.load_mnist(dtype="banana", data_dir=tmp),
                     "dtype must be a NumPy dtype"),
    "glyph-n-0": (lambda tmp: datasets.load_glyph_digits(0), "n must be an integer >= 1"),
    "glyph-dtype-int": (lambda tmp: datasets.load_glyph_digits(5, dtype=np.int32),
                        "dtype must be a floating type"),
    "glyph-dtype-banana": (lambda tmp: datasets.load_glyph_digits(5, dtype="banana"),
                           "dtype must be a NumPy dtype"),
    "load-n-float": (lambda tmp: datasets.load("glyphs", n=2.5), "n must be an integer >= 1"),
    "manifold-unknown": (lambda tmp: datasets.make_manifold("torus"), "torus"),
    "download-unknown": (lambda tmp: datasets.download("cifar", data_dir=tmp),
         "unknown dataset name"),
    "download-mirrors-int": (lambda tmp: datasets.download("mnist", data_dir=tmp, mirrors=5),
                             "mirrors must be a base URL"),
    "download-mirrors-empty": (lambda tmp: datasets.download("mnist", data_dir=tmp, mirrors=[]),
                               "mirrors must list at least one"),
}
for key, (call, match) in LOADERS.items():
    case(f"loader-{key}", call, (ValueError, match))
case("loader-name-not-a-string", lambda tmp: datasets.load(5),
     (TypeError, "name must be a data set name"))
case("loader-not-found", lambda tmp: datasets.load_mnist(data_dir=tmp / "none"),
     (FileNotFoundError, "mnist .train split. not found"))


def _refused_leaves_nothing(tmp):
    with pytest.raises(OSError, match="127.0.0.1:1.*Connection refused"):
        datasets.download("mnist", data_dir=tmp / "d", mirrors=["http://127.0.0.1:1/"],
                          progress=False)
    return list(tmp.rglob("*")) == [tmp / "d"] and not any((tmp / "d").iterdir())


case("download-refused-connection-leaves-nothing", _refused_leaves_nothing, check=lambda ok: ok)

# ---------------------------------------------------------------- command line
CLI = {
    "no-command": ([], 2),
    "unknown-command": (["bogus"], 2),
    "train-unknown-model": (["train", "bogus"], 2),
    "train-epochs-0": (["train", "autoencoder", "--epochs", "0"], 2),
    "train-lr-nan": (["train", "autoencoder", "--lr", "nan"], 2),
    "train-hidden-letters": (["train", "autoencoder", "--hidden", "a,b"], 2),
    "train-unknown-set": (["train", "autoencoder", "--set", "bogus=1", "--out", "{tmp}"], 2),
    "train-set-activation-5": (["train", "autoencoder", "--set", "activation=5", "--out",
         "{tmp}"], 2),
    "train-set-without-equals": (["train", "autoencoder", "--set", "noequals"], 2),
    "train-diverges": (["train", "autoencoder", "--lr", "1e39", "--set", "optimizer=\"sgd\"",
                        "--epochs", "1", "--out", "{tmp}"], 1),
    "train-unknown-dataset": (["train", "autoencoder", "--dataset", "cifar"], 2),
    "gradcheck-unknown-model": (["gradcheck", "bogus"], 2),
    "gradcheck-bad-set": (["gradcheck", "autoencoder", "--set", "activation=5"], 2),
    "gradcheck-bad-function": (["gradcheck", "--function", "nofile.py:f:g"], 2),
    "gradcheck-low-minus-inf": (["gradcheck", "--function", "nofile.py:f:g", "--shape", "3",
                                 "--low=-inf"], 2),
    "gradcheck-high-inf": (["gradcheck", "--function", "nofile.py:f:g", "--shape", "3",
                            "--high", "inf"], 2),
    "gradcheck-range-overflows": (["gradcheck", "--function", "nofile.py:f:g", "--shape", "3",
                                   "--low=-1e308", "--high", "1e308"], 2),
    "gradcheck-time-limit-0": (["gradcheck", "sparse", "--time-limit", "0"], 2),
    "download-unknown": (["download", "cifar"], 2),
    "download-bad-mirror": (["download", "mnist", "--data-dir", "{tmp}", "--mirror",
                             "http://127.0.0.1:1/"], 1),
    "demo-epochs-0": (["demo", "--epochs", "0"], 2),
    "demo-unknown-dataset": (["demo", "--dataset", "cifar", "--out", "{tmp}"], 2),
}


def _cli(argv, tmp, monkeypatch_data):
    argv = [a.replace("{tmp}", str(tmp / "out")) for a in argv]
    with monkeypatch_data():
        return cli.main(argv)


for key, (argv, status) in CLI.items():
    case(f"cli-{key}", ("cli", argv), WORKS, check=lambda code, s=status: code == s)


# ---------------------------------------------------------------- the test
class _SmallData:
    """The CLI's data loader replaced by 24 glyph-sized rows (the table stays fast)."""

    def __init__(self, monkeypatch):
        self.monkeypatch = monkeypatch

    def __call__(self):
        return self

    def __enter__(self):
        def small(name):
            if name not in ("auto", "glyphs", "mnist", "glyph-digits"):
                raise cli.UsageError(f"unknown dataset {name!r}")
            A = np.random.default_rng(0).uniform(size=(24, 784)).astype(np.float32)
            return A, Y, A, Y, "glyph-digits", ""
        self.monkeypatch.setattr(cli, "_load_data", small)
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("call, expected, check", CASES)
def test_fuzz(call, expected, check, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("NPAE_MIRRORS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    if isinstance(call, tuple) and call[0] == "cli":
        run = lambda: _cli(call[1], tmp_path, _SmallData(monkeypatch))   # noqa: E731
    elif call.__code__.co_argcount - len(call.__defaults__ or ()) == 1:   # wants tmp
        run = lambda: call(tmp_path)                                      # noqa: E731
    else:
        run = call
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)      # overflow cases overflow
        if expected == WORKS:
            result = run()
            if check is not None:
                assert check(result), f"unexpected result {result!r}"
        else:
            kind, match = expected
            with pytest.raises(kind, match=match):
                run()
    if isinstance(call, tuple):
        err = capsys.readouterr().err
        assert "Traceback" not in err
        if check is not None and call[1] and not check(0):
            assert err.startswith("error:") or "usage" in err, err
