"""Grading a class: ``results.json`` per submission, ``grades.csv`` and a class summary.

results.json is Gradescope's format (https://gradescope-autograders.readthedocs.io,
"Autograder specifications")::

    {"score": 7.5, "output": "...", "tests": [{"name": "q1 kl_sparsity_grad",
     "score": 5.0, "max_score": 5.0, "output": "...", "visibility": "visible"}, ...]}

Each test's output has one line per check, with the feedback tiers the spec allows
(numbers, diagnosis, hint), then the lines that explain the score (0 for an answer
wrong on every random case or computed by finite differences, the in-place penalty);
a hidden check says what it tests and that it failed, never the expected values.

Beside it, OUT/<name>/grade.json holds what the teacher's side needs (scores, and the
mistakes diagnosed per question). ``grades.csv``, ``summary.md`` and ``summary.png``
are made from every grade.json in OUT, so regrading one student into an existing OUT
updates that student's row and keeps the others.

Every file is written to a temporary name in its folder, flushed to disk and renamed,
so a crash never leaves half a file, and only after every process of the submission
is gone (:mod:`.sandbox`). When the grader is root, OUT, the autograder folder, the
submission folders and the folder of ``--results-json`` are made private to their
owner before grading, and a probe run as the sandbox user checks that it can read none
of them.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

from .. import __file__ as _npae_init
from .grade import grade_submission, load_autograder
from .sandbox import NOT_ISOLATED, SandboxError, lock, make_sandbox, processes

FOOTER = ("Grading used random cases drawn for this submission and hidden checks; "
          "`python -m npae check` runs the public ones.")
NPAE = Path(_npae_init).resolve().parent                # the npae running this grader


def results_json(grade):
    """The Gradescope dictionary of a :class:`SubmissionGrade`."""
    tests = []
    for qid, g in grade.questions.items():
        q = g.question
        lines = [c.line(q.feedback) for c in g.result.checks]
        if g.result.stub:
            lines = [f"{q.ex.qualname}: not implemented yet"]
        lines += g.result.explain()
        lines.append(f"cases drawn with seed {g.seed:016x}")
        tests.append({"name": q.label, "score": g.score, "max_score": q.points,
                      "output": "\n".join(lines), "visibility": q.visibility})
    output = "\n".join(grade.notes + [FOOTER])
    return {"score": round(grade.score, 4), "output": output, "tests": tests}


def mistakes(result):
    """What went wrong in one question, as labels a teacher can count over a class."""
    if result.stub:
        return ["not implemented"]
    found = []
    if result.loop:
        found.append("finite differences or a loop over entries")
    if result.modified:
        found.append("modified an argument in place")
    for c in result.checks:
        if c.passed:
            continue
        if c.hint:
            label = c.hint
        elif "timed out" in c.reason:
            label = "timed out"
        else:                       # the checker's diagnosis, its numbers made generic
            text = c.diagnosis or c.reason or c.numbers
            text = text.split("; ")[0].split(": ", 1)[-1] if c.diagnosis else text
            label = re.sub(r"[-+]?\d+(\.\d+)?(e[-+]?\d+)?", "#", text)[:120]
        if label and label not in found:
            found.append(label)
    return found


def grade_record(grade):
    """grade.json: the teacher's record of one submission (scores and mistakes)."""
    return {"name": grade.name, "title": grade.assignment.title, "score": grade.score,
            "questions": {qid: {"score": g.score, "max_score": g.question.points,
                                "mistakes": mistakes(g.result)}
                          for qid, g in grade.questions.items()}}


def write_atomic(path, text):
    """Write ``text`` (str, as UTF-8, or bytes) to ``path`` through a temporary file in the
    same folder (mode 0600), fsynced, then moved into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8") if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _records(out, assignment):
    """Every grade.json of this assignment in ``out``, by name."""
    found = {}
    for path in sorted(Path(out).glob("*/grade.json")):
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if rec.get("title") == assignment.title:
            found[rec["name"]] = rec
    return found


def grades_csv(records, assignment):
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["submission"] + [q.id for q in assignment.questions] + ["total"])
    for name, rec in sorted(records.items()):
        writer.writerow([name] + [f"{rec['questions'][q.id]['score']:g}" for q in
                                  assignment.questions] + [f"{rec['score']:g}"])
    return buf.getvalue()


def class_summary(records, assignment):
    """summary.md's text: the grade distribution, each question's mean and spread, and
    how many submissions made each diagnosed mistake (what to re-teach)."""
    import numpy as np
    totals = np.array([r["score"] for r in records.values()], dtype=float)
    n = len(records)
    lines = [f"# {assignment.title}: class summary", "",
             f"{n} submissions; total mean {totals.mean():.2f} / {assignment.points:g}, "
             f"std {totals.std():.2f}, min {totals.min():g}, median {np.median(totals):g}, "
             f"max {totals.max():g}. Histogram: summary.png.", "",
             "| question | points | mean | std | full marks | zero |",
             "| --- | --- | --- | --- | --- | --- |"]
    for q in assignment.questions:
        s = np.array([r["questions"][q.id]["score"] for r in records.values()], dtype=float)
        lines.append(f"| {q.label} | {q.points:g} | {s.mean():.2f} | {s.std():.2f} | "
                     f"{int((s >= q.points).sum())} | {int((s == 0).sum())} |")
    lines += ["", "## Diagnosed mistakes", "",
              "How many submissions made each mistake the grader recognised (a known "
              "mistake's hint, or the gradient checker's diagnosis).", ""]
    for q in assignment.questions:
        counts = Counter(m for r in records.values() for m in r["questions"][q.id]["mistakes"])
        lines.append(f"### {q.label}")
        lines.append("")
        if not counts:
            lines += ["no mistakes diagnosed", ""]
            continue
        lines += [f"* {c} × {m}" for m, c in counts.most_common()] + [""]
    return "\n".join(lines)


def summary_figure(records, assignment, path):
    """summary.png: the histogram of totals and each question's mean ± std."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    totals = [r["score"] for r in records.values()]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.hist(totals, bins=np.linspace(0, assignment.points, 12), color="C0", edgecolor="k")
    a.set_xlabel(f"total (of {assignment.points:g})")
    a.set_ylabel("submissions")
    a.set_title("grades")
    ids = [q.id for q in assignment.questions]
    frac = np.array([[r["questions"][q.id]["score"] / q.points if q.points else 1.0
                      for q in assignment.questions] for r in records.values()])
    b.bar(ids, frac.mean(axis=0), yerr=frac.std(axis=0), color="C1", edgecolor="k",
          capsize=4)
    b.set_ylim(0, 1.05)
    b.set_ylabel("fraction of the points (mean ± std)")
    b.set_title("per question")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    write_atomic(path, buf.getvalue())


def _secure(sandbox, auto, submissions, out, results_json_path, warn):
    """As root: make the folders private, then prove the sandbox user can read none."""
    if not sandbox.isolated:
        warn(NOT_ISOLATED)
        return
    busy = processes(uid=sandbox.uid)
    if busy:
        raise SandboxError(f"the sandbox user {sandbox.user} already runs processes "
                           f"{busy[:5]}; the grader kills every process of that user, so "
                           "give it a user of its own with --user (a numeric uid with no "
                           "account works)")
    private = [Path(auto), Path(out), *map(Path, submissions)]
    if results_json_path:
        private.append(Path(results_json_path).parent)
    for path in private:
        lock(path)
    secret = private + [Path(auto) / "key", Path(auto) / "reference"]
    found = sandbox.probe(secret + [NPAE])
    leaks = [f"{how} {path}" for path, how in found if Path(path) != NPAE]
    if leaks:
        raise SandboxError(f"the sandbox user {sandbox.user} can still "
                           f"{'; '.join(leaks)} after chmod go-rwx; grading stopped")
    if found:
        warn(f"note: the npae running this grader ({NPAE}) is readable by the sandbox "
             f"user {sandbox.user}, and it holds every exercise's answer; grade from the "
             "autograder folder's reference (run_autograder does) or make it private")


def grade_all(auto, submissions, out, results_json_path=None, name=None, log=print,
              user=None, warn=None):
    """Grade every submission folder; write OUT/<name>/results.json and grade.json, then
    OUT/grades.csv, summary.md and summary.png over every submission graded into OUT.

    A submission's name (its folder's, or ``name`` for a single one) seeds its cases.
    ``user``: the sandbox user when the grader is root (default ``nobody``).
    """
    warn = warn or (lambda msg: print(msg, file=sys.stderr))
    assignment, key = load_autograder(auto)
    names = [name] if name else [Path(s).resolve().name for s in submissions]
    if len(set(names)) != len(names):
        raise ValueError("two submissions have the same folder name; each folder name is "
                         "the student's name in grades.csv and seeds their cases")
    sandbox = make_sandbox(user)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _secure(sandbox, auto, submissions, out, results_json_path, warn)
    grades = []
    for sub, sub_name in zip(submissions, names):
        g = grade_submission(auto, sub, assignment=assignment, key=key, name=sub_name,
                             sandbox=sandbox)     # returns once its processes are gone
        text = json.dumps(results_json(g), indent=2, ensure_ascii=False) + "\n"
        write_atomic(out / g.name / "grade.json", json.dumps(grade_record(g), indent=1))
        write_atomic(out / g.name / "results.json", text)
        if results_json_path:
            write_atomic(results_json_path, text)
        log(f"{g.name}: {g.score:g}/{assignment.points:g} in {g.seconds:.1f} s")
        grades.append(g)
    records = _records(out, assignment)
    write_atomic(out / "grades.csv", grades_csv(records, assignment))
    write_atomic(out / "summary.md", class_summary(records, assignment) + "\n")
    summary_figure(records, assignment, out / "summary.png")
    return grades
