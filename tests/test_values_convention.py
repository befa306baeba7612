"""One convention for ``values``, every model (docs/notation.md, "The values convention").

Each entry of ``values`` is a loss term exactly as it enters the loss, its weight
applied, so for every selection of terms ``loss == sum(values[t] for t in terms)``.
Proved here for every model: every valid combination of the autoencoder's regularizers
(and its presets), the stacked autoencoder, and the VAE with β ≠ 1, a KL warm-up, a
learned decoder variance and weight decay. Besides the sum, each weighted entry must
scale with its weight (doubling λ doubles the entry, at the same parameters and noise):
an entry reported without its weight — the old VAE ``values["kl"]`` — fails that.
"""
import itertools

import numpy as np
import pytest

from npae.models import (VAE, Autoencoder, ContractiveAutoencoder, DenoisingAutoencoder,
                         KSparseAutoencoder, SparseAutoencoder, StackedAutoencoder)

D = 6
TERMS = {"recon", "kl", "sparsity", "contractive", "weight_decay"}   # nothing else, ever
#: the hyperparameter that weights each term (recon has weight 1)
WEIGHT_OF = {"sparsity": "sparsity_weight", "contractive": "contractive_weight",
             "weight_decay": "weight_decay", "kl": "beta"}


def _batch(n=5, seed=1):
    return np.random.default_rng(seed).uniform(0.05, 0.95, (n, D))


def _jitter(m, seed=0):
    rng = np.random.default_rng(seed + 100)
    for v in m.params_.values():
        v += 0.3 * rng.standard_normal(v.shape)
    return m


def _rebuilt(m, **changes):
    """The same parameters under changed hyperparameters (a fresh model, not set_params)."""
    m2 = type(m)(**{**m.get_params(), **changes}).initialize(D)
    m2.params_ = {k: v.copy() for k, v in m.params_.items()}
    if hasattr(m, "data_range_"):
        m2.data_range_ = m.data_range_
    return m2


def _assert_convention(m, X, noise, warmup=1.0):
    """loss == Σ values over every subset of the terms; each weighted entry ∝ its weight."""
    _, values = m.loss(X, noise=noise)
    assert set(values) <= TERMS, f"values holds a non-term {set(values) - TERMS}"
    names = list(values)
    for r in range(1, len(names) + 1):
        for subset in itertools.combinations(names, r):
            loss, v = m.loss(X, noise=noise, terms=list(subset))
            assert v == values                                  # values do not depend on terms
            assert loss == pytest.approx(sum(values[t] for t in subset), rel=1e-13, abs=1e-15)
            loss_g, _, _ = m.loss_and_grads(X, noise=noise, terms=list(subset))
            assert loss_g == loss
    for t in names:
        if t == "recon":
            continue
        w = getattr(m, WEIGHT_OF[t])
        m2 = _rebuilt(m, **{WEIGHT_OF[t]: 2.0 * w})
        if warmup != 1.0:
            m2._kl_warmup = warmup
        _, v2 = m2.loss(X, noise=noise)
        assert values[t] != 0.0
        assert v2[t] == pytest.approx(2.0 * values[t], rel=1e-12), f"{t} is not weighted"
        for other in names:
            if other != t:
                assert v2[other] == pytest.approx(values[other], rel=1e-12)
    return values


def _autoencoder_configs():
    """Every valid combination of the regularizers, on a one-layer sigmoid encoder (where
    all of them apply) and a two-layer one (tied and untied)."""
    grid = itertools.product(
        [None, "l1", "kl"],                     # sparsity
        [None, 2],                              # k
        [None, "gaussian", "masking", "salt_and_pepper"],
        [0.0, 0.5],                             # contractive_weight
        [0.0, 0.1],                             # weight_decay
        [(5,), (5, 4)],
        [False, True])                          # tied_weights
    for sparsity, k, noise, lam_c, wd, sizes, tied in grid:
        if sparsity is not None and k is not None:
            continue                            # two ways to a sparse code: refused
        if lam_c > 0 and len(sizes) > 1:
            continue                            # contractive: one sigmoid layer only
        yield dict(hidden_layer_sizes=sizes, sparsity=sparsity,
                   sparsity_weight=0.7 if sparsity else 0.0, sparsity_target=0.2, k=k,
                   noise=noise, noise_level=0.2 if noise else 0.0,
                   contractive_weight=lam_c, weight_decay=wd, tied_weights=tied)


AE_CONFIGS = list(_autoencoder_configs())


def test_the_grid_covers_every_regularizer_and_their_combinations():
    assert len(AE_CONFIGS) == 4 * 4 * 3 * 2 * 2    # (sparsity, k) × noise × (λ_c, depth) × λ × tied
    assert any(c["sparsity"] == "kl" and c["noise"] and c["contractive_weight"] and
               c["weight_decay"] for c in AE_CONFIGS)


@pytest.mark.parametrize("kw", AE_CONFIGS,
                         ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items() if v))
def test_autoencoder_values_sum_to_the_loss_for_every_regularizer_combination(kw):
    m = _jitter(Autoencoder(activation="sigmoid", dtype="float64", random_state=0, **kw)
                .initialize(D))
    X = _batch()
    noise = m.sample_noise(X, np.random.default_rng(0))
    values = _assert_convention(m, X, noise)
    expected = {"recon"} | {t for t, p in WEIGHT_OF.items() if t != "kl" and kw.get(p, 0) > 0}
    assert set(values) == expected


@pytest.mark.parametrize("cls", [SparseAutoencoder, KSparseAutoencoder, DenoisingAutoencoder,
                                 ContractiveAutoencoder])
def test_presets_follow_the_convention(cls):
    m = _jitter(cls((5,), dtype="float64", random_state=0, k=2 if cls is KSparseAutoencoder
                    else None, weight_decay=0.05).initialize(D))
    X = _batch()
    _assert_convention(m, X, m.sample_noise(X, np.random.default_rng(0)))


def test_stacked_autoencoder_follows_the_convention_with_k_sparse_stages():
    m = _jitter(StackedAutoencoder((5, 4), weight_decay=0.1, layer_options={"k": 3},
                                   dtype="float64", random_state=0).initialize(D))
    values = _assert_convention(m, _batch(), None)
    assert set(values) == {"recon", "weight_decay"}


VAE_CONFIGS = {
    "beta-2.5": dict(beta=2.5),
    "beta-0.3-weight-decay": dict(beta=0.3, weight_decay=0.1),
    "gaussian-learned-variance-beta-4": dict(output="gaussian", decoder_variance="learned",
                                             beta=4.0),
    "bounded-logvar-beta-1.7": dict(logvar_bound=2.0, beta=1.7),
    "binarized-beta-0.5": dict(binarize=True, beta=0.5),
}


@pytest.mark.parametrize("name", list(VAE_CONFIGS))
@pytest.mark.parametrize("epoch", [None, 1, 3])
def test_vae_values_kl_is_the_weighted_term_also_during_warm_up(name, epoch):
    """values["kl"] = β_t · mean KL_n with β_t = β · min(1, t/T) (T = 4 epochs of warm-up:
    t = 1 gives β/4, t = 3 gives 3β/4), so the values sum to the loss; the KL in nats is
    posterior_kl (here: from the step's own forward, as binarization changes the input)."""
    kw = VAE_CONFIGS[name]
    m = _jitter(VAE(hidden_layer_sizes=(5,), latent_dim=3, activation="tanh", dtype="float64",
                    random_state=0, kl_warmup_epochs=4, **kw).initialize(D))
    X = _batch()
    noise = m.sample_noise(X, np.random.default_rng(0))
    warm = 1.0
    if epoch is not None:
        m.on_epoch_start(epoch)
        warm = min(1.0, epoch / 4)
    values = _assert_convention(m, X, noise, warmup=warm)
    kl_nats = np.mean(m.forward(X, noise).kl)
    assert values["kl"] == pytest.approx(kw["beta"] * warm * kl_nats, rel=1e-13)
    if not kw.get("binarize"):
        assert np.mean(m.posterior_kl(X)) == pytest.approx(kl_nats, rel=1e-13)
