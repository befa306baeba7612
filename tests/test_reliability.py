"""Issue 13: the promises of the README kept under bad inputs and diverging training.

One section per class of failure the fuzz found, each parametrized over its siblings:
the divergence guard (non-finite parameters after an update, the loss exploding, the
float32 sum that overflows, Adam's moments), stacked and refit divergence, set_params
after fit, complex input, numpy integer hyperparameters, malformed checkpoints, and
scikit-learn's estimator conventions. Downloads: tests/test_datasets.py; the probe's
scale: tests/test_probe.py; wrong-type hyperparameters: tests/test_fuzz.py.
"""
import json
import warnings
import zipfile

import numpy as np
import pytest

import npae
from npae.persistence import META_KEY, CheckpointError
from npae.training import TrainingDiverged, _all_finite

RNG = np.random.default_rng(0)
X01 = RNG.uniform(size=(64, 8)).astype(np.float32)


def _finite(model):
    return all(np.isfinite(p).all() for p in model.params_.values())


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # the overflow is the point of these tests
        return fn(*args, **kwargs)


# --------------------------------------------------------------------------- 1. the guard

@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("batch_size", [64, 16])
@pytest.mark.parametrize("cls", [npae.Autoencoder, npae.VAE])
def test_an_update_that_overflows_stops_and_restores_the_starting_parameters(
        cls, optimizer, batch_size):
    """lr 1e39 makes the first update non-finite: TrainingDiverged, and the model holds
    exactly the parameters it started from (those of initialize with the same seed)."""
    kw = dict(optimizer=optimizer, learning_rate=1e39, batch_size=batch_size, epochs=1,
              random_state=0, verbose=False)
    kw.update(hidden_layer_sizes=(4,)) if cls is npae.Autoencoder else kw.update(
        hidden_layer_sizes=(4,), latent_dim=2)
    m = cls(**kw)
    with pytest.raises(TrainingDiverged, match="restored to the parameters it started from"):
        _quiet(m.fit, X01)
    start = cls(**kw).initialize(X01.shape[1])
    assert _finite(m)
    assert all(np.array_equal(m.params_[k], start.params_[k]) for k in start.params_)


class _Planted(npae.Autoencoder):
    """Records the parameters each step sees; at call ``bad_step`` returns a bad loss
    (``mode="loss"``, ``"explode"``) or gradients that make the update overflow
    (``"update"``, ``"moments"``). Only that one call: the guard's replay of the good steps
    calls the model again and must see the clean steps."""

    bad_step, mode, seen = None, "loss", None

    def loss_and_grads(self, X, noise=None, terms=None, params=None):
        loss, values, grads = super().loss_and_grads(X, noise, terms, params)
        self.calls = getattr(self, "calls", 0) + 1
        if self.seen is not None:
            self.seen.append({k: p.copy() for k, p in self.params_.items()})
        if self.calls == self.bad_step:
            if self.mode == "loss":
                loss = float("nan")
            elif self.mode == "explode":
                loss = 1e9
            elif self.mode == "update":
                grads = {k: np.full_like(g, -np.inf) for k, g in grads.items()}
            elif self.mode == "moments":                # g² overflows float32, g does not
                grads = {k: np.full_like(g, 1e20) for k, g in grads.items()}
        return loss, values, grads


def _planted(bad_step=None, mode="loss", seen=None, optimizer="adam", lr=1e-3):
    m = _Planted((4,), optimizer=optimizer, learning_rate=lr, batch_size=16, epochs=3,
                 random_state=0, verbose=False)
    m.bad_step, m.mode, m.seen = bad_step, mode, seen
    return m


# step K (1-based, 4 batches per epoch) turns bad; the last good parameters are those
# after `good` updates: K - 2 for a bad loss (it condemns θ_{K−1}), K - 1 for a bad update
GUARD_CASES = [("loss", 1, 0), ("loss", 2, 0), ("loss", 3, 1), ("loss", 5, 3), ("loss", 6, 4),
               ("loss", 9, 7), ("explode", 7, 5), ("update", 1, 0), ("update", 4, 3),
               ("update", 5, 4), ("update", 10, 9)]


@pytest.mark.parametrize("mode, bad_step, good", GUARD_CASES)
def test_the_model_is_restored_to_the_last_good_parameters_and_optimizer_state(
        mode, bad_step, good):
    """Compared with a clean run: the restored parameters are bit-identical to the clean
    run's after ``good`` updates, and Adam's step count is ``good``."""
    clean = []
    _planted(seen=clean).fit(X01)                # clean[j]: parameters after j updates
    m = _planted(bad_step, mode)
    with pytest.raises(TrainingDiverged, match=f"batch {(bad_step - 1) % 4 + 1} of 4"):
        _quiet(m.fit, X01)
    assert _finite(m)
    assert all(np.array_equal(m.params_[k], clean[good][k]) for k in m.params_)
    assert m.optimizer_.t == good
    assert len(m.history_.get("loss", [])) == (bad_step - 1) // 4   # complete epochs only


def test_a_float32_sum_that_overflows_is_not_a_divergence():
    """Four entries of 3e38 are finite but sum to inf in float32: the guard must not fire."""
    big = np.full(4, 3e38, np.float32)
    with np.errstate(over="ignore"):
        assert np.isinf(big.sum()) and _all_finite([big])
    assert not _all_finite([np.array([1.0, np.nan], np.float32)])
    m = _Planted((4,), optimizer="sgd", learning_rate=1e-45, batch_size=64, epochs=1,
                 random_state=0, verbose=False)
    m.bad_step, m.mode = 1, "moments"            # gradients of 1e20 (their sum overflows)
    _quiet(m.fit, X01)                           # lr·g ≈ 0: nothing diverges
    assert _finite(m)


def test_adam_moments_that_overflow_stop_training_at_the_end_of_the_epoch():
    """g = 1e20 keeps θ finite (m/√s = 0), but s = g² = inf freezes Adam for good."""
    m = _planted(3, "moments")
    with pytest.raises(TrainingDiverged, match="moments"):
        _quiet(m.fit, X01)
    assert all(np.isfinite(a).all() for a in m.optimizer_.s_scaled.values())


def test_divergence_on_the_last_update_is_caught():
    """Issue 13: Gaussian AE, identity, SGD lr 0.1, 3 epochs, X in [1, 19]: the losses
    392 -> 9.3e7 -> 1.7e26 used to return with score -inf; now the explosion stops it and
    the model left behind scores and reconstructs finitely."""
    X = np.random.default_rng(1).uniform(1, 19, size=(64, 8)).astype(np.float32)
    m = npae.Autoencoder((4,), activation="identity", output="gaussian", optimizer="sgd",
                         learning_rate=0.1, batch_size=64, epochs=3, random_state=0,
                         verbose=False)
    with pytest.raises(TrainingDiverged, match="exploded"):
        _quiet(m.fit, X)
    print("history kept:", m.history_["loss"], "score:", m.score(X))
    assert np.isfinite(m.score(X)) and np.isfinite(m.reconstruct(X)).all()


# --------------------------------------------------------------------------- 4. stacked, refit

def test_a_diverged_stage_keeps_the_restored_stack():
    """Issue 19: like every model whose training diverged, the stack keeps the parameters
    training restored (stage 1 at its last good ones, fresh layers above) and says so."""
    m = npae.StackedAutoencoder((4, 2), learning_rate=1e39, optimizer="sgd", pretrain_epochs=1,
                                epochs=1, random_state=0, verbose=False)
    with pytest.raises(TrainingDiverged, match="pretraining stage 1 of 2"):
        _quiet(m.fit, X01)
    assert m.n_features_in_ == X01.shape[1] and _finite(m)
    assert m.transform(X01).shape == (64, 2)


@pytest.mark.parametrize("cls", [npae.StackedAutoencoder, npae.Autoencoder])
def test_a_diverged_refit_on_another_width_leaves_a_consistent_model(cls):
    """Both keep the new fit's last good parameters (stacked: the restored stage, issue 19),
    with n_features_in_ agreeing; transform works on the right width."""
    m = cls((4, 2), epochs=1, random_state=0, verbose=False, batch_size=16)
    m.fit(X01)
    before = {k: p.copy() for k, p in m.params_.items()}
    X7 = X01[:, :7]
    m.set_params(learning_rate=1e39, optimizer="sgd")
    with pytest.raises(TrainingDiverged):
        _quiet(m.fit, X7)
    width = m.params_["enc.0.W"].shape[0]
    assert m.n_features_in_ == width and _finite(m)
    assert width == 7 and before["enc.0.W"].shape[0] == 8
    assert m.transform(X01[:, :width]).shape == (64, 2)
    with pytest.raises(ValueError, match=f"X must have {width} columns"):
        m.transform(X01[:, :width - 1])


# --------------------------------------------------------------------------- 2. set_params after fit

CHANGES = [
    (npae.Autoencoder, dict(hidden_layer_sizes=(4,)), dict(hidden_layer_sizes=(5,))),
    (npae.Autoencoder, dict(hidden_layer_sizes=(4,)), dict(tied_weights=True)),
    (npae.Autoencoder, dict(hidden_layer_sizes=(4,)), dict(activation="tanh")),
    (npae.Autoencoder, dict(hidden_layer_sizes=(4,)), dict(output="gaussian")),
    (npae.Autoencoder, dict(hidden_layer_sizes=(4, 2)), dict(decoder_layer_sizes=(3,))),
    (npae.Autoencoder, dict(hidden_layer_sizes=(4,)), dict(dtype="float64")),
    (npae.VAE, dict(hidden_layer_sizes=(4,), latent_dim=2, output="gaussian"),
     dict(decoder_variance="learned")),
    (npae.VAE, dict(hidden_layer_sizes=(4,), latent_dim=2), dict(latent_dim=3)),
    (npae.StackedAutoencoder, dict(hidden_layer_sizes=(4, 2), pretrain_epochs=1),
     dict(hidden_layer_sizes=(4, 3))),
]


@pytest.mark.parametrize("cls, kw, change", CHANGES,
                         ids=[f"{c.__name__}-{next(iter(ch))}" for c, _, ch in CHANGES])
def test_an_architecture_change_after_fit_is_refused_by_name_and_nothing_is_saved(
        cls, kw, change, tmp_path):
    m = cls(**kw, epochs=1, random_state=0, verbose=False).fit(X01)
    m.set_params(**change)
    name = next(iter(change))
    for method in ("transform", "reconstruct", "score"):
        with pytest.raises(npae.NotFittedError, match=f"{name} was changed.*fit"):
            getattr(m, method)(X01)
    with pytest.raises(npae.NotFittedError, match=name):
        m.save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []
    m.set_params(**{name: kw.get(name, cls().get_params()[name])})   # set back: usable again
    assert np.isfinite(m.score(X01))


@pytest.mark.parametrize("change", [dict(weight_decay=0.01), dict(epochs=3),
                                    dict(learning_rate=0.5), dict(k_alpha=1.0)])
def test_other_settings_may_change_after_fit_and_the_file_loads(change, tmp_path):
    m = npae.Autoencoder((4,), epochs=1, random_state=0, verbose=False).fit(X01)
    m.set_params(**change)
    back = npae.load(m.save(tmp_path / "m.npz"))
    assert back.get_params() == m.get_params()
    np.testing.assert_array_equal(back.transform(X01), m.transform(X01))


def test_an_invalid_setting_after_fit_is_refused_by_save(tmp_path):
    m = npae.Autoencoder((4,), epochs=1, random_state=0, verbose=False).fit(X01)
    m.set_params(learning_rate=float("nan"))
    with pytest.raises(ValueError, match="learning_rate"):
        m.save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- 3. complex input

Z = (X01 + 1j * X01).astype(np.complex64)
COMPLEX_CALLS = {
    "Autoencoder.fit": lambda: npae.Autoencoder((2,), epochs=1, verbose=False).fit(Z),
    "Autoencoder.transform": lambda: _fitted_ae().transform(Z),
    "Autoencoder.score": lambda: _fitted_ae().score(Z),
    "Autoencoder.fit(X_val)": lambda: npae.Autoencoder((2,), epochs=1, verbose=False).fit(
        X01, X_val=Z),
    "VAE.fit": lambda: npae.VAE((2,), latent_dim=2, epochs=1, verbose=False).fit(Z),
    "StackedAutoencoder.fit": lambda: npae.StackedAutoencoder((2, 2), verbose=False).fit(Z),
    "GaussianMixture.fit": lambda: npae.GaussianMixture(2).fit(Z),
    "GaussianMixture.score": lambda: npae.GaussianMixture(2).fit(X01).score(Z),
    "LinearProbe.fit": lambda: npae.LinearProbe().fit(Z, np.arange(64) % 2),
    "LinearProbe.predict": lambda: npae.LinearProbe().fit(X01, np.arange(64) % 2).predict(Z),
}


def _fitted_ae():
    return npae.Autoencoder((2,), epochs=1, random_state=0, verbose=False).fit(X01)


@pytest.mark.parametrize("call", COMPLEX_CALLS)
def test_complex_input_is_refused_by_name(call):
    with pytest.raises(ValueError, match="must hold real numbers, got complex"):
        COMPLEX_CALLS[call]()


# --------------------------------------------------------------------------- 5. numpy scalars

def test_numpy_integer_and_float_hyperparameters_save_and_load(tmp_path):
    m = npae.Autoencoder((np.int64(4), np.int32(2)), batch_size=np.int64(16),
                         epochs=np.int16(1), learning_rate=np.float32(1e-3),
                         weight_decay=np.float64(0.0), random_state=np.int64(3),
                         verbose=np.bool_(False)).fit(X01)
    back = npae.load(m.save(tmp_path / "np.npz"))
    assert back.hidden_layer_sizes == (4, 2) and back.batch_size == 16
    np.testing.assert_array_equal(back.transform(X01), m.transform(X01))
    s = npae.StackedAutoencoder((np.int64(3), 2), layer_options={"k": np.int64(2)},
                                pretrain_epochs=1, epochs=0, verbose=False).fit(X01)
    assert npae.load(s.save(tmp_path / "s.npz")).layer_options == {"k": 2}


# --------------------------------------------------------------------------- 6. corrupt checkpoints

@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("ck") / "ae.npz"
    npae.Autoencoder((3,), epochs=1, random_state=0, verbose=False).fit(X01).save(path)
    with np.load(path) as d:
        arrays = {k: d[k] for k in d.files}
    return arrays, json.loads(str(arrays[META_KEY]))


def _del(*keys):
    def f(meta):
        target = meta
        for k in keys[:-1]:
            target = target[k]
        del target[keys[-1]]
    return f


def _set(value, *keys):
    def f(meta):
        target = meta
        for k in keys[:-1]:
            target = target[k]
        target[keys[-1]] = value
    return f


META_CASES = {
    "no hyperparameters": (_del("hyperparameters"), "no 'hyperparameters' field"),
    "no extra": (_del("extra"), "no 'extra' field"),
    "no history": (_del("history"), "no 'history' field"),
    "no class": (_del("class"), "no 'class' field"),
    "no n_features": (_del("extra", "n_features"), "n_features"),
    "n_features 'six'": (_set("six", "extra", "n_features"), "n_features must be a positive"),
    "n_features 0": (_set(0, "extra", "n_features"), "n_features must be a positive"),
    "hyperparameters a list": (_set([], "hyperparameters"), "'hyperparameters' must be"),
    "history a list": (_set([1, 2], "history"), "'history' must be"),
    "history entry not a list": (_set({"loss": 3}, "history"), "history entry 'loss'"),
    "extra a list": (_set([], "extra"), "'extra' must be"),
    "class a number": (_set(5, "class"), "'class' must be"),
    "unknown class": (_set("Transformer", "class"), "unknown model class"),
    "unknown hyperparameter": (_set(1, "hyperparameters", "bogus"), "unknown hyperparameter"),
    "bad hyperparameter value": (_set([0], "hyperparameters", "hidden_layer_sizes"),
                                 r"hidden_layer_sizes\[0\]"),
    "bad activation": (_set(None, "hyperparameters", "activation"), "activation must be"),
    "other width": (_set([5], "hyperparameters", "hidden_layer_sizes"), "shapes do not match"),
    "format 2": (_set(2, "format"), "checkpoint format 2"),
    "bad data_range": (_set("x", "extra", "data_range"), "extra"),
}


@pytest.mark.parametrize("case", META_CASES)
def test_a_malformed_metadata_field_raises_checkpoint_error_naming_the_file(saved, case,
                                                                           tmp_path):
    arrays, meta = saved
    change, match = META_CASES[case]
    meta = json.loads(json.dumps(meta))
    change(meta)
    path = tmp_path / "bad.npz"
    np.savez(path, **{**arrays, META_KEY: np.array(json.dumps(meta))})
    with pytest.raises(CheckpointError, match=match) as info:
        npae.load(path)
    assert str(path) in str(info.value)


ARRAY_CASES = {
    "meta not JSON": ({META_KEY: np.array("{not json")}, "not valid JSON"),
    "meta a JSON list": ({META_KEY: np.array("[1, 2]")}, "must be a JSON object"),
    "meta an int array": ({META_KEY: np.arange(3)}, "must be one JSON string"),
    "complex parameter": ({"enc.0.W": np.ones((8, 3), np.complex64)}, "dtype complex64"),
    "integer parameter": ({"enc.0.W": np.ones((8, 3), np.int32)}, "dtype int32"),
    "NaN parameter": ({"enc.0.b": np.array([0.0, np.nan, 0.0])}, "NaN or infinite"),
    "wrong shape": ({"enc.0.b": np.zeros(4)}, r"enc.0.b \(4,\)"),
    "extra parameter": ({"enc.9.W": np.zeros(3)}, "unexpected \\['enc.9.W'\\]"),
}


@pytest.mark.parametrize("case", ARRAY_CASES)
def test_a_malformed_array_raises_checkpoint_error_naming_the_file(saved, case, tmp_path):
    arrays, _ = saved
    change, match = ARRAY_CASES[case]
    path = tmp_path / "bad.npz"
    np.savez(path, **{**arrays, **change})
    with pytest.raises(CheckpointError, match=match) as info:
        npae.load(path)
    assert str(path) in str(info.value)


def test_missing_parameter_truncated_bitflipped_and_directory(saved, tmp_path):
    arrays, _ = saved
    good = tmp_path / "good.npz"
    np.savez(good, **arrays)
    data = good.read_bytes()
    missing = tmp_path / "missing.npz"
    np.savez(missing, **{k: v for k, v in arrays.items() if k != "dec.0.W"})
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    flipped = tmp_path / "flipped.npz"
    with zipfile.ZipFile(good) as z:
        offset = z.getinfo("enc.0.W.npy").header_offset + 200   # inside the stored data
    flipped.write_bytes(data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1:])
    for path, match in [(missing, r"missing \['dec.0.W'\]"), (truncated, "not a readable"),
                        (flipped, "not a readable"), (tmp_path, "is a directory")]:
        with pytest.raises(CheckpointError, match=match) as info:
            npae.load(path)
        assert str(path) in str(info.value)


# --------------------------------------------------------------------------- estimator conventions

FITTABLE = [
    lambda: npae.Autoencoder((3,), epochs=1, verbose=False),
    lambda: npae.VAE((3,), latent_dim=2, epochs=1, verbose=False),
    lambda: npae.StackedAutoencoder((3, 2), pretrain_epochs=1, epochs=1, verbose=False),
    lambda: npae.SparseAutoencoder((3,), epochs=1, verbose=False),
    lambda: npae.DenoisingAutoencoder((3,), epochs=1, verbose=False),
    lambda: npae.GaussianMixture(2, random_state=0),
]


@pytest.mark.parametrize("make", FITTABLE, ids=lambda f: type(f()).__name__)
def test_fit_takes_and_ignores_y_returns_self_and_sets_n_features_in(make):
    est = make()
    assert not hasattr(est, "n_features_in_")
    assert est.fit(X01, np.arange(64) % 3) is est
    assert est.n_features_in_ == 8
    if hasattr(est, "transform"):
        np.testing.assert_array_equal(make().set_params(random_state=0).fit_transform(X01),
                                      make().set_params(random_state=0).fit(X01).transform(X01))


def test_validation_data_is_keyword_only_and_old_positional_calls_are_caught():
    m = npae.Autoencoder((3,), epochs=2, random_state=0, verbose=False)
    assert "val_loss" in m.fit(X01, X_val=X01[:10]).history_
    with pytest.raises(TypeError, match="fit\\(X, X_val=...\\)"):
        m.fit(X01, X01[:10])                      # old style: 10 rows cannot be labels of 64
    assert "val_loss" not in m.fit(X01, np.arange(64)).history_     # labels: ignored


@pytest.mark.parametrize("make", [lambda: npae.Autoencoder(), lambda: npae.VAE(),
                                  lambda: npae.GaussianMixture(), lambda: npae.LinearProbe()],
                         ids=["Autoencoder", "VAE", "GaussianMixture", "LinearProbe"])
def test_not_fitted_error_is_a_value_error_and_an_attribute_error(make):
    est = make()
    call = est.predict if isinstance(est, (npae.GaussianMixture, npae.LinearProbe)) \
        else est.transform
    for kind in (npae.NotFittedError, ValueError, AttributeError):
        with pytest.raises(kind, match="not fitted yet"):
            call(X01)


def test_repr_shows_only_non_defaults_and_get_params_accepts_deep():
    m = npae.Autoencoder((8, 2), activation="tanh", verbose=False)
    assert repr(m) == "Autoencoder(hidden_layer_sizes=(8, 2), activation='tanh', verbose=False)"
    assert repr(npae.GaussianMixture()) == "GaussianMixture()"
    assert m.get_params(deep=False) == m.get_params(deep=True) == m.get_params()


def test_a_model_whose_validation_loss_was_inf_still_saves(tmp_path):
    m = npae.Autoencoder((3,), output="gaussian", epochs=1, random_state=0,
                         verbose=False).fit(X01)
    m.history_["val_loss"] = [float("inf")]
    assert npae.load(m.save(tmp_path / "m.npz")).history_["val_loss"] == [float("inf")]
