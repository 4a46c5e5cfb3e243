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

from devstack.checks.scan import WebApp, scan_web_apps
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
    try:
        data = json.loads((root / "package.json").read_text(encoding="utf-8"))
        field = str(data.get("packageManager", "")) if isinstance(data, dict) else ""
    except (OSError, ValueError):
        field = ""
    named = field.split("@")[0]
    if named in _MANAGERS:
        return named
    return next((pm for lock, pm in _LOCKFILES.items() if (root / lock).is_file()), "npm")


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


def infer_package(package_json: Path) -> tuple[list[Inferred], list[str]]:
    """The services package.json's dev script starts, and notes for the file's head."""
    root = package_json.parent
    scripts = read_scripts(package_json)
    pm = package_manager(root)
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
    targets = proxy_targets(root)
    if not any(s.kind == "python" for s in services):
        entry = python_entry(root, targets, {s.port for s in services})
        if entry is not None:
            services.append(entry)
    _depend_on_proxy_targets(services, targets)
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


def _depend_on_proxy_targets(services: list[Inferred], targets: dict[int, str]) -> None:
    by_port = {s.port: s for s in services if s.port is not None}
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
    if (root / "manage.py").is_file() and "django" in _head(root / "manage.py"):
        command = "python3 manage.py runserver 127.0.0.1:$PORT"
        return _entry_service("manage.py", command, root, free_target or 8000, "Django")
    apps = {a.module: a for a in reversed(scan_web_apps(root, max_depth=2))}
    app = next((apps[m] for m in _ENTRY_MODULES if m in apps), None)
    if app is None:
        return None
    command = _serve_command(app)
    default = 5000 if app.framework.startswith("Flask") else 8000
    return _entry_service(app.path.name, command, root, free_target or default, app.framework)


def _serve_command(app: WebApp) -> str:
    path = app.module.replace(".", "/")
    if app.framework.startswith("Flask"):
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
    if (root / "requirements.txt").is_file():
        venv = find_venv(root)
        name = venv.name if venv is not None else ".venv"
        make = "" if venv is not None else f"python3 -m venv {name} && "
        svc.setup = f"{make}{name}/bin/pip install -r requirements.txt"
        svc.setup_inputs = ["requirements.txt"]
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


def _head(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[:4000].lower()
    except OSError:
        return ""
