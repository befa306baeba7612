"""A check's result as data: one row per (term, array), printable, JSON-serializable."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


class GradientCheckError(AssertionError):
    """An analytic gradient disagrees with finite differences (``.report`` holds the rows)."""

    def __init__(self, message, report=None):
        super().__init__(message)
        self.report = report


@dataclass
class CheckRow:
    """One array of one check.

    ``criterion`` is ``"rel"`` when ``rel_error <= tol``, ``"abs"`` when
    ``max_abs_error <= atol`` (``atol``: given, or the check's own error (N4)),
    ``""`` when neither holds; ``diagnosis`` then says what the error looks like.
    ``kind`` is ``"entrywise"`` (every entry by finite differences) or ``"directional"``
    (K random directions, (N3)); ``where`` says where the term's equations are.
    """

    term: str
    name: str
    shape: tuple
    rel_error: float
    max_abs_error: float
    tol: float
    atol: float | None = None
    criterion: str = ""
    diagnosis: str | None = None
    kind: str = "entrywise"
    where: str | None = None

    @property
    def passed(self):
        return self.criterion != ""

    def message(self):
        """The diagnosis as a student reads it: which term, which array, what, where."""
        text = f"term `{self.term}`, array `{self.name}`: {self.diagnosis or 'disagrees'}"
        return text + (f": see {self.where}" if self.where else "")

    def to_dict(self):
        d = asdict(self)
        d["shape"] = list(self.shape)
        d["passed"] = self.passed
        return d


@dataclass
class GradCheckReport:
    """Rows of checks; ``passed`` when every row passed by either criterion."""

    rows: list = field(default_factory=list)

    @property
    def passed(self):
        return all(r.passed for r in self.rows)

    @property
    def failures(self):
        return [r for r in self.rows if not r.passed]

    @property
    def max_rel_error(self):
        return max((r.rel_error for r in self.rows), default=0.0)

    def __add__(self, other):
        return GradCheckReport(self.rows + other.rows)

    def table(self):
        """The rows as a table, then one line of diagnosis per failing row."""
        head = (f"{'term':<14} {'array':<12} {'shape':<12} {'rel. error':>10} "
                f"{'max |a-n|':>10} {'atol':>9}  ok")
        lines = [head, "-" * len(head)]
        for r in self.rows:
            atol = "" if r.atol is None else f"{r.atol:9.1e}"
            ok = {"rel": "rel", "abs": "abs", "": "NO"}[r.criterion]
            mark = "~" if r.kind == "directional" else ""
            lines.append(f"{r.term:<14} {mark + r.name:<12} {str(r.shape):<12} "
                         f"{r.rel_error:10.2e} {r.max_abs_error:10.2e} {atol:>9}  {ok}")
        if any(r.kind == "directional" for r in self.rows):
            lines.append("~ directional: errors of ⟨∇L, v⟩ over random unit directions v")
        lines += [f"  -> {r.message()}" for r in self.failures]
        return "\n".join(lines)

    __str__ = table

    def to_dict(self):
        return {"passed": self.passed, "max_rel_error": self.max_rel_error,
                "rows": [r.to_dict() for r in self.rows]}

    def to_json(self, **kwargs):
        return json.dumps(self.to_dict(), **kwargs)

    def raise_if_failed(self):
        bad = self.failures
        if bad:
            worst = ", ".join(f"{r.term}/{r.name} ({r.rel_error:.1e} > {r.tol:.0e})" for r in bad)
            raise GradientCheckError(
                f"analytic gradient disagrees with central differences for {worst}\n"
                + self.table(), self)
        return self
