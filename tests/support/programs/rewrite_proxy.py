"""A tiny frontend on 127.0.0.1:PORT that proxies as a Next.js rewrite does.

The destination is read from ``destination: '...'`` in the config file given (as in a
next.config.js ``rewrites()``), with ``:path*`` replaced by the request's path. When
the destination refuses the connection it prints what ``next dev`` prints for a failed
rewrite (``Failed to proxy URL Error: connect ECONNREFUSED host:port``) and answers
500 "Internal Server Error", as Next does.
"""

import argparse
import http.server
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from http_server import serve  # a sibling in tests/support/programs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int)
    parser.add_argument("config", type=Path)
    args = parser.parse_args()
    found = re.search(r"destination:\s*'([^']+)'", args.config.read_text())
    assert found, f"no destination in {args.config}"
    destination = found.group(1)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/":
                self.send(200, b"home")
                return
            target = destination.replace("/:path*", self.path.removeprefix("/api"))
            try:
                with urllib.request.urlopen(target, timeout=5) as response:
                    self.send(response.status, response.read())
            except urllib.error.HTTPError as exc:
                self.send(exc.code, exc.read())
            except OSError:
                where = urlsplit(target)
                print(
                    f"Failed to proxy {target} Error: connect ECONNREFUSED "
                    f"{where.hostname}:{where.port}",
                    file=sys.stderr,
                    flush=True,
                )
                self.send(500, b"Internal Server Error")

        def send(self, status: int, payload: bytes) -> None:
            print(f" GET {self.path} {status}", flush=True)
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *a: object) -> None:
            pass  # the access log is the print above

    serve("127.0.0.1", args.port, Handler)


if __name__ == "__main__":
    main()
