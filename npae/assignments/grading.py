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

The score of a question (:meth:`QuestionResult.fraction`) is points × v × G:

* v, the fraction of the *random* cases (gradient or values) that pass: the value
  checks. An answer wrong on every random case scores 0, whatever else it passes;
* G = Σ_c w_c g_c / Σ_c w_c over the categories present, g_c the fraction of the
  category's *other* checks that pass (special cases such as log σ² = 0, hidden,
  property, model), 1 when it has none. So special cases and properties can only take
  points away from an answer that the random cases accept (or explain why not), never
  give points to one they reject;
* 0 when the function computed its answer by finite differences or a Python loop over
  entries: some function of npae was called :data:`LOOP_CALLS` or more times from
  inside one call of it (the worker counts them);
* minus :data:`IN_PLACE_PENALTY` of the points when it modified one of its arguments in
  place (the caller's arrays must not change), with the argument's name.

An exception, a timeout or a wrong shape fails that check with a one-line reason. When
a check fails and the output equals a known mutant's, the mutant's hint is added.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field

import numpy as np

from ..gradcheck import GradientCheckError, check_gradients, check_vjp, perturbed_point
from .worker import (Call, Outcome, ReturnTypeError, encode, execute, materialize, one_line,
                     resolver)

DEFAULT_WEIGHTS = {"gradient": 3.0, "values": 3.0, "hidden": 1.0, "property": 1.0,
                   "model": 1.0}
TIERS = ("numbers", "diagnosis", "hint")
LOOP_CALLS = 8              # calls of one npae function inside one call: FD or a loop
IN_PLACE_PENALTY = 0.25     # of the question's points, once, for modifying an argument


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
    random: bool = False        # a random case: a value check (see the module)
    loop: str = ""              # "npae.x.f called N times": finite differences or a loop
    modified: tuple = ()        # arguments the code modified in place

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

    def value_fraction(self):
        rows = [c for c in self.checks if c.random]
        return sum(c.passed for c in rows) / len(rows) if rows else 1.0

    def fraction(self, weights=None):
        """v × G, 0 for a loop, minus the in-place penalty (see the module)."""
        if not self.checks or self.loop:
            return 0.0
        weights = {**DEFAULT_WEIGHTS, **(weights or {})}
        total = wsum = 0.0
        for cat in dict.fromkeys(c.category for c in self.checks):
            rows = [c for c in self.checks if c.category == cat and not c.random]
            total += weights.get(cat, 1.0) * (sum(c.passed for c in rows) / len(rows)
                                              if rows else 1.0)
            wsum += weights.get(cat, 1.0)
        fraction = self.value_fraction() * (total / wsum if wsum else 0.0)
        if self.modified:
            fraction = max(0.0, fraction - IN_PLACE_PENALTY)
        return fraction

    @property
    def loop(self):
        return next((c.loop for c in self.checks if c.loop), "")

    @property
    def modified(self):
        return tuple(dict.fromkeys(m for c in self.checks for m in c.modified))

    def explain(self):
        """Lines that say why the score is what it is, beyond the checks themselves."""
        lines = []
        if self.loop:
            lines.append(f"0 points: {self.loop} in one call of your function: that is "
                         "finite differences or a Python loop over entries, which the "
                         "assignment forbids; derive the formula and vectorize it")
        elif self.checks and not self.stub and self.value_fraction() == 0:
            n = sum(c.random for c in self.checks)
            lines.append(f"0 points: wrong on every random case (0 of {n}); special cases, "
                         "hidden checks and properties only count for an answer that the "
                         "random cases accept")
        if self.modified:
            lines.append(f"−{IN_PLACE_PENALTY:.0%} of the points: your function modified its "
                         f"argument {', '.join(self.modified)} in place; the caller's arrays "
                         "must not change (work on a copy)")
        return lines

    @property
    def stub(self):
        return bool(self.checks) and all(c.stub for c in self.checks)

    @property
    def passed(self):
        return bool(self.checks) and all(c.passed for c in self.checks) and not self.loop \
            and not self.modified


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

    ``run(call) -> Outcome`` (:class:`.worker.Outcome`); ``reference(call, key)`` the
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
    """Run calls in this process against the npae imported here (``npae check``); with
    ``root`` (the build's folder), watch them as the worker does."""
    resolve = resolver()

    def run(call):
        try:
            out, states, seen = execute(materialize_call(call, resolve), resolve, observe=root)
            arrays = {}
            encode((out, states), arrays)            # the same return rules as the worker
            return Outcome(True, out, states, seen=seen)
        except ReturnTypeError as exc:
            return Outcome(False, reason=f"returned {exc}, expected arrays")
        except Exception as exc:                    # noqa: BLE001 (any failure is a reason)
            return Outcome(False, reason=one_line(exc, root),
                           stub=isinstance(exc, NotImplementedError))
    return run


def materialize_call(call, resolve):
    kw = None if call.self_kwargs is None else materialize(call.self_kwargs, resolve)
    return dataclasses.replace(call, args=materialize(tuple(call.args), resolve), self_kwargs=kw)


def reference_judge(run):
    """Reference outputs and mutant outputs computed here, in the parent (the reference)."""
    from .mutants import mutants_of
    resolve = resolver()

    def reference(call, key):
        out, states, _ = execute(materialize_call(call, resolve), resolve)
        return _result(out, states, call)

    def mutants(call, key):
        res = []
        for m in mutants_of(call.target):
            try:
                out, states, _ = execute(materialize_call(call, resolve), resolve, m.fn)
                res.append((m.hint, _result(out, states, call)))
            except Exception as exc:                # noqa: BLE001 (a mutant that raises)
                res.append((m.hint, one_line(exc)))
        return res
    return Judge(run, reference, mutants)


def _fail(category, label, reason, stub=False, hint=""):
    return CheckResult(category, label, False, reason="not implemented yet" if stub else reason,
                       stub=stub, hint=hint)


def _watched(res, outcome):
    """Add what the worker saw during the call to the check ``res``."""
    calls = (outcome.seen or {}).get("calls", {})
    top = max(calls.items(), key=lambda kv: kv[1], default=(None, 0))
    if top[1] >= LOOP_CALLS:
        res.loop = f"{top[0]} was called {top[1]} times"
        res.passed = False
    res.modified = tuple((outcome.seen or {}).get("modified", ()))
    return res


def _run(judge, category, label, call, key):
    """Run ``call``; ``(outcome, failed CheckResult or None)``."""
    outcome = judge.run(call)
    if outcome.ok:
        return outcome, None
    hint = "" if outcome.stub else judge.hint(None, call, key, error=outcome.reason)
    return outcome, _fail(category, label, outcome.reason, outcome.stub, hint)


def _gradient_check(ex, case, rng, judge, label, key, random=False):
    forward, inputs, names = ex.oracle(case)
    G = rng.standard_normal(np.shape(forward(*inputs)))
    call = ex.call(case, G)
    outcome, failed = _run(judge, "gradient", label, call, key)
    if failed:
        failed.random = random
        return failed, None
    res = _judge_gradient(ex, case, G, forward, inputs, names, call, outcome, judge, label, key)
    res.random = random
    return _watched(res, outcome), _result(outcome.out, outcome.states, call)


def _judge_gradient(ex, case, G, forward, inputs, names, call, outcome, judge, label, key):
    out = _result(outcome.out, outcome.states, call)
    expected = judge.structure(call, key)
    if expected is not None and describe(out) != expected:
        return _fail("gradient", label, f"returned {describe(out)}, expected {expected}",
                     hint=judge.hint(out, call, key))
    try:
        grads = tuple(ex.grads(out, case, G))
        factors = ex.factors(case) if ex.factors else None
        report = check_vjp(forward, lambda G_, *xs: grads, *inputs, upstream=G, names=names,
                           raise_on_fail=False, factors=factors)
    except GradientCheckError as exc:
        return _fail("gradient", label, str(exc).splitlines()[0])
    except Exception as exc:                        # noqa: BLE001 (a malformed return)
        return _fail("gradient", label, f"returned {describe(out)}: {one_line(exc)}")
    numbers = "; ".join(f"{r.name}: rel error {r.rel_error:.1e}, max abs error "
                        f"{r.max_abs_error:.1e}" for r in report.rows)
    diagnosis = "; ".join(f"{r.name}: {r.diagnosis}" for r in report.failures if r.diagnosis)
    res = CheckResult("gradient", label, report.passed, numbers=numbers, diagnosis=diagnosis)
    if not report.passed:
        res.hint = judge.hint(out, call, key)
    return res


def _output_check(ex, category, check_label, case, judge_fn, judge, key, errstate=None,
                  rng=None, random=False):
    if ex.oracle is not None:
        forward, inputs, _ = ex.oracle(case)
        G = rng.standard_normal(np.shape(forward(*inputs)))
        call = ex.call(case, G)
    else:
        call = ex.call(case)
    if errstate:
        call = dataclasses.replace(call, errstate=errstate)
    outcome, failed = _run(judge, category, check_label, call, key)
    if failed:
        failed.random = random
        return failed
    out = _result(outcome.out, outcome.states, call)
    ref = judge.reference(call, key)
    expected = judge.structure(call, key)
    if expected is not None and describe(out) != expected:
        res = _fail(category, check_label, f"returned {describe(out)}, expected {expected}",
                    hint=judge.hint(out, call, key))
    else:
        try:
            why = judge_fn(out, ref, case)
        except Exception:                           # noqa: BLE001 (the judge met a bad return)
            why = f"returned {describe(out)}: not of the expected kind"
        res = CheckResult(category, check_label, why is None, reason=why or "")
        if why is not None:
            res.hint = judge.hint(out, call, key)
    res.random = random
    return _watched(res, outcome)


def values_judge(out, ref, case, names=()):
    """None when ``out`` equals the reference values (rtol 1e-10), else why not: the
    output's name (``names``, else "item i"), and its dtype when it is not float64."""
    if isinstance(ref, (tuple, list)):
        if not isinstance(out, (tuple, list)) or len(out) != len(ref):
            return f"returned {describe(out)}, expected {describe(ref)}"
        for i, (o, r) in enumerate(zip(out, ref)):
            why = values_judge(o, r, case)
            if why:
                return f"{names[i] if i < len(names) else f'item {i}'}: {why}"
        return None
    a = np.asarray(out)
    kind = a.dtype
    a = a.astype(np.float64) if a.dtype.kind in "biuf" else a
    if a.shape != np.shape(ref):
        return f"returned shape {a.shape}, expected {np.shape(ref)}"
    with np.errstate(invalid="ignore"):
        err = float(np.max(np.abs(a - ref), initial=0.0))
    if not np.allclose(a, ref, rtol=1e-10, atol=1e-12, equal_nan=False):
        why = f"max abs error {err:.1e} against the reference values"
        if kind != np.float64:
            why += (f" (your output is {kind}; values are compared in float64 to a relative "
                    f"1e-10, so compute in float64 like the inputs)")
        return why
    return None


def _model_check(ex, rng, judge, key):
    mc = ex.model
    kwargs = {**mc.kwargs, "dtype": "float64", "random_state": 0, "verbose": False}
    ref = resolver()(mc.cls)(**kwargs)
    seed = int(rng.integers(2**31))
    ref.initialize(mc.n_features, random_state=seed)
    X = rng.uniform(0.05, 0.95, (mc.batch, mc.n_features))
    noise = ref.sample_noise(X, rng) if mc.noise else None
    params = perturbed_point(ref.params_, seed=seed)   # no bias exactly 0 (gradcheck)
    call = Call(f"{mc.cls}.loss_and_grads", (X, noise, None, params), self_kwargs=kwargs,
                setup=(("initialize", (mc.n_features, seed)),))
    outcome, failed = _run(judge, "model", mc.label, call, key)
    if failed:
        failed.hint = ""
        return failed
    out = outcome.out
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
            random = case_def.label == "random"
            if ex.kind == "backward":
                res, _ = _gradient_check(ex, case, rng, judge, label, key, random=random)
            else:
                judge_fn = functools.partial(values_judge, names=ex.outputs)
                res = _output_check(ex, "values", label, case, judge_fn, judge, key,
                                    errstate=None, rng=rng, random=random)
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
