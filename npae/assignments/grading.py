"""The checks of one question, and its score.

A question's checks fall in categories, each scored as the fraction it passes:

* ``gradient`` (backward exercises): at each drawn case the student's function runs
  (through ``run``: the worker when grading, in-process for ``npae check``); its return
  is mapped onto one gradient per input of the reference forward, and
  :func:`npae.gradcheck.check_vjp` compares it with central differences of that
  forward, with its pass criterion (relative OR absolute error against the check's own
  error estimate) and its diagnosis;
* ``values`` (forward exercises): the reference's values at the drawn cases;
* ``hidden``: what finite differences cannot judge, against the reference's output,
  which is never shown;
* ``property``: properties of the output (every row equal, KL ≥ 0);
* ``model``: every parameter gradient of a small model that uses the function (the
  student's build computes the gradients, the reference the loss), run only once
  every unit check of every question passed (:func:`add_model_checks`), so one bug is
  not penalised twice.

points × Σ_c w_c · passed_c / total_c / Σ_c w_c over the categories present. An
exception, a timeout or a wrong shape fails that check with a one-line reason. When a
check fails and the output equals a known mutant's, the mutant's hint is added.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ..gradcheck import GradientCheckError, check_gradients, check_vjp
from .worker import Call, ReturnTypeError, encode, execute, materialize, one_line, resolver

DEFAULT_WEIGHTS = {"gradient": 3.0, "values": 3.0, "hidden": 1.0, "property": 1.0,
                   "model": 1.0}
TIERS = ("numbers", "diagnosis", "hint")


@dataclass
class CheckResult:
    category: str
    label: str
    passed: bool
    reason: str = ""            # one line: why it failed (no expected values)
    numbers: str = ""           # errors, shapes (the "numbers" tier)
    diagnosis: str = ""         # npae.gradcheck's diagnosis (the "diagnosis" tier)
    hint: str = ""              # a matching mutant's hint (the "hint" tier)
    stub: bool = False          # the code raised NotImplementedError

    def line(self, tiers=TIERS):
        mark = "PASS" if self.passed else "FAIL"
        parts = [f"{mark} {self.category}: {self.label}"]
        if self.reason:
            parts.append(self.reason)
        if "numbers" in tiers and self.numbers and self.category != "hidden":
            parts.append(self.numbers)
        if "diagnosis" in tiers and self.diagnosis:
            parts.append(self.diagnosis)
        if "hint" in tiers and self.hint:
            parts.append(f"hint: {self.hint}")
        return " — ".join(parts)


@dataclass
class QuestionResult:
    question: object
    checks: list = field(default_factory=list)

    def fraction(self, weights=None):
        weights = {**DEFAULT_WEIGHTS, **(weights or {})}
        total = wsum = 0.0
        for cat in dict.fromkeys(c.category for c in self.checks):
            rows = [c for c in self.checks if c.category == cat]
            total += weights.get(cat, 1.0) * sum(c.passed for c in rows) / len(rows)
            wsum += weights.get(cat, 1.0)
        return total / wsum if wsum else 0.0

    @property
    def stub(self):
        return bool(self.checks) and all(c.stub for c in self.checks)

    @property
    def passed(self):
        return bool(self.checks) and all(c.passed for c in self.checks)


def describe(value):
    """The shape of a return value: ``(4, 3)``, ``tuple[(4, 3), (4, 3)]``, ``dict[...]``."""
    if isinstance(value, np.ndarray):
        return str(value.shape)
    if isinstance(value, (tuple, list)):
        return "tuple[" + ", ".join(describe(v) for v in value) + "]"
    if isinstance(value, dict):
        return "dict[" + ", ".join(f"{k}: {describe(v)}" for k, v in sorted(value.items())) + "]"
    if value is None:
        return "None"
    return "scalar" if np.isscalar(value) else type(value).__name__


def _close(a, b):
    if describe(a) != describe(b):
        return False
    if isinstance(a, (tuple, list)):
        return all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return all(_close(a[k], b[k]) for k in a)
    if a is None or b is None:
        return a is b
    with np.errstate(invalid="ignore"):
        return bool(np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-9,
                                atol=1e-12, equal_nan=True))


def _result(out, states, call):
    return (out, *states) if call.returns_args else out


class Judge:
    """How to run the code under test and where reference / mutant outputs come from.

    ``run(call) -> (ok, (out, states) | reason, is_stub)``; ``reference(call, key)`` the
    reference's output or None (a student build has it only for forward exercises);
    ``structure(call, key)`` the :func:`describe` of the reference's output or None;
    ``mutants(call, key)`` a list of ``(hint, output or error line)``.
    """

    def __init__(self, run, reference=None, mutants=None, structure=None):
        self.run = run
        self.reference = reference or (lambda call, key: None)
        self.mutants = mutants or (lambda call, key: [])
        self.structure = structure or self._structure

    def _structure(self, call, key):
        ref = self.reference(call, key)
        return None if ref is None else describe(ref)

    def hint(self, out, call, key, error=None):
        """The hint of the first mutant whose output (or error) equals this one."""
        for hint, m in self.mutants(call, key):
            if error is not None:
                if isinstance(m, str) and _strip_where(m) == _strip_where(error):
                    return hint
            elif m is not None and not isinstance(m, str) and _close(out, m):
                return hint
        return ""


def _strip_where(line):
    return line.split(" (npae/")[0].split(" (in ")[0]


def in_process_runner(root=None):
    """Run calls in this process against the npae imported here (``npae check``)."""
    resolve = resolver()

    def run(call):
        try:
            out, states = execute(materialize_call(call, resolve), resolve)
            arrays = {}
            encode((out, states), arrays)            # the same return rules as the worker
            return True, (out, states), False
        except ReturnTypeError as exc:
            return False, f"returned {exc}, expected arrays", False
        except Exception as exc:                    # noqa: BLE001 (any failure is a reason)
            return False, one_line(exc, root), isinstance(exc, NotImplementedError)
    return run


def materialize_call(call, resolve):
    kw = None if call.self_kwargs is None else materialize(call.self_kwargs, resolve)
    return dataclasses.replace(call, args=materialize(tuple(call.args), resolve), self_kwargs=kw)


def reference_judge(run):
    """Reference outputs and mutant outputs computed here, in the parent (the reference)."""
    from .mutants import mutants_of
    resolve = resolver()

    def reference(call, key):
        out, states = execute(materialize_call(call, resolve), resolve)
        return _result(out, states, call)

    def mutants(call, key):
        res = []
        for m in mutants_of(call.target):
            try:
                out, states = execute(materialize_call(call, resolve), resolve, m.fn)
                res.append((m.hint, _result(out, states, call)))
            except Exception as exc:                # noqa: BLE001 (a mutant that raises)
                res.append((m.hint, one_line(exc)))
        return res
    return Judge(run, reference, mutants)


def _fail(category, label, reason, stub=False, hint=""):
    return CheckResult(category, label, False, reason="not implemented yet" if stub else reason,
                       stub=stub, hint=hint)


def _gradient_check(ex, case, rng, judge, label, key):
    forward, inputs, names = ex.oracle(case)
    G = rng.standard_normal(np.shape(forward(*inputs)))
    call = ex.call(case, G)
    ok, payload, stub = judge.run(call)
    if not ok:
        hint = "" if stub else judge.hint(None, call, key, error=payload)
        return _fail("gradient", label, payload, stub, hint), None
    out = _result(*payload, call)
    expected = judge.structure(call, key)
    if expected is not None and describe(out) != expected:
        return _fail("gradient", label, f"returned {describe(out)}, expected {expected}",
                     hint=judge.hint(out, call, key)), None
    try:
        grads = tuple(ex.grads(out, case, G))
        factors = ex.factors(case) if ex.factors else None
        report = check_vjp(forward, lambda G_, *xs: grads, *inputs, upstream=G, names=names,
                           raise_on_fail=False, factors=factors)
    except GradientCheckError as exc:
        return _fail("gradient", label, str(exc).splitlines()[0]), None
    except Exception as exc:                        # noqa: BLE001 (a malformed return)
        return _fail("gradient", label, f"returned {describe(out)}: {one_line(exc)}"), None
    numbers = "; ".join(f"{r.name}: rel error {r.rel_error:.1e}, max abs error "
                        f"{r.max_abs_error:.1e}" for r in report.rows)
    diagnosis = "; ".join(f"{r.name}: {r.diagnosis}" for r in report.failures if r.diagnosis)
    res = CheckResult("gradient", label, report.passed, numbers=numbers, diagnosis=diagnosis)
    if not report.passed:
        res.hint = judge.hint(out, call, key)
    return res, out


def _output_check(ex, category, check_label, case, judge_fn, judge, key, errstate=None,
                  rng=None):
    if ex.oracle is not None:
        forward, inputs, _ = ex.oracle(case)
        G = rng.standard_normal(np.shape(forward(*inputs)))
        call = ex.call(case, G)
    else:
        call = ex.call(case)
    if errstate:
        call = dataclasses.replace(call, errstate=errstate)
    ok, payload, stub = judge.run(call)
    if not ok:
        hint = "" if stub else judge.hint(None, call, key, error=payload)
        return _fail(category, check_label, payload, stub, hint)
    out = _result(*payload, call)
    ref = judge.reference(call, key)
    expected = judge.structure(call, key)
    if expected is not None and describe(out) != expected:
        return _fail(category, check_label, f"returned {describe(out)}, expected {expected}",
                     hint=judge.hint(out, call, key))
    try:
        why = judge_fn(out, ref, case)
    except Exception:                               # noqa: BLE001 (the judge met a bad return)
        why = f"returned {describe(out)}: not of the expected kind"
    res = CheckResult(category, check_label, why is None, reason=why or "")
    if why is not None:
        res.hint = judge.hint(out, call, key)
    return res


def values_judge(out, ref, case):
    if isinstance(ref, (tuple, list)):
        if not isinstance(out, (tuple, list)) or len(out) != len(ref):
            return f"returned {describe(out)}, expected {describe(ref)}"
        return next((f"item {i}: {w}" for i, w in enumerate(
            values_judge(o, r, case) for o, r in zip(out, ref)) if w), None)
    a = np.asarray(out, dtype=np.float64)
    if a.shape != np.shape(ref):
        return f"returned shape {a.shape}, expected {np.shape(ref)}"
    with np.errstate(invalid="ignore"):
        err = float(np.max(np.abs(a - ref), initial=0.0))
    if not np.allclose(a, ref, rtol=1e-10, atol=1e-12, equal_nan=False):
        return f"max abs error {err:.1e} against the reference values"
    return None


def _model_check(ex, rng, judge, key):
    mc = ex.model
    kwargs = {**mc.kwargs, "dtype": "float64", "random_state": 0, "verbose": False}
    ref = resolver()(mc.cls)(**kwargs)
    seed = int(rng.integers(2**31))
    ref.initialize(mc.n_features, random_state=seed)
    X = rng.uniform(0.05, 0.95, (mc.batch, mc.n_features))
    noise = ref.sample_noise(X, rng) if mc.noise else None
    params = {k: v.copy() for k, v in ref.params_.items()}
    call = Call(f"{mc.cls}.loss_and_grads", (X, noise, None, params), self_kwargs=kwargs,
                setup=(("initialize", (mc.n_features, seed)),))
    ok, payload, stub = judge.run(call)
    if not ok:
        return _fail("model", mc.label, payload, stub)
    out = payload[0]
    expected = judge.structure(call, key)
    if expected is not None and describe(out) != expected:
        return _fail("model", mc.label, f"returned {describe(out)}, expected {expected}")
    grads = out[2]

    def value(p):
        return ref.loss(X, noise, params=p)[0]

    report = check_gradients(lambda p: (value(p), grads), params, raise_on_fail=False,
                             value_fun=value, batch_size=mc.batch)
    numbers = f"largest rel error {report.max_rel_error:.1e} over {len(report.rows)} arrays"
    diagnosis = "; ".join(f"{r.name}: {r.diagnosis}" for r in report.failures if r.diagnosis)
    return CheckResult("model", mc.label, report.passed, numbers=numbers, diagnosis=diagnosis)


def check_question(ex, question_id, rng, judge, *, n_random=2, hidden=True):
    """Every check of exercise ``ex`` at cases drawn from ``rng``; a :class:`QuestionResult`."""
    result = QuestionResult(question_id)
    for case_def in ex.cases:
        n = n_random if case_def.label == "random" else 1
        for i in range(n):
            label = f"{case_def.label} case {i + 1}" if n > 1 else f"{case_def.label} case"
            key = f"{question_id}/{case_def.label}/{i}"
            case = case_def.draw(rng)
            if ex.kind == "backward":
                res, _ = _gradient_check(ex, case, rng, judge, label, key)
            else:
                res = _output_check(ex, "values", label, case, values_judge, judge, key,
                                    errstate=None, rng=rng)
            result.checks.append(res)
    groups = [("property", ex.properties)] + ([("hidden", ex.hidden)] if hidden else [])
    for category, checks in groups:
        for j, chk in enumerate(checks):
            key = f"{question_id}/{category}/{j}"
            result.checks.append(_output_check(ex, category, chk.label, chk.draw(rng),
                                               chk.judge, judge, key, chk.errstate, rng))
    return result


def units_pass(result):
    return all(c.passed for c in result.checks if c.category in ("gradient", "values"))


def add_model_checks(graded, judge):
    """Whole-model checks, for ``graded`` = [(exercise, question id, result, seed)].

    A model uses several of npae's functions (every model calls backprop_layers), so
    they run only when the unit checks of every question passed: otherwise they are
    left out of the score, and one bug is not penalised twice.
    """
    if not all(units_pass(result) for _, _, result, _ in graded):
        return
    for ex, qid, result, seed in graded:
        if ex.model is not None:
            rng = np.random.default_rng([seed, 1])
            result.checks.append(_model_check(ex, rng, judge, f"{qid}/model/0"))
