"""Tests for npae.anomaly: the rank formula of the AUC against the pairwise definition,
the ROC curve against it, and reconstruction scores."""
import numpy as np
import pytest

from npae.anomaly import average_ranks, reconstruction_scores, roc_auc, roc_curve


def auc_by_pairs(scores, labels):
    """(A1) by brute force: every (anomaly, normal) pair, ties count ½. O(P·Q)."""
    pos = scores[labels.astype(bool)]
    neg = scores[~labels.astype(bool)]
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return (greater + 0.5 * ties) / (len(pos) * len(neg))


def trapezoid_area(x, y):
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


@pytest.mark.parametrize("seed", range(5))
def test_rank_auc_equals_pairwise_count_with_ties(seed):
    """(A2) = (A1) on random scores with many ties (integers 0..9) and unbalanced classes."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 300))
    scores = rng.integers(10, size=n).astype(float)
    labels = rng.random(n) < rng.uniform(0.1, 0.5)
    labels[:2] = [True, False]                         # both classes present
    assert roc_auc(scores, labels) == pytest.approx(auc_by_pairs(scores, labels), abs=1e-12)
    # continuous scores (no ties) as well
    cont = rng.standard_normal(n) + labels
    assert roc_auc(cont, labels) == pytest.approx(auc_by_pairs(cont, labels), abs=1e-12)


def test_average_ranks_share_ties():
    np.testing.assert_array_equal(average_ranks([10.0, 20.0, 10.0, 30.0, 20.0, 20.0]),
                                  [1.5, 4.0, 1.5, 6.0, 4.0, 4.0])


def test_extreme_cases():
    """Perfect separation 1, reversed 0, all scores tied ½; labels as bool or 0/1."""
    labels = np.array([0, 0, 0, 1, 1])
    assert roc_auc([0.1, 0.2, 0.3, 0.8, 0.9], labels) == 1.0
    assert roc_auc([0.9, 0.8, 0.7, 0.2, 0.1], labels) == 0.0
    assert roc_auc(np.full(5, 3.0), labels.astype(bool)) == 0.5


@pytest.mark.parametrize("seed", range(5))
def test_trapezoid_area_under_roc_curve_equals_auc(seed):
    """The trapezoid rule on (C1) reproduces (A2), ties included (diagonal steps)."""
    rng = np.random.default_rng(seed)
    scores = np.round(rng.standard_normal(200), 1)     # rounding makes ties
    labels = rng.random(200) < 0.3
    fpr, tpr, thresholds = roc_curve(scores, labels)
    assert trapezoid_area(fpr, tpr) == pytest.approx(roc_auc(scores, labels), abs=1e-12)
    assert (fpr[0], tpr[0]) == (0.0, 0.0) and (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert thresholds[0] == np.inf and np.all(np.diff(thresholds) < 0)
    assert len(thresholds) == len(np.unique(scores)) + 1


def test_roc_curve_points_match_definition():
    """(C1) by hand: each point is the rates of flagging scores ≥ its threshold."""
    scores = np.array([0.9, 0.8, 0.8, 0.5, 0.3, 0.1])
    labels = np.array([1, 1, 0, 1, 0, 0])
    fpr, tpr, thresholds = roc_curve(scores, labels)
    for f, t, th in zip(fpr, tpr, thresholds):
        flagged = scores >= th
        assert t == np.sum(flagged & (labels == 1)) / 3
        assert f == np.sum(flagged & (labels == 0)) / 3
    np.testing.assert_allclose(thresholds, [np.inf, 0.9, 0.8, 0.5, 0.3, 0.1])


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="both anomalies and normal"):
        roc_auc([0.1, 0.2, 0.3], [0, 0, 0])
    with pytest.raises(ValueError, match="both anomalies and normal"):
        roc_curve([0.1, 0.2], [True, True])
    with pytest.raises(ValueError, match="is_anomaly has 2 entries but scores has 3"):
        roc_auc([0.1, 0.2, 0.3], [0, 1])
    with pytest.raises(ValueError, match="scores contains 1 NaN"):
        roc_auc([0.1, np.nan, 0.3], [0, 1, 0])
    with pytest.raises(ValueError, match="booleans or 0/1"):
        roc_auc([0.1, 0.2, 0.3], [0, 2, 1])
    with pytest.raises(ValueError, match="1-dimensional"):
        roc_auc(np.zeros((2, 2)), [0, 1])


class _Reconstructor:
    """Has reconstruct(): x̂ = X with its first column zeroed."""

    def reconstruct(self, X):
        out = np.array(X, dtype=float)
        out[:, 0] = 0.0
        return out


class _Projector:
    """PCA-like: transform keeps the first two coordinates, inverse_transform pads zeros."""

    def transform(self, X):
        return np.asarray(X)[:, :2]

    def inverse_transform(self, Z):
        return np.column_stack([Z, np.zeros((len(Z), 2))])


def test_reconstruction_scores_are_mean_squared_errors():
    """(R1) through either interface, checked against the hand-computed values."""
    X = np.array([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 2.0]])
    np.testing.assert_allclose(reconstruction_scores(_Reconstructor(), X), [1 / 4, 0.0])
    np.testing.assert_allclose(reconstruction_scores(_Projector(), X),
                               [(9 + 16) / 4, 4 / 4])


def test_reconstruction_scores_detect_off_subspace_anomalies():
    """Normal data on the span of the first two axes, anomalies off it: the projector's
    error separates them perfectly (AUC 1)."""
    rng = np.random.default_rng(0)
    normal = np.column_stack([rng.standard_normal((100, 2)), 0.01 * rng.standard_normal((100, 2))])
    anomalies = rng.standard_normal((10, 4))
    X = np.vstack([normal, anomalies])
    labels = np.r_[np.zeros(100), np.ones(10)]
    assert roc_auc(reconstruction_scores(_Projector(), X), labels) == 1.0


def test_reconstruction_scores_bad_inputs():
    with pytest.raises(TypeError, match="reconstruct"):
        reconstruction_scores(object(), np.zeros((2, 3)))

    class WrongShape:
        def reconstruct(self, X):
            return np.zeros((len(X), 1))

    with pytest.raises(ValueError, match="expected the shape of X"):
        reconstruction_scores(WrongShape(), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="X contains 1 NaN"):
        reconstruction_scores(_Reconstructor(), np.array([[np.nan, 1.0]]))


def test_reconstruction_scores_with_an_npae_autoencoder():
    """The real model contract: reconstruct(X) of a fitted Autoencoder, scored by (R1)."""
    from npae import Autoencoder

    X = np.random.default_rng(0).random((40, 6))
    model = Autoencoder(hidden_layer_sizes=(3,), epochs=1, random_state=0,
                        verbose=False).fit(X)
    expected = np.mean((model.reconstruct(X).astype(np.float64) - X) ** 2, axis=1)
    np.testing.assert_allclose(reconstruction_scores(model, X), expected, rtol=1e-12)
