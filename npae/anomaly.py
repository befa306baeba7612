r"""Anomaly detection by reconstruction error, and the ROC curve that evaluates it.

Why it is here: an autoencoder trained on normal data reconstructs normal data well
and unfamiliar data badly, so the reconstruction error is an anomaly score. How well
a score separates anomalies from normal examples, over every possible threshold, is
measured by the area under the ROC curve (AUC).

Notation: s_n is the score of example n (higher = more anomalous), a_n ∈ {0, 1} marks
the anomalies; P = Σ a_n anomalies, Q = number of normal examples.

Reconstruction score
--------------------
    (R1)  s_n = (1/D) Σ_d (x̂_nd − x_nd)²

the *mean* squared error per example, x̂ = ``model.reconstruct(X)`` when the model has
that method, else ``model.inverse_transform(model.transform(X))`` (the code's decoding,
e.g. the VAE's mean μ decoded). The mean over features, rather than the ½-sum of a
Gaussian model's training loss, makes scores comparable across input sizes; against
½·Σ_d (x̂_nd − x_nd)² it is a constant factor 2/D, so it changes no ranking and no AUC.
It is not the loss every model trains on: a Bernoulli decoder trains on the
cross-entropy, and squared error can rank examples differently: one pixel x = 1
predicted 0.01 costs 0.98 squared error and 4.6 nats, four pixels x = 1 predicted 0.5
cost 1.0 and 2.8 nats, so (R1) ranks the second example higher and cross-entropy the
first. For a Bernoulli decoder x̂ is the mean σ(a), so (R1) is the
Brier score of the pixels; ``Autoencoder.reconstruction_error`` gives the model's own
per-example loss as an alternative score. Notation: docs/notation.md.

ROC curve
---------
Declaring "anomaly" when s_n ≥ t gives, for each threshold t,

    (C1)  TPR(t) = #{n : a_n = 1, s_n ≥ t} / P,   FPR(t) = #{n : a_n = 0, s_n ≥ t} / Q.

``roc_curve`` evaluates (C1) at t = +∞ and at every distinct score, from the highest
down, so the curve runs from (0, 0) to (1, 1); tied scores move both rates at once
(a diagonal step).

AUC
---
The AUC is the probability that a random anomaly scores higher than a random normal
example, ties counting one half (Hanley & McNeil 1982):

    (A1)  AUC = (1/(P Q)) Σ_{i: a_i=1} Σ_{j: a_j=0} ([s_i > s_j] + ½ [s_i = s_j]).

It equals the Mann–Whitney U statistic of the anomalies divided by P Q. With r_n the
rank of s_n among all P + Q scores (1 = lowest; tied scores share the average of the
ranks they span), the sum of the anomalies' ranks counts, for each anomaly, itself
plus every score below it (ties halved), so

    (A2)  U = Σ_{i: a_i=1} r_i − P (P + 1)/2,      AUC = U / (P Q),

which costs one sort, O(N log N), instead of the O(P Q) pairs of (A1). The trapezoid
rule on the ROC curve (C1) gives the same number: a diagonal step over tied scores is
exactly the ½ of (A1).

References
----------
J. A. Hanley, B. J. McNeil, "The meaning and use of the area under a receiver operating
    characteristic (ROC) curve", Radiology 143, 1982.
T. Fawcett, "An introduction to ROC analysis", Pattern Recognition Letters 27, 2006.
"""
from __future__ import annotations

import numpy as np

from ._validation import check_array

__all__ = ["roc_auc", "roc_curve", "reconstruction_scores", "average_ranks"]


def _check_scores_labels(scores, is_anomaly):
    scores = check_array(scores, "scores", ndim=1, dtype=np.float64)
    labels = np.asarray(is_anomaly)
    if labels.ndim != 1:
        raise ValueError(f"is_anomaly must be 1-dimensional, got shape {labels.shape}")
    if len(labels) != len(scores):
        raise ValueError(f"is_anomaly has {len(labels)} entries but scores has {len(scores)}")
    if labels.dtype != bool:
        if not np.issubdtype(labels.dtype, np.number) or not np.all(
                (labels == 0) | (labels == 1)):
            raise ValueError("is_anomaly must hold booleans or 0/1, got values "
                             f"{np.unique(labels)[:5]}")
        labels = labels == 1
    n_anomalies = int(labels.sum())
    if n_anomalies == 0 or n_anomalies == len(labels):
        raise ValueError("is_anomaly must contain both anomalies and normal examples "
                         f"(got {n_anomalies} anomalies out of {len(labels)}); the ROC "
                         "curve is undefined with one class")
    return scores, labels


def average_ranks(values):
    """Ranks 1..N of ``values`` (1 = smallest), tied values sharing their average rank.

    A group of c equal values occupying sorted positions e−c+1, …, e gets the mean
    rank e − (c − 1)/2. Vectorized: ``np.unique`` gives each value's group and the
    group sizes, their cumulative sum gives each group's last position e.
    """
    _, group, counts = np.unique(values, return_inverse=True, return_counts=True)
    last = np.cumsum(counts)                                      # e for each group
    return (last - (counts - 1) / 2.0)[group.reshape(-1)]


def roc_auc(scores, is_anomaly):
    """(A2): area under the ROC curve; higher ``scores`` should mean anomaly.

    ``is_anomaly`` holds booleans or 0/1. Returns a float in [0, 1]: 1 when every
    anomaly outscores every normal example, 0.5 for a score that cannot tell them apart.
    """
    scores, labels = _check_scores_labels(scores, is_anomaly)
    P = int(labels.sum())
    Q = len(labels) - P
    ranks = average_ranks(scores)                                 # (N,) 1 = lowest
    U = np.sum(ranks[labels]) - P * (P + 1) / 2.0                 # (A2) Mann–Whitney U
    return float(U / (P * Q))


def roc_curve(scores, is_anomaly):
    """(C1) at t = +∞ and at each distinct score, highest first.

    Returns ``(fpr, tpr, thresholds)``, each of length (number of distinct scores + 1);
    ``fpr[i], tpr[i]`` are the rates when scores ≥ ``thresholds[i]`` are flagged.
    """
    scores, labels = _check_scores_labels(scores, is_anomaly)
    order = np.argsort(-scores, kind="stable")                    # highest first
    s, a = scores[order], labels[order]
    tp = np.cumsum(a)                                             # anomalies with score ≥ s[i]
    fp = np.cumsum(~a)                                            # normals with score ≥ s[i]
    last_of_tie = np.r_[s[1:] != s[:-1], True]                    # a threshold counts ties whole
    tpr = np.r_[0.0, tp[last_of_tie] / tp[-1]]                    # (C1)
    fpr = np.r_[0.0, fp[last_of_tie] / fp[-1]]                    # (C1)
    thresholds = np.r_[np.inf, s[last_of_tie]]
    return fpr, tpr, thresholds


def reconstruction_scores(model, X):
    """(R1): mean squared reconstruction error of each row of ``X``, shape (N,).

    Uses ``model.reconstruct(X)`` if the model has it, else
    ``model.inverse_transform(model.transform(X))``.
    """
    X = check_array(X, "X", ndim=2)
    if callable(getattr(model, "reconstruct", None)):
        X_hat = model.reconstruct(X)
    elif callable(getattr(model, "transform", None)) and \
            callable(getattr(model, "inverse_transform", None)):
        X_hat = model.inverse_transform(model.transform(X))
    else:
        raise TypeError(f"model must have reconstruct(X), or transform(X) and "
                        f"inverse_transform(Z); {type(model).__name__} has neither")
    X_hat = np.asarray(X_hat)
    if X_hat.shape != X.shape:
        raise ValueError(f"the model's reconstruction has shape {X_hat.shape}, "
                         f"expected the shape of X, {X.shape}")
    diff = X_hat.astype(np.float64) - X                           # (N, D)
    return np.mean(diff * diff, axis=1)                           # (R1) (N,)
