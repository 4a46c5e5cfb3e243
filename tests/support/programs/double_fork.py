"""Double-fork COUNT orphans that exit after ORPHAN_MS, then exit with EXIT_CODE after LINGER s.

Each orphan's parent exits at once, so the orphan is re-parented (to init, or to
a child subreaper) and becomes that process's zombie when it exits. Prints
"pid N", "orphan M ADOPTER" for each (ADOPTER: its new parent), "ready".
"""

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--orphan-ms", type=int, default=100)
    parser.add_argument("--linger", type=float, default=0.5)
    parser.add_argument("--exit-code", type=int, default=3)
    args = parser.parse_args()
    print(f"pid {os.getpid()}", flush=True)
    for _ in range(args.count):
        r, w = os.pipe()
        middle = os.fork()
        if middle == 0:
            os.close(r)
            middle_pid = os.getpid()
            if os.fork() == 0:
                # The orphan: once its parent is gone, say who adopted it, then exit.
                while os.getppid() == middle_pid:
                    time.sleep(0.005)
                os.write(w, f"{os.getpid()} {os.getppid()}\n".encode())
                os.close(w)
                time.sleep(args.orphan_ms / 1000)
                os._exit(0)
            os._exit(0)
        os.close(w)
        os.waitpid(middle, 0)
        with os.fdopen(r) as f:
            print(f"orphan {f.read().strip()}", flush=True)
    print("ready", flush=True)
    time.sleep(args.linger)
    os._exit(args.exit_code)


if __name__ == "__main__":
    main()
