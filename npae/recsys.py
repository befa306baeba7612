"""Recommendation from implicit feedback: clicks, the strong-generalization split, ranking metrics.

The protocol of Liang, Krishnan, Hoffman & Jebara, "Variational autoencoders for
collaborative filtering" (WWW 2018, §4), used by npae.MultDAE, npae.MultVAE and npae.EASE.
Notation: U users (rows), I items (columns), X (U, I) the click matrix, x_u a user's row;
for a ranked user, R_u (the recommended items, best first) and T_u (their held-out
clicks), n_u = |T_u|; 1[·] is 1 when true. Tags are this module's ("recsys (R2)").

Preprocessing (the paper's, on MovieLens):

    (R1)  x_ui = 1[rating_ui ≥ 4]; then the users with fewer than 5 clicks are dropped

Strong generalization. Users, not entries, are held out: a seeded permutation of the
users gives ``n_heldout_users`` validation users, as many test users, and the rest for
training. The items are those the training users clicked (a model cannot score an item
it never saw); the held-out users' clicks on other items are dropped. For each held-out
user with at least 5 remaining clicks, ⌊0.2 n⌋ of their n clicks, chosen at random, are
held out to be ranked (T_u), and the rest are the fold-in rows the model encodes (a
user with fewer than 5 keeps every click as fold-in, as in the authors' code, and is
then not ranked: n_u = 0 makes (R3)-(R5) 0/0, so such users are dropped here).

Metrics over the top K of R_u, ω(r) the item at rank r (from 1):

    (R2)  Recall@K_u = Σ_{r ≤ K} 1[ω(r) ∈ T_u] / min(K, n_u)
    (R3)  DCG@K_u    = Σ_{r ≤ K} 1[ω(r) ∈ T_u] / log₂(r + 1)
    (R4)  IDCG@K_u   = Σ_{r ≤ min(K, n_u)} 1 / log₂(r + 1)         all hits ranked first
    (R5)  NDCG@K_u   = DCG@K_u / IDCG@K_u                            in [0, 1]

The min(K, n_u) of (R2) is the paper's normalization (not the textbook n_u): a user
with more than K held-out items can still reach recall 1. Reported numbers are the mean
over users. The ranking excludes the items a user already has (their fold-in clicks).

Top-K from scores: ``np.argpartition`` puts the K largest of a row first in O(I), and
only those K are sorted, O(K log K), instead of sorting all I scores.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import check_array, check_positive_int, check_scalar
from .sparse import CSRRows, as_rows, is_sparse, take_rows

__all__ = ["BestEpochByNDCG", "Split", "clicks_from_ratings", "ndcg_at_k", "recall_at_k",
           "recommend_top_k", "strong_generalization_split", "top_k"]

#: users per chunk when metrics or recommendations densify rows
CHUNK = 1000


def clicks_from_ratings(users, items, ratings, min_rating=4.0, min_clicks=5):
    """(R1): the ``(users, items)`` pairs rated ≥ ``min_rating``, of users with at least
    ``min_clicks`` such clicks. Inputs are 1-D arrays of equal length (one rating each)."""
    users, items, ratings = (np.asarray(a).ravel() for a in (users, items, ratings))
    if not users.shape == items.shape == ratings.shape:
        raise ValueError(f"users, items and ratings must have the same length, got "
                         f"{users.shape[0]}, {items.shape[0]}, {ratings.shape[0]}")
    check_positive_int(min_clicks, "min_clicks", minimum=0)
    keep = ratings >= min_rating                                        # (R1) clicks
    users, items = users[keep], items[keep]
    ids, counts = np.unique(users, return_counts=True)
    active = np.isin(users, ids[counts >= min_clicks])                  # (R1) ≥ 5 clicks
    return users[active], items[active]


@dataclass
class Split:
    """A strong-generalization split: CSR rows (npae.sparse.CSRRows, dense via
    ``.toarray()``) over the same item columns, and the original ids of rows and columns."""

    train: CSRRows              # (U_train, I) the training users' clicks
    val_foldin: CSRRows         # (U_val, I) what the model encodes
    val_heldout: CSRRows        # (U_val, I) what it must rank
    test_foldin: CSRRows        # (U_test, I)
    test_heldout: CSRRows       # (U_test, I)
    item_ids: np.ndarray        # (I,) original id of each column
    train_users: np.ndarray     # original user id of each row of train
    val_users: np.ndarray
    test_users: np.ndarray


def strong_generalization_split(users, items, n_heldout_users, heldout_fraction=0.2,
                                random_state=None, dtype="float32"):
    """Split clicks ``(users, items)`` (e.g. from :func:`clicks_from_ratings`) as the paper does.

    ``n_heldout_users`` users for validation and as many for test (before dropping the
    held-out users left without a held-out click); ``heldout_fraction`` of each held-out
    user's clicks are ranked. A repeated (user, item) pair is one click. Seeded by ``random_state``; returns a :class:`Split`.
    """
    users, items = np.asarray(users).ravel(), np.asarray(items).ravel()
    if users.shape != items.shape or users.size == 0:
        raise ValueError(f"users and items must be non-empty and of equal length, got "
                         f"{users.shape[0]} and {items.shape[0]}")
    frac = check_scalar(heldout_fraction, "heldout_fraction", 0, 1, True, True)
    pairs = np.unique(np.stack([users, items], axis=1), axis=0)        # a click counts once
    users, items = pairs[:, 0], pairs[:, 1]
    uid = np.unique(users)
    check_positive_int(n_heldout_users, "n_heldout_users", maximum=max((len(uid) - 1) // 2, 1))
    rng = np.random.default_rng(random_state)
    order = uid[rng.permutation(len(uid))]
    n_train = len(uid) - 2 * n_heldout_users
    groups = np.split(order, [n_train, n_train + n_heldout_users])      # train, val, test
    in_train = np.isin(users, groups[0])
    item_ids = np.unique(items[in_train])                               # items of train users
    col = np.searchsorted(item_ids, items)
    known = np.isin(items, item_ids)

    def rows_of(group, mask):
        g = np.sort(group)
        sel = np.isin(users, g) & known & mask
        return _csr(np.searchsorted(g, users[sel]), col[sel], len(g), len(item_ids), dtype), g

    train, train_users = rows_of(groups[0], np.ones_like(known))
    heldout = _heldout_mask(users, known, rng, frac)
    parts = []
    for group in groups[1:]:
        foldin, g = rows_of(group, ~heldout)
        ranked, _ = rows_of(group, heldout)
        ok = np.diff(ranked.indptr) > 0                                   # n_u > 0 only
        parts.append((_row_subset(foldin, ok), _row_subset(ranked, ok), g[ok]))
    (vf, vh, vu), (tf, th, tu) = parts
    return Split(train, vf, vh, tf, th, item_ids, train_users, vu, tu)


def _heldout_mask(users, known, rng, frac):
    """For each user with n ≥ 5 known clicks, ⌊frac · n⌋ of them at random (vectorized)."""
    key = rng.random(users.shape[0])
    idx = np.flatnonzero(known)
    order = idx[np.lexsort((key[idx], users[idx]))]                     # by user, random within
    u = users[order]
    start = np.r_[0, np.flatnonzero(u[1:] != u[:-1]) + 1]               # first of each user
    n = np.diff(np.r_[start, len(u)])                                   # clicks per user
    rank = np.arange(len(u)) - np.repeat(start, n)                      # position within user
    n_out = np.where(n >= 5, np.floor(frac * n).astype(int), 0)
    mask = np.zeros(users.shape[0], dtype=bool)
    mask[order[rank < np.repeat(n_out, n)]] = True
    return mask


def _csr(rows, cols, n_rows, n_cols, dtype):
    """CSRRows of ones at (rows, cols), canonical (sorted, one entry per pair)."""
    flat = np.unique(rows.astype(np.int64) * n_cols + cols)
    r, c = flat // n_cols, flat % n_cols
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=n_rows), out=indptr[1:])
    return CSRRows(indptr, c.astype(np.int32), np.ones(len(flat), dtype=dtype), (n_rows, n_cols))


def _row_subset(csr, keep):
    """The rows ``keep`` (bool) of a CSRRows."""
    idx = np.flatnonzero(keep)
    lengths = np.diff(csr.indptr)[idx]
    starts = csr.indptr[idx]
    pos = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths - starts, lengths)
    indptr = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    return CSRRows(indptr, csr.indices[pos], csr.data[pos], (len(idx), csr.shape[1]))


def top_k(scores, k):
    """The indices of the k largest scores of each row, best first, (N, k), by argpartition."""
    scores = np.asarray(scores)
    k = check_positive_int(k, "k", maximum=scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]               # the k best, unordered
    best = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-best, axis=1, kind="stable")                    # sort only those k
    return np.take_along_axis(part, order, axis=1)


def recommend_top_k(score_fn, X, k, exclude_seen, chunk=CHUNK):
    """Top-k items of ``score_fn(rows)`` for the rows of X (dense or CSR), chunk by chunk;
    with ``exclude_seen`` a row's items with x > 0 get score −∞ first."""
    if not isinstance(exclude_seen, (bool, np.bool_)):
        raise ValueError(f"exclude_seen must be True or False, got {exclude_seen!r}")
    rows = as_rows(X, "X") if is_sparse(X) else check_array(X, "X", ndim=2)
    k = check_positive_int(k, "k", maximum=rows.shape[1])
    N = rows.shape[0]
    out = np.empty((N, k), dtype=np.int64)
    for start in range(0, N, chunk):
        Xc = take_rows(rows, np.arange(start, min(start + chunk, N)))
        scores = np.array(score_fn(Xc), dtype=np.float64)               # a copy we may edit
        if exclude_seen:
            scores[Xc > 0] = -np.inf
        out[start:start + Xc.shape[0]] = top_k(scores, k)
    return out


def _hits(recommended, heldout, k):
    """1[ω(r) ∈ T_u] for r ≤ k, (N, k) float, and n_u (N,), chunk by chunk."""
    rec = check_array(recommended, "recommended", ndim=2)
    if not np.issubdtype(np.asarray(recommended).dtype, np.integer):
        raise ValueError(f"recommended must hold item indices (integers), got dtype "
                         f"{np.asarray(recommended).dtype}")
    rec = np.asarray(recommended)
    k = check_positive_int(k, "k", maximum=rec.shape[1])
    rows = as_rows(heldout, "heldout") if is_sparse(heldout) else check_array(heldout, "heldout",
                                                                              ndim=2)
    if rows.shape[0] != rec.shape[0]:
        raise ValueError(f"recommended has {rec.shape[0]} rows but heldout has {rows.shape[0]}")
    if rec.min() < 0 or rec.max() >= rows.shape[1]:
        raise ValueError(f"recommended holds item indices outside [0, {rows.shape[1]})")
    hits = np.empty((rec.shape[0], k))
    n = np.empty(rec.shape[0])
    for start in range(0, rec.shape[0], CHUNK):
        idx = np.arange(start, min(start + CHUNK, rec.shape[0]))
        T = take_rows(rows, idx) > 0                                        # (c, I) held out
        hits[idx] = np.take_along_axis(T, rec[idx, :k], axis=1)
        n[idx] = T.sum(axis=1)
    empty = np.flatnonzero(n == 0)
    if empty.size:
        raise ValueError(f"heldout row {empty[0]} (and {empty.size - 1} more) has no held-out "
                         f"item: Recall and NDCG are 0/0 there; drop such users")
    return hits, n, k


def recall_at_k(recommended, heldout, k):
    """(R2) per user, (N,): hits in the top k over min(k, n_u). ``recommended`` (N, ≥k)
    item indices best first; ``heldout`` (N, I) dense or CSR, x > 0 for held-out items."""
    hits, n, k = _hits(recommended, heldout, k)
    return hits.sum(axis=1) / np.minimum(k, n)                          # (R2)


def ndcg_at_k(recommended, heldout, k):
    """(R3)-(R5) per user, (N,): DCG of the top k over the ideal DCG of min(k, n_u) hits."""
    hits, n, k = _hits(recommended, heldout, k)
    discount = 1.0 / np.log2(np.arange(2, k + 2))                       # 1/log₂(r + 1), r = 1..k
    dcg = hits @ discount                                               # (R3) (N,)
    idcg = np.cumsum(discount)[np.minimum(k, n).astype(int) - 1]       # (R4) (N,)
    return dcg / idcg                                                   # (R5)


class BestEpochByNDCG:
    """The trainer's ``on_epoch_end`` for ``fit(X, X_val=(X_foldin, X_heldout))``: the mean
    validation NDCG@k of each epoch, and a copy of the parameters of the best one."""

    def __init__(self, foldin, heldout, n_features, k=100):
        self.foldin = as_rows(foldin, "X_val[0]", n_features=n_features) if is_sparse(foldin) \
            else check_array(foldin, "X_val[0] (fold-in)", ndim=2, n_features=n_features)
        self.heldout = as_rows(heldout, "X_val[1]", n_features=n_features) if \
            is_sparse(heldout) else check_array(heldout, "X_val[1] (held-out)", ndim=2,
                                                n_features=n_features)
        if self.foldin.shape[0] != self.heldout.shape[0]:
            raise ValueError(f"X_val = (X_foldin, X_heldout) must have one row per user in "
                             f"both, got {self.foldin.shape[0]} and {self.heldout.shape[0]} rows")
        self.k = min(k, n_features)
        self.best, self.best_params, self.epoch = -np.inf, None, 0

    def __call__(self, model):
        self.epoch += 1
        rec = model.recommend(self.foldin, k=self.k, exclude_seen=True)
        score = float(np.mean(ndcg_at_k(rec, self.heldout, self.k)))
        if score > self.best:
            self.best, self.best_epoch = score, self.epoch
            self.best_params = {name: p.copy() for name, p in model.params_.items()}
        return {f"val_ndcg@{self.k}": score}

    def restore_best(self, model):
        """Put the best epoch's parameters back into ``model.params_``; returns that epoch
        (from 1), or None when no epoch ran."""
        if self.best_params is None:
            return None
        for name, p in model.params_.items():
            np.copyto(p, self.best_params[name])
        return self.best_epoch
