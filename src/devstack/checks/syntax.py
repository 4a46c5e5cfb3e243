"""``python script.py`` services: the script must compile (a syntax error found before
the start, so a restart keeps the running copy instead of swapping in a crash)."""

from __future__ import annotations

import re
from pathlib import Path

from devstack.checks.checkresult import CheckResult
from devstack.checks.command import command_argv
from devstack.spec import ServiceSpec

_PYTHON = re.compile(r"^python(\d+(\.\d+)?)?$")
# Per script, the source that compiled last: 40 services running one script (or a
# restart of an unchanged one) compile it once. Compiling depends on nothing else.
_COMPILED: dict[str, bytes] = {}


def script_of(spec: ServiceSpec) -> Path | None:
    """The script a ``python [options] FILE.py ...`` command runs, if that is its form."""
    argv = command_argv(spec)
    if not argv or not _PYTHON.match(Path(argv[0]).name):
        return None
    for arg in argv[1:]:
        if arg in ("-m", "-c"):
            return None
        if arg.startswith("-"):
            continue  # an interpreter option such as -u or -X dev
        return (spec.cwd / arg) if arg.endswith(".py") else None
    return None


def check_syntax(spec: ServiceSpec) -> CheckResult | None:
    script = script_of(spec)
    if script is None or not script.is_file():
        return None
    try:
        source = script.read_bytes()
        if _COMPILED.get(str(script)) != source:
            compile(source, str(script), "exec", dont_inherit=True)
            _COMPILED[str(script)] = source
    except SyntaxError as exc:
        where = f"{script.name}:{exc.lineno}" if exc.lineno else script.name
        details = [f"SyntaxError: {exc.msg} ({where})"]
        if exc.text:
            details.append(f"  {exc.text.rstrip()}")
        return CheckResult(
            spec.name, "syntax", "fail", f"{script.name} does not compile", tuple(details)
        )
    except (OSError, ValueError) as exc:
        return CheckResult(spec.name, "syntax", "fail", f"{script.name} cannot be read: {exc}")
    return CheckResult(spec.name, "syntax", "ok", f"{script.name} compiles")
