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
    child = os.fork()
    if child == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        while True:
            time.sleep(3600)
    print(f"child {child}", flush=True)
    print("ready", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
