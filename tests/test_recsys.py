"""npae.recsys and the recommenders: the metrics against a brute-force definition, the
paper's preprocessing and strong-generalization split, recommend/score_items, the
validation NDCG that keeps the best epoch, EASE against its stationarity conditions, and
CSR input trained to the same bits as its dense copy."""
import numpy as np
import pytest

import npae
from npae.gradcheck import check_model
from npae.recsys import (clicks_from_ratings, ndcg_at_k, recall_at_k,
                         strong_generalization_split, top_k)
from npae.sparse import CSRRows, as_rows


def _brute_force(recommended, heldout, k):
    """The paper's Recall@K and NDCG@K, one user at a time, from the definitions."""
    recall, ndcg = [], []
    for rec, row in zip(recommended, heldout):
        T = set(np.flatnonzero(row))
        hits = [1.0 if item in T else 0.0 for item in rec[:k]]
        dcg = sum(h / np.log2(r + 2) for r, h in enumerate(hits))
        idcg = sum(1 / np.log2(r + 2) for r in range(min(k, len(T))))
        recall.append(sum(hits) / min(k, len(T)))
        ndcg.append(dcg / idcg)
    return np.array(recall), np.array(ndcg)


@pytest.mark.parametrize("k", [1, 5, 20])
def test_recall_and_ndcg_equal_their_brute_force_definitions(k):
    rng = np.random.default_rng(k)
    heldout = (rng.random((30, 40)) < 0.15).astype(float)
    heldout[np.arange(30), rng.integers(0, 40, 30)] = 1              # n_u ≥ 1
    heldout[0] = 0
    heldout[0, :25] = 1                                              # n_u > k for k < 25
    recommended = np.argsort(rng.random((30, 40)), axis=1)[:, :k + 3]
    recommended[0] = np.arange(k + 3)                                # hits at every rank
    recall, ndcg = _brute_force(recommended, heldout, k)
    np.testing.assert_allclose(recall_at_k(recommended, heldout, k), recall, rtol=1e-14)
    np.testing.assert_allclose(ndcg_at_k(recommended, heldout, k), ndcg, rtol=1e-14)
    np.testing.assert_allclose(ndcg_at_k(recommended, as_rows(_Csr(heldout)), k), ndcg,
                               rtol=1e-14)


def test_a_perfect_ranking_scores_one_even_with_more_heldout_items_than_k():
    heldout = np.zeros((1, 10))
    heldout[0, :6] = 1
    rec = np.array([[5, 4, 3, 9, 8]])
    assert recall_at_k(rec, heldout, 3)[0] == 1.0                    # min(K, n_u) = 3
    assert ndcg_at_k(rec, heldout, 3)[0] == pytest.approx(1.0, rel=1e-15)
    assert ndcg_at_k(rec, heldout, 5)[0] == pytest.approx(
        (1 + 1 / np.log2(3) + 1 / np.log2(4)) / sum(1 / np.log2(r + 2) for r in range(5)))


def test_metrics_refuse_users_without_heldout_items():
    with pytest.raises(ValueError, match="no held-out item"):
        ndcg_at_k(np.array([[0, 1]]), np.zeros((1, 3)), 2)


def test_top_k_is_sorted_best_first_and_equals_a_full_sort():
    scores = np.random.default_rng(0).normal(size=(50, 300))
    np.testing.assert_array_equal(top_k(scores, 10), np.argsort(-scores, axis=1)[:, :10])


def test_clicks_keep_ratings_of_four_and_up_and_users_with_five_clicks():
    users = np.array([1] * 6 + [2] * 6)
    ratings = np.array([5, 4, 4, 4, 4, 3] + [5, 5, 5, 5, 2, 1])
    u, i = clicks_from_ratings(users, np.arange(12), ratings)
    np.testing.assert_array_equal(u, [1] * 5)                       # user 2 has 4 clicks
    np.testing.assert_array_equal(i, [0, 1, 2, 3, 4])


def test_strong_generalization_split_properties():
    rng = np.random.default_rng(3)
    users = np.repeat(np.arange(200), 12)
    items = rng.integers(0, 60, users.size)
    split = strong_generalization_split(users, items, n_heldout_users=20, random_state=0)
    sets = [set(split.train_users), set(split.val_users), set(split.test_users)]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])  # users, not entries
    assert len(sets[0]) == 160 and len(sets[1]) <= 20 and len(sets[2]) <= 20
    train = split.train.toarray()
    assert (train.sum(axis=0) > 0).all()                             # items of training users
    for foldin, heldout in [(split.val_foldin, split.val_heldout),
                            (split.test_foldin, split.test_heldout)]:
        f, h = foldin.toarray(), heldout.toarray()
        assert not (f * h).any()                                    # disjoint
        n = f.sum(1) + h.sum(1)
        np.testing.assert_array_equal(h.sum(1), np.floor(0.2 * n))  # 20% ranked
    again = strong_generalization_split(users, items, n_heldout_users=20, random_state=0)
    np.testing.assert_array_equal(again.test_heldout.toarray(), split.test_heldout.toarray())


class _Csr:
    """A scipy-free stand-in with the CSR duck type (tocsr, indptr, indices, data, shape)."""

    def __init__(self, dense):
        nz = np.nonzero(dense)
        self.indptr = np.r_[0, np.cumsum(np.bincount(nz[0], minlength=dense.shape[0]))]
        self.indices, self.data, self.shape = nz[1], dense[nz], dense.shape

    def tocsr(self):
        return self


def _clicks(n, d, seed):
    X = (np.random.default_rng(seed).random((n, d)) < 0.2).astype(np.float32)
    X[np.arange(n), np.arange(n) % d] = 1                           # no empty row
    return X


def test_recommend_excludes_seen_items_and_ranks_by_score_items():
    X = _clicks(30, 25, 0)
    model = npae.MultDAE(hidden_layer_sizes=(8,), epochs=2, batch_size=10, random_state=0,
                         verbose=False).fit(X)
    scores = model.score_items(X)
    assert scores.shape == (30, 25)
    rec = model.recommend(X, k=5)
    assert rec.shape == (30, 5)
    assert not np.take_along_axis(X, rec, axis=1).any()             # nothing already seen
    masked = np.where(X > 0, -np.inf, scores)
    np.testing.assert_array_equal(rec, np.argsort(-masked, axis=1, kind="stable")[:, :5])
    np.testing.assert_array_equal(model.recommend(X, k=5, exclude_seen=False),
                                  np.argsort(-scores, axis=1, kind="stable")[:, :5])
    np.testing.assert_array_equal(model.recommend(_Csr(X), k=5), rec)


def test_fit_with_validation_pair_records_ndcg_and_keeps_the_best_epoch():
    X = _clicks(60, 30, 1)
    foldin, heldout = _clicks(12, 30, 2), _clicks(12, 30, 3)
    heldout[foldin > 0] = 0
    heldout[np.arange(12), (np.arange(12) + 7) % 30] = 1
    foldin[heldout > 0] = 0
    model = npae.MultVAE(hidden_layer_sizes=(10,), latent_dim=4, epochs=4, batch_size=20,
                         kl_warmup_steps=5, random_state=0, verbose=False)
    model.fit(X, X_val=(foldin, heldout))
    curve = model.history_["val_ndcg@30"]
    assert len(curve) == 4
    assert model.best_epoch_ == int(np.argmax(curve)) + 1
    now = np.mean(ndcg_at_k(model.recommend(foldin, k=30), heldout, 30))
    assert now == pytest.approx(max(curve), rel=1e-12)              # the best epoch's params


@pytest.mark.parametrize("cls", [npae.MultDAE, npae.MultVAE])
def test_csr_input_trains_to_the_same_bits_as_its_dense_copy(cls):
    sparse = pytest.importorskip("scipy.sparse")
    X = _clicks(45, 20, 4)
    kw = dict(epochs=2, batch_size=16, random_state=3, verbose=False)
    kw.update(hidden_layer_sizes=(6,)) if cls is npae.MultDAE else kw.update(
        hidden_layer_sizes=(6,), latent_dim=3, kl_warmup_steps=4)
    dense = cls(**kw).fit(X)
    csr = cls(**kw).fit(sparse.csr_matrix(X))
    for name in dense.params_:
        np.testing.assert_array_equal(csr.params_[name], dense.params_[name])
    assert csr.history_["loss"] == dense.history_["loss"]
    coo = cls(**kw).fit(sparse.coo_matrix(X))                       # anything with tocsr()
    np.testing.assert_array_equal(coo.params_["dec.0.W"], dense.params_["dec.0.W"])


def test_csr_rows_densify_one_batch_and_sum_duplicates():
    rows = CSRRows(np.array([0, 3, 3, 4]), np.array([2, 0, 2, 1]),
                   np.array([1.0, 2.0, 5.0, 7.0]), (3, 4))
    np.testing.assert_array_equal(rows.rows(np.array([2, 0])),
                                  [[0, 7, 0, 0], [2, 0, 6, 0]])
    with pytest.raises(ValueError, match="not a valid CSR"):
        as_rows(CSRRows(np.array([0, 1]), np.array([0]), np.array([1.0]), (3, 4)))


def test_ease_solves_its_constrained_least_squares():
    """recommend (E3)-(E6): diag B = 0, and XᵀX(B − I) + λB + diagMat(γ) = 0 with
    γ_j = 1/P_jj − λ: off the diagonal the gradient of (E1) vanishes, on it it is the
    multiplier's."""
    X = _clicks(80, 15, 5).astype(float)
    lam = 3.0
    ease = npae.EASE(l2=lam).fit(X)
    B, C = ease.B_, X.T @ X
    np.testing.assert_array_equal(np.diag(B), 0.0)
    P = np.linalg.inv(C + lam * np.eye(15))
    gamma = 1 / np.diag(P) - lam                                     # (E6)
    stationarity = C @ (B - np.eye(15)) + lam * B + np.diag(gamma)   # ½ ∂ℒ/∂B of (E2)
    np.testing.assert_allclose(stationarity, 0, atol=1e-9 * np.abs(C).max())

    def objective(B):
        return np.sum((X - X @ B) ** 2) + lam * np.sum(B ** 2)
    for i, j in [(0, 1), (4, 2), (14, 7)]:                           # feasible moves only
        for step in (1e-3, -1e-3):
            moved = B.copy()
            moved[i, j] += step
            assert objective(moved) > objective(B)
    np.testing.assert_allclose(ease.score_items(X[:5]), X[:5] @ B)
    np.testing.assert_allclose(npae.EASE(l2=lam).fit(_Csr(X)).B_, B, rtol=1e-12)


def test_popularity_ranks_by_training_counts():
    X = _clicks(40, 12, 6)
    pop = npae.Popularity().fit(X)
    order = np.argsort(-X.sum(0), kind="stable")
    rec = pop.recommend(np.eye(12)[:1] * 0 + np.eye(12)[[order[0]]], k=3)
    assert rec[0].tolist() == [i for i in order if i != order[0]][:3]


def test_sparse_first_layer_equals_the_dense_products_and_passes_the_gradient_check(
        monkeypatch):
    """npae.sparse (S1)-(S2): below SPARSE_DENSITY the VAE's first layer skips zeros; its
    step equals the dense step up to the order of float sums, and its parameter
    gradients pass the float64 check (tanh is smooth, ε and the dropout mask are fixed;
    the input check is left to the dense tests: a step of ±eps would make zeros negative)."""
    import npae.models.vae as vae_module
    rng = np.random.default_rng(8)
    X = (rng.random((8, 1000)) < 0.004).astype(float)              # < 1% nonzero
    X[np.arange(8), np.arange(8)] = 1
    model = npae.MultVAE(hidden_layer_sizes=(7,), latent_dim=3, weight_decay=0.01,
                         dtype="float64").initialize(1000, 0)
    noise = model.sample_noise(X, np.random.default_rng(9))
    assert model.forward(X, noise).nz is not None                   # the sparse path
    loss, _, grads = model.loss_and_grads(X, noise)
    check_model(model, X, noise=noise, include_input=False, directions=8)  # (1000, 7) arrays
    monkeypatch.setattr(vae_module, "SPARSE_DENSITY", 0.0)          # force the dense path
    assert model.forward(X, noise).nz is None
    loss_d, _, grads_d = model.loss_and_grads(X, noise)
    assert loss == pytest.approx(loss_d, rel=1e-13)
    for name in grads:
        np.testing.assert_allclose(grads[name], grads_d[name], rtol=1e-11, atol=1e-15)


@pytest.mark.parametrize("cls, base", [(npae.MultDAE, npae.Autoencoder), (npae.MultVAE, npae.VAE)])
def test_presets_only_change_defaults_and_round_trip_through_a_checkpoint(cls, base, tmp_path):
    assert set(cls().get_params()) == set(base().get_params())
    X = _clicks(20, 15, 7)
    kw = dict(hidden_layer_sizes=(5,), epochs=1, batch_size=10, random_state=0, verbose=False)
    model = cls(**kw).fit(X)
    model.save(tmp_path / "m.npz")
    loaded = npae.load(tmp_path / "m.npz")
    assert type(loaded) is cls and loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.recommend(X, k=4), model.recommend(X, k=4))
