"""Source surgery by syntax tree and by line: stubs, redacted equations, taken functions.

Everything works from the source as it is at build time, by qualname or equation tag
(never by line number), so edits to npae's modules do not break an assignment.

* :func:`stub_functions` replaces each exercise's body by
  ``raise NotImplementedError("q1: implement kl_sparsity_grad — see ASSIGNMENT.md")``,
  keeping its signature, decorators and docstring; a function that computes the same
  answer by another route is stubbed too, its docstring cut to its summary line, or
  its body replaced by one that goes through the exercise (``GaussianMixture.predict``
  through ``_e_step``);
* :func:`redact_lines` and :func:`redact_source` replace an equation that gives an
  answer away — a line ``(P7)  ∂R/∂ρ̂_j = …`` (a tag at the start of a line, in a
  docstring, a comment or a Markdown file, followed by a relation) and its
  continuation lines — by ``(P7): derive this — question q1``;
  :func:`equation_spans` finds those lines (the leak check reads the formulas there);
* :func:`take_functions` puts a submission's version of each exercise function into
  the pristine student file (the pristine decorators kept); everything else of the
  submission is ignored, and :func:`outside_edits` says whether there was any.

The leak checks are in :mod:`.leaks`.
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
    """``stubs`` maps qualname -> message, or -> ``(message, body)``; returns the source
    with those functions stubbed.

    A message alone: the body raises ``NotImplementedError(message)`` (the docstring
    kept). With a ``body`` (source lines at indentation 0): the docstring is cut to its
    summary line and followed by ``body`` when it is a string, or by the ``raise`` when it
    is None (a function that would give the answer away by another route).
    """
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    edits = []
    for qualname, spec in stubs.items():
        message, body = (spec, ...) if isinstance(spec, str) else spec
        fn = find_def(tree, qualname)
        if fn is None:
            raise LookupError(f"{qualname} is not defined in this module")
        doc = _docstring_node(fn)
        rest = fn.body[1:] if doc else fn.body
        indent = " " * (fn.body[0].col_offset)
        stub = f"{indent}raise NotImplementedError({message!r})\n"
        if body is not ...:                        # summary line only, then the new body
            summary = doc.value.value.strip().splitlines()[0] if doc else ""
            head = f'{indent}"""{summary}"""\n' if summary else ""
            text = textwrap.indent(body.rstrip() + "\n", indent) if body else stub
            if fn.body[0].lineno == fn.lineno:
                raise ValueError(f"{qualname}: a body on the def line cannot be stubbed")
            edits.append((fn.body[0].lineno - 1, fn.end_lineno, head + text))
        elif not rest:                             # a docstring-only body
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


RELATIONS = ("=", "←", "≈", "∝", "⇒")
_TAG_LINE = re.compile(r"^(\s*(?:#\s*)?)\(([A-Z]+\d+[a-z]?)\)(\s+)(\S.*)$")


def _indent(line):
    """Indentation of a line, inside a comment for a comment line (``#   more``)."""
    m = re.match(r"^(\s*)(#?)(\s*)", line)
    return len(m.group(1)) + len(m.group(3)) + (1 if m.group(2) else 0), bool(m.group(2))


def equation_spans(lines, tags):
    """``(start, end, tag)`` of every equation ``(tag)`` in ``lines`` (end exclusive).

    An equation starts a line (after indentation, or ``#`` in a comment) with its tag,
    whitespace and a relation (=, ←, ≈, ∝, ⇒) somewhere after it — so ``(P7) is prose``
    is not one; its continuation lines are the next non-blank lines indented deeper
    (comment lines for a comment) that do not start another tag.
    """
    tags = set(tags)
    i = 0
    while i < len(lines):
        m = _TAG_LINE.match(lines[i].rstrip("\n"))
        if m and m.group(2) in tags and any(r in m.group(4) for r in RELATIONS):
            depth, comment = _indent(lines[i])
            j = i + 1
            while j < len(lines) and lines[j].strip() and lines[j].strip() != "#":
                d, c = _indent(lines[j])
                if d <= depth or c != comment or \
                        re.match(r"^\s*(?:#\s*)?\([A-Z]+\d+[a-z]?\)", lines[j]):
                    break
                j += 1                             # a continuation line of the equation
            yield i, j, m.group(2)
            i = j
        else:
            i += 1


def redact_lines(lines, tags=(), patterns=()):
    """``lines`` with each equation of ``tags`` (and its continuations) replaced by
    ``(P7): derive this — question q1`` and ``patterns`` (regex, replacement) applied.

    ``tags`` maps a tag to its note (``"question q1"``); a plain list of tags gets none.
    """
    notes = tags if isinstance(tags, dict) else {t: "" for t in tags}
    spans = {i: (j, tag) for i, j, tag in equation_spans(lines, notes)}
    out, i = [], 0
    while i < len(lines):
        if i in spans:
            j, tag = spans[i]
            m = _TAG_LINE.match(lines[i].rstrip("\n"))
            end = "\n" if lines[j - 1].endswith("\n") else ""
            note = f" — {notes[tag]}" if notes[tag] else ""
            out.append(f"{m.group(1)}({tag}): derive this{note}{end}")
            i = j
            continue
        line = lines[i]
        for pattern, replacement in patterns:
            line = re.sub(pattern, replacement, line)
        out.append(line)
        i += 1
    return out


def redact_source(source, tags=(), patterns=()):
    """:func:`redact_lines` on every line of a Python module for ``tags`` (docstrings and
    comments alike), with ``patterns`` applied inside docstrings only."""
    if not tags and not patterns:
        return source
    lines = redact_lines(source.splitlines(keepends=True), tags)
    redacted = "".join(lines)
    if patterns:
        for start, end in sorted(_docstring_ranges(ast.parse(redacted)), reverse=True):
            lines[start:end] = redact_lines(lines[start:end], (), patterns)
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
