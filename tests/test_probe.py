"""Tests for npae.probe: the softmax cross-entropy against its formula and its gradient
against central differences, the L-BFGS fit, argument checks, and raw MNIST pixels."""
import time

import numpy as np
import pytest

from npae import NotFittedError
from npae.gradcheck import check_gradients
from npae.probe import LinearProbe, linear_probe_accuracy, softmax_cross_entropy


def random_problem(B=7, D=5, C=4, seed=0):
    rng = np.random.default_rng(seed)
    params = {"W": rng.standard_normal((D, C)), "b": rng.standard_normal(C)}
    return params, rng.standard_normal((B, D)), rng.integers(C, size=B)


@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_gradients_match_central_differences(l2):
    """(B1)-(B3) against (N1) at tol 1e-7 in float64, for W and b, with and without λ."""
    params, X, y = random_problem()
    report = check_gradients(lambda p: softmax_cross_entropy(p, X, y, l2), params, tol=1e-7)
    assert report.max_rel_error < 1e-7
    assert {row.name for row in report.rows} == {"W", "b"}


def test_loss_equals_textbook_negative_log_softmax():
    """(F3) = mean_n −log(exp(a_{n,y_n}) / Σ_c exp(a_nc)) + (λ/2)‖W‖², computed naively
    (safe here: logits of order 1), and the weight decay leaves b alone."""
    params, X, y = random_problem(B=9, D=3, C=5, seed=1)
    A = X @ params["W"] + params["b"]
    p = np.exp(A) / np.exp(A).sum(axis=1, keepdims=True)
    expected = np.mean(-np.log(p[np.arange(len(y)), y])) + 0.5 * 0.2 * np.sum(params["W"] ** 2)
    loss, grads = softmax_cross_entropy(params, X, y, l2=0.2)
    assert loss == pytest.approx(expected, rel=1e-12)
    # (B1) written out: dL/db = mean_n (p_n − onehot(y_n))
    onehot = np.eye(5)[y]
    np.testing.assert_allclose(grads["b"], np.mean(p - onehot, axis=0), atol=1e-14)


def test_loss_is_stable_for_huge_logits():
    """Logits of ±1e4 overflow a naive softmax; the max-subtracted log-sum-exp gives the
    exact answer: a margin of 2e4 on the right class costs 0, on a wrong class 2e4."""
    params = {"W": np.array([[1e4, -1e4]]), "b": np.zeros(2)}
    X = np.ones((2, 1))
    loss, grads = softmax_cross_entropy(params, X, np.array([0, 1]))
    assert loss == pytest.approx(0.5 * 2e4)
    assert np.all(np.isfinite(grads["W"]))


def test_separable_data_reaches_full_accuracy():
    """Three linearly separable clusters (gap ≫ spread): train and test accuracy 1.0,
    probabilities sum to 1, and arbitrary integer labels come back as given."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 5.0], [5.0, 0.0], [-5.0, -5.0]])
    labels = np.array([7, -2, 30])
    z = rng.integers(3, size=600)
    X = centres[z] + 0.5 * rng.standard_normal((600, 2))
    y = labels[z]
    probe = LinearProbe().fit(X[:400], y[:400])
    assert probe.score(X[:400], y[:400]) == 1.0
    assert probe.score(X[400:], y[400:]) == 1.0
    np.testing.assert_array_equal(probe.classes_, np.sort(labels))
    np.testing.assert_allclose(probe.predict_proba(X).sum(axis=1), 1.0, rtol=1e-6)
    assert set(np.unique(probe.predict(X))) == set(labels)
    assert linear_probe_accuracy(X[:400], y[:400], X[400:], y[400:]) == 1.0


def test_lbfgs_reaches_the_minimum_in_float64():
    """On a small convex problem the fit converges to a point where every gradient entry
    is below tol, i.e. the optimizer really minimizes (F3) rather than stopping early."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((300, 6))
    y = (X @ rng.standard_normal((6, 3))).argmax(axis=1)
    y[:30] = rng.integers(3, size=30)                       # label noise: not separable
    probe = LinearProbe(l2=1e-2, tol=1e-8, max_iter=500, dtype=np.float64).fit(X, y)
    assert probe.converged_
    Xs = (X - probe.mean_) / probe.scale_
    y_idx = np.searchsorted(probe.classes_, y)
    loss0, grads = softmax_cross_entropy(probe.params_, Xs, y_idx, 1e-2)
    assert probe.loss_ == pytest.approx(loss0, rel=1e-12)
    assert max(np.abs(grads["W"]).max(), np.abs(grads["b"]).max()) <= 1e-8
    # a random perturbation of the minimum increases the loss
    for _ in range(5):
        nudged = {k: v + 1e-3 * rng.standard_normal(v.shape) for k, v in probe.params_.items()}
        assert softmax_cross_entropy(nudged, Xs, y_idx, 1e-2)[0] > loss0


def test_constant_feature_and_no_standardization():
    """A constant column (std 0) is divided by 1, not 0; standardize=False leaves X as is."""
    rng = np.random.default_rng(3)
    X = np.column_stack([rng.standard_normal(200), np.full(200, 3.0)])
    y = (X[:, 0] > 0).astype(int)
    probe = LinearProbe().fit(X, y)
    assert probe.scale_[1] == 1.0 and probe.score(X, y) >= 0.99
    raw = LinearProbe(standardize=False).fit(X, y)
    assert np.all(raw.mean_ == 0) and np.all(raw.scale_ == 1) and raw.score(X, y) >= 0.99


def test_fit_is_deterministic_and_follows_conventions():
    params, X, y = random_problem(B=100, D=4, C=3, seed=4)
    a = LinearProbe().fit(X, y)
    b = LinearProbe().fit(X, y)
    np.testing.assert_array_equal(a.params_["W"], b.params_["W"])
    probe = LinearProbe(l2=0.5)
    assert probe.get_params()["l2"] == 0.5
    assert probe.set_params(max_iter=7) is probe and probe.max_iter == 7
    with pytest.raises(ValueError, match="'learning_rate' is not a hyperparameter"):
        probe.set_params(learning_rate=0.1)


def test_bad_inputs_raise():
    _, X, y = random_problem(B=20, D=3, C=2)
    with pytest.raises(ValueError, match="integer class labels"):
        LinearProbe().fit(X, y.astype(float))
    with pytest.raises(ValueError, match="y has 19 labels but X has 20 rows"):
        LinearProbe().fit(X, y[:-1])
    with pytest.raises(ValueError, match="1-dimensional"):
        LinearProbe().fit(X, y[:, None])
    with pytest.raises(ValueError, match="at least 2 classes"):
        LinearProbe().fit(X, np.zeros(20, dtype=int))
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="X contains 1 NaN"):
        LinearProbe().fit(bad, y)
    with pytest.raises(ValueError, match="l2"):
        LinearProbe(l2=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="dtype"):
        LinearProbe(dtype=np.int32).fit(X, y)
    with pytest.raises(NotFittedError):
        LinearProbe().predict(X)
    probe = LinearProbe().fit(X, y)
    with pytest.raises(ValueError, match="must have 3 columns"):
        probe.predict(X[:, :2])
    with pytest.raises(ValueError, match="y has 5 labels but X has 20 rows"):
        probe.score(X, y[:5])


@pytest.mark.mnist
@pytest.mark.slow
def test_raw_pixel_probe_on_mnist(mnist_dir, mnist_train):
    """Multinomial logistic regression on the 784 raw pixels (60k train, 10k test) is
    known to reach about 92%; we measured 0.926. Assert ≥ 0.92 (the standard error of a
    10k-sample accuracy near 0.92 is 0.0027) and report the time."""
    from npae.datasets import load_mnist
    X_train, y_train = mnist_train
    X_test, y_test = load_mnist("test", data_dir=mnist_dir)
    start = time.perf_counter()
    acc = linear_probe_accuracy(X_train, y_train, X_test, y_test)
    print(f"raw-pixel linear probe: test accuracy {acc:.4f} in "
          f"{time.perf_counter() - start:.1f} s")
    assert acc >= 0.92


@pytest.mark.parametrize("scale", [1e20, 1e-25, 1e10, 1e-10, 1.0])
def test_standardization_works_at_any_scale_of_float32_data(scale):
    """Issue 13 item 10: 1e20 and 1e-25 used to give 0.57 where the unscaled data gives
    1.00 (the square of 1e20 overflows float32, of 1e-25 underflows). The standardized
    features, and so the fit, no longer depend on the scale."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((300, 5)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    reference = LinearProbe().fit(X, y)
    Xs = X * np.float32(scale)
    probe = LinearProbe().fit(Xs, y)
    print(f"scale {scale:g}: accuracy {probe.score(Xs, y):.2f}")
    assert probe.score(Xs, y) == reference.score(X, y) == 1.0
    np.testing.assert_allclose(probe.scale_ / scale, reference.scale_, rtol=1e-5)


@pytest.mark.parametrize("scale", [1e20, 1e-25, 1e-3])
def test_unstandardized_data_at_an_extreme_scale_is_refused(scale):
    X = np.random.default_rng(5).standard_normal((50, 3)).astype(np.float32) * np.float32(scale)
    with pytest.raises(ValueError, match=r"standardize=False.*outside \[1e-2, 1e6\]"):
        LinearProbe(standardize=False).fit(X, np.arange(50) % 2)


def test_a_failed_refit_keeps_the_previous_fit():
    params, X, y = random_problem(B=60, D=4, C=3, seed=6)
    probe = LinearProbe().fit(X, y)
    before = {k: v.copy() for k, v in probe.params_.items()}
    with pytest.raises(ValueError, match="at least 2 classes"):
        probe.fit(X[:, :2], np.zeros(60, dtype=int))
    assert probe.n_features_in_ == 4 and len(probe.classes_) == 3
    assert all(np.array_equal(probe.params_[k], before[k]) for k in before)
