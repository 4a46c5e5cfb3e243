"""``devstack export systemd``: one .service unit per service and a .target for the stack.

User units by default (``systemctl --user``, installed in ~/.config/systemd/user, no
sudo; the target is wanted by default.target); ``system_user`` makes system units
that run as that user (``User=``; the target is wanted by multi-user.target).

honcho's systemd exporter is not used: its template hard-codes ``Restart=always``
and ``KillMode=process`` (a service's children outlive it), has no ``After=`` /
``Requires=``, and quotes ``Environment=`` values for a shell, which systemd does
not parse (``K='a b'`` is two words there); it also needs jinja2. Units here:

- ``After=`` + ``Requires=`` from depends_on; a dependency waited on for
  "healthy" gets an ``ExecStartPost=`` that polls its probe, so it counts as
  started (and its dependents start) only once it answers, as under devstack.
  The poll is bash (``/dev/tcp``) and coreutils' ``timeout``, not devstack's
  Python: a unit names no path of devstack's own install, which need not exist
  where the units run (https probes use curl). "completed" makes the dependency
  ``Type=oneshot`` + ``RemainAfterExit=yes`` (it runs once per start of the stack).
- ``KillMode=mixed`` (stop_mode "main") or ``control-group`` ("group"),
  ``KillSignal=`` / ``TimeoutStopSec=`` from stop_signal / stop_timeout;
  ``Restart=`` / ``RestartSec=`` / ``StartLimitBurst=`` from the policy.
- Output goes to the journal, tagged with the service's name (``SyslogIdentifier=``).
- Values are quoted the systemd way: ``%`` doubled everywhere, ``$`` doubled in
  command lines, C-style escapes inside double quotes.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from devstack.checks.command import command_argv, find_venv, resolve, search_path
from devstack.config.durations import format_duration
from devstack.config.envfile import read_env_file
from devstack.config.profiles import enabled
from devstack.export.probeprograms import bash_wait
from devstack.export.production import FIXES, dev_server
from devstack.export.source import ExportSource, copies_alike, replica_groups
from devstack.spec import ServiceSpec, StackSpec
from devstack.stackfile import LOCAL_FILE
from devstack.states import Condition, RestartPolicy

_INSTANCE = "DEVSTACKINSTANCE"  # in a template's text, where %i goes (a safe word: not quoted)
_SAFE_WORD = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
_RESTART = {
    RestartPolicy.NO: "no",
    RestartPolicy.ON_FAILURE: "on-failure",
    RestartPolicy.ALWAYS: "always",
}
USER_DIR = "~/.config/systemd/user"
SYSTEM_DIR = "/etc/systemd/system"


def unit_prefix(stack_name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", stack_name).strip("-")
    return cleaned or "devstack"


def to_systemd(source: ExportSource, system_user: str | None = None) -> dict[str, str]:
    """``{file name: unit text}``: ``PREFIX-SVC.service`` for each service, ``PREFIX.target``.

    ``system_user``: system units that run as this user; None: user units.
    """
    stack = source.stack
    prefix = unit_prefix(stack.name)
    waited = {
        d
        for s in stack.services.values()
        for d, c in s.depends_on.items()
        if c is Condition.HEALTHY
    }
    completed = {
        d
        for s in stack.services.values()
        for d, c in s.depends_on.items()
        if c is Condition.COMPLETED
    }
    units: dict[str, str] = {}
    unit_of = unit_names(stack, prefix)
    for name, spec in stack.services.items():
        flags = {"wait": name in waited, "oneshot": name in completed}
        if unit_of[name].endswith(f"@{spec.replica}.service"):
            if spec.replica == 1:  # one template for the alike copies: PREFIX-worker@.service
                assert spec.replica_of is not None
                template = replace(spec, name=f"{spec.replica_of}.{_INSTANCE}")
                text = _service_unit(source, template, unit_of, system_user, **flags)
                units[f"{prefix}-{spec.replica_of}@.service"] = text.replace(_INSTANCE, "%i")
            continue
        units[unit_of[name]] = _service_unit(source, spec, unit_of, system_user, **flags)
    # The services the active profiles leave out have units, started by name.
    wants = " ".join(unit_of[n] for n in enabled(stack))
    steps = install_steps(prefix, "DIR", system_user is not None)
    units[f"{prefix}.target"] = "\n".join(
        [
            _header(source, system_user),
            "# Install (DIR: the directory these files were written to):",
            *(f"#   {line}" for line in steps),
            "[Unit]",
            f"Description=devstack stack {_escape(stack.name)}",
            f"Wants={wants}",
            "",
            "[Install]",
            f"WantedBy={'multi-user.target' if system_user else 'default.target'}",
            "",
        ]
    )
    return units


def notes(source: ExportSource, system_user: str | None = None) -> list[str]:
    """What the units leave to the user, by service: setup steps they do not run,
    programs not found at export time (named bare: systemd looks in its own PATH),
    directories ``system_user`` cannot enter."""
    found: list[str] = []
    uid_gid = _account(system_user) if system_user is not None else None
    if system_user is not None and uid_gid is None:
        found.append(f"user {system_user} does not exist here (User= needs it where units run)")
    for name, spec in source.stack.services.items():
        if system_user is not None and uid_gid is not None:
            found += [f"{name}: {x}" for x in _entry_problems(spec.cwd, system_user, *uid_gid)]
        if spec.setup:
            found.append(f"{name}: setup not run by the unit; run once in {spec.cwd}: {spec.setup}")
        dev = _dev_server_note(spec)
        if dev is not None:
            found.append(f"{name}: {dev}")
        program = _resolved(spec, spec.argv)[0]
        if not program.startswith("/"):
            found.append(
                f"{name}: `{program}` not found (PATH, virtualenv), written bare; "
                "export again once it is installed (after the setup step, if it installs it)"
            )
        if spec.interactive:
            found.append(
                f"{name}: interactive: a unit has no terminal to attach to (stdin is "
                "/dev/null); run it by hand to type into it"
            )
        health = spec.health
        if (
            health is not None
            and health.kind == "log"
            and any(
                s.depends_on.get(name) is Condition.HEALTHY for s in source.stack.services.values()
            )
        ):
            found.append(
                f"{name}: its log probe has no systemd form; dependents start once it runs"
            )
    return found


def _account(user: str) -> tuple[int, set[int]] | None:
    """``user``'s uid and groups on this machine; None if it has no such user."""
    try:
        import pwd

        account = pwd.getpwnam(user)
        groups = set(os.getgrouplist(user, account.pw_gid))
    except (ImportError, KeyError, OSError):
        return None
    return account.pw_uid, groups


def _entry_problems(directory: Path, user: str, uid: int, groups: set[int]) -> list[str]:
    """Why ``user`` could not make ``directory`` its working directory (systemd's
    status=200/CHDIR), from the mode bits of it and its parents; [] when it can."""
    if uid == 0:
        return []
    for path in [directory, *directory.parents]:
        try:
            st = path.stat()
        except OSError:
            continue
        if st.st_uid == uid:
            bit = stat.S_IXUSR
        elif st.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return [
                f"{user} cannot enter {path} (mode {stat.S_IMODE(st.st_mode):04o}), so the unit "
                f"cannot start in {directory}: move the project, or --run-as its owner"
            ]
    return []


def unit_names(stack: StackSpec, prefix: str) -> dict[str, str]:
    """Each service's unit: ``PREFIX-NAME.service``; the copies of a service with replicas
    that are alike (no port, no value of their own) instances of one template,
    ``PREFIX-worker@1.service``; other copies a unit each, ``PREFIX-worker.2.service``."""
    names = {n: f"{prefix}-{n}.service" for n in stack.services}
    for group, copies in replica_groups(stack).items():
        if copies_alike(copies):
            names.update({c.name: f"{prefix}-{group}@{c.replica}.service" for c in copies})
    return names


def install_steps(prefix: str, directory: str, system: bool) -> list[str]:
    """The commands that install and start the units written to ``directory``; then
    how to start them at boot and read their logs."""
    files = f"{directory}/*.service {directory}/*.target"
    target = f"{prefix}.target"
    if system:
        return [
            f"sudo cp {files} {SYSTEM_DIR}/ && sudo systemctl daemon-reload"
            f" && sudo systemctl start {target}",
            f"at boot: sudo systemctl enable {target}",
            f"logs: journalctl -u '{prefix}-*' -f",
        ]
    return [
        f"mkdir -p {USER_DIR} && cp {files} {USER_DIR}/"
        f" && systemctl --user daemon-reload && systemctl --user start {target}",
        f"at boot: systemctl --user enable {target} && loginctl enable-linger $USER"
        " (without lingering, your user's systemd, and the stack with it, runs only"
        " while you are logged in)",
        f"logs: journalctl --user -u '{prefix}-*' -f",
    ]


def _header(source: ExportSource, system_user: str | None) -> str:
    kind = f"system unit, runs as {system_user}" if system_user else "user unit"
    return f"# Written by `devstack export systemd` from {source.stack.file} ({kind})."


def _service_unit(
    source: ExportSource,
    spec: ServiceSpec,
    unit_of: dict[str, str],
    system_user: str | None,
    *,
    wait: bool,
    oneshot: bool,
) -> str:
    prefix = unit_prefix(source.stack.name)
    deps = " ".join(dict.fromkeys(unit_of[d] for d in spec.depends_on))
    r = spec.restart
    checked = spec.replica_of or spec.name
    lines = [
        _header(source, system_user),
        f"# Install and start: see {prefix}.target. Not run here: `devstack check"
        f" {' '.join(f'-f {f}' for f in _layers(source.stack))} {checked}` (run it before"
        " the first start).",
    ]
    if spec.name.endswith(_INSTANCE):
        lines.append(
            f"# The copies of {spec.replica_of} (replicas): start copy N as "
            f"{prefix}-{spec.replica_of}@N.service; {prefix}.target starts them all."
        )
    elif spec.replica_of is not None:
        lines.append(
            f"# Copy {spec.replica} of {spec.replica_of} (replicas): a unit per copy, not a "
            f"template {spec.replica_of}@.service, as each copy has values of its own "
            "(its port, ${replica}) that a template's %i cannot give."
        )
    if spec.setup:
        lines.append(
            f"# Setup, not run here (run it once before the first start): {_one_line(spec.setup)}"
        )
    dev = _dev_server_note(spec)
    if dev is not None:
        lines.append(f"# {dev}")
    lines += [
        "[Unit]",
        f"Description={_escape(spec.name)} ({_escape(source.stack.name)}, devstack)",
        f"PartOf={prefix}.target",
    ]
    if deps:
        lines += [f"After={deps}", f"Requires={deps}"]
    # devstack's max_restarts consecutive restarts, then failed.
    lines += [
        f"StartLimitBurst={r.max_restarts + 1}",
        "StartLimitIntervalSec="
        f"{format_duration(max(r.reset_after, r.backoff) * (r.max_restarts + 1))}",
    ]
    lines += ["", "[Service]", f"Type={'oneshot' if oneshot else 'exec'}"]
    if oneshot:
        lines.append("RemainAfterExit=yes")
    if system_user is not None:
        lines.append(f"User={_escape(system_user)}")
    lines.append(f"WorkingDirectory={_escape(str(spec.cwd))}")
    lines += [f"EnvironmentFile={_escape(str(p))}" for p in spec.env_files]
    env = _environment(source, spec)
    lines += [f"Environment={_quote(f'{k}={v}')}" for k, v in env.items()]
    over = _over_env_files(source, spec, env)
    if over:
        lines.append(
            f"# The env files also set {', '.join(over)}: EnvironmentFile= wins over "
            "Environment= in systemd, the env table in devstack, so env(1) sets them last."
        )
    lines.append(f"ExecStart={_command_line(_with_env(over, _resolved(spec, spec.argv)))}")
    lines += _health_wait(spec, over) if wait and not oneshot else []
    policy = _RESTART[r.policy]
    if oneshot and policy == "always":
        policy = "on-failure"  # systemd refuses Restart=always for Type=oneshot
    lines += [
        f"Restart={policy}",
        f"RestartSec={format_duration(r.backoff)}",
        # systemd's "mixed" is stop_mode "main": the signal to the main process alone,
        # SIGKILL to what is left after TimeoutStopSec.
        f"KillMode={'mixed' if spec.stop_mode == 'main' else 'control-group'}",
        f"KillSignal={spec.stop_signal.name}",
        f"TimeoutStopSec={format_duration(spec.stop_timeout)}",
        f"SyslogIdentifier={_escape(spec.name)}",
        "",
        "[Install]",
        f"WantedBy={prefix}.target",
        "",
    ]
    return "\n".join(lines)


def _dev_server_note(spec: ServiceSpec) -> str | None:
    """What to say of a dev server the unit runs as written (its machine is the one it
    is developed on: the unit does not swap in a production server)."""
    found = dev_server(list(command_argv(spec)), spec.cwd)
    if found is None:
        return None
    return f"`{found}` is a development server, run as written; for production: {FIXES[found]}"


def _health_wait(spec: ServiceSpec, over: dict[str, str]) -> list[str]:
    """``ExecStartPost=`` polling the probe of a service others wait on for "healthy"."""
    health = spec.health
    if health is None:
        return []
    command = None
    if health.kind == "cmd":
        command = _with_env(over, _resolved(spec, shlex.split(health.target)))
    argv = bash_wait(health, command)
    if argv is None:
        return [f"# health.{health.kind} has no systemd form: dependents start once it runs"]
    lines = [f"# Healthy once this passes: devstack's {health.kind} probe {health.target}"]
    if health.kind == "http" and health.target.startswith("https:"):
        lines.append("# (needs curl)")
    lines.append(f"ExecStartPost={_command_line(argv)}")
    lines.append(f"TimeoutStartSec={format_duration(health.start_period)}")
    return lines


def _resolved(spec: ServiceSpec, argv: Sequence[str]) -> list[str]:
    """``argv`` with its program as an absolute path (virtualenv first, as devstack runs
    it), never one inside devstack's own install (on PATH when its venv is active)."""
    words = list(argv)
    if not words or words[0].startswith("/"):
        return words
    found = resolve(spec, words[0]).path
    if found is not None and _is_devstacks(found) and not _is_devstacks(find_venv(spec)):
        outside = [p for p in search_path(spec).split(os.pathsep) if not _is_devstacks(Path(p))]
        other = shutil.which(words[0], path=os.pathsep.join(outside))
        found = Path(other) if other else None
    if found is not None:
        words[0] = str(found)
    return words


def _is_devstacks(path: Path | None) -> bool:
    return path is not None and path.is_relative_to(sys.prefix)


def _over_env_files(source: ExportSource, spec: ServiceSpec, env: dict[str, str]) -> dict[str, str]:
    """The variables of ``env`` that the service's env files also set and devstack gives
    the ``env`` table's (or its own) value, where systemd would give the file's."""
    in_files: set[str] = set()
    for path in spec.env_files:
        try:
            in_files.update(read_env_file(path))
        except OSError:
            continue  # gone since the config was read: systemd reports it at the start
    declared = source.declared_env(spec)
    return {
        k: v for k, v in env.items() if k in in_files and (k != "PYTHONUNBUFFERED" or k in declared)
    }


def _with_env(over: dict[str, str], argv: list[str]) -> list[str]:
    return ["/usr/bin/env", *(f"{k}={v}" for k, v in over.items()), *argv] if over else argv


def _environment(source: ExportSource, spec: ServiceSpec) -> dict[str, str]:
    env = source.declared_env(spec)
    if spec.port is not None:
        env["PORT"] = str(spec.port)
    venv = find_venv(spec)
    if venv is not None:
        env["VIRTUAL_ENV"] = str(venv)
        env["PATH"] = f"{venv}/bin:/usr/local/bin:/usr/bin:/bin"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _one_line(text: str) -> str:
    return text.replace("\n", " ")


def _escape(text: str) -> str:
    """A value where systemd expands specifiers: ``%`` doubled, no newline."""
    return text.replace("%", "%%").replace("\n", " ")


def _quote(word: str, *, command: bool = False) -> str:
    """One word for systemd: as is when safe, else double-quoted with C escapes."""
    word = word.replace("%", "%%")
    if command:
        word = word.replace("$", "$$")
    if _SAFE_WORD.fullmatch(word):
        return word
    escaped = (
        word.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    )
    return f'"{escaped}"'


def _command_line(argv: list[str]) -> str:
    return " ".join(_quote(w, command=True) for w in argv)


def _layers(stack: StackSpec) -> tuple[Path, ...]:
    """The files the stack was merged from, as -f flags give them (stack.local.toml too
    when it was found beside stack.toml: the units carry its values)."""
    if stack.layers:
        return stack.layers
    found = [] if stack.file is None else [stack.file]
    if stack.root / LOCAL_FILE in stack.files:
        found.append(stack.root / LOCAL_FILE)
    return tuple(found)
