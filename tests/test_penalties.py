"""npae.penalties: each penalty's forward against its equation written out independently,
each backward against central differences, the closed-form contractive penalty against
the explicit and a finite-difference Jacobian, and the KL clamp's behaviour."""
import numpy as np
import pytest

from npae.gradcheck import numerical_gradient, relative_error
from npae.penalties import (clamp_rho_hat, contractive, contractive_explicit,
                            contractive_explicit_grad, contractive_grad, kl_sparsity,
                            kl_sparsity_grad, l1_activity, l1_activity_grad,
                            sigmoid_encoder_jacobian, top_k_mask, weight_decay,
                            weight_decay_grad)

rng = np.random.default_rng(0)
B, D, H = 7, 5, 4
X = rng.uniform(0, 1, size=(B, D))
W = rng.normal(scale=0.8, size=(D, H))
b = rng.normal(scale=0.5, size=H)


def sig(a):
    return 1 / (1 + np.exp(-a))


def grad_check(f, g, x):
    """Relative error between g (analytic) and the central differences of f at x."""
    return relative_error(g, numerical_gradient(lambda: f(x), x))


def test_weight_decay_is_half_lambda_times_squared_frobenius_norms():
    V = rng.normal(size=(3, 2))
    assert weight_decay([W, V], 0.3) == pytest.approx(0.15 * (np.sum(W**2) + np.sum(V**2)))
    np.testing.assert_array_equal(weight_decay_grad(W, 0.3), 0.3 * W)


def test_l1_value_is_lambda_times_batch_mean_of_summed_absolute_codes():
    h = rng.normal(size=(B, H))
    expected = 0.7 * sum(abs(h[n, j]) for n in range(B) for j in range(H)) / B
    assert l1_activity(h, 0.7) == pytest.approx(expected, rel=1e-13)


def test_l1_gradient_matches_central_differences_away_from_zero():
    """Smooth point: every |h| ≥ 0.1 while the check moves one entry by at most 2e-3."""
    h = rng.normal(size=(B, H))
    h = np.where(np.abs(h) < 0.1, 0.5, h)
    assert np.abs(h).min() >= 0.1
    assert grad_check(lambda v: l1_activity(v, 0.7), l1_activity_grad(h, 0.7), h) < 1e-10


def test_l1_subgradient_is_zero_at_zero():
    h = np.array([[0.0, -2.0, 3.0]])
    np.testing.assert_array_equal(l1_activity_grad(h, 2.0), [[0.0, -2.0, 2.0]])


def test_kl_value_equals_the_formula_on_the_batch_mean():
    h = sig(X @ W + b)
    rho, beta = 0.1, 3.0
    rho_hat = [sum(h[n, j] for n in range(B)) / B for j in range(H)]      # (P5) written out
    expected = beta * sum(rho * np.log(rho / r) + (1 - rho) * np.log((1 - rho) / (1 - r))
                          for r in rho_hat)
    assert kl_sparsity(h, rho, beta) == pytest.approx(expected, rel=1e-13)


def test_kl_is_zero_when_every_mean_equals_the_target_and_positive_otherwise():
    h = np.full((B, H), 0.2)
    assert kl_sparsity(h, 0.2, 3.0) == pytest.approx(0.0, abs=1e-15)
    np.testing.assert_allclose(kl_sparsity_grad(h, 0.2, 3.0), 0.0, atol=1e-14)
    assert kl_sparsity(h, 0.05, 3.0) > 0


def test_kl_gradient_matches_central_differences_and_is_shared_by_the_batch():
    """(P8): ∂R/∂h_nj = (1/B) ∂R/∂ρ̂_j, the same row for every example n."""
    h = sig(X @ W + b)
    g = kl_sparsity_grad(h, 0.05, 3.0)
    assert grad_check(lambda v: kl_sparsity(v, 0.05, 3.0), g, h) < 1e-9
    np.testing.assert_allclose(g, np.broadcast_to(g[0], g.shape), rtol=0, atol=0)
    rho_hat = h.mean(0)
    np.testing.assert_allclose(g[0], 3.0 * (-0.05 / rho_hat + 0.95 / (1 - rho_hat)) / B,
                               rtol=1e-13)


def test_kl_gradient_pushes_the_mean_activation_towards_the_target():
    h = np.column_stack([np.full(B, 0.5), np.full(B, 0.01)])   # ρ̂ = (0.5, 0.01), ρ = 0.05
    g = kl_sparsity_grad(h, 0.05, 1.0)
    assert np.all(g[:, 0] > 0) and np.all(g[:, 1] < 0)   # descent lowers unit 0, raises unit 1


def test_kl_clamp_is_the_identity_inside_and_keeps_a_saturated_unit_finite():
    """(P9): inside [δ, 1−δ] nothing changes; a unit at ρ̂ = 1 exactly (every σ rounded
    to 1) gets a finite value and a finite positive code gradient, not inf/nan."""
    inside = np.array([1e-15, 0.3, 1 - 1e-15])
    np.testing.assert_array_equal(clamp_rho_hat(inside), inside)
    for dtype in (np.float32, np.float64):
        h = np.ones((B, H), dtype=dtype)
        h[:, 1] = 0.0
        value = kl_sparsity(h, 0.05, 3.0)
        g = kl_sparsity_grad(h, 0.05, 3.0)
        assert np.isfinite(value) and np.all(np.isfinite(g))
        assert np.all(g[:, 0] > 0) and np.all(g[:, 1] < 0)


def test_top_k_mask_keeps_exactly_the_k_largest_per_row():
    h = rng.permutation(np.arange(B * H, dtype=float)).reshape(B, H)   # distinct: no ties
    for k in range(1, H + 1):
        M = top_k_mask(h, k)
        assert np.all(M.sum(1) == k)
        kth = np.sort(h, axis=1)[:, -k]
        np.testing.assert_array_equal(M, (h >= kth[:, None]).astype(float))


def test_contractive_closed_form_equals_explicit_and_finite_difference_jacobians():
    """(P11): Σ_j σ'_j² Σ_i W_ij² = ‖J‖_F² with J built by einsum and by differencing the
    encoder f(x) = σ(xW + b) itself, one example at a time."""
    h = sig(X @ W + b)
    lam = 0.7
    closed = contractive(h, W, lam)
    explicit = contractive_explicit(h, W, lam)
    eps = 1e-6
    E = np.eye(D)
    # J_fd[n, i, :] = (f(x_n + ε e_i) − f(x_n − ε e_i)) / 2ε, all n and i at once
    J_fd = (sig((X[:, None, :] + eps * E) @ W + b)
            - sig((X[:, None, :] - eps * E) @ W + b)) / (2 * eps)         # (B, D, H)
    fd = lam * np.sum(J_fd ** 2) / B
    assert closed == pytest.approx(explicit, rel=1e-13)
    assert closed == pytest.approx(fd, rel=1e-8)
    np.testing.assert_allclose(sigmoid_encoder_jacobian(h, W), J_fd, rtol=1e-7, atol=1e-10)


def test_contractive_gradient_closed_form_matches_explicit_path_and_central_differences():
    """(P13)-(P14) against the chain rule through the explicit Jacobian, and the total
    ∂R/∂W, ∂R/∂b (W reached twice) against central differences of R(W, b)."""
    lam = 0.7
    h = sig(X @ W + b)
    dh, dWq = contractive_grad(h, W, lam)
    dh2, dWq2 = contractive_explicit_grad(h, W, lam)
    np.testing.assert_allclose(dh, dh2, rtol=1e-12)
    np.testing.assert_allclose(dWq, dWq2, rtol=1e-12)
    dA = dh * h * (1 - h)                        # through σ' = s
    dW = X.T @ dA + dWq                          # autoencoder (B11): both uses of W
    db = dA.sum(0)
    Wc, bc = W.copy(), b.copy()
    assert grad_check(lambda w: contractive(sig(X @ w + bc), w, lam), dW, Wc) < 1e-9
    assert grad_check(lambda v: contractive(sig(X @ Wc + v), Wc, lam), db, bc) < 1e-9


def test_contractive_gradient_has_two_nonzero_parts_because_w_is_used_twice():
    """Forgetting either use of W (via h or via q) would give a wrong gradient."""
    h = sig(X @ W + b)
    dh, dWq = contractive_grad(h, W, 0.7)
    assert np.linalg.norm(dWq) > 1e-3 and np.linalg.norm(X.T @ (dh * h * (1 - h))) > 1e-3


@pytest.mark.slow      # over a second: the quick loop stays about a minute
def test_minibatch_kl_sparsity_is_biased_upward_by_var_over_2B_rho_one_minus_rho():
    """(P5) is a minibatch mean, so E[KL(ρ ‖ ρ̂_B)] > 0 even when the population mean is ρ
    (Jensen: KL is convex), ≈ Var(h) / (2 B ρ (1 − ρ)) to second order. Codes h = σ(a),
    a ~ N(m, 2²) with m chosen so E h = ρ = 0.05 (the numbers in the module docstring)."""
    from npae.layers import sigmoid
    from npae.penalties import kl_sparsity
    rho = 0.05
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 2.0, 1_000_000)
    lo, hi = -10.0, 0.0
    for _ in range(60):                                   # bisection for E σ(a + m) = ρ
        m = (lo + hi) / 2
        lo, hi = (lo, m) if sigmoid(a + m).mean() > rho else (m, hi)
    h = sigmoid(a + m)
    assert abs(h.mean() - rho) < 1e-9 and m == pytest.approx(-4.42, abs=0.01)
    biases = []
    for B in (32, 128, 512):
        R = 4000
        batches = h[rng.integers(0, h.size, (R, B))][:, :, None]       # (R, B, 1): one unit
        kl = np.array([kl_sparsity(hb, rho, 1.0) for hb in batches])   # a loop over batches
        predicted = h.var() / (2 * B * rho * (1 - rho))
        se = kl.std(ddof=1) / np.sqrt(R)
        print(f"B = {B}: mean KL(ρ‖ρ̂_B) = {kl.mean():.5f} ± {se:.5f}, "
              f"second order {predicted:.5f}")
        assert kl.mean() > 10 * se                                      # positive: biased
        assert abs(kl.mean() - predicted) <= 4 * se + 0.05 * predicted
        biases.append(kl.mean())
    assert biases[0] == pytest.approx(0.0036, abs=0.0003)               # the docstring's numbers
    assert biases[1] == pytest.approx(0.00089, abs=0.00008)
    assert biases[2] == pytest.approx(0.00022, abs=0.00002)


def test_the_clamp_does_not_revive_a_saturated_unit_its_weights_get_zero_gradient():
    """A code unit whose σ rounds to exactly 1 on the whole batch: the clamped (P7) is
    finite and positive, but σ'(a) = h(1 − h) = 0, so the sparsity term gives its bias
    and incoming weights exactly zero gradient (the clamp only prevents inf/NaN)."""
    import npae
    m = npae.Autoencoder((4,), sparsity="kl", sparsity_weight=3.0, dtype="float64",
                         random_state=0).initialize(5)
    m.params_["enc.0.b"][2] = 100.0                       # σ(a) = 1 exactly for every row
    X = np.random.default_rng(0).uniform(size=(6, 5))
    _, values, g = m.loss_and_grads(X, terms=["sparsity"])
    assert np.isfinite(values["sparsity"])
    assert g["enc.0.b"][2] == 0.0 and np.all(g["enc.0.W"][:, 2] == 0.0)
    assert np.all(g["enc.0.b"][[0, 1, 3]] != 0.0)         # the other units do get one
