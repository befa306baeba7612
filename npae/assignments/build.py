"""``npae assignment build SPEC --out DIR``: student/, autograder/ and solutions/.

The build works in a temporary folder next to DIR and renames it into place only
when every check passed, so a failed build leaves nothing behind and never touches an
existing DIR. It fails, with one line per problem, when

* the reference does not score full marks on a question (through the real grader:
  the worker process and the per-student cases of a submission named "reference");
* a known mistake (:mod:`.mutants`) of a question's exercise scores full marks;
* an answer is left in student/ (:mod:`.leaks`: a redacted formula written anywhere,
  a solution's code, or a function that returns the answer on a public case), or a
  module of student/ does not import.

student/ is the reference checkout with each exercise stubbed, every function that
computes its answer by another route stubbed or sent through the exercise
(``same_as``), every equation that states it redacted — in its module and in every
file that restates it (``answer_tags``) — the tests that name an exercise or state an
answer removed, the tutorial cells that derive one replaced, and a pytest hook that
skips a kept test when it reaches a stub (it runs once the question is answered).
"""
from __future__ import annotations

import ast
import inspect
import io
import json
import re
import secrets
import shutil
import tempfile
import textwrap
import time
import tokenize
import zipfile
from pathlib import Path

import numpy as np

from .. import __file__ as _npae_init
from . import leaks, stubbing
from .catalog import CATALOG
from .grading import (Judge, add_model_checks, check_question, describe, in_process_runner,
                      reference_judge)
from .mutants import mutants_of
from .spec import load_spec, module_path
from .worker import encode

NPAE = Path(_npae_init).resolve().parent              # the reference package
ROOT = NPAE.parent                                     # the checkout that holds it
TEACHER_ONLY = ("mutants.py", "build.py", "gradescope.py", "grade.py")
COPIED = ("npae", "tests", "tutorials", "docs", "README.md", "setup.cfg", "pyproject.toml",
          "LICENSE")
STUB = "{qid}: implement {name} — see ASSIGNMENT.md"


class BuildError(Exception):
    """The assignment cannot be built as specified; the message says why, line by line."""


def public_seed(title, qid):
    import hashlib
    return int(hashlib.sha256(f"public|{title}|{qid}".encode()).hexdigest()[:16], 16)


def _ignore(directory, names):
    skip = {n for n in names if n in ("__pycache__", ".git", ".pytest_cache")
            or n.endswith((".pyc", ".egg-info"))}
    if Path(directory).resolve() == NPAE / "assignments":
        skip |= set(TEACHER_ONLY)
    if Path(directory).name == "tests":
        skip |= {n for n in names if n.startswith("test_assignment")}
    return skip


def _copy_tree(dst):
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=_ignore)
        elif src.is_file():
            shutil.copy2(src, dst / name)


# -- the student files ----------------------------------------------------------------------

def _targets(assignment):
    """``{module: {qualname: stub}}`` for every question: the exercise (a message), its
    also_stub helpers and same_as functions (``(message, body or None)``)."""
    by_module = {}
    for q in assignment.questions:
        by_module.setdefault(q.ex.module, {})[q.ex.qualname] = STUB.format(
            qid=q.id, name=q.ex.qualname)
    for q in assignment.questions:             # an exercise stays an exercise (the student
        ex = q.ex                              # writes both when two compute one thing)
        away = (f"{q.id}: not part of the assignment's npae (it would give {ex.qualname} "
                f"away)")
        extras = [(f"{ex.module}:{extra}", None) for extra in ex.also_stub]
        for target, body in extras + list(ex.same_as_ids.items()):
            module, qualname = target.split(":")
            stubs = by_module.setdefault(module, {})
            if not isinstance(stubs.get(qualname), str):
                stubs[qualname] = (away, body)
    return by_module


def _redactions(assignment):
    """``{path: ({tag: "question q1"}, patterns)}``: what each file of student/ loses."""
    qids, patterns = {}, {}
    for q in assignment.questions:
        ex = q.ex
        own = str(module_path(ex.module))
        patterns.setdefault(own, []).extend(ex.redact)
        for path, tags in [(own, ex.tags)] + list(ex.answer_tags):
            for tag in tags:
                ids = qids.setdefault(str(path), {}).setdefault(tag, [])
                ids += [q.id] if q.id not in ids else []
    return {path: ({tag: ("questions " if len(ids) > 1 else "question ") + ", ".join(ids)
                    for tag, ids in qids.get(path, {}).items()}, patterns.get(path, []))
            for path in sorted(set(qids) | set(patterns))}


def _formulas(assignment):
    """The formulas the redacted equations state, per question (for the text check)."""
    where = []
    for q in assignment.questions:
        ex = q.ex
        where.append((module_path(ex.module), ex.tags, ex.redact, q.id))
        where += [(path, tags, (), q.id) for path, tags in ex.answer_tags]
    return leaks.formulas(ROOT, where)


def _write_student_modules(student, assignment):
    for module, stubs in _targets(assignment).items():
        path = student / module_path(module)
        path.write_text(stubbing.stub_functions(path.read_text(encoding="utf-8"), stubs),
                        encoding="utf-8")
    for rel, (notes, patterns) in _redactions(assignment).items():
        path = student / rel
        if not path.is_file():
            raise BuildError(f"{rel}: no such file to redact (answer_tags of the catalog)")
        source = path.read_text(encoding="utf-8")
        if path.suffix == ".py":
            source = stubbing.redact_source(source, notes, patterns)
        else:
            source = "".join(stubbing.redact_lines(source.splitlines(keepends=True), notes,
                                                   patterns))
        path.write_text(source, encoding="utf-8")


def _solutions(assignment):
    """``{label: FunctionDef}`` of the reference's exercise (and also_stub, same_as) functions."""
    found = {}
    for module, stubs in _targets(assignment).items():
        tree = ast.parse((ROOT / module_path(module)).read_text(encoding="utf-8"))
        for qualname in stubs:
            found[f"{module}:{qualname}"] = stubbing.find_def(tree, qualname)
    return found


def _kept_expressions(assignment):
    """Expressions of the reference package outside the exercise bodies (the kept code)."""
    targets = _targets(assignment)
    kept = set()
    for path in NPAE.rglob("*.py"):
        if "assignments" in path.relative_to(NPAE).parts[:1]:
            continue
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        source = path.read_text(encoding="utf-8")
        if module in targets:
            source = stubbing.stub_functions(source, targets[module])
        kept |= set(leaks.all_expressions(ast.parse(source)))
    return kept


def _mentions(text, exercise):
    parts = exercise.qualname.split(".")
    if len(parts) == 1:
        return re.search(rf"\b{re.escape(parts[0])}\b", text) is not None
    return (re.search(rf"\b{re.escape(parts[0])}\b", text) is not None
            and re.search(rf"\.{re.escape(parts[1])}\b", text) is not None)


def _gone(assignment):
    """Names of the functions that stay stubs for good (same_as without a new body)."""
    return {target.split(":")[1].split(".")[-1] for q in assignment.questions
            for target, body in q.ex.same_as_ids.items() if body is None}


STUB_HOOK = '''

# -- added by `npae assignment build` ---------------------------------------------------
# A kept test that reaches an assignment's stub is skipped (it runs once the question
# is answered); every other failure is still a failure.
import re as _re  # noqa: E402

_STUB = _re.compile(r"(implement \\S+ — see ASSIGNMENT\\.md|not part of the assignment's npae)")


def _stub_message(exc):
    """The stub's message when ``exc`` comes from one (through causes, every failure of
    an exception group as hypothesis reports them, or quoted with its traceback as
    scikit-learn's cross-validation does), else None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, NotImplementedError) and _STUB.search(str(exc)):
            return str(exc)
        quoted = _re.search(r"NotImplementedError: (.*)", str(exc))
        if quoted and _STUB.search(quoted.group(1)):
            return quoted.group(1)
        group = getattr(exc, "exceptions", None)
        if isinstance(group, (list, tuple)) and group:
            found = [_stub_message(e) for e in group]
            return found[0] if all(found) else None
        exc = exc.__cause__ or exc.__context__
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    message = _stub_message(call.excinfo.value) if report.failed and call.excinfo else None
    if message:
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {message}")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    text = str(report.longrepr) if report.failed else ""
    found = _STUB.search(text) if "NotImplementedError" in text else None
    if found:
        report.outcome, report.result = "skipped", []
        report.longrepr = (str(collector.path), 0,
                           f"Skipped: the module reaches a stub ({found.group(0)})")
'''


def _strip_tests(student, assignment, solutions, kept, found):
    """Remove the test functions that name an exercise or a function that stays a stub,
    or hold a solution expression or an answer formula; add the stub hook to conftest."""
    removed = []
    exercises = [q.ex for q in assignment.questions]
    gone = _gone(assignment)
    for path in sorted((student / "tests").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        leaking = leaks.leaking_lines(solutions, kept, source)
        tree = ast.parse(source)
        lines = source.splitlines(keepends=True)
        cut = []
        nodes = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]

        def span(node):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            return start, "".join(lines[start - 1:node.end_lineno])

        def leaks_here(node):
            start, text = span(node)
            return (any(start <= n <= node.end_lineno for n in leaking)
                    or leaks.containing_formula(text, found))
        # a helper that states an answer goes, and so does every test that uses it
        tainted = {n.name for n in nodes if not n.name.startswith(("test", "Test"))
                   and leaks_here(n)}
        for node in nodes:
            start, text = span(node)
            helper = node.name in tainted
            if helper or node.name.startswith(("test", "Test")) and (
                    any(_mentions(text, ex) for ex in exercises)
                    or any(re.search(rf"\b{re.escape(g)}\b", text) for g in gone | tainted)
                    or leaks_here(node)):
                cut.append((start, node.end_lineno, node.name))
        for start, end, name in sorted(cut, reverse=True):
            lines[start - 1:end] = [f"# {name} is not part of this assignment's npae (it "
                                    f"names or reveals an exercise)\n"]
            removed.append(f"{path.relative_to(student)}::{name}")
        if cut:
            path.write_text("".join(lines), encoding="utf-8")
    conftest = student / "tests" / "conftest.py"
    text = conftest.read_text(encoding="utf-8") if conftest.exists() else ""
    if not re.search(r"^import pytest$", text, re.M):
        text = "import pytest\n" + text
    conftest.write_text(text + STUB_HOOK, encoding="utf-8")
    return removed


CELL = re.compile(r"^# %%.*$", re.M)


def _names(stmt, ctx):
    """The names a top-level statement stores (``ast.Store``: bound, or changed in place as
    in ``bias[B] = …``) or reads from the script (``ast.Load``): a def stores only its
    name and reads only its free names; loop and comprehension targets are its own."""
    inner = [n for n in ast.walk(stmt) if isinstance(n, ast.Name)]
    local = {n.id for c in ast.walk(stmt) if isinstance(c, (ast.comprehension, ast.For))
             for n in ast.walk(c.target) if isinstance(n, ast.Name)}
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        if ctx is ast.Store:
            return {stmt.name}
        local |= {n.id for n in inner if isinstance(n.ctx, ast.Store)}
        local |= {a.arg for a in ast.walk(stmt) if isinstance(a, ast.arg)}
    found = {n.id for n in inner if isinstance(n.ctx, ctx)}
    if ctx is ast.Store:
        for node in ast.walk(stmt):
            if isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx,
                                                                               ast.Store):
                while isinstance(node, (ast.Subscript, ast.Attribute)):
                    node = node.value
                if isinstance(node, ast.Name):
                    found.add(node.id)
        return found
    return found - local


def _tagged_lines(source, tag_re, calls):
    """Lines whose comment cites one of the exercises' equations (``# (E1)``), unless
    the line calls an exercise (``dh = penalties.kl_sparsity_grad(h, rho, beta)  # (P8)``
    runs the student's answer; it states none)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return set()
    lines = source.splitlines()
    return {t.start[0] for t in tokens if t.type == tokenize.COMMENT and tag_re.search(t.string)
            and not calls.search(lines[t.start[0] - 1])}


def _drop_leaking_statements(source, solutions, kept, tag_re, calls):
    """Comment out each top-level statement that computes an answer (a solution's
    expression, or a line whose comment cites an exercise's equation), and the
    statements that use what it computed (so the rest of the script still runs)."""
    leaking = leaks.leaking_lines(solutions, kept, source) | _tagged_lines(source, tag_re, calls)
    if not leaking:
        return source, []
    lines = source.splitlines(keepends=True)
    tainted, drops = set(), []
    for stmt in ast.parse(source).body:
        if any(stmt.lineno <= n <= stmt.end_lineno for n in leaking) or \
                _names(stmt, ast.Load) & tainted:
            tainted |= _names(stmt, ast.Store)
            drops.append(stmt)
    for stmt in reversed(drops):
        lines[stmt.lineno - 1:stmt.end_lineno] = [
            "# (a line that computes an answer is not in the assignment's version)\n"]
    return "".join(lines), [stmt.lineno for stmt in drops]


def _strip_tutorials(student, assignment, solutions, kept, found):
    """Replace the markdown cells that derive an answer (that cite an exercise's tag or
    state an answer formula), and drop the statements that compute one (with what
    depends on them); the rest runs against the student's code."""
    calls = re.compile(r"\b(" + "|".join(re.escape(q.ex.qualname.split(".")[-1])
                                         for q in assignment.questions) + r")\(")
    removed = []
    for path in sorted((student / "tutorials").glob("*.py")):
        source = original = path.read_text(encoding="utf-8")
        rel = path.relative_to(student)
        # a tag is a module's own ((M3) is max pooling in conv, an M step in gmm): a
        # tutorial cites the tags of the exercises whose module it names
        tags = [t for q in assignment.questions for t in q.ex.tags if not t.startswith("B")
                and re.search(rf"\b{re.escape(q.ex.module.split('.')[-1])}\b", source)]
        tag_re = re.compile(r"\b(" + "|".join(map(re.escape, tags)) + r")\b") if tags else \
            re.compile(r"(?!x)x")
        cited = re.compile(r"\((" + "|".join(map(re.escape, tags)) + r")\)") if tags else tag_re
        starts = [m.start() for m in CELL.finditer(source)] + [len(source)]
        if len(starts) > 1:
            pieces = [source[:starts[0]]]
            for a, b in zip(starts, starts[1:]):
                cell = source[a:b]
                if cell.startswith("# %% [markdown]") and (
                        tag_re.search(cell) or leaks.containing_formula(cell, found)):
                    cell = ("# %% [markdown]\n# *(This derivation is not in the assignment's "
                            "version: derive it yourself; see ASSIGNMENT.md.)*\n\n")
                    removed.append(f"{rel}:{source.count(chr(10), 0, a) + 1} (markdown)")
                pieces.append(cell)
            source = "".join(pieces)
        source, dropped = _drop_leaking_statements(source, solutions, kept, cited, calls)
        removed += [f"{rel}:{n} (code)" for n in dropped]
        if source != original:
            path.write_text(source, encoding="utf-8")
    return removed


def _student_files(student):
    return {str(p.relative_to(student)): p.read_text(encoding="utf-8")
            for p in student.rglob("*.py")}


def _leak_report(student, assignment, solutions, kept, found):
    """Every answer left in student/ (:mod:`.leaks`), one line each."""
    skip = {".".join(t.split(":")) for q in assignment.questions
            for t in [q.ex.id] + [f"{q.ex.module}:{a}" for a in q.ex.also_stub]
            + list(q.ex.same_as_ids)}
    problems = [f"answer left (code): {line}" for line in
                leaks.ast_leaks(solutions, kept, _student_files(student))]
    problems += [f"answer left (text): {line}" for line in leaks.text_leaks(student, found)]
    problems += [f"answer left (numbers): {line}" for line in leaks.numeric_leaks(
        student, leaks.probe_payload(assignment, public_seed), skip)]
    return problems


# -- public cases, ASSIGNMENT.md ------------------------------------------------------------

def _public_data(assignment):
    """What ``npae check`` needs but cannot compute in a student build, by check key."""
    store, arrays = {}, {}
    base = reference_judge(in_process_runner())

    def reference(call, key):
        ref = base.reference(call, key)
        entry = store.setdefault(key, {})
        entry["structure"] = describe(ref)
        ex = CATALOG.get(call.target)               # None for a model check's call
        if ex is not None and ex.kind == "forward":
            entry["reference"] = encode(ref, arrays)
        if "mutants" not in entry:                  # for the hints of `npae check`
            mutants(call, key)
        return ref

    def mutants(call, key):
        found = base.mutants(call, key)
        store.setdefault(key, {})["mutants"] = [
            [hint, {"error": m} if isinstance(m, str) else encode(m, arrays)]
            for hint, m in found]
        return found

    judge = Judge(base.run, reference, mutants)
    graded = []
    for q in assignment.questions:
        seed = public_seed(assignment.title, q.id)
        res = check_question(q.ex, q.id, np.random.default_rng(seed), judge, n_random=1,
                             hidden=False)
        graded.append((q.ex, q.id, res, seed))
    add_model_checks(graded, judge)
    for ex, qid, res, _ in graded:
        if not res.passed:
            raise BuildError(f"the reference fails the public checks of {qid}: "
                             + "; ".join(c.line() for c in res.checks if not c.passed))
    return store, arrays


def _assignment_md(assignment):
    lines = [f"# {assignment.title}", "",
             f"{len(assignment.questions)} questions, {assignment.points:g} points. Each asks "
             "for one function of npae; its body is a stub that raises NotImplementedError. "
             "Implement it where it is, vectorized (no Python loop over examples or units).",
             "", "The equations that state an answer read \"derive this — question "
             f"{assignment.questions[0].id}\", wherever npae restates them; the few "
             "functions that would compute an answer by another route are stubs too, or "
             "call your function. A test of npae's own suite "
             "that reaches a stub is skipped; it runs once the question is answered.",
             "", "## Questions", ""]
    for q in assignment.questions:
        ex = q.ex
        path = module_path(ex.module)
        lines += [f"### {q.id}: `{ex.qualname}` ({q.points:g} points)", "",
                  f"* where: `{path}`, `{ex.qualname}`",
                  f"* derive: {ex.summary}",
                  f"* equations: {ex.equations} in `{path}` (marked \"derive this\")",
                  f"* checked: {ex.checked}", ""]
    lines += ["## Check yourself", "",
              "    python -m npae check          # every question",
              "    python -m npae check q1       # one question", "",
              "One line per question: passed, not implemented yet, or what failed, with the "
              "gradient checker's diagnosis and, for a known mistake, a hint naming the "
              "equation. Grading uses other random cases (drawn for you alone) and hidden "
              "checks, so no answer can be hard-coded.", "",
              "## Submit", "",
              "Submit the files you edited at the same paths: "
              + ", ".join(f"`{module_path(m)}`" for m in
                          dict.fromkeys(q.ex.module for q in assignment.questions)) + ". "
              "Only the exercise functions are taken from them; edits elsewhere are ignored.",
              ""]
    return "\n".join(lines)


# -- autograder and solutions ---------------------------------------------------------------

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu 22.04
# or 24.04). The grader's Python lives in a virtual environment (24.04 refuses a
# system-wide pip install, PEP 668) outside /autograder, where the sandbox user that
# runs the students' code can use it: /autograder itself is made private to root.
set -euo pipefail
VENV="${NPAE_VENV:-/opt/npae-venv}"
if [ -z "${NPAE_SKIP_APT:-}" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
fi
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "numpy>=1.23" "matplotlib>=3.5"
chmod -R go+rX "$VENV"
chmod 700 "$(dirname "$0")"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope: grade /autograder/submission with the reference npae in this folder. The
# student's e-mail (or the submission id) names the submission, so it seeds its cases.
# The grader runs as root; the student's code runs as `nobody` in a sandbox that cannot
# read /autograder (docs/teaching.md, "Isolation"). NPAE_AUTOGRADER_ROOT and NPAE_VENV
# move /autograder and /opt/npae-venv (for a trial run outside Gradescope).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
AG="${NPAE_AUTOGRADER_ROOT:-/autograder}"
PY="${NPAE_VENV:-/opt/npae-venv}/bin/python"
NAME=$("$PY" -I -c "import json, sys; d = json.load(open(sys.argv[1])); \\
print((d.get('users') or [{}])[0].get('email') or d.get('id'))" "$AG/submission_metadata.json")
mkdir -p "$AG/results"
cd "$HERE/reference"                 # `python -m` puts the working folder first on sys.path
PYTHONPATH="$HERE/reference" "$PY" -m npae assignment grade \\
    "$HERE" "$AG/submission" --name "$NAME" \\
    --out "$AG/results/graded" --results-json "$AG/results/results.json"
"""


def _write_autograder(auto, student, assignment, key):
    auto.mkdir(mode=0o700)
    auto.chmod(0o700)                       # private to its owner: key, reference, student
    (auto / "key").write_text(key + "\n")
    (auto / "key").chmod(0o600)
    (auto / "assignment.json").write_text(json.dumps(assignment.to_dict(), indent=2) + "\n")
    shutil.copytree(student / "npae", auto / "student" / "npae")
    shutil.copytree(NPAE, auto / "reference" / "npae",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
        (auto / name).write_text(text)
        (auto / name).chmod(0o755)


def _write_zip(auto, path):
    """The autograder.zip a teacher uploads: setup.sh and run_autograder at the top."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for file in sorted(auto.rglob("*")):
            if file.is_file():
                info = zipfile.ZipInfo(str(file.relative_to(auto)), (1980, 1, 1, 0, 0, 0))
                info.external_attr = (file.stat().st_mode & 0o777 | 0o100000) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, file.read_bytes())
    path.chmod(0o600)                       # it holds the key


def _write_solutions(solutions_dir, assignment):
    for module in _targets(assignment):
        dst = solutions_dir / module_path(module)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / module_path(module), dst)


def _mutant_submission(student, question, mutant, where):
    """A submission folder whose exercise function is ``mutant`` (the rest stubs)."""
    ex = question.ex
    rel = module_path(ex.module)
    src = (student / rel).read_text(encoding="utf-8")
    donor = _function_only(inspect.getsource(mutant.fn))
    text = stubbing.put_function(src, ex.qualname, donor, name=ex.qualname.split(".")[-1])
    (where / rel).parent.mkdir(parents=True, exist_ok=True)
    (where / rel).write_text(text, encoding="utf-8")


def _function_only(source):
    """The def of a decorated function's source, without its decorators."""
    source = textwrap.dedent(source)
    tree = ast.parse(source)
    fn = tree.body[0]
    lines = source.splitlines(keepends=True)
    return "".join(lines[fn.lineno - 1:fn.end_lineno])


def _validate(out_tmp, assignment, log):
    from .grade import grade_submission
    auto, student = out_tmp / "autograder", out_tmp / "student"
    problems = []
    t0 = time.perf_counter()
    ref = grade_submission(auto, out_tmp / "solutions", name="reference")
    for q in assignment.questions:
        r = ref.questions[q.id]
        if r.score < q.points:
            problems.append(f"the reference scores {r.score:g}/{q.points:g} on {q.id}: "
                            + "; ".join(c.line() for c in r.result.checks if not c.passed))
    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        for q in assignment.questions:
            for m in mutants_of(q.exercise):
                where = Path(tmp) / f"mutant-{q.id}-{m.label}"
                _mutant_submission(student, q, m, where)
                r = grade_submission(auto, where, name=where.name).questions[q.id]
                n += 1
                if r.score >= q.points:
                    problems.append(f"mutant {m.label} of {q.id} scores full marks "
                                    f"({r.score:g}/{q.points:g}): its mistake ({m.hint}) is "
                                    "not caught by any check")
    log(f"graded the reference and {n} mutants in {time.perf_counter() - t0:.1f} s")
    return problems


def build(spec_path, out, key=None, log=print):
    """Build the assignment of ``spec_path`` into ``out``; returns ``out``. See the module."""
    assignment = load_spec(spec_path)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BuildError(f"{out} already exists and is not empty; remove it or choose "
                         "another --out (a build never overwrites)")
    if key is not None and not re.fullmatch(r"[0-9a-fA-F]{32,}", key):
        raise BuildError("--key must be at least 32 hex digits (e.g. from "
                         "`python -c 'import secrets; print(secrets.token_hex(32))'`)")
    key = key or secrets.token_hex(32)
    t0 = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        student = tmp / "student"
        student.mkdir()
        _copy_tree(student)
        _write_student_modules(student, assignment)
        solutions, kept = _solutions(assignment), _kept_expressions(assignment)
        found = _formulas(assignment)
        removed = _strip_tests(student, assignment, solutions, kept, found)
        removed += _strip_tutorials(student, assignment, solutions, kept, found)
        store, arrays = _public_data(assignment)
        pkg = student / "npae" / "assignments"
        data = {**assignment.to_dict(), "public": store,
                "public_seeds": {q.id: public_seed(assignment.title, q.id)
                                 for q in assignment.questions}}
        (pkg / "assignment.json").write_text(json.dumps(data, indent=1) + "\n")
        np.savez(pkg / "public.npz", **arrays) if arrays else None
        (student / "ASSIGNMENT.md").write_text(_assignment_md(assignment), encoding="utf-8")
        from .notebook import write_homework_notebook   # student/homework.ipynb (issue 23)
        write_homework_notebook(assignment, student)
        _write_solutions(tmp / "solutions", assignment)
        _write_autograder(tmp / "autograder", student, assignment, key)
        _write_zip(tmp / "autograder", tmp / "autograder.zip")
        problems = _leak_report(student, assignment, solutions, kept, found)
        problems += _validate(tmp, assignment, log)
        if problems:
            raise BuildError("the assignment was not built:\n  " + "\n  ".join(problems))
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for item in removed:
        log(f"removed from student/: {item}")
    log(f"built {out} in {time.perf_counter() - t0:.1f} s: student/ ({len(assignment.questions)} "
        f"questions, {assignment.points:g} points), autograder/, solutions/")
    return out
