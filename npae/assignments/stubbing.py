"""Source surgery by syntax tree: stubs, redacted equations, taken functions, leaks.

Everything works from the source as it is at build time, by qualname (never by line
number), so edits to npae's modules do not break an assignment.

* :func:`stub_functions` replaces each exercise's body by
  ``raise NotImplementedError("q1: implement kl_sparsity_grad — see ASSIGNMENT.md")``,
  keeping its signature, decorators and docstring;
* :func:`redact_docstrings` replaces the equations that give an answer away — a line
  ``(P7)  ∂R/∂ρ̂_j = …`` (a numbered tag followed by two spaces, npae's equation
  layout) and its continuation lines — by ``(P7)  derive this``;
* :func:`take_functions` puts a submission's version of each exercise function into
  the pristine student file (the pristine decorators kept); everything else of the
  submission is ignored, and :func:`outside_edits` says whether there was any;
* :func:`leak_report` compares normalized syntax trees: every solution body against
  every function body of the student files (names normalized), and every sizeable
  expression of a solution body against every expression there, except expressions
  that also occur in the kept reference code (the forward pass the student keeps).
"""
from __future__ import annotations

import ast
import re
import textwrap

MIN_EXPR_NODES = 7          # smaller expressions (``h.shape[0]``) are everywhere
MIN_BODY_NODES = 4


def find_def(tree, qualname):
    """The FunctionDef of ``qualname`` (``f`` or ``Class.method``) in a module tree, or None."""
    body = tree.body
    node = None
    for part in qualname.split("."):
        node = next((n for n in body if isinstance(n, (ast.FunctionDef, ast.ClassDef,
                                                       ast.AsyncFunctionDef))
                     and n.name == part), None)
        if node is None:
            return None
        body = node.body
    return node if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None


def _docstring_node(fn):
    first = fn.body[0] if fn.body else None
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        return first
    return None


def stub_functions(source, stubs):
    """``stubs`` maps qualname -> message; returns the source with those bodies stubbed."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    edits = []
    for qualname, message in stubs.items():
        fn = find_def(tree, qualname)
        if fn is None:
            raise LookupError(f"{qualname} is not defined in this module")
        doc = _docstring_node(fn)
        rest = fn.body[1:] if doc else fn.body
        indent = " " * (fn.body[0].col_offset)
        stub = f"{indent}raise NotImplementedError({message!r})\n"
        if not rest:                               # a docstring-only body
            edits.append((doc.end_lineno, doc.end_lineno, stub))
        elif rest[0].lineno == fn.lineno:
            raise ValueError(f"{qualname}: a body on the def line cannot be stubbed")
        else:
            edits.append((rest[0].lineno - 1, fn.end_lineno, stub))
    for start, end, text in sorted(edits, reverse=True):
        lines[start:end] = [text]
    return "".join(lines)


def _docstring_ranges(tree):
    nodes = [tree] + [n for n in ast.walk(tree)
                      if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    for node in nodes:
        doc = _docstring_node(node) if node.body else None
        if doc is not None:
            yield doc.lineno - 1, doc.end_lineno


def redact_lines(lines, tags=(), patterns=()):
    """Redact tagged equation lines (and their continuations) and ``patterns`` in ``lines``."""
    tag_re = [re.compile(rf"^(\s*)\(({re.escape(t)})\)(\s{{2,}})\S") for t in tags]
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        m = next((r.match(line) for r in tag_re if r.match(line)), None)
        if m:
            end = "\n" if line.endswith("\n") else ""
            out.append(f"{m.group(1)}({m.group(2)}){m.group(3)}derive this{end}")
            depth = len(m.group(1))
            i += 1
            while i < len(lines) and lines[i].strip() and \
                    len(lines[i]) - len(lines[i].lstrip()) > depth and \
                    not re.match(r"^\s*\([A-Z]+\d+[a-z]?\)", lines[i]):
                i += 1                             # a continuation line of the equation
            continue
        for pattern, replacement in patterns:
            line = re.sub(pattern, replacement, line)
        out.append(line)
        i += 1
    return out


def redact_docstrings(source, tags=(), patterns=()):
    """Apply :func:`redact_lines` inside every docstring of the module (nowhere else)."""
    if not tags and not patterns:
        return source
    lines = source.splitlines(keepends=True)
    for start, end in sorted(_docstring_ranges(ast.parse(source)), reverse=True):
        lines[start:end] = redact_lines(lines[start:end], tags, patterns)
    return "".join(lines)


def take_functions(pristine, submission, qualnames):
    """``pristine`` with each of ``qualnames`` replaced by its definition in ``submission``.

    Returns ``(source, taken)``: ``taken`` lists the qualnames found in the submission
    (a missing one keeps the pristine stub). Raises SyntaxError if the submission does
    not parse.
    """
    sub_tree = ast.parse(submission)
    sub_lines = submission.splitlines(keepends=True)
    return _put(pristine, {q: (find_def(sub_tree, q), sub_lines) for q in qualnames})


def put_function(pristine, qualname, fn_source, name=None):
    """``pristine`` with ``qualname``'s definition replaced by the def in ``fn_source``."""
    fn_source = textwrap.dedent(fn_source)
    tree = ast.parse(fn_source)
    fn = next(n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
    lines = fn_source.splitlines(keepends=True)
    if name and fn.name != name:
        lines[fn.lineno - 1] = re.sub(rf"\bdef\s+{re.escape(fn.name)}\b", f"def {name}",
                                      lines[fn.lineno - 1], count=1)
    return _put(pristine, {qualname: (fn, lines)})[0]


def _put(pristine, donors):
    tree = ast.parse(pristine)
    lines = pristine.splitlines(keepends=True)
    edits, taken = [], []
    for qualname, (donor, donor_lines) in donors.items():
        target = find_def(tree, qualname)
        if target is None:
            raise LookupError(f"{qualname} is not defined in the student file")
        if donor is None:
            continue
        taken.append(qualname)
        text = textwrap.dedent("".join(donor_lines[donor.lineno - 1:donor.end_lineno]))
        text = textwrap.indent(text, " " * target.col_offset)
        if not text.endswith("\n"):
            text += "\n"
        edits.append((target.lineno - 1, target.end_lineno, text))   # decorators kept
    for start, end, text in sorted(edits, reverse=True):
        lines[start:end] = [text]
    return "".join(lines), taken


def _without(tree, qualnames):
    for q in qualnames:
        fn = find_def(tree, q)
        if fn is not None:
            fn.body = [ast.Pass()]
            fn.decorator_list = []
    return ast.dump(tree, include_attributes=False)


def outside_edits(pristine, submission, qualnames):
    """True when ``submission`` differs from ``pristine`` outside the exercise functions."""
    return _without(ast.parse(pristine), qualnames) != _without(ast.parse(submission), qualnames)


# -- the leak check -------------------------------------------------------------------------

def _size(node):
    return sum(1 for n in ast.walk(node)
               if not isinstance(n, (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop,
                                     ast.boolop)))


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


def normalized_body(fn):
    """The body of ``fn`` without its docstring, names normalized, as a dump string."""
    body = fn.body[1:] if _docstring_node(fn) else fn.body
    module = ast.Module(body=[ast.parse(ast.unparse(s)).body[0] for s in body],
                        type_ignores=[])
    args = ast.parse(f"def f({ast.unparse(fn.args)}): pass").body[0].args
    renamer = _Rename()
    renamer.visit(args)
    return _dump(renamer.visit(module))


def solution_expressions(fn):
    """Dumps of the sizeable expressions of ``fn``'s body (its docstring left out)."""
    body = fn.body[1:] if _docstring_node(fn) else fn.body
    found = {}
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.expr) and _size(node) >= MIN_EXPR_NODES:
                found.setdefault(_dump(node), ast.unparse(node))
    return found


def all_expressions(tree):
    """``{dump: first line}`` for every expression of a module (with its line)."""
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.expr) and hasattr(node, "lineno"):
            found.setdefault(_dump(node), node.lineno)
    return found


def function_bodies(tree):
    """``(qualname-ish name, line, normalized body)`` for every function of a module."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            yield node.name, node.lineno, normalized_body(node)


def leak_report(solutions, kept_expressions, student_files):
    """Leaks of the solutions into the student files, one line each (empty: no leak).

    ``solutions``: ``{label: FunctionDef}`` of the reference's exercise functions;
    ``kept_expressions``: dumps of expressions of the reference's kept code;
    ``student_files``: ``{relative path: source}`` (Python files only).
    """
    bodies = {label: normalized_body(fn) for label, fn in solutions.items()
              if _size(ast.Module(body=fn.body, type_ignores=[])) >= MIN_BODY_NODES}
    exprs = {}
    for label, fn in solutions.items():
        for dump, text in solution_expressions(fn).items():
            if dump not in kept_expressions:
                exprs.setdefault(dump, (label, text))
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
        for dump, lineno in all_expressions(tree).items():
            if dump in exprs:
                label, text = exprs[dump]
                lines.append(f"{path}:{lineno}: `{text}` is from the solution of {label}")
    return lines


def leaking_lines(solutions, kept_expressions, source):
    """Line numbers of ``source`` where a solution expression occurs."""
    exprs = set()
    for fn in solutions.values():
        exprs |= {d for d in solution_expressions(fn) if d not in kept_expressions}
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.expr) and hasattr(node, "lineno") and _dump(node) in exprs}
