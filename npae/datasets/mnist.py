"""MNIST and Fashion-MNIST as arrays: ``(X, y)`` from their IDX files.

``X`` holds one image per row, pixels/255 in [0, 1] (float32 by default), ``y`` the
int64 labels 0-9. The files are found (and, with ``download=True``, fetched and
verified) by npae.datasets.files, whose docstring gives the search order and the
checksum policy; every load checks the SHA-256 of the content it reads.
"""
from __future__ import annotations

import os

import numpy as np

from .._validation import check_choice, check_dtype
from .files import (_FILE_DATASETS, _SPLIT_FILES, CHECKSUMS, _candidate_dirs, _canonical,
                    _file_in, download, find_dataset)
from .idx import _decode_idx, _read_bytes, _sha256

__all__ = ["load_fashion_mnist", "load_mnist"]


def _how_to_get(name: str) -> str:
    return (f"get it with `python -m npae download {name}` (or "
            f"npae.datasets.download({name!r})), or set NPAE_DATA to a folder holding "
            f"{name}/ with the four IDX files (.gz or raw)")


def _load_idx_dataset(name, split, data_dir, download_, mirrors, flatten, dtype, normalize):
    """``(X, y)`` of one split of an IDX data set; the arguments of :func:`load_mnist`."""
    name = _canonical(name, _FILE_DATASETS)
    check_choice(split, "split", _SPLIT_FILES)
    for flag, value in (("download", download_), ("flatten", flatten), ("normalize", normalize)):
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{flag} must be True or False, got {value!r}")
    dtype = check_dtype(dtype)
    if normalize and not np.issubdtype(dtype, np.floating):
        raise ValueError(f"dtype must be a floating type when normalize=True (pixels/255), "
                         f"got {dtype}")
    folder = find_dataset(name, data_dir, split)
    if folder is None:
        if not download_:
            searched = [str(d) for d in _candidate_dirs(name, data_dir)]
            if data_dir is None and not os.environ.get("NPAE_DATA"):
                searched.insert(0, f"$NPAE_DATA/{name} (NPAE_DATA is not set)")
            searched = "\n  ".join(searched)
            raise FileNotFoundError(
                f"{name} ({split} split) not found; searched, in order:\n  {searched}\n"
                f"{_how_to_get(name)}; or pass download=True")
        folder = download(name, data_dir, mirrors)
    images_stem, labels_stem = _SPLIT_FILES[split]
    arrays = {}
    for stem in (images_stem, labels_stem):
        path = _file_in(folder, stem)
        data = _read_bytes(path)
        expected = CHECKSUMS[name].get(stem)
        if expected is not None and _sha256(data) != expected:
            raise ValueError(
                f"corrupt data file {path}: SHA-256 of its content is {_sha256(data)}, "
                f"expected {expected}; delete it and {_how_to_get(name)}")
        arrays[stem] = (_decode_idx(data, path), path)
    (images, ipath), (labels, lpath) = arrays[images_stem], arrays[labels_stem]
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"{ipath}: expected uint8 images of shape (N, rows, cols), got "
                         f"{images.dtype} {images.shape}")
    if labels.ndim != 1:
        raise ValueError(f"{lpath}: expected labels of shape (N,), got {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"images/labels count mismatch: {ipath} holds {images.shape[0]} "
                         f"images, {lpath} holds {labels.shape[0]} labels")
    X = images.reshape(images.shape[0], -1) if flatten else images
    X = X.astype(dtype)                              # copy out of the read-only buffer
    if normalize:
        X /= 255                                     # pixels/255, in [0, 1]
    y = labels.astype(np.int64)
    return X, y


def load_mnist(split="train", data_dir=None, download=False, mirrors=None, flatten=True,
               dtype=np.float32, normalize=True):
    """Load MNIST: ``X`` (N, 784) pixels/255 in [0, 1] as ``dtype``, ``y`` (N,) int64.

    ``split``: ``"train"`` (60,000) or ``"test"`` (10,000). ``flatten=False`` keeps
    (N, 28, 28); ``normalize=False`` keeps the values 0..255 (any ``dtype``, e.g. uint8).
    Search order, checksums and ``download``: see npae.datasets.files.
    """
    return _load_idx_dataset("mnist", split, data_dir, download, mirrors, flatten, dtype,
                             normalize)


def load_fashion_mnist(split="train", data_dir=None, download=False, mirrors=None,
                       flatten=True, dtype=np.float32, normalize=True):
    """Load Fashion-MNIST (10 clothing classes, MNIST's format); as :func:`load_mnist`."""
    return _load_idx_dataset("fashion-mnist", split, data_dir, download, mirrors, flatten,
                             dtype, normalize)
