"""The floor devstack is measured against: a plain script that does the same job by hand.

It spawns the programs itself in dependency order (a level starts once every port of
the previous level accepts), polls their ports, and respawns a program that dies.
Usage: floor.py SPEC.json   (SPEC: {"levels": [[[argv...], port], ...], ...]})
Prints "ready" once every port accepts; exits on SIGTERM after killing its children.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time


def accepts(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def main() -> None:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    children: dict[int, tuple[list[str], int, subprocess.Popen[bytes]]] = {}

    def spawn(argv: list[str], port: int) -> None:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
        children[port] = (argv, port, proc)

    def stop(*_: object) -> None:
        for _argv, _port, proc in children.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        for _argv, _port, proc in children.values():
            proc.wait()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    for level in spec["levels"]:
        for argv, port in level:
            spawn(argv, port)
        pending = [port for _argv, port in level]
        while pending:
            pending = [p for p in pending if not accepts(p)]
            if pending:
                time.sleep(0.02)
    print("ready", flush=True)
    # Respawn what dies, polling as a hand-written loop would.
    while True:
        for port, (argv, _port, proc) in list(children.items()):
            if proc.poll() is not None:
                spawn(argv, port)
        time.sleep(0.005)


if __name__ == "__main__":
    main()
