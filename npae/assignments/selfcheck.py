"""``python -m npae check [QUESTION ...]`` inside a student build: the public checks.

The student's own code runs in this process, at public random cases (the same for
every student; grading draws others). One line per question — passed, "not
implemented yet", or the first failing check with the gradient checker's numbers and
diagnosis and, when the output is a known mistake's, its hint — never a traceback.
Exit status 0 only when every public check of the chosen questions passes.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .grading import Judge, add_model_checks, check_question, in_process_runner
from .spec import Assignment
from .worker import decode

HERE = Path(__file__).resolve().parent
LAST_LINE = ("Grading uses other random cases, drawn for you alone, and hidden checks: "
             "passing here is necessary, not sufficient.")


def load_public():
    path = HERE / "assignment.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    npz = HERE / "public.npz"
    arrays = dict(np.load(npz, allow_pickle=False)) if npz.is_file() else {}
    return data, arrays


def _stored_judge(store, arrays, root):
    def reference(call, key):
        entry = store.get(key, {})
        return decode(entry["reference"], arrays) if "reference" in entry else None

    def structure(call, key):
        return store.get(key, {}).get("structure")

    def mutants(call, key):
        found = []
        for hint, m in store.get(key, {}).get("mutants", []):
            found.append((hint, m["error"] if "error" in m else decode(m, arrays)))
        return found
    return Judge(in_process_runner(root), reference, mutants, structure)


def summary(q, result):
    name = f"{q.id} {q.ex.qualname}"
    if result.stub:
        return f"{name}: not implemented yet"
    failed = [c for c in result.checks if not c.passed]
    extra = "".join(f"\n    {line}" for line in result.explain())
    if not failed:
        return f"{name}: passes all {len(result.checks)} public checks" + extra
    first = failed[0]
    return (f"{name}: fails {len(failed)} of {len(result.checks)} public checks; first: "
            + first.line(q.feedback) + extra)


def run(questions=(), out=print):
    """Print one line per question; return the exit status (0: every check passed)."""
    loaded = load_public()
    if loaded is None:
        out("this npae is not an assignment's student build (no npae/assignments/"
            "assignment.json); `npae check` runs inside one")
        return 2
    data, arrays = loaded
    assignment = Assignment.from_dict({k: data[k] for k in ("title", "cases", "time_limit",
                                                            "questions")})
    chosen = list(questions) or [q.id for q in assignment.questions]
    known = {q.id: q for q in assignment.questions}
    unknown = [c for c in chosen if c not in known]
    if unknown:
        out(f"unknown question {unknown[0]!r}; the questions are {', '.join(known)}")
        return 2
    judge = _stored_judge(data["public"], arrays, str(HERE.parent.parent))
    graded, lines = [], {}
    for qid in chosen:
        q = known[qid]
        seed = data["public_seeds"][qid]
        try:
            result = check_question(q.ex, q.id, np.random.default_rng(seed), judge,
                                    n_random=1, hidden=False)
            graded.append((q.ex, q.id, result, seed))
        except Exception as exc:                    # noqa: BLE001 (never a traceback)
            lines[qid] = f"{q.id} {q.ex.qualname}: the check itself failed: {exc}"
    try:
        add_model_checks(graded, judge)
    except Exception as exc:                        # noqa: BLE001 (never a traceback)
        lines.update({qid: f"{qid}: the model check itself failed: {exc}" for _, qid, _, _
                      in graded})
    status = 1 if lines else 0
    for _, qid, result, _ in graded:
        lines.setdefault(qid, summary(known[qid], result))
        status = status if result.passed else 1
    for qid in chosen:
        out(lines[qid])
    out(LAST_LINE)
    return status
