"""One entry point for every data set: names, ``load(name)`` and the demo digits.

:func:`available_datasets` names what :func:`load` returns as ``(X, y)``: the IDX data
sets of npae.datasets.mnist (found and downloaded by npae.datasets.files) and the
synthetic glyph digits of npae.datasets.synthetic. :func:`load_digits` is what demos and
tutorials use: MNIST when it is on disk, else glyph digits, with a sentence saying which.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_choice, check_dtype, check_positive_int
from .files import _FILE_DATASETS, _SPLIT_FILES, _canonical, find_dataset
from .mnist import _load_idx_dataset
from .synthetic import load_glyph_digits

__all__ = ["available_datasets", "load", "load_digits"]

_SYNTHETIC = ("glyph-digits",)


def available_datasets() -> tuple[str, ...]:
    """Names accepted by :func:`load` (``glyphs`` is also accepted for ``glyph-digits``)."""
    return _FILE_DATASETS + _SYNTHETIC


_GLYPH_TEST_SEED_OFFSET = 1_000_003   # test split of glyph-digits: seed + this


def load(name, split="train", *, data_dir=None, download=False, mirrors=None, flatten=True,
         dtype=np.float32, normalize=True, n=None, seed=0):
    """Load any data set of :func:`available_datasets` as ``(X, y)``.

    ``n``: keep the first ``n`` examples (IDX data sets) or draw ``n`` glyph digits
    (default 10,000 for train and 2,000 for test). ``seed`` only affects
    ``glyph-digits``, whose test split uses ``seed + 1_000_003`` so that train and test
    are different draws. ``data_dir``/``download``/``mirrors`` only affect the IDX sets.
    """
    name = _canonical(name, available_datasets())
    check_choice(split, "split", _SPLIT_FILES)
    if n is not None:
        n = check_positive_int(n, "n")
    if name in _FILE_DATASETS:
        X, y = _load_idx_dataset(name, split, data_dir, download, mirrors, flatten, dtype,
                                 normalize)
        if n is not None:
            if n > len(y):
                raise ValueError(f"n must be <= {len(y)} (size of {name} {split}), got {n}")
            X, y = X[:n].copy(), y[:n].copy()
        return X, y
    dtype = check_dtype(dtype)
    if normalize and not np.issubdtype(dtype, np.floating):
        raise ValueError(f"dtype must be a floating type when normalize=True, got {dtype}")
    n = n if n is not None else (10_000 if split == "train" else 2_000)
    split_seed = seed if split == "train" else seed + _GLYPH_TEST_SEED_OFFSET
    X, y = load_glyph_digits(n, seed=split_seed, dtype=np.float32)
    if not normalize:
        X = X * 255                                  # the pixel scale of the IDX sets
    X = X.astype(dtype)
    return (X if flatten else X.reshape(-1, 28, 28)), y


def load_digits(n_train=None, n_test=None, seed=0):
    """Digits for demos and tutorials: MNIST when it is on disk, else synthetic glyph digits.

    Returns ``(X_train, y_train, X_test, y_test, source)`` with X in [0, 1] (float32,
    (N, 784)), y int64 and ``source`` a sentence saying which data it is (and, for the
    glyphs, how to get MNIST). ``n_train``/``n_test`` keep the first n MNIST images or
    draw n glyph digits (default: all of MNIST; 10,000 and 2,000 glyphs).
    """
    if find_dataset("mnist") is not None:
        X, y = load("mnist", "train", n=n_train)
        X_test, y_test = load("mnist", "test", n=n_test)
        return X, y, X_test, y_test, f"MNIST ({len(X):,} training, {len(X_test):,} test images)"
    X, y = load("glyph-digits", "train", n=n_train, seed=seed)
    X_test, y_test = load("glyph-digits", "test", n=n_test, seed=seed)
    return X, y, X_test, y_test, (
        f"npae's synthetic glyph digits ({len(X):,} training, {len(X_test):,} test images): "
        "MNIST was not found; get it with `python -m npae download mnist` or set NPAE_DATA "
        "to a folder holding mnist/")
