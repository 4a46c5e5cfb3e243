"""Print "pid N" (and "grandchild M"), then "ready", then sleep until a signal ends it.

--grandchild fork|setsid|setpgid  also start a grandchild that sleeps too: in the same
                                  group (fork), in a new session, or in a new group;
                                  it keeps stdout open (the pipe stays open while it lives)
--grandchild-ignore-term          the grandchild ignores SIGTERM
"""

import argparse
import os
import signal
import sys
import time


def sleep_forever() -> None:
    while True:
        time.sleep(3600)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grandchild", choices=["fork", "setsid", "setpgid"])
    parser.add_argument("--grandchild-ignore-term", action="store_true")
    args = parser.parse_args()
    print(f"pid {os.getpid()}", flush=True)
    if args.grandchild:
        r, w = os.pipe()
        child = os.fork()
        if child == 0:
            os.close(r)
            if args.grandchild == "setsid":
                os.setsid()
            elif args.grandchild == "setpgid":
                os.setpgid(0, 0)
            if args.grandchild_ignore_term:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
            os.close(w)  # tells the parent the grandchild is set up
            sleep_forever()
        os.close(w)
        os.read(r, 1)  # EOF once the grandchild is set up
        os.close(r)
        print(f"grandchild {child}", flush=True)
    print("ready", flush=True)
    sys.stdout.flush()
    sleep_forever()


if __name__ == "__main__":
    main()
