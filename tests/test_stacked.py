"""StackedAutoencoder: the unrolled stack reproduces its stages, gradients check,
each stage is recorded, bad settings are refused."""
import numpy as np
import pytest

from npae.gradcheck import check_model
from npae.models.stacked import StackedAutoencoder

rng = np.random.default_rng(0)
X = rng.uniform(size=(200, 16))


def _fit(**kw):
    kw = {"hidden_layer_sizes": (8, 4), "pretrain_epochs": 2, "epochs": 0, "batch_size": 50,
          "random_state": 0, "verbose": False, "learning_rate": 0.01, **kw}
    return StackedAutoencoder(**kw).fit(X, X_val=X[:40])


@pytest.mark.parametrize("tied", [False, True])
def test_unrolled_stack_without_fine_tuning_is_the_composition_of_its_stages(tied):
    """(S3): encoder = stage encoders in order, decoder = stage decoders in reverse."""
    m = _fit(tied_weights=tied)
    s1, s2 = m.stages_
    np.testing.assert_allclose(m.transform(X), s2.transform(s1.transform(X)), rtol=1e-5)
    expected = s1.inverse_transform(s2.inverse_transform(m.transform(X)))
    np.testing.assert_allclose(m.reconstruct(X), expected, rtol=1e-5, atol=1e-6)
    assert s2.output == "bernoulli"        # sigmoid codes of stage 1 are in (0, 1)


def test_each_stage_and_the_fine_tuning_are_recorded_and_fine_tuning_helps():
    m = _fit(epochs=3)
    assert list(m.pretrain_history_) == ["layer 1", "layer 2"]
    assert all(len(h["loss"]) == 2 for h in m.pretrain_history_.values())
    assert m.history_["epoch"] == [1, 2, 3]
    assert m.history_["loss"][-1] < m.history_["loss"][0]


def test_stage_regularizers_reach_the_stages():
    m = _fit(layer_options={"noise": "masking", "noise_level": 0.3})
    assert all(s.noise == "masking" for s in m.stages_)
    assert m.noise is None                 # fine-tuning is plain (S4)


def test_gradients_of_the_unrolled_model_check():
    m = StackedAutoencoder((5, 3), activation="tanh", output="gaussian", dtype="float64",
                           random_state=0).initialize(6)
    assert check_model(m, rng.normal(size=(4, 6))).max_rel_error <= 1e-7


@pytest.mark.parametrize("k_alpha", [1.0, 1.5])
def test_k_sparse_stages_unroll_to_the_pipeline_with_a_mask_after_every_layer(k_alpha):
    """(S2)-(S3) with layer_options k: each stage passes k-sparse codes (round(k_alpha·k)
    units at transform time) to the next, and the unrolled model applies the same mask
    after every encoder layer, so its transform is the composition of the stages'."""
    m = _fit(layer_options={"k": 2, "k_alpha": k_alpha})
    s1, s2 = m.stages_
    k_t = int(round(k_alpha * 2))
    H1 = s1.transform(X)
    assert np.all(np.sum(H1 != 0, axis=1) == k_t)                      # stage 1 codes k-sparse
    np.testing.assert_allclose(m.transform(X), s2.transform(H1), rtol=1e-5, atol=1e-7)
    assert np.all(np.sum(m.transform(X) != 0, axis=1) == k_t)
    J = m.encoder_jacobian(X[:5])                                       # masks in J too
    assert np.all(np.sum(np.any(J != 0, axis=1), axis=1) <= k_t)


def test_gradients_of_an_unrolled_k_sparse_stack_check_away_from_ties():
    """Masks after both layers (k = 2 of 5, then of 3): every finite-difference step
    keeps each row's top-k set: the k-th and (k+1)-th values are ≥ 0.01 apart, while a
    step of 2e-3 in one parameter moves an activation by far less."""
    m = StackedAutoencoder((5, 3), activation="tanh", output="gaussian", dtype="float64",
                           layer_options={"k": 2}, random_state=0).initialize(6)
    Xg = np.random.default_rng(3).normal(size=(4, 6))
    caches, _, masks, _ = m._encode(m.params_, Xg, m._encoder_ks(True))
    assert all(mask is not None for mask in masks)
    for c in caches:
        top = -np.sort(-c.out, axis=1)
        assert np.min(top[:, 1] - top[:, 2]) >= 0.01
    report = check_model(m, Xg, at="current")          # the gaps above are of this point
    assert report.passed and report.max_rel_error <= 1e-7, report.table()


def test_same_seed_same_parameters_and_save_load(tmp_path):
    import npae
    a, b = _fit(), _fit()
    for k in a.params_:
        assert np.array_equal(a.params_[k], b.params_[k])
    back = npae.load(a.save(tmp_path / "s.npz"))
    assert isinstance(back, StackedAutoencoder) and back.pretrain_history_ == a.pretrain_history_
    np.testing.assert_array_equal(back.transform(X), a.transform(X))


@pytest.mark.parametrize("kw,message", [
    ({"pretrain_epochs": 0}, "pretrain_epochs"),
    ({"layer_options": {"learning_rate": 1}}, "layer_options may set"),
    ({"layer_options": ["noise"]}, "layer_options must be a dict"),
    ({"layer_options": {"noise": "pink"}}, "noise"),
    ({"layer_options": {"k": 5}}, r"layer_options\['k'\] must be an integer in \[1, 4\]"),
])
def test_bad_settings_are_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        _fit(**kw)


def _diverging(at_stage):
    """A stack whose pretraining stage ``at_stage`` (1-based) gets learning rate 1e39."""
    m = StackedAutoencoder((8, 4), pretrain_epochs=1, epochs=1, batch_size=50, random_state=0,
                           verbose=False, learning_rate=0.01, optimizer="sgd")
    real = m._stage

    def stage(l, rng):
        s = real(l, rng)
        return s.set_params(learning_rate=1e39) if l + 1 == at_stage else s

    m._stage = stage
    return m


@pytest.mark.parametrize("at_stage", [1, 2])
def test_a_diverged_stage_keeps_the_restored_parameters_and_is_named(at_stage):
    """Issue 19: a first stage that diverged left the stack with no params_ at all. Now it
    holds, like every model whose training diverged, what training restored: the stages
    so far (the diverged one at its last good parameters) unrolled, fresh layers above."""
    from npae.training import TrainingDiverged
    m = _diverging(at_stage)
    with pytest.warns(RuntimeWarning), pytest.raises(
            TrainingDiverged, match=f"pretraining stage {at_stage} of 2 diverged; the stack "
                                    f"holds .*stage {at_stage} at its last good parameters"):
        m.fit(X)
    assert m.n_features_in_ == 16 and len(m.stages_) == at_stage
    assert sorted(m.params_) == sorted(StackedAutoencoder((8, 4)).initialize(16).params_)
    for l, stage in enumerate(m.stages_):
        np.testing.assert_array_equal(m.params_[f"enc.{l}.W"], stage.params_["enc.0.W"])
        np.testing.assert_array_equal(m.params_[f"dec.{1 - l}.b"], stage.params_["dec.0.b"])
    assert list(m.pretrain_history_) == [f"layer {l + 1}" for l in range(at_stage)]
    Z = m.transform(X)
    assert Z.shape == (200, 4) and np.isfinite(Z).all() and np.isfinite(m.score(X))
