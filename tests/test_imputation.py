"""Missing values (npae.missing (I1)-(I5)): the reconstruction loss over observed entries,
its gradients against central differences with a mask, independence from the missing
entries, NaN rules, fit(observed=...), impute, and the models that refuse a mask."""
import numpy as np
import pytest

import npae
from npae.gradcheck import check_gradients, check_input_gradient
from npae.missing import check_observed
from npae.network import run_layers

rng = np.random.default_rng(7)
X01 = rng.uniform(0.05, 0.95, size=(5, 6))
M = rng.uniform(size=X01.shape) < 0.6
M[0] = False                                   # an example with nothing observed counts in B
M[1, 0] = True


def _model(**kw):
    kw.setdefault("dtype", "float64")
    kw.setdefault("random_state", 0)
    m = npae.Autoencoder((4,), **kw).initialize(X01.shape[1])
    r = np.random.default_rng(1)
    for k, v in m.params_.items():
        if k.endswith(".b"):
            v += r.normal(scale=0.3, size=v.shape)
    return m


def _check_with_mask(m, X, observed, noise=None):
    """Every term alone and all together: every parameter array and the input."""
    _, values, _ = m.loss_and_grads(X, noise=noise, observed=observed)
    reports = []
    for sel in [[t] for t in values] + [None]:
        def fun(p, sel=sel):
            loss, _, grads = m.loss_and_grads(X, noise=noise, terms=sel, params=p,
                                              observed=observed)
            return loss, grads
        reports.append(check_gradients(fun, m.params_))
        reports.append(check_input_gradient(
            lambda Xp, sel=sel: m.input_gradient(Xp, noise=noise, terms=sel, observed=observed),
            X))
    return max(r.max_rel_error for r in reports)


CONFIGS = [dict(output="bernoulli"), dict(output="gaussian", tied_weights=True),
           dict(output="bernoulli", weight_decay=0.1, sparsity="kl", sparsity_weight=0.5),
           dict(output="gaussian", activation="tanh", noise="gaussian", noise_level=0.1),
           dict(output="bernoulli", noise="masking", noise_level=0.3, contractive_weight=0.3)]


@pytest.mark.parametrize("kw", CONFIGS)
def test_masked_loss_gradients_match_central_differences(kw):
    """Sigmoid and tanh codes and outputs are smooth everywhere, so any point is smooth;
    the noise is drawn once and held fixed."""
    m = _model(**kw)
    noise = m.sample_noise(X01, np.random.default_rng(3))
    assert _check_with_mask(m, X01, M, noise) <= 1e-7


def test_masked_recon_is_the_observed_sum_per_example_averaged_over_the_batch():
    """(I2) against the formula: Bernoulli ℓ = softplus(a) − x a over observed entries,
    summed per example, divided by B = 5 (row 0, with nothing observed, counts in B)."""
    m = _model()
    _, values = m.loss(X01, observed=M)
    enc, dec = m._layers()
    z = run_layers(m.params_, enc, np.where(M, X01, 0))[-1].out     # (I1) the encoder reads X⁰
    A = run_layers(m.params_, dec, z)[-1].out
    expected = np.sum(np.where(M, np.logaddexp(0, A) - X01 * A, 0)) / X01.shape[0]
    assert values["recon"] == pytest.approx(expected, rel=1e-12)


def test_changing_missing_entries_changes_neither_the_loss_nor_any_gradient():
    m = _model(weight_decay=0.1, sparsity="l1", sparsity_weight=0.2)
    X2 = X01.copy()
    X2[~M] = rng.uniform(size=(~M).sum())        # other values where missing
    X3 = X01.copy()
    X3[~M] = np.nan                              # or NaN
    runs = [m.loss_and_grads(X, observed=M) for X in (X01, X2, X3)]
    inputs = [m.input_gradient(X, observed=M)[1] for X in (X01, X2, X3)]
    for loss, values, grads in runs[1:]:
        assert loss == runs[0][0] and values == runs[0][1]
        for k in grads:
            np.testing.assert_array_equal(grads[k], runs[0][2][k])
    for dX in inputs[1:]:
        np.testing.assert_array_equal(dX, inputs[0])
    assert np.all(inputs[0][~M] == 0) and np.any(inputs[0][M] != 0)


def test_an_all_true_mask_is_the_ordinary_loss_and_trains_bit_identically():
    m = _model(output="gaussian")
    full = np.ones_like(M)
    l1, v1, g1 = m.loss_and_grads(X01)
    l2, v2, g2 = m.loss_and_grads(X01, observed=full)
    assert l2 == pytest.approx(l1, rel=1e-14)
    for k in g1:
        np.testing.assert_array_equal(g1[k], g2[k])
    X = rng.uniform(size=(64, 6)).astype(np.float32)
    kw = dict(epochs=2, batch_size=16, random_state=0, verbose=False)
    a = npae.Autoencoder((4,), **kw).fit(X)
    b = npae.Autoencoder((4,), **kw).fit(X, observed=np.ones(X.shape, bool))
    for k in a.params_:
        np.testing.assert_array_equal(a.params_[k], b.params_[k])


@pytest.mark.parametrize("observed,message", [
    (None, None),
    (M.astype(float), "observed must be a boolean array"),
    (M[:, :3], r"observed must have X's shape \(5, 6\), got \(5, 3\)"),
])
def test_bad_masks_are_refused_with_a_clear_error(observed, message):
    m = _model()
    if observed is None:                          # NaN at an observed entry
        X = X01.copy()
        X[M.nonzero()[0][0], M.nonzero()[1][0]] = np.nan
        with pytest.raises(ValueError, match="NaN or infinite value.*at observed entries"):
            m.loss_and_grads(X, observed=M)
        with pytest.raises(ValueError, match="NaN or infinite value.*at observed entries"):
            npae.Autoencoder((3,), epochs=1, verbose=False).fit(X, observed=M)
        with pytest.raises(ValueError, match="contains 1 NaN"):   # no mask: no NaN anywhere
            m.loss_and_grads(X)
        with pytest.raises(ValueError, match="observed is False everywhere"):
            npae.Autoencoder((3,), epochs=1, verbose=False).fit(X, observed=np.zeros_like(M))
        return
    with pytest.raises(ValueError, match=message):
        m.loss_and_grads(X01, observed=observed)
    with pytest.raises(ValueError, match=message):
        m.impute(X01, observed)


def test_models_outside_the_autoencoder_family_refuse_a_mask():
    vae = npae.VAE(hidden_layer_sizes=(4,), latent_dim=2, dtype="float64",
                   random_state=0).initialize(6)
    with pytest.raises(ValueError, match="Autoencoder family only, not by VAE"):
        vae.loss_and_grads(X01, observed=M)
    with pytest.raises(ValueError, match="Autoencoder family only, not by VAE"):
        npae.VAE(epochs=1, verbose=False).fit(X01, observed=M)
    with pytest.raises(ValueError, match="not supported by StackedAutoencoder"):
        npae.StackedAutoencoder((4, 2), verbose=False).fit(X01, observed=M)


def test_impute_keeps_observed_entries_bit_identical_and_fills_the_rest():
    X = rng.uniform(size=(60, 6))
    obs = rng.uniform(size=X.shape) < 0.7
    Xnan = np.where(obs, X, np.nan)               # float64 data, float32 model
    m = npae.Autoencoder((4,), epochs=2, random_state=0, verbose=False).fit(Xnan, observed=obs)
    for n_iter in (1, 3):
        out = m.impute(Xnan, obs, n_iter=n_iter)
        assert out.dtype == np.float64 and np.all(np.isfinite(out))
        assert np.array_equal(out[obs], Xnan[obs])                  # bit for bit
        assert out is not Xnan and np.isnan(Xnan[~obs]).all()        # the input is untouched
    one = m.impute(Xnan, obs, n_iter=1)
    np.testing.assert_allclose(one[~obs], m.reconstruct(np.where(obs, X, 0))[~obs], rtol=1e-6)
    with pytest.raises(ValueError, match="n_iter must be an integer"):
        m.impute(Xnan, obs, n_iter=0)


def test_a_masked_linear_autoencoder_imputes_low_rank_data_better_than_the_mean():
    """Rank-2 data in 8 dimensions, 30% missing: the masked fit recovers the missing
    entries with a lower RMSE than filling each column with its observed mean."""
    r = np.random.default_rng(0)
    X = r.normal(size=(400, 2)) @ r.normal(size=(2, 8)) + 0.05 * r.normal(size=(400, 8))
    obs = r.uniform(size=X.shape) < 0.7
    m = npae.Autoencoder((2,), activation="identity", output="gaussian", epochs=60,
                         learning_rate=1e-2, batch_size=50, random_state=0,
                         verbose=False).fit(np.where(obs, X, np.nan), observed=obs)
    filled = m.impute(np.where(obs, X, np.nan), obs, n_iter=5)
    col_mean = np.nanmean(np.where(obs, X, np.nan), axis=0)
    rmse_ae = np.sqrt(np.mean((filled - X)[~obs] ** 2))
    rmse_mean = np.sqrt(np.mean((np.broadcast_to(col_mean, X.shape) - X)[~obs] ** 2))
    assert rmse_ae < 0.5 * rmse_mean


def test_check_observed_fills_missing_entries_with_zero():
    X = np.array([[1.0, np.nan], [np.inf, 2.0]])
    obs = np.array([[True, False], [False, True]])
    X0, M0 = check_observed(X, obs, np.float32)
    np.testing.assert_array_equal(X0, [[1, 0], [0, 2]])
    assert X0.dtype == np.float32 and M0 is not None
