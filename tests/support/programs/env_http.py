"""A tiny HTTP server on 127.0.0.1:$PORT answering every GET with what it was started
with, as JSON: its pid, its working directory and the variables named on its command
line (for the tests that check merged config values reach a process)."""

import http.server
import json
import os
import sys


def main() -> None:
    names = sys.argv[1:]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            env = {name: os.environ.get(name) for name in names}
            payload = json.dumps({"pid": os.getpid(), "cwd": os.getcwd(), "env": env}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    port = int(os.environ["PORT"])
    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
