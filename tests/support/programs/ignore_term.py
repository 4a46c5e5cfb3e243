"""Ignore SIGTERM (print "got TERM" each time), print "pid N" and "ready", sleep forever."""

import os
import signal
import sys
import time


def on_term(signum: int, frame: object) -> None:
    print("got TERM", flush=True)


def main() -> None:
    if len(sys.argv) > 1:
        sys.exit("usage: ignore_term.py")
    signal.signal(signal.SIGTERM, on_term)
    print(f"pid {os.getpid()}", flush=True)
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
