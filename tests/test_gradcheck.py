"""The checker itself: it passes correct gradients, catches planted bugs, refuses float32."""
import numpy as np
import pytest

from npae.gradcheck import (GradientCheckError, check_gradients, check_model, numerical_gradient,
                            relative_error)


def _quadratic(p):
    """L = Σ sin(w) + ½‖v‖², a smooth function with known gradient."""
    loss = float(np.sum(np.sin(p["w"])) + 0.5 * np.sum(p["v"] ** 2))
    return loss, {"w": np.cos(p["w"]), "v": p["v"].copy()}


def test_relative_error_is_the_normwise_formula():
    a, n = np.array([3.0, 4.0]), np.array([3.0, 4.1])
    assert relative_error(a, n) == pytest.approx(0.1 / (5.0 + np.hypot(3, 4.1)))
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0


@pytest.mark.parametrize("order", [2, 4])
def test_numerical_gradient_matches_analytic_and_restores_the_point(order):
    x = np.random.default_rng(0).normal(size=(3, 4))
    x0 = x.copy()
    g = numerical_gradient(lambda: float(np.sum(np.exp(x))), x, eps=1e-5 if order == 2 else 1e-3,
                           order=order)
    np.testing.assert_array_equal(x, x0)
    assert relative_error(np.exp(x), g) < 1e-9


def test_fourth_order_stencil_beats_second_order_at_the_same_step():
    x = np.array([0.7])
    f = lambda: float(np.sin(3 * x[0]))
    exact = 3 * np.cos(2.1)
    e2 = abs(numerical_gradient(f, x, 1e-3, 2)[0] - exact)
    e4 = abs(numerical_gradient(f, x, 1e-3, 4)[0] - exact)
    assert e4 < e2 / 1000


def test_correct_gradients_pass_and_report_every_array():
    p = {"w": np.linspace(-1, 1, 6).reshape(2, 3), "v": np.arange(4.0)}
    report = check_gradients(_quadratic, p)
    assert [r.name for r in report.rows] == ["w", "v"] and report.passed
    assert "rel. error" in report.table() and report.max_rel_error < 1e-9


def test_a_planted_bug_is_caught_with_a_readable_message():
    def buggy(p):
        loss, g = _quadratic(p)
        g["v"] = 2 * g["v"]            # forgot the ½ of ½‖v‖²
        return loss, g

    p = {"w": np.ones((2, 2)), "v": np.arange(1.0, 4.0)}
    with pytest.raises(GradientCheckError, match=r"all/v"):
        check_gradients(buggy, p)
    assert not check_gradients(buggy, p, raise_on_fail=False).passed


def test_float32_parameters_are_refused():
    p = {"w": np.ones(3, dtype=np.float32), "v": np.ones(2)}
    with pytest.raises(TypeError, match="float64"):
        check_gradients(_quadratic, p)


def test_grads_with_wrong_keys_or_shapes_are_reported():
    p = {"w": np.ones(3), "v": np.ones(2)}
    with pytest.raises(GradientCheckError, match="different keys"):
        check_gradients(lambda q: (0.0, {"w": q["w"]}), p)
    with pytest.raises(GradientCheckError, match="shape"):
        check_gradients(lambda q: (0.0, {"w": q["w"][:2], "v": q["v"]}), p)


def test_input_check_at_the_edge_of_the_valid_range_explains_itself():
    import npae
    m = npae.Autoencoder((3,), dtype="float64", random_state=0).initialize(4)
    X = np.array([[0.0, 0.5, 1.0, 0.5]])            # pixels exactly at 0 and 1
    with pytest.raises(ValueError, match=r"inside the valid range"):
        check_model(m, X)
