"""A cache of the resolved stack, so ``up`` skips validating it when nothing changed.

Validating stack.toml imports pydantic and the config models and resolves env
files, venvs, interpolation and commands. The resolved ``StackSpec`` is kept as
JSON in ``.devstack/spec-cache.json`` with what it was made from: the bytes of every
file of the stack (stack.toml, stack.local.toml or the ``-f`` files, what they include),
every env file's bytes, the whole process environment and devstack's
version. Any difference, or a ``cwd`` that no longer exists, is a miss and the
config is validated again, so a hit is exactly what validation would give.

The JSON is derived from the spec's dataclass fields and their type hints
(``encode``/``decode``), so a field added to the spec is kept without an edit
here; a field of a type this cannot write raises TypeError, in the tests.
Stdlib only: a hit imports no pydantic.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from devstack import __version__
from devstack.config.regularfile import read_regular_file
from devstack.project.venv import find_venv
from devstack.spec import StackSpec
from devstack.stackfile import MAX_STACK_FILE

# 5: watch keys; 6: setup_timeout; 7: contents kept, not their sha256; 8: http_every;
# 9: check_off; 10: state; 11: derived from the fields (services as a table);
# 12: stop_mode; 13: health.fail_fast, http_every 60s; 14: profiles; 15: interactive;
# 16: layers, files; 17: replica_of, replica
_FORMAT = 17


# The inputs are kept whole and compared whole, not digested: exact, and hashlib's
# import (OpenSSL's) is not on `up`'s path. They are a few kB; the spec beside
# them holds every service's whole environment anyway (the file is 0600).
def _file_content(path: Path) -> str | None:
    try:  # a FIFO or a device in their place is a miss: loading says what is wrong
        return read_regular_file(path, MAX_STACK_FILE).decode("utf-8", "surrogateescape")
    except OSError:
        return None


def _inputs(layers: Path | Sequence[Path], environ: Mapping[str, str]) -> dict[str, Any]:
    # The layers' names and bytes: stack.local.toml appearing or going away is a miss.
    layers = _layers(layers)
    return {
        "format": _FORMAT,
        "version": __version__,
        "layers": [[str(f), _file_content(f)] for f in layers],
        "environ": [[name, value] for name, value in sorted(environ.items())],  # as JSON reads it
    }


def _layers(layers: Path | Sequence[Path]) -> tuple[Path, ...]:
    return (layers,) if isinstance(layers, Path) else tuple(layers)


def load(
    cache: Path, layers: Path | Sequence[Path], environ: Mapping[str, str]
) -> StackSpec | None:
    """The cached spec of the stack ``layers`` (stack.toml, stack.local.toml or the -f
    files) make, or None when anything it was made from changed."""
    try:
        data = json.loads(cache.read_bytes())
        if data["inputs"] != _inputs(layers, environ):
            return None
        # Included files and env files: an edit in any is a miss.
        for name, content in (*data["included"].items(), *data["env_files"].items()):
            if _file_content(Path(name)) != content:
                return None
        spec = decode(StackSpec, data["spec"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not all(s.cwd.is_dir() for s in spec.services.values()):
        return None
    # A venv made since (by a setup step) changes the service's PATH: validate again.
    if any(s.venv is None and find_venv(s.cwd) is not None for s in spec.services.values()):
        return None
    # A venv removed since, that no setup step makes again: loading says so.
    if any(
        s.venv is not None and s.setup is None and not s.venv.is_dir()
        for s in spec.services.values()
    ):
        return None
    return spec


def save(
    cache: Path, layers: Path | Sequence[Path], environ: Mapping[str, str], spec: StackSpec
) -> None:
    """Keep ``spec`` for the next run; a failure to write only costs that run time."""
    env_files = {str(p) for s in spec.services.values() for p in s.env_files}
    included = [str(p) for p in spec.files if p not in _layers(layers)]
    data = {
        "inputs": _inputs(layers, environ),
        "included": {name: _file_content(Path(name)) for name in included},
        "env_files": {name: _file_content(Path(name)) for name in sorted(env_files)},
        "spec": encode(StackSpec, spec),
    }
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
    with contextlib.suppress(OSError):
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(data))  # dumps has the C encoder; dump streams in Python
        os.replace(tmp, cache)


_T = typing.TypeVar("_T")
_Codec = tuple[Callable[[Any], Any], Callable[[Any], Any]]  # (to JSON, from JSON)


def encode(cls: type[Any], value: Any) -> Any:
    """``value``, of type ``cls`` (a spec dataclass), as JSON data."""
    return _codec(cls)[0](value)


def decode(cls: type[_T], data: Any) -> _T:
    """What ``encode(cls, ...)`` gave, back as a ``cls``; ValueError, KeyError or
    TypeError when ``data`` is not one."""
    value: _T = _codec(cls)[1](data)
    return value


def _same(value: Any) -> Any:
    return value


def _checked(kind: type[Any]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, kind):
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
        return value

    return check


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)


def _one_of(allowed: tuple[Any, ...]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value not in allowed:
            raise ValueError(f"{value!r} is not one of {allowed}")
        return value

    return check


_CODECS: dict[Any, _Codec] = {}


def _codec(tp: Any) -> _Codec:
    """The (to JSON, from JSON) pair of the type ``tp``, made once."""
    found = _CODECS.get(tp)
    if found is None:
        found = _CODECS[tp] = _make_codec(tp)
    return found


def _make_codec(tp: Any) -> _Codec:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp in (str, int, bool):
        return _same, _checked(tp)
    if tp is float:
        return _same, _float
    if tp is Path:
        return str, Path
    if isinstance(tp, type) and issubclass(tp, Enum):
        return (lambda v: v.value), tp
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass_codec(tp)
    if origin is typing.Literal and all(isinstance(a, str | int) for a in args):
        return _same, _one_of(args)
    if origin in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        to, back = _codec(next(a for a in args if a is not type(None)))
        return (lambda v: None if v is None else to(v)), (lambda d: None if d is None else back(d))
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        to, back = _codec(args[0])
        return (lambda v: [to(x) for x in v]), (lambda d: tuple(back(x) for x in d))
    if origin in (Mapping, dict) and args[0] is str:
        to, back = _codec(args[1])
        return (
            lambda v: {k: to(x) for k, x in v.items()},
            lambda d: {_checked(str)(k): back(x) for k, x in d.items()},
        )
    raise TypeError(f"the spec cache cannot keep a value of type {tp!r}")


def _dataclass_codec(cls: type[Any]) -> _Codec:
    namespace = vars(sys.modules[cls.__module__])
    fields = [
        # The annotations are strings (PEP 563): evaluated here as get_type_hints would,
        # without its general machinery, which is the slow part of a cache hit.
        (f.name, *_codec(eval(f.type, namespace) if isinstance(f.type, str) else f.type))
        for f in dataclasses.fields(cls)
        if f.init
    ]

    def to(value: Any) -> dict[str, Any]:
        return {name: enc(getattr(value, name)) for name, enc, _ in fields}

    def back(data: Any) -> Any:
        if not isinstance(data, dict):
            raise TypeError(f"expected a table for {cls.__name__}")
        return cls(**{name: dec(data[name]) for name, _, dec in fields})

    return to, back
