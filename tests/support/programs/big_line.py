"""Write one line of BYTES bytes (in pieces, no newline until the end), then "after-1", "after-2".

Usage: big_line.py BYTES
"""

import os
import sys


def main() -> None:
    total = int(sys.argv[1])
    piece = b"b" * 65536
    left = total
    while left > 0:
        n = min(left, len(piece))
        write(piece[:n])
        left -= n
    write(b"\nafter-1\nafter-2\n")


def write(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


if __name__ == "__main__":
    main()
