"""MovieLens ratings from GroupLens's own files: found in the usual places or downloaded.

GroupLens's terms allow research and teaching use and forbid redistribution: npae ships
no MovieLens file. It reads the user's copy, in the search order of npae.datasets.files
(an explicit ``data_dir`` (that folder or its ``<name>/``), ``$NPAE_DATA/<name>/``,
``~/.cache/npae/<name>/``, ``/usr/share/datasets/<name>/``), or downloads GroupLens's zip
(``download=True``) into ``~/.cache/npae/<name>/``, as the MNIST loader does.

=========  ===================  ====================================  ==================
name       ratings file         format                                titles (optional)
=========  ===================  ====================================  ==================
ml-100k    ``u.data``           user, item, rating, time; tabs         ``u.item`` ('|')
ml-1m      ``ratings.dat``      user::item::rating::time               ``movies.dat``
ml-20m     ``ratings.csv``      userId,movieId,rating,timestamp;      ``movies.csv``
                                one header line, half stars
=========  ===================  ====================================  ==================

:data:`CHECKSUMS` holds the SHA-256 of ``u.data`` (the copy described in
shared/data/ml-100k/README.md: 100,000 ratings); a download whose ratings file does not
match is refused. The other two are checked by parsing only (no reference copy was at
hand to hash): say so when you rely on them.

Reference: F. M. Harper, J. A. Konstan, "The MovieLens datasets: history and context",
ACM TiiS 5(4), 2015.
"""
from __future__ import annotations

import csv
import io
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .files import _cache_dir, _candidate_dirs, _fetch, _MIRROR_FAILURES, _sha256

__all__ = ["MOVIELENS", "MOVIELENS_URL", "MovieLensRatings", "find_movielens",
           "load_movielens", "load_movielens_titles"]

#: name -> (ratings file, field separator, header lines, titles file, titles separator)
MOVIELENS = {
    "ml-100k": ("u.data", "\t", 0, "u.item", "|"),
    "ml-1m": ("ratings.dat", "::", 0, "movies.dat", "::"),
    "ml-20m": ("ratings.csv", ",", 1, "movies.csv", ","),
}
#: GroupLens's zips; ``{name}`` is replaced. ``url=`` (or $NPAE_MOVIELENS_URL) overrides.
MOVIELENS_URL = "https://files.grouplens.org/datasets/movielens/{name}.zip"
#: SHA-256 of the ratings file's bytes (None: checked by parsing only)
CHECKSUMS = {"ml-100k": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
             "ml-1m": None, "ml-20m": None}


@dataclass
class MovieLensRatings:
    """One rating per entry, in file order: GroupLens's user and item ids (int64), the
    rating (float32; half stars in ml-20m) and the Unix time (int64)."""

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray

    def __len__(self):
        return self.users.shape[0]


def _name(name):
    if name not in MOVIELENS:
        raise ValueError(f"name must be one of {list(MOVIELENS)}, got {name!r}")
    return name


def find_movielens(name, data_dir=None):
    """The first folder in the search order holding ``name``'s ratings file, or None."""
    ratings_file = MOVIELENS[_name(name)][0]
    for folder in _candidate_dirs(name, data_dir):
        if (folder / ratings_file).is_file():
            return folder
    return None


def load_movielens(name="ml-100k", data_dir=None, download=False, url=None, progress=True):
    """The ratings of MovieLens ``name`` ("ml-100k", "ml-1m", "ml-20m") as a
    :class:`MovieLensRatings`; ``download=True`` fetches GroupLens's zip when no copy is
    found. npae.recsys.clicks_from_ratings turns them into the paper's clicks."""
    name = _name(name)
    folder = find_movielens(name, data_dir)
    if folder is None and download:
        folder = download_movielens(name, data_dir, url, progress)
    if folder is None:
        raise FileNotFoundError(
            f"MovieLens {name} not found (looked for {MOVIELENS[name][0]} in "
            f"{', '.join(str(d) for d in _candidate_dirs(name, data_dir))}). GroupLens's "
            f"terms forbid redistribution, so npae ships none: download it yourself from "
            f"https://grouplens.org/datasets/movielens/ or call load_movielens({name!r}, "
            f"download=True)")
    path = folder / MOVIELENS[name][0]
    return _parse_ratings(path.read_bytes(), name, str(path))


def _parse_ratings(raw, name, where):
    _, sep, header, _, _ = MOVIELENS[name]
    text = raw.decode("latin-1")
    if sep == "::":
        text = text.replace("::", "\t")
        sep = "\t"
    try:
        table = np.loadtxt(io.StringIO(text), delimiter=sep, skiprows=header, dtype=np.float64,
                           ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{where} is not a MovieLens {name} ratings file: {exc}") from None
    if table.shape[0] == 0 or table.shape[1] != 4:
        raise ValueError(f"{where}: expected 4 fields a line (user, item, rating, time), "
                         f"got a table of shape {table.shape}")
    return MovieLensRatings(table[:, 0].astype(np.int64), table[:, 1].astype(np.int64),
                            table[:, 2].astype(np.float32), table[:, 3].astype(np.int64))


def load_movielens_titles(name="ml-100k", data_dir=None):
    """``{item id: title}`` from ``u.item`` / ``movies.dat`` / ``movies.csv`` beside the
    ratings, or None when that file is absent."""
    name = _name(name)
    folder = find_movielens(name, data_dir)
    _, _, _, titles_file, sep = MOVIELENS[name]
    if folder is None or not (folder / titles_file).is_file():
        return None
    text = (folder / titles_file).read_text(encoding="utf-8" if name == "ml-20m" else "latin-1")
    if name == "ml-20m":
        rows = list(csv.reader(io.StringIO(text)))[1:]             # quoted titles with commas
    else:
        rows = [line.split(sep) for line in text.splitlines() if line]
    return {int(r[0]): r[1] for r in rows}


def download_movielens(name, data_dir=None, url=None, progress=True):
    """Fetch GroupLens's ``<name>.zip`` and extract its ratings (and titles) file into
    ``data_dir/<name>/`` (default ``~/.cache/npae/<name>/``); returns that folder.

    The zip is streamed to a temporary file; the ratings file is parsed (and hashed for
    ml-100k) before anything is moved into place with ``os.replace``; a bad download
    leaves nothing behind and raises OSError naming the URL and what went wrong.
    """
    name = _name(name)
    url = (url or os.environ.get("NPAE_MOVIELENS_URL") or MOVIELENS_URL).replace("{name}", name)
    if "://" not in url:                                             # a plain file path
        url = Path(url).expanduser().resolve().as_uri()
    if data_dir is None:
        target = _cache_dir(name)
    else:
        target = Path(data_dir).expanduser()
        target = target if target.name == name else target / name
    target.mkdir(parents=True, exist_ok=True)
    ratings_file, _, _, titles_file, _ = MOVIELENS[name]
    fd, tmp = tempfile.mkstemp(dir=target, prefix=f".{name}.", suffix=".zip.part")
    try:
        with os.fdopen(fd, "wb") as dest:
            _fetch(url, dest, f"{name}.zip", progress)
        with zipfile.ZipFile(tmp) as archive:
            members = {Path(m).name: m for m in archive.namelist()}
            if ratings_file not in members:
                raise ValueError(f"the zip holds no {ratings_file}")
            raw = archive.read(members[ratings_file])
            expected = CHECKSUMS[name]
            if expected is not None and _sha256(raw) != expected:
                raise ValueError(f"corrupt download: SHA-256 of {ratings_file} is "
                                 f"{_sha256(raw)}, expected {expected}")
            _parse_ratings(raw, name, f"{url}!{ratings_file}")
            files = {ratings_file: raw}
            if titles_file in members:
                files[titles_file] = archive.read(members[titles_file])
        for fname, content in files.items():
            part = target / f".{fname}.part"
            part.write_bytes(content)
            os.replace(part, target / fname)
    except (_MIRROR_FAILURES + (zipfile.BadZipFile,)) as exc:
        raise OSError(f"could not download MovieLens {name} from {url} into {target}: "
                      f"{type(exc).__name__}: {exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
