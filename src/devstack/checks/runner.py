"""Run every preflight check of a service; several services concurrently.

The supervisor calls ``check_service`` right before it starts a service (state
``checking``; any ``fail`` means ``blocked``); ``devstack check`` calls
``check_stack``. Nothing here starts the service.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shlex
import shutil
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

from devstack.checks.bounded import run_bounded
from devstack.checks.checkresult import CheckResult
from devstack.checks.command import (
    check_executable,
    check_setup_executable,
    check_shim,
    python_of,
    service_env,
)
from devstack.checks.envwiring import check_env
from devstack.checks.frontendproxy import check_proxy
from devstack.checks.imports import check_import, import_target
from devstack.checks.nodesetup import check_node
from devstack.checks.ports import bind_address, check_port, free_now
from devstack.checks.provides import setup_for
from devstack.checks.shims import CannotTell
from devstack.checks.syntax import check_syntax
from devstack.checks.venvhealth import check_venv
from devstack.spec import ServiceSpec, StackSpec

CHECKS = (
    *("executable", "setup", "syntax", "import", "node", "port", "env", "localhost", "proxy"),
    "cmd",
)
# What a setup step provides (a venv's programs, installed packages): unchecked until it ran.
_SETUP_PROVIDES = ("executable", "import")
_OUTPUT_LINES = 20


async def check_service(
    spec: ServiceSpec,
    stack: StackSpec,
    *,
    timeout: float = 15.0,
    skip: Collection[str] = (),
    setup_pending: tuple[str, str] | None = None,
) -> list[CheckResult]:
    """Every check of ``spec``, in the order of ``CHECKS``.

    ``timeout`` bounds each subprocess (the import probe, each ``check.cmd``).
    ``skip`` leaves checks out by name: a restart skips "port", which the
    running copy holds; the service's own ``check.NAME = false`` are added.
    ``setup_pending``: (service, why) of the setup step that makes its environment (its
    own, or a sibling's) and would run first at ``up`` (``devstack check`` on a fresh
    clone): a failed executable or import check is then no verdict, only a note.
    """
    skip = {*skip, *spec.check_off}
    results: list[CheckResult] = []
    exe, resolved = (None, None) if "executable" in skip else check_executable(spec, stack)
    if "executable" not in skip:
        exe = await check_venv(spec, exe, resolved, stack)
    behind: Path | CannotTell | None = None
    if exe is not None and not exe.failed and resolved is not None and resolved.path:
        # A version-manager shim is asked what it runs here (once: the import check too).
        exe, behind = await check_shim(spec, exe, resolved.path, stack)
    if exe is not None:
        results.append(exe)
    # The setup's program (`pnpm` of `pnpm install`); `up` skips it: the setup ran already.
    setup = None if "setup" in skip else check_setup_executable(spec)
    if setup is not None:
        results.append(setup)
    jobs: list[asyncio.Task[list[CheckResult]]] = []
    async with asyncio.TaskGroup() as group:
        wants_import = "import" not in skip and import_target(spec) is not None
        if wants_import and (exe is None or not exe.failed):
            program = resolved.path if resolved else None
            jobs.append(group.create_task(_import(spec, stack, program, behind, timeout)))
        if "syntax" not in skip and (exe is None or not exe.failed):
            syntax = check_syntax(spec)
            if syntax is not None:
                results.append(syntax)
        # A free port at an IP address and the env check (a bind or netlink query at
        # most) run here; a busy port's holder lookup scans /proc: a thread.
        if "port" not in skip and free_now(spec):
            results += _listed(check_port(spec, stack))
        elif "port" not in skip:
            jobs.append(group.create_task(_in_thread(check_port, spec, stack)))
        if "env" not in skip:
            results += check_env(spec, stack)
        if "proxy" not in skip:
            results += check_proxy(spec, stack)
        if "node" not in skip:
            jobs.append(group.create_task(check_node(spec, stack, timeout=timeout)))
        if "cmd" not in skip:
            for cmd in spec.check_cmds:
                jobs.append(group.create_task(_custom(spec, cmd, timeout)))
    for job in jobs:
        results += job.result()
    if "localhost" in skip:
        results = [r for r in results if r.check != "localhost"]
    if setup_pending is not None:
        results = [_before_setup(r, *setup_pending) for r in results]
    order = {name: i for i, name in enumerate(CHECKS)}
    results.sort(key=lambda r: order.get(r.check, len(order)))
    return results


# Import diagnoses about the user's own files and config (a module name's typo, the app
# in a subfolder, an app factory, a variable the stack gives elsewhere or nowhere).
_SETUP_CANNOT_CURE = frozenset({"typo", "wrong-cwd", "factory", "env-elsewhere", "env-missing"})


def _before_setup(result: CheckResult, svc: str, why: str) -> CheckResult:
    """A failure the pending setup step may well cure, as a note: ``up`` runs the setup
    first and checks again, so nothing is missed. The import check ran in an interpreter
    the setup has not prepared (often not even the venv it makes); a missing program
    only when the executable check itself says a setup installs it (not ``node``)."""
    if not result.failed or result.check not in _SETUP_PROVIDES:
        return result
    if result.check == "executable" and "devstack setup" not in (result.fix or ""):
        return result
    state = "has not run yet" if why == "first run" else f"must run again ({why})"
    if result.kind in _SETUP_CANNOT_CURE:
        # Found in the user's own files or config, which no install changes: its own fix
        # stays; a warning, as the import ran in an interpreter the setup has not made.
        return dataclasses.replace(
            result,
            status="warn",
            details=(
                *result.details,
                f"(the setup step {state}: devstack setup {svc}, or devstack up runs it)",
            ),
        )
    note = f"not checked: the setup step {state} (devstack setup {svc}, or devstack up runs it)"
    # Still the checked service's result (``svc`` may be a sibling's setup), with the
    # facts for check --json.
    return dataclasses.replace(
        result,
        status="warn",
        summary=note,
        details=(f"without it: {result.summary}", *result.details),
        fix=f"devstack setup {svc}",
    )


def _pending_for(
    spec: ServiceSpec, stack: StackSpec, pending: Mapping[str, str]
) -> tuple[str, str] | None:
    """The pending setup step that makes ``spec``'s environment: its own, else the
    sibling's that installs its packages (``setup_for``)."""
    if spec.name in pending:
        return spec.name, pending[spec.name]
    if spec.setup is not None or not pending:
        return None
    owner = setup_for(spec, stack)
    if owner is None or owner.service not in pending:
        return None
    return owner.service, pending[owner.service]


async def check_stack(
    stack: StackSpec,
    names: Sequence[str] = (),
    *,
    timeout: float = 15.0,
    setup_pending: Mapping[str, str] | None = None,
) -> dict[str, list[CheckResult]]:
    """The checks of ``names`` (default: every service), services concurrently; a
    warning several services share is kept once, on the first, naming the others.
    ``setup_pending``: service -> why its setup step would run (see ``check_service``)."""
    chosen = list(names) or list(stack.services)
    pending = setup_pending or {}
    async with asyncio.TaskGroup() as group:
        tasks = {
            name: group.create_task(
                check_service(
                    stack.services[name],
                    stack,
                    timeout=timeout,
                    setup_pending=_pending_for(stack.services[name], stack, pending),
                )
            )
            for name in chosen
        }
    seen: dict[SharedKey, str] = {}
    others: dict[SharedKey, list[str]] = {}
    results = {name: first_time(task.result(), seen, others) for name, task in tasks.items()}
    return {name: [_naming_others(r, others) for r in rs] for name, rs in results.items()}


def check_key(spec: ServiceSpec) -> object:
    """What the checks but the port check judge in ``spec``, its own port and url written
    as ``${port}`` and ``${url}``: copies of one service (replicas) with the same key pass
    or fail together. A value of a copy's own (``${replica}``, ``${name}``) makes keys
    differ."""
    own = [(spec.url, "${url}")] if spec.url else []
    own += [(str(spec.port), "${port}")] if spec.port is not None else []

    def neutral(text: str) -> str:
        for value, ref in own:
            text = text.replace(value, ref)
        return text

    return (
        spec.replica_of or spec.name,
        tuple(neutral(a) for a in spec.argv),
        tuple(sorted((k, neutral(v)) for k, v in spec.env.items())),
        spec.cwd,
        spec.venv,
        spec.setup,
        spec.check_import,
        spec.check_cmds,
        spec.check_off,
        spec.check_env_ignore,
    )


SharedKey = tuple[str, str, str | None]
_SHARED_CHECKS = ("env", "localhost")


def shared_key(result: CheckResult) -> SharedKey | None:
    """What makes two services' env warnings the same one (a line of an env file they
    both read); None for any other result."""
    if result.status != "warn" or result.check not in _SHARED_CHECKS:
        return None
    return (result.check, result.summary, result.fix)


def first_time(
    results: list[CheckResult],
    seen: dict[SharedKey, str],
    others: dict[SharedKey, list[str]] | None = None,
) -> list[CheckResult]:
    """``results`` without the env warnings another service already gave (``seen``:
    key -> that service, updated; ``others``: key -> the services it was left out of):
    five services reading one ``.env`` get one warning."""
    kept = []
    for r in results:
        key = shared_key(r)
        if key is not None and seen.setdefault(key, r.service) != r.service:
            if others is not None:
                others.setdefault(key, []).append(r.service)
            continue
        kept.append(r)
    return kept


def _naming_others(result: CheckResult, others: dict[SharedKey, list[str]]) -> CheckResult:
    key = shared_key(result)
    if key is None or key not in others:
        return result
    also = "also in the env of " + ", ".join(others[key])
    return dataclasses.replace(result, details=(*result.details, also))


async def _import(
    spec: ServiceSpec,
    stack: StackSpec,
    program: Path | None,
    behind: Path | CannotTell | None,
    timeout: float,
) -> list[CheckResult]:
    # Which Python runs the command (asking a version manager behind a shim), then the app.
    python = await python_of(spec, program, behind)
    if python is None:
        return []
    port = bind_address(spec)[1]
    return _listed(await check_import(spec, python, port=port, timeout=timeout, stack=stack))


def _listed(result: CheckResult | None) -> list[CheckResult]:
    return [] if result is None else [result]


async def _in_thread(
    func: Callable[[ServiceSpec, StackSpec], CheckResult | None],
    spec: ServiceSpec,
    stack: StackSpec,
) -> list[CheckResult]:
    return _listed(await asyncio.to_thread(func, spec, stack))


async def _custom(spec: ServiceSpec, cmd: str, timeout: float) -> list[CheckResult]:
    """A ``check.cmd`` command: must exit 0; its output is shown when it does not."""
    try:
        argv = shlex.split(cmd)
    except ValueError as exc:
        return [CheckResult(spec.name, "cmd", "fail", f"`{cmd}`: cannot be split: {exc}")]
    if not argv:
        return []
    env = service_env(spec)
    program = shutil.which(argv[0], path=env["PATH"]) if os.sep not in argv[0] else argv[0]
    if program is None:
        return [CheckResult(spec.name, "cmd", "fail", f"`{cmd}`: {argv[0]}: not found")]
    try:
        ran = await run_bounded(
            [program, *argv[1:]], cwd=spec.cwd, env=env, timeout=timeout, merge_stderr=True
        )
    except OSError as exc:  # a path that is no program ("./nope", a directory)
        return [CheckResult(spec.name, "cmd", "fail", f"`{cmd}`: cannot run: {exc.strerror}")]
    lines = tuple(ran.out.decode(errors="replace").splitlines()[-_OUTPUT_LINES:])
    if ran.timed_out:
        return [
            CheckResult(spec.name, "cmd", "fail", f"`{cmd}` did not finish within {timeout:g}s")
        ]
    if ran.returncode == 0:
        return [CheckResult(spec.name, "cmd", "ok", f"`{cmd}` exited 0")]
    return [CheckResult(spec.name, "cmd", "fail", f"`{cmd}` exited {ran.returncode}", lines)]
