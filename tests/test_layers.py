"""Dense layer and activations: gradients against central differences, forwards against
their formulas, and stability at extreme pre-activations."""
import warnings

import numpy as np
import pytest

from npae.gradcheck import check_gradients, check_input_gradient
from npae.layers import (ACTIVATIONS, dense_backward, dense_forward, get_activation,
                         sigmoid, softplus)

rng = np.random.default_rng(0)


def test_dense_backward_matches_central_differences_for_W_b_and_X():
    """(B1)-(B3) of npae.layers, checked through L = Σ A ⊙ G for a fixed random G."""
    X, G = rng.normal(size=(5, 4)), rng.normal(size=(5, 3))
    params = {"W": rng.normal(size=(4, 3)), "b": rng.normal(size=3)}

    def fun(p):
        A = dense_forward(X, p["W"], p["b"])
        dX, dW, db = dense_backward(G, X, p["W"])
        return float(np.sum(A * G)), {"W": dW, "b": db}

    assert check_gradients(fun, params).max_rel_error <= 1e-7
    check_input_gradient(lambda Xp: (float(np.sum(dense_forward(Xp, params["W"], params["b"]) * G)),
                                     dense_backward(G, Xp, params["W"])[0]), X)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_backward_matches_central_differences(name):
    """f'(a) of every activation. ReLU is checked at |a| >= 0.1, far from its kink at 0
    compared with the largest finite-difference step (2e-3)."""
    act = get_activation(name)
    a = rng.normal(size=(6, 5))
    a = np.where(np.abs(a) < 0.1, 0.1 * np.sign(a) + 0.1 * (a == 0), a)
    G = rng.normal(size=a.shape)

    def fun(ap):
        h = act.forward(ap)
        return float(np.sum(h * G)), act.backward(G, ap, h)

    assert check_input_gradient(fun, a).max_rel_error <= 1e-7


def test_activations_forward_match_their_textbook_formulas():
    a = np.linspace(-20, 20, 401)
    # the textbook forms, in extended precision where they lose digits in float64
    al = a.astype(np.longdouble)
    np.testing.assert_allclose(sigmoid(a), (1 / (1 + np.exp(-al))).astype(float), rtol=1e-14)
    np.testing.assert_allclose(softplus(a), np.log1p(np.exp(al)).astype(float), rtol=1e-14)
    np.testing.assert_allclose(get_activation("tanh").forward(a), np.tanh(a))
    np.testing.assert_array_equal(get_activation("relu").forward(a), np.where(a > 0, a, 0))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_are_finite_and_warning_free_up_to_1e4(name, dtype):
    act = get_activation(name)
    a = np.array([-1e4, -800.0, -50.0, 0.0, 50.0, 800.0, 1e4], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = act.forward(a)
        d = act.backward(np.ones_like(a), a, h)
    assert np.all(np.isfinite(h)) and np.all(np.isfinite(d))
    assert h.dtype == dtype


def test_sigmoid_saturates_exactly_and_softplus_is_linear_for_large_inputs():
    assert sigmoid(np.array([1e4]))[0] == 1.0 and sigmoid(np.array([-1e4]))[0] == 0.0
    assert softplus(np.array([1e4]))[0] == 1e4 and softplus(np.array([-1e4]))[0] == 0.0


def test_unknown_activation_is_refused_with_the_argument_name():
    with pytest.raises(ValueError, match="activation must be one of"):
        get_activation("gelu")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_branch_free_sigmoid_has_the_bits_of_the_two_branch_formula(dtype):
    """σ's numerator max(e^{−|a|}, 1[a ≥ 0]) equals np.where(a >= 0, 1, e^{−|a|}) bit for
    bit, at ±0, ±inf, NaN and the float extremes, so the faster form changes nothing."""
    a = np.concatenate([np.array([0.0, -0.0, np.inf, -np.inf, np.nan]),
                        np.random.default_rng(6).normal(size=2000) * 50,
                        [np.finfo(dtype).max, -np.finfo(dtype).max,
                         np.finfo(dtype).tiny, -np.finfo(dtype).tiny]]).astype(dtype)
    e = np.exp(-np.abs(a))
    textbook = np.where(a >= 0, 1.0, e) / (1.0 + e)
    assert sigmoid(a).dtype == textbook.dtype
    assert sigmoid(a).tobytes() == textbook.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_positive_part_has_the_bits_of_maximum_with_zero(dtype):
    """ReLU's max(a, 0) against an array of zeros (the faster loop) equals np.maximum(a, 0)
    bit for bit and in dtype, at ±0, ±inf and NaN too."""
    from npae.layers import positive_part
    special = [0.0, -0.0, np.inf, -np.inf, np.nan] if dtype != np.int64 else [0, -1, 7]
    a = np.concatenate([special, np.random.default_rng(7).normal(size=999) * 9]).astype(dtype)
    for x in (a, a.reshape(-1, 1)[:, 0], a[::3]):
        assert positive_part(x).dtype == np.maximum(x, 0).dtype
        assert positive_part(x).tobytes() == np.maximum(x, 0).tobytes()
