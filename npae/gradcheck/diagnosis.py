"""What a failing check says about the bug: the patterns of the usual mistakes.

Given the analytic gradient a and the numeric one n of one array (both finite-difference
checked, same shape), the first pattern that fits is reported, in this order:

1. NaN or inf entries, and where;
2. one side zero everywhere (a term left out of the backward, or one the forward lacks);
3. a constant factor: c = ⟨a, n⟩ / ⟨n, n⟩ with a small residual ‖a − c n‖ / ‖a‖, named
   when it matches ±1, ±2, ±½, B or 1/B (the batch size of the check), or a
   hyperparameter the check knows (and its reciprocal);
4. the transpose (a square array whose aᵀ matches n);
5. zero where the other is not, at some entries only;
6. the error confined to some rows or columns (or entries of a vector), or the same
   error vector on every row (something that does not depend on the example);
7. otherwise no simple pattern: the correlation of a and n and their norms.
"""
from __future__ import annotations

import numpy as np

from .numeric import relative_error

# how closely a pattern must fit before it is named
FACTOR_RESIDUAL = 1e-3        # ‖a − c n‖ / ‖a‖ for "a constant factor"
FACTOR_MATCH = 1e-3           # |c / candidate − 1| for naming the factor
TRANSPOSE_MATCH = 1e-6        # rel(aᵀ, n)


def _where(mask, limit=3):
    idx = [tuple(int(i) for i in t) for t in np.argwhere(mask)[:limit]]
    text = ", ".join(str(i[0]) if len(i) == 1 else str(i) for i in idx)
    return text + (", …" if mask.sum() > limit else "")


def _candidates(batch_size, factors):
    """(value, explanation) pairs a constant factor c = a/n is compared with."""
    out = [(-1.0, "the sign is flipped"),
           (2.0, "a factor 2 too many: a ½ missing, or a term counted twice?"),
           (0.5, "half the true value: a factor 2 missing (d/dx x² = 2x), or a term of "
                 "two counted once?"),
           (-2.0, "sign flipped and a factor 2 too many"),
           (-0.5, "sign flipped and a factor 2 missing")]
    if batch_size is not None and batch_size > 2:
        B = batch_size
        out += [(float(B), f"B = {B}: a batch mean's 1/B missing?"),
                (1.0 / B, f"1/B = 1/{B}: divided by the batch size B once too often?"),
                (-float(B), f"B = {B} with the sign flipped")]
    for name, value in (factors or {}).items():
        value = float(value)
        if value in (0.0, 1.0, -1.0) or not np.isfinite(value):
            continue
        out += [(value, f"{name} = {value:g}: {name} applied twice, or applied where it "
                        f"does not belong?"),
                (1.0 / value, f"1/{name} = 1/{value:g}: the factor {name} is missing?")]
    return out


def constant_factor(a, n):
    """``(c, residual)`` of the least-squares fit a ≈ c n; ``None`` when n is zero."""
    nn = float(np.sum(n * n))
    if nn == 0.0:
        return None
    c = float(np.sum(a * n)) / nn
    norm_a = float(np.linalg.norm(a))
    residual = float(np.linalg.norm(a - c * n)) / norm_a if norm_a > 0 else np.inf
    return c, residual


def _factor_message(c, batch_size, factors):
    for value, why in _candidates(batch_size, factors):
        if abs(c / value - 1.0) < FACTOR_MATCH:
            return f"analytic = {c:.3g} × numeric everywhere ({why})"
    near_one = abs(c - 1.0)                       # show enough digits to see c ≠ 1
    digits = 4 if near_one > 1e-3 else min(15, 2 + int(np.ceil(-np.log10(near_one))))
    return f"analytic = {c:.{digits}g} × numeric everywhere (a constant factor is wrong)"


def _localized(err, name, threshold):
    """Where the significant entries of err = a − n sit: rows, columns, entries."""
    wrong = np.abs(err) > threshold
    if wrong.all() or not wrong.any():
        if err.ndim == 2 and err.shape[0] > 1:
            spread = np.linalg.norm(err - err.mean(axis=0))
            if spread <= FACTOR_RESIDUAL * np.linalg.norm(err):
                return ("every row disagrees by the same vector (a contribution that does "
                        "not depend on the row: a missing term summed over the batch, or "
                        "one added to every row?)")
        return None
    if err.ndim == 1:
        return f"only entr{'y' if wrong.sum() == 1 else 'ies'} {_where(wrong, 5)} of {name} " \
               f"{'is' if wrong.sum() == 1 else 'are'} wrong"
    rows = wrong.reshape(wrong.shape[0], -1).any(axis=1)
    if err.ndim == 2:
        cols = wrong.any(axis=0)
        if cols.sum() < cols.size and rows.all():
            which = ", ".join(str(j) for j in np.flatnonzero(cols)[:5])
            many = "s" if cols.sum() > 1 else ""
            return f"only column{many} {which} of {name} {'are' if many else 'is'} wrong"
    if rows.sum() < rows.size:
        which = ", ".join(str(i) for i in np.flatnonzero(rows)[:5])
        many = "s" if rows.sum() > 1 else ""
        return f"only row{many} {which} of {name} {'are' if many else 'is'} wrong"
    return (f"{int(wrong.sum())} of {wrong.size} entries of {name} are wrong, "
            f"first at {_where(wrong)}")


def diagnose(analytic, numeric, name="the array", batch_size=None, factors=None, atol=0.0,
             directional=False):
    """One sentence on what the failing pair (analytic, numeric) has in common with a bug.

    ``batch_size`` and ``factors`` ({name: value}) are the constants a wrong factor is
    compared with; ``atol`` is the check's own error, below which entries count as equal.
    With ``directional`` the pair are K directional derivatives ⟨∇L, v_k⟩, not entries:
    only patterns 1-3 apply.
    """
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    bad_a, bad_n = ~np.isfinite(a), ~np.isfinite(n)
    if bad_a.any():
        return (f"analytic has NaN/inf at {int(bad_a.sum())} of {a.size} entries, first at "
                f"{_where(bad_a)}" + ("" if bad_n.any() else " (the forward is finite there)"))
    if bad_n.any():
        return (f"the numeric gradient has NaN/inf at {int(bad_n.sum())} entries, first at "
                f"{_where(bad_n)}: the forward pass is not finite within ±2ε of this point "
                "(a domain edge or an overflow?)")
    scale = max(float(np.max(np.abs(n), initial=0.0)), float(np.max(np.abs(a), initial=0.0)))
    tiny = max(atol, 1e-9 * scale)
    zero_a, zero_n = np.abs(a) <= tiny, np.abs(n) <= tiny
    if zero_a.all():
        return "analytic is zero everywhere but numeric is not (a term left out of the backward?)"
    if zero_n.all():
        return ("numeric is zero everywhere but analytic is not (the backward adds a term "
                "the forward does not have, or the forward ignores this input?)")
    fit = constant_factor(a, n)
    if fit is not None and fit[1] < FACTOR_RESIDUAL:
        return _factor_message(fit[0], batch_size, factors)
    if directional:
        return (f"the directional derivatives ⟨∇L, v⟩ disagree along {a.size} random "
                "directions with no constant factor; check this array entry by entry on a "
                "smaller model to see where")
    if a.ndim == 2 and a.shape[0] == a.shape[1] > 1 and relative_error(a.T, n) < TRANSPOSE_MATCH:
        return "analytic is the transpose of numeric (a product in the wrong order?)"
    err = a - n
    where = _localized(err, name, max(1e-3 * float(np.max(np.abs(err))), tiny))
    only_a, only_n = zero_a & ~zero_n, zero_n & ~zero_a
    if only_a.any() and not only_n.any():
        place = f"; {where}" if where else f", first at {_where(only_a)}"
        return (f"analytic is zero at {int(only_a.sum())} entries where numeric is not"
                f"{place} (a contribution left out there?)")
    if where:
        return where
    corr = float(np.sum(a * n) / (np.linalg.norm(a) * np.linalg.norm(n)))
    return (f"no simple pattern: analytic and numeric correlate at {corr:.2f}, their norms "
            f"are {np.linalg.norm(a):.3g} and {np.linalg.norm(n):.3g}")


def diagnose_shape(name, got, expected):
    """The message for a gradient of the wrong shape (a transposed one named as such)."""
    hint = ""
    if len(got) == 2 and tuple(got) == tuple(expected)[::-1]:
        hint = " (the transposed shape: a product in the wrong order?)"
    return f"the gradient of {name} has shape {tuple(got)}, expected {tuple(expected)}{hint}"
