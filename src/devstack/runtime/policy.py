"""Restart decisions and backoff delays, as pure functions of what happened.

No clock is read here: the caller passes how long the process stayed up and how
many consecutive restarts it has had, so every rule is unit-tested without sleeping.

The rules (lessons of RELIABILITY.md "Restarts"):
- the first restart after a crash is immediate: most crashes are one-offs;
- the following ones wait ``backoff``, then double, up to ``backoff_max`` (a cap: moby #30503);
- a process that stayed up ``reset_after`` seconds starts the count again (moby #22283);
- after ``max_restarts`` consecutive restarts the service is ``failed``, no further spawn;
- a process that fails twice within ``IMMEDIATE`` seconds of its start with the same exit
  code and the same last line will fail that way again: it is ``failed`` at once
  (``futile_restart``). Under ``restart = "always"`` only when that is certain: a shell
  that could not find or run the command (exit 127/126 and its message).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from devstack.runtime.notfound import parse_not_found
from devstack.spec import RestartSpec
from devstack.states import RestartPolicy

# A failure this soon after the start happened before the program did any work.
IMMEDIATE = 1.0
# Last lines that can pass by themselves (a port the old process still holds, a server
# not up yet): such a failure is left to the backoff, however quick.
_TRANSIENT = re.compile(
    r"address already in use|EADDRINUSE|connection refused|ECONNREFUSED|timed? ?out|"
    r"temporar|try again|not ready|unavailable|too many",
    re.I,
)
_CANNOT_EXECUTE = re.compile(r"permission denied|cannot execute", re.I)


@dataclass(frozen=True, slots=True)
class RestartDecision:
    restart: bool
    delay: float  # seconds to wait before the next start (when restart)
    failed: bool  # the service is `failed`: restarts exhausted or not allowed after a crash
    consecutive: int  # the consecutive-restart count after this decision
    reason: str  # for the user: "restart 2 of 5", "exited 0", "5 restarts in a row"


def backoff_delay(consecutive: int, spec: RestartSpec) -> float:
    """Delay before restart number ``consecutive + 1`` of a run of crashes."""
    if consecutive <= 0:
        return 0.0
    return float(min(spec.backoff * 2 ** (consecutive - 1), spec.backoff_max))


def decide_restart(
    spec: RestartSpec, *, exit_ok: bool, uptime: float, consecutive: int
) -> RestartDecision:
    """What to do when a started process has exited.

    ``exit_ok``: it exited with code 0. ``uptime``: seconds it ran. ``consecutive``:
    restarts already made since the service last stayed up ``reset_after`` seconds.
    """
    if uptime >= spec.reset_after:
        consecutive = 0
    wants = spec.policy is RestartPolicy.ALWAYS or (
        spec.policy is RestartPolicy.ON_FAILURE and not exit_ok
    )
    if not wants:
        # exit 0 is `exited`; a crash with restart = "no" is final and failed.
        reason = "exited 0" if exit_ok else f"restart = {spec.policy}"
        return RestartDecision(False, 0.0, not exit_ok, consecutive, reason)
    if consecutive >= spec.max_restarts:
        return RestartDecision(
            False,
            0.0,
            True,
            consecutive,
            f"{consecutive} restarts in a row, max_restarts = {spec.max_restarts}",
        )
    delay = backoff_delay(consecutive, spec)
    return RestartDecision(
        True, delay, False, consecutive + 1, f"restart {consecutive + 1} of {spec.max_restarts}"
    )


@dataclass(frozen=True, slots=True)
class QuickFailure:
    """How a run ended, for comparing it with the next one."""

    exit_text: str  # "exit 127", "killed by SIGSEGV"
    code: int | None
    last_line: str  # its last output line, stripped ("" when it printed nothing)
    uptime: float
    lines: tuple[str, ...] = ()  # its last output lines, oldest first

    @classmethod
    def of(
        cls, exit_text: str, code: int | None, lines: Sequence[str], uptime: float
    ) -> QuickFailure:
        shown = [line.strip() for line in lines if line.strip()]
        return cls(exit_text, code, shown[-1] if shown else "", uptime, tuple(lines[-10:]))


def cannot_run(failure: QuickFailure) -> bool:
    """The shell said it could not find (127) or execute (126) the command: certain."""
    if failure.code == 127:
        return parse_not_found(failure.lines) is not None
    if failure.code == 126:
        return _CANNOT_EXECUTE.search(failure.last_line) is not None
    return False


def futile_restart(
    spec: RestartSpec, previous: QuickFailure | None, current: QuickFailure
) -> str | None:
    """Why restarting cannot help, or None: the reason for ``[failed]``.

    ``previous`` is the run before ``current`` (None for the first run). Both failed
    within IMMEDIATE seconds, with the same exit and the same last line.
    """
    if previous is None or spec.policy is RestartPolicy.NO:
        return None
    same = (previous.exit_text, previous.last_line) == (current.exit_text, current.last_line)
    quick = max(previous.uptime, current.uptime) < IMMEDIATE
    # Without output there is nothing to tell this failure from any other: back off.
    if not same or not quick or current.code == 0 or not current.last_line:
        return None
    certain = cannot_run(current)
    if not certain and (
        spec.policy is RestartPolicy.ALWAYS or _TRANSIENT.search(current.last_line)
    ):
        return None
    fix = "fix the command" if certain else "fix what it reports"
    return (
        f"{current.exit_text} twice within {IMMEDIATE:g}s: {current.last_line}:"
        f" restarting cannot help; {fix}"
    )
