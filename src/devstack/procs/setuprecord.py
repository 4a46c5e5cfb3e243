"""A setup step's record: the fingerprint of its last successful run, and why it runs again.

The fingerprint is the setup line plus the content of every file matched by
``setup_inputs`` (globs under cwd), kept in ``.devstack/setup/SERVICE.json``
(``setup/FILE/SERVICE.json`` for a stack file other than stack.toml: two stack files in
one directory never share one); a failed run records nothing, so it runs again.
The runtime's setup steps (``runtime.setupsteps``) write it; the checks and
``devstack check`` read it. Stdlib only, no processes.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from devstack.spec import ServiceSpec
from devstack.stackfile import STACK_FILE

_CHUNK = 1 << 20  # read files this much at a time when hashing


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What a setup run depends on: its line and the content of its input files."""

    setup: str
    files: Mapping[str, str]  # path relative to cwd -> sha256 of its bytes

    @property
    def digest(self) -> str:
        import hashlib  # only for a service with a setup step (it loads OpenSSL)

        blob = json.dumps({"setup": self.setup, "files": sorted(self.files.items())})
        return hashlib.sha256(blob.encode()).hexdigest()

    def to_json(self) -> dict[str, object]:
        return {"digest": self.digest, "setup": self.setup, "files": dict(self.files)}


def fingerprint(setup: str, cwd: Path, patterns: Sequence[str]) -> Fingerprint:
    """The fingerprint of ``setup`` now: every file matched by ``patterns`` under ``cwd``
    (a matched directory stands for every file under it)."""
    files: dict[str, str] = {}
    for pattern in patterns:
        for path in sorted(cwd.glob(pattern)):
            members = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for member in members:
                rel = os.path.relpath(member, cwd)
                if rel not in files:
                    files[rel] = _file_digest(member)
    return Fingerprint(setup, files)


def _file_digest(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while block := f.read(_CHUNK):
                h.update(block)
    except OSError as exc:  # unreadable: its error is its content (a change when it heals)
        return f"unreadable: {exc.strerror}"
    return h.hexdigest()


def top_dirs(cwd: Path) -> set[str]:
    """The directories directly under ``cwd`` (what a setup makes: .venv, node_modules);
    a link to a directory counts (a venv kept elsewhere), a dangling one does not."""
    try:
        with os.scandir(cwd) as entries:
            return {e.name for e in entries if e.is_dir()}
    except OSError:
        return set()


def why_run(
    last: Mapping[str, object] | None,
    now: Fingerprint,
    force: bool = False,
    present: set[str] | None = None,
) -> str | None:
    """Why the setup must run (shown in its event line), or None when it can be skipped.

    ``last`` is the record of the last successful run (``Fingerprint.to_json`` plus
    ``made``: the directories that run created under cwd). ``present``: the
    directories under cwd now; one that run made and that is gone (a deleted .venv or
    node_modules) means the setup runs again.
    """
    if force:
        return "--force"
    if last is None:
        return "first run"
    made = last.get("made")
    if present is not None and isinstance(made, list):
        gone = sorted(str(name) for name in made if name not in present)
        if gone:
            return f"{', '.join(gone)} is gone" if len(gone) == 1 else f"{', '.join(gone)} are gone"
    if last.get("digest") == now.digest:
        return None
    if last.get("setup") != now.setup:
        return "setup changed"
    before = last.get("files")
    before = before if isinstance(before, dict) else {}
    changed = sorted(set(before.items()) ^ set(now.files.items()))
    names = sorted({name for name, _digest in changed})
    if not names:
        return "inputs changed"
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"{shown} changed"


def pending(spec: ServiceSpec, state_dir: Path, stack_file: Path | None = None) -> str | None:
    """Why ``spec``'s setup step would run at the next ``up`` ("first run", "requirements.txt
    changed"), or None: it has none, or its last successful run still holds."""
    if spec.setup is None:
        return None
    now = fingerprint(spec.setup, spec.cwd, spec.setup_inputs)
    last = read_record(state_dir, spec.name, stack_file)
    return why_run(last, now, present=top_dirs(spec.cwd))


def record_path(state_dir: Path, service: str, stack_file: Path | None = None) -> Path:
    """Where ``service``'s record is: stack.toml's where they always were, another stack
    file's (``-f dev.toml`` beside it) in a folder of its own name."""
    folder = state_dir / "setup"
    if stack_file is not None and stack_file.name != STACK_FILE:
        folder = folder / stack_file.name
    return folder / f"{service}.json"


def read_record(
    state_dir: Path, service: str, stack_file: Path | None = None
) -> dict[str, object] | None:
    """The last successful run's record, or None (never run, or an unreadable record)."""
    try:
        data = json.loads(record_path(state_dir, service, stack_file).read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_record(
    state_dir: Path,
    service: str,
    now: Fingerprint,
    took: float,
    made: Sequence[str] = (),
    stack_file: Path | None = None,
) -> None:
    """Record a successful run (atomically: a killed devstack leaves the old record or none).

    ``made``: the directories it created under cwd, checked for before the next skip."""
    path = record_path(state_dir, service, stack_file)
    old = os.umask(0o077)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        record = {**now.to_json(), "made": sorted(made), "finished": time.time(), "took": took}
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)
    finally:
        os.umask(old)
