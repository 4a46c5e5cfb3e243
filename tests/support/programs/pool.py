"""A master with one pool worker, shaped like Celery's or gunicorn's: the master
stops its worker itself, so a worker that is signalled directly loses its task.

Prints "pid N", "worker M", "ready". On SIGTERM the master prints "master got TERM",
asks the worker to finish, waits for it and exits 0. The worker, asked, finishes its
task (TASK seconds, argv[1], default 0.5) and prints "task done"; signalled directly
it dies of the signal, and the master prints "worker exited with signal N".
"""

import os
import signal
import sys
import time


def worker(finish: int, task: float) -> None:
    os.read(finish, 1)  # EOF: the master asks it to finish
    time.sleep(task)
    print("task done", flush=True)
    os._exit(0)


def main() -> None:
    task = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5
    print(f"pid {os.getpid()}", flush=True)
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(w)
        worker(r, task)
    os.close(r)
    print(f"worker {child}", flush=True)

    asked = []

    def on_term(signum: int, frame: object) -> None:
        print("master got TERM", flush=True)
        if not asked:  # a group stop signals it twice (itself, then its group)
            asked.append(True)
            os.close(w)

    signal.signal(signal.SIGTERM, on_term)
    print("ready", flush=True)
    _, status = os.waitpid(child, 0)
    if os.WIFSIGNALED(status):
        print(f"worker exited with signal {os.WTERMSIG(status)}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
