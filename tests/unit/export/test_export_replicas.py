"""Exports of a stack with replicas (issue 16, points 4 and 5): compose runs alike copies
with ``deploy.replicas`` and copies with a port of their own as a service each; systemd a
template unit ``NAME@.service`` for alike copies, else a unit per copy; a Procfile one line
with the runner's count, else a line per copy; Kubernetes one Deployment with ``replicas``
for alike copies, else a Deployment per copy. Every form says why in a comment."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from devstack.export.compose import export_compose, to_compose
from devstack.export.kubernetes import built_image, to_kubernetes
from devstack.export.source import load_source
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


def test_kubernetes_one_deployment_with_replicas_for_alike_copies(tmp_path: Path) -> None:
    # Seen in the field trial (a Procfile app's `worker`, replicas = 3): a Deployment,
    # an image and a docker build per copy, each with `replicas: 1`.
    export = to_kubernetes(source(tmp_path), tmp_path / "k8s")
    manifests = {n for n in export.files if n.endswith(".yaml") and n != "kustomization.yaml"}
    assert manifests == {"api-1.yaml", "api-2.yaml", "api-3.yaml", "queue.yaml", "web.yaml"}
    docs = [d for d in yaml.safe_load_all(export.files["queue.yaml"]) if d]
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    assert deployment["metadata"]["name"] == "queue"
    assert deployment["spec"]["replicas"] == 2
    labels = deployment["spec"]["selector"]["matchLabels"]
    assert labels["app.kubernetes.io/name"] == "queue"
    assert deployment["spec"]["template"]["metadata"]["labels"] == labels
    assert "# replicas = 2 in stack.toml" in export.files["queue.yaml"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "queue"
    assert len([b for b in export.builds if " -t " in b and "-queue" in b]) <= 1
    api2 = [d for d in yaml.safe_load_all(export.files["api-2.yaml"]) if d]
    assert {d["kind"]: d["metadata"]["name"] for d in api2}["Deployment"] == "api-2"
    kustomization = yaml.safe_load(export.files["kustomization.yaml"])
    assert "queue.yaml" in kustomization["resources"]
    assert set(export.notes) >= {"queue", "api.1"}
    assert "queue.1" not in export.notes and "queue.2" not in export.notes


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
