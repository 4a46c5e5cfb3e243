"""``devstack verify``'s outputs: the table, the ``--json`` object, the JUnit XML (pure)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from devstack.smoke.result import StepResult, expected_text

JSON_VERSION = 1
_HEAD = ("STEP", "REQUEST", "EXPECTED", "ACTUAL", "RESULT", "TIME")


def _cells(r: StepResult) -> tuple[str, ...]:
    took = "-" if r.time is None else f"{r.time * 1000:.0f}ms" if r.time < 1 else f"{r.time:.2f}s"
    if r.kind == "services":
        actual = "ok" if r.ok else f"{len(r.failures)} not ok"
        return (r.name, "-", "healthy", actual, "ok" if r.ok else "FAIL", took)
    if r.status is not None:
        actual = str(r.status)
    else:
        actual = "refused" if r.error == "connection refused" else "no answer"
    request = f"{r.method} {r.url}"
    return (r.name, request, expected_text(r.expect_status), actual, "ok" if r.ok else "FAIL", took)


def table(results: Sequence[StepResult]) -> str:
    """The table, each failed step followed by its failures and cause chain (indented)."""
    rows = [_HEAD, *(_cells(r) for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEAD))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(_HEAD, widths, strict=True)).rstrip()]
    for r, cells in zip(results, rows[1:], strict=True):
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
        lines += [f"  {f}" for f in _detail(r)]
    passed = sum(r.ok for r in results)
    lines.append(f"{passed}/{len(results)} steps passed")
    return "\n".join(lines) + "\n"


def _detail(r: StepResult) -> list[str]:
    if r.ok:
        return []
    lines = list(r.failures)
    if r.body:
        lines.append(f"body: {r.body}")
    lines += [f"cause: {c}" for c in r.cause]
    if r.file is not None:
        lines.append(f"[[smoke]] written at {r.file}" + (f":{r.line}" if r.line else ""))
    return lines


def to_json(
    results: Sequence[StepResult],
    *,
    stack: str,
    started: bool,
    kept: bool,
    error: str | None = None,
) -> dict[str, Any]:
    """The stable ``--json`` object (docs/stack-toml.md, "Smoke checks and devstack verify")."""
    return {
        "v": JSON_VERSION,
        "ok": error is None and all(r.ok for r in results),
        "stack": stack,
        "started": started,
        "kept": kept,
        "error": error,
        "steps": [
            {
                "name": r.name,
                "kind": r.kind,
                "method": r.method,
                "url": r.url,
                "expected": list(r.expect_status),
                "status": r.status,
                "error": r.error,
                "ok": r.ok,
                "time": None if r.time is None else round(r.time, 4),
                "failures": list(r.failures),
                "cause": list(r.cause),
                "body": r.body,
                "file": r.file,
                "line": r.line,
            }
            for r in results
        ],
    }


def junit(results: Sequence[StepResult], error: str | None = None) -> str:
    """A JUnit XML document: one testcase per step, a failure element per failed one."""
    suite = ET.Element(
        "testsuite",
        name="devstack verify",
        tests=str(len(results) + (error is not None)),
        failures=str(sum(not r.ok for r in results)),
        errors=str(int(error is not None)),
        time=f"{sum(r.time or 0.0 for r in results):.3f}",
    )
    if error is not None:
        case = ET.SubElement(suite, "testcase", classname="devstack.verify", name="start")
        ET.SubElement(case, "error", message=error.splitlines()[0] if error else "").text = error
    for r in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname="devstack.verify",
            name=r.name,
            time=f"{r.time or 0.0:.3f}",
        )
        if not r.ok:
            failure = ET.SubElement(case, "failure", message=r.failures[0])
            failure.text = "\n".join(_detail(r))
    ET.indent(suite)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
    )
