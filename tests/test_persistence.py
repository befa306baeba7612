"""Checkpoints: round trip, atomic writes, and refusal of pickles, other models, other formats."""
import json
import os

import numpy as np
import pytest

import npae
from npae.persistence import META_KEY, CheckpointError


@pytest.fixture
def fitted():
    X = np.random.default_rng(0).uniform(size=(64, 10))
    return npae.Autoencoder((6, 3), activation="tanh", tied_weights=True, epochs=2,
                            random_state=0, verbose=False).fit(X), X


def test_round_trip_restores_parameters_hyperparameters_and_history(fitted, tmp_path):
    m, X = fitted
    path = m.save(tmp_path / "ae.npz")
    back = npae.load(path)
    assert type(back) is npae.Autoencoder and back.get_params() == m.get_params()
    for k in m.params_:
        assert np.array_equal(back.params_[k], m.params_[k])
    assert back.history_ == m.history_
    np.testing.assert_array_equal(back.transform(X), m.transform(X))
    assert npae.Autoencoder.load(path).n_features_in_ == 10


def test_save_is_atomic_and_leaves_no_temporary_file(fitted, tmp_path, monkeypatch):
    m, _ = fitted
    path = tmp_path / "ae.npz"
    m.save(path)
    before = path.read_bytes()

    def broken_savez(f, **arrays):
        f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        m.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ae.npz"]


def _rewrite(path, meta_change=None, extra=None):
    with np.load(path, allow_pickle=False) as d:
        arrays = {k: d[k] for k in d.files}
    meta = json.loads(str(arrays[META_KEY]))
    if meta_change:
        meta_change(meta)
    arrays[META_KEY] = np.array(json.dumps(meta))
    arrays.update(extra or {})
    np.savez(path, **arrays)


def test_checkpoint_with_pickled_objects_is_refused(fitted, tmp_path):
    m, _ = fitted
    path = m.save(tmp_path / "ae.npz")
    _rewrite(path, extra={"payload": np.array([{"evil": 1}], dtype=object)})
    with pytest.raises(CheckpointError, match="pickle"):
        npae.load(path)


def test_checkpoint_of_another_format_version_is_refused(fitted, tmp_path):
    m, _ = fitted
    path = m.save(tmp_path / "ae.npz")
    _rewrite(path, lambda meta: meta.update(format=99, npae_version="99.0.0"))
    with pytest.raises(CheckpointError, match="format 99"):
        npae.load(path)


def test_checkpoint_of_another_model_is_refused(fitted, tmp_path):
    class OtherModel(npae.Autoencoder):
        pass

    m, _ = fitted
    path = m.save(tmp_path / "ae.npz")
    with pytest.raises(CheckpointError, match="holds a Autoencoder, not a OtherModel"):
        OtherModel.load(path)
    _rewrite(path, lambda meta: meta.update({"class": "NoSuchModel"}))
    with pytest.raises(CheckpointError, match="unknown model class"):
        npae.load(path)


def test_checkpoint_with_wrong_shapes_or_not_npae_is_refused(fitted, tmp_path):
    m, _ = fitted
    path = m.save(tmp_path / "ae.npz")
    _rewrite(path, extra={"enc.0.W": np.zeros((3, 3))})
    with pytest.raises(CheckpointError, match="shapes do not match"):
        npae.load(path)
    np.savez(tmp_path / "plain.npz", a=np.zeros(2))
    with pytest.raises(CheckpointError, match="not an npae checkpoint"):
        npae.load(tmp_path / "plain.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="not a readable"):
        npae.load(tmp_path / "junk.npz")


def test_saved_file_gets_ordinary_permissions(fitted, tmp_path):
    m, _ = fitted
    umask = os.umask(0o022)
    try:
        path = m.save(tmp_path / "ae.npz")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_model_class_registers_itself_when_defined_and_then_loads_by_name(tmp_path):
    """persistence owns the registry; BaseModel.__init_subclass__ fills it, so a model
    class defined anywhere (here, in a test) is found by npae.load from its saved name."""
    from npae import persistence

    class _RegisteredInATest(npae.Autoencoder):
        pass

    assert persistence.MODEL_CLASSES["_RegisteredInATest"] is _RegisteredInATest
    assert persistence.MODEL_CLASSES["VAE"] is npae.VAE
    X = np.random.default_rng(1).uniform(size=(32, 6))
    m = _RegisteredInATest((3,), epochs=1, random_state=0, verbose=False).fit(X)
    back = npae.load(m.save(tmp_path / "m.npz"))
    assert type(back) is _RegisteredInATest
    np.testing.assert_array_equal(back.transform(X), m.transform(X))
