"""What one step of ``devstack verify`` found (pure data, shared by run, cause and report)."""

from __future__ import annotations

from dataclasses import dataclass, field

HEALTHY_STATES = frozenset({"healthy", "running", "exited"})  # a service that is fine


@dataclass(frozen=True, slots=True)
class StepResult:
    """One row of the table: the ``services`` step or one ``[[smoke]]`` request."""

    name: str
    kind: str  # "services" (every service reached a good state) or "request"
    method: str | None = None
    url: str | None = None
    expect_status: tuple[int, ...] = ()  # empty: any 2xx
    status: int | None = None  # None: no answer (see error)
    error: str | None = None  # why there was no answer: "connection refused", "timed out"...
    time: float | None = None  # seconds the request took
    failures: tuple[str, ...] = ()  # what did not match; empty means the step passed
    cause: tuple[str, ...] = field(default=())  # the chain of services behind a failure
    body: str = ""  # the response body (kept for the failure report, cut)
    file: str | None = None  # of a failed request: the stack file that holds its [[smoke]]
    line: int | None = None

    @property
    def ok(self) -> bool:
        return not self.failures


def expected_text(codes: tuple[int, ...]) -> str:
    return ",".join(map(str, codes)) if codes else "2xx"
