"""A tiny supervisor built on devstack.procs.process + Guardian, for supervisor-death tests.

    mini_supervisor.py [--services N] [--no-guardian] [--subreaper] [--state PATH] -- ARGV...

Spawns N services running ARGV (each must print "ready"), then prints one JSON line
per event on stdout: {"guardian": pid|null}, {"subreaper": bool}, {"service": name,
"pid": pid, "lines": [...]} once a service printed "ready", {"ready": true} when all
did, {"exit": name, "status": "exit 3"} when a leader exits. SIGTERM: stop every
service, close the guardian, print {"stopped": true} and exit 0.
"""

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from devstack.procs.guardian import Guardian
from devstack.procs.process import ServiceProcess, spawn
from devstack.procs.reaper import OrphanReaper, become_subreaper
from devstack.procs.statefile import StateFile


def emit(**event: object) -> None:
    print(json.dumps(event), flush=True)


async def watch(name: str, proc: ServiceProcess, ready: asyncio.Event) -> None:
    lines = []
    while True:
        raw = await proc.stdout.readline()
        if not raw:
            break
        line = raw.decode().strip()
        lines.append(line)
        if line == "ready":
            emit(service=name, pid=proc.pid, lines=lines)
            ready.set()
            break
    await proc.stdout.read()  # drain to EOF so the service never blocks on a full pipe
    status = await proc.wait()
    emit(exit=name, status=status.describe())


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=1)
    parser.add_argument("--no-guardian", action="store_true")
    parser.add_argument("--subreaper", action="store_true")
    parser.add_argument("--state", type=Path)
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    stack_id = f"mini-{os.getpid()}"
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    guardian = None if args.no_guardian else await Guardian.start(stack_id)
    emit(guardian=guardian.pid if guardian else None)
    procs: dict[str, ServiceProcess] = {}
    reaper = None
    if args.subreaper:
        subreaper = become_subreaper()
        emit(subreaper=subreaper)
        if subreaper:
            reaper = OrphanReaper(lambda: {p.pid for p in procs.values()})
            reaper.install(loop)
    state = StateFile(args.state, stack_id=stack_id) if args.state else None
    tasks = []
    events = []
    for i in range(args.services):
        name = f"svc{i}"
        proc = await spawn(
            argv, cwd=Path.cwd(), env=dict(os.environ), service=name, stack_id=stack_id
        )
        procs[name] = proc
        if guardian:
            guardian.watch(proc.record)
        if state:
            state.record(name, proc.record)
        ready = asyncio.Event()
        events.append(ready)
        tasks.append(asyncio.create_task(watch(name, proc, ready)))
    for ready in events:
        await ready.wait()
    emit(ready=True)
    await stop.wait()
    for proc in procs.values():
        await proc.stop(timeout=2.0)
    for task in tasks:
        await task
    if reaper:
        reaper.close()
    if guardian:
        await guardian.close()
    if state:
        state.clear()
    emit(stopped=True)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    asyncio.run(main())
