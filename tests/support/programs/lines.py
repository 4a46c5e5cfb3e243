"""Print N numbered lines fast (prepared first, then big batched writes), then exit 0.

Each line is ``P000001 <stream> xxxx...`` where P is --prefix, so a reader can check
that every line arrives once, whole and unspliced. With --stream both, odd lines go
to stdout and even lines to stderr. --width pads each line with x (newline excluded).
"""

import argparse
import os
import sys

BATCH = 1000  # lines per write: ~32-64 KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n", type=int)
    parser.add_argument("--stream", choices=["stdout", "stderr", "both"], default="stdout")
    parser.add_argument("--prefix", default="L")
    parser.add_argument("--width", type=int, default=0, help="pad each line with x to this width")
    args = parser.parse_args()

    fds = {"stdout": sys.stdout.fileno(), "stderr": sys.stderr.fileno()}
    streams = ["stdout", "stderr"] if args.stream == "both" else [args.stream]
    step = len(streams)
    # Everything is formatted before the first write, so a reader measures the pipe and
    # itself, not how fast Python formats lines.
    writes: list[tuple[int, bytes]] = []
    for start in range(1, args.n + 1, BATCH * step):
        stop = min(start + BATCH * step, args.n + 1)
        for offset, stream in enumerate(streams):
            head = f"{args.prefix}{{:06d}} {stream} "
            pad = "x" * max(0, args.width - len(head.format(0)))
            template = head + pad + "\n"
            text = "".join(map(template.format, range(start + offset, stop, step)))
            writes.append((fds[stream], text.encode()))
    for fd, data in writes:
        write(fd, data)


def write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


if __name__ == "__main__":
    main()
