"""Compressed sparse row (CSR) input, read by duck typing and densified a minibatch at a time.

A click matrix is mostly zeros: MovieLens-20M's 136,677 users × 20,108 items hold 10 M
clicks, 0.36% of the 2.7 G entries, and would take 11 GB as a dense float32 array. npae
does not depend on scipy; it reads any object with ``tocsr()`` whose result has the
three CSR arrays (a ``scipy.sparse`` matrix or array, or anything shaped like one):

    indptr  (N + 1,)   row n's entries are at positions indptr[n] : indptr[n+1]
    indices (nnz,)     their column indices
    data    (nnz,)     their values

and keeps them in a :class:`CSRRows` record. Training and scoring ask it for the dense
rows of one minibatch, (B, D), which is all a step ever holds in memory; every model
then runs exactly as on a dense array, so a CSR matrix and its dense copy train to the
same bits. Duplicate entries (a non-canonical CSR) are summed, as ``toarray`` does.

A first layer that skips the zeros. For a batch X (B, D) with nnz nonzero entries
(x_nj at rows n, columns j), the first layer's two products touch only them:

    (S1)  (X W)_n = Σ_{j: x_nj ≠ 0} x_nj W_j              nnz · n_out multiply-adds, not B·D·n_out
    (S2)  (Xᵀ dA)_j = Σ_{n: x_nj ≠ 0} x_nj dA_n           the rows of dW of columns seen in the batch

On MovieLens-20M's shape (0.36% nonzero) each replaces a 500 × 20,108 × 600 dense product
(6 GFLOP) by about 37,000 · 600 multiply-adds. At a few percent the gathers cost more
than OpenBLAS's dense product: on MovieLens-100K (about 2% nonzero after dropout) an
epoch of npae.MultVAE took 0.72 s with (S1)-(S2) and 0.60 s dense (load 2.3, 2 threads),
hence the 1% threshold. Used by the VAE when fewer than
:data:`SPARSE_DENSITY` of a batch's encoder inputs are nonzero (decided on the dense
batch, so a CSR matrix and its dense copy take the same path); the results equal the
dense products up to the order of the float sums.
"""
from __future__ import annotations

import numpy as np

__all__ = ["CSRRows", "SPARSE_DENSITY", "as_rows", "is_sparse", "nonzeros", "sparse_matmul",
           "sparse_t_matmul", "take_rows"]

#: the first layer skips zeros (S1)-(S2) when fewer than this fraction of inputs are nonzero
SPARSE_DENSITY = 0.01


def is_sparse(X):
    """True for a CSR-convertible object (duck typing: it has ``tocsr``) or a CSRRows."""
    return isinstance(X, CSRRows) or (hasattr(X, "tocsr") and not isinstance(X, np.ndarray))


class CSRRows:
    """The three CSR arrays of an (N, D) matrix and its shape, in one dtype."""

    def __init__(self, indptr, indices, data, shape):
        self.indptr, self.indices, self.data = indptr, indices, data
        self.shape = (int(shape[0]), int(shape[1]))

    def __len__(self):
        return self.shape[0]

    @property
    def nnz(self):
        return int(self.indptr[-1])

    def rows(self, idx):
        """The dense rows ``idx`` (an index array), (len(idx), D), in the data's dtype."""
        idx = np.asarray(idx)
        starts, ends = self.indptr[idx], self.indptr[idx + 1]
        lengths = ends - starts                                            # entries per row
        out = np.zeros((idx.shape[0], self.shape[1]), dtype=self.data.dtype)
        total = int(lengths.sum())
        if total == 0:
            return out
        row = np.repeat(np.arange(idx.shape[0]), lengths)                  # (total,)
        first = np.cumsum(lengths) - lengths                               # each row's offset
        pos = np.arange(total) - np.repeat(first - starts, lengths)        # into indices/data
        np.add.at(out, (row, self.indices[pos]), self.data[pos])           # sums duplicates
        return out

    def toarray(self):
        """The whole matrix dense (N, D); for small matrices and tests."""
        return self.rows(np.arange(self.shape[0]))


def as_rows(X, name="X", dtype=None, n_features=None):
    """A checked :class:`CSRRows` of a CSR-convertible ``X`` (data cast to ``dtype``)."""
    if isinstance(X, CSRRows):
        csr = X
    else:
        try:
            csr = X.tocsr()
            indptr, indices, data = (np.asarray(csr.indptr), np.asarray(csr.indices),
                                     np.asarray(csr.data))
            shape = tuple(csr.shape)
        except AttributeError as exc:
            raise ValueError(f"{name} has tocsr() but its result lacks the CSR arrays "
                             f"indptr, indices, data ({exc})") from None
        csr = CSRRows(indptr, indices, data, shape)
    N, D = csr.shape
    if csr.indptr.shape != (N + 1,) or csr.indices.shape != csr.data.shape or \
            csr.indices.shape[0] < csr.nnz:
        raise ValueError(f"{name} is not a valid CSR matrix of shape {csr.shape}: indptr "
                         f"{csr.indptr.shape}, indices {csr.indices.shape}, data {csr.data.shape}")
    if N == 0 or D == 0:
        raise ValueError(f"{name} is empty (shape {csr.shape})")
    if n_features is not None and D != n_features:
        raise ValueError(f"{name} must have {n_features} columns (features), got shape {csr.shape}")
    data = csr.data[:csr.nnz]
    if not np.issubdtype(data.dtype, np.number) or np.issubdtype(data.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers, got dtype {data.dtype}")
    if dtype is not None:
        data = data.astype(dtype, copy=False)
    elif not np.issubdtype(data.dtype, np.floating):
        data = data.astype(np.float64)
    if not np.isfinite(data).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return CSRRows(csr.indptr, csr.indices[:csr.nnz], data, (N, D))


def take_rows(X, idx):
    """Rows ``idx`` of ``X`` as a dense array: ``X[idx]``, or densified from a CSRRows."""
    return X.rows(idx) if isinstance(X, CSRRows) else X[idx]


def nonzeros(X):
    """``(rows, cols, values)`` of the nonzero entries of a dense batch, row by row."""
    rows, cols = np.nonzero(X)
    return rows, cols, X[rows, cols]


def sparse_matmul(nz, W, n_rows):
    """(S1) X W from X's nonzeros ``nz`` (rows ascending, as ``nonzeros`` gives), (B, n_out)."""
    rows, cols, vals = nz
    out = np.zeros((n_rows, W.shape[1]), dtype=W.dtype)
    if rows.size:
        present, starts = np.unique(rows, return_index=True)
        out[present] = np.add.reduceat(W[cols] * vals[:, None], starts, axis=0)   # (S1)
    return out


def sparse_t_matmul(nz, dA, n_cols):
    """(S2) Xᵀ dA from X's nonzeros ``nz``, (D, n_out); zero rows for unseen columns."""
    rows, cols, vals = nz
    out = np.zeros((n_cols, dA.shape[1]), dtype=dA.dtype)
    if rows.size:
        order = np.argsort(cols, kind="stable")
        seen, starts = np.unique(cols[order], return_index=True)
        terms = dA[rows[order]] * vals[order][:, None]                              # (nnz, n_out)
        out[seen] = np.add.reduceat(terms, starts, axis=0)                          # (S2)
    return out
