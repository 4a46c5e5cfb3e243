"""The leader exits on SIGTERM; its child, in the same process group, ignores SIGTERM.

Prints "pid N", "child M", "ready" (process-compose #520).
"""

import os
import signal
import sys
import time


def main() -> None:
    if len(sys.argv) > 1:
        sys.exit("usage: group_child.py")
    print(f"pid {os.getpid()}", flush=True)
    # "ready" only once both dispositions are in place: a TERM sent right after it
    # must find the child ignoring it and the leader exiting 0.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.close(r)
        os.close(w)  # tells the leader the child ignores TERM now
        while True:
            time.sleep(3600)
    os.close(w)
    os.read(r, 1)  # EOF once the child has set SIG_IGN
    os.close(r)
    print(f"child {child}", flush=True)
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
