"""The soft-thresholding activation S_λ (npae.layers (S1)-(S2)) and the k-sparse mask
ranked by magnitude (npae.penalties.top_k_mask, Autoencoder(k_by=...)): forward against
the formula, backward against central differences at smooth points, names, errors,
persistence."""
import numpy as np
import pytest

import npae
from npae.gradcheck import check_input_gradient, check_model
from npae.layers import SoftThreshold, get_activation
from npae.network import run_layers
from npae.penalties import top_k_mask

rng = np.random.default_rng(5)
STEP = 2e-3        # the checker moves one entry by at most 2·eps = 2e-3 (order 4)


@pytest.mark.slow      # over a second: the quick loop stays about a minute
def test_soft_threshold_forward_is_the_proximal_map_of_lambda_abs():
    """(S1) equals the three-branch formula and the argmin of ½(h − a)² + λ|h| on a grid."""
    lam = 0.3
    a = np.linspace(-2, 2, 401)
    h = SoftThreshold(lam).forward(a)
    np.testing.assert_array_equal(h, np.where(a > lam, a - lam, np.where(a < -lam, a + lam, 0)))
    grid = np.linspace(-3, 3, 60001)                   # brute-force argmin, step 1e-4
    objective = 0.5 * (grid[None, :] - a[:, None]) ** 2 + lam * np.abs(grid[None, :])
    np.testing.assert_allclose(h, grid[objective.argmin(axis=1)], atol=1e-4)
    assert np.all(h[np.abs(a) <= lam] == 0) and np.all(h[np.abs(a) > lam] != 0)


@pytest.mark.parametrize("lam", [0.0, 0.1, 0.7])
def test_soft_threshold_backward_matches_central_differences_away_from_the_kinks(lam):
    """(S2). Smooth point: every |a| is at least 0.05 away from λ (the kinks at ±λ), far
    more than the checker's largest step 2e-3."""
    act = SoftThreshold(lam)
    a = rng.normal(size=(6, 5))
    a = np.where(np.abs(np.abs(a) - lam) < 0.05, a + 0.1 * np.sign(a), a)
    assert np.abs(np.abs(a) - lam).min() >= 0.05
    G = rng.normal(size=a.shape)

    def fun(ap):
        h = act.forward(ap)
        return float(np.sum(h * G)), act.backward(G, ap, h)

    assert check_input_gradient(fun, a).max_rel_error <= 1e-7


def test_soft_threshold_by_name_with_and_without_a_threshold():
    default = get_activation("soft_threshold")
    assert default.threshold == SoftThreshold.DEFAULT_THRESHOLD and default.name == "soft_threshold"
    custom = get_activation("soft_threshold:0.25")
    assert custom.threshold == 0.25 and custom.name == "soft_threshold:0.25"
    assert get_activation(custom.name).threshold == 0.25        # the name round-trips
    for dtype in (np.float32, np.float64):
        a = np.array([-1.0, -0.1, 0.0, 0.1, 1.0], dtype=dtype)
        h = custom.forward(a)
        assert h.dtype == dtype and np.all(custom.backward(np.ones_like(a), a, h) == (abs(a) > 0.25))


@pytest.mark.parametrize("name,message", [
    ("soft_threshold:-1", r"activation=.soft_threshold:-1.*must be a finite number >= 0"),
    ("soft_threshold:abc", r"activation='soft_threshold:abc'.*finite number >= 0"),
    ("soft_threshold:nan", r"activation=.soft_threshold:nan.*must be a finite number >= 0"),
    ("soft_thresh", "activation must be one of"),
])
def test_bad_soft_threshold_names_are_refused_clearly(name, message):
    with pytest.raises(ValueError, match=message):
        get_activation(name)
    with pytest.raises(ValueError, match=message):
        npae.Autoencoder((3,), activation=name).initialize(4)


def test_autoencoder_with_soft_threshold_codes_passes_every_gradient_check():
    """Smooth point: every code pre-activation is at least 0.05 from ±λ, while one checker
    step moves it by at most 2e-3·max(1, |x|, |W|) < 0.01 here."""
    X = rng.uniform(0.05, 0.95, size=(5, 6))
    for seed in range(100):
        m = npae.Autoencoder((4,), activation="soft_threshold:0.2", output="gaussian",
                             weight_decay=0.1, sparsity="l1", sparsity_weight=0.3,
                             dtype="float64", random_state=seed).initialize(6)
        m.params_["enc.0.b"] += np.random.default_rng(seed).normal(scale=0.3, size=4)
        pre = run_layers(m.params_, m._layers()[0], X)[-1].pre
        h = np.abs(pre)
        # smooth for S_λ (|a| away from λ) and for |h| of the L1 term (kept codes away from 0)
        if np.abs(h - 0.2).min() > 0.05 and (h > 0.2).any() and (h <= 0.2).any():
            break
    else:
        raise RuntimeError("no smooth point found")
    assert STEP * max(1.0, np.abs(m.params_["enc.0.W"]).max()) < 0.01
    report = check_model(m, X)
    assert report.max_rel_error <= 1e-7
    assert (m.transform(X) == 0).any()                  # exact zeros in the code


# -- k-sparse by magnitude ------------------------------------------------------------------

def test_top_k_by_value_and_by_magnitude_disagree_on_a_large_negative_code():
    h = np.array([[3.0, -5.0, 1.0], [0.5, -0.2, 2.0]])
    np.testing.assert_array_equal(top_k_mask(h, 1), [[1, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(top_k_mask(h, 1, by="magnitude"), [[0, 1, 0], [0, 0, 1]])
    np.testing.assert_array_equal(top_k_mask(h, 2, by="magnitude"), [[1, 1, 0], [1, 0, 1]])


def test_top_k_by_magnitude_keeps_exactly_the_k_largest_absolute_values():
    h = rng.permutation(np.arange(1, 41, dtype=float)).reshape(5, 8)
    h *= rng.choice([-1.0, 1.0], size=h.shape)          # distinct |h|: no ties
    for k in range(1, 9):
        S = top_k_mask(h, k, by="magnitude")
        kth = np.sort(np.abs(h), axis=1)[:, -k]
        np.testing.assert_array_equal(S, (np.abs(h) >= kth[:, None]).astype(float))


def test_top_k_mask_refuses_an_unknown_ranking():
    with pytest.raises(ValueError, match=r"by must be one of \['value', 'magnitude'\]"):
        top_k_mask(np.ones((2, 3)), 1, by="abs")
    with pytest.raises(ValueError, match=r"k_by must be one of \['magnitude', 'value'\]"):
        npae.Autoencoder((3,), k=1, k_by="abs").initialize(4)


def _smooth_magnitude_model(tied):
    """A linear-code k-sparse model whose |code| has, in every row, a gap of at least 0.05
    between the k-th and (k+1)-th largest, at least one kept negative code (so that
    ranking by value would differ) and no code near 0 (|h| has its kink there)."""
    X = rng.uniform(0.05, 0.95, size=(5, 6))
    for seed in range(500):
        m = npae.KSparseAutoencoder((5,), k=2, k_by="magnitude", tied_weights=tied,
                                    dtype="float64", random_state=seed).initialize(6)
        m.params_["enc.0.b"] += np.random.default_rng(seed).normal(scale=0.5, size=5)
        h = run_layers(m.params_, m._layers()[0], X)[-1].pre
        s = np.sort(np.abs(h), axis=1)[:, ::-1]
        kept_negative = (top_k_mask(h, 2, "magnitude") * (h < 0)).any()
        if (s[:, 1] - s[:, 2]).min() > 0.05 and s.min() > 0.05 and kept_negative:
            return m, X, h
    raise RuntimeError("no smooth point found")


@pytest.mark.parametrize("tied", [False, True])
def test_k_sparse_by_magnitude_passes_every_gradient_check(tied):
    """Smooth point (see _smooth_magnitude_model): one checker step moves a code by at
    most 2e-3·max(1, |x|, |W|) < 0.01, less than the 0.05 gap, so the kept set is fixed."""
    m, X, h = _smooth_magnitude_model(tied)
    assert STEP * max(1.0, np.abs(m.params_["enc.0.W"]).max()) < 0.01
    assert check_model(m, X).max_rel_error <= 1e-7
    z = m.transform(X)
    assert np.all((z != 0).sum(axis=1) == 2) and (z < 0).any()   # a negative code is kept
    by_value = m.set_params(k_by="value").transform(X)
    assert not np.array_equal(by_value, z)                  # the two rankings disagree here


def test_k_by_and_soft_threshold_round_trip_through_a_checkpoint(tmp_path):
    X = rng.uniform(size=(40, 6))
    m = npae.Autoencoder((4,), activation="soft_threshold:0.05", k=2, k_by="magnitude",
                         epochs=1, random_state=0, verbose=False).fit(X)
    back = npae.load(m.save(tmp_path / "m.npz"))
    assert back.get_params() == m.get_params() and back.k_by == "magnitude"
    assert back._enc_acts[0].threshold == 0.05
    np.testing.assert_array_equal(back.transform(X), m.transform(X))
    for cls in (npae.KSparseAutoencoder, npae.SparseAutoencoder):
        assert cls().k_by == "value"                          # today's behaviour by default
