"""Saving and loading fitted models: one ``.npz``, no pickles, written atomically.

The file holds every parameter array under its own name and one extra entry,
``__npae__``, a JSON string with the model's class, hyperparameters, training history,
the npae version that wrote it and the file format version. Loading uses
``np.load(allow_pickle=False)``, so a file with pickled objects is refused, and
checks the format version, the class and every array's name and shape before a
model is returned.

Writing goes to a temporary file in the destination folder, then ``os.replace``
moves it over the destination in one step: a crash mid-write leaves the old file
intact, never a half-written one.

Which class a checkpoint names is looked up in :data:`MODEL_CLASSES`, a registry that
this module owns and that npae.models.base fills: every subclass of ``BaseModel``
registers itself when it is defined (:func:`register_model_class`). So imports run one
way, from the models to persistence, and a model class defined outside npae can be
saved and loaded as well once its module has been imported.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from ._version import __version__

FORMAT_VERSION = 1
META_KEY = "__npae__"

#: class name -> model class, for loading; filled by register_model_class
MODEL_CLASSES = {}


def register_model_class(cls):
    """Make checkpoints naming ``cls.__name__`` load as ``cls`` (called for every model
    class when it is defined: ``BaseModel.__init_subclass__``). Returns ``cls``."""
    MODEL_CLASSES[cls.__name__] = cls
    return cls


class CheckpointError(ValueError):
    """A file that is not a loadable npae checkpoint (or not of the expected model)."""


def atomic_write(path, write):
    """Call ``write(fileobj)`` on a temporary file next to ``path``, then move it into place."""
    path = Path(path)
    for folder in (path.parent, *path.parent.parents):
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(f"cannot write {path}: {folder} is a file, not a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, _file_mode(path))     # mkstemp makes 0600; give what open() would
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _file_mode(path):
    """The mode of the file being replaced, or what a new file gets under the umask."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def jsonable(value):
    """A hyperparameter as JSON keeps it: tuples as lists, numpy scalars as Python numbers,
    dtypes by name (recursively), so that numpy integers save like ints."""
    if isinstance(value, (np.dtype, type)):
        try:
            return np.dtype(value).name
        except TypeError:
            return repr(value)
    if isinstance(value, (tuple, list)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_model(model, path):
    """Write ``model`` (fitted) to ``path`` as described in the module docstring."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"cannot save to {path}: it is a directory; pass a file name "
                                f"such as {path / 'model.npz'}")
    meta = {
        "format": FORMAT_VERSION,
        "npae_version": __version__,
        "class": type(model).__name__,
        "hyperparameters": {k: jsonable(v) for k, v in model.get_params().items()},
        "history": jsonable(model.history_),
        "extra": jsonable(model._extra_state()),
    }
    try:
        text = json.dumps(meta)          # allows inf: a validation loss may be inf
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot save this {type(model).__name__}: a hyperparameter or its "
                         f"history cannot be written as JSON ({exc})") from None
    arrays = dict(model.params_)
    arrays[META_KEY] = np.array(text)
    return atomic_write(path, lambda f: np.savez(f, **arrays))


def load_model(path, expected_class=None):
    """Rebuild a model saved by :func:`save_model`; refuses pickles and mismatches.

    Every way a file can be wrong (not a zip, no metadata, bad JSON, missing or
    mistyped fields, unknown or invalid hyperparameters, parameters of the wrong names,
    shapes or dtypes, NaN/inf or complex parameters) raises :class:`CheckpointError`
    naming the file and what is wrong.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory, not a checkpoint file")
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":          # an .npz is a zip archive
            raise CheckpointError(f"{path} is not a readable .npz checkpoint (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            if META_KEY not in data.files:
                raise CheckpointError(f"{path} is not an npae checkpoint (no {META_KEY} entry)")
            meta_array = data[META_KEY]
            arrays = {k: data[k] for k in data.files if k != META_KEY}
    except CheckpointError:
        raise
    except FileNotFoundError:
        raise
    except ValueError as exc:   # numpy refuses object arrays without allow_pickle
        raise CheckpointError(f"{path} cannot be loaded safely ({exc}); npae never loads "
                              "pickled objects") from None
    except Exception as exc:
        raise CheckpointError(f"{path} is not a readable .npz checkpoint: {exc}") from None
    meta = _read_meta(path, meta_array)
    model = _build_model(path, meta, expected_class)
    try:
        n_features = meta["extra"]["n_features"]
        if isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 1:
            raise ValueError(f"n_features must be a positive integer, got {n_features!r}")
        expected = model._init_params(n_features, np.random.default_rng(0))
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise CheckpointError(f"{path}: the saved settings do not describe a model "
                              f"({exc})") from None
    if set(expected) != set(arrays) or any(expected[k].shape != arrays[k].shape for k in expected):
        missing, unknown = sorted(set(expected) - set(arrays)), sorted(set(arrays) - set(expected))
        shapes = [f"{k} {arrays[k].shape} (expected {expected[k].shape})" for k in expected
                  if k in arrays and expected[k].shape != arrays[k].shape]
        raise CheckpointError(f"{path}: parameter names or shapes do not match a "
                              f"{meta['class']} with the saved hyperparameters (missing "
                              f"{missing}, unexpected {unknown}, wrong shapes {shapes})")
    for k, a in arrays.items():
        if not np.issubdtype(a.dtype, np.floating):
            raise CheckpointError(f"{path}: parameter {k} has dtype {a.dtype}; a checkpoint "
                                  "holds real floating-point parameters only")
        if not np.isfinite(a).all():
            raise CheckpointError(f"{path}: parameter {k} holds NaN or infinite values")
    model.params_ = {k: arrays[k].astype(model.dtype) for k in expected}
    model.history_ = meta["history"]
    try:
        model._restore_extra_state(meta["extra"])
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"{path}: bad 'extra' state in the metadata ({exc})") from None
    model._remember_architecture()
    return model


def _read_meta(path, meta_array):
    """The metadata dict, with every field of the right type, or CheckpointError."""
    if meta_array.dtype.kind != "U" or meta_array.ndim != 0:
        raise CheckpointError(f"{path}: the {META_KEY} entry must be one JSON string, got "
                              f"a {meta_array.dtype} array of shape {meta_array.shape}")
    try:
        meta = json.loads(str(meta_array))
    except ValueError as exc:
        raise CheckpointError(f"{path}: the {META_KEY} metadata is not valid JSON "
                              f"({exc})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: the metadata must be a JSON object, got "
                              f"{type(meta).__name__}")
    if meta.get("format") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {meta.get('format')!r} (written by npae "
            f"{meta.get('npae_version')}); this npae reads format {FORMAT_VERSION}")
    for key, kind in (("class", str), ("hyperparameters", dict), ("history", dict),
                      ("extra", dict)):
        if key not in meta:
            raise CheckpointError(f"{path}: the metadata has no {key!r} field")
        if not isinstance(meta[key], kind):
            raise CheckpointError(f"{path}: the metadata field {key!r} must be a JSON "
                                  f"{'string' if kind is str else 'object'}, got "
                                  f"{type(meta[key]).__name__}")
    for key, values in meta["history"].items():
        if not isinstance(values, list):
            raise CheckpointError(f"{path}: history entry {key!r} must be a list, got "
                                  f"{type(values).__name__}")
    return meta


def _build_model(path, meta, expected_class):
    """A model of the saved class and hyperparameters (validated), or CheckpointError."""
    name = meta["class"]
    if name not in MODEL_CLASSES:
        raise CheckpointError(f"{path} holds an unknown model class {name!r}")
    cls = MODEL_CLASSES[name]
    if expected_class is not None and not issubclass(cls, expected_class):
        raise CheckpointError(f"{path} holds a {name}, not a {expected_class.__name__}")
    try:
        model = cls(**cls._hyperparameters_from_json(meta["hyperparameters"]))
        model._validate_hyperparameters()
        model._validate_training_settings()
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: bad hyperparameters for a {name}: {exc}") from None
    return model
