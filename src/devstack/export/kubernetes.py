"""``devstack export kubernetes``: the stack as manifests and a kustomization.yaml.

One file per service (``NAME.yaml``), all in one namespace, applied with
``kubectl apply -k DIR``. The mapping (docs/interop.md has the full table):

- a long-running service is a Deployment, and a Service when it has a port (the
  Service's name is the service's, so ``${services.api.url}`` is ``http://api:5000``
  inside the cluster, as compose's names are); a portless service with
  ``restart = "no"`` is a Job; a service others wait on for ``completed`` is an init
  container of each of them (waiting for a Job from another pod needs kubectl and
  RBAC; an init container needs neither, at the cost of running once per pod);
- a well-known server (export/images.py) runs its official image, with the image's
  health command as its probes when the stack has no probe of its own (the stack's
  wins), and its data on a PersistentVolumeClaim (an emptyDir would lose a database
  at every rollout or reschedule; compose's named volume keeps it); a Python or Node
  service runs ``<project>-<service>:latest``, built from the Dockerfile.NAME written
  here (export/dockerfile.py), a dev server as its production counterpart
  (export/production.py); anything else a PLACEHOLDER image;
- ``env`` is a ConfigMap, wired by ``export.wiring`` (``${services...}`` and
  hard-coded loopback URLs to a service become its Service's name); the variables
  devstack.export.secretenv calls secrets, and those taken from ``${env:VAR}``
  without a default, are keys of a Secret the user creates (their values are never
  written); each env file is a Secret too;
- ``health`` becomes a startupProbe (start_period), a readinessProbe (interval,
  timeout, retries) and, with ``restart_on_unhealthy``, a livenessProbe;
- ``depends_on`` "healthy" is an init container that waits on the dependency's
  Service (only ready pods are behind it); "started" cannot be said (a note);
- ``replicas``: alike copies (no port or value of their own) are one Deployment with
  ``replicas: N`` behind one Service, named as the service; copies with values of
  their own are a Deployment (and Service) each, ``NAME-N``, as compose does
  (``compose_names``); ``${services.NAME.url}`` is the first copy's (or the group's) Service;
- ``interactive``: ``stdin`` and ``tty`` on the container, for ``kubectl attach -it``.

What cannot be expressed is returned by service, written as comments and printed.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.config.interpolate import Context, ServiceRefs, interpolate
from devstack.config.profiles import enabled
from devstack.errors import UsageError
from devstack.export.compose import APP_DIR, Build, build_of, compose_names
from devstack.export.images import initialisation
from devstack.export.kubeprobes import probes, seconds, wait_container
from devstack.export.kubesecrets import MARK, SecretKey, deployers, secret_example, split_env
from devstack.export.production import FIXES, dev_server
from devstack.export.source import ExportSource, join_env_refs, replica_groups, split_env_refs
from devstack.export.wiring import Target, Wiring, names_loopback, refs, wire
from devstack.export.yaml import Commented, dump
from devstack.spec import HealthSpec, ServiceSpec
from devstack.states import Condition, RestartPolicy

DATA_SIZE = "1Gi"  # a PersistentVolumeClaim's request: a guess the comment says to check
_SUB_PATH = (
    "a folder of the claim, not its root: a new volume's root can hold lost+found, and "
    "postgres and mysql refuse to initialise a data directory that is not empty"
)


@dataclass
class Export:
    """What ``to_kubernetes`` produced: files to write, and what each service lost."""

    files: dict[str, str] = field(default_factory=dict)  # file name in DIR -> text
    notes: dict[str, list[str]] = field(default_factory=dict)  # service -> not expressed
    secrets: list[str] = field(default_factory=list)  # `kubectl create secret` lines
    builds: list[str] = field(default_factory=list)  # `docker build` lines, run in DIR
    placeholders: list[str] = field(default_factory=list)  # services with no image known
    # (service, note) -> (kind, fix, breaks) of the notes export --check reports by kind
    kinds: dict[tuple[str, str], tuple[str, str | None, bool]] = field(default_factory=dict)


_QUOTED = re.compile(r"""^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*["']""")


def quoted_lines(path: Path) -> list[tuple[int, str]]:
    """(line, variable) of each quoted value in the env file ``path``."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        match = _QUOTED.match(line)
        if match:
            found.append((number, match[1]))
    return found


def object_name(name: str) -> str:
    """A Kubernetes name for a devstack service: a DNS label (RFC 1035), as a Service needs."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not cleaned[:1].isalpha():
        cleaned = f"s-{cleaned}"
    return cleaned[:63].rstrip("-")


def to_kubernetes(source: ExportSource, out_dir: Path) -> Export:
    """The manifests of the stack, with paths shown relative to ``out_dir``."""
    stack = source.stack
    kube = kube_names(source)
    names: dict[str, str] = {}
    for name, spec in stack.services.items():
        other = names.setdefault(kube[name], spec.replica_of or name)
        if other != (spec.replica_of or name):
            raise UsageError(
                f"services {other!r} and {name!r} have the same Kubernetes name {kube[name]!r}",
                hint="rename one (Kubernetes names are lower-case letters, digits and -)",
            )
    builder = _Builder(source, out_dir)
    shown = enabled(stack)
    resources = []
    for name, spec in stack.services.items():
        if builder.is_later_alike(spec):
            continue  # the first copy's Deployment runs it (replicas: N)
        text = builder.service_file(name)
        if text is None:
            continue
        file = f"{kube[name]}.yaml"
        builder.out.files[file] = text
        if name in shown:
            resources.append(file)
    builder.out.files["kustomization.yaml"] = _kustomization(source, builder.out, resources)
    return builder.out


def kube_names(source: ExportSource) -> dict[str, str]:
    """Each devstack service's Kubernetes name (Deployment, Service, ConfigMap prefix):
    compose's choice of names (alike copies share their service's), as a DNS label."""
    return {name: object_name(shown) for name, shown in compose_names(source).items()}


def built_image(source: ExportSource, name: str) -> str:
    """The image a generated Dockerfile builds for service ``name`` (the copies of a
    service with replicas share their service's)."""
    return f"{object_name(source.stack.name)}-{object_name(name)}:latest"


def _image_for(source: ExportSource, spec: ServiceSpec, build: Build) -> tuple[str, str]:
    """The container image of ``spec`` (the copies of a service with replicas share their
    service's) and the comment written above it ("" for none)."""
    if build.image is not None:
        tag = build.image.image.rpartition(":")[2]
        pinned = f"major version {tag}" if tag.isdigit() else f"release {tag}"
        lines = [f"official image of {build.image.server}, {pinned} pinned", *build.image.notes]
        return build.image.image, "\n".join(lines)
    image = built_image(source, spec.replica_of or spec.name)
    if build.dockerfile is not None:
        return image, (
            f"built from {build.dockerfile.name} (generated here, {build.dockerfile.runtime}): "
            "see kustomization.yaml for the build command"
        )
    return image, (
        f"PLACEHOLDER: build this image (the stack's directory copied to {APP_DIR}, with what "
        f"{spec.name} needs installed), then push it or load it into the cluster"
    )


def _env_for(spec: ServiceSpec, wiring: Wiring, build: Build) -> dict[str, str]:
    """The service's environment in the cluster: the ``env`` table and env files wired
    for the cluster (``export.wiring``: each service's address its Service's, loopback
    URLs to a service rewritten; an ``${env:VAR}`` without a default is left as a
    marker: its value is the deployer's), an official image's own variables, ``PORT``
    and, for anything but an official image, ``PYTHONUNBUFFERED``."""
    env = dict(build.image.environment) if build.image is not None else {}
    env.update(wiring.services[spec.name].env)
    if spec.port is not None:
        env["PORT"] = str(spec.port)
    if build.image is None:
        env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def kube_target(source: ExportSource) -> Target:
    """How the cluster addresses a service (its Service) and writes an env value."""
    names = kube_names(source)
    return Target(
        "kubernetes", lambda name: _address(source, names, name), "0.0.0.0", env_ref=_env_value
    )


def _env_value(var: str, default: str | None) -> str:
    return deployers(var) if default is None else default


def _command_ref(var: str, default: str | None) -> str:
    # Kubernetes expands $(VAR) in command and args from the container's environment.
    return f"$({var})" if default is None else default.replace("$(", "$$(")


def _refs(source: ExportSource, this: str, own: str = "0.0.0.0") -> dict[str, ServiceRefs]:
    """Each service as another reaches it in the cluster: its Service's name and port;
    ``this`` one's host is ``own`` (where it listens: every address of its pod)."""
    return refs(source, dataclasses.replace(kube_target(source), own_host=own), this)


def _address(source: ExportSource, names: dict[str, str], name: str) -> tuple[str, int | None]:
    """Where another pod reaches service ``name``: its Service's DNS name (same namespace)
    and the container port, which the Service also listens on."""
    return names[name], source.stack.services[name].port


def _interpolated(
    source: ExportSource,
    name: str,
    text: str,
    *,
    shell: bool,
    env_ref: Callable[[str, str | None], str],
    escape: Callable[[str], str] = str,
) -> str:
    body, env_refs = split_env_refs(text)
    value = interpolate(body, Context(name, _refs(source, name), source.environ, shell=shell))
    return join_env_refs(escape(value), env_refs, env_ref)


def _escape_command(value: str) -> str:
    """A literal ``$(`` kept from Kubernetes' expansion of ``$(VAR)``."""
    return value.replace("$(", "$$(")


class _Builder:
    def __init__(self, source: ExportSource, out_dir: Path) -> None:
        self.source = source
        self.out_dir = out_dir
        self.out = Export()
        services = source.stack.services
        self.wiring = wire(source, kube_target(source))
        self.names = kube_names(source)
        self.groups = replica_groups(source.stack)
        self.quotes_said: set[tuple[Path, str]] = set()  # (env file, variable) reported
        self.builds = {
            name: build_of(source, spec, self._command(spec, [])) for name, spec in services.items()
        }
        # Run as init containers of their dependents: what others wait on to complete.
        self.init_only = {
            d
            for s in services.values()
            for d, c in s.depends_on.items()
            if c is Condition.COMPLETED
        }

    def service_file(self, name: str) -> str | None:
        spec = self.source.stack.services[name]
        notes = self.out.notes.setdefault(name, [])
        labels = self._labels(name)
        docs: list[Any] = []
        config, secret_keys = self._split_env(spec)
        env_from = self._env_from(spec, config, secret_keys)
        self._quoted_values(spec, {*config, *secret_keys}, notes)
        if config:
            docs.append(self._config_map(name, config, labels))
        self._image_files(spec)
        if name not in self.init_only:
            pod = self._pod(spec, env_from, notes)
            data = self._data_claim(spec, labels)
            if data is not None:
                docs.append(data)
            if self.is_job(spec):
                docs.append(self._job(spec, pod, labels))
            else:
                docs.append(self._deployment(spec, pod, labels, notes))
                if spec.port is not None:
                    docs.append(self._service(spec, labels))
        self._notes_of(spec, notes)
        if not docs:
            return None
        header = [f"{MARK} from {self._shown(self.source.stack.file)}: service {name}."]
        if spec.replica_of is not None:
            header[:1] = self._replica_header(spec)
        if name in self.init_only:
            header.append(
                f"{name} runs as an init container of what waits for it to complete: "
                "only its ConfigMap is here."
            )
        if notes:
            header.append("Not carried over as written (devstack export prints these too):")
            header += [f"  - {n}" for n in notes]
        texts = [dump(doc, "\n".join(header) if i == 0 else "") for i, doc in enumerate(docs)]
        return "---\n".join(texts)

    def _replica_header(self, spec: ServiceSpec) -> list[str]:
        group = spec.replica_of
        count = len(self.groups[group or ""])
        where = self._shown(self.source.stack.file)
        if self.is_alike(spec):
            return [
                f"{MARK} from {where}: service {group} (replicas = {count}).",
                f"One Deployment runs the {count} copies (alike but for their number).",
            ]
        return [
            f"{MARK} from {where}: copy {spec.replica} of {group} (replicas = {count}).",
            "A Deployment and Service per copy, as each has values of its own (its port, "
            "${replica}):",
            f"replicas: {count} would run them alike.",
        ]

    def is_alike(self, spec: ServiceSpec) -> bool:
        """A copy its service's Deployment runs with ``replicas: N`` (see compose_names)."""
        return spec.replica_of is not None and self.names[spec.name] == object_name(spec.replica_of)

    def is_later_alike(self, spec: ServiceSpec) -> bool:
        """An alike copy but the first: the first copy's Deployment runs it."""
        return self.is_alike(spec) and spec.replica != 1

    def is_job(self, spec: ServiceSpec) -> bool:
        """A one-shot nobody waits on to complete: no port, and never restarted."""
        stops = spec.restart.policy is RestartPolicy.NO or spec.restart.max_restarts == 0
        return spec.port is None and stops and spec.name not in self.init_only

    def _labels(self, name: str) -> dict[str, str]:
        return {
            "app.kubernetes.io/name": self.names[name],
            "app.kubernetes.io/part-of": object_name(self.source.stack.name),
        }

    def _split_env(self, spec: ServiceSpec) -> tuple[dict[str, Any], dict[str, SecretKey]]:
        """The ConfigMap's data (a rewritten value with its comment), and the Secret's keys."""
        config, secret = split_env(_env_for(spec, self.wiring, self.builds[spec.name]))
        said = self.wiring.services[spec.name].notes
        return {k: Commented(v, said[k]) if k in said else v for k, v in config.items()}, secret

    def _break(self, name: str, notes: list[str], kind: str, note: str, fix: str | None) -> None:
        """A note that would break the stack as written (``export --check`` fails on it)."""
        notes.append(note)
        self.out.kinds[(name, note)] = (kind, fix, True)

    def _image_files(self, spec: ServiceSpec) -> None:
        """The generated Dockerfile of ``spec`` into the output, and its build command."""
        dockerfile = self.builds[spec.name].dockerfile
        if dockerfile is None or dockerfile.name in self.out.files:
            return
        self.out.files[dockerfile.name] = dockerfile.text
        self.out.files[f"{dockerfile.name}.dockerignore"] = dockerfile.ignore
        context = os.path.relpath(self.source.root, self.out_dir)
        image = built_image(self.source, spec.replica_of or spec.name)
        self.out.builds.append(f"docker build -f {dockerfile.name} -t {image} {context}")

    def _data_claim(self, spec: ServiceSpec, labels: dict[str, str]) -> Any:
        """The PersistentVolumeClaim of an official image's data (None: nothing to keep)."""
        image = self.builds[spec.name].image
        if image is None or image.data is None:
            return None
        return {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": Commented(
                {"name": f"{self.names[spec.name]}-data", "labels": labels},
                f"{image.server}'s data ({image.data}), kept across restarts and rollouts "
                "(an emptyDir would lose it); the cluster's default StorageClass; "
                f"{DATA_SIZE} is a guess: size it",
            ),
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": DATA_SIZE}},
            },
        }

    def _env_from(
        self, spec: ServiceSpec, config: dict[str, str], secret_keys: dict[str, SecretKey]
    ) -> list[Any]:
        """envFrom, later sources winning as the env table wins over env files."""
        name = self.names[spec.name]
        env_from: list[Any] = []
        for path in spec.env_files:
            secret = self._env_file_secret(path)
            env_from.append(
                Commented({"secretRef": {"name": secret}}, f"env file {self._shown(path)}")
            )
        if config:
            env_from.append({"configMapRef": {"name": f"{name}-env"}})
        if secret_keys:
            secret = f"{name}-secret"
            example = f"{secret}.env.example"
            self.out.files[example] = secret_example(spec.name, secret, secret_keys)
            self.out.secrets.append(
                f"kubectl create secret generic {secret} --from-env-file={secret}.env"
                f"  # keys: {', '.join(secret_keys)} (see {example})"
            )
            env_from.append(
                Commented(
                    {"secretRef": {"name": secret}},
                    f"keys {', '.join(secret_keys)}: values never written here (see {example})",
                )
            )
        return env_from

    def _quoted_values(self, spec: ServiceSpec, overridden: set[str], notes: list[str]) -> None:
        """An env file's quoted values, which the Secret made from it keeps quoted (each
        once, under the first service that reads it as is). Not for an official image:
        its server reads none of the app's variables."""
        if self.builds[spec.name].image is not None:
            return
        for path in spec.env_files:
            for line, var in quoted_lines(path):
                if var in overridden or (path, var) in self.quotes_said:
                    continue
                self.quotes_said.add((path, var))
                file = os.path.relpath(path, self.source.root)
                self._break(
                    spec.name,
                    notes,
                    "env-file-quotes",
                    f"{file}:{line} {var}'s value is quoted: kubectl create secret "
                    "--from-env-file keeps the quotes as part of the value (devstack drops them)",
                    f"write it unquoted in {file} ({var}=value), or set {var} in stack.toml",
                )

    def _env_file_secret(self, path: Path) -> str:
        rel = os.path.relpath(path, self.source.root)
        secret = object_name(f"env-file-{rel}")
        line = (
            f"kubectl create secret generic {secret} "
            f"--from-env-file={os.path.relpath(path, self.out_dir)}"
        )
        if not any(s.startswith(line) for s in self.out.secrets):
            self.out.secrets.append(line)
        return secret

    def _config_map(self, name: str, data: dict[str, str], labels: dict[str, str]) -> Any:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{self.names[name]}-env", "labels": labels},
            "data": data,
        }

    def _pod(self, spec: ServiceSpec, env_from: list[Any], notes: list[str]) -> dict[str, Any]:
        container = self._container(spec, env_from, notes)
        container.update(self._probes(spec, notes))
        pod: dict[str, Any] = {}
        inits: dict[str, Any] = {}
        self._init_containers(spec, inits, notes)
        if inits:
            pod["initContainers"] = list(inits.values())
        pod["containers"] = [container]
        if "volumeMounts" in container:
            claim = f"{self.names[spec.name]}-data"
            pod["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
        pod["terminationGracePeriodSeconds"] = seconds(spec.stop_timeout)
        return pod

    def _container(self, spec: ServiceSpec, env_from: list[Any], notes: list[str]) -> Any:
        build = self.builds[spec.name]
        image, note = _image_for(self.source, spec, build)
        command = self._command(spec, notes)
        # args, as compose's command: the image's ENTRYPOINT (tini, an official image's
        # entrypoint script) still runs, with the command as its arguments.
        args: Any = command
        if build.image is not None:
            args = build.image.command
        elif build.command is not None:
            args = Commented(build.command, "\n".join(build.notes))
        if build.image is None and names_loopback(build.command or command):
            self._loopback(spec.name, notes)
        container: dict[str, Any] = {
            "name": self.names[spec.name],
            "image": Commented(image, note) if note else image,
            "args": args,
        }
        self._build_notes(spec, build, command, notes)
        root = self.source.root
        if build.image is not None:
            if build.image.data is not None:
                mount = {"name": "data", "mountPath": build.image.data, "subPath": "data"}
                container["volumeMounts"] = [Commented(mount, _SUB_PATH)]
        elif spec.cwd.is_relative_to(root):
            cwd = spec.cwd.relative_to(root).as_posix()
            container["workingDir"] = APP_DIR if cwd == "." else f"{APP_DIR}/{cwd}"
        else:
            container["workingDir"] = Commented(str(spec.cwd), "PLACEHOLDER: outside the stack")
        if spec.port is not None:
            container["ports"] = [{"containerPort": spec.port}]
        if env_from:
            container["envFrom"] = env_from
        if spec.interactive:
            container["stdin"] = Commented(
                True,
                "interactive = true: `kubectl attach -it deploy/"
                f"{self.names[spec.name]}` types into it, as `devstack attach` does",
            )
            container["tty"] = True
        return container

    def _loopback(self, name: str, notes: list[str]) -> None:
        self._break(
            name,
            notes,
            "loopback-bind",
            "its command names 127.0.0.1/localhost: a pod listening there is unreachable "
            "from its Service and from the kubelet's probes",
            'listen on ${host} in stack.toml (Kubernetes gives it 0.0.0.0), e.g. "--bind '
            '${host}:${port}"',
        )

    def _build_notes(
        self, spec: ServiceSpec, build: Build, command: list[str], notes: list[str]
    ) -> None:
        """What the image and the production command change or leave out, into ``notes``;
        those that break the stack as written recorded as such."""
        name = spec.name
        if build.image is None and build.dockerfile is None:
            if name not in self.out.placeholders:
                self.out.placeholders.append(name)
            self._break(
                name,
                notes,
                "no-image",
                "no image known: its image is a PLACEHOLDER to build",
                "build an image that copies the stack's directory to /app and installs what "
                f"{name} needs, and name it in {self.names[name]}.yaml",
            )
        if build.image is not None:
            notes += build.image.notes
            init = initialisation(build.image, spec.setup, spec.env) if spec.setup else None
            if init is not None and init.missing is None:
                notes.append(init.note)
            elif spec.setup:
                self._break(
                    name,
                    notes,
                    "setup-dropped",
                    f"setup {spec.setup!r} is not run: the official {build.image.image} "
                    "image runs as it is",
                    init.missing
                    if init is not None
                    else f"run it against the {build.image.server} pod once it is up",
                )
        if build.dockerfile is not None:
            notes += [n for n in build.dockerfile.notes if not n.startswith("setup step `")]
            for step in build.dockerfile.dropped:
                self._break(
                    name,
                    notes,
                    "setup-dropped",
                    f"setup step `{step}` is not run: {build.dockerfile.name} cannot express it",
                    "run it where it can reach what it needs: a migration as a Job or an "
                    "init container; a build step as a RUN line",
                )
        if build.production is not None:
            self.out.kinds[(name, build.production.note)] = ("dev-server", None, False)
        notes += build.notes
        if build.production is None:
            found = dev_server(command, spec.cwd)
            if found is not None:
                self._break(
                    name,
                    notes,
                    "dev-server",
                    f"`{found}` is a development server: Kubernetes would run it as the "
                    "production server (reloader, debug mode, unoptimised build)",
                    f"run its production counterpart: {FIXES[found]}",
                )

    def _command(self, spec: ServiceSpec, notes: list[str]) -> list[str]:
        written = self.source.written_of(spec)
        if written is None:  # a Procfile line: a shell command as it is
            return ["/bin/sh", "-c", _escape_command(spec.cmd)]
        missing: list[str] = []

        def ref(var: str, default: str | None) -> str:
            if default is None:
                missing.append(var)
            return _command_ref(var, default)

        if isinstance(written.cmd, list):
            argv = [self._words(spec.name, part, ref) for part in written.cmd]
        elif written.shell:
            text = _interpolated(
                self.source,
                spec.name,
                written.cmd,
                shell=True,
                env_ref=ref,
                escape=_escape_command,
            )
            argv = ["/bin/sh", "-c", text]
        else:
            argv = self._split_words(spec.name, written.cmd, ref)
        if missing:
            notes.append(
                f"its command reads ${{env:{'}, ${env:'.join(missing)}}}: written as "
                f"$({'), $('.join(missing)}), which Kubernetes fills from the container's env"
            )
        return argv

    def _words(self, name: str, text: str, ref: Callable[[str, str | None], str]) -> str:
        return _interpolated(
            self.source, name, text, shell=False, env_ref=ref, escape=_escape_command
        )

    def _split_words(
        self, name: str, text: str, ref: Callable[[str, str | None], str], own: str = "0.0.0.0"
    ) -> list[str]:
        # Split before re-interpolating, as devstack does, so a substituted value stays one word.
        body, env_refs = split_env_refs(text)
        ctx = Context(name, _refs(self.source, name, own), self.source.environ)
        return [
            join_env_refs(_escape_command(word), env_refs, ref)
            for word in shlex.split(interpolate(body, ctx))
        ]

    def _probes(self, spec: ServiceSpec, notes: list[str]) -> dict[str, Any]:
        h, written = spec.health, self.source.written_of(spec)
        image = self.builds[spec.name].image
        if image is not None and (written is None or written.health is None):
            # A probe written in stack.toml wins; without one, the image's health command,
            # on the timing of devstack's default probe (as compose's healthcheck).
            target = shlex.join(image.healthcheck)
            health = (
                dataclasses.replace(h, kind="cmd", target=target)
                if h is not None
                else HealthSpec(kind="cmd", target=target, timeout=5.0)
            )
            return probes(dataclasses.replace(spec, health=health), image.healthcheck, notes)
        command = None
        if h is not None and h.kind == "cmd":
            text = written.health.cmd if written and written.health else None
            # Run inside the container: its own address is its loopback.
            command = (
                shlex.split(h.target)
                if text is None
                else self._split_words(spec.name, text, _command_ref, own="127.0.0.1")
            )
        return probes(spec, command, notes)

    def _init_containers(self, spec: ServiceSpec, inits: dict[str, Any], notes: list[str]) -> None:
        """Into ``inits`` (by container name, in order): what ``spec`` waits for."""
        services = self.source.stack.services
        for dep, cond in spec.depends_on.items():
            group = services[dep].replica_of
            if self.is_later_alike(services[dep]):
                continue  # the first copy stands for the Deployment of all
            if cond is Condition.COMPLETED:
                self._init_containers(services[dep], inits, notes)  # its own waits first
                if self.names[dep] not in inits:
                    inner: list[str] = []
                    config, secret_keys = self._split_env(services[dep])
                    env_from = self._env_from_refs(dep, config, secret_keys)
                    container = self._container(services[dep], env_from, inner)
                    for note in inner:
                        said = f"{dep} (init container): {note}"
                        notes.append(said)
                        if (dep, note) in self.out.kinds:
                            self.out.kinds[(spec.name, said)] = self.out.kinds[(dep, note)]
                    inits[self.names[dep]] = Commented(
                        container,
                        f"{dep} (depends_on = completed): runs to completion before "
                        f"{spec.name} starts, in each of its pods",
                    )
            elif cond is Condition.HEALTHY:
                wait = self._wait(dep, notes)
                if wait is not None:
                    inits.setdefault(wait.value["name"], wait)
            else:
                shown = group if group is not None and self.is_alike(services[dep]) else dep
                notes.append(
                    f"depends_on {shown} = started: Kubernetes starts every pod at once, in no "
                    "order"
                )

    def _env_from_refs(
        self, name: str, config: dict[str, str], secret_keys: dict[str, SecretKey]
    ) -> list[Any]:
        """envFrom of an init container: the ConfigMap and Secret its own file declares."""
        spec = self.source.stack.services[name]
        refs: list[Any] = [
            {"secretRef": {"name": self._env_file_secret(p)}} for p in spec.env_files
        ]
        if config:
            refs.append({"configMapRef": {"name": f"{self.names[name]}-env"}})
        if secret_keys:
            refs.append({"secretRef": {"name": f"{self.names[name]}-secret"}})
        return refs

    def _wait(self, dep: str, notes: list[str]) -> Commented | None:
        """An init container that returns once ``dep``'s Service answers."""
        spec = self.source.stack.services[dep]
        if spec.port is None or self.is_job(spec) or dep in self.init_only:
            shown = spec.replica_of if self.is_alike(spec) else dep
            notes.append(
                f"depends_on {shown} = healthy: {shown} has no Service (no port) to wait on: "
                "not waited for"
            )
            return None
        # Alike copies have no port (a port is a value of each copy's own): never here.
        return wait_container(spec, self.names[dep])

    def _deployment(
        self, spec: ServiceSpec, pod: dict[str, Any], labels: dict[str, str], notes: list[str]
    ) -> Any:
        if spec.restart.policy is RestartPolicy.NO or spec.restart.max_restarts == 0:
            notes.append(
                "restart = no: a Deployment always restarts its pods (Kubernetes has no "
                "'never' for a long-running pod)"
            )
        count = len(self.groups[spec.replica_of or ""]) if self.is_alike(spec) else 1
        deployment: dict[str, Any] = {
            "replicas": Commented(count, f"replicas = {count} in stack.toml") if count > 1 else 1,
            "selector": {"matchLabels": labels},
        }
        if "volumes" in pod:
            deployment["strategy"] = Commented(
                {"type": "Recreate"},
                "its data volume is ReadWriteOnce: the old pod lets go of it before the new "
                "one starts",
            )
        deployment["template"] = {"metadata": {"labels": labels}, "spec": pod}
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": self.names[spec.name], "labels": labels},
            "spec": deployment,
        }

    def _job(self, spec: ServiceSpec, pod: dict[str, Any], labels: dict[str, str]) -> Any:
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": self.names[spec.name], "labels": labels},
            "spec": {
                "backoffLimit": Commented(0, "restart = no: run once, never retried"),
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"restartPolicy": "Never", **pod},
                },
            },
        }

    def _service(self, spec: ServiceSpec, labels: dict[str, str]) -> Any:
        name = self.names[spec.name]
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": Commented(
                {"name": name, "labels": labels},
                f"other services reach {spec.name} at {name}:{spec.port}",
            ),
            "spec": {"selector": labels, "ports": [{"port": spec.port, "targetPort": spec.port}]},
        }

    def _notes_of(self, spec: ServiceSpec, notes: list[str]) -> None:
        """What stack.toml says of ``spec`` that no manifest says."""
        if (
            spec.setup
            and self.builds[spec.name].image is None
            and not self.builds[spec.name].dockerfile
        ):
            self._break(
                spec.name,
                notes,
                "setup-dropped",
                f"setup {spec.setup!r} is not run: make it a step of the image's build",
                "make it a RUN step of the image's Dockerfile",
            )
        if spec.check_cmds:
            notes.append("check.cmd is not run before a start (devstack's preflight)")
        if spec.watch:
            notes.append("watch (restart on edit) is for development: not exported")
        if spec.stop_signal.name != "SIGTERM":
            notes.append(
                f"stop_signal {spec.stop_signal.name}: Kubernetes sends SIGTERM unless the "
                f"image says STOPSIGNAL {spec.stop_signal.name}"
            )
        if spec.profiles and spec.name not in enabled(self.source.stack):
            notes.append(
                f"profiles {list(spec.profiles)}: not active, so not in kustomization.yaml"
            )

    def _shown(self, path: Path | None) -> str:
        return os.path.relpath(path, self.out_dir) if path is not None else "the stack"


def _kustomization(source: ExportSource, out: Export, resources: list[str]) -> str:
    header = [
        f"{MARK} from {source.stack.name}'s stack.",
        "Well-known servers run their official image (tag pinned: check it); Python and",
        "Node services run an image built from the Dockerfile.NAME written here; dev",
        "servers run as their production counterpart (a comment says so).",
        "Before `kubectl apply -k .`:",
        "  1. build the images (any PLACEHOLDER image is yours to build) and make them",
        "     reachable by the cluster (push them, or `kind load docker-image ...`):",
    ]
    header += [f"     {line}" for line in out.builds]
    if out.secrets:
        header.append("  2. create the Secrets (values are never written by devstack):")
        header += [f"     {line}" for line in out.secrets]
    data = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    }
    return dump(data, "\n".join(header))
