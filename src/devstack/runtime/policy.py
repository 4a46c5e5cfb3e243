"""Restart decisions and backoff delays, as pure functions of what happened.

No clock is read here: the caller passes how long the process stayed up and how
many consecutive restarts it has had, so every rule is unit-tested without sleeping.

The rules (lessons of RELIABILITY.md "Restarts"):
- the first restart after a crash is immediate: most crashes are one-offs;
- the following ones wait ``backoff``, then double, up to ``backoff_max`` (a cap: moby #30503);
- a process that stayed up ``reset_after`` seconds starts the count again (moby #22283);
- after ``max_restarts`` consecutive restarts the service is ``failed``, no further spawn.
"""

from __future__ import annotations

from dataclasses import dataclass

from devstack.spec import RestartSpec
from devstack.states import RestartPolicy


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
