"""The record every check returns: what was checked, how it went, what to do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check of one service.

    ``summary`` is one line ("gunicorn found (.venv/bin/gunicorn)"); ``details`` are
    the lines shown under a failure (the exception, the file:line, the apps found);
    ``fix`` is the suggested command or action, if there is one. ``kind`` names the
    class of problem for machines (``check --json``), e.g. "not-installed"; ``file``
    and ``line`` say where it is, when a file of the user's is at fault.
    """

    service: str
    check: str  # "executable", "import", "port", "env", "localhost", "cmd"
    status: Status
    summary: str
    details: tuple[str, ...] = ()
    fix: str | None = None
    kind: str | None = None
    file: str | None = None
    line: int | None = None

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    def to_json(self) -> dict[str, object]:
        return {
            "service": self.service,
            "check": self.check,
            "status": self.status,
            "summary": self.summary,
            "details": list(self.details),
            "fix": self.fix,
            "kind": self.kind,
            "file": self.file,
            "line": self.line,
        }


def crashed(service: str, check: str, exc: BaseException) -> CheckResult:
    """A check of devstack's own that raised: devstack's bug, said in one line, no verdict
    on the user's app (a warning: it must not block a healthy stack)."""
    return CheckResult(
        service,
        check,
        "warn",
        f"the {check} check could not run (a devstack bug): {type(exc).__name__}: {exc}",
        kind="check-error",
    )
