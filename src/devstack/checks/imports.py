"""The import check: load the app as its server would, in the server's own interpreter.

The target comes from ``check.import`` or from the server command (``servers.py``).
``probe_app.py`` runs in a child process (new session, killed at the timeout) with
the service's cwd and env; its JSON answer becomes one ``CheckResult`` that says,
in words, what is wrong and the command that would work (``scan.py`` finds the
apps in the directory without importing them).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devstack.checks.bounded import Ran, run_bounded
from devstack.checks.checkresult import CheckResult, Status
from devstack.checks.command import command_argv, find_venv, service_env, shown
from devstack.checks.shims import CannotTell
from devstack.project.servers import (
    FACTORY_RULES,
    WORKER_DISTRIBUTIONS,
    Located,
    ServerCommand,
    factory_command,
    is_compatible,
    locate,
    parse_celery,
    parse_server,
    suggest,
)
from devstack.spec import ServiceSpec, StackSpec

if TYPE_CHECKING:
    from devstack.checks.modulehints import Hint
    from devstack.checks.scan import WebApp

PROBE = Path(__file__).with_name("probe_app.py")
# A server's own flag for the directory it loads the app from (cwd or sys.path).
_CHDIR = {"gunicorn": "--chdir", "uvicorn": "--app-dir", "celery": "--workdir"}
_IMPORT_ERRORS = ("ImportError", "ModuleNotFoundError", "SyntaxError")
# manage.py loading a .env or setting variables beyond its DJANGO_SETTINGS_MODULE default.
_PREPARES_ENV = re.compile(r"dotenv|read_env|os\.environ\[|putenv")
_SERVES = {"asgi": "ASGI", "wsgi": "WSGI", "rsgi": "RSGI", "either": "WSGI or ASGI"}


@dataclass(frozen=True, slots=True)
class ImportTarget:
    """What to import, from where, and for which server."""

    module: str
    attrs: tuple[str, ...]
    factory: bool
    cwd: Path  # the server's working directory (after --chdir)
    paths: tuple[Path, ...]  # first on sys.path, as the server puts them
    server: ServerCommand | None
    settings: bool = False  # Django's settings module: imported, no attribute looked up
    instance_of: str | None = None  # the app must be an instance of this class (FastAPI)
    celery: str | None = None  # celery -A NAME: found by celery's own find_app, no web app
    named_in: Path | None = None  # the dotenv file flask run reads FLASK_APP from


def _server(spec: ServiceSpec) -> tuple[ServerCommand | None, Path | None]:
    """The server command, with the FLASK_APP that ``flask run`` reads from its dotenv
    files when neither its ``--app`` nor the service's env names the app (and that file)."""
    argv = command_argv(spec)
    server = parse_server(argv, spec.env) or parse_celery(argv, spec.env)
    if server is None or server.server != "flask" or server.target is not None:
        return server, None
    cwd = spec.cwd / server.chdir if server.chdir else spec.cwd
    found = _flask_app_in_dotenv(cwd, server.env_file)
    if found is None:
        return server, None
    return parse_server(argv, {**spec.env, "FLASK_APP": found[0]}), found[1]


def _flask_app_in_dotenv(cwd: Path, env_file: str | None) -> tuple[str, Path] | None:
    """FLASK_APP as flask's ``load_dotenv`` sets it: ``-e FILE`` over ``.env`` over
    ``.flaskenv``, each of the two found from the cwd upwards (python-dotenv's
    ``find_dotenv``). Taken as flask reads them with python-dotenv installed (without
    it flask ignores them, with a tip)."""
    from devstack.config.envfile import read_env_file

    files = [cwd / env_file] if env_file else []
    for name in (".env", ".flaskenv"):
        found = next((d / name for d in (cwd, *cwd.parents) if (d / name).is_file()), None)
        files += [found] if found else []
    for path in files:
        with contextlib.suppress(OSError):
            value = read_env_file(path).get("FLASK_APP")
            if value:
                return value, path
    return None


def import_target(spec: ServiceSpec) -> ImportTarget | None:
    """The app the service's command will load, or None when it is not a Python web server."""
    server, named_in = _server(spec)
    cwd = spec.cwd
    if server is not None and server.chdir:
        cwd = (spec.cwd / server.chdir).resolve()
    found = locate(server, cwd) if server is not None else Located(None, (), ())
    paths = tuple(dict.fromkeys((*found.paths, cwd)))
    if spec.check_import:
        module, colon, attr = spec.check_import.partition(":")
        celery = spec.check_import if server and server.interface == "celery" else None
        attrs = (attr,) if colon else ("app",) if celery is None else found.attrs
        return ImportTarget(module, attrs, False, cwd, paths, server, celery=celery)
    if server is None or found.module is None:
        return None
    return ImportTarget(
        found.module,
        found.attrs,
        server.factory,
        cwd,
        paths,
        server,
        server.settings,
        found.instance_of,
        server.target if server.interface == "celery" else None,
        named_in,
    )


async def check_import(
    spec: ServiceSpec,
    python: Path | CannotTell,
    *,
    port: int | None = None,
    timeout: float = 15.0,
    stack: StackSpec | None = None,
) -> CheckResult | None:
    """Import the service's app with ``python``; None when there is nothing to import.

    ``CannotTell`` (devstack cannot say which Python runs the command): a warning, skipped.
    """
    target = import_target(spec)
    if target is None:
        return None
    server = target.server
    # fastapi dev, manage.py runserver and flask run find their module when the command
    # names none.
    finds_own = server is not None and (
        server.app_path is not None or server.settings or server.server == "flask"
    )
    if server is not None and server.target is None and not spec.check_import and not finds_own:
        return None
    if not target.attrs and not target.settings:
        return _needs_attr(spec, target)
    report = _Report(spec, target, port, stack)
    report.timeout = timeout
    if isinstance(python, CannotTell):
        return report.result(
            "warn", f"skipped: devstack cannot tell which Python runs it: {python.why}", []
        )
    answer, ran = await _run_probe(spec, target, python, timeout)
    if answer is None:
        return report.no_answer(python, ran, timeout)
    return await report.from_answer(answer, python)


async def _run_probe(
    spec: ServiceSpec, target: ImportTarget, python: Path, timeout: float
) -> tuple[dict[str, Any] | None, Ran]:
    request = {
        "module": target.module,
        "attrs": list(target.attrs),
        "factory": target.factory,
        "paths": [str(p) for p in target.paths],
        "argv0": target.server.server if target.server else target.module,
        "settings": target.settings,
        "worker": target.server.worker_class if target.server else None,
        "celery": target.celery,
    }
    argv = [str(python), str(PROBE), json.dumps(request)]
    try:
        ran = await run_bounded(argv, cwd=target.cwd, env=service_env(spec), timeout=timeout)
    except OSError as exc:  # not executable, a bad interpreter line
        return None, Ran(-1, b"", (exc.strerror or str(exc)).encode())
    for line in reversed(ran.out.decode(errors="replace").splitlines()):
        with contextlib.suppress(ValueError):
            answer = json.loads(line)
            if isinstance(answer, dict):
                return answer, ran
    return None, ran


class _Report:
    """Turns the probe's answer into the check's one-screen message."""

    def __init__(
        self, spec: ServiceSpec, target: ImportTarget, port: int | None, stack: StackSpec | None
    ) -> None:
        self.stack = stack
        self.spec = spec
        self.target = target
        self.server = target.server
        self.port = port or spec.port
        self.timeout = 15.0
        # What error_fix learnt of a missing module (Hint), and the import's file:line.
        self.facts: Hint | None = None
        self.facts_file: str | None = None
        self.facts_line: int | None = None

    def result(
        self,
        status: Status,
        summary: str,
        details: list[str],
        fix: str | None = None,
        kind: str | None = None,
    ) -> CheckResult:
        if status != "ok" and self.target.named_in and self.server:
            where = shown(self.target.named_in, self.spec.cwd)
            details = [*details, f"(FLASK_APP={self.server.target} is set in {where})"]
        result = CheckResult(self.spec.name, "import", status, summary, tuple(details), fix, kind)
        if self.facts is None or fix != self.facts.fix:
            return result
        # The fix error_fix found for a missing module: its kind, and the import's file:line.
        return dataclasses.replace(
            result, kind=self.facts.kind, file=self.facts_file, line=self.facts_line
        )

    def rel(self, path: str | None) -> str:
        return shown(Path(path), self.target.cwd) if path else "?"

    def clean(self, message: str) -> str:
        """Exception text with the service's directory left out of its paths."""
        return message.replace(str(self.target.cwd) + os.sep, "")

    def module_file(self) -> Path | None:
        """The file that defines the module, found without importing it."""
        rel = Path(*self.target.module.split("."))
        for base in self.target.paths:
            for candidate in (base / rel.with_suffix(".py"), base / rel / "__init__.py"):
                if candidate.is_file():
                    return candidate
        return None

    def module_label(self, origin: str | None = None) -> str:
        path = Path(origin) if origin else self.module_file()
        return self.rel(str(path)) if path else f"module {self.target.module!r}"

    async def from_answer(self, answer: dict[str, Any], python: Path) -> CheckResult:
        stage = answer.get("stage")
        major = str(answer.get("version") or "0").split(".")[0]
        if self.server and self.server.app_first and major.isdigit() and int(major) >= 5:
            return self.celery_app_after()
        if stage == "worker":
            return self.worker_failed(answer, python)
        if stage == "settings":
            label = self.module_label(answer.get("origin"))
            return self.result("ok", f"{self.target.module} imports (Django settings, {label})", [])
        if stage == "celery":
            return self.celery_app(answer)
        if stage == "import":
            failed = await self.import_failed(answer["error"], python)
            return self.settings_caveat(failed, answer["error"])
        if stage == "attr":
            return await self.attr_missing(answer)
        if stage == "factory":
            return await self.factory_failed(answer)
        return await self.kind(answer)

    async def import_failed(self, error: dict[str, Any], python: Path) -> CheckResult:
        label = self.module_label()
        details = [f"{error['type']}: {self.clean(error['message'])}"]
        frame = error.get("frame")
        if error.get("module_missing"):
            looked = ", ".join(self.rel(str(p)) or "." for p in self.target.paths)
            summary = f"module {self.target.module!r} not found (looked in {looked})"
            server = self.server
            if (
                server
                and server.server == "flask"
                and not server.target
                and not self.spec.check_import
            ):
                summary = (
                    "flask run finds no app: no --app, no FLASK_APP (env, .env, .flaskenv), "
                    f"no wsgi.py or app.py (looked in {looked})"
                )
            if self.target.settings:
                return self.settings_missing(summary, details)
            moved = await self.moved(summary, details, python)
            return moved or await self.with_alternatives(summary, details)
        summary = f"{label} could not be imported"
        if frame:
            details.append(f"at {self.rel(frame['file'])}:{frame['line']}: {frame['code']}")
        if error["type"] in ("ImportError", "ModuleNotFoundError"):
            details.append(f"{label} was found, but something it imports is missing")
        fix = self.error_fix(error, python, details)
        # Only after the import failed: the env files' reader is not on the way to a start.
        from devstack.checks.envneeded import env_needed

        env = env_needed(error, self.spec, self.stack)
        if env is not None:
            return env.apply(self.result("fail", summary, details))
        return await self.with_alternatives(summary, details, error, fix)

    def error_fix(self, error: dict[str, Any], python: Path, details: list[str]) -> str | None:
        """What fixes the error the module raised: for a module not found, what
        ``modulehints`` makes of it (a declared dependency to install, through the setup
        when there is one; an undeclared one; a typo), else fix the line that raised it."""
        missing = error.get("name") if error["type"] == "ModuleNotFoundError" else None
        frame = error.get("frame")
        if missing:
            from devstack.checks.modulehints import explain_missing

            hint = explain_missing(
                missing,
                Path(frame["file"]) if frame else None,
                self.target.paths,
                self.spec,
                self.stack,
                self.shown_python(python),
                self.environment(python),
            )
            if hint is not None:
                details += hint.details
                self.facts = hint
                if frame:
                    self.facts_file, self.facts_line = self.rel(frame["file"]), frame["line"]
                return hint.fix
        if not frame:
            return None
        where = f"{self.rel(frame['file'])}:{frame['line']}"
        if error["type"] in ("ImportError", "ModuleNotFoundError"):
            return f"fix the import at {where}"
        return f"fix the {error['type']} raised at {where}"

    def shown_python(self, python: Path) -> str:
        """``.venv/bin/python`` for the venv's interpreter, however the path reached it."""
        venv = find_venv(self.spec)
        # Compared by directory: a venv's python is a symlink to the base interpreter.
        if venv is not None and (venv / "bin").resolve() == python.parent.resolve():
            python = venv / "bin" / python.name
        return shown(python, self.spec.cwd)

    def environment(self, python: Path) -> str:
        """Where packages for ``python`` go, in words: ``.venv``, or the interpreter."""
        venv = find_venv(self.spec)
        if venv is not None and (venv / "bin").resolve() == python.parent.resolve():
            return shown(venv, self.spec.cwd)
        return str(python)

    async def moved(self, summary: str, details: list[str], python: Path) -> CheckResult | None:
        """The module is not where the service runs, but imports from a subfolder (its
        sibling imports too): run it there (``cwd``), rather than as ``server.api``."""
        from devstack.checks.modulehints import cwd_fix, module_dirs, module_file

        for directory in module_dirs(self.target.cwd, self.target.module)[:3]:
            there = dataclasses.replace(self.target, cwd=directory, paths=(directory,))
            answer, _ = await _run_probe(self.spec, there, python, self.timeout)
            if not answer or not answer.get("ok"):
                continue
            sub = os.path.relpath(directory, self.target.cwd)
            fix = cwd_fix(self.spec, self.stack, directory)
            found = module_file(directory, self.target.module)
            details.append(f"{self.rel(str(found))} is there, and imports when run from {sub}/")
            siblings = await asyncio.to_thread(_siblings, found, directory)
            if siblings:
                details.append(
                    f"(not as {sub.replace(os.sep, '.')}.{self.target.module}: it imports "
                    f"{', '.join(siblings)} from its own folder)"
                )
            keep = told = None  # the server's own way to load it from there, keeping the cwd
            if self.server is not None and self.server.server in _CHDIR:
                keep = f"{self.server.server} {_CHDIR[self.server.server]} {sub}"
                told = f"add {_CHDIR[self.server.server]} {sub} to cmd"
            elif self.server is not None and self.server.server == "flask":
                # flask's path form puts the file's folder first on sys.path, as cwd would.
                path = os.path.join(sub, *self.target.module.split("."))
                _, colon, attr = (self.server.target or "").partition(":")
                keep = told = f"flask --app {path}{colon}{attr}"
            if told is not None and self.spec.setup is not None:
                # A cwd change would move the setup step too (its venv, its requirements).
                details.append(f"(or {fix}: that moves the setup step's folder too)")
                fix = f"{told} (keeps the cwd, where the setup step runs)"
            elif keep is not None:
                details.append(f"(or keep the cwd: {keep} does the same)")
            return CheckResult(
                self.spec.name, "import", "fail", summary, tuple(details), fix, kind="wrong-cwd"
            )
        return None

    def settings_caveat(self, result: CheckResult, error: dict[str, Any]) -> CheckResult:
        """Django settings that raised (not a missing import) when manage.py prepares the
        environment first (a .env it loads, variables it sets): the check imported them
        without that, so it is no certainty: a warning."""
        if not self.target.settings or error["type"] in _IMPORT_ERRORS or not self.server:
            return result
        try:
            manage = (self.target.cwd / (self.server.app_path or "")).read_text(errors="replace")
        except OSError:
            return result
        if not _PREPARES_ENV.search(manage):
            return result
        note = "manage.py prepares the environment before it imports them (not done here)"
        return dataclasses.replace(result, status="warn", details=(*result.details, note))

    def settings_missing(self, summary: str, details: list[str]) -> CheckResult:
        """Django's settings module not found: the settings modules that are here."""
        found = sorted(
            ".".join(p.relative_to(self.target.cwd).with_suffix("").parts)
            for p in self.target.cwd.glob("*/settings.py")
        )
        fix = self.with_settings(found[0]) if len(found) == 1 else None
        if found:
            details.append(f"settings modules here: {', '.join(found)}")
        return self.result("fail", summary, details, fix, "not-found")

    def with_settings(self, module: str) -> str:
        """The command with ``--settings module`` (in place of the one it has)."""
        argv = list(self.server.argv) if self.server else []
        for i, token in enumerate(argv):
            if token == "--settings" and i + 1 < len(argv):
                argv[i + 1] = module
                break
            if token.startswith("--settings="):
                argv[i] = f"--settings={module}"
                break
        else:
            argv += ["--settings", module]
        return shlex.join(argv)

    async def attr_missing(self, answer: dict[str, Any]) -> CheckResult:
        label = self.module_label(answer.get("origin"))
        fastapi = [c for c in answer.get("candidates") or [] if c["kind"] == "FastAPI, ASGI"]
        if (
            self.server
            and self.server.server == "fastapi"
            and fastapi
            and len(self.target.attrs) > 1
        ):
            # fastapi-cli's discovery: app, api, else the first FastAPI instance.
            app = f"{self.target.module}:{fastapi[0]['name']}"
            return self.result("ok", f"{app} imports; ASGI app (FastAPI)", [])
        if "error" in answer:
            err = answer["error"]
            return self.result(
                "fail",
                f"{self.target.module}:{answer.get('attr')}: {err['type']}: {err['message']}",
                [],
            )
        attrs = self.target.attrs
        if len(attrs) == 1:
            summary = f"{label} has no attribute {attrs[0]!r}"
        else:
            summary = f"{label} defines none of {', '.join(attrs)}"
        candidates = answer.get("candidates") or []
        details = []
        if candidates:
            listed = ", ".join(
                f"{c['name']} ({c['kind']})" if c["kind"] not in ("function", "type") else c["name"]
                for c in candidates
            )
            details.append(f"it defines: {listed}")
        apps = [c for c in candidates if c["kind"].endswith(("WSGI", "ASGI"))]
        if apps:
            first = apps[0]
            interface = first["kind"].rsplit(", ", 1)[1].lower()
            fix = self.suggest(f"{self.target.module}:{first['name']}", interface)
            details.append(f"try: {fix}")
            return self.result("fail", summary, details, fix)
        return await self.with_alternatives(summary, details)

    def celery_typo(self, summary: str, details: list[str]) -> CheckResult:
        """celery -A NAME whose top-level module is not found: one here with a close name."""
        from devstack.checks.modulehints import typo_of

        name = self.target.celery or ""
        top = name.split(".")[0].split(":")[0]
        typo = typo_of(top, self.target.paths)
        if typo is None:
            return self.result("fail", summary, details)
        wanted = typo.found + name[len(top) :]
        found = typo.path.name + ("/" if typo.path.is_dir() else "")
        details.append(f"did you mean {wanted}? ({found} is here)")
        fix = None
        if self.server is not None and self.server.target_index is not None:
            fix = suggest(self.server, wanted, None, host=None, port=None)
        return self.result("fail", summary, details, fix, "typo")

    def celery_app_after(self) -> CheckResult:
        """celery SUBCOMMAND -A APP: celery 5 takes -A before the subcommand only."""
        fix = self.server.app_first if self.server else None
        summary = "celery 5 takes -A before the subcommand; after it, celery exits 2"
        details = ["celery says: Error: No such option (-A belongs to celery, not the subcommand)"]
        details.append(f"try: {fix}")
        return self.result("fail", summary, details, fix, "usage")

    def celery_app(self, answer: dict[str, Any]) -> CheckResult:
        """celery -A NAME: the module imports; is what celery's find_app takes a Celery app?"""
        name = self.target.celery
        if answer["ok"]:
            return self.result("ok", f"{name} imports; Celery app", [])
        label = self.module_label(answer.get("origin"))
        if answer.get("found") is not None:
            summary = f"celery -A {name} names a {answer['found']} object, not a Celery app"
            details = ["celery would fail on it (no user_options): name the Celery() instance"]
            return self.result("fail", summary, details, None, "wrong-interface")
        module, colon, attr = (name or "").partition(":")
        if colon:
            looks = f"the attribute {attr!r}"
        else:
            head, dot, last = module.rpartition(".")
            looks = f"attribute {last} of module {head}, else " if dot else ""
            looks += (
                f"{module}.app, {module}.celery, a {module}.celery submodule (of a package), "
                f"any Celery instance in {module}"
            )
        summary = f"{label} imports, but celery -A {name} finds no Celery app in it"
        details = [f"celery looks for {looks}"]
        if answer.get("message") and not colon:
            details.append(f"celery says: {answer['message']}")
        return self.result("fail", summary, details, None, "not-found")

    async def factory_failed(self, answer: dict[str, Any]) -> CheckResult:
        error = answer["error"]
        details = [f"{error['type']}: {self.clean(error['message'])}"]
        frame = error.get("frame")
        if frame:
            details.append(f"at {self.rel(frame['file'])}:{frame['line']}: {frame['code']}")
        summary = f"{self.target.module}:{answer.get('attr')}: the app factory raised"
        return self.result("fail", summary, details)

    def worker_failed(self, answer: dict[str, Any], python: Path) -> CheckResult:
        """gunicorn -k CLASS that does not load in the service's interpreter."""
        error, uri = answer["error"], answer["worker"]
        if answer["class"] is None:  # no such alias here (gunicorn 27 has no eventlet)
            summary = f"gunicorn's worker class {uri} does not exist"
            return self.result("fail", summary, [error["message"]], None, "unknown-worker")
        missing = error.get("name") if error["type"] == "ModuleNotFoundError" else None
        top = (missing or uri).split(".")[0]
        package = WORKER_DISTRIBUTIONS.get(missing or "", WORKER_DISTRIBUTIONS.get(top, top))
        summary = f"gunicorn's worker class {uri} ({answer['class']}) does not load"
        details = [f"{error['type']}: {self.clean(error['message']).splitlines()[0]}"]
        if missing == "uvicorn.workers":
            details.append("this uvicorn has no workers module: -k uvicorn_worker.UvicornWorker")
        fix = f"{self.shown_python(python)} -m pip install {package}"
        details.append(f"{package} must be installed in the interpreter gunicorn runs with")
        return self.result("fail", summary, details, fix, "not-installed")

    def factory_rules(self, answer: dict[str, Any]) -> CheckResult | None:
        """The server's own rules for app factories (``FACTORY_RULES``): a call its
        loader does not make, or a bare factory it would serve as the app."""
        if self.server is None or self.server.server not in FACTORY_RULES:
            return None
        if self.spec.check_import:
            return None  # check.import names what to import, not how the server loads it
        rules = FACTORY_RULES[self.server.server]
        name, server, attr = self.target.module, self.server.server, answer["attr"]
        func = attr.split("(")[0].strip()
        if "(" in attr and not rules.call_syntax:
            fix = factory_command(self.server, name, func)
            how = f"give {rules.flag} instead" if rules.flag else f"define app = {func}() in it"
            summary = (
                f"{server} does not call {name}:{attr}: it looks for an attribute named "
                f"{attr!r} and exits; {how}"
            )
            return self.result("fail", summary, [f"try: {fix}"] if fix else [], fix, "factory")
        made = answer.get("factory")
        if made is None or "error" in made or made["interface"] not in ("wsgi", "asgi"):
            return None
        article = "an" if made["interface"] == "asgi" else "a"
        what = f"{article} {made['interface'].upper()} app ({made['framework']})"
        if rules.calls_bare == "yes":
            return None
        fix = factory_command(self.server, name, func)
        where = {"file": self.rel(made.get("file")), "line": made.get("line")}  # def create_app
        if rules.calls_bare == "warns":
            summary = (
                f"{name}:{func} is an app factory; {server} calls it (it returns {what}) "
                f"but warns: give {rules.flag}"
            )
            found = self.result("warn", summary, [f"try: {fix}"], fix, "factory")
            return dataclasses.replace(found, **where)
        summary = (
            f"{name}:{func} is an app factory (it returns {what}), not an app: "
            f"{server} {rules.bare}"
        )
        details = [f"try: {fix}"] if fix else [f"define app = {func}() in {name} and serve that"]
        found = self.result("fail", summary, details, fix, "factory")
        return dataclasses.replace(found, **where)

    async def kind(self, answer: dict[str, Any]) -> CheckResult:
        by_rules = self.factory_rules(answer)
        if by_rules is not None and by_rules.failed:
            return by_rules
        made = answer.get("factory")
        rules = FACTORY_RULES.get(self.server.server) if self.server else None
        if made and rules is not None and rules.calls_bare != "no" and "error" in made:
            return await self.factory_failed({"attr": answer["attr"], "error": made["error"]})
        if made and rules is not None and rules.calls_bare != "no":
            # The server calls the factory itself: what it returns is the app it serves.
            answer = {**answer, "interface": made["interface"], "framework": made["framework"]}
        app = f"{self.target.module}:{answer['attr']}"
        interface, framework = answer["interface"], answer["framework"]
        if interface == "not-callable":
            return self.result(
                "fail",
                f"{app} is not a callable app ({framework})",
                ["a server needs a WSGI or ASGI application object (e.g. app = Flask(__name__))"],
            )
        if interface == "unknown":
            return self.result(
                "warn",
                f"{app} imports; callable, but neither WSGI nor ASGI "
                f"could be recognised ({framework})",
                [],
            )
        label = f"{interface.upper()} app ({framework})"
        article = "an" if interface == "asgi" else "a"
        if self.server is not None and self.target.instance_of not in (None, framework):
            summary = (
                f"{app} is {article} {label}, but {self.server.server} serves only "
                f"a {self.target.instance_of} instance"
            )
            return self.result("fail", summary, [], None, "wrong-interface")
        if self.server is None or is_compatible(self.server, interface):
            return by_rules or self.result("ok", f"{app} imports; {label}", [])
        server = self.server.server
        serves = _SERVES[self.server.interface]
        if server == "gunicorn" and interface == "asgi":
            why = f"{server} without an ASGI worker class serves WSGI apps"
        elif server == "granian":
            why = f"granian with --interface {self.server.interface} serves {serves} apps"
        else:
            why = f"{server} serves {serves} apps"
        fix = self.suggest(app, interface)
        details = [f"try: {fix}"]
        if server == "uvicorn" and interface == "wsgi":
            details.append("(or add --interface wsgi, which uvicorn supports for WSGI apps)")
        return self.result("fail", f"{app} is {article} {label}, but {why}", details, fix)

    async def with_alternatives(
        self,
        summary: str,
        details: list[str],
        error: dict[str, Any] | None = None,
        fix: str | None = None,
    ) -> CheckResult:
        """A failure, with the CLI diagnosis and the web apps found in the directory.

        ``error``: the module was found but raised while imported. Then ``fix`` (what
        fixes that error) stands, unless the module is a command-line program and another
        app here does not import what broke; an app that does is never suggested.
        """
        if self.target.celery is not None:  # no web app would do
            if error is None:
                return self.celery_typo(summary, details)
            return self.result("fail", summary, details, fix)
        module_file = self.module_file()
        cli, apps = await asyncio.to_thread(self._scan, module_file, error)
        if self.target.instance_of:  # fastapi-cli: FastAPI instances only, no factories
            wanted = self.target.instance_of
            apps = [a for a in apps if a.framework == wanted and not a.attr.endswith(")")]
        if cli and module_file is not None:
            details.append(
                f"{self.rel(str(module_file))} is a command-line program "
                f"({cli} and a __main__ block, no app object), not a web app"
            )
        elif error is not None:
            return self.result("fail", summary, details, fix)
        if apps:
            fix = self.suggest(apps[0].target, apps[0].interface)
            shown_apps = ", ".join(a.describe() for a in apps[:5])
            details.append(f"Web apps found here: {shown_apps} -> try: {fix}")
        elif error is None:
            details.append(
                f"no web app found in {self.target.cwd} (looked for Flask(...), FastAPI(), "
                "Starlette(), get_wsgi_application() and create_app() factories)"
            )
        return self.result("fail", summary, details, fix)

    def _scan(
        self, module_file: Path | None, error: dict[str, Any] | None
    ) -> tuple[str | None, list[WebApp]]:
        # Only after the import failed: the ast scan's module is not on the way to a start.
        from devstack.checks.scan import cli_kind, imports_of, scan_web_apps

        cli = cli_kind(module_file) if module_file is not None else None
        if error is not None and not cli:
            return None, []
        apps = scan_web_apps(self.target.cwd)
        if error is None:
            return cli, apps
        # What broke: the module itself, the file that raised, the dependency not found.
        broken = {p.resolve() for p in (module_file,) if p is not None}
        frame = error.get("frame")
        if frame:
            broken.add(Path(frame["file"]).resolve())
        missing = error.get("name") if error["type"] == "ModuleNotFoundError" else None
        gone = {missing.split(".")[0]} if missing else set()
        clean = []
        for app in apps:
            files, outside = imports_of(app.path, self.target.paths)
            if app.module != self.target.module and not files & broken and not outside & gone:
                clean.append(app)
        return cli, clean

    def suggest(self, target: str, interface: str) -> str:
        if self.server is None:
            return f"check.import = {target!r}"
        return suggest(self.server, target, interface, host=self.spec.host, port=self.port)

    def no_answer(self, python: Path, ran: Ran, timeout: float) -> CheckResult:
        if ran.timed_out:
            summary = (
                f"importing {self.target.module} did not finish within {timeout:g}s "
                "(does it start a server or wait for input when imported?)"
            )
            return self.result("fail", summary, [])
        # No answer and no timeout: devstack's probe itself did not run to its end (an
        # interpreter it cannot run in, a Python too old). Its own paths are not the app's.
        said = [
            ln.strip().replace(str(PROBE), "devstack's probe")
            for ln in ran.err.decode(errors="replace").splitlines()
            if ln.strip()
        ]
        how = f"exit status {ran.returncode}" + (f": {said[-1]}" if said else "")
        return self.result(
            "warn",
            f"skipped: devstack's own import check could not run with {python} ({how}); "
            "a devstack limitation, not a verdict on the app",
            [],
        )


def _siblings(path: Path, directory: Path) -> list[str]:
    """The modules of ``directory`` that ``path`` imports as top-level names."""
    from devstack.checks.scan import imports_of

    files, _ = imports_of(path, [directory])
    return sorted(shown(f, directory) for f in files if f != path.resolve())


def _needs_attr(spec: ServiceSpec, target: ImportTarget) -> CheckResult:
    server = target.server.server if target.server else "the server"
    return CheckResult(
        spec.name,
        "import",
        "fail",
        f'{server} needs "module:attribute", got {target.module!r}',
        (f"e.g. {target.module}:app",),
        None,
    )
