"""Does an answer survive in the hand-out? Three checks of a built student/ folder.

The build (:mod:`.build`) redacts what each exercise declares (its equation tags, in
its module and in every other file that restates them, and the functions that compute
the same thing). These checks do not trust that list: they look for the answer itself.

* Textual, :func:`text_leaks`: every formula that a redacted equation states (the
  right-hand side of each relation of the tagged lines in the reference) is
  :func:`normalize`\\ d — whitespace, ``*``, ``·`` and ``⊙`` dropped, Unicode and LaTeX
  operators and Greek letters spelled the same way as in ASCII code
  (``1 − ρ̂_j`` and ``1 - rho_hat`` read alike), index subscripts dropped — and looked
  for in every text file of student/, one line (or two joined) at a time.
* Syntax trees, :func:`ast_leaks`: every solution body against every function body of
  the student's Python files (names normalized), and every sizeable expression of a
  solution against every expression there (as written, and for a larger one that holds
  a number also with names, attribute chains and subscripts of its leaves normalized,
  ``1`` and ``1.0`` alike), except the expressions that also
  occur in the kept reference code (the forward pass the student keeps).
* Numerical, :func:`numeric_leaks`: in a separate process that imports the student
  build, every function of every npae module (module-level functions, static and
  class methods, and every method of the exercise's class for a method exercise, on
  an instance in the state :attr:`.Exercise.leak_state` describes) is called on each
  question's public case — its arguments bound by name (the exercise's parameter names
  and the case's keys), or else by position (the exercise's own arguments; not for
  npae.assignments, npae.cli and npae.datasets, which take paths) — and none may
  return the reference's answer (to rtol 1e-5), nor its exp or log. Parts of the
  answer that are an input of the call (dμ = dz) or constant are not looked for.

Each finding is one line naming the file and line (for a function: where it is
defined) and the question it gives away; the build fails on any.
"""
from __future__ import annotations

import ast
import inspect
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path

import numpy as np

from . import stubbing
from .grading import materialize_call
from .worker import Obj, Ref, execute, resolver

TEXT_SUFFIXES = (".py", ".md", ".txt", ".rst", ".cfg", ".toml", ".ipynb", ".json", ".tex")
MIN_FORMULA = 7             # normalized characters: shorter pieces (``mu``, ``dz``) are no answer
MIN_EXPR_NODES = 7          # smaller expressions (``h.shape[0]``) are everywhere
MIN_BODY_NODES = 4


# -- textual ------------------------------------------------------------------------------

_LATEX = [(r"\\[td]?frac\s*\{?1\}?\s*\{?2\}?", "1/2"), (r"\\hat\s*\{?\\rho\}?", "ρ̂"),
          (r"\\hat\s*\{?(\w)\}?", r"\1̂"), (r"\\tilde\s*\{?(\w)\}?", r"\1̃"),
          (r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big|mathrm|operatorname|text)\b", ""),
          (r"\\[,;:! ]", ""), (r"\\mathbb\s*\{?E\}?", "E"),
          (r"\\(?:odot|cdot|times|ast)\b", "*"), (r"\\(?:var)?epsilon\b", "ε"),
          (r"\\sum\b", "Σ"), (r"\\partial\b", "∂"), (r"\\(?:log|exp|sqrt)\b", "")]
_GREEK = {"ρ": "rho", "β": "beta", "λ": "lam", "σ": "sigma", "μ": "mu", "ε": "eps",
          "π": "pi", "γ": "gamma", "δ": "delta", "θ": "theta", "ν": "nu", "α": "alpha",
          "κ": "kappa", "τ": "tau", "ϵ": "eps", "φ": "phi", "Σ": "sum", "∑": "sum",
          "∂": "d", "ℒ": "L"}
_LATEX_GREEK = r"\\(rho|beta|lambda|sigma|mu|pi|gamma|delta|theta|nu|alpha|kappa|tau|phi|Sigma)\b"
_OPS = {"−": "-", "–": "-", "—": "-", "∕": "/", "÷": "/", "‖": "|", "ᵀ": "^T", "⁻¹": "^-1",
        "²": "^2", "³": "^3", "½": "1/2", "¼": "1/4", "√": "sqrt", "⇒": "=>", "·": "",
        "⊙": "", "×": "", "∘": "", "⋅": "", "∗": ""}
_SYNONYMS = [(r"\blogvar\b", "logsigma^2"), (r"\blog_var\b", "logsigma^2"),
             (r"\bstd\b", "sigma"), (r"\b(?:np|numpy|math)\.", ""), (r"\*\*", "^"),
             (r"\b0\.5\b", "1/2"), (r"\blambda\b", "lam"), (r"_hat\b", "hat"),
             (r"\blam_?\w?\b", "lam")]


def normalize(text):
    """A formula as a comparable string: ``ρ̂_j (1 − ρ̂_j) · σ²``,
    ``rho_hat * (1 - rho_hat) * std**2`` and ``\\hat\\rho (1 - \\hat\\rho)\\,\\sigma^2``
    all read ``rhohat(1-rhohat)sigma^2``."""
    for pattern, repl in _LATEX:
        text = re.sub(pattern, repl, text)
    text = re.sub(_LATEX_GREEK, lambda m: {"lambda": "λ", "Sigma": "Σ"}.get(
        m.group(1), m.group(1)), text)
    text = unicodedata.normalize("NFC", text)
    text = re.sub(r"(\w)\u0302", r"\1hat", text)        # ρ̂ -> ρhat
    text = re.sub(r"(\w)\u0303", r"\1tilde", text)      # X̃ -> Xtilde
    for a, b in _OPS.items():
        text = text.replace(a, b)
    for a, b in _GREEK.items():
        text = text.replace(a, b)
    text = text.replace("{", "").replace("}", "").replace("\\", "")
    for pattern, repl in _SYNONYMS:
        text = re.sub(pattern, repl, text)
    text = re.sub(r"exp\(\s*log\s*sigma\s*\^2\s*\)|e\^\s*log\s*sigma\s*\^2", "sigma^2", text)
    text = re.sub(r"exp\(\s*1/2\s*\*?\s*log\s*sigma\s*\^2\s*\)", "sigma", text)
    text = re.sub(r"(?<=[A-Za-z'^0-9])_[A-Za-z0-9,]{1,3}\b", "", text)   # index subscripts
    text = re.sub(r"[\s*]", "", text).replace("[", "(").replace("]", ")")
    return text.strip(".,;:")


def _formula_like(chunk):
    """A chunk of an equation line that is math, not a comment in words."""
    return len(re.findall(r"\b[a-z]{4,}\b", chunk)) <= 1


def _pieces(text):
    """What one equation line states: the right-hand side of each relation, and the
    chunks of math after it (an alternative ``… or (1/B) β …``), comments in words left
    out; tag references ``(P4)`` dropped."""
    found = []
    text = re.sub(r"\((?:[a-z]+ )?[A-Z]+\d+[a-z]?\)", "", text)
    stated = False
    for chunk in re.split(r"\s{3,}", text):
        parts = re.split(r"=>|⇒|←|≈|∝|(?<![<>!=+\-])=(?!=)", chunk)
        if len(parts) >= 2:
            stated, pieces = True, parts[1:]
        elif stated and _formula_like(chunk):
            pieces = [chunk]
        else:
            continue
        for piece in (p for whole in pieces for p in _top_level(whole)):
            norm = normalize(piece)
            if norm.count("(") != norm.count(")"):
                norm = norm.strip("()")
            if _states_something(norm):
                found.append((piece.strip(), norm))
    return found


def _top_level(text):
    """``text`` split at its commas outside brackets (``a = f(x, y),  b = …``)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth <= 0:
            parts.append(text[start:i])
            start = i + 1
    return parts + [text[start:]]


def _states_something(norm):
    """A piece worth looking for: long enough, and an operation left once derivative
    names (``dR/drhohat``), sums and brackets are taken out."""
    if len(norm) < MIN_FORMULA:
        return False
    rest = re.sub(r"d[A-Za-z']+(\^\w)?/d[A-Za-z']+(\^\w)?|sum|[(),|]", "", norm)
    return re.search(r"[-+/]", rest) is not None


def formulas(root, where):
    """``[(label, text, normalized)]`` of the formulas stated by the redacted equations.

    ``where`` holds ``(relative path, tags, patterns, label)``: the equations of
    ``tags`` in the reference file ``root / path`` and its docstring lines matched by
    ``patterns`` (regexes); ``label`` names the question (``"q2 (P13)"``).
    """
    found, seen = [], set()
    for rel, tags, patterns, label in where:
        path = Path(root) / rel
        if not path.is_file():
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        chunks = []
        for start, end, tag in stubbing.equation_spans(lines, tags):
            body = re.sub(r"^\s*(?:#\s*)?\([A-Z]+\d+[a-z]?\)", "", lines[start])
            chunks += [(f"{label} ({tag}) in {rel}", line)
                       for line in [body] + lines[start + 1:end]]
        stated = []
        for pattern, replacement in patterns:          # what the pattern takes out
            for line in lines:
                kept = re.sub(pattern, replacement, line)
                if kept != line:
                    cut = line[len(os.path.commonprefix([line, kept])):]
                    stated.append((f"{label} in {rel}", "= " + cut))
        for what, line in chunks + stated:
            for text, norm in _pieces(line):
                if norm not in seen:
                    seen.add(norm)
                    found.append((what, text, norm))
    return found


def _text_files(student):
    for path in sorted(Path(student).rglob("*")):
        if path.is_file() and path.suffix in TEXT_SUFFIXES and "__pycache__" not in path.parts:
            yield path


def text_leaks(student, found, skip=()):
    """One line per place in student/ where a formula of ``found`` (:func:`formulas`)
    is written (``tests/test_x.py:12: `…` of q4 (E6) in npae/models/vae.py is written
    here``)."""
    lines_out = []
    for path in _text_files(student):
        rel = str(path.relative_to(student))
        if rel in skip:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        whole = normalize(text)                   # one pass first: most files hold none
        if not any(formula in whole for _, _, formula in found):
            continue
        norms = [normalize(line) for line in text.splitlines()]
        for i, norm in enumerate(norms):
            pair = norm + (norms[i + 1] if i + 1 < len(norms) else "")
            after = norms[i + 1] if i + 1 < len(norms) else ""
            for what, text, formula in found:
                if formula in norm or (formula in pair and formula not in after):
                    lines_out.append(f"{rel}:{i + 1}: `{text}` of {what} is written here")
                    break                             # one finding per line
    return lines_out


def containing_formula(text, found):
    """True when ``text`` states one of the formulas ``found`` (normalized)."""
    norm = normalize(" ".join(text.split("\n")))
    return any(formula in norm for _, _, formula in found)


# -- syntax trees -------------------------------------------------------------------------

def _dump(node):
    return ast.dump(node, include_attributes=False)


class _Rename(ast.NodeTransformer):
    """Rename every argument and name to v0, v1, … in order of appearance."""

    def __init__(self):
        self.names = {}

    def _new(self, name):
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_Name(self, node):
        return ast.Name(id=self._new(node.id), ctx=node.ctx)

    def visit_arg(self, node):
        return ast.arg(arg=self._new(node.arg))


_NOT_COUNTED = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)


def _is_number(node):
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


def _serial(node, memo):
    """``(exact, loose, size, has a number)`` of a node, built once per node from its
    children's (``memo``, by id): exact is its structure with every name; in loose, every
    operand that is a variable — a name, ``a.b``, ``p["logvar"]`` — is ``v`` (called
    functions keep their names) and every number a float."""
    found = memo.get(id(node))
    if found is not None:
        return found
    size = 0 if isinstance(node, _NOT_COUNTED) else 1
    number = _is_number(node)
    exact, loose = [], []
    for field, value in ast.iter_fields(node):
        items = value if isinstance(value, list) else [value]
        e_items, l_items = [], []
        for item in items:
            if isinstance(item, ast.AST):
                e, lo, n_size, n_number = _serial(item, memo)
                size, number = size + n_size, number or n_number
            else:
                e = lo = repr(item)
            e_items.append(e)
            l_items.append(e if isinstance(node, ast.Call) and field == "func" else lo)
        exact.append(f"{field}=[{','.join(e_items)}]")
        loose.append(f"{field}=[{','.join(l_items)}]")
    kind = type(node).__name__
    if isinstance(node, (ast.Name, ast.Attribute)) or (
            isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)):
        loose_text = "v"
    elif _is_number(node):
        loose_text = f"C({float(node.value)!r})"
    else:
        loose_text = f"{kind}({';'.join(loose)})"
    found = (f"{kind}({';'.join(exact)})", loose_text, size, number)
    memo[id(node)] = found
    return found


def _size(node):
    return _serial(node, {})[2]


def _expr_keys(node, memo):
    """The exact key of an expression (names kept), and for one of more than
    ``MIN_EXPR_NODES`` nodes that holds a number, its loose key
    (``0.5 * (np.exp(p["logvar"]) - 1)`` is ``0.5 * (np.exp(logvar) - 1.0)``)."""
    exact, loose, size, number = _serial(node, memo)
    return ["x" + exact, "l" + loose] if size > MIN_EXPR_NODES and number else ["x" + exact]


def normalized_body(fn):
    """The body of ``fn`` without its docstring, names normalized, as a dump string."""
    body = fn.body[1:] if stubbing._docstring_node(fn) else fn.body
    module = ast.Module(body=[ast.parse(ast.unparse(s)).body[0] for s in body],
                        type_ignores=[])
    args = ast.parse(f"def f({ast.unparse(fn.args)}): pass").body[0].args
    renamer = _Rename()
    renamer.visit(args)
    return _dump(renamer.visit(module))


def solution_expressions(fn):
    """``{key: text}`` of the sizeable expressions of ``fn``'s body (docstring left out)."""
    body = fn.body[1:] if stubbing._docstring_node(fn) else fn.body
    found, memo = {}, {}
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.expr) and _serial(node, memo)[2] >= MIN_EXPR_NODES:
                for key in _expr_keys(node, memo):
                    found.setdefault(key, ast.unparse(node))
    return found


def all_expressions(tree):
    """``{key: first line}`` for every expression of a module."""
    found, memo = {}, {}
    for node in ast.walk(tree):
        if isinstance(node, ast.expr) and hasattr(node, "lineno"):
            for key in _expr_keys(node, memo):
                found.setdefault(key, node.lineno)
    return found


def function_bodies(tree):
    """``(name, line, normalized body)`` for every function of a module."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            yield node.name, node.lineno, normalized_body(node)


def _secret_expressions(solutions, kept_expressions):
    exprs = {}
    for label, fn in solutions.items():
        for key, text in solution_expressions(fn).items():
            if key not in kept_expressions:
                exprs.setdefault(key, (label, text))
    return exprs


def ast_leaks(solutions, kept_expressions, student_files):
    """Leaks of the solutions into the student files, one line each (empty: no leak).

    ``solutions``: ``{label: FunctionDef}`` of the reference's exercise functions;
    ``kept_expressions``: keys of expressions of the reference's kept code
    (:func:`all_expressions`); ``student_files``: ``{relative path: source}``.
    """
    bodies = {label: normalized_body(fn) for label, fn in solutions.items()
              if _size(ast.Module(body=fn.body, type_ignores=[])) >= MIN_BODY_NODES}
    exprs = _secret_expressions(solutions, kept_expressions)
    lines = []
    for path, source in sorted(student_files.items()):
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for name, lineno, body in function_bodies(tree):
            for label, sol in bodies.items():
                if body == sol:
                    lines.append(f"{path}:{lineno}: the body of {name} is the solution of "
                                 f"{label}")
        reported = set()
        for key, lineno in all_expressions(tree).items():
            if key in exprs and (lineno, exprs[key]) not in reported:
                reported.add((lineno, exprs[key]))
                label, text = exprs[key]
                lines.append(f"{path}:{lineno}: `{text}` is from the solution of {label}")
    return lines


def leaking_lines(solutions, kept_expressions, source):
    """Line numbers of ``source`` where a solution expression occurs."""
    exprs = _secret_expressions(solutions, kept_expressions)
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    memo = {}
    return {node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.expr) and hasattr(node, "lineno")
            and any(key in exprs for key in _expr_keys(node, memo))}


# -- numerical ----------------------------------------------------------------------------

def _flat_arrays(value):
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return [value.astype(np.float64)]
    if isinstance(value, (float, np.floating)):
        return [np.asarray(float(value))]
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _flat_arrays(v)]
    if isinstance(value, dict):
        return [a for v in value.values() for a in _flat_arrays(v)]
    return []


def _secrets(out, inputs):
    """The parts of a reference output worth looking for: not an input, not constant."""
    found = []
    for a in _flat_arrays(out):
        if a.size == 0 or not np.isfinite(a).all() or (a.size > 1 and np.ptp(a) == 0):
            continue
        if a.size == 1 and float(a) in (0.0, 1.0, -1.0):
            continue
        if any(np.shape(x) == a.shape and np.allclose(x, a) for x in inputs):
            continue
        found.append(a)
    return found


def probe_payload(assignment, public_seed):
    """What the probe process needs for each question: its public cases as arguments
    (by name and by position) and the reference's answer to each."""
    resolve = resolver()
    questions = []
    for q in assignment.questions:
        ex = q.ex
        rng = np.random.default_rng(public_seed(assignment.title, q.id))
        fn = resolve(ex.id)
        params = [p for p in inspect.signature(fn).parameters if p != "self"]
        for case_def in ex.cases:
            case = case_def.draw(rng)
            if ex.kind == "backward":
                forward, inputs, _ = ex.oracle(case)
                call = ex.call(case, rng.standard_normal(np.shape(forward(*inputs))))
            else:
                call = ex.call(case)
            if any(isinstance(a, (Obj, Ref)) for a in call.args) or getattr(call, "setup", ()):
                continue                             # objects of the build: not bindable
            out, _, _ = execute(materialize_call(call, resolve), resolve)
            named = {k: v for k, v in case.items() if isinstance(v, (np.ndarray, float, int))}
            named.update(call.self_kwargs or {})
            named.update(dict(zip(params, call.args)))
            inputs = _flat_arrays(list(named.values()))
            secrets = _secrets(out, inputs)
            if not secrets:
                continue
            state = ex.leak_state(case) if ex.leak_state else {}
            questions.append(dict(
                qid=q.id, exercise=ex.id, case=case_def.label, args=tuple(call.args),
                named=named, answers=secrets,
                cls=(f"{ex.module}:{ex.qualname.rsplit('.', 1)[0]}"
                     if call.self_kwargs is not None else None),
                self_kwargs=call.self_kwargs or {}, state=state))
    return questions


def numeric_leaks(student, questions, skip=(), timeout=300.0):
    """Run :mod:`.leakprobe` on the student build; one line per function that returns an
    answer (``npae/penalties.py:240: kl_grad(h, rho, beta) returns the answer of q1 …``)
    and per module of the build that does not import."""
    student = Path(student).resolve()
    with tempfile.TemporaryDirectory(prefix="npae-leakprobe-") as tmp:
        payload = Path(tmp) / "payload.pkl"
        payload.write_bytes(pickle.dumps(dict(questions=questions, skip=sorted(skip))))
        report = Path(tmp) / "report.jsonl"
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp,
               "MPLBACKEND": "Agg", "NPAE_DATA": str(Path(tmp) / "no-data"),
               "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        probe = Path(__file__).with_name("leakprobe.py")
        try:
            subprocess.run([sys.executable, "-I", "-B", str(probe), str(student), str(payload),
                            str(report)], cwd=tmp, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=timeout, check=False)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
        records = [json.loads(line) for line in report.read_text().splitlines()] \
            if report.exists() else []
    lines, running, done, seen = [], None, False, set()
    for r in records:
        if r["kind"] == "running":
            running = r["where"]
        elif r["kind"] == "done":
            done = True
        elif r["kind"] == "import":
            lines.append(f"{r['file']}: does not import in the student build ({r['error']})")
        elif r["kind"] == "leak" and (r["file"], r["line"], r["qid"]) not in seen:
            seen.add((r["file"], r["line"], r["qid"]))                 # once, whatever the case
            lines.append(f"{r['file']}:{r['line']}: {r['call']} returns the answer of "
                         f"{r['qid']} ({r['exercise']}) on its public {r['case']} case")
    if not done:
        why = "timed out" if timed_out else "stopped"
        lines.append(f"the numerical leak check {why}" + (f" in {running}" if running else ""))
    return lines
