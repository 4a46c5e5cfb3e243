"""devstack export kubernetes: every manifest valid against the Kubernetes schemas, the
wiring, probes, init containers and secrets translated.

Validation is kubernetes-validate's bundled JSON schemas (offline), strict (an unknown
field is an error), for the two newest Kubernetes versions the pinned release ships.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from devstack.export.kubernetes import Export, object_name, to_kubernetes
from devstack.export.secretenv import mask_passwords, secret_reason
from devstack.export.source import load_source
from support.demo import copy_demo_stack
from support.stackrun import run_devstack

REPO = Path(__file__).parents[3]
# The Kubernetes versions the manifests are validated against (docs/interop.md says so too).
K8S_VERSIONS = ("1.36", "1.37")


def validate(doc: dict[str, Any]) -> None:
    for version in K8S_VERSIONS:
        # The version it used: never an older schema in place of one it lacks.
        assert kubernetes_validate.validate(doc, version, strict=True) == version


def manifests(export: Export) -> dict[str, list[dict[str, Any]]]:
    """Each manifest file's documents, every one validated."""
    out = {}
    for name, text in export.files.items():
        if name == "kustomization.yaml" or not name.endswith(".yaml"):
            continue
        docs = [d for d in yaml.safe_load_all(text) if d]
        for doc in docs:
            validate(doc)
        out[name] = docs
    return out


def by_kind(docs: dict[str, list[dict[str, Any]]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for ds in docs.values() for d in ds}


def assert_kustomization_lists_every_file(export: Export) -> None:
    kustomization = yaml.safe_load(export.files["kustomization.yaml"])
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    written = {n for n in export.files if n.endswith(".yaml") and n != "kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(written)


def pod_of(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def test_validation_rejects_what_the_api_server_rejects() -> None:
    # So that "validates" below means something: a misspelt field, a string port.
    bad = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "api"},
        "spec": {"ports": [{"port": "5000"}], "selektor": {}},
    }
    for version in K8S_VERSIONS:
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(bad, version, strict=True)


def test_example_stack(tmp_path: Path) -> None:
    # The botexcel example (stack.toml at the repository's root): Flask API + Next.js.
    export = to_kubernetes(load_source(REPO / "stack.toml", {}), tmp_path)
    docs = manifests(export)
    assert sorted(docs) == ["backend.yaml", "frontend.yaml"]
    assert_kustomization_lists_every_file(export)
    found = by_kind(docs)
    assert set(found) == {
        ("ConfigMap", "backend-env"),
        ("Deployment", "backend"),
        ("Service", "backend"),
        ("ConfigMap", "frontend-env"),
        ("Deployment", "frontend"),
        ("Service", "frontend"),
    }
    # The frontend reaches the backend by its Service's DNS name.
    assert found["ConfigMap", "frontend-env"]["data"]["BOTEXCEL_API_BASE"] == (
        "http://backend:5000"
    )
    backend = pod_of(found["Deployment", "backend"])["containers"][0]
    assert backend["image"] == "botexcel-backend:latest"
    assert backend["workingDir"] == "/app/examples/botexcel/backend"
    assert backend["ports"] == [{"containerPort": 5000}]
    assert backend["readinessProbe"]["httpGet"] == {"path": "/api/health", "port": 5000}
    assert backend["startupProbe"]["failureThreshold"] == 60  # start_period 60s, 1s apart
    assert "livenessProbe" not in backend  # restart_on_unhealthy is off
    frontend = pod_of(found["Deployment", "frontend"])
    assert frontend["containers"][0]["startupProbe"]["failureThreshold"] == 120
    # depends_on backend = healthy: the frontend's pod starts once backend's health answers.
    (wait,) = frontend["initContainers"]
    assert wait["name"] == "wait-for-backend"
    assert "wget -q -T 1 -O /dev/null http://backend:5000/api/health" in wait["command"][2]
    service = found["Service", "backend"]["spec"]
    assert service["ports"] == [{"port": 5000, "targetPort": 5000}]
    assert service["selector"] == {
        "app.kubernetes.io/name": "backend",
        "app.kubernetes.io/part-of": "botexcel",
    }
    # What a manifest cannot say is listed, not dropped: the loopback bind. The setup
    # steps are the generated Dockerfiles' build steps; next dev runs as next start.
    assert any("127.0.0.1/localhost" in n for n in export.notes["backend"])
    assert not any("127.0.0.1/localhost" in n for n in export.notes["frontend"])
    assert not any("setup" in n for ns in export.notes.values() for n in ns)
    assert "PLACEHOLDER" not in export.files["backend.yaml"]
    assert "# built from Dockerfile.backend" in export.files["backend.yaml"]
    assert "Dockerfile.frontend" in export.files
    frontend_args = pod_of(found["Deployment", "frontend"])["containers"][0]["args"]
    assert frontend_args[:2] == ["node_modules/.bin/next", "start"]
    kustomization = export.files["kustomization.yaml"]
    assert "#      docker build -f Dockerfile.backend -t botexcel-backend:latest " in kustomization


def test_demo_stack(tmp_path: Path) -> None:
    copy_demo_stack(tmp_path)
    export = to_kubernetes(load_source(tmp_path / "stack.toml", {}), tmp_path / "k8s")
    found = by_kind(manifests(export))
    assert found["ConfigMap", "web-env"]["data"]["API_BASE"] == "http://api:5000"
    assert_kustomization_lists_every_file(export)


# A Flask + Celery + Redis + Postgres app, as its stack.toml would run it locally.
SHOP = """\
[stack]
name = "Shop"
env_file = ".env"

[services.db]
cmd = "postgres -D ${env:PGDATA:-/var/lib/postgresql/data} -p ${port} -h ${host}"
port = 5432
health.cmd = "pg_isready -h ${host} -p ${services.db.port}"
health.start_period = "30s"
stop_signal = "INT"

[services.redis]
cmd = "redis-server --port ${port} --bind ${host}"
port = 6379
health.tcp = true

[services.migrate]
cmd = "flask --app app db upgrade"
restart = "no"
depends_on = { db = "healthy" }
env.DATABASE_URL = "postgresql://shop:${env:DB_PASSWORD}@${services.db.host}:5432/shop"

[services.api]
cmd = "gunicorn app:app --bind ${host}:${port} --workers 2"
port = 5000
health = { http = "/health", interval = "10s", timeout = "2s", retries = 4, start_period = "20s" }
restart_on_unhealthy = true
depends_on = { migrate = "completed", redis = "healthy" }

[services.api.env]
DATABASE_URL = "postgresql://shop:hunter2@${services.db.host}:${services.db.port}/shop"
REDIS_URL = "redis://${services.redis.host}:${services.redis.port}/0"
SECRET_KEY = "flask-dev-secret"
LOG_LEVEL = "${env:LOG_LEVEL:-info}"

[services.worker_1]
cmd = "celery -A tasks worker --loglevel=INFO"
health.log = "celery@\\\\S+ ready"
depends_on = { redis = "healthy", api = "started" }
env.CELERY_BROKER_URL = "redis://${services.redis.host}:${services.redis.port}/0"
env.API_URL = "${services.api.url}"

[services.report]
cmd = "python3 report.py --api ${services.api.url}"
restart = "no"
depends_on = { api = "healthy" }
"""
SECRET_VALUES = ("hunter2", "flask-dev-secret", "from-the-environment", "mail-pass-in-dotenv")


def shop(root: Path) -> Export:
    (root / "stack.toml").write_text(textwrap.dedent(SHOP))
    (root / ".env").write_text("MAIL_PASSWORD=mail-pass-in-dotenv\n")
    environ = {"DB_PASSWORD": "from-the-environment", "PATH": "/usr/bin:/bin"}
    return to_kubernetes(load_source(root / "stack.toml", environ), root / "k8s")


def test_flask_celery_redis_postgres(tmp_path: Path) -> None:
    export = shop(tmp_path)
    docs = manifests(export)
    # migrate runs as an init container of api: its file holds only its ConfigMap.
    assert sorted(docs) == [
        "api.yaml",
        "db.yaml",
        "migrate.yaml",
        "redis.yaml",
        "report.yaml",
        "worker-1.yaml",
    ]
    assert_kustomization_lists_every_file(export)
    found = by_kind(docs)
    kinds = {(k, n) for k, n in found if k in ("Deployment", "Job", "Service")}
    assert kinds == {
        ("Deployment", "db"),
        ("Service", "db"),
        ("Deployment", "redis"),
        ("Service", "redis"),
        ("Deployment", "api"),
        ("Service", "api"),
        ("Deployment", "worker-1"),  # no port: no Service
        ("Job", "report"),  # portless, restart = "no": runs once
    }
    labels = found["Deployment", "worker-1"]["metadata"]["labels"]
    assert labels == {"app.kubernetes.io/name": "worker-1", "app.kubernetes.io/part-of": "shop"}
    assert found["Deployment", "api"]["spec"]["replicas"] == 1

    # Addresses: other services by their Service's name, the service's own ${host} 0.0.0.0.
    api = pod_of(found["Deployment", "api"])
    assert api["containers"][0]["args"] == [
        "gunicorn",
        "app:app",
        "--bind",
        "0.0.0.0:5000",
        "--workers",
        "2",
    ]
    config = found["ConfigMap", "api-env"]["data"]
    assert config == {
        "REDIS_URL": "redis://redis:6379/0",
        "LOG_LEVEL": "info",
        "PORT": "5000",
        "PYTHONUNBUFFERED": "1",
    }
    worker = found["ConfigMap", "worker-1-env"]["data"]
    assert worker["API_URL"] == "http://api:5000"
    assert worker["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    report = pod_of(found["Job", "report"])
    assert report["containers"][0]["args"] == [
        "python3",
        "report.py",
        "--api",
        "http://api:5000",
    ]
    assert report["restartPolicy"] == "Never"
    assert found["Job", "report"]["spec"]["backoffLimit"] == 0

    # Probes: http -> httpGet, tcp -> tcpSocket, cmd -> exec, timing mapped.
    container = api["containers"][0]
    ready = container["readinessProbe"]
    assert ready == {
        "httpGet": {"path": "/health", "port": 5000},
        "periodSeconds": 10,
        "timeoutSeconds": 2,
        "failureThreshold": 4,
    }
    assert container["livenessProbe"] == ready  # restart_on_unhealthy = true
    assert container["startupProbe"]["periodSeconds"] == 1
    assert container["startupProbe"]["failureThreshold"] == 20
    redis = pod_of(found["Deployment", "redis"])["containers"][0]
    assert redis["readinessProbe"]["tcpSocket"] == {"port": 6379}
    db = pod_of(found["Deployment", "db"])
    assert db["containers"][0]["readinessProbe"]["exec"] == {
        "command": ["pg_isready", "-h", "127.0.0.1", "-p", "5432"]
    }
    # The official image: its own data directory (-D dropped) on a PersistentVolumeClaim.
    assert db["containers"][0]["image"] == "postgres:16"
    assert db["containers"][0]["args"] == ["postgres"]
    assert db["containers"][0]["volumeMounts"] == [
        {"name": "data", "mountPath": "/var/lib/postgresql/data", "subPath": "data"}
    ]
    assert db["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "db-data"}}]
    assert found["PersistentVolumeClaim", "db-data"]["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert found["Deployment", "db"]["spec"]["strategy"] == {"type": "Recreate"}
    assert "PYTHONUNBUFFERED" not in found["ConfigMap", "db-env"]["data"]
    assert "readinessProbe" not in pod_of(found["Deployment", "worker-1"])["containers"][0]

    # depends_on: db healthy (migrate's own), then migrate (completed), then redis healthy.
    inits = api["initContainers"]
    assert [c["name"] for c in inits] == ["wait-for-db", "migrate", "wait-for-redis"]
    assert inits[0]["image"] == "busybox:1.37"
    assert inits[0]["command"] == [
        "sh",
        "-c",
        "until nc -z -w 1 db 5432; do echo waiting for db; sleep 1; done",
    ]
    assert inits[1]["args"] == ["flask", "--app", "app", "db", "upgrade"]
    assert inits[1]["envFrom"] == [
        {"secretRef": {"name": "env-file-env"}},
        {"configMapRef": {"name": "migrate-env"}},
        {"secretRef": {"name": "migrate-secret"}},
    ]
    assert "nc -z -w 1 redis 6379" in inits[2]["command"][2]
    assert (
        "wget -q -T 2 -O /dev/null http://api:5000/health"
        in (pod_of(found["Job", "report"])["initContainers"][0]["command"][2])
    )
    # "started": no init container for api, a note.
    assert [c["name"] for c in pod_of(found["Deployment", "worker-1"])["initContainers"]] == [
        "wait-for-redis"
    ]
    worker_notes = export.notes["worker_1"]
    assert any("depends_on api = started" in n for n in worker_notes)
    assert any(n.startswith("health.log") for n in worker_notes)
    assert any(n.startswith("stop_signal SIGINT") for n in export.notes["db"])


def test_secret_values_are_in_no_file(tmp_path: Path) -> None:
    export = shop(tmp_path)
    for name, text in export.files.items():
        for value in SECRET_VALUES:
            assert value not in text, f"{value!r} written in {name}"
    found = by_kind(manifests(export))
    env_from = pod_of(found["Deployment", "api"])["containers"][0]["envFrom"]
    # Env files first, the env table after: a later source wins, as in devstack.
    assert env_from == [
        {"secretRef": {"name": "env-file-env"}},
        {"configMapRef": {"name": "api-env"}},
        {"secretRef": {"name": "api-secret"}},
    ]
    example = export.files["api-secret.env.example"]
    keys = [line for line in example.splitlines() if not line.startswith("#")]
    # A URL's shape is kept (its Service name too), its password is not; a secret by its
    # name shows nothing.
    assert keys == ["DATABASE_URL=postgresql://shop:<password>@db:5432/shop", "SECRET_KEY="]
    assert "# DATABASE_URL: the value is a URL with a password" in example
    assert "kubectl create secret generic api-secret --from-env-file=api-secret.env" in example
    # migrate's DATABASE_URL comes from ${env:DB_PASSWORD}: the deployer's value.
    assert (
        "DATABASE_URL=postgresql://shop:<DB_PASSWORD>@db:5432/shop\n"
        in (export.files["migrate-secret.env.example"])
    )
    assert "kubectl create secret generic env-file-env --from-env-file=../.env" in export.secrets
    kustomization = export.files["kustomization.yaml"]
    assert "kubectl create secret generic api-secret --from-env-file=api-secret.env" in (
        kustomization
    )


@pytest.mark.parametrize(
    ("name", "value", "secret"),
    [
        ("DB_PASSWORD", "x", True),
        ("SECRET_KEY", "x", True),
        ("GITHUB_TOKEN", "x", True),
        ("AWS_SECRET_ACCESS_KEY", "x", True),
        ("password", "x", True),
        ("DATABASE_URL", "postgresql://app:pw@db:5432/app", True),
        ("CELERY_BROKER_URL", "amqp://guest:guest@mq//", True),
        ("REDIS_URL", "redis://:pw@redis:6379/0", True),
        ("DATABASE_URL", "postgresql://app@db:5432/app", False),
        ("REDIS_URL", "redis://redis:6379/0", False),
        ("API_URL", "http://api:5000", False),
        ("NEXT_PUBLIC_STRIPE_KEY", "pk_live", False),  # shipped to every browser anyway
        ("VITE_API_TOKEN", "x", False),
        ("KEYBOARD", "x", False),
        ("MONKEY", "x", False),
    ],
)
def test_the_secret_rule(name: str, value: str, secret: bool) -> None:
    assert (secret_reason(name, value) is not None) is secret


def test_passwords_are_masked() -> None:
    assert mask_passwords("amqp://u:p@mq// and redis://:pw@r/0") == (
        "amqp://u:<password>@mq// and redis://:<password>@r/0"
    )
    assert mask_passwords("postgresql://app:<DB_PASSWORD>@db/app") == (
        "postgresql://app:<DB_PASSWORD>@db/app"
    )
    assert mask_passwords("http://api:5000/x@y") == "http://api:5000/x@y"


def test_object_names_are_dns_labels() -> None:
    assert object_name("worker_1") == "worker-1"
    assert object_name("API") == "api"
    assert object_name("1st") == "s-1st"
    assert len(object_name("x" * 80)) == 63


def test_commands_keep_literal_dollar_parens(tmp_path: Path) -> None:
    # Kubernetes expands $(VAR) in command and args; a literal one is written $$(.
    (tmp_path / "stack.toml").write_text(
        '[services.s]\ncmd = "echo $(date) && exec python3 w.py"\nshell = true\n'
    )
    export = to_kubernetes(load_source(tmp_path / "stack.toml", {}), tmp_path)
    found = by_kind(manifests(export))
    command = pod_of(found["Deployment", "s"])["containers"][0]["args"]
    assert command == ["/bin/sh", "-c", "echo $$(date) && exec python3 w.py"]


def test_profiles_outside_the_active_ones_are_written_not_listed(tmp_path: Path) -> None:
    (tmp_path / "stack.toml").write_text(
        '[services.api]\ncmd = "python3 api.py"\nport = 7000\n\n'
        '[services.debug]\ncmd = "python3 debug.py"\nport = 7001\nprofiles = ["debug"]\n'
    )
    export = to_kubernetes(load_source(tmp_path / "stack.toml", {}), tmp_path)
    assert "debug.yaml" in export.files
    assert yaml.safe_load(export.files["kustomization.yaml"])["resources"] == ["api.yaml"]
    assert any("not in kustomization.yaml" in n for n in export.notes["debug"])


def test_cli_writes_the_directory_and_keeps_a_hand_written_file(tmp_path: Path) -> None:
    copy_demo_stack(tmp_path)
    done = run_devstack(tmp_path, "export", "kubernetes", "-o", "k8s")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "k8s").iterdir()) == [
        *("Dockerfile.api", "Dockerfile.api.dockerignore"),
        *("Dockerfile.web", "Dockerfile.web.dockerignore"),
        *("api.yaml", "kustomization.yaml", "web.yaml"),
    ]
    assert f"then, in {tmp_path / 'k8s'}:\n" in done.stdout
    assert "  docker build -f Dockerfile.api -t demo-api:latest ..\n" in done.stdout
    assert done.stdout.endswith("  kubectl apply -k .\n")
    # Its own files are replaced without asking; one it did not write is not.
    assert run_devstack(tmp_path, "export", "kubernetes", "-o", "k8s").returncode == 0
    (tmp_path / "k8s" / "api.yaml").write_text("kind: Mine\n")
    refused = run_devstack(tmp_path, "export", "kubernetes", "-o", "k8s")
    assert refused.returncode == 2 and "not written by devstack export" in refused.stderr
    assert (tmp_path / "k8s" / "api.yaml").read_text() == "kind: Mine\n"
    assert run_devstack(tmp_path, "export", "kubernetes", "-o", "k8s", "--force").returncode == 0
    stdout = run_devstack(tmp_path, "export", "kubernetes", "-o", "-")
    assert stdout.returncode == 2 and "give -o a directory" in stdout.stderr


def test_cli_lists_what_cannot_be_expressed_on_stderr(tmp_path: Path) -> None:
    (tmp_path / "stack.toml").write_text(
        '[services.w]\ncmd = "python3 w.py"\nhealth.log = "ready"\n'
        'setup = "pip install x && python3 seed.py"\n'
    )
    done = run_devstack(tmp_path, "export", "kubernetes")
    assert done.returncode == 0, done.stderr
    assert "devstack: not carried over to Kubernetes as written" in done.stderr
    assert "  - w: health.log 'ready'" in done.stderr
    # pip install x is the Dockerfile's install step; the seed script is not run.
    assert "  - w: setup step `python3 seed.py` is not run: Dockerfile.w cannot express" in (
        done.stderr
    )
    assert "RUN pip install x" in (tmp_path / "kubernetes" / "Dockerfile.w").read_text()
    text = (tmp_path / "kubernetes" / "w.yaml").read_text()
    assert "#   - health.log 'ready'" in text


def test_the_readme_example_is_what_the_export_writes(tmp_path: Path) -> None:
    frontend = to_kubernetes(load_source(REPO / "stack.toml", {}), tmp_path).files["frontend.yaml"]
    readme = (REPO / "README.md").read_text()
    image = "          image: botexcel-frontend:latest\n"
    excerpt = frontend[
        frontend.index("      initContainers:\n") : frontend.index(image) + len(image)
    ]
    assert excerpt in readme
    config = frontend[frontend.index("  BOTEXCEL_API_BASE") : frontend.index("  PYTHONUNBUFFERED")]
    assert config in readme


def test_redis_runs_its_official_image_with_its_probes(tmp_path: Path) -> None:
    """Issue 18: an official image for a well-known server; the stack's probe wins, the
    image's health command is the probe where the stack has none."""
    (tmp_path / "stack.toml").write_text(
        '[stack]\nname = "cache"\n\n'
        "[services.redis]\ncmd = \"redis-server --port ${port} --save ''\"\nport = 6390\n\n"
        '[services.probed]\ncmd = "redis-server --port ${port}"\nport = 6391\nhealth.tcp = true\n'
    )
    export = to_kubernetes(load_source(tmp_path / "stack.toml", {}), tmp_path / "k8s")
    found = by_kind(manifests(export))
    redis = pod_of(found["Deployment", "redis"])["containers"][0]
    assert redis["image"] == "redis:7"
    assert redis["args"] == ["redis-server", "--port", "6390", "--save", ""]
    assert "workingDir" not in redis
    exec_probe = {"exec": {"command": ["redis-cli", "-p", "6390", "ping"]}}
    assert redis["readinessProbe"] == {
        **exec_probe,
        "periodSeconds": 5,  # the timing of devstack's default probe, as compose's
        "timeoutSeconds": 1,
        "failureThreshold": 3,
    }
    assert redis["startupProbe"]["exec"] == exec_probe["exec"]
    probed = pod_of(found["Deployment", "probed"])["containers"][0]
    assert probed["readinessProbe"]["tcpSocket"] == {"port": 6391}  # the stack's own
    assert found["ConfigMap", "redis-env"]["data"] == {"PORT": "6390"}  # no PYTHONUNBUFFERED
    assert "# official image of redis, major version 7 pinned" in export.files["redis.yaml"]
    assert found["PersistentVolumeClaim", "redis-data"]["spec"]["resources"] == {
        "requests": {"storage": "1Gi"}
    }


def test_flask_celery_redis_wiring_and_production_server(tmp_path: Path) -> None:
    """The hard-coded REDIS_URL (stack.toml and worker.env) is rewritten to the Service's
    name in the ConfigMap; flask run runs as gunicorn from the generated Dockerfile."""
    from support.exportstacks import flask_celery_redis

    file = flask_celery_redis(tmp_path)
    export = to_kubernetes(load_source(file, {"PATH": "/usr/bin:/bin"}), tmp_path / "k8s")
    found = by_kind(manifests(export))
    web = found["ConfigMap", "web-env"]["data"]
    assert web["REDIS_URL"] == "redis://redis:6390/0"
    assert web["BASE_URL"] == "http://127.0.0.1:5001"  # browser-facing: not rewritten
    assert (
        "# was redis://127.0.0.1:6390/0 (stack.toml): rewritten for kubernetes"
        in (export.files["web.yaml"])
    )
    assert found["ConfigMap", "worker-env"]["data"]["REDIS_URL"] == "redis://redis:6390/0"
    example = export.files["web-secret.env.example"]
    assert "DATABASE_URL=postgresql+psycopg://app:<password>@db:5433/app" in example
    container = pod_of(found["Deployment", "web"])["containers"][0]
    assert container["image"] == "shop-web:latest"
    assert container["args"] == ["gunicorn", "--bind", "0.0.0.0:5001", "app:app"]
    assert (
        "# dev server `flask run` exported as its production counterpart, gunicorn (app:app)"
        in export.files["web.yaml"]
    )
    dockerfile = export.files["Dockerfile.web"]
    assert "RUN pip install -r requirements.txt" in dockerfile
    assert 'CMD ["gunicorn", "--bind", "0.0.0.0:5001", "app:app"]' in dockerfile
    assert pod_of(found["Deployment", "db"])["containers"][0]["image"] == "postgres:16"


def test_a_database_mounts_a_folder_of_its_claim_not_its_root(tmp_path: Path) -> None:
    # Field trial (snyk-labs/ai-promoter's Postgres): a fresh ext4 volume's root holds
    # lost+found, and postgres/mysql refuse to initialise a data directory that is not
    # empty ("initdb: directory ... exists but is not empty"): the pod would crash-loop.
    stack = (
        '[services.mysql]\ncmd = "mysqld --datadir=.mysql --port=3307"\nport = 3307\n'
        '[services.db]\ncmd = "postgres -D .pgdata"\n'
    )
    (tmp_path / "stack.toml").write_text(stack)
    export = to_kubernetes(load_source(tmp_path / "stack.toml", {}), tmp_path / "k8s")
    found = by_kind(manifests(export))
    for name, path in (("db", "/var/lib/postgresql/data"), ("mysql", "/var/lib/mysql")):
        container = pod_of(found["Deployment", name])["containers"][0]
        assert container["volumeMounts"] == [{"name": "data", "mountPath": path, "subPath": "data"}]
    assert "lost+found" in export.files["db.yaml"]
    assert "lost+found" in export.files["mysql.yaml"]


def test_a_quoted_value_in_an_env_file_is_reported_once(tmp_path: Path) -> None:
    # Field trial (MutualReverse/Flask-Celery-Sample-App's .env: REDIS_URL="redis://...";
    # MAIL_FROM="App <...>"): `kubectl create secret --from-env-file` keeps the quotes as
    # part of the value, where devstack (and compose) drop them; nothing said so.
    (tmp_path / ".env").write_text(
        'FLASK_ENV=development\nMAIL_FROM="App <noreply@example.com>"\n'
        "REDIS_URL='redis://localhost:6379/0'\n"
    )
    (tmp_path / "stack.toml").write_text(
        '[stack]\nenv_file = ".env"\n[services.web]\ncmd = "python3 app.py"\nport = 5000\n'
        '[services.worker]\ncmd = "python3 worker.py"\n'
        '[services.redis]\ncmd = "redis-server"\nport = 6379\n'
    )
    export = to_kubernetes(load_source(tmp_path / "stack.toml", {}), tmp_path / "k8s")
    said = [(name, n) for name, notes in export.notes.items() for n in notes if "quoted" in n]
    # REDIS_URL is rewritten in the ConfigMap, which wins: only MAIL_FROM, and once.
    assert said == [
        (
            "web",
            ".env:2 MAIL_FROM's value is quoted: kubectl create secret --from-env-file keeps "
            "the quotes as part of the value (devstack drops them)",
        )
    ]
    kind, fix, breaks = export.kinds[said[0]]
    assert (kind, breaks) == ("env-file-quotes", True)
    assert fix == "write it unquoted in .env (MAIL_FROM=value), or set MAIL_FROM in stack.toml"
