"""Data for npae: MNIST and Fashion-MNIST from IDX files, synthetic digits, toy manifolds.

One module per idea; every public name is importable from ``npae.datasets`` itself:

- npae.datasets.idx: the IDX file format (:func:`read_idx`);
- npae.datasets.files: finding and downloading the IDX data sets: search order
  (``data_dir``, ``$NPAE_DATA``, ``~/.cache/npae``, ``/usr/share/datasets``), mirrors,
  checksums, progress (:func:`find_dataset`, :func:`download`, :data:`CHECKSUMS`,
  :data:`DEFAULT_MIRRORS`);
- npae.datasets.mnist: MNIST and Fashion-MNIST as arrays (:func:`load_mnist`,
  :func:`load_fashion_mnist`);
- npae.datasets.synthetic: data made offline: glyph digits, 2-D toy manifolds,
  natural-image patches (:func:`load_glyph_digits`, :func:`make_manifold`,
  :func:`load_patches`);
- npae.datasets.movielens: GroupLens's MovieLens ratings from the user's copy or a
  download, never bundled (:func:`load_movielens`, :func:`load_movielens_titles`);
- npae.datasets.catalog: one entry point by name (:func:`load`,
  :func:`available_datasets`) and the demo digits (:func:`load_digits`).

Module attributes that tests or users replace (``SYSTEM_DATA_DIRS``) are read where they
are defined: set ``npae.datasets.files.SYSTEM_DATA_DIRS``.
"""
from .catalog import available_datasets, load, load_digits
from .files import CHECKSUMS, DEFAULT_MIRRORS, SYSTEM_DATA_DIRS, download, find_dataset  # noqa: F401
from .idx import read_idx
from .mnist import load_fashion_mnist, load_mnist
from .movielens import load_movielens, load_movielens_titles
from .synthetic import (DEFAULT_GLYPH_FONTS, load_glyph_digits, load_patches,  # noqa: F401
                        make_manifold)

__all__ = [
    "CHECKSUMS", "DEFAULT_MIRRORS", "available_datasets", "download", "find_dataset",
    "load", "load_digits", "load_patches", "load_fashion_mnist", "load_glyph_digits", "load_mnist",
    "make_manifold", "read_idx", "load_movielens", "load_movielens_titles",
]
