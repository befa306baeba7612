"""Grading one submission: its exercise functions in a fresh copy of the student build.

A submission is a folder of the student's edited files at the same relative paths as
in student/ (``npae/penalties.py``); a flat upload (``penalties.py`` at the top, as
Gradescope stores single files) is matched by file name. Only the exercise functions
are taken; any other edit, and any other file, is reported as ignored.

Cases are drawn per student: the generator of question q is seeded with
HMAC-SHA256(key, "title|q|submission name"), so a regrade draws the same cases and
another student other ones; the seeds are part of the result.

The submission's code runs in a worker process (:mod:`.worker`) inside a sandbox
(:mod:`.sandbox`): a private folder holds the build under test and a copy of the worker
script; after each question the worker's session is killed and, when the grader is
root, every process of the sandbox user, so the next question, the next submission and
the results all start with none of the student's processes alive.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import stubbing, worker
from .grading import add_model_checks, check_question, reference_judge
from .sandbox import NOT_ISOLATED, make_sandbox
from .spec import Assignment, module_path
from .worker import Worker


def case_seed(key, title, qid, submission):
    """The per-student seed of question ``qid``: HMAC-SHA256 of key and names, 64 bits."""
    msg = f"{title}|{qid}|{submission}".encode()
    return int(hmac.new(bytes.fromhex(key), msg, hashlib.sha256).hexdigest()[:16], 16)


@dataclass
class QuestionGrade:
    question: object
    result: object
    score: float
    seed: int


@dataclass
class SubmissionGrade:
    name: str
    assignment: Assignment
    questions: dict = field(default_factory=dict)      # id -> QuestionGrade
    notes: list = field(default_factory=list)          # ignored edits, unparsable files
    readable_npae: list = field(default_factory=list)  # other npae copies the code could read
    seconds: float = 0.0

    @property
    def score(self):
        return sum(g.score for g in self.questions.values())


def load_autograder(auto):
    auto = Path(auto)
    try:
        data = json.loads((auto / "assignment.json").read_text())
        key = (auto / "key").read_text().strip()
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{auto} is not an autograder folder (made by `npae assignment "
                                f"build`): {Path(exc.filename).name} is missing") from None
    return Assignment.from_dict(data, str(auto / "assignment.json")), key


def _find(submission, rel):
    """The submission's file for student path ``rel``, at its path or flat by name."""
    for candidate in (submission / rel, submission / rel.name):
        if candidate.is_file():
            return candidate
    return None


def _prepare(auto, submission, assignment, tree):
    """Copy the pristine student npae into ``tree`` and put the submission's functions in."""
    shutil.copytree(auto / "student" / "npae", tree / "npae")
    notes, used = [], set()
    by_module = {}
    for q in assignment.questions:                 # with the helpers stubbed alongside
        by_module.setdefault(q.ex.module, []).extend((q.ex.qualname,) + q.ex.also_stub)
    for module, qualnames in by_module.items():
        rel = module_path(module)
        found = _find(submission, rel)
        if found is None:
            notes.append(f"{rel} was not submitted: its questions are graded as stubs")
            continue
        used.add(found.resolve())
        pristine = (tree / rel).read_text(encoding="utf-8")
        try:
            text = found.read_text(encoding="utf-8")
            source, taken = stubbing.take_functions(pristine, text, qualnames)
        except (SyntaxError, UnicodeDecodeError) as exc:
            where = f" (line {exc.lineno}: {exc.msg})" if isinstance(exc, SyntaxError) else ""
            notes.append(f"{rel} does not parse{where}: its questions are graded as stubs")
            continue
        missing = sorted(set(qualnames) - set(taken))
        if missing:
            notes.append(f"{rel} has no {', '.join(missing)}: graded as a stub")
        if stubbing.outside_edits(pristine, text, qualnames):
            notes.append(f"edits in {rel} outside {', '.join(qualnames)} were ignored")
        (tree / rel).write_text(source, encoding="utf-8")
    others = sorted(str(p.relative_to(submission)) for p in submission.rglob("*")
                    if p.is_file() and p.resolve() not in used)
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5
                                         else "")
        notes.append(f"ignored (not an exercise file): {shown}")
    return notes


def grade_submission(auto, submission, name=None, assignment=None, key=None, sandbox=None):
    """Grade the folder ``submission`` with the autograder folder ``auto``.

    ``sandbox`` (:func:`.sandbox.make_sandbox` by default: ``nobody`` when root) is where
    the submission's code runs; see the module.
    """
    t0 = time.perf_counter()
    auto, submission = Path(auto), Path(submission)
    if not submission.is_dir():
        raise FileNotFoundError(f"submission {submission} is not a folder")
    if assignment is None:
        assignment, key = load_autograder(auto)
    sandbox = sandbox or make_sandbox()
    name = name or submission.name
    grade = SubmissionGrade(name, assignment)
    home = sandbox.private_dir()
    try:
        tree = home / "build"
        grade.notes = _prepare(auto, submission, assignment, tree)
        script = home / "_npae_worker.py"
        shutil.copyfile(worker.__file__, script)
        sandbox.hand_over(home)
        with Worker(tree, timeout=assignment.time_limit, sandbox=sandbox, home=home,
                    script=script) as proc:
            judge = reference_judge(proc.call)
            graded = []
            for q in assignment.questions:
                seed = case_seed(key, assignment.title, q.id, name)
                result = check_question(q.ex, q.id, np.random.default_rng(seed), judge,
                                        n_random=assignment.cases, hidden=True)
                graded.append((q.ex, q.id, result, seed))
                proc.close()                       # nothing of one question outlives it
                sandbox.kill_user()
            add_model_checks(graded, judge)
            grade.readable_npae = proc.readable_npae
            for q, (_, _, result, seed) in zip(assignment.questions, graded):
                score = round(q.points * result.fraction(q.weights), 4)
                grade.questions[q.id] = QuestionGrade(q, result, score, seed)
    finally:
        sandbox.remove(home)                       # kills the user's processes first
    if not sandbox.isolated:
        grade.notes.append(NOT_ISOLATED)
    grade.seconds = time.perf_counter() - t0
    return grade
