"""npae.noise: the three corruptions follow their equations, their backward is the
derivative of their forward, levels are validated, and the same seed gives the same draw."""
import numpy as np
import pytest

from npae.gradcheck import check_input_gradient
from npae.noise import (NOISES, GaussianNoise, MaskingNoise, SaltAndPepperNoise, get_noise,
                        sample_noise)

X = np.random.default_rng(0).uniform(0.1, 0.9, size=(400, 50))


def test_gaussian_noise_adds_scale_times_a_standard_normal_draw():
    nu = sample_noise(X, "gaussian", 0.3, np.random.default_rng(1))
    eps = np.random.default_rng(1).standard_normal(X.shape)
    np.testing.assert_array_equal(nu.apply(X), X + 0.3 * eps)                 # (D1)
    d = nu.apply(X) - X
    assert abs(d.std() - 0.3) < 0.01 and abs(d.mean()) < 0.01


def test_masking_noise_zeroes_a_fraction_p_and_keeps_the_rest_unchanged():
    nu = sample_noise(X, "masking", 0.3, np.random.default_rng(2))
    Xt = nu.apply(X)
    dropped = Xt == 0
    assert abs(dropped.mean() - 0.3) < 0.01                                  # 20,000 entries
    np.testing.assert_array_equal(Xt[~dropped], X[~dropped])                 # (D3)
    assert set(np.unique(nu.mask)) == {0.0, 1.0}


def test_salt_and_pepper_replaces_a_fraction_p_by_lo_or_hi_with_probability_half():
    nu = sample_noise(X, "salt_and_pepper", 0.4, np.random.default_rng(3), data_range=(-1.0, 2.0))
    Xt = nu.apply(X)
    r = nu.replaced
    assert abs(r.mean() - 0.4) < 0.015
    np.testing.assert_array_equal(Xt[~r], X[~r])                             # (D5) kept
    assert set(np.unique(Xt[r])) == {-1.0, 2.0}                              # (D5) replaced
    assert abs(np.mean(Xt[r] == 2.0) - 0.5) < 0.02


@pytest.mark.parametrize("name,level", [("gaussian", 0.5), ("masking", 0.3),
                                        ("salt_and_pepper", 0.3)])
def test_backward_is_the_derivative_of_apply_with_the_draw_held_fixed(name, level):
    """(D2), (D4), (D6): for L(X) = Σ G ⊙ X̃(X), ∂L/∂X from backward(G) matches central
    differences. Salt-and-pepper values are constants of the draw, so X̃ is affine in X."""
    Xs = X[:6, :7].copy()
    nu = sample_noise(Xs, name, level, np.random.default_rng(4))
    G = np.random.default_rng(5).normal(size=Xs.shape)

    def fun(Xp):
        return float(np.sum(G * nu.apply(Xp))), nu.backward(G)

    report = check_input_gradient(fun, Xs)
    assert report.max_rel_error <= 1e-7


@pytest.mark.parametrize("name", sorted(NOISES))
def test_level_zero_is_the_identity(name):
    nu = sample_noise(X, name, 0.0, np.random.default_rng(6))
    np.testing.assert_array_equal(nu.apply(X), X)


@pytest.mark.parametrize("name", sorted(NOISES))
def test_same_seed_same_draw_other_seed_other_draw(name):
    a = sample_noise(X, name, 0.3, np.random.default_rng(7)).apply(X)
    b = sample_noise(X, name, 0.3, np.random.default_rng(7)).apply(X)
    c = sample_noise(X, name, 0.3, np.random.default_rng(8)).apply(X)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_masking_full_level_drops_everything():
    assert np.all(sample_noise(X, "masking", 1.0, np.random.default_rng(0)).apply(X) == 0)


def test_draw_follows_the_dtype_of_X():
    X32 = X.astype(np.float32)
    for name in NOISES:
        assert sample_noise(X32, name, 0.2, np.random.default_rng(0)).apply(X32).dtype == np.float32


@pytest.mark.parametrize("name,level,message", [
    ("gaussian", -0.1, r"noise_level must be in \[0, inf\]"),
    ("masking", 1.5, r"noise_level must be in \[0, 1\]"),
    ("masking", -0.5, r"noise_level must be in \[0, 1\]"),
    ("salt_and_pepper", 2.0, r"noise_level must be in \[0, 1\]"),
    ("blur", 0.1, "noise must be None or one of"),
])
def test_bad_levels_and_names_raise_errors_naming_the_argument(name, level, message):
    with pytest.raises(ValueError, match=message):
        sample_noise(X, name, level, np.random.default_rng(0))


def test_a_draw_for_another_batch_shape_is_refused():
    nu = MaskingNoise.sample(X, 0.2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="drawn for a batch of shape"):
        nu.apply(X[:3])


def test_rng_must_be_a_generator_and_range_ordered():
    with pytest.raises(ValueError, match="rng must be a numpy.random.Generator"):
        sample_noise(X, "masking", 0.2, 0)
    with pytest.raises(ValueError, match="low <= high"):
        SaltAndPepperNoise.sample(X, 0.2, np.random.default_rng(0), low=1.0, high=0.0)
    assert get_noise("gaussian") is GaussianNoise
