"""Listen on 127.0.0.1:PORT, accept every connection and never answer.

An HTTP health endpoint that hangs (reliability case 21, docs/reliability.md). PORT 0
picks a free port.
Prints "listening on PORT" when ready; runs until killed.
"""

import argparse
import socket


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((args.host, args.port))
    server.listen(64)
    print(f"listening on {server.getsockname()[1]}", flush=True)
    held = []  # keep accepted connections open: never read, never answer
    while True:
        conn, _ = server.accept()
        held.append(conn)


if __name__ == "__main__":
    main()
