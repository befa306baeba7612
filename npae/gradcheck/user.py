"""Checking a forward/backward pair from a user's own file (``gradcheck --function``)."""
from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import numpy as np

from .checks import check_vjp


class FunctionSpecError(ValueError):
    """A ``FILE.py:FORWARD:BACKWARD`` that cannot be loaded; the message is one line."""


def load_pair(spec):
    """``(forward, backward)`` from ``"path/to/file.py:forward:backward"``."""
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
    except Exception as exc:                                   # the user's code, any error
        raise FunctionSpecError(f"--function: importing {path} raised "
                                f"{type(exc).__name__}: {_one_line(exc)}") from None
    pair = []
    for name in (fwd_name, bwd_name):
        f = getattr(module, name, None)
        if f is None:
            raise FunctionSpecError(f"--function: {path} has no function {name!r}")
        if not callable(f):
            raise FunctionSpecError(f"--function: {name!r} in {path} is not callable")
        pair.append(f)
    return tuple(pair)


def n_inputs(forward):
    """The number of positional parameters ``forward`` requires."""
    params = inspect.signature(forward).parameters.values()
    return sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
               and p.default is p.empty)


def check_user_pair(spec, shapes, seed=0, low=-1.0, high=1.0, directions=None):
    """Draw one float64 input per shape, uniform in [low, high), and run :func:`check_vjp`."""
    forward, backward = load_pair(spec)
    need = n_inputs(forward)
    if len(shapes) != need:
        raise FunctionSpecError(f"--shape: {forward.__name__} takes {need} input(s), got "
                                f"{len(shapes)} --shape option(s)")
    if not low < high:
        raise FunctionSpecError(f"--low must be below --high, got {low} and {high}")
    rng = np.random.default_rng(seed)
    inputs = [rng.uniform(low, high, size=shape) for shape in shapes]
    try:
        return check_vjp(forward, backward, *inputs, seed=seed, raise_on_fail=False,
                         directions=directions)
    except (AssertionError, ValueError, TypeError, ArithmeticError, IndexError,
            KeyError) as exc:
        raise FunctionSpecError(f"{type(exc).__name__}: {_one_line(exc)}") from None


def _one_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
