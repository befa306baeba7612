"""Optimizers: each update against its formula (O1)-(O5), in place, with clear errors."""
import numpy as np
import pytest

from npae.optim import SGD, Adam, Momentum, make_optimizer


def _problem():
    rng = np.random.default_rng(2)
    return {"W": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}, rng


def test_sgd_step_is_theta_minus_eta_g_in_place():
    params, rng = _problem()
    W = params["W"]
    g = {k: rng.normal(size=v.shape) for k, v in params.items()}
    before = {k: v.copy() for k, v in params.items()}
    SGD(0.1).step(params, g)
    assert params["W"] is W
    for k in params:
        np.testing.assert_allclose(params[k], before[k] - 0.1 * g[k])


def test_momentum_accumulates_velocity():
    params, rng = _problem()
    g = {k: np.ones_like(v) for k, v in params.items()}
    start = params["b"].copy()
    opt = Momentum(0.1, momentum=0.5)
    opt.step(params, g)
    opt.step(params, g)
    np.testing.assert_allclose(params["b"], start - 0.1 - (0.5 * 0.1 + 0.1))


def test_adam_matches_kingma_ba_algorithm_1_over_several_steps():
    params, rng = _problem()
    ref = {k: v.copy() for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in ref.items()}
    s = {k: np.zeros_like(v) for k, v in ref.items()}
    opt = Adam(0.01)
    for t in range(1, 6):
        g = {k: rng.normal(size=v.shape) for k, v in ref.items()}
        opt.step(params, g)
        for k in ref:
            m[k] = 0.9 * m[k] + 0.1 * g[k]
            s[k] = 0.999 * s[k] + 0.001 * g[k] ** 2
            mhat, shat = m[k] / (1 - 0.9 ** t), s[k] / (1 - 0.999 ** t)
            ref[k] = ref[k] - 0.01 * mhat / (np.sqrt(shat) + 1e-8)
    for k in ref:
        np.testing.assert_allclose(params[k], ref[k], rtol=1e-12, atol=1e-14)
        m_k, s_k = opt.moments(k)          # the rescaled state gives back the textbook moments
        np.testing.assert_allclose(m_k, m[k].ravel(), rtol=1e-12)
        np.testing.assert_allclose(s_k, s[k].ravel(), rtol=1e-12)


def test_adam_first_step_moves_each_parameter_by_about_the_learning_rate():
    params, rng = _problem()
    before = params["W"].copy()
    Adam(1e-3).step(params, {k: rng.normal(size=v.shape) for k, v in params.items()})
    np.testing.assert_allclose(np.abs(params["W"] - before), 1e-3, rtol=1e-4)


@pytest.mark.parametrize("lr", [0.0, -1e-3, float("nan")])
def test_non_positive_learning_rates_are_refused(lr):
    with pytest.raises(ValueError, match="learning_rate"):
        make_optimizer("adam", lr)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        make_optimizer("lbfgs", 0.1)


def test_adam_block_size_does_not_change_the_arithmetic():
    """Blocked updates (for cache locality) give bit-identical parameters."""
    params, rng = _problem()
    grads = [{k: rng.normal(size=v.shape) for k, v in params.items()} for _ in range(3)]
    results = []
    for block in (1, 4, 10**6):
        p = {k: v.copy() for k, v in params.items()}
        opt = Adam(0.01, block=block)
        for g in grads:
            opt.step(p, g)
        results.append(p)
    for k in params:
        assert np.array_equal(results[0][k], results[1][k])
        assert np.array_equal(results[0][k], results[2][k])


def test_adam_flushes_moments_that_would_decay_into_subnormals():
    """Every flush_every steps, moment entries below 1e-30 become 0 (subnormal float
    arithmetic is slow); entries of ordinary size are untouched."""
    params = {"w": np.ones(4, dtype=np.float32)}
    opt = Adam(1e-3, flush_every=3)
    opt.step(params, {"w": np.array([1e-31, 1.0, 0, 0], dtype=np.float32)})
    assert opt.m_scaled["w"][0] != 0
    zero = {"w": np.zeros(4, dtype=np.float32)}
    opt.step(params, zero)
    opt.step(params, zero)                         # t = 3: flush
    m, s = opt.m_scaled["w"], opt.s_scaled["w"]
    assert m[0] == 0 and s[0] == 0
    assert m[1] == np.float32(0.9) ** 2 and s[1] > 0
