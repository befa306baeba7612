"""The numerical leak check's process: does any function of a student build return an answer?

Run as ``python -I leakprobe.py STUDENT PAYLOAD REPORT`` by :func:`.leaks.numeric_leaks`.
It puts STUDENT first on ``sys.path`` (no other npae importable, as in the grading
worker), imports every module of the student's npae, and calls every function it
finds — module-level functions, static and class methods, and the methods of each
method exercise's class — on each question's public case (PAYLOAD, written by the
build), with arguments bound by name or by the exercise's own positions. Each call has
two seconds; its prints are dropped; it gets copies of the arrays. One JSON line per
finding goes to REPORT (``running`` before each call, so a hang can be named).

It imports nothing of npae itself: only the standard library and NumPy.
"""
from __future__ import annotations

import contextlib
import copy
import importlib
import inspect
import io
import json
import os
import pickle
import signal
import sys
import warnings
from pathlib import Path

import numpy as np

CALL_SECONDS = 2.0
RTOL, ATOL = 1e-5, 1e-10
# modules whose functions take paths, names and folders, not arrays: called by name only
# (the assignment machinery itself, the command line, downloads)
BY_NAME_ONLY = ("npae.assignments", "npae.cli", "npae.datasets")


class _Timeout(BaseException):
    """A call ran out of time (a BaseException: student code's ``except Exception`` lets it
    through)."""


def _isolate(root):
    def foreign(p):
        path = Path(p or ".").resolve()
        return str(path) != root and ((path / "npae").exists() or str(path).startswith(root))
    sys.path[:] = [root] + [p for p in sys.path if p and not foreign(p)]
    sys.meta_path[:] = [f for f in sys.meta_path
                        if "editable" not in (type(f).__module__ + getattr(f, "__name__", ""))]


def _flat(value, depth=0):
    if depth > 3:
        return []
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return [value.astype(np.float64)]
    if isinstance(value, (float, np.floating)):
        return [np.asarray(float(value))]
    if isinstance(value, (tuple, list)) and len(value) <= 16:
        return [a for v in value for a in _flat(v, depth + 1)]
    if isinstance(value, dict) and len(value) <= 16:
        return [a for v in value.values() for a in _flat(v, depth + 1)]
    return []


def _variants(answer):
    """The answer, and its exp and log where they are finite (γ for log γ)."""
    out = [answer]
    with np.errstate(all="ignore"):
        for f in (np.exp, np.log):
            v = f(answer)
            if np.isfinite(v).all():
                out.append(v)
    return out


def _returns_answer(value, answers):
    for got in _flat(value):
        if not np.isfinite(got).all():
            continue
        for answer in answers:
            for v in _variants(answer):
                if got.shape == v.shape and np.allclose(got, v, rtol=RTOL, atol=ATOL):
                    return True
    return False


def _bindings(fn, named, args, skip_self):
    """Argument lists for ``fn``: by name (every required parameter in ``named``, the
    optional ones too when there), or else by position (the exercise's own arguments:
    a copy of the answer under other names). Not both: a linear forward such as
    ``MaskingNoise.apply(X)`` called on the gradient would compute its own backward."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    params = [p for p in sig.parameters.values()
              if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if skip_self and params and params[0].name in ("self", "cls"):
        params = params[1:]
    required = [p for p in params if p.default is p.empty]
    if required and all(p.name in named for p in required):
        kw = {p.name: named[p.name] for p in params if p.name in named}
        return [((), kw)]
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if args and len(required) <= len(args) <= len(positional) and \
            all(p in positional for p in required):
        return [(tuple(args), {})]
    return []


def _functions(modules):
    """``(module, qualname, file, line, function)`` for every function of the modules."""
    seen = set()
    for mod in modules:
        for name, obj in list(vars(mod).items()):
            if getattr(obj, "__module__", None) != mod.__name__:
                continue
            if inspect.isfunction(obj):
                items = [(name, obj)]
            elif inspect.isclass(obj):
                items = [(f"{name}.{attr}", getattr(obj, attr)) for attr, raw in vars(obj).items()
                         if isinstance(raw, (staticmethod, classmethod))]
            else:
                continue
            for qualname, fn in items:
                code = getattr(inspect.unwrap(fn), "__code__", None)
                if code is None or id(code) in seen:
                    continue
                seen.add(id(code))
                yield mod.__name__, qualname, code.co_filename, code.co_firstlineno, fn


def _call(fn, args, kwargs):
    signal.setitimer(signal.ITIMER_REAL, CALL_SECONDS)
    try:
        with contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings(), \
                np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return True, fn(*copy.deepcopy(args), **copy.deepcopy(kwargs))
    except _Timeout:
        return False, None
    except Exception:                               # noqa: BLE001 (a call that fails is no leak)
        return False, None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def main(root, payload_path, report_path):
    root = str(Path(root).resolve())
    _isolate(root)
    payload = pickle.loads(Path(payload_path).read_bytes())
    report = open(report_path, "w", encoding="utf-8")     # noqa: SIM115 (flushed per line)

    def emit(**record):
        report.write(json.dumps(record) + "\n")
        report.flush()

    def where(path):
        return os.path.relpath(path, root) if str(path).startswith(root) else str(path)

    def raise_timeout(*_):
        raise _Timeout

    signal.signal(signal.SIGALRM, raise_timeout)
    import npae                                     # noqa: PLC0415 (the student's, after _isolate)
    modules = []
    package = Path(npae.__file__).parent
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] in ("__main__", "leakprobe") or "__pycache__" in parts:
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        try:
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                modules.append(importlib.import_module(name))
        except Exception as exc:                    # noqa: BLE001 (reported, the check goes on)
            emit(kind="import", file=str(path.relative_to(package.parent)),
                 error=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    functions = list(_functions(modules))
    skip = set(payload["skip"])
    for q in payload["questions"]:
        candidates = [(module, qualname, file, line, fn, None)
                      for module, qualname, file, line, fn in functions
                      if f"{module}.{qualname}" not in skip]
        if q["cls"]:                                # the exercise's class: every method
            module, cls_name = q["cls"].split(":")
            cls = getattr(importlib.import_module(module), cls_name)
            for attr, raw in vars(cls).items():
                if inspect.isfunction(raw) and not attr.startswith("__") and \
                        f"{module}.{cls_name}.{attr}" not in skip:
                    candidates.append((module, f"{cls_name}.{attr}", raw.__code__.co_filename,
                                       raw.__code__.co_firstlineno, raw, (cls, attr)))
        for module, qualname, file, line, fn, method in candidates:
            positional = () if module.startswith(BY_NAME_ONLY) else q["args"]
            for args, kwargs in _bindings(fn, q["named"], positional, method is not None):
                emit(kind="running", where=f"{where(file)}:{line} {qualname}")
                target = fn
                if method is not None:                  # a fresh instance for each call
                    ok, inst = _call(method[0], (), q["self_kwargs"])
                    if not ok:
                        continue
                    for k, v in copy.deepcopy(q["state"]).items():
                        setattr(inst, k, v)
                    target = getattr(inst, method[1])
                ok, value = _call(target, args, kwargs)
                if ok and _returns_answer(value, q["answers"]):
                    shown = ", ".join([str(getattr(a, "shape", a)) for a in args] + list(kwargs))
                    emit(kind="leak", file=where(file), line=line, qid=q["qid"],
                         exercise=q["exercise"], case=q["case"], call=f"{qualname}({shown})")
    emit(kind="done")
    report.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
