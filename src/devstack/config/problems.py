"""Turning what went wrong into ``stack.toml:12 services.backend.helth: ...`` lines.

Three jobs: find the line of a key path in the TOML text (tomllib gives lines only
for syntax errors), translate pydantic's ValidationError into ConfigProblems with a
did-you-mean for misspelt keys, and render a resolved stack for ``devstack config``.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devstack.config.durations import format_duration
from devstack.errors import ConfigProblem
from devstack.spec import ServiceSpec, StackSpec

if TYPE_CHECKING:
    from pydantic import ValidationError

KeyPath = tuple[str, ...]

_HEADER = re.compile(r"^\s*\[\[?\s*([^\[\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(
    r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
)
_INLINE_KEY = re.compile(
    r"""[{,]\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
)
_SECRET = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|KEY|CREDENTIAL", re.IGNORECASE)


def _split_key(text: str) -> KeyPath:
    parts = re.findall(r""""[^"]*"|'[^']*'|[^.]+""", text)
    return tuple(p.strip().strip("\"'") for p in parts if p.strip())


class Locator:
    """Best-effort line numbers of key paths in a TOML text, indexed on the first
    question (a valid file never asks one)."""

    def __init__(self, text: str) -> None:
        self._text: str | None = text
        self._lines: dict[KeyPath, int] = {}

    def _index(self, text: str) -> None:
        table: KeyPath = ()
        arrays: dict[KeyPath, int] = {}  # [[name]] seen so far, so keys get their "[i]"
        in_multiline = False
        for number, line in enumerate(text.splitlines(), start=1):
            # Inside a multi-line string nothing is a key: toggle on odd triple quotes.
            quotes = line.count('"""') + line.count("'''")
            if in_multiline:
                in_multiline = quotes % 2 == 0
                continue
            if quotes % 2 == 1:
                in_multiline = True
            header = _HEADER.match(line)
            if header:
                table = _split_key(header.group(1))
                if line.lstrip().startswith("[["):
                    index = arrays.get(table, 0)
                    arrays[table] = index + 1
                    table = (*table, f"[{index}]")
                self._record(table, number)
                continue
            key = _KEY.match(line)
            if key:
                full = table + _split_key(key.group(1))
                self._record(full, number)
                rest = line[key.end() :]
                for inner in _INLINE_KEY.finditer(rest):
                    self._record(full + _split_key(inner.group(1)), number)

    def _record(self, path: KeyPath, number: int) -> None:
        for end in range(1, len(path) + 1):
            self._lines.setdefault(path[:end], number)

    def line_of(self, path: KeyPath) -> int | None:
        """The line of ``path`` or of its nearest enclosing key or table."""
        if self._text is not None:
            text, self._text = self._text, None
            self._index(text)
        for end in range(len(path), 0, -1):
            if path[:end] in self._lines:
                return self._lines[path[:end]]
        return None


def toml_syntax_line(message: str) -> int | None:
    """The line number in a tomllib error message ("... (at line 3, column 7)")."""
    match = re.search(r"at line (\d+)", message)
    return int(match.group(1)) if match else None


def dotted(path: KeyPath) -> str:
    return ".".join(path)


def closest(word: str, options: list[str]) -> str | None:
    found = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return found[0] if found else None


_EXPECTED = {
    "string_type": "a string",
    "list_type": "an array",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"string {shown!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _data_path(loc: tuple[int | str, ...], data: Any) -> KeyPath:
    """The part of a pydantic ``loc`` that names keys in the data (drops union tags)."""
    path: list[str] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(f"[{part}]")
    return tuple(path)


# (file, line) of a key path: ``Layered.where`` (the file the value came from).
Where = Callable[[KeyPath], tuple[Path | None, int | None]]


def problems_from_validation(
    exc: ValidationError, data: Mapping[str, Any], where: Where
) -> list[ConfigProblem]:
    """One ConfigProblem per wrong key, in file order of appearance."""
    grouped: dict[KeyPath, list[dict[str, Any]]] = {}
    for error in exc.errors(include_url=False):
        path = _data_path(error["loc"], data)
        if error["type"] in ("missing", "extra_forbidden") and error["loc"]:
            last = str(error["loc"][-1])
            if not path or path[-1] != last:
                path = (*path, last)
        grouped.setdefault(path, []).append(dict(error))

    problems: list[ConfigProblem] = []
    for path, errors in grouped.items():
        if any(other[: len(path)] == path and len(other) > len(path) for other in grouped) and all(
            e["type"] in _EXPECTED for e in errors
        ):
            # A union where another branch got further (depends_on table vs list):
            # the deeper error is the useful one.
            continue
        message, hint = _message(path, errors)
        if errors[0]["type"] == "missing" and hint is None:
            hint = _misspelt_service(path, data)
        file, line = where(path[:-1] if errors[0]["type"] == "missing" else path)
        problems.append(ConfigProblem(file, line, _render_path(path), message, hint))
    problems.sort(key=_file_order)
    return problems


def _misspelt_service(path: KeyPath, data: Mapping[str, Any]) -> str | None:
    """A service without ``cmd`` named close to another: most likely a misspelt change
    of that one (in stack.local.toml, a service named only there is a new one)."""
    if len(path) != 3 or path[0] != "services" or path[2] != "cmd":
        return None
    services = data.get("services")
    if not isinstance(services, Mapping):
        return None
    guess = closest(path[1], [str(n) for n in services if n != path[1]])
    if guess is None:
        return None
    return f"did you mean services.{guess}? A service named only here is a new one, and needs cmd"


def _file_order(problem: ConfigProblem) -> tuple[str, bool, int]:
    """Problems grouped by file, in line order within each."""
    return str(problem.file or ""), problem.line is None, problem.line or 0


def _render_path(path: KeyPath) -> str:
    text = ""
    for part in path:
        text += part if part.startswith("[") or not text else f".{part}"
    return text or "(top level)"


def _message(path: KeyPath, errors: list[dict[str, Any]]) -> tuple[str, str | None]:
    first = errors[0]
    kind = first["type"]
    if kind == "extra_forbidden":
        from devstack.config.model import valid_keys

        key = path[-1]
        options = valid_keys(path[:-1])
        guess = closest(key, options)
        if guess:
            return f"unknown key; did you mean {guess!r}?", None
        return "unknown key", ("valid keys here: " + ", ".join(options)) if options else None
    if kind == "missing":
        return "required key is missing", None
    if all(e["type"] in _EXPECTED for e in errors):
        wanted = []
        for e in errors:
            word = _EXPECTED[e["type"]]
            if word not in wanted:
                wanted.append(word)
        got = _describe(first.get("input"))
        return f"expected {' or '.join(wanted)}, got {got}", _type_hint(path, first.get("input"))
    # The most specific error wins over the union's type complaints.
    specific = next((e for e in errors if e["type"] not in _EXPECTED), first)
    msg = str(specific["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    if specific["type"] in ("literal_error", "enum") or specific["type"].startswith(
        ("greater_than", "less_than", "too_short", "too_long", "string_too")
    ):
        msg = f"{msg[0].lower()}{msg[1:]}, got {_describe(specific.get('input'))}"
        msg = msg.replace("input should", "should")
    return msg, None


def _type_hint(path: KeyPath, value: Any) -> str | None:
    if isinstance(value, str) and path[-1:] in (("port",), ("max_restarts",), ("retries",)):
        return f"write a number without quotes: {path[-1]} = {value}"
    return None


def dump_resolved(spec: StackSpec, environ: Mapping[str, str] | None = None) -> str:
    """The resolved stack as TOML-like text, for ``devstack config``.

    Only variables the stack set or changed are shown (not the whole inherited
    environment), and values whose names look secret are redacted.
    """
    inherited = os.environ if environ is None else environ
    lines = ["[stack]", f"name = {json.dumps(spec.name)}", f"root = {json.dumps(str(spec.root))}"]
    if spec.file is not None:
        lines.append(f"file = {json.dumps(str(spec.file))}")
    lines.append(f"state_dir = {json.dumps(str(spec.state_dir()))}")
    if len(spec.files) > 1:  # stack.local.toml, -f layers, included files
        lines.append(f"files = [{', '.join(json.dumps(str(f)) for f in spec.files)}]")
    if spec.profiles:  # the active ones (--profile, DEVSTACK_PROFILES)
        lines.append(f"profiles = {json.dumps(list(spec.profiles))}")
    for svc in spec.services.values():
        if svc.replica_of is None:
            lines += ["", f"[services.{svc.name}]"]
        else:  # a copy of a service with replicas: its name holds a dot
            header = f"[services.{json.dumps(svc.name)}]"
            lines += ["", f"{header}  # copy {svc.replica} of {svc.replica_of}"]
        lines += _service_lines(svc, inherited)
    return "\n".join(lines) + "\n"


def _service_lines(svc: ServiceSpec, inherited: Mapping[str, str]) -> list[str]:
    q = json.dumps
    out = [
        f"cmd = {q(svc.cmd)}",
        f"argv = [{', '.join(q(a) for a in svc.argv)}]",
        f"cwd = {q(str(svc.cwd))}",
    ]
    if svc.shell:
        out.append("shell = true")
    if svc.port is not None:
        out.append(f"port = {svc.port}")
    out.append(f"host = {q(svc.host)}")
    if svc.url:
        out.append(f"url = {q(svc.url)}")
    if svc.depends_on:
        deps = ", ".join(f"{k} = {q(str(v))}" for k, v in svc.depends_on.items())
        out.append(f"depends_on = {{ {deps} }}")
    if svc.profiles:
        out.append(f"profiles = {q(list(svc.profiles))}")
    if svc.health:
        h = svc.health
        parts = [
            f"{h.kind} = {q(h.target)}",
            # Not written when quiet: read back, an interval means the request every interval.
            *([] if h.http_every else [f"interval = {q(format_duration(h.interval))}"]),
            f"timeout = {q(format_duration(h.timeout))}",
            f"retries = {h.retries}",
            f"start_period = {q(format_duration(h.start_period))}",
        ]
        if h.expect_status:
            parts.append(f"expect_status = {list(h.expect_status)}")
        if not h.fail_fast:
            parts.append("fail_fast = false")
        out.append(f"health = {{ {', '.join(parts)} }}")
        if h.http_every:
            every, tcp = format_duration(h.http_every), format_duration(h.interval)
            out.append(f"# once healthy: the http request every {every}, a tcp connect every {tcp}")
    r = svc.restart
    out += [
        f"restart = {q(str(r.policy))}",
        f"max_restarts = {r.max_restarts}",
        f"backoff = {q(format_duration(r.backoff))}",
        f"backoff_max = {q(format_duration(r.backoff_max))}",
        f"backoff_reset = {q(format_duration(r.reset_after))}",
        f"stop_signal = {q(svc.stop_signal.name)}",
        f"stop_timeout = {q(format_duration(svc.stop_timeout))}",
    ]
    if svc.stop_mode != "main":
        out.append(f"stop_mode = {q(svc.stop_mode)}")
    if svc.restart_on_unhealthy:
        out.append("restart_on_unhealthy = true")
    if svc.interactive:
        out.append("interactive = true")
    if svc.setup is not None:
        out.append(f"setup = {q(svc.setup)}")
        if svc.setup_inputs:
            out.append(f"setup_inputs = [{', '.join(q(g) for g in svc.setup_inputs)}]")
        if svc.setup_timeout is not None:
            out.append(f"setup_timeout = {q(format_duration(svc.setup_timeout))}")
    if svc.watch:
        out.append(f"watch = [{', '.join(q(g) for g in svc.watch)}]")
        if svc.watch_ignore:
            out.append(f"watch_ignore = [{', '.join(q(g) for g in svc.watch_ignore)}]")
        out.append(f"watch_debounce = {q(format_duration(svc.watch_debounce))}")
        if svc.watch_force:
            out.append("watch_force = true")
        if svc.restart_dependents_on_change:
            out.append("restart_dependents_on_change = true")
    if svc.env_files:
        out.append(f"env_file = [{', '.join(q(str(p)) for p in svc.env_files)}]")
    own = {k: v for k, v in svc.env.items() if inherited.get(k) != v}
    if own:
        key = svc.name if svc.replica_of is None else json.dumps(svc.name)
        out.append(f"[services.{key}.env]  # set by the stack; inherited variables not shown")
        for key in sorted(own):
            value = "<redacted>" if _SECRET.search(key) else own[key]
            out.append(f"{_toml_key(key)} = {q(value)}")
    return out


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def dump_origins(values: Iterable[tuple[KeyPath, Any, Path, int | None]], root: Path) -> str:
    """``devstack config --origins``: each value as written, merged, with the file (relative
    to ``root`` when inside it) and line it came from; secret-looking env values redacted."""
    rows: list[tuple[str, str]] = []
    for path, value, file, line in values:
        shown = "<redacted>" if _is_secret(path) else _toml_value(value)
        where = os.path.relpath(file, root) if file.is_relative_to(root) else str(file)
        rows.append((f"{_render_path(path)} = {shown}", where + (f":{line}" if line else "")))
    width = min(max((len(text) for text, _ in rows), default=0), 60)
    return "".join(f"{text:<{width}}  # {where}\n" for text, where in rows)


def _is_secret(path: KeyPath) -> bool:
    return len(path) >= 2 and path[-2] == "env" and bool(_SECRET.search(path[-1]))


def _toml_value(value: Any) -> str:
    """A TOML value as text (strings as JSON strings, which TOML reads the same)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
        )
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)
