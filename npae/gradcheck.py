"""Finite-difference gradient checks.

A backward pass is proven by comparing it, array by array, with central differences
of the forward pass, in float64:

    (N1)  n_i = [L(θ + ε e_i) − L(θ − ε e_i)] / (2ε)                    error O(ε²)
    (N1') n_i = [8(L(θ + ε e_i) − L(θ − ε e_i)) − (L(θ + 2ε e_i) − L(θ − 2ε e_i))] / (12ε)
                                                                       error O(ε⁴)
    (N2)  rel(a, n) = ‖a − n‖₂ / max(‖a‖₂ + ‖n‖₂, 1e-12)       over the whole array

Both are central differences. The error of n has two parts: truncation, about
ε² L'''/6 for (N1) and ε⁴ L⁽⁵⁾/30 for (N1'), and rounding, about 1e-16 |L| / ε.
(N1) balances them near ε = 1e-5 with an absolute error of about 1e-10: fine for
large gradients, but the bias of a deep sigmoid layer can have gradients of 1e-4,
and then 1e-10 is a relative error of 1e-6. (N1') with ε = 1e-3 pushes both parts to
about 1e-13, so npae uses it by default (``order=4``); ``order=2`` is the textbook
(N1). A relative error above 1e-7 then means the backward disagrees with the forward.

Remember what a check cannot prove: it shows that the backward pass matches the
*forward* pass, not that the forward pass matches the equations. npae's tests check
the forward against the math separately.

Anything that returns ``(loss, grads)`` from a dict of parameters can be checked with
:func:`check_gradients`; a model's ``loss_and_grads`` is wrapped by :func:`check_model`,
which also checks each loss term alone (``terms=[name]``) and the input gradient.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DEFAULT_EPS = 1e-3
DEFAULT_ORDER = 4
DEFAULT_TOL = 1e-7


class GradientCheckError(AssertionError):
    """Raised when an analytic gradient disagrees with finite differences."""


def relative_error(analytic, numeric):
    """(N2): ``‖a − n‖ / max(‖a‖ + ‖n‖, 1e-12)``, 2-norms over the whole array."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    return float(np.linalg.norm(a - n) / max(np.linalg.norm(a) + np.linalg.norm(n), 1e-12))


def numerical_gradient(f, x, eps=DEFAULT_EPS, order=DEFAULT_ORDER):
    """Central differences, (N1) or (N1'), of the scalar ``f()`` with respect to array ``x``.

    ``x`` is perturbed in place, one entry at a time, and restored exactly afterwards;
    ``f`` takes no arguments and must read ``x`` (e.g. a closure over a params dict).
    """
    if x.dtype != np.float64:
        raise TypeError(f"gradient checks need float64 arrays, got {x.dtype}; build the "
                        "model with dtype=np.float64")
    if order not in (2, 4):
        raise ValueError(f"order must be 2 or 4, got {order!r}")
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)   # views: writing flat writes x

    def at(i, old, step):
        flat[i] = old + step
        value = f()
        flat[i] = old
        return value

    for i in range(flat.size):
        old = flat[i]
        d1 = at(i, old, eps) - at(i, old, -eps)
        if order == 2:
            gflat[i] = d1 / (2.0 * eps)                                  # (N1)
        else:
            d2 = at(i, old, 2 * eps) - at(i, old, -2 * eps)
            gflat[i] = (8.0 * d1 - d2) / (12.0 * eps)                    # (N1')
    return grad


@dataclass
class CheckRow:
    term: str
    name: str
    shape: tuple
    rel_error: float
    max_abs_error: float
    tol: float

    @property
    def passed(self):
        return self.rel_error <= self.tol


@dataclass
class GradCheckReport:
    """Rows of (term, array, shape, relative error, max abs error); printable as a table."""

    rows: list = field(default_factory=list)

    @property
    def passed(self):
        return all(r.passed for r in self.rows)

    @property
    def max_rel_error(self):
        return max((r.rel_error for r in self.rows), default=0.0)

    def __add__(self, other):
        return GradCheckReport(self.rows + other.rows)

    def table(self):
        head = f"{'term':<14} {'array':<12} {'shape':<12} {'rel. error':>11} {'max |a-n|':>11}  ok"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            lines.append(f"{r.term:<14} {r.name:<12} {str(r.shape):<12} {r.rel_error:11.2e} "
                         f"{r.max_abs_error:11.2e}  {'yes' if r.passed else 'NO'}")
        return "\n".join(lines)

    __str__ = table

    def raise_if_failed(self):
        bad = [r for r in self.rows if not r.passed]
        if bad:
            worst = ", ".join(f"{r.term}/{r.name} ({r.rel_error:.1e} > {r.tol:.0e})" for r in bad)
            raise GradientCheckError(
                f"analytic gradient disagrees with central differences for {worst}\n"
                + self.table())
        return self


def check_gradients(fun, params, eps=DEFAULT_EPS, tol=DEFAULT_TOL, term="all",
                    names=None, raise_on_fail=True, order=DEFAULT_ORDER):
    """Check ``fun(params) -> (loss, grads)`` for every array of ``params`` (or ``names``).

    ``params`` is perturbed in place and restored; every array must be float64.
    Returns a :class:`GradCheckReport`; raises :class:`GradientCheckError` when an
    array's relative error exceeds ``tol`` and ``raise_on_fail`` is true.
    """
    _, grads = fun(params)
    missing = set(params) ^ set(grads)
    if missing:
        raise GradientCheckError(f"grads and params have different keys: {sorted(missing)}")
    report = GradCheckReport()
    for name in (names or list(params)):
        if grads[name].shape != params[name].shape:
            raise GradientCheckError(f"grads[{name!r}] has shape {grads[name].shape}, "
                                     f"expected {params[name].shape}")
        numeric = numerical_gradient(lambda: float(fun(params)[0]), params[name], eps, order)
        analytic = np.asarray(grads[name], dtype=np.float64)
        report.rows.append(CheckRow(term, name, params[name].shape,
                                    relative_error(analytic, numeric),
                                    float(np.max(np.abs(analytic - numeric))), tol))
    if raise_on_fail:
        report.raise_if_failed()
    return report


def check_input_gradient(fun, X, eps=DEFAULT_EPS, tol=DEFAULT_TOL, term="all",
                         raise_on_fail=True, order=DEFAULT_ORDER):
    """Check ``fun(X) -> (loss, dL/dX)`` against central differences in ``X``.

    Each entry of X is moved by up to ±2·eps (±eps for ``order=2``), so X must stay
    valid under such moves: Bernoulli targets, for one, must lie that far inside [0, 1].
    """
    X = np.array(X, dtype=np.float64)           # a private copy to perturb
    _, dX = fun(X)
    try:
        numeric = numerical_gradient(lambda: float(fun(X)[0]), X, eps, order)
    except ValueError as exc:
        step = eps if order == 2 else 2 * eps
        raise ValueError(
            f"the input check moves each entry of X by up to ±{step:g}, and the model "
            f"refused a moved X: {exc}. Check the input gradient at an X at least {step:g} "
            f"inside the valid range (e.g. Bernoulli targets in [{step:g}, {1 - step:g}])"
        ) from None
    report = GradCheckReport([CheckRow(term, "input X", X.shape, relative_error(dX, numeric),
                                       float(np.max(np.abs(dX - numeric))), tol)])
    if raise_on_fail:
        report.raise_if_failed()
    return report


def check_model(model, X, noise=None, terms=None, eps=DEFAULT_EPS, tol=DEFAULT_TOL,
                each_term=True, include_input=True, raise_on_fail=True, order=DEFAULT_ORDER):
    """Check a model's ``loss_and_grads`` at its current ``params_`` on batch ``X``.

    With ``each_term`` every loss term the model reports is also checked alone
    (``terms=[name]``), then all of ``terms`` together; with ``include_input`` the
    input gradient (``model.input_gradient``) is checked as well. ``noise`` is held
    fixed, so stochastic models are checked as the deterministic function they are
    given their noise.
    """
    params = model.params_
    bad = [k for k, v in params.items() if v.dtype != np.float64]
    if bad:
        raise TypeError(f"gradient checks need float64 parameters; {bad} are not "
                        "(build the model with dtype=np.float64)")
    X = np.asarray(X, dtype=np.float64)
    _, values, _ = model.loss_and_grads(X, noise=noise, terms=terms)
    selections = [[t] for t in values] if each_term and len(values) > 1 else []
    selections.append(terms)
    report = GradCheckReport()
    for sel in selections:
        label = "all" if sel is None else "+".join(sel)

        def fun(p, sel=sel):
            loss, _, grads = model.loss_and_grads(X, noise=noise, terms=sel, params=p)
            return loss, grads

        report += check_gradients(fun, params, eps, tol, term=label, raise_on_fail=False,
                                  order=order)
        if include_input:
            report += check_input_gradient(
                lambda Xp, sel=sel: model.input_gradient(Xp, noise=noise, terms=sel),
                X, eps, tol, term=label, raise_on_fail=False, order=order)
    if raise_on_fail:
        report.raise_if_failed()
    return report
