"""The ρ̂ clamp (P9) of npae.penalties on a unit whose codes are all below δ but not 0:
what the docstring says it does, checked against the unclamped (P6)-(P8)."""
import numpy as np
import pytest

from npae import penalties

DELTA = np.finfo(np.float64).eps


def _true_grad(h, rho, beta):
    """(P7)-(P8) at the unclamped ρ̂ (well defined here: 0 < ρ̂ < 1)."""
    r = h.mean(axis=0)
    return np.broadcast_to(beta * (-rho / r + (1 - rho) / (1 - r)) / h.shape[0], h.shape)


@pytest.mark.parametrize("code", [1e-17, 1e-30])
def test_a_unit_with_codes_below_delta_gets_the_true_gradient_scaled_by_rho_hat_over_delta(code):
    rho, beta = 0.05, 3.0
    h = np.array([[0.2, code], [0.4, 2 * code], [0.3, 0.5 * code]])   # unit 1: tiny codes
    rho_hat = h.mean(axis=0)
    clamped, true = penalties.kl_sparsity_grad(h, rho, beta), _true_grad(h, rho, beta)
    np.testing.assert_array_equal(clamped[:, 0], true[:, 0])          # unit 0: identity
    ratio = clamped[:, 1] / true[:, 1]
    print(f"codes {code:g}: gradient ratio {ratio[0]:.3g}, rho_hat/delta "
          f"{rho_hat[1] / DELTA:.3g}")
    np.testing.assert_allclose(ratio, rho_hat[1] / DELTA, rtol=1e-12)
    value = penalties.kl_sparsity(h, rho, 1.0)
    true_value = float(np.sum(penalties.kl_divergence_bernoulli(rho, rho_hat)))
    assert true_value - value == pytest.approx(rho * np.log(DELTA / rho_hat[1]), rel=1e-6)


def test_the_quoted_fraction_at_codes_of_1e_17():
    """The docstring's "1e-17 / 2.2e-16 ≈ 4.5 %"."""
    assert 1e-17 / DELTA == pytest.approx(0.045, abs=5e-4)
