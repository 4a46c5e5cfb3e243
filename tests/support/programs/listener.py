"""Listen on 127.0.0.1:PORT after --delay-ms and answer HTTP 200 to any GET path.

Prints "listening on PORT" once the socket listens.
--crash-after S       exit with --exit-code S seconds after listening
--exit-code N         exit code used by --crash-after (default 1)
--ignore-term         ignore SIGTERM
--grandchild MODE     fork a sleeping grandchild first: fork (same group), setsid, setpgid
"""

import argparse
import http.server
import os
import signal
import threading
import time


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def start_grandchild(mode: str) -> None:
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(r)
        if mode == "setsid":
            os.setsid()
        elif mode == "setpgid":
            os.setpgid(0, 0)
        os.close(w)  # tells the parent the grandchild is set up
        while True:
            time.sleep(3600)
    os.close(w)
    os.read(r, 1)  # EOF once the grandchild is set up
    os.close(r)
    print(f"grandchild {child}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--crash-after", type=float)
    parser.add_argument("--exit-code", type=int, default=1)
    parser.add_argument("--ignore-term", action="store_true")
    parser.add_argument("--grandchild", choices=["fork", "setsid", "setpgid"])
    args = parser.parse_args()
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.grandchild:
        start_grandchild(args.grandchild)
    time.sleep(args.delay_ms / 1000)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening on {args.port}", flush=True)
    if args.crash_after is not None:
        code = args.exit_code

        def crash() -> None:
            time.sleep(args.crash_after)
            os._exit(code)

        threading.Thread(target=crash, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
