"""The process that runs a student's code, and the parent's handle on it.

Run as a script, ``python -I worker.py TREE``: ``-I`` drops PYTHONPATH, the user's
site-packages and the script's own folder from ``sys.path``; the worker then puts TREE
(the build under test) first and removes every other entry that holds an ``npae``
package, and every editable-install finder, so ``import npae`` can only mean the
student's build. The reference is not importable there. It imports nothing of npae
itself: this file uses only the standard library and NumPy.

Protocol, on the worker's stdin/stdout (the student's prints go to stderr): each
message is an 8-byte length and an ``.npz`` archive (read with ``allow_pickle=False``,
so a reply can never run code in the parent) holding the arrays and a JSON header
``__meta__``. One worker serves every question of a submission; a call that exceeds
its time limit kills it, and the next call starts a fresh one.
"""
from __future__ import annotations

import contextlib
import importlib
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


def execute(call, resolve, override=None):
    """Run ``call`` (its args already made); ``override`` replaces the target function.

    Returns ``(out, states)``: the return value and the arguments listed in
    ``returns_args`` as they are after the call.
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
        out = fn(*args)
    return out, [args[i] for i in call.returns_args]


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
    def foreign(p):
        path = Path(p or ".").resolve()
        return str(path) != root and ((path / "npae").exists() or str(path).startswith(root))
    sys.path[:] = [root] + [p for p in sys.path if p and not foreign(p)]
    sys.meta_path[:] = [f for f in sys.meta_path
                        if "editable" not in (type(f).__module__ + getattr(f, "__name__", ""))]
    for name in [m for m in sys.modules if m == "npae" or m.startswith("npae.")]:
        del sys.modules[name]


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
    _isolate(root)
    resolve = resolver(root)
    importlib.import_module("npae")               # start-up is not the student's time
    out.write(pack({"ready": True}, {}))
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
            result, states = execute(call, resolve)
            reply = {}
            try:
                body = {"ok": True, "out": encode(result, reply),
                        "states": [encode(s, reply) for s in states]}
            except ReturnTypeError as exc:
                body, reply = {"ok": False, "error": f"returned {exc}, expected arrays"}, {}
        except BaseException as exc:               # noqa: BLE001 (any failure is a reason)
            body, reply = {"ok": False, "error": one_line(exc, root)}, {}
            if isinstance(exc, NotImplementedError):
                body["stub"] = True
        out.write(pack(body, reply))
        out.flush()


class Worker:
    """The parent's handle: ``call(Call)`` returns ``(True, (out, states), False)`` or
    ``(False, reason, is_stub)`` (is_stub: the code raised NotImplementedError)."""

    STARTUP = 120.0          # seconds to start Python and import the build (a loaded machine)

    def __init__(self, root, timeout=10.0):
        self.root = str(Path(root).resolve())
        self.timeout = float(timeout)
        self.proc = None
        self.timed_out = set()   # targets that timed out once: not run again (bounded time)

    def _start(self):
        self.proc = subprocess.Popen([sys.executable, "-I", str(Path(__file__).resolve()),
                                      self.root], cwd=self.root, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + self.STARTUP
        unpack(self._read(int.from_bytes(self._read(8, deadline), "big"), deadline))

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
            return False, f"not run: an earlier call timed out after {self.timeout:g} s", False
        try:
            if self.proc is None or self.proc.poll() is not None:
                self._start()
        except (TimeoutError, EOFError, OSError, ValueError):
            self.close()
            return False, "the student build could not be imported (npae/__init__.py)", False
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
            return False, f"timed out after {self.timeout:g} s", False
        except (EOFError, BrokenPipeError, OSError, ValueError):
            self.close()
            return False, "the process running your code exited (os._exit, a crash?)", False
        if not body["ok"]:
            return False, body["error"], bool(body.get("stub"))
        out = decode(body["out"], reply)
        return True, (out, [decode(s, reply) for s in body["states"]]), False

    def close(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
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
