"""Exports of a stack with replicas (issue 16, points 4 and 5): compose runs alike copies
with ``deploy.replicas`` and copies with a port of their own as a service each; Kubernetes
alike copies as one Deployment with ``replicas: N``, else a Deployment and Service per
copy; systemd a template unit ``NAME@.service`` for alike copies, else a unit per copy; a
Procfile one line with the runner's count, else a line per copy. Every form says why in a
comment. An ``interactive`` service keeps a terminal where the runner has one."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from test_export_kubernetes import by_kind, manifests, pod_of

from devstack.export.compose import export_compose, to_compose
from devstack.export.handover import check_handover, render
from devstack.export.kubernetes import built_image, to_kubernetes
from devstack.export.source import load_source
from devstack.export.systemd import notes as systemd_notes
from devstack.export.systemd import to_systemd
from devstack.export.toprocfile import to_procfile

SCHEMA = json.loads((Path(__file__).parents[2] / "data" / "compose-spec.json").read_text())
# Also checked by systemd-analyze: test_export_systemd.py::test_systemd_analyze_verify.
STACK = """\
[services.api]
cmd = "python3 -m http.server ${port} --bind ${host}"
port = 7200
replicas = 3
env = { COPY = "${replica}" }

[services.queue]
cmd = ["python3", "-c", "import time; time.sleep(60)"]
replicas = 2

[services.web]
cmd = "python3 -m http.server ${port}"
port = 7300
depends_on = { api = "healthy", queue = "started" }
env = { API = "${services.api.url}" }
"""


def source(root: Path) -> Any:
    (root / "stack.toml").write_text(textwrap.dedent(STACK))
    return load_source(root / "stack.toml", {"PATH": os.environ["PATH"]})


def test_compose_alike_copies_get_deploy_replicas_others_a_service_each(tmp_path: Path) -> None:
    text = to_compose(source(tmp_path), tmp_path)
    data = yaml.safe_load(text)
    jsonschema.Draft7Validator(SCHEMA).validate(data)
    services = data["services"]
    assert list(services) == ["api-1", "api-2", "api-3", "queue", "web"]
    assert services["queue"]["deploy"] == {"replicas": 2}
    assert "deploy" not in services["api-2"]
    assert services["api-2"]["environment"]["COPY"] == "2"
    assert services["api-2"]["environment"]["PORT"] == "7201"
    assert services["api-3"]["ports"] == ["127.0.0.1:7202:7202"]
    assert services["web"]["environment"]["API"] == "http://api-1:7200"  # the first copy
    assert list(services["web"]["depends_on"]) == ["api-1", "api-2", "api-3", "queue"]
    assert "# copy 2 of api (replicas = 3): a service per copy" in text
    assert "deploy.replicas would run them alike and publish one host port N times" in text
    assert "# replicas = 2 in stack.toml" in text


def test_systemd_a_template_for_alike_copies_and_a_unit_per_copy_else(tmp_path: Path) -> None:
    units = to_systemd(source(tmp_path))
    name = tmp_path.name
    assert sorted(units) == sorted(
        [
            f"{name}-api.1.service",
            f"{name}-api.2.service",
            f"{name}-api.3.service",
            f"{name}-queue@.service",
            f"{name}-web.service",
            f"{name}.target",
        ]
    )
    template = units[f"{name}-queue@.service"]
    assert f"`devstack check -f {tmp_path / 'stack.toml'} queue` (run it" in template
    assert "Description=queue.%i" in template
    api2 = units[f"{name}-api.2.service"]
    assert "# Copy 2 of api (replicas): a unit per copy" in api2
    assert "Environment=PORT=7201" in api2 and "Environment=COPY=2" in api2
    web = units[f"{name}-web.service"]
    deps = f"{name}-api.1.service {name}-api.2.service {name}-api.3.service "
    deps += f"{name}-queue@1.service {name}-queue@2.service"
    assert f"After={deps}" in web
    assert f"Wants={deps} {name}-web.service" in units[f"{name}.target"]


def test_procfile_one_line_with_the_runners_count_or_a_line_per_copy(tmp_path: Path) -> None:
    text, warnings = to_procfile(source(tmp_path))
    lines = text.splitlines()
    names = [ln.split(":")[0] for ln in lines if not ln.startswith("#")]
    assert names == ["api_1", "api_2", "api_3", "queue", "web"]
    assert (
        "# queue: replicas = 2; run the copies with the runner's count: "
        "honcho start -c queue=2, overmind start -m queue=2"
    ) in lines
    assert "# api: replicas = 3, one line per copy: each has values of its own" in text
    assert any(ln.startswith("api_2: COPY=2 PORT=7201 exec") for ln in lines), text
    assert any("health probes" in w and w.endswith(": api, web") for w in warnings), warnings


def test_kubernetes_alike_copies_are_one_deployment_others_one_per_copy(tmp_path: Path) -> None:
    # Before: queue.1 and queue.2 were two Deployments with replicas: 1 each.
    export = to_kubernetes(source(tmp_path), tmp_path / "k8s")
    found = by_kind(manifests(export))  # each document validated (kubernetes-validate)
    deployments = sorted(name for kind, name in found if kind == "Deployment")
    assert deployments == ["api-1", "api-2", "api-3", "queue", "web"]
    assert found["Deployment", "queue"]["spec"]["replicas"] == 2
    assert found["Deployment", "api-2"]["spec"]["replicas"] == 1
    services = sorted(name for kind, name in found if kind == "Service")
    assert services == ["api-1", "api-2", "api-3", "web"]  # queue has no port
    assert "queue.yaml" in export.files and "queue-2.yaml" not in export.files
    assert "# replicas = 2 in stack.toml" in export.files["queue.yaml"]
    assert "A Deployment and Service per copy, as each has values" in export.files["api-2.yaml"]
    assert found["ConfigMap", "api-2-env"]["data"]["COPY"] == "2"
    assert found["ConfigMap", "web-env"]["data"]["API"] == "http://api-1:7200"  # first copy
    waits = [c["name"] for c in pod_of(found["Deployment", "web"])["initContainers"]]
    assert waits == ["wait-for-api-1", "wait-for-api-2", "wait-for-api-3"]  # every copy
    image = pod_of(found["Deployment", "queue"])["containers"][0]["image"]
    assert image.endswith("-queue:latest")  # the service's image, not queue.1's
    assert export.notes["web"] == [
        "depends_on queue = started: Kubernetes starts every pod at once, in no order"
    ]


INTERACTIVE = """\
[services.shell]
cmd = ["python3", "-c", "import pdb; pdb.set_trace()"]
interactive = true
"""


def test_interactive_keeps_a_terminal_or_says_it_cannot(tmp_path: Path) -> None:
    # Before: every export dropped interactive = true without a word.
    (tmp_path / "stack.toml").write_text(INTERACTIVE)
    src = load_source(tmp_path / "stack.toml", {"PATH": os.environ["PATH"]})
    text = to_compose(src, tmp_path)
    service = yaml.safe_load(text)["services"]["shell"]
    jsonschema.Draft7Validator(SCHEMA).validate(yaml.safe_load(text))
    assert service["stdin_open"] is True and service["tty"] is True
    assert "`docker compose attach` types into it" in text
    found = by_kind(manifests(to_kubernetes(src, tmp_path / "k8s")))
    container = pod_of(found["Deployment", "shell"])["containers"][0]
    assert container["stdin"] is True and container["tty"] is True
    assert any("interactive: a unit has no terminal" in n for n in systemd_notes(src))
    assert any(w.startswith("interactive: no terminal") for w in to_procfile(src)[1])


def test_export_check_says_a_copys_finding_once_with_the_file_it_is_written_in(
    tmp_path: Path,
) -> None:
    # Before: `export --check` listed the same break for api.1 and api.2, with no file,
    # though api is written in an included file.
    (tmp_path / "api").mkdir()
    (tmp_path / "stack.toml").write_text('include = ["api/stack.toml"]\n')
    (tmp_path / "api" / "stack.toml").write_text(
        '[services.api]\ncmd = "python3 -m http.server ${port} --bind 127.0.0.1"\n'
        "port = 7200\nreplicas = 2\n"
    )
    src = load_source(tmp_path / "stack.toml", {"PATH": os.environ["PATH"]})
    for target in ("compose", "kubernetes"):
        found = [f for f in check_handover(src, target, tmp_path) if f.kind == "loopback-bind"]
        assert [(f.service, f.file, f.line) for f in found] == [("api", "api/stack.toml", 2)]
        assert "           written at api/stack.toml:2\n" in render(found, "")


def test_the_copies_of_a_service_share_one_dockerfile_and_image(tmp_path: Path) -> None:
    # Field trial of issue 16: Dockerfile.web.1, .2, .3 (alike but for CMD, which each
    # copy's command overrides) and a docker build per copy; alike ones Dockerfile.worker.1.
    stack = source(tmp_path)
    compose = export_compose(stack, tmp_path / "out")
    dockerfiles = sorted(n for n in compose.files if not n.endswith(".dockerignore"))
    assert dockerfiles == ["Dockerfile.api", "Dockerfile.queue", "Dockerfile.web"]
    assert "for the service api " in compose.files["Dockerfile.api"]
    assert 'CMD ["python3", "-m", "http.server", "7200"' in compose.files["Dockerfile.api"]
    services = yaml.safe_load(compose.text)["services"]
    for name in ("api-1", "api-2", "api-3"):
        assert services[name]["build"]["dockerfile"].endswith("/Dockerfile.api")
    assert services["api-2"]["command"][3] == "7201"  # its own port, over the image's CMD
    kube = to_kubernetes(source(tmp_path), tmp_path / "k8s")
    assert sorted(n for n in kube.files if n.startswith("Dockerfile.") and "ignore" not in n) == [
        "Dockerfile.api",
        "Dockerfile.queue",
        "Dockerfile.web",
    ]
    images = [built_image(stack, n) for n in ("api", "queue", "web")]
    assert [b.split(" -t ")[1].split()[0] for b in kube.builds] == images
    for n in ("api-1.yaml", "api-2.yaml", "api-3.yaml"):
        docs = [d for d in yaml.safe_load_all(kube.files[n]) if d and d["kind"] == "Deployment"]
        (container,) = docs[0]["spec"]["template"]["spec"]["containers"]
        assert container["image"] == images[0]
