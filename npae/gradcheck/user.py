"""Checking a forward/backward pair from a user's own file (``gradcheck --function``).

The user's code runs inside the check (importing the file, then every forward and
backward call), so whatever it does there is reported as the user's, in one line that
names the function, with the traceback of the user's own frames only:

* an exception → :class:`UserCodeError`, exit status 2;
* ``sys.exit(...)`` (SystemExit) → :class:`UserCodeError`, exit status 2: a file that
  exits while it is checked must not end the check with status 0 and nothing printed;
* Ctrl-C (KeyboardInterrupt) → :class:`UserCodeError`, exit status 130.

An entrywise check costs 4 forward calls per input entry ((N1'), and up to as many
again for the error estimate (N4) of a row that fails the relative test); an input too
large for that within ``time_limit`` seconds is refused with the estimate, and
``--directions K`` (4 K (1 + #inputs) calls) suggested instead.
"""
from __future__ import annotations

import functools
import importlib.util
import inspect
import os
import time
import traceback
from pathlib import Path

import numpy as np

from .checks import check_vjp

CALLS_PER_ENTRY = 4         # (N1'): f(θ ± ε e_i), f(θ ± 2ε e_i)
TIME_LIMIT = 600.0          # seconds: an entrywise check expected to take longer is refused


class FunctionSpecError(ValueError):
    """A ``FILE.py:FORWARD:BACKWARD`` that cannot be loaded or checked; one-line message."""


class UserCodeError(Exception):
    """The user's own code raised, exited or was interrupted while npae ran it.

    ``message`` is one line naming the user's function, ``frames`` the formatted
    traceback entries in the user's file only, ``status`` the exit status (2, or 130
    for an interrupt).
    """

    def __init__(self, message, frames="", status=2):
        super().__init__(message)
        self.frames, self.status = frames, status


def _user_frames(exc, file):
    """The traceback of ``exc`` restricted to frames in the user's ``file``, formatted."""
    mine = os.path.realpath(file)
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if os.path.realpath(f.filename) == mine]
    if not frames:
        return ""
    return ("your code (most recent call last):\n"
            + "".join(traceback.format_list(frames)).rstrip("\n"))


def _what_happened(exc):
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    if isinstance(exc, KeyboardInterrupt):
        return "was interrupted (KeyboardInterrupt)"
    return f"raised {type(exc).__name__}: {_one_line(exc)}"


def _as_user_error(exc, who, file):
    status = 130 if isinstance(exc, KeyboardInterrupt) else 2
    return UserCodeError(f"--function: {who} {_what_happened(exc)}", _user_frames(exc, file),
                         status)


def _guard(f, label, file):
    """``f`` with anything it raises (SystemExit and KeyboardInterrupt too) turned into a
    :class:`UserCodeError` that names ``label``."""
    @functools.wraps(f)
    def call(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except BaseException as exc:                           # the user's code, anything
            raise _as_user_error(exc, label, file) from None
    return call


def load_pair(spec):
    """``(forward, backward)`` from ``"path/to/file.py:forward:backward"``, each guarded."""
    parts = spec.rsplit(":", 2)
    if len(parts) != 3 or not all(parts):
        raise FunctionSpecError(f"--function must be FILE.py:FORWARD:BACKWARD, got {spec!r}")
    path, fwd_name, bwd_name = parts
    file = Path(path)
    if not file.is_file():
        raise FunctionSpecError(f"--function: no file {path!r}")
    module_spec = importlib.util.spec_from_file_location(f"_npae_user_{file.stem}", file)
    if module_spec is None:
        raise FunctionSpecError(f"--function: {path!r} is not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except BaseException as exc:                               # the user's code, anything
        raise _as_user_error(exc, f"importing {path}", file) from None
    pair = []
    for name in (fwd_name, bwd_name):
        f = getattr(module, name, None)
        if f is None:
            raise FunctionSpecError(f"--function: {path} has no function {name!r}")
        if not callable(f):
            raise FunctionSpecError(f"--function: {name!r} in {path} is not callable")
        pair.append(_guard(f, f"{name} in {path}", file))
    return tuple(pair)


def n_inputs(forward):
    """The number of positional parameters ``forward`` requires."""
    params = inspect.signature(forward).parameters.values()
    return sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
               and p.default is p.empty)


def _duration(seconds):
    if seconds < 120:
        return f"{seconds:.2g} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def forward_seconds(forward, inputs):
    """The time of one forward call (the fastest of up to 3; one if it is slow)."""
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        forward(*inputs)
        best = min(best, time.perf_counter() - t0)
        if best > 0.05:
            break
    return best


def estimate_seconds(entries, n_arrays, per_call, directions=None):
    """Forward calls and seconds of an entrywise check, or of ``directions`` = K."""
    if directions is None:
        calls = CALLS_PER_ENTRY * entries
    else:
        calls = CALLS_PER_ENTRY * directions * (1 + n_arrays if n_arrays > 1 else 1)
    return calls, calls * per_call


def check_user_pair(spec, shapes, seed=0, low=-1.0, high=1.0, directions=None,
                    time_limit=TIME_LIMIT, log=None):
    """Draw one float64 input per shape, uniform in [low, high), and run :func:`check_vjp`.

    ``log(text)``, when given, receives the time estimate of a check expected to take
    more than a few seconds. Raises :class:`FunctionSpecError` for a bad spec, range or
    an entrywise check expected to exceed ``time_limit`` seconds, and
    :class:`UserCodeError` for anything the user's code does.
    """
    if not (np.isfinite(low) and np.isfinite(high)):
        raise FunctionSpecError(f"--low and --high must be finite numbers, got {low} and {high}")
    if not low < high:
        raise FunctionSpecError(f"--low must be below --high, got {low} and {high}")
    if not np.isfinite(high - low):
        raise FunctionSpecError(f"--high - --low must be a finite float64, got {high} - {low} "
                                "= inf: choose a narrower range")
    forward, backward = load_pair(spec)
    need = n_inputs(forward)
    if len(shapes) != need:
        raise FunctionSpecError(f"--shape: {forward.__name__} takes {need} input(s), got "
                                f"{len(shapes)} --shape option(s)")
    rng = np.random.default_rng(seed)
    inputs = [rng.uniform(low, high, size=shape) for shape in shapes]
    entries = sum(x.size for x in inputs)
    per_call = forward_seconds(forward, inputs)
    calls, seconds = estimate_seconds(entries, len(inputs), per_call, directions)
    if directions is None and seconds > time_limit:
        k_calls, k_seconds = estimate_seconds(entries, len(inputs), per_call, 8)
        raise FunctionSpecError(
            f"--function: checking {entries:,} input entries one by one takes {calls:,} "
            f"forward calls, about {_duration(seconds)} at {per_call * 1e3:.2g} ms per call "
            f"(limit {_duration(time_limit)}, --time-limit); use --directions K instead "
            f"(4K(1 + #inputs) calls: --directions 8 takes about {_duration(k_seconds)})")
    if log is not None and seconds > 5:
        log(f"gradcheck: {calls:,} forward calls, about {_duration(seconds)}")
    try:
        return check_vjp(forward, backward, *inputs, seed=seed, raise_on_fail=False,
                         directions=directions)
    except (AssertionError, ValueError, TypeError, ArithmeticError, IndexError,
            KeyError) as exc:
        raise FunctionSpecError(f"{type(exc).__name__}: {_one_line(exc)}") from None


def _one_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
