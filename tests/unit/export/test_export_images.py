"""Well-known servers recognised from their command: official image, healthcheck, volume."""

from __future__ import annotations

import shlex

import pytest

from devstack.export.images import SERVERS, image_for, initialisation, program_words, recognise

# command -> (image, health command, data path, the image's command)
CASES = {
    "redis-server --port 6390": (
        "redis:7",
        ["redis-cli", "-p", "6390", "ping"],
        "/data",
        ["redis-server", "--port", "6390"],
    ),
    "postgres -D ./pgdata -p 5433": (
        "postgres:16",
        ["pg_isready", "-U", "postgres", "-h", "127.0.0.1", "-p", "5433"],
        "/var/lib/postgresql/data",
        ["postgres", "-p", "5433"],
    ),
    "mysqld --datadir=./mysql --port=3307": (
        "mysql:8",
        ["mysqladmin", "ping", "-h", "127.0.0.1", "-P", "3307"],
        "/var/lib/mysql",
        ["mysqld", "--port=3307"],
    ),
    "mongod --dbpath ./db --port 27018": (
        "mongo:7",
        ["mongosh", "--quiet", "--port", "27018", "--eval", 'db.adminCommand("ping")'],
        "/data/db",
        ["mongod", "--port", "27018"],
    ),
    "rabbitmq-server": (
        "rabbitmq:4",
        ["rabbitmq-diagnostics", "-q", "ping"],
        "/var/lib/rabbitmq",
        ["rabbitmq-server"],
    ),
    "memcached -p 11212 -m 64": (
        "memcached:1",
        ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/11212"],
        None,
        ["memcached", "-p", "11212", "-m", "64"],
    ),
    "minio server ./data --address :9100 --console-address :9101": (
        "minio/minio:RELEASE.2025-09-07T16-13-09Z",
        ["mc", "ready", "local"],
        "/data",
        ["server", "/data", "--address", ":9100", "--console-address", ":9101"],
    ),
    "mailpit --listen 127.0.0.1:8026 --smtp 127.0.0.1:1026": (
        "axllent/mailpit:v1.31",
        ["/mailpit", "readyz"],
        "/data",
        ["--smtp", "0.0.0.0:1026"],
    ),
}
PORTS = {"redis": 6390, "postgres": 5433, "mysql": 3307, "mongodb": 27018, "rabbitmq": 5672}
PORTS |= {"memcached": 11212, "minio": 9100, "mailpit": 8026}


@pytest.mark.parametrize("command", list(CASES))
def test_each_server_gets_its_image_healthcheck_and_volume(command: str) -> None:
    image_name, health, data, in_image = CASES[command]
    server = recognise(shlex.split(command))
    assert server is not None
    image = image_for(shlex.split(command), PORTS[server.name], {})
    assert image is not None
    assert image.image == image_name
    assert image.healthcheck == health
    assert image.data == data
    assert image.command == in_image


def test_every_server_in_the_table_is_tested() -> None:
    tested = {recognise(shlex.split(c)).name for c in CASES}  # type: ignore[union-attr]
    assert tested == {s.name for s in SERVERS}


def test_tags_pin_a_version() -> None:
    for server in SERVERS:
        name, _, tag = server.image.rpartition(":")
        assert name and tag and tag != "latest", server.image


@pytest.mark.parametrize(
    "argv",
    [
        ["exec", "redis-server"],
        ["/usr/local/bin/redis-server", "--port", "6379"],
        ["docker-entrypoint.sh", "redis-server"],
        ["/bin/sh", "-c", "cd data && exec redis-server --port 6379"],
        ["env", "FOO=1", "redis-server"],
        # Field trial: run as root, a local postgres/redis runs as its own user.
        ["runuser", "-u", "redis", "--", "redis-server"],
        ["runuser", "--user=redis", "redis-server"],
        ["sudo", "-E", "-u", "redis", "redis-server"],
        ["gosu", "redis", "redis-server"],
        ["su-exec", "redis:redis", "/usr/bin/redis-server"],
    ],
)
def test_recognised_behind_exec_paths_and_entrypoints(argv: list[str]) -> None:
    server = recognise(argv)
    assert server is not None and server.name == "redis"


@pytest.mark.parametrize(
    "argv",
    [
        ["python3", "redis_server.py"],
        ["minio", "mb", "local/bucket"],  # the client, not the server
        ["celery", "-A", "proj", "worker", "--broker", "redis://localhost"],
        [],
    ],
)
def test_not_recognised(argv: list[str]) -> None:
    assert recognise(argv) is None


def test_default_port_writes_no_port_flag() -> None:
    image = image_for(["redis-server"], 6379, {})
    assert image is not None and image.command == ["redis-server"]


def test_declared_port_wins_over_the_commands() -> None:
    # w-wiring addresses a service by its declared port: the container listens there.
    image = image_for(["redis-server", "--port", "6380"], 6390, {})
    assert image is not None and image.command == ["redis-server", "--port", "6390"]
    assert image.port == 6390


def test_laptop_flags_are_dropped_with_a_note() -> None:
    argv = shlex.split("redis-server ./redis.conf --port 6390 --dir ./data --bind 127.0.0.1")
    image = image_for(argv, 6390, {})
    assert image is not None
    assert image.command == ["redis-server", "--port", "6390"]
    joined = "\n".join(image.notes)
    assert "dropped `./redis.conf`" in joined
    assert "dropped `--dir ./data`" in joined and "dropped `--bind 127.0.0.1`" in joined


def test_kept_flags_stay() -> None:
    image = image_for(["redis-server", "--appendonly", "yes"], None, {})
    assert image is not None and image.command == ["redis-server", "--appendonly", "yes"]


def test_pg_ctl_options_and_user() -> None:
    argv = ["pg_ctl", "-D", "data", "-o", "-p 5440 -c shared_buffers=64MB", "start"]
    image = image_for(argv, 5440, {"POSTGRES_USER": "app"})
    assert image is not None
    assert image.command == ["postgres", "-p", "5440", "-c", "shared_buffers=64MB"]
    assert image.healthcheck[:3] == ["pg_isready", "-U", "app"]
    assert image.environment == {"POSTGRES_HOST_AUTH_METHOD": "trust"}
    assert any("POSTGRES_PASSWORD" in note for note in image.notes)


def test_ports_some_images_take_from_a_variable() -> None:
    # The health command reads the same variable, so it asks the right port.
    image = image_for(["rabbitmq-server"], 5673, {})
    assert image is not None and image.environment == {"RABBITMQ_NODE_PORT": "5673"}
    image = image_for(["mailpit", "--listen", "127.0.0.1:8026"], 8026, {})
    assert image is not None and image.environment["MP_UI_BIND_ADDR"] == "0.0.0.0:8026"
    assert image.environment["MP_DATABASE"] == "/data/mailpit.sqlite"
    image = image_for(["minio", "server", "data"], 9100, {})
    assert image is not None and image.environment == {"MC_HOST_local": "http://127.0.0.1:9100"}


def test_program_words_of_a_shell_line() -> None:
    assert program_words(["sh", "-c", "exec mongod --port 1"]) == ["mongod", "--port", "1"]


def test_without_a_declared_port_the_commands_port_is_kept() -> None:
    image = image_for(["redis-server", "--port", "6391"], None, {})
    assert image is not None and image.port == 6391
    assert image.command == ["redis-server", "--port", "6391"]
    image = image_for(["mysqld", "--port=3307"], None, {})
    assert image is not None and image.healthcheck[-1] == "3307"


def test_a_socket_directory_is_not_called_the_data() -> None:
    # Field trial: `postgres -D .pgdata -p 5433 -k /tmp` noted `-k /tmp` as "the data lives
    # in the image's data volume"; it is where the Unix socket goes.
    image = image_for(shlex.split("postgres -D .pgdata -p 5433 -k /tmp"), 5433, {})
    assert image is not None
    assert image.paths == (".pgdata",)
    [socket] = [n for n in image.notes if "-k /tmp" in n]
    assert socket == (
        "dropped `-k /tmp`: a Unix socket's place on this machine; the others connect over TCP"
    )


def test_an_initdb_run_as_the_postgres_user_is_an_initialisation() -> None:
    image = image_for(["runuser", "-u", "postgres", "--", "postgres", "-D", "/srv/pg"], None, {})
    assert image is not None and image.command == ["postgres"]
    setup = "test -d /srv/pg || runuser -u postgres -- initdb -D /srv/pg -U postgres"
    init = initialisation(image, setup, {})
    assert init is not None and init.missing is None
