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
    return StackedAutoencoder(**kw).fit(X, X[:40])


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
])
def test_bad_settings_are_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        _fit(**kw)
