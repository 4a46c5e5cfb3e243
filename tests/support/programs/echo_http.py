"""A tiny HTTP app on 127.0.0.1:PORT for smoke-check tests.

Every request is printed as "METHOD PATH" on stdout (an access log). GET /health
answers 200 '{"ok": true}'; /status/NNN answers NNN; anything else answers 200
with "METHOD PATH BODY" echoed. With --proxy-env VAR, every request is forwarded to
the URL in $VAR + path instead (as a Next.js route reading BOTEXCEL_API_BASE
does), and a failure to reach it answers 500 "ECONNREFUSED host:port".
"""

import argparse
import http.server
import os
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from http_server import serve  # a sibling in tests/support/programs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int)
    parser.add_argument("--proxy-env", default=None, metavar="VAR")
    args = parser.parse_args()
    proxy = os.environ[args.proxy_env] if args.proxy_env else None

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.answer()

        def do_POST(self) -> None:
            self.answer()

        def answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            print(f"{self.command} {self.path}", flush=True)
            if proxy:
                status, payload = self.forward(body)
            elif self.path == "/health":
                status, payload = 200, b'{"ok": true}'
            elif self.path.startswith("/status/"):
                status, payload = int(self.path.rsplit("/", 1)[1]), b"status"
            else:
                status, payload = 200, f"{self.command} {self.path} ".encode() + body
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def forward(self, body: bytes) -> tuple[int, bytes]:
            url = f"{proxy}{self.path}"
            request = urllib.request.Request(url, data=body or None, method=self.command)
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    return response.status, response.read()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read()
            except OSError:
                where = urlsplit(proxy)
                return 500, f'{{"error": "ECONNREFUSED {where.hostname}:{where.port}"}}'.encode()

        def log_message(self, format: str, *a: object) -> None:
            pass  # the access log is the print above

    serve("127.0.0.1", args.port, Handler)


if __name__ == "__main__":
    main()
