"""The teacher's assignment spec, a TOML file::

    title = "Homework 3: sparse and variational autoencoders"
    cases = 3                  # random cases per question when grading (default 3)
    time_limit = 10            # seconds per call of the student's code (default 10)

    [[questions]]
    id = "q1"
    exercise = "npae.penalties:kl_sparsity_grad"
    points = 5
    # optional:
    weights = { gradient = 3, hidden = 1, property = 1 }   # per check category
    feedback = ["numbers", "diagnosis", "hint"]             # what the student sees
    visibility = "visible"      # Gradescope: visible, after_due_date, after_published, hidden

Every mistake is reported by name: the key, the question and what was expected.

Only the build reads TOML (``tomllib``, or ``tomli`` on Python 3.10); the build writes
the assignment as JSON (``assignment.json``), which is all that grading and ``npae
check`` read, so both run on Python 3.10 with nothing but NumPy.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .catalog import CATALOG, get_exercise
from .grading import DEFAULT_WEIGHTS, TIERS

VISIBILITIES = ("visible", "after_due_date", "after_published", "hidden")
TOP_KEYS = {"title", "cases", "time_limit", "questions"}
QUESTION_KEYS = {"id", "exercise", "points", "weights", "feedback", "visibility"}


def module_path(module):
    """``npae.models.vae`` -> ``npae/models/vae.py``."""
    return Path(*module.split(".")).with_suffix(".py")


class SpecError(ValueError):
    """A bad assignment spec; the message names the key."""


@dataclass(frozen=True)
class Question:
    id: str
    exercise: str
    points: float
    weights: dict = field(default_factory=dict)
    feedback: tuple = TIERS
    visibility: str = "visible"

    @property
    def ex(self):
        return get_exercise(self.exercise)

    @property
    def label(self):
        return f"{self.id} {self.ex.qualname}"


@dataclass(frozen=True)
class Assignment:
    title: str
    questions: tuple
    cases: int = 3
    time_limit: float = 10.0

    @property
    def points(self):
        return sum(q.points for q in self.questions)

    def to_dict(self):
        return {"title": self.title, "cases": self.cases, "time_limit": self.time_limit,
                "questions": [{"id": q.id, "exercise": q.exercise, "points": q.points,
                               "weights": q.weights, "feedback": list(q.feedback),
                               "visibility": q.visibility} for q in self.questions]}

    @classmethod
    def from_dict(cls, data, where="the spec"):
        return _parse(data, where)


def toml_reader():
    """``tomllib`` (Python 3.11+), else ``tomli`` when installed, else a SpecError."""
    try:
        import tomllib
        return tomllib
    except ModuleNotFoundError:
        try:
            import tomli
            return tomli
        except ModuleNotFoundError:
            raise SpecError(f"reading a TOML spec needs Python 3.11 or the tomli package "
                            f"(this is Python {sys.version.split()[0]}): "
                            "`pip install tomli`") from None


def load_spec(path):
    path = Path(path)
    toml = toml_reader()
    try:
        data = toml.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"spec file {path} does not exist") from None
    except toml.TOMLDecodeError as exc:
        raise SpecError(f"{path} is not valid TOML: {exc}") from None
    return _parse(data, str(path))


def _number(value, what, minimum, integer=False):
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not value >= minimum:
        kind = "an integer" if integer else "a number"
        raise SpecError(f"{what} must be {kind} >= {minimum}, got {value!r}")
    return value


def _parse(data, where):
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise SpecError(f"{where}: unknown key {sorted(unknown)[0]!r}; the keys are "
                        f"{', '.join(sorted(TOP_KEYS))}")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise SpecError(f"{where}: 'title' must be a non-empty string")
    cases = _number(data.get("cases", 3), f"{where}: 'cases'", 1, integer=True)
    time_limit = float(_number(data.get("time_limit", 10), f"{where}: 'time_limit'", 0.1))
    raw = data.get("questions")
    if not isinstance(raw, list) or not raw:
        raise SpecError(f"{where}: needs at least one [[questions]] table")
    questions, seen, exercises = [], set(), {}
    for i, q in enumerate(raw, 1):
        what = f"{where}: question {i}"
        if not isinstance(q, dict):
            raise SpecError(f"{what} must be a table")
        unknown = set(q) - QUESTION_KEYS
        if unknown:
            raise SpecError(f"{what}: unknown key {sorted(unknown)[0]!r}; the keys are "
                            f"{', '.join(sorted(QUESTION_KEYS))}")
        qid = q.get("id")
        if not isinstance(qid, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", qid):
            raise SpecError(f"{what}: 'id' must be a name of letters, digits, _ . -, got {qid!r}")
        if qid in seen:
            raise SpecError(f"{what}: id {qid!r} is used twice")
        seen.add(qid)
        what = f"{where}: question {qid}"
        exercise = q.get("exercise")
        if exercise not in CATALOG:
            raise SpecError(f"{what}: unknown exercise {exercise!r}; `python -m npae assignment "
                            f"list` shows the catalog")
        if exercise in exercises:
            raise SpecError(f"{what}: exercise {exercise} is already question "
                            f"{exercises[exercise]}")
        exercises[exercise] = qid
        points = float(_number(q.get("points"), f"{what}: 'points'", 0))
        weights = q.get("weights", {})
        if not isinstance(weights, dict) or set(weights) - set(DEFAULT_WEIGHTS) or any(
                isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0
                for w in weights.values()):
            raise SpecError(f"{what}: 'weights' must map some of {', '.join(DEFAULT_WEIGHTS)} "
                            f"to numbers >= 0, got {weights!r}")
        feedback = q.get("feedback", list(TIERS))
        if not isinstance(feedback, list) or set(feedback) - set(TIERS):
            raise SpecError(f"{what}: 'feedback' must be a list of {', '.join(TIERS)}, "
                            f"got {feedback!r}")
        visibility = q.get("visibility", "visible")
        if visibility not in VISIBILITIES:
            raise SpecError(f"{what}: 'visibility' must be one of {', '.join(VISIBILITIES)}, "
                            f"got {visibility!r}")
        questions.append(Question(qid, exercise, points, {k: float(v) for k, v in
                                                          weights.items()},
                                  tuple(feedback), visibility))
    for q in questions:
        for dep in q.ex.uses:
            if dep in exercises:
                raise SpecError(f"{where}: question {q.id} ({q.exercise}) is checked with "
                                f"{dep}, which is question {exercises[dep]}: a student's "
                                f"bug in one would fail the other; choose one of them")
    return Assignment(title.strip(), tuple(questions), cases, time_limit)
