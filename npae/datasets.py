"""Data for npae: MNIST and Fashion-MNIST from IDX files, synthetic digits, toy manifolds.

Real data (``mnist``, ``fashion-mnist``)
----------------------------------------
Each data set is four IDX files, gzip-compressed (``NAME.gz``) or raw (``NAME``)::

    train-images-idx3-ubyte  train-labels-idx1-ubyte  t10k-images-idx3-ubyte  t10k-labels-idx1-ubyte

Search order for the folder that holds them (``<name>`` is ``mnist`` or ``fashion-mnist``):

1. an explicit ``data_dir``: if given, ONLY there; it may be the data set's folder itself
   or its parent holding ``<name>/``;
2. ``$NPAE_DATA/<name>/``;
3. ``~/.cache/npae/<name>/`` (where :func:`download` puts files by default);
4. ``/usr/share/datasets/<name>/`` (Debian's ``dataset-fashion-mnist`` installs the four
   ``.gz`` files in ``/usr/share/datasets/fashion-mnist/``).

When both ``NAME.gz`` and ``NAME`` are present, ``NAME.gz`` is read.

Checksum policy
---------------
:data:`CHECKSUMS` holds the SHA-256 of the UNCOMPRESSED content of every file (the ``.gz``
bytes differ between mirrors and repackagings, the content does not). Every load hashes the
decompressed bytes it reads anyway (about 0.1 s for the 47 MB of MNIST train images) and
raises ``ValueError("corrupt data file ...")`` on a mismatch. :func:`download` verifies each
file in a temporary file in the target folder BEFORE moving it into place with
``os.replace``; a file that fails is deleted, never left in the cache. The MNIST values are
those of the original distribution (also in shared/data/mnist/README.md); the Fashion-MNIST
values were computed from Debian's ``dataset-fashion-mnist`` 0.0~git20200523.55506a9-1,
whose uncompressed MD5s equal the ones Zalando's loaders publish.

Synthetic data
--------------
:func:`load_glyph_digits` renders the digits 0-9 from fonts that matplotlib ships, with a
random affine map and stroke width per sample, in MNIST's format (white on black, 28 x 28,
the longest side about 20 px, centred by centre of mass). :func:`make_manifold` draws 2-D
toy manifolds. Both are offline and bit-identical for the same ``seed``.

References: Y. LeCun, C. Cortes, C. Burges, "The MNIST database of handwritten digits";
H. Xiao, K. Rasul, R. Vollgraf (2017), "Fashion-MNIST", arXiv:1708.07747.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import math
import os
import sys
import tempfile
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from ._validation import check_choice, check_positive_int, check_scalar

__all__ = [
    "CHECKSUMS", "DEFAULT_MIRRORS", "available_datasets", "download", "find_dataset",
    "load", "load_digits", "load_patches", "load_fashion_mnist", "load_glyph_digits", "load_mnist",
    "make_manifold", "read_idx",
]

# --------------------------------------------------------------------------- IDX files

# IDX type code -> dtype; multi-byte types are big-endian in the file.
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _decompress(raw: bytes, source, gz_name: bool) -> bytes:
    """Content of an IDX file from its bytes: gunzipped if they start with the gzip magic."""
    if raw[:2] != _GZIP_MAGIC:
        if gz_name:
            raise ValueError(f"{source}: bad gzip file (no gzip header; the file may be an "
                             f"HTML error page or a partial download)")
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{source}: bad gzip file (truncated or damaged: {exc})") from None


def _read_bytes(path) -> bytes:
    """Return the (decompressed) content of an IDX file, ``.gz`` or raw."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"IDX file {path} does not exist") from None
    return _decompress(raw, path, path.suffix == ".gz")


def _decode_idx(data: bytes, source) -> np.ndarray:
    """Parse IDX bytes into a read-only view (no copy), checking the header against the size.

    Layout: magic ``00 00 <type> <ndim>``, then ``ndim`` big-endian uint32 sizes, then the
    items in C order.
    """
    if len(data) < 4:
        raise ValueError(f"{source}: truncated IDX file ({len(data)} bytes, no header)")
    if data[0] != 0 or data[1] != 0:
        raise ValueError(f"{source}: wrong IDX magic number {data[:4].hex()} (expected "
                         f"00 00 <type> <ndim>); this is not an IDX file")
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{source}: unknown IDX type code 0x{code:02x} (known: "
                         f"{', '.join(f'0x{c:02x}' for c in _IDX_DTYPES)})")
    if ndim == 0:
        raise ValueError(f"{source}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{source}: truncated IDX file (header needs {header} bytes, "
                         f"file has {len(data)})")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = header + math.prod(dims) * dtype.itemsize
    if len(data) < expected:
        raise ValueError(f"{source}: truncated IDX file: header says shape {dims} "
                         f"({expected} bytes), file has {len(data)} bytes")
    if len(data) > expected:
        raise ValueError(f"{source}: {len(data) - expected} trailing bytes after the "
                         f"{expected} bytes that header shape {dims} accounts for")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_idx(path, sha256=None) -> np.ndarray:
    """Read an IDX file (gzip-compressed or raw) into a writable native-endian array.

    ``sha256`` (optional): expected SHA-256 of the uncompressed content; a mismatch raises
    ``ValueError("corrupt data file ...")``. Raises ``ValueError`` naming the file for a
    bad gzip stream, a wrong magic number, an unknown type code, a truncated file or
    trailing bytes.
    """
    data = _read_bytes(path)
    if sha256 is not None and _sha256(data) != sha256:
        raise ValueError(f"corrupt data file {path}: SHA-256 of its content is "
                         f"{_sha256(data)}, expected {sha256}")
    arr = _decode_idx(data, path)
    return arr.astype(arr.dtype.newbyteorder("="))  # copy: writable, native byte order


# --------------------------------------------------------------------------- finding

_FILE_DATASETS = ("mnist", "fashion-mnist")
_SYNTHETIC = ("glyph-digits",)
_ALIASES = {"glyphs": "glyph-digits", "fashion": "fashion-mnist"}
_SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_ALL_FILES = _SPLIT_FILES["train"] + _SPLIT_FILES["test"]

#: SHA-256 of the uncompressed content of each file (see the module docstring).
#: A value of None would mean "not verified"; every file below is verified.
CHECKSUMS = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    # Computed from Debian's dataset-fashion-mnist (0.0~git20200523.55506a9-1) files; their
    # uncompressed MD5s (f4a8712d..., 9018921c..., 8181f547..., 15d48437...) match those
    # published with the data set's loaders, and the label counts are 6000 / 1000 per class.
    "fashion-mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}

#: Mirror base URLs tried in order; each must serve ``<base>/<file>.gz``. Overridden by the
#: ``mirrors`` argument or by ``$NPAE_MIRRORS`` (comma separated; ``{name}`` in a URL is
#: replaced by the data set name). ``file://`` URLs and plain folder paths work too.
DEFAULT_MIRRORS = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    ],
}

#: System-wide folders searched last (a test may replace this tuple).
SYSTEM_DATA_DIRS = (Path("/usr/share/datasets"),)


def available_datasets() -> tuple[str, ...]:
    """Names accepted by :func:`load` (``glyphs`` is also accepted for ``glyph-digits``)."""
    return _FILE_DATASETS + _SYNTHETIC


def _canonical(name, allowed=None) -> str:
    allowed = available_datasets() if allowed is None else allowed
    key = name.lower().replace("_", "-") if isinstance(name, str) else name
    key = _ALIASES.get(key, key)
    if key not in allowed:
        raise ValueError(f"unknown dataset name {name!r}; expected one of {list(allowed)}")
    return key


def _file_in(folder: Path, stem: str) -> Path | None:
    """``folder/stem.gz`` or ``folder/stem``, whichever exists (``.gz`` first)."""
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _cache_dir(name: str) -> Path:
    return Path(os.path.expanduser("~")) / ".cache" / "npae" / name


def _candidate_dirs(name: str, data_dir=None) -> list[Path]:
    """Folders to search, in order (see the module docstring)."""
    if data_dir is not None:
        data_dir = Path(data_dir).expanduser()
        return [data_dir, data_dir / name]
    dirs = []
    if os.environ.get("NPAE_DATA"):
        dirs.append(Path(os.environ["NPAE_DATA"]).expanduser() / name)
    dirs.append(_cache_dir(name))
    dirs.extend(Path(d) / name for d in SYSTEM_DATA_DIRS)
    return dirs


def find_dataset(name, data_dir=None, split=None) -> Path | None:
    """Return the first folder in the search order holding the files, or None.

    ``split=None`` requires all four files, ``"train"``/``"test"`` only that split's two.
    Only presence is checked here; contents are verified when loaded.
    """
    name = _canonical(name, _FILE_DATASETS)
    stems = _ALL_FILES if split is None else _SPLIT_FILES[check_choice(split, "split", _SPLIT_FILES)]
    for folder in _candidate_dirs(name, data_dir):
        if all(_file_in(folder, stem) is not None for stem in stems):
            return folder
    return None


# --------------------------------------------------------------------------- download

#: what one mirror can do wrong: network errors (OSError, including URLError and timeouts),
#: broken HTTP (IncompleteRead when a body ends early, BadStatusLine for non-HTTP bytes),
#: and bad content (ValueError from the gzip, IDX and checksum checks, EOFError)
_MIRROR_FAILURES = (OSError, ValueError, EOFError, http.client.HTTPException)


def _check_dtype(dtype, name="dtype"):
    """``np.dtype(dtype)``, or a ValueError naming the argument (None is refused)."""
    try:
        if dtype is None:
            raise TypeError
        return np.dtype(dtype)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a NumPy dtype such as np.float32 or 'uint8', got "
                         f"{dtype!r}") from None


def _mirror_list(name: str, mirrors) -> list[str]:
    if mirrors is None and os.environ.get("NPAE_MIRRORS"):
        mirrors = [m.strip() for m in os.environ["NPAE_MIRRORS"].split(",") if m.strip()]
    if mirrors is None:
        mirrors = DEFAULT_MIRRORS[name]
    if isinstance(mirrors, str):
        mirrors = [mirrors]
    if not isinstance(mirrors, (list, tuple)):
        raise ValueError(f"mirrors must be a base URL or a list of them, got {mirrors!r}")
    out = []
    for base in mirrors:
        base = str(base).replace("{name}", name)
        if "://" not in base:                      # a plain folder path
            base = Path(base).expanduser().resolve().as_uri()
        out.append(base.rstrip("/") + "/")
    if not out:
        raise ValueError("mirrors must list at least one base URL, got an empty list")
    return out


def _fetch(url: str, dest, label: str, progress: bool) -> None:
    """Stream ``url`` into the open binary file ``dest`` with a one-line progress bar."""
    with urllib.request.urlopen(url, timeout=60) as response:
        total = int(response.headers.get("Content-Length") or 0)
        done = 0
        while True:
            chunk = response.read(1 << 16)
            if not chunk:
                break
            dest.write(chunk)
            done += len(chunk)
            if progress:
                _progress_line(label, done, total)
        if total and done != total:                 # the connection closed mid-body
            raise OSError(f"incomplete read: the connection closed after {done:,} of "
                          f"{total:,} bytes")
    if progress:
        _progress_line(label, done, total)
        sys.stderr.write("\n")
        sys.stderr.flush()


def _progress_line(label: str, done: int, total: int) -> None:
    if total > 0:
        frac = min(done / total, 1.0)
        bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
        text = f"\r{label} [{bar}] {done:,}/{total:,} bytes {100 * frac:3.0f}%"
    else:
        text = f"\r{label} {done:,} bytes"
    sys.stderr.write(text)
    sys.stderr.flush()


def _verified(path: Path, sha256) -> bool:
    try:
        data = _read_bytes(path)
        _decode_idx(data, path)
    except (OSError, ValueError):
        return False
    return sha256 is None or _sha256(data) == sha256


def download(name, data_dir=None, mirrors=None, progress=True, checksums=None) -> Path:
    """Fetch the four ``.gz`` files of ``name`` into ``data_dir`` and return that folder.

    The files go to ``data_dir/<name>/`` (``data_dir`` itself when its last component is
    already ``<name>``; default ``~/.cache/npae/<name>/``), so that the loaders' search of
    ``data_dir`` finds them and two data sets never share a folder. Mirrors
    (default: ``$NPAE_MIRRORS`` or :data:`DEFAULT_MIRRORS`) are tried in order for each
    file. Each file is streamed into a temporary file in ``data_dir``, decompressed and
    checked (IDX header and SHA-256 of the content against ``checksums``, default
    ``CHECKSUMS[name]``), and only then moved into place with ``os.replace``. A file that
    fails is deleted; if no mirror gives a good copy, ``OSError`` names the file and each
    mirror tried with what went wrong. Files already present and verified are kept.
    """
    name = _canonical(name, _FILE_DATASETS)
    checksums = CHECKSUMS[name] if checksums is None else checksums
    bases = _mirror_list(name, mirrors)
    if data_dir is None:
        target = _cache_dir(name)
    else:
        target = Path(data_dir).expanduser()
        target = target if target.name == name else target / name
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    for stem in _ALL_FILES:
        expected = checksums.get(stem)
        present = _file_in(target, stem)
        if present is not None and _verified(present, expected):
            continue
        failures = []
        for base in bases:
            url = base + stem + ".gz"
            fd, tmp = tempfile.mkstemp(dir=target, prefix=f".{stem}.", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as dest:
                    _fetch(url, dest, f"{name}/{stem}.gz", progress)
                raw = Path(tmp).read_bytes()
                data = _decompress(raw, url, gz_name=True)
                _decode_idx(data, url)
                if expected is not None and _sha256(data) != expected:
                    raise ValueError(f"corrupt download: SHA-256 of the content is "
                                     f"{_sha256(data)}, expected {expected}")
                final = target / f"{stem}.gz"
                os.replace(tmp, final)
                if present is not None and present != final:
                    present.unlink()        # the old, failed copy under the other name
                break
            except _MIRROR_FAILURES as exc:        # move on to the next mirror
                failures.append(f"{url}: {type(exc).__name__}: {exc}")
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        else:
            if created and not any(target.iterdir()):
                target.rmdir()                      # leave no empty folder behind
            raise OSError(f"could not download {stem}.gz for {name} into {target}; "
                          f"mirrors tried:\n  " + "\n  ".join(failures))
    return target


# --------------------------------------------------------------------------- loading

def _how_to_get(name: str) -> str:
    return (f"get it with `python -m npae download {name}` (or "
            f"npae.datasets.download({name!r})), or set NPAE_DATA to a folder holding "
            f"{name}/ with the four IDX files (.gz or raw)")


def _load_idx_dataset(name, split, data_dir, download_, mirrors, flatten, dtype, normalize):
    name = _canonical(name, _FILE_DATASETS)
    check_choice(split, "split", _SPLIT_FILES)
    for flag, value in (("download", download_), ("flatten", flatten), ("normalize", normalize)):
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{flag} must be True or False, got {value!r}")
    dtype = _check_dtype(dtype)
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
    Search order, checksums and ``download``: see the module docstring.
    """
    return _load_idx_dataset("mnist", split, data_dir, download, mirrors, flatten, dtype,
                             normalize)


def load_fashion_mnist(split="train", data_dir=None, download=False, mirrors=None,
                       flatten=True, dtype=np.float32, normalize=True):
    """Load Fashion-MNIST (10 clothing classes, MNIST's format); as :func:`load_mnist`."""
    return _load_idx_dataset("fashion-mnist", split, data_dir, download, mirrors, flatten,
                             dtype, normalize)


_GLYPH_TEST_SEED_OFFSET = 1_000_003   # test split of glyph-digits: seed + this


def load(name, split="train", *, data_dir=None, download=False, mirrors=None, flatten=True,
         dtype=np.float32, normalize=True, n=None, seed=0):
    """Load any data set of :func:`available_datasets` as ``(X, y)``.

    ``n``: keep the first ``n`` examples (IDX data sets) or draw ``n`` glyph digits
    (default 10,000 for train and 2,000 for test). ``seed`` only affects
    ``glyph-digits``, whose test split uses ``seed + 1_000_003`` so that train and test
    are different draws. ``data_dir``/``download``/``mirrors`` only affect the IDX sets.
    """
    name = _canonical(name)
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
    dtype = _check_dtype(dtype)
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


# --------------------------------------------------------------------------- glyph digits

#: Fonts shipped with matplotlib (file stems in ``matplotlib.get_data_path()/fonts/ttf``).
#: DejaVu Sans Mono is left out: its zero carries a dot, which no MNIST zero has.
DEFAULT_GLYPH_FONTS = (
    "DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSans-BoldOblique",
    "DejaVuSerif", "DejaVuSerif-Bold", "DejaVuSerif-Italic", "DejaVuSerif-BoldItalic",
    "STIXGeneral", "STIXGeneralBol", "STIXGeneralItalic", "STIXGeneralBolIta",
    "cmr10", "cmss10", "cmtt10", "cmb10", "cmti10",
)
_CANVAS = 64        # P: side of one template, in template pixels (tpx)
_GLYPH_BOX = 40     # longest side of a glyph on its template, tpx (2 tpx per output px)
_SIGMA = 2.0        # σ of the Gaussian blur that turns a glyph mask into its field G, tpx
_N_HULL = 32        # directions in which each glyph's extreme points are kept
_SIDE = 28          # output image side, px
_CENTRE = 14.0      # MNIST's centre of mass (row and column, 0-based): mean 14.0, sd 0.29
_RAMP = 1.0         # width of the anti-aliased edge, output px


def _font_dir() -> Path:
    import matplotlib
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def _resolve_fonts(fonts) -> tuple[str, ...]:
    """Font file paths from stems, file names or paths; defaults skip fonts not shipped."""
    folder = _font_dir()
    if fonts is None:
        found = tuple(str(folder / f"{s}.ttf") for s in DEFAULT_GLYPH_FONTS
                      if (folder / f"{s}.ttf").is_file())
        if not found:
            raise FileNotFoundError(f"none of the default fonts found in {folder}")
        return found
    if isinstance(fonts, (str, os.PathLike)):
        fonts = [fonts]
    paths = []
    for font in fonts:
        candidates = [Path(font), folder / str(font), folder / f"{font}.ttf"]
        hit = next((c for c in candidates if c.is_file()), None)
        if hit is None:
            shipped = sorted(p.stem for p in folder.glob("*.ttf"))
            raise ValueError(f"fonts: {font!r} is neither a font file nor one of "
                             f"matplotlib's fonts {shipped}")
        paths.append(str(hit))
    if not paths:
        raise ValueError("fonts must name at least one font, got an empty list")
    return tuple(paths)


def _normal_cdf_table():
    z = np.linspace(-6.0, 6.0, 1201)
    return z, 0.5 * (1.0 + np.array([math.erf(v / math.sqrt(2.0)) for v in z]))


@functools.lru_cache(maxsize=4)
def _glyph_templates(font_files: tuple[str, ...]):
    """Rasterize each (font, digit) once; return fields, centres of mass, hulls, strokes.

    Template ``t = 10 * font + digit`` is drawn anti-aliased by Agg with its longest side
    ``_GLYPH_BOX`` tpx, centred on a ``_CANVAS``-square canvas. From its coverage mask m:

    - field G = m * N(0, σ²) (separable Gaussian blur). Thresholding G at θ = Φ(−d/σ)
      moves a straight edge outwards by d: this is how a sample's stroke width is set;
    - centre of mass c = Σ m·(x, y) / Σ m;
    - extreme points in ``_N_HULL`` directions (an inscribed convex hull), for the extent
      of the glyph after any linear map;
    - stroke width w = 2 · area / perimeter, with perimeter = Σ |∇m| (coarea formula).
    """
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath
    from matplotlib.transforms import Affine2D

    P, n_fonts = _CANVAS, len(font_files)
    renderer = RendererAgg(10 * P, n_fonts * P, 72)
    gc = renderer.new_gc()
    gc.set_antialiased(True)
    gc.set_linewidth(0)
    for f, font_file in enumerate(font_files):
        prop = FontProperties(fname=font_file)
        for digit in range(10):
            path = TextPath((0, 0), str(digit), size=1, prop=prop)
            box = path.get_extents()
            scale = _GLYPH_BOX / max(box.width, box.height)
            to_cell = (Affine2D().translate(-(box.x0 + box.x1) / 2, -(box.y0 + box.y1) / 2)
                       .scale(scale).translate((digit + 0.5) * P, (n_fonts - f - 0.5) * P))
            renderer.draw_path(gc, path, to_cell, (1.0, 1.0, 1.0, 1.0))
    alpha = np.asarray(renderer.buffer_rgba())[..., 3].astype(np.float64) / 255
    masks = alpha.reshape(n_fonts, P, 10, P).transpose(0, 2, 1, 3).reshape(-1, P, P)

    radius = int(math.ceil(3 * _SIGMA))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / _SIGMA) ** 2)
    taps /= taps.sum()
    field = np.zeros_like(masks)
    rows = np.zeros_like(masks)
    for k, w in zip(range(-radius, radius + 1), taps):     # separable blur, rows then cols
        rows[:, max(k, 0):P + min(k, 0), :] += w * masks[:, max(-k, 0):P - max(k, 0), :]
    for k, w in zip(range(-radius, radius + 1), taps):
        field[:, :, max(k, 0):P + min(k, 0)] += w * rows[:, :, max(-k, 0):P - max(k, 0)]

    coords = np.arange(P, dtype=np.float64)
    mass = masks.sum(axis=(1, 2))
    com = np.stack([(masks.sum(axis=1) * coords).sum(axis=1) / mass,      # x
                    (masks.sum(axis=2) * coords).sum(axis=1) / mass], 1)  # y
    gy, gx = np.gradient(masks, axis=(1, 2))
    stroke = 2 * mass / np.hypot(gx, gy).sum(axis=(1, 2))
    angles = 2 * np.pi * np.arange(_N_HULL) / _N_HULL
    directions = np.stack([np.cos(angles), np.sin(angles)], 1)            # (K, 2)
    hull = np.empty((len(masks), _N_HULL, 2))
    for t, mask in enumerate(masks):                                       # per template
        ys, xs = np.nonzero(mask > 0.5)
        points = np.stack([xs, ys], 1).astype(np.float64)
        hull[t] = points[np.argmax(points @ directions.T, axis=0)]
    return field.astype(np.float32), com, hull, stroke


def load_glyph_digits(n=10000, seed=0, dtype=np.float32, fonts=None):
    """Synthetic MNIST-like digits rendered from matplotlib's fonts: ``(X, y)``.

    ``X`` is (n, 784) in [0, 1] (white digit on black), ``y`` (n,) int64 with every class
    ``n // 10`` or ``n // 10 + 1`` times, in a shuffled order. ``fonts``: font stems,
    file names or paths (default :data:`DEFAULT_GLYPH_FONTS`). Same ``seed``, same fonts
    and same matplotlib -> bit-identical output.

    Per sample i, with template t_i = (font, digit), drawn: rotation α, slant κ, aspect a,
    size L (px), stroke width s (px), shift δ (px). With R(α) the rotation,

        (G1) M_i = R(α) [[1, -κ], [0, 1]] diag(a, 1)                  linear part
        (G2) E_i = max extent of M_i (hull_t - c_t) over x and y     (tpx)
        (G3) d_i = clip((s k0 - w_t) / 2), k0 = E_i / L              edge offset (tpx)
        (G4) k_i = L / (E_i + 2 d_i)                                 px per tpx
        (G5) q = c_t + M_i⁻¹ (p - 14 - δ) / k_i                      output px p -> tpx q
        (G6) v = clip(½ + (G_t(q) - θ_i) / Δ_i, 0, 1),  θ_i = Φ(-d_i/σ),
             Δ_i = ramp · φ(d_i/σ) / (σ k_i)
        (G7) x_i = v / max(v)                                        every image peaks at 1

    G_t(q) is bilinear in the template field (one batched gather for all samples). (G4)
    makes the longest side L and (G5) puts the centre of mass at MNIST's (14, 14) + δ;
    (G6) thresholds the blurred glyph so its edge moves out by d_i and spans ``_RAMP`` px.
    """
    n = check_positive_int(n, "n")
    seed = check_positive_int(seed, "seed", minimum=0)
    dtype = _check_dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"dtype must be a floating type, got {dtype}")
    field, com, hull, stroke_t = _glyph_templates(_resolve_fonts(fonts))
    n_fonts = len(field) // 10

    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % 10).astype(np.int64)
    t = rng.integers(0, n_fonts, size=n) * 10 + y                  # template per sample
    alpha = np.deg2rad(rng.uniform(-15.0, 15.0, n))
    slant = rng.uniform(-0.25, 0.25, n)
    aspect = np.exp(rng.uniform(-0.25, 0.10, n))
    size = rng.uniform(18.0, 19.5, n)
    stroke = rng.uniform(1.8, 3.4, n)
    shift = rng.uniform(-0.5, 0.5, (n, 2))

    cos, sin = np.cos(alpha), np.sin(alpha)
    M = np.empty((n, 2, 2))                                          # (G1)
    M[:, 0, 0] = cos * aspect
    M[:, 0, 1] = -cos * slant - sin
    M[:, 1, 0] = sin * aspect
    M[:, 1, 1] = -sin * slant + cos
    Q = np.einsum("nab,nkb->nka", M, hull[t] - com[t][:, None, :])  # (n, K, 2)
    extent = (Q.max(axis=1) - Q.min(axis=1)).max(axis=1)             # (G2)
    offset = np.clip((stroke * extent / size - stroke_t[t]) / 2,      # (G3)
                     -0.25 * _SIGMA, 1.75 * _SIGMA)
    k = size / (extent + 2 * offset)                                 # (G4)
    z, cdf = _normal_cdf_table()
    theta = np.interp(-offset / _SIGMA, z, cdf)
    pdf = np.exp(-0.5 * (offset / _SIGMA) ** 2) / math.sqrt(2 * np.pi)
    delta = _RAMP * pdf / (_SIGMA * k)

    det = M[:, 0, 0] * M[:, 1, 1] - M[:, 0, 1] * M[:, 1, 0]
    Minv = np.stack([np.stack([M[:, 1, 1], -M[:, 0, 1]], -1),
                     np.stack([-M[:, 1, 0], M[:, 0, 0]], -1)], 1) / det[:, None, None]
    A = (Minv / k[:, None, None]).astype(np.float32)                 # (n, 2, 2)
    origin = (com[t] - np.einsum("nab,nb->na", Minv / k[:, None, None],
                                 _CENTRE + shift)).astype(np.float32)  # q at p = 0
    grid = np.arange(_SIDE, dtype=np.float32)
    px, py = grid[None, None, :], grid[None, :, None]                # p = (col, row)
    P = _CANVAS
    flat = field.reshape(-1)
    X = np.empty((n, _SIDE * _SIDE), dtype=dtype)
    for lo in range(0, n, 2048):                                     # chunks bound memory
        s = slice(lo, min(lo + 2048, n))
        a, o = A[s, :, :, None, None], origin[s, :, None, None]
        qx = o[:, 0] + a[:, 0, 0] * px + a[:, 0, 1] * py              # (G5) (b, 28, 28)
        qy = o[:, 1] + a[:, 1, 0] * px + a[:, 1, 1] * py
        np.clip(qx, 0, P - 1.001, out=qx)                            # field is 0 there
        np.clip(qy, 0, P - 1.001, out=qy)
        x0, y0 = np.floor(qx), np.floor(qy)
        fx, fy = qx - x0, qy - y0
        i00 = (t[s, None, None] * P + y0.astype(np.int64)) * P + x0.astype(np.int64)
        G = ((1 - fy) * ((1 - fx) * flat[i00] + fx * flat[i00 + 1])
             + fy * ((1 - fx) * flat[i00 + P] + fx * flat[i00 + P + 1]))
        v = np.clip(0.5 + (G - theta[s, None, None]) / delta[s, None, None], 0, 1)  # (G6)
        v /= np.maximum(v.max(axis=(1, 2), keepdims=True), 1e-6)    # (G7) peak 1, as MNIST
        X[s] = v.reshape(-1, _SIDE * _SIDE)
    return X, y


# --------------------------------------------------------------------------- 2-D manifolds

_MANIFOLDS = ("circle", "spiral", "moons", "swiss_roll_2d")


def make_manifold(name, n=1000, seed=0, noise=0.0):
    """Points on a 1-D curve in the plane: ``(X, t)``, X (n, 2) float64, t (n,) in [0, 1].

    ``t ~ U(0, 1)`` is the position along the curve (use it as colour: a good code keeps
    it ordered); ``noise`` is the standard deviation of isotropic Gaussian noise added to X.

    - ``circle``:        x = (cos 2πt, sin 2πt)
    - ``spiral``:        r = 0.1 + 0.9 t, φ = 4πt, x = r (cos φ, sin φ)   (two turns)
    - ``moons``:         t < ½ on the upper moon (cos πu, sin πu), t ≥ ½ on the lower one
                         (1 - cos πu, ½ - sin πu), u = 2t mod 1, then centred and scaled
    - ``swiss_roll_2d``: φ = 1.5π (1 + 2t), x = φ (cos φ, sin φ) / 15 (the Swiss roll's
                         cross-section)
    """
    check_choice(name, "name", _MANIFOLDS)
    n = check_positive_int(n, "n")
    seed = check_positive_int(seed, "seed", minimum=0)
    noise = check_scalar(noise, "noise", low=0.0)
    rng = np.random.default_rng(seed)
    t = rng.uniform(0.0, 1.0, n)
    if name == "circle":
        X = np.stack([np.cos(2 * np.pi * t), np.sin(2 * np.pi * t)], 1)
    elif name == "spiral":
        r, phi = 0.1 + 0.9 * t, 4 * np.pi * t
        X = r[:, None] * np.stack([np.cos(phi), np.sin(phi)], 1)
    elif name == "moons":
        u = (2 * t) % 1.0
        upper = np.stack([np.cos(np.pi * u), np.sin(np.pi * u)], 1)
        lower = np.stack([1 - np.cos(np.pi * u), 0.5 - np.sin(np.pi * u)], 1)
        X = (np.where((t < 0.5)[:, None], upper, lower) - [0.5, 0.25]) / 1.5
    else:
        phi = 1.5 * np.pi * (1 + 2 * t)
        X = phi[:, None] * np.stack([np.cos(phi), np.sin(phi)], 1) / 15
    X = X + noise * rng.standard_normal((n, 2))
    return X, t


# --------------------------------------------------------------------------- image patches

def load_patches(n=10000, size=8, whiten=True, epsilon=1.0, downsample=2, seed=0,
                 dtype=np.float32):
    """Natural-image patches from matplotlib's sample photograph: ``X`` (n, size²).

    The photograph is ``grace_hopper.jpg`` (600 × 512 RGB) from matplotlib's
    ``sample_data``, turned to grey, g = (0.299 R + 0.587 G + 0.114 B) / 255, and
    averaged over ``downsample`` × ``downsample`` pixel blocks (default 2: 300 × 256),
    which removes most of JPEG's 8 × 8 block artefacts and sensor noise that whitening
    would otherwise amplify. n patches of size × size are cut at uniformly random
    positions (``seed``), and each patch p (D = size² pixels) loses its own mean, the
    "DC" brightness, which carries no edge information:

        (P1)  x = p − (1/D) Σ_i p_i

    ``whiten=True`` decorrelates the pixels by ZCA whitening with the covariance
    C = (1/n) Xᵀ X = U diag(λ) Uᵀ of the patches:

        (P2)  x ← x U diag(1 / √(λ + ε λ̄)) Uᵀ,       λ̄ = (1/D) Σ_k λ_k

    Directions with λ ≫ ε λ̄ get unit variance; weaker ones (fine detail, noise) are
    damped, and ε > 0 keeps the division finite. Multiplying by U again keeps the result
    in pixel space, so filters learned on it look like images. The values are zero-mean
    and unbounded: use ``output="gaussian"``. A sparse autoencoder (or a k-sparse one)
    trained on these learns localized, oriented edge filters (Olshausen & Field 1996).

    ``whiten=False`` applies Ng's normalisation for a sigmoid decoder instead: x is
    truncated to ±3 standard deviations σ (over all patches) and mapped to [0.1, 0.9]:

        (P3)  x ← 0.1 + 0.8 (clip(x, −3σ, 3σ) / (3σ) + 1) / 2

    Same arguments -> bit-identical output. References: A. Hyvärinen, J. Hurri,
    P. Hoyer, *Natural Image Statistics*, Springer 2009, ch. 5 (whitening); A. Ng,
    "Sparse autoencoder", CS294A notes, 2011 (P3); B. Olshausen, D. Field, "Emergence
    of simple-cell receptive field properties by learning a sparse code for natural
    images", Nature 381, 1996.
    """
    import matplotlib.cbook
    import matplotlib.image

    n = check_positive_int(n, "n")
    downsample = check_positive_int(downsample, "downsample", maximum=8)
    seed = check_positive_int(seed, "seed", minimum=0)
    epsilon = check_scalar(epsilon, "epsilon", 0, None, low_open=True)
    if whiten not in (True, False):
        raise ValueError(f"whiten must be True or False, got {whiten!r}")
    dtype = _check_dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"dtype must be a floating type, got {dtype}")
    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    rgb = matplotlib.image.imread(path).astype(np.float64)          # (600, 512, 3), 0..255
    grey = rgb @ np.array([0.299, 0.587, 0.114]) / 255.0              # (600, 512) in [0, 1]
    r, c = grey.shape[0] // downsample, grey.shape[1] // downsample
    grey = grey[:r * downsample, :c * downsample].reshape(
        r, downsample, c, downsample).mean(axis=(1, 3))               # block means (r, c)
    size = check_positive_int(size, "size", minimum=2, maximum=min(r, c))
    rng = np.random.default_rng(seed)
    top = rng.integers(0, r - size + 1, size=n)
    left = rng.integers(0, c - size + 1, size=n)
    offsets = np.arange(size)
    rows = top[:, None, None] + offsets[None, :, None]                # (n, size, 1)
    cols = left[:, None, None] + offsets[None, None, :]               # (n, 1, size)
    X = grey[rows, cols].reshape(n, size * size)                      # (n, D): one gather
    X = X - X.mean(axis=1, keepdims=True)                             # (P1)
    if whiten:
        lam, U = np.linalg.eigh(X.T @ X / n)                          # C = U diag(λ) Uᵀ
        lam = np.maximum(lam, 0.0)                                    # rounding: −1e-18 -> 0
        X = X @ (U / np.sqrt(lam + epsilon * lam.mean())) @ U.T       # (P2)
    else:
        three_sigma = 3.0 * X.std()
        X = 0.1 + 0.8 * (np.clip(X, -three_sigma, three_sigma) / three_sigma + 1.0) / 2.0  # (P3)
    return X.astype(dtype)


