"""The health commands the exported images run, run for real against real listeners: 1
while nothing answers on the port, 0 once the server does (no container engine here: the
server's own binary, or a plain socket for a TCP check)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess

import pytest

from conftest import free_port, wait_until
from devstack.export.images import image_for


def status(argv: list[str]) -> int:
    return subprocess.run(argv, capture_output=True, timeout=20).returncode


def test_the_memcached_tcp_check_fails_closed_and_passes_open() -> None:
    port = free_port()
    image = image_for(["memcached", "-p", str(port)], port, {})
    assert image is not None and image.healthcheck[0] == "bash"
    assert status(image.healthcheck) != 0
    with socket.create_server(("127.0.0.1", port)):
        assert status(image.healthcheck) == 0


def test_redis_cli_ping_on_the_exported_port() -> None:
    if not (shutil.which("redis-server") and shutil.which("redis-cli")):
        hint = "redis-server and redis-cli are not installed (.ci/run installs them)"
        if os.environ.get("CI"):
            pytest.fail(hint)
        pytest.skip(hint)
    port = free_port()
    image = image_for(["redis-server", "--port", str(port)], port, {})
    assert image is not None and image.command == ["redis-server", "--port", str(port)]
    assert status(image.healthcheck) != 0
    # The image's command, as the container would run it (on loopback, with no disk).
    server = subprocess.Popen(
        [*image.command, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(lambda: status(image.healthcheck) == 0, timeout=20, interval=0.1)
    finally:
        server.terminate()
        server.wait(timeout=10)
