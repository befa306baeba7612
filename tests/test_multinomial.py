"""The pieces of Mult-DAE/Mult-VAE on their own: the multinomial loss against its equation
and central differences, dropout noise, the L2 input normalization, the per-update KL
warm-up, and output="multinomial" on both models (float64 gradient checks)."""
import numpy as np
import pytest

import npae
from npae.gradcheck import check_input_gradient, check_model, check_vjp
from npae.losses import MultinomialLoss, get_loss
from npae.noise import DropoutNoise, sample_noise
from npae.normalization import l2_normalize, l2_normalize_backward

rng = np.random.default_rng(24)


def test_multinomial_loss_is_minus_counts_times_log_softmax_averaged_over_users():
    """losses (F7), written out with a textbook softmax where nothing overflows."""
    A = rng.normal(scale=3, size=(5, 8))
    X = rng.integers(0, 3, size=A.shape).astype(float)
    softmax = np.exp(A) / np.exp(A).sum(axis=1, keepdims=True)
    textbook = -np.sum(X * np.log(softmax)) / A.shape[0]
    assert MultinomialLoss.value(A, X) == pytest.approx(textbook, rel=1e-13)
    np.testing.assert_allclose(MultinomialLoss.per_example(A, X),
                               -np.sum(X * np.log(softmax), axis=1), rtol=1e-13)
    np.testing.assert_allclose(MultinomialLoss.mean(A), softmax, rtol=1e-13)
    # losses (B5): (N_u softmax − x)/B, not (softmax − x)/B
    N = X.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(MultinomialLoss.grad(A, X), (N * softmax - X) / 5, rtol=1e-12)
    assert get_loss("multinomial") is MultinomialLoss


def test_multinomial_gradients_with_respect_to_logits_and_counts():
    A, X = rng.normal(size=(4, 6)), rng.uniform(0, 2, size=(4, 6))
    check_input_gradient(lambda Ap: (MultinomialLoss.value(Ap, X), MultinomialLoss.grad(Ap, X)), A)
    check_input_gradient(lambda Xp: (MultinomialLoss.value(A, Xp),
                                     MultinomialLoss.target_grad(A, Xp)), X)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_multinomial_loss_is_finite_at_logits_of_plus_minus_1e4(dtype):
    A = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype=dtype)
    X = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]], dtype=dtype)
    value, grad = MultinomialLoss.value_and_grad(A, X)
    assert np.isfinite(value) and np.isfinite(grad).all()
    # row 0: log softmax = (0, −2e4, −1e4): the loss of row 0 is 2e4, of row 1 2 log 3
    assert value == pytest.approx((2e4 + 2 * np.log(3)) / 2, rel=1e-6)
    assert np.isfinite(MultinomialLoss.target_grad(A, X)).all()


def test_multinomial_targets_must_be_nonnegative_counts():
    with pytest.raises(ValueError, match="counts >= 0"):
        MultinomialLoss.check_targets(np.array([[1.0, -0.5]]))


def test_dropout_keeps_with_probability_one_minus_p_and_scales_by_its_inverse():
    X = np.ones((400, 500))
    d = sample_noise(X, "dropout", 0.3, np.random.default_rng(0))
    assert isinstance(d, DropoutNoise)
    Xt = d.apply(X)
    np.testing.assert_allclose(np.unique(Xt), [0.0, 1 / 0.7], rtol=1e-15)
    assert np.mean(Xt == 0) == pytest.approx(0.3, abs=0.005)      # 200,000 draws
    assert Xt.mean() == pytest.approx(1.0, abs=0.01)             # E[x̃] = x
    check_vjp(d.apply, lambda G, X: d.backward(G), rng.normal(size=X.shape), directions=5)


def test_dropout_p_must_be_below_one():
    with pytest.raises(ValueError, match="noise_level"):
        sample_noise(np.ones((2, 2)), "dropout", 1.0, np.random.default_rng(0))


def test_l2_normalization_forward_and_backward():
    X = rng.uniform(0.1, 2.0, size=(5, 7))
    Xn, r = l2_normalize(X)
    np.testing.assert_allclose(np.linalg.norm(Xn, axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(Xn * r, X, rtol=1e-14)
    check_vjp(lambda X: l2_normalize(X)[0],
              lambda G, X: l2_normalize_backward(G, *l2_normalize(X)), X)
    G = rng.normal(size=X.shape)       # scaling a row does not move x̄: no gradient along x
    np.testing.assert_allclose(np.sum(X * l2_normalize_backward(G, Xn, r), axis=1), 0,
                               atol=1e-12)


def test_l2_normalization_refuses_rows_of_zeros_by_name():
    X = np.ones((3, 4))
    X[1] = 0
    with pytest.raises(ValueError, match="row 1"):
        l2_normalize(X)
    model = npae.MultDAE(dtype="float64").initialize(4, 0)
    with pytest.raises(ValueError, match="all zeros"):
        model.loss(X)


def _counts(B, D, seed):
    """Clicks as positive weights: x in (0.05, 1) keeps the input check inside x ≥ 0 and
    every row's norm away from 0 (the normalization's only singularity)."""
    return np.random.default_rng(seed).uniform(0.05, 1.0, size=(B, D))


def test_mult_dae_gradients_every_term_and_input_through_l2_and_dropout():
    """tanh is smooth everywhere; the dropout mask is fixed in the noise record, so the
    step is a smooth function of the parameters and of x (x > 0: rows of norm > 0)."""
    X = _counts(6, 11, 0)
    model = npae.MultDAE(hidden_layer_sizes=(5,), dtype="float64").initialize(11, 0)
    noise = model.sample_noise(X, np.random.default_rng(1))
    assert isinstance(noise, DropoutNoise) and 0 < noise.mask.mean() < 1
    report = check_model(model, X, noise=noise)
    checked = {(row.term, row.name) for row in report.rows}
    assert {("recon", "input X"), ("recon", "enc.0.W"), ("weight_decay", "dec.0.W"),
            ("all", "input X")} <= checked


@pytest.mark.slow      # over a second: the quick loop stays about a minute
def test_mult_vae_gradients_every_term_and_input_through_l2_and_dropout():
    """As above, plus ε fixed in the noise: z = μ + σ ⊙ ε is smooth in every parameter."""
    X = _counts(6, 11, 2)
    model = npae.MultVAE(hidden_layer_sizes=(7,), latent_dim=3, weight_decay=0.01,
                         dtype="float64").initialize(11, 0)
    noise = model.sample_noise(X, np.random.default_rng(3))
    assert set(noise) == {"eps", "corruption"}
    report = check_model(model, X, noise=noise)
    checked = {(row.term, row.name) for row in report.rows}
    assert {("recon", "input X"), ("kl", "input X"), ("kl", "logvar.W"),
            ("weight_decay", "dec.1.W"), ("all", "input X")} <= checked


def test_vae_recon_value_is_the_multinomial_loss_of_its_logits():
    """The step's recon equals losses (F7) of the forward's logits, with the clean target."""
    X = _counts(4, 9, 4)
    model = npae.MultVAE(hidden_layer_sizes=(5,), latent_dim=2, dtype="float64").initialize(9, 0)
    noise = model.sample_noise(X, np.random.default_rng(5))
    f = model.forward(X, noise=noise)
    _, values = model.loss(X, noise=noise)
    assert values["recon"] == pytest.approx(MultinomialLoss.value(f.logits, X), rel=1e-13)
    # the encoder read the L2-normalized, dropped-out input
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    np.testing.assert_allclose(f.enc[0].inp, noise["corruption"].apply(Xn), rtol=1e-14)


def test_kl_warmup_steps_raises_beta_linearly_per_update():
    X = (np.random.default_rng(6).random((40, 10)) < 0.4).astype(float)
    X[:, 0] = 1
    seen = []
    model = npae.MultVAE(hidden_layer_sizes=(4,), latent_dim=2, beta=0.2, kl_warmup_steps=6,
                         batch_size=10, epochs=3, random_state=0, verbose=False)
    original = model.on_step_start

    def spy(step):
        original(step)
        seen.append((step, model._kl_warmup))
    model.on_step_start = spy
    model.fit(X)
    assert [s for s, _ in seen] == list(range(12))                   # 4 updates × 3 epochs
    assert [w for _, w in seen] == pytest.approx([min(1.0, t / 6) for t in range(12)])
    assert model._kl_warmup == 1.0                                   # β again after fit
    with pytest.raises(ValueError, match="choose one warm-up"):
        npae.MultVAE(kl_warmup_epochs=2).fit(X)
