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
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1
META_KEY = "__npae__"


class CheckpointError(ValueError):
    """A file that is not a loadable npae checkpoint (or not of the expected model)."""


def atomic_write(path, write):
    """Call ``write(fileobj)`` on a temporary file next to ``path``, then move it into place."""
    path = Path(path)
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


def _jsonable(value):
    if isinstance(value, (np.dtype, type)):
        return np.dtype(value).name
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_model(model, path):
    """Write ``model`` (fitted) to ``path`` as described in the module docstring."""
    from . import __version__
    meta = {
        "format": FORMAT_VERSION,
        "npae_version": __version__,
        "class": type(model).__name__,
        "hyperparameters": {k: _jsonable(v) for k, v in model.get_params().items()},
        "history": model.history_,
        "extra": model._extra_state(),
    }
    arrays = dict(model.params_)
    arrays[META_KEY] = np.array(json.dumps(meta))
    return atomic_write(path, lambda f: np.savez(f, **arrays))


def load_model(path, expected_class=None):
    """Rebuild a model saved by :func:`save_model`; refuses pickles and mismatches."""
    from .models.base import MODEL_CLASSES
    path = Path(path)
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":          # an .npz is a zip archive
            raise CheckpointError(f"{path} is not a readable .npz checkpoint (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            if META_KEY not in data.files:
                raise CheckpointError(f"{path} is not an npae checkpoint (no {META_KEY} entry)")
            meta = json.loads(str(data[META_KEY]))
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
    if meta.get("format") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {meta.get('format')!r} (written by npae "
            f"{meta.get('npae_version')}); this npae reads format {FORMAT_VERSION}")
    name = meta.get("class")
    if name not in MODEL_CLASSES:
        raise CheckpointError(f"{path} holds an unknown model class {name!r}")
    cls = MODEL_CLASSES[name]
    if expected_class is not None and not issubclass(cls, expected_class):
        raise CheckpointError(f"{path} holds a {name}, not a {expected_class.__name__}")
    model = cls(**cls._hyperparameters_from_json(meta["hyperparameters"]))
    expected = model._init_params(int(meta["extra"]["n_features"]), np.random.default_rng(0))
    if set(expected) != set(arrays) or any(expected[k].shape != arrays[k].shape for k in expected):
        raise CheckpointError(f"{path}: parameter names or shapes do not match a {name} "
                              "with the saved hyperparameters")
    model.params_ = {k: arrays[k].astype(model.dtype) for k in expected}
    model.history_ = meta["history"]
    model._restore_extra_state(meta["extra"])
    return model
