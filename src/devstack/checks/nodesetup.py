"""The node check: a Node service's packages are installed, the script it runs exists,
and the node on its PATH fits package.json's ``engines.node``.

- node_modules missing (dependencies declared, no Yarn Plug'n'Play): the service cannot
  start, a failure; unless a setup step that installs them will run first (``up`` runs
  it), then a warning saying so. node_modules older than the lockfile: a warning (an
  mtime is no proof), and none when the setup step's record says it ran on this very
  lockfile (the fingerprint ``runtime.setupsteps`` keeps, read as ``devstack check`` reads it).
- ``pnpm run X`` / ``npm run X`` without script X: certain, a failure listing the scripts.
  ``pnpm X`` / ``yarn X`` / ``bun X`` fall back to a program of node_modules/.bin (pnpm
  also of PATH, bun a file): a failure only when none of those exists either. ``npm X``
  runs no script at all but start/test/stop/restart: ``npm dev`` fails with "Unknown command".
- ``engines.node`` not satisfied by ``node --version``: a warning (pnpm and npm run scripts
  anyway); a failure when ``engine-strict`` makes the pending ``npm install`` refuse it
  (pnpm only warns about the project's own engines).
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from devstack.checks.bounded import run_bounded
from devstack.checks.checkresult import CheckResult, Status, crashed
from devstack.checks.command import command_argv, service_env, shown
from devstack.checks.protocols import is_node
from devstack.procs.setuprecord import pending, read_record
from devstack.project.nodepackage import (
    MANAGERS,
    Lockfile,
    Package,
    find_lockfile,
    installed_at,
    is_plug_n_play,
    node_modules,
    read_package,
)
from devstack.project.shellwords import simple_commands
from devstack.spec import ServiceSpec, StackSpec

CHECK = "node"
# A setup line that installs a Node project's packages.
_INSTALLS = re.compile(r"\b(?:pnpm|npm|yarn|bun)\s+(?:install|i|ci)\b|\byarn\s*(?:$|&&|;|\|)")
_NPM_INSTALL = re.compile(r"\bnpm\s+(?:install|i|ci)\b")
# Options of the managers that name the package folder, or leave it open (a workspace
# filter runs another package's script): the value follows the option.
_DIR_OPTIONS = frozenset({"-C", "--dir", "--prefix", "--cwd"})
_OTHER_PACKAGE = frozenset({"-F", "--filter", "-w", "--workspace", "-r", "--recursive"})
_WORKSPACE_WORDS = frozenset({"workspace", "workspaces"})
# Each manager's own commands (and aliases): ``pnpm add`` is no script; ``start`` runs
# the start script (else ``node server.js``). npm runs no script without ``run`` but these.
_NPM_SCRIPTS = frozenset({"start", "test", "stop", "restart"})


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_BUILTINS = {
    "pnpm": _words(
        "add i install update up upgrade remove rm uninstall un link ln unlink import rebuild"
        " rb prune fetch install-test it patch patch-commit patch-remove audit list ls ll la"
        " outdated why licenses test t tst exec dlx create init publish pack recursive"
        " m multi server store root bin setup env config c get set doctor deploy"
        " approve-builds ignored-builds self-update cat-file cat-index find-hash help login"
        " logout whoami search view info show dist-tag docs home repo ping owner star stars"
        " unstar token access version sbom catalog runtime"
    ),
    "yarn": _words(
        "add audit autoclean bin cache check config create exec generate-lock-entry global"
        " help import info init install licenses link list login logout node outdated owner"
        " pack policies publish remove tag team test unlink unplug upgrade"
        " upgrade-interactive version versions why workspace workspaces dlx explain npm"
        " patch patch-commit plugin rebuild set stage up constraints dedupe"
    ),
    "bun": _words(
        "x repl exec install i add a remove rm update outdated link unlink publish patch"
        " patch-commit pm build init create c upgrade audit info why test feedback"
    ),
    "npm": _words(
        "access adduser audit bugs cache ci completion config dedupe deprecate diff dist-tag"
        " docs doctor edit exec explain explore find-dupes fund get help help-search hook"
        " init install install-ci-test install-test link ll login logout ls org outdated"
        " owner pack ping pkg prefix profile prune publish query rebuild repo restart root"
        " sbom search set shrinkwrap star stars stop team test token undeprecate"
        " uninstall unpublish unstar update version view whoami i add x c t tst un rm r up"
        " it cit ln la list info show home"
    ),
}
_NODE_VERSIONS: dict[tuple[str, int], str | None] = {}  # (node, mtime_ns) -> "20.20.2", per run


@dataclass(frozen=True, slots=True)
class Invocation:
    """A package manager running a script: ``pnpm run dev`` in ``folder``."""

    manager: str
    script: str
    words: str  # as written, for the message ("pnpm run dev")
    explicit: bool  # through ``run``: no fallback to a program
    folder: Path


async def check_node(
    spec: ServiceSpec, stack: StackSpec, *, timeout: float = 15.0
) -> list[CheckResult]:
    """The node check of ``spec`` (nothing for a service that is not Node's)."""
    try:
        return await _check_node(spec, stack, timeout)
    except Exception as exc:  # any bug here is devstack's, told in one line
        return [crashed(spec.name, CHECK, exc)]


async def _check_node(spec: ServiceSpec, stack: StackSpec, timeout: float) -> list[CheckResult]:
    if not is_node(spec):
        return []
    run = invocation(spec)
    folder = run.folder if run is not None else spec.cwd
    package = read_package(folder)
    if package is None:
        return []
    results: list[CheckResult] = []
    lock = find_lockfile(folder, run.manager if run else package.package_manager)
    install, said = _install_state(spec, stack, package, lock)
    if install is not None:
        results.append(install)
    if run is not None:
        script = _script(spec, stack, package, run)
        if script is not None:
            results.append(script)
        else:
            said.append(f"script {run.script} found")
    if package.engines_node is not None:
        engine, fits = await _engine(spec, stack, package, lock, timeout)
        if engine is not None:
            results.append(engine)
        elif fits:
            said.append(fits)
    if not results and said:
        results.append(CheckResult(spec.name, CHECK, "ok", "; ".join(said)))
    return results


def invocation(spec: ServiceSpec) -> Invocation | None:
    """The script a package manager runs in the service's command, and in which folder."""
    folder = spec.cwd
    for argv in simple_commands(command_argv(spec)):
        name = os.path.basename(argv[0])
        if name == "cd" and len(argv) == 2:
            folder = folder / argv[1]
            continue
        if name not in MANAGERS:
            continue
        found = _parse(name, argv[1:], folder)
        if found is not None:
            return found
    return None


def _parse(manager: str, args: list[str], folder: Path) -> Invocation | None:
    words: list[str] = []
    explicit = False
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--":
            break
        if word in _OTHER_PACKAGE or word.split("=", 1)[0] in _OTHER_PACKAGE:
            return None
        if word in _DIR_OPTIONS and i + 1 < len(args):
            folder = folder / args[i + 1]
            i += 2
            continue
        if word.startswith("-"):
            opt, _, value = word.partition("=")
            if opt in _DIR_OPTIONS and value:
                folder = folder / value
            i += 1
            continue
        if not words and word in ("run", "run-script"):
            explicit = True
        else:
            words.append(word)
            break
        i += 1
    if not words or words[0] in _WORKSPACE_WORDS:
        return None
    script = words[0]
    if not explicit and script in _BUILTINS[manager]:
        return None
    shown_words = f"{manager} {'run ' if explicit else ''}{script}"
    return Invocation(manager, script, shown_words, explicit, folder)


def _script(
    spec: ServiceSpec, stack: StackSpec, package: Package, run: Invocation
) -> CheckResult | None:
    """A failure when the script cannot run; None when it can."""
    if run.script in package.scripts:
        if run.manager == "npm" and not run.explicit and run.script not in _NPM_SCRIPTS:
            return _no_script(spec, stack, package, run, npm_shorthand=True)
        return None
    if run.script == "start" and not run.explicit:
        if (run.folder / "server.js").is_file():
            return None  # npm's default start: node server.js
        return _no_script(spec, stack, package, run)
    if run.explicit and run.manager in ("npm", "pnpm"):
        return _no_script(spec, stack, package, run)
    if run.manager == "npm":
        return None  # an npm command this table lacks; npm says so itself
    # yarn/bun/pnpm X (and yarn/bun run X) fall back to a program; unknowable before install.
    modules = node_modules(run.folder)
    if modules is None or _is_program(run, modules, spec):
        return None
    return _no_script(spec, stack, package, run)


def _is_program(run: Invocation, modules: Path, spec: ServiceSpec) -> bool:
    if (modules / ".bin" / run.script).exists() or (run.folder / run.script).exists():
        return True
    if run.manager == "pnpm":
        return shutil.which(run.script, path=service_env(spec)["PATH"]) is not None
    return False


def _no_script(
    spec: ServiceSpec,
    stack: StackSpec,
    package: Package,
    run: Invocation,
    *,
    npm_shorthand: bool = False,
) -> CheckResult:
    where = shown(package.path, stack.root)
    names = sorted(package.scripts)
    if npm_shorthand:
        summary = (
            f"`{run.words}`: npm has no command {run.script}; npm runs a script only "
            f"through `npm run` (but start, test, stop, restart)"
        )
        fix = f"npm run {run.script}"
        details: tuple[str, ...] = (f'{where} has the script "{run.script}"',)
    else:
        summary = f"`{run.words}`: {where} has no script {run.script}"
        close = difflib.get_close_matches(run.script, names, n=1)
        details = (
            f"scripts in {where}: {', '.join(names)}" if names else f"{where} has no scripts",
        )
        fix = (
            f"{run.manager} run {close[0]} (did you mean {close[0]}?)"
            if close
            else f'add a "{run.script}" script to {where}, or run one of those'
        )
    return CheckResult(
        spec.name,
        CHECK,
        "fail",
        summary,
        details,
        fix,
        kind="no-script",
        file=where,
        line=_line_of(package.path, '"scripts"'),
    )


def _install_state(
    spec: ServiceSpec, stack: StackSpec, package: Package, lock: Lockfile | None
) -> tuple[CheckResult | None, list[str]]:
    """A warning or failure about node_modules, else (None, what was seen)."""
    folder = package.path.parent
    if not package.has_dependencies or is_plug_n_play(lock.path.parent if lock else folder):
        return None, []
    manager = lock.manager if lock else (package.package_manager or "npm")
    where = (lock.path.parent if lock else folder).resolve()
    install = f"{manager} install" + (
        "" if where == spec.cwd.resolve() else f" (in {shown(where, stack.root)})"
    )
    setup = _setup_of(spec, stack, where)
    why = pending(setup, stack.state_dir(), stack.file) if setup is not None else None
    modules = node_modules(folder)
    lock_name = shown(lock.path, stack.root) if lock else None
    if modules is None:
        where_pkg = shown(package.path, stack.root)
        summary = f"node_modules is missing: the packages of {where_pkg} are not installed"
        if setup is not None and why is not None:
            return _setup_first(spec, setup, why, summary), []
        source = f" ({manager}, from {lock_name})" if lock_name else f" ({manager})"
        # Certain when the command runs a tool of node_modules or the app's own
        # dependencies; `node server.js` with dev tools only may well run without them.
        status: Status = "fail" if package.has_runtime_dependencies or _runs_tool(spec) else "warn"
        # A setup step that ran and still left none installs elsewhere: the manager's own.
        failed = CheckResult(
            spec.name, CHECK, status, summary + source, (), install, "not-installed", where_pkg
        )
        return failed, []
    if lock is None:
        return None, [f"node_modules present ({manager}, no lockfile)"]
    when, marker = installed_at(modules, lock.manager)
    if when >= lock.path.stat().st_mtime:
        return None, [f"node_modules newer than {lock_name} ({manager})"]
    if setup is not None and why is None and _recorded(stack, setup, lock):
        return None, [f"node_modules installed by the setup step on this {lock_name} ({manager})"]
    summary = (
        f"node_modules is older than {lock_name}: {manager} install has not run since it changed"
    )
    if setup is not None and why is not None:
        return _setup_first(spec, setup, why, summary), []
    details = (f"{shown(marker, stack.root)} is older than {lock_name}",)
    return CheckResult(
        spec.name,
        CHECK,
        "warn",
        summary,
        details,
        install,
        kind="stale-install",
        file=lock_name,
    ), []


def _runs_tool(spec: ServiceSpec) -> bool:
    """Does the command run a package manager's script or a Node tool, not bare ``node``?"""
    return any(
        os.path.basename(argv[0]) not in ("node", "nodejs")
        for argv in simple_commands(command_argv(spec))
        if argv[0] != "cd"
    )


def _setup_of(spec: ServiceSpec, stack: StackSpec, where: Path) -> ServiceSpec | None:
    """The setup step that installs the packages: the service's own, else a sibling's
    run in the same folder (or the lockfile's)."""
    if spec.setup is not None and _INSTALLS.search(spec.setup):
        return spec
    for other in stack.services.values():
        if other.setup is None or not _INSTALLS.search(other.setup):
            continue
        if other.cwd.resolve() in (spec.cwd.resolve(), where):
            return other
    return None


def _recorded(stack: StackSpec, setup: ServiceSpec, lock: Lockfile) -> bool:
    """Did the setup's last successful run fingerprint this lockfile (it is unchanged since)?"""
    record = read_record(stack.state_dir(), setup.name, stack.file) or {}
    files = record.get("files")
    rel = os.path.relpath(lock.path, setup.cwd)
    return isinstance(files, dict) and rel in files


def _setup_first(spec: ServiceSpec, setup: ServiceSpec, why: str, summary: str) -> CheckResult:
    state = "has not run yet" if why == "first run" else f"must run again ({why})"
    return CheckResult(
        spec.name,
        CHECK,
        "warn",
        f"{summary}; the setup step of {setup.name} {state} and will install them first",
        (f"devstack up runs it before starting {spec.name}: {setup.setup}",),
        f"devstack setup {setup.name}",
        kind="not-installed",
    )


async def _engine(
    spec: ServiceSpec,
    stack: StackSpec,
    package: Package,
    lock: Lockfile | None,
    timeout: float,
) -> tuple[CheckResult | None, str | None]:
    """A warning (a failure under engine-strict with an install to come) when the node on
    the service's PATH does not satisfy ``engines.node``; else (None, what was seen)."""
    import nodesemver  # type: ignore[import-untyped]  # only for a package with engines.node

    wanted = package.engines_node or ""
    if nodesemver.valid_range(wanted, False) is None:
        return None, None  # a range npm itself would not read: no verdict
    node = shutil.which("node", path=service_env(spec)["PATH"])
    if node is None:
        return None, None  # the executable check names a missing node
    version = await _node_version(node, spec, timeout)
    if version is None:
        return None, None
    if nodesemver.satisfies(version, wanted):
        return None, f"node {version} satisfies engines.node {wanted}"
    where = shown(package.path, stack.root)
    strict = _engine_strict(package.path.parent, lock)
    details = [f"node on PATH: {node} (v{version})"]
    status: Status = "warn"
    if strict is not None:
        # npm refuses the project's own engines under engine-strict; pnpm only warns.
        setup = _setup_of(spec, stack, (lock.path.parent if lock else package.path.parent))
        details.append(f"engine-strict=true ({strict}): npm install refuses this node")
        npm = setup is not None and _NPM_INSTALL.search(setup.setup or "")
        if setup is not None and npm and pending(setup, stack.state_dir(), stack.file):
            status = "fail"
            details.append(f"the setup step of {setup.name} would fail: {setup.setup}")
    else:
        details.append("a warning: pnpm and npm run the scripts anyway; the app may not")
    return CheckResult(
        spec.name,
        CHECK,
        status,
        f"node v{version} does not satisfy engines.node {wanted!r} of {where}",
        tuple(details),
        f"use a node that satisfies {wanted} (nvm install / fnm use / volta), "
        f"or change engines.node in {where}",
        kind="node-engine",
        file=where,
        line=_line_of(package.path, '"engines"'),
    ), None


async def _node_version(node: str, spec: ServiceSpec, timeout: float) -> str | None:
    """``node --version`` without its "v", asked once per node binary and run."""
    try:
        key = (os.path.realpath(node), os.stat(node).st_mtime_ns)
    except OSError:
        return None
    if key not in _NODE_VERSIONS:
        ran = await run_bounded(
            [node, "--version"], cwd=spec.cwd, env=service_env(spec), timeout=timeout
        )
        text = ran.out.decode(errors="replace").strip().lstrip("v")
        ok = ran.returncode == 0 and re.fullmatch(r"\d+\.\d+\.\d+\S*", text)
        _NODE_VERSIONS[key] = text if ok else None
    return _NODE_VERSIONS[key]


def _engine_strict(folder: Path, lock: Lockfile | None) -> str | None:
    """The .npmrc that sets engine-strict=true for the project, if one does."""
    folders = [folder] + ([lock.path.parent] if lock and lock.path.parent != folder else [])
    for base in folders:
        npmrc = base / ".npmrc"
        try:
            text = npmrc.read_text(errors="replace")
        except OSError:
            continue
        if re.search(r"^\s*engine-strict\s*=\s*true\s*$", text, re.M):
            return str(npmrc.name if base == folder else npmrc)
    return None


def _line_of(path: Path, needle: str) -> int | None:
    try:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if needle in line:
                return number
    except OSError:
        pass
    return None
