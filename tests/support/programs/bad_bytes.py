"""Write invalid UTF-8 bytes and ANSI colour escapes to stdout, then "done", and exit 0."""

import os

if __name__ == "__main__":
    data = (
        b"bad:\xff\xfe\xc3(end\n"
        b"\x1b[31mred by the service\x1b[0m\n"
        b"split:\xe2\x82\n"  # a truncated euro sign
        b"done\n"
    )
    os.write(1, data)
