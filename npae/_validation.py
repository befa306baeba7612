"""Argument checks shared by every module.

Each check raises a ``ValueError`` (or ``TypeError``) whose message names the
argument and says what was expected, so that a student who passes the wrong thing
learns what to pass instead.
"""
from __future__ import annotations

import numbers

import numpy as np


def check_array(X, name="X", ndim=2, dtype=None, n_features=None, finite=True):
    """Return ``X`` as a NumPy array after checking dimensions, width and finiteness.

    ``dtype`` (if given) is the dtype to convert to; otherwise floating input is kept
    and integer input becomes float64.
    """
    if X is None:
        raise ValueError(f"{name} must be an array, got None")
    try:
        arr = np.asarray(X)
    except Exception as exc:  # e.g. ragged lists
        raise ValueError(f"{name} could not be converted to an array: {exc}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers, got complex dtype {arr.dtype} "
                         f"(npae does not drop imaginary parts; pass {name}.real or "
                         f"np.abs({name}))")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if n_features is not None and arr.shape[-1] != n_features:
        raise ValueError(
            f"{name} must have {n_features} columns (features), got shape {arr.shape}")
    given = arr
    with np.errstate(over="ignore"):        # an overflowing cast is reported below
        if dtype is not None:
            arr = arr.astype(dtype, copy=False)
        elif not np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype(np.float64)
    if finite and not np.all(np.isfinite(arr)):
        n_bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        if arr is not given and np.all(np.isfinite(given)):
            peak = float(np.max(np.abs(given)))
            raise ValueError(f"{name} has values up to {peak:.3g}, beyond the range of "
                             f"{arr.dtype} ({n_bad} would become inf); rescale {name} or "
                             f"use dtype='float64'")
        raise ValueError(f"{name} contains {n_bad} NaN or infinite value(s)")
    return arr


def check_unit_interval(X, name="X"):
    """Raise unless every entry of ``X`` is in [0, 1] (targets of a Bernoulli loss)."""
    lo, hi = float(np.min(X)), float(np.max(X))
    if lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"{name} must lie in [0, 1] for a Bernoulli (cross-entropy) loss, got values "
            f"in [{lo:g}, {hi:g}]; rescale it (e.g. divide pixels by 255) or use "
            f"output='gaussian'")
    return X


def check_positive_int(value, name, minimum=1, maximum=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        rng = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be an integer {rng}, got {value}")
    return int(value)


def check_scalar(value, name, low=None, high=None, low_open=False, high_open=False):
    """Check a real number against an interval; e.g. ``check_scalar(rho, 'rho', 0, 1, True, True)``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    ok = True
    if low is not None:
        ok &= value > low if low_open else value >= low
    if high is not None:
        ok &= value < high if high_open else value <= high
    if not ok:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ValueError(f"{name} must be in {left}{lo}, {hi}{right}, got {value!r}")
    return float(value)


def check_choice(value, name, choices):
    try:
        known = value in choices
    except TypeError:                       # e.g. a list, which cannot be a dict key
        known = False
    if not known:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def check_float_dtype(value, name="dtype"):
    """Return ``np.dtype(value)`` if it is float32 or float64 (training vs checks)."""
    if value is None:                       # np.dtype(None) would be float64
        raise ValueError(f"{name} must be float32 or float64, got None")
    try:
        dtype = np.dtype(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be float32 or float64, got {value!r}") from None
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"{name} must be float32 or float64, got {value!r}")
    return dtype


def check_dtype(value, name="dtype"):
    """``np.dtype(value)`` of any kind (e.g. uint8 pixels), or a ValueError naming the
    argument; None is refused (np.dtype(None) would be float64)."""
    try:
        if value is None:
            raise TypeError
        return np.dtype(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a NumPy dtype such as np.float32 or 'uint8', got "
                         f"{value!r}") from None


def check_layer_sizes(sizes, name, allow_empty=False):
    """A tuple of positive layer widths (an int is one layer); returns a tuple of ints."""
    if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
        sizes = (sizes,)
    if not isinstance(sizes, (tuple, list)) or (len(sizes) == 0 and not allow_empty):
        what = "a tuple" if allow_empty else "a non-empty tuple"
        raise ValueError(f"{name} must be {what} of positive integers, got {sizes!r}")
    return tuple(check_positive_int(n, f"{name}[{i}]") for i, n in enumerate(sizes))
