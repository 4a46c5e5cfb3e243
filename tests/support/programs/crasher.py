"""Print "pid N", wait AFTER seconds, then exit with CODE (or kill itself with --signal)."""

import argparse
import os
import signal
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--after", type=float, default=0.0, help="seconds before exiting")
    parser.add_argument("--code", type=int, default=1, help="exit code")
    parser.add_argument("--signal", type=int, default=0, help="die by this signal instead")
    args = parser.parse_args()
    print(f"pid {os.getpid()}", flush=True)
    time.sleep(args.after)
    if args.signal:
        if args.signal != signal.SIGKILL:
            signal.signal(args.signal, signal.SIG_DFL)
        os.kill(os.getpid(), args.signal)
        time.sleep(10)
    os._exit(args.code)


if __name__ == "__main__":
    main()
