"""Finding and downloading the IDX data sets: search order, mirrors, checksums, progress.

Each data set (``mnist``, ``fashion-mnist``) is four IDX files (npae.datasets.idx),
gzip-compressed (``NAME.gz``) or raw (``NAME``)::

    train-images-idx3-ubyte  train-labels-idx1-ubyte  t10k-images-idx3-ubyte  t10k-labels-idx1-ubyte

Search order for the folder that holds them (``<name>`` is ``mnist`` or ``fashion-mnist``):

1. an explicit ``data_dir``: if given, ONLY there; it may be the data set's folder itself
   or its parent holding ``<name>/``;
2. ``$NPAE_DATA/<name>/``;
3. ``~/.cache/npae/<name>/`` (where :func:`download` puts files by default);
4. ``/usr/share/datasets/<name>/`` (:data:`SYSTEM_DATA_DIRS`; Debian's
   ``dataset-fashion-mnist`` installs the four ``.gz`` files in
   ``/usr/share/datasets/fashion-mnist/``).

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

References: Y. LeCun, C. Cortes, C. Burges, "The MNIST database of handwritten digits";
H. Xiao, K. Rasul, R. Vollgraf (2017), "Fashion-MNIST", arXiv:1708.07747.
"""
from __future__ import annotations

import http.client
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

from .._validation import check_choice
from .idx import _decode_idx, _decompress, _read_bytes, _sha256

__all__ = ["CHECKSUMS", "DEFAULT_MIRRORS", "SYSTEM_DATA_DIRS", "download", "find_dataset"]

#: the data sets made of IDX files that this module finds and downloads
_FILE_DATASETS = ("mnist", "fashion-mnist")
#: other spellings accepted for a data set's name (besides case and "_" for "-")
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


def _canonical(name, allowed) -> str:
    """The name of one of ``allowed`` that ``name`` spells (any case, "_" for "-", an alias).

    A name that is not a string is a TypeError, an unknown one a ValueError; both list the
    accepted names.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a data set name (a str), one of {list(allowed)}; "
                        f"got {type(name).__name__} {name!r}")
    key = name.lower().replace("_", "-")
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
