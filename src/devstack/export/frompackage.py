"""``devstack init`` without a Procfile: services from package.json's dev script.

The dev script (``dev``, else ``develop``, ``start:dev``, ``serve``) is read as
``npm run dev`` would run it: ``concurrently "a" "b"`` (its options, ``-n/--names``,
``npm:dev:*`` parts) is one service per part, ``run-p a b`` / ``npm-run-all -p`` too;
a part that runs another script (``pnpm run flask-dev``) is read through to that
script. A Node dev server (``next dev``, ``vite``, ``nuxt dev``, ``astro dev``) runs
through the package manager with its port made explicit; a Python command is read as
a Procfile line is (port, import check), its ``pip install ... &&`` prefix becoming a
``setup`` step into a virtualenv. A frontend's proxy target (a rewrite in
next.config.*, a vite ``proxy``) on a service's port becomes ``depends_on``; when no
part runs Python, common entry points (api/index.py, app.py, main.py, manage.py...)
holding a Flask/FastAPI/Django app are served on the port the proxy targets.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from devstack.checks.scan import WebApp, factory_apps, required_params, scan_web_apps
from devstack.errors import ConfigError
from devstack.export.fromprocfile import Inferred, infer_services, needs_shell
from devstack.project.frontendconfig import LOOPBACK_URL
from devstack.project.nodepackage import LOCKFILES, MANAGERS
from devstack.project.servers import command_port
from devstack.project.venv import find_venv

DEV_SCRIPTS = ("dev", "develop", "start:dev", "dev:all", "serve")
_MANAGERS = MANAGERS
_LOCKFILES = LOCKFILES
# Node dev servers: program -> (default port, its port option).
_NODE_SERVERS = {
    "next": (3000, "--port"),
    "vite": (5173, "--port"),
    "nuxt": (3000, "--port"),
    "nuxi": (3000, "--port"),
    "astro": (4321, "--port"),
}
# concurrently's options that take a value (the others are flags).
_CONCURRENTLY_VALUES = {
    *("-n", "--names", "--name-separator", "-c", "--prefix-colors", "-p", "--prefix"),
    *("-l", "--prefix-length", "-t", "--timestamp-format", "-s", "--success"),
    *("--default-input-target", "--restart-tries", "--restart-after", "-m"),
    *("--max-processes", "--ks", "--kill-signal", "--teardown", "--hide", "--passthrough"),
}
_RUN_ALL = {"run-p", "npm-run-all", "run-s"}
_PIP = re.compile(r"^(?:pip3?|python3?(?:\.\d+)? -m pip) install\b(.*)$")
_ACTIVATE = re.compile(r"^(?:\.|source) (\S+)/bin/activate$")
_PYTHON_PROGRAMS = re.compile(r"^(python3?(\.\d+)?|flask|gunicorn|uvicorn|hypercorn|granian)$")
_ENTRY_MODULES = ("api.index", "app", "main", "api", "server", "wsgi", "asgi", "index")


@dataclass
class Part:
    """One process the dev script starts: its name, and the command it runs."""

    name: str
    command: str  # the command as the part wrote it ("pnpm run flask-dev")
    script: str | None  # the script it runs through the package manager, if any
    body: str  # the command at the end of the scripts it goes through


def read_scripts(path: Path) -> dict[str, str]:
    """package.json's ``scripts``; a ConfigError naming the line when it is not JSON."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError.one(f"cannot read package.json: {exc.strerror}", file=path) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError.one(
            f"package.json is not valid JSON: {exc.msg}", file=path, line=exc.lineno
        ) from None
    scripts = data.get("scripts") if isinstance(data, dict) else None
    if not isinstance(scripts, dict):
        return {}
    return {k: v for k, v in scripts.items() if isinstance(k, str) and isinstance(v, str)}


def package_manager(root: Path) -> str:
    """pnpm, yarn, bun or npm: the ``packageManager`` field, else the lockfile."""
    return choose_manager(root)[0]


def choose_manager(root: Path) -> tuple[str, str | None]:
    """The package manager, and why, when more than one lockfile left a choice.

    corepack runs the manager the ``packageManager`` field names (and refuses another),
    so the field decides. Without it npm, pnpm and yarn each read only their own
    lockfile and nothing says which is current: the lockfile changed last (its last
    commit, else its mtime) is the one the project still maintains.
    """
    locks = [lock for lock in _LOCKFILES if (root / lock).is_file()]
    try:
        data = json.loads((root / "package.json").read_text(encoding="utf-8"))
        field = str(data.get("packageManager", "")) if isinstance(data, dict) else ""
    except (OSError, ValueError):
        field = ""
    named = field.split("@")[0]
    others = [lock for lock in locks if _LOCKFILES[lock] != named]
    if named in _MANAGERS:
        if not others:
            return named, None
        return named, (
            f"# {named}: package.json's packageManager is {field} (corepack runs that one);"
            f" {', '.join(others)} is not read by {named}"
        )
    if len({_LOCKFILES[lock] for lock in locks}) < 2:
        return (_LOCKFILES[locks[0]] if locks else "npm"), None
    changed = {lock: _last_changed(root / lock) for lock in locks}
    newest = max(locks, key=lambda lock: changed[lock][0])
    seen = ", ".join(f"{lock}{_lock_version(root / lock)} {changed[lock][1]}" for lock in locks)
    return _LOCKFILES[newest], (
        f"# {_LOCKFILES[newest]}: {seen}; package.json names no packageManager, so the"
        f" lockfile changed last wins ({newest}). Set packageManager (e.g."
        f' "{_LOCKFILES[newest]}@VERSION") and delete the other lockfile to make it certain'
    )


def _last_changed(path: Path) -> tuple[float, str]:
    """When ``path`` last changed: its last commit if git knows it (a clone's mtimes are
    all the checkout's), else its mtime; and how that reads in a comment."""
    import datetime
    import subprocess

    try:
        done = subprocess.run(
            ["git", "log", "-1", "--format=%ct", "--", path.name],
            cwd=path.parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        stamp, how = float(done.stdout.strip()), "committed"
    except (OSError, ValueError, subprocess.SubprocessError):
        stamp, how = path.stat().st_mtime, "modified"
    day = datetime.datetime.fromtimestamp(stamp, datetime.UTC).date().isoformat()
    return stamp, f"{how} {day}"


def _lock_version(path: Path) -> str:
    """`` (lockfile v5.4)``: pnpm and npm lockfiles say which format they are."""
    head = _head(path)
    found = re.search(r"lockfileversion['\"]?\s*:\s*['\"]?([\d.]+)", head)
    return f" (lockfile v{found.group(1)})" if found else ""


def dev_parts(scripts: dict[str, str]) -> tuple[str | None, list[Part]]:
    """The dev script's name and the processes it starts."""
    name = next((n for n in DEV_SCRIPTS if n in scripts), None)
    if name is None:
        return None, []
    text = scripts[name]
    split = _parallel_parts(text, scripts)
    if split is None:
        return name, [_part(name, f"npm run {name}", scripts)]
    parts: list[Part] = []
    for label, command in split:
        part = _part(label, command, scripts)
        while part.name in {p.name for p in parts}:
            part.name += "-2"
        parts.append(part)
    return name, parts


def _parallel_parts(text: str, scripts: dict[str, str]) -> list[tuple[str | None, str]] | None:
    """(name given, command) of each part of a concurrently / run-p line; None: not one."""
    try:
        words = shlex.split(text)
    except ValueError:
        return None
    while words and re.match(r"[A-Za-z_]\w*=", words[0]):
        words.pop(0)
    if words[:1] == ["npx"] or words[:2] in (["pnpm", "exec"], ["yarn", "exec"]):
        words = words[1:] if words[0] == "npx" else words[2:]
    if not words or needs_shell(text):
        return None
    program = words[0]
    if program == "concurrently":
        names: list[str] = []
        commands: list[str] = []
        rest = iter(words[1:])
        for word in rest:
            option, eq, value = word.partition("=")
            if option in _CONCURRENTLY_VALUES:
                value = value if eq else next(rest, "")
                if option in ("-n", "--names"):
                    names = [n.strip() for n in value.split(",")]
            elif not word.startswith("-"):
                commands.append(word)
        parts: list[tuple[str | None, str]] = []
        for index, command in enumerate(commands):
            given = names[index] if index < len(names) and names[index] else None
            parts += _expand_shortcut(command, given, scripts)
        return parts or None
    if program in _RUN_ALL and ("-p" in words or "--parallel" in words or program == "run-p"):
        patterns = [w for w in words[1:] if not w.startswith("-")]
        found: list[tuple[str | None, str]] = []
        for pattern in patterns:
            found += _expand_shortcut(f"npm:{pattern}", None, scripts)
        return found or None
    return None


def _expand_shortcut(
    command: str, given: str | None, scripts: dict[str, str]
) -> list[tuple[str | None, str]]:
    """concurrently's ``npm:dev:*`` / ``pnpm:api`` forms as ``npm run SCRIPT`` parts."""
    match = re.fullmatch(r"(npm|pnpm|yarn|bun):(\S+)", command)
    if match is None:
        return [(given, command)]
    pm, pattern = match.groups()
    if "*" not in pattern:
        return [(given, f"{pm} run {pattern}")]
    found = [s for s in scripts if fnmatch.fnmatchcase(s, pattern)]
    prefix, _, suffix = pattern.partition("*")
    return [(s[len(prefix) : len(s) - len(suffix)] or s, f"{pm} run {s}") for s in found]


def _part(given: str | None, command: str, scripts: dict[str, str]) -> Part:
    script, body = None, command
    for _ in range(5):  # a script that runs a script that runs...
        target = _script_of(body, scripts)
        if target is None:
            break
        script, extra = target
        body = " ".join([scripts[script], *extra]).strip()
    name = given or _name_of(script, body)
    return Part(name, command, script, body)


def _script_of(command: str, scripts: dict[str, str]) -> tuple[str, list[str]] | None:
    """(script, extra arguments) when ``command`` runs a script of this package.json."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if len(words) < 2 or words[0] not in _MANAGERS:
        return None
    rest = words[2:] if words[1] in ("run", "run-script") else words[1:]
    if not rest or rest[0] not in scripts:
        return None
    extra = rest[1:]
    return rest[0], extra[1:] if extra[:1] == ["--"] else extra


def _name_of(script: str | None, body: str) -> str:
    if script:
        name = re.sub(r"(^dev[:-])|([:-]dev$)", "", script) or script
    else:
        words = body.split()
        name = os.path.basename(words[0]) if words else "app"
    name = re.sub(r"[^A-Za-z0-9_-]", "-", name).strip("-")
    return name or "app"


def infer_package(package_json: Path, *, depend: bool = True) -> tuple[list[Inferred], list[str]]:
    """The services package.json's dev script starts, and notes for the file's head.
    ``depend=False``: the caller adds the proxy targets' ``depends_on`` (across folders)."""
    root = package_json.parent
    scripts = read_scripts(package_json)
    pm, why_pm = choose_manager(root)
    dev, parts = dev_parts(scripts)
    notes: list[str] = []
    services: list[Inferred] = []
    for index, part in enumerate(parts, start=1):
        via = f" (part {index} of `{dev}`)" if len(parts) > 1 else ""
        origin = f"package.json scripts.{part.script or dev}{via}: {part.body}"
        svc = _python_service(part, root) or _node_service(part, pm)
        svc.origin = origin
        services.append(svc)
    if dev is None:
        notes.append(f"# package.json has no dev script ({', '.join(DEV_SCRIPTS)}).")
    _install_step(services, root, pm)
    node = next((s for s in services if s.kind == "node"), None)
    if why_pm is not None:
        (node.notes if node is not None else notes).append(why_pm)
    targets = proxy_targets(root)
    if not any(s.kind == "python" for s in services):
        entry = python_entry(root, targets, {s.port for s in services})
        if entry is not None:
            services.append(entry)
    if depend:
        depend_on_proxy_targets(services, targets)
    return services, notes


def _node_service(part: Part, pm: str) -> Inferred:
    svc = Inferred(part.name, 0, part.body, part.command, kind="node")
    words = _words(part.body)
    program = os.path.basename(words[0]) if words else ""
    if program in ("npx",) or words[:2] in ([pm, "exec"], ["npm", "exec"]):
        words = words[1:] if program == "npx" else words[2:]
        program = os.path.basename(words[0]) if words else ""
    base = _run_command(part, pm)
    if program not in _NODE_SERVERS or needs_shell(part.body):
        svc.cmd = base
        return svc
    default, option = _NODE_SERVERS[program]
    written = command_port(words)
    if written is not None:
        svc.port, svc.port_reason = written, "the port the script names"
        svc.cmd = base
    else:
        svc.port, svc.port_reason = default, f"{program}'s default port, now explicit"
        extra = f"{option} ${{port}}"
        svc.cmd = f"{base} -- {extra}" if pm == "npm" and part.script else f"{base} {extra}"
    svc.notes.append(
        f"# {program}'s dev server, run by {pm} (node_modules/.bin on PATH);"
        " its first page compiles on the first request"
    )
    return svc


def _run_command(part: Part, pm: str) -> str:
    if part.script is not None:
        return f"{pm} run {part.script}"
    words = _words(part.body)
    if words and words[0] in (*_MANAGERS, "npx", "node"):
        return part.body
    return f"{'npx' if pm == 'npm' else pm + ' exec'} {part.body}"


def _python_service(part: Part, root: Path) -> Inferred | None:
    """A part that runs Python, read as a Procfile line; ``pip install &&`` becomes setup."""
    steps = _chain(part.body)
    if not steps:
        return None
    *before, last = steps
    words = _words(last)
    while words and re.match(r"[A-Za-z_]\w*=", words[0]):
        words = words[1:]
    if words[:1] == ["cross-env"]:
        last = last.split(None, 1)[1] if " " in last else ""
        words = words[1:]
        while words and re.match(r"[A-Za-z_]\w*=", words[0]):
            words = words[1:]
    program = os.path.basename(words[0]) if words else ""
    if not _PYTHON_PROGRAMS.match(program):
        return None
    installs: list[str] = []
    moved: dict[str, tuple[str, str]] = {}  # VAR -> (value, the step it was written before)
    for step in before:
        step_words = _words(step)
        assigned = _leading_assignments(step_words)
        text = " ".join(step_words[len(assigned) :])
        if _ACTIVATE.match(text):
            continue  # devstack activates .venv / venv in cwd itself
        pip = _PIP.match(text)
        if pip is None:
            return None  # a step devstack cannot place: keep the script as it is
        installs.append(pip.group(1).strip())
        moved |= {var: (value, text) for var, value in assigned}
    entries = {part.name: (last, 0)}
    svc = infer_services(entries, root)[0]
    svc.kind, svc.restart = "python", None
    for var, (value, step) in moved.items():
        if var in svc.env or "$" in value:
            continue
        svc.env[var] = value
        # A shell gives `VAR=v cmd` to cmd alone: the author most likely meant the app.
        svc.notes.append(
            f"# {var}={value}: the script sets it before `{step}`, and a shell gives such"
            " an assignment to that command alone (now the setup step); here the service"
            " gets it: remove it if the app should not"
        )
    if before and installs:
        venv = find_venv(root)
        name = venv.name if venv is not None else ".venv"
        make = "" if venv is not None else f"python3 -m venv {name} && "
        svc.setup = make + " && ".join(f"{name}/bin/pip install {args}" for args in installs)
        svc.setup_inputs = _requirement_files(installs)
        svc.notes.append(
            f"# setup: the script's pip install, into {name} (devstack activates it);"
            " the first up runs it, then only when the inputs change"
        )
    return svc


def _install_step(services: list[Inferred], root: Path, pm: str) -> None:
    """``pnpm install`` (or npm/yarn/bun's) as the first Node service's setup step."""
    node = next((s for s in services if s.kind == "node"), None)
    if node is None:
        return
    lock = next((f for f, m in _LOCKFILES.items() if m == pm and (root / f).is_file()), None)
    frozen = {"pnpm": "pnpm install --frozen-lockfile", "npm": "npm ci"}
    frozen |= {"yarn": "yarn install --frozen-lockfile", "bun": "bun install --frozen-lockfile"}
    node.setup = frozen[pm] if lock else f"{pm} install"
    node.setup_inputs = ["package.json", *([lock] if lock else [])]
    if pm == "pnpm" and not _builds_approved(root):
        # pnpm 10+ stops (ERR_PNPM_IGNORED_BUILDS) at packages whose build scripts
        # nobody approved: next's sharp, for one.
        node.setup += " --config.strict-dep-builds=false"
        node.notes.append(
            "# strict-dep-builds=false: pnpm skips the build scripts nobody approved (a"
            " warning, not a failed install); `pnpm approve-builds` approves them"
        )


def _builds_approved(root: Path) -> bool:
    """Does the project say which dependencies may run build scripts (pnpm 10+)?"""
    keys = ("onlyBuiltDependencies", "allowBuilds", "neverBuiltDependencies")
    texts = [_head(root / "pnpm-workspace.yaml"), _head(root / "package.json")]
    return any(key.lower() in text for text in texts for key in keys)


def proxy_targets(root: Path) -> dict[int, str]:
    """Local ports the frontend's dev proxy sends requests to -> the config file that says so."""
    found: dict[int, str] = {}
    for stem in ("next.config", "vite.config", "nuxt.config", "astro.config"):
        for ext in ("ts", "js", "mjs", "cjs", "mts"):
            path = root / f"{stem}.{ext}"
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            for match in LOOPBACK_URL.finditer(text):
                found.setdefault(int(match.group("port") or match.group("fallback")), path.name)
    return found


def depend_on_proxy_targets(
    services: list[Inferred], targets: dict[int, str], owners: list[Inferred] | None = None
) -> None:
    """Each Node service of ``services`` depends on the service (of ``owners``, default
    ``services``) that owns a port its proxy config targets."""
    by_port = {s.port: s for s in (services if owners is None else owners) if s.port is not None}
    for port, file in targets.items():
        owner = by_port.get(port)
        for svc in services:
            if svc.kind != "node" or svc is owner:
                continue
            if owner is None:
                svc.notes.append(
                    f"# {file} sends requests to port {port}, which no service here declares"
                )
            else:
                svc.depends_on.setdefault(
                    owner.name, f"{file}'s proxy targets {owner.name}'s port {port}"
                )


def python_entry(root: Path, targets: dict[int, str], taken: set[int | None]) -> Inferred | None:
    """A service for the project's Python web app when no script runs it."""
    free_target = next((p for p in targets if p not in taken), None)
    if is_django_project(root):
        command = "python3 manage.py runserver 127.0.0.1:$PORT"
        return _entry_service("manage.py", command, root, free_target or 8000, "Django")
    app = entry_app(root)
    if app is None:
        return None
    gunicorn = _lists_gunicorn(root)
    command = _serve_command(app, gunicorn)
    default = 5000 if app.framework.startswith("Flask") and not gunicorn else 8000
    run_port = _run_port(app.path)
    port = free_target or run_port or default
    svc = _entry_service(app.path.name, command, root, port, app.framework)
    if port == run_port and not free_target:
        svc.port_reason = f"the port {app.path.name}'s app.run() names"
    needs = required_params(app)
    if needs:
        factory = app.attr.removesuffix("()")
        svc.notes.append(
            f"# {factory}() takes {', '.join(needs)}: the server calls it without arguments;"
            f" give them in the target, e.g. '{app.module}:{factory}(...)'"
        )
    return svc


def is_django_project(folder: Path) -> bool:
    """Does ``folder`` hold a Django project's manage.py?"""
    return (folder / "manage.py").is_file() and "django" in _head(folder / "manage.py")


def entry_app(root: Path) -> WebApp | None:
    """The app to serve: an app object in an entry module (app.py, main.py, wsgi.py...),
    else ``app = create_app()`` in a top-level module, else a factory (``myapp/__init__.py``'s
    ``create_app``), one in an entry module first."""
    scanned = scan_web_apps(root, max_depth=2)
    made = factory_apps(root, scanned)
    objects = [a for a in scanned if not a.attr.endswith("()")] + made
    factories = [a for a in scanned if a.attr.endswith("()")]

    def entry(apps: list[WebApp]) -> WebApp | None:
        by_module = {a.module: a for a in reversed(apps)}
        return next((by_module[m] for m in _ENTRY_MODULES if m in by_module), None)

    packaged = next((a for a in factories if "." not in a.module), None)
    return entry(objects) or next(iter(made), None) or entry(factories) or packaged


def _lists_gunicorn(root: Path) -> bool:
    """Is gunicorn among the project's requirements (it is then how the app is served)?"""
    files = [*root.glob("requirements*.txt"), root / "pyproject.toml"]
    return any(re.search(r"^\s*[\"']?gunicorn\b", _text(f), re.M | re.I) for f in files)


def _run_port(path: Path) -> int | None:
    """The port of ``app.run(port=N)`` in the app's file: where the author serves it."""
    found = re.search(r"\.run\([^)]*\bport\s*=\s*(\d{2,5})\b", _text(path))
    return int(found.group(1)) if found else None


def _serve_command(app: WebApp, gunicorn: bool = False) -> str:
    path = app.module.replace(".", "/")
    if app.framework.startswith("Flask") and not gunicorn:
        # flask finds `app` or `create_app` in the module itself (its app discovery).
        return f"flask --app {path} run --port $PORT"
    factory = app.attr.endswith("()")
    attr = app.attr.removesuffix("()")
    if app.interface == "asgi":
        return f"uvicorn {'--factory ' if factory else ''}{app.module}:{attr} --port $PORT"
    target = f"{app.module}:{app.attr}" if factory else f"{app.module}:{attr}"
    return f"gunicorn {shlex.quote(target)} --bind 127.0.0.1:$PORT"


def _entry_service(file: str, command: str, root: Path, port: int, framework: str) -> Inferred:
    svc = infer_services({"backend": (command, 0)}, root, port)[0]
    svc.kind, svc.port, svc.http = "python", port, None
    svc.port_reason = (
        "the port the frontend's proxy targets"
        if port not in (5000, 8000)
        else (f"{svc.server or 'the server'}'s usual port")
    )
    svc.origin = f"found {file} ({framework}); no script runs it"
    install = None
    if (root / "requirements.txt").is_file():
        install, svc.setup_inputs = "-r requirements.txt", ["requirements.txt"]
    elif "[build-system]" in _text(root / "pyproject.toml"):
        install, svc.setup_inputs = "-e .", ["pyproject.toml"]  # the project, installable
    if install is not None:
        venv = find_venv(root)
        name = venv.name if venv is not None else ".venv"
        make = "" if venv is not None else f"python3 -m venv {name} && "
        svc.setup = f"{make}{name}/bin/pip install {install}"
    return svc


def _leading_assignments(words: list[str]) -> list[tuple[str, str]]:
    """The ``VAR=value`` words a shell reads before the command (``FLASK_DEBUG=1 pip3 ...``)."""
    found: list[tuple[str, str]] = []
    for word in words:
        if not re.match(r"[A-Za-z_]\w*=", word):
            break
        var, _, value = word.partition("=")
        found.append((var, value))
    return found


def _requirement_files(installs: list[str]) -> list[str]:
    files: list[str] = []
    for args in installs:
        words = _words(args)
        files += [words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-r", "--requirement")]
    return files


def _chain(command: str) -> list[str]:
    """The steps of ``a && b && c`` (split outside quotes); [] when other shell syntax is used."""
    steps = [s.strip() for s in re.split(r"\s*&&\s*", command)]
    if any(not s or needs_shell(s) for s in steps):
        return []
    return steps


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return []


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[:200_000]
    except OSError:
        return ""


def _head(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[:4000].lower()
    except OSError:
        return ""
