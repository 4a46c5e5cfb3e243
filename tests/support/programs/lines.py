"""Print N numbered lines fast (big batched writes), then exit 0.

Each line is ``P000001 <stream> xxxx...`` where P is --prefix, so a reader can check
that every line arrives once, whole and unspliced. With --stream both, odd lines go
to stdout and even lines to stderr.
"""

import argparse
import os
import sys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n", type=int)
    parser.add_argument("--stream", choices=["stdout", "stderr", "both"], default="stdout")
    parser.add_argument("--prefix", default="L")
    parser.add_argument("--width", type=int, default=0, help="pad each line with x to this width")
    args = parser.parse_args()

    outs = {"stdout": sys.stdout.fileno(), "stderr": sys.stderr.fileno()}
    batches: dict[str, list[str]] = {"stdout": [], "stderr": []}
    sizes = {"stdout": 0, "stderr": 0}
    for i in range(1, args.n + 1):
        stream = args.stream
        if stream == "both":
            stream = "stdout" if i % 2 else "stderr"
        line = f"{args.prefix}{i:06d} {stream} "
        if len(line) < args.width:
            line += "x" * (args.width - len(line))
        batches[stream].append(line + "\n")
        sizes[stream] += len(line) + 1
        if sizes[stream] >= 32768:
            write(outs[stream], batches[stream])
            batches[stream] = []
            sizes[stream] = 0
    for stream, batch in batches.items():
        write(outs[stream], batch)


def write(fd: int, batch: list[str]) -> None:
    data = memoryview("".join(batch).encode())
    while data:
        data = data[os.write(fd, data) :]


if __name__ == "__main__":
    main()
