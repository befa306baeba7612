"""Regularized autoencoders (npae.models.autoencoder F0-F10/B8-B12, npae.models.regularized):
gradient checks of every term alone and combined, every preset, tied and untied, the
input gradient, at points shown to be smooth; forward-versus-equation tests; weights 0
change nothing and weights > 0 change the gradient; errors; persistence; MNIST checks."""
import numpy as np
import pytest

import npae
from npae import Autoencoder
from npae.gradcheck import check_model
from npae.layers import sigmoid
from npae.metrics import mean_activation, mean_jacobian_norm, mse
from npae.models.regularized import (ContractiveAutoencoder, DenoisingAutoencoder,
                                     KSparseAutoencoder, SparseAutoencoder)
from npae.network import run_layers
from npae.noise import GaussianNoise, MaskingNoise, SaltAndPepperNoise
from npae.penalties import contractive, kl_sparsity

X01 = np.random.default_rng(3).uniform(0.05, 0.95, size=(5, 6))
STEP = 2e-3            # the checker moves one entry by at most 2·eps = 2e-3 (order 4)


def _model(cls=Autoencoder, sizes=(4,), bias_seed=1, **kw):
    kw.setdefault("dtype", "float64")
    kw.setdefault("random_state", 0)
    m = cls(sizes, **kw).initialize(X01.shape[1])
    r = np.random.default_rng(bias_seed)
    for k, v in m.params_.items():             # non-zero biases: a generic point
        if k.endswith(".b"):
            v += r.normal(scale=0.5, size=v.shape)
    return m


def _noise(m, seed=11):
    return m.sample_noise(X01, np.random.default_rng(seed))


def _code_pre(m, noise):
    """Pre-activations of the code layer on the (corrupted) batch."""
    X_in = X01 if noise is None else noise.apply(X01)
    enc, _ = m._layers()
    return run_layers(m.params_, enc, X_in)[-1].pre


def _shift_bound(m):
    """How far one checker step can move a one-layer code pre-activation a = x̃W + b:
    a W or b entry moves it by at most STEP·max(1, |x̃|), an input entry by STEP·|W|."""
    assert len(m._sizes) == 1, "the bound is for one-layer encoders"
    return STEP * max(1.0, np.abs(X01).max(), np.abs(m.params_["enc.0.W"]).max())


def _kink_margin(m, noise):
    """Smallest |a| of the code layer: the distance to the kink of |h| (identity) or ReLU."""
    return np.abs(_code_pre(m, noise)).min()


def _topk_gap(m, noise):
    """Smallest gap between the k-th and (k+1)-th largest code per row (ties = kinks)."""
    h = np.sort(_code_pre(m, noise), axis=1)[:, ::-1]      # monotone activations: same order
    return (h[:, m.k - 1] - h[:, m.k]).min()


def _smooth(cls=Autoencoder, kind="kink", **kw):
    """The first bias draw whose point is at least 5 checker steps from every kink."""
    for seed in range(1, 400):
        m = _model(cls, bias_seed=seed, **kw)
        nu = _noise(m)
        margin = _kink_margin(m, nu) if kind == "kink" else _topk_gap(m, nu) / 2
        if margin > 5 * _shift_bound(m):
            return m, nu
    raise RuntimeError("no smooth point found")


def _check(m, noise):
    report = check_model(m, X01, noise=noise)
    assert report.max_rel_error <= 1e-7, report.table()
    return report


# -- gradient checks ------------------------------------------------------------------

SMOOTH_CONFIGS = [      # sigmoid codes never reach 0 and have no kink: any point is smooth
    dict(sizes=(4,), sparsity="l1", sparsity_weight=0.3),
    dict(sizes=(4,), sparsity="l1", sparsity_weight=0.3, tied_weights=True, output="gaussian"),
    dict(sizes=(5, 4), sparsity="l1", sparsity_weight=0.3, noise="masking", noise_level=0.3),
    dict(sizes=(4,), sparsity="kl", sparsity_weight=3.0, sparsity_target=0.1),
    dict(sizes=(4,), sparsity="kl", sparsity_weight=3.0, tied_weights=True),
    dict(sizes=(5, 3), sparsity="kl", sparsity_weight=2.0, tied_weights=True, weight_decay=0.1),
    dict(sizes=(5, 3), activation=("tanh", "sigmoid"), sparsity="kl", sparsity_weight=2.0,
         output="gaussian"),
    dict(sizes=(4,), contractive_weight=0.7),
    dict(sizes=(4,), contractive_weight=0.7, tied_weights=True),
    dict(sizes=(4,), contractive_weight=0.7, output="gaussian", weight_decay=0.1),
    dict(sizes=(4,), contractive_weight=0.7, noise="gaussian", noise_level=0.2),
    dict(sizes=(4,), contractive_weight=0.7, noise="masking", noise_level=0.3, tied_weights=True),
    dict(sizes=(4,), contractive_weight=0.7, noise="salt_and_pepper", noise_level=0.3),
    dict(sizes=(4,), contractive_weight=0.7, sparsity="kl", sparsity_weight=3.0),
    dict(sizes=(4,), noise="gaussian", noise_level=0.3),
    dict(sizes=(5, 3), noise="masking", noise_level=0.4, tied_weights=True),
    dict(sizes=(5, 3), noise="salt_and_pepper", noise_level=0.4, activation="tanh",
         output="gaussian"),
    dict(sizes=(4,), noise="salt_and_pepper", noise_level=0.4, sparsity="kl",
         sparsity_weight=3.0, tied_weights=True, weight_decay=0.05),
]


def _terms_of(kw):
    return ({"recon"} | ({"sparsity"} if kw.get("sparsity") else set())
            | ({"contractive"} if kw.get("contractive_weight") else set())
            | ({"weight_decay"} if kw.get("weight_decay") else set()))


@pytest.mark.parametrize("kw", SMOOTH_CONFIGS, ids=lambda kw: ",".join(
    f"{k}={v}" for k, v in kw.items() if k != "sizes") + f",sizes={kw['sizes']}")
def test_every_term_alone_and_together_and_the_input_gradient_match_central_differences(kw):
    """Every code here is a sigmoid (or the term has no kink): smooth everywhere."""
    kw = dict(kw)
    m = _model(sizes=kw.pop("sizes"), **kw)
    nu = _noise(m)
    if kw.get("noise"):
        assert nu is not None and not np.array_equal(nu.apply(X01), X01)
    report = _check(m, nu)
    expected = _terms_of(kw)
    assert {r.term for r in report.rows} == (expected | {"all"} if len(expected) > 1 else {"all"})
    assert any(r.name == "input X" for r in report.rows)


@pytest.mark.parametrize("activation", ["identity", "relu"])
@pytest.mark.parametrize("tied", [False, True])
def test_l1_on_identity_and_relu_codes_at_a_point_away_from_zero(activation, tied):
    """Smooth point: every code pre-activation a is more than 5 times the largest shift
    one checker step can cause away from 0, so no |z| (identity) and no ReLU crosses
    its kink during the check (asserted, not assumed)."""
    m, nu = _smooth(activation=activation, sparsity="l1", sparsity_weight=0.5,
                    tied_weights=tied, noise="masking", noise_level=0.2)
    assert _kink_margin(m, nu) > 5 * _shift_bound(m)
    _check(m, nu)


@pytest.mark.parametrize("activation", ["identity", "sigmoid"])
@pytest.mark.parametrize("tied", [False, True])
def test_k_sparse_at_a_point_without_near_ties(activation, tied):
    """Smooth point: in every row the k-th and (k+1)-th largest codes differ by more
    than 10 checker-step shifts, so no perturbation changes which units are kept."""
    m, nu = _smooth(KSparseAutoencoder, kind="topk", activation=activation, k=2,
                    tied_weights=tied, noise="gaussian", noise_level=0.1)
    assert _topk_gap(m, nu) > 10 * _shift_bound(m)
    _check(m, nu)


def test_k_sparse_with_contractive_and_salt_and_pepper_noise():
    m, nu = _smooth(KSparseAutoencoder, kind="topk", activation="sigmoid", k=3,
                    contractive_weight=0.5, noise="salt_and_pepper", noise_level=0.3)
    report = _check(m, nu)
    assert {r.term for r in report.rows} == {"recon", "contractive", "all"}


@pytest.mark.parametrize("cls", [SparseAutoencoder, DenoisingAutoencoder,
                                 ContractiveAutoencoder])
@pytest.mark.parametrize("tied", [False, True])
def test_every_preset_with_its_defaults(cls, tied):
    """Presets use sigmoid codes (no kink); their default terms are checked."""
    m = _model(cls, tied_weights=tied)
    _check(m, _noise(m))


# -- forward against the equations --------------------------------------------------

def test_denoising_step_encodes_the_corrupted_input_and_compares_with_the_clean_one():
    m = _model(DenoisingAutoencoder, noise="masking", noise_level=0.5)
    nu = _noise(m)
    p = m.params_
    Xt = X01 * nu.mask                                                   # (F0)
    h = sigmoid(Xt @ p["enc.0.W"] + p["enc.0.b"])
    a = h @ p["dec.0.W"] + p["dec.0.b"]
    bce = np.sum(np.logaddexp(0, a) - X01 * a) / len(X01)               # clean target
    loss, values, _ = m.loss_and_grads(X01, noise=nu)
    assert loss == pytest.approx(bce, rel=1e-13)
    assert m.loss(X01)[0] != pytest.approx(loss)                         # noise matters


def test_sparsity_and_contractive_values_are_the_penalties_on_the_models_code():
    m = _model(sparsity="kl", sparsity_weight=2.0, sparsity_target=0.2, contractive_weight=0.3,
               noise="gaussian", noise_level=0.1)
    nu = _noise(m)
    p = m.params_
    h = sigmoid(nu.apply(X01) @ p["enc.0.W"] + p["enc.0.b"])
    _, values = m.loss(X01, noise=nu)
    assert values["sparsity"] == pytest.approx(kl_sparsity(h, 0.2, 2.0), rel=1e-13)
    assert values["contractive"] == pytest.approx(contractive(h, p["enc.0.W"], 0.3), rel=1e-13)


def test_k_sparse_codes_have_exactly_k_nonzeros_per_row_and_keep_the_largest():
    """Identity codes of random data are never exactly 0 or tied, so exactly k survive."""
    X = np.random.default_rng(1).uniform(size=(200, 6))
    m = KSparseAutoencoder((8,), k=3, random_state=0, dtype="float64").initialize(6)
    Z = m.transform(X)
    assert np.all(np.count_nonzero(Z, axis=1) == 3)
    A = X @ m.params_["enc.0.W"] + m.params_["enc.0.b"]
    third = np.sort(A, axis=1)[:, -3]
    np.testing.assert_array_equal(Z, np.where(A >= third[:, None], A, 0.0))
    m2 = KSparseAutoencoder((8,), k=3, k_alpha=2.0, random_state=0, dtype="float64").initialize(6)
    assert np.all(np.count_nonzero(m2.transform(X), axis=1) == 6)       # α·k at transform


def test_k_sparse_gradient_flows_only_through_kept_units():
    """A unit that is never among the k largest gets exactly zero encoder gradient."""
    m = _model(KSparseAutoencoder, sizes=(5,), k=2)
    m.params_["enc.0.b"][4] = -50.0                # unit 4 never in the top 2
    _, _, g = m.loss_and_grads(X01)
    assert np.all(g["enc.0.W"][:, 4] == 0) and g["enc.0.b"][4] == 0
    assert np.all(g["dec.0.W"][4] == 0)              # its code is 0 for the decoder too
    assert np.abs(g["enc.0.W"][:, :4]).sum() > 0


@pytest.mark.parametrize("kw,term", [
    (dict(sparsity="l1"), "sparsity"), (dict(sparsity="kl"), "sparsity"),
    (dict(contractive_weight=None), "contractive")])
def test_weight_zero_changes_nothing_and_positive_weight_changes_the_gradient(kw, term):
    plain = _model()
    wkey = "contractive_weight" if term == "contractive" else "sparsity_weight"
    zero = _model(**{**kw, wkey: 0.0})
    pos = _model(**{**kw, wkey: 0.5})
    l0, v0, g0 = plain.loss_and_grads(X01)
    l1, v1, g1 = zero.loss_and_grads(X01)
    l2, v2, g2 = pos.loss_and_grads(X01)
    assert l1 == l0 and v1 == v0 and all(np.array_equal(g0[k], g1[k]) for k in g0)
    assert term in v2 and v2[term] > 0 and l2 > l0
    assert not np.allclose(g2["enc.0.W"], g0["enc.0.W"], rtol=1e-6, atol=0)
    np.testing.assert_array_equal(g2["dec.0.W"], g0["dec.0.W"])          # code terms only


def test_the_step_is_a_pure_function_of_params_batch_and_noise():
    m = _model(DenoisingAutoencoder, noise="salt_and_pepper", sparsity="kl", sparsity_weight=1.0)
    nu = _noise(m)
    a, b = m.loss_and_grads(X01, noise=nu), m.loss_and_grads(X01, noise=nu)
    assert a[0] == b[0] and all(np.array_equal(a[2][k], b[2][k]) for k in a[2])
    assert isinstance(nu, SaltAndPepperNoise)
    assert isinstance(_model(noise="gaussian", noise_level=0.1).sample_noise(
        X01, np.random.default_rng(0)), GaussianNoise)
    assert _model().sample_noise(X01, np.random.default_rng(0)) is None


def test_salt_and_pepper_values_are_the_training_data_range_learned_by_fit():
    X = np.random.default_rng(2).uniform(0.2, 0.7, size=(64, 6))
    m = DenoisingAutoencoder((3,), noise="salt_and_pepper", noise_level=0.5, epochs=1,
                             random_state=0, verbose=False).fit(X)
    assert m.data_range_ == (pytest.approx(X.min()), pytest.approx(X.max()))
    nu = m.sample_noise(X.astype(np.float32), np.random.default_rng(0))
    replaced = nu.apply(X.astype(np.float32))[nu.replaced]
    np.testing.assert_allclose(np.unique(replaced), [X.min(), X.max()], rtol=1e-6)


def test_a_foreign_noise_object_is_refused():
    with pytest.raises(ValueError, match="noise must be None or a record drawn by sample_noise"):
        _model().loss_and_grads(X01, noise=np.ones_like(X01))


# -- errors, persistence ------------------------------------------------------------

BAD = [
    (dict(sparsity="l2"), "sparsity must be None, 'l1' or 'kl'"),
    (dict(sparsity="l1", sparsity_weight=-1.0), "sparsity_weight"),
    (dict(sparsity_weight=1.0), "sparsity_weight=1.0 has no effect"),
    (dict(sparsity="kl", sparsity_weight=1.0, sparsity_target=0.0), r"sparsity_target must be in \(0, 1\)"),
    (dict(sparsity="kl", sparsity_weight=1.0, sparsity_target=1.0), r"sparsity_target must be in \(0, 1\)"),
    (dict(sparsity="kl", sparsity_target=-0.5), r"sparsity_target must be in \(0, 1\)"),
    (dict(sparsity="kl", activation="relu"), "sparsity='kl' needs sigmoid code units"),
    (dict(k=0), r"k must be an integer in \[1, 3\]"),
    (dict(k=4), r"k must be an integer in \[1, 3\]"),
    (dict(k=1.5), "k must be an integer"),
    (dict(k=2, sparsity="l1"), "k .* and sparsity"),
    (dict(k=2, k_alpha=0.0), r"k_alpha must be in \(0, inf\]"),
    (dict(k=2, k_alpha=3.0), r"k_alpha must make round\(k_alpha \* k\)"),
    (dict(noise="blur"), "noise must be None or one of"),
    (dict(noise="gaussian", noise_level=-0.1), r"noise_level must be in \[0, inf\]"),
    (dict(noise="masking", noise_level=1.2), r"noise_level must be in \[0, 1\]"),
    (dict(noise="salt_and_pepper", noise_level=-1), r"noise_level must be in \[0, 1\]"),
    (dict(noise_level=0.2), "noise_level=0.2 has no effect with noise=None"),
    (dict(contractive_weight=-1.0), "contractive_weight"),
    (dict(contractive_weight=0.1, hidden_layer_sizes=(4, 3)), "one-layer sigmoid encoder"),
    (dict(contractive_weight=0.1, activation="tanh"), "one-layer sigmoid encoder"),
]


@pytest.mark.parametrize("cls", [Autoencoder, SparseAutoencoder])
@pytest.mark.parametrize("kw,message", BAD)
def test_bad_hyperparameters_raise_clear_errors_naming_the_argument(cls, kw, message):
    if cls is SparseAutoencoder:
        kw = {"sparsity": None, "sparsity_weight": 0.0, **kw}   # start from "off" as well
    m = cls(**{"hidden_layer_sizes": (3,), "epochs": 1, "verbose": False, **kw})
    with pytest.raises(ValueError, match=message):
        m.fit(np.full((4, 2), 0.5))
    assert getattr(m, "params_", None) is None


def test_presets_only_change_defaults():
    base = Autoencoder().get_params()
    for cls, changed in [(SparseAutoencoder, {"sparsity": "kl", "sparsity_weight": 3.0}),
                         (KSparseAutoencoder, {"k": 10, "activation": "identity"}),
                         (DenoisingAutoencoder, {"noise": "masking", "noise_level": 0.3}),
                         (ContractiveAutoencoder, {"contractive_weight": 1.0})]:
        p = cls().get_params()
        assert set(p) == set(base)
        assert {k: v for k, v in p.items() if base[k] != v} == changed
        assert issubclass(cls, Autoencoder)


@pytest.mark.parametrize("cls,kw", [(SparseAutoencoder, {}), (KSparseAutoencoder, {"k": 2}),
                                    (DenoisingAutoencoder, {"noise": "salt_and_pepper"}),
                                    (ContractiveAutoencoder, {})])
def test_presets_save_and_load_as_themselves(tmp_path, cls, kw):
    X = np.random.default_rng(4).uniform(0.1, 0.8, size=(40, 6))
    m = cls((4,), epochs=2, batch_size=16, random_state=0, verbose=False, **kw).fit(X)
    path = m.save(tmp_path / "m.npz")
    back = npae.load(path)
    assert type(back) is cls and back.get_params() == m.get_params()
    assert back.data_range_ == pytest.approx(m.data_range_)
    np.testing.assert_array_equal(back.transform(X), m.transform(X))


def test_training_a_sparse_denoising_autoencoder_records_every_term():
    X = np.random.default_rng(5).uniform(size=(200, 10))
    m = Autoencoder((6,), sparsity="kl", sparsity_weight=1.0, noise="masking",
                    noise_level=0.3, contractive_weight=0.1, epochs=3, learning_rate=0.01,
                    random_state=0, verbose=False).fit(X)
    assert {"recon", "sparsity", "contractive"} <= set(m.history_)
    assert m.history_["loss"][-1] < m.history_["loss"][0]
    again = Autoencoder(**m.get_params()).fit(X)
    assert all(np.array_equal(again.params_[k], m.params_[k]) for k in m.params_)


# -- MNIST ------------------------------------------------------------------------------

N_TRAIN = 20000


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    from npae.datasets import load_mnist
    X, _ = load_mnist("train", data_dir=mnist_dir)
    Xt, _ = load_mnist("test", data_dir=mnist_dir)
    return X[:N_TRAIN], Xt


SAME_SIZE = dict(hidden_layer_sizes=(64,), epochs=10, learning_rate=1e-2, batch_size=128,
                 random_state=0, verbose=False)


@pytest.fixture(scope="module")
def plain_mnist_ae(mnist):
    return Autoencoder(**SAME_SIZE).fit(mnist[0])


@pytest.mark.mnist
@pytest.mark.slow
def test_kl_sparsity_reaches_its_target_mean_activation_on_mnist(mnist):
    """ρ = 0.05, β = 3: the mean code activation over the test set is within 0.04-0.06.
    (A linear Gaussian decoder, as in Ng's notes; with BCE's larger reconstruction
    gradients the same β settles higher, near 0.07 after 10 epochs.)"""
    X, Xt = mnist
    m = SparseAutoencoder((196,), output="gaussian", sparsity_target=0.05, sparsity_weight=3.0,
                          epochs=5, learning_rate=3e-3, random_state=0, verbose=False).fit(X)
    rho = mean_activation(m.transform(Xt)).mean()
    print(f"mean code activation on MNIST test: {rho:.4f}")
    assert 0.04 <= rho <= 0.06


@pytest.mark.mnist
@pytest.mark.slow
def test_denoising_autoencoder_beats_a_plain_one_on_masked_test_images(mnist, plain_mnist_ae):
    X, Xt = mnist
    dae = DenoisingAutoencoder(noise="masking", noise_level=0.3, **SAME_SIZE).fit(X)
    Xn = MaskingNoise.sample(Xt, 0.3, np.random.default_rng(0)).apply(Xt)
    e_dae, e_plain = mse(Xt, dae.reconstruct(Xn)), mse(Xt, plain_mnist_ae.reconstruct(Xn))
    print(f"MSE to clean from 30% masked test images: noisy {mse(Xt, Xn):.4f}, "
          f"plain AE {e_plain:.4f}, denoising AE {e_dae:.4f}")
    assert e_dae < e_plain
    assert e_dae < mse(Xt, Xn)


@pytest.mark.mnist
@pytest.mark.slow
def test_contractive_autoencoder_has_a_much_smaller_jacobian_on_test_images(mnist, plain_mnist_ae):
    X, Xt = mnist
    cae = ContractiveAutoencoder(contractive_weight=1.0, **SAME_SIZE).fit(X)
    j_cae, j_plain = mean_jacobian_norm(cae, Xt), mean_jacobian_norm(plain_mnist_ae, Xt)
    print(f"mean ||J_f(x)||_F on MNIST test: plain {j_plain:.3f}, contractive {j_cae:.3f}")
    assert j_plain >= 2 * j_cae


# -- data for the sparse experiment: npae.datasets.load_patches ---------------------
# (kept here, beside the models it feeds, while tests/test_datasets.py belongs to others)

def test_load_patches_are_dc_free_whitened_and_reproducible():
    from npae.datasets import load_patches
    P = load_patches(3000, size=8, seed=1)
    assert P.shape == (3000, 64) and P.dtype == np.float32
    np.testing.assert_allclose(P.mean(axis=1), 0, atol=1e-5)              # (P1) per patch
    lam = np.linalg.eigvalsh(np.cov(P.T.astype(np.float64)))[::-1]
    raw = load_patches(3000, size=8, seed=1, whiten=False).astype(np.float64)
    lam_raw = np.linalg.eigvalsh(np.cov(raw.T))[::-1]
    # (P2) flattens the spectrum: the 8th eigenvalue rises from < 15% of the largest to > 40%
    assert lam_raw[7] / lam_raw[0] < 0.15 and lam[7] / lam[0] > 0.4
    assert raw.min() >= 0.1 - 1e-6 and raw.max() <= 0.9 + 1e-6           # (P3)
    assert np.array_equal(P, load_patches(3000, size=8, seed=1))
    assert not np.array_equal(P, load_patches(3000, size=8, seed=2))
    assert load_patches(10, size=10).shape == (10, 100)


@pytest.mark.parametrize("kw,message", [(dict(size=1), "size"), (dict(n=0), "n must be"),
                                        (dict(epsilon=0.0), "epsilon"), (dict(whiten="zca"), "whiten"),
                                        (dict(dtype=int), "dtype"), (dict(size=400), "size")])
def test_load_patches_rejects_bad_arguments(kw, message):
    from npae.datasets import load_patches
    with pytest.raises(ValueError, match=message):
        load_patches(**kw)
