"""The checks: a params dict, one function's vector-Jacobian product, a Jacobian, a model."""
from __future__ import annotations

import inspect

from collections.abc import Mapping

import numpy as np

from .._validation import check_array, check_positive_int, check_scalar
from .diagnosis import diagnose, diagnose_shape
from .numeric import (Tracked, directional_derivative, error_estimate, numerical_gradient,
                      relative_error, resolution, rounding_floor)
from .report import CheckRow, GradCheckReport, GradientCheckError

DEFAULT_EPS = 1e-3
DEFAULT_ORDER = 4
DEFAULT_TOL = 1e-7
# (N4) above this (relative to max(1, max|n|)), finite differences at ε and ε/2 disagree
# too much to vouch for anything: the forward is not smooth within 2ε (a kink).
UNRELIABLE = 1e-6
# check_model's default point: every parameter moved by this times N(0, 1) (see check_model)
PERTURBATION = 1e-3


def _refuse_complex(value, what):
    """TypeError naming ``what`` when ``value`` is complex (its imaginary part would be lost)."""
    if np.iscomplexobj(value):
        raise TypeError(f"{what} is complex ({np.asarray(value).dtype}); gradient checks "
                        "need real float64 values: the imaginary part would be cast away "
                        "and the check would prove nothing about it")
    return value


def _check_settings(eps, tol, atol, order, directions):
    """Refuse a step, tolerance or stencil that would make the check meaningless."""
    check_scalar(eps, "eps", 0, None, low_open=True)
    check_scalar(tol, "tol", 0, None)
    if atol is not None:
        check_scalar(atol, "atol", 0, None)
    if order not in (2, 4) or isinstance(order, bool):
        raise ValueError(f"order must be 2 or 4, got {order!r}")
    if directions is not None:
        check_positive_int(directions, "directions")


def _row(term, name, analytic, numeric, estimate, *, tol, atol, kind, batch_size, factors,
         where=None, floor=None):
    """Compare one pair; ``estimate()`` gives the check's own error (N4), called only if needed.

    The verdict: ``rel`` when (N2) ≤ tol; else, within ê, (N5) decides between a pass
    (``abs``: resolved or a rounding-level zero) and "cannot judge"; beyond ê a FAIL with
    a diagnosis. ``floor()`` is the rounding part of ê (10 u max|L| / ε), used to say what
    would help. An explicit ``atol`` is the caller's own bound: within it is a pass.
    """
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    rel = relative_error(a, n)
    with np.errstate(invalid="ignore"):
        err = np.abs(a - n)
    mae = float(np.max(err, initial=0.0)) if np.isfinite(err).all() else np.inf
    row = CheckRow(term, name, tuple(a.shape), rel, mae, tol, atol, "", None, kind, where)
    if np.isfinite(rel) and rel <= tol:
        row.criterion = "rel"
        return row
    used = float(atol) if atol is not None else float(estimate())
    row.atol = used
    smooth = atol is not None or used <= UNRELIABLE * max(1.0, float(np.max(np.abs(n),
                                                                            initial=0.0)))
    if not smooth and np.isfinite(used):
        row.judged = False
        row.diagnosis = (f"cannot judge: finite differences at ε and ε/2 disagree by up to "
                         f"{used / 4:.1e}: the forward is not smooth within 2ε of this point "
                         "(a kink, a tie?); move the point")
        return row
    if np.isfinite(mae) and mae <= used:
        b = float(np.max(np.abs(a), initial=0.0))
        if atol is not None or resolution(b, used) != "below":
            row.criterion = "abs"
            return row
        row.judged = False
        row.diagnosis = _below_resolution(b, used, floor() if floor else 0.0, kind)
        return row
    row.diagnosis = diagnose(a, n, name, batch_size=batch_size, factors=factors,
                             atol=used if np.isfinite(used) else 0.0,
                             directional=kind != "entrywise")
    return row


def _below_resolution(b, estimate, floor, kind):
    """The "cannot judge" message of (N5): the numbers, then what to change."""
    what = "⟨∇L, v⟩" if kind == "directional" else "entry"
    text = (f"cannot judge: the gradient is below this check's resolution (largest analytic "
            f"{what} {b:.1e}, the check's own error {estimate:.1e}: a sign flip or a factor "
            "2 would agree as well); ")
    if floor >= 0.5 * estimate:
        text += (f"the rounding of the loss value sets that error (10 u max|L| / ε = "
                 f"{floor:.1e}): remove the constant offset from the loss, ")
    else:
        text += "to resolve it: "
    return text + ("scale the function up, or (check_vjp, --function) use another upstream "
                   "gradient G")


def _directions(rng, arrays):
    """One random unit direction over ``arrays`` together (a list of arrays like them)."""
    vs = [rng.standard_normal(x.shape) for x in arrays]
    norm = np.sqrt(sum(float(np.sum(v * v)) for v in vs))
    return [v / norm for v in vs]


def _directional_rows(loss, params, grads, names, K, eps, order, seed, tol, atol, term,
                      batch_size, factors, where):
    """(N3) along K random unit directions over all arrays together, then K per array."""
    rng = np.random.default_rng(seed)
    groups = [("(all)", list(names))] if len(names) > 1 else []
    groups += [(name, [name]) for name in names]
    rows = []
    for label, group in groups:
        arrays = [params[k] for k in group]
        vs = [_directions(rng, arrays) for _ in range(K)]
        a = np.array([sum(float(np.sum(grads[k] * v)) for k, v in zip(group, vk)) for vk in vs])
        n = np.array([directional_derivative(loss, arrays, vk, eps, order) for vk in vs])

        def estimate(arrays=arrays, vs=vs, n=n):
            half = [directional_derivative(loss, arrays, vk, eps / 2, order) for vk in vs]
            return error_estimate(n, half, loss.largest, eps)

        shape = params[label].shape if label in params else (sum(x.size for x in arrays),)
        row = _row(term, label, a, n, estimate, tol=tol, atol=atol, kind="directional",
                   batch_size=batch_size, factors=factors, where=where,
                   floor=lambda: rounding_floor(loss.largest, eps))
        row.shape = tuple(shape)
        rows.append(row)
    return rows


def check_gradients(fun, params, eps=DEFAULT_EPS, tol=DEFAULT_TOL, term="all", names=None,
                    raise_on_fail=True, order=DEFAULT_ORDER, atol=None, directions=None,
                    factors=None, batch_size=None, seed=0, where=None, value_fun=None):
    """Check ``fun(params) -> (loss, grads)`` for every array of ``params`` (or ``names``).

    Entrywise by default ((N1'), 4 evaluations of ``fun`` per entry); with
    ``directions=K``, K random unit directions over all arrays together and K per array
    ((N3), 4 evaluations each), for models of any size. ``params`` is perturbed in place
    and restored; every array must be float64. An array passes when its relative error
    is ≤ ``tol``, or its max absolute error is ≤ ``atol`` (default: the check's own error
    ê, (N4)) and (N5) says that proves something: its largest analytic entry is ≥ 100 ê
    or ≤ ê / 100. In between the row is "cannot judge" (below the check's resolution),
    which is not a pass. A failing row carries a diagnosis (``factors`` and
    ``batch_size`` are the constants it may name). ``value_fun(params) -> loss``, when
    given, is what the finite differences evaluate (a forward pass without the backward:
    half the cost).
    Raises :class:`GradientCheckError` on a failure or a row it cannot judge when
    ``raise_on_fail``; returns the :class:`GradCheckReport`. Complex losses or gradients
    raise TypeError.
    """
    _check_settings(eps, tol, atol, order, directions)
    if not isinstance(params, Mapping) or not all(isinstance(v, np.ndarray)
                                                  for v in params.values()):
        raise TypeError(f"params must be a dict of float64 arrays, got "
                        f"{type(params).__name__}")
    bad = [k for k, v in params.items() if v.dtype != np.float64]
    if bad:
        raise TypeError(f"gradient checks need float64 arrays; {bad} are not (build the "
                        "model with dtype=np.float64)")
    value0, grads = fun(params)
    _refuse_complex(value0, "the loss returned by fun")
    if not isinstance(grads, Mapping):
        raise GradientCheckError(f"fun must return (loss, grads) with grads a dict, got "
                                 f"{type(grads).__name__}")
    missing = set(params) ^ set(grads)
    if missing:
        raise GradientCheckError(f"grads and params have different keys: {sorted(missing)}")
    names = list(names or params)
    for name in names:
        g = grads[name]
        if not isinstance(g, np.ndarray) or g.shape != params[name].shape:
            raise GradientCheckError(diagnose_shape(name, np.shape(g), params[name].shape))
        _refuse_complex(g, f"the gradient of {name}")
    loss = Tracked(lambda: value_fun(params) if value_fun else fun(params)[0])
    kw = dict(tol=tol, atol=atol, batch_size=batch_size, factors=factors)
    report = GradCheckReport()
    if directions is not None:
        K = int(directions)
        report.rows += _directional_rows(loss, params, grads, names, K, eps, order, seed,
                                         term=term, where=where, **kw)
    else:
        for name in names:
            x = params[name]
            n = numerical_gradient(loss, x, eps, order)

            def estimate(x=x, n=n):
                half = numerical_gradient(loss, x, eps / 2, order)
                return error_estimate(n, half, loss.largest, eps)

            report.rows.append(_row(term, name, grads[name], n, estimate, kind="entrywise",
                                    where=where,
                                    floor=lambda: rounding_floor(loss.largest, eps), **kw))
    if raise_on_fail:
        report.raise_if_failed()
    return report


def check_input_gradient(fun, X, eps=DEFAULT_EPS, tol=DEFAULT_TOL, term="all",
                         raise_on_fail=True, order=DEFAULT_ORDER, atol=None, directions=None,
                         factors=None, batch_size=None, seed=0, where=None, value_fun=None):
    """Check ``fun(X) -> (loss, dL/dX)`` against central differences in ``X``.

    Each entry of X is moved by up to ±2·eps (±eps for ``order=2``), so X must stay
    valid under such moves: Bernoulli targets, for one, must lie that far inside [0, 1].
    """
    _check_settings(eps, tol, atol, order, directions)
    _refuse_complex(X, "the input X")
    X = np.array(check_array(X, "X", ndim=None), dtype=np.float64)   # a private copy
    fun(X)                                       # a bad X itself fails here, as itself
    B = batch_size if batch_size is not None else (X.shape[0] if X.ndim >= 2 else None)

    def as_params(p):                            # the check_gradients view: {"input X": X}
        loss, dX = fun(p["input X"])
        return loss, {"input X": dX}

    value = None if value_fun is None else (lambda p: value_fun(p["input X"]))
    try:
        return check_gradients(as_params, {"input X": X}, eps, tol, term, None, raise_on_fail,
                               order, atol, directions, factors, B, seed, where, value)
    except ValueError as exc:
        step = eps if order == 2 else 2 * eps
        raise ValueError(
            f"the input check moves each entry of X by up to ±{step:g}, and the model "
            f"refused a moved X: {exc}. Check the input gradient at an X at least {step:g} "
            f"inside the valid range (e.g. Bernoulli targets in [{step:g}, {1 - step:g}])"
        ) from None


def _input_names(forward, n):
    try:
        params = [p for p in inspect.signature(forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params[:n]]
    return names + [f"x{i}" for i in range(len(names), n)]


def check_vjp(forward, backward, *inputs, upstream=None, seed=0, eps=DEFAULT_EPS,
              order=DEFAULT_ORDER, tol=DEFAULT_TOL, atol=None, names=None, factors=None,
              batch_size=None, term="vjp", raise_on_fail=True, directions=None):
    """Check a hand-written backward of any function against its forward.

    ``y = forward(*inputs)`` (an array or a scalar); an upstream gradient G of y's shape
    (drawn N(0, 1) from ``seed`` unless ``upstream`` is given) makes the scalar

        L = Σ G ⊙ y,     whose gradient in input x is the vector-Jacobian product Gᵀ ∂y/∂x,

    and ``backward(G, *inputs)`` must return it: one gradient per input (a tuple, or a
    single array for one input), ``None`` for an input that is not differentiated.
    Float64 arrays are differentiated; any other input (a float, an int, a string) is
    passed through unchanged and must get ``None``. Returns the same report as
    :func:`check_gradients`, one row per differentiated input.
    """
    _check_settings(eps, tol, atol, order, directions)
    names = list(names) if names is not None else _input_names(forward, len(inputs))
    if len(names) != len(inputs):
        raise ValueError(f"names has {len(names)} entries for {len(inputs)} inputs")
    for name, x in zip(names, inputs):
        _refuse_complex(x, f"input {name}")
    work = [np.array(x, dtype=np.float64) if isinstance(x, np.ndarray) and x.dtype.kind == "f"
            else x for x in inputs]
    for name, x, orig in zip(names, work, inputs):
        if isinstance(orig, np.ndarray) and orig.dtype.kind == "f" and orig.dtype != np.float64:
            raise TypeError(f"gradient checks need float64 inputs; {name} is {orig.dtype}")
    diff = [i for i, x in enumerate(work) if isinstance(x, np.ndarray) and x.dtype.kind == "f"]
    y = np.asarray(_refuse_complex(forward(*work), "forward's output"), dtype=np.float64)
    G = (np.random.default_rng(seed).standard_normal(y.shape) if upstream is None
         else np.asarray(upstream, dtype=np.float64))
    if G.shape != y.shape:
        raise ValueError(f"upstream has shape {G.shape}, but forward returns shape {y.shape}")
    out = backward(G.copy(), *[x.copy() if isinstance(x, np.ndarray) else x for x in work])
    if len(inputs) == 1 and not isinstance(out, (tuple, list)):
        out = (out,)
    if not isinstance(out, (tuple, list)) or len(out) != len(inputs):
        got = len(out) if isinstance(out, (tuple, list)) else type(out).__name__
        raise GradientCheckError(f"backward must return one gradient per input "
                                 f"({', '.join(names)}): got {got}")
    grads = {}
    for i, (name, g) in enumerate(zip(names, out)):
        if i not in diff:
            if g is not None:
                raise GradientCheckError(f"input {name} is not a float64 array, so it is not "
                                         f"differentiated: backward must return None for it")
        elif g is not None:
            _refuse_complex(g, f"backward's gradient for {name}")
            if not isinstance(g, (np.ndarray, float, int, np.floating)):
                raise GradientCheckError(f"backward's gradient for {name} is a "
                                         f"{type(g).__name__}, expected an array")
            grads[name] = np.asarray(g, dtype=np.float64)
    if not grads:
        raise GradientCheckError("backward returned None for every input: nothing to check")
    params = {names[i]: work[i] for i in diff if names[i] in grads}

    def fun(p):
        y = _refuse_complex(forward(*work), "forward's output")
        return float(np.sum(G * np.asarray(y, dtype=np.float64))), grads

    if batch_size is None:
        first = [work[i] for i in diff if work[i].ndim >= 2]
        batch_size = first[0].shape[0] if first else None
    return check_gradients(fun, params, eps, tol, term, None, raise_on_fail, order, atol,
                           directions, factors, batch_size, seed)


def check_jacobian(f, jacobian, x, eps=DEFAULT_EPS, tol=DEFAULT_TOL, atol=None,
                   order=DEFAULT_ORDER, raise_on_fail=True, term="jacobian"):
    """Check ``jacobian(x)`` of a vector map ``f`` against central differences of ``f``.

    Two layouts: the full Jacobian, shape ``f(x).shape + x.shape``; or, for a map of
    rows (x (N, D) -> y (N, H), row n of y depending on row n of x only), npae's
    per-example layout J[n, i, j] = ∂y_nj/∂x_ni, (N, D, H) — then column i of every row
    is moved at once, so the check costs 4 D evaluations of f.
    """
    _check_settings(eps, tol, atol, order, None)
    _refuse_complex(x, "the input x")
    x = np.array(check_array(x, "x", ndim=None), dtype=np.float64)
    y = np.asarray(_refuse_complex(f(x), "f's output"), dtype=np.float64)
    J = np.asarray(_refuse_complex(jacobian(x.copy()), "the jacobian"), dtype=np.float64)
    largest = [0.0]

    def at(shift):
        v = np.asarray(_refuse_complex(f(x + shift), "f's output"), dtype=np.float64)
        largest[0] = max(largest[0], float(np.max(np.abs(v), initial=0.0)))
        return v

    def stencil(e, move):
        d1 = at(move(e)) - at(move(-e))
        if order == 2:
            return d1 / (2 * e)
        return (8 * d1 - (at(move(2 * e)) - at(move(-2 * e)))) / (12 * e)

    per_row = x.ndim == 2 and y.ndim == 2 and J.shape == (x.shape[0], x.shape[1], y.shape[1])
    if per_row:
        def numeric(e):
            cols = []
            for i in range(x.shape[1]):
                def move(t, i=i):
                    s = np.zeros_like(x)
                    s[:, i] = t
                    return s
                cols.append(stencil(e, move))                         # (N, H) for column i
            return np.stack(cols, axis=1)                              # (N, D, H)
    else:
        expected = y.shape + x.shape
        if J.shape != expected:
            hint = ""
            if x.ndim == 2 and y.ndim == 2 and J.shape == (x.shape[0], y.shape[1], x.shape[1]):
                hint = (" (the transposed per-example layout (N, H, D): npae stores "
                        "J[n, i, j] = ∂y_nj/∂x_ni, (N, D, H))")
            rows = (f"{(x.shape[0], x.shape[1], y.shape[1])} or "
                    if x.ndim == 2 and y.ndim == 2 else "")
            raise GradientCheckError(f"jacobian has shape {J.shape}, expected {rows}"
                                     f"{expected}{hint}")

        def numeric(e):
            cols = []
            for i in range(x.size):
                def move(t, i=i):
                    s = np.zeros(x.size)
                    s[i] = t
                    return s.reshape(x.shape)
                cols.append(stencil(e, move))
            return np.stack(cols, axis=-1).reshape(expected)

    n = numeric(eps)
    report = GradCheckReport([_row(term, "J", J, n,
                                   lambda: error_estimate(n, numeric(eps / 2), largest[0], eps),
                                   tol=tol, atol=atol, kind="entrywise", batch_size=None,
                                   factors=None,
                                   floor=lambda: rounding_floor(largest[0], eps))])
    if raise_on_fail:
        report.raise_if_failed()
    return report


def _model_factors(model):
    """The model's numeric hyperparameters a wrong factor may be (β, λ, …)."""
    keys = ("beta", "sparsity_weight", "contractive_weight", "weight_decay", "sparsity_target",
            "noise_level", "decoder_variance")
    out = {}
    for k, v in model.get_params().items():
        if k in keys and isinstance(v, (int, float, np.number)) and not isinstance(v, bool):
            out[k] = float(v)
    return out


def perturbed_point(params, seed=0, scale=None):
    """check_model's point: θ + s ξ, ξ ~ N(0, I) from ``default_rng(seed)``.

    s = ``scale``, by default ``PERTURBATION`` (1e-3).

    A copy: ``params`` is not touched. Every array moves, biases included, so no
    gradient is checked where the parameters are exactly 0 (see :func:`check_model`).
    """
    s = PERTURBATION if scale is None else scale
    rng = np.random.default_rng(seed)
    return {k: v + s * rng.standard_normal(v.shape) for k, v in params.items()}


def check_model(model, X, noise=None, terms=None, eps=DEFAULT_EPS, tol=DEFAULT_TOL,
                each_term=True, include_input=True, raise_on_fail=True, order=DEFAULT_ORDER,
                atol=None, directions=None, seed=0, at="perturbed"):
    """Check a model's ``loss_and_grads`` near (default) or at its ``params_`` on batch ``X``.

    Where. By default (``at="perturbed"``) the check runs at θ + s ξ: the model's
    parameters θ plus s = ``PERTURBATION`` = 1e-3 times ξ ~ N(0, I) drawn from
    ``default_rng(seed)`` (:func:`perturbed_point`); ``params_`` itself is not changed.
    Right after ``initialize`` every bias is exactly 0, and a bug that multiplies by a
    bias cannot show there: weight decay applied to the biases adds λ b = 0, a bias
    term left out of a gradient that is b times something is 0 either way. At θ + s ξ no
    parameter is 0. ``at="current"`` checks the exact current ``params_`` (a point
    chosen on purpose: away from kinks, or where a gradient is exactly 0). The
    report's ``point`` (the first line of its table) says which.

    With ``each_term`` every loss term the model reports is also checked alone
    (``terms=[name]``), then all of ``terms`` together; with ``include_input`` the
    input gradient (``model.input_gradient``) is checked as well. ``noise`` is held
    fixed, so stochastic models are checked as the deterministic function they are
    given their noise. ``directions=K`` checks K random directions per array instead of
    every entry (for full-size models). A failing row names the term, the array and the
    equations the model cites for that term (``model.term_equations``).
    """
    params = getattr(model, "params_", None)
    if params is None:
        from ..models.base import NotFittedError
        raise NotFittedError(f"check_model needs parameters: call {type(model).__name__}"
                             ".fit(X) or .initialize(n_features) first")
    if at not in ("perturbed", "current"):
        raise ValueError(f"at must be 'perturbed' or 'current', got {at!r}")
    bad = [k for k, v in params.items() if v.dtype != np.float64]
    if bad:
        raise TypeError(f"gradient checks need float64 parameters; {bad} are not "
                        "(build the model with dtype=np.float64)")
    _refuse_complex(X, "X")
    X = check_array(X, "X", ndim=2, dtype=np.float64)
    _check_settings(eps, tol, atol, order, directions)
    if at == "perturbed":
        point = perturbed_point(params, seed)
        where_checked = (f"at the model's parameters + {PERTURBATION:g}·N(0, I) (seed {seed}, "
                         "so no bias is 0; at='current' checks params_ as they are)")
    else:
        point = {k: v.copy() for k, v in params.items()}
        where_checked = "at the model's current parameters (at='current')"
    _, values, _ = model.loss_and_grads(X, noise=noise, terms=terms, params=point)
    selections = [[t] for t in values] if each_term and len(values) > 1 else []
    selections.append(terms)
    equations = getattr(model, "term_equations", {}) or {}
    kw = dict(eps=eps, tol=tol, raise_on_fail=False, order=order, atol=atol,
              directions=directions, factors=_model_factors(model), batch_size=X.shape[0],
              seed=seed)
    report = GradCheckReport()
    for sel in selections:
        label = "all" if sel is None else "+".join(sel)
        cited = [equations[t] for t in (sel or values) if t in equations]
        where = "; ".join(cited) or None

        def fun(p, sel=sel):
            loss, _, grads = model.loss_and_grads(X, noise=noise, terms=sel, params=p)
            return loss, grads

        def value(p, sel=sel):
            return model.loss(X, noise=noise, terms=sel, params=p)[0]

        report += check_gradients(fun, point, term=label, where=where, value_fun=value, **kw)
        if include_input:
            where_x = "; ".join(c for c in (where, equations.get("input")) if c) or None
            report += check_input_gradient(
                lambda Xp, sel=sel: model.input_gradient(Xp, noise=noise, terms=sel,
                                                         params=point),
                X, term=label, where=where_x,
                value_fun=lambda Xp, sel=sel: model.loss(Xp, noise=noise, terms=sel,
                                                         params=point)[0], **kw)
    report.point = where_checked
    if raise_on_fail:
        report.raise_if_failed()
    return report
