"""The process that runs a student's code, and the parent's handle on it.

Run as a script, ``python -I worker.py TREE``: ``-I`` drops PYTHONPATH, the user's
site-packages and the script's own folder from ``sys.path``; the worker then puts TREE
(the build under test) first and removes every other entry that holds an ``npae``
package, and every editable-install finder, so ``import npae`` can only mean the
student's build. The reference is not importable there. It imports nothing of npae
itself: this file uses only the standard library and NumPy.

Started by :class:`Worker` through :mod:`.sandbox` (another user when the grader is root,
a session of its own, a private folder, a scrubbed environment, resource limits); the
script is copied into that private folder, since the grader's own files are not readable
there.

While the student's function runs, the worker watches it (:func:`execute` with
``observe``): how many times each function of the build's npae is called from inside it
(a finite-difference answer calls npae's forward once or twice per entry), and which
arguments it modified in place (the caller's arrays must not change).

Protocol, on the worker's stdin/stdout (the student's prints go to stderr): each
message is an 8-byte length and an ``.npz`` archive (read with ``allow_pickle=False``,
so a reply can never run code in the parent) holding the arrays and a JSON header
``__meta__``. One worker serves every question of a submission; a call that exceeds
its time limit kills it, and the next call starts a fresh one.
"""
from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import json
import os
import select
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Ref:
    """A class or function of the build under test, by ``module:qualname``."""

    name: str


@dataclass(frozen=True)
class Obj:
    """An object made in the build under test: ``cls(**kwargs)`` (kwargs may hold Refs)."""

    cls: str
    kwargs: dict


@dataclass(frozen=True)
class Call:
    """One call of an exercise: ``target(*args)``, or ``target``'s class made with
    ``self_kwargs`` and its method called; ``returns_args`` are the indices of arguments
    whose state after the call is returned too (a ``grads`` dict filled in place);
    ``errstate='raise'`` makes an overflow, a division by zero or a NaN an error."""

    target: str
    args: tuple
    self_kwargs: dict | None = None
    returns_args: tuple = ()
    errstate: str | None = None
    setup: tuple = ()        # (method, args) called on the made object first (initialize)


class ReturnTypeError(TypeError):
    """The student's function returned something that is not arrays, numbers or None."""


# -- values <-> JSON + arrays ---------------------------------------------------------------

def encode(value, arrays):
    """A JSON-able structure for ``value``; its arrays go into the dict ``arrays``."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise ReturnTypeError(f"an array of dtype {value.dtype}")
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {"a": key}
    if value is None:
        return {"n": 0}
    if isinstance(value, (bool, int, float, np.integer, np.floating, np.bool_)):
        return {"v": value.item() if isinstance(value, np.generic) else value}
    if isinstance(value, str):
        return {"s": value}
    if isinstance(value, Ref):
        return {"ref": value.name}
    if isinstance(value, Obj):
        return {"obj": value.cls, "kw": {k: encode(v, arrays) for k, v in value.kwargs.items()}}
    if isinstance(value, (tuple, list)):
        return {"t" if isinstance(value, tuple) else "l": [encode(v, arrays) for v in value]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"d": {k: encode(v, arrays) for k, v in value.items()}}
    raise ReturnTypeError(f"a {type(value).__name__}")


def decode(struct, arrays, resolve=None):
    """Inverse of :func:`encode`; Refs and Objs are made with ``resolve`` when given."""
    if "a" in struct:
        return arrays[struct["a"]]
    if "n" in struct:
        return None
    if "v" in struct:
        return struct["v"]
    if "s" in struct:
        return struct["s"]
    if "ref" in struct:
        return resolve(struct["ref"]) if resolve else Ref(struct["ref"])
    if "obj" in struct:
        kw = {k: decode(v, arrays, resolve) for k, v in struct["kw"].items()}
        return resolve(struct["obj"])(**kw) if resolve else Obj(struct["obj"], kw)
    if "t" in struct:
        return tuple(decode(v, arrays, resolve) for v in struct["t"])
    if "l" in struct:
        return [decode(v, arrays, resolve) for v in struct["l"]]
    return {k: decode(v, arrays, resolve) for k, v in struct["d"].items()}


def pack(meta, arrays):
    buf = io.BytesIO()
    np.savez(buf, __meta__=np.array(json.dumps(meta)), **arrays)
    data = buf.getvalue()
    return len(data).to_bytes(8, "big") + data


def unpack(data):
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k != "__meta__"}
        meta = json.loads(str(z["__meta__"]))
    return meta, arrays


def encode_call(call):
    arrays = {}
    meta = {"target": call.target, "args": encode(tuple(call.args), arrays),
            "self_kwargs": None if call.self_kwargs is None else encode(call.self_kwargs, arrays),
            "returns_args": list(call.returns_args), "errstate": call.errstate,
            "setup": [[m, encode(tuple(a), arrays)] for m, a in call.setup]}
    return meta, arrays


# -- running one call ---------------------------------------------------------------------

def resolver(root=None):
    """``resolve("module:qualname")``; with ``root``, modules must come from that folder."""
    def resolve(name):
        module, qualname = name.split(":")
        obj = mod = importlib.import_module(module)
        if root is not None and not str(Path(mod.__file__).resolve()).startswith(root):
            raise ImportError(f"{module} was imported from {mod.__file__}, not the build "
                              "under test")
        for part in qualname.split("."):
            obj = getattr(obj, part)
        return obj
    return resolve


def execute(call, resolve, override=None, observe=None):
    """Run ``call`` (its args already made); ``override`` replaces the target function.

    Returns ``(out, states, seen)``: the return value, the arguments listed in
    ``returns_args`` as they are after the call, and, when ``observe`` is the folder of
    the build under test, what :class:`Observer` saw (else an empty dict).
    """
    args = list(call.args)
    module, qualname = call.target.split(":")
    strict = dict(over="raise", invalid="raise", divide="raise", under="ignore")
    with np.errstate(**strict) if call.errstate == "raise" else contextlib.nullcontext():
        if call.self_kwargs is not None:
            cls_name, method = qualname.rsplit(".", 1)
            inst = resolve(f"{module}:{cls_name}")(**call.self_kwargs)
            for name, setup_args in call.setup:
                getattr(inst, name)(*setup_args)
            fn = override.__get__(inst) if override else getattr(inst, method)
        else:
            fn = override or resolve(call.target)
        watcher = Observer(observe, fn, args, call.returns_args) if observe else None
        with watcher or contextlib.nullcontext():
            out = fn(*args)
    seen = watcher.report() if watcher else {}
    return out, [args[i] for i in call.returns_args], seen


class Observer:
    """Counts calls of the build's npae functions made from inside ``fn``, and finds the
    arguments ``fn`` modified in place (``returns_args`` are meant to be filled)."""

    def __init__(self, root, fn, args, returns_args=()):
        self.root = str(root)
        self.target = getattr(getattr(fn, "__func__", fn), "__code__", None)
        self.args, self.counts = args, {}
        try:
            names = list(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            names = []
        self.before = [(i, names[i] if i < len(names) else f"argument {i + 1}", _copy(a))
                       for i, a in enumerate(args) if i not in returns_args]

    # a generator reports a "call" each time it resumes: one per element of a generator
    # expression, which is a loop inside one call, not a call of npae
    _RESUMABLE = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR

    def _profile(self, frame, event, arg):
        if event == "call":
            code = frame.f_code
            if code is not self.target and code.co_filename.startswith(self.root) \
                    and not code.co_flags & self._RESUMABLE:
                self.counts[code] = self.counts.get(code, 0) + 1

    def __enter__(self):
        self._previous = sys.getprofile()
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc):
        sys.setprofile(self._previous)

    def report(self):
        calls = {}
        for code, n in self.counts.items():
            rel = os.path.relpath(code.co_filename, self.root)
            module = rel[:-3].replace(os.sep, ".") if rel.endswith(".py") else rel
            name = f"{module}.{getattr(code, 'co_qualname', code.co_name)}"
            calls[name] = calls.get(name, 0) + n
        modified = [name for i, name, old in self.before if not _same(old, self.args[i])]
        return {"calls": calls, "modified": modified}


def _copy(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (tuple, list)):
        return type(value)(_copy(v) for v in value)
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return None                                     # objects: not compared


def _same(old, new):
    if isinstance(old, np.ndarray):
        return (isinstance(new, np.ndarray) and old.shape == new.shape
                and np.array_equal(old, new, equal_nan=old.dtype.kind in "fc"))
    if isinstance(old, (tuple, list)):
        return len(old) == len(new) and all(_same(o, n) for o, n in zip(old, new))
    if isinstance(old, dict):
        return old.keys() == new.keys() and all(_same(old[k], new[k]) for k in old)
    return True


def materialize(value, resolve):
    """Refs and Objs (in args made in the parent) turned into the parent's own objects."""
    arrays = {}
    return decode(encode(value, arrays), arrays, resolve)


def one_line(exc, root=None):
    """``ValueError: shapes ... (npae/penalties.py line 12)``: the last frame in ``root``."""
    text = str(exc).strip().splitlines()
    where = ""
    if root:
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if f.filename.startswith(root)]
        if frames:
            where = f" ({os.path.relpath(frames[-1].filename, root)} line {frames[-1].lineno})"
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300] + where


# -- the worker process ---------------------------------------------------------------------

def _isolate(root):
    """Only the build at ``root`` can be imported as npae; returns the other npae packages
    that were on the path and that this process could still read by their file name."""
    def foreign(p):
        path = Path(p or ".").resolve()
        return str(path) != root and ((path / "npae").exists() or str(path).startswith(root))
    readable = [str(Path(p, "npae")) for p in sys.path if p and foreign(p)
                and os.access(Path(p, "npae", "__init__.py"), os.R_OK)]
    sys.path[:] = [root] + [p for p in sys.path if p and not foreign(p)]
    sys.meta_path[:] = [f for f in sys.meta_path
                        if "editable" not in (type(f).__module__ + getattr(f, "__name__", ""))]
    for name in [m for m in sys.modules if m == "npae" or m.startswith("npae.")]:
        del sys.modules[name]
    return readable


def _read_exact(stream, n):
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def serve(root):
    """The worker's loop: read a call, run it in the build at ``root``, reply."""
    root = str(Path(root).resolve())
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)                                  # the student's prints go to stderr
    sys.stdout = sys.stderr
    readable = _isolate(root)
    resolve = resolver(root)
    importlib.import_module("npae")               # start-up is not the student's time
    out.write(pack({"ready": True, "readable_npae": readable}, {}))
    out.flush()
    stdin = sys.stdin.buffer
    while True:
        head = _read_exact(stdin, 8)
        if head is None:
            return
        meta, arrays = unpack(_read_exact(stdin, int.from_bytes(head, "big")))
        try:
            call = Call(meta["target"], decode(meta["args"], arrays, resolve),
                        None if meta["self_kwargs"] is None
                        else decode(meta["self_kwargs"], arrays, resolve),
                        tuple(meta["returns_args"]), meta["errstate"],
                        tuple((m, decode(a, arrays, resolve)) for m, a in meta["setup"]))
            result, states, seen = execute(call, resolve, observe=root)
            reply = {}
            try:
                body = {"ok": True, "out": encode(result, reply),
                        "states": [encode(s, reply) for s in states], "seen": seen}
            except ReturnTypeError as exc:
                body, reply = {"ok": False, "error": f"returned {exc}, expected arrays"}, {}
        except BaseException as exc:               # noqa: BLE001 (any failure is a reason)
            body, reply = {"ok": False, "error": one_line(exc, root)}, {}
            if isinstance(exc, NotImplementedError):
                body["stub"] = True
        out.write(pack(body, reply))
        out.flush()


@dataclass
class Outcome:
    """What one call of the code under test gave: ``out`` and ``states`` when ``ok``,
    else a one-line ``reason`` (``stub``: it raised NotImplementedError); ``seen`` is the
    :class:`Observer`'s report (calls into npae, arguments modified in place)."""

    ok: bool
    out: object = None
    states: list = None
    reason: str = ""
    stub: bool = False
    seen: dict = None


class Worker:
    """The parent's handle on the worker process: ``call(Call) -> Outcome``.

    The process runs in ``sandbox`` (:mod:`.sandbox`) with ``home`` as its private folder
    and working directory, which holds ``script`` (a copy of this file) and the build
    ``root``. :meth:`close` kills its whole session; the next call starts a fresh one.
    """

    STARTUP = 120.0          # seconds to start Python and import the build (a loaded machine)

    def __init__(self, root, timeout=10.0, sandbox=None, home=None, script=None):
        # imported here: this file also runs as a standalone script, outside the package
        from .sandbox import Sandbox
        self.root = str(Path(root).resolve())
        self.timeout = float(timeout)
        self.sandbox = sandbox or Sandbox()
        self.home = Path(home or self.root)
        self.script = Path(script or __file__).resolve()
        self.proc = None
        self.readable_npae = []
        self.timed_out = set()   # targets that timed out once: not run again (bounded time)

    def _start(self):
        self.proc = self.sandbox.popen([sys.executable, "-I", str(self.script), self.root],
                                       self.home, stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + self.STARTUP
        meta, _ = unpack(self._read(int.from_bytes(self._read(8, deadline), "big"), deadline))
        self.readable_npae = meta.get("readable_npae", [])

    def _read(self, n, deadline):
        fd, data = self.proc.stdout.fileno(), b""
        while len(data) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(fd, n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def call(self, call):
        if call.target in self.timed_out:
            return Outcome(False, reason=f"not run: an earlier call timed out after "
                                         f"{self.timeout:g} s")
        try:
            if self.proc is None or self.proc.poll() is not None:
                self._start()
        except (TimeoutError, EOFError, OSError, ValueError):
            self.close()
            return Outcome(False, reason="the student build could not be imported "
                                         "(npae/__init__.py)")
        meta, arrays = encode_call(call)
        deadline = time.monotonic() + self.timeout
        try:
            self.proc.stdin.write(pack(meta, arrays))
            self.proc.stdin.flush()
            head = self._read(8, deadline)
            body, reply = unpack(self._read(int.from_bytes(head, "big"), deadline))
        except TimeoutError:
            self.close()
            self.timed_out.add(call.target)
            return Outcome(False, reason=f"timed out after {self.timeout:g} s")
        except (EOFError, BrokenPipeError, OSError, ValueError):
            self.close()
            return Outcome(False, reason="the process running your code exited (os._exit, "
                                         "a crash, a resource limit?)")
        if not body["ok"]:
            return Outcome(False, reason=body["error"], stub=bool(body.get("stub")))
        return Outcome(True, decode(body["out"], reply),
                       [decode(s, reply) for s in body["states"]], seen=body.get("seen", {}))

    def close(self):
        """Kill the worker's whole session (whatever it started in it) and reap it."""
        if self.proc is not None:
            self.sandbox.kill_session(self.proc)
            for stream in (self.proc.stdin, self.proc.stdout):
                with contextlib.suppress(OSError):
                    stream.close()
            self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


if __name__ == "__main__":
    serve(sys.argv[1])
