"""npae.Autoencoder: gradient checks over its configurations, forward-versus-equation
tests (tied = sum of untied, linear AE = PCA subspace), estimator conventions, errors."""
import itertools
import warnings

import numpy as np
import pytest

import npae
from npae.gradcheck import check_model
from npae.training import TrainingDiverged

rng = np.random.default_rng(3)
X01 = rng.uniform(0.05, 0.95, size=(4, 6))


def _model(sizes, bias_seed=1, **kw):
    kw.setdefault("dtype", "float64")
    kw.setdefault("random_state", 0)
    m = npae.Autoencoder(sizes, **kw).initialize(X01.shape[1])
    r = np.random.default_rng(bias_seed)
    for k, v in m.params_.items():             # non-zero biases: a generic point
        if k.endswith(".b"):
            v += r.normal(scale=0.3, size=v.shape)
    return m


def _smooth_relu_model(sizes, margin=0.02, **kw):
    """The first bias draw whose ReLU pre-activations all keep ``margin`` from the kink."""
    for bias_seed in range(1, 200):
        m = _model(sizes, bias_seed=bias_seed, activation="relu", **kw)
        if _relu_margin(m, X01) > margin:
            return m
    raise RuntimeError("no smooth point found")


def _relu_margin(model, X):
    """Smallest |pre-activation| of any ReLU unit on X."""
    from npae.network import run_layers
    enc, dec = model._layers()
    caches = run_layers(model.params_, enc, X)
    caches += run_layers(model.params_, dec, caches[-1].out)
    layers = enc + dec
    return min(np.abs(c.pre).min() for l, c in zip(layers, caches)
               if l.activation is not None and l.activation.name == "relu")


CONFIGS = list(itertools.product([(5,), (5, 3), (5, 4, 3)], [False, True],
                                 ["bernoulli", "gaussian"], ["sigmoid", "tanh", "relu"],
                                 [0.0, 0.1]))


@pytest.mark.parametrize("sizes,tied,output,activation,wd", CONFIGS)
def test_every_parameter_term_and_input_gradient_matches_central_differences(
        sizes, tied, output, activation, wd):
    """Depth 1-3, tied/untied, both outputs, three activations, weight decay on/off:
    each term alone, all terms together, every parameter array and the input."""
    kw = dict(output=output, tied_weights=tied, weight_decay=wd)
    m = _smooth_relu_model(sizes, **kw) if activation == "relu" else _model(sizes, activation=activation, **kw)
    eps = 1e-3
    if activation == "relu":
        # Smooth point: every ReLU pre-activation is at least 0.02 from the kink, while
        # the checker moves one entry by at most 2·eps = 2e-3, which shifts a
        # pre-activation by far less than 0.02 for these O(1) weights and inputs.
        assert _relu_margin(m, X01) > 0.02
    report = check_model(m, X01, eps=eps)
    assert report.max_rel_error <= 1e-7
    expected_terms = {"all"} | ({"recon", "weight_decay"} if wd else set())
    assert {r.term for r in report.rows} == expected_terms


def test_tied_gradient_equals_sum_of_the_two_untied_gradients():
    """At W_dec = W_encᵀ the tied model's dW is the encoder's plus the decoder's (B7)."""
    tied = _model((5, 3), activation="tanh", tied_weights=True)
    untied = _model((5, 3), activation="tanh", tied_weights=False)
    for k, v in tied.params_.items():
        untied.params_[k][...] = v
    untied.params_["dec.0.W"][...] = tied.params_["enc.1.W"].T
    untied.params_["dec.1.W"][...] = tied.params_["enc.0.W"].T
    lt, _, gt = tied.loss_and_grads(X01)
    lu, _, gu = untied.loss_and_grads(X01)
    assert lt == pytest.approx(lu, rel=1e-14)
    np.testing.assert_allclose(gt["enc.0.W"], gu["enc.0.W"] + gu["dec.1.W"].T, rtol=1e-12)
    np.testing.assert_allclose(gt["enc.1.W"], gu["enc.1.W"] + gu["dec.0.W"].T, rtol=1e-12)


def test_forward_matches_the_equations_for_a_one_layer_sigmoid_autoencoder():
    m = _model((3,), activation="sigmoid", output="bernoulli", weight_decay=0.2)
    p = m.params_
    h = 1 / (1 + np.exp(-(X01 @ p["enc.0.W"] + p["enc.0.b"])))
    a = h @ p["dec.0.W"] + p["dec.0.b"]
    xhat = 1 / (1 + np.exp(-a))
    bce = -np.sum(X01 * np.log(xhat) + (1 - X01) * np.log(1 - xhat)) / len(X01)
    wd = 0.1 * (np.sum(p["enc.0.W"] ** 2) + np.sum(p["dec.0.W"] ** 2))
    loss, values, _ = m.loss_and_grads(X01)
    assert values["recon"] == pytest.approx(bce, rel=1e-12)
    assert loss == pytest.approx(bce + wd, rel=1e-12)
    np.testing.assert_allclose(m.transform(X01), h, rtol=1e-12)
    np.testing.assert_allclose(m.reconstruct(X01), xhat, rtol=1e-12)
    np.testing.assert_allclose(m.reconstruction_error(X01).mean(), bce, rtol=1e-12)


def test_linear_autoencoder_decoder_spans_the_top_principal_subspace():
    """Baldi & Hornik: a linear AE's optimum spans PCA's top-H subspace; we require the
    largest principal angle under 1 degree on data with a clear spectral gap."""
    r = np.random.default_rng(0)
    D, H, N = 10, 3, 2000
    basis = np.linalg.qr(r.normal(size=(D, D)))[0]
    scales = np.array([3.0, 2.5, 2.0] + [0.1] * (D - 3))
    X = (r.normal(size=(N, D)) * scales) @ basis.T + 1.0     # a mean for the biases
    m = npae.Autoencoder((H,), activation="identity", output="gaussian", learning_rate=0.01,
                         batch_size=100, epochs=60, random_state=0, verbose=False).fit(X)
    components, _, _ = npae.pca(X, H)
    Q = np.linalg.qr(m.params_["dec.0.W"].T.astype(np.float64))[0]     # (D, H) decoder span
    cosines = np.linalg.svd(Q.T @ components.T, compute_uv=False)
    largest_angle = np.degrees(np.arccos(np.clip(cosines.min(), -1, 1)))
    assert largest_angle < 1.0


def test_same_random_state_gives_bit_identical_parameters():
    X = np.random.default_rng(5).uniform(size=(300, 12))
    kw = dict(hidden_layer_sizes=(8, 4), activation="relu", epochs=3, batch_size=32,
              random_state=7, verbose=False)
    a, b = npae.Autoencoder(**kw).fit(X), npae.Autoencoder(**kw).fit(X)
    c = npae.Autoencoder(**{**kw, "random_state": 8}).fit(X)
    for k in a.params_:
        assert np.array_equal(a.params_[k], b.params_[k])
    assert not np.array_equal(a.params_["enc.0.W"], c.params_["enc.0.W"])
    assert a.history_["loss"] == b.history_["loss"]


def test_training_reduces_loss_and_records_history_in_float32():
    X = np.random.default_rng(6).uniform(size=(500, 16))
    X_val = np.random.default_rng(7).uniform(size=(100, 16))
    m = npae.Autoencoder((8,), weight_decay=1e-4, epochs=5, learning_rate=0.01,
                         random_state=0, verbose=False).fit(X, X_val=X_val)
    h = m.history_
    assert h["epoch"] == [1, 2, 3, 4, 5]
    assert {"loss", "recon", "weight_decay", "val_loss", "val_recon", "seconds"} <= set(h)
    assert h["loss"][-1] < h["loss"][0]
    assert all(v.dtype == np.float32 for v in m.params_.values())
    assert m.transform(X).dtype == np.float32
    assert m.score(X_val) == pytest.approx(-m.loss(X_val.astype(np.float32))[0], rel=1e-5)


def test_estimator_conventions():
    m = npae.Autoencoder((7,), learning_rate=0.5)
    assert m.get_params()["hidden_layer_sizes"] == (7,)
    assert m.set_params(epochs=2) is m and m.epochs == 2
    assert "learning_rate=0.5" in repr(m)
    with pytest.raises(ValueError, match="not a hyperparameter"):
        m.set_params(lr=1)
    with pytest.raises(npae.NotFittedError):
        m.transform(np.zeros((1, 3)))


def test_nan_guard_names_epoch_and_batch_and_keeps_finite_parameters():
    X = np.random.default_rng(8).normal(size=(64, 5)) * 1e3
    m = npae.Autoencoder((4,), activation="identity", output="gaussian", optimizer="sgd",
                         learning_rate=10.0, batch_size=16, epochs=50, random_state=0,
                         verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # the overflow is the point of this test
        with pytest.raises(TrainingDiverged, match=r"epoch \d+, batch \d+ of 4"):
            m.fit(X)
    assert all(np.all(np.isfinite(v)) for v in m.params_.values())


BAD = [
    (dict(X=np.zeros(6)), "X must be 2-dimensional"),
    (dict(X=np.array([[0.5, np.nan]])), "NaN or infinite"),
    (dict(X=np.array([[0.5, 2.0]])), r"X must lie in \[0, 1\]"),
    (dict(hidden_layer_sizes=(4, 0)), r"hidden_layer_sizes\[1\]"),
    (dict(hidden_layer_sizes=()), "hidden_layer_sizes must be a non-empty"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(learning_rate=-1.0), "learning_rate"),
    (dict(batch_size=0), "batch_size"),
    (dict(activation="gelu"), "activation must be one of"),
    (dict(activation=("relu",) * 3), "one per layer"),
    (dict(output="poisson"), "output must be one of"),
    (dict(weight_decay=-1.0), "weight_decay"),
    (dict(optimizer="rmsprop"), "optimizer must be one of"),
    (dict(tied_weights=True, decoder_layer_sizes=(3,)), "tied_weights=True needs"),
    (dict(dtype="int32"), "dtype must be float32 or float64"),
]


@pytest.mark.parametrize("kw,message", BAD)
def test_bad_input_raises_a_clear_error_and_leaves_the_model_unfitted(kw, message):
    kw = dict(kw)
    X = kw.pop("X", np.full((4, 2), 0.5))
    m = npae.Autoencoder(**{"hidden_layer_sizes": (3,), "epochs": 1, "verbose": False, **kw})
    with pytest.raises(ValueError, match=message):
        m.fit(X)
    assert getattr(m, "params_", None) is None


def test_reconstruction_error_is_the_loss_of_reconstruct_also_for_k_alpha():
    """reconstruction_error(X) is the per-example loss of reconstruct(X) against X: with a
    k-sparse code and k_alpha = 2 both keep round(2k) units (training keeps k)."""
    rng = np.random.default_rng(0)
    X = rng.uniform(0.05, 0.95, (6, 7))
    m = npae.Autoencoder((5,), activation="identity", k=2, k_alpha=2.0, dtype="float64",
                         random_state=0).initialize(7)
    x_hat = m.reconstruct(X)
    bce = -np.sum(X * np.log(x_hat) + (1 - X) * np.log(1 - x_hat), axis=1)
    np.testing.assert_allclose(m.reconstruction_error(X), bce, rtol=1e-10)
    assert np.all(np.sum(m.transform(X) != 0, axis=1) == 4)
    m1 = npae.Autoencoder((5,), activation="identity", k=2, k_alpha=1.0, dtype="float64",
                          random_state=0).initialize(7)         # k units: a check that bites
    assert not np.allclose(m1.reconstruction_error(X), bce)


def test_transform_refuses_the_wrong_number_of_features():
    m = npae.Autoencoder((3,), epochs=1, verbose=False).fit(np.full((8, 5), 0.5))
    with pytest.raises(ValueError, match="must have 5 columns"):
        m.transform(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="Z must have 3 columns"):
        m.inverse_transform(np.zeros((2, 4)))


@pytest.mark.mnist
@pytest.mark.slow
def test_deep_relu_autoencoder_reaches_82_nats_on_mnist_in_5_epochs(mnist_dir, mnist_train):
    """Issue 2's reference: 784-512-256-32-256-512-784, ReLU everywhere (code included),
    Bernoulli output, Adam 1e-3, batch 128, 5 epochs: test BCE per image <= 82.0 nats."""
    from npae.datasets import load_mnist
    X, _ = mnist_train
    X_test, _ = load_mnist("test", data_dir=mnist_dir)
    m = npae.Autoencoder((512, 256, 32), activation="relu", output="bernoulli", epochs=5,
                         learning_rate=1e-3, batch_size=128, random_state=0, verbose=False)
    m.fit(X)
    test_bce = m.reconstruction_error(X_test).mean()
    assert test_bce <= 82.0
    assert m.history_["recon"][-1] < m.history_["recon"][0]


def test_pca_matches_the_svd_of_the_centred_data():
    X = np.random.default_rng(11).normal(size=(300, 8)) @ np.diag(np.arange(1.0, 9.0))
    comps, mean, var = npae.pca(X, 3)
    _, S, Vt = np.linalg.svd(X - X.mean(0), full_matrices=False)
    np.testing.assert_allclose(np.abs(comps @ Vt[:3].T), np.eye(3), atol=1e-10)
    np.testing.assert_allclose(var, S[:3] ** 2 / 299, rtol=1e-10)
    np.testing.assert_allclose(mean, X.mean(0))
    with pytest.raises(ValueError, match="n_components"):
        npae.pca(X, 9)


def test_an_explicit_decoder_with_one_encoder_activation_uses_it_and_mixed_ones_ask():
    """decoder_activation=None mirrors the encoder; with an explicit decoder_layer_sizes a
    single encoder activation (given per layer or once) serves, several must be named."""
    m = npae.Autoencoder((2, 2), activation=("tanh", "tanh"), decoder_layer_sizes=(3,),
                         dtype="float64").initialize(4)
    assert [a.name for a in m._dec_acts] == ["tanh"]
    with pytest.raises(ValueError, match="set decoder_activation"):
        npae.Autoencoder((2, 2), activation=("tanh", "sigmoid"),
                         decoder_layer_sizes=(3,)).initialize(4)
