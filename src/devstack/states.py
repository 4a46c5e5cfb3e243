"""Service states and dependency conditions. No dependencies: pure vocabulary.

The values are the words users see in the terminal and in ``ps --json``.
"""

from __future__ import annotations

from enum import StrEnum


class ServiceState(StrEnum):
    PENDING = "pending"  # declared, its task has not begun
    SETUP = "setup"  # its setup step runs (a venv, `pnpm install`): nothing started yet
    WAITING = "waiting"  # waiting for dependencies to reach their condition
    CHECKING = "checking"  # preflight checks running
    SPAWNING = "spawning"  # its process is being created: no pid yet
    STARTING = "starting"  # spawned (it has a pid), not yet healthy (probe pending)
    RUNNING = "running"  # spawned, no probe declared
    HEALTHY = "healthy"  # probe passed
    UNHEALTHY = "unhealthy"  # probe failed after having passed
    EXITED = "exited"  # exited 0 and the policy does not restart it
    CRASHED = "crashed"  # exited non-zero or by signal (transient)
    BACKOFF = "backoff"  # waiting before the next start
    FAILED = "failed"  # restarts exhausted, or never healthy within start_period
    BLOCKED = "blocked"  # its checks failed: not started
    NOT_STARTED = "not started"  # a dependency failed or is blocked
    STOPPING = "stopping"
    STOPPED = "stopped"

    @property
    def is_up(self) -> bool:
        """A process of the service is alive."""
        return self in _UP

    @property
    def is_final(self) -> bool:
        """Nothing will happen to the service unless someone asks."""
        return self in _FINAL


_UP = frozenset(
    {ServiceState.STARTING, ServiceState.RUNNING, ServiceState.HEALTHY, ServiceState.UNHEALTHY}
)
_FINAL = frozenset(
    {
        ServiceState.EXITED,
        ServiceState.FAILED,
        ServiceState.BLOCKED,
        ServiceState.NOT_STARTED,
        ServiceState.STOPPED,
    }
)


class Condition(StrEnum):
    """What a dependent waits for (``depends_on = { backend = "healthy" }``)."""

    STARTED = "started"  # spawned (or healthy, or exited after start)
    HEALTHY = "healthy"  # probe passed (running, for a service without a probe)
    COMPLETED = "completed"  # exited 0


class RestartPolicy(StrEnum):
    NO = "no"
    ON_FAILURE = "on-failure"
    ALWAYS = "always"
