"""Reconstruction losses: values against the textbook formulas, gradients against
central differences (both the logits and the target), stability at ±1e4."""
import warnings

import numpy as np
import pytest

from npae.gradcheck import check_input_gradient
from npae.losses import BernoulliLoss, GaussianLoss, get_loss

rng = np.random.default_rng(1)


def test_bce_on_logits_equals_textbook_cross_entropy_where_both_are_finite():
    A = rng.normal(scale=5, size=(7, 9))
    X = rng.uniform(size=A.shape)
    p = 1 / (1 + np.exp(-A))
    textbook = -np.sum(X * np.log(p) + (1 - X) * np.log(1 - p)) / A.shape[0]
    assert BernoulliLoss.value(A, X) == pytest.approx(textbook, rel=1e-12)
    np.testing.assert_allclose(BernoulliLoss.per_example(A, X).mean(), textbook, rtol=1e-12)


def test_mse_is_half_squared_error_summed_over_features_averaged_over_batch():
    A, X = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    assert GaussianLoss.value(A, X) == pytest.approx(0.5 * np.sum((A - X) ** 2) / 4, rel=1e-14)


@pytest.mark.parametrize("loss", [BernoulliLoss, GaussianLoss])
def test_loss_gradients_with_respect_to_logits_and_targets(loss):
    A, X = rng.normal(size=(5, 4)), rng.uniform(size=(5, 4))
    check_input_gradient(lambda Ap: (loss.value(Ap, X), loss.grad(Ap, X)), A)
    check_input_gradient(lambda Xp: (loss.value(A, Xp), loss.target_grad(A, Xp)), X)


@pytest.mark.parametrize("loss", [BernoulliLoss, GaussianLoss])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_value_and_grad_is_value_and_grad_bit_for_bit(loss, dtype):
    """What a model's step calls equals the two functions the equations name, exactly."""
    A = (rng.normal(scale=6, size=(9, 7))).astype(dtype)
    X = rng.uniform(size=A.shape).astype(dtype)
    value, grad = loss.value_and_grad(A, X)
    assert value == loss.value(A, X)
    assert grad.dtype == dtype and grad.tobytes() == loss.grad(A, X).tobytes()
    assert loss.value_and_grad(A, X, grad=False) == (value, None)


def test_bce_is_finite_and_warning_free_for_logits_up_to_1e4():
    A = np.array([[-1e4, -1e3, 0.0, 1e3, 1e4]])
    X = np.array([[1.0, 0.0, 0.5, 1.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v, g = BernoulliLoss.value(A, X), BernoulliLoss.grad(A, X)
    assert v == pytest.approx(1e4 + 0.0 + np.log(2) + 0.0 + 1e4)
    np.testing.assert_allclose(g, [[-1.0, 0.0, 0.0, 0.0, 1.0]])


def test_bernoulli_targets_outside_unit_interval_are_refused():
    with pytest.raises(ValueError, match=r"X must lie in \[0, 1\]"):
        BernoulliLoss.check_targets(np.array([[0.0, 255.0]]))
    with pytest.raises(ValueError, match="output must be one of"):
        get_loss("poisson")
