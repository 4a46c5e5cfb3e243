"""Print two lines, then "tail-without-newline" with no newline, and exit 0."""

import sys

if __name__ == "__main__":
    sys.stdout.write("line-1\nline-2\ntail-without-newline")
    sys.stdout.flush()
