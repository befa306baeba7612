"""Gradescope's ``results.json`` for one submission, and ``grades.csv`` for all of them.

results.json (https://gradescope-autograders.readthedocs.io, "Autograder
specifications")::

    {"score": 7.5, "output": "...", "tests": [{"name": "q1 kl_sparsity_grad",
     "score": 5.0, "max_score": 5.0, "output": "...", "visibility": "visible"}, ...]}

Each test's output has one line per check, with the feedback tiers the spec allows
(numbers, diagnosis, hint); a hidden check says what it tests and that it failed,
never the expected values. Files are written to a temporary name and renamed, so a
crash never leaves half a file.
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from .grade import grade_submission, load_autograder

FOOTER = ("Grading used random cases drawn for this submission and hidden checks; "
          "`python -m npae check` runs the public ones.")


def results_json(grade):
    """The Gradescope dictionary of a :class:`SubmissionGrade`."""
    tests = []
    for qid, g in grade.questions.items():
        q = g.question
        lines = [c.line(q.feedback) for c in g.result.checks]
        if g.result.stub:
            lines = [f"{q.ex.qualname}: not implemented yet"]
        lines.append(f"cases drawn with seed {g.seed:016x}")
        tests.append({"name": q.label, "score": g.score, "max_score": q.points,
                      "output": "\n".join(lines), "visibility": q.visibility})
    output = "\n".join(grade.notes + [FOOTER])
    return {"score": round(grade.score, 4), "output": output, "tests": tests}


def _write_atomic(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def grades_csv(grades, assignment):
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["submission"] + [q.id for q in assignment.questions] + ["total"])
    for g in grades:
        writer.writerow([g.name] + [f"{g.questions[q.id].score:g}" for q in
                                    assignment.questions] + [f"{g.score:g}"])
    return buf.getvalue()


def grade_all(auto, submissions, out, results_json_path=None, name=None, log=print):
    """Grade every submission folder; write OUT/<name>/results.json and OUT/grades.csv.

    A submission's name (its folder's, or ``name`` for a single one) seeds its cases.
    """
    assignment, key = load_autograder(auto)
    names = [name] if name else [Path(s).resolve().name for s in submissions]
    if len(set(names)) != len(names):
        raise ValueError("two submissions have the same folder name; each folder name is "
                         "the student's name in grades.csv and seeds their cases")
    grades = []
    for sub, sub_name in zip(submissions, names):
        g = grade_submission(auto, sub, assignment=assignment, key=key, name=sub_name)
        text = json.dumps(results_json(g), indent=2, ensure_ascii=False) + "\n"
        _write_atomic(Path(out) / g.name / "results.json", text)
        if results_json_path:
            _write_atomic(results_json_path, text)
        log(f"{g.name}: {g.score:g}/{assignment.points:g} in {g.seconds:.1f} s")
        grades.append(g)
    _write_atomic(Path(out) / "grades.csv", grades_csv(grades, assignment))
    return grades
