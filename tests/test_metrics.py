"""npae.metrics: each number against its definition, the encoder Jacobian against
finite differences for deep encoders and against the closed form for one sigmoid layer."""
import math

import numpy as np
import pytest

from npae import Autoencoder
from npae.metrics import (denoising_scores, fraction_near_zero, mean_activation,
                          mean_jacobian_norm, mse, psnr)
from npae.models.regularized import KSparseAutoencoder
from npae.penalties import contractive

X = np.random.default_rng(0).uniform(0.05, 0.95, size=(9, 5))


def test_mean_activation_per_unit_and_fraction_near_zero():
    Z = np.array([[0.0, 1.0, 0.005], [0.5, -0.002, 0.3]])
    np.testing.assert_allclose(mean_activation(Z), [0.25, 0.499, 0.1525])
    assert fraction_near_zero(Z, tol=1e-2) == pytest.approx(3 / 6)
    assert fraction_near_zero(Z, tol=0.0) == pytest.approx(1 / 6)


def test_mse_and_psnr_follow_their_definitions():
    A = np.zeros((2, 4))
    Bm = np.full((2, 4), 0.1)
    assert mse(A, Bm) == pytest.approx(0.01)
    assert psnr(A, Bm) == pytest.approx(20.0)                   # 10 log10(1 / 0.01)
    assert psnr(A, Bm, data_range=255) == pytest.approx(10 * math.log10(255**2 / 0.01))
    assert psnr(A, A) == float("inf")
    s = denoising_scores(A, Bm, A + 0.05)
    assert s["mse_noisy"] == pytest.approx(0.01) and s["mse_denoised"] == pytest.approx(0.0025)
    assert s["psnr_denoised"] > s["psnr_noisy"]


def _fd_jacobian(m, X, eps=1e-6):
    """J[n, i, j] by central differences of transform, one input coordinate at a time."""
    D = X.shape[1]
    cols = [(m.transform(X + eps * e) - m.transform(X - eps * e)) / (2 * eps)
            for e in np.eye(D)]                                  # D arrays of (N, H)
    return np.stack(cols, axis=1)                               # (N, D, H)


@pytest.mark.parametrize("sizes,activation", [((4,), "sigmoid"), ((6, 3), "tanh"),
                                              ((6, 4, 3), ("relu", "sigmoid", "identity"))])
def test_encoder_jacobian_matches_finite_differences(sizes, activation):
    m = Autoencoder(sizes, activation=activation, dtype="float64", random_state=0).initialize(5)
    for k, v in m.params_.items():
        if k.endswith(".b"):
            v += 0.3                                             # ReLUs on, away from 0
    J = m.encoder_jacobian(X)
    assert J.shape == (9, 5, sizes[-1])
    np.testing.assert_allclose(J, _fd_jacobian(m, X), rtol=1e-6, atol=1e-9)


def test_mean_jacobian_norm_equals_the_closed_form_for_one_sigmoid_layer():
    m = Autoencoder((4,), dtype="float64", random_state=0).initialize(5)
    h = m.transform(X)
    per_example = [contractive(h[n:n + 1], m.params_["enc.0.W"], 1.0) for n in range(len(X))]
    expected = np.mean(np.sqrt(per_example))
    assert mean_jacobian_norm(m, X) == pytest.approx(expected, rel=1e-12)
    assert mean_jacobian_norm(m, X, batch_size=2) == pytest.approx(expected, rel=1e-12)


def test_k_sparse_jacobian_keeps_only_the_kept_units():
    m = KSparseAutoencoder((6,), k=2, dtype="float64", random_state=0).initialize(5)
    J = m.encoder_jacobian(X)
    kept = m.transform(X) != 0
    assert np.all(J[~np.repeat(kept[:, None, :], 5, axis=1)] == 0)
    np.testing.assert_allclose(J, _fd_jacobian(m, X), rtol=1e-6, atol=1e-9)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="same shape"):
        mse(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="data_range"):
        psnr(X, X, data_range=0)
    with pytest.raises(ValueError, match="tol"):
        fraction_near_zero(X, tol=-1)
    with pytest.raises(ValueError, match="encoder_jacobian"):
        mean_jacobian_norm(object(), X)
