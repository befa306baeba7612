"""A check's result as data: one row per (term, array), printable, JSON-serializable.

Each row has one of three verdicts: ``pass`` (by the relative test or within the check's
own error, (N5) of npae.gradcheck.numeric), ``FAIL`` (with a diagnosis of the bug) and
``cannot judge`` (the gradient is below the check's resolution, or the forward is not
smooth near the point: the row says what to change). Only ``pass`` counts as passed.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

PASS, FAIL, CANNOT_JUDGE = "pass", "FAIL", "cannot judge"


class GradientCheckError(AssertionError):
    """An analytic gradient disagrees with finite differences (``.report`` holds the rows)."""

    def __init__(self, message, report=None):
        super().__init__(message)
        self.report = report


@dataclass
class CheckRow:
    """One array of one check.

    ``criterion`` is ``"rel"`` when ``rel_error <= tol``, ``"abs"`` when
    ``max_abs_error <= atol`` (``atol``: given, or the check's own error (N4)) and (N5)
    says that this proves something, ``""`` otherwise; ``diagnosis`` then says what the
    error looks like, or, when ``judged`` is False, why the check cannot judge this
    array and what would let it (the verdict ``cannot judge``, never a pass).
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
    judged: bool = True

    @property
    def passed(self):
        return self.criterion != ""

    @property
    def verdict(self):
        """``"pass"``, ``"FAIL"`` or ``"cannot judge"``."""
        return PASS if self.passed else (FAIL if self.judged else CANNOT_JUDGE)

    def message(self):
        """The diagnosis as a student reads it: which term, which array, what, where."""
        text = f"term `{self.term}`, array `{self.name}`: {self.diagnosis or 'disagrees'}"
        return text + (f": see {self.where}" if self.where else "")

    def to_dict(self):
        """The row as strict-JSON data: NaN and ±inf become null, ``null_because`` says why."""
        d = asdict(self)
        d["shape"] = list(self.shape)
        d["passed"] = self.passed
        d["verdict"] = self.verdict
        return _strict(d)


def _strict(d):
    """Replace non-finite floats of ``d`` by None and record which and why in ``null_because``."""
    why = {}
    for key, value in d.items():
        if isinstance(value, float) and not math.isfinite(value):
            why[key] = (f"{value}, which JSON cannot hold: the analytic or the numeric "
                        "gradient has NaN or infinite entries (see the diagnosis)")
            d[key] = None
    if why:
        d["null_because"] = why
    return d


@dataclass
class GradCheckReport:
    """Rows of checks; ``passed`` when every row passed by either criterion.

    ``verdict`` is ``"PASS"``, ``"FAIL"`` (some row failed) or ``"CANNOT JUDGE"`` (no row
    failed, but some could not be judged: not a pass). ``point`` says where the check
    ran when that is not simply the caller's arguments (check_model's perturbed point).
    """

    rows: list = field(default_factory=list)
    point: str | None = None

    @property
    def passed(self):
        return all(r.passed for r in self.rows)

    @property
    def verdict(self):
        if self.passed:
            return "PASS"
        return "FAIL" if any(r.judged for r in self.failures) else "CANNOT JUDGE"

    @property
    def failures(self):
        """Every row that did not pass: failed, or could not be judged."""
        return [r for r in self.rows if not r.passed]

    @property
    def undecided(self):
        """The rows the check could not judge."""
        return [r for r in self.rows if not r.passed and not r.judged]

    @property
    def max_rel_error(self):
        return max((r.rel_error for r in self.rows), default=0.0)

    def __add__(self, other):
        return GradCheckReport(self.rows + other.rows, self.point or other.point)

    def table(self):
        """The rows as a table, then one line of diagnosis per row that did not pass."""
        head = (f"{'term':<14} {'array':<12} {'shape':<12} {'rel. error':>10} "
                f"{'max |a-n|':>10} {'atol':>9}  ok")
        lines = ([f"checked {self.point}"] if self.point else []) + [head, "-" * len(head)]
        for r in self.rows:
            atol = "" if r.atol is None else f"{r.atol:9.1e}"
            ok = {"rel": "rel", "abs": "abs", "": "NO"}[r.criterion] if r.judged \
                else "cannot judge"
            mark = "~" if r.kind == "directional" else ""
            lines.append(f"{r.term:<14} {mark + r.name:<12} {str(r.shape):<12} "
                         f"{r.rel_error:10.2e} {r.max_abs_error:10.2e} {atol:>9}  {ok}")
        if any(r.kind == "directional" for r in self.rows):
            lines.append("~ directional: errors of ⟨∇L, v⟩ over random unit directions v")
        lines += [f"  -> {r.message()}" for r in self.failures]
        return "\n".join(lines)

    __str__ = table

    def to_dict(self):
        """Strict-JSON data: ``verdict``, ``passed``, ``point``, the rows (see CheckRow)."""
        d = _strict({"passed": self.passed, "verdict": self.verdict,
                     "max_rel_error": self.max_rel_error, "point": self.point})
        d["rows"] = [r.to_dict() for r in self.rows]
        return d

    def to_json(self, **kwargs):
        """One strict JSON document (no bare NaN or Infinity tokens)."""
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    def raise_if_failed(self):
        """Raise :class:`GradientCheckError` unless every row passed (cannot judge included)."""
        failed = [r for r in self.failures if r.judged]
        undecided = self.undecided
        if failed or undecided:
            parts = []
            if failed:
                worst = ", ".join(f"{r.term}/{r.name} ({r.rel_error:.1e} > {r.tol:.0e})"
                                  for r in failed)
                parts.append(f"analytic gradient disagrees with central differences for {worst}")
            if undecided:
                names = ", ".join(f"{r.term}/{r.name}" for r in undecided)
                parts.append(f"the check cannot judge {names} (not a pass)")
            raise GradientCheckError("; ".join(parts) + "\n" + self.table(), self)
        return self
