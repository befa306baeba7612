"""The IDX file format of MNIST and Fashion-MNIST: parse it, gzip-compressed or raw.

An IDX file is a 4-byte magic number ``00 00 <type> <ndim>``, then ``ndim`` big-endian
uint32 sizes, then the items in C order, big-endian for multi-byte types. The files are
usually distributed gzip-compressed (``NAME.gz``); a file is gunzipped when its bytes
start with the gzip magic. Every error names the file and what was wrong with it.

Reference: Y. LeCun, C. Cortes, C. Burges, "The MNIST database of handwritten digits"
(the format is described at the end of its web page).
"""
from __future__ import annotations

import gzip
import hashlib
import math
import zlib
from pathlib import Path

import numpy as np

__all__ = ["read_idx"]

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
