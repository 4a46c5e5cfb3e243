"""Demo frontend: GET / shows the api's health; /api/* is proxied to API_BASE. Stdlib only."""

import os
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_BASE = os.environ["API_BASE"]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        target = self.path if self.path.startswith("/api/") else "/health"
        try:
            with urllib.request.urlopen(API_BASE + target, timeout=2) as resp:
                status, body = resp.status, resp.read()
        except urllib.error.URLError as exc:  # the api is down: say so, as a proxy would
            status, body = 500, f"api unreachable: {exc.reason}".encode()
        if target == "/health" and status == 200:
            body = b"<h1>demo</h1><p>api health: " + body + b"</p>"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        print(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}")


port = int(os.environ["PORT"])
server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
print(f"web listening on http://127.0.0.1:{port} (api at {API_BASE})")
server.serve_forever()
