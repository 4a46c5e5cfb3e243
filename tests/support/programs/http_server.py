"""A tiny HTTP server on 127.0.0.1:PORT for probe tests.

Answers GET/HEAD on --path with --status (any other path: 404). --delay-ms waits
before listening; --flap-after S answers 500 once S seconds have passed since it
started listening. PORT 0 picks a free port. Prints "listening on PORT" when ready.
"""

import argparse
import http.server
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--status", type=int, default=200)
    parser.add_argument("--path", default="/")
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--flap-after", type=float, default=None)
    args = parser.parse_args()

    if args.delay_ms:
        time.sleep(args.delay_ms / 1000)
    started = time.monotonic()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.answer(body=True)

        def do_HEAD(self) -> None:
            self.answer(body=False)

        def answer(self, body: bool) -> None:
            if self.path.split("?", 1)[0] != args.path:
                status = 404
            elif args.flap_after is not None and time.monotonic() - started >= args.flap_after:
                status = 500
            else:
                status = args.status
            payload = f"{status}\n".encode()
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if body:
                self.wfile.write(payload)

        def log_message(self, format: str, *a: object) -> None:
            pass  # quiet: tests read only the "listening on" line

    serve(args.host, args.port, Handler)


def serve(host: str, port: int, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
    """Listen (threaded), print "listening on PORT", serve until SIGINT, exit 0."""
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
