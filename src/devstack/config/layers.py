"""The files a stack is read from, merged into one document with each value's origin.

A stack is one or more layers merged in order, later over earlier: the ``-f`` files
given, or stack.toml and, beside it, stack.local.toml. Tables merge key by key, arrays
and scalars are replaced, a service only in a later layer is added. A file's
``include = [...]`` files (relative to it) belong to its layer: a service defined twice
in one layer is an error naming both files, never an override; their ``[[smoke]]``
entries are appended. Beside the merged document comes a tree of origins: for every key
path, the file it came from and its path there. Error messages, the folders relative
paths resolve against, and ``devstack config --origins`` all read it.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.config.limits import MAX_INCLUDE_DEPTH, MAX_STACK_FILES, document_problems
from devstack.config.problems import KeyPath, Locator, dotted, toml_syntax_line
from devstack.config.regularfile import read_regular_file
from devstack.errors import ConfigError, ConfigProblem
from devstack.spec import StackSpec
from devstack.stackfile import MAX_STACK_FILE, find_layers

INCLUDE = "include"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a value was written: the file, and the value's key path in that file (an
    included ``[[smoke]]`` entry's index there differs from its index in the merge)."""

    file: Path
    path: KeyPath


@dataclass(slots=True)
class _Node:
    origin: Origin
    children: dict[str, _Node] = field(default_factory=dict)


def _tree(value: Any, file: Path, path: KeyPath) -> _Node:
    """The origins of ``value`` and of everything in it, all in ``file``."""
    node = _Node(Origin(file, path))
    if isinstance(value, dict):
        for key, item in value.items():
            node.children[key] = _tree(item, file, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            key = f"[{index}]"
            node.children[key] = _tree(item, file, (*path, key))
    return node


@dataclass
class Layered:
    """The merged document, every file read (first: the stack's own file) and origins."""

    data: dict[str, Any]
    files: list[Path]
    root: _Node
    locators: dict[Path, Locator]

    def origin(self, path: KeyPath) -> Origin:
        """Where ``path`` was written, or the nearest enclosing table that was."""
        node, depth = self.root, 0
        for index, part in enumerate(path):
            child = node.children.get(part)
            if child is None:
                break
            node, depth = child, index + 1
        return Origin(node.origin.file, node.origin.path + path[depth:])

    def where(self, path: KeyPath) -> tuple[Path, int | None]:
        """(file, line) of ``path``: for the error messages."""
        origin = self.origin(path)
        return origin.file, self.locators[origin.file].line_of(origin.path)

    def folder(self, path: KeyPath) -> Path:
        """The folder a relative path written at ``path`` resolves against: that of the
        file that wrote it (for a key not written, the file that defined its table)."""
        return self.origin(path).file.parent

    def values(self) -> Iterator[tuple[KeyPath, Any, Path, int | None]]:
        """Every value (arrays of tables walked into), in order, with its file and line."""
        for path, value, origin in _walk(self.data, self.root, ()):
            yield path, value, origin.file, self.locators[origin.file].line_of(origin.path)


def read_again(stack: StackSpec) -> Layered:
    """The files of a loaded ``stack`` (a stack.toml's) read again: its ``-f`` files, else
    stack.toml and stack.local.toml found beside it."""
    return read_layers(stack.layers or find_layers((), stack.root))


def _walk(value: Any, node: _Node, path: KeyPath) -> Iterator[tuple[KeyPath, Any, Origin]]:
    items: list[tuple[str, Any]] = []
    if isinstance(value, dict) and value:
        items = list(value.items())
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        items = [(f"[{i}]", v) for i, v in enumerate(value)]
    else:
        yield path, value, node.origin
        return
    for key, item in items:
        child = node.children.get(key, _Node(node.origin))
        yield from _walk(item, child, (*path, key))


def read_layers(files: Sequence[Path]) -> Layered:
    """``files`` (each with its includes) merged in order; one ConfigError holding every
    problem with reading, including or merging them."""
    reader = _Reader()
    merged: _Doc | None = None
    for file in files:
        doc = reader.layer(file)
        if doc is None:
            continue
        if merged is None:
            merged = doc
        else:
            _overlay(merged.data, merged.root, doc.data, doc.root)
    if reader.problems or merged is None:
        raise ConfigError(reader.problems or [ConfigProblem(None, None, None, "no stack file")])
    return Layered(merged.data, reader.read, merged.root, reader.locators)


@dataclass
class _Doc:
    data: dict[str, Any]
    root: _Node


class _Reader:
    def __init__(self) -> None:
        self.problems: list[ConfigProblem] = []
        self.read: list[Path] = []
        self.locators: dict[Path, Locator] = {}
        self._layer: set[Path] = set()

    def layer(self, file: Path) -> _Doc | None:
        self._layer = set()
        return self._file(file, (file,), None)

    def _file(
        self, file: Path, chain: tuple[Path, ...], via: tuple[Path, int | None] | None
    ) -> _Doc | None:
        """``file`` with what it includes; ``via``: the including file and line."""
        self._layer.add(file)
        if len(self.read) >= MAX_STACK_FILES:
            self._problem(via or (file, None), f"more than {MAX_STACK_FILES} files to read")
            return None
        if file not in self.read:  # a later layer may include what an earlier one did
            self.read.append(file)
        data = self._parse(file, via)
        if data is None:
            return None
        doc = _Doc(data, _tree(data, file, ()))
        locator = self.locators[file]
        if len(chain) > 1 and "stack" in data:
            self._problem(
                (file, locator.line_of(("stack",))),
                "[stack] belongs in the top stack.toml; an included file holds services, "
                "include and [[smoke]]",
                f"move these keys to {chain[0]}",
                key="stack",
            )
        includes = data.get(INCLUDE)
        if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
            return doc  # absent, or wrong: the model says what is wrong with it
        del data[INCLUDE]
        doc.root.children.pop(INCLUDE, None)
        for index, written in enumerate(includes):
            at = (file, locator.line_of((INCLUDE, f"[{index}]")))
            target = Path(os.path.realpath(file.parent / os.path.expanduser(written)))
            if target in chain:
                cycle = " -> ".join(self._shown(p) for p in (*chain[chain.index(target) :], target))
                self._problem(
                    at, f"include cycle: {cycle}", "remove one of these includes", key=INCLUDE
                )
            elif target in self._layer:
                continue  # included twice (a diamond): its services once
            elif len(chain) > MAX_INCLUDE_DEPTH:
                self._problem(
                    at,
                    f"includes nested more than {MAX_INCLUDE_DEPTH} deep",
                    "include the files from one level higher",
                    key=INCLUDE,
                )
            else:
                sub = self._file(target, (*chain, target), at)
                if sub is not None:
                    self._include(doc, sub)
        return doc

    def _parse(self, file: Path, via: tuple[Path, int | None] | None) -> dict[str, Any] | None:
        """The TOML of ``file`` (bounded, regular, UTF-8), its limits checked."""
        try:
            text = read_regular_file(file, MAX_STACK_FILE).decode("utf-8")
        except OSError as exc:
            if via is None:
                self._problem((file, None), f"cannot read: {exc.strerror}")
            else:
                missing = isinstance(exc, FileNotFoundError)
                self._problem(
                    via,
                    f"included file not found: {file}"
                    if missing
                    else f"cannot include {file}: {exc.strerror}",
                    "fix the path (relative to this file) or create it" if missing else None,
                    key=INCLUDE,
                )
            return None
        except UnicodeDecodeError as exc:
            self._problem((file, None), f"not UTF-8 text ({exc.reason})")
            return None
        self.locators[file] = locator = Locator(text)
        try:
            data = tomllib.loads(text)
        except RecursionError:
            # tomllib parses arrays and inline tables recursively: [[[[...]]]] a thousand deep.
            self._problem(
                (file, None),
                "arrays or inline tables are nested too deeply to read",
                "a stack.toml needs a few levels; look for a run of [ or {",
            )
            return None
        except tomllib.TOMLDecodeError as exc:
            message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
            message = re.sub(r"\s*\(at end of document\)", " (at the end of the file)", message)
            self._problem(
                (file, toml_syntax_line(str(exc))),
                f"TOML syntax error: {message}",
                "strings need quotes; see https://toml.io",
            )
            return None
        limits = document_problems(data)
        for path, message in limits:
            self.problems.append(ConfigProblem(file, locator.line_of(path), dotted(path), message))
        return None if limits else data

    def _include(self, doc: _Doc, sub: _Doc) -> None:
        """``sub`` (an included file) into ``doc``: its services added (one defined in both
        is an error), its [[smoke]] appended, anything else kept for the model to judge."""
        for key, value in sub.data.items():
            mine = doc.data.get(key)
            if key == "services" and isinstance(mine, dict) and isinstance(value, dict):
                for name, table in value.items():
                    node = sub.root.children[key].children[name]
                    if name in mine:
                        first = self._at(doc.root.children[key].children[name].origin)
                        shown = self._shown(first[0]) + (f":{first[1]}" if first[1] else "")
                        self._problem(
                            self._at(node.origin),
                            f"service {name!r} is also defined in {shown}",
                            "give one of them another name (a personal change of a service "
                            "goes in stack.local.toml)",
                            key=f"services.{name}",
                        )
                        continue
                    mine[name] = table
                    doc.root.children[key].children[name] = node
            elif key == "smoke" and isinstance(mine, list) and isinstance(value, list):
                entries = doc.root.children[key].children
                for index, entry in enumerate(value):
                    entries[f"[{len(mine)}]"] = sub.root.children[key].children[f"[{index}]"]
                    mine.append(entry)
            elif key not in doc.data:
                doc.data[key] = value
                doc.root.children[key] = sub.root.children[key]

    def _shown(self, path: Path) -> str:
        """``path`` as a message shows it: relative to the stack's folder when inside it."""
        root = self.read[0].parent
        return os.path.relpath(path, root) if path.is_relative_to(root) else str(path)

    def _at(self, origin: Origin) -> tuple[Path, int | None]:
        return origin.file, self.locators[origin.file].line_of(origin.path)

    def _problem(
        self,
        at: tuple[Path, int | None],
        message: str,
        hint: str | None = None,
        *,
        key: str | None = None,
    ) -> None:
        self.problems.append(ConfigProblem(at[0], at[1], key, message, hint))


def _overlay(base: dict[str, Any], base_node: _Node, top: dict[str, Any], top_node: _Node) -> None:
    """``top`` (a later layer) merged over ``base``: tables key by key, the rest replaced."""
    for key, value in top.items():
        child = top_node.children[key]
        mine = base.get(key)
        if isinstance(value, dict) and isinstance(mine, dict):
            _overlay(mine, base_node.children[key], value, child)
        else:
            base[key] = value
            base_node.children[key] = child
